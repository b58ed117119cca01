"""The Python API refuses bad input with a named error instead of a wrong result or a traceback
from deep inside: wrong shapes, float or negative positions, NaN options, foreign containers."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp

from nprec.data import (
    Interactions,
    Sessions,
    binarize,
    dedupe_consecutive,
    describe,
    filter_sessions,
    k_core,
    leave_one_out,
    ratio_split,
    read_interactions,
    session_time_split,
    strong_generalization,
    synthetic_interactions,
    synthetic_sessions,
    time_split,
)
from nprec.errors import ConfigError, DataError, TrainingError, UnknownIdError
from nprec.layers import embedding_backward, embedding_forward
from nprec.layers.rowgrad import RowGrad
from nprec.metrics import (
    RankingEvaluator,
    evaluate_loo_full,
    evaluate_ncf_loo99,
    evaluate_next_item,
    evaluate_rankings,
    evaluate_strong_generalization,
    per_row_metric,
)
from nprec.models import (
    autorec,
    biased_mf,
    cdae,
    gmf,
    gru4rec,
    mf,
    mlp,
    multdae,
    multvae,
    narm,
    neumf,
)
from nprec.models.baselines import EASE, SKNN, ItemKNN, Popularity
from nprec.optim import Adam
from nprec.samplers import (
    SampleCache,
    SessionParallelBatches,
    bpr_batches,
    negatives_for_users,
    pointwise_batches,
    prefix_batches,
    prefix_samples,
    user_batches,
)
from nprec.testing import GradientCheckError, check_directional, check_grads, numerical_grad
from nprec.train import EpochBatches, fit, init_rng

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


# -- scoring: shapes of users and candidates ----------------------------------------------

RANKERS = ["mf", "gmf", "mlp", "neumf", "multdae", "ease", "itemknn", "pop"]


@pytest.mark.parametrize("name", RANKERS)
@pytest.mark.parametrize("items", [np.zeros((3, 1), dtype=np.int64),      # 3 rows for 2 users
                                   np.array([0, 1]),                      # 1-d
                                   np.zeros((2, 1, 2), dtype=np.int64)],  # 3-d
                         ids=["rows", "1d", "3d"])
def test_score_items_needs_one_row_of_candidates_per_user(name, items):
    model = _trained(name)
    assert model.score_items(np.array([0, 1]), np.array([[0, 2], [1, 3]])).shape == (2, 2)
    with pytest.raises(DataError, match=r"score_items: items must be a \(B, C\) array"):
        model.score_items(np.array([0, 1]), items)


@pytest.mark.parametrize("name", RANKERS + ["cdae"])
def test_score_all_needs_one_dimensional_users(name):
    model = _trained(name)
    with pytest.raises(DataError, match=r"score_all: users must be a \(B,\) array"):
        model.score_all(np.array([[0, 1]]))


@pytest.mark.parametrize("name", ["autorec", "biasedmf"])
def test_predict_needs_users_and_items_of_one_length(name):
    model = _trained(name)
    assert model.predict(np.array([0, 1]), np.array([0, 1])).shape == (2,)
    with pytest.raises(DataError, match=r"predict: items must be a \(B,\) array like users"):
        model.predict(np.array([0, 1]), np.array([0, 1, 2]))


@pytest.mark.parametrize("name", ["multdae", "cdae", "ease", "itemknn"])
def test_fold_in_rows_with_a_negative_entry_are_refused(name):
    model = _trained(name)
    X = np.zeros((1, V))
    X[0, :3] = [1.0, -1.0, 1.0]
    with pytest.raises(DataError, match="score_fold_in: X holds a negative entry"):
        model.score_fold_in(X)


@pytest.mark.parametrize("name", ["multdae", "cdae"])
def test_scoring_an_autoencoder_before_training_is_a_config_error(name):
    with pytest.raises(ConfigError, match="no training rows yet"):
        FACTORIES[name]().score_all(np.array([0]))


def test_autorec_predict_before_training_is_a_config_error():
    with pytest.raises(ConfigError, match="predict needs the training ratings"):
        FACTORIES["autorec"]().predict(np.array([0]), np.array([0]))


# -- training data of another size or kind ------------------------------------------------

@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_batches_refuse_training_data_larger_than_the_model(name):
    model = FACTORIES[name]()
    bigger = synthetic_interactions(U + 10, V + 5, seed=2)
    with pytest.raises(DataError, match=rf"batches: train has {U + 10} users x {V + 5} items, "
                                        rf"the model {U} x {V}"):
        model.batches(bigger, _rng())


@pytest.mark.parametrize("name", ["mf", "multdae"])
def test_batches_refuse_sessions_for_a_user_item_model(name):
    with pytest.raises(DataError, match="batches: train must be Interactions, got Sessions"):
        FACTORIES[name]().batches(SESSIONS, _rng())


@pytest.mark.parametrize("fit_call, message", [
    (lambda: Popularity().fit([1, 2]), "Popularity: fit: train must be Interactions or Sessions"),
    (lambda: EASE().fit(SESSIONS), "EASE: fit: train must be Interactions, got Sessions"),
    (lambda: ItemKNN().fit(np.eye(3)), "ItemKNN: fit: train must be Interactions or Sessions"),
    (lambda: SKNN().fit(DATA), "SKNN: fit: train must be Sessions, got Interactions"),
])
def test_baselines_refuse_a_container_of_another_kind(fit_call, message):
    with pytest.raises(DataError, match=message):
        fit_call()


def test_itemknn_scoring_before_fit_is_a_config_error():
    with pytest.raises(ConfigError, match="ItemKNN: call fit"):
        ItemKNN().score_items(np.array([0]), np.array([[0]]))


@pytest.mark.parametrize("make, message", [
    (lambda: ItemKNN(shrink=float("nan")), "shrink=nan"),
    (lambda: ItemKNN(k=2.5), "k=2.5"),
    (lambda: SKNN(k=2.5), "model.k: must be >= 1, a whole number, got 2.5"),
    (lambda: SKNN(sample_size=10.5), "model.sample_size: must be >= 0, a whole number"),
])
def test_knn_options_refuse_nan_and_fractions(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


# -- session models ----------------------------------------------------------------------

def _session_models():
    g = gru4rec.Model(gru4rec.Config(layers=[8], batch_size=8, n_sample=0), 0,
                      SESSIONS.n_items, rng=_rng())
    n = narm.Model(narm.Config(hidden_units=8, dim_proj=8), 0, SESSIONS.n_items, rng=_rng())
    return {"gru4rec": g, "narm": n}


@pytest.mark.parametrize("name", ["gru4rec", "narm"])
def test_next_item_scores_refuse_sessions_of_another_vocabulary(name):
    model = _session_models()[name]
    bigger = synthetic_sessions(200, 150, seed=0)
    with pytest.raises(DataError, match="next_item_scores: the sessions have 150 items, the "
                                        "model 100"):
        next(iter(model.next_item_scores(bigger, 8)))


@pytest.mark.parametrize("batch_size", [2.5, 0, True])
@pytest.mark.parametrize("name, prefix", [("gru4rec", "gru4rec"), ("narm", "NARM")])
def test_next_item_scores_need_a_whole_batch_size(name, prefix, batch_size):
    model = _session_models()[name]
    with pytest.raises(ConfigError, match=f"{prefix}: next_item_scores: batch_size must be an "
                                          f"integer >= 1, got {batch_size}"):
        next(iter(model.next_item_scores(SESSIONS, batch_size)))


@pytest.mark.parametrize("call, message", [
    (lambda m: next(iter(m["narm"].next_item_scores([[1, 2]], 8))),
     "NARM: next_item_scores: sessions must be Sessions, got list"),
    (lambda m: m["narm"].batches(DATA, _rng()), "NARM: batches: sessions must be Sessions, got "
                                                "Interactions"),
    (lambda m: next(iter(m["gru4rec"].next_item_scores([[1, 2]], 8))),
     "gru4rec: next_item_scores: sessions must be Sessions, got list"),
    (lambda m: m["gru4rec"].batches(DATA, _rng()), "gru4rec: batches: train must be Sessions"),
])
def test_session_models_refuse_other_containers(call, message):
    with pytest.raises(DataError, match=message):
        call(_session_models())


def test_describe_names_a_container_of_another_kind():
    assert describe(SESSIONS)["kind"] == "sessions"
    with pytest.raises(DataError, match="describe: data must be Interactions or Sessions, got "
                                        "list"):
        describe([1])


def test_narm_batches_refuse_sessions_of_another_vocabulary():
    with pytest.raises(DataError, match="NARM: batches: the sessions have 150 items"):
        _session_models()["narm"].batches(synthetic_sessions(200, 150, seed=0), _rng())


@pytest.mark.parametrize("items, error, message", [
    (np.array([-1, 2]), DataError, r"attention_weights: a session must be 1 to T item indices"),
    (np.array([1.7, 2.2]), DataError, r"attention_weights items must be integers"),
    (np.array([], dtype=np.int64), DataError, r"attention_weights: a session must be 1 to T"),
], ids=["negative", "float", "empty"])
def test_narm_attention_weights_refuse_bad_items(items, error, message):
    model = _session_models()["narm"]
    assert model.attention_weights(np.array([1, 2])).shape == (2,)
    with pytest.raises(error, match=message):
        model.attention_weights(items)


# -- metrics and protocols ---------------------------------------------------------------

SCORES = np.random.default_rng(0).standard_normal((3, 5))
TARGETS = np.array([0, 1, 2])


@pytest.mark.parametrize("kwargs, message", [
    ({"targets": (np.array([0, 1, 2, 3]), np.array([0.5, 1.2, 2.9]))},
     "targets: CSR indices must be integers, got float64"),
    ({"targets": TARGETS, "exclude": (np.array([0, 1, 1, 1]), np.array([3.7]))},
     "exclude: CSR indices must be integers, got float64"),
], ids=["targets", "exclude"])
def test_float_item_indices_in_a_csr_pair_are_refused(kwargs, message):
    with pytest.raises(DataError, match=message):
        evaluate_rankings(SCORES, **kwargs)


@pytest.mark.parametrize("ks", [2.5, (10, 2.5), float("nan"), "10"])
def test_cutoffs_must_be_whole_numbers(ks):
    with pytest.raises(ConfigError, match="cutoffs must be positive integers"):
        evaluate_rankings(SCORES, TARGETS, ks=ks)


def test_whole_cutoffs_of_any_integer_or_float_type_still_work():
    a = evaluate_rankings(SCORES, TARGETS, ks=2)
    assert evaluate_rankings(SCORES, TARGETS, ks=2.0) == a
    assert evaluate_rankings(SCORES, TARGETS, ks=np.int64(2)) == a


@pytest.mark.parametrize("call, error, message", [
    (lambda: evaluate_rankings(SCORES[0], np.array([0])), DataError,
     r"evaluate_rankings: scores must be \(B, V\)"),
    (lambda: evaluate_rankings(np.full((3, 5), "a"), TARGETS), DataError,
     "evaluate_rankings: scores must be real numbers"),
    (lambda: per_row_metric(SCORES, TARGETS, ["ndcg", "hit"], 2), ConfigError,
     "per_row_metric: metric must be one metric name"),
    (lambda: per_row_metric(SCORES, TARGETS, "ndcg", [2, 3]), ConfigError,
     "per_row_metric: k must be one cutoff"),
    (lambda: RankingEvaluator(metrics=("coverage",), n_items=-1), ConfigError,
     "evaluator: n_items must be a positive integer"),
    (lambda: RankingEvaluator(metrics=("coverage",), n_items=2.5), ConfigError,
     "evaluator: n_items must be a positive integer"),
])
def test_ranking_metric_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


SPLIT = leave_one_out(synthetic_interactions(40, 300, seed=1))
POP = Popularity().fit(SPLIT.train)
STRONG = strong_generalization(DATA, 5, rng=_rng())


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
@pytest.mark.parametrize("protocol", ["loo-full", "ncf-loo99", "strong-generalization",
                                      "next-item"])
def test_protocols_refuse_a_batch_size_below_one(protocol, batch_size):
    call = {
        "loo-full": lambda: evaluate_loo_full(POP.score_all, SPLIT.train, SPLIT.test,
                                              batch_size=batch_size),
        "ncf-loo99": lambda: evaluate_ncf_loo99(POP.score_items, SPLIT.train, SPLIT.test,
                                                batch_size=batch_size),
        "strong-generalization": lambda: evaluate_strong_generalization(
            POP.score_fold_in, STRONG.test_fold_in, STRONG.test_held_out,
            batch_size=batch_size),
        "next-item": lambda: evaluate_next_item(
            SESSIONS, score_prefixes=Popularity().fit(SESSIONS).score_prefixes,
            batch_size=batch_size),
    }[protocol]
    with pytest.raises(ConfigError, match=f"{protocol}: batch_size must be an integer >= 1"):
        call()


@pytest.mark.parametrize("n_negatives", [0, -1])
def test_ncf_loo99_needs_at_least_one_negative(n_negatives):
    with pytest.raises(ConfigError, match="ncf-loo99: n_negatives must be an integer >= 1"):
        evaluate_ncf_loo99(POP.score_items, SPLIT.train, SPLIT.test, n_negatives=n_negatives)


def test_ncf_loo99_refuses_float_negatives():
    negatives = np.full((SPLIT.test.nnz, 5), 1.5)
    with pytest.raises(DataError, match="ncf-loo99: negatives must be item indices"):
        evaluate_ncf_loo99(POP.score_items, SPLIT.train, SPLIT.test, negatives=negatives)


def test_protocols_refuse_containers_of_another_kind():
    with pytest.raises(DataError, match="test must be Interactions"):
        evaluate_loo_full(POP.score_all, SPLIT.train, SESSIONS)
    with pytest.raises(DataError, match="next-item: test must be Sessions, got Interactions"):
        evaluate_next_item(DATA, score_prefixes=POP.score_prefixes)


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


# -- synthetic data ------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: synthetic_interactions(40, 5), "synthetic_interactions: n_items=5 must be more "
                                            "than min_items=5"),
    (lambda: synthetic_interactions(0, 30), "synthetic_interactions: n_users must be an "
                                            "integer >= 1, got 0"),
    (lambda: synthetic_interactions(40, 30.0), "n_items must be an integer >= 1, got 30.0"),
    (lambda: synthetic_interactions(40, 30, factors=-2), "factors must be an integer >= 1"),
    (lambda: synthetic_interactions(40, 30, min_items=-3), "min_items must be an integer >= 0"),
    (lambda: synthetic_interactions(40, 30, mean_items=float("nan")),
     "mean_items must be a positive number, got nan"),
    (lambda: synthetic_interactions(40, 30, temperature=0), "temperature must be a positive"),
    (lambda: synthetic_interactions(40, 30, popularity=float("inf")),
     "popularity must be a finite number, got inf"),
    (lambda: synthetic_interactions(40, 30, seed=-1), "synthetic_interactions: seed must be an "
                                                      "integer >= 0, got -1"),
    (lambda: synthetic_sessions(50, 7, n_topics=2), r"synthetic_sessions: n_items=7 is too few "
                                                    r"for n_topics=2 .* = 8\)"),
    (lambda: synthetic_sessions(0, 100), "synthetic_sessions: n_sessions must be an integer"),
    (lambda: synthetic_sessions(50, 100, n_topics=0), "n_topics must be an integer >= 1, got 0"),
    (lambda: synthetic_sessions(50, 100, successors=0), "successors must be an integer >= 1"),
    (lambda: synthetic_sessions(50, 100, mean_length=float("nan")), "mean_length must be a"),
    (lambda: synthetic_sessions(50, 100, p_successor=1.5), r"p_successor must be a number in "
                                                           r"\[0, 1\], got 1.5"),
    (lambda: synthetic_sessions(50, 100, p_successor=0.8), r"p_successor \+ p_topic must be at "
                                                           r"most 1 .*, got 0.8 \+ 0.3"),
    (lambda: synthetic_sessions(50, 100, days=-1), "days must be a number >= 0, got -1"),
    (lambda: synthetic_sessions(50, 100, seed=-1), "synthetic_sessions: seed must be an integer"),
])
def test_synthetic_data_refuses_impossible_arguments(call, message):
    with pytest.raises(DataError, match=message):
        call()


def test_synthetic_data_is_unchanged_for_numpy_integers():
    a = synthetic_interactions(np.int64(40), np.int64(30), seed=np.int64(1))
    assert np.array_equal(a.indices, DATA.indices) and np.array_equal(a.indptr, DATA.indptr)
    b = synthetic_sessions(200, 100, n_topics=np.int64(20), seed=0)
    assert np.array_equal(b.items, SESSIONS.items)


# -- mini-batch samplers -------------------------------------------------------------------

# One epoch of each sampler with that batch size (each checks it when called, before a batch).
SAMPLERS = {
    "user_batches": lambda b: user_batches(DATA, b, _rng()),
    "bpr_batches": lambda b: bpr_batches(DATA, b, _rng()),
    "pointwise_batches": lambda b: pointwise_batches(DATA, 2, b, _rng()),
    "prefix_batches": lambda b: prefix_batches(SESSIONS, b, _rng(), bucket=2),
    "SessionParallelBatches": lambda b: SessionParallelBatches(SESSIONS, b),
    "EpochBatches": lambda b: EpochBatches((np.arange(50), np.arange(50) * 2.0), b),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("batch_size", [2.5, 8.0, np.float64(8), float("nan"), True, 0, -3, "8",
                                        None],
                         ids=["fraction", "whole-float", "numpy-float", "nan", "bool", "zero",
                              "negative", "str", "none"])
def test_samplers_need_a_whole_batch_size(name, batch_size):
    message = f"^{name}: batch_size must be an integer >= 1, got {re.escape(repr(batch_size))}$"
    with pytest.raises(ConfigError, match=message):
        SAMPLERS[name](batch_size)                      # at the call, not the first batch


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("numpy_int", [np.int64, np.int32, np.uint16])
def test_samplers_take_numpy_integer_batch_sizes(name, numpy_int):
    plain = list(SAMPLERS[name](7))
    other = list(SAMPLERS[name](numpy_int(7)))
    assert len(other) == len(plain) > 1 and max(len(b[0]) for b in plain) == 7
    for a, b in zip(plain, other, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[-1] if not sp.issparse(a[-1]) else a[-1].toarray(),
                                      b[-1] if not sp.issparse(b[-1]) else b[-1].toarray())


@pytest.mark.parametrize("call, message", [
    (lambda: bpr_batches(DATA, 8, _rng(), n_triples=2.5),
     "bpr_batches: n_triples must be an integer >= 0, got 2.5"),
    (lambda: bpr_batches(DATA, 8, _rng(), n_triples=-1),
     "bpr_batches: n_triples must be an integer >= 0, got -1"),
    (lambda: pointwise_batches(DATA, 1.5, 8, _rng()),
     "pointwise_batches: n_neg must be an integer >= 0, got 1.5"),
    (lambda: pointwise_batches(DATA, -1, 8, _rng()),
     "pointwise_batches: n_neg must be an integer >= 0, got -1"),
    (lambda: prefix_batches(SESSIONS, 8, None, max_len=2.5),
     "prefix_batches: max_len must be an integer >= 1, got 2.5"),
    (lambda: prefix_batches(SESSIONS, 8, None, bucket=0),
     "prefix_batches: bucket must be an integer >= 1, got 0"),
], ids=["fractional-triples", "negative-triples", "fractional-negatives", "negative-negatives",
        "fractional-max-len", "zero-bucket"])
def test_sampler_counts_must_be_whole(call, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        call()


def test_sampler_counts_of_numpy_integers_sample_the_same():
    a = next(bpr_batches(DATA, 8, _rng(), n_triples=20))
    b = next(bpr_batches(DATA, 8, _rng(), n_triples=np.int64(20)))
    np.testing.assert_array_equal(a.neg, b.neg)
    a = next(pointwise_batches(DATA, 3, 8, _rng()))
    b = next(pointwise_batches(DATA, np.int64(3), 8, _rng()))
    np.testing.assert_array_equal(a.items, b.items)
    a = next(prefix_batches(SESSIONS, 8, None, max_len=2, bucket=3))
    b = next(prefix_batches(SESSIONS, 8, None, max_len=np.int64(2), bucket=np.int64(3)))
    np.testing.assert_array_equal(a.items, b.items)


# Counts that are not a whole number >= 1, by id (the messages show their repr).
NOT_COUNTS = {"fraction": 2.5, "whole-float": 2.0, "numpy-float": np.float64(2),
              "nan": float("nan"), "bool": True, "zero": 0, "negative": -1, "str": "2"}


def _not_counts(none: bool = True):
    """Parametrise `count` over NOT_COUNTS, and None too unless `none` is False."""
    cases = {**NOT_COUNTS, **({"none": None} if none else {})}
    return pytest.mark.parametrize("count", list(cases.values()), ids=list(cases))


@_not_counts()
def test_sample_cache_needs_a_whole_n_sample(count):
    # n_sample = 0 (no extra negatives) is GRU4Rec's to handle: it then builds no cache.
    with pytest.raises(ConfigError, match=f"^SampleCache: n_sample must be an integer >= 1, "
                                          f"got {re.escape(repr(count))}$"):
        SampleCache(np.ones(5), 1.0, count, _rng())


@_not_counts(none=False)                 # (store_size=None: the default size)
def test_sample_cache_needs_a_whole_store_size(count):
    with pytest.raises(ConfigError, match=f"^SampleCache: store_size must be an integer >= 1, "
                                          f"got {re.escape(repr(count))}$"):
        SampleCache(np.ones(5), 1.0, 1, _rng(), store_size=count)


def test_sample_cache_store_must_hold_one_block():
    with pytest.raises(ConfigError, match="^SampleCache: store_size=3 is smaller than "
                                          "n_sample=4$"):
        SampleCache(np.ones(5), 1.0, 4, _rng(), store_size=3)


@pytest.mark.parametrize("numpy_int", [np.int64, np.int32, np.uint16])
def test_sample_cache_takes_numpy_integers(numpy_int):
    counts = np.array([10, 0, 40, 5, 45])
    plain = SampleCache(counts, 0.5, 4, _rng(), store_size=10)
    other = SampleCache(counts, 0.5, numpy_int(4), _rng(), store_size=numpy_int(10))
    assert type(other.n_sample) is int and (other.n_sample, other.n_blocks) == (4, 2)
    np.testing.assert_array_equal(other.store, plain.store)
    default = SampleCache(counts, 0.5, numpy_int(8), _rng())
    assert default.store.shape == (1024, 8)


@_not_counts()
@pytest.mark.parametrize("distinct", [False, True], ids=["uniform", "distinct"])
def test_negatives_for_users_need_a_whole_number_of_negatives(count, distinct):
    with pytest.raises(ConfigError, match=f"^negatives_for_users: n must be an integer >= 1, "
                                          f"got {re.escape(repr(count))}$"):
        negatives_for_users(DATA, np.array([0, 9]), count, _rng(), distinct=distinct)


@pytest.mark.parametrize("distinct", [False, True], ids=["uniform", "distinct"])
def test_negatives_for_users_take_a_numpy_integer_n(distinct):
    plain = negatives_for_users(DATA, np.array([0, 9, 9]), 3, _rng(), distinct=distinct)
    other = negatives_for_users(DATA, np.array([0, 9, 9]), np.int32(3), _rng(),
                                distinct=distinct)
    assert other.shape == (3, 3)
    np.testing.assert_array_equal(other, plain)


@pytest.mark.parametrize("users, error, message", [
    (np.array([0.9, 9.7]), DataError, "negatives_for_users: users"),      # not read as 0, 9
    (np.array([0, DATA.n_users]), UnknownIdError,
     rf"negatives_for_users: users: position {DATA.n_users} is outside"),
    (np.array([-1]), UnknownIdError, "negatives_for_users: users: position -1 is outside"),
])
def test_negatives_for_users_take_only_known_user_positions(users, error, message):
    with pytest.raises(error, match=f"^{message}"):
        negatives_for_users(DATA, users, 2, _rng())


@pytest.mark.parametrize("rng", [0, None, np.random.RandomState(0)], ids=["seed", "none", "legacy"])
def test_samplers_need_a_generator(rng):
    message = r"rng must be a np.random.Generator \(np.random.default_rng\(seed\)\), got "
    with pytest.raises(ConfigError, match="^negatives_for_users: " + message):
        negatives_for_users(DATA, np.array([0]), 2, rng)
    with pytest.raises(ConfigError, match="^SampleCache: " + message):
        SampleCache(np.ones(5), 1.0, 2, rng)
    with pytest.raises(ConfigError, match="^bpr_batches: " + message):
        bpr_batches(DATA, 8, rng)
    with pytest.raises(ConfigError, match="^pointwise_batches: " + message):
        pointwise_batches(DATA, 2, 8, rng)


@pytest.mark.parametrize("rng", [0, np.random.RandomState(0)], ids=["seed", "legacy"])
def test_order_samplers_take_a_generator_or_none(rng):
    # None is their evaluation order (users, prefixes in index order), not a mistake.
    message = r"rng must be a np.random.Generator \(np.random.default_rng\(seed\)\), got "
    with pytest.raises(ConfigError, match="^user_batches: " + message):
        user_batches(DATA, 8, rng)
    with pytest.raises(ConfigError, match="^prefix_batches: " + message):
        prefix_batches(SESSIONS, 8, rng)
    users = np.concatenate([b.users for b in user_batches(DATA, 8, None)])
    np.testing.assert_array_equal(users, np.arange(DATA.n_users))
    _, target = prefix_samples(SESSIONS)
    np.testing.assert_array_equal(next(prefix_batches(SESSIONS, 8, None)).targets,
                                  SESSIONS.items[target[:8]])


# -- the training loop ---------------------------------------------------------------------

def _fit(**kwargs):
    model = FACTORIES["mf"]()
    return fit(model, Adam(0.01), lambda rng: model.batches(DATA, rng),
               **{"epochs": 1, "seed": 0, **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    ({"eval_every": 0, "evaluate": lambda: {"x": 1.0}, "metric": "x"},
     "fit: eval_every must be an integer >= 1, got 0"),
    ({"epochs": 1.5}, "fit: epochs must be an integer >= 0, got 1.5"),
    ({"patience": -1}, "fit: patience must be an integer >= 0, got -1"),
    ({"seed": -1}, "fit: seed must be an integer >= 0, got -1"),
    ({"seed": 1.5}, "fit: seed must be an integer >= 0, got 1.5"),
])
def test_fit_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        _fit(**kwargs)


@pytest.mark.parametrize("evaluate, message", [
    (lambda: {"x": float("nan")}, "validation metric 'x' is nan in epoch 1"),
    (lambda: {"x": "a"}, "validation metric 'x' is 'a' in epoch 1"),
    (lambda: None, "evaluate\\(\\) must return a dict of metrics, got NoneType"),
])
def test_fit_refuses_a_validation_result_that_is_not_a_number(evaluate, message):
    with pytest.raises(TrainingError, match=message):
        _fit(epochs=2, evaluate=evaluate, metric="x")


@pytest.mark.parametrize("call, error, message", [
    (lambda: init_rng(-1), ConfigError, "init_rng: seed must be an integer >= 0, got -1"),
    (lambda: evaluate_ncf_loo99(POP.score_items, SPLIT.train, SPLIT.test, seed=-1), ConfigError,
     "ncf-loo99: seed must be an integer >= 0, got -1"),
    (lambda: strong_generalization(DATA, 5, rng=-1), DataError,
     r"strong_generalization: rng must be a np.random.Generator, a seed \(an integer >= 0\) or "
     r"None, got -1"),
    (lambda: ratio_split(DATA, rng=2.5), DataError, "ratio_split: rng must be a np.random"),
], ids=["init_rng", "ncf-loo99", "strong-generalization", "ratio_split"])
def test_a_negative_or_fractional_seed_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_seeds_of_any_integer_type_draw_the_same():
    assert init_rng(np.int64(3)).random() == init_rng(3).random()
    a, b = ratio_split(DATA, rng=np.int64(4)), ratio_split(DATA, rng=4)
    assert np.array_equal(a.test.indices, b.test.indices)


# -- gradient checks ---------------------------------------------------------------------

class _Square:
    """L = sum(W**2) with a hand-written gradient `grad(W)` (right or wrong)."""

    def __init__(self, grad) -> None:
        # Equal rows: a gradient broadcast from one row gives the right directional
        # derivative, so only a shape check can tell.
        self.params = {"W": np.tile([1.0, -2.0], (3, 1))}
        self.grad = grad

    def forward(self, batch):
        return float(np.sum(self.params["W"] ** 2)), None

    def backward(self, cache):
        return {"W": self.grad(self.params["W"])}


@pytest.mark.parametrize("grad, message", [
    (lambda W: 2 * W[0], r"parameter 'W': gradient has shape \(2,\), expected \(3, 2\)"),
    (lambda W: RowGrad(np.array([-1, 0, 1]), 2 * W[[2, 0, 1]], 3),
     r"parameter 'W': RowGrad rows must be sorted, unique integers in \[0, 3\)"),
    (lambda W: RowGrad(np.array([0, 1, 2]), 2 * W[:, :1] - 2 * W[:, 1:], 3),
     r"parameter 'W': RowGrad .* does not fit the parameter's shape \(3, 2\)"),
], ids=["broadcast", "negative-rows", "narrow-rows"])
def test_check_directional_refuses_a_gradient_of_the_wrong_shape(grad, message):
    check_directional(_Square(lambda W: 2 * W), None, _rng())
    with pytest.raises(GradientCheckError, match=message):
        check_directional(_Square(grad), None, _rng())


def test_check_directional_names_a_stray_gradient_and_an_unknown_parameter():
    model = _Square(lambda W: 2 * W)
    model.backward = lambda cache: {"W": 2 * model.params["W"], "w": 0.0}
    with pytest.raises(GradientCheckError, match="backward returned a gradient for 'w'"):
        check_directional(model, None, _rng())
    with pytest.raises(ValueError, match="check_directional: params names 'V'"):
        check_directional(_Square(lambda W: 2 * W), None, _rng(), params=["V"])


def test_check_grads_refuses_a_row_gradient_with_negative_rows():
    def wrapped_backward(dy, cache):
        _, dE = embedding_backward(dy, cache)
        return None, RowGrad(dE.rows - dE.n_rows, dE.values, dE.n_rows)  # -1 means row V-1

    E, ids = np.random.default_rng(1).standard_normal((5, 3)), np.array([0, 4, 4])
    check_grads(embedding_forward, embedding_backward, ids, E, rng=_rng())
    with pytest.raises(GradientCheckError, match=r"argument 1: RowGrad rows must be sorted"):
        check_grads(embedding_forward, wrapped_backward, ids, E, rng=_rng())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"rng": 0}, TypeError, "check_grads: rng must be a np.random.Generator"),
    ({"eps": 0.0}, ValueError, "check_grads: eps must be a positive step, got 0.0"),
    ({"rtol": -1.0}, ValueError, "check_grads: rtol must be a finite number >= 0"),
    ({"atol": float("nan")}, ValueError, "check_grads: atol must be a finite number >= 0"),
])
def test_check_grads_settings(kwargs, error, message):
    E, ids = np.ones((5, 3)), np.array([0, 1])
    with pytest.raises(error, match=message):
        check_grads(embedding_forward, embedding_backward, ids, E, **{"rng": _rng(), **kwargs})


def test_numerical_grad_refuses_a_zero_step():
    with pytest.raises(ValueError, match="numerical_grad: eps must be a positive step"):
        numerical_grad(lambda x: x ** 2, np.ones(3), np.ones(3), eps=0.0)


def test_sparse_fold_in_rows_of_ones_still_score():
    model = _trained("ease")
    X = sp.csr_array(np.eye(1, V))
    assert np.all(np.isfinite(model.score_fold_in(X)))


# -- Interactions.from_csr ----------------------------------------------------------------------

@pytest.mark.parametrize("value, implicit, message", [
    (np.nan, True, "NaN or infinite"), (np.inf, False, "NaN or infinite"),
    (-1.0, True, "negative value")])
def test_from_csr_refuses_values_that_are_no_interaction(value, implicit, message):
    matrix = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0]]))
    matrix.data[1] = value
    with pytest.raises(DataError, match=f"from_csr: .*{message}"):
        Interactions.from_csr(matrix, implicit=implicit)


def test_from_csr_implicit_drops_entries_stored_as_zero():
    # Two entries that cancel leave a stored zero in SciPy's matrix: no interaction.
    matrix = sp.csr_array((np.array([1.0, -1.0, 1.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))),
                          shape=(2, 2))
    data = Interactions.from_csr(matrix)
    assert data.nnz == 1 and data.row(1).tolist() == [0] and data.row(0).size == 0
    rated = Interactions.from_csr(sp.csr_array(np.array([[0.0, -2.0]])), implicit=False)
    assert rated.ratings.tolist() == [-2.0]              # ratings may be negative
