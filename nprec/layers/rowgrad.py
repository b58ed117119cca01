"""`RowGrad`: the gradient of an embedding table, kept as its touched rows only.

A mini-batch reads a few hundred rows of an item table with tens of thousands of rows, so its
gradient is zero almost everywhere. nprec never materialises that (V, D) matrix on a training
path: the embedding backward returns the touched rows, sorted and unique, with the gradients of
repeated ids already summed, and the optimizers update those rows only (DESIGN.md §3).
"""

from __future__ import annotations

import numpy as np


class RowGrad:
    """A row-sparse gradient of a (n_rows, D) parameter.

    Attributes:
        rows:   (K,) int64, sorted and unique row indices.
        values: (K, D) gradient of each listed row (rows not listed have zero gradient).
        n_rows: number of rows of the parameter the gradient belongs to.
    """

    __slots__ = ("rows", "values", "n_rows")

    def __init__(self, rows: np.ndarray, values: np.ndarray, n_rows: int) -> None:
        self.rows = rows
        self.values = values
        self.n_rows = int(n_rows)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the dense parameter this gradient belongs to."""
        return (self.n_rows,) + self.values.shape[1:]

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def to_dense(self) -> np.ndarray:
        """The full (n_rows, D) gradient; for tests and small tables only."""
        dense = np.zeros(self.shape, dtype=self.values.dtype)  # (n_rows, D)
        dense[self.rows] = self.values
        return dense

    def __add__(self, other: RowGrad) -> RowGrad:
        """Sum of two row gradients of the same parameter (a table read twice)."""
        if not isinstance(other, RowGrad) or other.shape != self.shape:
            return NotImplemented
        rows = np.concatenate([self.rows, other.rows])                  # (K1 + K2,)
        values = np.concatenate([self.values, other.values])            # (K1 + K2, D)
        from nprec.kernels import coalesce_rows

        merged_rows, merged = coalesce_rows(rows, values)
        return RowGrad(merged_rows, merged, self.n_rows)

    def __repr__(self) -> str:
        return (f"RowGrad(rows={self.rows.size} of {self.n_rows}, "
                f"values={self.values.shape}, dtype={self.values.dtype})")
