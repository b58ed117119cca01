"""The two conversions every loss of the contract needs: its value and its upstream scale.

A loss returns a NumPy scalar of its input's dtype, the mean over rows; its backward
multiplies by dloss / B in that same dtype, so float32 stays float32 whatever Python or
NumPy scalar the caller passes as dloss (a float64 scalar would otherwise promote).
"""

from __future__ import annotations

import numpy as np


def as_loss(value: float | np.floating, dtype: np.dtype) -> np.floating:
    """The loss value as a NumPy scalar of `dtype`."""
    return np.dtype(dtype).type(value)


def upstream_scale(dloss: float | np.floating, n_rows: int, dtype: np.dtype) -> np.floating:
    """dloss / n_rows as a NumPy scalar of `dtype`: the gradient of a mean over n_rows rows."""
    return np.dtype(dtype).type(float(dloss) / n_rows)
