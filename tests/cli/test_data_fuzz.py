"""Fuzzing `nprec train --data`: tiny and degenerate data sets through every model family.

Small files in real formats — a handful of users, items, sessions; repeated pairs, one-item
users, one-click sessions, a single item, equal timestamps — go through preprocessing, the
protocol's split, training and evaluation. Each run must finish (exit 0) or stop with one
`nprec: error:` line and exit status 2: a data set too small for its protocol is a user's
mistake to be told about, not a traceback.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nprec.cli import main

INTERACTION_MODELS = ["mf", "biasedmf", "gmf", "neumf", "pop", "ease", "itemknn", "multdae",
                      "multvae", "cdae", "autorec"]
SESSION_MODELS = ["gru4rec", "narm", "sknn", "vsknn"]
OPTIONS = [[], ["--protocol", "loo-full"], ["--protocol", "ncf-loo99"],
           ["--protocol", "rating-holdout"], ["--protocol", "strong-generalization"],
           ["--set", "data.min_rating=4"], ["--set", "data.min_user_items=2"],
           ["--set", "data.valid=none"], ["--set", "eval.ties=expected"]]


@st.composite
def interaction_files(draw):
    """An ML-100K style file: user TAB item TAB rating TAB timestamp."""
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    rows = draw(st.lists(st.tuples(st.integers(1, n_users), st.integers(1, n_items),
                                   st.integers(1, 5), st.integers(0, 3)), max_size=40))
    return "".join(f"{u}\t{i}\t{r}\t{978300000 + t}\n" for u, i, r, t in rows)


@st.composite
def session_files(draw):
    """A GRU4Rec event file: SessionId TAB ItemId TAB Time, with a header."""
    lines = ["SessionId\tItemId\tTime"]
    for s in range(draw(st.integers(0, 12))):
        start = draw(st.integers(0, 5)) * 86400
        for k, item in enumerate(draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))):
            lines.append(f"{s + 1}\t{item}\t{start + 60 * k}")
    return "\n".join(lines) + "\n"


@settings(deadline=None,                  # examples: the profile's (ci 40, deep 300)
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sessions=st.booleans(), data=st.data())
def test_tiny_data_ends_in_a_run_or_one_error_line(tmp_path_factory, capsys, sessions, data):
    tmp = tmp_path_factory.mktemp("data")
    if sessions:
        model = data.draw(st.sampled_from(SESSION_MODELS))
        path = tmp / "events.tsv"
        path.write_text(data.draw(session_files()), encoding="utf-8")
        extra = data.draw(st.sampled_from([[], ["--set", "data.valid=none"],
                                           ["--set", "data.test_days=2"],
                                           ["--set", "data.min_item_support=2"]]))
    else:
        model = data.draw(st.sampled_from(INTERACTION_MODELS))
        path = tmp / "u.data"
        path.write_text(data.draw(interaction_files()), encoding="utf-8")
        extra = data.draw(st.sampled_from(OPTIONS))
    capsys.readouterr()
    status = main(["train", model, "--data", str(path), "--out", str(tmp / "out"),
                   "--epochs", "1", "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    assert status in (0, 2), (model, extra, status, err)
    if status == 2:
        assert err.startswith("nprec: error: ") and "\n" not in err, err
