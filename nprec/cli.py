"""The `nprec` command (also `python -m nprec`).

    nprec train MODEL [--data PATH] [--test PATH] [--protocol NAME] [--epochs N] [--seed S]
                      [-k K] [--config FILE.toml] [--set key=value ...] [--out DIR]
    nprec train --resume DIR [--epochs N]
    nprec evaluate RUN
    nprec recommend RUN (--user ID | --session ID,ID,... | --items ID,ID,...) -k K
    nprec similar RUN --item ID -k K
    nprec data info PATH
    nprec data download NAME
    nprec compare RUN RUN ...
    nprec plot RUN

A user mistake of any kind prints one line `nprec: error: ...` on stderr and exits with
status 2; Ctrl-C during training keeps the last completed epoch's checkpoint and exits with
status 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from nprec import __version__
from nprec.config import largest_int, whole_number
from nprec.errors import ConfigError, NprecError


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line `ConfigError`s, not usage dumps, and that
    takes option names only in full (`--model` is not read as `--models`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("nprec").strip()          # '' for `nprec` itself
        raise ConfigError(f"{command}: {message}" if command else message)


def _whole_number(flag: str):
    """An argparse type: `config.whole_number`, bounded as the setting the flag sets."""
    def parse(text: str) -> int:
        try:
            return whole_number(text, largest_int(flag))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = "whole number"
    return parse


_COUNT = _whole_number("count")             # epochs, factors, k
_SEED = _whole_number("seed")


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model and evaluate it",
        description="Train MODEL, select the epoch on a validation split, evaluate it on the "
                    "test split and write config.toml, results.json, best.npz and last.npz "
                    "to --out (the baselines, fitted once, write no last.npz). With no --data "
                    "the built-in synthetic data is used. "
                    "`nprec train MODEL --options` lists the model's options.")
    p.add_argument("model", nargs="?", help="model name (see `nprec train --models`)")
    p.add_argument("--data", metavar="PATH", help="training data file (or the whole data set)")
    p.add_argument("--test", metavar="PATH", help="a pre-split test file")
    p.add_argument("--valid", metavar="PATH",
                   help="a pre-split validation file (default: carved from the training data)")
    p.add_argument("--protocol", metavar="NAME",
                   help="evaluation protocol: loo-full, ncf-loo99, next-item, "
                        "strong-generalization, rating-holdout")
    p.add_argument("--epochs", type=_COUNT, metavar="N", help="number of epochs")
    p.add_argument("--seed", type=_SEED, metavar="S", help="seed of every random draw")
    p.add_argument("-k", metavar="K", help="ranking cutoff(s), e.g. 10 or 1,5,10,20")
    p.add_argument("--config", metavar="FILE.toml", help="settings file (see configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting; repeatable (KEY or SECTION.KEY)")
    p.add_argument("--params", metavar="STRING",
                   help="settings as one comma-separated string, as the official GRU4Rec "
                        "code takes them: 'loss=bpr-max,layers=100,...' (lists use /)")
    p.add_argument("--factors", type=_COUNT, metavar="N", help="embedding size (MF, NCF)")
    p.add_argument("--layers", metavar="LIST", help="layer sizes, e.g. 64,32,16,8")
    p.add_argument("--pretrain", action="store_true",
                   help="NeuMF: pre-train GMF and MLP first (the paper's recipe)")
    p.add_argument("--out", metavar="DIR", help="run directory (must be new or empty; "
                   "default runs/MODEL-DATE-TIME)")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted run directory "
                   "(with --epochs N: up to a new epoch budget)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no epoch lines")
    p.add_argument("--options", action="store_true", help="list MODEL's options and exit")
    p.add_argument("--models", action="store_true", help="list the models and exit")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nprec", description="Deep-learning recommenders in NumPy: "
                     "train, evaluate, recommend.")
    parser.add_argument("--version", action="version", version=f"nprec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _train_parser(sub)

    p = sub.add_parser("evaluate", help="evaluate a run's best checkpoint on its test split",
                       description="Re-run the test evaluation of RUN's best checkpoint "
                                   "(optionally on another test file or with other ties).")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--test", metavar="PATH", help="evaluate on this test file instead")
    p.add_argument("--ties", choices=["pessimistic", "optimistic", "expected"],
                   help="tie policy (default: the run's)")
    p.add_argument("-k", metavar="K", help="ranking cutoff(s) (default: the run's)")
    p.add_argument("--protocol", metavar="NAME",
                   help="another protocol on the same split, e.g. loo-full for a run "
                        "trained with ncf-loo99")

    p = sub.add_parser("recommend", help="top-k items for a user, a session or a set of items",
                       description="Recommend with RUN's best checkpoint; ids are the raw ids "
                                   "of the data files.")
    p.add_argument("run", metavar="RUN", help="run directory or checkpoint file")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="ID", help="a known user (seen items are excluded)")
    who.add_argument("--session", metavar="ID,ID,...",
                     help="a session's items in click order (session models)")
    who.add_argument("--items", metavar="ID,ID,...",
                     help="a brand-new user's items (fold-in models, no retraining)")
    p.add_argument("-k", type=_COUNT, default=10, metavar="K", help="number of items (default 10)")

    p = sub.add_parser("similar", help="the items nearest to an item",
                       description="Items most similar to ITEM by cosine similarity in the "
                                   "model's item representation.")
    p.add_argument("run", metavar="RUN", help="run directory or checkpoint file")
    p.add_argument("--item", required=True, metavar="ID", help="raw item id")
    p.add_argument("-k", type=_COUNT, default=10, metavar="K", help="number of items (default 10)")

    p = sub.add_parser("data", help="inspect or download data sets")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    q = data_sub.add_parser("info", help="statistics of a data file",
                            description="Counts, density, time range and session lengths.")
    q.add_argument("path", metavar="PATH", help="data file")
    q.add_argument("--format", default="auto", help="file format (default: detect)")
    q = data_sub.add_parser("download", help="download a public data set",
                            description="Download and verify a MovieLens data set into the "
                                        "cache directory ($NPREC_CACHE or ~/.cache/nprec).")
    q.add_argument("name", metavar="NAME", help="ml-100k, ml-1m or ml-20m")
    q.add_argument("--cache", metavar="DIR", help="cache directory")

    p = sub.add_parser("compare", help="a table of several runs' metrics and timings")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")

    p = sub.add_parser("plot", help="learning curves of a run as a PNG (needs matplotlib)")
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--out", metavar="FILE.png", help="image file (default RUN/curves.png)")
    return parser


def _refuse_empty_values(args: argparse.Namespace) -> None:
    """`--data ""` (what `--data "$DATA"` gives with DATA unset) is a mistake, not a default."""
    for name, value in vars(args).items():
        if value == "" or (isinstance(value, list) and "" in value):
            flag = {"k": "-k", "run": "RUN", "path": "PATH", "name": "NAME",
                    "runs": "RUN"}.get(name, "--" + name)
            raise ConfigError(f"{flag}: empty value")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (`kill`, a batch scheduler's stop) ends a run as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # A job started in the background of a script ignores SIGINT, so `kill` (SIGTERM)
        # is how it gets stopped: keep last.npz and say how to resume, as for Ctrl-C.
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        _refuse_empty_values(args)
        from nprec import commands
        from nprec.train import prepare_process

        prepare_process()              # training and scoring: allocator and BLAS threads
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            status = commands.dispatch(args)
        # Warnings (NumPy's overflow, say) are shown once the command succeeded; when it
        # fails, its one error line says what went wrong and they are left out.
        for w in caught:
            where = "" if issubclass(w.category, UserWarning) else \
                f" ({Path(w.filename).name}:{w.lineno})"          # NumPy's: where it arose
            print(f"nprec: warning: {w.message}{where}", file=sys.stderr)
        return status
    except NprecError as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"nprec: error: {message}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        # Settings too large for this machine (e.g. layers=100000) are the user's to change.
        detail = " ".join(str(exc).split()) or "an array did not fit"
        print(f"nprec: error: out of memory ({detail}); try smaller settings",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nprec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        # The machine's, not the code's: an unwritable directory, a full disk, a path that
        # is a directory. Name what failed, in one line.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nprec: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
