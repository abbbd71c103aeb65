"""The order of the visits (issue 9): natural order of string labels, Categorical order, visit_order=, cohorts.

R reference: tests/reference/mmrm_visit_order_fev.json, written by
``Rscript tests/reference/mmrm_reference.R visitorder``: ``nlme::gls(FEV1 ~ ARMCD * AVISIT, correlation =
corAR1(form = ~ AVISITN | USUBJID), method = "REML")`` on fev_data with VIS1..VIS4 relabelled week4, week8,
week12, week26, once with the visits in time order (-2LL 3572.2567) and once in the alphabetical order that
``factor()`` gives a character column (3577.0985: the silent error painstudy made before).  Tolerances as
test_mmrm_reference.py: -2LL 1e-6 relative, estimates, SEs and covariance parameters 1e-4 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.models.mixed.formula import natural_key, visit_levels
from painstudy.models.mixed.lmm import lmm
from painstudy.models.mixed.mmrm import mmrm

REF = {
    f["order"]: f
    for f in json.loads((Path(__file__).parent / "reference" / "mmrm_visit_order_fev.json").read_text())["fits"]
}
WEEKS = {"VIS1": "week4", "VIS2": "week8", "VIS3": "week12", "VIS4": "week26"}
FORMULA = "FEV1 ~ ARMCD * AVISIT + ar1(AVISIT | USUBJID)"
SOURCE = "tests/reference/mmrm_visit_order_fev.json"


@pytest.fixture(scope="module")
def fev_weeks(shared) -> pd.DataFrame:
    fev = pd.read_csv(shared / "mmrm_fev_bcva" / "fev_data.csv")
    return fev.assign(AVISIT=fev["AVISIT"].map(WEEKS))  # plain strings


def _check_against_gls(fit, ref, how: str):
    q = f"fev weeks ar1 REML (visits in {ref['order']} order, {how})"
    ledger.check_equal(f"{q} n_obs", fit.n_obs, ref["n_obs"], source=SOURCE)
    ledger.check(f"{q} -2 log-likelihood", fit.neg2_log_lik, ref["neg2_log_lik"], rtol=1e-6, source=SOURCE)
    cp = fit.covariance_parameters.set_index("parameter")["estimate"]
    ledger.check(f"{q} variance", cp["Variance"], ref["cov_params"]["sigma2"], rtol=1e-4, source=SOURCE)
    ledger.check(f"{q} AR(1) correlation", cp["AR(1)"], ref["cov_params"]["rho"], rtol=1e-4, source=SOURCE)
    for c in ref["coefficients"]:
        row = fit.coefficients.loc[c["term"]]
        ledger.check(
            f"{q} coefficient {c['term']} estimate",
            row["estimate"],
            c["estimate"],
            rtol=1e-4,
            atol=1e-4 * c["std_error"],
            combine="max",
            source=SOURCE,
        )
        ledger.check(
            f"{q} coefficient {c['term']} std_error", row["std_error"], c["std_error"], rtol=1e-4, source=SOURCE
        )


def test_string_visits_are_in_natural_order(fev_weeks):
    # R gls with the visits in time order (mmrm_visit_order_fev.json, order "time")
    fit = mmrm(FORMULA, fev_weeks)
    assert fit.visit_levels == ("week4", "week8", "week12", "week26")
    assert fit.visit_order_source == "natural order of the labels"
    _check_against_gls(fit, REF["time"], "natural order of the labels")
    # the number quoted in issue 9, from the same R fit
    ledger.check(
        "fev weeks ar1 REML (visits in time order) -2 log-likelihood as quoted",
        fit.neg2_log_lik,
        3572.26,
        atol=0.005,
        source="issue 9 (quoting the R fit of mmrm_visit_order_fev.json)",
    )
    # the order is stated in the notes and the summary; the visit factor's reference is the first visit
    assert "visits in order week4 < week8 < week12 < week26 (natural order of the labels)" in fit.notes
    assert "visits (natural order of the labels): week4 < week8 < week12 < week26" in fit.summary()
    assert "AVISITweek8" in fit.coefficients.index and "AVISITweek4" not in fit.coefficients.index
    assert fit.lsmeans("AVISIT")["AVISIT"].tolist() == ["week4", "week8", "week12", "week26"]


def test_visit_order_argument_and_alphabetical_order(fev_weeks):
    # the alphabetical order, asked for explicitly, reproduces R's factor() default (order "alphabetical")
    alpha = mmrm(FORMULA, fev_weeks, visit_order=["week12", "week26", "week4", "week8"])
    assert alpha.visit_order_source == "visit_order"
    _check_against_gls(alpha, REF["alphabetical"], "visit_order=")
    assert alpha.neg2_log_lik > REF["time"]["neg2_log_lik"] + 4  # 3577.10 against 3572.26: a different model


def test_categorical_order_is_kept(fev_weeks):
    # categories of a pandas Categorical are the order (here the time order, given explicitly)
    d = fev_weeks.assign(
        AVISIT=pd.Categorical(fev_weeks["AVISIT"], ["week4", "week8", "week12", "week26"], ordered=True)
    )
    fit = mmrm(FORMULA, d)
    assert fit.visit_order_source == "categories of the ordered categorical column"
    _check_against_gls(fit, REF["time"], "ordered categorical")


@pytest.mark.parametrize(
    "order, match",
    [
        (["week4", "week8", "week12"], r"visit\(s\) \['week26'\] are not in visit_order"),
        (["week4", "week8", "week8", "week12", "week26"], "more than once"),
        (["week4", "week8", "week12", "week26", "week52"], r"visit\(s\) \['week52'\] have no non-missing outcome"),
        ("week4", "must be a list"),
    ],
)
def test_bad_visit_order(fev_weeks, order, match):
    with pytest.raises(ModelError, match=match):
        mmrm(FORMULA, fev_weeks, visit_order=order)


def test_visit_order_matches_labels_as_text():
    # numbers given as text (as from the command line) select numeric visits
    s = pd.Series([2, 10, 1, 2])
    assert visit_levels(s, "v", ["1", "2", "10"]) == ((1, 2, 10), "visit_order")
    assert visit_levels(s, "v") == ((1, 2, 10), "numeric order")
    assert visit_levels(pd.Series(["VIS10", "VIS2", "VIS1"]), "v")[0] == ("VIS1", "VIS2", "VIS10")
    assert sorted(["W2a", "W10", "W2", "w1"], key=natural_key) == ["w1", "W2", "W2a", "W10"]


def test_cohort_visits_follow_the_schedule(demo_cohort):
    # Cohort.analysis_data gives the visits as an ordered categorical in schedule order (week4 ... week52,
    # which sorts alphabetically as week12 < week26 < week4 < week52 < week8); as plain strings the natural
    # order is the same, so both fits are the same model
    d = demo_cohort.analysis_data("pain")
    schedule = tuple(v.name for v in demo_cohort.spec.post_baseline_visits)
    f = "pain ~ pain_baseline + arm * visit + ar1(visit | subject)"
    a = mmrm(f, d)
    b = mmrm(f, d.assign(visit=d["visit"].astype(str)))
    assert a.visit_levels == schedule == b.visit_levels
    assert a.neg2_log_lik == pytest.approx(b.neg2_log_lik, abs=1e-8)
    np.testing.assert_allclose(a.covariance.to_numpy(), b.covariance.to_numpy(), rtol=1e-8)


def test_lmm_residual_structure_visit_order():
    # random slopes + ar1 residual over visits labelled week0, week2, week4, week8, week12 (alphabetical:
    # week0 < week12 < week2 < ...): the natural order is the time order of nlme's reference fit
    # (tests/reference/lmm_ref_nlme.json, written by tests/reference/lmm_reference.R nlme: nlme::lme with
    # corAR1(form = ~ vr | subject), vr the rank of the week), as in test_lmm_reference.py
    ref = {
        f["id"]: f for f in json.loads((Path(__file__).parent / "reference" / "lmm_ref_nlme.json").read_text())["fits"]
    }["lmm_nlme_ar1_reml"]
    d = pd.read_csv(Path(__file__).parent / "reference" / "data" / "sim_lmm_a.csv").iloc[:400]
    d = d.drop(index=d.index[5::7]).reset_index(drop=True)
    d["arm"] = pd.Categorical(d["arm"], categories=["CTL", "INT"])
    d["visit"] = "week" + d["week"].astype(int).astype(str)
    f = "y ~ arm * week + baseline + (1 + week | subject) + ar1(visit | subject)"
    nat = lmm(f, d)
    assert nat.visit_levels == ("week0", "week2", "week4", "week8", "week12")
    ledger.check(
        "lmm_nlme_ar1_reml, visits week0..week12 in natural order: -2 log-likelihood",
        nat.neg2_log_lik,
        ref["neg2_log_lik"],
        atol=1e-5,
        source="tests/reference/lmm_ref_nlme.json",
    )
    assert "visits in order week0 < week2 < week4 < week8 < week12 (natural order of the labels)" in nat.notes
    alpha = lmm(f, d, visit_order=sorted(d["visit"].unique()))
    assert alpha.visit_levels[:3] == ("week0", "week12", "week2")
    assert abs(alpha.neg2_log_lik - ref["neg2_log_lik"]) > 1e-3
    with pytest.raises(ModelError, match="visit_order orders the visits of a residual"):
        lmm("y ~ week + (1 | subject)", d, visit_order=["week0"])
