"""Immutable result object of an MMRM fit: tables, type III tests, LS means, contrasts, predictions."""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from painstudy.errors import ModelError
from painstudy.models.mixed.formula import DesignInfo, build_design

__all__ = ["MMRMResult"]

TABLE_COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "ci_lower", "ci_upper"]


def _tq(level: float, df: float) -> float:
    a = 1 - (1 - level) / 2
    return float(stats.t.ppf(a, df)) if np.isfinite(df) else float(stats.norm.ppf(a))


def _tp(t: float, df: float) -> float:
    return float(2 * (stats.t.sf(abs(t), df) if np.isfinite(df) else stats.norm.sf(abs(t))))


def _row(est, se, df, level):
    t = est / se if se > 0 else np.nan
    q = _tq(level, df)
    return {"estimate": est, "std_error": se, "df": df, "statistic": t,
            "p_value": _tp(t, df) if np.isfinite(t) else np.nan, "ci_lower": est - q * se, "ci_upper": est + q * se}


@dataclass(frozen=True)
class MMRMResult:
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
    optimizer : dict
        Optimizer chain diagnostics (methods tried, iterations, final max |gradient|, timings).
    """

    formula: str
    structure: str
    reml: bool
    df_method: str
    vcov_method: str
    coefficients: pd.DataFrame
    covariance: pd.DataFrame
    covariance_parameters: pd.DataFrame
    neg2_log_lik: float
    aic: float
    bic: float
    n_subjects: int
    n_obs: int
    n_rows_dropped: int
    n_subjects_dropped: int
    converged: bool
    positive_definite: bool
    optimizer: dict
    notes: tuple
    _inf: object = field(repr=False, compare=False)
    _info: DesignInfo = field(repr=False, compare=False)
    _visit_levels: tuple = field(repr=False, compare=False)
    _group_levels: tuple = field(repr=False, compare=False)
    _covariance_by_group: dict = field(repr=False, compare=False)
    _parsed: object = field(default=None, repr=False, compare=False)

    # -------------------------------------------------------------------------------------------
    @classmethod
    def _create(cls, *, formula, parsed, prep, structs, phi, sigmas, hess, inference, neg2, reml, df_method,
                vcov_method, k_aic, n_subj, converged, pd_ok, optim, notes):
        inf = inference
        names = list(prep.info.column_names)
        rows = []
        for j, nm in enumerate(names):
            l = np.zeros(len(names))
            l[j] = 1.0
            est, se, df = inf.contrast(l)
            rows.append(_row(est, se, df, 0.95))
        coefs = pd.DataFrame(rows, index=pd.Index(names, name="term"))[TABLE_COLUMNS]
        vis = [str(v) for v in prep.visit_levels]
        cov_by_group = {}
        for g, S in zip(prep.group_levels, sigmas):
            cov_by_group[g] = pd.DataFrame(S, index=pd.Index(vis, name="visit"), columns=vis)
        if len(sigmas) == 1:
            covdf = cov_by_group[prep.group_levels[0]]
        else:
            covdf = pd.concat({str(g): d for g, d in cov_by_group.items()}, names=["group", "visit"])
        pn, pg = [], []
        for g, s in zip(prep.group_levels, structs):
            for n in s.natural_names():
                pn.append(n)
                pg.append(g)
        se = np.sqrt(np.clip(np.diag(inf.W), 0, None))
        cp = pd.DataFrame({"parameter": pn, "estimate": phi, "std_error": se})
        if len(sigmas) > 1:
            cp.insert(0, "group", [str(g) for g in pg])
        n_obs = prep.engine.n_obs
        aic = neg2 + 2 * k_aic
        bic = neg2 + k_aic * np.log(n_subj)
        return cls(
            formula=formula, structure=parsed.covariance.structure, reml=reml, df_method=df_method,
            vcov_method=vcov_method, coefficients=coefs, covariance=covdf, covariance_parameters=cp,
            neg2_log_lik=neg2, aic=float(aic), bic=float(bic), n_subjects=int(n_subj), n_obs=int(n_obs),
            n_rows_dropped=prep.n_rows_dropped, n_subjects_dropped=prep.n_subjects_dropped,
            converged=converged, positive_definite=pd_ok, optimizer=optim, notes=tuple(notes), _inf=inf,
            _info=prep.info, _visit_levels=tuple(prep.visit_levels), _group_levels=tuple(prep.group_levels),
            _covariance_by_group=cov_by_group, _parsed=parsed,
        )

    # -------------------------------------------------------------------------------------------
    @property
    def log_lik(self) -> float:
        """REML (or ML) log-likelihood."""
        return -0.5 * self.neg2_log_lik

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the coefficient estimates (as used for the standard errors)."""
        n = list(self._info.column_names)
        return pd.DataFrame(self._inf.C, index=n, columns=n)

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

    # -------------------------------------------------------------------------------------------
    def _grid(self, needed: list[str]) -> pd.DataFrame:
        info = self._info
        for c in needed:
            if c not in info.factors:
                raise ModelError(
                    f"{c!r} is not a categorical term of the model; LS means are defined over the factors "
                    f"{list(info.factors)}"
                )
        fac = list(info.factors)
        combos = list(itertools.product(*[info.factors[f] for f in fac]))
        grid = pd.DataFrame(combos, columns=fac) if fac else pd.DataFrame(index=[0])
        for c in info.numerics:
            grid[c] = info.numeric_means[c]
        return grid

    def _lsmean_rows(self, specs, by):
        specs = [specs] if isinstance(specs, str) else list(specs)
        by = [] if by is None else ([by] if isinstance(by, str) else list(by))
        keys = specs + [b for b in by if b not in specs]
        grid = self._grid(keys)
        X = build_design(self._info, grid)
        Xd = pd.DataFrame(X)
        lv = [list(self._info.factors[k]) for k in keys]
        rows = []
        for combo in itertools.product(*lv):
            sel = np.ones(len(grid), bool)
            for k, v in zip(keys, combo):
                sel &= (grid[k] == v).to_numpy()
            rows.append((combo, Xd[sel].to_numpy().mean(axis=0)))
        return specs, by, keys, rows

    def lsmeans(self, specs, by=None, level: float = 0.95) -> pd.DataFrame:
        """Least-squares means (SAS LSMEANS / emmeans): other factors averaged with equal weights,
        numeric covariates at their mean.

        Parameters
        ----------
        specs : str or list of str
            Factor(s) whose level combinations get an LS mean.
        by : str or list of str, optional
            Further factor(s) crossed with ``specs`` (e.g. ``by="AVISIT"``).
        level : float
            Confidence level.

        Returns
        -------
        DataFrame with the factor columns and ``estimate, std_error, df, statistic, p_value, ci_lower,
        ci_upper`` (t test of estimate = 0).
        """
        specs, by, keys, rows = self._lsmean_rows(specs, by)
        out = []
        for combo, l in rows:
            est, se, df = self._inf.contrast(l)
            out.append({**dict(zip(keys, combo)), **_row(est, se, df, level)})
        cols = by + [s for s in specs if s not in by]
        return pd.DataFrame(out)[cols + TABLE_COLUMNS].sort_values(by, kind="stable").reset_index(drop=True) \
            if by else pd.DataFrame(out)[keys + TABLE_COLUMNS]

    def contrasts(self, specs, by=None, method: str = "pairwise", ref=None, adjust: str = "none",
                  level: float = 0.95, levels=None) -> pd.DataFrame:
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
            Multiplicity adjustment within each ``by`` family.  ``dunnett`` is the single-step max-|t|
            adjustment (Dunnett's test with ``trt.vs.ctrl``; with ``pairwise`` it equals emmeans'
            ``"mvt"``); it uses the multivariate t distribution of the contrasts' t statistics
            (correlation from their covariance; p-values with each row's own df) via
            ``scipy.stats.multivariate_t.cdf`` (randomised quasi-Monte Carlo, fixed seed, absolute error
            about 1e-6); Bonferroni and Holm use Bonferroni intervals; Dunnett intervals use one
            multivariate-t critical value per family, at the family's smallest df.
        level : float
            Confidence level.
        levels : list, optional
            Compare only these levels (with ``trt.vs.ctrl``: these against ``ref``); the family
            adjusted for multiplicity is then just these comparisons.

        Returns
        -------
        DataFrame with ``contrast``, the ``by`` columns, and the usual estimate columns.
        """
        check_contrast_args(method, adjust)
        specs_l, by_l, keys, rows = self._lsmean_rows(specs, by)
        ns = len(specs_l)
        fams: dict = {}
        for combo, l in rows:
            lab = " ".join(str(c) for c in combo[:ns])
            fams.setdefault(tuple(combo[ns:]), []).append((lab, l))
        out = []
        for bykey, items in fams.items():
            names, Ls = contrast_family(items, method, ref, levels, specs_l)
            res = [self._inf.contrast(l) for l in Ls]
            fam = []
            for nm, (est, se, df) in zip(names, res):
                fam.append({"contrast": nm, **dict(zip(by_l, bykey)), **_row(est, se, df, level)})
            _adjust(fam, np.array(Ls), self._inf.C, adjust, level)
            out.extend(fam)
        return pd.DataFrame(out)[["contrast"] + by_l + TABLE_COLUMNS]

    def type3_hypothesis(self, term: str) -> np.ndarray:
        """The L matrix of the SAS type III hypothesis for ``term`` (rows: treatment contrasts of the
        term's factors against their reference levels -- interaction contrasts for interactions -- and
        unit differences of its numeric variables, averaged with equal weights over the levels of the
        other factors, other numeric variables at 0)."""
        info = self._info
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
                for c, cbit in zip(num_t, corner[len(fac_t):]):
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
        DataFrame indexed by term with ``num_df, den_df, statistic, p_value``.
        """
        out = []
        for t in self._info.terms:
            lab = ":".join(t)
            r = self._inf.ftest(self.type3_hypothesis(lab))
            out.append({"term": lab, **r})
        return pd.DataFrame(out).set_index("term")[["num_df", "den_df", "statistic", "p_value"]]

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
        if not isinstance(newdata, pd.DataFrame):
            raise ModelError("newdata must be a pandas DataFrame")
        info = self._info
        needed = list(info.factors) + list(info.numerics)
        for c in needed:
            if c not in newdata.columns:
                raise ModelError(f"newdata lacks column {c!r} used by the model")
        ok = newdata[needed].notna().all(axis=1).to_numpy() if needed else np.ones(len(newdata), bool)
        X = np.full((len(newdata), len(info.column_names)), np.nan)
        X[ok] = build_design(info, newdata.loc[ok])
        beta, C = self._inf.beta, self._inf.C
        est = X @ beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, C, X))
        if conditional:
            cov = self._parsed.covariance
            outcome = self._parsed.fixed.outcome
            for c in [cov.subject, cov.visit, outcome] + ([cov.group] if cov.group else []):
                if c not in newdata.columns:
                    raise ModelError(f"conditional predictions need column {c!r} in newdata")
            vmap = {str(v): i for i, v in enumerate(self._visit_levels)}
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
        q = _tq(level, np.inf)
        return pd.DataFrame({"estimate": est, "std_error": se, "ci_lower": est - q * se, "ci_upper": est + q * se},
                            index=newdata.index)

    # -------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-serialisable summary (used by the command line)."""
        def tbl(df):
            return json_safe(df.reset_index().to_dict(orient="records"))

        return {
            "formula": self.formula, "structure": self.structure, "reml": self.reml,
            "df_method": self.df_method, "vcov_method": self.vcov_method,
            "neg2_log_lik": self.neg2_log_lik, "aic": self.aic, "bic": self.bic,
            "n_subjects": self.n_subjects, "n_obs": self.n_obs, "n_rows_dropped": self.n_rows_dropped,
            "n_subjects_dropped": self.n_subjects_dropped, "converged": self.converged,
            "positive_definite": self.positive_definite,
            "coefficients": tbl(self.coefficients),
            "covariance": {"visits": [str(v) for v in self._visit_levels],
                           "groups": {str(g): d.to_numpy().tolist() for g, d in self._covariance_by_group.items()}},
            "covariance_parameters": json_safe(self.covariance_parameters.to_dict(orient="records")),
            "anova": tbl(self.anova()),
            "optimizer": json_safe(self.optimizer),
        }

    def summary(self) -> str:
        """Plain-text summary."""
        lines = [
            f"MMRM  {self.formula}",
            f"{'REML' if self.reml else 'ML'}, covariance {self.structure}, df {self.df_method}, vcov {self.vcov_method}",
            f"subjects {self.n_subjects}, observations {self.n_obs} (rows dropped {self.n_rows_dropped}, "
            f"subjects dropped {self.n_subjects_dropped})",
            f"-2 log-lik {self.neg2_log_lik:.8f}   AIC {self.aic:.4f}   BIC {self.bic:.4f}   "
            f"converged {self.converged}",
            "",
            "Coefficients:",
            self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"),
            "",
            "Covariance:",
            self.covariance.to_string(float_format=lambda x: f"{x:.4f}"),
        ]
        if self.notes:
            lines += ["", "Notes: " + "; ".join(self.notes)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"MMRMResult({self.formula!r}, {'REML' if self.reml else 'ML'}, -2LL={self.neg2_log_lik:.4f}, "
                f"n_subjects={self.n_subjects}, n_obs={self.n_obs}, converged={self.converged})")

    def _repr_html_(self) -> str:
        head = (f"<h4>MMRM: {html.escape(self.formula)}</h4><p>{'REML' if self.reml else 'ML'}, covariance "
                f"<b>{self.structure}</b>, df {self.df_method}, vcov {self.vcov_method}; "
                f"{self.n_subjects} subjects, {self.n_obs} observations; -2 log-lik {self.neg2_log_lik:.4f}, "
                f"AIC {self.aic:.2f}, BIC {self.bic:.2f}; converged: {self.converged}</p>")
        return (head + "<h5>Coefficients</h5>" + self.coefficients.to_html(float_format=lambda x: f"{x:.4f}")
                + "<h5>Covariance</h5>" + self.covariance.to_html(float_format=lambda x: f"{x:.4f}"))


def json_safe(obj):
    """Convert numpy scalars / non-finite floats for JSON."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def check_contrast_args(method: str, adjust: str) -> None:
    """Reject an unknown contrast method or multiplicity adjustment."""
    if method not in ("pairwise", "trt.vs.ctrl"):
        raise ModelError(f"method={method!r}: use 'pairwise' or 'trt.vs.ctrl'")
    if adjust not in ("none", "holm", "bonferroni", "dunnett"):
        raise ModelError(f"adjust={adjust!r}: use one of none, holm, bonferroni, dunnett")


def contrast_family(items: list, method: str, ref, levels, what) -> tuple[list, list]:
    """Names and L vectors of one family of contrasts between labelled L vectors ``items``.

    ``pairwise``: every pair ``a - b`` (earlier first); ``trt.vs.ctrl``: each level minus ``ref``
    (default the first). ``levels`` keeps only the comparisons involving those (non-reference) levels.
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


def _adjust(fam: list, L: np.ndarray, C: np.ndarray, adjust: str, level: float) -> None:
    m = len(fam)
    if adjust == "none" or m <= 1:
        return
    p = np.array([r["p_value"] for r in fam])
    if adjust == "bonferroni":
        padj = np.minimum(1.0, p * m)
    elif adjust == "holm":
        order = np.argsort(p)
        padj = np.empty(m)
        run = 0.0
        for rank, i in enumerate(order):
            run = max(run, min(1.0, (m - rank) * p[i]))
            padj[i] = run
    if adjust in ("bonferroni", "holm"):
        a = (1 - level) / m
        for r, pa in zip(fam, padj):
            q = _tq(1 - a, r["df"])
            r["p_value"] = float(pa)
            r["ci_lower"], r["ci_upper"] = r["estimate"] - q * r["std_error"], r["estimate"] + q * r["std_error"]
        return
    # Dunnett: multivariate t
    V = L @ C @ L.T
    s = np.sqrt(np.diag(V))
    R = V / np.outer(s, s)
    mvt = stats.multivariate_t

    def prob_within(c, df):
        dfv = df if np.isfinite(df) else np.inf
        if not np.isfinite(dfv):
            return float(stats.multivariate_normal.cdf(np.full(m, c), mean=np.zeros(m), cov=R,
                                                       lower_limit=np.full(m, -c)))
        return float(mvt.cdf(np.full(m, c), loc=np.zeros(m), shape=R, df=dfv, lower_limit=np.full(m, -c),
                             maxpts=25000 * m, random_state=20240101))

    from scipy.optimize import brentq

    for r in fam:
        t = abs(r["statistic"])
        r["p_value"] = float(min(1.0, max(0.0, 1 - prob_within(t, r["df"]))))
    # one critical value per family, at the smallest df of the family (conservative when df differ)
    df_min = min(r["df"] for r in fam)
    lo, hi = _tq(level, df_min), _tq(1 - (1 - level) / m, df_min) + 1e-6  # Dunnett lies between
    try:
        q = brentq(lambda c: prob_within(c, df_min) - level, lo * 0.999, hi * 1.001, xtol=1e-5)
    except ValueError:
        q = hi
    for r in fam:
        r["ci_lower"], r["ci_upper"] = r["estimate"] - q * r["std_error"], r["estimate"] + q * r["std_error"]
