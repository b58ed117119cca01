"""`nprec data info`, `data download`, `compare` and `plot` through the command."""

from __future__ import annotations

import urllib.request

import pytest

from nprec.cli import main


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
