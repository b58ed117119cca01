"""AutoRec: an autoencoder over explicit rating vectors (Sedhain, Menon, Sanner, Xie, WWW 2015).

Item-based AutoRec (I-AutoRec) reconstructs each item's vector of ratings by all users,
r⁽ⁱ⁾ ∈ ℝ^U, with one hidden layer (Sedhain et al. 2015, eqs. (1)-(2)):

    h(r; θ) = f(W · g(V r + μ) + b)            g = sigmoid, f = identity (their best pair)
    min_θ Σ_i ‖r⁽ⁱ⁾ - h(r⁽ⁱ⁾; θ)‖²_O + (λ/2) (‖W‖²_F + ‖V‖²_F)

where ‖·‖²_O counts only the observed ratings: the unobserved entries are 0 in the input and
contribute neither to the loss nor to the gradient. The prediction of user u's rating of item
i is entry u of h(r⁽ⁱ⁾). User-based AutoRec (`based = "user"`) swaps the roles. Users or
items without any training rating get the default rating 3 (the paper's rule).

Written with rows as examples: a batch of B items is a sparse (B, U) rating matrix R, and

    H = g(R V + μ) (B, k),   P = H W + b (B, U),   V (U, k), μ (k,), W (k, U), b (U,)
    loss = (1/B) Σ_rows Σ_observed (P - R)² + (λ/2)/n_rows (‖W‖² + ‖V‖²)

which is the paper's objective divided by the number of rows (items), estimated on the
batch: λ keeps the paper's meaning. The output mapping f is the identity (ratings 1-5 are
out of a sigmoid's reach); g is sigmoid or, for the ablation, the identity. The paper
trains full-batch with L-BFGS or Rprop; here mini-batches with Adam (any nprec optimizer).
500 hidden units as in the paper.

Built from nprec layers and losses: `sparse_dense` (the input is sparse), sigmoid,
`dense`, `masked_squared_error`, `l2_penalty`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.checkpoint import StoredArrays
from nprec.config import check, check_least, check_types
from nprec.data.containers import Interactions
from nprec.errors import ConfigError
from nprec.layers import dense_backward, dense_forward, sigmoid_backward, sigmoid_forward
from nprec.layers.sparse_dense import sparse_dense_backward, sparse_dense_forward
from nprec.losses import l2_penalty_backward, l2_penalty_forward
from nprec.losses.squared import masked_squared_error_backward, masked_squared_error_forward
from nprec.models._indices import as_pairs, check_train
from nprec.models._init_args import check_init
from nprec.models.multdae import xavier_uniform
from nprec.train import EpochBatches

KIND = "ratings"
DEFAULTS: dict[str, Any] = {"train.epochs": 100, "eval.protocol": "rating-holdout",
                            "eval.metric": "rmse"}
ALIASES: dict[str, str] = {}


@dataclass
class Config:
    """Hyperparameters of AutoRec (defaults: I-AutoRec of Sedhain et al. 2015)."""

    based: str = field(default="item", metadata={
        "help": "item (I-AutoRec: one example per item) or user (U-AutoRec)"})
    hidden_units: int = field(default=500, metadata={"help": "hidden units k"})
    lam: float = field(default=1.0, metadata={
        "help": "λ of (λ/2)(‖W‖² + ‖V‖²) in the paper's summed objective"})
    hid_activation: str = field(default="sigmoid", metadata={
        "help": "g, the hidden mapping: sigmoid or identity"})
    default_rating: float = field(default=3.0, metadata={
        "help": "prediction for users or items without a training rating"})
    clip: bool = field(default=True, metadata={
        "help": "clip predictions to the training ratings' range"})
    batch_size: int = field(default=64, metadata={"help": "rating vectors per mini-batch"})
    optimizer: str = field(default="adam", metadata={"help": "sgd, adagrad or adam"})
    learning_rate: float = field(default=1e-3, metadata={"help": "step size"})
    momentum: float = field(default=0.0, metadata={"help": "sgd/adagrad momentum"})

    def __post_init__(self) -> None:
        check_types(self)
        check(self.based in ("item", "user"), "model.based",
              f"must be item or user, got {self.based!r}")
        check_least(self, "hidden_units", 1)
        check(self.lam >= 0, "model.lam", "must be >= 0")
        check(self.hid_activation in ("sigmoid", "identity"), "model.hid_activation",
              f"must be sigmoid or identity, got {self.hid_activation!r}")
        check_least(self, "batch_size", 1)
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0 <= self.momentum < 1, "model.momentum", "must be in [0, 1)")


class AutoRecStepCache(NamedTuple):
    enc: Any             # sparse_dense cache (V, μ)
    g: Any               # sigmoid cache of the hidden layer (None for identity)
    dec: Any             # dense cache (W, b)
    loss: Any            # masked_squared_error cache
    reg: tuple           # l2 caches of (W, V), or () for λ = 0


class Model:
    """AutoRec with V (n, k), mu (k,), W (k, n), b (n,); n = users (I-AutoRec) or items."""

    name = "autorec"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, self.dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                                  config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        self.item_based = config.based == "item"
        n, k = (n_users if self.item_based else n_items), config.hidden_units
        self.n_rows = n_items if self.item_based else n_users           # examples
        self._rows: sp.csr_array | None = None          # training rating vectors (rows)
        self.params = {
            "V": xavier_uniform(rng, n, k, self.dtype),                 # (n, k) encoder
            "mu": np.zeros(k, dtype=self.dtype),                        # (k,)
            "W": xavier_uniform(rng, k, n, self.dtype),                 # (k, n) decoder
            "b": np.zeros(n, dtype=self.dtype),                         # (n,)
        }

    # -- training ---------------------------------------------------------------------------
    def _remember(self, train: Interactions) -> None:
        """Keep the training ratings as rating vectors: rows are items (or users)."""
        R = train.to_csr("ratings", dtype=self.dtype)                   # (U, V)
        self._rows = sp.csr_array(R.T if self.item_based else R)        # (n_rows, n)
        self._rows.sort_indices()

    def batches(self, train: Interactions, rng: np.random.Generator) -> EpochBatches:
        """One epoch: the rows with at least one rating, shuffled, in batches of row ids."""
        check_train(train, self.n_users, self.n_items, "autorec: batches")
        self._remember(train)
        rated = np.flatnonzero(np.diff(self._rows.indptr) > 0)          # (n_rated,)
        return EpochBatches((rng.permutation(rated),), self.config.batch_size)

    def _reconstruct(self, R: sp.csr_array) -> tuple[np.ndarray, tuple]:
        """P = g(R V + μ) W + b for rating rows R (B, n), and the layer caches."""
        prm, cfg = self.params, self.config
        a, c_enc = sparse_dense_forward(R, prm["V"], prm["mu"])         # (B, k)
        h, c_g = (a, None) if cfg.hid_activation == "identity" else sigmoid_forward(a)
        P, c_dec = dense_forward(h, prm["W"], prm["b"])                 # (B, n)
        return P, (c_enc, c_g, c_dec)

    def forward(self, batch: tuple[np.ndarray]) -> tuple[np.floating, AutoRecStepCache]:
        """The batch's squared error at the observed ratings plus the weight penalty."""
        (rows,) = batch
        R = self._rows[rows]                                            # (B, n) sparse
        P, caches = self._reconstruct(R)                                # (B, n)
        loss, c_loss = masked_squared_error_forward(P, R)
        reg: tuple = ()
        if self.config.lam > 0:
            lam = self.config.lam / self.n_rows     # the summed objective divided by n_rows
            reg = (l2_penalty_forward(self.params["W"], lam),
                   l2_penalty_forward(self.params["V"], lam))
            loss = loss + reg[0][0] + reg[1][0]
        return loss, AutoRecStepCache(*caches, c_loss, tuple(r[1] for r in reg))

    def backward(self, cache: AutoRecStepCache) -> dict[str, np.ndarray]:
        """Dense gradients of V, μ, W and b, in reverse order of forward."""
        # Loss -> predictions: non-zero at the observed ratings only.
        dP, _ = masked_squared_error_backward(1.0, cache.loss)         # (B, n)
        # Decoder: into W, b and the hidden layer.
        dh, dW, db = dense_backward(dP, cache.dec)                      # (B, k), (k, n), (n,)
        da = dh if cache.g is None else sigmoid_backward(dh, cache.g)[0]
        # Encoder: the input is data, only V and μ get gradients.
        _, dV, dmu = sparse_dense_backward(da, cache.enc)               # (n, k), (k,)
        if cache.reg:
            # W and V are also read by the penalty: λ' W and λ' V are added.
            dW = dW + l2_penalty_backward(1.0, cache.reg[0])[0]
            dV = dV + l2_penalty_backward(1.0, cache.reg[1])[0]
        return {"V": dV, "mu": dmu, "W": dW, "b": db}

    # -- prediction -------------------------------------------------------------------------
    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (B,) of (user, item) pairs.

        I-AutoRec reconstructs each distinct item's rating vector once and reads the users'
        entries; a user or item without a training rating gets `default_rating`.
        """
        users, items = as_pairs(users, items, self.n_users, self.n_items)
        if self._rows is None:
            raise ConfigError("autorec: predict needs the training ratings (train it first)")
        rows, cols = (items, users) if self.item_based else (users, items)
        distinct, slot = np.unique(rows, return_inverse=True)           # (D,), (B,)
        P, _ = self._reconstruct(self._rows[distinct])                  # (D, n)
        pred = P[slot, cols].astype(np.float64)                         # (B,)
        counts_rows = np.diff(self._rows.indptr)                        # (n_rows,)
        counts_cols = np.bincount(self._rows.indices, minlength=self._rows.shape[1])  # (n,)
        unseen = (counts_rows[rows] == 0) | (counts_cols[cols] == 0)    # (B,)
        pred[unseen] = self.config.default_rating
        if self.config.clip and self._rows.nnz:
            pred = np.clip(pred, self._rows.data.min(), self._rows.data.max())
        return pred

    def item_vectors(self) -> np.ndarray:
        """Item representations: I-AutoRec's hidden code of each item's rating vector
        (V, k), U-AutoRec's decoder columns W[:, i] (V, k), for `nprec similar`."""
        if not self.item_based:
            return self.params["W"].T                                   # (V, k)
        if self._rows is None:
            raise ValueError("autorec: item vectors need the training ratings")
        a, _ = sparse_dense_forward(self._rows, self.params["V"], self.params["mu"])
        return a if self.config.hid_activation == "identity" else sigmoid_forward(a)[0]

    # -- state: the training ratings, which the predictions read ----------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        if self._rows is None:
            return {}
        return {"rows_indptr": self._rows.indptr, "rows_indices": self._rows.indices,
                "rows_ratings": self._rows.data}

    def load_state_arrays(self, state: dict[str, np.ndarray]) -> None:
        # The rating rows are indexed like the parameters: n_rows rows of n ratings.
        n = self.n_users if self.item_based else self.n_items
        self._rows = StoredArrays(state).csr("rows_indptr", "rows_indices", (self.n_rows, n),
                                             data="rows_ratings", dtype=self.dtype)
