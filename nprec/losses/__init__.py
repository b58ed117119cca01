"""Losses with hand-written gradients, as `name_forward` / `name_backward` pairs.

The contract (DESIGN.md §3): `name_forward(*args) -> (loss, cache)` with the loss a NumPy
scalar of the input dtype, the mean over rows (`l2_penalty` is a sum); `name_backward(dloss,
cache)` scales by dloss and returns one gradient per forward argument, `None` for integer
targets, `log_q` and Python-scalar hyperparameters. Every loss is stable for logits of any
size (log-sum-exp and softplus forms).

    pointwise        bce_with_logits                     (NCF, CDAE)
    pairwise         bpr                                 (BPR-MF)
    softmax          softmax_ce, multinomial_nll         (NARM; Mult-DAE, Mult-VAE)
    softmax_fused    softmax_ce_fused: the gradient formed in the forward pass (NARM)
    multinomial_sparse  multinomial_nll_sparse: clicks as a sparse matrix (Mult-VAE/DAE)
    squared          squared_error, masked_squared_error (AutoRec)
    sampled          sampled_xe, sampled_bpr, sampled_top1          (GRU4Rec)
    sampled_max      sampled_bpr_max, sampled_top1_max              (GRU4Rec)
    vae              gaussian_kl                         (Mult-VAE)
    regularisation   l2_penalty
"""

from nprec.losses.multinomial_sparse import (
    multinomial_nll_sparse_backward,
    multinomial_nll_sparse_forward,
)
from nprec.losses.pairwise import bpr_backward, bpr_forward
from nprec.losses.pointwise import bce_with_logits_backward, bce_with_logits_forward
from nprec.losses.regularisation import l2_penalty_backward, l2_penalty_forward
from nprec.losses.sampled import (
    sampled_bpr_backward,
    sampled_bpr_forward,
    sampled_top1_backward,
    sampled_top1_forward,
    sampled_xe_backward,
    sampled_xe_forward,
)
from nprec.losses.sampled_max import (
    negative_softmax,
    sampled_bpr_max_backward,
    sampled_bpr_max_forward,
    sampled_top1_max_backward,
    sampled_top1_max_forward,
)
from nprec.losses.softmax import (
    multinomial_nll_backward,
    multinomial_nll_forward,
    softmax_ce_backward,
    softmax_ce_forward,
)
from nprec.losses.softmax_fused import softmax_ce_fused_backward, softmax_ce_fused_forward
from nprec.losses.squared import (
    masked_squared_error_backward,
    masked_squared_error_forward,
    squared_error_backward,
    squared_error_forward,
)
from nprec.losses.vae import gaussian_kl_backward, gaussian_kl_forward

__all__ = [
    "bce_with_logits_backward",
    "bce_with_logits_forward",
    "bpr_backward",
    "bpr_forward",
    "gaussian_kl_backward",
    "gaussian_kl_forward",
    "l2_penalty_backward",
    "l2_penalty_forward",
    "masked_squared_error_backward",
    "masked_squared_error_forward",
    "multinomial_nll_backward",
    "multinomial_nll_forward",
    "multinomial_nll_sparse_backward",
    "multinomial_nll_sparse_forward",
    "negative_softmax",
    "sampled_bpr_backward",
    "sampled_bpr_forward",
    "sampled_bpr_max_backward",
    "sampled_bpr_max_forward",
    "sampled_top1_backward",
    "sampled_top1_forward",
    "sampled_top1_max_backward",
    "sampled_top1_max_forward",
    "sampled_xe_backward",
    "sampled_xe_forward",
    "softmax_ce_backward",
    "softmax_ce_forward",
    "softmax_ce_fused_backward",
    "softmax_ce_fused_forward",
    "squared_error_backward",
    "squared_error_forward",
]
