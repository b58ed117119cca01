"""Adagrad (Duchi et al. 2011) with optional momentum: GRU4Rec's `IndexedAdagradM`.

    acc  <- acc + g^2
    step  = -lr g / sqrt(acc + eps)
    momentum == 0:  p <- p + step
    momentum > 0:   mom <- momentum mom + step;   p <- p + mom

This is the optimizer of the official GRU4Rec (hidasib/GRU4Rec_PyTorch_Official, class
`IndexedAdagradM`, eps = 1e-6 inside the square root, accumulator starting at 0). For a
row-sparse gradient only the touched rows' `acc` and `mom` change, as there: without momentum
the sparse update equals the dense update with zero gradient elsewhere (a zero gradient
leaves acc and p unchanged); with momentum untouched rows keep their momentum and do not move.
"""

from __future__ import annotations

import numpy as np

from nprec.kernels import adagrad_rows
from nprec.layers.rowgrad import RowGrad
from nprec.optim.base import Optimizer, check_hyper, row_update


class Adagrad(Optimizer):
    """Adagrad(lr, momentum=0, eps=1e-6); state "acc/<param>" and, with momentum, "mom/"."""

    state_kinds = ("acc", "mom")

    def __init__(self, lr: float, momentum: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.lr = check_hyper("Adagrad", "lr", lr, 0.0, np.inf, low_open=True)
        self.momentum = check_hyper("Adagrad", "momentum", momentum, 0.0, 1.0)
        self.eps = check_hyper("Adagrad", "eps", eps, 0.0, np.inf, low_open=True)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray | RowGrad) -> None:
        acc = self._state("acc", name, p)
        mom = self._state("mom", name, p) if self.momentum else None
        P, rows, G, (A, M) = row_update(p, g, acc, mom)
        adagrad_rows(P, A, M, rows, G, self.lr, self.momentum, self.eps)
