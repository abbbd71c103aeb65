"""The coefficient rows of LS means (estimated marginal means) and of contrasts among them.

An LS mean of a combination of factor levels (the ``specs`` and ``by`` factors) is ``l' beta`` with ``l`` a
weighted mean of design rows. The rows are those of the reference grid (every combination of the model's
factors, numeric covariates at their means or at ``at``), and the weights of the combinations of the other
factors follow emmeans' definitions:

* ``"equal"`` (default; SAS LSMEANS, emmeans' default): every combination of the other factors alike;
* ``"proportional"``: as often as the combination occurs in the data the model was fitted on (emmeans
  ``weights = "proportional"``);
* ``"outer"``: the product of the one-way frequencies of each other factor's levels (emmeans ``"outer"``;
  with one other factor, or factors that enter the model additively, it equals ``"proportional"``; SAS's
  ``OM`` / ``OBSMARGINS`` option also weights by the observed margins);
* ``"cells"``: as often as the full cell (with the specs and by levels) occurs: the LS means become the
  means of the fitted values of the cell's observations (emmeans ``"cells"``);
* ``"counterfactual"``: no reference grid: every observation's prediction with the specs and by factors set
  to the combination, averaged over the observations (emmeans ``counterfactuals =``, g-computation or
  standardisation; numeric covariates at their observed values unless fixed by ``at``).

Frequencies are counted on the rows used in the fit (a model fitted on a file read in chunks keeps no rows:
only equal weights). :func:`contrast_coefficients` gives the coefficient vectors of the contrast methods over
one factor's levels, from which interaction contrasts are built (Kronecker products, emmeans
``interaction =``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from painstudy.errors import ModelError
from painstudy.models.mixed.formula import DesignInfo, build_design

__all__ = [
    "WEIGHTS",
    "INTERACTION_METHODS",
    "reference_grid",
    "lsmean_rows",
    "contrast_coefficients",
    "custom_rows",
    "interaction_rows",
]

WEIGHTS = ("equal", "proportional", "outer", "cells", "counterfactual")
INTERACTION_METHODS = ("pairwise", "trt.vs.ctrl", "consec")


def reference_grid(info: DesignInfo, needed: list[str]) -> pd.DataFrame:
    """Every combination of the model's factor levels, numeric covariates at their means; ``needed`` must be
    factors of the model."""
    for c in needed:
        if c not in info.factors:
            raise ModelError(
                f"{c!r} is not a categorical term of the model; LS means are defined over the factors "
                f"{list(info.factors)}"
            )
    fac = list(info.factors)
    combos = list(itertools.product(*[info.factors[f] for f in fac]))
    grid = pd.DataFrame(combos, columns=fac) if fac else pd.DataFrame(index=[0])
    for c in info.numerics:
        grid[c] = info.numeric_means[c]
    return grid


def _codes(frame: pd.DataFrame, info: DesignInfo, col: str) -> np.ndarray:
    """The position of each row's level of factor ``col`` among the model's levels."""
    pos = {str(v): i for i, v in enumerate(info.factors[col])}
    return frame[col].astype(str).map(pos).to_numpy()


def _grid_weights(grid: pd.DataFrame, info: DesignInfo, frame: pd.DataFrame, weights: str, keys: list[str]):
    """Per grid row, its weight in the LS mean of its combination of ``keys``."""
    others = [f for f in info.factors if f not in keys]
    if weights == "equal":
        return np.ones(len(grid))
    cols = others if weights != "cells" else list(info.factors)
    if weights == "outer":
        w = np.ones(len(grid))
        for c in others:
            counts = np.bincount(_codes(frame, info, c), minlength=len(info.factors[c])).astype(float)
            w *= counts[_codes(grid, info, c)]
        return w
    if not cols:
        return np.ones(len(grid))
    shape = [len(info.factors[c]) for c in cols]
    flat = np.ravel_multi_index([_codes(frame, info, c) for c in cols], shape)
    counts = np.bincount(flat, minlength=int(np.prod(shape))).astype(float)
    return counts[np.ravel_multi_index([_codes(grid, info, c) for c in cols], shape)]


def lsmean_rows(
    info: DesignInfo,
    frame: pd.DataFrame | None,
    keys: list[str],
    weights: str = "equal",
    at: dict | None = None,
) -> list[tuple[tuple, np.ndarray]]:
    """``(combination of keys, l)`` for every combination of the levels of the factors ``keys`` (in the order
    of their levels, the first key slowest). ``info``'s numeric means already hold ``at`` for the grid;
    ``at`` fixes numeric covariates of the counterfactual predictions."""
    if weights not in WEIGHTS:
        raise ModelError(f"weights={weights!r}: use one of {', '.join(WEIGHTS)}")
    if weights != "equal" and frame is None:
        raise ModelError(
            f"weights={weights!r} needs the rows the model was fitted on, which a fit on a file read in chunks "
            "does not keep; use weights='equal'"
        )
    grid = reference_grid(info, keys)
    levels = [list(info.factors[k]) for k in keys]
    out = []
    if weights == "counterfactual":
        base = frame.copy()
        for c, v in (at or {}).items():
            base[c] = float(v)
        for combo in itertools.product(*levels):
            cf = base.copy()
            for k, v in zip(keys, combo):
                cf[k] = pd.Categorical([v] * len(cf), categories=list(info.factors[k]))
            out.append((combo, build_design(info, cf).mean(axis=0)))
        return out
    X = build_design(info, grid)
    w = _grid_weights(grid, info, frame, weights, keys)
    for combo in itertools.product(*levels):
        sel = np.ones(len(grid), bool)
        for k, v in zip(keys, combo):
            sel &= (grid[k] == v).to_numpy()
        ws = w[sel]
        if ws.sum() <= 0:
            where = ", ".join(f"{k}={v}" for k, v in zip(keys, combo))
            raise ModelError(f"weights={weights!r}: no observation has {where}, so its LS mean has no weights")
        out.append((combo, ws @ X[sel] / ws.sum()))
    return out


def contrast_coefficients(levels: list, method: str, ref=None) -> tuple[list[str], list[np.ndarray]]:
    """Names and coefficient vectors (over ``levels``) of a contrast method: ``"pairwise"`` (earlier minus
    later level, as emmeans), ``"trt.vs.ctrl"`` (each level minus ``ref``, default the first) or
    ``"consec"`` (each level minus the one before)."""
    labels = [str(v) for v in levels]
    k = len(labels)
    if method not in INTERACTION_METHODS:
        raise ModelError(f"contrast method {method!r}: use one of {', '.join(INTERACTION_METHODS)}")
    names, vecs = [], []

    def vec(i, j):
        v = np.zeros(k)
        v[i], v[j] = 1.0, -1.0
        return v

    if method == "pairwise":
        for i, j in itertools.combinations(range(k), 2):
            names.append(f"{labels[i]} - {labels[j]}")
            vecs.append(vec(i, j))
    elif method == "consec":
        for i in range(1, k):
            names.append(f"{labels[i]} - {labels[i - 1]}")
            vecs.append(vec(i, i - 1))
    else:
        r = labels[0] if ref is None else str(ref)
        if r not in labels:
            raise ModelError(f"ref={ref!r} is not a level (levels: {labels})")
        ri = labels.index(r)
        for i in range(k):
            if i != ri:
                names.append(f"{labels[i]} - {r}")
                vecs.append(vec(i, ri))
    return names, vecs


def custom_rows(
    rows: list[tuple[tuple, np.ndarray]], keys: list[str], coefficients: dict
) -> list[tuple[str, np.ndarray]]:
    """``(name, l)`` of user-defined linear combinations of LS means: ``coefficients`` maps a name to
    ``{level: coefficient}`` (one factor) or ``{(level, level, ...): coefficient}`` (levels in the order of
    ``keys``); combinations not named get 0."""
    by_combo = {tuple(str(x) for x in combo): l for combo, l in rows}
    if not isinstance(coefficients, dict) or not coefficients:
        raise ModelError("coefficients: give {name: {level or (level, ...): coefficient}}")
    out = []
    for name, coefs in coefficients.items():
        if not isinstance(coefs, dict) or not coefs:
            raise ModelError(f"coefficients[{name!r}]: give {{level or (level, ...): coefficient}}")
        l = 0.0
        for combo, c in coefs.items():
            key = tuple(str(x) for x in (combo if isinstance(combo, tuple) else (combo,)))
            if key not in by_combo:
                known = [" x ".join(k) for k in by_combo]
                raise ModelError(
                    f"coefficients[{name!r}]: {' x '.join(key)!r} is not a combination of {' x '.join(keys)} "
                    f"(known: {known})"
                )
            l = l + float(c) * by_combo[key]
        out.append((str(name), np.asarray(l, float)))
    return out


def interaction_rows(
    rows: list[tuple[tuple, np.ndarray]], info: DesignInfo, keys: list[str], methods, ref=None
) -> tuple[list[tuple[str, ...]], list[np.ndarray]]:
    """Interaction contrasts (emmeans ``contrast(..., interaction = methods)``): for every choice of one
    contrast per factor of ``keys`` (``methods``: one per factor), the Kronecker product of their coefficient
    vectors applied to the LS means of the combinations. ``ref``: the reference level of the ``trt.vs.ctrl``
    factors (one value, or a dict factor -> level). Returns the contrast names per factor and the rows."""
    methods = [methods] * len(keys) if isinstance(methods, str) else list(methods)
    if len(keys) < 2 or len(methods) != len(keys):
        raise ModelError(
            f"interaction contrasts need two or more factors and one method per factor, got {keys} and {methods}"
        )
    per = []
    for k, m in zip(keys, methods):
        r = ref.get(k) if isinstance(ref, dict) else (ref if m == "trt.vs.ctrl" else None)
        per.append(contrast_coefficients(list(info.factors[k]), m, r))
    L = np.array([l for _, l in rows])  # combinations in order, the first factor slowest
    names, out = [], []
    for choice in itertools.product(*[range(len(n)) for n, _ in per]):
        c = np.ones(1)
        for (_, vecs), j in zip(per, choice):
            c = np.kron(c, vecs[j])
        names.append(tuple(per[f][0][j] for f, j in enumerate(choice)))
        out.append(c @ L)
    return names, out
