"""Every bad input is one DataError line naming the file and, for a bad line, its number."""

from __future__ import annotations

import bz2
import gzip
import lzma
import pathlib
import zipfile

import numpy as np
import pytest
from read_errors import fails

from nprec.data import read_interactions, read_ncf_negatives, read_sessions
from nprec.errors import DataError


def test_missing_directory_permission(tmp_path, monkeypatch):
    fails(tmp_path / "absent.dat", "no such file")
    fails(tmp_path, "is a directory")
    path = tmp_path / "u.data"
    path.write_text("1\t2\t3\t4\n")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    # The suite may run as root, which ignores file modes: simulate the refusal instead.
    monkeypatch.setattr(pathlib.Path, "read_bytes", denied)
    fails(path, "permission denied")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_files(tmp_path, content):
    path = tmp_path / "u.data"
    path.write_bytes(content)
    fails(path, "empty")
    (tmp_path / "r.gz").write_bytes(gzip.compress(content))
    fails(tmp_path / "r.gz", "empty")


def test_header_only_file(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n")
    fails(path, "no data lines")


def test_truncated_and_corrupt_compressed_files(tmp_path):
    raw = b"1\t2\t3\t4\n" * 2000
    for name, packed in (("a.gz", gzip.compress(raw)), ("a.bz2", bz2.compress(raw)),
                         ("a.xz", lzma.compress(raw))):
        path = tmp_path / name
        path.write_bytes(packed[:len(packed) // 2])
        fails(path, "truncated" if name.endswith(".gz") else "")
    (tmp_path / "b.gz").write_bytes(gzip.compress(raw)[:10] + b"garbage" * 20)
    fails(tmp_path / "b.gz", "gzip")
    (tmp_path / "plain.gz").write_bytes(raw)
    fails(tmp_path / "plain.gz", "not a gzip file")
    with zipfile.ZipFile(tmp_path / "z.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("u.data", raw)
    packed = (tmp_path / "z.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(packed[:len(packed) // 2])
    fails(tmp_path / "cut.zip", "zip")


def test_binary_garbage(tmp_path):
    path = tmp_path / "u.data"
    path.write_bytes(b"1\t2\t3\t4\n5\t6\t7\t8\n" + bytes(range(256)) * 4)
    fails(path, f"{path}:3: binary data")
    noisy = np.random.default_rng(0).integers(1, 256, 4000, dtype=np.uint8).tobytes()
    (tmp_path / "n.data").write_bytes(b"1\t2\t3\t4\n" + noisy)
    fails(tmp_path / "n.data", f"{tmp_path / 'n.data'}:2:", format="ml-100k")


def test_wrong_number_of_fields_names_the_line(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::2::5::978300760\n" * 16 + "1::3::5\n" + "1::4::5::1\n")
    message = fails(path, ":17: expected 4 fields separated by '::', got 3")
    assert message == f"{path}:17: expected 4 fields separated by '::', got 3"
    tsv = tmp_path / "u.data"
    tsv.write_text("1\t2\t3\t4\n\n1\t2\t3\t4\t5\n")
    fails(tsv, ":3: expected 4 fields separated by tabs, got 5")
    tsv.write_text("1\t2\t3\n1\t2\t3\t4\t5\n")            # the totals match: 8 = 2 x 4
    fails(tsv, ":1: expected 4 fields separated by tabs, got 3", format="ml-100k")


def test_non_numeric_values(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("1\t2\t3\t4\nabc\t2\t3\t4\n")
    fails(path, ":2: user id 'abc' is not an integer")
    path.write_text("1\t2\t3\t4\n2\t2\tfive\t4\n")
    fails(path, ":2: rating 'five' is not a number")
    path.write_text("1\t2\t3\t4\n2\t2\t\t4\n")
    fails(path, ":2: rating '' is empty")
    path.write_text("1\t99999999999999999999\t3\t4\n")
    fails(path, ":1: item id '99999999999999999999' is not an integer")


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity", "NaN"])
def test_non_finite_ratings_and_times(tmp_path, bad):
    path = tmp_path / "u.data"
    path.write_text(f"1\t2\t3\t4\n1\t3\t{bad}\t4\n")
    fails(path, f":2: rating '{bad}' is not a finite number")
    path.write_text(f"1\t2\t3\t4\n1\t3\t3\t{bad}\n")
    fails(path, f":2: timestamp '{bad}' is not a finite number")


def test_unknown_formats(tmp_path):
    path = tmp_path / "mystery.txt"
    path.write_text("hello world, what is this?\n")
    fails(path, "cannot tell the file's format")
    fails(path, "unknown format 'parquet'", format="parquet")
    fails(path, "pass columns=", format="csv")


def test_wrong_reader_for_the_file(tmp_path):
    path = tmp_path / "train_sessions.txt"
    path.write_text("1 2 3\n4 5\n")
    fails(path, "read them with read_sessions")
    data = tmp_path / "u.data"
    data.write_text("1\t2\t3\t4\n")
    fails(data, "read them with read_interactions", reader=read_sessions)


def test_bad_dates_and_sessions(tmp_path):
    path = tmp_path / "yoochoose-clicks.dat"
    path.write_text("1,2014-04-07T10:51:09.277Z,214536502,0\n1,2014-13-07T10:51:09Z,5,0\n")
    fails(path, ":2: timestamp '2014-13-07T10:51:09Z' is not a date-time", reader=read_sessions)
    digi = tmp_path / "train-item-views.csv"
    digi.write_text("sessionId;userId;itemId;timeframe;eventdate\n1;NA;2;3;2016-02-30\n")
    fails(digi, ":2: eventdate '2016-02-30' is not a date-time", reader=read_sessions)


def test_srgnn_test_samples_that_are_not_whole_sessions(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("1 2 3\t4\n1 2\t3\n7\t8\n")          # [1] -> 2 replaced by [7] -> 8
    fails(path, ":3: this sample is not a prefix of the session of line 1",
          reader=read_sessions, format="srgnn-test")
    path.write_text("1 2 3\t4\n1\t2\n")                  # prefix of length 2 is missing
    fails(path, ":2: a sample with a prefix of 1 items where the session of line 1 needs 2",
          reader=read_sessions)
    path.write_text("1 2 3\t4\n1 9\t3\n1\t2\n")          # not a prefix of the session
    fails(path, ":2: this sample is not a prefix of the session of line 1",
          reader=read_sessions)
    path.write_text("1 2\t3\n")                           # file ends inside a session
    fails(path, ":1: the file ends inside the session of line 1", reader=read_sessions)
    path.write_text("1 2\t3\t4\n")
    fails(path, ":1: expected 'prefix<TAB>label'", reader=read_sessions, format="srgnn-test")


def test_ncf_negative_errors(tmp_path):
    path = tmp_path / "x.test.negative"
    path.write_text("(0,1)\t2\t3\n(1,2)\t4\n")
    fails(path, ":2: expected (user,item) and 2 negatives, got 1 negatives",
          reader=read_ncf_negatives)
    path.write_text("(0,1)\t2\t3\n1,2\t4\t5\n")
    fails(path, ":2: expected a line like '(user,item)", reader=read_ncf_negatives)
    path.write_text("(0,1)\t2\t3\n(1,2)\t4\tx\n")
    fails(path, ":2: id 'x' is not an integer", reader=read_ncf_negatives)


def test_unknown_ids_name_the_earliest_line(tmp_path):
    train = tmp_path / "train.tsv"
    train.write_text("user\titem\n1\t10\n2\t20\n")
    vocab, _ = read_interactions(train)
    test = tmp_path / "test.tsv"
    test.write_text("user\titem\n1\t20\n1\t30\n7\t10\n")
    fails(test, ":3: item 30 is not in the given item vocabulary", users=vocab.users,
          items=vocab.items)
    with pytest.raises(DataError, match="unknown='sometimes'"):
        read_interactions(test, users=vocab.users, unknown="sometimes")
