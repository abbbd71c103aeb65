"""painstudy.lmm on lme4's Pastes data: an intercept-only fixed part, nested random intercepts.

Expected values: tests/reference/lmm_ref_pastes.json, written by ``Rscript tests/reference/lmm_reference.R pastes``
(R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2), which also writes the data
(tests/reference/data/pastes.csv from ``lme4::Pastes``).  Each fit's ``r_call`` is
``lmerTest::lmer(strength ~ 1 + (1 | batch/cask), data = pastes, REML = ..., control = ...)``; coefficients from
``summary(fit, ddf = "Satterthwaite")``, Kenward-Roger from ``pbkrtest::vcovAdj`` and ``pbkrtest:::Lb_ddf``,
``anova`` from lmerTest's ``anova(fit)`` (no rows: there is no fixed term to test).

Tolerance: 4 significant digits (relative 5e-5), -2 log-likelihood to 1e-6 absolute, as test_lmm_reference.py;
every compared number goes through ``ledger`` (source: the JSON file).
"""

from __future__ import annotations

import json
from pathlib import Path

import ledger
import pandas as pd
import pytest

from painstudy.models.mixed.lmm import lmm

REF = Path(__file__).parent / "reference"
FITS = {f["id"]: f for f in json.loads((REF / "lmm_ref_pastes.json").read_text())["fits"]}
RTOL = 5e-5
FORMULA = "strength ~ 1 + (1 | batch/cask)"
SOURCE = "tests/reference/lmm_ref_pastes.json"
# lme4 names the nested term cask:batch, painstudy batch:cask (the grouping columns in the order written)
GROUP = {"batch": "batch", "cask:batch": "batch:cask"}


@pytest.fixture(scope="module")
def pastes() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "pastes.csv")


@pytest.fixture(scope="module", params=sorted(FITS))
def case(request, pastes):
    ref = FITS[request.param]
    df = "kenward-roger" if ref["reml"] else "satterthwaite"
    return ref, lmm(FORMULA, pastes, reml=ref["reml"]), (lmm(FORMULA, pastes, df=df) if ref["reml"] else None)


def test_likelihood_and_groups(case):
    # R: -2 * logLik(fit), AIC(fit), BIC(fit), ngrps(fit)
    ref, fit, _ = case
    fid = ref["id"]
    assert fit.converged and not fit.singular
    ledger.check_equal(f"{fid} n_obs", fit.n_obs, ref["n_obs"], source=SOURCE)
    for g, n in ref["n_groups"].items():
        ledger.check_equal(f"{fid} number of groups {g}", fit.n_groups.get(GROUP[g]), n, source=SOURCE)
    assert fit.n_groups == {GROUP[g]: n for g, n in ref["n_groups"].items()}
    ledger.check(f"{fid} -2 log-likelihood", fit.neg2_log_lik, ref["neg2_log_lik"], atol=1e-6, source=SOURCE)
    ledger.check(f"{fid} AIC", fit.aic, ref["aic"], atol=1e-6, source=SOURCE)
    ledger.check(f"{fid} BIC", fit.bic, ref["bic"], atol=1e-6, source=SOURCE)


def test_intercept_satterthwaite_and_kenward_roger(case):
    # R: summary(fit, ddf = "Satterthwaite")$coefficients; pbkrtest for REML
    ref, fit, kr = case
    (c,) = ref["coefficients"]
    row = fit.coefficients.loc["(Intercept)"]
    for col in ("estimate", "std_error", "df"):
        ledger.check(f"{ref['id']} (Intercept) {col}", row[col], c[col], rtol=RTOL, source=SOURCE)
    if kr is not None:
        (k,) = ref["kenward_roger"]["coefficients"]
        row = kr.coefficients.loc["(Intercept)"]
        for col in ("std_error", "df"):
            ledger.check(
                f"{ref['id']} Kenward-Roger (pbkrtest) (Intercept) {col}", row[col], k[col], rtol=RTOL, source=SOURCE
            )


def test_variance_components_theta_blups(case):
    # R: VarCorr(fit), getME(fit, "theta") (lme4 orders the terms cask:batch, batch), ranef(fit)$batch
    ref, fit, _ = case
    fid = ref["id"]
    vc = fit.varcorr.set_index("group")
    for g in ref["varcorr"]:
        if g["group"] == "Residual":
            ledger.check(f"{fid} residual SD", fit.sigma, g["sd"], rtol=RTOL, source=SOURCE)
        else:
            ledger.check(f"{fid} {g['group']} SD", vc.loc[GROUP[g["group"]], "sd"], g["sd"], rtol=RTOL, source=SOURCE)
    ledger.check(f"{fid} theta", fit.theta[::-1], ref["theta"], rtol=RTOL, source=SOURCE)
    re = fit.ranef("batch")
    for b in ref["blups"]:
        ledger.check(
            f"{fid} BLUP batch {b['level']}",
            re.loc[b["level"], "(Intercept)"],
            b["(Intercept)"],
            rtol=RTOL,
            atol=1e-7,
            combine="max",
            source=SOURCE,
        )


def test_anova_of_an_intercept_only_model_is_empty(case):
    # R: lmerTest's anova(fit) has 0 rows (it raised KeyError here before)
    ref, fit, kr = case
    ledger.check_equal(f"{ref['id']} rows of anova()", len(fit.anova()), ref["anova"]["n_rows"], source=SOURCE)
    assert ref["anova"]["n_rows"] == 0
    for f in (fit, kr):
        if f is None:
            continue
        an = f.anova()
        assert len(an) == 0
        assert list(an.columns) == ["num_df", "den_df", "statistic", "p_value"] and an.index.name == "term"
    assert fit.to_dict()["coefficients"][0]["term"] == "(Intercept)"
    assert "(Intercept)" in fit.summary()
