"""Numba kernels, each beside a plain-NumPy reference twin `name_ref` with the same contract.

This package is the only place in nprec that imports Numba. `PAIRS` lists every
(fast, reference) pair; one parametrised test checks them against each other.

- `scatter`: coalesce_rows (the embedding backward).
- `sampling`: uniform negatives from a user's complement (with or without repeats), CDF
  draws for popularity sampling, BPR triples (kernels take pre-drawn uniforms); Gaussian
  noise drawn from a Generator, the numbers NumPy would draw.
- `topk`: per-row top-k recommendation lists.
- `optim_rows`: fused in-place SGD / Adagrad(+momentum) / lazy Adam updates of touched rows.
- `session_cursor`: the session-parallel mini-batch layout of one GRU4Rec epoch.
- `ranking`: every ranking metric of a score row under the three tie policies.
- `sknn`: session-kNN next-item scores.
- `parsing`: blocks of plain numeric fields of a data file in one pass.
- `autoencoders`: sparse-times-dense products of the autoencoders' input layer, their
  training input (rows normalised, dropout) in one pass, tanh's backward in place,
  Mult-VAE's gradient into the encoder's output [μ | log σ²] in one pass.
- `softmax_rows`: softmax cross-entropy and multinomial likelihood over all columns, the
  score matrix turned into its gradient in one pass per row (NARM, Mult-DAE, Mult-VAE).
- `ncf`: NCF's output unit and log loss, logistic MF's objective, a ReLU layer's halves.
- `gru4rec`, `gru4rec_step`: GRU4Rec's sampled loss, its no-BPTT GRU step, the session state.
- `narm`, `narm_gru`, `narm_attention`: NARM's bilinear scores into a kept buffer, masked
  GRU, attention over the real positions.

The GRU4Rec and NARM kernels are loaded on first use (module `__getattr__`), and so is
`PAIRS`: their twins are built from `nprec.layers` and `nprec.losses`, which import this
package themselves, so importing those modules here would be circular.
"""

import importlib

from nprec.kernels.autoencoders import (
    csr_matmul,
    csr_matmul_ref,
    csr_t_matmul,
    csr_t_matmul_ref,
    normalize_and_drop,
    normalize_and_drop_ref,
    tanh_backward_inplace,
    tanh_backward_inplace_ref,
    vae_code_backward,
    vae_code_backward_ref,
)
from nprec.kernels.ncf import (
    add_bias_relu,
    add_bias_relu_ref,
    bce_output,
    bce_output_ref,
    logistic_mf,
    logistic_mf_ref,
    relu_bias_grad,
    relu_bias_grad_ref,
)
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
    standard_normal,
    standard_normal_ref,
)
from nprec.kernels.scatter import coalesce_rows, coalesce_rows_ref
from nprec.kernels.session_cursor import session_parallel_steps, session_parallel_steps_ref
from nprec.kernels.sknn import sknn_scores, sknn_scores_ref
from nprec.kernels.softmax_rows import (
    softmax_ce_rows,
    softmax_ce_rows_ref,
    softmax_counts_rows,
    softmax_counts_rows_ref,
)
from nprec.kernels.topk import topk_rows, topk_rows_ref

# Kernels imported on first access, by module (see the docstring).
_LAZY_MODULES = {
    "gru4rec": ["sampled_loss", "sampled_loss_ref"],
    "gru4rec_step": ["gru_train_forward", "gru_train_forward_ref", "gru_train_backward",
                     "gru_train_backward_ref", "session_state", "session_state_ref"],
    "narm": ["bilinear_scores_into", "bilinear_scores_into_ref"],
    "narm_attention": ["attention_rows_forward", "attention_rows_forward_ref",
                       "attention_rows_backward", "attention_rows_backward_ref"],
    "narm_gru": ["gru_sequence_forward", "gru_sequence_forward_ref", "gru_sequence_backward",
                 "gru_sequence_backward_ref"],
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}

_EAGER_PAIRS = [
    (coalesce_rows, coalesce_rows_ref),
    (sample_negatives, sample_negatives_ref),
    (sample_negatives_distinct, sample_negatives_distinct_ref),
    (sample_cdf, sample_cdf_ref),
    (sample_bpr_triples, sample_bpr_triples_ref),
    (standard_normal, standard_normal_ref),
    (topk_rows, topk_rows_ref),
    (sgd_rows, sgd_rows_ref),
    (adagrad_rows, adagrad_rows_ref),
    (adam_rows, adam_rows_ref),
    (session_parallel_steps, session_parallel_steps_ref),
    (ranking_metrics, ranking_metrics_ref),
    (sknn_scores, sknn_scores_ref),
    (parse_numeric_fields, parse_numeric_fields_ref),
    (csr_matmul, csr_matmul_ref),
    (normalize_and_drop, normalize_and_drop_ref),
    (csr_t_matmul, csr_t_matmul_ref),
    (tanh_backward_inplace, tanh_backward_inplace_ref),
    (vae_code_backward, vae_code_backward_ref),
    (bce_output, bce_output_ref),
    (logistic_mf, logistic_mf_ref),
    (add_bias_relu, add_bias_relu_ref),
    (relu_bias_grad, relu_bias_grad_ref),
    (softmax_ce_rows, softmax_ce_rows_ref),
    (softmax_counts_rows, softmax_counts_rows_ref),
]


def _pairs() -> list:
    """Every (fast, reference) pair: the eager ones, then the lazily loaded ones."""
    lazy = [(__getattr__(fast), __getattr__(fast + "_ref"))
            for names in _LAZY_MODULES.values() for fast in names if not fast.endswith("_ref")]
    return _EAGER_PAIRS + lazy


def __getattr__(name: str):
    """`PAIRS` and the GRU4Rec / NARM kernels, imported on first access (PEP 562)."""
    if name == "PAIRS":
        value = _pairs()
    elif name in _LAZY:
        value = getattr(importlib.import_module(f"nprec.kernels.{_LAZY[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "PAIRS",
    "adagrad_rows",
    "adagrad_rows_ref",
    "adam_rows",
    "adam_rows_ref",
    "add_bias_relu",
    "add_bias_relu_ref",
    "attention_rows_backward",
    "attention_rows_backward_ref",
    "attention_rows_forward",
    "attention_rows_forward_ref",
    "bce_output",
    "bce_output_ref",
    "bilinear_scores_into",
    "bilinear_scores_into_ref",
    "coalesce_rows",
    "coalesce_rows_ref",
    "csr_matmul",
    "csr_matmul_ref",
    "csr_t_matmul",
    "csr_t_matmul_ref",
    "gru_sequence_backward",
    "gru_sequence_backward_ref",
    "gru_sequence_forward",
    "gru_sequence_forward_ref",
    "gru_train_backward",
    "gru_train_backward_ref",
    "gru_train_forward",
    "gru_train_forward_ref",
    "logistic_mf",
    "logistic_mf_ref",
    "normalize_and_drop",
    "normalize_and_drop_ref",
    "parse_numeric_fields",
    "parse_numeric_fields_ref",
    "ranking_metrics",
    "ranking_metrics_ref",
    "relu_bias_grad",
    "relu_bias_grad_ref",
    "sample_bpr_triples",
    "sample_bpr_triples_ref",
    "sample_cdf",
    "sample_cdf_ref",
    "sample_negatives",
    "sample_negatives_distinct",
    "sample_negatives_distinct_ref",
    "sample_negatives_ref",
    "sampled_loss",
    "sampled_loss_ref",
    "session_parallel_steps",
    "session_parallel_steps_ref",
    "session_state",
    "session_state_ref",
    "sgd_rows",
    "sgd_rows_ref",
    "sknn_scores",
    "sknn_scores_ref",
    "softmax_ce_rows",
    "softmax_ce_rows_ref",
    "softmax_counts_rows",
    "softmax_counts_rows_ref",
    "standard_normal",
    "standard_normal_ref",
    "tanh_backward_inplace",
    "tanh_backward_inplace_ref",
    "topk_rows",
    "topk_rows_ref",
    "vae_code_backward",
    "vae_code_backward_ref",
]
