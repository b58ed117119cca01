"""NARM's training samples: every (prefix, next item) pair of every session (Li et al. 2017).

A session [x1, ..., xn] gives the n - 1 samples [x1] -> x2, [x1, x2] -> x3, ...,
[x1 .. x_{n-1}] -> xn (the "data augmentation" of Tan et al. 2016 that NARM and SR-GNN use).
A sample is stored as two event positions only (where its prefix starts and where its target
is), and each batch's padded (B, T) matrix is built on the fly, so memory stays linear in the
number of events.

Batches are left-aligned: row b holds its prefix, oldest item first, in columns
0 .. len_b - 1; `mask[b, t]` is True there and the rest is padding with item 0 (read it only
through the mask). With `max_len` a long prefix keeps only its most recent `max_len` items.
With `bucket` the shuffled samples are cut into chunks of `bucket` batches, each chunk is
sorted by prefix length and cut into batches, and the batches are shuffled: batches hold
prefixes of similar length, so there is less padding, and the epoch is still random.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from nprec.data.containers import Sessions, as_count, as_generator
from nprec.errors import ConfigError


class PrefixBatch(NamedTuple):
    items: np.ndarray      # (B, T) int64 prefix items, left-aligned, 0 where padded
    mask: np.ndarray       # (B, T) bool, True on real items
    targets: np.ndarray    # (B,) int64 the item that followed each prefix


def prefix_samples(sessions: Sessions, max_len: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Every (prefix, next item) sample of `sessions`, as event positions.

    Args:
        sessions: the sessions (length-1 sessions give no sample).
        max_len:  keep at most this many most recent prefix items (None: all).
    Returns:
        start (N,) int64 position of each prefix's first kept event, and target (N,) int64
        position of its next event; the prefix is items[start:target].
    """
    lengths = sessions.lengths()                                        # (S,)
    n_samples = np.maximum(lengths - 1, 0)                              # (S,)
    first = np.repeat(sessions.offsets[:-1], n_samples)                 # (N,) session start
    within = np.arange(first.size) - np.repeat(np.cumsum(n_samples) - n_samples,
                                               n_samples)               # (N,) 0, 1, ...
    target = first + within + 1                                         # (N,)
    start = first if max_len is None else np.maximum(first, target - max_len)  # (N,)
    return start, target


def prefix_batches(sessions: Sessions, batch_size: int, rng: np.random.Generator | None, *,
                   max_len: int | None = None, bucket: int | None = None
                   ) -> Iterator[PrefixBatch]:
    """One epoch of padded (prefix, next item) batches.

    Args:
        sessions:   the sessions.
        batch_size: samples per batch, an integer >= 1 (the last may be smaller).
        rng:        random generator for the order; None keeps the samples in order
                    (session by session, shortest prefix first; evaluation), and with
                    `bucket` sorts each chunk without shuffling the batches.
        max_len:    truncate prefixes to their most recent max_len items.
        bucket:     number of batches per length-sorted chunk (None: no sorting).
    Yields:
        `PrefixBatch` namedtuples; T is the longest (truncated) prefix of the batch.
    Raises:
        ConfigError if batch_size, or max_len or bucket when given, is not an integer >= 1,
        or rng neither None nor a Generator: at the call, not at the first batch.
    """
    batch_size = as_count(batch_size, "prefix_batches: batch_size", 1, ConfigError)
    if max_len is not None:
        max_len = as_count(max_len, "prefix_batches: max_len", 1, ConfigError)
    if bucket is not None:
        bucket = as_count(bucket, "prefix_batches: bucket", 1, ConfigError)
    if rng is not None:
        as_generator(rng, "prefix_batches: rng")
    return _prefix_batches(sessions, batch_size, rng, max_len, bucket)


def _prefix_batches(sessions: Sessions, batch_size: int, rng: np.random.Generator | None,
                    max_len: int | None, bucket: int | None) -> Iterator[PrefixBatch]:
    start, target = prefix_samples(sessions, max_len)                   # (N,), (N,)
    N = start.size
    order = np.arange(N) if rng is None else rng.permutation(N)         # (N,)
    cuts = list(range(0, N, batch_size))
    if bucket is not None:
        chunk = np.arange(N) // (bucket * batch_size)                   # (N,)
        length = (target - start)[order]                                # (N,)
        order = order[np.lexsort((length, chunk))]     # by length within each chunk
        if rng is not None:
            cuts = [cuts[i] for i in rng.permutation(len(cuts))]
    for a in cuts:
        idx = order[a:a + batch_size]                                   # (B,)
        yield _build_batch(sessions.items, start[idx], target[idx])


def _build_batch(items: np.ndarray, start: np.ndarray, target: np.ndarray) -> PrefixBatch:
    """Gather the prefixes items[start:target] into a left-aligned padded matrix."""
    lengths = target - start                                            # (B,)
    T = int(lengths.max())
    cols = np.arange(T)                                                 # (T,)
    mask = cols[None, :] < lengths[:, None]                             # (B, T)
    pos = np.minimum(start[:, None] + cols[None, :], target[:, None] - 1)  # (B, T) in range
    prefix = np.where(mask, items[pos], 0).astype(np.int64)             # (B, T)
    return PrefixBatch(prefix, mask, items[target].astype(np.int64))
