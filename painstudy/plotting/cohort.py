"""Plots describing a cohort: trajectories per arm, missingness by visit, the CONSORT flow.

Examples
--------
>>> import painstudy
>>> from painstudy.plotting.cohort import plot_trajectories
>>> ax = plot_trajectories(painstudy.load_cohort("demo"), "pain")
>>> ax.get_xlabel()
'week'
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import Cohort
from . import style

__all__ = ["arm_colours", "observed_means", "plot_trajectories", "missingness", "plot_missingness", "plot_flow"]


def arm_colours(cohort: Cohort) -> dict[str, str]:
    """The colour of each arm of the cohort's study (:func:`painstudy.plotting.style.arm_colours`)."""
    return style.arm_colours(a.name for a in cohort.spec.arms)


def observed_means(cohort: Cohort, outcome: str, *, ci: float = 0.95) -> pd.DataFrame:
    """Observed mean of ``outcome`` per arm and visit with a t-based CI (no modelling)."""
    cohort.spec.outcome(outcome)
    v = cohort.visits.dropna(subset=[outcome])
    g = v.groupby(["arm", "visit"], observed=True)[outcome]
    out = g.agg(n="count", mean="mean", sd="std").reset_index()
    out["week"] = out["visit"].map({x.name: x.week for x in cohort.spec.visits}).astype(float)
    se = out["sd"] / np.sqrt(out["n"])
    t = stats.t.ppf(0.5 + ci / 2, np.maximum(out["n"] - 1, 1))
    out["ci_lower"], out["ci_upper"] = out["mean"] - t * se, out["mean"] + t * se
    return out


def plot_trajectories(
    cohort: Cohort,
    outcome: str,
    *,
    ax: plt.Axes | None = None,
    spaghetti: bool = False,
    ci: float = 0.95,
    max_spaghetti: int = 40,
    seed: int = 0,
) -> plt.Axes:
    """Observed mean trajectory of an outcome per arm (with CIs); optionally some individual lines."""
    spec = cohort.spec.outcome(outcome)
    ax = style.axes(ax)
    colours = arm_colours(cohort)
    labels = {a.name: a.label for a in cohort.spec.arms}
    if spaghetti:
        rng = np.random.default_rng(seed)
        v = cohort.visits.dropna(subset=[outcome])
        for arm, g in v.groupby("arm", observed=True):
            subs = g["subject"].unique()
            pick = rng.choice(subs, size=min(max_spaghetti, len(subs)), replace=False)
            for _, s in g[g["subject"].isin(pick)].groupby("subject"):
                ax.plot(s["week"], s[outcome], color=colours[arm], alpha=0.15, lw=0.7)
    m = observed_means(cohort, outcome, ci=ci)
    offsets = np.linspace(-0.4, 0.4, len(cohort.spec.arms)) if len(cohort.spec.arms) > 1 else [0.0]
    for off, arm in zip(offsets, [a.name for a in cohort.spec.arms]):
        g = m[m["arm"] == arm].sort_values("week")
        if g.empty:
            continue
        style.arm_errorbars(
            ax, g["week"] + off, g["mean"], g["ci_lower"], g["ci_upper"], colour=colours[arm], label=labels[arm]
        )
    ax.set_xlabel("week")
    ax.set_ylabel(f"{spec.label}\n({spec.instrument.direction} is better)")
    ax.set_xticks([v.week for v in cohort.spec.visits])
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"{spec.label}: observed mean ({ci:.0%} CI) by arm", fontsize=10)
    return ax


def missingness(cohort: Cohort, outcome: str | None = None) -> pd.DataFrame:
    """Proportion of randomised subjects assessed at each visit, per arm."""
    if outcome is not None:
        cohort.spec.outcome(outcome)
    cols = [outcome] if outcome else list(cohort.spec.outcomes)
    v = cohort.visits.assign(assessed=cohort.visits[cols].notna().any(axis=1))
    out = v.groupby(["arm", "visit"], observed=True)["assessed"].agg(assessed="sum", randomised="count").reset_index()
    out["missing"] = out["randomised"] - out["assessed"]
    out["percent_missing"] = 100 * out["missing"] / out["randomised"]
    return out


def plot_missingness(cohort: Cohort, outcome: str | None = None, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Percent of randomised subjects not assessed, by visit and arm."""
    ax = style.axes(ax, (style.DOUBLE_COLUMN, 3.6))
    m = missingness(cohort, outcome)
    colours = arm_colours(cohort)
    visits = cohort.spec.visit_names
    arms = [a for a in cohort.spec.arms]
    width = 0.8 / len(arms)
    for i, a in enumerate(arms):
        g = m[m["arm"] == a.name].set_index("visit").reindex(visits)
        ax.bar(
            np.arange(len(visits)) + (i - (len(arms) - 1) / 2) * width,
            g["percent_missing"],
            width,
            color=colours[a.name],
            label=a.label,
        )
    ax.set_xticks(np.arange(len(visits)), visits)
    ax.set_ylabel("% of randomised not assessed")
    ax.set_title("Missing assessments by visit and arm", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_flow(cohort: Cohort, *, ax: plt.Axes | None = None) -> plt.Axes:
    """A CONSORT-style flow diagram drawn from :meth:`Cohort.disposition`."""
    flow = cohort.disposition()
    arms = cohort.spec.arms
    ax = style.axes(ax, (2.2 + 2.6 * len(arms), 6.5))
    ax.set_axis_off()
    ax.set_xlim(0, len(arms))
    ax.set_ylim(0, 10)
    box = dict(boxstyle="round,pad=0.4", fc="white", ec="#333333")
    total = int(flow.loc["randomised", "Total"])
    ax.text(len(arms) / 2, 9.4, f"Randomised\nn = {total}", ha="center", va="center", bbox=box, fontsize=9)
    reasons = [r for r in flow.index if r.startswith("withdrawn: ")]
    visits = [r for r in flow.index if r.startswith("assessed at ")]
    for i, a in enumerate(arms):
        x = i + 0.5
        ax.annotate("", xy=(x, 8.2), xytext=(len(arms) / 2, 8.9), arrowprops=dict(arrowstyle="->", color="#333"))
        ax.text(
            x,
            7.8,
            f"{a.label}\n({a.arm_class})\nallocated n = {flow.loc['randomised', a.name]}",
            ha="center",
            va="center",
            bbox=box,
            fontsize=8,
        )
        lines = [f"{r.replace('assessed at ', '')}: {flow.loc[r, a.name]}" for r in visits]
        ax.text(x, 5.6, "Assessed\n" + "\n".join(lines), ha="center", va="center", bbox=box, fontsize=7.5)
        wd = [f"{r.replace('withdrawn: ', '')}: {flow.loc[r, a.name]}" for r in reasons if flow.loc[r, a.name]]
        ax.text(
            x,
            3.0,
            f"Withdrawn n = {flow.loc['withdrawn', a.name]}\n" + "\n".join(wd),
            ha="center",
            va="center",
            bbox=box,
            fontsize=7.5,
        )
        ax.text(
            x, 0.9, f"Completed\nn = {flow.loc['completed', a.name]}", ha="center", va="center", bbox=box, fontsize=8.5
        )
    ax.set_title(f"{cohort.spec.title}: participant flow", fontsize=10)
    return ax
