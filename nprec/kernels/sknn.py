"""Session-kNN scoring (Ludewig & Jannach 2018; rn5l/session-rec `sknn.py`, `vsknn.py`).

For the current session prefix x (click order, repeats allowed, item set I_x):

1. Candidates: the training sessions that contain an item of I_x; if more than
   `sample_size`, the `sample_size` most recent ones.
2. Similarity of x with a candidate session c (item set I_c), with w_i the weight of item i
   in x (1 for SKNN; the position weight of its last click for V-SKNN):
       jaccard  |I_x ∩ I_c| / |I_x ∪ I_c|
       cosine   sum_{i in I_x ∩ I_c} w_i / (sqrt(sum_{i in I_x} w_i^2) sqrt(|I_c|))
       vec      sum_{i in I_x ∩ I_c} w_i / |I_x|
   Candidates with similarity 0 are dropped; the k most similar are the neighbours (equal
   similarity: the more recent session first).
3. Score of item y: sum over neighbours c containing y of
       sim(x, c) * decay(step_c) * (1 + idf_weighting * idf(y)),
   step_c = 1 + the number of clicks of x after the last click on an item of I_c
   (V-SKNN's `weighting_score`; decay = 1 for SKNN), idf(y) = log(#sessions / #clicks on y).

Why it is fast: the item -> sessions index lists each item's sessions most recent first, and
the most recent `sample_size` sessions of a union of lists are among the first `sample_size`
entries of each list, so step 1 reads at most |I_x| * sample_size entries, never whole lists.
Prefixes are independent: chunks of prefixes run in parallel, each with its own scratch
arrays. The reference twin follows session-rec's algorithm with Python sets and dicts.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from nprec.kernels._jit import jit

SIMILARITIES = ("jaccard", "cosine", "vec")
"""Similarity codes of `sknn_scores` (its `similarity` argument indexes this tuple)."""


def _check_index(pre_ptr, pre_items, pre_weights, index):
    sess_ptr, sess_items, item_ptr, item_sess, recency, idf_factor = index
    if pre_ptr[-1] != pre_items.size or pre_weights.shape != pre_items.shape:
        raise ValueError("sknn_scores: prefix offsets, items and weights do not match")
    if pre_items.size and (pre_items.min() < 0 or pre_items.max() >= item_ptr.size - 1):
        raise ValueError(f"sknn_scores: prefix item outside [0, {item_ptr.size - 1})")
    if np.any(np.diff(pre_ptr) < 1):
        raise ValueError("sknn_scores: every prefix needs at least one item")


def sknn_scores_ref(pre_ptr: np.ndarray, pre_items: np.ndarray, pre_weights: np.ndarray,
                    index: tuple, decay: np.ndarray, k: int, sample_size: int,
                    similarity: int) -> np.ndarray:
    """Scores of every item for every prefix (reference twin, session-rec's algorithm).

    Args:
        pre_ptr:     (B + 1,) offsets of the prefixes into pre_items.
        pre_items:   (N,) item of each click, click order within a prefix.
        pre_weights: (N,) weight of each click (an item's weight is that of its last click).
        index:       (sess_ptr (S + 1,), sess_items: each session's distinct items,
                     item_ptr (V + 1,), item_sess: each item's sessions most recent first,
                     recency (S,) larger = more recent, idf_factor (V,) = 1 + idf_weighting
                     * idf) as built by `nprec.models.baselines.sknn`.
        decay:       (T_max + 1,) decay[step] for steps 1..T_max (decay[0] unused).
        k:           neighbours. sample_size: candidates (0: all).
        similarity:  index into SIMILARITIES.
    Returns:
        (B, V) float32 scores.
    """
    _check_index(pre_ptr, pre_items, pre_weights, index)
    sess_ptr, sess_items, item_ptr, item_sess, recency, idf_factor = index
    V = item_ptr.size - 1
    out = np.zeros((pre_ptr.size - 1, V), dtype=np.float32)             # (B, V)
    for b in range(pre_ptr.size - 1):
        clicks = pre_items[pre_ptr[b]:pre_ptr[b + 1]].tolist()
        weights = pre_weights[pre_ptr[b]:pre_ptr[b + 1]].tolist()
        w = dict(zip(clicks, weights, strict=True))                     # last click wins
        step = {x: len(clicks) - t for t, x in enumerate(clicks)}       # last click wins
        current = set(clicks)
        relevant = set()
        for x in current:
            relevant.update(item_sess[item_ptr[x]:item_ptr[x + 1]].tolist())
        cands = sorted(relevant, key=lambda c: -recency[c])
        if sample_size > 0:
            cands = cands[:sample_size]
        neighbours = []
        for c in cands:
            items_c = set(sess_items[sess_ptr[c]:sess_ptr[c + 1]].tolist())
            common = current & items_c
            if similarity == 0:
                sim = len(common) / len(current | items_c)
            elif similarity == 1:
                norm = math.sqrt(sum(v * v for v in w.values())) * math.sqrt(len(items_c))
                sim = sum(w[i] for i in common) / norm
            else:
                sim = sum(w[i] for i in common) / len(current)
            if sim > 0:
                neighbours.append((c, sim, min(step[i] for i in common)))
        neighbours.sort(key=lambda n: -n[1])                            # stable: recency
        acc = np.zeros(V)                                               # (V,)
        for c, sim, st in neighbours[:k]:
            items_c = sess_items[sess_ptr[c]:sess_ptr[c + 1]]
            acc[items_c] += sim * decay[st] * idf_factor[items_c]
        out[b] = acc
    return out


def sknn_scores(pre_ptr: np.ndarray, pre_items: np.ndarray, pre_weights: np.ndarray,
                index: tuple, decay: np.ndarray, k: int, sample_size: int,
                similarity: int) -> np.ndarray:
    """Scores of every item for every prefix; same contract as `sknn_scores_ref`."""
    _check_index(pre_ptr, pre_items, pre_weights, index)
    B = pre_ptr.size - 1
    V = index[2].size - 1
    out = np.zeros((B, V), dtype=np.float32)                            # (B, V)
    n_chunks = min(B, 64)
    bounds = np.linspace(0, B, n_chunks + 1).astype(np.int64)           # (n_chunks + 1,)
    _sknn_scores(pre_ptr.astype(np.int64), pre_items.astype(np.int64),
                 pre_weights.astype(np.float64), *index, decay.astype(np.float64),
                 int(k), int(sample_size), int(similarity), bounds, out)
    return out


@jit(parallel=True)
def _sknn_scores(pre_ptr, pre_items, pre_weights, sess_ptr, sess_items, item_ptr, item_sess,
                 recency, idf_factor, decay, k, sample_size, similarity, bounds, out):
    # Parallel over chunks of prefixes: a chunk writes only its own rows of out and owns its
    # scratch arrays.
    V = item_ptr.size - 1
    S = sess_ptr.size - 1
    for ch in prange(bounds.size - 1):
        item_mark = np.zeros(V, dtype=np.int64)     # (V,) stamp: item is in the prefix
        item_w = np.zeros(V)                        # (V,) weight of the item's last click
        item_step = np.zeros(V, dtype=np.int64)     # (V,) clicks from its last click on
        sess_mark = np.zeros(S, dtype=np.int64)     # (S,) stamp: already a candidate
        acc = np.zeros(V)                           # (V,) score accumulator, float64
        for b in range(bounds[ch], bounds[ch + 1]):
            stamp = b + 1
            lo, hi = pre_ptr[b], pre_ptr[b + 1]
            n_distinct = 0
            bound = 0
            for t in range(lo, hi):
                x = pre_items[t]
                if item_mark[x] != stamp:
                    item_mark[x] = stamp
                    n_distinct += 1
                    m = item_ptr[x + 1] - item_ptr[x]
                    bound += m if sample_size == 0 else min(m, sample_size)
                item_w[x] = pre_weights[t]
                item_step[x] = hi - t
            w_norm = 0.0
            for t in range(lo, hi):                 # each distinct item once (last click)
                x = pre_items[t]
                if item_step[x] == hi - t:
                    w_norm += item_w[x] * item_w[x]
            # 1. candidates: first sample_size entries of each item's recency-sorted list
            cand = np.empty(bound, dtype=np.int64)  # (<= |I_x| sample_size,) candidates
            n_cand = 0
            for t in range(lo, hi):
                x = pre_items[t]
                if item_step[x] != hi - t:
                    continue
                end = item_ptr[x + 1]
                if sample_size > 0:
                    end = min(end, item_ptr[x] + sample_size)
                for j in range(item_ptr[x], end):
                    c = item_sess[j]
                    if sess_mark[c] != stamp:
                        sess_mark[c] = stamp
                        cand[n_cand] = c
                        n_cand += 1
            cand = cand[:n_cand]
            cand = cand[np.argsort(-recency[cand])]  # (C,) most recent first
            if sample_size > 0 and n_cand > sample_size:
                cand = cand[:sample_size]
            # 2. similarities, and each candidate's step for the score decay
            sims = np.zeros(cand.size)                  # (C,)
            steps = np.zeros(cand.size, dtype=np.int64)  # (C,)
            for j in range(cand.size):
                c = cand[j]
                n_common = 0
                dot = 0.0
                st = hi - lo
                for e in range(sess_ptr[c], sess_ptr[c + 1]):
                    y = sess_items[e]
                    if item_mark[y] == stamp:
                        n_common += 1
                        dot += item_w[y]
                        st = min(st, item_step[y])
                n_c = sess_ptr[c + 1] - sess_ptr[c]
                if similarity == 0:
                    sims[j] = n_common / (n_distinct + n_c - n_common)
                elif similarity == 1:
                    sims[j] = dot / (math.sqrt(w_norm) * math.sqrt(n_c))
                else:
                    sims[j] = dot / n_distinct
                steps[j] = st
            # 3. the k most similar (stable sort keeps recency order among equal values)
            order = np.argsort(-sims, kind="mergesort")  # (C,)
            n_nb = 0
            for j in order:
                if n_nb == k or sims[j] <= 0.0:
                    break
                n_nb += 1
                c = cand[j]
                contrib = sims[j] * decay[steps[j]]
                for e in range(sess_ptr[c], sess_ptr[c + 1]):
                    y = sess_items[e]
                    acc[y] += contrib * idf_factor[y]
            for j in order[:n_nb]:                  # copy the touched items, reset acc
                c = cand[j]
                for e in range(sess_ptr[c], sess_ptr[c + 1]):
                    y = sess_items[e]
                    if acc[y] != 0.0:
                        out[b, y] = acc[y]
                        acc[y] = 0.0
