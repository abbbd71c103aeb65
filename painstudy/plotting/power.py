"""The power curve: simulated power per sample size with its Monte Carlo interval, and the analytic curve."""

from __future__ import annotations

import numpy as np
import pandas as pd

from painstudy.plotting.style import arm_colours, axes

__all__ = ["plot_power_curve"]


def plot_power_curve(table: pd.DataFrame, *, comparison=None, target: float | None = 0.8, ax=None):
    """Power against subjects per arm, one line per comparison (±1.96 Monte Carlo SE), the analytic power
    dashed where the table has it, and the ``target`` power as a horizontal line; returns the Axes.

    ``table``: :attr:`painstudy.power.PowerResult.table` (columns ``n_per_arm, comparison, power, power_se``
    and optionally ``analytic_power``); ``comparison``: one name or a list (default all).
    """
    ax = axes(ax)
    comps = list(dict.fromkeys(table["comparison"]))
    if comparison is not None:
        comps = [comparison] if isinstance(comparison, str) else list(comparison)
    colours = arm_colours(["control", *comps])
    for comp in comps:
        t = table[table["comparison"] == comp].sort_values("n_per_arm")
        x, y = t["n_per_arm"].to_numpy(float), t["power"].to_numpy(float)
        err = 1.96 * t["power_se"].to_numpy(float)
        c = "#666666" if comp == "any arm" else colours[comp]
        ax.errorbar(x, y, yerr=err, marker="o", color=c, capsize=3, label=comp)
        if "analytic_power" in t and np.isfinite(t["analytic_power"].to_numpy(float)).any():
            ax.plot(x, t["analytic_power"].to_numpy(float), ls="--", color=c, lw=1)
    if target is not None:
        ax.axhline(target, color="#888888", lw=0.8, ls=":")
    ax.set_xticks(sorted(set(table["n_per_arm"].astype(int))))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("subjects per arm")
    ax.set_ylabel("power")
    ax.legend(frameon=False, fontsize="small", title="simulated (dashed: analytic)", title_fontsize="small")
    return ax
