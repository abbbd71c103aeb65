"""The method names the mixed models accept, importable without numpy: the command line lists them
as choices before any engine is loaded (``painstudy --help`` stays fast)."""

from __future__ import annotations

#: Degrees-of-freedom methods of :func:`painstudy.mmrm`.
DF_METHODS = ("satterthwaite", "kenward-roger", "kenward-roger-linear", "residual", "between-within")
#: Estimators of the covariance of the fixed effects of :func:`painstudy.mmrm`.
VCOV_METHODS = ("model", "empirical", "empirical-bc")
