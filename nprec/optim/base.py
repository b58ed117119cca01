"""What every optimizer shares: per-parameter state, the step loop, checkpointable state.

An optimizer updates a model's `params` dict in place from a `grads` dict with the same
names. A gradient is a dense array of the parameter's shape, a `RowGrad` (the touched rows of
an embedding table), or None / absent (the parameter is not updated this step). Each
optimizer implements `_update(name, p, g)` with exactly one `isinstance(g, RowGrad)` branch:
the row path calls a fused kernel of `nprec.kernels.optim_rows`, the dense path uses in-place
NumPy operations and one scratch buffer per parameter.

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
        self._work: dict[str, np.ndarray] = {}      # scratch buffers of the dense paths

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

    def _scratch(self, name: str, p: np.ndarray) -> np.ndarray:
        """A reusable buffer of p's shape and dtype (never part of the state)."""
        w = self._work.get(name)
        if w is None or w.shape != p.shape or w.dtype != p.dtype:
            w = self._work[name] = np.empty_like(p)
        return w

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


def rows_view(a: np.ndarray) -> np.ndarray:
    """a as an (n_rows, D) view (1-d arrays become (n_rows, 1)) for the row kernels."""
    if not a.flags.c_contiguous:
        raise ValueError("row-sparse update needs a C-contiguous parameter")
    return a.reshape(a.shape[0], math.prod(a.shape[1:]))


def row_values(g: RowGrad, dtype: np.dtype) -> np.ndarray:
    """The (K, D) values of a RowGrad, contiguous, in the parameter's dtype."""
    values = g.values.reshape(g.rows.size, math.prod(g.values.shape[1:]))
    return np.ascontiguousarray(values, dtype=dtype)
