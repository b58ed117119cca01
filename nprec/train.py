"""The fit loop shared by every trained model.

One epoch is the textbook loop, nothing hidden:

    for batch in batches(rng):               # the model's own sampler, fresh every epoch
        loss, cache = model.forward(batch)
        grads = model.backward(cache)
        optimizer.step(model.params, grads)

around which `fit` adds what a real experiment needs: a progress bar, a finite-loss check that
names the epoch and step, per-epoch loss and seconds, evaluation on the validation split every
`eval_every` epochs, early stopping on a chosen metric, and a callback after each epoch that the
caller uses to write checkpoints.

Reproducibility: epoch e draws every random number (negatives, shuffling, dropout masks)
from `epoch_rng(seed, e)`, a generator derived from the run seed and the epoch alone. A run
resumed after epoch e therefore continues exactly as the uninterrupted run would, provided the
parameters and the optimizer state were restored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nprec.blas_threads import quiet_blas_threads
from nprec.data.containers import as_count
from nprec.errors import ConfigError, TrainingError
from nprec.memory import keep_freed_memory

LOWER_IS_BETTER = ("rmse", "mae", "loss")


def prepare_process() -> None:
    """Set the process up for training steps, once (each call below is idempotent).

    - `nprec.memory.keep_freed_memory`: the C library keeps freed memory, since steps
      allocate the same arrays again and again;
    - `nprec.blas_threads.quiet_blas_threads`: OpenBLAS's idle workers sleep soon after a
      product and leave the cores to Numba's kernels.

    `fit`, the `nprec` command and the benchmarks call it.
    """
    keep_freed_memory()
    quiet_blas_threads()


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of epoch `epoch` (1-based) of a run seeded with `seed`."""
    return np.random.default_rng([seed, 0x5EED, epoch])


def init_rng(seed: int) -> np.random.Generator:
    """The generator that initialises a run's parameters (a ConfigError unless seed is an
    integer >= 0)."""
    return np.random.default_rng([as_count(seed, "init_rng: seed", 0, ConfigError), 0x1417])


def higher_is_better(metric: str) -> bool:
    """Ranking metrics improve upwards; error metrics (rmse, mae, loss) downwards."""
    return not metric.split("@")[0].lower().startswith(LOWER_IS_BETTER)


@dataclass
class FitState:
    """Where training stands; saved in every checkpoint so a run can resume.

    Attributes:
        epoch:     epochs completed.
        history:   one record per completed epoch: loss, seconds, steps, validation metrics.
        best:      the best validation record so far ({"epoch", "metric", "value"}) or None.
        bad_evals: evaluations since the last improvement (for early stopping).
        stopped:   why training ended early ("" while it runs or if it ran every epoch).
    """

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    bad_evals: int = 0
    stopped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "history": self.history, "best": self.best,
                "bad_evals": self.bad_evals, "stopped": self.stopped}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitState:
        return cls(int(d["epoch"]), list(d["history"]), d["best"], int(d["bad_evals"]),
                   str(d.get("stopped", "")))


class EpochBatches:
    """The mini-batches of one epoch as consecutive slices of pre-drawn arrays.

    A sampler draws a whole epoch of examples at once (vectorised), shuffles them, and wraps
    the arrays here; iterating yields tuples of `batch_size`-row slices (views, no copies).
    Sized, so the progress bar knows the number of steps. A batch_size that is not an
    integer >= 1 (a float, bool or NaN included) is a ConfigError.
    """

    def __init__(self, arrays: tuple[np.ndarray, ...], batch_size: int) -> None:
        self.arrays = arrays
        self.batch_size = as_count(batch_size, "EpochBatches: batch_size", 1, ConfigError)
        self.n = len(arrays[0])

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self):
        for start in range(0, self.n, self.batch_size):
            yield tuple(a[start:start + self.batch_size] for a in self.arrays)


def _progress(batches: Iterable, epoch: int, epochs: int, show: bool) -> Iterable:
    if not show:
        return batches
    from tqdm import tqdm

    total = len(batches) if hasattr(batches, "__len__") else None
    return tqdm(batches, total=total, desc=f"epoch {epoch}/{epochs}", unit="batch",
                leave=False, dynamic_ncols=True, disable=None)


def fit(model: Any, optimizer: Any, batches: Callable[[np.random.Generator], Iterable], *,
        epochs: int, seed: int, evaluate: Callable[[], dict[str, float]] | None = None,
        metric: str = "", patience: int = 0, eval_every: int = 1,
        on_epoch_end: Callable[[FitState, bool], None] | None = None,
        state: FitState | None = None, progress: bool = False,
        log: Callable[[str], None] | None = None) -> FitState:
    """Train `model` for up to `epochs` epochs.

    Args:
        model:        has `params`, `forward(batch) -> (loss, cache)`, `backward(cache) ->
                      grads`.
        optimizer:    has `step(params, grads)`.
        batches:      `batches(rng)` returns the iterable of one epoch's mini-batches.
        epochs:       total number of epochs (including those of a resumed `state`).
        seed:         run seed; epoch e uses `epoch_rng(seed, e)`.
        evaluate:     returns validation metrics; None trains without validation.
        metric:       the validation metric that selects the best epoch.
        patience:     stop after this many evaluations without improvement (0 = never).
        eval_every:   evaluate every this many epochs (and after the last one).
        on_epoch_end: called with (state, improved) after every epoch, e.g. to save
                      `best.npz` when improved and `last.npz` always.
        state:        a resumed `FitState`; training continues after `state.epoch`.
        progress:     show a progress bar.
        log:          called with one line per epoch.
    Returns:
        The final `FitState`.
    Raises:
        TrainingError if a loss is NaN or infinite (epoch and step named); nothing is saved
        for that epoch, so the best checkpoint on disk stays the last good one.

    The process is set up for training steps first (`prepare_process`: the allocator keeps
    freed memory, OpenBLAS's idle workers sleep soon after a product).
    """
    for name, value, least in (("epochs", epochs, 0), ("seed", seed, 0),
                               ("patience", patience, 0), ("eval_every", eval_every, 1)):
        as_count(value, f"fit: {name}", least, ConfigError)
    prepare_process()
    state = state or FitState()
    if state.stopped:
        return state
    sign = 1.0 if higher_is_better(metric) else -1.0
    for epoch in range(state.epoch + 1, epochs + 1):
        rng = epoch_rng(seed, epoch)
        start = time.perf_counter()
        total, steps = 0.0, 0
        for batch in _progress(batches(rng), epoch, epochs, progress):
            loss, cache = model.forward(batch)
            if not np.isfinite(loss):
                raise TrainingError(f"the training loss became {float(loss)} in epoch {epoch}, "
                                    f"step {steps + 1}; try a lower learning rate")
            grads = model.backward(cache)
            optimizer.step(model.params, grads)
            total += float(loss)
            steps += 1
        record: dict[str, Any] = {"epoch": epoch, "loss": total / max(steps, 1),
                                  "seconds": time.perf_counter() - start, "steps": steps}
        improved = False
        if evaluate is not None and (epoch % eval_every == 0 or epoch == epochs):
            start = time.perf_counter()
            valid = evaluate()
            record["eval_seconds"] = time.perf_counter() - start
            record["valid"] = valid
            if not isinstance(valid, dict):
                raise TrainingError(f"evaluate() must return a dict of metrics, got "
                                    f"{type(valid).__name__}")
            if metric not in valid:
                raise TrainingError(f"validation metric {metric!r} is not among the "
                                    f"evaluated metrics {sorted(valid)}")
            try:
                value = float(valid[metric])
            except (TypeError, ValueError):
                value = float("nan")
            if not np.isfinite(value):
                # NaN never compares better: the best epoch would silently stay the first.
                raise TrainingError(f"validation metric {metric!r} is {valid[metric]!r} in "
                                    f"epoch {epoch}, not a finite number")
            if state.best is None or sign * value > sign * state.best["value"]:
                state.best = {"epoch": epoch, "metric": metric, "value": value}
                state.bad_evals = 0
                improved = True
            else:
                state.bad_evals += 1
        elif evaluate is None:
            state.best = {"epoch": epoch, "metric": "", "value": None}
            improved = True
        state.history.append(record)
        state.epoch = epoch
        if patience and state.bad_evals >= patience and epoch < epochs:
            state.stopped = (f"no better validation {metric} in {patience} evaluations; "
                             f"best was epoch {state.best['epoch']}")
        if on_epoch_end is not None:
            on_epoch_end(state, improved)
        if log is not None:
            # After on_epoch_end (which saves checkpoints): whoever reads "epoch N" and
            # presses Ctrl-C finds epoch N saved.
            log(_epoch_line(record, metric))
        if state.stopped:
            if log is not None:
                log(f"early stop: {state.stopped}")
            break
    return state


def _epoch_line(record: dict[str, Any], metric: str) -> str:
    line = (f"epoch {record['epoch']:3d}  loss {record['loss']:.5f}  "
            f"{record['seconds']:.1f}s")
    valid = record.get("valid")
    if valid:
        shown = [metric] + [k for k in valid if k != metric][:3]
        line += "  valid " + "  ".join(f"{k} {valid[k]:.4f}" for k in shown if k in valid)
    return line
