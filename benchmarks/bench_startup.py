"""Start-up and interactive latency: ``import painstudy``, ``painstudy --help`` and ``compare_arms`` on the
demo study, measured in fresh processes beside ``import pandas`` (the floor of any pandas tool) in one run.

    python benchmarks/bench_startup.py [--reps 11]   # writes benchmarks/RESULTS_startup.md

Each repetition runs every command once, in an order rotated from one repetition to the next, each in a new
Python process (wall clock of the whole process, interpreter start-up included); the table gives medians.
Goals (issue 16): ``--help`` and ``import painstudy`` under 0.4 s, ``compare_arms`` on the demo under 1 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
EXE = str(Path(PY).parent / "painstudy")

COMPARE = (
    "import time, painstudy; c = painstudy.load_cohort('demo'); t = time.perf_counter(); "
    "painstudy.compare_arms(c, outcomes=['pain', 'function']); t1 = time.perf_counter(); "
    "painstudy.compare_arms(c, outcomes=['pain', 'function']); print(t1 - t, time.perf_counter() - t1)"
)
TASKS = {
    "python -c 'import pandas' (floor)": [PY, "-c", "import pandas"],
    "python -c 'import painstudy'": [PY, "-c", "import painstudy"],
    "painstudy --help": [EXE, "--help"],
    "painstudy fit mmrm --help": [EXE, "fit", "mmrm", "--help"],
    "compare_arms(demo, pain + function), whole process": [PY, "-c", COMPARE],
}
GOALS = {"python -c 'import painstudy'": 0.4, "painstudy --help": 0.4}


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "MPLBACKEND": "Agg"})
    return time.perf_counter() - t0, out.stdout


def report_rows(reps: int) -> list[str]:
    """The demo report (four notebooks) with one notebook at a time and with the default --jobs (the cores),
    alternating; plus the fixed cost of one notebook (a trivial one: kernel start, imports, HTML export)."""
    import json
    import tempfile

    if reps < 1:
        return []
    times: dict[str, list[float]] = {"--jobs 1": [], "default --jobs": []}
    trivial: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp) / "trivial.ipynb"
        cells = [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": ["parameters"]},
                "outputs": [],
                "source": 'study = "demo"\noutput_dir = "."',
            },
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "x = 1"},
        ]
        meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        nb.write_text(json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 4}))
        for r in range(reps):
            for label in ("--jobs 1", "default --jobs") if r % 2 == 0 else ("default --jobs", "--jobs 1"):
                extra = ["--jobs", "1"] if label == "--jobs 1" else []
                t, _ = run([EXE, "report", "demo", "--out", str(Path(tmp) / f"r{r}{len(extra)}"), *extra])
                times[label].append(t)
            out = Path(tmp) / f"t{r}"
            run([EXE, "report", "demo", "--notebooks", str(nb), "--out", str(out)])
            trivial.append(json.loads((out / "run.json").read_text())["notebooks"][0]["seconds"])
            print(f"report repetition {r + 1}/{reps} done", flush=True)
    rows = [
        f"| painstudy report demo (4 notebooks), {k} | {statistics.median(v):.1f} s | {min(v):.1f} s | |"
        for k, v in times.items()
    ]
    rows.append(
        f"| one trivial notebook in a report (kernel start, imports, HTML export) | "
        f"{statistics.median(trivial):.1f} s | {min(trivial):.1f} s | |"
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--report-reps", type=int, default=2, help="repetitions of the demo report timings (0: skip)")
    args = ap.parse_args()
    names = list(TASKS)
    times: dict[str, list[float]] = {n: [] for n in names}
    first: list[float] = []
    again: list[float] = []
    loads = []
    for n in names:  # warm the file cache once
        run(TASKS[n])
    for r in range(args.reps):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            t, out = run(TASKS[n])
            times[n].append(t)
            if n.startswith("compare_arms"):
                a, b = map(float, out.strip().splitlines()[-1].split())
                first.append(a)
                again.append(b)
        loads.append(os.getloadavg()[0])
        print(f"repetition {r + 1}/{args.reps} done", flush=True)
    rows = []
    for n in names:
        med = statistics.median(times[n])
        goal = GOALS.get(n)
        verdict = "" if goal is None else (f"goal < {goal} s: met" if med < goal else f"goal < {goal} s: NOT met")
        rows.append(f"| {n} | {med * 1000:.0f} ms | {min(times[n]) * 1000:.0f} ms | {verdict} |")
    for label, vals in (
        ("compare_arms(demo, pain + function), first call (imports the model stack)", first),
        ("compare_arms(demo, pain + function), a later call in the same session", again),
    ):
        med = statistics.median(vals)
        rows.append(
            f"| {label} | {med * 1000:.0f} ms | {min(vals) * 1000:.0f} ms | goal < 1 s: {'met' if med < 1 else 'NOT met'} |"
        )
    rows += report_rows(args.report_reps)
    import numpy
    import pandas
    import scipy

    text = (
        f"""# Start-up and interactive latency

Generated by `benchmarks/bench_startup.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({args.reps} repetitions).

Machine: {platform.platform()}; {os.cpu_count()} cores; Python {platform.python_version()}, numpy {numpy.__version__},
scipy {scipy.__version__}, pandas {pandas.__version__}. Load (1-minute average) over the run: {min(loads):.1f} to
{max(loads):.1f}.

How: every command in a new process, all commands once per repetition in a rotated order, wall clock of the
whole process (interpreter start-up included); medians and minima. `import painstudy` and `--help` load neither
pandas nor numpy (every public name is imported on first use; the command line lists its choices from
modules without numerical imports), which `tests/test_cli.py` checks.

| command | median | minimum | |
|---|---|---|---|
"""
        + "\n".join(rows)
        + "\n"
    )
    (HERE / "RESULTS_startup.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
