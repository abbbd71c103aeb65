"""Instrument registry: ranges, directions, IMMPACT thresholds, overrides."""

import numpy as np
import pytest

from painstudy.errors import StudySpecError
from painstudy.instruments import get_instrument, list_instruments


def test_registry_covers_the_field():
    names = set(list_instruments().index)
    for n in [
        "nrs",
        "vas_cm",
        "vas_unit",
        "bpi_severity",
        "bpi_interference",
        "odi",
        "rmdq",
        "promis_pf",
        "promis_pi",
        "sf36",
        "pgic",
        "headache_score",
    ]:
        assert n in names


def test_immpact_thresholds_for_pain():
    # Dworkin et al. J Pain 2008;9:105-121 (IMMPACT): >= 30 % moderately, >= 50 % substantially important
    # reductions in pain intensity; about 2 points on the 0-10 NRS
    nrs = get_instrument("nrs")
    assert nrs.threshold("moderate") == 0.30
    assert nrs.threshold("substantial") == 0.50
    assert nrs.threshold("mcid", relative=False) == 2.0


def test_direction_aware_improvement():
    nrs, sf36 = get_instrument("nrs"), get_instrument("sf36")
    assert nrs.improvement(8, 6) == 2
    assert sf36.improvement(40, 50) == 10
    assert sf36.improvement(50, 40) == -10
    np.testing.assert_allclose(nrs.relative_improvement([8, 0, 5], [4, 1, 6]), [0.5, np.nan, -0.2])
    np.testing.assert_allclose(sf36.relative_improvement(40, 50), 0.25)


def test_overrides_merge_thresholds():
    nrs = get_instrument("nrs").with_overrides(relative={"moderate": 0.25}, absolute={"mcid": 1.5})
    assert nrs.relative["moderate"] == 0.25 and nrs.relative["substantial"] == 0.50
    assert nrs.absolute["mcid"] == 1.5
    assert get_instrument("nrs").relative["moderate"] == 0.30  # the registry is untouched


def test_unknown_threshold_and_instrument():
    with pytest.raises(StudySpecError, match="no relative threshold 'huge'"):
        get_instrument("nrs").threshold("huge")
    with pytest.raises(StudySpecError, match="unknown instrument"):
        get_instrument("nope")
