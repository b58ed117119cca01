"""Every class of user mistake: one `nprec: error:` line and status 2 from the command, a
documented `NprecError` subclass from the API, and nothing of the user's overwritten."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from nprec import CheckpointError, ConfigError, DataError, NprecError, UnknownIdError
from nprec.cli import main
from nprec.data import read_interactions
from nprec.experiment import load_trained, resolve_settings


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def _ratings(tmp_path, text: str, name: str = "ratings.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "userId,movieId,rating,timestamp\n" + "".join(
    f"{u},{i},{1 + (u * i) % 5},{1000 + 10 * u + i}\n" for u in range(1, 9) for i in range(1, 7))


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.csv", "missing.csv"),
    (lambda p: p, "directory"),
    (lambda p: _ratings(p, ""), "empty"),
    (lambda p: _ratings(p, GOOD.replace("3,4,", "3,abc,", 1)), "ratings.csv:"),
    (lambda p: _ratings(p, GOOD.replace("\n1,1,2,1011", "\n1,1,nan,1011")), "ratings.csv:2"),
    (lambda p: _ratings(p, GOOD.replace("\n1,2,3,1012", "\n1,2,inf,1012")), "ratings.csv:3"),
    (lambda p: _ratings(p, "userId,movieId\n1\n"), "ratings.csv:2"),
])
def test_bad_data_files(tmp_path, capsys, make, message):
    path = make(tmp_path)
    err = _one_line_error(capsys, ["train", "mf", "--data", str(path), "--quiet",
                                   "--out", str(tmp_path / "run")])
    assert message in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(DataError):
        read_interactions(path)


def test_binary_garbage_and_truncated_gzip(tmp_path, capsys):
    garbage = tmp_path / "ratings.dat"
    garbage.write_bytes(bytes(range(256)) * 20)
    assert "ratings.dat" in _one_line_error(capsys, ["data", "info", str(garbage)])
    good = gzip.compress(GOOD.encode())
    truncated = tmp_path / "ratings.csv.gz"
    truncated.write_bytes(good[: len(good) // 2])
    assert "ratings.csv.gz" in _one_line_error(capsys, ["data", "info", str(truncated)])


def test_unknown_format_is_named(tmp_path, capsys):
    path = _ratings(tmp_path, GOOD)
    err = _one_line_error(capsys, ["train", "mf", "--data", str(path), "--set",
                                   "format=parquet", "--out", str(tmp_path / "r")])
    assert "parquet" in err


def test_a_split_that_leaves_nothing_to_test(tmp_path, capsys):
    one_each = "userId,movieId\n" + "".join(f"{u},{u % 5 + 1}\n" for u in range(1, 30))
    path = _ratings(tmp_path, one_each, "pairs.csv")
    err = _one_line_error(capsys, ["train", "mf", "--data", str(path), "--quiet",
                                   "--out", str(tmp_path / "run")])
    assert "leaves no test entries" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "mf", "--set", "learning_rate=-1"], "learning_rate"),
    (["train", "mf", "--set", "factors=0"], "factors"),
    (["train", "mf", "-k", "0"], "cutoffs"),
    (["train", "mf", "--set", "no_such_key=1"], "unknown option 'no_such_key'"),
    (["train", "no_such_model"], "unknown model"),
    (["train", "mf", "--set", "ties=random"], "ties"),
    (["train", "mf", "--set", "split_seed=-1"], "data.split_seed"),
    (["train", "gmf", "--set", "synthetic_items=40", "--set", "synthetic_users=60",
      "--epochs", "1", "--quiet"], "too few left for 99 distinct negatives"),
    (["train", "sknn", "--set", "data.test_days=1e6", "--quiet"],
     "data.test_days=1000000.0: session_time_split: the last 1000000.0 days hold every"),
])
def test_bad_options(tmp_path, capsys, argv, message):
    assert message in _one_line_error(capsys, argv + ["--out", str(tmp_path / "r")])


def test_bad_config_file_key(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nfactors = 8\nfactorz = 3\n")
    err = _one_line_error(capsys, ["train", "mf", "--config", str(cfg),
                                   "--out", str(tmp_path / "r")])
    assert "c.toml" in err and "factorz" in err
    with pytest.raises(ConfigError, match="factorz"):
        resolve_settings("mf", config_file=str(cfg))


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_corrupt_checkpoints(tmp_path, capsys, content):
    path = tmp_path / "best.npz"
    path.write_bytes(content)
    assert "best.npz" in _one_line_error(capsys, ["recommend", str(path), "--user", "1"])
    with pytest.raises(CheckpointError):
        load_trained(path)


def test_foreign_and_pickled_checkpoints(tmp_path, capsys):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    assert "not an nprec checkpoint" in _one_line_error(
        capsys, ["similar", str(foreign), "--item", "1"])
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array('{"format": "nprec-checkpoint", "version": 1}'),
             **{"param/P": np.array([object()], dtype=object)})
    assert "pickled" in _one_line_error(capsys, ["recommend", str(pickled), "--user", "1"])


def test_missing_run_directory(tmp_path, capsys):
    for argv in (["evaluate", str(tmp_path / "nope")], ["compare", str(tmp_path / "nope")],
                 ["plot", str(tmp_path / "nope")]):
        _one_line_error(capsys, argv)


def test_unknown_ids_in_recommend(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "mf", "--epochs", "1", "--quiet", "--out", str(out),
                 "--set", "synthetic_users=100", "--set", "synthetic_items=60"]) == 0
    capsys.readouterr()
    assert "unknown user id" in _one_line_error(capsys, ["recommend", str(out),
                                                         "--user", "100000"])
    assert "unknown item id" in _one_line_error(capsys, ["similar", str(out),
                                                         "--item", "x"])
    _, model, ckpt = load_trained(out)
    from nprec.data.containers import IdMap

    with pytest.raises(UnknownIdError):
        IdMap(ckpt.arrays["user_ids"], "user").index("100000")


def test_every_api_error_is_an_nprec_error():
    for cls in (CheckpointError, ConfigError, DataError, UnknownIdError):
        assert issubclass(cls, NprecError)
