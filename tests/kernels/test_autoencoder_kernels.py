"""The autoencoders' sparse-times-dense kernels against their SciPy twins, and their
training input (normalise, then dropout) against the models' NumPy definition, float32 and
float64 (also run with NUMBA_DISABLE_JIT=1)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import csr_case, normalize_case

from nprec.kernels.autoencoders import (
    csr_matmul,
    csr_matmul_ref,
    csr_t_matmul,
    csr_t_matmul_ref,
    normalize_and_drop,
    normalize_and_drop_ref,
    tanh_backward_inplace,
    vae_code_backward,
    vae_code_backward_ref,
)
from nprec.layers import dropout_sparse_input, tanh_backward, tanh_forward
from nprec.models.multdae import normalized_input
from nprec.testing.strategies import seeds

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_csr_matmul_matches_its_twin(dtype, data):
    indptr, indices, values, W, _, _ = data.draw(csr_case(dtype))
    fast, ref = csr_matmul(indptr, indices, values, W), csr_matmul_ref(indptr, indices, values, W)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert fast.dtype == ref.dtype == dtype
    np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_csr_t_matmul_matches_its_twin(dtype, data):
    indptr, indices, values, _, dY, V = data.draw(csr_case(dtype))
    fast = csr_t_matmul(indptr, indices, values, dY, V)
    ref = csr_t_matmul_ref(indptr, indices, values, dY, V)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert fast.dtype == ref.dtype == dtype and fast.shape == (V, dY.shape[1])
    np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol)


def test_kernels_refuse_inconsistent_csr_arrays():
    W = np.ones((3, 2))
    with pytest.raises(ValueError, match="CSR"):
        csr_matmul(np.array([0, 2]), np.array([0]), np.ones(1), W)
    with pytest.raises(ValueError, match="outside"):
        csr_matmul(np.array([0, 1]), np.array([3]), np.ones(1), W)
    with pytest.raises(ValueError, match="rows"):
        csr_t_matmul(np.array([0, 1]), np.array([0]), np.ones(1), np.ones((2, 2)), 3)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_normalize_and_drop_is_the_models_input_to_the_bit(dtype, data):
    indptr, indices, values, keep = data.draw(normalize_case(dtype))
    B, V = indptr.size - 1, int(indices.max(initial=-1)) + 1
    X = sp.csr_array((values, indices, indptr), shape=(B, V))
    # The definition Mult-DAE and Mult-VAE had before the kernel: three SciPy steps.
    want = dropout_sparse_input(normalized_input(X, dtype), keep)
    for got in (normalize_and_drop(indptr, indices, values, keep),
                normalize_and_drop_ref(indptr, indices, values, keep)):
        out_indptr, out_indices, out_data = got
        assert out_data.dtype == dtype
        np.testing.assert_array_equal(out_indptr, want.indptr)
        np.testing.assert_array_equal(out_indices, want.indices)
        np.testing.assert_array_equal(out_data, want.data)           # same bits, not close


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_normalize_and_drop_keeps_unit_rows_and_drops_exactly_the_masked(dtype, data):
    indptr, indices, values, keep = data.draw(normalize_case(dtype))
    out_indptr, out_indices, out_data = normalize_and_drop(indptr, indices, values, keep)
    kept = keep != 0
    assert out_indptr[-1] == kept.sum() == out_indices.size == out_data.size
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for b in range(indptr.size - 1):
        row = slice(indptr[b], indptr[b + 1])
        norm = np.sqrt(np.sum(values[row].astype(np.float64) ** 2))
        got = slice(out_indptr[b], out_indptr[b + 1])
        # The kept entries of the row, in order, each (x / ‖x‖) · keep.
        np.testing.assert_array_equal(out_indices[got], indices[row][kept[row]])
        if norm > 0:
            want = values[row][kept[row]] / norm * keep[row][kept[row]]
            np.testing.assert_allclose(out_data[got], want, rtol=tol, atol=tol)


def test_normalize_and_drop_refuses_a_mask_of_the_wrong_size_or_dtype():
    indptr, indices = np.array([0, 2]), np.array([0, 1])
    with pytest.raises(ValueError, match="keep"):
        normalize_and_drop(indptr, indices, np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="keep"):
        normalize_and_drop(indptr, indices, np.ones(2), np.ones(2, dtype=np.float32))
    with pytest.raises(ValueError, match="CSR"):
        normalize_and_drop(np.array([0, 3]), indices, np.ones(2), np.ones(2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=seeds, B=st.integers(1, 30), H=st.integers(1, 70))
def test_tanh_backward_inplace_is_the_layers_backward_to_the_bit(dtype, seed, B, H):
    """The models swap `tanh_backward` for the in-place kernel: it must give the very same
    numbers (no fused multiply-add), or every Mult-DAE / Mult-VAE figure would move."""
    rng = np.random.default_rng(seed)
    y, cache = tanh_forward((3.0 * rng.standard_normal((B, H))).astype(dtype))
    dy = rng.standard_normal((B, H)).astype(dtype)
    (expected,) = tanh_backward(dy, cache)
    out = tanh_backward_inplace(dy, y)
    assert out is dy
    np.testing.assert_array_equal(dy, expected)


def test_tanh_backward_inplace_refuses_mismatched_arrays():
    y = np.zeros((2, 3), dtype=np.float32)
    for dy in (np.zeros((3, 2), np.float32), np.zeros((2, 3), np.float64),
               np.zeros((3, 2), np.float32).T):
        with pytest.raises(ValueError, match="tanh_backward_inplace"):
            tanh_backward_inplace(dy, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(seed=seeds, B=st.integers(1, 30), L=st.integers(1, 40),
       beta=st.sampled_from([0.0, 0.2, 0.0137, 1.0]))
def test_vae_code_backward_is_the_layers_gradients_to_the_bit(dtype, seed, B, L, beta):
    """Mult-VAE's backward swaps reparam_backward + gaussian_kl_backward + concatenation for
    the kernel: the very same numbers, or every Mult-VAE figure would move."""
    rng = np.random.default_rng(seed)
    a = (2.0 * rng.standard_normal((B, 2 * L))).astype(dtype)          # (B, 2L) [μ | log σ²]
    mu, logvar = a[:, :L], a[:, L:]
    dz, eps = rng.standard_normal((2, B, L)).astype(dtype)
    std, var = np.exp(0.5 * logvar), np.exp(logvar)
    out = vae_code_backward(dz, eps, std, mu, var, beta)
    assert out.dtype == dtype and out.shape == (B, 2 * L)
    np.testing.assert_array_equal(out, vae_code_backward_ref(dz, eps, std, mu, var, beta))


def test_vae_code_backward_refuses_mismatched_arrays():
    ok = np.zeros((2, 3), np.float32)
    for bad in (np.zeros((3, 2), np.float32), np.zeros((2, 3), np.float64), np.zeros(3)):
        with pytest.raises(ValueError, match="vae_code_backward"):
            vae_code_backward(ok, ok, bad, ok, ok, 0.2)
