"""`nprec train` end to end on small synthetic data: results, checkpoints, resume, refusal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from nprec import commands
from nprec.checkpoint import load_checkpoint
from nprec.cli import main

SMALL = ["--set", "synthetic_users=300", "--set", "synthetic_items=150", "--set", "factors=16",
         "--quiet"]


def _train(tmp_path, name, *extra):
    out = tmp_path / name
    assert main(["train", "mf", "--out", str(out), *SMALL, *extra]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_train_writes_a_complete_run_directory(tmp_path, capsys):
    out, res = _train(tmp_path, "run", "--epochs", "3")
    assert sorted(p.name for p in out.iterdir()) == ["best.npz", "config.toml", "last.npz",
                                                     "results.json"]
    assert [h["epoch"] for h in res["history"]] == [1, 2, 3]
    assert set(res["test"]) == {"hit@10", "ndcg@10"}
    assert res["test_by_ties"]["optimistic"]["hit@10"] >= res["test"]["hit@10"]
    assert res["best"]["epoch"] in (1, 2, 3) and res["status"] == "completed"
    for key in ("data", "protocol", "seconds", "peak_memory_mb", "versions", "seed"):
        assert key in res
    # What a trained figure's last digits depend on: the CPU and the kernels chosen for it.
    machine = res["versions"]
    assert isinstance(machine["cpu"], str) and machine["cpu"]
    assert isinstance(machine["numba_cpu"], str) and machine["numba_cpu"]
    assert machine["blas_kernel_env"] == {k: os.environ[k] for k in
                                          ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                                          if k in os.environ}
    best = load_checkpoint(out / "best.npz", "mf")
    assert best.meta["fit_state"]["epoch"] == res["best"]["epoch"]
    assert "test loo-full hit@10" in capsys.readouterr().out


def test_mf_clearly_beats_popularity_on_the_synthetic_data(tmp_path):
    _, res = _train(tmp_path, "mf", "--epochs", "8")
    _, pop = _train_pop(tmp_path)
    assert res["test"]["ndcg@10"] > 1.5 * pop["test"]["ndcg@10"]


def _train_pop(tmp_path):
    out = tmp_path / "pop"
    assert main(["train", "pop", "--out", str(out), "--set", "synthetic_users=300",
                 "--set", "synthetic_items=150", "--quiet"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_same_seed_same_results_and_config_repeats_the_run(tmp_path):
    a, ra = _train(tmp_path, "a", "--epochs", "2", "--seed", "5")
    b = tmp_path / "b"
    assert main(["train", "mf", "--out", str(b), "--config", str(a / "config.toml"),
                 "--quiet"]) == 0
    rb = json.loads((b / "results.json").read_text())
    assert ra["test"] == rb["test"]
    assert [h["loss"] for h in ra["history"]] == [h["loss"] for h in rb["history"]]


def _interrupted(tmp_path, monkeypatch, in_epoch: int, epochs: int):
    """A run of `epochs` epochs stopped by Ctrl-C in epoch `in_epoch`, right after the
    line of epoch `in_epoch - 1` (shown once that epoch is saved)."""
    def interrupt(line: str) -> None:
        if line.startswith(f"epoch {in_epoch - 1:3d}"):
            raise KeyboardInterrupt

    out = tmp_path / "cut"
    monkeypatch.setattr(commands, "_log", interrupt)
    assert main(["train", "mf", "--out", str(out), "--epochs", str(epochs),
                 *[a for a in SMALL if a != "--quiet"]]) == 130
    monkeypatch.undo()
    assert not (out / "results.json").exists()
    assert load_checkpoint(out / "last.npz").meta["fit_state"]["epoch"] == in_epoch - 1
    return out


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    _, full = _train(tmp_path, "full", "--epochs", "4")
    out = _interrupted(tmp_path, monkeypatch, 3, 4)
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["test"] == full["test"]
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full["history"]]


def test_a_resumed_run_can_be_given_more_epochs(tmp_path, monkeypatch, capsys):
    # Stopped in epoch 2 of a 2-epoch budget, resumed to 4: the same run as 4 epochs straight.
    _, full = _train(tmp_path, "full", "--epochs", "4")
    out = _interrupted(tmp_path, monkeypatch, 2, 2)
    assert main(["train", "--resume", str(out), "--epochs", "0", "--quiet"]) == 2
    assert "already trained 1 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(out), "--epochs", "4", "--quiet"]) == 0
    resumed = json.loads((out / "results.json").read_text())
    assert len(resumed["history"]) == 4 and resumed["test"] == full["test"]
    assert "epochs = 4" in (out / "config.toml").read_text()
    assert main(["train", "--resume", str(out), "--seed", "3"]) == 2     # other flags: no


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path, monkeypatch, capsys):
    # A run in the background of a script ignores SIGINT; `kill` sends SIGTERM, which must
    # keep last.npz and point at --resume, not kill the process mid-write.
    def terminate_in_epoch_2(line: str) -> None:
        if line.startswith("epoch   1"):             # epoch 1 is saved, epoch 2 begins
            os.kill(os.getpid(), signal.SIGTERM)

    out = tmp_path / "killed"
    monkeypatch.setattr(commands, "_log", terminate_in_epoch_2)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["train", "mf", "--out", str(out), "--epochs", "4",
                 *[a for a in SMALL if a != "--quiet"]]) == 130
    assert signal.getsignal(signal.SIGTERM) is before          # handler restored
    assert "continue with: nprec train --resume" in capsys.readouterr().err
    assert load_checkpoint(out / "last.npz").meta["fit_state"]["epoch"] == 1
    assert not (out / "results.json").exists()


def test_existing_non_empty_out_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["train", "mf", "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: --out") and err.count("\n") == 1
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_completed_run_cannot_be_resumed(tmp_path, capsys):
    out, _ = _train(tmp_path, "done", "--epochs", "1")
    assert main(["train", "--resume", str(out)]) == 2
    assert "the run is complete" in capsys.readouterr().err


def test_python_dash_m_and_version_work():
    res = subprocess.run([sys.executable, "-m", "nprec", "--version"], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0 and res.stdout.startswith("nprec ")


def test_unknown_option_from_the_shell_is_one_line_and_status_2(tmp_path):
    res = subprocess.run([sys.executable, "-m", "nprec", "train", "mf", "--set", "nope=1",
                          "--out", str(tmp_path / "x")], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 2
    assert res.stderr == "nprec: error: --set: unknown option 'nope' for model 'mf'\n"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    (["train", "mf", "--set", "learning_rate=-0.1"], "model.learning_rate: must be > 0"),
    (["train", "mf", "-k", "0"], "cutoffs must be >= 1"),
    (["train", "mf", "--protocol", "next-item"], "needs sessions data"),
    (["train", "mf", "--layers", "8,4"], "--layers: model 'mf' has no option 'layers'"),
    (["train", "mf", "--set", "eval.metric=mrr@20"], "eval.metric: 'mrr@20' is not computed"),
    (["train", "mf", "--epochs", "x"], "expected an integer, got 'x'"),
    (["train"], "name a MODEL"),
    (["train", "--resume", "/nonexistent/run"], "no such run directory"),
    (["train", "gru4rec", "--params", "layers=16//8"], "model.layers: empty element"),
    (["train", "gru4rec", "--params", "layers=16/"], "model.layers: empty element"),
    (["train", "gru4rec", "--params", "loss=bpr-max,,layers=16"], "empty key=value pair"),
    (["train", "gru4rec", "--params", ""], "--params: empty value"),
    (["train", "gru4rec", "--params", "embedding=²"], "model.embedding: must be a width"),
    (["train", "gru4rec", "--set", "n_sample=20000000"], "model.n_sample: must be in"),
])
def test_bad_train_options_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(argv + ["--out", str(tmp_path / "o")] if argv[-1] != "/nonexistent/run"
                else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "o").exists()


def test_options_lists_the_model_options(capsys):
    assert main(["train", "mf", "--options"]) == 0
    out = capsys.readouterr().out
    assert "model.factors" in out and "train.epochs" in out and "data.valid" in out


def test_nan_loss_stops_training_and_keeps_the_best_checkpoint(tmp_path, monkeypatch, capsys):
    from nprec.models import mf

    real_forward = mf.Model.forward
    calls = {"n": 0}

    def forward(self, batch):
        calls["n"] += 1
        loss, cache = real_forward(self, batch)
        return (np.float32("nan") if calls["n"] > 60 else loss), cache

    monkeypatch.setattr(mf.Model, "forward", forward)
    out = tmp_path / "nan"
    assert main(["train", "mf", "--out", str(out), "--epochs", "5", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "the training loss became nan in epoch" in err and "step" in err
    best = load_checkpoint(out / "best.npz")
    assert best.meta["fit_state"]["epoch"] >= 1
    assert all(np.isfinite(p).all() for p in best.params.values())


def test_refit_trains_a_fresh_model_on_all_training_data(tmp_path):
    out, res = _train(tmp_path, "refit", "--epochs", "3", "--set", "refit=true")
    refit = json.loads((out / "refit" / "results.json").read_text())
    assert res["refit"]["epochs"] == res["best"]["epoch"] == len(refit["history"])
    assert refit["settings"]["data"]["valid"] == "none" and refit["valid"] is None
    assert res["test"] == refit["test"]          # the refitted model is the one tested
    assert res["valid"] == res["history"][res["best"]["epoch"] - 1]["valid"]
    fit_rows = res["data"]["split"]["train_tr"]
    assert refit["data"]["statistics"]["fit"]["interactions"] > fit_rows


def test_session_models_train_on_a_small_synthetic_item_set(tmp_path):
    # Fewer items than 20 topics of 4 need: the synthetic sessions use fewer topics.
    out = tmp_path / "few"
    assert main(["train", "gru4rec", "--out", str(out), "--epochs", "1", "--quiet",
                 "--set", "synthetic_items=40", "--set", "synthetic_users=60"]) == 0
    assert json.loads((out / "results.json").read_text())["status"] == "completed"


def test_official_parameter_forms_mean_the_official_protocol(tmp_path):
    # A pasted official string trains on the whole training file for n_epochs, as the
    # official code does; TOML takes `embedding = 0` and `n_epochs` under [model], as the
    # official parameter files write them, and names the model itself.
    config = tmp_path / "g.toml"
    config.write_text('model_name = "gru4rec"\n[model]\nembedding = 0\nlayers = [8]\n'
                      'n_sample = 16\nbatch_size = 8\nn_epochs = 2\n')
    small = ["--quiet", "--set", "data.synthetic_users=60", "--set", "data.synthetic_items=40"]
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "a"), *small]) == 0
    assert main(["train", "gru4rec", "--params", "layers=8,n_sample=16,batch_size=8,"
                 "n_epochs=2,", "--out", str(tmp_path / "b"), *small]) == 0
    for run in ("a", "b"):
        results = json.loads((tmp_path / run / "results.json").read_text())
        split = results["data"]["split"]
        assert results["settings"]["data"]["valid"] == "none" and results["valid"] is None
        assert results["data"]["statistics"]["fit"]["sessions"] == split["train_sessions"]
        assert [h["epoch"] for h in results["history"]] == [1, 2]
        assert results["settings"]["model"]["embedding"] == "0"


def test_settings_too_large_for_memory_are_one_line_errors(tmp_path, capsys, monkeypatch):
    from nprec.models import gru4rec

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 224. GiB for an array with shape (100000, 300000)")

    monkeypatch.setattr(gru4rec.Model, "__init__", no_memory)
    out = tmp_path / "o"
    assert main(["train", "gru4rec", "--params", "layers=100000", "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: out of memory (Unable to allocate 224. GiB")
    assert err.count("\n") == 1 and not out.exists()
