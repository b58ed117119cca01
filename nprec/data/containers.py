"""The two data containers every reader produces and every model consumes.

- `Interactions`: a user × item matrix in CSR form (rows = users, sorted item indices within a
  row, no repeated pair), with optional ratings and timestamps aligned with the entries, and
  the raw ids of users and items so results can speak the user's ids.
- `Sessions`: click sessions as offsets into one flat array of item indices (in click order),
  with optional timestamps, the raw session ids and the raw item ids.

Both use dense internal indices (0..U-1, 0..V-1) and keep the raw ids as `int64` or unicode
arrays (never Python objects, so checkpoints stay pickle-free). Two containers that share an
item vocabulary (train and test of one split) share the same `item_ids` array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from nprec.errors import ConfigError, DataError, NprecError, UnknownIdError


def _as_id_array(ids: np.ndarray | None, n: int, what: str) -> np.ndarray:
    """Raw ids as int64 or unicode; default 0..n-1."""
    if ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(ids)
    if ids.shape != (n,):
        raise DataError(f"{what}: expected {n} raw ids, got shape {ids.shape}")
    if np.issubdtype(ids.dtype, np.integer):
        return ids.astype(np.int64, copy=False)
    if ids.dtype.kind in "US" or ids.dtype == object:
        return ids.astype(str)
    raise DataError(f"{what}: raw ids must be integers or strings, got {ids.dtype}")


def check_kind(data, kinds: tuple[type, ...], what: str, name: str = "data") -> None:
    """A DataError unless `data` is one of the containers `kinds` (Interactions, Sessions)."""
    if not isinstance(data, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise DataError(f"{what}: {name} must be {names}, got {type(data).__name__}")


def as_integers(values, what: str, dtype: type = np.int64) -> np.ndarray:
    """`values` as integer positions of `dtype`; a DataError for floats or booleans (a cast
    would truncate 2.7 to 2, or turn a mask into positions 0 and 1)."""
    a = np.asarray(values)
    if a.size and a.dtype.kind not in "iu":
        raise DataError(f"{what} must be integers, got {a.dtype}")
    return a.astype(dtype, copy=False)


def as_count(value, what: str, least: int = 0, error: type[NprecError] = DataError) -> int:
    """One size, count or seed: `value` as an int if it is a Python or NumPy integer >= least.

    Floats (2.5, or 2.0 where a shape is wanted), booleans and strings are refused rather
    than cast, and so is a value below `least` (NumPy's own errors for these name no argument).
    Raises:
        `error` (DataError unless the caller says ConfigError), "{what} must be an integer
        >= {least}, got {value!r}".
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise error(f"{what} must be an integer >= {least}, got {value!r}")
    return int(value)


def as_generator(rng, what: str, error: type[NprecError] = ConfigError) -> np.random.Generator:
    """`rng` itself if it is a `np.random.Generator` (a seed or a legacy RandomState would
    fail later as an AttributeError, or draw other numbers).

    Raises:
        `error` (ConfigError unless the caller says otherwise), "{what} must be a
        np.random.Generator (np.random.default_rng(seed)), got {rng!r}".
    """
    if not isinstance(rng, np.random.Generator):
        raise error(f"{what} must be a np.random.Generator (np.random.default_rng(seed)), "
                    f"got {rng!r}")
    return rng


def as_indices(values, n: int, what: str) -> np.ndarray:
    """`values` as int64 positions in [0, n) (NumPy would take -1 from the end).

    Raises:
        DataError if they are not integers; UnknownIdError if one is outside [0, n).
    """
    a = as_integers(values, what)
    if a.size and (a.min() < 0 or a.max() >= n):
        bad = int(a.min()) if a.min() < 0 else int(a.max())
        raise UnknownIdError(f"{what}: position {bad} is outside [0, {n})")
    return a


def _as_mask(keep, n: int, what: str) -> np.ndarray:
    """A (n,) boolean mask; integers are refused (positions would be read as True/False)."""
    keep = np.asarray(keep)
    if keep.dtype != bool:
        raise DataError(f"{what}: keep must be a boolean mask, got {keep.dtype}")
    if keep.shape != (n,):
        raise DataError(f"{what}: keep has shape {keep.shape}, expected ({n},)")
    return keep


def _position(i, n: int, what: str) -> int:
    """One position in [0, n) (a row or a session)."""
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise DataError(f"{what}: expected an integer position, got {i!r}")
    return int(as_indices(i, n, what))


class IdMap:
    """Raw id <-> dense index, both ways; lookups of unknown ids raise `UnknownIdError`."""

    def __init__(self, raw: np.ndarray, what: str) -> None:
        self.raw = raw
        self.what = what
        self._index: dict | None = None

    def __len__(self) -> int:
        return self.raw.size

    def _table(self) -> dict:
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.raw.tolist())}
        return self._index

    def _coerce(self, value):
        # Raw ids typed on a command line arrive as strings: read them as the map's type.
        if self.raw.dtype.kind == "i" and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise UnknownIdError(f"unknown {self.what} id {value!r}") from None
        if self.raw.dtype.kind == "U" and not isinstance(value, str):
            return str(value)
        return value

    def index(self, value) -> int:
        """Dense index of one raw id."""
        try:
            return self._table()[self._coerce(value)]
        except KeyError:
            raise UnknownIdError(f"unknown {self.what} id {value!r}") from None

    def indices(self, values) -> np.ndarray:
        """Dense indices of many raw ids, (n,) int64."""
        return np.array([self.index(v) for v in values], dtype=np.int64)


@dataclass
class Interactions:
    """User × item interactions in CSR form.

    Attributes:
        indptr:   (U + 1,) int64 row pointers.
        indices:  (nnz,) int32 item index of each entry, sorted within each user's row.
        n_items:  V, the size of the item vocabulary (items may have no entry here).
        ratings:  (nnz,) float32 rating of each entry, or None for implicit data.
        times:    (nnz,) float64 timestamp of each entry (seconds), or None.
        user_ids: (U,) raw user ids.  item_ids: (V,) raw item ids.
        positions: (nnz,) int64 position of each entry in its source's event order (the line
                  number for data read from a file), or None. Splits use it to order a user's
                  entries when there are no timestamps, and to break ties between equal ones.
        source:   the file the entries were read from (for messages), or None.
    """

    indptr: np.ndarray
    indices: np.ndarray
    n_items: int
    ratings: np.ndarray | None = None
    times: np.ndarray | None = None
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    _user_map: IdMap | None = field(default=None, repr=False, compare=False)
    _item_map: IdMap | None = field(default=None, repr=False, compare=False)
    positions: np.ndarray | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.indptr = as_integers(self.indptr, "Interactions: indptr", np.int64)
        self.indices = as_integers(self.indices, "Interactions: indices", np.int32)
        self.n_items = int(self.n_items)
        nnz = self.indices.size
        if self.indptr.ndim != 1 or self.indptr.size < 1 or self.indptr[0] != 0 \
                or self.indptr[-1] != nnz or np.any(np.diff(self.indptr) < 0):
            raise DataError("Interactions: indptr is not a valid CSR row-pointer array")
        if nnz and (self.indices.min() < 0 or self.indices.max() >= self.n_items):
            raise DataError(f"Interactions: item index outside [0, {self.n_items})")
        for name in ("ratings", "times"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr, dtype=np.float32 if name == "ratings" else np.float64)
                if arr.shape != (nnz,):
                    raise DataError(f"Interactions: {name} has shape {arr.shape}, "
                                    f"expected ({nnz},)")
                if not np.all(np.isfinite(arr)):
                    raise DataError(f"Interactions: {name} contain NaN or infinite values")
                setattr(self, name, arr)
        if self.positions is not None:
            self.positions = np.asarray(self.positions, dtype=np.int64)
            if self.positions.shape != (nnz,):
                raise DataError(f"Interactions: positions has shape {self.positions.shape}, "
                                f"expected ({nnz},)")
        self.user_ids = _as_id_array(self.user_ids, self.n_users, "user_ids")
        self.item_ids = _as_id_array(self.item_ids, self.n_items, "item_ids")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_indices(cls, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                     *, ratings: np.ndarray | None = None, times: np.ndarray | None = None,
                     user_ids: np.ndarray | None = None, item_ids: np.ndarray | None = None,
                     positions: np.ndarray | None = None) -> Interactions:
        """Build from parallel (nnz,) arrays of dense user and item indices.

        Entries are sorted by (user, item); a repeated (user, item) pair is a `DataError`
        (readers decide how to merge repeats before calling this).
        """
        users = as_integers(users, "Interactions: users", np.int64)
        items = as_integers(items, "Interactions: items", np.int64)
        if users.shape != items.shape or users.ndim != 1:
            raise DataError("Interactions: users and items must be 1-d arrays of equal length")
        for name, arr in (("ratings", ratings), ("times", times), ("positions", positions)):
            if arr is not None and np.shape(arr) != users.shape:
                raise DataError(f"Interactions: {name} has shape {np.shape(arr)}, expected "
                                f"{users.shape} like users and items")
        if users.size and (users.min() < 0 or users.max() >= n_users):
            raise DataError(f"Interactions: user index outside [0, {n_users})")
        order = np.lexsort((items, users))                              # (nnz,)
        users, items = users[order], items[order]
        if users.size > 1:
            same = (users[1:] == users[:-1]) & (items[1:] == items[:-1])
            if same.any():
                k = int(np.argmax(same))
                raise DataError(f"Interactions: the pair (user {users[k]}, item {items[k]}) "
                                f"occurs more than once")
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
        return cls(indptr, items.astype(np.int32), n_items,
                   ratings=None if ratings is None else np.asarray(ratings)[order],
                   times=None if times is None else np.asarray(times)[order],
                   user_ids=user_ids, item_ids=item_ids,
                   positions=None if positions is None else np.asarray(positions)[order])

    @classmethod
    def from_csr(cls, matrix: sp.spmatrix | sp.sparray, *, user_ids: np.ndarray | None = None,
                 item_ids: np.ndarray | None = None, implicit: bool = True) -> Interactions:
        """Build from a scipy sparse matrix (rows users, columns items).

        With `implicit=True` every nonzero entry is an interaction: entries stored as zero
        (SciPy keeps them, e.g. after two entries cancel) are not, as in the matrix itself.
        With `implicit=False` the stored values become the ratings.
        Raises:
            DataError for a NaN or infinite value, or with `implicit=True` a negative one (an
            interaction is present or absent, or counted: never below zero).
        """
        csr = sp.csr_array(matrix)
        csr.sum_duplicates()
        csr.sort_indices()
        if csr.nnz and not np.all(np.isfinite(csr.data)):
            raise DataError("Interactions.from_csr: the matrix holds a NaN or infinite value")
        if implicit:
            if csr.nnz and csr.data.min() < 0:
                raise DataError(f"Interactions.from_csr: implicit feedback with a negative "
                                f"value ({csr.data.min():g}); pass implicit=False for ratings")
            csr.eliminate_zeros()
        return cls(csr.indptr, csr.indices, csr.shape[1],
                   ratings=None if implicit else csr.data,
                   user_ids=user_ids, item_ids=item_ids)

    # -- shape and views ------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return self.indptr.size - 1

    @property
    def nnz(self) -> int:
        return self.indices.size

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    def row(self, u: int) -> np.ndarray:
        """Item indices of user u (sorted)."""
        u = _position(u, self.n_users, "Interactions.row: u")
        return self.indices[self.indptr[u]:self.indptr[u + 1]]

    def row_lengths(self) -> np.ndarray:
        """(U,) number of entries per user."""
        return np.diff(self.indptr)

    def entry_users(self) -> np.ndarray:
        """(nnz,) user index of every entry (the COO row array)."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.row_lengths())

    def item_counts(self) -> np.ndarray:
        """(V,) number of entries per item (its support)."""
        return np.bincount(self.indices, minlength=self.n_items)

    def to_csr(self, values: str = "ones", dtype: np.dtype = np.float32) -> sp.csr_array:
        """The matrix as `scipy.sparse.csr_array`; values 'ones' or 'ratings'."""
        if values == "ratings":
            if self.ratings is None:
                raise DataError("Interactions: no ratings in this data set (implicit feedback)")
            data = self.ratings.astype(dtype)
        elif values == "ones":
            data = np.ones(self.nnz, dtype=dtype)
        else:
            raise ValueError(f"values must be 'ones' or 'ratings', got {values!r}")
        return sp.csr_array((data, self.indices, self.indptr), shape=self.shape)

    # -- ids --------------------------------------------------------------------------------
    @property
    def users(self) -> IdMap:
        """Map between raw user ids and row indices."""
        if self._user_map is None:
            self._user_map = IdMap(self.user_ids, "user")
        return self._user_map

    @property
    def items(self) -> IdMap:
        """Map between raw item ids and column indices."""
        if self._item_map is None:
            self._item_map = IdMap(self.item_ids, "item")
        return self._item_map

    def select_users(self, users: np.ndarray) -> Interactions:
        """A new `Interactions` holding only the given rows (in the given order)."""
        users = as_indices(users, self.n_users, "select_users: users")
        lengths = self.row_lengths()[users]
        indptr = np.zeros(users.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        take = np.repeat(self.indptr[users] - indptr[:-1], lengths) \
            + np.arange(indptr[-1])                                     # (nnz',) entry positions
        return Interactions(indptr, self.indices[take], self.n_items,
                            ratings=None if self.ratings is None else self.ratings[take],
                            times=None if self.times is None else self.times[take],
                            user_ids=self.user_ids[users], item_ids=self.item_ids,
                            positions=None if self.positions is None else self.positions[take],
                            source=self.source)

    def select_entries(self, keep: np.ndarray) -> Interactions:
        """A new `Interactions` with the same users and items holding only the entries where
        the (nnz,) boolean mask `keep` is True (rows may become empty)."""
        keep = _as_mask(keep, self.nnz, "select_entries")
        kept_before = np.concatenate([[0], np.cumsum(keep)])            # (nnz + 1,)
        indptr = kept_before[self.indptr]                               # (U + 1,)
        return Interactions(indptr, self.indices[keep], self.n_items,
                            ratings=None if self.ratings is None else self.ratings[keep],
                            times=None if self.times is None else self.times[keep],
                            user_ids=self.user_ids, item_ids=self.item_ids,
                            positions=None if self.positions is None else self.positions[keep],
                            source=self.source)

    def __repr__(self) -> str:
        kind = "explicit" if self.ratings is not None else "implicit"
        return (f"Interactions({self.n_users} users × {self.n_items} items, {self.nnz} entries, "
                f"{kind}{', timed' if self.times is not None else ''})")


@dataclass
class Sessions:
    """Click sessions as offsets into one flat item array.

    Attributes:
        offsets:     (S + 1,) int64; session s holds events offsets[s]:offsets[s + 1].
        items:       (N,) int32 item index of each event, in click order within a session.
        n_items:     V, the size of the item vocabulary.
        times:       (N,) float64 timestamp of each event (seconds), or None.
        session_ids: (S,) raw session ids.  item_ids: (V,) raw item ids.
    """

    offsets: np.ndarray
    items: np.ndarray
    n_items: int
    times: np.ndarray | None = None
    session_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    _item_map: IdMap | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.offsets = as_integers(self.offsets, "Sessions: offsets", np.int64)
        self.items = as_integers(self.items, "Sessions: items", np.int32)
        self.n_items = int(self.n_items)
        n = self.items.size
        if self.offsets.ndim != 1 or self.offsets.size < 1 or self.offsets[0] != 0 \
                or self.offsets[-1] != n or np.any(np.diff(self.offsets) < 0):
            raise DataError("Sessions: offsets is not a valid offsets array")
        if n and (self.items.min() < 0 or self.items.max() >= self.n_items):
            raise DataError(f"Sessions: item index outside [0, {self.n_items})")
        if self.times is not None:
            self.times = np.asarray(self.times, dtype=np.float64)
            if self.times.shape != (n,):
                raise DataError(f"Sessions: times has shape {self.times.shape}, expected ({n},)")
            if not np.all(np.isfinite(self.times)):
                raise DataError("Sessions: times contain NaN or infinite values")
        self.session_ids = _as_id_array(self.session_ids, self.n_sessions, "session_ids")
        self.item_ids = _as_id_array(self.item_ids, self.n_items, "item_ids")

    @classmethod
    def from_lists(cls, sessions: list[list[int]], n_items: int | None = None,
                   **kwargs) -> Sessions:
        """Build from a list of sessions of dense item indices (tests and examples)."""
        lengths = np.array([len(s) for s in sessions], dtype=np.int64)
        offsets = np.zeros(len(sessions) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = np.array([i for s in sessions for i in s])
        items = as_integers(items, "Sessions.from_lists: items", np.int64)
        if n_items is None:
            n_items = int(items.max()) + 1 if items.size else 0
        return cls(offsets, items, n_items, **kwargs)

    @property
    def n_sessions(self) -> int:
        return self.offsets.size - 1

    @property
    def n_events(self) -> int:
        return self.items.size

    def lengths(self) -> np.ndarray:
        """(S,) number of events per session."""
        return np.diff(self.offsets)

    def session(self, s: int) -> np.ndarray:
        """Item indices of session s, in click order."""
        s = _position(s, self.n_sessions, "Sessions.session: s")
        return self.items[self.offsets[s]:self.offsets[s + 1]]

    def start_times(self) -> np.ndarray:
        """(S,) time of each session's first event (its position if there are no times)."""
        if self.times is None:
            return np.arange(self.n_sessions, dtype=np.float64)
        starts = self.offsets[:-1]
        out = np.full(self.n_sessions, np.inf)
        nonempty = self.lengths() > 0
        out[nonempty] = self.times[starts[nonempty]]
        return out

    def item_counts(self) -> np.ndarray:
        """(V,) number of events per item (its support)."""
        return np.bincount(self.items, minlength=self.n_items)

    @property
    def vocabulary(self) -> IdMap:
        """Map between raw item ids and item indices."""
        if self._item_map is None:
            self._item_map = IdMap(self.item_ids, "item")
        return self._item_map

    def select(self, sessions: np.ndarray) -> Sessions:
        """A new `Sessions` holding the given sessions in the given order."""
        sessions = as_indices(sessions, self.n_sessions, "select: sessions")
        lengths = self.lengths()[sessions]
        offsets = np.zeros(sessions.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        take = np.repeat(self.offsets[sessions] - offsets[:-1], lengths) \
            + np.arange(offsets[-1])                                    # (N',) event positions
        return Sessions(offsets, self.items[take], self.n_items,
                        times=None if self.times is None else self.times[take],
                        session_ids=self.session_ids[sessions], item_ids=self.item_ids)

    def select_events(self, keep: np.ndarray) -> Sessions:
        """A new `Sessions` with the same sessions holding only the events where the (N,)
        boolean mask `keep` is True (sessions may become empty)."""
        keep = _as_mask(keep, self.n_events, "select_events")
        kept_before = np.concatenate([[0], np.cumsum(keep)])            # (N + 1,)
        offsets = kept_before[self.offsets]                             # (S + 1,)
        return Sessions(offsets, self.items[keep], self.n_items,
                        times=None if self.times is None else self.times[keep],
                        session_ids=self.session_ids, item_ids=self.item_ids)

    def __repr__(self) -> str:
        return (f"Sessions({self.n_sessions} sessions, {self.n_events} events, "
                f"{self.n_items} items{', timed' if self.times is not None else ''})")
