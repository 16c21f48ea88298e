"""Tests of gistcausal.stats.doubly_robust (AIPTW-AIPCW survival and RMST).

Every number is checked against something independent: R riskRegression::ate (deterministic, 1e-6),
the Kaplan-Meier estimator and Greenwood variance (closed form with no covariates), closed-form
counterfactual survival of an exponential mixture (double robustness, ~4 SE), a binomial band for
interval coverage, and simulate.true_marginal_effects on the synthetic registry.
"""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from gistcausal.design import simulate as sim
from gistcausal.stats.doubly_robust import aiptw_survival
from gistcausal.errors import ConfigError, DataError, ModelFitError, SmallSampleWarning
from gistcausal.stats.km import kaplan_meier, rmst

from ..conftest import REFERENCE

REF = REFERENCE / "doubly_robust"


# ---------------------------------------------------------------------------------------------------
# against R riskRegression
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def r_case():
    return pd.read_csv(REF / "aiptw.csv"), json.loads((REF / "doubly_robust.json").read_text())


@pytest.mark.parametrize("model", ["cox_by_arm", "cox"])
def test_matches_riskregression_ate(r_case, model):
    """R (tests/reference/doubly_robust/make_doubly_robust.R):
    ate(event = coxph(Surv(time, event) ~ strata(A) + x1:A + x2:A)   [cox_by_arm]
              | coxph(Surv(time, event) ~ A + x1 + x2)                  [cox],
        treatment = glm(A ~ x1 + x2, family = binomial),
        censor = coxph(Surv(time, event == 0) ~ strata(A) + x1:A + x2:A),
        times = c(3, 6, 10), estimator = "AIPTW,AIPCW", known.nuisance = TRUE, product.limit = FALSE).
    R reports risks 1 - S; tolerance 1e-6 (deterministic; continuous times without ties)."""
    d, ref = r_case
    ref = ref[model]
    res = aiptw_survival(d.time, d.event, d.A, d[["x1", "x2"]], outcome="pfs", landmarks=(3, 6, 10),
                         outcome_model=model, censoring="cox", arm_labels=("c", "t"))
    for tt, arm, risk, se in zip(ref["time"], ref["treatment"], ref["risk"], ref["risk_se"]):
        est = res.get("surv", contrast="ct"[arm], time=float(tt))
        assert est.value == pytest.approx(1 - risk, abs=1e-6)
        assert est.se == pytest.approx(se, abs=1e-6)
    for tt, diff, se in zip(ref["diff_time"], ref["diff_risk"], ref["diff_se"]):
        est = res.get("surv_diff", time=float(tt))
        assert est.value == pytest.approx(-diff, abs=1e-6)
        assert est.se == pytest.approx(se, abs=1e-6)
        assert est.p == pytest.approx(2 * (1 - _phi(abs(diff) / se)), abs=1e-6)


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


# ---------------------------------------------------------------------------------------------------
# closed form: no covariates reproduces Kaplan-Meier
# ---------------------------------------------------------------------------------------------------
def _randomized(n: int, seed: int, digits: int):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    t_ev = rng.exponential(1 / np.where(a == 1, 0.5, 0.8))
    t_c = rng.exponential(2.0, n)
    return np.round(np.minimum(t_ev, t_c), digits), (t_ev <= t_c).astype(int), a


def test_no_covariates_equals_kaplan_meier_and_its_rmst():
    """With X empty the fitted PS is the arm share, the model terms cancel and the censoring
    augmentation sums to zero, so S_a(t) is the arm's KM exactly (1e-10; rounding only), tied times
    included (times rounded to 0.1: 30 distinct values), and RMST is the KM area."""
    t, e, a = _randomized(400, 1, 1)
    res = aiptw_survival(t, e, a, None, outcome="pfs", landmarks=(0.5, 1.0, 2.0), horizon=2.0)
    for k, lab in enumerate(("control", "treated")):
        km = kaplan_meier(t[a == k], e[a == k])
        for x in (0.5, 1.0, 2.0):
            assert res.get("surv", contrast=lab, time=x).value == pytest.approx(
                km.survival_at(x)[0], abs=1e-10)
        assert res.get("rmst", contrast=lab).value == pytest.approx(
            rmst(t[a == k], e[a == k], horizon=2.0).value, abs=1e-10)


def test_no_covariates_se_approximates_greenwood():
    """The influence-function SE and Greenwood's SE estimate the same asymptotic variance; they differ
    by O(1/n) relative terms (sum of d/n^2 vs d/(n(n-d)) and the Nelson-Aalen model term), about 1e-5
    at n=2000 with ties (times rounded to 0.01). Tolerance: relative 1e-3, and the same for RMST."""
    t, e, a = _randomized(2000, 2, 2)
    res = aiptw_survival(t, e, a, None, outcome="pfs", landmarks=(0.5, 1.0, 2.0), horizon=2.0)
    for k, lab in enumerate(("control", "treated")):
        km = kaplan_meier(t[a == k], e[a == k])
        for x in (0.5, 1.0, 2.0):
            assert res.get("surv", contrast=lab, time=x).se == pytest.approx(km.std_err_at(x)[0], rel=1e-3)
        assert res.get("rmst", contrast=lab).se == pytest.approx(
            rmst(t[a == k], e[a == k], horizon=2.0).se, rel=1e-3)


def test_rmst_is_the_integral_of_the_aiptw_curve(r_case):
    """RMST_a(tau) is computed by prefix sums; it must equal the exact area under the AIPTW curve
    evaluated at every distinct time below tau (step function), to 1e-10."""
    d, _ = r_case
    tau = 8.0
    grid = np.unique(d.time[d.time < tau])
    res = aiptw_survival(d.time, d.event, d.A, d[["x1", "x2"]], outcome="pfs", landmarks=grid,
                         horizon=tau, censoring="cox")
    for lab in ("control", "treated"):
        s = np.array([res.get("surv", contrast=lab, time=float(x)).value for x in grid])
        area = grid[0] * 1.0 + np.sum(np.diff(np.r_[grid, tau]) * s)
        assert res.get("rmst", contrast=lab).value == pytest.approx(area, abs=1e-10)


# ---------------------------------------------------------------------------------------------------
# double robustness against a closed-form truth
# ---------------------------------------------------------------------------------------------------
_P_X = 0.5                      # P(X = 1)
_RATE = 0.5                     # exponential hazard at X = 0, control
_B_X, _B_A = 1.0, -0.5          # log-hazard ratios of X and treatment
_LANDMARK, _TAU = 1.0, 2.0


def _true_ps(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(-1.0 + 2.0 * x)))


def _truth(estimand: str) -> dict[str, float]:
    """Closed form: S_a(t) = sum_x P(x | target) exp(-lambda(a, x) t), RMST_a = sum_x P(x | target)
    (1 - exp(-lambda tau)) / lambda; target ATE P(x), ATT P(x) e(x) / P(A = 1), ATC
    P(x) (1 - e(x)) / P(A = 0)."""
    px = np.array([1 - _P_X, _P_X])
    if estimand != "ATE":
        e = _true_ps(np.array([0.0, 1.0]))
        px = px * (e if estimand == "ATT" else 1 - e)
        px = px / px.sum()
    out = {}
    for a in (0, 1):
        lam = _RATE * np.exp(_B_X * np.array([0.0, 1.0]) + _B_A * a)
        out[f"surv{a}"] = float(px @ np.exp(-lam * _LANDMARK))
        out[f"rmst{a}"] = float(px @ ((1 - np.exp(-lam * _TAU)) / lam))
    out["surv_diff"] = out["surv1"] - out["surv0"]
    out["rmst_diff"] = out["rmst1"] - out["rmst0"]
    return out


@pytest.fixture(scope="session")
def confounded():
    """n = 20,000: X ~ Bernoulli(0.5), A ~ Bernoulli(expit(-1 + 2X)), exponential PH outcome with
    hazard 0.5 exp(X - 0.5 A), independent exponential censoring (rate 0.3)."""
    rng = np.random.default_rng(20240502)
    n = 20_000
    x = (rng.random(n) < _P_X).astype(float)
    a = (rng.random(n) < _true_ps(x)).astype(int)
    t_ev = rng.exponential(1 / (_RATE * np.exp(_B_X * x + _B_A * a)))
    t_c = rng.exponential(1 / 0.3, n)
    t, e = np.minimum(t_ev, t_c), (t_ev <= t_c).astype(int)
    # the saturated (hence correct) propensity model: the treated share within each level of X
    ps_hat = np.where(x == 1, a[x == 1].mean(), a[x == 0].mean())
    return t, e, a, x, ps_hat


def _fit(data, spec: str, estimand: str = "ATE"):
    t, e, a, x, ps_hat = data
    if spec == "outcome_right_ps_wrong":
        return aiptw_survival(t, e, a, x[:, None], ps=np.full(t.size, a.mean()), outcome="pfs",
                              landmarks=(_LANDMARK,), horizon=_TAU, estimand=estimand)
    if spec == "outcome_wrong_ps_right":
        return aiptw_survival(t, e, a, None, ps=ps_hat, outcome="pfs", landmarks=(_LANDMARK,),
                              horizon=_TAU, estimand=estimand)
    return aiptw_survival(t, e, a, None, outcome="pfs", landmarks=(_LANDMARK,), horizon=_TAU,
                          estimand=estimand)


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC"])
def test_double_robustness(confounded, estimand):
    """(a) correct outcome model + constant PS and (b) covariate-free outcome model + correct PS are
    both within 4 SE of the closed-form truth for every arm and contrast; (c) both wrong (the
    unadjusted KM) is off by more than 10 SE in the contrasts, so 4 SE is well below the bias guarded."""
    truth = _truth(estimand)
    for spec in ("outcome_right_ps_wrong", "outcome_wrong_ps_right"):
        res = _fit(confounded, spec, estimand)
        for measure, key in (("surv", "surv0"), ("surv", "surv1"), ("rmst", "rmst0"), ("rmst", "rmst1"),
                             ("surv_diff", "surv_diff"), ("rmst_diff", "rmst_diff")):
            contrast = None if "diff" in measure else ("control", "treated")[int(key[-1])]
            est = res.get(measure, contrast=contrast)
            assert abs(est.value - truth[key]) < 4 * est.se, (spec, key, est.value, truth[key], est.se)
    both_wrong = _fit(confounded, "both_wrong", estimand)
    for measure in ("surv_diff", "rmst_diff"):
        est = both_wrong.get(measure)
        assert abs(est.value - truth[measure]) > 10 * est.se, (measure, est.value, truth[measure])


def test_coverage_of_influence_function_intervals():
    """200 seeded replicates of n = 300 from the confounded design, all models correct (logistic PS on
    X fitted internally, Cox outcome model per arm, KM censoring): the 95% intervals of the survival
    difference at t=1 and the RMST difference at tau=2 cover the truth at a rate in [0.91, 0.985]
    (binomial(200, 0.95): mean 0.95, SD 0.015; the band is about -2.6 and +2.3 SD)."""
    truth = _truth("ATE")
    rng = np.random.default_rng(7)
    hits = {"surv_diff": 0, "rmst_diff": 0}
    reps = 200
    for _ in range(reps):
        n = 300
        x = (rng.random(n) < _P_X).astype(float)
        a = (rng.random(n) < _true_ps(x)).astype(int)
        t_ev = rng.exponential(1 / (_RATE * np.exp(_B_X * x + _B_A * a)))
        t_c = rng.exponential(1 / 0.3, n)
        res = aiptw_survival(np.minimum(t_ev, t_c), (t_ev <= t_c).astype(int), a, x[:, None],
                             outcome="pfs", landmarks=(_LANDMARK,), horizon=_TAU)
        for m in hits:
            est = res.get(m)
            hits[m] += est.ci_low <= truth[m] <= est.ci_high
    for m, h in hits.items():
        assert 0.91 <= h / reps <= 0.985, (m, h)


# ---------------------------------------------------------------------------------------------------
# synthetic registry
# ---------------------------------------------------------------------------------------------------
def _registry_design(c: pd.DataFrame) -> pd.DataFrame:
    """The covariates of the generator's outcome and treatment models (docs/synthetic_registry.md),
    categories as strings (dummies are built by aiptw_survival)."""
    return pd.DataFrame({
        "log_size": np.log(c.tumor_size_cm / 11.5), "age10": (c.age_at_diagnosis - 60) / 10,
        "log_d1": np.log(c.first_line_months / 17.5), "stage": c.stage_at_diagnosis,
        "mitotic": c.mitotic_count, "female": c.sex == "female", "localization": c.localization,
        "mutation": c.mutation, "center": c.center}, index=c.index)


def test_registry_rmst_difference_matches_true_marginal_effect():
    """simulate_registry(24,000, seed=11) -> about 5,500 eligible; AIPTW (Cox outcome model per arm on
    the generator's covariates, logistic PS on the same, KM censoring per arm: administrative censoring
    depends on covariates through the lead time, which the correct outcome model makes harmless) RMST
    difference of PFS at 24 months is
    within 4 SE of simulate.true_marginal_effects(ATE, n_mc=200,000) (SE combining the AIPTW SE and
    the Monte-Carlo SE of the truth). The true effect (~2.1 months) is more than 8 of these SEs from 0,
    so the tolerance is below the effect it guards."""
    reg = sim.simulate_registry(24_000, seed=11)
    _, c = sim.study_cohort(reg)
    truth = sim.true_marginal_effects(estimand="ATE", n_mc=200_000, landmarks=(12,), horizon=24.0)
    res = aiptw_survival(c.pfs_months, c.pfs_event, c.arm, _registry_design(c), outcome="pfs",
                         landmarks=(12.0,), horizon=24.0,
                         arm_labels=("imatinib_800", "sunitinib"))
    est = res.get("rmst_diff")
    true = truth.value("pfs", "rmst_diff", time=24.0)
    mc_se = next(e.se for e in truth.estimates if e.outcome == "pfs" and e.measure == "rmst_diff")
    tol = 4 * math.hypot(est.se, mc_se)
    assert abs(est.value - true) < tol, (est.value, true, tol)
    assert abs(true) > 2 * tol
    s12 = res.get("surv_diff", time=12.0)
    assert abs(s12.value - truth.value("pfs", "surv_diff", time=12.0)) < 4 * s12.se


# ---------------------------------------------------------------------------------------------------
# result object, bootstrap
# ---------------------------------------------------------------------------------------------------
def test_result_object_is_aggregate_and_json_safe(r_case):
    d, _ = r_case
    res = aiptw_survival(d.time, d.event, d.A, d[["x1", "x2"]], outcome="pfs", landmarks=(3, 6),
                         horizon=8.0, estimand="ATT")
    f = res.to_frame()
    assert len(f) == 9 and set(f.measure) == {"surv", "surv_diff", "rmst", "rmst_diff"}
    assert set(f.method) == {"aiptw"} and set(f.variance) == {"influence_function"}
    assert set(f.estimand) == {"ATT"}
    json.dumps(res.to_dict())
    text = res.summary()
    assert "AIPTW-AIPCW" in text and "rmst_diff" in text
    with pytest.raises(Exception):
        res.alpha = 0.1  # frozen


def test_bootstrap_se_close_to_influence_function_se(r_case):
    """All models flexible enough here (Cox per arm, logistic PS, Cox censoring, n = 400): the
    bootstrap SD (refitting every model, 200 samples) of the RMST difference agrees with the
    influence-function SE within 20% (bootstrap SD of an SD with B = 200 is about 5%, plus
    finite-sample differences); the point estimate is the same."""
    d, _ = r_case
    kw = dict(outcome="pfs", landmarks=(6,), horizon=8.0, censoring="cox")
    res_if = aiptw_survival(d.time, d.event, d.A, d[["x1", "x2"]], **kw)
    res_bs = aiptw_survival(d.time, d.event, d.A, d[["x1", "x2"]], variance="bootstrap", n_boot=200,
                            random_state=3, **kw)
    a, b = res_if.get("rmst_diff"), res_bs.get("rmst_diff")
    assert b.value == a.value and b.variance == "bootstrap_percentile"
    assert b.se == pytest.approx(a.se, rel=0.2)
    assert b.ci_low < a.value < b.ci_high
    assert res_bs.settings["n_boot_failed"] == 0


def test_dataframe_dummies_match_manual_coding(r_case):
    """A string column is expanded into 0/1 columns with the first sorted level as reference, so the
    fit equals the one on hand-made dummies (1e-12)."""
    d, _ = r_case
    grp = np.where(d.x1 < -0.5, "a_low", np.where(d.x1 < 0.5, "b_mid", "c_high"))
    frame = pd.DataFrame({"x2": d.x2, "grp": grp})
    manual = np.c_[d.x2, grp == "b_mid", grp == "c_high"].astype(float)
    r1 = aiptw_survival(d.time, d.event, d.A, frame, outcome="pfs", landmarks=(5,))
    r2 = aiptw_survival(d.time, d.event, d.A, manual, outcome="pfs", landmarks=(5,))
    assert r1.get("surv_diff").value == pytest.approx(r2.get("surv_diff").value, abs=1e-12)
    assert r1.settings["covariates"] == ["x2", "grp[b_mid]", "grp[c_high]"]


def test_covariate_without_events_in_one_level_is_left_out_with_a_warning(r_case):
    """A binary covariate that is 0 throughout the control arm and whose level 1 has no events in the
    treated arm (an infinite Cox coefficient) is left out of both arms' outcome models, with one
    pinned warning per arm kept in result.warnings; every estimate then equals the fit without that
    covariate (1e-12; the PS is given, so it does not enter a propensity model)."""
    d, _ = r_case
    rare = ((d.A == 1) & (d.event == 0) & (d.time > 20)).astype(float).to_numpy()
    msgs = [f"aiptw_survival: the outcome Cox model of arm '{arm}' leaves out 1 covariates that are "
            f"constant or have no events in one level (got ['rare']). Group rare categories if they "
            f"matter for this model." for arm in ("control", "treated")]
    X = pd.DataFrame({"x1": d.x1, "rare": rare})
    kw = dict(ps=np.full(len(d), 0.4), outcome="pfs", landmarks=(5,), horizon=8.0)
    with pytest.warns(SmallSampleWarning) as record:
        res = aiptw_survival(d.time, d.event, d.A, X, **kw)
    assert [str(w.message) for w in record] == msgs
    assert list(res.warnings) == msgs
    ref = aiptw_survival(d.time, d.event, d.A, d[["x1"]], **kw)
    for e_res, e_ref in zip(res.estimates, ref.estimates):
        assert e_res.value == pytest.approx(e_ref.value, abs=1e-12)


# ---------------------------------------------------------------------------------------------------
# errors (exact messages)
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.5, 2.5, 3.5, 4.5, 5.5, 7.0])
    e = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0])
    a = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    return t, e, a


def test_error_horizon_beyond_follow_up(small):
    t, e, a = small
    with pytest.raises(DataError, match=re.escape(
            "aiptw_survival: `horizon` must be below the last follow-up time of arm 'control' (got 6.5 "
            ">= 6). Choose horizon < 6, where patients remain at risk.")):
        aiptw_survival(t, e, a, outcome="pfs", horizon=6.5)


def test_error_landmark_beyond_follow_up(small):
    t, e, a = small
    with pytest.raises(DataError, match=re.escape(
            "aiptw_survival: `landmarks` must be below the last follow-up time of arm 'control' (got 6 "
            ">= 6). Choose landmarks < 6, where patients remain at risk.")):
        aiptw_survival(t, e, a, outcome="pfs", landmarks=(2, 6))


def test_issue_5_arm_without_events(small):
    t, e, a = small
    e = np.where(a == 1, 0, e)
    with pytest.raises(ModelFitError, match=re.escape(
            "aiptw_survival: arm 'sunitinib' has no events (got 0 events in 6 patients). Its outcome "
            "model cannot be fitted; report the follow-up of that arm instead.")):
        aiptw_survival(t, e, a, outcome="pfs", landmarks=(2,), arm_labels=("imatinib_800", "sunitinib"))


@pytest.mark.parametrize("estimand", ["ATO", "matching"])
def test_error_estimand_not_supported(small, estimand):
    t, e, a = small
    with pytest.raises(ConfigError, match=re.escape(
            f"aiptw_survival: estimand must be one of ['ATE', 'ATT', 'ATC'] for the doubly robust "
            f"estimator (got '{estimand}'). Use one of these, or the IPTW analysis for {estimand}.")):
        aiptw_survival(t, e, a, outcome="pfs", landmarks=(2,), estimand=estimand)


def test_error_nan_in_dataframe_column(small):
    t, e, a = small
    X = pd.DataFrame({"age": np.r_[np.nan, np.arange(11.0)], "size": np.arange(12.0)})
    with pytest.raises(DataError, match=re.escape(
            "aiptw_survival: column 'age' of X has missing or infinite values (got 1 of 12 rows). "
            "Impute or drop these rows first.")):
        aiptw_survival(t, e, a, X, outcome="pfs", landmarks=(2,))


def test_error_nan_in_array(small):
    t, e, a = small
    X = np.c_[np.arange(12.0), np.r_[np.arange(10.0), np.nan, np.inf]]
    with pytest.raises(DataError, match=re.escape(
            "aiptw_survival: columns ['x2'] of X have missing or infinite values (got 2 values). "
            "Impute or drop these rows first.")):
        aiptw_survival(t, e, a, X, outcome="pfs", landmarks=(2,))


# ---------------------------------------------------------------------------------------------------
# the per-patient kernels against the formula, term by term (issue 17: blocked, shared-row kernels)
# ---------------------------------------------------------------------------------------------------
def _v_by_formula(r, c, k, event, cumhaz0, cumhaz_c, dlam_c, j):
    r"""V_i(u_j) of the module docstring, summed grid point by grid point for one patient set."""
    m = cumhaz0.size
    s = np.exp(-np.outer(r, cumhaz0))                                  # S_i(u_l)
    g_left = np.exp(-np.outer(c, np.r_[0.0, cumhaz_c[:-1]]))           # G_i(u_l-)
    cols = np.arange(m)[None, :]
    dn_c = ((1 - event)[:, None] * (k[:, None] == cols)).astype(float)
    y_c = (k[:, None] > cols) | ((k[:, None] == cols) & (event[:, None] == 0))
    dm_c = dn_c - y_c * (c[:, None] * dlam_c[None, :])
    upto = cols <= j
    aug = ((s - s[:, [j]]) / (s * g_left) * dm_c * upto).sum(axis=1)
    kk = np.minimum(k, m - 1)
    ipcw = np.where(k <= j, event / g_left[np.arange(r.size), kk], 0.0)
    return ipcw + aug


@pytest.mark.parametrize("censoring_const", [True, False])
@pytest.mark.parametrize("discrete", [True, False])
def test_aipcw_kernel_matches_formula(censoring_const, discrete):
    """_aipcw_term and _model_term equal the estimator's formula evaluated point by point (1e-12), for
    shared rows (discrete risk scores), a covariate-free censoring model (one shared row) and a Cox
    censoring model, patients beyond the grid, and blocks smaller than the data (the block loop)."""
    from gistcausal.stats import doubly_robust as dr

    rng = np.random.default_rng(7)
    n, m = 60, 17
    r = rng.choice([0.5, 1.0, 2.0], n) if discrete else rng.lognormal(0, 0.5, n)
    c = np.ones(n) * 1.3 if censoring_const else rng.lognormal(0, 0.4, n)
    k = rng.integers(0, m + 1, n)                                      # m: beyond the grid
    event = rng.integers(0, 2, n).astype(float)
    cumhaz0 = np.cumsum(rng.uniform(0, 0.05, m))
    dlam_c = rng.uniform(0, 0.04, m)
    cumhaz_c = np.cumsum(dlam_c)
    width = rng.uniform(0.1, 1.0, m)
    jt = np.array([2, 9, 16])
    tau = float(width.sum())
    old_block = dr._BLOCK
    try:
        dr._BLOCK = 5 * m                                              # 5 rows per block
        u, model = dr._aipcw_term(r, c, k, event, cumhaz0, cumhaz_c, dlam_c, jt, width, tau)
        model_other = dr._model_term(r, cumhaz0, jt, width)
    finally:
        dr._BLOCK = old_block
    v = np.column_stack([_v_by_formula(r, c, k, event, cumhaz0, cumhaz_c, dlam_c, j) for j in range(m)])
    np.testing.assert_allclose(u[:, :jt.size], 1.0 - v[:, jt], rtol=0, atol=1e-12)
    np.testing.assert_allclose(u[:, -1], (1.0 - v) @ width, rtol=0, atol=1e-12)
    s = np.exp(-np.outer(r, cumhaz0))
    for got in (model, model_other):
        np.testing.assert_allclose(got[:, :jt.size], s[:, jt], rtol=0, atol=1e-14)
        np.testing.assert_allclose(got[:, -1], s @ width, rtol=0, atol=1e-12)


@pytest.mark.parametrize("censoring", ["km", "cox"])
def test_by_estimand_equals_one_call_per_estimand(censoring):
    """aiptw_survival_by_estimand fits the nuisance models once; each result equals its own call."""
    from gistcausal.stats.doubly_robust import aiptw_survival_by_estimand

    rng = np.random.default_rng(3)
    n = 300
    x = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.integers(0, 2, n)})
    a = rng.binomial(1, 1 / (1 + np.exp(-0.5 * x["x1"])))
    t_ev = rng.exponential(10 * np.exp(-0.3 * x["x1"] - 0.3 * a))
    cens = rng.uniform(2, 30, n)
    t, d = np.round(np.minimum(t_ev, cens), 1), (t_ev <= cens).astype(int)
    kw = dict(outcome="death", landmarks=(2, 5), horizon=6.0, censoring=censoring)
    together = aiptw_survival_by_estimand(t, d, a, x, estimands=("ATE", "ATT", "ATC"), **kw)
    assert list(together) == ["ATE", "ATT", "ATC"]
    for est, res in together.items():
        alone = aiptw_survival(t, d, a, x, estimand=est, **kw)
        assert res.estimand == est
        pd.testing.assert_frame_equal(res.to_frame(), alone.to_frame(), rtol=1e-12, atol=1e-14)
    assert together["ATE"].to_frame()["value"].tolist() != together["ATT"].to_frame()["value"].tolist()
    with pytest.raises(ConfigError, match="each estimand once"):
        aiptw_survival_by_estimand(t, d, a, x, estimands=("ATE", "ATE"), **kw)


def test_bootstrap_by_estimand_shares_the_samples_and_equals_one_call_per_estimand():
    """variance="bootstrap": one set of resamples (nuisance refits) serves every estimand; each estimand's SE
    and interval equal those of its own call with the same seed (same samples)."""
    from gistcausal.stats.doubly_robust import aiptw_survival_by_estimand

    rng = np.random.default_rng(8)
    n = 250
    x = pd.DataFrame({"x1": rng.normal(size=n)})
    a = rng.binomial(1, 1 / (1 + np.exp(-0.7 * x["x1"])))
    t_ev = rng.exponential(10 * np.exp(-0.4 * x["x1"] - 0.3 * a))
    cens = rng.uniform(2, 30, n)
    t, d = np.round(np.minimum(t_ev, cens), 1), (t_ev <= cens).astype(int)
    kw = dict(outcome="death", landmarks=(3,), horizon=6.0, variance="bootstrap", n_boot=20, random_state=5)
    together = aiptw_survival_by_estimand(t, d, a, x, estimands=("ATE", "ATT"), **kw)
    for est in ("ATE", "ATT"):
        alone = aiptw_survival(t, d, a, x, estimand=est, **kw)
        pd.testing.assert_frame_equal(together[est].to_frame(), alone.to_frame(), rtol=1e-12, atol=1e-14)
    assert together["ATE"].to_frame()["se"].tolist() != together["ATT"].to_frame()["se"].tolist()


def test_cumsum_rows_is_numpy_cumsum_bit_for_bit():
    """The time-major kernel's running sum (issue 17) adds in np.cumsum's order: the same bits, on a view too."""
    from gistcausal.stats.doubly_robust import _cumsum_rows

    x = np.random.default_rng(3).lognormal(0, 2, (40, 7))
    want = np.cumsum(x, axis=0)
    buf = np.zeros((41, 7))
    buf[1:] = x
    got = _cumsum_rows(buf[1:])
    assert np.array_equal(got, want) and np.array_equal(buf[1:], want) and not buf[0].any()
