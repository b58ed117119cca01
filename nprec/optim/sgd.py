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
from nprec.optim.base import Optimizer, check_hyper, row_update


class SGD(Optimizer):
    """SGD(lr, momentum=0); state "velocity/<param>" only when momentum > 0."""

    state_kinds = ("velocity",)

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        super().__init__()
        self.lr = check_hyper("SGD", "lr", lr, 0.0, np.inf, low_open=True)
        self.momentum = check_hyper("SGD", "momentum", momentum, 0.0, 1.0)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray | RowGrad) -> None:
        vel = self._state("velocity", name, p) if self.momentum else None
        P, rows, G, (W,) = row_update(p, g, vel)
        sgd_rows(P, W, rows, G, self.lr, self.momentum)
