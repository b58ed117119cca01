"""Popularity (TopPop / POP): every user and every session gets the most supported items.

The floor every recommender must clear. Support is counted on the training data: users per
item for interactions, clicks per item for sessions (GRU4Rec's POP baseline). Equal supports
are real ties; the evaluation's tie policy decides where they land.
"""

from __future__ import annotations

import numpy as np

from nprec.data.containers import Interactions, Sessions
from nprec.errors import ConfigError, DataError
from nprec.models._indices import as_fold_in, as_indices, as_integers, as_prefixes, check_kind


class Popularity:
    """Scores every item by its training support; the same list for everyone."""

    def __init__(self) -> None:
        self.support: np.ndarray | None = None

    def fit(self, train: Interactions | Sessions) -> Popularity:
        """Count each item's support: users (Interactions) or clicks (Sessions)."""
        check_kind(train, (Interactions, Sessions), "Popularity: fit", "train")
        self.support = train.item_counts().astype(np.float32)           # (V,)
        return self

    def _tile(self, n: int) -> np.ndarray:
        if self.support is None:
            raise ConfigError("Popularity: call fit(train) before scoring")
        return np.tile(self.support, (n, 1))                            # (B, V)

    @staticmethod
    def _users(users: np.ndarray, what: str) -> np.ndarray:
        # The same list for every user, so any user position will do; only the shape counts.
        users = as_integers(users, f"{what}: users")
        if users.ndim != 1:
            raise DataError(f"{what}: users must be a (B,) array, got shape {users.shape}")
        return users

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """(B, V) item supports for each user."""
        return self._tile(self._users(users, "score_all").size)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(B, C) supports of the candidate items (B, C)."""
        self._tile(0)
        users = self._users(users, "score_items")
        items = as_integers(items, "score_items: items")
        if items.ndim != 2 or items.shape[0] != users.size:
            raise DataError(f"score_items: items must be a (B, C) array with one row per user "
                            f"(B={users.size}), got shape {items.shape}")
        return self.support[as_indices(items, self.support.size, "score_items: items")]

    def score_fold_in(self, X) -> np.ndarray:
        """(B, V) item supports for each fold-in row of X (B, V)."""
        self._tile(0)
        return self._tile(as_fold_in(X, self.support.size, np.float32).shape[0])

    def score_prefixes(self, items: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, V) item supports for each session prefix."""
        self._tile(0)
        items, _ = as_prefixes(items, mask, self.support.size, "score_prefixes")
        return self._tile(items.shape[0])
