"""Raw ids to dense indices, with a file's own vocabulary or with a given one (train's).

Ids are made unique first (`np.unique` with `return_inverse`), so every later step works on
the distinct ids only: byte strings are decoded once per distinct id, and looking ids up in
a given vocabulary is one `searchsorted` over the distinct ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nprec.data.containers import IdMap
from nprec.errors import DataError

UNKNOWN_POLICIES = ("error", "drop", "extend")


def as_raw_ids(ids: np.ndarray) -> np.ndarray:
    """Raw ids as nprec keeps them: int64, or unicode strings (bytes decoded as UTF-8)."""
    if ids.dtype.kind == "S":
        return np.char.decode(ids, "utf-8", "backslashreplace")
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64, copy=False)
    return ids.astype(str)


def vocabulary_array(vocab: np.ndarray | IdMap | None) -> np.ndarray | None:
    """The raw-id array of a vocabulary given as an array or an `IdMap` (None stays None)."""
    if vocab is None:
        return None
    raw = vocab.raw if isinstance(vocab, IdMap) else np.asarray(vocab)
    return as_raw_ids(raw)


def lookup(values: np.ndarray, vocab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, found) of each raw id of `values` in `vocab` (both int64 or both strings)."""
    if vocab.size == 0:
        return np.zeros(values.size, dtype=np.int64), np.zeros(values.size, dtype=bool)
    sorter = np.argsort(vocab, kind="stable")                           # (V,)
    ordered = vocab[sorter]
    pos = np.minimum(np.searchsorted(ordered, values), vocab.size - 1)  # (n,)
    return sorter[pos].astype(np.int64), ordered[pos] == values


UNKNOWN_HINT = "pass unknown='drop' or 'extend' to accept it"


def unknown_id_error(value, what: str, where: str, hint: str = UNKNOWN_HINT) -> DataError:
    """The error for an id missing from a given vocabulary, at `where` (file:line)."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    return DataError(f"{where}: {what} {value!r} is not in the given {what} vocabulary "
                     f"({hint})")


def distinct_ids(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct ids, (n,) int64 index of each row's id among them).

    What `np.unique(raw, return_inverse=True)` returns. Integer ids spread over a range
    not much larger than their count (MovieLens, NCF, SR-GNN ids) take a linear path
    instead of a sort: mark the ids present in a table over the range, number the marks
    with a cumulative sum and read each row's number back.
    """
    if raw.dtype.kind in "iu" and raw.size:
        low, high = int(raw.min()), int(raw.max())
        if high - low <= 4 * raw.size + (1 << 20):
            present = np.zeros(high - low + 1, dtype=bool)              # (range,)
            present[raw - low] = True
            number = np.cumsum(present) - 1                             # (range,)
            return np.flatnonzero(present) + low, number[raw - low]
    distinct, inverse = np.unique(raw, return_inverse=True)
    return distinct, inverse.reshape(-1).astype(np.int64)


@dataclass
class Encoded:
    """Dense indices of a column of raw ids.

    Attributes:
        index: (n,) int64 index of each row's id (meaningless where `keep` is False).
        keep: (n,) bool, False for rows whose id is unknown and dropped.
        vocab: the raw ids of the indices (given vocabulary, maybe extended).
        n_unknown_rows: rows with an unknown id.  n_new_ids: ids appended by 'extend'.
    """

    index: np.ndarray
    keep: np.ndarray
    vocab: np.ndarray
    n_unknown_rows: int = 0
    n_new_ids: int = 0


def encode(raw: np.ndarray, vocab: np.ndarray | IdMap | None, unknown: str, *, what: str,
           source: str, lines: np.ndarray, hint: str = UNKNOWN_HINT) -> Encoded:
    """Encode a column of raw ids (int64 or 'S' bytes) against a vocabulary.

    Args:
        raw: (n,) raw ids as read.
        vocab: None (the column's own sorted distinct ids), or the raw ids of a given
            vocabulary (array or `IdMap`) whose order fixes the indices.
        unknown: what to do with ids missing from a given vocabulary: 'error' (DataError
            naming the first such line), 'drop' (rows marked in `keep`), or 'extend' (new ids
            appended to the vocabulary in sorted order).
        what, source, lines: for messages (e.g. 'item', file name, (n,) line numbers).
        hint: what the 'error' message tells the user to do about an unknown id.
    """
    if unknown not in UNKNOWN_POLICIES:
        raise DataError(f"unknown={unknown!r}: expected one of {', '.join(UNKNOWN_POLICIES)}")
    distinct, inverse = distinct_ids(raw)
    distinct = as_raw_ids(distinct)
    keep = np.ones(raw.size, dtype=bool)
    given = vocabulary_array(vocab)
    if given is None:
        return Encoded(inverse, keep, distinct)
    if given.dtype.kind == "U" and distinct.dtype.kind != "U":
        distinct = distinct.astype(str)
    keys = given.astype(str) if distinct.dtype.kind == "U" else given
    index, found = lookup(distinct, keys)                               # per distinct id
    n_unknown = int((~found[inverse]).sum())
    if n_unknown == 0:
        return Encoded(index[inverse], keep, given)
    if unknown == "error":
        row = int(np.argmax(~found[inverse]))
        raise unknown_id_error(distinct[inverse[row]], what, f"{source}:{lines[row]}", hint)
    if unknown == "drop":
        return Encoded(index[inverse], found[inverse], given, n_unknown_rows=n_unknown)
    new = distinct[~found]                                              # sorted, distinct
    index[~found] = given.size + np.arange(new.size)
    base = given.astype(str) if new.dtype.kind == "U" else given
    return Encoded(index[inverse], keep, np.concatenate([base, new]),
                   n_unknown_rows=n_unknown, n_new_ids=int(new.size))
