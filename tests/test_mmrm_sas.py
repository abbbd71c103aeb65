"""MMRM on fev_data against the published SAS PROC MIXED output (issue 3).

Reference: tests/reference/sas_fev_us.json, transcribed from the SAS output published with R mmrm
(PROC MIXED, REPEATED AVISIT / SUBJECT=USUBJID TYPE=UN, METHOD=REML, DDFM=SATTERTHWAITE).

Tolerances: SAS prints 4 decimals and integer df.  SAS's reported -2 REML log-likelihood is about 6e-6
above the exact optimum (ours equals the handwritten R likelihood optimum to 1e-10, see
test_mmrm_reference.py), i.e. SAS stopped slightly short; in the flat directions of the likelihood this
moves printed estimates by up to ~1e-4 (LS means, SEs) and covariance elements by up to 4e-4 relative.
So: -2LL to 1e-4 absolute; estimates and SEs to 1.5e-4 absolute (print rounding 0.5e-4 + that slack);
covariance elements to 5e-4 relative; df equal after rounding to integers as SAS prints them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from painstudy.models.mixed.mmrm import mmrm

REF = json.loads((Path(__file__).parent / "reference" / "sas_fev_us.json").read_text())
FORMULA = 'FEV1 ~ RACE + C(SEX, Treatment("Male")) + C(ARMCD, Treatment("PBO")) * AVISIT + us(AVISIT | USUBJID)'


@pytest.fixture(scope="module")
def fev(shared):
    return pd.read_csv(shared / "mmrm_fev_bcva" / "fev_data.csv")


@pytest.fixture(scope="module")
def fit(fev):
    return mmrm(FORMULA, fev, reml=True, df="satterthwaite")


def test_neg2_reml_loglik(fit):
    # SAS: -2 Res Log Likelihood 3386.44987722
    assert fit.neg2_log_lik == pytest.approx(REF["neg2_res_log_lik"], abs=1e-4)
    assert fit.converged
    assert fit.n_subjects == 197 and fit.n_obs == 537
    assert fit.n_rows_dropped == 263 and fit.n_subjects_dropped == 3


def _cov_pairs(fit):
    un = REF["covariance_UN"]
    order = un["index_to_visit"]  # SAS's UN index order is (VIS2, VIS3, VIS4, VIS1), see the JSON note
    for i in range(4):
        for j in range(i + 1):
            yield (i, j), un[f"UN({i + 1},{j + 1})"], fit.covariance.loc[order[i], order[j]]


def test_covariance_elements(fit):
    # SAS UN(i,j).  Known deviation (reported): SAS's estimates sit slightly off the optimum (its -2LL
    # is 6e-6 higher); nlme::gls and a handwritten R likelihood agree with ours to < 1e-4 relative
    # (test_mmrm_reference.py) while SAS differs by up to 0.0048 (UN(4,3)=13.3731 vs 13.3779) and
    # 5.3e-4 relative (UN(2,1)=2.7851 vs 2.7836).  Checked here: within 2e-3 absolute or 4e-4 relative.
    for ij, sas, ours in _cov_pairs(fit):
        assert abs(ours - sas) <= max(2e-3, 4e-4 * abs(sas)), (ij, sas, ours)


@pytest.mark.xfail(strict=True, reason="SAS's printed covariance is not at the exact REML optimum (see above)")
def test_covariance_elements_to_printed_precision(fit):
    for ij, sas, ours in _cov_pairs(fit):
        assert abs(ours - sas) <= 0.5e-4, (ij, sas, ours)


def test_lsmean_differences_by_visit(fit):
    # SAS LSMEANS ARMCD*AVISIT / DIFF: TRT - PBO at each visit (estimate, SE, df)
    con = fit.contrasts("ARMCD", by="AVISIT", method="trt.vs.ctrl", ref="PBO").set_index("AVISIT")
    for row in REF["lsmean_differences_TRT_minus_PBO"]:
        r = con.loc[row["AVISIT"]]
        assert r["contrast"] == "TRT - PBO"
        assert r["estimate"] == pytest.approx(row["estimate"], abs=1.5e-4)
        assert r["std_error"] == pytest.approx(row["std_error"], abs=1.5e-4)
        assert round(r["df"]) == row["df"]


def test_lsmeans_at_visit4(fit):
    # SAS LSMEANS ARMCD*AVISIT at VIS4: TRT 52.7841 (1.1877, 133), PBO 48.3855 (1.1886, 134)
    ls = fit.lsmeans("ARMCD", by="AVISIT")
    for row in REF["lsmeans_VIS4"]:
        r = ls[(ls.ARMCD == row["ARMCD"]) & (ls.AVISIT == row["AVISIT"])].iloc[0]
        assert r["estimate"] == pytest.approx(row["estimate"], abs=1.5e-4)
        assert r["std_error"] == pytest.approx(row["std_error"], abs=1.5e-4)
        assert round(r["df"]) == row["df"]


def test_type3_interaction(fit):
    # SAS Type 3 Tests of Fixed Effects: AVISIT*ARMCD F 0.26 on 3 and 148 df
    a = fit.anova()
    r = a.loc["ARMCD:AVISIT"]
    ref = REF["type3_AVISIT_x_ARMCD"]
    assert r["num_df"] == ref["num_df"]
    assert round(r["den_df"]) == ref["den_df"]
    assert round(r["statistic"], 2) == ref["F"]


def test_alphabetical_reference_gives_same_likelihood(fev):
    # Recoding references does not change the model: same -2LL as SAS
    fit2 = mmrm("FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", fev)
    assert fit2.neg2_log_lik == pytest.approx(REF["neg2_res_log_lik"], abs=1e-4)
    assert "SEXMale" in fit2.coefficients.index
    # categorical order is respected: Male first -> SEXFemale, the same estimate with opposite sign
    fev3 = fev.assign(SEX=pd.Categorical(fev.SEX, ["Male", "Female"]))
    fit3 = mmrm("FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", fev3)
    assert fit3.coefficients.loc["SEXFemale", "estimate"] == pytest.approx(
        -fit2.coefficients.loc["SEXMale", "estimate"], rel=1e-6)
