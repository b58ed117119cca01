"""Numba kernels, each beside a plain-NumPy reference twin `name_ref` with the same contract.

This package is the only place in nprec that imports Numba. `PAIRS` lists every
(fast, reference) pair; one parametrised test checks them against each other.
"""

from nprec.kernels.scatter import coalesce_rows, coalesce_rows_ref

PAIRS = [
    (coalesce_rows, coalesce_rows_ref),
]

__all__ = ["PAIRS", "coalesce_rows", "coalesce_rows_ref"]
