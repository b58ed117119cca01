"""The reparameterisation trick: a Gaussian sample that gradients can flow through.

The noise is data (DESIGN.md §3): the caller draws eps ~ N(0, I) from its own
`np.random.Generator`, so forward is deterministic and checkable by finite differences.
The matching KL term is `nprec.losses.gaussian_kl`.

Derivation: docs/derivations/vae.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ReparamCache(NamedTuple):
    std: np.ndarray      # (B, L) exp(logvar / 2)
    eps: np.ndarray      # (B, L) the standard-normal noise


def reparam_forward(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray
                    ) -> tuple[np.ndarray, ReparamCache]:
    """z = mu + exp(logvar / 2) ⊙ eps (Kingma & Welling 2014, §2.4; Liang et al. 2018, Mult-VAE).

    Args:
        mu: (B, L) means.  logvar: (B, L) log variances.  eps: (B, L) noise, N(0, 1).
    Returns:
        z (B, L) and a `ReparamCache` (the standard deviations and the noise).
    """
    std = np.exp(0.5 * logvar)                                          # (B, L)
    z = mu + std * eps                                                  # (B, L)
    return z, ReparamCache(std, eps)


def reparam_backward(dz: np.ndarray, cache: ReparamCache) -> tuple[np.ndarray, ...]:
    """Backward of `reparam_forward`.

    Returns dmu (B, L), dlogvar (B, L), deps (B, L). eps is noise, but it is a float
    argument, so its true gradient std ⊙ dz is returned (the caller may ignore it).
    """
    std, eps = cache
    dmu = dz.copy()                                                     # (B, L) identity path
    # std = exp(logvar / 2), so d std / d logvar = std / 2.
    dlogvar = dz * eps * std * 0.5                                      # (B, L)
    deps = dz * std                                                     # (B, L)
    return dmu, dlogvar, deps
