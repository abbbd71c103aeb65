"""Checks shared by the mixed models' data preparation: the frame, its columns, the outcome, the design.

Every check raises :class:`~painstudy.errors.ModelError` with a message naming the column (and the row and
value where there is one) and the rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from painstudy.errors import ModelError

__all__ = [
    "MAX_ABS",
    "MIN_VARIANCE",
    "plain",
    "check_frame",
    "check_columns",
    "check_outcome",
    "check_finite",
    "check_full_rank",
    "check_gram_rank",
    "numerical_failure",
]

#: Largest magnitude accepted in an outcome, covariate or weight: the likelihood's second derivatives
#: scale with the fourth power of the outcome, and beyond about 1e70 they leave double precision (the fits
#: are exact, to rounding, from 1e-70 to 1e70 times fev_data's scale).
MAX_ABS = 1e50
#: Smallest residual variance of the outcome a fit accepts (its standard deviation 1e-50), for the same reason.
MIN_VARIANCE = 1e-100


def plain(value):
    """A numpy scalar as the Python value it holds (messages show ``5``, not ``np.int64(5)``)."""
    return value.item() if isinstance(value, np.generic) else value


def check_frame(data) -> pd.DataFrame:
    """``data`` must be a pandas DataFrame."""
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    return data


def check_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Every column named in the formula must be in the data."""
    for c in dict.fromkeys(columns):
        if c not in data.columns:
            raise ModelError(f"column {c!r} named in the formula is not in the data (columns: {list(data.columns)})")


def check_outcome(data: pd.DataFrame, outcome: str) -> None:
    """The outcome column must be numeric (not boolean)."""
    y_all = data[outcome]
    if not pd.api.types.is_numeric_dtype(y_all.dtype) or pd.api.types.is_bool_dtype(y_all.dtype):
        bad = pd.to_numeric(y_all, errors="coerce").isna() & y_all.notna()
        ex = y_all[bad].iloc[0] if bad.any() else y_all.iloc[0]
        raise ModelError(
            f"column {outcome!r}: the outcome must be numeric, found dtype {y_all.dtype} (e.g. value {ex!r}); "
            f"convert it with pd.to_numeric"
        )


def check_finite(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Numeric columns of the rows used must hold finite numbers with ``|x| <= MAX_ABS`` (no ``inf``,
    ``-inf`` or absurd values such as ``1e308``); the error names the column, the first bad row and its
    value, and counts the others."""
    for c in dict.fromkeys(columns):
        col = data[c]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            continue
        x = col.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            bad = col.notna().to_numpy() & ~(np.abs(x) <= MAX_ABS)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            more = int(bad.sum()) - 1
            raise ModelError(
                f"column {c!r}, row {plain(data.index[i])!r}: value {plain(x[i])!r} is not a finite number with |value| <= "
                f"{MAX_ABS:g}"
                + (f" ({more} more row(s) like it)" if more else "")
                + "; correct it, or set it to missing to leave the row out"
            )


def numerical_failure(model: str, exc: Exception) -> ModelError:
    """The :class:`ModelError` for a linear-algebra or floating-point failure inside a fit."""
    return ModelError(
        f"{model}: the fit failed numerically ({type(exc).__name__}: {exc}); the data may be degenerate (a visit "
        f"or group with a constant outcome, perfectly correlated visits, too few subjects for the covariance "
        f"structure) or too extreme for double precision; try a simpler covariance structure or check the data"
    )


def check_full_rank(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The design must have columns and full column rank (column-scaled eigenvalue check); returns ``X'X``."""
    if X.shape[1] == 0:
        raise ModelError("the model has no fixed effects; add an intercept or a term")
    return check_gram_rank(X.T @ X, names)


def check_gram_rank(XtX: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """:func:`check_full_rank` from ``X'X`` (as built in chunks, or weighted); returns it."""
    if XtX.shape[1] == 0:
        raise ModelError("the model has no fixed effects; add an intercept or a term")
    scale = np.sqrt(np.diag(XtX))
    if np.any(scale == 0):
        j = int(np.flatnonzero(scale == 0)[0])
        raise ModelError(f"singular design: column {names[j]!r} is all zero (a level with no data?)")
    ev, evec = np.linalg.eigh(XtX / np.outer(scale, scale))
    if ev[0] < 1e-10 * ev[-1]:
        # name the aliased columns: those in the null-space direction
        aliased = [names[j] for j in np.flatnonzero(np.abs(evec[:, 0]) > 1e-3)]
        raise ModelError(
            f"singular design: the columns {aliased} are linearly dependent (aliased); remove a term or merge levels"
        )
    return XtX
