"""How the kernels are compiled: the threading layer and the division error model."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nprec.kernels._jit import jit

_PROBE = """
import numpy as np, numba
from nprec.kernels import topk_rows
topk_rows(np.random.default_rng(0).random((300, 3000)), 10)   # a parallel kernel
print(numba.threading_layer())
"""


def _layer(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True)
    if out.returncode and "threading layer" in out.stderr:
        pytest.skip(f"threading layer {env.get('NUMBA_THREADING_LAYER')} not available here")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_parallel_kernels_run_on_workqueue_unless_the_environment_says_otherwise():
    # A fresh process with the JIT on (the suite also runs with NUMBA_DISABLE_JIT=1).
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "NUMBA_DISABLE_JIT")}
    env["NUMBA_NUM_THREADS"] = "2"
    assert _layer(env) == "workqueue"
    assert _layer({**env, "NUMBA_THREADING_LAYER": "omp"}) == "omp"


@jit()
def _divide(a, b):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = a[i] / b[i]
    return out


def test_float_division_by_zero_follows_numpy():
    a = np.array([1.0, -1.0, 0.0])
    with np.errstate(divide="ignore", invalid="ignore"):    # NumPy's warnings without JIT
        out = _divide(a, np.zeros(3))       # error_model="numpy": no ZeroDivisionError
    assert out[0] == np.inf and out[1] == -np.inf and np.isnan(out[2])
