"""Responder plots: cumulative proportion of responders (CPRA) and responder rates by visit.

Examples
--------
>>> import pandas as pd
>>> from painstudy.models.responders import CPRAResult
>>> from painstudy.plotting.responders import plot_cpra
>>> t = pd.DataFrame({"arm": pd.Categorical(["a", "a", "b", "b"]), "threshold": [0, 50, 0, 50],
...                   "n": 2, "responders": [2, 1, 2, 0], "proportion": [1, .5, 1, 0]})
>>> ax = plot_cpra(CPRAResult(table=t))
>>> ax.get_ylabel()
'proportion of patients'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from painstudy.errors import ModelError
from painstudy.models.responders import CPRAResult, ResponderAnalysis, ResponderData, ResponderRates, cpra
from painstudy.plotting.style import arm_style, axes

__all__ = ["plot_cpra", "plot_responder_rates"]


def plot_cpra(
    data: CPRAResult | ResponderData,
    *,
    marks: Sequence[float] = (30, 50),
    labels: Mapping[str, str] | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Cumulative proportion of responders per arm.

    For each threshold on the x axis, the proportion of the arm improving by at least that much.

    Parameters
    ----------
    data : CPRAResult, ResponderData or ResponderAnalysis
        A CPRA result, responder data (CPRA at its last visit) or a responder analysis (its CPRA).
    marks : sequence of float, default (30, 50)
        Vertical reference lines (IMMPACT moderate and substantial improvement, in %).
    labels : mapping, optional
        Arm name -> legend label.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(data, ResponderAnalysis):
        data = data.cpra
    res = cpra(data) if isinstance(data, ResponderData) else data
    if not isinstance(res, CPRAResult):
        raise ModelError(f"plot_cpra needs a CPRAResult, ResponderData or ResponderAnalysis, got {type(data).__name__}")
    t = res.table
    cats, labels, colours = arm_style(t, labels)
    ax = axes(ax)
    for arm in cats:
        s = t.loc[t["arm"] == arm]
        if s.empty:
            continue
        n = int(s["n"].iloc[0])
        ax.step(s["threshold"], s["proportion"], where="post", lw=2, color=colours[arm], label=f"{labels[arm]} (n={n})")
    for m in marks:
        ax.axvline(m, color="0.6", lw=0.8, ls=":")
    unit = "%" if res.relative else "points"
    ax.set_xlabel(f"improvement from baseline at least ({unit})")
    ax.set_ylabel("proportion of patients")
    ax.set_ylim(-0.02, 1.02)
    if res.visit:
        ax.set_title(f"Cumulative proportion of responders, {res.visit}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return ax


def plot_responder_rates(
    rates: ResponderRates,
    *,
    labels: Mapping[str, str] | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Responder rate per arm at each visit, with its (Wilson) confidence interval.

    Parameters
    ----------
    rates : ResponderRates or ResponderAnalysis
    labels : mapping, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(rates, ResponderAnalysis):
        rates = rates.rates
    if not isinstance(rates, ResponderRates):
        raise ModelError(
            f"plot_responder_rates needs ResponderRates or a ResponderAnalysis, got {type(rates).__name__}"
        )
    t = rates.table
    cats, labels, colours = arm_style(t, labels)
    ax = axes(ax)
    width = 0.8 / max(1, len(cats))
    visits = list(dict.fromkeys(t["visit"].astype(str)))
    xpos = {v: i for i, v in enumerate(visits)}
    for i, arm in enumerate(cats):
        s = t.loc[t["arm"] == arm]
        if s.empty:
            continue
        x = np.array([xpos[v] for v in s["visit"].astype(str)]) + (i - (len(cats) - 1) / 2) * width
        ax.errorbar(
            x,
            s["rate"],
            yerr=[(s["rate"] - s["ci_lower"]).clip(lower=0), (s["ci_upper"] - s["rate"]).clip(lower=0)],
            fmt="o",
            capsize=3,
            color=colours[arm],
            label=labels[arm],
        )
    ax.set_xticks(range(len(visits)))
    ax.set_xticklabels(visits)
    ax.set_ylabel("responders (proportion)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(frameon=False)
    return ax
