"""The benchmarks' RESULT lines and the table run_all.py makes of them (no PyTorch needed)."""

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def result(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _result
    return _result


def test_paired_ratio_is_the_median_of_the_rounds_own_ratios(result):
    # Round by round: 0.5, 0.4, 0.9 -> median 0.5. The medians of each side (2 and 5) would
    # give 0.4, pairing round 1's nprec with round 3's other side.
    assert result.paired_ratio([1.0, 2.0, 9.0], [2.0, 5.0, 10.0]) == pytest.approx(0.5)
    assert result.paired_ratio([3.0], [4.0]) == pytest.approx(0.75)


@pytest.mark.parametrize("ours, theirs", [([], []), ([1.0], [1.0, 2.0]), ([1.0, 0.0], [1.0, 1.0]),
                                          ([1.0, 1.0], [-1.0, 1.0])])
def test_paired_ratio_refuses_unpaired_or_non_positive_times(result, ours, theirs):
    with pytest.raises(ValueError, match="paired_ratio"):
        result.paired_ratio(ours, theirs)


def test_result_line_round_trip_with_and_without_rounds(result):
    line = result.result_line("Mult-VAE", "ml 1m", 2, 0.6, "torch-twin", 1.2, "wall",
                              rounds=([0.5, 0.7, 0.6], [1.0, 1.0, 1.5]))
    [row] = result.parse_results("noise\n" + line + "\n")
    assert row["data"] == "ml_1m"
    assert float(row["ratio"]) == pytest.approx(0.5)
    assert float(row["ratio_paired"]) == pytest.approx(0.5)          # 0.5, 0.7, 0.4
    assert row["rounds"] == "3"
    one = result.parse_results(result.result_line("GRU4Rec", "d", 2, 1.0, "official", 2.0,
                                                  rounds=([1.0], [2.0])))[0]
    assert "ratio_paired" not in one and "rounds" not in one


def test_run_all_table_shows_the_paired_ratio_and_its_rounds(result, monkeypatch):
    import run_all
    paired = result.parse_results(result.result_line(
        "NARM", "y", 2, 40.0, "torch-twin-same", 50.0, rounds=([1.0, 3.0], [2.0, 4.0])))[0]
    single = result.parse_results(result.result_line("GRU4Rec", "d", 2, 1.0, "official", 2.0))[0]
    lines = run_all.results_table([("narm", paired), ("gru4rec-diginetica", single)])
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:4]]
    column = header.index("paired ratio (rounds)")
    assert rows[0][column] == "0.625 (2)"                            # median of 0.5 and 0.75
    assert rows[1][column] == "-"
    assert rows[0][header.index("ratio")] == "0.8"


def test_run_all_records_the_openblas_environment(result, monkeypatch):
    # The kernels OpenBLAS runs change the products' speed twofold on some CPUs: RESULTS.md
    # must say which environment chose them, and that none did when none is set.
    import run_all
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert run_all.blas_environment().startswith("none set")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    assert run_all.blas_environment() == "OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE=512"


def test_run_all_update_without_official_keeps_sections_measured_with_it(result, tmp_path,
                                                                        monkeypatch, capsys):
    # Rerunning `floor` without --official would drop its GRU4Rec part: refused, file intact.
    import run_all
    monkeypatch.setattr(run_all.subprocess, "run", lambda *a, **k: pytest.fail("ran"))
    out = tmp_path / "RESULTS.md"
    text = ("# Benchmark results\n\n## floor\n\n`python benchmarks/bench_floor.py --threads 2 "
            "--official /tmp/gru4rec_official`\n\nrun ...\n")
    out.write_text(text)
    assert run_all.main(["--only", "floor", "--update", "--out", str(out)]) == 2
    assert "floor" in capsys.readouterr().err
    assert out.read_text() == text


def test_run_all_update_keeps_the_record_of_the_runs_before_it(result, tmp_path, monkeypatch):
    # The kept sections were written by an earlier command: the header must still name it.
    import subprocess

    import run_all
    fake = subprocess.CompletedProcess([], 0, stdout="new kernels output\n", stderr="")
    monkeypatch.setattr(run_all.subprocess, "run", lambda *a, **k: fake)
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nWritten by `python benchmarks/run_all.py --official "
                   "P` on 2026-12-01 10:00 UTC.\n\n## kernels\n\nold kernels output\n\n"
                   "## floor\n\n`python benchmarks/bench_floor.py --official P`\n\nold floor\n")
    assert run_all.main(["--only", "kernels", "--update", "--out", str(out)]) == 0
    text = out.read_text()
    assert "Written by `python benchmarks/run_all.py --official P` on 2026-12-01" in text
    assert "Updated by `python benchmarks/run_all.py --only kernels --update --out" in text
    assert "new kernels output" in text and "old kernels output" not in text
    assert "old floor" in text
