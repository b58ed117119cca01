"""CDAE with a user who met every item: no negative is left to sample, so that user's loss
reads their items alone; other users sample exactly as before."""

from __future__ import annotations

import numpy as np

from nprec.cli import main
from nprec.data.containers import Interactions
from nprec.data.synthetic import synthetic_interactions
from nprec.models import cdae
from nprec.testing import check_directional


def _with_full_user(n_users: int = 12, n_items: int = 10, seed: int = 0) -> Interactions:
    """Random rows of 5 items, except user 1 (index 0) who has all `n_items`."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        row = np.arange(n_items) if u == 0 else rng.choice(n_items, 5, replace=False)
        users += [u] * row.size
        items += row.tolist()
    return Interactions.from_indices(np.array(users), np.array(items), n_users, n_items)


def test_a_user_with_every_item_gets_no_negatives():
    data = _with_full_user()
    model = cdae.Model(cdae.Config(negatives=3, batch_size=12), data.n_users, data.n_items,
                       rng=np.random.default_rng(0))
    (batch,) = list(model.batches(data, np.random.default_rng(1)))
    seen = data.to_csr().toarray().astype(bool)
    assert np.array_equal(seen[batch.users[batch.rows], batch.items], batch.labels == 1)
    per_user = np.bincount(batch.rows, minlength=batch.users.size)      # pairs per user
    lengths = np.diff(batch.X.indptr)
    full = batch.users == 0
    assert np.array_equal(per_user[full], lengths[full])                # O_u only
    assert np.array_equal(per_user[~full], 4 * lengths[~full])          # O_u and 3 |O_u|
    assert np.isfinite(model.forward(batch)[0])


def test_gradients_with_a_full_user_in_the_batch():
    data = _with_full_user(n_users=5, n_items=6, seed=3)
    rng = np.random.default_rng(4)
    model = cdae.Model(cdae.Config(embedding_size=3, negatives=2, reg_weight=0.3,
                                   hid_activation="tanh"), data.n_users, data.n_items,
                       rng=rng, dtype=np.float64)
    check_directional(model, next(iter(model.batches(data, rng))), rng)


def test_the_random_stream_is_unchanged_when_every_user_has_negatives():
    """The batches equal those drawn by the sampling written out here, as before the fix."""
    from nprec.kernels.sampling import sample_negatives
    from nprec.layers import dropout_mask

    data = synthetic_interactions(40, 30, mean_items=6, seed=2)
    cfg = cdae.Config(negatives=3, batch_size=16)
    model = cdae.Model(cfg, data.n_users, data.n_items, rng=np.random.default_rng(0))
    users = np.arange(5, 21)
    X = data.select_users(users).to_csr()
    rng, ref = np.random.default_rng(7), np.random.default_rng(7)
    batch = model._make_batch(users, X, rng, data)
    keep = dropout_mask(ref, (X.nnz,), cfg.corruption_ratio, model.dtype)
    neg_rows = np.repeat(np.arange(users.size), 3 * np.diff(X.indptr))
    negatives = sample_negatives(data.indptr, data.indices, users[neg_rows], data.n_items,
                                 ref.random(neg_rows.size))
    assert np.array_equal(batch.keep, keep)
    assert np.array_equal(batch.items[X.nnz:], negatives)
    assert rng.random() == ref.random()                                 # same draws used


def test_train_cdae_on_a_file_with_a_user_who_rated_everything(tmp_path, capsys):
    data = _with_full_user()
    path = tmp_path / "ratings.tsv"
    rows = [f"{u + 1}\t{i + 1}\t3\t{881250949 + k}"
            for k, (u, i) in enumerate(zip(data.entry_users(), data.indices, strict=True))]
    path.write_text("\n".join(rows) + "\n")
    # CDAE's protocol, strong generalisation, keeps the training users' rows whole.
    out = tmp_path / "run"
    assert main(["train", "cdae", "--data", str(path), "--epochs", "2", "--quiet",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    assert (out / "results.json").exists()
