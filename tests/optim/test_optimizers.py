"""SGD, Adagrad and Adam: dense and row-sparse paths, state, checkpoints, validation.

The reference for each optimizer is a direct transcription of its formulas (Kingma & Ba
2015 Algorithm 1; the official GRU4Rec `IndexedAdagradM`), run over several steps with
parameters that are only partly touched by row gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nprec.errors import CheckpointError, ConfigError
from nprec.layers.rowgrad import RowGrad
from nprec.optim import SGD, Adagrad, Adam
from nprec.testing.strategies import seeds

MAKERS = {
    "sgd": lambda: SGD(0.1),
    "sgd_momentum": lambda: SGD(0.1, momentum=0.9),
    "adagrad": lambda: Adagrad(0.2),
    "adagrad_momentum": lambda: Adagrad(0.2, momentum=0.5),
    "adam": lambda: Adam(0.05),
}


def _params(rng, V, D, dtype=np.float64):
    return {"E": rng.standard_normal((V, D)).astype(dtype),
            "b": rng.standard_normal(V).astype(dtype),
            "W": rng.standard_normal((D, 2)).astype(dtype)}


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


# -- transcriptions of the formulas -------------------------------------------------------


def adam_reference(p, grads_per_step, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba Algorithm 1 with eps outside the bias-corrected sqrt; lazy on rows:
    grads_per_step[t] is (rows, values) and only those rows' moments and values change."""
    p = p.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, (rows, g) in enumerate(grads_per_step, start=1):
        m[rows] = b1 * m[rows] + (1 - b1) * g
        v[rows] = b2 * v[rows] + (1 - b2) * g ** 2
        m_hat = m[rows] / (1 - b1 ** t)
        v_hat = v[rows] / (1 - b2 ** t)
        p[rows] -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def adagrad_reference(p, grads_per_step, lr, momentum=0.0, eps=1e-6):
    """GRU4Rec's IndexedAdagradM, sparse branch: acc[i] += g^2, then
    step = g / (-(sqrt(acc[i] + eps)) / lr), mom[i] = momentum mom[i] + step, p[i] += mom[i]."""
    p = p.copy()
    acc, mom = np.zeros_like(p), np.zeros_like(p)
    for rows, g in grads_per_step:
        acc[rows] += g ** 2
        step = g / (np.sqrt(acc[rows] + eps) * (-1.0 / lr))
        if momentum > 0:
            mom[rows] = momentum * mom[rows] + step
            p[rows] += mom[rows]
        else:
            p[rows] += step
    return p


def _row_steps(rng, V, D, n_steps):
    """Per step: a random sorted subset of rows (sometimes empty) and their gradients."""
    steps = []
    for _ in range(n_steps):
        rows = np.flatnonzero(rng.random(V) < 0.5)
        steps.append((rows, rng.standard_normal((rows.size, D))))
    return steps


@given(seeds, st.integers(1, 6), st.integers(1, 3), st.integers(1, 5))
def test_adam_rows_match_the_transcription(seed, V, D, n_steps):
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((V, D))
    steps = _row_steps(rng, V, D, n_steps)
    opt, params = Adam(0.05), {"E": E.copy()}
    for rows, g in steps:
        opt.step(params, {"E": RowGrad(rows, g, V)})
    np.testing.assert_allclose(params["E"], adam_reference(E, steps, 0.05), rtol=1e-12,
                               atol=1e-14)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
@given(seeds, st.integers(1, 6), st.integers(1, 3), st.integers(1, 5))
def test_adagrad_rows_match_the_transcription(momentum, seed, V, D, n_steps):
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((V, D))
    steps = _row_steps(rng, V, D, n_steps)
    opt, params = Adagrad(0.2, momentum=momentum), {"E": E.copy()}
    for rows, g in steps:
        opt.step(params, {"E": RowGrad(rows, g, V)})
    np.testing.assert_allclose(params["E"], adagrad_reference(E, steps, 0.2, momentum),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make,reference", [
    (lambda: Adam(0.05), lambda E, s: adam_reference(E, s, 0.05)),
    (lambda: Adagrad(0.2, momentum=0.5), lambda E, s: adagrad_reference(E, s, 0.2, 0.5)),
])
@given(seeds, st.integers(1, 5), st.integers(1, 3), st.integers(1, 5))
def test_dense_paths_match_the_transcription(make, reference, seed, V, D, n_steps):
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((V, D))
    steps = [(np.arange(V), rng.standard_normal((V, D))) for _ in range(n_steps)]
    opt, params = make(), {"E": E.copy()}
    for _, g in steps:
        opt.step(params, {"E": g})
    np.testing.assert_allclose(params["E"], reference(E, steps), rtol=1e-12, atol=1e-14)


@given(seeds, st.integers(1, 5), st.integers(1, 3), st.integers(1, 4))
def test_sgd_matches_the_transcription(seed, V, D, n_steps):
    rng = np.random.default_rng(seed)
    E = rng.standard_normal((V, D))
    grads = [rng.standard_normal((V, D)) for _ in range(n_steps)]
    dense, sparse, ref, vel = SGD(0.1, 0.9), SGD(0.1, 0.9), E.copy(), np.zeros_like(E)
    pd, ps = {"E": E.copy()}, {"E": E.copy()}
    for g in grads:
        vel = 0.9 * vel - 0.1 * g
        ref = ref + vel
        dense.step(pd, {"E": g})
        sparse.step(ps, {"E": RowGrad(np.arange(V), g, V)})
    np.testing.assert_allclose(pd["E"], ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ps["E"], ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(MAKERS))
@given(seeds, st.integers(1, 6), st.integers(1, 3), st.integers(1, 4))
def test_sparse_equals_dense_when_every_row_is_touched(name, seed, V, D, n_steps):
    rng = np.random.default_rng(seed)
    p_dense = _params(rng, V, D)
    p_sparse = _copy(p_dense)
    opt_dense, opt_sparse = MAKERS[name](), MAKERS[name]()
    for _ in range(n_steps):
        gE, gb, gW = rng.standard_normal((V, D)), rng.standard_normal(V), \
            rng.standard_normal((D, 2))
        opt_dense.step(p_dense, {"E": gE, "b": gb, "W": gW})
        opt_sparse.step(p_sparse, {"E": RowGrad(np.arange(V), gE, V),
                                   "b": RowGrad(np.arange(V), gb, V), "W": gW})
    for k in p_dense:
        np.testing.assert_allclose(p_sparse[k], p_dense[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
@given(seeds, st.integers(2, 6), st.integers(1, 3), st.integers(1, 4))
def test_sparse_equals_dense_with_zero_gradient_elsewhere(name, seed, V, D, n_steps):
    # Without momentum, SGD and Adagrad leave a row with zero gradient exactly where it is.
    rng = np.random.default_rng(seed)
    p_dense = {"E": rng.standard_normal((V, D))}
    p_sparse = _copy(p_dense)
    opt_dense, opt_sparse = MAKERS[name](), MAKERS[name]()
    for rows, g in _row_steps(rng, V, D, n_steps):
        full = np.zeros((V, D))
        full[rows] = g
        opt_dense.step(p_dense, {"E": full})
        opt_sparse.step(p_sparse, {"E": RowGrad(rows, g, V)})
    np.testing.assert_allclose(p_sparse["E"], p_dense["E"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(MAKERS))
@given(seeds, st.integers(2, 8), st.integers(1, 3))
def test_untouched_rows_never_move(name, seed, V, D):
    rng = np.random.default_rng(seed)
    params = _params(rng, V, D)
    opt = MAKERS[name]()
    touched = np.zeros(V, dtype=bool)
    for rows, g in _row_steps(rng, V, D, 4):
        before = params["E"].copy()
        state_before = {k: s.copy() for k, s in opt.state.items()}
        opt.step(params, {"E": RowGrad(rows, g, V)})
        still = np.setdiff1d(np.arange(V), rows)
        np.testing.assert_array_equal(params["E"][still], before[still])
        for k, s in state_before.items():
            np.testing.assert_array_equal(opt.state[k][still], s[still])
        touched[rows] = True
    assert not np.any(opt.state.get("m/E", np.zeros((V, D)))[~touched])


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_state_dict_round_trip_continues_identically(name, tmp_path):
    rng = np.random.default_rng(5)
    params = _params(rng, 7, 3)
    grads = [{"E": RowGrad(np.array([0, 2, 5]), rng.standard_normal((3, 3)), 7),
              "b": rng.standard_normal(7), "W": rng.standard_normal((3, 2))}
             for _ in range(6)]
    opt = MAKERS[name]()
    for g in grads[:3]:
        opt.step(params, g)
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    resumed_params = _copy(params)
    resumed = MAKERS[name]()
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        resumed.load_state_dict(dict(f))
    assert resumed.t == 3
    for g in grads[3:]:
        opt.step(params, g)
        resumed.step(resumed_params, g)
    for k in params:
        np.testing.assert_array_equal(resumed_params[k], params[k])


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_float32_parameters_keep_their_dtype(name):
    rng = np.random.default_rng(6)
    params = _params(rng, 5, 4, dtype=np.float32)
    opt = MAKERS[name]()
    opt.step(params, {"E": RowGrad(np.array([1, 3]), rng.standard_normal((2, 4)), 5),
                      "b": rng.standard_normal(5).astype(np.float32),
                      "W": rng.standard_normal((4, 2)).astype(np.float32)})
    assert all(p.dtype == np.float32 for p in params.values())
    assert all(s.dtype == np.float32 for s in opt.state.values())


def test_none_or_missing_gradient_means_no_update():
    rng = np.random.default_rng(7)
    params = _params(rng, 4, 2)
    before = _copy(params)
    Adam().step(params, {"E": None, "W": rng.standard_normal((2, 2))})
    np.testing.assert_array_equal(params["E"], before["E"])
    np.testing.assert_array_equal(params["b"], before["b"])
    assert not np.array_equal(params["W"], before["W"])


@pytest.mark.parametrize("make,option", [
    (lambda: SGD(0.0), "lr"), (lambda: SGD(-1.0), "lr"), (lambda: SGD(0.1, 1.0), "momentum"),
    (lambda: SGD(float("nan")), "lr"), (lambda: Adagrad(0.1, momentum=-0.1), "momentum"),
    (lambda: Adagrad(0.1, eps=0.0), "eps"), (lambda: Adam(beta1=1.0), "beta1"),
    (lambda: Adam(beta2=-0.5), "beta2"), (lambda: Adam(eps=-1e-8), "eps"),
])
def test_bad_hyperparameters_raise_config_error(make, option):
    with pytest.raises(ConfigError, match=option):
        make()


def test_bad_state_raises_checkpoint_error():
    opt = Adam()
    with pytest.raises(CheckpointError, match="acc/E"):
        opt.load_state_dict({"t": np.array(1), "acc/E": np.zeros((2, 2))})
    with pytest.raises(CheckpointError, match="'t'"):
        opt.load_state_dict({"m/E": np.zeros((2, 2))})
    opt.load_state_dict({"t": np.array(1), "m/E": np.zeros((3, 2)), "v/E": np.zeros((3, 2))})
    with pytest.raises(CheckpointError, match="m/E"):
        opt.step({"E": np.zeros((2, 2))}, {"E": np.ones((2, 2))})


def test_gradient_shape_must_match():
    with pytest.raises(ValueError, match="shape"):
        SGD(0.1).step({"E": np.zeros((3, 2))}, {"E": RowGrad(np.array([0]), np.ones((1, 2)), 4)})
