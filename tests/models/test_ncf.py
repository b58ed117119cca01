"""NCF (GMF, MLP, NeuMF): whole-model gradient checks, pre-training, sampling and scoring."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nprec.config import DataSettings, EvalSettings, Settings, TrainSettings
from nprec.data.synthetic import synthetic_interactions
from nprec.errors import CheckpointError, ConfigError
from nprec.models import gmf, mlp, ncf, neumf
from nprec.testing import check_directional
from nprec.testing.strategies import seeds

LAYERS = st.sampled_from([[4, 3], [6, 4, 2], [8, 5, 3, 2]])


def _data(seed: int):
    return synthetic_interactions(12, 15, factors=2, mean_items=4, min_items=2, seed=seed)


def _perturb(model, rng: np.random.Generator, scale: float = 0.5) -> None:
    """Move every parameter off its init (biases and tiny embeddings would hide paths)."""
    for p in model.params.values():
        p += scale * rng.standard_normal(p.shape)


def _batch(model, data, rng: np.random.Generator, size: int):
    users, items, labels = next(iter(model.batches(data, rng)))
    return users[:size], items[:size], labels[:size]


def _min_preactivation(model, cache) -> float:
    """The smallest |pre-activation| of the ReLU tower (finite differences need no kinks)."""
    values = [np.abs(c.x @ c.W + model.params[f"b_{k}"]).min()
              for k, c in enumerate(cache.tower.dense, start=1)]
    return float(min(values))


def _gmf(seed: int, factors: int, negatives: int = 2):
    rng = np.random.default_rng(seed)
    data = _data(seed)
    config = gmf.Config(factors=factors, negatives=negatives, batch_size=16)
    return gmf.Model(config, data.n_users, data.n_items, rng=rng, dtype=np.float64), data, rng


def _mlp(seed: int, layers: list[int]):
    rng = np.random.default_rng(seed)
    data = _data(seed)
    config = mlp.Config(layers=layers, negatives=2, batch_size=16)
    return mlp.Model(config, data.n_users, data.n_items, rng=rng, dtype=np.float64), data, rng


def _neumf(seed: int, factors: int, layers: list[int], **options):
    rng = np.random.default_rng(seed)
    data = _data(seed)
    config = neumf.Config(factors=factors, layers=layers, negatives=2, batch_size=16, **options)
    model = neumf.Model(config, data.n_users, data.n_items, rng=rng, dtype=np.float64)
    return model, data, rng


# -- gradients ---------------------------------------------------------------------------------

@settings(max_examples=15)
@given(seeds, st.integers(1, 4), st.integers(1, 16))
def test_gmf_gradients_match_finite_differences(seed, factors, size):
    model, data, rng = _gmf(seed, factors)
    _perturb(model, rng)
    check_directional(model, _batch(model, data, rng, size), rng)


@settings(max_examples=15)
@given(seeds, LAYERS, st.integers(1, 16))
def test_mlp_gradients_match_finite_differences(seed, layers, size):
    model, data, rng = _mlp(seed, layers)
    _perturb(model, rng)
    batch = _batch(model, data, rng, size)
    assume(_min_preactivation(model, model.forward(batch)[1]) > 1e-4)
    check_directional(model, batch, rng)


@settings(max_examples=15)
@given(seeds, st.integers(1, 4), LAYERS, st.integers(1, 16))
def test_neumf_gradients_match_finite_differences(seed, factors, layers, size):
    model, data, rng = _neumf(seed, factors, layers)
    _perturb(model, rng)
    batch = _batch(model, data, rng, size)
    assume(_min_preactivation(model, model.forward(batch)[1]) > 1e-4)
    check_directional(model, batch, rng)


def _pretrained(seed: int, factors: int, layers: list[int], alpha: float):
    """A NeuMF model loaded from a perturbed GMF and MLP of the same shapes."""
    g, data, rng = _gmf(seed, factors)
    m, _, _ = _mlp(seed + 1, layers)
    _perturb(g, rng)
    _perturb(m, rng)
    model, _, _ = _neumf(seed + 2, factors, layers, pretrain=True, alpha=alpha)
    model.load_pretrained({"gmf": g.params, "mlp": m.params})
    return model, g, m, data, rng


@settings(max_examples=15)
@given(seeds, st.integers(1, 4), LAYERS, st.sampled_from([0.5, 0.2]), st.integers(1, 16))
def test_pretrained_neumf_gradients_match_finite_differences(seed, factors, layers, alpha,
                                                             size):
    model, _, _, data, rng = _pretrained(seed, factors, layers, alpha)
    batch = _batch(model, data, rng, size)
    assume(_min_preactivation(model, model.forward(batch)[1]) > 1e-4)
    check_directional(model, batch, rng)


# -- pre-training ------------------------------------------------------------------------------

@settings(max_examples=10)
@given(seeds, st.integers(1, 4), LAYERS, st.sampled_from([0.5, 0.3]))
def test_pretraining_copies_the_weights_and_fuses_the_output_layer(seed, factors, layers,
                                                                   alpha):
    model, g, m, data, rng = _pretrained(seed, factors, layers, alpha)
    prm = model.params
    for table in ("P", "Q"):
        np.testing.assert_array_equal(prm[table][:, :factors], g.params[table])
        np.testing.assert_array_equal(prm[table][:, factors:], m.params[table])
    for k in range(1, len(layers)):
        for name in (f"W_{k}", f"b_{k}"):
            np.testing.assert_array_equal(prm[name], m.params[name])
            assert not np.shares_memory(prm[name], m.params[name])     # copies
    np.testing.assert_allclose(prm["h"][:factors], alpha * g.params["h"])
    np.testing.assert_allclose(prm["h"][factors:], (1 - alpha) * m.params["h"])
    np.testing.assert_allclose(prm["b"], alpha * g.params["b"] + (1 - alpha) * m.params["b"])
    # So the fused model starts as the alpha-blend of the two models' logits.
    users = np.arange(data.n_users)
    items = rng.integers(0, data.n_items, size=(users.size, 5))
    np.testing.assert_allclose(model.score_items(users, items),
                               alpha * g.score_items(users, items)
                               + (1 - alpha) * m.score_items(users, items), atol=1e-12)


def test_pretraining_refuses_weights_of_another_shape():
    model, _, _ = _neumf(0, 3, [6, 4, 2], pretrain=True)
    g, _, _ = _gmf(0, 4)
    m, _, _ = _mlp(1, [6, 4, 2])
    with pytest.raises(CheckpointError, match="gmf P"):
        model.load_pretrained({"gmf": g.params, "mlp": m.params})
    g, _, _ = _gmf(0, 3)
    m, _, _ = _mlp(1, [8, 4, 2])                  # same total width 3 + 4, other split
    with pytest.raises(CheckpointError, match="mlp P"):
        model.load_pretrained({"gmf": g.params, "mlp": m.params})


def _settings(config) -> Settings:
    return Settings("neumf", config, DataSettings(), TrainSettings(epochs=3, seed=7),
                    EvalSettings(protocol="ncf-loo99"))


def test_pretrain_stages_train_gmf_and_mlp_with_the_runs_options():
    config = neumf.Config(factors=16, pretrain=True, negatives=3, learning_rate=0.01)
    stages = dict(neumf.pretrain_stages(_settings(config)))
    assert list(stages) == ["gmf", "mlp"]
    assert stages["gmf"].model == gmf.Config(factors=16, negatives=3, learning_rate=0.01)
    assert stages["mlp"].model == mlp.Config(layers=[128, 64, 32, 16], negatives=3,
                                             learning_rate=0.01)
    for stage in stages.values():
        assert stage.train.epochs == 3 and stage.train.seed == 7
        assert stage.eval.protocol == "ncf-loo99"
    assert neumf.pretrain_stages(_settings(neumf.Config())) == []
    own = dict(neumf.pretrain_stages(_settings(dataclasses.replace(config, gmf_epochs=5,
                                                                    mlp_epochs=9))))
    assert own["gmf"].train.epochs == 5 and own["mlp"].train.epochs == 9
    refit = _settings(config)
    refit.train = TrainSettings(refit=True)
    with pytest.raises(ConfigError, match="train.refit"):
        neumf.pretrain_stages(refit)


def test_sgd_follows_pretraining_and_adam_trains_from_scratch():
    assert neumf.Config().optimizer_settings() == ("adam", 1e-3, 0.0)
    assert neumf.Config(pretrain=True).optimizer_settings() == ("sgd", 1e-3, 0.0)
    assert neumf.Config(pretrain=True, finetune_learning_rate=0.1).optimizer_settings() \
        == ("sgd", 0.1, 0.0)


# -- configuration -----------------------------------------------------------------------------

def test_factors_alone_build_the_official_tower_scaled():
    assert mlp.Config().tower() == [64, 32, 16, 8]
    assert mlp.Config(factors=32).tower() == [256, 128, 64, 32]
    assert mlp.Config(layers=[128, 64, 32, 16]).tower() == [128, 64, 32, 16]
    assert neumf.Config(factors=32).tower() == [256, 128, 64, 32]
    assert neumf.Config(factors=32, layers=[64, 32, 16, 8]).tower() == [64, 32, 16, 8]


@pytest.mark.parametrize("make, key", [
    (lambda: mlp.Config(layers=[63, 32, 8]), "model.layers"),
    (lambda: mlp.Config(layers=[64]), "model.layers"),
    (lambda: mlp.Config(factors=16, layers=[64, 32, 8]), "model.factors"),
    (lambda: neumf.Config(alpha=1.5), "model.alpha"),
    (lambda: neumf.Config(finetune_optimizer="rmsprop"), "model.finetune_optimizer"),
    (lambda: gmf.Config(factors=0), "model.factors"),
    (lambda: gmf.Config(negatives=0), "model.negatives"),
])
def test_bad_options_are_config_errors_naming_the_option(make, key):
    with pytest.raises(ConfigError, match=key):
        make()


# -- sampling ----------------------------------------------------------------------------------

def test_an_epoch_holds_every_pair_and_fresh_negatives_outside_the_users_row():
    data = synthetic_interactions(30, 40, mean_items=6, seed=4)
    model = gmf.Model(gmf.Config(negatives=3, batch_size=50), data.n_users, data.n_items,
                      rng=np.random.default_rng(0))
    epoch = model.batches(data, np.random.default_rng(2))
    assert len(epoch) == -(-4 * data.nnz // 50)
    users, items, labels = (np.concatenate(a) for a in zip(*epoch, strict=True))
    assert users.size == 4 * data.nnz and labels.sum() == data.nnz
    assert labels.dtype == np.float32
    X = data.to_csr().toarray().astype(bool)
    assert np.array_equal(X[users, items], labels == 1)
    positives = np.flatnonzero(labels == 1)
    assert np.array_equal(np.sort(users[positives] * 40 + items[positives]),
                          np.sort(data.entry_users() * 40 + data.indices))
    again = np.concatenate([b[1] for b in model.batches(data, np.random.default_rng(2))])
    other = np.concatenate([b[1] for b in model.batches(data, np.random.default_rng(3))])
    assert np.array_equal(again, items) and not np.array_equal(other, items)


# -- scoring -----------------------------------------------------------------------------------

MODELS = [lambda: _gmf(0, 3)[0], lambda: _mlp(1, [6, 4, 2])[0],
          lambda: _neumf(2, 3, [8, 5, 3, 2])[0]]


@pytest.mark.parametrize("make", MODELS)
def test_scores_are_the_training_logits_for_candidates_and_for_all_items(make):
    model = make()
    rng = np.random.default_rng(5)
    _perturb(model, rng)
    users = np.array([0, 3, 3, 11])
    items = rng.integers(0, model.n_items, size=(4, 6))
    scores = model.score_items(users, items)
    labels = rng.integers(0, 2, 24).astype(np.float64)
    loss, _ = model.forward((np.repeat(users, 6), items.ravel(), labels))
    s = scores.ravel()
    np.testing.assert_allclose(loss, np.mean(np.logaddexp(0, s) - labels * s), rtol=1e-12)
    np.testing.assert_allclose(np.take_along_axis(model.score_all(users), items, axis=1),
                               scores, atol=1e-12)


@pytest.mark.parametrize("make", MODELS[1:])
def test_blocked_tower_scoring_equals_one_block(make, monkeypatch):
    model = make()
    _perturb(model, np.random.default_rng(6))
    users = np.arange(model.n_users)
    whole = model.score_all(users)
    monkeypatch.setattr(ncf, "SCORE_BLOCK", 7)
    np.testing.assert_array_equal(model.score_all(users), whole)


def test_float32_models_train_and_score_in_float32():
    data = _data(0)
    for module in (gmf, mlp, neumf):
        model = module.Model(module.Config(batch_size=8), data.n_users, data.n_items,
                             rng=np.random.default_rng(0))
        batch = next(iter(model.batches(data, np.random.default_rng(1))))
        loss, cache = model.forward(batch)
        grads = model.backward(cache)
        assert loss.dtype == np.float32
        assert all(g.dtype == np.float32 for g in grads.values())
        assert model.score_all(np.arange(3)).dtype == np.float32
        assert set(grads) == set(model.params)


def test_the_official_initialisation():
    model, _, _ = _neumf(0, 8, [64, 32, 16, 8])
    big = neumf.Model(neumf.Config(), 3000, 2000, rng=np.random.default_rng(0))
    assert big.params["P"].shape == (3000, 8 + 32)
    assert abs(big.params["P"].std() - 0.01) < 5e-4
    assert abs(big.params["Q"].mean()) < 5e-4
    bound = np.sqrt(6 / (64 + 32))
    assert np.abs(big.params["W_1"]).max() <= bound and np.abs(big.params["W_1"]).max() > 0.9 \
        * bound
    assert big.params["h"].shape == (16,)
    assert np.abs(big.params["h"]).max() <= np.sqrt(3 / 16)
    assert not big.params["b"].any() and not big.params["b_1"].any()
    assert dataclasses.asdict(model.config)["alpha"] == 0.5
