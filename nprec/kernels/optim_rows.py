"""Row-sparse optimizer updates: one fused pass over the touched rows of a parameter.

An embedding gradient is a `RowGrad` (sorted unique rows, one value row each). With NumPy
fancy indexing an Adam update would gather P[rows], m[rows], v[rows], build several
temporaries and scatter three arrays back; these kernels read and write each touched row of
the parameter and of its state once, in place. A dense gradient is passed as the single row
of the (1, size) view of its parameter (`nprec.optim.base.row_update`), so dense updates are
one pass too. The formulas are those of `nprec.optim` (written out there).

The loops are serial on purpose, although the rows are unique and a parallel loop would be
race-free: an update touches K D ~ 10^5 numbers and takes about a millisecond. Timed on the
2-core development machine (K = 2,560 rows of a 37,483 x 100 float32 table), a parallel loop
was 3.5 times faster than this serial one while the cores were nearly free, and 5 to 20 times
slower while other processes kept them busy (load average 13): its threads wait for each
other at the end of a region that is too short to pay for that. The serial loop took the same
time in both cases.
"""

from __future__ import annotations

import numpy as np

from nprec.kernels._jit import jit


def _check_rows(P: np.ndarray, rows: np.ndarray, G: np.ndarray, *state: np.ndarray) -> None:
    if P.ndim != 2 or G.ndim != 2 or G.shape != (rows.size, P.shape[1]):
        raise ValueError(f"row update: parameter {P.shape}, rows {rows.shape} and values "
                         f"{G.shape} do not match")
    for s in state:
        if s.shape != P.shape:
            raise ValueError(f"row update: state {s.shape} does not match parameter {P.shape}")


# -- SGD (with optional momentum) -------------------------------------------------------------


def sgd_rows_ref(P: np.ndarray, vel: np.ndarray, rows: np.ndarray, G: np.ndarray,
                 lr: float, momentum: float) -> None:
    """SGD on the touched rows (reference twin).

        momentum == 0:  P[r] -= lr g_r
        momentum > 0:   vel[r] = momentum vel[r] - lr g_r;  P[r] += vel[r]

    Args:
        P: (V, D) parameter.  vel: (V, D) velocity (unused, may be (0, D), if momentum == 0).
        rows: (K,) unique rows.  G: (K, D) their gradients.
    """
    if momentum == 0.0:
        P[rows] -= lr * G
        return
    v = momentum * vel[rows] - lr * G                                   # (K, D)
    vel[rows] = v
    P[rows] += v


def sgd_rows(P: np.ndarray, vel: np.ndarray, rows: np.ndarray, G: np.ndarray,
             lr: float, momentum: float) -> None:
    """SGD on the touched rows, in one pass; same contract as `sgd_rows_ref`."""
    _check_rows(P, rows, G, *((vel,) if momentum else ()))
    real = P.dtype.type          # float32 tables in float32 arithmetic (see adagrad_rows)
    _sgd_rows(P, vel, rows, G, real(lr), real(momentum))


@jit()
def _sgd_rows(P, vel, rows, G, lr, momentum):
    # Serial on purpose (see the module docstring).
    for k in range(rows.size):
        r = rows[k]
        for d in range(P.shape[1]):
            if momentum == 0.0:
                P[r, d] -= lr * G[k, d]
            else:
                v = momentum * vel[r, d] - lr * G[k, d]
                vel[r, d] = v
                P[r, d] += v


# -- Adagrad with momentum (GRU4Rec's IndexedAdagradM) ----------------------------------------


def adagrad_rows_ref(P: np.ndarray, acc: np.ndarray, mom: np.ndarray, rows: np.ndarray,
                     G: np.ndarray, lr: float, momentum: float, eps: float) -> None:
    """Adagrad(+momentum) on the touched rows (reference twin).

        acc[r] += g_r^2
        step    = -lr g_r / sqrt(acc[r] + eps)
        momentum == 0:  P[r] += step
        momentum > 0:   mom[r] = momentum mom[r] + step;  P[r] += mom[r]

    Args:
        P, acc: (V, D).  mom: (V, D), unused (may be (0, D)) if momentum == 0.
        rows: (K,) unique rows.  G: (K, D).
    """
    a = acc[rows] + G * G                                               # (K, D)
    acc[rows] = a
    step = -lr * G / np.sqrt(a + eps)                                   # (K, D)
    if momentum != 0.0:
        step = momentum * mom[rows] + step                              # (K, D)
        mom[rows] = step
    P[rows] += step


def adagrad_rows(P: np.ndarray, acc: np.ndarray, mom: np.ndarray, rows: np.ndarray,
                 G: np.ndarray, lr: float, momentum: float, eps: float) -> None:
    """Adagrad(+momentum) on the touched rows, in one pass; same contract as the twin."""
    _check_rows(P, rows, G, acc, *((mom,) if momentum else ()))
    # The hyperparameters in the parameter's own precision: float32 tables are updated in
    # float32 arithmetic, as the NumPy twin does (NumPy keeps Python floats weak), and the
    # loop vectorises over twice as many lanes as in float64.
    real = P.dtype.type
    _adagrad_rows(P, acc, mom, rows, G, real(lr), real(momentum), real(eps))


@jit()
def _adagrad_rows(P, acc, mom, rows, G, lr, momentum, eps):
    # Serial on purpose (see the module docstring). The momentum test is loop-invariant and
    # costs nothing: at K = 2,300 rows of a 43,097 x 512 float32 table this loop and one
    # written for momentum only took 1.58 / 1.60 ms (median of 56 alternating calls).
    for k in range(rows.size):
        r = rows[k]
        for d in range(P.shape[1]):
            g = G[k, d]
            a = acc[r, d] + g * g
            acc[r, d] = a
            step = -lr * g / np.sqrt(a + eps)
            if momentum != 0:
                step = momentum * mom[r, d] + step
                mom[r, d] = step
            P[r, d] += step


# -- Adam, lazy on rows ------------------------------------------------------------------------


def adam_rows_ref(P: np.ndarray, m: np.ndarray, v: np.ndarray, rows: np.ndarray,
                  G: np.ndarray, lr: float, beta1: float, beta2: float, eps: float,
                  t: int) -> None:
    """Lazy Adam on the touched rows at global step t >= 1 (reference twin).

        m[r] = beta1 m[r] + (1 - beta1) g_r
        v[r] = beta2 v[r] + (1 - beta2) g_r^2
        P[r] -= lr / (1 - beta1^t) * m[r] / (sqrt(v[r]) / sqrt(1 - beta2^t) + eps)

    Args:
        P, m, v: (V, D).  rows: (K,) unique rows.  G: (K, D).  t: the optimizer's step count.
    """
    mr = beta1 * m[rows] + (1.0 - beta1) * G                            # (K, D)
    vr = beta2 * v[rows] + (1.0 - beta2) * (G * G)                      # (K, D)
    m[rows] = mr
    v[rows] = vr
    bc1, bc2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
    P[rows] -= (lr / bc1) * mr / (np.sqrt(vr) / np.sqrt(bc2) + eps)


def adam_rows(P: np.ndarray, m: np.ndarray, v: np.ndarray, rows: np.ndarray, G: np.ndarray,
              lr: float, beta1: float, beta2: float, eps: float, t: int) -> None:
    """Lazy Adam on the touched rows, in one pass; same contract as `adam_rows_ref`."""
    _check_rows(P, rows, G, m, v)
    if t < 1:
        raise ValueError(f"adam_rows: step count t={t} must be >= 1")
    bc1, bc2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
    real = P.dtype.type          # float32 tables in float32 arithmetic (see adagrad_rows)
    _adam_rows(P, m, v, rows, G, real(lr / bc1), real(np.sqrt(bc2)), real(beta1),
               real(1.0 - beta1), real(beta2), real(1.0 - beta2), real(eps))


@jit()
def _adam_rows(P, m, v, rows, G, step_size, sqrt_bc2, beta1, one_minus_beta1, beta2,
               one_minus_beta2, eps):
    # Serial on purpose (see the module docstring).
    for k in range(rows.size):
        r = rows[k]
        for d in range(P.shape[1]):
            g = G[k, d]
            mr = beta1 * m[r, d] + one_minus_beta1 * g
            vr = beta2 * v[r, d] + one_minus_beta2 * g * g
            m[r, d] = mr
            v[r, d] = vr
            P[r, d] -= step_size * mr / (np.sqrt(vr) / sqrt_bc2 + eps)
