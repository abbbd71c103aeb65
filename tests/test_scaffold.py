"""`painstudy init`: drafting a study.yml from a data file, never overwriting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import painstudy
from painstudy.cli import main
from painstudy.errors import PainstudyError
from painstudy.scaffold import draft_study, init_study

DEMO = painstudy.datasets.studies_dir() / "demo"
BIN = Path(sys.executable).parent  # the environment's console scripts (`painstudy`)


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
    from painstudy.reporting import NOTEBOOK_DIR

    # every study notebook (not the reproductions of published trials)
    assert nbs == sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb") if not p.name.startswith("05_"))
    assert {"01_cohort.ipynb", "02_compare_arms.ipynb", "06_sensitivity.ipynb", "08_personalised_care.ipynb"} <= set(
        nbs
    )
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


def _visit_lines(yaml_text: str) -> list[str]:
    lines = yaml_text.splitlines()
    start = lines.index("visits:") + 1
    return [ln for ln in lines[start:] if ln.startswith("  - ")]


def test_weeks_read_from_visit_numbers_or_dates_are_marked_check(tmp_path):
    """A visit number (1, 2, 3) or a date is not a week: the week drafted from it is a guess, marked
    CHECK in study.yml (through the command line) and listed to confirm (through the API)."""
    subjects = {"patient_id": ["P1"] * 3 + ["P2"] * 3, "group": ["UC"] * 3 + ["Yoga"] * 3}
    pain = {"pain_nrs": [7, 5, 4, 6, 3, 2]}
    by_number = pd.DataFrame({**subjects, "visitnum": [1, 2, 3] * 2, **pain})
    by_date = pd.DataFrame({**subjects, "visit": ["2021-01-04", "2021-02-01", "2021-03-01"] * 2, **pain})
    for label, raw in (("number", by_number), ("date", by_date)):
        raw.to_csv(tmp_path / f"{label}.csv", index=False)
        r = subprocess.run(
            [str(BIN / "painstudy"), "init", str(tmp_path / label), "--data", str(tmp_path / f"{label}.csv")],
            capture_output=True,
            text=True,
        )
        assert "Traceback" not in r.stderr, r.stderr
        visits = _visit_lines((tmp_path / label / "study.yml").read_text())
        assert len(visits) == 3 and all("# CHECK:" in ln for ln in visits), visits
    d = draft_study(by_number, name="n")
    assert "visits.visit2: the visit number in '2' was taken as week 2" in d.to_confirm
    d = draft_study(by_date, name="d")
    assert [ln.split("week: ")[1].split(",")[0] for ln in _visit_lines(d.yaml)] == ["0", "4", "8"]
    assert any("the date '2021-02-01' was read as week 4" in c for c in d.to_confirm)
    # a week, day or month in the label is read, not guessed: no CHECK
    weeks = pd.DataFrame({**subjects, "visit": ["baseline", "week4", "week8"] * 2, **pain})
    assert not any("CHECK" in ln for ln in _visit_lines(draft_study(weeks).yaml))


def test_wide_visit_numbers_are_marked_check():
    raw = pd.DataFrame({"pid": ["a", "b"], "trt": ["yoga", "uc"], "odi_1": [40, 50], "odi_2": [30, 45]})
    d = draft_study(raw, name="w")
    assert all("# CHECK: the column suffix" in ln for ln in _visit_lines(d.yaml))
