"""Stratified and covariate-adjusted analyses against R and statsmodels.

Reference values: tests/reference/stratified_reference.R (R 4.2, survival 3.5, emmeans, epiR), written to
tests/reference/stratified_reference.json, on tests/reference/data/stratified_responders.csv (simulated by
the script: 3 arms, 9 sites, one of them with a single arm, 2 conditions, 2 visits) and on the survival
data sets tests/reference/data/surv_{demo,sim1}.csv:

- ``mantelhaen.test(correct = FALSE / TRUE)``: CMH statistic and p, MH odds ratio and its RBG interval;
- the Breslow-Day statistic and Tarone's correction, written from the definition (also statsmodels
  ``StratifiedTable.test_equal_odds``, with the MH odds ratio, its interval and ``test_null_odds``);
- the MH risk difference with Sato's variance from the formula (epiR ``epi.2by2`` for the estimate);
- the stratified Miettinen-Nurminen interval, restricted MLE by ``uniroot`` (weights "mh" and "iv");
- g-computation: ``glm`` + predictions, delta-method (Ge) and influence-function SEs written out; emmeans'
  counterfactual grid for the Ge SE;
- ``coxph(... + strata(site))`` (with ``cox.zph``, km and rank), ``coxph(..., cluster = site)``,
  ``coxph(... + strata(band), cluster = site)``, Efron and Breslow ties.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

import painstudy
from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models import survival as sv
from painstudy.models.gcomp import adjusted_risk_difference
from painstudy.models.responders import ResponderData
from painstudy.models.stratified import mn_interval, stratified_responders

HERE = Path(__file__).resolve().parent / "reference"
SOURCE = "tests/reference/stratified_reference.json"
ARMS = ("control", "exercise", "combined")
RTOL = 1e-9  # R and painstudy solve the same equations to ~1e-12; 1e-9 leaves room for uniroot's stopping


@pytest.fixture(scope="module")
def ref():
    return json.loads((HERE / "stratified_reference.json").read_text())


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    d = pd.read_csv(HERE / "data" / "stratified_responders.csv")
    d["subject"] = d["subject"].astype(str)
    d["visit"] = pd.Categorical(d["visit"], ["week12", "week26"], ordered=True)
    d["arm"] = pd.Categorical(d["arm"], list(ARMS))
    return d


@pytest.fixture(scope="module")
def data(table) -> ResponderData:
    return ResponderData(
        table=table,
        arms=ARMS,
        reference="control",
        visits=("week12", "week26"),
        covariates=("site", "condition", "age"),
    )


def strata_of(c) -> list[str]:
    return c["strata"] if isinstance(c["strata"], list) else [c["strata"]]


def label(c) -> str:
    return f"{c['visit']}, {c['arm']} vs control, strata {' x '.join(strata_of(c))}"


# ------------------------------------------------------------------ CMH, MH odds ratio, Breslow-Day
def test_mantel_haenszel_odds_ratio_and_cmh_match_mantelhaen_test(data, ref):
    with ledger.Batch() as b:
        for c in ref["responders"]:
            res = stratified_responders(data, strata_of(c), visit=c["visit"])
            e = res.estimates.set_index(["arm", "method"]).loc[(c["arm"], "Mantel-Haenszel (RBG)")]
            for col, key in (("estimate", "estimate"), ("ci_lower", "lower"), ("ci_upper", "upper")):
                b.check(f"{label(c)}: MH odds ratio {col}", e[col], c["cmh"][key], source=SOURCE, rtol=RTOL)
            assert e["n_strata"] == c["n_strata"] and e["n_informative"] == c["n_informative"]
            t = res.tests.set_index(["arm", "test"])
            b.check(f"{label(c)}: CMH chi-square", t.loc[(c["arm"], "CMH"), "statistic"], c["cmh"]["statistic"],
                    source=SOURCE, rtol=RTOL)  # fmt: skip
            b.check(f"{label(c)}: CMH p", t.loc[(c["arm"], "CMH"), "p_value"], c["cmh"]["p_value"], source=SOURCE,
                    rtol=RTOL)  # fmt: skip
            corrected = stratified_responders(data, strata_of(c), visit=c["visit"], correct=True, measures="or")
            tc = corrected.tests.set_index(["arm", "test"]).loc[(c["arm"], "CMH (continuity corrected)")]
            b.check(f"{label(c)}: CMH chi-square, continuity corrected", tc["statistic"],
                    c["cmh_correct"]["statistic"], source=SOURCE, rtol=RTOL)  # fmt: skip
            b.check(f"{label(c)}: CMH p, continuity corrected", tc["p_value"], c["cmh_correct"]["p_value"],
                    source=SOURCE, rtol=RTOL)  # fmt: skip
            bd = c["breslow_day"]
            b.check(f"{label(c)}: Breslow-Day", t.loc[(c["arm"], "Breslow-Day"), "statistic"], bd["statistic"],
                    source=SOURCE, rtol=RTOL)  # fmt: skip
            b.check(f"{label(c)}: Breslow-Day (Tarone)", t.loc[(c["arm"], "Breslow-Day (Tarone)"), "statistic"],
                    bd["tarone"], source=SOURCE, rtol=RTOL)  # fmt: skip
            assert t.loc[(c["arm"], "Breslow-Day"), "df"] == bd["df"]


def test_mantel_haenszel_matches_statsmodels_stratified_table(data, ref):
    from statsmodels.stats.contingency_tables import StratifiedTable

    source = "statsmodels StratifiedTable (same counts)"
    with ledger.Batch() as b:
        for c in ref["responders"]:
            counts = pd.DataFrame(c["counts"])
            tables = [np.array([[r.x1, r.n1 - r.x1], [r.x0, r.n0 - r.x0]], float) for r in counts.itertuples()]
            st = StratifiedTable(tables)
            res = stratified_responders(data, strata_of(c), visit=c["visit"], measures="or")
            e = res.estimates.set_index("arm").loc[c["arm"]]
            lo, hi = st.oddsratio_pooled_confint()
            b.check(f"{label(c)}: MH odds ratio", e["estimate"], st.oddsratio_pooled, source=source, rtol=1e-12)
            b.check(f"{label(c)}: MH odds ratio interval", [e["ci_lower"], e["ci_upper"]], [lo, hi], source=source,
                    rtol=1e-10)  # fmt: skip
            t = res.tests.loc[res.tests["arm"] == c["arm"]].set_index("test")
            b.check(f"{label(c)}: CMH chi-square", t.loc["CMH", "statistic"], st.test_null_odds().statistic,
                    source=source, rtol=1e-12)  # fmt: skip
            # statsmodels' Breslow-Day keeps strata where nobody or everybody responded (a zero variance)
            m1 = counts["x1"] + counts["x0"]
            if ((m1 > 0) & (m1 < counts["n1"] + counts["n0"])).all():
                b.check(f"{label(c)}: Breslow-Day", t.loc["Breslow-Day", "statistic"],
                        st.test_equal_odds().statistic, source=source, rtol=1e-10)  # fmt: skip
                b.check(f"{label(c)}: Breslow-Day (Tarone)", t.loc["Breslow-Day (Tarone)", "statistic"],
                        st.test_equal_odds(adjust=True).statistic, source=source, rtol=1e-10)  # fmt: skip


# ------------------------------------------------------------------ risk differences
def test_mh_risk_difference_with_sato_variance_matches_r(data, ref):
    with ledger.Batch() as b:
        for c in ref["responders"]:
            res = stratified_responders(data, strata_of(c), visit=c["visit"], measures="rd")
            e = res.estimates.set_index("arm").loc[c["arm"]]
            assert e["method"] == "Mantel-Haenszel (Sato)"
            for col, key in (("estimate", "estimate"), ("std_error", "std_error"), ("ci_lower", "lower"),
                             ("ci_upper", "upper")):  # fmt: skip
                b.check(f"{label(c)}: MH risk difference {col}", e[col], c["mh_rd"][key], source=SOURCE, rtol=RTOL)
            if c["epir_mh_rd"]["estimate"] is not None:  # epiR: the same estimate (its interval is another one)
                b.check(f"{label(c)}: MH risk difference (epiR)", e["estimate"], c["epir_mh_rd"]["estimate"],
                        source=SOURCE, rtol=1e-10)  # fmt: skip


@pytest.mark.parametrize("weights", ["mh", "iv"])
def test_stratified_miettinen_nurminen_matches_r(data, ref, weights):
    with ledger.Batch() as b:
        for c in ref["responders"]:
            res = stratified_responders(data, strata_of(c), visit=c["visit"], measures="mn", mn_weights=weights)
            e = res.estimates.set_index("arm").loc[c["arm"]]
            assert e["method"] == f"Miettinen-Nurminen ({weights} weights)"
            r = c[f"mn_{weights}"]
            # with "iv" weights a stratum without responders has an infinite weight at d = 0, where Z(d) jumps:
            # both roots are 0 to 1e-8
            b.check(f"{label(c)}: stratified MN ({weights}) estimate", e["estimate"], r["estimate"], source=SOURCE,
                    rtol=RTOL, atol=1e-8 if weights == "iv" else 1e-12)  # fmt: skip
            b.check(f"{label(c)}: stratified MN ({weights}) interval", [e["ci_lower"], e["ci_upper"]],
                    [r["lower"], r["upper"]], source=SOURCE, rtol=RTOL)  # fmt: skip


def test_one_stratum_is_the_unstratified_miettinen_nurminen_interval(table, ref):
    with ledger.Batch() as b:
        for c in ref["responders"]:
            pair = table.loc[(table["visit"] == c["visit"]) & table["arm"].isin([c["arm"], "control"])]
            arm, ctl = pair.loc[pair["arm"] == c["arm"], "responder"], pair.loc[pair["arm"] == "control", "responder"]
            for w in ("mh", "iv"):
                est, lo, hi, _ = mn_interval([arm.sum()], [len(arm)], [ctl.sum()], [len(ctl)], weights=w)
                r = c["mn_unstratified"]
                b.check(f"{label(c)}: unstratified MN ({w} weights)", [est, lo, hi],
                        [r["estimate"], r["lower"], r["upper"]], source=SOURCE, rtol=RTOL)  # fmt: skip


# ------------------------------------------------------------------ g-computation
@pytest.mark.parametrize("variance", ["ge", "robust"])
def test_g_computation_matches_r(data, ref, variance):
    res = adjusted_risk_difference(data, covariates=["baseline", "condition", "age"], variance=variance)
    e = res.estimates.set_index(["visit", "arm", "measure"])
    with ledger.Batch() as b:
        for g in ref["gcomp"]:
            where = f"{g['visit']}, {g['arm']} vs control"
            for measure, key, scale in (("risk difference", "rd", None), ("risk ratio", "log_rr", np.log),
                                        ("odds ratio", "log_or", np.log)):  # fmt: skip
                row = e.loc[(g["visit"], g["arm"], measure)]
                est = row["estimate"] if scale is None else scale(row["estimate"])
                b.check(f"{where}: g-computation {key}", est, g[key], source=SOURCE, rtol=RTOL, atol=1e-12)
                b.check(f"{where}: g-computation {key} SE ({variance})", row["std_error"], g[f"{key}_se_{variance}"],
                        source=SOURCE, rtol=RTOL)  # fmt: skip
            if variance == "ge":  # emmeans, counterfactual reference grid, regrid = "response"
                row = e.loc[(g["visit"], g["arm"], "risk difference")]
                b.check(f"{where}: g-computation risk difference and SE (emmeans)", [row["estimate"], row["std_error"]],
                        [g["emmeans_rd"], g["emmeans_se"]], source=SOURCE, rtol=1e-8)  # fmt: skip
    means = res.means.set_index(["visit", "arm"])
    for g in ref["gcomp"]:
        assert means.loc[(g["visit"], g["arm"]), "mean"] == pytest.approx(g["mean_arm"], rel=1e-9)
        assert means.loc[(g["visit"], "control"), "mean"] == pytest.approx(g["mean_reference"], rel=1e-9)


# ------------------------------------------------------------------ Cox: strata and clusters
@pytest.fixture(scope="module", params=["demo", "sim1"])
def surv(request, ref):
    r = ref["survival"][request.param]
    d = pd.read_csv(HERE / "data" / f"surv_{request.param}.csv")
    d["subject"] = d["subject"].astype(str)
    d["band"] = np.where(d["baseline"] >= r["band_cut"], "high", "low")
    return r, ImprovementData.from_table(d, reference=r["reference"], covariates=["baseline", "site", "band"],
                                         arms=r["arms"])  # fmt: skip


FITS = {"strata_site": {"strata": "site"}, "cluster_site": {"cluster": "site"},
        "strata_band_cluster_site": {"strata": "band", "cluster": "site"}}  # fmt: skip


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("fit_name", list(FITS))
def test_cox_strata_and_cluster_match_coxph(surv, ties, fit_name):
    # R: coxph(Surv(time, event) ~ arm + baseline [+ strata(s)], ties = ties [, cluster = site])
    r, data = surv
    fit = sv.cox_ph(data, covariates=["baseline"], ties=ties, **FITS[fit_name])
    rr = pd.DataFrame(r[ties][fit_name]["coef"])
    ours = fit.table.assign(rterm=fit.table["term"].str.replace(r"[\[\]]", "", regex=True)).set_index("rterm")
    ours = ours.loc[rr["term"]]
    where = f"{r['name']}: Cox {fit_name} ({ties})"
    with ledger.Batch() as b:
        cols = ["estimate", "std_error"] + (["naive_std_error"] if "cluster" in fit_name else [])
        for col in cols:
            b.check(f"{where}: {col}", ours[col], rr[col], source=SOURCE, rtol=1e-7, labels=list(rr["term"]))
        b.check(f"{where}: log partial likelihood", fit.log_likelihood, r[ties][fit_name]["loglik"], source=SOURCE,
                rtol=1e-10)  # fmt: skip
        if "concordance" in r[ties][fit_name]:
            b.check(f"{where}: concordance (within strata)", fit.concordance, r[ties][fit_name]["concordance"],
                    source=SOURCE, rtol=1e-10)  # fmt: skip
    assert fit.strata == ((FITS[fit_name]["strata"],) if "strata" in FITS[fit_name] else ())
    assert any("robust to clustering by site" in n for n in fit.notes) == ("cluster" in fit_name)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("transform", ["km", "rank"])
def test_ph_test_of_a_stratified_cox_model_matches_cox_zph(surv, ties, transform):
    # R: cox.zph(coxph(Surv(time, event) ~ arm + baseline + strata(site), ties = ties), transform, terms = FALSE)
    r, data = surv
    ph = sv.cox_ph(data, covariates=["baseline"], ties=ties, strata="site", ph_transform=transform).ph_test
    z = pd.DataFrame(r[ties]["strata_site"]["zph"][transform])
    ours = ph.assign(rterm=ph["term"].str.replace(r"[\[\]]", "", regex=True)).set_index("rterm").loc[z["term"]]
    where = f"{r['name']}: cox.zph ({transform}) of the Cox model stratified by site ({ties})"
    with ledger.Batch() as b:
        b.check(f"{where}: chi-square", ours["statistic"], z["statistic"], source=SOURCE, rtol=1e-9,
                labels=list(z["term"]))  # fmt: skip
        b.check(f"{where}: p", ours["p_value"], z["p_value"], source=SOURCE, rtol=1e-8, labels=list(z["term"]))


def test_cox_one_stratum_is_the_unstratified_model(surv):
    _, data = surv
    one = replace(data, table=data.table.assign(all="x"))
    a = sv.cox_ph(one, covariates=["baseline"], strata="all").table
    b = sv.cox_ph(data, covariates=["baseline"])
    np.testing.assert_allclose(a["estimate"], b.table["estimate"], rtol=1e-10)
    np.testing.assert_allclose(a["std_error"], b.table["std_error"], rtol=1e-10)
    ph = sv.cox_ph(one, covariates=["baseline"], strata="all").ph_test
    np.testing.assert_allclose(ph["statistic"], b.ph_test["statistic"], rtol=1e-9)


def test_score_residuals_add_up_to_the_score_and_clusters_of_one_are_the_subject_sandwich(surv):
    from painstudy.models.survival.partial_likelihood import PartialLikelihood, robust_covariance

    _, data = surv
    t = data.table
    X = np.column_stack([t["baseline"].to_numpy(float), (t["arm"].astype(str) != data.reference).to_numpy(float)])
    for ties in ("efron", "breslow"):
        pl = PartialLikelihood(X, t["time"].to_numpy(float), t["event"].to_numpy(int), ties)
        terms = pl.terms(np.array([0.1, 0.3]))
        score, _ = pl.weighted(terms)
        np.testing.assert_allclose(pl.score_residuals(terms).sum(axis=0), score, rtol=1e-9, atol=1e-9)
        res = pl.score_residuals(terms)
        cov = np.eye(2)
        np.testing.assert_allclose(robust_covariance(res, cov, np.arange(len(t))), res.T @ res)


# ------------------------------------------------------------------ named errors, notes
def test_bad_strata_are_named_errors(data, table):
    with pytest.raises(ModelError, match=r"unknown strata column 'region'.*available: .*site"):
        stratified_responders(data, "region")
    gap = replace(data, table=table.assign(site=table["site"].where(table["subject"] != "P007")))
    with pytest.raises(ModelError, match=r"strata column 'site' is missing for 1 subject\(s\) \(first: 'P007'\)"):
        stratified_responders(gap, "site")
    lonely = replace(data, table=table.assign(stratum_=table["arm"].astype(str)))
    with pytest.raises(ModelError, match=r"no stratum of stratum_ holds both arms"):
        stratified_responders(lonely, "stratum_", visit="week12")
    with pytest.raises(ModelError, match="mn_weights must be one of"):
        stratified_responders(data, "site", mn_weights="equal")
    with pytest.raises(ModelError, match="measures must be some of"):
        stratified_responders(data, "site", measures=["hr"])
    with pytest.raises(ModelError, match="visit 'week99' is not a post-baseline visit"):
        stratified_responders(data, "site", visit="week99")


def test_zero_cells_make_a_named_error_and_single_arm_strata_a_note(data, table):
    res = stratified_responders(data, "site", visit="week12")
    note = next(n for n in res.notes if "combined vs control" in n and "one arm only" in n)
    assert "s09" in note  # the site with only the combined arm, counted and named
    none = table.assign(responder=np.where(table["arm"] == "exercise", 0, table["responder"]))
    with pytest.raises(ModelError, match=r"odds ratio is 0 \(zero cells.*measures=\('rd', 'mn'\)"):
        stratified_responders(replace(data, table=none), "site", visit="week12")
    ok = stratified_responders(replace(data, table=none), "site", visit="week12", measures=("rd", "mn"))
    assert (ok.estimates.query("arm == 'exercise'")["estimate"] < 0).all()


def test_g_computation_errors_and_defaults(data, table):
    with pytest.raises(ModelError, match="unknown covariate 'bmi'"):
        adjusted_risk_difference(data, covariates=["bmi"])
    with pytest.raises(ModelError, match="variance must be one of"):
        adjusted_risk_difference(data, variance="hc3")
    sep = table.assign(responder=np.where(table["arm"] == "combined", 1, table["responder"]))
    with pytest.raises(ModelError, match="separation"):
        adjusted_risk_difference(replace(data, table=sep), visit="week12")
    res = adjusted_risk_difference(data, visit="week26")
    assert res.covariates == ("baseline", "condition", "age")  # site left out by default
    assert {"estimates", "means"} <= set(res.to_dict()["tables"])


def test_cox_bad_strata_and_cluster(surv):
    _, data = surv
    with pytest.raises(ModelError, match="unknown cluster column 'centre'"):
        sv.cox_ph(data, cluster="centre")
    gap = replace(data, table=data.table.assign(site=data.table["site"].where(data.table.index != 3)))
    with pytest.raises(ModelError, match=r"strata column 'site' is missing for 1 subject"):
        sv.cox_ph(gap, strata="site")


# ------------------------------------------------------------------ public API, command line
def test_public_names_and_demo():
    data = painstudy.responders(painstudy.load_cohort("demo"), "pain", population="nri")
    res = painstudy.stratified_responders(data, ["condition"], visit="week12")
    assert set(res.estimates["measure"]) == {"odds ratio", "risk difference"}
    assert "Cochran-Mantel-Haenszel" in str(res)
    adj = painstudy.adjusted_risk_difference(data, visit="week12")
    assert "g-computation" in repr(adj)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "painstudy", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_responders_and_improvement_options(tmp_path):
    out = run_cli("fit", "responders", "demo", "--strata", "condition", "--adjust-for", "baseline", "condition",
                  "--visit", "week12", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Mantel-Haenszel" in out.stdout and "g-computation" in out.stdout
    bad = run_cli("fit", "responders", "demo", "--strata", "region", cwd=tmp_path)
    assert bad.returncode == 1 and "unknown strata column 'region'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    imp = run_cli("fit", "improvement", "demo", "--strata", "condition", "--cluster", "site", cwd=tmp_path)
    assert imp.returncode == 0, imp.stderr
    assert "robust to clustering by site" in imp.stdout and "stratified by condition" in imp.stdout
