"""GMF: Generalized Matrix Factorization, the linear half of NCF (He et al., WWW 2017, §3.2).

    ŷ_ui = σ(hᵀ (p_u ⊙ q_i) + b)                                (He et al. 2017, eq. 9)

With h = 1 and b = 0 this is matrix factorisation's dot product; learning h weights each
latent dimension. Trained with NCF's pointwise log loss over 4 sampled negatives per pair
(`nprec.models.ncf`). Built from `embedding`, `hadamard` and the shared output unit with
its log loss (`bce_output`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.config import check_least
from nprec.data.containers import Interactions
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import hadamard_backward, hadamard_forward
from nprec.models._indices import as_candidates, as_users, check_train
from nprec.models._init_args import check_init
from nprec.models.ncf import (
    ALIASES,
    DEFAULTS,
    KIND,
    NcfConfig,
    epoch_batches,
    gaussian,
    init_output,
    output_backward,
    output_forward,
)
from nprec.train import EpochBatches

__all__ = ["ALIASES", "DEFAULTS", "KIND", "Config", "Model"]


@dataclass
class Config(NcfConfig):
    """Hyperparameters of GMF (defaults: the paper's ML-1M settings)."""

    factors: int = field(default=8, metadata={
        "help": "predictive factors: size of p_u, q_i and h (num_factors)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_least(self, "factors", 1)


class GmfCache(NamedTuple):
    p: Any               # embedding caches of P (users) and Q (items)
    q: Any
    phi: Any             # hadamard cache
    out: Any             # output layer and loss caches


class Model:
    """GMF with parameters P (U, f), Q (V, f), h (f,), b (1,)."""

    name = "gmf"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                             config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        f, std = config.factors, config.init_std
        self.params = {"P": gaussian(rng, (n_users, f), std, dtype),    # (U, f)
                       "Q": gaussian(rng, (n_items, f), std, dtype)}    # (V, f)
        init_output(self.params, f, rng, dtype)

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> EpochBatches:
        """One epoch: every training pair and `negatives` fresh negatives per pair."""
        check_train(train, self.n_users, self.n_items, "gmf: batches")
        cfg = self.config
        return epoch_batches(train, cfg.negatives, cfg.batch_size, rng,
                             self.params["P"].dtype)

    def forward(self, batch: tuple[np.ndarray, ...]) -> tuple[np.floating, GmfCache]:
        """The mean log loss of a batch (users (B,), items (B,), labels (B,)) and its cache."""
        users, items, labels = batch
        prm = self.params
        p, c_p = embedding_forward(users, prm["P"])                     # (B, f)
        q, c_q = embedding_forward(items, prm["Q"])                     # (B, f)
        phi, c_phi = hadamard_forward(p, q)                             # (B, f)
        loss, c_out = output_forward(phi, prm["h"], prm["b"], labels)
        return loss, GmfCache(c_p, c_q, c_phi, c_out)

    def backward(self, cache: GmfCache) -> dict[str, Any]:
        """Gradients of P and Q (rows) and of h and b."""
        # Loss -> logits -> the output layer's weights and its input φ.
        dphi, dh, db = output_backward(cache.out)                       # (B, f), (f,), (1,)
        # φ = p ⊙ q: each factor gets dφ times the other.
        dp, dq = hadamard_backward(dphi, cache.phi)                     # (B, f) each
        _, dP = embedding_backward(dp, cache.p)
        _, dQ = embedding_backward(dq, cache.q)
        return {"P": dP, "Q": dQ, "h": dh, "b": db}

    # -- scoring ----------------------------------------------------------------------------
    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Logits of every item for each user: (B, V), using hᵀ(p ⊙ q) = (p ⊙ h)ᵀ q."""
        users = as_users(users, self.n_users, "score_all")
        prm = self.params
        return (prm["P"][users] * prm["h"]) @ prm["Q"].T + prm["b"][0]   # (B, V)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits of the candidates items (B, C) of each user: (B, C)."""
        users, items = as_candidates(users, items, self.n_users, self.n_items)
        prm = self.params
        ph = prm["P"][users] * prm["h"]                           # (B, f)
        return np.einsum("bf,bcf->bc", ph, prm["Q"][items]) + prm["b"][0]  # (B, C)

    def item_vectors(self) -> np.ndarray:
        """Q ⊙ h (V, f): the item factors as the output layer weighs them."""
        return self.params["Q"] * self.params["h"]                # (V, f)
