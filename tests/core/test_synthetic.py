"""The synthetic data: reproducible, valid containers, and a structure beyond popularity."""

from __future__ import annotations

import numpy as np

from nprec.data.synthetic import synthetic_interactions, synthetic_sessions


def test_interactions_are_reproducible_and_valid():
    a = synthetic_interactions(300, 200, seed=5)
    b = synthetic_interactions(300, 200, seed=5)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.times, b.times)
    assert a.n_users == 300 and a.n_items == 200
    assert a.row_lengths().min() >= 5
    assert not np.array_equal(a.indices, synthetic_interactions(300, 200, seed=6).indices)


def _low_rank_share(X: np.ndarray, rank: int = 8) -> float:
    """Energy share of the top singular values once user activity and popularity are removed."""
    residual = X - np.outer(X.sum(1), X.sum(0)) / X.sum()
    s2 = np.linalg.svd(residual, compute_uv=False) ** 2
    return float(s2[:rank].sum() / s2.sum())


def test_interactions_carry_low_rank_structure_beyond_popularity():
    # The planted factors concentrate the residual in a few directions; with the factors
    # switched off (a huge temperature) only popularity and noise remain.
    planted = synthetic_interactions(400, 300, seed=1).to_csr().toarray()
    flat = synthetic_interactions(400, 300, seed=1, temperature=1e6).to_csr().toarray()
    assert _low_rank_share(planted) > 0.25
    assert _low_rank_share(flat) < 0.15


def test_sessions_follow_successors_more_than_chance():
    S = synthetic_sessions(3000, 200, n_topics=5, seed=2)
    assert S.lengths().min() >= 2
    assert np.all(np.diff(S.start_times()) >= 0)
    starts = S.offsets[:-1]
    nxt = np.ones(S.n_events, bool)
    nxt[S.offsets[1:] - 1] = False
    a, b = S.items[nxt], S.items[np.flatnonzero(nxt) + 1]
    pairs = np.unique(a.astype(np.int64) * S.n_items + b, return_counts=True)[1]
    # The most frequent transitions repeat far more often than a uniform walk would allow.
    assert pairs.max() > 20 * (a.size / S.n_items**2) and starts.size == 3000
