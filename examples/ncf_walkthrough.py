"""NeuMF (He et al. 2017), one step at a time, then GMF, MLP and pre-trained NeuMF trained.

Run:  python examples/ncf_walkthrough.py

Part 1 takes a tiny mini-batch of (user, item, label) rows through NeuMF by hand, printing
every array's shape: the two embedding lookups, the GMF product, the MLP tower, the fused
output unit and its log loss, then the backward pass in reverse order down to the row-sparse
gradients of the embedding tables; it checks the result against `Model.forward/backward`.
Part 2 trains GMF and MLP on the built-in synthetic data, builds a NeuMF from them
(the paper's pre-training) and fine-tunes it with plain SGD, reporting every model under the
paper's 1 + 99 sampled protocol and under full ranking.
"""

from __future__ import annotations

import numpy as np

from nprec.data import Interactions, leave_one_out, synthetic_interactions
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import (
    concat_backward,
    concat_forward,
    hadamard_backward,
    hadamard_forward,
)
from nprec.metrics.protocols import evaluate_loo_full, evaluate_ncf_loo99
from nprec.models import gmf, mlp, neumf
from nprec.models.ncf import output_backward, output_forward, tower_backward, tower_forward
from nprec.optim import SGD, Adam
from nprec.train import fit


def show(name: str, value) -> None:
    shape = getattr(value, "shape", ())
    print(f"  {name:<34s} shape {str(shape):<9s}", end="")
    if np.ndim(value) == 0:
        print(f" value {float(value):.4f}")
    else:
        print(f" first {np.ravel(value)[:3].round(4)}")


def one_step() -> None:
    print("Part 1: one NeuMF step by hand (factors f = 2, tower [6, 4, 2])\n")
    model = neumf.Model(neumf.Config(factors=2, layers=[6, 4, 2]), n_users=5, n_items=7,
                        rng=np.random.default_rng(0), dtype=np.float64)
    prm, f = model.params, model.f
    users, items = np.array([0, 0, 3, 4]), np.array([1, 6, 1, 2])
    labels = np.array([1.0, 0.0, 1.0, 0.0])          # a positive, then a sampled negative
    print("forward:")
    p, c_p = embedding_forward(users, prm["P"])
    show("p = P[users] = [p^G | p^M]", p)
    q, c_q = embedding_forward(items, prm["Q"])
    show("q = Q[items] = [q^G | q^M]", q)
    phi_G, c_phiG = hadamard_forward(p[:, :f], q[:, :f])
    show("φ^GMF = p^G ⊙ q^G", phi_G)
    z0, c_z0 = concat_forward(p[:, f:], q[:, f:])
    show("z_0 = [p^M; q^M]", z0)
    phi_M, c_tower = tower_forward(z0, prm, model.n_layers)
    show("φ^MLP = ReLU tower(z_0)", phi_M)
    phi, c_phi = concat_forward(phi_G, phi_M)
    show("φ = [φ^GMF; φ^MLP]", phi)
    show("logits hᵀφ + b", phi @ prm["h"] + prm["b"])
    loss, c_out = output_forward(phi, prm["h"], prm["b"], labels)
    show("loss = mean BCE (eq. 7)", loss)
    print("backward (reverse order):")
    dphi, dh, db = output_backward(c_out)
    show("dφ = (σ(s) - y)/B · h", dphi)
    dphi_G, dphi_M = concat_backward(dphi, c_phi)
    dz0, grads = tower_backward(dphi_M, c_tower)
    show("dz_0 (down the tower)", dz0)
    dp_M, dq_M = concat_backward(dz0, c_z0)
    dp_G, dq_G = hadamard_backward(dphi_G, c_phiG)
    _, dP = embedding_backward(np.concatenate([dp_G, dp_M], axis=1), c_p)
    _, dQ = embedding_backward(np.concatenate([dq_G, dq_M], axis=1), c_q)
    print(f"  dP: {dP}   rows {dP.rows.tolist()} (user 0 read twice: its rows were summed)")
    print(f"  dQ: {dQ}   rows {dQ.rows.tolist()}")
    same_loss, cache = model.forward((users, items, labels))
    theirs = model.backward(cache)
    assert np.isclose(same_loss, loss)
    assert np.allclose(theirs["P"].values, dP.values) and np.allclose(theirs["W_1"], grads["W_1"])
    assert np.allclose(theirs["h"], dh) and np.allclose(theirs["b"], db)
    print("  the same loss and gradients as neumf.Model.forward/backward\n")


def report(name: str, model, split, known: Interactions) -> None:
    sampled = evaluate_ncf_loo99(model.score_items, known, split.test, seed=1)["metrics"]
    full = evaluate_loo_full(model.score_all, split.train, split.test)["metrics"]
    print(f"  {name:<25s} 1 + 99 sampled: hit@10 {sampled['hit@10']:.3f} ndcg@10 "
          f"{sampled['ndcg@10']:.3f}   full ranking: hit@10 {full['hit@10']:.3f} "
          f"ndcg@10 {full['ndcg@10']:.3f}")


def train_and_pretrain() -> None:
    print("Part 2: GMF, MLP, then NeuMF from their weights (synthetic data, 6 epochs each)\n")
    data = synthetic_interactions(1000, 400, seed=1)
    split = leave_one_out(data)            # each user's latest item is the test item
    known = Interactions.from_csr(split.train.to_csr() + split.test.to_csr())
    trained = {}
    for module, config in ((gmf, gmf.Config(factors=8)), (mlp, mlp.Config(factors=8))):
        model = module.Model(config, data.n_users, data.n_items, rng=np.random.default_rng(0))
        fit(model, Adam(1e-3), lambda rng, m=model: m.batches(split.train, rng), epochs=6,
            seed=0)
        trained[model.name] = model
        report(model.name, model, split, known)
    config = neumf.Config(factors=8, pretrain=True)
    model = neumf.Model(config, data.n_users, data.n_items, rng=np.random.default_rng(0))
    model.load_pretrained({name: m.params for name, m in trained.items()})
    report("neumf at start (α = 0.5)", model, split, known)
    name, lr, momentum = config.optimizer_settings()          # plain SGD after pre-training
    fit(model, SGD(lr, momentum), lambda rng: model.batches(split.train, rng), epochs=2,
        seed=1)
    report(f"neumf after 2 {name} epochs", model, split, known)


if __name__ == "__main__":
    one_step()
    train_and_pretrain()
