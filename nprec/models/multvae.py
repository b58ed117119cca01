"""Mult-VAE^PR: a variational autoencoder with a multinomial likelihood (Liang et al. 2018).

The encoder maps a user's normalised, corrupted item vector to a Gaussian over a latent code;
the decoder maps a sample of the code to a softmax over all items (Liang et al. 2018, §2.2,
eqs. (1)-(6), and the official `dawenl/vae_cf` notebook):

    x̃_u = dropout(x_u / ‖x_u‖₂)                               keep_prob 0.5
    [μ_u | log σ²_u] = tanh(x̃_u W_q0 + b_q0) W_q1 + b_q1        encoder, I-600-(2 × 200)
    z_u = μ_u + σ_u ⊙ ε_u,   ε_u ~ N(0, I)                      reparameterisation
    logits_u = tanh(z_u W_p0 + b_p0) W_p1 + b_p1                decoder, 200-600-I
    loss = -(1/B) Σ_u Σ_i x_ui log softmax(logits_u)_i          multinomial likelihood
           + β (1/B) Σ_u KL(N(μ_u, σ²_u) ‖ N(0, I))  + lam Σ‖W‖²

with β annealed on the global update counter (eq. (7) and §2.2.2: "partially regularized"):

    β = min(anneal_cap, update_count / total_anneal_steps)      (anneal_cap 0.2, 200,000)

The counter counts every update since the start of training, across epochs; it is part of
the model's state (`state_arrays`), so it survives a checkpoint and a resumed run continues
the schedule where it stopped (a counter reset per epoch restarts β at 0 every epoch:
MaurizioFD/RecSys2019_DeepLearning_Evaluation#2). Each batch carries its β, drawn with its
dropout mask and noise ε when the batch is made, so `forward(batch)` is deterministic.

At prediction time the code is the mean, z = μ, and there is no dropout. Everything else
(layer sizes from `p_dims`, batch 500, Adam 1e-3, Xavier init, fold-in scoring, selection by
validation NDCG@100) is Mult-DAE's (`multdae.py`); the paper's VAE uses no weight decay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.checkpoint import StoredArrays
from nprec.config import check, check_least
from nprec.kernels import standard_normal
from nprec.kernels.autoencoders import vae_code_backward
from nprec.layers import dropout_mask, reparam_forward
from nprec.losses import gaussian_kl_forward, l2_penalty_backward
from nprec.losses.multinomial_sparse import (
    multinomial_nll_sparse_backward,
    multinomial_nll_sparse_forward,
)
from nprec.models import multdae
from nprec.models._indices import as_fold_in
from nprec.models._init_args import check_init
from nprec.models.multdae import (
    mlp_backward,
    mlp_forward,
    truncated_normal,
    xavier_uniform,
)

KIND = "interactions"
DEFAULTS: dict[str, Any] = dict(multdae.DEFAULTS)
ALIASES: dict[str, str] = dict(multdae.ALIASES)


@dataclass
class Config(multdae.Config):
    """Hyperparameters of Mult-VAE (defaults: Liang et al. 2018, the official notebook)."""

    p_dims: list[int] = field(default_factory=lambda: [200, 600], metadata={
        "help": "decoder layer sizes from the latent code up, the item layer excluded (the "
                "official p_dims without n_items); the encoder mirrors them: [200, 600] is "
                "I-600-200-600-I"})
    lam: float = field(default=0.0, metadata={
        "help": "L2 weight on Σ‖W‖² of every weight matrix (the paper's VAE: 0)"})
    anneal_cap: float = field(default=0.2, metadata={"help": "largest KL weight β"})
    total_anneal_steps: int = field(default=200000, metadata={
        "help": "updates over which β grows linearly from 0 to 1 (capped at anneal_cap); "
                "0 = β is anneal_cap from the start"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.anneal_cap >= 0, "model.anneal_cap", "must be >= 0")
        check_least(self, "total_anneal_steps", 0)


class VaeBatch(NamedTuple):
    users: np.ndarray    # (B,) training users of the batch
    X: sp.csr_array      # (B, V) their clicks (the targets), float ones
    keep: np.ndarray     # (nnz,) dropout mask of X's stored entries: 0 or 1 / keep_prob
    eps: np.ndarray      # (B, L) standard-normal noise of the reparameterisation
    beta: float          # KL weight of this update


class VaeStepCache(NamedTuple):
    encoder: Any         # mlp cache of the q-network
    reparam: Any         # reparam cache
    decoder: Any         # mlp cache of the p-network
    nll: Any             # multinomial_nll_sparse cache
    kl: Any              # gaussian_kl cache
    beta: float
    reg: tuple           # (name, l2 cache) per penalised weight matrix


class Model(multdae.Model):
    """Mult-VAE with encoder W_q0, b_q0, ..., W_qk (H, 2L), b_qk and decoder W_p0 (L, H),
    b_p0, ..., W_pk (H, V), b_pk; `update_count` drives the KL annealing."""

    name = "multvae"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, self.dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                                  config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        self._train = None
        self.update_count = 0
        p = list(config.p_dims) + [n_items]                             # decoder: L ... I
        q = p[::-1]                                                     # encoder: I ... L
        self.latent = p[0]
        self.n_q = self.n_p = len(p) - 1
        self.params = {}
        for i, (d_in, d_out) in enumerate(zip(q[:-1], q[1:], strict=True)):
            if i == self.n_q - 1:
                d_out *= 2                  # the last encoder layer gives μ and log σ²
            self.params[f"W_q{i}"] = xavier_uniform(rng, d_in, d_out, self.dtype)
            self.params[f"b_q{i}"] = truncated_normal(rng, d_out, 0.001, self.dtype)
        for i, (d_in, d_out) in enumerate(zip(p[:-1], p[1:], strict=True)):
            self.params[f"W_p{i}"] = xavier_uniform(rng, d_in, d_out, self.dtype)
            self.params[f"b_p{i}"] = truncated_normal(rng, d_out, 0.001, self.dtype)

    # -- the annealing schedule -------------------------------------------------------------
    def beta(self) -> float:
        """β for the next update: min(anneal_cap, update_count / total_anneal_steps)."""
        cfg = self.config
        if cfg.total_anneal_steps == 0:
            return float(cfg.anneal_cap)
        return min(float(cfg.anneal_cap), self.update_count / cfg.total_anneal_steps)

    def _make_batch(self, users: np.ndarray, X: sp.csr_array,
                    rng: np.random.Generator) -> VaeBatch:
        """A batch with its dropout mask, noise and β; counts one more update."""
        keep = dropout_mask(rng, (X.nnz,), 1.0 - self.config.keep_prob, self.dtype)  # (nnz,)
        # rng.standard_normal((B, L)).astype(dtype), drawn ~3x faster by a kernel (same bits).
        eps = standard_normal(rng, (X.shape[0], self.latent), self.dtype)  # (B, L)
        beta = self.beta()
        self.update_count += 1
        return VaeBatch(users, X, keep, eps, beta)

    # -- training ---------------------------------------------------------------------------
    def forward(self, batch: VaeBatch) -> tuple[np.floating, VaeStepCache]:
        """The mean loss of a mini-batch (negative ELBO with weight β on the KL term)."""
        L = self.latent
        Xin = self._input(batch.X, batch.keep)                          # (B, V) corrupted
        a, c_enc = mlp_forward(Xin, *self._layers("q", self.n_q), last_tanh=False)  # (B, 2L)
        mu, logvar = a[:, :L], a[:, L:]                                 # (B, L) each
        z, c_rep = reparam_forward(mu, logvar, batch.eps)               # (B, L)
        decoder = self._layers("p", self.n_p)
        # The output bias is added by the likelihood's kernel, row by row (same numbers).
        logits, c_dec = mlp_forward(z, *decoder, last_tanh=False, last_bias=False)  # (B, V)
        nll, c_nll = multinomial_nll_sparse_forward(logits, batch.X, overwrite=True,
                                                    bias=decoder[1][-1])
        kl, c_kl = gaussian_kl_forward(mu, logvar)
        names = [f"W_q{i}" for i in range(self.n_q)] + [f"W_p{i}" for i in range(self.n_p)]
        penalty, c_reg = self._penalty(names)
        loss = nll + self.dtype.type(batch.beta) * kl + penalty
        return loss, VaeStepCache(c_enc, c_rep, c_dec, c_nll, c_kl, batch.beta, c_reg)

    def backward(self, cache: VaeStepCache) -> dict[str, np.ndarray]:
        """Dense gradients of every weight and bias, in reverse order of forward."""
        # Likelihood -> logits -> decoder weights, and on into the code z.
        dlogits, _ = multinomial_nll_sparse_backward(1.0, cache.nll)   # (B, V)
        dz, dWp, dbp = mlp_backward(dlogits, cache.decoder, last_tanh=False)  # (B, L)
        # z = μ + σ ε: into μ and log σ² (ε is noise), reparam_backward(dz, cache.reparam).
        # The KL term, weighted by β, reads μ and log σ² too: its gradients,
        # gaussian_kl_backward(β, cache.kl), are added. μ and log σ² are the two halves of
        # the encoder's output, so the two gradients are concatenated into da. One kernel
        # does all three (its twin is these calls; the same numbers to the bit).
        std, eps = cache.reparam
        mu, var = cache.kl
        da = vae_code_backward(dz, eps, std, mu, var, cache.beta)       # (B, 2L)
        _, dWq, dbq = mlp_backward(da, cache.encoder, last_tanh=False)
        grads = {}
        for i in range(self.n_q):
            grads[f"W_q{i}"], grads[f"b_q{i}"] = dWq[i], dbq[i]
        for i in range(self.n_p):
            grads[f"W_p{i}"], grads[f"b_p{i}"] = dWp[i], dbp[i]
        # Each weight matrix is also read by the penalty (lam > 0): its λ W is added.
        for name, c in cache.reg:
            grads[name] = grads[name] + l2_penalty_backward(1.0, c)[0]
        return grads

    # -- scoring: the code is the posterior mean --------------------------------------------
    def _logits(self, Xin: sp.csr_array) -> np.ndarray:
        a = mlp_forward(Xin, *self._layers("q", self.n_q), last_tanh=False)[0]   # (B, 2L)
        mu = np.ascontiguousarray(a[:, :self.latent])                   # (B, L)
        return mlp_forward(mu, *self._layers("p", self.n_p), last_tanh=False)[0]  # (B, V)

    def encode(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """The posterior (μ (B, L), log σ² (B, L)) of users given by their items X (B, V)."""
        Xin = self._input(as_fold_in(X, self.n_items, self.dtype, "encode"), None)  # (B, V)
        a = mlp_forward(Xin, *self._layers("q", self.n_q), last_tanh=False)[0]   # (B, 2L)
        return a[:, :self.latent], a[:, self.latent:]

    def item_vectors(self) -> np.ndarray:
        """(V, H) the output layer's item columns (decoder rows), for `nprec similar`."""
        return self.params[f"W_p{self.n_p - 1}"].T                       # (V, H)

    # -- state: the update counter and the training rows ------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The global update counter (β's clock) and the training rows."""
        return {**super().state_arrays(),
                "update_count": np.array([self.update_count], dtype=np.int64)}

    def load_state_arrays(self, state: dict[str, np.ndarray]) -> None:
        super().load_state_arrays(state)
        # β of the next update is read off this counter: a negative one would be a negative
        # KL weight, rewarding the encoder for moving away from the prior.
        self.update_count = StoredArrays(state).count("update_count")
