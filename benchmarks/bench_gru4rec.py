"""GRU4Rec in nprec against PyTorch: the same numbers first, then seconds per epoch.

    python benchmarks/bench_gru4rec.py [--data rsc15_100k|diginetica|yoochoose1_64|synthetic]
        [--params 'loss=cross-entropy,layers=100,batch_size=32,...'] [--epochs 2]
        [--steps 0] [--threads 2] [--official PATH] [--skip-check] [--only nprec,twin,official]

1. Correctness: a PyTorch twin of GRU4Rec written from the official algorithm, with the
   paper's GRU cell (reset gate on h_prev before U_h, as nprec), nprec's initial parameters
   copied in, in float64, fed nprec's own training steps (same negatives, same dropout
   masks): for every loss (cross-entropy with logQ, bpr-max with ELU, top1-max, top1, bpr)
   and every input mode (constrained, separate embedding, one-hot, session state) the loss
   and every parameter gradient of several consecutive steps must agree to 1e-9, and so must
   the parameters after the optimizer steps (nprec's Adagrad against the twin's own
   IndexedAdagradM).
2. Speed: whole training epochs (forward, backward, Adagrad with momentum) on the same data
   with the same settings, float32, the same thread count for BLAS, Numba and PyTorch
   (default 2), in alternating rounds so every contender sees the same machine load (each
   epoch after an untimed pause, benchmarks/_settle.py; nprec's kernels compiled first, in
   two untimed steps of a throwaway model, as the official code warms up in its own `fit`):
     nprec     nprec.models.gru4rec with nprec.optim.Adagrad
     twin      the PyTorch twin above (sparse embeddings, index_add updates), fed nprec's steps
     official  the official code (`hidasib/GRU4Rec_PyTorch_Official`, gru4rec_pytorch.py)
               when `--official PATH` points to a checkout of it; it runs its own `fit` (its
               own iterator and sample cache; its per-epoch time is the one it prints).
   Reported: median wall and CPU seconds per epoch, events per second, each PyTorch
   run's times divided by nprec's, and with two epochs or more the paired ratio (the median
   over epochs of the ratio inside each epoch's round, benchmarks/_result.py). On a shared,
   loaded machine wall time swells with the load while CPU time (of a single-threaded run)
   does not; with several threads, CPU time also counts threads spinning while they wait,
   so compare wall times then. `--steps N`
   times N steps per epoch instead of whole epochs and scales to the epoch's step count
   (the official code cannot be cut short: it always runs whole epochs).

After the speed report, one `RESULT model=... nprec_s=... other_s=... ratio=...` line per
pair timed (format in benchmarks/_result.py): run_all.py gathers them into RESULTS.md's table.

torch is an optional extra (`pip install nprec[bench]`); `--skip-check --only nprec` times
nprec alone without it (tests/benchmarks/test_bench_smoke.py runs it so). The official code
also needs pandas (< 3: it passes a pandas Series to torch.tensor) and NumPy-1 float32
arithmetic in its `compatibility_mode` init, which this script restores by casting that init
to float32.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import re
import sys
import time
import typing
from pathlib import Path

import numba
import numpy as np
from _result import paired_ratio, print_result
from _settle import settle

from nprec.config import convert
from nprec.data.containers import Sessions
from nprec.data.session_readers import read_sessions
from nprec.data.synthetic import synthetic_sessions
from nprec.models import gru4rec
from nprec.optim import Adagrad
from nprec.train import epoch_rng, init_rng, prepare_process

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "session"
FILES = {"rsc15_100k": "rsc15_100k/yoochoose-clicks-100k_train_full.txt",
         "diginetica": "diginetica/train_sessions.txt.gz",
         "yoochoose1_64": "yoochoose1_64/train_sessions.txt.gz"}
RSC15_XE = ("loss=cross-entropy,constrained_embedding=True,embedding=0,elu_param=0,layers=100,"
            "batch_size=32,dropout_p_embed=0.0,dropout_p_hidden=0.4,learning_rate=0.2,"
            "momentum=0.2,n_sample=2048,sample_alpha=0.5,bpreg=0.0,logq=1.0")


def parse_params(text: str) -> gru4rec.Config:
    """An official parameter string 'name=value,...' as a `Config` (n_epochs ignored)."""
    hints = typing.get_type_hints(gru4rec.Config)
    values = dict(pair.split("=", 1) for pair in text.split(",") if pair.strip())
    values.pop("n_epochs", None)
    return gru4rec.Config(**{k: convert(v, hints[k], k) for k, v in values.items()})


def load_sessions(name: str) -> Sessions:
    if name == "synthetic":
        return synthetic_sessions(20000, 3000, seed=0)
    return read_sessions(DATA / FILES[name])[0]


# -- the PyTorch twin --------------------------------------------------------------------------
class IndexedAdagradM:
    """Adagrad (eps 1e-6 inside the root) with momentum; sparse gradients update their rows."""

    def __init__(self, params: list, lr: float, momentum: float, eps: float = 1e-6) -> None:
        self.params, self.lr, self.momentum, self.eps = params, lr, momentum, eps
        self.acc = [torch.zeros_like(p) for p in params]
        self.mom = [torch.zeros_like(p) for p in params]

    def step(self) -> None:
        # torch.no_grad() as a context, not a decorator: the script imports without torch.
        with torch.no_grad():
            for p, acc, mom in zip(self.params, self.acc, self.mom, strict=True):
                g = p.grad
                if g is None:
                    continue
                if g.is_sparse:
                    g = g.coalesce()
                    idx, val = g.indices()[0], g.values()
                    a = acc[idx] + val * val
                    acc.index_copy_(0, idx, a)
                    upd = val / a.add_(self.eps).sqrt_() * -self.lr
                    if self.momentum > 0:
                        upd += self.momentum * mom[idx]
                        mom.index_copy_(0, idx, upd)
                    p.index_add_(0, idx, upd)
                else:
                    acc.add_(g * g)
                    upd = g / (acc + self.eps).sqrt_() * -self.lr
                    if self.momentum > 0:
                        upd = mom.mul_(self.momentum).add_(upd)
                    p.add_(upd)


class TorchGRU4Rec(torch.nn.Module if torch else object):
    """GRU4Rec in PyTorch with nprec's parameter layout and GRU cell (see the docstring)."""

    def __init__(self, model: gru4rec.Model) -> None:
        super().__init__()
        self.cfg, self.mode, self.V = model.config, model.mode, model.n_items
        self.tables = torch.nn.ModuleDict()
        self.dense = torch.nn.ParameterDict()
        for name, value in model.params.items():
            t = torch.from_numpy(value.copy())
            if name in ("Wy", "By", "E") or (name == "W0" and self.mode == "one-hot"):
                emb = torch.nn.Embedding(*(t.shape if t.ndim == 2 else (t.shape[0], 1)),
                                         sparse=True, dtype=t.dtype)
                emb.weight.data.copy_(t.reshape(emb.weight.shape))
                self.tables[name] = emb
            else:
                self.dense[name] = torch.nn.Parameter(t)

    def nprec_grads(self) -> dict[str, torch.Tensor]:
        out = {n: (e.weight.grad.to_dense() if e.weight.grad is not None
                   else torch.zeros_like(e.weight)) for n, e in self.tables.items()}
        out.update({n: p.grad for n, p in self.dense.items()})
        out["By"] = out["By"].reshape(-1)
        return out

    def values(self) -> dict[str, np.ndarray]:
        out = {n: e.weight.detach().numpy() for n, e in self.tables.items()}
        out.update({n: p.detach().numpy() for n, p in self.dense.items()})
        out["By"] = out["By"].reshape(-1)
        return out

    def lookup(self, name: str, inp) -> torch.Tensor:
        ids = torch.from_numpy(inp.ids)
        if inp.indptr is None:
            return self.tables[name](ids)
        offsets = torch.from_numpy(inp.indptr[:-1])
        weights = torch.from_numpy(inp.weights).to(self.tables[name].weight.dtype)
        return F.embedding_bag(ids, self.tables[name].weight, offsets, mode="sum",
                               sparse=True, per_sample_weights=weights)

    def cell(self, a: torch.Tensor, h: torch.Tensor, l: int) -> torch.Tensor:
        H = h.shape[1]
        zr = torch.sigmoid(a[:, :2 * H] + h @ self.dense[f"U_zr{l}"])
        z, r = zr[:, :H], zr[:, H:]
        hc = torch.tanh(a[:, 2 * H:] + (r * h) @ self.dense[f"U_h{l}"])
        return h + z * (hc - h)

    def forward(self, step) -> torch.Tensor:
        cfg = self.cfg
        tens = torch.from_numpy
        y = torch.cat([tens(step.targets), tens(step.negatives)])
        B = step.targets.size
        if self.mode == "one-hot":
            x = self.lookup("W0", step.inputs) + self.dense["b0"]
        else:
            x = self.lookup("Wy" if self.mode == "constrained" else "E", step.inputs)
            if step.mask_embed is not None:
                x = x * tens(step.mask_embed)
        for l in range(len(cfg.layers)):
            h = tens(step.h_prev[l])
            if not (l == 0 and self.mode == "one-hot"):
                x = x @ self.dense[f"W{l}"] + self.dense[f"b{l}"]
            x = self.cell(x, h, l)
            if step.mask_hidden[l] is not None:
                x = x * tens(step.mask_hidden[l])
            step.h_next.append(x.detach().numpy().copy())
        R = x @ self.tables["Wy"](y).T + self.tables["By"](y).T         # (B, M)
        return self.loss(R, step, B) / cfg.batch_size

    def loss(self, R: torch.Tensor, step, B: int) -> torch.Tensor:
        cfg = self.cfg
        M = R.shape[1]
        eye = torch.eye(B, M, dtype=R.dtype)
        if cfg.loss == "cross-entropy":
            if step.log_q is not None:
                R = R - torch.from_numpy(step.log_q).to(R.dtype)
            return -torch.sum(torch.diag(torch.log_softmax(R, dim=1)))
        if cfg.elu_param > 0:
            R = F.elu(R, cfg.elu_param)
        target = torch.diag(R)[:, None]
        if cfg.loss in ("bpr-max", "top1-max"):
            X = R.masked_fill(eye.bool(), -torch.inf)
            s = torch.softmax(X, dim=1)
            if cfg.loss == "bpr-max":
                return torch.sum(-torch.log(torch.sum(torch.sigmoid(target - R) * s, 1) + 1e-24)
                                 + cfg.bpreg * torch.sum(R * R * s, 1))
            return torch.sum(s * (torch.sigmoid(R - target) + torch.sigmoid(R * R)))
        if cfg.loss == "top1":
            per_row = (torch.mean(torch.sigmoid(R - target) + torch.sigmoid(R * R), 1)
                       - torch.sigmoid(target[:, 0] ** 2) / M)
            return torch.sum(per_row)
        return torch.sum(torch.mean(F.softplus(R - target), 1))


# -- correctness -------------------------------------------------------------------------------
def check_case(loss: str, mode: dict, decay: float, n_steps: int = 4) -> float:
    """Largest |nprec - twin| over losses, gradients and updated parameters (float64)."""
    cfg = gru4rec.Config(loss=loss, layers=[6, 5], batch_size=4, n_sample=9,
                         dropout_p_embed=0.25, dropout_p_hidden=0.2, logq=1.0, elu_param=0.5,
                         bpreg=0.7, learning_rate=0.1, momentum=0.3,
                         session_state_decay=decay, **mode)
    sessions = synthetic_sessions(60, 40, n_topics=4, successors=2, seed=3)
    model = gru4rec.Model(cfg, 0, sessions.n_items, rng=np.random.default_rng(0),
                          dtype=np.float64)
    twin = TorchGRU4Rec(model)
    opt_n = Adagrad(cfg.learning_rate, cfg.momentum, eps=1e-6)
    opt_t = IndexedAdagradM(list(twin.tables.parameters()) + list(twin.dense.parameters()),
                            cfg.learning_rate, cfg.momentum)
    worst = 0.0
    steps = iter(model.batches(sessions, np.random.default_rng(1)))
    for _ in range(n_steps):
        step = next(steps)
        loss_n, cache = model.forward(step)
        grads = model.backward(cache)
        twin_step = step._replace(h_next=[])
        twin.zero_grad()
        loss_t = twin(twin_step)
        loss_t.backward()
        worst = max(worst, abs(float(loss_n) - loss_t.item()))
        for name, g in twin.nprec_grads().items():
            mine = grads.get(name)
            mine = np.zeros(g.shape) if mine is None else (
                mine.to_dense() if hasattr(mine, "to_dense") else mine)
            worst = max(worst, float(np.abs(mine - g.numpy()).max()))
        for h_n, h_t in zip(step.h_next, twin_step.h_next, strict=True):
            worst = max(worst, float(np.abs(h_n - h_t).max()))
        opt_n.step(model.params, grads)
        opt_t.step()
        for name, value in twin.values().items():
            worst = max(worst, float(np.abs(model.params[name] - value).max()))
    return worst


def run_checks() -> None:
    modes = {"constrained": {}, "embedding": {"constrained_embedding": False, "embedding": "7"},
             "one-hot": {"constrained_embedding": False}}
    print("correctness (float64, nprec vs PyTorch twin, 4 steps with updates):")
    for loss in gru4rec.LOSSES:
        for mode_name, mode in modes.items():
            for decay in (0.0, 0.6):
                err = check_case(loss, mode, decay)
                tag = mode_name + (" + session state" if decay else "")
                print(f"  {loss:13s} {tag:30s} max |diff| {err:.1e}")
                if not err < 1e-9:
                    sys.exit(f"MISMATCH: {loss} {tag}")


# -- speed -------------------------------------------------------------------------------------
def clocks() -> np.ndarray:
    """(wall, CPU) seconds: CPU time is what a loaded shared machine does not inflate."""
    return np.array([time.perf_counter(), time.process_time()])


def _epoch(batches, steps: int, run) -> np.ndarray:
    """(wall, CPU) seconds of one epoch of `run(step)` over `batches`.

    With `steps`, only the first `steps` steps are timed and scaled up to the epoch's
    count, except for what making the first step costs beyond the others: the epoch's
    layout of session-parallel slots and its sample cache (0.25-0.35 s on the synthetic
    data), which an epoch pays once and the scaling would otherwise multiply.
    """
    n = len(batches) if not steps else min(steps, len(batches))
    it = iter(batches)
    start = clocks()
    step = next(it)                                 # the epoch's set-up, and its first step
    setup = clocks() - start
    run(step)
    for _ in range(n - 1):
        run(next(it))
    steps_time = clocks() - start - setup
    return setup + steps_time * len(batches) / n


def epoch_nprec(model, opt, train, epoch: int, steps: int) -> np.ndarray:
    """(wall, CPU) seconds of one epoch (scaled up from `steps` steps if given)."""
    def run(step):
        loss, cache = model.forward(step)
        opt.step(model.params, model.backward(cache))
    return _epoch(model.batches(train, epoch_rng(0, epoch)), steps, run)


def epoch_twin(model, twin, opt, train, epoch: int, steps: int) -> np.ndarray:
    """(wall, CPU) seconds of one epoch of the twin, fed nprec's steps (same negatives)."""
    def run(step):
        twin.zero_grad()
        twin(step).backward()
        opt.step()
    return _epoch(model.batches(train, epoch_rng(0, epoch)), steps, run)


class Official:
    """The official code's `fit`, one epoch per call, on a pandas frame of the sessions."""

    def __init__(self, path: str, train: Sessions, params: str) -> None:
        sys.path.insert(0, path)
        try:
            import pandas as pd
        except ImportError:
            sys.exit("--official needs pandas (< 3), which the official code uses")
        if int(pd.__version__.split(".")[0]) >= 3:
            sys.exit("--official needs pandas < 3 (the official code passes a pandas Series "
                     "to torch.tensor, which pandas 3 no longer allows)")
        off = importlib.import_module("gru4rec_pytorch")
        init = off.GRU4RecModel._init_numpy_weights
        off.GRU4RecModel._init_numpy_weights = (
            lambda self, shape: init(self, shape).astype("float32"))
        lengths = train.lengths()
        times = train.times if train.times is not None else np.arange(train.n_events, dtype=float)
        self.data = pd.DataFrame({"SessionId": np.repeat(np.arange(train.n_sessions), lengths),
                                  "ItemId": train.items.astype(str), "Time": times})
        self.params = dict(pair.split("=", 1) for pair in params.split(",") if pair.strip())
        self.params["n_epochs"] = "1"
        self.module = off

    def fit(self, epochs: int) -> tuple[float, str]:
        """CPU seconds of the official `fit` for `epochs` epochs, and what it printed."""
        gru = self.module.GRU4Rec(device="cpu")
        params = dict(self.params, n_epochs=str(epochs))
        start = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            gru.set_params(**params)
            gru.fit(self.data.copy())
        return time.process_time() - start, out.getvalue()

    def epoch(self) -> np.ndarray:
        """(wall, CPU) seconds of one epoch: the wall time the official code prints for its
        epoch, and the CPU time of a one-epoch fit minus that of a zero-epoch fit (setup)."""
        cpu, printed = self.fit(1)
        setup, _ = self.fit(0)
        match = re.search(r"Epoch1 --> loss: \S+ \t\(([0-9.]+)s\)", printed)
        if match is None:
            sys.exit("could not read the official code's epoch time:\n" + printed)
        return np.array([float(match.group(1)), cpu - setup])


def warm_up(cfg, train: Sessions) -> None:
    """Two training steps of a throwaway model, untimed: they compile nprec's kernels when
    Numba's cache does not hold them yet (the official code is warmed up by its own first
    `fit`), so that compiling is not timed as part of an epoch."""
    model = gru4rec.Model(cfg, 0, train.n_items, rng=init_rng(1))
    opt = Adagrad(cfg.learning_rate, cfg.momentum, eps=1e-6)
    steps = iter(model.batches(train, epoch_rng(1, 0)))
    for _ in range(2):
        loss, cache = model.forward(next(steps))
        opt.step(model.params, model.backward(cache))


def run_speed(args) -> None:
    only = args.only.split(",")
    if torch is not None:
        torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    cfg = parse_params(args.params)
    train = load_sessions(args.data)
    print(f"\nspeed: {args.data} {train}, {args.threads} threads, float32\n  {args.params}")
    model = gru4rec.Model(cfg, 0, train.n_items, rng=init_rng(0))
    opt_n = Adagrad(cfg.learning_rate, cfg.momentum, eps=1e-6)
    if "twin" in only:
        twin = TorchGRU4Rec(model).float()
        opt_t = IndexedAdagradM(list(twin.tables.parameters()) + list(twin.dense.parameters()),
                                cfg.learning_rate, cfg.momentum)
    official = Official(args.official, train, args.params) if args.official else None
    if "nprec" in only:
        warm_up(cfg, train)
    times: dict[str, list[np.ndarray]] = {"nprec": [], "twin": [], "official": []}
    for epoch in range(1, args.epochs + 1):
        if "nprec" in only:
            settle()
            times["nprec"].append(epoch_nprec(model, opt_n, train, epoch, args.steps))
        if "twin" in only:
            settle()
            times["twin"].append(epoch_twin(model, twin, opt_t, train, epoch, args.steps))
        if official is not None and "official" in only:
            settle()
            times["official"].append(official.epoch())
        print("  epoch", epoch, "  ".join(f"{k} {v[-1][0]:.1f}s (cpu {v[-1][1]:.1f}s)"
                                          for k, v in times.items() if v), flush=True)
    n_events = model.batches(train, epoch_rng(0, 1)).layout.n_pairs
    med = {k: np.median(np.array(v), axis=0) for k, v in times.items() if v}
    print(f"  median of {args.epochs} epochs (load average {os.getloadavg()[0]:.1f}):")
    for name, (wall, cpu) in med.items():
        ratio = (f"  {wall / med['nprec'][0]:.2f}x nprec's wall time, "
                 f"{cpu / med['nprec'][1]:.2f}x its CPU time") if "nprec" in med else ""
        print(f"  {name:9s} {wall:8.2f} s/epoch (cpu {cpu:7.2f} s)  "
              f"{n_events / wall:8.0f} events/s{ratio}")
    if "nprec" in med:
        for name, other in (("twin", "torch-twin"), ("official", "official")):
            if name in med:
                walls = ([t[0] for t in times["nprec"]], [t[0] for t in times[name]])
                if args.epochs >= 2:
                    print(f"  nprec / {name}, paired by epoch: {paired_ratio(*walls):.2f}")
                print_result(f"GRU4Rec({cfg.loss})", args.data, args.threads, med["nprec"][0],
                             other, med[name][0], "wall", rounds=walls)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="rsc15_100k", choices=["synthetic", *FILES])
    p.add_argument("--params", default=RSC15_XE)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=0, help="steps per epoch to time (0 = all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--official", default="", help="path to a checkout of the official code")
    p.add_argument("--only", default="nprec,twin,official")
    p.add_argument("--skip-check", action="store_true")
    args = p.parse_args()
    # As nprec.train.fit does. The allocator's setting is the process's, so the
    # PyTorch side has it too; the BLAS timeout is OpenBLAS's, which PyTorch does not use.
    prepare_process()
    # `--skip-check --only nprec` times nprec alone and runs without PyTorch.
    only = args.only.split(",")
    if torch is None and not (args.skip_check and "twin" not in only
                              and not (args.official and "official" in only)):
        sys.exit("bench_gru4rec needs PyTorch (pip install nprec[bench])")
    if not args.skip_check:
        torch.set_default_dtype(torch.float64)
        run_checks()
        torch.set_default_dtype(torch.float32)
    run_speed(args)


if __name__ == "__main__":
    main()
