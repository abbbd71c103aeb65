"""A small formula parser and design-matrix builder for MMRM (R ``mmrm`` syntax).

Supported right-hand side syntax (a deliberate subset of R's):

* ``a + b``            main effects; factors use treatment coding, first level as reference;
* ``a * b``            ``a + b + a:b``;  ``a:b`` interaction only;  ``(a + b) * c`` distributes;
* ``C(x)``             force ``x`` to be categorical;  ``C(x, Treatment("lvl"))`` choose its reference;
* ``0`` / ``- 1``      drop the intercept; ``1`` keeps it (the default);
* ``us(VISIT | SUBJECT)`` or ``us(VISIT | GROUP / SUBJECT)``: the covariance term (exactly one).

Column names follow R's ``model.matrix`` naming: ``(Intercept)``, ``ARMCDTRT``, ``ARMCDTRT:AVISITVIS2``,
numeric columns by name.  Terms are ordered by degree (main effects, then 2-way interactions ...) and,
within a degree, by first appearance, as R does.  A factor inside an interaction is coded by contrasts
when the term without that factor is in the model (R's marginality rule) and by full dummies otherwise.

Levels of a factor are the categories of a pandas ``Categorical`` in their order, or the sorted distinct
non-missing values otherwise; the reference level is moved first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painstudy.errors import ModelError

__all__ = ["CovarianceSpec", "FixedSpec", "ParsedFormula", "parse_formula", "DesignInfo", "build_design"]

STRUCTURES = ("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh")

_TOKEN = re.compile(
    r"\s*(?:(?P<name>`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)|(?P<num>\d+(?:\.\d*)?)|(?P<str>\"[^\"]*\"|'[^']*')"
    r"|(?P<op>[~+*:|/(),\-]))"
)


@dataclass(frozen=True)
class Variable:
    """A variable used in the fixed effects: column name, forced categorical, chosen reference."""

    column: str
    categorical: bool | None = None  # None: decide from the data type
    reference: str | None = None


@dataclass(frozen=True)
class CovarianceSpec:
    """The covariance term ``structure(visit | [group /] subject)``."""

    structure: str
    visit: str
    subject: str
    group: str | None = None


@dataclass(frozen=True)
class FixedSpec:
    """Fixed-effects part: outcome, intercept flag and terms (tuples of column names)."""

    outcome: str
    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    variables: dict = field(default_factory=dict)  # column -> Variable


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed MMRM formula."""

    formula: str
    fixed: FixedSpec
    covariance: CovarianceSpec


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ModelError(f"formula {text!r}: cannot read the text at position {pos}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "name" and val.startswith("`"):
            val = val[1:-1]
        if kind == "str":
            val = val[1:-1]
        out.append((kind, val))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, str]]):
        self.text, self.toks, self.i = text, tokens, 0
        self.variables: dict[str, Variable] = {}
        self.cov: CovarianceSpec | None = None
        self.intercept = True

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise ModelError(f"formula {self.text!r}: expected {value!r} but found {tok[1]!r}")
        self.i += 1
        return tok

    def expr(self) -> list[tuple[str, ...]]:
        terms = self.prod()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            right = self.prod()
            if op == "+":
                terms = _union(terms, right)
            else:
                if right == ["__one__"]:
                    self.intercept = False
                else:
                    terms = [t for t in terms if t not in right]
        return terms

    def prod(self):
        terms = self.atom()
        while self.peek()[1] in ("*", ":"):
            op = self.take()[1]
            right = self.atom()
            inter = []
            for a in terms:
                for b in right:
                    if a == "__one__" or b == "__one__":
                        raise ModelError(f"formula {self.text!r}: cannot multiply by a constant")
                    merged = tuple(dict.fromkeys(a + b))
                    if merged not in inter:
                        inter.append(merged)
            terms = _union(terms, _union(right, inter)) if op == "*" else inter
        return terms

    def atom(self):
        kind, val = self.peek()
        if val == "(":
            self.take("(")
            terms = self.expr()
            self.take(")")
            return terms
        if kind == "num":
            self.take()
            if val in ("0",):
                self.intercept = False
                return []
            if val == "1":
                return ["__one__"]
            raise ModelError(f"formula {self.text!r}: a number {val} is only allowed as 0 or 1")
        if kind == "name":
            self.take()
            if self.peek()[1] == "(":
                return self.call(val)
            self.variables.setdefault(val, Variable(val))
            return [(val,)]
        raise ModelError(f"formula {self.text!r}: unexpected {val!r}")

    def call(self, fname: str):
        self.take("(")
        if fname in STRUCTURES:
            _, visit = self.take()
            self.take("|")
            _, first = self.take()
            group = None
            subject = first
            if self.peek()[1] == "/":
                self.take("/")
                group, subject = first, self.take()[1]
            self.take(")")
            if self.cov is not None:
                raise ModelError(f"formula {self.text!r}: only one covariance term is allowed")
            self.cov = CovarianceSpec(fname, visit, subject, group)
            return []
        if fname == "C":
            kind, col = self.take()
            if kind != "name":
                raise ModelError(f"formula {self.text!r}: C() needs a column name, got {col!r}")
            ref = None
            if self.peek()[1] == ",":
                self.take(",")
                kind, what = self.take()
                if what not in ("Treatment", "contr.treatment"):
                    raise ModelError(f"formula {self.text!r}: only Treatment(...) contrasts are supported in C()")
                self.take("(")
                kind, ref = self.take()
                if self.peek()[1] == ")":
                    self.take(")")
                if kind == "name" and ref in ("reference", "base"):  # Treatment(reference="x")
                    raise ModelError(f"formula {self.text!r}: write Treatment(\"level\") without a keyword")
            self.take(")")
            old = self.variables.get(col)
            if old is not None and old.reference not in (None, ref):
                raise ModelError(f"formula {self.text!r}: column {col!r} given two different reference levels")
            self.variables[col] = Variable(col, True, ref)
            return [(col,)]
        if fname in ("sp_exp", "sp_pow"):
            raise ModelError(f"formula {self.text!r}: spatial structure {fname}() is not supported")
        raise ModelError(
            f"formula {self.text!r}: unknown function {fname}(); use C(x, Treatment(\"level\")) or one of "
            f"the covariance structures {', '.join(STRUCTURES)}"
        )


def _union(a, b):
    out = list(a)
    for t in b:
        if t not in out:
            out.append(t)
    return out


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an R-mmrm formula such as ``"FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)"``.

    Examples
    --------
    >>> f = parse_formula("FEV1 ~ RACE + ARMCD * AVISIT + us(AVISIT | USUBJID)")
    >>> f.fixed.terms
    (('RACE',), ('ARMCD',), ('AVISIT',), ('ARMCD', 'AVISIT'))
    >>> f.covariance.structure, f.covariance.visit, f.covariance.subject
    ('us', 'AVISIT', 'USUBJID')
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise ModelError(f"formula {formula!r}: expected 'outcome ~ terms + us(VISIT | SUBJECT)'")
    lhs, rhs = formula.split("~", 1)
    lhs = lhs.strip().strip("`")
    if not lhs or not re.fullmatch(r"[^()~+*:|]+", lhs):
        raise ModelError(f"formula {formula!r}: the outcome (left of ~) must be a single column name")
    p = _Parser(formula, _tokenize(rhs))
    terms = p.expr()
    if p.i != len(p.toks):
        raise ModelError(f"formula {formula!r}: unexpected {p.toks[p.i][1]!r}")
    if p.cov is None:
        raise ModelError(
            f"formula {formula!r}: no covariance term; add e.g. us(VISIT | SUBJECT) (structures: {', '.join(STRUCTURES)})"
        )
    terms = [t for t in terms if t != "__one__"]
    # order by degree, stable in appearance
    order = sorted(range(len(terms)), key=lambda i: (len(terms[i]), i))
    terms = tuple(terms[i] for i in order)
    fixed = FixedSpec(lhs, p.intercept, terms, dict(p.variables))
    return ParsedFormula(formula, fixed, p.cov)


# ----------------------------------------------------------------------------------------------
# design matrices


@dataclass(frozen=True)
class DesignInfo:
    """Everything needed to rebuild the design matrix on new data (levels, coding, numeric means)."""

    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    factors: dict  # column -> tuple of levels (reference first)
    numerics: tuple[str, ...]
    coding: tuple  # per term: tuple of (column, "contrast"|"dummy"|"numeric")
    column_names: tuple[str, ...]
    term_columns: dict  # term label -> list of column indices
    numeric_means: dict

    @property
    def term_labels(self) -> list[str]:
        return [":".join(t) for t in self.terms]


def factor_levels(series: pd.Series, reference: str | None, column: str) -> tuple:
    """Levels of a factor: categorical order or sorted distinct values; ``reference`` first."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = [lv for lv in series.cat.categories]
    else:
        vals = pd.unique(series.dropna())
        try:
            levels = sorted(vals)
        except TypeError:
            levels = sorted(vals, key=str)
    if reference is not None:
        match = [lv for lv in levels if str(lv) == str(reference)]
        if not match:
            raise ModelError(
                f"column {column!r}: reference level {reference!r} is not among its levels {[str(x) for x in levels]}"
            )
        levels = [match[0]] + [lv for lv in levels if lv is not match[0] and str(lv) != str(reference)]
    return tuple(levels)


def is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype))


def make_design_info(fixed: FixedSpec, data: pd.DataFrame, coding: str = "treatment") -> DesignInfo:
    """Decide the coding of every term from the data (levels, numeric means)."""
    factors, numerics = {}, []
    for col in dict.fromkeys(c for t in fixed.terms for c in t):
        if col not in data.columns:
            raise ModelError(f"formula term {col!r}: no such column in the data (columns: {list(data.columns)})")
        var = fixed.variables.get(col, None)
        s = data[col]
        cat = var.categorical if var is not None and var.categorical is not None else is_categorical(s)
        if cat:
            factors[col] = factor_levels(s, var.reference if var else None, col)
            if len(factors[col]) < 1:
                raise ModelError(f"column {col!r}: has no non-missing values")
        else:
            numerics.append(col)
    termset = {frozenset(t) for t in fixed.terms}
    if fixed.intercept:
        termset.add(frozenset())
    codings, names, term_columns = [], [], {}
    if fixed.intercept:
        names.append("(Intercept)")
    for t in fixed.terms:
        parts = []
        for c in t:
            if c in factors:
                rest = frozenset(t) - {c}
                parts.append((c, "contrast" if rest in termset else "dummy"))
            else:
                parts.append((c, "numeric"))
        codings.append(tuple(parts))
        labels = _interaction_labels(parts, factors)
        start = len(names)
        names.extend(labels)
        term_columns[":".join(t)] = list(range(start, len(names)))
    return DesignInfo(
        intercept=fixed.intercept,
        terms=fixed.terms,
        factors=factors,
        numerics=tuple(numerics),
        coding=tuple(codings),
        column_names=tuple(names),
        term_columns=term_columns,
        numeric_means={c: float(pd.to_numeric(data[c]).mean()) for c in numerics},
    )


def _interaction_labels(parts, factors):
    pieces = []
    for c, how in parts:
        if how == "numeric":
            pieces.append([c])
        else:
            lv = factors[c]
            use = lv[1:] if how == "contrast" else lv
            pieces.append([f"{c}{x}" for x in use])
    labels = [""]
    for piece in pieces:  # earlier pieces vary fastest
        labels = [f"{a}:{b}" if a else b for b in piece for a in labels]
    return labels


def _codes(series: pd.Series, levels: tuple, column: str) -> np.ndarray:
    if isinstance(series.dtype, pd.CategoricalDtype):
        cat = series.cat.set_categories(list(levels))
        codes = cat.cat.codes.to_numpy().astype(np.int64)
    else:
        codes = pd.Categorical(series, categories=list(levels)).codes.astype(np.int64)
    bad = (codes < 0) & series.notna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ModelError(
            f"column {column!r}: value {series.iloc[i]!r} (row {series.index[i]!r}) is not one of the levels "
            f"seen when fitting {[str(x) for x in levels]}"
        )
    return codes


def build_design(info: DesignInfo, data: pd.DataFrame, sum_coding: bool = False) -> np.ndarray:
    """Build the design matrix for ``data`` (rows with missing inputs must already be removed).

    With ``sum_coding=True`` the factors in ``contrast`` positions use sum-to-zero (effect) coding instead
    of treatment coding.
    """
    n = len(data)
    p = len(info.column_names)
    X = np.zeros((n, p))
    col = 0
    if info.intercept:
        X[:, 0] = 1.0
        col = 1
    codes_cache: dict = {}
    num_cache: dict = {}

    def codes(c):
        if c not in codes_cache:
            codes_cache[c] = _codes(data[c], info.factors[c], c)
        return codes_cache[c]

    def numeric(c):
        if c not in num_cache:
            try:
                num_cache[c] = pd.to_numeric(data[c]).to_numpy(dtype=float)
            except (ValueError, TypeError) as exc:
                raise ModelError(f"column {c!r}: numeric term has non-numeric values ({exc})") from None
        return num_cache[c]

    for parts in info.coding:
        width = 1
        for c, how in parts:
            if how == "contrast":
                width *= len(info.factors[c]) - 1
            elif how == "dummy":
                width *= len(info.factors[c])
        if sum_coding and any(how == "contrast" for _, how in parts):
            block = np.ones((n, 1))
            for c, how in parts:
                if how == "numeric":
                    piece = numeric(c)[:, None]
                else:
                    lv = info.factors[c]
                    full = np.zeros((n, len(lv)))
                    full[np.arange(n), codes(c)] = 1.0
                    piece = full[:, 1:] - full[:, [0]] if how == "contrast" else full
                block = (piece[:, :, None] * block[:, None, :]).reshape(n, -1)
            X[:, col:col + width] = block
        else:
            # treatment coding: each row has at most one non-zero column in the term's block
            idx = np.zeros(n, np.int64)
            valid = np.ones(n, bool)
            value = np.ones(n)
            stride = 1
            for c, how in parts:  # first factor varies fastest
                if how == "numeric":
                    value = value * numeric(c)
                    continue
                k = codes(c)
                nlev = len(info.factors[c])
                if how == "contrast":
                    valid &= k >= 1
                    idx += (k - 1) * stride
                    stride *= nlev - 1
                else:
                    idx += k * stride
                    stride *= nlev
            rows = np.flatnonzero(valid)
            X[rows, col + idx[rows]] = value[rows]
        col += width
    return X
