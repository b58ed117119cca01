"""Every model that folds users in (`score_fold_in`) refuses rows it cannot score: a matrix
of the wrong width, or one holding a NaN or an infinity, would otherwise give an error deep in
a product or silently NaN scores."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from nprec.data.synthetic import synthetic_interactions
from nprec.errors import DataError
from nprec.models import cdae, multdae, multvae
from nprec.models.baselines import EASE, ItemKNN, Popularity

DATA = synthetic_interactions(30, 12, mean_items=4, seed=3)


def _deep(module, **config):
    return lambda: module.Model(module.Config(**config), DATA.n_users, DATA.n_items,
                                rng=np.random.default_rng(0))


MODELS = {
    "popularity": lambda: Popularity().fit(DATA),
    "itemknn": lambda: ItemKNN(k=5).fit(DATA),
    "ease": lambda: EASE(lam=10.0).fit(DATA),
    "multdae": _deep(multdae, p_dims=[4]),
    "multvae": _deep(multvae, p_dims=[4]),
    "cdae": _deep(cdae, embedding_size=4),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fold_in_refuses_wrong_width_and_non_finite_rows(name):
    model = MODELS[name]()
    X = DATA.select_users(np.array([0, 4])).to_csr()                  # (2, V)
    scores = model.score_fold_in(X)
    assert scores.shape == (2, DATA.n_items) and np.all(np.isfinite(scores))
    np.testing.assert_array_equal(model.score_fold_in(X.toarray()), scores)  # dense too
    wide = sp.hstack([X, sp.csr_array((2, 1))]).tocsr()                # (2, V + 1)
    with pytest.raises(DataError, match=r"\(B, 12\)"):
        model.score_fold_in(wide)
    with pytest.raises(DataError, match=r"\(B, 12\)"):
        model.score_fold_in(np.ones(DATA.n_items))                      # one 1-d row
    for bad in (np.nan, np.inf):
        Y = X.copy().astype(np.float64)
        Y.data[0] = bad
        with pytest.raises(DataError, match="NaN or an infinity"):
            model.score_fold_in(Y)
