"""benchmarks/profile_step.py: its exclusive part timer, and a short run on synthetic data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def profile_step(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import profile_step
    return profile_step


def test_a_part_inside_another_counts_for_itself_only(profile_step, monkeypatch):
    clock = iter([0.0, 1.0, 4.0, 10.0])       # outer starts, inner starts, inner ends, outer ends
    monkeypatch.setattr(profile_step.time, "perf_counter", lambda: next(clock))
    timer = profile_step.PartTimer()
    result = timer.run("outer", lambda: timer.run("inner", lambda: "done"))
    assert result == "done"
    assert timer.seconds == {"inner": 3.0, "outer": 7.0}


def test_the_timer_records_a_part_that_raises(profile_step):
    timer = profile_step.PartTimer()

    def fails():
        raise ValueError("bad step")
    with pytest.raises(ValueError, match="bad step"):
        timer.run("part", fails)
    assert set(timer.seconds) == {"part"} and not timer._inner


def test_wrapping_times_the_calls_a_module_makes_and_leaves_its_results(profile_step):
    import types

    from nprec.layers import dropout_forward
    module = types.ModuleType("nprec.models.fake")
    module.dropout_forward = dropout_forward
    module.local = lambda x: x                  # defined there, not imported from nprec: kept
    timer = profile_step.PartTimer()
    assert timer.wrap_imports(module) == ["dropout_forward"]
    import numpy as np
    y, _ = module.dropout_forward(np.ones(3), np.full(3, 2.0))
    assert y.tolist() == [2.0, 2.0, 2.0] and set(timer.seconds) == {"dropout_forward"}


def test_gru4rec_on_synthetic_data_reports_every_part(tmp_path):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "profile_step.py"), "--model",
                           "gru4rec", "--data", "synthetic", "--steps", "3", "--warmup", "1",
                           "--threads", "1"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = dict(re.findall(r"^  (\S.*?)\s+([0-9.]+)(?:\s+[0-9.]+%)?$", proc.stdout, re.M))
    for part in ("make the step", "forward, between the calls", "backward, between the calls",
                 "optimizer", "gru_train_forward", "gru_train_backward", "sampled_loss"):
        assert float(rows[part]) > 0, part
    # The parts are timed inside the step's wall time and partition it.
    together, wall = float(rows["parts together"]), float(rows["the step, wall"])
    assert 0.5 * wall < together <= wall * 1.001
