"""The bootstrap of the K-arm analysis (inference/multiarm_bootstrap.py; issue 18, section 3).

Checked against (1) R on fixed resamples: tests/reference/multiarm/make_multiarm_boot.R refits
nnet::multinom, hand-written K-arm weights, survfit and coxph per pair on the resamples stored in
boot_indices.csv (written by make_multiarm_boot_indices.py), and the replicate function fed the same rows must
agree to 1e-6; (2) the public estimators: a by-hand loop over the same seeds calling multiarm_analysis on the
resampled data gives the same replicate table and percentile limits; (3) a closed-form property: with an
outcome that does not depend on the covariates given the arm, estimating the propensity score adds no variance,
so the bootstrap SE equals the robust (weights-known) SE asymptotically.
"""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from gistcausal.engine import Engine
from gistcausal.errors import ConfigError, ConvergenceWarning, SmallSampleWarning
from gistcausal.inference.bootstrap import bca_interval
from gistcausal.inference.multiarm_bootstrap import (bootstrap_multiarm, draw_within_arms, multiarm_problem,
                                                     multiarm_replicate, run_multiarm_bootstrap)
from gistcausal.stats.multiarm_survival import multiarm_analysis

from tests.conftest import REFERENCE

ARMS = ["Obs", "Lev", "Lev+5FU"]
COVS = ["age", "sex", "obstruct", "nodes", "extent"]
PAIRS = ["Lev vs Obs", "Lev+5FU vs Obs", "Lev+5FU vs Lev"]
KW = dict(treatment_col="rx", time_col="time", event_col="status", covariates=COVS, arms=ARMS)
SETTINGS = {"ATE": {}, "ATE_stabilized": {"stabilize": True}, "ATT": {"focal": "Lev+5FU"}, "ATO": {}}


@pytest.fixture(scope="module")
def colon():
    return pd.read_csv(REFERENCE / "multiarm" / "colon.csv")


@pytest.fixture(scope="module")
def boot_ref():
    return json.loads((REFERENCE / "multiarm" / "multiarm_boot.json").read_text())


def _problem(colon, name, landmarks=(365, 1095), horizon=1825.0):
    est = name.split("_")[0]
    return multiarm_problem(colon, estimand=est, landmarks=landmarks, horizon=horizon, **SETTINGS[name], **KW)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_replicates_on_fixed_resamples_match_r(colon, boot_ref, name):
    """R (make_multiarm_boot.R), per stored resample: multinom(rx ~ scale(age) + sex + obstruct + scale(nodes) + extent)
    refit (polished by three Newton steps written in R: nnet's BFGS stops with scores up to 1e-5),
    hand-written weights, survfit(..., weights = w) per arm at 365/1095 days and RMST to 1825, and
    coxph(Surv(time, status) ~ arm, data = <pair>, weights = w, ties = "efron") per pair."""
    p = _problem(colon, name)
    cols = p.column_names()
    idx = pd.read_csv(REFERENCE / "multiarm" / "boot_indices.csv")
    for r in idx.columns:
        values, _ = multiarm_replicate(p, idx[r].to_numpy() - 1)
        got = dict(zip(cols, values))
        ref = boot_ref["replicates"][r][name]
        for arm in ARMS:
            assert [got[f"surv_{arm}_t365"], got[f"surv_{arm}_t1095"]] == pytest.approx(ref["surv"][arm], abs=1e-6)
            assert got[f"rmst_{arm}_t1825"] == pytest.approx(ref["rmst"][arm], abs=1e-6)
        for pair in PAIRS:
            assert got[f"log_hr_{pair}"] == pytest.approx(ref["log_hr"][pair], abs=1e-6)
            a, b = pair.split(" vs ")
            assert got[f"surv_diff_{pair}_t365"] == pytest.approx(ref["surv"][a][0] - ref["surv"][b][0], abs=1e-6)
            assert got[f"rmst_diff_{pair}_t1825"] == pytest.approx(ref["rmst"][a] - ref["rmst"][b], abs=1e-6)


def test_full_data_replicate_is_the_point_estimate(colon):
    """The replicate function on all rows returns multiarm_analysis' estimates: one estimator, not two."""
    p = _problem(colon, "ATO")
    theta, extended = multiarm_replicate(p, np.arange(len(colon)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = multiarm_analysis(colon, estimand="ATO", landmarks=[365, 1095], horizon=1825, **KW)
    assert not extended
    for (measure, who, x), v in zip(p.keys, theta):
        contrast = ARMS[who] if isinstance(who, int) else p.contrast(who)
        e = res.get(measure, contrast=contrast) if measure == "hr" else res.get(measure, contrast=contrast, time=x)
        expected = math.log(e.value) if measure in ("hr", "surv_ratio") else e.value
        assert v == pytest.approx(expected, abs=1e-9), (measure, contrast, x)


def test_replicates_and_percentile_limits_equal_a_by_hand_loop_of_the_public_estimator(colon):
    """Same seeds, resampled DataFrames, the public multiarm_analysis on each: same replicates, same limits."""
    n_boot, seed = 12, 7
    res = bootstrap_multiarm(colon, estimand="ATE", stabilize=True, landmarks=[365], horizon=1825, n_boot=n_boot,
                             random_state=seed, **KW)
    p = _problem(colon, "ATE_stabilized", landmarks=(365,))
    rows = {}
    for b, s in enumerate(np.random.SeedSequence(seed).spawn(n_boot)):
        sub = colon.iloc[draw_within_arms(p.codes, s)].reset_index(drop=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # no maximum likelihood estimate (quasi-separation): the bootstrap counts the replicate as failed
                warnings.simplefilter("error", ConvergenceWarning)
                comp = multiarm_analysis(sub, estimand="ATE", stabilize=True, landmarks=[365], horizon=1825, **KW)
        except Exception:   # noqa: BLE001 - the bootstrap counts the same replicates as failed
            continue
        rows[b] = [math.log(comp.get("hr", contrast=c).value) for c in PAIRS]
    assert list(res.replicates["replicate"]) == list(rows)
    assert res.n_success + sum(res.n_failed.values()) == n_boot
    by_hand = np.array(list(rows.values()))
    got = res.replicates[[f"log_hr_{c}" for c in PAIRS]].to_numpy()
    np.testing.assert_allclose(got, by_hand, atol=1e-8)
    for j, c in enumerate(PAIRS):
        e = next(x for x in res.estimates if x.measure == "hr" and x.contrast == c)
        lo, hi = np.percentile(by_hand[:, j], [2.5, 97.5])
        assert (math.log(e.ci_low), math.log(e.ci_high)) == pytest.approx((lo, hi), abs=1e-8)
        assert e.se == pytest.approx(np.std(by_hand[:, j], ddof=1), abs=1e-8)
        assert e.variance == "bootstrap_percentile" and e.method == "iptw" and e.scale == "log"


def test_same_replicates_on_any_engine_and_worker_count(colon):
    p = _problem(colon, "ATT", landmarks=(365,), horizon=None)
    one = run_multiarm_bootstrap(p, outcome="recurrence", n_boot=12, random_state=3)
    two = run_multiarm_bootstrap(p, outcome="recurrence", n_boot=12, random_state=3, engine=Engine(n_workers=2))
    pd.testing.assert_frame_equal(one.replicates, two.replicates)
    assert one.to_dict() == two.to_dict()


def _synthetic(n, seed, *, rare=False):
    """Three arms assigned by a multinomial logit in x1, x2; exponential outcome depending on the arm only."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, size=n)
    eta = np.c_[np.zeros(n), 0.5 * x1 - 0.4 * x2, -0.6 * x1 + 0.5 * x2]
    pr = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    arm = np.array([rng.choice(3, p=q) for q in pr])
    rate = 0.1 * np.exp(np.array([0.0, -0.3, -0.5])[arm])
    t_event = rng.exponential(1 / rate)
    cens = rng.uniform(5, 30, size=n)
    df = pd.DataFrame({"arm": np.array(["a", "b", "c"])[arm], "x1": x1, "x2": x2,
                       "time": np.minimum(t_event, cens), "event": (t_event <= cens).astype(int)})
    if rare:   # x3 = 1 for two patients per arm: a resample that draws neither of an arm's two separates
        df["x3"] = 0
        df.loc[df.index[(df["arm"] == "b")][:2], "x3"] = 1
        df.loc[df.index[(df["arm"] == "a")][:2], "x3"] = 1
        df.loc[df.index[(df["arm"] == "c")][:2], "x3"] = 1
    return df


def test_bootstrap_se_close_to_robust_se_when_weights_add_no_variance():
    """With T independent of X given the arm, E[U | A, X] = 0 for the weighted Cox and KM estimating equations, so
    the propensity-score correction of the sandwich vanishes and the bootstrap SE -> robust SE. The SD of B
    replicates has relative Monte-Carlo SE about 1/sqrt(2(B - 1)) = 3.5% at B = 400; the tolerance of 15% is
    about 4 of those (plus n = 3000 finite-sample error). A bootstrap of the wrong statistic (columns misaligned,
    HR vs RMST SEs differ ~100-fold) or of the wrong resample (e.g. without replacement: SE 0) fails it."""
    df = _synthetic(3000, 11)
    kw = dict(treatment_col="arm", time_col="time", event_col="event", covariates=["x1", "x2"], arms=["a", "b", "c"],
              estimand="ATE", landmarks=[10], horizon=20)
    robust = multiarm_analysis(df, **kw)
    boot = bootstrap_multiarm(df, n_boot=400, random_state=5, **kw)
    for measure in ("hr", "rmst_diff", "surv_diff"):
        for c in robust.pairs:
            r = robust.get(measure, contrast=c) if measure == "hr" else next(
                e for e in robust.estimates if e.measure == measure and e.contrast == c)
            b = next(e for e in boot.estimates if e.measure == measure and e.contrast == c)
            assert b.value == pytest.approx(r.value, abs=1e-9)
            assert b.se / r.se == pytest.approx(1.0, abs=0.15), (measure, c, b.se, r.se)


def test_failed_replicates_counted_by_reason_and_warned():
    """x3 = 1 for two patients per arm: many resamples draw neither of an arm's two, so the multinomial MLE does
    not exist (quasi-separation); they are counted as 'separation', never dropped silently."""
    df = _synthetic(150, 3, rare=True)
    with pytest.warns(SmallSampleWarning, match=r"bootstrap_multiarm: .*% of bootstrap replicates failed.*separation"):
        res = bootstrap_multiarm(df, treatment_col="arm", time_col="time", event_col="event", covariates=["x1", "x3"],
                                 arms=["a", "b", "c"], horizon=10, n_boot=40, random_state=1)
    assert set(res.n_failed) == {"separation"}
    assert res.n_success + res.n_failed["separation"] == 40 == len(res.replicates) + res.n_failed["separation"]
    assert res.to_dict()["n_failed"] == res.n_failed
    hr = next(e for e in res.estimates if e.measure == "hr")
    assert hr.extra["n_failed"] == res.n_failed["separation"]


def test_bca_limits_use_the_jackknife_of_the_whole_k_arm_analysis():
    df = _synthetic(120, 4)
    kw = dict(treatment_col="arm", time_col="time", event_col="event", covariates=["x1", "x2"], arms=["a", "b", "c"],
              estimand="ATO", horizon=10)
    res = bootstrap_multiarm(df, n_boot=30, ci="bca", random_state=2, **kw)
    p = multiarm_problem(df, **kw)
    jack = np.vstack([multiarm_replicate(p, np.delete(np.arange(len(df)), i))[0] for i in range(len(df))])
    theta = multiarm_replicate(p, np.arange(len(df)))[0]
    cols = p.column_names()
    for j, e in enumerate(res.estimates):
        lo, hi, z0, acc = bca_interval(theta[j], res.replicates[cols[j]].to_numpy(), jack[:, j])
        if e.measure == "hr":
            lo, hi = math.exp(lo), math.exp(hi)
        assert (e.ci_low, e.ci_high) == pytest.approx((lo, hi), abs=1e-10)
        assert e.variance == "bootstrap_bca" and e.extra["acceleration"] == pytest.approx(acc, abs=1e-12)


def test_too_few_replicates_rejected(colon):
    with pytest.raises(ConfigError, match=r"bootstrap_multiarm: `n_boot` must be an integer >= 10 \(got 5\)"):
        bootstrap_multiarm(colon, n_boot=5, **KW)


def test_two_arm_resamples_are_the_two_arm_bootstraps():
    """draw_within_arms with codes 0/1 draws the same rows as the two-arm bootstrap for the same seed."""
    from gistcausal.inference.bootstrap import Problem, _draw

    codes = np.random.default_rng(0).integers(0, 2, 57)
    two = Problem(X=None, a=codes.astype(float), t=np.ones(57), e=np.ones(57), estimand="ATE", stabilize=False,
                  trim=None, truncate=None, landmarks=(), horizon=None, ps_method="logistic")
    for seed in np.random.SeedSequence(4).spawn(3):
        np.testing.assert_array_equal(draw_within_arms(codes, seed), _draw(two, seed))


def test_att_without_focal_rejected(colon):
    with pytest.raises(ConfigError, match=r"bootstrap_multiarm: estimand 'ATT' needs focal= one of the arms"):
        bootstrap_multiarm(colon, estimand="ATT", n_boot=10, **KW)
