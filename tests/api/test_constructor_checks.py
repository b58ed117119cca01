"""Models and their options refuse a bad config, size, generator or dtype with a ConfigError
naming the model, the argument and the value, instead of NumPy's shape error or an
AttributeError from inside an initialiser."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nprec.errors import ConfigError
from nprec.models import (
    MODELS,
    autorec,
    baseline_runs,
    biased_mf,
    cdae,
    gmf,
    gru4rec,
    mf,
    mlp,
    multdae,
    multvae,
    narm,
    neumf,
)
from nprec.models.baseline_runs import EASEConfig, ItemKNNConfig, SKNNConfig

U, V = 6, 9

# Keyed by each model's `name`, which its messages start with.
MODULES = {"mf": mf, "gmf": gmf, "mlp": mlp, "neumf": neumf, "biasedmf": biased_mf,
           "autorec": autorec, "cdae": cdae, "multdae": multdae, "multvae": multvae,
           "gru4rec": gru4rec, "narm": narm}
SESSION_MODELS = ("gru4rec", "narm")

# The baselines' adapters, keyed by `nprec train` name; their messages start with the name of
# the baseline's class. Popularity and item-kNN take interactions or sessions (n_users = 0),
# EASE interactions only, the session kNNs sessions only.
BASELINES = {"pop": baseline_runs.pop, "itemknn": baseline_runs.itemknn,
             "ease": baseline_runs.ease, "sknn": baseline_runs.sknn,
             "vsknn": baseline_runs.vsknn}
SESSION_BASELINES = ("sknn", "vsknn")
PREFIX = {"pop": "popularity"}


def _config(name: str):
    if name == "gru4rec":
        return gru4rec.Config(layers=[8], batch_size=8, n_sample=0)
    if name == "narm":
        return narm.Config(hidden_units=8, dim_proj=8)
    return (MODULES.get(name) or BASELINES[name]).Config()


def _build(name: str, **kwargs):
    sessions = name in SESSION_MODELS + SESSION_BASELINES
    args = {"n_users": 0 if sessions else U, "n_items": V,
            "rng": np.random.default_rng(0), "dtype": np.float32, **kwargs}
    module = MODULES.get(name) or BASELINES[name]
    return module.Model(_config(name), args.pop("n_users"), args.pop("n_items"), **args)


# -- Model(config, n_users, n_items, *, rng, dtype) --------------------------------------------

@pytest.mark.parametrize("name", sorted({**MODULES, **BASELINES}))
@pytest.mark.parametrize("kwargs, message", [
    ({"n_items": 0}, "n_items must be an integer >= 1, got 0"),
    ({"n_items": -3}, "n_items must be an integer >= 1, got -3"),
    ({"n_items": 9.0}, "n_items must be an integer >= 1, got 9.0"),
    ({"n_users": -1}, "n_users must be an integer >= [01], got -1"),
    ({"rng": 0}, r"rng must be a np.random.Generator \(np.random.default_rng\(seed\)\), got 0"),
    ({"rng": None}, "rng must be a np.random.Generator .*, got None"),
    ({"dtype": np.int64}, "dtype must be float32 or float64, got int64"),
    ({"dtype": np.float16}, "dtype must be float32 or float64, got float16"),
], ids=["no-items", "negative-items", "float-items", "negative-users", "seed-as-rng",
        "no-rng", "int-dtype", "half-dtype"])
def test_model_constructors_refuse_bad_arguments(name, kwargs, message):
    with pytest.raises(ConfigError, match=f"^{PREFIX.get(name, name)}: {message}$"):
        _build(name, **kwargs)


@pytest.mark.parametrize("name", sorted(set(MODULES) - set(SESSION_MODELS)) + ["ease"])
def test_user_item_models_need_at_least_one_user(name):
    with pytest.raises(ConfigError, match=f"^{name}: n_users must be an integer >= 1, got 0$"):
        _build(name, n_users=0)


@pytest.mark.parametrize("name", ["itemknn", "pop", "sknn", "vsknn"])
def test_baselines_that_take_sessions_build_without_users(name):
    assert _build(name, n_users=0).n_users == 0


@pytest.mark.parametrize("name", sorted(MODULES))
def test_numpy_sizes_and_dtype_names_still_build_the_same_model(name):
    plain = _build(name, dtype=np.float64)
    other = _build(name, n_users=np.int64(plain.n_users), n_items=np.int64(V), dtype="float64")
    assert type(other.n_items) is int and other.n_items == V
    assert plain.params.keys() == other.params.keys()
    for key, value in plain.params.items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(other.params[key], value)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_take_numpy_sizes_and_dtype_names(name):
    n_users = 0 if name in SESSION_BASELINES else U
    model = _build(name, n_users=np.int64(n_users), n_items=np.uint16(V), dtype="float64")
    assert type(model.n_users) is int and type(model.n_items) is int
    assert (model.n_users, model.n_items) == (n_users, V)


# -- the config argument -----------------------------------------------------------------------

CONFIGS = {name: module.Config for name, module in {**MODULES, **BASELINES}.items()}


def _names():
    return sorted(CONFIGS)


def _with_config(name: str, config):
    module = MODULES.get(name) or BASELINES[name]
    n_users = 0 if name in SESSION_MODELS else U
    return module.Model(config, n_users, V, rng=np.random.default_rng(0), dtype=np.float32)


def _expected(name: str, given: str) -> str:
    wanted = CONFIGS[name]
    return (rf"^{PREFIX.get(name, name)}: config must be a "
            rf"{wanted.__module__}\.{wanted.__qualname__}, got {given}$")


def test_every_model_of_the_command_is_checked_here():
    assert set(CONFIGS) == set(MODELS)


@pytest.mark.parametrize("name", _names())
@pytest.mark.parametrize("config, given", [
    (None, "NoneType"), ({}, "dict"), ("options", "str")], ids=["none", "empty-dict", "str"])
def test_model_constructors_refuse_a_config_that_is_not_one(name, config, given):
    with pytest.raises(ConfigError, match=_expected(name, given)):
        _with_config(name, config)


@pytest.mark.parametrize("name", _names())
def test_model_constructors_refuse_the_options_as_a_dict(name):
    options = dataclasses.asdict(CONFIGS[name]())
    with pytest.raises(ConfigError, match=_expected(name, "dict")):
        _with_config(name, options)


@pytest.mark.parametrize("name", _names())
def test_model_constructors_refuse_every_other_models_config(name):
    _with_config(name, CONFIGS[name]())                 # its own Config builds
    for config_type in CONFIGS.values():
        if config_type is not CONFIGS[name]:
            given = rf"{config_type.__module__}\.{config_type.__qualname__}"
            with pytest.raises(ConfigError, match=_expected(name, given)):
                _with_config(name, config_type())


@pytest.mark.parametrize("name, other", [("multdae", "multvae"), ("multvae", "multdae")])
def test_multdae_and_multvae_take_only_their_own_config(name, other):
    # multvae.Config subclasses multdae.Config, but Mult-DAE would ignore Mult-VAE's options
    # (the KL annealing), so each model takes its own class only.
    assert issubclass(multvae.Config, multdae.Config)
    with pytest.raises(ConfigError, match=_expected(name, rf"nprec\.models\.{other}\.Config")):
        _with_config(name, CONFIGS[other]())


# -- Config(...) -------------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: mf.Config(factors=2.5), r"model.factors: must be an integer, got 2.5 \(mf.Config\)"),
    (lambda: mf.Config(factors=0), r"model.factors: must be >= 1, got 0 \(mf.Config\)"),
    (lambda: mf.Config(batch_size=True), "model.batch_size: must be an integer, got True"),
    (lambda: mf.Config(learning_rate=float("nan")),
     "model.learning_rate: must be a finite number, got nan"),
    (lambda: mf.Config(exclude_positives=1), "model.exclude_positives: must be true or false"),
    (lambda: gmf.Config(factors=-1), r"model.factors: must be >= 1, got -1 \(gmf.Config\)"),
    (lambda: mlp.Config(factors=2.5), "model.factors: must be an integer or None, got 2.5"),
    (lambda: mlp.Config(layers=[16, 8.5]),
     r"model.layers: must be a list of integers, got \[16, 8.5\] \(mlp.Config\)"),
    (lambda: neumf.Config(factors="8"), r"model.factors: must be an integer, got '8' \(neumf"),
    (lambda: neumf.Config(negatives=0), r"model.negatives: must be >= 1, got 0 \(neumf.Config"),
    (lambda: biased_mf.Config(factors=-4), r"model.factors: must be >= 1, got -4 \(biased_mf"),
    (lambda: autorec.Config(hidden_units=np.float64(3)),
     r"model.hidden_units: must be an integer, got np.float64\(3.0\) \(autorec.Config\)"),
    (lambda: cdae.Config(embedding_size=0), r"model.embedding_size: must be >= 1, got 0 \(cdae"),
    (lambda: multdae.Config(p_dims=[200.0]), r"model.p_dims: must be a list of integers, got"),
    (lambda: multvae.Config(total_anneal_steps=-1),
     r"model.total_anneal_steps: must be >= 0, got -1 \(multvae.Config\)"),
    (lambda: gru4rec.Config(layers="100"), "model.layers: must be a list of integers, got '100'"),
    (lambda: narm.Config(hidden_units=0), r"model.hidden_units: must be >= 1, got 0 \(narm"),
    (lambda: narm.Config(batch_size=2.5), r"model.batch_size: must be an integer, got 2.5"),
    (lambda: SKNNConfig(k=2.5), r"model.k: must be an integer, got 2.5 \(baseline_runs.SKNN"),
    (lambda: ItemKNNConfig(k=0), r"model.k: must be >= 1, got 0 \(baseline_runs.ItemKNN"),
    (lambda: EASEConfig(lambdas=["a"]), "model.lambdas: must be a list of finite numbers"),
])
def test_model_options_refuse_fractions_strings_and_out_of_range_sizes(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_options_take_numpy_scalars_and_tuples():
    config = neumf.Config(factors=np.int64(4), layers=(16, 8), learning_rate=np.float32(0.01))
    model = neumf.Model(config, U, V, rng=np.random.default_rng(0))
    assert model.params["P"].shape == (U, 4 + 8)
    assert gru4rec.Config(embedding=0).embedding == "0"    # TOML writes it as a number
