"""Plots of mixed-model comparisons: LS-mean trajectories per arm and the forest plot.

Both take an :class:`~painstudy.compare.ArmComparison` and ``ax=None`` and return the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..errors import PainstudyError
from .cohort import arm_colours
from .style import DOUBLE_COLUMN, ROLE_COLOURS, arm_errorbars, axes

__all__ = ["plot_lsmeans", "plot_forest"]


def plot_lsmeans(result, outcome: str, *, ax: plt.Axes | None = None) -> plt.Axes:
    """LS means of ``outcome`` per arm over visits, with their confidence intervals.

    ``result`` is an :class:`~painstudy.compare.ArmComparison`.
    """
    cohort = result.cohort
    m = result.lsmeans[result.lsmeans["outcome"] == outcome]
    if m.empty:
        raise PainstudyError(
            f"no LS means for outcome {outcome!r}; outcomes compared: "
            f"{', '.join(map(str, result.lsmeans['outcome'].unique()))}"
        )
    ax = axes(ax)
    colours = arm_colours(cohort)
    labels = {a.name: a.label for a in cohort.spec.arms}
    arms = [a.name for a in cohort.spec.arms if a.name in set(m["arm"].astype(str))]
    offsets = np.linspace(-0.4, 0.4, len(arms)) if len(arms) > 1 else [0.0]
    for off, arm in zip(offsets, arms):
        g = m[m["arm"].astype(str) == arm].sort_values("week")
        arm_errorbars(
            ax, g["week"] + off, g["estimate"], g["ci_lower"], g["ci_upper"], colour=colours[arm], label=labels[arm]
        )
    inst = cohort.instrument(outcome)
    ax.set_xlabel("week")
    ax.set_ylabel(f"{cohort.spec.outcome(outcome).label}\n({inst.direction} is better)")
    ax.set_xticks(sorted(m["week"].dropna().unique()))
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"{cohort.spec.outcome(outcome).label}: LS means (95% CI), {result.model}", fontsize=10)
    return ax


def plot_forest(result, *, visit: str | None = None, ax: plt.Axes | None = None) -> plt.Axes:
    """Forest plot of the comparisons at one visit (default: the last), per outcome.

    ``result`` is an :class:`~painstudy.compare.ArmComparison`.
    """
    t = result.table
    if visit is None:
        visit = t["visit"].iloc[-1] if (t["visit"] == "slope per week").all() else [v for v in t["visit"].unique()][-1]
    if visit not in set(t["visit"]):
        raise PainstudyError(f"no comparison at visit {visit!r}; visits: {', '.join(map(str, t['visit'].unique()))}")
    t = t[t["visit"] == visit].reset_index(drop=True)
    ax = axes(ax, (DOUBLE_COLUMN, 0.45 * len(t) + 1.6))
    y = np.arange(len(t))[::-1]
    colours = ROLE_COLOURS
    for yi, r in zip(y, t.itertuples()):
        # show every comparison as benefit (positive favours the arm), so one side is always "better"
        inst = result.cohort.instrument(r.outcome)
        s = -1.0 if inst.lower_is_better else 1.0
        sd = r.estimate / r.effect_size if r.effect_size else 1.0
        est, lo, hi = (s * r.estimate / sd, *sorted([s * r.ci_lower / sd, s * r.ci_upper / sd]))
        ax.plot([lo, hi], [yi, yi], color=colours.get(r.role, "#555"), lw=2)
        ax.plot([est], [yi], "s", color=colours.get(r.role, "#555"), ms=6)
    ax.axvline(0, color="#999", lw=1)
    ax.set_yticks(y, [f"{r.outcome}: {r.comparison}" for r in t.itertuples()], fontsize=8)
    ax.set_xlabel("standardised benefit (difference / SD; > 0 favours the first arm)")
    ax.set_title(
        f"Comparisons at {visit} ({result.model}; {t['adjustment'].iloc[0] if len(t) else ''} adjusted p in the table)",
        fontsize=9,
    )
    return ax
