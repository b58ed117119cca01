"""Sums in an order fixed by the code, not by the CPU the kernels are compiled for.

A float sum is one serial chain of additions unless the compiler may reorder it (fastmath
"reassoc"); then LLVM splits it into as many partial sums as the target CPU's SIMD registers
hold (SSE2, AVX2 and AVX-512 give three orders), and a trained model's figures depend on the
machine: GRU4Rec's cross-entropy rows gave 0.6813 / 0.3605 compiled for AMD's Zen 5 or for
Haswell and 0.6820 / 0.3608 for Skylake-X or Emerald Rapids. These helpers write the
partial sums out instead:

    element k goes to partial sum ("lane") k mod SUM_LANES, the tail past the last full
    block of SUM_LANES to the first lanes; then the lanes are added as a tree,
    lane j += lane j + w for w = 8, 4, 2, 1.

The order is the same on every CPU, and so are the bits. The price: LLVM does not vectorise
the loop over a block's lanes (it cannot prove the lanes' array does not alias the row, and
Numba has no way to say so), so the partial sums are added one by one. Summing 17,376
float32 into float32 lanes took 2.4 us against 0.8 us for a reassociated float64 sum (the
assembly has scalar `vaddss` only; a script outside the repo); GRU4Rec's BPR-max loss
pays about 0.1 ms a step for it.

A kernel that sums terms it computes (not an array) writes the same blocked loop itself
and finishes with `lane_tree`; `lane_order_sums` is the order in NumPy, for the tests.
"""

from __future__ import annotations

import numpy as np

from nprec.kernels._jit import jit

SUM_LANES = 16
"""Partial sums of `lane_sum`: its order of additions is fixed by this number alone."""


@jit()
def lane_sum(x, acc):
    """Σ_k x[k] in the lanes' order (module docstring), accumulated in acc's dtype.

    x: (n,) a row.  acc: (SUM_LANES,) scratch (float64 lanes sum float32 terms in float64).
    """
    n = x.shape[0]
    full = n - n % SUM_LANES
    for j in range(SUM_LANES):
        acc[j] = 0
    for k0 in range(0, full, SUM_LANES):
        for j in range(SUM_LANES):
            acc[j] += x[k0 + j]
    for k in range(full, n):
        acc[k - full] += x[k]
    return lane_tree(acc)


@jit()
def lane_tree(acc):
    """acc[0] + ... + acc[SUM_LANES - 1] as a tree: lane j += lane j + w, w = 8, 4, 2, 1."""
    w = SUM_LANES
    while w > 1:
        w //= 2
        for j in range(w):
            acc[j] += acc[j + w]
    return acc[0]


def lane_order_sums(E: np.ndarray, dtype=None) -> np.ndarray:
    """Row sums of E (B, n) in `lane_sum`'s order, in NumPy: the same bits.

    dtype: the lanes' dtype (default E's), as acc's in `lane_sum`.
    """
    B, n = E.shape
    E = np.asarray(E, dtype=dtype or E.dtype)
    full = n - n % SUM_LANES
    # Lane j adds its elements block after block: a reduction over the blocks axis.
    acc = np.add.reduce(E[:, :full].reshape(B, -1, SUM_LANES), axis=1) if full else \
        np.zeros((B, SUM_LANES), dtype=E.dtype)                         # (B, SUM_LANES)
    acc[:, :n - full] += E[:, full:]
    w = SUM_LANES
    while w > 1:
        w //= 2
        acc[:, :w] += acc[:, w:2 * w]
    return acc[:, 0]                                                    # (B,)
