"""Checkpoints: pickle-free `.npz` files, written atomically.

A checkpoint holds everything needed to resume training or to recommend with raw ids:

    meta          JSON text (a 0-d unicode array): format tag, version, model name, the
                  resolved settings, epoch, training history, best-epoch record, nprec version
    param/NAME    every model parameter
    optim/NAME    the optimizer's state arrays
    array/NAME    other arrays: raw user and item ids, the training matrix for seen-item
                  masking, model-specific buffers

Loading uses `np.load(..., allow_pickle=False)`: a file holding a pickled object is refused
with a `CheckpointError` before anything in it is unpickled, so a crafted checkpoint cannot
run code. Saving writes a temporary file in the same directory, fsyncs it and renames it over
the target, so a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nprec import __version__
from nprec.errors import CheckpointError

FORMAT = "nprec-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """The content of one checkpoint file (see the module docstring for the layout)."""

    meta: dict[str, Any]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    optim: dict[str, np.ndarray] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    """Write `ckpt` to `path` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    meta = dict(ckpt.meta, format=FORMAT, version=VERSION, nprec_version=__version__)
    payload: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    for prefix, group in (("param", ckpt.params), ("optim", ckpt.optim),
                          ("array", ckpt.arrays)):
        for name, value in group.items():
            arr = np.asarray(value)
            if arr.dtype == object:
                raise TypeError(f"checkpoint {prefix}/{name} is an object array; "
                                f"checkpoints hold plain arrays only")
            payload[f"{prefix}/{name}"] = arr
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, model_name: str | None = None) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`, refusing anything else.

    Args:
        path:       the `.npz` file.
        model_name: if given, the checkpoint must belong to this model.
    Raises:
        CheckpointError if the file is missing, unreadable, truncated, not an nprec
        checkpoint, written by a newer format, holds pickled objects, or belongs to
        another model.
    """
    path = Path(path)
    arrays = _read_npz(path, None)
    meta = _parse_meta(path, arrays.pop("meta", None), model_name)
    ckpt = Checkpoint(meta)
    groups = {"param": ckpt.params, "optim": ckpt.optim, "array": ckpt.arrays}
    for name, value in arrays.items():
        prefix, _, rest = name.partition("/")
        if prefix not in groups or not rest:
            raise CheckpointError(f"{path}: not an nprec checkpoint (unexpected entry {name!r})")
        groups[prefix][rest] = value
    return ckpt


def load_meta(path: str | Path, model_name: str | None = None) -> dict[str, Any]:
    """Only the metadata of a checkpoint (its arrays stay on disk), checked as on loading."""
    path = Path(path)
    return _parse_meta(path, _read_npz(path, "meta").get("meta"), model_name)


def _read_npz(path: Path, only: str | None) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` file (only the one named `only`, if given), never unpickled."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror})") from None
    if not is_zip:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint (not a .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = [n for n in npz.files if only is None or n == only]
            return {name: npz[name] for name in names}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise CheckpointError(f"{path}: holds pickled Python objects; refusing to load it "
                                  f"(nprec checkpoints never contain pickles)") from None
        raise CheckpointError(f"{path}: not a valid checkpoint ({exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint "
                              f"({type(exc).__name__}: {exc})") from None


def _parse_meta(path: Path, raw: np.ndarray | None, model_name: str | None) -> dict[str, Any]:
    """The checkpoint's JSON metadata: an nprec checkpoint of a format this nprec reads."""
    if raw is None or raw.dtype.kind != "U" or raw.ndim != 0:
        raise CheckpointError(f"{path}: not an nprec checkpoint (no metadata)")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: not an nprec checkpoint (unreadable metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an nprec checkpoint")
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r} is "
                              f"newer than this nprec supports ({VERSION}); upgrade nprec")
    if model_name is not None and meta.get("model_name") != model_name:
        raise CheckpointError(f"{path}: checkpoint of model {meta.get('model_name')!r}, "
                              f"not {model_name!r}")
    return meta


# -- the contents of a run's checkpoint -----------------------------------------------------

KINDS = ("interactions", "ratings", "sessions")


def check_run_checkpoint(ckpt: Checkpoint, path: str | Path) -> None:
    """Refuse a checkpoint whose contents `nprec train` cannot have written.

    `load_checkpoint` checks the file; this checks what is in it: the metadata's sizes and
    kind, the raw ids (one per row, no duplicates), the training matrix used to mask seen
    items, and that every stored number is a finite number. Called once where a run's
    checkpoint is loaded, so that a damaged or forged file is one `CheckpointError` naming
    it, not a traceback deep inside a model or a silently wrong ranking.
    """
    meta = ckpt.meta
    if not isinstance(meta.get("model_name"), str):
        _refuse(path, "the metadata names no model")
    if meta.get("kind") not in KINDS:
        _refuse(path, f"unknown data kind {meta.get('kind')!r} in the metadata")
    n_users, n_items = meta.get("n_users"), meta.get("n_items")
    for name, n, least in (("n_users", n_users, 0), ("n_items", n_items, 1)):
        if type(n) is not int or n < least:
            _refuse(path, f"{name} {n!r} in the metadata is not a whole number >= {least}")
    if not isinstance(meta.get("settings"), dict):
        _refuse(path, "the metadata holds no settings")
    # Session models have no users: their user_ids may be empty whatever n_users says.
    _check_ids(ckpt, path, "user_ids", None if meta["kind"] == "sessions" else n_users)
    _check_ids(ckpt, path, "item_ids", n_items)
    if meta["kind"] != "sessions":
        _check_train_matrix(ckpt, path, n_users, n_items)
    for prefix, group in (("param", ckpt.params), ("optim", ckpt.optim),
                          ("array", ckpt.arrays)):
        for name, value in group.items():
            if name not in ("user_ids", "item_ids"):
                _check_numbers(path, f"{prefix}/{name}", value)


def _refuse(path: str | Path, problem: str) -> None:
    raise CheckpointError(f"{path}: {problem}")


def _check_ids(ckpt: Checkpoint, path: str | Path, key: str, n: int | None) -> None:
    """Raw ids: a 1-D array of integers or strings, distinct, one per row of the model."""
    ids = ckpt.arrays.get(key)
    if ids is None:
        _refuse(path, f"the checkpoint lacks the raw {key}")
    if ids.ndim != 1 or ids.dtype.kind not in "iuU":
        _refuse(path, f"{key} must be a 1-D array of integers or strings, got a "
                      f"{ids.ndim}-D {ids.dtype} array")
    if n is not None and ids.size != n:
        _refuse(path, f"{key} holds {ids.size} ids for {n} {key.split('_')[0]}s")
    if np.unique(ids).size != ids.size:
        _refuse(path, f"{key} holds duplicated ids")


def _check_train_matrix(ckpt: Checkpoint, path: str | Path, n_users: int, n_items: int) -> None:
    """The training rows (CSR indptr, indices) that `recommend --user` masks as seen."""
    indptr, indices = ckpt.arrays.get("train_indptr"), ckpt.arrays.get("train_indices")
    if indptr is None or indices is None:
        _refuse(path, "the checkpoint lacks the training matrix (train_indptr, train_indices)")
    for name, a in (("train_indptr", indptr), ("train_indices", indices)):
        if a.ndim != 1 or a.dtype.kind not in "iu":
            _refuse(path, f"{name} must be a 1-D integer array")
    if indptr.size != n_users + 1:
        _refuse(path, f"train_indptr has {indptr.size} entries for {n_users} users "
                      f"(expected {n_users + 1})")
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr) < 0):
        _refuse(path, "train_indptr is not a valid row pointer into train_indices")
    if indices.size and (indices.min() < 0 or indices.max() >= n_items):
        _refuse(path, f"train_indices holds item indices outside 0..{n_items - 1}")


def _check_numbers(path: str | Path, name: str, value: np.ndarray) -> None:
    """Parameters, optimizer state and model buffers are finite numbers, nothing else."""
    if value.dtype.kind not in "biuf":
        _refuse(path, f"{name} holds {value.dtype} values, not numbers")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        _refuse(path, f"{name} holds NaN or infinite values")
