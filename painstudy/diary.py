"""Daily diaries and wearables: day-level values loaded, checked and summarised per visit window.

A study declares its daily measures under ``daily:`` of study.yml, each tied to an instrument (a pain NRS,
``sleep_quality``, ``steps`` per day from a wearable, ``rescue_taken`` 0/1) and read from a long file of one
row per subject and day, in any format :func:`painstudy.load_cohort` reads::

    daily:
      pain_diary: {instrument: nrs, file: diary.csv, subject: subject_id, day: study_day, value: pain, high: 7}
      steps: {instrument: steps, file: wearable.parquet, subject: id, date: date, start: randomised, value: steps}

**Study days.** Day 0 is the day of the baseline visit (week 0); the visit of week ``w`` is on day ``7 w``. A
file gives the study day (``day:``) or the calendar date with each subject's day-0 date (``date:`` and
``start:``; the study day is their difference in days). Negative days are a run-in before baseline.

**Loading** (:func:`load_daily`) checks every row at once and raises one
:class:`~painstudy.errors.CohortError` listing each problem with its file, line (or data row), column,
subject, value and rule code: a subject not in the cohort (``daily_subject``), a day that is not a whole
number or a date that cannot be read (``daily_day``), a day outside the diary period (``daily_day_outside``),
two rows for one subject and day (``daily_duplicate_day``), a value that is not a number or lies outside
the instrument's range (``daily_value``). An empty value is a day not reported: kept, and counted.

**Summaries per visit window** (:func:`derive_diary`): for every subject and scheduled visit, the days
``[d - window_days, d - 1]`` before the visit day ``d`` (the visit day itself is not in its window; the
baseline window is the run-in week before day 0). When at least ``min_days`` of them were reported:

- ``mean``: the mean of the reported days (for a 0/1 measure: the proportion of days);
- ``worst`` and ``best``: the worst and best day by the instrument's direction (worst = highest pain, best =
  least pain);
- ``sd``: the standard deviation of the reported days (``n - 1`` denominator);
- ``mssd``: the mean squared successive difference, over pairs of *adjacent calendar days* both reported
  (``mean((x[t+1] - x[t])^2)``; a gap breaks a pair; missing when no pair exists);
- ``high``: the proportion of reported days with a value ``>= high`` (when the measure declares ``high``);
- ``days`` (0/1 measures): the number of days with a 1 (e.g. days with rescue medication).

Windows with fewer days have no summaries and are counted. The compliance table gives the days reported
per subject and diary week (week ``k`` holds days ``7(k-1)`` to ``7k - 1``: the week before the visit of
week ``k``; the run-in week is week 0), and a summary per arm and week.

The summaries become outcomes of the cohort (``{measure}_{summary}``, e.g. ``pain_diary_mean``) through
:meth:`painstudy.cohort.Cohort.with_outcomes`, so that :func:`painstudy.compare_arms`, responder analyses and
time to improvement accept them like the study's own. A model of the daily values themselves (random
intercept and slope per subject, AR(1) residual over days) is :func:`painstudy.models.daily.daily_lmm`.

Examples
--------
>>> import painstudy
>>> from painstudy.simulate_diary import simulate_diary
>>> cohort = painstudy.load_cohort("demo")
>>> sim = simulate_diary(cohort.visits, seed=1, days=(-7, 56))
>>> daily = load_daily(cohort, sim.daily_block(), data=sim.data)
>>> out = derive_diary(cohort, daily, measures=["pain_diary"])
>>> "pain_diary_mean" in out.cohort.outcomes
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import CohortError, PainstudyError, StudySpecError
from .instruments import Instrument
from .io import RawTable, read_raw
from .rendering import Rendered, Tidy
from .study import DailyMeasure, StudySpec
from .study_daily import daily_from_doc
from .study_rules import normalise_code
from .study_schema import DailyDoc, check_study_doc
from .validation import FailureLog

if TYPE_CHECKING:
    from .cohort import Cohort

__all__ = [
    "DailyData",
    "DiaryOutcomes",
    "load_daily",
    "derive_diary",
    "daily_frame",
    "diary_period",
    "is_binary",
    "measure_from_dict",
    "SUMMARIES",
    "VALUE_COLUMNS",
]

#: Columns of :attr:`DailyData.values`.
VALUE_COLUMNS = ["subject", "measure", "day", "value"]
#: The summaries of a visit window, in the order of the tables.
SUMMARIES = ("mean", "worst", "best", "sd", "mssd", "high", "days")


def is_binary(measure: DailyMeasure) -> bool:
    """Whether a measure records 0/1 per day (an instrument from 0 to 1 counted in days, e.g. ``rescue_taken``)."""
    i = measure.instrument
    return (i.min, i.max) == (0, 1) and i.unit == "day"


def diary_period(spec: StudySpec, measure: DailyMeasure) -> tuple[int, int]:
    """The first and last study day of a measure's diary period: its ``days:``, else from the week before the
    first visit window (``7 * low - window_days``) to the end of the last one (``7 * high``)."""
    if measure.days is not None:
        return measure.days
    low, high = spec.visits[0].window[0], spec.visits[-1].window[1]
    return int(math.floor(7 * low)) - measure.window_days, int(math.ceil(7 * high))


# -------------------------------------------------------------------------------------------
# loading
# -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class DailyData(Rendered):
    """Day-level values of a study's daily measures, checked against its cohort (see :func:`load_daily`).

    Attributes
    ----------
    measures : mapping
        Measure name -> :class:`~painstudy.study.DailyMeasure`.
    values : DataFrame
        One row per subject, measure and day in the files (:data:`VALUE_COLUMNS`); ``value`` is NaN where the
        row's value was empty (a day not reported). Subjects are the cohort's identifiers.
    periods : mapping
        Measure -> (first, last) study day of its diary period.
    sources : mapping
        Measure -> the file its values came from.
    counts : DataFrame
        Per measure: rows, subjects, days reported, empty values.
    """

    measures: Mapping[str, DailyMeasure]
    values: pd.DataFrame
    periods: Mapping[str, tuple[int, int]]
    sources: Mapping[str, str]
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)

    def measure(self, name: str) -> DailyMeasure:
        """The measure called ``name`` (an error lists the measures loaded)."""
        if name not in self.measures:
            raise PainstudyError(f"no daily measure {name!r} loaded; measures: {', '.join(self.measures) or 'none'}")
        return self.measures[name]

    def frame(self, measure: str) -> pd.DataFrame:
        """The reported days of one measure: ``subject, day, value`` (days with an empty value left out)."""
        self.measure(measure)
        v = self.values[(self.values["measure"] == measure) & self.values["value"].notna()]
        return v[["subject", "day", "value"]].reset_index(drop=True)

    def tidy(self) -> Tidy:
        facts = (("measures", len(self.measures)), ("subjects", int(self.values["subject"].nunique())))
        notes = tuple(
            f"{r.measure}: {r.empty} row(s) with an empty value, counted as days not reported"
            for r in self.counts.itertuples()
            if r.empty
        )
        return Tidy("Daily measures", facts, (("measures", self.counts),), notes)


def load_daily(
    cohort: Cohort,
    measures: str | Iterable[str] | Mapping[str, DailyMeasure] | None = None,
    *,
    data: pd.DataFrame | str | Path | Mapping[str, pd.DataFrame | str | Path] | None = None,
) -> DailyData:
    """Read and check the day-level files of a study's daily measures.

    Parameters
    ----------
    cohort : Cohort
        The study's cohort: its subjects are the only ones a file may name, and its study.yml declares the
        measures (``daily:``).
    measures : str, list or mapping, optional
        The measures to load (default: every one the study declares), or measure definitions
        (name -> :class:`~painstudy.study.DailyMeasure`, or the mapping written under ``daily.NAME`` in
        study.yml) for a study that declares none.
    data : DataFrame, path or mapping, optional
        Replaces the files of study.yml: one table (or file) for every measure, or measure -> table.

    Returns
    -------
    DailyData

    Raises
    ------
    CohortError
        Every broken row of every file at once (``.failures``, codes ``daily_*``).
    """
    spec = cohort.spec
    if isinstance(measures, Mapping):
        chosen = {k: m if isinstance(m, DailyMeasure) else measure_from_dict(k, m) for k, m in measures.items()}
    else:
        names = [measures] if isinstance(measures, str) else list(measures or spec.daily)
        if not spec.daily and measures is None:
            raise PainstudyError(f"study {spec.name!r} declares no daily measures (daily: in study.yml)")
        unknown = [n for n in names if n not in spec.daily]
        if unknown:
            raise PainstudyError(
                f"study {spec.name!r} has no daily measure {', '.join(map(repr, unknown))}; "
                f"measures: {', '.join(spec.daily) or 'none'}"
            )
        chosen = {n: spec.daily[n] for n in names}
    known = {normalise_code(s): str(s) for s in cohort.subjects["subject"]}
    tables, failures, sources, counts = [], [], {}, []
    raws: dict[str, RawTable] = {}
    for name, m in chosen.items():
        given = data.get(name) if isinstance(data, Mapping) else data
        key = id(given) if given is not None else (m.file, m.file_format, m.sheet)
        if key not in raws:
            raws[key] = _read(spec, m, given)
        raw = raws[key]
        period = diary_period(spec, m)
        log = FailureLog(raw)
        table = _check(raw, m, period, known, log)
        if log:
            failures.append(log.table())
            continue
        sources[name] = raw.label
        tables.append(table.assign(measure=name))
        counts.append(
            {
                "measure": name,
                "instrument": m.instrument.name,
                "file": raw.label,
                "first_day": period[0],
                "last_day": period[1],
                "rows": len(table),
                "subjects": int(table["subject"].nunique()),
                "days_reported": int(table["value"].notna().sum()),
                "empty": int(table["value"].isna().sum()),
            }
        )
    if failures:
        # measures read from one file share its subject and day columns: each problem once
        table = pd.concat(failures, ignore_index=True)
        table = table.drop_duplicates(["code", "file", "line", "row", "column"]).reset_index(drop=True)
        raise CohortError(f"daily measures: {len(table)} problem(s) in the day-level files", table)
    values = pd.concat(tables, ignore_index=True)[VALUE_COLUMNS] if tables else pd.DataFrame(columns=VALUE_COLUMNS)
    order = {s: i for i, s in enumerate(cohort.subjects["subject"].astype(str))}
    values = values.assign(_o=values["subject"].map(order)).sort_values(["measure", "_o", "day"], kind="stable")
    return DailyData(
        chosen,
        values.drop(columns="_o").reset_index(drop=True),
        {n: diary_period(spec, m) for n, m in chosen.items()},
        sources,
        pd.DataFrame(counts),
    )


def measure_from_dict(name: str, doc: Mapping) -> DailyMeasure:
    """A :class:`~painstudy.study.DailyMeasure` from the mapping written under ``daily.NAME`` of study.yml
    (checked by the study.yml schema: a :class:`~painstudy.errors.StudySpecError` names each problem)."""
    problems = check_study_doc({"name": "x", "subject": "s", "arm": "a", "arms": [{"name": "a", "modalities": ["cbt"]}],
                                "visits": [{"name": "v", "week": 0}], "outcomes": {}, "daily": {name: dict(doc)}})  # fmt: skip
    if problems:
        raise StudySpecError(f"daily measure {name!r}: {len(problems)} problem(s)", problems)
    return daily_from_doc(name, DailyDoc.model_validate(dict(doc)))


def _read(spec: StudySpec, m: DailyMeasure, given) -> RawTable:
    if isinstance(given, pd.DataFrame):
        return RawTable.from_frame(given, label=f"<DataFrame of {m.name}>")
    if given is not None:
        return read_raw(given)
    path = spec.study_file(
        m.file, f"daily.{m.name}.file", what=f"the file of daily measure {m.name!r}", allowed=m.outside
    )
    return read_raw(path, m.file_format, sheet=m.sheet)


def _days_from_dates(raw: RawTable, m: DailyMeasure, log: FailureLog, subj: pd.Series) -> pd.Series:
    frame = raw.frame
    date = pd.to_datetime(frame[m.date], errors="coerce", format="ISO8601")
    start = pd.to_datetime(frame[m.start], errors="coerce", format="ISO8601")
    for col, parsed in ((m.date, date), (m.start, start)):
        log.add_mask("daily_day", "not a date (write ISO dates, e.g. 2024-03-01)", parsed.isna(), col, subj)
    starts = pd.DataFrame({"s": subj, "start": start}).dropna()
    many = starts.groupby("s")["start"].nunique()
    for s in many[many > 1].index:
        i = int(np.flatnonzero((subj == s).to_numpy())[0])
        log.add("daily_day", "the subject's day-0 date differs between rows", m.start, i, s, frame[m.start].iloc[i])
    return (date - start).dt.days.astype(float)


def _check(raw: RawTable, m: DailyMeasure, period: tuple[int, int], known: dict, log: FailureLog) -> pd.DataFrame:
    frame = raw.frame
    need = [m.subject, *([m.day] if m.day else [m.date, m.start]), m.value]
    for c in [c for c in need if c not in frame.columns]:
        log.add("daily_columns", f"daily measure {m.name!r} needs a column {c!r} (columns: {list(frame.columns)})", c)
    if log:
        return pd.DataFrame()
    subj_raw = frame[m.subject]
    subject = subj_raw.map(normalise_code).map(known)
    for code, idx in pd.Series(np.arange(len(frame)))[subject.isna().to_numpy()].groupby(
        subj_raw[subject.isna()].map(lambda v: normalise_code(v) or "").to_numpy(), sort=False
    ):
        first = int(idx.iloc[0])
        what = "no subject" if not code else "the subject is not in the cohort"
        log.add(
            "daily_subject", f"{what} ({len(idx)} row(s))", m.subject, first, subj_raw.iloc[first], subj_raw.iloc[first]
        )
    if m.day:
        day = pd.to_numeric(frame[m.day], errors="coerce").astype(float)
        bad = day.isna() | (day != day.round())
        log.add_mask(
            "daily_day", "the study day must be a whole number (day 0: the baseline visit)", bad, m.day, subj_raw
        )
        day_col = m.day
    else:
        day = _days_from_dates(raw, m, log, subj_raw)
        bad = day.isna()
        day_col = m.date
    outside = ~bad & ((day < period[0]) | (day > period[1]))
    log.add_mask(
        "daily_day_outside",
        f"study day {'' if m.day else '(date - start) '}outside the diary period [{period[0]}, {period[1]}]",
        outside,
        day_col,
        subj_raw,
        values=frame[day_col] if m.day else day,
    )
    ok = subject.notna() & ~bad
    keyed = pd.DataFrame({"s": subject, "d": day})[ok]
    dup = keyed.duplicated(keep="first")
    if dup.any():
        first_pos = keyed.reset_index().groupby(["s", "d"])["index"].first()
        for i in keyed.index[dup.to_numpy()]:
            j = int(first_pos[(keyed.at[i, "s"], keyed.at[i, "d"])])
            where = next(iter(raw.where(j).items()))
            log.add("daily_duplicate_day", f"the subject already has day {day.iloc[i]:g} ({where[0]} {where[1]})",
                    day_col, int(i), subj_raw.iloc[i], frame[day_col].iloc[i])  # fmt: skip
    raw_value = frame[m.value]
    value = pd.to_numeric(raw_value, errors="coerce").astype(float)
    empty = raw_value.isna()
    inst = m.instrument
    log.add_mask("daily_value", "not a number", value.isna() & ~empty, m.value, subj_raw)
    if is_binary(m):
        wrong, rule = value.notna() & ~value.isin([0.0, 1.0]), "must be 0 or 1 (taken on the day or not)"
    else:
        wrong = value.notna() & ((value < inst.min) | (value > inst.max) | ~np.isfinite(value))
        rule = f"outside the range of {inst.name} [{inst.min:g}, {inst.max:g}]"
    log.add_mask("daily_value", rule, wrong, m.value, subj_raw)
    if log:
        return pd.DataFrame()
    return pd.DataFrame({"subject": subject.astype(object), "day": day.astype(int), "value": value})


# -------------------------------------------------------------------------------------------
# summaries per visit window
# -------------------------------------------------------------------------------------------


def derived_instrument(m: DailyMeasure, summary: str) -> Instrument:
    """The instrument of a summary of measure ``m`` (its range and direction), for the cohort's outcomes."""
    i, lab = m.instrument, m.label
    if summary in ("mean", "worst", "best"):
        if is_binary(m) and summary == "mean":
            return replace(i, name=f"{m.name}_mean", label=f"Proportion of days: {lab}", unit="proportion")
        return i
    if summary in ("sd", "mssd"):
        what = "SD" if summary == "sd" else "Mean squared successive difference"
        top = (i.max - i.min) ** (1 if summary == "sd" else 2)
        return Instrument(f"{m.name}_{summary}", f"{what} of daily {lab}", 0, top, True, {}, {}, i.unit)
    if summary == "high":
        return Instrument(f"{m.name}_high", f"Proportion of days with {lab} >= {m.high:g}", 0, 1, i.lower_is_better)
    return Instrument(f"{m.name}_days", f"Days with {lab}", 0, m.window_days, True, {}, {}, "days")


def summaries_of(m: DailyMeasure) -> tuple[str, ...]:
    """The summaries derived for a measure: mean and days for a 0/1 measure; else mean, worst, best, sd, mssd,
    and high when the measure declares ``high``."""
    if is_binary(m):
        return ("mean", "days")
    return ("mean", "worst", "best", "sd", "mssd") + (("high",) if m.high is not None else ())


@dataclass(frozen=True, repr=False)
class DiaryOutcomes(Rendered):
    """Daily measures summarised per subject and visit window (see :func:`derive_diary`).

    Attributes
    ----------
    cohort : Cohort
        The cohort with the summaries as outcomes (``{measure}_{summary}``), which every analysis accepts.
    windows : DataFrame
        One row per measure, subject and visit: ``measure, subject, arm, visit, first_day, last_day,
        n_days, enough`` and the summaries (missing where ``n_days < min_days``).
    outcomes : DataFrame
        The table joined to the cohort: ``subject, visit`` and a column per derived outcome.
    compliance : DataFrame
        Days reported per measure, subject and diary week: ``measure, subject, arm, week, first_day,
        last_day, days, days_reported, compliant, in_study``.
    compliance_summary : DataFrame
        Per measure, arm and week: ``subjects, in_study, mean_days, mean_days_in_study, pct_compliant,
        pct_any``.
    """

    cohort: Cohort
    windows: pd.DataFrame
    outcomes: pd.DataFrame
    compliance: pd.DataFrame
    compliance_summary: pd.DataFrame
    rules: tuple[tuple[str, object], ...] = ()
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        w = self.windows
        by_visit = (
            w.groupby(["measure", "arm", "visit"], observed=True, sort=False)
            .agg(subjects=("subject", "size"), enough=("enough", "sum"), mean=("mean", "mean"), sd=("mean", "std"))
            .reset_index()
        )
        tables = (("window means by arm and visit", by_visit), ("compliance by arm and week", self.compliance_summary))
        return Tidy("Diary outcomes per visit window", self.rules, tables, self.notes)


def derive_diary(
    cohort: Cohort,
    daily: DailyData | None = None,
    *,
    measures: str | Iterable[str] | None = None,
    min_days: int | None = None,
    window_days: int | None = None,
    anchor: str = "nominal",
) -> DiaryOutcomes:
    """Summaries of daily measures per subject and visit window, joined to the cohort as outcomes.

    Parameters
    ----------
    cohort : Cohort
        The study's cohort.
    daily : DailyData, optional
        Loaded day-level values (default: :func:`load_daily` of the study's measures).
    measures : str or list, optional
        The measures to summarise (default: every one loaded).
    min_days, window_days : int, optional
        Override every measure's ``min_days`` (fewest reported days for a window's summaries) and
        ``window_days`` (days before the visit).
    anchor : {"nominal", "actual"}
        The visit day: ``7 * week`` of the schedule, or of the subject's actual visit time (``week_actual``,
        rounded to a day; the nominal day where the subject has none).

    Returns
    -------
    DiaryOutcomes
    """
    if anchor not in ("nominal", "actual"):
        raise PainstudyError(f"anchor must be 'nominal' or 'actual', not {anchor!r}", code="invalid_value")
    daily = daily if daily is not None else load_daily(cohort, measures)
    names = list(daily.measures) if measures is None else ([measures] if isinstance(measures, str) else list(measures))
    for n in names:
        daily.measure(n)
    for key, v in (("min_days", min_days), ("window_days", window_days)):
        if v is not None and (isinstance(v, bool) or not float(v).is_integer() or v < 1):
            raise PainstudyError(f"{key} must be a whole number of days >= 1, not {v!r}", code="invalid_value")
    visits = cohort.visits[["subject", "arm", "visit", "week"]].copy()
    visits["subject"] = visits["subject"].astype(str)
    visits["anchor"] = (7 * visits["week"]).round().astype(int)
    if anchor == "actual" and "week_actual" in cohort.visits:
        actual = (7 * pd.to_numeric(cohort.visits["week_actual"], errors="coerce")).round()
        visits["anchor"] = actual.fillna(visits["anchor"]).astype(int).to_numpy()
    last = cohort.subjects.set_index(cohort.subjects["subject"].astype(str))["last_week"]
    wins, comps, wide, insts, labels, notes = [], [], [], {}, {}, []
    rules: list[tuple[str, object]] = [("anchor", anchor)]
    for name in names:
        m = daily.measures[name]
        m = replace(m, min_days=int(min_days or m.min_days), window_days=int(window_days or m.window_days))
        if m.min_days > m.window_days:
            raise PainstudyError(f"{name}: min_days ({m.min_days}) exceeds window_days ({m.window_days})")
        rules.append((name, f"last {m.window_days} days before the visit, >= {m.min_days} reported"))
        w = window_summaries(daily.frame(name), visits, m)
        short = int((~w["enough"] & (w["n_days"] > 0)).sum())
        none = int((w["n_days"] == 0).sum())
        notes.append(
            f"{name}: {int(w['enough'].sum())} of {len(w)} subject-visits with >= {m.min_days} of {m.window_days} "
            f"days; {short} with fewer (summaries missing, counted), {none} with none"
        )
        wins.append(w.assign(measure=name))
        cols = {s: f"{name}_{s}" for s in summaries_of(m)}
        wide.append(w.set_index(["subject", "visit"])[list(cols)].rename(columns=cols))
        for s, col in cols.items():
            insts[col] = derived_instrument(m, s)
            labels[col] = f"{m.label}: {s} of the last {m.window_days} days"
        comps.append(compliance_table(daily.frame(name), cohort, daily.periods[name], m, last).assign(measure=name))
    windows = pd.concat(wins, ignore_index=True)
    windows = windows[["measure"] + [c for c in windows.columns if c != "measure"]]
    outcomes = pd.concat(wide, axis=1).reset_index()
    outcomes["visit"] = outcomes["visit"].astype(str)
    joined = cohort.with_outcomes(outcomes, insts, labels=labels, source="daily measures " + ", ".join(names))
    compliance = pd.concat(comps, ignore_index=True)
    compliance = compliance[["measure"] + [c for c in compliance.columns if c != "measure"]]
    return DiaryOutcomes(
        joined, windows, outcomes, compliance, compliance_summary(compliance), tuple(rules), tuple(notes)
    )


def window_summaries(values: pd.DataFrame, visits: pd.DataFrame, m: DailyMeasure) -> pd.DataFrame:
    """The summaries of every subject-visit window (see the module docstring).

    ``values``: ``subject, day, value`` (reported days); ``visits``: ``subject, arm, visit, anchor`` (the visit
    day). The window of a visit on day ``d`` is ``[d - window_days, d - 1]``.
    """
    v = visits[["subject", "arm", "visit", "anchor"]].copy()
    v["first_day"], v["last_day"] = v["anchor"] - m.window_days, v["anchor"] - 1
    v["key"] = np.arange(len(v))
    j = v[["subject", "key", "first_day", "last_day"]].merge(values, on="subject", how="inner")
    j = j[(j["day"] >= j["first_day"]) & (j["day"] <= j["last_day"])].sort_values(["key", "day"])
    g = j.groupby("key")["value"]
    lower = m.instrument.lower_is_better
    out = pd.DataFrame(
        {
            "n_days": g.size(),
            "mean": g.mean(),
            "worst": g.max() if lower else g.min(),
            "best": g.min() if lower else g.max(),
            "sd": g.std(ddof=1),
        }
    )
    same = (j["key"].to_numpy()[1:] == j["key"].to_numpy()[:-1]) & (np.diff(j["day"].to_numpy()) == 1)
    sq = pd.Series(np.diff(j["value"].to_numpy()) ** 2)[same]
    out["mssd"] = sq.groupby(j["key"].to_numpy()[1:][same]).mean()
    if m.high is not None:
        out["high"] = (j["value"] >= m.high).groupby(j["key"]).mean()
    if is_binary(m):
        out["days"] = (j["value"] == 1).groupby(j["key"]).sum().astype(float)
    res = v.drop(columns="anchor").join(out, on="key").drop(columns="key")
    res["n_days"] = res["n_days"].fillna(0).astype(int)
    res["enough"] = res["n_days"] >= m.min_days
    stats = [s for s in SUMMARIES if s in res.columns]
    res.loc[~res["enough"], stats] = np.nan
    return res[["subject", "arm", "visit", "first_day", "last_day", "n_days", "enough", *stats]].reset_index(drop=True)


def compliance_table(
    values: pd.DataFrame, cohort: Cohort, period: tuple[int, int], m: DailyMeasure, last_week: pd.Series
) -> pd.DataFrame:
    """Days reported per subject and diary week of the period (week ``k``: days ``7(k-1)`` to ``7k - 1``).

    ``days`` is the number of the week's days inside the period; ``compliant``: ``days_reported >=
    min_days`` (for a partial week at an end of the period: every one of its days); ``in_study``: the week starts before the subject's last assessed visit.
    """
    first_week, last_wk = period[0] // 7 + 1, period[1] // 7 + 1
    weeks = np.arange(first_week, last_wk + 1)
    subj = cohort.subjects[["subject", "arm"]].astype({"subject": str})
    grid = subj.merge(pd.DataFrame({"week": weeks}), how="cross")
    grid["first_day"] = np.maximum(7 * (grid["week"] - 1), period[0])
    grid["last_day"] = np.minimum(7 * grid["week"] - 1, period[1])
    grid["days"] = grid["last_day"] - grid["first_day"] + 1
    counts = values.assign(week=values["day"] // 7 + 1).groupby(["subject", "week"]).size().rename("days_reported")
    grid = grid.join(counts, on=["subject", "week"])
    grid["days_reported"] = grid["days_reported"].fillna(0).astype(int)
    grid["compliant"] = grid["days_reported"] >= np.minimum(m.min_days, grid["days"])
    grid["in_study"] = (7 * grid["subject"].map(last_week).fillna(-np.inf).to_numpy()) > grid["first_day"]
    return grid


def compliance_summary(compliance: pd.DataFrame) -> pd.DataFrame:
    """Per measure, arm and week: subjects, those still in the study, mean days reported (all randomised and
    in the study), % compliant and % reporting any day."""
    c = compliance.assign(
        days_in=compliance["days_reported"].where(compliance["in_study"]), any=compliance["days_reported"] > 0
    )
    g = c.groupby(["measure", "arm", "week"], observed=True, sort=True)
    out = g.agg(
        subjects=("subject", "size"),
        in_study=("in_study", "sum"),
        mean_days=("days_reported", "mean"),
        mean_days_in_study=("days_in", "mean"),
        pct_compliant=("compliant", "mean"),
        pct_any=("any", "mean"),
    ).reset_index()
    out[["pct_compliant", "pct_any"]] *= 100
    return out


def daily_frame(
    daily: DailyData,
    cohort: Cohort,
    measure: str,
    *,
    days: tuple[int, int] | None = None,
    covariates: Iterable[str] = (),
) -> pd.DataFrame:
    """The reported days of a measure for a model of daily values (:func:`painstudy.models.daily.daily_lmm`).

    Returns ``subject, arm, day, value`` and the subject-level ``covariates`` of the cohort, for the days
    ``days`` (default: from day 0, randomisation, to the end of the diary period); ``arm`` is a Categorical
    with the study's reference arm first.
    """
    first, last = days if days is not None else (0, daily.periods[daily.measure(measure).name][1])
    v = daily.frame(measure)
    v = v[(v["day"] >= first) & (v["day"] <= last)]
    subj = cohort.subjects.assign(subject=cohort.subjects["subject"].astype(str))
    cols = ["subject", "arm", *covariates]
    unknown = [c for c in cols if c not in subj.columns]
    if unknown:
        raise PainstudyError(f"the cohort has no subject column(s) {', '.join(map(repr, unknown))}")
    out = v.merge(subj[cols], on="subject", how="left")
    ref = cohort.spec.reference_arm.name
    arms = [ref] + [a.name for a in cohort.spec.arms if a.name != ref]
    out["arm"] = pd.Categorical(out["arm"].astype(str), categories=arms)
    return out[["subject", "arm", "day", "value", *covariates]].reset_index(drop=True)
