"""Fuzzing `nprec train`'s settings: any value of any option ends in a run or one error line.

The user-error tests name the bad values we thought of; here hypothesis picks a model and a
few of its settings (model options, data, training and evaluation keys) and gives each a
value from a pool of plausible, extreme and wrong ones: negative and zero counts, NaN and
infinite rates, empty and unknown strings, malformed lists. `nprec train` on small synthetic
data must then finish (exit 0), or stop with exit status 2 and a single `nprec: error:`
line, never with a traceback.
"""

from __future__ import annotations

import dataclasses
import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nprec.cli import main
from nprec.config import DataSettings, EvalSettings, TrainSettings, _field_types, _split_optional
from nprec.models import model_module

MODELS = ["mf", "biasedmf", "gmf", "neumf", "pop", "ease", "itemknn", "sknn", "gru4rec",
          "narm", "multdae", "multvae", "cdae", "autorec"]
# Keys left alone: they set the size of the run, not its correctness.
FIXED = {"epochs", "synthetic_users", "synthetic_items", "path", "test", "valid",
         "negatives_file", "pretrain_gmf", "pretrain_mlp"}
SMALL = ["--epochs", "1", "--quiet", "--set", "data.synthetic_users=60",
         "--set", "data.synthetic_items=40"]

# (plausible, wrong or extreme) values by type: three draws in four are plausible, so that
# most runs get past the settings checks into reading, training and evaluation.
INTS = (["0", "1", "2", "3", "8", "16"], ["-1", "1e3", "2.5", "x", ""])
FLOATS = (["0", "1e-3", "0.25", "0.5", "1", "2.5"], ["-1", "1e6", "nan", "inf", "-inf", "x", ""])
BOOLS = (["true", "false"], ["1", "yes", "maybe", ""])
LISTS = (["16", "16,8", "[16, 8]", "1,5,10"], ["", "[]", "0", "-1", "8,x", "1/2"])
STRINGS = (["auto", "none", "pessimistic", "optimistic", "cross-entropy", "bpr-max", "adam",
            "ndcg@10", "hit@10", "loo-full", "next-item", "tanh", "sigmoid", "cosine"],
           ["", "zzz"])


def _values(tp, default) -> tuple[list[str], list[str]]:
    inner, optional = _split_optional(tp)
    if typing.get_origin(inner) is list:
        good, bad = LISTS
    else:
        good, bad = {int: INTS, float: FLOATS, bool: BOOLS}.get(inner, STRINGS)
    if isinstance(default, str) and default:
        good = [default, *good]
    return good + (["none"] if optional else []), bad


def _options(model: str) -> list[tuple[str, tuple[list[str], list[str]]]]:
    """(section.key, values) for every setting of the model that the fuzz may change."""
    sections = {"model": model_module(model).Config(), "data": DataSettings(),
                "train": TrainSettings(), "eval": EvalSettings()}
    options = []
    for section, obj in sections.items():
        types = _field_types(type(obj))
        for f in dataclasses.fields(obj):
            if f.name not in FIXED:
                options.append((f"{section}.{f.name}",
                                _values(types[f.name], getattr(obj, f.name))))
    return options


@st.composite
def runs(draw):
    model = draw(st.sampled_from(MODELS))
    options = _options(model)
    chosen = draw(st.lists(st.sampled_from(options), min_size=1, max_size=3,
                           unique_by=lambda o: o[0]))
    sets = []
    for key, (good, bad) in chosen:
        pool = bad if draw(st.integers(0, 3)) == 0 else good
        sets += ["--set", f"{key}={draw(st.sampled_from(pool))}"]
    return model, sets


@settings(deadline=None,                  # examples: the profile's (ci 40, deep 300)
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(run=runs())
def test_any_setting_ends_in_a_run_or_one_error_line(tmp_path_factory, capsys, run):
    model, sets = run
    out = tmp_path_factory.mktemp("run") / "out"
    capsys.readouterr()
    status = main(["train", model, "--out", str(out), *SMALL, *sets])
    err = capsys.readouterr().err.strip()
    assert status in (0, 2), (status, err)
    if status == 2:
        assert err.startswith("nprec: error: ") and "\n" not in err, err
        assert "Traceback" not in err


# TOML values of every type, including the wrong ones for a key (arrays, tables, dates).
TOML_VALUES = ["1", "0", "-1", "2.5", "nan", "inf", "true", "false", '"x"', '""', '"16,8"',
               "[]", "[16, 8]", '["a"]', "[1.5]", "{a = 1}", "1979-05-27", "[[1], [2]]"]


@st.composite
def config_files(draw):
    """(model, TOML text): known and unknown sections and keys with any kind of value."""
    model = draw(st.sampled_from(MODELS))
    keys = [key for key, _ in _options(model)] + ["model.zzz", "zzz.k", "train", "model_name"]
    lines, sections = [], {}
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        section, _, name = key.rpartition(".")
        sections.setdefault(section, []).append(f"{name} = {draw(st.sampled_from(TOML_VALUES))}")
    for section, body in sections.items():
        lines += ([f"[{section}]"] if section else []) + body
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(
            ["[model", "= 1", "a = ", "[data]\n[data]", "x = 1\nx = 2", "\x00"])))
    return model, "\n".join(lines) + "\n"


@settings(deadline=None,                  # examples: the profile's (ci 40, deep 300)
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=config_files())
def test_any_config_file_ends_in_a_run_or_one_error_line(tmp_path_factory, capsys, case):
    model, text = case
    tmp = tmp_path_factory.mktemp("cfg")
    (tmp / "c.toml").write_text(text, encoding="utf-8")
    capsys.readouterr()
    status = main(["train", model, "--config", str(tmp / "c.toml"), "--out", str(tmp / "out"),
                   *SMALL])
    err = capsys.readouterr().err.strip()
    assert status in (0, 2), (status, err)
    if status == 2:
        assert err.startswith("nprec: error: ") and "\n" not in err, err


@settings(deadline=None,                  # examples: the profile's (ci 40, deep 300)
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(
    st.sampled_from(["loss", "layers", "batch_size", "n_sample", "sample_alpha", "logq",
                     "constrained_embedding", "embedding", "dropout_p_hidden", "momentum",
                     "learning_rate", "bpreg", "elu_param", "n_epochs", "zzz", ""]),
    st.sampled_from(["", "0", "1", "-1", "0.5", "100", "16/8", "True", "bpr-max", "top1",
                     "cross-entropy", "x", "nan", "=", "1,2"])), max_size=4),
    separator=st.sampled_from(["=", ":", ""]))
def test_any_official_parameter_string_ends_in_a_run_or_one_error_line(
        tmp_path_factory, capsys, pairs, separator):
    params = ",".join(f"{k}{separator}{v}" for k, v in pairs)
    out = tmp_path_factory.mktemp("p") / "out"
    capsys.readouterr()
    status = main(["train", "gru4rec", "--params", params, "--out", str(out), *SMALL])
    err = capsys.readouterr().err.strip()
    assert status in (0, 2), (params, status, err)
    if status == 2:
        assert err.startswith("nprec: error: ") and "\n" not in err, err
