"""Variance methods for IPTW survival: M-estimation (stacked sandwich) and the whole-pipeline bootstrap.

Independent checks:
* delicatessen's generic M-estimator on the same stacked equations written independently
  (tests/reference/inference/make_inference.py -> inference.json), to 1e-6 relative;
* closed forms: the saturated propensity model on a binary covariate without censoring, where IPTW equals
  post-stratification and its sandwich variance has an explicit formula;
* scipy.stats.bootstrap(method="BCa") on the same resamples; statsmodels' logistic MLE;
* the bootstrap against the M-estimation SE on a large synthetic cohort (Monte Carlo tolerance).
"""
from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from gistcausal.analysis.iptw import bootstrap_estimates, m_estimation_estimates
from gistcausal.inference.bootstrap import bootstrap_survival, bca_interval
from gistcausal.stats.cox import cox_influence
from gistcausal.errors import ConfigError, SeparationError, SmallSampleWarning
from gistcausal.analysis.variance import swap_estimates, with_variance
from gistcausal.inference.mestimation import m_estimation_survival
from gistcausal.stats.logistic import logistic_newton
from gistcausal.stats.km import kaplan_meier, km_influence, rmst, rmst_influence

from ..conftest import REFERENCE

REF = REFERENCE / "inference"


def _get(ests, measure, contrast=None, time=None):
    for e in ests:
        if e.measure == measure and (contrast is None or e.contrast == contrast) and (
                time is None or e.time == time):
            return e
    raise KeyError(measure)


def _with(cfg, section, **changes):
    """A copy of the (frozen) config with analysis.<section> fields changed."""
    sec = getattr(cfg.analysis, section).model_copy(update=changes)
    return cfg.model_copy(update={"analysis": cfg.analysis.model_copy(update={section: sec})})


@pytest.fixture(scope="session")
def quiet_cfg(default_config):
    return default_config


@pytest.fixture(scope="session")
def study_frame(default_cohort):
    return default_cohort.frame


# ---------------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------------
def test_logistic_newton_matches_statsmodels():
    """statsmodels GLM(Binomial).fit(method="IRLS", tol=1e-14): the same MLE to 1e-8."""
    import statsmodels.api as sm

    rng = np.random.default_rng(11)
    n = 300
    X = np.c_[np.ones(n), rng.normal(size=(n, 4)), rng.random(n) < 0.3]
    y = (rng.random(n) < special.expit(X @ np.array([-0.2, 0.5, -0.3, 0.1, 0.8, 1.0]))).astype(float)
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(method="IRLS", tol=1e-14, maxiter=100).params
    coef, _ = logistic_newton(X, y)
    np.testing.assert_allclose(coef, ref, rtol=0, atol=1e-8)


def test_logistic_newton_separation_message():
    X = np.c_[np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1]]
    y = np.array([0, 1, 0, 1, 1, 1, 1, 1], dtype=float)
    with pytest.raises(SeparationError, match=r"^logistic_newton: fitted probabilities reach 0 or 1 "):
        logistic_newton(X, y)


def test_influence_helpers_equal_robust_variance_and_derivatives():
    """sum_i D_i^2 is the robust variance of kaplan_meier / rmst / cox_fit; D_i = w_i dtheta/dw_i by
    finite differences (1e-6)."""
    rng = np.random.default_rng(5)
    n = 200
    t = np.round(rng.exponential(10, n))          # ties on purpose
    e = (rng.random(n) < 0.8).astype(float)
    a = (rng.random(n) < 0.5).astype(float)
    w = rng.uniform(0.5, 3, n)
    w[:2] = 0.0
    times = [0.0, 4.0, 12.0]
    s, D = km_influence(t, e, weights=w, times=times)
    km = kaplan_meier(t, e, weights=w)
    np.testing.assert_allclose(s, km.survival_at(times), atol=1e-12)
    np.testing.assert_allclose(np.sqrt((D ** 2).sum(0)), km.std_err_at(times), atol=1e-12)
    v, Dr = rmst_influence(t, e, weights=w, horizon=15)
    r = rmst(t, e, weights=w, horizon=15)
    assert v == pytest.approx(r.value, abs=1e-12)
    assert math.sqrt((Dr ** 2).sum()) == pytest.approx(r.se, abs=1e-12)
    fit, Dc = cox_influence(t, e, a[:, None], weights=w)
    assert math.sqrt(Dc[:, 0] @ Dc[:, 0]) == pytest.approx(fit.robust_se[0], abs=1e-12)
    i, eps = 10, 1e-6
    w2 = w.copy()
    w2[i] += eps
    s2, _ = km_influence(t, e, weights=w2, times=times)
    np.testing.assert_allclose((s2 - s) / eps * w[i], D[i], atol=1e-6)
    v2, _ = rmst_influence(t, e, weights=w2, horizon=15)
    assert (v2 - v) / eps * w[i] == pytest.approx(Dr[i], abs=1e-5)
    fit2, _ = cox_influence(t, e, a[:, None], weights=w2)
    assert (fit2.coef[0] - fit.coef[0]) / eps * w[i] == pytest.approx(Dc[i, 0], abs=1e-6)


# ---------------------------------------------------------------------------------------------------
# M-estimation
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["ATE_stabilized", "ATT", "ATO"])
def test_m_estimation_matches_delicatessen(case):
    """delicatessen MEstimator(psi).estimate(solver="lm", deriv_method="capprox", dx=1e-6) on the stacked
    logistic + weighted hazard-increment (KM, RMST) and Poisson-form Cox equations, made by
    tests/reference/inference/make_inference.py. Relative 1e-6 (central differences are good to ~1e-9)."""
    ref = json.loads((REF / "inference.json").read_text())
    c = ref["cases"][case]
    df = pd.read_csv(REF / "mest_data.csv")
    X = np.c_[np.ones(len(df)), df["x1"], df["x2"]]
    ests = m_estimation_survival(df["time"], df["event"], df["treatment"], X, outcome="y",
                                 estimand=c["estimand"], stabilize=c["stabilize"], landmarks=[ref["landmark"]],
                                 horizon=ref["horizon"], arm_labels=("c", "t"))
    lm, h = ref["landmark"], ref["horizon"]
    mine = {"surv_0": _get(ests, "surv", "c", lm), "surv_1": _get(ests, "surv", "t", lm),
            "surv_diff": _get(ests, "surv_diff", time=lm), "log_surv_ratio": _get(ests, "surv_ratio", time=lm),
            "rmst_0": _get(ests, "rmst", "c", h), "rmst_1": _get(ests, "rmst", "t", h),
            "rmst_diff": _get(ests, "rmst_diff", time=h), "log_hr": _get(ests, "hr")}
    for name, e in mine.items():
        value = math.log(e.value) if name.startswith("log_") else e.value
        assert value == pytest.approx(c["estimate"][name], rel=1e-6), name
        assert e.se == pytest.approx(c["se"][name], rel=1e-6), name
        assert e.variance == "m_estimation"


def _saturated_case(n=400, seed=2):
    rng = np.random.default_rng(seed)
    x = (rng.random(n) < 0.45).astype(float)
    a = (rng.random(n) < np.where(x == 1, 0.7, 0.35)).astype(float)
    t = rng.exponential(np.where(a == 1, 14.0, 10.0) * np.where(x == 1, 0.6, 1.0))
    return x, a, t


def test_m_estimation_closed_form_saturated_binary_no_censoring():
    """Saturated PS on a binary x, no censoring: IPTW (Hajek) equals post-stratification,
    tau = sum_x pi_x (Ybar_1x - Ybar_0x) with Y = 1{T > t}, whose sandwich variance is
    sum_x pi_x^2 (s2_1x/n_1x + s2_0x/n_0x) + sum_x pi_x (tau_x - tau)^2 / n (s2 with divisor n_ax).
    The M-estimation SE is smaller than the weights-known robust SE (Hirano, Imbens & Ridder 2003)."""
    x, a, t = _saturated_case()
    n, lm = x.size, 9.0
    X = np.c_[np.ones(n), x]
    ests = m_estimation_survival(t, np.ones(n), a, X, outcome="y", estimand="ATE", landmarks=[lm],
                                 arm_labels=("c", "t"))
    y = (t > lm).astype(float)
    tau, var = 0.0, 0.0
    taus, pis = [], []
    for v in (0.0, 1.0):
        m = x == v
        pi = m.mean()
        y1, y0 = y[m & (a == 1)], y[m & (a == 0)]
        taus.append(y1.mean() - y0.mean())
        pis.append(pi)
        var += pi ** 2 * (y1.var() / y1.size + y0.var() / y0.size)
    tau = float(np.dot(pis, taus))
    var += sum(p * (tx - tau) ** 2 for p, tx in zip(pis, taus)) / n
    d = _get(ests, "surv_diff", time=lm)
    assert d.value == pytest.approx(tau, abs=1e-12)
    assert d.se == pytest.approx(math.sqrt(var), abs=1e-12)
    assert d.se < d.extra["se_weights_known"]


def test_m_estimation_equals_causal_fit_point_estimates_and_robust_se(quiet_cfg, study_frame):
    """Same point estimates as pipeline.causal_fit; se_weights_known equals compare_survival's robust SE."""
    from gistcausal.analysis.iptw import causal_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf = causal_fit(quiet_cfg, study_frame, outcome="pfs", estimand="ATE")
        me = m_estimation_estimates(quiet_cfg, study_frame, outcome="pfs", estimand="ATE")
    assert {e.measure for e in me} == {"surv", "surv_diff", "surv_ratio", "rmst", "rmst_diff", "hr"}
    for e in me:
        r = cf.comparison.get(e.measure, contrast=e.contrast, time=None if e.measure == "hr" else e.time)
        assert e.value == pytest.approx(r.value, abs=1e-10)
        assert e.extra["se_weights_known"] == pytest.approx(r.se, abs=1e-10)


def test_m_estimation_refuses_truncation(quiet_cfg, study_frame):
    cfg = _with(quiet_cfg, "weights", truncate=(1.0, 99.0))
    msg = ("m_estimation_estimates: analysis.survival.variance 'm_estimation' cannot use truncated weights "
           "(got analysis.weights.truncate [1.0, 99.0]). Use variance: bootstrap, or trim instead of truncating.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        m_estimation_estimates(cfg, study_frame, outcome="pfs", estimand="ATE")


def test_m_estimation_refuses_non_logistic(quiet_cfg, study_frame):
    cfg = _with(quiet_cfg, "propensity", method="firth")
    msg = ("m_estimation_estimates: analysis.survival.variance 'm_estimation' needs analysis.propensity.method "
           "'logistic' (got 'firth'). Use variance: bootstrap for this model.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        m_estimation_estimates(cfg, study_frame, outcome="pfs", estimand="ATE")


# ---------------------------------------------------------------------------------------------------
# bootstrap
# ---------------------------------------------------------------------------------------------------
def test_bca_interval_matches_scipy():
    """scipy.stats.bootstrap((x,), np.mean, method="BCa", n_resamples=999, rng=default_rng(3)): the same
    resamples are rng.integers(0, n, (B, n)); limits equal to 1e-12."""
    x = np.random.default_rng(1).lognormal(size=40)
    res = stats.bootstrap((x,), np.mean, method="BCa", n_resamples=999, rng=np.random.default_rng(3),
                          confidence_level=0.9)
    idx = np.random.default_rng(3).integers(0, x.size, (999, x.size))
    boot = x[idx].mean(axis=1)
    np.testing.assert_allclose(boot, res.bootstrap_distribution, atol=1e-14)
    jack = np.array([np.delete(x, i).mean() for i in range(x.size)])
    lo, hi, _, acc = bca_interval(x.mean(), boot, jack, alpha=0.1)
    assert lo == pytest.approx(res.confidence_interval.low, abs=1e-12)
    assert hi == pytest.approx(res.confidence_interval.high, abs=1e-12)
    assert acc > 0   # a right-skewed statistic: the acceleration is not trivially zero


def test_bootstrap_point_estimates_equal_causal_fit_and_reproducible(quiet_cfg, study_frame):
    """Point estimates equal causal_fit's; the same seed gives the same replicates with 1 or 2 jobs."""
    from gistcausal.analysis.iptw import causal_fit

    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf = causal_fit(quiet_cfg, study_frame, outcome="pfs", estimand="ATT")
        b1 = bootstrap_estimates(quiet_cfg, study_frame, outcome="pfs", estimand="ATT", n_boot=60, n_jobs=1,
                                 random_state=9, progress=lambda d, t: calls.append((d, t)))
        b2 = bootstrap_estimates(quiet_cfg, study_frame, outcome="pfs", estimand="ATT", n_boot=60, n_jobs=2,
                                 random_state=9)
    for e in b1.estimates:
        r = cf.comparison.get(e.measure, contrast=e.contrast, time=None if e.measure == "hr" else e.time)
        assert e.value == pytest.approx(r.value, abs=1e-9)
        assert e.variance == "bootstrap_percentile"
    pd.testing.assert_frame_equal(b1.replicates, b2.replicates)
    assert b1.n_success + sum(b1.n_failed.values()) == 60
    assert calls[0] == (0, 60) and calls[-1] == (60, 60)
    assert all(d2 >= d1 for (d1, _), (d2, _) in zip(calls, calls[1:]))
    assert "patient" not in " ".join(b1.replicates.columns)
    assert set(b1.to_dict()) >= {"n_failed", "n_success", "estimates"}


def test_bootstrap_counts_separation_failures_and_warns():
    """A level with 3 treated and 1 control patient: resamples without the control patient are separated;
    they are counted by reason, a SmallSampleWarning is raised past 5% and the intervals use the others."""
    rng = np.random.default_rng(4)
    n = 80
    a = np.r_[np.ones(40), np.zeros(40)]
    rare = np.zeros(n)
    rare[[0, 1, 2, 40]] = 1
    X = np.c_[np.ones(n), rng.normal(size=n), rare]
    t = rng.exponential(10, n)
    ev = (rng.random(n) < 0.8).astype(float)
    with pytest.warns(SmallSampleWarning, match=r"^bootstrap_survival: .*% of bootstrap replicates failed"):
        b = bootstrap_survival(t, ev, a, X, outcome="y", estimand="ATE", landmarks=[5.0], horizon=8.0,
                               n_boot=100, n_jobs=1, random_state=2, arm_labels=("c", "t"))
    assert b.n_failed.get("separation", 0) > 5
    assert b.n_success + sum(b.n_failed.values()) == 100
    assert len(b.replicates) == b.n_success
    assert b.warnings and "separation" in b.warnings[0]


def test_bootstrap_bad_ci_message(quiet_cfg, study_frame):
    msg = "bootstrap_estimates: `ci` must be 'percentile' or 'bca' (got 'normal'). Use 'percentile' or 'bca'."
    with pytest.raises(ConfigError, match=re.escape(msg)):
        bootstrap_estimates(quiet_cfg, study_frame, outcome="pfs", estimand="ATE", ci="normal")


def test_bootstrap_bca_on_study(quiet_cfg, study_frame):
    """BCa runs the jackknife of the whole pipeline; z0 and acceleration are reported; limits bracket the
    estimate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = bootstrap_estimates(quiet_cfg, study_frame, outcome="pfs", estimand="ATE", n_boot=80, ci="bca",
                                n_jobs=1, random_state=3)
    hr = _get(b.estimates, "hr")
    assert hr.variance == "bootstrap_bca"
    assert hr.ci_low < hr.value < hr.ci_high
    assert math.isfinite(hr.extra["acceleration"]) and math.isfinite(hr.extra["z0"])


def test_bootstrap_agrees_with_m_estimation_on_large_synthetic_cohort(quiet_cfg):
    """Large synthetic cohort (registry 9600 -> about 2100 patients), ATE: the bootstrap SE (B = 2000) of the
    RMST difference and log HR equals the M-estimation SE within 4 Monte Carlo SEs of a bootstrap SE,
    4 / sqrt(2 (B - 1)) = 6.3% relative; the robust (weights-known) SE is ~10% larger here."""
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.simulate import simulate_registry

    frame = build_cohort(quiet_cfg, simulate_registry(n_patients=9600, seed=7)).frame
    B = 2000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        me = m_estimation_estimates(quiet_cfg, frame, outcome="pfs", estimand="ATE")
        b = bootstrap_estimates(quiet_cfg, frame, outcome="pfs", estimand="ATE", n_boot=B, n_jobs=1,
                                random_state=1)
    tol = 4 / math.sqrt(2 * (B - 1))
    for measure in ("rmst_diff", "hr"):
        m, bb = _get(me, measure), _get(b.estimates, measure)
        assert m.se / bb.se == pytest.approx(1.0, abs=tol), measure


def test_with_variance_swaps_rows(quiet_cfg, study_frame):
    from gistcausal.analysis.iptw import causal_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf = causal_fit(quiet_cfg, study_frame, outcome="os", estimand="ATE")
        comp, boot = with_variance(quiet_cfg, study_frame, cf.comparison, outcome="os", estimand="ATE",
                                   variance="m_estimation")
    assert boot is None
    assert len(comp.estimates) == len(cf.comparison.estimates)
    by = {e.measure: e.variance for e in comp.estimates}
    assert by["hr"] == "m_estimation" and by["median"] == "robust" and by["logrank_p"] == "robust"
    assert swap_estimates(cf.comparison.estimates, ()) == cf.comparison.estimates
    msg = ("with_variance: analysis.survival.variance must be one of ['robust', 'm_estimation', "
           "'m_estimation_corrected', 'bootstrap'] (got 'jackknife'). Pick one of these.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        with_variance(quiet_cfg, study_frame, cf.comparison, outcome="os", estimand="ATE", variance="jackknife")
