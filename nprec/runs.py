"""Run directories: creating them safely, writing results, reading them back.

A run directory (`--out DIR`) holds

    config.toml    the fully resolved settings (`nprec train --config DIR/config.toml` repeats
                   the run)
    results.json   data statistics, protocol, per-epoch history, metrics, timings, versions
                   (schema: docs/results.md)
    best.npz       the checkpoint of the epoch chosen on the validation split
    last.npz       the checkpoint after the last completed epoch (for `--resume`)

Nothing the user already has is overwritten: a non-empty directory that is not being resumed
is refused, and every file is written to a temporary name first and renamed into place.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

from nprec import __version__
from nprec.errors import CheckpointError, ConfigError


def new_run_dir(out: str | None, model_name: str) -> Path:
    """Create the run directory; refuse a non-empty existing one.

    With no `--out`, the run goes to `runs/<model>-<date>-<time>` under the current directory.
    """
    if not out:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{model_name}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = Path("runs") / f"{model_name}-{stamp}-{n}"
    else:
        path = Path(out)
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"--out {path}: exists and is not a directory")
        if any(path.iterdir()):
            raise ConfigError(f"--out {path}: directory exists and is not empty; choose another "
                              f"--out, or continue it with --resume {path}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot create the directory ({exc.strerror})") from None
    return path


def existing_run_dir(run: str | Path, need: str = "best.npz") -> Path:
    """A run directory that exists and holds `need` (a `CheckpointError` otherwise)."""
    path = Path(run)
    if path.is_file() and path.suffix == ".npz":
        return path.parent
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run directory")
    if need and not (path / need).is_file():
        raise CheckpointError(f"{path}: not a completed run directory (no {need})")
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    """Write `results.json` (atomically)."""
    write_text_atomic(run_dir / "results.json", json.dumps(results, indent=2, default=_json) +
                      "\n")


def read_results(run_dir: Path) -> dict[str, Any]:
    """Read a run's `results.json` (a `CheckpointError` if missing or unreadable)."""
    path = Path(run_dir) / "results.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir}: no results.json (not a run directory?)") from None
    except (OSError, ValueError) as exc:            # ValueError: not JSON, or not UTF-8
        raise CheckpointError(f"{path}: unreadable results file ({exc})") from None


def _json(value: Any) -> Any:
    """JSON fallback for NumPy scalars and arrays."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to results.json")


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


BLAS_KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Environment variables that choose OpenBLAS's kernels and their blocking (and so the bits of
a product), recorded with a run."""


def blas_runtime() -> dict[str, Any]:
    """NumPy's OpenBLAS as it runs in this process: its kernels, threads and build.

    The bits of a product depend on OpenBLAS's kernels (chosen for the CPU, or by
    OPENBLAS_CORETYPE) and, for some shapes, on one thread against several: NeuMF's tower
    products (256 x 64 x 32) rounded differently with one thread than with two under the
    Haswell kernels. Read from the OpenBLAS library NumPy loaded, found in the process's
    memory map (Linux); {} where there is none or it cannot be asked.
    Returns {"core": "Haswell", "threads": 2, "config": "OpenBLAS 0.3.31 ..."}.
    """
    import numpy  # noqa: F401  (loads its BLAS)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            libs = sorted({line.split()[-1] for line in f if "openblas" in line.lower()
                           and line.split()[-1].startswith("/")})
    except OSError:
        return {}
    # NumPy's own copy first (SciPy may have loaded another for its own routines).
    libs.sort(key=lambda path: "numpy" not in path)
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        # NumPy's wheels rename the symbols (scipy_openblas_..._64_); plain builds do not.
        for prefix, suffix in (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", "")):
            try:
                core = getattr(lib, f"{prefix}openblas_get_corename{suffix}")
                threads = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
                config = getattr(lib, f"{prefix}openblas_get_config{suffix}")
            except AttributeError:
                continue
            core.restype, config.restype, threads.restype = \
                ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int
            return {"core": core().decode(errors="replace"), "threads": int(threads()),
                    "config": config().decode(errors="replace").strip()}
    return {}


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), or what `platform` knows of it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, Any]:
    """Versions and machine facts that a result depends on.

    The CPU is among them: Numba compiles the kernels for the CPU it runs on (`numba_cpu`),
    and OpenBLAS picks its kernels by the CPU unless OPENBLAS_CORETYPE says otherwise
    (`blas`: the kernels and threads it runs with). Some trained figures differ in their last
    digits from one machine to another (docs/reproducibility.md: GRU4Rec's did before its loss
    sums got a fixed order, NeuMF's do with OpenBLAS's kernels and threads); the same machine
    and settings give the same figures run after run.
    """
    import llvmlite.binding
    import numba
    import numpy
    import scipy

    return {
        "nprec": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
        "numba": numba.__version__, "scipy": scipy.__version__,
        "platform": platform.platform(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "cpu": cpu_model(),
        "numba_cpu": numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name(),
        "blas_threads_env": {k: os.environ[k] for k in
                             ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                             if k in os.environ},
        "blas_kernel_env": {k: os.environ[k] for k in BLAS_KERNEL_VARIABLES if k in os.environ},
        "blas": blas_runtime(),
        "argv": sys.argv,
    }
