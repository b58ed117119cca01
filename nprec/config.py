"""Run settings: typed defaults, TOML files and `--set key=value` overrides.

A run is described by four sections, each a dataclass whose fields are the public option
names and whose defaults are the paper's settings:

    [model]  the model's hyperparameters (each model module defines its own dataclass)
    [data]   where the data is and how it is preprocessed and split
    [train]  epochs, seed, early stopping, dtype
    [eval]   protocol, cutoffs, tie policy, model-selection metric

Values are resolved in this order, later ones winning: the dataclass defaults, a TOML file
(`--config`), `--set key=value` (repeatable; `key` may be `section.key` or a bare key that
exists in one section only), then the command's explicit flags. Every value is converted to
the field's type and checked by the dataclass's `__post_init__`; an unknown key or a bad value
is a `ConfigError` naming it. The fully resolved settings are written back to `config.toml`
in the run directory, so `--config DIR/config.toml` repeats a run exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import numpy as np

from nprec.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SECTIONS = ("model", "data", "train", "eval")


def check(ok: bool, key: str, message: str) -> None:
    """Raise `ConfigError('key: message')` unless ok; used by every `__post_init__`."""
    if not ok:
        raise ConfigError(f"{key}: {message}")


# What a value of each option type must be, alone and in a list.
_TYPE_NAMES = {int: ("an integer", "integers"), float: ("a finite number", "finite numbers"),
               bool: ("true or false", "booleans"), str: ("a string", "strings")}


def _is_a(value: Any, tp: Any) -> bool:
    """Whether `value` is of the option type `tp` (NumPy scalars count as numbers)."""
    if tp is bool:
        return isinstance(value, (bool, np.bool_))
    if isinstance(value, (bool, np.bool_)):
        return False                        # True is an int to Python, never an option's size
    if tp is int:
        return isinstance(value, numbers.Integral)
    if tp is float:
        return isinstance(value, numbers.Real) and math.isfinite(value)
    if tp is str:
        return isinstance(value, str)
    return True


def _owner(options: Any) -> str:
    """`mf.Config`: the module and class of a model's options, for messages."""
    return f"{type(options).__module__.rsplit('.', 1)[-1]}.{type(options).__qualname__}"


def check_types(options: Any, section: str = "model") -> None:
    """A `ConfigError` unless every option of a model's `Config` (or of the `section` of the
    run settings: data, train, eval) holds a value of its type.

    Values read from a file or `--set` are converted by `convert` before they get here; this
    is for `Config(...)` called from Python, where `factors=2.5` or `layers="64"` would
    otherwise fail deep inside the model (an int option takes a Python or NumPy integer, a
    float option any finite real number, a list option a list or tuple of those).
    """
    hints = _field_types(type(options))
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        inner, optional = _split_optional(hints[f.name])
        if value is None and optional:
            continue
        if typing.get_origin(inner) is list:
            (elem,) = typing.get_args(inner)
            ok = isinstance(value, (list, tuple)) and all(_is_a(v, elem) for v in value)
            want = f"a list of {_TYPE_NAMES.get(elem, ('', 'values'))[1]}"
        else:
            ok = value is not None and _is_a(value, inner)
            want = _TYPE_NAMES.get(inner, ("a value",))[0]
        if not ok:
            raise ConfigError(f"{section}.{f.name}: must be {want}{' or None' if optional else ''}"
                              f", got {value!r} ({_owner(options)})")


def check_least(options: Any, name: str, least: int, note: str = "") -> None:
    """A `ConfigError` naming the option, its value and the model unless the integer option
    `name` of a model's `Config` is >= least (None, where allowed, means unset)."""
    value = getattr(options, name)
    if value is not None and value < least:
        raise ConfigError(f"model.{name}: must be >= {least}{note}, got {value!r} "
                          f"({_owner(options)})")


@dataclasses.dataclass
class DataSettings:
    """Where the data is and how it is read, preprocessed and split."""

    path: str = dataclasses.field(default="", metadata={
        "help": "training data file (or the whole data set when no test file is given); "
                "empty = the built-in synthetic data"})
    test: str = dataclasses.field(default="", metadata={
        "help": "a pre-split test file read against the training file's ids"})
    format: str = dataclasses.field(default="auto", metadata={
        "help": "file format, or 'auto' to detect it from the name and first line"})
    min_rating: float | None = dataclasses.field(default=None, metadata={
        "help": "keep ratings >= this value as implicit positives (none = keep all)"})
    min_user_items: int = dataclasses.field(default=0, metadata={
        "help": "iterative k-core: users need at least this many items (0 = off)"})
    min_item_users: int = dataclasses.field(default=0, metadata={
        "help": "iterative k-core: items need at least this many users (0 = off)"})
    valid: str = dataclasses.field(default="auto", metadata={
        "help": "validation: 'auto' = carved from the training data by the protocol's rule, "
                "'none' = train on all of it for a fixed number of epochs, or a file "
                "(session data)"})
    test_days: float | None = dataclasses.field(default=None, metadata={
        "help": "sessions: test (and validation) = sessions ending in the last N days "
                "(default 1 when the data has timestamps)"})
    test_fraction: float = dataclasses.field(default=0.1, metadata={
        "help": "sessions without timestamps: the last fraction of sessions; ratings: the "
                "random fraction of ratings held out"})
    dedupe_consecutive: bool = dataclasses.field(default=False, metadata={
        "help": "sessions: remove repeated consecutive clicks on the same item"})
    min_session_length: int = dataclasses.field(default=0, metadata={
        "help": "sessions: drop sessions shorter than this (0 = off)"})
    min_item_support: int = dataclasses.field(default=0, metadata={
        "help": "sessions: drop items with fewer events than this (0 = off)"})
    unknown_test_items: str = dataclasses.field(default="auto", metadata={
        "help": "items of a --test file never seen in training: 'extend' the candidates "
                "with them (they count as misses; SR-GNN/NARM) or 'drop' their entries "
                "(GRU4Rec); 'auto' = extend for user-item data, drop for sessions"})
    heldout_users: float = dataclasses.field(default=0.1, metadata={
        "help": "strong generalisation: validation users = test users = this fraction of "
                "the users (or this many, if >= 1)"})
    held_out_fraction: float = dataclasses.field(default=0.2, metadata={
        "help": "strong generalisation: share of a held-out user's items to predict"})
    negatives_file: str = dataclasses.field(default="", metadata={
        "help": "ncf-loo99: the official .test.negative file (default: 99 seeded samples)"})
    split_seed: int | None = dataclasses.field(default=None, metadata={
        "help": "seed of the data's own draws: the built-in synthetic data, random and "
                "strong-generalisation splits, ncf-loo99's sampled negatives (none = "
                "train.seed); fix it to vary only the training draws over one split"})
    synthetic_users: int = dataclasses.field(default=2000, metadata={
        "help": "users of the built-in synthetic data (sessions: 10x as many sessions)"})
    synthetic_items: int = dataclasses.field(default=1000, metadata={
        "help": "items of the built-in synthetic data"})

    def __post_init__(self) -> None:
        check_types(self, "data")
        check(self.min_user_items >= 0, "data.min_user_items", "must be >= 0")
        check(self.min_item_users >= 0, "data.min_item_users", "must be >= 0")
        check(self.test_days is None or self.test_days > 0, "data.test_days", "must be > 0")
        check(0 < self.test_fraction < 1, "data.test_fraction", "must be in (0, 1)")
        check(self.min_session_length >= 0, "data.min_session_length", "must be >= 0")
        check(self.min_item_support >= 0, "data.min_item_support", "must be >= 0")
        check(self.unknown_test_items in ("auto", "drop", "extend"), "data.unknown_test_items",
              f"must be auto, drop or extend, got {self.unknown_test_items!r}")
        check(self.heldout_users > 0, "data.heldout_users", "must be > 0")
        check(0 < self.held_out_fraction < 1, "data.held_out_fraction", "must be in (0, 1)")
        check(self.split_seed is None or self.split_seed >= 0, "data.split_seed",
              "must be >= 0")
        check(self.synthetic_users >= 10, "data.synthetic_users", "must be >= 10")
        check(self.synthetic_items >= 10, "data.synthetic_items", "must be >= 10")


@dataclasses.dataclass
class TrainSettings:
    """The training loop: epochs, seed, early stopping and numeric type."""

    epochs: int = dataclasses.field(default=20, metadata={"help": "maximum number of epochs"})
    seed: int = dataclasses.field(default=0, metadata={
        "help": "seed of every random draw of the run (init, sampling, dropout; splits too "
                "unless data.split_seed is set)"})
    patience: int = dataclasses.field(default=0, metadata={
        "help": "stop after this many evaluations without a better validation metric "
                "(0 = train all epochs, keep the best)"})
    eval_every: int = dataclasses.field(default=1, metadata={
        "help": "evaluate on the validation split every this many epochs"})
    refit: bool = dataclasses.field(default=False, metadata={
        "help": "after choosing the epoch on validation, train a fresh model on all training "
                "data (validation included) for that many epochs and test it"})
    dtype: str = dataclasses.field(default="float32", metadata={
        "help": "float32 (fast) or float64"})
    progress: bool = dataclasses.field(default=True, metadata={
        "help": "show a progress bar on stderr"})

    def __post_init__(self) -> None:
        check_types(self, "train")
        check(self.epochs >= 1, "train.epochs", "must be >= 1")
        check(self.seed >= 0, "train.seed", "must be >= 0")
        check(self.patience >= 0, "train.patience", "must be >= 0")
        check(self.eval_every >= 1, "train.eval_every", "must be >= 1")
        check(self.dtype in ("float32", "float64"), "train.dtype",
              f"must be float32 or float64, got {self.dtype!r}")


@dataclasses.dataclass
class EvalSettings:
    """The evaluation protocol, its cutoffs and tie policy, and the model-selection metric."""

    protocol: str = dataclasses.field(default="loo-full", metadata={
        "help": "evaluation protocol (loo-full, ncf-loo99, next-item, strong-generalization, "
                "...)"})
    k: list[int] = dataclasses.field(default_factory=lambda: [10], metadata={
        "help": "ranking cutoffs, e.g. 10 or 1,5,10,20"})
    ties: str = dataclasses.field(default="pessimistic", metadata={
        "help": "tie policy of the ranking metrics: pessimistic, optimistic or expected"})
    metrics: list[str] = dataclasses.field(default_factory=list, metadata={
        "help": "metrics to compute (default: the protocol's, e.g. hit,ndcg for loo-full)"})
    metric: str = dataclasses.field(default="", metadata={
        "help": "validation metric that selects the best epoch (default: the protocol's)"})
    also: list[str] = dataclasses.field(default_factory=list, metadata={
        "help": "more protocols to test the chosen model with (same split), e.g. loo-full "
                "beside ncf-loo99"})

    def __post_init__(self) -> None:
        check_types(self, "eval")
        check(len(self.k) >= 1 and all(k >= 1 for k in self.k), "eval.k",
              f"cutoffs must be >= 1, got {self.k}")
        check(self.ties in ("pessimistic", "optimistic", "expected"), "eval.ties",
              f"must be pessimistic, optimistic or expected, got {self.ties!r}")


# -- parsing values ---------------------------------------------------------------------------

def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) for `X | None`."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def largest_int(key: str) -> int:
    """Integer settings are sizes and counts (below 2^31) or seeds (below 2^63): a larger
    value is a typo, and would overflow in the compiled kernels."""
    return 2**63 - 1 if key.endswith("seed") else 2**31 - 1


def whole_number(text: str, largest: int) -> int:
    """An integer written in ASCII digits with an optional sign, at most `largest` in size;
    a ValueError saying why otherwise (Python's int() would also read '1_0' or other
    scripts' digits)."""
    text = text.strip()
    if re.fullmatch(r"[+-]?[0-9]+", text) is None:
        raise ValueError(f"expected an integer, got {text!r}")
    return _at_most(int(text), largest)


def _at_most(value: int, largest: int) -> int:
    if abs(value) > largest:
        raise ValueError(f"{value} is too large (at most {largest})")
    return value


def _parse_scalar(text: str, tp: type, key: str) -> Any:
    text = text.strip()
    if tp is bool:
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {text!r}")
    if tp is int:
        try:
            return whole_number(text, largest_int(key))
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {text!r}")
        return value
    if tp is str:
        return text
    raise TypeError(f"unsupported option type {tp!r} for {key}")


def convert(value: Any, tp: Any, key: str) -> Any:
    """Convert a TOML value or a command-line string to the option's type `tp`."""
    inner, optional = _split_optional(tp)
    if value is None or (optional and isinstance(value, str)
                         and value.strip().lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"{key}: a value is required")
    if typing.get_origin(inner) is list:
        (elem,) = typing.get_args(inner)
        if isinstance(value, str):
            body = value.strip().strip("[]")
            if not body.strip():
                return []
            parts = body.replace("/", ",").split(",")               # 100/100 as the official
            if any(not p.strip() for p in parts):
                raise ConfigError(f"{key}: empty element in the list {value.strip()!r}")
            return [_parse_scalar(p, elem, key) for p in parts]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [convert(v, elem, key) for v in value]
    if isinstance(value, str):
        return _parse_scalar(value, inner, key)
    if inner is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if inner is bool and isinstance(value, bool):
        return value
    if inner is int and isinstance(value, int) and not isinstance(value, bool):
        try:
            return _at_most(value, largest_int(key))
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    if inner is str and isinstance(value, str):
        return value
    if inner is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)                 # TOML `embedding = 0`, as the official files write
    raise ConfigError(f"{key}: expected {getattr(inner, '__name__', inner)}, got {value!r}")


# -- resolving --------------------------------------------------------------------------------

@dataclasses.dataclass
class Settings:
    """The four resolved sections of one run."""

    model_name: str
    model: Any
    data: DataSettings
    train: TrainSettings
    eval: EvalSettings

    def section(self, name: str) -> Any:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model_name": self.model_name}
        for name in SECTIONS:
            out[name] = dataclasses.asdict(self.section(name))
        return out


def _find_key(settings: Settings, key: str, aliases: dict[str, str]) -> tuple[str, str]:
    """Resolve `section.name` or a bare `name` to (section, field)."""
    key = aliases.get(key, key)
    if "." in key:
        section, name = key.split(".", 1)
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r} in {key!r} "
                              f"(sections: {', '.join(SECTIONS)})")
        if name not in {f.name for f in dataclasses.fields(settings.section(section))}:
            raise ConfigError(f"unknown option {key!r}")
        return section, name
    hits = [s for s in SECTIONS
            if key in {f.name for f in dataclasses.fields(settings.section(s))}]
    if not hits:
        raise ConfigError(f"unknown option {key!r} for model {settings.model_name!r}")
    if len(hits) > 1:
        raise ConfigError(f"option {key!r} is ambiguous: write one of "
                          f"{', '.join(f'{s}.{key}' for s in hits)}")
    return hits[0], key


def apply(settings: Settings, values: dict[str, Any], origin: str,
          aliases: dict[str, str] | None = None) -> Settings:
    """Return settings with `values` ({key: value}) applied; `origin` names the source."""
    aliases = aliases or {}
    changes: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in values.items():
        try:
            section, name = _find_key(settings, key, aliases)
            tp = _field_types(type(settings.section(section)))[name]
            changes[section][name] = convert(value, tp, f"{section}.{name}")
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    updated = {}
    for section in SECTIONS:
        current = settings.section(section)
        try:
            updated[section] = dataclasses.replace(current, **changes[section]) \
                if changes[section] else current
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    return Settings(settings.model_name, updated["model"], updated["data"], updated["train"],
                    updated["eval"])


def parse_assignments(pairs: list[str], origin: str = "--set",
                      separator: str | None = None) -> dict[str, str]:
    """`['a=1', 'b.c=x']` (or one string 'a=1,b=2' with `separator=','`) -> {key: text}."""
    if separator is not None:
        split = []
        for chunk in pairs:
            parts = chunk.split(separator)
            if parts and not parts[-1].strip():
                parts.pop()                                     # one trailing separator is fine
            if not parts or any(not p.strip() for p in parts):
                raise ConfigError(f"{origin}: empty key=value pair in {chunk!r}")
            split.extend(parts)
        pairs = split
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"{origin}: expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"{origin}: empty key in {pair!r}")
        out[key] = value
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a settings file into flat {'section.key': value} (plus 'model_name' if present)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text: byte {exc.start})") \
            from None
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ConfigError(f"{path}: unknown section [{key}] "
                                  f"(sections: {', '.join(SECTIONS)})")
            for name, v in value.items():
                flat[f"{key}.{name}"] = v
        else:
            flat[key] = value
    return flat


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '"none"'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are TOML's (\\, \", \n, \u0001 for a control character);
        # TOML also wants DEL escaped, so that a path with any character reads back.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(settings: Settings) -> str:
    """The resolved settings as a TOML document that `read_toml` reads back identically."""
    lines = ["# Fully resolved settings of this run; `nprec train --config` repeats it.",
             f"model_name = {_toml_value(settings.model_name)}", ""]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for f in dataclasses.fields(settings.section(section)):
            lines.append(f"{f.name} = {_toml_value(getattr(settings.section(section), f.name))}")
        lines.append("")
    return "\n".join(lines)


def option_help(cls: type) -> list[tuple[str, str, str]]:
    """(name, default, help) for every field of a settings dataclass, for `--help` output."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rows.append((f.name, _toml_value(default), f.metadata.get("help", "")))
    return rows
