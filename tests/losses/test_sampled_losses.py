"""GRU4Rec's sampled losses: gradients, slow per-row references, semantics, stability."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.errors import DataError
from nprec.losses import (
    negative_softmax,
    sampled_bpr_backward,
    sampled_bpr_forward,
    sampled_bpr_max_backward,
    sampled_bpr_max_forward,
    sampled_top1_backward,
    sampled_top1_forward,
    sampled_top1_max_backward,
    sampled_top1_max_forward,
    sampled_xe_backward,
    sampled_xe_forward,
    softmax_ce_forward,
)
from nprec.testing import check_grads
from nprec.testing.strategies import seeds

# (forward, backward, the arguments after R); the -max losses need M ≥ 2.
ALL_COLUMN_LOSSES = [
    (sampled_xe_forward, sampled_xe_backward, (None,)),
    (sampled_bpr_forward, sampled_bpr_backward, ()),
    (sampled_top1_forward, sampled_top1_backward, ()),
]
MAX_LOSSES = [
    (sampled_bpr_max_forward, sampled_bpr_max_backward, (0.0,)),
    (sampled_bpr_max_forward, sampled_bpr_max_backward, (1.3,)),
    (sampled_top1_max_forward, sampled_top1_max_backward, ()),
]


@st.composite
def score_matrices(draw: st.DrawFn, min_columns: int = 1, scale: float = 1.5):
    """(R (B, M), rng) with M = B + S, S ≥ 0 (M = B is drawn often), B from 1."""
    rng = np.random.default_rng(draw(seeds))
    B = draw(st.integers(1, 4))
    S = draw(st.integers(max(0, min_columns - B), 3))
    return scale * rng.standard_normal((B, B + S)), rng


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# Slow, obviously-correct references: one row at a time, plain Python over the columns.

def xe_slow(R, log_q=None):
    B, M = R.shape
    O = R - (0.0 if log_q is None else log_q)
    return sum(math.log(sum(math.exp(O[i, j]) for j in range(M))) - O[i, i]
               for i in range(B)) / B


def bpr_slow(R):
    B, M = R.shape
    return sum(sum(-math.log(sig(R[i, i] - R[i, j])) for j in range(M)) / M
               for i in range(B)) / B


def top1_slow(R):
    B, M = R.shape
    return sum(sum(sig(R[i, j] - R[i, i]) + sig(R[i, j] ** 2) for j in range(M)) / M
               - sig(R[i, i] ** 2) / M for i in range(B)) / B


def neg_weights_slow(R, i):
    M = R.shape[1]
    negatives = [j for j in range(M) if j != i]
    z = sum(math.exp(R[i, j]) for j in negatives)
    return {j: math.exp(R[i, j]) / z for j in negatives}


def bpr_max_slow(R, bpreg):
    B = R.shape[0]
    total = 0.0
    for i in range(B):
        s = neg_weights_slow(R, i)
        total += -math.log(sum(w * sig(R[i, i] - R[i, j]) for j, w in s.items()) + 1e-24)
        total += bpreg * sum(w * R[i, j] ** 2 for j, w in s.items())
    return total / B


def top1_max_slow(R):
    B = R.shape[0]
    return sum(sum(w * (sig(R[i, j] - R[i, i]) + sig(R[i, j] ** 2))
                   for j, w in neg_weights_slow(R, i).items()) for i in range(B)) / B


@pytest.mark.parametrize("loss", ALL_COLUMN_LOSSES, ids=lambda c: c[0].__name__)
@given(case=score_matrices())
def test_all_column_loss_grads(loss, case):
    forward, backward, extra = loss
    R, rng = case
    check_grads(forward, backward, R, *extra, rng=rng)


@pytest.mark.parametrize("loss", MAX_LOSSES, ids=lambda c: f"{c[0].__name__}{c[2]}")
@given(case=score_matrices(min_columns=2))
def test_max_loss_grads(loss, case):
    forward, backward, extra = loss
    R, rng = case
    check_grads(forward, backward, R, *extra, rng=rng)


@given(score_matrices())
def test_sampled_xe_grads_with_logq(case):
    R, rng = case
    log_q = np.log(rng.uniform(0.01, 1.0, R.shape[1]))
    check_grads(sampled_xe_forward, sampled_xe_backward, R, log_q, rng=rng, nondiff=(1,))


@given(score_matrices(min_columns=2), st.sampled_from([0.0, 0.5, 2.0]))
def test_every_sampled_loss_equals_its_slow_row_by_row_formula(case, bpreg):
    R, rng = case
    log_q = np.log(rng.uniform(0.01, 1.0, R.shape[1]))
    checks = [(sampled_xe_forward(R, None)[0], xe_slow(R)),
              (sampled_xe_forward(R, log_q)[0], xe_slow(R, log_q)),
              (sampled_bpr_forward(R)[0], bpr_slow(R)),
              (sampled_top1_forward(R)[0], top1_slow(R)),
              (sampled_bpr_max_forward(R, bpreg)[0], bpr_max_slow(R, bpreg)),
              (sampled_top1_max_forward(R)[0], top1_max_slow(R))]
    for got, want in checks:
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)


@given(score_matrices(min_columns=2))
def test_target_score_never_enters_the_softmax_over_negatives(case):
    """Changing r_i (column i of row i) keeps every weight s_ij; only the r_i role moves."""
    R, rng = case
    B = R.shape[0]
    rows = np.arange(B)
    R2 = R.copy()
    R2[rows, rows] += 5.0 * rng.standard_normal(B)
    s = negative_softmax(R)
    np.testing.assert_array_equal(s[rows, rows], 0.0)
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_array_equal(negative_softmax(R2), s)
    # BPR-max: the regulariser Σ_j s_ij r_j² does not see r_i at all.
    np.testing.assert_array_equal(sampled_bpr_max_forward(R2, 1.0)[1].Q,
                                  sampled_bpr_max_forward(R, 1.0)[1].Q)
    # TOP1-max: the loss moves exactly by the change of σ(r_j - r_i) under fixed weights.
    d_loss = sampled_top1_max_forward(R2)[0] - sampled_top1_max_forward(R)[0]
    want = np.sum(s * (1 / (1 + np.exp(-(R - R2[rows, rows][:, None])))
                       - 1 / (1 + np.exp(-(R - R[rows, rows][:, None]))))) / B
    assert math.isclose(d_loss, want, rel_tol=1e-9, abs_tol=1e-12)


@given(score_matrices())
def test_sampled_xe_is_softmax_ce_with_the_targets_on_the_diagonal(case):
    R, rng = case
    B = R.shape[0]
    log_q = rng.standard_normal(R.shape[1])
    assert sampled_xe_forward(R)[0] == pytest.approx(softmax_ce_forward(R, np.arange(B))[0],
                                                     rel=1e-13)
    assert sampled_xe_forward(R, log_q)[0] == pytest.approx(
        softmax_ce_forward(R - log_q, np.arange(B))[0], rel=1e-13)


def test_official_diagonal_terms_are_constants():
    """BPR and TOP1 include the diagonal like the Theano code: log 2 / M and 0.5 / M."""
    R = np.array([[0.3, -1.0, 2.0], [0.5, 0.1, -0.7]])
    M = R.shape[1]
    bpr_off = np.mean([sum(-math.log(sig(R[i, i] - R[i, j])) for j in range(M) if j != i)
                       for i in range(2)]) / M
    top1_off = np.mean([sum(sig(R[i, j] - R[i, i]) + sig(R[i, j] ** 2)
                            for j in range(M) if j != i) for i in range(2)]) / M
    assert sampled_bpr_forward(R)[0] == pytest.approx(bpr_off + math.log(2) / M, rel=1e-13)
    assert sampled_top1_forward(R)[0] == pytest.approx(top1_off + 0.5 / M, rel=1e-13)


@pytest.mark.parametrize("loss", ALL_COLUMN_LOSSES + MAX_LOSSES,
                         ids=lambda c: f"{c[0].__name__}{c[2]}")
def test_huge_scores_in_float32_stay_finite_without_warnings(loss):
    forward, backward, extra = loss
    rng = np.random.default_rng(7)
    R = (1e4 * np.sign(rng.standard_normal((4, 7)))).astype(np.float32)
    R[0, 3] = 0.0
    R[1, 1] = -1e4
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        value, cache = forward(R, *extra)
        (dR, *_) = backward(np.float32(1.0), cache)
    assert np.isfinite(value) and np.isfinite(dR).all()


@pytest.mark.parametrize("loss", ALL_COLUMN_LOSSES + MAX_LOSSES,
                         ids=lambda c: f"{c[0].__name__}{c[2]}")
def test_float32_in_float32_out_and_agrees_with_float64(loss):
    forward, backward, extra = loss
    rng = np.random.default_rng(3)
    R = 2.0 * rng.standard_normal((5, 12))
    ref, ref_cache = forward(R, *extra)
    ref_dR = backward(0.7, ref_cache)[0]
    value, cache = forward(R.astype(np.float32), *extra)
    dR = backward(np.float64(0.7), cache)[0]
    assert type(value) is np.float32 and type(ref) is np.float64
    assert dR.dtype == np.float32
    assert value == pytest.approx(ref, rel=1e-5)
    np.testing.assert_allclose(dR, ref_dR, rtol=1e-4, atol=1e-6)


def test_sampled_xe_keeps_float32_with_a_float64_correction():
    R = np.zeros((2, 3), dtype=np.float32)
    value, cache = sampled_xe_forward(R, np.log(np.array([0.5, 0.25, 0.25])))
    assert type(value) is np.float32 and sampled_xe_backward(1.0, cache)[0].dtype == np.float32


@pytest.mark.parametrize("shape", [(3, 2), (0, 4), (5,)])
def test_score_matrix_with_fewer_columns_than_rows_is_refused(shape):
    R = np.zeros(shape)
    with pytest.raises(DataError, match="sampled_bpr"):
        sampled_bpr_forward(R)


def test_max_losses_need_a_negative_in_every_row():
    with pytest.raises(DataError, match="sampled_top1_max"):
        sampled_top1_max_forward(np.zeros((1, 1)))
    with pytest.raises(DataError, match="sampled_bpr_max"):
        sampled_bpr_max_forward(np.zeros((1, 1)), 1.0)
