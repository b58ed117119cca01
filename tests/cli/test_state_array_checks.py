"""Forged model state in a checkpoint: the arrays a model restores besides its parameters
(the baselines' fitted matrices and session index, the training rows of the autoencoders,
GRU4Rec's supports, Mult-VAE's update counter, biased MF's mean and known ids).

Each forged array is one error line naming the file and the array (exit 2) from the serving
commands, and a `CheckpointError` from the API: never a traceback, an out-of-bounds read in
a kernel, or a ranking computed from arrays the model was not built for.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from nprec.cli import main
from nprec.errors import CheckpointError
from nprec.experiment import load_trained

TINY = ["--set", "data.synthetic_users=60", "--set", "data.synthetic_items=40"]
BASELINES = ("pop", "itemknn", "ease", "sknn")
MODELS = BASELINES + ("gru4rec", "multdae", "multvae", "cdae", "autorec", "biasedmf")

# The command after `nprec` and before the run directory, and what follows it.
USER = ("recommend", "--user", "1")
SESSION = ("recommend", "--session", "1,2")
ITEM = ("similar", "--item", "1")
EVALUATE = ("evaluate",)
QUERIES = {"pop": [USER], "itemknn": [USER, ITEM], "ease": [USER, ITEM], "sknn": [SESSION],
           "gru4rec": [SESSION, ITEM], "multdae": [USER, ITEM], "multvae": [USER, ITEM],
           "cdae": [USER, ITEM], "autorec": [USER, ITEM], "biasedmf": [USER, ITEM]}


def _train(out: Path, model: str, *extra: str) -> Path:
    epochs = [] if model in BASELINES else ["--epochs", "1"]
    assert main(["train", model, "--quiet", "--out", str(out), *TINY, *epochs, *extra]) == 0
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run of every model that stores state arrays, and of MF, which stores none."""
    root = tmp_path_factory.mktemp("trained")
    return {model: _train(root / model, model) for model in (*MODELS, "mf")}


def _forge(run: Path, out: Path, change, name: str = "best.npz") -> Path:
    """A copy of `run` whose checkpoint `name` has its arrays changed by `change(arrays)`."""
    shutil.copytree(run, out)
    path = out / name
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    change(arrays)
    np.savez(path, **arrays)
    return path


def _run(capsys, query: tuple[str, ...], run: Path) -> tuple[int, str, str]:
    """`nprec COMMAND RUN ARGS...`: its exit status, standard output and error."""
    capsys.readouterr()
    code = main([query[0], str(run), *query[1:]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _set(name, f):
    def change(arrays):
        arrays[name] = f(arrays[name])
    return change


def _drop(name):
    return lambda arrays: arrays.pop(name)


def _put(i, value):
    """The array with entry i replaced by value."""
    def f(a):
        a = a.copy()
        a[i] = value
        return a
    return f


def _repeat_first(a):
    """The first entry twice: the first row of a CSR lists its first column twice."""
    return np.r_[a[0], a[0], a[2:]]


def _other_items_in_session_0(arrays):
    """Session 0 lists other (valid, sorted) items than the item -> sessions half says."""
    ptr, items = arrays["param/sess_ptr"], arrays["param/p_item"].copy()
    n = int(ptr[1] - ptr[0])
    items[:n] = [i for i in range(40) if i not in set(items[:n].tolist())][:n]
    arrays["param/p_item"] = items


def _unsigned_backwards_step(a):
    """A row pointer as uint64 with one step back, which unsigned differences would hide."""
    a = a.astype(np.uint64)
    a[5] = a[4] - 1
    return a


def _forged(model, query, change, message):
    return pytest.param(model, query, change, message, id=f"{model}-{message[:40]}")


FORGED = [
    # popularity: one support per item, none negative
    _forged("pop", USER, _set("param/support", lambda a: a[:10]),
            "param/support has shape (10,), the model expects (40,)"),
    _forged("pop", USER, _set("param/support", _put(3, -5.0)),
            "param/support holds negative counts"),
    # item-kNN: the similarity matrix W (V, V) and the training rows X (U, V), both CSR
    _forged("itemknn", ITEM, _set("param/W_indices", lambda a: a + 1000),
            "param/W_indices holds indices outside 0..39"),
    _forged("itemknn", ITEM, _set("param/W_indptr", lambda a: a[::-1]),
            "param/W_indptr is not a valid row pointer"),
    _forged("itemknn", ITEM, _set("param/W_indptr", lambda a: a[:30]),
            "param/W_indptr has shape (30,), the model expects (41,)"),
    _forged("itemknn", ITEM, _set("param/W_indices", _repeat_first),
            "param/W_indices lists a column twice in a row"),
    _forged("itemknn", ITEM, _set("param/W_data", lambda a: a[:-1]),
            "param/W_data has shape"),
    _forged("itemknn", ITEM, _drop("param/W_indices"), "lacks param/W_indices"),
    _forged("itemknn", USER, _set("param/X_shape", lambda a: a + 1),
            "param/X_shape says (61, 41), the arrays make a (60, 40) matrix"),
    _forged("itemknn", USER, _set("param/X_indices", lambda a: a.astype(np.float64)),
            "param/X_indices holds float64 values, not integers"),
    # EASE: the dense B (V, V) and the training rows X (U, V)
    _forged("ease", USER, _set("param/B", lambda a: a[:, :30]),
            "param/B has shape (40, 30), the model expects (40, 40)"),
    _forged("ease", ITEM, _set("param/B", lambda a: a[:30]),
            "param/B has shape (30, 40), the model expects (40, 40)"),
    _forged("ease", USER, _set("param/X_indptr", lambda a: a[:30]),
            "param/X_indptr has shape (30,), the model expects (61,)"),
    _forged("ease", USER, _set("param/X_indices", lambda a: -a - 1),
            "param/X_indices holds indices outside 0..39"),
    _forged("ease", USER, _set("param/X_data", lambda a: a.astype(np.int64)),
            "param/X_data holds int64 values, not floats"),
    _forged("ease", EVALUATE, _set("param/X_indptr", _put(5, 10**6)),
            "param/X_indptr is not a valid row pointer"),
    # session kNN: sessions -> items and items -> sessions (most recent first), read by Numba
    _forged("sknn", SESSION, _set("param/p_item", lambda a: a + 1000),
            "param/p_item holds indices outside 0..39"),
    _forged("sknn", SESSION, _set("param/p_sess", lambda a: a + 10**6),
            "param/p_sess holds indices outside"),
    _forged("sknn", SESSION, _set("param/item_ptr", lambda a: a[:-1]),
            "param/item_ptr has shape (40,), the model expects (41,)"),
    _forged("sknn", SESSION, _set("param/sess_ptr", lambda a: a[::-1]),
            "param/sess_ptr is not a valid row pointer"),
    _forged("sknn", SESSION, _set("param/recency", lambda a: np.r_[a[1], a[1:]]),
            "param/recency is not a ranking of the sessions"),
    _forged("sknn", SESSION, _set("param/p_sess", lambda a: a[::-1]),
            "param/p_sess does not list each item's sessions most recent first"),
    _forged("sknn", SESSION, _other_items_in_session_0,
            "param/p_sess and p_item do not index the same (session, item) pairs"),
    _forged("sknn", SESSION, _set("param/idf_factor", lambda a: a[:5]),
            "param/idf_factor has shape (5,), the model expects (40,)"),
    # GRU4Rec: the training support of every item (items without any are never ranked)
    _forged("gru4rec", SESSION, _set("array/state/support", lambda a: a[:10]),
            "state/support has shape (10,), the model expects (40,)"),
    _forged("gru4rec", SESSION, _set("array/state/support", _put(0, -1)),
            "state/support holds negative counts"),
    _forged("gru4rec", SESSION, _set("array/state/support", lambda a: a > 0),
            "state/support holds bool values, not numbers"),
    # the autoencoders' training rows (U, V), folded in to score a training user
    _forged("multdae", USER, _set("array/state/train_indices", lambda a: a + 1000),
            "state/train_indices holds indices outside 0..39"),
    _forged("multdae", USER, _set("array/state/train_indptr", lambda a: a[:10]),
            "state/train_indptr has shape (10,), the model expects (49,)"),
    _forged("multdae", USER, _drop("array/state/train_indices"),
            "lacks state/train_indices"),
    _forged("multdae", USER, _set("array/state/train_indptr", _unsigned_backwards_step),
            "state/train_indptr is not a valid row pointer"),
    _forged("cdae", USER, _set("array/state/train_indptr", lambda a: a[::-1]),
            "state/train_indptr is not a valid row pointer"),
    _forged("cdae", USER, _set("array/state/train_indices", _repeat_first),
            "state/train_indices lists a column twice in a row"),
    _forged("multvae", EVALUATE, _set("array/state/train_indices", lambda a: a - 100),
            "state/train_indices holds indices outside 0..39"),
    # Mult-VAE's update counter (the KL annealing's clock)
    _forged("multvae", USER, _set("array/state/update_count", lambda a: -a - 1),
            "state/update_count is a negative count"),
    _forged("multvae", USER, _set("array/state/update_count", lambda a: a.astype(np.float64)),
            "state/update_count holds float64 values, not integers"),
    _forged("multvae", USER, _set("array/state/update_count", lambda a: np.r_[a, a]),
            "state/update_count has shape (2,), the model expects (1,)"),
    _forged("multvae", USER, _drop("array/state/update_count"), "lacks state/update_count"),
    # AutoRec's training rating rows: item-based, 40 items × 60 users
    _forged("autorec", USER, _set("array/state/rows_indices", lambda a: a + 1000),
            "state/rows_indices holds indices outside 0..59"),
    _forged("autorec", USER, _set("array/state/rows_ratings", lambda a: a[:-1]),
            "state/rows_ratings has shape"),
    _forged("autorec", USER, _set("array/state/rows_indptr", lambda a: a[:-1]),
            "state/rows_indptr has shape (40,), the model expects (41,)"),
    # biased MF: μ, the rating range, and which users and items training saw
    _forged("biasedmf", USER, _set("array/state/known_users", lambda a: a[:10]),
            "state/known_users has shape (10,), the model expects (60,)"),
    _forged("biasedmf", USER, _set("array/state/known_items", lambda a: a.astype(np.int64)),
            "state/known_items holds int64 values, not booleans"),
    _forged("biasedmf", USER, _set("array/state/range", lambda a: a[::-1]),
            "state/range [5.0, 1.0] does not hold the mean rating"),
    _forged("biasedmf", USER, _set("array/state/mu", lambda a: np.r_[a, a]),
            "state/mu has shape (2,), the model expects (1,)"),
    _forged("biasedmf", USER, _drop("array/state/mu"), "lacks state/mu"),
    # a model that keeps no state is handed some
    _forged("mf", USER, lambda arrays: arrays.update({"array/state/support": np.ones(40)}),
            "state arrays ['support'] for a model that keeps none"),
]


def _drop_all_state(arrays):
    for key in [k for k in arrays if k.startswith("array/state/")]:
        del arrays[key]


FORGED += [_forged(model, QUERIES[model][0], _drop_all_state,
                   "holds none of the model's state arrays")
           for model in ("gru4rec", "multdae", "multvae", "cdae", "autorec", "biasedmf")]


@pytest.mark.parametrize("model, query, change, message", FORGED)
def test_forged_state_arrays_are_one_line_errors(tmp_path, capsys, trained, model, query,
                                                 change, message):
    forged = _forge(trained[model], tmp_path / "run", change)
    code, _, err = _run(capsys, query, forged.parent)
    assert code == 2, err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1, err
    assert f"{forged}: " in err and message in err, err
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_trained(forged)


@pytest.mark.parametrize("model", MODELS)
def test_an_untouched_checkpoint_still_serves(tmp_path, capsys, trained, model):
    # The control of the forged cases: the same copy and rewrite, nothing changed, gives
    # the original run's answers.
    copy = _forge(trained[model], tmp_path / "run", lambda arrays: None).parent
    for query in QUERIES[model]:
        code, out, err = _run(capsys, query, copy)
        assert code == 0, err
        assert out == _run(capsys, query, trained[model])[1]


def test_a_forged_update_count_is_refused_by_resume(tmp_path, capsys):
    # The counter drives β of the next update: a resume must not train on from a forged one.
    run = _train(tmp_path / "run", "multvae")
    (run / "results.json").unlink()
    last = _forge(run, tmp_path / "forged", _set("array/state/update_count", lambda a: -a - 1),
                  "last.npz")
    before = last.read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(last.parent), "--quiet", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nprec: error: ") and err.count("\n") == 1, err
    assert f"{last}: state/update_count is a negative count" in err, err
    assert last.read_bytes() == before
