"""Metrics: ranking metrics with an explicit tie policy, and the named evaluation protocols.

- `ranking`: the metric definitions and tie policies (pessimistic by default), the
  `RankingEvaluator` every evaluation loop feeds, one-call `evaluate_rankings`.
- `protocols`: `ncf-loo99`, `loo-full`, `next-item` and `strong-generalization`, each a
  function taking the model and the split and returning metrics plus the settings used.
"""

from nprec.metrics.protocols import (
    evaluate_loo_full,
    evaluate_ncf_loo99,
    evaluate_next_item,
    evaluate_strong_generalization,
)
from nprec.metrics.ranking import (
    ALL_METRICS,
    RankingEvaluator,
    as_csr_rows,
    evaluate_rankings,
    per_row_metric,
)

__all__ = [
    "ALL_METRICS",
    "RankingEvaluator",
    "as_csr_rows",
    "evaluate_loo_full",
    "evaluate_ncf_loo99",
    "evaluate_next_item",
    "evaluate_rankings",
    "evaluate_strong_generalization",
    "per_row_metric",
]
