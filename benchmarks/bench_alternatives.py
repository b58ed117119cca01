"""Designs measured against nprec's current code and not kept: the figures behind the choices.

    python benchmarks/bench_alternatives.py [--rounds 7] [--threads 2] [--only NAME ...]
                                            [--small]

Each case first checks that the alternative computes what nprec computes (to the bit where
the order of the float operations is the same, to a stated tolerance where it is not), then
times both, alternating, in `--rounds` rounds of a few calls each, with a 64 MB array
rewritten before every call so that neither side finds its operands in the cache from the
call before (a training step has touched other arrays in between). Reported: the median
milliseconds of each design per round, and the designs' medians over the rounds.

- `sparse-forward`: Mult-VAE's input layer Y = X W (500 users, 3,500 items, 600 units,
  ~27,500 stored entries after dropout, item popularity Zipf-like). nprec walks X by rows,
  reading one row of W per entry (`csr_matmul`, rows in parallel); the alternative walks X
  by columns so that W is read once, in order, each thread keeping half of Y's columns.
- `adam`: Adam over Mult-VAE's 4.56 M parameters ([3500-600-400], [200-600-3500] and the
  biases), float32. nprec's update is one serial pass per parameter (`adam_rows`); the
  alternative splits every matrix of more than 10^5 numbers between two threads.
- `narm-decoder`: NARM's decoder for one batch (B = 512 prefixes, V = 17,376 items,
  D = 50): scores u Eᵀ, the fused softmax cross-entropy, du = dS E and dE = dSᵀ u. nprec
  does each over the whole batch, so the (B, V) matrix goes through memory five times; the
  alternative does scores, softmax and du for R rows at a time, while those rows are in the
  cache, and dE once at the end.

`--small` shrinks every case (the test suite runs it so); its timings mean nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numba
import numpy as np
from numba import njit, prange

from nprec.kernels.autoencoders import _by_column, csr_matmul, normalize_and_drop
from nprec.kernels.optim_rows import adam_rows
from nprec.kernels.softmax_rows import softmax_ce_rows
from nprec.train import prepare_process

CASES = ("sparse-forward", "adam", "narm-decoder")


# -- sparse-forward: the column-ordered alternative ------------------------------------------


@njit(parallel=True, error_model="numpy", cache=True)
def csc_matmul(col_ptr, entry, row, data, W, out):
    """out = X W with X walked by columns: W's rows are read once, in order. Thread t owns
    out[:, j0:j1]; each out[b, j] adds its entries in ascending item order, as csr_matmul
    does for a row whose items are sorted, so the result is the same to the bit."""
    B, H = out.shape
    half = (H + 1) // 2
    for t in prange(2):
        j0, j1 = t * half, min(H, (t + 1) * half)
        for b in range(B):
            for j in range(j0, j1):
                out[b, j] = 0.0
        for v in range(W.shape[0]):
            w = W[v]
            for p in range(col_ptr[v], col_ptr[v + 1]):
                x = data[entry[p]]
                y = out[row[p]]
                for j in range(j0, j1):
                    y[j] += x * w[j]


def case_sparse_forward(rng: np.random.Generator, small: bool):
    B, V, H = (50, 300, 64) if small else (500, 3500, 600)
    pop = 1.0 / np.arange(1, V + 1) ** 0.9                          # Zipf-like popularity
    pop /= pop.sum()
    rows = [np.sort(rng.choice(V, size=int(rng.integers(20, min(V, 180))), replace=False,
                               p=pop)) for _ in range(B)]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64)
    ones = np.ones(indices.size, dtype=np.float32)
    keep = (rng.random(indices.size) < 0.5).astype(np.float32) * np.float32(2.0)
    ip, ix, dx = normalize_and_drop(indptr, indices, ones, keep)   # as a training step
    W = rng.standard_normal((V, H)).astype(np.float32)
    out = np.empty((B, H), dtype=np.float32)

    def current():
        return csr_matmul(ip, ix, dx, W)

    def alternative():
        col_ptr, entry, row = _by_column(ip, ix, V)
        csc_matmul(col_ptr, entry, row, dx, W, out)
        return out

    same = np.array_equal(current(), alternative())
    return (f"X ({B}, {V}) with {ix.size} stored entries, H = {H}", current,
            "by columns, W read once", alternative, f"same bits: {same}", same)


# -- adam: two threads -----------------------------------------------------------------------


# A flat loop over the parameter's numbers, not nprec's row kernel (`_adam_rows`) called on
# each half: run from inside the parallel region that kernel came out about 0.5 ms slower
# over Mult-VAE's parameters, which would make the alternative look worse than it is.
@njit(error_model="numpy", cache=True)
def _adam_flat(P, m, v, G, step_size, sqrt_bc2, beta1, omb1, beta2, omb2, eps):
    for i in range(P.size):
        g = G[i]
        mi = beta1 * m[i] + omb1 * g
        vi = beta2 * v[i] + omb2 * g * g
        m[i] = mi
        v[i] = vi
        P[i] -= step_size * mi / (np.sqrt(vi) / sqrt_bc2 + eps)


@njit(parallel=True, error_model="numpy", cache=True)
def _adam_halves(P, m, v, G, step_size, sqrt_bc2, beta1, omb1, beta2, omb2, eps):
    half = P.size // 2
    for t in prange(2):
        a, b = (0, half) if t == 0 else (half, P.size)
        _adam_flat(P[a:b], m[a:b], v[a:b], G[a:b], step_size, sqrt_bc2, beta1, omb1, beta2,
                   omb2, eps)


def case_adam(rng: np.random.Generator, small: bool):
    shapes = ([(300, 64), (64, 40), (20, 64), (64, 300), (64,), (40,), (64,), (300,)] if small
              else [(3500, 600), (600, 400), (200, 600), (600, 3500), (600,), (400,), (600,),
                    (3500,)])

    def state():
        ps = [rng.standard_normal(s).astype(np.float32).reshape(-1) for s in shapes]
        gs = [rng.standard_normal(p.size).astype(np.float32) for p in ps]
        return ps, [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps], gs

    cur, alt = state(), state()
    for a, b in zip(cur, alt, strict=True):
        for x, y in zip(a, b, strict=True):
            y[...] = x
    lr, b1, b2, eps, t = 1e-3, 0.9, 0.999, 1e-8, 5
    f = np.float32
    hyper = (f(lr / (1 - b1 ** t)), f(np.sqrt(1 - b2 ** t)), f(b1), f(1 - b1), f(b2), f(1 - b2),
             f(eps))
    limit = 10_000 if small else 100_000

    def current():
        for p, m, v, g in zip(*cur, strict=True):
            P = p.reshape(1, -1)
            adam_rows(P, m.reshape(P.shape), v.reshape(P.shape), np.zeros(1, dtype=np.int64),
                      g.reshape(P.shape), lr, b1, b2, eps, t)
        return cur[0]

    def alternative():
        for p, m, v, g in zip(*alt, strict=True):
            (_adam_halves if p.size > limit else _adam_flat)(p, m, v, g, *hyper)
        return alt[0]

    same = all(np.array_equal(a, b) for a, b in zip(current(), alternative(), strict=True))
    n = sum(int(np.prod(s)) for s in shapes)
    return (f"{n:,} float32 parameters", current, "two threads", alternative,
            f"same bits: {same}", same)


# -- narm-decoder: row blocks ----------------------------------------------------------------


def case_narm_decoder(rng: np.random.Generator, small: bool, R: int):
    B, V, D = (64, 2000, 16) if small else (512, 17376, 50)
    E = (rng.standard_normal((V, D)) * 0.1).astype(np.float32)
    u = rng.standard_normal((B, D)).astype(np.float32)
    targets = rng.integers(0, V, B)
    S = np.empty((B, V), dtype=np.float32)

    def current():
        np.matmul(u, E.T, out=S)                                        # (B, V)
        loss = softmax_ce_rows(S, targets, 1.0 / B)
        du = S @ E                                                      # (B, D)
        dE = np.ascontiguousarray((u.T @ S).T)                          # (V, D)
        return loss, du, dE

    def alternative():
        du = np.empty((B, D), dtype=np.float32)
        loss = np.empty(B)
        for r in range(0, B, R):
            s = S[r:r + R]
            np.matmul(u[r:r + R], E.T, out=s)
            loss[r:r + R] = softmax_ce_rows(s, targets[r:r + R], 1.0 / B)
            np.matmul(s, E, out=du[r:r + R])
        dE = np.ascontiguousarray((u.T @ S).T)
        return loss, du, dE

    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(current(), alternative(),
                                                             strict=True))
    return (f"B = {B}, V = {V}, D = {D}", current, f"{R} rows at a time", alternative,
            f"largest difference {worst:.1e}", worst <= 1e-6)


def timed(f: Callable, flush: np.ndarray, calls: int) -> float:
    """Median milliseconds of `calls` calls, the cache flushed before each."""
    times = []
    for _ in range(calls):
        flush += 1.0
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", choices=CASES)
    ap.add_argument("--small", action="store_true", help="tiny shapes (tests); no timings")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        ap.error("--rounds and --threads must be >= 1")
    prepare_process()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_layers import blas_threads

    numba.set_num_threads(args.threads)
    blas = blas_threads(args.threads)
    rng = np.random.default_rng(0)
    flush = np.zeros((1 << 24) if not args.small else 1024, dtype=np.float32)
    calls = 2 if args.small else 9
    print(f"numba {numba.__version__}, numpy {np.__version__}; threads: BLAS {blas}, Numba "
          f"{numba.get_num_threads()}; {args.rounds} rounds of {calls} calls, medians")
    built = []
    for name in args.only or CASES:
        if name == "sparse-forward":
            built.append((name, case_sparse_forward(rng, args.small)))
        elif name == "adam":
            built.append((name, case_adam(rng, args.small)))
        else:
            for R in (8, 16) if args.small else (32, 64, 128, 256):
                built.append((name, case_narm_decoder(rng, args.small, R)))
    failed = False
    for name, (shape, current, alt_name, alternative, check, ok) in built:
        failed |= not ok
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(timed(current, flush, calls))
            theirs.append(timed(alternative, flush, calls))
        pairs = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(ours, theirs, strict=True))
        print(f"{name:15s} {shape}: nprec {statistics.median(ours):7.2f} ms, {alt_name} "
              f"{statistics.median(theirs):7.2f} ms ({check}{'' if ok else ', FAILED'})  "
              f"[rounds: {pairs}]", flush=True)
    if failed:
        print("bench_alternatives: an alternative does not compute what nprec computes",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
