"""Sparse-times-dense products for the autoencoders' input layer (Mult-DAE, Mult-VAE, CDAE).

An autoencoder's input is a mini-batch of users' item vectors, a (B, V) matrix X with a few
dozen ones per row among thousands of items. Its first layer multiplies X by a dense (V, H)
weight matrix, and that layer's weight gradient is Xᵀ dY. Densifying X and calling BLAS
costs B·V·H multiply-adds for each product; walking X's stored entries costs nnz·H, about
V / (nnz / B) times less (35 times on ML-1M: 95 items per user among 3,500).

    csr_matmul(indptr, indices, data, W)           Y = X W          (B, H)
    csr_t_matmul(indptr, indices, data, dY, V)     dW = Xᵀ dY       (V, H)
    normalize_and_drop(indptr, indices, data, keep)  the training input of Mult-DAE/-VAE
    tanh_backward_inplace(dy, y)                   dy <- dy (1 - y²), between the layers
    vae_code_backward(dz, eps, std, mu, var, beta) Mult-VAE's gradient into [μ | log σ²]

X arrives as the three arrays of a CSR matrix (row pointers, column indices, values). Each
output row of `csr_matmul` is a weighted sum of rows of W, Y_b = Σ_{(b,v)} x_bv W_v, so rows
are independent and run in parallel. `csr_t_matmul` needs the transpose: dW_v = Σ_{(b,v)}
x_bv dY_b sums over the users holding item v. It first lays X out by column (a counting
sort of the entries, serial, O(nnz + V)), then fills the rows of dW in parallel, each from
its own column's entries in ascending row order, so the result does not depend on the
number of threads. Both inner loops are plain `out[j] += x * w[j]` over contiguous rows,
which the compiler vectorises without fast-math (there is no reduction across j). They take
four entries a sweep: the output row is loaded and stored once for four rows of W added in
entry order, the same additions in the same order as four sweeps, so the result is the same
to the bit and the kernels 20-30 % faster at Mult-VAE's shapes (24,000 entries x 600
columns: forward 3.3 -> 2.3 ms, Xᵀ dY 3.2 -> 2.6 ms besides its counting sort's 0.3 ms,
medians of 60 calls with 2 threads on the development machine).

Threads start at PARALLEL_WORK multiply-adds: below that (gradient checks, tiny batches) a
parallel region costs more than it saves, the more so on shared cores.

Before the first layer, Mult-DAE and Mult-VAE scale each user's row to unit length and drop
entries at random (`nprec.models.multdae.normalized_input`, then
`nprec.layers.dropout_sparse_input`). `normalize_and_drop` does both in one pass over the
stored entries and writes the kept ones compactly: the same numbers to the bit as the NumPy
steps, which build three SciPy matrices and sweep the entries about eight times (a batch
of 48,000 entries: 0.8 ms alone and 1.6 ms inside a Mult-VAE training step, against 0.2 and
0.5 ms with the kernel).

Between the layers, tanh's backward dy (1 - y²) is three NumPy passes over (B, H) arrays
and two temporaries; `tanh_backward_inplace` makes it one pass into dy, which the backward
of the next layer has just allocated and nobody else reads. The same float operations in the
same order (no fused multiply-add), so the same numbers to the bit: 1.0 -> 0.4 ms a Mult-VAE
step (its two tanh layers, inside a training step).

Mult-VAE's code z = μ + σ ε is read by the decoder and, through μ and log σ², by the KL
term: the gradient of the encoder's output [μ | log σ²] is reparam_backward's plus
gaussian_kl_backward's, concatenated. `vae_code_backward` writes it in one pass; the twin is
those layer calls, and the kernel makes the same float operations in the same order (the
same numbers to the bit), replacing a dozen NumPy passes and temporaries over (B, L) arrays.

The twins use SciPy's sparse products and NumPy's fancy indexing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import prange

from nprec.kernels._jit import jit

PARALLEL_WORK = 1 << 18         # nnz · H multiply-adds from which the rows are split over threads


def _check_csr(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_cols: int,
               name: str) -> None:
    if indptr.ndim != 1 or indptr.size < 1 or indices.ndim != 1 \
            or data.shape != indices.shape or indptr[0] != 0 or indptr[-1] != indices.size:
        raise ValueError(f"{name}: indptr {indptr.shape}, indices {indices.shape} and data "
                         f"{data.shape} are not the arrays of a CSR matrix")
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        raise ValueError(f"{name}: a column index is outside [0, {n_cols})")


def _float(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim != 2 or a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}: expected a 2-d float32 or float64 array, got {a.dtype} "
                         f"{a.shape}")
    return np.ascontiguousarray(a)


def csr_matmul_ref(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                   W: np.ndarray) -> np.ndarray:
    """Y = X W for a CSR matrix X (B, V) and a dense W (V, H) (reference twin).

    Args:
        indptr:  (B + 1,) int row pointers of X.
        indices: (nnz,) int column (item) of each stored entry.
        data:    (nnz,) float value of each stored entry (cast to W's dtype).
        W:       (V, H) float32 or float64.
    Returns:
        Y (B, H), dtype of W.
    """
    W = _float(W, "csr_matmul")
    _check_csr(indptr, indices, data, W.shape[0], "csr_matmul")
    X = sp.csr_array((data.astype(W.dtype), indices, indptr),
                     shape=(indptr.size - 1, W.shape[0]))               # (B, V)
    return np.asarray(X @ W, dtype=W.dtype)                             # (B, H)


def csr_matmul(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
               W: np.ndarray) -> np.ndarray:
    """Y = X W for a CSR matrix X (B, V) and a dense W (V, H). Same contract as the twin."""
    W = _float(W, "csr_matmul")
    _check_csr(indptr, indices, data, W.shape[0], "csr_matmul")
    out = np.empty((indptr.size - 1, W.shape[1]), dtype=W.dtype)       # (B, H)
    run = _csr_matmul_parallel if indices.size * W.shape[1] >= PARALLEL_WORK \
        else _csr_matmul_serial
    run(np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64),
        np.asarray(data, dtype=W.dtype), W, out)
    return out


@jit()
def _matmul_row(indptr, indices, data, W, y, b):
    """y = Σ_k data[k] W[indices[k]] over row b's entries (four entries a sweep of y)."""
    for j in range(W.shape[1]):
        y[j] = 0.0
    k, end = indptr[b], indptr[b + 1]
    while k + 4 <= end:
        x0, x1, x2, x3 = data[k], data[k + 1], data[k + 2], data[k + 3]
        w0, w1, w2, w3 = W[indices[k]], W[indices[k + 1]], W[indices[k + 2]], W[indices[k + 3]]
        for j in range(W.shape[1]):
            # The four additions in entry order, as four sweeps would make them.
            y[j] = (((y[j] + x0 * w0[j]) + x1 * w1[j]) + x2 * w2[j]) + x3 * w3[j]
        k += 4
    while k < end:                                                      # the last 0-3
        x = data[k]
        w = W[indices[k]]
        for j in range(W.shape[1]):
            y[j] += x * w[j]
        k += 1


@jit()
def _csr_matmul_serial(indptr, indices, data, W, out):
    for b in range(out.shape[0]):
        _matmul_row(indptr, indices, data, W, out[b], b)


@jit(parallel=True)
def _csr_matmul_parallel(indptr, indices, data, W, out):
    # Parallel over rows of X: iteration b writes out[b] only.
    for b in prange(out.shape[0]):
        _matmul_row(indptr, indices, data, W, out[b], b)


def csr_t_matmul_ref(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                     dY: np.ndarray, n_cols: int) -> np.ndarray:
    """dW = Xᵀ dY for a CSR matrix X (B, V) and a dense dY (B, H) (reference twin).

    Args:
        indptr, indices, data: X as in `csr_matmul_ref` (data cast to dY's dtype).
        dY:      (B, H) float32 or float64.
        n_cols:  V, the number of columns of X (rows of the result).
    Returns:
        dW (V, H), dtype of dY; rows of items with no entry are zero.
    """
    dY = _float(dY, "csr_t_matmul")
    _check_csr(indptr, indices, data, n_cols, "csr_t_matmul")
    if dY.shape[0] != indptr.size - 1:
        raise ValueError(f"csr_t_matmul: dY has {dY.shape[0]} rows, X has {indptr.size - 1}")
    X = sp.csr_array((data.astype(dY.dtype), indices, indptr),
                     shape=(indptr.size - 1, n_cols))                   # (B, V)
    return np.asarray(X.T @ dY, dtype=dY.dtype)                         # (V, H)


def csr_t_matmul(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 dY: np.ndarray, n_cols: int) -> np.ndarray:
    """dW = Xᵀ dY for a CSR matrix X (B, V) and a dense dY (B, H). Same contract as the twin."""
    dY = _float(dY, "csr_t_matmul")
    _check_csr(indptr, indices, data, n_cols, "csr_t_matmul")
    if dY.shape[0] != indptr.size - 1:
        raise ValueError(f"csr_t_matmul: dY has {dY.shape[0]} rows, X has {indptr.size - 1}")
    indptr = np.asarray(indptr, dtype=np.int64)
    col_ptr, entry, row = _by_column(indptr, np.asarray(indices, dtype=np.int64), int(n_cols))
    out = np.empty((n_cols, dY.shape[1]), dtype=dY.dtype)               # (V, H)
    run = _csr_t_matmul_parallel if indices.size * dY.shape[1] >= PARALLEL_WORK \
        else _csr_t_matmul_serial
    run(col_ptr, entry, row, np.asarray(data, dtype=dY.dtype), dY, out)
    return out


def normalize_and_drop_ref(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                           keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows scaled to unit length, then dropout on the stored entries (reference twin).

        x̃_b = dropout(x_b / ‖x_b‖₂)      (an empty row stays empty)

    The squares are summed in float64, the scale rounded to data's dtype, and each kept
    entry computed as (x · scale) · keep, as `normalized_input` and `dropout_sparse_input`
    compute them.

    Args:
        indptr, indices, data: X (B, V) as CSR arrays; data float32 or float64.
        keep: (nnz,) dropout mask of the stored entries, in data's dtype: 0 drops an entry,
              a kept entry is multiplied by it (1 / keep probability).
    Returns:
        (indptr (B + 1,), indices (n_kept,), data (n_kept,)) of the kept entries.
    """
    data, keep = _float1(data, keep, "normalize_and_drop")
    indptr, indices = np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64)
    _check_csr(indptr, indices, data, np.iinfo(np.int64).max, "normalize_and_drop")
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))      # (nnz,)
    sq = np.bincount(rows, weights=data.astype(np.float64) ** 2, minlength=indptr.size - 1)
    scale = (1.0 / np.sqrt(np.maximum(sq, 1e-24))).astype(data.dtype)  # (B,)
    kept = np.flatnonzero(keep)                                         # (n_kept,)
    values = (data * scale[rows])[kept] * keep[kept]                    # (n_kept,)
    return np.searchsorted(kept, indptr), indices[kept], values


def normalize_and_drop(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                       keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows scaled to unit length, then dropout, in one pass. Same contract as the twin."""
    data, keep = _float1(data, keep, "normalize_and_drop")
    indptr, indices = np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64)
    _check_csr(indptr, indices, data, np.iinfo(np.int64).max, "normalize_and_drop")
    out_indptr = np.empty_like(indptr)                                  # (B + 1,)
    out_indices = np.empty_like(indices)                                # (nnz,) at most
    out_data = np.empty_like(data)                                      # (nnz,) at most
    n = _normalize_and_drop(indptr, indices, data, keep, out_indptr, out_indices, out_data)
    return out_indptr, out_indices[:n], out_data[:n]


def _float1(data: np.ndarray, keep: np.ndarray, name: str
            ) -> tuple[np.ndarray, np.ndarray]:
    data, keep = np.asarray(data), np.asarray(keep)
    if data.ndim != 1 or data.dtype not in (np.float32, np.float64) \
            or keep.shape != data.shape or keep.dtype != data.dtype:
        raise ValueError(f"{name}: data and keep must be 1-d arrays of one float dtype, got "
                         f"{data.dtype} {data.shape} and {keep.dtype} {keep.shape}")
    return data, keep


@jit()
def _normalize_and_drop(indptr, indices, data, keep, out_indptr, out_indices, out_data):
    """Writes the kept entries of the normalised rows; returns how many there are."""
    n = 0
    out_indptr[0] = 0
    for b in range(indptr.shape[0] - 1):
        k0, k1 = indptr[b], indptr[b + 1]
        sq = 0.0                                                        # float64
        for k in range(k0, k1):
            x = np.float64(data[k])
            sq += x * x
        scale = data.dtype.type(1.0 / np.sqrt(max(sq, 1e-24)))
        for k in range(k0, k1):
            # Written at position n either way, n advanced only for a kept entry: no branch
            # on the random mask, which is mispredicted half the time (0.37 -> 0.30 ms).
            out_indices[n] = indices[k]
            out_data[n] = (data[k] * scale) * keep[k]
            n += keep[k] != 0
        out_indptr[b + 1] = n
    return n


@jit()
def _by_column(indptr, indices, n_cols):
    """The entries of X grouped by column: a counting sort, rows ascending within a column.

    Returns col_ptr (V + 1,), and for the p-th entry in column order its position in X's
    arrays (entry) and its row (row).
    """
    nnz = indices.shape[0]
    col_ptr = np.zeros(n_cols + 1, dtype=np.int64)
    for k in range(nnz):
        col_ptr[indices[k] + 1] += 1
    for v in range(n_cols):
        col_ptr[v + 1] += col_ptr[v]
    fill = col_ptr[:-1].copy()
    entry = np.empty(nnz, dtype=np.int64)
    row = np.empty(nnz, dtype=np.int64)
    # Serial: entries of one column are appended in row order through a shared cursor.
    for b in range(indptr.shape[0] - 1):
        for k in range(indptr[b], indptr[b + 1]):
            p = fill[indices[k]]
            fill[indices[k]] = p + 1
            entry[p] = k
            row[p] = b
    return col_ptr, entry, row


@jit()
def _t_matmul_row(col_ptr, entry, row, data, dY, g, v):
    """g = Σ_p data[entry[p]] dY[row[p]] over column v's entries (four entries a sweep of g)."""
    for j in range(dY.shape[1]):
        g[j] = 0.0
    p, end = col_ptr[v], col_ptr[v + 1]
    while p + 4 <= end:
        x0, x1 = data[entry[p]], data[entry[p + 1]]
        x2, x3 = data[entry[p + 2]], data[entry[p + 3]]
        d0, d1, d2, d3 = dY[row[p]], dY[row[p + 1]], dY[row[p + 2]], dY[row[p + 3]]
        for j in range(dY.shape[1]):
            g[j] = (((g[j] + x0 * d0[j]) + x1 * d1[j]) + x2 * d2[j]) + x3 * d3[j]
        p += 4
    while p < end:                                                      # the last 0-3
        x = data[entry[p]]
        dy = dY[row[p]]
        for j in range(dY.shape[1]):
            g[j] += x * dy[j]
        p += 1


@jit()
def _csr_t_matmul_serial(col_ptr, entry, row, data, dY, out):
    for v in range(out.shape[0]):
        _t_matmul_row(col_ptr, entry, row, data, dY, out[v], v)


@jit(parallel=True)
def _csr_t_matmul_parallel(col_ptr, entry, row, data, dY, out):
    # Parallel over columns of X: iteration v writes out[v] only.
    for v in prange(out.shape[0]):
        _t_matmul_row(col_ptr, entry, row, data, dY, out[v], v)


# -- tanh between the layers -------------------------------------------------------------------


def tanh_backward_inplace_ref(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dy <- dy · (1 - y²), the gradient through y = tanh(x), in place (reference twin).

    Args:
        dy: (B, H) float32 or float64 gradient of the tanh's output; overwritten.
        y:  (B, H) the tanh's output, same dtype.
    Returns:
        dy, now the gradient of the tanh's input.
    """
    _check_tanh(dy, y)
    np.multiply(dy, 1.0 - y * y, out=dy)
    return dy


def tanh_backward_inplace(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dy <- dy · (1 - y²) in one pass. Same contract as the twin, the same numbers."""
    _check_tanh(dy, y)
    _tanh_backward(dy.reshape(-1), y.reshape(-1))
    return dy


def _check_tanh(dy: np.ndarray, y: np.ndarray) -> None:
    if dy.shape != y.shape or dy.dtype != y.dtype or dy.dtype not in (np.float32, np.float64) \
            or not (dy.flags.c_contiguous and y.flags.c_contiguous and dy.flags.writeable):
        raise ValueError(f"tanh_backward_inplace: dy and y must be C-contiguous float arrays of "
                         f"one shape and dtype (dy writeable), got {dy.dtype} {dy.shape} and "
                         f"{y.dtype} {y.shape}")


@jit()
def _tanh_backward(dy, y):
    one = dy.dtype.type(1.0)
    for i in range(dy.shape[0]):
        dy[i] = dy[i] * (one - y[i] * y[i])


# -- Mult-VAE: the gradient into the encoder's output ------------------------------------------


def vae_code_backward_ref(dz: np.ndarray, eps: np.ndarray, std: np.ndarray, mu: np.ndarray,
                          var: np.ndarray, beta: float) -> np.ndarray:
    """d[μ | log σ²] of z = μ + σ ε (σ = exp(log σ² / 2)) and β KL (reference twin).

    Args:
        dz:  (B, L) gradient of the code z.
        eps: (B, L) the noise ε.  std: (B, L) σ.  (reparam_forward's cache)
        mu:  (B, L) μ.  var: (B, L) σ² = exp(log σ²).  (gaussian_kl_forward's cache)
        beta: the KL term's weight (its dloss).
    Returns:
        (B, 2L): [dz + β μ / B | ½ dz ε σ + ½ β (σ² - 1) / B], in dz's dtype.
    """
    # Imported here: nprec.layers and nprec.losses import this package (a cycle at import).
    from nprec.layers.vae import ReparamCache, reparam_backward
    from nprec.losses.vae import GaussianKlCache, gaussian_kl_backward

    _check_code(dz, eps, std, mu, var)
    dmu, dlogvar, _ = reparam_backward(dz, ReparamCache(std, eps))
    dmu_kl, dlogvar_kl = gaussian_kl_backward(beta, GaussianKlCache(mu, var))
    return np.concatenate([dmu + dmu_kl, dlogvar + dlogvar_kl], axis=1)


def vae_code_backward(dz: np.ndarray, eps: np.ndarray, std: np.ndarray, mu: np.ndarray,
                      var: np.ndarray, beta: float) -> np.ndarray:
    """d[μ | log σ²] in one pass. Same contract as the twin, the same numbers."""
    _check_code(dz, eps, std, mu, var)
    real = dz.dtype.type
    scale = real(float(beta) / dz.shape[0])          # gaussian_kl_backward's upstream scale
    out = np.empty((dz.shape[0], 2 * dz.shape[1]), dtype=dz.dtype)     # (B, 2L)
    _vae_code_backward(dz, eps, std, mu, var, scale, real(0.5) * scale, real(0.5), real(1.0),
                       out)
    return out


def _check_code(*arrays: np.ndarray) -> None:
    dz = arrays[0]
    if dz.ndim != 2 or dz.dtype not in (np.float32, np.float64) \
            or any(a.shape != dz.shape or a.dtype != dz.dtype for a in arrays):
        raise ValueError("vae_code_backward: dz, eps, std, mu and var must be (B, L) arrays "
                         "of one float dtype, got " + ", ".join(f"{a.dtype} {a.shape}"
                                                                for a in arrays))


@jit()
def _vae_code_backward(dz, eps, std, mu, var, scale, half_scale, half, one, out):
    L = dz.shape[1]
    for b in range(dz.shape[0]):
        for j in range(L):
            g = dz[b, j]
            # reparam_backward's dz and ½ dz ε σ, plus gaussian_kl_backward's terms.
            out[b, j] = g + mu[b, j] * scale
            out[b, L + j] = g * eps[b, j] * std[b, j] * half + (var[b, j] - one) * half_scale
