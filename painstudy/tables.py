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

import itertools
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


def table1(
    cohort: Cohort,
    *,
    by: str = "arm",
    total: bool = True,
    tidy: bool = False,
    digits: int = 1,
    smd: bool = True,
    pvalues: bool = False,
) -> pd.DataFrame:
    """Baseline characteristics by arm.

    Numeric variables: n, mean (SD), median [IQR], missing. Categorical variables (and 0/1
    indicators): count (%) per level, percentages of the non-missing, and missing. A group
    with nothing to summarise (an arm with no subjects, or only missing values) shows ``-``
    (:data:`EMPTY`), never ``nan``; so does an SD of a single value. The standardised mean
    difference of each variable (:func:`smd_table`; with more than two groups the largest over the
    pairs) is shown beside it, as balance diagnostics are; p-values are off by default (CONSORT 2010,
    item 15: baseline differences in a randomised trial are due to chance by definition).

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
    smd : bool
        Add the column ``SMD`` (two groups) or ``max SMD`` (more groups).
    pvalues : bool
        Add the column ``p``: one-way ANOVA F test (numeric) or Pearson's chi-squared test without
        continuity correction (categorical) across the groups.
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
    table, first = _format_table1(long, [g for g, _ in groups], {g: len(d) for g, d in groups}, digits)
    named = [(g, d) for g, d in groups if not (total and g == "Total")]
    extra = {}
    if smd and len(named) >= 2:
        pairs = _smd_rows(cohort, named)
        worst = pairs.groupby("variable", sort=False)["smd"].max() if len(pairs) else pd.Series(dtype=float)
        extra["SMD" if len(named) == 2 else "max SMD"] = {v: _fmt("{:.2f}", x) for v, x in worst.items()}
    if pvalues and len(named) >= 2:
        extra["p"] = {col: _format_p(_pvalue(named, col, kind)) for col, _, kind in _table1_variables(cohort)}
    for name, values in extra.items():
        column = pd.Series("", index=table.index)
        for var, row in first.items():
            column.loc[row] = values.get(var, "")
        table[name] = column
    return table


def smd_table(cohort: Cohort, *, by: str = "arm") -> pd.DataFrame:
    """Standardised mean differences of the Table 1 variables between every pair of groups.

    Numeric: ``|m1 - m2| / sqrt((s1^2 + s2^2) / 2)``. Categorical (and 0/1) with k levels:
    ``sqrt(d' S^-1 d)``, ``d`` the differences in the proportions of levels 2..k and ``S`` the mean of
    the two groups' multinomial covariance matrices (Yang & Dalton 2012; R tableone's definition).
    Missing values are left out. Columns: ``variable, label, group_1, group_2, smd``; groups are the
    arms in the study's order when ``by="arm"``. An SMD above 0.1 is the usual mark of imbalance.
    """
    subj = cohort.subjects
    if by == "arm":
        order = [a.name for a in cohort.spec.arms]
        groups = [(a, subj[subj["arm"].astype(str) == a]) for a in order]
    else:
        groups = [(str(g), d) for g, d in subj.groupby(by, observed=True, sort=True)]
    return _smd_rows(cohort, groups)


def _smd_rows(cohort: Cohort, groups: list) -> pd.DataFrame:
    rows = []
    levels_of = {}
    for col, label, kind in _table1_variables(cohort):
        if kind != "numeric":
            levels_of[col] = sorted(pd.unique(cohort.subjects[col].dropna()), key=str)
        for (g1, d1), (g2, d2) in itertools.combinations(groups, 2):
            x, y = d1[col].dropna(), d2[col].dropna()
            if kind == "numeric":
                x, y = x.astype(float), y.astype(float)
                sd = np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2) if len(x) > 1 and len(y) > 1 else np.nan
                value = abs(x.mean() - y.mean()) / sd if sd and np.isfinite(sd) else np.nan
            else:
                value = _smd_categorical(x, y, levels_of[col])
            rows.append({"variable": col, "label": label, "group_1": g1, "group_2": g2, "smd": value})
    return pd.DataFrame(rows, columns=["variable", "label", "group_1", "group_2", "smd"])


def _smd_categorical(x: pd.Series, y: pd.Series, levels: list) -> float:
    if not len(x) or not len(y) or len(levels) < 2:
        return np.nan
    p = np.array([(x == lv).mean() for lv in levels])[1:]
    q = np.array([(y == lv).mean() for lv in levels])[1:]

    def cov(v):
        c = -np.outer(v, v)
        np.fill_diagonal(c, v * (1 - v))
        return c

    d = p - q
    return float(np.sqrt(max(d @ np.linalg.pinv((cov(p) + cov(q)) / 2) @ d, 0.0)))


def _pvalue(groups: list, col: str, kind: str) -> float:
    from scipy import stats

    values = [d[col].dropna() for _, d in groups]
    values = [v for v in values if len(v)]
    if len(values) < 2:
        return np.nan
    if kind == "numeric":
        arrays = [v.to_numpy(float) for v in values]
        if sum(len(a) for a in arrays) <= len(arrays):
            return np.nan
        return float(stats.f_oneway(*arrays).pvalue)
    levels = sorted(set().union(*[set(v) for v in values]), key=str)
    counts = np.array([[int((v == lv).sum()) for lv in levels] for v in values])
    counts = counts[:, counts.sum(axis=0) > 0]
    if counts.shape[1] < 2:
        return np.nan
    return float(stats.chi2_contingency(counts, correction=False)[1])


def _format_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return EMPTY
    return "<0.001" if p < 0.001 else f"{p:.3f}"


#: What Table 1 shows where a group has no value to summarise (an empty arm, or all missing).
EMPTY = "-"


def _fmt(f: str, x: float) -> str:
    return EMPTY if x is None or not np.isfinite(x) else f.format(x)


def _format_table1(long: pd.DataFrame, groups: list[str], sizes: dict, digits: int) -> tuple[pd.DataFrame, dict]:
    """The formatted table, and the row of each variable where its SMD and p-value go (its first)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    first: dict[str, tuple[str, str]] = {}
    for (_var, label), block in long.groupby(["variable", "label"], sort=False):
        before = len(out)
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
        if len(out) > before:
            first[_var] = list(out)[before]
    table = pd.DataFrame.from_dict(out, orient="index")[groups]
    table.index = pd.MultiIndex.from_tuples(table.index, names=["characteristic", "statistic"])
    table.columns = [f"{g} (n = {sizes[g]})" for g in groups]
    return table.fillna(""), first


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
