"""Data contracts (pandera) for the canonical tables of a :class:`~painstudy.cohort.Cohort`.

Every model, plot and report downstream relies on these columns and types; the loader checks
them (lazily, every failure at once) before it hands a cohort out, so a bug upstream surfaces
as a clear :class:`~painstudy.errors.CohortError` (rule code ``table_contract``, rows numbered
from 1 in the canonical table) instead of a wrong number later.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .errors import FAILURE_COLUMNS, CohortError
from .study import ARM_CLASSES, StudySpec

#: Numbers in the canonical tables are finite (missing values are NaN, never an infinity).
FINITE = pa.Check(lambda s: ~np.isinf(s.astype(float)), name="finite", error="finite (no infinities)")


def subjects_schema(spec: StudySpec) -> pa.DataFrameSchema:
    """One row per randomised subject: identifiers, arm and class, disposition, baselines."""
    arms = [a.name for a in spec.arms]
    cols = {
        "subject": pa.Column(str, unique=True, nullable=False),
        "arm": pa.Column(pd.CategoricalDtype(arms), pa.Check.isin(arms), nullable=False),
        "arm_class": pa.Column(pd.CategoricalDtype(list(ARM_CLASSES)), nullable=False),
        "site": pa.Column(nullable=True),
        "condition": pa.Column(nullable=True),
        "completer": pa.Column(bool, nullable=False),
        "withdrawn": pa.Column(bool, nullable=False),
        "last_week": pa.Column(float, nullable=True),
    }
    for name, o in spec.outcomes.items():
        inst = o.instrument
        cols[f"{name}_baseline"] = pa.Column(float, [pa.Check.in_range(inst.min, inst.max), FINITE], nullable=True)
    for v in (*spec.covariates, *spec.extras):
        numeric = v.kind == "numeric"
        cols[v.name] = pa.Column(float if numeric else None, FINITE if numeric else None, nullable=True)
    return pa.DataFrameSchema(cols, strict=False, name=f"{spec.name} subjects")


def visits_schema(spec: StudySpec) -> pa.DataFrameSchema:
    """One row per subject x scheduled visit, outcomes within their instruments' ranges."""
    visits = spec.visit_names
    weeks = sorted({v.week for v in spec.visits})
    cols = {
        "subject": pa.Column(str, nullable=False),
        "arm": pa.Column(pd.CategoricalDtype([a.name for a in spec.arms]), nullable=False),
        "arm_class": pa.Column(pd.CategoricalDtype(list(ARM_CLASSES)), nullable=False),
        "visit": pa.Column(pd.CategoricalDtype(visits, ordered=True), nullable=False),
        "week": pa.Column(float, pa.Check.isin(weeks), nullable=False),
    }
    for name, o in spec.outcomes.items():
        inst = o.instrument
        cols[name] = pa.Column(float, [pa.Check.in_range(inst.min, inst.max), FINITE], nullable=True)
        for suffix in ("baseline", "change", "improvement", "pct_improvement"):
            cols[f"{name}_{suffix}"] = pa.Column(float, FINITE, nullable=True)
    return pa.DataFrameSchema(cols, strict=False, unique=["subject", "visit"], name=f"{spec.name} visits")


def check_cohort_tables(spec: StudySpec, subjects: pd.DataFrame, visits: pd.DataFrame, source: str) -> None:
    """Validate both canonical tables; raise CohortError listing every failure."""
    rows = []
    for schema, frame in ((subjects_schema(spec), subjects), (visits_schema(spec), visits)):
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as e:
            for f in e.failure_cases.itertuples():
                index = f.index if isinstance(f.index, (int, np.integer)) and not pd.isna(f.index) else None
                rows.append(
                    {
                        "code": "table_contract",
                        "file": f"{source} ({schema.name})",
                        "line": None,
                        "row": None if index is None else int(index) + 1,
                        "column": f.column,
                        "subject": None,
                        "value": f.failure_case,
                        "rule": f"canonical table contract ({schema.name}): {f.check}",
                    }
                )
    if rows:
        table = pd.DataFrame(rows, columns=FAILURE_COLUMNS)
        table[["line", "row"]] = table[["line", "row"]].astype("Int64")
        raise CohortError(
            f"{source}: the canonical tables break their contract (a bug in painstudy, please report)", table
        )
