"""Mult-VAE's test figures from the PyTorch twin, trained on the splits nprec trains on.

    python benchmarks/accuracy_multvae_twin.py [--seeds 0,1,2,3,4] [--epochs 200]
                                               [--threads 1] [--config configs/multvae_ml1m.toml]
                                               [--init nprec|torch]

Run from the repository root (the config's data path is relative to it).

A reproduction target is a figure reached on one split; another split of the same data can
sit a few hundredths away (ML-1M's 603 test users: README, "Autoencoders on MovieLens-1M").
This script tells a split's difficulty from a model's error: for each seed it makes the
split `nprec train multvae --config CONFIG --seed S` makes (the same data settings, the
same generator), gives the twin of `bench_autoencoders.py` nprec's initial parameters for
that seed, and trains it with the config's settings (batch 500 users, Adam, input
normalised then dropped out, β annealed on the update counter), keeping the epoch of best
validation NDCG@100 as nprec does. The twin's dropout, noise and user order come from
PyTorch's generator, so the two runs share the split and the start, not the draws
(`--init torch` keeps `nn.Linear`'s own initialisation instead, as a port that forgets the
paper's Xavier initialisation would). Test
figures use nprec's evaluator (pessimistic ties, fold-in items masked). Compare them with
nprec's figures for the same seeds (the README's table).

Prints one line per seed and the mean. torch is an optional extra (`pip install nprec[bench]`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from bench_autoencoders import TorchAE

from nprec.experiment import resolve_settings
from nprec.metrics.protocols import evaluate_strong_generalization
from nprec.models import multvae
from nprec.run_data import load_run_data
from nprec.train import init_rng

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

ROOT = Path(__file__).resolve().parents[1]
REPORTED = ("ndcg@100", "recall_capped@20", "recall_capped@50", "recall@20")


def train_twin(settings, data, seed: int, epochs: int, init: str = "nprec"
               ) -> tuple[int, float, dict]:
    """(best epoch, its validation NDCG@100, its test metrics) of the twin."""
    cfg = settings.model
    train = data.train
    model = multvae.Model(cfg, train.n_users, train.n_items, rng=init_rng(seed))
    torch.manual_seed(seed)            # nn.Linear's own initialisation draws from it
    twin = TorchAE(train.n_items, cfg.p_dims, vae=True, lam=cfg.lam, keep_prob=cfg.keep_prob)
    if init == "nprec":
        twin.load_nprec(model.params)
    torch.manual_seed(seed)            # the training draws: the same stream either way
    opt = torch.optim.Adam(twin.parameters(), lr=cfg.learning_rate)
    X = train.to_csr().astype(np.float32)
    order_rng = np.random.default_rng([seed, 0x5EED])

    def score(Xb):                     # no dropout, z = mu
        with torch.no_grad():
            x = torch.from_numpy(Xb.toarray().astype(np.float32))
            a = twin._mlp(F.normalize(x), twin.q_layers)
            return twin._mlp(a[:, :twin.latent], twin.p_layers).numpy()

    updates, best = 0, (0, -np.inf, {})
    for epoch in range(1, epochs + 1):
        order = order_rng.permutation(train.n_users)
        for a in range(0, order.size, cfg.batch_size):
            x = torch.from_numpy(X[order[a:a + cfg.batch_size]].toarray())
            beta = min(cfg.anneal_cap, updates / cfg.total_anneal_steps)
            loss = twin.loss(x, beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
        valid = evaluate_strong_generalization(score, *data.folds["valid"])["metrics"]["ndcg@100"]
        if valid > best[1]:
            test = evaluate_strong_generalization(score, *data.folds["test"])["metrics"]
            best = (epoch, valid, test)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=0, help="default: the config's")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--config", default=str(ROOT / "configs" / "multvae_ml1m.toml"))
    p.add_argument("--init", choices=("nprec", "torch"), default="nprec",
                   help="start from nprec's initial parameters (default) or nn.Linear's")
    args = p.parse_args()
    if torch is None:
        raise SystemExit("accuracy_multvae_twin.py needs torch (pip install nprec[bench])")
    torch.set_num_threads(args.threads)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        t0 = time.perf_counter()
        # The settings and the data exactly as `nprec train multvae --config C --seed S`.
        settings = resolve_settings("multvae", config_file=args.config,
                                    flags={"train.seed": seed})
        epochs = args.epochs or settings.train.epochs
        data = load_run_data(settings, "interactions")
        epoch, valid, test = train_twin(settings, data, seed, epochs, args.init)
        rows.append(test)
        print(f"seed {seed}: best epoch {epoch} of {epochs}, valid NDCG@100 {valid:.4f}, test "
              + ", ".join(f"{m} {test[m]:.4f}" for m in REPORTED)
              + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if len(rows) > 1:
        print("mean ± sd: " + ", ".join(
            f"{m} {statistics.mean(r[m] for r in rows):.4f} ± "
            f"{statistics.stdev(r[m] for r in rows):.4f}" for m in REPORTED))


if __name__ == "__main__":
    main()
