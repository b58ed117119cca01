"""NCF (GMF, MLP, NeuMF) in nprec against PyTorch twins: same numbers first, then speed.

    python benchmarks/bench_ncf.py [--data DIR] [--models gmf,mlp,neumf] [--steps 0]
                                   [--threads 2] [--blas-threads N] [--clock wall|cpu]
                                   [--skip-check] [--only nprec]

1. Correctness: each twin gets nprec's initial parameters copied in, in float64, on one
   batch with duplicate users and items: the loss and every parameter gradient must agree
   to 1e-10 (nprec's row gradients densified; NeuMF's side-by-side tables [P^G | P^M]
   compared with the twin's two embeddings).
2. Speed: one epoch of the ML-1M training pairs (994,169 pairs + 4 negatives each = 4.97
   million examples, 19,419 mini-batches of 256, the paper's settings: factors 8, layers
   [64, 32, 16, 8], Adam lr 1e-3), float32, the same batches for both. The twins are written
   as a PyTorch user writes NCF: `nn.Embedding` (dense gradients), `nn.Linear`, ReLU,
   `BCEWithLogitsLoss`, `torch.optim.Adam`, tensors made from the NumPy batches with
   `torch.from_numpy`. Blocks of 200 steps alternate between the two so both see the same
   machine load, each after an untimed pause (benchmarks/_settle.py). `--steps N` times the
   first N steps and scales to the epoch (0 = the whole epoch), after one untimed step a
   side. Threads: PyTorch's intra-op threads, Numba's threads and NumPy's OpenBLAS threads
   are all set to `--threads` (OpenBLAS to `--blas-threads` if given).

After the speed report, one `RESULT model=... nprec_s=... other_s=... ratio=...` line per
pair timed (format in benchmarks/_result.py): run_all.py gathers them into RESULTS.md's table.

torch is an optional extra (`pip install nprec[bench]`); `--skip-check --only nprec` times
nprec alone without it (tests/benchmarks/test_bench_smoke.py runs it so) and prints no RESULT
line.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
from _result import print_result
from _settle import settle

from nprec.data import read_interactions
from nprec.data.synthetic import synthetic_interactions
from nprec.layers import RowGrad
from nprec.models import gmf, mlp, neumf
from nprec.optim import Adam
from nprec.train import prepare_process

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m" / "loo_split"
MODULES = {"gmf": gmf, "mlp": mlp, "neumf": neumf}
NAMES = {"gmf": "GMF", "mlp": "MLP", "neumf": "NeuMF"}


def openblas_threads(n: int | None = None) -> str:
    """NumPy's OpenBLAS thread count, read from (and optionally set in) the library."""
    pattern = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in glob.glob(pattern):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_%s_num_threads64_", "openblas_%s_num_threads64_",
                     "openblas_%s_num_threads"):
            if hasattr(lib, name % "get"):
                if n is not None:
                    getattr(lib, name % "set")(int(n))
                return str(getattr(lib, name % "get")())
    return os.environ.get("OPENBLAS_NUM_THREADS", "unknown")


class TorchNCF(torch.nn.Module if torch else object):
    """GMF, MLP or NeuMF as a PyTorch user writes them."""

    def __init__(self, kind: str, n_users: int, n_items: int, factors: int,
                 layers: list[int]) -> None:
        super().__init__()
        nn = torch.nn
        self.gmf, self.mlp = kind in ("gmf", "neumf"), kind in ("mlp", "neumf")
        width = 0
        if self.gmf:
            self.P_G, self.Q_G = nn.Embedding(n_users, factors), nn.Embedding(n_items, factors)
            width += factors
        if self.mlp:
            d = layers[0] // 2
            self.P_M, self.Q_M = nn.Embedding(n_users, d), nn.Embedding(n_items, d)
            self.tower = nn.ModuleList(nn.Linear(a, b)
                                       for a, b in zip(layers[:-1], layers[1:], strict=True))
            width += layers[-1]
        self.out = nn.Linear(width, 1)

    def forward(self, users, items):
        parts = []
        if self.gmf:
            parts.append(self.P_G(users) * self.Q_G(items))
        if self.mlp:
            z = torch.cat([self.P_M(users), self.Q_M(items)], dim=1)
            for layer in self.tower:
                z = torch.relu(layer(z))
            parts.append(z)
        return self.out(torch.cat(parts, dim=1)).squeeze(1)

    def pairs(self, model) -> list[tuple[str, object, np.ndarray]]:
        """(name, torch parameter, nprec array in the twin's layout) for every parameter."""
        p = model.params
        if isinstance(model, neumf.Model):
            f = model.f
            emb = [("P_G", self.P_G.weight, p["P"][:, :f]), ("Q_G", self.Q_G.weight,
                                                               p["Q"][:, :f]),
                   ("P_M", self.P_M.weight, p["P"][:, f:]), ("Q_M", self.Q_M.weight,
                                                               p["Q"][:, f:])]
        elif self.gmf:
            emb = [("P", self.P_G.weight, p["P"]), ("Q", self.Q_G.weight, p["Q"])]
        else:
            emb = [("P", self.P_M.weight, p["P"]), ("Q", self.Q_M.weight, p["Q"])]
        tower = []
        if self.mlp:
            for k, layer in enumerate(self.tower, start=1):
                tower += [(f"W_{k}", layer.weight, p[f"W_{k}"].T), (f"b_{k}", layer.bias,
                                                                      p[f"b_{k}"])]
        return emb + tower + [("h", self.out.weight, p["h"][None, :]),
                              ("b", self.out.bias, p["b"])]

    def load_nprec(self, model) -> None:
        with torch.no_grad():
            for _, param, value in self.pairs(model):
                param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _dense(g, shape) -> np.ndarray:
    return g.to_dense() if isinstance(g, RowGrad) else np.asarray(g).reshape(shape)


def check_against_twins() -> None:
    """Loss and gradients of nprec and the twins on one float64 batch (module docstring)."""
    torch.set_default_dtype(torch.float64)
    data = synthetic_interactions(7, 9, mean_items=3, min_items=2, seed=0)
    rng = np.random.default_rng(0)
    for kind, config in (("gmf", gmf.Config(factors=3)), ("mlp", mlp.Config(layers=[6, 4, 2])),
                         ("neumf", neumf.Config(factors=3, layers=[6, 4, 2]))):
        model = MODULES[kind].Model(config, data.n_users, data.n_items, rng=rng,
                                    dtype=np.float64)
        for p in model.params.values():
            p += 0.3 * rng.standard_normal(p.shape)
        users, items, labels = next(iter(model.batches(data, rng)))
        users, items, labels = users[:12], items[:12], labels[:12].astype(np.float64)
        twin = TorchNCF(kind, data.n_users, data.n_items, getattr(model, "f", 3),
                        getattr(model, "layers", [6, 4, 2]))
        twin.load_nprec(model)
        loss, cache = model.forward((users, items, labels))
        grads = model.backward(cache)
        t_loss = torch.nn.functional.binary_cross_entropy_with_logits(
            twin(torch.from_numpy(users), torch.from_numpy(items)), torch.from_numpy(labels))
        t_loss.backward()
        worst = abs(float(loss) - t_loss.item())
        mine = {name: _dense(grads[name], model.params[name].shape) for name in grads}
        if kind == "neumf":      # the twin's two tables side by side, as nprec keeps them
            f = model.f
            mine.update(P_G=mine["P"][:, :f], P_M=mine["P"][:, f:], Q_G=mine["Q"][:, :f],
                        Q_M=mine["Q"][:, f:])
        for name, param, _ in twin.pairs(model):
            ours = mine[name].T if name.startswith("W_") else mine[name]
            worst = max(worst, float(np.abs(ours.reshape(param.shape)
                                            - param.grad.numpy()).max()))
        status = "ok" if worst < 1e-10 else "MISMATCH"
        print(f"check {kind:6s} loss and {len(mine)} gradients vs PyTorch: max |diff| "
              f"{worst:.1e}  {status}")
        if worst >= 1e-10:
            sys.exit(1)
    torch.set_default_dtype(torch.float32)


def time_side_by_side(train, kinds: list[str], steps: int, clock, block: int = 200,
                      torch_side: bool = True
                      ) -> dict[str, tuple[float, float, list[float], list[float]]]:
    """Seconds per epoch of nprec and the PyTorch twin, blocks of steps alternating, and
    each side's seconds block by block (the rounds of the paired ratio). torch_side=False
    times nprec alone (no PyTorch): the twin's seconds are then nan and its blocks empty."""
    epochs = {}
    print(f"\n{'model':6s} {'steps':>6s} {'nprec s/epoch':>14s} {'torch s/epoch':>14s} "
          f"{'ratio':>6s} {'nprec ex/s':>11s} {'torch ex/s':>11s}")
    for kind in kinds:
        module = MODULES[kind]
        model = module.Model(module.Config(), train.n_users, train.n_items,
                             rng=np.random.default_rng(0))
        opt = Adam(1e-3)
        if torch_side:
            twin = TorchNCF(kind, train.n_users, train.n_items, getattr(model, "f", 8),
                            getattr(model, "layers", [64, 32, 16, 8]))
            twin.load_nprec(model)
            t_opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
            loss_fn = torch.nn.BCEWithLogitsLoss()
        batches = list(model.batches(train, np.random.default_rng(1)))
        n = len(batches) if steps <= 0 else min(steps, len(batches))
        # One untimed step a side first: the optimizers create their state and the kernels
        # load on the first step, a cost that `--steps N` would otherwise scale up to an epoch.
        _, cache = model.forward(batches[0])
        opt.step(model.params, model.backward(cache))
        if torch_side:
            users, items, labels = batches[0]
            t_opt.zero_grad()
            loss_fn(twin(torch.from_numpy(users), torch.from_numpy(items)),
                    torch.from_numpy(labels)).backward()
            t_opt.step()
        blocks = {"nprec": [], "torch": []}
        for start in range(0, n, block):
            chunk = batches[start:min(start + block, n)]
            settle()
            t0 = clock()
            for batch in chunk:
                _, cache = model.forward(batch)
                opt.step(model.params, model.backward(cache))
            blocks["nprec"].append(clock() - t0)
            if not torch_side:
                continue
            settle()
            t0 = clock()
            for users, items, labels in chunk:
                t_opt.zero_grad()
                loss = loss_fn(twin(torch.from_numpy(users), torch.from_numpy(items)),
                               torch.from_numpy(labels))
                loss.backward()
                t_opt.step()
            blocks["torch"].append(clock() - t0)
        scale = len(batches) / n
        examples = sum(b[0].size for b in batches)
        ours = sum(blocks["nprec"]) * scale
        if not torch_side:
            print(f"{kind:6s} {n:6d} {ours:14.1f} {'-':>14s} {'-':>6s} {examples / ours:11.0f} "
                  f"{'-':>11s}", flush=True)
            epochs[kind] = (ours, float("nan"), blocks["nprec"], [])
            continue
        theirs = sum(blocks["torch"]) * scale
        print(f"{kind:6s} {n:6d} {ours:14.1f} {theirs:14.1f} {ours / theirs:6.2f} "
              f"{examples / ours:11.0f} {examples / theirs:11.0f}", flush=True)
        epochs[kind] = (ours, theirs, blocks["nprec"], blocks["torch"])
    return epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA), help="directory with ml-1m.loo.train.tsv.gz "
                    "(or 'synthetic')")
    ap.add_argument("--models", default="gmf,mlp,neumf")
    ap.add_argument("--steps", type=int, default=0, help="time this many steps (0 = an epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blas-threads", type=int, default=None)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall time, or the process's CPU time (all threads)")
    ap.add_argument("--skip-check", action="store_true")
    ap.add_argument("--only", choices=["nprec"], default=None,
                    help="time nprec alone (no PyTorch needed; no RESULT line)")
    args = ap.parse_args()
    # As nprec.train.fit does. The allocator's setting is the process's, so the
    # PyTorch side has it too; the BLAS timeout is OpenBLAS's, which PyTorch does not use.
    prepare_process()
    if torch is None and not (args.only == "nprec" and args.skip_check):
        sys.exit("bench_ncf needs PyTorch: pip install nprec[bench]")
    if torch is not None:
        torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    blas = openblas_threads(args.blas_threads if args.blas_threads is not None
                            else args.threads)
    print(f"threads: torch {torch.get_num_threads() if torch else '-'}, "
          f"numba {numba.get_num_threads()}, OpenBLAS {blas}; clock {args.clock}")
    if not args.skip_check:
        check_against_twins()
    if args.data == "synthetic":
        train = synthetic_interactions(6040, 3706, mean_items=165, seed=0)
    else:
        train, _ = read_interactions(Path(args.data) / "ml-1m.loo.train.tsv.gz")
    print(f"data: {train.n_users} users, {train.n_items} items, {train.nnz} training pairs")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    epochs = time_side_by_side(train, args.models.split(","), args.steps, clock,
                               torch_side=args.only != "nprec")
    data = "synthetic" if args.data == "synthetic" else "/".join(Path(args.data).parts[-2:])
    for kind, (ours, theirs, our_blocks, their_blocks) in epochs.items():
        if not their_blocks:
            continue
        print_result(NAMES[kind], data, args.threads, ours, "torch-twin", theirs, args.clock,
                     rounds=(our_blocks, their_blocks))


if __name__ == "__main__":
    main()
