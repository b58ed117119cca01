"""CDAE: the collaborative denoising autoencoder (Wu, DuBois, Zheng and Ester, WSDM 2016).

A one-hidden-layer denoising autoencoder over a user's binary item vector y_u, with one
extra input node per user (a user vector V_u added to the hidden layer; Wu et al. 2016,
§4.1, eqs. (4)-(6)):

    ỹ_u = dropout(y_u)                            corruption: drop with prob. q, scale 1/(1-q)
    z_u = h(Wᵀ ỹ_u + V_u + b)                      W (V, K), V_u (K,), b (K,)
    ŷ_ui = f(W'_iᵀ z_u + b'_i)                     W' (V, K), b' (V,)

Training reconstructs the uncorrupted y_u on the user's items O_u plus `negatives` × |O_u|
items S_u drawn uniformly from the items the user never met (the paper's negative sampling,
§4.2; none for a user who met every item), with the logistic loss (BCE on the logits,
f = sigmoid) or the square loss:

    loss = (1/B) Σ_u Σ_{i ∈ O_u ∪ S_u} ℓ(y_ui, ŷ_ui)
           + ½ reg_weight (‖W‖² + (1/B) Σ_u (‖V_u‖² + Σ_{i ∈ O_u ∪ S_u} ‖W'_i‖²))

The penalty is the paper's L2 term on the parameters each user's loss reads, averaged over
the batch like the data term; the biases are not penalised. Defaults follow RecBole's
`CDAE.yaml` (BCE loss, ReLU hidden and sigmoid output mappings, corruption 0.5, K = 64,
L2 0.01, Adam 1e-3); the paper's own choices (sigmoid or identity mappings, K = 50,
AdaGrad) are options.

CDAE is transductive: V_u exists only for training users. `score_all` uses it; a user
folded in from their items alone (`score_fold_in`: held-out users of the strong
generalisation protocol, `nprec recommend --items`) gets V_u = 0, i.e. the input node is
left out, the hidden layer then reads the items only.

Built from nprec layers and losses: `sparse_dense` (the input layer, with dropout on the
stored entries), `embedding` (V_u; the rows W'_i, b'_i of the scored items; and the hidden
rows z_u gathered per scored pair), activations, `rowdot`, `bce_with_logits` or
`squared_error`, `l2_penalty`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.config import check, check_least, check_types
from nprec.data.containers import Interactions
from nprec.kernels.sampling import sample_negatives
from nprec.layers import (
    dropout_mask,
    dropout_sparse_input,
    embedding_backward,
    embedding_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from nprec.layers.products import rowdot_backward, rowdot_forward
from nprec.layers.sparse_dense import sparse_dense_backward, sparse_dense_forward
from nprec.losses import (
    bce_with_logits_backward,
    bce_with_logits_forward,
    l2_penalty_backward,
    l2_penalty_forward,
)
from nprec.losses.squared import squared_error_backward, squared_error_forward
from nprec.models._indices import as_fold_in, as_users, check_train
from nprec.models._init_args import check_init
from nprec.models.multdae import FoldInModel, UserEpoch, xavier_uniform

KIND = "interactions"
DEFAULTS: dict[str, Any] = {"train.epochs": 100, "eval.protocol": "strong-generalization",
                            "eval.k": [20, 50, 100], "eval.metric": "ndcg@100"}
ALIASES: dict[str, str] = {}

ACTIVATIONS = {"sigmoid": (sigmoid_forward, sigmoid_backward),
               "tanh": (tanh_forward, tanh_backward),
               "relu": (relu_forward, relu_backward)}


@dataclass
class Config:
    """Hyperparameters of CDAE (defaults: RecBole's CDAE.yaml, plus the paper's sampling)."""

    embedding_size: int = field(default=64, metadata={"help": "hidden units K"})
    corruption_ratio: float = field(default=0.5, metadata={
        "help": "input dropout q: probability of dropping each of the user's items"})
    loss_type: str = field(default="BCE", metadata={
        "help": "BCE (logistic loss, needs out_activation sigmoid) or MSE (square loss)"})
    hid_activation: str = field(default="relu", metadata={
        "help": "hidden mapping h: sigmoid, tanh, relu or identity"})
    out_activation: str = field(default="sigmoid", metadata={
        "help": "output mapping f: sigmoid or identity"})
    negatives: int = field(default=5, metadata={
        "help": "sampled unobserved items per observed item of a user"})
    reg_weight: float = field(default=0.01, metadata={
        "help": "L2 weight λ of ½ λ ‖·‖² on W, the users' V_u and the scored items' W'_i"})
    batch_size: int = field(default=500, metadata={"help": "users per mini-batch"})
    optimizer: str = field(default="adam", metadata={"help": "sgd, adagrad or adam"})
    learning_rate: float = field(default=1e-3, metadata={"help": "step size"})
    momentum: float = field(default=0.0, metadata={"help": "sgd/adagrad momentum"})

    def __post_init__(self) -> None:
        check_types(self)
        check_least(self, "embedding_size", 1)
        check(0 <= self.corruption_ratio < 1, "model.corruption_ratio", "must be in [0, 1)")
        check(self.loss_type in ("BCE", "MSE"), "model.loss_type",
              f"must be BCE or MSE, got {self.loss_type!r}")
        check(self.hid_activation in (*ACTIVATIONS, "identity"), "model.hid_activation",
              f"must be sigmoid, tanh, relu or identity, got {self.hid_activation!r}")
        check(self.out_activation in ("sigmoid", "identity"), "model.out_activation",
              f"must be sigmoid or identity, got {self.out_activation!r}")
        check(self.loss_type == "MSE" or self.out_activation == "sigmoid",
              "model.out_activation", "the BCE loss needs out_activation = sigmoid")
        check_least(self, "negatives", 0)
        check(self.reg_weight >= 0, "model.reg_weight", "must be >= 0")
        check_least(self, "batch_size", 1)
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0 <= self.momentum < 1, "model.momentum", "must be in [0, 1)")


class CdaeBatch(NamedTuple):
    users: np.ndarray    # (B,) training users
    X: sp.csr_array      # (B, V) their items y_u, float ones
    keep: np.ndarray     # (nnz,) corruption mask of X's stored entries: 0 or 1 / (1 - q)
    rows: np.ndarray     # (N,) batch row of each scored (user, item) pair
    items: np.ndarray    # (N,) item of each pair: the users' items, then sampled negatives
    labels: np.ndarray   # (N,) 1 for the users' items, 0 for the negatives


class CdaeStepCache(NamedTuple):
    inp: Any             # sparse_dense cache (W, b)
    user: Any            # embedding cache of V_u
    hidden: Any          # activation cache of h (None for identity)
    z_rows: Any          # embedding cache: z gathered per pair
    q: Any               # embedding cache of W'_i
    b_out: Any           # embedding cache of b'_i
    dot: Any             # rowdot cache
    out: Any             # sigmoid cache of f for the square loss (None otherwise)
    loss: Any            # bce_with_logits or squared_error cache (None: no pairs)
    n_over_b: float      # N / B: the loss is a sum over pairs, a mean over users
    reg: tuple           # l2 caches of (W, V_u rows, W'_i rows)


class Model(FoldInModel):
    """CDAE with parameters W (V, K), b (K,), V_u (U, K), W_out (V, K) and b_out (V, 1)."""

    name = "cdae"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, self.dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                                  config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        self._train = None
        K = config.embedding_size
        self.params = {
            "W": xavier_uniform(rng, n_items, K, self.dtype),                # (V, K)
            "b": np.zeros(K, dtype=self.dtype),                              # (K,)
            "V_u": xavier_uniform(rng, n_users, K, self.dtype),              # (U, K)
            "W_out": xavier_uniform(rng, n_items, K, self.dtype),            # (V, K)
            "b_out": np.zeros((n_items, 1), dtype=self.dtype),               # (V, 1)
        }

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> UserEpoch:
        """One epoch of shuffled user batches: corruption masks and sampled negatives."""
        check_train(train, self.n_users, self.n_items, "cdae: batches")
        self._remember(train)

        def make(users: np.ndarray, X: sp.csr_array, rng: np.random.Generator) -> CdaeBatch:
            return self._make_batch(users, X, rng, train)

        return UserEpoch(train, self.config.batch_size, rng, make, self.dtype)

    def _make_batch(self, users: np.ndarray, X: sp.csr_array, rng: np.random.Generator,
                    train: Interactions) -> CdaeBatch:
        """A batch with its corruption mask and `negatives` samples per item of each user."""
        cfg = self.config
        keep = dropout_mask(rng, (X.nnz,), cfg.corruption_ratio, self.dtype)  # (nnz,)
        lengths = np.diff(X.indptr)                                     # (B,)
        pos_rows = np.repeat(np.arange(users.size), lengths)            # (nnz,)
        # A user who met every item has no unobserved item to sample: S_u is empty and the
        # loss reads O_u alone. Other users draw as before (the same random stream).
        full = np.diff(train.indptr)[users] >= train.n_items            # (B,)
        n_neg = np.where(full, 0, cfg.negatives * lengths)              # (B,)
        neg_rows = np.repeat(np.arange(users.size), n_neg)              # (S,)
        negatives = sample_negatives(train.indptr, train.indices, users[neg_rows],
                                     train.n_items, rng.random(neg_rows.size))  # (S,)
        rows = np.concatenate([pos_rows, neg_rows])                     # (N,)
        items = np.concatenate([X.indices.astype(np.int64), negatives])  # (N,)
        labels = np.concatenate([np.ones(pos_rows.size, dtype=self.dtype),
                                 np.zeros(neg_rows.size, dtype=self.dtype)])  # (N,)
        return CdaeBatch(users, X, keep, rows, items, labels)

    def _hidden_forward(self, pre: np.ndarray) -> tuple[np.ndarray, Any]:
        if self.config.hid_activation == "identity":
            return pre, None
        return ACTIVATIONS[self.config.hid_activation][0](pre)

    def forward(self, batch: CdaeBatch) -> tuple[np.floating, CdaeStepCache]:
        """The mean loss of a mini-batch and the cache for `backward`."""
        prm, cfg = self.params, self.config
        B, N = batch.users.size, batch.rows.size
        corrupted = dropout_sparse_input(batch.X, batch.keep)           # (B, V) ỹ
        a, c_in = sparse_dense_forward(corrupted, prm["W"], prm["b"])   # (B, K) Wᵀ ỹ + b
        v, c_user = embedding_forward(batch.users, prm["V_u"])          # (B, K) V_u
        z, c_hid = self._hidden_forward(a + v)                          # (B, K)
        z_rows, c_zr = embedding_forward(batch.rows, z)                 # (N, K)
        q, c_q = embedding_forward(batch.items, prm["W_out"])           # (N, K) W'_i
        b_out, c_bo = embedding_forward(batch.items, prm["b_out"])      # (N, 1) b'_i
        dot, c_dot = rowdot_forward(z_rows, q)                          # (N,)
        logits = dot + b_out[:, 0]                                      # (N,)
        c_out = c_loss = None
        loss = self.dtype.type(0)               # a batch of users without items scores nothing
        if N and cfg.loss_type == "BCE":
            loss, c_loss = bce_with_logits_forward(logits, batch.labels)
        elif N:
            y_hat = logits
            if cfg.out_activation == "sigmoid":
                y_hat, c_out = sigmoid_forward(logits)                  # (N,)
            loss, c_loss = squared_error_forward(y_hat, batch.labels)
        n_over_b = N / B
        loss = loss * self.dtype.type(n_over_b)                         # sum over pairs / B
        reg: tuple = ()
        if cfg.reg_weight > 0:
            lam = cfg.reg_weight
            reg = (l2_penalty_forward(prm["W"], lam), l2_penalty_forward(v, lam / B),
                   l2_penalty_forward(q, lam / B))
            loss = loss + sum(r[0] for r in reg)
        return loss, CdaeStepCache(c_in, c_user, c_hid, c_zr, c_q, c_bo, c_dot, c_out, c_loss,
                                   n_over_b, tuple(r[1] for r in reg))

    def backward(self, cache: CdaeStepCache) -> dict[str, Any]:
        """Gradients: dense for W and b, row gradients for V_u, W_out and b_out."""
        cfg = self.config
        # Loss (a sum over pairs, a mean over users) -> the pairs' logits.
        if cache.loss is None:
            dlogits = np.zeros(0, dtype=self.dtype)                     # (N,) = (0,)
        elif cfg.loss_type == "BCE":
            dlogits, _ = bce_with_logits_backward(cache.n_over_b, cache.loss)   # (N,)
        else:
            dlogits, _ = squared_error_backward(cache.n_over_b, cache.loss)     # (N,)
            if cache.out is not None:
                (dlogits,) = sigmoid_backward(dlogits, cache.out)
        # Logit = z_u · W'_i + b'_i: into the gathered hidden rows, W'_i and b'_i.
        dz_rows, dq = rowdot_backward(dlogits, cache.dot)               # (N, K) each
        _, db_out = embedding_backward(dlogits[:, None], cache.b_out)
        dv_reg = dq_reg = dW_reg = None
        if cache.reg:
            dW_reg, dv_reg, dq_reg = (l2_penalty_backward(1.0, c)[0] for c in cache.reg)
            dq = dq + dq_reg                    # W'_i read by the logit and by the penalty
        _, dW_out = embedding_backward(dq, cache.q)
        # Each z_u was gathered once per scored pair of user u: the row gradients add up.
        _, dz_sparse = embedding_backward(dz_rows, cache.z_rows)
        dz = dz_sparse.to_dense()                                       # (B, K)
        # Through the hidden mapping h into the pre-activation Wᵀ ỹ + V_u + b.
        if cache.hidden is not None:
            (dz,) = ACTIVATIONS[cfg.hid_activation][1](dz, cache.hidden)
        dv = dz if dv_reg is None else dz + dv_reg          # V_u: the sum and the penalty
        _, dV_u = embedding_backward(dv, cache.user)
        _, dW, db = sparse_dense_backward(dz, cache.inp)
        if dW_reg is not None:
            dW = dW + dW_reg                    # W read by the input layer and the penalty
        return {"W": dW, "b": db, "V_u": dV_u, "W_out": dW_out, "b_out": db_out}

    # -- scoring ----------------------------------------------------------------------------
    def _scores(self, X: Any, v: np.ndarray | None) -> np.ndarray:
        """Output logits (B, V) for inputs X (B, V) and user vectors v (B, K) or None."""
        prm = self.params
        X = as_fold_in(X, self.n_items, self.dtype)                     # (B, V)
        a, _ = sparse_dense_forward(X, prm["W"], prm["b"])              # (B, K)
        z, _ = self._hidden_forward(a if v is None else a + v)          # (B, K)
        # f is monotone, so the logits rank the items as the outputs ŷ do.
        return z @ prm["W_out"].T + prm["b_out"][:, 0]                  # (B, V)

    def score_fold_in(self, X: Any) -> np.ndarray:
        """Scores (B, V) for users given by their items X (B, V), with V_u = 0 (see above)."""
        return self._scores(X, None)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Scores (B, V) of training users: their items and their own input node V_u."""
        users = as_users(users, self.params["V_u"].shape[0], "score_all")
        return self._scores(self._training_rows(users), self.params["V_u"][users])

    def item_vectors(self) -> np.ndarray:
        """(V, K) the output weights W'_i, for `nprec similar`."""
        return self.params["W_out"]
