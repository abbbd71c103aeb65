"""Loading and validating a study's data into a :class:`Cohort`.

``load_cohort`` reads the raw file named by the study definition (or the one given), checks
every rule at once and returns canonical tables:

- ``Cohort.subjects``: one row per randomised subject (``subject, arm, arm_class, site,
  condition``, covariates, subject-level outcomes such as resource use over follow-up,
  ``{outcome}_baseline``, disposition columns);
- ``Cohort.visits``: one row per subject x scheduled visit (``subject, arm, arm_class, site,
  condition, visit, week``, each outcome, and derived change scores).

Rules checked (each failure names the file, column, row or subject, the value and the rule):
missing required column; unknown arm; subject in two arms; visit not in the schedule; actual
time outside the visit window; duplicate subject x visit; non-numeric score; score outside its
instrument's range; no baseline assessment; non-numeric covariate; subject-level value that
changes between rows of a long file. Rows are numbered from 1 for the first data row (the
header is not counted). Anything set aside by a declared rule is counted in
``Cohort.exclusions``; nothing is dropped silently.

Examples
--------
>>> import painstudy
>>> cohort = painstudy.load_cohort("demo")
>>> list(cohort.visits.columns[:7])
['subject', 'arm', 'arm_class', 'site', 'condition', 'visit', 'week']
>>> cohort.subjects["arm_class"].value_counts(sort=False).to_dict()
{'control': 100, 'single-modality': 200, 'integrative': 100}
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .errors import FAILURE_COLUMNS, CohortError, PainstudyError
from .io import read_table
from .outcomes import add_change_scores
from .schemas import check_cohort_tables
from .study import ARM_CLASSES, StudySpec, Variable, read_study


# -------------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------------

_INTLIKE = re.compile(r"[+-]?\d+\.0*")

def _norm(value: Any) -> str | None:
    """A raw code as a comparable string: 1, 1.0 and "1" are the same code."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer, bool, np.bool_)):
        return str(int(value))
    s = str(value).strip()
    if _INTLIKE.fullmatch(s):
        return str(int(float(s)))
    return s


def _norm_series(s: pd.Series) -> pd.Series:
    return pd.Series([_norm(v) for v in s.to_numpy(dtype=object)], index=s.index, dtype=object)


class _Failures:
    """Collects failures as rows of the failure table."""

    def __init__(self, file: str):
        self.file = file
        self.rows: list[dict] = []

    def add(self, rule: str, column: str | None = None, row: Any = None, subject: Any = None, value: Any = None):
        self.rows.append({"file": self.file, "column": column, "row": row, "subject": subject,
                          "value": value, "rule": rule})

    def add_many(self, mask: pd.Series, raw: pd.DataFrame, column: str, rule: str, values=None, subj_col=None):
        idx = np.flatnonzero(mask.to_numpy())
        vals = raw[column].to_numpy(dtype=object) if values is None else np.asarray(values, dtype=object)
        subj = raw[subj_col].to_numpy(dtype=object) if subj_col else None
        for i in idx:
            self.add(rule, column, int(raw.index[i]) + 1, None if subj is None else subj[i], vals[i])

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=FAILURE_COLUMNS)

    def __bool__(self):
        return bool(self.rows)


def _numeric(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse to float; also return the mask of present but non-numeric values."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float), pd.Series(False, index=raw.index)
    parsed = pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").astype(float)
    bad = raw.notna() & parsed.isna() & (raw.astype("string").str.strip() != "")
    return parsed, bad


# -------------------------------------------------------------------------------------------
# the Cohort
# -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cohort:
    """A validated study cohort (immutable). Build it with :func:`load_cohort`."""

    spec: StudySpec
    subjects: pd.DataFrame
    visits: pd.DataFrame
    exclusions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["rule", "n", "detail"]))
    source: str = ""
    sha256: str = ""

    # -- views --------------------------------------------------------------------------------
    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def outcomes(self) -> list[str]:
        return list(self.spec.outcomes)

    def instrument(self, outcome: str):
        """The instrument of an outcome of this study."""
        try:
            return self.spec.outcomes[outcome].instrument
        except KeyError:
            raise PainstudyError(f"study {self.spec.name!r} has no outcome {outcome!r}; "
                                 f"outcomes: {self.outcomes}") from None

    def analysis_data(self, outcome: str | None = None, *, post_baseline: bool = True,
                      covariates: bool = True) -> pd.DataFrame:
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

    def subset(self, subjects: Iterable[str] | pd.Series, reason: str = "subset") -> "Cohort":
        """A cohort restricted to some subjects (e.g. completers); the exclusion is recorded."""
        keep = set(pd.Series(list(subjects), dtype=object).astype(str))
        subj = self.subjects[self.subjects["subject"].isin(keep)].reset_index(drop=True)
        vis = self.visits[self.visits["subject"].isin(keep)].reset_index(drop=True)
        dropped = len(self.subjects) - len(subj)
        exc = pd.concat([self.exclusions, pd.DataFrame([{"rule": reason, "n": dropped,
                                                         "detail": f"{dropped} subjects outside the {reason}"}])],
                        ignore_index=True)
        return replace(self, subjects=subj, visits=vis, exclusions=exc)

    def completers(self) -> "Cohort":
        """The subjects assessed at the last scheduled visit."""
        return self.subset(self.subjects.loc[self.subjects["completer"], "subject"], reason="completers")

    # -- description --------------------------------------------------------------------------
    def table1(self, *, by: str = "arm", total: bool = True, tidy: bool = False):
        """Baseline characteristics by arm (see :func:`painstudy.tables.table1`)."""
        from .tables import table1

        return table1(self, by=by, total=total, tidy=tidy)

    def disposition(self):
        """CONSORT flow numbers per arm (see :func:`painstudy.tables.disposition`)."""
        from .tables import disposition

        return disposition(self)

    def summary(self) -> pd.DataFrame:
        """A few lines describing the cohort."""
        s = self.spec
        rows = [("study", f"{s.name}: {s.title}"), ("source", self.source), ("subjects", len(self.subjects)),
                ("visits scheduled", ", ".join(f"{v.name} (week {v.week:g})" for v in s.visits)),
                ("outcomes", ", ".join(f"{o.name} [{o.instrument.name}]" for o in s.outcomes.values()))]
        for a in s.arms:
            n = int((self.subjects["arm"] == a.name).sum())
            rows.append((f"arm {a.name}", f"{a.label}: {a.arm_class}, {', '.join(a.modalities)}; n = {n}"))
        return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")

    def _repr_html_(self) -> str:
        return "<h4>Cohort</h4>" + self.summary().to_html()

    def __repr__(self) -> str:
        return (f"Cohort({self.spec.name!r}, subjects={len(self.subjects)}, visits={len(self.visits)}, "
                f"arms={[a.name for a in self.spec.arms]})")


# -------------------------------------------------------------------------------------------
# loading
# -------------------------------------------------------------------------------------------

def resolve_study(study: "str | Path | StudySpec") -> StudySpec:
    """A StudySpec from a spec, a path to a study.yml (or its folder) or a registered study name."""
    if isinstance(study, StudySpec):
        return study
    p = Path(study)
    if p.suffix in (".yml", ".yaml") or p.exists():
        if p.is_dir():
            p = p / "study.yml"
        return read_study(p)
    from .datasets import study_path

    return read_study(study_path(str(study)))


def _resolve_data(spec: StudySpec, data) -> tuple[pd.DataFrame, str, str]:
    """Raw table, its label for messages, and its SHA-256 (empty for in-memory data)."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), "<DataFrame>", ""
    if data is None:
        data = spec.data_path
        if data is None:
            raise PainstudyError(f"study {spec.name!r} names no data file; pass data=...")
        if data.startswith("registry:"):
            from .datasets import fetch

            data = fetch(data.split(":", 1)[1])
    path = Path(data)
    raw = read_table(path, spec.file_format if data == spec.data_path else None)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return raw, str(path), sha


def required_columns(spec: StudySpec) -> dict[str, str]:
    """Raw columns the study needs, with the role each plays."""
    need = {spec.subject: "subject identifier", spec.arm_column: "arm"}
    if spec.layout == "long":
        need[spec.visit_column] = "visit"
        if spec.time_column:
            need[spec.time_column] = "actual visit week"
    for o in spec.outcomes.values():
        if o.column:
            need[o.column] = f"outcome {o.name}"
        for visit, col in o.columns.items():
            need[col] = f"outcome {o.name} at {visit}"
        if o.baseline_column:
            need[o.baseline_column] = f"baseline of {o.name}"
    for v in (spec.site, spec.condition, *spec.covariates, *spec.extras):
        if v is not None and v.column:
            need[v.column] = v.name if v.name in ("site", "condition") else f"covariate {v.name}"
    for col, role in ((spec.withdrawal_reason, "withdrawal reason"), (spec.completer_column, "completer flag")):
        if col:
            need[col] = role
    return need


def validate(study, *, data=None) -> pd.DataFrame:
    """Check a study's data against every rule; return the table of failures (empty if valid).

    Raises only for problems that stop reading altogether (unknown study, unreadable file).
    """
    spec = resolve_study(study)
    raw, label, _ = _resolve_data(spec, data)
    try:
        _build(spec, raw, label, "")
    except CohortError as e:
        return e.failures
    return pd.DataFrame(columns=FAILURE_COLUMNS)


def load_cohort(study: "str | Path | StudySpec", *, data: "str | Path | pd.DataFrame | None" = None) -> Cohort:
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
        Listing every rule broken, one row per problem, in ``.failures``.
    DataFileError, StudySpecError, DatasetError
        When the file or the study definition cannot be read at all.
    """
    spec = resolve_study(study)
    raw, label, sha = _resolve_data(spec, data)
    return _build(spec, raw, label, sha)


def _map_codes(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    normed = _norm_series(values)
    return normed.map(mapping)


def _subject_variable(var: Variable, raw: pd.DataFrame, fails: _Failures) -> pd.Series:
    """Recoded / typed values of a subject-level variable, one per raw row."""
    if var.column is None:
        return pd.Series(var.constant, index=raw.index, dtype=object)
    col = raw[var.column]
    if var.values:
        mapping = {_norm(k): v for k, v in var.values.items()}
        normed = _norm_series(col)
        out = normed.map(mapping)
        bad = normed.notna() & out.isna()
        fails.add_many(bad, raw, var.column, f"value not among the declared codes of {var.name} "
                       f"({', '.join(map(str, mapping))})")
        return out
    if var.kind == "numeric":
        parsed, bad = _numeric(col)
        fails.add_many(bad, raw, var.column, f"non-numeric value for numeric covariate {var.name}")
        return parsed
    return _norm_series(col)


def _build(spec: StudySpec, raw: pd.DataFrame, label: str, sha: str) -> Cohort:
    fails = _Failures(label)
    exclusions: list[dict] = []

    # 1. required columns: without them nothing else can be checked
    need = required_columns(spec)
    for col, role in need.items():
        if col not in raw.columns:
            fails.add(f"required column is missing (role: {role}); columns present: "
                      f"{', '.join(map(str, raw.columns[:30]))}", column=col)
    if fails:
        raise CohortError(f"{label}: {len(fails.rows)} required column(s) missing", fails.table())

    raw = raw.reset_index(drop=True)
    subj = _norm_series(raw[spec.subject])
    raw = raw.assign(**{spec.subject: subj})
    fails.add_many(subj.isna(), raw, spec.subject, "missing subject identifier")

    # 2. arms
    arm_map = {_norm(code): a.name for a in spec.arms for code in a.codes}
    arm = _map_codes(raw[spec.arm_column], arm_map)
    fails.add_many(arm.isna(), raw, spec.arm_column,
                   f"unknown arm: not one of the study's arm codes ({', '.join(arm_map)})", subj_col=spec.subject)
    ok = subj.notna() & arm.notna()
    n_arms = pd.DataFrame({"s": subj[ok], "a": arm[ok]}).groupby("s")["a"].nunique()
    for s in n_arms.index[n_arms > 1]:
        arms_seen = sorted(arm[ok & (subj == s)].unique())
        rows = [int(i) + 1 for i in raw.index[ok & (subj == s)]]
        fails.add(f"subject in two arms ({', '.join(arms_seen)}) on rows {rows}", spec.arm_column,
                  rows[0], s, ", ".join(arms_seen))

    # 3. subject-level variables (one value per subject)
    subj_vars: dict[str, pd.Series] = {}
    for var in [v for v in (spec.site, spec.condition) if v is not None] + list(spec.covariates) + list(spec.extras):
        subj_vars[var.name] = _subject_variable(var, raw, fails)
    for col in (spec.withdrawal_reason, spec.completer_column):
        if col:
            subj_vars[col] = raw[col]
    if spec.layout == "long":
        for name, series in subj_vars.items():
            frame = pd.DataFrame({"s": subj, "v": series.astype(object)}).dropna()
            nun = frame.groupby("s")["v"].nunique()
            for s in nun.index[nun > 1]:
                vals = sorted(map(str, frame.loc[frame["s"] == s, "v"].unique()))
                fails.add(f"subject-level value of {name} changes between rows ({', '.join(vals)})",
                          name, None, s, vals[0])

    # 4. long table of visits
    visit_map = {_norm(code): v.name for v in spec.visits for code in v.codes}
    if spec.layout == "long":
        visit = _map_codes(raw[spec.visit_column], visit_map)
        bad = raw[spec.visit_column].notna() & visit.isna() | raw[spec.visit_column].isna()
        fails.add_many(bad, raw, spec.visit_column,
                       f"visit not in the schedule ({', '.join(spec.visit_names)})", subj_col=spec.subject)
        long = pd.DataFrame({"subject": subj, "visit": visit, "_row": raw.index + 1})
        if spec.time_column:
            t, badt = _numeric(raw[spec.time_column])
            fails.add_many(badt, raw, spec.time_column, "non-numeric visit week", subj_col=spec.subject)
            windows = {v.name: v.window for v in spec.visits}
            lo = visit.map(lambda x: windows.get(x, (np.nan, np.nan))[0]).astype(float)
            hi = visit.map(lambda x: windows.get(x, (np.nan, np.nan))[1]).astype(float)
            out = t.notna() & visit.notna() & ((t < lo - 1e-9) | (t > hi + 1e-9))
            for i in np.flatnonzero(out.to_numpy()):
                fails.add(f"week {t.iloc[i]:g} outside the window [{lo.iloc[i]:g}, {hi.iloc[i]:g}] of visit "
                          f"{visit.iloc[i]}", spec.time_column, int(i) + 1, subj.iloc[i], raw[spec.time_column].iloc[i])
            long["week_actual"] = t
        for name, o in spec.outcomes.items():
            val, badv = _numeric(raw[o.column])
            fails.add_many(badv, raw, o.column, f"non-numeric score for outcome {name}", subj_col=spec.subject)
            long[name] = val * o.multiply
            long[f"_col_{name}"] = o.column
            long[f"_raw_{name}"] = raw[o.column]
        dup = long["subject"].notna() & long["visit"].notna() & long.duplicated(["subject", "visit"], keep=False)
        for (s, vname), g in long[dup].groupby(["subject", "visit"]):
            fails.add(f"duplicate subject x visit: {vname} appears on rows {g['_row'].tolist()}",
                      spec.visit_column, int(g["_row"].iloc[0]), s, vname)
    else:
        dup = subj.notna() & subj.duplicated(keep=False)
        for s, g in raw[dup].groupby(spec.subject):
            fails.add(f"duplicate subject: a wide file has one row per subject, found rows "
                      f"{[int(i) + 1 for i in g.index]}", spec.subject, int(g.index[0]) + 1, s, s)
        parts = []
        for v in spec.visits:
            part = pd.DataFrame({"subject": subj, "visit": v.name, "_row": raw.index + 1})
            for name, o in spec.outcomes.items():
                col = o.columns.get(v.name)
                if col is None:
                    part[name] = np.nan
                    part[f"_col_{name}"] = None
                    part[f"_raw_{name}"] = None
                    continue
                val, badv = _numeric(raw[col])
                fails.add_many(badv, raw, col, f"non-numeric score for outcome {name}", subj_col=spec.subject)
                part[name] = val * o.multiply
                part[f"_col_{name}"] = col
                part[f"_raw_{name}"] = raw[col]
            parts.append(part)
        long = pd.concat(parts, ignore_index=True)

    # 5. ranges
    for name, o in spec.outcomes.items():
        inst = o.instrument
        y = long[name]
        out = y.notna() & ((y < inst.min - 1e-9) | (y > inst.max + 1e-9))
        for i in np.flatnonzero(out.to_numpy()):
            r = long.iloc[i]
            fails.add(f"score outside the range [{inst.min:g}, {inst.max:g}] of {inst.label}",
                      r[f"_col_{name}"], int(r["_row"]), r["subject"], r[f"_raw_{name}"])
        if o.baseline_column:
            b, badb = _numeric(raw[o.baseline_column])
            fails.add_many(badb, raw, o.baseline_column, f"non-numeric baseline of {name}", subj_col=spec.subject)
            outb = b.notna() & ((b < inst.min - 1e-9) | (b > inst.max + 1e-9))
            fails.add_many(outb, raw, o.baseline_column,
                           f"baseline outside the range [{inst.min:g}, {inst.max:g}] of {inst.label}",
                           subj_col=spec.subject)

    # 6. outcomes coded 0 when not assessed
    for name, o in spec.outcomes.items():
        if o.missing_with:
            mask = long[o.missing_with].isna() & long[name].notna()
            n = int(mask.sum())
            long.loc[mask, name] = np.nan
            exclusions.append({"rule": f"{name} set to missing where {o.missing_with} was not assessed",
                               "n": n, "detail": f"{n} subject-visits (the raw file codes unassessed values)"})

    # 7. baseline present
    outcome_names = list(spec.outcomes)
    base = spec.baseline_visit
    valid_rows = long["subject"].notna() & long["visit"].notna()
    long = long[valid_rows].copy()
    subjects_all = pd.unique(subj.dropna())
    if base is not None and outcome_names:
        at_base = long[(long["visit"] == base.name) & long[outcome_names].notna().any(axis=1)]["subject"]
        missing = sorted(set(subjects_all) - set(at_base), key=str)
        for s in missing:
            rows = raw.index[subj == s]
            fails.add(f"no baseline: subject has no outcome assessed at visit {base.name}",
                      None, int(rows[0]) + 1, s)

    if fails:
        raise CohortError(f"{label}: {len(fails.rows)} problem(s) found", fails.table())

    # 8. canonical tables ----------------------------------------------------------------------
    first = raw.groupby(spec.subject, sort=False).head(1).index
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
            b, _ = _numeric(raw[o.baseline_column])
            bl = pd.DataFrame({"s": subj, "b": b * o.multiply}).dropna().groupby("s", sort=False)["b"].first()
        elif base is not None:
            bl = visits.loc[visits["visit"] == base.name].set_index("subject")[name]
        else:
            bl = pd.Series(dtype=float)
        baselines[f"{name}_baseline"] = baselines["subject"].map(bl).astype(float)
        n_nobase = int(baselines[f"{name}_baseline"].isna().sum())
        if n_nobase:
            exclusions.append({"rule": f"no baseline value of {name}", "n": n_nobase,
                               "detail": f"{n_nobase} subjects: change from baseline of {name} is not defined"})
    visits = add_change_scores(visits, spec, baselines)
    subjects = subjects.merge(baselines, on="subject", how="left")

    # disposition
    assessed = visits[outcome_names].notna().any(axis=1) if outcome_names else pd.Series(False, index=visits.index)
    last = visits[assessed].groupby("subject", sort=False)["visit"].max()
    subjects["last_visit"] = subjects["subject"].map(last).astype("string")
    subjects["last_week"] = subjects["last_visit"].map({v.name: v.week for v in spec.visits}).astype(float)
    final = spec.visits[-1].name
    if spec.completer_column:
        comp = pd.Series(subj_vars[spec.completer_column].to_numpy(), index=subj)
        comp = comp[~comp.index.duplicated()]
        subjects["completer"] = subjects["subject"].map(lambda s: _norm(comp.get(s)) in ("1", "True", "true", "yes", "Y"))
    else:
        subjects["completer"] = (subjects["last_visit"] == final).fillna(False).astype(bool)
    if spec.withdrawal_reason:
        reason = pd.Series(subj_vars[spec.withdrawal_reason].to_numpy(), index=subj)
        reason = reason[reason.notna()]
        reason = reason[~reason.index.duplicated()]
        subjects["withdrawal_reason"] = subjects["subject"].map(reason).astype("string")
        subjects["withdrawn"] = subjects["withdrawal_reason"].notna() | ~subjects["completer"]
    else:
        subjects["withdrawn"] = ~subjects["completer"]
        subjects["withdrawal_reason"] = pd.Series(pd.NA, index=subjects.index, dtype="string")
    subjects["withdrawal_reason"] = subjects["withdrawal_reason"].where(
        ~subjects["withdrawn"] | subjects["withdrawal_reason"].notna(), "not recorded")

    n_unassessed = int((~assessed).sum())
    exclusions.append({"rule": "scheduled visits with no outcome assessed", "n": n_unassessed,
                       "detail": "kept in Cohort.visits with missing outcomes (not imputed)"})
    exc = pd.DataFrame(exclusions, columns=["rule", "n", "detail"])
    subjects, visits = subjects.reset_index(drop=True), visits.reset_index(drop=True)
    check_cohort_tables(spec, subjects, visits, label)
    return Cohort(spec, subjects, visits, exc, label, sha)
