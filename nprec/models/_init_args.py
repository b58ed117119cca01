"""Checked constructor arguments, shared by every `Model(config, n_users, n_items, *, rng,
dtype)`.

Unchecked, a wrong size fails inside NumPy ("negative dimensions are not allowed"), a seed
given as `rng` fails as an AttributeError of `int` inside an initialiser, an integer dtype
builds integer parameters that the optimisers truncate, and a config of another model (or
None, or a dict) fails as an AttributeError on the first option the model reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nprec.data.containers import as_count, as_generator
from nprec.errors import ConfigError

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_config(model: str, config: Any, config_type: type) -> None:
    """`config` is an instance of exactly `config_type`, the model's own Config class.

    Exactly: a subclass is refused too. The only subclass among the models' Configs is
    Mult-VAE's of Mult-DAE's, and Mult-DAE would silently ignore Mult-VAE's options.

    Raises:
        ConfigError "{model}: config must be a {module}.{Config}, got {type}".
    """
    if type(config) is not config_type:
        raise ConfigError(f"{model}: config must be a {_class_name(config_type)}, got "
                          f"{_class_name(type(config))}")


def _class_name(cls: type) -> str:
    """`dict` for a built-in class, else the module path: two models' `Config`s differ."""
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def check_init(model: str, n_users: Any, n_items: Any, rng: Any, dtype: Any, *,
               config: Any, config_type: type,
               sessions: bool = False) -> tuple[int, int, np.dtype]:
    """A model's config, sizes, generator and parameter dtype, checked.

    Args:
        model:    the model's name, for the messages ("mf").
        config, config_type: the config given and the model's Config class; the config
                  must be an instance of exactly that class (`check_config`).
        n_users, n_items: integers >= 1; a session model (`sessions=True`) reads no users,
                  and takes n_users >= 0 (the driver passes 0).
        rng:      a `np.random.Generator`.
        dtype:    float32 or float64 (anything `np.dtype` reads as one of them).
    Returns:
        (n_users, n_items) as ints and dtype as a `np.dtype`.
    Raises:
        ConfigError naming the model, the argument and its value (the config: its class).
    """
    check_config(model, config, config_type)
    n_users = as_count(n_users, f"{model}: n_users", 0 if sessions else 1, ConfigError)
    n_items = as_count(n_items, f"{model}: n_items", 1, ConfigError)
    as_generator(rng, f"{model}: rng")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in DTYPES:          # (`None in DTYPES`: NumPy compares it as float64)
        raise ConfigError(f"{model}: dtype must be float32 or float64, got "
                          f"{repr(dtype) if dt is None else dt.name}")
    return n_users, n_items, dt
