"""painstudy: outcomes research on chronic-pain studies.

The public API, and nothing else. Heavier parts (models, survival, reports) are imported on
first use, so ``import painstudy`` stays fast.

>>> import painstudy
>>> cohort = painstudy.load_cohort("demo")
>>> cohort.spec.arm("integrative").arm_class
'integrative'
"""

from importlib import import_module

from .cohort import Cohort, load_cohort, validate
from .errors import CohortError, DataFileError, DatasetError, ModelError, PainstudyError, ReportError, StudySpecError
from .instruments import Instrument, get_instrument, list_instruments
from .outcomes import cpra, responder_flags
from .simulate import SimulatedTrial, simulate
from .study import StudySpec, read_study
from .tables import disposition, table1
from .version import __version__ as __version__

# name -> module holding it; resolved lazily on first attribute access
_LAZY = {
    "mmrm": "painstudy.models.mixed.mmrm",
    "lmm": "painstudy.models.mixed.lmm",
    "compare_arms": "painstudy.compare",
    "ancova": "painstudy.models.ancova",
    "rate_ratio": "painstudy.models.ancova",
    "time_to_improvement": "painstudy.improvement",
    "datasets": "painstudy.datasets",
    "run_report": "painstudy.reporting",
    # time to improvement and responders
    "analyze_improvement": "painstudy.models.survival",
    "kaplan_meier": "painstudy.models.survival",
    "logrank": "painstudy.models.survival",
    "cox_ph": "painstudy.models.survival",
    "cox_zph": "painstudy.models.survival",
    "discrete_time_ph": "painstudy.models.survival",
    "turnbull": "painstudy.models.survival",
    "rmst": "painstudy.models.survival",
    "cumulative_incidence": "painstudy.models.survival",
    "responders": "painstudy.models.responders",
    "responder_rates": "painstudy.models.responders",
    "risk_difference": "painstudy.models.responders",
    "responder_odds_ratio": "painstudy.models.responders",
    "responder_analysis": "painstudy.models.responders",
}


def __getattr__(name):
    if name in _LAZY:
        module = import_module(_LAZY[name])
        return getattr(module, name, module)
    raise AttributeError(f"module 'painstudy' has no attribute {name!r}")


def __dir__():
    """Every public name, the lazily loaded ones included (for tab completion)."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Cohort",
    "load_cohort",
    "validate",
    "StudySpec",
    "read_study",
    "Instrument",
    "get_instrument",
    "list_instruments",
    "cpra",
    "responder_flags",
    "simulate",
    "SimulatedTrial",
    "table1",
    "disposition",
    "PainstudyError",
    "CohortError",
    "DataFileError",
    "DatasetError",
    "ModelError",
    "ReportError",
    "StudySpecError",
    *_LAZY,
]
