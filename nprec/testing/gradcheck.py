"""Finite-difference gradient checks, public so users can test their own layers.

Three tools, from the smallest unit up (DESIGN.md §5):

- `numerical_grad(f, x, dy)`: central differences of sum(f(x) * dy), float64 only.
- `check_grads(forward, backward, *args, rng=...)`: a layer or loss in the nprec contract,
  every float argument checked entry by entry against a random upstream gradient.
- `check_directional(model, batch, rng)`: a whole model, one random direction per
  parameter, so even large models are checked in a few forward passes.

Pass/fail is `|analytic - numeric| <= atol + rtol * |numeric|` per entry. An elementwise
relative error (CS231n's) blows up on saturated gates where both gradients are tiny, so it is
not used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nprec.layers.rowgrad import RowGrad


class GradientCheckError(AssertionError):
    """A hand-written gradient disagrees with finite differences (argument and index named)."""


def _require_float64(x: np.ndarray, what: str) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"{what}: gradient checks need float64 arrays, got "
                        f"{getattr(x, 'dtype', type(x).__name__)}")


def _check_settings(rng: Any, eps: float, rtol: float, atol: float, what: str) -> None:
    """The checks' own arguments: a wrong one would make every check fail, or pass, wrongly."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"{what}: rng must be a np.random.Generator (np.random.default_rng("
                        f"seed)), got {type(rng).__name__}")
    if not 0 < eps < np.inf:
        raise ValueError(f"{what}: eps must be a positive step, got {eps}")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not 0 <= value < np.inf:
            raise ValueError(f"{what}: {name} must be a finite number >= 0, got {value}")


def _check_grad_shape(name: str, g: Any, shape: tuple[int, ...]) -> None:
    """A gradient must have its parameter's shape; a RowGrad must keep its contract (sorted,
    unique rows inside the table): NumPy would broadcast a wrong shape and wrap a negative
    row, and the check could pass a wrong gradient."""
    if isinstance(g, RowGrad):
        rows, values = np.asarray(g.rows), np.asarray(g.values)
        if g.n_rows != shape[0] or values.shape[1:] != shape[1:] or rows.ndim != 1 \
                or values.shape[:1] != rows.shape:
            raise GradientCheckError(f"{name}: RowGrad of {rows.shape} rows and values "
                                     f"{values.shape} over {g.n_rows} rows does not fit the "
                                     f"parameter's shape {shape}")
        if rows.size and (rows.dtype.kind not in "iu" or rows.min() < 0
                          or rows.max() >= shape[0] or np.any(np.diff(rows) <= 0)):
            raise GradientCheckError(f"{name}: RowGrad rows must be sorted, unique integers "
                                     f"in [0, {shape[0]}), got {rows.tolist()[:10]}")
    elif np.shape(g) != shape:
        raise GradientCheckError(f"{name}: gradient has shape {np.shape(g)}, expected {shape}")


def numerical_grad(f: Callable[[np.ndarray], Any], x: np.ndarray, dy: Any,
                   eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of sum(f(x) * dy) with respect to x.

    f is called with x perturbed in place, one entry at a time, and x is restored afterwards.
    Args:
        f:   function of x returning an array (or scalar) shaped like dy.
        x:   float64 array, the point to differentiate at.
        dy:  upstream gradient, the weights of the sum.
        eps: step of the central difference.
    Returns:
        An array shaped like x.
    """
    _require_float64(x, "numerical_grad")
    _check_settings(None, eps, 0.0, 0.0, "numerical_grad")
    grad = np.zeros_like(x)
    # Index x itself, entry by entry: a reshaped copy of a non-contiguous x would be
    # perturbed instead of x, and every difference would silently come out zero.
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        plus = np.sum(np.asarray(f(x)) * dy)
        x[idx] = old - eps
        minus = np.sum(np.asarray(f(x)) * dy)
        x[idx] = old
        grad[idx] = (plus - minus) / (2.0 * eps)
    return grad


def _is_float_array(a: Any) -> bool:
    return isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)


def _dense(g: Any) -> Any:
    return g.to_dense() if isinstance(g, RowGrad) else g


def _compare(name: str, analytic: np.ndarray, numeric: np.ndarray,
             rtol: float, atol: float) -> None:
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise GradientCheckError(f"{name}: gradient has shape {analytic.shape}, "
                                 f"expected {numeric.shape}")
    err = np.abs(analytic - numeric)
    bad = ~(err <= atol + rtol * np.abs(numeric))       # also catches NaN
    if bad.any():
        idx = tuple(int(i) for i in
                    np.unravel_index(int(np.argmax(np.where(bad, err, -1.0))), err.shape))
        raise GradientCheckError(
            f"{name}{list(idx)}: analytic {analytic[idx]:.10g} vs numeric {numeric[idx]:.10g} "
            f"(|diff| {err[idx]:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|; "
            f"{int(bad.sum())} of {bad.size} entries fail)")


def check_grads(forward: Callable, backward: Callable, *args: Any,
                rng: np.random.Generator, rtol: float = 1e-5, atol: float = 1e-7,
                eps: float = 1e-6, nondiff: Sequence[int] = ()) -> None:
    """Check a forward/backward pair of the nprec contract against finite differences.

    A random upstream gradient `dy` (never all ones, so a backward that ignores it fails) is
    drawn from `rng`; `backward(dy, cache)` must return one entry per forward argument. Every
    float array argument is then checked entry by entry, `RowGrad`s densified; non-float
    arguments (ids, boolean masks, Python scalars) must get `None`.

    Args:
        forward, backward: the pair, e.g. `dense_forward, dense_backward`.
        *args:   the forward's arguments; float arrays must be float64.
        rng:     source of the upstream gradient.
        rtol, atol: tolerance per entry, |analytic - numeric| <= atol + rtol |numeric|.
        eps:     central-difference step.
        nondiff: positions of float arguments that are data, not parameters (a dropout mask),
                 whose gradient must be `None`.
    Raises:
        GradientCheckError naming the argument position and the failing index.
    """
    _check_settings(rng, eps, rtol, atol, "check_grads")
    out, cache = forward(*args)
    dy = rng.standard_normal(np.shape(out))
    if np.ndim(out) == 0:
        dy = float(dy)
    grads = backward(dy, cache)
    if not isinstance(grads, tuple) or len(grads) != len(args):
        raise GradientCheckError(f"backward returned {type(grads).__name__} of length "
                                 f"{len(grads) if isinstance(grads, tuple) else '?'}, "
                                 f"expected a tuple of {len(args)} (one per forward argument)")
    for pos, (arg, g) in enumerate(zip(args, grads, strict=True)):
        name = f"argument {pos}"
        if not _is_float_array(arg) or pos in nondiff:
            if g is not None:
                raise GradientCheckError(f"{name}: expected None for a non-differentiable "
                                         f"argument, got {type(g).__name__}")
            continue
        _require_float64(arg, name)
        if g is None:
            raise GradientCheckError(f"{name}: backward returned None for a float argument")
        _check_grad_shape(name, g, arg.shape)
        if _dense(g).dtype != arg.dtype:
            raise GradientCheckError(f"{name}: gradient dtype {_dense(g).dtype}, "
                                     f"argument dtype {arg.dtype}")

        def f(x: np.ndarray, pos: int = pos) -> Any:
            call = list(args)
            call[pos] = x
            return forward(*call)[0]

        numeric = numerical_grad(f, arg, dy, eps=eps)
        _compare(name, _dense(g), numeric, rtol, atol)


def check_directional(model: Any, batch: Any, rng: np.random.Generator,
                      rtol: float = 1e-5, atol: float = 1e-7, eps: float = 1e-6,
                      params: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """Check a whole model's gradient along one random direction per parameter.

    For each parameter p and a random unit-scale direction v, the analytic directional
    derivative <dL/dp, v> must match (L(p + eps v) - L(p - eps v)) / (2 eps). The model must
    follow the nprec model contract: a `params` dict of float64 arrays, `forward(batch) ->
    (loss, cache)` with a deterministic loss for a given batch (dropout masks and VAE noise
    live in the batch), and `backward(cache) -> {name: gradient}` (a `RowGrad` or dense array;
    a missing name or `None` counts as a zero gradient).

    Args:
        model:  the model under test (its parameters are restored afterwards).
        batch:  one mini-batch as the model's forward takes it.
        rng:    source of the directions.
        params: the parameter names to check (default: all).
    Returns:
        {name: (analytic, numeric)} for every parameter checked.
    Raises:
        GradientCheckError naming the first parameter that disagrees.
    """
    _check_settings(rng, eps, rtol, atol, "check_directional")
    names = list(model.params) if params is None else \
        [params] if isinstance(params, str) else list(params)
    unknown = [n for n in names if n not in model.params]
    if unknown:
        raise ValueError(f"check_directional: params names {unknown[0]!r}, which is not among "
                         f"the model's parameters {sorted(model.params)}")
    _, cache = model.forward(batch)
    grads = model.backward(cache)
    if not isinstance(grads, dict):
        raise GradientCheckError(f"backward returned {type(grads).__name__}, expected a dict "
                                 f"{{parameter name: gradient}}")
    stray = [n for n in grads if n not in model.params]
    if stray:
        raise GradientCheckError(f"backward returned a gradient for {stray[0]!r}, which is not "
                                 f"among the model's parameters {sorted(model.params)}")
    report = {}
    for name in names:
        p = model.params[name]
        _require_float64(p, f"parameter {name!r}")
        v = rng.standard_normal(p.shape)
        g = grads.get(name)
        if g is not None:
            _check_grad_shape(f"parameter {name!r}", g, p.shape)
        if g is None:
            analytic = 0.0
        elif isinstance(g, RowGrad):
            analytic = float(np.sum(g.values * v[g.rows]))
        else:
            analytic = float(np.sum(np.asarray(g) * v))
        saved = p.copy()
        p += eps * v
        plus = float(model.forward(batch)[0])
        p[...] = saved - eps * v
        minus = float(model.forward(batch)[0])
        p[...] = saved
        numeric = (plus - minus) / (2.0 * eps)
        report[name] = (analytic, numeric)
        if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
            raise GradientCheckError(
                f"parameter {name!r}: directional derivative analytic {analytic:.10g} vs "
                f"numeric {numeric:.10g} (|diff| {abs(analytic - numeric):.3g})")
    return report
