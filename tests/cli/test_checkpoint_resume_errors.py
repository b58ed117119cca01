"""Checkpoints and --resume under user mistakes and bad timing.

A resume never deletes or rewrites a file before it knows the run is its own; a stop between
the writes of last.npz and best.npz resumes to a consistent pair; a damaged or forged
checkpoint is one error line naming the file (exit 2), a `CheckpointError` from the API; a
new run that fails or is stopped before it saved anything says so and leaves its `--out`
usable again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nprec import commands, experiment
from nprec.checkpoint import load_checkpoint
from nprec.cli import main
from nprec.errors import CheckpointError
from nprec.experiment import load_trained

TINY = ["--set", "data.synthetic_users=60", "--set", "data.synthetic_items=40"]
REPO = Path(__file__).resolve().parents[2]


def _train(out: Path, model: str = "mf", *extra: str) -> Path:
    assert main(["train", model, "--quiet", "--out", str(out), *TINY, *extra]) == 0
    return out


def _one_line_error(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1, err
    return err


def _epoch(path: Path) -> int:
    return load_checkpoint(path).meta["fit_state"]["epoch"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# -- resume: nothing is deleted, nothing foreign is trained ---------------------------------

def test_resume_of_a_folder_without_last_npz_deletes_nothing(tmp_path, capsys):
    mine = tmp_path / "p"
    mine.mkdir()
    shutil.copy(REPO / "configs" / "multvae_ml1m.toml", mine / "config.toml")
    before = _snapshot(mine)
    assert "no last.npz to resume from" in _one_line_error(
        capsys, ["train", "--resume", str(mine)])
    assert _snapshot(mine) == before


def test_a_failing_resume_deletes_nothing(tmp_path, capsys, monkeypatch):
    run = _train(tmp_path / "run", "mf", "--epochs", "1")
    (run / "results.json").unlink()                    # as if stopped before testing
    before = _snapshot(run)

    def no_data(*args, **kwargs):
        raise CheckpointError("the data went away")

    monkeypatch.setattr(experiment, "load_run_data", no_data)
    assert "the data went away" in _one_line_error(capsys, ["train", "--resume", str(run)])
    assert _snapshot(run) == before


@pytest.mark.parametrize("other, message", [
    (["multvae"], "a checkpoint of model 'multvae', but"),
    (["mf", "--set", "factors=8"], "model.factors = 8, not 64"),
])
def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path, capsys, other, message):
    run = _train(tmp_path / "run", "mf", "--epochs", "2")
    (run / "results.json").unlink()
    foreign = _train(tmp_path / "other", other[0], "--epochs", "1", *other[1:])
    shutil.copy(foreign / "last.npz", run / "last.npz")
    before = _snapshot(run)
    err = _one_line_error(capsys, ["train", "--resume", str(run), "--epochs", "3"])
    assert f"{run / 'last.npz'}: " in err and message in err and "not this run's" in err
    assert _snapshot(run) == before                   # best.npz and config.toml untouched


def _interrupt_on_line(monkeypatch, text: str) -> None:
    """Ctrl-C when the command logs a line that holds `text`."""
    def interrupt(line: str) -> None:
        if text in line:
            raise KeyboardInterrupt

    monkeypatch.setattr(commands, "_log", interrupt)


# -- the pair last.npz / best.npz ------------------------------------------------------------

def _stop_before_best_of_epoch(monkeypatch, epoch: int) -> None:
    """Ctrl-C between the writes of last.npz and best.npz of `epoch`."""
    real_save = experiment.save_checkpoint

    def save(path, ckpt):
        state = ckpt.meta.get("fit_state") or {}
        if Path(path).name == "best.npz" and state.get("epoch") == epoch:
            raise KeyboardInterrupt
        real_save(path, ckpt)

    monkeypatch.setattr(experiment, "save_checkpoint", save)


def test_a_stop_between_last_and_best_resumes_to_a_consistent_pair(tmp_path, monkeypatch):
    # Without validation every epoch is the best, so epoch 2 writes both files.
    no_valid = ["--set", "data.valid=none"]
    straight = _train(tmp_path / "straight", "mf", "--epochs", "2", *no_valid)
    _stop_before_best_of_epoch(monkeypatch, 2)
    cut = tmp_path / "cut"
    assert main(["train", "mf", "--quiet", "--out", str(cut), "--epochs", "2", *TINY,
                 *no_valid]) == 130
    monkeypatch.undo()
    assert _epoch(cut / "last.npz") == 2
    assert main(["train", "--resume", str(cut), "--quiet"]) == 0
    results = json.loads((cut / "results.json").read_text())
    assert results["best"]["epoch"] == _epoch(cut / "best.npz") == 2
    assert results["test"] == json.loads((straight / "results.json").read_text())["test"]


def test_a_best_npz_one_epoch_ahead_of_last_npz_is_rewritten(tmp_path):
    # An older nprec wrote best.npz before last.npz: a stop between left this pair. The best
    # epoch last.npz records is its own epoch, so best.npz is rewritten from it.
    no_valid = ["--set", "data.valid=none"]
    run = _train(tmp_path / "run", "mf", "--epochs", "2", *no_valid)
    straight = json.loads((run / "results.json").read_text())
    older = _train(tmp_path / "older", "mf", "--epochs", "1", *no_valid)
    (run / "results.json").unlink()
    shutil.copy(older / "last.npz", run / "last.npz")
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["best"]["epoch"] == _epoch(run / "best.npz") == 2
    assert results["test"] == straight["test"]


@pytest.mark.parametrize("remove_best", [False, True])
def test_a_best_npz_that_last_npz_cannot_explain_is_refused(tmp_path, capsys, remove_best):
    run = _train(tmp_path / "run", "mf", "--epochs", "2", "--set", "data.valid=none")
    (run / "results.json").unlink()

    def best_was_epoch_1(arrays, meta):
        meta["fit_state"]["best"]["epoch"] = 1

    _forge(run / "last.npz", run / "last.npz", best_was_epoch_1)
    if remove_best:
        (run / "best.npz").unlink()
    before = _snapshot(run)
    err = _one_line_error(capsys, ["train", "--resume", str(run)])
    held = "is missing" if remove_best else "holds epoch 2"
    assert f"{run / 'best.npz'}: {held}, but" in err and "best epoch as 1" in err
    assert _snapshot(run) == before


def test_the_epoch_line_shows_once_the_epoch_is_saved(tmp_path, monkeypatch):
    # Ctrl-C right after "epoch 2 ..." is printed: epoch 2 must be in last.npz.
    _interrupt_on_line(monkeypatch, "epoch   2")
    out = tmp_path / "cut"
    assert main(["train", "mf", "--out", str(out), "--epochs", "3", *TINY]) == 130
    assert _epoch(out / "last.npz") == 2


def test_an_interrupted_budget_change_is_kept_by_the_next_resume(tmp_path, monkeypatch):
    # `--resume --epochs 3` stopped before its first epoch: config.toml already says 3, and a
    # plain --resume trains to 3 (what config.toml says), not to the checkpoint's 2.
    run = _train(tmp_path / "run", "mf", "--epochs", "2")
    (run / "results.json").unlink()

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "load_run_data", stop)
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 130
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert len(results["history"]) == 3 and results["settings"]["train"]["epochs"] == 3


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
    ("mf", _set("array/train_indptr", lambda a: a[:5]), ["--user", "50"],
     "array/train_indptr has shape"),
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


@pytest.mark.parametrize("change, message", [
    (_set("optim/m/P", lambda a: a * np.nan), "last.npz: optim/m/P holds NaN"),
    (_set("optim/m/P", lambda a: a.astype(np.float64)),
     "last.npz: the optimizer state 'm/P' does not fit"),
    (_set("optim/t", lambda a: -a), "last.npz: the optimizer state 't' does not fit"),
    (lambda arrays, meta: arrays.pop("optim/t"), "last.npz: Adam: optimizer state has no step"),
    (_meta(fit_state={"epoch": "x"}), "last.npz: the training state in the metadata is "
                                      "malformed"),
    (_meta(fit_state=None), "last.npz: the checkpoint holds no training state"),
])
def test_a_forged_last_npz_is_refused_by_resume(tmp_path, capsys, change, message):
    run = _train(tmp_path / "run", "mf", "--epochs", "2")
    (run / "results.json").unlink()
    _forge(run / "last.npz", run / "last.npz", change)
    before = _snapshot(run)
    assert message in _one_line_error(capsys, ["train", "--resume", str(run), "--quiet"])
    assert _snapshot(run) == before


# -- a new run that saved nothing ---------------------------------------------------------------

def _nan_from_the_start(monkeypatch):
    from nprec.models import mf

    real_forward = mf.Model.forward

    def forward(self, batch):
        return np.float32("nan"), real_forward(self, batch)[1]

    monkeypatch.setattr(mf.Model, "forward", forward)


@pytest.mark.parametrize("existed", [False, True])
def test_a_nan_before_any_checkpoint_says_so_and_frees_the_out_dir(tmp_path, capsys,
                                                                    monkeypatch, existed):
    out = tmp_path / "nan"
    if existed:
        out.mkdir()                                  # an empty --out is accepted
    _nan_from_the_start(monkeypatch)
    err = _one_line_error(capsys, ["train", "mf", "--quiet", "--out", str(out), "--epochs", "2",
                                   *TINY])
    assert "loss became nan in epoch 1" in err
    assert "no best.npz was written" in err and "kept" not in err
    assert out.exists() == existed and (not existed or not any(out.iterdir()))
    monkeypatch.undo()
    _train(out, "mf", "--epochs", "1")               # the same command starts again


def test_a_nan_after_a_best_epoch_names_what_is_kept(tmp_path, capsys, monkeypatch):
    from nprec.models import mf

    real_forward = mf.Model.forward
    calls = {"n": 0}

    def forward(self, batch):                        # 2 steps per epoch: epoch 2 goes wrong
        calls["n"] += 1
        loss, cache = real_forward(self, batch)
        return (np.float32("nan") if calls["n"] > 3 else loss), cache

    monkeypatch.setattr(mf.Model, "forward", forward)
    out = tmp_path / "nan"
    err = _one_line_error(capsys, ["train", "mf", "--quiet", "--out", str(out), "--epochs", "3",
                                   *TINY])
    assert f"({out / 'best.npz'} of epoch 1 is kept)" in err
    assert _epoch(out / "best.npz") == 1


def test_an_interrupt_before_any_checkpoint_says_start_again(tmp_path, capsys, monkeypatch):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "load_run_data", stop)
    out = tmp_path / "cut"
    assert main(["train", "mf", "--quiet", "--out", str(out), *TINY]) == 130
    err = capsys.readouterr().err
    assert "nothing was saved; start again with the same command" in err
    assert "--resume" not in err and not out.exists()
    monkeypatch.undo()
    _train(out, "mf", "--epochs", "1")


def test_an_interrupt_after_a_checkpoint_names_the_epochs_kept(tmp_path, capsys, monkeypatch):
    _interrupt_on_line(monkeypatch, "epoch   1")
    out = tmp_path / "cut"
    assert main(["train", "mf", "--out", str(out), "--epochs", "3", *TINY]) == 130
    err = capsys.readouterr().err
    assert f"{out / 'last.npz'} keeps 1 trained epoch; continue with: nprec train --resume" \
        in err


def test_an_interrupt_while_pre_training_can_be_resumed(tmp_path, capsys, monkeypatch):
    # NeuMF's run has no last.npz of its own until its pre-training stages are done.
    _interrupt_on_line(monkeypatch, "pre-training stage 'mlp'")
    out = tmp_path / "neumf"
    assert main(["train", "neumf", "--out", str(out), "--epochs", "1", "--pretrain",
                 "--protocol", "loo-full", *TINY]) == 130
    err = capsys.readouterr().err
    assert f"kept in {out / 'pretrain'}; continue with: nprec train --resume {out}" in err
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["pretrain"]) == {"gmf", "mlp"}
