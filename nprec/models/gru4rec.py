"""GRU4Rec: session-based recommendation with a GRU over session-parallel mini-batches.

Hidasi et al. (ICLR 2016) and Hidasi & Karatzoglou (CIKM 2018), as the official code
(`hidasib/GRU4Rec_PyTorch_Official`, `hidasib/GRU4Rec`) implements them. One training step
takes one event of each of B parallel sessions and predicts its next event:

    x_i   = input(item_i)                        one-hot row of W_0 | E[i] | Wy[i]
    x_i   = dropout(x_i, dropout_p_embed)
    h^l_i = GRU_l(x^l_i, h^l_prev,i)             l = 0 .. L-1, each followed by
    x^{l+1}_i = h^l_i = dropout(h^l_i, dropout_p_hidden)
    R_ij  = h_i · Wy[y_j] + By[y_j]              y = [targets of the B rows | S negatives]
    loss  = (1 / batch_size) Σ_i loss_i(R_i)     row i's target is column i

- Session-parallel mini-batches (`nprec.models.gru4rec_input.TrainingSteps`): slots follow
  sessions in start-time order; a slot whose session ends takes the next one and its hidden
  state is zeroed before that session's first step; slots are dropped when sessions run out.
  The state carries over from step to step but is not back-propagated into (no BPTT), and
  the carried state is the dropped-out one, as in both official implementations.
- Sampled output: the other rows' targets plus `n_sample` negatives shared by the whole
  mini-batch, drawn ∝ support^sample_alpha from a pre-drawn cache; an output bias per item.
- Losses (`nprec.kernels.gru4rec.sampled_loss`, evaluated on the scores of the step's
  unique items, each weighted by its number of columns): `cross-entropy` (softmax over all
  columns, logQ-corrected by logq · log P0 of the targets and logq · α log P0 of the
  negatives), `bpr-max` (bpreg), `top1-max`, `top1`, `bpr`; the ranking losses see
  ELU(elu_param) of the scores when elu_param > 0. The loss is summed over rows and divided
  by the configured batch_size, as the official code: the few shrinking steps at the end of
  an epoch weigh less.
- One GRU step per mini-batch without BPTT (`nprec.kernels.gru4rec_step`).
- Initialisation (the official `compatibility_mode`, i.e. Theano's): every weight block
  (each gate's block of a GRU matrix, E, Wy) uniform in ±sqrt(6 / (fan_in + fan_out));
  biases and By zero.
- Optimizer: Adagrad with momentum (IndexedAdagradM): row-sparse updates of Wy, By, E and
  the one-hot W_0 (`RowGrad`), dense updates of the GRU weights.

Cross-entropy is the official -log(p_target + 1e-24), not the exact log-sum-exp of
`nprec.losses.sampled_xe`: with dropout on the carried state a few states grow out of range
on long sessions, and the official loss gives those rows no gradient (see
`nprec.kernels.gru4rec.sampled_loss_ref`). Departures, each deliberate: the GRU is the
paper's (reset gate on h_prev before U_h, one bias), not PyTorch's GRUCell variant; deeper
layers are initialised with their true fan-in (the PyTorch compatibility mode uses the input
width for every layer). In the one-hot mode the first GRU layer plays the embedding's role,
so its output takes `dropout_p_embed` (PyTorch; Theano used dropout_p_hidden there).

Scoring (`next_item_scores`): session-parallel over the test sessions with the state zeroed
at every session start and no dropout; every event after the first is predicted over all
items (items without training support get -inf).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.checkpoint import StoredArrays
from nprec.config import check, check_types
from nprec.data.containers import Sessions, as_count, check_kind
from nprec.errors import ConfigError, DataError
from nprec.kernels.gru4rec import LOSSES, sampled_loss
from nprec.kernels.gru4rec_step import gru_train_backward, gru_train_forward
from nprec.layers import RowGrad
from nprec.models._indices import as_integers
from nprec.models._init_args import check_init
from nprec.models.gru4rec_input import (
    StepInput,
    TrainingSteps,
    TrainStep,
    lookup_backward,
    lookup_forward,
    session_firsts,
    step_input,
)
from nprec.samplers.session_parallel import SessionParallelBatches

KIND = "sessions"
# The official protocol: train on the whole training file for n_epochs, test the final model
# (no validation split unless one is asked for with data.valid).
DEFAULTS: dict[str, Any] = {"train.epochs": 10, "data.valid": "none",
                            "eval.protocol": "next-item", "eval.k": [1, 5, 10, 20],
                            "eval.metric": "mrr@20"}
# n_epochs is one of the official model parameters, so `model.n_epochs` is accepted too.
ALIASES: dict[str, str] = {"n_epochs": "train.epochs", "model.n_epochs": "train.epochs"}
MAX_SAMPLE_STORE = 10_000_000
"""Largest store of pre-drawn negatives (the official `sample_cache_max_size` default)."""


@dataclass
class Config:
    """Hyperparameters of GRU4Rec: the official option names and defaults."""

    loss: str = field(default="cross-entropy", metadata={
        "help": "cross-entropy, bpr-max, top1-max, top1 or bpr"})
    constrained_embedding: bool = field(default=True, metadata={
        "help": "the output item matrix Wy doubles as the input embedding"})
    embedding: str = field(default="0", metadata={
        "help": "separate input embedding width (0 = none: one-hot input unless "
                "constrained_embedding; 'layersize' = the first layer's width)"})
    layers: list[int] = field(default_factory=lambda: [100], metadata={
        "help": "GRU layer widths, e.g. 100 or 200/200"})
    batch_size: int = field(default=64, metadata={
        "help": "parallel sessions per mini-batch; the loss is divided by it"})
    dropout_p_embed: float = field(default=0.0, metadata={
        "help": "dropout on the input embedding (one-hot mode: on the first GRU layer)"})
    dropout_p_hidden: float = field(default=0.0, metadata={
        "help": "dropout after each GRU layer (one-hot mode: after layers 2, 3, ...)"})
    learning_rate: float = field(default=0.05, metadata={"help": "step size"})
    momentum: float = field(default=0.0, metadata={"help": "momentum of the optimizer"})
    n_sample: int = field(default=2048, metadata={
        "help": "negatives shared by each mini-batch besides the other rows' targets"})
    sample_alpha: float = field(default=0.5, metadata={
        "help": "negatives drawn with probability ∝ support^sample_alpha (0 uniform)"})
    bpreg: float = field(default=1.0, metadata={"help": "bpr-max score regularisation"})
    elu_param: float = field(default=0.5, metadata={
        "help": "ELU on the scores of the ranking losses (0 = none; not cross-entropy)"})
    logq: float = field(default=0.0, metadata={
        "help": "weight of the logQ correction of cross-entropy (1 = full)"})
    session_state_decay: float = field(default=0.0, metadata={
        "help": "> 0: the input is the session so far, earlier events discounted by this "
                "factor and L2-normalised (Hidasi et al. 2016, §3.1); 0 = the current item"})
    optimizer: str = field(default="adagrad", metadata={
        "help": "adagrad (the official IndexedAdagradM), sgd or adam"})

    def __post_init__(self) -> None:
        self.embedding = str(self.embedding)
        check_types(self)
        check(self.loss in LOSSES, "model.loss",
              f"must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        check(self.embedding == "layersize"
              or (self.embedding.isascii() and self.embedding.isdigit()), "model.embedding",
              f"must be a width >= 0 or 'layersize', got {self.embedding!r}")
        check(not (self.constrained_embedding and self.embedding_size(self.layers)),
              "model.embedding", "a separate embedding needs constrained_embedding=False")
        check(len(self.layers) >= 1 and all(h >= 1 for h in self.layers), "model.layers",
              f"needs at least one width >= 1, got {self.layers}")
        check(self.batch_size >= (2 if self.n_sample == 0 else 1), "model.batch_size",
              "must be >= 1 (>= 2 with n_sample=0: rows are each other's negatives)")
        for name in ("dropout_p_embed", "dropout_p_hidden"):
            check(0.0 <= getattr(self, name) < 1.0, f"model.{name}", "must be in [0, 1)")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0.0 <= self.momentum < 1.0, "model.momentum", "must be in [0, 1)")
        check(0 <= self.n_sample <= MAX_SAMPLE_STORE, "model.n_sample",
              f"must be in [0, {MAX_SAMPLE_STORE:,}] (the store of pre-drawn negatives)")
        for name in ("sample_alpha", "bpreg", "elu_param", "logq"):
            check(getattr(self, name) >= 0, f"model.{name}", "must be >= 0")
        check(0.0 <= self.session_state_decay <= 1.0, "model.session_state_decay",
              "must be in [0, 1]")
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")

    def embedding_size(self, layers: list[int]) -> int:
        """The separate embedding's width (0 for none), 'layersize' resolved."""
        return layers[0] if self.embedding == "layersize" else int(self.embedding)


class GRU4RecCache(NamedTuple):
    u: np.ndarray            # (K,) sorted unique items whose Wy row the step read
    Wy_u: np.ndarray         # (K, H) their rows
    inp: Any                 # cache of the input lookup
    mask_embed: Any          # (B, D_in) dropout mask of the embedding, or None
    gru: list                # per layer: the cache of its GRU step and dropout
    h_out: np.ndarray        # (B, H) output of the last layer, after dropout
    dscores: np.ndarray      # (B, K) dS, the gradient of the loss w.r.t. S = h Wy[u]ᵀ
    is_output: np.ndarray    # (K,) bool, u[k] is an output column (not only an input)


class Model:
    """GRU4Rec with parameters Wy (V, H), By (V,), GRU layers W{l}, U_zr{l}, U_h{l}, b{l},
    and E (V, D) in the separate-embedding mode (W0 is (V, 3H) in the one-hot mode)."""

    name = "gru4rec"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, self.dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                                  sessions=True, config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        layers = config.layers
        D = config.embedding_size(layers)
        self.mode = "constrained" if config.constrained_embedding else (
            "embedding" if D else "one-hot")
        self.n_input = {"constrained": layers[-1], "embedding": D, "one-hot": n_items}[self.mode]
        V, H_out = n_items, layers[-1]

        def uniform(shape: tuple[int, int], fan_in: int, fan_out: int) -> np.ndarray:
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-bound, bound, shape).astype(self.dtype)

        P: dict[str, np.ndarray] = {}
        if self.mode == "embedding":
            P["E"] = uniform((V, D), V, D)                              # (V, D)
        for l, H in enumerate(layers):
            D_l = self.n_input if l == 0 else layers[l - 1]
            # Each gate's block has fan (D_l, H): the blocks share one bound.
            P[f"W{l}"] = uniform((D_l, 3 * H), D_l, H)                  # (D_l, 3H) [W_z|W_r|W_h]
            P[f"U_zr{l}"] = uniform((H, 2 * H), H, H)                   # (H, 2H) [U_z|U_r]
            P[f"U_h{l}"] = uniform((H, H), H, H)                        # (H, H)
            P[f"b{l}"] = np.zeros(3 * H, dtype=self.dtype)              # (3H,)
        P["Wy"] = uniform((V, H_out), V, H_out)                         # (V, H)
        P["By"] = np.zeros(V, dtype=self.dtype)                         # (V,)
        self.params = P
        self.support: np.ndarray | None = None      # (V,) training support, set by batches
        self._layouts: dict[tuple[int, int], tuple[Any, SessionParallelBatches, np.ndarray]] = {}

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Sessions, rng: np.random.Generator) -> TrainingSteps:
        """The session-parallel steps of one epoch (negatives and dropout masks from rng)."""
        check_kind(train, (Sessions,), "gru4rec: batches", "train")
        if train.n_items != self.n_items:
            raise DataError(f"gru4rec: the training sessions have {train.n_items} items, "
                            f"the model {self.n_items}")
        self.support = train.item_counts()                              # (V,)
        layout, first = self._layout(train, self.config.batch_size)
        return TrainingSteps(layout, first, self.support, self.config, self.n_input,
                             self.mode == "one-hot", rng, self.dtype)

    def forward(self, step: TrainStep) -> tuple[np.floating, GRU4RecCache]:
        """The loss of one step; stores the state after the step in step.h_next."""
        cfg, P = self.config, self.params
        B = step.targets.size
        M = B + step.negatives.size
        # Every Wy row the step reads, once: the output columns and (constrained) the inputs.
        out_items = np.concatenate([step.targets, step.negatives])      # (M,)
        read = (np.concatenate([out_items, step.inputs.ids]) if self.mode == "constrained"
                else out_items)
        u, where = np.unique(read, return_inverse=True)                 # (K,), (M [+ N],)
        Wy_u = P["Wy"][u]                                               # (K, H)
        # Input: the input table's rows (or weighted sums of rows for the session state).
        if self.mode == "constrained":
            x, c_in = lookup_forward(step.inputs, Wy_u, where[M:])      # (B, H)
        elif self.mode == "embedding":
            x, c_in = lookup_forward(step.inputs, P["E"])               # (B, D)
        else:
            x, c_in = lookup_forward(step.inputs, P["W0"])              # (B, 3H) = x W_0
        if step.mask_embed is not None:
            x = x * step.mask_embed                                     # (B, D)
        c_gru, h_next = [], []
        for l in range(len(cfg.layers)):
            # One GRU step and dropout (one-hot mode, layer 0: x is already x W_0).
            W = None if (l == 0 and self.mode == "one-hot") else P[f"W{l}"]
            x, c = gru_train_forward(x, step.h_prev[l], W, P[f"U_zr{l}"], P[f"U_h{l}"],
                                     P[f"b{l}"], step.mask_hidden[l])   # (B, H_l)
            c_gru.append(c)
            h_next.append(x)
        step.h_next[:] = h_next        # the next step of these slots starts from here
        # Scores of the unique items, then the loss over the (B, M) columns, fused.
        S = x @ Wy_u.T                                                  # (B, K)
        loss, dS = sampled_loss(S, P["By"][u], where[:M], cfg.loss, log_q=step.log_q,
                                bpreg=cfg.bpreg, elu_param=cfg.elu_param,
                                scale=1.0 / cfg.batch_size)
        is_output = np.zeros(u.size, dtype=bool)                        # (K,)
        is_output[where[:M]] = True
        cache = GRU4RecCache(u, Wy_u, c_in, step.mask_embed, c_gru, x, dS, is_output)
        return self.dtype.type(loss), cache

    def backward(self, cache: GRU4RecCache) -> dict[str, Any]:
        """Gradients of every parameter the step touched (row gradients for item tables)."""
        V = self.n_items
        u, Wy_u, dS = cache.u, cache.Wy_u, cache.dscores
        grads: dict[str, Any] = {}
        # Scores S = h Wy[u]ᵀ: into the last layer's output and into the rows of Wy read.
        dh = dS @ Wy_u                                                  # (B, H)
        dWy_u = dS.T @ cache.h_out                                      # (K, H)
        # The bias of an item is added to each of its columns: the sum of its column gradients.
        dBy_u = dS.sum(axis=0)                                          # (K,)
        for l in reversed(range(len(self.config.layers))):
            # Through dropout and the GRU step (not into h_prev: no BPTT).
            dh, dW, dU_zr, dU_h, db = gru_train_backward(dh, cache.gru[l])
            grads.update({f"U_zr{l}": dU_zr, f"U_h{l}": dU_h, f"b{l}": db})
            if dW is not None:
                grads[f"W{l}"] = dW
            # dh is now the gradient of the layer's input: the layer below, or the input.
        if self.mode == "one-hot":
            grads["W0"] = lookup_backward(dh, cache.inp)                # rows of (V, 3H)
        else:
            dx = dh                                                     # (B, D) into the input
            if cache.mask_embed is not None:
                dx = dx * cache.mask_embed                              # (B, D)
            d_table = lookup_backward(dx, cache.inp)
            if self.mode == "embedding":
                grads["E"] = d_table
            else:
                # Wy is read twice (outputs and inputs): the input rows' gradient adds in.
                dWy_u[d_table.rows] += d_table.values
        grads["Wy"] = RowGrad(u, dWy_u, V)
        # By is read by the output columns only: rows read only as inputs are not touched
        # (with momentum, a touched row moves even when its gradient is zero).
        out = cache.is_output                                           # (K,) bool
        grads["By"] = RowGrad(u[out], dBy_u[out], V) if not out.all() else RowGrad(u, dBy_u, V)
        return grads

    # -- scoring ----------------------------------------------------------------------------
    def next_item_scores(self, sessions: Sessions, batch_size: int
                         ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(scores (B, V), targets (B,)) for every event after the first of every session.

        Session-parallel over `sessions`; each row's state starts from zero at its
        session's first event, so a prediction depends on its own session's history only.
        Sessions with fewer than two events give no row.
        """
        check_kind(sessions, (Sessions,), "gru4rec: next_item_scores", "sessions")
        batch_size = as_count(batch_size, "gru4rec: next_item_scores: batch_size", 1,
                              ConfigError)
        if sessions.n_items != self.n_items:
            raise DataError(f"gru4rec: next_item_scores: the sessions have {sessions.n_items} "
                            f"items, the model {self.n_items} (read them with the training "
                            f"vocabulary)")
        layout, first = self._layout(sessions, batch_size)
        items = sessions.items
        h: list[np.ndarray] = []
        for t in range(layout.n_steps):
            a, b = layout.step_offsets[t], layout.step_offsets[t + 1]
            pos = layout.in_pos[a:b]                                    # (B,)
            if t == 0:
                h = [np.zeros((b - a, H), dtype=self.dtype) for H in self.config.layers]
            else:
                h = [hl[layout.keep[a:b]] for hl in h]                  # (B, H_l)
                for hl in h:
                    hl[layout.reset[a:b]] = 0
            h = self._hidden(step_input(items, pos, first, self.config.session_state_decay),
                             h)
            yield self._scores(h[-1]), items[pos + 1].astype(np.int64)

    def score_session(self, items: np.ndarray) -> np.ndarray:
        """(V,) scores of the next item after the session `items` (T,) (T >= 1)."""
        items = as_integers(items, "gru4rec: score_session items")
        if items.ndim != 1 or items.size < 1:
            raise DataError("gru4rec: score_session needs a 1-d session of at least one item")
        if items.min() < 0 or items.max() >= self.n_items:
            raise DataError(f"gru4rec: item index outside [0, {self.n_items})")
        first = np.zeros(items.size, dtype=np.int64)                    # (T,) one session
        h = [np.zeros((1, H), dtype=self.dtype) for H in self.config.layers]
        for t in range(items.size):
            h = self._hidden(step_input(items, np.array([t]), first,
                                        self.config.session_state_decay), h)
        return self._scores(h[-1])[0]

    def item_vectors(self) -> np.ndarray:
        """The output item matrix Wy (V, H): the item representation for `nprec similar`."""
        return self.params["Wy"]

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The training support of every item (which items are candidates at scoring)."""
        return {} if self.support is None else {"support": self.support}

    def load_state_arrays(self, d: dict[str, np.ndarray]) -> None:
        # One count per item: scoring masks the items whose support is 0.
        self.support = StoredArrays(d).counts("support", self.n_items)

    # -- internals --------------------------------------------------------------------------
    def _layout(self, sessions: Sessions, batch_size: int
                ) -> tuple[SessionParallelBatches, np.ndarray]:
        """The session-parallel layout of `sessions` (computed once per data set)."""
        key = (id(sessions), batch_size)
        hit = self._layouts.get(key)
        if hit is None or hit[0] is not sessions:
            hit = (sessions, SessionParallelBatches(sessions, batch_size),
                   session_firsts(sessions))
            self._layouts[key] = hit
        return hit[1], hit[2]

    def _hidden(self, inp: StepInput, h: list[np.ndarray]) -> list[np.ndarray]:
        """The state after one step without dropout (scoring), from the state h per layer."""
        P = self.params
        table = {"constrained": "Wy", "embedding": "E", "one-hot": "W0"}[self.mode]
        x = lookup_forward(inp, P[table])[0]                            # (B, D) or (B, 3H)
        out = []
        for l in range(len(self.config.layers)):
            W = None if (l == 0 and self.mode == "one-hot") else P[f"W{l}"]
            x = gru_train_forward(x, h[l], W, P[f"U_zr{l}"], P[f"U_h{l}"], P[f"b{l}"],
                                  None)[0]                              # (B, H_l)
            out.append(x)
        return out

    def _scores(self, h: np.ndarray) -> np.ndarray:
        """Scores of every item (B, V); items without training support get -inf."""
        scores = h @ self.params["Wy"].T                                # (B, V)
        scores += self.params["By"]
        if self.support is not None and not self.support.all():
            scores[:, np.flatnonzero(self.support == 0)] = -np.inf
        return scores
