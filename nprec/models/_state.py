"""Checked restoring of a model's stored arrays: a checkpoint's `state/...` entries (the
training rows, supports and counters of the neural models) and the fitted arrays of the
baselines (their `param/...` entries).

`check_run_checkpoint` has already made sure every stored number is a finite number; what it
cannot know is what each array means to its model. An array of the wrong length, an index
past the end of a table or a row pointer that runs backwards would otherwise surface as a
traceback the first time the model scores, as a Numba kernel reading out of bounds, or as a
silently wrong ranking. So each model's `load_state_arrays` (a baseline's `set_params`)
takes its arrays through `StoredArrays`, which checks them against the sizes the model was
built with and refuses a bad one with a `CheckpointError` naming the array;
`restore_params` adds the file's name.
"""

from __future__ import annotations

from typing import NoReturn

import numpy as np
import scipy.sparse as sp

from nprec.errors import CheckpointError

# What the dtype kinds a caller asks for are called in a message.
_KINDS = {"f": "floats", "iu": "integers", "b": "booleans", "iuf": "numbers"}


def _shape_text(shape: tuple[int | None, ...]) -> str:
    """A shape as messages show it: (40,), (40, 40), or (n,) for a free length."""
    dims = ["n" if n is None else str(n) for n in shape]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


class StoredArrays:
    """The arrays a model restores, each handed out only once checked.

    Args:
        arrays: {name: array} as stored (without the checkpoint's group prefix).
        group:  the checkpoint group they came from ("state" or "param"), for messages.
    """

    def __init__(self, arrays: dict[str, np.ndarray], group: str = "state") -> None:
        self.arrays, self.group = arrays, group

    def refuse(self, name: str, problem: str) -> NoReturn:
        raise CheckpointError(f"{self.group}/{name} {problem}")

    def get(self, name: str, kinds: str, shape: tuple[int | None, ...]) -> np.ndarray:
        """The array `name`: of a dtype kind in `kinds` ("f", "iu", "b", "iuf") and of
        `shape` (None: any length along that axis)."""
        a = self.arrays.get(name)
        if a is None:
            raise CheckpointError(f"the checkpoint lacks {self.group}/{name}")
        if a.dtype.kind not in kinds:
            self.refuse(name, f"holds {a.dtype} values, not {_KINDS.get(kinds, kinds)}")
        if a.ndim != len(shape) or any(n is not None and n != m
                                       for n, m in zip(shape, a.shape, strict=True)):
            self.refuse(name, f"has shape {a.shape}, the model expects {_shape_text(shape)}")
        return a

    def indices(self, name: str, n: int, length: int | None = None) -> np.ndarray:
        """A 1-D integer array of positions in [0, n) (int64): they index a table of n."""
        a = self.get(name, "iu", (length,))
        if a.size and (a.min() < 0 or a.max() >= n):
            self.refuse(name, f"holds indices outside 0..{n - 1}")
        return a.astype(np.int64)

    def pointers(self, name: str, n_rows: int | None, total: int) -> np.ndarray:
        """A CSR row pointer (n_rows + 1,) into `total` entries (int64): row r is entries
        pointer[r]:pointer[r + 1], so it starts at 0, never decreases and ends at total."""
        # As int64 first: the differences of an unsigned array would wrap around, never < 0.
        a = self.get(name, "iu", (None if n_rows is None else n_rows + 1,)).astype(np.int64)
        if a.size == 0 or a[0] != 0 or a[-1] != total or np.any(np.diff(a) < 0):
            self.refuse(name, f"is not a valid row pointer (from 0, never decreasing, to "
                              f"{total})")
        return a

    def counts(self, name: str, n: int) -> np.ndarray:
        """(n,) non-negative numbers: one count (support, clicks) per item."""
        a = self.get(name, "iuf", (n,))
        if np.any(a < 0):
            self.refuse(name, "holds negative counts")
        return a

    def count(self, name: str) -> int:
        """A counter stored as a (1,) integer array: a whole number >= 0."""
        a = self.get(name, "iu", (1,))
        if a[0] < 0:
            self.refuse(name, f"is a negative count ({a[0]})")
        return int(a[0])

    def csr(self, indptr: str, indices: str, shape: tuple[int | None, int], *,
            data: str | None = None, dtype: np.dtype = np.float32) -> sp.csr_array:
        """The sparse matrix of the arrays `indptr`, `indices` and `data` (ones if None).

        shape: (rows, columns), rows None for any number. Each row must list its columns
        once, in increasing order (scipy's canonical form, which nprec writes): a column
        listed twice would count twice in every product.
        """
        nnz = self.get(indices, "iu", (None,)).size
        ptr = self.pointers(indptr, shape[0], nnz)
        idx = self.indices(indices, shape[1])
        self.check_increasing_in_rows(indices, ptr, idx,
                                      "lists a column twice in a row, or out of order")
        values = (np.ones(idx.size, dtype=dtype) if data is None
                  else self.get(data, "f", (idx.size,)).astype(dtype, copy=False))
        return sp.csr_array((values, idx, ptr), shape=(ptr.size - 1, shape[1]))

    def check_increasing_in_rows(self, name: str, indptr: np.ndarray, keys: np.ndarray,
                                 problem: str) -> None:
        """Refuse `name` with `problem` unless keys strictly increase within each row of
        `indptr` (a checked row pointer into keys)."""
        rising = np.diff(keys) > 0                                      # (n - 1,)
        # A new row may start lower: the step into the first entry of a row is not compared.
        starts = indptr[(indptr >= 1) & (indptr < keys.size)]
        rising[starts - 1] = True
        if not rising.all():
            self.refuse(name, problem)
