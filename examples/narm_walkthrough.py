"""NARM step by step: prefix batches, one training step by shape, then attention on a real session.

    python examples/narm_walkthrough.py [--sessions 6000] [--epochs 4]

1. The training samples: every prefix of every session with the item that followed it,
   left-aligned in a padded (B, T) matrix with a mask.
2. One training step, shape by shape: embeddings, GRU states, the global and local
   encoders, the bilinear scores over all items, the loss and the gradients (E gets two).
3. Training on the most recent sessions of YooChoose 1/64 (SR-GNN files in ../shared/data;
   synthetic sessions if they are missing) and Recall@20 / MRR@20 on test sessions.
4. The attention weights of one test session printed next to its items, and the items NARM
   ranks first for the next click.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from nprec.data.containers import Sessions
from nprec.data.preprocess import compact
from nprec.data.session_readers import read_sessions
from nprec.data.synthetic import synthetic_sessions
from nprec.metrics import RankingEvaluator
from nprec.models import narm
from nprec.optim import Adam
from nprec.train import fit, init_rng

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "session" / "yoochoose1_64"


def load(n_sessions: int) -> tuple[Sessions, Sessions, str]:
    """The last n_sessions training sessions (their own item vocabulary), 2000 test sessions."""
    if not DATA.is_dir():
        data = synthetic_sessions(n_sessions + 1000, 2000, seed=0)
        return data.select(np.arange(n_sessions)), \
            data.select(np.arange(n_sessions, n_sessions + 1000)), "synthetic sessions"
    full, _ = read_sessions(DATA / "train_sessions.txt.gz")
    train, _ = compact(full.select(np.arange(full.n_sessions - n_sessions, full.n_sessions)))
    test, _ = read_sessions(DATA / "test.tsv.gz", item_ids=train.item_ids, unknown="drop")
    return train, test.select(np.flatnonzero(test.lengths() >= 2)[:2000]), "YooChoose 1/64"


def show_batch() -> None:
    sessions = Sessions.from_lists([[3, 1, 4, 1], [5, 9], [2, 6, 5]], n_items=10)
    model = narm.Model(narm.Config(batch_size=8, bucket=0), 0, 10, rng=init_rng(0))
    batch = next(iter(model.batches(sessions, np.random.default_rng(0))))
    print("1. Every prefix predicts the item that followed it (3 sessions -> 6 samples):")
    for items, mask, target in zip(batch.items, batch.mask, batch.targets, strict=True):
        print(f"   {str(items[mask].tolist()):14s} -> {target}      row {items}  mask "
              f"{mask.astype(int)}")
    print("   Padding is item 0 but never read: the mask keeps it out of the GRU and the\n"
          "   attention. Dropout masks travel with the batch: emb_mask "
          f"{batch.emb_mask.shape}, ctx_mask {batch.ctx_mask.shape}.\n")


def show_step(train: Sessions) -> None:
    model = narm.Model(narm.Config(), 0, train.n_items, rng=init_rng(0))
    batch = next(iter(model.batches(train, np.random.default_rng(0))))
    loss, cache = model.forward(batch)
    grads = model.backward(cache)
    B = batch.items.shape[0]
    H, V = model.config.hidden_units, train.n_items
    print("2. One training step (B prefixes, T steps, D = 50, H = 100, V items):")
    rows = [("items, mask", batch.items.shape, "prefixes, left-aligned"),
            ("GRU states h_1..h_T", cache.att.shape, "padded steps carry the state"),
            ("real states", cache.att.h.shape, "what the attention reads (padding skipped)"),
            ("c_g = h_T", (B, H), "the global encoder: last real state"),
            ("attention weights", cache.att.a.shape, "softmax over each row's real steps"),
            ("c = [c_l; c_g]", cache.dec.c.shape, "session vector, dropout 0.5"),
            ("scores = (c Bmᵀ) Eᵀ", (B, V), "every item, the same E as the input")]
    for name, shape, what in rows:
        print(f"   {name:20s} {str(shape):15s} {what}")
    print(f"   loss = {float(loss):.4f} ≈ log V = {np.log(V):.4f} at the start: the official\n"
          f"   initialisation draws E with std sqrt(2 / V), so every score starts near 0")
    print("   gradients: " + ", ".join(f"{k} {np.shape(g)}" for k, g in grads.items()))
    print("   E's gradient is dense: the decoder scores every item, and the rows the batch\n"
          "   read as inputs add their embedding gradient on top (a table read twice).\n")


def train_and_test(train: Sessions, test: Sessions, epochs: int, name: str) -> narm.Model:
    model = narm.Model(narm.Config(), 0, train.n_items, rng=init_rng(0))
    opt = Adam(model.config.learning_rate)
    print(f"3. Training on {train.n_sessions} sessions of {name} ({train.n_items} items), "
          f"{epochs} epochs:")
    start = time.perf_counter()
    fit(model, opt, lambda rng: model.batches(train, rng), epochs=epochs, seed=0,
        log=lambda line: print("   " + line))
    ev = RankingEvaluator(ks=(20,), metrics=("hit", "mrr"), n_items=train.n_items)
    for scores, targets in model.next_item_scores(test, 512):
        ev.add(scores, targets)
    pess, opti = ev.result("pessimistic"), ev.result("optimistic")
    print(f"   {time.perf_counter() - start:.1f} s. Test ({ev.n_rows} next items): "
          f"Recall@20 {pess['hit@20']:.3f}, MRR@20 {pess['mrr@20']:.3f} (pessimistic ties; "
          f"optimistic {opti['hit@20']:.3f} / {opti['mrr@20']:.3f})\n")
    return model


def show_attention(model: narm.Model, test: Sessions) -> None:
    lengths = test.lengths()
    s = int(np.flatnonzero(lengths >= 6)[0]) if (lengths >= 6).any() else int(np.argmax(lengths))
    session = test.session(s)
    prefix, nxt = session[:-1], int(session[-1])
    alpha = model.attention_weights(prefix)
    raw = test.item_ids
    print(f"4. Attention of the local encoder over test session {test.session_ids[s]} "
          f"(raw item ids):")
    for j, (item, a) in enumerate(zip(prefix, alpha, strict=True)):
        print(f"   step {j + 1}  item {raw[item]!s:>6}  α = {a:.3f}  {'#' * int(round(40 * a))}")
    scores = model.score_session(prefix)
    top = np.argsort(-scores)[:5]
    rank = int((scores > scores[nxt]).sum()) + 1
    print(f"   next click: item {raw[nxt]}, ranked {rank} of {scores.size}; NARM's top 5: "
          + ", ".join(str(raw[i]) for i in top))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    show_batch()
    train, test, name = load(args.sessions)
    show_step(train)
    model = train_and_test(train, test, args.epochs, name)
    show_attention(model, test)


if __name__ == "__main__":
    main()
