"""Session splits by time, as GRU4Rec (Hidasi et al. 2016) and SR-GNN preprocess their data.

With timestamps: a session whose last event is within the final `days` × 86,400 s of the
data (end >= t_max - days·86400, GRU4Rec's rule) is a test session; the others train.
Without timestamps (SR-GNN files, whose line order is time order): the last `fraction` of
the sessions. Then test events of items that never occur in training are removed and test
sessions left shorter than `min_length` (2) are dropped. The validation split applies the
same rule to the training sessions (GRU4Rec's train_tr / train_valid).

The vocabulary of every part is the items of `train` (the candidates a model can rank);
items seen only in `train`'s validation period stay in it during tuning.
"""

from __future__ import annotations

import numpy as np

from nprec.data.containers import Sessions, check_kind
from nprec.data.splits import Split
from nprec.errors import DataError

DAY = 86_400.0


def _end_times(sessions: Sessions) -> np.ndarray:
    """(S,) time of each session's last event (-inf for an empty session)."""
    ends = np.full(sessions.n_sessions, -np.inf)
    nonempty = sessions.lengths() > 0
    ends[nonempty] = np.maximum.reduceat(sessions.times, sessions.offsets[:-1][nonempty])
    return ends


def _test_mask(sessions: Sessions, days: float | None, fraction: float | None
               ) -> tuple[np.ndarray, dict]:
    """(S,) True for the test sessions by the time rule, and what the rule was."""
    if (days is None) == (fraction is None):
        raise DataError("session_time_split: give exactly one of days= and fraction=")
    if days is not None:
        if sessions.times is None:
            raise DataError("session_time_split: days= needs timestamps; these sessions have "
                            "none (use fraction= : line order is time order)")
        if not 0 < days < np.inf:
            raise DataError(f"session_time_split: days must be a positive number, got {days}")
        ends = _end_times(sessions)
        cut = float(ends.max()) - days * DAY
        return ends >= cut, {"cut": cut}
    if not 0.0 < fraction < 1.0:
        raise DataError(f"session_time_split: fraction must be in (0, 1), got {fraction}")
    n_test = max(int(round(fraction * sessions.n_sessions)), 1)
    order = (np.argsort(_end_times(sessions), kind="stable") if sessions.times is not None
             else np.arange(sessions.n_sessions))
    test = np.zeros(sessions.n_sessions, dtype=bool)
    test[order[sessions.n_sessions - n_test:]] = True
    return test, {"test_sessions_by_order": n_test}


def _restrict(part: Sessions, known: np.ndarray, min_length: int) -> tuple[Sessions, dict]:
    """Drop events of items not `known`, then sessions shorter than `min_length`."""
    unseen = ~known[part.items]
    part = part.select_events(~unseen)
    short = part.lengths() < min_length
    return part.select(np.flatnonzero(~short)), {"events_dropped_unseen_item":
                                                 int(unseen.sum()),
                                                 "sessions_dropped_short": int(short.sum())}


def _split_once(sessions: Sessions, days, fraction, min_length: int, what: str):
    if sessions.n_sessions == 0:
        raise DataError(f"session_time_split: no sessions left to split into {what}")
    test_mask, rule = _test_mask(sessions, days, fraction)
    if test_mask.all():
        window = f"the last {days} days" if days is not None else f"the last {fraction}"
        raise DataError(f"session_time_split: {window} hold every session, leaving none to "
                        f"train on ({what}); give a shorter test period")
    train = sessions.select(np.flatnonzero(~test_mask))
    known = train.item_counts() > 0
    test, dropped = _restrict(sessions.select(np.flatnonzero(test_mask)), known, min_length)
    return train, test, known, {**rule, **dropped}


def _renumber(part: Sessions, known: np.ndarray) -> Sessions:
    new_index = np.cumsum(known) - 1                                    # (V,) monotone
    return Sessions(part.offsets, new_index[part.items], int(known.sum()), times=part.times,
                    session_ids=part.session_ids, item_ids=part.item_ids[known])


def session_time_split(sessions: Sessions, *, days: float | None = None,
                       fraction: float | None = None, validation: bool = True,
                       min_length: int = 2) -> Split:
    """Split sessions by time: the last `days` days (or the last `fraction` of sessions).

    Args:
        sessions: all sessions (after preprocessing such as `filter_sessions`).
        days: test = sessions ending in the final days × 86,400 s (1 for YooChoose /
            RSC15, 7 for DIGINETICA). Needs timestamps.
        fraction: test = the last fraction of sessions in time (line) order, for data
            without timestamps.
        validation: split `train` again by the same rule into `train_tr` and `valid`.
        min_length: test and validation sessions shorter than this after removing
            unseen items are dropped.
    Returns:
        a `Split` of `Sessions`, all over `train`'s item vocabulary.
    """
    check_kind(sessions, (Sessions,), "session_time_split", "sessions")
    train, test, known, rule = _split_once(sessions, days, fraction, min_length,
                                           "training and test")
    record = {"protocol": "session-time", "days": days, "fraction": fraction,
              "min_length": min_length, **rule}
    train_tr = valid = None
    if validation:
        train_tr, valid, _, v_rule = _split_once(train, days, fraction, min_length,
                                                 "fitting and validation")
        record.update({f"valid_{k}": v for k, v in v_rule.items()})
        train_tr, valid = _renumber(train_tr, known), _renumber(valid, known)
    train, test = _renumber(train, known), _renumber(test, known)
    for name, part in (("train", train), ("test", test), ("train_tr", train_tr),
                       ("valid", valid)):
        if part is not None:
            record[f"{name}_sessions"] = part.n_sessions
            record[f"{name}_events"] = part.n_events
    record["items"] = train.n_items
    return Split(train, test, train_tr, valid, record)
