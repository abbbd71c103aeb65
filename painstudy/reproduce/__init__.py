"""One-command reproductions of published trials: every published number beside ours.

Each study has a module here holding its published numbers as data and the recomputation as
calls to the public API. :func:`reproduce` runs one and returns a :class:`Reproduction`, whose
``table`` has the columns ``item, published, reproduced, tolerance, status, reason``:

- the tolerance is what the published number's printed precision implies (half a unit of its
  last printed digit);
- ``status`` is ``match`` when ours is within it, ``documented`` when it is not but a written
  reason explains why (e.g. a covariate set the paper does not state), ``differs`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported on use: the command line lists STUDIES without it
    import pandas as pd

from ..errors import PainstudyError

STUDIES = {"vickers2004": "painstudy.reproduce.vickers2004"}


@dataclass(frozen=True)
class Published:
    """A published number: its value as printed (a string keeps the printed precision)."""

    item: str
    printed: str
    reason: str = ""  # why ours may legitimately differ, if it does

    @property
    def value(self) -> float:
        return float(self.printed.rstrip("%"))

    @property
    def tolerance(self) -> float:
        text = self.printed.rstrip("%").lstrip("-")
        decimals = len(text.split(".")[1]) if "." in text else 0
        return 0.5 * 10 ** (-decimals) * (1 + 1e-9)


@dataclass(frozen=True)
class Reproduction:
    """Published against reproduced numbers, with figures and the data file used."""

    study: str
    table: pd.DataFrame
    figures: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    sha256: str = ""
    cohort: Any = field(default=None, repr=False)  # the cohort the numbers were computed from

    @property
    def ok(self) -> bool:
        """True when every item matches or differs for a documented reason."""
        return bool(self.table["status"].isin(["match", "documented"]).all())

    def summary(self) -> pd.Series:
        return self.table["status"].value_counts()

    def styled(self):
        """The table for display: numbers at 4 significant digits, rows that are not a match tinted."""

        def tint(row):
            colour = {"match": "", "documented": "background-color: #fff6d5", "differs": "background-color: #ffd7d7"}
            return [colour.get(row["status"], "")] * len(row)

        return (
            self.table.style.set_uuid(f"reproduction-{self.study}")  # fixed ids: a re-run is byte-identical
            .format({"reproduced": "{:.4g}", "tolerance": "{:.2g}"})
            .apply(tint, axis=1)
            .hide(axis="index")
        )

    def _repr_html_(self) -> str:
        return f"<b>Reproduction of {self.study}</b> ({self.source})" + self.styled().to_html()


def compare(
    published: list[Published], reproduced: Mapping[str, float], scale: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """The comparison table; ``scale`` converts ours to the printed unit (e.g. 100 for percent)."""
    rows = []
    for p in published:
        ours = reproduced.get(p.item, math.nan)
        ours = float(ours) * (scale or {}).get(p.item, 1.0) if ours is not None else math.nan
        diff = abs(ours - p.value) if not math.isnan(ours) else math.inf
        if diff <= p.tolerance:
            status, reason = "match", ""
        elif p.reason:
            status, reason = "documented", p.reason
        else:
            status, reason = "differs", ""
        rows.append(
            {
                "item": p.item,
                "published": p.printed,
                "reproduced": ours,
                "tolerance": p.tolerance,
                "status": status,
                "reason": reason,
            }
        )
    import pandas as pd

    return pd.DataFrame(rows)


def reproduce(study: str, *, data=None) -> Reproduction:
    """Recompute a published study (``vickers2004``) from its raw data (or the file ``data``)."""
    try:
        module = import_module(STUDIES[study])
    except KeyError:
        raise PainstudyError(f"no reproduction for {study!r}; available: {', '.join(STUDIES)}") from None
    run: Callable[..., Reproduction] = module.reproduce
    return run(data=data)
