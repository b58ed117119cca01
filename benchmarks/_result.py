"""The machine-readable line the model benchmarks print, one per timed pair of contenders,
and its reader (used by run_all.py for the table at the top of RESULTS.md):

    RESULT model=NeuMF data=ml-1m threads=2 nprec_s=12.3 other=torch-twin other_s=45.6 \
ratio=0.27 clock=wall

nprec_s and other_s are the seconds per epoch the benchmark reports for nprec and for the
other contender (the same figures as its speed report), ratio = nprec_s / other_s, clock is
wall or cpu. Values hold no spaces (any are replaced by '_').
"""

from __future__ import annotations

import math

PREFIX = "RESULT"
FIELDS = ("model", "data", "threads", "nprec_s", "other", "other_s", "ratio", "clock")


def _word(value: object) -> str:
    return "_".join(str(value).split()) or "-"


def result_line(model: str, data: str, threads: int, nprec_s: float, other: str,
                other_s: float, clock: str = "wall") -> str:
    """The RESULT line of one pair (nprec against `other`), seconds per epoch each."""
    nprec_s, other_s = float(nprec_s), float(other_s)
    ratio = nprec_s / other_s if other_s > 0 else math.nan
    values = (model, data, threads, f"{nprec_s:.6g}", other, f"{other_s:.6g}", f"{ratio:.4g}",
              clock)
    return " ".join([PREFIX] + [f"{k}={_word(v)}" for k, v in zip(FIELDS, values, strict=True)])


def print_result(*args, **kwargs) -> None:
    """Print `result_line(...)` (flushed, so it survives a later crash)."""
    print(result_line(*args, **kwargs), flush=True)


def parse_results(text: str) -> list[dict[str, str]]:
    """Every RESULT line of a benchmark's output as {field: value} (unknown fields kept)."""
    rows = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] != PREFIX:
            continue
        row = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        if row:
            rows.append(row)
    return rows
