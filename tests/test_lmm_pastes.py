"""painstudy.lmm on lme4's Pastes data: an intercept-only fixed part, nested random intercepts.

Expected values: tests/reference/lmm_ref_pastes.json, written by ``Rscript tests/reference/lmm_reference.R pastes``
(R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2), which also writes the data
(tests/reference/data/pastes.csv from ``lme4::Pastes``).  Each fit's ``r_call`` is
``lmerTest::lmer(strength ~ 1 + (1 | batch/cask), data = pastes, REML = ..., control = ...)``; coefficients from
``summary(fit, ddf = "Satterthwaite")``, Kenward-Roger from ``pbkrtest::vcovAdj`` and ``pbkrtest:::Lb_ddf``,
``anova`` from lmerTest's ``anova(fit)`` (no rows: there is no fixed term to test).

Tolerance: 4 significant digits (relative 5e-5), -2 log-likelihood to 1e-6 absolute, as test_lmm_reference.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from painstudy.models.mixed.lmm import lmm

REF = Path(__file__).parent / "reference"
FITS = {f["id"]: f for f in json.loads((REF / "lmm_ref_pastes.json").read_text())["fits"]}
RTOL = 5e-5
FORMULA = "strength ~ 1 + (1 | batch/cask)"
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
    assert fit.converged and not fit.singular
    assert fit.n_obs == ref["n_obs"]
    assert fit.n_groups == {GROUP[g]: n for g, n in ref["n_groups"].items()}
    assert fit.neg2_log_lik == pytest.approx(ref["neg2_log_lik"], abs=1e-6)
    assert fit.aic == pytest.approx(ref["aic"], abs=1e-6)
    assert fit.bic == pytest.approx(ref["bic"], abs=1e-6)


def test_intercept_satterthwaite_and_kenward_roger(case):
    # R: summary(fit, ddf = "Satterthwaite")$coefficients; pbkrtest for REML
    ref, fit, kr = case
    (c,) = ref["coefficients"]
    row = fit.coefficients.loc["(Intercept)"]
    for ours, theirs in ((row["estimate"], c["estimate"]), (row["std_error"], c["std_error"]), (row["df"], c["df"])):
        assert ours == pytest.approx(theirs, rel=RTOL)
    if kr is not None:
        (k,) = ref["kenward_roger"]["coefficients"]
        row = kr.coefficients.loc["(Intercept)"]
        assert row["std_error"] == pytest.approx(k["std_error"], rel=RTOL)
        assert row["df"] == pytest.approx(k["df"], rel=RTOL)


def test_variance_components_theta_blups(case):
    # R: VarCorr(fit), getME(fit, "theta") (lme4 orders the terms cask:batch, batch), ranef(fit)$batch
    ref, fit, _ = case
    vc = fit.varcorr.set_index("group")
    for g in ref["varcorr"]:
        if g["group"] == "Residual":
            assert fit.sigma == pytest.approx(g["sd"], rel=RTOL)
        else:
            assert vc.loc[GROUP[g["group"]], "sd"] == pytest.approx(g["sd"], rel=RTOL)
    np.testing.assert_allclose(fit.theta[::-1], ref["theta"], rtol=RTOL)
    re = fit.ranef("batch")
    for b in ref["blups"]:
        assert re.loc[b["level"], "(Intercept)"] == pytest.approx(b["(Intercept)"], rel=RTOL, abs=1e-7)


def test_anova_of_an_intercept_only_model_is_empty(case):
    # R: lmerTest's anova(fit) has 0 rows (it raised KeyError here before)
    ref, fit, kr = case
    assert ref["anova"]["n_rows"] == 0
    for f in (fit, kr):
        if f is None:
            continue
        an = f.anova()
        assert len(an) == 0
        assert list(an.columns) == ["num_df", "den_df", "statistic", "p_value"] and an.index.name == "term"
    assert fit.to_dict()["coefficients"][0]["term"] == "(Intercept)"
    assert "(Intercept)" in fit.summary()
