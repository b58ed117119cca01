"""`read_sessions`: click logs and SR-GNN session files into `Sessions`.

Event logs (YooChoose, DIGINETICA, GRU4Rec TSV, RecBole atomic, CSV with a session column)
are grouped by session id. Within a session, events are in time order (equal times: file
order); sessions are ordered by their first event's time (equal times: the line where the
session first appears). Times are seconds since 1970 in UTC.

- YooChoose `yoochoose-clicks.dat`: `SessionId,Timestamp,ItemId,Category`, the timestamp
  ISO-8601 with a Z (category not read).
- DIGINETICA `train-item-views.csv`: `sessionId;userId;itemId;timeframe;eventdate`. As in
  the GRU4Rec comparison preprocessing (hidasib/gru4rec_third_party_comparison), an event's
  time is the session's earliest eventdate (UTC midnight) plus timeframe (milliseconds);
  SR-GNN's preprocess.py likewise orders a session's clicks by timeframe (stable sort).
- SR-GNN files hold no times: line order is time order and is kept. Item ids are unsigned
  decimal integers (SR-GNN's preprocessing numbers items from 1) separated by spaces; any
  other token (`x`, `2.5`, `-2`, more than 18 digits) is a DataError naming its line, so a
  ratings file read with the wrong format is refused rather than read as sessions of
  strings (`007` is read as 7, as int() reads it). `srgnn`: one session per line, no tabs.
  `srgnn-test`: `prefix<TAB>label` samples, a session of n items giving n-1 consecutive
  lines with prefixes of length n-1, n-2, ..., 1; the whole session (the longest line's
  prefix + label) is rebuilt and every line is checked to be one of its prefixes, so a file
  of isolated samples is a DataError rather than silently wrong data.
"""

from __future__ import annotations

import numpy as np

from nprec.data.containers import IdMap, Sessions
from nprec.data.fields import Column, blocks, count_per_line, split_tokens
from nprec.data.files import PathLike, Text, load_text
from nprec.data.formats import (
    FORMATS,
    Layout,
    check_format,
    layout_for,
    no_column,
    wrong_kind,
)
from nprec.data.numbers import integer_values
from nprec.data.readers import read_table
from nprec.data.vocab import as_raw_ids, encode
from nprec.errors import DataError

Vocabulary = np.ndarray | IdMap | None


def read_sessions(path: PathLike, format: str = "auto", *, member: str | None = None,
                  sep: str | None = None, header: bool | None = None,
                  columns: dict | None = None, item_ids: Vocabulary = None,
                  unknown: str = "error") -> tuple[Sessions, dict]:
    """Read a click log or an SR-GNN session file into `Sessions`.

    Args:
        path: the file (plain, .gz, .bz2, .xz or .zip).
        format: 'auto' or one of 'yoochoose', 'diginetica', 'gru4rec', 'csv', 'atomic',
            'srgnn', 'srgnn-test'.
        member: the member of a zip archive to read.
        sep, header, columns: for 'csv'/'gru4rec': separator, header flag and a mapping of
            the roles 'session', 'item', 'time' to column indices or header names.
        item_ids: the item vocabulary to read into (e.g. `train.vocabulary` or
            `train.item_ids`), so a test file shares the training indices; None builds the
            file's own.
        unknown: items missing from `item_ids`: 'error', 'drop' (their events are removed,
            then sessions left empty; both counted) or 'extend' (appended to the vocabulary).
    Returns:
        (sessions, info) with info = path, format, rows, sessions, events, items and the
        counts of what was dropped.
    """
    text = load_text(path, member)
    fmt = check_format(format, text)
    if fmt == "srgnn":
        items, counts, lines, token_lines = _ragged(text, test=False)
        return _finish(text, fmt, items, counts, lines, token_lines, item_ids, unknown,
                       rows=int(lines.size))
    if fmt == "srgnn-test":
        items, counts, lines, token_lines = _ragged(text, test=True)
        rows = int(lines.size)
        items, counts, lines, token_lines = _rebuild_test_sessions(text, items, counts, lines,
                                                                   token_lines)
        sessions, info = _finish(text, fmt, items, counts, lines, token_lines, item_ids,
                                 unknown, rows=rows)
        info["samples"] = rows
        return sessions, info
    if FORMATS[fmt].kind != "sessions" and fmt not in ("csv", "atomic"):
        raise wrong_kind(text.name, FORMATS[fmt].kind, "sessions", fmt)
    return _read_events(text, fmt, sep, header, columns, item_ids, unknown)


# -- event logs --------------------------------------------------------------------------------
def _event_layout(text: Text, fmt: str, sep, header, columns) -> Layout:
    if fmt == "yoochoose":
        line = text.first_line()
        has_header = not line.split(",")[0].strip().isdigit()
        return Layout(",", 4, has_header, {"session": 0, "time": 1, "item": 2}, False)
    layout = layout_for(fmt, text, sep=sep, header=header, columns=columns)
    if fmt == "diginetica":
        names = [n.strip().lower() for n in text.first_line().split(";")]
        for extra, name in (("timeframe", "timeframe"), ("date", "eventdate")):
            if name not in names:
                raise DataError(f"{text.name}: no {name} column in the header")
            layout.columns[extra] = names.index(name)
    for role in ("session", "item"):
        if role not in layout.columns:
            raise no_column(text.name, role, text.first_line())
    return layout


def _read_events(text: Text, fmt: str, sep, header, columns, item_ids,
                 unknown) -> tuple[Sessions, dict]:
    layout = _event_layout(text, fmt, sep, header, columns)
    kinds = {"session": "id", "item": "id"}
    if fmt == "diginetica":
        kinds.update(timeframe="int", date="datetime")
    elif fmt == "yoochoose":
        kinds["time"] = "datetime"
    elif "time" in layout.columns:
        kinds["time"] = "time"
    cols = read_table(text, layout, kinds)
    lines = cols["lines"]
    if fmt == "diginetica":
        _, session = np.unique(cols["session"], return_inverse=True)
        order = np.argsort(session, kind="stable")                      # (n,) by session
        first = _group_starts(session[order])
        day = np.minimum.reduceat(cols["date"][order], first)           # (S,) earliest date
        cols["time"] = day[session] + cols["timeframe"] / 1000.0
    times = cols.get("time")
    enc = encode(cols["item"], item_ids, unknown, what="item", source=text.name, lines=lines)
    keep = enc.keep
    raw_sessions = cols["session"][keep]
    distinct, session = np.unique(raw_sessions, return_inverse=True)
    lines = lines[keep]
    if times is None:
        order = np.lexsort((lines, session))
    else:
        times = times[keep]
        order = np.lexsort((lines, times, session))                     # click order
    first = _group_starts(session[order])                               # (S,)
    offsets = np.append(first, order.size)                              # (S + 1,)
    first_line = np.minimum.reduceat(lines[order], first) if order.size else first
    if times is None:
        by_start = np.argsort(first_line, kind="stable")
    else:
        by_start = np.lexsort((first_line, times[order][first]))
    sessions = Sessions(offsets, enc.index[keep][order], enc.vocab.size,
                        times=None if times is None else times[order],
                        session_ids=as_raw_ids(distinct), item_ids=enc.vocab).select(by_start)
    emptied = 0 if keep.all() else np.unique(cols["session"]).size - sessions.n_sessions
    info = _info(text, fmt, sessions, int(keep.size), enc, emptied)
    return sessions, info


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """(G,) positions where a new key starts in a sorted array."""
    if sorted_keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))


def _info(text: Text, fmt: str, sessions: Sessions, rows: int, enc, emptied: int) -> dict:
    return {"path": text.name, "format": fmt, "rows": rows, "sessions": sessions.n_sessions,
            "events": sessions.n_events, "items": sessions.n_items,
            "unknown_dropped": enc.n_unknown_rows, "sessions_dropped_empty": int(emptied),
            "new_items": enc.n_new_ids}


# -- SR-GNN files ------------------------------------------------------------------------------
def _ragged(text: Text, test: bool):
    """Tokens of every non-blank line: (ids, tokens per line, line numbers, token lines)."""
    parts, counts, lines, token_lines = [], [], [], []
    for buf, line in blocks(text.data, 0, 1):
        if not test:
            _reject_tabs(buf, line, text.name)
        tokens = split_tokens(buf, line, b" \t", text.name, "item id")
        nonblank = tokens.counts > 0
        if test:
            tabs = count_per_line(buf, 0x09)
            last = np.cumsum(tokens.counts)[nonblank] - 1               # last token per line
            labelled = buf[tokens.column.starts[last] - 1] == 0x09
            bad = np.flatnonzero(nonblank)[(tabs[nonblank] != 1) | ~labelled]
            if bad.size:
                raise DataError(f"{text.name}:{tokens.lines[bad[0]]}: expected "
                                f"'prefix<TAB>label' (space-separated prefix ids, one label)")
        parts.append(_item_ids(tokens.column))
        counts.append(tokens.counts[nonblank])
        lines.append(tokens.lines[nonblank])
        token_lines.append(tokens.column.lines)
    counts = np.concatenate(counts)
    if counts.size == 0:
        raise DataError(f"{text.name}: no data lines")
    return (np.concatenate(parts), counts, np.concatenate(lines),
            np.concatenate(token_lines))


def _reject_tabs(buf: np.ndarray, first_line: int, name: str) -> None:
    """An `srgnn` line is space-separated ids only: a tab means another kind of file."""
    tabs = np.flatnonzero(buf == 0x09)
    if tabs.size:
        line = first_line + int(np.count_nonzero(buf[:tabs[0]] == 0x0A))
        raise DataError(f"{name}:{line}: a tab in an SR-GNN session line (one session per "
                        f"line, item ids separated by spaces; 'prefix<TAB>label' test "
                        f"samples are format srgnn-test, tab-separated ratings another "
                        f"format)")


def _item_ids(col: Column) -> np.ndarray:
    """(T,) int64 SR-GNN item ids: digits only, at most 18 of them (they fit int64).

    Checked here rather than read as strings like other formats' ids: an SR-GNN file holds
    integers only, and a token that is not one means the file is something else.
    """
    values, ok, _ = integer_values(col)
    first = col.buf[col.starts]                                         # tokens are nonempty
    bad = ~ok | (first == 0x2D) | (first == 0x2B)                       # not digits, or signed
    if bad.any():
        row = int(np.argmax(bad))
        raise col.fail(row, _id_problem(col.buf[col.starts[row]:col.ends[row]].tobytes()))
    return values


def _id_problem(token: bytes) -> str:
    """Why a token is not an SR-GNN item id (only called for the one token reported)."""
    digits = token[1:] if token[:1] in (b"-", b"+") else token
    if not digits.isdigit():                              # bytes.isdigit: ASCII digits only
        return "is not an integer"
    if len(digits) < len(token):
        return "has a sign (SR-GNN item ids are unsigned integers)"
    return "has more than 18 digits"


def _rebuild_test_sessions(text: Text, ids, counts, lines, token_lines):
    """Whole sessions from SR-GNN test samples; every line must be a prefix of its session.

    Line j has prefix length p_j = counts_j - 1. A session starts at the first line and after
    every line with p = 1; within a session p falls by one per line. Returns the tokens,
    lengths, line numbers and token line numbers of the first line of every session.
    """
    p = counts - 1                                                      # (L,) prefix lengths
    new = np.concatenate([[True], p[:-1] == 1])                         # (L,) session starts
    group = np.cumsum(new) - 1                                          # (L,)
    first = np.flatnonzero(new)                                         # (G,)
    expected = p[first][group] - (np.arange(p.size) - first[group])     # (L,)
    bad = (p != expected) | (p < 1)
    if bad.any():
        j = int(np.argmax(bad))
        raise DataError(f"{text.name}:{lines[j]}: a sample with a prefix of {p[j]} items "
                        f"where the session of line {lines[first[group[j]]]} needs "
                        f"{expected[j]}: the samples do not form whole sessions (each "
                        f"session's samples must be consecutive, longest prefix first)")
    if p[-1] != 1:
        raise DataError(f"{text.name}:{lines[-1]}: the file ends inside the session of line "
                        f"{lines[first[-1]]} (its shortest prefix is missing)")
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])               # (L,) first token
    line_of = np.repeat(np.arange(counts.size), counts)                 # (T,)
    ref = start[first[group[line_of]]] + np.arange(ids.size) - start[line_of]   # (T,)
    differs = ids[ref] != ids
    if differs.any():
        t = int(np.argmax(differs))
        raise DataError(f"{text.name}:{token_lines[t]}: this sample is not a prefix of the "
                        f"session of line {lines[first[group[line_of[t]]]]}")
    mine = new[line_of]                                                 # tokens of 1st lines
    return ids[mine], counts[first], lines[first], token_lines[mine]


def _finish(text: Text, fmt: str, ids, counts, lines, token_lines, item_ids, unknown,
            rows: int) -> tuple[Sessions, dict]:
    enc = encode(ids, item_ids, unknown, what="item", source=text.name, lines=token_lines)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    sessions = Sessions(offsets, enc.index, enc.vocab.size, session_ids=lines,
                        item_ids=enc.vocab)
    emptied = 0
    if not enc.keep.all():
        sessions = sessions.select_events(enc.keep)
        nonempty = np.flatnonzero(sessions.lengths() > 0)
        emptied = sessions.n_sessions - nonempty.size
        sessions = sessions.select(nonempty)
    return sessions, _info(text, fmt, sessions, rows, enc, emptied)
