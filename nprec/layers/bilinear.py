"""Bilinear decoder: scores every item against a context vector; NARM's output layer.

Derivation: docs/derivations/bilinear.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class BilinearCache(NamedTuple):
    c: np.ndarray        # (B, C) context vectors
    E: np.ndarray        # (V, D) item embeddings
    Bm: np.ndarray       # (D, C) bilinear map
    u: np.ndarray        # (B, D) c Bmᵀ, the context mapped into embedding space


def bilinear_forward(c: np.ndarray, E: np.ndarray, Bm: np.ndarray
                     ) -> tuple[np.ndarray, BilinearCache]:
    """Scores of all items (Li et al. 2017, NARM's bi-linear decoding scheme).

        scores = c (E Bm)ᵀ = (c Bmᵀ) Eᵀ

    NARM writes S_i = emb_iᵀ B c_t. The product is taken right to left, c Bmᵀ first (B, D)
    and then one (B, D) x (D, V) product, which costs B·C·D + B·D·V instead of the
    V·D·C + B·C·V of forming E Bm first. In NARM, E is the item embedding table of the
    input layer, read a second time here.

    Args:
        c: (B, C) context ([c_local; c_global] in NARM, C = 2H).
        E: (V, D) item embeddings.  Bm: (D, C) bilinear map.
    Returns:
        scores (B, V) and a `BilinearCache` (c, E, Bm and u = c Bmᵀ).
    """
    u = c @ Bm.T                                                        # (B, D)
    scores = u @ E.T                                                    # (B, V)
    return scores, BilinearCache(c, E, Bm, u)


def bilinear_backward(dscores: np.ndarray, cache: BilinearCache) -> tuple[np.ndarray, ...]:
    """Backward of `bilinear_forward`.

    Returns dc (B, C), dE (V, D), dBm (D, C). dE is a dense (V, D) array, not a `RowGrad`:
    every item receives a score and hence a gradient, so no row is untouched. A model that
    also reads E as an input embedding adds that `RowGrad` into this dense gradient.
    """
    c, E, Bm, u = cache
    # scores = u Eᵀ: into the table (every row) and into u. dE = dscoresᵀ u, taken as
    # (uᵀ dscores)ᵀ: BLAS runs the (D, B) x (B, V) product faster than the (V, B) x (B, D)
    # one whose result is only D = 50 wide (NARM's 512 x 17,376 x 50 on 2 threads: 5.2-5.4
    # ms with the copy into row order against 6.0-6.4 ms; the same numbers there).
    dE = np.ascontiguousarray((u.T @ dscores).T)                        # (V, D)
    du = dscores @ E                                                    # (B, D)
    # u = c Bmᵀ: into the context and the map.
    dc = du @ Bm                                                        # (B, C)
    dBm = du.T @ c                                                      # (D, C)
    return dc, dE, dBm
