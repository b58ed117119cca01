"""The Python API refuses bad input with a named error instead of a wrong result or a traceback
from deep inside: wrong shapes, float or negative positions, NaN options, foreign containers."""

from __future__ import annotations

import numpy as np
import pytest

from nprec.data import (
    Interactions,
    Sessions,
    binarize,
    dedupe_consecutive,
    filter_sessions,
    k_core,
    leave_one_out,
    read_interactions,
    session_time_split,
    strong_generalization,
    synthetic_interactions,
    synthetic_sessions,
    time_split,
)
from nprec.errors import DataError, UnknownIdError
from nprec.models import (
    autorec,
    biased_mf,
    cdae,
    gmf,
    mf,
    mlp,
    multdae,
    multvae,
    neumf,
)
from nprec.models.baselines import EASE, ItemKNN, Popularity

U, V = 40, 30
DATA = synthetic_interactions(U, V, seed=1)
SESSIONS = synthetic_sessions(200, 100, seed=0)


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _ratings() -> Interactions:
    users, items = DATA.entry_users(), DATA.indices
    return Interactions.from_indices(users, items, U, V,
                                     ratings=1.0 + (users + items) % 5)


FACTORIES = {
    "mf": lambda: mf.Model(mf.Config(factors=4), U, V, rng=_rng()),
    "gmf": lambda: gmf.Model(gmf.Config(factors=4), U, V, rng=_rng()),
    "mlp": lambda: mlp.Model(mlp.Config(factors=4), U, V, rng=_rng()),
    "neumf": lambda: neumf.Model(neumf.Config(factors=4), U, V, rng=_rng()),
    "cdae": lambda: cdae.Model(cdae.Config(), U, V, rng=_rng()),
    "multdae": lambda: multdae.Model(multdae.Config(), U, V, rng=_rng()),
    "multvae": lambda: multvae.Model(multvae.Config(), U, V, rng=_rng()),
    "autorec": lambda: autorec.Model(autorec.Config(), U, V, rng=_rng()),
    "biasedmf": lambda: biased_mf.Model(biased_mf.Config(), U, V, rng=_rng()),
}


def _trained(name: str):
    """A model with its training rows (autoencoders keep them), or a fitted baseline."""
    if name == "ease":
        return EASE(10.0).fit(DATA)
    if name == "itemknn":
        return ItemKNN(k=5).fit(DATA)
    if name == "pop":
        return Popularity().fit(DATA)
    model = FACTORIES[name]()
    model.batches(_ratings() if name in ("autorec", "biasedmf") else DATA, _rng())
    return model


# -- data containers, splits, preprocessing -----------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: Interactions.from_indices(np.array([0.5, 0]), np.array([0, 1]), 3, 3), DataError,
     "Interactions: users must be integers, got float64"),
    (lambda: Interactions.from_indices(np.array([0, 1]), np.array([0, 1]), 3, 3,
                                       ratings=np.array([1.0])), DataError,
     r"Interactions: ratings has shape \(1,\), expected \(2,\)"),
    (lambda: Interactions(np.array([0, 2]), np.array([0.0, 1.9]), 3), DataError,
     "Interactions: indices must be integers"),
    (lambda: Sessions.from_lists([[1.5, 2]], n_items=5), DataError,
     "Sessions.from_lists: items must be integers"),
    (lambda: DATA.row(-1), UnknownIdError, r"Interactions.row: u: position -1 is outside"),
    (lambda: DATA.row(U), UnknownIdError, rf"Interactions.row: u: position {U} is outside"),
    (lambda: DATA.row(1.0), DataError, "Interactions.row: u: expected an integer position"),
    (lambda: SESSIONS.session(-1), UnknownIdError, "Sessions.session: s: position -1"),
    (lambda: DATA.select_users(np.array([-1])), UnknownIdError,
     "select_users: users: position -1 is outside"),
    (lambda: DATA.select_users(np.array([0.5])), DataError,
     "select_users: users must be integers"),
    (lambda: DATA.select_users(np.ones(U, dtype=bool)), DataError,
     "select_users: users must be integers, got bool"),
    (lambda: SESSIONS.select(np.array([-1])), UnknownIdError, "select: sessions: position -1"),
    (lambda: DATA.select_entries(np.arange(DATA.nnz)), DataError,
     "select_entries: keep must be a boolean mask"),
    (lambda: SESSIONS.select_events(np.ones(3, dtype=bool)), DataError,
     r"select_events: keep has shape \(3,\)"),
])
def test_container_positions(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: time_split(DATA, cut=float("nan")), "time_split: cut must be a finite time"),
    (lambda: time_split(DATA, cut=float("inf")), "time_split: cut must be a finite time"),
    (lambda: session_time_split(SESSIONS, days=-1), "session_time_split: days must be a "
                                                    "positive number"),
    (lambda: session_time_split(SESSIONS, days=float("nan")), "session_time_split: days must"),
    (lambda: strong_generalization(DATA, float("nan")), "strong_generalization: n_heldout"),
    (lambda: strong_generalization(DATA, 1.5), "strong_generalization: n_heldout"),
    (lambda: leave_one_out(SESSIONS), "leave_one_out: data must be Interactions, got Sessions"),
    (lambda: session_time_split(DATA, days=1), "session_time_split: sessions must be Sessions"),
    (lambda: binarize(_ratings(), float("nan")), "binarize: min_rating must be a finite"),
    (lambda: k_core(DATA, 2.5), "k_core: k must be a whole number"),
    (lambda: k_core(DATA, min_user=-1), "k_core: min_user must be a whole number"),
    (lambda: filter_sessions(SESSIONS, min_support=2.5), "filter_sessions: min_support must"),
    (lambda: dedupe_consecutive(DATA), "dedupe_consecutive: sessions must be Sessions"),
])
def test_split_and_preprocessing_arguments(call, message):
    with pytest.raises(DataError, match=message):
        call()


def test_reader_results_are_unchanged_by_the_checks(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text("1\t10\t4\t100\n1\t11\t5\t101\n2\t10\t3\t102\n")
    data, _ = read_interactions(path)
    assert data.shape == (2, 2) and data.row(0).tolist() == [0, 1]
    assert data.select_users(np.array([1])).row(0).tolist() == [0]
