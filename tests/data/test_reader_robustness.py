"""Files that are not what they claim to be: one DataError line naming the file, never a
traceback and never data read silently wrong.

SR-GNN files with tokens that are not item ids, zip archives nprec cannot read, timestamps
that cannot be dates, and error messages that must make sense on the command line too.
"""

from __future__ import annotations

import struct
import zipfile

import numpy as np
import pytest
from read_errors import fails

from nprec.cli import main
from nprec.data import (
    Interactions,
    describe,
    download,
    leave_one_out,
    read_interactions,
    read_ncf_negatives,
    read_sessions,
)
from nprec.data import downloads as dl
from nprec.errors import DataError


# -- SR-GNN session files ---------------------------------------------------------------------
@pytest.mark.parametrize("token, problem", [
    ("x", "is not an integer"),
    ("2.5", "is not an integer"),
    ("1e3", "is not an integer"),
    ("-", "is not an integer"),
    ("-2", "has a sign"),
    ("+2", "has a sign"),
    ("99999999999999999999", "has more than 18 digits"),
])
def test_srgnn_tokens_that_are_not_item_ids(tmp_path, token, problem):
    path = tmp_path / "train_sessions.txt"
    path.write_text(f"1 2 3\n1 2 {token} 4\n5 6\n")        # first line valid: detected srgnn
    fails(path, f":2: item id {token!r} {problem}", reader=read_sessions)
    test = tmp_path / "test.tsv"
    test.write_text(f"1 {token}\t4\n1\t{token}\n")
    fails(test, f":1: item id {token!r} {problem}", format="srgnn-test", reader=read_sessions)


def test_srgnn_lines_with_tabs_are_another_format(tmp_path):
    path = tmp_path / "sessions.txt"
    path.write_text("1 2 3\n7\t8 9\n")
    fails(path, ":2: a tab in an SR-GNN session line", reader=read_sessions)
    ratings = tmp_path / "u.data"                              # MovieLens ratings
    ratings.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    fails(ratings, ":1: a tab in an SR-GNN session line", format="srgnn", reader=read_sessions)


def test_srgnn_ids_are_integers_however_written(tmp_path):
    path = tmp_path / "sessions.txt"
    path.write_text("1 2 3\n\n 007  0 \n")
    s, info = read_sessions(path)
    assert info["format"] == "srgnn" and s.item_ids.dtype.kind == "i"
    assert s.item_ids[s.items].tolist() == [1, 2, 3, 7, 0]


# -- zip archives nprec cannot read -----------------------------------------------------------
RATINGS = b"1\t2\t3\t881250949\n2\t3\t4\t881250950\n"


def _zip(path, entries, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in entries:
            z.writestr(name, data)
    return path


def _patch_headers(path, offset_local: int, offset_central: int, fmt: str, value) -> None:
    """Write `value` into the (single) member's local header and its central directory entry
    at the given offsets, as a zip tool that sets the field would."""
    raw = bytearray(path.read_bytes())
    central = raw.find(b"PK\x01\x02")
    for at in (offset_local, central + offset_central):
        old = struct.unpack_from(fmt, raw, at)[0]
        struct.pack_into(fmt, raw, at, value(old))
    path.write_bytes(bytes(raw))


def test_encrypted_zip_member(tmp_path):
    path = _zip(tmp_path / "ml.zip", [("u.data", RATINGS)])
    _patch_headers(path, 6, 8, "<H", lambda flags: flags | 0x1)   # general purpose bit 0
    fails(path, "u.data is encrypted", reader=read_interactions)


def test_unknown_zip_compression_method(tmp_path):
    path = _zip(tmp_path / "ml.zip", [("u.data", RATINGS)])
    _patch_headers(path, 8, 10, "<H", lambda method: 99)         # WinZip AES
    fails(path, "u.data is compressed with zip method 99", reader=read_interactions)


@pytest.mark.parametrize("entries, problem", [
    ([("data/", b"")], "only folders"),
    ([(".DS_Store", b"x"), ("__MACOSX/._u.data", b"y"), ("ml/", b"")], "only folders"),
    ([], "it is empty"),
])
def test_zip_without_a_data_file(tmp_path, entries, problem):
    path = _zip(tmp_path / "ml.zip", entries)
    fails(path, f"holds no data file ({problem}", reader=read_interactions)
    fails(path, "holds no data file", reader=read_sessions)


def test_corrupt_lzma_zip_member(tmp_path):
    path = _zip(tmp_path / "ml.zip", [("u.data", RATINGS * 500)], zipfile.ZIP_LZMA)
    raw = bytearray(path.read_bytes())
    for k in range(60, 80):                                      # inside the compressed data
        raw[k] ^= 0x55
    path.write_bytes(bytes(raw))
    fails(path, "corrupt or truncated zip archive", reader=read_interactions)


# -- timestamps that cannot be dates ----------------------------------------------------------
def test_timestamps_beyond_any_date_are_refused_with_their_line(tmp_path):
    ratings = tmp_path / "u.data"
    ratings.write_text("1\t2\t3\t881250949\n1\t3\t3\t99999999999999999999999\n")
    fails(ratings, ":2: timestamp 1e+23 cannot be a date", reader=read_interactions)
    events = tmp_path / "events.txt"
    events.write_text("SessionId\tItemId\tTime\n1\t2\t5\n1\t3\t-1e30\n")
    fails(events, ":3: timestamp -1e+30 cannot be a date", reader=read_sessions)
    ratings.write_text("1\t2\t3\t881250949\n1\t3\t3\t9000000000000000000\n")  # ns-sized
    data, _ = read_interactions(ratings)
    assert describe(data)["time_range"]["last"].startswith("285198648531-")


def test_describe_a_container_with_a_time_beyond_dates():
    data = Interactions(np.array([0, 2]), np.array([0, 1]), 2, times=np.array([5.0, 1e30]))
    span = describe(data)["time_range"]
    assert span["first"] == "1970-01-01T00:00:05Z" and span["last"] == "1e+30 s"


def test_data_info_and_train_report_the_timestamp_line(tmp_path, capsys):
    path = tmp_path / "ratings.tsv"
    rows = [f"{u}\t{i}\t3\t{881250949 + 10 * u + i}" for u in range(1, 6) for i in range(1, 5)]
    rows[6] = "2\t3\t3\t99999999999999999999999"
    path.write_text("\n".join(rows) + "\n")
    for argv in (["data", "info", str(path)],
                 ["train", "mf", "--data", str(path), "--epochs", "1", "--quiet",
                  "--out", str(tmp_path / "run")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{path}:7: timestamp 1e+23" in err[0], err


# -- messages the command line shows say what to do there -------------------------------------
def cli_error(capsys, argv) -> str:
    """Run `nprec ARGV`, expect exit status 2 and one error line; return the line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nprec: error: "), err
    return err[0]


def train(path, tmp_path, *more) -> list[str]:
    return ["train", *more, "--data", str(path), "--epochs", "1", "--quiet",
            "--out", str(tmp_path / "run")]


def test_an_archive_member_is_named_on_the_command_line(tmp_path, capsys):
    path = _zip(tmp_path / "split.zip", [("a/train.tsv", RATINGS), ("a/test.tsv", RATINGS)])
    message = fails(path, f"name the one to read as {path}:MEMBER", reader=read_interactions)
    assert f"e.g. {path}:a/train.tsv" in message and "member= in Python" in message
    assert f"name the one to read as {path}:MEMBER" in cli_error(capsys, ["data", "info",
                                                                          str(path)])
    assert main(["data", "info", f"{path}:a/test.tsv", "--format", "ml-100k"]) == 0
    assert "interactions" in capsys.readouterr().out
    data, info = read_interactions(f"{path}:test.tsv", "ml-100k")     # a base name will do
    assert data.nnz == 2 and info["path"] == f"{path}:a/test.tsv"
    with pytest.raises(DataError, match=f"^{path}: no member 'nope.tsv' in the archive"):
        read_interactions(f"{path}:nope.tsv")


def test_a_file_of_another_kind_says_which_model_or_reader(tmp_path, capsys):
    sessions = tmp_path / "events.txt"
    sessions.write_text("SessionId\tItemId\tTime\n1\t2\t3\n1\t3\t4\n")
    message = cli_error(capsys, train(sessions, tmp_path, "mf"))
    assert "gru4rec files hold sessions, not user-item interactions: train a session " \
           "model on the file" in message
    assert "read them with read_sessions in Python" in message
    ratings = tmp_path / "u.data"
    ratings.write_bytes(RATINGS)
    message = cli_error(capsys, train(ratings, tmp_path, "gru4rec"))
    assert "train a user-item model on the file" in message
    negatives = tmp_path / "ml.test.negative"
    negatives.write_text("(0,1)\t2\t3\n(1,2)\t4\t5\n")
    for model in ("mf", "gru4rec"):
        message = cli_error(capsys, train(negatives, tmp_path, model))
        assert "give the file as --set data.negatives_file=FILE" in message
    csv = tmp_path / "clicks.csv"
    csv.write_text("session,item\n1,2\n")
    fails(csv, "the file holds sessions (a session column and no user "
               "column), not user-item interactions: train a session")


def test_columns_and_formats_are_named_for_both_audiences(tmp_path, capsys):
    path = tmp_path / "plain.csv"
    path.write_text("1;2;3\n4;5;6\n")
    message = cli_error(capsys, train(path, tmp_path, "mf", "--set", "data.format=csv"))
    assert "no header line naming the columns; add one (e.g. userId;itemId;" in message
    assert "pass columns={'user': 0, 'item': 1, ...} in Python" in message
    path.write_text("user;thing;rating\n4;5;6\n")
    message = cli_error(capsys, ["data", "info", str(path), "--format", "csv"])
    assert "no item column in the header 'user;thing;rating'" in message
    assert "rename the column" in message and "movieid" in message
    path.write_text("what is this\n")
    message = cli_error(capsys, ["data", "info", str(path)])
    assert "--set data.format=NAME for train, --format NAME for data info" in message


def test_foreign_negatives_file(tmp_path, capsys):
    rows = [f"{u}\t{i}\t3\t{100 * u + i}" for u in range(6) for i in range(5)]
    data = tmp_path / "ml.train.rating"
    data.write_text("\n".join(rows) + "\n")
    negatives = tmp_path / "ml.test.negative"
    negatives.write_text("".join(f"({u},4)\t0\t{'500' if u == 2 else '1'}\n" for u in range(6)))
    message = cli_error(capsys, train(data, tmp_path, "mf", "--protocol", "ncf-loo99", "--set",
                                      f"data.negatives_file={negatives}"))
    assert f"{negatives}:3: item 500 is not in the given item vocabulary" in message
    assert "unknown=" not in message and "same data set" in message
    train_data, _ = read_interactions(data)
    fails(negatives, ":3: item 500", items=train_data.items, reader=read_ncf_negatives)


def test_a_stale_download_says_how_to_fetch_again(tmp_path, monkeypatch):
    monkeypatch.setitem(dl.ARCHIVES, "ml-1m", dl.Archive("file:///nowhere", 1, "0" * 64, ""))
    (tmp_path / "ml-1m.zip").write_bytes(b"stale")
    with pytest.raises(DataError) as err:
        download("ml-1m", tmp_path)
    message = str(err.value)
    assert "delete it to download it again (or pass force=True in Python)" in message


def test_test_pairs_in_the_training_data_name_both_files(tmp_path, capsys):
    train_file = tmp_path / "loo.train.tsv"
    train_file.write_text("user\titem\ttimestamp\n1\t10\t1\n1\t11\t2\n2\t10\t3\n"
                          "2\t12\t4\n3\t11\t5\n3\t12\t6\n")
    test_file = tmp_path / "loo.test.tsv"
    test_file.write_text("user\titem\n1\t12\n2\t12\n3\t10\n")
    expected = (f"{test_file}: 1 test pairs also occur in the training data {train_file} "
                f"(the first: user 2, item 12, line 3 of the test file, line 5 of the "
                f"training file)")
    assert expected in cli_error(capsys, train(train_file, tmp_path, "mf", "--test",
                                               str(test_file)))
    data, _ = read_interactions(train_file)
    test, _ = read_interactions(test_file, users=data.users, items=data.items)
    with pytest.raises(DataError) as err:
        leave_one_out(data, test=test)
    assert expected in str(err.value)
    built = Interactions(data.indptr, data.indices, data.n_items, user_ids=data.user_ids,
                         item_ids=data.item_ids)                       # no file, no lines
    with pytest.raises(DataError) as err:
        leave_one_out(built, test=test.select_entries(np.ones(test.nnz, bool)))
    assert str(err.value).startswith(f"{test_file}: 1 test pairs")
    assert "line 5 of the training file" not in str(err.value)
