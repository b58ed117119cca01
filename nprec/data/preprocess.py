"""Preprocessing: implicit feedback, k-cores, session filters, de-duplication, compact ids.

Every function returns a new container and a JSON-ready record of what it did (parameters
and the sizes before and after), to be stored in the results file. Functions that remove
entries also compact the vocabularies: users, items and sessions left without any entry
are removed and the rest renumbered in their old order; raw ids are kept, so results still
speak the file's ids.
"""

from __future__ import annotations

import numpy as np

from nprec.data.containers import Interactions, Sessions, check_kind
from nprec.errors import DataError

Data = Interactions | Sessions


def sizes(data: Data) -> dict:
    """The counts a record reports before and after a step."""
    if isinstance(data, Interactions):
        return {"users": data.n_users, "items": data.n_items, "interactions": data.nnz}
    return {"sessions": data.n_sessions, "events": data.n_events, "items": data.n_items}


def _compact_interactions(data: Interactions) -> Interactions:
    users = np.flatnonzero(data.row_lengths() > 0)                      # (U',)
    used = data.item_counts() > 0                                       # (V,)
    data = data.select_users(users)
    new_index = np.cumsum(used) - 1                                     # (V,) monotone
    return Interactions(data.indptr, new_index[data.indices], int(used.sum()),
                        ratings=data.ratings, times=data.times, user_ids=data.user_ids,
                        item_ids=data.item_ids[used], positions=data.positions,
                        source=data.source)


def _compact_sessions(data: Sessions) -> Sessions:
    data = data.select(np.flatnonzero(data.lengths() > 0))
    used = data.item_counts() > 0                                       # (V,)
    new_index = np.cumsum(used) - 1                                     # (V,) monotone
    return Sessions(data.offsets, new_index[data.items], int(used.sum()), times=data.times,
                    session_ids=data.session_ids, item_ids=data.item_ids[used])


def compact(data: Data) -> tuple[Data, dict]:
    """Remove users and items without entries (sessions without events) and renumber.

    Raw ids are kept; the order of the remaining users, items and sessions is unchanged.
    """
    check_kind(data, (Interactions, Sessions), "compact")
    before = sizes(data)
    out = (_compact_interactions(data) if isinstance(data, Interactions)
           else _compact_sessions(data))
    return out, {"step": "compact", "before": before, "after": sizes(out)}


def binarize(data: Interactions, min_rating: float) -> tuple[Interactions, dict]:
    """Implicit feedback: keep the entries rated at least `min_rating`, as 1s.

    `min_rating=4` on MovieLens is the usual "positive" rule (Liang et al. 2018 keep ratings
    > 3.5, the same on half-star data). The ratings are dropped (implicit data).
    """
    check_kind(data, (Interactions,), "binarize")
    if data.ratings is None:
        raise DataError("binarize: the data has no ratings (already implicit)")
    if not np.isfinite(min_rating):
        # Every comparison with NaN is False: all entries would be dropped.
        raise DataError(f"binarize: min_rating must be a finite number, got {min_rating}")
    before = sizes(data)
    kept = data.select_entries(data.ratings >= min_rating)
    kept.ratings = None
    out = _compact_interactions(kept)
    return out, {"step": "binarize", "min_rating": float(min_rating), "before": before,
                 "after": sizes(out)}


def k_core(data: Interactions, k: int | None = None, *, min_user: int | None = None,
           min_item: int | None = None) -> tuple[Interactions, dict]:
    """Iterative k-core: drop users with fewer than `min_user` entries and items with fewer
    than `min_item`, again and again until every remaining user and item qualifies.

    `k` sets both thresholds; `min_user`/`min_item` override it for one side.
    """
    check_kind(data, (Interactions,), "k_core")
    for name, value in (("k", k), ("min_user", min_user), ("min_item", min_item)):
        # A threshold of 2.5 filters like 3 but would be recorded as 2.
        if value is not None and not (0 <= value < np.inf and int(value) == value):
            raise DataError(f"k_core: {name} must be a whole number >= 0, got {value}")
    min_user = min_user if min_user is not None else (k or 1)
    min_item = min_item if min_item is not None else (k or 1)
    before = sizes(data)
    rounds = 0
    while True:
        user_ok = data.row_lengths() >= min_user                        # (U,)
        item_ok = data.item_counts() >= min_item                        # (V,)
        keep = np.repeat(user_ok, data.row_lengths()) & item_ok[data.indices]
        if keep.all():
            break
        data = data.select_entries(keep)
        rounds += 1
    out = _compact_interactions(data)
    return out, {"step": "k_core", "min_user": int(min_user), "min_item": int(min_item),
                 "rounds": rounds, "before": before, "after": sizes(out)}


def dedupe_consecutive(sessions: Sessions) -> tuple[Sessions, dict]:
    """Remove repeated consecutive clicks on the same item within a session (A A B -> A B).

    The GRU4Rec 2023 preprocessing does this for Yoochoose/Diginetica; RSC15 in the 2016
    paper does not (results of the two are not comparable).
    """
    check_kind(sessions, (Sessions,), "dedupe_consecutive", "sessions")
    before = sizes(sessions)
    items = sessions.items
    repeat = np.zeros(items.size, dtype=bool)
    repeat[1:] = items[1:] == items[:-1]
    repeat[sessions.offsets[:-1][sessions.lengths() > 0]] = False      # a session's first
    out = _compact_sessions(sessions.select_events(~repeat))
    return out, {"step": "dedupe_consecutive", "events_removed": int(repeat.sum()),
                 "before": before, "after": sizes(out)}


def filter_sessions(sessions: Sessions, *, min_length: int = 2, min_support: int = 5,
                    until_stable: bool = False) -> tuple[Sessions, dict]:
    """Drop short sessions and rare items, as GRU4Rec's and SR-GNN's preprocessing do.

    `until_stable=False` is the one pass of GRU4Rec (ICLR 2016, rsc15) and SR-GNN: drop
    sessions shorter than `min_length`, then events of items with fewer than `min_support`
    events, then sessions that became shorter than `min_length`. `until_stable=True`
    repeats the two filters until nothing changes (the GRU4Rec 2023 preprocessing).
    """
    check_kind(sessions, (Sessions,), "filter_sessions", "sessions")
    for name, value in (("min_length", min_length), ("min_support", min_support)):
        if not (0 <= value < np.inf and int(value) == value):
            raise DataError(f"filter_sessions: {name} must be a whole number >= 0, got {value}")
    before = sizes(sessions)
    rounds = 0
    while True:
        long_enough = sessions.lengths() >= min_length                  # (S,)
        sessions = sessions.select(np.flatnonzero(long_enough))
        frequent = sessions.item_counts() >= min_support                # (V,)
        changed = not long_enough.all() or not frequent[sessions.items].all()
        sessions = sessions.select_events(frequent[sessions.items])
        rounds += 1
        if not until_stable or not changed:
            break
    sessions = sessions.select(np.flatnonzero(sessions.lengths() >= min_length))
    out = _compact_sessions(sessions)
    return out, {"step": "filter_sessions", "min_length": int(min_length),
                 "min_support": int(min_support), "until_stable": bool(until_stable),
                 "rounds": rounds, "before": before, "after": sizes(out)}


def extend_items(data: Data, item_ids: np.ndarray) -> Data:
    """The same data over a larger item vocabulary whose first V raw ids are data's own.

    Used after reading a test file with `unknown='extend'`: the training container is
    re-pointed at the test file's extended vocabulary, so both share one index space.
    """
    check_kind(data, (Interactions, Sessions), "extend_items")
    item_ids = np.asarray(item_ids)
    n = data.n_items
    if item_ids.size < n or not np.array_equal(item_ids[:n].astype(str),
                                               data.item_ids.astype(str)):
        raise DataError("extend_items: the new vocabulary does not start with the data's "
                        "own item ids")
    if isinstance(data, Interactions):
        return Interactions(data.indptr, data.indices, item_ids.size, ratings=data.ratings,
                            times=data.times, user_ids=data.user_ids, item_ids=item_ids,
                            positions=data.positions, source=data.source)
    return Sessions(data.offsets, data.items, item_ids.size, times=data.times,
                    session_ids=data.session_ids, item_ids=item_ids)
