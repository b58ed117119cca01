"""`nprec data info`, `data download`, `compare`, `plot`, and recommend / similar / evaluate
on rating models and on what a run cannot do, through the command."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from nprec.cli import main
from nprec.experiment import load_trained


def test_data_info_on_interactions_and_sessions(tmp_path, capsys):
    ratings = tmp_path / "u.data"
    ratings.write_text("".join(f"{u}\t{i}\t{(u + i) % 5 + 1}\t{880000000 + u * 100 + i}\n"
                               for u in range(1, 6) for i in range(1, 5)))
    assert main(["data", "info", str(ratings)]) == 0
    out = capsys.readouterr().out
    assert "users" in out and "20" in out and "ml-100k" in out
    sessions = tmp_path / "clicks.tsv"
    sessions.write_text("SessionId\tItemId\tTime\n1\t10\t1.0\n1\t11\t2.0\n2\t10\t3.0\n")
    assert main(["data", "info", str(sessions)]) == 0
    assert "sessions" in capsys.readouterr().out


def test_data_download_offline_is_a_clear_error(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert main(["data", "download", "ml-100k", "--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: cannot download ml-100k") and err.count("\n") == 1
    assert main(["data", "download", "ml-42"]) == 2
    assert "unknown data set" in capsys.readouterr().err


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    small = ["--set", "synthetic_users=150", "--set", "synthetic_items=80", "--quiet"]
    assert main(["train", "mf", "--epochs", "2", "--out", str(base / "mf"), *small]) == 0
    assert main(["train", "pop", "--out", str(base / "pop"), *small]) == 0
    return base / "mf", base / "pop"


def test_compare_tabulates_metrics_and_timings(two_runs, capsys):
    capsys.readouterr()
    assert main(["compare", *map(str, two_runs)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:4] == ["run", "model", "protocol", "best"]
    assert "hit@10" in lines[0] and "s/epoch" in lines[0]
    assert len(lines) == 4 and " mf " in lines[2] and " pop " in lines[3]


def test_plot_writes_a_png_or_says_what_is_missing(two_runs, tmp_path, capsys):
    target = tmp_path / "curves.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert main(["plot", str(two_runs[0]), "--out", str(target)]) == 2
        assert "pip install 'nprec[plot]'" in capsys.readouterr().err
        return
    assert main(["plot", str(two_runs[0]), "--out", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(two_runs[1])]) == 2          # no epochs to plot
    assert "no epochs" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["biasedmf", "autorec"])
def test_recommend_for_a_user_of_a_rating_model_ranks_predicted_ratings(tmp_path, capsys,
                                                                          model):
    out = tmp_path / model
    assert main(["train", model, "--out", str(out), "--epochs", "2", "--quiet",
                 "--set", "synthetic_users=80", "--set", "synthetic_items=60"]) == 0
    capsys.readouterr()
    assert main(["recommend", str(out), "--user", "3", "-k", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "predicted rating" in lines[0] and len(lines) == 2 + 5
    # The listed items are the user's five best unseen ones by the model's own predictions.
    _, trained, ckpt = load_trained(out)
    u = list(ckpt.arrays["user_ids"]).index(3)
    V = ckpt.arrays["item_ids"].size
    pred = trained.predict(np.full(V, u), np.arange(V))
    indptr, indices = ckpt.arrays["train_indptr"], ckpt.arrays["train_indices"]
    pred[indices[indptr[u]:indptr[u + 1]]] = -np.inf
    best = np.sort(pred)[::-1][:5]                  # by value: tied items may come in any order
    assert [float(line.split()[-1]) for line in lines[2:]] == pytest.approx(best, abs=5e-5)
    shown = [list(ckpt.arrays["item_ids"]).index(int(line.split()[1])) for line in lines[2:]]
    assert np.isfinite(pred[shown]).all()           # none of the user's training items
    assert json.loads((out / "results.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("model, argv, message", [
    # A session kNN has no item-item model and no item vectors.
    ("sknn", ["similar", "--item", "1"], "similar: sknn has no item representation"),
    # A strong-generalisation run was trained on other users than leave-one-out would test.
    ("multdae", ["evaluate", "--protocol", "loo-full"],
     "--protocol: loo-full needs a different split than the run's strong-generalization"),
])
def test_serving_commands_refuse_what_the_run_cannot_do(tmp_path, capsys, model, argv,
                                                        message):
    out = tmp_path / model
    assert main(["train", model, "--out", str(out), "--epochs", "1", "--quiet",
                 "--set", "synthetic_users=80", "--set", "synthetic_items=60"]) == 0
    capsys.readouterr()
    assert main([argv[0], str(out), *argv[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nprec: error: ") and "\n" not in err and message in err, err
