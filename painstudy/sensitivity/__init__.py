"""Missing data under missing-not-at-random assumptions: reference-based imputation (as R rbmi).

:func:`reference_based` (reference-based imputation, conditional mean or multiple imputation; each completed
data set analysed by ANCOVA per visit, an MMRM or as responders, :class:`ResponderRule`) and
:func:`tipping_point` (delta adjustment over a grid).
"""

from painstudy.sensitivity.analyse import ANALYSES, ResponderRule
from painstudy.sensitivity.data import STRATEGIES
from painstudy.sensitivity.run import METHODS, Draws, SensitivityResult, draws, reference_based
from painstudy.sensitivity.tipping import TippingPointResult, tipping_point

__all__ = [
    "reference_based",
    "SensitivityResult",
    "tipping_point",
    "TippingPointResult",
    "draws",
    "Draws",
    "STRATEGIES",
    "METHODS",
    "ANALYSES",
    "ResponderRule",
]
