"""GRU4Rec's kernels against their twins, in float32 and float64, and their own gradients.

`sampled_loss` (the losses on unique items) against `sampled_loss_ref` (the library losses
on the full column matrix), against finite differences, at extreme scores, and the BPR-max
detail third-party ports got wrong (their bits whichever CPU Numba compiles for: in
test_lanes.py); `session_state` against its twin and its definition; the no-BPTT GRU step
against the GRU layer.
"""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import gru_train_case, sampled_loss_case, session_state_case

from nprec.kernels import gru4rec, gru4rec_step
from nprec.kernels.gru4rec import LOSSES, sampled_loss, sampled_loss_ref
from nprec.kernels.gru4rec_step import (
    gru_train_backward,
    gru_train_backward_ref,
    gru_train_forward,
    gru_train_forward_ref,
    session_state,
    session_state_ref,
)
from nprec.testing import numerical_grad

RTOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40)
@given(data=st.data())
def test_sampled_loss_matches_the_library_losses_on_all_columns(parallel, dtype, data):
    S, by, cols, log_q, loss, elu, bpreg = data.draw(sampled_loss_case(dtype))
    kw = dict(log_q=log_q, bpreg=bpreg, elu_param=elu, scale=0.25)
    with patch.object(gru4rec, "PARALLEL_MIN_SIZE", 0 if parallel else 1 << 30):
        total, dS = sampled_loss(S, by, cols, loss, **kw)
    ref_total, ref_dS = sampled_loss_ref(S, by, cols, loss, **kw)
    assert dS.dtype == dtype and dS.shape == S.shape
    assert np.isclose(total, ref_total, rtol=RTOL[dtype], atol=RTOL[dtype])
    assert np.allclose(dS, ref_dS, rtol=RTOL[dtype], atol=RTOL[dtype])
    K = S.shape[1]
    assert not dS[:, np.bincount(cols, minlength=K) == 0].any()   # input-only items


@settings(max_examples=40)
@given(case=sampled_loss_case())
def test_sampled_loss_gradient_against_finite_differences(case):
    S, by, cols, log_q, loss, elu, bpreg = case
    kw = dict(log_q=log_q, bpreg=bpreg, elu_param=elu, scale=0.5)
    if elu and np.abs(S + by).min() < 1e-4:
        return                                              # off ELU's kink
    _, dS = sampled_loss(S, by, cols, loss, **kw)
    num_S = numerical_grad(lambda x: sampled_loss(x, by, cols, loss, **kw)[0], S, 1.0)
    num_by = numerical_grad(lambda x: sampled_loss(S, x, cols, loss, **kw)[0], by, 1.0)
    assert np.allclose(dS, num_S, rtol=1e-5, atol=1e-7)
    # by enters every row's score of its item: its gradient is the column sum (the model's dBy).
    assert np.allclose(dS.sum(axis=0), num_by, rtol=1e-5, atol=1e-7)


def test_bpr_max_keeps_the_positive_out_of_its_softmax():
    """Each row's target scored far above its negatives: loss -log(1) = 0 with the positive
    excluded from the softmax over negatives; with it included (GRU4REC-pytorch's bug) the
    weight would sit on the target itself and the loss would be log 2 per row."""
    B, K = 3, 6
    S = np.zeros((B, K))
    cols = np.array([0, 1, 2, 3, 4, 5, 3])                  # targets 0, 1, 2
    S[np.arange(B), np.arange(B)] = 60.0                    # each row's own target only
    total, _ = sampled_loss(S, np.zeros(K), cols, "bpr-max", bpreg=0.0)
    assert 0.0 <= total < 1e-12
    # A duplicate of the target among the other columns IS a negative (official semantics).
    dup = np.array([0, 1, 2, 0, 4])
    total, _ = sampled_loss(S, np.zeros(K), dup, "bpr-max", bpreg=0.0)
    assert total > 0.1


@pytest.mark.parametrize("fn", [sampled_loss, sampled_loss_ref])
def test_cross_entropy_leaves_a_hopeless_row_alone_as_the_official_code(fn):
    """-log(p + 1e-24): a target whose probability underflows costs -log(1e-24) ≈ 55.3 and
    sends no gradient (the exact log-sum-exp would cost 1000 and push with full force)."""
    S = np.zeros((2, 4))
    S[0, 0] = -1000.0                                       # row 0's target is hopeless
    total, dS = fn(S, np.zeros(4), np.array([0, 1, 2, 3]), "cross-entropy")
    assert np.isclose(total, -np.log(1e-24) + np.log(4.0))
    assert not dS[0].any() and dS[1].any()


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("elu", [0.0, 1.0])
def test_sampled_loss_is_finite_at_extreme_scores(loss, elu):
    rng = np.random.default_rng(0)
    S = (rng.choice([-1.0, 1.0], (4, 30)) * rng.uniform(0, 1e3, (4, 30))).astype(np.float32)
    cols = rng.integers(0, 30, 60)
    log_q = rng.uniform(0, 12, 60) if loss == "cross-entropy" else None
    total, dS = sampled_loss(S, np.zeros(30, np.float32), cols, loss, log_q=log_q,
                             elu_param=elu, bpreg=1.0)
    assert np.isfinite(total) and np.all(np.isfinite(dS))


@pytest.mark.parametrize("elu", [0.0, 1.0])
def test_bpr_max_float32_polynomial_exp_matches_float64_at_a_real_size(elu):
    # float32 rows take a polynomial exp (vectorised), float64 rows the library's; at
    # DIGINETICA's shape (128 rows, 2,048 sampled columns over ~2,200 items) they agree to
    # float32 precision: the row sums run over 2,221 float32 terms (in order when Numba's
    # JIT is off, hence 1e-5 and not 1e-6 on the loss).
    rng = np.random.default_rng(5)
    B, K = 128, 2221
    S = 3.0 * rng.standard_normal((B, K))
    by = 0.1 * rng.standard_normal(K)
    cols = np.concatenate([rng.integers(0, K, B), rng.integers(0, K, 2048)])
    kw = dict(bpreg=0.9, elu_param=elu, scale=1.0 / B)
    t32, g32 = sampled_loss(S.astype(np.float32), by.astype(np.float32), cols, "bpr-max", **kw)
    t64, g64 = sampled_loss(S, by, cols, "bpr-max", **kw)
    assert t32 == pytest.approx(t64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-6 * np.abs(g64).max())


@pytest.mark.parametrize("loss", ["bpr-max", "top1-max"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_target_far_above_its_negatives_stays_out_of_their_softmax(loss, dtype):
    # Row 0's target (item 0, one column only) scores 60 above the negatives: its
    # exponential (e^60) must not enter the sums over negatives, where taking it out again
    # would cancel everything else.
    S = np.array([[60.0, 0.3, -0.2, 0.1], [0.5, 0.0, 0.4, -0.3]], dtype=dtype)
    by = np.zeros(4, dtype=dtype)
    cols = np.array([0, 1, 2, 3, 1, 2])
    total, dS = sampled_loss(S, by, cols, loss, bpreg=0.5)
    ref_total, ref_dS = sampled_loss_ref(S.astype(np.float64), by.astype(np.float64), cols,
                                         loss, bpreg=0.5)
    assert total == pytest.approx(ref_total, rel=1e-5)
    np.testing.assert_allclose(dS, ref_dS, rtol=1e-4, atol=1e-6)


def test_sampled_loss_rejects_impossible_layouts():
    S = np.zeros((3, 4))
    with pytest.raises(ValueError, match="columns"):
        sampled_loss(S, np.zeros(4), np.array([0, 1]), "cross-entropy")
    with pytest.raises(ValueError, match="columns"):
        sampled_loss(np.zeros((1, 4)), np.zeros(4), np.array([0]), "bpr-max")
    with pytest.raises(ValueError, match="outside"):
        sampled_loss(S, np.zeros(4), np.array([0, 1, 4]), "top1")
    with pytest.raises(ValueError, match="unknown loss"):
        sampled_loss(S, np.zeros(4), np.array([0, 1, 2]), "xe")


@settings(max_examples=60)
@given(case=session_state_case())
def test_session_state_matches_its_twin_and_definition(case):
    items, starts, pos, decay = case
    indptr, ids, w = session_state(items, starts, pos, decay)
    r_indptr, r_ids, r_w = session_state_ref(items, starts, pos, decay)
    assert np.array_equal(indptr, r_indptr) and np.array_equal(ids, r_ids)
    assert np.allclose(w, r_w, rtol=1e-12)
    V = int(items.max()) + 1
    for b in range(pos.size):
        dense = np.zeros(V)
        for k in range(starts[b], pos[b] + 1):
            dense[items[k]] += decay ** (pos[b] - k)
        dense /= np.linalg.norm(dense)
        row = np.zeros(V)
        row[ids[indptr[b]:indptr[b + 1]]] = w[indptr[b]:indptr[b + 1]]
        assert np.allclose(row, dense, rtol=1e-12, atol=1e-300)
        assert np.all(np.diff(ids[indptr[b]:indptr[b + 1]]) > 0)   # sorted, unique
        if decay == 0.0:
            assert np.array_equal(ids[indptr[b]:indptr[b + 1]], [items[pos[b]]])


def test_session_state_rejects_bad_rows():
    with pytest.raises(ValueError, match="starts <= pos"):
        session_state(np.array([1, 2]), np.array([1]), np.array([0]), 0.5)
    with pytest.raises(ValueError, match="decay"):
        session_state(np.array([1, 2]), np.array([0]), np.array([1]), 1.5)
    for kernel in (session_state, session_state_ref):     # float ids: no silent truncation
        with pytest.raises(ValueError, match="integers"):
            kernel(np.array([1.0, 2.5]), np.array([0]), np.array([1]), 0.5)


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30)
@given(data=st.data())
def test_gru_train_step_matches_the_gru_layer(parallel, dtype, data):
    """The fused no-BPTT step against nprec.layers' GRU step + dropout."""
    x, h_prev, W, U_zr, U_h, b, mask, dout = data.draw(gru_train_case(dtype))
    with patch.object(gru4rec_step, "PARALLEL_MIN_SIZE", 0 if parallel else 1 << 30):
        out, cache = gru_train_forward(x, h_prev, W, U_zr, U_h, b, mask)
        grads = gru_train_backward(dout, cache)
    ref, ref_cache = gru_train_forward_ref(x, h_prev, W, U_zr, U_h, b, mask)
    tol = dict(rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10)
    assert out.dtype == dtype and np.allclose(out, ref, **tol)
    ref_grads = gru_train_backward_ref(dout, ref_cache)
    for g, r in zip(grads, ref_grads, strict=True):
        assert (g is None) == (r is None) and (g is None or np.allclose(g, r, **tol))
