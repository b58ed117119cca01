"""Neural Collaborative Filtering (He et al., WWW 2017): what GMF, MLP and NeuMF share.

NCF scores a user-item pair by looking up a user and an item embedding, combining them with
an interaction function φ and squashing a weighted sum through the logistic output layer:

    p_u = P[u],  q_i = Q[i]                          embedding lookups, N(0, σ²) init
    ŷ_ui = σ(hᵀ φ(p_u, q_i) + b)                     output layer

    GMF    φ = p_u ⊙ q_i                                         (He et al. 2017, eq. 9)
    MLP    φ = a_L(W_Lᵀ(... a_2(W_2ᵀ [p_u; q_i] + b_2) ...) + b_L),  a = ReLU  (eq. 10)
    NeuMF  φ = [p^G_u ⊙ q^G_i ; MLP tower of [p^M_u; q^M_i]]           (eq. 12)

(the paper writes the output without b; the official Keras code's output Dense has one).
Training minimises the binary cross-entropy (eq. 7) over every training pair (label 1) and
`negatives` items per pair (label 0) drawn uniformly from the items the user has not
interacted with, redrawn every epoch, in shuffled mini-batches of 256 with Adam, lr 1e-3.
(The official GMF.py rejects the user's training items the same way; its MLP.py and
NeuMF.py test `(u, j) in train and [u, j] in testRatings`, which never holds, so there the
negatives are uniform over all items.)

Initialisation follows the official code (hexiangnan/neural_collaborative_filtering):
embeddings N(0, 0.01²), tower weights Glorot-uniform, the output layer LeCun-uniform, all
biases zero. The "predictive factors" of a model are the size of its last hidden layer.
`layers` lists the tower from its input: layers[0] is the concatenation of the user and
item embeddings (layers[0] / 2 dimensions each), then one ReLU layer per entry. The official
default for 8 factors is [64, 32, 16, 8], three hidden layers; `default_tower(f)` scales it to
[8f, 4f, 2f, f]. (The paper's text describes a smaller tower, 16-d embeddings and
32 → 16 → 8; the official commands use [64, 32, 16, 8].)

Everything here is composed from `nprec.layers` and `nprec.losses`. Two ops are fused
versions of layer pairs, because NCF's ~19,000 mini-batches of 256 per ML-1M epoch are small
enough for NumPy's per-call overhead to dominate: each tower layer is `dense_relu` (`dense` +
`relu`), and the output unit with the log loss is `bce_output` (`dense` + `bce_with_logits`,
computed in one pass with its gradient). Scoring uses one identity so that ranking all
items stays cheap: the first tower layer applied to a concatenation is a sum of two
products,

    [p; q] W_1 = p W_1[:d] + q W_1[d:],

so the item half is computed once for all V items and only added per user (`tower_scores`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.config import check, check_least, check_types
from nprec.data.containers import Interactions
from nprec.layers.dense_relu import dense_relu_backward, dense_relu_forward
from nprec.losses.bce_output import BceOutputCache, bce_output_backward, bce_output_forward
from nprec.samplers import pointwise_batches
from nprec.train import EpochBatches

KIND = "interactions"
DEFAULTS: dict[str, Any] = {"train.epochs": 20, "eval.protocol": "ncf-loo99",
                            "eval.k": [10], "eval.metric": "hit@10",
                            "eval.also": ["loo-full"]}
ALIASES: dict[str, str] = {"num_factors": "model.factors", "num_neg": "model.negatives",
                           "lr": "model.learning_rate", "learner": "model.optimizer"}

SCORE_BLOCK = 1 << 22          # tower activations per block when scoring (16 MB in float32)


@dataclass
class NcfConfig:
    """The training settings every NCF model shares (defaults: the paper's)."""

    negatives: int = field(default=4, metadata={
        "help": "sampled negatives per training pair, redrawn every epoch (num_neg)"})
    batch_size: int = field(default=256, metadata={"help": "examples per mini-batch"})
    optimizer: str = field(default="adam", metadata={"help": "sgd, adagrad or adam (learner)"})
    learning_rate: float = field(default=1e-3, metadata={"help": "step size (lr)"})
    momentum: float = field(default=0.0, metadata={"help": "sgd/adagrad momentum"})
    init_std: float = field(default=0.01, metadata={
        "help": "std σ of the N(0, σ²) init of the embeddings"})

    def __post_init__(self) -> None:
        check_types(self)
        check_least(self, "negatives", 1)
        check_least(self, "batch_size", 1)
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0 <= self.momentum < 1, "model.momentum", "must be in [0, 1)")
        check(self.init_std > 0, "model.init_std", "must be > 0")


def default_tower(factors: int) -> list[int]:
    """The official default [64, 32, 16, 8] scaled to `factors`: [8f, 4f, 2f, f]."""
    return [8 * factors, 4 * factors, 2 * factors, factors]


def check_layers(layers: list[int], key: str = "model.layers") -> None:
    """A tower needs an input and at least one hidden layer, and an even input size."""
    if not layers:
        return
    check(len(layers) >= 2, key, f"needs the input size and at least one layer, got {layers}")
    check(all(n >= 1 for n in layers), key, f"sizes must be >= 1, got {layers}")
    check(layers[0] % 2 == 0, key,
          f"layers[0] = {layers[0]} is the concatenated user and item embedding, so it "
          f"must be even")


# -- initialisation --------------------------------------------------------------------------

def gaussian(rng: np.random.Generator, shape: tuple[int, ...], std: float,
             dtype: np.dtype) -> np.ndarray:
    """N(0, std²) entries: the embedding tables (the official code's `init_normal`)."""
    return (std * rng.standard_normal(shape)).astype(dtype)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int,
                   dtype: np.dtype) -> np.ndarray:
    """U(-s, s) with s = sqrt(6 / (fan_in + fan_out)): Keras' default for Dense (the tower)."""
    s = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-s, s, (fan_in, fan_out)).astype(dtype)          # (I, O)


def lecun_uniform(rng: np.random.Generator, fan_in: int, fan_out: int,
                  dtype: np.dtype) -> np.ndarray:
    """U(-s, s) with s = sqrt(3 / fan_in): the official code's output layer init."""
    s = np.sqrt(3.0 / fan_in)
    return rng.uniform(-s, s, (fan_in, fan_out)).astype(dtype)          # (I, O)


def init_tower(params: dict[str, np.ndarray], layers: list[int],
               rng: np.random.Generator, dtype: np.dtype) -> None:
    """Add W_1, b_1, ..., W_L, b_L of the ReLU tower layers[0] -> ... -> layers[-1]."""
    for k, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:], strict=True), start=1):
        params[f"W_{k}"] = glorot_uniform(rng, n_in, n_out, dtype)      # (layers[k-1], layers[k])
        params[f"b_{k}"] = np.zeros(n_out, dtype=dtype)                 # (layers[k],)


def init_output(params: dict[str, np.ndarray], n_in: int, rng: np.random.Generator,
                dtype: np.dtype) -> None:
    """Add the output unit's weights h (F,) and bias b (1,)."""
    params["h"] = lecun_uniform(rng, n_in, 1, dtype)[:, 0].copy()        # (F,)
    params["b"] = np.zeros(1, dtype=dtype)                               # (1,)


# -- training data ----------------------------------------------------------------------------

def epoch_batches(train: Interactions, negatives: int, batch_size: int,
                  rng: np.random.Generator, dtype: np.dtype) -> EpochBatches:
    """One epoch of NCF instances: every training pair and `negatives` fresh negatives each.

    The instances come from `nprec.samplers.pointwise_batches` (negatives uniform over the
    items outside the user's training row, everything shuffled), drawn as one batch and
    handed out in slices of `batch_size` as (users (B,), items (B,), labels (B,)).
    """
    total = max(1, train.nnz * (1 + negatives))
    users, items, labels = next(pointwise_batches(train, negatives, total, rng))
    return EpochBatches((users, items, labels.astype(dtype, copy=False)), batch_size)


# -- the MLP tower and the output layer ------------------------------------------------------

class TowerCache(NamedTuple):
    dense: tuple         # one DenseReluCache per layer


def tower_forward(x: np.ndarray, params: dict[str, np.ndarray],
                  n_layers: int) -> tuple[np.ndarray, TowerCache]:
    """z_l = ReLU(z_{l-1} W_l + b_l) for l = 1..n_layers, from z_0 = x (He et al. 2017, eq. 10).

    Each layer is the fused `dense_relu` op (`dense` + `relu` in two compiled passes).

    Args:
        x: (B, layers[0]) the concatenated embeddings.  params: holds W_l (I, O) and b_l (O,).
    Returns:
        z_L (B, layers[-1]) and the cache (each layer's cache).
    """
    caches = []
    z = x
    for k in range(1, n_layers + 1):
        z, cache = dense_relu_forward(z, params[f"W_{k}"], params[f"b_{k}"])  # (B, layers[k])
        caches.append(cache)
    return z, TowerCache(tuple(caches))


def tower_backward(dz: np.ndarray, cache: TowerCache) -> tuple[np.ndarray, dict[str, Any]]:
    """Returns dx (B, layers[0]) and {W_l: dW_l, b_l: db_l}, from the last layer back."""
    grads: dict[str, Any] = {}
    for k in range(len(cache.dense), 0, -1):
        dz, grads[f"W_{k}"], grads[f"b_{k}"] = dense_relu_backward(dz, cache.dense[k - 1])
    return dz, grads


def output_forward(phi: np.ndarray, h: np.ndarray, b: np.ndarray,
                   labels: np.ndarray) -> tuple[np.floating, BceOutputCache]:
    """Mean BCE of the logits φ h + b against the labels (He et al. 2017, eq. 7).

    Args:
        phi: (B, F) the interaction vector.  h: (F,), b: (1,).  labels: (B,) 0/1.
    Returns:
        The loss and the cache (`bce_output_forward`).
    """
    return bce_output_forward(phi, h, b, labels)


def output_backward(cache: BceOutputCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns dphi (B, F), dh (F,), db (1,) for dloss = 1."""
    dphi, dh, db, _ = bce_output_backward(1.0, cache)
    return dphi, dh, db


# -- scoring ----------------------------------------------------------------------------------

def tower_scores(user_part: np.ndarray, item_part: np.ndarray, params: dict[str, np.ndarray],
                 n_layers: int, h_mlp: np.ndarray) -> np.ndarray:
    """h_MLPᵀ z_L for user-item pairs, the first layer split into its user and item halves.

    `user_part` = p W_1[:d] + b_1 and `item_part` = q W_1[d:] are the two terms of the first
    layer's pre-activation (module docstring). With item_part (C, H1) every user is paired
    with every item (full ranking); with item_part (B, C, H1) each user with its own
    candidates. Work proceeds in blocks of users so that no more than about SCORE_BLOCK
    activations exist at once.

    Args:
        user_part: (B, H1).  item_part: (C, H1) shared, or (B, C, H1) per user.
        params: W_2, b_2, ..., W_L, b_L.  h_mlp: (layers[-1],) output weights of z_L.
    Returns:
        (B, C) the MLP's contribution to the logits.
    """
    B, C = user_part.shape[0], item_part.shape[-2]
    shared = item_part.ndim == 2
    out = np.empty((B, C), dtype=np.result_type(user_part, item_part))  # (B, C)
    step = max(1, SCORE_BLOCK // max(1, C * user_part.shape[1]))
    for a in range(0, B, step):
        rows = slice(a, a + step)
        items = item_part[None] if shared else item_part[rows]          # (1|b, C, H1)
        # The same layers as `tower_forward`, without caches: in place, block by block.
        z = user_part[rows, None, :] + items                            # (b, C, H1)
        z = np.maximum(z, 0, out=z).reshape(-1, z.shape[-1])            # (b C, H1)
        for k in range(2, n_layers + 1):
            z = z @ params[f"W_{k}"]                                    # (b C, H_k)
            z += params[f"b_{k}"]
            np.maximum(z, 0, out=z)
        out[rows] = (z @ h_mlp).reshape(-1, C)                          # (b, C)
    return out
