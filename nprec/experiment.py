"""The driver behind `nprec train`: settings -> data -> model -> fit -> test -> run directory.

    settings = resolve_settings("mf", sets=["factors=32"])
    results = train_run(settings, new_run_dir(None, "mf"))

`resolve_settings` merges the model's defaults, a TOML file, `--params`, `--set` and the
command's flags. `train_run` loads the data by protocol (`nprec.run_data`), builds the model,
trains it with `nprec.train.fit` (validation every `eval_every` epochs, `best.npz` when the
validation metric improves, `last.npz` after every epoch), evaluates the best epoch on the
test split and writes `results.json`. `resume_run` continues from `last.npz`. Models without
a training loop (the baselines) are fitted once instead.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from nprec.checkpoint import (
    Checkpoint,
    check_run_checkpoint,
    load_checkpoint,
    load_meta,
    save_checkpoint,
)
from nprec.config import (
    DataSettings,
    EvalSettings,
    Settings,
    TrainSettings,
    apply,
    parse_assignments,
    read_toml,
    to_toml,
)
from nprec.errors import CheckpointError, ConfigError, NprecError, TrainingError
from nprec.evaluation import check_metric, evaluate
from nprec.models import model_module
from nprec.optim import SGD, Adagrad, Adam
from nprec.run_data import RunData, check_protocol, load_run_data, same_split
from nprec.runs import (
    peak_memory_mb,
    read_results,
    versions,
    write_results,
    write_text_atomic,
)
from nprec.train import FitState, fit, higher_is_better, init_rng

DEFAULT_METRIC = {"loo-full": "ndcg@10", "ncf-loo99": "ndcg@10", "next-item": "mrr@20",
                  "strong-generalization": "ndcg@100", "rating-holdout": "rmse"}


# -- settings ---------------------------------------------------------------------------------

def default_settings(model_name: str) -> Settings:
    """The settings of a model before any user input: dataclass defaults + model DEFAULTS."""
    module = model_module(model_name)
    base = Settings(model_name, module.Config(), DataSettings(), TrainSettings(),
                    EvalSettings())
    return apply(base, getattr(module, "DEFAULTS", {}), f"defaults of {model_name}")


def resolve_settings(model_name: str, *, config_file: str | None = None,
                     sets: list[str] | None = None, params: str | None = None,
                     flags: dict[str, Any] | None = None) -> Settings:
    """Merge, in order: defaults, config file, --params, --set, explicit flags.

    `flags` maps setting keys (`data.path`, `model.factors`, ...) to values from the
    command's own options; None values are ignored. A flag whose setting the model lacks is
    a `ConfigError` naming the flag.
    """
    module = model_module(model_name)
    aliases = getattr(module, "ALIASES", {})
    settings = default_settings(model_name)
    if config_file:
        flat = read_toml(config_file)
        named = flat.pop("model_name", model_name)
        if named != model_name:
            raise ConfigError(f"{config_file}: the file configures model {named!r}, "
                              f"not {model_name!r}")
        settings = apply(settings, flat, config_file, aliases)
    if params is not None:
        settings = apply(settings, parse_assignments([params], "--params", separator=","),
                         "--params", aliases)
    if sets:
        settings = apply(settings, parse_assignments(sets), "--set", aliases)
    for key, value in (flags or {}).items():
        if value is None:
            continue
        section, name = key.split(".")
        if name not in {f.name for f in dataclasses.fields(settings.section(section))}:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag}: model {model_name!r} has no option {name!r}")
        settings = apply(settings, {key: value}, f"--{name}")
    if getattr(module, "FIT_ONCE", False) and (flags or {}).get("train.epochs") is not None:
        warnings.warn(f"--epochs: {model_name} is fitted once, without epochs; ignored",
                      stacklevel=2)
    kind = check_protocol(settings.eval.protocol, module.KIND, model_name)
    for name in settings.eval.also:
        if check_protocol(name, module.KIND, model_name, "eval.also") != kind:
            raise ConfigError(f"eval.also: {name!r} needs other data than "
                              f"{settings.eval.protocol!r}")
        if not same_split(name, settings.eval.protocol):
            raise ConfigError(f"eval.also: {name!r} needs a different split than "
                              f"{settings.eval.protocol!r}")
    check_metric(settings, _metric(settings))
    return settings


def settings_from_dict(d: dict[str, Any], origin: str) -> Settings:
    """Rebuild `Settings` from `Settings.to_dict()` output (a checkpoint's meta)."""
    try:
        model_name = d["model_name"]
        flat = {f"{s}.{k}": v for s in ("model", "data", "train", "eval") for k, v in d[s].items()}
    except (KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{origin}: the run's settings are missing or malformed") from None
    try:
        return apply(default_settings(model_name), flat, origin)
    except ConfigError as exc:
        raise CheckpointError(f"{origin}: settings this nprec cannot use ({exc})") from None


def make_optimizer(config: Any) -> Any:
    """The optimizer a model's config names: `optimizer`, `learning_rate`, `momentum`.

    A config whose choice depends on other options (NeuMF: SGD after pre-training) defines
    `optimizer_settings() -> (name, learning_rate, momentum)` instead.
    """
    if hasattr(config, "optimizer_settings"):
        name, lr, momentum = config.optimizer_settings()
    else:
        name = getattr(config, "optimizer", "adam")
        lr, momentum = config.learning_rate, getattr(config, "momentum", 0.0)
    if name == "adam":
        return Adam(lr)
    if name == "adagrad":
        return Adagrad(lr, momentum=momentum)
    if name == "sgd":
        return SGD(lr, momentum=momentum)
    raise ConfigError(f"model.optimizer: unknown optimizer {name!r} (sgd, adagrad, adam)")


# -- checkpoints ----------------------------------------------------------------------------

def _checkpoint(settings: Settings, model: Any, data: RunData, state: FitState | None,
                optimizer: Any = None) -> Checkpoint:
    arrays: dict[str, np.ndarray] = {"user_ids": data.user_ids, "item_ids": data.item_ids}
    if data.kind in ("interactions", "ratings"):
        arrays["train_indptr"] = data.train.indptr
        arrays["train_indices"] = data.train.indices
    for name, value in getattr(model, "state_arrays", dict)().items():
        arrays[f"state/{name}"] = value
    meta = {"model_name": settings.model_name, "settings": settings.to_dict(),
            "kind": data.kind, "n_users": data.n_users, "n_items": data.n_items,
            "fit_state": None if state is None else state.to_dict()}
    return Checkpoint(meta, params=dict(model.params),
                      optim={} if optimizer is None else optimizer.state_dict(),
                      arrays=arrays)


def load_run_checkpoint(path: Path, model_name: str | None = None
                        ) -> tuple[Checkpoint, Settings]:
    """A checkpoint of a run and its settings, its contents checked (`CheckpointError`).

    Every run checkpoint nprec reads goes through here: the file (`load_checkpoint`), its
    arrays (`check_run_checkpoint`), its settings, and the data kind its model takes on its
    protocol.
    """
    ckpt = load_checkpoint(path, model_name)
    check_run_checkpoint(ckpt, path)
    settings = settings_from_dict(ckpt.meta["settings"], str(path))
    if settings.model_name != ckpt.meta["model_name"]:
        raise CheckpointError(f"{path}: the metadata names model {ckpt.meta['model_name']!r} "
                              f"but holds settings of {settings.model_name!r}")
    try:
        kind = check_protocol(settings.eval.protocol, model_module(settings.model_name).KIND,
                              settings.model_name)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: settings this nprec cannot use ({exc})") from None
    if ckpt.meta["kind"] != kind:
        raise CheckpointError(f"{path}: the metadata says {ckpt.meta['kind']} data, but "
                              f"{settings.model_name} on {settings.eval.protocol} takes {kind}")
    return ckpt, settings


def fit_state_of(ckpt: Checkpoint, path: Path) -> FitState:
    """The training state a checkpoint records (a `CheckpointError` if it has none)."""
    d = ckpt.meta.get("fit_state")
    if d is None:
        raise CheckpointError(f"{path}: the checkpoint holds no training state")
    try:
        state = FitState.from_dict(d)
        best = state.best
        consistent = (state.epoch >= 0 and len(state.history) == state.epoch and
                      all(isinstance(h, dict) for h in state.history) and
                      (best is None or 1 <= int(best["epoch"]) <= state.epoch))
    except (KeyError, TypeError, ValueError, AttributeError):
        consistent = False
    if not consistent:
        raise CheckpointError(f"{path}: the training state in the metadata is malformed")
    return state


def build_model(settings: Settings, n_users: int, n_items: int) -> tuple[ModuleType, Any]:
    """The model module and a freshly initialised model (seeded by the run seed)."""
    module = model_module(settings.model_name)
    model = module.Model(settings.model, n_users, n_items, rng=init_rng(settings.train.seed),
                         dtype=np.dtype(settings.train.dtype))
    return module, model


def restore_params(model: Any, ckpt: Checkpoint, origin: str) -> None:
    """Copy a checkpoint's parameters into `model`, checking names, shapes and dtypes; the
    model checks its other arrays itself (`set_params`, `load_state_arrays`)."""
    if hasattr(model, "set_params"):        # a fitted baseline rebuilds itself from arrays
        _restore_arrays(model.set_params, ckpt.params, origin)
        return
    if set(ckpt.params) != set(model.params):
        raise CheckpointError(f"{origin}: parameters {sorted(ckpt.params)} do not match the "
                              f"model's {sorted(model.params)}")
    for name, value in ckpt.params.items():
        current = model.params[name]
        if value.shape != current.shape:
            raise CheckpointError(f"{origin}: parameter {name!r} has shape {value.shape}, the "
                                  f"model expects {current.shape}")
        if value.dtype != current.dtype:    # a cast would hide a damaged or foreign file
            raise CheckpointError(f"{origin}: parameter {name!r} is {value.dtype}, the model "
                                  f"expects {current.dtype}")
        model.params[name] = value
    state = {k.removeprefix("state/"): v for k, v in ckpt.arrays.items()
             if k.startswith("state/")}
    trained = (ckpt.meta.get("fit_state") or {}).get("epoch", 0)
    if not state and hasattr(model, "load_state_arrays") and trained:
        # A model with state (GRU4Rec's supports, the autoencoders' training rows, biased
        # MF's mean) cannot score without it; only the checkpoint written before the first
        # epoch may lack it.
        raise CheckpointError(f"{origin}: holds none of the model's state arrays (state/...)")
    if state:
        if not hasattr(model, "load_state_arrays"):     # nprec never wrote these
            raise CheckpointError(f"{origin}: state arrays {sorted(state)} for a model that "
                                  f"keeps none")
        _restore_arrays(model.load_state_arrays, state, origin)


def _restore_arrays(load: Callable[[dict[str, np.ndarray]], None],
                    arrays: dict[str, np.ndarray], origin: str) -> None:
    """`load(arrays)`, its `CheckpointError` (which names the array) prefixed with the file:
    the model knows what is wrong, only the caller knows where it came from."""
    try:
        load(arrays)
    except CheckpointError as exc:
        raise CheckpointError(f"{origin}: {exc}") from None


def restore_optimizer(optimizer: Any, model: Any, ckpt: Checkpoint, path: Path) -> None:
    """Load the optimizer state of a checkpoint: one array like each parameter it updates
    (same shape and dtype) and a step count."""
    for key, value in ckpt.optim.items():
        name = key.partition("/")[2]
        param = model.params.get(name)
        if key == "t":
            fits = value.ndim == 0 and value.dtype.kind in "iu" and value >= 0
        else:
            fits = param is not None and (value.shape, value.dtype) == (param.shape, param.dtype)
        if not fits:
            raise CheckpointError(f"{path}: the optimizer state {key!r} does not fit the "
                                  f"model's parameters")
    try:
        optimizer.load_state_dict(ckpt.optim)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


# -- training --------------------------------------------------------------------------------

def _metric(settings: Settings) -> str:
    return settings.eval.metric or DEFAULT_METRIC[settings.eval.protocol]


def train_run(settings: Settings, run_dir: Path, *, progress: bool = True,
              log: Any = None, resume: Checkpoint | None = None) -> dict[str, Any]:
    """Train and test one run into `run_dir`; returns the results dict (also written)."""
    started = time.perf_counter()
    if resume is None:
        write_text_atomic(run_dir / "config.toml", to_toml(settings))
    module = model_module(settings.model_name)
    pretrained, pretrain_record = _pretrain(module, settings, run_dir, progress, log)
    data = load_run_data(settings, module.KIND)
    loaded = time.perf_counter()
    if log is not None:
        size = (f"{data.fit.n_sessions} sessions" if data.kind == "sessions"
                else f"{data.n_users} users")
        log(f"nprec: {settings.model_name} on {size}, {data.n_items} items "
            f"({settings.eval.protocol}) -> {run_dir}")
    metric = _metric(settings)
    state: FitState | None = None
    search = refit = valid = None
    if getattr(module, "FIT_ONCE", False):
        model, search, valid = _fit_baseline(settings, data, metric, log)
        save_checkpoint(run_dir / "best.npz", _checkpoint(settings, model, data, None))
    else:
        model, state = _train_epochs(settings, run_dir, data, metric, pretrained, resume,
                                     progress, log)
        if data.valid is not None:
            valid = state.history[state.best["epoch"] - 1].get("valid")
        if settings.train.refit and data.valid is not None:
            refit = _refit(settings, run_dir, state.best["epoch"], progress, log)
            refit_best = run_dir / "refit" / "best.npz"
            restore_params(model, load_run_checkpoint(refit_best, settings.model_name)[0],
                           str(refit_best))
    trained = time.perf_counter()
    test = evaluate(model, data, "test", settings)
    also = {name: evaluate(model, data, "test", settings, protocol=name)
            for name in settings.eval.also}
    if log is not None:
        for report in [test, *also.values()]:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in report["metrics"].items())
            log(f"test ({report['protocol']}, {report['ties']} ties): {shown}")
    finished = time.perf_counter()
    results = {
        "model": settings.model_name,
        "status": "completed" if state is None or not state.stopped else "stopped early",
        "settings": settings.to_dict(),
        "seed": settings.train.seed,
        "data": data.record,
        "protocol": {"name": settings.eval.protocol, "metric": metric,
                     "ties": settings.eval.ties, "test": _protocol_settings(test)},
        "pretrain": pretrain_record,
        "history": [] if state is None else state.history,
        "search": search,
        "best": None if state is None else state.best,
        "stopped": "" if state is None else state.stopped,
        "refit": None if refit is None else {"dir": str(run_dir / "refit"),
                                             "epochs": refit["settings"]["train"]["epochs"],
                                             "history": refit["history"]},
        "valid": valid,
        "test": test["metrics"],
        "test_by_ties": test.get("by_ties"),
        "test_also": {name: {"metrics": r["metrics"], "by_ties": r.get("by_ties"),
                             "settings": _protocol_settings(r)} for name, r in also.items()},
        "seconds": {"total": finished - started, "load": loaded - started,
                    "train": trained - loaded, "test": finished - trained},
        "peak_memory_mb": peak_memory_mb(),
        "versions": versions(),
    }
    write_results(run_dir, results)
    return results


def _train_epochs(settings: Settings, run_dir: Path, data: RunData, metric: str,
                  pretrained: dict[str, dict[str, np.ndarray]], resume: Checkpoint | None,
                  progress: bool, log: Any) -> tuple[Any, FitState]:
    """The epoch loop with its checkpoints; returns the model at its best epoch."""
    _, model = build_model(settings, data.n_users, data.n_items)
    optimizer = make_optimizer(settings.model)
    if resume is not None:
        last = run_dir / "last.npz"
        _check_same_data(resume, data, last)
        restore_params(model, resume, str(last))
        restore_optimizer(optimizer, model, resume, last)
        state = fit_state_of(resume, last)
    else:
        if pretrained:
            model.load_pretrained(pretrained)
        state = FitState()
        save_checkpoint(run_dir / "last.npz", _checkpoint(settings, model, data, state,
                                                          optimizer))

    def on_epoch_end(st: FitState, improved: bool) -> None:
        # last.npz first: stopped between the two writes, last.npz holds this very epoch,
        # from which a resume rewrites best.npz (`_reconcile_best`). The other order could
        # leave a best.npz of an epoch that no resumable state has reached.
        save_checkpoint(run_dir / "last.npz", _checkpoint(settings, model, data, st,
                                                          optimizer))
        if improved:
            save_checkpoint(run_dir / "best.npz", _checkpoint(settings, model, data, st))

    validate = None
    if data.valid is not None:
        def validate() -> dict[str, float]:
            return evaluate(model, data, "valid", settings)["metrics"]

    try:
        state = fit(model, optimizer, lambda rng: model.batches(data.fit, rng),
                    epochs=settings.train.epochs, seed=settings.train.seed,
                    evaluate=validate, metric=metric, patience=settings.train.patience,
                    eval_every=settings.train.eval_every, on_epoch_end=on_epoch_end,
                    state=state, progress=progress, log=log)
    except TrainingError as exc:
        raise TrainingError(_what_is_kept(str(exc), run_dir)) from None
    best_path = run_dir / "best.npz"
    best, _ = load_run_checkpoint(best_path, settings.model_name)
    if state.best is not None and fit_state_of(best, best_path).epoch != state.best["epoch"]:
        raise CheckpointError(f"{best_path}: does not hold the best epoch "
                              f"{state.best['epoch']}; was it replaced while training?")
    restore_params(model, best, str(best_path))
    return model, state


def _what_is_kept(message: str, run_dir: Path) -> str:
    """`fit`'s message, and which checkpoint the stopped training left on disk."""
    best = run_dir / "best.npz"
    kept = "no best.npz was written"
    if best.is_file():
        try:
            kept = f"{best} of epoch {load_meta(best)['fit_state']['epoch']} is kept"
        except (NprecError, KeyError, TypeError):
            kept = f"{best} is kept"
    return f"{message} ({kept})"


def _check_same_data(ckpt: Checkpoint, data: RunData, path: Path) -> None:
    """A resumed run must read the data it started on: the same raw ids in the same order."""
    for key in ("user_ids", "item_ids"):
        saved, now = ckpt.arrays.get(key), getattr(data, key)
        if saved is None or not np.array_equal(saved, now):
            raise CheckpointError(f"{path}: the run's data now has other {key} than when it "
                                  f"started; were its data files changed?")


def _pretrain(module: ModuleType, settings: Settings, run_dir: Path, progress: bool,
              log: Any) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any] | None]:
    """Run the model's pre-training stages (NeuMF's GMF and MLP), each a run of its own.

    A module with `pretrain_stages(settings) -> [(name, stage settings), ...]` gets each
    stage trained in `run_dir/pretrain/<name>` (a complete run directory: resumable, and
    skipped once it has results), and its model receives the stages' best parameters through
    `load_pretrained({name: params})` before its first epoch.
    """
    stages = getattr(module, "pretrain_stages", lambda s: [])(settings)
    params: dict[str, dict[str, np.ndarray]] = {}
    record: dict[str, Any] = {}
    for name, stage_settings in stages:
        stage_dir = run_dir / "pretrain" / name
        if not (stage_dir / "results.json").is_file():
            if (stage_dir / "last.npz").is_file():
                resume_run(stage_dir, progress=progress, log=log)
            else:
                stage_dir.mkdir(parents=True, exist_ok=True)
                if log is not None:
                    log(f"nprec: pre-training stage {name!r} -> {stage_dir}")
                train_run(stage_settings, stage_dir, progress=progress, log=log)
        results = read_results(stage_dir)
        params[name] = load_run_checkpoint(stage_dir / "best.npz")[0].params
        record[name] = {"dir": str(stage_dir), "model": results["model"],
                        "best": results["best"], "valid": results["valid"],
                        "test": results["test"]}
    return params, (record or None)


def _fit_baseline(settings: Settings, data: RunData, metric: str, log: Any
                  ) -> tuple[Any, list[dict[str, Any]] | None, dict[str, float] | None]:
    """Fit a model without a training loop; search its GRID option on validation.

    Each searched value is fitted on the fitted part and validated; the chosen value is then
    fitted again on the whole training part (validation included), as Dacrema et al. and
    Rendle et al. do: validation picks the hyperparameter, all training data fits the model.
    Returns the final model, the search record (or None) and the chosen value's validation
    metrics (or None).
    """
    module = model_module(settings.model_name)
    grid = getattr(module, "GRID", {})
    values = {name: getattr(settings.model, key) for name, key in grid.items()
              if getattr(settings.model, key)}
    search, best = None, None
    if values:
        if data.valid is None:
            raise ConfigError(f"model.{', model.'.join(grid[n] for n in values)}: a search "
                              f"needs a validation split (data.valid = 'auto')")
        (name, candidates), = values.items()
        search = []
        sign = 1.0 if higher_is_better(metric) else -1.0
        for value in candidates:
            trial = apply(settings, {f"model.{name}": value}, f"search over {grid[name]}")
            _, model = build_model(trial, data.n_users, data.n_items)
            model.fit(data.fit)
            valid = evaluate(model, data, "valid", trial)["metrics"]
            search.append({name: value, **valid})
            if log is not None:
                log(f"search {name}={value}: valid {metric} {valid[metric]:.4f}")
            if best is None or sign * valid[metric] > sign * best[0][metric]:
                best = (valid, value)
        settings.model = dataclasses.replace(settings.model, **{name: best[1]})
    _, model = build_model(settings, data.n_users, data.n_items)
    return model.fit(data.train), search, None if best is None else best[0]


def _refit(settings: Settings, run_dir: Path, best_epoch: int, progress: bool,
           log: Any) -> dict[str, Any]:
    """Train again on the whole training part for the chosen number of epochs.

    With `train.refit`, validation only chooses the epoch; the final model is a fresh one
    trained on everything the validation split was carved from, in `run_dir/refit` (a run
    of its own, resumable). Returns that run's results.
    """
    refit_dir = run_dir / "refit"
    if (refit_dir / "results.json").is_file():
        return read_results(refit_dir)
    if (refit_dir / "last.npz").is_file():
        return resume_run(refit_dir, progress=progress, log=log)
    refit_dir.mkdir(parents=True, exist_ok=True)
    refit_settings = apply(settings, {"data.valid": "none", "train.epochs": best_epoch,
                                      "train.refit": False, "train.patience": 0}, "refit")
    if log is not None:
        log(f"nprec: refit on all training data for {best_epoch} epochs -> {refit_dir}")
    return train_run(refit_settings, refit_dir, progress=progress, log=log)


def _protocol_settings(report: dict[str, Any]) -> dict[str, Any]:
    return {"rows": report.get("rows"), **report.get("settings", {})}


def resume_run(run_dir: Path, *, epochs: int | None = None, progress: bool = True,
               log: Any = None) -> dict[str, Any]:
    """Continue an interrupted run from its `last.npz` with the run's own settings.

    `epochs` raises (or lowers) the run's epoch budget, never below the epochs already
    trained; the run's config.toml is rewritten to say so. Nothing is written before the
    checkpoint is known to be this run's: its settings must be those of config.toml, and
    best.npz must hold the best epoch that last.npz records.
    """
    last = run_dir / "last.npz"
    if (run_dir / "results.json").is_file():
        raise ConfigError(f"--resume {run_dir}: the run is complete (results.json exists)")
    if not last.is_file():
        if (run_dir / "pretrain").is_dir() and (run_dir / "config.toml").is_file():
            return _resume_pretraining(run_dir, epochs, progress, log)
        raise CheckpointError(f"--resume {run_dir}: no last.npz to resume from")
    ckpt, settings = load_run_checkpoint(last)
    state = fit_state_of(ckpt, last)
    config = run_dir / "config.toml"
    if config.is_file():
        settings = _same_run_settings(settings, _read_run_config(config), last, config)
    if epochs is not None:
        if epochs < max(state.epoch, 1):
            raise ConfigError(f"--epochs {epochs}: the run in {run_dir} has already trained "
                              f"{state.epoch} epochs")
        settings = dataclasses.replace(
            settings, train=dataclasses.replace(settings.train, epochs=epochs))
    _reconcile_best(run_dir, ckpt, state, settings)
    if not config.is_file() or epochs is not None:
        write_text_atomic(config, to_toml(settings))
    return train_run(settings, run_dir, progress=progress, log=log, resume=ckpt)


def _read_run_config(config: Path) -> Settings:
    """The settings a run directory's config.toml holds (it names its model)."""
    flat = read_toml(config)
    model_name = flat.pop("model_name", None)
    if not isinstance(model_name, str):
        raise ConfigError(f"{config}: names no model (model_name = ...)")
    try:
        defaults = default_settings(model_name)
    except ConfigError as exc:
        raise ConfigError(f"{config}: {exc}") from None
    return apply(defaults, flat, str(config))


def _same_run_settings(saved: Settings, config: Settings, path: Path, config_path: Path
                       ) -> Settings:
    """The checkpoint's settings, refused unless config.toml says the same.

    Only the epoch budget may differ (an interrupted `--resume --epochs N` rewrote
    config.toml first); config.toml's budget, the last one asked for, is kept.
    """
    if saved.model_name != config.model_name:
        raise CheckpointError(f"{path}: a checkpoint of model {saved.model_name!r}, but "
                              f"{config_path} configures {config.model_name!r}; not this "
                              f"run's checkpoint")
    ours, theirs = _flat(config.to_dict()), _flat(saved.to_dict())
    differ = [k for k in ours if k != "train.epochs" and ours[k] != theirs.get(k)]
    if differ:
        k = differ[0]
        raise CheckpointError(f"{path}: its settings differ from {config_path} ({k} = "
                              f"{theirs.get(k)!r}, not {ours[k]!r}); not this run's checkpoint")
    return dataclasses.replace(saved, train=dataclasses.replace(
        saved.train, epochs=config.train.epochs))


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    """{'model': {'factors': 8}, ...} -> {'model.factors': 8, ...}"""
    return {f"{s}.{k}": v for s, section in d.items() if isinstance(section, dict)
            for k, v in section.items()}


def _reconcile_best(run_dir: Path, last: Checkpoint, state: FitState,
                    settings: Settings) -> None:
    """Make best.npz hold the best epoch that last.npz records, or refuse to resume.

    last.npz is written before best.npz (`_train_epochs`), so a run stopped between the
    two has a best.npz one improvement behind; then the best epoch is last.npz's own epoch,
    and best.npz is rewritten from it. Any other mismatch cannot come from an interruption
    (a file copied from elsewhere, say), and resuming would test the wrong model.
    """
    best_path = run_dir / "best.npz"
    wanted = None if state.best is None else int(state.best["epoch"])
    on_disk = None
    if best_path.is_file():
        meta = load_meta(best_path, settings.model_name)
        on_disk = (meta.get("fit_state") or {}).get("epoch")
        config = settings_from_dict(meta.get("settings"), str(best_path))
        _same_run_settings(config, settings, best_path, run_dir / "last.npz")
    if on_disk == wanted:
        return
    if wanted is not None and wanted == state.epoch:
        save_checkpoint(best_path, Checkpoint(dict(last.meta), params=last.params,
                                              arrays=last.arrays))
        return
    held = "is missing" if on_disk is None else f"holds epoch {on_disk}"
    raise CheckpointError(f"{best_path}: {held}, but {run_dir / 'last.npz'} (epoch "
                          f"{state.epoch}) records the best epoch as {wanted}; the two are "
                          f"not of one run, so it cannot be resumed")


def _resume_pretraining(run_dir: Path, epochs: int | None, progress: bool, log: Any
                        ) -> dict[str, Any]:
    """Continue a run stopped while pre-training (before its own last.npz existed).

    Its config.toml holds the settings; the finished stages are reused, an interrupted one
    resumes (`_pretrain`).
    """
    settings = _read_run_config(run_dir / "config.toml")
    if epochs is not None:
        settings = dataclasses.replace(
            settings, train=dataclasses.replace(settings.train, epochs=epochs))
    return train_run(settings, run_dir, progress=progress, log=log)


def load_trained(run: str | Path) -> tuple[Settings, Any, Checkpoint]:
    """The settings, the model with its best parameters, and the checkpoint of a run.

    `run` is a run directory (its best.npz, or refit/best.npz when the run was refitted on
    all training data) or a checkpoint file.
    """
    path = Path(run)
    ckpt_path = path if path.suffix == ".npz" else path / "best.npz"
    if path.suffix != ".npz" and (path / "refit" / "best.npz").is_file():
        ckpt_path = path / "refit" / "best.npz"      # the final model of a refitted run
    if not ckpt_path.is_file():
        raise CheckpointError(f"{run}: no checkpoint (expected {ckpt_path})")
    ckpt, settings = load_run_checkpoint(ckpt_path)
    try:
        _, model = build_model(settings, ckpt.meta["n_users"], ckpt.meta["n_items"])
    except NprecError as exc:
        raise CheckpointError(f"{ckpt_path}: cannot rebuild the model ({exc})") from None
    restore_params(model, ckpt, str(ckpt_path))
    return settings, model, ckpt
