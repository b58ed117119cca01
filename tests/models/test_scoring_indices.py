"""The scoring API refuses positions NumPy would wrap or truncate (a silently wrong score)."""

from __future__ import annotations

import numpy as np
import pytest

from nprec.cli import main
from nprec.errors import DataError, UnknownIdError
from nprec.experiment import load_trained

MODELS = ["mf", "gmf", "mlp", "neumf", "biasedmf", "autorec", "cdae", "multdae", "multvae",
          "ease", "itemknn", "pop"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = {}
    for model in MODELS:
        path = tmp_path_factory.mktemp("runs") / model
        assert main(["train", model, "--out", str(path), "--epochs", "1", "--quiet",
                     "--protocol", "rating-holdout" if model in ("biasedmf", "autorec")
                     else "loo-full", "--set", "synthetic_users=60",
                     "--set", "synthetic_items=40"]) == 0
        _, m, ckpt = load_trained(path)
        out[model] = (m, ckpt.arrays["user_ids"].size, ckpt.arrays["item_ids"].size)
    return out


def _calls(model, U, V):
    """(method name, call with users and items) of every index-taking scoring method."""
    calls = []
    if hasattr(model, "score_all"):
        calls.append(("score_all", lambda u, i: model.score_all(u)))
    if hasattr(model, "score_items"):
        calls.append(("score_items", lambda u, i: model.score_items(u, i[None, :])))
    if hasattr(model, "predict"):
        calls.append(("predict", lambda u, i: model.predict(u, i)))
    return calls


@pytest.mark.parametrize("name", MODELS)
def test_out_of_range_and_float_positions_are_errors(trained, name):
    model, U, V = trained[name]
    calls = _calls(model, U, V)
    assert calls
    for method, call in calls:
        assert np.all(np.isfinite(call(np.array([0]), np.array([0])))), method
        bad_users = [np.array([-1]), np.array([U])] if name != "pop" else []
        for users in bad_users:                                  # popularity ignores users
            with pytest.raises(UnknownIdError, match="users: position .* is outside"):
                call(users, np.array([0]))
        if method != "score_all":
            for items in (np.array([-1]), np.array([V])):
                with pytest.raises(UnknownIdError, match="items: position .* is outside"):
                    call(np.array([0]), items)
        if name != "pop":
            with pytest.raises(DataError, match="must be integers"):
                call(np.array([0.5]), np.array([0]))


@pytest.mark.parametrize("name", ["gru4rec", "narm"])
def test_a_session_of_float_positions_is_an_error(tmp_path, name):
    path = tmp_path / name
    assert main(["train", name, "--out", str(path), "--epochs", "1", "--quiet",
                 "--set", "synthetic_users=60", "--set", "synthetic_items=40"]) == 0
    _, model, _ = load_trained(path)
    assert np.all(np.isfinite(model.score_session(np.array([3, 1]))))
    with pytest.raises(DataError, match="score_session items must be integers"):
        model.score_session(np.array([3.0, 1.5]))
