"""The Dask engine of painstudy.power: the same table in this process, on a 2-worker LocalCluster, through a
Dask client's concurrent.futures executor, through an external scheduler started here on 127.0.0.1 (``dask
scheduler`` and ``dask worker`` processes, one of which is killed mid-run) and on a dask-jobqueue cluster
(its local launcher: the code path of --cluster slurm/pbs)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from painstudy.design import parse_design
from painstudy.power import power
from painstudy.power.engine import EngineError

DASK = str(Path(sys.executable).with_name("dask"))
DESIGN = {
    "name": "engine",
    "arms": {"control": {}, "active": {}},
    "visits": {"baseline": 0, "week4": 4, "week8": 8},
    "mean": 5.0,
    "effects": {"active": [-0.4, -0.6]},
    "sd": 1.2,
    "correlation": {"structure": "ar1", "rho": 0.5},
    "dropout": 0.1,
}


@pytest.fixture(scope="module")
def design():
    return parse_design(DESIGN, "engine.yml")


@pytest.fixture(scope="module")
def expected(design):
    return power(design, [15, 25], n_sim=12, seed=7)


def same(a, b):
    return a.table.equals(b.table) and a.trials.equals(b.trials)


def test_local_cluster_of_two_workers(design, expected):
    r = power(design, [15, 25], n_sim=12, seed=7, executor=2, batch_size=5)
    assert r.engine == "Dask LocalCluster (2 workers)"
    assert same(r, expected)


def test_dask_client_executor_and_jobqueue(design, expected, shared):
    import pandas as pd
    from distributed import Client, LocalCluster

    from painstudy.sensitivity import reference_based

    d = pd.read_csv(shared / "rbmi_antidepressant" / "antidepressant_data.csv")
    d = d.assign(VISIT=d["VISIT"].astype(str))
    formula = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT + us(VISIT | PATIENT)"
    kw = dict(arm="THERAPY", reference="PLACEBO", covariates=["BASVAL"], method="approxbayes", n_samples=4, seed=3)
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        assert same(power(design, [15, 25], n_sim=12, seed=7, executor=client.get_executor()), expected)
        assert same(power(design, [15, 25], n_sim=12, seed=7, executor=client, batch_size=3), expected)
        # the same engine runs the resampling loops of the missing-data analyses (run_samples)
        on_dask = reference_based(d, formula, executor=client.get_executor(), **kw)
    pd.testing.assert_frame_equal(on_dask.table, reference_based(d, formula, executor=None, **kw).table)
    jq = power(
        design,
        [15, 25],
        n_sim=12,
        seed=7,
        executor=("local", {"cores": 1, "memory": "1GB", "processes": 1, "jobs": 1}),
    )
    assert jq.engine == "dask-jobqueue local cluster" and same(jq, expected)


def test_bad_engines_are_named_errors(design):
    with pytest.raises(EngineError, match="not 'local' nor a scheduler address"):
        power(design, 15, n_sim=1, seed=1, executor="cluster")
    with pytest.raises(EngineError, match="--cluster: unknown 'condor'"):
        power(design, 15, n_sim=1, seed=1, executor=("condor", {}))
    with pytest.raises(EngineError, match="cannot connect"):
        power(design, 15, n_sim=1, seed=1, executor=f"tcp://127.0.0.1:{free_port()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def external():
    """A scheduler and two single-threaded workers (no nanny: killing one kills the worker) on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)
    ]
    worker = [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"]
    procs += [subprocess.Popen(worker, **quiet) for _ in range(2)]
    try:
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_external_scheduler_and_a_killed_worker(design, external, tmp_path):
    address, workers = external
    r = power(design, [15, 25], n_sim=12, seed=7, executor=address, batch_size=4)
    assert r.engine == f"Dask scheduler {address}"
    whole = power(design, [30], n_sim=30, seed=8)
    folder = tmp_path / "ckpt"
    killed = {}

    def kill_when_started():
        while not folder.exists() or len(list(folder.glob("batch-*.parquet"))) < 2:
            time.sleep(0.05)
        killed["after"] = len(list(folder.glob("batch-*.parquet")))
        workers[0].kill()

    watcher = threading.Thread(target=kill_when_started, daemon=True)
    watcher.start()
    run = power(design, [30], n_sim=30, seed=8, executor=address, batch_size=1, checkpoint=folder)
    watcher.join(5)
    assert workers[0].poll() is not None and killed["after"] < 60  # killed mid-run (60 batches in all)
    assert same(r, power(design, [15, 25], n_sim=12, seed=7))
    assert same(run, whole)


def test_clusters_painstudy_starts_have_their_workers_prepared():
    """A LocalCluster started by painstudy registers its worker plugin: glibc's own malloc thresholds back
    (Dask's nanny fixes them low; tune_malloc) and the batch's imports, before the first batch."""
    from painstudy.power.engine import open_engine
    from painstudy.power.worker import tune_malloc

    assert tune_malloc() is True  # Linux, glibc
    with open_engine(2) as (client, what):
        assert what == "Dask LocalCluster (2 workers)"
        seen = client.run(lambda dask_worker: "painstudy-warm-worker" in dask_worker.plugins)
        assert len(seen) == 2 and all(seen.values())
        imported = client.run(lambda: "painstudy.power.trials" in __import__("sys").modules)
        assert all(imported.values())
