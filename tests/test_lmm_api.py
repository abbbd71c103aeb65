"""painstudy.lmm: formula syntax, errors, LS means / trends, predictions, BLUPs, residual structures.

Numbers checked here come from independent computations written in the test (dense-matrix likelihoods,
the coefficient table itself) -- never from painstudy's own earlier output.  R references are in
tests/test_lmm_reference.py.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import painstudy
from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.models.mixed.lmm import LMMResult, lmm, parse_lmm_formula

DATA = Path(__file__).parent / "reference" / "data"
F = "y ~ arm * week + baseline + (1 + week | subject)"


@pytest.fixture(scope="module")
def sim_a() -> pd.DataFrame:
    d = pd.read_csv(DATA / "sim_lmm_a.csv")
    d["arm"] = pd.Categorical(d["arm"], categories=["CTL", "INT"])
    return d


@pytest.fixture(scope="module")
def fit_a(sim_a) -> LMMResult:
    return lmm(F, sim_a)


# ----------------------------------------------------------------------------------------------
# formula


def test_parse_random_terms():
    f = parse_lmm_formula("y ~ arm * week + (1 | site) + (1 + week | subject)")
    assert [(t.group, t.intercept, t.slopes) for t in f.random] == [
        (("site",), True, ()),
        (("subject",), True, ("week",)),
    ]
    assert f.fixed.terms == (("arm",), ("week",), ("arm", "week"))
    assert f.residual is None
    # (week | s) has an intercept, as in lme4; (0 + week | s) has none
    assert parse_lmm_formula("y ~ week + (week | s)").random[0].intercept
    assert not parse_lmm_formula("y ~ week + (0 + week | s)").random[0].intercept
    assert not parse_lmm_formula("y ~ week + (week - 1 | s)").random[0].intercept
    with pytest.raises(ModelError, match="not supported"):
        parse_lmm_formula("y ~ week + (1 + log(week) | s)")
    # site/subject = site + site:subject; || = uncorrelated terms
    nested = parse_lmm_formula("y ~ 1 + (1 | site/subject)").random
    assert [t.group for t in nested] == [("site",), ("site", "subject")]
    unc = parse_lmm_formula("y ~ week + (1 + week || subject)").random
    assert [(t.intercept, t.slopes) for t in unc] == [(True, ()), (False, ("week",))]
    # the residual structure is kept (SAS RANDOM + REPEATED)
    r = parse_lmm_formula("y ~ week + (1 | subject) + ar1(visit | subject)").residual
    assert (r.structure, r.visit, r.subject) == ("ar1", "visit", "subject")


def test_public_api_lazy():
    assert painstudy.lmm is lmm


# ----------------------------------------------------------------------------------------------
# errors a user can cause


def test_errors_name_the_problem(sim_a):
    with pytest.raises(ModelError, match="no random term"):
        lmm("y ~ arm * week", sim_a)
    with pytest.raises(ModelError, match="'weeks'.*not in the data"):
        lmm("y ~ arm + (1 + weeks | subject)", sim_a)
    with pytest.raises(ModelError, match="random slopes must be on numeric columns"):
        lmm("y ~ week + (1 + arm | subject)", sim_a)
    bad = sim_a.assign(y=sim_a["y"].astype(str))
    with pytest.raises(ModelError, match="'y': the outcome must be numeric"):
        lmm(F, bad)
    with pytest.raises(ModelError, match="df='between'"):
        lmm(F, sim_a, df="between")
    with pytest.raises(ModelError, match="kenward-roger.*REML"):
        lmm(F, sim_a, reml=False, df="kenward-roger")
    with pytest.raises(ModelError, match="not identifiable"):
        lmm("y ~ week + (1 | row)", sim_a.assign(row=np.arange(len(sim_a))))
    with pytest.raises(ModelError, match="'subject'.*missing grouping value"):
        lmm(F, sim_a.assign(subject=sim_a["subject"].where(sim_a.index != 3)))


def test_missing_outcomes_are_dropped_and_counted(sim_a):
    d = sim_a.copy()
    d.loc[[1, 7, 30], "y"] = np.nan
    res = lmm(F, d)
    assert res.n_rows_dropped == 3
    assert res.n_obs == len(d) - 3


# ----------------------------------------------------------------------------------------------
# result object


def test_result_is_immutable_and_renders(fit_a):
    with pytest.raises(Exception):
        fit_a.neg2_log_lik = 0.0
    html = fit_a._repr_html_()
    assert "Fixed effects" in html and "Random effects" in html and "armINT:week" in html
    assert "armINT:week" in fit_a.summary()
    json.dumps(fit_a.to_dict())
    assert list(fit_a.coefficients.columns) == [
        "estimate",
        "std_error",
        "df",
        "statistic",
        "p_value",
        "ci_lower",
        "ci_upper",
    ]
    assert list(fit_a.varcorr.columns) == ["group", "term1", "term2", "variance", "sd", "corr"]
    assert fit_a.n_groups == {"subject": 300}
    assert fit_a.converged and not fit_a.singular


def test_trends_are_slopes_per_arm(fit_a):
    # emtrends(fit, ~ arm, var = "week"): CTL slope = b_week, INT slope = b_week + b_armINT:week
    co = fit_a.coefficients
    tr = fit_a.trends("week", by="arm").set_index("arm")
    assert tr.loc["CTL", "estimate"] == pytest.approx(co.loc["week", "estimate"], rel=1e-10)
    assert tr.loc["INT", "estimate"] == pytest.approx(
        co.loc["week", "estimate"] + co.loc["armINT:week", "estimate"], rel=1e-10
    )
    assert tr.loc["CTL", "std_error"] == pytest.approx(co.loc["week", "std_error"], rel=1e-10)
    diff = fit_a.trend_contrasts("week", by="arm", method="trt.vs.ctrl")
    assert diff["contrast"].tolist() == ["INT - CTL"]
    for col in ("estimate", "std_error", "df", "p_value"):
        assert diff[col].iloc[0] == pytest.approx(co.loc["armINT:week", col], rel=1e-8)
    pw = fit_a.trend_contrasts("week", by="arm")
    assert pw["estimate"].iloc[0] == pytest.approx(-co.loc["armINT:week", "estimate"], rel=1e-10)


def test_lsmeans_at_a_week(fit_a, sim_a):
    # LS mean of arm at week 12, baseline at its mean: x'beta by hand
    co = fit_a.coefficients["estimate"]
    mb = sim_a["baseline"].mean()
    ls = fit_a.lsmeans("arm", at={"week": 12}).set_index("arm")
    ctl = co["(Intercept)"] + 12 * co["week"] + mb * co["baseline"]
    intv = ctl + co["armINT"] + 12 * co["armINT:week"]
    assert ls.loc["CTL", "estimate"] == pytest.approx(ctl, rel=1e-10)
    assert ls.loc["INT", "estimate"] == pytest.approx(intv, rel=1e-10)
    c = fit_a.contrasts("arm", method="trt.vs.ctrl", at={"week": 12})
    assert c["estimate"].iloc[0] == pytest.approx(intv - ctl, rel=1e-10)
    with pytest.raises(ModelError, match="not numeric covariates"):
        fit_a.lsmeans("arm", at={"arm": "INT"})


def test_anova_single_df_terms_match_t_tests(fit_a):
    # a 1-df type III F test equals the squared t statistic with the same Satterthwaite df
    an = fit_a.anova()
    co = fit_a.coefficients
    assert an.loc["arm:week", "statistic"] == pytest.approx(co.loc["armINT:week", "statistic"] ** 2, rel=1e-8)
    assert an.loc["arm:week", "den_df"] == pytest.approx(co.loc["armINT:week", "df"], rel=1e-8)
    assert an.loc["baseline", "num_df"] == 1


def test_predict_population_and_subject(fit_a, sim_a):
    co = fit_a.coefficients["estimate"]
    row = sim_a.iloc[[7]]
    pop = fit_a.predict(row).iloc[0]
    x = (
        co["(Intercept)"]
        + co["armINT"] * (row.arm.iloc[0] == "INT")
        + co["week"] * row.week.iloc[0]
        + co["baseline"] * row.baseline.iloc[0]
        + co["armINT:week"] * (row.arm.iloc[0] == "INT") * row.week.iloc[0]
    )
    assert pop == pytest.approx(x, rel=1e-10)
    b = fit_a.ranef().loc[row.subject.iloc[0]]
    subj = fit_a.predict(row, level="subject").iloc[0]
    assert subj == pytest.approx(x + b["(Intercept)"] + b["week"] * row.week.iloc[0], rel=1e-10)
    new = row.assign(subject="never-seen")
    assert fit_a.predict(new, level="subject").iloc[0] == pytest.approx(pop, rel=1e-12)
    with pytest.raises(ModelError, match="level="):
        fit_a.predict(row, level="site")


def test_blups_are_conditional_means(fit_a, sim_a):
    # b_i = D Z_i' V_i^-1 (y_i - X_i beta) for one subject, by dense algebra
    s = sim_a["subject"].iloc[0]
    di = sim_a[sim_a.subject == s]
    vc = fit_a.varcorr
    sd = vc[vc.term2.isna() & (vc.group == "subject")].set_index("term1")["variance"]
    cov = vc[vc.term2.notna()]["variance"].iloc[0]
    D = np.array([[sd["(Intercept)"], cov], [cov, sd["week"]]])
    Z = np.column_stack([np.ones(len(di)), di.week])
    V = Z @ D @ Z.T + fit_a.sigma**2 * np.eye(len(di))
    r = di.y.to_numpy() - fit_a.predict(di).to_numpy()
    b = D @ Z.T @ np.linalg.solve(V, r)
    np.testing.assert_allclose(fit_a.ranef().loc[s].to_numpy(), b, rtol=1e-8)


def test_fast_and_general_engines_agree(sim_a):
    a = lmm(F, sim_a)
    b = lmm(F, sim_a, control={"dense": True})
    assert a.neg2_log_lik == pytest.approx(b.neg2_log_lik, abs=1e-7)
    np.testing.assert_allclose(a.coefficients["df"], b.coefficients["df"], rtol=1e-5)


def test_nested_ids_repeated_across_sites():
    # ids 1..k restart in every site: (1 | site) + (1 | site:subject) must equal the fit with unique ids
    rng = np.random.default_rng(7)
    rows = []
    for s in range(6):
        u = rng.normal(0, 0.7)
        for i in range(12):
            b = rng.normal(0, 1.0)
            for w in (0, 4, 8):
                rows.append(
                    {
                        "site": f"s{s}",
                        "subject": i,
                        "uid": f"s{s}-{i}",
                        "week": w,
                        "y": 3 + u + b - 0.2 * w + rng.normal(0, 0.6),
                    }
                )
    d = pd.DataFrame(rows)
    a = lmm("y ~ week + (1 | site) + (1 | site:subject)", d)
    b = lmm("y ~ week + (1 | site) + (1 | uid)", d)
    c = lmm("y ~ week + (1 | site/subject)", d)
    assert a.n_groups == {"site": 6, "site:subject": 72}
    assert a.neg2_log_lik == pytest.approx(b.neg2_log_lik, abs=1e-7)
    assert c.neg2_log_lik == pytest.approx(b.neg2_log_lik, abs=1e-7)


def test_singular_fit_is_reported(shared):
    # Chow 2006: corr(intercept, slope) is estimated at 1 (lme4: isSingular TRUE)
    d = pd.read_csv(shared / "chow2006_laser_neck_pain" / "neck_pain.csv")
    d["laser"] = pd.Categorical(d["laser"].astype(str), categories=["2", "1"])
    d["time_num"] = np.array([0.0, 7.0, 12.0])[d["time"] - 1]
    with pytest.warns(ConvergenceWarning, match="singular fit"):
        res = lmm("vas ~ laser * time_num + (1 + time_num | id)", d)
    assert res.singular and "singular fit" in res.notes


# ----------------------------------------------------------------------------------------------
# random effects + residual structure (SAS RANDOM + REPEATED)


def _dense_reml_ar1(groups, p: int, n: int, par) -> float:
    """-2 REML log-likelihood of (1 + week | subject) + ar1 over visit ranks, by dense per-subject algebra
    (subjects stacked by number of visits)."""
    l11, l21, l22, ls2, rho_t = par
    Lm = np.array([[l11, 0.0], [l21, l22]])
    D = Lm @ Lm.T
    s2, rho = np.exp(ls2), np.tanh(rho_t)
    ld, XVX, XVy, yVy = 0.0, np.zeros((p, p)), np.zeros(p), 0.0
    for Z, K, Xg, yg in groups:
        V = Z @ D @ np.swapaxes(Z, 1, 2) + s2 * rho ** np.abs(K[:, :, None] - K[:, None, :])
        Vi = np.linalg.inv(V)
        ld += np.linalg.slogdet(V)[1].sum()
        XVX += np.einsum("kna,knm,kmb->ab", Xg, Vi, Xg)
        XVy += np.einsum("kna,knm,km->a", Xg, Vi, yg)
        yVy += np.einsum("kn,knm,km->", yg, Vi, yg)
    b = np.linalg.solve(XVX, XVy)
    return ld + yVy - XVy @ b + np.linalg.slogdet(XVX)[1] + (n - p) * np.log(2 * np.pi)


def test_random_slope_with_ar1_residual_matches_dense_likelihood(sim_a):
    d = sim_a.iloc[:400].copy()  # 80 subjects x 5 visits
    d = d.drop(index=d.index[5::7]).reset_index(drop=True)  # unbalanced
    d["visit"] = pd.Categorical("W" + d.week.astype(int).astype(str).str.zfill(2))
    d["visit_rank"] = d["visit"].cat.codes
    res = lmm("y ~ arm * week + baseline + (1 + week | subject) + ar1(visit | subject)", d)
    X = np.column_stack([np.ones(len(d)), (d.arm == "INT"), d.week, d.baseline, (d.arm == "INT") * d.week]).astype(
        float
    )
    groups = []
    size = d.groupby("subject")["y"].transform("size").to_numpy()
    for k in np.unique(size):
        idx = np.flatnonzero(size == k).reshape(-1, k)  # rows are sorted by subject
        w = d.week.to_numpy()[idx]
        groups.append(
            (
                np.stack([np.ones_like(w), w], axis=2),
                d.visit_rank.to_numpy()[idx].astype(float),
                X[idx],
                d.y.to_numpy()[idx],
            )
        )
    ref = optimize.minimize(
        lambda p: _dense_reml_ar1(groups, X.shape[1], len(d), p),
        [1.0, 0.0, 0.1, np.log(0.6), 0.1],
        method="Nelder-Mead",
        options={"maxiter": 4000, "xatol": 1e-9, "fatol": 1e-11},
    )
    assert res.neg2_log_lik == pytest.approx(ref.fun, abs=1e-5)
    assert res.neg2_log_lik <= ref.fun + 1e-8  # our optimum is at least as good
    resid = res.varcorr[res.varcorr.group == "Residual"].set_index("term1")["variance"]
    assert resid["AR(1)"] == pytest.approx(np.tanh(ref.x[4]), abs=2e-3)
    assert resid["Variance"] == pytest.approx(np.exp(ref.x[3]), rel=2e-3)


def _crossed(seed=3):
    rng = np.random.default_rng(seed)
    rows = []
    u = rng.normal(0, 0.8, 8)  # raters, crossed with subjects
    for i in range(40):
        b = rng.normal(0, 1.0)
        for w in (0, 2, 4):
            r = rng.integers(0, 8)
            rows.append(
                {"subject": f"p{i}", "rater": f"r{r}", "week": w, "y": 2 + b + u[r] - 0.3 * w + rng.normal(0, 0.5)}
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "formula", ["y ~ week + (1 | rater) + (1 + week | subject)", "y ~ week + (1 + week || subject)"]
)
def test_blockwise_and_dense_engines_agree(formula):
    # the Schur-complement engine (crossed subject x rater) and the dense block engine are two independent
    # evaluations of the same likelihood
    d = _crossed()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a slope variance may sit at 0 here
        a = lmm(formula, d)
        b = lmm(formula, d, control={"dense": True})
    assert a.neg2_log_lik == pytest.approx(b.neg2_log_lik, abs=1e-6)
    np.testing.assert_allclose(a.coefficients["estimate"], b.coefficients["estimate"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(a.coefficients["df"], b.coefficients["df"], rtol=1e-3)


def test_optimizer_fallback_reaches_the_same_optimum(sim_a, fit_a):
    # L-BFGS-B cut short (2 iterations): the Newton polish / Nelder-Mead fallback must still find the optimum
    res = lmm(F, sim_a, control={"maxiter": 2, "newton_steps": 0})
    assert res.converged
    assert "Nelder-Mead + L-BFGS-B" in [t["method"] for t in res.optimizer["optimizers"]]
    assert res.neg2_log_lik == pytest.approx(fit_a.neg2_log_lik, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# bad values, numerical failures, rendering


@pytest.mark.parametrize("column, value", [("y", np.inf), ("week", -np.inf), ("baseline", 1e300)])
def test_non_finite_values_name_column_and_row(sim_a, column, value):
    d = sim_a.astype({column: float})
    d.loc[11, column] = value
    with pytest.raises(ModelError, match=rf"column '{column}', row 11: value .* is not a finite number"):
        lmm(F, d)


def test_linear_algebra_failure_becomes_model_error(sim_a, monkeypatch):
    import painstudy.models.mixed.lmm as L

    def boom(*args, **kwargs):
        raise FloatingPointError("overflow encountered in exp")

    monkeypatch.setattr(L, "fit_variance", boom)
    with pytest.raises(ModelError, match=r"lmm: the fit failed numerically \(FloatingPointError: overflow"):
        lmm(F, sim_a)


def test_rendering_and_nonconvergence(sim_a, fit_a):
    t = fit_a.tidy()
    assert t.title == f"Linear mixed model: {F}"
    assert [name for name, _ in t.tables] == ["Fixed effects", "Random effects"]
    assert fit_a.to_frame("Random effects").equals(fit_a.varcorr)
    assert "NOT CONVERGED" not in fit_a.summary()
    # a Newton-free, 1-iteration L-BFGS-B without fallback cannot converge from the start values
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        bad = lmm(F, sim_a.iloc[:120], control={"maxiter": 1, "newton_steps": 0, "fallback": False})
    assert not bad.converged and "not converged" in bad.notes
    assert bad.summary().startswith("NOT CONVERGED: Linear mixed model")
    assert "NOT CONVERGED: Fixed effects" in bad._repr_html_()
