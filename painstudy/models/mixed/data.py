"""Checks shared by the mixed models' data preparation: the frame, its columns, the outcome, the design.

Every check raises :class:`~painstudy.errors.ModelError` with a message naming the column (and the row and
value where there is one) and the rule.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from painstudy.errors import ModelError

__all__ = ["check_frame", "check_columns", "check_outcome", "check_full_rank"]


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


def check_full_rank(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The design must have columns and full column rank (column-scaled eigenvalue check); returns ``X'X``."""
    if X.shape[1] == 0:
        raise ModelError("the model has no fixed effects; add an intercept or a term")
    XtX = X.T @ X
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
