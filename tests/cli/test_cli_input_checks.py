"""The command's own input checks: option values, ids typed by hand, the data a run is
evaluated on, settings files, results files and output paths. Each mistake is one
`nprec: error:` line and exit status 2, and no user file is changed."""

from __future__ import annotations

import json

import pytest

from nprec import commands
from nprec.cli import main
from nprec.config import read_toml

SMALL = ["--quiet", "--set", "data.synthetic_users=60", "--set", "data.synthetic_items=40"]


def one_error_line(capsys, status: int, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def ratings_run(tmp_path_factory):
    """An MF run trained on a small ratings file (integer ids), with the file's path."""
    base = tmp_path_factory.mktemp("rr")
    data = base / "ratings.tsv"
    rows = [f"{u}\t{i}\t{1 + (u * i) % 5}\t{1000 + u * 50 + i}"
            for u in range(1, 31) for i in range(1, 41) if (u + i) % 3]
    data.write_text("\n".join(rows) + "\n")
    run = base / "run"
    assert main(["train", "mf", "--data", str(data), "--epochs", "1", "--quiet",
                 "--out", str(run)]) == 0
    return run, data


@pytest.mark.parametrize("argv, message", [
    (["train", "mf", "--data", ""], "--data: empty value"),
    (["train", "mf", "--config", ""], "--config: empty value"),
    (["train", "mf", "--set", ""], "--set: empty value"),
    (["train", "mf", "--epochs", "1_0"], "expected an integer, got '1_0'"),
    (["train", "mf", "--epochs", "٣"], "expected an integer"),
    (["train", "mf", "--factors", "99999999999999999999"], "too large"),
    (["train", "mf", "--set", "factors=99999999999999999999"], "model.factors: 9"),
    (["train", "sknn", "--set", "model.k=1_0"], "model.k: expected an integer"),
    (["train", "mf", "--set", "factors=+-5"], "model.factors: expected an integer"),
    (["train", "--resume", "somewhere", "--model", "mf"], "unrecognized arguments: --model"),
    (["train", "mf", "--test", "t.tsv"], "data.test: a split file needs the training data"),
    (["train", "mf", "--set", "data.format=bogus"], "data.format: unknown format 'bogus'"),
    (["train", "mf", "--set", "eval.also=bogus"], "eval.also: unknown protocol 'bogus'"),
    (["train", "--resume", "somewhere", "--options"], "may change); remove --options"),
])
def test_option_mistakes_are_one_line_errors(tmp_path, capsys, argv, message):
    out = tmp_path / "o"
    one_error_line(capsys, main(argv + ([] if "--resume" in argv else ["--out", str(out)])),
                   message)
    assert not out.exists()


def test_evaluate_refuses_data_that_changed_since_training(ratings_run, tmp_path, capsys):
    run, data = ratings_run
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0                     # the same file: fine
    capsys.readouterr()
    original = data.read_text()
    try:
        # Same users, items and size, other interactions: only the digest can tell.
        data.write_text(original.replace("1\t1\t", "1\t9\t", 1))
        one_error_line(capsys, main(["evaluate", str(run)]), str(data),
                       "not the training data this run was trained on")
    finally:
        data.write_text(original)


def test_ids_typed_by_hand_are_read_as_the_files_write_them(ratings_run, capsys):
    run, _ = ratings_run
    capsys.readouterr()
    assert main(["recommend", str(run), "--user", "10", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5
    for text in ("1_0", "١٠", " 10", "10.0"):
        one_error_line(capsys, main(["recommend", str(run), "--user", text]),
                       "unknown user id")
    one_error_line(capsys, main(["similar", str(run), "--item", "+1"]), "unknown item id")


def test_evaluate_needs_the_training_file_for_a_test_file(tmp_path, capsys):
    run = tmp_path / "synthetic"
    assert main(["train", "pop", "--out", str(run), *SMALL]) == 0
    test = tmp_path / "t.tsv"
    test.write_text("1\t2\t5\t100\n")
    capsys.readouterr()
    one_error_line(capsys, main(["evaluate", str(run), "--test", str(test)]),
                   "data.test: a split file needs the training data")


def test_config_toml_reads_back_any_data_path(tmp_path, capsys):
    data = tmp_path / "odd\x01name\x7f.tsv"
    data.write_text("\n".join(f"{u}\t{i}\t4\t{u * 100 + i}" for u in range(1, 21)
                              for i in range(1, 16) if (u * i) % 4) + "\n")
    run = tmp_path / "run"
    assert main(["train", "pop", "--data", str(data), "--quiet", "--out", str(run)]) == 0
    assert read_toml(run / "config.toml")["data.path"] == str(data)


def test_a_settings_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_bytes(b"\xff\xfe[train]\n")
    one_error_line(capsys, main(["train", "mf", "--config", str(config)]), str(config),
                   "not UTF-8")


@pytest.mark.parametrize("content", [b"[]", b'{"test": {"hit@10": "x"}}',
                                     b'{"test": null, "seconds": "x"}',
                                     b'{"history": [{"epoch": 1}]}', b"\xff\xfe{}"])
def test_malformed_results_files_are_one_line(tmp_path, capsys, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_bytes(content)
    for argv in (["compare", str(run)], ["plot", str(run), "--out", str(tmp_path / "c.png")]):
        status = main(argv)
        err = capsys.readouterr().err
        if "pip install 'nprec[plot]'" in err:
            continue                                   # plot without matplotlib: said so
        assert status == 2 and err.count("\n") == 1 and "results.json" in err, err


def test_plot_never_overwrites_a_file(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "mf", "--epochs", "2", "--out", str(run), *SMALL]) == 0
    keep = tmp_path / "keep.png"
    keep.write_text("precious")
    capsys.readouterr()
    for out, message in ((keep, "exists"), (tmp_path / "x.txt", ".png, .pdf or .svg"),
                         (tmp_path / "no" / "x.png", "no such directory")):
        status = main(["plot", str(run), "--out", str(out)])
        err = capsys.readouterr().err
        if "pip install 'nprec[plot]'" not in err:
            assert status == 2 and message in err and err.count("\n") == 1, err
    assert keep.read_text() == "precious"


def test_errors_of_the_machine_are_one_line(monkeypatch, capsys):
    def unwritable(args):
        raise PermissionError(13, "Permission denied", "/runs/x")

    monkeypatch.setattr(commands, "dispatch", unwritable)
    one_error_line(capsys, main(["train", "mf"]), "/runs/x: Permission denied")


def test_results_record_what_the_run_read(ratings_run):
    run, data = ratings_run
    files = json.loads((run / "results.json").read_text())["data"]["files"]
    assert files[0]["path"] == str(data) and files[0]["bytes"] == data.stat().st_size
    assert len(files[0]["sha256"]) == 64


def test_warnings_follow_a_successful_command_and_never_precede_an_error(tmp_path, capsys):
    # logq = 1e30 overflows the logits: NumPy warns, the loss turns NaN, the run stops.
    status = main(["train", "gru4rec", "--set", "logq=1e30", "--set", "train.epochs=1",
                   "--out", str(tmp_path / "o"), *SMALL])
    one_error_line(capsys, status, "the training loss became nan")


def test_epochs_for_a_model_fitted_once_is_a_warning(tmp_path, capsys):
    assert main(["train", "pop", "--epochs", "3", "--out", str(tmp_path / "o"), *SMALL]) == 0
    err = capsys.readouterr().err
    assert err == "nprec: warning: --epochs: pop is fitted once, without epochs; ignored\n"


def test_a_split_without_targets_names_the_data():
    import numpy as np

    from nprec.data.containers import Sessions
    from nprec.errors import DataError
    from nprec.evaluation import evaluate
    from nprec.experiment import build_model, default_settings
    from nprec.run_data import RunData

    settings = default_settings("gru4rec")
    train = Sessions.from_lists([[0, 1, 2], [1, 2, 3]], 4)
    test = Sessions.from_lists([[1], [2]], 4)            # one click each: nothing to predict
    _, model = build_model(settings, 0, 4)
    model.batches(train, np.random.default_rng(0))
    data = RunData("sessions", "next-item", train, train, None, test, np.zeros(0),
                   np.arange(4), record={"files": [{"path": "x/train.txt"}]})
    with pytest.raises(DataError, match="^x/train.txt: the test split has no target"):
        evaluate(model, data, "test", settings)
