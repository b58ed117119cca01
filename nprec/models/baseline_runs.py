"""The baselines as `nprec train` models: pop, itemknn, ease, sknn and vsknn.

The baselines in `nprec.models.baselines` have no training loop: `fit(train)` computes them
once. Here each gets what the driver expects of a model — a `Config` dataclass of public
options, `KIND`, `DEFAULTS` — and an adapter whose `params` are the fitted arrays, so the
same pickle-free checkpoints, `evaluate`, `recommend` and `similar` work for them too.

`FIT_ONCE` tells the driver to call `fit` instead of running epochs. A list-valued option
named in `GRID` (EASE's `lambdas`) is searched on the validation split by the driver: every
value is fitted and validated, the best is tested.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.sparse as sp

from nprec.checkpoint import StoredArrays
from nprec.config import check, check_least, check_types
from nprec.models._init_args import check_init
from nprec.models.baselines import EASE, SKNN, VSKNN, ItemKNN, Popularity
from nprec.models.baselines.sknn import SIMILARITIES


@dataclass
class PopConfig:
    """Popularity has no options."""


@dataclass
class ItemKNNConfig:
    """Options of item-kNN."""

    k: int = field(default=100, metadata={"help": "neighbours kept per item"})
    shrink: float = field(default=10.0, metadata={"help": "shrink term of the cosine"})

    def __post_init__(self) -> None:
        check_types(self)
        check_least(self, "k", 1)
        check(self.shrink >= 0, "model.shrink", "must be >= 0")


@dataclass
class EASEConfig:
    """Options of EASE."""

    lam: float = field(default=500.0, metadata={"help": "L2 weight λ"})
    lambdas: list[float] = field(default_factory=list, metadata={
        "help": "λ values to search on the validation split (empty: use lam)"})

    def __post_init__(self) -> None:
        check_types(self)
        check(self.lam > 0, "model.lam", "must be > 0")
        check(all(v > 0 for v in self.lambdas), "model.lambdas", "every λ must be > 0")


def _sknn_config(cls_name: str, defaults: dict[str, Any]) -> type:
    """The Config dataclass of SKNN or V-SKNN with that class's defaults."""

    def post_init(self) -> None:
        check_types(self)
        check_least(self, "k", 1)
        check_least(self, "sample_size", 0, " (0 = all sessions)")
        check(self.similarity in SIMILARITIES, "model.similarity",
              f"must be one of {', '.join(SIMILARITIES)}")
        check(self.idf_weighting >= 0, "model.idf_weighting", "must be >= 0")

    helps = {"k": "neighbour sessions", "sample_size": "most recent candidate sessions "
             "considered (0 = all)", "similarity": "session similarity",
             "weighting": "weight of a prefix item by its position",
             "weighting_score": "decay of a neighbour's items by distance",
             "idf_weighting": "IDF weight of items (0 = off)"}
    fields = [(name, type(value), field(default=value, metadata={"help": helps[name]}))
              for name, value in defaults.items()]
    return dataclasses.make_dataclass(cls_name, fields, namespace={
        "__post_init__": post_init, "__module__": __name__})     # (this module, in messages)


SKNNConfig = _sknn_config("SKNNConfig", {"k": 100, "sample_size": 500, "similarity": "cosine",
                                         "weighting": "same", "weighting_score": "same",
                                         "idf_weighting": 0.0})
VSKNNConfig = _sknn_config("VSKNNConfig", {"k": 100, "sample_size": 1000, "similarity": "vec",
                                           "weighting": "div", "weighting_score": "div",
                                           "idf_weighting": 0.0})


def _csr_arrays(prefix: str, m: sp.sparray) -> dict[str, np.ndarray]:
    m = sp.csr_array(m)
    return {f"{prefix}_indptr": m.indptr, f"{prefix}_indices": m.indices,
            f"{prefix}_data": m.data, f"{prefix}_shape": np.array(m.shape)}


def _csr_from(s: StoredArrays, prefix: str, rows: int | None, cols: int) -> sp.csr_array:
    """The matrix `_csr_arrays` stored, checked to be (rows, cols) (rows None: any)."""
    m = s.csr(f"{prefix}_indptr", f"{prefix}_indices", (rows, cols), data=f"{prefix}_data")
    stored = s.get(f"{prefix}_shape", "iu", (2,))
    if tuple(int(n) for n in stored) != m.shape:
        s.refuse(f"{prefix}_shape", f"says {tuple(int(n) for n in stored)}, the arrays make "
                                    f"a {m.shape} matrix")
    return m


# How each baseline's fitted state is restored from its arrays, checked against the sizes
# of the run (n_users is 0 for session data: sessions have no users).

def _load_pop(m: Popularity, s: StoredArrays, n_users: int, n_items: int) -> None:
    m.support = s.counts("support", n_items)


def _load_itemknn(m: ItemKNN, s: StoredArrays, n_users: int, n_items: int) -> None:
    m.W = _csr_from(s, "W", n_items, n_items)
    # X has a row per user (score_all indexes it by user), or per session on session data.
    m.X = _csr_from(s, "X", n_users or None, n_items)


def _load_ease(m: EASE, s: StoredArrays, n_users: int, n_items: int) -> None:
    m.B = s.get("B", "f", (n_items, n_items))
    m.X = _csr_from(s, "X", n_users, n_items)


def _load_sknn(m: SKNN, s: StoredArrays, n_users: int, n_items: int) -> None:
    """The two halves of the session-kNN index (see `SKNN.fit`): each session's distinct
    items (sess_ptr, p_item) and each item's sessions, most recent first (item_ptr, p_sess).
    The Numba kernel reads them without bounds checks, so every index is checked here."""
    p_item = s.indices("p_item", n_items)                               # (P,)
    sess_ptr = s.pointers("sess_ptr", None, p_item.size)                # (S + 1,)
    n_sessions = sess_ptr.size - 1
    p_sess = s.indices("p_sess", n_sessions, p_item.size)               # (P,)
    item_ptr = s.pointers("item_ptr", n_items, p_item.size)             # (V + 1,)
    recency = s.indices("recency", n_sessions, n_sessions)              # (S,)
    if np.unique(recency).size != n_sessions:
        s.refuse("recency", "is not a ranking of the sessions (each of 0..S-1 once)")
    idf_factor = s.get("idf_factor", "f", (n_items,)).astype(np.float64)  # (V,)
    s.check_increasing_in_rows("p_item", sess_ptr, p_item,
                               "lists an item twice in a session, or out of order")
    s.check_increasing_in_rows("p_sess", item_ptr, -recency[p_sess],
                               "does not list each item's sessions most recent first")
    # Both halves must hold the same (session, item) pairs, or the neighbours found through
    # one half would be scored with the other.
    pairs = np.repeat(np.arange(n_sessions), np.diff(sess_ptr)) * n_items + p_item  # sorted
    by_item = p_sess * n_items + np.repeat(np.arange(n_items), np.diff(item_ptr))
    if not np.array_equal(pairs, np.sort(by_item)):
        s.refuse("p_sess", "and p_item do not index the same (session, item) pairs")
    m.index = (sess_ptr, p_item, item_ptr, p_sess, recency, idf_factor)
    m.n_items = n_items


# How each baseline's fitted state becomes arrays (saving) and back (loading).
_SKNN_INDEX = ("sess_ptr", "p_item", "item_ptr", "p_sess", "recency", "idf_factor")
STATE = {
    Popularity: (lambda m: {"support": m.support}, _load_pop),
    ItemKNN: (lambda m: {**_csr_arrays("W", m.W), **_csr_arrays("X", m.X)}, _load_itemknn),
    EASE: (lambda m: {"B": m.B, **_csr_arrays("X", m.X)}, _load_ease),
    SKNN: (lambda m: dict(zip(_SKNN_INDEX, m.index, strict=True)), _load_sknn),
}


class Fitted:
    """A baseline behind the model contract: `fit(train)`, `params`, scoring delegated.

    The arguments are checked as every model's are (`check_init`): the config must be the
    baseline's own, n_users and n_items integers >= 1 (n_users >= 0 for a baseline that
    takes sessions, which have no users), rng a `np.random.Generator` and dtype float32 or
    float64, although a baseline draws nothing and keeps the dtypes of its own arrays.
    """

    def __init__(self, impl_class: type, config: Any, n_users: int, n_items: int, *,
                 config_type: type, sessions: bool = False, search: tuple[str, ...] = (),
                 rng: np.random.Generator, dtype: Any = np.float32) -> None:
        self.config = config
        self.name = impl_class.__name__.lower()
        self.n_users, self.n_items, _ = check_init(
            self.name, n_users, n_items, rng, dtype, config=config, config_type=config_type,
            sessions=sessions)
        # The options searched by the driver (lists of values) are not the baseline's own.
        self.impl = impl_class(**{k: v for k, v in dataclasses.asdict(config).items()
                                  if k not in search})
        self._to, self._from = next(v for k, v in STATE.items() if isinstance(self.impl, k))
        self.params: dict[str, np.ndarray] = {}

    def fit(self, train: Any) -> Fitted:
        self.impl.fit(train)
        self.params = dict(self._to(self.impl))
        return self

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Restore the fitted state from checkpoint arrays, each checked against the run's
        sizes (a `CheckpointError` naming the array that does not fit)."""
        self._from(self.impl, StoredArrays(params, "param"), self.n_users, self.n_items)
        self.params = dict(params)

    def item_similarities(self, item: int) -> np.ndarray | None:
        """(V,) similarity of every item to `item`: a row of the item-item model (item-kNN,
        EASE); None for a baseline without one (popularity, the session kNNs)."""
        if isinstance(self.impl, ItemKNN):
            return self.impl.W[[item]].toarray()[0]
        if isinstance(self.impl, EASE):
            return np.asarray(self.impl.B[item], dtype=np.float64)
        return None

    def __getattr__(self, name: str) -> Any:
        # Scoring methods the baseline has (score_all, score_fold_in, score_prefixes, ...).
        if name.startswith(("score_", "item_vectors")):
            return getattr(self.impl, name)
        raise AttributeError(name)


def _spec(impl_class: type, config: type, kind: tuple[str, ...], doc: str,
          defaults: dict[str, Any] | None = None, grid: dict[str, str] | None = None
          ) -> SimpleNamespace:
    grid = grid or {}

    def model(cfg: Any, n_users: int, n_items: int, **kw: Any) -> Fitted:
        return Fitted(impl_class, cfg, n_users, n_items, config_type=config,
                      sessions="sessions" in kind, search=tuple(grid.values()), **kw)

    return SimpleNamespace(__doc__=doc, Config=config, Model=model, KIND=kind,
                           DEFAULTS=defaults or {}, ALIASES={}, GRID=grid, FIT_ONCE=True)


_SESSIONS = {"eval.protocol": "next-item", "eval.k": [20], "eval.metric": "mrr@20"}
pop = _spec(Popularity, PopConfig, ("interactions", "sessions"),
            "Popularity: every user gets the most supported items (the floor to clear).")
itemknn = _spec(ItemKNN, ItemKNNConfig, ("interactions", "sessions"),
                "Item-kNN: cosine item-item similarity with shrinkage, top-k neighbours.")
ease = _spec(EASE, EASEConfig, ("interactions",),
             "EASE: closed-form linear item-item model (Steck 2019).", grid={"lam": "lambdas"})
sknn = _spec(SKNN, SKNNConfig, ("sessions",),
             "SKNN: session-based kNN over the most similar past sessions.", _SESSIONS)
vsknn = _spec(VSKNN, VSKNNConfig, ("sessions",),
              "V-SKNN: session kNN weighting later clicks more (Ludewig & Jannach 2018).",
              _SESSIONS)
