"""GRU4Rec's session-parallel steps against a naive per-slot simulation, and the properties
the model relies on: resets exactly when a slot starts a session, one session per row between
resets, every (event, next event) pair exactly once per epoch, sessions taken in time order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from nprec.data import Sessions
from nprec.errors import ConfigError
from nprec.samplers import SampleCache, SessionParallelBatches
from nprec.testing.strategies import seeds


@st.composite
def sessions_and_batch(draw):
    """Sessions of length 1..5 (length 1 included), shuffled start times with ties."""
    rng = np.random.default_rng(draw(seeds))
    S = draw(st.integers(0, 14))
    lengths = rng.integers(1, 6, S)
    lists = [list(rng.integers(0, 9, n)) for n in lengths]
    starts = rng.integers(0, 5, S).astype(np.float64)                   # ties on purpose
    times = np.concatenate([[t + 0.1 * i for i in range(n)] for t, n in zip(starts, lengths,
                                                                          strict=True)]
                           ) if S else np.zeros(0)
    return Sessions.from_lists(lists, n_items=9, times=times), draw(st.integers(1, 5))


def naive_steps(sessions: Sessions, B: int):
    """Per-slot simulation in plain Python: a list of steps, each a list of rows
    (session, in position, reset, index in previous step)."""
    order = sorted(range(sessions.n_sessions), key=lambda s: (sessions.start_times()[s], s))
    queue = [s for s in order if sessions.lengths()[s] >= 2]
    slots = [[s, sessions.offsets[s], True, j] for j, s in enumerate(queue[:B])]
    queue = queue[B:]
    steps = []
    while slots:
        steps.append([tuple(slot) for slot in slots])
        survivors = []
        for j, (s, pos, _, _) in enumerate(slots):
            if pos + 2 < sessions.offsets[s + 1]:
                survivors.append([s, pos + 1, False, j])
            elif queue:
                s_new = queue.pop(0)
                survivors.append([s_new, sessions.offsets[s_new], True, j])
        slots = survivors
    return steps


@given(sessions_and_batch())
def test_steps_match_a_naive_per_slot_simulation(case):
    sessions, B = case
    batches = SessionParallelBatches(sessions, B)
    expected = naive_steps(sessions, B)
    steps = list(batches)
    assert len(steps) == len(expected) == len(batches)
    for step, rows in zip(steps, expected, strict=True):
        np.testing.assert_array_equal(step.in_items, [sessions.items[r[1]] for r in rows])
        np.testing.assert_array_equal(step.out_items, [sessions.items[r[1] + 1] for r in rows])
        np.testing.assert_array_equal(step.reset, [r[2] for r in rows])
        np.testing.assert_array_equal(step.keep, [r[3] for r in rows])
        assert step.in_items.dtype == step.out_items.dtype == step.keep.dtype == np.int64
        assert step.reset.dtype == bool


@given(sessions_and_batch())
def test_every_pair_once_and_one_session_per_row_between_resets(case):
    sessions, B = case
    batches = SessionParallelBatches(sessions, B)
    session_of = np.repeat(np.arange(sessions.n_sessions), sessions.lengths())
    # Follow the model's bookkeeping: a per-row tag is carried like the hidden state.
    tag = np.full(B, -1)                                # session a row's hidden state is of
    last = np.full(B, -1)                               # event position it last consumed
    seen = []
    for t in range(batches.n_steps):
        a, b = batches.step_offsets[t], batches.step_offsets[t + 1]
        pos, reset, keep = batches.in_pos[a:b], batches.reset[a:b], batches.keep[a:b]
        assert np.all(np.diff(keep) > 0)                # rows keep their order
        tag, last = tag[keep], last[keep]
        if t == 0:
            assert reset.all()
        # reset exactly when the row's event is the first of its session
        np.testing.assert_array_equal(reset, pos == sessions.offsets[session_of[pos]])
        cont = ~reset
        assert np.all(session_of[pos[cont]] == tag[cont])
        assert np.all(pos[cont] == last[cont] + 1)
        tag, last = session_of[pos], pos
        assert np.all(session_of[pos + 1] == session_of[pos])   # the target is in-session
        seen.extend(pos.tolist())
    long_enough = np.repeat(sessions.lengths() >= 2, sessions.lengths())
    is_last = np.zeros(sessions.n_events, dtype=bool)
    is_last[sessions.offsets[1:][sessions.lengths() > 0] - 1] = True
    expected = np.flatnonzero(long_enough & ~is_last)   # every event that has a next event
    np.testing.assert_array_equal(np.sort(seen), expected)
    assert batches.n_pairs == expected.size


def test_sessions_start_in_time_order_and_the_batch_shrinks_at_the_end():
    lists = [[1, 2, 3], [4, 5], [6], [7, 8, 9, 1], [2, 3]]
    times = np.concatenate([[5.0, 5.1, 5.2], [1.0, 1.1], [0.0], [3.0, 3.1, 3.2, 3.3],
                            [3.0, 3.5]])
    sessions = Sessions.from_lists(lists, n_items=10, times=times)
    steps = list(SessionParallelBatches(sessions, 2))
    # order by start time (stable): s1 (t=1), s3 (t=3), s4 (t=3), s0 (t=5); s2 has one event
    # slot 0: s1, s4, s0; slot 1: s3, then nothing is left and it is dropped
    assert [s.in_items.tolist() for s in steps] == [[4, 7], [2, 8], [1, 9], [2]]
    assert [s.out_items.tolist() for s in steps] == [[5, 8], [3, 9], [2, 1], [3]]
    assert [s.reset.tolist() for s in steps] == [[True, True], [True, False], [True, False],
                                                 [False]]
    assert [s.keep.tolist() for s in steps] == [[0, 1], [0, 1], [0, 1], [0]]


def test_bad_batch_size():
    with pytest.raises(ConfigError, match="batch_size"):
        SessionParallelBatches(Sessions.from_lists([[1, 2]]), 0)


def test_sample_cache_blocks_refresh_and_distribution():
    counts = np.array([10, 0, 40, 5, 45])
    cache = SampleCache(counts, 0.5, 4, np.random.default_rng(0), store_size=10)
    assert cache.n_blocks == 2
    first = cache.get_sample()
    assert first.shape == (4,) and first.dtype == np.int64
    store = cache.store
    cache.get_sample()
    third = cache.get_sample()                          # the store was refilled
    assert cache.store is not store and cache.pointer == 1
    np.testing.assert_array_equal(third, cache.store[0])
    again = SampleCache(counts, 0.5, 4, np.random.default_rng(0), store_size=10)
    np.testing.assert_array_equal(again.get_sample(), first)
    big = SampleCache(counts, 0.5, 1000, np.random.default_rng(1), store_size=50_000)
    freq = np.bincount(big.store.ravel(), minlength=5)
    assert freq[1] == 0
    w = np.sqrt(counts[counts > 0])
    assert chisquare(freq[counts > 0], freq.sum() * w / w.sum()).pvalue > 1e-4


def test_sample_cache_default_store_is_scaled_to_n_sample():
    cache = SampleCache(np.ones(5), 1.0, 8, np.random.default_rng(0))
    assert cache.store.shape == (1024, 8)
    assert SampleCache(np.ones(5), 1.0, 20_000, np.random.default_rng(0)).n_blocks == 500


def test_real_sessions_every_pair_once_in_time_order(shared_data):
    path = shared_data / "session/rsc15_100k/yoochoose-clicks-100k_train_full.txt"
    raw = np.loadtxt(path, delimiter="\t", skiprows=1)                  # SessionId ItemId Time
    raw = raw[np.lexsort((raw[:, 2], raw[:, 0]))]
    sid, items = raw[:, 0], np.unique(raw[:, 1], return_inverse=True)[1]
    offsets = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1], True])
    sessions = Sessions(offsets, items, int(items.max()) + 1, times=raw[:, 2])
    batches = SessionParallelBatches(sessions, 32)
    lengths = sessions.lengths()
    assert batches.n_pairs == int(np.sum(lengths[lengths >= 2] - 1))
    steps = list(batches)
    assert sum(s.in_items.size for s in steps) == batches.n_pairs
    assert steps[0].reset.all() and steps[-1].in_items.size < 32
    # sessions start in time order: the session of each reset row, in order of appearance
    session_of = np.repeat(np.arange(sessions.n_sessions), lengths)
    started = session_of[batches.in_pos[batches.reset]]
    assert np.all(np.diff(sessions.start_times()[started]) >= 0)
    np.testing.assert_array_equal(np.sort(batches.in_pos),
                                  np.setdiff1d(np.flatnonzero(lengths[session_of] >= 2),
                                               offsets[1:] - 1))
