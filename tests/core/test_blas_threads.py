"""quiet_blas_threads: OpenBLAS's idle workers sleep soon after a product, and nothing else
changes (thread count, results, the environment children see)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenBLAS on Linux")

# The script runs a product, then sleeps 0.1 s and reports the CPU time the process used
# while the main thread slept: that is the workers spinning (NumPy's OpenBLAS, then SciPy's
# own). It also reports the product's bits, the process's thread count after the products,
# and whether the variable leaked.
IDLE = textwrap.dedent("""
    import hashlib, json, os, sys, time
    import numpy as np
    import scipy.linalg                    # SciPy's own OpenBLAS is loaded too
    from nprec.blas_threads import loaded_openblas, quiet_blas_threads
    applied = quiet_blas_threads() if sys.argv[1] == "quiet" else None
    again = quiet_blas_threads() if sys.argv[1] == "quiet" else None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((600, 600))
    b = rng.standard_normal((600, 600))
    def idle_cpu(product):
        spun = []
        for _ in range(3):
            c = product()
            start = time.process_time()
            time.sleep(0.1)
            spun.append(time.process_time() - start)
        return c, min(spun)
    c, spun = idle_cpu(lambda: a @ b)
    _, spun_scipy = idle_cpu(lambda: scipy.linalg.blas.dgemm(1.0, a, b))
    print(json.dumps({"applied": applied, "again": again, "spun": spun, "spun_scipy": spun_scipy,
                      "bits": hashlib.sha256(c.tobytes()).hexdigest(),
                      "threads": len(os.listdir("/proc/self/task")),
                      "env": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
                      "openblas": loaded_openblas()}))
""")


def _run(mode: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", IDLE, mode], capture_output=True, text=True,
                         check=True, env=env).stdout
    return json.loads(out)


@linux
def test_idle_workers_stop_spinning_and_nothing_else_changes(monkeypatch):
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    default = _run("default")
    if not default["openblas"]:
        pytest.skip("NumPy here is not built on OpenBLAS")
    quiet = _run("quiet")
    assert quiet["applied"] is True and quiet["again"] is True
    assert quiet["env"] is None                      # children see the environment as it was
    assert quiet["threads"] == default["threads"]
    assert quiet["bits"] == default["bits"]
    if default["spun"] < 0.03:
        pytest.skip("this OpenBLAS's workers do not spin for long (one core, or another "
                    "build); nothing to measure against")
    # By default a worker spins through most of the 0.1 s nap (about 0.1 s of CPU time);
    # with the short timeout it sleeps within a millisecond.
    assert quiet["spun"] < 0.02
    assert quiet["spun_scipy"] < 0.02


@linux
def test_the_environment_s_own_timeout_stands(monkeypatch):
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "25")
    run = _run("quiet")
    assert run["applied"] is False
    assert run["env"] == "25"
