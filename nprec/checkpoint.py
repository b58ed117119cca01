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
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise CheckpointError(f"{path}: holds pickled Python objects; refusing to load it "
                                  f"(nprec checkpoints never contain pickles)") from None
        raise CheckpointError(f"{path}: not a valid checkpoint ({exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    if "meta" not in arrays or arrays["meta"].dtype.kind != "U" or arrays["meta"].ndim != 0:
        raise CheckpointError(f"{path}: not an nprec checkpoint (no metadata)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
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
    ckpt = Checkpoint(meta)
    groups = {"param": ckpt.params, "optim": ckpt.optim, "array": ckpt.arrays}
    for name, value in arrays.items():
        prefix, _, rest = name.partition("/")
        if prefix not in groups or not rest:
            raise CheckpointError(f"{path}: not an nprec checkpoint (unexpected entry {name!r})")
        groups[prefix][rest] = value
    return ckpt
