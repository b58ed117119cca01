"""Ranking metrics with an explicit tie policy, and the evaluator every protocol feeds.

One row is one ranking: a user, or a session prefix. T is the row's set of target items; the
candidates are every column of the score row except the row's excluded items (seen-item
masking: an excluded item is removed from the candidates, it never takes a rank); rank 1 is
the best; hits@k = #{t in T : rank(t) <= k}. The metrics, named for what they compute
(PAPERS.md §D3):

    hit@k            1 if hits@k > 0 else 0            NCF's HR@k; with one target per row it
                                                       is GRU4Rec's and NARM's "Recall@k"
    recall@k         hits@k / |T|                      Dacrema et al.'s Recall@k
    recall_capped@k  hits@k / min(k, |T|)              Liang et al. 2018 (vae_cf) Recall@k
    precision@k      hits@k / k
    ndcg@k           DCG@k / IDCG@k, DCG@k = sum over t with rank(t) <= k of 1 / log2(rank(t)+1),
                     IDCG@k = sum_{p=1}^{min(|T|, k)} 1 / log2(p + 1)   (binary relevance)
    mrr@k            1 / rank of the best-ranked target if it is <= k, else 0
    map@k            (1 / min(k, |T|)) sum over t with rank(t) <= k of precision@rank(t)
    coverage@k       fraction of the V items in at least one top-k list (over all rows)

Every value is a mean over the rows that have at least one target; rows without targets are
skipped and counted apart (`RankingEvaluator.n_rows`).

Tie policies (`ties=`). A tie group is a maximal set of n candidates with equal score at
ranks o+1 .. o+n, holding m of the row's targets, with c targets ranked in higher groups.

    "pessimistic"  (default) the targets come after every tied non-target: ranks o+n-m+1..o+n.
                   For a single target, rank = #{candidates with score >= its score}
                   (GRU4Rec's "conservative" mode).
    "optimistic"   the targets come first: ranks o+1 .. o+m; for a single target,
                   rank = #{score > its score} + 1 (NARM, the GRU4Rec command-line default).
    "expected"     the exact expectation over a uniformly random order inside every tie group.

Closed forms of the expected policy. In a uniformly random order of a group, position o+j
holds a target with probability m/n, and two given positions both hold targets with
probability m(m-1) / (n(n-1)). Let L = min(n, max(0, k - o)), the group's positions in the
top k. Sums run over the groups in rank order.

    E[hits@k] = sum_groups (m/n) L           (recall, recall_capped, precision follow)
    E[DCG@k]  = sum_groups (m/n) sum_{j=1}^{L} 1 / log2(o + j + 1)
    The first target lies in the highest group with a target (c = 0). It sits at o+j when the
    first j-1 positions of the group hold non-targets and position j a target
    (hypergeometric):
        P(first at o+j) = [prod_{i=0}^{j-2} (n-m-i)/(n-i)] * m / (n-j+1)
    E[hit@k]  = 1 - prod_{i=0}^{L-1} (n-m-i)/(n-i) = 1 - C(n-L, m) / C(n, m)
    E[MRR@k]  = sum_{j=1}^{L} P(first at o+j) / (o+j)
    AP@k = (1/min(k,|T|)) sum_{p<=k} rel_p (sum_{q<=p} rel_q) / p. For p = o+j, the positions
    above the group hold exactly c targets whatever the order, so
        E[rel_p sum_{q<=p} rel_q] = (m/n) (1 + c) + (j-1) m(m-1)/(n(n-1))
    E[AP@k]   = (1/min(k,|T|)) sum_groups sum_{j=1}^{L} (m/n)(1 + c + (j-1)(m-1)/(n-1)) / (o+j)

Every metric satisfies pessimistic <= expected <= optimistic. A constant scorer with one
target among n candidates gets rank n (pessimistic; hit@k = 1 only if n <= k), rank 1
(optimistic: a perfect score, the failure of PAPERS.md §D2), and hit@k = min(k, n)/n,
MRR@k = (1/n) sum_{j=1}^{min(k,n)} 1/j (expected): chance.

Coverage needs lists, not ranks: its top-k lists break ties by the lower item index
(`nprec.kernels.topk`), whatever the tie policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from nprec.data.containers import as_integers
from nprec.errors import ConfigError, DataError
from nprec.kernels.ranking import METRICS, POLICIES, ranking_metrics
from nprec.kernels.topk import topk_rows

ALL_METRICS = METRICS + ("coverage",)
"""Every metric name the evaluator knows."""


def as_csr_rows(x, n_rows: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-row item lists as CSR (indptr (B + 1,), indices (nnz,)) int64.

    Accepts None (no items in any row), a (B,) integer array (one item per row; a negative
    entry means "no item in this row"), a pair (indptr, indices), a scipy sparse matrix with B
    rows (its stored entries), or any object with `indptr` and `indices` attributes
    (`nprec.data.Interactions`).
    """
    if x is None:
        return np.zeros(n_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if sp.issparse(x):
        csr = sp.csr_array(x)
        if csr.shape[0] != n_rows:
            raise DataError(f"{what}: sparse matrix has {csr.shape[0]} rows, expected {n_rows}")
        if not csr.has_canonical_format:
            csr = csr.copy()
            csr.sum_duplicates()
        return csr.indptr.astype(np.int64), csr.indices.astype(np.int64)
    if isinstance(x, tuple) and len(x) == 2:
        ptr, idx = x
    elif hasattr(x, "indptr") and hasattr(x, "indices"):
        ptr, idx = x.indptr, x.indices
    else:
        arr = np.asarray(x)
        if arr.ndim != 1 or arr.shape[0] != n_rows or not np.issubdtype(arr.dtype, np.integer):
            raise DataError(f"{what}: expected a ({n_rows},) integer array, a CSR pair or a "
                            f"sparse matrix, got {type(x).__name__} of shape {arr.shape}")
        present = arr >= 0                                              # (B,)
        ptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(present, out=ptr[1:])
        return ptr, arr[present].astype(np.int64)
    # A cast would truncate 2.7 to item 2: a silently different target or mask.
    ptr = as_integers(ptr, f"{what}: CSR indptr")
    idx = as_integers(idx, f"{what}: CSR indices")
    if ptr.shape != (n_rows + 1,):
        raise DataError(f"{what}: CSR indptr has shape {ptr.shape}, expected ({n_rows + 1},)")
    return ptr, idx


def _check_settings(ks, metrics, ties) -> tuple[tuple[int, ...], tuple[str, ...]]:
    raw = np.atleast_1d(ks)
    # Whole numbers only: int(2.5) would silently report hit@2 for a cutoff of 2.5.
    if (raw.ndim != 1 or raw.size == 0 or raw.dtype.kind not in "iuf"
            or not np.all(np.isfinite(raw)) or np.any(raw != np.floor(raw)) or raw.min() < 1):
        raise ConfigError(f"cutoffs must be positive integers, got {ks!r}")
    ks = tuple(int(k) for k in raw)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    for name in metrics:
        if name not in ALL_METRICS:
            raise ConfigError(f"unknown metric {name!r}; choose from {', '.join(ALL_METRICS)}")
    if ties not in POLICIES:
        raise ConfigError(f"unknown tie policy {ties!r}; choose from {', '.join(POLICIES)}")
    return ks, metrics


def _as_scores(scores, what: str) -> np.ndarray:
    """Score rows (B, V) of real numbers, a DataError otherwise (NaN is refused later)."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise DataError(f"{what}: scores must be (B, V), got shape {scores.shape}")
    if scores.dtype.kind not in "iuf":
        raise DataError(f"{what}: scores must be real numbers, got {scores.dtype}")
    return scores


class NoTargetsError(DataError):
    """Nothing to average: no evaluated row had a target (the caller knows which data)."""


class RankingEvaluator:
    """Accumulates ranking metrics over batches of score rows; the means come from `result`.

    Usage (every protocol and every model's evaluation loop):

        ev = RankingEvaluator(ks=(10,), metrics=("hit", "ndcg"), n_items=V)
        for users in batches:
            ev.add(model.score_all(users), targets=test_items[users], exclude=train_rows)
        ev.result()              # {"hit@10": ..., "ndcg@10": ...} under ev.ties
        ev.result("all")         # {"pessimistic": {...}, "optimistic": {...}, "expected": {...}}

    All three tie policies are accumulated at once (the counting pass is shared), so asking
    for another policy afterwards costs nothing.

    Args:
        ks: cutoffs K.
        metrics: names from `ALL_METRICS`.
        ties: the default policy of `result()`: "pessimistic", "optimistic" or "expected".
        n_items: V, the number of score columns every batch must have (None: not checked).
    """

    def __init__(self, ks: Sequence[int] | int = (10,),
                 metrics: Sequence[str] | str = ("hit", "ndcg"),
                 ties: str = "pessimistic", n_items: int | None = None) -> None:
        self.ks, self.metrics = _check_settings(ks, metrics, ties)
        if n_items is not None and not (isinstance(n_items, (int, np.integer)) and n_items >= 1):
            raise ConfigError(f"evaluator: n_items must be a positive integer or None, got "
                              f"{n_items!r}")
        self.ties = ties
        self.n_items = n_items
        self._sums = np.zeros((len(POLICIES), len(METRICS), len(self.ks)))  # (3, 7, K)
        self._rows = 0
        self._skipped = 0
        self._covered = None
        if "coverage" in self.metrics:
            if n_items is None:
                raise ConfigError("coverage needs n_items, the size of the item vocabulary")
            self._covered = np.zeros((len(self.ks), n_items), dtype=bool)  # (K, V)

    @property
    def n_rows(self) -> int:
        """Rows evaluated so far (rows with at least one target)."""
        return self._rows

    @property
    def n_skipped(self) -> int:
        """Rows added without any target (not evaluated)."""
        return self._skipped

    def add(self, scores: np.ndarray, targets, exclude=None) -> None:
        """Rank one batch and accumulate its metrics.

        Args:
            scores:  (B, V) scores, higher is better; NaN raises DataError.
            targets: the items to find: (B,) int (one per row, negative = none) or per-row
                     lists (CSR pair, sparse matrix, Interactions; see `as_csr_rows`).
            exclude: items removed from each row's candidates (same forms), or None. Must not
                     contain a target of the row.
        """
        scores = _as_scores(scores, "evaluator")
        B, V = scores.shape
        if self.n_items is not None and V != self.n_items:
            raise DataError(f"evaluator: scores have {V} columns, expected n_items="
                            f"{self.n_items}")
        t_ptr, t_idx = as_csr_rows(targets, B, "targets")
        e_ptr, e_idx = as_csr_rows(exclude, B, "exclude")
        values, n_targets = ranking_metrics(scores, t_ptr, t_idx, e_ptr, e_idx, self.ks)
        has = n_targets > 0                                             # (B,)
        self._sums += values[has].sum(axis=0)
        self._rows += int(has.sum())
        self._skipped += int(B - has.sum())
        if self._covered is not None and has.any():
            self._cover(scores[has], e_ptr, e_idx, has)

    def _cover(self, scores, e_ptr, e_idx, has):
        """Mark the items of each evaluated row's top-k lists (excluded items masked)."""
        masked = np.array(scores, dtype=np.float64)                     # (B', V) a copy
        lengths = np.diff(e_ptr)[has]                                   # (B',)
        rows = np.repeat(np.arange(masked.shape[0]), lengths)
        keep = np.repeat(has, np.diff(e_ptr))
        masked[rows, e_idx[keep]] = -np.inf
        n_cand = masked.shape[1] - lengths                              # (B',)
        k_max = min(max(self.ks), masked.shape[1])
        lists = topk_rows(masked, k_max)                                # (B', k_max)
        for q, k in enumerate(self.ks):
            valid = np.arange(k_max)[None, :] < np.minimum(k, n_cand)[:, None]  # (B', k_max)
            self._covered[q, lists[valid]] = True

    def result(self, ties: str | None = None) -> dict:
        """Means over the evaluated rows: {"hit@10": ..., ...}, ordered metric by metric.

        ties: a policy name (default: the evaluator's), or "all" for one dict per policy.
        """
        if ties == "all":
            return {p: self.result(p) for p in POLICIES}
        ties = self.ties if ties is None else ties
        _check_settings(self.ks, self.metrics, ties)
        if self._rows == 0:
            raise NoTargetsError("evaluator: no row with a target was added, nothing to "
                                 "average")
        means = self._sums[POLICIES.index(ties)] / self._rows            # (7, K)
        out = {}
        for name in self.metrics:
            for q, k in enumerate(self.ks):
                if name == "coverage":
                    out[f"coverage@{k}"] = float(self._covered[q].mean())
                else:
                    out[f"{name}@{k}"] = float(means[METRICS.index(name), q])
        return out


def evaluate_rankings(scores: np.ndarray, targets, *, ks: Sequence[int] | int = (10,),
                      metrics: Sequence[str] | str = ("hit", "ndcg"),
                      ties: str = "pessimistic", exclude=None) -> dict:
    """Metrics of one score matrix in one call (a one-batch `RankingEvaluator`).

    Args as `RankingEvaluator` and its `add`; ties="all" returns one dict per policy.
    """
    scores = _as_scores(scores, "evaluate_rankings")
    ev = RankingEvaluator(ks, metrics, "pessimistic" if ties == "all" else ties,
                          n_items=scores.shape[1])
    ev.add(scores, targets, exclude)
    return ev.result(ties)


def per_row_metric(scores: np.ndarray, targets, metric: str, k: int, *,
                   ties: str = "pessimistic", exclude=None) -> np.ndarray:
    """One metric for every row, (B,) float64; NaN for rows without a target.

    For paired comparisons of two models row by row (e.g. a sign test).
    """
    if not isinstance(metric, str):
        raise ConfigError(f"per_row_metric: metric must be one metric name, got {metric!r}")
    _check_settings(k, metric, ties)
    if np.ndim(k) != 0:
        raise ConfigError(f"per_row_metric: k must be one cutoff, got {k!r}")
    if metric == "coverage":
        raise ConfigError("coverage is a property of all lists together, not of one row")
    scores = _as_scores(scores, "per_row_metric")
    B = scores.shape[0]
    t_ptr, t_idx = as_csr_rows(targets, B, "targets")
    e_ptr, e_idx = as_csr_rows(exclude, B, "exclude")
    values, n_targets = ranking_metrics(scores, t_ptr, t_idx, e_ptr, e_idx, [k])
    out = values[:, POLICIES.index(ties), METRICS.index(metric), 0]     # (B,)
    return np.where(n_targets > 0, out, np.nan)
