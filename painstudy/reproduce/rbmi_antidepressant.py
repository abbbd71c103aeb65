"""R rbmi on its antidepressant data: jump to reference by conditional mean imputation with jackknife.

The published numbers (``published/rbmi-antidepressant.csv``) are those of rbmi's vignette
"CondMean_Inference" (rbmi 1.5.2), as ``pool()`` prints them and as recorded in
``../shared/datasets/rbmi_antidepressant/README.md``: imputation model ``CHANGE ~ THERAPY + VISIT +
BASVAL*VISIT + THERAPY*VISIT`` with an unstructured covariance shared by the arms (REML); jump to
reference (DRUG -> PLACEBO) for every subject with terminal missing data, other missing values under
MAR; ANCOVA per visit (``CHANGE ~ THERAPY + BASVAL``); jackknife variance. rbmi's ``THERAPY`` has the
levels DRUG, PLACEBO, so its ``ref`` arm is DRUG and ``trt_<visit>`` is PLACEBO minus DRUG.

:func:`recompute` runs :func:`painstudy.sensitivity.reference_based` with the same model on the
registered study ``antidepressant`` (the data set of the checksummed dataset registry), with rbmi's
column names; the study's visits week1, week2, week4 and week6 are rbmi's visits 4, 5, 6 and 7.
"""

from __future__ import annotations

from ..sensitivity import reference_based

FORMULA = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT + us(VISIT | PATIENT)"
#: rbmi's pool() columns and painstudy's
COLUMNS = {"est": "estimate", "se": "std_error", "lci": "ci_lower", "uci": "ci_upper", "pval": "p_value"}


def recompute(cohort) -> dict[str, float]:
    """Our value of every published item (rbmi's ``pool()`` rows ``trt_<visit>``, ``lsm_ref_7``, ``lsm_alt_7``)."""
    data = cohort.analysis_data().rename(
        columns={"subject": "PATIENT", "arm": "THERAPY", "visit": "VISIT", "HAMD17_change": "CHANGE"}
    )
    data = data[["PATIENT", "THERAPY", "VISIT", "CHANGE", "BASVAL"]]
    res = reference_based(
        data,
        FORMULA,
        arm="THERAPY",
        reference="PLACEBO",  # jump to reference: DRUG -> PLACEBO
        control="DRUG",  # rbmi's ref arm: its effect is PLACEBO - DRUG
        covariates=["BASVAL"],
        strategy="JR",
        method="condmean",
        inference="jackknife",
    )
    rbmi_visit = {v.name: str(v.codes[0]) for v in cohort.spec.visits}
    out: dict[str, float] = {}
    for r in res.effects().to_dict("records"):
        for col, ours in COLUMNS.items():
            out[f"trt_{rbmi_visit[r['visit']]} / {col}"] = float(r[ours])
    for r in res.lsmeans().to_dict("records"):
        name = {"DRUG": "lsm_ref", "PLACEBO": "lsm_alt"}[r["term"]]
        for col, ours in COLUMNS.items():
            out[f"{name}_{rbmi_visit[r['visit']]} / {col}"] = float(r[ours])
    return out


__all__ = ["FORMULA", "recompute"]
