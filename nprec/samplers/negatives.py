"""Negative items: uniform over a user's unseen items, or by popularity^alpha.

- `negatives_for_users`: uniform negatives outside each user's row of an `Interactions`,
  with repeats (training: NCF's 4 per positive) or as distinct items (the NCF evaluation
  protocol's 99 sampled negatives per test user).
- `PopularitySampler`: items drawn with probability proportional to support^alpha, the
  negative distribution of GRU4Rec (Hidasi & Karatzoglou 2018, `sample_alpha`).
"""

from __future__ import annotations

import math

import numpy as np

from nprec.data.containers import Interactions, as_count, as_generator, as_indices
from nprec.errors import ConfigError, DataError
from nprec.kernels import sample_cdf, sample_negatives, sample_negatives_distinct


def negatives_for_users(data: Interactions, users: np.ndarray, n: int,
                        rng: np.random.Generator, *, distinct: bool = False) -> np.ndarray:
    """n uniform negatives per user: items outside the user's row of `data`.

    With `distinct=False` each negative is an independent uniform draw (repeats possible);
    with `distinct=True` the n items of a row are a uniform random n-subset of the user's
    unseen items (order not shuffled). To exclude test items too (the NCF protocol ranks
    the test item against 99 items the user never rated), pass the union of train and test.

    Args:
        data:  the interactions whose items are excluded.
        users: (N,) user indices.
        n:     negatives per user, an integer >= 1.
        rng:   the random generator.
    Returns:
        (N, n) int64 item indices.
    Raises:
        ConfigError if n is not an integer >= 1 (a float, bool or NaN included: 2.5 would
        fail inside NumPy) or rng is not a Generator; DataError if users are not integers
        (1.7 would be read as user 1) or a user has no unseen item (with distinct, fewer
        than n); UnknownIdError if a user is outside the data.
    """
    n = as_count(n, "negatives_for_users: n", 1, ConfigError)
    users = as_indices(users, data.n_users, "negatives_for_users: users")     # (N,)
    as_generator(rng, "negatives_for_users: rng")
    try:
        if distinct:
            return sample_negatives_distinct(data.indptr, data.indices, users, data.n_items,
                                             rng.random((users.size, n)))
        flat = sample_negatives(data.indptr, data.indices, np.repeat(users, n),
                                data.n_items, rng.random(users.size * n))   # (N n,)
    except ValueError as err:
        raise DataError(str(err)) from None
    return flat.reshape(users.size, n)


class PopularitySampler:
    """Items drawn with probability proportional to count^alpha (items with count 0 never).

        P(i) = c_i^alpha / sum_j c_j^alpha      over the items with c_i > 0

    alpha = 0 is uniform over the items with support, alpha = 1 proportional to support.
    Draws are a binary search of uniforms in the cumulative distribution (`sample_cdf`).

    Args:
        counts: (V,) non-negative support of each item (e.g. `data.item_counts()`).
        alpha:  the exponent, finite and >= 0.
    """

    def __init__(self, counts: np.ndarray, alpha: float) -> None:
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 1 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
            raise DataError("PopularitySampler: counts must be a 1-d array of finite "
                            "non-negative numbers")
        if not counts.any():
            raise DataError("PopularitySampler: every item has count 0, nothing to sample")
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ConfigError(f"PopularitySampler: alpha={alpha!r} must be finite and >= 0")
        self.alpha = float(alpha)
        weights = np.zeros_like(counts)                                 # (V,)
        support = counts > 0
        with np.errstate(over="ignore"):                 # handled just below
            weights[support] = counts[support] ** self.alpha
        if not np.isfinite(weights.sum()):
            # c^alpha overflows (alpha = 300, say): the same distribution, scaled by the
            # largest count's weight, c^alpha / c_max^alpha = exp(alpha (log c - log c_max)).
            log_c = np.log(counts[support])
            weights[support] = np.exp(self.alpha * (log_c - log_c.max()))
        self.probabilities = weights / weights.sum()                    # (V,)
        cdf = np.cumsum(self.probabilities)                             # (V,)
        cdf[np.flatnonzero(support)[-1]:] = 1.0   # exact 1 from the last item with support
        self.cdf = cdf

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) int64 item indices drawn independently from `probabilities`."""
        return sample_cdf(self.cdf, rng.random(n))
