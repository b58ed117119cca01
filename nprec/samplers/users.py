"""User mini-batches for the autoencoders (Mult-DAE/VAE, CDAE): rows of the user × item matrix.

Each epoch visits every user once in a random order (Liang et al. 2018 shuffle the training
users every epoch, batch 500); a batch is the users' indices and their rows as a CSR slice,
which the model densifies or multiplies as it needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.data.containers import Interactions, as_count, as_generator
from nprec.errors import ConfigError


class UserBatch(NamedTuple):
    users: np.ndarray      # (B,) int64 user indices
    X: sp.csr_array        # (B, V) their rows, float32 ones at the items they interacted with


def user_batches(data: Interactions, batch_size: int, rng: np.random.Generator | None = None,
                 *, dtype: np.dtype = np.float32) -> Iterator[UserBatch]:
    """One epoch of user batches, shuffled with `rng` (in index order if rng is None).

    Args:
        data:       the interactions (one row per user).
        batch_size: users per batch (an integer >= 1); the last batch may be smaller.
        rng:        random generator for the order; None keeps users 0..U-1 in order
                    (evaluation).
        dtype:      dtype of the CSR values.
    Yields:
        `UserBatch` namedtuples.
    Raises:
        ConfigError if batch_size is not an integer >= 1 (a float, bool or NaN included) or
        rng neither None nor a Generator: at the call, not at the first batch.
    """
    batch_size = as_count(batch_size, "user_batches: batch_size", 1, ConfigError)
    if rng is not None:
        as_generator(rng, "user_batches: rng")
    return _user_batches(data, batch_size, rng, dtype)


def _user_batches(data: Interactions, batch_size: int, rng: np.random.Generator | None,
                  dtype: np.dtype) -> Iterator[UserBatch]:
    X = data.to_csr(dtype=dtype)                                        # (U, V)
    order = (np.arange(data.n_users, dtype=np.int64) if rng is None
             else rng.permutation(data.n_users))                        # (U,)
    for a in range(0, order.size, batch_size):
        users = order[a:a + batch_size]                                 # (B,)
        yield UserBatch(users, X[users])
