"""GRU4Rec: whole-model gradients, and the third-party bugs of PAPERS.md §A3.5 pinned down.

- every loss x input mode: `check_directional` on a training step (float64);
- session boundaries: a new session's row starts from zero exactly at its first step, in
  training and in evaluation, and a row never depends on another session's history;
- the shared negatives: one block per mini-batch, every row scored against all of it,
  distributed ∝ support^α;
- dropout on in training (and carried in the state, as the official code), off in scoring.
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from nprec.config import convert, read_toml
from nprec.data.containers import Sessions
from nprec.data.synthetic import synthetic_sessions
from nprec.errors import ConfigError, TrainingError
from nprec.losses import sampled_xe_forward
from nprec.models import gru4rec
from nprec.models.gru4rec import Config, Model
from nprec.models.gru4rec_input import step_input
from nprec.samplers.session_parallel import SessionParallelBatches
from nprec.testing import check_directional
from nprec.testing.strategies import seeds

MODES = {"constrained": {}, "embedding": {"constrained_embedding": False, "embedding": "5"},
         "one-hot": {"constrained_embedding": False}}
SESSIONS = synthetic_sessions(80, 30, n_topics=3, successors=2, mean_length=4.0, seed=7)


def make(loss="cross-entropy", mode="constrained", dtype=np.float64, seed=0, **kw):
    defaults = dict(layers=[6], batch_size=4, n_sample=5, logq=1.0, elu_param=0.5, bpreg=0.5)
    defaults.update(kw)
    cfg = Config(loss=loss, **MODES[mode], **defaults)
    return Model(cfg, 0, SESSIONS.n_items, rng=np.random.default_rng(seed), dtype=dtype)


def run_steps(model, sessions, n, seed=1):
    """The first n training steps, each after forward has run on the one before."""
    steps = []
    for step in model.batches(sessions, np.random.default_rng(seed)):
        model.forward(step)
        steps.append(step)
        if len(steps) == n:
            break
    return steps


def alone(model, items):
    """Hidden state of every layer after each event of one session run on its own (no
    dropout), from zero: the reference for session-parallel rows."""
    h = [np.zeros((1, H)) for H in model.config.layers]
    states = []
    first = np.zeros(len(items), dtype=np.int64)
    for t in range(len(items)):
        inp = step_input(np.asarray(items), np.array([t]), first,
                         model.config.session_state_decay)
        h = model._hidden(inp, h)
        states.append([x[0].copy() for x in h])
    return states


# -- gradients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("loss", gru4rec.LOSSES)
@settings(max_examples=8)
@given(seed=seeds, decay=st.sampled_from([0.0, 0.5, 1.0]), layers=st.sampled_from([[4], [3, 4]]),
       batch=st.sampled_from([1, 2, 5]), n_sample=st.sampled_from([0, 1, 6]),
       k=st.integers(0, 6))
def test_training_step_gradients(loss, mode, seed, decay, layers, batch, n_sample, k):
    if n_sample == 0 and batch < 2:
        batch = 2
    model = make(loss, mode, seed=seed % 1000, layers=layers, batch_size=batch,
                 n_sample=n_sample, session_state_decay=decay, dropout_p_embed=0.3,
                 dropout_p_hidden=0.2)
    step = run_steps(model, SESSIONS, k + 1, seed=seed)[-1]   # a later step: h_prev != 0
    if loss != "cross-entropy":      # keep the scores off ELU's kink
        _, cache = model.forward(step)
        S = cache.h_out @ cache.Wy_u.T + model.params["By"][cache.u]
        if np.abs(S).min() < 1e-4:
            return
    check_directional(model, step, np.random.default_rng(seed), rtol=1e-6, atol=1e-8)


def test_loss_is_summed_over_rows_and_divided_by_batch_size():
    """Official normalisation, checked against the library loss on the full (B, M) matrix,
    including a shrunken end-of-epoch step: the shared negatives are columns of every row."""
    model = make("cross-entropy", batch_size=4, n_sample=5, logq=1.0)
    steps = run_steps(model, SESSIONS, 10_000)
    for step in (steps[3], steps[-1]):
        loss, cache = model.forward(step)
        B = step.targets.size
        cols = np.concatenate([step.targets, step.negatives])           # (M,)
        R = cache.h_out @ model.params["Wy"][cols].T + model.params["By"][cols]
        mean, _ = sampled_xe_forward(R, step.log_q)
        assert np.isclose(loss, mean * B / 4)
    assert steps[-1].targets.size < 4            # the last step did shrink


def test_log_q_is_support_of_targets_and_support_to_alpha_of_negatives():
    model = make("cross-entropy", n_sample=5, logq=0.7, sample_alpha=0.4)
    step = run_steps(model, SESSIONS, 3)[-1]
    support = SESSIONS.item_counts()
    expected = 0.7 * np.concatenate([np.log(support[step.targets]),
                                     0.4 * np.log(support[step.negatives])])
    assert np.allclose(step.log_q, expected)
    assert run_steps(make("bpr-max", logq=1.0), SESSIONS, 1)[0].log_q is None


# -- session boundaries ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("decay", [0.0, 0.7])
def test_training_rows_follow_their_own_session_only(mode, decay):
    """Each row's state equals its session run alone from zero: reset exactly at the first
    event of a session (not a step late, not every step), nothing leaks between slots."""
    model = make(mode=mode, layers=[4, 3], session_state_decay=decay)
    batches = model.batches(SESSIONS, np.random.default_rng(0))
    layout = batches.layout
    first = np.repeat(SESSIONS.offsets[:-1], SESSIONS.lengths())
    n_reset = 0
    for t, step in enumerate(batches):
        model.forward(step)
        a, b = layout.step_offsets[t], layout.step_offsets[t + 1]
        pos, reset = layout.in_pos[a:b], layout.reset[a:b]
        assert np.array_equal(reset, pos == first[pos])      # reset iff a session starts
        for l in range(2):
            assert not step.h_prev[l][reset].any()            # zero before that step
        n_reset += int(reset.sum())
        for row in range(b - a):
            start = first[pos[row]]
            ref = alone(model, SESSIONS.items[start:pos[row] + 1])[-1]
            for l in range(2):
                assert np.allclose(step.h_next[l][row], ref[l], atol=1e-12)
    assert n_reset == int(np.sum(SESSIONS.lengths() >= 2))


@pytest.mark.parametrize("mode", list(MODES))
def test_evaluation_rows_follow_their_own_session_only(mode):
    """next_item_scores: every prediction equals scoring its prefix alone, state from zero."""
    model = make(mode=mode, layers=[5], session_state_decay=0.5)
    test = SESSIONS.select(np.arange(25))
    layout = SessionParallelBatches(test, 6)
    first = np.repeat(test.offsets[:-1], test.lengths())
    rows = 0
    for scores, targets in model.next_item_scores(test, 6):
        pos = layout.in_pos[rows:rows + targets.size]
        assert np.array_equal(targets, test.items[pos + 1])
        for r in range(targets.size):
            prefix = test.items[first[pos[r]]:pos[r] + 1]
            assert np.allclose(scores[r], model.score_session(prefix), atol=1e-12)
        rows += targets.size
    assert rows == int(np.sum(test.lengths() - 1))


def test_forward_must_run_before_the_next_step():
    steps = iter(make().batches(SESSIONS, np.random.default_rng(0)))
    next(steps)
    with pytest.raises(TrainingError, match="forward"):
        next(steps)


def test_without_negatives_the_epoch_ends_below_two_sessions():
    sessions = Sessions.from_lists([[0, 1, 2, 3, 4, 5, 6], [1, 2], [2, 3, 4]], n_items=8)
    model = Model(Config(n_sample=0, batch_size=3, layers=[3]), 0, 8,
                  rng=np.random.default_rng(0), dtype=np.float64)
    widths = [run.targets.size for run in run_steps(model, sessions, 100)]
    assert widths == [3, 2]
    model.config.n_sample = 2
    widths = [run.targets.size for run in run_steps(model, sessions, 100)]
    assert widths == [3, 2, 1, 1, 1, 1]


# -- negatives ---------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_negatives_are_one_shared_block_distributed_by_support_to_alpha(alpha):
    model = make("bpr-max", batch_size=8, n_sample=50, sample_alpha=alpha)
    counts = np.zeros(SESSIONS.n_items)
    for step in run_steps(model, SESSIONS, 200, seed=5):
        assert step.negatives.shape == (50,)                 # one block for all rows
        counts += np.bincount(step.negatives, minlength=SESSIONS.n_items)
    support = SESSIONS.item_counts().astype(float)
    p = support ** alpha * (support > 0)
    expected = counts.sum() * p / p.sum()
    assert counts[support == 0].sum() == 0
    assert chisquare(counts[support > 0], expected[support > 0]).pvalue > 1e-3


# -- dropout -----------------------------------------------------------------------------------
def test_dropout_is_applied_in_training_and_carried_in_the_state():
    model = make(dropout_p_embed=0.5, dropout_p_hidden=0.5)
    step = run_steps(model, SESSIONS, 4)[-1]
    assert (step.mask_embed == 0).any() and (step.mask_hidden[0] == 0).any()
    dropped = step.mask_hidden[0] == 0
    assert not step.h_next[0][dropped].any()                  # the dropped state is carried
    kept = step.h_next[0][~dropped]
    loss, _ = model.forward(step)
    plain, _ = model.forward(step._replace(mask_embed=None, mask_hidden=[None], h_next=[]))
    assert kept.any() and loss != plain


def test_scoring_has_no_dropout():
    model = make(dropout_p_embed=0.5, dropout_p_hidden=0.5)
    same = make(dropout_p_embed=0.0, dropout_p_hidden=0.0)
    test = SESSIONS.select(np.arange(10))
    for (a, _), (b, _) in zip(model.next_item_scores(test, 4), same.next_item_scores(test, 4),
                              strict=True):
        assert np.array_equal(a, b)


# -- the rest of the contract ------------------------------------------------------------------
def test_initialisation_follows_the_official_bounds():
    model = Model(Config(layers=[20, 30], constrained_embedding=False, embedding="layersize"),
                  0, 500, rng=np.random.default_rng(0))
    P = model.params
    for name, (fan_in, fan_out) in {"E": (500, 20), "W0": (20, 20), "W1": (20, 30),
                                    "U_zr1": (30, 30), "U_h0": (20, 20),
                                    "Wy": (500, 30)}.items():
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        assert np.abs(P[name]).max() <= bound and np.abs(P[name]).max() > 0.95 * bound
    assert not P["b0"].any() and not P["By"].any() and P["E"].dtype == np.float32


def test_items_without_training_support_are_not_candidates():
    model = make()
    model.batches(SESSIONS.select(np.arange(5)), np.random.default_rng(0))
    unseen = model.support == 0
    scores = model.score_session(np.array([int(np.flatnonzero(~unseen)[0])]))
    assert np.all(np.isneginf(scores[unseen])) and np.all(np.isfinite(scores[~unseen]))
    restored = make()
    restored.load_state_arrays(model.state_arrays())
    assert np.array_equal(restored.support, model.support)


@pytest.mark.parametrize("bad", [dict(loss="xe"), dict(layers=[]), dict(dropout_p_hidden=1.0),
                                 dict(embedding="ten"), dict(embedding="16"),
                                 dict(n_sample=0, batch_size=1), dict(momentum=1.0),
                                 dict(session_state_decay=1.5), dict(optimizer="rmsprop"),
                                 dict(embedding="²"), dict(n_sample=10_000_001)])
def test_bad_settings_name_the_option(bad):
    with pytest.raises(ConfigError, match="model\\."):
        Config(**bad)


def test_official_defaults_and_aliases():
    cfg = Config()
    assert (cfg.loss, cfg.layers, cfg.batch_size, cfg.n_sample, cfg.sample_alpha,
            cfg.learning_rate, cfg.elu_param, cfg.bpreg, cfg.logq) == (
        "cross-entropy", [100], 64, 2048, 0.5, 0.05, 0.5, 1.0, 0.0)
    assert cfg.constrained_embedding and cfg.embedding == "0"
    assert gru4rec.ALIASES == {"n_epochs": "train.epochs", "model.n_epochs": "train.epochs"}
    assert gru4rec.KIND == "sessions" and gru4rec.DEFAULTS["data.valid"] == "none"
    assert Config(constrained_embedding=False, embedding="layersize",
                  layers=[32]).embedding_size([32]) == 32


def test_real_data_evaluation_covers_every_prediction(shared_data):
    from nprec.data.session_readers import read_sessions

    folder = shared_data / "session" / "rsc15_100k"
    train, _ = read_sessions(folder / "yoochoose-clicks-100k_train_full.txt")
    test, _ = read_sessions(folder / "yoochoose-clicks-100k_test.txt",
                            item_ids=train.vocabulary, unknown="drop")
    test = test.select(np.arange(300))
    model = Model(Config(layers=[8]), 0, train.n_items, rng=np.random.default_rng(0))
    model.batches(train, np.random.default_rng(0))
    rows = sum(t.size for _, t in model.next_item_scores(test, 64))
    assert rows == int(np.maximum(test.lengths() - 1, 0).sum())


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[2].glob(
    "configs/gru4rec_*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid_settings(path):
    values = read_toml(path)
    hints = typing.get_type_hints(Config)
    model = {k.split(".", 1)[1]: convert(v, hints[k.split(".", 1)[1]], k)
             for k, v in values.items() if k.startswith("model.")}
    cfg = Config(**model)
    assert values["model_name"] == "gru4rec" and values["eval.protocol"] == "next-item"
    assert cfg.n_sample == 2048 and cfg.optimizer == "adagrad"
