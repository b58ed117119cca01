"""MF: whole-model gradient checks for both losses, and the sampling of its epochs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data.synthetic import synthetic_interactions
from nprec.models import mf
from nprec.testing import check_directional
from nprec.testing.strategies import seeds


def _model(loss: str, seed: int, reg: float) -> tuple[mf.Model, object, np.random.Generator]:
    rng = np.random.default_rng(seed)
    data = synthetic_interactions(12, 9, factors=2, mean_items=4, min_items=2, seed=seed)
    model = mf.Model(mf.Config(factors=3, loss=loss, reg=reg, batch_size=8, negatives=2),
                     data.n_users, data.n_items, rng=rng, dtype=np.float64)
    for p in model.params.values():          # non-zero biases so their paths are exercised
        p += 0.1 * rng.standard_normal(p.shape)
    batch = next(iter(model.batches(data, rng)))
    return model, batch, rng


@settings(max_examples=20)
@given(seeds, st.sampled_from(["bpr", "logloss"]), st.sampled_from([0.0, 0.5]))
def test_mf_gradients_match_finite_differences(seed, loss, reg):
    model, batch, rng = _model(loss, seed, reg)
    check_directional(model, batch, rng)


def test_bpr_batches_cover_an_epoch_and_never_sample_a_positive():
    data = synthetic_interactions(50, 40, mean_items=8, seed=3)
    model = mf.Model(mf.Config(batch_size=64), data.n_users, data.n_items,
                     rng=np.random.default_rng(0))
    batches = model.batches(data, np.random.default_rng(1))
    users, pos, neg = (np.concatenate(a) for a in zip(*batches, strict=True))
    assert users.size == data.nnz and len(batches) == -(-data.nnz // 64)
    X = data.to_csr().toarray().astype(bool)
    assert X[users, pos].all() and not X[users, neg].any()


def test_logloss_batches_hold_every_pair_and_the_negatives():
    data = synthetic_interactions(30, 40, mean_items=6, seed=4)
    model = mf.Model(mf.Config(loss="logloss", negatives=3), data.n_users, data.n_items,
                     rng=np.random.default_rng(0))
    users, items, labels = (np.concatenate(a) for a in
                            zip(*model.batches(data, np.random.default_rng(2)), strict=True))
    assert users.size == 4 * data.nnz and labels.sum() == data.nnz
    X = data.to_csr().toarray().astype(bool)
    assert np.array_equal(X[users, items], labels == 1)


def test_scores_agree_between_full_and_candidate_scoring():
    model, _, rng = _model("logloss", 0, 0.0)
    users = np.array([0, 3, 3])
    items = rng.integers(0, model.n_items, size=(3, 4))
    full = model.score_all(users)
    np.testing.assert_allclose(model.score_items(users, items),
                               np.take_along_axis(full, items, axis=1))
