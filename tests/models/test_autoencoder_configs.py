"""The shipped autoencoder and rating-model configs resolve to valid settings, and the ML-1M
ones describe one and the same strong-generalisation split."""

from __future__ import annotations

from pathlib import Path

import pytest

from nprec.experiment import resolve_settings

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ML1M = ["multvae_ml1m.toml", "multdae_ml1m.toml", "cdae_ml1m.toml", "ease_ml1m_strong.toml"]
ML100K = ["autorec_ml100k.toml", "biasedmf_ml100k.toml"]


@pytest.mark.parametrize("name", ML1M + ML100K)
def test_config_resolves(name):
    model = name.split("_")[0]
    settings = resolve_settings(model, config_file=str(CONFIGS / name))
    assert settings.model_name == model


@pytest.mark.parametrize("group", [ML1M, ML100K])
def test_compared_models_share_the_data_settings(group):
    settings = [resolve_settings(n.split("_")[0], config_file=str(CONFIGS / n)) for n in group]
    first = settings[0]
    for s in settings[1:]:
        assert s.data == first.data and s.train.seed == first.train.seed
        assert s.eval.protocol == first.eval.protocol and s.eval.k == first.eval.k
