"""Evaluate a model on the validation or test part of a run, as its protocol prescribes.

The ranking protocols live in `nprec.metrics.protocols`; this module picks the one the run
names, passes it the model's scoring method and the right parts of the split, and adds the
rating protocol (RMSE and MAE of predicted ratings). Every report has the form

    {"protocol": name, "settings": {...}, "rows": n, "ties": policy,
     "metrics": {"hit@10": ...}, "by_ties": {policy: {...}}}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nprec.config import Settings
from nprec.data import Interactions
from nprec.errors import ConfigError, DataError
from nprec.metrics.protocols import (
    evaluate_loo_full,
    evaluate_ncf_loo99,
    evaluate_next_item,
    evaluate_strong_generalization,
)
from nprec.metrics.ranking import NoTargetsError
from nprec.run_data import RunData, data_seed

METRICS = {"loo-full": ("hit", "ndcg"), "ncf-loo99": ("hit", "ndcg"),
           "next-item": ("recall", "mrr"),
           "strong-generalization": ("ndcg", "recall", "recall_capped"),
           "rating-holdout": ("rmse", "mae")}


def metric_names(settings: Settings) -> list[str]:
    """The names of the metrics a run reports, e.g. ["hit@10", "ndcg@10"]."""
    protocol = settings.eval.protocol
    metrics = settings.eval.metrics or list(METRICS[protocol])
    if protocol == "rating-holdout":
        return metrics
    return [f"{m}@{k}" for m in metrics for k in settings.eval.k]


def check_metric(settings: Settings, metric: str) -> None:
    """A `ConfigError` unless the model-selection metric is one the run computes."""
    names = metric_names(settings)
    if metric not in names:
        raise ConfigError(f"eval.metric: {metric!r} is not computed by this run "
                          f"(it computes {', '.join(names)}; change eval.k or eval.metrics)")


def _known_pairs(data: RunData) -> Interactions:
    """Every pair of train and test: what the NCF negatives must avoid."""
    both = data.train.to_csr() + data.test.to_csr()
    return Interactions.from_csr(both, user_ids=data.user_ids, item_ids=data.item_ids)


def evaluate(model: Any, data: RunData, part: str, settings: Settings,
             protocol: str | None = None) -> dict[str, Any]:
    """The protocol report of `model` on `part` ("valid" or "test") of the run's data.

    Validation ranks against the fitted part (its items masked); the test ranks against the
    whole training part, so an item held out for validation is masked as seen, not counted
    as a candidate the user never met. `protocol` overrides the run's (for `eval.also`:
    the same leave-one-out split tested with full ranking beside ncf-loo99).
    """
    try:
        return _evaluate(model, data, part, settings, protocol or settings.eval.protocol)
    except NoTargetsError:
        files = [f.get("path") for f in data.record.get("files", []) if f.get("path")]
        source = ", ".join(files) if files else "the synthetic data"
        raise DataError(f"{source}: the {part} split has no target to evaluate "
                        f"({protocol or settings.eval.protocol}); every {part} row was "
                        f"dropped or empty") from None


def _evaluate(model: Any, data: RunData, part: str, settings: Settings,
              protocol: str) -> dict[str, Any]:
    ev = settings.eval
    metrics = (tuple(ev.metrics) if protocol == ev.protocol else ()) or METRICS[protocol]
    ks, ties = tuple(ev.k), ev.ties
    target = data.valid if part == "valid" else data.test
    seen = data.fit if part == "valid" else data.train
    if protocol == "loo-full":
        return evaluate_loo_full(model.score_all, seen, target, ks=ks, metrics=metrics,
                                 ties=ties)
    if protocol == "ncf-loo99":
        negatives = data.negatives if part == "test" else None
        seed = 2 * data_seed(settings) + (1 if part == "test" else 0)
        return evaluate_ncf_loo99(model.score_items, _known_pairs(data), target, seed=seed,
                                  negatives=negatives, ks=ks, metrics=metrics, ties=ties)
    if protocol == "strong-generalization":
        fold_in, held_out = target
        return evaluate_strong_generalization(model.score_fold_in, fold_in, held_out, ks=ks,
                                              metrics=metrics, ties=ties)
    if protocol == "next-item":
        if hasattr(model, "next_item_scores"):
            def run_sessions(sessions, evaluator) -> None:
                for scores, targets in model.next_item_scores(sessions, 512):
                    evaluator.add(scores, targets)

            return evaluate_next_item(target, evaluate_sessions=run_sessions, ks=ks,
                                      metrics=metrics, ties=ties)
        return evaluate_next_item(target, score_prefixes=model.score_prefixes, ks=ks,
                                  metrics=metrics, ties=ties)
    return evaluate_ratings(model, target, settings)


def evaluate_ratings(model: Any, test: Interactions, settings: Settings) -> dict[str, Any]:
    """RMSE and MAE of `model.predict(users, items)` over the held-out ratings."""
    users, items = test.entry_users(), test.indices.astype(np.int64)
    predicted = np.concatenate([model.predict(users[a:a + 65536], items[a:a + 65536])
                                for a in range(0, users.size, 65536)]) if users.size else \
        np.zeros(0)
    err = predicted.astype(np.float64) - test.ratings
    if not np.all(np.isfinite(err)):
        raise ConfigError("rating-holdout: the model predicted NaN or infinite ratings")
    values = {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}
    wanted = settings.eval.metrics or ["rmse", "mae"]
    unknown = [m for m in wanted if m not in values]
    if unknown:
        raise ConfigError(f"eval.metrics: {unknown} are not rating metrics (rmse, mae)")
    metrics = {m: values[m] for m in wanted}
    return {"protocol": "rating-holdout", "settings": {"ratings": int(users.size)},
            "rows": int(users.size), "ties": "n/a", "metrics": metrics, "by_ties": None}
