"""``painstudy fit responders``: responder rates and risk differences, stratified and covariate-adjusted.

Prints the responders per arm and visit (Wilson intervals) and the risk differences against the reference
arm; with ``--strata`` the Cochran-Mantel-Haenszel analysis within strata (MH odds ratio, CMH and
Breslow-Day tests, MH risk difference with Sato's variance, stratified Miettinen-Nurminen interval); with
``--adjust-for`` the covariate-adjusted marginal risk difference, risk ratio and odds ratio by
g-computation; with ``--gee`` a logistic GEE of the responders at every visit (marginal risk differences
and odds ratios per visit, robust SEs). Errors (an unknown column, a stratum value missing, zero cells)
exit 1 with one line.
"""

from __future__ import annotations

from .fit_improvement import parse_threshold


def register(fit_subparsers):
    """Add ``responders`` to the ``painstudy fit`` sub-commands; returns its parser."""
    sp = fit_subparsers.add_parser(
        "responders",
        help="responder rates and risk differences, stratified (CMH) and covariate-adjusted (g-computation)",
        description="Responders per arm and visit with risk differences against the reference arm; "
        "optionally stratified (Cochran-Mantel-Haenszel, Mantel-Haenszel risk difference with Sato's variance, "
        "stratified Miettinen-Nurminen interval) and covariate-adjusted (g-computation).",
    )
    sp.add_argument("study", nargs="?", default="demo", help="registered study name or path to a study.yml")
    sp.add_argument("--data", help="use this data file instead of the one named in the study definition")
    sp.add_argument("--outcome", help="outcome to analyse (default: the study's first outcome)")
    sp.add_argument(
        "--threshold",
        default="moderate",
        help="named threshold of the instrument or a fraction of baseline such as 0.3 or 30%% (points with --absolute)",
    )
    sp.add_argument("--absolute", action="store_true", help="threshold in points instead of a fraction of baseline")
    sp.add_argument(
        "--population",
        choices=["completers", "assessed", "nri", "bocf"],
        default="completers",
        help="analysis population (default completers; nri: not assessed = non-responder)",
    )
    sp.add_argument("--visit", nargs="+", help="visits to report (default: every post-baseline visit)")
    sp.add_argument("--reference", help="reference arm (default: the study's control arm)")
    sp.add_argument(
        "--strata", metavar="COL", help="comma-separated subject columns to stratify on (e.g. site or site,condition)"
    )
    sp.add_argument(
        "--correct",
        action="store_true",
        help="continuity correction of the CMH statistic (R mantelhaen.test's default)",
    )
    sp.add_argument(
        "--mn-weights",
        choices=["mh", "iv"],
        default="mh",
        dest="mn_weights",
        help="stratum weights of the Miettinen-Nurminen interval: mh (n1*n0/N, default) or iv (inverse variance)",
    )
    sp.add_argument(
        "--adjust-for",
        nargs="+",
        metavar="COL",
        dest="adjust_for",
        help="covariates of the g-computation (e.g. baseline condition); 'default' for baseline + study covariates",
    )
    sp.add_argument(
        "--variance",
        choices=["ge", "robust"],
        default="ge",
        help="variance of the g-computation: ge (delta method, Ge et al. 2011; default) or robust (Ye et al. 2023)",
    )
    sp.add_argument(
        "--gee",
        choices=["exchangeable", "unstructured", "independence"],
        metavar="CORSTR",
        help="also a logistic GEE over the visits (--visit: the visits modelled) with this working correlation: "
        "exchangeable, unstructured or independence; adjusted for the --adjust-for covariates",
    )
    sp.add_argument("--json", metavar="FILE", help="also write every table and note as JSON to this file")
    sp.set_defaults(func=run)
    return sp


def run(args) -> int:
    """Run the command; returns the exit code."""
    from dataclasses import replace

    import pandas as pd

    from ..cohort import load_cohort
    from ..errors import ModelError
    from ..models.design import warnings_as_notes
    from ..models.gcomp import adjusted_risk_difference
    from ..models.responders import responder_rates, responders, risk_difference
    from ..models.stratified import stratified_responders

    stray: list[str] = []
    with warnings_as_notes(stray):
        cohort = load_cohort(args.study, data=args.data)
        outcomes = list(cohort.spec.outcomes)
        outcome = args.outcome or (outcomes[0] if outcomes else None)
        if outcome is None:
            raise ModelError(f"study {cohort.spec.name!r} defines no outcome")
        data = responders(
            cohort,
            outcome,
            threshold=parse_threshold(args.threshold),
            relative=not args.absolute,
            population=args.population,
        )
        visit = args.visit
        rates = responder_rates(data)
        if visit:
            keep = rates.table["visit"].astype(str).isin(visit)
            rates = replace(rates, table=rates.table.loc[keep].reset_index(drop=True))
        results = {
            "rates": rates,
            "differences": risk_difference(data, visit=visit, reference=args.reference),
        }
        if args.strata:
            strata = [c.strip() for c in args.strata.split(",") if c.strip()]
            results["stratified"] = stratified_responders(
                data, strata, visit=visit, reference=args.reference, correct=args.correct, mn_weights=args.mn_weights
            )
        if args.adjust_for:
            covs = None if args.adjust_for == ["default"] else args.adjust_for
            results["adjusted"] = adjusted_risk_difference(
                data, covariates=covs, visit=visit, reference=args.reference, variance=args.variance
            )
        if args.gee:
            from ..models.gee import gee_responders

            covs = () if not args.adjust_for else None if args.adjust_for == ["default"] else args.adjust_for
            results["gee"] = gee_responders(
                data, corstr=args.gee, covariates=covs, reference=args.reference, visits=visit
            )
    print(
        f"{cohort.spec.name}: responders in {outcome} ({data.population}); reference arm "
        f"{args.reference or data.reference}; {data.table['subject'].nunique()} subjects"
    )
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.max_rows", 200):
        for res in results.values():
            print()
            print(res)
    if stray:
        print("\n" + "\n".join(f"note: {n}" for n in stray))
    if args.json:
        from ..io import write_json

        path = write_json({name: res.to_dict() for name, res in results.items()}, args.json)
        print(f"\nwrote {path}")
    return 0
