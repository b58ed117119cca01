"""Numba kernels, each beside a plain-NumPy reference twin `name_ref` with the same contract.

This package is the only place in nprec that imports Numba. `PAIRS` lists every
(fast, reference) pair; one parametrised test checks them against each other.

- `scatter`: coalesce_rows (the embedding backward).
- `sampling`: uniform negatives from a user's complement (with or without repeats), CDF
  draws for popularity sampling, BPR triples. Kernels take pre-drawn uniforms.
- `topk`: per-row top-k recommendation lists.
- `optim_rows`: fused in-place SGD / Adagrad(+momentum) / lazy Adam updates of touched rows.
- `session_cursor`: the session-parallel mini-batch layout of one GRU4Rec epoch.
- `ranking`: every ranking metric of a score row under the three tie policies.
- `sknn`: session-kNN next-item scores.
- `parsing`: blocks of plain numeric fields of a data file in one pass.
"""

from nprec.kernels.optim_rows import (
    adagrad_rows,
    adagrad_rows_ref,
    adam_rows,
    adam_rows_ref,
    sgd_rows,
    sgd_rows_ref,
)
from nprec.kernels.parsing import parse_numeric_fields, parse_numeric_fields_ref
from nprec.kernels.ranking import ranking_metrics, ranking_metrics_ref
from nprec.kernels.sampling import (
    sample_bpr_triples,
    sample_bpr_triples_ref,
    sample_cdf,
    sample_cdf_ref,
    sample_negatives,
    sample_negatives_distinct,
    sample_negatives_distinct_ref,
    sample_negatives_ref,
)
from nprec.kernels.scatter import coalesce_rows, coalesce_rows_ref
from nprec.kernels.session_cursor import session_parallel_steps, session_parallel_steps_ref
from nprec.kernels.sknn import sknn_scores, sknn_scores_ref
from nprec.kernels.topk import topk_rows, topk_rows_ref

PAIRS = [
    (coalesce_rows, coalesce_rows_ref),
    (sample_negatives, sample_negatives_ref),
    (sample_negatives_distinct, sample_negatives_distinct_ref),
    (sample_cdf, sample_cdf_ref),
    (sample_bpr_triples, sample_bpr_triples_ref),
    (topk_rows, topk_rows_ref),
    (sgd_rows, sgd_rows_ref),
    (adagrad_rows, adagrad_rows_ref),
    (adam_rows, adam_rows_ref),
    (session_parallel_steps, session_parallel_steps_ref),
    (ranking_metrics, ranking_metrics_ref),
    (sknn_scores, sknn_scores_ref),
    (parse_numeric_fields, parse_numeric_fields_ref),
]

__all__ = [
    "PAIRS",
    "adagrad_rows",
    "adagrad_rows_ref",
    "adam_rows",
    "adam_rows_ref",
    "coalesce_rows",
    "coalesce_rows_ref",
    "parse_numeric_fields",
    "parse_numeric_fields_ref",
    "ranking_metrics",
    "ranking_metrics_ref",
    "sample_bpr_triples",
    "sample_bpr_triples_ref",
    "sample_cdf",
    "sample_cdf_ref",
    "sample_negatives",
    "sample_negatives_distinct",
    "sample_negatives_distinct_ref",
    "sample_negatives_ref",
    "session_parallel_steps",
    "session_parallel_steps_ref",
    "sgd_rows",
    "sgd_rows_ref",
    "sknn_scores",
    "sknn_scores_ref",
    "topk_rows",
    "topk_rows_ref",
]
