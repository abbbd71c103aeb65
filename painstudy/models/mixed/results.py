"""Results of the mixed models: :class:`MixedModelResult`, the shared base, and :class:`MMRMResult`.

The base holds what every mixed model answers the same way, from its design (:class:`DesignInfo`) and
its :class:`~painstudy.models.mixed.inference.Inference`: the coefficient table, LS means (``at=`` fixes
numeric covariates), contrasts of LS means with multiplicity adjustment, LS trends and their contrasts,
SAS type III hypotheses and tests, population predictions, and the rendering (``tidy()``; ``summary()``
stays the plain-text report).  :class:`MMRMResult` adds the covariance matrix of the visits and
conditional predictions; :class:`painstudy.models.mixed.lmm_results.LMMResult` adds variance components
and BLUPs.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.io import to_jsonable
from painstudy.models.contrasts import (
    TABLE_COLUMNS,
    adjust_family,
    check_contrast_args,
    contrast_family,
    estimate_row,
    t_quantile,
)
from painstudy.models.mixed.formula import DesignInfo, ParsedFormula, build_design
from painstudy.models.mixed.inference import Inference
from painstudy.models.mixed.lsmeans import custom_rows, interaction_rows, lsmean_rows, reference_grid
from painstudy.rendering import Rendered, Tidy

if TYPE_CHECKING:  # pragma: no cover
    from painstudy.models.mixed.mmrm import MMRMData
    from painstudy.models.mixed.mmrm_optim import CovarianceFit

__all__ = ["MixedModelResult", "MMRMResult", "TABLE_COLUMNS", "coefficient_table", "numerical_notes", "term_frame"]

NOT_CONVERGED = "NOT CONVERGED"


def coefficient_table(inference: Inference, level: float = 0.95) -> pd.DataFrame:
    """One row per column of the design: estimate, standard error, df, t, p-value, confidence interval."""
    names = list(inference.column_names)
    rows = []
    for j in range(len(names)):
        l = np.zeros(len(names))
        l[j] = 1.0
        rows.append(estimate_row(*inference.contrast(l), level))
    return pd.DataFrame(rows, index=pd.Index(names, name="term"))[TABLE_COLUMNS]


def term_frame(info: DesignInfo, data: pd.DataFrame | None) -> pd.DataFrame | None:
    """The columns of the model's terms in the rows used (for LS-mean weights); None without rows."""
    if data is None:
        return None
    cols = [c for c in [*info.factors, *info.numerics] if c in data.columns]
    return data[cols].reset_index(drop=True)


def numerical_notes(coefficients: pd.DataFrame) -> tuple[str, ...]:
    """Notes for coefficients whose standard error or df could not be computed (non-finite)."""
    notes = []
    for col, what in (("std_error", "standard error"), ("df", "degrees of freedom")):
        bad = coefficients.index[~np.isfinite(coefficients[col].to_numpy(float))]
        if len(bad):
            notes.append(f"the {what} of {', '.join(map(str, bad))} could not be computed (not finite)")
    return tuple(notes)


def _mean_table(est: np.ndarray, se: np.ndarray, level: float, index) -> pd.DataFrame:
    q = t_quantile(level, np.inf)
    return pd.DataFrame(
        {"estimate": est, "std_error": se, "ci_lower": est - q * se, "ci_upper": est + q * se}, index=index
    )


def _as_list(x) -> list:
    return [] if x is None else ([x] if isinstance(x, str) else list(x))


@dataclass(frozen=True, repr=False)
class MixedModelResult(Rendered):
    """Base of the mixed-model results (immutable): what every mixed model answers the same way.

    Attributes
    ----------
    formula : str
    reml : bool
    df_method : str
    coefficients : DataFrame
        Indexed by term; ``estimate, std_error, df, statistic, p_value, ci_lower, ci_upper``.
    neg2_log_lik, aic, bic : float
    n_obs, n_rows_dropped : int
    converged : bool
    optimizer : dict
        Optimiser diagnostics (methods tried, iterations, final max |gradient|, timings).
    notes : tuple of str
        Everything worth knowing about the fit (non-convergence, boundary estimates, ...).
    design : DesignInfo
        Levels, coding and numeric means of the fixed effects.
    inference : Inference
        Estimates, covariances and the degrees-of-freedom machinery.
    """

    formula: str
    reml: bool
    df_method: str
    coefficients: pd.DataFrame
    neg2_log_lik: float
    aic: float
    bic: float
    n_obs: int
    n_rows_dropped: int
    converged: bool
    optimizer: dict
    notes: tuple
    design: DesignInfo = field(compare=False)
    inference: Inference = field(compare=False)
    frame: pd.DataFrame | None = field(compare=False, repr=False)  # the term columns of the rows used

    # -------------------------------------------------------------------------------------------
    @property
    def log_lik(self) -> float:
        """REML (or ML) log-likelihood."""
        return -0.5 * self.neg2_log_lik

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the coefficient estimates (as used for the standard errors)."""
        n = list(self.design.column_names)
        return pd.DataFrame(self.inference.C, index=n, columns=n)

    # the attribute names of earlier versions (tests and notebooks read them)
    @property
    def _info(self) -> DesignInfo:
        return self.design

    @property
    def _inf(self) -> Inference:
        return self.inference

    # -------------------------------------------------------------------------------------------
    def _design_at(self, at: dict | None) -> DesignInfo:
        """The design with numeric covariates at ``at`` (others at their means)."""
        if not at:
            return self.design
        bad = [k for k in at if k not in self.design.numerics]
        if bad:
            raise ModelError(f"at={at!r}: {bad} are not numeric covariates of the model {list(self.design.numerics)}")
        means = {**self.design.numeric_means, **{k: float(v) for k, v in at.items()}}
        return dataclasses.replace(self.design, numeric_means=means)

    def _lsmean_rows(self, specs, by, at: dict | None, weights: str = "equal"):
        specs, by = _as_list(specs), _as_list(by)
        keys = specs + [b for b in by if b not in specs]
        rows = lsmean_rows(self._design_at(at), self.frame, keys, weights, at)
        return specs, by, keys, rows

    def lsmeans(
        self, specs, by=None, level: float = 0.95, *, at: dict | None = None, weights: str = "equal"
    ) -> pd.DataFrame:
        """Least-squares means (SAS LSMEANS / emmeans): other factors averaged with equal weights (or
        ``weights``), numeric covariates at their mean unless given in ``at``.

        Parameters
        ----------
        specs : str or list of str
            Factor(s) whose level combinations get an LS mean.
        by : str or list of str, optional
            Further factor(s) crossed with ``specs`` (e.g. ``by="AVISIT"``).
        level : float
            Confidence level.
        at : dict, optional
            Values of numeric covariates, e.g. ``at={"week": 12}`` (default: their means).
        weights : {"equal", "proportional", "outer", "cells", "counterfactual"}
            How the other factors' combinations are averaged (emmeans' definitions; see
            :mod:`painstudy.models.mixed.lsmeans`).

        Returns
        -------
        DataFrame with the factor columns and ``estimate, std_error, df, statistic, p_value, ci_lower,
        ci_upper`` (t test of estimate = 0).
        """
        specs, by, keys, rows = self._lsmean_rows(specs, by, at, weights)
        out = []
        for combo, l in rows:
            est, se, df = self.inference.contrast(l)
            out.append({**dict(zip(keys, combo)), **estimate_row(est, se, df, level)})
        cols = by + [s for s in specs if s not in by]
        if not by:
            return pd.DataFrame(out)[keys + TABLE_COLUMNS]
        # rows grouped by the ``by`` factors in the order of their levels (visits in time order), not alphabetically
        rank = {k: {lv: i for i, lv in enumerate(self.design.factors.get(k, ()))} for k in by}
        return (
            pd.DataFrame(out)[cols + TABLE_COLUMNS]
            .sort_values(by, kind="stable", key=lambda s: s.map(rank[s.name]) if rank[s.name] else s)
            .reset_index(drop=True)
        )

    def contrasts(
        self,
        specs,
        by=None,
        method: str = "pairwise",
        ref=None,
        adjust: str = "none",
        level: float = 0.95,
        levels=None,
        *,
        at: dict | None = None,
        weights: str = "equal",
    ) -> pd.DataFrame:
        """Differences of LS means within each level of ``by``.

        Parameters
        ----------
        specs : str or list of str
            Factor(s) compared.
        by : str or list of str, optional
            Comparisons are made within each level combination of ``by`` (the family for adjustment).
        method : {"pairwise", "trt.vs.ctrl"}
            All pairs ``a - b`` (earlier level first, as emmeans), or each level minus ``ref``.
        ref : str, optional
            Control level for ``trt.vs.ctrl`` (default: the first level).
        adjust : {"none", "holm", "bonferroni", "dunnett"}
            Multiplicity adjustment within each ``by`` family (see
            :func:`painstudy.models.contrasts.adjust_family`): Holm and Bonferroni with Bonferroni
            intervals; ``dunnett`` the single-step max-|t| adjustment (Dunnett's test with
            ``trt.vs.ctrl``, emmeans' ``"mvt"`` with ``pairwise``).
        level : float
            Confidence level.
        levels : list, optional
            Compare only these levels (with ``trt.vs.ctrl``: these against ``ref``); the family
            adjusted for multiplicity is then just these comparisons.
        at : dict, optional
            Values of numeric covariates (default: their means).
        weights : str
            The LS means' weights (see :meth:`lsmeans`).

        Returns
        -------
        DataFrame with ``contrast``, the ``by`` columns, and the usual estimate columns.
        """
        check_contrast_args(method, adjust)
        specs_l, by_l, keys, rows = self._lsmean_rows(specs, by, at, weights)
        ns = len(specs_l)
        fams: dict = {}
        for combo, l in rows:
            lab = " ".join(str(c) for c in combo[:ns])
            fams.setdefault(tuple(combo[ns:]), []).append((lab, l))
        out = []
        for bykey, items in fams.items():
            names, Ls = contrast_family(items, method, ref, levels, specs_l)
            fam = []
            for nm, l in zip(names, Ls):
                fam.append(
                    {"contrast": nm, **dict(zip(by_l, bykey)), **estimate_row(*self.inference.contrast(l), level)}
                )
            adjust_family(fam, np.array(Ls), self.inference.C, adjust, level)
            out.extend(fam)
        return pd.DataFrame(out)[["contrast"] + by_l + TABLE_COLUMNS]

    def custom_contrasts(
        self, specs, coefficients: dict, *, level: float = 0.95, at: dict | None = None, weights: str = "equal"
    ) -> pd.DataFrame:
        """User-defined linear combinations of LS means (emmeans ``contrast(emm, method = list(...))``).

        ``coefficients``: ``{name: {level: c, ...}}`` for one factor, or ``{name: {(level, level): c, ...}}``
        over the combinations of ``specs`` (levels in the order of ``specs``); e.g. the difference of two arms
        averaged over weeks 26 and 52: ``fit.custom_contrasts(["arm", "visit"], {"B - A, weeks 26-52":
        {("B", "week26"): .5, ("B", "week52"): .5, ("A", "week26"): -.5, ("A", "week52"): -.5}})``.
        Returns ``contrast`` and the usual estimate columns (no multiplicity adjustment)."""
        specs_l, _, keys, rows = self._lsmean_rows(specs, None, at, weights)
        out = [
            {"contrast": n, **estimate_row(*self.inference.contrast(l), level)}
            for n, l in custom_rows(rows, keys, coefficients)
        ]
        return pd.DataFrame(out)[["contrast"] + TABLE_COLUMNS]

    def interaction_contrasts(
        self,
        specs,
        methods=("trt.vs.ctrl", "consec"),
        *,
        ref=None,
        level: float = 0.95,
        at: dict | None = None,
        weights: str = "equal",
    ) -> pd.DataFrame:
        """Interaction contrasts (emmeans ``contrast(emm, interaction = methods)``): contrasts of contrasts, e.g.
        ``fit.interaction_contrasts(["arm", "visit"], ("trt.vs.ctrl", "consec"), ref="placebo")``: each arm's
        difference from placebo at each visit minus the same difference at the visit before. ``methods``: one
        of ``pairwise, trt.vs.ctrl, consec`` per factor; ``ref``: the control level (or a dict per factor).
        Returns one column ``{factor}_contrast`` per factor and the usual estimate columns."""
        specs_l, _, keys, rows = self._lsmean_rows(specs, None, at, weights)
        names, Ls = interaction_rows(rows, self._design_at(at), keys, methods, ref)
        out = [
            {**{f"{k}_contrast": n for k, n in zip(keys, nm)}, **estimate_row(*self.inference.contrast(l), level)}
            for nm, l in zip(names, Ls)
        ]
        return pd.DataFrame(out)[[f"{k}_contrast" for k in keys] + TABLE_COLUMNS]

    def _trend_rows(self, var: str, by, at):
        info = self.design
        if var not in info.numerics:
            raise ModelError(f"{var!r} is not a numeric covariate of the model {list(info.numerics)}")
        by = _as_list(by)
        view = self._design_at(at)
        grid = reference_grid(view, by)
        g1 = grid.copy()
        g1[var] = g1[var] + 1.0
        dX = build_design(view, g1) - build_design(view, grid)  # exact: linear in var
        rows = []
        for combo in itertools.product(*[list(info.factors[k]) for k in by]):
            sel = np.ones(len(grid), bool)
            for k, v in zip(by, combo):
                sel &= (grid[k] == v).to_numpy()
            rows.append((combo, dX[sel].mean(axis=0)))
        return by, rows

    def trends(self, var: str, by=None, at: dict | None = None, level: float = 0.95) -> pd.DataFrame:
        """LS trends (emmeans ``emtrends``): the slope of ``var`` (e.g. ``"week"``) within each level of
        ``by`` (e.g. ``"arm"``), other factors averaged with equal weights.

        Returns a DataFrame with the ``by`` columns and the usual estimate columns (``estimate`` = slope).
        """
        by, rows = self._trend_rows(var, by, at)
        out = [{**dict(zip(by, combo)), **estimate_row(*self.inference.contrast(l), level)} for combo, l in rows]
        return pd.DataFrame(out)[by + TABLE_COLUMNS]

    def trend_contrasts(
        self,
        var: str,
        by,
        method: str = "pairwise",
        ref=None,
        adjust: str = "none",
        at: dict | None = None,
        level: float = 0.95,
        levels=None,
    ) -> pd.DataFrame:
        """Differences of slopes of ``var`` between the levels of ``by`` (e.g. each arm minus the reference
        arm): ``method`` ``"pairwise"`` or ``"trt.vs.ctrl"`` (with ``ref``), ``adjust`` none, holm,
        bonferroni or dunnett; ``levels`` restricts the family (as :meth:`contrasts`)."""
        check_contrast_args(method, adjust)
        by_l, rows = self._trend_rows(var, by, at)
        items = [(" ".join(str(c) for c in combo), l) for combo, l in rows]
        names, Ls = contrast_family(items, method, ref, levels, by_l)
        fam = [{"contrast": nm, **estimate_row(*self.inference.contrast(l), level)} for nm, l in zip(names, Ls)]
        if fam:
            adjust_family(fam, np.array(Ls), self.inference.C, adjust, level)
        return pd.DataFrame(fam, columns=["contrast"] + TABLE_COLUMNS)

    # -------------------------------------------------------------------------------------------
    def type3_hypothesis(self, term: str) -> np.ndarray:
        """The L matrix of the SAS type III hypothesis for ``term`` (rows: treatment contrasts of the
        term's factors against their reference levels -- interaction contrasts for interactions -- and
        unit differences of its numeric variables, averaged with equal weights over the levels of the
        other factors, other numeric variables at 0)."""
        info = self.design
        tl = {":".join(t): t for t in info.terms}
        if term not in tl:
            raise ModelError(f"term {term!r} is not in the model (terms: {list(tl)})")
        t = tl[term]
        fac_t = [c for c in t if c in info.factors]
        num_t = [c for c in t if c not in info.factors]
        others = [f for f in info.factors if f not in fac_t]
        combos = list(itertools.product(*[info.factors[f] for f in others])) if others else [()]
        base = pd.DataFrame(combos, columns=others) if others else pd.DataFrame(index=range(1))
        for c in info.numerics:
            base[c] = 0.0
        rows = []
        # non-reference level combinations, first factor fastest (R's column order)
        lv_lists = [list(info.factors[f][1:]) for f in fac_t]
        for combo in itertools.product(*reversed(lv_lists)) if fac_t else [()]:
            combo = tuple(reversed(combo))
            l = np.zeros(len(info.column_names))
            for corner in itertools.product([0, 1], repeat=len(fac_t) + len(num_t)):
                g = base.copy()
                for f, lv, cbit in zip(fac_t, combo, corner[: len(fac_t)]):
                    g[f] = lv if cbit else info.factors[f][0]
                for c, cbit in zip(num_t, corner[len(fac_t) :]):
                    g[c] = float(cbit)
                sign = (-1) ** (len(corner) - sum(corner))
                l += sign * build_design(info, g).mean(axis=0)
            rows.append(l)
        return np.array(rows)

    def anova(self) -> pd.DataFrame:
        """Type III F tests (SAS conventions: each term's contrasts against reference levels averaged
        with equal weights over the other factors; numeric covariates at 0), with numerator and
        denominator df from the fit's df method (Satterthwaite: Fai & Cornelius / SAS / lmerTest).

        Returns
        -------
        DataFrame indexed by term with ``num_df, den_df, statistic, p_value`` (no rows when the fixed
        part is the intercept alone).
        """
        cols = ["num_df", "den_df", "statistic", "p_value"]
        out = []
        for t in self.design.terms:
            lab = ":".join(t)
            out.append({"term": lab, **self.inference.ftest(self.type3_hypothesis(lab))})
        if not out:  # an intercept-only fixed part has no terms to test (lmerTest: an empty table)
            return pd.DataFrame({c: pd.Series(dtype=float) for c in cols}, index=pd.Index([], name="term"))
        return pd.DataFrame(out).set_index("term")[cols]

    def _population_design(self, newdata: pd.DataFrame, extra: Sequence[str] = ()):
        """Rows of ``newdata`` with every covariate present, and their design matrix."""
        if not isinstance(newdata, pd.DataFrame):
            raise ModelError("newdata must be a pandas DataFrame")
        info = self.design
        needed = list(dict.fromkeys(list(info.factors) + list(info.numerics) + list(extra)))
        for c in needed:
            if c not in newdata.columns:
                raise ModelError(f"newdata lacks column {c!r} used by the model")
        ok = newdata[needed].notna().all(axis=1).to_numpy() if needed else np.ones(len(newdata), bool)
        return ok, build_design(info, newdata.loc[ok])

    def predict_population(self, newdata: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
        """Population-level means ``x' beta`` for new rows, with standard errors and confidence intervals
        (normal quantiles); rows with a missing covariate get NaN.

        Returns
        -------
        DataFrame indexed like ``newdata`` with ``estimate, std_error, ci_lower, ci_upper``.
        """
        _, X = self._population_X(newdata)
        est = X @ self.inference.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, self.inference.C, X))
        return _mean_table(est, se, level, newdata.index)

    def _population_X(self, newdata: pd.DataFrame):
        """The design matrix of ``newdata`` (NaN rows where a covariate is missing) and the complete rows."""
        ok, Xok = self._population_design(newdata)
        X = np.full((len(newdata), len(self.design.column_names)), np.nan)
        X[ok] = Xok
        return ok, X

    # -------------------------------------------------------------------------------------------
    def _status(self) -> str:
        """Prefix of titles and headings: says loudly when the fit did not converge."""
        return f"{NOT_CONVERGED}: " if not self.converged else ""


@dataclass(frozen=True, repr=False)
class MMRMResult(MixedModelResult):
    """Result of :func:`painstudy.models.mixed.mmrm.mmrm` (immutable).

    Attributes
    ----------
    coefficients : DataFrame
        Indexed by term; columns ``estimate, std_error, df, statistic, p_value, ci_lower, ci_upper``.
    covariance : DataFrame
        Estimated visit x visit covariance matrix (rows indexed by (group, visit) for grouped structures).
    covariance_parameters : DataFrame
        Natural (SAS-style) covariance parameters with asymptotic standard errors.
    neg2_log_lik, log_lik, aic, bic : float
        -2 x REML (or ML) log-likelihood with full constant; SAS conventions: REML AIC/BIC count the
        covariance parameters only, ML adds the fixed effects; BIC uses the number of subjects.
    n_subjects, n_obs, n_rows_dropped, n_subjects_dropped : int
    converged, positive_definite : bool
    visit_levels : tuple
        The visits in the order used by the covariance structure (``visit_order_source`` says why).
    optimizer : dict
        Optimizer chain diagnostics (methods tried, iterations, final max |gradient|, timings).
    """

    structure: str
    vcov_method: str
    covariance: pd.DataFrame
    covariance_parameters: pd.DataFrame
    n_subjects: int
    n_subjects_dropped: int
    positive_definite: bool
    visit_levels: tuple
    visit_order_source: str
    group_levels: tuple
    parsed: ParsedFormula = field(compare=False)
    _covariance_by_group: dict = field(compare=False)

    # -------------------------------------------------------------------------------------------
    @classmethod
    def from_fit(cls, prep: MMRMData, fit: CovarianceFit, inference: Inference, seconds: float = np.nan) -> MMRMResult:
        """Build the result from the prepared data, the fitted covariance and the inference object."""
        coefs = coefficient_table(inference)
        vis = [str(v) for v in prep.visit_levels]
        cov_by_group = {}
        for g, S in zip(prep.group_levels, fit.sigmas):
            cov_by_group[g] = pd.DataFrame(S, index=pd.Index(vis, name="visit"), columns=vis)
        if len(fit.sigmas) == 1:
            covdf = cov_by_group[prep.group_levels[0]]
        else:
            covdf = pd.concat({str(g): d for g, d in cov_by_group.items()}, names=["group", "visit"])
        pn, pg = [], []
        for g, s in zip(prep.group_levels, fit.structures):
            for n in s.natural_names():
                pn.append(n)
                pg.append(g)
        se = np.sqrt(np.clip(np.diag(inference.W), 0, None))
        cp = pd.DataFrame({"parameter": pn, "estimate": fit.phi, "std_error": se})
        if len(fit.sigmas) > 1:
            cp.insert(0, "group", [str(g) for g in pg])
        neg2 = fit.neg2_log_lik
        k_aic = len(fit.phi) if fit.reml else len(fit.phi) + prep.engine.p
        return cls(
            formula=prep.parsed.formula,
            reml=fit.reml,
            df_method=inference.df_method,
            coefficients=coefs,
            neg2_log_lik=neg2,
            aic=float(neg2 + 2 * k_aic),
            bic=float(neg2 + k_aic * np.log(prep.n_subjects)),
            n_obs=int(prep.engine.n_obs),
            n_rows_dropped=prep.n_rows_dropped,
            converged=fit.converged,
            optimizer={**fit.optimizer, "seconds": seconds},
            notes=tuple(fit.notes)
            + numerical_notes(coefs)
            + (prep.visit_order_note,)
            + ((f"data read in chunks from {Path(prep.source).name} (two passes)",) if prep.source else ()),
            design=prep.design,
            inference=inference,
            frame=term_frame(prep.design, prep.data),
            structure=prep.parsed.covariance.structure,
            vcov_method=inference.vcov_method,
            covariance=covdf,
            covariance_parameters=cp,
            n_subjects=int(prep.n_subjects),
            n_subjects_dropped=prep.n_subjects_dropped,
            positive_definite=fit.positive_definite,
            visit_levels=tuple(prep.visit_levels),
            visit_order_source=prep.visit_order_source,
            group_levels=tuple(prep.group_levels),
            parsed=prep.parsed,
            _covariance_by_group=cov_by_group,
        )

    # -------------------------------------------------------------------------------------------
    @property
    def covariance_by_group(self) -> dict:
        """Group level -> visit x visit covariance DataFrame (a single key ``None`` if ungrouped)."""
        return dict(self._covariance_by_group)

    @property
    def correlation(self) -> pd.DataFrame:
        """Correlation matrix implied by :attr:`covariance`."""
        c = self.covariance
        s = np.sqrt(np.diag(c.to_numpy())) if c.shape[0] == c.shape[1] else None
        if s is None:
            raise ModelError("correlation is defined per group; use covariance_by_group")
        return c / np.outer(s, s)

    def predict(self, newdata: pd.DataFrame, level: float = 0.95, conditional: bool = False) -> pd.DataFrame:
        """Predictions for new rows, with standard errors and confidence intervals (normal quantiles).

        Parameters
        ----------
        newdata : DataFrame
            Rows with the model's covariates; rows with a missing covariate get NaN.
        level : float
            Confidence level.
        conditional : bool
            ``False`` (default): population-level means ``x' beta``.  ``True``: the conditional mean of each
            row's outcome given the same subject's observed outcomes in ``newdata`` (as R mmrm's
            ``predict``): ``x' beta + S_mo S_oo^-1 (y_o - X_o beta)``; rows whose outcome is observed
            return it (standard error 0).  ``newdata`` then needs the subject, visit (and group) columns
            and the outcome column (NaN where unknown).  The standard error reflects the uncertainty of
            beta only (a confidence, not a prediction, interval).

        Returns
        -------
        DataFrame indexed like ``newdata`` with ``estimate, std_error, ci_lower, ci_upper``.
        """
        if not conditional:
            return self.predict_population(newdata, level)
        ok, X = self._population_X(newdata)
        beta, C = self.inference.beta, self.inference.C
        est = X @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, C, X))
        cov = self.parsed.covariance
        outcome = self.parsed.fixed.outcome
        for c in [cov.subject, cov.visit, outcome] + ([cov.group] if cov.group else []):
            if c not in newdata.columns:
                raise ModelError(f"conditional predictions need column {c!r} in newdata")
        vmap = {str(v): i for i, v in enumerate(self.visit_levels)}
        vis = newdata[cov.visit].astype(str).map(vmap)
        if vis.isna().any():
            bad = newdata[cov.visit][vis.isna()].iloc[0]
            raise ModelError(f"column {cov.visit!r}: visit {bad!r} is not one of the fitted visits")
        vis = vis.to_numpy().astype(int)
        y = pd.to_numeric(newdata[outcome], errors="coerce").to_numpy(float)
        groups = newdata[cov.group].to_numpy() if cov.group else None
        subj_codes = pd.factorize(newdata[cov.subject])[0]
        order = np.argsort(subj_codes, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(subj_codes[order]) != 0, True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows = order[a:b]
            rows = rows[ok[rows]]
            if len(rows) == 0:
                continue
            if len(set(vis[rows])) < len(rows):
                raise ModelError(f"subject {newdata[cov.subject].iloc[rows[0]]!r} has two rows at one visit")
            key = groups[rows[0]] if cov.group else None
            match = [g for g in self._covariance_by_group if str(g) == str(key)]
            if not match:
                raise ModelError(f"column {cov.group!r}: group {key!r} was not in the fitted data")
            S = self._covariance_by_group[match[0]].to_numpy()
            obs = rows[~np.isnan(y[rows])]
            mis = rows[np.isnan(y[rows])]
            est[obs], se[obs] = y[obs], 0.0
            if len(obs) == 0 or len(mis) == 0:
                continue
            K = np.linalg.solve(S[np.ix_(vis[obs], vis[obs])], S[np.ix_(vis[obs], vis[mis])]).T
            est[mis] = X[mis] @ beta + K @ (y[obs] - X[obs] @ beta)
            Xa = X[mis] - K @ X[obs]
            se[mis] = np.sqrt(np.einsum("ij,jk,ik->i", Xa, C, Xa))
        return _mean_table(est, se, level, newdata.index)

    # -------------------------------------------------------------------------------------------
    def _method_line(self) -> str:
        return (
            f"{'REML' if self.reml else 'ML'}, covariance {self.structure}, df {self.df_method}, "
            f"vcov {self.vcov_method}"
        )

    def tidy(self) -> Tidy:
        """Title, facts, the coefficient, covariance and covariance-parameter tables, and the notes."""
        facts = (
            ("fit", "REML" if self.reml else "ML"),
            ("covariance", self.structure),
            ("subjects", self.n_subjects),
            ("observations", self.n_obs),
            ("-2 log-lik", self.neg2_log_lik),
            ("converged", self.converged),
            ("df", self.df_method),
            ("vcov", self.vcov_method),
            ("AIC", self.aic),
            ("BIC", self.bic),
        )
        st = self._status()
        tables = (
            (f"{st}Coefficients", self.coefficients),
            (f"{st}Covariance", self.covariance),
            (f"{st}Covariance parameters", self.covariance_parameters),
        )
        return Tidy(f"{st}MMRM: {self.formula}", facts, tables, tuple(self.notes))

    def to_dict(self) -> dict:
        """A JSON-serialisable summary (used by the command line)."""
        return to_jsonable(
            {
                "formula": self.formula,
                "structure": self.structure,
                "reml": self.reml,
                "df_method": self.df_method,
                "vcov_method": self.vcov_method,
                "neg2_log_lik": self.neg2_log_lik,
                "aic": self.aic,
                "bic": self.bic,
                "n_subjects": self.n_subjects,
                "n_obs": self.n_obs,
                "n_rows_dropped": self.n_rows_dropped,
                "n_subjects_dropped": self.n_subjects_dropped,
                "converged": self.converged,
                "positive_definite": self.positive_definite,
                "coefficients": self.coefficients.reset_index().to_dict(orient="records"),
                "covariance": {
                    "visits": [str(v) for v in self.visit_levels],
                    "groups": {str(g): d.to_numpy().tolist() for g, d in self._covariance_by_group.items()},
                },
                "covariance_parameters": self.covariance_parameters.to_dict(orient="records"),
                "anova": self.anova().reset_index().to_dict(orient="records"),
                "optimizer": self.optimizer,
                "notes": list(self.notes),
            }
        )

    def summary(self) -> str:
        """Plain-text summary."""
        st = self._status()
        lines = [
            f"{st}MMRM  {self.formula}",
            self._method_line(),
            f"subjects {self.n_subjects}, observations {self.n_obs} (rows dropped {self.n_rows_dropped}, "
            f"subjects dropped {self.n_subjects_dropped})",
            f"-2 log-lik {self.neg2_log_lik:.8f}   AIC {self.aic:.4f}   BIC {self.bic:.4f}   "
            f"converged {self.converged}",
            f"visits ({self.visit_order_source}): {' < '.join(str(v) for v in self.visit_levels)}",
            "",
            f"{st}Coefficients:",
            self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"),
            "",
            f"{st}Covariance:",
            self.covariance.to_string(float_format=lambda x: f"{x:.4f}"),
        ]
        if self.notes:
            lines += ["", "Notes: " + "; ".join(self.notes)]
        return "\n".join(lines)
