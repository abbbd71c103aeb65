"""``painstudy fit sensitivity``: the primary comparison beside reference-based missing-data analyses."""

from __future__ import annotations


def register(fit_subparsers) -> None:
    sp = fit_subparsers.add_parser(
        "sensitivity",
        help="missing data: the primary comparison beside MAR, JR, CR and CIR imputation, a tipping point and LOCF/BOCF/WOCF",
        description="Reference-based imputation (as R rbmi) of one outcome: conditional mean imputation with "
        "jackknife (default) or bootstrap inference, or approximate Bayesian multiple imputation with Rubin's rules; "
        "the tipping point of the primary comparison under jump to reference; the historical single imputations "
        "for comparison. The estimand is printed with the results.",
    )
    sp.add_argument(
        "study", nargs="?", default="demo", help="registered study name or path to a study.yml (default: the demo)"
    )
    sp.add_argument("--data", help="use this data file instead of the one named in the study definition")
    sp.add_argument("--outcome", help="the outcome (default: the study's first, its primary)")
    sp.add_argument("--visit", help="the visit of the comparison (default: the last)")
    sp.add_argument(
        "--strategies",
        nargs="+",
        default=None,
        type=str.upper,
        choices=["MAR", "JR", "CR", "CIR", "LMCF"],
        help="imputation assumptions for the data a hypothetical strategy sets aside (default: MAR and the "
        "estimand's sensitivity assumptions, JR CR CIR unless study.yml declares others)",
    )
    sp.add_argument(
        "--method",
        choices=["condmean", "approxbayes", "bayes"],
        default="condmean",
        help="imputation method: conditional mean (default), approximate Bayesian MI (bootstrap) or Bayesian MI (MCMC)",
    )
    sp.add_argument(
        "--inference",
        choices=["jackknife", "bootstrap", "bootstrap-percentile", "rubin"],
        help="condmean: jackknife (default) or bootstrap; approxbayes and bayes: rubin",
    )
    sp.add_argument(
        "--n-samples", type=int, dest="n_samples", help="bootstrap samples or imputations (default 500 / 100)"
    )
    sp.add_argument(
        "--covariance-per-arm",
        action="store_true",
        help="a covariance matrix per arm in the imputation model (default: one shared by the arms, as rbmi)",
    )
    sp.add_argument(
        "--analysis",
        choices=["ancova", "mmrm"],
        default="ancova",
        help="analysis of each completed data set: ANCOVA at each visit (default, as rbmi) or the MMRM of all visits",
    )
    sp.add_argument(
        "--information-anchored",
        action="store_true",
        help="condmean: the information-anchored variance of Lu (2021) instead of the frequentist one (conservative)",
    )
    sp.add_argument("--seed", type=int, default=1, help="seed of the bootstrap and the draws (default 1)")
    sp.add_argument("--json", metavar="FILE", help="also write the tables and the estimand as JSON")
    sp.set_defaults(func=run)


def run(args) -> int:
    import sys

    import pandas as pd

    from ..cohort import load_cohort
    from ..errors import ModelError
    from ..io import write_json
    from ..sensitivity.run import METHODS
    from ..sensitivity_analyses import sensitivity_analyses

    if args.inference and args.inference not in METHODS[args.method]:
        raise ModelError(
            f"--inference {args.inference} does not go with --method {args.method}; use {' or '.join(METHODS[args.method])}"
        )
    cohort = load_cohort(args.study, data=args.data)
    outcome = args.outcome or cohort.outcomes[0]
    res = sensitivity_analyses(
        cohort,
        outcome,
        visit=args.visit,
        strategies=args.strategies,
        method=args.method,
        inference=args.inference,
        n_samples=args.n_samples,
        seed=args.seed,
        progress=sys.stderr.isatty(),
        covariance_per_arm=args.covariance_per_arm,
        analysis=args.analysis,
        information_anchored=args.information_anchored,
    )
    with pd.option_context("display.width", 250, "display.max_rows", 500, "display.max_colwidth", 70):
        print(res.summary())
    if args.json:
        print(f"\nwrote {write_json(res.to_dict(), args.json)}")
    return 0
