"""Responder analyses: Vickers et al. 2004 published numbers and R references.

Published (BMJ 2004;328:744, Table 2 and text; completers): >= 35 % improvement in headache
score at 12 months 87 (54 %) vs 45 (32 %), difference 22 % (11 % to 33 %), P = 0.0001,
NNT 4.6 (3.0 to 9.1); at 3 months 65 (41 %) vs 37 (27 %), 14 % (3 % to 24 %), P = 0.014.
R values: tests/reference/survival_reference.R (prop.test, glm) ->
tests/reference/survival_ref_vickers_responders.json, computed from the raw file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.models.responders import (cpra, newcombe_interval, responder_analysis,
                                         responder_odds_ratio, responder_rates, responders,
                                         risk_difference, wilson_interval)

REF = json.loads((Path(__file__).parent / "reference" /
                  "survival_ref_vickers_responders.json").read_text())


@pytest.fixture(scope="module")
def vickers_data(vickers_cohort):
    # the published definition: >= 35 % improvement from baseline, completers
    return responders(vickers_cohort, "headache_score", threshold=0.35, population="completers")


def test_vickers_published_12_month_numbers(vickers_cohort):
    res = responder_analysis(vickers_cohort, "headache_score", threshold=0.35,
                             visit="month12", population="completers")
    d = res.differences.table.set_index("visit").loc["month12"]
    assert (d["responders"], d["n"]) == (87, 161)                      # 87/161 (54 %)
    assert (d["responders_reference"], d["n_reference"]) == (45, 140)  # 45/140 (32 %)
    assert round(d["rate"] * 100) == 54 and round(d["rate_reference"] * 100) == 32
    assert round(d["estimate"] * 100) == 22                            # 22 %
    assert (round(d["ci_lower"] * 100), round(d["ci_upper"] * 100)) == (11, 33)
    assert round(d["nnt"], 1) == 4.6                                   # NNT 4.6
    assert (round(d["nnt_ci_lower"], 1), round(d["nnt_ci_upper"], 1)) == (3.0, 9.1)
    assert round(d["p_value"], 4) == 0.0001                            # P = 0.0001
    assert d["nnt_note"] == "NNT (benefit) 4.6 (3.0 to 9.1)"


def test_vickers_published_3_month_numbers(vickers_data):
    d = risk_difference(vickers_data, visit="month3").table.iloc[0]
    assert (d["responders"], d["n"], d["responders_reference"], d["n_reference"]) == (65, 159, 37, 136)
    assert (round(d["rate"] * 100), round(d["rate_reference"] * 100)) == (41, 27)
    assert round(d["estimate"] * 100) == 14
    assert (round(d["ci_lower"] * 100), round(d["ci_upper"] * 100)) == (3, 24)
    assert round(d["p_value"], 3) == 0.014


@pytest.mark.parametrize("visit, key", [("month3", "pk2"), ("month12", "pk5")])
def test_risk_difference_matches_r(vickers_data, visit, key):
    # R: prop.test(c(x1, x0), c(n1, n0), correct = FALSE) and the Wald interval by formula
    ref = REF[key]
    d = risk_difference(vickers_data, visit=visit).table.iloc[0]
    np.testing.assert_allclose(d["statistic"], ref["chisq"], rtol=1e-6)
    np.testing.assert_allclose(d["p_value"], ref["p_value"], rtol=1e-6)
    np.testing.assert_allclose(d["estimate"], ref["difference"], rtol=1e-10)
    np.testing.assert_allclose([d["ci_lower"], d["ci_upper"]], ref["wald_ci"], rtol=1e-8)


@pytest.mark.parametrize("visit, key", [("month3", "pk2"), ("month12", "pk5")])
def test_wilson_rates_match_r_prop_test(vickers_data, visit, key):
    # R: prop.test(x, n, correct = FALSE)$conf.int (Wilson score interval)
    ref = REF[key]
    r = responder_rates(vickers_data).table
    r = r.loc[r["visit"].astype(str) == visit].set_index(r.loc[r["visit"].astype(str) == visit,
                                                              "arm"].astype(str))
    for arm in ("acupuncture", "usual_care"):
        np.testing.assert_allclose(r.loc[arm, ["ci_lower", "ci_upper"]].to_numpy(float),
                                   ref["wilson"][arm], rtol=1e-8)
    assert list(r.loc[["acupuncture", "usual_care"], "n"]) == ref["n"]
    assert list(r.loc[["acupuncture", "usual_care"], "responders"]) == ref["responders"]


@pytest.mark.parametrize("visit, key", [("month3", "pk2"), ("month12", "pk5")])
def test_adjusted_odds_ratio_matches_r_glm(vickers_data, visit, key):
    # R: glm(resp ~ factor(group) + pk1 + age + sex + migraine + chronicity, binomial);
    # confint.default (Wald). sex is coded 1 = female in R, sex[male] here: compare the rest.
    ref = pd.DataFrame(REF[key]["logit"]).set_index("term")
    fit = responder_odds_ratio(vickers_data, visit=visit,
                               covariates=["baseline", "age", "sex", "migraine", "chronicity"])
    t = fit.table.set_index("term")
    pairs = {"arm[acupuncture]": "factor(group)1", "baseline": "pk1", "age": "age",
             "migraine": "migraine", "chronicity": "chronicity"}
    for ours, theirs in pairs.items():
        for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
            np.testing.assert_allclose(t.loc[ours, col], ref.loc[theirs, col], rtol=1e-5)
    np.testing.assert_allclose(t.loc["sex[male]", "estimate"], -ref.loc["sex", "estimate"],
                               rtol=1e-5)
    assert fit.n == sum(REF[key]["n"])


def test_wilson_and_newcombe_by_formula():
    lo, hi = wilson_interval(np.array([0, 10]), np.array([10, 10]))
    assert lo[0] == 0 and hi[1] == pytest.approx(1.0)
    # Newcombe (1998) example, method 10: 56/70 vs 48/80 -> 0.0524 to 0.3339
    nl, nh = newcombe_interval(56, 70, 48, 80)
    assert (round(float(nl), 4), round(float(nh), 4)) == (0.0524, 0.3339)


def test_newcombe_option_and_nnt_through_infinity(vickers_data):
    rd = risk_difference(vickers_data, ci="newcombe").table
    assert (rd["ci_lower"] < rd["estimate"]).all() and (rd["ci_upper"] > rd["estimate"]).all()
    with pytest.raises(ModelError, match="ci must be 'wald' or 'newcombe'"):
        risk_difference(vickers_data, ci="exact")
    # a CI spanning 0 gives an NNT interval through infinity (Altman 1998)
    fake = vickers_data.table.copy()
    fake.loc[fake["visit"] == "month3", "responder"] = np.tile([1.0, 0.0], 300)[
        : int((fake["visit"] == "month3").sum())]
    rd0 = risk_difference(dataclasses.replace(vickers_data, table=fake), visit="month3").table.iloc[0]
    assert rd0["ci_lower"] < 0 < rd0["ci_upper"]
    assert "infinity" in rd0["nnt_note"]


def test_cpra_is_consistent_with_responder_counts(vickers_data):
    c = cpra(vickers_data, visit="month12").table
    at35 = c.loc[c["threshold"] == 35].set_index(c.loc[c["threshold"] == 35, "arm"].astype(str))
    assert at35.loc["acupuncture", "responders"] == 87 and at35.loc["usual_care", "responders"] == 45
    for _, g in c.groupby("arm", observed=True):
        assert (np.diff(g["proportion"].to_numpy()) <= 0).all()


def test_populations(vickers_cohort):
    nri = responders(vickers_cohort, "headache_score", threshold=0.35, population="nri")
    r = responder_rates(nri).table
    r12 = r.loc[r["visit"] == "month12"].set_index(r.loc[r["visit"] == "month12", "arm"].astype(str))
    assert r12.loc["acupuncture", "n"] == 205 and r12.loc["usual_care", "n"] == 196
    assert r12.loc["acupuncture", "responders"] == 87
    with pytest.raises(ModelError, match="population must be one of"):
        responders(vickers_cohort, "headache_score", population="itt")
    with pytest.raises(ModelError, match="visit 'month6' is not a post-baseline visit"):
        risk_difference(nri, visit="month6")


def test_results_render_and_are_frozen(vickers_cohort):
    res = responder_analysis(vickers_cohort, "headache_score", threshold="response",
                             covariates=["baseline", "age", "chronicity"])
    assert res.data.threshold == 0.35
    html = res._repr_html_()
    assert "<table" in html and "nnt" in html
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.rates = None
    assert "Responder analysis" in str(res)


def test_collinear_covariates_are_dropped_with_a_note(vickers_data):
    # condition (migraine / tension-type) and migraine (0/1) carry the same information; the
    # result says so in its notes (no warning escapes: warnings are errors in this test run)
    fit = responder_odds_ratio(vickers_data, covariates=["baseline", "condition", "migraine"])
    assert "migraine" not in set(fit.table["term"])
    assert "dropped as collinear: migraine" in fit.covariates
    assert any("collinear" in n and "migraine" in n for n in fit.notes)
    assert fit.method == "ml"
