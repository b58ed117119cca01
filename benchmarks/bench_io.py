"""Load-time benchmark of nprec's readers: real ML-1M-sized files and synthetic MovieLens files.

Files timed (each read twice; the faster run is reported, the first also warms the page
cache):
- the real `ml-1m/loo_split` train/test and `ml-1m/ratings_partial` files from the shared
  data folder (`$NPREC_DATA`, default ../shared/data beside the repository), if present;
- a synthetic 1,000,209-row ML-1M-style `ratings.dat` (`::`-separated);
- a synthetic 20,000,263-row ML-20M-style `ratings.csv` (header, half-star ratings),
  written to a temporary directory under /tmp (about 530 MB; `--skip-20m` leaves it out).
Targets: an ML-1M-sized file in at most 2 s, 20M rows in at most 60 s.

    python benchmarks/bench_io.py [--skip-20m] [--tmp /tmp]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from nprec.data import read_interactions
from nprec.data.writers import _as_bytes, _join_rows


def shared_data() -> Path | None:
    env = os.environ.get("NPREC_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return path if path.is_dir() else None


def write_ratings(path: Path, n_rows: int, sep: bytes, header: bytes, n_users: int,
                  n_items: int, half_stars: bool, seed: int = 0) -> None:
    """A MovieLens-style ratings file: users ascending, random items, ratings and times."""
    rng = np.random.default_rng(seed)
    chunk = 2_000_000
    user_of_row = np.sort(rng.integers(1, n_users + 1, n_rows))
    with open(path, "wb") as f:
        f.write(header)
        for a in range(0, n_rows, chunk):
            m = min(chunk, n_rows - a)
            ratings = (rng.integers(1, 11, m) / 2.0 if half_stars
                       else rng.integers(1, 6, m).astype(np.float64))
            columns = [user_of_row[a:a + m], rng.integers(1, n_items + 1, m),
                       ratings, rng.integers(956_703_932, 1_427_784_002, m)]
            text = _join_rows([_as_bytes(c) if c.dtype.kind == "i" else c.astype("S")
                               for c in columns])
            f.write(text.replace(b"\t", sep))


def timed(path: Path, label: str) -> None:
    """Read twice; report the faster wall time, its CPU time and rows per wall second.

    On a shared machine the CPU time (this process only) is the steadier figure.
    """
    best, cpu, info = float("inf"), 0.0, None
    for _ in range(2):
        start, start_cpu = time.perf_counter(), time.process_time()
        data, info = read_interactions(path)
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
        del data
    rows = info["rows"]
    size = path.stat().st_size / 2 ** 20
    print(f"{label:<30} {rows:>11,} rows {size:>7.1f} MB  {best:>6.2f} s wall "
          f"{cpu:>6.2f} s cpu  {rows / best / 1e6:>5.2f} M rows/s  ({info['format']}, "
          f"{info['duplicates_dropped']:,} duplicates dropped)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-20m", action="store_true", help="leave out the 20M-row file")
    parser.add_argument("--tmp", default="/tmp", help="where the synthetic files go")
    args = parser.parse_args()
    print(f"nprec reader benchmark; numpy {np.__version__}; {os.cpu_count()} cores; "
          f"single-threaded parsing (Numba kernel, NumPy fallback)")
    data = shared_data()
    if data is not None:
        for rel in ("ml-1m/loo_split/ml-1m.loo.train.tsv.gz",
                    "ml-1m/loo_split/ml-1m.loo.test.tsv.gz",
                    "ml-1m/ratings_partial/ml-1m.ratings_known.tsv.gz"):
            timed(data / rel, rel.split("/")[-1])
    else:
        print("shared data not found: real files skipped")
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="nprec-bench-io-") as tmp:
        dat = Path(tmp) / "ratings.dat"
        write_ratings(dat, 1_000_209, b"::", b"", 6_040, 3_952, half_stars=False)
        timed(dat, "synthetic ML-1M ratings.dat")
        dat.unlink()
        if not args.skip_20m:
            csv = Path(tmp) / "ratings.csv"
            start = time.perf_counter()
            write_ratings(csv, 20_000_263, b",", b"userId,movieId,rating,timestamp\n",
                          138_493, 131_262, half_stars=True)
            print(f"(wrote the synthetic 20M file in {time.perf_counter() - start:.1f} s)")
            timed(csv, "synthetic ML-20M ratings.csv")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"peak resident memory of this process: {peak:.2f} GB; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
