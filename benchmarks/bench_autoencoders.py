"""Mult-VAE and Mult-DAE in nprec against PyTorch twins: same numbers first, then seconds
per epoch, then the throughput of the dense products.

    python benchmarks/bench_autoencoders.py [--data PATH] [--rounds 5] [--threads 2]
                                            [--models multvae,multdae] [--skip-check]
                                            [--only nprec]

1. Correctness: each twin gets nprec's initial parameters and one batch with nprec's
   dropout mask and noise, in float64; loss and every parameter gradient must agree to 1e-9.
2. Speed: one epoch over the training users of ML-1M (ratings >= 4, users with >= 5 items,
   600 validation and 600 test users held out: the split `nprec train multvae` makes with
   seed 0), batch 500, Adam lr 1e-3, float32, the same thread count for BLAS, Numba and
   PyTorch. Epochs alternate between the two so both see the same machine load (each after
   an untimed pause, benchmarks/_settle.py); the median
   epoch of `--rounds` is reported, in wall-clock and in process CPU seconds, and the median
   of the rounds' own ratios (the paired ratio, benchmarks/_result.py). The PyTorch
   twin is written as its users write it (the common port of the official notebook,
   younggyoseo/vae-cf-pytorch): the batch densified with `.toarray()`, `F.normalize`,
   `F.dropout`, `nn.Linear` layers, `log_softmax`, `torch.optim.Adam`.
3. Throughput: the products of the output layer (B, H) x (H, V) at the training shapes,
   timed inside nprec's `dense` layer and as plain NumPy `@` on the same arrays (the BLAS
   bound), and the sparse input layer's two products, in GFLOP/s (2 flops per multiply-add;
   for the sparse layer, nnz · H multiply-adds per product).

After the speed report, one `RESULT model=... nprec_s=... other_s=... ratio=...` line per
pair timed (format in benchmarks/_result.py): run_all.py gathers them into RESULTS.md's table.

torch is an optional extra (`pip install nprec[bench]`); `--skip-check --only nprec` times
nprec alone without it (tests/benchmarks/test_bench_smoke.py runs it so), prints no RESULT
line and leaves PyTorch out of the throughput table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp
from _result import paired_ratio, print_result
from _settle import settle

from nprec.data import binarize, k_core, read_interactions, strong_generalization
from nprec.layers import dense_backward, dense_forward
from nprec.layers.sparse_dense import sparse_dense_backward, sparse_dense_forward
from nprec.models import multdae, multvae
from nprec.models.multdae import DaeBatch
from nprec.models.multvae import VaeBatch
from nprec.optim import Adam
from nprec.train import prepare_process

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

ML1M = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m" / "ratings_partial"
        / "ml-1m.ratings_known.tsv.gz")
NAMES = {"multvae": "Mult-VAE", "multdae": "Mult-DAE"}


class TorchAE(torch.nn.Module if torch else object):
    """Mult-VAE (or, with vae=False, Mult-DAE) as PyTorch users write it."""

    def __init__(self, n_items: int, p_dims: list[int], vae: bool, lam: float = 0.0,
                 keep_prob: float = 0.5) -> None:
        super().__init__()
        p = list(p_dims) + [n_items]
        q = p[::-1]
        self.vae, self.lam, self.keep_prob, self.latent = vae, lam, keep_prob, p[0]
        if vae:
            q_out = q[1:-1] + [2 * q[-1]]
            self.q_layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in
                                                zip(q[:-1], q_out, strict=True))
            self.p_layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in
                                                zip(p[:-1], p[1:], strict=True))
        else:
            sizes = q + p[1:]
            self.q_layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in
                                                zip(sizes[:-1], sizes[1:], strict=True))
            self.p_layers = torch.nn.ModuleList()

    def load_nprec(self, params: dict[str, np.ndarray]) -> None:
        """Copy nprec's parameters (W is (in, out) there, (out, in) in nn.Linear)."""
        names = ([(f"W_q{i}", f"b_q{i}") for i in range(len(self.q_layers))]
                 + [(f"W_p{i}", f"b_p{i}") for i in range(len(self.p_layers))]) if self.vae \
            else [(f"W_{i}", f"b_{i}") for i in range(len(self.q_layers))]
        layers = list(self.q_layers) + list(self.p_layers)
        with torch.no_grad():
            for layer, (w, b) in zip(layers, names, strict=True):
                layer.weight.copy_(torch.from_numpy(params[w].T.copy()))
                layer.bias.copy_(torch.from_numpy(params[b].copy()))

    @staticmethod
    def _mlp(h, layers):
        for i, layer in enumerate(layers):
            h = layer(h)
            if i != len(layers) - 1:
                h = torch.tanh(h)
        return h

    def loss(self, x, beta: float, mask=None, eps=None):
        """Negative ELBO (or the DAE loss) of a dense 0/1 batch x; mask and eps optional."""
        h = F.normalize(x)
        h = h * mask if mask is not None else F.dropout(h, 1 - self.keep_prob, training=True)
        if not self.vae:
            logits = self._mlp(h, self.q_layers)
            kl = 0.0
        else:
            a = self._mlp(h, self.q_layers)
            mu, logvar = a[:, :self.latent], a[:, self.latent:]
            eps = torch.randn_like(mu) if eps is None else eps
            z = mu + eps * torch.exp(0.5 * logvar)
            logits = self._mlp(z, self.p_layers)
            kl = (0.5 * (-logvar + torch.exp(logvar) + mu ** 2 - 1)).sum(1).mean()
        nll = -(F.log_softmax(logits, 1) * x).sum(1).mean()
        reg = sum((layer.weight ** 2).sum() for layer in
                  list(self.q_layers) + list(self.p_layers)) if self.lam else 0.0
        return nll + beta * kl + self.lam * reg


def _model(name: str, n_users: int, n_items: int, dtype, seed: int = 0, **overrides):
    module = multvae if name == "multvae" else multdae
    return module.Model(module.Config(**overrides), n_users, n_items,
                        rng=np.random.default_rng(seed), dtype=dtype)


def check_against_twin() -> None:
    """Loss and gradients of nprec and the twin on one batch, float64."""
    rng = np.random.default_rng(0)
    U, V = 40, 30
    X = sp.csr_array((rng.random((U, V)) < 0.2).astype(np.float64))    # (U, V)
    X[0, 0] = 1.0
    for name, vae, overrides in (("multvae", True, {"p_dims": [5, 8]}),
                                 ("multdae", False, {"p_dims": [6], "lam": 0.01})):
        model = _model(name, U, V, np.float64, **overrides)
        keep = (rng.random(X.nnz) < 0.5) * 2.0                          # (nnz,)
        dense_mask = np.ones((U, V))
        dense_mask[X.toarray() != 0] = keep                             # same entries dropped
        if vae:
            eps = rng.standard_normal((U, model.latent))
            batch = VaeBatch(np.arange(U), X, keep, eps, 0.3)
        else:
            batch = DaeBatch(np.arange(U), X, keep)
        loss, cache = model.forward(batch)
        grads = model.backward(cache)
        twin = TorchAE(V, overrides["p_dims"], vae, lam=overrides.get("lam", 0.0)).double()
        twin.load_nprec(model.params)
        t_loss = twin.loss(torch.from_numpy(X.toarray()), 0.3 if vae else 0.0,
                           mask=torch.from_numpy(dense_mask),
                           eps=torch.from_numpy(eps) if vae else None)
        t_loss.backward()
        layers = list(twin.q_layers) + list(twin.p_layers)
        names = [k for k in model.params if k.startswith("W")]
        worst = abs(float(loss) - float(t_loss))
        for layer, w in zip(layers, names, strict=True):
            b = "b" + w[1:]
            worst = max(worst, np.abs(grads[w] - layer.weight.grad.numpy().T).max(),
                        np.abs(grads[b] - layer.bias.grad.numpy()).max())
        print(f"check {name}: loss {float(loss):.6f} vs {float(t_loss):.6f}, worst gradient "
              f"difference {worst:.1e}")
        if worst > 1e-9:
            sys.exit(f"{name}: nprec and the PyTorch twin disagree")


def load_train(path: Path):
    """The training users of the split `nprec train multvae` makes (seed 0)."""
    data, _ = read_interactions(path)
    data, _ = binarize(data, 4)
    data, _ = k_core(data, min_user=5, min_item=1)
    return strong_generalization(data, 0.1, rng=np.random.default_rng([0, 0x5C])).train


def _clock():
    return time.perf_counter(), time.process_time()


def time_epochs(train, name: str, rounds: int, torch_side: bool = True
                ) -> tuple[dict[str, tuple[float, float]], dict[str, list[float]]]:
    """Alternate whole epochs of nprec and the twin: each side's median wall and CPU seconds,
    and each side's wall seconds round by round. torch_side=False times nprec alone (no
    PyTorch; the results then have no "torch" entry)."""
    vae = name == "multvae"
    model = _model(name, train.n_users, train.n_items, np.float32)
    optimizer = Adam(1e-3)
    if torch_side:
        twin = TorchAE(train.n_items, model.config.p_dims, vae, lam=model.config.lam)
        twin.load_nprec(model.params)
        t_opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    X = train.to_csr()
    steps = [0]

    def nprec_epoch(rng):
        for batch in model.batches(train, rng):
            _, cache = model.forward(batch)
            optimizer.step(model.params, model.backward(cache))

    def torch_epoch(rng):
        order = rng.permutation(train.n_users)
        for a in range(0, order.size, 500):
            x = torch.from_numpy(X[order[a:a + 500]].toarray())
            beta = min(0.2, steps[0] / 200000) if vae else 0.0
            loss = twin.loss(x, beta)
            t_opt.zero_grad()
            loss.backward()
            t_opt.step()
            steps[0] += 1

    sides = [("nprec", nprec_epoch)] + ([("torch", torch_epoch)] if torch_side else [])
    times = {side: [] for side, _ in sides}
    for r in range(rounds + 1):                    # round 0 warms up (JIT, allocator)
        for side, run in sides:
            settle()
            w0, c0 = _clock()
            run(np.random.default_rng(r))
            w1, c1 = _clock()
            if r:
                times[side].append((w1 - w0, c1 - c0))
    med = {s: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v))
           for s, v in times.items()}
    walls = {s: [w for w, _ in v] for s, v in times.items()}
    per = " | ".join(", ".join(f"{w:.2f}" for w in v) for v in walls.values())
    if not torch_side:
        print(f"{name} epoch ({-(-train.n_users // 500)} batches of 500 users, "
              f"V={train.n_items}): nprec {med['nprec'][0]:.2f} s ({med['nprec'][1]:.2f} CPU s)"
              f"   [wall per epoch: {per}]")
        return med, walls
    print(f"{name} epoch ({-(-train.n_users // 500)} batches of 500 users, V={train.n_items}): "
          f"nprec {med['nprec'][0]:.2f} s ({med['nprec'][1]:.2f} CPU s), PyTorch "
          f"{med['torch'][0]:.2f} s ({med['torch'][1]:.2f} CPU s); ratio nprec/PyTorch "
          f"{med['nprec'][0] / med['torch'][0]:.2f} wall, "
          f"{med['nprec'][1] / med['torch'][1]:.2f} CPU, paired by round "
          f"{paired_ratio(walls['nprec'], walls['torch']):.2f} wall   [wall per epoch: {per}]")
    return med, walls


def _best(fn, reps: int = 7) -> float:
    fn()
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def throughput(train, torch_side: bool = True) -> None:
    """GFLOP/s of the output layer's products (dense layer vs bare NumPy, and PyTorch unless
    torch_side is False) and the sparse layer."""
    rng = np.random.default_rng(0)
    B, H, V = 500, 600, train.n_items
    h = rng.standard_normal((B, H), dtype=np.float32)
    W = (0.05 * rng.standard_normal((H, V))).astype(np.float32)
    b = np.zeros(V, dtype=np.float32)
    dy = rng.standard_normal((B, V), dtype=np.float32)
    gf = 2 * B * H * V / 1e9
    _, cache = dense_forward(h, W, b)
    th, tW, tdy = (torch.from_numpy(a) for a in (h, W, dy)) if torch_side else (None,) * 3
    rows = [("forward  h W         ", 1, lambda: dense_forward(h, W, b), lambda: h @ W,
             lambda: th @ tW),
            ("backward dy Wᵀ, hᵀ dy", 2, lambda: dense_backward(dy, cache),
             lambda: (dy @ W.T, h.T @ dy), lambda: (tdy @ tW.T, th.T @ tdy))]
    print(f"dense products at (B, H, V) = ({B}, {H}, {V}), best of 7, GFLOP/s:")
    for label, n, layer, bare, twin in rows:
        print(f"  {label}  nprec dense {n * gf / _best(layer):6.1f}   numpy @ "
              f"{n * gf / _best(bare):6.1f}"
              + (f"   torch {n * gf / _best(twin):6.1f}" if torch_side else ""))
    # The same dx in the other product order: OpenBLAS threads (B, V) x (V, H) poorly.
    print(f"  dx = dy Wᵀ alone: numpy dy @ W.T {gf / _best(lambda: dy @ W.T):6.1f}, "
          f"as (W @ dy.T).T {gf / _best(lambda: (W @ dy.T).T):6.1f}")
    X = train.to_csr()[np.arange(B)]                                    # (B, V) real rows
    Wi = (0.05 * rng.standard_normal((V, H))).astype(np.float32)
    dyi = rng.standard_normal((B, H), dtype=np.float32)
    _, c_sp = sparse_dense_forward(X, Wi, np.zeros(H, dtype=np.float32))
    sgf = 2 * X.nnz * H / 1e9
    t_f = _best(lambda: sparse_dense_forward(X, Wi, np.zeros(H, dtype=np.float32)))
    t_b = _best(lambda: sparse_dense_backward(dyi, c_sp))
    t_dense = _best(lambda: X.toarray() @ Wi)
    print(f"sparse input layer, {X.nnz} stored entries ({X.nnz / B:.0f} per user): forward "
          f"{t_f * 1e3:.1f} ms ({sgf / t_f:.1f} GFLOP/s on the stored entries), backward "
          f"{t_b * 1e3:.1f} ms; densified X @ W {t_dense * 1e3:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ML1M), help="ML-1M ratings_known.tsv.gz")
    ap.add_argument("--rounds", type=int, default=5, help="timed epochs per side")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="multvae,multdae")
    ap.add_argument("--skip-check", action="store_true")
    ap.add_argument("--only", choices=["nprec"], default=None,
                    help="time nprec alone (no PyTorch needed; no RESULT line)")
    args = ap.parse_args()
    # As nprec.train.fit does. The allocator's setting is the process's, so the
    # PyTorch side has it too; the BLAS timeout is OpenBLAS's, which PyTorch does not use.
    prepare_process()
    torch_side = args.only != "nprec"
    if torch is None and (torch_side or not args.skip_check):
        sys.exit("bench_autoencoders needs PyTorch: pip install nprec[bench]")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_layers import blas_threads

    if torch is not None:
        torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print(f"threads: BLAS {blas_threads(args.threads)}, Numba {numba.get_num_threads()}, "
          f"PyTorch {torch.get_num_threads() if torch else '-'}")
    if not args.skip_check:
        check_against_twin()
    train = load_train(Path(args.data))
    print(f"ML-1M training users: {train.n_users}, items {train.n_items}, "
          f"interactions {train.nnz}")
    timed = {name: time_epochs(train, name, args.rounds, torch_side)
             for name in args.models.split(",")}
    data = Path(args.data).name.removesuffix(".gz").removesuffix(".tsv")
    for name, (med, walls) in timed.items():
        if "torch" in med:
            print_result(NAMES[name], data, args.threads, med["nprec"][0], "torch-twin",
                         med["torch"][0], "wall", rounds=(walls["nprec"], walls["torch"]))
    throughput(train, torch_side)


if __name__ == "__main__":
    main()
