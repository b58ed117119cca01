"""BPR matrix factorisation, one step at a time, then trained against popularity.

Run:  python examples/mf_walkthrough.py

Part 1 takes one mini-batch of (user, positive item, negative item) triples through the model
by hand, printing every array's shape: the embedding lookups, the two scores, the BPR loss,
then the backward pass in reverse order, ending in row-sparse gradients of the tables. Part 2
trains the model on the built-in synthetic data with `nprec.train.fit` and compares it with
popularity ranking under the same full-ranking protocol.
"""

from __future__ import annotations

import numpy as np

from nprec.data import leave_one_out, synthetic_interactions
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import rowdot_backward, rowdot_forward
from nprec.losses import bpr_backward, bpr_forward
from nprec.metrics.protocols import evaluate_loo_full
from nprec.models import mf
from nprec.models.baselines import Popularity
from nprec.optim import Adam
from nprec.train import fit


def show(name: str, value) -> None:
    shape = getattr(value, "shape", ())
    print(f"  {name:<28s} shape {str(shape):<10s}", end="")
    if np.ndim(value) == 0:
        print(f" value {float(value):.4f}")
    else:
        print(f" first {np.ravel(value)[:3].round(3)}")


def one_step() -> None:
    print("Part 1: one BPR step by hand (Rendle et al. 2009)\n")
    rng = np.random.default_rng(0)
    U, V, D = 5, 8, 3
    P = 0.1 * rng.standard_normal((U, D))                              # user factors
    Q = 0.1 * rng.standard_normal((V, D))                              # item factors
    users, pos, neg = np.array([0, 0, 3]), np.array([1, 2, 1]), np.array([5, 7, 0])
    print("forward:")
    p, c_p = embedding_forward(users, P)
    show("p = P[users]", p)
    q_pos, c_qp = embedding_forward(pos, Q)
    q_neg, c_qn = embedding_forward(neg, Q)
    show("q_pos = Q[pos]", q_pos)
    s_pos, c_sp = rowdot_forward(p, q_pos)
    s_neg, c_sn = rowdot_forward(p, q_neg)
    show("s_pos = rowdot(p, q_pos)", s_pos)
    show("s_neg = rowdot(p, q_neg)", s_neg)
    loss, c_loss = bpr_forward(s_pos, s_neg)
    show("loss = -mean log σ(s+ - s-)", loss)
    print("backward (reverse order):")
    ds_pos, ds_neg = bpr_backward(1.0, c_loss)
    show("ds_pos", ds_pos)
    dp_a, dq_pos = rowdot_backward(ds_pos, c_sp)
    dp_b, dq_neg = rowdot_backward(ds_neg, c_sn)
    _, dP = embedding_backward(dp_a + dp_b, c_p)                       # p feeds both scores
    _, dQ_pos = embedding_backward(dq_pos, c_qp)
    _, dQ_neg = embedding_backward(dq_neg, c_qn)
    dQ = dQ_pos + dQ_neg                                               # Q is read twice
    print(f"  dP: {dP}   rows {dP.rows.tolist()} (user 0 twice: its two rows were summed)")
    print(f"  dQ: {dQ}   rows {dQ.rows.tolist()} (item 1 is a positive and a negative)\n")


def train_against_popularity() -> None:
    print("Part 2: training on the synthetic data, full ranking, pessimistic ties\n")
    data = synthetic_interactions(1000, 500, seed=1)
    split = leave_one_out(data)                  # each user's latest item is the test item
    model = mf.Model(mf.Config(factors=32, reg=0.01), data.n_users, data.n_items,
                     rng=np.random.default_rng(0))

    def validate() -> dict[str, float]:
        return evaluate_loo_full(model.score_all, split.train_tr, split.valid)["metrics"]

    fit(model, Adam(0.01), lambda rng: model.batches(split.train_tr, rng), epochs=8, seed=0,
        evaluate=validate, metric="ndcg@10", log=lambda line: print("  " + line))
    mf_test = evaluate_loo_full(model.score_all, split.train, split.test)["metrics"]
    pop = Popularity().fit(split.train)
    pop_test = evaluate_loo_full(pop.score_all, split.train, split.test)["metrics"]
    print(f"\n  test (last epoch)  MF  hit@10 {mf_test['hit@10']:.3f}  "
          f"ndcg@10 {mf_test['ndcg@10']:.3f}")
    print(f"  test               POP hit@10 {pop_test['hit@10']:.3f}  "
          f"ndcg@10 {pop_test['ndcg@10']:.3f}")


if __name__ == "__main__":
    one_step()
    train_against_popularity()
