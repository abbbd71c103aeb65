"""``painstudy reproduce STUDY``: recompute a published trial and compare every number."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: `painstudy --help` starts without it
    pass

import sys
from pathlib import Path

from .report import terminate_as_interrupt


def register(subparsers) -> None:
    from ..reproduce import STUDIES

    sp = subparsers.add_parser("reproduce", help="recompute a published trial; every published number beside ours")
    sp.add_argument("study", choices=sorted(STUDIES))
    sp.add_argument("--data", help="another copy of the raw data file (e.g. your own download)")
    sp.add_argument("--out", help="output folder (default ./reports/<study> in the current folder)")
    sp.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    sp.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from ..reporting import run_report

    if args.data and not Path(args.data).is_file():
        print(f"painstudy reproduce: {args.data}: data file not found", file=sys.stderr)
        return 1
    params = {"data": args.data} if args.data else {}
    with terminate_as_interrupt():
        res = run_report(
            args.study,
            notebooks=[f"05_reproduce_{args.study}", "06_sensitivity"],
            parameters=params,
            out=args.out,
            show_code=args.show_code,
        )
    table = pd.read_csv(res.out / "tables" / "reproduction.csv", dtype={"published": str})
    with pd.option_context("display.width", 200, "display.max_rows", 1000, "display.max_colwidth", 70):
        print(
            table[["item", "published", "reproduced", "tolerance", "status"]].to_string(
                index=False, formatters={"reproduced": "{:.4g}".format, "tolerance": "{:.2g}".format}
            )
        )
    counts = table["status"].value_counts().to_dict()
    print(f"\n{len(table)} items: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    reasons = table.loc[table["status"] == "documented", "reason"].drop_duplicates()
    if len(reasons):
        print("\nDocumented reasons for differences:")
        for r in reasons:
            print(f"  - {r}")
    data = next((i for i in res.manifest.get("inputs", []) if i.get("role") == "data"), None)
    read = f"; data: {data['path']} (SHA-256 {data['sha256'][:12]}...)" if data else ""
    print(f"\nreport: {res.out / (f'05_reproduce_{args.study}.html')}{read}")
    bad = table[table["status"] == "differs"]
    if len(bad):
        print(f"\n{len(bad)} item(s) differ without a documented reason:", file=sys.stderr)
        for r in bad.itertuples():
            print(f"  {r.item}: published {r.published}, reproduced {r.reproduced:.4g}", file=sys.stderr)
        return 1
    return 0
