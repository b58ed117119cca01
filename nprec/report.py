"""Reading finished runs: the `compare` table and the `plot` learning curves."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from nprec.errors import CheckpointError, NprecError
from nprec.runs import existing_run_dir, read_results


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _numbers(x: Any) -> bool:
    return isinstance(x, dict) and all(_number(v) for v in x.values())


def _results(path: Path) -> dict[str, Any]:
    """A run's results.json, checked to have the shape `compare` and `plot` read."""
    res = read_results(path)
    def history() -> Any:
        return res.get("history") or []

    checks = [   # in order: each check may assume the ones before it passed
        (lambda: isinstance(res, dict), "not a JSON object"),
        (lambda: res.get("test") is None or _numbers(res["test"]),
         "'test' must map metric names to numbers"),
        (lambda: all(isinstance(res.get(k) or {}, dict) for k in ("best", "protocol",
                                                                  "seconds")),
         "'best', 'protocol' and 'seconds' must be objects"),
        (lambda: _number((res.get("seconds") or {}).get("total", 0)),
         "'seconds.total' must be a number"),
        (lambda: isinstance(history(), list) and all(
            isinstance(h, dict) and _number(h.get("epoch")) and _number(h.get("loss"))
            and _number(h.get("seconds", 0)) and (h.get("valid") is None
                                                  or _numbers(h["valid"]))
            for h in history()),
         "'history' must list epochs with numeric epoch, loss and seconds"),
    ]
    for ok, what in checks:
        if not ok():
            raise CheckpointError(f"{path / 'results.json'}: malformed results ({what})")
    return res


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with left-aligned text and right-aligned numbers."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def fmt(row: list[str]) -> str:
        cells = []
        for value, width in zip(row, widths, strict=True):
            text = str(value)
            numeric = text.replace(".", "", 1).replace("-", "", 1).isdigit()
            cells.append(text.rjust(width) if numeric else text.ljust(width))
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule] + [fmt(r) for r in rows])


def epoch_seconds(results: dict[str, Any]) -> float | None:
    """Median training seconds per epoch of a run (None if it had no epochs)."""
    history = results.get("history") or []
    times = [h["seconds"] for h in history if "seconds" in h]
    return statistics.median(times) if times else None


def compare_runs(runs: list[str]) -> str:
    """A table of the test metrics and timings of several runs, one row per run."""
    loaded = []
    for run in runs:
        path = existing_run_dir(run, need="results.json")
        loaded.append((path, _results(path)))
    metrics: list[str] = []
    for _, res in loaded:
        for key in (res.get("test") or {}):
            if key not in metrics:
                metrics.append(key)
    header = ["run", "model", "protocol", "best epoch"] + metrics + ["s/epoch", "total s"]
    rows = []
    for path, res in loaded:
        test = res.get("test") or {}
        sec = epoch_seconds(res)
        best = (res.get("best") or {}).get("epoch", "")
        rows.append([str(path), res.get("model", "?"),
                     (res.get("protocol") or {}).get("name", "?"), str(best)]
                    + [f"{test[m]:.4f}" if m in test else "" for m in metrics]
                    + ["" if sec is None else f"{sec:.2f}",
                       f"{(res.get('seconds') or {}).get('total', 0.0):.1f}"])
    return format_table(header, rows)


def plot_run(run: str, out: str | None = None) -> Path:
    """Learning curves (training loss and validation metrics per epoch) to a PNG file."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise NprecError("plot needs matplotlib: pip install 'nprec[plot]'") from None
    path = existing_run_dir(run, need="results.json")
    res = _results(path)
    target = Path(out) if out else path / "curves.png"
    if target.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise NprecError(f"--out {target}: give a .png, .pdf or .svg file name")
    if out and target.exists():     # RUN/curves.png is the command's own: redrawn in place
        raise NprecError(f"--out {target}: exists; give a new file name (nothing overwritten)")
    if not target.parent.is_dir():
        raise NprecError(f"--out {target}: no such directory {target.parent}")
    history = res.get("history") or []
    if not history:
        raise NprecError(f"{path}: the run has no epochs to plot")
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["loss"] for h in history], marker="o")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title(f"{res.get('model', '')} training loss")
    valid = [(h["epoch"], h["valid"]) for h in history if h.get("valid")]
    keys = list(valid[0][1]) if valid else []
    for key in keys:
        ax_val.plot([e for e, _ in valid], [v[key] for _, v in valid], marker="o", label=key)
    best = (res.get("best") or {}).get("epoch")
    if best:
        ax_val.axvline(best, color="grey", linestyle="--", label=f"best epoch {best}")
    ax_val.set_xlabel("epoch")
    ax_val.set_title("validation metrics")
    if keys or best:
        ax_val.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(target, dpi=100)
    plt.close(fig)
    return target
