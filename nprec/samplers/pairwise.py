"""BPR training triples (Rendle et al. 2009, LearnBPR): bootstrap sampling of (u, i, j).

A triple takes a uniformly random training entry (u, i), so users appear in proportion to
their activity, and an item j uniform over the items u never interacted with. An epoch is
`nnz` triples by default, drawn with replacement as in LearnBPR.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from nprec.data.containers import Interactions, as_count, as_generator
from nprec.errors import ConfigError, DataError
from nprec.kernels import sample_bpr_triples


class BprBatch(NamedTuple):
    users: np.ndarray      # (B,) int64
    pos: np.ndarray        # (B,) int64, an item of the user's row
    neg: np.ndarray        # (B,) int64, an item outside the user's row


def bpr_batches(data: Interactions, batch_size: int, rng: np.random.Generator,
                n_triples: int | None = None) -> Iterator[BprBatch]:
    """One epoch of BPR triples in batches.

    Args:
        data:       training interactions.
        batch_size: triples per batch, an integer >= 1 (the last batch may be smaller).
        rng:        the random generator.
        n_triples:  triples per epoch; default `data.nnz`.
    Yields:
        `BprBatch` namedtuples.
    Raises:
        ConfigError if batch_size is not an integer >= 1, n_triples not one >= 0 or rng not
        a Generator; DataError if the data has no interactions: at the call, not at the
        first batch.
    """
    batch_size = as_count(batch_size, "bpr_batches: batch_size", 1, ConfigError)
    n = data.nnz if n_triples is None else as_count(n_triples, "bpr_batches: n_triples", 0,
                                                    ConfigError)
    as_generator(rng, "bpr_batches: rng")
    if data.nnz == 0:
        raise DataError("bpr_batches: the training data has no interactions")
    return _bpr_batches(data, batch_size, rng, n)


def _bpr_batches(data: Interactions, batch_size: int, rng: np.random.Generator,
                 n: int) -> Iterator[BprBatch]:
    try:
        users, pos, neg = sample_bpr_triples(data.indptr, data.indices, data.n_items,
                                             rng.random(n), rng.random(n))
    except ValueError as err:
        raise DataError(str(err)) from None
    for a in range(0, n, batch_size):
        yield BprBatch(users[a:a + batch_size], pos[a:a + batch_size], neg[a:a + batch_size])
