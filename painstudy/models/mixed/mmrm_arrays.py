"""One MMRM fitted again and again to data of a fixed layout: the inner loop of a power simulation.

:func:`painstudy.mmrm` checks a DataFrame against a formula, parses the formula and builds the design on
every call; a power run fits the same model to thousands of simulated trials whose layout (the arms, the
visits, the columns of the design) never changes, and that work is then most of the time of a fit.
:class:`ArrayMMRM` does it once: the formula is parsed and the design's columns are laid out from a
*template* (one row per cell of the factors), and each :meth:`ArrayMMRM.fit` takes the rows of one data set
as arrays and runs the same likelihood engine, optimiser and inference as :func:`painstudy.mmrm`, so the
numbers are the same (``tests/test_mmrm_arrays.py`` compares both on the same rows).

It trusts its caller: the arrays must be finite, the rows ordered by subject, at most one row per subject
and visit, and the visit codes refer to the template's visit order. Only a rank-deficient design (an arm
with nobody at a visit) and the numerical failures of a fit are errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from painstudy.models.blas import DEFAULT_BLAS_THREADS, blas_threads
from painstudy.models.mixed.data import check_full_rank
from painstudy.models.mixed.formula import (
    DesignInfo,
    ParsedFormula,
    build_design,
    make_design_info,
    parse_formula,
    visit_levels,
)
from painstudy.models.mixed.inference import Inference
from painstudy.models.mixed.mmrm import MMRMData
from painstudy.models.mixed.mmrm_engine import Engine
from painstudy.models.mixed.mmrm_inference import build_mmrm_inference
from painstudy.models.mixed.mmrm_optim import CovarianceFit, fit_covariance

__all__ = ["ArrayMMRM"]


@dataclass(frozen=True)
class ArrayMMRM:
    """The layout of one MMRM, prepared once; :meth:`fit` fits it to the rows of a data set.

    Attributes
    ----------
    parsed : ParsedFormula
    design : DesignInfo
        The design's columns, from the template.
    visit_levels : tuple
        The visits in the order of the covariance structure (the codes of :meth:`fit`).
    cell_design : ndarray
        The design rows of the template, one per template row.
    within_varies : dict
        Per variable of the formula: whether it varies within a subject (the between-within df).
    """

    parsed: ParsedFormula
    design: DesignInfo
    visit_levels: tuple
    cell_design: np.ndarray
    within_varies: dict

    @classmethod
    def from_template(cls, formula: str, template: pd.DataFrame, within: dict, visit_order=None) -> ArrayMMRM:
        """Parse ``formula`` and lay out its design from ``template``, a DataFrame with the formula's
        variables in which every level of every factor occurs (one row per cell is enough; the numeric
        covariates' values do not matter). ``within`` says, per variable, whether it varies within a
        subject (the visit does; a baseline value does not)."""
        parsed = parse_formula(formula)
        cov = parsed.covariance
        levels, _ = visit_levels(template[cov.visit], cov.visit, visit_order)
        info = make_design_info(parsed.fixed, template, orders={cov.visit: levels})
        return cls(parsed, info, tuple(levels), build_design(info, template), dict(within))

    def column(self, name: str) -> int:
        """The position of the design column ``name`` (``"baseline"``, ``"armb:visitw4"``)."""
        return self.design.column_names.index(name)

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        visit_code: np.ndarray,
        subject_code: np.ndarray,
        *,
        df: str = "satterthwaite",
    ) -> tuple[CovarianceFit, Inference]:
        """REML fit of the rows ``X``, ``y`` (visit codes in :attr:`visit_levels`, subjects numbered 0, 1, ...
        in order of their rows): the covariance fit and the inference on the fixed effects, as
        :func:`painstudy.mmrm` computes them with ``reml=True`` and ``vcov="model"`` (and, as it does, with
        one BLAS thread).

        Raises :class:`~painstudy.errors.ModelError` for a rank-deficient design, and numpy's
        ``LinAlgError`` or ``FloatingPointError`` when the fit fails numerically."""
        T = len(self.visit_levels)
        XtX = check_full_rank(X, self.design.column_names)
        visit_code = np.asarray(visit_code, np.int64)
        subject_code = np.asarray(subject_code, np.int64)
        groups = np.zeros(len(y), np.int64)
        # the rule per missingness pattern, without keeping a small problem as statistics: a trial's design
        # has many columns (arm x visit) and few subjects per pattern, where padded rows are about 1.5x
        # faster (measured on the demo design, 20 to 100 per arm)
        engine = Engine(X, y, visit_code, subject_code, groups, 1, T, batch_small=False)
        prep = MMRMData(
            parsed=self.parsed,
            design=self.design,
            data=None,
            X=X,
            y=y,
            visit_code=visit_code,
            subject_code=subject_code,
            group_code=groups,
            visit_levels=self.visit_levels,
            visit_order_source="the layout's visit order",
            group_levels=(None,),
            sqrt_w=None,
            XtX=XtX,
            engine=engine,
            n_subjects=int(subject_code[-1]) + 1 if len(subject_code) else 0,
            n_rows_dropped=0,
            n_subjects_dropped=0,
            within_varies=self.within_varies,
        )
        with blas_threads(DEFAULT_BLAS_THREADS), np.errstate(all="ignore"):
            fit = fit_covariance(prep, self.parsed.covariance.structure, True, {})
            return fit, build_mmrm_inference(prep, fit, df, "model")
