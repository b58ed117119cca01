"""Checked arguments for the scoring API: index arguments (`score_all`, `score_items`,
`predict`, `score_prefixes`) and fold-in rows (`score_fold_in`).

Models index their tables with the users' and items' positions (`Interactions` rows and
columns). NumPy would take a negative position from the end and truncate a float one, so a
wrong index would silently score someone else; these checks make it an error instead.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nprec.data.containers import Interactions, as_indices, as_integers, check_kind
from nprec.errors import DataError


def check_train(train, n_users: int, n_items: int, what: str) -> None:
    """A DataError unless `train` is `Interactions` of the model's (n_users, n_items).

    A model's tables have one row per user and item; a larger matrix would index past them
    deep in a layer, a smaller one would be another vocabulary.
    """
    check_kind(train, (Interactions,), what, "train")
    if train.shape != (n_users, n_items):
        raise DataError(f"{what}: train has {train.n_users} users x {train.n_items} items, the "
                        f"model {n_users} x {n_items}")


def as_users(users, n_users: int, what: str) -> np.ndarray:
    """`users` (B,) as int64 positions in [0, n_users) (`score_all`'s argument).

    Raises:
        DataError if users is not a 1-d integer array; UnknownIdError for a position outside
        [0, n_users).
    """
    users = as_integers(users, f"{what}: users")
    if users.ndim != 1:
        raise DataError(f"{what}: users must be a (B,) array, got shape {users.shape}")
    return as_indices(users, n_users, f"{what}: users")


def as_candidates(users, items, n_users: int, n_items: int, what: str = "score_items"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """`users` (B,) and their candidate `items` (B, C) as int64 positions, checked.

    Raises:
        DataError for other shapes (one row of candidates per user); UnknownIdError for a
        position outside [0, n_users) or [0, n_items).
    """
    users = as_users(users, n_users, what)
    items = as_integers(items, f"{what}: items")
    if items.ndim != 2 or items.shape[0] != users.shape[0]:
        raise DataError(f"{what}: items must be a (B, C) array with one row per user "
                        f"(B={users.shape[0]}), got shape {items.shape}")
    return users, as_indices(items, n_items, f"{what}: items")


def as_pairs(users, items, n_users: int, n_items: int, what: str = "predict"
             ) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) pairs given as `users` (B,) and `items` (B,), checked.

    Raises:
        DataError unless both are 1-d of one length; UnknownIdError for a position outside
        [0, n_users) or [0, n_items).
    """
    users = as_users(users, n_users, what)
    items = as_integers(items, f"{what}: items")
    if items.shape != users.shape:
        raise DataError(f"{what}: items must be a (B,) array like users (B={users.shape[0]}), "
                        f"got shape {items.shape}")
    return users, as_indices(items, n_items, f"{what}: items")


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
        DataError if X is not a (B, n_items) matrix, holds a NaN or an infinity (the
        scores of that row would be NaN, or every item tied) or a negative entry (an
        interaction is present or absent, or counted: never below zero).
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
    if X.nnz and X.data.min() < 0:
        raise DataError(f"{what}: X holds a negative entry ({X.data.min():g}); fold-in rows "
                        f"are a user's interactions (0 or more)")
    return X
