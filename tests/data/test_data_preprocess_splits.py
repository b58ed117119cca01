"""Preprocessing against plain-Python references; splits: determinism, no leakage, sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data import (
    Interactions,
    Sessions,
    binarize,
    compact,
    dedupe_consecutive,
    filter_sessions,
    k_core,
    leave_one_out,
    ratio_split,
    session_time_split,
    strong_generalization,
    time_split,
)
from nprec.errors import DataError


def random_interactions(seed: int, n_users=30, n_items=25, density=0.3, ties=False):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(mask)
    times = rng.integers(0, 5 if ties else 10 ** 6, users.size).astype(float)
    return Interactions.from_indices(
        users, items, n_users, n_items, ratings=rng.integers(1, 6, users.size),
        times=times, positions=rng.permutation(users.size),
        user_ids=np.arange(n_users) * 10, item_ids=np.arange(n_items) + 100)


def pairs(data: Interactions) -> set:
    return set(zip(data.user_ids[data.entry_users()].tolist(),
                   data.item_ids[data.indices].tolist(), strict=True))


# -- preprocessing ---------------------------------------------------------------------------
@given(st.integers(0, 10 ** 6), st.integers(1, 6), st.integers(1, 6))
@settings(max_examples=30)
def test_k_core_equals_a_plain_python_fixed_point(seed, min_user, min_item):
    data = random_interactions(seed, density=0.2)
    triples = pairs(data)
    while True:                                   # the reference: loop until stable
        users = {u: sum(1 for a, _ in triples if a == u) for u, _ in triples}
        items = {i: sum(1 for _, b in triples if b == i) for _, i in triples}
        kept = {(u, i) for u, i in triples if users[u] >= min_user and items[i] >= min_item}
        if kept == triples:
            break
        triples = kept
    out, record = k_core(data, min_user=min_user, min_item=min_item)
    assert pairs(out) == triples
    assert record["after"]["interactions"] == len(triples)
    assert (out.row_lengths() >= min_user).all() and (out.item_counts() >= min_item).all()


def test_binarize_and_compact_keep_raw_ids():
    data = random_interactions(1)
    out, record = binarize(data, 4)
    expected = {p for p, r in zip(sorted(pairs(data)), data.ratings[np.lexsort(
        (data.item_ids[data.indices], data.user_ids[data.entry_users()]))], strict=True)
        if r >= 4}
    assert pairs(out) == expected and out.ratings is None
    assert (out.row_lengths() > 0).all() and (out.item_counts() > 0).all()
    assert record["after"]["interactions"] == len(expected)
    sub = data.select_entries(data.indices < 3)
    small, _ = compact(sub)
    assert small.n_items == 3 and small.item_ids.tolist() == [100, 101, 102]
    assert pairs(small) == pairs(sub)


def reference_filter(sessions: list[list[int]], min_length: int, min_support: int,
                     stable: bool) -> list[list[int]]:
    while True:
        before = sessions
        sessions = [s for s in sessions if len(s) >= min_length]
        counts = {}
        for s in sessions:
            for i in s:
                counts[i] = counts.get(i, 0) + 1
        sessions = [[i for i in s if counts[i] >= min_support] for s in sessions]
        if not stable or sessions == before:
            break
    return [s for s in sessions if len(s) >= min_length]


@given(st.lists(st.lists(st.integers(0, 12), min_size=0, max_size=7), min_size=1,
                max_size=30), st.integers(1, 3), st.integers(1, 4), st.booleans())
@settings(max_examples=40)
def test_filter_sessions_matches_the_reference(lists, min_length, min_support, stable):
    sessions = Sessions.from_lists(lists, n_items=13, item_ids=np.arange(13) * 7)
    out, _ = filter_sessions(sessions, min_length=min_length, min_support=min_support,
                             until_stable=stable)
    got = [(out.item_ids[out.session(s)] // 7).tolist() for s in range(out.n_sessions)]
    assert got == reference_filter(lists, min_length, min_support, stable)


def test_dedupe_consecutive():
    sessions = Sessions.from_lists([[1, 1, 2, 1, 1], [3, 3], [2], [2, 3, 3, 2]])
    out, record = dedupe_consecutive(sessions)
    got = [out.item_ids[out.session(s)].tolist() for s in range(out.n_sessions)]
    assert got == [[1, 2, 1], [3], [2], [2, 3, 2]] and record["events_removed"] == 4


# -- interaction splits -----------------------------------------------------------------------
@pytest.mark.parametrize("ties", [False, True])
def test_leave_one_out_takes_the_latest_entry(ties):
    data = random_interactions(3, ties=ties)
    split = leave_one_out(data)
    assert pairs(split.train) | pairs(split.test) == pairs(data)
    assert not pairs(split.train) & pairs(split.test)
    for u in range(data.n_users):
        lo, hi = data.indptr[u], data.indptr[u + 1]
        if hi - lo < 2:
            assert split.test.row(u).size == 0
            continue
        key = list(zip(data.times[lo:hi], data.positions[lo:hi], data.indices[lo:hi],
                       strict=True))
        assert split.test.row(u).tolist() == [max(key)[2]]
    assert split.valid.nnz == (split.train.row_lengths() >= 2).sum()
    assert not pairs(split.valid) & pairs(split.train_tr)
    again = leave_one_out(data)
    assert np.array_equal(again.test.indices, split.test.indices)


def test_leave_one_out_with_a_given_test_and_file_order():
    data = Interactions.from_indices([0, 0, 0, 1, 1], [2, 0, 1, 0, 2], 2, 3,
                                     positions=[1, 2, 3, 4, 5])
    test = Interactions.from_indices([0], [1], 2, 3)
    with pytest.raises(DataError, match="1 test pairs also occur"):
        leave_one_out(data, test=test)
    train = data.select_entries(np.array([True, False, True, True, True]))
    split = leave_one_out(train, test=test)
    assert split.test is test and split.record["test_given"]
    assert split.valid.row(0).tolist() == [0] and split.valid.row(1).tolist() == [2]
    with pytest.raises(DataError, match="needs timestamps or the entries' file order"):
        leave_one_out(Interactions.from_indices([0, 0], [0, 1], 1, 2))


def test_time_split_has_no_future_in_training():
    data = random_interactions(4, n_users=60)
    split = time_split(data, fraction=0.2, drop_unseen=False)
    assert split.train.times.max() < split.test.times.min()
    assert split.test.nnz == round(0.2 * data.nnz) or split.test.times.min() == \
        np.sort(data.times)[data.nnz - round(0.2 * data.nnz)]
    assert split.train_tr.times.max() < split.valid.times.min() <= split.train.times.max()
    cut = float(np.median(data.times))
    dropped = time_split(data, cut=cut)
    assert (dropped.train.item_counts()[dropped.test.indices] > 0).all()
    assert (np.repeat(dropped.train.row_lengths(), dropped.test.row_lengths()) > 0).all()
    assert dropped.test.times.min() >= cut > dropped.train.times.max()


@pytest.mark.parametrize("per_user", [True, False])
def test_ratio_split_is_seeded_and_sized(per_user):
    data = random_interactions(5, n_users=40)
    a = ratio_split(data, 0.2, rng=7, per_user=per_user)
    b = ratio_split(data, 0.2, rng=np.random.default_rng(7), per_user=per_user)
    c = ratio_split(data, 0.2, rng=8, per_user=per_user)
    assert pairs(a.test) == pairs(b.test) != pairs(c.test)
    assert pairs(a.train) | pairs(a.test) == pairs(data) and not pairs(a.train) & pairs(a.test)
    if per_user:
        assert (a.test.row_lengths() == (0.2 * data.row_lengths()).astype(int)).all()
    else:
        assert a.test.nnz == int(0.2 * data.nnz)
    assert pairs(a.train_tr) | pairs(a.valid) == pairs(a.train)


def test_strong_generalization_holds_out_whole_users():
    data = random_interactions(6, n_users=100, n_items=40, density=0.15)
    split = strong_generalization(data, 10, rng=98765)
    groups = [set(split.train.user_ids), set(split.valid_fold_in.user_ids),
              set(split.test_fold_in.user_ids)]
    assert [len(g) for g in groups] == [80, 10, 10] and not (groups[0] & groups[1])
    assert not groups[0] & groups[2] and not groups[1] & groups[2]
    items = set(split.train.item_ids[split.train.item_counts() > 0])
    assert set(split.train.item_ids) == items
    for fold_in, held_out in ((split.valid_fold_in, split.valid_held_out),
                              (split.test_fold_in, split.test_held_out)):
        assert np.array_equal(fold_in.user_ids, held_out.user_ids)
        n = fold_in.row_lengths() + held_out.row_lengths()
        assert (held_out.row_lengths() == np.where(n >= 5, (0.2 * n).astype(int), 0)).all()
        full = data.select_users(data.users.indices(fold_in.user_ids))
        assert pairs(fold_in) | pairs(held_out) == {p for p in pairs(full) if p[1] in items}
    again = strong_generalization(data, 10, rng=98765)
    assert pairs(again.test_held_out) == pairs(split.test_held_out)
    half = strong_generalization(data, 0.1, rng=1, held_out_fraction=0.5, min_items=5)
    n = half.test_fold_in.row_lengths() + half.test_held_out.row_lengths()
    assert (n < 5).any()                         # users below min_items keep everything
    assert (half.test_held_out.row_lengths() == np.where(n >= 5, n // 2, 0)).all()


def test_session_time_split_boundary_is_inclusive():
    day = 86400.0
    times = [0.0, 60.0, 5 * day, 5 * day + 60, 8 * day - 60, 8 * day, 9 * day, 10 * day]
    sessions = Sessions.from_lists([[0, 1], [1, 0], [0, 1], [1, 0]], n_items=2,
                                   times=times)
    split = session_time_split(sessions, days=2, validation=False)
    assert split.record["cut"] == 8 * day                 # last end 10 days - 2 days
    assert split.test.session_ids.tolist() == [2, 3]      # the session ending at the cut


# -- session splits ----------------------------------------------------------------------------
def timed_sessions(seed: int, n=200, n_items=30):
    rng = np.random.default_rng(seed)
    lists = [rng.integers(0, n_items, rng.integers(1, 6)).tolist() for _ in range(n)]
    start = np.sort(rng.uniform(0, 10 * 86400, n))
    times = np.concatenate([s + np.arange(len(x)) * 60.0 for s, x in zip(start, lists,
                                                                        strict=True)])
    return Sessions.from_lists(lists, n_items=n_items, times=times,
                               item_ids=np.arange(n_items) + 1000)


def test_session_time_split_follows_gru4rec():
    sessions = timed_sessions(0)
    split = session_time_split(sessions, days=2)
    cut = split.record["cut"]
    ends = lambda s: np.maximum.reduceat(s.times, s.offsets[:-1])  # noqa: E731
    assert (ends(split.train) < cut).all() and (ends(split.test) >= cut).all()
    assert (split.test.lengths() >= 2).all() and (split.valid.lengths() >= 2).all()
    assert (split.train.item_counts() > 0).all()                # vocabulary = train items
    train_items = set(split.train.item_ids[split.train.items].tolist())
    assert set(split.test.item_ids[split.test.items].tolist()) <= train_items
    assert (ends(split.train_tr) < split.record["valid_cut"]).all()
    assert split.train_tr.n_sessions + split.valid.n_sessions \
        + split.record["valid_sessions_dropped_short"] == split.train.n_sessions
    lists = [sessions.session(s).tolist() for s in range(sessions.n_sessions)]
    untimed = Sessions.from_lists(lists, n_items=30)
    by_order = session_time_split(untimed, fraction=0.1)
    assert by_order.record["test_sessions_by_order"] == 20
    assert by_order.train.n_sessions == 180
    with pytest.raises(DataError, match="needs timestamps"):
        session_time_split(untimed, days=1)


def _split_of(model: str, seed: int, split_seed: int | None):
    from nprec.experiment import resolve_settings
    from nprec.run_data import load_run_data

    flags = {"train.seed": seed, "data.split_seed": split_seed,
             "data.synthetic_users": 200, "data.synthetic_items": 80}
    settings = resolve_settings(model, flags=flags)
    data = load_run_data(settings, "ratings" if model == "biasedmf" else "interactions")
    test = data.folds["test"][1] if data.folds else data.test
    return test.user_ids[np.repeat(np.arange(test.n_users), np.diff(test.indptr))], \
        test.item_ids[test.indices]


@pytest.mark.parametrize("model", ["biasedmf", "multdae"])   # random split, strong split
def test_split_seed_holds_the_data_while_the_run_seed_varies(model):
    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    held = _split_of(model, seed=1, split_seed=3)
    # The run seed no longer moves the data (synthetic data and split) ...
    assert same(held, _split_of(model, seed=2, split_seed=3))
    # ... which is the split train.seed = 3 makes when split_seed is unset,
    assert same(held, _split_of(model, seed=3, split_seed=None))
    # and without split_seed the run seed draws the split.
    assert not same(_split_of(model, seed=1, split_seed=None),
                    _split_of(model, seed=2, split_seed=None))


@pytest.mark.parametrize("validation", [False, True])
def test_a_test_window_holding_every_session_is_a_data_error(validation):
    from nprec.data import synthetic_sessions

    sessions = synthetic_sessions(50, 100, days=3, seed=1)
    with pytest.raises(DataError, match="hold every session, leaving none to train on"):
        session_time_split(sessions, days=10.0, validation=validation)
    # A 1.9-day test window of the 3 days leaves about 1.1 days of training sessions, which
    # the validation window, as long, then takes whole.
    with pytest.raises(DataError, match=r"leaving none to train on \(fitting and validation\)"):
        session_time_split(sessions, days=1.9, validation=True)
