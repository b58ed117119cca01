"""Checkpoints: round trip, atomic writes, refusal of pickles and foreign files."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from nprec.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nprec.errors import CheckpointError


def sample() -> Checkpoint:
    rng = np.random.default_rng(0)
    return Checkpoint(meta={"model_name": "mf", "epoch": 3, "history": [{"loss": 0.5}]},
                      params={"P": rng.standard_normal((4, 2)), "b_i": np.zeros((5, 1))},
                      optim={"t": np.array(7), "m/P": np.ones((4, 2))},
                      arrays={"users": np.array(["a", "b", "c", "d"]),
                              "items": np.arange(5)})


def test_round_trip(tmp_path):
    path = tmp_path / "best.npz"
    save_checkpoint(path, sample())
    back = load_checkpoint(path, model_name="mf")
    assert back.meta["epoch"] == 3 and back.meta["format"] == "nprec-checkpoint"
    np.testing.assert_array_equal(back.params["P"], sample().params["P"])
    assert back.optim["t"] == 7
    assert back.arrays["users"].tolist() == ["a", "b", "c", "d"]
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "best.npz"
    save_checkpoint(path, sample())
    before = path.read_bytes()

    def exploding_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", exploding_savez)
    changed = sample()
    changed.meta["epoch"] = 4
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, changed)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.npz"]


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_checkpoint_holding_a_pickle_is_refused_without_unpickling(tmp_path, capsys):
    path = tmp_path / "evil.npz"
    np.savez(path, meta=np.array('{"format": "nprec-checkpoint", "version": 1}'),
             **{"param/P": np.array([Exploit()], dtype=object)})
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(path)
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    (b"", "corrupt or truncated"),
    (b"\x00\x01garbage" * 10, "corrupt or truncated"),
])
def test_garbage_is_refused(tmp_path, content, message):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "best.npz"
    save_checkpoint(path, sample())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_foreign_npz_and_wrong_model_are_refused(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(CheckpointError, match="not an nprec checkpoint"):
        load_checkpoint(foreign)
    path = tmp_path / "best.npz"
    save_checkpoint(path, sample())
    with pytest.raises(CheckpointError, match="checkpoint of model 'mf', not 'narm'"):
        load_checkpoint(path, model_name="narm")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "new.npz"
    buf = io.BytesIO()
    np.savez(buf, meta=np.array('{"format": "nprec-checkpoint", "version": 99}'))
    path.write_bytes(buf.getvalue())
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(path)
