"""Synthetic data with planted structure, for the quick start, tests and examples.

Both generators plant a structure a good model can find and a popularity ranking cannot, so a
model that learns something shows it clearly:

- `synthetic_interactions`: users and items have latent factors; a user picks items with
  probability ∝ exp(affinity / temperature + popularity bias), affinity the factors' dot
  product. Items the user picked later carry later timestamps.
- `synthetic_sessions`: items belong to topics and each item has a few favourite successors;
  a session starts on a topic item and mostly moves to a successor of the current item, else
  to another item of its topic, rarely anywhere.

Everything is drawn from `np.random.default_rng(seed)`, vectorised over users or sessions.
The quick start's figures and many tests rest on the exact data, so the draws are the same
calls to the Generator, in the same order, as in the first, whole-matrix version of these
functions (the tests keep it as a reference and compare bit for bit). Only the Gumbel noise,
one uniform per (user, item) or (session, topic item), is drawn a block of rows at a time: a
Generator fills an array row after row, one 64-bit draw per float64, so blocks drawn one after
the other hold the same numbers as one big draw, and a block of keys is used while it is in
cache instead of as one of several matrices of hundreds of megabytes. Measured on a 2-core
VM (peak resident memory above the 111 MB of Python with nprec imported; CPU time, medians of
7): `synthetic_interactions(6040, 3706)`, ML-1M's size, went from 685 MB and 2.8 s to 197 MB
(179 of them its one (U, V) product, see there) and 0.6 s; `synthetic_sessions(30000, 20000)`
from 918 MB and 2.8 s to 47 MB and 0.6 s.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from nprec.data.containers import Interactions, Sessions, as_count
from nprec.errors import DataError


def _check_number(value, what: str, least: float = -math.inf, most: float = math.inf, *,
                  positive: bool = False) -> None:
    """A DataError unless `value` is a finite real number in [least, most] (> 0 if positive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or not (value > 0 if positive else least <= value <= most):
        want = ("a positive number" if positive else
                f"a number in [{least:g}, {most:g}]" if most < math.inf else
                f"a number >= {least:g}" if least > -math.inf else "a finite number")
        raise DataError(f"{what} must be {want}, got {value!r}")


def _gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return -np.log(-np.log(rng.random(shape) + 1e-20) + 1e-20)


_BLOCK_ENTRIES = 1 << 16
"""Entries of a block of Gumbel keys: 512 KiB of float64, which stay in a core's L2 cache
(its few temporaries too) while the block's logarithms, sums and selection pass over it."""


def _row_blocks(n_rows: int, n_cols: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges of consecutive rows, about `_BLOCK_ENTRIES` entries each (>= 1 row)."""
    step = max(1, _BLOCK_ENTRIES // n_cols)
    return [(lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]


def _top_n(keys: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The columns of the n[r] largest keys of each row r, largest first, rows one after
    the other: exactly `np.argsort(-keys, axis=1)[r, :n[r]]`, without sorting whole rows.

    Each row's n[r] + 1 smallest values of -keys are found by partition and sorted; the extra
    one shows whether the n[r]-th is tied with something left out. When those n[r] + 1 values
    are distinct, every correct sort puts the same n[r] columns first in the same order. An
    exact tie (or a NaN or inf, as from an overflowing temperature) leaves the order to the sort
    algorithm, so such a row is sorted whole by the same `np.argsort` as before.
    """
    k = int(n.max())                        # < keys.shape[1]: a user never takes every item
    neg = -keys                             # argsort(-keys)'s values: NaN sorts last
    near = np.argpartition(neg, k, axis=1)[:, :k + 1]                   # (rows, k + 1)
    near_neg = np.take_along_axis(neg, near, axis=1)
    order = np.argsort(near_neg, axis=1)
    near = np.take_along_axis(near, order, axis=1)                      # ascending -key
    near_neg = np.take_along_axis(near_neg, order, axis=1)
    rising = near_neg[:, 1:] > near_neg[:, :-1]                         # (rows, k)
    settled = np.all(rising | (np.arange(k) >= n[:, None]), axis=1)     # first n[r] + 1 rise
    for r in np.flatnonzero(~settled):
        near[r, :n[r]] = np.argsort(neg[r])[:n[r]]
    return near[np.arange(k + 1) < n[:, None]]


def synthetic_interactions(n_users: int = 2000, n_items: int = 1000, *, factors: int = 8,
                           mean_items: float = 40.0, min_items: int = 5,
                           temperature: float = 0.5, popularity: float = 0.7,
                           ratings: bool = False, seed: int = 0) -> Interactions:
    """Implicit feedback with latent user/item factors and a Zipf-like popularity bias.

    Each user u draws n_u items without replacement with probability ∝
    exp(p_u · q_i / temperature + b_i), where p_u, q_i ~ N(0, I / factors) scaled to unit
    expected norm, b_i = -popularity · log(1 + rank_i) and n_u is log-normal around
    `mean_items` (at least `min_items`). Sampling without replacement uses the Gumbel top-k
    trick, a block of users at a time. Timestamps: each user's items are ordered
    randomly in time, one per simulated minute after a per-user start day. With
    `ratings=True` every entry also gets a 1-5 star rating that grows with the affinity
    p_u · q_i (standardised, plus N(0, 0.5²) noise, rounded), for explicit-feedback models.

    Returns:
        `Interactions` with raw ids 1..U and 1..V and timestamps (and ratings).
    """
    what = "synthetic_interactions"
    n_users = as_count(n_users, f"{what}: n_users", 1)
    n_items = as_count(n_items, f"{what}: n_items", 1)
    factors = as_count(factors, f"{what}: factors", 1)
    min_items = as_count(min_items, f"{what}: min_items", 0)
    seed = as_count(seed, f"{what}: seed", 0)
    if n_items <= min_items:
        raise DataError(f"{what}: n_items={n_items} must be more than min_items={min_items} "
                        f"(a user draws min_items to n_items - 1 items)")
    _check_number(mean_items, f"{what}: mean_items", positive=True)
    _check_number(temperature, f"{what}: temperature", positive=True)
    _check_number(popularity, f"{what}: popularity")
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n_users, factors)) / np.sqrt(factors)     # (U, F)
    Q = rng.standard_normal((n_items, factors))                         # (V, F)
    bias = -popularity * np.log1p(rng.permutation(n_items))             # (V,)
    # One product for all users, though the keys below use a block of rows at a time: BLAS
    # rounds an entry differently depending on how it tiles and threads a call, so products
    # of blocks of users would differ from this one in the last bits, and with them the data.
    PQ = P @ Q.T                                                        # (U, V)
    n_u = np.exp(rng.normal(np.log(mean_items), 0.5, size=n_users))     # (U,)
    n_u = np.clip(np.round(n_u), min_items, n_items - 1).astype(np.int64)
    users = np.repeat(np.arange(n_users), n_u)                          # (nnz,)
    bounds = np.concatenate([[0], np.cumsum(n_u)])                      # (U + 1,) user rows
    items = np.empty(users.size, dtype=np.int64)                        # (nnz,), row-major
    for lo, hi in _row_blocks(n_users, n_items):
        logits = PQ[lo:hi] / temperature + bias                         # (block, V)
        keys = logits + _gumbel(rng, (hi - lo, n_items))
        items[bounds[lo]:bounds[hi]] = _top_n(keys, n_u[lo:hi])         # largest keys first
    # Time: a random order within the user, one minute apart, after a random start day.
    start = rng.integers(0, 365, size=n_users) * 86400.0                # (U,)
    within = rng.random(users.size)                                     # (nnz,)
    rank = np.lexsort((within, users))                                  # entries by (u, draw)
    minute = np.empty(users.size)
    minute[rank] = np.arange(users.size) - np.repeat(bounds[:-1], n_u)
    times = 1.0e9 + start[users] + 60.0 * minute                        # (nnz,)
    stars = None
    if ratings:
        affinity = np.einsum("nf,nf->n", P[users], Q[items])            # (nnz,)
        # Standardised affinity; all equal (one entry, say): every rating the middle one.
        spread = affinity.std()
        z = (affinity - affinity.mean()) / spread if spread > 0 else np.zeros_like(affinity)
        stars = np.clip(np.round(3.5 + z + 0.5 * rng.standard_normal(z.size)), 1, 5)
    return Interactions.from_indices(users, items, n_users, n_items, times=times, ratings=stars,
                                     user_ids=np.arange(1, n_users + 1),
                                     item_ids=np.arange(1, n_items + 1))


def synthetic_sessions(n_sessions: int = 20000, n_items: int = 1000, *, n_topics: int = 20,
                       successors: int = 3, mean_length: float = 6.0,
                       p_successor: float = 0.6, p_topic: float = 0.3,
                       days: int = 30, seed: int = 0) -> Sessions:
    """Click sessions generated by a topic-local walk over favourite successors.

    Items are split into `n_topics` topics; every item has `successors` favourite next items
    in its own topic. A session starts on a random item of a random topic (popular items more
    often), and at each step moves to a favourite successor of the current item with
    probability `p_successor` (the first favourite most often), to a random item of the same
    topic with probability `p_topic`, else to any item. Lengths are 2 + geometric with the
    given mean. Sessions start uniformly over `days` days, clicks 30-90 s apart.

    Returns:
        `Sessions` ordered by start time, raw session ids 1..S, raw item ids 1..V, with times.
    """
    what = "synthetic_sessions"
    n_sessions = as_count(n_sessions, f"{what}: n_sessions", 1)
    n_items = as_count(n_items, f"{what}: n_items", 1)
    n_topics = as_count(n_topics, f"{what}: n_topics", 1)
    successors = as_count(successors, f"{what}: successors", 1)
    seed = as_count(seed, f"{what}: seed", 0)
    if n_items < n_topics * (successors + 1):
        raise DataError(f"{what}: n_items={n_items} is too few for n_topics={n_topics} topics "
                        f"of an item and its successors={successors} favourites (need at "
                        f"least n_topics * (successors + 1) = {n_topics * (successors + 1)})")
    _check_number(mean_length, f"{what}: mean_length", positive=True)
    _check_number(p_successor, f"{what}: p_successor", 0.0, 1.0)
    _check_number(p_topic, f"{what}: p_topic", 0.0, 1.0)
    if p_successor + p_topic > 1.0 + 1e-9:
        raise DataError(f"{what}: p_successor + p_topic must be at most 1 (the rest is the "
                        f"chance of any item), got {p_successor} + {p_topic}")
    _check_number(days, f"{what}: days", 0.0)
    rng = np.random.default_rng(seed)
    topic = rng.permutation(n_items) % n_topics                         # (V,)
    members = [np.flatnonzero(topic == t) for t in range(n_topics)]
    sizes = np.array([m.size for m in members])                         # (n_topics,)
    table = np.full((n_topics, sizes.max()), -1, dtype=np.int64)        # topic -> items
    for t, m in enumerate(members):
        table[t, :m.size] = m
    # Favourite successors: random members of the item's own topic.
    pick = (rng.random((n_items, successors)) * sizes[topic][:, None]).astype(np.int64)
    succ = table[topic[:, None], pick]                                  # (V, successors)
    succ_p = 0.5 ** np.arange(successors)
    succ_cdf = np.cumsum(succ_p / succ_p.sum())                         # (successors,)
    pop = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.7                 # (V,)

    lengths = 2 + rng.geometric(1.0 / max(mean_length - 1.0, 1.0), size=n_sessions) - 1
    T = int(lengths.max())
    walk = np.empty((n_sessions, T), dtype=np.int64)                    # (S, T)
    start_topic = rng.integers(0, n_topics, size=n_sessions)
    # First item: Gumbel-max over the items of the session's topic, log weight log(popularity)
    # (a topic's -1 padding weighs 0, log 1e-30, and never wins). The log weights are a
    # topic's, computed once; the noise and the keys go a block of sessions at a time.
    log_w = np.log(pop[table] * (table >= 0) + 1e-30)                   # (n_topics, max size)
    for lo, hi in _row_blocks(n_sessions, table.shape[1]):
        topics = start_topic[lo:hi]
        start_key = log_w[topics] + _gumbel(rng, (hi - lo, table.shape[1]))
        walk[lo:hi, 0] = table[topics, np.argmax(start_key, axis=1)]
    for t in range(1, T):   # vectorised over sessions; T is the longest session
        cur = walk[:, t - 1]
        u = rng.random(n_sessions)
        k = np.searchsorted(succ_cdf, rng.random(n_sessions))           # which favourite
        to_succ = succ[cur, np.minimum(k, successors - 1)]
        t_cur = topic[cur]
        to_topic = table[t_cur, (rng.random(n_sessions) * sizes[t_cur]).astype(np.int64)]
        to_any = rng.integers(0, n_items, size=n_sessions)
        walk[:, t] = np.where(u < p_successor, to_succ,
                              np.where(u < p_successor + p_topic, to_topic, to_any))

    starts = np.sort(rng.random(n_sessions)) * days * 86400.0 + 1.4e9   # (S,) time order
    keep = np.arange(T)[None, :] < lengths[:, None]                     # (S, T)
    gaps = rng.uniform(30.0, 90.0, size=(n_sessions, T))
    gaps[:, 0] = 0.0
    times = starts[:, None] + np.cumsum(gaps, axis=1)                   # (S, T)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return Sessions(offsets, walk[keep], n_items, times=times[keep],
                    session_ids=np.arange(1, n_sessions + 1),
                    item_ids=np.arange(1, n_items + 1))
