"""The session-parallel cursor of GRU4Rec (Hidasi et al. 2016, §3.1.1): one epoch's steps.

B slots each hold one session. At every step each slot contributes one row, the pair
(event, next event) at its cursor, and advances by one event. A slot whose session has no
pair left takes the next unused session (its row is flagged `reset`, so the model zeroes
that row's hidden state); when no session is left the slot is dropped and the batch shrinks
(`keep` says which rows of the previous step survive). Free slots take sessions in
ascending slot order, as in the official `SessionDataIterator`.

The kernel lays out the whole epoch in flat arrays (a row per training pair), so the Python
iterator only slices them. Sessions must have at least two events (a shorter one has no
pair; the caller drops them).
"""

from __future__ import annotations

import numpy as np

from nprec.kernels._jit import jit


def _check_sessions(starts: np.ndarray, ends: np.ndarray, batch_size: int) -> None:
    if starts.shape != ends.shape or starts.ndim != 1:
        raise ValueError("session_parallel_steps: starts and ends must be 1-d, equal length")
    if batch_size < 1:
        raise ValueError(f"session_parallel_steps: batch_size={batch_size} must be >= 1")
    if np.any(ends - starts < 2):
        raise ValueError("session_parallel_steps: every session needs at least 2 events")


def session_parallel_steps_ref(starts: np.ndarray, ends: np.ndarray, batch_size: int
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lay out one epoch of session-parallel steps (reference twin, the official algorithm).

    Written like the official iterator: in each round every slot runs for the length of the
    shortest remaining session (minus one), all slots at once; then the finished slots take
    the next sessions and slots without a session are dropped.

    Args:
        starts, ends: (S,) event range [start, end) of each session, in the order sessions
                      are to be used (by start time); each session has >= 2 events.
        batch_size:   B, the number of slots.
    Returns:
        step_offsets (n_steps + 1,) int64: step t holds rows step_offsets[t]:step_offsets[t+1];
        in_pos (P,) int64: event position of each row's input (its target is in_pos + 1);
        reset (P,) bool: the row's slot started a new session at this step;
        keep (P,) int64: index of the row's slot among the previous step's rows.
        P = sum over sessions of (length - 1), the number of training pairs.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    _check_sessions(starts, ends, batch_size)
    n = min(batch_size, starts.size)
    start, end = starts[:n].copy(), ends[:n].copy()                     # (B,)
    fresh = np.ones(n, dtype=bool)                                      # (B,)
    first_keep = np.arange(n, dtype=np.int64)                           # (B,)
    next_session = n
    sizes, in_pos, reset, keep = [], [], [], []
    while start.size:
        width = start.size
        n_steps = int((end - start).min()) - 1  # >= 1: every slot holds a pair
        in_pos.append((start[None, :] + np.arange(n_steps)[:, None]).ravel())  # (n_steps B,)
        r = np.zeros((n_steps, width), dtype=bool)                      # (n_steps, B)
        r[0] = fresh
        reset.append(r.ravel())
        kp = np.tile(np.arange(width, dtype=np.int64), (n_steps, 1))    # (n_steps, B)
        kp[0] = first_keep
        keep.append(kp.ravel())
        sizes.extend([width] * n_steps)
        start = start + n_steps
        finished = end - start <= 1                                     # (B,)
        n_new = int(finished.sum())
        new = next_session + np.arange(n_new)                           # (n_new,)
        next_session += n_new
        valid = np.ones(width, dtype=bool)                              # (B,)
        valid[np.flatnonzero(finished)[new >= starts.size]] = False
        got = new[new < starts.size]                                    # (n_got,)
        slots = np.flatnonzero(finished)[: got.size]                    # (n_got,)
        start[slots], end[slots] = starts[got], ends[got]
        fresh = finished.copy()
        start, end, fresh = start[valid], end[valid], fresh[valid]
        first_keep = np.flatnonzero(valid)
    step_offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=step_offsets[1:])
    cat = np.concatenate
    empty_i = np.zeros(0, dtype=np.int64)
    return (step_offsets, cat(in_pos) if in_pos else empty_i,
            cat(reset) if reset else np.zeros(0, dtype=bool), cat(keep) if keep else empty_i)


def session_parallel_steps(starts: np.ndarray, ends: np.ndarray, batch_size: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lay out one epoch of session-parallel steps; same contract as the twin.

    Step by step: every slot emits its row and advances; a slot with no pair left takes the
    next session (reset) or, when none is left, is dropped.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    _check_sessions(starts, ends, batch_size)
    n_pairs = int(np.sum(ends - starts - 1))
    step_offsets = np.zeros(n_pairs + 1, dtype=np.int64)  # at most one row per step
    in_pos = np.empty(n_pairs, dtype=np.int64)                          # (P,)
    reset = np.empty(n_pairs, dtype=np.bool_)                           # (P,)
    keep = np.empty(n_pairs, dtype=np.int64)                            # (P,)
    n_steps = _session_parallel_steps(starts, ends, batch_size, step_offsets, in_pos,
                                      reset, keep)
    return step_offsets[: n_steps + 1].copy(), in_pos, reset, keep


@jit()
def _session_parallel_steps(starts, ends, batch_size, step_offsets, in_pos, reset, keep):
    # Serial: each step depends on the previous one (which sessions are where).
    n = min(batch_size, starts.size)
    pos = starts[:n].copy()                # slot j's input event
    end = ends[:n].copy()                  # slot j's session end
    fresh = np.ones(n, dtype=np.bool_)     # slot j took its session at this step
    src = np.arange(n)                     # slot j's index among the previous step's rows
    next_session = n
    row = 0
    step = 0
    while n > 0:
        for j in range(n):
            in_pos[row + j] = pos[j]
            reset[row + j] = fresh[j]
            keep[row + j] = src[j]
        row += n
        step += 1
        step_offsets[step] = row
        width = 0                          # compact the surviving slots in place (width <= j)
        for j in range(n):
            if pos[j] + 2 < end[j]:        # the session still has a pair after this one
                pos[width] = pos[j] + 1
                end[width] = end[j]
                fresh[width] = False
            elif next_session < starts.size:
                pos[width] = starts[next_session]
                end[width] = ends[next_session]
                fresh[width] = True
                next_session += 1
            else:
                continue                   # no session left: the slot is dropped
            src[width] = j
            width += 1
        n = width
    return step
