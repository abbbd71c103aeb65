"""The analysis of a completed data set: ANCOVA at every visit (rbmi's default analysis).

At each visit ``outcome ~ arm + covariates`` by least squares: the difference of every arm from the
control arm and the LS mean of every arm (the mean over all subjects of the prediction with the arm set,
rbmi's and emmeans' counterfactual weights; with no arm-by-covariate interaction the prediction at the
covariate means), each with its standard error and the residual df.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from painstudy.errors import ModelError

__all__ = ["AncovaDesign", "ancova_design"]


@dataclass(frozen=True)
class AncovaDesign:
    """What is fixed across imputations: the design columns and the rows of the quantities.

    ``labels``: per quantity ``(visit, kind, term)`` with kind ``effect`` (``arm - control``) or ``lsmean``.
    """

    X: np.ndarray  # (n, p): intercept, arm dummies, covariates
    L: np.ndarray  # (q, p): the quantities at one visit
    visits: tuple
    labels: tuple
    covariates: tuple = ()

    def estimates(self, y: np.ndarray, index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def ancova_design(arm: np.ndarray, covariates: pd.DataFrame, control, visits: tuple) -> AncovaDesign:
    """The ANCOVA design: intercept, one dummy per arm other than ``control``, the covariates (numeric as
    they are, others as treatment dummies)."""
    arms = list(pd.unique(arm))
    if control not in arms:
        raise ModelError(f"control arm {control!r} is not one of the arms {[str(a) for a in arms]}")
    others = [a for a in sorted(arms, key=str) if a != control]
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
    rows, labels = [], []
    for j, a in enumerate(others):
        r = np.zeros(X.shape[1])
        r[1 + j] = 1.0
        rows.append(r)
        labels.append(("effect", f"{a} - {control}"))
    for a in [control, *others]:
        r = np.zeros(X.shape[1])
        r[0] = 1.0
        if a != control:
            r[1 + others.index(a)] = 1.0
        r[1 + k :] = means
        rows.append(r)
        labels.append(("lsmean", str(a)))
    full = tuple((v, kind, term) for v in visits for kind, term in labels)
    return AncovaDesign(X=X, L=np.array(rows), visits=visits, labels=full, covariates=tuple(covariates.columns))
