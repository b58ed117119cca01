"""The machine-readable line the model benchmarks print, one per timed pair of contenders,
and its reader (used by run_all.py for the table at the top of RESULTS.md):

    RESULT model=NeuMF data=ml-1m threads=2 nprec_s=12.3 other=torch-twin other_s=45.6 \
ratio=0.27 clock=wall ratio_paired=0.26 rounds=5

nprec_s and other_s are the seconds per epoch the benchmark reports for nprec and for the
other contender (the same figures as its speed report), ratio = nprec_s / other_s, clock is
wall or cpu. Values hold no spaces (any are replaced by '_').

ratio_paired is the median, over the benchmark's rounds, of the ratio inside each round
(nprec's time in round r / the other's time in round r), and rounds how many there were.
This machine is shared and moves through slower and faster phases that last minutes; a
round's two sides run back to back, so a phase moves both, and their ratio keeps little of
it. The ratio of each side's median pairs round 3's nprec with round 5's PyTorch when their
orders differ: on Mult-VAE, seven rounds gave 0.57 one way and 0.60 the other. Benchmarks
with one round (the official GRU4Rec code's whole epochs) print no paired ratio.

Where a round is a whole epoch (Mult-VAE, Mult-DAE, GRU4Rec) every round does the same work
and the paired ratio estimates the epoch's ratio. Where a round is a block of different
batches (NARM's 5 batches, NCF's 200 steps) it weights every block alike, while the epoch's
ratio weights a block by its time: when the ratio depends on the batch, the two differ (NARM:
0.84 for the epoch, 0.90 paired, nprec gaining most on the long, costly batches), and the
epoch's ratio, `ratio`, is the one a speed target means.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

PREFIX = "RESULT"
FIELDS = ("model", "data", "threads", "nprec_s", "other", "other_s", "ratio", "clock")
PAIRED_FIELDS = ("ratio_paired", "rounds")


def _word(value: object) -> str:
    return "_".join(str(value).split()) or "-"


def paired_ratio(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """Median over rounds of ours[r] / theirs[r]: nprec's time over the other's, round by round.

    Raises ValueError unless both hold the same number (at least one) of positive times.
    """
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"paired_ratio: {len(ours)} and {len(theirs)} rounds; need the same "
                         f"number, at least one")
    if min(ours) <= 0 or min(theirs) <= 0:
        raise ValueError("paired_ratio: every time must be positive")
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


def result_line(model: str, data: str, threads: int, nprec_s: float, other: str,
                other_s: float, clock: str = "wall",
                rounds: tuple[Sequence[float], Sequence[float]] | None = None) -> str:
    """The RESULT line of one pair (nprec against `other`), seconds per epoch each.

    rounds: nprec's and the other's time in each round (any unit, the same for both); with
    two or more rounds the line ends with their paired ratio (module docstring).
    """
    nprec_s, other_s = float(nprec_s), float(other_s)
    ratio = nprec_s / other_s if other_s > 0 else math.nan
    values = (model, data, threads, f"{nprec_s:.6g}", other, f"{other_s:.6g}", f"{ratio:.4g}",
              clock)
    pairs = list(zip(FIELDS, values, strict=True))
    if rounds is not None and len(rounds[0]) >= 2:
        pairs += zip(PAIRED_FIELDS, (f"{paired_ratio(*rounds):.4g}", len(rounds[0])),
                     strict=True)
    return " ".join([PREFIX] + [f"{k}={_word(v)}" for k, v in pairs])


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
