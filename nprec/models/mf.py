"""Matrix factorisation for implicit feedback, trained with BPR or log loss.

The score of user u for item i is a dot product of latent factors plus biases
(Koren et al. 2009; Rendle et al. 2020, §2):

    ŝ(u, i) = b + b_u + b_i + p_u · q_i

Two ways to learn it from implicit feedback:

- `loss="bpr"` (Rendle et al. 2009): for triples (u, i, j) with i a training item of u and j
  uniform among the items u has not interacted with, minimise
      -(1/B) Σ log σ(ŝ(u, i) - ŝ(u, j)) + ½ λ/B Σ (‖p_u‖² + ‖q_i‖² + ‖q_j‖²)
  The user terms b and b_u cancel in the difference, so only b_i is learned.
- `loss="logloss"` (Rendle et al. 2020, the NCF comparison): binary cross-entropy on
  each training pair (label 1) and `negatives` uniformly sampled items per pair (label 0),
  redrawn every epoch, plus ½ λ (‖p_u‖² + ‖q_i‖² + b_u² + b_i² + b²) per example: every
  parameter the example reads, biases included, as in their code. Negatives avoid the
  user's training items unless `exclude_positives = false` (Rendle et al. draw them
  uniformly from all items).

Rendle et al.'s own trainer (google-research `dot_vs_learned_similarity/mf_simple.py`) runs
plain SGD one example at a time, x ← x - η ∇ℓ_n(x), over ~9 million shuffled examples per
ML-1M epoch, which is sequential by nature. The fast equivalent here is mini-batch SGD with
the step size scaled by the batch: with the batch loss a mean over B examples, a step of
η·B moves every parameter by η Σ_n ∇ℓ_n, the sum of the B per-example steps evaluated at the
batch's starting point instead of one after another. The two differ only through examples
of one batch that share a row (or the global bias), by O(η² B) per step, which stays small
for η = 0.002 and B a few thousand among 6,040 users and 3,706 items; on ML-1M, batches of
1,024 follow an exact per-example replica epoch for epoch (configs/mf_ml1m_rendle.toml).

Built from nprec layers and losses: `embedding`, `rowdot`, `bpr` and `l2_penalty` for BPR;
`embedding` and the fused loss `logistic_mf` for the log loss (the same function as `rowdot`
+ biases + `bce_with_logits` + `l2_penalty` on every row read, in one pass: Rendle et al.'s
256 epochs of ~9 million examples make the per-batch NumPy overhead count). The item table
Q is read twice in a BPR step (positive and negative items), so its gradient is the sum of
two row gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.config import check, check_least, check_types
from nprec.data.containers import Interactions
from nprec.kernels.sampling import sample_bpr_triples, sample_negatives
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import rowdot_backward, rowdot_forward
from nprec.losses import bpr_backward, bpr_forward, l2_penalty_backward, l2_penalty_forward
from nprec.losses.logistic_mf import logistic_mf_backward, logistic_mf_forward
from nprec.models._indices import as_candidates, as_users, check_train
from nprec.models._init_args import check_init
from nprec.train import EpochBatches

KIND = "interactions"
DEFAULTS: dict[str, Any] = {"train.epochs": 30, "eval.protocol": "loo-full",
                            "eval.k": [10], "eval.metric": "ndcg@10"}
ALIASES: dict[str, str] = {}


@dataclass
class Config:
    """Hyperparameters of `MF` (defaults: BPR on the built-in synthetic data)."""

    factors: int = field(default=64, metadata={"help": "latent factors per user and item"})
    loss: str = field(default="bpr", metadata={"help": "bpr or logloss"})
    negatives: int = field(default=4, metadata={
        "help": "logloss: sampled negatives per training pair"})
    exclude_positives: bool = field(default=True, metadata={
        "help": "logloss: draw negatives among the user's unseen items only (false: from "
                "all items, as Rendle et al. 2020)"})
    batch_size: int = field(default=1024, metadata={"help": "examples per mini-batch"})
    optimizer: str = field(default="adam", metadata={"help": "sgd, adagrad or adam"})
    learning_rate: float = field(default=0.01, metadata={"help": "step size"})
    momentum: float = field(default=0.0, metadata={"help": "sgd/adagrad momentum"})
    reg: float = field(default=0.0, metadata={
        "help": "L2 λ on the rows each example reads, mean over the batch (bpr: p_u, q_i, "
                "q_j; logloss: p_u, q_i, b_u, b_i and b)"})
    init_std: float = field(default=0.1, metadata={"help": "std of the N(0, σ²) init"})

    def __post_init__(self) -> None:
        check_types(self)
        check_least(self, "factors", 1)
        check(self.loss in ("bpr", "logloss"), "model.loss",
              f"must be bpr or logloss, got {self.loss!r}")
        check_least(self, "negatives", 1)
        check_least(self, "batch_size", 1)
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0 <= self.momentum < 1, "model.momentum", "must be in [0, 1)")
        check(self.reg >= 0, "model.reg", "must be >= 0")
        check(self.init_std > 0, "model.init_std", "must be > 0")


class BprStepCache(NamedTuple):
    p: Any               # embedding caches of P (users), Q (positives), Q (negatives),
    q_pos: Any           # b_i (positives) and b_i (negatives)
    q_neg: Any
    b_pos: Any
    b_neg: Any
    dot_pos: Any         # rowdot caches
    dot_neg: Any
    loss: Any            # bpr cache
    reg: tuple           # l2 caches of the rows read (p, q_pos, q_neg)


class LoglossStepCache(NamedTuple):
    p: Any               # embedding caches of P, Q, b_u and b_i
    q: Any
    b_u: Any
    b_i: Any
    loss: Any            # logistic_mf cache


class Model:
    """MF with parameters P (U, D), Q (V, D), b_i (V, 1), b_u (U, 1), b (1,)."""

    name = "mf"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                             config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        D, std = config.factors, config.init_std
        self.params = {
            "P": (std * rng.standard_normal((n_users, D))).astype(dtype),   # (U, D)
            "Q": (std * rng.standard_normal((n_items, D))).astype(dtype),   # (V, D)
            "b_i": np.zeros((n_items, 1), dtype=dtype),                      # (V, 1)
            "b_u": np.zeros((n_users, 1), dtype=dtype),                      # (U, 1)
            "b": np.zeros(1, dtype=dtype),                                   # (1,)
        }

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> EpochBatches:
        """One epoch: nnz BPR triples, or every pair plus `negatives` sampled negatives."""
        check_train(train, self.n_users, self.n_items, "mf: batches")
        cfg = self.config
        if cfg.loss == "bpr":
            n = train.nnz
            users, pos, neg = sample_bpr_triples(train.indptr, train.indices, train.n_items,
                                                 rng.random(n), rng.random(n))
            return EpochBatches((users, pos, neg), cfg.batch_size)
        users = train.entry_users()                                     # (nnz,)
        neg_users = np.repeat(users, cfg.negatives)                     # (nnz·n,)
        if cfg.exclude_positives:
            neg = sample_negatives(train.indptr, train.indices, neg_users, train.n_items,
                                   rng.random(neg_users.size))          # (nnz·n,)
        else:
            neg = rng.integers(0, train.n_items, neg_users.size)        # (nnz·n,)
        all_users = np.concatenate([users, neg_users])
        items = np.concatenate([train.indices.astype(np.int64), neg])
        labels = np.concatenate([np.ones(users.size), np.zeros(neg.size)])
        order = rng.permutation(all_users.size)
        return EpochBatches((all_users[order], items[order],
                             labels[order].astype(self.params["P"].dtype)), cfg.batch_size)

    def forward(self, batch: tuple[np.ndarray, ...]) -> tuple[np.floating, Any]:
        """The mean loss of a mini-batch and the cache for `backward`."""
        if self.config.loss == "bpr":
            return self._forward_bpr(*batch)
        return self._forward_logloss(*batch)

    def backward(self, cache: Any) -> dict[str, Any]:
        """Gradients of every parameter the batch touched (row gradients for the tables)."""
        if isinstance(cache, BprStepCache):
            return self._backward_bpr(cache)
        return self._backward_logloss(cache)

    def _forward_bpr(self, users, pos, neg):
        P, Q, b_i = self.params["P"], self.params["Q"], self.params["b_i"]
        lam = self.config.reg / users.size
        p, c_p = embedding_forward(users, P)                            # (B, D)
        q_pos, c_qp = embedding_forward(pos, Q)                         # (B, D)
        q_neg, c_qn = embedding_forward(neg, Q)                         # (B, D)
        b_pos, c_bp = embedding_forward(pos, b_i)                       # (B, 1)
        b_neg, c_bn = embedding_forward(neg, b_i)                       # (B, 1)
        dot_pos, c_dp = rowdot_forward(p, q_pos)                        # (B,)
        dot_neg, c_dn = rowdot_forward(p, q_neg)                        # (B,)
        loss, c_loss = bpr_forward(dot_pos + b_pos[:, 0], dot_neg + b_neg[:, 0])
        reg = tuple(l2_penalty_forward(x, lam) for x in (p, q_pos, q_neg))
        loss = loss + sum(r[0] for r in reg)
        return loss, BprStepCache(c_p, c_qp, c_qn, c_bp, c_bn, c_dp, c_dn, c_loss,
                                  tuple(r[1] for r in reg))

    def _backward_bpr(self, cache: BprStepCache) -> dict[str, Any]:
        # Loss -> the two scores (each score = dot + bias, so both parts get the same grad).
        ds_pos, ds_neg = bpr_backward(1.0, cache.loss)                  # (B,), (B,)
        # Scores -> factors through the two row-dot products.
        dp_pos, dq_pos = rowdot_backward(ds_pos, cache.dot_pos)         # (B, D) each
        dp_neg, dq_neg = rowdot_backward(ds_neg, cache.dot_neg)
        # L2 on the rows read adds λ·row to each row's gradient.
        dp_reg, dqp_reg, dqn_reg = (l2_penalty_backward(1.0, c)[0] for c in cache.reg)
        # p_u feeds both scores and its penalty: three paths, summed.
        _, dP = embedding_backward(dp_pos + dp_neg + dp_reg, cache.p)
        # Q is read twice (positives and negatives): the two row gradients are summed.
        _, dQ_pos = embedding_backward(dq_pos + dqp_reg, cache.q_pos)
        _, dQ_neg = embedding_backward(dq_neg + dqn_reg, cache.q_neg)
        _, db_pos = embedding_backward(ds_pos[:, None], cache.b_pos)
        _, db_neg = embedding_backward(ds_neg[:, None], cache.b_neg)
        return {"P": dP, "Q": dQ_pos + dQ_neg, "b_i": db_pos + db_neg}

    def _forward_logloss(self, users, items, labels):
        prm = self.params
        p, c_p = embedding_forward(users, prm["P"])                     # (B, D)
        q, c_q = embedding_forward(items, prm["Q"])                     # (B, D)
        b_u, c_bu = embedding_forward(users, prm["b_u"])                # (B, 1)
        b_i, c_bi = embedding_forward(items, prm["b_i"])                # (B, 1)
        # s = b + b_u + b_i + p·q, log loss, ½λ on every parameter read (λ/B per row, λ on b).
        loss, c_loss = logistic_mf_forward(p, q, b_u, b_i, prm["b"], labels, self.config.reg)
        return loss, LoglossStepCache(c_p, c_q, c_bu, c_bi, c_loss)

    def _backward_logloss(self, cache: LoglossStepCache) -> dict[str, Any]:
        # Loss -> each row read (its share of the logit's gradient plus its penalty's).
        dp, dq, db_u, db_i, db, _, _ = logistic_mf_backward(1.0, cache.loss)
        _, dP = embedding_backward(dp, cache.p)
        _, dQ = embedding_backward(dq, cache.q)
        _, dB_u = embedding_backward(db_u, cache.b_u)
        _, dB_i = embedding_backward(db_i, cache.b_i)
        return {"P": dP, "Q": dQ, "b_u": dB_u, "b_i": dB_i, "b": db}

    # -- scoring ----------------------------------------------------------------------------
    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for each user: (B, V)."""
        users = as_users(users, self.n_users, "score_all")
        prm = self.params
        return (prm["P"][users] @ prm["Q"].T + prm["b_i"][:, 0]
                + prm["b_u"][users] + prm["b"][0])                      # (B, V)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of the given candidate items (B, C) for each user: (B, C)."""
        users, items = as_candidates(users, items, self.n_users, self.n_items)
        prm = self.params
        return (np.einsum("bd,bcd->bc", prm["P"][users], prm["Q"][items])
                + prm["b_i"][items, 0] + prm["b_u"][users] + prm["b"][0])  # (B, C)

    def item_vectors(self) -> np.ndarray:
        """The item factors Q (V, D), the item representation for `nprec similar`."""
        return self.params["Q"]
