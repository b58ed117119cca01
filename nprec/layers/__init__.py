"""Layers with hand-written gradients, as `name_forward` / `name_backward` pairs.

The contract (DESIGN.md §3): `name_forward(*args) -> (out, cache)` and
`name_backward(dout, cache)` returning one gradient per forward argument, in order, with
`None` for ids, boolean masks, dropout masks and Python-scalar hyperparameters. Layers hold
no state; dtype follows the inputs (float32 in, float32 out). Embedding tables get a
`RowGrad`, never a dense (V, D) gradient.
"""

from nprec.layers.activations import (
    elu_backward,
    elu_forward,
    fast_sigmoid,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from nprec.layers.attention import attention_backward, attention_forward
from nprec.layers.bilinear import bilinear_backward, bilinear_forward
from nprec.layers.dense import dense_backward, dense_forward
from nprec.layers.dropout import (
    dropout_backward,
    dropout_forward,
    dropout_mask,
    dropout_sparse_input,
)
from nprec.layers.embedding import embedding_backward, embedding_forward
from nprec.layers.embedding_bag import embedding_bag_backward, embedding_bag_forward
from nprec.layers.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from nprec.layers.products import (
    concat_backward,
    concat_forward,
    hadamard_backward,
    hadamard_forward,
    rowdot_backward,
    rowdot_forward,
)
from nprec.layers.rowgrad import RowGrad
from nprec.layers.sparse_dense import sparse_dense_backward, sparse_dense_forward
from nprec.layers.vae import reparam_backward, reparam_forward

__all__ = [
    "RowGrad",
    "attention_backward",
    "attention_forward",
    "bilinear_backward",
    "bilinear_forward",
    "concat_backward",
    "concat_forward",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "dropout_sparse_input",
    "elu_backward",
    "elu_forward",
    "embedding_backward",
    "embedding_bag_backward",
    "embedding_bag_forward",
    "embedding_forward",
    "fast_sigmoid",
    "gru_backward",
    "gru_forward",
    "gru_step_backward",
    "gru_step_forward",
    "hadamard_backward",
    "hadamard_forward",
    "relu_backward",
    "relu_forward",
    "reparam_backward",
    "reparam_forward",
    "rowdot_backward",
    "rowdot_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "sparse_dense_backward",
    "sparse_dense_forward",
    "tanh_backward",
    "tanh_forward",
]
