"""What runs on the Dask workers of a cluster painstudy starts itself (``executor=N`` or ``--workers N``, and
``--cluster slurm|pbs|sge|lsf``): the allocator's thresholds and the imports of a batch, once per worker.

Workers of a cluster the user started (``--scheduler``, a ``distributed.Client`` passed in) are left as
they are.
"""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["tune_malloc", "warm_worker", "WarmWorker", "MALLOC_MMAP_THRESHOLD", "MALLOC_TRIM_THRESHOLD"]

#: glibc's largest dynamic thresholds (64-bit): freed blocks up to this size are kept for reuse
MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD = 32 * 2**20, 64 * 2**20


def tune_malloc() -> bool:
    """Give a Dask worker process glibc's own allocator thresholds back (Linux; elsewhere nothing happens).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that they hand freed memory back to
    the system at once, which also fixes glibc's mmap threshold at 128 KiB. A fit allocates and frees many
    arrays just above that size, so every one was mapped and faulted in afresh: 40,000 page faults per 60
    trials of the demo design in a worker against 70 in a plain process. The thresholds are set to the
    largest values glibc's dynamic rule reaches (mmap 32 MiB, trim 64 MiB); a worker then keeps at most
    that much freed memory for reuse. Used only on the workers of clusters painstudy starts itself.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
    return bool(mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD)
    )


def warm_worker() -> bool:
    """Prepare a worker of a cluster painstudy started: :func:`tune_malloc`, and import what a batch of trials
    needs (painstudy, numpy, scipy, pandas: about a second), so that the worker pays it while the cluster
    starts rather than in its first batch."""
    tune_malloc()
    import painstudy.models.mixed.mmrm_arrays  # noqa: F401
    import painstudy.power.trials  # noqa: F401

    return True


class WarmWorker(WorkerPlugin):
    """:func:`warm_worker` on every worker that joins a cluster painstudy started (dask-jobqueue's workers
    arrive while the run goes on)."""

    name = "painstudy-warm-worker"

    def setup(self, worker) -> None:
        warm_worker()
