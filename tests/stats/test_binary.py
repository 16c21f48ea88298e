"""IPTW binary and continuous outcomes (stats/binary.py, inference/point_outcomes.py), checked on NHEFS against
Hernan & Robins' What If (ch. 12) and R geepack::geeglm / sandwich::vcovHC(type = "HC0")."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from gistcausal.errors import CohortError, DataError
from gistcausal.stats.logistic import logistic_newton
from gistcausal.inference.point_outcomes import bootstrap_point, m_estimation_point
from gistcausal.stats.binary import compare_binary, compare_continuous
from gistcausal.stats.evalue import evalue
from gistcausal.stats.weights import compute_weights

from tests.conftest import REFERENCE

ARMS = ("continued", "quit")
REF_KEYS = {"risk_diff": "risk_diff", "risk_ratio": "log_risk_ratio", "odds_ratio": "log_odds_ratio",
            "mean_diff": "mean_diff"}


@pytest.fixture(scope="module")
def ref():
    return json.loads((REFERENCE / "binary" / "binary.json").read_text())


@pytest.fixture(scope="module")
def nhefs():
    """The book's nhefs.nmv (n = 1566) and program 12.2's propensity design, squared terms built here."""
    d = pd.read_csv(REFERENCE / "binary" / "nhefs.csv")
    cols = [np.ones(len(d)), d.sex, d.race, d.age, d.age ** 2]
    cols += [(d.education == k).astype(float) for k in (2, 3, 4, 5)]
    cols += [d.smokeintensity, d.smokeintensity ** 2, d.smokeyrs, d.smokeyrs ** 2]
    cols += [(d.exercise == k).astype(float) for k in (1, 2)]
    cols += [(d.active == k).astype(float) for k in (1, 2)]
    cols += [d.wt71, d.wt71 ** 2]
    X = np.column_stack(cols).astype(float)
    coef = logistic_newton(X, d.qsmk.to_numpy(float))[0]
    return d, X, coef, special.expit(X @ coef)


def _weights(nhefs, name):
    d, _, _, ps = nhefs
    estimand = "ATT" if name == "ATT" else "ATE"
    return compute_weights(ps, d.qsmk.to_numpy(int), estimand=estimand, stabilize=name == "ATE_stabilized").weights


def test_nhefs_propensity_model_matches_r(nhefs, ref):
    """R: glm(qsmk ~ sex + race + age + I(age^2) + as.factor(education) + smokeintensity + I(smokeintensity^2)
    + smokeyrs + I(smokeyrs^2) + as.factor(exercise) + as.factor(active) + wt71 + I(wt71^2), binomial())."""
    assert nhefs[2] == pytest.approx(ref["ps"]["coef"], abs=1e-6)


@pytest.mark.parametrize("name", ["ATE", "ATE_stabilized"])
def test_what_if_program_12_weight_gain(nhefs, name):
    """What If, programs 12.2-12.3: quitting smoking adds 3.4 kg (95% CI 2.4 to 4.5), unstabilized or stabilized."""
    d = nhefs[0]
    r = compare_continuous(d.wt82_71, d.qsmk, weights=_weights(nhefs, name), outcome="wt82_71", arm_labels=ARMS,
                           estimand="ATE")
    md = r.get("mean_diff")
    assert (round(md.value, 1), round(md.ci_low, 1), round(md.ci_high, 1)) == (3.4, 2.4, 4.5)


@pytest.mark.parametrize("name", ["ATE", "ATE_stabilized", "ATT"])
def test_mean_diff_matches_geeglm_and_hc0(nhefs, ref, name):
    """R: geeglm(wt82_71 ~ qsmk, weights = w, id = seqn, corstr = "independence") and
    sandwich::vcovHC(glm(wt82_71 ~ qsmk, weights = w), type = "HC0"), made by make_binary.R."""
    d = nhefs[0]
    r = compare_continuous(d.wt82_71, d.qsmk, weights=_weights(nhefs, name), outcome="wt82_71", arm_labels=ARMS,
                           estimand="ATT" if name == "ATT" else "ATE")
    md, R = r.get("mean_diff"), ref[name]["mean_diff"]
    assert md.value == pytest.approx(R["coef"], abs=1e-6)
    assert md.se == pytest.approx(R["se"], abs=1e-6)
    assert md.se == pytest.approx(ref[name]["mean_diff_hc0_se"], abs=1e-6)
    assert (md.ci_low, md.ci_high) == pytest.approx((R["ci_low"], R["ci_high"]), abs=1e-6)
    assert r.get("mean", contrast=ARMS[0]).value == pytest.approx(R["intercept"], abs=1e-6)
    assert r.get("mean", contrast=ARMS[0]).se == pytest.approx(R["intercept_se"], abs=1e-6)


@pytest.mark.parametrize("name", ["ATE", "ATE_stabilized", "ATT"])
@pytest.mark.parametrize("measure", ["risk_diff", "risk_ratio", "odds_ratio"])
def test_binary_contrasts_match_geeglm(nhefs, ref, name, measure):
    """R: geeglm(death ~ qsmk, family = binomial(link = "identity" / "log" / "logit"), weights = w, id = seqn,
    corstr = "independence"): the coefficient and its san.se (HC0) on the link scale."""
    d = nhefs[0]
    r = compare_binary(d.death, d.qsmk, weights=_weights(nhefs, name), outcome="death", arm_labels=ARMS,
                       estimand="ATT" if name == "ATT" else "ATE")
    e, R = r.get(measure), ref[name][REF_KEYS[measure]]
    value = math.log(e.value) if e.scale == "log" else e.value
    assert value == pytest.approx(R["coef"], abs=1e-6)
    assert e.se == pytest.approx(R["se"], abs=1e-6)
    assert r.get("risk", contrast=ARMS[1]).value == pytest.approx(ref[name]["risk"][1], abs=1e-6)


def test_evalues_reuse_stats_evalue(nhefs):
    d = nhefs[0]
    w = _weights(nhefs, "ATE")
    r = compare_binary(d.death, d.qsmk, weights=w, outcome="death", arm_labels=ARMS, estimand="ATE")
    rr = r.get("risk_ratio")
    assert rr.extra["evalue"] == pytest.approx(evalue(rr.value, ci_low=rr.ci_low, ci_high=rr.ci_high,
                                                      measure="rr").evalue, abs=1e-12)
    assert set(r.evalues) == {"risk_ratio", "odds_ratio", "risk_diff"}
    c = compare_continuous(d.wt82_71, d.qsmk, weights=w, outcome="wt82_71", arm_labels=ARMS, estimand="ATE")
    arms = c.arms
    s_p = math.sqrt(np.sum(arms.sum_weights * arms.sd ** 2) / arms.sum_weights.sum())
    md = c.get("mean_diff")
    assert c.evalues["mean_diff"].evalue == pytest.approx(
        evalue(md.value / s_p, se=md.se / s_p, measure="smd").evalue, abs=1e-12)
    assert c.evalues["mean_diff"].evalue > 1


# ---------------------------------------------------------------------------------------------- M-estimation
def _stacked_sandwich(y, a, X, estimand, stabilize):
    """Independent check: the sandwich A^-1 B A^-T / n of the stacked equations (logistic score, [p1,] the two
    weighted-mean equations), A by central finite differences. Returns the covariance of (mu0, mu1)."""
    n, p = X.shape

    def psi(theta):
        g = theta[:p]
        e = special.expit(X @ g)
        k = p
        if stabilize:
            p1 = theta[k]
            k += 1
            w = np.where(a == 1, p1 / e, (1 - p1) / (1 - e))
        elif estimand == "ATE":
            w = np.where(a == 1, 1 / e, 1 / (1 - e))
        else:  # ATT
            w = np.where(a == 1, 1.0, e / (1 - e))
        cols = [X * (a - e)[:, None]]
        if stabilize:
            cols.append((a - theta[p])[:, None])
        cols.append((w * (1 - a) * (y - theta[k]))[:, None])
        cols.append((w * a * (y - theta[k + 1]))[:, None])
        return np.hstack(cols)

    g = logistic_newton(X, a)[0]
    e = special.expit(X @ g)
    p1 = a.mean()
    if stabilize:
        w = np.where(a == 1, p1 / e, (1 - p1) / (1 - e))
    elif estimand == "ATE":
        w = np.where(a == 1, 1 / e, 1 / (1 - e))
    else:
        w = np.where(a == 1, 1.0, e / (1 - e))
    mu = [np.dot(w[a == k], y[a == k]) / w[a == k].sum() for k in (0, 1)]
    theta = np.r_[g, [p1] if stabilize else [], mu]
    q = theta.size
    A = np.zeros((q, q))
    scale = np.r_[np.abs(X).max(axis=0), np.ones(q - p)]
    for j in range(q):
        h = 1e-5 / scale[j]   # a step of 1e-5 on the linear predictor: truncation error ~1e-10
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        A[:, j] = -(psi(tp).sum(0) - psi(tm).sum(0)) / (2 * h)
    P = psi(theta)
    Ai = np.linalg.inv(A)
    V = Ai @ (P.T @ P) @ Ai.T
    return V[-2:, -2:], mu


@pytest.mark.parametrize("estimand,stabilize", [("ATE", False), ("ATE", True), ("ATT", False)])
def test_m_estimation_equals_stacked_sandwich(nhefs, estimand, stabilize):
    d, X, _, _ = nhefs
    y, a = d.wt82_71.to_numpy(float), d.qsmk.to_numpy(float)
    V, mu = _stacked_sandwich(y, a, X, estimand, stabilize)
    est = {(e.measure, e.contrast): e for e in m_estimation_point(
        y, a, X, kind="continuous", outcome="wt", estimand=estimand, stabilize=stabilize, arm_labels=ARMS)}
    md = est[("mean_diff", "quit vs continued")]
    assert md.value == pytest.approx(mu[1] - mu[0], abs=1e-9)
    # finite differences of the bread: relative error below 1e-8
    assert md.se == pytest.approx(math.sqrt(V[0, 0] + V[1, 1] - 2 * V[0, 1]), rel=1e-7)
    assert est[("mean", "continued")].se == pytest.approx(math.sqrt(V[0, 0]), rel=1e-7)
    assert md.variance == "m_estimation"
    assert md.extra["se_weights_known"] == pytest.approx(compare_continuous(
        y, a, weights=compute_weights(special.expit(X @ logistic_newton(X, a)[0]), a.astype(int), estimand=estimand,
                                      stabilize=stabilize).weights,
        outcome="wt", arm_labels=ARMS, estimand=estimand).get("mean_diff").se, abs=1e-10)


def test_m_estimation_binary_log_ratio_by_delta_method(nhefs):
    d, X, _, _ = nhefs
    y, a = d.death.to_numpy(float), d.qsmk.to_numpy(float)
    V, mu = _stacked_sandwich(y, a, X, "ATE", False)
    est = {e.measure: e for e in m_estimation_point(y, a, X, kind="binary", outcome="death", estimand="ATE",
                                                     arm_labels=ARMS) if e.contrast == "quit vs continued"}
    g = np.array([-1 / mu[0], 1 / mu[1]])
    assert est["risk_ratio"].se == pytest.approx(math.sqrt(g @ V @ g), rel=1e-7)
    g = np.array([-1 / (mu[0] * (1 - mu[0])), 1 / (mu[1] * (1 - mu[1]))])
    assert est["odds_ratio"].se == pytest.approx(math.sqrt(g @ V @ g), rel=1e-7)


# ---------------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_point_reproducible_and_centred(nhefs):
    d, X, _, _ = nhefs
    kw = dict(kind="binary", outcome="death", estimand="ATE", n_boot=40, random_state=7, arm_labels=ARMS)
    b1 = bootstrap_point(d.death, d.qsmk, X, **kw)
    b2 = bootstrap_point(d.death, d.qsmk, X, **kw)
    pd.testing.assert_frame_equal(b1.replicates, b2.replicates)
    rd = b1.get("risk_diff") if hasattr(b1, "get") else next(e for e in b1.estimates if e.measure == "risk_diff")
    point = compare_binary(d.death, d.qsmk, weights=_weights(nhefs, "ATE"), outcome="death", arm_labels=ARMS,
                           estimand="ATE").get("risk_diff")
    assert rd.value == pytest.approx(point.value, abs=1e-12)
    assert rd.variance == "bootstrap_percentile" and b1.n_success == 40
    assert list(b1.replicates.columns) == ["replicate", "risk_continued", "risk_quit", "risk_diff",
                                           "log_risk_ratio", "log_odds_ratio"]


# ---------------------------------------------------------------------------------------------- properties
def _toy(seed=3, n=60):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n).astype(float)
    y = rng.binomial(1, 0.3 + 0.2 * a).astype(float)
    w = rng.integers(1, 4, n).astype(float)
    return y, a, w


def test_integer_weights_equal_row_replication():
    y, a, w = _toy()
    r = compare_binary(y, a, weights=w, outcome="y", arm_labels=("c", "t"), estimand="ATE")
    rep = np.repeat(np.arange(y.size), w.astype(int))
    u = compare_binary(y[rep], a[rep], outcome="y", arm_labels=("c", "t"))
    for m in ("risk_diff", "risk_ratio", "odds_ratio"):
        assert r.get(m).value == pytest.approx(u.get(m).value, abs=1e-12)


def test_weight_rescaling_and_row_order_invariance():
    y, a, w = _toy()
    r = compare_binary(y, a, weights=w, outcome="y", arm_labels=("c", "t"), estimand="ATE")
    s = compare_binary(y, a, weights=7.5 * w, outcome="y", arm_labels=("c", "t"), estimand="ATE")
    perm = np.random.default_rng(0).permutation(y.size)
    o = compare_binary(y[perm], a[perm], weights=w[perm], outcome="y", arm_labels=("c", "t"), estimand="ATE")
    for x in (s, o):
        assert x.get("risk_diff").se == pytest.approx(r.get("risk_diff").se, abs=1e-12)
        assert x.get("odds_ratio").value == pytest.approx(r.get("odds_ratio").value, abs=1e-12)


def test_swapping_arms_flips_the_contrasts():
    y, a, w = _toy()
    r = compare_binary(y, a, weights=w, outcome="y", arm_labels=("c", "t"), estimand="ATE")
    s = compare_binary(y, 1 - a, weights=w, outcome="y", arm_labels=("t", "c"), estimand="ATE")
    assert s.get("risk_diff").value == pytest.approx(-r.get("risk_diff").value, abs=1e-12)
    assert s.get("risk_ratio").value == pytest.approx(1 / r.get("risk_ratio").value, abs=1e-12)
    assert s.get("odds_ratio").se == pytest.approx(r.get("odds_ratio").se, abs=1e-12)


def test_inputs_not_mutated_and_zero_risk_not_estimable():
    y = np.array([0, 0, 0, 1, 0, 1.0])
    a = np.array([0, 0, 0, 1, 1, 1.0])
    y0 = y.copy()
    r = compare_binary(y, a, outcome="y", arm_labels=("c", "t"))
    assert np.array_equal(y, y0)
    assert math.isnan(r.get("risk_ratio").value)
    assert r.get("risk_ratio").note == "not estimable: the risk is 0 or 1 in an arm"
    assert r.get("risk_diff").value == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------- errors
def test_error_binary_outcome_not_01():
    with pytest.raises(DataError) as err:
        compare_binary([0, 2, 1, 0], [0, 0, 1, 1], outcome="y", arm_labels=("c", "t"))
    assert str(err.value) == ("compare_binary: a binary outcome must be 0/1 (got 1 other values). Recode the "
                              "outcome to 1 = event, 0 = no event.")


def test_error_missing_outcome():
    with pytest.raises(DataError) as err:
        compare_continuous([1.0, np.nan, 2.0, 3.0], [0, 0, 1, 1], outcome="y", arm_labels=("c", "t"))
    assert str(err.value) == ("compare_continuous: `y` must be finite (got 1 missing or infinite). Drop these "
                              "patients or impute the outcome before the comparison.")


def test_error_empty_arm():
    with pytest.raises(CohortError) as err:
        compare_continuous([1.0, 2.0, 3.0], [0, 1, 1], weights=[0.0, 1.0, 1.0], outcome="y", arm_labels=("c", "t"))
    assert str(err.value) == ("compare_continuous: arm 'c' is empty (got 0 patients with positive weight). "
                              "Check the cohort definition and treatment coding.")


def test_results_are_aggregates_and_json_safe():
    y, a, w = _toy()
    r = compare_binary(y, a, weights=w, outcome="y", arm_labels=("c", "t"), estimand="ATE")
    d = json.loads(json.dumps(r.to_dict()))
    assert {e["measure"] for e in d["estimates"]} == {"risk", "risk_diff", "risk_ratio", "odds_ratio"}
    assert len(r.to_frame()) == 5 and list(r.arms.arm) == ["c", "t"]
    assert "risk_ratio" in r.summary()


@pytest.mark.parametrize("name", ["ATE", "ATE_stabilized", "ATT"])
def test_weight_diagnostics_match_r_on_nhefs(nhefs, ref, name):
    """R: c(mean(w), sd(w), min(w), max(w)) of the book's weights (program 12.2: mean 2.00, SD 1.47 unstabilized)."""
    d, _, _, ps = nhefs
    wr = compute_weights(ps, d.qsmk.to_numpy(int), estimand="ATT" if name == "ATT" else "ATE",
                         stabilize=name == "ATE_stabilized")
    row = wr.diagnostics.set_index("arm").loc["overall"]
    R = ref[name]["weights"]
    assert (row["mean"], row["sd"], row["min"], row["max"]) == pytest.approx(
        (R["mean"], R["sd"], R["min"], R["max"]), abs=1e-6)
