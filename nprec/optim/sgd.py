"""Stochastic gradient descent, with optional (heavy-ball) momentum.

    momentum == 0:  p <- p - lr g
    momentum > 0:   vel <- momentum vel - lr g;   p <- p + vel      (Polyak 1964)

Row-sparse gradients update only the touched rows: without momentum this equals the dense
update with a zero gradient elsewhere; with momentum the untouched rows' velocity is neither
decayed nor applied (they do not move), which differs from the dense update.
"""

from __future__ import annotations

import numpy as np

from nprec.kernels import sgd_rows
from nprec.layers.rowgrad import RowGrad
from nprec.optim.base import Optimizer, check_hyper, row_values, rows_view


class SGD(Optimizer):
    """SGD(lr, momentum=0); state "velocity/<param>" only when momentum > 0."""

    state_kinds = ("velocity",)

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        super().__init__()
        self.lr = check_hyper("SGD", "lr", lr, 0.0, np.inf, low_open=True)
        self.momentum = check_hyper("SGD", "momentum", momentum, 0.0, 1.0)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray | RowGrad) -> None:
        vel = self._state("velocity", name, p) if self.momentum else None
        if isinstance(g, RowGrad):
            P = rows_view(p)                                            # (V, D)
            W = rows_view(vel) if vel is not None else P[:0]            # (V, D) or unused
            sgd_rows(P, W, np.asarray(g.rows, dtype=np.int64), row_values(g, p.dtype),
                     self.lr, self.momentum)
            return
        w = self._scratch(name, p)
        np.multiply(g, self.lr, out=w)                                  # lr g
        if vel is None:
            p -= w
        else:
            vel *= self.momentum
            vel -= w
            p += vel
