"""Sums in a fixed order (`nprec.kernels.lanes`), and the kernels that sum over rows: the
same bits whichever CPU Numba compiles for.

A sum whose order LLVM may choose (fastmath "reassoc") runs in as many SIMD lanes as the CPU
has: SSE2's, AVX2's and AVX-512's registers give three orders, and trained figures that
depend on the machine. The kernels that sum over a row are compiled here for the baseline
x86-64 and for this machine's CPU, in fresh processes with fresh caches (nothing compiled for
one is loaded by the other): GRU4Rec's sampled losses (their sums in the lanes' order) must
give the same bits for losses and gradients; the full softmax of NARM and the Mult-* models
(its float64 normaliser reassociated, see `nprec.kernels.softmax_rows`) the same bits for
the gradients and losses equal to float64 rounding.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nprec.kernels.lanes import SUM_LANES, lane_order_sums, lane_sum


@pytest.mark.parametrize("dtype, lanes", [(np.float32, np.float32), (np.float64, np.float64),
                                          (np.float32, np.float64)])
@settings(max_examples=60)
@given(data=st.data())
def test_lane_sum_has_the_order_of_its_numpy_version_to_the_bit(dtype, lanes, data):
    # The compiled sum and the NumPy one agree exactly, for rows shorter than a block of
    # lanes, a whole number of blocks, and a tail; float64 lanes sum float32 terms.
    B = data.draw(st.integers(1, 4))
    n = data.draw(st.sampled_from([1, 5, SUM_LANES, 2 * SUM_LANES,
                                   3 * SUM_LANES + 7, 2221]))
    seed = data.draw(st.integers(0, 2**32 - 1))
    E = np.random.default_rng(seed).random((B, n)).astype(dtype) * 1e3
    acc = np.empty(SUM_LANES, dtype=lanes)
    mine = np.array([lane_sum(E[i], acc) for i in range(B)], dtype=lanes)
    assert np.array_equal(mine, lane_order_sums(E, lanes))
    # And it is the row sum (not a different quantity with the same bits in both).
    assert np.allclose(mine, E.astype(np.float64).sum(axis=1),
                       rtol=1e-5 if lanes == np.float32 else 1e-12)


# Each script prints a hash of the bits that must be the same (the losses' too for GRU4Rec),
# at sizes where the row kernels run on one thread and on two; then the losses that may
# differ in their last bits, if any, one per line.
BITS = {
    "gru4rec-sampled-losses": """
import hashlib
import numpy as np
from nprec.kernels.gru4rec import sampled_loss
rng = np.random.default_rng(7)
B, K = 64, 1100
S = rng.standard_normal((B, K)).astype(np.float32) * 3
by = (0.1 * rng.standard_normal(K)).astype(np.float32)
cols = np.concatenate([np.arange(B), rng.integers(0, K, 900)])
log_q = rng.random(cols.size) - 3
h = hashlib.sha256()
for loss, kw in [("bpr-max", dict(bpreg=1.0, elu_param=0.5)), ("bpr-max", dict(bpreg=0.5)),
                 ("top1-max", dict(elu_param=1.0)), ("top1-max", {}),
                 ("cross-entropy", {}), ("cross-entropy", dict(log_q=log_q)),
                 ("bpr", dict(elu_param=0.5)), ("top1", {})]:
    value, G = sampled_loss(S, by, cols, loss, scale=1 / B, **kw)
    h.update(np.float64(value).tobytes() + G.tobytes())
print(h.hexdigest())
""",
    "softmax-rows": """
import hashlib
import numpy as np
from nprec.kernels.softmax_rows import softmax_ce_rows, softmax_counts_rows
rng = np.random.default_rng(7)
h = hashlib.sha256()
for dtype in (np.float32, np.float64):
    for B, V in ((8, 1000), (256, 3001)):
        S = (rng.standard_normal((B, V)) * 3).astype(dtype)
        G = S.copy()
        losses = [softmax_ce_rows(G, rng.integers(0, V, B), 1.0 / B)]
        h.update(G.tobytes())
        indptr = np.arange(0, 5 * B + 1, 5)
        cols = rng.integers(0, V, 5 * B)
        counts = rng.integers(1, 3, 5 * B).astype(dtype)
        for bias in (None, (0.1 * rng.standard_normal(V)).astype(dtype)):
            G = S.copy()
            losses.append(softmax_counts_rows(G, indptr, cols, counts, 1.0 / B, bias=bias))
            h.update(G.tobytes())
print(h.hexdigest())
for loss in losses:
    print(" ".join(float(x).hex() for x in np.ravel(loss)))
""",
}


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="compares x86-64 code generations")
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="needs compiled kernels")
@pytest.mark.parametrize("kernels", sorted(BITS))
def test_kernels_give_the_same_bits_compiled_for_any_cpu(kernels, tmp_path):
    # The sampled losses failed this on an AVX2 or AVX-512 CPU before their sums got the
    # lanes' order; the softmax rows' losses differ in their last bits (checked).
    outputs = []
    for cpu in ("generic", None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
        env["NUMBA_CACHE_DIR"] = str(tmp_path / (cpu or "host"))
        if cpu:
            env["NUMBA_CPU_NAME"] = cpu
        done = subprocess.run([sys.executable, "-c", BITS[kernels]], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split("\n", 1))
    (digest, rest), (other_digest, other_rest) = outputs
    assert len(digest) == 64 and digest == other_digest
    losses, other = ([float.fromhex(x) for x in r.split()] for r in (rest, other_rest))
    assert len(losses) == len(other) and np.allclose(losses, other, rtol=1e-13, atol=0)
