"""The model of daily values (painstudy.models.daily.daily_lmm) against R nlme, and the diary simulator's truth.

Reference values: tests/reference/diary_lmm_reference.R (R 4.2, nlme), written to
tests/reference/diary_lmm_reference.json, on tests/reference/data/diary_lmm.csv (36 subjects, days 0-27,
755 reported days with gaps):

- ``lme(pain ~ arm * day, random = ~ 1 + day | subject, correlation = corAR1(form = ~ day | subject))`` by
  REML and by ML;
- the same with a random intercept only (REML), and with independent residuals (REML).

Compared: fixed effects and SEs, random-effect variances and correlation, residual variance, phi and the
log-likelihood, to 1e-5 relative (>= 5 significant digits; both optimisers stop within ~1e-7 of the optimum).
"""

from __future__ import annotations

import json
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.models.daily import daily_lmm

HERE = Path(__file__).resolve().parent / "reference"
SOURCE = "tests/reference/diary_lmm_reference.json"
REF = json.loads((HERE / "diary_lmm_reference.json").read_text())
RTOL = 1e-5
FITS = {
    "reml_ar1": {"reml": True, "residual": "ar1", "random_slope": True},
    "ml_ar1": {"reml": False, "residual": "ar1", "random_slope": True},
    "reml_ar1_int": {"reml": True, "residual": "ar1", "random_slope": False},
    "reml_independent": {"reml": True, "residual": "independent", "random_slope": True},
}


def diary_data() -> pd.DataFrame:
    d = pd.read_csv(HERE / "data" / "diary_lmm.csv")
    d["arm"] = pd.Categorical(d["arm"], ["usual_care", "integrative"])
    return d


@pytest.mark.parametrize("name", list(FITS))
def test_daily_lmm_matches_nlme(name):
    ref = REF["fits"][name]
    fit = daily_lmm(diary_data(), outcome="pain", **FITS[name])
    coef = fit.coefficients
    vc = {(r.group, r.term1, r.term2): r for r in fit.varcorr.itertuples()}
    terms = list(ref["fixed"])
    se = coef.loc[terms, "std_error"].to_numpy()
    se_note = ""
    if not FITS[name]["reml"]:  # nlme's ML SEs carry sqrt(N / (N - p)); lme4's and ours do not
        se = se * np.sqrt(ref["n_obs"] / (ref["n_obs"] - ref["n_fixed"]))
        se_note = "nlme multiplies ML standard errors by sqrt(N / (N - p)); ours times that factor"
    with ledger.Batch() as b:
        b.check(f"{name}: fixed effects", coef.loc[terms, "estimate"].to_numpy(),
                [ref["fixed"][t]["estimate"] for t in terms], labels=terms, source=SOURCE, rtol=RTOL, atol=1e-8)  # fmt: skip
        b.check(f"{name}: standard errors", se, [ref["fixed"][t]["std_error"] for t in terms], labels=terms,
                source=SOURCE, rtol=RTOL, note=se_note)  # fmt: skip
        b.check(f"{name}: variance of the random intercept", vc[("subject", "(Intercept)", None)].variance,
                ref["var_intercept"], source=SOURCE, rtol=RTOL)  # fmt: skip
        if "var_day" in ref:
            b.check(f"{name}: variance of the random slope", vc[("subject", "day", None)].variance,
                    ref["var_day"], source=SOURCE, rtol=RTOL)  # fmt: skip
            corr = vc[("subject", "(Intercept)", "day")].corr
            b.check(f"{name}: intercept-slope correlation", corr, ref["cor"], source=SOURCE, rtol=RTOL)
        b.check(f"{name}: residual variance", vc[("Residual", "Variance" if "phi" in ref else None, None)].variance, ref["sigma2"],
                source=SOURCE, rtol=RTOL)  # fmt: skip
        if "phi" in ref:
            b.check(
                f"{name}: AR(1) phi", vc[("Residual", "AR(1)", None)].variance, ref["phi"], source=SOURCE, rtol=RTOL
            )
        b.check(f"{name}: log-likelihood", fit.log_lik, ref["loglik"], source=SOURCE, rtol=1e-8)
        ledger.check_equal(f"{name}: observations", fit.n_obs, ref["n_obs"], source=SOURCE)


def test_daily_lmm_lag_is_in_days_not_rows():
    """The AR(1) lag is the difference in study days: shifting every day by a constant changes nothing, while
    numbering the reported days 0, 1, 2, ... (the lag in rows) gives another fit."""
    d = diary_data()
    base = daily_lmm(d, outcome="pain")
    shifted = daily_lmm(d.assign(day=d["day"] + 5), outcome="pain")
    phi = lambda f: float(f.varcorr.set_index("term1").loc["AR(1)", "variance"])  # noqa: E731
    assert phi(shifted) == pytest.approx(phi(base), rel=1e-6)
    rows = d.assign(day=d.groupby("subject").cumcount())
    assert abs(phi(daily_lmm(rows, outcome="pain")) - phi(base)) > 1e-3


def test_daily_lmm_errors():
    d = diary_data()
    with pytest.raises(ModelError, match="whole numbers"):
        daily_lmm(d.assign(day=d["day"] + 0.5), outcome="pain")
    with pytest.raises(ModelError, match="residual='ar2'"):
        daily_lmm(d, outcome="pain", residual="ar2")
    with pytest.raises(ModelError, match="no column"):
        daily_lmm(d, outcome="score")
    with pytest.raises(ModelError, match="more than one row"):
        daily_lmm(pd.concat([d, d.iloc[:1]]), outcome="pain")


def test_simulated_truth_recovered():
    """simulate_diary's known effects come back: the steps effect (ANCOVA of the week-8 window mean on the
    run-in mean, inside the 95% CI) and the diary-pain slope difference (daily_lmm, inside the 95% CI)."""
    import statsmodels.formula.api as smf

    from painstudy.simulate_diary import simulate_diary

    rng = np.random.default_rng(11)
    n = 160
    arm = np.where(np.arange(n) % 2, "integrative", "usual_care")
    slope = np.where(arm == "integrative", -0.4, -0.1)  # NRS points per week: truth of arm x day = -0.3 / 7
    base = rng.normal(6, 1, n)
    visits = pd.DataFrame(
        [(f"S{i}", arm[i], w, base[i] + slope[i] * w) for i in range(n) for w in (0, 4, 8)],
        columns=["subject", "arm", "week", "pain"],
    )
    visits["arm"] = pd.Categorical(visits["arm"], ["usual_care", "integrative"])
    sim = simulate_diary(visits, seed=5, days=(-7, 55), steps_effect=1200.0, pain_sd=0.8)
    truth = sim.truth.set_index(["quantity", "arm"])["value"]
    d = sim.data.merge(visits.drop_duplicates("subject")[["subject", "arm"]], on="subject")
    run_in = d[d["day"] < 0].groupby("subject")["steps"].mean().rename("steps_run_in")
    wk8 = d[(d["day"] >= 49) & (d["day"] <= 55)].groupby("subject")["steps"].mean().rename("steps_wk8")
    t = pd.concat([run_in, wk8], axis=1).join(visits.drop_duplicates("subject").set_index("subject")["arm"]).dropna()
    ci = smf.ols("steps_wk8 ~ C(arm, Treatment('usual_care')) + steps_run_in", t).fit().conf_int()
    lo, hi = ci.loc["C(arm, Treatment('usual_care'))[T.integrative]"]
    # the total effect at week 8: the direct effect (1200 steps/day) and the steps of the lower pain
    expected = sim.expected.set_index(["arm", "week"])["expected_steps"]
    total = expected[("integrative", 8.0)] - expected[("usual_care", 8.0)]
    assert total == pytest.approx(truth[("steps_effect", "integrative")] + 150 * 0.3 * 7.5, rel=0.05)
    assert lo <= total <= hi
    post = d[(d["day"] >= 0) & d["pain_diary"].notna()]
    lmm_fit = daily_lmm(post, outcome="pain_diary")
    r = lmm_fit.coefficients.loc["armintegrative:day"]
    assert r["ci_lower"] <= -0.3 / 7 <= r["ci_upper"]
