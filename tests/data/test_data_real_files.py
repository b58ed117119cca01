"""The real data sets read exactly to the statistics in shared/data/README.md."""

from __future__ import annotations

import gzip

import numpy as np

from nprec.data import (
    describe,
    extend_items,
    leave_one_out,
    read_interactions,
    read_ncf_negatives,
    read_sessions,
    session_time_split,
)


def test_ml1m_loo_split(shared_data):
    folder = shared_data / "ml-1m" / "loo_split"
    train, info = read_interactions(folder / "ml-1m.loo.train.tsv.gz")
    test, test_info = read_interactions(folder / "ml-1m.loo.test.tsv.gz", users=train.users,
                                        items=train.items, unknown="extend")
    assert info["interactions"] == 994_169 and test.nnz == 6_040
    assert train.n_users == test.n_users == 6_040 and test.n_items == 3_706
    assert test_info["new_users"] == 0 and test_info["new_items"] == 2
    assert (test.row_lengths() == 1).all()
    train = extend_items(train, test.item_ids)
    split = leave_one_out(train, test=test)                     # raises on any overlap
    assert split.valid.nnz == 6_040 and split.train_tr.nnz == 994_169 - 6_040
    assert train.users.index(1) == 0 and test.item_ids[test.row(0)].tolist() == [48]
    # Validation = each user's last training row in file order (rows are in time order).
    table = np.array(gzip.open(folder / "ml-1m.loo.train.tsv.gz").read().split()[2:],
                     dtype=np.int64).reshape(-1, 2)                      # (nnz, 2)
    users, last = np.unique(table[::-1, 0], return_index=True)
    expected = dict(zip(users.tolist(), table[::-1][last, 1].tolist(), strict=True))
    valid_users = split.valid.entry_users()
    got = dict(zip(split.valid.user_ids[valid_users].tolist(),
                   split.valid.item_ids[split.valid.indices].tolist(), strict=True))
    assert got == expected


def test_ml1m_ratings_partial(shared_data):
    data, info = read_interactions(shared_data / "ml-1m" / "ratings_partial"
                                   / "ml-1m.ratings_known.tsv.gz")
    assert info["rows"] == 663_062 and info["duplicates_dropped"] == 0
    stats = describe(data)
    assert stats["ratings"]["4"] == 348_971 and stats["ratings"]["5"] == 226_310
    assert stats["time_range"]["first"].startswith("2000-04-25")
    assert stats["time_range"]["last"].startswith("2003-02-28")


def test_ml100k(shared_data):
    data, info = read_interactions(shared_data / "ml-100k" / "u.data")
    assert info["format"] == "ml-100k"
    assert (data.nnz, data.n_users, data.n_items) == (100_000, 943, 1_682)
    stats = describe(data)
    assert stats["ratings"] == {"1": 6_110, "2": 11_370, "3": 27_145, "4": 34_174,
                                "5": 21_201}
    assert stats["time_range"]["first"].startswith("1997-09-20")
    assert stats["time_range"]["last"].startswith("1998-04-22")


def test_ncf_test_files(shared_data):
    folder = shared_data / "ml-1m" / "ncf"
    data, info = read_interactions(folder / "ml-1m.test.rating")
    assert info["format"] == "ncf" and data.nnz == 6_040
    assert data.user_ids.tolist() == list(range(6_040)) and data.item_ids.max() < 3_706
    negatives, info = read_ncf_negatives(folder / "ml-1m.test.negative",
                                         users=data.user_ids)
    assert negatives.negatives.shape == (6_040, 99)
    assert np.array_equal(negatives.users, np.arange(6_040))
    assert info["positive_among_negatives"] == 156
    rows = data.entry_users()
    assert np.array_equal(data.item_ids[data.indices][np.argsort(rows)], negatives.items)


def _session_files(shared_data, name, train_sessions, train_events, samples, test_sessions,
                   items):
    folder = shared_data / "session" / name
    train, info = read_sessions(folder / "train_sessions.txt.gz")
    assert info["format"] == "srgnn"
    assert (train.n_sessions, train.n_events, train.n_items) == (train_sessions, train_events,
                                                                 items)
    assert describe(train)["next_item_targets"] == samples[0]
    test, info = read_sessions(folder / "test.tsv.gz")
    assert info["format"] == "srgnn-test" and info["samples"] == samples[1]
    assert test.n_sessions == test_sessions
    assert describe(test)["next_item_targets"] == samples[1]
    return train, test


def test_yoochoose1_64(shared_data):
    train, _ = _session_files(shared_data, "yoochoose1_64", 116_167, 486_026,
                              (369_859, 55_898), 15_324, 17_376)
    assert train.item_ids.min() == 1 and train.item_ids.max() <= 37_483
    test, info = read_sessions(shared_data / "session" / "yoochoose1_64" / "test.tsv.gz",
                               item_ids=train.vocabulary, unknown="extend")
    assert info["new_items"] == 369 and describe(test)["next_item_targets"] == 55_898


def test_diginetica(shared_data):
    train, test = _session_files(shared_data, "diginetica", 186_670, 906_140,
                                 (719_470, 60_858), 15_963, 43_097)
    assert train.n_events + test.n_events == 982_961


def test_rsc15_100k_and_its_gru4rec_split(shared_data):
    folder = shared_data / "session" / "rsc15_100k"
    counts = {"train_full": (70_278, 17_794, 2_933), "test": (13_568, 3_416, 1_771),
              "train_tr": (53_254, None, None), "train_valid": (16_539, None, None)}
    parts = {}
    for part, (events, sessions, items) in counts.items():
        parts[part], info = read_sessions(folder / f"yoochoose-clicks-100k_{part}.txt")
        assert info["format"] == "gru4rec" and parts[part].n_events == events
        if sessions is not None:
            assert (parts[part].n_sessions, parts[part].n_items) == (sessions, items)
    stats = describe(parts["train_full"])
    assert stats["time_range"]["first"].startswith("2014-04-01")
    # GRU4Rec's rule (last day, unseen items and short sessions dropped) applied to
    # train_full reproduces session-rec's own train_tr / train_valid files event for event.
    split = session_time_split(parts["train_full"], days=1, validation=False)
    for mine, theirs in ((split.train, parts["train_tr"]), (split.test, parts["train_valid"])):
        key = lambda s: sorted(zip(s.session_ids[np.repeat(np.arange(s.n_sessions),  # noqa
                                                           s.lengths())].tolist(),
                                   s.item_ids[s.items].tolist(), s.times.tolist(),
                                   strict=True))
        assert key(mine) == key(theirs)


def test_raw_samples(shared_data):
    folder = shared_data / "session" / "raw_samples"
    digi, info = read_sessions(folder / "diginetica_sample_train-item-views.csv")
    # README says "12,390 rows + header"; the file holds 12,392 lines: header + 12,391 rows.
    assert info["format"] == "diginetica" and info["rows"] == 12_391 == digi.n_events
    yoo, info = read_sessions(folder / "yoochoose_sample_clicks.dat")
    assert info["format"] == "yoochoose" and yoo.n_events == 1_913
    assert describe(yoo)["time_range"]["first"].startswith("2014-04")
