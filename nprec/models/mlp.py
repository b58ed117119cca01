"""MLP: NCF's multi-layer perceptron over concatenated embeddings (He et al., WWW 2017, §3.3).

    z_0 = [p_u; q_i]                                 user and item embeddings, layers[0]/2 each
    z_l = ReLU(z_{l-1} W_l + b_l),  l = 1..L          the tower, layers = [64, 32, 16, 8]
    ŷ_ui = σ(hᵀ z_L + b)                                          (He et al. 2017, eq. 10)

The "predictive factors" are layers[-1]; `factors` f alone builds the paper's three-layer
tower [8f, 4f, 2f, f]. Trained with NCF's pointwise log loss over 4 sampled negatives per
pair (`nprec.models.ncf`). Built from `embedding`, `concat`, `dense`, `relu` and the shared
output layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.config import check, check_least
from nprec.data.containers import Interactions
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import concat_backward, concat_forward
from nprec.models._indices import as_candidates, as_users, check_train
from nprec.models._init_args import check_init
from nprec.models.ncf import (
    ALIASES,
    DEFAULTS,
    KIND,
    NcfConfig,
    check_layers,
    default_tower,
    epoch_batches,
    gaussian,
    init_output,
    init_tower,
    output_backward,
    output_forward,
    tower_backward,
    tower_forward,
    tower_scores,
)
from nprec.train import EpochBatches

__all__ = ["ALIASES", "DEFAULTS", "KIND", "Config", "Model"]


@dataclass
class Config(NcfConfig):
    """Hyperparameters of the NCF MLP (defaults: the paper's ML-1M settings)."""

    factors: int | None = field(default=None, metadata={
        "help": "predictive factors f: the tower [8f, 4f, 2f, f] (default 8 when "
                "layers is not given; must equal layers[-1] when it is)"})
    layers: list[int] = field(default_factory=list, metadata={
        "help": "tower sizes, layers[0] = the concatenated embeddings (2 x embedding size), "
                "e.g. 64,32,16,8 (default: from factors)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_least(self, "factors", 1)
        check_layers(self.layers)
        check(not self.layers or self.factors in (None, self.layers[-1]), "model.factors",
              f"{self.factors} differs from the last of model.layers {self.layers}; give "
              f"one of the two")

    def tower(self) -> list[int]:
        """The tower sizes in use: `layers`, or [8f, 4f, 2f, f] for f = `factors` (8)."""
        return list(self.layers) or default_tower(self.factors or 8)


class MlpCache(NamedTuple):
    p: Any               # embedding caches of P (users) and Q (items)
    q: Any
    z0: Any              # concat cache
    tower: Any           # TowerCache
    out: Any             # output layer and loss caches


class Model:
    """MLP with P (U, d), Q (V, d) (d = layers[0]/2), W_l (I, O), b_l (O,), h (f,), b (1,)."""

    name = "mlp"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                             config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        self.layers = config.tower()
        d, std = self.layers[0] // 2, config.init_std
        self.params = {"P": gaussian(rng, (n_users, d), std, dtype),    # (U, d)
                       "Q": gaussian(rng, (n_items, d), std, dtype)}    # (V, d)
        init_tower(self.params, self.layers, rng, dtype)
        init_output(self.params, self.layers[-1], rng, dtype)

    @property
    def n_layers(self) -> int:
        return len(self.layers) - 1

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> EpochBatches:
        """One epoch: every training pair and `negatives` fresh negatives per pair."""
        check_train(train, self.n_users, self.n_items, "mlp: batches")
        cfg = self.config
        return epoch_batches(train, cfg.negatives, cfg.batch_size, rng,
                             self.params["P"].dtype)

    def forward(self, batch: tuple[np.ndarray, ...]) -> tuple[np.floating, MlpCache]:
        """The mean log loss of a batch (users (B,), items (B,), labels (B,)) and its cache."""
        users, items, labels = batch
        prm = self.params
        p, c_p = embedding_forward(users, prm["P"])                     # (B, d)
        q, c_q = embedding_forward(items, prm["Q"])                     # (B, d)
        z0, c_z0 = concat_forward(p, q)                                 # (B, 2d)
        z, c_tower = tower_forward(z0, prm, self.n_layers)              # (B, f)
        loss, c_out = output_forward(z, prm["h"], prm["b"], labels)
        return loss, MlpCache(c_p, c_q, c_z0, c_tower, c_out)

    def backward(self, cache: MlpCache) -> dict[str, Any]:
        """Gradients of P and Q (rows), of every tower layer and of h and b."""
        # Loss -> logits -> the output layer and z_L.
        dz, dh, db = output_backward(cache.out)                         # (B, f), (f,), (1,)
        # Down the tower, layer L to 1.
        dz0, grads = tower_backward(dz, cache.tower)                    # (B, 2d)
        # The concatenation splits the gradient into the user and the item half.
        dp, dq = concat_backward(dz0, cache.z0)                         # (B, d) each
        _, grads["P"] = embedding_backward(dp, cache.p)
        _, grads["Q"] = embedding_backward(dq, cache.q)
        grads["h"], grads["b"] = dh, db
        return grads

    # -- scoring ----------------------------------------------------------------------------
    def _logits(self, users: np.ndarray, item_part: np.ndarray) -> np.ndarray:
        prm = self.params
        d = self.layers[0] // 2
        user_part = prm["P"][users] @ prm["W_1"][:d] + prm["b_1"]        # (B, H1)
        return tower_scores(user_part, item_part, prm, self.n_layers,
                            prm["h"]) + prm["b"][0]               # (B, C)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Logits of every item for each user: (B, V)."""
        users = as_users(users, self.n_users, "score_all")
        d = self.layers[0] // 2
        return self._logits(users, self.params["Q"] @ self.params["W_1"][d:])   # (B, V)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits of the candidate items (B, C) of each user: (B, C)."""
        users, items = as_candidates(users, items, self.n_users, self.n_items)
        d = self.layers[0] // 2
        return self._logits(users, self.params["Q"][items] @ self.params["W_1"][d:])

    def item_vectors(self) -> np.ndarray:
        """The item embeddings Q (V, d)."""
        return self.params["Q"]
