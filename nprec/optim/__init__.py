"""Optimizers: SGD (+momentum), Adagrad (+momentum, GRU4Rec's IndexedAdagradM) and Adam.

Each updates a `params` dict in place from a `grads` dict whose values are dense arrays,
`RowGrad`s (embedding tables: only the touched rows are updated) or None (no update):

    opt = Adam(lr=1e-3)
    opt.step(model.params, grads)
    np.savez(path, **opt.state_dict())          # arrays only: pickle-free checkpoints
    opt.load_state_dict(dict(np.load(path)))
"""

from nprec.optim.adagrad import Adagrad
from nprec.optim.adam import Adam
from nprec.optim.base import Optimizer
from nprec.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "Optimizer"]
