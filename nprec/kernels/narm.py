"""NARM's decoder forward into a buffer the model keeps from batch to batch.

`bilinear_scores_into` is `nprec.layers.bilinear_forward` (its twin) writing the scores into
a given (B, V) array. A fresh (B, V) array per batch is a fresh memory mapping whose pages
the kernel must fault in and zero every time: on YooChoose 1/64 that cost as much system
time as the product itself took. The loss that follows, `softmax_ce_rows`, turns the same
buffer into its own gradient (`nprec.kernels.softmax_rows`).
"""

from __future__ import annotations

import numpy as np

from nprec.layers.bilinear import BilinearCache, bilinear_forward


def bilinear_scores_into_ref(c: np.ndarray, E: np.ndarray, Bm: np.ndarray, out: np.ndarray
                             ) -> tuple[np.ndarray, BilinearCache]:
    """Reference twin of `bilinear_scores_into`: the layer, its scores copied into out."""
    scores, cache = bilinear_forward(c, E, Bm)
    out[...] = scores
    return out, cache


def bilinear_scores_into(c: np.ndarray, E: np.ndarray, Bm: np.ndarray, out: np.ndarray
                         ) -> tuple[np.ndarray, BilinearCache]:
    """`bilinear_forward` with the scores written into `out`: scores = (c Bmᵀ) Eᵀ.

    Args:
        c: (B, C) context.  E: (V, D) item embeddings.  Bm: (D, C).
        out: (B, V) C-contiguous buffer of E's dtype; it is returned holding the scores.
    Returns:
        scores (`out`) and the `BilinearCache` that `bilinear_backward` takes.
    """
    if out.shape != (c.shape[0], E.shape[0]) or out.dtype != E.dtype \
            or not out.flags.c_contiguous:
        raise ValueError(f"bilinear_scores_into: out must be a C-contiguous "
                         f"{(c.shape[0], E.shape[0])} array of {E.dtype}")
    u = c @ Bm.T                                                        # (B, D)
    np.matmul(u, E.T, out=out)                                          # (B, V)
    return out, BilinearCache(c, E, Bm, u)
