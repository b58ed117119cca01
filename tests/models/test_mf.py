"""MF: whole-model gradient checks for both losses, and the sampling of its epochs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data.synthetic import synthetic_interactions
from nprec.models import mf
from nprec.optim import SGD
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


def test_logloss_negatives_come_from_all_items_with_rendles_sampling():
    data = synthetic_interactions(20, 12, mean_items=6, seed=5)
    X = data.to_csr().toarray().astype(bool)
    config = mf.Config(loss="logloss", negatives=8, exclude_positives=False)
    model = mf.Model(config, data.n_users, data.n_items, rng=np.random.default_rng(0))
    users, items, labels = (np.concatenate(a) for a in
                            zip(*model.batches(data, np.random.default_rng(2)), strict=True))
    negatives = labels == 0
    assert negatives.sum() == 8 * data.nnz
    assert X[users[negatives], items[negatives]].any()      # positives are not rejected
    assert np.unique(items[negatives]).size == data.n_items


def _sgd_steps(model: mf.Model, batches, lr: float) -> dict[str, np.ndarray]:
    """Parameters after plain SGD over `batches` (copies; the model is restored)."""
    saved = {k: v.copy() for k, v in model.params.items()}
    opt = SGD(lr)
    for batch in batches:
        opt.step(model.params, model.backward(model.forward(batch)[1]))
    after = {k: v.copy() for k, v in model.params.items()}
    for k, v in saved.items():
        model.params[k][...] = v
    return after


def test_a_minibatch_step_of_lr_times_b_is_the_per_example_sgd_pass_to_first_order():
    """Rendle et al. step once per example; mini-batch SGD with lr·B on the mean loss takes the
    same steps evaluated at the batch's start: the gap shrinks like lr² (module docstring)."""
    rng = np.random.default_rng(3)
    data = synthetic_interactions(40, 30, mean_items=5, seed=6)
    config = mf.Config(loss="logloss", factors=4, negatives=3, reg=0.05,
                       exclude_positives=False)
    model = mf.Model(config, data.n_users, data.n_items, rng=rng, dtype=np.float64)
    users, items, labels = next(iter(mf.Model(
        mf.Config(loss="logloss", negatives=3, batch_size=64, exclude_positives=False),
        data.n_users, data.n_items, rng=rng).batches(data, rng)))
    labels = labels.astype(np.float64)
    start = {k: v.copy() for k, v in model.params.items()}
    gaps = []
    for lr in (0.02, 0.002):
        one_by_one = _sgd_steps(model, [(users[n:n + 1], items[n:n + 1], labels[n:n + 1])
                                        for n in range(users.size)], lr)
        batched = _sgd_steps(model, [(users, items, labels)], lr * users.size)
        moved = max(np.abs(one_by_one[k] - start[k]).max() for k in start)
        gaps.append(max(np.abs(one_by_one[k] - batched[k]).max() for k in start) / moved)
    # The relative gap is O(lr): ten times smaller lr, about ten times smaller gap.
    assert gaps[1] < gaps[0] / 5
