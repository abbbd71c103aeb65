"""Missing data under missing-not-at-random assumptions: reference-based imputation (as R rbmi).

See :func:`painstudy.sensitivity.run.sensitivity`.
"""

from painstudy.sensitivity.data import STRATEGIES
from painstudy.sensitivity.run import METHODS, SensitivityResult, sensitivity

__all__ = ["sensitivity", "SensitivityResult", "STRATEGIES", "METHODS"]
