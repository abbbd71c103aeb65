"""Re-export of :func:`painstudy.models.mixed.lmm.lmm` (the module's historical place)."""

from painstudy.models.mixed.lmm import LMM_DF_METHODS, LMMResult, RandomTerm, lmm

__all__ = ["lmm", "LMMResult", "RandomTerm", "LMM_DF_METHODS"]
