"""Re-export of the mixed-model result classes (the module's historical place)."""

from painstudy.models.mixed.results import MMRMResult

__all__ = ["MMRMResult"]
