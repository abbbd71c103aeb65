"""``painstudy fit improvement``: time to clinically meaningful improvement.

Prints the median time to improvement per arm (Kaplan-Meier, with CI), log-rank tests (overall
and pairwise, multiplicity-adjusted), Cox hazard ratios against the reference arm with the
proportional-hazards check, and restricted mean time without improvement; then every note of the
analysis (terms left out, models that could not be fitted and why, warnings of the numerical
libraries). Output files (``--json``, ``--plot``) never replace a file painstudy did not write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: `painstudy --help` starts without it
    import pandas as pd


from ..errors import ModelError


def parse_threshold(text: str):
    """'moderate' -> 'moderate'; '0.3' -> 0.3; '30%' -> 0.30."""
    t = text.strip()
    try:
        if t.endswith("%"):
            return float(t[:-1]) / 100.0
        return float(t)
    except ValueError:
        return t


def register(fit_subparsers):
    """Add ``improvement`` to the ``painstudy fit`` sub-commands; returns its parser."""
    sp = fit_subparsers.add_parser(
        "improvement",
        help="time to clinically meaningful improvement (KM, log-rank, Cox, RMST)",
        description="Time to clinically meaningful improvement: Kaplan-Meier medians, log-rank tests, Cox "
        "hazard ratios with the proportional-hazards check, restricted mean time without "
        "improvement, and the notes of the analysis.",
    )
    sp.add_argument(
        "study",
        nargs="?",
        default="demo",
        help="registered study name or path to a study.yml (default: the demo study)",
    )
    sp.add_argument("--data", help="use this data file instead of the one named in the study definition")
    sp.add_argument("--outcome", help="outcome to analyse (default: the study's first outcome)")
    sp.add_argument(
        "--threshold",
        default="moderate",
        help="named threshold of the instrument (moderate, substantial, mcid, ...) or a "
        "value: a fraction of baseline such as 0.3 or 30%% (or points with --absolute)",
    )
    sp.add_argument(
        "--absolute", action="store_true", help="threshold in points on the scale instead of a fraction of baseline"
    )
    sp.add_argument("--sustained", action="store_true", help="improvement must hold at every later assessed visit")
    sp.add_argument(
        "--horizon", type=float, help="RMST horizon in weeks (default: the last visit, within every arm's follow-up)"
    )
    sp.add_argument(
        "--extrapolate",
        action="store_true",
        help="allow an RMST horizon beyond follow-up (the last Kaplan-Meier value is carried "
        "forward; the output says so)",
    )
    sp.add_argument(
        "--adjust",
        choices=["holm", "bonferroni", "none"],
        default="holm",
        help="multiplicity adjustment of pairwise log-rank tests (default holm)",
    )
    sp.add_argument(
        "--covariates",
        help="comma-separated Cox covariates (default: baseline + study covariates except site); 'none' for arm only",
    )
    sp.add_argument(
        "--strata",
        metavar="COL",
        help="comma-separated subject columns (e.g. site) to stratify the log-rank tests and the Cox model on",
    )
    sp.add_argument(
        "--cluster", metavar="COL", help="Cox standard errors robust to clustering by this column (e.g. site)"
    )
    sp.add_argument("--json", metavar="FILE", help="also write the tables and notes as JSON to this file")
    sp.add_argument(
        "--plot", metavar="FILE", help="save the Kaplan-Meier plot with the at-risk table (.png, .svg or .pdf)"
    )
    sp.set_defaults(func=run)
    return sp


def _show(df: pd.DataFrame, title: str) -> None:
    import pandas as pd

    print(f"\n{title}\n{'-' * len(title)}")
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.max_rows", 200):
        print(df.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def run(args) -> int:
    """Run the command; returns the exit code."""
    import pandas as pd

    from ..cohort import load_cohort
    from ..improvement import describe_threshold, time_to_improvement
    from ..models.design import warnings_as_notes
    from ..models.survival import analyze_improvement

    if args.plot:  # refuse a bad figure name before the work is done
        from ..plotting import check_figure_path

        check_figure_path(args.plot)
    covariates = None
    if args.covariates:
        covariates = (
            []
            if args.covariates.strip().lower() == "none"
            else [c.strip() for c in args.covariates.split(",") if c.strip()]
        )
    stray: list[str] = []  # any warning not already a note of the analysis becomes one
    with warnings_as_notes(stray):
        cohort = load_cohort(args.study, data=args.data)
        outcomes = list(cohort.spec.outcomes)
        outcome = args.outcome or (outcomes[0] if outcomes else None)
        if outcome is None:
            raise ModelError(f"study {cohort.spec.name!r} defines no outcome")
        data = time_to_improvement(
            cohort,
            outcome,
            threshold=parse_threshold(args.threshold),
            relative=not args.absolute,
            sustained=args.sustained,
        )
        strata = [c.strip() for c in args.strata.split(",") if c.strip()] if args.strata else None
        res = analyze_improvement(
            data,
            covariates=covariates,
            horizon=args.horizon,
            extrapolate=args.extrapolate,
            adjust=args.adjust,
            strata=strata,
            cluster=args.cluster,
        )
    thr = describe_threshold(data.threshold, data.relative)
    print(
        f"{cohort.spec.name}: time to improvement in {outcome} (threshold {thr}"
        f"{', sustained' if data.sustained else ''}); reference arm {data.reference}; "
        f"{data.n} subjects; times in weeks"
    )
    _show(data.event_counts(), "Events")
    med = res.km.medians.astype({"median": object, "ci_lower": object, "ci_upper": object})
    for c in ("median", "ci_lower", "ci_upper"):
        med[c] = [f"{v:g}" if pd.notna(v) else "not reached" for v in res.km.medians[c]]
    _show(med, "Median time to improvement (Kaplan-Meier, 95% CI, log transform)")
    _show(res.logrank.overall, "Log-rank test, all arms")
    _show(res.logrank.pairwise, f"Log-rank tests, pairwise ({args.adjust} adjusted)")
    if res.cox is not None:
        cox = res.cox.table[["term", "hazard_ratio", "hr_ci_lower", "hr_ci_upper", "p_value"]]
        how = "".join(
            [
                f", stratified by {', '.join(res.cox.strata)}" if res.cox.strata else "",
                f", SEs robust to clustering by {res.cox.cluster}" if res.cox.cluster else "",
            ]
        )
        _show(
            cox,
            f"Cox proportional hazards (Efron ties{how}), hazard ratio vs {data.reference} (> 1 = faster improvement)",
        )
        _show(res.cox.ph_test, "Proportional-hazards check (scaled Schoenfeld residuals)")
        bad = res.cox.ph_test.loc[res.cox.ph_test["p_value"] < 0.05, "term"].tolist()
        if bad:
            print(f"note: proportional hazards doubtful for {', '.join(bad)} (p < 0.05)")
    else:
        print("\nCox model: not fitted (the reason is in the notes below)")
    extra = ", extrapolated beyond follow-up" if res.rmst.extrapolated else ""
    _show(res.rmst.table, f"Restricted mean time without improvement to week {res.rmst.horizon:g}{extra}")
    _show(res.rmst.differences, f"RMST difference vs {data.reference} (negative = faster){extra}")
    notes = list(res.tidy().notes) + [n for n in stray if n not in res.tidy().notes]
    if notes:
        print("\nNotes")
        print("-----")
        for n in notes:
            print(f"note: {n}")
    if args.json:
        from ..io import write_json

        out = res.to_dict()
        out["notes"] = notes
        path = write_json(out, args.json)
        print(f"\nwrote {path}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..plotting import save_figure
        from ..plotting.survival import plot_km

        labels = {a.name: a.label for a in cohort.spec.arms}
        ax = plot_km(res, labels=labels, title=f"{cohort.spec.name}: time to improvement in {outcome} ({thr})")
        path = save_figure(ax.figure, args.plot)
        plt.close(ax.figure)
        print(f"wrote {path}")
    return 0
