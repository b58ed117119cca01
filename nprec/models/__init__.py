"""The models, one file per paper, and the contract the training driver relies on.

Every model module provides:

    Config    a dataclass of hyperparameters: public option names (the paper's or the
              official code's), the paper's defaults, types and ranges checked in
              `__post_init__` (`config.check_types`, `check_least`, `check`: a bad value
              raises `ConfigError` naming the option).
    Model     the model class:
                  Model(config, n_users, n_items, *, rng, dtype)  initialises `params`
                  params                 {name: ndarray}, named as in the paper
                  batches(train, rng)    the mini-batches of one epoch (sampling inside)
                  forward(batch)         -> (loss, cache)
                  backward(cache)        -> {name: gradient}, in reverse order of forward
              and the scoring methods of its kind (see `nprec.experiment`).
              Baselines have `fit(train)` instead of batches/forward/backward, and their
              module says `FIT_ONCE = True`.
    KIND      "interactions" (implicit user-item), "sessions" or "ratings" (explicit), or a
              tuple of them for a model that takes several (popularity, item-kNN).
    DEFAULTS  run settings the paper implies, e.g. {"train.epochs": 20,
              "eval.protocol": "ncf-loo99"}; applied before the user's config and --set.
    ALIASES   extra option names, e.g. GRU4Rec's {"n_epochs": "train.epochs"}.

Optional: `pretrain_stages(settings) -> [(name, stage settings)]` with
`Model.load_pretrained({name: params})` (NeuMF's GMF and MLP pre-training, each stage a run
of its own under DIR/pretrain/NAME); `Config.optimizer_settings() -> (name, lr, momentum)`
when the optimizer depends on other options; `Model.state_arrays()` /
`load_state_arrays(d)` for non-parameter state a checkpoint must keep.

`MODELS` maps each `nprec train MODEL` name to its module; modules are imported on demand.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from nprec.errors import ConfigError

MODELS: dict[str, str] = {
    "mf": "nprec.models.mf",
    "gmf": "nprec.models.gmf",
    "mlp": "nprec.models.mlp",
    "neumf": "nprec.models.neumf",
    "pop": "nprec.models.baseline_runs:pop",
    "itemknn": "nprec.models.baseline_runs:itemknn",
    "ease": "nprec.models.baseline_runs:ease",
    "sknn": "nprec.models.baseline_runs:sknn",
    "vsknn": "nprec.models.baseline_runs:vsknn",
    "gru4rec": "nprec.models.gru4rec",
    "narm": "nprec.models.narm",
    "multdae": "nprec.models.multdae",
    "multvae": "nprec.models.multvae",
    "cdae": "nprec.models.cdae",
    "autorec": "nprec.models.autorec",
    "biasedmf": "nprec.models.biased_mf",
}


def model_module(name: str) -> ModuleType:
    """The module implementing model `name` (a `ConfigError` for an unknown name).

    An entry `module:attribute` names an object inside a module that plays the module's
    part (the baselines share one file of adapters).
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r} (models: {', '.join(sorted(MODELS))})")
    path, _, attribute = MODELS[name].partition(":")
    module = importlib.import_module(path)
    return getattr(module, attribute) if attribute else module
