"""painstudy.lmm against R lme4 / lmerTest / pbkrtest.

Expected values: tests/reference/lmm_ref_sim.json and tests/reference/lmm_ref_chow.json, written by
``Rscript tests/reference/lmm_reference.R`` (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2).  Each fit's
``r_call`` records the exact call, e.g.
``lmerTest::lmer(y ~ arm * week + baseline + (1 + week | subject), data = sim_lmm_a, REML = TRUE, ...)``;
coefficient df from ``summary(fit, ddf = "Satterthwaite")``; Kenward-Roger SE and df from
``pbkrtest::vcovAdj(fit)`` and ``pbkrtest:::Lb_ddf``; ``varcorr`` from ``VarCorr(fit)``; ``blups`` from
``ranef(fit)``; ``neg2_log_lik`` = ``-2 * logLik(fit)`` (the REML criterion for REML fits).

Tolerance: 4 significant digits (relative 5e-5) unless stated; -2 log-likelihood to 1e-6 absolute.  Every
compared number goes through ``ledger`` with its JSON file as the source (the validation report lists them).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ConvergenceWarning
from painstudy.models.mixed.lmm import lmm

REF = Path(__file__).parent / "reference"
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
RTOL = 5e-5

ARM_LEVELS = {"a": ["CTL", "INT"], "b": ["UC", "INT", "PT"], "c": ["CTL", "INT"]}


def _fits():
    out = []
    for name in ("lmm_ref_sim.json", "lmm_ref_chow.json", "lmm_ref_vickers.json"):
        for fit in json.loads((REF / name).read_text())["fits"]:
            out.append({**fit, "source": f"tests/reference/{name}"})
    return {f["id"]: f for f in out}


FITS = _fits()


def _vickers_long() -> pd.DataFrame:
    """data_prep of lmm_ref_vickers.json: pk1/pk2/pk5 at months 0/3/12, rows with pk missing dropped."""
    w = pd.read_csv(SHARED / "vickers2004_acupuncture_headache" / "acupuncture_headache.csv")
    d = pd.concat(
        [
            pd.DataFrame({"id": w["id"], "group": w["group"], "month": m, "pk": w[c]})
            for m, c in ((0.0, "pk1"), (3.0, "pk2"), (12.0, "pk5"))
        ]
    ).dropna(subset=["pk"])
    d = d.sort_values(["id", "month"]).reset_index(drop=True)
    d["group"] = pd.Categorical(d["group"].astype(str), categories=["0", "1"])
    d["id"] = d["id"].astype(str)
    return d


def _data(fit) -> pd.DataFrame:
    if fit["id"].startswith("lmm_vickers"):
        return _vickers_long()
    if fit["data"].startswith("shared:"):
        # data_prep: laser factor with levels '2' (sham, reference), '1'; time_num = c(0, 7, 12)[time]
        d = pd.read_csv(SHARED / fit["data"][len("shared:") :])
        d["laser"] = pd.Categorical(d["laser"].astype(str), categories=["2", "1"])
        d["time_num"] = np.array([0.0, 7.0, 12.0])[d["time"].to_numpy() - 1]
        return d
    d = pd.read_csv(ROOT / fit["data"])
    d["arm"] = pd.Categorical(d["arm"], categories=ARM_LEVELS[fit["id"][len("lmm_sim")]])
    return d


@cache
def _fit(fit_id: str, df: str):
    fit = FITS[fit_id]
    singular_chow = fit_id.startswith("lmm_chow_slope")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = lmm(fit["formula"], _data(fit), reml=fit["reml"], df=df)
    msgs = [str(w.message) for w in rec if issubclass(w.category, ConvergenceWarning)]
    if singular_chow:
        # lme4 reports this fit as singular (corr(intercept, slope) = 1, theta[3] ~ 1e-8): we must say so
        assert any("singular fit" in m for m in msgs), msgs
    else:
        assert not msgs, msgs
    return res


def _coef_table(rows):
    return pd.DataFrame(rows).set_index("term")


ALL = sorted(FITS)
REML = sorted(k for k, f in FITS.items() if f["reml"])


@pytest.mark.parametrize("fit_id", ALL)
def test_neg2_log_lik_aic_bic(fit_id):
    # R: -2 * logLik(fit), AIC(fit), BIC(fit)
    fit = FITS[fit_id]
    res = _fit(fit_id, "satterthwaite")
    src = fit["source"]
    ledger.check_equal(f"{fit_id} n_obs", res.n_obs, fit["n_obs"], source=src)
    for g, n in fit["n_groups"].items():
        ledger.check_equal(f"{fit_id} number of groups {g}", res.n_groups.get(g), n, source=src)
    assert res.n_groups == fit["n_groups"]
    ledger.check(f"{fit_id} -2 log-likelihood", res.neg2_log_lik, fit["neg2_log_lik"], atol=1e-6, source=src)
    ledger.check(f"{fit_id} AIC", res.aic, fit["aic"], atol=1e-6, source=src)
    ledger.check(f"{fit_id} BIC", res.bic, fit["bic"], atol=1e-6, source=src)


@pytest.mark.parametrize("fit_id", ALL)
def test_fixed_effects_satterthwaite(fit_id):
    # R: summary(fit, ddf = "Satterthwaite")$coefficients (lmerTest)
    fit = FITS[fit_id]
    res = _fit(fit_id, "satterthwaite")
    ref = _coef_table(fit["coefficients"])
    _check_coefficients(f"{fit_id} coefficient", res.coefficients.loc[ref.index], ref, fit["source"])


def _check_coefficients(what: str, mine: pd.DataFrame, ref: pd.DataFrame, source: str) -> None:
    terms = list(ref.index)
    ledger.check(
        f"{what} estimate", mine["estimate"], ref["estimate"], rtol=RTOL, atol=1e-9, labels=terms, source=source
    )
    ledger.check(f"{what} std_error", mine["std_error"], ref["std_error"], rtol=RTOL, labels=terms, source=source)
    ledger.check(f"{what} df", mine["df"], ref["df"], rtol=RTOL, labels=terms, source=source)


@pytest.mark.parametrize("fit_id", ALL)
def test_vcov_beta(fit_id):
    # R: as.matrix(vcov(fit))
    fit = FITS[fit_id]
    res = _fit(fit_id, "satterthwaite")
    terms = fit["vcov_beta"]["terms"]
    ref = np.array(fit["vcov_beta"]["matrix"])
    mine = res.vcov.loc[terms, terms].to_numpy()
    ledger.check(
        f"{fit_id} vcov(beta)",
        mine,
        ref,
        rtol=RTOL,
        atol=RTOL * np.abs(ref).max(),
        source=fit["source"],
        labels=[f"{a}, {b}" for a in terms for b in terms],
    )


@pytest.mark.parametrize("fit_id", ALL)
def test_variance_components(fit_id):
    # R: VarCorr(fit): per group sd and correlations, residual sigma(fit)
    fit = FITS[fit_id]
    res = _fit(fit_id, "satterthwaite")
    vc = res.varcorr
    src = fit["source"]
    for g in fit["varcorr"]:
        if g["group"] == "Residual":
            ledger.check(f"{fit_id} residual SD", res.sigma, g["sd"], rtol=RTOL, source=src)
            continue
        terms = [g["terms"]] if isinstance(g["terms"], str) else g["terms"]  # jsonlite unboxes length-1
        rows = vc[(vc.group == g["group"]) & vc.term2.isna()].set_index("term1")
        ledger.check(
            f"{fit_id} {g['group']} SD",
            rows.loc[terms, "sd"],
            np.atleast_1d(g["sd"]),
            rtol=RTOL,
            labels=terms,
            source=src,
        )
        corr = np.atleast_2d(np.array(g["corr"], float))
        for i in range(len(terms)):
            for j in range(i):
                row = vc[(vc.group == g["group"]) & (vc.term1 == terms[j]) & (vc.term2 == terms[i])]
                ledger.check(
                    f"{fit_id} {g['group']} correlation {terms[j]}, {terms[i]}",
                    float(row["corr"].iloc[0]),
                    corr[i, j],
                    rtol=RTOL,
                    atol=1e-6,
                    combine="max",
                    source=src,
                )


@pytest.mark.parametrize("fit_id", ALL)
def test_theta(fit_id):
    # R: getME(fit, "theta") (lme4's relative covariance factor); the singular chow fit has theta[3] ~ 1e-8
    fit = FITS[fit_id]
    res = _fit(fit_id, "satterthwaite")
    ref = np.array(fit["theta"])
    if len(fit["n_groups"]) > 1:
        # lme4 orders terms by decreasing number of levels: (subject: 3 elements) then (site: 1)
        mine = np.concatenate([res.theta[1:], res.theta[:1]])
    else:
        mine = res.theta
    ledger.check(f"{fit_id} theta", mine, ref, rtol=RTOL, atol=1e-6, source=fit["source"])


@pytest.mark.parametrize("fit_id", ALL)
def test_blups(fit_id):
    # R: ranef(fit)[[subject]] for the first five subjects
    fit = FITS[fit_id]
    res = _fit(fit_id, "satterthwaite")
    re = res.ranef(fit["subject"])
    re.index = re.index.astype(str)
    for row in fit["blups"]:
        for term, val in row.items():
            if term in ("group", "level"):
                continue
            ledger.check(
                f"{fit_id} BLUP {row['level']} {term}",
                re.loc[str(row["level"]), term],
                val,
                rtol=RTOL,
                atol=1e-7,
                combine="max",
                source=fit["source"],
            )


@pytest.mark.parametrize("fit_id", REML)
def test_kenward_roger(fit_id):
    # R: pbkrtest::vcovAdj(fit) (adjusted SE) and pbkrtest:::Lb_ddf(L, vcov(fit), vcovAdj(fit)) (df)
    fit = FITS[fit_id]
    res = _fit(fit_id, "kenward-roger")
    ref = _coef_table(fit["kenward_roger"]["coefficients"])
    _check_coefficients(
        f"{fit_id} Kenward-Roger (pbkrtest) coefficient", res.coefficients.loc[ref.index], ref, fit["source"]
    )


# --- RANDOM + REPEATED: nlme::lme with corAR1 (tests/reference/lmm_ref_nlme.json) -----------------------

NLME = {f["id"]: f for f in json.loads((REF / "lmm_ref_nlme.json").read_text())["fits"]}


@pytest.mark.parametrize("fit_id", sorted(NLME))
def test_random_slope_with_ar1_residual_matches_nlme(fit_id):
    """nlme::lme(y ~ arm * week + baseline, random = ~ 1 + week | subject, correlation = corAR1(form = ~ vr | subject))."""
    ref = NLME[fit_id]
    d = pd.read_csv(ROOT / ref["data"]).iloc[:400]
    d = d.drop(index=d.index[5::7]).reset_index(drop=True)
    d["arm"] = pd.Categorical(d["arm"], categories=["CTL", "INT"])
    d["visit"] = pd.Categorical("W" + d.week.astype(int).astype(str).str.zfill(2))
    assert len(d) == ref["n_obs"]
    res = lmm(ref["formula"], d, reml=ref["reml"])
    src = "tests/reference/lmm_ref_nlme.json"
    ledger.check(f"{fit_id} -2 log-likelihood", res.neg2_log_lik, ref["neg2_log_lik"], atol=1e-5, source=src)
    coef = res.coefficients
    p = len(ref["coefficients"])
    # nlme scales the fixed-effect covariance of an ML fit by N / (N - p) (as nlme::gls does); SAS, lme4
    # and painstudy use (X'V^-1 X)^-1 itself, so undo that factor for ML fits
    scale = 1.0 if ref["reml"] else np.sqrt(ref["n_obs"] / (ref["n_obs"] - p))
    for row in ref["coefficients"]:
        term = row["term"]
        ledger.check(
            f"{fit_id} coefficient {term} estimate",
            coef.loc[term, "estimate"],
            row["estimate"],
            rtol=RTOL,
            atol=1e-8,
            combine="max",
            source=src,
        )
        ledger.check(
            f"{fit_id} coefficient {term} std_error",
            coef.loc[term, "std_error"],
            row["std_error"] / scale,
            rtol=RTOL,
            source=src,
        )
