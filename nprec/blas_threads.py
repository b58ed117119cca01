"""Let BLAS's idle threads sleep: how OpenBLAS's waiting workers slow Numba's kernels.

NumPy's matrix products run in OpenBLAS, which keeps one worker thread per extra core. When
a product ends, its workers do not sleep at once: each spins, polling for the next product,
for OpenBLAS's thread timeout of 2^28 time-stamp-counter ticks — about 0.1 s on a 2-3 GHz
CPU. A training step of nprec calls a BLAS product and, a fraction of a millisecond later,
a parallel Numba kernel (NARM's fused softmax over the (512 x 17,376) score matrix of
YooChoose 1/64 that the product has just written, say). On a machine with two cores the
spinning worker holds the second core, so the kernel's second thread waits for the
operating system to share it out. Measured on a 2-core Intel Xeon with
`OPENBLAS_THREAD_TIMEOUT` set for the whole process (`benchmarks/profile_step.py --model
narm --steps 100 --warmup 10`, three rounds alternating 2^4, 2^18 and the default 2^28),
NARM's `softmax_ce_fused_forward` took 5.9-6.3, 6.3-7.5 and 9.0-10.0 ms a step, the whole
step 45.8-46.9, 43.0-48.2 and 46.8-49.0 ms. The short timeout has a price: the GRU's
products, one small product per time step with a compiled pass between two of them, find
their workers asleep more often. In five more rounds of 2^18 against the default, the GRU's
forward took 4.8-5.9 ms against 4.8-5.1 and its backward 6.3-6.6 against 6.1-6.3, the
softmax 5.6-8.1 against 8.9-10.0 and the whole step 42.8-49.5 against 46.8-49.6 ms. 2^20
(about 0.4 ms) left the softmax at 7.9-8.1 ms in three rounds of five, 2^22 at 8.7-8.8 in
both of two. GRU4Rec's DIGINETICA step (`--model gru4rec --steps 400 --warmup 100`) did not
move (18.1-19.7 ms default, 19.3-20.0 with 2^18), its kernels running on one thread or
after work that is not BLAS. In `benchmarks/bench_narm.py --data yoochoose1_64 --threads 2
--batches 100 --skip-check`, three alternating pairs of processes, nprec's NARM batch took
44.6-44.7 ms against 46.4-47.5 ms with the default; Mult-VAE's epoch
(`bench_autoencoders.py --threads 2 --skip-check`) 0.385-0.396 s against 0.390-0.407 s,
about the size of the noise.

`quiet_blas_threads()` shortens the timeout, once for the process, to 2^18 ticks (about
0.1 ms), long enough for the next product of a step's run of products to find its workers
awake, short enough that they sleep before a Numba kernel needs the core. OpenBLAS reads
the timeout (`OPENBLAS_THREAD_TIMEOUT`, an exponent from 4 to 30) only when it starts its
threads; the function sets the variable, has every loaded OpenBLAS read its environment
again and restart its threads (`openblas_read_env`, `blas_thread_shutdown_`,
`blas_thread_init`), then removes the variable, so child processes see the environment
they would have seen. The number of threads and every result stay as they were.

`nprec.train.fit` and the `nprec` command call it. It does nothing where it does not apply:
outside Linux, when no loaded library is OpenBLAS with these three functions (NumPy built
against MKL or Accelerate, say), or when the environment already sets
OPENBLAS_THREAD_TIMEOUT (the user's choice stands). Call it while no other thread of the
process is inside a BLAS call: restarting the workers under a running product is unsafe.
"""

from __future__ import annotations

import ctypes
import os
import sys

import numpy  # noqa: F401  (NumPy's OpenBLAS is loaded with numpy itself)

QUIET_TIMEOUT = 18             # exponent: workers spin 2^18 TSC ticks, then sleep
ENV = "OPENBLAS_THREAD_TIMEOUT"
_FUNCTIONS = ("openblas_read_env", "blas_thread_shutdown_", "blas_thread_init")

_applied: bool | None = None


def quiet_blas_threads() -> bool:
    """Make OpenBLAS's idle workers sleep after 2^18 ticks (module docstring); idempotent.

    Returns:
        True if at least one loaded OpenBLAS now uses the short timeout, False if nothing
        was done.
    """
    global _applied
    if _applied is None:
        _applied = _set_timeout(QUIET_TIMEOUT)
    return _applied


def loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux), in load order."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split(maxsplit=5)[-1].strip()
                name = os.path.basename(path)
                if "openblas" in name.lower() and ".so" in name and path not in paths:
                    paths.append(path)
    except OSError:
        return []
    return paths


def _set_timeout(exponent: int) -> bool:
    if not sys.platform.startswith("linux") or ENV in os.environ:
        return False
    libraries = []
    for path in loaded_openblas():
        try:
            lib = ctypes.CDLL(path)              # the copy already loaded: same handle
            functions = [getattr(lib, name) for name in _FUNCTIONS]
        except (OSError, AttributeError):
            continue
        read_env, shutdown, init = functions
        read_env.restype = None
        shutdown.restype = init.restype = ctypes.c_int     # 0 on success
        libraries.append(functions)
    if not libraries:
        return False
    os.environ[ENV] = str(exponent)
    try:
        done = 0
        for read_env, shutdown, init in libraries:
            read_env()
            # The workers start again with the timeout just read: they spin it once, then
            # sleep until the next product wakes them.
            if shutdown() == 0 and init() == 0:
                done += 1
    finally:
        del os.environ[ENV]
        for read_env, _, _ in libraries:
            read_env()                           # the library's view of the environment
    return done > 0
