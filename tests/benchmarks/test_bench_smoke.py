"""The model benchmarks' nprec side runs, for a few steps, where PyTorch is not installed.

PyTorch is only a benchmark extra and CI has none, so every case here blocks `import torch`
(`sys.modules["torch"] = None`) even on a machine that has it: a script that reaches for
torch on its nprec side fails here as it would there. The scripts run in their own processes
through _run_without_torch.py, which also counts nprec's optimizer steps and checks every loss
and parameter is finite; bench_floor's products and passes run in this process, its PyTorch
side replaced by fixed step times. Synthetic data where the script has it (GRU4Rec, NARM,
NCF), the real ML-1M and session sets otherwise (skipped when ../shared/data is absent).

The benchmark processes run in the background, two at a time, from the module's first test
on, so the in-process cases overlap them. No case times anything meant to be read.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pytest
from conftest import shared_data_dir

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
RUNNER = Path(__file__).resolve().parent / "_run_without_torch.py"
ENV = dict(os.environ, NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
ML1M_RATINGS = Path("ml-1m") / "ratings_partial" / "ml-1m.ratings_known.tsv.gz"


@dataclass(frozen=True)
class Case:
    script: str
    args: tuple[str, ...]
    data: Path | None = None          # what the case needs under the shared data, if anything


AE_ROUNDS = 1
CASES = {   # the longest first (they start in this order)
    # 4 timed steps of each of GMF, MLP, NeuMF (after an untimed one).
    "ncf": Case("bench_ncf.py", ("--data", "synthetic", "--skip-check", "--only", "nprec",
                                 "--steps", "4", "--threads", "1", "--blas-threads", "1")),
    # Whole epochs (the script has no shorter unit): a warm-up round and AE_ROUNDS timed.
    "autoencoders": Case("bench_autoencoders.py", ("--data", "{data}", "--skip-check", "--only",
                                                   "nprec", "--rounds", str(AE_ROUNDS),
                                                   "--threads", "1"), ML1M_RATINGS),
    # 1 untimed warm-up batch, then 2 timed.
    "narm": Case("bench_narm.py", ("--data", "synthetic", "--skip-check", "--only", "nprec",
                                   "--batches", "2", "--threads", "1")),
    # 2 untimed warm-up steps, then 2 epochs of 3 steps each.
    "gru4rec": Case("bench_gru4rec.py", ("--data", "synthetic", "--skip-check", "--only",
                                         "nprec", "--epochs", "2", "--steps", "3",
                                         "--threads", "1")),
}

# Every script in benchmarks/ is either run above (or in-process, bench_floor) or has a reason
# not to be; a new script must be added to one or the other.
NOT_RUN = {
    "accuracy_multvae_twin.py": "trains the PyTorch twin: nothing runs without torch",
    "bench_layers.py": "layer timings, not a model benchmark",
    "bench_kernels.py": "kernel timings, not a model benchmark",
    "bench_eval.py": "evaluation timings, not a model benchmark",
    "bench_io.py": "reader timings, not a model benchmark",
    "run_all.py": "the driver (its table: test_result_lines.py)",
    "profile_step.py": "run by test_profile_step.py",
    "bench_alternatives.py": "run with --small by test_bench_alternatives.py",
    "_result.py": "a helper (test_result_lines.py)",
    "_settle.py": "a helper",
}
IN_PROCESS = {"bench_floor.py"}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def smoke(self) -> dict[str, str]:
        """The runner's SMOKE line: steps, losses, non-finite counts, torch=blocked."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("SMOKE ")]
        assert len(lines) == 1, self.stdout[-2000:]
        return dict(word.split("=", 1) for word in lines[0].split()[1:])

    def check(self, steps: int) -> None:
        """Exit 0, no traceback, `steps` optimizer steps, every loss and parameter finite,
        torch never imported, no RESULT line (there is no other side to pair)."""
        assert self.returncode == 0, self.stderr[-3000:]
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        smoke = self.smoke()
        assert smoke == {"steps": str(steps), "losses": str(steps), "nonfinite_losses": "0",
                         "nonfinite_params": "0", "torch": "blocked"}, self.stdout[-2000:]
        assert not [line for line in self.stdout.splitlines() if line.startswith("RESULT")]


def run_without_torch(case: Case, data_root: Path | None) -> Run:
    args = [a.format(data=data_root / case.data) if case.data else a for a in case.args]
    done = subprocess.run([sys.executable, str(RUNNER), str(BENCHMARKS / case.script), *args],
                          capture_output=True, text=True, timeout=600, env=ENV, cwd=ROOT)
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module", autouse=True)
def runs(request):
    """The selected cases' runs, started in the background when the module's first test is."""
    data_root = shared_data_dir()
    wanted = {item.callspec.params["name"] for item in request.session.items
              if getattr(item, "module", None) is request.module
              and item.originalname == "test_nprec_side_runs_without_torch"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures: dict[str, Future] = {
            name: pool.submit(run_without_torch, case, data_root)
            for name, case in CASES.items()
            if name in wanted and (case.data is None
                                   or (data_root is not None and (data_root / case.data).exists()))}
        yield futures
        for future in futures.values():
            future.cancel()


def floats(pattern: str, text: str) -> list[tuple[str, ...]]:
    """Every match of `pattern` (multiline) in `text`, as tuples of its groups."""
    return [m.groups() for m in re.finditer(pattern, text, re.MULTILINE)]


def positive(*values: str) -> bool:
    return all(math.isfinite(float(v)) and float(v) > 0 for v in values)


def check_gru4rec(run: Run) -> None:
    run.check(steps=2 + 2 * 3)                            # 2 warm-up steps, 2 epochs of 3
    epochs = floats(r"^  epoch (\d+) nprec ([\d.]+)s \(cpu ([\d.]+)s\)$", run.stdout)
    assert [e[0] for e in epochs] == ["1", "2"], run.stdout
    assert all(positive(*e[1:]) for e in epochs)
    [median] = floats(r"^  nprec\s+(\S+) s/epoch \(cpu\s+(\S+) s\)\s+(\S+) events/s", run.stdout)
    assert positive(*median), run.stdout


def check_narm(run: Run) -> None:
    run.check(steps=1 + 2)
    [(timed, total)] = floats(r"^speed: (\d+) training batches of (\d+) per epoch", run.stdout)
    assert timed == "2", run.stdout
    [(ms, epoch)] = floats(r"^  nprec\s+(\S+) ms/batch\s+(\S+) s/epoch$", run.stdout)
    assert positive(ms, epoch), run.stdout
    assert float(epoch) == pytest.approx(float(ms) * int(total) / 1e3, rel=1e-2, abs=0.1)


def check_ncf(run: Run) -> None:
    run.check(steps=3 * (1 + 4))                        # an untimed step, then 4 timed
    rows = floats(r"^(\w+)\s+(\d+)\s+(\S+)\s+-\s+-\s+(\S+)\s+-$", run.stdout)
    assert [r[:2] for r in rows] == [("gmf", "4"), ("mlp", "4"), ("neumf", "4")], run.stdout
    assert all(positive(*r[2:]) for r in rows)


def check_autoencoders(run: Run) -> None:
    [(users,)] = floats(r"^ML-1M training users: (\d+),", run.stdout)
    batches = -(-int(users) // 500)
    run.check(steps=2 * (AE_ROUNDS + 1) * batches)
    rows = floats(r"^(\w+) epoch \((\d+) batches of 500 users, V=\d+\): nprec (\S+) s "
                  r"\((\S+) CPU s\)\s+\[wall per epoch: ([^\]]*)\]$", run.stdout)
    assert [r[:2] for r in rows] == [("multvae", str(batches)), ("multdae", str(batches))]
    for _, _, wall, cpu, per_epoch in rows:
        assert positive(wall, cpu) and len(per_epoch.split(", ")) == AE_ROUNDS
    gflops = floats(r"nprec dense\s+(\S+)\s+numpy @\s+(\S+)$", run.stdout)
    assert len(gflops) == 2 and all(positive(*g) for g in gflops), run.stdout
    assert positive(*floats(r"^sparse input layer, .* forward (\S+) ms .* backward (\S+) ms",
                            run.stdout)[0])


CHECKS = {"gru4rec": check_gru4rec, "narm": check_narm, "ncf": check_ncf,
          "autoencoders": check_autoencoders}


def test_every_benchmark_is_smoked_or_excused():
    scripts = sorted(p.name for p in BENCHMARKS.glob("*.py"))
    covered = {c.script for c in CASES.values()} | IN_PROCESS | set(NOT_RUN)
    assert scripts == sorted(covered)
    assert sorted(CHECKS) == sorted(CASES)


REFUSING = [  # asking for a PyTorch side without PyTorch: the script's own message, exit
    ("bench_gru4rec.py", []), ("bench_gru4rec.py", ["--skip-check"]),
    ("bench_gru4rec.py", ["--only", "nprec"]),
    ("bench_narm.py", []), ("bench_narm.py", ["--only", "nprec"]),
    ("bench_ncf.py", []), ("bench_ncf.py", ["--only", "nprec"]),
    ("bench_autoencoders.py", []), ("bench_autoencoders.py", ["--only", "nprec"]),
    ("bench_floor.py", []), ("accuracy_multvae_twin.py", []),
]
IMPORT_AND_REFUSE = """
import ast, importlib, runpy, sys
sys.modules["torch"] = None
sys.path.insert(0, sys.argv[1])
for script in sys.argv[2].split(","):
    importlib.import_module(script.removesuffix(".py"))
    print("IMPORTED", script)
for script, args in ast.literal_eval(sys.argv[3]):
    sys.argv = [script, *args]
    try:
        runpy.run_path(sys.path[0] + "/" + script, run_name="__main__")
    except SystemExit as stop:
        print("EXIT", script, *args, "|", stop.code)
    else:
        print("RAN", script, *args)
"""


def test_every_script_imports_and_refuses_the_torch_side_without_torch():
    scripts = sorted(p.name for p in BENCHMARKS.glob("*.py"))
    done = subprocess.run([sys.executable, "-c", IMPORT_AND_REFUSE, str(BENCHMARKS),
                           ",".join(scripts), repr(REFUSING)],
                          capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("IMPORTED")] == scripts
    exits = [line for line in lines if line.startswith(("EXIT", "RAN"))]
    assert len(exits) == len(REFUSING), done.stdout
    for line, (script, _) in zip(exits, REFUSING, strict=True):
        assert line.startswith(f"EXIT {script}"), line
        assert "torch" in line.split("|", 1)[1].lower(), line        # the message says why


# -- bench_floor, in this process -------------------------------------------------------------
BENCH_MODULES = ("bench_floor", "bench_narm", "bench_autoencoders", "bench_gru4rec",
                 "bench_layers")


@pytest.fixture
def without_torch(monkeypatch):
    """Import the benchmarks afresh as where PyTorch is not installed; forget them after."""
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in BENCH_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield {name: importlib.import_module(name) for name in BENCH_MODULES}
    for name in BENCH_MODULES:                     # monkeypatch puts back any earlier ones
        sys.modules.pop(name, None)


@pytest.fixture
def one_thread(without_torch):
    """Numba and OpenBLAS on one thread, like the benchmark processes running beside."""
    blas = without_torch["bench_layers"].blas_threads
    before_blas, before_numba = blas(), numba.get_num_threads()
    numba.set_num_threads(1)
    blas(1)
    yield
    numba.set_num_threads(before_numba)
    if before_blas.isdigit():
        blas(int(before_blas))


def test_floor_times_its_products_and_passes_without_torch(without_torch, one_thread,
                                                            shared_data, monkeypatch, capsys):
    floor, narm, ae, gru = (without_torch[n] for n in BENCH_MODULES[:4])
    monkeypatch.setattr(floor, "REPS", 3)
    monkeypatch.setattr(floor, "settle", lambda: None)
    assert 0 < floor.median_ms(lambda: sum(range(1000))) < math.inf

    # One call per product order and pass (the floor's median of REPS calls after an untimed
    # warm-up would triple the work of this test).
    def one_call_ms(fn):
        t0 = time.perf_counter()
        fn()
        return 1e3 * (time.perf_counter() - t0)

    monkeypatch.setattr(floor, "median_ms", one_call_ms)
    monkeypatch.setattr(floor, "ML1M", shared_data / ML1M_RATINGS)
    monkeypatch.setattr(narm, "DATA", shared_data / "session")
    monkeypatch.setattr(gru, "DATA", shared_data / "session")
    # The other side's step: fixed times (ms per step = seconds per epoch / steps * 1e3).
    monkeypatch.setattr(narm, "time_side_by_side",
                        lambda sessions, n_batches, clock: ({"torch same": 100.0}, {}))
    monkeypatch.setattr(ae, "time_epochs",
                        lambda train, name, rounds: ({"torch": (10.0, 10.0)}, {}))

    class Official:
        def __init__(self, path, train, params):
            pass

        def epoch(self):
            return np.array([500.0, 500.0])

    monkeypatch.setattr(gru, "Official", Official)
    floor.floor_narm(1, 2)
    floor.floor_multvae(1)
    floor.floor_gru4rec("no-official-code")
    out = capsys.readouterr().out
    rows = floats(r"^FLOOR model=(.+) other=(\S+) ratio_products=(\S+) ratio_passes=(\S+) "
                  r"rounds=(\d+)$", out)
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("NARM", "torch-twin-same", "2"), ("Mult-VAE", "torch-twin", "1"),
        ("GRU4Rec DIGINETICA", "official", "2")], out
    assert all(positive(r[2]) and math.isfinite(float(r[3])) for r in rows), out
    products = floats(r"^  .{30} \(\s*\d+ x\s*\d+\) @ \(\s*\d+ x\s*\d+\)\s+(\S+) ms\s+(\S+) "
                      r"GFLOP/s$", out)
    assert len(products) == 3 + 9 + 11 and all(positive(*p) for p in products), out


# -- the scripts, in their own processes (started by `runs` with the module's first test) --
@pytest.mark.parametrize("name", sorted(CASES))
def test_nprec_side_runs_without_torch(name, runs):
    if name not in runs:
        pytest.skip(f"real data not found for {name}: set NPREC_DATA or place ../shared/data")
    CHECKS[name](runs[name].result())
