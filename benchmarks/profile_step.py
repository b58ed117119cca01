"""Where a training step's time goes, measured inside real training steps (nprec only).

    python benchmarks/profile_step.py [--model gru4rec|narm|multvae|multdae] [--data NAME]
        [--steps 300] [--warmup 30] [--threads 2]

bench_floor.py times the dense products alone; this script times the parts of the steps
themselves, in the order training runs them, with the data and caches a real step has. Every
function the model's module calls by a name it imported from nprec (a layer, a loss, a
kernel: `gru_train_forward`, `sampled_loss`, `attention_rows_backward`, ...) is wrapped by a
timer for the run; nothing else changes, so the step computes what it always does. A part's
time is exclusive: a wrapped function called inside another counts for itself only. What is
left of forward and backward ("forward, between the calls") is the model's own code around
the calls: its matrix products written as `@`, gathers, NumPy expressions. The optimizer's
update (the optimizer `nprec train` builds from the model's config) and the making of the
step (the sampler, dropout masks, negatives) are parts too.

Reported: milliseconds per step of each part over `--steps` steps after `--warmup` untimed
ones (the kernels compile in those), its share of the step, and the step's own wall time (the
timers cost about a microsecond a call). Data: GRU4Rec on DIGINETICA with the official
DIGINETICA settings (issue 5's benchmark) by default, NARM on YooChoose 1/64, Mult-VAE and
Mult-DAE on ML-1M's strong-generalisation training users (bench_autoencoders.py's split);
`--data synthetic` for GRU4Rec and NARM needs no download.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numba
import numpy as np

from nprec.experiment import make_optimizer
from nprec.models import gru4rec, multdae, multvae, narm
from nprec.train import epoch_rng, init_rng, prepare_process

ML1M = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m" / "ratings_partial"
        / "ml-1m.ratings_known.tsv.gz")
DIGINETICA = ("loss=bpr-max,constrained_embedding=True,layers=512,batch_size=128,"
              "dropout_p_embed=0.5,dropout_p_hidden=0.3,learning_rate=0.05,momentum=0.15,"
              "n_sample=2048,sample_alpha=0.3,elu_param=1.0,bpreg=0.9,logq=0.0")


class PartTimer:
    """Exclusive wall time per named part: a part inside another counts for itself only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []     # per open part: time spent in the parts inside it

    def run(self, name: str, f: Callable, *args, **kwargs):
        self._inner.append(0.0)
        start = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            inner = self._inner.pop()
            self.seconds[name] += elapsed - inner
            if self._inner:
                self._inner[-1] += elapsed

    def wrap_imports(self, module) -> list[str]:
        """Wrap, in `module`'s namespace, every function it imported from nprec."""
        wrapped = []
        for name, obj in list(vars(module).items()):
            is_function = inspect.isfunction(obj) or isinstance(obj, numba.core.registry
                                                                .CPUDispatcher)
            source = getattr(obj, "__module__", "") or ""
            if is_function and source.startswith("nprec.") and source != module.__name__:
                setattr(module, name, functools.wraps(obj)(
                    functools.partial(self.run, name, obj)))
                wrapped.append(name)
        return wrapped

    def clear(self) -> None:
        self.seconds.clear()


def gru4rec_steps(data: str) -> tuple[object, Iterator, object]:
    import bench_gru4rec
    # The official settings; on the synthetic data, at a batch size its sessions fill.
    cfg = bench_gru4rec.parse_params(DIGINETICA if data != "synthetic" else
                                     DIGINETICA.replace("batch_size=128", "batch_size=32"))
    train = bench_gru4rec.load_sessions(data)
    model = gru4rec.Model(cfg, 0, train.n_items, rng=init_rng(0))
    return model, iter(model.batches(train, epoch_rng(0, 1))), make_optimizer(cfg)


def narm_steps(data: str) -> tuple[object, Iterator, object]:
    import bench_narm
    train = bench_narm.load_sessions(data)
    cfg = narm.Config()
    model = narm.Model(cfg, 0, train.n_items, rng=np.random.default_rng(0))
    return model, iter(model.batches(train, np.random.default_rng(1))), make_optimizer(cfg)


def autoencoder_steps(name: str) -> Callable:
    def make(data: str) -> tuple[object, Iterator, object]:
        import bench_autoencoders
        train = bench_autoencoders.load_train(Path(data) if data else ML1M)
        module = multvae if name == "multvae" else multdae
        model = module.Model(module.Config(), train.n_users, train.n_items,
                             rng=np.random.default_rng(0))

        def endless() -> Iterator:          # epoch after epoch: ML-1M has 10 batches an epoch
            epoch = 0
            while True:
                epoch += 1
                yield from model.batches(train, epoch_rng(0, epoch))
        return model, endless(), make_optimizer(model.config)
    return make


MODELS = {
    "gru4rec": ([gru4rec], gru4rec_steps, "diginetica"),
    "narm": ([narm], narm_steps, "yoochoose1_64"),
    "multvae": ([multvae, multdae], autoencoder_steps("multvae"), ""),
    "multdae": ([multdae], autoencoder_steps("multdae"), ""),
}


def profile(model_name: str, data: str, steps: int, warmup: int) -> tuple[dict, float, list]:
    """(ms per step of each part, ms per step of the whole step, the wrapped names)."""
    modules, make, default_data = MODELS[model_name]
    timer = PartTimer()
    wrapped = [name for module in modules for name in timer.wrap_imports(module)]
    model, batches, opt = make(data or default_data)
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            timer.clear()
            start = time.perf_counter()
        step = timer.run("make the step", next, batches)
        loss, cache = timer.run("forward, between the calls", model.forward, step)
        if not np.isfinite(loss):
            sys.exit(f"profile_step: the loss is {loss} at step {i}")
        grads = timer.run("backward, between the calls", model.backward, cache)
        timer.run("optimizer", opt.step, model.params, grads)
    step_ms = 1e3 * (time.perf_counter() - start) / steps
    return {k: 1e3 * v / steps for k, v in timer.seconds.items()}, step_ms, wrapped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="gru4rec")
    p.add_argument("--data", default="", help="data set name (or ML-1M ratings file); "
                   "default: the model's benchmark data")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if args.steps < 1 or args.warmup < 1:
        sys.exit("profile_step: --steps and --warmup must be at least 1")
    numba.set_num_threads(args.threads)
    prepare_process()                   # as nprec.train.fit does
    parts, step_ms, wrapped = profile(args.model, args.data, args.steps, args.warmup)
    total = sum(parts.values())
    called = sorted({name for name in wrapped if name in parts})
    data = args.data or MODELS[args.model][2] or ML1M.name
    print(f"{args.model} on {data}: {args.steps} steps after {args.warmup}, {args.threads} "
          f"Numba threads; timed calls: {', '.join(called)}")
    print(f"  {'part':34s} {'ms/step':>9s} {'share':>7s}")
    for name, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:34s} {ms:9.3f} {100 * ms / total:6.1f}%")
    print(f"  {'parts together':34s} {total:9.3f}")
    print(f"  {'the step, wall':34s} {step_ms:9.3f}")


if __name__ == "__main__":
    main()
