"""`painstudy init`: drafting a study.yml from a data file, never overwriting anything."""

from __future__ import annotations

import pandas as pd
import pytest

import painstudy
from painstudy.cli import main
from painstudy.errors import PainstudyError
from painstudy.scaffold import draft_study, init_study

DEMO = painstudy.datasets.studies_dir() / "demo"


def test_draft_of_the_demo_data_finds_every_role():
    d = draft_study(DEMO / "data.csv", name="demo2", data_file="data.csv")
    assert d.layout == "long"
    assert d.roles == {"subject": "subject_id", "arm": "arm", "visit": "visit", "week": "week_actual"}
    assert d.outcomes == {"pain": "nrs", "function": "promis_pf", "mme": "mme"}
    assert "integrative" in " ".join(d.to_confirm)  # no modality recognised from its label: to confirm
    assert d.yaml.count("# CHECK") >= len(d.outcomes)


def test_an_arm_without_recognisable_modalities_must_be_filled_in(tmp_path, capsys):
    """No modality is guessed for an arm whose label names none: the draft says so and does not
    validate until a person fills it in."""
    assert main(["init", str(tmp_path / "s"), "--data", str(DEMO / "data.csv")]) == 1
    err = capsys.readouterr().err
    assert "arms[0].modalities" in err and "does not validate yet" in err
    yml = tmp_path / "s" / "study.yml"
    text = yml.read_text().replace(
        "codes: [integrative], modalities: []", "codes: [integrative], modalities: [physiotherapy, mbsr]"
    )
    yml.write_text(text)
    assert painstudy.load_cohort(yml).spec.arm("integrative").arm_class == "integrative"


def test_init_from_a_file_validates_and_reports(tmp_path, capsys):
    raw = pd.read_csv(DEMO / "data.csv")
    raw["arm"] = raw["arm"].replace({"integrative": "physio + mindfulness + acupuncture"})
    (tmp_path / "mystudy").mkdir()
    raw.to_excel(tmp_path / "mystudy" / "trial.xlsx", index=False)
    assert main(["init", str(tmp_path / "mystudy"), "--data", str(tmp_path / "mystudy" / "trial.xlsx")]) == 0
    out = capsys.readouterr().out
    assert "to confirm" in out and "valid: 400 subjects" in out
    text = (tmp_path / "mystudy" / "study.yml").read_text()
    assert "file: trial.xlsx" in text  # inside the folder: a relative path
    cohort = painstudy.load_cohort(tmp_path / "mystudy")
    assert cohort.n_subjects == 400 and set(cohort.outcomes) == {"pain", "function", "mme"}
    nbs = sorted(p.name for p in (tmp_path / "mystudy" / "notebooks").iterdir())
    assert nbs == ["01_cohort.ipynb", "02_compare_arms.ipynb", "03_time_to_improvement.ipynb", "04_responders.ipynb"]
    import nbformat

    nb = nbformat.read(str(tmp_path / "mystudy" / "notebooks" / "01_cohort.ipynb"), as_version=4)
    params = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'study: str = "../study.yml"' in params


def test_init_without_data_is_a_working_copy_of_the_demo(tmp_path):
    init_study(tmp_path / "s")
    assert painstudy.load_cohort(tmp_path / "s").n_subjects == 400


def test_init_never_overwrites(tmp_path, capsys):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "study.yml").write_text("mine\n")
    assert main(["init", str(folder)]) == 1
    assert (folder / "study.yml").read_text() == "mine\n"
    assert "never overwrites" in capsys.readouterr().err
    (tmp_path / "f").write_text("x")
    assert main(["init", str(tmp_path / "f")]) == 1


def test_wide_file_drafts_outcomes_from_column_suffixes():
    raw = pd.DataFrame(
        {
            "pid": ["a", "b", "c", "d"],
            "trt": ["yoga", "usual care", "yoga", "usual care"],
            "odi_bl": [40, 50, 45, 38],
            "odi_w12": [30, 48, 20, 37],
            "odi_w26": [25, 47, 22, 35],
        }
    )
    d = draft_study(raw, name="w")
    assert d.layout == "wide" and d.outcomes == {"odi": "odi"}
    assert "baseline: true" in d.yaml and "week: 12" in d.yaml and "week: 26" in d.yaml
    assert "control: true" in d.yaml  # usual care recognised as the control arm


def test_a_file_without_outcomes_is_a_clear_error():
    raw = pd.DataFrame({"id": ["a", "b"], "arm": ["x", "y"], "note": ["p", "q"]})
    with pytest.raises(PainstudyError, match="no visits|no outcome"):
        draft_study(raw)
