"""Item-based kNN collaborative filtering (Sarwar et al. 2001), in the form Dacrema et al.
2019 tuned as "ItemKNN-CF" and GRU4Rec used as "Item-KNN".

x_i is column i of the binary user × item matrix (session × item for sessions). Cosine
similarity with a shrink term that damps similarities built on few co-occurrences:

    sim(i, j) = x_i · x_j / (||x_i|| ||x_j|| + shrink)

Only the k most similar items i ≠ j of each item j are kept: column j of the sparse matrix
W (V, V). A user's score of item j is sum_i x_ui W_ij (a sparse product); a session prefix is
scored by its last item, W[last, j] (GRU4Rec's Item-KNN baseline).

The Gram matrix X^T X is formed one block of columns at a time, so memory stays
O(V × block) even when V × V would not fit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nprec.data.containers import Interactions, Sessions
from nprec.errors import ConfigError
from nprec.models._indices import (
    as_candidates,
    as_fold_in,
    as_prefixes,
    as_users,
    check_kind,
)


def binary_matrix(train: Interactions | Sessions) -> sp.csr_array:
    """The binary rows × items matrix of users (Interactions) or sessions (Sessions)."""
    if isinstance(train, Sessions):
        rows = np.repeat(np.arange(train.n_sessions), train.lengths())  # (N,)
        X = sp.csr_array((np.ones(train.n_events, dtype=np.float32), (rows, train.items)),
                         shape=(train.n_sessions, train.n_items))
        X.sum_duplicates()
        X.data[:] = 1.0                 # a repeated click counts once
        return X
    return train.to_csr(dtype=np.float32)


class ItemKNN:
    """Item-item cosine kNN with shrinkage.

    Args:
        k: neighbours kept per item.
        shrink: the shrink term of the cosine denominator (0: plain cosine).
        block: columns of the Gram matrix formed at once.
    """

    def __init__(self, k: int = 100, shrink: float = 10.0, block: int = 2048) -> None:
        if not (1 <= k < np.inf and int(k) == k and 0 <= shrink < np.inf
                and 1 <= block < np.inf and int(block) == block):
            raise ConfigError(f"ItemKNN: need integers k >= 1 and block >= 1, a finite "
                              f"shrink >= 0; got k={k}, "
                              f"shrink={shrink}, block={block}")
        self.k, self.shrink, self.block = int(k), float(shrink), int(block)
        self.W: sp.csr_array | None = None
        self.X: sp.csr_array | None = None

    def fit(self, train: Interactions | Sessions) -> ItemKNN:
        """Build the top-k similarity matrix W from the training data."""
        check_kind(train, (Interactions, Sessions), "ItemKNN: fit", "train")
        X = binary_matrix(train)                                        # (U, V)
        XT = sp.csr_array(X.T)                                          # (V, U)
        V = X.shape[1]
        norms = np.sqrt(np.asarray(XT.multiply(XT).sum(axis=1))).ravel()  # (V,)
        k = min(self.k, V - 1)
        rows, cols = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        vals = [np.zeros(0, dtype=np.float32)]
        for a in range(0, V if k >= 1 else 0, self.block):
            blk = np.arange(a, min(a + self.block, V))                  # (b,)
            num = (XT @ XT[blk].T).toarray()                            # (V, b) co-occurrences
            den = norms[:, None] * norms[None, blk] + self.shrink       # (V, b)
            sim = np.divide(num, den, out=np.zeros_like(den), where=den > 0)  # (V, b)
            sim[blk, np.arange(blk.size)] = 0.0                         # no self-similarity
            top = np.argpartition(-sim, k - 1, axis=0)[:k]              # (k, b)
            top_vals = np.take_along_axis(sim, top, axis=0)             # (k, b)
            keep = top_vals > 0
            rows.append(top[keep])
            cols.append(np.broadcast_to(blk, top.shape)[keep])
            vals.append(top_vals[keep])
        self.W = sp.csr_array((np.concatenate(vals).astype(np.float32),
                               (np.concatenate(rows), np.concatenate(cols))), shape=(V, V))
        self.X = X
        return self

    def _check(self) -> None:
        if self.W is None:
            raise ConfigError("ItemKNN: call fit(train) before scoring")

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """(B, V) scores sum_i x_ui W_ij for training users."""
        self._check()
        users = as_users(users, self.X.shape[0], "score_all")
        return (self.X[users] @ self.W).toarray()                       # (B, V)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(B, C) scores of the candidate items (B, C)."""
        self._check()
        users, items = as_candidates(users, items, self.X.shape[0], self.X.shape[1])
        return np.take_along_axis(self.score_all(users), items, axis=1)  # (B, C)

    def score_fold_in(self, X) -> np.ndarray:
        """(B, V) scores of fold-in rows X (B, V)."""
        self._check()
        return (as_fold_in(X, self.W.shape[0], np.float32) @ self.W).toarray()  # (B, V)

    def score_prefixes(self, items: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, V) similarities of every item to each prefix's last item."""
        self._check()
        items, mask = as_prefixes(items, mask, self.W.shape[0], "score_prefixes")
        last = items[np.arange(items.shape[0]), mask.sum(axis=1) - 1]  # (B,)
        return self.W[last].toarray()                                   # (B, V)
