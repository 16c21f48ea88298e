"""Tests of gistcausal.stats.km against R (tests/reference/survival/make_survival.R) and properties."""
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
from gistcausal.stats.km import (kaplan_meier, km_at, km_from_risk_table, km_median, logrank_test, risk_table, rmst,
                                  rmst_from_risk_table)

REF = Path(__file__).parents[1] / "reference" / "survival"
TOL = 1e-6  # deterministic results vs R: only floating-point differences remain


@pytest.fixture(scope="session")
def ref() -> dict:
    return json.loads((REF / "survival.json").read_text())


@pytest.fixture(scope="session")
def data() -> dict[str, pd.DataFrame]:
    rot = pd.read_csv(REF / "rotterdam.csv")
    rot["group"] = rot["hormon"]
    return {"rotterdam": rot, "ties": pd.read_csv(REF / "ties.csv")}


def _arm(d: pd.DataFrame, arm: str) -> pd.DataFrame:
    return d if arm == "all" else d[d["group"] == int(arm)]


def _close(a, b) -> None:
    a = np.asarray(a, dtype=float)
    b = np.array([np.nan if v is None else v for v in b], dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=0, atol=TOL)


CASES = [(ds, arm) for ds in ("rotterdam", "ties") for arm in ("all", "0", "1")]

KM_VARIANTS = {
    # key in JSON: (weighted, variance, conf_type)
    "unweighted_log": (False, "auto", "log"),
    "unweighted_loglog": (False, "greenwood", "log-log"),
    "unweighted_plain": (False, "greenwood", "plain"),
    "weighted_robust_log": (True, "auto", "log"),
    "weighted_robust_loglog": (True, "robust", "log-log"),
    "weighted_greenwood_log": (True, "greenwood", "log"),
}


@pytest.mark.parametrize("ds,arm", CASES)
@pytest.mark.parametrize("key", list(KM_VARIANTS))
def test_km_matches_survfit(ref, data, ds, arm, key):
    """R: survfit(Surv(time, event) ~ 1, data, conf.type = ...) and, weighted,
    survfit(..., weights = w, robust = TRUE | FALSE); SE of S from std.err (log scale when fit$logse)."""
    weighted, variance, conf_type = KM_VARIANTS[key]
    d = _arm(data[ds], arm)
    km = kaplan_meier(d.time, d.event, weights=d.w if weighted else None, variance=variance,
                      conf_type=conf_type)
    r = ref[ds][arm][key]
    _close(km.time, r["time"])
    _close(km.surv, r["surv"])
    _close(km.n_risk, r["n_risk"])
    _close(km.n_event, r["n_event"])
    _close(km.n_censor, r["n_censor"])
    _close(km.ci_low, r["lower"])
    _close(km.ci_high, r["upper"])
    # R reports Inf (log scale) / NaN (S scale) where Greenwood divides by n - d = 0
    _close(np.where(np.isinf(km.std_err_log), np.nan, km.std_err_log), r["std_err_log"])
    _close(km.std_err, r["std_err"])
    med = km.median()
    _close(med, [r["median"], r["median_lcl"], r["median_ucl"]])


@pytest.mark.parametrize("ds,arm", CASES)
def test_rmst_unweighted_matches_print_survfit(ref, data, ds, arm):
    """R: summary(survfit(Surv(time, event) ~ 1, data), rmean = tau)$table[c("rmean", "se(rmean)")]."""
    d = _arm(data[ds], arm)
    r = ref[ds][arm]["rmean_unweighted"]
    res = rmst(d.time, d.event, horizon=r["tau"])
    assert res.value == pytest.approx(r["rmean"], abs=TOL)
    assert res.se == pytest.approx(r["se"], abs=TOL)
    assert res.variance == "greenwood"


@pytest.mark.parametrize("ds,arm", CASES)
def test_rmst_weighted_ij_matches_survfit_influence(ref, data, ds, arm):
    """R: f <- survfit(Surv(time, event) ~ 1, data, weights = w, robust = TRUE, influence = TRUE);
    se = sqrt(sum((cbind(0, f$influence.surv[, t <= tau]) %*% diff(c(0, t[t <= tau], tau)))^2))."""
    d = _arm(data[ds], arm)
    r = ref[ds][arm]["rmst_weighted_ij"]
    res = rmst(d.time, d.event, weights=d.w, horizon=r["tau"])
    assert res.value == pytest.approx(r["rmean"], abs=TOL)
    assert res.se == pytest.approx(r["se"], abs=TOL)
    assert res.variance == "robust"
    assert res.ci_low == pytest.approx(res.value - 1.959963984540054 * res.se, abs=1e-12)


@pytest.mark.parametrize("ds", ["rotterdam", "ties"])
def test_logrank_unweighted_matches_survdiff(ref, data, ds):
    """R: survdiff(Surv(time, event) ~ group, data)$chisq."""
    d = data[ds]
    res = logrank_test(d.time, d.event, d.group)
    assert res.statistic == pytest.approx(ref[ds]["survdiff"]["chisq"], abs=TOL)
    _close(res.observed, ref[ds]["survdiff"]["obs"])
    _close(res.expected, ref[ds]["survdiff"]["exp"])
    assert res.df == 1


@pytest.mark.parametrize("ds", ["rotterdam", "ties"])
def test_logrank_weighted_matches_svylogrank(ref, data, ds):
    """R: svylogrank(Surv(time, event) ~ group, svydesign(ids = ~1, weights = ~w, data[w > 0, ]))."""
    d = data[ds]
    res = logrank_test(d.time, d.event, d.group, weights=d.w)
    r = ref[ds]["svylogrank"]
    assert res.statistic == pytest.approx(r["chisq"], abs=TOL)
    assert res.p == pytest.approx(r["p"], abs=TOL)
    assert res.n == r["n_used"]


def test_weighted_logrank_is_not_the_case_count_logrank(data):
    """The lifelines trap: a log-rank on weighted counts differs from the design-based test."""
    d = data["rotterdam"]
    design = logrank_test(d.time, d.event, d.group, weights=d.w).statistic
    doubled = logrank_test(d.time, d.event, d.group, weights=2 * d.w).statistic
    assert doubled == pytest.approx(design, rel=1e-10)  # weights scale-free, unlike case counts


def test_km_median_function(data):
    d = data["rotterdam"]
    assert km_median(d.time, d.event) == kaplan_meier(d.time, d.event).median()


# ------------------------------------------------------------------ edge cases and messages
def test_km_negative_time_message():
    with pytest.raises(DataError, match=re.escape(
            "kaplan_meier: `time` must be finite and >= 0 (got 0 missing, 1 negative, 0 infinite). "
            "Drop or correct these rows before the analysis.")):
        kaplan_meier([1.0, -2.0], [1, 0])


def test_km_nan_time_message():
    with pytest.raises(DataError, match=re.escape("(got 1 missing, 0 negative, 0 infinite)")):
        kaplan_meier([1.0, np.nan], [1, 0])


def test_km_non_binary_event_message():
    with pytest.raises(DataError, match=re.escape(
            "kaplan_meier: `event` must be 0 (censored) or 1 (event) (got 1 other values). "
            "Recode the event indicator to 0/1.")):
        kaplan_meier([1.0, 2.0], [1, 2])


@pytest.mark.parametrize("w", [[1.0, -1.0], [1.0, np.nan]])
def test_km_bad_weights_message(w):
    with pytest.raises(DataError, match=re.escape(
            "kaplan_meier: `weights` must be finite and >= 0 (got 1 missing, infinite or negative). "
            "Recompute the weights or drop these rows.")):
        kaplan_meier([1.0, 2.0], [1, 0], weights=w)


def test_km_late_entry_not_supported():
    with pytest.raises(DataError, match=re.escape(
            "kaplan_meier: late entry (left truncation) is not supported (got an `entry` argument). "
            "Define time zero so that every patient is at risk from time 0, or use R survival with "
            "Surv(entry, time, event).")):
        kaplan_meier([1.0, 2.0], [1, 0], entry=[0.0, 0.5])


def test_rmst_horizon_beyond_follow_up_message():
    with pytest.raises(DataError, match=re.escape(
            "rmst: `horizon` is beyond the last follow-up time (got 10 > 3). Choose `horizon` <= 3, "
            "ideally where enough patients remain at risk.")):
        rmst([1.0, 2.0, 3.0], [1, 0, 1], horizon=10)


def test_everyone_censored():
    km = kaplan_meier([1.0, 2.0, 3.0], [0, 0, 0])
    assert np.all(km.surv == 1.0)
    assert all(math.isnan(v) for v in km.median())
    assert "not reached" in km.summary()
    res = rmst([1.0, 2.0, 3.0], [0, 0, 0], horizon=2.5)
    assert res.value == pytest.approx(2.5) and res.se == 0.0


def test_single_patient_at_risk_and_curve_to_zero():
    km = kaplan_meier([1.0, 2.0], [0, 1])
    _close(km.surv, [1.0, 0.0])
    # R: the log band is NA where S = 0, so neither limit reaches 0.5: "not estimable", not invented
    _close(km.median(), [2.0, None, None])
    assert km.to_dict()["surv"] == [1.0, 0.0]


def test_zero_weight_patients_only_count_raw():
    t, e = np.array([1.0, 2.0, 2.0, 3.0]), np.array([1, 1, 0, 1])
    km0 = kaplan_meier(t, e, weights=[1.0, 0.0, 1.0, 1.0])
    km1 = kaplan_meier(t[[0, 2, 3]], e[[0, 2, 3]], weights=[1.0, 1.0, 1.0])
    _close(km0.surv, km1.surv)
    _close(km0.std_err, km1.std_err)
    _close(km0.n_risk_raw, [4, 3, 1])


def test_survival_at_is_right_continuous(data):
    d = data["ties"]
    km = kaplan_meier(d.time, d.event)
    _close(km.survival_at([0.5, 1.0, 1.5, 12.0, 99.0]),
           [1.0, km.surv[0], km.surv[0], km.surv[-1], km.surv[-1]])


# ------------------------------------------------------------------ properties
_rows = st.integers(min_value=2, max_value=25)


@st.composite
def survival_data(draw):
    n = draw(_rows)
    t = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    e = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    w = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    g = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda x: 0 < sum(x) < n))
    return np.array(t, float), np.array(e, float), np.array(w, float), np.array(g)


@settings(max_examples=40, deadline=None)
@given(survival_data())
def test_integer_weights_equal_replicated_rows(d):
    t, e, w, g = d
    rep = np.repeat(np.arange(t.size), w.astype(int))
    a = kaplan_meier(t, e, weights=w, variance="greenwood")
    b = kaplan_meier(t[rep], e[rep])
    _close(a.surv, b.surv)
    _close(np.nan_to_num(a.std_err_log, posinf=-1), np.nan_to_num(b.std_err_log, posinf=-1))
    _close([logrank_test(t[rep], e[rep], g[rep]).statistic], [_case_count_logrank(t, e, g, w)])


def _case_count_logrank(t, e, g, w):
    """Unweighted log-rank on replicated rows, written out directly (independent closed form)."""
    stat_o = stat_v = 0.0
    for u in np.unique(t[e == 1]):
        at = t >= u
        n, n1 = w[at].sum(), w[at & (g == 1)].sum()
        d = w[(t == u) & (e == 1)].sum()
        d1 = w[(t == u) & (e == 1) & (g == 1)].sum()
        stat_o += d1 - d * n1 / n
        if n > 1:
            stat_v += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return stat_o ** 2 / stat_v if stat_v > 0 else None  # no information: NaN, as logrank_test


@settings(max_examples=40, deadline=None)
@given(survival_data(), st.floats(0.01, 100), st.randoms(use_true_random=False))
def test_invariance_to_order_and_weight_scale(d, c, rnd):
    t, e, w, g = d
    perm = np.array(rnd.sample(range(t.size), t.size))
    a = kaplan_meier(t, e, weights=w)
    b = kaplan_meier(t[perm], e[perm], weights=c * w[perm])
    _close(a.surv, b.surv)
    np.testing.assert_allclose(a.std_err, b.std_err, rtol=1e-9, atol=1e-12)
    la = logrank_test(t, e, g, weights=w).statistic
    lb = logrank_test(t[perm], e[perm], g[perm], weights=c * w[perm]).statistic
    if math.isfinite(la):
        assert lb == pytest.approx(la, rel=1e-7, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(survival_data())
def test_km_non_increasing_in_unit_interval(d):
    t, e, w, _ = d
    for km in (kaplan_meier(t, e), kaplan_meier(t, e, weights=w)):
        assert np.all(np.diff(km.surv) <= 1e-15)
        assert np.all((km.surv >= 0) & (km.surv <= 1))


def test_inputs_not_mutated(data):
    d = data["ties"].copy()
    before = d.copy()
    kaplan_meier(d.time, d.event, weights=d.w)
    rmst(d.time, d.event, weights=d.w, horizon=5)
    logrank_test(d.time, d.event, d.group, weights=d.w)
    pd.testing.assert_frame_equal(d, before)


def test_km_at_kernel_is_kaplan_meier_and_rmst(data):
    """The bootstrap's kernel (km_at) gives exactly the numbers of kaplan_meier and rmst: one arithmetic."""
    d = data["rotterdam"]
    t, e, w = d.time.to_numpy(float), d.event.to_numpy(float), d.w.to_numpy(float)
    times = [0.0, 12.0, 24.0, 60.0, 1e6]  # before the first time, inside, and beyond the last (carried on)
    k = km_at(t, e, w, times, 60.0)
    km = kaplan_meier(t, e, weights=w)
    np.testing.assert_array_equal(k.surv, km.survival_at(times))
    assert k.rmst == rmst(t, e, weights=w, horizon=60.0).value
    assert k.last == km.time[-1]
    assert np.isnan(km_at(t, e, w, times, None).rmst)


@pytest.mark.parametrize("ds", ["rotterdam", "ties"])
def test_logrank_weighted_score_se_z_match_svylogrank(ref, data, ds):
    """R: svylogrank(...)[[1]] prints score, se and z beside chisq (issue 18, "Also"); z^2 is the chi-square."""
    d = data[ds]
    res = logrank_test(d.time, d.event, d.group, weights=d.w)
    r = ref[ds]["svylogrank"]
    assert (res.score, res.se, res.z) == pytest.approx((r["score"], r["se"], r["z"]), abs=TOL)
    assert res.z ** 2 == pytest.approx(res.statistic, rel=1e-12)
    assert res.to_dict()["z"] == pytest.approx(r["z"], abs=TOL)


def test_logrank_unweighted_score_is_observed_minus_expected(data):
    """Unweighted: score = O - E of the second group and z^2 = survdiff's chi-square (closed form)."""
    d = data["rotterdam"]
    res = logrank_test(d.time, d.event, d.group)
    assert res.score == pytest.approx(res.observed[1] - res.expected[1], abs=1e-10)
    assert res.z ** 2 == pytest.approx(res.statistic, rel=1e-12)
    assert res.score / res.se == pytest.approx(res.z, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ds", ["rotterdam", "ties"])
def test_rmst_from_the_curves_risk_table_equals_rmst(data, ds, weighted):
    """compare_survival's path: one risk table per arm for the curve and its RMST (the curve's surv reused)
    gives kaplan_meier and rmst exactly."""
    d = data[ds].sample(frac=1.0, random_state=5)
    t, e = d["time"].to_numpy(float), d["event"].to_numpy(float)
    w = d["w"].to_numpy(float) if weighted else np.ones(len(d))
    var = "robust" if weighted else "greenwood"
    rt = risk_table(t, e, w)
    km = km_from_risk_table(rt, variance=var, conf_type="log", alpha=0.05, weighted=weighted)
    ref_km = kaplan_meier(t, e, weights=w if weighted else None)
    for f in ("time", "surv", "std_err", "ci_low", "ci_high", "n_risk", "n_event"):
        np.testing.assert_array_equal(getattr(km, f), getattr(ref_km, f))
    tau = float(np.quantile(t, 0.7))
    got = rmst_from_risk_table(rt, horizon=tau, variance=km.variance, alpha=0.05, surv=km.surv)
    want = rmst(t, e, weights=w if weighted else None, horizon=tau)
    assert (got.value, got.se, got.ci_low, got.ci_high, got.variance, got.n) == (
        want.value, want.se, want.ci_low, want.ci_high, want.variance, want.n)


def test_issue_17_risk_table_of_sorted_input_skips_the_sort():
    """Input already in time order (a plasmode replicate's rows) is used as it is: the table equals the one of the
    same rows shuffled (ties included), order is the identity."""
    rng = np.random.default_rng(17)
    t = np.sort(np.round(rng.exponential(5.0, 400), 1))          # many tied times
    e = (rng.uniform(size=t.size) < 0.6).astype(float)
    w = rng.uniform(0.2, 3.0, t.size)
    fast = risk_table(t, e, w)
    np.testing.assert_array_equal(fast.order, np.arange(t.size))
    perm = rng.permutation(t.size)
    slow = risk_table(t[perm], e[perm], w[perm])
    assert not np.array_equal(slow.order, np.arange(t.size))
    for name in ("time", "idx", "t", "n_risk_raw", "n_event_raw", "n_censor_raw"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
    for name in ("n_risk", "n_event", "n_censor"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_logrank_groups_coded_as_floats_ints_or_text_give_one_test(data, weighted, monkeypatch):
    """A 0/1 group read from a file as floats takes the no-sort path as integers do (issue 17: np.unique sorted
    the ten million groups again, as long as the risk table's own sort); the statistic, the reference group and
    the level names are those of the sorting path."""
    d = data["rotterdam"]
    g = np.asarray(d.group).astype(np.int64)
    w = d.w if weighted else None
    fl = logrank_test(d.time, d.event, g.astype(float), weights=w)
    assert fl.groups == ("0.0", "1.0")
    for other in (g, np.where(g == 1, "b", "a")):
        res = logrank_test(d.time, d.event, other, weights=w)
        assert res.statistic == pytest.approx(fl.statistic, rel=1e-12)
        assert res.score == pytest.approx(fl.score, rel=1e-12)
    unique = np.unique
    monkeypatch.setattr(np, "unique", lambda *a, **k: pytest.fail("np.unique called for 0/1 floats"))
    assert logrank_test(d.time, d.event, g.astype(float), weights=w).statistic == fl.statistic
    monkeypatch.setattr(np, "unique", unique)
    sorted_path = logrank_test(d.time, d.event, g.astype(float) + 0.5, weights=w)   # 0.5/1.5: np.unique
    assert sorted_path.statistic == pytest.approx(fl.statistic, rel=1e-12)
    assert sorted_path.groups == ("0.5", "1.5")
    with pytest.raises(DataError, match="at least 2 groups"):
        logrank_test(d.time, d.event, np.ones(len(g)), weights=w)
