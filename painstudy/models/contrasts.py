"""Estimate rows, contrast families and multiplicity adjustment, shared by every model.

A model that can estimate a linear function ``l' beta`` (estimate, standard error, degrees of
freedom) gets its tables from here:

- :func:`estimate_row` -- one row ``estimate, std_error, df, statistic, p_value, ci_lower,
  ci_upper`` (a t test of ``estimate = 0``; normal quantiles when ``df`` is infinite);
- :func:`contrast_family` -- the names and L vectors of a family of comparisons between labelled
  L vectors (``pairwise`` or ``trt.vs.ctrl``, optionally restricted to some levels);
- :func:`adjust_family` -- Holm or Bonferroni (``statsmodels.stats.multitest.multipletests``, as
  the survival code uses) with Bonferroni intervals, or Dunnett's single-step max-|t| adjustment
  (multivariate t) with one simultaneous critical value per family;
- :func:`check_contrast_args` -- the one check of ``method`` and ``adjust``.

Examples
--------
>>> import numpy as np
>>> row = estimate_row(2.0, 1.0, 20.0, 0.95)
>>> round(row["p_value"], 4), round(row["ci_lower"], 4)
(0.0593, -0.086)
>>> items = [("A", np.array([1.0, 0.0])), ("B", np.array([1.0, 1.0])), ("C", np.array([0.0, 1.0]))]
>>> names, Ls = contrast_family(items, "trt.vs.ctrl", "A", None, "arm")
>>> names
['B - A', 'C - A']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special  # the t and normal functions scipy.stats calls, without its import cost

from painstudy.errors import ModelError

__all__ = [
    "TABLE_COLUMNS",
    "METHODS",
    "ADJUSTMENTS",
    "t_quantile",
    "t_p_value",
    "estimate_row",
    "check_contrast_args",
    "contrast_family",
    "adjust_family",
]

#: Columns of every estimate table (coefficients, LS means, contrasts, trends).
TABLE_COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "ci_lower", "ci_upper"]
#: Contrast methods.
METHODS = ("pairwise", "trt.vs.ctrl")
#: Multiplicity adjustments.
ADJUSTMENTS = ("none", "holm", "bonferroni", "dunnett")


def t_quantile(level: float, df: float) -> float:
    """Two-sided critical value for confidence ``level``: a t quantile, or normal when ``df`` is infinite."""
    a = 1 - (1 - level) / 2
    return float(special.stdtrit(df, a)) if np.isfinite(df) else float(special.ndtri(a))


def t_p_value(t: float, df: float) -> float:
    """Two-sided p-value of a t statistic (normal when ``df`` is infinite)."""
    return float(2 * (special.stdtr(df, -abs(t)) if np.isfinite(df) else special.ndtr(-abs(t))))


def estimate_row(est: float, se: float, df: float, level: float = 0.95) -> dict[str, float]:
    """One table row for an estimate: t statistic, two-sided p-value and confidence interval.

    Parameters
    ----------
    est, se, df : float
        Estimate, standard error and degrees of freedom (``inf`` for normal quantiles).
    level : float
        Confidence level.

    Returns
    -------
    dict
        Keys :data:`TABLE_COLUMNS`; the statistic and p-value are NaN when ``se`` is not positive.
    """
    t = est / se if se > 0 else np.nan
    q = t_quantile(level, df)
    return {
        "estimate": est,
        "std_error": se,
        "df": df,
        "statistic": t,
        "p_value": t_p_value(t, df) if np.isfinite(t) else np.nan,
        "ci_lower": est - q * se,
        "ci_upper": est + q * se,
    }


def check_contrast_args(method: str, adjust: str) -> None:
    """Reject an unknown contrast method or multiplicity adjustment (:class:`ModelError`)."""
    if method not in METHODS:
        raise ModelError(f"method={method!r}: use 'pairwise' or 'trt.vs.ctrl'")
    if adjust not in ADJUSTMENTS:
        raise ModelError(f"adjust={adjust!r}: use one of none, holm, bonferroni, dunnett")


def contrast_family(
    items: Sequence[tuple[str, np.ndarray]], method: str, ref: Any, levels: Sequence | None, what: Any
) -> tuple[list[str], list[np.ndarray]]:
    """Names and L vectors of one family of contrasts between labelled L vectors ``items``.

    Parameters
    ----------
    items : list of (label, L vector)
        The quantities compared (e.g. the LS means of each arm at one visit).
    method : {"pairwise", "trt.vs.ctrl"}
        ``pairwise``: every pair ``a - b`` (earlier first, as emmeans); ``trt.vs.ctrl``: each
        level minus ``ref``.
    ref : str, optional
        Control label for ``trt.vs.ctrl`` (default: the first).
    levels : list, optional
        Keep only the comparisons involving these (non-reference) labels.
    what : str
        What the labels are levels of, for error messages.

    Returns
    -------
    (names, Ls)
    """
    labels = [lab for lab, _ in items]
    keep = None if levels is None else {str(x) for x in levels}
    if keep is not None and not keep <= set(labels):
        raise ModelError(f"levels {sorted(keep - set(labels))} are not levels of {what} (levels: {labels})")
    names, Ls = [], []
    if method == "pairwise":
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                if keep is None or (labels[i] in keep and labels[j] in keep):
                    names.append(f"{labels[i]} - {labels[j]}")
                    Ls.append(items[i][1] - items[j][1])
        return names, Ls
    r = labels[0] if ref is None else str(ref)
    if r not in labels:
        raise ModelError(f"ref={ref!r} is not a level of {what} (levels: {labels})")
    lr = items[labels.index(r)][1]
    for lab, l in items:
        if lab != r and (keep is None or lab in keep):
            names.append(f"{lab} - {r}")
            Ls.append(l - lr)
    return names, Ls


def adjust_family(rows: list[dict], L: np.ndarray, C: np.ndarray, adjust: str, level: float) -> None:
    """Adjust one family of estimate rows (in place) for multiplicity.

    Parameters
    ----------
    rows : list of dict
        Rows made by :func:`estimate_row`, one per contrast; ``p_value``, ``ci_lower`` and
        ``ci_upper`` are replaced.
    L : ndarray (m, p)
        The contrasts' L vectors.
    C : ndarray (p, p)
        Covariance of the coefficient estimates (for Dunnett's correlation of the contrasts).
    adjust : {"none", "holm", "bonferroni", "dunnett"}
        ``holm`` and ``bonferroni``: p-values from ``statsmodels.stats.multitest.multipletests``,
        Bonferroni intervals (level ``1 - (1 - level) / m``). ``dunnett``: single-step max-|t|
        (Dunnett's test for ``trt.vs.ctrl``; emmeans' ``"mvt"`` for ``pairwise``) from the
        multivariate t distribution of the t statistics (correlation from ``L C L'``; p-values with
        each row's own df) by :mod:`painstudy.models.mvt`: deterministic quadrature, accurate to
        about 1e-10, for families of up to five comparisons and for any family whose correlation
        has the product form of comparisons with one control; otherwise a randomised lattice rule
        with a fixed seed and an absolute error bound of 1e-6; one critical value per family at its
        smallest df.
    level : float
        Confidence level.
    """
    m = len(rows)
    if adjust == "none" or m <= 1:
        return
    if adjust in ("bonferroni", "holm"):
        from statsmodels.stats.multitest import multipletests

        p = np.array([r["p_value"] for r in rows], float)
        padj = multipletests(p, method=adjust)[1]
        a = (1 - level) / m
        for r, pa in zip(rows, padj):
            q = t_quantile(1 - a, r["df"])
            r["p_value"] = float(pa)
            r["ci_lower"], r["ci_upper"] = r["estimate"] - q * r["std_error"], r["estimate"] + q * r["std_error"]
        return
    _dunnett(rows, L, C, level)


def _dunnett(rows: list[dict], L: np.ndarray, C: np.ndarray, level: float) -> None:
    from .mvt import box_probability, critical_value

    V = L @ C @ L.T
    sd = np.sqrt(np.diag(V))
    R = V / np.outer(sd, sd)
    for r in rows:
        p, _ = box_probability(abs(r["statistic"]), R, r["df"])
        r["p_value"] = float(min(1.0, max(0.0, 1.0 - p)))
    # one critical value per family, at the smallest df of the family (conservative when df differ)
    q = critical_value(level, R, min(r["df"] for r in rows))
    for r in rows:
        r["ci_lower"], r["ci_upper"] = r["estimate"] - q * r["std_error"], r["estimate"] + q * r["std_error"]
