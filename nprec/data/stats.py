"""Data set statistics (`nprec data info PATH`): a JSON-ready dict and a readable table."""

from __future__ import annotations

import numpy as np

from nprec.data.containers import Interactions, Sessions, check_kind
from nprec.data.files import PathLike, load_text
from nprec.data.formats import FORMATS, check_format
from nprec.data.readers import read_interactions, read_ncf_negatives
from nprec.data.session_readers import read_sessions


def _iso(t: float) -> str:
    """A timestamp in seconds as an ISO-8601 UTC date-time (a number if it is no date).

    The readers refuse larger timestamps, but containers built in Python may hold any
    finite time; datetime64 holds int64 seconds only.
    """
    if not abs(t) < 2.0 ** 63:
        return f"{t:.6g} s"
    return str(np.datetime64(int(np.floor(t)), "s")) + "Z"


def _summary(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"min": 0, "median": 0.0, "mean": 0.0, "max": 0}
    return {"min": int(x.min()), "median": float(np.median(x)), "mean": float(x.mean()),
            "max": int(x.max())}


def _time_range(times: np.ndarray | None) -> dict | None:
    if times is None or times.size == 0:
        return None
    return {"first": _iso(times.min()), "last": _iso(times.max()),
            "days": float((times.max() - times.min()) / 86400.0)}


def describe(data: Interactions | Sessions) -> dict:
    """Statistics of a data set.

    Interactions: users, items, interactions, density, entries per user and per item,
    the rating histogram (if rated) and the time range (if timed).
    Sessions: sessions, events, items, next-item targets (events after a session's first),
    session length min/median/mean/max and the time range (if timed).
    """
    check_kind(data, (Interactions, Sessions), "describe")
    if isinstance(data, Interactions):
        info = {"kind": "interactions", "users": data.n_users, "items": data.n_items,
                "interactions": data.nnz,
                "density": data.nnz / max(data.n_users * data.n_items, 1),
                "entries_per_user": _summary(data.row_lengths()),
                "entries_per_item": _summary(data.item_counts())}
        if data.ratings is not None:
            values, counts = np.unique(data.ratings, return_counts=True)
            info["ratings"] = {f"{v:g}": int(c) for v, c in zip(values, counts, strict=True)}
        info["time_range"] = _time_range(data.times)
        return info
    lengths = data.lengths()
    return {"kind": "sessions", "sessions": data.n_sessions, "events": data.n_events,
            "items": data.n_items, "items_with_events": int((data.item_counts() > 0).sum()),
            "next_item_targets": int(np.maximum(lengths - 1, 0).sum()),
            "session_length": _summary(lengths), "time_range": _time_range(data.times)}


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1 else f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_description(info: dict, title: str | None = None) -> str:
    """`describe`'s dict as an aligned two-column text table."""
    rows = []
    for key, value in info.items():
        if key == "kind" or value is None:
            continue
        label = key.replace("_", " ")
        if key == "ratings":
            text = "  ".join(f"{r}: {c:,}" for r, c in value.items())
        elif key == "time_range":
            text = f"{value['first']} .. {value['last']} ({value['days']:.1f} days)"
        elif key == "file":
            text = f"{value['path']} ({value['format']}, {value.get('rows', 0):,} rows)"
        elif isinstance(value, dict):
            text = "  ".join(f"{k} {_text(v)}" for k, v in value.items())
        else:
            text = _text(value)
        rows.append((label, text))
    width = max(len(name) for name, _ in rows)
    lines = [title] if title else []
    lines += [f"{name:<{width}}  {text}" for name, text in rows]
    return "\n".join(lines)


def describe_file(path: PathLike, format: str = "auto", *, member: str | None = None) -> dict:
    """Read any supported file (interactions or sessions, by its format) and describe it.

    Returns `describe(data)` with the reader's info under "file" (what `nprec data info
    PATH` prints); NCF negative files are summarised by their reader's info alone.
    """
    text = load_text(path, member)                       # read once, handed to the reader
    fmt = check_format(format, text)
    if FORMATS[fmt].kind == "negatives":
        _, info = read_ncf_negatives(text)
        return {"kind": "negatives", "file": info}
    reader = read_interactions if FORMATS[fmt].kind == "interactions" else read_sessions
    data, info = reader(text, fmt)
    return {**describe(data), "file": info}
