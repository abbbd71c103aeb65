"""``painstudy.sensitivity``: reference-based imputation in rbmi's four steps (draws, impute, analyse, pool).

1. **Draws** of the imputation model (an MMRM, :mod:`.model`): the full data and each jackknife or
   bootstrap sample (conditional mean imputation), or bootstrap samples (approximate Bayesian multiple
   imputation).
2. **Impute** (:mod:`.impute`) every missing outcome under the subject's strategy after its intercurrent
   event (MAR, JR, CR, CIR, LMCF): by its conditional mean, or by a draw; plus a delta if asked.
3. **Analyse** (:mod:`.analyse`) each completed data set: ANCOVA at every visit.
4. **Pool** (:mod:`.pool`): jackknife or bootstrap around the full-data estimate, or Rubin's rules with
   Barnard-Rubin df.

Random numbers come from ``numpy.random.SeedSequence(seed)`` spawned per sample, so results do not depend
on the executor or the number of workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.mixed.data import plain
from painstudy.models.mixed.formula import parse_formula
from painstudy.rendering import Rendered, Tidy
from painstudy.sensitivity.analyse import ancova_design
from painstudy.sensitivity.data import wide_data
from painstudy.sensitivity.impute import impute, strategy_means
from painstudy.sensitivity.model import ImputationModel
from painstudy.sensitivity.pool import bootstrap, jackknife, rubin

__all__ = ["sensitivity", "SensitivityResult", "METHODS"]

#: method -> the inferences it supports (the first is the default)
METHODS = {"condmean": ("jackknife", "bootstrap", "bootstrap-percentile"), "approxbayes": ("rubin",)}
COLUMNS = ["visit", "kind", "term", "estimate", "std_error", "df", "ci_lower", "ci_upper", "p_value"]


@dataclass(frozen=True, repr=False)
class SensitivityResult(Rendered):
    """Treatment differences and LS means per visit under a reference-based imputation.

    ``table`` columns: ``visit, kind (effect | lsmean), term, estimate, std_error, df (inf: normal),
    ci_lower, ci_upper, p_value``.
    """

    table: pd.DataFrame
    method: str
    inference: str
    strategies: dict
    reference: dict
    n_subjects: int
    n_imputed: int
    n_samples: int
    notes: tuple = field(default=())

    def effects(self) -> pd.DataFrame:
        """The treatment differences only."""
        return self.table[self.table["kind"] == "effect"].drop(columns="kind").reset_index(drop=True)

    def lsmeans(self) -> pd.DataFrame:
        """The LS means only."""
        return self.table[self.table["kind"] == "lsmean"].drop(columns="kind").reset_index(drop=True)

    def tidy(self) -> Tidy:
        strat = ", ".join(f"{k} {v}" for k, v in self.strategies.items())
        ref = ", ".join(f"{a} -> {r}" for a, r in self.reference.items() if a != r)
        return Tidy(
            "Reference-based imputation",
            (
                ("method", f"{self.method} ({self.inference})"),
                ("subjects", self.n_subjects),
                ("values imputed", self.n_imputed),
                ("events by strategy", strat or "none"),
                ("reference", ref),
                ("samples", self.n_samples),
            ),
            (("effects", self.effects()), ("lsmeans", self.lsmeans())),
            self.notes,
        )


class _Job:
    """One sample's work (picklable, so that any executor can run it)."""

    def __init__(self, model, design, wide, mean_args, delta, method, seeds, sigma0):
        self.model, self.design, self.wide, self.delta = model, design, wide, delta
        self.mean_args, self.method, self.seeds, self.sigma0 = mean_args, method, seeds, sigma0
        self.strata = [np.flatnonzero(wide.arm == a) for a in pd.unique(wide.arm)]

    def resample(self, rng) -> np.ndarray:
        return np.sort(np.concatenate([rng.choice(s, size=len(s), replace=True) for s in self.strata]))

    def __call__(self, k: int):
        wide, n = self.wide, self.wide.n
        rng = np.random.default_rng(self.seeds[k]) if self.seeds is not None else None
        if self.method == "jackknife":
            idx = np.delete(np.arange(n), k)
        else:
            idx = self.resample(rng)
        par = self.model.fit(idx, start=self.sigma0)
        mu = strategy_means(*self.model.means(par.beta), *self.mean_args)
        d = None if self.delta is None else self.delta
        if self.method == "approxbayes":  # impute the original data by draws
            y = impute(wide.y, mu, par.sigma, rng=rng, delta=d)
            return (*self.design.estimates(y), par.converged)
        y = impute(wide.y[idx], mu[idx], par.sigma, delta=None if d is None else d[idx])
        return (*self.design.estimates(y, index=idx), par.converged)


def sensitivity(
    data: pd.DataFrame,
    formula: str,
    *,
    arm: str,
    reference,
    control=None,
    events: pd.DataFrame | None = None,
    strategy: str = "JR",
    method: str = "condmean",
    inference: str | None = None,
    n_samples: int | None = None,
    covariates: Sequence[str] | None = None,
    delta=None,
    level: float = 0.95,
    seed: int | None = None,
    visit_order=None,
    reml: bool = True,
    executor=None,
) -> SensitivityResult:
    """Treatment effects per visit with missing data imputed under reference-based strategies (as R rbmi).

    Parameters
    ----------
    data : DataFrame
        Long data, one row per subject and visit (visits without an outcome may lack their row).
    formula : str
        The imputation model in R mmrm syntax, e.g. ``"CHANGE ~ THERAPY * VISIT + BASVAL * VISIT +
        us(VISIT | PATIENT)"`` (one covariance matrix shared by the arms; terms: the visit, the arm and
        subject-level covariates).
    arm : str
        The column of the arms.
    reference : str or dict
        The reference arm of every arm (``"placebo"``), or per arm (``{"drug": "placebo", ...}``; arms not
        listed are their own reference).
    control : optional
        The comparator of the analysis (default: ``reference`` when it is one arm).
    events : DataFrame, optional
        Intercurrent events: columns subject, visit (the first visit the event affects) and ``strategy``
        (MAR, JR, CR, CIR, LMCF). Default: every subject whose outcomes stop before the last visit has an
        event at its first missing visit of the terminal run, with ``strategy``; other missing values MAR.
        Outcomes observed at or after a non-MAR event are set aside and imputed.
    strategy : str
        The strategy of the default events (``JR``).
    method : ``"condmean"`` (conditional mean imputation, Wolbers et al. 2022) or ``"approxbayes"``
        (approximate Bayesian multiple imputation: a bootstrap sample per imputation).
    inference : str
        ``condmean``: ``"jackknife"`` (default), ``"bootstrap"`` (normal interval) or
        ``"bootstrap-percentile"``; ``approxbayes``: ``"rubin"`` (Rubin's rules, Barnard-Rubin df).
    n_samples : int
        Bootstrap samples (default 500) or imputations (default 100).
    covariates : list of str
        Covariates of the ANCOVA at each visit (default: the formula's subject-level terms).
    delta : float, dict or DataFrame, optional
        Added to every value imputed at or after an event: one number, ``{arm: number}``, or a DataFrame with
        columns subject, visit and ``delta``.
    level : float
        Confidence level.
    seed : int
        Seed of the bootstrap and the draws (``numpy.random.SeedSequence``).
    visit_order : list, optional
        The visits in time order (default: categorical order, else natural order of the labels).
    reml : bool
        Fit the imputation model by REML (default, as rbmi) or ML.
    executor : concurrent.futures.Executor, optional
        Runs the samples (e.g. a ProcessPoolExecutor or a Dask client's executor); default: in this process.

    Returns
    -------
    SensitivityResult
    """
    if method not in METHODS:
        raise ModelError(f"method={method!r}: use one of {', '.join(METHODS)}")
    inference = inference or METHODS[method][0]
    if inference not in METHODS[method]:
        raise ModelError(f"inference={inference!r} does not go with method={method!r}; use {METHODS[method]}")
    parsed = parse_formula(formula)
    cov, fx = parsed.covariance, parsed.fixed
    if cov is None:
        raise ModelError("formula: the imputation model needs a covariance term, e.g. us(VISIT | SUBJECT)")
    terms = [c for t in fx.terms for c in t if c not in (cov.visit, arm)]
    covariates = list(dict.fromkeys(terms)) if covariates is None else list(covariates)
    wide = wide_data(
        data,
        outcome=fx.outcome,
        subject=cov.subject,
        visit=cov.visit,
        arm=arm,
        covariates=list(dict.fromkeys(terms + covariates)),
        events=events,
        strategy=strategy,
        visit_order=visit_order,
    )
    arms = list(pd.unique(wide.arm))
    refmap = _references(reference, arms)
    if control is None:
        if isinstance(reference, dict):
            raise ModelError("control: name the comparator arm of the analysis when reference is per arm")
        control = refmap[arms[0]]
    design = ancova_design(wide.arm, wide.covariates[covariates], control, wide.visits)
    model = ImputationModel(wide, formula, refmap, reml=reml)
    D = _delta(delta, wide)
    mean_args = (wide.ice, wide.strategy)
    full = model.fit(np.arange(wide.n))
    mu = strategy_means(*model.means(full.beta), *mean_args)
    notes = []
    if not full.converged:
        notes.append("the imputation model did not converge on the full data: estimates are unreliable")
    est, var, df = design.estimates(impute(wide.y, mu, full.sigma, delta=D))
    if method == "condmean" and inference == "jackknife":
        k, seeds = wide.n, None
    else:
        k = int(n_samples or (100 if method == "approxbayes" else 500))
        if k < 2:
            raise ModelError(f"n_samples={n_samples!r}: at least 2 samples are needed")
        seeds = np.random.SeedSequence(seed).spawn(k)
    job = _Job(
        model, design, wide, mean_args, D, "jackknife" if inference == "jackknife" else method, seeds, full.sigma
    )
    runs = list(executor.map(job, range(k))) if executor is not None else [job(i) for i in range(k)]
    E = np.array([r[0] for r in runs])
    failed = sum(1 for r in runs if not r[3])
    if failed:
        notes.append(f"the imputation model did not converge on {failed} of {k} samples")
    if inference == "jackknife":
        pooled = jackknife(est, E, level)
    elif inference.startswith("bootstrap"):
        pooled = bootstrap(est, E, level, kind="percentile" if inference.endswith("percentile") else "normal")
    else:
        pooled = rubin(E, np.array([r[1] for r in runs]), np.array([r[2] for r in runs])[0], level)
    labels = design.labels
    table = pd.DataFrame(
        {
            "visit": [v for v, _, _ in labels],
            "kind": [kd for _, kd, _ in labels],
            "term": [t for _, _, t in labels],
            "estimate": pooled.estimate,
            "std_error": pooled.se,
            "df": pooled.df,
            "ci_lower": pooled.lower,
            "ci_upper": pooled.upper,
            "p_value": pooled.p,
        }
    )[COLUMNS]
    counts = pd.Series(wide.strategy[wide.ice < wide.T]).value_counts()
    if wide.set_aside:
        notes.append(f"{wide.set_aside} outcome(s) observed after a non-MAR event were set aside and imputed")
    notes.append(
        "imputation model: " + formula + f" ({'REML' if reml else 'ML'}, one covariance matrix shared by the arms)"
    )
    notes.append(f"analysis: ANCOVA at each visit adjusted for {', '.join(covariates) or 'nothing'}")
    return SensitivityResult(
        table=table,
        method=method,
        inference=inference,
        strategies={str(s): int(c) for s, c in counts.items()},
        reference={str(a): str(r) for a, r in refmap.items()},
        n_subjects=wide.n,
        n_imputed=int(np.isnan(wide.y).sum()),
        n_samples=k,
        notes=tuple(notes),
    )


def _references(reference, arms: list) -> dict:
    if isinstance(reference, dict):
        for a, r in reference.items():
            for x in (a, r):
                if x not in arms:
                    raise ModelError(f"reference: arm {x!r} is not one of the arms {[str(a) for a in arms]}")
        return {a: reference.get(a, a) for a in arms}
    if reference not in arms:
        raise ModelError(f"reference arm {reference!r} is not one of the arms {[str(a) for a in arms]}")
    return dict.fromkeys(arms, reference)


def _delta(delta, wide) -> np.ndarray | None:
    """The delta of every subject x visit, non-zero only at or after the subject's event."""
    if delta is None:
        return None
    after = (np.arange(wide.T)[None, :] >= wide.ice[:, None]).astype(float)
    if isinstance(delta, (int, float, np.number)):
        return after * float(delta)
    if isinstance(delta, dict):
        per = np.array([float(delta.get(a, 0.0)) for a in wide.arm])
        return after * per[:, None]
    if isinstance(delta, pd.DataFrame):
        for c in (wide.subject_column, wide.visit_column, "delta"):
            if c not in delta.columns:
                raise ModelError(f"delta: column {c!r} is missing")
        D = np.zeros((wide.n, wide.T))
        pos = {s: i for i, s in enumerate(wide.subjects)}
        vpos = {str(v): j for j, v in enumerate(wide.visits)}
        for k in range(len(delta)):
            s, v = delta[wide.subject_column].iloc[k], str(delta[wide.visit_column].iloc[k])
            if s not in pos or v not in vpos:
                raise ModelError(f"delta, row {k + 1}: subject {plain(s)!r} or visit {v!r} is not in the data")
            D[pos[s], vpos[v]] = float(delta["delta"].iloc[k])
        return D * after
    raise ModelError(f"delta must be a number, a dict of arm -> number or a DataFrame, got {type(delta).__name__}")
