"""NeuMF: GMF and MLP fused under one output layer (He et al., WWW 2017, §3.4).

    φ^GMF = p^G_u ⊙ q^G_i                                            f = factors
    φ^MLP = z_L of the ReLU tower over [p^M_u; q^M_i]                 layers = [64, 32, 16, 8]
    ŷ_ui  = σ(hᵀ [φ^GMF; φ^MLP] + b)                              (He et al. 2017, eq. 12)

The two parts have separate embeddings, so each may have its own size. They are stored side
by side: P = [P^G | P^M] (U, f + d) and Q = [Q^G | Q^M] (V, f + d), where d = layers[0]/2.
The column blocks are never mixed (GMF reads the first f columns, the tower the other d),
so this is exactly the paper's model; one lookup, one row gradient and one optimizer update
per table then serve both parts. Trained like GMF and MLP (`nprec.models.ncf`): log loss
over 4 sampled negatives per pair, Adam, lr 1e-3, batch 256.

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

from nprec.config import Settings, check, check_least
from nprec.data.containers import Interactions
from nprec.errors import CheckpointError, ConfigError
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.products import (
    concat_backward,
    concat_forward,
    hadamard_backward,
    hadamard_forward,
)
from nprec.models import gmf, mlp
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

__all__ = ["ALIASES", "DEFAULTS", "KIND", "Config", "Model", "pretrain_stages"]


@dataclass
class Config(NcfConfig):
    """Hyperparameters of NeuMF (defaults: the paper's ML-1M settings, factors 8)."""

    factors: int = field(default=8, metadata={
        "help": "GMF predictive factors: size of p^G, q^G (num_factors); also sets the "
                "default tower"})
    layers: list[int] = field(default_factory=list, metadata={
        "help": "MLP tower sizes, layers[0] = 2 x the MLP embedding size, e.g. 64,32,16,8 "
                "(default: [8f, 4f, 2f, f] for f = factors, the official [64, 32, 16, 8] for 8)"})
    pretrain: bool = field(default=False, metadata={
        "help": "pre-train GMF and MLP first, start from their weights, then use plain SGD"})
    alpha: float = field(default=0.5, metadata={
        "help": "pre-training: weight of GMF's output layer in the fused one (1 - alpha: MLP)"})
    finetune_optimizer: str = field(default="sgd", metadata={
        "help": "optimizer after pre-training (the paper: vanilla SGD)"})
    finetune_learning_rate: float = field(default=1e-3, metadata={
        "help": "step size after pre-training"})
    gmf_epochs: int = field(default=0, metadata={
        "help": "pre-training: epochs of the GMF stage (0 = train.epochs)"})
    mlp_epochs: int = field(default=0, metadata={
        "help": "pre-training: epochs of the MLP stage (0 = train.epochs)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_least(self, "factors", 1)
        check_layers(self.layers)
        check(0.0 <= self.alpha <= 1.0, "model.alpha", "must be in [0, 1]")
        check(self.finetune_optimizer in ("sgd", "adagrad", "adam"), "model.finetune_optimizer",
              f"must be sgd, adagrad or adam, got {self.finetune_optimizer!r}")
        check(self.finetune_learning_rate > 0, "model.finetune_learning_rate", "must be > 0")
        check_least(self, "gmf_epochs", 0)
        check_least(self, "mlp_epochs", 0)

    def tower(self) -> list[int]:
        """The tower sizes in use: `layers`, or [8f, 4f, 2f, f] for f = `factors`."""
        return list(self.layers) or default_tower(self.factors)

    def optimizer_settings(self) -> tuple[str, float, float]:
        """(name, learning rate, momentum): the fine-tuning optimizer after pre-training."""
        if self.pretrain:
            return self.finetune_optimizer, self.finetune_learning_rate, self.momentum
        return self.optimizer, self.learning_rate, self.momentum


def pretrain_stages(settings: Settings) -> list[tuple[str, Settings]]:
    """The GMF and MLP runs that pre-train a NeuMF run (none without `pretrain`).

    Each stage has NeuMF's shared training options, the GMF factors or the MLP tower, and the
    run's data, training and evaluation sections (its epochs from `gmf_epochs` / `mlp_epochs`
    when set). To test on models trained on all training data, as the paper does, run once
    with validation to choose the three epoch counts, then again with `data.valid = "none"`,
    `gmf_epochs`, `mlp_epochs` and `train.epochs` set to them (`train.refit` would re-train
    the stages for NeuMF's epoch count, so it is refused here).
    """
    cfg = settings.model
    if not cfg.pretrain:
        return []
    if settings.train.refit:
        # The refit run would pre-train again, for NeuMF's chosen epoch count.
        raise ConfigError("train.refit: not supported with model.pretrain (the refit would "
                          "re-train GMF and MLP for NeuMF's number of epochs); set "
                          "train.refit = false")
    shared = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(NcfConfig)}
    stages = [("gmf", gmf.Config(factors=cfg.factors, **shared), cfg.gmf_epochs),
              ("mlp", mlp.Config(layers=cfg.tower(), **shared), cfg.mlp_epochs)]
    return [(name, Settings(name, config, settings.data,
                            dataclasses.replace(settings.train,
                                                epochs=epochs or settings.train.epochs),
                            settings.eval))
            for name, config, epochs in stages]


class NeumfCache(NamedTuple):
    p: Any               # embedding caches of P (users) and Q (items)
    q: Any
    phi_gmf: Any         # hadamard cache (GMF part)
    z0: Any              # concat cache of the MLP input
    tower: Any           # TowerCache
    phi: Any             # concat cache of [φ^GMF; φ^MLP]
    out: Any             # output layer and loss caches


class Model:
    """NeuMF with P = [P^G | P^M] (U, f + d), Q = [Q^G | Q^M] (V, f + d), W_l, b_l, h, b."""

    name = "neumf"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                             config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        self.layers = config.tower()
        self.f, d, std = config.factors, self.layers[0] // 2, config.init_std
        self.params = {"P": gaussian(rng, (n_users, self.f + d), std, dtype),   # (U, f + d)
                       "Q": gaussian(rng, (n_items, self.f + d), std, dtype)}   # (V, f + d)
        init_tower(self.params, self.layers, rng, dtype)
        init_output(self.params, self.f + self.layers[-1], rng, dtype)

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
        f, d = self.f, self.layers[0] // 2
        U, V = self.n_users, self.n_items
        expected = [("gmf", g, "P", (U, f)), ("gmf", g, "Q", (V, f)), ("gmf", g, "h", (f,)),
                    ("gmf", g, "b", (1,)), ("mlp", m, "P", (U, d)), ("mlp", m, "Q", (V, d)),
                    ("mlp", m, "h", (self.layers[-1],)), ("mlp", m, "b", (1,))]
        expected += [("mlp", m, name, self.params[name].shape) for name in self.params
                     if name[:2] in ("W_", "b_")]
        for stage, source, name, shape in expected:
            if name not in source or source[name].shape != shape:
                found = source[name].shape if name in source else "nothing"
                raise CheckpointError(f"pre-trained {stage} {name}: expected shape {shape} "
                                      f"(NeuMF factors {f}, layers {self.layers}), found "
                                      f"{found}")
        a = self.config.alpha
        dtype = self.params["P"].dtype
        fused = {"P": np.concatenate([g["P"], m["P"]], axis=1),            # [P^G | P^M]
                 "Q": np.concatenate([g["Q"], m["Q"]], axis=1),            # [Q^G | Q^M]
                 "h": np.concatenate([a * g["h"], (1.0 - a) * m["h"]]),    # (f + f_M,)
                 "b": a * g["b"] + (1.0 - a) * m["b"]}                     # (1,)
        fused.update({name: m[name] for name in self.params if name[:2] in ("W_", "b_")})
        self.params.update({name: np.array(fused[name], dtype=dtype) for name in self.params})

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> EpochBatches:
        """One epoch: every training pair and `negatives` fresh negatives per pair."""
        check_train(train, self.n_users, self.n_items, "neumf: batches")
        cfg = self.config
        return epoch_batches(train, cfg.negatives, cfg.batch_size, rng,
                             self.params["P"].dtype)

    def forward(self, batch: tuple[np.ndarray, ...]) -> tuple[np.floating, NeumfCache]:
        """The mean log loss of a batch (users (B,), items (B,), labels (B,)) and its cache."""
        users, items, labels = batch
        prm, f = self.params, self.f
        p, c_p = embedding_forward(users, prm["P"])                     # (B, f + d) [p^G|p^M]
        q, c_q = embedding_forward(items, prm["Q"])                     # (B, f + d) [q^G|q^M]
        # GMF part on the first f columns.
        phi_G, c_phiG = hadamard_forward(p[:, :f], q[:, :f])            # (B, f)
        # MLP part on the other d columns.
        z0, c_z0 = concat_forward(p[:, f:], q[:, f:])                   # (B, 2d)
        phi_M, c_tower = tower_forward(z0, prm, self.n_layers)          # (B, f_M)
        # Fusion: one output unit over both.
        phi, c_phi = concat_forward(phi_G, phi_M)                       # (B, f + f_M)
        loss, c_out = output_forward(phi, prm["h"], prm["b"], labels)
        return loss, NeumfCache(c_p, c_q, c_phiG, c_z0, c_tower, c_phi, c_out)

    def backward(self, cache: NeumfCache) -> dict[str, Any]:
        """Gradients of P and Q (rows), of every tower layer and of h and b."""
        # Loss -> logits -> the output unit and its input [φ^GMF; φ^MLP].
        dphi, dh, db = output_backward(cache.out)                       # (B, f + f_M)
        dphi_G, dphi_M = concat_backward(dphi, cache.phi)               # (B, f), (B, f_M)
        # MLP path: down the tower, then split into the user and item halves.
        dz0, grads = tower_backward(dphi_M, cache.tower)                # (B, 2d)
        dp_M, dq_M = concat_backward(dz0, cache.z0)                     # (B, d) each
        # GMF path: through the element-wise product.
        dp_G, dq_G = hadamard_backward(dphi_G, cache.phi_gmf)           # (B, f) each
        # Both parts read disjoint column blocks of the same rows: their gradients sit side
        # by side in the row's gradient.
        dp = np.concatenate([dp_G, dp_M], axis=1)                       # (B, f + d)
        dq = np.concatenate([dq_G, dq_M], axis=1)                       # (B, f + d)
        _, grads["P"] = embedding_backward(dp, cache.p)
        _, grads["Q"] = embedding_backward(dq, cache.q)
        grads["h"], grads["b"] = dh, db
        return grads

    # -- scoring ----------------------------------------------------------------------------
    def _logits(self, users: np.ndarray, gmf_part: np.ndarray,
                mlp_items: np.ndarray) -> np.ndarray:
        """GMF's logit part (B, C) plus the MLP's for the MLP item embeddings, plus b."""
        prm, f = self.params, self.f
        d = self.layers[0] // 2
        user_part = prm["P"][users, f:] @ prm["W_1"][:d] + prm["b_1"]   # (B, H1)
        mlp_part = tower_scores(user_part, mlp_items @ prm["W_1"][d:], prm, self.n_layers,
                                prm["h"][f:])                           # (B, C)
        return gmf_part + mlp_part + prm["b"][0]                        # (B, C)

    def _gmf_users(self, users: np.ndarray) -> np.ndarray:
        """p^G ⊙ h^G (B, f), so that GMF's logit part is a dot product with q^G."""
        f = self.f
        return self.params["P"][users, :f] * self.params["h"][:f]       # (B, f)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Logits of every item for each user: (B, V)."""
        users = as_users(users, self.n_users, "score_all")
        Q, f = self.params["Q"], self.f
        return self._logits(users, self._gmf_users(users) @ Q[:, :f].T, Q[:, f:])

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Logits of the candidate items (B, C) of each user: (B, C)."""
        users, items = as_candidates(users, items, self.n_users, self.n_items)
        q = self.params["Q"][items]                                     # (B, C, f + d)
        f = self.f
        gmf_part = np.einsum("bf,bcf->bc", self._gmf_users(users), q[..., :f])  # (B, C)
        return self._logits(users, gmf_part, q[..., f:])

    def item_vectors(self) -> np.ndarray:
        """[Q^G ⊙ h^G, Q^M] (V, f + d): both item embeddings, GMF's as the output weighs it."""
        Q, f = self.params["Q"], self.f
        return np.concatenate([Q[:, :f] * self.params["h"][:f], Q[:, f:]], axis=1)
