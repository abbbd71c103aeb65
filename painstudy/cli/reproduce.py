"""``painstudy reproduce SOURCE``: recompute a published result and compare every number."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from .report import terminate_as_interrupt


def register(subparsers) -> None:
    from ..reproduce.sources import SOURCES

    sp = subparsers.add_parser(
        "reproduce",
        help="recompute a published result (a trial, SAS listings, rbmi); every published number beside ours",
        description="Sources: "
        + "; ".join(f"{name}: {s.title}" for name, s in SOURCES.items())
        + ". Writes a report (default ./reports/SOURCE) and exits 1 when a number differs without a documented reason.",
    )
    sp.add_argument("study", metavar="SOURCE", choices=sorted(SOURCES), help=", ".join(sorted(SOURCES)))
    sp.add_argument("--data", help="another copy of the raw data file (e.g. your own download)")
    sp.add_argument(
        "--references",
        metavar="PATH",
        help="the folder of reference output a source reads (sas-fev: the SAS listings of openpharma/mmrm's "
        "design/SAS/); default: $PAINSTUDY_REFERENCES, else references/ beside the data mirror, else "
        "../shared/references from the current folder",
    )
    sp.add_argument("--out", help="output folder (default ./reports/<source> in the current folder)")
    sp.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    sp.add_argument(
        "--format",
        nargs="+",
        choices=("html", "docx"),
        default=["html"],
        dest="formats",
        help="html (always written, with the summary page index.html); docx: also report.docx",
    )
    sp.set_defaults(func=run)


@contextmanager
def _environment(name: str, value: str | None):
    """``os.environ[name] = value`` while running (the report's notebook processes inherit it)."""
    before = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def run(args) -> int:
    from ..reproduce.sources import REFERENCES_ENV, SOURCES, ReferencesError, references_folder

    source = SOURCES[args.study]
    if args.data and not Path(args.data).is_file():
        print(f"painstudy reproduce: {args.data}: data file not found", file=sys.stderr)
        return 1
    try:
        folder = references_folder(source, args.references)
    except ReferencesError as exc:
        print(f"painstudy reproduce: {exc}", file=sys.stderr)
        return 1

    import pandas as pd

    from ..reporting import run_report

    params = {"data": args.data} if args.data else {}
    with terminate_as_interrupt(), _environment(REFERENCES_ENV, str(folder) if folder else None):
        res = run_report(
            source.study,
            notebooks=list(source.notebooks),
            parameters=params,
            out=args.out if args.out is not None else Path.cwd() / "reports" / source.name,
            show_code=args.show_code,
            formats=args.formats,
        )
    from ..reproduce import reproduced_text

    table = pd.read_csv(res.out / "tables" / "reproduction.csv", dtype={"published": str})
    shown = table[["item", "published", "reproduced", "tolerance", "status"]].assign(
        reproduced=[reproduced_text(x, p) for x, p in zip(table["reproduced"], table["published"])],
        tolerance=["" if t != t else f"{t:.2g}" for t in table["tolerance"]],
    )
    with pd.option_context("display.width", 200, "display.max_rows", 1000, "display.max_colwidth", 70):
        print(shown.to_string(index=False))
    counts = table["status"].value_counts().to_dict()
    print(f"\n{len(table)} items: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    reasons = table.loc[table["status"] == "documented", "reason"].drop_duplicates()
    if len(reasons):
        print("\nDocumented reasons for differences:")
        for r in reasons:
            print(f"  - {r}")
    data = next((i for i in res.manifest.get("inputs", []) if i.get("role") == "data"), None)
    read = f"; data: {data['path']} (SHA-256 {data['sha256'][:12]}...)" if data else ""
    print(f"\nreport: {res.out / (source.notebooks[0] + '.html')}{read}")
    bad = table[table["status"] == "differs"]
    if len(bad):
        print(f"\n{len(bad)} item(s) differ without a documented reason:", file=sys.stderr)
        for r in bad.itertuples():
            print(f"  {r.item}: published {r.published}, reproduced {r.reproduced:.4g}", file=sys.stderr)
        return 1
    return 0
