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
    assert classes == {
        "usual_care": "control",
        "physiotherapy": "single-modality",
        "mindfulness": "single-modality",
        "integrative": "integrative",
    }
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
    doc = {
        "name": "x",
        "subject": "id",
        "arm": "a",
        "arms": [{"name": "a", "modalities": ["cbt"]}],
        "visit": "v",
        "visits": [{"name": "w4", "week": 4, "window": [5, 6]}],
        "outcomes": {"pain": "nrs"},
    }
    with pytest.raises(
        StudySpecError, match=r"\[invalid_window\].*window \[5, 6\] of visit 'w4' must contain its week 4"
    ):
        spec_from_dict(doc)


def test_unknown_instrument_lists_known_ones():
    doc = {
        "name": "x",
        "subject": "id",
        "arm": "a",
        "arms": [{"name": "a", "modalities": ["cbt"]}],
        "visit": "v",
        "visits": [{"name": "w0", "week": 0}],
        "outcomes": {"pain": "painometer"},
    }
    with pytest.raises(StudySpecError, match="unknown instrument 'painometer'.*nrs"):
        spec_from_dict(doc)


# --- one declared schema -----------------------------------------------------------------------------


def test_registered_studies_round_trip_through_spec_to_dict():
    from painstudy.datasets import registered_studies, study_path
    from painstudy.study import spec_to_dict

    for name in registered_studies():
        spec = read_study(study_path(name))
        assert spec_from_dict(spec_to_dict(spec), root=spec.root) == spec, name


def test_rules_hold_for_specs_made_in_code(demo_cohort):
    from dataclasses import replace

    spec = demo_cohort.spec
    pain = spec.outcomes["pain"]
    with pytest.raises(StudySpecError, match=r"\[reserved_name\].*field outcomes.arm") as err:
        spec.replace(outcomes={**spec.outcomes, "arm": replace(pain, name="arm")})
    assert err.value.code == "reserved_name"
    with pytest.raises(StudySpecError, match=r"\[visits_out_of_order\]"):
        spec.replace(visits=(spec.visits[0], spec.visits[2], spec.visits[1], *spec.visits[3:]))
    arms = list(spec.arms)
    arms[2] = replace(arms[2], codes=("mindfulness", "physiotherapy"))
    with pytest.raises(
        StudySpecError,
        match=r"\[overlapping_codes\].*'physiotherapy' of arm 'mindfulness' also "
        r"means arm 'physiotherapy'",
    ):
        spec.replace(arms=tuple(arms))


def test_yaml_is_read_with_the_yaml_1_2_core_rules():
    from painstudy.study_schema import load_yaml

    doc, lines = load_yaml("a: 010\nb: yes\nc: 1e3\nd: 2004-01-01\ne: 0x1F\nf: off\ng: 1:30\nh: TRUE\ni: ~\n")
    assert doc == {
        "a": 10,
        "b": "yes",
        "c": 1000.0,
        "d": "2004-01-01",
        "e": 31,
        "f": "off",
        "g": "1:30",
        "h": True,
        "i": None,
    }
    assert lines["g"] == 7


def test_duplicate_yaml_keys_are_errors():
    from painstudy.study_schema import load_yaml

    with pytest.raises(
        StudySpecError,
        match=r"\[duplicate_key\] s.yml line 3: field x.a: key 'a' is written twice "
        r"\(lines 2 and 3\)",
    ):
        load_yaml("x:\n  a: 1\n  a: 2\n", "s.yml")


def test_the_reference_documents_every_key():
    from painstudy.study_schema import StudyDoc, study_yml_reference

    text = study_yml_reference()
    models = [StudyDoc] + [f.annotation for f in StudyDoc.model_fields.values()]
    for name in StudyDoc.model_fields:
        assert f"| `{name}` |" in text
    for key in (
        "outside_study_folder",
        "sheet",
        "missing_with",
        "multiply",
        "lower_is_better",
        "completer",
        "codes",
        "window",
        "baseline",
    ):
        assert f"| `{key}` |" in text, key
    assert len(models) > 5


def test_unknown_keys_suggest_the_closest():
    doc = {
        "name": "x",
        "subject": "id",
        "arm": "a",
        "arms": [{"name": "a", "modalities": ["cbt"], "contrl": True}],
        "visit": "v",
        "visits": [{"name": "w0", "week": 0}],
        "outcomes": {"pain": "nrs"},
    }
    with pytest.raises(
        StudySpecError,
        match=r"\[unknown_key\] study: field arms\[0\].contrl: unknown key; did you "
        r"mean 'control'\?",
    ):
        spec_from_dict(doc)


def test_data_file_must_stay_in_the_study_folder(tmp_path):
    doc = {
        "name": "x",
        "subject": "id",
        "arm": "a",
        "arms": [{"name": "a", "modalities": ["cbt"]}],
        "visit": "v",
        "visits": [{"name": "w0", "week": 0}],
        "outcomes": {"pain": "nrs"},
        "data": {"file": "../x.csv"},
    }
    spec = spec_from_dict(doc, root=tmp_path)
    with pytest.raises(StudySpecError, match=r"\[data_outside_study_folder\].*field data.file"):
        spec.data_file()
    doc["data"]["outside_study_folder"] = True
    assert spec_from_dict(doc, root=tmp_path).data_file() == str((tmp_path / "../x.csv").resolve())
    doc["data"] = {"file": "sub/../x.csv"}
    assert spec_from_dict(doc, root=tmp_path).data_file() == str(tmp_path / "x.csv")


def test_exploding_aliases_are_refused_quickly(tmp_path):
    """The 'billion laughs': nine levels of nine aliases would expand to 387 million values."""
    import time

    from painstudy.errors import StudySpecError

    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefghi", "bcdefghij"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "study.yml").write_text("\n".join(lines) + "\nname: t\n")
    t0 = time.perf_counter()
    with pytest.raises(StudySpecError) as e:
        read_study(tmp_path / "study.yml")
    assert time.perf_counter() - t0 < 30  # a bound on the damage, not a speed target
    assert "expands to more than 100,000 values" in "\n".join(e.value.problem_lines())
