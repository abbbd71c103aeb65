"""Start a study from one's own data: ``painstudy init DIR --data FILE``.

:func:`draft_study` reads a data file and drafts a ``study.yml``: it sniffs the columns for the
subject identifier, the arm, the visit (a row per visit: *long*; a column per visit: *wide*), the
actual visit week, site, condition, covariates, baselines, disposition and the outcomes, and
guesses each outcome's instrument from its name and the range of its values. Every guess that a
human must confirm is marked in the YAML with a ``# CHECK:`` comment and listed in
:attr:`Draft.to_confirm`. :func:`init_study` writes the draft, the report notebooks (ready for
JupyterLab) and a short README into the study folder, never overwriting anything.

Examples
--------
>>> import pandas as pd
>>> raw = pd.DataFrame({"patient_id": ["P1", "P1", "P2", "P2"], "group": ["UC", "UC", "Yoga", "Yoga"],
...                     "visit": ["baseline", "week8"] * 2, "pain_nrs": [7, 5, 6, 3]})
>>> d = draft_study(raw, name="pilot")
>>> d.roles["subject"], d.roles["arm"], d.roles["visit"], d.layout
('patient_id', 'group', 'visit', 'long')
>>> d.outcomes["pain_nrs"]
'nrs'
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import PainstudyError
from .instruments import get_instrument
from .io import read_table
from .study import MODALITY_DOMAINS
from .study_rules import study_name_problem

__all__ = ["Draft", "draft_study", "init_study"]

_ID = re.compile(
    r"^(usubjid|subjid|subject(_?id)?|patient(_?id)?|participant(_?id)?|pid|id|record_?id|"
    r"study_?id|case_?id)$",
    re.I,
)
_ARM = re.compile(
    r"^(arm|armcd|arm_?code|group|grp|treatment|trt|trt01p|trtp|therapy|allocation|"
    r"randomi[sz]ation|randomi[sz]ed_?(arm|group)?|intervention|treatment_?group)$",
    re.I,
)
_VISIT = re.compile(
    r"^(visit|avisit|visitnum|visitn|visit_?name|timepoint|time_?point|tp|time|period|"
    r"assessment)$",
    re.I,
)
_WEEK = re.compile(r"^(week|weeks|wk|study_?week|week_?actual|actual_?week|ady|study_?day|day|days)$", re.I)
_SITE = re.compile(r"^(site|site_?id|centre|center|clinic|practice(_?id)?|siteid)$", re.I)
_CONDITION = re.compile(r"^(condition|diagnosis|dx|pain_?type|pain_?condition|indication|disease)$", re.I)
_COMPLETER = re.compile(r"^(completer|completed|complete|compl|completion)$", re.I)
_REASON = re.compile(
    r"^(withdrawal_?reason|reason|dropout_?reason|dcreas|discontinuation_?reason|"
    r"withdrawal)$",
    re.I,
)
_BASELINE_LABEL = re.compile(
    r"^(baseline|base|bl|screening|pre|week_?0|wk_?0|w0|day_?0|0|v0|visit_?0|t0|month_?0)$", re.I
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?$")
_WIDE = re.compile(
    r"^(?P<stem>[A-Za-z][A-Za-z0-9_]*?)[_.]?(?P<v>bl|baseline|base|pre|post|fu\d*|"
    r"w(?:ee)?k?\d+|m(?:onth)?\d+|\d+(?:w|wk|m|mo)|t\d+|v(?:isit)?\d+|\d+)$",
    re.I,
)
#: name fragments -> instrument (checked in order; the range of the values decides between scales)
_INSTRUMENT_NAMES = [
    (r"odi|oswestry", "odi"),
    (r"rmdq|roland", "rmdq"),
    (r"promis.*(pf|phys)|physical_?function", "promis_pf"),
    (r"promis.*(pi|interf)", "promis_pi"),
    (r"bpi.*(int)|interference", "bpi_interference"),
    (r"bpi", "bpi_severity"),
    (r"pgic|global_?impression", "pgic"),
    (r"mme|opioid|morphine", "mme"),
    (r"headache_?days|days_?with", "headache_days"),
    (r"headache", "headache_score"),
    (r"sf_?36|sf36|^pf\d*$|^rp\d*$|pcs|mcs", "sf36"),
    (r"funct", "function"),
    (r"vas", "vas"),
    (r"pain|nrs|intensity|severity", "nrs"),
]
_MODALITY_WORDS = {
    "usual care": "usual_care",
    "usual_care": "usual_care",
    "standard care": "usual_care",
    "uc": "usual_care",
    "tau": "usual_care",
    "control": "usual_care",
    "physio": "physiotherapy",
    "physical therapy": "physiotherapy",
    "exercise": "exercise",
    "yoga": "yoga",
    "tai chi": "tai_chi",
    "taichi": "tai_chi",
    "massage": "massage",
    "occupational": "occupational_therapy",
    "cbt": "cbt",
    "cognitive": "cbt",
    "mindful": "mbsr",
    "mbsr": "mbsr",
    "biofeedback": "biofeedback",
    "relax": "relaxation",
    "diet": "anti_inflammatory_diet",
    "sleep": "sleep_hygiene",
    "smoking": "smoking_cessation",
    "acupunct": "acupuncture",
    "chiro": "chiropractic",
    "app": "app",
    "digital": "digital_therapeutic",
    "laser": "low_level_laser",
    "placebo": "placebo",
    "sham": "sham",
    "waitlist": "waitlist",
    "wait list": "waitlist",
    "opioid": "opioids",
    "nsaid": "nsaids",
    "drug": "pharmacological",
    "medication": "pharmacological",
}
_CONTROL_WORDS = ("usual_care", "placebo", "sham", "waitlist")
#: subject-level columns proposed as covariates (others are listed in a comment)
_COVARIATE = re.compile(
    r"^(age|sex|gender|bmi|weight|height|race|ethnicity|education|employment|smok\w*|"
    r"duration\w*|chronicity|pain_?duration|years_?(with|of)_?pain|comorbid\w*|depress\w*|"
    r"anxiety\w*|baseline_?\w*|\w*_bl|\w*_baseline)$",
    re.I,
)


@dataclass
class Draft:
    """A drafted study definition: the YAML text and what a human must still confirm."""

    name: str
    layout: str
    roles: dict[str, str | None]
    outcomes: dict[str, str]  # outcome name -> instrument
    yaml: str = ""
    to_confirm: list[str] = field(default_factory=list)


# -------------------------------------------------------------------------------------------
# helpers
# -------------------------------------------------------------------------------------------


def _numeric(col: pd.Series) -> pd.Series:
    return pd.to_numeric(col.astype("string").str.strip(), errors="coerce")


def _is_numeric(col: pd.Series) -> bool:
    present = col.dropna()
    if present.empty:
        return False
    return _numeric(present).notna().mean() >= 0.95


def _slug(text: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(text).strip().lower()).strip("_") or "arm"
    return f"arm_{s}" if s[0].isdigit() else s


def _q(value) -> str:
    """A YAML scalar, quoted when needed."""
    s = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\- ]*", s) and s.lower() not in (
        "yes",
        "no",
        "true",
        "false",
        "null",
        "on",
        "off",
        "y",
        "n",
        "~",
    ):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _first(columns, pattern, exclude=()) -> str | None:
    return next((c for c in columns if pattern.match(str(c).strip()) and c not in exclude), None)


def _constant_within(raw: pd.DataFrame, subject: str, col: str) -> bool:
    g = raw[[subject, col]].dropna()
    return bool((g.groupby(subject)[col].nunique() <= 1).all()) if len(g) else True


def _week_of(label) -> tuple[float | None, bool, str]:
    """Week number from a visit label, whether it is a baseline label, and why the week is a guess
    (empty when the label says it: a week, day or month number, or a baseline)."""
    s = str(label).strip().lower()
    if _BASELINE_LABEL.match(s):
        return 0.0, True, ""
    m = re.search(r"(\d+(?:\.\d+)?)", s)
    if not m:
        return None, False, ""
    n = float(m.group(1))
    if re.search(r"m(on)?th|mo\b|\dm$|^m\d", s):
        return round(n * 52 / 12), False, ""
    if re.search(r"day|^d\d", s):
        return round(n / 7, 1), False, ""
    if re.search(r"(^|[^a-z])w(ee)?k?s?[ _.]?\d|\d[ _.]?w(ee)?k?s?($|[^a-z])", s):
        return n, False, ""
    return n, False, f"the visit number in {str(label)!r} was taken as week {n:g}"


def _dates(values) -> list[pd.Timestamp] | None:
    """The values as dates when every one is a date (ISO text or a date cell), else None."""
    out = []
    for v in values:
        if isinstance(v, datetime.date):  # a date or date-time cell (pandas' Timestamp is one)
            out.append(pd.Timestamp(v))
        elif isinstance(v, str) and _DATE.match(v.strip()):
            try:
                out.append(pd.Timestamp(v.strip()))
            except ValueError:
                return None
        else:
            return None
    return out or None


def _natural_key(v):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(v))]


def _guess_instrument(name: str, values: pd.Series) -> tuple[str, str]:
    """Instrument name and the reason of the guess."""
    lo, hi = (float(values.min()), float(values.max())) if len(values) else (math.nan, math.nan)
    rng = f"values {lo:g} to {hi:g}" if len(values) else "no values"
    key = name.lower()
    for pattern, inst in _INSTRUMENT_NAMES:
        if re.search(pattern, key):
            if inst == "function":  # a T-score (PROMIS) when its values fit 10-90, else a 0-100 scale
                inst = "promis_pf" if lo >= 10 and hi <= 90 else "sf36"
            if inst in ("vas", "nrs"):
                if hi <= 1:
                    inst = "vas_unit"
                elif hi <= 10:
                    inst = "vas_cm" if inst == "vas" else "nrs"
                elif hi <= 100:
                    inst = "vas_mm"
                else:
                    inst = "score_lower"
            i = get_instrument(inst)
            if not (i.min - 1e-9 <= lo and hi <= i.max + 1e-9):
                return "score", f"the name suggests {inst} but the {rng} are outside its range"
            return inst, f"guessed from the name {name!r} and the {rng}"
    return "score", f"no instrument recognised from the name {name!r} ({rng}); 'score' has no range or thresholds"


def _modalities(label: str) -> tuple[list[str], bool]:
    text = str(label).lower().replace("-", " ")
    found = []
    for word, modality in _MODALITY_WORDS.items():
        if re.search(rf"(^|[^a-z]){re.escape(word)}", text) and modality not in found:
            found.append(modality)
    known = {m for ms in MODALITY_DOMAINS.values() for m in ms}
    found = [m for m in found if m in known]
    control = bool(found) and all(m in _CONTROL_WORDS for m in found)
    return found, control


# -------------------------------------------------------------------------------------------
# drafting
# -------------------------------------------------------------------------------------------


def draft_study(data: str | Path | pd.DataFrame, *, name: str = "mystudy", data_file: str | None = None) -> Draft:
    """Draft a study definition from a data file (or a DataFrame of raw values).

    Parameters
    ----------
    data : path or DataFrame
        The raw data (any format :func:`painstudy.io.read_table` reads).
    name : str
        The study's name.
    data_file : str, optional
        How ``data.file`` is written in the YAML (default: the path given).
    """
    raw = data if isinstance(data, pd.DataFrame) else read_table(data)
    raw = raw.astype(object).where(raw.notna(), None)
    cols = [str(c) for c in raw.columns]
    raw.columns = cols
    confirm: list[str] = []
    subject = _first(cols, _ID)
    if subject is None:  # the first column whose values identify rows or repeat a few times each
        subject = next((c for c in cols if raw[c].notna().all() and raw[c].nunique() >= len(raw) / 20), cols[0])
        confirm.append(f"subject: column {subject!r} was taken as the subject identifier")
    long = bool(raw[subject].duplicated().any())
    arm = _first(cols, _ARM, exclude=(subject,))
    if arm is None:
        cand = [
            c
            for c in cols
            if c != subject and 2 <= raw[c].nunique() <= 6 and (not long or _constant_within(raw, subject, c))
        ]
        if not cand:
            raise PainstudyError(
                f"{data_file or 'data'}: no column looks like the arm (2 to 6 distinct values, "
                f"constant within a subject); name it in study.yml yourself"
            )
        arm = cand[0]
        confirm.append(f"arm: column {arm!r} was taken as the arm")
    used = {subject, arm}
    roles: dict[str, str | None] = {"subject": subject, "arm": arm, "visit": None, "week": None}
    lines: list[str] = []
    visits: list[tuple[str, float | None, bool, list, str]] = []  # name, week, baseline, codes, guess
    wide_outcomes: dict[str, dict[str, str]] = {}
    if long:
        visit = _first(cols, _VISIT, exclude=used)
        if visit is None:
            visit = _first(cols, _WEEK, exclude=used)
        if visit is None:
            raise PainstudyError(
                f"{data_file or 'data'}: subjects have several rows but no column looks like the "
                f"visit (visit, avisit, timepoint, week, ...); name it in study.yml yourself"
            )
        roles["visit"] = visit
        used.add(visit)
        week = _first(cols, _WEEK, exclude=used)
        if week is not None and _is_numeric(raw[week]) and not _constant_within(raw, subject, week):
            roles["week"] = week
            used.add(week)
        labels = sorted(raw[visit].dropna().unique(), key=_natural_key)
        dates = _dates(labels)
        for i, v in enumerate(labels):
            wk, base, note = _week_of(v)
            if dates is not None:  # a visit column of dates: weeks counted from the first date
                first = min(dates)
                wk, base = round((dates[i] - first).days / 7, 1), False
                note = f"the date {str(v)!r} was read as week {wk:g} (weeks from the first date, {first.date()})"
            elif _is_numeric(raw[visit]) and _WEEK.match(visit):
                n = float(_numeric(pd.Series([v]))[0])
                per_day = re.search(r"day|ady", visit, re.I)
                wk, base, note = (round(n / 7, 1) if per_day else n), n == 0, ""
            visits.append((_slug(v) if not str(v).replace(".", "").isdigit() else f"visit{v}", wk, base, [v], note))
    else:
        stems: dict[str, dict[str, str]] = {}
        for c in cols:
            m = _WIDE.match(c)
            if m and c not in used and _is_numeric(raw[c]):
                stems.setdefault(m.group("stem").rstrip("_."), {})[m.group("v").lower()] = c
        stems = {s: v for s, v in stems.items() if len(v) >= 2}
        tokens = sorted(
            {t for v in stems.values() for t in v}, key=lambda t: (_week_of(t)[0] is None, _week_of(t)[0] or 0, t)
        )
        for t in tokens:
            wk, base, note = _week_of(t)
            if note:
                note = f"the column suffix {t!r} was read as a visit number, week {wk:g}"
            visits.append((_slug(t) if not t.isdigit() else f"visit{t}", wk, base, [], note))
        tok2visit = {t: v[0] for t, v in zip(tokens, visits)}
        for s, m in stems.items():
            wide_outcomes[s] = {tok2visit[t]: c for t, c in m.items()}
            used.update(m.values())
    if not visits:
        raise PainstudyError(f"{data_file or 'data'}: no visits could be recognised; write the visits in study.yml")
    if not any(v[2] for v in visits):
        confirm.append(
            "visits: no baseline visit was recognised; mark one with `baseline: true` or give each "
            "outcome a `baseline_column`"
        )
    site = _first(cols, _SITE, exclude=used)
    condition = _first(cols, _CONDITION, exclude=used)
    completer = _first(cols, _COMPLETER, exclude=used)
    reason = _first(cols, _REASON, exclude=used)
    used.update(c for c in (site, condition, completer, reason) if c)
    # outcomes and covariates among the remaining columns
    outcomes: dict[str, str] = {}
    outcome_lines: list[str] = []
    covariate_lines: list[str] = []
    unused: list[str] = []
    if long:
        for c in cols:
            if c in used:
                continue
            if _is_numeric(raw[c]) and not _constant_within(raw, subject, c):
                vals = _numeric(raw[c]).dropna()
                inst, why = _guess_instrument(c, vals)
                outcomes[_slug(c)] = inst
                outcome_lines.append(f"  {_q(_slug(c))}: {{instrument: {inst}, column: {_q(c)}}}  # CHECK: {why}")
                confirm.append(f"outcomes.{c}: instrument {inst} ({why})")
            elif (
                _COVARIATE.match(c)
                and _constant_within(raw, subject, c)
                and (_is_numeric(raw[c]) or raw[c].nunique() <= 12)
            ):
                kind = "numeric" if _is_numeric(raw[c]) else "categorical"
                covariate_lines.append(f"  {_q(_slug(c))}: {{column: {_q(c)}, type: {kind}}}")
            else:
                unused.append(c)
    else:
        for s, m in wide_outcomes.items():
            vals = pd.concat([_numeric(raw[c]) for c in m.values()]).dropna()
            inst, why = _guess_instrument(s, vals)
            outcomes[_slug(s)] = inst
            cmap = ", ".join(f"{_q(v)}: {_q(c)}" for v, c in m.items())
            outcome_lines.append(f"  {_q(_slug(s))}: {{instrument: {inst}, columns: {{{cmap}}}}}  # CHECK: {why}")
            confirm.append(f"outcomes.{s}: instrument {inst} ({why})")
        for c in cols:
            if c in used:
                continue
            if _COVARIATE.match(c) and (_is_numeric(raw[c]) or 1 < raw[c].nunique() <= 12):
                kind = "numeric" if _is_numeric(raw[c]) else "categorical"
                covariate_lines.append(f"  {_q(_slug(c))}: {{column: {_q(c)}, type: {kind}}}")
            else:
                unused.append(c)
    if not outcomes:
        raise PainstudyError(
            f"{data_file or 'data'}: no numeric column changes between visits, so no outcome "
            f"was recognised; declare the outcomes in study.yml yourself"
        )
    # --- the YAML text -----------------------------------------------------------------------
    lines += [
        f"# Drafted by `painstudy init` from {data_file or 'the data'}: every line marked CHECK is a guess",
        "# that a person must confirm. Then run `painstudy validate` on this folder.",
        f"name: {_q(name)}",
        f"title: {_q(name)}  # CHECK: a descriptive title",
        "data:",
        f"  file: {_q(data_file or 'data.csv')}",
        f"  layout: {'long' if long else 'wide'}",
        f"subject: {_q(subject)}"
        + ("" if _ID.match(subject.strip()) else "  # CHECK: the column taken as the subject identifier"),
        f"arm: {{column: {_q(arm)}}}" + ("" if _ARM.match(arm.strip()) else "  # CHECK: the column taken as the arm"),
        "arms:",
    ]
    for value in sorted(raw[arm].dropna().unique(), key=_natural_key):
        mods, control = _modalities(value)
        label = str(value)
        note = (
            "  # CHECK: modalities and control guessed from the label"
            if mods
            else "  # CHECK: name this arm's modalities (see `painstudy.study.MODALITY_DOMAINS`)"
        )
        lines.append(
            f"  - {{name: {_q(_slug(value))}, label: {_q(label)}, codes: [{_q(value)}], "
            f"modalities: [{', '.join(mods)}]{', control: true' if control else ''}}}{note}"
        )
        confirm.append(f"arms: {label!r}: modalities [{', '.join(mods)}]{' (control)' if control else ''}")
    if long:
        lines.append(
            f"visit: {{column: {_q(roles['visit'])}" + (f", week: {_q(roles['week'])}}}" if roles["week"] else "}")
        )
    lines.append("visits:")
    last = -math.inf
    for vname, wk, base, codes, note in visits:
        week = wk if wk is not None and wk > last else (last + 1 if math.isfinite(last) else 0)
        last = week
        guess = ""
        if wk is None or wk != week:
            guess = "  # CHECK: week not readable from the label"
            confirm.append(f"visits.{vname}: week {week:g} is a placeholder")
        elif note:
            guess = f"  # CHECK: {note}; set its week"
            confirm.append(f"visits.{vname}: {note}")
        code = f", codes: [{', '.join(_q(c) for c in codes)}]" if codes else ""
        window = ""
        if roles["week"] and codes:
            actual = _numeric(raw.loc[raw[roles["visit"]].isin(codes), roles["week"]]).dropna()
            actual = actual[actual.map(math.isfinite)]  # infinities are for `painstudy validate` to report
            lo, hi = (math.floor(actual.min()), math.ceil(actual.max())) if len(actual) else (week, week)
            lo, hi = min(lo, week), max(hi, week)
            window = f", window: [{lo:g}, {hi:g}]"
            confirm.append(f"visits.{vname}: window [{lo:g}, {hi:g}] weeks is the range observed in the data")
        lines.append(
            f"  - {{name: {_q(vname)}, week: {week:g}{window}{', baseline: true' if base else ''}{code}}}{guess}"
        )
    if site:
        lines.append(f"site: {{column: {_q(site)}, type: categorical}}")
    if condition:
        lines.append(f"condition: {{column: {_q(condition)}, type: categorical}}")
    if covariate_lines:
        lines += ["covariates:  # CHECK: keep the baseline characteristics you adjust for or describe"]
        lines += covariate_lines
        confirm.append(f"covariates: {len(covariate_lines)} subject-level columns were listed as covariates")
    if completer or reason:
        lines.append("disposition:")
        if completer:
            lines.append(f"  completer: {_q(completer)}")
        if reason:
            lines.append(f"  withdrawal_reason: {_q(reason)}")
    lines.append("outcomes:")
    lines += outcome_lines
    if unused:
        shown = ", ".join(unused[:40]) + (f" and {len(unused) - 40} more" if len(unused) > 40 else "")
        lines.append(f"# columns not used (add them as covariates or outcomes if needed): {shown}")
    return Draft(name, "long" if long else "wide", roles, outcomes, "\n".join(lines) + "\n", confirm)


# -------------------------------------------------------------------------------------------
# writing the study folder
# -------------------------------------------------------------------------------------------

_README = """# {name}

Drafted by `painstudy init`{source}. Next steps:

1. Open `study.yml` and confirm every line marked `CHECK` (instruments, arms and their
   modalities, visit weeks and windows, covariates).
2. `painstudy validate {folder}` checks every rule and lists every problem with its file, column,
   row and rule.
3. `painstudy report {folder}` runs the notebooks into `reports/{name}/` in the current folder.
   The notebooks are also in `notebooks/` here, ready for JupyterLab.
"""


def _point_at_study(notebook_json: str) -> str:
    """The notebook with its ``study`` parameter defaulting to ``../study.yml`` (the study folder's)."""
    import json

    nb = json.loads(notebook_json)
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            src = re.sub(r'^(study(?:\s*:\s*str)?\s*=\s*)"[^"]*"', r'\1"../study.yml"', src, count=1, flags=re.M)
            cell["source"] = src
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def init_study(folder: str | Path, *, data: str | Path | None = None, name: str | None = None) -> Draft:
    """Create a study folder: ``study.yml`` (drafted from ``data``, else a copy of the demo study with
    its data), ``notebooks/`` and ``README.md``. Nothing that exists is overwritten.

    Returns the :class:`Draft` (its ``to_confirm`` lists what a person must check).
    """
    from importlib import resources

    from .errors import DataFileError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataFileError(f"{folder}: exists and is not a folder")
    targets = [folder / "study.yml", folder / "README.md", folder / "notebooks"]
    clash = [str(t) for t in targets if t.exists()]
    if clash:
        raise DataFileError(
            f"{folder}: {', '.join(clash)} already exist; painstudy init never overwrites: "
            f"choose an empty or new folder"
        )
    if name is not None and study_name_problem(name):
        raise PainstudyError(f"--name: {study_name_problem(name)}")
    name = name or _slug(folder.resolve().name)
    studies = resources.files("painstudy.datasets") / "studies"
    if data is None:
        demo = studies / "demo"
        text = (demo / "study.yml").read_text(encoding="utf-8").replace("name: demo", f"name: {name}", 1)
        draft = Draft(name, "long", {}, {}, text, [])
        # the data and the files study.yml names beside it (daily diary, prescription records)
        extra = {
            f: (demo / f).read_bytes() for f in ("data.csv", "diary.csv", "medication.csv") if (demo / f).is_file()
        }
        source = " from the bundled demo study (simulated data)"
    else:
        data = Path(data)
        if not data.is_file():
            raise DataFileError(f"{data}: data file not found")
        try:
            rel = data.resolve().relative_to(folder.resolve())
            data_ref, outside = rel.as_posix(), False
        except ValueError:
            data_ref, outside = str(data.resolve()), True
        draft = draft_study(data, name=name, data_file=data_ref)
        if outside:
            draft.yaml = draft.yaml.replace(
                "  layout:", "  outside_study_folder: true  # the file is not in this folder\n  layout:", 1
            )
        extra = {}
        source = f" from {data}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yml").write_text(draft.yaml, encoding="utf-8")
    for fname, content in extra.items():
        if not (folder / fname).exists():
            (folder / fname).write_bytes(content)
    nb_dir = folder / "notebooks"
    nb_dir.mkdir()
    for nb in sorted(resources.files("painstudy.notebooks").iterdir(), key=lambda p: p.name):
        if nb.name.endswith(".ipynb") and not nb.name.startswith("05_"):
            (nb_dir / nb.name).write_text(_point_at_study(nb.read_text(encoding="utf-8")), encoding="utf-8")
    (folder / "README.md").write_text(_README.format(name=name, source=source, folder=folder), encoding="utf-8")
    return draft
