"""EASE^R: a closed-form linear item-item model (Steck, WWW 2019).

Learn B (V, V) with zero diagonal minimising ||X - X B||_F^2 + λ ||B||_F^2. With the Gram
matrix G = X^T X and P = (G + λ I)^{-1}, the closed-form solution of the constrained
problem (Lagrange multipliers for diag(B) = 0; Steck 2019, §2) is

    B = I - P · diagMat(1 ⊘ diag(P)),   i.e.  B_ij = -P_ij / P_jj  (i ≠ j),  B_jj = 0,

and a user's scores are x_u B. One dense V × V inverse: seconds for V ≈ 4k (ML-1M),
minutes for V ≈ 20k (ML-20M). λ is the only hyperparameter; pick it on a validation split
with `tune_ease`, never on the test set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from nprec.data.containers import Interactions
from nprec.errors import ConfigError
from nprec.metrics.protocols import evaluate_loo_full, evaluate_ncf_loo99
from nprec.models._indices import as_candidates, as_fold_in, as_users, check_kind


def gram_matrix(X) -> np.ndarray:
    """X^T X (V, V) float64 of a sparse (U, V) matrix: item co-occurrence counts."""
    return (X.T @ X).toarray().astype(np.float64)                       # (V, V)


class EASE:
    """Embarrassingly shallow autoencoder: scores x_u B with the closed-form B.

    Args:
        lam: the L2 weight λ (Steck used 500 on ML-20M, 1000 on Netflix).
    """

    def __init__(self, lam: float = 500.0) -> None:
        if not lam > 0:
            raise ConfigError(f"EASE: lam must be > 0, got {lam}")
        self.lam = float(lam)
        self.B: np.ndarray | None = None
        self.X = None

    def fit(self, train: Interactions, gram: np.ndarray | None = None) -> EASE:
        """Solve for B from the binary user-item matrix of `train`.

        gram: X^T X (V, V) float64 if already computed (`tune_ease` reuses it).
        """
        check_kind(train, (Interactions,), "EASE: fit", "train")
        self.X = train.to_csr(dtype=np.float32)                         # (U, V) sparse
        G = gram_matrix(self.X) if gram is None else gram.copy()        # (V, V)
        G[np.diag_indices_from(G)] += self.lam
        # P = (G + λI)^{-1} by Cholesky: G + λI is symmetric positive definite for λ > 0.
        # G.T is G (symmetric) in Fortran order, so LAPACK works in place without a copy.
        chol, info = lapack.dpotrf(G.T, lower=0, overwrite_a=1)
        P, info2 = lapack.dpotri(chol, lower=0, overwrite_c=1)          # upper triangle
        if info or info2:
            raise ConfigError(f"EASE: G + λI is not positive definite (λ={self.lam})")
        P = np.triu(P) + np.triu(P, 1).T                                # (V, V) symmetric
        B = P / (-np.diag(P))[None, :]                                  # (V, V) -P_ij / P_jj
        B[np.diag_indices_from(B)] = 0.0
        self.B = B.astype(np.float32)
        return self

    def _check(self) -> None:
        if self.B is None:
            raise ConfigError("EASE: call fit(train) before scoring")

    def score_all(self, users: np.ndarray) -> np.ndarray:
        """(B, V) scores x_u B of the training rows of `users`."""
        self._check()
        users = as_users(users, self.X.shape[0], "score_all")
        return np.asarray(self.X[users] @ self.B)                       # (B, V)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(B, C) scores of the candidate items (B, C), without the full (B, V) product.

        score[b, c] = sum over the entries e of user b's row of x_e B[item_e, items[b, c]]:
        gather those rows of B at the candidate columns, (nnz_b, C), then sum each user's
        entries with a sparse (B, nnz_b) matrix product.
        """
        self._check()
        users, items = as_candidates(users, items, self.X.shape[0], self.B.shape[0])
        Xb = self.X[users]                                              # (B, V) sparse
        row = np.repeat(np.arange(len(users)), np.diff(Xb.indptr))      # (nnz_b,)
        picked = self.B[Xb.indices[:, None], items[row]]                # (nnz_b, C)
        R = sp.csr_array((Xb.data, np.arange(Xb.nnz), Xb.indptr),
                         shape=(len(users), Xb.nnz))                    # (B, nnz_b)
        return R @ picked                                               # (B, C)

    def score_fold_in(self, X) -> np.ndarray:
        """(B, V) scores x B of fold-in rows X (B, V) (users unseen in training)."""
        self._check()
        X = as_fold_in(X, self.B.shape[0], self.B.dtype)                # (B, V)
        return np.asarray(X @ self.B, dtype=np.float32)                 # (B, V)


def tune_ease(train: Interactions, valid: Interactions, lambdas: Sequence[float], *,
              metric: str = "ndcg@10", protocol: str = "loo-full", **protocol_args
              ) -> tuple[float, dict[float, float]]:
    """Pick λ by a validation metric; returns (best λ, {λ: metric}).

    `valid` holds held-out items of the training users (e.g. each user's last training
    interaction), `train` the rest; the model is fitted on `train` for every λ and evaluated
    with `protocol` ("loo-full" or "ncf-loo99", extra arguments passed on; `ks` and `metrics`
    default to the ones `metric` names), under the protocol's tie policy. Refit on the full
    training data with the chosen λ before testing.
    """
    name, _, k = metric.partition("@")
    if not k.isdigit():
        raise ConfigError(f"tune_ease: metric must look like 'ndcg@10', got {metric!r}")
    protocol_args.setdefault("ks", (int(k),))
    protocol_args.setdefault("metrics", (name,))
    evaluate = {"loo-full": lambda m: evaluate_loo_full(m.score_all, train, valid,
                                                        **protocol_args),
                "ncf-loo99": lambda m: evaluate_ncf_loo99(m.score_items, train, valid,
                                                          **protocol_args)}
    if protocol not in evaluate:
        raise ConfigError(f"tune_ease: protocol must be loo-full or ncf-loo99, got {protocol!r}")
    scores = {}
    G = gram_matrix(train.to_csr(dtype=np.float32))                     # (V, V) once
    for lam in lambdas:
        result = evaluate[protocol](EASE(lam).fit(train, gram=G))
        if metric not in result["metrics"]:
            raise ConfigError(f"tune_ease: the protocol does not report {metric!r} "
                              f"(it reports {', '.join(result['metrics'])})")
        scores[float(lam)] = result["metrics"][metric]
    best = max(scores, key=scores.get)
    return best, scores
