"""``painstudy.power``: power of a trial design by simulation, on this machine or a Dask cluster."""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from painstudy.design import ANALYSES, Design, DesignError, demo_design, read_design
from painstudy.power.checkpoint import Checkpoint
from painstudy.power.engine import open_engine, run_tasks
from painstudy.power.result import PowerResult, summarise
from painstudy.power.trials import TRIAL_COLUMNS, arm_sizes, run_batch

__all__ = ["power", "plan_batches"]


def plan_batches(todo: dict[tuple[int, str], list[int]], batch_size: int) -> list[tuple[int, str, int, int]]:
    """Batches ``(n, hypothesis, start, stop)`` of consecutive trials still to do, at most ``batch_size`` each."""
    out = []
    for (n, h), trials in todo.items():
        trials = sorted(trials)
        i = 0
        while i < len(trials):
            j = i
            while j + 1 < len(trials) and trials[j + 1] == trials[j] + 1 and j + 1 - i < batch_size:
                j += 1
            out.append((n, h, trials[i], trials[j] + 1))
            i = j + 1
    return out


def _resolve(design, analysis: str | None) -> Design:
    import dataclasses

    if isinstance(design, (str, Path)):
        design = demo_design() if str(design) == "demo" else read_design(design)
    if not isinstance(design, Design):
        raise DesignError(f"design: expected a Design, a design.yml path or 'demo', got {type(design).__name__}")
    if analysis is not None:
        if analysis not in ANALYSES:
            raise DesignError(f"analysis: unknown {analysis!r}; use one of {', '.join(ANALYSES)}")
        design = dataclasses.replace(design, analysis=analysis)
    return design


def _key(design: Design, seed: int, alpha: float) -> dict:
    text = json.dumps(design.describe() | {"source": None}, sort_keys=True)
    return {"design": hashlib.sha256(text.encode()).hexdigest()[:16], "seed": int(seed), "alpha": float(alpha)}


def power(
    design,
    n_per_arm: Sequence[int] | int,
    *,
    analysis: str | None = None,
    n_sim: int = 1000,
    alpha: float = 0.05,
    seed: int,
    executor=None,
    batch_size: int | None = None,
    checkpoint: str | Path | None = None,
    null: bool = True,
    progress: bool = False,
) -> PowerResult:
    """Power of a trial design by simulation: per sample size, ``n_sim`` trials drawn and analysed as planned.

    Parameters
    ----------
    design : Design, path of a design.yml, or ``"demo"``
        See :mod:`painstudy.design` (:func:`~painstudy.design.read_design`, :func:`~painstudy.design.design_from`).
    n_per_arm : int or list of int
        Subjects per arm (times each arm's allocation).
    analysis : {"mmrm", "ancova", "responders", "slopes", "improvement"}, optional
        Overrides the design's planned analysis (``responders`` and ``improvement`` need the design's
        improvement threshold).
    n_sim : int
        Trials per sample size (and as many again under the null for the type I error).
    alpha : float
        Two-sided significance level (after the design's multiplicity adjustment).
    seed : int
        Trial ``k`` at sample size ``n`` draws from the child ``(n, hypothesis, k)`` of
        ``numpy.random.SeedSequence(seed)``: the table is the same whatever the executor, the number of
        workers, the batch size or an interruption.
    executor : None, "local", int, "tcp://HOST:PORT", a Dask client or a concurrent.futures executor
        Where the batches run (:mod:`painstudy.power.engine`); None: this process for small runs, a Dask
        LocalCluster with a worker per core for large ones.
    batch_size : int, optional
        Trials per task (default: about 8 tasks per worker, 5 to 100 trials each).
    checkpoint : path, optional
        A folder for per-batch Parquet files; a rerun with the same design, seed and alpha resumes from it.
    null : bool
        Also simulate the design with every effect 0 (the type I error columns).
    progress : bool
        Show a progress bar (trials done, rate, time left).

    Examples
    --------
    >>> from painstudy.design import demo_design
    >>> r = power(demo_design(analysis="ancova"), [30], n_sim=20, seed=1, null=False)
    >>> r.table[["n_per_arm", "comparison", "n_sim"]].head(2).to_dict("records")
    [{'n_per_arm': 30, 'comparison': 'physiotherapy', 'n_sim': 20}, {'n_per_arm': 30, 'comparison': 'mindfulness', 'n_sim': 20}]
    """
    from painstudy.power.analytic import analytic_power

    design = _resolve(design, analysis)
    ns = [int(n) for n in np.atleast_1d(n_per_arm)]
    if not ns or min(ns) < 2 or len(set(ns)) < len(ns):
        raise DesignError(f"n_per_arm: distinct integers of at least 2 are needed, got {ns}")
    if isinstance(n_sim, bool) or int(n_sim) != n_sim or n_sim < 1:
        raise DesignError(f"n_sim must be a positive integer, got {n_sim!r}")
    if not 0 < alpha < 1:
        raise DesignError(f"alpha must be between 0 and 1, got {alpha!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DesignError(f"seed must be a non-negative integer, got {seed!r}")
    hyps = ["alternative", "null"] if null else ["alternative"]
    todo = {(n, h): list(range(int(n_sim))) for n in ns for h in hyps}
    parts: list[pd.DataFrame] = []
    store = Checkpoint(checkpoint, _key(design, seed, alpha)) if checkpoint is not None else None
    resumed = 0
    if store is not None and (done := store.done()) is not None:
        done = done[done["trial"] < n_sim]
        done = done[done.set_index(["n_per_arm", "hypothesis"]).index.isin(list(todo))]
        done = done.drop_duplicates(["n_per_arm", "hypothesis", "trial", "comparison"])
        parts.append(done)
        for (n, h), g in done.groupby(["n_per_arm", "hypothesis"]):
            have = set(g["trial"])
            todo[(int(n), h)] = [k for k in todo[(int(n), h)] if k not in have]
        resumed = len(done.drop_duplicates(["n_per_arm", "hypothesis", "trial"]))
    total = sum(len(v) for v in todo.values())
    work = sum(len(v) * int(arm_sizes(design, n).sum()) for (n, _), v in todo.items())
    fn = functools.partial(run_batch, design)
    bar = None
    start = time.perf_counter()
    with open_engine(executor, work=work) as (engine, what):
        workers = 1 if engine is None else max(1, _n_workers(engine))
        size = batch_size or int(np.clip(-(-total // (8 * workers)), 5, 100))
        if size < 1:
            raise DesignError(f"batch_size must be at least 1, got {batch_size!r}")
        tasks = [(n, h, a, b, int(seed), float(alpha)) for n, h, a, b in plan_batches(todo, size)]
        if progress and total:
            from tqdm.auto import tqdm

            bar = tqdm(total=total + resumed, initial=resumed, desc="trials", unit="trial", dynamic_ncols=True)

        def done_batch(task, frame):
            if store is not None:
                store.write(frame, *task[:4])
            parts.append(frame)
            if bar is not None:
                bar.update(task[3] - task[2])

        try:
            run_tasks(engine, fn, tasks, done_batch)
        finally:
            if bar is not None:
                bar.close()
    trials = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=TRIAL_COLUMNS)
    order = {a: i for i, a in enumerate(design.arms)}
    trials = trials.sort_values(
        ["n_per_arm", "hypothesis", "trial", "comparison"],
        key=lambda s: s.map(order) if s.name == "comparison" else s,
        kind="stable",
    ).reset_index(drop=True)
    formula = design.analysis in ("mmrm", "ancova", "responders")  # the analyses with an analytic formula
    analytic = analytic_power(design, ns, alpha) if formula else None
    table = summarise(trials, design, alpha, analytic)
    notes = [
        "type I error: the same design with every effect 0" if null else "type I error not simulated (null=False)",
        "power counts a failed fit as not significant",
        "analytic_power: Lu, Luo & Chen (2008), normal approximation, no multiplicity adjustment"
        if formula
        else f"no analytic power for {design.analysis}: simulation only",
    ]
    if design.analysis == "improvement":
        notes.append(
            "time to improvement: log-rank test; estimate the Peto log hazard ratio (O - E) / V (above 0: faster "
            "improvement than the control); no true value, so no bias or coverage"
        )
    if design.analysis == "slopes":
        notes.append("slopes: the true effect is the least-squares slope per week of the true differences")
    if resumed:
        notes.append(f"{resumed} trials read from the checkpoint")
    return PowerResult(
        table, trials, design, float(alpha), int(seed), int(n_sim), what, time.perf_counter() - start, tuple(notes)
    )


def _n_workers(engine) -> int:
    from distributed import Client

    if isinstance(engine, Client):
        return len(engine.scheduler_info().get("workers", {})) or 1
    from painstudy.models.blas import usable_cores

    return usable_cores()
