"""NARM's kernels against their twins, float32 and float64: the masked GRU sequence against
the GRU layer, and the bilinear scores written into a kept buffer. (The fused softmax
cross-entropy is tested in test_softmax_rows.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import gru_sequence_case

from nprec.kernels.narm import bilinear_scores_into, bilinear_scores_into_ref
from nprec.kernels.narm_gru import (
    gru_sequence_backward,
    gru_sequence_backward_ref,
    gru_sequence_forward,
    gru_sequence_forward_ref,
)

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_gru_sequence_matches_the_gru_layer(dtype, data):
    *args, dhs = data.draw(gru_sequence_case(dtype))
    hs, cache = gru_sequence_forward(*args)
    hs_ref, cache_ref = gru_sequence_forward_ref(*args)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(hs, hs_ref, rtol=tol, atol=tol)
    grads = gru_sequence_backward(dhs, cache)
    grads_ref = gru_sequence_backward_ref(dhs, cache_ref)
    assert len(grads) == len(grads_ref) == 7 and grads[1] is None and grads_ref[1] is None
    for g, g_ref in zip(grads, grads_ref, strict=True):
        if g_ref is not None:
            assert g.dtype == g_ref.dtype == dtype
            np.testing.assert_allclose(g, g_ref, rtol=tol * 5, atol=tol * 5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear_scores_into_matches_the_layer(dtype):
    rng = np.random.default_rng(3)
    c, E, Bm = (rng.standard_normal(s).astype(dtype) for s in ((4, 6), (9, 3), (3, 6)))
    out, ref_out = np.empty((4, 9), dtype), np.empty((4, 9), dtype)
    scores, cache = bilinear_scores_into(c, E, Bm, out)
    ref, ref_cache = bilinear_scores_into_ref(c, E, Bm, ref_out)
    assert scores is out
    np.testing.assert_allclose(scores, ref, rtol=1e-6)
    np.testing.assert_allclose(cache.u, ref_cache.u, rtol=1e-6)
    with pytest.raises(ValueError, match="C-contiguous"):
        bilinear_scores_into(c, E, Bm, np.empty((9, 4), dtype).T)
