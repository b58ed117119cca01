"""Data set statistics (`nprec data info PATH`): a JSON-ready dict and a readable table."""

from __future__ import annotations

import numpy as np

from nprec.data.containers import Interactions, Sessions


def _iso(t: float) -> str:
    """A timestamp in seconds as an ISO-8601 UTC date-time."""
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


def format_description(info: dict, title: str | None = None) -> str:
    """`describe`'s dict as an aligned two-column text table."""
    rows = []

    def add(name: str, value) -> None:
        if isinstance(value, float):
            text = f"{value:.6g}" if value < 1 else f"{value:,.2f}"
        elif isinstance(value, int):
            text = f"{value:,}"
        else:
            text = str(value)
        rows.append((name, text))

    for key, value in info.items():
        if key == "kind" or value is None:
            continue
        label = key.replace("_", " ")
        if isinstance(value, dict):
            if key == "ratings":
                add(label, "  ".join(f"{r}: {c:,}" for r, c in value.items()))
            elif key == "time_range":
                add(label, f"{value['first']} .. {value['last']} ({value['days']:.1f} days)")
            else:
                add(label, "  ".join(f"{k} {v:,.4g}" if isinstance(v, float) else f"{k} {v:,}"
                                     for k, v in value.items()))
        else:
            add(label, value)
    width = max(len(name) for name, _ in rows)
    lines = [title] if title else []
    lines += [f"{name:<{width}}  {text}" for name, text in rows]
    return "\n".join(lines)
