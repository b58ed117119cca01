"""Hypothesis strategies for gradient and kernel tests.

Every strategy draws small shapes and a seed, then builds its arrays with
`np.random.default_rng(seed)` (DESIGN.md §5): shrinking works on a handful of integers and
any failing case is reproducible from the seed it prints. Id ranges are small so that
duplicate ids are the normal case, not the exception.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**32 - 1)
"""Seeds for `np.random.default_rng`."""


def dims(min_value: int = 1, max_value: int = 5) -> st.SearchStrategy[int]:
    """A small dimension; batch sizes of 1 are included by default."""
    return st.integers(min_value=min_value, max_value=max_value)


@st.composite
def rngs(draw: st.DrawFn) -> np.random.Generator:
    """A seeded `np.random.Generator`."""
    return np.random.default_rng(draw(seeds))


@st.composite
def float_arrays(draw: st.DrawFn, shape: tuple[int, ...], scale: float = 1.0,
                 dtype: np.dtype = np.float64) -> np.ndarray:
    """A standard-normal array of the given shape times `scale`."""
    rng = np.random.default_rng(draw(seeds))
    return (scale * rng.standard_normal(shape)).astype(dtype)


@st.composite
def ids_and_table(draw: st.DrawFn, max_rows: int = 6, max_lookups: int = 12,
                  max_dim: int = 4, dtype: np.dtype = np.float64
                  ) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """(ids (N,), table (V, D), rng) with V small, so ids repeat."""
    rng = np.random.default_rng(draw(seeds))
    V = draw(dims(1, max_rows))
    N = draw(dims(1, max_lookups))
    D = draw(dims(1, max_dim))
    ids = rng.integers(0, V, size=N)
    E = rng.standard_normal((V, D)).astype(dtype)
    return ids, E, rng


@st.composite
def padded_sequences(draw: st.DrawFn, max_batch: int = 4, max_steps: int = 5,
                     allow_empty_rows: bool = True) -> tuple[np.ndarray, np.random.Generator]:
    """A (B, T) boolean mask of left-aligned sequences, with the edge cases drawn often.

    Includes sequences of length 1 and, if `allow_empty_rows`, fully padded rows.
    """
    rng = np.random.default_rng(draw(seeds))
    B = draw(dims(1, max_batch))
    T = draw(dims(1, max_steps))
    low = 0 if allow_empty_rows else 1
    lengths = rng.integers(low, T + 1, size=B)
    if B > 1 and draw(st.booleans()):
        lengths[0] = min(1, T)          # force a length-1 sequence
    mask = np.arange(T)[None, :] < lengths[:, None]                   # (B, T)
    return mask, rng
