"""The one rule for output folders (painstudy.outputs): replace only what painstudy wrote, one run at
a time, nothing half-written, the user's umask; and `simulate --out` following it."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from painstudy.cli import main
from painstudy.outputs import OutputError, OutputFolder, check_replaceable, ownership

ROOT = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _publish(path: Path, files: dict[str, str], kind: str = "test") -> Path:
    with OutputFolder(path, kind=kind) as out:
        for name, text in files.items():
            (out.path / name).parent.mkdir(parents=True, exist_ok=True)
            (out.path / name).write_text(text)
        return out.publish({"what": "a test"})


def test_new_empty_and_own_folders_may_be_replaced(tmp_path):
    assert ownership(tmp_path / "new") is None
    (tmp_path / "empty").mkdir()
    assert ownership(tmp_path / "empty") is None
    own = _publish(tmp_path / "own", {"a.txt": "1", "sub/b.csv": "2"})
    assert ownership(own) is None
    again = _publish(own, {"c.txt": "3"})
    assert sorted(_tree(again)) == ["c.txt", "manifest.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder or lock left"


def test_committed_reports_of_the_previous_version_are_recognised():
    assert ownership(ROOT / "reports" / "demo") is None
    assert ownership(ROOT / "reports" / "vickers2004") is None


@pytest.mark.parametrize(
    "case", ["foreign files", "own manifest plus a foreign file", "foreign manifest", "file", "symlink"]
)
def test_anything_else_is_refused_and_left_unchanged(tmp_path, case):
    target = tmp_path / "thesis"
    if case == "foreign files":
        target.mkdir()
        (target / "ch1.tex").write_text("x")
    elif case == "own manifest plus a foreign file":
        _publish(target, {"a.txt": "1"})
        (target / "notes.txt").write_text("mine")
    elif case == "foreign manifest":
        target.mkdir()
        (target / "manifest.json").write_text('{"name": "someone else\'s"}')
    elif case == "file":
        target.write_text("a file")
    else:
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
    before = _tree(tmp_path)
    with pytest.raises(OutputError, match="refusing to replace it"):
        with OutputFolder(target, kind="test") as out:
            out.publish({})
    assert _tree(tmp_path) == before
    expected = ["elsewhere", "thesis"] if case == "symlink" else ["thesis"]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


def test_the_current_folder_home_and_package_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(OutputError, match="current folder"):
        check_replaceable(".")
    with pytest.raises(OutputError, match="current folder"):
        check_replaceable("..")
    with pytest.raises(OutputError, match="home folder"):
        check_replaceable(Path.home())
    with pytest.raises(OutputError, match="inside the painstudy package"):
        check_replaceable(ROOT / "painstudy" / "reports")


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    with OutputFolder(tmp_path / "r", kind="test") as first:
        with pytest.raises(OutputError, match="another painstudy run is writing this folder"):
            with OutputFolder(tmp_path / "r", kind="test"):
                pass
        (first.path / "x.txt").write_text("1")
        first.publish({})
    assert (tmp_path / "r" / "x.txt").read_text() == "1"
    with OutputFolder(tmp_path / "r", kind="test") as third:  # the lock is released
        third.publish({})


def test_leftovers_of_a_killed_run_are_cleaned_at_the_next_start(tmp_path):
    stale = tmp_path / ".tmp-r-999999-0badc0de"
    stale.mkdir()
    (stale / "half.ipynb").write_text("...")
    other = tmp_path / ".tmp-r2-999999-0badc0de"  # another folder's: not touched
    other.mkdir()
    with OutputFolder(tmp_path / "r", kind="test") as out:
        out.publish({})
    assert not stale.exists() and other.exists()


def test_a_swap_interrupted_between_its_two_renames_is_undone(tmp_path):
    own = _publish(tmp_path / "r", {"a.txt": "previous"})
    own.rename(tmp_path / ".old-r-999999-0badc0de")  # the state a kill between the renames leaves
    with OutputFolder(tmp_path / "r", kind="test") as out:
        assert (tmp_path / "r" / "a.txt").read_text() == "previous"  # put back before anything else
        assert out.cleaned == ["restored r from .old-r-999999-0badc0de"]


def test_a_failing_swap_leaves_the_previous_folder(tmp_path, monkeypatch):
    own = _publish(tmp_path / "r", {"a.txt": "previous"})
    real_rename = os.rename

    def full_disk(src, dst):
        if Path(src).name.startswith(".tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_rename(src, dst)

    with OutputFolder(own, kind="test") as out:
        (out.path / "a.txt").write_text("new")
        monkeypatch.setattr(os, "rename", full_disk)
        with pytest.raises(OutputError, match="No space left on device.*previous test folder is unchanged"):
            out.publish({})
        monkeypatch.setattr(os, "rename", real_rename)
    assert (own / "a.txt").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_folders_and_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        own = _publish(tmp_path / "r", {"sub/a.txt": "1"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(own.stat().st_mode) == 0o750
    assert stat.S_IMODE((own / "manifest.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((own / "sub").stat().st_mode) == 0o750


def test_simulate_out_follows_the_rule(tmp_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "ch1.tex").write_text("chapter one")
    assert main(["simulate", "--n", "20", "--out", str(thesis)]) == 1
    err = capsys.readouterr().err
    assert "refusing to replace it" in err and "ch1.tex" in err and "Traceback" not in err
    assert _tree(thesis) == {"ch1.tex": b"chapter one"}
    sim = tmp_path / "sim"
    assert main(["simulate", "--n", "20", "--seed", "1", "--out", str(sim)]) == 0
    assert main(["simulate", "--n", "24", "--seed", "2", "--out", str(sim)]) == 0  # its own: replaced
    assert sorted(_tree(sim)) == ["data.csv", "manifest.json", "study.yml", "truth.csv", "truth_conditions.csv"]
    assert "seed 2, 24 subjects" in (sim / "study.yml").read_text()
    assert main(["validate", str(sim)]) == 0


def test_a_good_run_supersedes_a_failed_one(tmp_path):
    with OutputFolder(tmp_path / "r", kind="test", keep_failed=True) as out:
        (out.path / "log.txt").write_text("it failed")
        failed = out.keep_failed({"status": "failed"})
    assert failed == tmp_path / "r.failed" and (failed / "log.txt").exists()
    with OutputFolder(tmp_path / "r", kind="test", keep_failed=True) as out:
        out.publish({"status": "ok"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_every_manifest_says_which_painstudy_wrote_it(tmp_path):
    import json

    from painstudy.version import __version__, install_info

    own = _publish(tmp_path / "r", {})
    doc = json.loads((own / "manifest.json").read_text())
    assert doc["written_by"] == f"painstudy {__version__}" and doc["painstudy"] == install_info()
    assert doc["kind"] == "test" and doc["files"] == ["manifest.json"]


def test_a_foreign_failed_folder_is_refused_before_running(tmp_path):
    (tmp_path / "r.failed").mkdir()
    (tmp_path / "r.failed" / "mine.txt").write_text("x")
    with pytest.raises(OutputError, match="r.failed: refusing to replace it"):
        with OutputFolder(tmp_path / "r", kind="test", keep_failed=True):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.failed"]


def test_a_folder_of_another_kind_is_refused(tmp_path):
    """A report never replaces a simulated study (it may be the report's own input), nor the reverse."""
    sim = _publish(tmp_path / "study", {"study.yml": "name: x\n", "data.csv": "a\n1\n"}, kind="simulation")
    before = _tree(sim)
    assert "holds a simulation painstudy wrote, not a report" in ownership(sim, "report")
    with pytest.raises(OutputError, match="not a report"):
        _publish(sim, {"x.html": "1"}, kind="report")
    assert _tree(sim) == before
    assert ownership(sim, "simulation") is None


def test_a_folder_changed_since_painstudy_wrote_it_is_refused(tmp_path):
    own = _publish(tmp_path / "own", {"study.yml": "title: a\n", "run.json": "{}"})
    (own / "study.yml").write_text("title: edited by the user\n")
    assert ownership(own) == "holds files changed since painstudy wrote them: study.yml"
    with pytest.raises(OutputError, match="changed since painstudy wrote them: study.yml"):
        _publish(own, {"c.txt": "3"})
    assert (own / "study.yml").read_text() == "title: edited by the user\n"


def test_report_out_on_a_simulated_study_keeps_the_study(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--n", "40", "--out", "mystudy"]) == 0
    before = _tree(tmp_path / "mystudy")
    assert main(["report", "mystudy", "--notebooks", "01", "--out", "mystudy"]) == 1
    assert "holds a simulation painstudy wrote, not a report" in capsys.readouterr().err
    assert _tree(tmp_path / "mystudy") == before


def test_a_failing_first_write_does_not_speak_of_a_previous_folder(tmp_path, monkeypatch):
    real_rename = os.rename

    def full_disk(src, dst):
        if Path(src).name.startswith(".tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_rename(src, dst)

    with OutputFolder(tmp_path / "new", kind="test") as out:
        (out.path / "a.txt").write_text("new")
        monkeypatch.setattr(os, "rename", full_disk)
        with pytest.raises(OutputError, match="No space left on device.*; no test folder was written$") as err:
            out.publish({})
        monkeypatch.setattr(os, "rename", real_rename)
    assert "previous" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_previous_folder_is_hashed_once_per_run(tmp_path, monkeypatch):
    """The folder is checked when the run is set up and again under the lock; its files are hashed
    once for both, unless one is touched in between (then it is hashed again, and the change seen)."""
    import painstudy.outputs

    own = _publish(tmp_path / "r", {"a.txt": "a", "sub/b.txt": "b"})
    hashed = []
    real = painstudy.outputs.sha256_file
    monkeypatch.setattr(painstudy.outputs, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    with OutputFolder(own, kind="test") as out:
        assert sorted(hashed) == ["a.txt", "b.txt"]
        (out.path / "c.txt").write_text("c")
        out.publish({})
    hashed.clear()
    folder = OutputFolder(own, kind="test")
    (own / "c.txt").write_text("changed by someone")  # the folder now holds c.txt only (the last run's)
    with pytest.raises(OutputError, match="changed since painstudy wrote them: c.txt"):
        folder.__enter__()
    assert hashed == ["c.txt", "c.txt"]
