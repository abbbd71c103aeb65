"""Descriptive tables: Table 1 (baseline characteristics by arm) and CONSORT disposition.

Both functions take a :class:`~painstudy.cohort.Cohort` and return DataFrames that render as
HTML tables in JupyterLab. ``table1(..., tidy=True)`` gives the numbers behind Table 1 in long
form (one row per variable x level x arm), which is what tests and reproductions compare.

Examples
--------
>>> import painstudy
>>> cohort = painstudy.load_cohort("demo")
>>> flow = cohort.disposition()
>>> int(flow.loc["randomised", "Total"])
400
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from .cohort import Cohort

_MAX_LEVELS = 12


def _is_binary(x: pd.Series) -> bool:
    vals = set(pd.unique(x.dropna()))
    return bool(vals) and vals <= {0, 1}


def _table1_variables(cohort: Cohort) -> list[tuple[str, str, str]]:
    """(column, label, kind) for each row group of Table 1."""
    spec = cohort.spec
    out = []
    if spec.condition is not None and spec.condition.column is not None:
        out.append(("condition", "Condition", "categorical"))
    for v in spec.covariates:
        col = cohort.subjects[v.name]
        if v.kind == "categorical" and col.nunique() > _MAX_LEVELS:
            continue
        if v.kind == "numeric" and _is_binary(col):
            out.append((v.name, v.label, "binary"))
        else:
            out.append((v.name, v.label, v.kind))
    for o in spec.outcomes.values():
        out.append((f"{o.name}_baseline", f"{o.label} at baseline", "numeric"))
    return out


def _numeric_rows(x: pd.Series) -> dict:
    x = x.astype(float)
    n = int(x.notna().sum())
    if n == 0:  # nothing to summarise (numpy would warn about empty slices)
        return {
            "n": 0,
            **{k: np.nan for k in ("mean", "sd", "median", "q1", "q3", "min", "max")},
            "missing": int(x.isna().sum()),
        }
    return {
        "n": n,
        "mean": x.mean(),
        "sd": x.std(ddof=1),
        "median": x.median(),
        "q1": x.quantile(0.25),
        "q3": x.quantile(0.75),
        "min": x.min(),
        "max": x.max(),
        "missing": int(x.isna().sum()),
    }


def table1(cohort: Cohort, *, by: str = "arm", total: bool = True, tidy: bool = False, digits: int = 1) -> pd.DataFrame:
    """Baseline characteristics by arm.

    Numeric variables: n, mean (SD), median [IQR], missing. Categorical variables (and 0/1
    indicators): count (%) per level, percentages of the non-missing, and missing. A group
    with nothing to summarise (an arm with no subjects, or only missing values) shows ``-``
    (:data:`EMPTY`), never ``nan``; so does an SD of a single value.

    Parameters
    ----------
    cohort : Cohort
    by : str
        Column of ``cohort.subjects`` to split by (default the arm).
    total : bool
        Add a Total column.
    tidy : bool
        Return the numbers in long form (columns ``variable, label, level, group, n, mean, sd,
        median, q1, q3, count, percent, missing``) instead of the formatted table.
    digits : int
        Decimals of the formatted table.
    """
    subj = cohort.subjects
    groups = [(str(g), d) for g, d in subj.groupby(by, observed=False, sort=False)]
    if by == "arm":
        labels = {a.name: a.label for a in cohort.spec.arms}
        order = [a.name for a in cohort.spec.arms]
        groups = sorted(groups, key=lambda gd: order.index(gd[0]) if gd[0] in order else 99)
        groups = [(labels.get(g, g), d) for g, d in groups]
    if total:
        groups.append(("Total", subj))
    rows = []
    for col, label, kind in _table1_variables(cohort):
        for g, d in groups:
            x = d[col]
            if kind == "numeric":
                rows.append({"variable": col, "label": label, "level": "", "group": g, **_numeric_rows(x)})
            else:
                nonmiss = x.dropna()
                if kind == "binary":
                    levels = [1.0]
                elif isinstance(x.dtype, pd.CategoricalDtype):
                    levels = list(x.cat.categories)
                else:
                    levels = sorted(pd.unique(subj[col].dropna()), key=str)
                for lev in levels:
                    k = int((nonmiss == lev).sum())
                    rows.append(
                        {
                            "variable": col,
                            "label": label,
                            "level": "yes" if kind == "binary" else str(lev),
                            "group": g,
                            "n": len(nonmiss),
                            "count": k,
                            "percent": 100 * k / len(nonmiss) if len(nonmiss) else np.nan,
                            "missing": int(x.isna().sum()),
                        }
                    )
    long = pd.DataFrame(rows)
    if tidy:
        return long
    return _format_table1(long, [g for g, _ in groups], {g: len(d) for g, d in groups}, digits)


#: What Table 1 shows where a group has no value to summarise (an empty arm, or all missing).
EMPTY = "-"


def _fmt(f: str, x: float) -> str:
    return EMPTY if x is None or not np.isfinite(x) else f.format(x)


def _format_table1(long: pd.DataFrame, groups: list[str], sizes: dict, digits: int) -> pd.DataFrame:
    out: dict[tuple[str, str], dict[str, str]] = {}
    for (_var, label), block in long.groupby(["variable", "label"], sort=False):
        if block["level"].eq("").all():
            # one more decimal for variables on a 0-1 scale (e.g. a VAS in units)
            spread = np.abs(block[["q3", "max"]].to_numpy(float))
            small = bool(np.isfinite(spread).any()) and np.nanmax(spread) <= 1
            f = f"{{:.{digits + (1 if small else 0)}f}}"
            for g, r in block.set_index("group").iterrows():
                if not r["n"]:
                    out.setdefault((label, "mean (SD)"), {})[g] = EMPTY
                    out.setdefault((label, "median [IQR]"), {})[g] = EMPTY
                else:
                    out.setdefault((label, "mean (SD)"), {})[g] = f"{_fmt(f, r['mean'])} ({_fmt(f, r['sd'])})"
                    out.setdefault((label, "median [IQR]"), {})[g] = (
                        f"{_fmt(f, r['median'])} [{_fmt(f, r['q1'])}, {_fmt(f, r['q3'])}]"
                    )
                if block["missing"].sum() > 0:
                    out.setdefault((label, "missing"), {})[g] = str(int(r["missing"]))
        else:
            for (lev, g), r in block.set_index(["level", "group"]).iterrows():
                name = label if lev == "yes" else f"{label}: {lev}"
                out.setdefault((name, "n (%)"), {})[g] = f"{int(r['count'])} ({r['percent']:.0f}%)" if r["n"] else EMPTY
            if block["missing"].sum() > 0:
                for g, r in block.drop_duplicates("group").set_index("group").iterrows():
                    out.setdefault((label, "missing"), {})[g] = str(int(r["missing"]))
    table = pd.DataFrame.from_dict(out, orient="index")[groups]
    table.index = pd.MultiIndex.from_tuples(table.index, names=["characteristic", "statistic"])
    table.columns = [f"{g} (n = {sizes[g]})" for g in groups]
    return table.fillna("")


def disposition(cohort: Cohort) -> pd.DataFrame:
    """The numbers of a CONSORT flow diagram, per arm and in total.

    Rows: ``randomised``; ``assessed at <visit>`` for each scheduled visit (any outcome
    recorded); ``completed`` (assessed at the last scheduled visit); ``withdrawn``; and
    ``withdrawn: <reason>`` for each recorded reason.
    """
    subj, vis, spec = cohort.subjects, cohort.visits, cohort.spec
    arms = [a.name for a in spec.arms]
    outcomes = list(spec.outcomes)
    assessed = vis.assign(_a=vis[outcomes].notna().any(axis=1))
    rows: dict[str, pd.Series] = {}
    rows["randomised"] = subj.groupby("arm", observed=False)["subject"].count()
    for v in spec.visits:
        a = assessed[(assessed["visit"] == v.name) & assessed["_a"]]
        rows[f"assessed at {v.name}"] = a.groupby("arm", observed=False)["subject"].nunique()
    rows["completed"] = subj[subj["completer"]].groupby("arm", observed=False)["subject"].count()
    rows["withdrawn"] = subj[subj["withdrawn"]].groupby("arm", observed=False)["subject"].count()
    wd = subj[subj["withdrawn"]]
    for reason, g in sorted(wd.groupby("withdrawal_reason"), key=lambda kv: -len(kv[1])):
        rows[f"withdrawn: {reason}"] = g.groupby("arm", observed=False)["subject"].count()
    table = pd.DataFrame(rows).T.reindex(columns=arms).fillna(0).astype(int)
    table["Total"] = table.sum(axis=1)
    table.index.name = "stage"
    table.columns.name = "arm"
    return table
