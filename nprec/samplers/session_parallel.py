"""GRU4Rec's session-parallel mini-batches and its cache of popularity-sampled negatives.

Session-parallel mini-batches (Hidasi et al. 2016, §3.1.1 and Fig. 2; the official
`SessionDataIterator`): sessions are ordered by the time of their first event (stable: ties
keep the container's session order), B slots each follow one session, and every step feeds
each slot's current event and asks for its next one. The hidden state of a slot carries over
from step to step within a session and is zeroed when the slot starts a new session.

What the model does with a `SessionStep` (in this order):

    H = H[step.keep]            # drop the rows of slots that ran out of sessions
    H[step.reset] = 0           # slots that started a new session begin from zero
    H = gru(embed(step.in_items), H)
    loss(scores(H), step.out_items); backward through this one step only (no BPTT)

`keep` is an index array into the previous step's rows (all of them, in order, except the
dropped ones); at the first step it is arange(B) and every row is reset, so H may start as
any (B, H) array. Sessions with a single event produce no training pair and are skipped (the
official iterator needs two events per session too: it replaces such a session before its
first step). Whether training goes on once fewer than two sessions remain (the official code
stops then when it samples no extra negatives) is the model's choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from nprec.data.containers import Sessions, as_count, as_generator
from nprec.errors import ConfigError
from nprec.kernels import session_parallel_steps
from nprec.samplers.negatives import PopularitySampler


class SessionStep(NamedTuple):
    in_items: np.ndarray   # (B',) int64 item clicked by each active slot at this step
    out_items: np.ndarray  # (B',) int64 the next item of the same session (the target)
    reset: np.ndarray      # (B',) bool, True where the slot started a new session here
    keep: np.ndarray       # (B',) int64 index of each row among the previous step's rows


class SessionParallelBatches:
    """The session-parallel steps of one epoch; iterate once per epoch.

    The layout of all steps is computed once by a compiled cursor (`session_parallel_steps`)
    and each step is a slice of it (17 bytes per training pair: ~0.5 GB for the 31M events
    of the full YooChoose training set). There is nothing random in it: the order is by time.

    Args:
        sessions:   the training sessions (with times, else in container order).
        batch_size: B, the number of parallel slots, an integer >= 1 (the batch shrinks at
                    the end of the epoch as slots run out of sessions).
    Attributes:
        n_pairs: training pairs (event, next event) per epoch.  n_steps: steps per epoch.
    Raises:
        ConfigError if batch_size is not an integer >= 1 (a float, bool or NaN included).
    """

    def __init__(self, sessions: Sessions, batch_size: int) -> None:
        self.batch_size = as_count(batch_size, "SessionParallelBatches: batch_size", 1,
                                   ConfigError)
        self.sessions = sessions
        order = np.argsort(sessions.start_times(), kind="stable")       # (S,) by start time
        lengths = sessions.lengths()[order]                             # (S,)
        used = order[lengths >= 2]                                      # (S',)
        self.starts = sessions.offsets[used]                            # (S',)
        self.ends = sessions.offsets[used + 1]                          # (S',)
        self.step_offsets, self.in_pos, self.reset, self.keep = session_parallel_steps(
            self.starts, self.ends, self.batch_size)
        self.n_pairs = self.in_pos.size
        self.n_steps = self.step_offsets.size - 1

    def __len__(self) -> int:
        return self.n_steps

    def __iter__(self) -> Iterator[SessionStep]:
        items = self.sessions.items
        for t in range(self.n_steps):
            a, b = self.step_offsets[t], self.step_offsets[t + 1]
            pos = self.in_pos[a:b]                                      # (B',)
            yield SessionStep(items[pos].astype(np.int64), items[pos + 1].astype(np.int64),
                              self.reset[a:b], self.keep[a:b])


class SampleCache:
    """Pre-drawn negatives for GRU4Rec's sampled output, one block per mini-batch.

    As the official `SampleCache`: a store of `store_size // n_sample` blocks of `n_sample`
    item ids, drawn at once with probability proportional to support^alpha; `get_sample()`
    hands out the next block (shared by every row of a mini-batch) and refills the store
    when it is used up.

    Args:
        item_counts: (V,) support of each item in the training data.
        alpha:       popularity exponent (`sample_alpha`; 0 uniform, 1 by popularity).
        n_sample:    negatives per mini-batch (official default 2048), an integer >= 1 (a
                     model without extra negatives, GRU4Rec's n_sample = 0, has no cache).
        rng:         random generator, kept by the cache.
        store_size:  ids per refill, an integer >= n_sample; default min(10_000_000,
                     1024 n_sample): the official 10 million for large n_sample, and at
                     most 1024 blocks otherwise, so small runs do not draw (and hold)
                     millions of ids they never use. The size changes only how often the
                     store is refilled, not the samples' distribution.
    Raises:
        ConfigError if n_sample or store_size is not an integer >= 1 (a float, bool or NaN
        included: 2.5 is not truncated to 2), or store_size is smaller than n_sample.
    """

    def __init__(self, item_counts: np.ndarray, alpha: float, n_sample: int,
                 rng: np.random.Generator, store_size: int | None = None) -> None:
        n_sample = as_count(n_sample, "SampleCache: n_sample", 1, ConfigError)
        as_generator(rng, "SampleCache: rng")
        if store_size is None:
            store_size = min(10_000_000, 1024 * n_sample)
        store_size = as_count(store_size, "SampleCache: store_size", 1, ConfigError)
        if store_size < n_sample:
            raise ConfigError(f"SampleCache: store_size={store_size} is smaller than "
                              f"n_sample={n_sample}")
        self.sampler = PopularitySampler(item_counts, alpha)
        self.n_sample = n_sample
        self.n_blocks = store_size // n_sample
        self.rng = rng
        self._refresh()

    def _refresh(self) -> None:
        draws = self.sampler.sample(self.n_blocks * self.n_sample, self.rng)
        self.store = draws.reshape(self.n_blocks, self.n_sample)        # (n_blocks, S)
        self.pointer = 0

    def get_sample(self) -> np.ndarray:
        """The next (n_sample,) int64 block of negative item ids."""
        if self.pointer >= self.n_blocks:
            self._refresh()
        block = self.store[self.pointer]                                # (S,)
        self.pointer += 1
        return block
