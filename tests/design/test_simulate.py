"""Tests of the synthetic Dutch GIST Registry (gistcausal.design.simulate).

Independent checks: the eligibility is re-applied here with plain pandas from docs/registry_schema.md;
Kaplan-Meier medians, Cox fits and RMST come from lifelines; closed forms are the Weibull survival
S(t) = exp(-log(2) (t / m)^k hr) with the documented reference medians; calibration tolerances are sampling
errors of the published figures (see each test's docstring).
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import StatisticalWarning
from lifelines.utils import restricted_mean_survival_time

from gistcausal.design import simulate as sim
from gistcausal.errors import ConfigError

MONTH = 30.4375
SCHEMA_COLUMNS = [
    "patient_id", "center", "sex", "date_of_birth", "date_of_diagnosis", "age_at_diagnosis", "tumor_size_cm",
    "stage_at_diagnosis", "localization", "mitotic_count", "mutation", "first_line_agent",
    "first_line_start_date", "first_line_end_date", "first_line_end_reason", "escalation_for_tdm",
    "second_line_regimen", "second_line_start_date", "second_line_progression_date", "second_line_end_date",
    "second_line_end_reason", "third_line_regimen", "third_line_start_date", "third_line_failure_date",
    "date_of_death", "cause_of_death", "date_last_followup",
]
DATE_COLUMNS = [c for c in SCHEMA_COLUMNS if c.startswith("date") or c.endswith("_date")]
CODES = {
    "center": {"nki", "lumc", "erasmus", "radboud", "umcg"},
    "sex": {"male", "female"},
    "stage_at_diagnosis": {"localized", "locally_advanced", "metastasized", "multiple_localization"},
    "localization": {"gastric", "small_bowel", "duodenal", "rectum", "esophagus", "colon", "pelvic_cavity",
                     "peritoneum", "unknown"},
    "mitotic_count": {"low", "high", "not_reported"},
    "mutation": {"kit_exon_11", "kit_exon_13", "kit_exon_17", "kit_exon_9", "pdgfra_exon_14",
                 "pdgfra_exon_18_d842v", "pdgfra_exon_18_non_d842v", "sdh", "wt_kit_pdgfr_sdh", "wt_kit_pdgfr",
                 "unknown"},
    "first_line_agent": {"imatinib_400", "other"},
    "first_line_end_reason": {"progression", "intolerance", "ongoing"},
    "second_line_regimen": {"sunitinib_37.5_continuous", "sunitinib_50_intermittent", "imatinib_800", "other",
                            "none"},
    "second_line_end_reason": {"progression", "toxicity", "ongoing", "other", ""},
    "third_line_regimen": {"sunitinib", "other", "none"},
    "cause_of_death": {"gist", "toxicity", "other", "unknown", ""},
}
# 2 * sqrt(2): about two standard errors of the difference of two independent samples of the same size
# (the published cohort and the synthetic one), each with standard error `se`.
BAND = 2 * math.sqrt(2)


def eligibility(reg: pd.DataFrame) -> tuple[list[int], pd.DataFrame]:
    """The study's eligibility in the order of docs/registry_schema.md, written independently of simulate."""
    counts = [len(reg)]
    d = reg[reg.first_line_agent == "imatinib_400"]
    counts.append(len(d))
    d = d[d.age_at_diagnosis >= 18]
    d = d[d.first_line_end_reason != "ongoing"]
    d = d[d.second_line_regimen != "none"]
    d = d[d.second_line_regimen.isin(["sunitinib_37.5_continuous", "sunitinib_50_intermittent", "imatinib_800"])]
    d = d[~d.mutation.isin(["kit_exon_9", "unknown"])]
    d = d[~d.escalation_for_tdm]
    counts.append(len(d))
    d = d[d.first_line_end_reason != "intolerance"].copy()
    counts.append(len(d))
    d["arm"] = d.second_line_regimen.isin(["sunitinib_37.5_continuous", "sunitinib_50_intermittent"]).astype(int)
    t0 = d.second_line_start_date
    end = d[["second_line_progression_date", "date_of_death"]].min(axis=1)
    d["pfs_event"] = end.notna().astype(int)
    d["pfs"] = (end.fillna(d.date_last_followup) - t0).dt.days / MONTH
    d["os_event"] = d.date_of_death.notna().astype(int)
    d["os"] = (d.date_last_followup - t0).dt.days / MONTH
    d["os_dx"] = (d.date_last_followup - d.date_of_diagnosis).dt.days / MONTH
    d["d1"] = (d.first_line_end_date - d.first_line_start_date).dt.days / MONTH
    return counts, d


def km_median(t, e) -> float:
    return float(KaplanMeierFitter().fit(np.asarray(t), np.asarray(e)).median_survival_time_)


def km_rmst(t, e, tau: float) -> tuple[float, float]:
    """KM RMST up to tau and its Greenwood-type variance sum_j A_j^2 d_j / (Y_j (Y_j - d_j)), A_j the area
    under the KM curve from t_j to tau (Klein & Moeschberger 2003, section 4.5)."""
    tab = KaplanMeierFitter().fit(np.asarray(t), np.asarray(e)).event_table
    tab = tab[(tab.index > 0) & (tab.index <= tau) & (tab.observed > 0)]
    times = tab.index.to_numpy(float)
    d, y = tab.observed.to_numpy(float), tab.at_risk.to_numpy(float)
    surv = np.cumprod(1 - d / y)
    edges = np.r_[0.0, times, tau]
    heights = np.r_[1.0, surv]
    pieces = heights * np.diff(edges)
    rmst = pieces.sum()
    area_after = np.cumsum(pieces[::-1])[::-1][1:]  # area from t_j to tau
    ok = y > d
    return float(rmst), float(np.sum(area_after[ok] ** 2 * d[ok] / (y[ok] * (y[ok] - d[ok]))))


@pytest.fixture(scope="session")
def default_data():
    reg, truth = sim.simulate_potential_outcomes()
    counts, coh = eligibility(reg)
    return reg, truth, counts, coh


@pytest.fixture(scope="session")
def randomized_big():
    """Randomized (confounding=0), n=200,000, no administrative censoring, independent loss to follow-up."""
    kw = dict(confounding=0.0, cutoff_date="2199-12-31")
    reg = sim.simulate_registry(200_000, seed=7, loss_to_followup_rate=0.01, **kw)
    truth = sim.true_marginal_effects(estimand="ATE", n_mc=400_000, seed=11, **kw)
    return eligibility(reg)[1], truth


# ---------------------------------------------------------------------------------------------------------
# flow, layout, coherence, determinism
# ---------------------------------------------------------------------------------------------------------
def test_default_flow_counts_are_the_published_ones(default_data):
    _, _, counts, coh = default_data
    assert counts == [480, 463, 118, 110]
    assert (coh.arm == 1).sum() == 72 and (coh.arm == 0).sum() == 38
    assert (coh.second_line_regimen == "sunitinib_37.5_continuous").sum() == 42
    assert (coh.second_line_regimen == "sunitinib_50_intermittent").sum() == 30


@pytest.mark.parametrize("seed", [1, 99])
def test_flow_exact_for_any_seed_at_default_size(seed):
    counts, coh = eligibility(sim.simulate_registry(seed=seed))
    assert counts == [480, 463, 118, 110]
    assert coh.arm.sum() == 72


def test_other_sizes_vary_naturally():
    counts, coh = eligibility(sim.simulate_registry(4800, seed=3))
    # multinomial strata: 1100 expected eligible, sd sqrt(4800 p (1-p)) ~ 29
    assert counts[3] != 1100 and abs(counts[3] - 1100) < 4 * 29
    assert abs(coh.arm.mean() - 72 / 110) < 4 * math.sqrt(0.227 / counts[3])


def test_calibration_table_flow_matches_independent_eligibility(default_data):
    reg, _, counts, coh = default_data
    tab = sim.calibration_table(reg).set_index("figure")
    assert tab.loc["flow: first_line_imatinib_400", "synthetic"] == counts[1]
    assert tab.loc["flow: eligible", "synthetic"] == counts[2]
    assert tab.loc["flow: analysed", "synthetic"] == counts[3]
    row = tab[(tab.index == "PFS median (KM)") & (tab.arm == "sunitinib")]
    assert row.synthetic.iloc[0] == pytest.approx(km_median(coh.pfs[coh.arm == 1], coh.pfs_event[coh.arm == 1]),
                                                  abs=1e-9)


def test_columns_dtypes_and_codes(default_data):
    reg = default_data[0]
    assert list(reg.columns) == SCHEMA_COLUMNS
    for c in DATE_COLUMNS:
        assert reg[c].dtype == "datetime64[ns]", c
    assert reg.age_at_diagnosis.dtype == np.float64 and reg.tumor_size_cm.dtype == np.float64
    assert reg.escalation_for_tdm.dtype == bool
    for c, codes in CODES.items():
        assert set(reg[c]) <= codes, c
        assert all(isinstance(v, str) and v == v.lower() for v in reg[c]), c
    assert reg.patient_id.is_unique and reg.patient_id.str.fullmatch(r"DGR\d{5}").all()
    assert reg.patient_id.iloc[0] == "DGR00001"


def test_dates_are_coherent():
    reg = sim.simulate_registry(20_000, seed=5)
    cutoff = pd.Timestamp("2021-06-30")
    assert reg.date_of_diagnosis.between("2009-01-01", "2020-07-31").all()
    chain = ["date_of_diagnosis", "first_line_start_date", "first_line_end_date", "second_line_start_date",
             "second_line_progression_date", "date_of_death", "date_last_followup"]
    for a, b in zip(chain, chain[1:]):
        both = reg[a].notna() & reg[b].notna()
        assert (reg.loc[both, a] <= reg.loc[both, b]).all(), (a, b)
    fl = reg.first_line_end_date.notna()
    assert (reg.first_line_start_date[fl] < reg.first_line_end_date[fl]).all()
    assert (reg.first_line_end_date.isna() == (reg.first_line_end_reason == "ongoing")).all()
    assert (reg.date_last_followup <= cutoff).all()
    dead = reg.date_of_death.notna()
    assert (reg.date_of_death[dead] == reg.date_last_followup[dead]).all()
    assert ((reg.cause_of_death == "") == ~dead).all()
    has2 = reg.second_line_regimen != "none"
    assert (reg.second_line_start_date.notna() == has2).all()
    assert ((reg.second_line_end_reason == "") == ~has2).all()
    ended = reg.second_line_end_date.notna()
    assert (reg.second_line_end_date[ended] >= reg.second_line_start_date[ended]).all()
    assert (reg.second_line_end_date[ended] <= reg.date_last_followup[ended]).all()
    has3 = reg.third_line_regimen != "none"
    assert (reg.third_line_start_date.notna() == has3).all()
    assert (reg.third_line_start_date[has3] > reg.second_line_end_date[has3]).all()
    f3 = reg.third_line_failure_date.notna()
    assert (reg.third_line_failure_date[f3] > reg.third_line_start_date[f3]).all()
    assert (reg.third_line_failure_date[f3] <= reg.date_last_followup[f3]).all()
    age = (reg.date_of_diagnosis - reg.date_of_birth).dt.days / 365.25
    assert np.allclose(age, reg.age_at_diagnosis, atol=1e-12)


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = sim.simulate_registry(600, seed=42)
    pd.testing.assert_frame_equal(a, sim.simulate_registry(600, seed=42))
    b = sim.simulate_registry(600, seed=43)
    assert (a.date_of_diagnosis != b.date_of_diagnosis).mean() > 0.9


def test_truth_is_coupled_to_the_observed_records(default_data):
    """Observed PFS/OS equal the potential outcome of the received arm (ceil to whole days) when observed."""
    _, truth, _, coh = default_data
    assert len(truth) == 110 and set(truth.columns) == {"patient_id", "arm", "ps", "pfs_1", "pfs_0", "os_1",
                                                       "os_0", "lead_months"}
    m = coh.merge(truth, on="patient_id")
    assert (m.arm_x == m.arm_y).all()
    pfs_true = np.where(m.arm_x == 1, m.pfs_1, m.pfs_0)
    os_true = np.where(m.arm_x == 1, m.os_1, m.os_0)
    ev = m.pfs_event == 1
    assert np.all(np.abs(m.pfs[ev] - pfs_true[ev]) <= 1 / MONTH + 1e-9)
    assert np.all(m.pfs[~ev] < pfs_true[~ev])
    ev = m.os_event == 1
    assert np.all(np.abs(m.os[ev] - os_true[ev]) <= 1 / MONTH + 1e-9)
    assert (truth.os_1 >= truth.pfs_1).all() and (truth.os_0 >= truth.pfs_0).all()
    # the conditional effect acts in the same direction for every patient (coupled draws)
    assert (truth.pfs_1 >= truth.pfs_0).mean() > 0.95
    assert truth.ps.between(0, 1, inclusive="neither").all()


# ---------------------------------------------------------------------------------------------------------
# calibration to the published figures (default size and seed)
# ---------------------------------------------------------------------------------------------------------
def test_table1_pooled_proportions_within_sampling_error(default_data):
    """Pooled over the arms (n=110): |synthetic - published| <= 2*sqrt(2) * sqrt(p (1 - p) / 110)."""
    coh = default_data[3]
    n = 110
    groups = {"mitotic_count": "mitotic_count", "stage": "stage_at_diagnosis", "localization": "localization",
              "mutation": "mutation"}
    checks = [("male", (coh.sex == "male").mean(), sum(sim.PUBLISHED["sex_male"]) / n)]
    for key, col in groups.items():
        for cat, (a, b) in sim.PUBLISHED[key].items():
            checks.append((cat, (coh[col] == cat).mean(), (a + b) / n))
    for name, syn, pub in checks:
        se = math.sqrt(max(pub * (1 - pub), 1 / n) / n)
        assert abs(syn - pub) <= BAND * se, (name, syn, pub)


def test_table1_per_arm_within_sampling_error(default_data):
    """Per arm (n=72, 38): proportions of the confounders and the continuous summaries.

    Mean: SE = SD / sqrt(n). SD: SE = SD / sqrt(2n). Median: SE = 1 / (2 f(m) sqrt(n)), f the density at the
    median of the generating distribution (log-normal sdlog 0.5 for tumour size: f(m) = 1 / (m 0.5 sqrt(2 pi));
    Weibull shape 1.1 for first-line duration: f(m) = k log(2) / (2 m)).
    """
    coh = default_data[3]
    P = sim.PUBLISHED
    for arm, j in ((1, 0), (0, 1)):
        g = coh[coh.arm == arm]
        n = P["n"][j]
        assert len(g) == n
        for key, col in (("mitotic_count", "mitotic_count"), ("stage", "stage_at_diagnosis")):
            for cat, counts in P[key].items():
                p = counts[j] / n
                assert abs((g[col] == cat).mean() - p) <= BAND * math.sqrt(max(p * (1 - p), 1 / n) / n), (arm, cat)
        assert abs((g.sex == "male").mean() - P["sex_male"][j] / n) <= BAND * 0.5 / math.sqrt(n)
        assert abs(g.age_at_diagnosis.mean() - P["age_mean"][j]) <= BAND * P["age_sd"][j] / math.sqrt(n)
        assert abs(g.age_at_diagnosis.std() - P["age_sd"][j]) <= BAND * P["age_sd"][j] / math.sqrt(2 * n)
        m = P["tumor_size_median"][j]
        se = 1 / (2 * (1 / (m * 0.5 * math.sqrt(2 * math.pi))) * math.sqrt(n))
        assert abs(g.tumor_size_cm.median() - m) <= BAND * se
        m = P["first_line_months_median"][j]
        se = 1 / (2 * (1.1 * math.log(2) / (2 * m)) * math.sqrt(n))
        assert abs(g.d1.median() - m) <= BAND * se, (arm, g.d1.median())


def test_outcome_figures_within_sampling_error(default_data):
    """KM medians: SE_pub = (CI width) / 3.92 from the published 95% CIs; event shares binomial."""
    coh = default_data[3]
    P = sim.PUBLISHED
    for arm, j in ((1, 0), (0, 1)):
        g = coh[coh.arm == arm]
        n = len(g)
        lo, hi = P["pfs_median_ci"][j]
        assert abs(km_median(g.pfs, g.pfs_event) - P["pfs_median_months"][j]) <= BAND * (hi - lo) / 3.92
        lo, hi = P["os_median_ci"][j]
        assert abs(km_median(g.os_dx, g.os_event) - P["os_median_months_from_diagnosis"][j]) <= BAND * (hi - lo) / 3.92
        p = P["pfs_events"][j] / n
        assert abs(g.pfs_event.mean() - p) <= BAND * math.sqrt(p * (1 - p) / n)
        # follow-up: SE of a median ~ 1.2533 SD / sqrt(n) (normal approximation)
        se = 1.2533 * g.os_dx.std() / math.sqrt(n)
        assert abs(g.os_dx.median() - P["followup_median_months"][j]) <= BAND * se
    p = P["deaths"] / 110
    assert abs(coh.os_event.mean() - p) <= BAND * math.sqrt(p * (1 - p) / 110)


def test_second_and_third_line_counts_within_sampling_error(default_data):
    """Counts binomial on 72 (sunitinib failures) and 38 (third-line sunitinib); third-line median by the
    Weibull(1.5) density at the median (n=27)."""
    coh = default_data[3]
    P = sim.PUBLISHED
    a = coh[coh.arm == 1]
    for reasons, pub in ((["progression", "toxicity"], P["sunitinib_failures"]),
                         (["progression"], P["sunitinib_failure_progression"]),
                         (["toxicity"], P["sunitinib_failure_toxicity"])):
        p = pub / 72
        assert abs(a.second_line_end_reason.isin(reasons).sum() - pub) <= BAND * math.sqrt(72 * p * (1 - p))
    b = coh[(coh.arm == 0) & (coh.third_line_regimen == "sunitinib")]
    p = P["third_line_sunitinib"] / 38
    assert abs(len(b) - P["third_line_sunitinib"]) <= BAND * math.sqrt(38 * p * (1 - p))
    t3 = ((b.third_line_failure_date - b.third_line_start_date).dt.days / MONTH).dropna()
    m = P["third_line_failure_median_months"]
    se = 1 / (2 * (1.5 * math.log(2) / (2 * m)) * math.sqrt(27))
    assert abs(t3.median() - m) <= BAND * se
    assert t3.min() > 0.3 and t3.max() < 60


# ---------------------------------------------------------------------------------------------------------
# confounding
# ---------------------------------------------------------------------------------------------------------
def _trt_design(coh: pd.DataFrame) -> pd.DataFrame:
    non_kit11 = ~coh.mutation.isin(["kit_exon_11", "kit_exon_13", "kit_exon_17"])
    x = pd.DataFrame({
        "high": (coh.mitotic_count == "high").astype(float),
        "not_reported": (coh.mitotic_count == "not_reported").astype(float),
        "metastatic": coh.stage_at_diagnosis.isin(["metastasized", "multiple_localization"]).astype(float),
        "log_size": np.log(coh.tumor_size_cm / 11.5),
        "log_d1": np.log(coh.d1 / 17.5),
        "non_kit11": non_kit11.astype(float),
        "kit_other": coh.mutation.isin(["kit_exon_13", "kit_exon_17"]).astype(float),
    })
    for c in ("nki", "erasmus", "radboud", "umcg"):
        x[f"center_{c}"] = (coh.center == c).astype(float)
    return sm.add_constant(x)


@pytest.mark.parametrize("confounding", [1.0, 0.0])
def test_treatment_choice_is_confounded_as_specified(confounding):
    """Logistic regression of arm on the treatment-model covariates (n ~ 23,000 eligible, Bernoulli choice)
    recovers confounding * the documented coefficients within 4 SEs; at confounding=1 the prognostic ones
    are clearly non-zero (|z| > 4)."""
    coh = eligibility(sim.simulate_registry(100_000, seed=21, confounding=confounding))[1]
    fit = sm.Logit(coh.arm.astype(float), _trt_design(coh)).fit(disp=0)
    documented = {"high": 0.3, "not_reported": 0.1, "metastatic": 0.3, "log_size": 0.25, "log_d1": -0.1,
                  "non_kit11": 0.4, "kit_other": 0.2, "center_nki": 0.4, "center_erasmus": -0.3,
                  "center_radboud": 0.2, "center_umcg": -0.4}
    for k, beta in documented.items():
        assert abs(fit.params[k] - confounding * beta) <= 4 * fit.bse[k], (k, fit.params[k])
    if confounding:
        for k in ("high", "metastatic", "log_size", "non_kit11"):
            assert abs(fit.params[k] / fit.bse[k]) > 4, k


# ---------------------------------------------------------------------------------------------------------
# true effects
# ---------------------------------------------------------------------------------------------------------
def test_km_rmst_helper_matches_lifelines():
    """The test helper's RMST equals lifelines.utils.restricted_mean_survival_time on a small sample."""
    rng = np.random.default_rng(2)
    t = rng.exponential(10, 300)
    e = (rng.random(300) < 0.7).astype(int)
    ref = restricted_mean_survival_time(KaplanMeierFitter().fit(t, e), t=12.0)
    assert km_rmst(t, e, 12.0)[0] == pytest.approx(ref, abs=1e-6)


def test_cox_hr_no_ties_matches_lifelines():
    """lifelines: CoxPHFitter().fit(df, 't', 'e', weights_col='w') with all events, continuous times."""
    rng = np.random.default_rng(0)
    n = 400
    z = rng.integers(0, 2, n)
    t = rng.weibull(1.3, n) * np.exp(-0.4 * z)
    w = rng.uniform(0.2, 3, n)
    hr, se = sim.cox_hr_no_ties(t, z, w)
    with warnings.catch_warnings():  # lifelines warns that non-integer weights bias its SE; only b is compared
        warnings.simplefilter("ignore", StatisticalWarning)
        ref = CoxPHFitter().fit(pd.DataFrame({"t": t, "e": 1, "z": z, "w": w}), "t", "e", weights_col="w")
    assert hr == pytest.approx(math.exp(ref.params_["z"]), abs=1e-6)
    hr1, se1 = sim.cox_hr_no_ties(t, z)
    ref1 = CoxPHFitter().fit(pd.DataFrame({"t": t, "e": 1, "z": z}), "t", "e")
    assert hr1 == pytest.approx(math.exp(ref1.params_["z"]), abs=1e-6)
    assert se1 == pytest.approx(ref1.standard_errors_["z"], abs=1e-6)


def test_marginal_hr_differs_from_conditional_input():
    """Non-collapsibility: with prognostic covariates the marginal HR is nearer 1 than the conditional one."""
    te = sim.true_marginal_effects(n_mc=200_000)
    for out, cond in (("pfs", 0.70), ("os", 0.85)):
        hr = te.value(out, "hr")
        se = next(e.se for e in te.estimates if e.outcome == out and e.measure == "hr")
        assert cond < hr < 1 and (math.log(hr) - math.log(cond)) > 5 * se, (out, hr)
    att = sim.true_marginal_effects(estimand="ATT", n_mc=200_000)
    assert att.value("pfs", "rmst", contrast="sunitinib", time=24) < te.value("pfs", "rmst", contrast="sunitinib",
                                                                                time=24)


def test_no_covariate_effects_gives_weibull_closed_form():
    """prognostic=0: S_a(t) = exp(-log 2 (t / m)^1.1 hr^a) with m = 10 (PFS) and 50 (OS) months, so the
    marginal HR equals the conditional input and median_a = m hr^(-1/1.1). Tolerance 4 MC SEs; the median's
    SE is 1 / (2 f(median) sqrt(n)), f(median) = k log(2) / (2 median)."""
    n = 200_000
    te = sim.true_marginal_effects(n_mc=n, prognostic=0.0, hr_pfs=0.6, hr_os=0.8, seed=3)
    k = 1.1
    for out, m, hr in (("pfs", 10.0, 0.6), ("os", 50.0, 0.8)):
        est = next(e for e in te.estimates if e.outcome == out and e.measure == "hr")
        assert abs(math.log(est.value) - math.log(hr)) <= 4 * est.se
        for arm, h in (("sunitinib", hr), ("imatinib_800", 1.0)):
            med = m * h ** (-1 / k)
            se = 1 / (2 * (k * math.log(2) / (2 * med)) * math.sqrt(n))
            assert abs(te.value(out, "median", contrast=arm) - med) <= 4 * se, (out, arm)
            for t in (6.0, 12.0, 24.0):
                s = math.exp(-math.log(2) * (t / m) ** k * h)
                assert abs(te.value(out, "surv", contrast=arm, time=t) - s) <= 4 * math.sqrt(s * (1 - s) / n)


def test_randomized_observed_data_recover_true_ate(randomized_big):
    """confounding=0, independent censoring only: the unadjusted lifelines Cox HR and the KM RMST difference
    at 24 months of the observed registry agree with the true ATE within 4 combined SEs (estimation SE and
    MC SE). R equivalent: coxph(Surv(pfs, pfs_event) ~ arm); survfit(...) with rmean = 24."""
    coh, te = randomized_big
    for out in ("pfs", "os"):
        cph = CoxPHFitter().fit(coh[[out, f"{out}_event", "arm"]], out, f"{out}_event")
        est = next(e for e in te.estimates if e.outcome == out and e.measure == "hr")
        se = math.hypot(cph.standard_errors_["arm"], est.se)
        assert abs(cph.params_["arm"] - math.log(est.value)) <= 4 * se, (out, math.exp(cph.params_["arm"]))
        rm, var = [], []
        for arm in (1, 0):
            g = coh[coh.arm == arm]
            r, v = km_rmst(g[out], g[f"{out}_event"], 24.0)
            rm.append(r)
            var.append(v)
        true_diff = te.value(out, "rmst_diff", time=24)
        mc_se = next(e.se for e in te.estimates if e.outcome == out and e.measure == "rmst_diff")
        assert abs(rm[0] - rm[1] - true_diff) <= 4 * math.sqrt(var[0] + var[1] + mc_se ** 2), out
    # the effect guarded is larger than the tolerance
    assert te.value("pfs", "rmst_diff", time=24) > 8 * math.sqrt(var[0] + var[1])


def test_true_effects_records():
    te = sim.true_marginal_effects(n_mc=2000, landmarks=(12,), horizon=12.0)
    df = te.to_frame()
    assert set(df.outcome) == {"pfs", "os", "os_dx"} and (df.method == "truth").all()
    assert set(df.measure) == {"surv", "surv_diff", "surv_ratio", "median", "median_diff", "rmst", "rmst_diff", "hr"}
    d = te.to_dict()
    assert d["conditional_hr"] == {"pfs": 0.70, "os": 0.85} and len(d["estimates"]) == len(df)
    assert "conditional HR inputs: PFS 0.7, OS 0.85" in te.summary()


# ---------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------
def test_errors_are_pinned():
    with pytest.raises(ConfigError, match=re.escape(
            "SimulationSettings: hr_pfs must be a finite number > 0 (got -1). Pass a positive hr_pfs.")):
        sim.simulate_registry(hr_pfs=-1)
    with pytest.raises(ConfigError, match=re.escape(
            "SimulationSettings: hr_os / hr_pfs must be below 5.87 so that the hazard of progression stays "
            "positive (got 10). Lower hr_os or raise hr_pfs.")):
        sim.simulate_registry(hr_pfs=0.1, hr_os=1.0)
    with pytest.raises(ConfigError, match=re.escape(
            "true_marginal_effects: estimand must be one of ['ATE', 'ATT', 'ATC'] for the simulated ground truth "
            "(got 'ATO'). The truth is defined for these target populations; pass one of them.")):
        sim.true_marginal_effects(estimand="ATO")
    with pytest.raises(ConfigError, match=re.escape(
            "SimulationSettings: cutoff_date must be an ISO date after 2020-07-31 and before 2200 "
            "(got '2020-01-01'). Pass e.g. '2021-06-30'.")):
        sim.simulate_registry(cutoff_date="2020-01-01")


def test_truths_of_two_estimands_share_one_population_with_the_same_numbers():
    """issue 17: the Monte Carlo cohort and its sort orders are drawn once per settings (cached, read-only); each
    estimand's truth is the one computed alone."""
    from gistcausal.design import simulate

    kw = dict(landmarks=(6.0, 12.0), horizon=24.0, n_mc=5000, seed=11)
    simulate._truth_population.cache_clear()
    att_alone = simulate.true_marginal_effects(estimand="ATT", **kw).to_dict()
    simulate._truth_population.cache_clear()
    simulate.true_marginal_effects(estimand="ATE", **kw)
    assert simulate.true_marginal_effects(estimand="ATT", **kw).to_dict() == att_alone
    assert simulate._truth_population.cache_info().hits >= 1
    ps, po, _ = simulate._truth_population(5000, 11, 1.0, 0.70, 0.85, 1.0, 1.1, "2021-06-30")
    assert not ps.flags.writeable and not po["pfs_1"].flags.writeable
