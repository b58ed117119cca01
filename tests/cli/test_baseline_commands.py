"""The baselines through the command: fit once, search on validation, recommend, similar."""

from __future__ import annotations

import json

import pytest

from nprec.cli import main

SMALL = ["--set", "synthetic_users=300", "--set", "synthetic_items=150", "--quiet"]


@pytest.fixture(scope="module")
def ease_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ease"
    assert main(["train", "ease", "--out", str(out), "--set", "lambdas=10,100,1000",
                 *SMALL]) == 0
    return out


def test_grid_is_searched_on_validation_and_recorded(ease_run):
    res = json.loads((ease_run / "results.json").read_text())
    assert [row["lam"] for row in res["search"]] == [10.0, 100.0, 1000.0]
    best = max(res["search"], key=lambda row: row["ndcg@10"])
    assert res["settings"]["model"]["lam"] == best["lam"]
    assert res["history"] == [] and set(res["test"]) == {"hit@10", "ndcg@10"}


def test_recommend_for_a_known_user_excludes_seen_items(ease_run, capsys):
    assert main(["recommend", str(ease_run), "--user", "7", "-k", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["rank", "item", "score"] and len(lines) == 7


def test_recommend_folds_in_a_new_user(ease_run, capsys):
    assert main(["recommend", str(ease_run), "--items", "1,2,3", "-k", "4"]) == 0
    items = [line.split()[1] for line in capsys.readouterr().out.strip().splitlines()[2:]]
    assert len(items) == 4 and not {"1", "2", "3"} & set(items)


def test_similar_uses_the_item_item_model(ease_run, capsys):
    assert main(["similar", str(ease_run), "--item", "10", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "similarity" in out and "\n    1    10 " not in out


@pytest.mark.parametrize("argv, message", [
    (["--user", "nobody"], "unknown user id 'nobody'"),
    (["--items", "1,999999"], "unknown item id '999999'"),
    (["--session", "1,2"], "is not a session model"),
    (["--user", "7", "-k", "0"], "-k: must be >= 1"),
])
def test_recommend_errors_are_one_line(ease_run, capsys, argv, message):
    assert main(["recommend", str(ease_run), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1 and message in err


def test_session_baseline_recommends_for_a_session(tmp_path, capsys):
    out = tmp_path / "sknn"
    assert main(["train", "sknn", "--out", str(out), "--set", "synthetic_users=100",
                 "--set", "synthetic_items=100", "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["test"]) == {"recall@20", "mrr@20"}
    assert res["test_by_ties"]["optimistic"]["mrr@20"] >= res["test"]["mrr@20"]
    capsys.readouterr()
    assert main(["recommend", str(out), "--session", "5,6", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5
