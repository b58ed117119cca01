"""Fuzzing the commands that use a trained run: recommend, similar and evaluate.

One small run of each model family is trained once; hypothesis then asks it for users,
sessions, item lists, items, cutoffs, tie policies and protocols drawn from known ids,
unknown ids, duplicates, empty and malformed lists and out-of-range numbers. Every call must
print its answer (exit 0) or one `nprec: error:` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nprec.cli import main

SMALL = ["--epochs", "1", "--quiet", "--set", "synthetic_users=80",
         "--set", "synthetic_items=150"]
RUNS = ["mf", "multvae", "gru4rec", "narm", "ease", "sknn", "gmf", "autorec"]
# GMF's own protocol, ncf-loo99, needs 99 items a user never met: more than this data has.
EXTRA = {"gmf": ["--protocol", "loo-full"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for model in RUNS:
        path = tmp_path_factory.mktemp("runs") / model
        assert main(["train", model, "--out", str(path), *SMALL, *EXTRA.get(model, [])]) == 0
        out[model] = path
    return out


IDS = ["1", "2", "7", "80", "150", "151", "0", "-1", "1.5", "x", "", " 3", "1e2"]
id_list = st.lists(st.sampled_from(IDS), min_size=0, max_size=5).map(",".join)
k_value = st.sampled_from(["1", "5", "10", "60", "1000", "0", "-3", "x", ""])


@st.composite
def calls(draw):
    """(model, argv after the run directory) for one of the serving commands."""
    model = draw(st.sampled_from(RUNS))
    command = draw(st.sampled_from(["recommend", "similar", "evaluate"]))
    if command == "recommend":
        kind = draw(st.sampled_from(["--user", "--session", "--items"]))
        value = draw(st.sampled_from(IDS)) if kind == "--user" else draw(id_list)
        args = [kind, value]
    elif command == "similar":
        args = ["--item", draw(st.sampled_from(IDS))]
    else:
        args = []
        if draw(st.booleans()):
            args += ["--ties", draw(st.sampled_from(["pessimistic", "optimistic", "expected"]))]
        if draw(st.booleans()):
            args += ["--protocol", draw(st.sampled_from(
                ["loo-full", "ncf-loo99", "next-item", "strong-generalization",
                 "rating-holdout", "zzz"]))]
    if command != "evaluate" or draw(st.booleans()):
        args += ["-k", draw(k_value) if command != "evaluate" else draw(st.sampled_from(
            ["10", "1,5,10", "0", "x", "5,5"]))]
    return model, command, args


@settings(deadline=None,                  # examples: the profile's (ci 40, deep 300)
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(call=calls())
def test_serving_commands_answer_or_fail_in_one_line(runs, capsys, call):
    model, command, args = call
    capsys.readouterr()
    status = main([command, str(runs[model]), *args])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert status in (0, 2), (status, err)
    if status == 2:
        assert err.startswith("nprec: error: ") and "\n" not in err, err
    elif command == "evaluate":                   # a title, then a table of metrics by ties
        title, header = captured.out.splitlines()[:2]
        assert title.endswith("rows)") and header.split()[0] == "ties", captured.out
    else:                                         # a ranked list (maybe short) of items
        assert captured.out.split()[:2] == ["rank", "item"], captured.out
