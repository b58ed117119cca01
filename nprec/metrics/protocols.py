"""The named evaluation protocols: who is ranked, against which candidates, with what masked.

Each protocol is a function that takes the model's scoring callable and the split, and
returns a JSON-ready dict:

    {"protocol": name, "settings": {...every choice that changes the numbers...},
     "rows": rows evaluated, "ties": policy of "metrics",
     "metrics": {"hit@10": ...}, "by_ties": {"pessimistic": {...}, "optimistic": {...},
                                             "expected": {...}}}

`by_ties` always holds all three policies, so optimistic and pessimistic numbers can be
reported side by side (PAPERS.md §D2).

Protocols and the scoring interface each one calls:

    "ncf-loo99"   score_items(users (B,), items (B, C)) -> (B, C). He et al. 2017: each test
                  pair (user, item) is ranked against 99 items the user never interacted with
                  (in train or test), drawn with a seed, or the negatives of the official
                  `.test.negative` file. A sampled protocol: offered by name, never a default
                  (Krichene & Rendle 2020, PAPERS.md §D1).
    "loo-full"    score_all(users (B,)) -> (B, V). Full ranking of every item; each user's
                  training items are masked (removed from the candidates) by default.
    "strong-generalization"
                  score_fold_in(X (B, V) scipy CSR) -> (B, V). Liang et al. 2018: held-out
                  users are scored from their fold-in items, which are masked; their other
                  items are the targets.
    "next-item"   score_prefixes(items (B, T), mask (B, T)) -> (B, V), or
                  evaluate_sessions(sessions, evaluator). Every event after the first of each
                  test session is a target for the prefix before it; nothing is masked
                  (repeat clicks are legitimate next items, PAPERS.md §D4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from nprec.data.containers import Interactions, Sessions, as_count
from nprec.errors import ConfigError, DataError
from nprec.kernels.sampling import sample_negatives_distinct
from nprec.metrics.ranking import RankingEvaluator
from nprec.samplers.prefixes import prefix_batches


def csr_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """The CSR (indptr (B + 1,), indices) of the given rows of a CSR matrix, in that order."""
    rows = np.asarray(rows, dtype=np.int64)
    lengths = indptr[rows + 1] - indptr[rows]                           # (B,)
    ptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    take = np.repeat(indptr[rows] - ptr[:-1], lengths) + np.arange(ptr[-1])  # (nnz',)
    return ptr, indices[take].astype(np.int64)


def _report(protocol: str, settings: dict, ev: RankingEvaluator) -> dict:
    """The protocol's result dict (see the module docstring)."""
    by_ties = ev.result("all")
    settings = {"ks": list(ev.ks), "metrics": list(ev.metrics), **settings,
                "rows_without_target": ev.n_skipped}
    return {"protocol": protocol, "settings": settings, "rows": ev.n_rows, "ties": ev.ties,
            "metrics": by_ties[ev.ties], "by_ties": by_ties}


def _check_scores(scores: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.shape != shape:
        raise DataError(f"{what} returned scores of shape {scores.shape}, expected {shape}")
    return scores


def _check_batch_size(batch_size: int, what: str) -> None:
    # range(0, n, 0) fails obscurely and a negative step evaluates no row at all.
    as_count(batch_size, f"{what}: batch_size", 1, ConfigError)


def _check_split(train: Interactions, test: Interactions) -> None:
    for name, part in (("train", train), ("test", test)):
        if not isinstance(part, Interactions):
            raise DataError(f"{name} must be Interactions (users x items), got "
                            f"{type(part).__name__}")
    if train.shape != test.shape:
        raise DataError(f"train {train.shape} and test {test.shape} must share users and items "
                        f"(read the test file with the training vocabularies)")


NCF_NEGATIVES = 99
"""Sampled negatives per test item in the ncf-loo99 protocol (He et al. 2017)."""


def check_negatives_left(indptr: np.ndarray, users: np.ndarray, n_items: int,
                         n_negatives: int, user_ids: np.ndarray | None = None) -> None:
    """A `DataError` unless each user has `n_negatives` items outside its row of `indptr`.

    The ncf-loo99 protocol draws that many distinct items a user never met (train or test);
    on a small item set a heavy user may have met nearly all of them.
    """
    left = n_items - np.diff(indptr)[users]                             # (N,) items to draw
    if users.size and left.min() < n_negatives:
        r = int(np.argmin(left))
        user = users[r] if user_ids is None else user_ids[users[r]]
        raise DataError(f"ncf-loo99: user {user} has {n_items - int(left[r])} of the {n_items} "
                        f"items in training or test, too few left for {n_negatives} distinct "
                        f"negatives; use the loo-full protocol")


def evaluate_ncf_loo99(score_items: Callable, train: Interactions, test: Interactions, *,
                       n_negatives: int = NCF_NEGATIVES, seed: int = 0,
                       negatives: np.ndarray | None = None,
                       ks: Sequence[int] = (10,), metrics: Sequence[str] = ("hit", "ndcg"),
                       ties: str = "pessimistic", batch_size: int = 1024) -> dict:
    """The NCF protocol: each test item against 99 sampled negatives (He et al. 2017, §4.1).

    One row per test entry (one per user in leave-one-out): candidates are the test item and
    `n_negatives` distinct items drawn uniformly from the items the user has in neither train
    nor test (`sample_negatives_distinct`, uniforms from `default_rng(seed)`). Or, with
    `negatives` (N, S) (e.g. `read_ncf_negatives(...).negatives` in test-entry order), the
    given items; as in NCF's `evaluate.py`, which keys candidates by item in a dict, a
    negative equal to the test item or to an earlier negative is dropped (masked). NCF's own
    ties follow dict order (arbitrary); here they follow `ties`, pessimistic by default.

    Args:
        score_items: (users (B,), items (B, C)) -> scores (B, C).
        train, test: `Interactions` over the same users and items.
        n_negatives, seed: the sampled negatives (ignored when `negatives` is given).
        negatives: (N, S) item indices, one row per test entry, or None.
        ks, metrics, ties: as `RankingEvaluator` (hit@10 is NCF's HR@10).
        batch_size: test entries per call of score_items.
    Returns:
        the protocol dict (module docstring).
    """
    _check_split(train, test)
    _check_batch_size(batch_size, "ncf-loo99")
    if "coverage" in metrics:
        raise ConfigError("ncf-loo99: coverage is undefined over 100 sampled candidates")
    users = test.entry_users()                                          # (N,)
    items = test.indices.astype(np.int64)                               # (N,)
    if negatives is None:
        as_count(n_negatives, "ncf-loo99: n_negatives", 1, ConfigError)
        as_count(seed, "ncf-loo99: seed", 0, ConfigError)
        union = sp.csr_array(train.to_csr() + test.to_csr())            # canonical: sorted
        check_negatives_left(union.indptr, users, train.n_items, n_negatives, test.user_ids)
        u = np.random.default_rng(seed).random((users.size, n_negatives))  # (N, S)
        negatives = sample_negatives_distinct(union.indptr, union.indices, users,
                                              train.n_items, u)         # (N, S)
        source = f"sampled: {n_negatives} distinct non-interacted items, seed {seed}"
    else:
        negatives = np.asarray(negatives)
        if negatives.size and negatives.dtype.kind not in "iu":
            raise DataError(f"ncf-loo99: negatives must be item indices (integers), got "
                            f"{negatives.dtype}")
        negatives = negatives.astype(np.int64)
        if negatives.ndim != 2 or negatives.shape[0] != users.size:
            raise DataError(f"ncf-loo99: negatives must be ({users.size}, S), one row per test "
                            f"entry, got {negatives.shape}")
        if negatives.size and (negatives.min() < 0 or negatives.max() >= train.n_items):
            raise DataError(f"ncf-loo99: negative item index outside [0, {train.n_items})")
        source = f"given: {negatives.shape[1]} per test entry, repeats dropped"
    cand = np.concatenate([items[:, None], negatives], axis=1)          # (N, C) target first
    order = np.argsort(cand, axis=1, kind="stable")                     # (N, C)
    in_order = np.take_along_axis(cand, order, axis=1)                  # (N, C)
    repeat = np.zeros(cand.shape, dtype=bool)                           # (N, C) later copies
    np.put_along_axis(repeat, order[:, 1:], in_order[:, 1:] == in_order[:, :-1], axis=1)
    C = cand.shape[1]
    ev = RankingEvaluator(ks, metrics, ties, n_items=C)
    for a in range(0, users.size, batch_size):
        b = slice(a, a + batch_size)
        scores = _check_scores(score_items(users[b], cand[b]), cand[b].shape, "score_items")
        ev.add(scores, np.zeros(cand[b].shape[0], dtype=np.int64),
               exclude=sp.csr_array(repeat[b]))
    return _report("ncf-loo99", {"candidates": C, "negatives": source,
                                 "negatives_dropped_as_repeats": int(repeat.sum())}, ev)


def evaluate_loo_full(score_all: Callable, train: Interactions, test: Interactions, *,
                      ks: Sequence[int] = (10,), metrics: Sequence[str] = ("hit", "ndcg"),
                      ties: str = "pessimistic", exclude_seen: bool = True,
                      batch_size: int = 256) -> dict:
    """Full ranking: every user with test items ranks all V items.

    With `exclude_seen` (the default) the user's training items are removed from the
    candidates (the full-ranking fix of hexiangnan/neural_collaborative_filtering#73);
    all of the user's test items are targets.

    Args:
        score_all: users (B,) -> scores (B, V).
        train, test: `Interactions` over the same users and items.
        ks, metrics, ties: as `RankingEvaluator`.
        exclude_seen: mask the training items.
        batch_size: users per call of score_all.
    Returns:
        the protocol dict (module docstring).
    """
    _check_split(train, test)
    _check_batch_size(batch_size, "loo-full")
    users = np.flatnonzero(test.row_lengths() > 0)                      # (U',)
    V = train.n_items
    ev = RankingEvaluator(ks, metrics, ties, n_items=V)
    for a in range(0, users.size, batch_size):
        ub = users[a:a + batch_size]                                    # (B,)
        scores = _check_scores(score_all(ub), (ub.size, V), "score_all")
        seen = csr_rows(train.indptr, train.indices, ub) if exclude_seen else None
        ev.add(scores, csr_rows(test.indptr, test.indices, ub), exclude=seen)
    return _report("loo-full", {"candidates": "all items", "exclude_seen": exclude_seen}, ev)


def evaluate_strong_generalization(score_fold_in: Callable, fold_in: Interactions,
                                   held_out: Interactions, *, ks: Sequence[int] = (20, 50, 100),
                                   metrics: Sequence[str] = ("ndcg", "recall", "recall_capped"),
                                   ties: str = "pessimistic", batch_size: int = 500) -> dict:
    """Strong generalisation (Liang et al. 2018): rank for users unseen in training.

    Row r of `fold_in` and `held_out` is the same held-out user. The model sees the fold-in
    items only; they are masked, and the held-out items are the targets. The paper reports
    NDCG@100 and Recall@20/50 with Recall capped at min(k, |T|) (`recall_capped`; Dacrema et
    al.'s `recall` divides by |T|): both are computed by default.

    Args:
        score_fold_in: X (B, V) scipy CSR of fold-in items -> scores (B, V).
        fold_in, held_out: `Interactions` with the same rows and items.
        ks, metrics, ties: as `RankingEvaluator`.
        batch_size: users per call.
    Returns:
        the protocol dict (module docstring).
    """
    _check_split(fold_in, held_out)
    _check_batch_size(batch_size, "strong-generalization")
    rows = np.flatnonzero(held_out.row_lengths() > 0)                   # (U',)
    X = fold_in.to_csr()
    V = fold_in.n_items
    ev = RankingEvaluator(ks, metrics, ties, n_items=V)
    for a in range(0, rows.size, batch_size):
        rb = rows[a:a + batch_size]                                     # (B,)
        Xb = X[rb]                                                      # (B, V) sparse
        scores = _check_scores(score_fold_in(Xb), (rb.size, V), "score_fold_in")
        ev.add(scores, csr_rows(held_out.indptr, held_out.indices, rb),
               exclude=(Xb.indptr, Xb.indices))
    return _report("strong-generalization", {"candidates": "all items",
                                             "exclude_fold_in": True}, ev)


def evaluate_next_item(test: Sessions, *, score_prefixes: Callable | None = None,
                       evaluate_sessions: Callable | None = None, ks: Sequence[int] = (20,),
                       metrics: Sequence[str] = ("hit", "mrr"), ties: str = "pessimistic",
                       batch_size: int = 512, max_len: int | None = None) -> dict:
    """Next-item prediction over test sessions (Hidasi et al. 2016; Li et al. 2017).

    Every event after the first of each test session is a target; the candidates are all V
    items and nothing is masked. hit@20 is what GRU4Rec and NARM call Recall@20. Exactly one
    of the two scoring interfaces is given:

    - `score_prefixes(items, mask) -> (B, V)`: the protocol builds the prefixes in batches
      (`nprec.samplers.prefix_batches`, in session order): items (B, T) left-aligned, oldest
      first, 0 where mask (B, T) is False; `max_len` keeps the most recent items. For models
      that read a whole prefix (NARM, session-kNN, popularity).
    - `evaluate_sessions(sessions, evaluator)`: the model runs its own loop (GRU4Rec's
      session-parallel one, hidden state zeroed at every session start) and calls
      `evaluator.add(scores (B, V), targets (B,))` per step, with target -1 on rows that
      hold no event. The protocol checks that exactly one row per target was evaluated.

    Returns:
        the protocol dict (module docstring).
    """
    if (score_prefixes is None) == (evaluate_sessions is None):
        raise ConfigError("next-item: give exactly one of score_prefixes and evaluate_sessions")
    if not isinstance(test, Sessions):
        raise DataError(f"next-item: test must be Sessions, got {type(test).__name__}")
    _check_batch_size(batch_size, "next-item")
    ev = RankingEvaluator(ks, metrics, ties, n_items=test.n_items)
    expected = int(np.maximum(test.lengths() - 1, 0).sum())
    if score_prefixes is not None:
        for batch in prefix_batches(test, batch_size, None, max_len=max_len):
            scores = _check_scores(score_prefixes(batch.items, batch.mask),
                                   (batch.targets.size, test.n_items), "score_prefixes")
            ev.add(scores, batch.targets)
        loop = "prefixes"
    else:
        evaluate_sessions(test, ev)
        loop = "session-parallel (model's own loop)"
    if ev.n_rows != expected:
        raise DataError(f"next-item: {ev.n_rows} targets were evaluated, the test sessions "
                        f"hold {expected} (every event after the first)")
    return _report("next-item", {"candidates": "all items", "exclude_seen": False,
                                 "loop": loop, "max_len": max_len,
                                 "sessions": test.n_sessions}, ev)


__all__ = ["csr_rows", "evaluate_loo_full", "evaluate_ncf_loo99",
           "evaluate_next_item", "evaluate_strong_generalization"]
