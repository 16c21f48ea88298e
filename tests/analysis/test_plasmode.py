"""Tests for gistcausal.analysis.plasmode (issue 10): generating models vs R, backends, checkpoint, truth, metrics."""
from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gistcausal.errors import ConfigError
from gistcausal.analysis.plasmode import (
    PlasmodeResult, PlasmodeSettings, _design, fit_weibull_ph, plasmode, simulation_study,
)

from ..conftest import REFERENCE

N_MC = 20_000  # truth resample in tests; its MC SE enters the tolerances below


@pytest.fixture(scope="module")
def frame(default_cohort):
    return default_cohort.frame


@pytest.fixture(scope="module")
def random_frame(default_config):
    """Cohort of a registry with randomized treatment (confounding=0) from the synthetic generator."""
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.simulate import simulate_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_cohort(default_config, simulate_registry(seed=7, confounding=0.0)).frame


def _run(cfg, f, *, outcome="pfs", estimand="ATE", random_state=11, progress=None, **settings):
    settings.setdefault("n_jobs", 1)
    settings.setdefault("n_mc", N_MC)
    return plasmode(cfg, f, outcome=outcome, estimand=estimand, random_state=random_state, progress=progress,
                    settings=PlasmodeSettings(**settings))


def _row(res: PlasmodeResult, measure: str = "hr", method: str = "iptw", time: float | None = None) -> pd.Series:
    m = res.metrics
    sel = (m["method"] == method) & (m["measure"] == measure)
    sel &= m["time"].isna() if time is None else np.isclose(m["time"].astype(float), time)
    assert sel.sum() == 1
    return m[sel].iloc[0]


# ------------------------------------------------------------------------------------ generating models vs R
def test_weibull_ph_matches_r_survreg():
    """R: survreg(Surv(time, status) ~ z1 + ... + z12, dist = "weibull",
    control = survreg.control(rel.tolerance = 1e-13, maxiter = 500)), converted to PH (k = 1/scale,
    b = -alpha/scale, c0 = -mu/scale); censoring model ~ z1. Made by tests/reference/plasmode/make_plasmode.R."""
    ref = json.loads((REFERENCE / "plasmode" / "plasmode.json").read_text())
    d = pd.read_csv(REFERENCE / "plasmode" / "weibull.csv")
    z = d.filter(regex="^z").to_numpy(float)
    ev = fit_weibull_ph(d["time"], d["event"], z, penalty=0.0)
    assert ev.shape == pytest.approx(ref["event"]["shape"], abs=1e-6)
    assert ev.log_rate == pytest.approx(ref["event"]["log_rate"], abs=1e-6)
    np.testing.assert_allclose(ev.coef, ref["event"]["coef"], atol=1e-6)
    assert ev.loglik == pytest.approx(ref["event"]["loglik"], abs=1e-6)
    ce = fit_weibull_ph(d["time"], 1 - d["event"], z[:, :1], penalty=0.0)
    assert ce.shape == pytest.approx(ref["censoring"]["shape"], abs=1e-6)
    assert ce.coef[0] == pytest.approx(ref["censoring"]["coef"], abs=1e-6)
    assert ce.loglik == pytest.approx(ref["censoring"]["loglik"], abs=1e-6)


def test_reference_design_is_the_plasmode_design(default_config, frame):
    """The CSV given to R is the design plasmode builds (so the R check covers the generating model)."""
    d = pd.read_csv(REFERENCE / "plasmode" / "weibull.csv")
    covs = [n for n, c in default_config.covariates.items() if c.in_propensity]
    z, _ = _design(frame, covs, "test")
    np.testing.assert_allclose(d.filter(regex="^z").to_numpy(float)[:, 1:], z, atol=1e-12)


# ------------------------------------------------------------------------------------ execution
def _sleep_then(shared, item):
    import time

    time.sleep(item)
    return item


def test_begin_plasmode_on_a_local_pool_gives_the_serial_result_beside_another_loop(default_config, frame):
    """begin_plasmode (issue 17: the pipeline starts plasmode before the sensitivity step and collects it after)
    hands the replicates to the local workers at once; another loop run meanwhile shares the workers; the result
    equals the serial one. A serial executor computes when the result is asked for."""
    from gistcausal.analysis.plasmode import begin_plasmode
    from gistcausal.engine import Engine, Executor

    kw = dict(outcome="pfs", estimand="ATE", random_state=11,
              settings=PlasmodeSettings(true_hr=0.7, n_replicates=12, n_mc=N_MC))
    serial = _run(default_config, frame, true_hr=0.7, n_replicates=12)
    with Executor(Engine(n_workers=2)) as ex:
        collect = begin_plasmode(default_config, frame, engine=ex, **kw)
        assert ex.map_replicates(_sleep_then, [0.01, 0.02], shared=None) == [0.01, 0.02]
        local = collect()
    with Executor(Engine(n_workers=1)) as ex:
        deferred = begin_plasmode(default_config, frame, engine=ex, **kw)()
    for res in (local, deferred):
        pd.testing.assert_frame_equal(res.estimates, serial.estimates, check_exact=True)
        pd.testing.assert_frame_equal(res.metrics, serial.metrics, check_exact=True)


def test_local_processes_and_real_dask_cluster_give_identical_replicates(default_config, frame):
    from distributed import Client, LocalCluster

    local = _run(default_config, frame, true_hr=0.7, n_replicates=12, n_jobs=2, batch_size=2)
    serial = _run(default_config, frame, true_hr=0.7, n_replicates=12, n_jobs=1, batch_size=5)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = _run(default_config, frame, true_hr=0.7, n_replicates=12, backend="dask", client=client,
                    batch_size=3)
    assert len(local.estimates) > 12 * 3
    pd.testing.assert_frame_equal(local.estimates, dask.estimates, check_exact=True)
    pd.testing.assert_frame_equal(local.estimates, serial.estimates, check_exact=True)
    pd.testing.assert_frame_equal(local.failures, dask.failures, check_exact=True)
    pd.testing.assert_frame_equal(local.metrics, dask.metrics, check_exact=True)


def test_resume_from_checkpoint_equals_one_run(default_config, frame, tmp_path):
    ck = tmp_path / "pm.jsonl"
    seen: list[tuple[int, int]] = []
    once = _run(default_config, frame, true_hr=0.7, n_replicates=20)
    first = _run(default_config, frame, true_hr=0.7, n_replicates=10, checkpoint=ck)
    assert first.n_replicates == 10
    with ck.open("a") as fh:  # an interrupted write leaves half a line: that replicate is simply rerun
        fh.write('{"replicate": 10, "status": "o')
    resumed = _run(default_config, frame, true_hr=0.7, n_replicates=20, checkpoint=ck,
                   progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (10, 20) and seen[-1] == (20, 20)
    pd.testing.assert_frame_equal(once.estimates, resumed.estimates, check_exact=True)
    pd.testing.assert_frame_equal(once.metrics, resumed.metrics, check_exact=True)
    again = _run(default_config, frame, true_hr=0.7, n_replicates=20)
    pd.testing.assert_frame_equal(once.estimates, again.estimates, check_exact=True)
    other = _run(default_config, frame, true_hr=0.7, n_replicates=20, random_state=12)
    assert not np.array_equal(other.estimates["value"].to_numpy(), once.estimates["value"].to_numpy())


def test_checkpoint_for_other_settings_is_refused(default_config, frame, tmp_path):
    ck = tmp_path / "pm.jsonl"
    _run(default_config, frame, true_hr=0.7, n_replicates=2, checkpoint=ck)
    fp = json.loads(ck.read_text().splitlines()[0])["fingerprint"]
    with pytest.raises(ConfigError) as info:
        _run(default_config, frame, true_hr=0.5, n_replicates=2, checkpoint=ck)
    assert re.fullmatch(re.escape(f"checkpoint {ck}: written for other settings, data or config (got fingerprint "
                                  f"{fp}, expected ") + "[0-9a-f]{32}" + re.escape(
        "). Use a new checkpoint path or rerun with the original settings."), str(info.value))


# ------------------------------------------------------------------------------------ correctness
def test_no_confounding_iptw_hr_unbiased_and_covers(default_config, random_frame):
    """No confounding by construction: the generating model has no covariates (covariates=()), so treatment
    and covariates may be associated but nothing confounds. Bias of log HR within 4 MC SEs of 0 (MC SE of
    the bias plus that of the truth); guarded effect log(0.4) = -0.92 is ~8x the tolerance."""
    res = _run(default_config, random_frame, true_hr=0.4, covariates=(), n_replicates=40, sample_size=300)
    r = _row(res)
    truth_se = float(res.truth.loc[res.truth["measure"] == "hr", "mc_se"].iloc[0])
    assert r["n_used"] == 40 and res.n_failed == 0
    tol = 4 * math.hypot(r["bias_mcse"], truth_se)
    assert abs(r["bias"]) < tol < abs(math.log(0.4)) / 5
    lo = stats.binom.ppf(0.001, r["n_used"], 0.95) / r["n_used"]
    assert lo <= r["coverage"] <= 1.0
    assert r["power"] == 1.0


def test_unmeasured_confounder_biases_hr_upwards(default_config, random_frame):
    """U more common under treatment (OR e^2) and harmful (HR e^1), hidden from the analysis: the IPTW log HR
    is biased upwards by far more than 4 MC SEs, while the same run without U is not."""
    u = dict(strength_treatment=2.0, strength_outcome=1.0, prevalence=0.3)
    res = _run(default_config, random_frame, true_hr=0.4, covariates=(), n_replicates=40, sample_size=300,
               unmeasured_confounder=u)
    r = _row(res)
    assert r["bias"] > 4 * r["bias_mcse"]
    assert r["bias"] > 0.15
    assert res.settings["unmeasured_confounder"] == u


def test_marginal_equals_conditional_hr_without_prognostic_covariates(default_config, random_frame):
    """Closed form: with no covariate in the outcome model the marginal HR is the conditional one, and
    S_a(t) = exp(-exp(c0 + a log HR) t^k); within 4 MC SEs of the truth's resample."""
    res = _run(default_config, random_frame, true_hr=0.5, covariates=(), n_replicates=1)
    tr = res.truth.set_index(["measure", "time"])
    hr = tr.loc[("hr", np.nan)] if ("hr", np.nan) in tr.index else res.truth[res.truth.measure == "hr"].iloc[0]
    assert abs(math.log(hr["value"]) - math.log(0.5)) < 4 * hr["mc_se"]
    em = res.settings["event_model"]
    for t in (6.0, 12.0, 24.0):
        s1 = math.exp(-math.exp(em["log_rate"] + math.log(0.5)) * t ** em["shape"])
        s0 = math.exp(-math.exp(em["log_rate"]) * t ** em["shape"])
        row = res.truth[(res.truth.measure == "surv_diff") & np.isclose(res.truth.time, t)].iloc[0]
        assert abs(row["value"] - (s1 - s0)) < 4 * row["mc_se"]


def test_prognostic_covariates_make_the_marginal_hr_differ(default_config, random_frame):
    """Non-collapsibility: with a strongly prognostic covariate the marginal HR is attenuated towards 1 by
    more than 4 MC SEs (so comparing with the conditional HR would be wrong)."""
    f = random_frame.copy()
    rng = np.random.default_rng(3)
    x = rng.normal(size=len(f))
    f["x"] = x
    f["pfs_time"] = rng.exponential(1 / (0.1 * np.exp(1.5 * x) * 0.4 ** f["treatment"].to_numpy()))
    f["pfs_event"] = 1
    res = _run(default_config, f, true_hr=0.4, covariates=["x"], n_replicates=1)
    hr = res.truth[res.truth.measure == "hr"].iloc[0]
    assert math.log(hr["value"]) - math.log(0.4) > 4 * hr["mc_se"]
    assert res.settings["conditional_hr"] == pytest.approx(0.4)


def test_marginal_hr_target_is_hit(default_config, frame):
    """true_effect_measure='marginal_hr' solves the conditional coefficient so that the truth is the target."""
    res = _run(default_config, frame, true_hr=0.6, true_effect_measure="marginal_hr", n_replicates=1)
    assert res.truth.loc[res.truth.measure == "hr", "value"].iloc[0] == pytest.approx(0.6, abs=1e-8)
    assert res.settings["conditional_hr"] < 0.6


def test_failures_are_counted_and_metrics_use_successes_only(default_config, frame):
    """Tiny replicates (8 patients, 11 propensity parameters) all fail in the propensity model and each is in
    the table with its reason; in a full-size run, failed and successful replicates partition the run and the
    metrics are recomputed from the successful replicates' estimates alone."""
    res = _run(default_config, frame, true_hr=0.7, n_replicates=10, sample_size=8)
    assert res.n_failed == 10 and len(res.failures) == 10
    counts = res.failure_counts()
    assert counts["count"].sum() == 10
    assert set(counts["error"]) <= {"ModelFitError", "DataError", "SeparationError", "CohortError"}
    assert all(m.startswith("PropensityModel.fit") for m in counts["message"])
    assert (res.metrics["n_used"] == 0).all() if len(res.metrics) else res.estimates.empty
    mixed = _run(default_config, frame, true_hr=0.7, n_replicates=30)
    ok = set(mixed.estimates["replicate"])
    assert ok.isdisjoint(set(mixed.failures["replicate"]))
    assert len(ok) + mixed.n_failed == 30
    r = _row(mixed)
    est = mixed.estimates[(mixed.estimates.method == "iptw") & (mixed.estimates.measure == "hr")]
    true = float(mixed.truth.loc[mixed.truth.measure == "hr", "value"].iloc[0])
    assert r["n_used"] == len(est) == len(ok)
    assert r["bias"] == pytest.approx(np.mean(np.log(est["value"])) - math.log(true), abs=1e-12)
    assert r["coverage"] == pytest.approx(np.mean((est.ci_low <= true) & (true <= est.ci_high)), abs=1e-12)
    assert r["empirical_se"] == pytest.approx(np.std(np.log(est["value"]), ddof=1), abs=1e-12)
    assert r["power"] == pytest.approx(np.mean((est.ci_high < 1) | (est.ci_low > 1)), abs=1e-12)


def test_power_increases_with_sample_size_and_effect(default_config, random_frame):
    power = {}
    for n in (60, 240):
        for hr in (0.8, 0.5):
            res = _run(default_config, random_frame, true_hr=hr, covariates=(), n_replicates=30, sample_size=n)
            power[n, hr] = _row(res)["power"]
    assert power[60, 0.8] <= power[240, 0.8] and power[60, 0.5] <= power[240, 0.5]
    assert power[60, 0.8] <= power[60, 0.5] and power[240, 0.8] <= power[240, 0.5]
    assert power[240, 0.5] - power[60, 0.8] > 0.5


def test_simulated_treatment_runs_and_varies_arm_sizes(default_config, frame):
    res = _run(default_config, frame, true_hr=0.7, n_replicates=3, treatment="simulated")
    assert res.settings["treatment"] == "simulated" and res.n_replicates == 3


# ------------------------------------------------------------------------------------ result object
def test_result_is_frozen_json_safe_and_has_no_patient_rows(default_config, frame):
    res = _run(default_config, frame, true_hr=0.7, n_replicates=4, methods=("iptw", "unadjusted"))
    d = res.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert "pfs_time" not in text and "patient" not in text
    assert {"settings", "truth", "metrics", "failures"} <= set(d)
    assert set(res.to_frame()["method"]) == {"iptw", "unadjusted"}
    assert "Plasmode simulation" in res.summary()
    with pytest.raises(AttributeError):
        res.n_failed = 3


def test_simulation_study_small(default_config):
    from gistcausal.design.simulate import true_marginal_effects

    res = simulation_study(3, outcome="pfs", config=default_config, n_jobs=1, n_mc=5000, random_state=5)
    te = true_marginal_effects(estimand="ATE", n_mc=5000, seed=5)
    hr = res.truth[res.truth.measure == "hr"]["value"].iloc[0]
    assert hr == pytest.approx(te.value("pfs", "hr"), abs=1e-12)
    assert res.n_replicates == 3 and res.settings["kind"] == "synthetic_registry"
    assert set(res.estimates["replicate"]) | set(res.failures["replicate"]) == {0, 1, 2}
    assert res.settings["conditional_hr"] == pytest.approx(0.70)
    with pytest.raises(ConfigError, match=re.escape("simulation_study: simulation has unknown setting(s) hr_x (got "
                                                    "['hr_x']). Use some of confounding,")):
        simulation_study(3, outcome="pfs", config=default_config, simulation={"hr_x": 0.5})


def test_plots_draw_one_row_per_estimator(default_config, frame):
    import matplotlib.pyplot as plt

    from gistcausal.present.plots.plasmode import plot_coverage, plot_estimates

    res = _run(default_config, frame, true_hr=0.7, n_replicates=5)
    fig, (a1, a2) = plt.subplots(1, 2)
    assert plot_estimates(res, ax=a1) is a1 and plot_coverage(res, ax=a2) is a2
    assert len(a1.get_yticks()) == len(res.metrics) == len(a2.get_yticks())
    assert any(abs(line.get_xdata()[0] - 0.95) < 1e-12 for line in a2.get_lines() if len(line.get_xdata()))
    plt.close(fig)


# ------------------------------------------------------------------------------------ pinned errors
def test_estimand_error_is_pinned(default_config, frame):
    with pytest.raises(ConfigError, match=re.escape(
            "plasmode: estimand must be one of ['ATE', 'ATT', 'ATC'] for the simulated ground truth (got 'ATO'). "
            "The truth is defined for these target populations; pass one of them.") + "$"):
        _run(default_config, frame, true_hr=0.7, n_replicates=1, estimand="ATO")


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(n_replicates=0), "PlasmodeSettings: n_replicates must be an integer >= 1 (got 0). Pass e.g. "
                           "n_replicates=1000."),
    (dict(true_hr=-1.0), "PlasmodeSettings: true_hr must be a finite number > 0 (got -1.0). Pass e.g. true_hr=0.7."),
    (dict(backend="ray"), "PlasmodeSettings: backend must be 'local' or 'dask' (got 'ray'). Use 'local' for joblib "
                          "processes or 'dask' with a scheduler address or client."),
    (dict(unmeasured_confounder={"prevalence": 0.3}),
     "PlasmodeSettings: unmeasured_confounder must be a dict with keys strength_treatment, strength_outcome, "
     "prevalence (got {'prevalence': 0.3}). Pass e.g. dict(strength_treatment=1.0, strength_outcome=0.7, "
     "prevalence=0.3)."),
    (dict(sample_size=1), "PlasmodeSettings: sample_size must be an integer >= 2 (got 1). Pass None for the "
                          "cohort's size."),
    (dict(true_hr=None, true_effect_measure="marginal_hr"), "PlasmodeSettings: true_effect_measure='marginal_hr' "
                                                            "needs true_hr (got None). Pass the target marginal "
                                                            "hazard ratio."),
    (dict(n_mc=10), "PlasmodeSettings: n_mc must be an integer >= 1000 (got 10). Pass e.g. n_mc=100_000."),
])
def test_settings_errors_are_pinned(kwargs, message):
    """Settings are validated once, when built (before any data is touched)."""
    with pytest.raises(ConfigError, match=re.escape(message) + "$"):
        PlasmodeSettings(**{"true_hr": 0.7, "n_replicates": 1, **kwargs})


def test_settings_are_frozen_and_normalised():
    s = PlasmodeSettings(methods=["iptw", "unadjusted"], covariates=["age"],
                         unmeasured_confounder=dict(strength_treatment=1, strength_outcome=0.5, prevalence=0.3))
    assert s.methods == ("iptw", "unadjusted") and s.covariates == ("age",)
    assert s.unmeasured_confounder == {"strength_treatment": 1.0, "strength_outcome": 0.5, "prevalence": 0.3}
    with pytest.raises(AttributeError):
        s.n_replicates = 5


def test_issue_14_weibull_convergence_does_not_depend_on_n():
    """The same data replicated 20,000 times (n = 2,000,000 rows) must converge to the same fit: the test is
    relative to the log-likelihood (as R survreg's rel.tolerance), not an absolute score bound that grows with n."""
    from gistcausal.analysis.plasmode import fit_weibull_ph

    rng = np.random.default_rng(14)
    n = 100
    z = rng.normal(size=(n, 2))
    t = rng.weibull(1.3, n) * np.exp(-0.4 * z[:, 0] / 1.3) * 10
    c = rng.uniform(2, 20, n)
    time, event = np.minimum(t, c), (t <= c).astype(float)
    small = fit_weibull_ph(time, event, z)
    k = 20_000
    big = fit_weibull_ph(np.tile(time, k), np.tile(event, k), np.tile(z, (k, 1)))
    assert big.shape == pytest.approx(small.shape, rel=1e-6)
    assert big.coef == pytest.approx(small.coef, rel=1e-5, abs=1e-7)


def test_issue_14_convergence_rule_is_scale_invariant():
    """At n = 100,000 the fit ended with max |score| 8.5e-05, which the old absolute bound (1e-5) refused; the
    relative gap of the same fit is tiny and identical for the data replicated k times."""
    from gistcausal.analysis.plasmode import relative_gap

    g = np.array([8.5e-05, -3e-05, 1e-05])
    H = np.array([[2.0e4, 1.0e3, 0.0], [1.0e3, 3.0e4, 5.0e2], [0.0, 5.0e2, 2.5e4]])
    nll = 1.2e5
    gap = relative_gap(g, H, nll)
    assert gap < 1e-9 and float(np.max(np.abs(g))) > 1e-5
    k = 1000.0
    assert relative_gap(g * k, H * k, nll * k) == pytest.approx(gap, rel=1e-3)
    assert relative_gap(np.array([50.0, 0, 0]), H, nll) > 1e-9  # far from the optimum: not converged


def test_replicate_analysis_does_not_depend_on_row_order(default_config, default_cohort):
    """Replicates are analysed with their rows in time order (each later stable sort is then linear); every estimate
    equals the one from the rows as drawn, to rounding."""
    from gistcausal.analysis.plasmode import _analyse
    from gistcausal.analysis.plasmode_models import in_time_order

    frame = default_cohort.frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    ordered = in_time_order(frame, "pfs")
    assert (np.diff(ordered["pfs_time"].to_numpy()) >= 0).all() and not ordered.equals(frame)
    a = _analyse(default_config, frame, "pfs", "ATE", ("iptw", "unadjusted"))
    b = _analyse(default_config, ordered, "pfs", "ATE", ("iptw", "unadjusted"))
    assert [(r["method"], r["measure"], r["time"]) for r in a] == [(r["method"], r["measure"], r["time"]) for r in b]
    np.testing.assert_allclose([r["value"] for r in a], [r["value"] for r in b], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([r["se"] for r in a], [r["se"] for r in b], rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------ replicate fast paths
class _Captured(Exception):
    pass


def _task(monkeypatch, cfg, f, **settings):
    """The replicate task plasmode() would execute (captured before any replicate runs)."""
    import gistcausal.analysis.plasmode as pm

    def capture(task, **_kw):
        raise _Captured(task)

    monkeypatch.setattr(pm, "_execute", capture)
    with pytest.raises(_Captured) as got:
        _run(cfg, f, true_hr=0.7, n_replicates=3, **settings)
    return got.value.args[0]


@pytest.mark.parametrize("settings", [{}, {"treatment": "simulated"},
                                      {"unmeasured_confounder": {"strength_treatment": 0.5,
                                                                 "strength_outcome": 0.5, "prevalence": 0.3}}])
def test_replicate_built_in_time_order_equals_the_drawn_rows_reordered(monkeypatch, default_config, frame, settings):
    from gistcausal.analysis.plasmode_models import in_time_order

    task = _task(monkeypatch, default_config, frame, **settings)
    for i in range(3):
        fast = task.dataset(i, time_order=True)
        pd.testing.assert_frame_equal(fast, in_time_order(task.dataset(i), "pfs"), check_exact=True)
        assert (np.diff(fast["pfs_time"].to_numpy()) >= 0).all()


def test_replicate_rows_equal_the_full_analysis(default_config, frame):
    """A replicate's rows (contrasts_only comparisons) are those of the full causal_fit / compare_survival."""
    from gistcausal.analysis.iptw import causal_fit
    from gistcausal.analysis.plasmode import PLASMODE_MEASURES, _analyse, _estimate_rows
    from gistcausal.stats.comparison import compare_survival

    cfg, s = default_config, default_config.analysis.survival
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _analyse(cfg, frame, "pfs", "ATT", ("iptw", "unadjusted"))
        full = _estimate_rows(causal_fit(cfg, frame, outcome="pfs", estimand="ATT").estimates, PLASMODE_MEASURES)
        full += _estimate_rows(compare_survival(
            frame["pfs_time"].to_numpy(float), frame["pfs_event"].to_numpy(int), frame["treatment"].to_numpy(int),
            outcome="pfs", estimand="none", method="unadjusted", landmarks=tuple(s.landmarks), horizon=s.horizon,
            alpha=s.alpha, arm_labels=(cfg.treatment.control, cfg.treatment.treated)).estimates, PLASMODE_MEASURES)
    assert {r["measure"] for r in got} == set(PLASMODE_MEASURES) and {r["method"] for r in got} == {"iptw",
                                                                                                     "unadjusted"}
    assert got == full


def test_fit_propensity_scores_equal_predict(default_config, frame):
    """fit_propensity returns the scores computed by the fit (training_scores); they are predict() of the frame."""
    from gistcausal.analysis.iptw import fit_propensity, propensity_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ps = fit_propensity(default_config, frame)
        model = propensity_model(default_config).fit(frame, treatment_col="treatment")
    np.testing.assert_array_equal(ps, model.predict(frame))


def test_fit_propensity_gives_out_of_fold_scores_for_boosting(default_config, frame):
    """Cross-fitted learners: the weights use each patient's out-of-fold score (the config promises "each
    patient's score comes from a model that did not see that patient"), not the fold models' average on the
    training rows, which is closer to the observed treatment (over-fitted)."""
    from gistcausal.analysis.iptw import fit_propensity, propensity_model
    from gistcausal.stats.propensity import c_statistic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, ps = fit_propensity(default_config, frame, method="boosting")
        model = propensity_model(default_config, method="boosting").fit(frame, treatment_col="treatment")
    np.testing.assert_array_equal(ps, model.oof_scores_)
    t = frame["treatment"].to_numpy()
    in_sample = model.predict(frame)
    assert np.max(np.abs(ps - in_sample)) > 0.01
    assert c_statistic(in_sample, t) > c_statistic(ps, t)  # the in-sample average discriminates too well


def test_issue_17_replicate_fast_paths_give_the_same_rows(monkeypatch, default_config, frame):
    """The replicate's analysis columns only and the warm-started propensity refit (the cohort's coefficients,
    naming the replicate design's columns) give the rows of the plain replicate analysis."""
    from gistcausal.analysis.iptw import propensity_model
    from gistcausal.analysis.plasmode import _analyse

    task = _task(monkeypatch, default_config, frame)
    assert task.ps_beta0 is not None and task.analysis_frame is not None
    assert set(task.analysis_frame.columns) < set(task.frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(3):
            small = task.dataset(i, time_order=True, analysis_only=True)
            full = task.dataset(i, time_order=True)
            model = propensity_model(task.cfg).fit(small, treatment_col="treatment")
            assert tuple(model.design_.column_names) == tuple(task.ps_beta0.index)   # the warm start is used
            _assert_same_values(small, full)
            plain = _analyse(task.cfg, full, task.outcome, task.estimand, task.methods)
            fast = task.run(i)
            assert [(r["method"], r["measure"], r["time"]) for r in fast] == \
                [(r["method"], r["measure"], r["time"]) for r in plain]
            for key in ("value", "se", "ci_low", "ci_high"):
                np.testing.assert_allclose([r[key] for r in fast], [r[key] for r in plain], rtol=1e-10, atol=1e-13)


def _assert_same_values(small, full):
    """The analysis-only replicate holds the full replicate's values; text columns as categoricals whose
    categories are the sorted values the replicate holds (the levels a text column's design learns)."""
    for c in small.columns:
        if full[c].dtype == object and isinstance(small[c].dtype, pd.CategoricalDtype):
            assert list(small[c].cat.categories) == sorted(full[c].dropna().unique())
            pd.testing.assert_series_equal(small[c].astype(object), full[c], check_exact=True)
        else:
            pd.testing.assert_series_equal(small[c], full[c], check_exact=True)


def test_issue_17_text_level_missing_from_a_replicate(monkeypatch, default_config, frame):
    """A text covariate level that a replicate does not draw is dropped from its design, as for the text column:
    the analysis-only replicate (categorical coding) fits the same propensity model as the full one."""
    from gistcausal.analysis.iptw import propensity_model

    col = next(n for n, c in default_config.covariates.items() if c.in_propensity and frame[n].dtype == object)
    f = frame.copy()
    f.loc[f.index[:3], col] = "zz_rare"
    task = _task(monkeypatch, default_config, f)
    assert isinstance(task.analysis_frame[col].dtype, pd.CategoricalDtype)
    absent = present = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(12):
            small, full = task.dataset(i, analysis_only=True), task.dataset(i)
            _assert_same_values(small, full)
            has = "zz_rare" in set(full[col])
            absent, present = absent + (not has), present + has
            fits = []
            for d in (small, full):
                try:
                    m = propensity_model(default_config).fit(d, treatment_col="treatment")
                    fits.append((tuple(m.design_.column_names), m.coef_))
                except Exception as err:  # noqa: BLE001 - the same failure is expected of both
                    fits.append((type(err), str(err)))
            assert fits[0][0] == fits[1][0]
            if isinstance(fits[0][1], np.ndarray):
                np.testing.assert_array_equal(fits[0][1], fits[1][1])
            else:
                assert fits[0][1] == fits[1][1]
    assert absent and present


def test_issue_17_stable_argsort_is_numpys_stable_argsort():
    """The replicate's time order from the unstable sort with tied runs fixed is np.argsort(kind="stable"):
    no ties, administrative censoring ties, small integer-valued times, all equal, tiny arrays."""
    from gistcausal.analysis.plasmode_models import stable_argsort

    rng = np.random.default_rng(17)
    cases = [np.array([]), np.array([2.0]), np.array([1.0, 1.0]), np.zeros(1000), rng.exponential(size=5000),
             np.minimum(rng.weibull(1.2, 20000) * 30, 60.0), rng.integers(0, 5, 3000).astype(float),
             np.round(rng.exponential(3.0, 4000), 1)]
    for x in cases:
        np.testing.assert_array_equal(stable_argsort(x), np.argsort(x, kind="stable"))


def test_issue_17_causal_fit_without_diagnostics_gives_the_same_estimates(default_config, frame):
    """causal_fit(diagnostics=False), as plasmode replicates call it: the same estimates and weights; the
    propensity result without c-statistic and standard errors, the weights without their diagnostics."""
    from gistcausal.analysis.iptw import causal_fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = causal_fit(default_config, frame, outcome="pfs", estimand="ATE")
        lean = causal_fit(default_config, frame, outcome="pfs", estimand="ATE", diagnostics=False)
    assert lean.estimates == full.estimates
    np.testing.assert_array_equal(lean.weights.weights, full.weights.weights)
    assert lean.weights.diagnostics.empty and not full.weights.diagnostics.empty
    assert math.isnan(lean.propensity.c_statistic) and lean.propensity.coefficients["se"].isna().all()
    pd.testing.assert_series_equal(lean.propensity.coefficients["coef"], full.propensity.coefficients["coef"])


@pytest.mark.parametrize("settings", [{}, {"treatment": "simulated"},
                                      {"unmeasured_confounder": {"strength_treatment": 0.5,
                                                                 "strength_outcome": 0.5, "prevalence": 0.3}}])
def test_issue_17_cohort_linear_predictors_give_the_replicate_of_the_taken_covariates(monkeypatch, default_config,
                                                                                     frame, settings):
    """A replicate drawn from the cohort rows' linear predictors (lp_event / lp_censor, taken at its rows) is the
    replicate drawn from its taken covariate matrix (the fields None): the same rows and events, the same times to
    rounding (a row's dot product may be grouped differently by BLAS)."""
    import dataclasses

    task = _task(monkeypatch, default_config, frame, **settings)
    assert task.lp_event is not None and task.lp_censor is not None
    plain = dataclasses.replace(task, lp_event=None, lp_censor=None)
    for i in range(3):
        fast, ref = task.dataset(i, time_order=True), plain.dataset(i, time_order=True)
        np.testing.assert_allclose(fast["pfs_time"], ref["pfs_time"], rtol=1e-13, atol=0)
        pd.testing.assert_frame_equal(fast.drop(columns="pfs_time"), ref.drop(columns="pfs_time"), check_exact=True)
