"""What each `nprec` sub-command does (the argument parsing is in `nprec.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from nprec.checkpoint import load_meta
from nprec.config import option_help
from nprec.data import describe, detect_format, format_description
from nprec.data.containers import IdMap
from nprec.errors import CheckpointError, ConfigError, NprecError, UnknownIdError
from nprec.models import MODELS, model_module
from nprec.report import compare_runs, format_table, plot_run
from nprec.runs import existing_run_dir, new_run_dir


def _log(line: str) -> None:
    """One line to stderr that does not tear an active progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def dispatch(args: argparse.Namespace) -> int:
    handler = {"train": cmd_train, "evaluate": cmd_evaluate, "recommend": cmd_recommend,
               "similar": cmd_similar, "data": cmd_data, "compare": cmd_compare,
               "plot": cmd_plot}[args.command]
    return handler(args)


# -- train ------------------------------------------------------------------------------------

def _print_options(model_name: str) -> None:
    from nprec.experiment import default_settings

    settings = default_settings(model_name)
    module = model_module(model_name)
    doc = (module.__doc__ or "").strip().splitlines()
    print(f"{model_name}: {doc[0] if doc else ''}\n")
    for section in ("model", "data", "train", "eval"):
        obj = settings.section(section)
        rows = [[f"{section}.{name}", repr(getattr(obj, name)), help_text]
                for name, _, help_text in option_help(type(obj))]
        print(format_table(["option", "default", "meaning"], rows))
        print()
    aliases = getattr(module, "ALIASES", {})
    if aliases:
        print("aliases: " + ", ".join(f"{a} = {t}" for a, t in aliases.items()))


def cmd_train(args: argparse.Namespace) -> int:
    from nprec.experiment import resolve_settings, resume_run, train_run

    if args.models:
        for name in sorted(MODELS):
            doc = (model_module(name).__doc__ or "").strip().splitlines()
            print(f"{name:10s} {doc[0] if doc else ''}")
        return 0
    progress = not args.quiet
    log = None if args.quiet else _log
    if args.resume:
        given = [f"--{k}" for k in ("model", "data", "test", "valid", "protocol", "seed",
                                    "k", "config", "params", "factors", "layers", "out")
                 if getattr(args, k, None)] + \
            (["--set"] if args.set else []) + (["--pretrain"] if args.pretrain else []) + \
            (["--options"] if args.options else [])
        if given:
            raise ConfigError(f"--resume continues a run with its own settings (only "
                              f"--epochs may change); remove {', '.join(given)}")
        run_dir = existing_run_dir(args.resume, need="")
        return _finish_training(
            lambda: resume_run(run_dir, epochs=args.epochs, progress=progress, log=log),
            run_dir, created=False, resumed=True)
    if not args.model and args.config:
        from nprec.config import read_toml

        named = read_toml(args.config).get("model_name")        # the file may name it
        if named is not None and not isinstance(named, str):
            raise ConfigError(f"{args.config}: model_name must be a string, got {named!r}")
        args.model = named
    if not args.model:
        raise ConfigError("train: name a MODEL (`nprec train --models` lists them)")
    if args.options:
        _print_options(args.model)
        return 0
    flags = {"data.path": args.data, "data.test": args.test, "data.valid": args.valid,
             "eval.protocol": args.protocol, "train.epochs": args.epochs,
             "train.seed": args.seed, "eval.k": args.k, "model.factors": args.factors,
             "model.layers": args.layers, "model.pretrain": True if args.pretrain else None}
    settings = resolve_settings(args.model, config_file=args.config, sets=args.set,
                                params=args.params, flags=flags)
    existed = args.out is not None and Path(args.out).exists()
    run_dir = new_run_dir(args.out, args.model)
    return _finish_training(
        lambda: train_run(settings, run_dir, progress=progress and settings.train.progress,
                          log=log),
        run_dir, created=not existed)


def _finish_training(run, run_dir: Path, created: bool, resumed: bool = False) -> int:
    """Run `run()` and print the test metrics; if it fails, say what is left and tidy up.

    `created`: this process created `run_dir`. `resumed`: a `--resume`, whose files this
    process did not create, so nothing at all is removed.
    """
    try:
        results = run()
    except KeyboardInterrupt:
        print(f"nprec: interrupted; {_after_interrupt(run_dir, created, resumed)}",
              file=sys.stderr)
        return 130
    except (NprecError, MemoryError):
        if not resumed and not (run_dir / "best.npz").exists():
            _clean_failed_run(run_dir, created)     # no trained model: nothing worth keeping
        raise
    print(f"run: {run_dir}")
    protocol = results["protocol"]["name"]
    for key, value in results["test"].items():
        print(f"test {protocol} {key}: {value:.4f}")
    for name, report in (results.get("test_also") or {}).items():
        for key, value in report["metrics"].items():
            print(f"test {name} {key}: {value:.4f}")
    return 0


def _after_interrupt(run_dir: Path, created: bool, resumed: bool) -> str:
    """What an interrupted run left, as the rest of the message; a new run that left
    nothing to resume from is removed, so the same command can start it again."""
    last = run_dir / "last.npz"
    resume = f"continue with: nprec train --resume {run_dir}"
    if last.exists():
        try:
            epochs = load_meta(last)["fit_state"]["epoch"]
        except (NprecError, KeyError, TypeError):
            return f"{last} keeps the last completed epoch; {resume}"
        return f"{last} keeps {epochs} trained epoch{'' if epochs == 1 else 's'}; {resume}"
    if (run_dir / "pretrain").is_dir() and (run_dir / "config.toml").exists():
        return f"the pre-training done so far is kept in {run_dir / 'pretrain'}; {resume}"
    if not resumed:
        _clean_failed_run(run_dir, created)
    return "nothing was saved; start again with the same command"


# The files a run writes into its directory (and into each pre-training stage's).
_RUN_FILES = ("config.toml", "last.npz", "best.npz", "results.json")


def _clean_failed_run(run_dir: Path, created: bool) -> None:
    """Remove what a new run that failed wrote, so its `--out` can be used again.

    Only for a new run (never a --resume): `new_run_dir` accepted an empty or missing
    directory, so the files nprec writes there are this process's. Anything else found there
    is left alone, and then the directory too.
    """
    stages = sorted((run_dir / "pretrain").glob("*"))       # NeuMF's pre-training runs
    for folder in [*stages, run_dir / "pretrain"]:
        _remove_run_files(folder, remove_dir=True)
    _remove_run_files(run_dir, remove_dir=created)


def _remove_run_files(folder: Path, remove_dir: bool) -> None:
    """Delete the files nprec writes in `folder`; then `folder` itself if asked and empty."""
    if not folder.is_dir():
        return
    for name in _RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    if remove_dir and not any(folder.iterdir()):
        folder.rmdir()


# -- evaluate, recommend, similar --------------------------------------------------------------

def cmd_evaluate(args: argparse.Namespace) -> int:
    from nprec.config import apply
    from nprec.evaluation import evaluate
    from nprec.experiment import load_trained
    from nprec.run_data import check_protocol, load_run_data, same_split

    settings, model, _ = load_trained(args.run)
    changes: dict[str, Any] = {}
    if args.test:
        changes["data.test"] = args.test
    if args.ties:
        changes["eval.ties"] = args.ties
    if args.k:
        changes["eval.k"] = args.k
    if args.protocol:
        changes["eval.protocol"] = args.protocol
    trained_with = settings.eval.protocol
    if changes:
        settings = apply(settings, changes, "evaluate")
        check_protocol(settings.eval.protocol, model_module(settings.model_name).KIND,
                       settings.model_name)
        if not same_split(settings.eval.protocol, trained_with):
            raise ConfigError(f"--protocol: {settings.eval.protocol} needs a different split "
                              f"than the run's {trained_with}; its model was trained on the "
                              f"training part of that split")
    data = load_run_data(settings, model_module(settings.model_name).KIND)
    _check_trained_on(Path(args.run), data.record.get("files", []))
    report = evaluate(model, data, "test", settings)
    by_ties = report.get("by_ties") or {report["ties"]: report["metrics"]}
    names = list(report["metrics"])
    rows = [[policy] + [f"{values[n]:.4f}" for n in names] for policy, values in
            by_ties.items()]
    print(f"{settings.model_name} on {settings.data.test or settings.data.path or 'synthetic'}"
          f" ({report['protocol']}, {report['rows']} rows)")
    print(format_table(["ties"] + names, rows))
    return 0


def _check_trained_on(run: Path, files: list[dict[str, Any]]) -> None:
    """The data read now must be the data the run was trained on (same SHA-256): a relative
    path read from another directory, or a file edited since, would be scored silently."""
    from nprec.run_data import check_same_files
    from nprec.runs import read_results

    try:
        trained = read_results(run)
    except CheckpointError:
        return                                      # a bare checkpoint: nothing to compare
    record = trained.get("data") if isinstance(trained, dict) else None
    if isinstance(record, dict) and isinstance(record.get("files"), list):
        check_same_files([f for f in record["files"] if isinstance(f, dict)], files)


def _ids(text: str, option: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise ConfigError(f"{option}: give at least one id")
    return ids


def _index(ids: IdMap, text: str) -> int:
    """Dense index of an id typed on the command line. Integer ids must be written as the
    data files write them: Python's int() would also read '1_0', '+1' or '١٠' as a number."""
    if ids.raw.dtype.kind in "iu" and not (text.isascii() and text.lstrip("-").isdigit()):
        raise UnknownIdError(f"unknown {ids.what} id {text!r}")
    return ids.index(text)


def _indices(ids: IdMap, texts: list[str]) -> np.ndarray:
    return np.array([_index(ids, t) for t in texts], dtype=np.int64)


def _top(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    from nprec.kernels import topk_rows

    scores = np.array(scores, dtype=np.float64).reshape(1, -1)          # (1, V)
    if exclude is not None and exclude.size:
        scores[0, exclude] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    return topk_rows(scores, k)[0] if k > 0 else np.zeros(0, dtype=np.int64)


def _print_items(items: np.ndarray, scores: np.ndarray, item_ids: np.ndarray,
                 score_name: str = "score") -> None:
    rows = [[str(r + 1), str(item_ids[i]), f"{float(scores[i]):.4f}"]
            for r, i in enumerate(items)]
    print(format_table(["rank", "item", score_name], rows))


def cmd_recommend(args: argparse.Namespace) -> int:
    from nprec.experiment import load_trained

    if args.k < 1:
        raise ConfigError(f"-k: must be >= 1, got {args.k}")
    settings, model, ckpt = load_trained(args.run)
    items_map = IdMap(ckpt.arrays["item_ids"], "item")
    kind = ckpt.meta.get("kind")
    name = settings.model_name
    score_name = "score"
    if args.user is not None:
        if kind == "sessions":
            raise ConfigError(f"--user: {name} is a session model; give --session ID,ID,...")
        u = _index(IdMap(ckpt.arrays["user_ids"], "user"), args.user)
        if hasattr(model, "score_all"):
            scores = model.score_all(np.array([u]))[0]                  # (V,)
        else:                     # a rating model (AutoRec, biased MF): the predicted ratings
            V = items_map.raw.size
            scores = model.predict(np.full(V, u, dtype=np.int64), np.arange(V))  # (V,)
            score_name = "predicted rating"
        indptr, indices = ckpt.arrays["train_indptr"], ckpt.arrays["train_indices"]
        top = _top(scores, args.k, indices[indptr[u]:indptr[u + 1]])
    elif args.session is not None:
        if kind != "sessions":
            raise ConfigError(f"--session: {name} is not a session model; give --user ID"
                              + (" or --items ID,..." if hasattr(model, "score_fold_in") else ""))
        seq = _indices(items_map, _ids(args.session, "--session"))
        if hasattr(model, "score_session"):
            scores = model.score_session(seq)                           # (V,)
        else:
            scores = model.score_prefixes(seq[None, :], np.ones((1, seq.size), bool))[0]
        top = _top(scores, args.k)
    else:
        if not hasattr(model, "score_fold_in"):
            raise ConfigError(f"--items: {name} cannot fold in a new user's items (it knows "
                              f"only its training users); use --user ID, or a fold-in model "
                              f"(multvae, multdae, cdae, ease, itemknn, pop)")
        given = np.unique(_indices(items_map, _ids(args.items, "--items")))
        X = sp.csr_array((np.ones(given.size, dtype=np.float32),
                          (np.zeros(given.size, dtype=np.int64), given)),
                         shape=(1, items_map.raw.size))
        scores = model.score_fold_in(X)[0]                              # (V,)
        top = _top(scores, args.k, given)
    _print_items(top, scores, ckpt.arrays["item_ids"], score_name)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from nprec.experiment import load_trained

    if args.k < 1:
        raise ConfigError(f"-k: must be >= 1, got {args.k}")
    settings, model, ckpt = load_trained(args.run)
    i = _index(IdMap(ckpt.arrays["item_ids"], "item"), args.item)
    # Item-item models rank by their own similarity, the others by cosine of item vectors.
    similarity = getattr(model, "item_similarities", lambda item: None)(i)    # (V,) or None
    label = "similarity"
    if similarity is None and hasattr(model, "item_vectors"):
        vectors = np.asarray(model.item_vectors(), dtype=np.float64)    # (V, d)
        norms = np.linalg.norm(vectors, axis=1)                         # (V,)
        similarity = vectors @ vectors[i] / np.maximum(norms * norms[i], 1e-12)  # (V,)
        label = "cosine"
    elif similarity is None:
        raise ConfigError(f"similar: {settings.model_name} has no item representation")
    top = _top(similarity, args.k, np.array([i]))
    _print_items(top, similarity, ckpt.arrays["item_ids"], label)
    return 0


# -- data, compare, plot -----------------------------------------------------------------------

def cmd_data(args: argparse.Namespace) -> int:
    from nprec.data import download, read_interactions, read_sessions
    from nprec.data.downloads import cache_dir

    if args.data_command == "info":
        fmt = detect_format(args.path) if args.format == "auto" else None
        kind = fmt.kind if fmt is not None else None
        name = fmt.name if fmt is not None else args.format
        if kind is None:
            from nprec.data import FORMATS

            if name not in FORMATS:
                raise ConfigError(f"--format: unknown format {name!r} "
                                  f"({', '.join(FORMATS)})")
            kind = FORMATS[name].kind
        if kind == "negatives":
            from nprec.data import read_ncf_negatives

            neg, info = read_ncf_negatives(args.path)
            print(format_table(["field", "value"],
                               [["file", str(args.path)], ["format", name],
                                ["test users", str(neg.users.size)],
                                ["negatives per user", str(neg.negatives.shape[1])]]))
            return 0
        reader = read_sessions if kind == "sessions" else read_interactions
        data, info = reader(args.path, name)
        print(format_description(describe(data), title=f"{args.path} ({name})"))
        return 0
    if args.data_command == "download":
        path = download(args.name, cache_dir(args.cache))
        print(path)
        return 0
    raise ConfigError("data: give an action: info PATH or download NAME")


def cmd_compare(args: argparse.Namespace) -> int:
    print(compare_runs(args.runs))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    print(plot_run(args.run, args.out))
    return 0
