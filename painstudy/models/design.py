"""Design matrices and shared argument checks for the models that take column names, not formulas.

ANCOVA, the negative-binomial rate ratio, the responder logistic model, the Cox model and the
discrete-time model all build their design the same way, here:

- :func:`design_matrix` -- numeric columns as they are; categorical, string and object columns as
  treatment dummies named ``<column>[<level>]`` against a reference level (the first category of
  a categorical, else the first in sorted order, unless ``reference`` names one); only levels
  present in the data get a column; a missing value stays missing in every dummy (the caller
  decides, and says, what to do with incomplete rows);
- :func:`drop_constant` and :func:`drop_collinear` -- columns that carry no information, returned
  with their names so that results can say what was left out;
- :func:`distinct_covariates` -- covariates that merely recode an earlier one;
- :func:`check_columns` -- the one "unknown column" error, listing what is available;
- :func:`normal_quantile` -- the z value of a confidence level, with the level checked;
- :func:`separated_terms` -- complete or quasi-complete separation of a binary response (where
  maximum likelihood estimates are infinite), found by linear programming;
- :func:`warnings_as_notes` -- warnings of the numerical libraries turned into notes on a result,
  so that they reach the user in the result's output, not as raw warnings.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"arm": ["b", "a", "c", "a"], "age": [50, 60, 70, 80]})
>>> design_matrix(d, ["arm", "age"], reference={"arm": "a"})
   (Intercept)  arm[b]  arm[c]   age
0          1.0     1.0     0.0  50.0
1          1.0     0.0     0.0  60.0
2          1.0     0.0     1.0  70.0
3          1.0     0.0     0.0  80.0
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from scipy import special

from painstudy.errors import ModelError

__all__ = [
    "design_matrix",
    "term_levels",
    "is_categorical",
    "drop_constant",
    "drop_collinear",
    "distinct_covariates",
    "check_columns",
    "normal_quantile",
    "separated_terms",
    "warnings_as_notes",
]


def is_categorical(x: pd.Series) -> bool:
    """True for categorical, string and object columns (dummy-coded); False for numbers and booleans."""
    return isinstance(x.dtype, pd.CategoricalDtype) or x.dtype == object or pd.api.types.is_string_dtype(x)


def term_levels(x: pd.Series, reference: object | None = None) -> list:
    """The levels of a categorical column present in the data, reference level first.

    The order is the column's category order for a categorical, else sorted (numbers as numbers,
    anything else as text); ``reference`` (when given) is moved to the front.

    Raises
    ------
    ModelError
        When ``reference`` is not a level present in the data.
    """
    present = pd.unique(x.dropna())
    if isinstance(x.dtype, pd.CategoricalDtype):
        seen = set(present)
        levels = [c for c in x.cat.categories if c in seen]
    else:
        try:
            levels = sorted(present)
        except TypeError:  # mixed types: order as text
            levels = sorted(present, key=str)
    if reference is not None:
        match = [lv for lv in levels if lv == reference or str(lv) == str(reference)]
        if not match:
            raise ModelError(
                f"reference level {reference!r} of {x.name!r} has no rows; levels with data: {[str(v) for v in levels]}"
            )
        levels = [match[0]] + [lv for lv in levels if lv is not match[0]]
    return levels


def design_matrix(
    data: pd.DataFrame,
    terms: Sequence[str],
    *,
    intercept: str | None = "(Intercept)",
    reference: Mapping[str, object] | None = None,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Numeric design matrix for main-effect terms (treatment coding).

    Parameters
    ----------
    data : DataFrame
    terms : sequence of str
        Columns of ``data``. Numbers and booleans enter as they are; categorical, string and
        object columns as one 0/1 column ``<name>[<level>]`` per level other than the reference.
    intercept : str or None, default "(Intercept)"
        Name of the column of ones; ``None`` for no intercept.
    reference : mapping, optional
        Column -> reference level (default: the first level, see :func:`term_levels`).
    names : mapping, optional
        Column -> name used in the design's column names (e.g. ``{"pain_baseline": "baseline"}``).

    Returns
    -------
    DataFrame
        Same index as ``data``; a missing value of a term is missing in its column(s).

    Raises
    ------
    ModelError
        When a term is not a column of ``data`` (the available columns are listed).
    """
    check_columns(data, terms, what="term")
    reference = dict(reference or {})
    names = dict(names or {})
    cols: dict[str, np.ndarray] = {}
    if intercept is not None:
        cols[intercept] = np.ones(len(data))
    for t in terms:
        x = data[t]
        label = names.get(t, t)
        if is_categorical(x):
            miss = x.isna().to_numpy()
            for lv in term_levels(x, reference.get(t))[1:]:
                col = (x == lv).to_numpy(float)
                col[miss] = np.nan
                cols[f"{label}[{lv}]"] = col
        else:
            cols[label] = x.to_numpy(float)
    return pd.DataFrame(cols, index=data.index)


def drop_constant(X: pd.DataFrame, *, keep: Iterable[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    """Drop columns with a single value among the complete rows (except ``keep``); return the names."""
    keep = set(keep)
    rows = X.notna().all(axis=1).to_numpy()
    sub = X if rows.all() else X.loc[rows]
    const = []
    for c in X.columns:
        if c in keep:
            continue
        col = sub[c]
        if pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col):
            v = col.to_numpy()
            single = v.size == 0 or v.min() == v.max()  # no missing values here: min == max
        else:
            single = col.nunique() <= 1
        if single:
            const.append(c)
    return X.drop(columns=const), [str(c) for c in const]


def drop_collinear(X: pd.DataFrame, rows: pd.Series | None = None, tol: float = 1e-9) -> tuple[pd.DataFrame, list[str]]:
    """Drop columns that are linear combinations of earlier ones; return the names dropped.

    The rank is judged on ``rows`` (default every row without a missing value): a column is kept
    when the singular values of it and the columns kept before it are all above ``tol`` times
    the largest absolute entry (at least 1). The singular values are those of the triangular
    factor of one QR decomposition (the same as the data's, as the Q factor is orthogonal), so a
    million rows cost one pass, not one per column.
    """
    M = X.loc[rows] if rows is not None else X
    M = M.dropna().to_numpy(float)
    R = np.linalg.qr(M, mode="r") if M.size else M
    col_max = np.abs(M).max(axis=0) if M.size else np.zeros(M.shape[1])
    keep, dropped = [], []
    for j, name in enumerate(X.columns):
        cand = keep + [j]
        sub = R[:, cand]
        scale = max(1.0, float(col_max[cand].max())) if sub.size else 1.0
        if sub.size and np.linalg.matrix_rank(sub, tol=tol * scale) == len(cand):
            keep.append(j)
        else:
            dropped.append(str(name))
    return X.iloc[:, keep], dropped


def distinct_covariates(table: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """Leave out covariates that merely recode an earlier one (one-to-one mapping of values),
    e.g. ``condition`` (migraine / tension-type) and a 0/1 ``migraine`` column."""
    keep: list[str] = []
    for c in names:
        dup = False
        for k in keep:
            pair = table[[k, c]].dropna().astype(str).drop_duplicates()
            if pair[k].is_unique and pair[c].is_unique:
                dup = True
                break
        if not dup:
            keep.append(c)
    return keep


def check_columns(
    data: pd.DataFrame,
    columns: Iterable[str],
    *,
    what: str = "column",
    available: Sequence[str] | None = None,
    where: str = "the data",
) -> None:
    """Raise :class:`ModelError` naming every requested column that ``data`` lacks.

    ``available`` is the list shown to the user (default: every column of ``data``).
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        shown = list(data.columns) if available is None else list(available)
        plural = "s" if len(missing) > 1 else ""
        raise ModelError(
            f"unknown {what}{plural} {', '.join(repr(c) for c in missing)}: not in {where}; "
            f"available: {', '.join(map(str, shown)) or 'none'}"
        )


def normal_quantile(conf_level: float, name: str = "conf_level") -> float:
    """The two-sided normal quantile of a confidence level (0.95 -> 1.95996...); ``name`` is the
    argument's name in the error message.

    >>> round(normal_quantile(0.95), 4)
    1.96
    """
    try:
        ok = 0 < float(conf_level) < 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ModelError(f"{name} must be between 0 and 1 (e.g. 0.95), got {conf_level!r}")
    return float(special.ndtri(0.5 + float(conf_level) / 2))


def separated_terms(X: pd.DataFrame, y: np.ndarray, *, tol: float = 1e-7) -> list[str]:
    """Columns of ``X`` involved in a (quasi-)complete separation of the 0/1 response ``y``.

    Maximum likelihood estimates of a binary regression are finite exactly when no direction
    ``b != 0`` has ``x_i'b >= 0`` for every responder and ``x_i'b <= 0`` for every non-responder
    (Albert and Anderson 1984). The linear programme of Konis (2007) looks for such a direction
    in the box ``-1 <= b <= 1``, on columns scaled to unit maximum; an empty list means every
    estimate is finite.

    Examples
    --------
    >>> X = pd.DataFrame({"(Intercept)": 1.0, "arm[b]": [0, 0, 0, 1, 1, 1.0]})
    >>> separated_terms(X, np.array([1, 0, 1, 0, 0, 0]))  # arm b: no responder
    ['arm[b]']
    >>> separated_terms(X, np.array([1, 0, 1, 0, 1, 0]))
    []
    """
    from scipy.optimize import linprog

    M = X.to_numpy(float)
    scale = np.abs(M).max(axis=0)
    scale[scale == 0] = 1.0
    A = (2 * np.asarray(y, float) - 1)[:, None] * (M / scale)
    res = linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(len(A)), bounds=[(-1, 1)] * M.shape[1], method="highs")
    if res.status != 0 or -res.fun <= tol * len(A):
        return []
    return [str(c) for c, b in zip(X.columns, res.x) if abs(b) > 1e-6]


@contextmanager
def warnings_as_notes(notes: list[str], prefix: str = "") -> Iterator[None]:
    """Record the warnings raised in the block as notes (``prefix`` + message), each once.

    Examples
    --------
    >>> notes = []
    >>> with warnings_as_notes(notes, "fit: "):
    ...     warnings.warn("did not converge")
    >>> notes
    ['fit: did not converge']
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = f"{prefix}{w.message}"
        if text not in notes:
            notes.append(text)
