"""Loading a study's data into a :class:`Cohort`: read, validate, build the canonical tables.

``load_cohort`` reads the raw file named by the study definition (or the one given), checks
every rule of :mod:`painstudy.validation` at once (each failure names the file, the line (text
files, as in an editor) or data row (binary formats), the column, the subject, the value and
the rule with its code) and returns canonical tables:

- ``Cohort.subjects``: one row per randomised subject (``subject, arm, arm_class, site,
  condition``, covariates, subject-level outcomes such as resource use over follow-up,
  ``{outcome}_baseline``, disposition columns);
- ``Cohort.visits``: one row per subject x scheduled visit (``subject, arm, arm_class, site,
  condition, visit, week``, each outcome, and derived change scores).

Anything set aside by a declared rule is counted in ``Cohort.exclusions``; nothing is dropped
silently. A Cohort renders in a notebook as its study, arms with n, visits, outcomes and
validation status.

Examples
--------
>>> import painstudy
>>> cohort = painstudy.load_cohort("demo")
>>> list(cohort.visits.columns[:7])
['subject', 'arm', 'arm_class', 'site', 'condition', 'visit', 'week']
>>> cohort.subjects["arm_class"].value_counts(sort=False).to_dict()
{'control': 100, 'single-modality': 200, 'integrative': 100}
>>> repr(cohort)
'<Cohort: Cohort demo: Simulated integrative pain-management trial; subjects 400; arms 4; visits 6; outcomes 3; validation valid: every rule holds; completed 317>'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import FAILURE_COLUMNS, CohortError, DataFileError, PainstudyError
from .events import no_events, subject_events
from .io import RawTable, display_path, file_format, read_raw, sha256_file
from .outcomes import add_change_scores
from .rendering import Rendered, Tidy
from .schemas import check_cohort_tables
from .study import ARM_CLASSES, StudySpec, read_study
from .validation import CheckedData, check_data, required_columns

__all__ = ["Cohort", "load_cohort", "validate", "resolve_study", "required_columns", "build_cohort"]


# -------------------------------------------------------------------------------------------
# the Cohort
# -------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Cohort(Rendered):
    """A validated study cohort (immutable). Build it with :func:`load_cohort`.

    ``notes`` holds facts noticed while reading the file (lines skipped because every field was
    empty, a missing final line break, a non-UTF-8 encoding).
    """

    spec: StudySpec
    subjects: pd.DataFrame
    visits: pd.DataFrame
    exclusions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["rule", "n", "detail"]))
    source: str = ""
    sha256: str = ""
    notes: tuple[str, ...] = ()
    #: intercurrent events: one row per subject and event (``subject, event, visit, source``; see
    #: :mod:`painstudy.events`)
    events: pd.DataFrame = field(default_factory=no_events)

    # -- views --------------------------------------------------------------------------------
    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def outcomes(self) -> list[str]:
        return list(self.spec.outcomes)

    def instrument(self, outcome: str):
        """The instrument of an outcome of this study."""
        return self.spec.outcome(outcome).instrument

    def analysis_data(
        self, outcome: str | None = None, *, post_baseline: bool = True, covariates: bool = True
    ) -> pd.DataFrame:
        """Long data for models: visits joined with subject covariates.

        With ``outcome``, rows where that outcome is missing are left out (models need observed
        values; the count is what ``Cohort.visits`` minus this table holds).
        """
        v = self.visits
        if post_baseline and self.spec.baseline_visit is not None:
            v = v[v["visit"] != self.spec.baseline_visit.name]
            v = v.assign(visit=v["visit"].cat.remove_unused_categories())
        if covariates and self.spec.covariates:
            cols = ["subject"] + [c.name for c in self.spec.covariates]
            v = v.merge(self.subjects[cols], on="subject", how="left")
        if outcome is not None:
            self.instrument(outcome)
            v = v[v[outcome].notna()]
        return v.reset_index(drop=True)

    def subset(self, subjects: Iterable[str] | pd.Series, reason: str = "subset") -> Cohort:
        """A cohort restricted to some subjects (e.g. completers); the exclusion is recorded."""
        keep = set(pd.Series(list(subjects), dtype=object).astype(str))
        subj = self.subjects[self.subjects["subject"].isin(keep)].reset_index(drop=True)
        vis = self.visits[self.visits["subject"].isin(keep)].reset_index(drop=True)
        dropped = len(self.subjects) - len(subj)
        exc = pd.concat(
            [
                self.exclusions,
                pd.DataFrame([{"rule": reason, "n": dropped, "detail": f"{dropped} subjects outside the {reason}"}]),
            ],
            ignore_index=True,
        )
        ev = self.events[self.events["subject"].isin(keep)].reset_index(drop=True)
        return replace(self, subjects=subj, visits=vis, exclusions=exc, events=ev)

    def with_outcomes(
        self,
        table: pd.DataFrame,
        instruments: Mapping[str, Any],
        *,
        labels: Mapping[str, str] | None = None,
        source: str = "derived data",
    ) -> Cohort:
        """The cohort with outcomes derived elsewhere (diary summaries per visit window, opioid dose from
        medication records), which every analysis then accepts like the study's own.

        Parameters
        ----------
        table : DataFrame
            ``subject``, ``visit`` and one column per new outcome; one row per subject and visit at
            most. Subject-visits it does not hold are missing.
        instruments : mapping
            Outcome name -> :class:`~painstudy.instruments.Instrument` (or the name of a registered one).
        labels : mapping, optional
            Outcome name -> label.
        source : str
            What the values came from (named in errors).

        Raises
        ------
        CohortError
            A name already used, a subject or visit the cohort does not have, a duplicate subject-visit,
            or a value outside the instrument's range (each named, with the first rows concerned).
        """
        from .instruments import Instrument, get_instrument
        from .outcomes import change_columns
        from .study import OutcomeSpec

        names = list(instruments)
        insts = {n: i if isinstance(i, Instrument) else get_instrument(i) for n, i in instruments.items()}
        missing = [c for c in ["subject", "visit", *names] if c not in table.columns]
        if missing:
            raise CohortError(f"{source}: missing column(s) {', '.join(missing)}")
        taken = [n for n in names if n in self.spec.outcomes or n in self.visits.columns or n in self.subjects.columns]
        if taken:
            raise CohortError(f"{source}: outcome name(s) {', '.join(map(repr, taken))} already used by the cohort")
        t = table[["subject", "visit", *names]].copy()
        t["subject"], t["visit"] = t["subject"].astype(str), t["visit"].astype(str)
        problems = []
        unknown = sorted(set(t["subject"]) - set(self.subjects["subject"].astype(str)))
        if unknown:
            problems.append(f"{len(unknown)} subject(s) not in the cohort (first: {unknown[0]!r})")
        bad_visits = sorted(set(t["visit"]) - set(self.spec.visit_names))
        if bad_visits:
            problems.append(f"visit(s) not in the schedule: {', '.join(map(repr, bad_visits[:5]))}")
        dup = t[t.duplicated(["subject", "visit"], keep=False)]
        if len(dup):
            r = dup.iloc[0]
            problems.append(
                f"{len(dup)} rows repeat a subject and visit (first: subject {r['subject']!r}, {r['visit']})"
            )
        for n, inst in insts.items():
            v = pd.to_numeric(t[n], errors="coerce")
            out = t[(v < inst.min) | (v > inst.max)]
            if len(out):
                r = out.iloc[0]
                problems.append(
                    f"{n}: {len(out)} value(s) outside [{inst.min:g}, {inst.max:g}] (first: subject {r['subject']!r}, "
                    f"{r['visit']}, {r[n]})"
                )
        if problems:
            raise CohortError(f"{source}: " + "; ".join(problems))
        for n in names:
            t[n] = pd.to_numeric(t[n], errors="coerce").astype(float)
        visits = self.visits.copy()
        keyed = visits[["subject", "visit"]].astype({"visit": str, "subject": str})
        visits[names] = keyed.merge(t, on=["subject", "visit"], how="left")[names].to_numpy()
        subjects = self.subjects.copy()
        base = self.spec.baseline_visit
        for n in names:
            if base is not None:
                bl = visits.loc[visits["visit"] == base.name].set_index("subject")[n]
                subjects[f"{n}_baseline"] = subjects["subject"].map(bl).astype(float)
            else:
                subjects[f"{n}_baseline"] = float("nan")
            b = visits["subject"].map(subjects.set_index("subject")[f"{n}_baseline"])
            visits[f"{n}_baseline"] = b.to_numpy()
            for col, values in change_columns(n, insts[n], b, visits[n]).items():
                visits[col] = values
        added = {n: OutcomeSpec(n, insts[n], (labels or {}).get(n, ""), derived_from=source) for n in names}
        spec = replace(self.spec, outcomes={**self.spec.outcomes, **added})
        return replace(self, spec=spec, subjects=subjects, visits=visits)

    def completers(self) -> Cohort:
        """The subjects assessed at the last scheduled visit."""
        return self.subset(self.subjects.loc[self.subjects["completer"], "subject"], reason="completers")

    # -- description --------------------------------------------------------------------------
    def table1(
        self, *, by: str = "arm", total: bool = True, tidy: bool = False, smd: bool = True, pvalues: bool = False
    ):
        """Baseline characteristics by arm, with standardised mean differences (see
        :func:`painstudy.tables.table1`)."""
        from .tables import table1

        return table1(self, by=by, total=total, tidy=tidy, smd=smd, pvalues=pvalues)

    def disposition(self):
        """CONSORT flow numbers per arm (see :func:`painstudy.tables.disposition`)."""
        from .tables import disposition

        return disposition(self)

    def tidy(self) -> Tidy:
        """Study, arms with n, visits, outcomes and validation status (every rendering derives from it)."""
        s, subj, vis = self.spec, self.subjects, self.visits
        names = list(s.outcomes)
        assessed = vis[names].notna().any(axis=1) if names else pd.Series(False, index=vis.index)
        arms = pd.DataFrame(
            [
                {
                    "arm": a.name,
                    "label": a.label,
                    "class": a.arm_class,
                    "modalities": ", ".join(a.modalities),
                    "n": int((subj["arm"] == a.name).sum()),
                    "completed": int(((subj["arm"] == a.name) & subj["completer"]).sum()),
                    "withdrawn": int(((subj["arm"] == a.name) & subj["withdrawn"]).sum()),
                }
                for a in s.arms
            ]
        )
        visits = pd.DataFrame(
            [
                {
                    "visit": v.name,
                    "week": v.week,
                    "window": f"[{v.window[0]:g}, {v.window[1]:g}]",
                    "baseline": "yes" if v.baseline else "",
                    "assessed": int(vis.loc[(vis["visit"] == v.name) & assessed, "subject"].nunique()),
                }
                for v in s.visits
            ]
        )
        outcomes = pd.DataFrame(
            [
                {
                    "outcome": o.name,
                    "label": o.label,
                    "instrument": o.instrument.name,
                    "range": f"[{o.instrument.min:g}, {o.instrument.max:g}]",
                    "better": o.instrument.direction,
                    "observed": int(vis[o.name].notna().sum()),
                }
                for o in s.outcomes.values()
            ]
        )
        facts = (
            ("subjects", len(subj)),
            ("arms", len(s.arms)),
            ("visits", len(s.visits)),
            ("outcomes", len(names)),
            ("validation", "valid: every rule holds"),
            ("completed", int(subj["completer"].sum())),
            ("source", self.source if self.source.startswith("<") else display_path(self.source, s.root)),
            ("SHA-256", self.sha256[:16]),
        )
        tables = [("arms", arms), ("visits", visits), ("outcomes", outcomes)]
        if len(self.events):
            ev = self.events.assign(visit=pd.Categorical(self.events["visit"], categories=s.visit_names))
            counts = ev.groupby(["event", "visit"], observed=True, sort=True).size().rename("subjects").reset_index()
            tables.append(("intercurrent events (first affected visit)", counts))
        exc = self.exclusions[self.exclusions["n"].astype(float) > 0] if len(self.exclusions) else self.exclusions
        if len(exc):
            tables.append(("exclusions (kept in the counts, never dropped silently)", exc.reset_index(drop=True)))
        return Tidy(f"Cohort {s.name}: {s.title}", facts, tuple(tables), tuple(self.notes))


# -------------------------------------------------------------------------------------------
# loading
# -------------------------------------------------------------------------------------------

_DATA_SUFFIXES = (
    ".csv",
    ".tsv",
    ".txt",
    ".gz",
    ".parquet",
    ".pq",
    ".xlsx",
    ".xls",
    ".sas7bdat",
    ".xpt",
    ".dta",
    ".sav",
    ".zsav",
)


def resolve_study(study: str | Path | StudySpec) -> StudySpec:
    """A StudySpec from a spec, a path to a study.yml (or its folder) or a registered study name."""
    if isinstance(study, StudySpec):
        return study
    p = Path(study)
    if p.suffix in (".yml", ".yaml") or p.exists():
        if p.is_dir():
            p = p / "study.yml"
        elif p.suffix.lower() in _DATA_SUFFIXES:
            from .errors import StudySpecError

            raise StudySpecError(
                f"{p}: this is a data file, not a study definition: give the study (a study.yml, "
                "its folder or a registered name) and the file with --data (data=...)",
                code="file_not_found",
            )
        return read_study(p)
    from .datasets import study_path

    return read_study(study_path(str(study)))


def read_data(spec: StudySpec, data: str | Path | pd.DataFrame | None = None) -> tuple[RawTable, str]:
    """The raw table of a study (its own data file, or ``data``) and its SHA-256 (empty for a frame)."""
    if isinstance(data, pd.DataFrame):
        return RawTable.from_frame(data), ""
    fmt = sheet = None
    if data is None:
        data = spec.data_file()
        if data is None:
            raise PainstudyError(
                f"study {spec.name!r} names no data file; pass data=... (--data FILE)", code="file_not_found"
            )
        if data.startswith("registry:"):
            from .datasets import fetch

            data = fetch(data.split(":", 1)[1])
        fmt, sheet = spec.file_format, spec.sheet
    elif spec.sheet is not None and file_format(data) == "excel":
        sheet = spec.sheet  # another workbook given for the study's own: the study's sheet
    path = Path(data)
    raw = read_raw(path, fmt, sheet=sheet)
    try:
        sha = sha256_file(path)
    except OSError as e:  # pragma: no cover - the file was just read
        raise DataFileError(f"{path}: cannot read the file ({e.strerror})", code="unreadable_file") from None
    return raw, sha


def validate(study, *, data=None) -> pd.DataFrame:
    """Check a study's data against every rule; return the table of failures (empty if valid).

    Raises only for problems that stop reading altogether (unknown study, unreadable file).
    """
    spec = resolve_study(study)
    raw, _ = read_data(spec, data)
    try:
        build_cohort(spec, check_data(spec, raw))
    except CohortError as e:
        return e.failures
    return pd.DataFrame(columns=FAILURE_COLUMNS)


def load_cohort(study: str | Path | StudySpec, *, data: str | Path | pd.DataFrame | None = None) -> Cohort:
    """Load, validate and canonicalise a study's data.

    Parameters
    ----------
    study : str, Path or StudySpec
        A registered study name (``"demo"``, ``"vickers2004"``, ...), a path to a study.yml
        (or the folder holding it), or a :class:`~painstudy.study.StudySpec`.
    data : str, Path or DataFrame, optional
        Replaces the data file named in the study definition.

    Returns
    -------
    Cohort

    Raises
    ------
    CohortError
        Listing every rule broken, one row per problem, in ``.failures`` (with a ``code`` column).
    DataFileError, StudySpecError, DatasetError
        When the file or the study definition cannot be read at all.
    """
    spec = resolve_study(study)
    raw, sha = read_data(spec, data)
    return build_cohort(spec, check_data(spec, raw), sha)


def build_cohort(spec: StudySpec, checked: CheckedData, sha: str = "") -> Cohort:
    """The canonical tables of checked data (see the module docstring)."""
    subj, arm, subj_vars = checked.subject, checked.arm, checked.variables
    exclusions = list(checked.exclusions)
    outcome_names = list(spec.outcomes)
    base = spec.baseline_visit
    long = checked.long
    long = long[long["subject"].notna() & long["visit"].notna()].copy()

    first = subj.dropna().drop_duplicates().index
    subjects = pd.DataFrame({"subject": subj.loc[first].to_numpy()})
    arm_by_subject = pd.Series(arm.loc[first].to_numpy(), index=subjects["subject"])
    arm_names = [a.name for a in spec.arms]
    subjects["arm"] = pd.Categorical(arm_by_subject.to_numpy(), categories=arm_names)
    cls = {a.name: a.arm_class for a in spec.arms}
    subjects["arm_class"] = pd.Categorical(subjects["arm"].astype(str).map(cls), categories=list(ARM_CLASSES))
    for key in ("site", "condition"):
        var = getattr(spec, key)
        if var is None:
            subjects[key] = pd.NA
        else:
            vals = pd.DataFrame({"s": subj, "v": subj_vars[key]}).dropna().groupby("s", sort=False)["v"].first()
            subjects[key] = subjects["subject"].map(vals)
    for var in (*spec.covariates, *spec.extras):
        vals = pd.DataFrame({"s": subj, "v": subj_vars[var.name]}).dropna().groupby("s", sort=False)["v"].first()
        subjects[var.name] = subjects["subject"].map(vals)
        if var.kind == "numeric":
            subjects[var.name] = subjects[var.name].astype(float)
        elif var.values:
            cats = list(dict.fromkeys(var.values.values()))
            subjects[var.name] = pd.Categorical(subjects[var.name], categories=cats)
    for key in ("site", "condition"):
        subjects[key] = subjects[key].astype("string")

    # full grid subject x scheduled visit
    grid = pd.MultiIndex.from_product([subjects["subject"], spec.visit_names], names=["subject", "visit"])
    keep_cols = ["subject", "visit", *outcome_names] + (["week_actual"] if "week_actual" in long else [])
    visits = long[keep_cols].set_index(["subject", "visit"]).reindex(grid).reset_index()
    visits["visit"] = pd.Categorical(visits["visit"], categories=spec.visit_names, ordered=True)
    visits["week"] = visits["visit"].map({v.name: v.week for v in spec.visits}).astype(float)
    visits = visits.merge(subjects[["subject", "arm", "arm_class", "site", "condition"]], on="subject", how="left")
    order = ["subject", "arm", "arm_class", "site", "condition", "visit", "week"]
    visits = visits[order + [c for c in visits.columns if c not in order]]

    # baselines and derived change scores
    baselines = pd.DataFrame({"subject": subjects["subject"]})
    for name, o in spec.outcomes.items():
        if o.baseline_column:
            b = checked.baselines[name]
            bl = pd.DataFrame({"s": subj, "b": b}).dropna().groupby("s", sort=False)["b"].first()
        elif base is not None:
            bl = visits.loc[visits["visit"] == base.name].set_index("subject")[name]
        else:
            bl = pd.Series(dtype=float)
        baselines[f"{name}_baseline"] = baselines["subject"].map(bl).astype(float)
        n_nobase = int(baselines[f"{name}_baseline"].isna().sum())
        if n_nobase:
            exclusions.append(
                {
                    "rule": f"no baseline value of {name}",
                    "n": n_nobase,
                    "detail": f"{n_nobase} subject{'' if n_nobase == 1 else 's'}: change from baseline of {name} "
                    "is not defined",
                }
            )
    visits = add_change_scores(visits, spec, baselines)
    subjects = subjects.merge(baselines, on="subject", how="left")

    # disposition
    assessed = visits[outcome_names].notna().any(axis=1) if outcome_names else pd.Series(False, index=visits.index)
    last = visits[assessed].groupby("subject", sort=False)["visit"].max()
    subjects["last_visit"] = subjects["subject"].map(last).astype("string")
    subjects["last_week"] = subjects["last_visit"].map({v.name: v.week for v in spec.visits}).astype(float)
    final = spec.visits[-1].name
    if spec.completer_column:
        comp = pd.DataFrame({"s": subj, "f": subj_vars["completer"]}).dropna().groupby("s", sort=False)["f"].first()
        subjects["completer"] = subjects["subject"].map(comp).astype(bool)
    else:
        subjects["completer"] = (subjects["last_visit"] == final).fillna(False).astype(bool)
    if spec.withdrawal_reason:
        reason = pd.Series(subj_vars["withdrawal_reason"].to_numpy(), index=subj)
        reason = reason[reason.notna()]
        reason = reason[~reason.index.duplicated()]
        subjects["withdrawal_reason"] = subjects["subject"].map(reason).astype("string")
        subjects["withdrawn"] = subjects["withdrawal_reason"].notna() | ~subjects["completer"]
    else:
        subjects["withdrawn"] = ~subjects["completer"]
        subjects["withdrawal_reason"] = pd.Series(pd.NA, index=subjects.index, dtype="string")
    subjects["withdrawal_reason"] = subjects["withdrawal_reason"].where(
        ~subjects["withdrawn"] | subjects["withdrawal_reason"].notna(), "not recorded"
    )

    n_unassessed = int((~assessed).sum())
    exclusions.append(
        {
            "rule": "scheduled visits with no outcome assessed",
            "n": n_unassessed,
            "detail": "kept in Cohort.visits with missing outcomes (not imputed)",
        }
    )
    exc = pd.DataFrame(exclusions, columns=["rule", "n", "detail"])
    subjects, visits = subjects.reset_index(drop=True), visits.reset_index(drop=True)
    check_cohort_tables(spec, subjects, visits, checked.raw.label)
    events = subject_events(spec, subjects)
    return Cohort(spec, subjects, visits, exc, checked.raw.label, sha, checked.raw.notes, events)
