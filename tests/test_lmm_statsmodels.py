"""painstudy.lmm against statsmodels MixedLM (a second, independent implementation; slower and less precise
at its optimum, so variance components are compared to 1e-3 relative).

statsmodels call: ``smf.mixedlm("y ~ arm * week + baseline", d, groups=d["subject"], re_formula="~week")
.fit(reml=..., method=["lbfgs"])``; ``-2 * llf`` is the -2 (REML or ML) log-likelihood with full constant.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from painstudy.models.mixed.lmm import lmm

sm_formula = pytest.importorskip("statsmodels.formula.api")


def _simulate(n=150, seed=11):
    rng = np.random.default_rng(seed)
    wk = np.array([0.0, 1.0, 3.0, 6.0])
    arm = rng.permutation(np.repeat(["A", "B"], n // 2))
    base = rng.normal(6, 1.5, n)
    b = rng.multivariate_normal([0, 0], [[2.0, 0.1], [0.1, 0.09]], n)
    rows = []
    for i in range(n):
        for w in wk:
            if w > 0 and rng.random() < 0.15:
                continue
            rows.append(
                {
                    "subject": f"p{i}",
                    "arm": arm[i],
                    "week": w,
                    "baseline": base[i],
                    "y": 1 + 0.5 * base[i] + b[i, 0] + (b[i, 1] - 0.25 * (arm[i] == "B")) * w + rng.normal(0, 1.0),
                }
            )
    return pd.DataFrame(rows)


def _statsmodels(d, reml):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm_formula.mixedlm("y ~ arm * week + baseline", d, groups=d["subject"], re_formula="~week").fit(
            reml=reml, method=["lbfgs"]
        )


@pytest.mark.parametrize("reml", [True, False])
def test_matches_statsmodels_mixedlm(reml):
    d = _simulate()
    sm = _statsmodels(d, reml)
    res = lmm("y ~ arm * week + baseline + (1 + week | subject)", d, reml=reml)
    assert res.neg2_log_lik == pytest.approx(-2 * sm.llf, abs=1e-5)
    names = {
        "Intercept": "(Intercept)",
        "arm[T.B]": "armB",
        "week": "week",
        "baseline": "baseline",
        "arm[T.B]:week": "armB:week",
    }
    for k, v in names.items():
        assert res.coefficients.loc[v, "estimate"] == pytest.approx(sm.fe_params[k], rel=1e-4, abs=1e-6)
        # (statsmodels' bse_fe come from the joint information of all parameters, not (X'V^-1X)^-1, so
        # standard errors are compared with lme4 in test_lmm_reference.py instead)
    vc = res.varcorr
    var = vc[vc.term2.isna() & (vc.group == "subject")].set_index("term1")["variance"]
    cov = vc[vc.term2.notna()]["variance"].iloc[0]
    assert var["(Intercept)"] == pytest.approx(sm.cov_re.iloc[0, 0], rel=1e-3)
    assert var["week"] == pytest.approx(sm.cov_re.iloc[1, 1], rel=1e-3)
    assert cov == pytest.approx(sm.cov_re.iloc[0, 1], rel=1e-3, abs=1e-4)
    assert res.sigma**2 == pytest.approx(sm.scale, rel=1e-3)


def test_matches_statsmodels_on_reference_data():
    d = pd.read_csv(Path(__file__).parent / "reference" / "data" / "sim_lmm_b.csv")
    d["arm"] = pd.Categorical(d["arm"], categories=["UC", "INT", "PT"])
    sm = _statsmodels(d, True)
    res = lmm("y ~ arm * week + baseline + (1 + week | subject)", d)
    assert res.neg2_log_lik == pytest.approx(-2 * sm.llf, abs=1e-5)


def test_vickers2004_random_intercept_matches_statsmodels(shared):
    # Vickers 2004 headache score at baseline, 3 and 12 months (long format), random intercept per patient.
    # statsmodels: smf.mixedlm("pk ~ arm * month", long, groups=long["id"]).fit(reml=True)
    w = pd.read_csv(shared / "vickers2004_acupuncture_headache" / "acupuncture_headache.csv")
    long = pd.concat(
        [
            w[["id", "group", f"pk{k}"]].rename(columns={f"pk{k}": "pk"}).assign(month=m)
            for k, m in (("1", 0.0), ("2", 3.0), ("5", 12.0))
        ]
    )
    long = long.dropna(subset=["pk"]).sort_values(["id", "month"]).reset_index(drop=True)
    long["arm"] = np.where(long["group"] == 1, "acupuncture", "usual_care")
    res = lmm("pk ~ arm * month + (1 | id)", long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = sm_formula.mixedlm("pk ~ arm * month", long, groups=long["id"]).fit(reml=True)
    assert res.n_groups == {"id": 401}
    assert res.neg2_log_lik == pytest.approx(-2 * sm.llf, abs=1e-5)
    names = {
        "Intercept": "(Intercept)",
        "arm[T.usual_care]": "armusual_care",
        "month": "month",
        "arm[T.usual_care]:month": "armusual_care:month",
    }
    for k, v in names.items():
        assert res.coefficients.loc[v, "estimate"] == pytest.approx(sm.fe_params[k], rel=1e-4)
    var = res.varcorr.set_index("group")["variance"]
    assert var["id"] == pytest.approx(sm.cov_re.iloc[0, 0], rel=1e-3)
    assert var["Residual"] == pytest.approx(sm.scale, rel=1e-3)
