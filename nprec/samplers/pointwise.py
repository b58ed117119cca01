"""NCF's pointwise training instances (He et al. 2017, §4.1 and `get_train_instances`).

Every training entry (u, i) gives the instance (u, i, 1) and `n_neg` instances (u, j, 0)
with j uniform over the items u never interacted with in training. Negatives are drawn anew
for every epoch (call the generator once per epoch with the same `rng`), all instances are
shuffled, and batches are consecutive slices of the shuffled arrays (views: do not modify).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from nprec.data.containers import Interactions, as_count, as_generator
from nprec.errors import ConfigError
from nprec.samplers.negatives import negatives_for_users


class PointwiseBatch(NamedTuple):
    users: np.ndarray      # (B,) int64
    items: np.ndarray      # (B,) int64
    labels: np.ndarray     # (B,) float32, 1 for a training entry, 0 for a sampled negative


def pointwise_batches(data: Interactions, n_neg: int, batch_size: int,
                      rng: np.random.Generator) -> Iterator[PointwiseBatch]:
    """One epoch of shuffled (user, item, label) batches: each entry plus n_neg negatives.

    Args:
        data:       the training interactions (negatives avoid every item of the user's row).
        n_neg:      negatives per positive (NCF: 4); 0 gives positives only.
        batch_size: rows per batch (an integer >= 1); the last batch may be smaller.
        rng:        the random generator (negatives and order).
    Yields:
        `PointwiseBatch` with nnz (1 + n_neg) rows in total.
    Raises:
        ConfigError if n_neg is not an integer >= 0, batch_size not one >= 1 or rng not a
        Generator: at the call, not at the first batch.
    """
    n_neg = as_count(n_neg, "pointwise_batches: n_neg", 0, ConfigError)
    batch_size = as_count(batch_size, "pointwise_batches: batch_size", 1, ConfigError)
    as_generator(rng, "pointwise_batches: rng")
    return _pointwise_batches(data, n_neg, batch_size, rng)


def _pointwise_batches(data: Interactions, n_neg: int, batch_size: int,
                       rng: np.random.Generator) -> Iterator[PointwiseBatch]:
    width = 1 + n_neg                      # instances per entry: the entry, then negatives
    pos_users = data.entry_users()                                      # (nnz,)
    items = np.empty((data.nnz, width), dtype=np.int64)                 # (nnz, 1 + n_neg)
    items[:, 0] = data.indices
    if n_neg:
        items[:, 1:] = negatives_for_users(data, pos_users, n_neg, rng)
    # Shuffle once with one gather per array (tight loops, far faster than gathering
    # batch by batch), then hand out slices. Instance i is column i % width of entry i // width.
    order = rng.permutation(items.size)                                 # (nnz (1 + n_neg),)
    users = pos_users[order // width]                                   # (nnz (1 + n_neg),)
    items = items.ravel()[order]                                        # (nnz (1 + n_neg),)
    labels = (order % width == 0).astype(np.float32)                    # (nnz (1 + n_neg),)
    for a in range(0, order.size, batch_size):
        yield PointwiseBatch(users[a:a + batch_size], items[a:a + batch_size],
                             labels[a:a + batch_size])
