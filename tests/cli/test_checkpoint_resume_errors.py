"""Checkpoints under user mistakes: a damaged or forged checkpoint is one error line naming
the file (exit 2), a `CheckpointError` from the API."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nprec.cli import main
from nprec.errors import CheckpointError
from nprec.experiment import load_trained

TINY = ["--set", "data.synthetic_users=60", "--set", "data.synthetic_items=40"]


def _train(out: Path, model: str = "mf", *extra: str) -> Path:
    assert main(["train", model, "--quiet", "--out", str(out), *TINY, *extra]) == 0
    return out


def _one_line_error(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1, err
    return err


# -- damaged or forged checkpoints ------------------------------------------------------------

def _forge(src: Path, dst: Path, change) -> Path:
    with np.load(src) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["meta"]))
    change(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)
    return dst


def _set(name, f):
    def change(arrays, meta):
        arrays[name] = f(arrays[name])
    return change


def _meta(**values):
    return lambda arrays, meta: meta.update(values)


FORGED = [
    ("mf", _set("param/P", lambda a: a * np.nan), ["--user", "1"], "NaN or infinite"),
    ("mf", _set("param/Q", lambda a: a + np.inf), ["--user", "1"], "NaN or infinite"),
    ("mf", _set("param/P", lambda a: a.astype(np.int8)), ["--user", "1"], "is int8"),
    ("mf", _set("param/P", lambda a: a.astype(str)), ["--user", "1"], "not numbers"),
    ("mf", _set("array/item_ids", lambda a: np.r_[a[:-1], a[0]]), ["--user", "1"],
     "duplicated"),
    ("mf", _set("array/user_ids", lambda a: np.r_[a[:-1], a[0]]), ["--user", "1"],
     "duplicated"),
    ("mf", _set("array/user_ids", lambda a: a.reshape(-1, 2)), ["--user", "1"], "1-D"),
    ("mf", _meta(n_items=-5), ["--user", "1"], "n_items -5"),
    ("mf", _meta(n_users="60"), ["--user", "1"], "n_users '60'"),
    ("mf", lambda arrays, meta: arrays.pop("array/train_indptr"), ["--user", "1"],
     "lacks the training matrix"),
    ("mf", _set("array/train_indptr", lambda a: a[:5]), ["--user", "50"], "train_indptr has 5"),
    ("mf", _set("array/train_indptr", lambda a: a[::-1]), ["--user", "1"],
     "not a valid row pointer"),
    ("mf", _set("array/train_indices", lambda a: a + 1000), ["--user", "1"],
     "outside 0..39"),
    ("multvae", _meta(kind="sessions"), ["--session", "1,2"], "says sessions data"),
    ("multvae", _set("array/item_ids", lambda a: a[:10]), ["--items", "1,2"],
     "item_ids holds 10 ids for 40 items"),
    ("pop", _set("param/support", lambda a: a.astype("U")), ["--user", "1"], "not numbers"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run per model family the forged files start from."""
    root = tmp_path_factory.mktemp("trained")
    return {name: _train(root / name, name, *([] if name == "pop" else ["--epochs", "1"]))
            for name in ("mf", "multvae", "pop")}


@pytest.mark.parametrize("model, change, query, message", FORGED)
def test_forged_checkpoint_contents_are_one_line_errors(tmp_path, capsys, trained, model,
                                                        change, query, message):
    forged = _forge(trained[model] / "best.npz", tmp_path / "forged.npz", change)
    err = _one_line_error(capsys, ["recommend", str(forged), *query])
    assert f"{forged}: " in err and message in err
    with pytest.raises(CheckpointError, match=message.replace(".", r"\.")):
        load_trained(forged)
