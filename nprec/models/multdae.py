"""Mult-DAE: a denoising autoencoder with a multinomial likelihood (Liang et al. 2018).

A user is their item vector x_u (1 for each item clicked). The model reads a corrupted,
normalised copy of it and scores every item with a softmax (Liang et al. 2018, §2.3 and the
official `dawenl/vae_cf` notebook):

    x̃_u = dropout(x_u / ‖x_u‖₂)                    keep each entry with prob. keep_prob
    h_1 = tanh(x̃_u W_0 + b_0), ..., logits = h_k W_k + b_k   tanh between layers, none last
    π_u = softmax(logits)
    loss = -(1/B) Σ_u Σ_i x_ui log π_ui + lam Σ_l ‖W_l‖²      (multinomial log-likelihood)

with the layer sizes I-200-I by default (`p_dims` = [200]; the encoder mirrors the decoder).
Training users are visited in a random order, 500 per batch, with Adam (lr 1e-3); weights
start Xavier-uniform, biases N(0, 0.001²) truncated at two standard deviations. The paper's
λ is 0.01 / batch_size on Σ‖W‖² (the TensorFlow code doubles `l2_regularizer`'s ½).

Fold-in: a user unseen in training is scored from their items alone, `score_fold_in(X)`
(no dropout), which is how the strong-generalisation protocol evaluates held-out users and
how `nprec recommend --items` serves a new user.

Built from nprec layers and losses: `sparse_dense` (the first layer reads the sparse user
batch directly; dropout is applied to its stored entries, the only ones it changes),
`dense`, `tanh`, `multinomial_nll_sparse`, `l2_penalty`. `multvae.py` extends this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from nprec.checkpoint import StoredArrays
from nprec.config import check, check_least, check_types
from nprec.data.containers import Interactions
from nprec.errors import ConfigError
from nprec.kernels.autoencoders import normalize_and_drop, tanh_backward_inplace
from nprec.layers import (
    dense_backward,
    dense_forward,
    dropout_mask,
    tanh_backward,
    tanh_forward,
)
from nprec.layers.sparse_dense import sparse_dense_backward, sparse_dense_forward
from nprec.losses import l2_penalty_backward, l2_penalty_forward
from nprec.losses.multinomial_sparse import (
    multinomial_nll_sparse_backward,
    multinomial_nll_sparse_forward,
)
from nprec.models._indices import as_candidates, as_fold_in, as_users, check_train
from nprec.models._init_args import check_init
from nprec.samplers import user_batches

KIND = "interactions"
DEFAULTS: dict[str, Any] = {"train.epochs": 200, "eval.protocol": "strong-generalization",
                            "eval.k": [20, 50, 100], "eval.metric": "ndcg@100"}
ALIASES: dict[str, str] = {"n_epochs": "train.epochs"}


@dataclass
class Config:
    """Hyperparameters of Mult-DAE (defaults: Liang et al. 2018, the official notebook)."""

    p_dims: list[int] = field(default_factory=lambda: [200], metadata={
        "help": "decoder layer sizes from the code up, the item layer excluded (the official "
                "p_dims without n_items); the encoder mirrors them: [200] is I-200-I"})
    keep_prob: float = field(default=0.5, metadata={
        "help": "input dropout: probability of keeping each clicked item"})
    lam: float = field(default=0.01 / 500, metadata={
        "help": "L2 weight on Σ‖W‖² of every weight matrix (paper: 0.01 / batch_size)"})
    batch_size: int = field(default=500, metadata={"help": "users per mini-batch"})
    optimizer: str = field(default="adam", metadata={"help": "sgd, adagrad or adam"})
    learning_rate: float = field(default=1e-3, metadata={"help": "step size"})
    momentum: float = field(default=0.0, metadata={"help": "sgd/adagrad momentum"})

    def __post_init__(self) -> None:
        check_types(self)
        check(len(self.p_dims) >= 1 and all(d >= 1 for d in self.p_dims), "model.p_dims",
              f"must be one or more positive sizes, got {self.p_dims}")
        check(0 < self.keep_prob <= 1, "model.keep_prob", "must be in (0, 1]")
        check(self.lam >= 0, "model.lam", "must be >= 0")
        check_least(self, "batch_size", 1)
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0 <= self.momentum < 1, "model.momentum", "must be in [0, 1)")


class DaeBatch(NamedTuple):
    users: np.ndarray    # (B,) training users of the batch
    X: sp.csr_array      # (B, V) their clicks (the targets), float ones
    keep: np.ndarray     # (nnz,) dropout mask of X's stored entries: 0 or 1 / keep_prob


class MlpCache(NamedTuple):
    first: Any           # sparse_dense (or dense) cache of the first layer
    sparse: bool         # whether the first layer read a sparse input
    layers: tuple        # per later layer: the dense cache
    tanh: tuple          # per squashed output: the tanh cache


class DaeStepCache(NamedTuple):
    mlp: MlpCache
    nll: Any             # multinomial_nll_sparse cache
    reg: tuple           # l2 caches, one per weight matrix


# -- pieces shared with Mult-VAE ---------------------------------------------------------------

def xavier_uniform(rng: np.random.Generator, fan_in: int, fan_out: int,
                   dtype: np.dtype) -> np.ndarray:
    """Glorot & Bengio (2010) uniform init, U(±√(6 / (fan_in + fan_out))): (fan_in, fan_out)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)  # (fan_in, fan_out)


def truncated_normal(rng: np.random.Generator, size: int, std: float,
                     dtype: np.dtype) -> np.ndarray:
    """N(0, std²) with draws beyond two standard deviations redrawn (TensorFlow's init)."""
    x = rng.standard_normal(size)                                       # (size,)
    outside = np.abs(x) > 2.0
    while outside.any():
        x[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > 2.0
    return (std * x).astype(dtype)                                      # (size,)


def normalized_input(X: sp.csr_array | sp.csr_matrix, dtype: np.dtype) -> sp.csr_array:
    """x_u / ‖x_u‖₂ row by row, as a CSR matrix of `dtype` (an empty row stays empty)."""
    X = sp.csr_array(X, dtype=dtype)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))          # (nnz,)
    sq = np.bincount(rows, weights=X.data.astype(np.float64) ** 2, minlength=X.shape[0])
    scale = 1.0 / np.sqrt(np.maximum(sq, 1e-24))                        # (B,)
    return sp.csr_array((X.data * scale[rows].astype(dtype), X.indices, X.indptr),
                        shape=X.shape)                                  # (B, V)


def mlp_forward(x: np.ndarray | sp.csr_array, weights: list[np.ndarray],
                biases: list[np.ndarray], last_tanh: bool, last_bias: bool = True
                ) -> tuple[np.ndarray, MlpCache]:
    """Layers x W_0 + b_0, tanh, ..., h W_k + b_k: tanh between layers (Liang et al. 2018).

    x is a (B, I) array, or a sparse CSR matrix (the user batch) read by `sparse_dense`;
    `last_tanh` also squashes the last layer's output. With `last_bias=False` the last
    layer's bias b_k is left for the caller to add (the likelihood kernel adds it to each
    row in cache); the backward is the same either way.
    """
    if not last_bias:
        biases = [*biases[:-1], None]                                   # b_k: the caller's
    sparse = sp.issparse(x)
    first_layer = sparse_dense_forward if sparse else dense_forward
    h, first = first_layer(x, weights[0], biases[0])                    # (B, H_1)
    layers, tanhs = [], []
    for W, b in zip(weights[1:], biases[1:], strict=True):
        h, c_t = tanh_forward(h)                                        # (B, H_l)
        tanhs.append(c_t)
        h, c_d = dense_forward(h, W, b)                                 # (B, H_l+1)
        layers.append(c_d)
    if last_tanh:
        h, c_t = tanh_forward(h)                                        # (B, H_k+1)
        tanhs.append(c_t)
    return h, MlpCache(first, sparse, tuple(layers), tuple(tanhs))


def mlp_backward(dh: np.ndarray, cache: MlpCache, last_tanh: bool
                 ) -> tuple[np.ndarray | None, list[np.ndarray], list[np.ndarray]]:
    """Returns dx (None for a sparse input, which is data) and the lists (dW_l), (db_l)."""
    tanhs = list(cache.tanh)
    if last_tanh:
        (dh,) = tanh_backward(dh, tanhs.pop())
    dWs, dbs = [], []
    # Back through the dense layers, each preceded by a tanh, last layer first.
    for c_d in reversed(cache.layers):
        dh, dW, db = dense_backward(dh, c_d)
        # tanh_backward(dh, cache) in place: dh is the product just made, read by no one else.
        dh = tanh_backward_inplace(dh, tanhs.pop().y)
        dWs.append(dW)
        dbs.append(db)
    first_layer = sparse_dense_backward if cache.sparse else dense_backward
    dx, dW, db = first_layer(dh, cache.first)
    dWs.append(dW)
    dbs.append(db)
    return dx, dWs[::-1], dbs[::-1]


class UserEpoch:
    """The mini-batches of one epoch: every training user once, in the order `rng` draws.

    Sized, so the progress bar knows the number of steps. A batch is made when it is
    reached, with `make(users, X, rng)`, which draws its dropout masks (and noise) from the
    same generator, so the whole epoch follows from `rng` alone.
    """

    def __init__(self, train: Interactions, batch_size: int, rng: np.random.Generator,
                 make: Callable[[np.ndarray, sp.csr_array, np.random.Generator], Any],
                 dtype: np.dtype) -> None:
        self.train, self.batch_size, self.rng, self.make = train, batch_size, rng, make
        self.dtype = dtype

    def __len__(self) -> int:
        return -(-self.train.n_users // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        for users, X in user_batches(self.train, self.batch_size, self.rng, dtype=self.dtype):
            yield self.make(users, X, self.rng)


class FoldInModel:
    """What the autoencoders share: the training rows they keep (in checkpoints too) and
    scoring a training user by folding in those rows. Subclasses define `score_fold_in`."""

    name = "autoencoder"
    n_users: int
    n_items: int
    dtype: np.dtype
    _train: sp.csr_array | None = None

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """Scores (B, V) of training users: their training items folded in."""
        return self.score_fold_in(self._training_rows(users))           # (B, V)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores (B, C) of candidate items (B, C) for training users."""
        users, items = as_candidates(users, items, self.n_users, self.n_items)
        return np.take_along_axis(self.score_all(users), items, axis=1)  # (B, C)

    def _remember(self, train: Interactions) -> None:
        self._train = train.to_csr(dtype=self.dtype)                    # (U, V)

    def _training_rows(self, users: np.ndarray) -> sp.csr_array:
        if self._train is None:
            raise ConfigError(f"{self.name}: no training rows yet (score_all folds in a "
                              f"training user's items; use score_fold_in for new users)")
        return self._train[as_users(users, self._train.shape[0], "score_all")]  # (B, V)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The training rows (CSR pointers and items) score_all folds in."""
        if self._train is None:
            return {}
        return {"train_indptr": self._train.indptr, "train_indices": self._train.indices}

    def load_state_arrays(self, state: dict[str, np.ndarray]) -> None:
        # A row per user: score_all folds in row u for user u, so the rows must be n_users.
        self._train = StoredArrays(state).csr("train_indptr", "train_indices",
                                              (self.n_users, self.n_items), dtype=self.dtype)


class Model(FoldInModel):
    """Mult-DAE with weights W_0 (V, H_1), ..., W_k (H_k, V) and biases b_0, ..., b_k."""

    name = "multdae"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, self.dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                                  config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        self._train = None                              # training rows, for score_all
        p = list(config.p_dims)
        sizes = [n_items] + p[::-1] + p[1:] + [n_items]                 # I-...-code-...-I
        self.n_layers = len(sizes) - 1
        self.params = {}
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            self.params[f"W_{i}"] = xavier_uniform(rng, d_in, d_out, self.dtype)
            self.params[f"b_{i}"] = truncated_normal(rng, d_out, 0.001, self.dtype)

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Interactions, rng: np.random.Generator) -> UserEpoch:
        """One epoch of shuffled user batches with their dropout masks."""
        check_train(train, self.n_users, self.n_items, f"{self.name}: batches")
        self._remember(train)
        return UserEpoch(train, self.config.batch_size, rng, self._make_batch, self.dtype)

    def _make_batch(self, users: np.ndarray, X: sp.csr_array,
                    rng: np.random.Generator) -> DaeBatch:
        keep = dropout_mask(rng, (X.nnz,), 1.0 - self.config.keep_prob, self.dtype)  # (nnz,)
        return DaeBatch(users, X, keep)

    def _input(self, X: sp.csr_array, keep: np.ndarray | None) -> sp.csr_array:
        """The normalised input, with dropout on its stored entries when `keep` is given.

        Masking the stored entries is the paper's dropout on the whole (B, V) input, drawn
        for nnz entries instead of B·V; the dropped entries leave the matrix, so the sparse
        products walk only the kept ones. In training this is
        `dropout_sparse_input(normalized_input(X), keep)`, computed by one kernel
        (`normalize_and_drop`, the same numbers in one pass over the entries).
        """
        if keep is None:
            return normalized_input(X, self.dtype)                      # (B, V)
        indptr, indices, data = normalize_and_drop(
            X.indptr, X.indices, np.asarray(X.data, dtype=self.dtype), keep)
        return sp.csr_array((data, indices, indptr), shape=X.shape)     # (B, V) corrupted

    def _layers(self, prefix: str, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The weights W_{prefix}i and biases b_{prefix}i of layers i = 0..n-1."""
        return ([self.params[f"W_{prefix}{i}"] for i in range(n)],
                [self.params[f"b_{prefix}{i}"] for i in range(n)])

    def _penalty(self, names: list[str]) -> tuple[np.floating, tuple]:
        """lam Σ‖W‖² (l2_penalty is ½ λ Σ W², so λ = 2 lam) and the caches."""
        if self.config.lam == 0:
            return self.dtype.type(0), ()
        reg = [l2_penalty_forward(self.params[n], 2.0 * self.config.lam) for n in names]
        return sum(r[0] for r in reg), tuple((n, r[1]) for n, r in zip(names, reg, strict=True))

    def forward(self, batch: DaeBatch) -> tuple[np.floating, DaeStepCache]:
        """The mean loss of a mini-batch and the cache for `backward`."""
        Xin = self._input(batch.X, batch.keep)                          # (B, V) corrupted
        layers = self._layers("", self.n_layers)
        # The output bias is added by the likelihood's kernel, row by row (same numbers).
        logits, c_mlp = mlp_forward(Xin, *layers, last_tanh=False, last_bias=False)  # (B, V)
        loss, c_nll = multinomial_nll_sparse_forward(logits, batch.X, overwrite=True,
                                                     bias=layers[1][-1])
        penalty, c_reg = self._penalty([f"W_{i}" for i in range(self.n_layers)])
        return loss + penalty, DaeStepCache(c_mlp, c_nll, c_reg)

    def backward(self, cache: DaeStepCache) -> dict[str, np.ndarray]:
        """Dense gradients of every weight and bias, in reverse order of forward."""
        # Loss -> logits (formed in the forward pass).
        dlogits, _ = multinomial_nll_sparse_backward(1.0, cache.nll)   # (B, V)
        # Logits -> every layer's weights and biases.
        _, dWs, dbs = mlp_backward(dlogits, cache.mlp, last_tanh=False)
        grads = {}
        for i in range(self.n_layers):
            grads[f"W_{i}"], grads[f"b_{i}"] = dWs[i], dbs[i]
        # Each weight matrix is also read by the penalty: its λ W is added.
        for name, c in cache.reg:
            grads[name] = grads[name] + l2_penalty_backward(1.0, c)[0]
        return grads

    # -- scoring ----------------------------------------------------------------------------
    def score_fold_in(self, X: Any) -> np.ndarray:
        """Scores (B, V) of every item for users given by their items X (B, V) (fold-in).

        X is any SciPy sparse (or dense 0/1) matrix; no dropout. Used for users unseen in
        training (strong generalisation, `nprec recommend --items`).
        """
        X = as_fold_in(X, self.n_items, self.dtype)                     # (B, V)
        Xin = self._input(X, None)                                      # (B, V)
        return self._logits(Xin)                                        # (B, V)

    def _logits(self, Xin: sp.csr_array) -> np.ndarray:
        return mlp_forward(Xin, *self._layers("", self.n_layers), last_tanh=False)[0]

    def item_vectors(self) -> np.ndarray:
        """(V, H) the output layer's item columns (decoder rows), for `nprec similar`."""
        return self.params[f"W_{self.n_layers - 1}"].T                   # (V, H)
