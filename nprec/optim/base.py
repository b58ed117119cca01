"""What every optimizer shares: per-parameter state, the step loop, checkpointable state.

An optimizer updates a model's `params` dict in place from a `grads` dict with the same
names. A gradient is a dense array of the parameter's shape, a `RowGrad` (the touched rows of
an embedding table), or None / absent (the parameter is not updated this step). Each
optimizer implements `_update(name, p, g)` as one call of a fused kernel of
`nprec.kernels.optim_rows`, which reads and writes each touched number of the parameter and
of its state once. `row_update` hands the kernel either a RowGrad's rows of the (V, D) view,
or a dense gradient as the single row of a (1, p.size) view: a dense update is the row
update with every number touched. (Written as in-place NumPy operations, a dense Adagrad
step made seven passes over the parameter-sized arrays and Adam eleven; on GRU4Rec's
DIGINETICA setting that was a fifth of the training step.)

State arrays (moments, accumulators) are created lazily, zero, in the parameter's dtype, the
first time a parameter gets a gradient, and are named `kind/param` ("m/E", "acc/W_h"); the
number of `step` calls is "t". `state_dict()` returns only arrays, so it can be saved in a
pickle-free `.npz` checkpoint next to the parameters.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from nprec.errors import CheckpointError, ConfigError
from nprec.layers.rowgrad import RowGrad


def check_hyper(owner: str, name: str, value: float, low: float, high: float,
                low_open: bool = False) -> float:
    """`value` as a float, or ConfigError naming `owner` and `name` unless it lies in
    [low, high) (or (low, high) with `low_open`)."""
    value = float(value)
    above = value > low if low_open else value >= low
    if not (math.isfinite(value) and above and value < high):
        raise ConfigError(f"{owner}: {name}={value!r} must be in "
                          f"{'(' if low_open else '['}{low}, {high})")
    return value


class Optimizer(ABC):
    """Base class: state bookkeeping and the loop over parameters (see the module docstring)."""

    #: names of the state arrays kept per parameter, e.g. ("m", "v") for Adam
    state_kinds: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.t = 0                                  # number of step() calls so far
        self.state: dict[str, np.ndarray] = {}      # "kind/param" -> array of p's shape

    def step(self, params: dict[str, np.ndarray],
             grads: dict[str, np.ndarray | RowGrad | None]) -> None:
        """Update every parameter that has a gradient, in place; count one step."""
        self.t += 1
        for name, g in grads.items():
            if g is None:
                continue
            if name not in params:
                raise KeyError(f"{type(self).__name__}.step: gradient for unknown "
                               f"parameter {name!r}")
            p = params[name]
            if g.shape != p.shape:
                raise ValueError(f"{type(self).__name__}.step: gradient of {name!r} has shape "
                                 f"{g.shape}, the parameter {p.shape}")
            self._update(name, p, g)

    @abstractmethod
    def _update(self, name: str, p: np.ndarray, g: np.ndarray | RowGrad) -> None:
        """Update parameter `name` in place from its gradient (dense or RowGrad)."""

    # -- state ----------------------------------------------------------------------------
    def _state(self, kind: str, name: str, p: np.ndarray) -> np.ndarray:
        """The state array `kind/name`, created as zeros like p on first use."""
        key = f"{kind}/{name}"
        arr = self.state.get(key)
        if arr is None:
            arr = self.state[key] = np.zeros_like(p, order="C")
        elif arr.shape != p.shape or arr.dtype != p.dtype:
            raise CheckpointError(f"optimizer state {key!r} is {arr.dtype} {arr.shape}, but "
                                  f"the parameter is {p.dtype} {p.shape}")
        return arr

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all state arrays plus "t", the step count (a 0-d int64 array)."""
        d = {key: arr.copy() for key, arr in self.state.items()}
        d["t"] = np.array(self.t, dtype=np.int64)
        return d

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        """Restore the state saved by `state_dict` (the arrays are copied)."""
        state = {}
        for key in d:
            kind, _, name = str(key).partition("/")
            if key != "t" and (kind not in self.state_kinds or not name):
                raise CheckpointError(f"{type(self).__name__}: unexpected optimizer state "
                                      f"{key!r} (expected 't' or one of "
                                      f"{', '.join(k + '/<param>' for k in self.state_kinds)})")
            if key != "t":
                state[key] = np.array(d[key], order="C")
        if "t" not in d:
            raise CheckpointError(f"{type(self).__name__}: optimizer state has no step count 't'")
        self.t = int(np.asarray(d["t"]))
        self.state = state


_ONE_ROW = np.zeros(1, dtype=np.int64)      # the row index of a dense update


def row_update(p: np.ndarray, g: np.ndarray | RowGrad, *state: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """The arguments of a row kernel: (P, rows, G, state views).

    A RowGrad updates rows `g.rows` of the (V, D) view of p (1-d p: (V, 1)) with its (K, D)
    values. A dense gradient updates the one row of the (1, p.size) view of p: every number,
    in one pass. Each state array gets the same view as p; a None state (an unused one, as
    the momentum buffer without momentum) becomes an empty (0, D) array.
    """
    if not p.flags.c_contiguous:
        raise ValueError("optimizer update needs a C-contiguous parameter")
    if isinstance(g, RowGrad):
        shape = (p.shape[0], math.prod(p.shape[1:]))
        rows = np.asarray(g.rows, dtype=np.int64)
        values = g.values.reshape(rows.size, shape[1])
    else:
        shape, rows, values = (1, p.size), _ONE_ROW, g.reshape(1, p.size)
    P = p.reshape(shape)
    views = [P[:0] if s is None else s.reshape(shape) for s in state]
    return P, rows, np.ascontiguousarray(values, dtype=p.dtype), views
