"""How close each reproduced number is to the published one, in units of its printed precision.

One row per table of the source (the part of the item before its last ``/``, or before ``:``), one
dot per number: the distance between ours and the published value divided by the tolerance (half a
unit of the last printed digit), on a log scale. A dot left of the line at 1 is a match; a dot right
of it is a documented difference (yellow) or an unexplained one (red). Printed bounds such as
``<.0001`` have no tolerance and are not drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import DOUBLE_COLUMN, PALETTE, axes

__all__ = ["plot_reproduction", "STATUS_COLOURS"]

#: Dot colours of the statuses (Okabe-Ito: bluish green, orange, vermillion).
STATUS_COLOURS = {"match": PALETTE[3], "documented": PALETTE[1], "differs": PALETTE[5]}
_FLOOR = 1e-3  # an exact match is drawn here (a log scale has no 0)


def _group(item: str) -> str:
    if " / " in item:
        return item.rsplit(" / ", 2)[0] if item.count(" / ") >= 2 else item.split(" / ")[0]
    return item.split(":")[0]


def plot_reproduction(table: pd.DataFrame, *, ax=None):
    """Dot plot of ``|reproduced - published| / tolerance`` per item, grouped by the source's tables.

    Parameters
    ----------
    table : DataFrame
        A reproduction's table (``item, published, reproduced, tolerance, status``).
    ax : Axes, optional

    Returns
    -------
    Axes
    """
    t = table.copy()
    published = pd.to_numeric(t["published"].astype(str).str.rstrip("%"), errors="coerce")
    tol = pd.to_numeric(t["tolerance"], errors="coerce")
    t["ratio"] = (pd.to_numeric(t["reproduced"], errors="coerce") - published).abs() / tol
    t = t[np.isfinite(t["ratio"])]
    t["group"] = [_group(str(i)) for i in t["item"]]
    groups = list(dict.fromkeys(t["group"]))
    ax = axes(ax, (DOUBLE_COLUMN, 0.32 * len(groups) + 1.3))
    y = {g: len(groups) - 1 - i for i, g in enumerate(groups)}
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(t))  # fixed: the same figure on every run
    for status, colour in STATUS_COLOURS.items():
        rows = t["status"] == status
        if rows.any():
            ax.scatter(
                np.maximum(t.loc[rows, "ratio"], _FLOOR),
                t.loc[rows, "group"].map(y) + jitter[rows.to_numpy()],
                s=12,
                color=colour,
                label=f"{status} ({int(rows.sum())})",
                alpha=0.8,
                edgecolors="none",
            )
    ax.axvline(1.0, color="#333333", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(list(y.values()), list(y.keys()), fontsize=7)
    ax.set_xlabel("|reproduced - published| / tolerance (half a unit of the last printed digit)", fontsize=8)
    ax.set_title("Published numbers reproduced: distance in units of printed precision", fontsize=9)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    ax.figure.tight_layout()
    return ax
