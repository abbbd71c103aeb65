"""LS-mean weights, user-defined linear combinations and interaction contrasts of an MMRM against R emmeans on
the same model fitted by nlme::gls (tests/reference/emmeans_weights_reference.R ->
emmeans_weights_reference.json): fev_data, FEV1 ~ FEV1_BL + RACE * SEX + ARMCD * AVISIT, unstructured, REML."""

from __future__ import annotations

import json
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy import mmrm
from painstudy.errors import ModelError

HERE = Path(__file__).resolve().parent
SOURCE = "tests/reference/emmeans_weights_reference.json"
FORMULA = "FEV1 ~ FEV1_BL + RACE * SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"
# estimates agree to the optimum of the two fits (gls's optim stops within about 5e-7 of it)
TOL = 2e-6


@pytest.fixture(scope="module")
def reference():
    return json.loads((HERE / "reference" / "emmeans_weights_reference.json").read_text())


@pytest.fixture(scope="module")
def fit(shared):
    d = pd.read_csv(shared / "mmrm_fev_bcva" / "fev_data.csv")
    return mmrm(FORMULA, d[d["FEV1"].notna()])


@pytest.mark.parametrize("weights", ["equal", "proportional", "outer", "cells", "counterfactual"])
def test_lsmean_weights_match_emmeans(fit, reference, weights):
    ref = reference[weights]
    lsm = fit.lsmeans("ARMCD", by="AVISIT", weights=weights)
    con = fit.contrasts("ARMCD", by="AVISIT", method="trt.vs.ctrl", ref="PBO", weights=weights)
    labels = [f"{a} | {v}" for v, a in zip(lsm["AVISIT"], lsm["ARMCD"])]
    assert labels == ref["lsmeans"]["label"]
    assert [f"{c} | {v}" for c, v in zip(con["contrast"], con["AVISIT"])] == ref["contrasts"]["label"]
    with ledger.Batch() as b:
        for what, table, r in (("LS mean", lsm, ref["lsmeans"]), ("TRT - PBO", con, ref["contrasts"])):
            for i, label in enumerate(r["label"]):
                q = f"weights={weights}, {what} {label}"
                b.check(q, table["estimate"].iloc[i], r["estimate"][i], source=SOURCE, atol=TOL)
                b.check(f"{q}: SE", table["std_error"].iloc[i], r["std_error"][i], source=SOURCE, atol=TOL)


def test_the_weights_differ_where_they_should(fit):
    """RACE x SEX interacts in the model, so proportional (joint frequencies) and outer (products of the
    margins) differ; contrasts of ARMCD within a visit do not depend on weights over RACE x SEX except under
    "cells" (whose weights depend on the arm)."""
    est = {
        w: fit.lsmeans("ARMCD", by="AVISIT", weights=w)["estimate"].to_numpy()
        for w in ("equal", "proportional", "outer", "cells")
    }
    assert not np.allclose(est["proportional"], est["outer"]) and not np.allclose(est["equal"], est["proportional"])
    con = {w: fit.contrasts("ARMCD", by="AVISIT", method="trt.vs.ctrl", weights=w)["estimate"].to_numpy() for w in est}
    assert np.allclose(con["equal"], con["proportional"]) and np.allclose(con["equal"], con["outer"])
    assert not np.allclose(con["equal"], con["cells"])


def test_custom_and_interaction_contrasts_match_emmeans(fit, reference):
    cc = fit.custom_contrasts(
        ["ARMCD", "AVISIT"],
        {
            "TRT - PBO, mean of VIS3 and VIS4": {
                ("TRT", "VIS3"): 0.5,
                ("TRT", "VIS4"): 0.5,
                ("PBO", "VIS3"): -0.5,
                ("PBO", "VIS4"): -0.5,
            }
        },
    )
    r = reference["custom"]
    assert cc["contrast"].iloc[0] == r["label"]
    ledger.check(
        "custom contrast: TRT - PBO over VIS3, VIS4", cc["estimate"].iloc[0], r["estimate"], source=SOURCE, atol=TOL
    )
    ledger.check("custom contrast: SE", cc["std_error"].iloc[0], r["std_error"], source=SOURCE, atol=TOL)
    ic = fit.interaction_contrasts(["ARMCD", "AVISIT"], ("trt.vs.ctrl", "consec"), ref="PBO")
    r = reference["interaction"]
    assert list(ic["AVISIT_contrast"]) == r["label"] and set(ic["ARMCD_contrast"]) == {"TRT - PBO"}
    with ledger.Batch() as b:
        for i, label in enumerate(r["label"]):
            b.check(
                f"interaction (TRT - PBO) x ({label})",
                ic["estimate"].iloc[i],
                r["estimate"][i],
                source=SOURCE,
                atol=TOL,
            )
            b.check(f"interaction ({label}): SE", ic["std_error"].iloc[i], r["std_error"][i], source=SOURCE, atol=TOL)
    # the interaction contrast is the difference of the per-visit contrasts
    per_visit = fit.contrasts("ARMCD", by="AVISIT", method="trt.vs.ctrl", ref="PBO")["estimate"].to_numpy()
    assert np.allclose(ic["estimate"], np.diff(per_visit), atol=1e-10)


def test_bad_weights_and_combinations_are_named(fit):
    with pytest.raises(ModelError, match="weights='balanced': use one of equal, proportional"):
        fit.lsmeans("ARMCD", by="AVISIT", weights="balanced")
    with pytest.raises(ModelError, match=r"'TRT x VIS9' is not a combination of ARMCD x AVISIT"):
        fit.custom_contrasts(["ARMCD", "AVISIT"], {"x": {("TRT", "VIS9"): 1.0}})
    with pytest.raises(ModelError, match="contrast method 'poly'"):
        fit.interaction_contrasts(["ARMCD", "AVISIT"], ("trt.vs.ctrl", "poly"))
    with pytest.raises(ModelError, match="two or more factors"):
        fit.interaction_contrasts(["ARMCD"], ("trt.vs.ctrl",))


def test_weights_need_the_rows_of_the_fit(tmp_path, shared):
    """A model fitted on a Parquet file read in chunks keeps no rows: only equal weights."""
    d = pd.read_csv(shared / "mmrm_fev_bcva" / "fev_data.csv")
    d = d[d["FEV1"].notna()].sort_values(["USUBJID", "AVISIT"])
    path = tmp_path / "fev.parquet"
    d.to_parquet(path, index=False)
    streamed = mmrm(FORMULA, path)
    assert np.isfinite(streamed.lsmeans("ARMCD", by="AVISIT")["estimate"]).all()
    with pytest.raises(ModelError, match="needs the rows the model was fitted on"):
        streamed.lsmeans("ARMCD", by="AVISIT", weights="proportional")


def test_compare_arms_passes_the_lsmean_weights():
    import painstudy

    cohort = painstudy.load_cohort("demo")
    kw = dict(adjust_for=["baseline", "condition"])
    equal = painstudy.compare_arms(cohort, ["pain"], **kw)
    prop = painstudy.compare_arms(cohort, ["pain"], lsmeans_weights="proportional", **kw)
    fit = prop.fits["pain"]
    direct = fit.lsmeans("arm", by="visit", weights="proportional")
    assert np.allclose(prop.lsmeans["estimate"], direct["estimate"], atol=1e-12)
    assert not np.allclose(prop.lsmeans["estimate"], equal.lsmeans["estimate"])
    assert np.allclose(prop.table["estimate"], equal.table["estimate"], atol=1e-12)  # differences unchanged
