"""The data of one run: read, preprocessed and split the way its protocol prescribes.

    protocol               data kind      split                                   evaluation
    loo-full               interactions   leave-one-out by time                    all items,
                                          (or the given --test file)               seen masked
    ncf-loo99              interactions   leave-one-out by time                    target + 99
                                                                                   negatives
    strong-generalization  interactions   held-out users, 80/20 fold-in           fold-in masked
    next-item              sessions       the last days (or last fraction) of     every event
                                          sessions (or the given --test file)      after the first
    rating-holdout         ratings        a random fraction of the ratings         RMSE, MAE

Model selection never touches the test data: a validation split is carved from the training
part by the same rule as the test split (PAPERS.md §D7) and the model trains on the rest
(`fit`). With `data.valid = "none"` the model trains on the whole training part for a fixed
number of epochs and the last epoch is tested; with a file path, that file validates.
Every step is recorded in `record` for results.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nprec.config import Settings
from nprec.data import (
    FORMATS,
    Interactions,
    Sessions,
    binarize,
    dedupe_consecutive,
    describe,
    extend_items,
    filter_sessions,
    k_core,
    leave_one_out,
    ratio_split,
    read_interactions,
    read_ncf_negatives,
    read_sessions,
    session_time_split,
    strong_generalization,
    synthetic_interactions,
    synthetic_sessions,
)
from nprec.data.files import sha256_file, split_member
from nprec.data.vocab import lookup
from nprec.errors import ConfigError, DataError
from nprec.metrics.protocols import NCF_NEGATIVES, check_negatives_left

PROTOCOLS: dict[str, str] = {
    "loo-full": "interactions",
    "ncf-loo99": "interactions",
    "strong-generalization": "interactions",
    "next-item": "sessions",
    "rating-holdout": "ratings",
}


@dataclass
class RunData:
    """Everything a run reads: what to fit, what to validate and test on, and the ids.

    Attributes:
        kind:     "interactions", "sessions" or "ratings".
        protocol: the evaluation protocol.
        fit:      what the model trains on (the training part minus validation).
        train:    the whole training part (its items are masked when testing).
        valid:    validation targets (same index space) or None.
        test:     test targets.
        folds:    strong generalisation: {"valid": (fold_in, held_out), "test": (...)}.
        negatives: ncf-loo99 with an official negatives file: the (N, 99) test candidates.
        user_ids, item_ids: raw ids of the index space.
        record:   reading, preprocessing and split records, and statistics.
    """

    kind: str
    protocol: str
    fit: Any
    train: Any
    valid: Any
    test: Any
    user_ids: np.ndarray
    item_ids: np.ndarray
    folds: dict[str, tuple[Interactions, Interactions]] = field(default_factory=dict)
    negatives: np.ndarray | None = None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return 0 if self.kind == "sessions" else self.user_ids.size

    @property
    def n_items(self) -> int:
        return self.item_ids.size


def data_seed(settings: Settings) -> int:
    """The seed of the data's draws: `data.split_seed`, or the run's `train.seed` if unset."""
    split_seed = settings.data.split_seed
    return settings.train.seed if split_seed is None else split_seed


def same_split(a: str, b: str) -> bool:
    """Whether protocols a and b evaluate on the same split of the same data (leave-one-out
    for loo-full and ncf-loo99; every other protocol has a split of its own)."""
    loo = ("loo-full", "ncf-loo99")
    return a == b or (a in loo and b in loo)


def check_protocol(protocol: str, kind: str | tuple[str, ...], model_name: str,
                   key: str = "eval.protocol") -> str:
    """The data kind of `protocol`; a `ConfigError` (naming the setting `key`) unless the
    model takes that kind."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{key}: unknown protocol {protocol!r} "
                          f"(protocols: {', '.join(PROTOCOLS)})")
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if PROTOCOLS[protocol] not in kinds:
        fitting = [p for p, k in PROTOCOLS.items() if k in kinds]
        raise ConfigError(f"{key}: {protocol!r} needs {PROTOCOLS[protocol]} data; "
                          f"model {model_name!r} takes {' or '.join(kinds)} "
                          f"(protocols: {', '.join(fitting)})")
    return PROTOCOLS[protocol]


def load_run_data(settings: Settings, kind: str | tuple[str, ...]) -> RunData:
    """Read, preprocess and split the data of a run (see the module docstring).

    Every file read is recorded with its size and SHA-256, so that a later evaluation can
    tell whether it reads the same data (`check_same_files`).
    """
    kind = check_protocol(settings.eval.protocol, kind, settings.model_name)
    _check_files_given(settings)
    data = _sessions(settings) if kind == "sessions" else _interactions(settings, kind)
    for info in data.record.get("files", []):
        if "path" in info:
            info.update(file_fingerprint(info["path"]))
    return data


def _check_files_given(settings: Settings) -> None:
    d = settings.data
    if d.format != "auto" and d.format not in FORMATS:
        raise ConfigError(f"data.format: unknown format {d.format!r} ({', '.join(FORMATS)})")
    given = [name for name, value in (("data.test", d.test), ("data.negatives_file",
             d.negatives_file)) if value] + \
        (["data.valid"] if d.valid not in ("auto", "none") else [])
    if given and not d.path:
        # The ids of a split file are those of the training file it was cut from: without
        # that file they would be matched against the synthetic data's ids by accident.
        raise ConfigError(f"{given[0]}: a split file needs the training data it was split "
                          f"from (data.path, --data)")


def file_fingerprint(path: str) -> dict[str, Any]:
    """{'bytes': size, 'sha256': digest} of a data file (of the archive for 'a.zip:member')."""
    file = Path(split_member(path)[0])
    if not file.is_file():
        return {}
    return {"bytes": file.stat().st_size, "sha256": sha256_file(file)}


def check_same_files(trained: list[dict[str, Any]], now: list[dict[str, Any]]) -> None:
    """A `DataError` if a file the run was trained on now reads differently.

    `trained` and `now` are the `files` records of the training run and of this reading;
    files are matched by position for the training file (its ids are the model's) and by
    path for the others. Records without a digest (runs made before digests) pass.
    """
    def differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return "sha256" in a and "sha256" in b and a["sha256"] != b["sha256"]

    if trained and now and differs(trained[0], now[0]):
        raise DataError(f"{now[0].get('path')}: not the training data this run was trained on "
                        f"(SHA-256 {now[0]['sha256'][:12]}... now, "
                        f"{trained[0]['sha256'][:12]}... then); give the original file")
    by_path = {t.get("path"): t for t in trained}
    for info in now[1:]:
        then = by_path.get(info.get("path"))
        if then is not None and differs(then, info):
            raise DataError(f"{info['path']}: changed since this run was trained "
                            f"(SHA-256 differs)")


# -- users and items ---------------------------------------------------------------------------

def _read_pair(settings: Settings, kind: str, record: dict) -> tuple[Interactions, Any]:
    """The main data file (or synthetic data), preprocessed, and the given test file if any."""
    d = settings.data
    if d.path:
        data, info = read_interactions(d.path, d.format)
        record["files"] = [info]
    else:
        seed = data_seed(settings)
        data = synthetic_interactions(d.synthetic_users, d.synthetic_items,
                                      ratings=kind == "ratings", seed=seed)
        record["files"] = [{"synthetic": "synthetic_interactions", "users": d.synthetic_users,
                            "items": d.synthetic_items, "seed": seed}]
    steps = record.setdefault("preprocessing", [])
    if kind == "ratings" and data.ratings is None:
        raise DataError(f"{d.path}: model {settings.model_name!r} needs explicit ratings and "
                        f"this file has none")
    if d.min_rating is not None:
        if kind == "ratings":
            raise ConfigError("data.min_rating: a rating model keeps the ratings; "
                              "do not binarize")
        data, step = binarize(data, d.min_rating)
        steps.append(step)
    if kind == "interactions" and data.ratings is not None:
        data.ratings = None         # implicit feedback: every kept entry is a positive
    if d.min_user_items or d.min_item_users:
        data, step = k_core(data, min_user=d.min_user_items or 1,
                            min_item=d.min_item_users or 1)
        steps.append(step)
    test = None
    if d.test:
        policy = "extend" if d.unknown_test_items in ("auto", "extend") else "drop"
        test, info = read_interactions(d.test, d.format, users=data.users, items=data.items,
                                       unknown=policy)
        record["files"].append(info)
        if policy == "extend":
            # New items join the candidates (a test item the model never saw is a miss, not
            # a row silently removed); new users have no history to rank from: dropped.
            cold = test.select_users(np.arange(test.n_users - data.n_users) + data.n_users)
            test = test.select_users(np.arange(data.n_users))
            info["test_entries_dropped_unknown_user"] = int(cold.nnz)
            data = extend_items(data, test.item_ids)
        if test.nnz == 0:
            raise DataError(f"{d.test}: no test entry has a user of the training data")
    return data, test


def _interactions(settings: Settings, kind: str) -> RunData:
    d, protocol = settings.data, settings.eval.protocol
    seed = data_seed(settings)
    record: dict[str, Any] = {}
    data, given_test = _read_pair(settings, kind, record)
    validate = d.valid == "auto"
    if d.valid not in ("auto", "none"):
        raise ConfigError("data.valid: a validation file is supported for session data only; "
                          "use 'auto' or 'none'")
    negatives = None
    folds: dict[str, tuple[Interactions, Interactions]] = {}
    if protocol in ("loo-full", "ncf-loo99"):
        split = leave_one_out(data, test=given_test, validation=validate)
        if protocol == "ncf-loo99" and d.negatives_file:
            neg, info = read_ncf_negatives(d.negatives_file, users=data.users, items=data.items)
            negatives = _negatives_in_test_order(neg, split.test, d.negatives_file)
            record["files"].append(info)
        elif protocol == "ncf-loo99":
            # Before training, not at the first evaluation: can 99 negatives be drawn?
            known = (split.train.to_csr() + split.test.to_csr()).tocsr()
            for part in (split.test, split.valid if validate else None):
                if part is not None:
                    check_negatives_left(known.indptr, part.entry_users(), data.n_items,
                                         NCF_NEGATIVES, data.user_ids)
    elif protocol == "strong-generalization":
        if given_test is not None:
            raise ConfigError("--test: strong generalisation holds out users of one data set; "
                              "give the whole data set with --data only")
        strong = strong_generalization(data, _count_or_fraction(d.heldout_users),
                                       rng=np.random.default_rng([seed, 0x5C]),
                                       held_out_fraction=d.held_out_fraction)
        record["split"] = strong.record
        folds = {"valid": (strong.valid_fold_in, strong.valid_held_out),
                 "test": (strong.test_fold_in, strong.test_held_out)}
        train = strong.train
        record["statistics"] = {"train": describe(train)}
        return RunData(kind, protocol, train, train, folds["valid"] if validate else None,
                       folds["test"], train.user_ids, train.item_ids, folds=folds,
                       record=record)
    else:  # rating-holdout
        if given_test is not None:
            split = ratio_split(data, d.test_fraction, rng=seed, per_user=False,
                                validation=False)
            split.test = given_test
            if validate:
                split = _ratio_valid(split, d.test_fraction, seed)
        else:
            split = ratio_split(data, d.test_fraction, per_user=False, validation=validate,
                                rng=np.random.default_rng([seed, 0x7A]))
    record["split"] = split.record
    _check_parts(split.test, split.valid if validate else None, protocol)
    fit = split.train_tr if validate else split.train
    record["statistics"] = {"fit": describe(fit), "test": describe(split.test)}
    return RunData(kind, protocol, fit, split.train, split.valid if validate else None,
                   split.test, data.user_ids, data.item_ids, negatives=negatives,
                   record=record)


def _check_parts(test: Interactions, valid: Interactions | None, protocol: str) -> None:
    """A `DataError` when the split leaves nothing to test or to validate on."""
    for name, part in (("test", test), ("validation", valid)):
        if part is not None and part.nnz == 0:
            rule = ("every user needs at least two interactions (three with validation)"
                    if protocol in ("loo-full", "ncf-loo99") else "the data is too small")
            raise DataError(f"the {protocol} split leaves no {name} entries: {rule}")


def _ratio_valid(split, fraction: float, seed: int):
    """Carve a validation fraction from a given training file (ratings with a test file)."""
    inner = ratio_split(split.train, fraction, per_user=False, validation=False,
                        rng=np.random.default_rng([seed, 0x7A]))
    split.train_tr, split.valid = inner.train, inner.test
    split.record.update(train_tr=inner.train.nnz, valid=inner.test.nnz)
    return split


def _count_or_fraction(value: float) -> int | float:
    return float(value) if value < 1 else int(value)


def _negatives_in_test_order(neg, test: Interactions, path: str) -> np.ndarray:
    """The official negatives as rows aligned with the test entries (user-major order)."""
    users = test.entry_users()
    row_of_user = np.full(test.n_users, -1, dtype=np.int64)
    row_of_user[neg.users] = np.arange(neg.users.size)
    rows = row_of_user[users]
    if np.any(rows < 0):
        missing = test.user_ids[users[np.argmax(rows < 0)]]
        raise DataError(f"{path}: no negatives for test user {missing.item()!r}")
    if not np.array_equal(neg.items[rows], test.indices):
        raise DataError(f"{path}: the positive items of the negatives file do not match the "
                        f"test file")
    return neg.negatives[rows]


# -- sessions -----------------------------------------------------------------------------------

def _session_rule(d, sessions: Sessions) -> dict[str, float]:
    """GRU4Rec's rule (the last `test_days` days) when there are times, else a fraction."""
    if sessions.times is not None:
        return {"days": d.test_days if d.test_days is not None else 1.0}
    if d.test_days is not None:
        raise ConfigError("data.test_days: these sessions have no timestamps; use "
                          "data.test_fraction (line order is time order)")
    return {"fraction": d.test_fraction}


def _time_split(sessions: Sessions, rule: dict[str, float], validation: bool):
    """`session_time_split` by the rule, its errors naming the setting that made the rule."""
    try:
        return session_time_split(sessions, validation=validation, **rule)
    except DataError as exc:
        key, value = next(iter(rule.items()))
        option = "data.test_days" if key == "days" else "data.test_fraction"
        raise DataError(f"{option}={value}: {exc}") from None


def _sessions(settings: Settings) -> RunData:
    d = settings.data
    record: dict[str, Any] = {}
    steps = record.setdefault("preprocessing", [])
    if d.path:
        sessions, info = read_sessions(d.path, d.format)
        record["files"] = [info]
    else:
        seed = data_seed(settings)
        # 20 topics when there are items enough (a topic holds an item and its 3 successors).
        sessions = synthetic_sessions(10 * d.synthetic_users, d.synthetic_items, seed=seed,
                                      n_topics=min(20, d.synthetic_items // 4))
        record["files"] = [{"synthetic": "synthetic_sessions",
                            "sessions": 10 * d.synthetic_users, "items": d.synthetic_items,
                            "seed": seed}]
    if d.dedupe_consecutive:
        sessions, step = dedupe_consecutive(sessions)
        steps.append(step)
    if d.min_session_length or d.min_item_support:
        sessions, step = filter_sessions(sessions, min_length=max(d.min_session_length, 1),
                                         min_support=max(d.min_item_support, 1))
        steps.append(step)
    validate = d.valid == "auto"
    rule = _session_rule(d, sessions)
    if d.test:
        train = sessions
        policy = "extend" if d.unknown_test_items == "extend" else "drop"
        test, info = read_sessions(d.test, d.format, item_ids=train.item_ids, unknown=policy)
        record["files"].append(info)
        if policy == "extend":
            train = extend_items(train, test.item_ids)
        test = _drop_short(test, record, "test")
        split_record = {"protocol": "given test file", "test_sessions": test.n_sessions,
                        "test_events": test.n_events}
        fit, valid = train, None
        if validate:
            inner = _time_split(train, rule, validation=False)
            fit, valid = (_into_space(inner.train, train), _into_space(inner.test, train))
            split_record["validation"] = inner.record
    else:
        split = _time_split(sessions, rule, validation=validate)
        split_record = split.record
        train, test = split.train, split.test
        fit, valid = (split.train_tr, split.valid) if validate else (split.train, None)
    if d.valid not in ("auto", "none"):
        valid, info = read_sessions(d.valid, d.format, item_ids=fit.item_ids, unknown="drop")
        record["files"].append(info)
        valid = _drop_short(valid, record, "valid")
    if test.n_sessions == 0:
        raise DataError("the test split holds no session with two or more known items")
    if valid is not None and valid.n_sessions == 0:
        raise DataError("the validation split holds no session with two or more known items "
                        "(give data.valid = 'none' to train without validation)")
    record["split"] = split_record
    record["statistics"] = {"fit": describe(fit), "test": describe(test)}
    return RunData("sessions", settings.eval.protocol, fit, train, valid, test,
                   np.zeros(0, dtype=np.int64), train.item_ids, record=record)


def _drop_short(part: Sessions, record: dict, name: str) -> Sessions:
    short = part.lengths() < 2
    record[f"{name}_sessions_dropped_short"] = int(short.sum())
    return part.select(np.flatnonzero(~short))


def _into_space(part: Sessions, space: Sessions) -> Sessions:
    """`part` re-indexed into the item vocabulary of `space` (whose items it is a subset of)."""
    index, found = lookup(part.item_ids, space.item_ids)
    if not found.all():
        raise DataError("internal: a validation split holds items outside the training data")
    return Sessions(part.offsets, index[part.items], space.n_items, times=part.times,
                    session_ids=part.session_ids, item_ids=space.item_ids)
