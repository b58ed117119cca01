"""Biased matrix factorisation for explicit ratings: the baseline AutoRec is compared with.

The rating of user u for item i is predicted from a global mean, two biases and a dot
product of latent factors (Koren, Bell and Volinsky 2009, eq. (4)):

    r̂_ui = μ + b_u + b_i + p_u · q_i

trained on the observed ratings with squared error and L2 on the parameters each rating
reads (their eq. (5)), here as a mean over the mini-batch:

    loss = (1/B) Σ_(u,i) (r_ui - r̂_ui)² + ½ (reg/B) Σ_(u,i) (‖p_u‖² + ‖q_i‖² + b_u² + b_i²)

μ is the mean training rating, fixed (not learned). A user or item without any training
rating has no learned factors or bias: its terms are left out (r̂ = μ + b_i, μ + b_u or μ),
which is what the model predicts for someone it knows nothing about.

Built from nprec layers and losses: `embedding`, `rowdot`, `squared_error`, `l2_penalty`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.checkpoint import StoredArrays
from nprec.config import check, check_least, check_types
from nprec.data.containers import Interactions
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import rowdot_backward, rowdot_forward
from nprec.losses import l2_penalty_backward, l2_penalty_forward
from nprec.losses.squared import squared_error_backward, squared_error_forward
from nprec.models._indices import as_pairs, check_train
from nprec.models._init_args import check_init
from nprec.train import EpochBatches

KIND = "ratings"
DEFAULTS: dict[str, Any] = {"train.epochs": 50, "eval.protocol": "rating-holdout",
                            "eval.metric": "rmse"}
ALIASES: dict[str, str] = {}


@dataclass
class Config:
    """Hyperparameters of biased MF."""

    factors: int = field(default=50, metadata={"help": "latent factors per user and item"})
    reg: float = field(default=0.05, metadata={
        "help": "L2 λ on the factors and biases each rating reads (mean over the batch)"})
    batch_size: int = field(default=256, metadata={"help": "ratings per mini-batch"})
    optimizer: str = field(default="adam", metadata={"help": "sgd, adagrad or adam"})
    learning_rate: float = field(default=1e-3, metadata={"help": "step size"})
    momentum: float = field(default=0.0, metadata={"help": "sgd/adagrad momentum"})
    init_std: float = field(default=0.1, metadata={"help": "std of the N(0, σ²) factors"})
    clip: bool = field(default=True, metadata={
        "help": "clip predictions to the training ratings' range"})

    def __post_init__(self) -> None:
        check_types(self)
        check_least(self, "factors", 1)
        check(self.reg >= 0, "model.reg", "must be >= 0")
        check_least(self, "batch_size", 1)
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0 <= self.momentum < 1, "model.momentum", "must be in [0, 1)")
        check(self.init_std > 0, "model.init_std", "must be > 0")


class BiasedMfStepCache(NamedTuple):
    p: Any               # embedding caches of P, Q, b_u, b_i
    q: Any
    b_u: Any
    b_i: Any
    dot: Any             # rowdot cache
    loss: Any            # squared_error cache
    reg: tuple           # l2 caches of the rows read (p, q, b_u, b_i)


class Model:
    """Biased MF with P (U, D), Q (V, D), b_u (U, 1), b_i (V, 1); μ from the training data."""

    name = "biasedmf"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        self.n_users, self.n_items, self.dtype = check_init(
            self.name, n_users, n_items, rng, dtype, config=config, config_type=Config)
        D, std = config.factors, config.init_std
        self.params = {
            "P": (std * rng.standard_normal((n_users, D))).astype(self.dtype),  # (U, D)
            "Q": (std * rng.standard_normal((n_items, D))).astype(self.dtype),  # (V, D)
            "b_u": np.zeros((n_users, 1), dtype=self.dtype),                     # (U, 1)
            "b_i": np.zeros((n_items, 1), dtype=self.dtype),                     # (V, 1)
        }
        self.mu = 0.0
        self.range = (-np.inf, np.inf)
        self.known_users = np.zeros(n_users, dtype=bool)
        self.known_items = np.zeros(n_items, dtype=bool)

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> EpochBatches:
        """One epoch: every training rating once, shuffled (μ and the known ids set here)."""
        check_train(train, self.n_users, self.n_items, "biasedmf: batches")
        ratings = train.ratings.astype(np.float64)                      # (nnz,)
        self.mu = float(ratings.mean())
        self.range = (float(ratings.min()), float(ratings.max()))
        self.known_users = train.row_lengths() > 0
        self.known_items = train.item_counts() > 0
        order = rng.permutation(train.nnz)                              # (nnz,)
        return EpochBatches((train.entry_users()[order], train.indices[order].astype(np.int64),
                             train.ratings[order].astype(self.dtype)), self.config.batch_size)

    def forward(self, batch: tuple[np.ndarray, ...]) -> tuple[np.floating, BiasedMfStepCache]:
        """The batch's mean squared error plus the L2 penalty of the rows read."""
        users, items, ratings = batch
        prm = self.params
        p, c_p = embedding_forward(users, prm["P"])                     # (B, D)
        q, c_q = embedding_forward(items, prm["Q"])                     # (B, D)
        b_u, c_bu = embedding_forward(users, prm["b_u"])                # (B, 1)
        b_i, c_bi = embedding_forward(items, prm["b_i"])                # (B, 1)
        dot, c_dot = rowdot_forward(p, q)                               # (B,)
        pred = self.dtype.type(self.mu) + b_u[:, 0] + b_i[:, 0] + dot   # (B,)
        loss, c_loss = squared_error_forward(pred, ratings)
        lam = self.config.reg / users.size
        reg = tuple(l2_penalty_forward(x, lam) for x in (p, q, b_u, b_i))
        loss = loss + sum(r[0] for r in reg)
        return loss, BiasedMfStepCache(c_p, c_q, c_bu, c_bi, c_dot, c_loss,
                                       tuple(r[1] for r in reg))

    def backward(self, cache: BiasedMfStepCache) -> dict[str, Any]:
        """Row gradients of the factor and bias tables the batch read."""
        # Loss -> prediction; the prediction is a sum, so every term receives dpred.
        dpred, _ = squared_error_backward(1.0, cache.loss)              # (B,)
        dp, dq = rowdot_backward(dpred, cache.dot)                      # (B, D) each
        # Each row read is also penalised: its λ' row is added to its gradient.
        dp_reg, dq_reg, dbu_reg, dbi_reg = (l2_penalty_backward(1.0, c)[0] for c in cache.reg)
        _, dP = embedding_backward(dp + dp_reg, cache.p)
        _, dQ = embedding_backward(dq + dq_reg, cache.q)
        _, db_u = embedding_backward(dpred[:, None] + dbu_reg, cache.b_u)
        _, db_i = embedding_backward(dpred[:, None] + dbi_reg, cache.b_i)
        return {"P": dP, "Q": dQ, "b_u": db_u, "b_i": db_i}

    # -- prediction -------------------------------------------------------------------------
    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (B,); unknown users' and items' terms are left out."""
        users, items = as_pairs(users, items, self.n_users, self.n_items)
        prm = self.params
        ku, ki = self.known_users[users], self.known_items[items]       # (B,) each
        dot = np.einsum("bd,bd->b", prm["P"][users], prm["Q"][items])   # (B,)
        pred = (self.mu + ku * prm["b_u"][users, 0] + ki * prm["b_i"][items, 0]
                + (ku & ki) * dot).astype(np.float64)                   # (B,)
        return np.clip(pred, *self.range) if self.config.clip else pred

    def item_vectors(self) -> np.ndarray:
        """The item factors Q (V, D), for `nprec similar`."""
        return self.params["Q"]

    # -- state: μ, the rating range and which ids were seen in training ---------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"mu": np.array([self.mu]), "range": np.array(self.range),
                "known_users": self.known_users, "known_items": self.known_items}

    def load_state_arrays(self, state: dict[str, np.ndarray]) -> None:
        s = StoredArrays(state)
        mu = float(s.get("mu", "f", (1,))[0])
        lo, hi = (float(x) for x in s.get("range", "f", (2,)))
        # μ is the mean of the training ratings, so it lies in their range; a reversed
        # range would clip every prediction to one value.
        if not lo <= mu <= hi:
            s.refuse("range", f"[{lo}, {hi}] does not hold the mean rating mu = {mu}")
        self.mu, self.range = mu, (lo, hi)
        self.known_users = s.get("known_users", "b", (self.n_users,))
        self.known_items = s.get("known_items", "b", (self.n_items,))
