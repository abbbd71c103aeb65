"""``painstudy fit subgroups``: treatment effect by subgroup (:func:`painstudy.subgroups`) from the shell."""

from __future__ import annotations


def register(fit_subparsers) -> None:
    sp = fit_subparsers.add_parser(
        "subgroups", help="treatment effect by subgroup: interaction tests and effects within subgroups (MMRM)"
    )
    sp.add_argument(
        "study",
        nargs="?",
        default="demo",
        help="registered study name or path to a study.yml (default: the demo study)",
    )
    sp.add_argument("--data", help="use this data file instead of the one named in the study definition")
    sp.add_argument("--outcome", default="pain", help="outcome analysed (default pain)")
    sp.add_argument(
        "--by",
        nargs="+",
        default=["condition"],
        help="subgroup variables: subject columns (condition, sex, age, ...) or 'baseline' (default condition)",
    )
    sp.add_argument("--visit", nargs="+", dest="visits", help="visits reported (default: every post-baseline visit)")
    sp.add_argument("--reference", help="reference arm (default: the study's control arm)")
    sp.add_argument(
        "--continuous",
        choices=["categories", "linear"],
        default="categories",
        help="numeric variables in quantile groups (default) or as a linear interaction",
    )
    sp.add_argument("--bins", type=int, default=3, help="quantile groups of a numeric variable (default 3)")
    sp.add_argument(
        "--at", nargs="+", type=float, help="with --continuous linear: values of the modifier (default: quartiles)"
    )
    sp.add_argument(
        "--shrinkage", action="store_true", help="add empirical-Bayes (shrunken) subgroup effects, labelled so"
    )
    sp.add_argument("--covariance", default="us", help="MMRM covariance structure (default us)")
    sp.add_argument("--json", metavar="FILE", help="also write every table of the result as JSON")
    sp.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from ..cohort import load_cohort
    from ..io import write_json
    from ..subgroups import subgroups

    cohort = load_cohort(args.study, data=args.data)
    res = subgroups(
        cohort,
        args.outcome,
        by=args.by,
        visits=args.visits,
        reference=args.reference,
        continuous=args.continuous,
        at=args.at,
        bins=args.bins,
        shrinkage=args.shrinkage,
        covariance=args.covariance,
    )
    with pd.option_context("display.width", 250, "display.max_rows", 1000, "display.max_colwidth", 60):
        print(res.summary())
    if args.json:
        print(f"\nwrote {write_json({'study': cohort.spec.name, **res.to_dict()}, args.json)}")
    return 0
