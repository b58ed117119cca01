"""NCF's output layer and log loss as one op, its gradient formed in the forward pass.

The same function as `dense_forward(φ, h, b)` followed by `bce_with_logits_forward`
(He et al. 2017, eq. 7), for a single output unit:

    s_n  = φ_n · h + b
    loss = (1/B) Σ_n [softplus(s_n) - y_n s_n]

Its gradient for dloss = 1 depends on nothing the backward would add, so the Numba kernel
`nprec.kernels.ncf.bce_output` computes loss, dφ, dh and db in one pass over the rows, and
the cache holds them; the backward only scales by dloss. NCF takes ~19,000 steps of 256 rows
per ML-1M epoch, where the fifteen NumPy calls of the unfused pair cost more than their
arithmetic.

Derivation: docs/derivations/bce_output.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.kernels.ncf import bce_output
from nprec.losses._contract import as_loss


class BceOutputCache(NamedTuple):
    dphi: np.ndarray     # (B, F) gradient of φ for dloss = 1
    dh: np.ndarray       # (F,) gradient of h for dloss = 1
    db: np.ndarray       # (1,) gradient of b for dloss = 1


def bce_output_forward(phi: np.ndarray, h: np.ndarray, b: np.ndarray, labels: np.ndarray
                       ) -> tuple[np.floating, BceOutputCache]:
    """Mean binary cross-entropy of the logits φ h + b against the labels.

    Args:
        phi: (B, F) inputs of the output unit.  h: (F,) its weights.  b: (1,) its bias.
        labels: (B,) targets in [0, 1] (0/1 for implicit feedback), data.
    Returns:
        The loss (scalar of phi's dtype) and the cache (the gradients for dloss = 1).
    """
    loss, dphi, dh, db = bce_output(phi, h, b[0], labels)
    return as_loss(loss, phi.dtype), BceOutputCache(dphi, dh, np.array([db], dtype=phi.dtype))


def bce_output_backward(dloss: float, cache: BceOutputCache
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
    """Returns dphi (B, F), dh (F,), db (1,) and None (the labels)."""
    if dloss == 1.0:
        return cache.dphi, cache.dh, cache.db, None
    scale = cache.dphi.dtype.type(dloss)
    return cache.dphi * scale, cache.dh * scale, cache.db * scale, None
