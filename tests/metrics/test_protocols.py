"""The evaluation protocols on tiny hand-made splits: what each one ranks, masks and samples."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nprec.data.containers import Interactions, Sessions
from nprec.errors import ConfigError, DataError
from nprec.metrics import evaluate_rankings
from nprec.metrics.protocols import (
    csr_rows,
    evaluate_loo_full,
    evaluate_ncf_loo99,
    evaluate_next_item,
    evaluate_strong_generalization,
)


def _split(seed=0, U=30, V=150):
    """A random implicit split: a few train items per user and one test item outside them."""
    rng = np.random.default_rng(seed)
    users, items, test_items = [], [], []
    for u in range(U):
        row = rng.choice(V, size=int(rng.integers(1, 20)) + 1, replace=False)
        users += [u] * (row.size - 1)
        items += row[1:].tolist()
        test_items.append(row[0])
    train = Interactions.from_indices(users, items, U, V)
    test = Interactions.from_indices(np.arange(U), test_items, U, V)
    return train, test


class Recorder:
    """A model that records every call and scores with a fixed (U, V) matrix."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def score_items(self, users, items):
        self.calls.append((users.copy(), items.copy()))
        return self.table[users[:, None], items]

    def score_all(self, users):
        self.calls.append(users.copy())
        return self.table[users]


def test_ncf_loo99_negatives_are_distinct_unseen_and_seeded():
    train, test = _split()
    rec = Recorder(np.zeros((30, 150)))
    res = evaluate_ncf_loo99(rec.score_items, train, test, seed=3, batch_size=7)
    cand = np.concatenate([c for _, c in rec.calls])                    # (U, 100)
    users = np.concatenate([u for u, _ in rec.calls])
    assert cand.shape == (30, 100) and (users == np.arange(30)).all()
    assert (cand[:, 0] == test.indices).all()
    union = (train.to_csr() + test.to_csr()).toarray() > 0
    for u in range(30):
        assert np.unique(cand[u]).size == 100
        assert not union[u, cand[u, 1:]].any()
    assert res["settings"]["negatives_dropped_as_repeats"] == 0
    # a constant scorer under pessimistic ties ranks the target last of 100
    assert res["by_ties"]["pessimistic"]["hit@10"] == 0.0
    assert res["by_ties"]["expected"]["hit@10"] == pytest.approx(0.1)
    assert res["by_ties"]["optimistic"]["hit@10"] == 1.0
    again = Recorder(np.zeros((30, 150)))
    evaluate_ncf_loo99(again.score_items, train, test, seed=3)
    assert (np.concatenate([c for _, c in again.calls]) == cand).all()
    other = Recorder(np.zeros((30, 150)))
    evaluate_ncf_loo99(other.score_items, train, test, seed=4)
    assert (np.concatenate([c for _, c in other.calls]) != cand).any()


def test_ncf_loo99_given_negatives_drop_repeats_like_ncf_dict():
    train = Interactions.from_indices([0, 1, 2], [1, 2, 3], 3, 40)
    test = Interactions.from_indices([0, 1, 2], [30, 31, 32], 3, 40)
    negatives = np.array([[5, 6, 7], [9, 9, 10], [32, 11, 12]])
    rec = Recorder(np.zeros((3, 40)))
    res = evaluate_ncf_loo99(rec.score_items, train, test, negatives=negatives, ks=(4,),
                             metrics=("hit", "mrr"))
    assert res["settings"]["negatives_dropped_as_repeats"] == 2
    # pessimistic rank = number of distinct candidates: 4, 3, 3 -> all within the top 4
    assert res["by_ties"]["pessimistic"]["mrr@4"] == pytest.approx((1 / 4 + 1 / 3 + 1 / 3) / 3)
    with pytest.raises(DataError, match="one row per test entry"):
        evaluate_ncf_loo99(rec.score_items, train, test, negatives=negatives[:2])
    with pytest.raises(ConfigError, match="coverage"):
        evaluate_ncf_loo99(rec.score_items, train, test, metrics=("coverage",))


def test_loo_full_masks_training_items():
    train, test = _split(seed=1)
    table = np.zeros((30, 150))
    table[train.to_csr().toarray() > 0] = 10.0                          # seen items on top
    table[np.arange(30), test.indices] = 5.0                            # then the test item
    rec = Recorder(table)
    masked = evaluate_loo_full(rec.score_all, train, test, ks=(1,), batch_size=8)
    assert masked["by_ties"]["pessimistic"]["hit@1"] == 1.0
    unmasked = evaluate_loo_full(rec.score_all, train, test, ks=(1,), exclude_seen=False)
    assert unmasked["by_ties"]["optimistic"]["hit@1"] == 0.0
    assert masked["settings"]["exclude_seen"] and masked["rows"] == 30


def test_strong_generalization_feeds_fold_in_and_masks_it():
    rng = np.random.default_rng(2)
    dense = rng.random((12, 25)) < 0.3
    fold = dense & (rng.random((12, 25)) < 0.6)
    held = dense & ~fold
    held[3] = False                                                     # a row with no target
    fold_in = Interactions.from_csr(sp.csr_array(fold.astype(float)))
    held_out = Interactions.from_csr(sp.csr_array(held.astype(float)))
    M = rng.random((25, 25))
    seen = []

    def score_fold_in(X):
        seen.append(X.toarray() > 0)
        return X @ M + 100.0 * X.toarray()                             # fold-in items on top

    res = evaluate_strong_generalization(score_fold_in, fold_in, held_out, ks=(5,),
                                         batch_size=5)
    rows = np.flatnonzero(held.any(axis=1))
    assert (np.concatenate(seen) == fold[rows]).all()
    assert res["rows"] == rows.size == 11
    direct = evaluate_rankings(fold[rows] @ M, sp.csr_array(held[rows]), ks=(5,),
                               metrics=("ndcg", "recall", "recall_capped"), ties="all",
                               exclude=sp.csr_array(fold[rows]))
    for ties in ("pessimistic", "optimistic", "expected"):
        assert res["by_ties"][ties] == pytest.approx(direct[ties])


def test_next_item_prefixes_in_session_order():
    test = Sessions.from_lists([[1, 2, 3], [4], [2, 2]], n_items=6)
    got = []

    def score_prefixes(items, mask):
        got.extend(tuple(row[m].tolist()) for row, m in zip(items, mask, strict=True))
        scores = np.zeros((items.shape[0], 6))
        scores[:, 2] = 1.0                                              # always predicts 2
        return scores

    res = evaluate_next_item(test, score_prefixes=score_prefixes, ks=(1,), batch_size=2)
    assert got == [(1,), (1, 2), (2,)]
    assert res["rows"] == 3
    assert res["by_ties"]["pessimistic"]["hit@1"] == pytest.approx(2 / 3)
    assert res["settings"]["exclude_seen"] is False


def test_next_item_session_parallel_path_is_counted():
    test = Sessions.from_lists([[1, 2, 3], [4, 5]], n_items=6)

    def evaluate_sessions(sessions, evaluator):
        # one step per position, rows = sessions; -1 where a session has no next event
        for t in range(2):
            targets = np.array([sessions.session(s)[t + 1] if t + 1 < sessions.lengths()[s]
                                else -1 for s in range(sessions.n_sessions)])
            evaluator.add(np.zeros((2, 6)), targets)

    res = evaluate_next_item(test, evaluate_sessions=evaluate_sessions, ks=(20,))
    assert res["rows"] == 3 and res["by_ties"]["pessimistic"]["hit@20"] == 1.0

    def skips_one(sessions, evaluator):
        evaluator.add(np.zeros((1, 6)), np.array([2]))

    with pytest.raises(DataError, match="1 targets were evaluated.*hold 3"):
        evaluate_next_item(test, evaluate_sessions=skips_one)
    with pytest.raises(ConfigError, match="exactly one"):
        evaluate_next_item(test)


def test_csr_rows_and_shape_checks():
    ptr, idx = np.array([0, 2, 2, 5]), np.array([1, 3, 0, 2, 4])
    p, i = csr_rows(ptr, idx, np.array([2, 0, 1]))
    assert p.tolist() == [0, 3, 5, 5] and i.tolist() == [0, 2, 4, 1, 3]
    train, test = _split()
    with pytest.raises(DataError, match="shape"):
        evaluate_loo_full(lambda users: np.zeros((len(users), 3)), train, test)
    with pytest.raises(DataError, match="share users and items"):
        evaluate_loo_full(lambda users: None, train,
                          Interactions.from_indices([0], [0], 30, 151))


def test_protocol_result_matches_direct_evaluation():
    train, test = _split(seed=5)
    table = np.random.default_rng(5).random((30, 150))
    res = evaluate_loo_full(Recorder(table).score_all, train, test, ks=(5, 10),
                            metrics=("hit", "ndcg", "coverage"), ties="expected")
    direct = evaluate_rankings(table, test, ks=(5, 10), metrics=("hit", "ndcg", "coverage"),
                               ties="expected", exclude=train)
    assert res["metrics"] == pytest.approx(direct)
    assert res["ties"] == "expected" and res["metrics"] == res["by_ties"]["expected"]
