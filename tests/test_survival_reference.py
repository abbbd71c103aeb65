"""Time-to-improvement analyses against R's survival package.

Reference values: tests/reference/survival_reference.R (R 4.x, survival 3.5-3) run on
tests/reference/data/surv_*.csv, written to tests/reference/survival_ref_*.json:

- surv_sim1.csv, surv_sim2.csv: simulated visit-based trials (simulated by the R script, seeds
  20261126 and 4242; intermittent missed visits and dropouts, so Turnbull intervals overlap);
- surv_chow2006.csv: Chow 2006 neck-pain trial, >= 30 % VAS reduction, event table derived by
  painstudy.time_to_improvement and exported by ``python tests/test_survival_reference.py``;
- surv_demo.csv: the bundled demo study (pain, 30 % "moderate" improvement), same route.

Agreement is required to 4 significant digits (rtol 1e-4 on every compared number); every compared number
goes through ``ledger`` with its JSON file as the source (the validation report lists them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.improvement import ImprovementData
from painstudy.models import survival as sv

HERE = Path(__file__).parent / "reference"
CASES = ["sim1", "sim2", "chow2006", "demo"]
RTOL = 1e-4  # 4 significant digits

# How the real-cohort event tables were derived (export() below).
REAL = {
    "chow2006": dict(study="chow2006", outcome="vas", threshold=0.30),
    "demo": dict(study="demo", outcome="pain", threshold="moderate"),
}
EXPORT_COLUMNS = ["subject", "arm", "time", "event", "time_lower", "time_upper", "status", "baseline"]


def load_case(name: str) -> tuple[dict, ImprovementData]:
    ref = json.loads((HERE / f"survival_ref_{name}.json").read_text())
    for key in ("cox_adjusted_covariates", "arms"):  # jsonlite unboxes length-1 vectors
        if isinstance(ref[key], str):
            ref[key] = [ref[key]]
    d = pd.read_csv(HERE / "data" / f"surv_{name}.csv")
    d["subject"] = d["subject"].astype(str)
    covs = [c for c in ("age", "site") if c in d.columns]
    data = ImprovementData.from_table(d, reference=ref["reference"], covariates=covs, arms=ref["arms"])
    return ref, data


def close(quantity, ref, a, b, rtol=RTOL, atol=0.0, labels=None):
    """``a`` (ours) against ``b`` (R, from ``ref``'s JSON file) as ``assert_allclose(equal_nan=True)``, recorded."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    assert a.shape == b.shape
    ledger.check(
        f"{ref['name']}: {quantity}",
        a,
        b,
        rtol=rtol,
        atol=atol,
        labels=labels,
        source=f"tests/reference/survival_ref_{ref['name']}.json",
    )


def at(*columns) -> list[str]:
    """Row labels for the report, e.g. ``at(arms, times)`` -> ``["sham, t=2", ...]``."""
    return [", ".join(str(v) for v in row) for row in zip(*columns)]


def r_term(term: str) -> str:
    """painstudy term name -> R coefficient name: arm[x] -> armx, site[B] -> siteB."""
    return term.replace("[", "").replace("]", "")


@pytest.fixture(scope="module", params=CASES)
def case(request):
    path = HERE / f"survival_ref_{request.param}.json"
    if not path.exists():
        pytest.fail(f"missing {path}: run Rscript tests/reference/survival_reference.R")
    return load_case(request.param)


def test_kaplan_meier_curve_matches_survfit(case):
    # R: survfit(Surv(time, event) ~ arm, conf.type = "log"): surv, std.err, lower, upper
    ref, data = case
    km = sv.kaplan_meier(data)
    r = pd.DataFrame(ref["km"])
    m = r.merge(km.survival.assign(arm=km.survival["arm"].astype(str)), on=["arm", "time"], suffixes=("_r", ""))
    assert len(m) == len(r)
    rows = at(m["arm"], "t=" + m["time"].astype(str))
    close("KM n_risk", ref, m["n_risk"], m["n_risk_r"], labels=rows)
    close("KM n_event", ref, m["n_event"], m["n_event_r"], labels=rows)
    for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
        close(f"KM {col}", ref, m[col], m[f"{col}_r"].astype(float), atol=1e-12, labels=rows)


def test_medians_match_survfit(case):
    # R: summary(survfit(...))$table[, c("median", "0.95LCL", "0.95UCL")] (quantile.survfit)
    ref, data = case
    med = sv.kaplan_meier(data).medians.assign(arm=lambda x: x["arm"].astype(str))
    r = pd.DataFrame(ref["medians"]).set_index("arm").loc[med["arm"]]
    arms = list(med["arm"])
    close("median", ref, med["median"], r["median"].astype(float), labels=arms)
    close("median CI lower", ref, med["ci_lower"], r["ci_lower"].astype(float), labels=arms)
    close("median CI upper", ref, med["ci_upper"], r["ci_upper"].astype(float), labels=arms)
    close("events", ref, med["events"], r["events"], labels=arms)


def test_median_ci_log_log_matches_survfit(case):
    # R: survfit(..., conf.type = "log-log") medians CI (lifelines' own default transform)
    ref, data = case
    med = sv.kaplan_meier(data, conf_type="log-log").medians.assign(arm=lambda x: x["arm"].astype(str))
    r = pd.DataFrame(ref["medians_loglog"]).set_index("arm").loc[med["arm"]]
    close("median CI lower (log-log)", ref, med["ci_lower"], r["ci_lower"].astype(float), labels=list(med["arm"]))
    close("median CI upper (log-log)", ref, med["ci_upper"], r["ci_upper"].astype(float), labels=list(med["arm"]))


def test_logrank_matches_survdiff(case):
    # R: survdiff(Surv(time, event) ~ arm)$chisq, overall and on each pair of arms
    ref, data = case
    lr = sv.logrank(data, pairs="all")
    close("log-rank chi-square", ref, lr.overall["statistic"].iloc[0], ref["logrank"]["statistic"])
    assert lr.overall["df"].iloc[0] == ref["logrank"]["df"]
    r = pd.DataFrame(ref["logrank_pairs"])
    for _, row in r.iterrows():
        hit = lr.pairwise.loc[
            ((lr.pairwise["arm"] == row["a"]) & (lr.pairwise["reference"] == row["b"]))
            | ((lr.pairwise["arm"] == row["b"]) & (lr.pairwise["reference"] == row["a"]))
        ]
        assert len(hit) == 1
        close(f"log-rank chi-square {row['a']} vs {row['b']}", ref, hit["statistic"].iloc[0], row["statistic"])


def _cox_compare(what: str, ref: dict, table: pd.DataFrame, r: pd.DataFrame):
    r = r.set_index("term")
    ours = table.assign(rterm=table["term"].map(r_term)).set_index("rterm").loc[r.index]
    for col in ("estimate", "std_error", "hazard_ratio", "hr_ci_lower", "hr_ci_upper"):
        close(f"{what} {col}", ref, ours[col], r[col], labels=list(r.index))


def test_cox_unadjusted_matches_coxph_efron(case):
    # R: coxph(Surv(time, event) ~ arm, ties = "efron"): coef, se, exp(coef), lower/upper .95
    ref, data = case
    fit = sv.cox_ph(data)
    r = pd.DataFrame(ref["cox_unadjusted"])
    r["term"] = "arm" + r["term"]
    _cox_compare("Cox (unadjusted)", ref, fit.table, r)


def test_cox_adjusted_matches_coxph_efron(case):
    # R: coxph(Surv(time, event) ~ arm + baseline [+ age + site], ties = "efron")
    ref, data = case
    fit = sv.cox_ph(data, covariates=ref["cox_adjusted_covariates"])
    _cox_compare("Cox (adjusted)", ref, fit.table, pd.DataFrame(ref["cox_adjusted"]))
    close("Cox (adjusted) log-likelihood", ref, fit.log_likelihood, ref["cox_loglik"])
    # the PH check is part of the result, one row per term plus GLOBAL
    assert list(fit.ph_test["term"]) == list(fit.table["term"]) + ["GLOBAL"]


def test_ph_check_matches_cox_zph(case):
    # R: cox.zph(coxph(..., ties = "efron"), transform = "km", terms = FALSE)$table
    ref, data = case
    ph = sv.cox_ph(data, covariates=ref["cox_adjusted_covariates"]).ph_test
    r = pd.DataFrame(ref["cox_zph"]).set_index("term")
    ours = ph.assign(rterm=ph["term"].map(r_term)).set_index("rterm").loc[r.index]
    close("cox.zph statistic", ref, ours["statistic"], r["statistic"], labels=list(r.index))
    close("cox.zph p_value", ref, ours["p_value"], r["p_value"], labels=list(r.index))


def test_turnbull_matches_survfit_interval2(case):
    # R: survfit(Surv(left, right, type = "interval2") ~ arm); R reports each innermost
    # interval at its midpoint. R's EM (survival:::survfitTurnbull, Aitken-accelerated) stops
    # when no survival value moves by more than 5e-5 between iterations; ours iterates to 1e-12.
    # Observed agreement is better than 1e-5 relative, so the usual 4-digit check applies.
    ref, data = case
    tb = sv.turnbull(data).table
    r = pd.DataFrame(ref["turnbull"])
    r = r.loc[r["n_event"] > 0]
    for _, row in r.iterrows():
        hit = tb.loc[(tb["arm"].astype(str) == row["arm"]) & (tb["left"] < row["time"]) & (tb["right"] > row["time"])]
        assert len(hit) == 1, row
        close(f"Turnbull {row['arm']} at {row['time']:g}", ref, hit["estimate"].iloc[0], row["estimate"], atol=1e-12)


def test_turnbull_is_self_consistent_npmle(case):
    # The EM fixed point: every mass equals its expected share (self-consistency equations)
    ref, data = case
    tb = sv.turnbull(data).table
    for _arm, g in tb.groupby("arm", observed=True):
        assert g["probability"].ge(-1e-15).all()
        assert np.all(np.diff(g["estimate"].to_numpy()) <= 1e-12)


def test_discrete_time_matches_glm_cloglog(case):
    # R: glm(y ~ 0 + period + arm + covs, binomial(link = "cloglog")) on person-period data
    ref, data = case
    fit = sv.discrete_time_ph(data, covariates=ref["cox_adjusted_covariates"])
    r = pd.DataFrame(ref["discrete"]).set_index("term")
    ours = fit.table.assign(rterm=fit.table["term"].map(lambda t: r_term(t).replace("period", "period"))).set_index(
        "rterm"
    )
    ours.index = [i if not i.startswith("period") else "period" + format(float(i[6:]), "g") for i in ours.index]
    ours = ours.loc[r.index]
    close("discrete-time cloglog estimate", ref, ours["estimate"], r["estimate"], labels=list(r.index))
    close("discrete-time cloglog std_error", ref, ours["std_error"], r["std_error"], labels=list(r.index))
    close("discrete-time cloglog deviance", ref, fit.deviance, ref["discrete_deviance"])


def test_rmst_matches_print_survfit_rmean(case):
    # R: summary(survfit(...), rmean = horizon)$table[, c("rmean", "se(rmean)")]
    ref, data = case
    res = sv.rmst(data, horizon=ref["horizon"])
    r = pd.DataFrame(ref["medians"]).set_index("arm").loc[res.table["arm"].astype(str)]
    arms = list(r.index)
    close("RMST", ref, res.table["estimate"], r["rmean"], labels=arms)
    close("RMST std_error", ref, res.table["std_error"], r["rmean_se"], labels=arms)
    d = res.differences.set_index("arm")
    for arm in d.index:
        close(
            f"RMST difference {arm}",
            ref,
            d.loc[arm, "estimate"],
            r.loc[arm, "rmean"] - r.loc[ref["reference"], "rmean"],
        )


def test_aalen_johansen_matches_survfit_multistate(case):
    # R: survfit(Surv(time, factor(status, 0:2)) ~ arm): pstate, std.err (infinitesimal
    # jackknife), lower/upper (log) for state "improved"; competing state "dropout"
    ref, data = case
    aj = sv.cumulative_incidence(data).table.assign(arm=lambda x: x["arm"].astype(str))
    r = pd.DataFrame(ref["aalen_johansen"])
    m = r.merge(aj, on=["arm", "time"], suffixes=("_r", ""))
    # R lists every distinct time (censoring-only ones too); we list the event times
    assert set(zip(aj.loc[aj["time"] > 0, "arm"], aj.loc[aj["time"] > 0, "time"])) <= set(zip(m["arm"], m["time"]))
    rows = at(m["arm"], "t=" + m["time"].astype(str))
    for col in ("estimate", "std_error"):
        close(f"Aalen-Johansen {col}", ref, m[col], m[f"{col}_r"].astype(float), atol=1e-12, labels=rows)
    close("Aalen-Johansen competing", ref, m["competing_estimate"], m["competing"], atol=1e-12, labels=rows)
    ok = m["estimate"] > 0
    rows = [x for x, keep in zip(rows, ok) if keep]
    close("Aalen-Johansen ci_lower", ref, m.loc[ok, "ci_lower"], m.loc[ok, "ci_lower_r"].astype(float), labels=rows)
    close("Aalen-Johansen ci_upper", ref, m.loc[ok, "ci_upper"], m.loc[ok, "ci_upper_r"].astype(float), labels=rows)


# ------------------------------------------------------------------ real cohorts: derivation
@pytest.mark.parametrize("name", sorted(REAL))
def test_exported_event_table_is_current(name):
    # the CSV fed to R is what time_to_improvement derives today
    import painstudy
    from painstudy.improvement import time_to_improvement

    spec = REAL[name]
    data = time_to_improvement(painstudy.load_cohort(spec["study"]), spec["outcome"], threshold=spec["threshold"])
    csv = pd.read_csv(HERE / "data" / f"surv_{name}.csv")
    ours = export_frame(data)
    csv["subject"] = csv["subject"].astype(str)
    pd.testing.assert_frame_equal(
        ours.reset_index(drop=True)[EXPORT_COLUMNS[:7]], csv[EXPORT_COLUMNS[:7]], check_dtype=False
    )


def export_frame(data: ImprovementData) -> pd.DataFrame:
    t = data.table
    out = t[EXPORT_COLUMNS].copy()
    out["arm"] = out["arm"].astype(str)
    for c in ("age", "site"):
        if c in t.columns and t[c].notna().any():
            out[c] = t[c].to_numpy()
    out["reference"] = data.reference
    out["horizon"] = max(data.visit_weeks)
    return out


def export() -> None:
    """Write tests/reference/data/surv_<study>.csv from the real cohorts (then run the R script)."""
    import painstudy
    from painstudy.improvement import time_to_improvement

    os.environ.setdefault("PAINSTUDY_DATA_MIRROR", str(Path(__file__).parents[2] / "shared" / "datasets"))
    for name, spec in REAL.items():
        data = time_to_improvement(painstudy.load_cohort(spec["study"]), spec["outcome"], threshold=spec["threshold"])
        export_frame(data).to_csv(HERE / "data" / f"surv_{name}.csv", index=False)
        print("wrote", name, data.n, "subjects")


if __name__ == "__main__":
    export()
