"""Run nprec's benchmarks one after another and write their output to benchmarks/RESULTS.md.

    python benchmarks/run_all.py [--only NAME ...] [--out benchmarks/RESULTS.md]
        [--official PATH] [--threads 2] [--quick]

Each benchmark runs as its own process (so one's thread pools and caches do not colour the
next), with the same thread count for BLAS, Numba and PyTorch. RESULTS.md records the
machine (CPU model, cores, load average before each run), the library versions, and for
every benchmark the exact command and its full output. At the top, after the machine, a table
gathers the `RESULT` lines the model benchmarks print (benchmarks/_result.py): per model and
data set, nprec's seconds per epoch, the other contender's, and their ratio. Every speed
figure in the README and the docs is a ratio measured side by side inside one of these runs.

Benchmarks that need data under ../shared/data (or NPREC_DATA) are skipped with a line
saying so when it is absent; the PyTorch columns need the optional `bench` extra
(`pip install nprec[bench]`); `--official PATH` points bench_gru4rec at a checkout of the
official GRU4Rec PyTorch code.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from _result import parse_results

from nprec.runs import BLAS_KERNEL_VARIABLES, cpu_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def data_root() -> Path:
    return Path(os.environ.get("NPREC_DATA", ROOT.parent / "shared" / "data"))


def benchmarks(threads: int, official: str | None, quick: bool) -> list[tuple[str, list[str], str]]:
    """(name, arguments, data path it needs or "") for every benchmark, cheapest first."""
    t = str(threads)
    data = data_root()
    gru_official = ["--official", official] if official else []
    steps = ["--steps", "300"] if quick else []
    return [
        ("kernels", ["bench_kernels.py"], ""),
        ("layers", ["bench_layers.py", "--threads", t], ""),
        ("io", ["bench_io.py"] + (["--skip-20m"] if quick else []), str(data / "ml-1m")),
        ("eval", ["bench_eval.py", "--part", "all", "--threads", t], str(data / "ml-1m")),
        ("ncf", ["bench_ncf.py", "--data", str(data / "ml-1m" / "loo_split"), "--threads", t,
                 "--blas-threads", t] + steps, str(data / "ml-1m" / "loo_split")),
        ("gru4rec-xe", ["bench_gru4rec.py", "--data", "rsc15_100k", "--threads", t]
         + gru_official, str(data / "session" / "rsc15_100k")),
        ("gru4rec-bprmax", ["bench_gru4rec.py", "--data", "rsc15_100k", "--threads", t,
                            "--skip-check", "--params",
                            "loss=bpr-max,constrained_embedding=True,layers=100,batch_size=32,"
                            "dropout_p_embed=0.0,dropout_p_hidden=0.4,learning_rate=0.05,"
                            "momentum=0.0,n_sample=2048,sample_alpha=0.5,elu_param=0.5,"
                            "bpreg=1.0,logq=0.0"] + gru_official,
         str(data / "session" / "rsc15_100k")),
        ("gru4rec-diginetica", ["bench_gru4rec.py", "--data", "diginetica", "--threads", t,
                                "--skip-check", "--epochs", "2", "--only", "nprec,official",
                                "--params",
                                "loss=bpr-max,constrained_embedding=True,layers=512,"
                                "batch_size=128,dropout_p_embed=0.5,dropout_p_hidden=0.3,"
                                "learning_rate=0.05,momentum=0.15,n_sample=2048,"
                                "sample_alpha=0.3,elu_param=1.0,bpreg=0.9,logq=0.0"]
         + gru_official, str(data / "session" / "diginetica")),
        ("narm", ["bench_narm.py", "--data", "yoochoose1_64", "--threads", t, "--batches", "100"],
         str(data / "session" / "yoochoose1_64")),
        ("autoencoders", ["bench_autoencoders.py", "--threads", t, "--rounds", "7", "--data",
                          str(data / "ml-1m" / "ratings_partial" / "ml-1m.ratings_known.tsv.gz")],
         str(data / "ml-1m" / "ratings_partial")),
        ("floor", ["bench_floor.py", "--threads", t] + gru_official, str(data / "session")),
        ("alternatives", ["bench_alternatives.py", "--threads", t], ""),
    ]


def versions() -> str:
    names = ["numpy", "numba", "scipy", "torch", "pandas"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (absent)")
    return ", ".join(found)


def blas_environment() -> str:
    """The environment variables that choose OpenBLAS's kernels and blocking, as set."""
    shown = [f"{name}={os.environ[name]}" for name in BLAS_KERNEL_VARIABLES
             if name in os.environ]
    return ", ".join(shown) if shown else "none set (OpenBLAS chooses its kernels for the CPU)"


def blas_kernels(env: dict[str, str]) -> str:
    """The OpenBLAS NumPy runs with in `env`: its build, kernels and threads, as a training
    run records them (`nprec.runs.blas_runtime`, results.json's `versions.blas`)."""
    code = ("from nprec.runs import blas_runtime\n"
            "b = blas_runtime()\n"
            "name = ' '.join(b['config'].split()[:2]) if b else ''\n"
            "print(f\"{name} {b['core']}, {b['threads']} threads\" if b else 'not an OpenBLAS')")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


COLUMNS = ("benchmark", "model", "data", "threads", "nprec s/epoch", "compared with",
           "its s/epoch", "ratio", "paired ratio (rounds)", "clock")
NUMERIC = ("threads", "nprec s/epoch", "its s/epoch", "ratio", "paired ratio (rounds)")


def _number(text: str) -> str:
    """A seconds or ratio figure for the table, to about three significant digits."""
    try:
        x = float(text)
    except ValueError:
        return text
    if x != x:
        return "n/a"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def _paired(row: dict[str, str]) -> str:
    """The paired ratio with its number of rounds, or '-' when the run had one round."""
    if "ratio_paired" not in row:
        return "-"
    return f"{_number(row['ratio_paired'])} ({row.get('rounds', '?')})"


def results_table(results: list[tuple[str, dict[str, str]]]) -> list[str]:
    """Markdown lines of the table of (benchmark name, parsed RESULT line) pairs."""
    if not results:
        return ["No model benchmark has reported a timing yet.", ""]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(
        "---:" if c in NUMERIC else "---"
        for c in COLUMNS) + "|"]
    for name, r in results:
        get = r.get
        cells = [name, get("model", "?"), get("data", "?"), get("threads", "?"),
                 _number(get("nprec_s", "?")), get("other", "?"), _number(get("other_s", "?")),
                 _number(get("ratio", "?")), _paired(r), get("clock", "?")]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines + ["", "ratio = nprec's seconds per epoch / the other's (below 1: nprec is "
                    "faster); each row's two figures come from the same run, alternating. "
                    "paired ratio = the median over the run's rounds of the ratio inside "
                    "each round (benchmarks/_result.py); none for a single round.", ""]


def old_sections(text: str, names: list[str]) -> dict[str, list[str]]:
    """The per-benchmark sections (`## name` up to the next one) of an earlier RESULTS.md."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
            current = sections.setdefault(name, []) if name in names else None
        if current is not None:
            current.append(line)
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="benchmark names to run (default: all)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--official", help="checkout of the official GRU4Rec PyTorch code")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="shorter timings (NCF epochs scaled from 300 steps, no 20M file)")
    parser.add_argument("--update", action="store_true",
                        help="with --only: rerun those benchmarks and keep the other sections "
                             "of an existing --out file (each section states when it ran); a "
                             "section measured with --official is rerun only with --official")
    args = parser.parse_args(argv)

    plan = benchmarks(args.threads, args.official, args.quick)
    # The per-benchmark sections in plan order: kept from the old file (--update) or rerun.
    sections: dict[str, list[str]] = {}
    if args.update and Path(args.out).exists():
        sections = old_sections(Path(args.out).read_text(), [name for name, _, _ in plan])
    # An --update must not quietly lose what the old file measured: a section whose earlier
    # command compared with the official GRU4Rec code is only rerun with --official too.
    if args.update and not args.official:
        lost = [name for name, _, _ in plan if (not args.only or name in args.only)
                and any("--official" in line for line in sections.get(name, [])[:3])]
        if lost:
            print(f"run_all: error: {args.out}: {', '.join(lost)} was measured against the "
                  f"official GRU4Rec code, and --update without --official would replace it; "
                  f"pass --official PATH or leave it out of --only", file=sys.stderr)
            return 2

    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        env[var] = str(args.threads)

    started = datetime.datetime.now(datetime.timezone.utc)
    given = " ".join(argv or sys.argv[1:])
    command = f"`python benchmarks/run_all.py{' ' + given if given else ''}`"
    when = f"{started:%Y-%m-%d %H:%M} UTC"
    kept = [name for name in sections if args.only and name not in args.only]
    if kept:
        # An update keeps the record of the runs that wrote the sections it keeps.
        head = Path(args.out).read_text().split("\n- machine:", 1)[0].splitlines()
        earlier = [line for line in head if line.startswith(("Written by ", "Updated by "))]
        provenance = [*earlier, f"Updated by {command} on {when}: sections not rerun keep their "
                      "earlier output, and each states when it ran; the lines below describe "
                      "this update's machine and libraries."]
    else:
        provenance = [f"Written by {command} on {when}."]
    header = [
        "# Benchmark results",
        "",
        *provenance,
        "",
        f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}",
        f"- libraries: {versions()}",
        f"- threads: {args.threads} for BLAS, Numba and PyTorch (environment variables set "
        "for every run)",
        f"- NumPy's BLAS: {blas_kernels(env)}; environment: {blas_environment()}",
        "- the machine is shared: absolute seconds vary with its load; the ratios are "
        "measured side by side inside one run and are what the docs quote",
        "",
    ]
    def write() -> None:
        results = [(name, r) for name, _, _ in plan if name in sections
                   for r in parse_results("\n".join(sections[name]))]
        body = [line for name, _, _ in plan if name in sections for line in sections[name]]
        summary = ["## Seconds per epoch", "", *results_table(results)]
        Path(args.out).write_text("\n".join(header + summary + body) + "\n")

    for name, arguments, needs in plan:
        if args.only and name not in args.only:
            continue
        command = ["python", f"benchmarks/{arguments[0]}", *arguments[1:]]
        shown = " ".join(command)
        lines = sections[name] = [f"## {name}", "", f"`{shown}`", ""]
        if name == "gru4rec-diginetica" and not args.official:
            lines += ["skipped: it times nprec against the official code only (--official)", ""]
            print(f"{name}: skipped (no --official)", flush=True)
            continue
        if needs and not Path(needs).exists():
            lines += [f"skipped: {needs} not found", ""]
            print(f"{name}: skipped ({needs} not found)", flush=True)
            continue
        print(f"{name}: {shown}", flush=True)
        before = load()
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        output = proc.stdout.rstrip()
        if proc.returncode != 0:
            output += f"\n[exit status {proc.returncode}]\n" + proc.stderr.rstrip()[-3000:]
        when = datetime.datetime.now(datetime.timezone.utc)
        lines += [f"run {when:%Y-%m-%d %H:%M} UTC on {cpu_model()}; load average before: "
                  f"{before}; took {seconds:.0f} s", "", "```", output, "```", ""]
        print(f"{name}: done in {seconds:.0f} s (exit {proc.returncode})", flush=True)
        write()                                             # partial results survive a crash
    write()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
