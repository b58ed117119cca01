"""Checked index arguments for the scoring API (`score_all`, `score_items`, `predict`).

Models index their tables with the users' and items' positions (`Interactions` rows and
columns). NumPy would take a negative position from the end and truncate a float one, so a
wrong index would silently score someone else; these checks make it an error instead.
"""

from __future__ import annotations

import numpy as np

from nprec.errors import DataError, UnknownIdError


def as_integers(values, what: str) -> np.ndarray:
    """`values` as int64, a DataError if they are not integers (a cast would truncate)."""
    a = np.asarray(values)
    if a.size and a.dtype.kind not in "iu":
        raise DataError(f"{what}: positions must be integers, got {a.dtype}")
    return a.astype(np.int64, copy=False)


def as_indices(values, n: int, what: str) -> np.ndarray:
    """`values` as int64 positions in [0, n).

    Raises:
        DataError if they are not integers; UnknownIdError if one is outside [0, n).
    """
    a = as_integers(values, what)
    if a.size == 0:
        return a
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= n:
        raise UnknownIdError(f"{what}: position {lo if lo < 0 else hi} is outside [0, {n})")
    return a
