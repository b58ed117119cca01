"""Ranking kernels: every ranking metric of a score row without sorting the row.

A metric such as NDCG@k only needs where the target items land in the ranking, and that is
fixed by counts: for each distinct score t of a target, how many candidates score strictly
more (`above`) and how many score exactly t (`tied`, the target's tie group, targets
included). One pass over the row with a binary search among the row's distinct target scores
gives all of them, O(V log |T|) per row, instead of the O(V log V) of a full sort.

Positions inside a tie group are where the tie policy decides (`nprec.metrics.ranking`
documents the three policies and derives the closed forms of the expected one). A group at
ranks o+1 .. o+n holding m of the row's targets, with c targets ranked in higher groups:

    pessimistic   the m targets take ranks o+n-m+1 .. o+n (after every tied non-target)
    optimistic    the m targets take ranks o+1 .. o+m
    expected      each position o+j holds a target with probability m/n (a uniformly random
                  order of the group)

Rows are independent, so the compiled kernel runs them in parallel. The reference twin sorts
each row in NumPy and computes the expected policy from position-wise probabilities with exact
binomial coefficients: a different route to the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from nprec.errors import DataError
from nprec.kernels._jit import jit

POLICIES = ("pessimistic", "optimistic", "expected")
"""Tie policies, in the order of axis 1 of the `ranking_metrics` table."""

METRICS = ("hit", "recall", "recall_capped", "precision", "ndcg", "mrr", "map")
"""Per-row metrics, in the order of axis 2 of the `ranking_metrics` table."""

_ROW_ERRORS = {
    1: "score is NaN",
    2: "a target item is listed twice",
    3: "a target item is also in the excluded items",
    4: "excluded items must be sorted and unique within a row (canonical CSR)",
}


def _raise_row_error(err: np.ndarray) -> None:
    """Raise a DataError for the first row with a non-zero error code."""
    bad = np.flatnonzero(err)
    if bad.size:
        r = int(bad[0])
        raise DataError(f"ranking: row {r}: {_ROW_ERRORS[int(err[r])]}")


def _check_inputs(scores, t_ptr, t_idx, e_ptr, e_idx, ks):
    """Validate shapes and index ranges; return normalised arrays (kernels trust them)."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise DataError(f"ranking: scores must be a (B, V) matrix, got shape {scores.shape}")
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    B, V = scores.shape
    arrays = []
    for name, ptr, idx in (("targets", t_ptr, t_idx), ("exclude", e_ptr, e_idx)):
        ptr = np.asarray(ptr, dtype=np.int64)
        idx = np.asarray(idx, dtype=np.int64)
        if ptr.shape != (B + 1,) or ptr[0] != 0 or ptr[-1] != idx.size \
                or np.any(np.diff(ptr) < 0):
            raise DataError(f"ranking: {name} is not a CSR of {B} rows")
        if idx.size and (idx.min() < 0 or idx.max() >= V):
            raise DataError(f"ranking: {name} item index outside [0, {V})")
        arrays += [ptr, idx]
    ks = np.asarray(ks, dtype=np.int64)
    if ks.ndim != 1 or ks.size == 0 or ks.min() < 1:
        raise DataError(f"ranking: cutoffs must be positive integers, got {ks.tolist()}")
    return (np.ascontiguousarray(scores), *arrays, ks)


def _discounts(k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """disc[p] = 1/log2(p + 1) for ranks p = 1..k_max (disc[0] unused); idcg[n] = sum of the
    first n discounts."""
    disc = np.zeros(k_max + 1)                                          # (K_max + 1,)
    disc[1:] = 1.0 / np.log2(np.arange(2, k_max + 2))
    return disc, np.cumsum(disc)                                        # (K_max + 1,) each


# -- NumPy twin -----------------------------------------------------------------------------


def _p_no_target_before(group_sizes, group_targets, t):
    """P(none of the first t ranks holds a target) = prod over groups of C(n-l, m) / C(n, m),
    l = the group's ranks among the first t (exact integers, then one division each)."""
    p, start = 1.0, 0
    for n, m in zip(group_sizes.tolist(), group_targets.tolist(), strict=True):
        l = min(max(t - start, 0), n)
        p *= math.comb(n - l, m) / math.comb(n, m)
        start += n
    return p


def _expected_row_ref(group_sizes, group_targets, k, disc):
    """Expected-policy raw sums (hit, hits, dcg, ap, mrr) of one row at cutoff k (twin).

    Built position by position over the top k: pi_p = m/n of the group holding rank p, the
    joint probabilities E[rel_p rel_q] (independent across groups, m(m-1)/(n(n-1)) inside
    one), and the first-target distribution from `_p_no_target_before`.

    Args:
        group_sizes, group_targets: (G',) size and number of targets of every tie group of
            the candidates, in rank order (best scores first).
    """
    pi = np.repeat(group_targets / group_sizes, group_sizes)[:k]       # (k',) P(target at p)
    group_of = np.repeat(np.arange(group_sizes.size), group_sizes)[:k]  # (k',)
    n_top = pi.size
    pos = np.arange(1, n_top + 1)                                       # (k',) ranks
    hits = pi.sum()
    dcg = (pi * disc[1:n_top + 1]).sum()
    joint = np.outer(pi, pi)                                            # (k', k')
    same = group_of[:, None] == group_of[None, :]                       # (k', k')
    n_g = group_sizes[group_of].astype(float)                           # (k',)
    m_g = group_targets[group_of].astype(float)                         # (k',)
    inside = m_g * (m_g - 1) / np.maximum(n_g * (n_g - 1), 1)           # (k',)
    joint = np.where(same, inside[:, None], joint)                      # (k', k')
    np.fill_diagonal(joint, pi)
    ap = (np.tril(joint).sum(axis=1) / pos).sum()
    miss = [_p_no_target_before(group_sizes, group_targets, t) for t in range(n_top + 1)]
    mrr = sum((miss[p - 1] - miss[p]) / p for p in range(1, n_top + 1))
    return (1.0 - miss[n_top], hits, dcg, ap, mrr)


def ranking_metrics_ref(scores: np.ndarray, t_ptr: np.ndarray, t_idx: np.ndarray,
                        e_ptr: np.ndarray, e_idx: np.ndarray, ks: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Every per-row ranking metric under every tie policy (reference twin).

    Args:
        scores: (B, V) float scores; higher is better.
        t_ptr, t_idx: CSR of each row's target items, (B + 1,) and (nnz_t,).
        e_ptr, e_idx: CSR of each row's excluded items, (B + 1,) and (nnz_e,), sorted and
            unique within a row; excluded items are removed from the candidates.
        ks: (K,) cutoffs.
    Returns:
        values (B, 3, 7, K) float64, axes (row, POLICIES, METRICS, ks); rows without targets
        hold zeros. n_targets (B,) int64, the number of targets of each row.
    Raises:
        DataError naming the row: NaN score, repeated target, excluded target, unsorted or
        repeated excluded items.
    """
    scores, t_ptr, t_idx, e_ptr, e_idx, ks = _check_inputs(scores, t_ptr, t_idx, e_ptr,
                                                           e_idx, ks)
    B, V = scores.shape
    disc, idcg = _discounts(int(ks.max()))
    values = np.zeros((B, 3, len(METRICS), ks.size))                    # (B, 3, 7, K)
    n_targets = np.diff(t_ptr)                                          # (B,)
    err = np.zeros(B, dtype=np.int8)                                    # (B,)
    for r in range(B):
        s = scores[r]                                                   # (V,)
        tg = t_idx[t_ptr[r]:t_ptr[r + 1]]
        ex = e_idx[e_ptr[r]:e_ptr[r + 1]]
        if tg.size and np.unique(tg).size != tg.size:
            err[r] = 2
        elif np.isnan(s).any():
            err[r] = 1
        elif tg.size and np.any(np.diff(ex) <= 0):
            err[r] = 4
        elif np.isin(tg, ex).any():
            err[r] = 3
        if err[r] or tg.size == 0:
            continue
        cand = np.ones(V, dtype=bool)
        cand[ex] = False
        is_target = np.zeros(V, dtype=bool)
        is_target[tg] = True
        ts = np.sort(s[tg])[::-1]                                       # (m,) desc
        above = (cand[None, :] & (s[None, :] > ts[:, None])).sum(axis=1)  # (m,)
        tied_other = (cand & ~is_target)[None, :] & (s[None, :] == ts[:, None])
        n_tied_other = tied_other.sum(axis=1)                           # (m,)
        # j = 1, 2, ... among the targets sharing a score (ts is sorted, so they are adjacent)
        j = np.arange(ts.size) - np.searchsorted(-ts, -ts, side="left") + 1  # (m,)
        ranks = {"pessimistic": above + n_tied_other + j, "optimistic": above + j}
        # tie groups of the candidates in rank order, for the expected policy
        cs = s[cand]
        levels, sizes = np.unique(cs, return_counts=True)               # ascending
        in_group = np.searchsorted(levels, s[tg])                       # (m,)
        group_targets = np.bincount(in_group, minlength=levels.size)
        sizes, group_targets = sizes[::-1], group_targets[::-1]         # rank order
        m = tg.size
        for q, k in enumerate(ks.tolist()):
            for p, policy in enumerate(POLICIES[:2]):
                rk = np.sort(ranks[policy])                             # (m,)
                top = rk[rk <= k]
                hits = top.size
                hit = float(hits > 0)
                dcg = disc[top].sum()
                ap = (np.arange(1, hits + 1) / top).sum()
                mrr = 1.0 / rk[0] if hits else 0.0
                values[r, p, :, q] = _finish(hit, hits, dcg, ap, mrr, k, m, idcg)
            hit, hits, dcg, ap, mrr = _expected_row_ref(sizes, group_targets, k, disc)
            values[r, 2, :, q] = _finish(hit, hits, dcg, ap, mrr, k, m, idcg)
    _raise_row_error(err)
    return values, n_targets


def _finish(hit, hits, dcg, ap, mrr, k, m, idcg):
    """The seven metrics of METRICS from the raw sums of one row at cutoff k."""
    cap = min(k, m)
    return (hit, hits / m, hits / cap, hits / k, dcg / idcg[cap], mrr, ap / cap)


# -- compiled kernel ------------------------------------------------------------------------


def ranking_metrics(scores: np.ndarray, t_ptr: np.ndarray, t_idx: np.ndarray,
                    e_ptr: np.ndarray, e_idx: np.ndarray, ks: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Every per-row ranking metric under every tie policy, O(V log |T|) per row.

    Same contract as `ranking_metrics_ref`: returns values (B, 3, 7, K) float64 with axes
    (row, POLICIES, METRICS, ks) and n_targets (B,) int64.
    """
    scores, t_ptr, t_idx, e_ptr, e_idx, ks = _check_inputs(scores, t_ptr, t_idx, e_ptr,
                                                           e_idx, ks)
    B = scores.shape[0]
    disc, idcg = _discounts(int(ks.max()))
    values = np.zeros((B, 3, len(METRICS), ks.size))                    # (B, 3, 7, K)
    err = np.zeros(B, dtype=np.int8)                                    # (B,)
    _ranking_metrics(scores, t_ptr, t_idx, e_ptr, e_idx, ks, disc, idcg, values, err)
    _raise_row_error(err)
    return values, np.diff(t_ptr)


@jit(inline="always")
def _n_below(levels, s):
    """Number of entries of the ascending array `levels` strictly below s.

    A branch-free binary search: the comparison feeds arithmetic, not a jump, so random
    scores cost no branch mispredictions.
    """
    lo = 0
    n = levels.size
    while n > 0:
        half = n >> 1
        c = levels[lo + half] < s
        lo += c * (half + 1)
        n = half + c * (n - 2 * half - 1)    # n - half - 1 if c else half
    return lo


@jit()
def _count_row(s, targets, excluded):
    """Tie groups of one row's targets, by ascending score: (m, above, tied, error code)."""
    m_tot = targets.size
    ids = np.sort(targets)
    ps = np.empty(m_tot, dtype=s.dtype)
    for j in range(m_tot):
        ps[j] = s[targets[j]]
    ps.sort()
    G = 0
    levels = np.empty(m_tot, dtype=s.dtype)
    m = np.zeros(m_tot, dtype=np.int64)
    for j in range(m_tot):
        if G == 0 or ps[j] != levels[G - 1]:
            levels[G] = ps[j]
            G += 1
        m[G - 1] += 1
    lv, mg = levels[:G], m[:G]
    h = np.zeros(G + 1, dtype=np.int64)      # h[g]: candidates between levels g-1 and g
    tied = np.zeros(G, dtype=np.int64)
    above = np.zeros(G, dtype=np.int64)
    for j in range(1, m_tot):
        if ids[j] == ids[j - 1]:
            return mg, above, tied, 2
    n_nan = 0
    if G == 1:                               # one target score (leave-one-out, next item):
        t0 = lv[0]                           # branch-free counts kept in registers
        n_above = 0
        n_tied = 0
        for v in range(s.size):
            x = s[v]
            n_nan += x != x
            n_above += x > t0
            n_tied += x == t0
        h[1] = n_above
        tied[0] = n_tied
    else:
        for v in range(s.size):
            x = s[v]
            n_nan += x != x
            g = _n_below(lv, x)
            h[g] += 1
            top = min(g, G - 1)              # g == G: x is above every level, never equal
            tied[top] += lv[top] == x
    if n_nan:
        return mg, above, tied, 1
    for j in range(excluded.size):           # excluded items leave the candidate set
        e = excluded[j]
        if j > 0 and e <= excluded[j - 1]:
            return mg, above, tied, 4
        i = _n_below(ids, e)
        if i < m_tot and ids[i] == e:
            return mg, above, tied, 3
        g = _n_below(lv, s[e])
        h[g] -= 1
        if g < G and lv[g] == s[e]:
            tied[g] -= 1
    acc = 0
    for g in range(G - 1, -1, -1):           # above[g] = candidates strictly above level g
        acc += h[g + 1]
        above[g] = acc
    return mg, above, tied, 0


@jit()
def _fill_row(out, m, above, tied, m_tot, ks, disc, idcg):
    """Fill out (3, 7, K) for one row from its tie groups (see the module docstring)."""
    G = m.size
    for q in range(ks.size):
        k = ks[q]
        hits = np.zeros(3)
        dcg = np.zeros(3)
        ap = np.zeros(3)
        hit = np.zeros(3)
        rr = np.zeros(3)
        c = 0                                 # targets in higher groups
        for g in range(G - 1, -1, -1):        # groups in rank order
            o, n, mg = above[g], tied[g], m[g]
            if o >= k:
                break
            for p in range(2):                # deterministic policies: explicit ranks
                start = o + n - mg if p == 0 else o
                if c == 0 and start + 1 <= k:
                    hit[p] = 1.0
                    rr[p] = 1.0 / (start + 1)
                for j in range(1, mg + 1):
                    rank = start + j
                    if rank > k:
                        break
                    hits[p] += 1.0
                    dcg[p] += disc[rank]
                    ap[p] += (c + j) / rank
            L = min(n, k - o)                 # expected policy: positions o+1 .. o+L
            pr = mg / n
            same = (mg - 1) / (n - 1) if n > 1 else 0.0
            hits[2] += pr * L
            for j in range(1, L + 1):
                dcg[2] += pr * disc[o + j]
                ap[2] += pr * (1.0 + c + (j - 1) * same) / (o + j)
            if c == 0:                        # the first target lies in this group
                surv = 1.0                    # P(no target in the group's first j-1 slots)
                for j in range(1, L + 1):
                    rr[2] += surv * mg / (n - j + 1) / (o + j)
                    surv *= (n - mg - j + 1) / (n - j + 1)
                hit[2] = 1.0 - surv
            c += mg
        cap = min(k, m_tot)
        for p in range(3):
            out[p, 0, q] = hit[p]
            out[p, 1, q] = hits[p] / m_tot
            out[p, 2, q] = hits[p] / cap
            out[p, 3, q] = hits[p] / k
            out[p, 4, q] = dcg[p] / idcg[cap]
            out[p, 5, q] = rr[p]
            out[p, 6, q] = ap[p] / cap


@jit(parallel=True)
def _ranking_metrics(scores, t_ptr, t_idx, e_ptr, e_idx, ks, disc, idcg, values, err):
    # Parallel over rows: row r writes values[r] and err[r] only.
    for r in prange(scores.shape[0]):
        targets = t_idx[t_ptr[r]:t_ptr[r + 1]]
        excluded = e_idx[e_ptr[r]:e_ptr[r + 1]]
        if targets.size == 0:
            for v in range(scores.shape[1]):
                if scores[r, v] != scores[r, v]:
                    err[r] = 1
                    break
            continue
        m, above, tied, code = _count_row(scores[r], targets, excluded)
        if code != 0:
            err[r] = code
            continue
        _fill_row(values[r], m, above, tied, targets.size, ks, disc, idcg)

