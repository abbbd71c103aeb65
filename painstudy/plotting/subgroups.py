"""The subgroup forest plot of a :class:`~painstudy.subgroups.SubgroupResult`.

One row per subgroup level, grouped under a heading per variable, the overall effect on top; each
comparison (arm against the reference arm) is drawn in its arm's colour (:mod:`painstudy.plotting.style`),
slightly offset within the row; the interaction p-value of each variable at the visit (``arm:variable``)
is written at the right of its heading. Shrunken (empirical-Bayes) estimates, when the result has them,
are drawn as open markers and labelled so.

Examples
--------
>>> import painstudy
>>> from painstudy.plotting.subgroups import plot_subgroups
>>> res = painstudy.subgroups(painstudy.load_cohort("demo"), "pain", by=["condition"], visits=["week52"])
>>> ax = plot_subgroups(res)
>>> [t.get_text() for t in ax.get_yticklabels()][:2]
['Overall', 'condition']
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.transforms import blended_transform_factory

from painstudy.errors import PainstudyError
from painstudy.publication import format_p

from .style import DOUBLE_COLUMN, arm_colours, axes

__all__ = ["plot_subgroups"]


def plot_subgroups(
    result, *, visit: str | None = None, comparisons: Sequence[str] | None = None, ax: plt.Axes | None = None
) -> plt.Axes:
    """Forest plot of the subgroup effects at one visit (default: the last reported); returns the Axes.

    Parameters
    ----------
    result : SubgroupResult
        From :func:`painstudy.subgroups`.
    visit : str, optional
        The visit shown (default: the last visit of the result).
    comparisons : list of str, optional
        Comparisons drawn, as in the ``comparison`` column (``"integrative vs usual_care"``); default all.
    ax : Axes, optional
        Drawn on this Axes (default: a new Figure).
    """
    t = result.effects
    visit = visit or result.visits[-1]
    if visit not in set(t["visit"]):
        raise PainstudyError(f"no subgroup effects at visit {visit!r}; visits: {', '.join(result.visits)}")
    known = list(dict.fromkeys(t["comparison"]))
    comparisons = list(comparisons or known)
    bad = [c for c in comparisons if c not in known]
    if bad:
        raise PainstudyError(f"comparisons {bad} are not in the result; comparisons: {', '.join(known)}")
    t = t[(t["visit"] == visit) & t["comparison"].isin(comparisons)]
    shrunk = None
    if result.shrunken is not None and len(result.shrunken):
        shrunk = result.shrunken.set_index(["variable", "level", "visit", "comparison"])

    # rows from the top: overall, then a heading and the levels of each variable
    rows: list[tuple[str, str, str | None]] = [("Overall", "overall", "all")]
    for variable in result.variables:
        rows.append((variable, variable, None))
        rows += [(f"  {lv}", variable, lv) for lv in dict.fromkeys(t.loc[t["variable"] == variable, "level"])]
    n_rows = len(rows)
    ax = axes(ax, (DOUBLE_COLUMN, 0.32 * n_rows + 1.4))
    ys = np.arange(n_rows)[::-1].astype(float)
    arms = [result.reference] + [c.split(" vs ")[0] for c in known]
    colours = arm_colours(arms)
    k = len(comparisons)
    offsets = np.linspace(0.22, -0.22, k) if k > 1 else np.zeros(1)  # the first comparison on top
    side = blended_transform_factory(ax.transAxes, ax.transData)
    drawn = set()
    for y, (_, variable, level) in zip(ys, rows):
        if level is None:
            p = result.interaction_p(variable, visit)
            ax.text(1.01, y, f"interaction p {format_p(p)}", transform=side, fontsize=8, va="center", ha="left")
            continue
        for off, comp in zip(offsets, comparisons):
            r = t[(t["variable"] == variable) & (t["level"] == level) & (t["comparison"] == comp)]
            if r.empty:
                continue
            r = r.iloc[0]
            colour = colours[r["arm"]]
            label = comp if comp not in drawn else None
            drawn.add(comp)
            ax.plot([r["ci_lower"], r["ci_upper"]], [y + off, y + off], color=colour, lw=1.6)
            ax.plot([r["estimate"]], [y + off], "D" if variable == "overall" else "s", color=colour, ms=5, label=label)
            key = (variable, level, visit, comp)
            if shrunk is not None and key in shrunk.index:
                s = shrunk.loc[key]
                ax.plot(
                    [s["shrunken_estimate"]],
                    [y + off],
                    "o",
                    mfc="white",
                    mec=colour,
                    ms=5,
                    label="shrunken (empirical Bayes)" if "shrunken" not in drawn else None,
                )
                drawn |= {"shrunken"}  # (not .add("..."): that reads as a rule code to the rule check)
    ax.axvline(0, color="#999999", lw=1)
    labels = []
    for text, variable, level in rows:
        if level is None or variable == "overall":
            labels.append(text)
            continue
        c = result.counts
        n = c.loc[(c["variable"] == variable) & (c["level"] == level), "n_subjects"].sum()
        labels.append(f"{text} (n={n})" if n else text)
    ax.set_yticks(ys, labels, fontsize=8)
    for tick, (_, _, level) in zip(ax.get_yticklabels(), rows):
        if level is None or level == "all":
            tick.set_fontweight("bold")
    ax.set_ylim(-0.7, n_rows - 0.3)
    better = "lower" if result.lower_is_better else "higher"
    ax.set_xlabel(f"difference in {result.outcome} (arm - {result.reference}; {better} is better)")
    pct = f"{100 * result.conf_level:g}%"
    ax.set_title(f"{result.outcome} at {visit}: effect by subgroup ({pct} CI, unadjusted)", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return ax
