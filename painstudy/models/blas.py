"""One policy for the BLAS threads of every engine.

The mixed-model engines spend their time in many small (batched) matrix products, for which BLAS threads
only add contention: measured on 2 cores, one thread is as fast on an idle machine and faster beside a busy
process (benchmarks/RESULTS.md). The fitting functions therefore run with :data:`DEFAULT_BLAS_THREADS`
threads unless ``control={"blas_threads": n}`` says otherwise (``None`` leaves the setting alone). The
survival core is vectorised element-wise numpy (no BLAS-bound step) and is not limited.

Uses threadpoolctl, so OpenBLAS, MKL and Apple Accelerate builds of numpy/scipy are all covered.
"""

from __future__ import annotations

import contextlib
import os

#: BLAS threads during a mixed-model fit.
DEFAULT_BLAS_THREADS = 1

_CONTROLLER = None


def _controller():
    """One threadpoolctl controller per process (inspecting the loaded BLAS libraries costs milliseconds)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def blas_threads(n: int | None):
    """Limit BLAS threads to ``n`` inside the block (``None``: leave them alone)."""
    if n is None:
        yield
        return
    with _controller().limit(limits=int(n), user_api="blas"):
        yield


def usable_cores() -> int:
    """The number of cores this process may use (its CPU affinity where the system reports it): the default
    of every pool of processes painstudy starts (report notebooks, resamples)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
