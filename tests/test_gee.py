"""Responders over all visits by a logistic GEE against R geepack.

Reference values: tests/reference/gee_reference.R (R 4.2, geepack 1.3.9), written to
tests/reference/gee_reference.json, on tests/reference/data/gee_responders.csv (the demo study's responder table
as painstudy derives it: pain, 30 % improvement, population "assessed"; 370 subjects, 1670 rows):

- ``geeglm(responder ~ arm * visit [+ baseline + condition], family = binomial, id = subject, waves = visit,
  corstr = "exchangeable" | "independence")`` on every assessed subject, and ``corstr = "unstructured"`` (and
  exchangeable) on the 276 subjects assessed at all five visits (geepack's unstructured estimator crashes on
  unbalanced clusters): coefficients, robust ("san.se") SEs and Wald p, the scale and the working correlation;
- the standardised responder probabilities per arm and visit, the marginal risk differences, the model's log
  odds ratios and the marginal log odds ratios with delta-method SEs, written in R from the formulas;
- a GEE written in R from geepack's formulas (``by_hand``: it equals geepack to 1e-13 where geepack runs) for the
  unstructured working correlation on the unbalanced data.

painstudy and R solve the same estimating equations to ~1e-13; the tolerance 1e-8 (relative, 1e-10 absolute)
leaves room for the stopping rules (score norm 1e-10 here, epsilon 1e-12 in geepack).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.errors import ModelError, PainstudyError
from painstudy.models.gee import GEEResponderResult, gee_responders
from painstudy.models.responders import ResponderData

HERE = Path(__file__).resolve().parent / "reference"
SOURCE = "tests/reference/gee_reference.json"
RTOL, ATOL = 1e-8, 1e-10


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((HERE / "gee_reference.json").read_text())


@pytest.fixture(scope="module")
def table(ref) -> pd.DataFrame:
    d = pd.read_csv(HERE / "data" / "gee_responders.csv")
    d["subject"] = d["subject"].astype(str)
    d["visit"] = pd.Categorical(d["visit"], ref["visits"], ordered=True)
    d["arm"] = pd.Categorical(d["arm"], ref["arms"])
    return d


def responder_data(table: pd.DataFrame, ref: dict, population: str) -> ResponderData:
    t = table
    if population != "assessed":  # the subjects assessed at every visit
        t = table.loc[table.groupby("subject")["subject"].transform("size") == len(ref["visits"])]
    return ResponderData(
        table=t.reset_index(drop=True),
        outcome="pain",
        population="assessed",
        arms=tuple(ref["arms"]),
        reference="usual_care",
        visits=tuple(ref["visits"]),
        covariates=("condition", "age", "sex"),
    )


def ours_term(r_term: str) -> str:
    """R's term name as painstudy's: armmindfulness:visitweek8 -> arm[mindfulness]:visit[week8]."""
    parts = []
    for p in r_term.split(":"):
        m = re.fullmatch(r"(arm|visit|condition)(.+)", p)
        parts.append("intercept" if p == "(Intercept)" else f"{m[1]}[{m[2]}]" if m else p)
    return ":".join(parts)


def covariates_of(fit: dict) -> list[str]:
    c = fit["covariates"]
    return c if isinstance(c, list) else [c] if c else []


def compare_fit(b: ledger.Batch, res: GEEResponderResult, fit: dict, what: str) -> None:
    rc = pd.DataFrame(fit["coefficients"])
    terms = [ours_term(t) for t in rc["term"]]
    ours = res.coefficients.set_index("term").loc[terms]
    b.check(f"{what}: coefficients", ours["estimate"], rc["estimate"], source=SOURCE, rtol=RTOL, atol=ATOL,
            labels=terms)  # fmt: skip
    b.check(f"{what}: robust SEs", ours["std_error"], rc["std_error"], source=SOURCE, rtol=RTOL, labels=terms)
    if "p_value" in rc:
        b.check(f"{what}: Wald p", ours["p_value"], rc["p_value"], source=SOURCE, rtol=1e-6, labels=terms)
    b.check(f"{what}: scale", res.scale, fit["scale"], source=SOURCE, rtol=RTOL)
    wc = np.asarray(fit["working_correlation"], float)
    b.check(f"{what}: working correlation", res.working_correlation.iloc[:, 1:].to_numpy(), wc, source=SOURCE,
            rtol=RTOL, atol=ATOL)  # fmt: skip
    means = res.means.set_index(["visit", "arm"])
    for m in fit["means"]:
        row = means.loc[(m["visit"], m["arm"])]
        b.check(f"{what}: {m['visit']}, {m['arm']}: standardised probability and SE", [row["mean"], row["std_error"]],
                [m["mean"], m["std_error"]], source=SOURCE, rtol=RTOL, atol=ATOL)  # fmt: skip
    est = res.estimates.set_index(["visit", "arm", "measure"])
    for c in fit["comparisons"]:
        where = f"{what}: {c['visit']}, {c['arm']} vs {c['reference']}"
        rd = est.loc[(c["visit"], c["arm"], "risk difference")]
        b.check(f"{where}: marginal risk difference and SE", [rd["estimate"], rd["std_error"]], [c["rd"], c["rd_se"]],
                source=SOURCE, rtol=RTOL, atol=ATOL)  # fmt: skip
        lor = est.loc[(c["visit"], c["arm"], "odds ratio")]
        b.check(f"{where}: log odds ratio and SE", [np.log(lor["estimate"]), lor["std_error"]],
                [c["log_or"], c["log_or_se"]], source=SOURCE, rtol=RTOL, atol=ATOL)  # fmt: skip
        if covariates_of(fit):
            mor = est.loc[(c["visit"], c["arm"], "marginal odds ratio")]
            b.check(f"{where}: marginal log odds ratio and SE", [np.log(mor["estimate"]), mor["std_error"]],
                    [c["marginal_log_or"], c["marginal_log_or_se"]], source=SOURCE, rtol=RTOL, atol=ATOL)  # fmt: skip


# ------------------------------------------------------------------ against geepack and the GEE written in R
@pytest.mark.parametrize(
    "name",
    [
        "exchangeable_assessed",
        "exchangeable_assessed_covariates",
        "independence_assessed",
        "unstructured_balanced",
        "unstructured_balanced_covariates",
        "exchangeable_balanced",
    ],
)
def test_gee_matches_geepack(table, ref, name):
    fit = next(f for f in ref["fits"] if f["name"] == name)
    assert fit["converged"]
    population = "assessed" if fit["population"] == "assessed" else "balanced"
    data = responder_data(table, ref, population)
    res = gee_responders(data, corstr=fit["corstr"], covariates=covariates_of(fit))
    assert res.n_obs == fit["n_obs"] and res.n_subjects == fit["n_clusters"]
    with ledger.Batch() as b:
        compare_fit(b, res, fit, f"geeglm {name}")
        if fit["corstr"] == "exchangeable":
            b.check(f"geeglm {name}: exchangeable alpha", res.alpha, fit["alpha"], source=SOURCE, rtol=RTOL)


@pytest.mark.parametrize("name", ["unstructured_assessed", "unstructured_assessed_covariates"])
def test_unstructured_on_unbalanced_clusters_matches_the_gee_written_in_r(table, ref, name):
    fit = next(f for f in ref["by_hand"] if f["name"] == name)
    res = gee_responders(responder_data(table, ref, "assessed"), corstr="unstructured", covariates=covariates_of(fit))
    with ledger.Batch() as b:
        compare_fit(b, res, fit, f"GEE by hand {name}")


def test_geepack_unstructured_differs_from_statsmodels_unstructured(table, ref):
    """statsmodels' Unstructured standardises by the visits' own variances; geepack by the overall scale."""
    from statsmodels.genmod import cov_struct, families
    from statsmodels.genmod.generalized_estimating_equations import GEE

    fit = next(f for f in ref["fits"] if f["name"] == "unstructured_balanced_covariates")
    data = responder_data(table, ref, "balanced")
    res = gee_responders(data, corstr="unstructured", covariates=["baseline", "condition"])
    t = data.table.assign(wave=data.table["visit"].cat.codes).sort_values(["subject", "wave"])
    X = pd.get_dummies(t[["arm", "visit", "condition"]], drop_first=True, dtype=float)
    X = X.assign(intercept=1.0, baseline=t["baseline"])
    sm = GEE(t["responder"], X, groups=t["subject"], time=t["wave"].to_numpy(np.int64), family=families.Binomial(),
             cov_struct=cov_struct.Unstructured()).fit(ddof_scale=0)  # fmt: skip
    r = np.asarray(fit["working_correlation"])
    assert np.abs(np.asarray(sm.cov_struct.dep_params) - r).max() > 1e-3
    assert np.abs(res.working_correlation.iloc[:, 1:].to_numpy() - r).max() < 1e-10


# ------------------------------------------------------------------ the result and its notes
def test_demo_result_renders_with_estimand_notes():
    data = painstudy.responders(painstudy.load_cohort("demo"), "pain", population="assessed")
    res = painstudy.gee_responders(data, corstr="exchangeable", covariates=["baseline"])
    assert isinstance(res, GEEResponderResult)
    text = str(res)
    assert "logistic GEE" in text and "missing completely at random (MCAR)" in text
    assert set(res.estimates["measure"]) == {"risk difference", "odds ratio", "marginal odds ratio"}
    assert len(res.estimates) == 3 * 3 * 5  # three measures, three arms against usual care, five visits
    d = res.to_dict()
    assert set(d["tables"]) == {"estimates", "means", "coefficients", "working_correlation"}
    assert d["facts"]["working correlation"] == "exchangeable" and 0 < d["facts"]["alpha"] < 1
    assert list(res.working_correlation["visit"]) == list(data.visits)
    assert (res.estimates["ci_lower"] <= res.estimates["ci_upper"]).all()
    nri = painstudy.responders(painstudy.load_cohort("demo"), "pain", population="nri")
    notes = " ".join(painstudy.gee_responders(nri, corstr="independence", visits=["week12", "week52"]).notes)
    assert "non-response (composite strategy)" in notes and "MCAR)" not in notes


def test_visits_and_reference(table, ref):
    data = responder_data(table, ref, "assessed")
    res = gee_responders(data, visits=["week52", "week12"], reference="integrative")
    assert list(res.working_correlation["visit"]) == ["week12", "week52"]
    assert set(res.estimates["reference"]) == {"integrative"}
    assert set(res.estimates["arm"]) == {"usual_care", "physiotherapy", "mindfulness"}
    # the week12 risk difference integrative vs usual care is minus usual care vs integrative
    ours = res.estimates.set_index(["visit", "arm", "measure"]).loc[("week12", "usual_care", "risk difference")]
    other = gee_responders(data, visits=["week12", "week52"]).estimates.set_index(["visit", "arm", "measure"])
    back = other.loc[("week12", "integrative", "risk difference")]
    assert ours["estimate"] == pytest.approx(-back["estimate"], rel=1e-8)
    assert ours["std_error"] == pytest.approx(back["std_error"], rel=1e-6)


# ------------------------------------------------------------------ errors
def test_errors_name_what_is_wrong(table, ref):
    data = responder_data(table, ref, "assessed")
    with pytest.raises(ModelError, match="corstr must be one of 'exchangeable', 'unstructured', 'independence', "
                       "got 'ar1'"):  # fmt: skip
        gee_responders(data, corstr="ar1")
    with pytest.raises(ModelError, match="unknown covariate 'region'"):
        gee_responders(data, covariates=["region"])
    with pytest.raises(ModelError, match="covariate 'arm' cannot adjust the comparison of arms"):
        gee_responders(data, covariates=["arm"])
    with pytest.raises(ModelError, match="visit 'week99' is not a post-baseline visit"):
        gee_responders(data, visits=["week99"])
    with pytest.raises(ModelError, match="reference arm 'placebo' is not one of"):
        gee_responders(data, reference="placebo")
    with pytest.raises(ModelError, match="expected ResponderData"):
        gee_responders(table)
    with pytest.raises(ModelError, match="conf_level must be between 0 and 1"):
        gee_responders(data, conf_level=95)


def test_an_arm_without_responders_at_a_visit_is_inestimable(table, ref):
    t = table.copy()
    gone = (t["visit"] == "week4") & (t["arm"] == "usual_care")
    t.loc[gone, "responder"] = 0
    data = responder_data(t, ref, "assessed")
    with pytest.raises(ModelError, match=r"usual_care has no responder at week4 \(0 of 89\): .* inestimable") as e:
        gee_responders(data)
    assert isinstance(e.value, PainstudyError) and "visits=[...]" in str(e.value)
    res = gee_responders(data, visits=["week8", "week12", "week26", "week52"])  # without the visit it runs
    assert "week4" not in set(res.estimates["visit"])
    everyone = t.assign(responder=np.where((t["visit"] == "week8") & (t["arm"] == "integrative"), 1, t["responder"]))
    with pytest.raises(ModelError, match=r"every subject of integrative responds at week8 \(90 of 90\)"):
        gee_responders(responder_data(everyone, ref, "assessed"), visits=["week8", "week12"])


# ------------------------------------------------------------------ command line
def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "painstudy", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_fit_responders_gee(tmp_path):
    out = run_cli("fit", "responders", "demo", "--population", "assessed", "--gee", "unstructured",
                  "--adjust-for", "baseline", "--json", "r.json", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "logistic GEE" in out.stdout and "working correlation: unstructured" in out.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["gee"]["facts"]["covariates"] == "baseline"
    bad = run_cli("fit", "responders", "demo", "--gee", "exchangeable", "--visit", "week99", cwd=tmp_path)
    assert bad.returncode == 1 and "week99" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
