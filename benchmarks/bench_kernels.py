"""Check every kernel against its NumPy twin at realistic sizes, then time both.

    python benchmarks/bench_kernels.py [--repeat 5] [--only NAME ...]

Sizes are those of the real workloads: an NCF epoch on MovieLens-1M (6,040 users, 3,706
items, ~1M entries, 4 negatives per entry), GRU4Rec on YooChoose-sized data (37k items,
2,048 shared negatives, hidden 100), NARM/GRU4Rec session counts of YooChoose 1/64, top-20
lists for 512 users over 37k items. The data are synthetic with the same shapes and a
popularity skew. Each kernel is first checked against its twin on these inputs (identical
integers, floats within rounding), then both are timed (best of --repeat runs, after one
warm-up call that also compiles), side by side in one process. The thread count is Numba's;
the speed-up is of wall times. The CPU columns (process time, summed over threads) help to
read a run on a shared machine: a high load average inflates wall times, parallel ones most.
Last, one epoch of each sampler of `nprec.samplers` is timed on the same synthetic data.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numba
import numpy as np

from nprec.data import Interactions, Sessions
from nprec.kernels import PAIRS
from nprec.samplers import (
    SessionParallelBatches,
    bpr_batches,
    pointwise_batches,
    prefix_batches,
    user_batches,
)


def _csr(rng, U, V, nnz):
    """A user x item CSR with popularity-skewed items (weight 1 / (rank + 10)) and
    geometric-ish row lengths (at least 20 per user, as in ML-1M), sorted rows, no full row."""
    pop = 1.0 / (np.arange(V) + 10.0)
    pop /= pop.sum()
    lengths = np.minimum(20 + rng.geometric(1.0 / (nnz / U - 20), U), V // 2)
    rows = [np.sort(rng.choice(V, n, replace=False, p=pop)) for n in lengths]
    indptr = np.zeros(U + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return indptr, np.concatenate(rows).astype(np.int32)


def cases(rng):
    """name -> (size description, arguments) at realistic sizes."""
    ml_indptr, ml_indices = _csr(rng, 6040, 3706, 1_000_000)
    nnz = ml_indices.size
    entry_users = np.repeat(np.arange(6040), np.diff(ml_indptr))
    V, D, K = 37_483, 100, 2_048 + 512
    rows = np.sort(rng.choice(V, K, replace=False)).astype(np.int64)
    P = rng.standard_normal((V, D)).astype(np.float32)
    G = rng.standard_normal((K, D)).astype(np.float32)
    pos_state = np.abs(rng.standard_normal((V, D))).astype(np.float32)
    w = rng.zipf(1.5, V).astype(np.float64) ** 0.5
    cdf = np.cumsum(w) / w.sum()
    cdf[-1] = 1.0
    lengths = np.minimum(rng.geometric(0.25, 116_000) + 1, 200)         # YooChoose 1/64-like
    ends = np.cumsum(lengths)
    scores = rng.standard_normal((512, V)).astype(np.float32)
    return {
        "coalesce_rows": (f"N=4096 ids of {V}, D=64",
                          (rng.integers(0, V, 4096), rng.standard_normal((4096, 64))
                           .astype(np.float32))),
        "sample_negatives": (f"ML-1M epoch: {4 * nnz:,} draws",
                             (ml_indptr, ml_indices, np.repeat(entry_users, 4), 3706,
                              rng.random(4 * nnz))),
        "sample_negatives_distinct": ("ML-1M: 6,040 users x 99 distinct",
                                      (ml_indptr, ml_indices, np.arange(6040), 3706,
                                       rng.random((6040, 99)))),
        "sample_cdf": (f"sample store: 2,097,152 draws over {V} items",
                       (cdf, rng.random(1024 * 2048))),
        "sample_bpr_triples": (f"ML-1M epoch: {nnz:,} triples",
                               (ml_indptr, ml_indices, 3706, rng.random(nnz),
                                rng.random(nnz))),
        "topk_rows": (f"B=512, V={V}, k=20", (scores, 20)),
        "sgd_rows": (f"K={K} rows of ({V}, {D}) float32, momentum 0.9",
                     (P, np.zeros_like(P), rows, G, 0.05, 0.9)),
        "adagrad_rows": (f"K={K} rows of ({V}, {D}) float32, momentum 0.4",
                         (P, pos_state, np.zeros_like(P), rows, G, 0.05, 0.4, 1e-6)),
        "adam_rows": (f"K={K} rows of ({V}, {D}) float32",
                      (P, np.zeros_like(P), pos_state, rows, G, 1e-3, 0.9, 0.999, 1e-8, 10)),
        "session_parallel_steps": (f"{lengths.size:,} sessions, {ends[-1]:,} events, B=512",
                                   (ends - lengths, ends, 512)),
    }


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return False
        if np.issubdtype(a.dtype, np.floating):
            return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
        return bool(np.array_equal(a, b))
    return a == b


def check(fast, ref, args) -> bool:
    """Same results and same in-place effects on private copies of the arguments."""
    a, b = copy.deepcopy(args), copy.deepcopy(args)
    ok = _same(fast(*a), ref(*b))
    return ok and all(_same(x, y) for x, y in zip(a, b, strict=True)
                      if isinstance(x, np.ndarray))


def best_time(fn, args, repeat: int) -> tuple[float, float]:
    """Best wall time and best process CPU time (all threads) in ms over `repeat` calls,
    each on fresh copies of the arguments (copying not timed)."""
    wall, cpu = [], []
    for _ in range(repeat):
        a = copy.deepcopy(args)
        t0, c0 = time.perf_counter(), time.process_time()
        fn(*a)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * min(wall), 1e3 * min(cpu)


def sampler_epochs(rng, repeat: int) -> None:
    """Time one full epoch of each sampler (batches generated and consumed, nothing else)."""
    indptr, indices = _csr(rng, 6040, 3706, 1_000_000)
    ml = Interactions(indptr, indices, 3706)
    lengths = np.minimum(rng.geometric(0.25, 116_000) + 1, 200)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    yc = Sessions(offsets, rng.integers(0, 37_483, offsets[-1]), 37_483)
    epochs = {
        f"NCF pointwise, ML-1M ({ml.nnz:,} entries x 5), B=256":
            lambda: pointwise_batches(ml, 4, 256, rng),
        "BPR triples, ML-1M, B=1024": lambda: bpr_batches(ml, 1024, rng),
        "user batches, ML-1M, B=500": lambda: user_batches(ml, 500, rng),
        f"GRU4Rec session-parallel, {yc.n_events:,} events, B=32":
            lambda: SessionParallelBatches(yc, 32),
        "NARM prefixes, same sessions, B=512, bucket=20":
            lambda: prefix_batches(yc, 512, rng, bucket=20),
    }
    print(f"\n{'sampler epoch':<55} {'batches':>8} {'ms':>9}")
    for name, make in epochs.items():
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            n = sum(1 for _ in make())
            times.append(time.perf_counter() - t0)
        print(f"{name:<55} {n:8,d} {1e3 * min(times):9.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="kernel names to run")
    parser.add_argument("--no-samplers", action="store_true", help="skip the epoch timings")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = cases(rng)
    print(f"numba {numba.__version__}, numpy {np.__version__}, "
          f"threads {numba.get_num_threads()}, best of {args.repeat}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'kernel':<27} {'size':<46} {'check':>5} {'fast ms':>8} {'ref ms':>8} "
          f"{'speed-up':>8} {'fast cpu':>8} {'ref cpu':>8}")
    failed = []
    for fast, ref in PAIRS:
        name = fast.__name__
        if args.only and name not in args.only:
            continue
        if name not in table:
            print(f"{name:<27} (no benchmark case)")
            continue
        size, kargs = table[name]
        ok = check(fast, ref, kargs)                 # also compiles the fast kernel
        t_fast, c_fast = best_time(fast, kargs, args.repeat)
        t_ref, c_ref = best_time(ref, kargs, args.repeat)
        print(f"{name:<27} {size:<46} {'ok' if ok else 'FAIL':>5} {t_fast:8.2f} "
              f"{t_ref:8.2f} {t_ref / t_fast:7.1f}x {c_fast:8.2f} {c_ref:8.2f}", flush=True)
        if not ok:
            failed.append(name)
    print(f"Numba threading layer: {numba.threading_layer()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.no_samplers and not args.only:
        sampler_epochs(rng, max(1, args.repeat // 2))
    if failed:
        raise SystemExit(f"fast kernel differs from its twin: {', '.join(failed)}")


if __name__ == "__main__":
    main()
