"""Re-export of the mixed-model result classes (the module's historical place)."""

from painstudy.models.mixed.lmm_results import LMMResult
from painstudy.models.mixed.results import MixedModelResult, MMRMResult

__all__ = ["MMRMResult", "LMMResult", "MixedModelResult"]
