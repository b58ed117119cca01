"""NARM: whole-model gradient checks, its epochs, dropout, and next-item scoring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.data.containers import Sessions
from nprec.errors import ConfigError, DataError, TrainingError
from nprec.layers import dropout_mask
from nprec.losses import softmax_ce_forward
from nprec.models import narm
from nprec.testing import check_directional
from nprec.testing.strategies import padded_sequences, seeds


def _model(seed: int, V: int = 6, D: int = 3, H: int = 4, **kw) -> narm.Model:
    rng = np.random.default_rng(seed)
    model = narm.Model(narm.Config(dim_proj=D, hidden_units=H, batch_size=5, **kw), 0, V,
                       rng=rng, dtype=np.float64)
    for p in model.params.values():      # non-zero biases, and weights off their tiny init
        p += 0.3 * rng.standard_normal(p.shape)
    return model


@settings(max_examples=30)
@given(padded_sequences(max_batch=5, max_steps=5), st.integers(2, 6), st.booleans())
def test_narm_gradients_match_finite_differences(case, V, dropout):
    """Length-1 prefixes, fully padded rows, repeated items, with and without dropout."""
    mask, rng = case
    model = _model(int(rng.integers(2**31)), V=V)
    B, T = mask.shape
    items = np.where(mask, rng.integers(0, V, (B, T)), 0)              # small V: repeats
    cfg = model.config
    emb = dropout_mask(rng, (B, T, cfg.dim_proj), 0.25, np.float64) if dropout else None
    ctx = dropout_mask(rng, (B, 2 * cfg.hidden_units), 0.5, np.float64) if dropout else None
    batch = narm.NarmBatch(items, mask, rng.integers(0, V, B), emb, ctx)
    check_directional(model, batch, rng)


@settings(max_examples=10)
@given(seeds)
def test_narm_gradients_on_sampled_batches(seed):
    """The model's own batches of a session set with a repeated item inside a session."""
    model = _model(seed, V=5)
    sessions = Sessions.from_lists([[0, 1, 1, 2], [3, 3], [4, 0, 4, 1, 2, 2]], n_items=5)
    rng = np.random.default_rng(seed)
    for batch in model.batches(sessions, rng):
        check_directional(model, batch, rng)


def _sessions(seed: int, n: int = 30, V: int = 12) -> Sessions:
    rng = np.random.default_rng(seed)
    return Sessions.from_lists([list(rng.integers(0, V, rng.integers(1, 9))) for _ in range(n)],
                               n_items=V)


def test_an_epoch_holds_every_prefix_once_with_dropout_masks():
    sessions = _sessions(0)
    model = narm.Model(narm.Config(batch_size=16, bucket=2), 0, 12,
                       rng=np.random.default_rng(0))
    epoch = model.batches(sessions, np.random.default_rng(1))
    batches = list(epoch)
    assert len(batches) == len(epoch)
    seen = sorted((tuple(b.items[r, b.mask[r]]), int(b.targets[r]))
                  for b in batches for r in range(b.targets.size))
    expected = sorted((tuple(s[:k]), int(s[k])) for s in
                      (sessions.session(i) for i in range(sessions.n_sessions))
                      for k in range(1, s.size))
    assert seen == expected
    b = batches[0]
    assert b.emb_mask.shape == b.items.shape + (50,) and b.ctx_mask.shape == (b.items.shape[0],
                                                                              200)
    # Inverted dropout: units dropped to 0, kept ones scaled by 1 / keep.
    assert set(np.unique(b.emb_mask)) == {0.0, np.float32(1 / 0.75)}
    assert set(np.unique(b.ctx_mask)) == {0.0, 2.0}


def test_dropout_applies_in_training_only():
    model = _model(3, V=8)
    sessions = _sessions(1, n=6, V=8)
    batch = next(iter(model.batches(sessions, np.random.default_rng(2))))
    plain = batch._replace(emb_mask=None, ctx_mask=None)
    # Without masks the training loss is the cross-entropy of the evaluation scores ...
    scores = model._scores(batch.items, batch.mask)
    ref, _ = softmax_ce_forward(scores, batch.targets)
    np.testing.assert_allclose(model.forward(plain)[0], ref, rtol=1e-12)
    # ... and the masks of a training batch change it.
    assert abs(model.forward(batch)[0] - ref) > 1e-6
    # Evaluation is deterministic: no mask is drawn anywhere.
    a = np.concatenate([s for s, _ in model.next_item_scores(sessions, 4)])
    b = np.concatenate([s for s, _ in model.next_item_scores(sessions, 7)])
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_next_item_scores_predict_every_event_after_the_first_from_its_own_prefix():
    model = _model(4, V=12)
    sessions = _sessions(2, n=9)
    scores, targets = zip(*model.next_item_scores(sessions, batch_size=5), strict=True)
    scores, targets = np.concatenate(scores), np.concatenate(targets)
    order = np.argsort(sessions.lengths(), kind="stable")              # shortest first
    rows = [(sessions.session(i), k) for i in order for k in range(1, sessions.session(i).size)]
    assert scores.shape == (len(rows), 12)
    assert targets.tolist() == [int(s[k]) for s, k in rows]
    # Each row equals the score of its prefix alone: no state leaks across rows or sessions.
    for r in (0, len(rows) // 2, len(rows) - 1):
        s, k = rows[r]
        np.testing.assert_allclose(scores[r], model.score_session(s[:k]), rtol=1e-10)


def test_max_len_keeps_the_most_recent_items():
    model = _model(5, V=12, max_len=2)
    full = _model(5, V=12)
    np.testing.assert_allclose(model.score_session(np.array([7, 1, 2, 3])),
                               full.score_session(np.array([2, 3])), rtol=1e-12)


def test_attention_weights_sum_to_one_over_the_session():
    model = _model(6, V=12)
    alpha = model.attention_weights(np.array([3, 1, 3, 4]))
    assert alpha.shape == (4,) and np.isclose(alpha.sum(), 1.0) and (alpha > 0).all()


def test_bad_options_raise_config_errors():
    for kw in ({"hidden_units": 0}, {"emb_dropout": 1.0}, {"optimizer": "rmsprop"},
               {"max_len": -1}, {"learning_rate": 0.0}):
        with pytest.raises(ConfigError, match="model."):
            narm.Config(**kw)


def test_scores_a_slice_of_the_real_test_file(shared_data):
    from nprec.data.session_readers import read_sessions
    from nprec.metrics import RankingEvaluator

    path = shared_data / "session" / "yoochoose1_64" / "test.tsv.gz"
    test, _ = read_sessions(path)
    part = test.select(np.arange(200))
    model = narm.Model(narm.Config(), 0, test.n_items, rng=np.random.default_rng(0))
    ev = RankingEvaluator(ks=(20,), metrics=("hit", "mrr"), n_items=test.n_items)
    n = 0
    for scores, targets in model.next_item_scores(part, 128):
        ev.add(scores, targets)
        n += targets.size
    assert n == int((part.lengths() - 1).sum()) and ev.n_rows == n
    assert 0.0 <= ev.result()["hit@20"] <= 1.0


def test_backward_refuses_a_cache_older_than_the_latest_forward():
    model = _model(7, V=8)
    batches = list(model.batches(_sessions(3, n=8, V=8), np.random.default_rng(0)))
    _, old = model.forward(batches[0])
    model.forward(batches[-1])                  # reuses the score buffer
    with pytest.raises(TrainingError, match="latest forward"):
        model.backward(old)


def test_score_session_refuses_an_empty_session_and_unknown_items():
    model = _model(8, V=6)
    for bad in ([], [2, 6], [-1]):
        with pytest.raises(DataError, match="session"):
            model.score_session(np.array(bad, dtype=np.int64))
