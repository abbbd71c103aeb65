"""Heterogeneity of treatment effect: for whom does each arm work?

:func:`subgroups` fits, for each subgroup variable ``G`` (condition, sex, site, a binned or linear
continuous modifier such as age or the baseline value of the outcome), the MMRM of the post-baseline
visits ``outcome ~ outcome_baseline + arm * visit * G`` and reports, with emmeans' semantics:

- the effect of each arm against the reference arm within each level of ``G`` at each visit
  (``contrast(emmeans(fit, ~ arm | visit * G), "trt.vs.ctrl")``), with the subjects behind it;
- the 1-df contrast of contrasts for each comparison and each pair of levels at each visit: how much
  the effect differs between two subgroups (``contrast(emmeans(fit, ~ arm * G | visit), interaction =
  c("trt.vs.ctrl", "pairwise"))``); for a linear modifier, the change of the effect per unit of it;
- the interaction tests: ``arm:G`` within each visit (``joint_tests(fit, by = "visit")``) and over the
  visits, ``arm:G`` and ``arm:visit:G`` (``joint_tests(fit)``, the SAS type III tests here), F with the
  fit's degrees-of-freedom method;
- the overall effect (the model without ``G``: ``outcome ~ outcome_baseline + arm * visit``), first in
  the tables and on top of the forest plot;
- optionally, empirical-Bayes (shrunken) subgroup effects: each level's estimate pulled toward the
  precision-weighted mean of the levels by a normal-normal model whose between-subgroup variance
  ``tau^2`` is estimated by the method of moments (DerSimonian and Laird); labelled "shrunken" wherever
  they appear.

Subgroup analyses answer "is there evidence that the effect differs?" through the interaction tests;
the effects within subgroups are descriptive (no multiplicity adjustment), which the notes say.

Examples
--------
>>> import painstudy
>>> res = painstudy.subgroups(painstudy.load_cohort("demo"), "pain", by=["condition"], visits=["week52"])
>>> res.effects.query("comparison == 'mindfulness vs usual_care'")["level"].tolist()
['all', 'chronic_low_back_pain', 'fibromyalgia', 'knee_osteoarthritis']
>>> res.tests.query("visit == 'week52'")["term"].tolist()
['arm:condition']
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import ModelError
from .rendering import Rendered, Tidy, format_p

if TYPE_CHECKING:  # pragma: no cover
    from .cohort import Cohort

__all__ = [
    "subgroups",
    "SubgroupResult",
    "EFFECT_COLUMNS",
    "INTERACTION_COLUMNS",
    "TEST_COLUMNS",
    "COUNT_COLUMNS",
    "SHRUNKEN_COLUMNS",
    "shrink",
]

ESTIMATE_COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "ci_lower", "ci_upper"]
#: Columns of :attr:`SubgroupResult.effects`.
EFFECT_COLUMNS = [
    "outcome",
    "variable",
    "level",
    "visit",
    "comparison",
    "arm",
    "reference",
    "n_arm",
    "n_reference",
    *ESTIMATE_COLUMNS,
]
#: Columns of :attr:`SubgroupResult.interactions` (the 1-df contrasts of contrasts).
INTERACTION_COLUMNS = ["outcome", "variable", "visit", "comparison", "levels", *ESTIMATE_COLUMNS]
#: Columns of :attr:`SubgroupResult.tests` (interaction F tests).
TEST_COLUMNS = ["outcome", "variable", "term", "visit", "num_df", "den_df", "statistic", "p_value"]
#: Columns of :attr:`SubgroupResult.counts`.
COUNT_COLUMNS = ["variable", "level", "arm", "n_subjects", "n_observations"]
#: Columns of :attr:`SubgroupResult.shrunken`.
SHRUNKEN_COLUMNS = [
    "outcome",
    "variable",
    "level",
    "visit",
    "comparison",
    "estimate",
    "std_error",
    "shrunken_estimate",
    "shrunken_std_error",
    "shrunken_ci_lower",
    "shrunken_ci_upper",
    "shrinkage",
    "tau2",
    "target",
]
CONTINUOUS = ("categories", "linear")
OVERALL = "overall"


@dataclass(frozen=True, repr=False)
class SubgroupResult(Rendered):
    """Result of :func:`subgroups` (immutable).

    Attributes
    ----------
    outcome : str
    reference : str
        The reference arm of every comparison.
    effects : DataFrame
        Columns ``EFFECT_COLUMNS``: the overall effect (``variable`` ``"overall"``, ``level`` ``"all"``) and
        the effect within each subgroup level (for a linear modifier: at each value of ``at``, ``level``
        ``"age = 40"``), per visit and comparison (``arm`` minus ``reference``, in the outcome's units);
        ``n_arm`` and ``n_reference`` count the subjects observed at the visit; no multiplicity adjustment.
    interactions : DataFrame
        Columns ``INTERACTION_COLUMNS``: per visit, comparison and pair of levels (``levels``, e.g.
        ``"fibromyalgia - knee_osteoarthritis"``) the difference of the two subgroup effects; for a linear
        modifier the change of the effect per unit of it (``levels`` ``"per 1 age"``).
    tests : DataFrame
        Columns ``TEST_COLUMNS``: ``arm:G`` within each visit, and ``arm:G`` and ``arm:visit:G`` over the
        visits (``visit`` ``"all"``), F tests with the fit's degrees of freedom.
    counts : DataFrame
        Columns ``COUNT_COLUMNS``: subjects and observations in the analysis per variable, level and arm.
    shrunken : DataFrame or None
        With ``shrinkage=True``: columns ``SHRUNKEN_COLUMNS``, the empirical-Bayes estimates (see
        :func:`shrink`).
    fits : mapping
        The fitted MMRM per variable (and ``"overall"``).
    formulas : mapping
        The formula per variable (and ``"overall"``).
    """

    outcome: str
    reference: str
    effects: pd.DataFrame
    interactions: pd.DataFrame
    tests: pd.DataFrame
    counts: pd.DataFrame
    shrunken: pd.DataFrame | None = None
    fits: Mapping[str, object] = field(default_factory=dict)
    formulas: Mapping[str, str] = field(default_factory=dict)
    conf_level: float = 0.95
    notes: tuple[str, ...] = ()
    lower_is_better: bool = True

    @property
    def variables(self) -> list[str]:
        """The subgroup variables, in the order given."""
        return [v for v in dict.fromkeys(self.effects["variable"]) if v != OVERALL]

    @property
    def visits(self) -> list[str]:
        """The visits reported, in time order."""
        return list(dict.fromkeys(self.effects["visit"]))

    def plot(self, *, visit: str | None = None, comparisons: Sequence[str] | None = None, ax=None):
        """Subgroup forest plot (:func:`painstudy.plotting.subgroups.plot_subgroups`); returns the Axes."""
        from .plotting.subgroups import plot_subgroups

        return plot_subgroups(self, visit=visit, comparisons=comparisons, ax=ax)

    def interaction_p(self, variable: str, visit: str) -> float:
        """The p-value of the ``arm:variable`` F test within ``visit``."""
        t = self.tests
        row = t[(t["variable"] == variable) & (t["visit"] == visit) & (t["term"] == f"arm:{variable}")]
        if row.empty:
            raise ModelError(f"no interaction test of {variable!r} at visit {visit!r}; variables: {self.variables}")
        return float(row["p_value"].iloc[0])

    def display_table(self) -> pd.DataFrame:
        """The subgroup effects as a reader sees them: ``estimate (95% CI)``, p, subjects, the interaction
        p-value of the variable at the visit and, with shrinkage, the shrunken estimate."""
        t = self.effects
        pct = f"{100 * self.conf_level:g}%"
        inter = [
            "" if v == OVERALL else format_p(self.interaction_p(v, vis)) for v, vis in zip(t["variable"], t["visit"])
        ]
        out = pd.DataFrame(
            {
                "visit": t["visit"],
                "comparison": t["comparison"],
                "variable": t["variable"],
                "level": t["level"],
                "n": [f"{a} / {b}" for a, b in zip(t["n_arm"], t["n_reference"])],
                f"estimate ({pct} CI)": [
                    f"{e:.2f} ({lo:.2f} to {hi:.2f})" for e, lo, hi in zip(t["estimate"], t["ci_lower"], t["ci_upper"])
                ],
                "p": [format_p(v) for v in t["p_value"]],
                "interaction p": inter,
            }
        )
        if self.shrunken is not None and len(self.shrunken):
            s = self.shrunken.set_index(["variable", "level", "visit", "comparison"])
            keys = list(zip(t["variable"], t["level"], t["visit"], t["comparison"]))
            out[f"shrunken estimate ({pct} CI)"] = [
                (
                    f"{s.loc[k, 'shrunken_estimate']:.2f} ({s.loc[k, 'shrunken_ci_lower']:.2f} to "
                    f"{s.loc[k, 'shrunken_ci_upper']:.2f})"
                )
                if k in s.index
                else ""
                for k in keys
            ]
        return out

    def tidy(self) -> Tidy:
        facts = (
            ("outcome", self.outcome),
            ("reference", self.reference),
            ("variables", ", ".join(self.variables)),
            ("visits", ", ".join(self.visits)),
        )
        tables = (
            ("effects", self.effects),
            ("interaction tests", self.tests),
            ("interaction contrasts", self.interactions),
            ("counts", self.counts),
        )
        if self.shrunken is not None:
            tables += (("shrunken", self.shrunken),)
        notes = tuple(f"{k}: {f}" for k, f in self.formulas.items()) + self.notes
        return Tidy(
            f"Treatment effect by subgroup: {self.outcome}",
            facts,
            tables,
            notes,
            shown=(("subgroup effects", self.display_table()), ("interaction tests", self.tests)),
        )


# ---------------------------------------------------------------------------------------------------------------
def shrink(estimate, std_error, *, conf_level: float = 0.95) -> dict:
    """Empirical-Bayes (shrunken) estimates of independent subgroup effects (normal-normal model).

    ``estimate_j ~ N(theta_j, s_j^2)``, ``theta_j ~ N(mu, tau^2)``. ``tau^2`` by the method of moments
    (DerSimonian and Laird: ``max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w))``, ``w = 1 / s^2``), ``mu`` the
    mean of the estimates weighted by ``1 / (s^2 + tau^2)``; each effect is shrunk toward ``mu`` by
    ``B_j = s_j^2 / (s_j^2 + tau^2)``: ``mu + (1 - B_j) (estimate_j - mu)``, with variance
    ``(1 - B_j) s_j^2 + B_j^2 Var(mu)`` (``tau^2`` treated as known) and normal intervals.

    Returns
    -------
    dict with arrays ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper``, ``shrinkage`` (``B_j``) and the
    scalars ``tau2`` and ``target`` (``mu``).

    Examples
    --------
    >>> r = shrink([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    >>> round(r["tau2"], 4), r["target"], [round(float(x), 3) for x in r["estimate"]]
    (0.75, 2.0, [1.25, 2.0, 2.75])
    """
    from .models.contrasts import t_quantile

    y = np.asarray(estimate, float)
    s2 = np.asarray(std_error, float) ** 2
    w = 1.0 / s2
    k = len(y)
    ybar = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - ybar) ** 2))
    denom = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (k - 1)) / denom) if k > 1 and denom > 0 else 0.0
    ws = 1.0 / (s2 + tau2)
    mu = float(np.sum(ws * y) / np.sum(ws))
    var_mu = 1.0 / float(np.sum(ws))
    b = s2 / (s2 + tau2)
    est = mu + (1 - b) * (y - mu)
    se = np.sqrt((1 - b) * s2 + b**2 * var_mu)
    z = t_quantile(conf_level, np.inf)
    return {
        "estimate": est,
        "std_error": se,
        "ci_lower": est - z * se,
        "ci_upper": est + z * se,
        "shrinkage": b,
        "tau2": tau2,
        "target": mu,
    }


# ---------------------------------------------------------------------------------------------------------------
def _per_variable(value, variable: str):
    """``value`` itself, or its entry for ``variable`` when it is a mapping."""
    if isinstance(value, Mapping):
        return value.get(variable)
    return value


def _resolve(cohort: Cohort, outcome: str, variable: str, data: pd.DataFrame) -> str:
    """The column of ``data`` holding the subgroup variable (``"baseline"``: the outcome's baseline)."""
    if variable in ("baseline", f"{outcome}_baseline"):
        return f"{outcome}_baseline"
    if variable in ("arm", "visit", "subject", outcome):
        raise ModelError(f"by: {variable!r} cannot define subgroups (it is the arm, visit, subject or outcome)")
    if variable in data.columns and variable in cohort.subjects.columns:
        return variable
    known = [c for c in cohort.subjects.columns if c not in ("subject", "arm", "arm_class", "last_visit")]
    raise ModelError(
        f"by: {variable!r} is not a column of the cohort's subjects (rule: a subgroup variable is a subject "
        f"characteristic, or 'baseline' for the outcome's baseline); columns: {', '.join(known)}"
    )


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _bin(values: pd.Series, subject_values: pd.Series, variable: str, bins) -> tuple[pd.Categorical, str]:
    """Cut a numeric subgroup variable into ordered categories: ``bins`` quantile groups of the subjects'
    values (an int), or at the given cut points (each bin ``[a, b)``)."""
    x = subject_values.dropna().to_numpy(float)
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 2:
            raise ModelError(f"bins for {variable!r}: give 2 or more quantile groups or cut points, not {bins}")
        distinct = np.unique(x)
        if len(distinct) < bins:
            raise ModelError(
                f"by: {variable!r} has {len(distinct)} distinct values among the subjects analysed, too few for "
                f"{bins} quantile groups (rule: continuous='categories' needs at least as many distinct values as "
                "bins); give fewer bins, cut points, or continuous='linear'"
            )
        cuts = np.unique(np.quantile(x, np.arange(1, bins) / bins))
        cuts = cuts[cuts > distinct[0]]  # a cut at the minimum would leave the first group empty
        if len(cuts) < bins - 1:
            raise ModelError(
                f"by: {variable!r}: its values are tied so that {bins} quantile groups cannot be formed "
                f"(cut points {', '.join(map(_fmt, cuts))}; rule: every group holds subjects); give fewer bins or "
                "cut points"
            )
        how = f"{bins} quantile groups of the subjects' values"
    else:
        cuts = np.asarray(sorted(float(c) for c in bins), float)
        if not len(cuts) or not np.all(np.isfinite(cuts)) or len(np.unique(cuts)) < len(cuts):
            raise ModelError(f"bins for {variable!r}: cut points must be distinct finite numbers, got {list(bins)}")
        how = f"cut at {', '.join(map(_fmt, cuts))}"
    labels = (
        [f"{variable} < {_fmt(cuts[0])}"]
        + [f"{variable} {_fmt(a)} to < {_fmt(b)}" for a, b in zip(cuts[:-1], cuts[1:])]
        + [f"{variable} >= {_fmt(cuts[-1])}"]
    )
    code = np.searchsorted(cuts, values.to_numpy(float), side="right")
    out = pd.Categorical.from_codes(np.where(values.isna(), -1, code), categories=labels)
    return out, how


def _check_cells(d: pd.DataFrame, col: str, variable: str, arms: list[str], visits: list[str], outcome: str) -> None:
    """Every level needs subjects in every arm, observed at every visit (else its effects are not estimable)."""
    for level in d[col].cat.categories:
        g = d[d[col] == level]
        for arm in arms:
            ga = g[g["arm"] == arm]
            if ga.empty:
                raise ModelError(
                    f"by: {variable!r} level {level!r} has no subjects in arm {arm!r} with {outcome!r} observed after "
                    "baseline (rule: every subgroup level needs subjects in every arm); merge levels, give other "
                    "bins or leave the variable out"
                )
            seen = set(ga["visit"].astype(str))
            missing = [v for v in visits if v not in seen]
            if missing:
                raise ModelError(
                    f"by: {variable!r} level {level!r}, arm {arm!r}: no {outcome!r} observed at {', '.join(missing)} "
                    "(rule: every subgroup level needs observations in every arm at every visit); merge levels or "
                    "give other bins"
                )


def _contrast_rows(rows) -> dict:
    """LS-mean coefficient rows by their combination of levels (as strings)."""
    return {tuple(str(c) for c in combo): l for combo, l in rows}


def subgroups(
    cohort: Cohort,
    outcome: str,
    by: str | Sequence[str] = ("condition",),
    *,
    visits: Sequence[str] | None = None,
    reference: str | None = None,
    continuous: str = "categories",
    at: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    bins: int | Sequence[float] | Mapping[str, int | Sequence[float]] = 3,
    shrinkage: bool = False,
    df_method: str = "satterthwaite",
    conf_level: float = 0.95,
    covariance: str = "us",
) -> SubgroupResult:
    """Heterogeneity of treatment effect: arm effects within subgroups, and the interaction tests.

    Parameters
    ----------
    cohort : Cohort
    outcome : str
        The outcome analysed (its baseline value is a covariate of every model).
    by : str or list of str
        Subgroup variables: columns of the cohort's subjects (``condition``, ``sex``, ``site``, ``age``, ...)
        or ``"baseline"`` (the outcome's baseline value).
    visits : list of str, optional
        Visits reported (default: every post-baseline visit; all are used in the fits).
    reference : str, optional
        Reference arm (default: the study's control arm).
    continuous : {"categories", "linear"}
        How a numeric variable enters: cut into ordered groups (``bins``), or linearly (``arm * visit * x``)
        with the effects evaluated at the values ``at``. Text and categorical variables are always factors.
    at : list of float or mapping, optional
        With ``continuous="linear"``: the values at which the effects are given (default: the quartiles of
        the subjects' values); a mapping gives them per variable.
    bins : int, list of float or mapping
        With ``continuous="categories"``: the number of quantile groups of the subjects' values (default 3),
        or cut points (groups ``[a, b)``); a mapping gives them per variable.
    shrinkage : bool
        Add empirical-Bayes (shrunken) subgroup effects (:func:`shrink`, per variable, visit and comparison
        across the levels), in :attr:`SubgroupResult.shrunken` and the display table, labelled "shrunken".
    df_method : str
        Degrees of freedom of the MMRM (``satterthwaite``, ``kenward-roger``, ``residual``, ...).
    conf_level : float
        Confidence level of the intervals.
    covariance : str
        MMRM covariance structure over the visits (default ``us``, unstructured).

    Returns
    -------
    SubgroupResult

    Raises
    ------
    ModelError
        An unknown variable, a level without subjects in an arm (or without observations at a visit), a
        numeric variable with too few distinct values for its groups, or bad parameters; the message names
        the variable, the level and the rule.

    Examples
    --------
    >>> import painstudy
    >>> res = painstudy.subgroups(painstudy.load_cohort("demo"), "pain", by="age", continuous="linear",
    ...                           at=[40, 60], visits=["week52"])
    >>> res.effects.query("variable == 'age'")["level"].unique().tolist()
    ['age = 40', 'age = 60']
    >>> res.interactions["levels"].unique().tolist()
    ['per 1 age']
    """
    from .models.contrasts import estimate_row
    from .models.mixed.lsmeans import lsmean_rows
    from .models.mixed.mmrm import mmrm

    spec = cohort.spec
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise ModelError("by: give at least one subgroup variable")
    if continuous not in CONTINUOUS:
        raise ModelError(f"continuous must be 'categories' or 'linear', not {continuous!r}")
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level must be between 0 and 1, not {conf_level!r}")
    reference = reference or spec.reference_arm.name
    spec.arm(reference)
    post = [v.name for v in spec.post_baseline_visits]
    visits = list(visits or post)
    unknown = [v for v in visits if v not in post]
    if unknown:
        raise ModelError(f"visits {unknown} are not post-baseline visits of {spec.name!r} ({post})")
    base = f"{outcome}_baseline"
    data = cohort.analysis_data(outcome)
    extra = [c for c in cohort.subjects.columns if c not in data.columns]
    data = data.merge(cohort.subjects[["subject", *extra]], on="subject", how="left") if extra else data
    if data[base].isna().all():
        raise ModelError(f"subgroups adjust for the baseline of {outcome!r}, and no subject of {spec.name!r} has one")
    arms = [reference] + [a.name for a in spec.arms if a.name != reference]
    data = data[data[base].notna()]
    present = [a for a in arms if (data["arm"].astype(str) == a).any()]
    data = data.assign(arm=pd.Categorical(data["arm"].astype(str), categories=present))
    comparisons = [a for a in present if a != reference]
    if not comparisons or present[0] != reference:
        raise ModelError(f"subgroups need the reference arm {reference!r} and another arm with {outcome!r} observed")
    fitted_visits = [v for v in post if (data["visit"].astype(str) == v).any()]
    cov_term = f"{covariance}(visit | subject)"

    def fit(formula, d):
        return mmrm(formula, d, df=df_method)

    def n_obs(d, col=None, level=None):
        sel = d if col is None else d[d[col] == level]
        return sel.groupby([sel["arm"].astype(str), sel["visit"].astype(str)]).size().to_dict()

    effects, inter, tests, counts, fits, formulas, notes = [], [], [], [], {}, {}, []
    formulas[OVERALL] = f"{outcome} ~ {base} + arm * visit + {cov_term}"
    fits[OVERALL] = overall = fit(formulas[OVERALL], data)
    nn = n_obs(data)
    con = overall.contrasts("arm", by="visit", method="trt.vs.ctrl", ref=reference, level=conf_level)
    for r in con.itertuples(index=False):
        arm = r.contrast.split(" - ")[0]
        effects.append(_effect_row(outcome, OVERALL, "all", r, arm, reference, nn))
    counts += [{"variable": OVERALL, "level": "all", "arm": a, **_count(data[data["arm"] == a])} for a in present]

    for variable in by:
        col = _resolve(cohort, outcome, variable, data)
        label = variable if variable != f"{outcome}_baseline" else "baseline"
        d = data[data[col].notna()].copy()
        if len(d) < len(data):
            lost = data.loc[data[col].isna(), "subject"].nunique()
            notes.append(f"{label}: {lost} subjects without a value left out of its model")
        numeric = _is_numeric(d[col])
        mode = "linear" if numeric and continuous == "linear" else "factor"
        if numeric and mode == "factor":
            subj = d.drop_duplicates("subject")[col]
            gcol = f"{col}_group"
            binned, how = _bin(d[col], subj, label, _per_variable(bins, variable))
            d[gcol] = binned  # an empty group stays, and is named by the check of the cells below
            notes.append(f"{label}: {how}")
        elif mode == "factor":
            gcol = col
            s = d[col]
            cats = (
                list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.astype(str).unique())
            )
            d[gcol] = pd.Categorical(s.astype(str), categories=[str(c) for c in cats]).remove_unused_categories()
        else:
            gcol = col
        if mode == "factor":
            levels = [str(c) for c in d[gcol].cat.categories]
            if len(levels) < 2:
                raise ModelError(
                    f"by: {label!r} has one level ({levels[0] if levels else 'none'}) among the subjects analysed "
                    "(rule: a subgroup variable needs two or more levels)"
                )
            _check_cells(d, gcol, label, present, fitted_visits, outcome)
        main = "" if gcol == base else f"{base} + "
        formula = f"{outcome} ~ {main}arm * visit * {gcol} + {cov_term}"
        formulas[label] = formula
        fits[label] = f = fit(formula, d)
        info = f.design
        if mode == "factor":
            con = f.contrasts("arm", by=["visit", gcol], method="trt.vs.ctrl", ref=reference, level=conf_level)
            for lev in levels:
                nn = n_obs(d, gcol, lev)
                for r in con[con[gcol].astype(str) == lev].itertuples(index=False):
                    effects.append(_effect_row(outcome, label, lev, r, r.contrast.split(" - ")[0], reference, nn))
                counts += [
                    {"variable": label, "level": lev, "arm": a, **_count(d[(d[gcol] == lev) & (d["arm"] == a)])}
                    for a in present
                ]
            rows = _contrast_rows(lsmean_rows(info, f.frame, ["arm", gcol, "visit"]))
            for v in fitted_visits:
                L_test = []
                for a in comparisons:

                    def eff(g, a=a, v=v, rows=rows):
                        return rows[(a, g, v)] - rows[(reference, g, v)]

                    for g1, g2 in itertools.combinations(levels, 2):
                        l = eff(g1) - eff(g2)
                        inter.append(
                            {
                                "outcome": outcome,
                                "variable": label,
                                "visit": v,
                                "comparison": f"{a} vs {reference}",
                                "levels": f"{g1} - {g2}",
                                **estimate_row(*f.inference.contrast(l), conf_level),
                            }
                        )
                    L_test += [eff(g) - eff(levels[0]) for g in levels[1:]]
                tests.append(_test_row(outcome, label, f"arm:{label}", v, f.inference.ftest(np.array(L_test))))
        else:
            subj = d.drop_duplicates("subject")[col].to_numpy(float)
            values = _per_variable(at, variable)
            values = list(np.quantile(subj, [0.25, 0.5, 0.75])) if values is None else [float(x) for x in values]
            nn = n_obs(d)
            for x in values:
                con = f.contrasts(
                    "arm", by="visit", method="trt.vs.ctrl", ref=reference, level=conf_level, at={gcol: x}
                )
                for r in con.itertuples(index=False):
                    row = _effect_row(
                        outcome, label, f"{label} = {_fmt(x)}", r, r.contrast.split(" - ")[0], reference, nn
                    )
                    effects.append(row)
            counts += [{"variable": label, "level": "linear", "arm": a, **_count(d[d["arm"] == a])} for a in present]
            means = dict(info.numeric_means)
            unit = [
                _contrast_rows(
                    lsmean_rows(dataclasses.replace(info, numeric_means={**means, gcol: x}), f.frame, ["arm", "visit"])
                )
                for x in (0.0, 1.0)
            ]
            for v in fitted_visits:
                L_test = []
                for a in comparisons:
                    l = (unit[1][(a, v)] - unit[1][(reference, v)]) - (unit[0][(a, v)] - unit[0][(reference, v)])
                    inter.append(
                        {
                            "outcome": outcome,
                            "variable": label,
                            "visit": v,
                            "comparison": f"{a} vs {reference}",
                            "levels": f"per 1 {label}",
                            **estimate_row(*f.inference.contrast(l), conf_level),
                        }
                    )
                    L_test.append(l)
                tests.append(_test_row(outcome, label, f"arm:{label}", v, f.inference.ftest(np.array(L_test))))
        anova = f.anova()
        for term in (f"arm:{gcol}", f"arm:visit:{gcol}"):
            tests.append(_test_row(outcome, label, term.replace(gcol, label), "all", anova.loc[term].to_dict()))

    eff = pd.DataFrame(effects, columns=EFFECT_COLUMNS)
    eff = eff[eff["visit"].isin(visits)].reset_index(drop=True)
    inter_t = pd.DataFrame(inter, columns=INTERACTION_COLUMNS)
    inter_t = inter_t[inter_t["visit"].isin(visits)].reset_index(drop=True)
    test_t = pd.DataFrame(tests, columns=TEST_COLUMNS)
    test_t = test_t[test_t["visit"].isin([*visits, "all"])].reset_index(drop=True)
    shrunken = _shrunken(eff, conf_level) if shrinkage else None
    notes.append(
        "subgroup effects are descriptive (no multiplicity adjustment); whether the effect differs between "
        "subgroups is answered by the interaction tests (arm:variable)"
    )
    if shrinkage:
        notes.append(
            "shrunken estimates: empirical Bayes (normal-normal, tau^2 by the method of moments), each subgroup "
            "effect pulled toward the precision-weighted mean of its variable's levels; not for linear modifiers"
        )
    inst = cohort.instrument(outcome)
    return SubgroupResult(
        outcome=outcome,
        reference=reference,
        effects=eff,
        interactions=inter_t,
        tests=test_t,
        counts=pd.DataFrame(counts, columns=COUNT_COLUMNS),
        shrunken=shrunken,
        fits=fits,
        formulas=formulas,
        conf_level=conf_level,
        notes=tuple(notes),
        lower_is_better=bool(inst.lower_is_better),
    )


def _count(d: pd.DataFrame) -> dict:
    return {"n_subjects": int(d["subject"].nunique()), "n_observations": len(d)}


def _effect_row(outcome, variable, level, r, arm, reference, nn) -> dict:
    return {
        "outcome": outcome,
        "variable": variable,
        "level": level,
        "visit": str(r.visit),
        "comparison": f"{arm} vs {reference}",
        "arm": arm,
        "reference": reference,
        "n_arm": int(nn.get((arm, str(r.visit)), 0)),
        "n_reference": int(nn.get((reference, str(r.visit)), 0)),
        **{c: getattr(r, c) for c in ESTIMATE_COLUMNS},
    }


def _test_row(outcome, variable, term, visit, res: dict) -> dict:
    return {
        "outcome": outcome,
        "variable": variable,
        "term": term,
        "visit": visit,
        **{c: res[c] for c in ("num_df", "den_df", "statistic", "p_value")},
    }


def _shrunken(eff: pd.DataFrame, conf_level: float) -> pd.DataFrame:
    """Per variable (linear modifiers excepted), visit and comparison, the levels' effects shrunken together."""
    out = []
    sub = eff[(eff["variable"] != OVERALL) & ~eff["level"].str.contains(" = ", regex=False)]
    for (variable, visit, comp), g in sub.groupby(["variable", "visit", "comparison"], sort=False):
        s = shrink(g["estimate"], g["std_error"], conf_level=conf_level)
        for i, r in enumerate(g.itertuples(index=False)):
            out.append(
                {
                    "outcome": r.outcome,
                    "variable": variable,
                    "level": r.level,
                    "visit": visit,
                    "comparison": comp,
                    "estimate": r.estimate,
                    "std_error": r.std_error,
                    "shrunken_estimate": s["estimate"][i],
                    "shrunken_std_error": s["std_error"][i],
                    "shrunken_ci_lower": s["ci_lower"][i],
                    "shrunken_ci_upper": s["ci_upper"][i],
                    "shrinkage": s["shrinkage"][i],
                    "tau2": s["tau2"],
                    "target": s["target"],
                }
            )
    return pd.DataFrame(out, columns=SHRUNKEN_COLUMNS)
