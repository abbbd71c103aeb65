"""MMRM against R references (tests/reference/mmrm_ref_*.json, written by tests/reference/mmrm_reference.R).

Each fit in those files says which R call produced it (``r_call``: nlme::gls with corSymm/varIdent etc.,
glmmTMB, or the script's handwritten dense REML/ML likelihood + optim; Satterthwaite df from that
handwritten likelihood at its optimum; Kenward-Roger from pbkrtest internals).  Every compared number goes
through ``ledger`` with the JSON file as its source (the validation report lists them).  Required agreement:
at least 4 significant digits (relative 1e-4) for -2 log-likelihood, covariance, coefficients, SEs, df,
LS means and contrasts.  glmmTMB fits fix the residual variance at a tiny value (``dispformula = ~0``), so
only their -2LL and covariance are compared, to 1e-4 relative as well.
"""

from __future__ import annotations

import json
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.models.mixed.mmrm import mmrm

REFDIR = Path(__file__).parent / "reference"
ROOT = Path(__file__).resolve().parents[1]
RTOL = 1e-4


def _load_fits():
    out = []
    for fn in sorted(REFDIR.glob("mmrm_ref_*.json")):
        doc = json.loads(fn.read_text())
        for f in doc["fits"]:
            out.append(pytest.param({**f, "source": f"tests/reference/{fn.name}"}, id=f["id"]))
    return out


FITS = _load_fits()
_DATA_CACHE: dict = {}


def _prepare_chow(path: Path) -> pd.DataFrame:
    # data_prep of the Chow fits: baseline rows (time 1) removed; vas_bl = the subject's time-1 vas
    raw = pd.read_csv(path, dtype={"laser": str, "time": str})
    bl = raw[raw.time == "1"].set_index("id")["vas"]
    d = raw[raw.time != "1"].copy()
    d["vas_bl"] = d["id"].map(bl)
    return d.sort_values(["id", "time"]).reset_index(drop=True)


def _data(fit, shared: Path) -> pd.DataFrame:
    src = fit["data"]
    if src not in _DATA_CACHE:
        path = shared / src.split(":", 1)[1] if src.startswith("shared:") else ROOT / src
        if "chow2006" in src:
            d = _prepare_chow(path)
        else:
            d = pd.read_csv(path)
        _DATA_CACHE[src] = d
    d = _DATA_CACHE[src].copy()
    for col, levels in (fit.get("factor_levels") or {}).items():
        d[col] = pd.Categorical(d[col].astype(str), categories=[str(x) for x in levels])
    return d


SCALED = f"{RTOL:g} x max(|estimate|, SE)"


def _close(quantity, ours, ref, source, rtol=RTOL, scale=None):
    """``|ours - ref| <= rtol * max(scale, 1e-12)`` (scale ``|ref|`` by default), recorded in the ledger."""
    if scale is None:  # rtol * max(|ref|, 1e-12)
        ledger.check(
            quantity,
            ours,
            ref,
            rtol=rtol if abs(ref) >= 1e-12 else 0.0,
            atol=0.0 if abs(ref) >= 1e-12 else rtol * 1e-12,
            source=source,
        )
    else:
        ledger.check(quantity, ours, ref, atol=rtol * max(scale, 1e-12), source=source, note=SCALED)


_FIT_CACHE: dict = {}


@pytest.mark.parametrize("ref", FITS)
def test_against_r(ref, shared):
    key = (ref["data"], ref["formula"], ref["reml"], json.dumps(ref.get("factor_levels"), sort_keys=True))
    if key not in _FIT_CACHE:  # several R engines share one painstudy fit
        _FIT_CACHE[key] = mmrm(ref["formula"], _data(ref, shared), reml=ref["reml"], df="satterthwaite")
    fit = _FIT_CACHE[key]
    src, fid = ref["source"], ref["id"]
    ledger.check_equal(f"{fid} n_obs", fit.n_obs, ref["n_obs"], source=src)
    ledger.check_equal(f"{fid} n_subjects", fit.n_subjects, ref["n_subjects"], source=src)
    # -2 log-likelihood (R logLik convention, full constant)
    _close(f"{fid} -2 log-likelihood", fit.neg2_log_lik, ref["neg2_log_lik"], src, rtol=1e-6)
    if not ref["converged"]:
        # R reports non-convergence (glmmTMB "false convergence" on bcva, sima, simb us): its estimates
        # are not a reference; only its -2LL (checked above) is compared.
        return
    # covariance matrix (relative to its largest element)
    vis = ref["covariance"]["visits"]
    cov = np.array(ref["covariance"]["matrix"], float)
    ours = fit.covariance.loc[vis, vis].to_numpy()
    ledger.check(
        f"{fid} covariance",
        ours,
        cov,
        atol=RTOL * np.abs(cov).max(),
        source=src,
        labels=[f"{a}, {b}" for a in vis for b in vis],
        note=f"{RTOL:g} x the largest element",
    )
    if ref["engine"] == "glmmTMB":
        return
    coefs = fit.coefficients
    # nlme::gls with method="ML" inflates its reported SEs by sqrt(N / (N - p)); the reference files
    # either already undo that (their "notes" say so) or still carry nlme's values.
    se_scale = 1.0
    if ref["engine"] == "nlme::gls" and not ref["reml"] and "sqrt((N - p) / N)" not in (ref.get("notes") or ""):
        se_scale = np.sqrt((fit.n_obs - len(fit.coefficients)) / fit.n_obs)
    for c in ref["coefficients"]:
        r = coefs.loc[c["term"]]
        q = f"{fid} coefficient {c['term']}"
        _close(f"{q} estimate", r["estimate"], c["estimate"], src, scale=max(abs(c["estimate"]), c["std_error"]))
        _close(f"{q} std_error", r["std_error"], c["std_error"] * se_scale, src)
        if ref["df_method"] == "satterthwaite" and c.get("df") is not None:
            _close(f"{q} df", r["df"], c["df"], src)
    if ref.get("lsmeans"):
        keys = [k for k in ref["lsmeans"][0] if k not in ("estimate", "std_error", "df", "emmeans_df")]
        ls = fit.lsmeans(keys[0], by=keys[1:] or None)
        for row in ref["lsmeans"]:
            sel = np.ones(len(ls), bool)
            for k in keys:
                sel &= ls[k].astype(str).to_numpy() == str(row[k])
            r = ls[sel].iloc[0]
            q = f"{fid} LS mean " + " ".join(str(row[k]) for k in keys)
            _close(
                f"{q} estimate", r["estimate"], row["estimate"], src, scale=max(abs(row["estimate"]), row["std_error"])
            )
            _close(f"{q} std_error", r["std_error"], row["std_error"] * se_scale, src)
            if row.get("df") is not None:
                _close(f"{q} df", r["df"], row["df"], src)
    if ref.get("contrasts"):
        _check_contrasts(fit, ref["contrasts"], check_df=True, se_scale=se_scale, what=fid, source=src)


def _check_contrasts(fit, rows, check_df, se_scale=1.0, *, what, source):
    by = list(rows[0]["by"].keys())
    lv = rows[0]["contrast"].split(" - ")
    spec, prefix = None, ""
    for k, levels in fit._info.factors.items():
        if k in by:
            continue
        if lv[1] in [str(x) for x in levels]:
            spec = k
        elif lv[1] in [f"{k}{x}" for x in levels]:  # emmeans labels like "laser1 - laser2"
            spec, prefix = k, k
    ref_level = lv[1][len(prefix) :]
    con = fit.contrasts(spec, by=by or None, method="trt.vs.ctrl", ref=ref_level)
    for row in rows:
        a, b = row["contrast"].split(" - ")
        sel = con.contrast.to_numpy() == f"{a[len(prefix) :]} - {b[len(prefix) :]}"
        for k, v in row["by"].items():
            sel &= con[k].astype(str).to_numpy() == str(v)
        r = con[sel].iloc[0]
        q = f"{what} contrast {row['contrast']} at " + ", ".join(f"{k} {v}" for k, v in row["by"].items())
        _close(
            f"{q} estimate", r["estimate"], row["estimate"], source, scale=max(abs(row["estimate"]), row["std_error"])
        )
        _close(f"{q} std_error", r["std_error"], row["std_error"] * se_scale, source)
        if check_df and row.get("df") is not None:
            _close(f"{q} df", r["df"], row["df"], source)


KR_FITS = [p for p in FITS if p.values[0].get("kenward_roger")]


@pytest.mark.parametrize("ref", KR_FITS)
def test_kenward_roger_against_pbkrtest(ref, shared):
    # pbkrtest (linear covariance parametrisation, no second-derivative term) -> kenward-roger-linear;
    # pbkrtest takes the covariance of the covariance parameters from the *expected* information, so
    # the comparison uses control={"information": "expected"} (the default, observed information, is
    # what SAS PROC MIXED and R mmrm use; it gives different KR df, see test_mmrm_api.py).
    d = _data(ref, shared)
    fit = mmrm(ref["formula"], d, reml=ref["reml"], df="kenward-roger-linear", control={"information": "expected"})
    kr = ref["kenward_roger"]
    what = f"{ref['id']} Kenward-Roger (pbkrtest)"
    for c in kr["coefficients"]:
        r = fit.coefficients.loc[c["term"]]
        _close(f"{what} coefficient {c['term']} std_error", r["std_error"], c["std_error"], ref["source"])
        _close(f"{what} coefficient {c['term']} df", r["df"], c["df"], ref["source"])
    if kr.get("contrasts"):
        _check_contrasts(fit, kr["contrasts"], check_df=True, what=what, source=ref["source"])


SANDWICH = REFDIR / "mmrm_sandwich_fev.json"


@pytest.mark.skipif(not SANDWICH.exists(), reason="tests/reference/mmrm_sandwich_fev.json not generated yet")
def test_sandwich_against_clubsandwich(shared):
    # clubSandwich::coef_test(gls us fit, vcov = "CR0"/"CR2", test = "Satterthwaite") (see the JSON's r_call):
    # CR0 -> vcov="empirical", CR2 -> vcov="empirical-bc"; SE and Bell-McCaffrey df to 1e-4 relative
    ref = json.loads(SANDWICH.read_text())
    d = _data(ref, shared)
    for f in ref["fits"]:
        fit = mmrm(ref["formula"], d, vcov=f["painstudy_vcov"], df="satterthwaite")
        for c in f["coefficients"]:
            r = fit.coefficients.loc[c["term"]]
            q = f"fev us REML clubSandwich {f['vcov']} coefficient {c['term']}"
            src = "tests/reference/mmrm_sandwich_fev.json"
            _close(f"{q} estimate", r["estimate"], c["estimate"], src, scale=max(abs(c["estimate"]), c["std_error"]))
            _close(f"{q} std_error", r["std_error"], c["std_error"], src)
            _close(f"{q} df", r["df"], c["df"], src)
