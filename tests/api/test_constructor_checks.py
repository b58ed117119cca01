"""Models refuse a bad size, generator or dtype with a ConfigError naming the model, the
argument and the value, instead of NumPy's shape error or an AttributeError from inside an
initialiser."""

from __future__ import annotations

import numpy as np
import pytest

from nprec.errors import ConfigError
from nprec.models import (
    autorec,
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

U, V = 6, 9

# Keyed by each model's `name`, which its messages start with.
MODULES = {"mf": mf, "gmf": gmf, "mlp": mlp, "neumf": neumf, "biasedmf": biased_mf,
           "autorec": autorec, "cdae": cdae, "multdae": multdae, "multvae": multvae,
           "gru4rec": gru4rec, "narm": narm}
SESSION_MODELS = ("gru4rec", "narm")


def _config(name: str):
    if name == "gru4rec":
        return gru4rec.Config(layers=[8], batch_size=8, n_sample=0)
    if name == "narm":
        return narm.Config(hidden_units=8, dim_proj=8)
    return MODULES[name].Config()


def _build(name: str, **kwargs):
    args = {"n_users": 0 if name in SESSION_MODELS else U, "n_items": V,
            "rng": np.random.default_rng(0), "dtype": np.float32, **kwargs}
    return MODULES[name].Model(_config(name), args.pop("n_users"), args.pop("n_items"), **args)


# -- Model(config, n_users, n_items, *, rng, dtype) --------------------------------------------

@pytest.mark.parametrize("name", sorted(MODULES))
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
    with pytest.raises(ConfigError, match=f"^{name}: {message}$"):
        _build(name, **kwargs)


@pytest.mark.parametrize("name", sorted(set(MODULES) - set(SESSION_MODELS)))
def test_user_item_models_need_at_least_one_user(name):
    with pytest.raises(ConfigError, match=f"^{name}: n_users must be an integer >= 1, got 0$"):
        _build(name, n_users=0)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_numpy_sizes_and_dtype_names_still_build_the_same_model(name):
    plain = _build(name, dtype=np.float64)
    other = _build(name, n_users=np.int64(plain.n_users), n_items=np.int64(V), dtype="float64")
    assert type(other.n_items) is int and other.n_items == V
    assert plain.params.keys() == other.params.keys()
    for key, value in plain.params.items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(other.params[key], value)
