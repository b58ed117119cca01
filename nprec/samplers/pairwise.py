"""BPR training triples (Rendle et al. 2009, LearnBPR): bootstrap sampling of (u, i, j).

A triple takes a uniformly random training entry (u, i), so users appear in proportion to
their activity, and an item j uniform over the items u never interacted with. An epoch is
`nnz` triples by default, drawn with replacement as in LearnBPR.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from nprec.data.containers import Interactions
from nprec.errors import ConfigError, DataError
from nprec.kernels import sample_bpr_triples


class BprBatch(NamedTuple):
    users: np.ndarray      # (B,) int64
    pos: np.ndarray        # (B,) int64, an item of the user's row
    neg: np.ndarray        # (B,) int64, an item outside the user's row


def bpr_batches(data: Interactions, batch_size: int, rng: np.random.Generator,
                n_triples: int | None = None) -> Iterator[BprBatch]:
    """One epoch of BPR triples in batches.

    Args:
        data:       training interactions.
        batch_size: triples per batch (the last batch may be smaller).
        rng:        the random generator.
        n_triples:  triples per epoch; default `data.nnz`.
    Yields:
        `BprBatch` namedtuples.
    """
    n = data.nnz if n_triples is None else int(n_triples)
    if batch_size < 1 or n < 0:
        raise ConfigError(f"bpr_batches: batch_size={batch_size} must be >= 1 and "
                          f"n_triples={n} >= 0")
    if data.nnz == 0:
        raise DataError("bpr_batches: the training data has no interactions")
    try:
        users, pos, neg = sample_bpr_triples(data.indptr, data.indices, data.n_items,
                                             rng.random(n), rng.random(n))
    except ValueError as err:
        raise DataError(str(err)) from None
    for a in range(0, n, batch_size):
        yield BprBatch(users[a:a + batch_size], pos[a:a + batch_size], neg[a:a + batch_size])
