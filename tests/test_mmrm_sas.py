"""MMRM on fev_data against SAS PROC MIXED: every number of the three listings (issues 3 and 10).

Source: the listings kept byte for byte in ``../shared/references/mmrm_sas/`` (see the README there), read
as printed by :mod:`painstudy.reproduce.sas_listing`:

- ``sas_log_reml.txt``: ``MODEL FEV1 = ARMCD AVISIT ARMCD*AVISIT RACE SEX / ddfm=satterthwaite solution chisq;
  REPEATED AVISIT / subject=USUBJID type=un r rcorr; LSMEANS AVISIT*ARMCD / pdiff=all cl slice=AVISIT``, REML,
  reference levels PBO, VIS1, Asian, Male (``ref=``);
- ``sas_log.txt``: the same model by ML (no LSMEANS);
- ``sas_log_simple_reml.txt``: ``MODEL FEV1 = ``, intercept only, REML.

SAS numbers the unstructured covariance parameters UN(i,j) in its class order of AVISIT, VIS2 VIS3 VIS4 VIS1
(``ref = 'VIS1'`` puts VIS1 last; Class Level Information), read from the listing.

Two comparisons per listing, each number to the listing's printed precision (half a unit of its last digit):

1. **painstudy's own fit** (``test_fit_*``). SAS stops short of the optimum: its -2 log-likelihood (printed with
   8 decimals in the Iteration History) is 6.1e-6 (REML), 3.7e-6 (ML) and 6.4e-6 (intercept only) above ours.
   For REML and ML, nlme::gls and the handwritten R likelihood of ``tests/reference/mmrm_reference.R`` reach
   ours to 3e-7 (test_mmrm_reference.py); the intercept-only model has no R reference, but painstudy's gradient
   there is 1e-13 and 1e-3 at SAS's printed covariance. In the flat directions of the likelihood this moves
   SAS's covariance estimates by up to 0.024 and its other numbers by a few units of their last printed digit
   (up to 0.5 in a df printed as an integer, 0.013 in a t value printed with 2 decimals). The tables
   where some number differs for this reason are strict xfails citing it (``SAS_NOT_AT_OPTIMUM``); the
   comparisons of the former hand transcription keep their tolerances (covariance elements 2e-3 or 4e-4
   relative, estimates and SEs 1.5e-4, df equal after rounding, F to 2 decimals, -2LL 1e-4).
2. **painstudy at SAS's covariance parameters** (``test_at_sas_covariance``): the fixed effects, model-based
   standard errors, Satterthwaite df (observed information), LS means and their differences, type 3 and
   slice F tests, covariance-parameter confidence limits and fit statistics, computed by painstudy at the
   covariance matrix SAS printed, reproduce every number of the listing to its printed precision. So the
   differences in 1 come from SAS's covariance estimate alone, and painstudy computes what SAS computes.

Not compared: the iteration path (iterations, evaluations, convergence criterion); the Alpha column, an input
(0.05, passed to painstudy as ``level = 1 - alpha``); and what has no counterpart in painstudy: Model
Information's Data Set and Residual Variance Method, and Dimensions' Columns in Z (an MMRM has no random
effects). BIC: SAS counts the 200 subjects of
the data set (Dimensions), 3 of whom have no non-missing FEV1; painstudy (as R mmrm) counts the 197 subjects
with data (``test_bic_subject_count``).
"""

from __future__ import annotations

import math
from functools import cache

import ledger
import numpy as np
import pandas as pd
import pytest
from conftest import shared_or_skip
from scipy import stats

from painstudy.models.mixed.covariance import make_structure
from painstudy.models.mixed.formula import parse_formula
from painstudy.models.mixed.mmrm import mmrm, prepare_mmrm
from painstudy.models.mixed.mmrm_inference import build_mmrm_inference
from painstudy.models.mixed.mmrm_optim import CovarianceFit, natural_criterion
from painstudy.models.mixed.results import MMRMResult
from painstudy.reproduce.sas_fev import CASES  # listing -> (file, formula, REML), as `painstudy reproduce sas-fev`
from painstudy.reproduce.sas_listing import SasListing, printed, read_listing, un_parameter_visits

REPEATED = "AVISIT"

SAS_NOT_AT_OPTIMUM = (
    "SAS stops short of the optimum: its -2 log-likelihood (Iteration History, 8 decimals) is 3.7e-6 to 6.4e-6 "
    "above painstudy's minimum (REML and ML: nlme::gls and a handwritten R likelihood in "
    "tests/reference/mmrm_ref_fev.json reach painstudy's to 3e-7; intercept only: no R reference, painstudy's "
    "gradient is 1e-13 there, 1e-3 at SAS's printed covariance); in the flat directions of the likelihood this "
    "moves SAS's estimates by a few units of their last printed digit (painstudy at SAS's covariance "
    "parameters reproduces them: test_at_sas_covariance)"
)
SAS_BIC_SUBJECTS = (
    "SAS's BIC counts the 200 subjects of the data set (Dimensions), 3 of whom have no "
    "non-missing FEV1; painstudy, as R mmrm, counts the 197 subjects with data"
)


def source(case: str) -> str:
    return f"../shared/references/mmrm_sas/{CASES[case][0]}"


@cache
def _listing(case: str) -> SasListing:
    return read_listing(shared_or_skip("references", "mmrm_sas", CASES[case][0]))


@pytest.fixture(scope="module")
def fev(shared) -> pd.DataFrame:
    return pd.read_csv(shared / "mmrm_fev_bcva" / "fev_data.csv")


@cache
def _fit(case: str, fev_path: str) -> MMRMResult:
    _, formula, reml = CASES[case]
    return mmrm(formula, pd.read_csv(fev_path), reml=reml, df="satterthwaite")


def fit_of(case: str, shared) -> MMRMResult:
    return _fit(case, str(shared / "mmrm_fev_bcva" / "fev_data.csv"))


# --------------------------------------------------------------------------------- painstudy at SAS's point
def sas_covariance(listing: SasListing, visits) -> tuple[np.ndarray, np.ndarray]:
    """SAS's printed UN(i,j) as a visit x visit matrix in painstudy's visit order, and the half units of the
    printed values (same layout)."""
    where = un_parameter_visits(listing, REPEATED)
    pos = {str(v): k for k, v in enumerate(visits)}
    S, half = np.zeros((len(visits), len(visits))), np.zeros((len(visits), len(visits)))
    t = listing.table("Covariance Parameter Estimates")
    for name, est in zip(t.column("Cov Parm"), t.numbers("Estimate")):
        a, b = (pos[v] for v in where[name])
        S[a, b] = S[b, a] = est.value
        half[a, b] = half[b, a] = est.half_unit
    return S, half


def at_covariance(formula: str, data: pd.DataFrame, reml: bool, S: np.ndarray) -> MMRMResult:
    """painstudy's result with the covariance matrix held at ``S`` (as SAS's PARMS / NOITER): GLS estimates,
    model-based covariance and Satterthwaite df from the observed information at ``S``."""
    prep = prepare_mmrm(parse_formula(formula), data)
    us = make_structure("us", prep.T)
    phi = us.natural(us.theta_from_sigma(S))
    val, _, evaluation, hessian = natural_criterion(prep.engine, [us], reml, phi, None)
    cf = CovarianceFit(
        structures=(us,),
        phi=phi,
        sigmas=(S,),
        hessian=hessian,
        evaluation=evaluation,
        neg2_log_lik=float(val),
        reml=reml,
        converged=True,
        positive_definite=True,
        notes=(),
        optimizer={},
    )
    return MMRMResult.from_fit(prep, cf, build_mmrm_inference(prep, cf, "satterthwaite", "model"))


def _criterion_and_limits(prep, reml: bool, S: np.ndarray, alpha: float) -> np.ndarray:
    """-2 log L at ``S``, then SAS's confidence limits (lower, upper) of each UN parameter (natural order)."""
    us = make_structure("us", prep.T)
    phi = us.natural(us.theta_from_sigma(S))
    val, _, _, hessian = natural_criterion(prep.engine, [us], reml, phi, None)
    se = np.sqrt(np.diag(2.0 * np.linalg.inv(hessian)))
    lim = [_cov_limits(e, s, alpha, i == j) for e, s, i, j in zip(phi, se, *np.tril_indices(prep.T))]
    return np.concatenate([[val], np.ravel(lim)])


def rounding_effect(prep, reml: bool, S: np.ndarray, half: np.ndarray, alpha: float) -> np.ndarray:
    """How much the print rounding of SAS's covariance estimates (each within half a unit of its last digit)
    can move -2 log L and the confidence limits: sum over the UN parameters of the change over that half unit
    (first order).  Returned as ``_criterion_and_limits``."""
    out = 0.0
    for i, j in zip(*np.tril_indices(prep.T)):
        E = np.zeros_like(S)
        E[i, j] = E[j, i] = half[i, j]
        out = out + 0.5 * np.abs(
            _criterion_and_limits(prep, reml, S + E, alpha) - _criterion_and_limits(prep, reml, S - E, alpha)
        )
    return out


def null_model_neg2_log_lik(formula: str, data: pd.DataFrame, reml: bool) -> float:
    """-2 log L of the same fixed effects with independent errors of one variance (SAS's null model, the
    Iteration History's iteration 0), by painstudy's likelihood engine at the closed-form variance estimate."""
    engine = prepare_mmrm(parse_formula(formula), data).engine
    eye = np.eye(engine.T)
    _, _, ev = engine.evaluate([eye], reml, grad=False)
    s2 = ev["rss"] / (engine.n_obs - (engine.p if reml else 0))
    return float(engine.evaluate([s2 * eye], reml, grad=False)[0])


# --------------------------------------------------------------------------------- the listing, cell by cell
def _term(fit: MMRMResult, factors_levels: dict) -> str:
    """painstudy's coefficient name for SAS's effect at these levels (e.g. ARMCDTRT:AVISITVIS2)."""
    names = set(factors_levels)
    term = next(t for t in fit.design.terms if set(t) == names)
    return ":".join(f"{f}{factors_levels[f]}" for f in term)


def _effect_term(fit: MMRMResult, effect: str) -> str:
    names = set(effect.split("*"))
    return ":".join(next(t for t in fit.design.terms if set(t) == names))


def _cov_limits(est: float, se: float, alpha: float, variance: bool) -> tuple[float, float]:
    """SAS's CL option: Satterthwaite limits nu*est/chi2 (nu = 2 (est/se)^2) for variances, Wald for covariances."""
    if variance:
        nu = 2.0 * (est / se) ** 2
        return nu * est / stats.chi2.ppf(1 - alpha / 2, nu), nu * est / stats.chi2.ppf(alpha / 2, nu)
    z = stats.norm.ppf(1 - alpha / 2)
    return est - z * se, est + z * se


def _n_params(fit: MMRMResult) -> tuple[int, int]:
    """(covariance parameters, fixed-effect parameters) as SAS counts them in AIC/AICC (REML: covariance only)."""
    q, p = len(fit.covariance_parameters), len(fit.coefficients)
    return (q, p) if fit.reml else (q + p, p)


def listing_items(case: str, fit: MMRMResult, null_neg2: float | None, subject_visits: dict):
    """Every compared number of listing ``case``: (table, quantity, ours, printed text).

    ``null_neg2`` is the null model's -2 log L (``None``: not compared); ``subject_visits`` the visits with
    data of each subject (for the per-subject R matrices).
    """
    L = _listing(case)
    out = []

    def add(table, what, ours, text):
        out.append((table, f"{case} / {table} / {what}", ours, text))

    # Iteration History: iteration 0 is the null model, the last one the fit; the path between is SAS's own
    it = L.table("Iteration History")
    crit = it.columns[2]
    if null_neg2 is not None:
        add("Iteration History", f"iteration 0 (null model) {crit}", null_neg2, it.rows[0][2])
    add("Iteration History", f"final {crit}", fit.neg2_log_lik, it.rows[-1][2])
    # per-subject R matrix and its correlation, rows in SAS's order of the repeated effect
    sas_order = L.class_levels[REPEATED].levels
    for title, matrix in (("Estimated R Matrix", fit.covariance), ("Estimated R Correlation Matrix", fit.correlation)):
        _, subject = L.subject_of(title)
        vis = [v for v in sas_order if v in subject_visits[subject]]
        t = L.table(title)
        for r in t.rows:
            i = int(r[0]) - 1
            for j, text in enumerate(r[1:]):
                add(t.title, f"row {vis[i]}, column {vis[j]}", matrix.loc[vis[i], vis[j]], text)
    # covariance parameters: estimate and confidence limits
    cp = fit.covariance_parameters
    pos = {str(v): k for k, v in enumerate(fit.visit_levels)}
    where = un_parameter_visits(L, REPEATED)
    for r in L.table("Covariance Parameter Estimates").frame.itertuples(index=False):
        a, b = sorted((pos[v] for v in where[r[0]]), reverse=True)
        row = cp.loc[cp["parameter"] == f"UN({a + 1},{b + 1})"].iloc[0]
        lo, hi = _cov_limits(row["estimate"], row["std_error"], float(r[3]), a == b)
        label = f"{r[0]} ({where[r[0]][0]}, {where[r[0]][1]})"
        add("Covariance Parameter Estimates", f"{label} Estimate", row["estimate"], r[2])
        add("Covariance Parameter Estimates", f"{label} Lower", lo, r[4])
        add("Covariance Parameter Estimates", f"{label} Upper", hi, r[5])
    # fit statistics (BIC: test_bic_subject_count)
    q, p = _n_params(fit)
    n_star = fit.n_obs - (p if fit.reml else 0)
    for name, text in L.key_values("Fit Statistics").items():
        if name.startswith("AICC"):
            add("Fit Statistics", name, fit.neg2_log_lik + 2 * q * n_star / (n_star - q - 1), text)
        elif name.startswith("AIC"):
            add("Fit Statistics", name, fit.aic, text)
        elif not name.startswith("BIC"):
            add("Fit Statistics", name, fit.neg2_log_lik, text)
    # null model likelihood ratio test
    if null_neg2 is not None:
        (r,) = L.table("Null Model Likelihood Ratio Test").rows
        chisq, df = null_neg2 - fit.neg2_log_lik, len(fit.covariance_parameters) - 1
        add("Null Model Likelihood Ratio Test", "DF", df, r[0])
        add("Null Model Likelihood Ratio Test", "Chi-Square", chisq, r[1])
        add("Null Model Likelihood Ratio Test", "Pr > ChiSq", stats.chi2.sf(chisq, df), r[2])
    # solution for fixed effects; SAS prints 0 for the reference levels, which painstudy has no column for
    sol = L.table("Solution for Fixed Effects")
    level_cols = sol.columns[1 : sol.columns.index("Estimate")]
    coefs = fit.coefficients
    for r in sol.frame.itertuples(index=False):
        d = dict(zip(sol.columns, r))
        if d["Effect"] == "Intercept":
            term = "(Intercept)"
        else:
            term = _term(fit, {f: d[f] for f in d["Effect"].split("*")})
        label = " ".join([d["Effect"]] + [d[c] for c in level_cols if d[c]])
        if d["Standard Error"] == ".":
            add(
                "Solution for Fixed Effects",
                f"{label} Estimate (reference level)",
                coefs.loc[term, "estimate"] if term in coefs.index else 0.0,
                d["Estimate"],
            )
            continue
        c = coefs.loc[term]
        for col, ours in (
            ("Estimate", c["estimate"]),
            ("Standard Error", c["std_error"]),
            ("DF", c["df"]),
            ("t Value", c["statistic"]),
            ("Pr > |t|", c["p_value"]),
        ):
            add("Solution for Fixed Effects", f"{label} {col}", ours, d[col])
    # type 3 tests (the CHISQ option: Wald chi-square = num DF x F)
    if L.has("Type 3 Tests of Fixed Effects"):
        an = fit.anova()
        for r in L.table("Type 3 Tests of Fixed Effects").frame.itertuples(index=False):
            a = an.loc[_effect_term(fit, r[0])]
            chisq = a["statistic"] * a["num_df"]
            for col, ours, text in (
                ("Num DF", a["num_df"], r[1]),
                ("Den DF", a["den_df"], r[2]),
                ("Chi-Square", chisq, r[3]),
                ("F Value", a["statistic"], r[4]),
                ("Pr > ChiSq", stats.chi2.sf(chisq, a["num_df"]), r[5]),
                ("Pr > F", a["p_value"], r[6]),
            ):
                add("Type 3 Tests of Fixed Effects", f"{r[0]} {col}", ours, text)
    if L.has("Least Squares Means"):
        out += _lsmeans_items(case, L, fit)
    return out


_ESTIMATE_COLUMNS = (
    ("Estimate", "estimate"),
    ("Standard Error", "std_error"),
    ("DF", "df"),
    ("t Value", "statistic"),
    ("Pr > |t|", "p_value"),
    ("Lower", "ci_lower"),
    ("Upper", "ci_upper"),
)


def _lsmeans_items(case: str, L: SasListing, fit: MMRMResult):
    out = []
    ls_t = L.table("Least Squares Means")
    factors = ls_t.columns[1 : ls_t.columns.index("Estimate")]
    alpha = float(ls_t.column("Alpha")[0])
    ls = fit.lsmeans(list(factors), level=1 - alpha)
    for r in ls_t.frame.itertuples(index=False):
        d = dict(zip(ls_t.columns, r))
        sel = np.logical_and.reduce([ls[f].astype(str).to_numpy() == d[f] for f in factors])
        mine = ls[sel].iloc[0]
        label = " ".join(d[f] for f in factors)
        for col, ours in _ESTIMATE_COLUMNS:
            out.append((ls_t.title, f"{case} / {ls_t.title} / {label} {col}", mine[ours], d[col]))
    # differences: painstudy gives each pair once (earlier level first); SAS's a - b may be painstudy's b - a
    dt = L.table("Differences of Least Squares Means")
    alpha = float(dt.column("Alpha")[0])
    con = fit.contrasts(list(factors), method="pairwise", level=1 - alpha).set_index("contrast")
    for r in dt.frame.itertuples(index=False):
        d = dict(zip(dt.columns, r))
        a = " ".join(d[f] for f in factors)
        b = " ".join(d["_" + f] for f in factors)
        sign = 1.0 if f"{a} - {b}" in con.index else -1.0
        mine = con.loc[f"{a} - {b}" if sign > 0 else f"{b} - {a}"]
        vals = {
            "estimate": sign * mine["estimate"],
            "std_error": mine["std_error"],
            "df": mine["df"],
            "statistic": sign * mine["statistic"],
            "p_value": mine["p_value"],
            "ci_lower": mine["ci_lower"] if sign > 0 else -mine["ci_upper"],
            "ci_upper": mine["ci_upper"] if sign > 0 else -mine["ci_lower"],
        }
        for col, ours in _ESTIMATE_COLUMNS:
            out.append((dt.title, f"{case} / {dt.title} / {a} - {b} {col}", vals[ours], d[col]))
    # slices: the F test of the other factor within each level of the sliced one (two levels: F = t^2)
    st = L.table("Tests of Effect Slices")
    for r in st.frame.itertuples(index=False):
        d = dict(zip(st.columns, r))
        sliced = next(c for c in st.columns[1:] if c in factors)
        other = [f for f in factors if f != sliced]
        assert len(other) == 1 and len(fit.design.factors[other[0]]) == 2, "slices of a two-level factor only"
        c = fit.contrasts(other[0], by=sliced, method="pairwise")
        mine = c.loc[c[sliced].astype(str) == d[sliced]].iloc[0]
        for col, ours in (
            ("Num DF", 1),
            ("Den DF", mine["df"]),
            ("F Value", mine["statistic"] ** 2),
            ("Pr > F", mine["p_value"]),
        ):
            out.append((st.title, f"{case} / {st.title} / {d['Effect']} {d[sliced]} {col}", ours, d[col]))
    return out


def _subject_visits(fev: pd.DataFrame) -> dict:
    d = fev.dropna(subset=["FEV1"])
    return d.groupby("USUBJID")["AVISIT"].apply(lambda s: set(s.astype(str))).to_dict()


# ------------------------------------------------------------------------------------------ 0. the listing
@pytest.mark.parametrize("case", CASES)
def test_model_description(case, fev, shared):
    """Model Information, Class Level Information, Dimensions, Number of Observations, convergence."""
    L, fit, src = _listing(case), fit_of(case, shared), source(case)
    design = fit.design
    with ledger.Batch() as b:
        info = L.key_values("Model Information")
        b.check_equal(
            f"{case} / Model Information / Dependent Variable",
            fit.parsed.fixed.outcome,
            info["Dependent Variable"],
            source=src,
        )
        b.check_equal(
            f"{case} / Model Information / Covariance Structure",
            {"us": "Unstructured"}.get(fit.structure, fit.structure),
            info["Covariance Structure"],
            source=src,
        )
        b.check_equal(
            f"{case} / Model Information / Subject Effect",
            fit.parsed.covariance.subject,
            info["Subject Effect"],
            source=src,
        )
        b.check_equal(
            f"{case} / Model Information / Estimation Method",
            "REML" if fit.reml else "ML",
            info["Estimation Method"],
            source=src,
        )
        b.check_equal(
            f"{case} / Model Information / Fixed Effects SE Method",
            {"model": "Model-Based"}.get(fit.vcov_method, fit.vcov_method),
            info["Fixed Effects SE Method"],
            source=src,
        )
        b.check_equal(
            f"{case} / Model Information / Degrees of Freedom Method",
            fit.df_method.capitalize(),
            info["Degrees of Freedom Method"],
            source=src,
        )
        # class levels: the same values (SAS orders a ref= level last); subjects: every one in the data
        for name, cl in L.class_levels.items():
            if name == "USUBJID":
                ours = sorted(fev["USUBJID"].unique())
                sas = sorted(cl.levels)
            else:  # a factor of the fixed effects, or the repeated effect (the visits of the covariance)
                ours = sorted(str(v) for v in design.factors.get(name, fit.visit_levels if name == REPEATED else ()))
                sas = sorted(cl.order_of(ours))
            b.check_equal(f"{case} / Class Level Information / {name} Levels", len(ours), cl.n_levels, source=src)
            b.check_equal(
                f"{case} / Class Level Information / {name} Values", ", ".join(ours), ", ".join(sas), source=src
            )
        dims = L.key_values("Dimensions")
        # SAS's design has a column per level (reference levels included): 1 + sum over terms of the product
        # of their factors' numbers of levels
        cols_x = 1 + sum(math.prod(len(design.factors[f]) for f in t) for t in design.terms)
        for name, ours in (
            ("Covariance Parameters", len(fit.covariance_parameters)),
            ("Columns in X", cols_x),
            ("Subjects", fit.n_subjects + fit.n_subjects_dropped),
            ("Max Obs per Subject", len(fit.visit_levels)),
        ):
            b.check_equal(f"{case} / Dimensions / {name}", ours, int(dims[name]), source=src)
        obs = L.key_values("Number of Observations")
        for name, ours in (
            ("Number of Observations Read", fit.n_obs + fit.n_rows_dropped),
            ("Number of Observations Used", fit.n_obs),
            ("Number of Observations Not Used", fit.n_rows_dropped),
        ):
            b.check_equal(f"{case} / Number of Observations / {name}", ours, int(obs[name]), source=src)
        b.check_equal(f"{case} / Convergence criteria met", fit.converged, L.converged, source=src)


# ------------------------------------------------------------------------------------------ 1. our own fit
TABLES = [
    "Iteration History",
    "Estimated R Matrix",
    "Estimated R Correlation Matrix",
    "Covariance Parameter Estimates",
    "Fit Statistics",
    "Null Model Likelihood Ratio Test",
    "Solution for Fixed Effects",
    "Type 3 Tests of Fixed Effects",
    "Least Squares Means",
    "Differences of Least Squares Means",
    "Tests of Effect Slices",
]
#: (listing, table) where some number of painstudy's fit is outside printed precision, for SAS_NOT_AT_OPTIMUM
NOT_AT_OPTIMUM = {
    "REML": {
        "Iteration History",
        "Estimated R Matrix",
        "Covariance Parameter Estimates",
        "Solution for Fixed Effects",
        "Type 3 Tests of Fixed Effects",
        "Least Squares Means",
        "Differences of Least Squares Means",
        "Tests of Effect Slices",
    },
    "ML": {
        "Iteration History",
        "Estimated R Matrix",
        "Covariance Parameter Estimates",
        "Solution for Fixed Effects",
        "Type 3 Tests of Fixed Effects",
    },
    "intercept-only REML": {
        "Iteration History",
        "Estimated R Matrix",
        "Estimated R Correlation Matrix",
        "Covariance Parameter Estimates",
        "Solution for Fixed Effects",
    },
}


def _fit_params():
    out = []
    for case in CASES:
        for table in TABLES:
            known = table in NOT_AT_OPTIMUM[case]
            marks = [pytest.mark.xfail(strict=True, reason=SAS_NOT_AT_OPTIMUM)] if known else []
            out.append(pytest.param(case, table, known, marks=marks, id=f"{case}-{table}"))
    return out


@pytest.fixture(scope="module")
def items_of_fit(fev, shared):
    cache = {}

    def get(case):
        if case not in cache:
            _, formula, reml = CASES[case]
            cache[case] = listing_items(
                case, fit_of(case, shared), null_model_neg2_log_lik(formula, fev, reml), _subject_visits(fev)
            )
        return cache[case]

    return get


@pytest.mark.parametrize("case, table, known", _fit_params())
def test_fit_every_number_to_printed_precision(case, table, known, items_of_fit):
    items = [it for it in items_of_fit(case) if it[0] == table or it[0].startswith(table + " for")]
    if not _listing(case).has(table):
        assert not items
        return
    assert items, f"{case}: nothing compared in {table}"
    with ledger.Batch(known_deviation=SAS_NOT_AT_OPTIMUM if known else "") as b:
        for _, quantity, ours, text in items:
            b.check_printed(quantity, ours, printed(text), source=source(case))


def test_bic_subject_count(shared):
    """SAS's BIC = -2LL + k log(200): 200 subjects in the data set; painstudy's = -2LL + k log(197)."""
    for case in CASES:
        L, fit, src = _listing(case), fit_of(case, shared), source(case)
        sas = printed(L.key_values("Fit Statistics")["BIC (Smaller is Better)"])
        k = _n_params(fit)[0]
        n_sas = int(L.key_values("Dimensions")["Subjects"])
        assert fit.n_subjects + fit.n_subjects_dropped == n_sas == 200 and fit.n_subjects == 197
        ledger.check_printed(
            f"{case} / Fit Statistics / BIC with SAS's subject count (painstudy's -2LL + {k} log {n_sas})",
            fit.neg2_log_lik + k * np.log(n_sas),
            sas,
            source=src,
            note=SAS_BIC_SUBJECTS,
        )


@pytest.mark.xfail(strict=True, reason=SAS_BIC_SUBJECTS)
def test_bic_as_painstudy_reports_it(shared):
    with ledger.Batch(known_deviation=SAS_BIC_SUBJECTS) as b:
        for case in CASES:
            L, fit = _listing(case), fit_of(case, shared)
            b.check_printed(
                f"{case} / Fit Statistics / BIC (Smaller is Better)",
                fit.bic,
                printed(L.key_values("Fit Statistics")["BIC (Smaller is Better)"]),
                source=source(case),
            )


# the comparisons of the former transcription (tests/reference/sas_fev_us.json), their tolerances unchanged
REML = "REML"
SLACK = (
    "tolerance of the former transcription: print rounding 0.5e-4 + 1e-4 for SAS stopping short of the "
    "optimum (" + SAS_NOT_AT_OPTIMUM.split(";")[0] + ")"
)


def test_neg2_reml_loglik(shared):
    L, fit = _listing(REML), fit_of(REML, shared)
    sas = printed(L.table("Iteration History").rows[-1][2])
    # SAS's optimum is 6.1e-6 above ours (a better optimum: ours is lower)
    ledger.check(
        f"{REML} / Iteration History / final -2 Res Log Like",
        fit.neg2_log_lik,
        sas.value,
        atol=1e-4,
        source=source(REML),
        note=SAS_NOT_AT_OPTIMUM,
    )
    assert fit.neg2_log_lik < sas.value
    assert fit.converged
    assert fit.n_subjects == 197 and fit.n_obs == 537
    assert fit.n_rows_dropped == 263 and fit.n_subjects_dropped == 3


def test_covariance_elements(shared):
    # SAS UN(i,j), mapped through SAS's class order of AVISIT.  Known deviation: SAS's estimates sit slightly
    # off the optimum; nlme::gls and a handwritten R likelihood agree with ours to < 1e-4 relative
    # (test_mmrm_reference.py) while SAS differs by up to 0.0048 (UN(4,3)=13.3731 vs 13.3779) and 5.3e-4
    # relative (UN(2,1)=2.7851 vs 2.7836).  Checked here: within 2e-3 absolute or 4e-4 relative.
    L, fit = _listing(REML), fit_of(REML, shared)
    where = un_parameter_visits(L, REPEATED)
    t = L.table("Covariance Parameter Estimates")
    names, sas = t.column("Cov Parm"), np.array([p.value for p in t.numbers("Estimate")])
    ours = np.array([fit.covariance.loc[where[n][0], where[n][1]] for n in names])
    tol = np.maximum(2e-3, 4e-4 * np.abs(sas))
    labels = [f"{n} ({where[n][0]}, {where[n][1]})" for n in names]
    with ledger.Batch() as b:
        for lab, o, s, a in zip(labels, ours, sas, tol):
            b.check(
                f"{REML} / Covariance Parameter Estimates / {lab} Estimate",
                o,
                s,
                atol=a,
                source=source(REML),
                note="max(2e-3, 4e-4 relative): " + SAS_NOT_AT_OPTIMUM,
            )


def _row(table, **keys):
    f = table.frame
    sel = np.logical_and.reduce([f[k] == v for k, v in keys.items()])
    (i,) = np.flatnonzero(sel)
    return {c: f.iloc[i][c] for c in f.columns}


def test_lsmean_differences_by_visit(shared):
    # SAS LSMEANS AVISIT*ARMCD / PDIFF: TRT - PBO at each visit (estimate, SE, df)
    L, fit = _listing(REML), fit_of(REML, shared)
    con = fit.contrasts("ARMCD", by="AVISIT", method="trt.vs.ctrl", ref="PBO").set_index("AVISIT")
    dt = L.table("Differences of Least Squares Means")
    for visit in ("VIS1", "VIS2", "VIS3", "VIS4"):
        r, sas = con.loc[visit], _row(dt, AVISIT=visit, ARMCD="TRT", _AVISIT=visit, _ARMCD="PBO")
        assert r["contrast"] == "TRT - PBO"
        _former_checks(f"{REML} / {dt.title} / {visit} TRT - {visit} PBO", r, sas)


def _former_checks(q: str, r, sas: dict) -> None:
    """Estimate and SE to 1.5e-4, df equal after rounding (the former transcription's tolerances)."""
    ledger.check(
        f"{q} Estimate", r["estimate"], printed(sas["Estimate"]).value, atol=1.5e-4, source=source(REML), note=SLACK
    )
    ledger.check(
        f"{q} Standard Error",
        r["std_error"],
        printed(sas["Standard Error"]).value,
        atol=1.5e-4,
        source=source(REML),
        note=SLACK,
    )
    ledger.check_equal(
        f"{q} DF (rounded to an integer as SAS prints it)", round(r["df"]), int(sas["DF"]), source=source(REML)
    )


def test_lsmeans_at_visit4(shared):
    # SAS LSMEANS AVISIT*ARMCD at VIS4: TRT 52.7841 (1.1877, 133), PBO 48.3855 (1.1886, 134)
    L, fit = _listing(REML), fit_of(REML, shared)
    ls = fit.lsmeans("ARMCD", by="AVISIT")
    t = L.table("Least Squares Means")
    for arm in ("TRT", "PBO"):
        r, sas = ls[(ls.ARMCD == arm) & (ls.AVISIT == "VIS4")].iloc[0], _row(t, AVISIT="VIS4", ARMCD=arm)
        _former_checks(f"{REML} / {t.title} / VIS4 {arm}", r, sas)


def test_type3_interaction(shared):
    # SAS Type 3 Tests of Fixed Effects: AVISIT*ARMCD F 0.26 on 3 and 148 df
    L, fit = _listing(REML), fit_of(REML, shared)
    r = fit.anova().loc["ARMCD:AVISIT"]
    sas = _row(L.table("Type 3 Tests of Fixed Effects"), Effect="AVISIT*ARMCD")
    q = f"{REML} / Type 3 Tests of Fixed Effects / AVISIT*ARMCD"
    ledger.check_equal(f"{q} Num DF", int(r["num_df"]), int(sas["Num DF"]), source=source(REML))
    ledger.check_equal(
        f"{q} Den DF (rounded as SAS prints it)", round(r["den_df"]), int(sas["Den DF"]), source=source(REML)
    )
    ledger.check_equal(
        f"{q} F Value (rounded as SAS prints it)", round(r["statistic"], 2), float(sas["F Value"]), source=source(REML)
    )


def test_alphabetical_reference_gives_same_likelihood(fev):
    # Recoding references does not change the model: same -2LL as SAS (Iteration History, final)
    sas = printed(_listing(REML).table("Iteration History").rows[-1][2]).value
    fit2 = mmrm("FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", fev)
    assert fit2.neg2_log_lik == pytest.approx(sas, abs=1e-4)
    assert "SEXMale" in fit2.coefficients.index
    # categorical order is respected: Male first -> SEXFemale, the same estimate with opposite sign
    fev3 = fev.assign(SEX=pd.Categorical(fev.SEX, ["Male", "Female"]))
    fit3 = mmrm("FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)", fev3)
    assert fit3.coefficients.loc["SEXFemale", "estimate"] == pytest.approx(
        -fit2.coefficients.loc["SEXMale", "estimate"], rel=1e-6
    )


# ------------------------------------------------------------------------- 2. painstudy at SAS's covariance
@pytest.mark.parametrize("case", CASES)
def test_at_sas_covariance(case, fev):
    """Every number computed from SAS's covariance estimate, by painstudy at that estimate, to printed precision."""
    _, formula, reml = CASES[case]
    L = _listing(case)
    prep = prepare_mmrm(parse_formula(formula), fev)
    S, half = sas_covariance(L, prep.visit_levels)
    res = at_covariance(formula, fev, reml, S)
    alpha = float(L.table("Covariance Parameter Estimates").column("Alpha")[0])
    # SAS printed its covariance estimates with 4 decimals (or fewer): allow for what that rounding can move
    effect = rounding_effect(prep, reml, S, half, alpha)
    order = [f"UN({i + 1},{j + 1})" for i, j in zip(*np.tril_indices(prep.T))]
    where = un_parameter_visits(L, REPEATED)
    pos = {str(v): k for k, v in enumerate(prep.visit_levels)}
    allowance = {}
    for name in where:
        a, b = sorted((pos[v] for v in where[name]), reverse=True)
        k = order.index(f"UN({a + 1},{b + 1})")
        label = f"{name} ({where[name][0]}, {where[name][1]})"
        allowance[f"{label} Lower"], allowance[f"{label} Upper"] = effect[1 + 2 * k], effect[2 + 2 * k]
    rounding = (
        "allowance: the first-order effect of the print rounding of SAS's covariance estimates "
        "(sum over UN(i,j) of the change over half a unit of its last printed digit)"
    )
    tag = f"{case} at SAS's covariance"
    with ledger.Batch() as b:
        for table, quantity, ours, text in listing_items(case, res, None, _subject_visits(fev)):
            q = quantity.replace(f"{case} / ", f"{tag} / ", 1)
            what = quantity.rsplit(" / ", 1)[1]
            if table.startswith(("Estimated R Matrix", "Estimated R Correlation Matrix")) or (
                table == "Covariance Parameter Estimates" and what.endswith("Estimate")
            ):
                continue  # SAS's covariance itself: the input here
            if table == "Covariance Parameter Estimates":
                b.check_printed(
                    q,
                    ours,
                    printed(text),
                    source=source(case),
                    allowance=allowance[what],
                    note="limits from painstudy's standard errors at SAS's estimates; " + rounding,
                )
            elif table == "Iteration History":
                b.check_printed(q, ours, printed(text), source=source(case), allowance=effect[0], note=rounding)
            else:
                b.check_printed(q, ours, printed(text), source=source(case))
