"""The imputation model: an MMRM fitted on any sample of subjects, and its means under each strategy.

The design of every subject at every visit is built once, under the subject's own arm and under the
arm's reference; a fit on a sample of subjects (a jackknife or bootstrap sample, with repeats) builds
only the likelihood engine of the outcomes the model may use, and starts from the previous fit's
covariance, so that hundreds of refits take milliseconds each.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from painstudy.errors import ConvergenceWarning, ModelError
from painstudy.models.blas import DEFAULT_BLAS_THREADS, blas_threads
from painstudy.models.mixed.data import check_full_rank
from painstudy.models.mixed.formula import build_design, make_design_info, parse_formula
from painstudy.models.mixed.mmrm import MMRMData
from painstudy.models.mixed.mmrm_engine import Engine
from painstudy.models.mixed.mmrm_optim import chord_refit, fit_covariance
from painstudy.sensitivity.data import WideData
from painstudy.sensitivity.impute import strategy_covariances

__all__ = ["ImputationModel", "Parameters", "sample_data"]


class Parameters:
    """One draw of the imputation model: coefficients, covariance matrices (G, T, T: one per arm, or one shared)
    and whether the fit converged;
    for the full-data fit also its natural covariance parameters and their Hessian (``anchor``), from
    which the resamples are refitted by chord iterations."""

    def __init__(self, beta: np.ndarray, sigma: np.ndarray, converged: bool, anchor=None):
        self.beta, self.sigma, self.converged, self.anchor = beta, sigma, converged, anchor


def sample_data(parsed, info, X, y, visit_code, subject_code, group_code, groups: tuple, visits: tuple) -> MMRMData:
    """The prepared data of an MMRM on rows already chosen (a sample of subjects, every row complete):
    ``subject_code`` numbers the subjects 0, 1, ... in row order; ``group_code`` the covariance group of each row
    (``groups``: ``(None,)`` when one matrix is shared)."""
    t, k = np.asarray(visit_code, np.int64), np.asarray(subject_code, np.int64)
    group = np.asarray(group_code, np.int64)
    G = len(groups)
    return MMRMData(
        parsed=parsed,
        design=info,
        data=None,
        X=X,
        y=y,
        visit_code=t,
        subject_code=k,
        group_code=group if G > 1 else None,
        visit_levels=tuple(visits),
        visit_order_source="the imputation's visit order",
        group_levels=tuple(groups),
        sqrt_w=None,
        XtX=X.T @ X,
        engine=Engine(X, y, t, k, group, G, len(visits)),
        n_subjects=int(k.max()) + 1 if len(k) else 0,
        n_rows_dropped=0,
        n_subjects_dropped=0,
        # every term but the visit's is subject-level (the between-within df need to know)
        within_varies={c: c == parsed.covariance.visit for t in info.terms for c in t},
    )


class ImputationModel:
    """``formula``: R mmrm syntax with the covariance term on the data's visit and subject columns, e.g.
    ``"CHANGE ~ THERAPY * VISIT + BASVAL * VISIT + us(VISIT | PATIENT)"``; ``reference`` maps every arm
    to its reference arm."""

    def __init__(self, wide: WideData, formula: str, reference: dict, reml: bool = True):
        parsed = parse_formula(formula)
        cov, fx = parsed.covariance, parsed.fixed
        if fx.outcome != wide.outcome:
            raise ModelError(f"formula: the outcome is {fx.outcome!r}, the data's outcome is {wide.outcome!r}")
        if cov.visit != wide.visit_column or cov.subject != wide.subject_column:
            raise ModelError(
                f"formula: the covariance term must be on ({wide.visit_column} | {wide.subject_column}), "
                f"found ({cov.visit} | {cov.subject})"
            )
        if cov.group and cov.group != wide.arm_column:
            raise ModelError(
                f"formula: the covariance term may be grouped by the arm only ({cov.structure}({cov.visit} | "
                f"{wide.arm_column} / {cov.subject}): one matrix per arm), not by {cov.group!r}"
            )
        for c in (c for t in fx.terms for c in t):
            if c not in (wide.visit_column, *wide.covariates.columns):
                raise ModelError(
                    f"formula term {c!r}: the imputation model may use the visit, the arm and subject-level "
                    f"covariates ({', '.join(wide.covariates.columns)})"
                )
        self.wide, self.parsed, self.reml, self.reference = wide, parsed, reml, dict(reference)
        # one covariance matrix per arm (``us(VISIT | ARM / SUBJECT)``) or one shared by the arms
        arms = list(pd.unique(wide.arm))
        self.groups = tuple(arms) if cov.group else (None,)
        pos = {a: i for i, a in enumerate(arms)}
        self.own_group = np.array([pos[a] for a in wide.arm]) if cov.group else np.zeros(wide.n, np.int64)
        self.ref_group = (
            np.array([pos[self.reference[a]] for a in wide.arm]) if cov.group else np.zeros(wide.n, np.int64)
        )
        long = wide.long()
        avail = wide.available().reshape(-1)
        self.info = make_design_info(fx, long.loc[avail], orders={wide.visit_column: wide.visits})
        self.X_own = build_design(self.info, long)
        ref = long.copy()
        ref[wide.arm_column] = ref[wide.arm_column].map(reference)
        self.X_ref = build_design(self.info, ref)
        check_full_rank(self.X_own[avail], self.info.column_names)
        self.avail = wide.available()

    def fit(self, index: np.ndarray, start=None) -> Parameters:
        """Fit on the subjects ``index`` (positions, repeats allowed). ``start``: a covariance matrix to start
        from, or the full-data :class:`Parameters` (chord iterations from its optimum, falling back to a
        full fit started at its covariance)."""
        wide, T = self.wide, self.wide.T
        index = np.asarray(index, np.int64)
        av = self.avail[index]  # (m, T)
        has = av.any(axis=1)
        sample = np.flatnonzero(has)
        k, t = np.nonzero(av[sample])
        rows = index[sample][k] * T + t
        X, y = self.X_own[rows], wide.y.reshape(-1)[rows]
        group = self.own_group[index[sample][k]].astype(np.int64)
        prep = sample_data(self.parsed, self.info, X, y, t, k, group, self.groups, wide.visits)
        engine = prep.engine
        G = len(self.groups)
        structure = self.parsed.covariance.structure
        with blas_threads(DEFAULT_BLAS_THREADS), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            with np.errstate(all="ignore"):
                if isinstance(start, Parameters) and start.anchor is not None:
                    # a resample of the fitted data: chord steps from the full fit (one gradient each)
                    done = chord_refit(engine, structure, self.reml, *start.anchor, n_groups=G)
                    if done is not None:
                        return Parameters(done[1]["beta"], np.array(done[0]), True)
                if isinstance(start, Parameters):
                    start = start.sigma
                control = {"start_sigmas": list(start)} if start is not None else {}
                try:
                    fit = fit_covariance(prep, structure, self.reml, control)
                except np.linalg.LinAlgError as exc:
                    raise ModelError(f"the imputation model failed numerically on a resample ({exc})") from None
        anchor = (fit.phi, fit.hessian) if fit.converged else None
        return Parameters(fit.evaluation["beta"], np.array(fit.sigmas), bool(fit.converged), anchor)

    def covariances(self, sigmas: np.ndarray, ice: np.ndarray, strategy: np.ndarray) -> tuple:
        """Every subject's covariance matrix under its strategy, as ``(key, matrices)`` (see
        :func:`~painstudy.sensitivity.impute.strategy_covariances`)."""
        return strategy_covariances(sigmas, self.own_group, self.ref_group, ice, strategy)

    def means(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every subject's mean at every visit under its own arm and under its arm's reference (n, T) each."""
        n, T = self.wide.n, self.wide.T
        return (self.X_own @ beta).reshape(n, T), (self.X_ref @ beta).reshape(n, T)
