"""Mult-VAE step by step: strong generalisation, KL annealing, fold-in, similar items.

    python examples/multvae_walkthrough.py [--epochs 25] [--ml1m]

1. Data: implicit feedback (the synthetic users of `nprec.data.synthetic`, or ML-1M ratings
   >= 4 with --ml1m), split by *users*: validation and test users are never trained on.
   Each held-out user's items are split 80/20: the model reads the 80% (fold-in) and must
   rank the other 20% (Liang et al. 2018, strong generalisation).
2. One mini-batch of Mult-VAE: the shapes from the sparse user rows to the softmax, and the
   two terms of the loss (the multinomial likelihood and β · KL).
3. Training: β grows with the global update counter, epoch after epoch; validation
   NDCG@100 picks the best epoch. EASE, the closed-form linear autoencoder, and popularity
   on the same split for scale.
4. A brand-new user given by three items: recommendations without retraining (fold-in),
   and the items nearest to one item in the decoder's item space.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from nprec.data import binarize, k_core, read_interactions, strong_generalization
from nprec.data.synthetic import synthetic_interactions
from nprec.layers.sparse_dense import sparse_dense_forward
from nprec.losses import gaussian_kl_forward
from nprec.metrics.protocols import evaluate_strong_generalization
from nprec.models import multvae
from nprec.models.baselines import EASE, Popularity
from nprec.optim import Adam
from nprec.train import fit, init_rng

ML1M = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m" / "ratings_partial"
        / "ml-1m.ratings_known.tsv.gz")


def load(ml1m: bool):
    """Implicit user-item data: ML-1M ratings >= 4 (users with >= 5 items) or synthetic."""
    if ml1m:
        data, _ = read_interactions(ML1M)
        data, _ = binarize(data, 4)
        data, _ = k_core(data, min_user=5, min_item=1)
        return data, "ML-1M ratings >= 4"
    return synthetic_interactions(3000, 800, mean_items=30, seed=0), "synthetic"


def ndcg100(score_fold_in, fold_in, held_out) -> dict:
    report = evaluate_strong_generalization(score_fold_in, fold_in, held_out, ks=(20, 100))
    return report["metrics"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--ml1m", action="store_true", help="use ../shared/data ML-1M")
    args = ap.parse_args()

    # 1. Users split three ways; held-out users' items split 80/20 (fold-in / held out).
    data, name = load(args.ml1m and ML1M.exists())
    split = strong_generalization(data, 0.1, rng=np.random.default_rng(0))
    print(f"1. {name}: {split.train.n_users} training users, {split.valid_fold_in.n_users} "
          f"validation and {split.test_fold_in.n_users} test users, "
          f"{split.train.n_items} items")
    print(f"   a test user folds in {split.test_fold_in.row_lengths().mean():.1f} items on "
          f"average and the model must rank {split.test_held_out.row_lengths().mean():.1f} "
          f"held-out ones among all {split.train.n_items}")

    # 2. One mini-batch: [I-600-200-600-I] in the paper; the latent code is 200-dimensional.
    #    β = min(0.2, update / total_anneal_steps): total_anneal_steps is set so that β
    #    reaches its cap of 0.2 at the last update of this short run.
    steps_per_epoch = -(-split.train.n_users // 500)
    cfg = multvae.Config(total_anneal_steps=5 * args.epochs * steps_per_epoch)
    model = multvae.Model(cfg, split.train.n_users, split.train.n_items, rng=init_rng(0))
    batch = next(iter(model.batches(split.train, np.random.default_rng(1))))
    model.update_count = 0                         # that batch was only for show
    hidden, _ = sparse_dense_forward(batch.X, model.params["W_q0"], model.params["b_q0"])
    print(f"2. one batch: X {batch.X.shape} sparse with {batch.X.nnz} clicks -> "
          f"{hidden.shape} hidden -> μ, log σ² {batch.eps.shape} -> z -> "
          f"{(batch.X.shape[0], model.n_items)} logits; dropout keeps "
          f"{np.count_nonzero(batch.keep)} of {batch.keep.size} clicks, β = {batch.beta}")
    loss, cache = model.forward(batch)
    # The KL term from the cached μ and σ² (lam = 0: the paper's VAE has no L2 term).
    kl = float(gaussian_kl_forward(cache.kl.mu, np.log(cache.kl.var))[0])
    print(f"   loss (negative ELBO per user) {float(loss):.2f} = multinomial NLL "
          f"{float(loss) - batch.beta * kl:.2f} + β {batch.beta} × KL {kl:.2f}; β starts "
          f"at 0, so the first updates fit the clicks alone")

    # 3. Training with Adam, validation NDCG@100 after every epoch picks the best epoch.
    optimizer = Adam(cfg.learning_rate)
    best = {"value": -1.0}

    def validate() -> dict:
        return ndcg100(model.score_fold_in, split.valid_fold_in, split.valid_held_out)

    def log(line: str) -> None:
        print(f"   {line}  β next {model.beta():.3f}")

    def keep_best(state, improved: bool) -> None:
        if improved:
            best.update(value=state.best["value"],
                        params={k: v.copy() for k, v in model.params.items()})

    start = time.perf_counter()
    print(f"3. training {args.epochs} epoch{'s' if args.epochs != 1 else ''} of "
          f"{steps_per_epoch} updates")
    state = fit(model, optimizer, lambda rng: model.batches(split.train, rng),
                epochs=args.epochs, seed=0, evaluate=validate, metric="ndcg@100",
                on_epoch_end=keep_best, log=log)
    model.params = best["params"]
    print(f"   {time.perf_counter() - start:.1f} s; best epoch {state.best['epoch']} "
          f"(validation NDCG@100 {best['value']:.4f}); global updates {model.update_count}")
    ease = EASE(lam=500.0).fit(split.train)
    pop = Popularity().fit(split.train)
    for label, scorer in (("Mult-VAE", model.score_fold_in), ("EASE λ=500", ease.score_fold_in),
                          ("popularity", pop.score_fold_in)):
        m = ndcg100(scorer, split.test_fold_in, split.test_held_out)
        print(f"   test {label:11s} NDCG@100 {m['ndcg@100']:.4f}  Recall@20 "
              f"{m['recall_capped@20']:.4f} (capped)  {m['recall@20']:.4f} (plain)")
    print("   (capped Recall@20 divides a user's hits by min(20, held-out items), Liang et al.'s;\n"
          "   plain by all held-out items: the two differ only for users holding out more than 20)")

    # 4. A new user, never seen in training: three items folded in, no retraining.
    items = split.test_fold_in.row(0)[:3]
    X = sp.csr_array((np.ones(items.size), (np.zeros(items.size, dtype=np.int64), items)),
                     shape=(1, model.n_items))
    scores = model.score_fold_in(X)[0]                                  # (V,)
    scores[items] = -np.inf                                             # not what they gave
    top = np.argsort(-scores)[:10]
    held = set(split.test_held_out.row(0).tolist())
    print(f"4. a new user with items {split.train.item_ids[items].tolist()}: top 10 "
          f"{split.train.item_ids[top].tolist()} ({len(held & set(top.tolist()))} of them "
          f"among the user's held-out items)")
    vectors = model.item_vectors()                                      # (V, 600)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit[items[0]]                                      # (V,)
    cosine[items[0]] = -np.inf
    print(f"   items nearest to item {split.train.item_ids[items[0]]} (cosine of decoder "
          f"rows): {split.train.item_ids[np.argsort(-cosine)[:5]].tolist()}")


if __name__ == "__main__":
    main()
