"""NeuMF: GMF and MLP fused under one output layer (He et al., WWW 2017, §3.4).

    φ^GMF = p^G_u ⊙ q^G_i                                            f = factors
    φ^MLP = z_L of the ReLU tower over [p^M_u; q^M_i]                 layers = [64, 32, 16, 8]
    ŷ_ui  = σ(hᵀ [φ^GMF; φ^MLP] + b)                              (He et al. 2017, eq. 12)

The two parts have separate embeddings (P_G, Q_G and P_M, Q_M), so each may have its own
size. Trained like GMF and MLP (`nprec.models.ncf`): log loss over 4 sampled negatives per
pair, Adam, lr 1e-3, batch 256.

Pre-training (`pretrain = true`, the paper's recipe, §3.4.1): GMF and MLP are first trained
on their own (each a complete run under DIR/pretrain/gmf and DIR/pretrain/mlp, with this run's
data, epochs and seed); their best parameters initialise NeuMF's embeddings and tower, and the
output layer is their weighted concatenation

    h ← [α h^GMF; (1 - α) h^MLP],   b ← α b^GMF + (1 - α) b^MLP        (eq. 13), α = 0.5

(the bias rule is the official code's `load_pretrain_model`), so NeuMF starts as the
α-blend of the two models' logits. It is then trained with plain SGD, not Adam: the paper
argues the pre-trained parameters come without Adam's moment estimates. The SGD step size
is `finetune_learning_rate` (the official code passes its `--lr`, 0.001, to the optimizer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.config import Settings, check
from nprec.data.containers import Interactions
from nprec.errors import CheckpointError
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import (
    concat_backward,
    concat_forward,
    hadamard_backward,
    hadamard_forward,
)
from nprec.models import gmf, mlp
from nprec.models.ncf import (
    ALIASES,
    DEFAULTS,
    KIND,
    NcfConfig,
    check_layers,
    epoch_batches,
    gaussian,
    init_output,
    init_tower,
    output_backward,
    output_forward,
    paper_tower,
    tower_backward,
    tower_forward,
    tower_scores,
)
from nprec.train import EpochBatches

__all__ = ["ALIASES", "DEFAULTS", "KIND", "Config", "Model", "pretrain_stages"]


@dataclass
class Config(NcfConfig):
    """Hyperparameters of NeuMF (defaults: the paper's ML-1M settings, factors 8)."""

    factors: int = field(default=8, metadata={
        "help": "GMF predictive factors: size of p^G, q^G (num_factors); also sets the "
                "default tower"})
    layers: list[int] = field(default_factory=list, metadata={
        "help": "MLP tower sizes, layers[0] = 2 x the MLP embedding size, e.g. 64,32,16,8 "
                "(default: the paper's [8f, 4f, 2f, f] for f = factors)"})
    pretrain: bool = field(default=False, metadata={
        "help": "pre-train GMF and MLP first, start from their weights, then use plain SGD"})
    alpha: float = field(default=0.5, metadata={
        "help": "pre-training: weight of GMF's output layer in the fused one (1 - alpha: MLP)"})
    finetune_optimizer: str = field(default="sgd", metadata={
        "help": "optimizer after pre-training (the paper: vanilla SGD)"})
    finetune_learning_rate: float = field(default=1e-3, metadata={
        "help": "step size after pre-training"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.factors >= 1, "model.factors", "must be >= 1")
        check_layers(self.layers)
        check(0.0 <= self.alpha <= 1.0, "model.alpha", "must be in [0, 1]")
        check(self.finetune_optimizer in ("sgd", "adagrad", "adam"), "model.finetune_optimizer",
              f"must be sgd, adagrad or adam, got {self.finetune_optimizer!r}")
        check(self.finetune_learning_rate > 0, "model.finetune_learning_rate", "must be > 0")

    def tower(self) -> list[int]:
        """The tower sizes in use: `layers`, or the paper's tower for `factors`."""
        return list(self.layers) or paper_tower(self.factors)

    def optimizer_settings(self) -> tuple[str, float, float]:
        """(name, learning rate, momentum): the fine-tuning optimizer after pre-training."""
        if self.pretrain:
            return self.finetune_optimizer, self.finetune_learning_rate, self.momentum
        return self.optimizer, self.learning_rate, self.momentum


def pretrain_stages(settings: Settings) -> list[tuple[str, Settings]]:
    """The GMF and MLP runs that pre-train a NeuMF run (none without `pretrain`).

    Each stage has NeuMF's shared training options, the GMF factors or the MLP tower, and the
    run's data, training and evaluation sections.
    """
    cfg = settings.model
    if not cfg.pretrain:
        return []
    shared = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(NcfConfig)}
    stages = [("gmf", gmf.Config(factors=cfg.factors, **shared)),
              ("mlp", mlp.Config(layers=cfg.tower(), **shared))]
    return [(name, Settings(name, config, settings.data, settings.train, settings.eval))
            for name, config in stages]


class NeumfCache(NamedTuple):
    p_gmf: Any           # embedding caches of P_G, Q_G, P_M, Q_M
    q_gmf: Any
    p_mlp: Any
    q_mlp: Any
    phi_gmf: Any         # hadamard cache (GMF part)
    z0: Any              # concat cache of the MLP input
    tower: Any           # TowerCache
    phi: Any             # concat cache of [φ^GMF; φ^MLP]
    out: Any             # output layer and loss caches


class Model:
    """NeuMF with P_G (U, f), Q_G (V, f), P_M (U, d), Q_M (V, d), W_l, b_l, h (f + f_M, 1), b."""

    name = "neumf"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        self.n_users, self.n_items = n_users, n_items
        self.layers = config.tower()
        f, d, std = config.factors, self.layers[0] // 2, config.init_std
        self.params = {"P_G": gaussian(rng, (n_users, f), std, dtype),  # (U, f)
                       "Q_G": gaussian(rng, (n_items, f), std, dtype),  # (V, f)
                       "P_M": gaussian(rng, (n_users, d), std, dtype),  # (U, d)
                       "Q_M": gaussian(rng, (n_items, d), std, dtype)}  # (V, d)
        init_tower(self.params, self.layers, rng, dtype)
        init_output(self.params, f + self.layers[-1], rng, dtype)

    @property
    def n_layers(self) -> int:
        return len(self.layers) - 1

    def load_pretrained(self, pretrained: dict[str, dict[str, np.ndarray]]) -> None:
        """Start from pre-trained GMF and MLP parameters (eq. 13; module docstring).

        Args:
            pretrained: {"gmf": GMF params, "mlp": MLP params}, e.g. their best checkpoints.
        Raises:
            CheckpointError if a pre-trained array does not fit this model.
        """
        g, m = pretrained["gmf"], pretrained["mlp"]
        copies = {"P_G": g["P"], "Q_G": g["Q"], "P_M": m["P"], "Q_M": m["Q"]}
        copies.update({f"{w}_{k}": m[f"{w}_{k}"] for k in range(1, self.n_layers + 1)
                       for w in ("W", "b")})
        a = self.config.alpha
        copies["h"] = np.concatenate([a * g["h"], (1.0 - a) * m["h"]])  # (f + f_M, 1)
        copies["b"] = a * g["b"] + (1.0 - a) * m["b"]                    # (1,)
        for name, value in copies.items():
            own = self.params[name]
            if value.shape != own.shape:
                raise CheckpointError(f"pre-trained {name}: shape {value.shape} does not fit "
                                      f"NeuMF's {own.shape}")
            self.params[name] = np.array(value, dtype=own.dtype)

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> EpochBatches:
        """One epoch: every training pair and `negatives` fresh negatives per pair."""
        cfg = self.config
        return epoch_batches(train, cfg.negatives, cfg.batch_size, rng,
                             self.params["P_G"].dtype)

    def forward(self, batch: tuple[np.ndarray, ...]) -> tuple[np.floating, NeumfCache]:
        """The mean log loss of a batch (users (B,), items (B,), labels (B,)) and its cache."""
        users, items, labels = batch
        prm = self.params
        # GMF part.
        p_G, c_pG = embedding_forward(users, prm["P_G"])                # (B, f)
        q_G, c_qG = embedding_forward(items, prm["Q_G"])                # (B, f)
        phi_G, c_phiG = hadamard_forward(p_G, q_G)                      # (B, f)
        # MLP part.
        p_M, c_pM = embedding_forward(users, prm["P_M"])                # (B, d)
        q_M, c_qM = embedding_forward(items, prm["Q_M"])                # (B, d)
        z0, c_z0 = concat_forward(p_M, q_M)                             # (B, 2d)
        phi_M, c_tower = tower_forward(z0, prm, self.n_layers)          # (B, f_M)
        # Fusion: one output layer over both.
        phi, c_phi = concat_forward(phi_G, phi_M)                       # (B, f + f_M)
        loss, c_out = output_forward(phi, prm["h"], prm["b"], labels)
        return loss, NeumfCache(c_pG, c_qG, c_pM, c_qM, c_phiG, c_z0, c_tower, c_phi, c_out)

    def backward(self, cache: NeumfCache) -> dict[str, Any]:
        """Gradients of the four tables (rows), of every tower layer and of h and b."""
        # Loss -> logits -> the output layer and its input [φ^GMF; φ^MLP].
        dphi, dh, db = output_backward(cache.out)                       # (B, f + f_M)
        dphi_G, dphi_M = concat_backward(dphi, cache.phi)               # (B, f), (B, f_M)
        # MLP path: down the tower, then split into the user and item halves.
        dz0, grads = tower_backward(dphi_M, cache.tower)                # (B, 2d)
        dp_M, dq_M = concat_backward(dz0, cache.z0)                     # (B, d) each
        # GMF path: through the element-wise product.
        dp_G, dq_G = hadamard_backward(dphi_G, cache.phi_gmf)             # (B, f) each
        _, grads["P_G"] = embedding_backward(dp_G, cache.p_gmf)
        _, grads["Q_G"] = embedding_backward(dq_G, cache.q_gmf)
        _, grads["P_M"] = embedding_backward(dp_M, cache.p_mlp)
        _, grads["Q_M"] = embedding_backward(dq_M, cache.q_mlp)
        grads["h"], grads["b"] = dh, db
        return grads

    # -- scoring ----------------------------------------------------------------------------
    def _logits(self, users: np.ndarray, gmf_part: np.ndarray,
                mlp_items: np.ndarray) -> np.ndarray:
        """GMF's logit part (B, C) plus the MLP's for the MLP item embeddings, plus b."""
        prm = self.params
        f, d = self.config.factors, self.layers[0] // 2
        user_part = prm["P_M"][users] @ prm["W_1"][:d] + prm["b_1"]     # (B, H1)
        mlp_part = tower_scores(user_part, mlp_items @ prm["W_1"][d:], prm, self.n_layers,
                                prm["h"][f:, 0])                        # (B, C)
        return gmf_part + mlp_part + prm["b"][0]                        # (B, C)

    def _gmf_users(self, users: np.ndarray) -> np.ndarray:
        """p^G ⊙ h_G (B, f), so that GMF's logit part is a dot product with q^G."""
        f = self.config.factors
        return self.params["P_G"][users] * self.params["h"][:f, 0]      # (B, f)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Logits of every item for each user: (B, V)."""
        prm = self.params
        return self._logits(users, self._gmf_users(users) @ prm["Q_G"].T, prm["Q_M"])

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits of the candidate items (B, C) of each user: (B, C)."""
        prm = self.params
        gmf_part = np.einsum("bf,bcf->bc", self._gmf_users(users), prm["Q_G"][items])
        return self._logits(users, gmf_part, prm["Q_M"][items])

    def item_vectors(self) -> np.ndarray:
        """[Q_G ⊙ h_G, Q_M] (V, f + d): both item embeddings, GMF's as the output weighs it."""
        prm = self.params
        f = self.config.factors
        return np.concatenate([prm["Q_G"] * prm["h"][:f, 0], prm["Q_M"]], axis=1)
