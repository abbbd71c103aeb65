"""One look for every figure: a colour-blind-safe colour per arm, the same in every plot.

The palette is Okabe and Ito's (2008), distinguishable with the common colour-vision deficiencies
and in greyscale by lightness; yellow comes last (weak on white). Arms take colours in study order
(the control arm first), so an arm has the same colour in the cohort, mixed-model, survival and
responder plots of a study.

Examples
--------
>>> arm_colours(["usual_care", "integrative"])
{'usual_care': '#000000', 'integrative': '#E69F00'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from painstudy.errors import PainstudyError

__all__ = [
    "PALETTE",
    "ROLE_COLOURS",
    "COLUMN_WIDTHS",
    "DOUBLE_COLUMN",
    "arm_colours",
    "arm_labels",
    "arm_style",
    "axes",
]

#: Figure widths of a journal page in inches: one column (85 mm), one and a half (120 mm), two (174 mm),
#: as BMJ, JAMA, Pain and most Elsevier and Springer journals set them. Report figures are drawn at
#: the two-column width (or narrower), so that they print at 100% without rescaling the text.
COLUMN_WIDTHS = {"single": 3.35, "one-and-half": 4.72, "double": 6.85}
DOUBLE_COLUMN = COLUMN_WIDTHS["double"]

#: Okabe-Ito colours: black, orange, sky blue, bluish green, blue, vermillion, reddish purple, yellow.
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442")

#: Colours of the primary and secondary outcomes in forest plots.
ROLE_COLOURS = {"primary": PALETTE[4], "secondary": "#666666"}


def arm_colours(arms: Iterable[str]) -> dict[str, str]:
    """A colour per arm, in the given (study) order; more than eight arms reuse the palette."""
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(arms)}


def arm_labels(labels: Mapping[str, str] | None, arms: Sequence[str]) -> dict[str, str]:
    """Legend label per arm: ``labels[arm]`` when given, else the arm's name.

    Raises
    ------
    PainstudyError
        When ``labels`` names an arm that is not among ``arms`` (a misspelt arm would otherwise be
        silently ignored).
    """
    labels = dict(labels or {})
    unknown = [k for k in labels if k not in arms]
    if unknown:
        raise PainstudyError(f"labels for unknown arm(s) {', '.join(map(repr, unknown))}; arms: {', '.join(arms)}")
    return {a: str(labels.get(a, a)) for a in arms}


def arm_style(
    table: pd.DataFrame, labels: Mapping[str, str] | None
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The arms of a result table (the categories of its ``arm`` column, in study order), their
    legend labels (checked by :func:`arm_labels`) and their colours."""
    arms = [str(c) for c in table["arm"].cat.categories]
    return arms, arm_labels(labels, arms), arm_colours(arms)


def axes(ax: plt.Axes | None, figsize: tuple[float, float] = (DOUBLE_COLUMN, 4.1)) -> plt.Axes:
    """``ax``, or the Axes of a new Figure of ``figsize`` inches."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def arm_errorbars(ax: plt.Axes, x, estimate, lower, upper, *, colour: str, label: str) -> None:
    """One arm's estimates over time with their confidence intervals, in the house style."""
    ax.errorbar(
        x,
        estimate,
        yerr=[estimate - lower, upper - estimate],
        color=colour,
        marker="o",
        ms=4,
        capsize=2,
        lw=1.5,
        label=label,
    )


def steady(values, digits: int = 6) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits for drawing: far below a pixel, and it keeps a
    figure's bytes the same when a result differs in its 13th digit between runs (threaded BLAS sums in
    another order), which would otherwise move the antialiasing of an edge.

    >>> steady([1.23456789e-3, 2.0000000000001, float("nan")]).tolist()
    [0.00123457, 2.0, nan]
    """
    v = np.asarray(values, float)
    out = v.copy()
    ok = np.isfinite(v) & (v != 0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(v[ok]))))
    out[ok] = np.round(v[ok] * scale) / scale
    return out
