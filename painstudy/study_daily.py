"""Daily measures of a study (``daily:`` of study.yml): diaries and wearables, as :class:`DailyMeasure` specs.

:mod:`painstudy.study` keeps them in :attr:`painstudy.study.StudySpec.daily`; :mod:`painstudy.diary` reads
their files and summarises them per visit window.

Examples
--------
>>> from painstudy.instruments import get_instrument
>>> m = DailyMeasure("pain_diary", get_instrument("nrs"), "diary.csv", day="day", high=7)
>>> m.value, m.min_days, daily_to_dict(m)["window_days"]
('pain_diary', 4, 7)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .instruments import Instrument, get_instrument
from .study_schema import DailyDoc

__all__ = ["DailyMeasure", "daily_from_doc", "daily_to_dict"]


@dataclass(frozen=True)
class DailyMeasure:
    """A measure recorded every day (``daily.NAME`` of study.yml): its instrument, its day-level file and
    columns, and the rules of its visit-window summaries (see :mod:`painstudy.diary`).

    ``day`` names the column of the study day (day 0 is the baseline visit), or ``date`` and ``start`` the
    columns of the calendar date and of the subject's day-0 date; ``days`` is the diary period (first and
    last study day, None: from the visit windows).
    """

    name: str
    instrument: Instrument
    file: str
    label: str = ""
    subject: str = "subject"
    day: str | None = None
    date: str | None = None
    start: str | None = None
    value: str | None = None
    window_days: int = 7
    min_days: int = 4
    high: float | None = None
    days: tuple[int, int] | None = None
    file_format: str | None = None
    sheet: str | None = None
    outside: bool = False

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", self.instrument.label)
        if self.value is None:
            object.__setattr__(self, "value", self.name)


#: fields of ``daily.NAME`` taken as written
_DAILY_AS_WRITTEN = ("label", "subject", "day", "date", "start", "value", "high", "sheet")


def daily_from_doc(name: str, m: DailyDoc) -> DailyMeasure:
    """The :class:`DailyMeasure` of a checked ``daily.NAME`` entry of study.yml."""
    return DailyMeasure(
        name,
        get_instrument(m.instrument),
        m.file,
        window_days=int(m.window_days),
        min_days=int(m.min_days),
        days=(int(m.days[0]), int(m.days[1])) if m.days else None,
        file_format=m.format,
        outside=m.outside_study_folder,
        **{f: getattr(m, f) for f in _DAILY_AS_WRITTEN if getattr(m, f) is not None},
    )


def daily_to_dict(m: DailyMeasure) -> dict:
    """A daily measure as written in study.yml (``daily.NAME``)."""
    d: dict[str, Any] = {"instrument": m.instrument.name, "file": m.file, "subject": m.subject}
    pairs = [("label", m.label if m.label != m.instrument.label else None), ("day", m.day), ("date", m.date)]
    pairs += [("start", m.start), ("value", m.value), ("high", m.high), ("format", m.file_format)]
    pairs += [("sheet", m.sheet), ("days", list(m.days) if m.days else None)]
    d.update({k: v for k, v in pairs if v is not None})
    d.update(window_days=m.window_days, min_days=m.min_days)
    if m.outside:
        d["outside_study_folder"] = True
    return d
