"""The analysis of a completed data set (rbmi's ``analyse`` step), one of three:

* :class:`AncovaDesign` (rbmi's default): at each visit ``outcome ~ arm + covariates`` by least squares: the
  difference of every arm from the control arm and the LS mean of every arm (the mean over all subjects of
  the prediction with the arm set, rbmi's and emmeans' counterfactual weights; with no arm-by-covariate
  interaction the prediction at the covariate means), each with its standard error and the residual df.
* :class:`~painstudy.sensitivity.analyse_mmrm.MmrmAnalysis`: an MMRM of all visits (painstudy's own, :func:`painstudy.models.mixed.mmrm`), e.g.
  the trial's primary model: the same differences and LS means per visit with the MMRM's standard errors and
  Satterthwaite df. With the covariates crossed with the visit and an unstructured covariance it equals the
  ANCOVA per visit on complete data (the regressors are the same at every visit).
* :class:`ResponderDesign`: at each visit the proportion of responders per arm (a rule on the completed
  outcome, :class:`ResponderRule`) and the risk difference from the control arm with its Wald variance.
  For multiple imputation only: the responder status of a conditional mean is not that of a patient.

Each gives, for the completed outcomes of the subjects of one sample, the estimates, variances and df of its
quantities (``labels``: ``(visit, kind, term)``), which the pooling step combines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.outcomes import reaches

__all__ = [
    "CompletedDataAnalysis",
    "AncovaDesign",
    "ancova_design",
    "ResponderRule",
    "ResponderDesign",
    "ANALYSES",
    "other_arms",
    "quantity_labels",
]

#: the analyses of a completed data set
ANALYSES = ("ancova", "mmrm", "responder")


class CompletedDataAnalysis:
    """What every analysis of a completed data set provides.

    ``labels``: per quantity ``(visit, kind, term)``, kind ``effect`` (``arm - control``), ``lsmean`` or
    ``proportion``; ``covariates``: the adjustment; :meth:`estimates`; :meth:`describe` (for the notes).
    """

    labels: tuple
    covariates: tuple

    def estimates(
        self, y: np.ndarray, index: np.ndarray | None = None, variance: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimates, variances and df of every quantity (in the order of ``labels``) for the completed
        outcomes ``y`` (one row per subject of ``index``, repeats allowed; all subjects by default). With
        ``variance=False`` (the jackknife and the bootstrap use the estimates only) an analysis may return NaN
        variances and df."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def notes(self) -> list[str]:
        """What a reader must know about the analyses run so far (e.g. fits that did not converge)."""
        return []


@dataclass(frozen=True)
class AncovaDesign(CompletedDataAnalysis):
    """What is fixed across imputations: the design columns and the rows of the quantities.

    ``labels``: per quantity ``(visit, kind, term)`` with kind ``effect`` (``arm - control``) or ``lsmean``.
    """

    X: np.ndarray  # (n, p): intercept, arm dummies, covariates
    L: np.ndarray  # (q, p): the quantities at one visit
    visits: tuple
    labels: tuple
    covariates: tuple = ()

    def estimates(self, y, index=None, variance=True):
        """Estimates, variances and df of every quantity at every visit (flattened visit-major) for the
        completed outcomes ``y`` (one row per subject of ``index``, repeats allowed; all subjects by default)."""
        X = self.X if index is None else self.X[index]
        Y = y
        n, p = X.shape
        if n <= p:
            raise ModelError(f"ANCOVA: {n} subjects for {p} coefficients")
        XtX_inv = np.linalg.inv(X.T @ X)
        B = XtX_inv @ (X.T @ Y)  # (p, T)
        resid = Y - X @ B
        s2 = (resid**2).sum(axis=0) / (n - p)  # (T,)
        L = self.L if index is None else self._lsmean_rows(X)
        est = (L @ B).T  # (T, q)
        var = np.einsum("qa,ab,qb->q", L, XtX_inv, L)[None, :] * s2[:, None]
        df = np.full_like(est, n - p, dtype=float)
        return est.reshape(-1), var.reshape(-1), df.reshape(-1)

    def _lsmean_rows(self, X: np.ndarray) -> np.ndarray:
        """The rows of ``L`` with the covariate means of the subjects used (a resample has its own)."""
        L = self.L.copy()
        k = self.n_arm_columns
        means = X[:, 1 + k :].mean(axis=0)
        lsm = np.array([kind == "lsmean" for _, kind, _ in self.labels[: len(L)]])
        L[np.ix_(lsm, np.arange(1 + k, X.shape[1]))] = means
        return L

    @property
    def n_arm_columns(self) -> int:
        return sum(1 for _, kind, _ in self.labels[: len(self.L)] if kind == "effect")

    def describe(self) -> str:
        return f"ANCOVA at each visit adjusted for {', '.join(self.covariates) or 'nothing'}"


def ancova_design(arm: np.ndarray, covariates: pd.DataFrame, control, visits: tuple) -> AncovaDesign:
    """The ANCOVA design: intercept, one dummy per arm other than ``control``, the covariates (numeric as
    they are, others as treatment dummies)."""
    others = other_arms(arm, control)
    cols = [np.ones(len(arm))] + [(arm == a).astype(float) for a in others]
    for c in covariates.columns:
        s = covariates[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            cols.append(s.to_numpy(float))
        else:
            levels = sorted(pd.unique(s), key=str)
            cols += [(s == lv).to_numpy(float) for lv in levels[1:]]
    X = np.column_stack(cols)
    k = len(others)
    means = X[:, 1 + k :].mean(axis=0)
    rows = []
    for j in range(k):
        r = np.zeros(X.shape[1])
        r[1 + j] = 1.0
        rows.append(r)
    for a in [control, *others]:
        r = np.zeros(X.shape[1])
        r[0] = 1.0
        if a != control:
            r[1 + others.index(a)] = 1.0
        r[1 + k :] = means
        rows.append(r)
    full = quantity_labels(others, control, visits)
    return AncovaDesign(X=X, L=np.array(rows), visits=visits, labels=full, covariates=tuple(covariates.columns))


def other_arms(arm: np.ndarray, control) -> list:
    """The arms other than ``control``, in the order of their labels (``control`` must be one of them)."""
    arms = list(pd.unique(arm))
    if control not in arms:
        raise ModelError(f"control arm {control!r} is not one of the arms {[str(a) for a in arms]}")
    return [a for a in sorted(arms, key=str) if a != control]


def quantity_labels(others: list, control, visits: tuple, level_kind: str = "lsmean") -> tuple:
    """``(visit, kind, term)`` per quantity, visit-major: each arm minus ``control``, then a level per arm."""
    per_visit = [("effect", f"{a} - {control}") for a in others] + [(level_kind, str(a)) for a in [control, *others]]
    return tuple((v, kind, term) for v in visits for kind, term in per_visit)


@dataclass(frozen=True)
class ResponderRule:
    """Who is a responder, from the completed outcome.

    ``outcome_is_change`` (default): the outcome is already the change from baseline (as rbmi's ``CHANGE``);
    otherwise it is the score and the change is ``score - baseline`` (``baseline``: the subject-level column
    of the baseline score). The improvement is minus the change when lower is better; with ``relative`` it is
    a fraction of the baseline (``0.3``: 30% better; needs ``baseline``). A responder improves by at least
    ``threshold``; a relative improvement on a baseline of 0 is undefined and counts as no response.

    >>> ResponderRule(0.3, relative=True, baseline="pain_baseline", outcome_is_change=False).describe()
    'responder: an improvement (a decrease) of at least 30% of pain_baseline'
    """

    threshold: float
    relative: bool = False
    baseline: str | None = None
    outcome_is_change: bool = True
    lower_is_better: bool = True

    def __post_init__(self):
        if not np.isfinite(self.threshold):
            raise ModelError(f"responder threshold must be a finite number, got {self.threshold!r}")
        if self.baseline is None and (self.relative or not self.outcome_is_change):
            what = "a relative threshold" if self.relative else "an outcome that is not a change"
            raise ModelError(f"responder rule: {what} needs the baseline column (baseline=...)")

    def respond(self, y: np.ndarray, baseline: np.ndarray | None) -> np.ndarray:
        """1/0 per subject (row) and visit (column)."""
        change = y if self.outcome_is_change else y - baseline[:, None]
        imp = -change if self.lower_is_better else change
        if self.relative:
            with np.errstate(divide="ignore", invalid="ignore"):
                imp = np.where(baseline[:, None] != 0, imp / np.abs(baseline[:, None]), np.nan)
        return reaches(imp.reshape(-1), self.threshold)[0].reshape(imp.shape)

    def describe(self) -> str:
        how = f"{100 * self.threshold:g}% of {self.baseline}" if self.relative else f"{self.threshold:g} points"
        direction = "a decrease" if self.lower_is_better else "an increase"
        return f"responder: an improvement ({direction}) of at least {how}"


class ResponderDesign(CompletedDataAnalysis):
    """The proportion of responders per arm at each visit and each arm's risk difference from ``control``
    (Wald variance ``p1 (1 - p1) / n1 + p0 (1 - p0) / n0``; df infinite)."""

    def __init__(self, wide, rule: ResponderRule, control):
        if rule.baseline is not None and rule.baseline not in wide.covariates.columns:
            raise ModelError(f"responder baseline {rule.baseline!r} is not a subject-level column of the data")
        self.wide, self.rule, self.control = wide, rule, control
        self.others = other_arms(wide.arm, control)
        self.labels = quantity_labels(self.others, control, wide.visits, level_kind="proportion")
        self.covariates = ()
        base = None if rule.baseline is None else wide.covariates[rule.baseline].to_numpy(float)
        if base is not None and np.isnan(base).any():
            raise ModelError(f"responder baseline {rule.baseline!r}: {int(np.isnan(base).sum())} subject(s) lack it")
        self.base = base
        self.groups = [control, *self.others]

    def estimates(self, y, index=None, variance=True):
        idx = np.arange(self.wide.n) if index is None else np.asarray(index)
        base = None if self.base is None else self.base[idx]
        resp = self.rule.respond(np.asarray(y, float), base).astype(float)  # (n, T)
        arm = self.wide.arm[idx]
        p, v = [], []
        for a in self.groups:
            sel = arm == a
            if not sel.any():
                raise ModelError(f"responder analysis: arm {a!r} has no subject in a sample")
            pa = resp[sel].mean(axis=0)
            p.append(pa)
            v.append(pa * (1 - pa) / sel.sum())
        est, var = [], []
        for t in range(self.wide.T):
            est += [p[j][t] - p[0][t] for j in range(1, len(p))] + [p[j][t] for j in range(len(p))]
            var += [v[j][t] + v[0][t] for j in range(1, len(p))] + [v[j][t] for j in range(len(p))]
        est, var = np.array(est), np.array(var)
        return est, var, np.full_like(est, np.inf)

    def describe(self) -> str:
        return f"responders at each visit ({self.rule.describe()}): risk difference with its Wald variance"
