"""`painstudy report` under faults: interrupted (SIGINT, SIGTERM) or killed (SIGKILL), two runs on
one folder, several studies, a failing study among parallel ones, read-only or full disk, the
umask. After each: the previous report intact, nothing left behind, the next run succeeds.

Most cases run a small notebook (no painstudy analysis) so that they take seconds, not minutes."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from painstudy.cli import main

PAINSTUDY = [sys.executable, "-m", "painstudy"]

QUICK_PARAMETERS = """study: str = "demo"
data: str | None = None
output_dir: str = "."
label: str = "x"
sleep: float = 0
fail: bool = False
big: int = 0"""

QUICK_BODY = """import json, os, pathlib, time
out = pathlib.Path(output_dir)
(out / "tables" / "label.csv").write_text("label\\n" + json.dumps(label) + "\\n")
(out / "kernel.pid").write_text(str(os.getpid()))
(out / "tables" / "big.csv").write_text("x" * big)
if fail or "broken" in study:
    raise ValueError(f"deliberate failure for {pathlib.Path(study).parent.name}")
time.sleep(sleep)"""


def quick_notebook(folder: Path) -> Path:
    """A report notebook that starts fast: writes its label, its kernel's pid, sleeps or fails on request."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "painstudy", "display_name": "Python 3 (painstudy)", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Quick notebook"))
    params = nbformat.v4.new_code_cell(QUICK_PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells += [params, nbformat.v4.new_code_cell(QUICK_BODY)]
    path = folder / "quick.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def quick(tmp_path) -> Path:
    return quick_notebook(tmp_path)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(predicate, timeout: float = 90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def _start(args, tmp_path, **kw) -> tuple[subprocess.Popen, Path]:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    p = subprocess.Popen(
        [*PAINSTUDY, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a test suite started in the background of a non-interactive shell
        # ignores SIGINT, and a child inherits an ignored signal (Python then installs no KeyboardInterrupt)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kw,
    )
    return p, tmpdir


def _running_kernel(parent: Path, name: str) -> int:
    pidfile = _wait_for(lambda: next(parent.glob(f".tmp-{name}-*/kernel.pid"), None))
    pid = _wait_for(lambda: pidfile.read_text().strip())
    return int(pid)


def _previous_then_a_long_run(quick: Path, tmp_path: Path):
    """A previous report in reports/r, then a run on it whose kernel is running (and sleeping)."""
    parent = tmp_path / "reports"
    out = parent / "r"
    assert main(["report", "--notebooks", str(quick), "-p", "label=previous", "--out", str(out)]) == 0
    before = _tree(out)
    p, tmpdir = _start(["report", "--notebooks", str(quick), "-p", "sleep=120", "--out", str(out)], tmp_path)
    return parent, out, before, p, tmpdir, _running_kernel(parent, "r")


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_the_previous_report_and_nothing_else(sig, quick, tmp_path, capsys):
    parent, out, before, p, tmpdir, kernel = _previous_then_a_long_run(quick, tmp_path)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert _tree(out) == before
    assert _leftovers(parent) == [], "no staging folder, no lock file"
    _wait_for(lambda: not _alive(kernel), 30)
    assert list(tmpdir.iterdir()) == [], "no kernel log or other file in $TMPDIR"
    assert main(["report", "--notebooks", str(quick), "-p", "label=next", "--out", str(out)]) == 0
    assert (out / "tables" / "label.csv").read_text() == 'label\n"next"\n'


@pytest.mark.slow
def test_killed_run_is_cleaned_up_by_the_next_one(quick, tmp_path):
    parent, out, before, p, tmpdir, kernel = _previous_then_a_long_run(quick, tmp_path)
    p.kill()
    p.wait(timeout=30)
    _wait_for(lambda: not _alive(kernel), 60)  # the notebook process notices, stops its kernel and exits
    assert _tree(out) == before
    assert any(n.startswith(".tmp-r-") for n in _leftovers(parent)), "a killed run cannot clean up itself"
    p2, _ = _start(["report", "--notebooks", str(quick), "-p", "label=next", "--out", str(out)], tmp_path)
    _, err = p2.communicate(timeout=120)
    assert p2.returncode == 0, err
    assert (out / "tables" / "label.csv").read_text() == 'label\n"next"\n'
    assert _leftovers(parent) == [], "the next run removed what the killed one left"
    assert list(tmpdir.iterdir()) == []


@pytest.mark.slow
def test_two_runs_on_one_folder(quick, tmp_path, capsys):
    out = tmp_path / "r"
    p, _ = _start(
        ["report", "--notebooks", str(quick), "-p", "sleep=6", "-p", "label=first", "--out", str(out)], tmp_path
    )
    _running_kernel(tmp_path, "r")
    assert main(["report", "--notebooks", str(quick), "-p", "label=second", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "another painstudy run is writing this folder" in err and f"process {p.pid}" in err
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert (out / "tables" / "label.csv").read_text() == 'label\n"first"\n'


def _study(folder: Path, name: str) -> Path:
    assert main(["simulate", "--n", "8", "--name", name, "--out", str(folder)]) == 0
    return folder / "study.yml"


@pytest.mark.slow
def test_several_studies_each_get_their_own_folder(quick, tmp_path, capsys):
    a, b = _study(tmp_path / "a", "alpha"), _study(tmp_path / "b", "beta")
    out = tmp_path / "reports"
    assert main(["report", str(a), str(b), "--notebooks", str(quick), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "beta"]
    # the same name twice is refused before anything runs
    c = _study(tmp_path / "c", "alpha")
    capsys.readouterr()
    assert main(["report", str(a), str(c), "--notebooks", str(quick), "--out", str(tmp_path / "other")]) == 2
    assert "are both named 'alpha'" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_interrupting_parallel_studies_stops_them_all(quick, tmp_path):
    a, b = _study(tmp_path / "a", "alpha"), _study(tmp_path / "b", "beta")
    out = tmp_path / "reports"
    p, tmpdir = _start(
        ["report", str(a), str(b), "--notebooks", str(quick), "-p", "sleep=120", "--jobs", "2", "--out", str(out)],
        tmp_path,
    )
    kernels = [_running_kernel(out, "alpha"), _running_kernel(out, "beta")]
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=90)
    assert p.returncode == 130 and "Traceback" not in err, err
    assert list(out.iterdir()) == [], "no report, no staging folder, no lock"
    for pid in kernels:
        _wait_for(lambda pid=pid: not _alive(pid), 30)
    assert list(tmpdir.iterdir()) == []


@pytest.mark.slow
def test_a_failing_study_among_parallel_ones_is_reported(quick, tmp_path):
    good, broken = _study(tmp_path / "good", "good"), _study(tmp_path / "broken", "broken")
    out = tmp_path / "reports"
    p = subprocess.run(
        [*PAINSTUDY, "report", str(good), str(broken), "--notebooks", str(quick), "--jobs", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1
    assert "painstudy report" in p.stderr and "ValueError: deliberate failure for broken" in p.stderr
    assert "Traceback" not in p.stderr
    assert (out / "good" / "quick.html").exists() and not (out / "broken").exists()
    assert (out / "broken.failed" / "logs" / "quick.log").exists()


def _without_root_powers() -> list[str]:
    """A command prefix under which file permissions hold: root ignores them unless it drops the
    capabilities that override them (setpriv, from util-linux)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


@pytest.mark.slow
def test_read_only_parent_one_line_error_previous_report_intact(quick, tmp_path):
    parent = tmp_path / "reports"
    out = parent / "r"
    assert main(["report", "--notebooks", str(quick), "--out", str(out)]) == 0
    before = _tree(out)
    for p in [parent, *parent.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    try:
        p = subprocess.run(
            [*_without_root_powers(), *PAINSTUDY, "report", "--notebooks", str(quick), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert p.returncode == 1, p.stderr
        assert "Permission denied" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "Traceback" not in p.stderr
        assert _tree(out) == before
        assert sorted(x.name for x in parent.iterdir()) == ["r"]
    finally:
        for p in [parent, *parent.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)


@pytest.mark.slow
def test_full_disk_keeps_the_previous_report(quick, tmp_path):
    """A file-size limit makes writes fail as a full disk does (EFBIG instead of ENOSPC)."""
    out = tmp_path / "r"
    assert main(["report", "--notebooks", str(quick), "--out", str(out)]) == 0
    before = _tree(out)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))

    p = subprocess.run(
        [*PAINSTUDY, "report", "--notebooks", str(quick), "-p", "big=3000000", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    assert p.returncode == 1
    assert "File too large" in p.stderr and "Traceback" not in p.stderr
    assert "previous report" in p.stderr and "is unchanged" in p.stderr
    assert _tree(out) == before
    assert [x.name for x in tmp_path.iterdir() if x.name.startswith(".")] == []


@pytest.mark.slow
@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_report_follows_the_umask(umask, folder_mode, file_mode, quick, tmp_path):
    out = tmp_path / "r"
    p = subprocess.run(
        [*PAINSTUDY, "report", "--notebooks", str(quick), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        umask=umask,
    )
    assert p.returncode == 0, p.stderr
    for folder in (out, out / "tables", out / "figures"):
        assert stat.S_IMODE(folder.stat().st_mode) == folder_mode, folder
    for f in ("manifest.json", "run.json", "quick.ipynb", "quick.html", "tables/label.csv"):
        assert stat.S_IMODE((out / f).stat().st_mode) == file_mode, f


@pytest.mark.slow
def test_injected_strings_arrive_unchanged(quick, tmp_path):
    import json

    label = 'x"); open("PWNED", "w"); ("\n\'\'\'"""\\ é'
    out = tmp_path / "r"
    assert main(["report", "--notebooks", str(quick), "-p", f"label={json.dumps(label)}", "--out", str(out)]) == 0
    written = (out / "tables" / "label.csv").read_text().splitlines()[1]
    assert json.loads(written) == label
    assert not list(tmp_path.rglob("PWNED"))


@pytest.mark.slow
def test_progress_goes_to_a_terminal_only(quick, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    quiet = subprocess.run(
        [*PAINSTUDY, "report", "--notebooks", str(quick), "--out", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    p = subprocess.Popen(
        [*PAINSTUDY, "report", "--notebooks", str(quick), "--out", str(tmp_path / "b")],
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed: the process has finished
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert p.wait(timeout=60) == 0
    assert b"report demo" in shown and b"1/1" in shown, shown


def test_a_write_error_while_preparing_is_one_message(quick, tmp_path, monkeypatch, capsys):
    """A full disk before any notebook runs: an OutputError (exit 1), no traceback, nothing left."""
    import errno

    from painstudy.reporting import runner

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "inject", full_disk)
    assert main(["report", "--notebooks", str(quick), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the report (No space left on device)" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quick.ipynb"]


@pytest.mark.slow
def test_a_failed_report_mentions_a_previous_report_only_when_there_was_one(quick, tmp_path):
    out = tmp_path / "r"
    command = [*PAINSTUDY, "report", "--notebooks", str(quick), "--out", str(out)]
    p = subprocess.run([*command, "-p", "fail=true"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "previous" not in p.stderr and f"No report folder was written to {out}" in p.stderr, p.stderr
    assert subprocess.run(command, capture_output=True, text=True, timeout=300).returncode == 0
    p = subprocess.run([*command, "-p", "fail=true"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and f"The previous report folder in {out} is unchanged" in p.stderr, p.stderr
