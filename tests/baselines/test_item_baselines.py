"""Popularity, ItemKNN and EASE against their definitions computed the slow way."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data.containers import Interactions, Sessions
from nprec.errors import ConfigError, DataError, UnknownIdError
from nprec.models.baselines import EASE, SKNN, VSKNN, ItemKNN, Popularity, tune_ease
from nprec.testing.strategies import seeds


def _random_data(seed, U=25, V=12, p=0.3):
    rng = np.random.default_rng(seed)
    dense = (rng.random((U, V)) < p).astype(float)
    dense[:, -1] = 0.0                                                  # an item nobody has
    return Interactions.from_csr(sp.csr_array(dense)), dense


def test_popularity_counts_support():
    data, dense = _random_data(0)
    pop = Popularity().fit(data)
    users = np.array([0, 3])
    np.testing.assert_array_equal(pop.score_all(users), np.tile(dense.sum(0), (2, 1)))
    items = np.array([[0, 1], [2, 11]])
    np.testing.assert_array_equal(pop.score_items(users, items), dense.sum(0)[items])
    sessions = Sessions.from_lists([[0, 1, 1], [1, 2]], n_items=4)
    clicks = Popularity().fit(sessions).score_prefixes(np.zeros((1, 1), int),
                                                      np.ones((1, 1), bool))
    np.testing.assert_array_equal(clicks, [[1, 3, 1, 0]])
    with pytest.raises(ConfigError, match="fit"):
        Popularity().score_all(users)


@settings(max_examples=15)
@given(seeds, st.sampled_from([0.5, 10.0, 200.0]))
def test_ease_solves_each_column_s_ridge_problem(seed, lam):
    """Column j of B = argmin ||x_j - X b||^2 + λ||b||^2 over b with b_j = 0."""
    data, X = _random_data(seed)
    model = EASE(lam).fit(data)
    V = X.shape[1]
    for j in range(V):
        others = np.delete(np.arange(V), j)
        Xo = X[:, others]
        b = np.linalg.solve(Xo.T @ Xo + lam * np.eye(V - 1), Xo.T @ X[:, j])
        np.testing.assert_allclose(model.B[others, j], b, rtol=2e-4, atol=2e-6)
        assert model.B[j, j] == 0.0
    users = np.array([1, 4, 7])
    np.testing.assert_allclose(model.score_all(users), X[users] @ model.B, rtol=1e-5,
                               atol=1e-6)
    items = np.array([[0, 5], [3, 3], [11, 2]])
    np.testing.assert_allclose(model.score_items(users, items),
                               np.take_along_axis(X[users] @ model.B, items, 1), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(model.score_fold_in(sp.csr_array(X[:3])), X[:3] @ model.B,
                               rtol=1e-5, atol=1e-6)


def test_tune_ease_picks_the_best_lambda_of_the_grid():
    data, X = _random_data(3, U=60, V=20, p=0.35)
    rng = np.random.default_rng(3)
    users = data.entry_users()
    held = np.zeros(data.nnz, dtype=bool)
    held[rng.choice(data.nnz, size=30, replace=False)] = True
    train = Interactions.from_indices(users[~held], data.indices[~held], 60, 20)
    valid = Interactions.from_indices(users[held], data.indices[held], 60, 20)
    best, grid = tune_ease(train, valid, [1.0, 10.0, 100.0], metric="hit@5")
    assert set(grid) == {1.0, 10.0, 100.0} and grid[best] == max(grid.values())
    with pytest.raises(ConfigError, match="does not report"):
        tune_ease(train, valid, [1.0], metric="recall@7", ks=(5,))
    with pytest.raises(ConfigError, match="look like"):
        tune_ease(train, valid, [1.0], metric="recall")
    with pytest.raises(ConfigError, match="lam"):
        EASE(0.0)


def _itemknn_by_definition(X, k, shrink):
    """Dense cosine-with-shrink similarities, zero diagonal, top-k kept per column."""
    norms = np.sqrt((X**2).sum(0))
    den = norms[:, None] * norms[None, :] + shrink
    sim = np.divide(X.T @ X, den, out=np.zeros_like(den), where=den > 0)
    np.fill_diagonal(sim, 0.0)
    W = np.zeros_like(sim)
    for j in range(sim.shape[1]):
        top = np.argsort(-sim[:, j], kind="stable")[:k]
        W[top, j] = sim[top, j]
    return W


@settings(max_examples=20)
@given(seeds, st.integers(1, 14), st.sampled_from([0.0, 5.0]), st.integers(1, 5))
def test_itemknn_matches_definition(seed, k, shrink, block):
    rng = np.random.default_rng(seed)
    X = (rng.random((30, 12)) < 0.4) * rng.integers(1, 9, size=(30, 12))  # few ties: weights
    X[:, 4] = 0.0
    data = Interactions.from_csr(sp.csr_array(X.astype(float)), implicit=False)
    model = ItemKNN(k=k, shrink=shrink, block=block)
    model.fit(data)
    Xb = (X > 0).astype(float)
    W = _itemknn_by_definition(Xb, min(k, 11), shrink)
    got = model.W.toarray()
    # ties at the k-th similarity may keep different items: compare column sums of kept values
    # (identical whatever the tie-break) and every kept entry against its true similarity.
    np.testing.assert_allclose(got.sum(0), W.sum(0), rtol=1e-5, atol=1e-6)
    full = _itemknn_by_definition(Xb, 12, shrink)
    kept = got != 0
    np.testing.assert_allclose(got[kept], full[kept], rtol=1e-5)
    assert (kept.sum(0) <= k).all()
    users = np.array([0, 5])
    np.testing.assert_allclose(model.score_all(users), Xb[users] @ got, rtol=1e-5, atol=1e-6)


def test_itemknn_on_sessions_scores_the_last_item():
    sessions = Sessions.from_lists([[0, 1], [0, 1, 1], [1, 2], [3]], n_items=5)
    model = ItemKNN(k=10, shrink=0.0).fit(sessions)
    items = np.array([[2, 0], [3, 1]])
    mask = np.array([[True, True], [True, False]])
    scores = model.score_prefixes(items, mask)
    np.testing.assert_allclose(scores, model.W.toarray()[[0, 3]])
    # sessions {0,1},{0,1},{1,2}: cos(0, 1) = 2 / (sqrt(2) sqrt(3))
    assert scores[0, 1] == pytest.approx(2 / np.sqrt(6), rel=1e-6)


@pytest.mark.parametrize("make", [Popularity, lambda: ItemKNN(k=10), SKNN, VSKNN])
def test_session_baselines_refuse_bad_prefixes(make):
    sessions = Sessions.from_lists([[0, 1], [0, 1, 1], [1, 2], [3]], n_items=5)
    model = make().fit(sessions)
    items = np.array([[2, 0], [3, 99]])             # 99 sits under a False: padding, not read
    mask = np.array([[True, True], [True, False]])
    assert model.score_prefixes(items, mask).shape == (2, 5)
    bad = [
        (DataError, "left-aligned", items, np.array([[True, True], [False, False]])),  # empty
        (DataError, "left-aligned", items, np.array([[False, True], [True, False]])),  # gap
        (DataError, "shape", items, mask[:, :1]),
        (DataError, "boolean", items, mask.astype(int)),
        (DataError, "integers", items.astype(float), mask),
        (UnknownIdError, "outside", np.array([[2, 5], [3, 0]]), mask),  # a real item >= V
        (UnknownIdError, "outside", np.array([[2, 0], [-1, 0]]), mask),
    ]
    for error, message, it, m in bad:
        with pytest.raises(error, match=message):
            model.score_prefixes(it, m)
