"""Products and concatenation of vectors: the interaction functions of MF and NCF.

- `rowdot`:   s_b = Σ_d a_bd c_bd, matrix factorisation's score (Koren et al. 2009).
- `hadamard`: y = a ⊙ c, GMF's interaction layer (He et al. 2017, eq. 9).
- `concat`:   y = [x_1, x_2, ...] along the last axis, the input of NCF's MLP tower
              (He et al. 2017, eq. 10).

Derivation: docs/derivations/products.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RowdotCache(NamedTuple):
    a: np.ndarray        # (B, D) left factors
    c: np.ndarray        # (B, D) right factors


class HadamardCache(NamedTuple):
    a: np.ndarray        # (B, D)
    c: np.ndarray        # (B, D)


class ConcatCache(NamedTuple):
    splits: tuple[int, ...]   # end column of every input but the last


def rowdot_forward(a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, RowdotCache]:
    """Row-wise dot product s_b = Σ_d a_bd c_bd.

    Args:
        a, c: (B, D).
    Returns:
        s (B,) and the cache (a, c).
    """
    s = np.einsum("bd,bd->b", a, c)                                     # (B,)
    return s, RowdotCache(a, c)


def rowdot_backward(ds: np.ndarray, cache: RowdotCache) -> tuple[np.ndarray, np.ndarray]:
    """Returns da = ds · c and dc = ds · a, each (B, D)."""
    a, c = cache
    return ds[:, None] * c, ds[:, None] * a


def hadamard_forward(a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, HadamardCache]:
    """Element-wise product y = a ⊙ c of two (B, D) arrays."""
    y = a * c                                                           # (B, D)
    return y, HadamardCache(a, c)


def hadamard_backward(dy: np.ndarray, cache: HadamardCache) -> tuple[np.ndarray, np.ndarray]:
    """Returns da = dy ⊙ c and dc = dy ⊙ a."""
    a, c = cache
    return dy * c, dy * a


def concat_forward(*xs: np.ndarray) -> tuple[np.ndarray, ConcatCache]:
    """Concatenate (B, D_k) arrays along the last axis into (B, Σ D_k)."""
    y = np.concatenate(xs, axis=-1)                                     # (B, ΣD)
    splits = tuple(np.cumsum([x.shape[-1] for x in xs[:-1]]).tolist())
    return y, ConcatCache(splits)


def concat_backward(dy: np.ndarray, cache: ConcatCache) -> tuple[np.ndarray, ...]:
    """Returns one slice of dy per input: the gradient of a copy is the copy of the gradient."""
    return tuple(np.split(dy, cache.splits, axis=-1))
