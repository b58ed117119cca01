"""Readers of user-item rating and interaction files: `read_interactions`, `read_ncf_negatives`.

Every reader returns the data and a small JSON-ready `info` dict (path, format, rows read,
what was dropped and why) for the results file. Raw ids are kept: int64 when every id is an
integer, strings otherwise. A test file is read against the training file's vocabulary by
passing `users=train.users` / `items=train.items` (or their raw-id arrays), so both share
one index space; `unknown` says what happens to ids the vocabulary lacks.

Repeated (user, item) pairs: the latest by timestamp is kept (equal timestamps, or no
timestamps: the later line), and `info["duplicates_dropped"]` counts the others.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.data.containers import IdMap, Interactions
from nprec.data.fields import blocks, header_line, split_fixed, split_tokens
from nprec.data.files import PathLike, Text, load_text
from nprec.data.formats import (
    FORMATS,
    Layout,
    check_format,
    layout_for,
    no_column,
    sep_label,
    wrong_kind,
)
from nprec.data.numbers import (
    merge_ids,
    parse_datetime,
    parse_float,
    parse_ids,
    parse_int,
)
from nprec.data.vocab import encode, unknown_id_error
from nprec.errors import DataError
from nprec.kernels.parsing import DECIMAL, INTEGER, parse_numeric_fields

Vocabulary = np.ndarray | IdMap | None

LABELS = {"user": "user id", "item": "item id", "rating": "rating", "time": "timestamp",
          "session": "session id", "timeframe": "timeframe", "date": "eventdate"}


def _parse_time(col) -> np.ndarray:
    """Seconds: a number, else an ISO-8601 date-time (the number's error if neither)."""
    try:
        return parse_float(col)
    except DataError as number_error:
        try:
            return parse_datetime(col)
        except DataError:
            raise number_error from None


# A clock's reading in seconds, or even nanoseconds, since 1970 is below 2**63 in size; a
# larger "timestamp" cannot be a date (numpy's datetime64 holds none) and float64 cannot tell
# such values one second apart, so the time order read from them would be wrong.
MAX_TIME = 2.0 ** 63


def _check_times(times: np.ndarray, lines: np.ndarray, source: str) -> None:
    bad = ~(np.abs(times) < MAX_TIME)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{source}:{lines[row]}: timestamp {times[row]:.6g} cannot be a date "
                        f"(seconds since 1970 are below 9.2e18 in size)")


_FAST = {"id": INTEGER, "int": INTEGER, "float": DECIMAL, "time": DECIMAL}
_PARSERS = {"float": parse_float, "int": parse_int, "time": _parse_time,
            "datetime": parse_datetime}


def read_table(text: Text, layout: Layout, kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """Parse the columns named in `kinds` (role -> 'id', 'float', 'int', 'time', 'datetime').

    Returns role -> (n,) array, plus 'lines' -> (n,) int64 line numbers. Id columns are
    int64 if every block's ids are integers, else 'S' byte strings.
    """
    data, sep = text.data, layout.sep
    if len(sep.encode()) > 1:                  # '::' -> one byte that text never holds
        data = data.replace(sep.encode(), b"\x1f")
    sep_byte = 0x1F if len(sep.encode()) > 1 else ord(sep)
    start, first = (header_line(data)[1:] if layout.header else (0, 1))
    parts: dict[str, list] = {role: [] for role in kinds}
    lines = []
    fast = all(kind in _FAST for kind in kinds.values())
    fast_kinds = np.zeros(layout.n_fields, dtype=np.int64)
    for role, kind in kinds.items():
        fast_kinds[layout.columns[role]] = _FAST.get(kind, 0)
    for buf, line in blocks(data, start, first):
        if fast:                     # one compiled pass; blocks it cannot take fall through
            ints, floats, index, bad = parse_numeric_fields(buf, sep_byte, fast_kinds)
            if bad < 0:
                lines.append(line + index)
                for role, kind in kinds.items():
                    j = layout.columns[role]
                    values = ints[:, j] if fast_kinds[j] == INTEGER else floats[:, j]
                    parts[role].append((values, None) if kind == "id" else values)
                continue
        fields = split_fixed(buf, line, sep_byte, layout.n_fields, text.name, sep_label(sep))
        if fields.lines.size == 0:
            continue
        lines.append(fields.lines)
        for role, kind in kinds.items():
            col = fields.column(layout.columns[role], LABELS[role])
            if kind == "id":
                parts[role].append(parse_ids(col, layout.integer_ids))
            else:
                parts[role].append(_PARSERS[kind](col))
    if not sum(part.size for part in lines):
        raise DataError(f"{text.name}: no data lines")
    out = {role: (merge_ids(p) if kinds[role] == "id" else np.concatenate(p))
           for role, p in parts.items()}
    out["lines"] = np.concatenate(lines)
    for role, kind in kinds.items():
        if kind == "time":
            _check_times(out[role], out["lines"], text.name)
    return out


def _dedupe_latest(key: np.ndarray, times: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Sort rows by key and mark the latest row of each key (by time, then file order).

    Returns (order, last): `order` sorts the rows by key; `last[k]` is True for the sorted
    row k that is the latest of its key. Rows are in file order, so a stable sort by key
    leaves equal keys in file order; only the rows of repeated keys are then re-sorted by
    time (stably, so equal times stay in file order).
    """
    order = np.argsort(key, kind="stable")                              # (n,)
    sorted_key = key[order]
    repeat = sorted_key[1:] == sorted_key[:-1]                          # (n - 1,)
    if times is not None and repeat.any():
        member = np.zeros(key.size, dtype=bool)                         # rows of repeated keys
        member[1:] |= repeat
        member[:-1] |= repeat
        rows = np.flatnonzero(member)
        group = order[rows]
        order[rows] = group[np.lexsort((times[group], key[group]))]
    last = np.ones(key.size, dtype=bool)
    last[:-1] = ~repeat
    return order, last


def read_interactions(path: PathLike, format: str = "auto", *, member: str | None = None,
                      sep: str | None = None, header: bool | None = None,
                      columns: dict | None = None, users: Vocabulary = None,
                      items: Vocabulary = None, unknown: str = "error",
                      ) -> tuple[Interactions, dict]:
    """Read a rating or interaction file into `Interactions`.

    Args:
        path: the file (plain, .gz, .bz2, .xz or .zip).
        format: 'auto' or a name from `FORMATS` ('ml-100k', 'ml-1m', 'ml-20m', 'ncf', 'csv',
            'atomic').
        member: the member of a zip archive to read (default: its only or ratings file).
        sep, header, columns: for 'csv': the separator (sniffed by default), whether the
            first line is a header (default: if it names a known column), and a mapping
            role -> column index or header name, roles 'user', 'item', 'rating', 'time'.
        users, items: vocabularies (an `IdMap` such as `train.users`, or raw ids) to read a
            test file into the training file's index space; None builds the file's own.
        unknown: ids missing from a given vocabulary: 'error', 'drop' (counted in info) or
            'extend' (appended to the vocabulary).
    Returns:
        (data, info). Entries keep their line number in `data.positions`.
    Raises:
        DataError: one line naming the file (and line) for every malformed input.
    """
    text = load_text(path, member)
    fmt = check_format(format, text)
    if FORMATS[fmt].kind != "interactions":
        raise wrong_kind(text.name, FORMATS[fmt].kind, "interactions", fmt)
    layout = layout_for(fmt, text, sep=sep, header=header, columns=columns)
    if "session" in layout.columns and "user" not in layout.columns:
        raise wrong_kind(text.name, "sessions", "interactions",
                         why=" (a session column and no user column)")
    for role in ("user", "item"):
        if role not in layout.columns:
            raise no_column(text.name, role, text.first_line())
    kinds = {"user": "id", "item": "id"}
    kinds.update({r: k for r, k in (("rating", "float"), ("time", "time"))
                  if r in layout.columns})
    cols = read_table(text, layout, kinds)
    lines = cols["lines"]
    policy = "drop" if unknown == "error" else unknown      # report the earliest line
    u = encode(cols["user"], users, policy, what="user", source=text.name, lines=lines)
    i = encode(cols["item"], items, policy, what="item", source=text.name, lines=lines)
    keep = u.keep & i.keep
    if unknown == "error" and not keep.all():
        row = int(np.argmax(~keep))
        what = "user" if not u.keep[row] else "item"
        raise unknown_id_error(cols[what][row], what, f"{text.name}:{lines[row]}")
    user, item = u.index, i.index
    if not keep.all():
        cols = {role: values[keep] for role, values in cols.items()}
        user, item = user[keep], item[keep]
    lines_kept, ratings, times = cols["lines"], cols.get("rating"), cols.get("time")
    n_users, n_items = u.vocab.size, i.vocab.size
    order, last = _dedupe_latest(user * n_items + item, times)
    take = order[last]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(user[take], minlength=n_users), out=indptr[1:])
    data = Interactions(indptr, item[take], n_items,
                        ratings=None if ratings is None else ratings[take],
                        times=None if times is None else times[take],
                        user_ids=u.vocab, item_ids=i.vocab, positions=lines_kept[take],
                        source=text.name)
    info = {"path": text.name, "format": fmt, "rows": int(lines.size),
            "users": data.n_users, "items": data.n_items, "interactions": data.nnz,
            "duplicates_dropped": int(order.size - take.size),
            "unknown_dropped": int(keep.size - keep.sum()),
            "new_users": u.n_new_ids, "new_items": i.n_new_ids}
    return data, info


# Unknown ids in a negatives file mean it belongs to other data: no option accepts them.
_FOREIGN_NEGATIVES = ("the training data's, on the command line; the negatives file must "
                      "come from the same data set, with the same ids, as the training file")


class NcfNegatives(NamedTuple):
    """The NCF test candidates: user u's positive item and its sampled negatives.

    users (U,), items (U,) and negatives (U, S): dense indices if vocabularies were given,
    else the raw ids of the file.
    """

    users: np.ndarray
    items: np.ndarray
    negatives: np.ndarray


def read_ncf_negatives(path: PathLike, *, users: Vocabulary = None, items: Vocabulary = None,
                       member: str | None = None) -> tuple[NcfNegatives, dict]:
    """Read an NCF `.test.negative` file: lines `(u,i)<TAB>n1<TAB>...<TAB>nS`.

    Args:
        users, items: vocabularies to map raw ids to indices (e.g. the training data's);
            an id they lack is a DataError. None keeps the raw ids.
    Returns:
        (NcfNegatives, info); info counts the lines whose positive item is also among its
        negatives (156 of 6,040 in NCF's ml-1m file; NCF's own evaluation then ranks it
        against the remaining distinct negatives).
    """
    text = load_text(path, member)
    values, counts, lines = [], [], []
    for buf, line in blocks(text.data, 0, 1):
        tokens = split_tokens(buf, line, b"\t (),", text.name, "id")
        col = tokens.column
        opened = buf[np.maximum(col.starts - 1, 0)] == ord("(")
        first = np.concatenate([[0], np.cumsum(tokens.counts)[:-1]])[tokens.counts > 0]
        if not opened[first].all():
            row = first[int(np.argmax(~opened[first]))]
            raise DataError(f"{text.name}:{col.lines[row]}: expected a line like "
                            f"'(user,item)<TAB>n1<TAB>n2...'")
        values.append(parse_int(col))
        counts.append(tokens.counts[tokens.counts > 0])
        lines.append(tokens.lines[tokens.counts > 0])
    counts, lines = np.concatenate(counts), np.concatenate(lines)
    if counts.size == 0:
        raise DataError(f"{text.name}: no data lines")
    if not (counts == counts[0]).all() or counts[0] < 3:
        row = int(np.argmax(counts != counts[0])) if counts[0] >= 3 else 0
        raise DataError(f"{text.name}:{lines[row]}: expected (user,item) and "
                        f"{max(counts[0] - 2, 1)} negatives, got {counts[row] - 2} negatives")
    table = np.concatenate(values).reshape(counts.size, counts[0])      # (U, 2 + S)
    user, item, negatives = table[:, 0], table[:, 1], table[:, 2:]
    repeats = int((negatives == item[:, None]).any(axis=1).sum())
    token_lines = np.repeat(lines, counts[0])
    if users is not None:
        user = encode(user, users, "error", what="user", source=text.name,
                      lines=lines, hint=_FOREIGN_NEGATIVES).index
    if items is not None:
        flat = encode(table[:, 1:].ravel(), items, "error", what="item", source=text.name,
                      lines=token_lines.reshape(counts.size, -1)[:, 1:].ravel(),
                      hint=_FOREIGN_NEGATIVES).index
        flat = flat.reshape(counts.size, -1)
        item, negatives = flat[:, 0], flat[:, 1:]
    info = {"path": text.name, "format": "ncf-negative", "rows": int(counts.size),
            "users": int(counts.size),
            "negatives_per_user": int(counts[0] - 2), "positive_among_negatives": repeats}
    return NcfNegatives(user, item, negatives), info
