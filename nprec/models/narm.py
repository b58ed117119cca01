"""NARM: Neural Attentive Session-based Recommendation (Li et al., CIKM 2017).

A session prefix x_1 .. x_t is read by a GRU over its item embeddings; two encoders look at
the hidden states h_1 .. h_t and a bilinear decoder scores every item for the next click:

    e_j     = E[x_j] (dropout 0.25)                           item embeddings, D = 50
    h_j     = GRU(e_j, h_{j-1}),  h_0 = 0                     H = 100             (eq. 2-5)
    c_g     = h_t                                             global encoder      (eq. 6)
    α_tj    = v · σ(A1 h_t + A2 h_j)                          attention           (eq. 8)
    c_l     = Σ_j softmax_j(α_tj) h_j                         local encoder       (eq. 7)
    c       = [c_l ; c_g]  (dropout 0.5)                      session vector, 2H  (eq. 9)
    S_i     = E[i] · (B c)                                    bilinear decoder    (eq. 10)
    loss    = -(1/N) Σ log softmax(S)_{target}                full cross-entropy  (eq. 12)

The concatenation order [c_l; c_g] is that of the official code (lijingsdu/sessionRec_NARM,
NARM.py); the paper writes [c_g; c_l], the same model with B's columns permuted. The decoder's
E is the input embedding table itself, so E gets the sum of two gradients (see backward).

Training samples are all (prefix, next item) pairs of the training sessions
(`nprec.samplers.prefix_batches`), in shuffled padded batches of 512; Adam, lr 1e-3.

Differences from the official Theano code, all deliberate:
- gates: the logistic σ of `nprec.layers.gru` and `attention` (the official code uses
  Theano's hard_sigmoid, a piecewise-linear approximation; PyTorch ports use σ as here);
- dropout is inverted (kept units scaled by 1/keep while training, nothing at evaluation)
  where the official code scales by keep at evaluation; the two agree in expectation;
- prefixes are not cut to their first 19 items (the official `maxlen=19`); `max_len`
  keeps the most recent items instead if set.
Initialisation follows the official code: N(0, 2/fan_in) for E, W, A1, A2, v and B (fan_in =
the first dimension of the official matrix), orthogonal recurrent matrices, zero biases.

Built from nprec layers and losses: embedding, dropout, gru, attention, concat, bilinear,
softmax_ce_fused. The GRU runs through `nprec.kernels.narm_gru.gru_sequence_forward`, the
same function as the `gru` layer (its twin) computed on the running rows only: each batch's
rows are sorted longest prefix first, so step t touches exactly the prefixes still going.
The attention runs through `nprec.kernels.narm_attention` (twins: the `attention` layer),
its elementwise work one pass per row over the real positions only.
The decoder's (B, V) scores are written into one buffer kept from batch to batch
(`nprec.kernels.narm.bilinear_scores_into`, twin `bilinear_forward`), so `backward` takes
the cache of the latest `forward` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from nprec.config import check, check_least, check_types
from nprec.data.containers import Sessions, as_count, check_kind
from nprec.errors import ConfigError, DataError, TrainingError
from nprec.kernels.narm import bilinear_scores_into
from nprec.kernels.narm_attention import attention_rows_backward, attention_rows_forward
from nprec.kernels.narm_gru import gru_sequence_backward, gru_sequence_forward
from nprec.layers import (
    bilinear_backward,
    bilinear_forward,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    embedding_backward,
    embedding_forward,
)
from nprec.layers.products import concat_backward, concat_forward
from nprec.losses.softmax_fused import softmax_ce_fused_backward, softmax_ce_fused_forward
from nprec.models._indices import as_integers
from nprec.models._init_args import check_init
from nprec.samplers import prefix_batches, prefix_samples

KIND = "sessions"
DEFAULTS: dict[str, Any] = {"train.epochs": 30, "train.patience": 5,
                            "eval.protocol": "next-item", "eval.k": [5, 10, 20],
                            "eval.metric": "recall@20"}
ALIASES: dict[str, str] = {"max_epochs": "train.epochs", "lrate": "model.learning_rate"}


@dataclass
class Config:
    """Hyperparameters of NARM (defaults: the paper's and the official code's settings)."""

    dim_proj: int = field(default=50, metadata={
        "help": "item embedding size D (the official code's dim_proj)"})
    hidden_units: int = field(default=100, metadata={"help": "GRU hidden units H"})
    emb_dropout: float = field(default=0.25, metadata={
        "help": "dropout probability on the item embeddings"})
    ctx_dropout: float = field(default=0.5, metadata={
        "help": "dropout probability on the session vector [c_l; c_g] before the decoder"})
    batch_size: int = field(default=512, metadata={"help": "(prefix, next item) samples per "
                                                           "mini-batch"})
    max_len: int = field(default=0, metadata={
        "help": "keep only the most recent max_len items of a prefix (0 = the whole prefix)"})
    bucket: int = field(default=64, metadata={
        "help": "sort the shuffled samples by length in chunks of this many batches, so a "
                "batch pads less and the GRU runs fewer steps (0 = no sorting)"})
    optimizer: str = field(default="adam", metadata={"help": "sgd, adagrad or adam"})
    learning_rate: float = field(default=0.001, metadata={"help": "step size"})
    momentum: float = field(default=0.0, metadata={"help": "sgd/adagrad momentum"})

    def __post_init__(self) -> None:
        check_types(self)
        check_least(self, "dim_proj", 1)
        check_least(self, "hidden_units", 1)
        check(0 <= self.emb_dropout < 1, "model.emb_dropout", "must be in [0, 1)")
        check(0 <= self.ctx_dropout < 1, "model.ctx_dropout", "must be in [0, 1)")
        check_least(self, "batch_size", 1)
        check_least(self, "max_len", 0, " (0 = whole prefix)")
        check_least(self, "bucket", 0, " (0 = no sorting)")
        check(self.optimizer in ("sgd", "adagrad", "adam"), "model.optimizer",
              f"must be sgd, adagrad or adam, got {self.optimizer!r}")
        check(self.learning_rate > 0, "model.learning_rate", "must be > 0")
        check(0 <= self.momentum < 1, "model.momentum", "must be in [0, 1)")


class NarmBatch(NamedTuple):
    items: np.ndarray            # (B, T) int64 prefix items, left-aligned, 0 where padded
    mask: np.ndarray             # (B, T) bool, True on real items
    targets: np.ndarray          # (B,) int64 next item of each prefix
    emb_mask: np.ndarray | None  # (B, T, D) dropout mask of the embeddings (None: no dropout)
    ctx_mask: np.ndarray | None  # (B, 2H) dropout mask of the session vector


class NarmCache(NamedTuple):
    emb: Any             # embedding cache (the real positions only)
    mask: np.ndarray     # (B, T) bool
    emb_drop: Any        # dropout caches (None when not applied)
    gru: Any
    att: Any
    cat: Any
    ctx_drop: Any
    dec: Any             # bilinear cache
    loss: Any            # softmax_ce_fused cache (its gradient lives in the score buffer)
    step: int            # which forward call made this cache


class NarmEpoch:
    """The mini-batches of one epoch: shuffled prefix batches plus their dropout masks.

    Each batch's rows are put longest prefix first (the loss is a mean over rows, so their
    order is free), which lets the GRU skip finished rows. Sized (for the progress bar); the
    masks are drawn from the epoch's generator as the batches are made, so `forward` itself
    is deterministic.
    """

    def __init__(self, model: Model, train: Sessions, rng: np.random.Generator) -> None:
        self.model, self.train, self.rng = model, train, rng
        cfg = model.config
        self.max_len = cfg.max_len or None
        n = prefix_samples(train, self.max_len)[0].size
        self.n_batches = -(-n // cfg.batch_size)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[NarmBatch]:
        cfg, rng = self.model.config, self.rng
        dtype = self.model.params["E"].dtype
        D, H = cfg.dim_proj, cfg.hidden_units
        for b in prefix_batches(self.train, cfg.batch_size, rng, max_len=self.max_len,
                                bucket=cfg.bucket or None):
            rows = np.argsort(-b.mask.sum(axis=1), kind="stable")     # (B,) longest first
            b = b._replace(items=b.items[rows], mask=b.mask[rows], targets=b.targets[rows])
            B, T = b.items.shape
            emb_mask = (dropout_mask(rng, (B, T, D), cfg.emb_dropout, dtype)
                        if cfg.emb_dropout > 0 else None)                   # (B, T, D)
            ctx_mask = (dropout_mask(rng, (B, 2 * H), cfg.ctx_dropout, dtype)
                        if cfg.ctx_dropout > 0 else None)                   # (B, 2H)
            yield NarmBatch(b.items, b.mask, b.targets, emb_mask, ctx_mask)


class Model:
    """NARM with parameters E (V, D), the GRU's W (D, 3H), U_zr (H, 2H), U_h (H, H), b (3H,),
    the attention's A1, A2 (H, H), v (H,), and the decoder's Bm (D, 2H)."""

    name = "narm"

    def __init__(self, config: Config, n_users: int, n_items: int, *,
                 rng: np.random.Generator, dtype: np.dtype = np.float32) -> None:
        self.config = config
        n_users, n_items, dtype = check_init(self.name, n_users, n_items, rng, dtype,
                                             sessions=True, config=config, config_type=Config)
        self.n_users, self.n_items = n_users, n_items
        D, H, V = config.dim_proj, config.hidden_units, n_items
        self._score_buffer = np.empty((0, V), dtype=dtype)  # reused (B, V) scores
        self._forwards = 0

        def normal(fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
            return (np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)).astype(dtype)

        def orthogonal() -> np.ndarray:
            q, _ = np.linalg.qr(rng.standard_normal((H, H)))
            return q.astype(dtype)                                      # (H, H)

        # The official code draws E as (V, D) with fan_in V, the attention's W_encoder and
        # W_decoder as (H, H), bl_vector as (1, H) (fan_in 1) and bili as (D, 2H).
        self.params = {
            "E": normal(V, (V, D)),                                     # (V, D)
            "W": normal(D, (D, 3 * H)),                                 # (D, 3H) [W_z|W_r|W_h]
            "U_zr": np.concatenate([orthogonal(), orthogonal()], axis=1),  # (H, 2H)
            "U_h": orthogonal(),                                        # (H, H)
            "b": np.zeros(3 * H, dtype=dtype),                          # (3H,)
            "A1": normal(H, (H, H)),                                    # (H, H) query h_t
            "A2": normal(H, (H, H)),                                    # (H, H) keys h_j
            "v": normal(1, (H,)),                                       # (H,)
            "Bm": normal(D, (D, 2 * H)),                                # (D, 2H)
        }

    # -- training ---------------------------------------------------------------------------
    def batches(self, train: Sessions, rng: np.random.Generator) -> NarmEpoch:
        """One epoch: every (prefix, next item) sample once, shuffled, with dropout masks."""
        self._check_items(train, "batches")
        return NarmEpoch(self, train, rng)

    def _check_items(self, sessions: Sessions, what: str) -> None:
        check_kind(sessions, (Sessions,), f"NARM: {what}", "sessions")
        if sessions.n_items != self.n_items:
            raise DataError(f"NARM: {what}: the sessions have {sessions.n_items} items, the "
                            f"model {self.n_items} (read them with the training vocabulary)")

    def _session(self, items: np.ndarray, what: str) -> np.ndarray:
        """One session's items (T,) as int64, checked: 1 to T item indices in [0, V)."""
        items = as_integers(items, f"NARM: {what} items")
        if items.ndim != 1 or items.size == 0 or items.min() < 0 or items.max() >= self.n_items:
            raise DataError(f"NARM: {what}: a session must be 1 to T item indices in [0, "
                            f"{self.n_items}), got {items.tolist()[:10]}")
        return items

    def _encode(self, items: np.ndarray, mask: np.ndarray, emb_mask: np.ndarray | None,
                ctx_mask: np.ndarray | None) -> tuple[np.ndarray, tuple]:
        """The session vectors c = [c_l; c_g] (B, 2H) of padded prefixes, and the caches."""
        prm = self.params
        B, T = items.shape
        D, H = self.config.dim_proj, self.config.hidden_units
        mask = np.asarray(mask, dtype=bool)
        # Embeddings of the real positions only; padded positions stay zero (the GRU skips
        # them, so they never reach the loss).
        e_real, c_emb = embedding_forward(items[mask], prm["E"])         # (N, D)
        x = np.zeros((B, T, D), dtype=prm["E"].dtype)                   # (B, T, D)
        x[mask] = e_real
        c_d1 = None
        if emb_mask is not None:
            x, c_d1 = dropout_forward(x, emb_mask)                      # (B, T, D)
        h0 = np.zeros((B, H), dtype=x.dtype)                            # (B, H)
        hs, c_gru = gru_sequence_forward(x, mask, h0, prm["W"], prm["U_zr"], prm["U_h"],
                                         prm["b"])                      # (B, T, H)
        # Padded steps carry the state, so the last column is each prefix's last real state.
        c_g = hs[:, -1]                                                 # (B, H) global
        c_l, c_att = attention_rows_forward(hs, c_g, mask, prm["A1"], prm["A2"],
                                       prm["v"])                        # (B, H) local
        c, c_cat = concat_forward(c_l, c_g)                             # (B, 2H)
        c_d2 = None
        if ctx_mask is not None:
            c, c_d2 = dropout_forward(c, ctx_mask)                      # (B, 2H)
        return c, (c_emb, mask, c_d1, c_gru, c_att, c_cat, c_d2)

    def forward(self, batch: NarmBatch) -> tuple[np.floating, NarmCache]:
        """The mean cross-entropy of a mini-batch and the cache for `backward`."""
        c, enc = self._encode(batch.items, batch.mask, batch.emb_mask, batch.ctx_mask)
        E = self.params["E"]
        B = c.shape[0]
        if self._score_buffer.shape[0] < B or self._score_buffer.dtype != E.dtype:
            self._score_buffer = np.empty((B, self.n_items), dtype=E.dtype)  # (B, V)
        scores, c_dec = bilinear_scores_into(c, E, self.params["Bm"],
                                             self._score_buffer[:B])    # (B, V)
        # The scores are not needed after the loss: their buffer becomes dL/dscores.
        loss, c_loss = softmax_ce_fused_forward(scores, batch.targets, overwrite=True)
        self._forwards += 1
        return loss, NarmCache(*enc, c_dec, c_loss, self._forwards)

    def backward(self, cache: NarmCache) -> dict[str, Any]:
        """Gradients of every parameter, in reverse order of `forward`.

        Raises:
            TrainingError if `forward` ran again since this cache was made (its gradient
            buffer has been overwritten).
        """
        if cache.step != self._forwards:
            raise TrainingError("NARM: backward needs the cache of the latest forward call "
                                "(every forward reuses the score buffer)")
        # Loss -> scores.
        dscores, _ = softmax_ce_fused_backward(1.0, cache.loss)         # (B, V)
        # Scores -> session vector, the decoder map, and E (every row: all items scored).
        dc, dE, dBm = bilinear_backward(dscores, cache.dec)             # (B, 2H), (V, D), (D, 2H)
        if cache.ctx_drop is not None:
            dc, _ = dropout_backward(dc, cache.ctx_drop)
        dc_l, dc_g = concat_backward(dc, cache.cat)                     # (B, H) each
        # Local encoder -> states (values and keys) and its query, the last state.
        dhs, dh_q, _, dA1, dA2, dv = attention_rows_backward(dc_l, cache.att)  # (B, T, H), (B, H)
        # The last state is read twice: as c_g and as the attention's query.
        dhs[:, -1] += dc_g + dh_q
        dx, _, _, dW, dU_zr, dU_h, db = gru_sequence_backward(dhs, cache.gru)  # (B, T, D)
        if cache.emb_drop is not None:
            dx, _ = dropout_backward(dx, cache.emb_drop)
        _, dE_in = embedding_backward(dx[cache.mask], cache.emb)        # RowGrad of the inputs
        # E is read twice, as the input embedding and as the decoder's item vectors: its
        # gradient is the sum of both, the input rows added into the dense decoder gradient
        # (the rows of a RowGrad are unique, so the fancy-index += adds each once).
        dE[dE_in.rows] += dE_in.values
        return {"E": dE, "W": dW, "U_zr": dU_zr, "U_h": dU_h, "b": db,
                "A1": dA1, "A2": dA2, "v": dv, "Bm": dBm}

    # -- scoring ----------------------------------------------------------------------------
    def _scores(self, items: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Decoder scores of every item (B, V) for padded prefixes, without dropout."""
        c, _ = self._encode(items, mask, None, None)                    # (B, 2H)
        scores, _ = bilinear_forward(c, self.params["E"], self.params["Bm"])
        return scores                                                   # (B, V)

    def next_item_scores(self, sessions: Sessions, batch_size: int
                         ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Scores for every prefix of every session and the item that followed it.

        Each prediction reads only its own session's earlier items (the GRU starts from zero
        for every prefix); every event after the first of every session is a target.
        Sessions are taken shortest first (stable), so a batch holds sessions of about one
        length and pads little; within a session, shortest prefix first.
        Yields (scores (B, V), targets (B,)).
        """
        self._check_items(sessions, "next_item_scores")
        batch_size = as_count(batch_size, "NARM: next_item_scores: batch_size", 1, ConfigError)
        max_len = self.config.max_len or None
        by_length = sessions.select(np.argsort(sessions.lengths(), kind="stable"))
        for b in prefix_batches(by_length, batch_size, None, max_len=max_len):
            yield self._scores(b.items, b.mask), b.targets

    def score_session(self, items: np.ndarray) -> np.ndarray:
        """Scores of every item (V,) as the next click after the session `items` (T,).

        Raises:
            DataError for an empty session or an item index outside [0, V).
        """
        items = self._session(items, "score_session")
        if self.config.max_len:
            items = items[-self.config.max_len:]
        return self._scores(items[None, :], np.ones((1, items.size), dtype=bool))[0]

    def attention_weights(self, items: np.ndarray) -> np.ndarray:
        """The local encoder's weights softmax(α_tj) over the items (T,) of one session.

        Raises:
            DataError for an empty session or an item index outside [0, V).
        """
        items = self._session(items, "attention_weights")
        _, (_, _, _, _, c_att, _, _) = self._encode(
            items[None, :], np.ones((1, items.size), dtype=bool), None, None)
        return c_att.a                          # (T,) one row, every position real

    def item_vectors(self) -> np.ndarray:
        """The item embeddings E (V, D), read at the input and by the decoder."""
        return self.params["E"]
