"""Session-based kNN: SKNN and V-SKNN (Jannach & Ludewig 2017; Ludewig & Jannach 2018).

The next item of a session prefix is scored by the training sessions most similar to it
(the algorithm, its formulas and its fast path are in `nprec.kernels.sknn`). Simple, no
training loop, and in the comparisons of PAPERS.md §A6 on par with or better than the
neural session models.

Options follow rn5l/session-rec (`algorithms/knn/sknn.py` ContextKNN, `vsknn.py`
VMContextKNN):

    k             neighbour sessions that vote
    sample_size   candidate sessions: the most recent ones sharing an item (0: all)
    similarity    "jaccard", "cosine" or "vec" (V-SKNN's weighted overlap / |prefix items|)
    weighting     V-SKNN position weight of the click at position i (1-based) of a prefix of
                  length L: "same" 1, "div" i/L, "linear" max(0, 1 - 0.1 (L - i)),
                  "quadratic" (i/L)^2, "log" 1 / log10(L - i + 1.7)
    weighting_score  decay of a neighbour's votes by the step s of the most recent prefix
                  click it shares: "same" 1, "div" 1/s, "linear" max(0, 1 - 0.1 s),
                  "quadratic" 1/s^2, "log" 1 / log10(s + 1.7)
    idf_weighting votes for item y multiplied by 1 + idf_weighting * log(S / clicks(y))

Differences from session-rec, all deliberate: its "linear" weights turn negative (or zero
for the most recent clicks of sessions longer than 10) where the intended linear decay is
clipped at 0, so here they are clipped; its SKNN "cosine" computes |a ∩ b| / sqrt(|b|) *
sqrt(|a|) (operator precedence), which is the true cosine times |prefix items| and so ranks
identically; equal similarities are broken by recency here, by set order there. Sessions
are ordered by their last click's time, or by their position when there are no times (the
SR-GNN files list sessions in time order).

Best settings reported by session-rec's configuration files (RecSys 2019 single split for
RSC15-1/64, UMUAI 2021 window for DIGINETICA) are in `SESSION_REC_CONFIGS`.
"""

from __future__ import annotations

import numpy as np

from nprec.data.containers import Sessions
from nprec.errors import ConfigError
from nprec.kernels.sknn import SIMILARITIES, sknn_scores
from nprec.models._indices import as_prefixes, check_kind

_WEIGHTING = {
    "same": lambda i, L: np.ones_like(i, dtype=np.float64),
    "div": lambda i, L: i / L,
    "linear": lambda i, L: np.maximum(0.0, 1.0 - 0.1 * (L - i)),
    "quadratic": lambda i, L: (i / L) ** 2,
    "log": lambda i, L: 1.0 / np.log10(L - i + 1.7),
}
_DECAY = {
    "same": lambda s: np.ones_like(s, dtype=np.float64),
    "div": lambda s: 1.0 / s,
    "linear": lambda s: np.maximum(0.0, 1.0 - 0.1 * s),
    "quadratic": lambda s: 1.0 / s**2,
    "log": lambda s: 1.0 / np.log10(s + 1.7),
}

SESSION_REC_CONFIGS = {
    ("sknn", "yoochoose1_64"): {"k": 500, "sample_size": 1000, "similarity": "cosine"},
    ("sknn", "diginetica"): {"k": 100, "sample_size": 500, "similarity": "cosine"},
    ("vsknn", "yoochoose1_64"): {"k": 1000, "sample_size": 5000, "weighting": "log",
                                 "weighting_score": "quadratic", "idf_weighting": 2},
    ("vsknn", "diginetica"): {"k": 500, "sample_size": 5000, "weighting": "quadratic",
                              "weighting_score": "div", "idf_weighting": 5},
}
"""session-rec `conf/save/rsc15_64/single_rsc15_64_baselines.yml` and
`conf/save/diginetica/window/window_digi_baselines.yml` (V-SKNN similarity there: "vec")."""


class SKNN:
    """Session-based kNN (Jannach & Ludewig 2017); binary session vectors by default.

    Args: see the module docstring. Defaults are session-rec's ContextKNN class defaults
    with its recommended k = 100, sample_size = 500, cosine.
    """

    def __init__(self, k: int = 100, sample_size: int = 500, similarity: str = "cosine",
                 weighting: str = "same", weighting_score: str = "same",
                 idf_weighting: float = 0.0) -> None:
        # Messages name the options as the command's settings do (model.k, ...).
        for name, value, least in (("k", k, 1), ("sample_size", sample_size, 0),
                                   ("idf_weighting", idf_weighting, 0)):
            whole = name != "idf_weighting"
            if not (least <= value < np.inf) or (whole and int(value) != value):
                raise ConfigError(f"model.{name}: must be >= {least}"
                                  f"{', a whole number' if whole else ''}, got {value} "
                                  f"({type(self).__name__})")
        for name, value, allowed in (("similarity", similarity, SIMILARITIES),
                                     ("weighting", weighting, _WEIGHTING),
                                     ("weighting_score", weighting_score, _DECAY)):
            if value not in allowed:
                raise ConfigError(f"model.{name}: must be one of {', '.join(allowed)}, got "
                                  f"{value!r} ({type(self).__name__})")
        self.k, self.sample_size, self.similarity = int(k), int(sample_size), similarity
        self.weighting, self.weighting_score = weighting, weighting_score
        self.idf_weighting = float(idf_weighting)
        self.index: tuple | None = None

    def fit(self, train: Sessions) -> SKNN:
        """Build the session -> items and item -> sessions (most recent first) indexes."""
        check_kind(train, (Sessions,), f"{type(self).__name__}: fit", "train")
        S, V = train.n_sessions, train.n_items
        event_session = np.repeat(np.arange(S, dtype=np.int64), train.lengths())  # (N,)
        pairs = np.unique(event_session * V + train.items)              # (P,) distinct
        p_sess, p_item = pairs // V, pairs % V                          # (P,), (P,)
        sess_ptr = np.zeros(S + 1, dtype=np.int64)
        np.cumsum(np.bincount(p_sess, minlength=S), out=sess_ptr[1:])
        if train.times is None:
            last_time = np.arange(S, dtype=np.float64)
        else:
            ends = np.maximum(train.offsets[1:] - 1, 0)
            last_time = np.where(train.lengths() > 0, train.times[ends], -np.inf)
        recency = np.empty(S, dtype=np.int64)                           # (S,) 0 = oldest
        recency[np.lexsort((np.arange(S), last_time))] = np.arange(S)
        by_item = np.lexsort((-recency[p_sess], p_item))                # (P,)
        item_ptr = np.zeros(V + 1, dtype=np.int64)
        np.cumsum(np.bincount(p_item, minlength=V), out=item_ptr[1:])
        clicks = train.item_counts()                                    # (V,)
        idf = np.log(np.maximum(S, 1) / np.maximum(clicks, 1))          # (V,)
        idf_factor = 1.0 + self.idf_weighting * np.where(clicks > 0, idf, 0.0)  # (V,)
        self.index = (sess_ptr, p_item.astype(np.int64), item_ptr,
                      p_sess[by_item].astype(np.int64), recency, idf_factor)
        self.n_items = V
        return self

    def score_prefixes(self, items: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, V) float32 next-item scores of left-aligned prefixes items (B, T), mask (B, T)."""
        if self.index is None:
            raise ConfigError(f"{type(self).__name__}: call fit(train) before scoring")
        items, mask = as_prefixes(items, mask, self.n_items, "score_prefixes")
        lengths = mask.sum(axis=1).astype(np.int64)                     # (B,)
        pre_ptr = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=pre_ptr[1:])
        pre_items = items[mask].astype(np.int64)                        # (N,) click order
        position = np.nonzero(mask)[1] + 1                              # (N,) 1-based
        L = np.repeat(lengths, lengths)                                 # (N,)
        weights = _WEIGHTING[self.weighting](position, L)               # (N,)
        steps = np.arange(max(int(lengths.max(initial=1)), 1) + 1, dtype=np.float64)
        decay = np.ones_like(steps)
        decay[1:] = _DECAY[self.weighting_score](steps[1:])            # (T_max + 1,)
        return sknn_scores(pre_ptr, pre_items, weights, self.index, decay, self.k,
                           self.sample_size, SIMILARITIES.index(self.similarity))


class VSKNN(SKNN):
    """Vector-multiplication session kNN (Ludewig & Jannach 2018): later clicks weigh more.

    Defaults are session-rec's VMContextKNN defaults (k = 100, sample_size = 1000,
    similarity "vec", weighting and weighting_score "div", no idf weighting).
    """

    def __init__(self, k: int = 100, sample_size: int = 1000, similarity: str = "vec",
                 weighting: str = "div", weighting_score: str = "div",
                 idf_weighting: float = 0.0) -> None:
        super().__init__(k, sample_size, similarity, weighting, weighting_score, idf_weighting)
