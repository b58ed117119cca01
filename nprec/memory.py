"""Keep freed memory for reuse: how the C library's allocator can slow a training step.

A training step allocates and frees arrays of a few megabytes: activations, gradients,
temporaries such as `x @ W + b`. NumPy takes them from the C library's `malloc`. On Linux,
glibc returns the top of its heap to the operating system when more than M_TRIM_THRESHOLD
bytes are free there, and serves requests above M_MMAP_THRESHOLD with fresh mappings; both
thresholds follow the sizes it has seen, a few megabytes. The next step asks for the same
sizes again and gets memory the system must map and zero page by page. On the machine nprec
is developed on (a virtual machine) a first touch costs 2.5 to 3 microseconds a page, about
1 ms a megabyte: NARM made about 220 page faults a training step, and `x @ W + b` with
(2,408 x 50) x (50 x 300) operands took 3.2 ms, of which the product 0.4 ms.

`keep_freed_memory()` sets both thresholds once for the process (glibc's `mallopt`):
requests up to 32 MB come from the heap, and the heap keeps up to 1 GiB of free memory for
the next request instead of trimming it. The process then holds on to its peak heap size.
Measured with `benchmarks/bench_narm.py --skip-check --batches 60` (two runs each way),
NARM's training batch took 67-68 ms instead of 77-86 ms, and its PyTorch twin's, in the
same process, 98-102 ms instead of 116-150 ms (the setting applies to every allocation of
the process).

`nprec.train.fit` and the `nprec` command call it. It does nothing where it does not apply:
outside Linux, without glibc's `mallopt`, or when the environment already sets glibc's
MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_THRESHOLD_ (the user's choice stands).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1          # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 1 << 30       # free bytes the heap may keep at its top
MMAP_THRESHOLD = 32 << 20      # glibc's largest allowed value on 64-bit systems

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Make the C library keep freed memory for reuse (module docstring); idempotent.

    Returns:
        True if the thresholds are set for this process, False if nothing was done.
    """
    global _applied
    if _applied is None:
        _applied = _set_thresholds()
    return _applied


def _set_thresholds() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt             # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. The mmap threshold first: setting either one turns off
    # glibc's adjustment of both to the sizes seen.
    return (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
