"""``painstudy fit mmrm``: fit an MMRM to a CSV/Parquet file, print the tables, optionally write JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from painstudy.errors import DataFileError

__all__ = ["register", "run"]


def register(fit_subparsers) -> argparse.ArgumentParser:
    """Add the ``mmrm`` sub-command to the ``painstudy fit`` sub-parsers."""
    from painstudy.models.mixed.mmrm import DF_METHODS, VCOV_METHODS

    p = fit_subparsers.add_parser(
        "mmrm",
        help="mixed model for repeated measures (REML/ML, SAS PROC MIXED conventions)",
        description="Fit an MMRM, e.g. --formula \"FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)\".",
    )
    p.add_argument("--data", required=True, help="CSV (or .parquet) file in long format, one row per subject-visit")
    p.add_argument("--formula", required=True, help="R mmrm formula with one covariance term, e.g. us(VISIT | SUBJECT)")
    p.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    p.add_argument("--df", default="satterthwaite", choices=DF_METHODS, help="degrees of freedom method")
    p.add_argument("--vcov", default="model", choices=VCOV_METHODS, help="covariance of the coefficients")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to this file")
    p.set_defaults(func=run)
    return p


def _read(path: str) -> pd.DataFrame:
    f = Path(path)
    if not f.exists():
        raise DataFileError(f"{path}: no such file")
    try:
        if f.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(f)
        return pd.read_csv(f)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read the file ({exc})") from None


def run(args) -> int:
    """Run the sub-command; returns the exit code."""
    from painstudy.models.mixed.mmrm import mmrm

    data = _read(args.data)
    fit = mmrm(args.formula, data, reml=not args.ml, df=args.df, vcov=getattr(args, "vcov", "model"))
    out = sys.stdout
    print(fit.summary(), file=out)
    print("\nType III tests:", file=out)
    print(fit.anova().to_string(float_format=lambda x: f"{x:.4f}"), file=out)
    if args.json:
        Path(args.json).write_text(json.dumps(fit.to_dict(), indent=2))
        print(f"\nwrote {args.json}", file=out)
    return 0


def main(argv=None) -> int:  # standalone use: python -m painstudy.cli.fit_mmrm ...
    parser = argparse.ArgumentParser(prog="painstudy fit")
    sub = parser.add_subparsers(dest="model", required=True)
    register(sub)
    args = parser.parse_args(argv)
    from painstudy.errors import PainstudyError

    try:
        return args.func(args)
    except PainstudyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
