"""Settings resolution: types, ranges, unknown keys, TOML round trip."""

from __future__ import annotations

import dataclasses

import pytest

from nprec.config import (
    DataSettings,
    EvalSettings,
    Settings,
    TrainSettings,
    apply,
    check,
    parse_assignments,
    read_toml,
    to_toml,
)
from nprec.errors import ConfigError


@dataclasses.dataclass
class ToyConfig:
    factors: int = 8
    layers: list[int] = dataclasses.field(default_factory=lambda: [64, 32])
    learning_rate: float = 1e-3
    note: str | None = None
    flag: bool = False

    def __post_init__(self) -> None:
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")


def settings() -> Settings:
    return Settings("toy", ToyConfig(), DataSettings(), TrainSettings(), EvalSettings())


def test_set_values_are_converted_to_the_option_types():
    s = apply(settings(), parse_assignments(
        ["factors=16", "layers=128/64/32", "learning_rate=0.01", "flag=yes", "note=none",
         "epochs=3", "eval.k=1,5,10"]), "--set")
    assert s.model == ToyConfig(16, [128, 64, 32], 0.01, None, True)
    assert s.train.epochs == 3 and s.eval.k == [1, 5, 10]


def test_a_single_number_becomes_a_one_element_list():
    assert apply(settings(), {"layers": 100}, "x").model.layers == [100]
    assert apply(settings(), {"layers": "100"}, "x").model.layers == [100]


@pytest.mark.parametrize("pair, message", [
    ("learning_rate=-1", "model.learning_rate: must be > 0"),
    ("nonsense=1", "unknown option 'nonsense'"),
    ("factors=abc", "expected an integer"),
    ("k=0", "eval.k: cutoffs must be >= 1"),
    ("epochs=1.5", "expected an integer"),
    ("train.nope=1", "unknown option 'train.nope'"),
    ("other.x=1", "unknown section"),
    ("learning_rate=nan", "finite"),
    ("ties=random", "pessimistic, optimistic or expected"),
])
def test_bad_values_name_the_option(pair, message):
    with pytest.raises(ConfigError, match=message) as info:
        apply(settings(), parse_assignments([pair]), "--set")
    assert str(info.value).startswith("--set: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("build, message", [
    (lambda: TrainSettings(seed=1.5), r"train\.seed: must be an integer, got 1\.5"),
    (lambda: TrainSettings(epochs="3"), r"train\.epochs: must be an integer, got '3'"),
    (lambda: TrainSettings(refit=1), r"train\.refit: must be true or false, got 1"),
    (lambda: DataSettings(path=3), r"data\.path: must be a string, got 3"),
    (lambda: DataSettings(test_fraction=float("nan")), r"data\.test_fraction: must be a finite"),
    (lambda: DataSettings(split_seed=2.0), r"data\.split_seed: must be an integer or None"),
    (lambda: EvalSettings(k=[10, 2.5]), r"eval\.k: must be a list of integers"),
    (lambda: EvalSettings(ties=None), r"eval\.ties: must be a string, got None"),
])
def test_settings_built_in_python_check_their_types(build, message):
    # Values from a file or --set are converted first; from Python they are taken as given,
    # and a seed of 1.5 or a cutoff of 2.5 would fail far from where it was written.
    with pytest.raises(ConfigError, match=message):
        build()


def test_settings_built_in_python_take_numpy_integers():
    import numpy as np
    assert TrainSettings(seed=np.int64(3), epochs=np.int32(2)).seed == 3


def test_assignment_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_assignments(["factors"])


def test_toml_round_trip_reproduces_the_settings(tmp_path):
    s = apply(settings(), parse_assignments(["factors=16", "note=hello \"q\"", "seed=7"]), "x")
    path = tmp_path / "config.toml"
    path.write_text(to_toml(s))
    flat = read_toml(path)
    assert flat.pop("model_name") == "toy"
    assert apply(settings(), flat, str(path)) == s


def test_toml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nfactors = 3\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        read_toml(bad)
    with pytest.raises(ConfigError, match="not found"):
        read_toml(tmp_path / "missing.toml")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[optimizer]\nlr = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[optimizer\]"):
        read_toml(unknown)
