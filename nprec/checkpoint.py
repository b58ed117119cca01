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
from typing import Any, NoReturn

import numpy as np
import scipy.sparse as sp

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


def _refuse(path: str | Path, problem: str) -> NoReturn:
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
    if "train_indptr" not in ckpt.arrays or "train_indices" not in ckpt.arrays:
        _refuse(path, "the checkpoint lacks the training matrix (train_indptr, train_indices)")
    stored = StoredArrays(ckpt.arrays, "array")
    try:
        nnz = stored.get("train_indices", "iu", (None,)).size
        stored.pointers("train_indptr", n_users, nnz)
        stored.indices("train_indices", n_items)
    except CheckpointError as exc:
        _refuse(path, str(exc))


def _check_numbers(path: str | Path, name: str, value: np.ndarray) -> None:
    """Parameters, optimizer state and model buffers are finite numbers, nothing else."""
    if value.dtype.kind not in "biuf":
        _refuse(path, f"{name} holds {value.dtype} values, not numbers")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        _refuse(path, f"{name} holds NaN or infinite values")


# -- checked arrays: what a model restores from a checkpoint -------------------------------
#
# `check_run_checkpoint` makes sure every stored number is a finite number; what it cannot
# know is what each array means to its model. An array of the wrong length, an index past
# the end of a table or a row pointer that runs backwards would otherwise surface as a
# traceback the first time the model scores, as a Numba kernel reading out of bounds, or as
# a silently wrong ranking. So each model's `load_state_arrays` (a baseline's `set_params`)
# takes its arrays through `StoredArrays`, which checks them against the sizes the model was
# built with and refuses a bad one with a `CheckpointError` naming the array;
# `restore_params` adds the file's name.

# What the dtype kinds a caller asks for are called in a message.
_KINDS = {"f": "floats", "iu": "integers", "b": "booleans", "iuf": "numbers"}


def _shape_text(shape: tuple[int | None, ...]) -> str:
    """A shape as messages show it: (40,), (40, 40), or (n,) for a free length."""
    dims = ["n" if n is None else str(n) for n in shape]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


class StoredArrays:
    """The arrays a model restores, each handed out only once checked.

    Args:
        arrays: {name: array} as stored (without the checkpoint's group prefix).
        group:  the checkpoint group they came from ("state" or "param"), for messages.
    """

    def __init__(self, arrays: dict[str, np.ndarray], group: str = "state") -> None:
        self.arrays, self.group = arrays, group

    def refuse(self, name: str, problem: str) -> NoReturn:
        raise CheckpointError(f"{self.group}/{name} {problem}")

    def get(self, name: str, kinds: str, shape: tuple[int | None, ...]) -> np.ndarray:
        """The array `name`: of a dtype kind in `kinds` ("f", "iu", "b", "iuf") and of
        `shape` (None: any length along that axis)."""
        a = self.arrays.get(name)
        if a is None:
            raise CheckpointError(f"the checkpoint lacks {self.group}/{name}")
        if a.dtype.kind not in kinds:
            self.refuse(name, f"holds {a.dtype} values, not {_KINDS.get(kinds, kinds)}")
        if a.ndim != len(shape) or any(n is not None and n != m
                                       for n, m in zip(shape, a.shape, strict=True)):
            self.refuse(name, f"has shape {a.shape}, the model expects {_shape_text(shape)}")
        return a

    def indices(self, name: str, n: int, length: int | None = None) -> np.ndarray:
        """A 1-D integer array of positions in [0, n) (int64): they index a table of n."""
        a = self.get(name, "iu", (length,))
        if a.size and (a.min() < 0 or a.max() >= n):
            self.refuse(name, f"holds indices outside 0..{n - 1}")
        return a.astype(np.int64)

    def pointers(self, name: str, n_rows: int | None, total: int) -> np.ndarray:
        """A CSR row pointer (n_rows + 1,) into `total` entries (int64): row r is entries
        pointer[r]:pointer[r + 1], so it starts at 0, never decreases and ends at total."""
        # As int64 first: the differences of an unsigned array would wrap around, never < 0.
        a = self.get(name, "iu", (None if n_rows is None else n_rows + 1,)).astype(np.int64)
        if a.size == 0 or a[0] != 0 or a[-1] != total or np.any(np.diff(a) < 0):
            self.refuse(name, f"is not a valid row pointer (from 0, never decreasing, to "
                              f"{total})")
        return a

    def counts(self, name: str, n: int) -> np.ndarray:
        """(n,) non-negative numbers: one count (support, clicks) per item."""
        a = self.get(name, "iuf", (n,))
        if np.any(a < 0):
            self.refuse(name, "holds negative counts")
        return a

    def count(self, name: str) -> int:
        """A counter stored as a (1,) integer array: a whole number >= 0."""
        a = self.get(name, "iu", (1,))
        if a[0] < 0:
            self.refuse(name, f"is a negative count ({a[0]})")
        return int(a[0])

    def csr(self, indptr: str, indices: str, shape: tuple[int | None, int], *,
            data: str | None = None, dtype: np.dtype = np.float32) -> sp.csr_array:
        """The sparse matrix of the arrays `indptr`, `indices` and `data` (ones if None).

        shape: (rows, columns), rows None for any number. Each row must list its columns
        once, in increasing order (scipy's canonical form, which nprec writes): a column
        listed twice would count twice in every product.
        """
        nnz = self.get(indices, "iu", (None,)).size
        ptr = self.pointers(indptr, shape[0], nnz)
        idx = self.indices(indices, shape[1])
        self.check_increasing_in_rows(indices, ptr, idx,
                                      "lists a column twice in a row, or out of order")
        values = (np.ones(idx.size, dtype=dtype) if data is None
                  else self.get(data, "f", (idx.size,)).astype(dtype, copy=False))
        return sp.csr_array((values, idx, ptr), shape=(ptr.size - 1, shape[1]))

    def check_increasing_in_rows(self, name: str, indptr: np.ndarray, keys: np.ndarray,
                                 problem: str) -> None:
        """Refuse `name` with `problem` unless keys strictly increase within each row of
        `indptr` (a checked row pointer into keys)."""
        rising = np.diff(keys) > 0                                      # (n - 1,)
        # A new row may start lower: the step into the first entry of a row is not compared.
        starts = indptr[(indptr >= 1) & (indptr < keys.size)]
        rising[starts - 1] = True
        if not rising.all():
            self.refuse(name, problem)
