"""The rules a study definition keeps, checked whenever a :class:`~painstudy.study.StudySpec` is made.

:func:`study_problems` lists every broken rule of a definition as ``(code, field path, message)``; the
codes are those of :mod:`painstudy.validation_rules`. The names reserved for the canonical tables and
the normalisation of raw codes (``1``, ``1.0`` and ``"1"`` are one code) live here too, since the rules
are written in their terms.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .study import StudySpec, Variable

#: Names that cannot name an outcome, covariate or subject-level outcome: the canonical columns.
RESERVED_NAMES = ("subject", "arm", "arm_class", "visit", "week", "site", "condition")
#: Other columns of the canonical tables (``Cohort.visits`` / ``Cohort.subjects``).
TABLE_COLUMNS = ("week_actual", "completer", "withdrawn", "withdrawal_reason", "last_visit", "last_week")
#: Columns derived from each outcome ``o``: ``o_baseline``, ``o_change``, ...
DERIVED_SUFFIXES = ("baseline", "change", "improvement", "pct_improvement")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_INTLIKE = re.compile(r"[+-]?\d+\.0*")


def normalise_code(value: Any) -> str | None:
    """A raw code as a comparable string: 1, 1.0 and "1" are the same code; missing is None.

    >>> normalise_code(1.0), normalise_code(" 2 "), normalise_code("3.0"), normalise_code("a"), normalise_code(None)
    ('1', '2', '3', 'a', None)
    """
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer, bool, np.bool_)):
        return str(int(value))
    s = str(value).strip()
    if _INTLIKE.fullmatch(s):
        return str(int(float(s)))
    return s


def study_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a study (it names report folders), or None."""
    if isinstance(name, str) and _STUDY_NAME.fullmatch(name):
        return None
    return f"{name!r} cannot name a study: use letters, digits, _, - and . (it names report folders)"


def study_problems(spec: StudySpec) -> list[tuple[str, str, str]]:
    """Every broken rule of a study definition, as ``(code, field path, message)``.

    Checked: layout; at least one arm and one visit; one control arm and one baseline visit at
    most; arm and visit names unique and their codes disjoint (``1``, ``1.0`` and ``"1"`` are
    the same code); visits in increasing week order with the baseline first; each window
    containing its week; a visit column for long files; outcome columns fitting the layout;
    ``missing_with`` naming another outcome; instrument overrides with ``min < max``; names of
    outcomes, covariates and subject-level outcomes being identifiers that are not reserved
    (:data:`RESERVED_NAMES`, :data:`TABLE_COLUMNS`) and do not clash with each other or with
    derived columns (``{outcome}_baseline``, ...); variables having a column or a value.
    """
    out: list[tuple[str, str, str]] = []
    add = lambda code, path, msg: out.append((code, path, msg))  # noqa: E731
    if study_name_problem(spec.name):
        add("invalid_name", "name", study_name_problem(spec.name))
    if spec.layout not in ("long", "wide"):
        add("invalid_value", "data.layout", f"must be 'long' or 'wide', not {spec.layout!r}")
    if not spec.arms:
        add("missing_key", "arms", "no arms declared")
    if not spec.visits:
        add("missing_key", "visits", "no visits declared")
    _unique_names(spec.arms, "arms", "arm", add)
    _unique_names(spec.visits, "visits", "visit", add)
    _disjoint_codes(spec.arms, "arms", "arm", add)
    _disjoint_codes(spec.visits, "visits", "visit", add)
    controls = [i for i, a in enumerate(spec.arms) if a.control]
    for i in controls[1:]:
        add(
            "multiple_controls",
            f"arms[{i}].control",
            f"arm {spec.arms[i].name!r} is marked control, and so is arm {spec.arms[controls[0]].name!r}: "
            "at most one arm is the control",
        )
    baselines = [i for i, v in enumerate(spec.visits) if v.baseline]
    for i in baselines[1:]:
        add(
            "multiple_baselines",
            f"visits[{i}].baseline",
            f"visit {spec.visits[i].name!r} is marked baseline, and so is {spec.visits[baselines[0]].name!r}",
        )
    if baselines and baselines[0] != 0:
        add(
            "visits_out_of_order",
            f"visits[{baselines[0]}].baseline",
            f"the baseline visit {spec.visits[baselines[0]].name!r} must be listed first",
        )
    for i, v in enumerate(spec.visits):
        lo, hi = v.window
        if not (lo <= v.week <= hi):
            add(
                "invalid_window",
                f"visits[{i}].window",
                f"window [{lo:g}, {hi:g}] of visit {v.name!r} must contain its week {v.week:g} (low <= week <= high)",
            )
        if i and v.week <= spec.visits[i - 1].week:
            prev = spec.visits[i - 1]
            add(
                "visits_out_of_order",
                f"visits[{i}].week",
                f"visit {v.name!r} (week {v.week:g}) is listed after {prev.name!r} (week {prev.week:g}): list the "
                "visits in increasing week order",
            )
    if spec.layout == "long" and not spec.visit_column:
        add("missing_key", "visit.column", "a long file needs the column holding the visit (visit: {column: ...})")
    if spec.layout == "wide" and (spec.visit_column or spec.time_column):
        add(
            "invalid_value",
            "visit",
            "a wide file has no visit column: remove `visit:` (columns per visit go under each outcome's `columns:`)",
        )
    _outcome_problems(spec, add)
    _estimand_problems(spec, add)
    _name_problems(spec, add)
    for key, var in _variables(spec):
        _variable_problems(var, key, add)
    return out


def _estimand_problems(spec, add) -> None:
    for name in spec.estimands:
        if name not in spec.outcomes:
            add(
                "unknown_outcome",
                f"estimands.{name}",
                f"estimand of {name!r}, which is not an outcome of the study ({', '.join(spec.outcomes)})",
            )
    ev = spec.events
    if ev is not None and ev.withdrawal and not spec.withdrawal_reason:
        add(
            "missing_key",
            "intercurrent_events.withdrawal",
            "events from withdrawals need the column of withdrawal reasons (disposition: {withdrawal_reason: ...})",
        )
    if ev is not None and not ev.withdrawal and not ev.file:
        add("missing_key", "intercurrent_events", "give `withdrawal:`, `file:` or both")
    if spec.estimands and ev is None:
        add(
            "missing_key",
            "estimands",
            "estimands name strategies for intercurrent events, but the study declares none (intercurrent_events:)",
        )


def _unique_names(items, key: str, what: str, add) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.name in seen:
            add(
                "duplicate_name",
                f"{key}[{i}].name",
                f"{what} name {item.name!r} is used twice ({key}[{seen[item.name]}] and {key}[{i}])",
            )
        seen.setdefault(item.name, i)


def _disjoint_codes(items, key: str, what: str, add) -> None:
    owner: dict[str, str] = {}
    for i, item in enumerate(items):
        for code in item.codes:
            c = normalise_code(code)
            other = owner.get(c)
            if other is not None and other != item.name:
                add(
                    "overlapping_codes",
                    f"{key}[{i}].codes",
                    f"code {code!r} of {what} {item.name!r} also means {what} {other!r}: each code must pick out one "
                    f"{what} (a {what}'s codes default to its name)",
                )
            owner.setdefault(c, item.name)


def _outcome_problems(spec: StudySpec, add) -> None:
    visits = {v.name for v in spec.visits}
    for name, o in spec.outcomes.items():
        path = f"outcomes.{name}"
        if o.derived_from:
            pass  # derived from another source (Cohort.with_outcomes), not read from a column
        elif spec.layout == "long":
            if not o.column:
                add("missing_key", f"{path}.column", "a long file needs the column holding the score")
            if o.columns:
                add(
                    "invalid_value",
                    f"{path}.columns",
                    "`columns:` (a column per visit) is for wide files; a long file names one `column:`",
                )
        else:
            if not o.columns:
                add("missing_key", f"{path}.columns", "a wide file needs `columns:` mapping visit names to columns")
            for visit in o.columns:
                if visit not in visits:
                    add(
                        "unknown_visit",
                        f"{path}.columns.{visit}",
                        f"{visit!r} is not a visit of the schedule ({', '.join(v.name for v in spec.visits)})",
                    )
            if o.column:
                add(
                    "invalid_value",
                    f"{path}.column",
                    "a wide file maps each visit to a column under `columns:`; remove `column:`",
                )
        if o.missing_with is not None and (o.missing_with not in spec.outcomes or o.missing_with == name):
            add(
                "unknown_outcome",
                f"{path}.missing_with",
                f"must name another outcome of the study ({', '.join(n for n in spec.outcomes if n != name) or 'none'}),"
                f" not {o.missing_with!r}",
            )
        if not (o.multiply > 0 and math.isfinite(o.multiply)):
            add("invalid_value", f"{path}.multiply", f"must be a positive number, not {o.multiply!r}")
        if not o.instrument.min < o.instrument.max:
            add(
                "invalid_value",
                f"{path}.max",
                f"the range [{o.instrument.min:g}, {o.instrument.max:g}] is empty: min must be below max",
            )


def _variables(spec: StudySpec):
    for key in ("site", "condition"):
        if getattr(spec, key) is not None:
            yield key, getattr(spec, key)
    for v in spec.covariates:
        yield f"covariates.{v.name}", v
    for v in spec.extras:
        yield f"subject_outcomes.{v.name}", v


def _name_problems(spec: StudySpec, add) -> None:
    taken = set(RESERVED_NAMES) | set(TABLE_COLUMNS)
    derived = {f"{o}_{s}": o for o in spec.outcomes for s in DERIVED_SUFFIXES}
    owners: dict[str, str] = {}
    named = [(f"outcomes.{n}", n, "outcome") for n in spec.outcomes]
    named += [(f"covariates.{v.name}", v.name, "covariate") for v in spec.covariates]
    named += [(f"subject_outcomes.{v.name}", v.name, "subject-level outcome") for v in spec.extras]
    for path, name, what in named:
        if name in taken:
            add(
                "reserved_name",
                path,
                f"{name!r} names a column of the canonical tables ({', '.join(RESERVED_NAMES)}, "
                f"{', '.join(TABLE_COLUMNS)}) and cannot name a {what}; rename it (e.g. {name}_score)",
            )
        elif not _IDENTIFIER.fullmatch(name):
            add(
                "invalid_name",
                path,
                f"{name!r} cannot name a {what}: use letters, digits and _ (not starting with a "
                "digit), so that it works as a column and in model formulas",
            )
        elif name in derived:
            add(
                "name_clash",
                path,
                f"{name!r} is the derived column {name} of outcome {derived[name]!r}; rename the {what}",
            )
        elif name in owners:
            add("name_clash", path, f"{name!r} names both a {owners[name]} and a {what}; rename one")
        owners.setdefault(name, what)


def _variable_problems(var: Variable, path: str, add) -> None:
    if var.kind not in ("numeric", "categorical"):
        add("invalid_value", f"{path}.type", f"must be numeric or categorical, not {var.kind!r}")
    if var.column is None and var.constant is None:
        add(
            "missing_key",
            f"{path}.column",
            "give the column holding the values (column: ...) or a constant (value: ...)",
        )
    if var.column is not None and var.constant is not None:
        add("invalid_value", f"{path}.value", "give either column: or value:, not both")
    numeric = var.kind == "numeric"
    if numeric and var.values and not all(_is_number(x) for x in var.values.values()):
        add(
            "invalid_value",
            f"{path}.values",
            "a numeric variable recodes to numbers; use type: categorical for text values",
        )
    if numeric and var.constant is not None and not _is_number(var.constant):
        add("invalid_value", f"{path}.value", f"a numeric variable needs a number, not {var.constant!r}")
    if (var.min is not None or var.max is not None) and not numeric:
        add("invalid_value", f"{path}.min", "min and max apply to numeric variables")
    if var.min is not None and var.max is not None and not var.min < var.max:
        add("invalid_value", f"{path}.max", f"the range [{var.min:g}, {var.max:g}] is empty: min must be below max")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
