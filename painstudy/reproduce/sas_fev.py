"""SAS PROC MIXED on fev_data, the listings published by the R package mmrm (``design/SAS/``).

Three listings (see ``../shared/references/mmrm_sas/README.md``), each read at run time, never transcribed:
``published/sas-fev.csv`` names the listing file, table, row and column of every number compared.

- ``sas_log_reml.txt``: ``MODEL FEV1 = ARMCD AVISIT ARMCD*AVISIT RACE SEX / ddfm=satterthwaite``, ``REPEATED
  AVISIT / subject=USUBJID type=un``, REML, reference levels PBO, VIS1, Asian, Male; ``LSMEANS AVISIT*ARMCD``
  with all differences (the treatment difference at each visit is compared);
- ``sas_log.txt``: the same model by maximum likelihood;
- ``sas_log_simple_reml.txt``: intercept only, unstructured, REML.

:func:`recompute` fits the same models with :func:`painstudy.mmrm` (Satterthwaite degrees of freedom) on the
registered study ``fev`` (the data set of the checksummed dataset registry). SAS numbers its unstructured
covariance parameters UN(i,j) in its class order of AVISIT, :data:`SAS_VISIT_ORDER` (``ref = 'VIS1'`` puts
VIS1 last; Class Level Information).
"""

from __future__ import annotations

from itertools import product

from ..models.mixed.mmrm import mmrm

FULL = 'FEV1 ~ RACE + C(SEX, Treatment("Male")) + C(ARMCD, Treatment("PBO")) * AVISIT + us(AVISIT | USUBJID)'
SIMPLE = "FEV1 ~ 1 + us(AVISIT | USUBJID)"
#: listing -> (file, formula, REML)
CASES = {
    "REML": ("sas_log_reml.txt", FULL, True),
    "ML": ("sas_log.txt", FULL, False),
    "intercept-only REML": ("sas_log_simple_reml.txt", SIMPLE, True),
}
#: SAS's order of the levels of AVISIT (the rows and columns of UN(i,j)), as Class Level Information prints it
SAS_VISIT_ORDER = ("VIS2", "VIS3", "VIS4", "VIS1")
#: the columns of SAS's estimate tables and painstudy's
ESTIMATE_COLUMNS = {
    "Estimate": "estimate",
    "Standard Error": "std_error",
    "DF": "df",
    "t Value": "statistic",
    "Pr > |t|": "p_value",
    "Lower": "ci_lower",
    "Upper": "ci_upper",
}

#: Why some numbers differ (keys of the ``reason`` column of published/sas-fev.csv)
REASONS = {
    "not_at_optimum": (
        "SAS stops short of the optimum: its final -2 log-likelihood (Iteration History, 8 decimals) is 3.7e-6 "
        "to 6.4e-6 above painstudy's minimum (REML and ML models: nlme::gls and a handwritten R likelihood reach "
        "painstudy's to 3e-7, tests/test_mmrm_reference.py; intercept-only model: no R reference, painstudy's "
        "gradient is 1e-13 at its optimum and 1e-3 at SAS's printed covariance). In the flat directions of the "
        "likelihood this moves SAS's covariance estimates by up to 0.005 (0.025 in the intercept-only model), "
        "its fixed effects, LS means and their differences by up to 2.6e-4 (8.1e-4 in the intercept-only "
        "model), a t or F value by up to 0.013 and a df by up to 0.52. painstudy at SAS's printed covariance "
        "parameters reproduces every number of the listings to its printed precision "
        "(tests/test_mmrm_sas.py::test_at_sas_covariance)"
    ),
    "bic_subjects": (
        "SAS's BIC counts the 200 subjects of the data set (Dimensions), 3 of whom have no non-missing FEV1; "
        "painstudy, as R mmrm, counts the 197 subjects with data: -2LL + k log(197) instead of k log(200)"
    ),
}


def label(levels: dict) -> str:
    """The item label of a model term at some levels: ``ARMCD=TRT, AVISIT=VIS2`` (factors sorted)."""
    return ", ".join(f"{f}={levels[f]}" for f in sorted(levels))


def fit_items(case: str, fit) -> dict[str, float]:
    """Our value of every item of listing ``case`` (a :data:`CASES` key) from an MMRM fit of its model."""
    out: dict[str, float] = {}

    def add(table, what, value):
        out[f"{case} / {table} / {what}"] = float(value)

    crit = "-2 Res Log Like" if fit.reml else "-2 Log Like"
    add("Iteration History", f"final {crit}", fit.neg2_log_lik)
    # covariance parameters in SAS's numbering
    cov = fit.covariance
    for i, a in enumerate(SAS_VISIT_ORDER):
        for j, b in enumerate(SAS_VISIT_ORDER[: i + 1]):
            add("Covariance Parameter Estimates", f"UN({i + 1},{j + 1}) {a},{b} / Estimate", cov.loc[a, b])
    # fit statistics; AICC with SAS's n* (observations less fixed effects under REML) and parameter count
    p = len(fit.coefficients)
    q = len(fit.covariance_parameters) + (0 if fit.reml else p)
    n_star = fit.n_obs - (p if fit.reml else 0)
    add("Fit Statistics", "-2 Res Log Likelihood" if fit.reml else "-2 Log Likelihood", fit.neg2_log_lik)
    add("Fit Statistics", "AIC (Smaller is Better)", fit.aic)
    add("Fit Statistics", "AICC (Smaller is Better)", fit.neg2_log_lik + 2 * q * n_star / (n_star - q - 1))
    add("Fit Statistics", "BIC (Smaller is Better)", fit.bic)
    # fixed effects: one row per coefficient (SAS's zero rows of reference levels are not compared)
    coefs = fit.coefficients
    terms = {"(Intercept)": "Intercept"}
    for term in fit.design.terms:
        for lv in product(*(fit.design.factors[f][1:] for f in term)):
            terms[":".join(f"{f}{v}" for f, v in zip(term, lv))] = label(dict(zip(term, lv)))
    for name, row in coefs.iterrows():
        for col, ours in list(ESTIMATE_COLUMNS.items())[:5]:
            add("Solution for Fixed Effects", f"{terms[name]} / {col}", row[ours])
    if fit.design.terms:  # type 3 tests
        for name, row in fit.anova().iterrows():
            effect = "*".join(sorted(name.split(":")))
            for col, ours in (
                ("Num DF", "num_df"),
                ("Den DF", "den_df"),
                ("F Value", "statistic"),
                ("Pr > F", "p_value"),
            ):
                add("Type 3 Tests of Fixed Effects", f"{effect} / {col}", row[ours])
    return out


def lsmeans_items(case: str, fit) -> dict[str, float]:
    """LS means of each arm at each visit and the difference TRT - PBO at each visit (SAS's LSMEANS
    AVISIT*ARMCD / PDIFF CL)."""
    out: dict[str, float] = {}
    for r in fit.lsmeans("ARMCD", by="AVISIT").to_dict("records"):
        for col, ours in ESTIMATE_COLUMNS.items():
            what = f"{label({'ARMCD': r['ARMCD'], 'AVISIT': r['AVISIT']})} / {col}"
            out[f"{case} / Least Squares Means / {what}"] = float(r[ours])
    for r in fit.contrasts("ARMCD", by="AVISIT", method="trt.vs.ctrl", ref="PBO").to_dict("records"):
        for col, ours in ESTIMATE_COLUMNS.items():
            out[f"{case} / Differences of Least Squares Means / TRT - PBO at {r['AVISIT']} / {col}"] = float(r[ours])
    return out


def recompute(cohort) -> dict[str, float]:
    """Our value of every published item, from the ``fev`` cohort (its data set with SAS's column names)."""
    data = cohort.analysis_data().rename(columns={"subject": "USUBJID", "arm": "ARMCD", "visit": "AVISIT"})
    out: dict[str, float] = {}
    for case, (_, formula, reml) in CASES.items():
        fit = mmrm(formula, data, reml=reml, df="satterthwaite")
        out.update(fit_items(case, fit))
        if case == "REML":
            out.update(lsmeans_items(case, fit))
    return out


__all__ = ["CASES", "REASONS", "SAS_VISIT_ORDER", "fit_items", "lsmeans_items", "recompute"]
