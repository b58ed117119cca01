"""CDAE: whole-model gradients for every loss and mapping, the sampled pairs of a batch, the
explicit formula, and scoring with and without the user node."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data.synthetic import synthetic_interactions
from nprec.errors import ConfigError
from nprec.models import cdae
from nprec.testing import check_directional
from nprec.testing.strategies import seeds

MAPPINGS = [("BCE", "sigmoid"), ("MSE", "sigmoid"), ("MSE", "identity")]


def _data(seed: int):
    """Small implicit data; user 0's row is emptied (a user with no pairs in the batch)."""
    data = synthetic_interactions(10, 9, mean_items=3, min_items=1, seed=seed)
    return data.select_entries(data.entry_users() != 0)


@settings(max_examples=30)
@given(seed=seeds, mapping=st.sampled_from(MAPPINGS),
       hidden=st.sampled_from(["sigmoid", "tanh", "relu", "identity"]),
       negatives=st.sampled_from([0, 1, 3]), reg=st.sampled_from([0.0, 0.4]),
       batch_size=st.sampled_from([1, 4, 10]))
def test_gradients_match_finite_differences(seed, mapping, hidden, negatives, reg, batch_size):
    rng = np.random.default_rng(seed)
    data = _data(seed)
    loss, out = mapping
    cfg = cdae.Config(embedding_size=3, loss_type=loss, out_activation=out,
                      hid_activation=hidden, negatives=negatives, reg_weight=reg,
                      batch_size=batch_size, corruption_ratio=0.5)
    model = cdae.Model(cfg, data.n_users, data.n_items, rng=rng, dtype=np.float64)
    for p in model.params.values():            # biases away from 0, so their paths count
        p += 0.1 * rng.standard_normal(p.shape)
    check_directional(model, next(iter(model.batches(data, rng))), rng)


def test_a_batch_scores_each_users_items_and_negatives_they_never_met():
    data = synthetic_interactions(40, 30, mean_items=6, seed=2)
    model = cdae.Model(cdae.Config(negatives=3, batch_size=16), data.n_users, data.n_items,
                       rng=np.random.default_rng(0))
    seen = data.to_csr().toarray().astype(bool)
    batches = list(model.batches(data, np.random.default_rng(1)))
    assert len(batches) == 3
    assert np.array_equal(np.sort(np.concatenate([b.users for b in batches])), np.arange(40))
    for b in batches:
        users = b.users[b.rows]                                         # (N,)
        assert np.array_equal(seen[users, b.items], b.labels == 1)
        lengths = np.diff(b.X.indptr)
        assert np.array_equal(np.bincount(b.rows, minlength=b.users.size), 4 * lengths)
        assert set(np.unique(b.keep)) <= {0.0, 2.0}


def test_loss_is_the_explicit_formula():
    data = _data(4)
    cfg = cdae.Config(embedding_size=3, hid_activation="sigmoid", negatives=2, reg_weight=0.2)
    model = cdae.Model(cfg, data.n_users, data.n_items, rng=np.random.default_rng(0),
                       dtype=np.float64)
    b = next(iter(model.batches(data, np.random.default_rng(5))))
    P = model.params
    y_tilde = b.X.toarray()
    y_tilde[y_tilde != 0] *= b.keep                                     # corrupted input
    z = 1 / (1 + np.exp(-(y_tilde @ P["W"] + P["V_u"][b.users] + P["b"])))   # (B, K)
    logits = np.sum(z[b.rows] * P["W_out"][b.items], axis=1) + P["b_out"][b.items, 0]
    bce = np.logaddexp(0, logits) - b.labels * logits                   # per pair
    penalty = 0.1 * (np.sum(P["W"] ** 2) + (np.sum(P["V_u"][b.users] ** 2)
                                            + np.sum(P["W_out"][b.items] ** 2)) / b.users.size)
    expected = bce.sum() / b.users.size + penalty
    assert float(model.forward(b)[0]) == pytest.approx(expected, rel=1e-12)


def test_training_users_use_their_node_and_folded_in_users_a_zero_node():
    data = synthetic_interactions(30, 20, mean_items=5, seed=3)
    model = cdae.Model(cdae.Config(embedding_size=4, hid_activation="tanh"), data.n_users,
                       data.n_items, rng=np.random.default_rng(0))
    list(model.batches(data, np.random.default_rng(0)))
    users = np.array([2, 7])
    X = data.select_users(users).to_csr()
    P = model.params
    a = X.toarray() @ P["W"] + P["b"]                                   # (2, K)
    out = P["W_out"].T
    np.testing.assert_allclose(model.score_all(users),
                               np.tanh(a + P["V_u"][users]) @ out + P["b_out"][:, 0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.score_fold_in(X), np.tanh(a) @ out + P["b_out"][:, 0],
                               rtol=1e-5, atol=1e-6)
    fresh = cdae.Model(model.config, data.n_users, data.n_items, rng=np.random.default_rng(9))
    fresh.params = {k: v.copy() for k, v in P.items()}
    fresh.load_state_arrays(model.state_arrays())
    np.testing.assert_array_equal(fresh.score_all(users), model.score_all(users))
    assert model.item_vectors() is P["W_out"]


def test_the_logistic_loss_needs_a_sigmoid_output():
    with pytest.raises(ConfigError, match="out_activation"):
        cdae.Config(loss_type="BCE", out_activation="identity")
