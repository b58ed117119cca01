"""Splits of user-item data: leave-one-out, global time, random ratio, strong generalisation.

Every split is deterministic for its inputs (and its seed or `np.random.Generator`), and
returns a dataclass with a JSON-ready `record`. Apart from strong generalisation, all parts
keep the input's users and items (row u is user u everywhere), so a model fitted on `train`
ranks for the users of `test` directly; a validation split is carved from `train` by the
same rule, for model selection without touching the test data (PAPERS.md §D7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nprec.data.containers import Interactions, Sessions, as_count, check_kind
from nprec.errors import DataError

Rng = np.random.Generator | int | None


@dataclass
class Split:
    """A train/test split and the validation split carved from its training part.

    Attributes:
        train: everything that is not test; fit the final model on it.
        test: the held-out part, in the same index space as `train`.
        train_tr: `train` minus `valid`; tune hyperparameters and epochs on it (or None).
        valid: held out of `train` by the same rule as `test` (or None).
        record: protocol, parameters and sizes, for the results file.
    """

    train: Interactions | Sessions
    test: Interactions | Sessions
    train_tr: Interactions | Sessions | None
    valid: Interactions | Sessions | None
    record: dict


def as_generator(rng: Rng, what: str) -> np.random.Generator:
    """`rng` itself, or a generator seeded with it: a seed is an integer >= 0 (None: fresh
    entropy); NumPy's own error for -1 names no argument."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    try:
        return np.random.default_rng(as_count(rng, what, 0))
    except DataError:
        raise DataError(f"{what}: rng must be a np.random.Generator, a seed (an integer >= 0) "
                        f"or None, got {rng!r}") from None


def _latest_per_user(data: Interactions) -> np.ndarray:
    """(nnz,) True at the latest entry of every user with at least two entries.

    Latest = largest timestamp; ties (and data without timestamps) go to the later file
    position, then to the larger item index.
    """
    if data.times is None and data.positions is None:
        raise DataError("leave-one-out needs timestamps or the entries' file order "
                        "(data read from a file has it)")
    user = data.entry_users()
    keys = [data.indices]
    keys += [k for k in (data.positions, data.times) if k is not None]
    order = np.lexsort(keys + [user])                                   # (nnz,) user-major
    lengths = data.row_lengths()
    tested = np.flatnonzero(lengths >= 2)
    latest = np.zeros(data.nnz, dtype=bool)
    latest[order[data.indptr[tested + 1] - 1]] = True
    return latest


def _same_space(a: Interactions, b: Interactions, what: str) -> None:
    if a.shape != b.shape or not np.array_equal(a.user_ids, b.user_ids) \
            or not np.array_equal(a.item_ids, b.item_ids):
        raise DataError(f"{what}: the test data must share the training users and items "
                        f"(read it with users=train.users, items=train.items; after "
                        f"unknown='extend', re-point train with extend_items)")


def _pair_keys(data: Interactions) -> np.ndarray:
    return data.entry_users() * data.n_items + data.indices


def _leakage_error(train: Interactions, test: Interactions, overlap: np.ndarray) -> DataError:
    """Test pairs that are also training pairs, named by file, ids and lines where known."""
    k = int(np.argmax(overlap))                                         # first shared pair
    user, item = int(test.entry_users()[k]), int(test.indices[k])
    raw_user, raw_item = train.user_ids[user].item(), train.item_ids[item].item()   # not np.int64
    where = [f"user {raw_user!r}, item {raw_item!r}"]
    if test.positions is not None:
        where.append(f"line {test.positions[k]} of the test file")
    if train.positions is not None:
        row = train.indptr[user] + int(np.searchsorted(train.row(user), item))
        where.append(f"line {train.positions[row]} of the training file")
    train_name = f" {train.source}" if train.source else ""
    return DataError(f"{test.source or 'leave_one_out'}: {int(overlap.sum())} test pairs also "
                     f"occur in the training data{train_name} (the first: {', '.join(where)}); "
                     f"a test file holds only pairs held out of the training file")


def leave_one_out(data: Interactions, *, test: Interactions | None = None,
                  validation: bool = True) -> Split:
    """Leave-one-out by time (He et al. 2017): each user's latest entry is the test item.

    The latest entry is the one with the largest timestamp; equal timestamps, and data
    without timestamps, are resolved by file position (later line wins), then by item
    index. Users with a single entry stay in `train` and are not tested. The validation
    split applies the same rule to `train` (Rendle's `create_hold_out`).

    Args:
        data: all interactions, or the training file when `test` is given.
        test: a given test set (e.g. loo_split's test file read with `users=train.users`,
            `items=train.items`); then `data` is the training part and only the
            validation split is carved from it. A test pair also present in `data` is a
            DataError (leakage).
        validation: carve `train_tr`/`valid` from `train`.
    """
    check_kind(data, (Interactions,), "leave_one_out")
    given = test is not None
    if given:
        check_kind(test, (Interactions,), "leave_one_out", "test")
    if not given:
        latest = _latest_per_user(data)
        train, test = data.select_entries(~latest), data.select_entries(latest)
    else:
        _same_space(data, test, "leave_one_out")
        overlap = np.isin(_pair_keys(test), _pair_keys(data))
        if overlap.any():
            raise _leakage_error(data, test, overlap)
        train = data
    record = {"protocol": "leave-one-out", "test_given": given,
              "ties": "latest timestamp, then later file position, then larger item index",
              "train": train.nnz, "test": test.nnz,
              "test_users": int((test.row_lengths() > 0).sum())}
    train_tr = valid = None
    if validation:
        held = _latest_per_user(train)
        train_tr, valid = train.select_entries(~held), train.select_entries(held)
        record.update(train_tr=train_tr.nnz, valid=valid.nnz,
                      valid_users=int((valid.row_lengths() > 0).sum()))
    return Split(train, test, train_tr, valid, record)


def _drop_unseen(train: Interactions, test: Interactions) -> tuple[Interactions, int, int]:
    """Remove test entries whose user or item has no training entry (cold start)."""
    cold_item = train.item_counts()[test.indices] == 0                  # (nnz_test,)
    cold_user = np.repeat(train.row_lengths() == 0, test.row_lengths())
    drop = cold_item | cold_user
    return test.select_entries(~drop), int(cold_user.sum()), int((cold_item & ~cold_user).sum())


def _clock(data: Interactions) -> np.ndarray:
    if data.times is not None:
        return data.times
    if data.positions is not None:
        return data.positions.astype(np.float64)
    raise DataError("time_split needs timestamps or the entries' file order")


def _time_cut(data: Interactions, cut: float | None, fraction: float | None) -> float:
    clock = _clock(data)
    if (cut is None) == (fraction is None):
        raise DataError("time_split: give exactly one of cut= and fraction=")
    if cut is not None:
        # A NaN or infinite cut puts every entry on one side: an empty part, silently.
        if not np.isfinite(cut):
            raise DataError(f"time_split: cut must be a finite time, got {cut}")
        return float(cut)
    if not 0.0 < fraction < 1.0:
        raise DataError(f"time_split: fraction must be in (0, 1), got {fraction}")
    ordered = np.sort(clock)
    n_test = max(int(round(fraction * clock.size)), 1)
    return float(ordered[clock.size - n_test])


def time_split(data: Interactions, *, cut: float | None = None,
               fraction: float | None = None, validation: bool = True,
               drop_unseen: bool = True) -> Split:
    """Global time split: every entry at or after the cut time is test data.

    No training entry is later than any test entry, so no future information leaks into
    training (unlike per-user leave-one-out; PAPERS.md §D5).

    Args:
        cut: the cut time (seconds, or file position for data without timestamps), or
        fraction: the share of entries to put in test; the cut is the time of the first of
            the latest `fraction` of entries (ties at the cut all go to test).
        validation: split `train` by the same rule: the same fraction of it, or a cut as far
            before `cut` as `cut` is before the last entry.
        drop_unseen: remove test (and validation) entries of users or items without
            training entries; the counts are recorded.
    """
    check_kind(data, (Interactions,), "time_split")
    at = _time_cut(data, cut, fraction)
    record = {"protocol": "global-time", "cut": at, "fraction": fraction}
    train, test = _split_at(data, at)
    if drop_unseen:
        test, cold_users, cold_items = _drop_unseen(train, test)
        record.update(test_dropped_cold_user=cold_users, test_dropped_cold_item=cold_items)
    record.update(train=train.nnz, test=test.nnz)
    train_tr = valid = None
    if validation and train.nnz:
        v_at = (_time_cut(train, None, fraction) if fraction is not None
                else at - (float(_clock(data).max()) - at))
        train_tr, valid = _split_at(train, v_at)
        if drop_unseen:
            valid, _, _ = _drop_unseen(train_tr, valid)
        record.update(valid_cut=v_at, train_tr=train_tr.nnz, valid=valid.nnz)
    return Split(train, test, train_tr, valid, record)


def _split_at(data: Interactions, at: float) -> tuple[Interactions, Interactions]:
    late = _clock(data) >= at
    return data.select_entries(~late), data.select_entries(late)


def random_holdout_mask(data: Interactions, fraction: float, rng: np.random.Generator,
                        per_user: bool, min_entries: int = 1) -> np.ndarray:
    """(nnz,) mask of floor(fraction * n) random entries per user (or of all entries).

    Users with fewer than `min_entries` entries hold nothing out.
    """
    key = rng.random(data.nnz)                                          # (nnz,)
    held = np.zeros(data.nnz, dtype=bool)
    if not per_user:
        held[np.argsort(key)[:int(fraction * data.nnz)]] = True
        return held
    user = data.entry_users()
    order = np.lexsort((key, user))                                     # (nnz,) user-major
    rank = np.arange(data.nnz) - data.indptr[user]                      # rank within user
    lengths = data.row_lengths()
    n_held = np.where(lengths >= min_entries, (fraction * lengths).astype(np.int64), 0)
    held[order] = rank < n_held[user]
    return held


def ratio_split(data: Interactions, test_fraction: float = 0.2, *, rng: Rng = None,
                per_user: bool = True, validation: bool = True,
                drop_unseen: bool = False) -> Split:
    """Random split: floor(test_fraction * n) random entries of each user go to test.

    With `per_user=False` the entries are drawn from all ratings at once (AutoRec's 90/10
    split: `ratio_split(data, 0.1, per_user=False)`). Validation takes the same fraction of
    `train` by the same rule. Unseen test items are kept by default (AutoRec predicts a
    default rating for them); `drop_unseen=True` removes them and records the counts.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"ratio_split: test_fraction must be in (0, 1), got {test_fraction}")
    check_kind(data, (Interactions,), "ratio_split")
    rng = as_generator(rng, "ratio_split")
    held = random_holdout_mask(data, test_fraction, rng, per_user)
    train, test = data.select_entries(~held), data.select_entries(held)
    record = {"protocol": "random-ratio", "test_fraction": test_fraction,
              "per_user": per_user}
    if drop_unseen:
        test, cold_users, cold_items = _drop_unseen(train, test)
        record.update(test_dropped_cold_user=cold_users, test_dropped_cold_item=cold_items)
    record.update(train=train.nnz, test=test.nnz)
    train_tr = valid = None
    if validation:
        v = random_holdout_mask(train, test_fraction, rng, per_user)
        train_tr, valid = train.select_entries(~v), train.select_entries(v)
        if drop_unseen:
            valid, _, _ = _drop_unseen(train_tr, valid)
        record.update(train_tr=train_tr.nnz, valid=valid.nnz)
    return Split(train, test, train_tr, valid, record)
