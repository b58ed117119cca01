"""keep_freed_memory: freed arrays are reused without the system mapping pages again."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")

# Each round allocates two 3 MB arrays, as `x @ W + b` does, and frees them; the script
# prints the page faults of the last ten rounds.
ROUNDS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from nprec.memory import keep_freed_memory
    applied = keep_freed_memory() if sys.argv[1] == "keep" else None
    x = np.ones((2408, 50), dtype=np.float32)
    w = np.ones((50, 300), dtype=np.float32)
    b = np.ones(300, dtype=np.float32)
    for r in range(20):
        if r == 10:
            start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        y = x @ w + b
        del y
    print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
""")


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


@linux
def test_freed_arrays_are_reused_without_page_faults(monkeypatch):
    for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(k, raising=False)
    default = _faults("default")[1]
    applied, kept = _faults("keep")
    if applied != "True":
        pytest.skip("this C library has no glibc mallopt")
    # Without the setting every round maps its 6 MB again (about 1,400 pages in ten rounds);
    # with it, the rounds reuse the heap.
    assert default > 1000
    assert kept < 50


@linux
def test_the_environment_s_own_thresholds_stand(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert _faults("keep")[0] == "False"
