"""One simulated trial of a design, analysed as planned: the unit of work of the power simulation.

:func:`draw_trial` draws a trial of a :class:`~painstudy.design.Design` from one random generator;
:func:`analyse_trial` analyses it (the MMRM of :func:`painstudy.compare_arms`, or an ANCOVA at one visit)
and returns one row per comparison with the control arm; :func:`run_batch` does both for a range of
trials of one design point, each trial with its own generator from ``SeedSequence(seed, spawn_key=(n,
hypothesis, trial))`` (the child ``(n, hypothesis, trial)`` of ``SeedSequence(seed)``), so that a trial's
result does not depend on the batch, the worker or the executor that ran it.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from painstudy.design import Design
from painstudy.errors import PainstudyError

__all__ = [
    "SimTrial",
    "draw_trial",
    "analyse_trial",
    "run_batch",
    "arm_sizes",
    "trial_seed",
    "improvement_times",
    "logrank_two",
    "TRIAL_COLUMNS",
]

#: columns of one analysed trial (one row per comparison with the control arm)
TRIAL_COLUMNS = [
    "n_per_arm",
    "hypothesis",
    "trial",
    "comparison",
    "estimate",
    "std_error",
    "df",
    "ci_lower",
    "ci_upper",
    "p_value",
    "p_adjusted",
    "failed",
]
#: hypothesis -> its number in the random-number key
HYPOTHESES = {"alternative": 0, "null": 1}


@dataclass(frozen=True)
class SimTrial:
    """A simulated trial in wide form: arm index per subject and the outcome (subjects x visits, NaN after
    dropout)."""

    arm: np.ndarray
    y: np.ndarray


def arm_sizes(design: Design, n_per_arm: int) -> np.ndarray:
    """Subjects per arm: ``n_per_arm`` times each arm's allocation (rounded, at least 2)."""
    return np.maximum(2, np.round(n_per_arm * design.allocation).astype(int))


def trial_seed(seed: int, n_per_arm: int, hypothesis: str, trial: int) -> np.random.SeedSequence:
    """The random stream of one trial: the child ``(n_per_arm, hypothesis, trial)`` of ``SeedSequence(seed)``."""
    return np.random.SeedSequence(seed, spawn_key=(int(n_per_arm), HYPOTHESES[hypothesis], int(trial)))


def draw_trial(design: Design, n_per_arm: int, rng: np.random.Generator) -> SimTrial:
    """Draw one trial: fixed arm sizes, condition, site, multivariate normal outcome and MCAR dropout."""
    sizes = arm_sizes(design, n_per_arm)
    arm = np.repeat(np.arange(len(sizes)), sizes)
    n, T = len(arm), len(design.visits)
    cond = rng.choice(len(design.conditions), size=n, p=design.condition_probability)
    chol = np.linalg.cholesky(design.covariance)
    y = design.mean + rng.standard_normal((n, T)) @ chol.T
    y += design.effects[arm] * design.modifiers[arm, cond][:, None]
    if design.site_sd > 0:
        site = rng.integers(0, design.n_sites, n)
        y += rng.normal(0.0, design.site_sd, design.n_sites)[site][:, None]
    stay = rng.random((n, T)) >= design.dropout[arm]
    present = np.cumprod(stay, axis=1).astype(bool)
    y[~present] = np.nan
    return SimTrial(arm, y)


def analyse_trial(design: Design, trial: SimTrial, alpha: float = 0.05) -> list[dict]:
    """The planned analysis of one trial: per comparison with the control arm at the analysis visit, the
    estimate, its standard error, df, the (unadjusted) ``1 - alpha`` interval, the p-value and the p-value
    adjusted as ``design.multiplicity`` says. A fit that fails gives rows with ``failed=True`` and NaN."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if design.analysis == "mmrm":
                return mmrm_rows(design, trial, alpha)
            if design.analysis == "responders":
                return responder_rows(design, trial, alpha)
            if design.analysis == "slopes":
                return slope_rows(design, trial, alpha)
            if design.analysis == "improvement":
                return improvement_rows(design, trial, alpha)
            return ancova_rows(design, trial, alpha)
    except (PainstudyError, np.linalg.LinAlgError, ValueError, FloatingPointError):
        return [
            {"comparison": a, "failed": True, **dict.fromkeys(TRIAL_COLUMNS[4:11], np.nan)} for a in design.arms[1:]
        ]


@functools.lru_cache(maxsize=16)
def mmrm_layout(arms: tuple, post: tuple, covariance: str):
    """The MMRM of :func:`painstudy.compare_arms` (``y ~ baseline + arm * visit + COV(visit | subject)``),
    laid out once per design (:class:`~painstudy.models.mixed.mmrm_arrays.ArrayMMRM`)."""
    from painstudy.models.mixed.mmrm_arrays import ArrayMMRM

    template = pd.DataFrame(
        {
            "subject": np.arange(len(arms) * len(post)),
            "arm": pd.Categorical(np.repeat(arms, len(post)), categories=list(arms)),
            "visit": pd.Categorical(np.tile(post, len(arms)), categories=list(post)),
            "baseline": 0.0,
            "y": 0.0,
        }
    )
    return ArrayMMRM.from_template(
        f"y ~ baseline + arm * visit + {covariance}(visit | subject)",
        template,
        within={"baseline": False, "arm": False, "visit": True},
    )


def mmrm_rows(design: Design, trial: SimTrial, alpha: float) -> list[dict]:
    """MMRM as :func:`painstudy.compare_arms` fits it: ``y ~ baseline + arm * visit + us(visit | subject)``
    (REML, Satterthwaite df), the difference in LS means from the control arm at the analysis visit.

    The rows go to the model as arrays (:class:`~painstudy.models.mixed.mmrm_arrays.ArrayMMRM`), not as a
    DataFrame through :func:`painstudy.mmrm`: the same fit and numbers (``tests/test_mmrm_arrays.py``)
    without parsing the formula and building the design for every trial."""
    from painstudy.models.contrasts import adjust_family, estimate_row

    arms, post = tuple(design.arms), tuple(design.post_visits)
    layout = mmrm_layout(arms, post, design.analysis_covariance)
    n, T = trial.y.shape
    keep = (~np.isnan(trial.y[:, 1:]) & ~np.isnan(trial.y[:, [0]])).ravel()
    subject = np.repeat(np.arange(n), T - 1)[keep]
    cell = (np.repeat(trial.arm, T - 1) * (T - 1) + np.tile(np.arange(T - 1), n))[keep]
    X = layout.cell_design[cell]
    X[:, layout.column("baseline")] = np.repeat(trial.y[:, 0], T - 1)[keep]
    _, subject = np.unique(subject, return_inverse=True)
    _, inference = layout.fit(X, trial.y[:, 1:].ravel()[keep], cell % (T - 1), subject)
    v, c = post.index(design.analysis_visit), arms.index(design.control)
    others = [a for a in arms if a != design.control]
    L = np.array(
        [layout.cell_design[arms.index(a) * (T - 1) + v] - layout.cell_design[c * (T - 1) + v] for a in others]
    )
    level = 1 - alpha
    rows = [estimate_row(*inference.contrast(l), level=level) for l in L]
    adjusted = [dict(r) for r in rows]
    adjust_family(adjusted, L, inference.C, design.multiplicity, level)
    return [
        {
            "comparison": a,
            **{k: r[k] for k in ("estimate", "std_error", "df", "ci_lower", "ci_upper", "p_value")},
            "p_adjusted": max(float(q["p_value"]), float(r["p_value"])),
            "failed": False,
        }
        for a, r, q in zip(others, rows, adjusted)
    ]


def ancova_rows(design: Design, trial: SimTrial, alpha: float) -> list[dict]:
    """ANCOVA of the outcome at the analysis visit on baseline and arm (subjects measured there), by least
    squares; multiplicity as :func:`painstudy.models.contrasts.adjust_family`."""
    from painstudy.models.contrasts import adjust_family, estimate_row

    t = design.visits.index(design.analysis_visit)
    ok = ~np.isnan(trial.y[:, t]) & ~np.isnan(trial.y[:, 0])
    arm, y, base = trial.arm[ok], trial.y[ok, t], trial.y[ok, 0]
    A = len(design.arms)
    X = np.column_stack([np.ones(len(y)), base] + [(arm == a).astype(float) for a in range(1, A)])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    df = len(y) - X.shape[1]
    if df < 1:
        raise PainstudyError("too few subjects for the ANCOVA")
    s2 = float(((y - X @ beta) ** 2).sum()) / df
    C = s2 * np.linalg.inv(X.T @ X)
    L = np.zeros((A - 1, X.shape[1]))
    L[np.arange(A - 1), 2 + np.arange(A - 1)] = 1.0
    rows = [
        estimate_row(float(beta[2 + k]), float(np.sqrt(C[2 + k, 2 + k])), float(df), 1 - alpha) for k in range(A - 1)
    ]
    adjusted = [dict(r) for r in rows]
    adjust_family(adjusted, L, C, design.multiplicity, 1 - alpha)
    return [
        {
            "comparison": design.arms[k + 1],
            **{c: r[c] for c in ("estimate", "std_error", "df", "ci_lower", "ci_upper", "p_value")},
            "p_adjusted": max(float(a["p_value"]), float(r["p_value"])),
            "failed": False,
        }
        for k, (r, a) in enumerate(zip(rows, adjusted))
    ]


def responder_rows(design: Design, trial: SimTrial, alpha: float) -> list[dict]:
    """Responders at the analysis visit (improvement from baseline of at least the threshold; a subject who
    left is a non-responder): the difference in proportions with Newcombe's hybrid score interval and the
    two-proportion z test (pooled variance, the chi-square test without continuity correction); Holm or
    Bonferroni across the comparisons."""
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    from painstudy.models.binomial import newcombe_interval

    t = design.visits.index(design.analysis_visit)
    change = trial.y[:, t] - trial.y[:, 0]
    improved = -change if design.lower_is_better else change
    resp = np.nan_to_num(improved, nan=-np.inf) >= design.responder_threshold
    n = np.bincount(trial.arm, minlength=len(design.arms))
    x = np.bincount(trial.arm, weights=resp, minlength=len(design.arms))
    rows = []
    for g in range(1, len(design.arms)):
        p1, p0 = x[g] / n[g], x[0] / n[0]
        pooled = (x[g] + x[0]) / (n[g] + n[0])
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / n[g] + 1 / n[0]))
        z = (p1 - p0) / se0 if se0 > 0 else 0.0
        lo, hi = newcombe_interval(x[g], n[g], x[0], n[0], 1 - alpha)
        rows.append(
            {
                "comparison": design.arms[g],
                "estimate": float(p1 - p0),
                "std_error": float(np.sqrt(p1 * (1 - p1) / n[g] + p0 * (1 - p0) / n[0])),
                "df": np.inf,
                "ci_lower": float(np.asarray(lo).item()),
                "ci_upper": float(np.asarray(hi).item()),
                "p_value": float(2 * stats.norm.sf(abs(z))),
                "failed": False,
            }
        )
    p = [r["p_value"] for r in rows]
    adjusted = p if design.multiplicity == "none" else multipletests(p, method=design.multiplicity)[1]
    for r, a in zip(rows, adjusted):
        r["p_adjusted"] = float(a)
    return rows


def slope_rows(design: Design, trial: SimTrial, alpha: float) -> list[dict]:
    """Slopes as :func:`painstudy.compare_arms` (``model="slopes"``) fits them: ``y ~ baseline + arm * week +
    (1 + week | subject)`` on the post-baseline visits; each arm's slope per week against the control's."""
    from painstudy.models.mixed.lmm import lmm

    n, T = trial.y.shape
    keep = ~np.isnan(trial.y[:, 1:]) & ~np.isnan(trial.y[:, [0]])
    data = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(n), T - 1),
            "arm": pd.Categorical.from_codes(np.repeat(trial.arm, T - 1), categories=list(design.arms)),
            "week": np.tile(np.asarray(design.weeks[1:], float), n),
            "baseline": np.repeat(trial.y[:, 0], T - 1),
            "y": trial.y[:, 1:].ravel(),
        }
    )[keep.ravel()]
    fit = lmm("y ~ baseline + arm * week + (1 + week | subject)", data)
    level = 1 - alpha
    raw = fit.trend_contrasts("week", by="arm", method="trt.vs.ctrl", ref=design.control, level=level)
    if design.multiplicity == "none":
        adjusted = raw["p_value"].to_numpy()
    else:
        adj = fit.trend_contrasts(
            "week", by="arm", method="trt.vs.ctrl", ref=design.control, level=level, adjust=design.multiplicity
        )
        adjusted = np.maximum(adj["p_value"].to_numpy(), raw["p_value"].to_numpy())
    return [
        {
            "comparison": r.contrast.split(" - ")[0],
            **{c: getattr(r, c) for c in ("estimate", "std_error", "df", "ci_lower", "ci_upper", "p_value")},
            "p_adjusted": float(p),
            "failed": False,
        }
        for r, p in zip(raw.itertuples(), adjusted)
    ]


def improvement_times(design: Design, trial: SimTrial) -> tuple[np.ndarray, np.ndarray]:
    """Time to clinically meaningful improvement of each subject: the week of the first post-baseline visit
    at which the improvement from baseline reaches ``responder_threshold`` (event), else the week of the last
    visit attended (censored)."""
    weeks = np.asarray(design.weeks, float)
    change = trial.y[:, 1:] - trial.y[:, [0]]
    improved = np.nan_to_num(-change if design.lower_is_better else change, nan=-np.inf) >= design.responder_threshold
    event = improved.any(axis=1)
    first = np.argmax(improved, axis=1) + 1
    attended = (~np.isnan(trial.y)).cumsum(axis=1).argmax(axis=1)  # last visit with a value
    time = np.where(event, weeks[first], weeks[attended])
    return time, event


def logrank_two(time: np.ndarray, event: np.ndarray, treated: np.ndarray) -> tuple[float, float]:
    """Two-sample log-rank: observed minus expected events of the treated group and its variance (R
    ``survdiff``'s, ties as hypergeometric)."""
    o_e = var = 0.0
    for t in np.unique(time[event]):
        at_risk = time >= t
        n, n1 = at_risk.sum(), (at_risk & treated).sum()
        d, d1 = (event & (time == t)).sum(), (event & (time == t) & treated).sum()
        o_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n - d) / (n - 1) * (n1 / n) * (1 - n1 / n)
    return float(o_e), float(var)


def improvement_rows(design: Design, trial: SimTrial, alpha: float) -> list[dict]:
    """Time to clinically meaningful improvement, each arm against the control: the log-rank test, and the
    Peto estimate of the log hazard ratio, ``(O - E) / V`` with standard error ``1 / sqrt(V)`` (above 0:
    faster improvement); Holm or Bonferroni across the comparisons."""
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    time, event = improvement_times(design, trial)
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for g in range(1, len(design.arms)):
        pair = (trial.arm == g) | (trial.arm == 0)
        o_e, v = logrank_two(time[pair], event[pair], trial.arm[pair] == g)
        if v <= 0:
            raise PainstudyError("no improvement events to compare")
        est, se = o_e / v, 1.0 / np.sqrt(v)
        rows.append(
            {
                "comparison": design.arms[g],
                "estimate": est,
                "std_error": se,
                "df": np.inf,
                "ci_lower": est - z * se,
                "ci_upper": est + z * se,
                "p_value": float(stats.chi2.sf(o_e**2 / v, 1)),
                "failed": False,
            }
        )
    p = [r["p_value"] for r in rows]
    adjusted = p if design.multiplicity == "none" else multipletests(p, method=design.multiplicity)[1]
    for r, a in zip(rows, adjusted):
        r["p_adjusted"] = float(a)
    return rows


def run_batch(design: Design, n_per_arm: int, hypothesis: str, start: int, stop: int, seed: int, alpha: float):
    """Trials ``start`` to ``stop - 1`` of one design point, each drawn from its own random stream and
    analysed; a DataFrame with :data:`TRIAL_COLUMNS`. Runs on a worker: one BLAS thread (the fits' policy)."""
    from painstudy.models.blas import DEFAULT_BLAS_THREADS, blas_threads

    use = design.null() if hypothesis == "null" else design
    rows = []
    # the whole batch on one BLAS thread, the drawing included: idle OpenBLAS threads otherwise spin between
    # the fits and take a second core for nothing
    with blas_threads(DEFAULT_BLAS_THREADS):
        for k in range(start, stop):
            trial = draw_trial(use, n_per_arm, np.random.default_rng(trial_seed(seed, n_per_arm, hypothesis, k)))
            for r in analyse_trial(use, trial, alpha):
                rows.append({"n_per_arm": int(n_per_arm), "hypothesis": hypothesis, "trial": k, **r})
    out = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    out["failed"] = out["failed"].astype(bool)
    return out
