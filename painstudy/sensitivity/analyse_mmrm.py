"""The analysis of a completed data set by an MMRM of all visits (e.g. the trial's primary model).

The design of every subject at every visit is built once; an analysis of a sample (the full data, a
jackknife or bootstrap sample, an imputation) builds only the likelihood engine of its completed outcomes.
When only the estimates are needed (the jackknife and the bootstrap), the fit starts from the last full-data
analysis by chord iterations (:func:`painstudy.models.mixed.mmrm_optim.chord_refit`), one gradient per
step, and converges to the same optimum as a full fit; otherwise (multiple imputation, single imputations)
it is a full REML fit with the MMRM's standard errors and df (Satterthwaite by default).

The quantities are those of the ANCOVA: at each visit each arm minus the control arm and the LS mean of
every arm (emmeans' and SAS's equal weights over the other factors, numeric covariates at the sample's mean).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.models.blas import DEFAULT_BLAS_THREADS, blas_threads
from painstudy.models.mixed.data import check_full_rank
from painstudy.models.mixed.formula import build_design, make_design_info, parse_formula
from painstudy.models.mixed.mmrm_inference import build_mmrm_inference
from painstudy.models.mixed.mmrm_optim import chord_refit, fit_covariance
from painstudy.sensitivity.analyse import CompletedDataAnalysis, other_arms, quantity_labels
from painstudy.sensitivity.model import sample_data

__all__ = ["MmrmAnalysis"]


class MmrmAnalysis(CompletedDataAnalysis):
    """An MMRM of every completed data set (``formula`` in R mmrm syntax over the data's outcome, arm, visit,
    subject and subject-level covariates; REML); ``df``: the df method of :func:`painstudy.mmrm`."""

    def __init__(self, wide, formula: str, control, covariates: tuple, df: str = "satterthwaite"):
        parsed = parse_formula(formula)
        cov, fx = parsed.covariance, parsed.fixed
        if cov is None:
            raise ModelError(
                f"analysis formula {formula!r}: the MMRM needs a covariance term, e.g. us(VISIT | SUBJECT)"
            )
        if fx.outcome != wide.outcome:
            raise ModelError(f"analysis formula {formula!r}: the outcome must be {wide.outcome!r}")
        if cov.subject != wide.subject_column or cov.visit != wide.visit_column:
            raise ModelError(
                f"analysis formula {formula!r}: its covariance term must be over "
                f"({wide.visit_column} | {wide.subject_column})"
            )
        used = {c for t in fx.terms for c in t}
        if wide.arm_column not in used:
            raise ModelError(f"analysis formula {formula!r}: the arm column {wide.arm_column!r} is not in it")
        known = {wide.visit_column, wide.arm_column, *wide.covariates.columns}
        unknown = sorted(used - known) + ([cov.group] if cov.group and cov.group not in known else [])
        if unknown:
            raise ModelError(
                f"analysis formula {formula!r}: column(s) {unknown} are not the visit, the arm or subject-level "
                f"covariates of the data ({', '.join(map(str, wide.covariates.columns))})"
            )
        self.wide, self.formula, self.control, self.df = wide, formula, control, df
        self.parsed, self.structure = parsed, cov.structure
        self.others = other_arms(wide.arm, control)
        self.labels = quantity_labels(self.others, control, wide.visits)
        self.covariates = tuple(covariates)
        long = wide.long()
        long[wide.arm_column] = pd.Categorical(long[wide.arm_column].astype(str), categories=self._arm_levels())
        self.info = make_design_info(fx, long, orders={wide.visit_column: wide.visits})
        self.X = build_design(self.info, long)
        check_full_rank(self.X, self.info.column_names)
        if cov.group:
            codes, uniques = pd.factorize(wide.covariates[cov.group], sort=True)
            self.groups, self.group_of = tuple(uniques), codes.astype(np.int64)
        else:
            self.groups, self.group_of = (None,), np.zeros(wide.n, np.int64)
        self._grid, self._cells = self._lsmean_grid()
        self._anchor = None  # (phi, Hessian) of the last full-data fit: the start of the chord refits
        self._sigmas = None
        self.fits = 0
        self.not_converged = 0

    def _arm_levels(self) -> list:
        return [str(a) for a in [self.control, *self.others]]

    def _lsmean_grid(self):
        """Every combination of the factors' levels (numeric covariates filled in per sample) and, per
        (visit, arm), the grid rows averaged into its LS mean."""
        w, info = self.wide, self.info
        factors = {c: list(levels) for c, levels in info.factors.items()}
        factors.setdefault(w.arm_column, self._arm_levels())
        factors.setdefault(w.visit_column, list(w.visits))
        names = list(factors)
        grid = pd.DataFrame(list(itertools.product(*factors.values())), columns=names)
        for c in names:
            grid[c] = pd.Categorical(grid[c], categories=factors[c])
        arm, visit = grid[w.arm_column].astype(str).to_numpy(), grid[w.visit_column].astype(str).to_numpy()
        cells = {
            (str(v), str(a)): np.flatnonzero((visit == str(v)) & (arm == str(a)))
            for v in w.visits
            for a in self._arm_levels()
        }
        return grid, cells

    def _L(self, idx: np.ndarray) -> np.ndarray:
        """The rows of the quantities with the numeric covariates at the mean of the sample ``idx``."""
        grid = self._grid
        if self.info.numerics:
            grid = grid.copy()
            cov = self.wide.covariates
            for c in self.info.numerics:
                grid[c] = float(cov[c].to_numpy(float)[idx].mean())
        G = build_design(self.info, grid)
        lsm = {key: G[rows].mean(axis=0) for key, rows in self._cells.items()}
        rows = []
        for v, kind, term in self.labels:
            if kind == "effect":
                arm = term[: -len(f" - {self.control}")]
                rows.append(lsm[(str(v), arm)] - lsm[(str(v), str(self.control))])
            else:
                rows.append(lsm[(str(v), term)])
        return np.array(rows)

    def estimates(self, y, index=None, variance=True):
        w = self.wide
        T = w.T
        idx = np.arange(w.n) if index is None else np.asarray(index, np.int64)
        m = len(idx)
        rows = (idx[:, None] * T + np.arange(T)).reshape(-1)
        t, k = np.tile(np.arange(T), m), np.repeat(np.arange(m), T)  # a subject drawn twice is two subjects
        group = np.repeat(self.group_of[idx], T)
        prep = sample_data(
            self.parsed, self.info, self.X[rows], np.asarray(y, float).reshape(-1), t, k, group, self.groups, w.visits
        )
        L = self._L(idx)
        G = len(self.groups)
        self.fits += 1
        with blas_threads(DEFAULT_BLAS_THREADS), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            if not variance and self._anchor is not None:
                done = chord_refit(prep.engine, self.structure, True, *self._anchor, n_groups=G)
                if done is not None:
                    nan = np.full(len(L), np.nan)
                    return L @ done[1]["beta"], nan, nan
            control = {"start_sigmas": list(self._sigmas)} if self._sigmas is not None else {}
            try:
                fit = fit_covariance(prep, self.structure, True, control)
            except np.linalg.LinAlgError as exc:
                raise ModelError(f"the MMRM analysis of a completed data set failed numerically ({exc})") from None
            if not fit.converged:
                self.not_converged += 1
            if index is None and fit.converged:
                self._anchor, self._sigmas = (fit.phi, fit.hessian), fit.sigmas
            inference = build_mmrm_inference(prep, fit, self.df if variance else "residual", "model")
            out = np.array([inference.contrast(l) for l in L])
        return out[:, 0], out[:, 1] ** 2, out[:, 2]

    def describe(self) -> str:
        return f"MMRM {self.formula} (REML, {self.df} df)"

    def notes(self) -> list[str]:
        if not self.not_converged:
            return []
        return [f"the MMRM analysis did not converge on {self.not_converged} of {self.fits} completed data sets"]
