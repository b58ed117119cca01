"""Downloads (offline, verified success through file://, corrupt) and data statistics."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest

import nprec.data.downloads as dl
from nprec.data import (
    Interactions,
    Sessions,
    binarize,
    compact,
    dedupe_consecutive,
    describe,
    describe_file,
    download,
    filter_sessions,
    format_description,
    k_core,
    leave_one_out,
    ratio_split,
    read_interactions,
    read_ncf_negatives,
    read_sessions,
    session_time_split,
    strong_generalization,
    time_split,
    write_atomic,
)
from nprec.errors import DataError


def test_offline_download_says_what_to_do(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as err:
        download("ml-1m", tmp_path, progress=False)
    assert str(err.value) == (
        "cannot download ml-1m from https://files.grouplens.org/datasets/movielens/ml-1m.zip: "
        "[Errno -3] Temporary failure in name resolution; download it manually and pass "
        "--data PATH")
    assert list(tmp_path.iterdir()) == []                       # no partial file left
    with pytest.raises(DataError, match="unknown data set 'ml-2m'"):
        download("ml-2m", tmp_path)


def fake_archive(tmp_path):
    source = tmp_path / "server" / "ml-100k.zip"
    source.parent.mkdir()
    with zipfile.ZipFile(source, "w") as z:
        z.writestr("ml-100k/u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
        z.writestr("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995||\n")
    raw = source.read_bytes()
    return dl.Archive(source.as_uri(), len(raw), hashlib.sha256(raw).hexdigest(), "")


def test_verified_download_through_a_file_url(tmp_path, monkeypatch):
    archive = fake_archive(tmp_path)
    monkeypatch.setitem(dl.ARCHIVES, "ml-100k", archive)
    cache = tmp_path / "cache"
    path = download("ml-100k", cache, progress=False)
    assert path == cache / "ml-100k.zip" and sorted(p.name for p in cache.iterdir()) == [
        "ml-100k.zip"]
    data, info = read_interactions(path)                        # picks the u.data member
    assert data.nnz == 2 and info["path"].endswith("ml-100k.zip:ml-100k/u.data")

    def must_not_fetch(*args, **kwargs):
        raise AssertionError("a verified cached file must not be downloaded again")

    monkeypatch.setattr(urllib.request, "urlopen", must_not_fetch)
    assert download("ml-100k", cache) == path
    monkeypatch.setenv("NPREC_CACHE", str(cache))
    assert download("ml-100k") == path


def test_a_file_with_the_wrong_checksum_is_discarded(tmp_path, monkeypatch):
    archive = fake_archive(tmp_path)
    monkeypatch.setitem(dl.ARCHIVES, "ml-1m", dl.Archive(archive.url, archive.size,
                                                         "0" * 64, ""))
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="not the official file, so it was discarded"):
        download("ml-1m", cache, progress=False)
    assert list(cache.iterdir()) == []
    (cache / "ml-1m.zip").write_bytes(b"stale")
    with pytest.raises(DataError, match="does not match ml-1m's SHA-256"):
        download("ml-1m", cache)


def test_official_checksums_are_well_formed():
    for name, archive in dl.ARCHIVES.items():
        assert archive.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert len(archive.sha256) == 64 and len(archive.md5) == 32 and archive.size > 10 ** 6


def test_describe_interactions_and_sessions():
    data = Interactions.from_indices([0, 0, 1], [0, 2, 2], 2, 4, ratings=[5, 3.5, 5],
                                     times=[0.0, 86400.0 * 2, 86400.0])
    info = describe(data)
    assert (info["users"], info["items"], info["interactions"]) == (2, 4, 3)
    assert info["density"] == 3 / 8 and info["ratings"] == {"3.5": 1, "5": 2}
    assert info["entries_per_item"] == {"min": 0, "median": 0.5, "mean": 0.75, "max": 2}
    assert info["time_range"] == {"first": "1970-01-01T00:00:00Z",
                                  "last": "1970-01-03T00:00:00Z", "days": 2.0}
    text = format_description(info, "toy")
    assert text.splitlines()[0] == "toy" and "ratings           3.5: 1  5: 2" in text
    sessions = Sessions.from_lists([[1, 2, 3], [3], [0, 1]], n_items=5)
    s = describe(sessions)
    assert (s["sessions"], s["events"], s["items"], s["items_with_events"]) == (3, 6, 5, 4)
    assert s["next_item_targets"] == 3 and s["time_range"] is None
    assert s["session_length"] == {"min": 1, "median": 2.0, "mean": 2.0, "max": 3}
    assert "session length" in format_description(s)
    assert np.isfinite(describe(Interactions.from_indices([], [], 0, 0))["density"])


def test_records_are_json_and_describe_file_reads_any_kind(tmp_path):
    (tmp_path / "u.data").write_text("1\t2\t5\t10\n1\t3\t4\t20\n2\t2\t3\t30\n2\t3\t5\t5\n"
                                     "3\t2\t4\t7\n3\t3\t1\t9\n")
    (tmp_path / "s.txt").write_text("1 2 3\n2 3\n3 1 2\n")
    (tmp_path / "x.test.negative").write_text("(0,1)\t2\t3\n")
    data, info = read_interactions(tmp_path / "u.data")
    sessions, s_info = read_sessions(tmp_path / "s.txt")
    records = [info, s_info, read_ncf_negatives(tmp_path / "x.test.negative")[1],
               binarize(data, 4)[1], k_core(data, 1)[1], compact(data)[1],
               leave_one_out(data).record, time_split(data, fraction=0.3).record,
               ratio_split(data, 0.5, rng=0).record,
               strong_generalization(data, 1, rng=0).record,
               filter_sessions(sessions, min_support=1)[1], dedupe_consecutive(sessions)[1],
               session_time_split(sessions, fraction=0.3).record, describe(data),
               describe(sessions), write_atomic(data, tmp_path / "d.inter")]
    for record in records:
        assert json.loads(json.dumps(record)) == record
    assert describe_file(tmp_path / "u.data")["interactions"] == 6
    assert describe_file(tmp_path / "s.txt")["file"]["format"] == "srgnn"
    assert describe_file(tmp_path / "x.test.negative")["file"]["negatives_per_user"] == 2
