"""Options of reference-based imputation beyond rbmi's default analysis, and the responders' baseline carried
forward.

Sources:
- tests/reference/condmean_extra_reference.R -> condmean_extra_reference.json: an implementation written in R
  on nlme::gls, independent of painstudy's code, on rbmi's antidepressant data under jump to reference:
  the information-anchored variance of Lu (2021) as rbmi's vignette "CondMean_Inference" describes it, and
  the completed data analysed by an MMRM (CHANGE ~ BASVAL + THERAPY * VISIT, unstructured, REML) with the
  jackknife;
- the responder analysis of complete data is checked against the proportions and the Wald variance computed
  here from their definitions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.sensitivity import ResponderRule, reference_based

HERE = Path(__file__).resolve().parent
FORMULA = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT + us(VISIT | PATIENT)"
KW = dict(arm="THERAPY", reference="PLACEBO", control="DRUG", covariates=["BASVAL"])
SOURCE = "tests/reference/condmean_extra_reference.json"
VISITS = ["4", "5", "6", "7"]


@pytest.fixture(scope="module")
def antidep(shared):
    d = pd.read_csv(shared / "rbmi_antidepressant" / "antidepressant_data.csv")
    return d.assign(VISIT=d["VISIT"].astype(str))


@pytest.fixture(scope="module")
def reference():
    return json.loads((HERE / "reference" / "condmean_extra_reference.json").read_text())


@pytest.fixture(scope="module")
def frequentist(antidep):
    return reference_based(antidep, FORMULA, **KW)


def _per_visit(res) -> tuple[list, list]:
    """PLACEBO - DRUG, LS mean DRUG, LS mean PLACEBO at each visit: estimates and standard errors."""
    t = res.table.set_index(["visit", "kind", "term"])
    keys = [
        (v, kind, term)
        for v in VISITS
        for kind, term in (("effect", "PLACEBO - DRUG"), ("lsmean", "DRUG"), ("lsmean", "PLACEBO"))
    ]
    return [t.loc[k, "estimate"] for k in keys], [t.loc[k, "std_error"] for k in keys]


def test_information_anchored_variance_matches_an_independent_r_implementation(antidep, reference, frequentist):
    res = reference_based(antidep, FORMULA, information_anchored=True, **KW)
    ref = reference["JR_anchored"]
    est, se = _per_visit(res)
    names = [f"visit {v}: {q}" for v in VISITS for q in ("PLACEBO - DRUG", "LS mean DRUG", "LS mean PLACEBO")]
    with ledger.Batch() as b:
        for i, name in enumerate(names):
            b.check(f"JR condmean, information-anchored, {name}", est[i], ref["estimate"][i], source=SOURCE, atol=1e-6)
            b.check(f"{name}: information-anchored jackknife SE", se[i], ref["std_error"][i], source=SOURCE, atol=1e-6)
    # by construction the point estimate is the reference-based one; its variance is close to MAR's, larger
    # than the frequentist variance where JR imputes (rbmi's vignette: 1.12 against 0.86 at visit 7)
    f_est, f_se = _per_visit(frequentist)
    assert np.allclose(est, f_est, atol=1e-10)
    eff = [3 * j for j in range(1, 4)]  # visits 5, 6, 7
    assert all(se[i] > 1.05 * f_se[i] for i in eff)
    assert res.inference == "jackknife, information-anchored"
    assert any("Lu 2021" in n for n in res.notes)


def test_information_anchored_variance_is_close_to_rubins(antidep):
    """rbmi's vignette: the information-anchored SE 'is very similar to' Rubin's after Bayesian imputation."""
    anchored = reference_based(antidep, FORMULA, information_anchored=True, **KW).effects()
    mi = reference_based(antidep, FORMULA, method="approxbayes", n_samples=200, seed=11, **KW).effects()
    ratio = anchored["std_error"].to_numpy() / mi["std_error"].to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.1), ratio


def test_mmrm_analysis_of_the_completed_data_matches_an_independent_r_implementation(antidep, reference):
    res = reference_based(
        antidep,
        FORMULA,
        analysis="mmrm",
        analysis_formula="CHANGE ~ BASVAL + THERAPY * VISIT + us(VISIT | PATIENT)",
        **KW,
    )
    ref = reference["JR_mmrm"]
    eff = res.effects().set_index("visit")
    with ledger.Batch() as b:
        for i, v in enumerate(VISITS):
            r = eff.loc[v]
            assert r["term"] == "PLACEBO - DRUG"
            b.check(
                f"JR condmean, MMRM analysis, visit {v}: difference",
                r["estimate"],
                ref["estimate"][i],
                source=SOURCE,
                atol=1e-6,
            )
            b.check(f"visit {v}: jackknife SE", r["std_error"], ref["std_error"][i], source=SOURCE, atol=1e-6)
    assert any("analysis: MMRM CHANGE ~ BASVAL + THERAPY * VISIT" in n for n in res.notes)


def test_mmrm_analysis_with_baseline_by_visit_equals_the_ancova_per_visit(antidep, frequentist):
    """On complete data an unstructured MMRM whose regressors are the same at every visit is the ANCOVA per
    visit (the GLS of identical regressions is least squares); the default analysis formula is such a model."""
    res = reference_based(antidep, FORMULA, analysis="mmrm", **KW)
    est, se = _per_visit(res)
    f_est, f_se = _per_visit(frequentist)
    assert np.allclose(est, f_est, atol=1e-6) and np.allclose(se, f_se, atol=1e-6)
    # with multiple imputation the MMRM's model-based variances enter Rubin's rules: the same as the ANCOVA's
    kw = dict(method="approxbayes", n_samples=10, seed=3, **KW)
    a = reference_based(antidep, FORMULA, analysis="mmrm", **kw).effects()
    b = reference_based(antidep, FORMULA, **kw).effects()
    assert np.allclose(a["estimate"], b["estimate"], atol=1e-6)
    assert np.allclose(a["std_error"], b["std_error"], rtol=1e-4)


def test_responder_analysis_of_complete_data_is_the_wald_risk_difference(antidep):
    counts = antidep.groupby("PATIENT")["VISIT"].nunique()
    complete = antidep[antidep["PATIENT"].isin(counts[counts == 4].index)]
    rule = ResponderRule(0.5, relative=True, baseline="BASVAL")  # HAMD17 halved: a classic response
    res = reference_based(
        complete, FORMULA, analysis="responder", responder=rule, method="approxbayes", n_samples=3, seed=1, **KW
    )
    assert res.n_imputed == 0
    props, eff = res.proportions().set_index(["visit", "term"]), res.effects().set_index("visit")
    for v in VISITS:
        at = complete[complete["VISIT"] == v]
        resp = (-at["CHANGE"] / at["BASVAL"] >= 0.5).to_numpy()
        drug, pbo = resp[at["THERAPY"].to_numpy() == "DRUG"], resp[at["THERAPY"].to_numpy() == "PLACEBO"]
        p1, p0 = pbo.mean(), drug.mean()
        assert props.loc[(v, "PLACEBO"), "estimate"] == pytest.approx(p1, abs=1e-12)
        assert props.loc[(v, "DRUG"), "estimate"] == pytest.approx(p0, abs=1e-12)
        assert eff.loc[v, "estimate"] == pytest.approx(p1 - p0, abs=1e-12)
        wald = np.sqrt(p1 * (1 - p1) / len(pbo) + p0 * (1 - p0) / len(drug))
        assert eff.loc[v, "std_error"] == pytest.approx(wald, rel=1e-9)
    assert np.isnan(res.proportions()["p_value"]).all()
    assert any("responder: an improvement (a decrease) of at least 50% of BASVAL" in n for n in res.notes)


def test_responder_analysis_after_multiple_imputation(antidep):
    rule = ResponderRule(6.0)  # 6 points less on HAMD17 (the outcome is the change)
    kw = dict(method="approxbayes", n_samples=40, seed=5, analysis="responder", responder=rule, **KW)
    mar = reference_based(antidep, FORMULA, strategy="MAR", **kw)
    jr = reference_based(antidep, FORMULA, **kw)
    # jump to reference imputes the drug arm's dropouts with placebo's mean: fewer drug responders than MAR
    m7, j7 = (r.proportions().set_index(["visit", "term"]) for r in (mar, jr))
    assert j7.loc[("7", "DRUG"), "estimate"] < m7.loc[("7", "DRUG"), "estimate"]
    e = jr.effects()
    assert np.all(np.isfinite(e["std_error"])) and np.all(e["df"] > 10)
    # imputation adds variance: Rubin's total exceeds the completed-data Wald variance alone
    assert "proportions" in [name for name, _ in jr.tidy().tables]


def test_bad_options_are_named(antidep):
    rule = ResponderRule(6.0)
    with pytest.raises(ModelError, match="needs multiple imputation"):
        reference_based(antidep, FORMULA, analysis="responder", responder=rule, **KW)
    with pytest.raises(ModelError, match="give the rule"):
        reference_based(antidep, FORMULA, analysis="responder", method="approxbayes", **KW)
    with pytest.raises(ModelError, match="analysis='survival'"):
        reference_based(antidep, FORMULA, analysis="survival", **KW)
    with pytest.raises(ModelError, match="analysis_formula= is used by analysis='mmrm' only"):
        reference_based(antidep, FORMULA, analysis_formula="CHANGE ~ THERAPY + us(VISIT | PATIENT)", **KW)
    with pytest.raises(ModelError, match="goes with method='condmean'"):
        reference_based(antidep, FORMULA, method="approxbayes", information_anchored=True, **KW)
    with pytest.raises(ModelError, match=r"column\(s\) \['AGE'\] are not"):
        reference_based(
            antidep,
            FORMULA,
            analysis="mmrm",
            analysis_formula="CHANGE ~ AGE + THERAPY * VISIT + us(VISIT | PATIENT)",
            **KW,
        )
    with pytest.raises(ModelError, match="the arm column 'THERAPY' is not in it"):
        reference_based(
            antidep, FORMULA, analysis="mmrm", analysis_formula="CHANGE ~ BASVAL * VISIT + us(VISIT | PATIENT)", **KW
        )
    with pytest.raises(ModelError, match="needs the baseline column"):
        ResponderRule(0.3, relative=True)
    with pytest.raises(ModelError, match="not a subject-level column"):
        reference_based(
            antidep,
            FORMULA,
            analysis="responder",
            responder=ResponderRule(0.3, relative=True, baseline="BASELINE"),
            method="approxbayes",
            **KW,
        )


def test_responders_with_baseline_carried_forward():
    import painstudy
    from painstudy.models.responders import responder_analysis, responders

    cohort = painstudy.load_cohort("demo")
    bocf = responders(cohort, "pain", population="bocf").table
    nri = responders(cohort, "pain", population="nri").table
    gone = ~bocf["assessed"]
    assert gone.sum() > 0
    # a visit not assessed takes the baseline: unchanged, so not a responder for a 30% threshold, as NRI
    assert np.allclose(bocf.loc[gone, "value"], bocf.loc[gone, "baseline"])
    assert (bocf.loc[gone, "improvement"] == 0).all() and (bocf.loc[gone, "responder"] == 0).all()
    assert np.array_equal(bocf["responder"].to_numpy(), nri["responder"].to_numpy())
    # thresholds are positive improvements, so BOCF classes subjects as NRI does: the historical label only
    text = responder_analysis(cohort, "pain", population="bocf").summary()
    assert "bocf: baseline carried forward (historical single imputation, for comparison only)" in text
    assert "understates uncertainty" in text


def test_cli_fit_sensitivity_with_an_mmrm_analysis_and_anchored_variance(tmp_path):
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
            "--analysis",
            "mmrm",
            "--information-anchored",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "JR (jump to reference), condmean, information-anchored" in out.stdout
    assert "analysis: MMRM headache_score ~" in out.stdout and "Lu 2021" in out.stdout
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
            "--information-anchored",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "goes with method='condmean'" in bad.stderr and "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- Bayesian multiple imputation
def test_bayesian_posterior_agrees_with_the_reml_fit(antidep):
    """With 172 subjects the posterior of the imputation model is close to normal around the REML estimate
    with the REML covariance (Bernstein-von Mises): posterior means within a tenth of a standard error of
    painstudy's REML fit (which matches SAS PROC MIXED and R), posterior SDs within 10% of its SEs."""
    from painstudy import mmrm
    from painstudy.sensitivity import draws

    d = draws(antidep, FORMULA, method="bayes", n_samples=400, thin=5, seed=2, **KW)
    B = np.array([par.beta for _, par in d.samples])
    fit = mmrm(FORMULA, antidep)
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    assert np.all(np.abs(B.mean(axis=0) - d.full.beta) < 0.1 * se)
    assert np.all(np.abs(B.std(axis=0, ddof=1) / se - 1) < 0.1)
    S = np.array([par.sigma[0] for _, par in d.samples]).mean(axis=0)
    assert np.allclose(S, fit.covariance.to_numpy(), rtol=0.1)
    assert d.mcmc["ess"] > 200


def test_bayesian_multiple_imputation_matches_rbmi(antidep, frequentist):
    """rbmi's vignette "CondMean_Inference": Bayesian MI (rbmi's Stan sampler) under JR gave a standard error
    of 1.13 at visit 7 (printed to 2 decimals); the point estimate is that of conditional mean imputation
    within Monte Carlo error."""
    res = reference_based(antidep, FORMULA, method="bayes", n_samples=200, seed=1, **KW)
    e7 = res.effects().set_index("visit").loc["7"]
    ledger.check(
        "JR Bayesian MI, visit 7: Rubin standard error",
        e7["std_error"],
        1.13,
        source="rbmi vignette CondMean_Inference (Bayesian MI, quickstart vignette): SE 1.13",
        atol=0.05,
    )
    f7 = frequentist.effects().set_index("visit").loc["7"]
    assert abs(e7["estimate"] - f7["estimate"]) < 3 * e7["std_error"] / np.sqrt(200) + 0.05
    assert any("Gibbs sampler" in n for n in res.notes) and res.method == "bayes"
    again = reference_based(antidep, FORMULA, method="bayes", n_samples=200, seed=1, executor=None, **KW)
    pd.testing.assert_frame_equal(res.table, again.table)


def test_bayesian_imputation_with_a_covariance_per_arm(antidep):
    per_arm = FORMULA.replace("us(VISIT | PATIENT)", "us(VISIT | THERAPY / PATIENT)")
    res = reference_based(antidep, per_arm, method="bayes", n_samples=30, burn_in=50, thin=2, seed=4, **KW)
    assert np.all(np.isfinite(res.effects()["std_error"]))
    with pytest.raises(ModelError, match="burn_in=-1"):
        reference_based(antidep, FORMULA, method="bayes", n_samples=5, burn_in=-1, **KW)
    with pytest.raises(ModelError, match="does not go with method='bayes'"):
        reference_based(antidep, FORMULA, method="bayes", inference="jackknife", **KW)
