"""Reference-based imputation (issue 12's speed goals), measured in one run on this machine:

    python benchmarks/bench_sensitivity.py [--reps 3] [--with-r]   # writes benchmarks/RESULTS_sensitivity.md

1. conditional mean imputation + jackknife, jump to reference, on rbmi's antidepressant data (172 + 1 fits of
   the imputation model; goal < 2 s);
2. the same on the demo study's pain (400 + 1 fits; goal < 10 s);
3. 1,000 approximate Bayesian imputations of the demo (1,000 bootstrap fits + draws; goal < 60 s on two cores),
   in this process and with ``executor="processes"`` (a pool of one process per core);
4. the options on the antidepressant data: the information-anchored variance, an MMRM analysis of each
   completed data set, Bayesian MI by the Gibbs sampler;
5. ``sensitivity_analyses`` on the demo (primary MMRM, MAR/JR/CR/CIR, tipping point, LOCF/BOCF/WOCF).

Peers: R's rbmi is not in Debian's packages (nor any other maintained implementation in Python), so no
peer runs here. ``--with-r`` times tests/reference/condmean_reference.R, an R implementation of conditional
mean imputation with jackknife on nlme::gls, and tests/reference/condmean_extra_reference.R (the
information-anchored variance and the MMRM analysis), the references of the tests, not tuned tools (rbmi fits
with mmrm/TMB and would be faster), for scale only.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

import painstudy
from painstudy.models.blas import usable_cores
from painstudy.sensitivity import reference_based
from painstudy.sensitivity_analyses import study_data

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "datasets"
FORMULA = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT + us(VISIT | PATIENT)"
ANALYSIS_MMRM = "CHANGE ~ BASVAL + THERAPY * VISIT + us(VISIT | PATIENT)"


def timed(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--with-r", action="store_true", help="also time the R reference implementation (4 min)")
    args = ap.parse_args()
    anti = pd.read_csv(SHARED / "rbmi_antidepressant" / "antidepressant_data.csv")
    anti = anti.assign(VISIT=anti["VISIT"].astype(str))
    cohort = painstudy.load_cohort("demo")
    demo, formula, _ = study_data(cohort, "pain")
    demo_kw = dict(arm="arm", reference="usual_care", control="usual_care", covariates=["pain_baseline"])
    rows = []

    def add(task, seconds, goal, note=""):
        met = "" if goal is None else ("met" if seconds < goal else "NOT met")
        rows.append((task, seconds, "" if goal is None else f"< {goal:g} s", met, note))
        print(f"{task}: {seconds:.2f} s {met}", flush=True)

    add(
        "antidepressant: JR, condmean + jackknife (173 fits)",
        timed(
            lambda: reference_based(
                anti, FORMULA, arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"]
            ),
            args.reps,
        ),
        2.0,
    )
    add(
        "demo pain: JR, condmean + jackknife (401 fits)",
        timed(lambda: reference_based(demo, formula, strategy="JR", **demo_kw), args.reps),
        10.0,
    )
    for executor, label in ((None, "in this process"), ("processes", 'executor="processes" (one process per core)')):
        add(
            f"demo pain: JR, 1,000 approximate Bayesian imputations, {label}",
            timed(
                lambda executor=executor: reference_based(
                    demo,
                    formula,
                    strategy="JR",
                    method="approxbayes",
                    n_samples=1000,
                    seed=1,
                    executor=executor,
                    **demo_kw,
                ),
                1,
            ),
            60.0,
        )
    anti_kw = dict(arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"])
    add(
        "antidepressant: JR, condmean + jackknife, information-anchored variance (Lu 2021)",
        timed(lambda: reference_based(anti, FORMULA, information_anchored=True, **anti_kw), args.reps),
        None,
    )
    add(
        "antidepressant: JR, condmean + jackknife, MMRM analysis of each completed data set (173 + 173 fits)",
        timed(
            lambda: reference_based(anti, FORMULA, analysis="mmrm", analysis_formula=ANALYSIS_MMRM, **anti_kw),
            args.reps,
        ),
        None,
    )
    add(
        "antidepressant: JR, Bayesian MI, 100 draws (Gibbs sampler, 1,200 iterations)",
        timed(lambda: reference_based(anti, FORMULA, method="bayes", n_samples=100, seed=1, **anti_kw), args.reps),
        None,
    )
    add(
        "demo pain: sensitivity_analyses (primary, MAR/JR/CR/CIR, tipping point, legacy)",
        timed(lambda: painstudy.sensitivity_analyses(cohort, "pain"), 1),
        None,
    )
    if args.with_r:
        t0 = time.perf_counter()
        subprocess.run(["Rscript", "tests/reference/condmean_reference.R"], cwd=ROOT, check=True, capture_output=True)
        r = time.perf_counter() - t0
        ours = timed(
            lambda: [
                reference_based(
                    anti, FORMULA, arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"], strategy=s
                )
                for s in ("MAR", "CR")
            ],
            args.reps,
        )
        add("antidepressant: MAR and CR condmean + jackknife (2 x 173 fits)", ours, None, f"R on nlme::gls: {r:.0f} s")
        t0 = time.perf_counter()
        subprocess.run(
            ["Rscript", "tests/reference/condmean_extra_reference.R"], cwd=ROOT, check=True, capture_output=True
        )
        r = time.perf_counter() - t0
        ours = timed(
            lambda: [
                reference_based(anti, FORMULA, information_anchored=True, **anti_kw),
                reference_based(anti, FORMULA, analysis="mmrm", analysis_formula=ANALYSIS_MMRM, **anti_kw),
            ],
            args.reps,
        )
        add(
            "antidepressant: JR information-anchored and JR with an MMRM analysis, condmean + jackknife",
            ours,
            None,
            f"R on nlme::gls: {r:.0f} s",
        )
    cores = usable_cores()
    out = [
        "# Reference-based imputation: speed",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/bench_sensitivity.py"
        f"{' --with-r' if args.with_r else ''}` on {platform.platform()}, Python {platform.python_version()}, "
        f"{cores} cores, painstudy {painstudy.__version__}; medians of {args.reps} runs (1 for the long tasks).",
        "",
        "| task | seconds | goal | | note |",
        "|---|---|---|---|---|",
        *[f"| {t} | {s:.2f} | {g} | {m} | {n} |" for t, s, g, m, n in rows],
        "",
        "Resamples are refitted by chord iterations from the full-data fit (Newton steps with its Hessian held "
        "fixed; one gradient each); they agree with full Newton refits to 1e-8. No peer: R's rbmi is not in "
        "Debian's packages and no Python library implements reference-based imputation. Where a pool of "
        "processes is no faster than this process, the machine's cores do not add throughput for this work "
        '(each fit takes longer when two run at once); `executor="auto"` therefore uses processes only '
        "on machines with at least 4 cores.",
        "",
    ]
    (HERE / "RESULTS_sensitivity.md").write_text("\n".join(out))
    print(f"wrote {HERE / 'RESULTS_sensitivity.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
