"""Registry of outcome instruments: range, direction and improvement thresholds.

Each :class:`Instrument` knows its scale limits, whether lower or higher scores are better and
its thresholds of clinically meaningful improvement: *relative* thresholds as fractions of the
baseline score (IMMPACT: 30 % moderate, 50 % substantial for pain) and *absolute* ones in scale
points (minimal clinically important differences). A study may override any of them.

Examples
--------
>>> from painstudy.instruments import get_instrument
>>> nrs = get_instrument("nrs")
>>> nrs.lower_is_better, nrs.relative["moderate"]
(True, 0.3)
>>> float(nrs.improvement(8, 5)), float(nrs.relative_improvement(8, 4))
(3.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from .errors import StudySpecError


@dataclass(frozen=True)
class Instrument:
    """An outcome scale.

    Parameters
    ----------
    name, label : str
        Registry key and a readable name.
    min, max : float
        Allowed range of a score (inclusive); ``max`` may be ``inf`` for open scales.
    lower_is_better : bool
        Direction of benefit: True for pain and disability, False for function and quality of life.
    relative : mapping
        Named thresholds as a fraction of the baseline score (e.g. ``{"moderate": 0.30}``).
    absolute : mapping
        Named thresholds in scale points (e.g. ``{"mcid": 2.0}``).
    """

    name: str
    label: str
    min: float
    max: float
    lower_is_better: bool
    relative: Mapping[str, float] = field(default_factory=dict)
    absolute: Mapping[str, float] = field(default_factory=dict)
    unit: str = "points"

    def __post_init__(self):
        object.__setattr__(self, "relative", MappingProxyType(dict(self.relative)))
        object.__setattr__(self, "absolute", MappingProxyType(dict(self.absolute)))

    @property
    def direction(self) -> str:
        """``"lower"`` or ``"higher"``: which way is better."""
        return "lower" if self.lower_is_better else "higher"

    def improvement(self, baseline, value):
        """Direction-aware change from baseline: positive means the patient got better."""
        diff = np.asarray(value, dtype=float) - np.asarray(baseline, dtype=float)
        return -diff if self.lower_is_better else diff

    def relative_improvement(self, baseline, value):
        """Improvement as a fraction of the baseline level (the percent change, direction-aware).

        ``improvement / (baseline - min)``: for scales starting at 0 this is the usual percent
        change from baseline, with the sign turned so that positive means better (a fall for
        pain, a rise for SF-36). Open scales use ``|baseline|``. NaN where the baseline sits on
        the floor of the scale (no percent change is defined).
        """
        baseline = np.asarray(baseline, dtype=float)
        level = (baseline - self.min) if np.isfinite(self.min) else np.abs(baseline)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.improvement(baseline, value) / level
        return np.where(level > 0, out, np.nan)

    def threshold(self, threshold: str | float, relative: bool = True) -> float:
        """Resolve a named threshold (``"moderate"``, ``"substantial"``, ``"mcid"``) or a number."""
        if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
            return float(threshold)
        table = self.relative if relative else self.absolute
        if threshold not in table:
            kind = "relative" if relative else "absolute"
            raise StudySpecError(
                f"instrument {self.name!r} has no {kind} threshold {threshold!r}; known: {sorted(table) or 'none'}"
            )
        return float(table[threshold])

    def responder_definitions(self, requested=("moderate", "substantial")) -> list[tuple[str, float, bool]]:
        """(name, threshold, relative) for each requested threshold this instrument defines.

        Names found among the relative thresholds are used as such; numbers are taken as relative
        fractions. When none of the requested names exists (e.g. PROMIS T-scores, which have no
        percent thresholds), the instrument's absolute thresholds (MCIDs) are used instead.

        >>> get_instrument("promis_pf").responder_definitions(["moderate"])
        [('mcid', 5.0, False)]
        """
        out = []
        for r in requested:
            if isinstance(r, (int, float)) and not isinstance(r, bool):
                out.append((f"{100 * r:g}%", float(r), True))
            elif r in self.relative:
                out.append((str(r), float(self.relative[r]), True))
            elif r in self.absolute:
                out.append((str(r), float(self.absolute[r]), False))
        if not out:
            out = [(k, float(v), False) for k, v in self.absolute.items()]
        return out

    def with_overrides(self, **changes) -> Instrument:
        """A copy with some fields replaced (thresholds are merged, not replaced)."""
        rel = dict(self.relative) | dict(changes.pop("relative", {}) or {})
        ab = dict(self.absolute) | dict(changes.pop("absolute", {}) or {})
        return replace(self, relative=rel, absolute=ab, **changes)

    def _repr_html_(self) -> str:
        return (
            f"<b>{self.label}</b> ({self.name}): {self.min:g} to {self.max:g}, "
            f"{self.direction} is better; relative {dict(self.relative)}, absolute {dict(self.absolute)}"
        )


_IMMPACT = {"moderate": 0.30, "substantial": 0.50}

_REGISTRY: dict[str, Instrument] = {
    i.name: i
    for i in [
        Instrument("nrs", "Pain numeric rating scale (0-10)", 0, 10, True, _IMMPACT, {"mcid": 2.0}),
        Instrument("vas_cm", "Pain visual analogue scale (0-10 cm)", 0, 10, True, _IMMPACT, {"mcid": 2.0}, "cm"),
        Instrument("vas_unit", "Pain visual analogue scale (0-1)", 0, 1, True, _IMMPACT, {"mcid": 0.2}),
        Instrument("vas_mm", "Pain visual analogue scale (0-100 mm)", 0, 100, True, _IMMPACT, {"mcid": 20.0}, "mm"),
        Instrument("bpi_severity", "Brief Pain Inventory, severity (0-10)", 0, 10, True, _IMMPACT, {"mcid": 2.0}),
        Instrument(
            "bpi_interference", "Brief Pain Inventory, interference (0-10)", 0, 10, True, _IMMPACT, {"mcid": 1.0}
        ),
        Instrument("odi", "Oswestry Disability Index (0-100)", 0, 100, True, _IMMPACT, {"mcid": 10.0}),
        Instrument("rmdq", "Roland-Morris Disability Questionnaire (0-24)", 0, 24, True, _IMMPACT, {"mcid": 5.0}),
        Instrument("promis_pf", "PROMIS physical function (T-score)", 10, 90, False, {}, {"mcid": 5.0}, "T-score"),
        Instrument("promis_pi", "PROMIS pain interference (T-score)", 10, 90, True, {}, {"mcid": 5.0}, "T-score"),
        Instrument("sf36", "SF-36 scale (0-100)", 0, 100, False, {}, {"mcid": 5.0}),
        Instrument("pgic", "Patient Global Impression of Change (1-7)", 1, 7, True, {}, {"much_improved": 2.0}),
        Instrument(
            "headache_score",
            "Weekly headache diary score (Vickers 2004)",
            0,
            140,
            True,
            {"moderate": 0.30, "response": 0.35, "substantial": 0.50},
            {},
        ),
        Instrument(
            "headache_days",
            "Days with headache in 28 days",
            0,
            28,
            True,
            {"moderate": 0.30, "substantial": 0.50},
            {},
            "days",
        ),
        Instrument(
            "mme",
            "Opioid dose (morphine milligram equivalents per day)",
            0,
            float("inf"),
            True,
            {"moderate": 0.30, "substantial": 0.50},
            {},
            "MME/day",
        ),
        Instrument("mqs", "Medication quantification scale", 0, float("inf"), True, {}, {}),
        # daily measures (painstudy.diary): a sleep-quality NRS (0 worst, 10 best sleep), steps per day from a
        # wearable (the ceiling declares the highest plausible day), rescue medication taken on the day (0/1)
        Instrument("sleep_quality", "Sleep quality NRS (0 worst - 10 best)", 0, 10, False, {}, {"mcid": 1.0}),
        Instrument("steps", "Steps per day (wearable)", 0, 100000, False, {}, {"mcid": 1000.0}, "steps/day"),
        Instrument("rescue_taken", "Rescue medication taken on the day (0/1)", 0, 1, True, {}, {}, "day"),
        Instrument("fev1", "Forced expiratory volume in 1 s (mmrm benchmark)", 0, float("inf"), False, {}, {}),
        Instrument("score", "Generic score (no range)", -float("inf"), float("inf"), False, {}, {}),
        Instrument(
            "score_lower", "Generic score, lower is better (no range)", -float("inf"), float("inf"), True, {}, {}
        ),
    ]
}


def get_instrument(name: str) -> Instrument:
    """Look up an instrument by its registry name (see :func:`list_instruments`)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise StudySpecError(
            f"unknown instrument {name!r}; known instruments: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_instruments():
    """The registry as a DataFrame (one row per instrument)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "name": i.name,
                "label": i.label,
                "min": i.min,
                "max": i.max,
                "better": i.direction,
                "relative": dict(i.relative),
                "absolute": dict(i.absolute),
            }
            for i in _REGISTRY.values()
        ]
    ).set_index("name")
