"""Sampling kernels: negatives from a user's complement, CDF draws, BPR triples.

Every kernel here is deterministic: the caller draws the uniforms from a `np.random.Generator`
and passes them in, so the compiled kernel and its NumPy twin return identical samples for the
same inputs, and a run is reproducible from its seed. The public samplers of `nprec.samplers`
draw the uniforms.

Uniform negatives without a rejection loop. A user with sorted positives p_0 < ... < p_{m-1}
among V items has V - m negatives. Let q_j = p_j - j, the number of negatives below p_j; q is
non-decreasing. The r-th negative (0-based, r in [0, V - m)) is

    neg(r) = r + #{j : q_j <= r},

because every positive at or below the answer pushes it up by one. So one uniform u gives
r = floor(u (V - m)) and one binary search over q gives the item: exactly uniform over the
complement, with no retry however dense the row is.

One kernel draws its own numbers: `standard_normal(rng, shape, dtype)`, Mult-VAE's noise of
the reparameterisation. It takes the `np.random.Generator` itself and draws through Numba's
port of NumPy's ziggurat, the same numbers from the same bit stream, leaving the generator
in the same state as `rng.standard_normal(shape)` would: the twin is that call.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from nprec.kernels._jit import jit

# -- uniform negatives ---------------------------------------------------------------------


def _check_negative_inputs(indptr: np.ndarray, users: np.ndarray, n_items: int, need: int,
                           what: str) -> None:
    """Users in range, and each user with at least `need` items outside its row."""
    n_users = indptr.size - 1
    if users.size and (users.min() < 0 or users.max() >= n_users):
        raise ValueError(f"{what}: user index outside [0, {n_users})")
    lengths = indptr[1:] - indptr[:-1]                                  # (U,)
    short = n_items - lengths[users] < need                             # (N,)
    if short.any():
        u = int(users[np.argmax(short)])
        raise ValueError(f"{what}: user {u} has {int(lengths[u])} of {n_items} items in "
                         f"its row, fewer than {need} items are left to sample from")


def sample_negatives_ref(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray,
                         n_items: int, u: np.ndarray) -> np.ndarray:
    """One item per draw, uniform over the items NOT in the user's row (reference twin).

    Vectorised over all draws at once: the keys `user * (V + 1) + q_j` are sorted over the
    whole CSR array (rows in user order, q non-decreasing within a row, q_j <= V), so one
    global `searchsorted` counts #{j in row : q_j <= r} for every draw.

    Args:
        indptr:  (U + 1,) CSR row pointers.
        indices: (nnz,) item indices, sorted within each row.
        users:   (N,) user of each draw.
        n_items: V.
        u:       (N,) uniforms in [0, 1), one per draw.
    Returns:
        (N,) int64 items, each outside its user's row.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    _check_negative_inputs(indptr, users, n_items, 1, "sample_negatives")
    n_free = n_items - np.diff(indptr)[users]                           # (N,)
    r = np.minimum(np.floor(u * n_free).astype(np.int64), n_free - 1)   # (N,)
    return _complement_items_ref(indptr, indices, users, n_items, r)


def _complement_items_ref(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray,
                          n_items: int, r: np.ndarray) -> np.ndarray:
    """(N,) the r[k]-th item (0-based) outside user users[k]'s row: r + #{j : q_j <= r}."""
    lengths = np.diff(indptr)                                           # (U,)
    entry_users = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)  # (nnz,)
    q = indices - (np.arange(indices.size) - indptr[entry_users])       # (nnz,)
    keys = entry_users * (n_items + 1) + q                              # (nnz,) sorted
    below = np.searchsorted(keys, users * (n_items + 1) + r, side="right") \
        - indptr[users]                                                 # (N,)
    return r + below


def sample_negatives(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray,
                     n_items: int, u: np.ndarray) -> np.ndarray:
    """One item per draw, uniform over the items NOT in the user's row.

    Same contract as `sample_negatives_ref`: draw k returns the floor(u[k] (V - m))-th item
    (0-based, ascending) of the complement of user users[k]'s m items. A user whose row holds
    every item has no negative: ValueError naming the user.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    u = np.asarray(u)
    if users.shape != u.shape or users.ndim != 1:
        raise ValueError(f"sample_negatives: users {users.shape} and u {u.shape} must be "
                         f"1-d arrays of equal length")
    _check_negative_inputs(indptr, users, n_items, 1, "sample_negatives")
    out = np.empty(users.size, dtype=np.int64)                          # (N,)
    _sample_negatives(indptr, indices, users, n_items, u, out)
    return out


@jit(inline="always")
def _count_le(arr, lo, hi, x):
    """#{j in [lo, hi) : arr[j] <= x} for arr non-decreasing on [lo, hi).

    Branch-free binary search: the answer stays in [base, base + n] while n halves, and the
    comparison becomes a conditional move, so random queries cost no mispredicted branches.
    """
    if hi <= lo:
        return 0
    base, n = lo, hi - lo
    while n > 1:
        half = n // 2
        base = base + half if arr[base + half - 1] <= x else base
        n -= half
    return base - lo + (1 if arr[base] <= x else 0)


@jit(inline="always")
def _complement_item(indices, lo, hi, r):
    """The r-th item (0-based) not in the sorted row indices[lo:hi]: r + #{j : q_j <= r}.

    Same branch-free search as `_count_le`, on q_j = indices[j] - (j - lo) computed on the fly.
    """
    if hi <= lo:
        return r
    base, n = lo, hi - lo
    while n > 1:
        half = n // 2
        m = base + half - 1
        base = base + half if indices[m] - (m - lo) <= r else base
        n -= half
    return r + base - lo + (1 if indices[base] - (base - lo) <= r else 0)


@jit(parallel=True)
def _sample_negatives(indptr, indices, users, n_items, u, out):
    # Parallel: draw k writes out[k] only.
    for k in prange(users.size):
        lo, hi = indptr[users[k]], indptr[users[k] + 1]
        n_free = n_items - (hi - lo)
        r = min(np.int64(np.floor(u[k] * n_free)), n_free - 1)
        out[k] = _complement_item(indices, lo, hi, r)


# -- distinct negatives (the NCF "99 sampled negatives" protocol) ---------------------------


def sample_negatives_distinct_ref(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray,
                                  n_items: int, u: np.ndarray) -> np.ndarray:
    """n DISTINCT items per user, a uniform random subset of its complement (reference twin).

    Floyd's algorithm picks a uniform n-subset of the ranks 0..F-1 (F = V - m free items)
    with exactly n uniforms: for j = 0..n-1, with range size F - n + j + 1, draw
    t = floor(u_j (F - n + j + 1)); if t was already picked, pick F - n + j instead. The ranks
    then map to items as in `sample_negatives`. The subset is uniform; the order of the n
    items within a row is not shuffled.

    Args:
        indptr, indices, n_items: the CSR rows to avoid, as in `sample_negatives`.
        users: (N,) one user per output row.
        u:     (N, n) uniforms in [0, 1).
    Returns:
        (N, n) int64, each row n distinct items outside the user's row.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    N, n = u.shape
    _check_negative_inputs(indptr, users, n_items, n, "sample_negatives_distinct")
    n_free = n_items - np.diff(indptr)[users]                           # (N,)
    ranks = np.empty((N, n), dtype=np.int64)                            # (N, n)
    for j in range(n):                     # Floyd's steps, vectorised over the users
        size = n_free - n + j + 1                                       # (N,)
        t = np.minimum(np.floor(u[:, j] * size).astype(np.int64), size - 1)  # (N,)
        seen = (ranks[:, :j] == t[:, None]).any(axis=1)                 # (N,)
        ranks[:, j] = np.where(seen, size - 1, t)
    items = _complement_items_ref(indptr, indices, np.repeat(users, n), n_items,
                                  ranks.ravel())                        # (N n,)
    return items.reshape(N, n)


def sample_negatives_distinct(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray,
                              n_items: int, u: np.ndarray) -> np.ndarray:
    """n distinct items per user, a uniform subset of its complement (Floyd's algorithm).

    Same contract as `sample_negatives_distinct_ref`; u is (N, n). A user with fewer than n
    free items: ValueError naming the user.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    u = np.asarray(u)
    if u.ndim != 2 or users.shape != (u.shape[0],):
        raise ValueError(f"sample_negatives_distinct: users {users.shape} and u {u.shape} "
                         f"must be (N,) and (N, n)")
    _check_negative_inputs(indptr, users, n_items, u.shape[1],
                           "sample_negatives_distinct")
    out = np.empty(u.shape, dtype=np.int64)                             # (N, n)
    _sample_negatives_distinct(indptr, indices, users, n_items, u, out)
    return out


@jit(parallel=True)
def _sample_negatives_distinct(indptr, indices, users, n_items, u, out):
    # Parallel: row k writes out[k] only.
    n = u.shape[1]
    for k in prange(users.size):
        lo, hi = indptr[users[k]], indptr[users[k] + 1]
        n_free = n_items - (hi - lo)
        for j in range(n):                 # Floyd: ranks picked so far are out[k, :j]
            size = n_free - n + j + 1
            t = min(np.int64(np.floor(u[k, j] * size)), size - 1)
            for i in range(j):
                if out[k, i] == t:
                    t = size - 1
                    break
            out[k, j] = t
        for j in range(n):                 # ranks -> items
            out[k, j] = _complement_item(indices, lo, hi, out[k, j])


# -- draws from a discrete distribution by its CDF ------------------------------------------


def sample_cdf_ref(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index j with cdf[j-1] <= u < cdf[j] for each uniform (reference twin).

    Args:
        cdf: (V,) non-decreasing cumulative probabilities with cdf[-1] == 1.0; an item with
             zero probability repeats its predecessor's value and is never drawn.
        u:   (N,) uniforms in [0, 1).
    Returns:
        (N,) int64 indices, #{j : cdf[j] <= u}.
    """
    return np.searchsorted(cdf, u, side="right").astype(np.int64)


def sample_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index j with cdf[j-1] <= u < cdf[j] for each uniform (binary search per draw).

    Same contract as `sample_cdf_ref`: this is how the official GRU4Rec draws its
    popularity-based negatives.
    """
    cdf = np.asarray(cdf, dtype=np.float64)
    u = np.asarray(u)
    if cdf.ndim != 1 or cdf.size == 0 or cdf[-1] != 1.0:
        raise ValueError("sample_cdf: cdf must be a non-empty 1-d array ending in 1.0")
    out = np.empty(u.shape, dtype=np.int64)                             # (N,)
    _sample_cdf(cdf, u.ravel(), out.ravel())
    return out


@jit(parallel=True)
def _sample_cdf(cdf, u, out):
    # Parallel: draw k writes out[k] only.
    for k in prange(u.size):
        out[k] = min(_count_le(cdf, 0, cdf.size, u[k]), cdf.size - 1)


# -- BPR triples -------------------------------------------------------------------------------


def sample_bpr_triples_ref(indptr: np.ndarray, indices: np.ndarray, n_items: int,
                           u_entry: np.ndarray, u_neg: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, positive, negative) triples for BPR (Rendle et al. 2009) (reference twin).

    A uniformly random training entry e = floor(u_entry nnz) gives the user (so users are
    drawn in proportion to their number of entries) and the positive item indices[e]; the
    negative is uniform over the user's complement, as in `sample_negatives`.

    Args:
        indptr, indices, n_items: the training CSR.
        u_entry: (N,) uniforms choosing the entries.  u_neg: (N,) uniforms for the negatives.
    Returns:
        users (N,), pos (N,), neg (N,), all int64.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    nnz = indices.size
    e = np.minimum(np.floor(u_entry * nnz).astype(np.int64), nnz - 1)   # (N,)
    users = np.searchsorted(indptr, e, side="right") - 1                # (N,)
    pos = indices[e].astype(np.int64)                                   # (N,)
    return users, pos, sample_negatives_ref(indptr, indices, users, n_items, u_neg)


def sample_bpr_triples(indptr: np.ndarray, indices: np.ndarray, n_items: int,
                       u_entry: np.ndarray, u_neg: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, positive, negative) triples for BPR; same contract as `sample_bpr_triples_ref`."""
    indptr = np.asarray(indptr, dtype=np.int64)
    u_entry, u_neg = np.asarray(u_entry), np.asarray(u_neg)
    if u_entry.shape != u_neg.shape or u_entry.ndim != 1:
        raise ValueError("sample_bpr_triples: u_entry and u_neg must be 1-d of equal length")
    if indices.size == 0:
        raise ValueError("sample_bpr_triples: there are no training entries")
    lengths = np.diff(indptr)                                           # (U,)
    if np.any(lengths >= n_items):
        u = int(np.argmax(lengths >= n_items))
        raise ValueError(f"sample_bpr_triples: user {u} has every item in its row, "
                         f"no negative can be drawn")
    users = np.empty(u_entry.size, dtype=np.int64)                      # (N,)
    pos = np.empty(u_entry.size, dtype=np.int64)                        # (N,)
    neg = np.empty(u_entry.size, dtype=np.int64)                        # (N,)
    _sample_bpr_triples(indptr, indices, n_items, u_entry, u_neg, users, pos, neg)
    return users, pos, neg


@jit(parallel=True)
def _sample_bpr_triples(indptr, indices, n_items, u_entry, u_neg, users, pos, neg):
    # Parallel: draw k writes users[k], pos[k], neg[k] only.
    nnz = indices.size
    for k in prange(u_entry.size):
        e = min(np.int64(np.floor(u_entry[k] * nnz)), nnz - 1)
        user = _count_le(indptr, 0, indptr.size, e) - 1   # last row whose start is <= e
        lo, hi = indptr[user], indptr[user + 1]
        n_free = n_items - (hi - lo)
        r = min(np.int64(np.floor(u_neg[k] * n_free)), n_free - 1)
        users[k] = user
        pos[k] = indices[e]
        neg[k] = _complement_item(indices, lo, hi, r)


# -- Gaussian noise ----------------------------------------------------------------------------


def standard_normal_ref(rng: np.random.Generator, shape: tuple[int, ...],
                        dtype: np.dtype) -> np.ndarray:
    """N(0, 1) draws of `shape` from `rng`, rounded to `dtype` (reference twin).

    Args:
        rng:   the generator; it advances exactly as `rng.standard_normal(shape)` makes it.
        shape: the output shape.
        dtype: float32 or float64; each float64 draw is rounded to it.
    Returns:
        An array of `shape` and `dtype`.
    """
    return rng.standard_normal(shape).astype(dtype)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...],
                    dtype: np.dtype) -> np.ndarray:
    """N(0, 1) draws of `shape` from `rng`: the numbers and the generator's next state of
    `standard_normal_ref`, two to three times faster.

    NumPy's `Generator.standard_normal` took 14 ns a draw on the development machine (a
    Mult-VAE batch's 500 x 200 noise: 1.4-1.6 ms), Numba's port of the same ziggurat 4-8 ns
    (0.4-0.8 ms, float64 or float32 out): the draws are the same to the bit
    (`tests/kernels/test_sampling_kernels.py`).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"standard_normal: rng must be a np.random.Generator, got "
                        f"{type(rng).__name__}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"standard_normal: dtype must be float32 or float64, got {dtype}")
    out = np.empty(shape, dtype=dtype)
    _standard_normal(rng, out.reshape(-1))
    return out


@jit()
def _standard_normal(rng, out):
    # Serial: the draws come one after another from one bit stream.
    for i in range(out.size):
        out[i] = rng.standard_normal()
