"""How low a training step can go: the dense products it cannot do without, timed alone.

    python benchmarks/bench_floor.py [--only narm multvae gru4rec-diginetica] [--threads 2]
                                     [--official PATH] [--batches 30]

Three speed targets ask for an epoch in at most half the time of a PyTorch implementation:
GRU4Rec on DIGINETICA against the official code (issue 5), NARM (issue 6) and Mult-VAE
(issue 7) against their PyTorch twins. Every implementation of these models makes the same
dense matrix products, and both sides hand them to a BLAS. This benchmark times, in one run:

1. the products one training step must make, alone, at the step's shapes, with NumPy's BLAS
   (the one nprec uses); each product in the fastest of the operand orders tried, the median
   of `REPS` calls after an untimed pause. No implementation on this BLAS makes those
   products faster inside a step, where caches are colder and threads busier;
2. the other side's whole training step on the same batches, in the same run.

The two alternate in `--rounds` rounds (GRU4Rec: the products before and after the official
code's epoch): this machine's BLAS runs the same product at 190 GFLOP/s for minutes, then at
280, so a floor and a step timed minutes apart would compare two machines.

floor / other is then the smallest ratio nprec could reach if everything else in its step
(the softmax over all items, the optimizer's pass over the parameters, the gates, sampling,
dropout, gathers) took no time at all. NARM's products whose shapes depend on the data (the
GRU over each batch's real positions, the attention, the bilinear layer) are counted by
their multiply-adds at the best rate the BLAS reaches in the run (a large square product's):
no product runs faster, so the floor stays a lower bound. Mult-VAE's sparse input layer is
left out, so its floor is lower than the true one. The second figure adds two passes every
implementation makes too, timed with nprec's kernels: the optimizer's update of the
parameters a step touches, and the softmax over the (B, V) score matrix where the model has
one.

torch (and, for GRU4Rec, a checkout of the official code with pandas < 3) are needed for
the other side.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from _settle import settle

from nprec.kernels.optim_rows import adagrad_rows, adam_rows
from nprec.kernels.softmax_rows import softmax_ce_rows
from nprec.train import prepare_process

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

REPS = 15
SESSIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "session"
ML1M = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m" / "ratings_partial"
        / "ml-1m.ratings_known.tsv.gz")
DIGINETICA = ("loss=bpr-max,constrained_embedding=True,layers=512,batch_size=128,"
              "dropout_p_embed=0.5,dropout_p_hidden=0.3,learning_rate=0.05,momentum=0.15,"
              "n_sample=2048,sample_alpha=0.3,elu_param=1.0,bpreg=0.9,logq=0.0")


def median_ms(fn: Callable[[], object]) -> float:
    """Median milliseconds of `fn()` over REPS calls, after a warm call and a pause."""
    fn()
    settle()
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def product_ms(M: int, K: int, N: int, rng: np.random.Generator) -> float:
    """The fastest of A B, (Bᵀ Aᵀ)ᵀ and their transposed-operand layouts for an (M, K) x
    (K, N) float32 product: what a step pays for it at best on this BLAS."""
    A = rng.standard_normal((M, K), dtype=np.float32)
    B = rng.standard_normal((K, N), dtype=np.float32)
    At = np.ascontiguousarray(A.T)                                      # (K, M)
    Bt = np.ascontiguousarray(B.T)                                      # (N, K)
    orders = [lambda: A @ B, lambda: At.T @ B, lambda: A @ Bt.T, lambda: (Bt @ At).T]
    return min(median_ms(f) for f in orders)


def peak_gflops(n: int = 1024) -> float:
    """The best rate of NumPy's BLAS in this run: an (n, n) x (n, n) float32 product's."""
    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    return 2 * n ** 3 / median_ms(lambda: A @ B) / 1e6


def products_ms(products: list[tuple[str, tuple[int, int, int]]], per_step: float = 1.0
                ) -> list[float]:
    """Each product's milliseconds in a step (`product_ms` times per_step)."""
    rng = np.random.default_rng(0)
    return [product_ms(M, K, N, rng) * per_step for _, (M, K, N) in products]


def report(name: str, products: list[tuple[str, tuple[int, int, int]]],
           rounds: list[tuple[list[float], float, float]], other: str,
           per_step: float = 1.0, counted: tuple[str, float] | None = None) -> None:
    """Print the products' floor, with the passes, against the other side's step.

    rounds: per round, (each product's ms, the passes' ms, the other side's step ms); with
    `counted` = (label, MFLOP a step), the last entry of each round's list is the time of
    those products at the run's best rate (`peak_gflops`).
    """
    ms, _, _ = rounds[-1]
    print(f"\n{name}: the products of one step, alone (ms, fastest order, median of {REPS}; "
          f"last round)")
    for (label, (M, K, N)), t in zip(products, ms[:len(products)], strict=True):
        print(f"  {label:30s} ({M:5d} x {K:5d}) @ ({K:5d} x {N:5d})  {t:7.2f} ms  "
              f"{2 * M * K * N * per_step / t / 1e6:6.1f} GFLOP/s")
    if counted is not None:
        label, mflop = counted
        print(f"  {label}: {mflop:.1f} MFLOP at {mflop / ms[-1]:.1f} GFLOP/s (the run's best "
              f"rate)  {ms[-1]:7.2f} ms")
    print(f"  {'round':>5s} {'products':>10s} {'+ passes':>10s} {other + ' step':>22s} "
          f"{'floor ratio':>12s} {'with passes':>12s}")
    ratios = []
    for r, (ms, passes, other_ms) in enumerate(rounds, 1):
        total = sum(ms)
        ratios.append((total / other_ms, (total + passes) / other_ms))
        print(f"  {r:5d} {total:8.2f}ms {total + passes:8.2f}ms {other_ms:20.2f}ms "
              f"{ratios[-1][0]:12.2f} {ratios[-1][1]:12.2f}")
    low, high = (float(np.median([r[i] for r in ratios])) for i in (0, 1))
    print(f"  median over rounds: products {low:.2f}, with the passes {high:.2f} "
          f"(target 0.5)")
    print(f"FLOOR model={name} other={other} ratio_products={low:.4f} "
          f"ratio_passes={high:.4f} rounds={len(rounds)}")


# -- NARM ----------------------------------------------------------------------------------


def floor_narm(n_batches: int, n_rounds: int) -> None:
    import bench_narm

    from nprec.models import narm

    sessions = bench_narm.load_sessions("yoochoose1_64")
    cfg = narm.Config()
    epoch = (narm.Model(cfg, 0, sessions.n_items, rng=np.random.default_rng(0))
             .batches(sessions, np.random.default_rng(1)))
    n = len(epoch)
    B, D, H, V = cfg.batch_size, cfg.dim_proj, cfg.hidden_units, sessions.n_items
    products = [("scores u Eᵀ", (B, D, V)), ("dU = dS E", (B, V, D)),
                ("dE = dSᵀ U", (V, B, D))]
    # The other products, on the batches the rounds time: their shapes follow each batch's
    # N real positions (rows of all steps), N = Σ_t n_t, forward and backward.
    mflop = []
    for _, batch in zip(range(n_batches), epoch, strict=False):
        N = int(batch.mask.sum())
        gru = 2 * N * (D * 3 * H + H * 2 * H + H * H)                  # x W, h U_zr, (r h) U_h
        gru += 2 * N * (H * H + 2 * H * H + 3 * H * D)                 # d(r h), dh, dx
        gru += 2 * N * (D * 3 * H + H * 2 * H + H * H)                 # dW, dU_zr, dU_h
        attention = 3 * 2 * (B + N) * H * H                            # q, keys; d of each twice
        bilinear = 3 * 2 * B * 2 * H * D                               # u = c Bᵀ; dc, dB
        mflop.append((gru + attention + bilinear) / 1e6)
    counted = ("GRU, attention and bilinear layer over the batches' real positions",
               float(np.mean(mflop)))
    rng = np.random.default_rng(0)
    # The passes: softmax cross-entropy over the (B, V) scores; Adam over the item
    # embeddings, whose gradient is dense (the decoder reads every item).
    S = rng.standard_normal((B, V), dtype=np.float32)
    targets = rng.integers(0, V, B)
    E, m, v, G = (rng.standard_normal((1, V * D), dtype=np.float32) for _ in range(4))
    v = np.abs(v)
    one = np.zeros(1, dtype=np.int64)
    rounds = []
    for _ in range(n_rounds):
        epochs, _ = bench_narm.time_side_by_side(sessions, n_batches, time.perf_counter)
        passes = (median_ms(lambda: softmax_ce_rows(S.copy(), targets, 1.0 / B))
                  - median_ms(lambda: S.copy())
                  + median_ms(lambda: adam_rows(E, m, v, one, G, 1e-3, 0.9, 0.999, 1e-8, 5)))
        ms = products_ms(products) + [counted[1] / peak_gflops()]
        rounds.append((ms, passes, 1e3 * epochs["torch same"] / n))
    report("NARM", products, rounds, "torch-twin-same", counted=counted)


# -- Mult-VAE --------------------------------------------------------------------------------


def floor_multvae(n_rounds: int) -> None:
    import bench_autoencoders as ba

    train = ba.load_train(ML1M)
    n = -(-train.n_users // 500)
    B, V = 500, train.n_items
    # [I-600-200-600-I]: the sparse input layer is left out (its cost depends on the data);
    # every other layer makes y = x W forward and dx = dy Wᵀ, dW = xᵀ dy backward.
    products = []
    for label, i, o in [("encoder 600 -> 2 x 200", 600, 400),
                        ("decoder 200 -> 600", 200, 600), ("decoder 600 -> I", 600, V)]:
        products += [(f"{label}: x W", (B, i, o)), (f"{label}: dy Wᵀ", (B, o, i)),
                     (f"{label}: xᵀ dy", (i, B, o))]
    rng = np.random.default_rng(0)
    size = 2 * V * 600 + 600 * 400 + 200 * 600 + 400 + 600 + 600 + V   # every parameter
    P, m, v, G = (rng.standard_normal((1, size), dtype=np.float32) for _ in range(4))
    v = np.abs(v)
    one = np.zeros(1, dtype=np.int64)
    S = rng.standard_normal((B, V), dtype=np.float32)
    targets = rng.integers(0, V, B)
    rounds = []
    for _ in range(n_rounds):
        # The twin's step is its epoch over the number of batches (the last one, smaller,
        # counted as a full one on both sides).
        med, _ = ba.time_epochs(train, "multvae", rounds=2)
        passes = (median_ms(lambda: softmax_ce_rows(S.copy(), targets, 1.0 / B))
                  - median_ms(lambda: S.copy())
                  + median_ms(lambda: adam_rows(P, m, v, one, G, 1e-3, 0.9, 0.999, 1e-8, 5)))
        rounds.append((products_ms(products), passes, 1e3 * med["torch"][0] / n))
    report("Mult-VAE", products, rounds, "torch-twin")


# -- GRU4Rec, DIGINETICA ---------------------------------------------------------------------


def floor_gru4rec(official_path: str) -> None:
    import bench_gru4rec as bg

    from nprec.models import gru4rec

    cfg = bg.parse_params(DIGINETICA)
    train = bg.load_sessions("diginetica")
    model = gru4rec.Model(cfg, 0, train.n_items, rng=np.random.default_rng(0))
    epoch = model.batches(train, np.random.default_rng(1))
    B, H = cfg.batch_size, cfg.layers[0]
    lay, items = epoch.layout, train.items
    widths = np.diff(lay.step_offsets)[:len(epoch)]                     # rows per step
    # Steps narrower than B are counted at their share of a full step's time: products of
    # fewer rows run slower per row, so this errs low, as a floor should.
    per_step = float(widths.sum()) / B / len(epoch)
    S = B + cfg.n_sample                                                # scored items
    # One GRU layer of H units on the constrained embedding (inputs are rows of the H-wide
    # output item matrix), one step, no back-propagation through time.
    products = [("gates, input x Wx", (B, H, 3 * H)), ("gates, hidden h Wrz", (B, H, 2 * H)),
                ("candidate (r h) Wh", (B, H, H)), ("scores h Yᵀ", (B, H, S)),
                ("dh = dS Y", (B, S, H)), ("dY = dSᵀ h", (S, B, H)),
                ("dWx = xᵀ dA", (H, B, 3 * H)), ("dWrz = hᵀ dA_zr", (H, B, 2 * H)),
                ("dWh = (r h)ᵀ dA_h", (H, B, H)), ("d(r h) = dA_h Whᵀ", (B, H, H)),
                ("dx = dA Wxᵀ (into the items)", (B, 3 * H, H))]
    # The passes: Adagrad with momentum on the item rows a step touches (its inputs, targets
    # and negatives, counted on 50 real steps) and on the GRU's weights.
    rng = np.random.default_rng(0)
    support = np.bincount(items, minlength=train.n_items).astype(np.float64)   # (V,)
    p = support ** cfg.sample_alpha
    p /= p.sum()
    touched = []
    for t in range(0, len(epoch), max(1, len(epoch) // 50)):
        pos = lay.in_pos[lay.step_offsets[t]:lay.step_offsets[t + 1]]   # (B,) current events
        negatives = rng.choice(train.n_items, cfg.n_sample, p=p)        # (n_sample,)
        touched.append(np.unique(np.concatenate([items[pos], items[pos + 1], negatives])).size)
    K = int(np.median(touched))
    Y, acc, mom = (rng.standard_normal((train.n_items, H), dtype=np.float32) for _ in range(3))
    acc = np.abs(acc)
    rows = np.sort(rng.choice(train.n_items, K, replace=False)).astype(np.int64)
    GY = rng.standard_normal((K, H), dtype=np.float32)
    W = [rng.standard_normal((1, H * 6 * H), dtype=np.float32) for _ in range(3)]
    W[1] = np.abs(W[1])
    one = np.zeros(1, dtype=np.int64)
    GW = rng.standard_normal((1, H * 6 * H), dtype=np.float32)

    def passes() -> float:
        return per_step * (
            median_ms(lambda: adagrad_rows(Y, acc, mom, rows, GY, 0.05, 0.15, 1e-6))
            + median_ms(lambda: adagrad_rows(W[0], W[1], W[2], one, GW, 0.05, 0.15, 1e-6)))

    before = (products_ms(products, per_step), passes())
    official = bg.Official(official_path, train, DIGINETICA)
    settle()
    wall, _ = official.epoch()
    other_ms = 1e3 * wall / len(epoch)
    after = (products_ms(products, per_step), passes())
    print(f"\nGRU4Rec DIGINETICA: {len(epoch)} steps an epoch ({per_step * len(epoch):.0f} "
          f"full-step equivalents), {K} item rows touched a step (median over 50 steps); "
          f"the official code's epoch: {wall:.1f} s")
    report("GRU4Rec DIGINETICA", products, [(*before, other_ms), (*after, other_ms)],
           "official", per_step=per_step)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=["narm", "multvae", "gru4rec-diginetica"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=30, help="NARM batches timed a round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (NARM, Mult-VAE)")
    ap.add_argument("--official", default="", help="a checkout of the official GRU4Rec code")
    args = ap.parse_args()
    # As nprec.train.fit does. The allocator's setting is the process's, so the
    # PyTorch side has it too; the BLAS timeout is OpenBLAS's, which PyTorch does not use.
    prepare_process()
    if torch is None:
        sys.exit("bench_floor needs PyTorch: pip install nprec[bench]")
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print(f"threads: {args.threads} (OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}), float32")
    if "narm" in args.only:
        floor_narm(args.batches, args.rounds)
    if "multvae" in args.only:
        floor_multvae(args.rounds)
    if "gru4rec-diginetica" in args.only:
        if not args.official:
            print("\nGRU4Rec DIGINETICA: skipped (it compares with the official code: --official)")
        else:
            floor_gru4rec(args.official)


if __name__ == "__main__":
    main()
