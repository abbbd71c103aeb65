"""Responder analyses: Vickers et al. 2004 published numbers and R references.

Published (BMJ 2004;328:744, Table 2 and text; completers): >= 35 % improvement in headache
score at 12 months 87 (54 %) vs 45 (32 %), difference 22 % (11 % to 33 %), P = 0.0001,
NNT 4.6 (3.0 to 9.1); at 3 months 65 (41 %) vs 37 (27 %), 14 % (3 % to 24 %), P = 0.014.
R values: tests/reference/survival_reference.R (prop.test, glm) ->
tests/reference/survival_ref_vickers_responders.json, computed from the raw file.  Every compared number
goes through ``ledger`` with its source (the paper, the JSON file) for the validation report; published
numbers to their printed precision (half a unit of the last printed digit).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.models.responders import (
    ResponderData,
    cpra,
    newcombe_interval,
    responder_analysis,
    responder_odds_ratio,
    responder_rates,
    responders,
    risk_difference,
    wilson_interval,
)

REF = json.loads((Path(__file__).parent / "reference" / "survival_ref_vickers_responders.json").read_text())
R_SOURCE = "tests/reference/survival_ref_vickers_responders.json"
PAPER = "Vickers et al. BMJ 2004;328:744 (Table 2 and text)"
FIGURE1 = "Vickers et al. BMJ 2004;328:744 (Figure 1)"


def published(quantity: str, ours: float, text: str, source: str = PAPER, scale: float = 1.0) -> None:
    """``ours`` (times ``scale``, e.g. 100 for a percentage) against a number as printed in a paper."""
    ledger.check_printed(quantity, float(ours) * scale, text, source=source)


@pytest.fixture(scope="module")
def vickers_data(vickers_cohort):
    # the published definition: >= 35 % improvement from baseline, completers
    return responders(vickers_cohort, "headache_score", threshold=0.35, population="completers")


def test_vickers_published_12_month_numbers(vickers_cohort):
    res = responder_analysis(vickers_cohort, "headache_score", threshold=0.35, visit="month12", population="completers")
    d = res.differences.table.set_index("visit").loc["month12"]
    q = "Vickers 2004 responders (>= 35 %), 12 months"
    for col, n in (("responders", 87), ("n", 161), ("responders_reference", 45), ("n_reference", 140)):
        ledger.check_equal(f"{q}: {col}", int(d[col]), n, source=PAPER)  # 87/161 (54 %), 45/140 (32 %)
    published(f"{q}: rate acupuncture (%)", d["rate"], "54", scale=100)
    published(f"{q}: rate usual care (%)", d["rate_reference"], "32", scale=100)
    published(f"{q}: difference (%)", d["estimate"], "22", scale=100)  # 22 % (11 % to 33 %)
    published(f"{q}: difference CI lower (%)", d["ci_lower"], "11", scale=100)
    published(f"{q}: difference CI upper (%)", d["ci_upper"], "33", scale=100)
    published(f"{q}: NNT", d["nnt"], "4.6")  # NNT 4.6 (3.0 to 9.1)
    published(f"{q}: NNT CI lower", d["nnt_ci_lower"], "3.0")
    published(f"{q}: NNT CI upper", d["nnt_ci_upper"], "9.1")
    published(f"{q}: P", d["p_value"], "0.0001")  # P = 0.0001
    assert d["nnt_note"] == "NNT (benefit) 4.6 (3.0 to 9.1)"


def test_vickers_published_3_month_numbers(vickers_data):
    d = risk_difference(vickers_data, visit="month3").table.iloc[0]
    q = "Vickers 2004 responders (>= 35 %), 3 months"
    for col, n in (("responders", 65), ("n", 159), ("responders_reference", 37), ("n_reference", 136)):
        ledger.check_equal(f"{q}: {col}", int(d[col]), n, source=PAPER)
    published(f"{q}: rate acupuncture (%)", d["rate"], "41", scale=100)
    published(f"{q}: rate usual care (%)", d["rate_reference"], "27", scale=100)
    published(f"{q}: difference (%)", d["estimate"], "14", scale=100)
    published(f"{q}: difference CI lower (%)", d["ci_lower"], "3", scale=100)
    published(f"{q}: difference CI upper (%)", d["ci_upper"], "24", scale=100)
    published(f"{q}: P", d["p_value"], "0.014")


@pytest.mark.parametrize("visit, key", [("month3", "pk2"), ("month12", "pk5")])
def test_risk_difference_matches_r(vickers_data, visit, key):
    # R: prop.test(c(x1, x0), c(n1, n0), correct = FALSE) and the Wald interval by formula
    ref = REF[key]
    d = risk_difference(vickers_data, visit=visit).table.iloc[0]
    q = f"Vickers 2004 responders {key} ({visit}) risk difference"
    ledger.check(f"{q} chi-square", d["statistic"], ref["chisq"], rtol=1e-6, source=R_SOURCE)
    ledger.check(f"{q} p-value", d["p_value"], ref["p_value"], rtol=1e-6, source=R_SOURCE)
    ledger.check(f"{q} estimate", d["estimate"], ref["difference"], rtol=1e-10, source=R_SOURCE)
    ledger.check(
        f"{q} Wald CI",
        [d["ci_lower"], d["ci_upper"]],
        ref["wald_ci"],
        rtol=1e-8,
        labels=["lower", "upper"],
        source=R_SOURCE,
    )


@pytest.mark.parametrize("visit, key", [("month3", "pk2"), ("month12", "pk5")])
def test_wilson_rates_match_r_prop_test(vickers_data, visit, key):
    # R: prop.test(x, n, correct = FALSE)$conf.int (Wilson score interval)
    ref = REF[key]
    r = responder_rates(vickers_data).table
    r = r.loc[r["visit"].astype(str) == visit].set_index(r.loc[r["visit"].astype(str) == visit, "arm"].astype(str))
    q = f"Vickers 2004 responders {key} ({visit})"
    for arm in ("acupuncture", "usual_care"):
        ledger.check(
            f"{q} Wilson interval {arm}",
            r.loc[arm, ["ci_lower", "ci_upper"]].to_numpy(float),
            ref["wilson"][arm],
            rtol=1e-8,
            labels=["lower", "upper"],
            source=R_SOURCE,
        )
    for col in ("n", "responders"):
        for arm, n in zip(("acupuncture", "usual_care"), ref[col]):
            ledger.check_equal(f"{q} {col} {arm}", int(r.loc[arm, col]), n, source=R_SOURCE)


@pytest.mark.parametrize("visit, key", [("month3", "pk2"), ("month12", "pk5")])
def test_adjusted_odds_ratio_matches_r_glm(vickers_data, visit, key):
    # R: glm(resp ~ factor(group) + pk1 + age + sex + migraine + chronicity, binomial);
    # confint.default (Wald). sex is coded 1 = female in R, sex[male] here: compare the rest.
    ref = pd.DataFrame(REF[key]["logit"]).set_index("term")
    fit = responder_odds_ratio(
        vickers_data, visit=visit, covariates=["baseline", "age", "sex", "migraine", "chronicity"]
    )
    t = fit.table.set_index("term")
    pairs = {
        "arm[acupuncture]": "factor(group)1",
        "baseline": "pk1",
        "age": "age",
        "migraine": "migraine",
        "chronicity": "chronicity",
    }
    q = f"Vickers 2004 responders {key} ({visit}) adjusted logistic regression"
    for ours, theirs in pairs.items():
        for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
            ledger.check(f"{q} {ours} {col}", t.loc[ours, col], ref.loc[theirs, col], rtol=1e-5, source=R_SOURCE)
    ledger.check(
        f"{q} sex[male] estimate (R: -sex, coded 1 = female)",
        t.loc["sex[male]", "estimate"],
        -ref.loc["sex", "estimate"],
        rtol=1e-5,
        source=R_SOURCE,
    )
    ledger.check_equal(f"{q} n", fit.n, sum(REF[key]["n"]), source=R_SOURCE)


def test_wilson_and_newcombe_by_formula():
    lo, hi = wilson_interval(np.array([0, 10]), np.array([10, 10]))
    assert lo[0] == 0 and hi[1] == pytest.approx(1.0)
    # Newcombe (1998) example, method 10: 56/70 vs 48/80 -> 0.0524 to 0.3339
    nl, nh = newcombe_interval(56, 70, 48, 80)
    newcombe = "Newcombe RG. Stat Med 1998;17:873-890 (Table II, method 10: 56/70 vs 48/80)"
    published("Newcombe interval, 56/70 vs 48/80: lower", nl, "0.0524", source=newcombe)
    published("Newcombe interval, 56/70 vs 48/80: upper", nh, "0.3339", source=newcombe)


def test_newcombe_option_and_nnt_through_infinity(vickers_data):
    rd = risk_difference(vickers_data, ci="newcombe").table
    assert (rd["ci_lower"] < rd["estimate"]).all() and (rd["ci_upper"] > rd["estimate"]).all()
    with pytest.raises(ModelError, match="ci must be 'wald' or 'newcombe'"):
        risk_difference(vickers_data, ci="exact")
    # a CI spanning 0 gives an NNT interval through infinity (Altman 1998)
    fake = vickers_data.table.copy()
    fake.loc[fake["visit"] == "month3", "responder"] = np.tile([1.0, 0.0], 300)[
        : int((fake["visit"] == "month3").sum())
    ]
    rd0 = risk_difference(dataclasses.replace(vickers_data, table=fake), visit="month3").table.iloc[0]
    assert rd0["ci_lower"] < 0 < rd0["ci_upper"]
    assert "infinity" in rd0["nnt_note"]


def test_cpra_is_consistent_with_responder_counts(vickers_data):
    c = cpra(vickers_data, visit="month12").table
    at35 = c.loc[c["threshold"] == 35].set_index(c.loc[c["threshold"] == 35, "arm"].astype(str))
    for arm, n in (("acupuncture", 87), ("usual_care", 45)):
        ledger.check_equal(
            f"Vickers 2004 CPRA at 35 %, 12 months: responders {arm}", int(at35.loc[arm, "responders"]), n, source=PAPER
        )
    for _, g in c.groupby("arm", observed=True):
        assert (np.diff(g["proportion"].to_numpy()) <= 0).all()


def test_populations(vickers_cohort):
    nri = responders(vickers_cohort, "headache_score", threshold=0.35, population="nri")
    r = responder_rates(nri).table
    r12 = r.loc[r["visit"] == "month12"].set_index(r.loc[r["visit"] == "month12", "arm"].astype(str))
    for arm, n in (("acupuncture", 205), ("usual_care", 196)):  # randomised
        ledger.check_equal(f"Vickers 2004 non-responder imputation: n {arm}", int(r12.loc[arm, "n"]), n, source=FIGURE1)
    ledger.check_equal(
        "Vickers 2004 non-responder imputation, 12 months: responders acupuncture",
        int(r12.loc["acupuncture", "responders"]),
        87,
        source=PAPER,
    )
    with pytest.raises(ModelError, match="population must be one of"):
        responders(vickers_cohort, "headache_score", population="itt")
    with pytest.raises(ModelError, match="visit 'month6' is not a post-baseline visit"):
        risk_difference(nri, visit="month6")


def test_results_render_and_are_frozen(vickers_cohort):
    res = responder_analysis(
        vickers_cohort, "headache_score", threshold="response", covariates=["baseline", "age", "chronicity"]
    )
    assert res.data.threshold == 0.35
    html = res._repr_html_()
    assert "<table" in html and "NNT" in html
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


# ------------------------------------------------------------------ separation: Firth's method
FIRTH = json.loads((Path(__file__).parent / "reference" / "firth_reference.json").read_text())
R_TERMS = {"(Intercept)": "intercept", "armintegrative": "arm[integrative]", "baseline": "baseline"}


def firth_data(name: str) -> ResponderData:
    """tests/reference/data/firth_<name>.csv (written by firth_reference.R) as responder data."""
    d = pd.read_csv(Path(__file__).parent / "reference" / "data" / f"firth_{name}.csv")
    d["arm"] = pd.Categorical(d["arm"], categories=["usual_care", "integrative"])
    return ResponderData(
        table=d,
        outcome="pain",
        threshold=0.3,
        arms=("usual_care", "integrative"),
        reference="usual_care",
        visits=("week12",),
        study="firth",
    )


@pytest.mark.parametrize("name", ["separated", "regular"])
def test_firth_matches_independent_r_implementation(name):
    # R: tests/reference/firth_reference.R -- l* maximised with optim; profile penalised-likelihood
    # limits by uniroot; penalised likelihood-ratio chi-square (logistf's defaults, written out)
    ref = (
        pd.DataFrame(FIRTH[name]["firth"]["coefficients"])
        .assign(term=lambda r: r["term"].map(R_TERMS))
        .set_index("term")
    )
    fit = responder_odds_ratio(firth_data(name), covariates=["baseline"], method="firth")
    t = fit.table.set_index("term").loc[ref.index]
    for ours, theirs in (
        ("estimate", "estimate"),
        ("std_error", "std_error"),
        ("ci_lower", "ci_lower"),
        ("ci_upper", "ci_upper"),
        ("statistic", "chi2"),
        ("p_value", "p_value"),
    ):
        ledger.check(
            f"Firth logistic regression ({name} data) {ours}",
            t[ours],
            ref[theirs],
            rtol=1e-7,
            labels=list(ref.index),
            source="tests/reference/firth_reference.json",
        )
    assert fit.method == "firth"


def test_separation_uses_firth_automatically_and_says_why():
    data = firth_data("separated")  # integrative: 40 of 40 responders
    auto = responder_odds_ratio(data, covariates=["baseline"])
    assert auto.method == "firth"
    assert any("separation (arm(s) with 0% or 100% responders: integrative (40 of 40))" in n for n in auto.notes)
    row = auto.table.set_index("term").loc["arm[integrative]"]
    assert np.isfinite([row["estimate"], row["std_error"], row["ci_lower"], row["ci_upper"]]).all()
    assert row["std_error"] < 10  # not the ~1e5 of maximum likelihood
    # maximum likelihood on request: R's glm gives ~31 (SE ~2e5); the result says it is meaningless
    ml = responder_odds_ratio(data, covariates=["baseline"], method="ml")
    assert ml.method == "ml" and ml.table.set_index("term").loc["arm[integrative]", "std_error"] > 1e3
    assert any("no finite estimate for arm[integrative]" in n for n in ml.notes)
    # without separation 'auto' is maximum likelihood, as R's glm
    reg = responder_odds_ratio(firth_data("regular"), covariates=["baseline"])
    glm = pd.DataFrame(FIRTH["regular"]["glm"]).assign(term=lambda r: r["term"].map(R_TERMS)).set_index("term")
    assert reg.method == "ml" and not reg.notes
    ledger.check(
        "logistic regression (regular data) by maximum likelihood: estimate",
        reg.table.set_index("term").loc[glm.index, "estimate"],
        glm["estimate"],
        rtol=1e-6,
        labels=list(glm.index),
        source="tests/reference/firth_reference.json",
    )
    with pytest.raises(ModelError, match="method must be one of 'auto', 'ml', 'firth'"):
        responder_odds_ratio(data, method="exact")


def test_risk_difference_with_100_percent_responders():
    # the difference, its interval and the NNT stay finite and right: 40/40 vs 11/40
    d = risk_difference(firth_data("separated")).table.iloc[0]
    assert (d["responders"], d["n"], d["responders_reference"], d["n_reference"]) == (40, 40, 11, 40)
    assert d["estimate"] == pytest.approx(29 / 40)
    se = np.sqrt((11 / 40) * (29 / 40) / 40)  # the 100 % arm contributes no variance
    assert d["ci_lower"] == pytest.approx(29 / 40 - 1.959963984540054 * se)
    assert d["nnt"] == pytest.approx(40 / 29)


def test_unknown_covariate_is_an_error_not_a_missing_table(vickers_cohort):
    # responder_analysis used to drop the odds ratios silently when a covariate was misspelt
    with pytest.raises(
        ModelError,
        match=r"unknown covariate 'agee': not in the responder table; available: "
        r"baseline, .*age",
    ):
        responder_analysis(vickers_cohort, "headache_score", threshold=0.35, covariates=["baseline", "agee"])


def test_one_cpra_computation(demo_cohort):
    # painstudy.cpra (assessed subjects, 5 % cut-offs) and responders.cpra are one computation
    import painstudy

    cuts = np.arange(0, 101, 5.0)
    a = painstudy.cpra(demo_cohort, "pain", "week52")
    b = cpra(responders(demo_cohort, "pain", population="assessed"), visit="week52", thresholds=cuts).table
    pd.testing.assert_frame_equal(
        a.rename(columns={"cutoff": "threshold"}), b.assign(arm=b["arm"].astype(str)), check_dtype=False
    )


def test_responder_results_render_through_one_rule(vickers_data):
    from painstudy.rendering import Rendered

    res = responder_odds_ratio(vickers_data, covariates=["baseline"])
    for part in (vickers_data, res, responder_rates(vickers_data), risk_difference(vickers_data), cpra(vickers_data)):
        assert isinstance(part, Rendered) and type(part).__repr__ is Rendered.__repr__
        json.dumps(part.to_dict())
    assert "method: ml" in str(res)


def test_wilson_limits_are_exact_at_0_and_100_percent_and_the_plot_draws():
    """No responders: the lower limit is exactly 0 (it used to come out as 6.9e-18, which made the
    error bar negative and the rate plot fail)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from painstudy.models.responders import wilson_interval

    lo, hi = wilson_interval(np.array([0, 7, 12]), np.array([12, 12, 12]))
    assert lo[0] == 0.0 and hi[2] == 1.0 and 0 < lo[1] < hi[1] < 1

    import painstudy
    from painstudy.models.responders import responder_rates, responders
    from painstudy.plotting.responders import plot_responder_rates

    cohort = painstudy.load_cohort("demo")
    sub = cohort.subset(cohort.subjects["subject"].iloc[::4])  # several arm x visit cells with 0 responders
    rates = responder_rates(responders(sub, "pain", threshold="substantial"))
    assert (rates.to_frame()["responders"] == 0).any()
    ax = plot_responder_rates(rates)
    assert ax.has_data()
    plt.close(ax.figure)
