"""Run a benchmark script as where PyTorch is not installed, and count nprec's training steps.

    python tests/benchmarks/_run_without_torch.py benchmarks/bench_narm.py --only nprec ...

runs the script as `python benchmarks/bench_narm.py --only nprec ...` would, except that
`import torch` (and any `torch.*`) raises ImportError. Every `Optimizer.step` of nprec and
every loss a model's `forward` returns is counted; after the script one line reports them:

    SMOKE steps=6 losses=6 nonfinite_losses=0 nonfinite_params=0 torch=blocked

nonfinite_params counts the parameter arrays with a NaN or an infinity after the run, over
every parameter dictionary an optimizer stepped; torch=blocked says nothing replaced the
block. test_bench_smoke.py reads the line.
"""

from __future__ import annotations

import functools
import importlib
import math
import runpy
import sys
from pathlib import Path

sys.modules["torch"] = None           # `import torch` now fails as if it were not installed

import numpy as np  # noqa: E402

from nprec.optim.base import Optimizer  # noqa: E402

MODEL_MODULES = ("gru4rec", "narm", "gmf", "mlp", "neumf", "multdae", "multvae")

counts = {"steps": 0, "losses": 0, "nonfinite_losses": 0}
stepped: dict[int, dict[str, np.ndarray]] = {}      # id -> each parameter dict stepped


def _count_steps(step):
    @functools.wraps(step)
    def counted(self, params, grads):
        counts["steps"] += 1
        stepped[id(params)] = params
        return step(self, params, grads)
    return counted


def _count_losses(forward):
    depth = [0]                       # a forward calling its parent's forward counts once

    @functools.wraps(forward)
    def counted(self, *args, **kwargs):
        depth[0] += 1
        try:
            out = forward(self, *args, **kwargs)
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            counts["losses"] += 1
            counts["nonfinite_losses"] += not math.isfinite(float(out[0]))
        return out
    return counted


def main() -> None:
    script, *args = sys.argv[1:]
    Optimizer.step = _count_steps(Optimizer.step)
    for name in MODEL_MODULES:
        model = importlib.import_module(f"nprec.models.{name}").Model
        if "forward" in vars(model):
            model.forward = _count_losses(model.forward)
    sys.argv = [script, *args]
    sys.path[0] = str(Path(script).resolve().parent)     # as `python SCRIPT` sets it
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        bad = sum(not np.isfinite(p).all() for params in stepped.values()
                  for p in params.values())
        blocked = "blocked" if sys.modules.get("torch", None) is None else "loaded"
        print(f"SMOKE steps={counts['steps']} losses={counts['losses']} "
              f"nonfinite_losses={counts['nonfinite_losses']} nonfinite_params={bad} "
              f"torch={blocked}", flush=True)


if __name__ == "__main__":
    main()
