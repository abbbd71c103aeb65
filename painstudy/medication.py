"""Opioid dose from medication records: morphine milligram equivalents (MME) per day in each visit window.

Records are read from the file declared under ``medication:`` in study.yml (or given directly): one row per
prescription (a start, by study day or by date, and a supply in days) or per dose reported at a visit, with
the drug, the strength of one dose and its unit, and the doses per day or a quantity dispensed. Each record
is converted to MME per day with the factors of the CDC 2022 guideline (:mod:`painstudy.opioids`: the table,
its version, the methadone, transdermal fentanyl and buprenorphine rules).

**The dose of a visit** is the mean daily MME over the days of the visit's window (``visits[].window`` of
study.yml, in weeks: study days ``round(7 low)`` to ``round(7 high)``, both included; day 0 is the baseline
visit). Concurrent prescriptions add up; days without a prescription count as 0 MME; a prescription counts for
the days it covers inside the window (start to start + days supplied - 1). A record reported *at* a visit is
that visit's daily dose. A subject who was not assessed at a visit (none of the study's own outcomes observed
there) has no dose for it (missing, counted in the notes), since the absence of records then says nothing.

**Bad records are errors, never silent drops**: an unknown drug, a unit that is not the drug's, a missing,
zero or negative dose, an unreadable day or date, a subject not in the cohort: every problem at once in one
:class:`~painstudy.errors.CohortError` naming the file, line (or row), column, subject, value and rule (codes
``medication_*``). Prescriptions outside every visit window are errors too unless the study says
``outside: exclude``; they are then listed in :attr:`MedicationDose.exclusions`. Buprenorphine records are
flagged and, unless included, listed there as well.

Examples
--------
>>> import pandas as pd, painstudy
>>> from painstudy.medication import derive_mme
>>> cohort = painstudy.load_cohort("demo")
>>> records = pd.DataFrame({"subject": ["S0002", "S0002"], "day": [-14, -14], "drug": ["oxycodone", "tramadol"],
...                         "strength": [5, 50], "unit": ["mg", "mg"], "doses_per_day": [2, 1],
...                         "days_supplied": [15, 15]})
>>> dose = derive_mme(cohort, records)
>>> float(dose.table.query("subject == 'S0002' and visit == 'baseline'")["mme"].iloc[0])  # 5*2*1.5 + 50*0.2
25.0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import CohortError
from .io import RawTable, display_path, read_raw
from .opioids import CDC_2022, OPIOIDS, PATCH_DAYS, UnknownDrug, find_opioid, unit_of
from .rendering import Rendered, Tidy
from .study import MedicationSource, StudySpec
from .study_rules import normalise_code
from .validation import FailureLog

if TYPE_CHECKING:  # the cohort layer sits above this one: a cohort is only passed in
    from .cohort import Cohort

__all__ = [
    "MEDICATION_COLUMNS",
    "MedicationDose",
    "visit_days",
    "read_records",
    "dose_by_visit",
    "derive_mme",
    "with_mme",
    "MedicationOutcomes",
    "medication_outcomes",
    "with_medication_outcomes",
]

#: The columns of :attr:`MedicationDose.records`.
MEDICATION_COLUMNS = [
    "subject",
    "drug",
    "opioid",
    "strength",
    "unit",
    "units_per_day",
    "factor",
    "daily_mme",
    "first_day",
    "last_day",
    "visit",
    "buprenorphine",
    "where",
]


@dataclass(frozen=True, repr=False)
class MedicationDose(Rendered):
    """Opioid dose per subject and visit window, derived from medication records.

    Attributes
    ----------
    table : DataFrame
        ``subject, visit, mme, records, buprenorphine``: the mean MME per day over the visit window (missing
        where the subject was not assessed), the records that count for it and whether the subject had
        buprenorphine in the window (flagged; counted in ``mme`` only when included).
    records : DataFrame
        The records as converted (:data:`MEDICATION_COLUMNS`): ``units_per_day`` (doses per day, or quantity /
        days supplied; patches: worn at once), ``daily_mme``, the study days covered (``first_day``,
        ``last_day``; empty for a record at a visit) and ``where`` (file and line or row).
    exclusions : DataFrame
        Records left out of the total, each with its reason: ``code, file, line, row, column, subject, value,
        rule`` (the failure-table columns).
    windows : DataFrame
        ``visit, first_day, last_day, days``: the study days of each visit window.
    source : str
        The records' file.
    include_buprenorphine : bool
    notes : tuple of str
    """

    table: pd.DataFrame
    records: pd.DataFrame
    exclusions: pd.DataFrame
    windows: pd.DataFrame
    source: str = ""
    include_buprenorphine: bool = False
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        users = self.table.assign(user=self.table["mme"] > 0).groupby("visit", sort=False)
        summary = pd.DataFrame(
            {
                "subjects": users["mme"].count(),
                "users": users["user"].sum().astype(int),
                "mean_mme": users["mme"].mean(),
                "buprenorphine": users["buprenorphine"].sum().astype(int),
            }
        ).reset_index()
        return Tidy(
            "Opioid dose from medication records (MME/day per visit window)",
            (
                ("source", self.source),
                ("records", len(self.records)),
                ("excluded", len(self.exclusions)),
                ("buprenorphine", "included" if self.include_buprenorphine else "flagged, not in the total"),
            ),
            (("summary", summary), ("table", self.table), ("exclusions", self.exclusions), ("windows", self.windows)),
            (f"conversion factors: {CDC_2022}", *self.notes),
            (("summary", summary), ("windows", self.windows))
            + ((("exclusions", self.exclusions),) if len(self.exclusions) else ()),
        )


def visit_days(spec: StudySpec) -> pd.DataFrame:
    """The study days of each visit window: ``visit, first_day, last_day, days`` (day 0 the baseline visit)."""
    rows = []
    for v in spec.visits:
        lo, hi = int(round(7 * v.window[0])), int(round(7 * v.window[1]))
        rows.append({"visit": v.name, "first_day": lo, "last_day": hi, "days": hi - lo + 1})
    return pd.DataFrame(rows)


def _numbers(frame: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce")


def _present(frame: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].notna() & (frame[column].astype(str).str.strip() != "")


def _required_columns(src: MedicationSource, frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, why) of every required column the records lack."""
    need = [(src.subject, "subject"), (src.drug, "drug"), (src.strength, "strength"), (src.unit, "unit")]
    if src.visit:
        need.append((src.visit, "visit"))
    elif src.date:
        need += [(src.date, "date"), (src.start or "start", "start (day-0 date)")]
    else:
        need.append((src.day or "day", "day"))
    if not src.visit:
        need.append((src.days_supplied, "days supplied"))
    missing = [(c, why) for c, why in need if c not in frame.columns]
    if src.doses_per_day not in frame.columns and src.quantity not in frame.columns:
        missing.append((src.doses_per_day, f"doses per day (or {src.quantity!r} and {src.days_supplied!r})"))
    return missing


def read_records(
    spec: StudySpec,
    subjects,
    records: str | Path | pd.DataFrame | None = None,
    *,
    source: MedicationSource | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Read and check medication records; every problem at once.

    Parameters
    ----------
    spec : StudySpec
        The study (its visit windows and, unless ``source`` is given, ``medication:``).
    subjects : iterable
        The subject identifiers of the cohort.
    records : path or DataFrame, optional
        The records (default: the file named by ``medication.file`` in study.yml).
    source : MedicationSource, optional
        The column names and options (default: the study's ``medication:``, else the default names).

    Returns
    -------
    (records, exclusions, label)
        The converted records (:data:`MEDICATION_COLUMNS`), the excluded ones (failure-table columns) and the
        file named in messages.

    Raises
    ------
    CohortError
        Listing every bad record (codes ``medication_*``).
    """
    src = source or spec.medication or MedicationSource()
    if records is None:
        if src.file is None:
            raise CohortError(
                f"study {spec.name!r} declares no medication records (`medication:` in study.yml); give the records"
            )
        path = spec.study_file(
            src.file, "medication.file", what="the medication records", allowed=src.outside_study_folder
        )
        raw = read_raw(path, src.file_format, sheet=src.sheet)
    elif isinstance(records, pd.DataFrame):
        raw = RawTable.from_frame(records)
    else:
        raw = read_raw(records, src.file_format, sheet=src.sheet)
    log, frame = FailureLog(raw), raw.frame
    for column, why in _required_columns(src, frame):
        log.add("medication_columns", f"the records need a column {column!r} ({why}); columns: {list(frame.columns)}")
    if log:
        raise CohortError(f"{raw.label}: {len(log)} problem(s) in the medication records", _in_file_order(log))
    n = len(frame)
    known = {normalise_code(s): str(s) for s in subjects}
    subject = frame[src.subject].map(lambda s: known.get(normalise_code(s)) if pd.notna(s) else None)
    shown = frame[src.subject]
    log.add_mask("medication_subject", "the subject is not in the cohort", subject.isna(), src.subject, shown)

    opioid = pd.Series([None] * n, index=frame.index, dtype=object)
    for i, drug in enumerate(frame[src.drug]):
        try:
            opioid.iloc[i] = find_opioid(drug).name if pd.notna(drug) else None
        except UnknownDrug as e:
            log.add("medication_drug", str(e).split(": ", 1)[1], src.drug, i, shown.iloc[i], drug)
            continue
        if opioid.iloc[i] is None:
            log.add("medication_drug", "no drug named", src.drug, i, shown.iloc[i], drug)
    for i, (name, unit) in enumerate(zip(opioid, frame[src.unit], strict=True)):
        if name is not None and unit_of(unit) != OPIOIDS[name].unit:
            o = OPIOIDS[name]
            log.add("medication_unit", f"{o.label} is dosed in {o.unit}", src.unit, i, shown.iloc[i], unit)

    strength = _numbers(frame, src.strength)
    log.add_mask("medication_dose", "the strength must be a positive number", ~(strength > 0), src.strength, shown)
    per_day_given = _present(frame, src.doses_per_day)
    per_day = _numbers(frame, src.doses_per_day)
    bad = per_day_given & ~(per_day > 0)
    log.add_mask("medication_dose", "doses per day must be a positive number", bad, src.doses_per_day, shown)
    supply = _numbers(frame, src.days_supplied)
    quantity = _numbers(frame, src.quantity)
    if not src.visit:
        whole = (supply > 0) & (supply == np.floor(supply))
        log.add_mask(
            "medication_dose", "days supplied must be a positive whole number", ~whole, src.days_supplied, shown
        )
    no_qty = ~per_day_given & ~(quantity > 0)
    if src.visit:  # a dose at a visit: doses per day, or quantity / days supplied
        no_qty |= ~per_day_given & ~(supply > 0)
    rule = f"give doses per day, or a positive quantity ({src.quantity!r}) and days supplied"
    log.add_mask(
        "medication_dose", rule, no_qty, src.quantity if src.quantity in frame.columns else src.doses_per_day, shown
    )

    first, visit = _first_days(spec, src, frame, log, shown)
    exclusions = FailureLog(raw)
    outside = np.zeros(n, dtype=bool)
    if not src.visit:
        win = visit_days(spec)
        lo, hi = int(win["first_day"].min()), int(win["last_day"].max())
        last = first + supply - 1
        outside = ((last < lo) | (first > hi)).to_numpy(dtype=bool)
        target = exclusions if src.outside == "exclude" else log
        for i in np.flatnonzero(outside):
            rule = (
                f"the prescription (study days {first.iloc[i]:g} to {last.iloc[i]:g}) lies outside every visit "
                f"window (days {lo} to {hi})"
            )
            target.add("medication_outside", rule, src.date or src.day, int(i), shown.iloc[i])
    if log:
        raise CohortError(f"{raw.label}: {len(log)} problem(s) in the medication records", _in_file_order(log))

    units = per_day.where(per_day_given, quantity / supply)
    patch_days = opioid.map(lambda o: PATCH_DAYS.get(o, 1.0)).astype(float)
    units = units.where(per_day_given, units * patch_days)  # patches from a quantity: worn at once
    factor = opioid.map(lambda o: OPIOIDS[o].factor).astype(float)
    out = pd.DataFrame(
        {
            "subject": subject.astype(str),
            "drug": frame[src.drug].astype(str),
            "opioid": opioid.astype(str),
            "strength": strength,
            "unit": frame[src.unit].map(unit_of),
            "units_per_day": units,
            "factor": factor,
            "daily_mme": strength * units * factor,
            "first_day": first.astype("Int64"),
            "last_day": (first + supply - 1).astype("Int64") if not src.visit else first.astype("Int64"),
            "visit": visit,
            "buprenorphine": opioid.map(lambda o: OPIOIDS[o].buprenorphine).astype(bool),
            "where": [f"{raw.label} {raw.numbering} {k}" for k in raw.numbers],
        }
    )
    out = out[~outside]
    if not src.include_buprenorphine:
        for i in np.flatnonzero(out["buprenorphine"].to_numpy()):
            position = out.index[i]
            exclusions.add(
                "medication_buprenorphine",
                "buprenorphine: flagged, not counted in the MME total (include_buprenorphine: true counts it)",
                src.drug,
                int(position),
                shown.iloc[position],
                frame[src.drug].iloc[position],
            )
    return out.reset_index(drop=True), exclusions.table(), raw.label


def _in_file_order(log: FailureLog) -> pd.DataFrame:
    return log.table().sort_values(["line", "row"], kind="stable", na_position="first").reset_index(drop=True)


def _first_days(spec: StudySpec, src: MedicationSource, frame: pd.DataFrame, log: FailureLog, shown: pd.Series):
    """The study day each record starts at (and, for records at a visit, the visit), logging bad ones."""
    n = len(frame)
    visit = pd.Series([None] * n, index=frame.index, dtype=object)
    if src.visit:
        names = {normalise_code(c): v.name for v in spec.visits for c in (v.name, *v.codes)}
        visit = frame[src.visit].map(lambda v: names.get(normalise_code(v)) if pd.notna(v) else None)
        rule = f"not a scheduled visit ({', '.join(spec.visit_names)})"
        log.add_mask("medication_time", rule, visit.isna(), src.visit, shown)
        days = visit_days(spec).set_index("visit")["first_day"]
        return visit.map(days).astype(float), visit
    if src.date:
        date = pd.to_datetime(frame[src.date], errors="coerce", format="mixed")
        start = pd.to_datetime(frame[src.start], errors="coerce", format="mixed")
        log.add_mask("medication_time", "the date cannot be read as a date", date.isna(), src.date, shown)
        log.add_mask("medication_time", "the subject's day-0 date cannot be read", start.isna(), src.start, shown)
        return (date - start).dt.days.astype(float), visit
    column = src.day or "day"
    day = _numbers(frame, column)
    log.add_mask("medication_time", "the study day must be a whole number", ~(day == np.floor(day)), column, shown)
    return day, visit


def dose_by_visit(
    records: pd.DataFrame,
    spec: StudySpec,
    subjects,
    *,
    include_buprenorphine: bool = False,
    assessed: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mean MME per day of every subject in every visit window (see the module docstring).

    ``records`` as :func:`read_records` returns them; ``assessed`` (``subject, visit, assessed``) marks the
    visits a subject attended (the others get a missing dose); by default every visit counts.
    Returns ``subject, visit, mme, records, buprenorphine`` in subject order, then visit order.
    """
    win = visit_days(spec)
    subjects = [str(s) for s in subjects]
    grid = pd.DataFrame(
        {"subject": np.repeat(subjects, len(win)), "visit": np.tile(win["visit"].to_numpy(), len(subjects))}
    )
    by_day = records[records["visit"].isna()].merge(win, how="cross", suffixes=("", "_window"))
    lo = np.maximum(by_day["first_day"].astype(float), by_day["first_day_window"].astype(float))
    hi = np.minimum(by_day["last_day"].astype(float), by_day["last_day_window"].astype(float))
    by_day = by_day.assign(overlap=np.clip(hi - lo + 1, 0, None), visit=by_day["visit_window"])
    by_day = by_day[by_day["overlap"] > 0]
    by_day = by_day.assign(mme_days=by_day["daily_mme"] * by_day["overlap"] / by_day["days"])
    at_visit = records[records["visit"].notna()].assign(mme_days=lambda t: t["daily_mme"])
    parts = pd.concat(
        [
            by_day[["subject", "visit", "mme_days", "buprenorphine"]],
            at_visit[["subject", "visit", "mme_days", "buprenorphine"]],
        ]
    )
    parts = parts.astype({"buprenorphine": bool, "mme_days": float})
    kept = parts if include_buprenorphine else parts[~parts["buprenorphine"]]
    total = kept.groupby(["subject", "visit"])["mme_days"].agg(["sum", "size"])
    flag = parts.groupby(["subject", "visit"])["buprenorphine"].any()
    key = pd.MultiIndex.from_frame(grid)
    out = grid.assign(
        mme=total["sum"].reindex(key, fill_value=0.0).to_numpy(float),
        records=total["size"].reindex(key, fill_value=0).to_numpy(int),
        buprenorphine=flag.reindex(key, fill_value=False).to_numpy(bool),
    )
    if assessed is not None:
        a = assessed.assign(subject=assessed["subject"].astype(str), visit=assessed["visit"].astype(str))
        seen = pd.MultiIndex.from_frame(a.loc[a["assessed"], ["subject", "visit"]])
        out.loc[~key.isin(seen), "mme"] = np.nan
    return out


def _assessed(cohort: Cohort) -> pd.DataFrame:
    """Which subject attended which visit: any of the study's own outcomes observed there."""
    own = [o.name for o in cohort.spec.outcomes.values() if not o.derived_from and o.name in cohort.visits]
    v = cohort.visits
    seen = v[own].notna().any(axis=1) if own else pd.Series(True, index=v.index)
    return pd.DataFrame({"subject": v["subject"].astype(str), "visit": v["visit"].astype(str), "assessed": seen})


def derive_mme(
    cohort: Cohort,
    records: str | Path | pd.DataFrame | None = None,
    *,
    include_buprenorphine: bool | None = None,
    outside: str | None = None,
    source: MedicationSource | None = None,
) -> MedicationDose:
    """The opioid dose (MME/day) of every subject in every visit window, from medication records.

    Parameters
    ----------
    cohort : Cohort
    records : path or DataFrame, optional
        The records (default: the file declared under ``medication:`` in the study's study.yml). Columns as
        ``medication:`` names them (default names: subject, day, drug, strength, unit, doses_per_day,
        quantity, days_supplied).
    include_buprenorphine : bool, optional
        Count buprenorphine in the total (default: the study's ``include_buprenorphine``, else False).
    outside : {"error", "exclude"}, optional
        Prescriptions outside every visit window (default: the study's ``outside``, else "error").
    source : MedicationSource, optional
        Column names and options instead of the study's.

    Raises
    ------
    CohortError
        Every bad record (see :func:`read_records`).
    """
    src = source or cohort.spec.medication or MedicationSource()
    changes = {
        k: v for k, v in (("include_buprenorphine", include_buprenorphine), ("outside", outside)) if v is not None
    }
    if changes:
        from dataclasses import replace

        src = replace(src, **changes)
    if src.outside not in ("error", "exclude"):
        raise CohortError(f"outside must be 'error' or 'exclude', not {src.outside!r}")
    subjects = cohort.subjects["subject"].astype(str).tolist()
    table, exclusions, label = read_records(cohort.spec, subjects, records, source=src)
    if records is None or not isinstance(records, pd.DataFrame):  # a file: named as the user sees it
        label = display_path(label, cohort.spec.root)
        if "file" in exclusions:
            exclusions = exclusions.assign(file=label)
    assessed = _assessed(cohort)
    dose = dose_by_visit(
        table, cohort.spec, subjects, include_buprenorphine=src.include_buprenorphine, assessed=assessed
    )
    notes = [
        "mean MME per day over each visit window's days; days without a prescription count as 0",
        "methadone 4.7 MME per mg at every dose (CDC 2022; the older dose-tiered factors are not used); "
        "transdermal fentanyl mcg/h x 2.4",
    ]
    unseen = int(dose["mme"].isna().sum())
    if unseen:
        notes.append(f"{unseen} subject-visit(s) not assessed: no dose derived (missing, not 0)")
    bup = int(table["buprenorphine"].sum())
    if bup:
        notes.append(
            f"{bup} buprenorphine record(s) flagged; "
            + ("counted with the CMS factors" if src.include_buprenorphine else "not counted in the MME total")
        )
    if len(exclusions):
        notes.append(f"{len(exclusions)} record(s) excluded (listed in `exclusions`)")
    return MedicationDose(
        dose,
        table,
        exclusions,
        visit_days(cohort.spec),
        label,
        src.include_buprenorphine,
        tuple(notes),
    )


def with_mme(cohort: Cohort, dose: MedicationDose | None = None, *, name: str | None = None) -> Cohort:
    """The cohort with the dose derived from medication records as an ordinary outcome (instrument ``mme``).

    ``dose`` defaults to :func:`derive_mme` of the study's records; ``name`` to ``medication.outcome`` of
    study.yml (``mme``). Its baseline, change and percent improvement columns are added as for any outcome
    (see :meth:`painstudy.cohort.Cohort.with_outcomes`).
    """
    dose = dose if dose is not None else derive_mme(cohort)
    name = name or (cohort.spec.medication.outcome if cohort.spec.medication else "mme")
    table = dose.table[["subject", "visit", "mme"]].rename(columns={"mme": name})
    return cohort.with_outcomes(
        table,
        {name: "mme"},
        labels={name: "Opioid dose from medication records (MME/day)"},
        source=f"medication records {dose.source}",
    )


# -------------------------------------------------------------------------------------------
# medication-reduction outcomes
# -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class MedicationOutcomes(Rendered):
    """Medication-reduction outcomes of an opioid dose (MME/day) per arm and visit.

    Attributes
    ----------
    by_visit : DataFrame
        ``visit, arm, n, mean_mme, mean_change, mean_reduction, opioid_free, pct_opioid_free, baseline_users,
        zero_baseline, tapered, pct_tapered, mean_pct_change``: ``n`` subjects with a dose at the visit;
        ``opioid_free`` those at 0 MME; ``baseline_users`` those with a baseline dose > 0, among whom
        ``tapered`` reached the taper (dose at most (1 - taper) x baseline) and ``mean_pct_change`` is taken;
        ``zero_baseline`` those with a baseline of 0, for whom the percent change is undefined (their absolute
        reduction, ``mean_reduction`` = baseline - dose, is defined for everyone).
    zero_baseline : DataFrame
        ``arm, subjects, baseline_zero, baseline_user, baseline_missing``: the zero-baseline rule, counted.
    subjects : DataFrame
        ``subject, arm, visit, mme, baseline, change, reduction, pct_change, opioid_free, baseline_user,
        tapered`` for every post-baseline visit with a dose (``pct_change`` and ``tapered`` missing at a
        baseline of 0).
    outcome : str
    taper : float
    notes : tuple of str
    """

    by_visit: pd.DataFrame
    zero_baseline: pd.DataFrame
    subjects: pd.DataFrame
    outcome: str = "mme"
    taper: float = 0.5
    notes: tuple[str, ...] = ()

    def tidy(self) -> Tidy:
        z = self.zero_baseline
        return Tidy(
            f"Medication reduction: {self.outcome} (opioid-free, >= {self.taper:.0%} taper, change)",
            (
                ("outcome", self.outcome),
                ("taper", self.taper),
                ("baseline_zero", int(z["baseline_zero"].sum())),
                ("baseline_users", int(z["baseline_user"].sum())),
            ),
            (("by_visit", self.by_visit), ("zero_baseline", z), ("subjects", self.subjects)),
            self.notes,
            (("by_visit", self.by_visit), ("zero_baseline", z)),
        )


def _subject_outcomes(cohort: Cohort, outcome: str, taper: float, visits=None) -> pd.DataFrame:
    cohort.spec.outcome(outcome)  # the one "unknown outcome" error
    v = cohort.visits
    if visits is not None:
        v = v[v["visit"].astype(str).isin(visits)]
    y, b = v[outcome].astype(float), v[f"{outcome}_baseline"].astype(float)
    user = b > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(user, 100.0 * (y - b) / b, np.nan)
    limit = (1.0 - taper) * b
    tapered = (y <= limit + 1e-9 * np.maximum(1.0, limit)).astype(float).where(user & y.notna())
    return pd.DataFrame(
        {
            "subject": v["subject"].astype(str),
            "arm": v["arm"].astype(str),
            "visit": v["visit"].astype(str),
            "mme": y,
            "baseline": b,
            "change": y - b,
            "reduction": b - y,
            "pct_change": pct,
            "opioid_free": (y == 0).astype(float).where(y.notna()),
            "baseline_user": user.astype(float).where(b.notna()),
            "tapered": tapered,
        }
    ).reset_index(drop=True)


def medication_outcomes(cohort: Cohort, outcome: str = "mme", *, taper: float = 0.5) -> MedicationOutcomes:
    """Change in opioid dose, opioid-free status and the taper among baseline users, per arm and visit.

    The zero-baseline rule is explicit: the percent change is undefined when the baseline dose is 0 (most
    subjects of a chronic-pain trial take no opioid); those subjects are counted (``zero_baseline``) and keep
    their absolute reduction and opioid-free status, and the taper is defined among baseline users only.

    Parameters
    ----------
    cohort : Cohort
    outcome : str
        An opioid-dose outcome in MME/day (e.g. ``mme``, or the one :func:`with_mme` adds).
    taper : float
        The taper's fraction of the baseline dose (0.5: a reduction of at least 50 %).

    Examples
    --------
    >>> import painstudy
    >>> r = medication_outcomes(painstudy.load_cohort("demo"))
    >>> int(r.zero_baseline["baseline_zero"].sum())
    240
    """
    if not 0 < taper <= 1:
        raise CohortError(f"taper must be a fraction in (0, 1], not {taper!r}")
    post = [v.name for v in cohort.spec.post_baseline_visits]
    s = _subject_outcomes(cohort, outcome, taper, post)
    s = s[s["mme"].notna()].reset_index(drop=True)
    order = {a.name: i for i, a in enumerate(cohort.spec.arms)}
    g = s.groupby(["visit", "arm"], sort=False)
    by = pd.DataFrame(
        {
            "n": g["mme"].size(),
            "mean_mme": g["mme"].mean(),
            "mean_change": g["change"].mean(),
            "mean_reduction": g["reduction"].mean(),
            "opioid_free": g["opioid_free"].sum().astype(int),
            "baseline_users": g["baseline_user"].sum().astype(int),
            "zero_baseline": g["baseline_user"].apply(lambda x: int((x == 0).sum())),
            "tapered": g["tapered"].sum().astype(int),
            "mean_pct_change": g["pct_change"].mean(),
        }
    ).reset_index()
    by.insert(by.columns.get_loc("baseline_users"), "pct_opioid_free", 100.0 * by["opioid_free"] / by["n"])
    with np.errstate(divide="ignore", invalid="ignore"):
        by.insert(by.columns.get_loc("mean_pct_change"), "pct_tapered", 100.0 * by["tapered"] / by["baseline_users"])
    vorder = {v: i for i, v in enumerate(post)}
    by = by.sort_values(["visit", "arm"], key=lambda c: c.map(vorder if c.name == "visit" else order)).reset_index(
        drop=True
    )
    subj = cohort.subjects
    base = subj[f"{outcome}_baseline"].astype(float)
    zero = (
        pd.DataFrame({"arm": subj["arm"].astype(str), "b": base})
        .groupby("arm", sort=False)["b"]
        .agg(subjects="size", baseline_zero=lambda x: int((x == 0).sum()), baseline_user=lambda x: int((x > 0).sum()))
        .reset_index()
    )
    zero["baseline_missing"] = zero["subjects"] - zero["baseline_zero"] - zero["baseline_user"]
    zero = zero.sort_values("arm", key=lambda c: c.map(order)).reset_index(drop=True)
    nz, ns = int(zero["baseline_zero"].sum()), int(zero["subjects"].sum())
    notes = (
        f"percent change is undefined at a baseline dose of 0: {nz} of {ns} subjects had no opioid at baseline; "
        "they are counted (zero_baseline), never dropped silently: their opioid-free status and absolute "
        "reduction (baseline - dose) are reported; percent change and the taper are among baseline users only",
        f"taper: a dose at most {1 - taper:.0%} of the baseline dose (a reduction of at least {taper:.0%})",
    )
    return MedicationOutcomes(by, zero, s, outcome, float(taper), notes)


def with_medication_outcomes(cohort: Cohort, outcome: str = "mme", *, taper: float = 0.5) -> Cohort:
    """The cohort with the medication-reduction outcomes as ordinary outcomes (at every visit):

    ``{outcome}_opioid_free`` (1 at 0 MME/day), ``{outcome}_taper{NN}`` (1 when the dose is at most
    (1 - taper) x baseline; baseline users only, missing at a baseline of 0) and ``{outcome}_reduction`` (baseline
    - dose, MME/day; defined at a baseline of 0). Every analysis accepts them (e.g. ``compare_arms`` on the
    reduction, responder rates on the flags).
    """
    from .instruments import Instrument

    s = _subject_outcomes(cohort, outcome, taper)
    pct = int(round(100 * taper))
    names = {
        f"{outcome}_opioid_free": (
            s["opioid_free"],
            Instrument("opioid_free", "Opioid-free (0 MME/day)", 0, 1, False, unit="0/1"),
        ),
        f"{outcome}_taper{pct}": (
            s["tapered"].where(s["visit"] != (cohort.spec.baseline_visit.name if cohort.spec.baseline_visit else None)),
            Instrument("opioid_taper", f"Opioid taper of at least {pct} % (baseline users)", 0, 1, False, unit="0/1"),
        ),
        f"{outcome}_reduction": (
            s["reduction"],
            Instrument(
                "mme_reduction",
                "Reduction of opioid dose from baseline (MME/day)",
                -np.inf,
                np.inf,
                False,
                unit="MME/day",
            ),
        ),
    }
    table = pd.DataFrame({"subject": s["subject"], "visit": s["visit"], **{k: v for k, (v, _) in names.items()}})
    return cohort.with_outcomes(
        table,
        {k: inst for k, (_, inst) in names.items()},
        labels={k: inst.label for k, (_, inst) in names.items()},
        source=f"medication-reduction outcomes of {outcome}",
    )
