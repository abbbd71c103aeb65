"""Simulation with known truth (issue 12): conditional mean imputation with jackknife inference is unbiased
and its 95% intervals cover the truth 93.5-96.5% of the time, for data generated under MAR and under jump to
reference (tests/coverage_sim.py: 1,000 trials of 2 x 40 subjects each, 3 visits, dropout depending on the
observed outcome). Rubin's rules after approximate Bayesian imputation under JR are known to be conservative
(Seaman, White & Leacy 2014; Wolbers et al. 2022): their coverage is measured and recorded, not bounded above.

The trials run in a pool of forked processes (about 2 x 2 minutes on two cores); each trial's random numbers
come from its own seed, so the results do not depend on the pool.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

import coverage_sim as cs
import ledger
import numpy as np
import pytest

from painstudy.models.blas import usable_cores

N_TRIALS = 1000
N_PER_ARM = 40
SOURCE = "tests/coverage_sim.py (simulated trials; truth from 10^6 subjects per arm)"


def _run(jobs: list[tuple]) -> np.ndarray:
    cores = usable_cores()
    if sys.platform.startswith("linux") and cores > 1:
        with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("fork")) as pool:
            return np.array(list(pool.map(cs.run_trial, jobs, chunksize=10)))
    return np.array([cs.run_trial(j) for j in jobs])


def _summary(res: np.ndarray, truth: float) -> tuple[float, float, float, float]:
    est, lo, hi = res.T
    bias = float(est.mean() - truth)
    mc_se_bias = float(est.std(ddof=1) / np.sqrt(len(est)))
    coverage = float(np.mean((lo <= truth) & (truth <= hi)))
    mean_se = float(np.mean((hi - lo) / (2 * 1.959963984540054)))
    return bias, mc_se_bias, coverage, mean_se / float(est.std(ddof=1))


@pytest.mark.parametrize("mechanism", ["MAR", "JR"])
def test_condmean_jackknife_coverage(mechanism):
    truth = cs.true_effect(mechanism)
    res = _run([(seed, N_PER_ARM, mechanism, mechanism, "condmean", None) for seed in range(N_TRIALS)])
    bias, mc_se, coverage, se_ratio = _summary(res, truth)
    what = f"{mechanism} data, {mechanism} condmean + jackknife, {N_TRIALS} trials"
    ledger.check(f"{what}: bias", bias, 0.0, source=SOURCE, atol=3 * mc_se, note="3 Monte Carlo SE")
    ledger.check(f"{what}: 95% CI coverage", coverage, 0.95, source=SOURCE, atol=0.015, note="issue 12: 93.5-96.5%")
    # the jackknife SE estimates the spread of the estimates across trials
    ledger.check(f"{what}: mean SE / SD of estimates", se_ratio, 1.0, source=SOURCE, atol=0.1)


def test_rubin_coverage_under_jump_to_reference_is_conservative():
    truth = cs.true_effect("JR")
    n = 200
    res = _run([(seed, N_PER_ARM, "JR", "JR", "approxbayes", 20) for seed in range(n)])
    bias, mc_se, coverage, se_ratio = _summary(res, truth)
    what = f"JR data, JR approximate Bayesian MI (20 imputations) + Rubin's rules, {n} trials"
    ledger.check(f"{what}: bias", bias, 0.0, source=SOURCE, atol=3 * mc_se, note="3 Monte Carlo SE")
    # conservative: Rubin's variance overstates the spread of the estimates under reference-based imputation
    ledger.check(
        f"{what}: 95% CI coverage (conservative, reported)",
        coverage,
        0.985,
        source=SOURCE,
        atol=0.015,
        note="known to exceed 95% under JR; Wolbers et al. 2022",
    )
    assert se_ratio > 1.05, f"Rubin's SE should overstate the spread under JR (ratio {se_ratio:.3f})"
