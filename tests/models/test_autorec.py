"""AutoRec and biased MF: whole-model gradients, the paper's objective written out, the
default rating for users and items without training ratings, and state round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data.containers import Interactions
from nprec.data.synthetic import synthetic_interactions
from nprec.models import autorec, biased_mf
from nprec.testing import check_directional
from nprec.testing.strategies import seeds


def _ratings(seed: int) -> Interactions:
    """Small explicit data; user 0's row is emptied (an item vector with a hole)."""
    data = synthetic_interactions(9, 8, mean_items=3, min_items=1, ratings=True, seed=seed)
    return data.select_entries(data.entry_users() != 0)


@settings(max_examples=25)
@given(seed=seeds, based=st.sampled_from(["item", "user"]),
       hidden=st.sampled_from(["sigmoid", "identity"]), lam=st.sampled_from([0.0, 3.0]),
       batch_size=st.sampled_from([1, 3, 9]))
def test_autorec_gradients_match_finite_differences(seed, based, hidden, lam, batch_size):
    rng = np.random.default_rng(seed)
    data = _ratings(seed)
    cfg = autorec.Config(based=based, hidden_units=3, hid_activation=hidden, lam=lam,
                         batch_size=batch_size)
    model = autorec.Model(cfg, data.n_users, data.n_items, rng=rng, dtype=np.float64)
    for p in model.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    check_directional(model, next(iter(model.batches(data, rng))), rng)


def test_autorec_loss_is_the_papers_objective_per_item():
    data = _ratings(1)
    model = autorec.Model(autorec.Config(hidden_units=4, lam=2.0), data.n_users, data.n_items,
                          rng=np.random.default_rng(0), dtype=np.float64)
    rows = np.array([1, 4, 6])                                          # three items
    R = data.to_csr("ratings", dtype=np.float64).toarray().T[rows]      # (3, U) item vectors
    P = model.params
    h = 1 / (1 + np.exp(-(R @ P["V"] + P["mu"]))) @ P["W"] + P["b"]     # (3, U)
    observed = R != 0
    expected = np.sum(((h - R) * observed) ** 2) / 3 \
        + 0.5 * 2.0 / data.n_items * (np.sum(P["W"] ** 2) + np.sum(P["V"] ** 2))
    list(model.batches(data, np.random.default_rng(0)))
    assert float(model.forward((rows,))[0]) == pytest.approx(expected, rel=1e-12)


def test_autorec_batches_visit_every_rated_item_once():
    data = synthetic_interactions(30, 25, mean_items=4, ratings=True, seed=2)
    model = autorec.Model(autorec.Config(batch_size=7), data.n_users, data.n_items,
                          rng=np.random.default_rng(0))
    rows = np.concatenate([b[0] for b in model.batches(data, np.random.default_rng(1))])
    np.testing.assert_array_equal(np.sort(rows), np.flatnonzero(data.item_counts() > 0))


@pytest.mark.parametrize("based", ["item", "user"])
def test_predictions_read_the_reconstruction_and_default_for_the_unknown(based):
    data = synthetic_interactions(20, 15, mean_items=5, ratings=True, seed=3)
    # Item 14 and user 19 lose their ratings: nothing is known about them.
    users = data.entry_users()
    data = data.select_entries((data.indices != 14) & (users != 19))
    model = autorec.Model(autorec.Config(based=based, hidden_units=5, clip=False,
                                         default_rating=3.0),
                          data.n_users, data.n_items, rng=np.random.default_rng(0))
    list(model.batches(data, np.random.default_rng(0)))
    u, i = np.array([0, 5, 19, 3]), np.array([2, 14, 4, 9])
    pred = model.predict(u, i)
    vectors, other = (i, u) if based == "item" else (u, i)
    R = data.to_csr("ratings")
    R = (R.T if based == "item" else R).tocsr()
    P, _ = model._reconstruct(R[vectors[:1]])
    assert pred[0] == pytest.approx(P[0, other[0]], rel=1e-6)
    assert pred[1] == 3.0 and pred[2] == 3.0
    fresh = autorec.Model(model.config, data.n_users, data.n_items,
                          rng=np.random.default_rng(5))
    fresh.params = model.params
    fresh.load_state_arrays(model.state_arrays())
    np.testing.assert_array_equal(fresh.predict(u, i), pred)
    clipped = autorec.Model(autorec.Config(hidden_units=5), data.n_users, data.n_items,
                            rng=np.random.default_rng(0))
    clipped.params["b"] += 100.0                                        # far above 5 stars
    list(clipped.batches(data, np.random.default_rng(0)))
    assert clipped.predict(u[:1], i[:1])[0] == data.ratings.max()


@settings(max_examples=20)
@given(seed=seeds, reg=st.sampled_from([0.0, 0.5]), batch_size=st.sampled_from([1, 8]))
def test_biased_mf_gradients_match_finite_differences(seed, reg, batch_size):
    rng = np.random.default_rng(seed)
    data = _ratings(seed)
    model = biased_mf.Model(biased_mf.Config(factors=3, reg=reg, batch_size=batch_size),
                            data.n_users, data.n_items, rng=rng, dtype=np.float64)
    for p in model.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    check_directional(model, next(iter(model.batches(data, rng))), rng)


def test_biased_mf_predicts_the_mean_plus_the_known_terms():
    data = synthetic_interactions(20, 15, mean_items=5, ratings=True, seed=4)
    data = data.select_entries(data.entry_users() != 19)                # user 19 unknown
    model = biased_mf.Model(biased_mf.Config(factors=2, clip=False), data.n_users,
                            data.n_items, rng=np.random.default_rng(0))
    for p in model.params.values():
        p += 0.3
    list(model.batches(data, np.random.default_rng(0)))
    P = model.params
    mu = data.ratings.mean()
    assert model.mu == pytest.approx(mu)
    pred = model.predict(np.array([1, 19]), np.array([2, 2]))
    assert pred[0] == pytest.approx(mu + P["b_u"][1, 0] + P["b_i"][2, 0] + P["P"][1] @ P["Q"][2],
                                    rel=1e-6)
    assert pred[1] == pytest.approx(mu + P["b_i"][2, 0], rel=1e-6)
    fresh = biased_mf.Model(model.config, data.n_users, data.n_items,
                            rng=np.random.default_rng(3))
    fresh.params = P
    fresh.load_state_arrays(model.state_arrays())
    np.testing.assert_array_equal(fresh.predict(np.array([1, 19]), np.array([2, 2])), pred)
