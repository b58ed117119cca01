"""Adam (Kingma & Ba 2015, Algorithm 1), with a lazy row-sparse path.

At step t (the number of `step` calls so far, counting this one):

    m <- beta1 m + (1 - beta1) g
    v <- beta2 v + (1 - beta2) g^2
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

which is Algorithm 1 with eps added to the bias-corrected sqrt(v_hat), as in PyTorch and
TensorFlow. Row-sparse gradients are "lazy" (like `torch.optim.SparseAdam` and TensorFlow's
LazyAdam): only the touched rows' m and v decay and update, untouched rows do not move, and
the bias correction uses the global step t, not a per-row count. When every row is touched
at every step this is exactly dense Adam; otherwise a rarely seen row keeps its old moments
undecayed until it is seen again.
"""

from __future__ import annotations

import numpy as np

from nprec.kernels import adam_rows
from nprec.layers.rowgrad import RowGrad
from nprec.optim.base import Optimizer, check_hyper, row_update


class Adam(Optimizer):
    """Adam(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8); state "m/<param>", "v/<param>"."""

    state_kinds = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        super().__init__()
        self.lr = check_hyper("Adam", "lr", lr, 0.0, np.inf, low_open=True)
        self.beta1 = check_hyper("Adam", "beta1", beta1, 0.0, 1.0)
        self.beta2 = check_hyper("Adam", "beta2", beta2, 0.0, 1.0)
        self.eps = check_hyper("Adam", "eps", eps, 0.0, np.inf, low_open=True)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray | RowGrad) -> None:
        P, rows, G, (m, v) = row_update(p, g, self._state("m", name, p),
                                        self._state("v", name, p))
        adam_rows(P, m, v, rows, G, self.lr, self.beta1, self.beta2, self.eps, self.t)
