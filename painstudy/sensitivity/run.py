"""``painstudy.sensitivity.reference_based``: reference-based imputation in rbmi's four steps (draws, impute, analyse, pool).

1. **Draws** of the imputation model (an MMRM, :mod:`.model`): the full data and each jackknife or
   bootstrap sample (conditional mean imputation), bootstrap samples (approximate Bayesian multiple
   imputation), or draws from the posterior by MCMC (Bayesian multiple imputation, :mod:`.bayes`).
2. **Impute** (:mod:`.impute`) every missing outcome under the subject's strategy after its intercurrent
   event (MAR, JR, CR, CIR, LMCF): by its conditional mean, or by a draw; plus a delta if asked.
3. **Analyse** (:mod:`.analyse`) each completed data set: ANCOVA at every visit (default), an MMRM of all
   visits, or responder rates and risk differences (multiple imputation only).
4. **Pool** (:mod:`.pool`): jackknife or bootstrap around the full-data estimate, or Rubin's rules with
   Barnard-Rubin df.

Conditional mean imputation targets the frequentist variance of a reference-based estimate (Wolbers et al.
2022). With ``information_anchored=True`` it gives the information-anchored variance of Lu (2021) instead, as
rbmi's vignette "CondMean_Inference" does it: every sample is imputed under MAR and a fixed delta added, the
difference between the reference-based and the MAR conditional means on the full data; the point estimate is
the reference-based one, the variance close to MAR's (Cro, Carpenter & Kenward 2019), and tests are
conservative.

Random numbers come from ``numpy.random.SeedSequence(seed)`` spawned per sample, so results do not depend
on the executor or the number of workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.blas import usable_cores
from painstudy.models.mixed.data import plain
from painstudy.models.mixed.formula import parse_formula
from painstudy.rendering import Rendered, Tidy
from painstudy.sensitivity.analyse import ANALYSES, ResponderDesign, ResponderRule, ancova_design
from painstudy.sensitivity.analyse_mmrm import MmrmAnalysis
from painstudy.sensitivity.data import strategy_name, wide_data
from painstudy.sensitivity.impute import impute, strategy_means
from painstudy.sensitivity.model import ImputationModel
from painstudy.sensitivity.pool import Pooled, bootstrap, jackknife, rubin

__all__ = [
    "reference_based",
    "draws",
    "Draws",
    "result_of",
    "delta_matrix",
    "SensitivityResult",
    "METHODS",
    "ResponderRule",
]

#: method -> the inferences it supports (the first is the default)
METHODS = {
    "condmean": ("jackknife", "bootstrap", "bootstrap-percentile"),
    "approxbayes": ("rubin",),
    "bayes": ("rubin",),
}
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

    def proportions(self) -> pd.DataFrame:
        """The proportions of responders per arm (``analysis="responder"``)."""
        return self.table[self.table["kind"] == "proportion"].drop(columns="kind").reset_index(drop=True)

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
            tuple(
                (name, t)
                for name, t in (
                    ("effects", self.effects()),
                    ("lsmeans", self.lsmeans()),
                    ("proportions", self.proportions()),
                )
                if len(t)
            ),
            self.notes,
        )


def child(seq: np.random.SeedSequence, j: int) -> np.random.SeedSequence:
    """The ``j``-th child stream of ``seq``, the same every time (``SeedSequence.spawn`` counts its calls)."""
    return np.random.SeedSequence(entropy=seq.entropy, spawn_key=(*seq.spawn_key, j), pool_size=seq.pool_size)


class _FitJob:
    """Step 1 for one sample: the subjects drawn and the imputation model fitted on them (picklable, so that
    any executor can run it)."""

    def __init__(self, model, n: int, arms: np.ndarray, resample: bool, seeds, full):
        self.model, self.n, self.resample, self.seeds, self.full = model, n, resample, seeds, full
        self.strata = [np.flatnonzero(arms == a) for a in pd.unique(arms)]

    def __call__(self, k: int):
        if self.resample:  # stratified by arm, as rbmi
            rng = np.random.default_rng(child(self.seeds[k], 0))
            idx = np.sort(np.concatenate([rng.choice(s, size=len(s), replace=True) for s in self.strata]))
        else:  # jackknife: leave subject k out
            idx = np.delete(np.arange(self.n), k)
        return idx, self.model.fit(idx, start=self.full)


@dataclass(frozen=True)
class Draws:
    """Step 1 of every analysis (rbmi's ``draws``): the imputation model on the full data and on each sample.

    Imputation, analysis and pooling (:meth:`analyse`) take milliseconds per sample, so that a tipping-point
    grid re-uses one set of draws for every delta.
    """

    model: ImputationModel
    design: object
    wide: object
    method: str
    inference: str
    full: object
    samples: tuple  # (index, Parameters) per sample
    seeds: tuple | None
    level: float
    anchored: bool = False
    mcmc: dict | None = None  # Bayesian MI: burn_in, thin, effective sample size

    def with_strategy(self, strategy: str) -> Draws:
        """The same draws with every event's strategy replaced by ``strategy`` (MAR: no event). Valid when
        no observed outcome was set aside for the events (the imputation model saw the same data)."""
        if self.wide.set_aside:
            raise ModelError(
                "these draws set observed outcomes aside for their events; fit new draws for another strategy"
            )
        s = strategy_name(strategy)
        events = self.wide.ice < self.wide.T
        strat = np.where(events, s, "MAR").astype(object)
        ice = self.wide.ice if s != "MAR" else np.full_like(self.wide.ice, self.wide.T)
        return dataclasses.replace(self, wide=dataclasses.replace(self.wide, strategy=strat, ice=ice))

    @cached_property
    def imputed(self) -> tuple:
        """Step 2 without a delta: the full data and every sample imputed (a delta is then added to the
        imputed cells only: the imputations do not depend on it)."""
        wide, model = self.wide, self.model
        args = (wide.ice, wide.strategy)
        mu = strategy_means(*model.means(self.full.beta), *args)
        out = [(None, impute(wide.y, mu, model.covariances(self.full.sigma, *args)))]
        for k, (idx, par) in enumerate(self.samples):
            mu = strategy_means(*model.means(par.beta), *args)
            key, mats = model.covariances(par.sigma, *args)
            if self.method in ("approxbayes", "bayes"):  # the original data imputed by draws
                rng = np.random.default_rng(child(self.seeds[k], 1))
                out.append((None, impute(wide.y, mu, (key, mats), rng=rng)))
            else:
                out.append((idx, impute(wide.y[idx], mu[idx], (key[idx], mats))))
        return tuple(out)

    @cached_property
    def anchoring(self) -> tuple:
        """Lu (2021): the samples imputed under MAR and the delta that moves the full data's MAR conditional
        means to the strategies' (zero where observed)."""
        wide = self.wide
        mar = dataclasses.replace(
            self, wide=dataclasses.replace(wide, strategy=np.full(wide.n, "MAR", dtype=object)), anchored=False
        )
        return mar.imputed, self.imputed[0][1] - mar.imputed[0][1]

    def analyse(self, delta: np.ndarray | None) -> Pooled:
        """Steps 2 to 4 with ``delta`` (n, T, added where a value is imputed): the pooled estimates."""
        design, missing = self.design, np.isnan(self.wide.y)
        shift = None if delta is None else np.where(missing, delta, 0.0)
        imputed = self.imputed
        if self.anchored:
            imputed, anchor = self.anchoring
            shift = anchor if shift is None else shift + anchor
        runs = []
        variance = self.inference == "rubin"  # the jackknife and the bootstrap use the estimates only
        for idx, y in imputed:
            if shift is not None:
                y = y + (shift if idx is None else shift[idx])
            runs.append(design.estimates(y, index=idx, variance=variance or idx is None))
        est = runs[0][0]
        E = np.array([r[0] for r in runs[1:]])
        if self.inference == "jackknife":
            return jackknife(est, E, self.level)
        if self.inference.startswith("bootstrap"):
            kind = "percentile" if self.inference.endswith("percentile") else "normal"
            return bootstrap(est, E, self.level, kind=kind)
        return rubin(E, np.array([r[1] for r in runs[1:]]), runs[1][2], self.level)

    def table(self, pooled) -> pd.DataFrame:
        labels = self.design.labels
        # a proportion is not tested against 0
        p = np.where([kd == "proportion" for _, kd, _ in labels], np.nan, pooled.p)
        return pd.DataFrame(
            {
                "visit": [v for v, _, _ in labels],
                "kind": [kd for _, kd, _ in labels],
                "term": [t for _, _, t in labels],
                "estimate": pooled.estimate,
                "std_error": pooled.se,
                "df": pooled.df,
                "ci_lower": pooled.lower,
                "ci_upper": pooled.upper,
                "p_value": p,
            }
        )[COLUMNS]

    def notes(self) -> list[str]:
        out = []
        if not self.full.converged:
            out.append("the imputation model did not converge on the full data: estimates are unreliable")
        failed = sum(1 for _, par in self.samples if not par.converged)
        if failed:
            out.append(f"the imputation model did not converge on {failed} of {len(self.samples)} samples")
        if self.wide.set_aside:
            out.append(f"{self.wide.set_aside} outcome(s) observed after a non-MAR event were set aside and imputed")
        out += self.design.notes()
        if self.mcmc is not None:
            m = self.mcmc
            out.append(
                f"Bayesian MI: Gibbs sampler from the REML fit, {m['burn_in']} iterations of burn-in, every "
                f"{m['thin']}th draw kept; effective sample size of the kept coefficients at least "
                f"{m['ess']:.0f} of {len(self.samples)}"
            )
        if self.anchored:
            out.append(
                "information-anchored variance (Lu 2021): each sample imputed under MAR plus the fixed delta that "
                "reproduces the reference-based estimate on the full data; its variance is close to MAR's and its "
                "tests are conservative (Wolbers et al. 2022)"
            )
        return out


def reference_based(
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
    analysis: str = "ancova",
    analysis_formula: str | None = None,
    responder: ResponderRule | None = None,
    information_anchored: bool = False,
    burn_in: int = 200,
    thin: int = 10,
    level: float = 0.95,
    seed: int | None = None,
    visit_order=None,
    reml: bool = True,
    executor="auto",
    progress: bool = False,
) -> SensitivityResult:
    """Treatment effects per visit with missing data imputed under reference-based strategies (as R rbmi).

    Parameters
    ----------
    data : DataFrame
        Long data, one row per subject and visit (visits without an outcome may lack their row).
    formula : str
        The imputation model in R mmrm syntax, e.g. ``"CHANGE ~ THERAPY * VISIT + BASVAL * VISIT +
        us(VISIT | PATIENT)"`` (one covariance matrix shared by the arms, rbmi's default) or ``us(VISIT |
        THERAPY / PATIENT)`` (one per arm); terms: the visit, the arm and subject-level covariates.
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
    method : ``"condmean"`` (conditional mean imputation, Wolbers et al. 2022), ``"approxbayes"``
        (approximate Bayesian multiple imputation: a bootstrap sample per imputation) or ``"bayes"``
        (Bayesian multiple imputation: posterior draws by a Gibbs sampler, :mod:`painstudy.sensitivity.bayes`).
    inference : str
        ``condmean``: ``"jackknife"`` (default), ``"bootstrap"`` (normal interval) or
        ``"bootstrap-percentile"``; ``approxbayes`` and ``bayes``: ``"rubin"`` (Rubin's rules, Barnard-Rubin df).
    n_samples : int
        Bootstrap samples (default 500) or imputations (default 100).
    burn_in, thin : int
        ``method="bayes"``: iterations of the chain discarded before the first kept draw (default 200), and
        iterations per kept draw (default 10).
    covariates : list of str
        Covariates of the ANCOVA at each visit (default: the formula's subject-level terms).
    delta : float, dict or DataFrame, optional
        Added to every value imputed at or after an event: one number, ``{arm: number}``, or a DataFrame with
        columns subject, visit and ``delta``.
    analysis : ``"ancova"``, ``"mmrm"`` or ``"responder"``
        The analysis of each completed data set: ANCOVA at each visit (default, rbmi's); an MMRM of all visits
        (``analysis_formula``; default ``outcome ~ covariate * visit + arm * visit + us(visit | subject)``, which
        on complete data equals the ANCOVA per visit); or the proportion of responders per arm and the risk
        difference at each visit (``responder``; with ``method="approxbayes"`` only).
    analysis_formula : str, optional
        The MMRM of ``analysis="mmrm"`` in R mmrm syntax, over the same outcome, arm, visit and subject columns
        and subject-level covariates, e.g. ``"CHANGE ~ BASVAL + THERAPY * VISIT + us(VISIT | PATIENT)"``.
    responder : ResponderRule, optional
        Who responds, for ``analysis="responder"``, e.g. ``ResponderRule(0.3, relative=True,
        baseline="pain_baseline")`` (30% less pain than at baseline).
    information_anchored : bool
        ``method="condmean"`` only: the information-anchored variance of Lu (2021) instead of the frequentist
        one (see the module's docstring); the point estimate is the same.
    level : float
        Confidence level.
    seed : int
        Seed of the bootstrap and the draws (``numpy.random.SeedSequence``).
    visit_order : list, optional
        The visits in time order (default: categorical order, else natural order of the labels).
    reml : bool
        Fit the imputation model by REML (default, as rbmi) or ML.
    executor : ``"auto"``, ``"processes"``, None or a concurrent.futures.Executor
        Runs the samples: ``"auto"`` (default) a pool of local processes, one per core, when the work is large
        (samples x subjects above 200,000, e.g. 1,000 imputations of 400 subjects), the machine has at least 4
        cores and processes can be forked (Linux), else this process;
        ``"processes"`` always the pool; None this process; or any executor (a ProcessPoolExecutor, a Dask
        client's). Results do not depend on it.
    progress : bool
        Show a progress bar of the samples (on a terminal).

    Returns
    -------
    SensitivityResult
    """
    d = draws(
        data,
        formula,
        arm=arm,
        reference=reference,
        control=control,
        events=events,
        strategy=strategy,
        method=method,
        inference=inference,
        n_samples=n_samples,
        covariates=covariates,
        analysis=analysis,
        analysis_formula=analysis_formula,
        responder=responder,
        information_anchored=information_anchored,
        burn_in=burn_in,
        thin=thin,
        level=level,
        seed=seed,
        visit_order=visit_order,
        reml=reml,
        executor=executor,
        progress=progress,
    )
    return result_of(d, formula, reml, delta_matrix(delta, d.wide))


def result_of(d: Draws, formula: str, reml: bool, delta: np.ndarray | None, extra_notes=()) -> SensitivityResult:
    """The :class:`SensitivityResult` of a set of draws with a delta."""
    wide = d.wide
    table = d.table(d.analyse(delta))
    counts = pd.Series(wide.strategy[wide.ice < wide.T]).value_counts()
    notes = d.notes() + list(extra_notes)
    shared = "one covariance matrix shared by the arms" if len(d.model.groups) == 1 else "a covariance matrix per arm"
    notes.append("imputation model: " + formula + f" ({'REML' if reml else 'ML'}, {shared})")
    notes.append("analysis: " + d.design.describe())
    return SensitivityResult(
        table=table,
        method=d.method,
        inference=d.inference + (", information-anchored" if d.anchored else ""),
        strategies={str(s): int(c) for s, c in counts.items()},
        reference={str(a): str(r) for a, r in d.model.reference.items()},
        n_subjects=wide.n,
        n_imputed=int(np.isnan(wide.y).sum()),
        n_samples=len(d.samples),
        notes=tuple(notes),
    )


def draws(
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
    analysis: str = "ancova",
    analysis_formula: str | None = None,
    responder: ResponderRule | None = None,
    information_anchored: bool = False,
    burn_in: int = 200,
    thin: int = 10,
    level: float = 0.95,
    seed: int | None = None,
    visit_order=None,
    reml: bool = True,
    executor="auto",
    progress: bool = False,
) -> Draws:
    """Step 1: check the data, fit the imputation model on the full data and on every sample (the arguments
    are those of :func:`reference_based`)."""
    if method not in METHODS:
        raise ModelError(f"method={method!r}: use one of {', '.join(METHODS)}")
    inference = inference or METHODS[method][0]
    if inference not in METHODS[method]:
        raise ModelError(f"inference={inference!r} does not go with method={method!r}; use {METHODS[method]}")
    if analysis not in ANALYSES:
        raise ModelError(f"analysis={analysis!r}: use one of {', '.join(ANALYSES)}")
    if analysis == "responder":
        if method == "condmean":
            raise ModelError(
                "analysis='responder' needs multiple imputation (method='approxbayes' or 'bayes'): the responder "
                "status of a conditional mean is not that of a patient, so conditional mean imputation would bias "
                "the rates"
            )
        if not isinstance(responder, ResponderRule):
            raise ModelError("analysis='responder': give the rule, e.g. responder=ResponderRule(2.0)")
    elif responder is not None:
        raise ModelError(f"responder= is used by analysis='responder' only (analysis={analysis!r})")
    if analysis_formula is not None and analysis != "mmrm":
        raise ModelError(f"analysis_formula= is used by analysis='mmrm' only (analysis={analysis!r})")
    if information_anchored and method != "condmean":
        raise ModelError(
            "information_anchored=True goes with method='condmean' (Lu 2021); Rubin's rules after approximate "
            "Bayesian imputation are already close to information-anchored"
        )
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
    if analysis == "ancova":
        design = ancova_design(wide.arm, wide.covariates[covariates], control, wide.visits)
    elif analysis == "mmrm":
        if analysis_formula is None:
            v, s = wide.visit_column, wide.subject_column
            rhs = [f"{c} * {v}" for c in covariates] + [f"{arm} * {v}", f"us({v} | {s})"]
            analysis_formula = f"{wide.outcome} ~ " + " + ".join(rhs)
        design = MmrmAnalysis(wide, analysis_formula, control, tuple(covariates))
    else:
        design = ResponderDesign(wide, responder, control)
    model = ImputationModel(wide, formula, refmap, reml=reml)
    full = model.fit(np.arange(wide.n))
    if method == "condmean" and inference == "jackknife":
        k, seeds = wide.n, None
    else:
        k = int(n_samples or (500 if method == "condmean" else 100))
        if k < 2:
            raise ModelError(f"n_samples={n_samples!r}: at least 2 samples are needed")
        root = np.random.SeedSequence(seed)
        seeds = tuple(root.spawn(k))
    if method == "bayes":
        samples, mcmc = _posterior_draws(model, full, k, burn_in, thin, child(root, k), progress)
        return Draws(model, design, wide, method, inference, full, samples, seeds, level, mcmc=mcmc)
    job = _FitJob(model, wide.n, wide.arm, inference != "jackknife", seeds, full)
    samples = run_samples(job, k, executor, work=k * wide.n, progress=progress)
    return Draws(model, design, wide, method, inference, full, samples, seeds, level, anchored=information_anchored)


def _posterior_draws(model, full, k: int, burn_in: int, thin: int, seed, progress: bool):
    """Bayesian MI's step 1: ``k`` posterior draws by the Gibbs sampler (one chain, in this process)."""
    from painstudy.sensitivity.bayes import effective_size, gibbs_draws

    if not full.converged:
        raise ModelError("Bayesian imputation: the REML fit the chain starts from did not converge")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=burn_in + k * thin, desc="MCMC iterations", unit="it", leave=False)
    try:
        kept = gibbs_draws(
            model, full, k, burn_in=burn_in, thin=thin, seed=seed, progress=bar.update if bar is not None else None
        )
    finally:
        if bar is not None:
            bar.close()
    ess = effective_size(np.array([par.beta for par in kept]))
    return tuple((None, par) for par in kept), {"burn_in": burn_in, "thin": thin, "ess": ess}


#: ``executor="auto"`` runs the samples in local processes above this many subject-fits (samples x subjects),
#: on machines with at least this many cores (on a 2-vCPU virtual machine two processes measured no faster
#: than one: each fit took twice as long; benchmarks/RESULTS_sensitivity.md)
AUTO_PROCESSES_WORK = 200_000
AUTO_PROCESSES_CORES = 4


def run_samples(job, k: int, executor, *, work: int = 0, progress: bool = False) -> tuple:
    """``job(0), ..., job(k - 1)`` in order, run as ``executor`` says (see :func:`reference_based`)."""
    cores = usable_cores()
    if isinstance(executor, str):
        if executor not in ("auto", "processes"):
            raise ModelError(f"executor={executor!r}: use 'auto', 'processes', None or a concurrent.futures.Executor")
        if executor == "auto" and (work < AUTO_PROCESSES_WORK or cores < AUTO_PROCESSES_CORES or not _can_fork()):
            executor = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=k, desc="imputation model fits", unit="fit", leave=False)

    def tick(results):
        for r in results:
            if bar is not None:
                bar.update(1)
            yield r

    try:
        if executor is None:
            return tuple(tick(job(i) for i in range(k)))
        if isinstance(executor, str):  # a pool of local processes
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            workers = min(cores, k)
            # forked where possible: a spawned worker re-runs the user's script unless it is guarded by
            # `if __name__ == "__main__":`
            context = multiprocessing.get_context("fork" if _can_fork() else None)
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                return tuple(tick(pool.map(job, range(k), chunksize=max(1, k // (8 * workers)))))
        return tuple(tick(executor.map(job, range(k))))
    finally:
        if bar is not None:
            bar.close()


def _can_fork() -> bool:
    import multiprocessing
    import sys

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


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


def delta_matrix(delta, wide) -> np.ndarray | None:
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
