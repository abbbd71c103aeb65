"""Reference-based imputation (painstudy.sensitivity) against rbmi's published results, R mice's Rubin's
rules, and the definitions of the strategies.

Sources:
- rbmi's vignette "CondMean_Inference" on its antidepressant data: the table and LS means printed in
  ../shared/datasets/rbmi_antidepressant/README.md, read from there (never transcribed);
- R mice::pool.scalar (Debian's r-cran-mice): tests/reference/rubin_reference.R -> rubin_reference.json.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.sensitivity import reference_based
from painstudy.sensitivity.impute import impute, strategy_means
from painstudy.sensitivity.pool import rubin

HERE = Path(__file__).resolve().parent
FORMULA = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT + us(VISIT | PATIENT)"


@pytest.fixture(scope="module")
def antidep(shared):
    d = pd.read_csv(shared / "rbmi_antidepressant" / "antidepressant_data.csv")
    return d.assign(VISIT=d["VISIT"].astype(str))


@pytest.fixture(scope="module")
def published(shared):
    """rbmi's printed results, parsed from the dataset's README."""
    text = (shared / "rbmi_antidepressant" / "README.md").read_text()
    rows = re.findall(r"^\s*\| (\d) \| (-?[\d.]+) \| ([\d.]+) \| (-?[\d.]+) to (-?[\d.]+) \| ([\d.]+) \|", text, re.M)
    assert len(rows) == 4, "the README's table of rbmi results was not found"
    lsm = re.search(r"LS means at visit 7: drug (-?[\d.]+) \(se ([\d.]+)\), placebo (-?[\d.]+) \(se ([\d.]+)\)", text)
    return rows, lsm.groups()


@pytest.fixture(scope="module")
def jr(antidep):
    # rbmi: THERAPY levels DRUG, PLACEBO, so its comparison is PLACEBO - DRUG: control = DRUG here
    return reference_based(antidep, FORMULA, arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"])


def test_jump_to_reference_condmean_jackknife_matches_rbmi(jr, published):
    rows, lsm = published
    source = "../shared/datasets/rbmi_antidepressant/README.md (rbmi vignette CondMean_Inference)"
    eff = jr.effects().set_index("visit")
    with ledger.Batch() as b:
        for visit, est, se, lo, hi, p in rows:
            r = eff.loc[visit]
            assert r["term"] == "PLACEBO - DRUG"
            b.check_printed(f"JR condmean jackknife, visit {visit}: difference", r["estimate"], est, source=source)
            b.check_printed(f"visit {visit}: standard error", r["std_error"], se, source=source)
            b.check_printed(f"visit {visit}: 95% CI lower", r["ci_lower"], lo, source=source)
            b.check_printed(f"visit {visit}: 95% CI upper", r["ci_upper"], hi, source=source)
            b.check_printed(f"visit {visit}: p-value", r["p_value"], p, source=source)
        lsm7 = jr.lsmeans().set_index(["visit", "term"])
        b.check_printed("visit 7 LS mean, drug", lsm7.loc[("7", "DRUG"), "estimate"], lsm[0], source=source)
        b.check_printed("visit 7 LS mean SE, drug", lsm7.loc[("7", "DRUG"), "std_error"], lsm[1], source=source)
        b.check_printed("visit 7 LS mean, placebo", lsm7.loc[("7", "PLACEBO"), "estimate"], lsm[2], source=source)
        b.check_printed("visit 7 LS mean SE, placebo", lsm7.loc[("7", "PLACEBO"), "std_error"], lsm[3], source=source)
    # the README's description: 24% (drug) and 26% (placebo) discontinue; one intermittent value is MAR
    assert jr.strategies == {"JR": 43}
    assert jr.n_imputed == 4 * 172 - 608


def test_rubins_rules_match_mice_pool_scalar():
    ref = json.loads((HERE / "reference" / "rubin_reference.json").read_text())
    source = "tests/reference/rubin_reference.json"
    for name in ("m5", "m20", "m100", "small_b"):
        s = ref[name]
        q, u = np.array(s["Q"])[:, None], np.array(s["U"])[:, None]
        pooled = rubin(q, u, np.array([s["df_complete"]]))
        ledger.check(f"{name}: pooled estimate", pooled.estimate[0], s["qbar"], source=source, rtol=1e-12)
        ledger.check(f"{name}: total variance", pooled.se[0] ** 2, s["t"], source=source, rtol=1e-12)
        ledger.check(f"{name}: Barnard-Rubin df", pooled.df[0], s["df"], source=source, rtol=1e-10)


def test_approximate_bayes_agrees_with_condmean(antidep, jr):
    mi = reference_based(
        antidep,
        FORMULA,
        arm="THERAPY",
        reference="PLACEBO",
        control="DRUG",
        covariates=["BASVAL"],
        method="approxbayes",
        n_samples=60,
        seed=7,
    )
    a, b = mi.effects(), jr.effects()
    # same estimand: the MI mean within 3 Monte Carlo SEs (between-imputation SD / sqrt(m)) of condmean's
    mc = mi.effects()["std_error"] / np.sqrt(60)
    assert np.all(np.abs(a["estimate"] - b["estimate"]) < 3 * mc + 0.05)
    assert np.all(np.isfinite(a["df"])) and np.all(a["df"] > 20)


def test_strategy_means_follow_their_definitions():
    own = np.array([[1.0, 2.0, 3.0, 4.0]] * 5)
    ref = np.array([[0.5, 1.0, 1.5, 2.0]] * 5)
    ice = np.array([4, 2, 2, 2, 0])
    strat = np.array(["MAR", "JR", "CR", "CIR", "CIR"], dtype=object)
    mu = strategy_means(own, ref, ice, strat)
    np.testing.assert_allclose(mu[0], [1, 2, 3, 4])  # MAR: own
    np.testing.assert_allclose(mu[1], [1, 2, 1.5, 2])  # JR: reference from the event on
    np.testing.assert_allclose(mu[2], [0.5, 1, 1.5, 2])  # CR: reference everywhere
    np.testing.assert_allclose(mu[3], [1, 2, 2.5, 3])  # CIR: own at visit 2 + reference increments
    np.testing.assert_allclose(mu[4], [0.5, 1, 1.5, 2])  # CIR before the first visit: reference
    lm = strategy_means(own[:1], ref[:1], np.array([2]), np.array(["LMCF"], dtype=object))
    np.testing.assert_allclose(lm[0], [1, 2, 2, 2])
    with pytest.raises(ModelError, match="LMCF"):
        strategy_means(own[:1], ref[:1], np.array([0]), np.array(["LMCF"], dtype=object))


def test_conditional_mean_is_the_normal_regression():
    sigma = np.array([[2.0, 1.0, 0.5], [1.0, 2.0, 1.0], [0.5, 1.0, 2.0]])
    y = np.array([[1.0, np.nan, np.nan]])
    mu = np.array([[0.0, 0.5, 1.0]])
    out = impute(y, mu, sigma)
    np.testing.assert_allclose(out[0, 1:], mu[0, 1:] + sigma[1:, 0] / sigma[0, 0] * (1.0 - 0.0))
    assert out[0, 0] == 1.0


def test_results_do_not_depend_on_the_executor(antidep):
    kw = dict(arm="THERAPY", reference="PLACEBO", covariates=["BASVAL"], method="approxbayes", n_samples=8, seed=3)
    a = reference_based(antidep, FORMULA, **kw)
    with ThreadPoolExecutor(2) as ex:
        b = reference_based(antidep, FORMULA, executor=ex, **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    with ProcessPoolExecutor(2) as ex:  # the work is pickled to other processes: the same numbers
        c = reference_based(antidep, FORMULA, executor=ex, **kw)
    pd.testing.assert_frame_equal(a.table, c.table)
    # the built-in pool of local processes, and this process
    for executor in ("processes", None):
        pd.testing.assert_frame_equal(a.table, reference_based(antidep, FORMULA, executor=executor, **kw).table)
    with pytest.raises(ModelError, match="executor='dask'"):
        reference_based(antidep, FORMULA, executor="dask", **kw)


def test_auto_executor_uses_processes_only_for_large_work(monkeypatch):
    import painstudy.sensitivity.run as run

    used = []

    class Spy:
        def map(self, fn, it, **kw):
            used.append("executor")
            return map(fn, it)

    assert run.run_samples(lambda i: i * i, 4, "auto", work=10) == (0, 1, 4, 9)
    assert run.run_samples(lambda i: i, 3, Spy(), work=0) == (0, 1, 2) and used == ["executor"]
    # large work on a machine with enough cores: a pool (a picklable job is needed there, so check the
    # decision only)
    calls = []
    monkeypatch.setattr(run, "AUTO_PROCESSES_CORES", 1)
    monkeypatch.setattr(run, "_can_fork", lambda: calls.append(1) or False)
    assert run.run_samples(lambda i: -i, 2, "auto", work=10**9) == (0, -1) and calls


def test_delta_shifts_only_imputed_values(antidep, jr):
    kw = dict(arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"])
    zero = reference_based(antidep, FORMULA, delta=0.0, **kw)
    pd.testing.assert_frame_equal(zero.table, jr.table)
    worse = reference_based(antidep, FORMULA, delta={"DRUG": 5.0}, **kw)
    # a penalty on the drug arm's imputed values moves its LS mean up and PLACEBO - DRUG down
    e0, e1 = jr.effects()["estimate"].to_numpy(), worse.effects()["estimate"].to_numpy()
    assert np.all(e1[1:] < e0[1:])
    # without covariates in the analysis the LS means are arm means: the drug arm's moves by exactly
    # delta x its share of values imputed after an event, placebo's not at all
    kw["covariates"] = []
    base = reference_based(antidep, FORMULA, **kw).lsmeans().set_index(["visit", "term"])["estimate"]
    shifted = reference_based(antidep, FORMULA, delta={"DRUG": 5.0}, **kw).lsmeans().set_index(["visit", "term"])
    wide = antidep.pivot(index="PATIENT", columns="VISIT", values="CHANGE")
    arm = antidep.groupby("PATIENT")["THERAPY"].first()
    last = wide.notna().iloc[:, ::-1].idxmax(axis=1).astype(int)  # last observed visit (data are monotone but one)
    for v in ("4", "5", "6", "7"):
        drug = arm == "DRUG"
        share = ((last < int(v)) & drug).sum() / drug.sum()
        assert shifted.loc[(v, "DRUG"), "estimate"] - base.loc[(v, "DRUG")] == pytest.approx(5.0 * share, abs=1e-10)
        assert shifted.loc[(v, "PLACEBO"), "estimate"] == pytest.approx(base.loc[(v, "PLACEBO")], abs=1e-10)


def test_bad_input_is_named(antidep):
    kw = dict(arm="THERAPY", reference="PLACEBO", covariates=["BASVAL"])
    ev = pd.DataFrame({"PATIENT": [1503], "VISIT": ["9"], "strategy": ["JR"]})
    with pytest.raises(ModelError, match=r"events, row 1: visit '9' is not one of the visits"):
        reference_based(antidep, FORMULA, events=ev, **kw)
    ev = pd.DataFrame({"PATIENT": [1503, 1503], "VISIT": ["5", "6"], "strategy": ["JR", "CR"]})
    with pytest.raises(ModelError, match=r"subject 1503 has more than one event"):
        reference_based(antidep, FORMULA, events=ev, **kw)
    with pytest.raises(ModelError, match=r"reference arm 'SHAM' is not one of the arms"):
        reference_based(antidep, FORMULA, arm="THERAPY", reference="SHAM")
    d = antidep.copy()
    d.loc[d.index[3], "BASVAL"] = np.nan
    with pytest.raises(ModelError, match=r"column 'BASVAL': subject .* has no value"):
        reference_based(d, FORMULA, **kw)
    ev = pd.DataFrame({"PATIENT": [1503], "VISIT": ["5"], "strategy": ["J2R"]})
    with pytest.raises(ModelError, match=r"unknown strategy 'J2R'"):
        reference_based(antidep, FORMULA, events=ev, **kw)


@pytest.fixture(scope="module")
def vickers_missing():
    import painstudy

    cohort = painstudy.load_cohort("vickers2004")
    return cohort, painstudy.sensitivity_analyses(cohort, "headache_score")


def test_study_sensitivity_analyses_vickers(vickers_missing):
    cohort, res = vickers_missing
    t = res.table
    assert res.visit == "month12"
    assert set(res.estimand) == {
        "population",
        "variable",
        "intercurrent events",
        "missing values",
        "strategy",
        "summary measure",
    }
    # the estimand declared in the study's study.yml: withdrawals are discontinuations (hypothetical), the
    # patient who died counts while alive
    assert "401" in res.estimand["population"] and "100 of 401" in res.estimand["missing values"]
    assert res.estimand["intercurrent events"] == (
        "discontinuation (99 subjects): hypothetical; death (1 subject): while on treatment"
    )
    assert "for the 99 subjects" in res.estimand["strategy"]
    primary = t[t["analysis"].str.startswith("primary")].iloc[0]
    mar = t[t["analysis"].str.startswith("MAR")].iloc[0]
    jr = t[t["analysis"].str.startswith("JR")].iloc[0]
    # MAR imputation + ANCOVA and the MMRM estimate the same under MAR: within a fifth of an SE
    assert abs(mar["estimate"] - primary["estimate"]) < 0.2 * primary["std_error"]
    # jump to reference pulls the 25% who left acupuncture to usual care's mean: a smaller benefit
    assert abs(jr["estimate"]) < abs(mar["estimate"])
    assert t.loc[t["legacy"], "analysis"].str.contains("single imputation").all()
    assert len(t[t["legacy"]]) == 3
    tip = res.tipping
    assert tip.term == "acupuncture - usual_care" and tip.tipping_delta is not None
    row = tip.table.set_index("delta_active")
    assert row.loc[0.0, "estimate"] == pytest.approx(jr["estimate"], rel=1e-12)
    assert not row.loc[tip.tipping_delta, "significant"] and row.loc[0.0, "significant"]
    # every grid point before the tipping point is significant
    assert row.loc[row.index < tip.tipping_delta, "significant"].all()
    html = res._repr_html_()
    assert "jump to reference" in html and "single imputation" in html


def test_cli_fit_sensitivity(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "painstudy",
            "fit",
            "sensitivity",
            "vickers2004",
            "--strategies",
            "jr",
            "--json",
            "s.json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "JR (jump to reference)" in out.stdout and "intercurrent event" in out.stdout
    assert json.loads((tmp_path / "s.json").read_text())["tables"]["analyses"]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "painstudy",
            "fit",
            "sensitivity",
            "vickers2004",
            "--method",
            "approxbayes",
            "--inference",
            "jackknife",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "does not go with" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("strategy", ["MAR", "CR"])
def test_condmean_jackknife_matches_an_independent_r_implementation(antidep, strategy):
    """Further results on rbmi's data: MAR and copy reference, conditional mean imputation, ANCOVA per visit
    and the jackknife, against tests/reference/condmean_reference.R (written in R on nlme::gls, independent of
    painstudy's code: 172 + 1 REML fits per strategy)."""
    ref = json.loads((HERE / "reference" / "condmean_reference.json").read_text())[strategy]
    source = "tests/reference/condmean_reference.json"
    res = reference_based(
        antidep,
        FORMULA,
        arm="THERAPY",
        reference="PLACEBO",
        control="DRUG",
        covariates=["BASVAL"],
        strategy="CR" if strategy == "CR" else "MAR",
    )
    eff, lsm = res.effects().set_index("visit"), res.lsmeans().set_index(["visit", "term"])
    with ledger.Batch() as b:
        for j, visit in enumerate(["4", "5", "6", "7"]):
            rows = [
                ("PLACEBO - DRUG", eff.loc[visit]),
                ("LS mean DRUG", lsm.loc[(visit, "DRUG")]),
                ("LS mean PLACEBO", lsm.loc[(visit, "PLACEBO")]),
            ]
            for k, (name, r) in enumerate(rows):
                i = 3 * j + k
                what = f"{strategy} condmean, visit {visit}: {name}"
                b.check(what, r["estimate"], ref["estimate"][i], source=source, atol=1e-6)
                b.check(f"{what}, jackknife SE", r["std_error"], ref["std_error"][i], source=source, atol=1e-6)
    if strategy == "MAR":
        # under MAR, conditional mean imputation with a congenial ANCOVA gives the MMRM's treatment difference
        from painstudy import mmrm

        fit = mmrm(FORMULA, antidep)
        c = fit.contrasts("THERAPY", by="VISIT", method="trt.vs.ctrl", ref="DRUG").set_index("VISIT")
        assert np.allclose(
            c.loc[["4", "5", "6", "7"], "estimate"], eff.loc[["4", "5", "6", "7"], "estimate"], atol=1e-6
        )


PER_ARM = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT + us(VISIT | THERAPY / PATIENT)"


def test_covariance_per_arm_is_the_grouped_mmrm(antidep):
    """``us(VISIT | THERAPY / PATIENT)``: the imputation model is painstudy's grouped MMRM (itself checked
    against R mmrm), and under MAR each missing value is its conditional mean under its own arm's matrix."""
    from painstudy import mmrm
    from painstudy.sensitivity.run import draws

    d = draws(antidep, PER_ARM, arm="THERAPY", reference="PLACEBO", control="DRUG", strategy="MAR", executor=None)
    fit = mmrm(PER_ARM, antidep)
    by = fit.covariance
    arms = d.model.groups
    assert arms == ("DRUG", "PLACEBO")
    for g, arm in enumerate(arms):
        np.testing.assert_allclose(d.full.sigma[g], by.loc[arm].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(d.full.beta, fit.coefficients["estimate"].to_numpy(), rtol=1e-6, atol=1e-8)
    # the imputed values by hand: mu_M + S_MO S_OO^-1 (y_O - mu_O) with the subject's arm's S
    y = d.wide.y
    imputed = d.imputed[0][1]
    mu = d.model.means(d.full.beta)[0]
    for i in np.flatnonzero(np.isnan(y).any(axis=1))[:10]:
        S = d.full.sigma[d.model.own_group[i]]
        o, m = ~np.isnan(y[i]), np.isnan(y[i])
        expect = mu[i, m] + S[np.ix_(m, o)] @ np.linalg.solve(S[np.ix_(o, o)], y[i, o] - mu[i, o])
        np.testing.assert_allclose(imputed[i, m], expect, rtol=1e-12)
    # a resample is refitted to the same optimum by chord steps as by a full fit
    idx, par = d.samples[5]
    ref = d.model.fit(idx, start=d.full.sigma)
    np.testing.assert_allclose(par.sigma, ref.sigma, rtol=1e-6)


def test_covariances_per_arm_follow_carpenter_2013():
    """JR/CIR with a matrix per arm: before the event the own arm's covariance, after it the reference arm's
    regression on the earlier visits and its residual covariance (Carpenter, Roger & Kenward 2013); CR the
    reference's matrix; MAR the own; one shared matrix whatever the strategy."""
    from painstudy.sensitivity.impute import strategy_covariances

    rng = np.random.default_rng(5)
    A, B = rng.normal(size=(2, 4, 4))
    own, ref = A @ A.T + 4 * np.eye(4), B @ B.T + 4 * np.eye(4)
    sig = np.array([own, ref])
    strategy = np.array(["MAR", "JR", "CIR", "CR", "JR", "JR"], dtype=object)
    ice = np.array([2, 2, 3, 1, 0, 4])
    key, mats = strategy_covariances(sig, np.zeros(6, int), np.ones(6, int), ice, strategy)
    np.testing.assert_array_equal(mats[key[0]], own)
    np.testing.assert_array_equal(mats[key[3]], ref)
    np.testing.assert_array_equal(mats[key[4]], ref)  # event before the first visit: all reference
    np.testing.assert_array_equal(mats[key[5]], own)  # no visit after the event
    for i, e in ((1, 2), (2, 3)):
        M = mats[key[i]]
        np.testing.assert_allclose(M[:e, :e], own[:e, :e])
        regs = [np.linalg.solve(S[:e, :e], S[:e, e:]) for S in (M, ref)]
        np.testing.assert_allclose(regs[0], regs[1], atol=1e-12)
        resid = [S[e:, e:] - S[e:, :e] @ r for S, r in zip((M, ref), regs)]
        np.testing.assert_allclose(resid[0], resid[1], atol=1e-12)
        assert np.linalg.eigvalsh(M).min() > 0
    key1, mats1 = strategy_covariances(own[None], np.zeros(6, int), np.zeros(6, int), ice, strategy)
    assert len(mats1) == 1 and (key1 == 0).all()


def test_per_arm_jump_to_reference_runs_and_says_so(antidep):
    res = reference_based(
        antidep, PER_ARM, arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"], executor=None
    )
    assert "a covariance matrix per arm" in " ".join(res.notes)
    shared = reference_based(
        antidep, FORMULA, arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"], executor=None
    )
    # visit 4 has no missing value: the ANCOVA there does not depend on the imputation model
    e, s = res.effects().set_index("visit"), shared.effects().set_index("visit")
    assert e.loc["4", "estimate"] == pytest.approx(s.loc["4", "estimate"], rel=1e-10)
    assert abs(e.loc["7", "estimate"] - s.loc["7", "estimate"]) < 0.2 * s.loc["7", "std_error"]
    with pytest.raises(ModelError, match="grouped by the arm only"):
        reference_based(
            antidep,
            FORMULA.replace("us(VISIT | PATIENT)", "us(VISIT | GENDER / PATIENT)"),
            arm="THERAPY",
            reference="PLACEBO",
            covariates=["BASVAL"],
        )


def test_sensitivity_analyses_with_a_covariance_per_arm(vickers_missing):
    import painstudy

    cohort, shared = vickers_missing
    res = painstudy.sensitivity_analyses(
        cohort, "headache_score", strategies=["JR"], legacy=(), deltas=[0.0, 2.0], covariance_per_arm=True
    )
    assert "a covariance matrix per arm" in res.notes[0] and "us(visit | arm / subject)" in res.notes[0]
    jr = res.table[res.table["analysis"].str.startswith("JR")].iloc[0]
    jr_shared = shared.table[shared.table["analysis"].str.startswith("JR")].iloc[0]
    assert jr["estimate"] != jr_shared["estimate"]
    assert abs(jr["estimate"] - jr_shared["estimate"]) < 0.5 * jr_shared["std_error"]
