"""``painstudy fit mmrm``: fit an MMRM to a data file, print the tables, optionally write JSON.

The data file is read by :func:`painstudy.io.read_table` (every format a study can use: CSV/TSV, also
gzip-compressed, Excel, SAS, Stata, SPSS); text columns whose every value is a number are read as numbers.
A Parquet file, or a folder of them, is read in chunks instead (:mod:`painstudy.models.mixed.mmrm_stream`),
so that registries larger than memory can be fitted, with a progress bar when stderr is a terminal.  Rows
are numbered from 1 (the first data row) in messages.  A fit that did not
converge is an error (exit 1) unless ``--allow-nonconvergence``, when every table is marked
NOT CONVERGED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: `painstudy --help` starts without it
    import pandas as pd

import argparse
import sys
import warnings

from painstudy.errors import ConvergenceWarning, ModelError, PainstudyError

__all__ = ["register", "run", "main"]

FORMATS = "csv, tsv, txt (also .gz), parquet, xlsx, xls, sas7bdat, xpt, dta, sav"


def register(fit_subparsers) -> argparse.ArgumentParser:
    """Add the ``mmrm`` sub-command to the ``painstudy fit`` sub-parsers."""
    from painstudy.models.mixed.options import DF_METHODS, VCOV_METHODS

    p = fit_subparsers.add_parser(
        "mmrm",
        help="mixed model for repeated measures (REML/ML, SAS PROC MIXED conventions)",
        description='Fit an MMRM, e.g. --formula "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)". '
        "Prints the fit, the coefficients, the covariance matrix and the type III tests.",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help=f"data file in long format, one row per subject and visit ({FORMATS}); a Parquet file (or a "
        "folder of them) is read in chunks, never whole, for data larger than memory (each subject's rows "
        "together, e.g. sorted by subject)",
    )
    p.add_argument(
        "--formula",
        required=True,
        help='R mmrm formula with one covariance term, e.g. "y ~ arm * visit + us(visit | subject)"; '
        "structures us, cs, csh, ar1, ar1h, toep, toeph, ad, adh",
    )
    p.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    p.add_argument(
        "--df", default="satterthwaite", choices=DF_METHODS, help="degrees of freedom method (default satterthwaite)"
    )
    p.add_argument(
        "--vcov",
        default="model",
        choices=VCOV_METHODS,
        help="covariance of the coefficients: model-based, sandwich (empirical) or bias-reduced "
        "sandwich (empirical-bc) (default model)",
    )
    p.add_argument(
        "--visit-order",
        nargs="+",
        metavar="VISIT",
        dest="visit_order",
        help="the visits in time order, e.g. --visit-order week4 week8 week12 (default: a categorical "
        "column's categories, else numbers in numeric order and labels in natural order, week4 < "
        "week8 < week12; the order matters for ar1, toep, ad and their heterogeneous forms)",
    )
    p.add_argument(
        "--allow-nonconvergence",
        action="store_true",
        dest="allow_nonconvergence",
        help="print the estimates of a fit that did not converge, marked NOT CONVERGED, instead of "
        "stopping with an error",
    )
    p.add_argument(
        "--json",
        metavar="OUT",
        help="also write the results as JSON to this file (a file painstudy wrote may be replaced, no other)",
    )
    p.set_defaults(func=run)
    return p


#: A text column is taken for a numeric one with mistakes when at most this share of its values are not numbers.
NUMERIC_SHARE_OFF = 0.1


def _read(path: str) -> pd.DataFrame:
    """Read the data file; text columns holding only numbers become numeric; rows numbered from 1."""
    import numpy as np
    import pandas as pd

    from painstudy.errors import DataFileError
    from painstudy.io import read_table

    data = read_table(path)
    for c in data.columns:
        col = data[c]
        if col.dtype != object:
            continue
        text = col.where(col.isna(), col.astype(str).str.strip())
        num = pd.to_numeric(text, errors="coerce")
        odd = num.isna() & col.notna()
        if col.notna().any() and not odd.any():
            data[c] = num
        elif odd.sum() <= NUMERIC_SHARE_OFF * col.notna().sum():
            # numbers with a few words among them (n/a, -, ?): a covariate that would silently become a factor
            rows = [f"data row {i + 1} ({v!r})" for i, v in zip(np.flatnonzero(odd)[:5], col[odd].iloc[:5])]
            more = f" and {int(odd.sum()) - 5} more" if odd.sum() > 5 else ""
            raise DataFileError(
                f"{path}: column {c!r} holds numbers except at {', '.join(rows)}{more}: write missing values as "
                "empty cells or NA, or correct them (a column with words among its numbers would be fitted as a "
                "factor)",
                code="not_numeric",
            )
    data.index = pd.RangeIndex(1, len(data) + 1, name="row")
    return data


def _is_parquet(path: str) -> bool:
    """A Parquet file, or a folder of Parquet files (a partitioned data set)."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        return any(p.rglob("*.parquet"))
    return p.suffix.lower() in (".parquet", ".pq")


def run(args) -> int:
    """Run the sub-command; returns the exit code."""
    from painstudy.io import write_json
    from painstudy.models.mixed.mmrm import mmrm

    chunked = _is_parquet(args.data)
    # Parquet is read in chunks, never whole (data larger than memory), with a progress bar on a terminal
    data = args.data if chunked else _read(args.data)
    extra = {"control": {"progress": sys.stderr.isatty()}} if chunked else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            fit = mmrm(
                args.formula,
                data,
                reml=not args.ml,
                df=args.df,
                vcov=getattr(args, "vcov", "model"),
                visit_order=getattr(args, "visit_order", None),
                **extra,
            )
        except ModelError as exc:
            msg = str(exc)
            raise ModelError(msg if msg.startswith(f"{args.data}:") else f"{args.data}: {msg}") from None
    if not fit.converged and not getattr(args, "allow_nonconvergence", False):
        detail = next((n for n in fit.notes if n.startswith("the optimiser")), "the optimiser did not converge")
        raise ModelError(
            f"{args.data}: the MMRM did not converge ({detail}); try a simpler covariance structure, "
            f"or rerun with --allow-nonconvergence to see the estimates marked NOT CONVERGED"
        )
    for w in caught:
        if not str(w.message).startswith("mmrm: the optimiser did not converge"):
            print(f"painstudy: warning: {w.message}", file=sys.stderr)
    if args.json:
        write_json(fit.to_dict(), args.json)
    out = sys.stdout
    print(fit.summary(), file=out)
    status = "" if fit.converged else "NOT CONVERGED: "
    print(f"\n{status}Type III tests:", file=out)
    print(fit.anova().to_string(float_format=lambda x: f"{x:.4f}"), file=out)
    if args.json:
        print(f"\nwrote {args.json}", file=out)
    return 0


def main(argv=None) -> int:  # standalone use: python -m painstudy.cli.fit_mmrm ...
    parser = argparse.ArgumentParser(prog="painstudy fit")
    sub = parser.add_subparsers(dest="model", required=True)
    register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PainstudyError as exc:
        print(f"painstudy: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
