"""NARM in nprec against a PyTorch twin: same numbers first, then seconds per epoch.

    python benchmarks/bench_narm.py [--data yoochoose1_64|diginetica|synthetic]
                                    [--batches 60] [--threads 2] [--skip-check] [--only nprec]

1. Correctness: the twin with nprec's exact GRU cell (reset gate applied before U_h, as in
   Cho et al. 2014 and the official Theano NARM) and nprec's initial parameters copied in,
   in float64, on one padded batch with nprec's dropout masks: loss and every parameter
   gradient must agree to 1e-9.
2. Speed: the same training batches (nprec's sampler: shuffled, length-bucketed prefix
   batches of 512, D = 50, H = 100, full softmax over all items) through one training step
   each (forward, backward, Adam lr 1e-3), float32, the same thread count for BLAS, Numba and
   PyTorch. Blocks of 5 batches alternate between the two so both see the same machine load,
   each block after an untimed pause (benchmarks/_settle.py: the other side's BLAS threads
   keep spinning for a while after their last product).
   The PyTorch twin is written as a PyTorch user would write it: `nn.GRU` on a packed
   sequence (cuDNN-style cell, reset gate after U_h: the same cost), `F.dropout`,
   `F.cross_entropy`, `torch.optim.Adam`. Its decoder is timed in two product orders:
     same: scores = (c Bᵀ) Eᵀ, nprec's order (B·2H·D + B·D·V multiply-adds);
     port: scores = c (E Bᵀ)ᵀ, the order of the common PyTorch port
           (Wang-Shuo/Neural-Attentive-Session-Based-Recommendation-PyTorch), ~4x the work.
   Seconds per epoch are the mean seconds per batch times the epoch's batch count
   (`--batches 0` times a whole epoch). The paired ratio is the median over the blocks of
   each block's ratio (benchmarks/_result.py).

After the speed report, one `RESULT model=... nprec_s=... other_s=... ratio=...` line per
pair timed (format in benchmarks/_result.py): run_all.py gathers them into RESULTS.md's table.

torch is an optional extra (`pip install nprec[bench]`); `--skip-check --only nprec` times
nprec alone without it (tests/benchmarks/test_bench_smoke.py runs it so) and prints no RESULT
line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
from _result import paired_ratio, print_result
from _settle import settle

from nprec.data.containers import Sessions
from nprec.data.session_readers import read_sessions
from nprec.data.synthetic import synthetic_sessions
from nprec.models import narm
from nprec.optim import Adam
from nprec.train import prepare_process

try:
    import torch
    import torch.nn.functional as F
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "session"


def load_sessions(name: str) -> Sessions:
    """Training sessions of an SR-GNN set, or synthetic sessions."""
    if name == "synthetic":
        return synthetic_sessions(30000, 20000, seed=0)
    return read_sessions(DATA / name / "train_sessions.txt.gz")[0]


class TorchNARM(torch.nn.Module if torch else object):
    """NARM in PyTorch with the same parameters as `nprec.models.narm.Model`."""

    def __init__(self, n_items: int, D: int, H: int, cell: str = "nn") -> None:
        super().__init__()
        self.H, self.cell = H, cell
        self.E = torch.nn.Parameter(torch.empty(n_items, D))
        self.A1 = torch.nn.Parameter(torch.empty(H, H))
        self.A2 = torch.nn.Parameter(torch.empty(H, H))
        self.v = torch.nn.Parameter(torch.empty(H))
        self.Bm = torch.nn.Parameter(torch.empty(D, 2 * H))
        if cell == "nn":
            self.gru = torch.nn.GRU(D, H, batch_first=True)
        else:   # nprec's packing: W (D, 3H) = [W_z|W_r|W_h], U_zr (H, 2H), U_h (H, H), b (3H,)
            self.W = torch.nn.Parameter(torch.empty(D, 3 * H))
            self.U_zr = torch.nn.Parameter(torch.empty(H, 2 * H))
            self.U_h = torch.nn.Parameter(torch.empty(H, H))
            self.b = torch.nn.Parameter(torch.empty(3 * H))

    def load_nprec(self, params: dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name in params:
                    p.copy_(torch.from_numpy(params[name]))

    def _cell_gru(self, x, mask):
        """nprec's GRU: h = h + z (tanh(x W_h + (r h) U_h + b_h) - h); padded steps carry h."""
        B, T, _ = x.shape
        H = self.H
        a = x @ self.W + self.b                                         # (B, T, 3H)
        h = x.new_zeros(B, H)
        hs = []
        for t in range(T):
            zr = torch.sigmoid(a[:, t, :2 * H] + h @ self.U_zr)
            z, r = zr[:, :H], zr[:, H:]
            cand = torch.tanh(a[:, t, 2 * H:] + (r * h) @ self.U_h)
            h = torch.where(mask[:, t, None], h + z * (cand - h), h)
            hs.append(h)
        return torch.stack(hs, 1), h

    def forward(self, items, mask, lengths, targets, emb_mask=None, ctx_mask=None,
                order: str = "same"):
        x = F.embedding(items, self.E)                                  # (B, T, D)
        x = x * emb_mask if emb_mask is not None else F.dropout(x, 0.25, self.training)
        if self.cell == "nn":
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, h_n = self.gru(packed)
            hs, _ = pad_packed_sequence(out, batch_first=True, total_length=items.shape[1])
            c_g = h_n[0]                                                # (B, H)
        else:
            hs, c_g = self._cell_gru(x, mask)
        S = torch.sigmoid((c_g @ self.A1)[:, None, :] + hs @ self.A2)   # (B, T, H)
        e = (S @ self.v).masked_fill(~mask, float("-inf"))              # (B, T)
        alpha = torch.softmax(e, dim=1)
        c_l = (alpha[:, :, None] * hs).sum(1)                           # (B, H)
        c = torch.cat([c_l, c_g], 1)                                    # (B, 2H)
        c = c * ctx_mask if ctx_mask is not None else F.dropout(c, 0.5, self.training)
        if order == "same":
            scores = (c @ self.Bm.T) @ self.E.T                         # (B, V)
        else:
            scores = c @ (self.E @ self.Bm).T                           # (B, V)
        return F.cross_entropy(scores, targets)


def check_against_twin() -> None:
    """Loss and every gradient of nprec and the exact-cell twin agree in float64."""
    rng = np.random.default_rng(0)
    V, D, H = 40, 6, 5
    model = narm.Model(narm.Config(dim_proj=D, hidden_units=H), 0, V, rng=rng,
                       dtype=np.float64)
    for p in model.params.values():
        p += 0.2 * rng.standard_normal(p.shape)
    sessions = Sessions.from_lists([list(rng.integers(0, V, n)) for n in (2, 5, 1, 7, 3)], V)
    batch = next(iter(narm.Model(narm.Config(dim_proj=D, hidden_units=H, batch_size=64), 0,
                                 V, rng=rng, dtype=np.float64).batches(sessions, rng)))
    loss, cache = model.forward(batch)
    grads = model.backward(cache)
    twin = TorchNARM(V, D, H, cell="exact").double()
    twin.load_nprec(model.params)
    t = torch.from_numpy
    tloss = twin(t(batch.items), t(batch.mask), t(batch.mask.sum(1)), t(batch.targets),
                 t(batch.emb_mask), t(batch.ctx_mask))
    tloss.backward()
    worst = abs(float(loss) - tloss.item())
    for name, p in twin.named_parameters():
        worst = max(worst, float(np.abs(p.grad.numpy() - np.asarray(grads[name])).max()))
    print(f"check: nprec vs PyTorch twin (float64, exact cell), loss {float(loss):.6f}, "
          f"largest difference over loss and {len(grads)} gradients {worst:.2e}")
    if worst > 1e-9:
        sys.exit("check FAILED: nprec and the PyTorch twin disagree")


def time_side_by_side(sessions: Sessions, n_batches: int, clock, block: int = 5,
                      orders: tuple[str, ...] = ("same", "port")
                      ) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Seconds per epoch of nprec and the two twins (module docstring), batches alternating
    in blocks; and each side's seconds block by block (the rounds of the paired ratio).
    orders: the twins' decoder orders to time (none: nprec alone, without PyTorch)."""
    cfg = narm.Config()
    model = narm.Model(cfg, 0, sessions.n_items, rng=np.random.default_rng(0))
    epoch = model.batches(sessions, np.random.default_rng(1))
    total = len(epoch)
    batches = iter(epoch)
    twins = {}
    for order in orders:
        twin = TorchNARM(sessions.n_items, cfg.dim_proj, cfg.hidden_units)
        twin.load_nprec(model.params)
        twins[order] = (twin, torch.optim.Adam(twin.parameters(), lr=cfg.learning_rate))
    opt = Adam(cfg.learning_rate)
    times = {"nprec": [], **{f"torch {order}": [] for order in orders}}
    blocks = {name: [] for name in times}

    def step_nprec(b):
        loss, cache = model.forward(b)
        opt.step(model.params, model.backward(cache))

    def step_torch(b, order):
        twin, topt = twins[order]
        t = torch.from_numpy
        topt.zero_grad(set_to_none=True)
        loss = twin(t(b.items), t(b.mask), t(b.mask.sum(1)), t(b.targets), order=order)
        loss.backward()
        topt.step()

    todo = total - 1 if n_batches == 0 else min(n_batches, total - 1)
    warm = next(batches)                       # compiles the kernels; not timed
    step_nprec(warm)
    for order in twins:
        step_torch(warm, order)
    done = 0
    while done < todo:
        chunk = []
        settle()
        for _ in range(min(block, todo - done)):
            # nprec draws its dropout masks while making a batch: part of its step.
            t0 = clock()
            b = next(batches)
            step_nprec(b)
            times["nprec"].append(clock() - t0)
            chunk.append(b)
        for order in twins:
            settle()
            for b in chunk:
                t0 = clock()
                step_torch(b, order)
                times[f"torch {order}"].append(clock() - t0)
        done += len(chunk)
        for name, ts in times.items():
            blocks[name].append(sum(ts[-len(chunk):]))
    threads = torch.get_num_threads() if twins else numba.get_num_threads()
    print(f"speed: {done} training batches of {total} per epoch (B = {cfg.batch_size}, "
          f"V = {sessions.n_items}), {threads} threads, float32, "
          f"{'CPU' if clock is time.process_time else 'wall'} time")
    # The mean, not the median: the few batches of long prefixes cost many GRU steps, and an
    # epoch pays for every batch.
    ours = np.mean(times["nprec"])
    for name, ts in times.items():
        mean = np.mean(ts)
        print(f"  {name:11s} {1e3 * mean:8.1f} ms/batch  {mean * total:8.1f} s/epoch"
              + ("" if name == "nprec" else f"   nprec / {name} = {ours / mean:.2f}, "
                 f"paired by block {paired_ratio(blocks['nprec'], blocks[name]):.2f}"))
    return {name: float(np.mean(ts)) * total for name, ts in times.items()}, blocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="yoochoose1_64",
                    choices=["yoochoose1_64", "diginetica", "synthetic"])
    ap.add_argument("--batches", type=int, default=60, help="batches timed (0 = an epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-check", action="store_true")
    ap.add_argument("--only", choices=["nprec"], default=None,
                    help="time nprec alone (no PyTorch needed; no RESULT line)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall time, or the process's CPU time (meaningful with --threads 1 "
                         "on a loaded machine: other processes' load does not count)")
    args = ap.parse_args()
    # As nprec.train.fit does. The allocator's setting is the process's, so the
    # PyTorch side has it too; the BLAS timeout is OpenBLAS's, which PyTorch does not use.
    prepare_process()
    if torch is None and not (args.only == "nprec" and args.skip_check):
        sys.exit("bench_narm needs PyTorch: pip install nprec[bench]")
    if torch is not None:
        torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        # Without it NumPy's BLAS runs as many threads as its environment says: say so,
        # rather than print a thread count the products did not run with.
        blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
        if blas != str(args.threads):
            print(f"warning: threadpoolctl is not installed and OPENBLAS_NUM_THREADS={blas}: "
                  f"NumPy's BLAS threads are not set to {args.threads} (pip install "
                  f"threadpoolctl, or set the variable)", file=sys.stderr)
    if not args.skip_check:
        check_against_twin()
    name = args.data if (args.data == "synthetic" or (DATA / args.data).is_dir()) else "synthetic"
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    epochs, blocks = time_side_by_side(load_sessions(name), args.batches, clock,
                                       orders=() if args.only == "nprec" else ("same", "port"))
    for key, other in (("torch same", "torch-twin-same"), ("torch port", "torch-twin-port")):
        if key not in epochs:
            continue
        print_result("NARM", name, args.threads, epochs["nprec"], other, epochs[key], args.clock,
                     rounds=(blocks["nprec"], blocks[key]))


if __name__ == "__main__":
    main()
