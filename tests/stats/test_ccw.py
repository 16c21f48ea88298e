"""Clone-censor-weight (issue 8): an independent R implementation, closed-form truth, and the biases CCW removes."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gistcausal.errors import DataError
from gistcausal.stats.ccw import (
    CCWSimulation, ccw_truth, ccw_truth_rmst, clone_censor_weight, simulate_ccw_data, strategy_follow_up,
    weighted_product_limit,
)
from gistcausal.stats.km import kaplan_meier

REF = Path(__file__).parents[1] / "reference" / "ccw"
G = 3.0
COLS = dict(time_col="time", event_col="event", treatment_col="treatment", treatment_time_col="treatment_time")
AB = {"A": ["A"], "B": ["B"]}


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "ccw.json").read_text())


@pytest.fixture(scope="module")
def ref_input():
    return pd.read_csv(REF / "ccw_input.csv")


@pytest.fixture(scope="module")
def truth_run():
    """n = 3000 confounded patients, IPCW with 100 bootstrap replicates (seeded)."""
    df = simulate_ccw_data(3000, random_state=2)
    df["x2"] = df["x"] ** 2
    res = clone_censor_weight(df, **COLS, strategies=AB, grace=G, covariates=["x", "x2"], landmarks=[6, 12],
                              horizon=12, n_bootstrap=100, random_state=7, outcome="os")
    return df, res


# ------------------------------------------------------------------------------------------- vs R
def test_ccw_matches_independent_r_implementation(ref, ref_input):
    """R (tests/reference/ccw/make_ccw.R): coxph(Surv(t_sw, switch) ~ x + x2, ties = "breslow") with
    basehaz(fit, centered = FALSE); glm(complier ~ x + x2, quasibinomial, weights = wG) among clones event-free
    after G; survSplit at the event times <= G; survfit(Surv(start, stop, event) ~ 1, weights = w)."""
    res = clone_censor_weight(ref_input, **COLS, strategies=AB, grace=G, covariates=["x", "x2"],
                              landmarks=[1, 2, 3, 6, 12], horizon=12, n_bootstrap=0)
    for s in "AB":
        c = res.curves[res.curves["strategy"] == s]
        np.testing.assert_allclose(c["time"], ref[s]["time"], atol=1e-9)
        # 1e-6: deterministic; R's glm stops at epsilon = 1e-12 on the deviance, not at the exact optimum
        np.testing.assert_allclose(c["surv"], ref[s]["surv"], atol=1e-6)
        np.testing.assert_allclose(c["n_risk_weighted"], ref[s]["n_risk_weighted"], rtol=1e-6)
        got = [res.get("surv", s, t).value for t in (1, 2, 3, 6, 12)]
        np.testing.assert_allclose(got, ref[s]["surv_at"], atol=1e-6)
        assert res.get("rmst", s).value == pytest.approx(ref[s]["rmst12"], abs=1e-6)
        row = res.diagnostics.set_index("strategy").loc[s]
        assert (row["compliers"], row["censored_switch"], row["censored_grace"]) == (
            ref[s]["compliers"], ref[s]["censored_switch"], ref[s]["censored_grace"])
    assert res.get("rmst_diff").value == pytest.approx(ref["A"]["rmst12"] - ref["B"]["rmst12"], abs=1e-6)


def test_weighted_product_limit_matches_r_split_data(ref):
    """R: survfit(Surv(start, stop, event) ~ 1, weights = w) on R's own split clones (ccw_split_A.csv)."""
    sp = pd.read_csv(REF / "ccw_split_A.csv")
    pl = weighted_product_limit(sp["start"], sp["stop"], sp["event"], sp["w"])
    np.testing.assert_allclose(pl["time"], ref["A"]["time"], atol=1e-12)
    np.testing.assert_allclose(pl["surv"], ref["A"]["surv"], atol=1e-9)
    np.testing.assert_allclose(pl["n_risk"], ref["A"]["n_risk_weighted"], rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.booleans(), st.integers(0, 3)), min_size=2, max_size=30))
def test_product_limit_equals_kaplan_meier_and_replication(rows):
    """Without late entry it is the weighted KM; integer weights equal row replication."""
    t = np.array([r[0] for r in rows], float)
    e = np.array([r[1] for r in rows], float)
    w = np.array([r[2] for r in rows], float)
    if not (e * w).any():
        return
    pl = weighted_product_limit(np.zeros_like(t), t, e, w)
    km = kaplan_meier(t, e, weights=w, variance="none")
    np.testing.assert_allclose(pl["surv"], km.survival_at(pl["time"]), atol=1e-12)
    rep = np.repeat(np.arange(t.size), w.astype(int))
    pl2 = weighted_product_limit(np.zeros(rep.size), t[rep], e[rep], np.ones(rep.size))
    np.testing.assert_allclose(pl2["surv"], pl["surv"][pl["n_event"] > 0], atol=1e-12)
    # splitting a row at an interior point changes nothing
    cut = t > 1
    s0 = np.concatenate([np.zeros(t.size), np.full(cut.sum(), 0.5)])
    s1 = np.concatenate([np.where(cut, 0.5, t), t[cut]])
    ee = np.concatenate([np.where(cut, 0.0, e), e[cut]])
    ww = np.concatenate([w, w[cut]])
    np.testing.assert_allclose(weighted_product_limit(s0, s1, ee, ww)["surv"], pl["surv"], atol=1e-12)


# ------------------------------------------------------------------------------------------- truth
def test_closed_form_truth_matches_direct_simulation_of_the_strategy():
    """Simulate strategy A directly (natural A initiation, forced at G) on 300 000 patients: within 4 MC SE."""
    s = CCWSimulation()
    rng = np.random.default_rng(5)
    n = 300_000
    x = rng.standard_normal(n)
    u = np.minimum(rng.exponential(1 / (s.a_A * np.exp(s.g_A * x))), G)
    lam = s.lam0 * np.exp(s.beta * x)
    e = rng.exponential(1.0, n)
    T = np.where(e <= lam * u, e / lam, u + (e - lam * u) / (lam * s.theta_A))
    for t in (1.0, 3.0, 6.0, 12.0):
        emp = float((T > t).mean())
        mc_se = math.sqrt(emp * (1 - emp) / n)
        assert ccw_truth(t, strategy="A", grace=G)[0] == pytest.approx(emp, abs=4 * mc_se)
    rm = float(np.minimum(T, 12.0).mean())
    rm_se = float(np.minimum(T, 12.0).std() / math.sqrt(n))
    assert ccw_truth_rmst(12.0, strategy="A", grace=G) == pytest.approx(rm, abs=4 * rm_se)


def test_ccw_recovers_the_truth(truth_run):
    """Each estimate within 4 bootstrap SEs of the closed-form truth; 4 SE is below the true difference."""
    _, res = truth_run
    assert res.n_bootstrap == 100
    for s in "AB":
        for t in (6.0, 12.0):
            est = res.get("surv", s, t)
            assert abs(est.value - ccw_truth(t, strategy=s, grace=G)[0]) < 4 * est.se
    true_diff = ccw_truth(12.0, strategy="A", grace=G)[0] - ccw_truth(12.0, strategy="B", grace=G)[0]
    d = res.get("surv_diff", time=12.0)
    assert 4 * d.se < abs(true_diff)
    assert abs(d.value - true_diff) < 4 * d.se
    assert d.ci_low < true_diff < d.ci_high
    true_rmst = ccw_truth_rmst(12.0, strategy="A", grace=G) - ccw_truth_rmst(12.0, strategy="B", grace=G)
    r = res.get("rmst_diff")
    assert 4 * r.se < abs(true_rmst)
    assert abs(r.value - true_rmst) < 4 * r.se
    assert (r.method, r.variance, r.estimand) == ("ccw", "bootstrap_percentile", "ATE")


def test_naive_as_treated_comparison_is_biased(truth_run):
    """Grouping by the treatment eventually started (time from eligibility): immortal time inflates each arm
    and hides the effect; the bias exceeds 4 bootstrap SEs of the CCW estimate."""
    df, res = truth_run
    s = {}
    for arm in "AB":
        m = (df["treatment"] == arm).to_numpy()
        s[arm] = kaplan_meier(df["time"][m], df["event"][m]).survival_at([6.0, 12.0])
    # immortal time: early survival of the eventual A starters is too optimistic
    assert s["A"][0] - ccw_truth(6.0, strategy="A", grace=G)[0] > 4 * res.get("surv", "A", 6.0).se
    true_diff = ccw_truth(12.0, strategy="A", grace=G)[0] - ccw_truth(12.0, strategy="B", grace=G)[0]
    assert abs((s["A"][1] - s["B"][1]) - true_diff) > 4 * res.get("surv_diff", time=12.0).se


def test_clone_censor_without_weights_is_biased(truth_run):
    """Initiation depends on x, so the unweighted clones are selected: biased by more than 4 SE."""
    df, res = truth_run
    raw = clone_censor_weight(df, **COLS, strategies=AB, grace=G, covariates=["x"], landmarks=[12.0],
                              weighting="none", n_bootstrap=0)
    true_diff = ccw_truth(12.0, strategy="A", grace=G)[0] - ccw_truth(12.0, strategy="B", grace=G)[0]
    bias = raw.get("surv_diff", time=12.0).value - true_diff
    assert abs(bias) > 4 * res.get("surv_diff", time=12.0).se
    assert raw.get("surv_diff", time=12.0).estimand == "none"
    # before G nobody is reweighted for the grace censoring, and no switch weights: curves differ from IPCW
    assert raw.get("surv", "A", 12.0).value != res.get("surv", "A", 12.0).value


# ------------------------------------------------------------------------------------------- rules, results
def test_clone_rules_on_a_hand_made_example():
    """p1 starts A at 1 (complier in A; switch-censored at 1 in B), p2 dies at 2 before any treatment (event in
    both arms), p3 starts B at 4 > G (grace-censored at 3 in both), p4 starts other at 0.5 (switch in both),
    p5 starts B at 2 and dies at 5 (switch in A; complier in B)."""
    df = pd.DataFrame({"time": [10.0, 2.0, 8.0, 6.0, 5.0], "event": [0, 1, 1, 0, 1],
                       "treatment": ["A", "none", "B", "other", "B"],
                       "treatment_time": [1.0, np.nan, 4.0, 0.5, 2.0]})
    res = clone_censor_weight(df, **COLS, strategies=AB, grace=G, weighting="none", landmarks=[2.0, 5.0],
                              n_bootstrap=0)
    d = res.diagnostics.set_index("strategy")
    assert d.loc["A", ["compliers", "censored_switch", "censored_grace", "events_in_grace"]].tolist() == [1, 2, 1, 1]
    assert d.loc["B", ["compliers", "censored_switch", "censored_grace", "events_in_grace"]].tolist() == [1, 2, 1, 1]
    # arm A clones: p1 (10, 0), p2 (2, 1), p3 (3, 0), p4 (0.5, 0), p5 (2, 0): KM at 2 = 1 - 1/4
    assert res.get("surv", "A", 2.0).value == pytest.approx(0.75, abs=1e-12)
    # arm B: p1 (1, 0), p2 (2, 1), p3 (3, 0), p4 (0.5, 0), p5 (5, 1): 3/4 then 0 at 5, its last follow-up
    # (a landmark at 6 is beyond it and refused since issue 14)
    assert res.get("surv", "B", 5.0).value == pytest.approx(0.0, abs=1e-12)


def test_result_holds_aggregates_and_is_json_safe(truth_run):
    _, res = truth_run
    d = json.loads(json.dumps(res.to_dict()))
    assert d["method"] == "ccw" and d["n"] == 3000 and len(d["estimates"]) == 9
    assert set(res.curves.columns) == {"strategy", "time", "surv", "n_risk", "n_risk_weighted", "n_event_weighted"}
    frame = res.to_frame()
    assert list(frame["measure"]) == ["surv"] * 4 + ["surv_diff"] * 2 + ["rmst", "rmst", "rmst_diff"]
    assert "Clone-censor-weight: A vs B, grace period 3; n = 3000 patients, 100 bootstrap" in res.summary()
    curve = res.curves[res.curves["strategy"] == "A"]["surv"].to_numpy()
    assert np.all(np.diff(curve) <= 1e-15) and curve.min() >= 0


def test_bootstrap_is_seeded_and_joblib_gives_the_same(ref_input):
    kw = dict(**COLS, strategies=AB, grace=G, covariates=["x"], landmarks=[6.0], n_bootstrap=12)
    a = clone_censor_weight(ref_input, random_state=3, **kw)
    b = clone_censor_weight(ref_input, random_state=3, n_jobs=2, **kw)
    assert a.to_frame().equals(b.to_frame())
    c = clone_censor_weight(ref_input, random_state=4, **kw)
    assert a.get("surv_diff").se != c.get("surv_diff").se


def test_input_not_mutated(ref_input):
    before = ref_input.copy()
    clone_censor_weight(ref_input, **COLS, strategies=AB, grace=G, covariates=["x"], n_bootstrap=0)
    pd.testing.assert_frame_equal(ref_input, before)


def test_errors_are_pinned(ref_input):
    with pytest.raises(DataError, match=re.escape("clone_censor_weight: `grace` must be a positive number (got 0). "
                                                  "Give the grace period in the time unit of the data.")):
        clone_censor_weight(ref_input, **COLS, strategies=AB, grace=0)
    bad = ref_input.copy()
    bad.loc[0, "treatment_time"] = bad.loc[0, "time"] + 1
    with pytest.raises(DataError, match=re.escape("clone_censor_weight: column 'treatment_time' is after the end of "
                                                  "follow-up 'time' for 1 patient(s). Treatment starts must fall "
                                                  "within follow-up.")):
        clone_censor_weight(bad, **COLS, strategies=AB, grace=G)
    bad.loc[0, "treatment_time"] = -1.0
    with pytest.raises(DataError, match=re.escape("clone_censor_weight: column 'treatment_time' has 1 negative "
                                                  "time(s): treatment before time zero. Check time zero")):
        clone_censor_weight(bad, **COLS, strategies=AB, grace=G)
    with pytest.raises(DataError, match=re.escape("clone_censor_weight: exactly two strategies are supported "
                                                  "(got 1).")):
        clone_censor_weight(ref_input, **COLS, strategies={"A": ["A"]}, grace=G)


def test_issue_14_landmarks_and_horizon_must_be_within_follow_up(ref_input):
    """A negative landmark used to report S(-6) = 1 with CI [1, 1], and a horizon past the end of a curve was
    accepted; both are refused, naming the strategy with the shortest follow-up."""
    last = strategy_follow_up(ref_input, **COLS, strategies=AB, grace=G)
    arm, end = min(last.items(), key=lambda kv: kv[1])
    assert set(last) == {"A", "B"} and 0 < end <= ref_input["time"].max()
    with pytest.raises(DataError, match=re.escape(
            f"clone_censor_weight: `landmarks` must be times in (0, {end:g}], strategy '{arm}' being followed up "
            f"to {end:g} (got -6). Choose landmarks within follow-up.") + "$"):
        clone_censor_weight(ref_input, **COLS, strategies=AB, grace=G, landmarks=[-6, 12], n_bootstrap=0)
    with pytest.raises(DataError, match=re.escape(
            f"clone_censor_weight: `horizon` must be in (0, {end:g}], strategy '{arm}' being followed up to "
            f"{end:g} (got {end + 1!r}). Choose a time within follow-up.") + "$"):
        clone_censor_weight(ref_input, **COLS, strategies=AB, grace=G, horizon=end + 1, n_bootstrap=0)
    ok = clone_censor_weight(ref_input, **COLS, strategies=AB, grace=G, landmarks=[end], horizon=end, n_bootstrap=0)
    assert ok.get("rmst_diff").time == end


@pytest.mark.parametrize("ipcw", [True, False])
def test_pre_grace_sums_equal_the_clone_by_time_matrix(ipcw):
    """The interval / suffix-sum risk sets within the grace period equal the direct clone x event-time matrix
    sum_i 1{s_i >= t_j} exp(r_i Lambda(min(t_j, u_i)-)) (and the events at t_j), with ties in stop, u and t."""
    from gistcausal.stats.ccw import _pre_grace_sums

    rng = np.random.default_rng(11)
    n = 400
    stop = np.round(rng.exponential(2.0, n), 1)
    u = np.where(rng.random(n) < 0.5, np.round(rng.uniform(0, 3, n), 1), np.inf)
    u = np.where(u > stop, np.inf, u)
    event = (rng.random(n) < 0.6).astype(float)
    r = np.exp(rng.normal(0, 0.5, n))
    jt = np.unique(np.round(rng.uniform(0, 3, 25), 1))
    cum = np.r_[0.0, np.cumsum(rng.uniform(0.01, 0.1, jt.size))]

    def lam_left(s):
        return cum[np.searchsorted(jt, s, side="left")] if ipcw else np.zeros(np.shape(s))

    pre = np.unique(stop[(event > 0) & (stop <= 3.0)])
    lam = lam_left(np.minimum(pre[None, :], u[:, None]))
    w = np.exp(r[:, None] * lam) if ipcw else np.ones(lam.shape)
    risk = stop[:, None] >= pre[None, :]
    hit = (stop[:, None] == pre[None, :]) & (event[:, None] > 0)
    got = _pre_grace_sums(pre, stop, r, u, event, lam_left, ipcw)
    np.testing.assert_allclose(got[0], (w * risk).sum(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(got[1], risk.sum(axis=0))
    np.testing.assert_allclose(got[2], (w * hit).sum(axis=0), rtol=1e-12)
    assert got[0][0] > got[0][-1] > 0 and (len(np.unique(lam_left(pre))) > 3 or not ipcw)  # non-trivial runs
    # bootstrap multiplicities as counts: every clone's terms times c_i (the matrix sums with the rows repeated)
    c = rng.poisson(1.0, n).astype(float)
    got = _pre_grace_sums(pre, stop, r, u, event, lam_left, ipcw, counts=c)
    np.testing.assert_allclose(got[0], c @ (w * risk), rtol=1e-12)
    np.testing.assert_array_equal(got[1], c @ risk)
    np.testing.assert_allclose(got[2], c @ (w * hit), rtol=1e-12)


# ------------------------------------------------------------------------------------------- fast paths (issue 17)
def _unfrozen_case(kind: str):
    rng = np.random.default_rng({"few": 1, "blocks": 2, "jump": 3, "unweighted": 4, "none_at_risk": 5}[kind])
    n, m = 500, 40
    J = rng.integers(0, m + 1, n)
    r = np.exp(rng.normal(0, 0.5, n))
    steps = rng.uniform(0, 0.05, m) * (rng.random(m) < 0.6)      # zero steps: runs of equal L
    if kind == "blocks":
        r = np.exp(rng.normal(0, 1.5, n))                          # c (L_m - L_0) about 30: many blocks
        steps = rng.uniform(0, 0.3, m)
    if kind == "jump":
        steps[m // 2] = 4.0                                        # one step wider than a block
    L = np.cumsum(steps)
    if kind == "unweighted":
        r, L = np.ones(n), np.zeros(m)
    if kind == "none_at_risk":
        J = np.minimum(J, 10)                                      # nobody at risk from t_10 on
    return J, r, L


def _unfrozen_by_runs(J: np.ndarray, r: np.ndarray, L: np.ndarray) -> np.ndarray:
    """The loop gistcausal.stats.ccw used before _unfrozen_series (the reference): one pass over the clones
    per run of equal L_j."""
    m = L.size
    unfrozen = np.empty(m)
    runs = np.flatnonzero(np.r_[True, L[1:] != L[:-1]])
    ends = np.r_[runs[1:], m]
    order = np.argsort(-J, kind="stable")
    Js = J[order]
    for a, b in zip(runs, ends):
        take = order[:np.searchsorted(-Js, -a, side="left")]      # rows with J_i > a
        g = np.exp(r[take] * L[a])
        suffix = np.cumsum(np.bincount(J[take], weights=g, minlength=m + 1)[::-1])[::-1]
        unfrozen[a:b] = suffix[a + 1:b + 1]
    return unfrozen


@pytest.mark.parametrize("kind", ["few", "blocks", "jump", "unweighted", "none_at_risk"])
def test_unfrozen_series_equals_the_per_run_reference(kind):
    """The series sums (issue 17) equal the old pass over the clones per run of equal Lambda
    (_unfrozen_by_runs) and the direct sum_i 1{J_i > j} exp(r_i L_j)."""
    from gistcausal.stats.ccw import _unfrozen_series

    J, r, L = _unfrozen_case(kind)
    got = _unfrozen_series(J, r, L)
    direct = ((J[:, None] > np.arange(L.size)[None, :]) * np.exp(r[:, None] * L[None, :])).sum(axis=0)
    np.testing.assert_allclose(got, _unfrozen_by_runs(J, r, L), rtol=1e-12, atol=0)
    np.testing.assert_allclose(got, direct, rtol=1e-12, atol=0)
    if kind == "none_at_risk":
        assert np.all(got[10:] == 0) and np.all(got[:10] > 0)
    # clones in J order (as the step holds them: switch-time order): the path without a sort, same sums
    o = np.argsort(J, kind="stable")
    np.testing.assert_allclose(_unfrozen_series(J[o], r[o], L), got, rtol=1e-13, atol=0)
    c = np.random.default_rng(7).poisson(1.0, J.size).astype(float)
    np.testing.assert_allclose(_unfrozen_series(J[o], r[o], L, c[o]), _unfrozen_series(J, r, L, c), rtol=1e-13,
                               atol=0)


@pytest.mark.parametrize("kind", ["few", "blocks", "jump", "unweighted", "none_at_risk"])
def test_unfrozen_series_integer_weights_equal_row_replication(kind):
    """Weights c_i (a bootstrap resample's multiplicities, 0 included) equal the rows repeated c_i times."""
    from gistcausal.stats.ccw import _unfrozen_series

    J, r, L = _unfrozen_case(kind)
    c = np.random.default_rng(7).poisson(1.0, J.size)
    got = _unfrozen_series(J, r, L, c.astype(float))
    np.testing.assert_allclose(got, _unfrozen_series(np.repeat(J, c), np.repeat(r, c), L), rtol=1e-12, atol=0)
    assert not np.allclose(got, _unfrozen_series(J, r, L), rtol=1e-3)


def test_series_terms_meet_the_truncation_bound():
    from gistcausal.stats.ccw import _SERIES_TOL, _series_terms

    for x in (0.0, 0.3, 1.0, 2.0, 5.0):
        k = _series_terms(x)
        assert x ** k / math.factorial(k) <= _SERIES_TOL
        assert k == 1 or x ** (k - 1) / math.factorial(k - 1) > _SERIES_TOL


def test_varies_is_ptp_positive():
    from gistcausal.stats.ccw import _varies

    X = np.column_stack([np.ones(6), np.arange(6.0), np.r_[0.0, 0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(_varies(X), np.ptp(X, axis=0) > 0)
    assert _varies(np.zeros((0, 2))).tolist() == [False, False]


def test_logistic_warm_start_reaches_the_same_fit():
    from gistcausal.stats.ccw import _logistic

    rng = np.random.default_rng(8)
    X = np.column_stack([np.ones(800), rng.normal(size=(800, 2))])
    y = (rng.random(800) < 1 / (1 + np.exp(-(X @ [0.3, 1.0, -0.5])))).astype(float)
    w = rng.uniform(0.5, 2.0, 800)
    cold = _logistic(X, y, w, "t")
    np.testing.assert_allclose(_logistic(X, y, w, "t", beta0=cold * 1.2), cold, rtol=0, atol=1e-10)


def test_replicates_fast_path_equals_the_plain_refit():
    """A bootstrap replicate as the step runs it (patients in switch-time order, the resample as its distinct
    patients with their multiplicities as case weights, censoring models started from the full-data fit)
    equals the plain refit of the unsorted resample, rows repeated, from 0 (issue 17)."""
    from gistcausal.stats.ccw import _distinct, _fit_arms, _prepare, _stats, _time_order

    df = simulate_ccw_data(1500, random_state=5, settings=CCWSimulation(a_O=0.1))
    df["x2"] = np.round(df["x"] ** 2, 1)
    p = _prepare(df, **COLS, strategies=AB, covariates=["x", "x2"], where="t")
    q, rank = _time_order(p, G)
    lm = np.array([6.0, 12.0])
    full = _fit_arms(p, None, G, "ipcw", "t")
    fast = _fit_arms(q, None, G, "ipcw", "t")
    for a, b in zip(full, fast):
        pd.testing.assert_frame_equal(a.curve, b.curve, rtol=1e-12, atol=1e-12)
    assert all(a.start.switch_coef is not None and a.start.grace_coef is not None for a in fast)
    start = [a.start for a in fast]
    rng = np.random.default_rng(3)
    for _ in range(4):
        idx = rng.integers(0, len(df), len(df))
        plain_arms = _fit_arms(p, idx, G, "ipcw", "t")
        plain = _stats(plain_arms, lm, 12.0)
        rows, counts = _distinct(np.bincount(rank[idx], minlength=len(df)))
        assert counts.max() > 1 and rows.size < len(df)
        fast_arms = _fit_arms(q, rows.astype(np.intp), G, "ipcw", "t", start, counts.astype(float))
        np.testing.assert_allclose(_stats(fast_arms, lm, 12.0), plain, rtol=0, atol=1e-10)
        assert not np.allclose(plain, _stats(full, lm, 12.0), rtol=0, atol=1e-6)   # a real resample
        for a, b in zip(plain_arms, fast_arms):
            # the curves (weighted and raw numbers at risk) count the repeated rows
            pd.testing.assert_frame_equal(b.curve, a.curve, rtol=1e-10, atol=1e-10)
            assert b.diagnostics is None and a.diagnostics is not None
            np.testing.assert_allclose(b.start.switch_coef, a.start.switch_coef, rtol=0, atol=1e-10)
            np.testing.assert_allclose(b.start.grace_coef, a.start.grace_coef, rtol=0, atol=1e-10)
        # the unweighted clone-censor analysis: the multiplicities alone
        got = _stats(_fit_arms(q, rows.astype(np.intp), G, "none", "t", None, counts.astype(float)), lm, 12.0)
        np.testing.assert_allclose(got, _stats(_fit_arms(p, idx, G, "none", "t"), lm, 12.0), rtol=0, atol=1e-12)


def test_covariate_constant_after_grace_leaves_the_compliance_model_only():
    """A covariate constant among the clones alive after G (here: died by G) stays in the switch model and is
    dropped from the compliance model; the replicate path (counts) still equals the rows repeated."""
    from gistcausal.stats.ccw import _distinct, _fit_arms, _prepare, _stats, _time_order

    df = simulate_ccw_data(1500, random_state=6, settings=CCWSimulation(a_O=0.1))
    df["early"] = (df["time"] <= G).astype(float)
    p = _prepare(df, **COLS, strategies=AB, covariates=["x", "early"], where="t")
    q, rank = _time_order(p, G)
    arms = _fit_arms(q, None, G, "ipcw", "t")
    for a in arms:
        assert a.start.switch_keep.tolist() == [True, True] and a.start.grace_keep.tolist() == [True, True, False]
    idx = np.random.default_rng(4).integers(0, len(df), len(df))
    rows, counts = _distinct(np.bincount(rank[idx], minlength=len(df)))
    got = _stats(_fit_arms(q, rows.astype(np.intp), G, "ipcw", "t", [a.start for a in arms], counts.astype(float)),
                 np.array([6.0, 12.0]), 12.0)
    np.testing.assert_allclose(got, _stats(_fit_arms(p, idx, G, "ipcw", "t"), np.array([6.0, 12.0]), 12.0),
                               rtol=0, atol=1e-10)


def test_distinct_rows_and_multiplicities():
    from gistcausal.stats.ccw import _distinct

    rows, c = _distinct(np.array([0, 2, 0, 1, 300, 0]))
    assert rows.tolist() == [1, 3, 4] and c.tolist() == [2, 1, 300]
    assert rows.dtype == np.uint8 and c.dtype == np.uint16
