"""Build the report notebooks from the cell sources below (run: python tools/build_notebooks.py).

The notebooks are committed; this script is how they are written, so that every notebook has the
same structure: a ``parameters`` cell, then calls of the painstudy API only.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parents[1] / "painstudy" / "notebooks"
#: The kernelspec the notebooks name (the Makefile installs it under this name).
KERNEL = "painstudy"

PARAMETERS = """# Parameters: values only, checked against these types by painstudy report -p/-f (defaults: the demo)
study: str = "demo"                    # registered study name or path to a study.yml
data: str | None = None                # another data file with the study's columns; None: the study's own
outcomes: list[str] | None = None      # outcome names; None: the study's first two outcomes (pain and function)
reference_arm: str | None = None       # None: the study's control arm
thresholds: list[str | float] = ["moderate", "substantial"]  # improvement thresholds (names or numbers)
visits: list[str] | None = None        # visit names; None: all post-baseline visits
output_dir: str = "."                  # figures/ and tables/ are written here
seed: int = 20261126"""

SETUP = """%matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

import painstudy
from painstudy.publication import publication_table
from painstudy.reporting import record_inputs, save_figures, save_table, save_tables

pd.set_option("display.max_rows", 200)
plt.rcParams.update({"figure.dpi": 90})
cohort = painstudy.load_cohort(study, data=data)
outcomes = list(outcomes or cohort.outcomes[:2])
display(record_inputs(cohort))
cohort"""


REPRODUCE_PARAMETERS = """# Parameters: values only (painstudy reproduce/report set these)
study: str = "{study}"   # the registered study whose data set is read (painstudy reproduce sets it)
data: str | None = None      # another copy of the raw data file (a reviewer's own download); None: the registry's
output_dir: str = "."        # figures/ and tables/ are written here
seed: int = 20261126"""

#: The setup of a reproduction notebook; reference files (SAS listings) are found as painstudy.reproduce's
#: references_folder says (painstudy reproduce --references sets $PAINSTUDY_REFERENCES for the notebook)
REPRODUCE_SETUP = """%matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from painstudy.publication import publication_table
from painstudy.reporting import record_inputs, save_figures, save_table
from painstudy.reproduce import reproduce

pd.set_option("display.max_rows", 400)
pd.set_option("display.max_colwidth", 120)
result = reproduce("{source}", data=data)
display(Markdown(result.header()))
display(record_inputs(result.cohort, also=result.references))"""

#: The cells every reproduction notebook starts with: the table of published against reproduced numbers
REPRODUCE_TABLE = [
    (
        "md",
        "Every published number beside ours. `tolerance` is half a unit of the last printed digit (empty for a "
        "printed bound such as `<.0001`, matched by any value beyond it); `documented` marks a difference "
        "explained in `reason`; `source` says where the number is printed.",
    ),
    (
        "code",
        'save_table(result.table, "reproduction", output_dir, index=False)\n'
        'display(publication_table(result.summary().to_frame("items"), "Items by status"))\n'
        "result.publication()",
    ),
    ("md", "## How close: each number in units of its printed precision"),
    (
        "code",
        "from painstudy.plotting.reproduction import plot_reproduction\n"
        "ax = plot_reproduction(result.table)\n"
        'save_figures(ax.figure, "reproduction", output_dir)\n'
        "plt.show()",
    ),
]
#: A reproduction without figures of its own: the table and the reasons of documented differences
REPRODUCE_CELLS = REPRODUCE_TABLE + [
    ("md", "## Documented differences"),
    (
        "code",
        'documented = result.table[result.table["status"] == "documented"]\n'
        'reasons = documented.groupby("reason", sort=False).size().to_frame("items").reset_index()\n'
        'publication_table(reasons, "Documented differences: the reasons and how many items each explains")',
    ),
]


def notebook(
    title: str, cells: list[tuple[str, str]], parameters: str = PARAMETERS, setup: str = SETUP
) -> nbformat.NotebookNode:
    nb = new_notebook()
    # the kernel `make setup` installs (python -m ipykernel install --name painstudy); painstudy report runs the
    # notebooks in a kernel of its own interpreter whatever kernels are installed
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (painstudy)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(new_markdown_cell(f"# {title}"))
    p = new_code_cell(parameters)
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(p)
    nb.cells.append(new_code_cell(setup))
    for kind, src in cells:
        nb.cells.append(new_markdown_cell(src) if kind == "md" else new_code_cell(src))
    for i, cell in enumerate(nb.cells):  # stable ids: a rebuild changes nothing that did not change
        cell.id = f"cell-{i:02d}"
    return nb


NOTEBOOKS = {
    "01_cohort": (
        "Cohort: Table 1, participant flow, missingness and trajectories",
        [
            ("md", "## Baseline characteristics by arm (Table 1)"),
            (
                "code",
                't1 = cohort.table1()\nsave_table(t1, "table1", output_dir)\n'
                'publication_table(t1, "Baseline characteristics by arm", notes=[\n'
                '    "SMD: standardised mean difference (Yang & Dalton 2012 for categorical variables); with more "\n'
                '    "than two arms the largest over the pairs of arms. No p-values: baseline differences in a "\n'
                '    "randomised trial are due to chance (CONSORT 2010, item 15)."])',
            ),
            ("md", "## Participant flow (CONSORT numbers)"),
            (
                "code",
                'flow = cohort.disposition()\nsave_table(flow, "disposition", output_dir)\n'
                'publication_table(flow, "Participant flow: subjects per arm at each stage")',
            ),
            (
                "code",
                "from painstudy.plotting.cohort import plot_flow\n"
                'ax = plot_flow(cohort)\nsave_figures(ax.figure, "flow_diagram", output_dir)\nplt.show()',
            ),
            ("md", "## Missing assessments by visit and arm"),
            (
                "code",
                "from painstudy.plotting.cohort import missingness, plot_missingness\n"
                'miss = missingness(cohort)\nsave_table(miss, "missingness", output_dir, index=False)\n'
                'display(publication_table(miss.pivot(index="visit", columns="arm", values="percent_missing"),\n'
                '                          "Missing assessments (% of randomised) by visit and arm"))\n'
                'ax = plot_missingness(cohort)\nsave_figures(ax.figure, "missingness", output_dir)\nplt.show()',
            ),
            ("md", "## Trajectories of pain and function per arm (observed data)"),
            (
                "code",
                "from painstudy.plotting.cohort import observed_means, plot_trajectories\n"
                "for outcome in outcomes:\n"
                '    save_table(observed_means(cohort, outcome), f"observed_means_{outcome}", output_dir, index=False)\n'
                "    ax = plot_trajectories(cohort, outcome, spaghetti=True, seed=seed)\n"
                '    save_figures(ax.figure, f"trajectories_{outcome}", output_dir)\n'
                "    plt.show()",
            ),
            ("md", "## Exclusions and notes\nAnything set aside by a rule of the study definition is counted here."),
            ("code", 'publication_table(cohort.exclusions, "Exclusions by rule")'),
        ],
    ),
    "02_compare_arms": (
        "Comparing arms: integrative vs single-modality on pain and function",
        [
            (
                "md",
                "Mixed model for repeated measures per outcome: post-baseline visits as the repeated factor, "
                "arm x visit, baseline value of the outcome as covariate, unstructured covariance, REML, "
                "Satterthwaite df. Each arm against the reference arm, and each integrative arm against each "
                "single-modality arm; Dunnett adjustment across arms within each outcome and visit.",
            ),
            (
                "code",
                "from painstudy import compare_arms\n"
                "result = compare_arms(cohort, outcomes, reference=reference_arm, visits=visits)\n"
                'save_table(result.table, "comparisons", output_dir, index=False)\n'
                'save_table(result.lsmeans, "lsmeans", output_dir, index=False)\n'
                "result",
            ),
            (
                "md",
                "## Estimands (ICH E9(R1))\n\nPer outcome: the population, the variable, each intercurrent event "
                "with its strategy (declared in study.yml; treatment policy where none is declared) and the summary "
                "measure, and what the strategies changed in the data.",
            ),
            (
                "code",
                "estimands = pd.DataFrame({o: e.attributes() for o, e in result.estimands.items()}).fillna('')\n"
                'save_table(estimands, "estimands", output_dir)\n'
                'publication_table(estimands, "Estimands per outcome (ICH E9(R1))")',
            ),
            ("md", "## LS means per arm and visit"),
            (
                "code",
                'publication_table(result.lsmeans.drop(columns=["statistic", "p_value"]), "LS means per arm and visit",\n'
                '                  notes=["MMRM as above; LS means with equal weights over the levels of categorical covariates"])',
            ),
            ("md", "## LS-mean trajectories per arm"),
            (
                "code",
                "for outcome in outcomes:\n"
                "    ax = result.plot_trajectories(outcome)\n"
                '    save_figures(ax.figure, f"lsmeans_{outcome}", output_dir)\n'
                "    plt.show()",
            ),
            ("md", "## Forest plot of the comparisons at the last visit"),
            (
                "code",
                'ax = result.plot_forest()\nsave_figures(ax.figure, "forest", output_dir)\nplt.show()',
            ),
            ("md", "## Model details"),
            (
                "code",
                "for outcome, fit in result.fits.items():\n"
                '    display(Markdown(f"**{outcome}**: `{result.formulas[outcome]}`; -2 REML log-likelihood "\n'
                '                     f"{fit.neg2_log_lik:.3f}; converged: {fit.converged}"))\n'
                '    display(publication_table(fit.anova(), f"Type III tests: {outcome}", notes=[f"df: {fit.df_method}"]))\n'
                '    display(publication_table(fit.covariance, f"Estimated covariance matrix: {outcome}"))',
            ),
        ],
    ),
    "03_time_to_improvement": (
        "Time to clinically meaningful improvement",
        [
            (
                "md",
                "First visit at which the improvement from baseline reaches the threshold (IMMPACT), censored at "
                "the last assessed visit; dropout before the last scheduled visit as a competing event.",
            ),
            (
                "code",
                "from painstudy import analyze_improvement, time_to_improvement\n"
                "from painstudy.plotting.survival import plot_cumulative_incidence, plot_km\n"
                "name, value, relative = cohort.instrument(outcomes[0]).responder_definitions(thresholds)[0]\n"
                "events = time_to_improvement(cohort, outcomes[0], threshold=value, relative=relative)\n"
                "analysis = analyze_improvement(events)\n"
                'save_tables(analysis, "improvement", output_dir)\n'
                "analysis",
            ),
            ("md", "## Kaplan-Meier curves with the number at risk"),
            (
                "code",
                'ax = plot_km(analysis)\nsave_figures(ax.figure, "km_improvement", output_dir)\nplt.show()',
            ),
            ("md", "## Cumulative incidence of improvement, dropout as a competing event (Aalen-Johansen)"),
            (
                "code",
                "ax = plot_cumulative_incidence(analysis)\n"
                'save_figures(ax.figure, "cumulative_incidence", output_dir)\nplt.show()',
            ),
        ],
    ),
    "04_responders": (
        "Responders: rates, NNT and cumulative proportion of responders",
        [
            (
                "md",
                "Responders at each visit by each threshold (percent improvement from baseline, completers); "
                "risk differences with Wald intervals and the number needed to treat; odds ratios from a logistic "
                "model adjusted for baseline and covariates; CPRA curves at the last visit.",
            ),
            (
                "code",
                "from painstudy import responder_analysis\n"
                "from painstudy.plotting.responders import plot_cpra, plot_responder_rates\n"
                "analyses = {}\n"
                "for outcome in outcomes:\n"
                "    for threshold, value, relative in cohort.instrument(outcome).responder_definitions(thresholds):\n"
                "        res = responder_analysis(cohort, outcome, threshold=value, relative=relative)\n"
                "        analyses[(outcome, threshold)] = res\n"
                '        save_tables(res, f"responders_{outcome}_{threshold}", output_dir)\n'
                '        kind = "of baseline" if relative else "points"\n'
                '        display(Markdown(f"### {outcome}: improvement of at least {value:g} {kind} ({threshold})"))\n'
                "        display(res)",
            ),
            ("md", "## Responder rates and CPRA curves"),
            (
                "code",
                "for (outcome, threshold), res in analyses.items():\n"
                "    ax = plot_responder_rates(res.rates)\n"
                '    save_figures(ax.figure, f"responder_rates_{outcome}_{threshold}", output_dir)\n'
                "    plt.show()\n"
                "for outcome in outcomes:\n"
                "    first = next(res for (o, _), res in analyses.items() if o == outcome)\n"
                "    ax = plot_cpra(first.cpra)\n"
                '    save_figures(ax.figure, f"cpra_{outcome}", output_dir)\n'
                "    plt.show()",
            ),
        ],
    ),
    "06_sensitivity": (
        "Missing data: the primary comparison beside reference-based sensitivity analyses",
        [
            (
                "md",
                "The primary outcome at the last visit (the first of `outcomes`): the primary analysis (MMRM, missing "
                "at random) beside reference-based imputations of the same comparison under missing at random (MAR), "
                "jump to reference (JR), copy reference (CR) and copy increments in reference (CIR), with conditional "
                "mean imputation and jackknife standard errors (as R rbmi); the tipping point of the integrative "
                "comparison under JR (a delta added to the active arm's imputed values until significance is lost); "
                "and the historical single imputations (LOCF, BOCF, WOCF), shown for comparison only. The estimand "
                "is the study's (study.yml): the data that its hypothetical strategy sets aside after an intercurrent "
                "event are imputed under each assumption; without declared events, a subject's event is its "
                "discontinuation (the first visit of a terminal run of missing values).",
            ),
            (
                "code",
                "from painstudy import sensitivity_analyses\n"
                "from painstudy.plotting.sensitivity import plot_sensitivity_forest, plot_tipping_point\n"
                "outcome = outcomes[0]\n"
                "res = sensitivity_analyses(cohort, outcome, seed=seed)\n"
                'save_tables(res, f"sensitivity_{outcome}", output_dir)\n'
                "res",
            ),
            ("md", "## Every analysis of the tipping-point comparison"),
            (
                "code",
                "rows = res.table[res.table['comparison'] == res.tipping.term]\n"
                "ax = plot_sensitivity_forest(rows)\n"
                'ax.set_title(f"{outcome} at {res.visit}: {res.tipping.term}", fontsize=9)\n'
                'save_figures(ax.figure, f"sensitivity_forest_{outcome}", output_dir)\n'
                "plt.show()",
            ),
            ("md", "## Tipping point (jump to reference)"),
            (
                "code",
                "ax = plot_tipping_point(res.tipping)\n"
                'save_figures(ax.figure, f"tipping_point_{outcome}", output_dir)\n'
                "plt.show()\n"
                "res.tipping",
            ),
            ("md", "## Jump to reference: frequentist and information-anchored variance"),
            (
                "md",
                "Conditional mean imputation with the jackknife estimates the frequentist variance of the JR "
                "estimate, which borrows information from the control arm and shrinks as more data are imputed. The "
                "information-anchored variance (Lu 2021; Cro, Carpenter & Kenward 2019) keeps the same estimate but "
                "a variance close to MAR's: MAR imputation plus a fixed delta that reproduces the JR estimate. Its "
                "tests are conservative; it is shown because regulators may ask for it.",
            ),
            (
                "code",
                "anchored = sensitivity_analyses(cohort, outcome, seed=seed, strategies=['JR'], legacy=(),\n"
                "                                information_anchored=True)\n"
                "jr_variances = pd.concat(\n"
                "    [t[t['analysis'].str.startswith('JR')] for t in (res.table, anchored.table)], ignore_index=True\n"
                ")\n"
                'save_table(jr_variances, f"sensitivity_jr_variances_{outcome}", output_dir, index=False)\n'
                'publication_table(jr_variances, f"{outcome} at {res.visit}: jump to reference, two variances",\n'
                '                  notes=["Frequentist: conditional mean imputation, jackknife SE (rbmi). Information-anchored: "\n'
                '                         "MAR imputation plus the delta that reproduces the JR estimate (Lu 2021)."])',
            ),
        ],
    ),
    "07_power": (
        "Planning the next trial: power of a design estimated from this study",
        [
            (
                "md",
                "A design estimated from this study (`painstudy.design_from`): the control arm's mean per visit, each "
                "arm's difference from it, the covariance over the visits and the dropout hazard per arm and visit. "
                "Trials of that design are simulated at several sample sizes and analysed as planned (the MMRM of "
                "compare_arms on the primary outcome at the last visit): power with its Monte Carlo SE, the type I "
                "error of the same design with every effect 0, bias and CI coverage, beside the analytic power of "
                "Lu, Luo & Chen (2008). A quick look with 100 trials per point: for a decision run "
                "`painstudy power design.yml --n ... --n-sim 2000` (on a Dask cluster if need be).",
            ),
            (
                "code",
                "from painstudy import design_from, power\n"
                "outcome = outcomes[0]\n"
                "design = design_from(cohort, outcome)\n"
                "res = power(design, [10, 20, 40], n_sim=100, seed=seed)\n"
                'save_tables(res, f"power_{outcome}", output_dir)\n'
                "res",
            ),
            ("md", "## Power curve"),
            (
                "code",
                "ax = res.plot()\n"
                'ax.set_title(f"{outcome} at {design.analysis_visit}: {design.name}", fontsize=9)\n'
                'save_figures(ax.figure, f"power_curve_{outcome}", output_dir)\n'
                "plt.show()",
            ),
            ("md", "## The design"),
            (
                "code",
                "truth = design.truth()\n"
                'publication_table(truth[truth["visit"] == design.analysis_visit], "Effects assumed (from this study)")',
            ),
        ],
    ),
    "08_personalised_care": (
        "Personalised care: for whom, with less opioid, between visits",
        [
            (
                "md",
                "The questions of integrative chronic-pain care beyond the primary comparison: does the effect differ "
                "between conditions and patients (heterogeneity of treatment effect), does the integrative arm reduce "
                "opioid use (dose from prescription records, two-part model), what do daily diaries and wearables "
                "show between visits, and how do responders evolve over all visits (GEE). A section whose data the "
                "study does not declare (a `daily:` diary, `medication:` records) says so and is skipped.",
            ),
            ("md", "## For whom: effects within subgroups"),
            (
                "code",
                "from painstudy import subgroups\n"
                "by = [c for c in ('condition', 'sex') if c in cohort.subjects and cohort.subjects[c].nunique() > 1]\n"
                "if by:\n"
                "    hte = subgroups(cohort, outcomes[0], by)\n"
                '    save_tables(hte, f"subgroups_{outcomes[0]}", output_dir)\n'
                "    display(hte)\n"
                "    ax = hte.plot()\n"
                '    save_figures(ax.figure, f"subgroups_{outcomes[0]}", output_dir)\n'
                "    plt.show()\n"
                "else:\n"
                '    display(Markdown("No subgroup variable (condition, sex) with two levels or more in this study."))',
            ),
            ("md", "## Opioid dose from prescription records"),
            (
                "md",
                "Morphine milligram equivalents per day (CDC 2022 conversion factors) from the prescription records, "
                "as the mean over each visit window; then the medication outcomes (opioid-free, a taper of at least "
                "50% among baseline users, the reduction; percent change is undefined at a baseline of 0 and such "
                "subjects are counted, not dropped) and the two-part model of the dose (any use: logistic; dose among "
                "users: gamma with log link; the combined mean per arm and visit).",
            ),
            (
                "code",
                "from painstudy import derive_mme, medication_outcomes, two_part, with_mme\n"
                "from painstudy.reporting import records_inputs\n"
                "display(record_inputs(cohort, also=records_inputs(cohort)))  # the diary and the prescriptions\n"
                "if cohort.spec.medication is not None:\n"
                "    dose = derive_mme(cohort)\n"
                '    save_table(dose.table, "mme_from_records", output_dir, index=False)\n'
                "    display(dose)\n"
                '    medicated = with_mme(cohort, dose, name="mme_records")\n'
                '    meds = medication_outcomes(medicated, "mme_records")\n'
                '    save_tables(meds, "medication_outcomes", output_dir)\n'
                "    display(meds)\n"
                '    tp = two_part(medicated, "mme_records")\n'
                '    save_tables(tp, "two_part_mme", output_dir)\n'
                "    display(tp)\n"
                "else:\n"
                '    display(Markdown("The study declares no `medication:` records in study.yml."))',
            ),
            ("md", "## Between visits: daily diary and wearable"),
            (
                "md",
                "Per subject and visit: the mean of the 7 days before the visit (at least 4 reported), worst and "
                "least pain, variability, the share of days with pain of 7 or more, days with rescue medication; "
                "the compliance of the diary; the arms compared on the diary outcomes with the same mixed model as "
                "the visit outcomes.",
            ),
            (
                "code",
                "from painstudy import compare_arms, derive_diary\n"
                "if cohort.spec.daily:\n"
                "    diary = derive_diary(cohort)\n"
                '    save_tables(diary, "diary", output_dir)\n'
                "    display(diary)\n"
                "    diary_outcomes = [o for o in ('pain_diary_mean', 'steps_mean') if o in diary.cohort.outcomes]\n"
                "    if diary_outcomes:\n"
                "        diary_comparison = compare_arms(diary.cohort, diary_outcomes)\n"
                '        save_table(diary_comparison.table, "diary_comparisons", output_dir, index=False)\n'
                "        display(diary_comparison)\n"
                "else:\n"
                '    display(Markdown("The study declares no `daily:` diary or wearable in study.yml."))',
            ),
            ("md", "## Responders over all visits (GEE)"),
            (
                "code",
                "from painstudy import gee_responders, responders\n"
                "name, value, relative = cohort.instrument(outcomes[0]).responder_definitions(thresholds)[0]\n"
                'assessed = responders(cohort, outcomes[0], threshold=value, relative=relative, population="assessed")\n'
                'gee = gee_responders(assessed, corstr="exchangeable")\n'
                'save_tables(gee, f"gee_responders_{outcomes[0]}_{name}", output_dir)\n'
                "gee",
            ),
        ],
    ),
}


REPRODUCTIONS = {
    "05_reproduce_vickers2004": (
        "Reproduction: Vickers et al., BMJ 2004 (acupuncture for chronic headache)",
        REPRODUCE_TABLE
        + [
            ("md", "## Figure 2 (redrawn)"),
            (
                "code",
                "cohort = result.cohort\n"
                'ax = result.figures["figure2"](cohort)\n'
                'save_figures(ax.figure, "figure2", output_dir)\nplt.show()',
            ),
            ("md", "## Participant flow and Table 1 (12-month completers)"),
            (
                "code",
                'display(publication_table(cohort.disposition(), "Participant flow"))\n'
                'publication_table(cohort.completers().table1(), "Baseline characteristics of the 12-month completers")',
            ),
        ],
    ),
    "05_reproduce_sas-fev": (
        "Reproduction: SAS PROC MIXED on fev_data (MMRM by REML and ML, intercept-only model)",
        REPRODUCE_CELLS,
    ),
    "05_reproduce_rbmi-antidepressant": (
        "Reproduction: R rbmi on the antidepressant trial (jump to reference, conditional mean, jackknife)",
        REPRODUCE_CELLS,
    ),
}


def reproduction_setup(name: str) -> tuple[str, str]:
    """The parameters and setup cells of reproduction notebook ``name`` (``05_reproduce_<source>``)."""
    from painstudy.reproduce.sources import SOURCES

    source = SOURCES[name.removeprefix("05_reproduce_")]
    return REPRODUCE_PARAMETERS.format(study=source.study), REPRODUCE_SETUP.format(source=source.name)


def build(names=None, folder: Path = HERE) -> list[Path]:
    """Write the notebooks (all, or those in ``names``) into ``folder``; return their paths."""
    written = []
    items = [(n, t, c, PARAMETERS, SETUP) for n, (t, c) in NOTEBOOKS.items()]
    items += [(n, t, c, *reproduction_setup(n)) for n, (t, c) in REPRODUCTIONS.items()]
    for name, title, cells, params, setup in items:
        if names and name not in names:
            continue
        path = Path(folder) / f"{name}.ipynb"
        nbformat.write(notebook(title, cells, params, setup), str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build():
        print(f"wrote {p}")
