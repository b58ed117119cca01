"""Check every kernel against its NumPy twin at realistic sizes, then time both.

    python benchmarks/bench_kernels.py [--repeat 5] [--only NAME ...]

NAME is a kernel (all its cases) or one case ("sampled_loss:digi").

Sizes are those of the real workloads: an NCF epoch on MovieLens-1M (6,040 users, 3,706
items, ~1M entries, 4 negatives per entry), GRU4Rec on YooChoose-sized data (37k items,
2,048 shared negatives, hidden 100), NARM/GRU4Rec session counts of YooChoose 1/64, top-20
lists for 512 users over 37k items. The model kernels take one mini-batch: GRU4Rec steps as
on rsc15 (32 rows, hidden 100) and on DIGINETICA (128 rows, hidden 512; case suffix
`:digi`), NARM's 512 prefixes over YooChoose 1/64's 17,376 items (D=50, H=100), 500 ML-1M
users for the autoencoders (hidden 600), NCF's 256 x 5 examples, MF's 1,024; the parser
takes one 16 MiB block of a ratings file. The data are synthetic with the same shapes and
a popularity skew. Each kernel is first checked against its twin on these inputs (identical
integers, floats within rounding), then both are timed (best of --repeat runs, after one
warm-up call that also compiles), side by side in one process. The thread count is Numba's;
the speed-up is of wall times. The CPU columns (process time, summed over threads) help to
read a run on a shared machine: a high load average inflates wall times, parallel ones most.
Last, one epoch of each sampler of `nprec.samplers` is timed on the same synthetic data.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import time
from functools import partial

import numba
import numpy as np

from nprec.data import Interactions, Sessions
from nprec.data.fields import BLOCK_BYTES
from nprec.kernels import (
    PAIRS,
    attention_rows_forward,
    attention_rows_forward_ref,
    gru_sequence_forward,
    gru_sequence_forward_ref,
    gru_train_forward,
    gru_train_forward_ref,
)
from nprec.kernels.parsing import DECIMAL, INTEGER
from nprec.models.baselines import SKNN
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
    """name -> (size description, arguments) at realistic sizes; a kernel's further cases
    are named "kernel:variant"."""
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
    table = {
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
    # From a child generator: the cases above and the sampler epochs keep their data.
    table.update(_model_cases(rng.spawn(1)[0], lengths, ends, cdf))
    return table


def _model_cases(rng, lengths, ends, cdf):
    """The evaluation, parsing and model kernels; sessions as in `cases` (YooChoose 1/64-like,
    items drawn from `cdf`)."""
    f32 = np.float32
    V = cdf.size
    starts = ends - lengths
    items = np.searchsorted(cdf, rng.random(ends[-1])).astype(np.int32)   # (N,) skewed
    in_session = np.arange(ends[-1]) - np.repeat(starts, lengths)       # (N,) 0-based
    session_of = np.repeat(np.arange(lengths.size), lengths)            # (N,)
    # 512 prefixes (an event and the events before it in its session), longest first: the
    # S-KNN batch and NARM's.
    last = np.sort(rng.choice(np.flatnonzero(in_session > 0), 512))
    last = last[np.argsort(-in_session[last], kind="stable")]
    pre_len = in_session[last]                                          # (512,) >= 1
    pre_ptr = np.concatenate([[0], np.cumsum(pre_len)])
    pre_items = np.concatenate([items[a - n:a] for a, n in zip(last, pre_len, strict=True)])
    sknn = SKNN(k=500, sample_size=1000, similarity="cosine").fit(
        Sessions(np.concatenate([[0], ends]), items, V))
    # Autoencoders: ML-1M ratings >= 4, a batch of 500 users, input rows L2-normalised.
    ae_indptr, ae_indices = _csr(rng, 500, 3500, 500 * 95)
    ae_n = np.diff(ae_indptr)
    ae_data = np.repeat(1.0 / np.sqrt(ae_n), ae_n).astype(f32)
    # NARM on YooChoose 1/64: D=50, H=100, 17,376 items.
    Vn, D, H = 17_376, 50, 100
    T = int(pre_len[0])
    mask = np.arange(T)[None, :] < pre_len[:, None]                     # (512, T)
    x = (rng.standard_normal((512, T, D)) * mask[..., None]).astype(f32)
    narm_gru = (x, mask, np.zeros((512, H), f32), *_gru_weights(rng, D, H))
    hs = (rng.standard_normal((512, T, H)) * mask[..., None]).astype(f32)
    A1, A2 = 0.1 * rng.standard_normal((2, H, H), dtype=f32)
    narm_att = (hs, hs[:, -1].copy(), mask, A1, A2, (0.1 * rng.standard_normal(H)).astype(f32),
                rng.standard_normal((512, H), dtype=f32))
    # GRU4Rec's session-state input: 32 rows at random events (of long sessions, mostly).
    pos = rng.integers(0, ends[-1], 32)
    table = {
        # One next-item target per row. The twin takes ~1 s a row here (for each cutoff k,
        # k + 1 Python loops over the row's ~37k tie groups): 4 rows, not an eval batch's 512.
        "ranking_metrics": (f"B=4 (twin: 1 s a row), V={V}, k=1,5,10,20",
                            (rng.standard_normal((4, V)).astype(f32), np.arange(5),
                             rng.integers(0, V, 4), np.zeros(5, np.int64),
                             np.zeros(0, np.int64), np.array([1, 5, 10, 20]))),
        "sknn_scores": (f"512 prefixes, {lengths.size:,} sessions, k=500, s=1000",
                        (pre_ptr, pre_items.astype(np.int64), np.ones(pre_items.size),
                         sknn.index, np.ones(int(pre_len.max()) + 1), 500, 1000, 1)),
        "parse_numeric_fields": _ratings_block(rng),
        "csr_matmul": (f"X (500, 3500) nnz={ae_indices.size:,}, H=600",
                       (ae_indptr, ae_indices, ae_data,
                        (0.05 * rng.standard_normal((3500, 600))).astype(f32))),
        "csr_t_matmul": (f"Xᵀ dY, X (500, 3500) nnz={ae_indices.size:,}, H=600",
                         (ae_indptr, ae_indices, ae_data,
                          rng.standard_normal((500, 600)).astype(f32), 3500)),
        # NCF: 256 positives with 4 negatives each; MF (Rendle): 1,024 examples, 1 in 9
        # positive.
        "bce_output": ("NeuMF f=8: B=1280, F=16",
                       ((0.5 * rng.standard_normal((1280, 16))).astype(f32),
                        rng.standard_normal(16).astype(f32), 0.1,
                        np.tile(np.array([1, 0, 0, 0, 0], f32), 256))),
        "logistic_mf": ("MF (Rendle): B=1024, D=63, λ=0.005",
                        (*(0.1 * rng.standard_normal((2, 1024, 63))).astype(f32),
                         *(0.1 * rng.standard_normal((2, 1024))).astype(f32), 0.1,
                         (rng.random(1024) < 1 / 9).astype(f32), 0.005)),
        "add_bias_relu": ("MLP f=64, 1st layer: (1280, 256)",
                          (rng.standard_normal((1280, 256)).astype(f32),
                           rng.standard_normal(256).astype(f32))),
        "relu_bias_grad": ("MLP f=64, 1st layer: (1280, 256)",
                           (rng.standard_normal((1280, 256)).astype(f32),
                            np.maximum(rng.standard_normal((1280, 256)), 0).astype(f32))),
        "session_state": (f"B=32 rows, {ends[-1]:,} events, decay 0.9",
                          (items, starts[session_of[pos]], pos, 0.9)),
        "softmax_ce_rows": (f"B=512, V={Vn}, scale 1/512",
                            ((3 * rng.standard_normal((512, Vn))).astype(f32),
                             rng.integers(0, Vn, 512), 1 / 512)),
        "softmax_counts_rows": ("Mult-VAE ML-1M: B=500, V=3500, 95 clicks/row",
                                (rng.standard_normal((500, 3500)).astype(f32),
                                 np.arange(0, 501 * 95, 95), rng.integers(0, 3500, 500 * 95),
                                 np.ones(500 * 95), 1 / 500)),
        "bilinear_scores_into": (f"B=512, V={Vn}, D={D}, C={2 * H}",
                                 (rng.standard_normal((512, 2 * H)).astype(f32),
                                  (0.1 * rng.standard_normal((Vn, D))).astype(f32),
                                  (0.1 * rng.standard_normal((D, 2 * H))).astype(f32),
                                  np.zeros((512, Vn), f32))),
        "gru_sequence_forward": (f"B=512 prefixes, T={T}, D={D}, H={H}", narm_gru),
        "attention_rows_forward": (f"B=512 prefixes, T={T}, H={H}", narm_att[:-1]),
        "attention_rows_backward": (f"B=512 prefixes, T={T}, H={H}",
                                    (narm_att[-1], attention_rows_forward(*narm_att[:-1])[1],
                                     attention_rows_forward_ref(*narm_att[:-1])[1])),
        "gru_sequence_backward": (f"B=512 prefixes, T={T}, D={D}, H={H}",
                                  (rng.standard_normal((512, T, H)).astype(f32),
                                   gru_sequence_forward(*narm_gru)[1],
                                   gru_sequence_forward_ref(*narm_gru)[1])),
    }
    # GRU4Rec steps: rsc15 (cross-entropy with logQ, B=32, H=100, sample_alpha 0.5, dropout
    # 0.4) and DIGINETICA (BPR-max, bpreg 0.9, ELU 1, B=128, H=512, 43,097 items, alpha 0.3,
    # dropout 0.3); 2,048 negatives each, constrained embedding (input = output rows).
    for suffix, B, H, Vg, alpha, keep, loss in (("", 32, 100, V, 0.5, 0.6, "cross-entropy"),
                                                (":digi", 128, 512, 43_097, 0.3, 0.7,
                                                 "bpr-max")):
        S, by, cols, log_q = _sampled_scores(rng, B, Vg, 2048, alpha)
        options = ((log_q, 0.0, 0.0, 1 / B) if loss == "cross-entropy"
                   else (None, 0.9, 1.0, 1 / B))
        step = (np.tanh(rng.standard_normal((B, H))).astype(f32),
                np.tanh(rng.standard_normal((B, H))).astype(f32), *_gru_weights(rng, H, H),
                ((rng.random((B, H)) < keep) / keep).astype(f32))
        dout = rng.standard_normal((B, H)).astype(f32)
        table.update({
            f"sampled_loss{suffix}": (f"B={B}, M={cols.size:,}, K={S.shape[1]:,}, {loss}",
                                      (S, by, cols, loss, *options)),
            f"gru_train_forward{suffix}": (f"B={B}, H={H}, dropout {1 - keep:.1f}", step),
            f"gru_train_backward{suffix}": (f"B={B}, H={H}, dropout {1 - keep:.1f}",
                                            (dout, gru_train_forward(*step)[1],
                                             gru_train_forward_ref(*step)[1])),
        })
    return table


def _gru_weights(rng, D, H):
    """W (D, 3H), U_zr (H, 2H), U_h (H, H), b (3H,) in float32, pre-activations of order 1."""
    return ((rng.standard_normal((D, 3 * H)) / np.sqrt(D)).astype(np.float32),
            (rng.standard_normal((H, 2 * H)) / np.sqrt(H)).astype(np.float32),
            (rng.standard_normal((H, H)) / np.sqrt(H)).astype(np.float32),
            (0.1 * rng.standard_normal(3 * H)).astype(np.float32))


def _sampled_scores(rng, B, V, n_sample, alpha):
    """One GRU4Rec step's (S, by, cols, log_q): targets and inputs drawn by support, the
    negatives by support^alpha; K unique items, the inputs' rows among them."""
    support = np.minimum(rng.zipf(1.3, V), 100_000).astype(np.float64)  # (V,) clicks
    targets = rng.choice(V, B, p=support / support.sum())
    inputs = rng.choice(V, B, p=support / support.sum())
    negatives = rng.choice(V, n_sample, p=support**alpha / (support**alpha).sum())
    u, where = np.unique(np.concatenate([targets, negatives, inputs]), return_inverse=True)
    cols = where[:B + n_sample]                                         # (M,)
    log_q = np.log(np.concatenate([support[targets], support[negatives]**alpha]))
    return ((2 * rng.standard_normal((B, u.size))).astype(np.float32),  # (B, K)
            (0.1 * rng.standard_normal(u.size)).astype(np.float32), cols,
            log_q.astype(np.float32))


def _ratings_block(rng):
    """(size, args) of one reader block (BLOCK_BYTES) of a MovieLens-20M-style ratings.csv:
    user,item,rating,timestamp with half-star ratings, users ascending."""
    n = BLOCK_BYTES // 24                                               # lines: ~28 bytes each
    users = np.sort(rng.integers(1, 138_494, n))
    text = "".join(f"{u},{i},{r / 2},{t}\n" for u, i, r, t in zip(
        users.tolist(), rng.integers(1, 131_263, n).tolist(), rng.integers(1, 11, n).tolist(),
        rng.integers(789_652_009, 1_427_784_002, n).tolist(), strict=True)).encode()
    buf = np.frombuffer(text[:text.rfind(b"\n", 0, BLOCK_BYTES) + 1], dtype=np.uint8)
    lines = int(np.count_nonzero(buf == 0x0A))
    return (f"ratings.csv block: {buf.size / 2**20:.0f} MiB, {lines:,} lines",
            (buf, ord(","), np.array([INTEGER, INTEGER, DECIMAL, DECIMAL])))


def _forward_output(kernel, *args):
    """A forward kernel's output without its cache: the twins' caches differ in layout by
    design, the backward cases use each its own."""
    return kernel(*args)[0]


def _on_own_cache(kernel, dout, cache_fast, cache_ref):
    """A backward kernel on the cache of its own forward twin (both built in `cases`)."""
    return kernel(dout, cache_ref if kernel.__name__.endswith("_ref") else cache_fast)


def _sampled_loss(kernel, S, by, cols, loss, log_q, bpreg, elu_param, scale):
    return kernel(S, by, cols, loss, log_q=log_q, bpreg=bpreg, elu_param=elu_param,
                  scale=scale)


# How a kernel is called when not as kernel(*args): kernel, *args -> what is compared.
CALLS = {
    "sampled_loss": _sampled_loss,
    "gru_train_forward": _forward_output,
    "gru_train_backward": _on_own_cache,
    "gru_sequence_forward": _forward_output,
    "gru_sequence_backward": _on_own_cache,
    "attention_rows_forward": _forward_output,
    "attention_rows_backward": _on_own_cache,
}


# Kernels whose float results are compared with an atol of 1e-5 times each array's largest
# magnitude instead of 1e-6. gru_sequence_backward: dW, dU_zr, dU_h and db are float32 sums
# over T·B = 8,704 rows, taken time-major by the kernel and batch-major by the layer; an entry
# whose terms cancel keeps their rounding (here 8e-5 at |dW| up to 165, 1.3e-4 at |db| up to
# 156). attention_rows_backward: dA2 likewise sums B·T rows.
SCALED_ATOL = {"gru_sequence_backward", "attention_rows_backward"}


def _same(a, b, scaled: bool = False) -> bool:
    """Equal; floats (arrays and Python floats) within rtol 1e-5 and atol 1e-6, or with
    `scaled` an atol of 1e-5 times the array's largest magnitude."""
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y, scaled)
                                        for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return False
        if np.issubdtype(a.dtype, np.floating):
            atol = 1e-5 * float(np.nanmax(np.abs(b), initial=0.0)) if scaled else 1e-6
            return bool(np.allclose(a, b, rtol=1e-5, atol=atol, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6) or (math.isnan(a)
                                                                 and math.isnan(b))
    return a == b


def check(fast, ref, args, scaled: bool = False) -> bool:
    """Same results and same in-place effects on private copies of the arguments."""
    a, b = copy.deepcopy(args), copy.deepcopy(args)
    ok = _same(fast(*a), ref(*b), scaled)
    return ok and all(_same(x, y, scaled) for x, y in zip(a, b, strict=True)
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
    parser.add_argument("--only", nargs="*", default=None,
                        help="kernel names (all their cases) or case names to run")
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
        # A kernel's cases: its name, then "name:variant" for other workloads.
        names = [case for case in table if case.split(":")[0] == name
                 and (not args.only or name in args.only or case in args.only)]
        if not names and (not args.only or name in args.only):
            print(f"{name:<27} (no benchmark case)")
        call = CALLS.get(name)
        fast_call, ref_call = (fast, ref) if call is None else (partial(call, fast),
                                                                partial(call, ref))
        for case in names:
            size, kargs = table[case]
            ok = check(fast_call, ref_call, kargs, name in SCALED_ATOL)  # compiles too
            t_fast, c_fast = best_time(fast_call, kargs, args.repeat)
            t_ref, c_ref = best_time(ref_call, kargs, args.repeat)
            print(f"{case:<27} {size:<46} {'ok' if ok else 'FAIL':>5} {t_fast:8.2f} "
                  f"{t_ref:8.2f} {t_ref / t_fast:7.1f}x {c_fast:8.2f} {c_ref:8.2f}",
                  flush=True)
            if not ok:
                failed.append(case)
    print(f"Numba threading layer: {numba.threading_layer()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.no_samplers and not args.only:
        sampler_epochs(rng, max(1, args.repeat // 2))
    if failed:
        raise SystemExit(f"fast kernel differs from its twin: {', '.join(failed)}")


if __name__ == "__main__":
    main()
