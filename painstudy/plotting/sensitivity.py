"""Figures of the missing-data sensitivity analyses: the tipping-point grid and a forest plot of analyses."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from painstudy.errors import PainstudyError
from painstudy.plotting.style import DOUBLE_COLUMN, PALETTE, axes, steady

__all__ = ["plot_tipping_point", "plot_sensitivity_forest"]


def plot_tipping_point(result, *, ax: plt.Axes | None = None) -> plt.Axes:
    """A :class:`~painstudy.sensitivity.tipping.TippingPointResult`: with one control delta, the estimate and
    its CI over the active arm's deltas (significance lost where the band crosses 0); with a grid of both,
    a heat map of the p-value with the ``alpha`` contour."""
    t = result.table
    if t["delta_control"].nunique() == 1:
        ax = axes(ax, (6.5, 3.8))
        x, lo, hi, est = (steady(t[c]) for c in ("delta_active", "ci_lower", "ci_upper", "estimate"))
        ax.fill_between(x, lo, hi, color=PALETTE[2], alpha=0.35, lw=0)
        ax.plot(x, est, color=PALETTE[4], lw=2, label="estimate (95% CI)")
        ax.axhline(0, color="#999", lw=1)
        if result.tipping_delta is not None:
            ax.axvline(
                result.tipping_delta,
                color=PALETTE[5],
                lw=1,
                ls="--",
                label=f"significance lost: {result.tipping_delta:g}",
            )
        ax.set_xlabel(f"delta added to imputed values of {result.active}")
        ax.set_ylabel(result.term)
        ax.legend(frameon=False, fontsize=8)
    else:
        ax = axes(ax, (6.5, 5))
        grid = t.pivot(index="delta_control", columns="delta_active", values="p_value")
        x, y = grid.columns.to_numpy(float), grid.index.to_numpy(float)
        mesh = ax.pcolormesh(
            x, y, grid.to_numpy(), shading="nearest", cmap="cividis", vmin=0, vmax=max(0.2, result.alpha * 2)
        )
        ax.contour(x, y, grid.to_numpy(), levels=[result.alpha], colors=[PALETTE[5]], linewidths=1.5)
        ax.figure.colorbar(mesh, ax=ax, label="p-value")
        ax.set_xlabel(f"delta added to imputed values of {result.active}")
        ax.set_ylabel(f"delta added to imputed values of {result.control}")
    ax.set_title(f"Tipping point: {result.term} at visit {result.visit} ({result.strategy})", fontsize=9)
    return ax


def plot_sensitivity_forest(rows: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """One row per analysis (columns ``analysis, estimate, ci_lower, ci_upper``, optionally ``legacy``:
    single imputations drawn grey and labelled as such), top to bottom in the table's order."""
    for c in ("analysis", "estimate", "ci_lower", "ci_upper"):
        if c not in rows.columns:
            raise PainstudyError(f"plot_sensitivity_forest: column {c!r} is missing")
    ax = axes(ax, (DOUBLE_COLUMN, 0.42 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    legacy = rows["legacy"].to_numpy(bool) if "legacy" in rows.columns else np.zeros(len(rows), bool)
    est, lo, hi = (steady(rows[c]) for c in ("estimate", "ci_lower", "ci_upper"))
    for yi, e, a, b, old in zip(y, est, lo, hi, legacy):
        colour = "#888888" if old else PALETTE[4]
        ax.plot([a, b], [yi, yi], color=colour, lw=2)
        ax.plot([e], [yi], "s", color=colour, ms=6)
    ax.axvline(0, color="#999", lw=1)
    labels = [
        (f"{a}, for comparison" if "single imputation" in str(a) else f"{a} (single imputation, for comparison)")
        if old
        else str(a)
        for a, old in zip(rows["analysis"], legacy)
    ]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("difference (95% CI)")
    return ax
