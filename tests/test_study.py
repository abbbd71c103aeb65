"""Study definitions: arm classes from the modality taxonomy, YAML errors."""

import pytest

from painstudy.errors import StudySpecError
from painstudy.study import Arm, modality_domain, read_study, spec_from_dict


def test_arm_class_is_derived_from_domains():
    assert Arm("uc", "Usual care", ("usual_care",), control=True).arm_class == "control"
    assert Arm("pt", "PT", ("physiotherapy", "yoga", "exercise")).arm_class == "single-modality"
    assert Arm("mix", "Mix", ("physiotherapy", "cbt")).arm_class == "integrative"
    # sham carries no active domain
    assert Arm("laser", "Laser", ("low_level_laser", "sham")).arm_class == "single-modality"
    assert Arm("acu", "Acupuncture + usual care", ("acupuncture", "usual_care")).arm_class == "integrative"


def test_modality_names_are_normalised_and_checked():
    assert modality_domain("Tai Chi") == "physical"
    assert modality_domain("MBSR") == "mind_body"
    with pytest.raises(StudySpecError, match="unknown modality 'reiki'"):
        Arm("x", "X", ("reiki",))


def test_registered_study_arms(demo_cohort, vickers_cohort):
    classes = {a.name: a.arm_class for a in demo_cohort.spec.arms}
    assert classes == {"usual_care": "control", "physiotherapy": "single-modality",
                       "mindfulness": "single-modality", "integrative": "integrative"}
    assert vickers_cohort.spec.arm("acupuncture").arm_class == "integrative"
    assert vickers_cohort.spec.control_arm.name == "usual_care"


def test_spec_errors_name_the_key(tmp_path):
    with pytest.raises(StudySpecError, match=r"\[missing_key\] study: field arms: required key is missing") as err:
        spec_from_dict({"name": "x", "subject": "id", "arm": "a", "visits": [], "outcomes": {}})
    assert {p.field for p in err.value.problems} == {"arms", "visits"}  # every problem at once
    bad = tmp_path / "study.yml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(StudySpecError, match="not valid YAML"):
        read_study(bad)
    with pytest.raises(StudySpecError, match="study file not found"):
        read_study(tmp_path / "nope.yml")


def test_window_must_contain_the_nominal_week():
    doc = {"name": "x", "subject": "id", "arm": "a", "arms": [{"name": "a", "modalities": ["cbt"]}],
           "visit": "v", "visits": [{"name": "w4", "week": 4, "window": [5, 6]}],
           "outcomes": {"pain": "nrs"}}
    with pytest.raises(StudySpecError, match=r"\[invalid_window\].*window \[5, 6\] of visit 'w4' must contain its week 4"):
        spec_from_dict(doc)


def test_unknown_instrument_lists_known_ones():
    doc = {"name": "x", "subject": "id", "arm": "a", "arms": [{"name": "a", "modalities": ["cbt"]}],
           "visit": "v", "visits": [{"name": "w0", "week": 0}], "outcomes": {"pain": "painometer"}}
    with pytest.raises(StudySpecError, match="unknown instrument 'painometer'.*nrs"):
        spec_from_dict(doc)
