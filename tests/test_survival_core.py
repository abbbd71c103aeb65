"""The vectorised survival core: new options against R, and the fast algorithms against slow,
obviously-correct versions of the same definitions.

Reference values: tests/reference/survival_core_reference.R (R 4.2, survival 3.5) run on the
data sets of test_survival_reference.py, written to tests/reference/survival_core_ref_<name>.json:
coxph(ties = "breslow") and its cox.zph, cox.zph(transform = "rank" / "identity" / "log"), the
concordance of coxph, survdiff(Surv(time, event) ~ arm + strata(...)).
Agreement is required to 4 significant digits (rtol 1e-4), as in test_survival_reference.py.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import ledger
import numpy as np
import pandas as pd
import pytest

from painstudy.errors import ModelError
from painstudy.improvement import ImprovementData
from painstudy.models import survival as sv
from painstudy.models.survival import core
from painstudy.models.survival.partial_likelihood import PartialLikelihood, fit_cox

HERE = Path(__file__).parent / "reference"
CASES = ["sim1", "sim2", "chow2006", "demo"]
RTOL = 1e-4


def close(quantity, ref, a, b, rtol=RTOL, atol=0.0, labels=None):
    """``a`` (ours) against ``b`` (R, from ``ref``'s JSON file) as ``assert_allclose(equal_nan=True)``, recorded."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape
    ledger.check(
        f"{ref['name']}: {quantity}",
        a,
        b,
        rtol=rtol,
        atol=atol,
        labels=labels,
        source=f"tests/reference/survival_core_ref_{ref['name']}.json",
    )


@pytest.fixture(scope="module", params=CASES)
def case(request):
    path = HERE / f"survival_core_ref_{request.param}.json"
    if not path.exists():
        pytest.fail(f"missing {path}: run Rscript tests/reference/survival_core_reference.R")
    ref = json.loads(path.read_text())
    for key in ("covariates", "arms"):  # jsonlite unboxes length-1 vectors
        if isinstance(ref[key], str):
            ref[key] = [ref[key]]
    d = pd.read_csv(HERE / "data" / f"surv_{request.param}.csv")
    d["subject"] = d["subject"].astype(str)
    d["band"] = np.where(d["baseline"] >= ref["band_cut"], "high", "low")
    covs = [c for c in ("age", "site", "band") if c in d.columns]
    data = ImprovementData.from_table(d, reference=ref["reference"], covariates=covs, arms=ref["arms"])
    return ref, data


def by_r_term(table: pd.DataFrame, r: pd.DataFrame) -> pd.DataFrame:
    """Our rows in the order of R's terms (arm[x] -> armx, site[B] -> siteB)."""
    ours = table.assign(rterm=table["term"].str.replace("[", "", regex=False).str.replace("]", "", regex=False))
    return ours.set_index("rterm").loc[r["term"]]


# ------------------------------------------------------------------ against R
def test_cox_breslow_matches_coxph(case):
    # R: coxph(Surv(time, event) ~ arm [+ covariates], ties = "breslow"); cox.zph(fit, "km")
    ref, data = case
    r = pd.DataFrame(ref["breslow_unadjusted"])
    fit = sv.cox_ph(data, ties="breslow")
    assert fit.ties == "breslow"
    ours = by_r_term(fit.table, r)
    for col in ("estimate", "std_error", "hazard_ratio", "hr_ci_lower", "hr_ci_upper"):
        close(f"Cox (Breslow ties), unadjusted: {col}", ref, ours[col], r[col], labels=list(r["term"]))
    adj = sv.cox_ph(data, covariates=ref["covariates"], ties="breslow")
    r = pd.DataFrame(ref["breslow_adjusted"])
    ours = by_r_term(adj.table, r)
    for col in ("estimate", "std_error", "hazard_ratio", "hr_ci_lower", "hr_ci_upper"):
        close(f"Cox (Breslow ties), adjusted: {col}", ref, ours[col], r[col], labels=list(r["term"]))
    close("Cox (Breslow ties), adjusted: log-likelihood", ref, adj.log_likelihood, ref["breslow_loglik"])
    r = pd.DataFrame(ref["breslow_zph"])
    ph = by_r_term(adj.ph_test, r)
    close("cox.zph of the Breslow fit: chi-square", ref, ph["statistic"], r["statistic"], labels=list(r["term"]))
    close("cox.zph of the Breslow fit: p", ref, ph["p_value"], r["p_value"], labels=list(r["term"]))


@pytest.mark.parametrize("transform", ["rank", "identity", "log"])
def test_ph_test_transforms_match_cox_zph(case, transform):
    # R: cox.zph(coxph(..., ties = "efron"), transform = transform, terms = FALSE)$table
    ref, data = case
    ph = sv.cox_ph(data, covariates=ref["covariates"], ph_transform=transform).ph_test
    r = pd.DataFrame(ref["zph"][transform])
    ours = by_r_term(ph, r)
    close(f"cox.zph ({transform}): chi-square", ref, ours["statistic"], r["statistic"], labels=list(r["term"]))
    close(f"cox.zph ({transform}): p", ref, ours["p_value"], r["p_value"], labels=list(r["term"]))
    assert (ours["df"].to_numpy() == r["df"].to_numpy()).all()


def test_concordance_matches_coxph(case):
    # R: coxph(...)$concordance -- concordant, discordant, tied.x (same linear predictor) counts
    ref, data = case
    fit = sv.cox_ph(data, covariates=ref["covariates"])
    rc = ref["concordance"]
    close("concordance of the Cox fit", ref, fit.concordance, rc["concordance"], rtol=1e-12)
    tab = data.table
    from painstudy.models.survival.regression import model_frame

    _, X, _, _ = model_frame(data, ref["covariates"], None)
    eta = X.to_numpy(float) @ fit.table["estimate"].to_numpy()
    correct, tied, pairs = core.concordance_counts(tab["time"].to_numpy(), tab["event"].to_numpy(), eta)
    assert (correct, tied, pairs - correct - tied) == (rc["concordant"], rc["tied_x"], rc["discordant"])


def test_stratified_logrank_matches_survdiff(case):
    # R: survdiff(Surv(time, event) ~ arm + strata(site[, band]))$chisq, overall and per pair
    ref, data = case
    for spec in ref["logrank_strata"]:
        strata = spec["strata"] if isinstance(spec["strata"], list) else [spec["strata"]]
        lr = sv.logrank(data, pairs="all", strata=strata)
        by = ", ".join(strata)
        close(f"log-rank stratified by {by}: chi-square", ref, lr.overall["statistic"].iloc[0], spec["statistic"])
        assert lr.overall["df"].iloc[0] == spec["df"]
        assert any(f"stratified by {', '.join(strata)}" in n for n in lr.notes)
        for row in spec["pairs"]:
            hit = lr.pairwise.loc[(lr.pairwise["arm"] == row["a"]) & (lr.pairwise["reference"] == row["b"])]
            assert len(hit) == 1
            close(
                f"log-rank stratified by {by}: chi-square {row['a']} vs {row['b']}",
                ref,
                hit["statistic"].iloc[0],
                row["statistic"],
            )
            assert hit["df"].iloc[0] == row["df"]


# ------------------------------------------------------------------ fast algorithms, slow definitions
def random_times(rng, n, ties: bool):
    t = rng.choice([1.0, 2, 3, 5, 8], n) if ties else np.round(rng.exponential(5, n), 3)
    return t, rng.integers(0, 2, n)


def naive_concordance(time, event, score):
    """Harrell's pair counts from the definition, one pair at a time."""
    correct = tied = pairs = 0
    for i in range(len(time)):
        if not event[i]:
            continue
        for j in range(len(time)):
            if time[j] > time[i] or (time[j] == time[i] and not event[j]):
                pairs += 1
                correct += score[i] > score[j]
                tied += score[i] == score[j]
    return correct, tied, pairs


@pytest.mark.parametrize(
    "cells, slab",
    [
        (core.HISTOGRAM_CELLS, core.HISTOGRAM_SLAB),  # histogram,
        (core.HISTOGRAM_CELLS, 1),  # a block a slab,
        (0, 1),
    ],
)  # bit count
def test_concordance_counts_equal_the_pairwise_definition(cells, slab, monkeypatch):
    monkeypatch.setattr(core, "HISTOGRAM_CELLS", cells)
    monkeypatch.setattr(core, "HISTOGRAM_SLAB", slab)
    rng = np.random.default_rng(11)
    for trial in range(120):
        n = int(rng.integers(2, 70))
        time, event = random_times(rng, n, ties=trial % 2 == 0)
        score = rng.choice([0.1, 0.5, 0.9], n) if trial % 3 == 0 else rng.normal(size=n)
        assert core.concordance_counts(time, event, score) == naive_concordance(time, event, score)
    assert core.concordance_counts(np.array([1.0, 2.0]), np.array([0, 0]), np.array([1.0, 2.0])) == (0, 0, 0)


def naive_efron_loglik(X, time, event, beta, ties="efron"):
    """Efron's (or Breslow's) partial log-likelihood from its definition, time by time."""
    eta = X @ beta
    ll = 0.0
    for t in np.unique(time[event == 1]):
        risk = time >= t
        dead = (time == t) & (event == 1)
        d = dead.sum()
        ll += eta[dead].sum()
        for r in range(d):
            f = r / d if ties == "efron" else 0.0
            ll -= np.log(np.exp(eta[risk]).sum() - f * np.exp(eta[dead]).sum())
    return ll


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_partial_likelihood_score_and_information_are_its_derivatives(ties):
    rng = np.random.default_rng(3)
    n = 150
    X = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n), rng.normal(size=n)])
    time, event = random_times(rng, n, ties=True)  # heavy ties: Efron differs from Breslow
    pl = PartialLikelihood(X, time, event, ties)
    beta = np.array([0.3, -0.2, 0.1])
    Xc = X - X.mean(axis=0)
    assert pl.loglik(beta) == pytest.approx(naive_efron_loglik(Xc, time, event, beta, ties), rel=1e-12)
    score, info = pl.weighted(pl.terms(beta))
    h = 1e-5
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        assert score[k] == pytest.approx((pl.loglik(beta + e) - pl.loglik(beta - e)) / (2 * h), rel=1e-6)
        grad_up, _ = pl.weighted(pl.terms(beta + e))
        grad_dn, _ = pl.weighted(pl.terms(beta - e))
        np.testing.assert_allclose(-(grad_up - grad_dn) / (2 * h), info[k], rtol=1e-6, atol=1e-8)
    fit = fit_cox(pl)
    assert fit.converged
    np.testing.assert_allclose(pl.weighted(pl.terms(fit.beta))[0], 0, atol=1e-8)


def dense_aalen_johansen(time, status):
    """Aalen-Johansen estimate and infinitesimal-jackknife SE with a subjects x times matrix."""
    ut = np.unique(time[status > 0])
    Y = (time[:, None] >= ut[None, :]).astype(float)
    N1 = ((time[:, None] == ut) & (status[:, None] == 1)).astype(float)
    N2 = ((time[:, None] == ut) & (status[:, None] == 2)).astype(float)
    n = Y.sum(0)
    h1, h = N1.sum(0) / n, (N1 + N2).sum(0) / n
    S_prev = np.concatenate([[1.0], np.cumprod(1 - h)[:-1]])
    dh1 = (N1 - Y * h1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        dlogS = np.where(1 - h > 0, -((N1 + N2 - Y * h) / n) / (1 - h), 0.0)
    dlogS_prev = np.concatenate([np.zeros((len(time), 1)), np.cumsum(dlogS, axis=1)[:, :-1]], axis=1)
    dF1 = np.cumsum(S_prev * dlogS_prev * h1 + S_prev * dh1, axis=1)
    return ut, np.cumsum(S_prev * h1), np.sqrt((dF1**2).sum(0))


def test_aalen_johansen_equals_the_dense_influence_computation():
    rng = np.random.default_rng(8)
    for trial in range(30):
        n = int(rng.integers(2, 120))
        time, _ = random_times(rng, n, ties=trial % 2 == 0)
        status = rng.choice([0, 1, 2], n)
        if not (status > 0).any():
            continue
        ut, est, se = dense_aalen_johansen(time, status)
        got = core.aalen_johansen(time, status)
        got = got.loc[got["time"].isin(ut)]
        np.testing.assert_allclose(got["estimate"], est, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got["std_error"], se, rtol=1e-9, atol=1e-14)


def test_turnbull_shortcut_for_exact_times_is_the_em_fixed_point():
    # exact improvement times: the NPMLE is the Kaplan-Meier estimate, returned without iterating
    rng = np.random.default_rng(2)
    time, event = random_times(rng, 200, ties=True)
    event[time == time.max()] = 0  # censored at the end: the NPMLE keeps mass beyond it
    t = pd.DataFrame({"arm": "a", "time": time, "event": event})
    res = sv.turnbull(ImprovementData.from_table(t))
    assert res.iterations == 0 and res.converged
    left = time
    right = np.where(event == 1, time, np.inf)
    q = core.innermost_intervals(left, right)
    p, it, ok = core.turnbull_em(left, right, q, 1e-13, 100_000)
    assert ok and it > 1
    em = 1 - np.cumsum(p)
    finite = np.isfinite(q[:, 1])
    np.testing.assert_array_equal(res.table[["left", "right"]].to_numpy(), q[finite])
    np.testing.assert_allclose(res.table["estimate"], em[finite], atol=1e-10)
    km = sv.kaplan_meier(ImprovementData.from_table(t)).survival.set_index("time")["estimate"]
    np.testing.assert_allclose(res.table["estimate"], km.loc[res.table["right"]].to_numpy(), atol=1e-12)


def test_step_quantile_follows_r_findq_rule():
    x = np.array([0.0, 4.0, 8.0, 12.0])
    assert core.step_quantile(x, np.array([0.0, 0.25, 0.5, 0.75]), 0.5) == 10.0  # flat at 0.5: midpoint
    assert core.step_quantile(x, np.array([0.0, 0.25, 0.6, 0.75]), 0.5) == 8.0
    assert np.isnan(core.step_quantile(x, np.array([0.0, 0.1, 0.2, 0.3]), 0.5))  # not reached
    # repeated values keep their first time (the curve is flat at 0.5 from 8 to the end)
    assert core.step_quantile(x, np.array([0.0, 0.25, 0.5, 0.5]), 0.5) == 10.0


def test_logrank_strata_of_one_level_is_the_plain_test_and_strata_add_up():
    rng = np.random.default_rng(4)
    n = 300
    time, event = random_times(rng, n, ties=True)
    group = rng.integers(0, 3, n)
    plain = core.logrank_chisq(time, event, group, 3)
    one = core.logrank_chisq(time, event, group, 3, strata=np.zeros(n))
    assert one[0] == pytest.approx(plain[0], rel=1e-12) and one[1] == plain[1]
    s = rng.integers(0, 2, n)
    strat = core.logrank_chisq(time, event, group, 3, strata=s)
    parts = [core.logrank_chisq(time[s == k], event[s == k], group[s == k], 3) for k in (0, 1)]
    np.testing.assert_allclose(strat[2], parts[0][2] + parts[1][2])  # observed
    np.testing.assert_allclose(strat[3], parts[0][3] + parts[1][3])  # expected


def test_logrank_leaves_out_an_arm_without_expected_events_as_survdiff():
    # R: survdiff(Surv(time, event) ~ arm) with arm c censored before any event:
    # "Chisq= 0 on 1 degrees of freedom, p= 1" (arm c has 0 expected events)
    t = pd.DataFrame({"arm": ["a", "a", "b", "b", "c"], "time": [4.0, 8, 4, 8, 1], "event": [1, 0, 0, 1, 0]})
    lr = sv.logrank(ImprovementData.from_table(t), pairs="all")
    assert lr.overall[["statistic", "df", "p_value"]].iloc[0].tolist() == [0.0, 1, 1.0]
    assert any("left out (as R survdiff)" in n for n in lr.notes)


def test_strata_and_ties_arguments_are_checked():
    t = pd.DataFrame(
        {"arm": ["a", "a", "b", "b"], "time": [4.0, 8, 4, 8], "event": [1, 0, 1, 1], "site": ["x", None, "x", "y"]}
    )
    d = ImprovementData.from_table(t, covariates=["site"])
    with pytest.raises(ModelError, match=r"unknown strata column 'sit'.*available: .*site"):
        sv.logrank(d, strata="sit")
    with pytest.raises(ModelError, match=r"strata column 'site' is missing for 1 subject\(s\) \(first: '1'\)"):
        sv.logrank(d, strata="site")
    with pytest.raises(ModelError, match="ties must be one of 'efron', 'breslow', got 'exact'"):
        sv.cox_ph(d, ties="exact")


def test_pairwise_logrank_equals_the_two_arm_test(case):
    # each pairwise statistic is the overall test on the two arms' subjects alone
    _, data = case
    lr = sv.logrank(data, pairs="all")
    for a, b in combinations([x for x in data.arms if (data.table["arm"] == x).any()], 2):
        two = data.replace(table=data.table.loc[data.table["arm"].isin([a, b])].reset_index(drop=True))
        stat = sv.logrank(two).overall["statistic"].iloc[0]
        row = lr.pairwise.loc[(lr.pairwise["arm"] == a) & (lr.pairwise["reference"] == b)]
        assert row["statistic"].iloc[0] == pytest.approx(stat, rel=1e-12)
