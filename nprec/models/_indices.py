"""Checked arguments for the scoring API: index arguments (`score_all`, `score_items`,
`predict`, `score_prefixes`) and fold-in rows (`score_fold_in`).

Models index their tables with the users' and items' positions (`Interactions` rows and
columns). NumPy would take a negative position from the end and truncate a float one, so a
wrong index would silently score someone else; these checks make it an error instead.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

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


def as_prefixes(items, mask, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned session prefixes (`score_prefixes`' arguments), checked.

    Args:
        items: (B, T) item positions; only those under the mask are read.
        mask:  (B, T) booleans, each row some True (at least one) followed by False only.
    Returns:
        items as int64, mask as bool.
    Raises:
        DataError for wrong shapes, non-integer items, a mask that is not boolean, an
        empty or not left-aligned row; UnknownIdError for a real item outside [0, n).
    """
    items = as_integers(items, what)
    mask = np.asarray(mask)
    if items.ndim != 2 or mask.shape != items.shape:
        raise DataError(f"{what}: items and mask must be (B, T) arrays of one shape, got "
                        f"{items.shape} and {mask.shape}")
    if mask.dtype != bool:
        raise DataError(f"{what}: mask must be boolean, got {mask.dtype}")
    lengths = mask.sum(axis=1)                                          # (B,)
    left = np.arange(mask.shape[1]) < lengths[:, None]                  # (B, T)
    bad = np.flatnonzero((lengths == 0) | np.any(mask != left, axis=1))
    if bad.size:
        raise DataError(f"{what}: row {bad[0]} of the mask is not a left-aligned non-empty "
                        f"prefix (True for its items, then False)")
    as_indices(items[mask], n, what)
    return items, mask


def as_fold_in(X, n_items: int, dtype, what: str = "score_fold_in") -> sp.csr_array:
    """Fold-in rows X (B, V) (users given by their items) as a CSR array of `dtype`.

    X may be any SciPy sparse matrix or a dense array.
    Raises:
        DataError if X is not a (B, n_items) matrix or holds a NaN or an infinity (the
        scores of that row would be NaN, or every item tied).
    """
    try:
        X = sp.csr_array(X, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise DataError(f"{what}: X must be a (B, {n_items}) matrix: {err}") from None
    if X.ndim != 2 or X.shape[1] != n_items:
        raise DataError(f"{what}: X must be a (B, {n_items}) matrix (users x items), got shape "
                        f"{X.shape}")
    if not np.all(np.isfinite(X.data)):
        raise DataError(f"{what}: X holds a NaN or an infinity")
    return X
