"""Re-export of :func:`painstudy.models.mixed.mmrm.mmrm` (the module's historical place)."""

from painstudy.models.mixed.mmrm import DF_METHODS, VCOV_METHODS, mmrm

__all__ = ["mmrm", "DF_METHODS", "VCOV_METHODS"]
