"""Check every layer and loss in float32 against float64 at realistic sizes, then time them.

    python benchmarks/bench_layers.py [--repeat 7] [--only NAME ...] [--threads N] [--no-torch]

Sizes are those of the models' training steps: B=512 rows, embedding D=64, hidden H=100,
T=20 steps (sequence lengths drawn from 1..T, as padded NARM batches), V=40,000 items,
VAE latent L=200; GRU4Rec's sampled losses at B=32 and B=128 with M = B + 2048 columns.

Correctness first: each case runs forward and backward in float64 and in float32 on the
same inputs and the same upstream gradient, and the largest difference of any output or
gradient, relative to that array's largest float64 magnitude, must stay below 1e-3.
Then forward + backward in float32 is timed: one warm-up call (which also compiles the
Numba kernels), then --repeat timed calls; the table gives the best and the median in µs.
Where PyTorch has the same operation, its forward + backward (autograd, float32, same
thread count) is timed beside it in the same process. The machine may be shared: compare
columns of one run, not runs.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import time
from collections.abc import Callable

import numpy as np

from nprec import layers as nl
from nprec import losses as nloss

B, D, H, T, V, L = 512, 64, 100, 20, 40_000, 200
SAMPLED_EXTRA = 2048


def _openblas():
    """NumPy's bundled OpenBLAS library and its symbol suffix, or (None, "")."""
    pattern = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in glob.glob(pattern):
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            if hasattr(lib, f"{prefix}_get_num_threads{suffix}"):
                return lib, prefix, suffix
    return None, "", ""


def blas_threads(set_to: int | None = None) -> str:
    """Threads of NumPy's OpenBLAS, asked from (and optionally set in) the library itself."""
    lib, prefix, suffix = _openblas()
    if lib is None:
        return os.environ.get("OPENBLAS_NUM_THREADS", f"unknown (cpu_count {os.cpu_count()})")
    if set_to is not None:
        getattr(lib, f"{prefix}_set_num_threads{suffix}")(int(set_to))
    return str(getattr(lib, f"{prefix}_get_num_threads{suffix}")())


def _lengths_mask(rng: np.random.Generator, rows: int, steps: int) -> np.ndarray:
    lengths = rng.integers(1, steps + 1, rows)
    return np.arange(steps)[None, :] < lengths[:, None]                 # (rows, steps)


def cases(rng: np.random.Generator) -> list[tuple[str, str, Callable, Callable, tuple]]:
    """(name, sizes, forward, backward, float64 arguments) for every layer and loss."""
    f = rng.standard_normal
    mask = _lengths_mask(rng, B, T)
    gru_w = (0.1 * f((D, 3 * H)), 0.1 * f((H, 2 * H)), 0.1 * f((H, H)), np.zeros(3 * H))
    out = [
        ("embedding", f"N={B * T} ids of V={V}, D={D}", nl.embedding_forward,
         nl.embedding_backward, (rng.integers(0, V, B * T), 0.1 * f((V, D)))),
        ("dense", f"({B},{D}) x ({D},{H})", nl.dense_forward, nl.dense_backward,
         (f((B, D)), 0.1 * f((D, H)), np.zeros(H))),
        ("sigmoid", f"({B},{H})", nl.sigmoid_forward, nl.sigmoid_backward, (f((B, H)),)),
        ("tanh", f"({B},{H})", nl.tanh_forward, nl.tanh_backward, (f((B, H)),)),
        ("relu", f"({B},{H})", nl.relu_forward, nl.relu_backward, (f((B, H)),)),
        ("elu", f"({B},{H})", nl.elu_forward, nl.elu_backward, (f((B, H)), 0.5)),
        ("dropout", f"({B},{H}) p=0.5", nl.dropout_forward, nl.dropout_backward,
         (f((B, H)), nl.dropout_mask(rng, (B, H), 0.5, np.float64))),
        ("gru_step", f"B={B} D={D} H={H}", nl.gru_step_forward, nl.gru_step_backward,
         (f((B, D)), np.tanh(f((B, H))), *gru_w)),
        ("gru", f"B={B} T={T} D={D} H={H}, lengths 1..T", nl.gru_forward, nl.gru_backward,
         (f((B, T, D)), mask, np.zeros((B, H)), *gru_w)),
        ("attention", f"B={B} T={T} H={H}, lengths 1..T", nl.attention_forward,
         nl.attention_backward, (np.tanh(f((B, T, H))), np.tanh(f((B, H))), mask,
                                 0.1 * f((H, H)), 0.1 * f((H, H)), 0.1 * f(H))),
        ("bilinear", f"c ({B},{2 * H}), E ({V},{D})", nl.bilinear_forward,
         nl.bilinear_backward, (f((B, 2 * H)), 0.1 * f((V, D)), 0.1 * f((D, 2 * H)))),
        ("reparam", f"({B},{L})", nl.reparam_forward, nl.reparam_backward,
         (f((B, L)), 0.3 * f((B, L)), f((B, L)))),
        ("bce_with_logits", f"({B},)", nloss.bce_with_logits_forward,
         nloss.bce_with_logits_backward, (3 * f(B), rng.integers(0, 2, B).astype(float))),
        ("bpr", f"({B},)", nloss.bpr_forward, nloss.bpr_backward, (3 * f(B), 3 * f(B))),
        ("softmax_ce", f"({B},{V})", nloss.softmax_ce_forward, nloss.softmax_ce_backward,
         (3 * f((B, V)), rng.integers(0, V, B))),
        ("multinomial_nll", f"({B},{V}), ~50 clicks/row", nloss.multinomial_nll_forward,
         nloss.multinomial_nll_backward,
         (3 * f((B, V)), (rng.random((B, V)) < 50 / V).astype(float))),
        ("gaussian_kl", f"({B},{L})", nloss.gaussian_kl_forward, nloss.gaussian_kl_backward,
         (f((B, L)), 0.3 * f((B, L)))),
        ("l2_penalty", f"({B},{D})", nloss.l2_penalty_forward, nloss.l2_penalty_backward,
         (f((B, D)), 1e-4)),
    ]
    for rows in (32, 128):
        M = rows + SAMPLED_EXTRA
        R = 2 * f((rows, M))
        log_q = np.log(rng.dirichlet(np.ones(M)))
        size = f"B={rows}, M={M}"
        out += [
            (f"sampled_xe+logq/{rows}", size, nloss.sampled_xe_forward,
             nloss.sampled_xe_backward, (R, log_q)),
            (f"sampled_bpr/{rows}", size, nloss.sampled_bpr_forward,
             nloss.sampled_bpr_backward, (R,)),
            (f"sampled_top1/{rows}", size, nloss.sampled_top1_forward,
             nloss.sampled_top1_backward, (R,)),
            (f"sampled_bpr_max/{rows}", size, nloss.sampled_bpr_max_forward,
             nloss.sampled_bpr_max_backward, (R, 1.0)),
            (f"sampled_top1_max/{rows}", size, nloss.sampled_top1_max_forward,
             nloss.sampled_top1_max_backward, (R,)),
        ]
    return out


def _as32(args: tuple) -> tuple:
    return tuple(a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64
                 else a for a in args)


def _dense(g):
    return g.to_dense() if isinstance(g, nl.RowGrad) else g


def check_float32(forward: Callable, backward: Callable, args: tuple,
                  rng: np.random.Generator) -> float:
    """Largest |float32 - float64| over outputs and gradients, relative to each array's scale."""
    out64, cache64 = forward(*args)
    dout = rng.standard_normal(np.shape(out64))
    grads64 = backward(dout if np.ndim(out64) else float(dout), cache64)
    out32, cache32 = forward(*_as32(args))
    grads32 = backward(dout.astype(np.float32) if np.ndim(out32) else float(dout), cache32)
    worst = 0.0
    for a32, a64 in [(out32, out64), *zip(grads32, grads64, strict=True)]:
        if a64 is None:
            continue
        a32, a64 = np.asarray(_dense(a32)), np.asarray(_dense(a64))
        if a32.dtype != np.float32:
            raise AssertionError(f"float32 inputs gave a {a32.dtype} result")
        scale = max(float(np.max(np.abs(a64))), 1e-30)
        worst = max(worst, float(np.max(np.abs(a32 - a64))) / scale)
    return worst


def time_calls(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best and median seconds of `repeat` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def nprec_step(forward: Callable, backward: Callable, args: tuple,
               rng: np.random.Generator) -> Callable[[], object]:
    out, _ = forward(*args)
    dout = rng.standard_normal(np.shape(out)).astype(np.float32)
    dout = dout if np.ndim(out) else 1.0
    return lambda: backward(dout, forward(*args)[1])


def torch_steps(args32: dict[str, tuple]) -> dict[str, Callable]:
    """PyTorch forward + backward of the cases that have a direct equivalent."""
    import torch
    import torch.nn.functional as F

    def leaf(a):
        if not isinstance(a, np.ndarray):
            return a                                                    # a Python scalar
        return torch.tensor(a, requires_grad=a.dtype.kind == "f")

    def backprop(make_out, *arrays):
        tensors = [leaf(a) for a in arrays]

        def run():
            out = make_out(*tensors)
            out.backward(torch.ones_like(out) if out.ndim else None)
        return run

    gru = torch.nn.GRU(D, H, batch_first=True)

    def gru_out(x, mask):
        lengths = mask.sum(dim=1)
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                         enforce_sorted=False)
        return torch.nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True,
                                                      total_length=T)[0]

    makers = {
        "dense": lambda x, W, b: x @ W + b,
        "gru": gru_out,
        "bilinear": lambda c, E, Bm: (c @ Bm.T) @ E.T,
        "softmax_ce": F.cross_entropy,
        "multinomial_nll": lambda z, x: -(F.log_softmax(z, dim=1) * x).sum(dim=1).mean(),
        "bce_with_logits": F.binary_cross_entropy_with_logits,
    }
    for rows in (32, 128):
        makers[f"sampled_xe+logq/{rows}"] = (
            lambda R, log_q: F.cross_entropy(R - log_q, torch.arange(R.shape[0])))
        makers[f"sampled_bpr_max/{rows}"] = lambda R, bpreg: _torch_bpr_max(R, bpreg)
    steps = {}
    for name, make in makers.items():
        if name in args32:
            arrays = args32[name][:2] if name == "gru" else args32[name]   # x and mask only
            steps[name] = backprop(make, *arrays)
    return steps


def _torch_bpr_max(R, bpreg):
    """The official PyTorch BPR-max (softmax over negatives), as a mean over rows."""
    import torch

    hm = 1.0 - torch.eye(*R.shape, dtype=R.dtype)
    X = R * hm
    e = torch.exp(X - X.max(dim=1, keepdim=True)[0]) * hm
    s = e / e.sum(dim=1, keepdim=True)
    target = torch.diag(R)[:, None]
    return torch.mean(-torch.log(torch.sum(torch.sigmoid(target - R) * s, dim=1) + 1e-24)
                      + bpreg * torch.sum(R * R * s, dim=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--threads", type=int, help="BLAS and PyTorch threads (default: as is)")
    opts = parser.parse_args()
    rng = np.random.default_rng(0)
    selected = [c for c in cases(rng) if not opts.only or c[0] in opts.only]

    threads = blas_threads(opts.threads)
    torch_note = "not timed"
    steps = {}
    if not opts.no_torch:
        try:
            import torch
        except ImportError:
            torch_note = "not installed"
        else:
            torch.set_num_threads(int(threads) if threads.isdigit() else os.cpu_count())
            torch_note = f"{torch.__version__}, {torch.get_num_threads()} threads"
            steps = torch_steps({c[0]: _as32(c[4]) for c in selected})
    print(f"NumPy {np.__version__}, OpenBLAS threads {threads}; PyTorch {torch_note}; "
          f"best/median of {opts.repeat} calls, forward + backward, float32")

    print("\n1. float32 against float64 (max |diff| / max |float64|, limit 1e-3)")
    failed = []
    for name, _, forward, backward, args in selected:
        err = check_float32(forward, backward, args, rng)
        print(f"   {name:<22} {err:9.2e}  {'ok' if err < 1e-3 else 'FAIL'}")
        if not err < 1e-3:
            failed.append(name)
    if failed:
        raise SystemExit(f"float32 disagrees with float64 for {', '.join(failed)}: no timing")

    print("\n2. time per forward + backward call, µs")
    header = f"   {'case':<22} {'sizes':<36} {'best':>10} {'median':>10}"
    print(header + (f" {'torch best':>11} {'torch/nprec':>11}" if steps else ""))
    for name, size, forward, backward, args in selected:
        best, med = time_calls(nprec_step(forward, backward, _as32(args), rng), opts.repeat)
        line = f"   {name:<22} {size:<36} {best * 1e6:10.0f} {med * 1e6:10.0f}"
        if name in steps:
            t_best, _ = time_calls(steps[name], opts.repeat)
            line += f" {t_best * 1e6:11.0f} {t_best / best:11.2f}"
        print(line)


if __name__ == "__main__":
    main()
