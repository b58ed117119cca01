"""Strong generalisation (Liang et al. 2018, Mult-VAE): held-out users, folded in at test time.

The procedure of dawenl/vae_cf's VAE_ML20M_WWW2018 notebook:

1. shuffle the users (there: `np.random.permutation` with seed 98765; here the given
   generator); the last n users are test users, the n before them validation users, the
   rest training users;
2. the item set is the items of the training users' entries; held-out users' entries of
   other items are removed;
3. each held-out user with at least `min_items` (5) entries has floor(0.2 * n) random
   entries held out for evaluation and the rest folded in (given to the model as input);
   users with fewer keep everything in fold-in (they have nothing to evaluate).

All parts share the training item vocabulary; fold-in and held-out parts of one group
share their users, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nprec.data.containers import Interactions, check_kind
from nprec.data.splits import Rng, as_generator, random_holdout_mask
from nprec.errors import DataError


@dataclass
class StrongSplit:
    """Users split into training, validation and test groups.

    Attributes:
        train: the training users' entries (U_tr × V).
        valid_fold_in, valid_held_out: the validation users' input entries and the entries
            to predict (U_vd × V each, same rows).
        test_fold_in, test_held_out: the same for the test users (U_te × V).
        record: parameters and sizes for the results file.
    """

    train: Interactions
    valid_fold_in: Interactions
    valid_held_out: Interactions
    test_fold_in: Interactions
    test_held_out: Interactions
    record: dict


def _restrict_items(data: Interactions, seen: np.ndarray) -> Interactions:
    """Keep only the entries of items where `seen` is True and renumber the items."""
    data = data.select_entries(seen[data.indices])
    new_index = np.cumsum(seen) - 1                                     # (V,) monotone
    return Interactions(data.indptr, new_index[data.indices], int(seen.sum()),
                        ratings=data.ratings, times=data.times, user_ids=data.user_ids,
                        item_ids=data.item_ids[seen], positions=data.positions,
                        source=data.source)


def strong_generalization(data: Interactions, n_heldout: int | float, *, rng: Rng = None,
                          held_out_fraction: float = 0.2,
                          min_items: int = 5) -> StrongSplit:
    """Hold out whole users for validation and test (Liang et al. 2018, §4.1).

    Args:
        data: implicit interactions (e.g. ML ratings >= 4 after `binarize`).
        n_heldout: validation users = test users = n_heldout (an int), or a fraction of
            all users (a float < 1; e.g. 600 of ML-1M's 6,040 users, or 0.1).
        rng: a `np.random.Generator` or a seed; it shuffles the users and draws the
            held-out entries.
        held_out_fraction: share of a held-out user's entries to evaluate (0.2).
        min_items: users with fewer entries keep them all in fold-in.
    """
    check_kind(data, (Interactions,), "strong_generalization")
    if isinstance(n_heldout, float) and not 0 < n_heldout < 1:
        raise DataError(f"strong_generalization: n_heldout must be a number of users or a "
                        f"fraction in (0, 1), got {n_heldout}")
    rng = as_generator(rng, "strong_generalization")
    U = data.n_users
    n = int(round(n_heldout * U)) if isinstance(n_heldout, float) else int(n_heldout)
    if n < 1 or 2 * n >= U:
        raise DataError(f"strong_generalization: {n} validation and {n} test users leave "
                        f"no training users out of {U}")
    perm = rng.permutation(U)                                           # (U,)
    groups = [np.sort(perm[:U - 2 * n]), np.sort(perm[U - 2 * n:U - n]), np.sort(perm[U - n:])]
    train = data.select_users(groups[0])
    seen = train.item_counts() > 0                                      # (V,)
    train = _restrict_items(train, seen)
    parts, record = [], {"protocol": "strong-generalization", "heldout_users": n,
                         "held_out_fraction": held_out_fraction, "min_items": min_items,
                         "train_users": train.n_users, "items": train.n_items,
                         "train": train.nnz}
    for name, users in (("valid", groups[1]), ("test", groups[2])):
        part = _restrict_items(data.select_users(users), seen)
        held = random_holdout_mask(part, held_out_fraction, rng, per_user=True,
                               min_entries=min_items)
        fold_in, held_out = part.select_entries(~held), part.select_entries(held)
        parts += [fold_in, held_out]
        record.update({f"{name}_users": part.n_users, f"{name}_fold_in": fold_in.nnz,
                       f"{name}_held_out": held_out.nnz,
                       f"{name}_users_without_held_out":
                           int((held_out.row_lengths() == 0).sum()),
                       f"{name}_dropped_unseen_items":
                           int(data.select_users(users).nnz - part.nnz)})
    return StrongSplit(train, *parts, record)
