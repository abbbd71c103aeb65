"""Where the batches of a power run are computed: this process, a Dask cluster, or any executor.

Dask does the scheduling (``distributed``; ``dask-jobqueue`` for SLURM, PBS, SGE and LSF); painstudy only
submits one task per batch and collects the results as they finish. The choices (:func:`open_engine`):

- ``"local"``: this process, one batch after the other (small runs; the default below
  :data:`AUTO_CLUSTER_WORK` subject-trials or on one core);
- an integer ``N``: a Dask ``LocalCluster`` of ``N`` worker processes, one thread (and one BLAS thread:
  Dask's nanny sets ``OMP_NUM_THREADS=1`` and friends, and the fits use one) each;
- ``"tcp://HOST:PORT"``: an existing Dask scheduler (``dask scheduler`` and ``dask worker`` processes);
- ``("slurm" | "pbs" | "sge" | "lsf", cluster.yml)``: a dask-jobqueue cluster whose keyword arguments
  (``cores``, ``memory``, ``queue``, ``walltime``, ``account``, ...) come from the YAML file, plus ``jobs:``
  the number of jobs to start;
- a ``distributed.Client`` or any ``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``, a Dask
  client's ``get_executor()``).

A worker that dies mid-run costs only its batch: the Dask scheduler runs the batch again elsewhere.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

from painstudy.errors import PainstudyError

__all__ = ["open_engine", "run_tasks", "EngineError", "AUTO_CLUSTER_WORK", "JOBQUEUE_CLUSTERS"]

#: ``executor=None`` starts a LocalCluster (one worker per usable core) above this many subject-trials
AUTO_CLUSTER_WORK = 200_000
#: --cluster name -> the dask-jobqueue class
#: ("local": dask-jobqueue's launcher of local processes, to try a cluster.yml on one machine)
JOBQUEUE_CLUSTERS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "local": "local.LocalCluster",
}


class EngineError(PainstudyError):
    """An engine that cannot be used (an unreachable scheduler, a bad cluster.yml, an unknown choice)."""


def read_cluster_config(path: str | Path) -> dict:
    """The keyword arguments of a dask-jobqueue cluster from ``cluster.yml`` (plus ``jobs``, default 1)."""
    import yaml

    from painstudy.io import display_path

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise EngineError(f"{display_path(path)}: cannot read the cluster configuration ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise EngineError(f"{display_path(path)}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise EngineError(f"{display_path(path)}: expected a mapping of dask-jobqueue arguments (cores, memory, ...)")
    return doc


def jobqueue_cluster(kind: str, config: dict):
    """A dask-jobqueue cluster of ``kind`` (slurm, pbs, sge, lsf) scaled to ``config['jobs']`` jobs."""
    if kind not in JOBQUEUE_CLUSTERS:
        raise EngineError(f"--cluster: unknown {kind!r}; use one of {', '.join(JOBQUEUE_CLUSTERS)}")
    import importlib

    module, _, name = ("dask_jobqueue." + JOBQUEUE_CLUSTERS[kind]).rpartition(".")
    config = dict(config)
    jobs = int(config.pop("jobs", 1))
    try:
        cluster = getattr(importlib.import_module(module), name)(**config)
    except TypeError as e:
        raise EngineError(f"cluster.yml: {e}") from None
    cluster.scale(jobs=jobs)
    return cluster


@contextlib.contextmanager
def open_engine(executor, *, work: int = 0, cluster_config: dict | None = None):
    """Yield ``(engine, description)``: None (this process), a ``distributed.Client`` or an executor.

    Clusters and clients started here are closed on leaving; ones passed in are left running.
    """
    from painstudy.models.blas import usable_cores

    if executor is None:
        cores = usable_cores()
        executor = cores if (work >= AUTO_CLUSTER_WORK and cores > 1) else "local"
    if executor == "local" or executor == 1:
        yield None, "this process"
        return
    if isinstance(executor, concurrent.futures.Executor):
        yield executor, type(executor).__name__
        return
    from distributed import Client

    from painstudy.power.worker import WarmWorker

    if isinstance(executor, Client):
        yield executor, f"Dask client of {executor.scheduler.address}"
        return
    with contextlib.ExitStack() as stack:
        if isinstance(executor, bool) or not isinstance(executor, (int, str, tuple)):
            raise EngineError(
                f"executor: expected 'local', a number of workers, a scheduler address, a Dask client or a "
                f"concurrent.futures executor, got {type(executor).__name__}"
            )
        if isinstance(executor, int):
            if executor < 1:
                raise EngineError(f"workers must be at least 1, got {executor}")
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=executor, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
                )
            )
            client, what = stack.enter_context(Client(cluster)), f"Dask LocalCluster ({executor} workers)"
            client.register_plugin(WarmWorker())  # part of the start-up, not of the first batch of each worker
        elif isinstance(executor, tuple):
            kind, config = executor
            cluster = stack.enter_context(jobqueue_cluster(kind, config or cluster_config or {}))
            client, what = stack.enter_context(Client(cluster)), f"dask-jobqueue {kind} cluster"
            client.register_plugin(WarmWorker())  # each job's worker as it joins
        elif executor.startswith(("tcp://", "tls://", "ws://", "inproc://")):
            try:
                client = stack.enter_context(Client(executor, timeout="10s"))
            except (OSError, TimeoutError) as e:
                raise EngineError(f"--scheduler {executor}: cannot connect ({e})") from None
            what = f"Dask scheduler {executor}"
        else:
            raise EngineError(f"executor: {executor!r} is not 'local' nor a scheduler address (tcp://HOST:PORT)")
        yield client, what


def run_tasks(engine, fn: Callable, tasks: Iterable[tuple], on_done: Callable) -> None:
    """Run ``fn(*task)`` for every task on the engine; ``on_done(task, result)`` in this process as each
    finishes (in the order they finish). An interrupt cancels what has not started and re-raises."""
    tasks = list(tasks)
    if engine is None:
        for task in tasks:
            on_done(task, fn(*task))
        return
    from distributed import Client

    if isinstance(engine, Client):
        from distributed import as_completed

        futures = {
            engine.submit(fn, *task, pure=False, key=f"painstudy-power-{i}-{id(tasks)}"): task
            for i, task in enumerate(tasks)
        }
        try:
            for future in as_completed(futures):
                on_done(futures[future], future.result())
        finally:
            for future in futures:
                future.cancel()
        return
    futures = {engine.submit(fn, *task): task for task in tasks}
    try:
        for future in concurrent.futures.as_completed(futures):
            on_done(futures[future], future.result())
    finally:
        for future in futures:
            future.cancel()
