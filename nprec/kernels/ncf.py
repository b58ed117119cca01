"""One-pass log-loss kernels of NCF's output layer and of logistic MF, with their gradients.

`bce_output`: NCF's output unit and log loss (He et al. 2017, eq. 7).
`logistic_mf`: the per-example objective of Rendle et al. (2020)'s matrix factorisation.
`add_bias_relu`, `relu_bias_grad`: the elementwise halves of a ReLU layer of NCF's tower
(`nprec.layers.dense_relu`), one pass each instead of three NumPy calls.


Every NCF model (GMF, MLP, NeuMF) ends in the same few operations on a (B, F) interaction
vector φ: a dot product with the output weights h, the bias b, the sigmoid and the binary
cross-entropy against 0/1 labels, then the gradients back to φ, h and b. As separate NumPy
operations (`dense` then `bce_with_logits`, and their backwards) that is about fifteen calls
on arrays of a few thousand numbers, which at NCF's ~19,000 mini-batches of 256 per ML-1M
epoch costs more in call overhead than in arithmetic. `bce_output` does all of it in one
pass over the rows:

    s_n     = Σ_k φ_nk h_k + b                                   logit
    loss    = (1/B) Σ_n [softplus(s_n) - y_n s_n]                 mean BCE
    g_n     = (σ(s_n) - y_n) / B                                  dloss/ds_n
    dφ_nk   = g_n h_k,    dh_k = Σ_n g_n φ_nk,    db = Σ_n g_n

with softplus(s) = max(s, 0) + log1p(exp(-|s|)) and σ(s) = exp(min(s, 0)) / (1 + exp(-|s|)),
neither of which overflows for any s. The loss is summed in float64. Rows are summed into
dh and db one after another, so the loop is serial.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from nprec.kernels._jit import jit


def _check(phi: np.ndarray, h: np.ndarray, labels: np.ndarray) -> None:
    if phi.ndim != 2 or h.shape != (phi.shape[1],) or labels.shape != (phi.shape[0],):
        raise ValueError(f"bce_output: phi {phi.shape}, h {h.shape} and labels {labels.shape} "
                         f"do not match")


def bce_output_ref(phi: np.ndarray, h: np.ndarray, b: float, labels: np.ndarray
                   ) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Logits, mean BCE and their gradients for dloss = 1 (reference twin of `bce_output`).

    Args:
        phi:    (B, F) interaction vectors.
        h:      (F,) output weights.
        b:      the output bias.
        labels: (B,) targets in [0, 1], in phi's dtype.
    Returns:
        loss (float), dphi (B, F), dh (F,) and db (float); arrays in phi's dtype.
    """
    _check(phi, h, labels)
    B = phi.shape[0]
    s = phi @ h + b                                                     # (B,)
    softplus = np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))          # (B,)
    loss = float(np.sum((softplus - labels * s).astype(np.float64))) / max(B, 1)
    g = (expit(s) - labels) / phi.dtype.type(max(B, 1))                 # (B,)
    return loss, g[:, None] * h, phi.T @ g, float(g.sum())


def bce_output(phi: np.ndarray, h: np.ndarray, b: float, labels: np.ndarray
               ) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Logits, mean BCE and their gradients in one pass; same contract as `bce_output_ref`."""
    _check(phi, h, labels)
    phi = np.ascontiguousarray(phi)
    dt = phi.dtype
    dphi = np.empty_like(phi)                                           # (B, F)
    dh = np.zeros(phi.shape[1], dtype=dt)                               # (F,)
    loss, db = _bce_output(phi, np.ascontiguousarray(h, dtype=dt), dt.type(b),
                           np.ascontiguousarray(labels, dtype=dt), dphi, dh)
    return float(loss), dphi, dh, float(db)


@jit()
def _bce_output(phi, h, b, labels, dphi, dh):
    # Serial: every row adds into dh and db.
    B, F = phi.shape
    one = phi.dtype.type(1.0)
    inv_b = one / phi.dtype.type(max(B, 1))
    loss = 0.0
    db = 0.0
    for n in range(B):
        s = b
        for k in range(F):
            s += phi[n, k] * h[k]
        e = np.exp(-abs(s))                                             # in (0, 1]
        y = labels[n]
        loss += max(s, 0.0) + np.log1p(e) - y * s
        sigma = (one if s >= 0 else e) / (one + e)
        g = (sigma - y) * inv_b
        db += g
        for k in range(F):
            dphi[n, k] = g * h[k]
            dh[k] += g * phi[n, k]
    return loss / max(B, 1), db


# -- logistic matrix factorisation (Rendle et al. 2020) ----------------------------------------
#
# Rendle et al. train s = b + b_u + b_i + p_u · q_i with the log loss and an L2 term on every
# parameter an example reads. Per example n, with rows p_n, q_n and biases bu_n, bi_n:
#
#     ℓ_n  = softplus(s_n) - y_n s_n + ½ λ (‖p_n‖² + ‖q_n‖² + bu_n² + bi_n² + b²)
#     loss = (1/B) Σ_n ℓ_n,    g_n = (σ(s_n) - y_n) / B
#     dp_n = g_n q_n + (λ/B) p_n,   dq_n = g_n p_n + (λ/B) q_n
#     dbu_n = g_n + (λ/B) bu_n,     dbi_n = g_n + (λ/B) bi_n,    db = Σ_n g_n + λ b
#
# As NumPy operations (row dot, three bias adds, softplus, sigmoid, five penalties and their
# gradients) that is some thirty passes over (B, D) arrays; here it is one.


def _check_mf(p: np.ndarray, q: np.ndarray, b_u: np.ndarray, b_i: np.ndarray,
              labels: np.ndarray) -> None:
    B = p.shape[0]
    if p.ndim != 2 or q.shape != p.shape or b_u.shape != (B,) or b_i.shape != (B,) \
            or labels.shape != (B,):
        raise ValueError(f"logistic_mf: p {p.shape}, q {q.shape}, b_u {b_u.shape}, b_i "
                         f"{b_i.shape} and labels {labels.shape} do not match")


def logistic_mf_ref(p: np.ndarray, q: np.ndarray, b_u: np.ndarray, b_i: np.ndarray, b: float,
                    labels: np.ndarray, lam: float
                    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Mean log loss + L2 of logistic MF and its gradients (reference twin of `logistic_mf`).

    Args:
        p, q:     (B, D) the user and item rows of each example.
        b_u, b_i: (B,) their biases.  b: the global bias.
        labels:   (B,) targets in [0, 1], in p's dtype.
        lam:      λ of the L2 term.
    Returns:
        loss (float), dp (B, D), dq (B, D), db_u (B,), db_i (B,) and db (float).
    """
    _check_mf(p, q, b_u, b_i, labels)
    B = max(p.shape[0], 1)
    s = np.einsum("bd,bd->b", p, q) + b_u + b_i + b                     # (B,)
    softplus = np.maximum(s, 0) + np.log1p(np.exp(-np.abs(s)))          # (B,)
    penalty = 0.5 * lam * (np.einsum("bd,bd->b", p, p) + np.einsum("bd,bd->b", q, q)
                           + b_u * b_u + b_i * b_i + b * b)             # (B,)
    loss = float(np.sum((softplus - labels * s + penalty).astype(np.float64))) / B
    g = (expit(s) - labels) / p.dtype.type(B)                           # (B,)
    w = p.dtype.type(lam / B)
    return (loss, g[:, None] * q + w * p, g[:, None] * p + w * q, g + w * b_u, g + w * b_i,
            float(g.sum()) + lam * b)


def logistic_mf(p: np.ndarray, q: np.ndarray, b_u: np.ndarray, b_i: np.ndarray, b: float,
                labels: np.ndarray, lam: float
                ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Mean log loss + L2 of logistic MF and its gradients in one pass; as `logistic_mf_ref`."""
    _check_mf(p, q, b_u, b_i, labels)
    dt = p.dtype
    p, q = np.ascontiguousarray(p), np.ascontiguousarray(q, dtype=dt)
    dp, dq = np.empty_like(p), np.empty_like(p)                         # (B, D) each
    db_u, db_i = np.empty(p.shape[0], dtype=dt), np.empty(p.shape[0], dtype=dt)  # (B,) each
    loss, db = _logistic_mf(p, q, np.ascontiguousarray(b_u, dtype=dt),
                            np.ascontiguousarray(b_i, dtype=dt), dt.type(b),
                            np.ascontiguousarray(labels, dtype=dt), dt.type(lam),
                            dp, dq, db_u, db_i)
    return float(loss), dp, dq, db_u, db_i, float(db) + lam * float(b)


@jit()
def _logistic_mf(p, q, b_u, b_i, b, labels, lam, dp, dq, db_u, db_i):
    # Serial: every row adds into db (the rows of dp, dq, db_u, db_i are the example's own).
    B, D = p.shape
    one, half = p.dtype.type(1.0), p.dtype.type(0.5)
    inv_b = one / p.dtype.type(max(B, 1))
    w = lam * inv_b
    loss = 0.0
    db = 0.0
    for n in range(B):
        s = b + b_u[n] + b_i[n]
        sq = b_u[n] * b_u[n] + b_i[n] * b_i[n] + b * b
        for k in range(D):
            s += p[n, k] * q[n, k]
            sq += p[n, k] * p[n, k] + q[n, k] * q[n, k]
        e = np.exp(-abs(s))                                             # in (0, 1]
        y = labels[n]
        loss += max(s, 0.0) + np.log1p(e) - y * s + half * lam * sq
        g = ((one if s >= 0 else e) / (one + e) - y) * inv_b
        db += g
        for k in range(D):
            dp[n, k] = g * q[n, k] + w * p[n, k]
            dq[n, k] = g * p[n, k] + w * q[n, k]
        db_u[n] = g + w * b_u[n]
        db_i[n] = g + w * b_i[n]
    return loss / max(B, 1), db


# -- the elementwise halves of a dense + ReLU layer --------------------------------------------
#
# A tower layer is y = ReLU(x W + b). The product goes to BLAS; what is left is elementwise:
# forward  y = max(a + b, 0) over a = x W, written into a (its only use);
# backward da = dy · [y > 0] (y > 0 exactly where a + b > 0) and db = Σ_n da_n.


def _check_bias(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.ndim != 2 or b.shape != (a.shape[1],):
        raise ValueError(f"{what}: array {a.shape} and bias {b.shape} do not match")


def add_bias_relu_ref(a: np.ndarray, b: np.ndarray) -> None:
    """a <- max(a + b, 0), in place (reference twin of `add_bias_relu`).

    Args:
        a: (B, O) the product x W, overwritten by the layer's output.  b: (O,) the bias.
    """
    _check_bias(a, b, "add_bias_relu")
    a += b
    np.maximum(a, 0, out=a)


def add_bias_relu(a: np.ndarray, b: np.ndarray) -> None:
    """a <- max(a + b, 0), in place, in one pass; same contract as `add_bias_relu_ref`."""
    _check_bias(a, b, "add_bias_relu")
    if not a.flags.c_contiguous:
        raise ValueError("add_bias_relu: the array must be C-contiguous (it is overwritten)")
    _add_bias_relu(a, np.ascontiguousarray(b, dtype=a.dtype))


@jit()
def _add_bias_relu(a, b):
    zero = a.dtype.type(0.0)
    for n in range(a.shape[0]):
        for k in range(a.shape[1]):
            v = a[n, k] + b[k]
            a[n, k] = v if v > zero else zero


def relu_bias_grad_ref(dy: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """da = dy where y > 0 else 0, and db = Σ_n da_n (reference twin of `relu_bias_grad`).

    Args:
        dy: (B, O) gradient of the layer's output.  y: (B, O) the output max(a + b, 0).
    Returns:
        da (B, O) and db (O,), in dy's dtype.
    """
    if dy.shape != y.shape or dy.ndim != 2:
        raise ValueError(f"relu_bias_grad: dy {dy.shape} and y {y.shape} do not match")
    da = dy * (y > 0)                                                   # (B, O)
    return da, da.sum(axis=0)


def relu_bias_grad(dy: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """da and db in one pass over the rows; same contract as `relu_bias_grad_ref`."""
    if dy.shape != y.shape or dy.ndim != 2:
        raise ValueError(f"relu_bias_grad: dy {dy.shape} and y {y.shape} do not match")
    da = np.empty_like(dy, order="C")                                   # (B, O)
    db = np.zeros(dy.shape[1], dtype=dy.dtype)                          # (O,)
    _relu_bias_grad(np.ascontiguousarray(dy), np.ascontiguousarray(y), da, db)
    return da, db


@jit()
def _relu_bias_grad(dy, y, da, db):
    # Serial: every row adds into db.
    zero = dy.dtype.type(0.0)
    for n in range(dy.shape[0]):
        for k in range(dy.shape[1]):
            g = dy[n, k] if y[n, k] > 0 else zero
            da[n, k] = g
            db[k] += g
