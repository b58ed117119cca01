"""Every reader on small files written here, in every compression, plus vocabularies."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import numpy as np
import pytest

import nprec.data.fields as fields
from nprec.data import (
    detect_format,
    read_interactions,
    read_ncf_negatives,
    read_sessions,
    write_atomic,
)
from nprec.errors import DataError

COMPRESSIONS = ["plain", "gz", "bz2", "xz", "zip"]


def write(tmp_path, name: str, text: str, compression: str = "plain"):
    raw = text.encode()
    if compression == "plain":
        path = tmp_path / name
        path.write_bytes(raw)
    elif compression == "zip":
        path = tmp_path / (name + ".zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"folder/{name}", raw)
    else:
        compress = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[compression]
        path = tmp_path / f"{name}.{compression}"
        path.write_bytes(compress(raw))
    return path


ML100K = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n"


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_ml100k_in_every_compression(tmp_path, compression):
    data, info = read_interactions(write(tmp_path, "u.data", ML100K, compression))
    assert info["format"] == "ml-100k" and info["rows"] == 3
    assert data.user_ids.tolist() == [186, 196] and data.item_ids.tolist() == [242, 302]
    assert data.indptr.tolist() == [0, 1, 3]
    assert data.indices.tolist() == [1, 0, 1]
    assert data.ratings.tolist() == [3, 3, 5]
    assert data.times.tolist() == [891717742, 881250949, 881250950]
    assert data.positions.tolist() == [2, 1, 3]                        # file lines


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_ml1m_dat_and_ml20m_csv(tmp_path, compression):
    dat = "1::1193::5::978300760\n1::661::3::978302109\r\n2::1193::4::978298413"  # no final \n
    data, info = read_interactions(write(tmp_path, "ratings.dat", dat, compression))
    assert info["format"] == "ml-1m" and data.nnz == 3
    assert data.item_ids.tolist() == [661, 1193] and data.times[-1] == 978298413
    csv = "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n"
    data, info = read_interactions(write(tmp_path, "ratings.csv", csv, compression))
    assert info["format"] == "ml-20m" and data.ratings.tolist() == [3.5, 3.5]


def test_a_file_named_ratings_csv_is_read_by_its_header(tmp_path):
    # MovieLens 20M's file name does not make a file MovieLens: its header decides.
    data, info = read_interactions(write(tmp_path, "ratings.csv", "user,item\n1,2\n3,4\n"))
    assert info["format"] == "csv" and data.nnz == 2 and data.ratings is None
    # Without a header its first line is data, not a header to skip: the format is asked for.
    with pytest.raises(DataError, match="format"):
        read_interactions(write(tmp_path, "ratings.csv", "1,2,3.5,1112486027\n"))


def test_zip_with_several_members_needs_a_name(tmp_path):
    path = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-1m/movies.dat", "1::Toy Story (1995)::Animation\n")
        z.writestr("ml-1m/ratings.dat", "1::1::5::978300760\n")
        z.writestr("ml-1m/users.dat", "1::F::1::10::48067\n")
    data, info = read_interactions(path)                                # the ratings member
    assert info["path"].endswith("ml-1m.zip:ml-1m/ratings.dat") and data.nnz == 1
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("a.tsv", "userId\titemId\n1\t2\n")
        z.writestr("b.tsv", "userId\titemId\n3\t4\n5\t6\n")
    assert read_interactions(tmp_path / "other.zip", member="b.tsv")[0].nnz == 2


def test_csv_named_columns_string_ids_and_mapping(tmp_path):
    text = "item;user;score;time\nx;alice;1;10\ny;bob;2;20\nx;bob;3;30\n"
    data, info = read_interactions(write(tmp_path, "f.csv", text))
    assert info["format"] == "csv"
    assert data.user_ids.tolist() == ["alice", "bob"] and data.item_ids.tolist() == ["x", "y"]
    assert data.ratings.tolist() == [1, 3, 2] and data.times.tolist() == [10, 30, 20]
    plain = "7,a,5\n8,b,4\n"                                            # no header
    data, _ = read_interactions(write(tmp_path, "g.csv", plain), format="csv",
                                columns={"user": 0, "item": 1, "rating": 2})
    assert data.user_ids.tolist() == [7, 8] and data.item_ids.tolist() == ["a", "b"]
    spaced = "user, item, rating\n1, 2, 3.0\n"
    assert read_interactions(write(tmp_path, "h.csv", spaced))[0].ratings.tolist() == [3.0]


def test_non_canonical_integers_stay_distinct_string_ids(tmp_path):
    data, _ = read_interactions(write(tmp_path, "f.tsv", "user\titem\n1\t007\n1\t7\n"))
    assert data.item_ids.tolist() == ["007", "7"] and data.nnz == 2


def test_duplicates_keep_the_latest_by_time_then_by_line(tmp_path):
    rows = [(1, 5, 100), (1, 5, 300), (1, 5, 200), (2, 6, 1), (2, 6, 1), (3, 7, 50),
            (3, 7, 50), (3, 7, 10)]                                     # rating = line
    text = "".join(f"{u}\t{i}\t{n}\t{t}\n" for n, (u, i, t) in enumerate(rows, 1))
    data, info = read_interactions(write(tmp_path, "u.data", text))
    assert info["duplicates_dropped"] == 5
    assert data.ratings.tolist() == [2, 5, 7]    # latest time; equal times: the later line
    assert data.positions.tolist() == [2, 5, 7]
    no_time, _ = read_interactions(write(tmp_path, "p.tsv", "user\titem\n1\t5\n1\t5\n"))
    assert no_time.positions.tolist() == [3]


def test_test_file_in_the_training_vocabulary(tmp_path):
    train, _ = read_interactions(write(tmp_path, "train.tsv", "user\titem\n1\t10\n2\t20\n3\t10\n"))
    test_text = "user\titem\n2\t10\n3\t30\n9\t20\n"
    path = write(tmp_path, "test.tsv", test_text)
    with pytest.raises(Exception, match=r"test.tsv:3: item 30 is not in the given"):
        read_interactions(path, users=train.users, items=train.items)
    test, info = read_interactions(path, users=train.users, items=train.items, unknown="drop")
    assert info["unknown_dropped"] == 2 and test.nnz == 1 and test.shape == train.shape
    assert test.item_ids is train.item_ids and test.row(1).tolist() == [0]
    test, info = read_interactions(path, users=train.user_ids, items=train.item_ids,
                                   unknown="extend")
    assert info["new_users"] == 1 and info["new_items"] == 1
    assert test.user_ids.tolist() == [1, 2, 3, 9] and test.item_ids.tolist() == [10, 20, 30]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_atomic_round_trip(tmp_path, compression):
    text = ("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
            "a\tx\t4.5\t10.25\nb\ty\t3\t20\na\ty\t1\t5\n")
    data, info = read_interactions(write(tmp_path, "d.inter", text, compression))
    assert info["format"] == "atomic" and data.user_ids.tolist() == ["a", "b"]
    out = tmp_path / "out.inter.gz"
    write_atomic(data, out)
    again, _ = read_interactions(out)
    for name in ("indptr", "indices", "ratings", "times", "user_ids", "item_ids"):
        assert np.array_equal(getattr(again, name), getattr(data, name)), name


YOOCHOOSE = ("1,2014-04-07T10:54:09.868Z,214536500,0\n1,2014-04-07T10:51:09.277Z,214536502,0\n"
             "2,2014-04-06T20:21:58.444Z,214662742,S\n2,2014-04-06T20:22:00.000Z,214662742,S\n")


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_yoochoose_clicks(tmp_path, compression):
    s, info = read_sessions(write(tmp_path, "yoochoose-clicks.dat", YOOCHOOSE, compression))
    assert info["format"] == "yoochoose"
    assert s.session_ids.tolist() == [2, 1]                  # ordered by start time
    assert s.item_ids[s.items].tolist() == [214662742, 214662742, 214536502, 214536500]
    assert s.times[0] == 1396815718.444 and s.times[2] == 1396867869.277


def test_diginetica_orders_by_timeframe_from_the_earliest_date(tmp_path):
    text = ("sessionId;userId;itemId;timeframe;eventdate\n"
            "1;NA;30;900;2016-05-10\n1;NA;10;100;2016-05-09\n1;5;20;100;2016-05-09\n"
            "2;NA;10;5;2016-05-01\n2;NA;40;7;2016-05-01\n")
    s, info = read_sessions(write(tmp_path, "train-item-views.csv", text, "gz"))
    assert info["format"] == "diginetica" and s.session_ids.tolist() == [2, 1]
    assert s.item_ids[s.session(1)].tolist() == [10, 20, 30]   # timeframe, ties by line
    day = 1462752000.0                                             # 2016-05-09 UTC
    assert s.times[s.offsets[1]:].tolist() == [day + 0.1, day + 0.1, day + 0.9]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_gru4rec_and_srgnn_files(tmp_path, compression):
    text = "SessionId\tItemId\tTime\n5\t11\t2.5\n5\t12\t1.0\n3\t12\t9\n"
    s, info = read_sessions(write(tmp_path, "events.txt", text, compression))
    assert info["format"] == "gru4rec" and s.session_ids.tolist() == [5, 3]
    assert s.item_ids[s.items].tolist() == [12, 11, 12]
    s, info = read_sessions(write(tmp_path, "train_sessions.txt", "4 5 5\n\n1 2\n", compression))
    assert info["format"] == "srgnn" and s.session_ids.tolist() == [1, 3]
    assert s.item_ids[s.items].tolist() == [4, 5, 5, 1, 2]
    test = "1 2 3\t4\n1 2\t3\n1\t2\n7\t8\n"
    s, info = read_sessions(write(tmp_path, "test.tsv", test, compression))
    assert info["format"] == "srgnn-test" and info["samples"] == 4
    assert s.lengths().tolist() == [4, 2] and s.session_ids.tolist() == [1, 4]
    assert s.item_ids[s.items].tolist() == [1, 2, 3, 4, 7, 8]


def test_srgnn_test_against_the_training_vocabulary(tmp_path):
    train, _ = read_sessions(write(tmp_path, "train.txt", "1 2 3\n2 3\n"))
    path = write(tmp_path, "test.tsv", "1 9 2\t3\n1 9\t2\n1\t9\n9\t9\n")
    s, info = read_sessions(path, item_ids=train.vocabulary, unknown="drop")
    assert info["unknown_dropped"] == 3 and info["sessions_dropped_empty"] == 1
    assert s.item_ids[s.items].tolist() == [1, 2, 3] and s.item_ids is train.item_ids


def test_many_small_blocks_give_the_same_result(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    rows = [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in zip(
        rng.integers(1, 50, 300), rng.integers(1, 80, 300), rng.integers(1, 6, 300),
        rng.integers(0, 10 ** 9, 300), strict=True)]
    path = write(tmp_path, "u.data", "\n".join(rows) + "\n\n")
    whole, _ = read_interactions(path)
    monkeypatch.setattr(fields, "BLOCK_BYTES", 50)
    pieces, _ = read_interactions(path)
    for name in ("indptr", "indices", "ratings", "times", "positions", "user_ids"):
        assert np.array_equal(getattr(whole, name), getattr(pieces, name)), name
    s1, _ = read_sessions(write(tmp_path, "s.txt", "1 2 3\n4 5\n6 7 8 9\n" * 20))
    assert s1.n_sessions == 60 and s1.lengths()[:3].tolist() == [3, 2, 4]


def test_ncf_files(tmp_path):
    rating = "0\t25\t5\t978824351\n1\t133\t3\t978300174\n"
    data, info = read_interactions(write(tmp_path, "ml-1m.test.rating", rating, "gz"))
    assert info["format"] == "ncf" and data.user_ids.tolist() == [0, 1]
    neg = "(0,25)\t1\t2\t25\n(1,133)\t4\t5\t6\n"
    path = write(tmp_path, "ml-1m.test.negative", neg)
    assert detect_format(path).name == "ncf-negative"
    result, info = read_ncf_negatives(path)
    assert result.users.tolist() == [0, 1] and result.items.tolist() == [25, 133]
    assert result.negatives.tolist() == [[1, 2, 25], [4, 5, 6]]
    assert info["negatives_per_user"] == 3 and info["positive_among_negatives"] == 1
    items = np.array([1, 2, 4, 5, 6, 25, 133])
    mapped, _ = read_ncf_negatives(path, users=np.array([0, 1]), items=items)
    assert mapped.items.tolist() == [5, 6] and mapped.negatives[1].tolist() == [2, 3, 4]


def test_sessions_written_as_atomic_read_back(tmp_path):
    s, _ = read_sessions(write(tmp_path, "yoochoose-clicks.dat", YOOCHOOSE))
    write_atomic(s, tmp_path / "s.inter")
    again, info = read_sessions(tmp_path / "s.inter")
    assert info["format"] == "atomic"
    for name in ("offsets", "items", "times", "session_ids", "item_ids"):
        assert np.array_equal(getattr(again, name), getattr(s, name)), name
