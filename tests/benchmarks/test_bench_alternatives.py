"""bench_alternatives.py: every rejected design still computes what nprec computes.

The script's timings are what docs/speed.md quotes for the designs nprec did not keep; they
only mean something if each alternative gives nprec's results. At --small shapes this checks
that (bitwise for the sparse product and Adam, to 1e-6 for the blocked decoder); the
timings are not read.
"""

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_alternatives
    return bench_alternatives


def test_every_alternative_matches_nprec_at_small_shapes(bench, capsys):
    assert bench.main(["--small", "--rounds", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if " ms, " in line]
    assert [line.split()[0] for line in lines] == ["sparse-forward", "adam", "narm-decoder",
                                                   "narm-decoder"]
    assert all("same bits: True" in line for line in lines[:2])
    assert "FAILED" not in "".join(lines)


def test_an_alternative_that_differs_fails_the_run(bench, monkeypatch, capsys):
    # A wrong alternative must turn the run red, not print a timing beside nprec's.
    real = bench.csc_matmul

    def off_by_one(col_ptr, entry, row, data, W, out):
        real(col_ptr, entry, row, data, W, out)
        out[0, 0] += 1.0
    monkeypatch.setattr(bench, "csc_matmul", off_by_one)
    assert bench.main(["--small", "--rounds", "1", "--only", "sparse-forward"]) == 1
    assert "FAILED" in capsys.readouterr().out
