"""The synthetic data generators keep giving exactly the data of their first version.

The quick start's figures and many tests rest on the exact synthetic data, so any rewrite of
`nprec.data.synthetic` must reproduce it bit for bit. The first version is kept here, unchanged
but for the argument checks, as the reference (`_interactions_ref`, `_sessions_ref`): it
builds every (U, V) and (S, max topic size) matrix at once, which is simple to read and
hundreds of megabytes at ML-1M's size. Both run on the same machine, so the comparison holds
wherever the tests run, whatever the BLAS and its threads.

No digest of the data is pinned beside that: a matrix product or a logarithm may round
differently on another BLAS, CPU or thread count (at 6040 x 3706 the product's last bits
already change between one OpenBLAS thread and two), and a test of this suite must not fail
on a new machine for that alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.data import synthetic
from nprec.data.containers import Interactions, Sessions
from nprec.data.synthetic import _top_n, synthetic_interactions, synthetic_sessions
from nprec.testing.strategies import seeds

# -- the reference: the first version, every matrix whole ------------------------------------

def _gumbel(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return -np.log(-np.log(rng.random(shape) + 1e-20) + 1e-20)


def _interactions_ref(n_users: int = 2000, n_items: int = 1000, *, factors: int = 8,
                      mean_items: float = 40.0, min_items: int = 5, temperature: float = 0.5,
                      popularity: float = 0.7, ratings: bool = False,
                      seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n_users, factors)) / np.sqrt(factors)     # (U, F)
    Q = rng.standard_normal((n_items, factors))                         # (V, F)
    bias = -popularity * np.log1p(rng.permutation(n_items))             # (V,)
    logits = (P @ Q.T) / temperature + bias                             # (U, V)
    n_u = np.exp(rng.normal(np.log(mean_items), 0.5, size=n_users))     # (U,)
    n_u = np.clip(np.round(n_u), min_items, n_items - 1).astype(np.int64)
    keys = logits + _gumbel(rng, logits.shape)                          # (U, V)
    order = np.argsort(-keys, axis=1)                                   # (U, V)
    chosen = np.arange(n_items)[None, :] < n_u[:, None]                 # (U, V), first n_u
    users = np.repeat(np.arange(n_users), n_u)                          # (nnz,)
    items = order[chosen]                                               # (nnz,), row-major
    start = rng.integers(0, 365, size=n_users) * 86400.0                # (U,)
    within = rng.random(users.size)                                     # (nnz,)
    rank = np.lexsort((within, users))                                  # entries by (u, draw)
    minute = np.empty(users.size)
    offsets = np.concatenate([[0], np.cumsum(n_u)[:-1]])                # (U,)
    minute[rank] = np.arange(users.size) - np.repeat(offsets, n_u)
    times = 1.0e9 + start[users] + 60.0 * minute                        # (nnz,)
    stars = None
    if ratings:
        affinity = np.einsum("nf,nf->n", P[users], Q[items])            # (nnz,)
        spread = affinity.std()     # (all equal: the first version's 0 / 0 was an error)
        z = (affinity - affinity.mean()) / spread if spread > 0 else np.zeros_like(affinity)
        stars = np.clip(np.round(3.5 + z + 0.5 * rng.standard_normal(z.size)), 1, 5)
    return Interactions.from_indices(users, items, n_users, n_items, times=times, ratings=stars,
                                     user_ids=np.arange(1, n_users + 1),
                                     item_ids=np.arange(1, n_items + 1))


def _sessions_ref(n_sessions: int = 20000, n_items: int = 1000, *, n_topics: int = 20,
                  successors: int = 3, mean_length: float = 6.0, p_successor: float = 0.6,
                  p_topic: float = 0.3, days: int = 30, seed: int = 0) -> Sessions:
    rng = np.random.default_rng(seed)
    topic = rng.permutation(n_items) % n_topics                         # (V,)
    members = [np.flatnonzero(topic == t) for t in range(n_topics)]
    sizes = np.array([m.size for m in members])                         # (n_topics,)
    table = np.full((n_topics, sizes.max()), -1, dtype=np.int64)        # topic -> items
    for t, m in enumerate(members):
        table[t, :m.size] = m
    pick = (rng.random((n_items, successors)) * sizes[topic][:, None]).astype(np.int64)
    succ = table[topic[:, None], pick]                                  # (V, successors)
    succ_p = 0.5 ** np.arange(successors)
    succ_cdf = np.cumsum(succ_p / succ_p.sum())                         # (successors,)
    pop = 1.0 / (1.0 + rng.permutation(n_items)) ** 0.7                 # (V,)

    lengths = 2 + rng.geometric(1.0 / max(mean_length - 1.0, 1.0), size=n_sessions) - 1
    T = int(lengths.max())
    walk = np.empty((n_sessions, T), dtype=np.int64)                    # (S, T)
    start_topic = rng.integers(0, n_topics, size=n_sessions)
    start_w = pop[table[start_topic]] * (table[start_topic] >= 0)       # (S, max topic size)
    start_key = np.log(start_w + 1e-30) + _gumbel(rng, start_w.shape)
    walk[:, 0] = table[start_topic, np.argmax(start_key, axis=1)]
    for t in range(1, T):
        cur = walk[:, t - 1]
        u = rng.random(n_sessions)
        k = np.searchsorted(succ_cdf, rng.random(n_sessions))
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


# -- comparing bit for bit ---------------------------------------------------------------------

_FIELDS = {Interactions: ("indptr", "indices", "ratings", "times", "user_ids", "item_ids",
                          "positions"),
           Sessions: ("offsets", "items", "times", "session_ids", "item_ids")}


def _assert_same(got: Interactions | Sessions, want: Interactions | Sessions) -> None:
    assert type(got) is type(want) and got.n_items == want.n_items
    for name in _FIELDS[type(want)]:
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if b is not None:       # bytes, not values: -0.0 and 0.0 or two NaNs would differ
            assert a.dtype == b.dtype and a.shape == b.shape, name
            assert a.tobytes() == b.tobytes(), name


INTERACTIONS = [
    ((2000, 1000), {}),                                     # nprec train's default data
    ((2000, 1000), {"ratings": True, "seed": 3}),
    ((300, 200), {"seed": 5}),
    ((40, 30), {"seed": 1}),
    ((1, 2), {"min_items": 1}),
    ((3, 10), {"min_items": 0}),                            # users with no item
    ((37, 11), {"mean_items": 500.0}),                      # every user takes n_items - 1
    ((200, 150), {"factors": 1, "ratings": True, "seed": 3}),
    ((257, 513), {"temperature": 0.01, "popularity": -1.0, "seed": 7}),
    ((120, 3000), {"mean_items": 300.0, "seed": 11}),       # more items than a block holds
    # Overflowing logits: exact ties at +-inf (and NaN from inf - inf), whose order is
    # argsort's own.
    ((129, 64), {"temperature": 1e-310, "seed": 9}),
    ((300, 50), {"temperature": 1e-310, "popularity": 0.0, "factors": 1, "seed": 5}),
    ((129, 64), {"temperature": 1e-300, "popularity": 1e308, "seed": 10}),
]

SESSIONS = [
    ((20000, 1000), {"n_topics": 20}),                      # nprec train's default sessions
    ((3000, 200), {"n_topics": 5, "seed": 2}),
    ((1, 4), {"n_topics": 1}),
    ((77, 23), {"n_topics": 4, "successors": 2, "seed": 3}),
    ((500, 101), {"n_topics": 7, "mean_length": 0.5, "seed": 5}),
    ((500, 101), {"n_topics": 7, "mean_length": 30.0, "seed": 6}),
    ((400, 60), {"n_topics": 3, "p_successor": 0.0, "p_topic": 0.0, "seed": 9}),
    ((400, 60), {"n_topics": 1, "successors": 1, "days": 0, "seed": 10}),
]


@pytest.mark.filterwarnings("ignore:overflow encountered")
@pytest.mark.parametrize(("args", "kwargs"), INTERACTIONS)
def test_interactions_equal_the_whole_matrix_version(args, kwargs):
    _assert_same(synthetic_interactions(*args, **kwargs), _interactions_ref(*args, **kwargs))


@pytest.mark.parametrize(("args", "kwargs"), SESSIONS)
def test_sessions_equal_the_whole_matrix_version(args, kwargs):
    _assert_same(synthetic_sessions(*args, **kwargs), _sessions_ref(*args, **kwargs))


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
@given(seed=seeds, n_users=st.integers(1, 60), n_items=st.integers(2, 80),
       factors=st.integers(1, 4), mean_items=st.floats(0.5, 100.0),
       temperature=st.sampled_from([1e-310, 0.05, 0.5, 1e6]), ratings=st.booleans(),
       block=st.integers(1, 300), data=st.data())
def test_interactions_equal_for_any_arguments_and_block(seed, n_users, n_items, factors,
                                                        mean_items, temperature, ratings,
                                                        block, data):
    # Small blocks (down to one entry, so one row a block) cut the users anywhere.
    min_items = data.draw(st.integers(0, n_items - 1))
    kwargs = dict(factors=factors, mean_items=mean_items, min_items=min_items,
                  temperature=temperature, ratings=ratings, seed=seed)
    want = _interactions_ref(n_users, n_items, **kwargs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic, "_BLOCK_ENTRIES", block)
        _assert_same(synthetic_interactions(n_users, n_items, **kwargs), want)


def test_ratings_of_equal_affinities_are_the_middle_star_plus_noise():
    # One entry: the affinities' spread is 0, which used to make every rating NaN and the
    # data an error.
    data = synthetic_interactions(1, 2, factors=1, min_items=1, mean_items=0.5,
                                  ratings=True, seed=0)
    assert data.nnz == 1
    assert np.all(np.isin(data.ratings, [1, 2, 3, 4, 5]))


@given(seed=seeds, n_sessions=st.integers(1, 200), n_topics=st.integers(1, 6),
       successors=st.integers(1, 3), extra_items=st.integers(0, 40),
       mean_length=st.floats(0.5, 12.0), block=st.integers(1, 300))
def test_sessions_equal_for_any_arguments_and_block(seed, n_sessions, n_topics, successors,
                                                    extra_items, mean_length, block):
    n_items = n_topics * (successors + 1) + extra_items
    kwargs = dict(n_topics=n_topics, successors=successors, mean_length=mean_length, seed=seed)
    want = _sessions_ref(n_sessions, n_items, **kwargs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synthetic, "_BLOCK_ENTRIES", block)
        _assert_same(synthetic_sessions(n_sessions, n_items, **kwargs), want)


@given(seed=seeds, rows=st.integers(1, 8), cols=st.integers(1, 40), levels=st.integers(1, 6),
       special=st.booleans())
def test_top_n_is_the_head_of_a_full_argsort_even_with_ties(seed, rows, cols, levels, special):
    # Few distinct levels make ties the rule; `special` adds infinities and NaN.
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, levels, size=(rows, cols)).astype(np.float64)
    if special:
        keys[rng.random(keys.shape) < 0.2] = np.inf
        keys[rng.random(keys.shape) < 0.2] = -np.inf
        keys[rng.random(keys.shape) < 0.1] = np.nan
    n = rng.integers(0, cols, size=rows)
    order = np.argsort(-keys, axis=1)
    np.testing.assert_array_equal(_top_n(keys, n), order[np.arange(cols) < n[:, None]])
