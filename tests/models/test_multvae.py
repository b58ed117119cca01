"""Mult-DAE and Mult-VAE: whole-model gradients, the dense formula they restate, β on the
global update counter (across epochs and across a resumed run), fold-in scoring and the
recommend / similar commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec import commands
from nprec.checkpoint import load_checkpoint
from nprec.cli import main
from nprec.data.synthetic import synthetic_interactions
from nprec.models import multdae, multvae
from nprec.models.multdae import DaeBatch
from nprec.models.multvae import VaeBatch
from nprec.optim import Adam
from nprec.testing import check_directional
from nprec.testing.strategies import seeds
from nprec.train import fit


def _data(seed: int, users: int = 9, items: int = 8):
    """Small implicit data; user 0's row is emptied (a user with nothing to read)."""
    data = synthetic_interactions(users, items, mean_items=3, min_items=1, seed=seed)
    return data.select_entries(data.entry_users() != 0)


def _batch(model, data, users, rng, keep_prob):
    X = data.select_users(users).to_csr(dtype=np.float64)               # (B, V)
    keep = (rng.random(X.nnz) < keep_prob) / keep_prob                  # (nnz,) 0 or 1/keep
    if isinstance(model, multvae.Model):
        eps = rng.standard_normal((users.size, model.latent))           # (B, L)
        return VaeBatch(users, X, keep, eps, float(rng.uniform(0.0, 1.0)))
    return DaeBatch(users, X, keep)


@settings(max_examples=25)
@given(seed=seeds, vae=st.booleans(), deep=st.booleans(), lam=st.sampled_from([0.0, 0.3]),
       keep_prob=st.sampled_from([1.0, 0.5]), batch=st.sampled_from([1, 4, 9]))
def test_gradients_match_finite_differences(seed, vae, deep, lam, keep_prob, batch):
    rng = np.random.default_rng(seed)
    data = _data(seed)
    p_dims = [3, 4] if deep else [3]
    module = multvae if vae else multdae
    model = module.Model(module.Config(p_dims=p_dims, lam=lam), data.n_users, data.n_items,
                         rng=rng, dtype=np.float64)
    for p in model.params.values():            # biases away from 0, so their paths count
        p += 0.1 * rng.standard_normal(p.shape)
    users = rng.choice(data.n_users, size=batch, replace=False)         # user 0 may be in
    check_directional(model, _batch(model, data, users, rng, keep_prob), rng)


def test_mult_dae_loss_is_the_dense_formula():
    rng = np.random.default_rng(3)
    data = _data(3)
    model = multdae.Model(multdae.Config(lam=0.25), data.n_users, data.n_items, rng=rng,
                          dtype=np.float64)
    users = np.arange(1, 6)
    batch = _batch(model, data, users, rng, 0.5)
    X = batch.X.toarray()                                               # (B, V)
    mask = np.zeros_like(X)
    mask[X != 0] = batch.keep                   # CSR order is row-major, as np.nonzero
    x = X / np.linalg.norm(X, axis=1, keepdims=True) * mask
    P = model.params
    logits = np.tanh(x @ P["W_0"] + P["b_0"]) @ P["W_1"] + P["b_1"]
    log_pi = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -np.mean(np.sum(X * log_pi, axis=1)) \
        + 0.25 * (np.sum(P["W_0"] ** 2) + np.sum(P["W_1"] ** 2))
    assert float(model.forward(batch)[0]) == pytest.approx(expected, rel=1e-12)


def test_mult_vae_layers_follow_the_paper():
    model = multvae.Model(multvae.Config(), 10, 3000, rng=np.random.default_rng(0))
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {"W_q0": (3000, 600), "b_q0": (600,), "W_q1": (600, 400), "b_q1": (400,),
                      "W_p0": (200, 600), "b_p0": (600,), "W_p1": (600, 3000),
                      "b_p1": (3000,)}
    assert all(v.dtype == np.float32 for v in model.params.values())
    limit = np.sqrt(6 / (3000 + 600))                                   # Xavier uniform
    assert np.abs(model.params["W_q0"]).max() <= limit < 1.01 * np.abs(model.params["W_q0"]).max()
    assert np.abs(model.params["b_p1"]).max() <= 0.002                 # truncated at 2σ
    dae = multdae.Model(multdae.Config(), 10, 3000, rng=np.random.default_rng(0))
    assert [v.shape for v in dae.params.values()] == [(3000, 200), (200,), (200, 3000), (3000,)]


def _record_betas(model):
    """Wrap the model's forward so every training batch's β is recorded."""
    betas = []
    forward = model.forward

    def recording(batch):
        betas.append(batch.beta)
        return forward(batch)

    model.forward = recording
    return betas


def test_beta_follows_the_global_update_counter_across_epochs():
    data = synthetic_interactions(50, 30, mean_items=5, seed=1)
    cfg = multvae.Config(p_dims=[4, 8], batch_size=20, anneal_cap=0.5, total_anneal_steps=7)
    model = multvae.Model(cfg, data.n_users, data.n_items, rng=np.random.default_rng(0))
    betas = _record_betas(model)
    fit(model, Adam(1e-3), lambda rng: model.batches(data, rng), epochs=3, seed=0)
    assert len(betas) == 9                                              # 3 batches x 3 epochs
    np.testing.assert_allclose(betas, [min(0.5, k / 7) for k in range(9)])
    assert model.state_arrays()["update_count"][0] == 9
    constant = multvae.Model(multvae.Config(total_anneal_steps=0, anneal_cap=0.3), 5, 5,
                             rng=np.random.default_rng(0))
    assert constant.beta() == 0.3


SMALL = ["--set", "synthetic_users=200", "--set", "synthetic_items=60", "--set", "p_dims=4,8",
         "--set", "batch_size=50", "--set", "total_anneal_steps=6", "--set", "anneal_cap=1",
         "--set", "learning_rate=0.01", "--quiet"]


def test_a_resumed_run_continues_the_annealing_where_it_stopped(tmp_path, monkeypatch):
    full_dir = tmp_path / "full"
    assert main(["train", "multvae", "--epochs", "4", "--out", str(full_dir), *SMALL]) == 0
    full = json.loads((full_dir / "results.json").read_text())
    steps = sum(h["steps"] for h in full["history"])
    assert load_checkpoint(full_dir / "last.npz").arrays["state/update_count"][0] == steps

    def interrupt_in_epoch_3(line: str) -> None:
        if line.startswith("epoch   2"):             # epoch 2 is saved, epoch 3 begins
            raise KeyboardInterrupt

    cut = tmp_path / "cut"
    monkeypatch.setattr(commands, "_log", interrupt_in_epoch_3)
    assert main(["train", "multvae", "--epochs", "4", "--out", str(cut),
                 *[a for a in SMALL if a != "--quiet"]]) == 130
    saved = load_checkpoint(cut / "last.npz")
    assert saved.meta["fit_state"]["epoch"] == 2
    assert saved.arrays["state/update_count"][0] == sum(h["steps"] for h in full["history"][:2])
    monkeypatch.undo()
    assert main(["train", "--resume", str(cut), "--quiet"]) == 0
    resumed = json.loads((cut / "results.json").read_text())
    # β depends on the counter: a counter restarted at 0 would change epochs 3 and 4.
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full["history"]]
    assert resumed["test"] == full["test"]


def test_fold_in_scores_are_deterministic_and_use_the_training_rows():
    data = synthetic_interactions(40, 25, mean_items=5, seed=2)
    for module in (multdae, multvae):
        model = module.Model(module.Config(p_dims=[4]), data.n_users, data.n_items,
                             rng=np.random.default_rng(1))
        list(model.batches(data, np.random.default_rng(0)))             # sees the training rows
        users = np.array([3, 0, 3])
        rows = data.select_users(users).to_csr()
        np.testing.assert_array_equal(model.score_all(users), model.score_fold_in(rows))
        np.testing.assert_array_equal(model.score_fold_in(rows), model.score_fold_in(rows))
        items = np.array([[0, 5], [1, 1], [24, 2]])
        np.testing.assert_array_equal(model.score_items(users, items),
                                      np.take_along_axis(model.score_all(users), items, 1))
        fresh = module.Model(module.Config(p_dims=[4]), data.n_users, data.n_items,
                             rng=np.random.default_rng(1))
        fresh.load_state_arrays(model.state_arrays())
        np.testing.assert_array_equal(fresh.score_all(users), model.score_all(users))
        assert model.item_vectors().shape == (data.n_items, 4)
        empty = model.score_fold_in(sp.csr_array((1, data.n_items)))    # nothing folded in
        assert np.all(np.isfinite(empty))


def test_mult_vae_scores_with_the_posterior_mean():
    data = synthetic_interactions(30, 20, mean_items=4, seed=5)
    model = multvae.Model(multvae.Config(p_dims=[3, 5]), data.n_users, data.n_items,
                          rng=np.random.default_rng(0))
    X = data.select_users(np.arange(4)).to_csr()
    mu, logvar = model.encode(X)
    assert mu.shape == logvar.shape == (4, 3)
    P = model.params
    expected = np.tanh(mu @ P["W_p0"] + P["b_p0"]) @ P["W_p1"] + P["b_p1"]
    np.testing.assert_allclose(model.score_fold_in(X), expected, rtol=1e-5, atol=1e-6)


def test_recommend_for_new_items_and_similar_items(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "multvae", "--epochs", "2", "--out", str(run), *SMALL]) == 0
    capsys.readouterr()
    assert main(["recommend", str(run), "--items", "1,2,3", "-k", "5"]) == 0
    table = capsys.readouterr().out.splitlines()
    listed = [line.split()[1] for line in table if line.split()[:1] and line.split()[0].isdigit()]
    assert len(listed) == 5 and not {"1", "2", "3"} & set(listed)
    assert main(["recommend", str(run), "--user", "5", "-k", "3"]) == 0
    capsys.readouterr()
    assert main(["similar", str(run), "--item", "7", "-k", "4"]) == 0
    assert "cosine" in capsys.readouterr().out
