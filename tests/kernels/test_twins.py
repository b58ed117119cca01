"""Every fast kernel against its NumPy twin, in float32 and float64 (DESIGN.md §4).

`CASES` maps each kernel's name to a hypothesis strategy that builds its arguments for a
given float dtype. The test calls both twins on private copies of the same arguments and
compares what they return AND what they leave in their array arguments (the optimizer
kernels work in place). Integer results must be identical; float results may differ by
rounding (the compiled loops may evaluate a formula in float64 before storing float32).

Most pairs are called as `fast(*args)`. A few need more than that, each explained where it
is set: `CALLS` says how to call a pair (keyword arguments; a backward kernel run on the
cache of its own forward twin; a forward kernel compared without its cache), `TOLERANCES`
gives the few whose results need it a tolerance of their own (a loss returned as a Python
float, a polynomial exp, logits whose rounding grows with the size of their terms).
`test_every_public_twin_is_in_pairs` keeps a new kernel from being left out of `PAIRS`.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pkgutil
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kernel_cases import (
    attention_case,
    bce_output_case,
    csr_case,
    gru_sequence_case,
    gru_train_case,
    logistic_mf_case,
    normalize_case,
    sampled_loss_case,
    session_state_case,
    softmax_ce_case,
    softmax_counts_case,
)

import nprec.kernels
from nprec.kernels import PAIRS
from nprec.testing.strategies import seeds

DTYPES = [np.float32, np.float64]


def _uniforms(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Uniforms in [0, 1) with both ends present: exactly 0 and the largest value below 1."""
    u = rng.random(shape).astype(dtype)
    flat = u.reshape(-1)
    flat[0] = 0.0
    if flat.size > 1:
        flat[-1] = np.nextafter(dtype(1.0), dtype(0.0))
    return u


def _csr(rng: np.random.Generator, U: int, V: int, min_free: int):
    """Random sorted CSR rows over V items with at least `min_free` items outside each row."""
    dense = rng.random((U, V)) < rng.uniform(0.0, 1.0)                 # (U, V)
    for r in range(U):                                                  # free up full rows
        taken = np.flatnonzero(dense[r])
        excess = taken.size - (V - min_free)
        if excess > 0:
            dense[r, rng.choice(taken, excess, replace=False)] = False
    indptr = np.zeros(U + 1, dtype=np.int64)
    np.cumsum(dense.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(dense)[1].astype(np.int32)                     # sorted within rows
    return indptr, indices


@st.composite
def coalesce_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    N, V, D = draw(st.integers(1, 12)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    return rng.integers(0, V, N), rng.standard_normal((N, D)).astype(dtype)


@st.composite
def negatives_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    U, V, N = draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 30))
    indptr, indices = _csr(rng, U, V, 1)
    return indptr, indices, rng.integers(0, U, N), V, _uniforms(rng, N, dtype)


@st.composite
def distinct_negatives_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    U, V, N = draw(st.integers(1, 6)), draw(st.integers(1, 12)), draw(st.integers(1, 8))
    n = draw(st.integers(1, V))
    indptr, indices = _csr(rng, U, V, n)
    return indptr, indices, rng.integers(0, U, N), V, _uniforms(rng, (N, n), dtype)


@st.composite
def normal_case(draw, dtype):
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    return np.random.default_rng(draw(seeds)), shape, dtype


@st.composite
def cdf_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    V, N = draw(st.integers(1, 10)), draw(st.integers(1, 40))
    w = rng.random(V) * (rng.random(V) < 0.7)                           # (V,) some zeros
    w[rng.integers(V)] += 0.5
    cdf = np.cumsum(w) / w.sum()                                        # (V,)
    cdf[np.flatnonzero(w)[-1]:] = 1.0
    return cdf, _uniforms(rng, N, dtype)


@st.composite
def bpr_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    U, V, N = draw(st.integers(1, 6)), draw(st.integers(2, 12)), draw(st.integers(1, 30))
    indptr, indices = _csr(rng, U, V, 1)
    if indices.size == 0:                                               # at least one entry
        indptr[1:] += 1
        indices = np.array([rng.integers(V)], dtype=np.int32)
    return indptr, indices, V, _uniforms(rng, N, dtype), _uniforms(rng, N, dtype)[::-1].copy()


@st.composite
def topk_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, V = draw(st.integers(1, 5)), draw(st.integers(1, 15))
    scores = rng.integers(-2, 3, (B, V)).astype(dtype)                  # (B, V) many ties
    scores[rng.random((B, V)) < 0.2] = -np.inf
    scores[rng.random((B, V)) < 0.05] = np.nan
    return scores, draw(st.integers(1, V))


@st.composite
def rows_case(draw, dtype, n_state: int):
    """(P, *state, rows, G): unique sorted rows of a (V, D) parameter."""
    rng = np.random.default_rng(draw(seeds))
    V, D = draw(st.integers(1, 8)), draw(st.integers(1, 4))
    rows = np.flatnonzero(rng.random(V) < 0.6).astype(np.int64)        # (K,)
    P = rng.standard_normal((V, D)).astype(dtype)
    state = [np.abs(rng.standard_normal((V, D))).astype(dtype) for _ in range(n_state)]
    G = rng.standard_normal((rows.size, D)).astype(dtype)
    return P, state, rows, G


@st.composite
def sgd_case(draw, dtype):
    P, (vel,), rows, G = draw(rows_case(dtype, 1))
    return P, vel, rows, G, 0.1, draw(st.sampled_from([0.0, 0.9]))


@st.composite
def adagrad_case(draw, dtype):
    P, (acc, mom), rows, G = draw(rows_case(dtype, 2))
    return P, acc, mom, rows, G, 0.05, draw(st.sampled_from([0.0, 0.4])), 1e-6


@st.composite
def adam_case(draw, dtype):
    P, (m, v), rows, G = draw(rows_case(dtype, 2))
    return P, m, v, rows, G, 1e-2, 0.9, 0.999, 1e-8, draw(st.integers(1, 50))


@st.composite
def sessions_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    lengths = rng.integers(2, 7, draw(st.integers(0, 15)))              # (S,)
    ends = np.cumsum(lengths)
    return ends - lengths, ends, draw(st.integers(1, 6))


@st.composite
def ranking_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, V = draw(st.integers(1, 5)), draw(st.integers(1, 12))
    scores = rng.integers(0, draw(st.integers(1, 5)), size=(B, V)).astype(dtype)  # ties
    t_ptr, t_idx, e_ptr, e_idx = [0], [], [0], []
    for _ in range(B):
        perm = rng.permutation(V)
        n_t = int(rng.integers(0, V + 1))
        n_e = int(rng.integers(0, V - n_t + 1))
        t_idx += perm[:n_t].tolist()
        e_idx += sorted(perm[n_t:n_t + n_e].tolist())
        t_ptr.append(len(t_idx))
        e_ptr.append(len(e_idx))
    ks = np.array(sorted(set(draw(st.lists(st.integers(1, V + 2), min_size=1, max_size=3)))))
    return (scores, np.array(t_ptr), np.array(t_idx, dtype=np.int64), np.array(e_ptr),
            np.array(e_idx, dtype=np.int64), ks)


@st.composite
def sknn_case(draw, dtype):
    from nprec.data import Sessions
    from nprec.models.baselines import VSKNN

    rng = np.random.default_rng(draw(seeds))
    V = draw(st.integers(2, 10))
    train = Sessions.from_lists([rng.integers(0, V, size=rng.integers(1, 6)).tolist()
                                 for _ in range(draw(st.integers(1, 20)))], n_items=V)
    index = VSKNN(idf_weighting=float(draw(st.integers(0, 2)))).fit(train).index
    lengths = rng.integers(1, 6, size=draw(st.integers(1, 4)))
    pre_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    pre_items = rng.integers(0, V, size=int(pre_ptr[-1])).astype(np.int64)
    pre_weights = rng.random(pre_items.size).astype(dtype)
    decay = np.concatenate([[0.0], 1.0 / np.arange(1, 7)]).astype(dtype)
    return (pre_ptr, pre_items, pre_weights, index, decay, draw(st.integers(1, 6)),
            draw(st.integers(0, 8)), draw(st.integers(0, 2)))


@st.composite
def parsing_case(draw, dtype):
    kinds = draw(st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=4))
    plain = {0: st.text("abc", max_size=3),
             1: st.integers(-10**6, 10**6).map(str),
             2: st.decimals(-1000, 1000, places=3, allow_nan=False).map(str)}
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        fields = [draw(plain[k] if draw(st.integers(0, 7)) else st.text("x.-9", max_size=2))
                  for k in kinds]
        lines.append(",".join(fields) if draw(st.integers(0, 9)) else "")
    data = ("\n".join(lines) + "\n").encode()
    return np.frombuffer(data, dtype=np.uint8).copy(), ord(","), np.array(kinds)


# -- the model kernels (shapes as in tests/kernels/test_*_kernels.py, smaller) -------------


# The model kernels' strategies live in tests/kernel_cases.py (shared with each kernel's own
# test file); these adapt their tuples to the kernels' argument order.


@st.composite
def csr_matmul_case(draw, dtype):
    indptr, indices, data, W, _, _ = draw(csr_case(dtype))
    return indptr, indices, data, W


@st.composite
def csr_t_matmul_case(draw, dtype):
    indptr, indices, data, _, dY, V = draw(csr_case(dtype))
    return indptr, indices, data, dY, V


@st.composite
def sampled_loss_args(draw, dtype):
    """(S, by, cols, loss, log_q, bpreg, elu_param, scale), as `sampled_loss` takes them."""
    S, by, cols, log_q, loss, elu, bpreg = draw(sampled_loss_case(dtype))
    return S, by, cols, loss, log_q, bpreg, elu, draw(st.sampled_from([1.0, 0.25]))


@st.composite
def session_state_args(draw, dtype):
    return draw(session_state_case())


@st.composite
def gru_train_forward_case(draw, dtype):
    return draw(gru_train_case(dtype))[:-1]


@st.composite
def gru_sequence_forward_case(draw, dtype):
    return draw(gru_sequence_case(dtype))[:-1]


@st.composite
def attention_forward_case(draw, dtype):
    return draw(attention_case(dtype))[:-1]


@st.composite
def bilinear_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, C, D, V = (draw(st.integers(1, 5)) for _ in range(4))
    c, E, Bm = (rng.standard_normal(s).astype(dtype) for s in ((B, C), (V, D), (D, C)))
    return c, E, Bm, np.full((B, V), np.nan, dtype=dtype)


@st.composite
def add_bias_relu_case(draw, dtype):
    rng = np.random.default_rng(draw(seeds))
    B, O = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    a = rng.standard_normal((B, O)).astype(dtype)                      # (B, O)
    a[rng.random((B, O)) < 0.2] = 0.0                                  # exact zeros too
    b = rng.standard_normal(O).astype(dtype) * draw(st.sampled_from([0, 1]))  # (O,)
    return a, b


@st.composite
def tanh_backward_case(draw, dtype):
    """dy and a tanh output y in (-1, 1), some of it saturated at ±1."""
    rng = np.random.default_rng(draw(seeds))
    B, H = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    y = np.tanh(4.0 * rng.standard_normal((B, H))).astype(dtype)       # (B, H)
    return rng.standard_normal((B, H)).astype(dtype), y


@st.composite
def vae_code_case(draw, dtype):
    """dz, ε, σ, μ (a view of the encoder's output, as the model passes it), σ², β."""
    rng = np.random.default_rng(draw(seeds))
    B, L = draw(st.integers(1, 9)), draw(st.integers(1, 8))
    a = (2.0 * rng.standard_normal((B, 2 * L))).astype(dtype)          # (B, 2L) [μ | log σ²]
    mu, logvar = a[:, :L], a[:, L:]
    dz, eps = rng.standard_normal((2, B, L)).astype(dtype)
    beta = draw(st.sampled_from([0.0, 0.2, 0.137, 1.0]))
    return dz, eps, np.exp(0.5 * logvar), mu, np.exp(logvar), beta


@st.composite
def relu_bias_grad_case(draw, dtype):
    """dy and a layer output y = max(a + b, 0): zeros where the unit is off."""
    rng = np.random.default_rng(draw(seeds))
    B, O = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    y = np.maximum(rng.standard_normal((B, O)), 0).astype(dtype)       # (B, O)
    return rng.standard_normal((B, O)).astype(dtype), y


CASES = {
    "coalesce_rows": coalesce_case,
    "sample_negatives": negatives_case,
    "sample_negatives_distinct": distinct_negatives_case,
    "sample_cdf": cdf_case,
    "sample_bpr_triples": bpr_case,
    "standard_normal": normal_case,
    "topk_rows": topk_case,
    "sgd_rows": sgd_case,
    "adagrad_rows": adagrad_case,
    "adam_rows": adam_case,
    "session_parallel_steps": sessions_case,
    "ranking_metrics": ranking_case,
    "sknn_scores": sknn_case,
    "parse_numeric_fields": parsing_case,
    "csr_matmul": csr_matmul_case,
    "csr_t_matmul": csr_t_matmul_case,
    "normalize_and_drop": normalize_case,
    "tanh_backward_inplace": tanh_backward_case,
    "vae_code_backward": vae_code_case,
    "sampled_loss": sampled_loss_args,
    "gru_train_forward": gru_train_forward_case,
    "gru_train_backward": gru_train_case,
    "session_state": session_state_args,
    "softmax_ce_rows": softmax_ce_case,
    "softmax_counts_rows": softmax_counts_case,
    "bilinear_scores_into": bilinear_case,
    "gru_sequence_forward": gru_sequence_forward_case,
    "gru_sequence_backward": gru_sequence_case,
    "attention_rows_forward": attention_forward_case,
    "attention_rows_backward": attention_case,
    "bce_output": bce_output_case,
    "logistic_mf": logistic_mf_case,
    "add_bias_relu": add_bias_relu_case,
    "relu_bias_grad": relu_bias_grad_case,
}


def _forward_twin(backward):
    """The forward kernel beside a backward one: the fast forward for the fast backward,
    the reference forward for the reference backward."""
    return getattr(sys.modules[backward.__module__],
                   backward.__name__.replace("backward", "forward"))


def _backward_on_own_cache(backward, *args):
    """Run the backward kernel on the cache of its own forward twin: (*forward args, dout).

    The fast and reference caches are different objects (the fast ones keep the
    intermediates the fused passes need, the references the layer's), so neither backward can
    take the other's cache; what is compared is every gradient, each from its own forward.
    """
    *forward_args, dout = args
    return backward(dout, _forward_twin(backward)(*forward_args)[1])


def _forward_output(forward, *args):
    """A forward kernel's output without its cache (see `_backward_on_own_cache`: the caches
    differ in layout by design; the backward pair checks what they hold)."""
    return forward(*args)[0]


def _sampled_loss(kernel, S, by, cols, loss, log_q, bpreg, elu_param, scale):
    return kernel(S, by, cols, loss, log_q=log_q, bpreg=bpreg, elu_param=elu_param,
                  scale=scale)


# How to call a pair when it is not `fast(*args)`: kernel, *args -> what is compared.
CALLS = {
    "sampled_loss": _sampled_loss,                 # keyword-only options
    "gru_train_forward": _forward_output,
    "gru_train_backward": _backward_on_own_cache,
    "gru_sequence_forward": _forward_output,
    "gru_sequence_backward": _backward_on_own_cache,
    "attention_rows_forward": _forward_output,
    "attention_rows_backward": _backward_on_own_cache,
}

_EPS = {np.float32: 1e-5, np.float64: 1e-12}


def _bce_output_tol(args, dtype):
    # A logit is a sum of F products: its rounding error grows with the size of the terms,
    # and so do the gradients' errors (as in test_ncf_kernels.py).
    phi, h, b, _ = args
    s = np.abs(phi.astype(np.float64) @ h).max() + abs(b)
    return _EPS[dtype], _EPS[dtype] * (1.0 + max(s, np.abs(phi).max() + np.abs(h).max()))


def _logistic_mf_tol(args, dtype):
    # As `_bce_output_tol`: the scores' terms p_k q_k set the rounding, the L2 term λ ‖p‖² too.
    p, q, *_, lam = args
    size = 1.0 + float(np.abs(p).max() * np.abs(q).max() * p.shape[1])
    return _EPS[dtype], _EPS[dtype] * size * (1 + lam * size)


def _softmax_ce_tol(args, dtype):
    # float32: a polynomial exp and a float32 sum of each row against NumPy's exp and a
    # float64 sum. The gradient is at most `scale` in size, so its absolute tolerance follows
    # scale; the loss (float64 in both) inherits the float32 sum's ~1e-7 error, hence the
    # floor.
    return _EPS[dtype], _EPS[dtype] * max(args[2], 0.1)


def _softmax_counts_tol(args, dtype):
    # As `_softmax_ce_tol`, the row's total count multiplying both the loss (n log Z) and the
    # gradient (n softmax).
    _, indptr, _, counts, scale = args
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    total = np.bincount(rows, weights=counts, minlength=indptr.size - 1).max(initial=0.0)
    return _EPS[dtype], _EPS[dtype] * max(scale, 0.1) * (1.0 + total)


# (rtol, atol) of every float result of a pair, for pairs whose results need more than the
# default: 1e-5 (float32 arrays) or 1e-12 (float64 arrays), and Python floats equal.
TOLERANCES = {
    # The loss is a Python float (summed over unique items with column counts, against a sum
    # over all columns): the default's tolerance of the arrays, for it too.
    "sampled_loss": lambda args, dtype: (_EPS[dtype], _EPS[dtype]),
    "softmax_ce_rows": _softmax_ce_tol,
    "softmax_counts_rows": _softmax_counts_tol,
    "bce_output": _bce_output_tol,
    "logistic_mf": _logistic_mf_tol,
}


def _assert_same(fast, ref, what: str, tol: tuple[float, float] | None = None) -> None:
    """Integers and other values equal; floats within `tol` = (rtol, atol) when given, else
    within 1e-5 (float32 arrays) or 1e-12 (float64 arrays), and Python floats equal."""
    if isinstance(ref, tuple):
        assert isinstance(fast, tuple) and len(fast) == len(ref), what
        for i, (a, b) in enumerate(zip(fast, ref, strict=True)):
            _assert_same(a, b, f"{what}[{i}]", tol)
    elif isinstance(ref, np.ndarray):
        assert isinstance(fast, np.ndarray) and fast.shape == ref.shape, what
        if np.issubdtype(ref.dtype, np.floating):
            assert fast.dtype == ref.dtype, what
            rtol, atol = tol or (_EPS[ref.dtype.type],) * 2
            np.testing.assert_allclose(fast, ref, rtol=rtol, atol=atol, err_msg=what)
        else:
            np.testing.assert_array_equal(fast, ref, err_msg=what)
    elif isinstance(ref, float) and tol is not None:
        assert isinstance(fast, float), what
        np.testing.assert_allclose(fast, ref, rtol=tol[0], atol=tol[1], err_msg=what)
    else:
        assert fast == ref, what


def test_every_pair_has_a_case():
    assert sorted(fast.__name__ for fast, _ in PAIRS) == sorted(CASES)
    for fast, ref in PAIRS:
        assert ref.__name__ == fast.__name__ + "_ref"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("pair", PAIRS, ids=[fast.__name__ for fast, _ in PAIRS])
@given(data=st.data())
def test_fast_kernel_matches_reference(pair, dtype, data):
    fast, ref = pair
    name = fast.__name__
    args = data.draw(CASES[name](dtype))
    args_fast, args_ref = copy.deepcopy(args), copy.deepcopy(args)
    call = CALLS.get(name, lambda kernel, *a: kernel(*a))
    out_fast, out_ref = call(fast, *args_fast), call(ref, *args_ref)
    tol = TOLERANCES[name](args, dtype) if name in TOLERANCES else None
    _assert_same(out_fast, out_ref, f"{name} result", tol)
    for i, (a, b) in enumerate(zip(args_fast, args_ref, strict=True)):
        if isinstance(b, np.ndarray):
            _assert_same(a, b, f"{name} argument {i} after the call", tol)


# Public `X_ref` functions of nprec.kernels modules that are not the twin of a kernel `X`,
# each with the reason. Empty: every public `_ref` today is a kernel's twin (the helpers
# the twins share, like sampling's `_complement_items_ref`, are private).
NOT_TWINS: dict[str, str] = {}


def test_every_public_twin_is_in_pairs():
    """Every public `X_ref` defined in a module of nprec.kernels is paired with its `X` in
    PAIRS, so a new kernel cannot be left out of the twin test."""
    in_pairs = {(fast.__module__, fast.__name__): (fast, ref) for fast, ref in PAIRS}
    found = set()
    for info in pkgutil.iter_modules(nprec.kernels.__path__):
        module = importlib.import_module(f"nprec.kernels.{info.name}")
        for name, obj in inspect.getmembers(module, callable):
            if not name.endswith("_ref") or name.startswith("_") or name in NOT_TWINS \
                    or getattr(obj, "__module__", None) != module.__name__:
                continue                                    # not defined here, or excluded
            fast_name = name[: -len("_ref")]
            key = (module.__name__, fast_name)
            assert key in in_pairs, f"{module.__name__}.{name}: ({fast_name}, {name}) not in PAIRS"
            assert in_pairs[key] == (getattr(module, fast_name), obj), f"{key}: other objects"
            found.add(key)
    assert found == set(in_pairs), f"PAIRS entries without a public twin: {set(in_pairs) - found}"
    # An excluded name must not hide a kernel's twin.
    assert not {name[: -len("_ref")] for name in NOT_TWINS} & {f.__name__ for f, _ in PAIRS}
