"""Test-wide settings: hypothesis profiles and the location of the shared real data sets.

Profiles: `ci` (the default: derandomised, so every run of the suite checks the same cases)
and `dev` (fewer examples, random) via `HYPOTHESIS_PROFILE=dev`. `deadline=None` because the
first call of a Numba kernel compiles it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# A long randomised search for the edge cases the fixed CI draws miss (run before a release).
settings.register_profile("deep", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def shared_data_dir() -> Path | None:
    """`$NPREC_DATA`, else `../shared/data` beside the repository, else None."""
    env = os.environ.get("NPREC_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    return None


@pytest.fixture
def shared_data() -> Path:
    """The shared real data sets; the test is skipped (not failed) when they are absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set NPREC_DATA or place ../shared/data")
    return path
