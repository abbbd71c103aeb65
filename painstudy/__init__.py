"""painstudy: outcomes research on chronic-pain studies.

The public API, and nothing else. Every name is imported on first use, so ``import painstudy``
and ``painstudy --help`` stay fast.

>>> import painstudy
>>> cohort = painstudy.load_cohort("demo")
>>> cohort.spec.arm("integrative").arm_class
'integrative'
"""

import sys
import types
from importlib import import_module

from .version import __version__ as __version__

# name -> module holding it; every public name is resolved on first use, so that ``import painstudy``
# and ``painstudy --help`` do not load pandas, scipy or the engines
_LAZY = {
    "Cohort": "painstudy.cohort",
    "load_cohort": "painstudy.cohort",
    "validate": "painstudy.cohort",
    "StudySpec": "painstudy.study",
    "read_study": "painstudy.study",
    "Instrument": "painstudy.instruments",
    "get_instrument": "painstudy.instruments",
    "list_instruments": "painstudy.instruments",
    "cpra": "painstudy.outcomes",
    "responder_flags": "painstudy.outcomes",
    "simulate": "painstudy.simulate",
    "SimulatedTrial": "painstudy.simulate",
    "table1": "painstudy.tables",
    "publication_table": "painstudy.publication",
    "smd_table": "painstudy.tables",
    "disposition": "painstudy.tables",
    "PainstudyError": "painstudy.errors",
    "CohortError": "painstudy.errors",
    "DataFileError": "painstudy.errors",
    "DatasetError": "painstudy.errors",
    "ModelError": "painstudy.errors",
    "ReportError": "painstudy.errors",
    "StudySpecError": "painstudy.errors",
    "mmrm": "painstudy.models.mixed.mmrm",
    "lmm": "painstudy.models.mixed.lmm",
    "compare_arms": "painstudy.compare",
    "subgroups": "painstudy.subgroups",
    "Estimand": "painstudy.estimands",
    "estimand_for": "painstudy.estimands",
    "apply_estimand": "painstudy.estimands",
    "sensitivity": "painstudy.sensitivity",  # the namespace: sensitivity.reference_based, .tipping_point, ...
    "reference_based": "painstudy.sensitivity",
    "tipping_point": "painstudy.sensitivity",
    "sensitivity_analyses": "painstudy.sensitivity_analyses",
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
    "stratified_responders": "painstudy.models.stratified",
    "adjusted_risk_difference": "painstudy.models.gcomp",
    # medication: opioid dose from records (CDC 2022 MME), reduction outcomes, the two-part model
    "derive_mme": "painstudy.medication",
    "with_mme": "painstudy.medication",
    "medication_outcomes": "painstudy.medication",
    "with_medication_outcomes": "painstudy.medication",
    "two_part": "painstudy.models.twopart",
    "simulate_medication_records": "painstudy.simulate_medication",
    "gee_responders": "painstudy.models.gee",
    # daily diaries and wearables
    "load_daily": "painstudy.diary",
    "derive_diary": "painstudy.diary",
    "daily_lmm": "painstudy.models.daily",
    "simulate_diary": "painstudy.simulate_diary",
    # planning a trial: power by simulation (on Dask) and analytic MMRM power
    "power": "painstudy.power",
    "Design": "painstudy.design",
    "read_design": "painstudy.design",
    "design_from": "painstudy.design",
    "mmrm_power": "painstudy.power",
    "mmrm_sample_size": "painstudy.power",
}


class _Package(types.ModuleType):
    """The package module: the function ``painstudy.simulate`` keeps its name when the submodule of the
    same name is imported (the import system would otherwise set the attribute to the module)."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in _LAZY and hasattr(value, name):
            # the public name is the module's member of that name (the function painstudy.simulate); the
            # submodule stays reachable through sys.modules and its full name
            super().__setattr__(name, getattr(value, name))
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name):
    if name in _LAZY:
        module = import_module(_LAZY[name])
        value = getattr(module, name, module)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'painstudy' has no attribute {name!r}")


def __dir__():
    """Every public name, the lazily loaded ones included (for tab completion)."""
    return sorted({*_LAZY, "__version__"})


__all__ = [*_LAZY]
