"""Formulas of the mixed models and their design matrices (one parser for MMRM and lme4 syntax).

Fixed effects (a deliberate subset of R's syntax):

* ``a + b``            main effects; factors use treatment coding, first level as reference;
* ``a * b``            ``a + b + a:b``;  ``a:b`` interaction only;  ``(a + b) * c`` distributes;
* ``C(x)``             force ``x`` to be categorical;  ``C(x, Treatment("lvl"))`` choose its reference;
* ``0`` / ``- 1``      drop the intercept; ``1`` keeps it (the default).

Covariance terms:

* MMRM (R ``mmrm``): ``us(VISIT | SUBJECT)`` or ``us(VISIT | GROUP / SUBJECT)`` -- exactly one, one of
  ``us, cs, csh, ar1, ar1h, toep, toeph, ad, adh`` (:func:`parse_formula`);
* random-coefficient models (lme4): ``(1 + week | subject)``, ``(1 + week || subject)``,
  ``(1 | site/subject)``, ``(1 | site:subject)``, optionally with one residual structure such as
  ``ar1(visit | subject)`` (:func:`parse_lmm_formula`).

Column names follow R's ``model.matrix`` naming: ``(Intercept)``, ``ARMCDTRT``, ``ARMCDTRT:AVISITVIS2``,
numeric columns by name.  Terms are ordered by degree (main effects, then 2-way interactions ...) and,
within a degree, by first appearance, as R does.  A factor inside an interaction is coded by contrasts
when the term without that factor is in the model (R's marginality rule) and by full dummies otherwise.

Levels of a factor are the categories of a pandas ``Categorical`` in their order, or the sorted distinct
non-missing values otherwise (as R's ``factor()``); the reference level is moved first.  The *visit*
factor of a covariance structure is ordered by :func:`visit_levels` instead: an explicit order, the
categories of a Categorical, else the natural (human) order of the labels (``week4 < week8 < week12``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painstudy.errors import ModelError

__all__ = [
    "STRUCTURES",
    "Variable",
    "CovarianceSpec",
    "FixedSpec",
    "ParsedFormula",
    "RandomTerm",
    "LMMFormula",
    "parse_formula",
    "parse_lmm_formula",
    "natural_key",
    "visit_levels",
    "factor_levels",
    "is_categorical",
    "DesignInfo",
    "make_design_info",
    "build_design",
]

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


@dataclass(frozen=True)
class RandomTerm:
    """One random term ``(1 + week | subject)``: grouping columns (an interaction for ``a:b``), whether an
    intercept is included and the numeric covariates with random slopes."""

    group: tuple[str, ...]
    intercept: bool
    slopes: tuple[str, ...]

    @property
    def group_label(self) -> str:
        return ":".join(self.group)

    @property
    def names(self) -> list[str]:
        return (["(Intercept)"] if self.intercept else []) + list(self.slopes)


@dataclass(frozen=True)
class LMMFormula:
    """A parsed random-coefficient formula: fixed part, random terms, optional residual structure."""

    formula: str
    fixed: FixedSpec
    random: tuple[RandomTerm, ...]
    residual: CovarianceSpec | None


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ModelError(f"formula {text!r}: cannot read the text at position {pos}: {text[pos : pos + 20]!r}")
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
            found = "the end of the formula" if tok[1] is None else repr(tok[1])
            raise ModelError(f"formula {self.text!r}: expected {value!r} but found {found}")
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
        if val is None:
            raise ModelError(f"formula {self.text!r}: it ends where a term is expected (e.g. after '~', '+' or '*')")
        raise ModelError(f"formula {self.text!r}: unexpected {val!r} where a term is expected")

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
                    raise ModelError(f'formula {self.text!r}: write Treatment("level") without a keyword')
            self.take(")")
            old = self.variables.get(col)
            if old is not None and old.reference not in (None, ref):
                raise ModelError(f"formula {self.text!r}: column {col!r} given two different reference levels")
            self.variables[col] = Variable(col, True, ref)
            return [(col,)]
        if fname in ("sp_exp", "sp_pow"):
            raise ModelError(f"formula {self.text!r}: spatial structure {fname}() is not supported")
        raise ModelError(
            f'formula {self.text!r}: unknown function {fname}(); use C(x, Treatment("level")) or one of '
            f"the covariance structures {', '.join(STRUCTURES)}"
        )


def _union(a, b):
    out = list(a)
    for t in b:
        if t not in out:
            out.append(t)
    return out


def _outcome_and_rhs(formula: str, expected: str) -> tuple[str, str]:
    """Split ``outcome ~ rhs``; the outcome must be a single column name."""
    if not isinstance(formula, str) or "~" not in formula:
        raise ModelError(f"formula {formula!r}: expected '{expected}'")
    lhs, rhs = formula.split("~", 1)
    lhs = lhs.strip().strip("`")
    if not lhs or not re.fullmatch(r"[^()~+*:|]+", lhs):
        raise ModelError(f"formula {formula!r}: the outcome (left of ~) must be a single column name")
    return lhs, rhs


def _fixed_part(formula: str, outcome: str, rhs: str) -> tuple[FixedSpec, CovarianceSpec | None]:
    """Parse the fixed terms (and the covariance term, if any) of ``rhs``."""
    p = _Parser(formula, _tokenize(rhs))
    terms = p.expr()
    if p.i != len(p.toks):
        raise ModelError(f"formula {formula!r}: unexpected {p.toks[p.i][1]!r} (a missing + between terms?)")
    terms = [t for t in terms if t != "__one__"]
    # order by degree, stable in appearance
    order = sorted(range(len(terms)), key=lambda i: (len(terms[i]), i))
    terms = tuple(terms[i] for i in order)
    return FixedSpec(outcome, p.intercept, terms, dict(p.variables)), p.cov


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
    lhs, rhs = _outcome_and_rhs(formula, "outcome ~ terms + us(VISIT | SUBJECT)")
    fixed, cov = _fixed_part(formula, lhs, rhs)
    if cov is None:
        raise ModelError(
            f"formula {formula!r}: no covariance term; add e.g. us(VISIT | SUBJECT) (structures: {', '.join(STRUCTURES)})"
        )
    return ParsedFormula(formula, fixed, cov)


def _split_random(rhs: str, formula: str) -> tuple[str, list[str]]:
    """Cut the top-level ``( ... | ... )`` groups out of ``rhs``; return the rest and the groups."""
    out, found, i = [], [], 0
    while i < len(rhs):
        ch = rhs[i]
        if ch == "(":
            j = len("".join(out).rstrip())
            prev = "".join(out).rstrip()[-1:] if j else ""
            depth, k = 0, i
            while k < len(rhs):
                if rhs[k] == "(":
                    depth += 1
                elif rhs[k] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            if depth != 0:
                raise ModelError(f"formula {formula!r}: unbalanced parentheses")
            inner = rhs[i + 1 : k]
            is_call = bool(prev) and (prev.isalnum() or prev in "_.`")
            if "|" in inner and not is_call:
                found.append(inner)
                out.append("1")  # harmless placeholder for the removed term
            else:
                out.append(rhs[i : k + 1])
            i = k + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out), found


def _parse_random(inner: str, formula: str) -> list[RandomTerm]:
    double = "||" in inner
    lhs, grp = inner.split("||" if double else "|", 1)
    grp = grp.strip()
    if "|" in grp or not grp:
        raise ModelError(f"formula {formula!r}: cannot read the random term ({inner})")
    intercept = True
    slopes: list[str] = []
    # signed pieces: "1 + week", "0 + week", "-1 + week", "week - 1"
    for sign, tok in re.findall(r"([+-]?)\s*([^+\-\s][^+\-]*)", lhs):
        tok = tok.strip()
        if tok in ("0", "1"):
            if tok == "0" or sign == "-":
                intercept = False
            continue
        name = tok.strip("`")
        if sign == "-" or not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_. ]*", name) or (" " in name and "`" not in tok):
            raise ModelError(
                f"formula {formula!r}: random term ({inner}): {sign}{tok!r} is not supported; use an intercept "
                f"and numeric columns, e.g. (1 + week | subject)"
            )
        slopes.append(name)
    if not intercept and not slopes:
        raise ModelError(f"formula {formula!r}: random term ({inner}) has no effects")
    # grouping: a/b -> a + a:b ; a:b -> interaction
    groups = []
    if "/" in grp:
        parts = [g.strip() for g in grp.split("/")]
        for k in range(1, len(parts) + 1):
            groups.append(tuple(parts[:k]))
    else:
        groups.append(tuple(g.strip() for g in grp.split(":")))
    terms = []
    for g in groups:
        if double:
            if intercept:
                terms.append(RandomTerm(g, True, ()))
            for s in slopes:
                terms.append(RandomTerm(g, False, (s,)))
        else:
            terms.append(RandomTerm(g, intercept, tuple(slopes)))
    return terms


def parse_lmm_formula(formula: str) -> LMMFormula:
    """Parse ``"y ~ arm * week + baseline + (1 + week | subject) [+ ar1(visit | subject)]"``.

    Examples
    --------
    >>> f = parse_lmm_formula("y ~ arm * week + (1 | site) + (1 + week | subject)")
    >>> [(t.group_label, t.names) for t in f.random]
    [('site', ['(Intercept)']), ('subject', ['(Intercept)', 'week'])]
    >>> f.fixed.terms
    (('arm',), ('week',), ('arm', 'week'))
    """
    lhs, rhs = _outcome_and_rhs(formula, "outcome ~ fixed terms + (1 + time | subject)")
    fixed_rhs, groups = _split_random(rhs, formula)
    if not groups:
        raise ModelError(
            f"formula {formula!r}: no random term; add e.g. (1 + week | subject) (for a model with only a "
            f"residual covariance structure use painstudy.mmrm)"
        )
    random: list[RandomTerm] = []
    for g in groups:
        for t in _parse_random(g, formula):
            if t not in random:
                random.append(t)
    fixed, cov = _fixed_part(formula, lhs, fixed_rhs)
    if cov is not None and cov.group is not None:
        raise ModelError(
            f"formula {formula!r}: a grouped residual structure ({cov.structure}(visit | group / "
            f"subject)) is not supported with random effects"
        )
    return LMMFormula(formula, fixed, tuple(random), cov)


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


def natural_key(value) -> tuple:
    """Sort key of the natural (human) order: digit runs compare as numbers, other text as text.

    >>> sorted(["week12", "week26", "week4", "week8"], key=natural_key)
    ['week4', 'week8', 'week12', 'week26']
    >>> sorted(["VIS10", "VIS2", "VIS1"], key=natural_key)
    ['VIS1', 'VIS2', 'VIS10']
    """
    text = str(value)
    parts = tuple((1, int(c), "") if c.isdigit() else (0, 0, c.lower()) for c in re.split(r"(\d+)", text) if c)
    return parts + ((-1, 0, text),)  # ties ("W02" and "W2", case) broken by the label; "W2" before "W2a"


def visit_levels(series: pd.Series, column: str, order=None) -> tuple[tuple, str]:
    """The order of the visits of a covariance structure, and where it came from.

    ``order`` (every visit label, as values or their strings) first; else the categories of a pandas
    Categorical (ordered or not; :meth:`painstudy.Cohort.analysis_data` gives the study schedule's
    order); else numbers in numeric order and labels in natural order (``week4 < week8 < week12``,
    ``VIS2 < VIS10``), never alphabetical.

    Returns
    -------
    (levels, source)
        ``source`` says which rule gave the order, for the fit's notes.
    """
    if order is not None:
        if isinstance(order, str) or not hasattr(order, "__iter__"):
            raise ModelError(f"visit_order must be a list of the visit labels of column {column!r}, got {order!r}")
        order = list(order)
        names = [str(v) for v in order]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ModelError(f"visit_order lists the visit(s) {dup} more than once")
        present = list(pd.unique(series.dropna()))
        by_name = {str(v): v for v in present}
        missing = [str(v) for v in present if str(v) not in set(names)]
        if missing:
            raise ModelError(f"column {column!r}: visit(s) {missing} are not in visit_order {names}; list every visit")
        return tuple(by_name.get(n, v) for n, v in zip(names, order)), "visit_order"
    if isinstance(series.dtype, pd.CategoricalDtype):
        how = "ordered categorical" if series.cat.ordered else "categorical"
        return tuple(series.cat.categories), f"categories of the {how} column"
    vals = pd.unique(series.dropna())
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return tuple(sorted(vals)), "numeric order"
    return tuple(sorted(vals, key=natural_key)), "natural order of the labels"


def factor_levels(series: pd.Series, reference: str | None, column: str, order=None) -> tuple:
    """Levels of a factor: ``order`` if given, else categorical order or sorted distinct values;
    ``reference`` first."""
    if order is not None:
        levels = list(order)
    elif isinstance(series.dtype, pd.CategoricalDtype):
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
    """A column is a factor unless it is numeric (booleans are factors)."""
    return not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype))


def make_design_info(
    fixed: FixedSpec, data: pd.DataFrame, orders: dict | None = None, numeric_means: dict | None = None
) -> DesignInfo:
    """Decide the coding of every term from the data (levels, numeric means).

    ``orders`` maps a column to the order of its levels (the visit factor of the covariance structure)
    when it is used as a factor; other factors follow :func:`factor_levels`.  ``data`` may also be a mapping
    of column -> Series holding each column's distinct values (data read in chunks), with the means of the
    numeric columns in ``numeric_means``."""
    orders = orders or {}
    factors, numerics = {}, []
    for col in dict.fromkeys(c for t in fixed.terms for c in t):
        if col not in data:
            raise ModelError(f"formula term {col!r}: no such column in the data (columns: {list(data)})")
        var = fixed.variables.get(col, None)
        s = data[col]
        cat = var.categorical if var is not None and var.categorical is not None else is_categorical(s)
        if cat:
            factors[col] = factor_levels(s, var.reference if var else None, col, orders.get(col))
            if len(factors[col]) < 1:
                raise ModelError(f"column {col!r}: has no non-missing values")
            if len(factors[col]) == 1:
                raise ModelError(
                    f"column {col!r} has a single level ({str(factors[col][0])!r}) in the rows used: a factor "
                    "needs at least two levels; remove it from the formula, or check the data"
                )
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
        numeric_means={c: float(pd.to_numeric(data[c]).mean()) for c in numerics}
        if numeric_means is None
        else {c: float(numeric_means[c]) for c in numerics},
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
    if isinstance(series.dtype, pd.CategoricalDtype) and list(series.cat.categories) == list(levels):
        return series.cat.codes.to_numpy().astype(np.int64)  # already coded by these levels (no missing values)
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


def build_design(
    info: DesignInfo, data: pd.DataFrame, sum_coding: bool = False, out: np.ndarray | None = None, rows=None
) -> np.ndarray:
    """Build the design matrix for ``data`` (rows with missing inputs must already be removed).

    With ``sum_coding=True`` the factors in ``contrast`` positions use sum-to-zero (effect) coding instead
    of treatment coding.  With ``out`` (zeros, at least p columns) and ``rows`` (one row of ``out`` per row
    of ``data``) the design is written there instead (e.g. straight into subjects' padded visit slots) and
    ``out`` is returned.
    """
    n = len(data) if data.shape[1] else (len(rows) if rows is not None else 0)
    p = len(info.column_names)
    if out is None:
        X = np.zeros((n, p))
        target = slice(None)
    else:
        X, target = out, rows
    # flat positions of each data row's first element in X (X is C-contiguous): one 1-D scatter per term
    if not X.flags.c_contiguous:
        raise ValueError("build_design writes into a C-contiguous array")
    Xflat = X.reshape(-1)
    base = (np.arange(n, dtype=np.int64) if out is None else np.asarray(rows, np.int64)) * X.shape[1]
    col = 0
    if info.intercept:
        Xflat[base] = 1.0
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
            X[target, col : col + width] = block
        else:
            # treatment coding: each row has at most one non-zero column in the term's block
            pos = base + col
            valid = None
            value = 1.0
            stride = 1
            for c, how in parts:  # first factor varies fastest
                if how == "numeric":
                    value = value * numeric(c)
                    continue
                k = codes(c)
                nlev = len(info.factors[c])
                if how == "contrast":
                    valid = k >= 1 if valid is None else valid & (k >= 1)
                    pos = pos + (k - 1) * stride
                    stride *= nlev - 1
                else:
                    pos = pos + k * stride
                    stride *= nlev
            if valid is None:
                Xflat[pos] = value
            else:
                Xflat[pos[valid]] = value[valid] if np.ndim(value) else value
        col += width
    return X
