"""Plots of time to improvement: Kaplan-Meier with the at-risk table, cumulative incidence.

Examples
--------
>>> import pandas as pd
>>> from painstudy.improvement import ImprovementData
>>> from painstudy.plotting.survival import plot_km
>>> t = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 4, "time": [4, 4, 8, 12, 8, 12, 12, 12],
...                   "event": [1, 1, 1, 0, 1, 1, 0, 0]})
>>> ax = plot_km(ImprovementData.from_table(t))
>>> ax.get_ylabel(), [a.get_title(loc="left") for a in ax.figure.axes]
('proportion improved', ['', 'number at risk'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models.survival import (
    CumulativeIncidenceResult,
    ImprovementAnalysis,
    KaplanMeierResult,
    cumulative_incidence,
    kaplan_meier,
)
from painstudy.plotting.style import DOUBLE_COLUMN, arm_style, axes

__all__ = ["plot_km", "plot_cumulative_incidence"]


def _step_to(x: np.ndarray, y: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Extend a right-continuous step curve to ``end``."""
    if len(x) and end > x[-1]:
        return np.append(x, end), np.append(y, y[-1])
    return x, y


def plot_km(
    data: ImprovementData | KaplanMeierResult | ImprovementAnalysis,
    *,
    kind: str = "improved",
    ci: bool = True,
    at_risk: bool = True,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Kaplan-Meier curves per arm, with the number at risk under the plot.

    Parameters
    ----------
    data : ImprovementData, KaplanMeierResult or ImprovementAnalysis
        Event data (then :func:`~painstudy.models.survival.kaplan_meier` is run with its
        defaults), a fitted result, or the result of
        :func:`~painstudy.models.survival.analyze_improvement` (its Kaplan-Meier part).
    kind : {"improved", "survival"}, default "improved"
        ``"improved"`` plots 1 - KM, the cumulative proportion improved; ``"survival"`` the
        proportion not yet improved.
    ci : bool, default True
        Draw the pointwise confidence band.
    at_risk : bool, default True
        Draw the at-risk table (subjects still at risk at each scheduled visit) in an Axes
        appended below ``ax`` (``ax.figure.axes``; its title is "number at risk").
    labels : mapping, optional
        Arm name -> legend label (an unknown arm name is an error).
    title : str, optional
    ax : matplotlib Axes, optional
        Draw on this Axes; default a new Figure.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes of the curves.
    """
    if kind not in ("improved", "survival"):
        raise ModelError(f"kind must be 'improved' or 'survival', got {kind!r}")
    if isinstance(data, ImprovementAnalysis):
        data = data.km
    km = kaplan_meier(data) if isinstance(data, ImprovementData) else data
    if not isinstance(km, KaplanMeierResult):
        raise ModelError(
            f"plot_km needs ImprovementData, a KaplanMeierResult or an ImprovementAnalysis, got {type(data).__name__}"
        )
    surv = km.survival
    cats, labels, colours = arm_style(surv, labels)
    arms = [a for a in cats if (surv["arm"] == a).any()]
    ax = axes(ax, (DOUBLE_COLUMN, 5.2 if at_risk else 4.2))
    end = float(max(km.at_risk["time"].max(), surv["time"].max()))
    for arm in arms:
        s = surv.loc[surv["arm"] == arm]
        x = s["time"].to_numpy(float)
        y = s["estimate"].to_numpy(float)
        lo = s["ci_lower"].to_numpy(float)
        hi = s["ci_upper"].to_numpy(float)
        if kind == "improved":
            y, lo, hi = 1 - y, 1 - hi, 1 - lo
        xs, ys = _step_to(x, y, end)
        ax.step(xs, ys, where="post", color=colours[arm], lw=2, label=labels[arm])
        if ci:
            xl, lol = _step_to(x, lo, end)
            _, hil = _step_to(x, hi, end)
            ax.fill_between(xl, lol, hil, step="post", color=colours[arm], alpha=0.15, lw=0)
    ticks = sorted(km.at_risk["time"].unique())
    ax.set_xticks(ticks)
    ax.set_xlim(-0.03 * end, end * 1.03)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("" if at_risk else "week")
    ax.set_ylabel("proportion improved" if kind == "improved" else "proportion not yet improved")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left" if kind == "improved" else "lower left", frameon=False, fontsize=9)
    if title:
        ax.set_title(title)
    if at_risk:
        _at_risk_table(ax, km.at_risk, arms, labels, colours)
    return ax


def _at_risk_table(
    ax: plt.Axes, risk: pd.DataFrame, arms: Sequence[str], labels: Mapping[str, str], colours: Mapping[str, str]
) -> plt.Axes:
    """The number at risk per arm at each time, in an Axes appended below ``ax``."""
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    n_arms = len(arms)
    tab_ax = make_axes_locatable(ax).append_axes("bottom", size=0.28 * (n_arms + 1), pad=0.45, sharex=ax)
    for i, arm in enumerate(arms):
        r = risk.loc[risk["arm"] == arm]
        for t, n in zip(r["time"], r["n_risk"]):
            tab_ax.text(t, n_arms - i, str(int(n)), ha="center", va="center", fontsize=9, color=colours[arm])
    tab_ax.set_yticks(range(n_arms, 0, -1))
    tab_ax.set_yticklabels([labels[a] for a in arms], fontsize=9)
    for lab, arm in zip(tab_ax.get_yticklabels(), arms):
        lab.set_color(colours[arm])
    tab_ax.set_ylim(0.4, n_arms + 0.6)
    tab_ax.tick_params(axis="y", length=0, pad=12)
    tab_ax.set_xlabel("week")
    tab_ax.set_title("number at risk", fontsize=9, loc="left")
    for side in ("top", "right", "left"):
        tab_ax.spines[side].set_visible(False)
    plt.setp(ax.get_xticklabels(), visible=False)
    return tab_ax


def plot_cumulative_incidence(
    data: ImprovementData | CumulativeIncidenceResult,
    *,
    competing: bool = True,
    labels: Mapping[str, str] | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Aalen-Johansen cumulative incidence of improvement per arm (dropout competing).

    Parameters
    ----------
    data : ImprovementData, CumulativeIncidenceResult or ImprovementAnalysis
    competing : bool, default True
        Also draw the cumulative incidence of dropout (dashed).
    labels : mapping, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(data, ImprovementAnalysis):
        data = data.incidence if data.incidence is not None else data.data
    res = cumulative_incidence(data) if isinstance(data, ImprovementData) else data
    if not isinstance(res, CumulativeIncidenceResult):
        raise ModelError(
            f"plot_cumulative_incidence needs ImprovementData, a CumulativeIncidenceResult "
            f"or an ImprovementAnalysis, got {type(data).__name__}"
        )
    t = res.table
    cats, labels, colours = arm_style(t, labels)
    ax = axes(ax)
    end = float(t["time"].max())
    for arm in [a for a in cats if (t["arm"] == a).any()]:
        s = t.loc[t["arm"] == arm]
        x, y = _step_to(s["time"].to_numpy(float), s["estimate"].to_numpy(float), end)
        ax.step(x, y, where="post", color=colours[arm], lw=2, label=f"{labels[arm]}: improved")
        if competing:
            x2, y2 = _step_to(s["time"].to_numpy(float), s["competing_estimate"].to_numpy(float), end)
            ax.step(
                x2, y2, where="post", color=colours[arm], lw=1.2, ls="--", label=f"{labels[arm]}: dropped out first"
            )
    ax.set_xlabel("week")
    ax.set_ylabel("cumulative incidence")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return ax
