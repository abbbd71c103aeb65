"""Tipping-point analysis: how much worse must the missing outcomes be for the conclusion to change?

A grid of deltas is added to the values imputed after an event, in the active arm (and optionally, a
second grid, in the control arm), under MAR or a reference-based strategy. The imputation model is fitted
once (one set of draws) and every grid point re-imputes and re-analyses, so a grid of 50 points costs
about as much as one analysis.  The tipping point is the first delta of the active arm's grid, moving
away from 0, at which the comparison at the chosen visit stops being significant at ``alpha``; the
interpolated crossing of ``alpha`` is given beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.rendering import Rendered, Tidy
from painstudy.sensitivity.run import draws

__all__ = ["tipping_point", "tipping_from_draws", "TippingPointResult"]


@dataclass(frozen=True, repr=False)
class TippingPointResult(Rendered):
    """The comparison at one visit over a grid of deltas.

    ``table`` columns: ``delta_active, delta_control, estimate, std_error, ci_lower, ci_upper, p_value,
    significant``; ``tipping_delta`` the first grid delta (control delta 0) at which significance is lost
    (``None`` when it is never lost, or was not significant without a delta); ``crossing`` the delta at
    which the p-value, interpolated linearly between grid points, reaches ``alpha``.
    """

    table: pd.DataFrame
    visit: str
    term: str
    active: str
    control: str
    alpha: float
    strategy: str
    method: str
    tipping_delta: float | None
    crossing: float | None
    notes: tuple = field(default=())

    def tidy(self) -> Tidy:
        tip = "never lost on this grid" if self.tipping_delta is None else f"{self.tipping_delta:g}"
        return Tidy(
            f"Tipping point: {self.term} at visit {self.visit}",
            (
                ("strategy", self.strategy),
                ("method", self.method),
                (
                    "delta added to",
                    f"imputed values of {self.active}"
                    + ("" if self.table["delta_control"].nunique() == 1 else f" and {self.control}"),
                ),
                ("significance (alpha)", self.alpha),
                ("lost at delta", tip),
                ("p crosses alpha at", "-" if self.crossing is None else f"{self.crossing:.3g}"),
            ),
            (("grid", self.table),),
            self.notes,
        )


def tipping_point(
    data: pd.DataFrame,
    formula: str,
    *,
    arm: str,
    reference,
    deltas: Sequence[float],
    control_deltas: Sequence[float] = (0.0,),
    active=None,
    control=None,
    visit=None,
    alpha: float = 0.05,
    strategy: str = "JR",
    **options,
) -> TippingPointResult:
    """Delta-adjusted imputation over a grid (arguments as :func:`painstudy.sensitivity.sensitivity`).

    Parameters
    ----------
    deltas : sequence of float
        Added to the active arm's values imputed after an event (e.g. ``np.arange(0, 10.5, 0.5)``; a
        positive delta makes a higher score: worse for pain).
    control_deltas : sequence of float
        Added to the control arm's imputed values (default: none), for a two-dimensional grid.
    active : optional
        The arm whose imputed values are shifted (default: the one arm other than the control).
    visit : optional
        The visit of the comparison (default: the last).
    alpha : float
        Significance level.
    """
    d = draws(data, formula, arm=arm, reference=reference, control=control, strategy=strategy, **options)
    return tipping_from_draws(d, deltas, control_deltas, active=active, visit=visit, alpha=alpha, strategy=strategy)


def tipping_from_draws(d, deltas, control_deltas=(0.0,), *, active=None, visit=None, alpha=0.05, strategy="JR"):
    """:func:`tipping_point` on draws already made (:func:`painstudy.sensitivity.run.draws`)."""
    deltas = [float(x) for x in deltas]
    control_deltas = [float(x) for x in control_deltas]
    if not deltas:
        raise ModelError("deltas: give at least one value")
    arms = [str(a) for a in pd.unique(d.wide.arm)]
    control = next(t for _, kind, t in d.design.labels if kind == "lsmean")
    others = [a for a in arms if a != control]
    if active is None:
        if len(others) != 1:
            raise ModelError(f"active: name the arm whose imputed values are shifted (one of {others})")
        active = others[0]
    if str(active) not in others:
        raise ModelError(f"active arm {active!r} is not one of the arms compared with {control!r}: {others}")
    visit = str(d.wide.visits[-1]) if visit is None else str(visit)
    if visit not in [str(v) for v in d.wide.visits]:
        raise ModelError(f"visit {visit!r} is not one of the visits {[str(v) for v in d.wide.visits]}")
    term = f"{active} - {control}"
    pick = [i for i, (v, kind, t) in enumerate(d.design.labels) if str(v) == visit and kind == "effect" and t == term]
    after = (np.arange(d.wide.T)[None, :] >= d.wide.ice[:, None]).astype(float)
    is_active = (d.wide.arm.astype(str) == str(active))[:, None]
    is_control = (d.wide.arm.astype(str) == str(control))[:, None]
    rows = []
    for dc in control_deltas:
        for da in deltas:
            D = after * (is_active * da + is_control * dc)
            pooled = d.analyse(D if (da or dc) else None)
            j = pick[0]
            rows.append((da, dc, pooled.estimate[j], pooled.se[j], pooled.lower[j], pooled.upper[j], pooled.p[j]))
    table = pd.DataFrame(
        rows, columns=["delta_active", "delta_control", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    )
    table["significant"] = table["p_value"] < alpha
    tip, crossing, notes = _tipping(table[table["delta_control"] == 0.0], alpha)
    notes += d.notes()
    counts = pd.Series(d.wide.strategy[d.wide.ice < d.wide.T]).value_counts()
    notes.append(f"events by strategy: {', '.join(f'{k} {v}' for k, v in counts.items()) or 'none'}")
    return TippingPointResult(
        table=table,
        visit=visit,
        term=term,
        active=str(active),
        control=str(control),
        alpha=alpha,
        strategy=strategy,
        method=f"{d.method} ({d.inference})",
        tipping_delta=tip,
        crossing=crossing,
        notes=tuple(notes),
    )


def _tipping(line: pd.DataFrame, alpha: float) -> tuple[float | None, float | None, list[str]]:
    """First delta moving away from 0 (each direction, the smaller |delta| wins) where significance is lost."""
    if line.empty or 0.0 not in set(line["delta_active"]):
        return None, None, ["the grid of the active arm has no delta 0, so no tipping point is defined"]
    at0 = line.loc[line["delta_active"] == 0.0, "p_value"].iloc[0]
    if at0 >= alpha:
        return None, None, [f"not significant without a delta (p = {at0:.3g}): nothing to tip"]
    best = None
    for side in (line[line["delta_active"] >= 0], line[line["delta_active"] <= 0].iloc[::-1]):
        side = side.sort_values("delta_active", key=np.abs)
        lost = np.flatnonzero(side["p_value"].to_numpy() >= alpha)
        if len(lost):
            k = lost[0]
            d1, p1 = side["delta_active"].iloc[k], side["p_value"].iloc[k]
            d0, p0 = side["delta_active"].iloc[k - 1], side["p_value"].iloc[k - 1]
            cross = d0 + (alpha - p0) * (d1 - d0) / (p1 - p0) if p1 != p0 else d1
            if best is None or abs(d1) < abs(best[0]):
                best = (float(d1), float(cross))
    if best is None:
        return None, None, ["significance is not lost anywhere on the grid"]
    return best[0], best[1], []
