"""The autoencoders' sparse-times-dense kernels against their SciPy twins, float32 and
float64 (also run with NUMBA_DISABLE_JIT=1)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import csr_case

from nprec.kernels.autoencoders import (
    csr_matmul,
    csr_matmul_ref,
    csr_t_matmul,
    csr_t_matmul_ref,
)

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
