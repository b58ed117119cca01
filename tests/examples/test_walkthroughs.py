"""The walkthroughs in examples/ run to the end: they read the library's internals (batch
layouts, caches, gradient shapes), so a change there must not leave them broken.

Each runs in its own process with its shortest settings (real data from ../shared/data when
present, otherwise the built-in synthetic data) and must exit 0 and print its last section.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CASES = {
    "mf_walkthrough.py": [],
    "ncf_walkthrough.py": [],
    "gru4rec_walkthrough.py": ["--epochs", "1"],
    "narm_walkthrough.py": ["--epochs", "1", "--sessions", "2000"],
    "multvae_walkthrough.py": ["--epochs", "2"],
}


def test_every_walkthrough_is_run():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CASES)


@pytest.mark.parametrize("script", sorted(CASES))
def test_walkthrough_runs(script):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *CASES[script]],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert len(done.stdout.splitlines()) > 10, done.stdout
