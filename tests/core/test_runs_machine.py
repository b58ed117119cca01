"""What results.json records of the machine: NumPy's BLAS as it runs (`nprec.runs.blas_runtime`).

Checked in fresh processes, whose environment chooses OpenBLAS's kernels and threads: the
record must follow it, since those settings change a product's bits.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from nprec.runs import blas_runtime, versions

OPENBLAS = "openblas" in np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]


def _blas_in(env_update: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENBLAS_", "OMP_", "MKL_"))}
    env.update(env_update)
    code = "import json; from nprec.runs import blas_runtime; print(json.dumps(blas_runtime()))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not OPENBLAS or platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="NumPy's BLAS is not OpenBLAS on x86-64")
def test_the_record_follows_the_kernels_and_threads_the_environment_chooses():
    one = _blas_in({"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "1"})
    two = _blas_in({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2"})
    assert (one["core"], one["threads"]) == ("Sandybridge", 1)
    assert (two["core"], two["threads"]) == ("Haswell", 2)
    assert two["config"].startswith("OpenBLAS ")


@pytest.mark.skipif(not OPENBLAS, reason="NumPy's BLAS is not OpenBLAS")
def test_versions_carry_this_process_blas():
    mine = blas_runtime()
    assert versions()["blas"] == mine
    assert mine["threads"] >= 1 and mine["core"]


def test_no_openblas_is_an_empty_record(monkeypatch):
    # A process map that names no OpenBLAS (another BLAS, or no /proc): nothing is guessed.
    import builtins

    real_open = builtins.open

    def fake_open(path, *args, **kwargs):
        if path == "/proc/self/maps":
            raise OSError("no /proc here")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    assert blas_runtime() == {}
