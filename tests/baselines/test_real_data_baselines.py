"""Baselines on real data against published numbers (skipped when the data is absent).

ML-1M leave-one-out with the NCF protocol (1 test item + 99 seeded negatives, HR@10 and
NDCG@10): Dacrema et al. (TOIS 2021, Table 55) report TopPopular 0.4533 / 0.2542 and
EASE^R 0.7192 / 0.4494 on NCF's split; ours is the same leave-one-out split up to ties at the
latest timestamp (data README), with our own negatives, so we allow 0.015.
"""

from __future__ import annotations

import numpy as np
import pytest

from nprec.data import extend_items, leave_one_out, read_interactions
from nprec.metrics.protocols import evaluate_ncf_loo99
from nprec.models.baselines import EASE, Popularity, tune_ease

_SPLITS: dict = {}


@pytest.fixture
def ml1m_split(shared_data):
    """loo_split read once per session; validation = each user's last training line."""
    if "ml1m" not in _SPLITS:
        data = shared_data / "ml-1m" / "loo_split"
        train, _ = read_interactions(data / "ml-1m.loo.train.tsv.gz")
        test, _ = read_interactions(data / "ml-1m.loo.test.tsv.gz", users=train.users,
                                    items=train.items, unknown="extend")
        _SPLITS["ml1m"] = leave_one_out(extend_items(train, test.item_ids), test=test)
    return _SPLITS["ml1m"]


def _check(result, hr, ndcg):
    got = result["by_ties"]["pessimistic"]
    assert got["hit@10"] == pytest.approx(hr, abs=0.015)
    assert got["ndcg@10"] == pytest.approx(ndcg, abs=0.015)


def test_ml1m_ncf_loo99_toppop(ml1m_split):
    split = ml1m_split
    model = Popularity().fit(split.train)
    result = evaluate_ncf_loo99(model.score_items, split.train, split.test, seed=0)
    assert result["rows"] == 6040
    _check(result, 0.4533, 0.2542)


def test_ml1m_ncf_loo99_ease_tuned_on_validation(ml1m_split):
    split = ml1m_split
    assert (split.valid.row_lengths() == 1).all()
    best, grid = tune_ease(split.train_tr, split.valid, (250.0, 1000.0, 4000.0),
                           protocol="ncf-loo99", metric="ndcg@10", seed=1)
    assert grid[best] == max(grid.values())
    model = EASE(best).fit(split.train)
    result = evaluate_ncf_loo99(model.score_items, split.train, split.test, seed=0)
    _check(result, 0.7192, 0.4494)
    # EASE's real-valued scores leave no ties among the 100 candidates
    assert np.isclose(result["by_ties"]["optimistic"]["ndcg@10"],
                      result["by_ties"]["pessimistic"]["ndcg@10"])
