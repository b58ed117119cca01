"""A pause before each timed block when two contenders alternate in one process.

After its last matrix product, each OpenBLAS worker thread keeps spinning for up to 2^28
CPU cycles before it sleeps (OpenBLAS's default THREAD_TIMEOUT: about 0.12 s at 2.3 GHz),
and thread pools of other libraries spin for a while too. A block timed right after the
other contender's block shares the cores with those spinning threads: on this machine the
PyTorch NARM twin's batches took 124-128 ms when timed right after nprec's, 108-115 ms once
OpenBLAS was told to stop spinning at once (OPENBLAS_THREAD_TIMEOUT), a handicap of 10-15 %
for whichever side comes second. The benchmarks therefore wait `SETTLE_S` seconds, untimed,
before each block.
"""

from __future__ import annotations

import time

SETTLE_S = 0.3


def settle() -> None:
    """Wait until the other contender's idle threads have gone to sleep (not timed)."""
    time.sleep(SETTLE_S)
