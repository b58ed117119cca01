"""What enters GRU4Rec at each step: the input modes and the session-parallel training steps.

Input modes (`nprec.models.gru4rec.Config`):

    one-hot       x = e_i (V,) times the first GRU layer's input matrix W_0 (V, 3H): that
                  product is row i of W_0, so the first layer's input projection is a table
                  lookup (the official `GRUEmbedding`); no (B, V) matrix is ever built.
    embedding     x = E[i], a separate item embedding (V, D) (`embedding=D`).
    constrained   x = Wy[i]: the output item matrix doubles as the input embedding
                  (`constrained_embedding=True`, the official default).
    session state (any of the three, `session_state_decay` = γ > 0; Hidasi et al. 2016, §3.1)
                  the input is the session so far instead of the current item alone:
                      u_t = Σ_{k ≤ t} γ^(t-k) e_{i_k},   x_t = u_t / ‖u_t‖₂,
                  a sparse row whose product with the input table is a weighted sum of its
                  rows (`embedding_bag`). γ = 0 is the one-hot input itself.

Training steps (`TrainingSteps`): the session-parallel layout of `nprec.samplers`
(`SessionParallelBatches`: sessions by start time, a slot takes the next session when its
own ends and is dropped when none is left), plus what each step needs besides the item ids:
the shared negatives of the step from a `SampleCache`, the logQ correction of every column,
the dropout masks, and the hidden state each row starts from. The hidden state is data that
flows from one step to the next: `forward(step)` stores the state after the step in
`step.h_next`, and the next step starts from it, rows of finished slots dropped (`keep`) and
rows of new sessions zeroed (`reset`) before the step. Forward is then a pure function of
the step and the parameters (gradient checks call it many times), and the state is never
back-propagated into (no BPTT, as the official code).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from nprec.data.containers import Sessions
from nprec.errors import TrainingError
from nprec.kernels.gru4rec_step import session_state
from nprec.layers import RowGrad, dropout_mask, embedding_backward, embedding_forward
from nprec.layers.embedding_bag import embedding_bag_backward, embedding_bag_forward
from nprec.samplers.session_parallel import SampleCache, SessionParallelBatches


class StepInput(NamedTuple):
    ids: np.ndarray              # (N,) int64 item ids read (N = B for the one-hot input)
    indptr: np.ndarray | None    # (B + 1,) rows of the session-state input, None for one-hot
    weights: np.ndarray | None   # (N,) weights of the session-state entries


class TrainStep(NamedTuple):
    inputs: StepInput            # the input of every row
    targets: np.ndarray          # (B,) int64 next item of every row (column i of row i)
    negatives: np.ndarray        # (S,) int64 negatives shared by the rows (S = 0 allowed)
    log_q: np.ndarray | None     # (M,) logQ correction of every column, or None
    h_prev: list                 # per layer (B, H_l): the state each row starts from
    mask_embed: np.ndarray | None  # (B, D_in) dropout mask of the embedding, or None
    mask_hidden: list            # per layer (B, H_l) dropout mask of its output, or None
    h_next: list                 # filled by forward: per layer (B, H_l) state after the step


def step_input(items: np.ndarray, pos: np.ndarray, first: np.ndarray, decay: float
               ) -> StepInput:
    """The input of rows whose current events are at positions `pos` of a `Sessions`.

    Args:
        items: (N,) item of every event.  pos: (B,) current event of each row.
        first: (N,) position of each event's session start.  decay: γ of the session state.
    """
    if decay == 0.0:
        return StepInput(items[pos].astype(np.int64), None, None)
    indptr, ids, weights = session_state(items, first[pos], pos, decay)
    return StepInput(ids, indptr, weights)


def session_firsts(sessions: Sessions) -> np.ndarray:
    """(N,) int64: for every event, the position of its session's first event."""
    return np.repeat(sessions.offsets[:-1], sessions.lengths())


def lookup_forward(inp: StepInput, table: np.ndarray, ids: np.ndarray | None = None
                   ) -> tuple[np.ndarray, Any]:
    """x = X table for the step's sparse input X: a row lookup, or a weighted sum of rows.

    Args:
        inp: the step's input.  table: (V', D).
        ids: (N,) the rows of `table` to read instead of inp.ids (the constrained mode reads
             a gathered block of Wy, indexed by position in that block).
    Returns:
        x (B, D) and the layer cache.
    """
    ids = inp.ids if ids is None else ids
    if inp.indptr is None:
        return embedding_forward(ids, table)                            # (B, D)
    return embedding_bag_forward(inp.indptr, ids, inp.weights, table)   # (B, D)


def lookup_backward(dx: np.ndarray, cache: Any) -> RowGrad:
    """The table's row gradient from dx (B, D)."""
    if len(cache) == 2:
        return embedding_backward(dx, cache)[1]
    return embedding_bag_backward(dx, cache)[3]


class TrainingSteps:
    """The session-parallel training steps of one epoch (see the module docstring).

    Args:
        layout:      the epoch's session-parallel layout (`SessionParallelBatches`).
        first:       (N,) session start of every event (`session_firsts`).
        support:     (V,) training support of every item (sampling and the logQ correction).
        config:      the model's `Config`.  n_input: D_in, the embedding width.
        onehot:      the one-hot mode (the first GRU layer's output takes `dropout_p_embed`).
        rng:         the epoch's generator (negatives and dropout masks).  dtype: of masks.
    """

    def __init__(self, layout: SessionParallelBatches, first: np.ndarray, support: np.ndarray,
                 config: Any, n_input: int, onehot: bool, rng: np.random.Generator,
                 dtype: np.dtype) -> None:
        self.layout, self.first, self.support = layout, first, support
        # log P0 of every item with support (the others are never a target or a negative).
        self.log_support = np.log(np.maximum(support, 1)).astype(dtype)  # (V,)
        self.config, self.n_input, self.onehot = config, n_input, onehot
        self.rng, self.dtype = rng, np.dtype(dtype)
        widths = np.diff(layout.step_offsets)                           # (n_steps,)
        # Without extra negatives a row needs another row's target as its negative: the
        # official code ends the epoch when fewer than two sessions remain.
        self.n_steps = int(np.argmax(widths < 2)) if (config.n_sample == 0
                                                     and np.any(widths < 2)) else widths.size

    def __len__(self) -> int:
        return self.n_steps

    def __iter__(self) -> Iterator[TrainStep]:
        cfg, lay = self.config, self.layout
        items = lay.sessions.items
        cache = (SampleCache(self.support, cfg.sample_alpha, cfg.n_sample, self.rng)
                 if cfg.n_sample > 0 else None)
        no_negatives = np.zeros(0, dtype=np.int64)
        prev = None
        for t in range(self.n_steps):
            a, b = lay.step_offsets[t], lay.step_offsets[t + 1]
            pos, reset = lay.in_pos[a:b], lay.reset[a:b]                # (B,), (B,)
            B = b - a
            if prev is None:
                h_prev = [np.zeros((B, H), dtype=self.dtype) for H in cfg.layers]
            elif not prev.h_next:
                raise TrainingError("GRU4Rec's steps carry the hidden state from one step to "
                                    "the next: run forward(step) before taking the next step")
            else:
                keep = lay.keep[a:b]
                # Finished slots are dropped, new sessions start from zero, before the step.
                h_prev = [h[keep] for h in prev.h_next]                 # (B, H_l) copies
                for h in h_prev:
                    h[reset] = 0
            targets = items[pos + 1].astype(np.int64)                   # (B,)
            negatives = cache.get_sample() if cache is not None else no_negatives  # (S,)
            log_q = None
            if cfg.loss == "cross-entropy" and cfg.logq > 0:
                # Official: targets by their support P0, negatives by P0^α (their sampling
                # probability up to a constant that the softmax ignores).
                log_q = cfg.logq * np.concatenate([self.log_support[targets],
                                                   cfg.sample_alpha
                                                   * self.log_support[negatives]])  # (M,)
            step = TrainStep(step_input(items, pos, self.first, cfg.session_state_decay),
                             targets, negatives, log_q, h_prev,
                             self._mask((B, self.n_input), cfg.dropout_p_embed,
                                        not self.onehot),
                             [self._mask((B, H), cfg.dropout_p_embed if self.onehot and l == 0
                                         else cfg.dropout_p_hidden, True)
                              for l, H in enumerate(cfg.layers)], [])
            yield step
            prev = step

    def _mask(self, shape: tuple[int, int], p: float, used: bool) -> np.ndarray | None:
        if not used or p == 0.0:
            return None
        return dropout_mask(self.rng, shape, p, self.dtype)             # shape
