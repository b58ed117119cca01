"""The KL term of a VAE with a standard-normal prior and a diagonal Gaussian posterior.

The sample itself is `nprec.layers.reparam_forward`; Mult-VAE's reconstruction term is
`multinomial_nll`. Mult-VAE's objective is multinomial_nll + β · gaussian_kl.

Derivation: docs/derivations/vae.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nprec.losses._contract import as_loss, upstream_scale


class GaussianKlCache(NamedTuple):
    mu: np.ndarray       # (B, L) posterior means
    var: np.ndarray      # (B, L) exp(logvar), posterior variances


def gaussian_kl_forward(mu: np.ndarray, logvar: np.ndarray
                        ) -> tuple[np.floating, GaussianKlCache]:
    """KL(N(mu, diag exp(logvar)) ‖ N(0, I)), mean over rows (Kingma & Welling 2014, App. B).

        loss = (1/B) Σ_b ½ Σ_l (exp(logvar_bl) + mu_bl² - 1 - logvar_bl)

    Args:
        mu: (B, L) means.  logvar: (B, L) log variances.
    Returns:
        The loss (scalar of mu's dtype) and the cache (mu, exp(logvar)).
    """
    B = mu.shape[0]
    var = np.exp(logvar)                                                # (B, L)
    total = np.sum(var + mu * mu - 1.0 - logvar)
    return as_loss(0.5 * total / B, mu.dtype), GaussianKlCache(mu, var)


def gaussian_kl_backward(dloss: float, cache: GaussianKlCache) -> tuple[np.ndarray, np.ndarray]:
    """Returns dmu (B, L) = mu dloss / B and dlogvar (B, L) = ½ (exp(logvar) - 1) dloss / B."""
    mu, var = cache
    scale = upstream_scale(dloss, mu.shape[0], mu.dtype)
    dmu = mu * scale                                                    # (B, L) ½ d(mu²)
    dlogvar = (var - 1.0) * (0.5 * scale)                               # (B, L) ½ d(e^lv - lv)
    return dmu, dlogvar
