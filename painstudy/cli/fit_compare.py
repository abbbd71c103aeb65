"""``painstudy fit compare``: the mixed-model comparison of arms (compare_arms) from the shell."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: `painstudy --help` starts without it
    pass


def register(fit_subparsers) -> None:
    sp = fit_subparsers.add_parser("compare", help="compare arms on pain and function (MMRM or random slopes)")
    sp.add_argument(
        "study",
        nargs="?",
        default="demo",
        help="registered study name or path to a study.yml (default: the demo study)",
    )
    sp.add_argument("--data", help="use this data file instead of the one named in the study definition")
    sp.add_argument("--outcomes", nargs="+", help="outcomes (default: the study's first two; the first is primary)")
    sp.add_argument(
        "--model",
        choices=["mmrm", "slopes"],
        default="mmrm",
        help="mmrm: visit as a repeated factor (default); slopes: random intercept and slope per subject",
    )
    sp.add_argument("--covariance", default="us", help="MMRM covariance structure (default us)")
    sp.add_argument("--reference", help="reference arm (default: the study's control arm)")
    sp.add_argument("--visits", nargs="+", help="visits to report (default: every post-baseline visit)")
    sp.add_argument(
        "--adjust-for",
        nargs="+",
        default=["baseline"],
        dest="adjust_for",
        help="covariates: 'baseline' and/or subject columns (default: baseline)",
    )
    sp.add_argument(
        "--multiplicity",
        choices=["dunnett", "holm", "bonferroni", "none"],
        default="dunnett",
        help="adjustment across arms within each outcome, visit and family (default dunnett)",
    )
    sp.add_argument(
        "--estimand",
        choices=["study", "treatment_policy", "hypothetical", "composite", "while_on_treatment"],
        default="study",
        help="strategy for every intercurrent event (default: the estimands declared in study.yml)",
    )
    sp.add_argument("--json", metavar="FILE", help="also write the comparison table, LS means and estimands as JSON")
    sp.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from ..cohort import load_cohort
    from ..compare import compare_arms

    cohort = load_cohort(args.study, data=args.data)
    res = compare_arms(
        cohort,
        args.outcomes,
        model=args.model,
        covariance=args.covariance,
        adjust_for=args.adjust_for,
        reference=args.reference,
        visits=args.visits,
        multiplicity=args.multiplicity,
        estimand=None if args.estimand == "study" else args.estimand,
    )
    from ..io import write_json

    print(f"{cohort.spec.name}: {res.model}; {res.multiplicity}")
    for outcome, formula in res.model_lines().items():
        print(f"  {outcome}: {formula}")
    for outcome, est in res.estimands.items():
        print(f"  estimand ({outcome}): {est}")
    shown = res.display_table()
    with pd.option_context("display.width", 250, "display.max_rows", 500, "display.max_colwidth", 70):
        print(shown.to_string(index=False))
    if args.json:
        out = {
            "study": cohort.spec.name,
            "model": res.model,
            "multiplicity": res.multiplicity,
            "formulas": dict(res.formulas),
            "estimands": {o: e.to_dict() for o, e in res.estimands.items()},
            "comparisons": res.table,
            "lsmeans": res.lsmeans.astype({"arm": str, "visit": str}),
        }
        print(f"\nwrote {write_json(out, args.json)}")
    return 0
