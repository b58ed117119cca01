"""`write_atomic`: save `Interactions` or `Sessions` as a RecBole atomic file.

RecBole's atomic files are TAB-separated with a header of `name:type` fields. nprec writes
`user_id:token item_id:token [rating:float] [timestamp:float]` for interactions (a user's
entries in time order, else in their original file order, else by item) and
`session_id:token item_id:token [timestamp:float]` for sessions (sessions in order, events
in click order), so reading the file back gives the same data. Timestamps that are all
whole seconds are written as integers. The file is written to a temporary name beside the
target and renamed, so an interrupted write never leaves a half file; a `.gz`, `.bz2` or
`.xz` suffix compresses it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile

import numpy as np

from nprec.data.containers import Interactions, Sessions
from nprec.data.files import PathLike
from nprec.errors import DataError

_COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def _as_bytes(values: np.ndarray) -> np.ndarray:
    """Column values as byte strings: integral floats without '.0', others as shortest repr."""
    if values.dtype.kind == "f":
        values = values.astype(np.float64)
        if np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0 ** 53):
            values = values.astype(np.int64)
    if values.dtype.kind == "U":
        try:
            return values.astype("S")
        except UnicodeEncodeError:
            return np.char.encode(values, "utf-8")
    return values.astype("S")


def _join_rows(columns: list[np.ndarray]) -> bytes:
    """One line per row, the columns' byte strings joined by tabs.

    Each column is an (n, W) byte matrix; its k-th bytes are scattered into the output at
    (row start + bytes before this column + k) for the rows longer than k: a loop over
    columns and byte positions, never over rows.
    """
    matrices = [c.view(np.uint8).reshape(c.size, -1) for c in columns]  # (n, W_c) each
    lengths = [(M != 0).sum(axis=1) for M in matrices]                  # (n,) each
    row_len = sum(lengths) + len(columns)                               # tabs and newline
    pos = np.concatenate([[0], np.cumsum(row_len)[:-1]])                # (n,) row starts
    out = np.empty(int(row_len.sum()), dtype=np.uint8)
    for c, (M, n_bytes) in enumerate(zip(matrices, lengths, strict=True)):
        for k in range(M.shape[1]):
            longer = n_bytes > k
            out[pos[longer] + k] = M[longer, k]
        pos = pos + n_bytes
        out[pos] = 0x09 if c < len(columns) - 1 else 0x0A
        pos = pos + 1
    return out.tobytes()


def _write_bytes(payload: bytes, path: PathLike) -> None:
    path = os.fspath(path)
    compress = _COMPRESS.get(os.path.splitext(path)[1].lower())
    if compress is not None:
        payload = compress(payload)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".nprec-", suffix=".tmp")
    except OSError as e:
        raise DataError(f"{path}: cannot write here ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        raise DataError(f"{path}: cannot write the file ({e.strerror or e})") from None


def write_atomic(data: Interactions | Sessions, path: PathLike) -> dict:
    """Write interactions or sessions as a RecBole atomic file (`.inter`).

    Returns an info dict (path, rows, fields).
    """
    if isinstance(data, Interactions):
        user = data.entry_users()                                       # (nnz,)
        keys = [data.indices]
        if data.positions is not None:
            keys.append(data.positions)
        if data.times is not None:
            keys.append(data.times)
        order = np.lexsort(keys + [user])                               # (nnz,)
        fields = ["user_id:token", "item_id:token"]
        columns = [_as_bytes(data.user_ids[user[order]]),
                   _as_bytes(data.item_ids[data.indices[order]])]
        if data.ratings is not None:
            fields.append("rating:float")
            columns.append(_as_bytes(data.ratings[order]))
        if data.times is not None:
            fields.append("timestamp:float")
            columns.append(_as_bytes(data.times[order]))
    elif isinstance(data, Sessions):
        session = np.repeat(np.arange(data.n_sessions), data.lengths())  # (N,)
        fields = ["session_id:token", "item_id:token"]
        columns = [_as_bytes(data.session_ids[session]), _as_bytes(data.item_ids[data.items])]
        if data.times is not None:
            fields.append("timestamp:float")
            columns.append(_as_bytes(data.times))
    else:
        raise TypeError(f"write_atomic takes Interactions or Sessions, not {type(data)}")
    if columns[0].size == 0:
        raise DataError(f"{os.fspath(path)}: nothing to write (no entries)")
    header = ("\t".join(fields) + "\n").encode()
    _write_bytes(header + _join_rows(columns), path)
    return {"path": os.fspath(path), "rows": int(columns[0].size), "fields": fields}
