"""Build the documentation site (run by `make docs`): generate the reference pages, then Sphinx.

Generated pages (in ``docs/reference/`` and ``docs/validation.md``, not committed):

- ``cli.md``: every command's ``--help``;
- ``study-yml.md`` and ``validation-rules.md`` (committed; see ``tools/build_reference_docs.py``):
  the study.yml reference from its schema, and every validation rule's code, meaning and fix;
- ``validation.md`` and ``validation/<source>.md``: the validation report (``tools/validation_report.py``):
  every comparison of painstudy's numbers with SAS, R and published values made by the reference tests
  (quantity, reference value and its source file, ours, difference, tolerance), collected by running those
  tests with the ledger (``tests/ledger.py``), grouped by source with the software that produced each.

Sphinx runs with warnings as errors and no network.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
LEDGER = BUILD / "ledger.json"
#: the tests whose comparisons make up the validation report (those that exist are run)
REFERENCE_TESTS = [
    "tests/test_mmrm_sas.py",
    "tests/test_mmrm_reference.py",
    "tests/test_mmrm_bodyweight.py",
    "tests/test_mmrm_visit_order.py",
    "tests/test_lmm_reference.py",
    "tests/test_lmm_pastes.py",
    "tests/test_survival_reference.py",
    "tests/test_survival_core.py",
    "tests/test_mvt.py",
    "tests/test_responders.py",
    "tests/test_ancova.py",
    "tests/test_sensitivity.py",
    "tests/test_sensitivity_options.py",
    "tests/test_lsmean_weights.py",
    "tests/test_table1_smd.py",
    "tests/test_stratified.py",
    "tests/test_gee.py",
    "tests/test_subgroups.py",
    "tests/test_diary_lmm.py",
    "tests/test_twopart.py",
    "tests/test_power_reference.py",
]


def cli_reference() -> str:
    from painstudy.cli import build_parser

    parser = build_parser()
    out = [
        "# Command line",
        "",
        "Exit codes: 0 success; 1 the data break a rule or an analysis cannot be done "
        "(every problem on its own line, never a traceback); 2 usage errors; 130 interrupted.",
        "",
    ]

    def walk(p: argparse.ArgumentParser, prefix: str) -> None:
        out.extend([f"## `{prefix}`", "", "```text", p.format_help().rstrip(), "```", ""])
        for action in p._actions:  # argparse keeps sub-parsers here; there is no public accessor
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}")

    walk(parser, "painstudy")
    return "\n".join(out) + "\n"


def reference_tests() -> list[str]:
    """The files of REFERENCE_TESTS that exist."""
    return [t for t in REFERENCE_TESTS if (ROOT / t).exists()]


def run_ledger() -> list[dict]:
    """Run the reference tests with the ledger switched on; return the recorded comparisons."""
    LEDGER.parent.mkdir(parents=True, exist_ok=True)
    LEDGER.unlink(missing_ok=True)
    env = {**os.environ, "PAINSTUDY_LEDGER": str(LEDGER), "MPLBACKEND": "Agg"}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *reference_tests()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if res.returncode not in (0,):
        print(res.stdout[-3000:], res.stderr[-2000:], file=sys.stderr)
        raise SystemExit("the reference tests failed: the validation report is not built")
    return json.loads(LEDGER.read_text()) if LEDGER.exists() else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-ledger", action="store_true", help="reuse docs/_build/ledger.json")
    args = ap.parse_args(argv)
    ref = DOCS / "reference"
    ref.mkdir(exist_ok=True)
    (ref / "cli.md").write_text(cli_reference(), encoding="utf-8")
    sys.path.insert(0, str(ROOT / "tools"))
    import build_reference_docs

    build_reference_docs.main()
    import validation_report

    rows = json.loads(LEDGER.read_text()) if args.no_ledger and LEDGER.exists() else run_ledger()
    validation_report.write(validation_report.render(rows, reference_tests(), ROOT), DOCS)
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(BUILD / "html")]
    res = subprocess.run(cmd, cwd=ROOT)
    if res.returncode == 0:
        print(f"documentation written to {BUILD / 'html' / 'index.html'}")
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
