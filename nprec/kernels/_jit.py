"""How every nprec kernel is compiled and which threads run the parallel ones.

`@jit(...)` is Numba's `njit` with two fixed options.

- `cache=True`: the machine code is written next to the module (`__pycache__`), so a new
  process loads it instead of compiling again.
- `error_model="numpy"`: a float division by zero gives inf or nan, as in NumPy (and in the
  kernels' NumPy twins), instead of raising ZeroDivisionError. With Numba's default
  ("python") every division carries a zero test, and that branch keeps LLVM from vectorising
  the loop: the fused Adagrad update of a 512 x 1536 float32 matrix took 1.79 ms with it and
  0.48 ms without (NumPy's seven passes: 2.2 ms). Inputs are validated before a kernel runs,
  so no kernel relies on the exception.

The threading layer of the `parallel=True` kernels is Numba's own `workqueue` unless the
environment names one (NUMBA_THREADING_LAYER). The default it replaces, OpenMP, keeps its
threads spinning after a parallel loop; a training step alternates short kernels with BLAS
products whose threads spin too, so on a machine with as many cores as threads the two
pools take turns on the cores and each step waits for the scheduler. GRU4Rec's DIGINETICA
step (layers 512, batch 128, 2,048 negatives, 2 threads) took 62.6 ms with OpenMP and
21.4 ms with workqueue, whose idle threads sleep (21.7 ms with the kernels on one thread).
Workqueue cannot be entered by two Python threads at once (Numba stops the process with a
message saying so): a program that calls nprec from several threads should set
NUMBA_THREADING_LAYER=omp (or tbb, if installed).

Sleeping threads have to be woken, and on the development machine (a 2-core VM) that is
what a parallel region costs when it has little to do: an empty two-iteration `prange` took
0.13-0.21 ms with workqueue, 0.05-0.09 ms with OpenMP told to sleep (OMP_WAIT_POLICY=passive)
and 3 µs with OpenMP's spinning threads. That is why the kernels start threads only from a
size (PARALLEL_MIN_SIZE, PARALLEL_WORK): GRU4Rec's blend at DIGINETICA's 128 x 512 took
0.05 ms serial and 0.22 ms parallel right after a product. Whole steps hardly notice,
though (DIGINETICA steps with every row kernel serial took 26.6 ms against 26.6 ms, eight
alternating blocks of 100 steps): most likely the next product pays instead, its BLAS
threads having gone to sleep in the meantime.
"""

import os
from functools import partial

import numba
from numba import njit

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

jit = partial(njit, cache=True, error_model="numpy")
