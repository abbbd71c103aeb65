"""painstudy.power on a real SLURM cluster: a one-node cluster (Debian's slurm-wlm and munge) started by this
test on 127.0.0.1 with its own slurm.conf in a temporary folder, the batches run by dask-jobqueue's SLURMCluster
in jobs submitted with sbatch, and the table compared with the one computed in this process.

The daemons run as root (as configured here); the test is skipped where slurm-wlm is not installed or the
user is not root. ``.ci/run`` installs slurm-wlm and munge when they are missing, so CI runs it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_power_engine import DESIGN, free_port  # the engine tests' design, run here on SLURM

from painstudy.design import parse_design
from painstudy.power import power

DAEMONS = ("slurmctld", "slurmd", "sbatch", "sinfo", "scontrol", "munge", "munged")


def munge_works() -> bool:
    enc = subprocess.run(["munge", "-n"], capture_output=True)
    return enc.returncode == 0 and subprocess.run(["unmunge"], input=enc.stdout, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node SLURM cluster on this machine; yields the environment that points sbatch at it."""
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        pytest.skip(f"SLURM is not installed here (no {', '.join(missing)}; Debian: slurm-wlm munge)")
    if os.geteuid() != 0:
        pytest.skip("the test's SLURM daemons run as root")
    started_munge = None
    if not munge_works():
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        pid_file = tmp_path_factory.mktemp("munge") / "munged.pid"
        subprocess.run(["munged", "--force", f"--pid-file={pid_file}"], capture_output=True)
        if not munge_works():
            pytest.skip("munge (SLURM's authentication) does not start here")
        started_munge = pid_file
    root = tmp_path_factory.mktemp("slurm")
    for d in ("state", "spool", "log"):
        (root / d).mkdir()
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=painstudytest",
                f"SlurmctldHost={host}(127.0.0.1)",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "JobAcctGatherType=jobacct_gather/none",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "MpiDefault=none",
                "ReturnToService=2",
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                f"NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 State=UNKNOWN",
                f"PartitionName=painstudy Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    # in the foreground (-D), as children of this process: stopped at the end whatever happens
    daemons = [
        subprocess.Popen([name, "-D", "-f", str(conf)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in ("slurmctld", "slurmd")
    ]
    try:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
            state = out.stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the test's SLURM node did not become idle (sinfo: {state!r}); logs in {root / 'log'}")
        yield env, root
    finally:
        for proc in reversed(daemons):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if started_munge is not None:  # only a munged this fixture started
            try:
                os.kill(int(started_munge.read_text().strip()), 15)
            except (OSError, ValueError):
                pass


def test_power_on_slurm_jobs_gives_the_same_table(slurm, tmp_path, monkeypatch):
    env, root = slurm
    monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
    monkeypatch.chdir(tmp_path)  # the jobs' scripts and logs
    design = parse_design(DESIGN, "engine.yml")
    here = power(design, [15, 25], n_sim=12, seed=7)
    config = {
        "cores": 1,
        "processes": 1,
        "memory": "1GB",
        "walltime": "00:10:00",
        "queue": "painstudy",
        "log_directory": str(tmp_path / "logs"),
        "jobs": 2,
    }
    there = power(design, [15, 25], n_sim=12, seed=7, executor=("slurm", config), batch_size=3)
    assert there.engine == "dask-jobqueue slurm cluster"
    assert there.table.equals(here.table) and there.trials.equals(here.trials)
    # the batches ran in SLURM jobs: the controller allocated them, and each job wrote its worker's log
    log = (root / "log" / "slurmctld.log").read_text()
    assert log.count("sched: Allocate") >= 1
    assert any(p.stat().st_size > 0 for p in (tmp_path / "logs").iterdir())
