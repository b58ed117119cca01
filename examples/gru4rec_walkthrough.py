"""GRU4Rec step by step: session-parallel mini-batches, then training on real clicks.

    python examples/gru4rec_walkthrough.py [--epochs 2]

1. Seven tiny sessions laid out over three parallel slots: each column is one mini-batch,
   each cell the (input -> target) pair a slot contributes; `*` marks the step where a slot
   starts a new session and its hidden state is zeroed BEFORE the step.
2. Training with the official RSC15 cross-entropy settings on `session/rsc15_100k` (the
   synthetic sessions of `nprec.data.synthetic` if ../shared/data is missing).
3. Next-item evaluation: Recall@20 (= hit rate) and MRR@20, ties ranked pessimistically.
4. Recommendations for one test session.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from nprec.data.containers import Sessions
from nprec.data.session_readers import read_sessions
from nprec.data.synthetic import synthetic_sessions
from nprec.metrics import RankingEvaluator
from nprec.models.gru4rec import Config, Model
from nprec.optim import Adagrad
from nprec.samplers.session_parallel import SessionParallelBatches
from nprec.train import fit, init_rng

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "session" / "rsc15_100k"


def show_slots() -> None:
    """Print the session-parallel layout of seven small sessions over three slots."""
    sessions = Sessions.from_lists([[1, 2, 3, 4], [5, 6], [7, 8, 9], [10, 11, 12, 13, 14],
                                    [15, 16], [17, 18, 19], [20, 21]], n_items=22)
    layout = SessionParallelBatches(sessions, batch_size=3)
    session_of = np.repeat(np.arange(sessions.n_sessions), sessions.lengths())
    # Follow each slot through the steps: `keep` says which previous row a row continues.
    slot_of_row = np.arange(3)
    table = {slot: [] for slot in range(3)}
    for t in range(layout.n_steps):
        a, b = layout.step_offsets[t], layout.step_offsets[t + 1]
        if t:
            slot_of_row = slot_of_row[layout.keep[a:b]]
        active = set()
        for row, slot in enumerate(slot_of_row):
            p = layout.in_pos[a + row]
            mark = "*" if layout.reset[a + row] else " "
            table[slot].append(f"{mark}S{session_of[p]}:{sessions.items[p]:>2}->"
                               f"{sessions.items[p + 1]:<2}")
            active.add(slot)
        for slot in set(range(3)) - active:
            table[slot].append("     .     ")
    print("1. Session-parallel mini-batches (columns = steps, * = hidden state reset):")
    print("          " + "".join(f"step {t:<6}" for t in range(layout.n_steps)))
    for slot, cells in table.items():
        print(f"  slot {slot}  " + " ".join(cells))
    print("  A slot whose session ends takes the next session; when none is left, the slot\n"
          "  is dropped and the mini-batch shrinks (see the last steps).\n")


def load() -> tuple[Sessions, Sessions, str]:
    if (DATA / "yoochoose-clicks-100k_train_full.txt").exists():
        train, _ = read_sessions(DATA / "yoochoose-clicks-100k_train_full.txt")
        test, _ = read_sessions(DATA / "yoochoose-clicks-100k_test.txt",
                                item_ids=train.vocabulary, unknown="drop")
        return train, test, "rsc15_100k"
    sessions = synthetic_sessions(12000, 1500, seed=0)
    n_train = int(0.9 * sessions.n_sessions)
    return (sessions.select(np.arange(n_train)),
            sessions.select(np.arange(n_train, sessions.n_sessions)), "synthetic sessions")


def main() -> None:
    parser = argparse.ArgumentParser(description="GRU4Rec walkthrough")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    show_slots()

    train, test, name = load()
    print(f"2. Training on {name}: {train}")
    # The official RSC15 cross-entropy parameter file: constrained embedding (Wy is also
    # the input embedding), 100 GRU units, 2048 negatives shared by each mini-batch, drawn
    # ∝ support^0.5, logQ-corrected softmax, Adagrad with momentum.
    config = Config(loss="cross-entropy", constrained_embedding=True, layers=[100],
                    batch_size=32, dropout_p_embed=0.0, dropout_p_hidden=0.4,
                    learning_rate=0.2, momentum=0.2, n_sample=2048, sample_alpha=0.5,
                    logq=1.0, elu_param=0.0)
    model = Model(config, 0, train.n_items, rng=init_rng(0))
    optimizer = Adagrad(config.learning_rate, config.momentum, eps=1e-6)
    print(f"   parameters: {', '.join(f'{k} {v.shape}' for k, v in model.params.items())}")
    start = time.perf_counter()
    fit(model, optimizer, lambda rng: model.batches(train, rng), epochs=args.epochs, seed=0,
        log=lambda line: print("  ", line))
    print(f"   trained in {time.perf_counter() - start:.1f}s\n")

    print(f"3. Next-item evaluation on {test.n_sessions} test sessions "
          "(state zeroed at every session start, every event after the first predicted):")
    evaluator = RankingEvaluator(ks=(5, 20), metrics=("hit", "mrr"), n_items=train.n_items)
    for scores, targets in model.next_item_scores(test, batch_size=512):
        evaluator.add(scores, targets)
    result = evaluator.result()
    print(f"   {evaluator.n_rows} predictions: Recall@20 {result['hit@20']:.4f}  "
          f"MRR@20 {result['mrr@20']:.4f}  (Recall@5 {result['hit@5']:.4f})\n")

    session = test.session(int(np.argmax(test.lengths() >= 4)))
    top = np.argsort(-model.score_session(session[:3]))[:5]
    ids = train.item_ids
    print(f"4. A test session's first three clicks {ids[session[:3]].tolist()}, "
          f"its next click {ids[session[3]]}:")
    print(f"   top 5 recommendations {ids[top].tolist()}")


if __name__ == "__main__":
    main()
