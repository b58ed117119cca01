"""Honest baselines: no training loop, a `fit(train)` and the scoring methods of their kind.

- `Popularity` (TopPop / POP): item support.
- `ItemKNN`: item-item cosine kNN with shrinkage (Sarwar et al. 2001; Dacrema et al. 2019).
- `EASE`: Steck's closed-form shallow autoencoder, with `tune_ease` for λ on validation data.
- `SKNN`, `VSKNN`: session-based kNN (Jannach & Ludewig 2017; Ludewig & Jannach 2018).

Scoring methods (the interfaces of `nprec.metrics.protocols`): `score_items(users, items)`,
`score_all(users)`, `score_fold_in(X)` and, for sessions, `score_prefixes(items, mask)`.
"""

from nprec.models.baselines.ease import EASE, tune_ease
from nprec.models.baselines.itemknn import ItemKNN
from nprec.models.baselines.popularity import Popularity
from nprec.models.baselines.sknn import SESSION_REC_CONFIGS, SKNN, VSKNN

__all__ = ["EASE", "SESSION_REC_CONFIGS", "SKNN", "VSKNN", "ItemKNN", "Popularity",
           "tune_ease"]
