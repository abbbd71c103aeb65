"""All time-to-improvement analyses at once (:func:`analyze_improvement`)."""

from __future__ import annotations

from collections.abc import Sequence

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models.design import distinct_covariates, warnings_as_notes

from .common import check_data, strata_columns
from .nonparametric import cumulative_incidence, kaplan_meier, logrank, rmst, turnbull
from .regression import covariate_columns, cox_ph, discrete_time_ph
from .results import ImprovementAnalysis

__all__ = ["analyze_improvement", "default_covariates"]


def default_covariates(data: ImprovementData) -> list[str]:
    """The baseline score (when known) and the covariates of ``data`` that vary, except ``site``
    (many small sites make a fixed-effect Cox model unstable) and covariates that merely recode an
    earlier one."""
    tab = data.table
    names = ["baseline"] if "baseline" in tab.columns and tab["baseline"].notna().any() else []
    names += [c for c in data.covariates if c != "site" and tab[c].nunique() > 1]
    return distinct_covariates(tab, names)


def analyze_improvement(
    data: ImprovementData,
    *,
    covariates: Sequence[str] | None = None,
    horizon: float | None = None,
    extrapolate: bool = False,
    adjust: str = "holm",
    conf_level: float = 0.95,
    strata: str | Sequence[str] | None = None,
    cluster: str | None = None,
) -> ImprovementAnalysis:
    """Run the standard set of time-to-improvement analyses.

    Kaplan-Meier with medians, log-rank tests, Cox proportional hazards with its PH test, RMST,
    the discrete-time model, Turnbull's NPMLE and the cumulative incidence with dropout as a
    competing event.

    Parameters
    ----------
    data : ImprovementData
    covariates : sequence of str, optional
        Cox/discrete-time adjustment; default :func:`default_covariates` (the baseline score plus
        ``data.covariates`` except ``site``). Unknown names are an error listing the available
        ones; terms left out (constant, collinear) are named in the notes.
    horizon : float, optional
        RMST horizon (default the last scheduled visit, within every arm's follow-up).
    extrapolate : bool, default False
        Allow an RMST horizon beyond follow-up (see :func:`rmst`).
    adjust : {"holm", "bonferroni", "none"}
    conf_level : float
    strata : str or sequence of str, optional
        Stratify the log-rank tests and the Cox model on these columns (e.g. ``"site"``; see
        :func:`logrank` and :func:`cox_ph`).
    cluster : str, optional
        Cluster-robust standard errors of the Cox model (e.g. ``"site"``; see :func:`cox_ph`).

    Returns
    -------
    ImprovementAnalysis
        When the Cox or the discrete-time model cannot be fitted (e.g. an arm in which nobody
        improved) it is None and the notes give the reason; warnings of the numerical libraries
        are notes too, never raw warnings.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"arm": ["a"] * 5 + ["b"] * 5, "time": [4, 4, 8, 12, 12, 8, 12, 12, 12, 4],
    ...                   "event": [1, 1, 1, 0, 1, 1, 0, 0, 1, 0]})
    >>> res = analyze_improvement(ImprovementData.from_table(t))
    >>> [name for name, _ in res.tidy().tables][:3]
    ['events', 'medians', 'logrank_overall']
    """
    data = check_data(data)
    if covariates is None:
        covariates = default_covariates(data)
    covariate_columns(data, covariates)  # an unknown name is the user's error, not "no Cox model"
    strata_columns(data, strata)
    strata_columns(data, cluster, what="cluster column")
    notes: list[str] = []
    with warnings_as_notes(notes):
        km = kaplan_meier(data, conf_level=conf_level)
        lr = logrank(data, adjust=adjust, strata=strata)
        try:
            cox = cox_ph(data, covariates=covariates, conf_level=conf_level, strata=strata, cluster=cluster)
        except ModelError as exc:
            cox = None
            notes.append(_reason("Cox model", exc))
        try:
            disc = discrete_time_ph(data, covariates=covariates, conf_level=conf_level)
        except ModelError as exc:
            disc = None
            notes.append(_reason("discrete-time model", exc))
        res_rmst = rmst(data, horizon=horizon, extrapolate=extrapolate, conf_level=conf_level)
        tb = turnbull(data)
        inc = cumulative_incidence(data, conf_level=conf_level)
    return ImprovementAnalysis(
        data=data,
        km=km,
        logrank=lr,
        cox=cox,
        rmst=res_rmst,
        discrete=disc,
        turnbull=tb,
        incidence=inc,
        notes=tuple(notes),
    )


def _reason(model: str, exc: ModelError) -> str:
    """Why a model was left out, as a note that names the model once."""
    text = str(exc)
    return f"{text} (not fitted)" if text.startswith(model) else f"{model}: not fitted ({text})"
