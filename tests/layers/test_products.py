"""Gradient tests for the row-dot, Hadamard and concat layers (MF and NCF interactions)."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from nprec.layers.products import (
    concat_backward,
    concat_forward,
    hadamard_backward,
    hadamard_forward,
    rowdot_backward,
    rowdot_forward,
)
from nprec.testing import check_grads
from nprec.testing.strategies import dims, seeds


@given(seeds, dims(), dims())
def test_rowdot_grads(seed, B, D):
    rng = np.random.default_rng(seed)
    a, c = rng.standard_normal((B, D)), rng.standard_normal((B, D))
    check_grads(rowdot_forward, rowdot_backward, a, c, rng=rng)


@given(seeds, dims(), dims())
def test_hadamard_grads(seed, B, D):
    rng = np.random.default_rng(seed)
    a, c = rng.standard_normal((B, D)), rng.standard_normal((B, D))
    check_grads(hadamard_forward, hadamard_backward, a, c, rng=rng)


@given(seeds, dims(), dims(), dims(), dims())
def test_concat_grads(seed, B, D1, D2, D3):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((B, d)) for d in (D1, D2, D3)]
    check_grads(concat_forward, concat_backward, *xs, rng=rng)


def test_products_keep_float32():
    a = np.ones((2, 3), np.float32)
    for fwd, bwd in [(rowdot_forward, rowdot_backward), (hadamard_forward, hadamard_backward),
                     (concat_forward, concat_backward)]:
        y, cache = fwd(a, a)
        assert y.dtype == np.float32
        assert all(g.dtype == np.float32 for g in bwd(np.ones_like(y), cache))
