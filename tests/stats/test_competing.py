"""Competing risks (stats/competing.py) against R survival's multi-state survfit (Aalen-Johansen, IJ standard
errors), coxph per cause and survey::svylogrank, made by tests/reference/competing/make_competing.R on mgus2."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import CohortError, DataError
from gistcausal.stats.competing import compare_cif, cumulative_incidence
from gistcausal.stats.km import kaplan_meier

from tests.conftest import REFERENCE

TOL = 1e-6  # deterministic, against R
ARMS = ("female", "male")
LABELS = ("pcm", "death")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REFERENCE / "competing" / "competing.json").read_text())


@pytest.fixture(scope="module")
def mgus():
    return pd.read_csv(REFERENCE / "competing" / "mgus2.csv")


@pytest.fixture(scope="module")
def comparison(mgus, ref):
    return compare_cif(mgus.time, mgus.status, mgus.arm, weights=mgus.w, outcome="mgus", arm_labels=ARMS,
                       cause_labels=LABELS, estimand="ATE", landmarks=ref["meta"]["times"],
                       horizon=ref["meta"]["tau"])


@pytest.mark.parametrize("arm", [0, 1])
@pytest.mark.parametrize("cause", [1, 2])
def test_weighted_aalen_johansen_matches_survfit(mgus, ref, arm, cause):
    """R: summary(survfit(Surv(time, factor(status)) ~ arm, data, weights = w, id = id, robust = TRUE),
    times, extend = TRUE): pstate, std.err (IJ), lower, upper of state `cause`."""
    d = mgus[mgus.arm == arm]
    r = ref["arm"][str(arm)]
    at = cumulative_incidence(d.time, d.status, weights=d.w).at(ref["meta"]["times"], float(cause))
    assert at["cif"].to_numpy() == pytest.approx(r[f"cif{cause}"], abs=TOL)
    assert at["std_err"].to_numpy() == pytest.approx(r[f"se{cause}"], abs=TOL)
    assert at["ci_low"].to_numpy() == pytest.approx(r[f"low{cause}"], abs=TOL)
    assert at["ci_high"].to_numpy() == pytest.approx(r[f"high{cause}"], abs=TOL)


@pytest.mark.parametrize("arm", [0, 1])
@pytest.mark.parametrize("cause", [1, 2])
def test_comparison_cif_and_rmtl_match_survfit(comparison, ref, arm, cause):
    """R: pstate/std.err as above; RMTL = summary(fit, rmean = tau)$table rmean of the cause state, its SE
    sqrt(sum((w * influence.pstate %*% widths)^2))."""
    lab, r = LABELS[cause - 1], ref["arm"][str(arm)]
    for i, x in enumerate(ref["meta"]["times"]):
        e = comparison.get_cause("cif", lab, contrast=ARMS[arm], time=x)
        assert (e.value, e.se) == pytest.approx((r[f"cif{cause}"][i], r[f"se{cause}"][i]), abs=TOL)
    e = comparison.get_cause("rmtl", lab, contrast=ARMS[arm])
    assert e.value == pytest.approx(r["rmean_table"][cause - 1], abs=TOL)
    assert e.se == pytest.approx(r["rmtl_se"][cause - 1], abs=TOL)
    assert e.time == ref["meta"]["tau"]


@pytest.mark.parametrize("cause", [1, 2])
def test_differences_and_ratios_from_independent_arms(comparison, ref, cause):
    lab, r0, r1 = LABELS[cause - 1], ref["arm"]["0"], ref["arm"]["1"]
    for i, x in enumerate(ref["meta"]["times"]):
        c0, c1 = r0[f"cif{cause}"][i], r1[f"cif{cause}"][i]
        s0, s1 = r0[f"se{cause}"][i], r1[f"se{cause}"][i]
        d = comparison.get_cause("cif_diff", lab, time=x)
        assert (d.value, d.se) == pytest.approx((c1 - c0, math.hypot(s0, s1)), abs=TOL)
        q = comparison.get_cause("cif_ratio", lab, time=x)
        assert q.value == pytest.approx(c1 / c0, abs=TOL) and q.scale == "log"
        assert q.se == pytest.approx(math.hypot(s0 / c0, s1 / c1), abs=TOL)
    rd = comparison.get_cause("rmtl_diff", lab)
    assert rd.value == pytest.approx(r1["rmtl"][cause - 1] - r0["rmtl"][cause - 1], abs=TOL)
    assert rd.se == pytest.approx(math.hypot(r0["rmtl_se"][cause - 1], r1["rmtl_se"][cause - 1]), abs=TOL)


@pytest.mark.parametrize("cause", [1, 2])
def test_cause_specific_cox_and_logrank_match_r(comparison, ref, cause):
    """R: coxph(Surv(time, status == k) ~ arm, weights = w, robust = TRUE, ties = "efron") and
    svylogrank(Surv(time, status == k) ~ arm, svydesign(ids = ~1, weights = ~w))."""
    lab, r = LABELS[cause - 1], ref["cause_specific"][str(cause)]
    hr = comparison.get_cause("cs_hr", lab)
    assert math.log(hr.value) == pytest.approx(r["coef"], abs=TOL)
    assert hr.se == pytest.approx(r["robust_se"], abs=TOL)
    lr = comparison.get_cause("cs_logrank_p", lab)
    assert lr.p == pytest.approx(r["p"], abs=TOL)
    assert (lr.extra["score"], lr.extra["se"], lr.extra["z"]) == pytest.approx((r["score"], r["se"], r["z"]), abs=TOL)


# ---------------------------------------------------------------------------------------------- properties
def _toy(seed=11, n=80):
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(10, n), 0) + 1      # ties on purpose
    status = rng.choice([0, 1, 2], n, p=[0.3, 0.4, 0.3]).astype(float)
    w = rng.integers(1, 4, n).astype(float)
    return t, status, w


def test_single_cause_cif_is_one_minus_km_with_the_same_ij_se():
    t, status, w = _toy()
    ev = (status > 0).astype(float)
    ci = cumulative_incidence(t, ev, weights=w).to_frame()
    km = kaplan_meier(t, ev, weights=w, variance="robust")
    assert ci["cif"].to_numpy() == pytest.approx(1 - km.surv, abs=1e-12)
    assert ci["std_err"].to_numpy() == pytest.approx(km.std_err, abs=1e-12)


def test_cifs_and_survival_add_to_one():
    t, status, w = _toy()
    tab = cumulative_incidence(t, status, weights=w).to_frame()
    total = tab.groupby("time")["cif"].sum().to_numpy()
    km = kaplan_meier(t, (status > 0).astype(float), weights=w)
    assert total + km.surv == pytest.approx(1.0, abs=1e-12)


def test_integer_weights_equal_row_replication():
    t, status, w = _toy()
    rep = np.repeat(np.arange(t.size), w.astype(int))
    a = cumulative_incidence(t, status, weights=w).to_frame()
    b = cumulative_incidence(t[rep], status[rep]).to_frame()
    assert a["cif"].to_numpy() == pytest.approx(b["cif"].to_numpy(), abs=1e-12)


def test_weight_rescaling_and_row_order_invariance():
    t, status, w = _toy()
    a = cumulative_incidence(t, status, weights=w).to_frame()
    perm = np.random.default_rng(1).permutation(t.size)
    for b in (cumulative_incidence(t, status, weights=3.5 * w).to_frame(),
              cumulative_incidence(t[perm], status[perm], weights=w[perm]).to_frame()):
        assert b["cif"].to_numpy() == pytest.approx(a["cif"].to_numpy(), abs=1e-12)
        assert b["std_err"].to_numpy() == pytest.approx(a["std_err"].to_numpy(), abs=1e-12)


def test_ij_matches_numerical_derivative_of_rmtl():
    """The prefix-sum IJ of the RMTL equals w_i dRMTL/dw_i by central differences (independent of R)."""
    from gistcausal.stats.competing import _rmtl_widths, aj_table, cif_influence

    t, status, w = _toy()
    tab = aj_table(t, status, w, (1.0, 2.0))
    W = _rmtl_widths(tab.time, 15.0)
    D = cif_influence(tab, w, 1, W)[:, 0]

    def rmtl(ww):
        return float(W[:, 0] @ aj_table(t, status, ww, (1.0, 2.0)).cif[:, 1])

    for i in (0, 5, 17, 40):
        h = 1e-6
        wp, wm = w.copy(), w.copy()
        wp[i] += h
        wm[i] -= h
        assert D[i] == pytest.approx(w[i] * (rmtl(wp) - rmtl(wm)) / (2 * h), abs=1e-7)


def test_results_are_aggregates_and_json_safe(comparison):
    d = json.loads(json.dumps(comparison.to_dict()))
    assert {e["measure"] for e in d["estimates"]} == {"cif", "cif_diff", "cif_ratio", "rmtl", "rmtl_diff",
                                                      "cs_hr", "cs_logrank_p"}
    assert set(comparison.curves["arm"]) == set(ARMS)
    assert comparison.get_cause("cs_hr", "death").note == "cause: death"
    assert "competing risks: pcm, death" in comparison.summary()


# ---------------------------------------------------------------------------------------------- errors
def test_error_status_code_not_a_cause():
    with pytest.raises(DataError) as err:
        cumulative_incidence([1, 2, 3], [0, 1, 3], causes=[1, 2])
    assert str(err.value) == ("cumulative_incidence: `status` has codes that are neither 0 (censored) nor a cause "
                              "(got [3]; causes [1, 2]). Add them to the causes or recode them.")


def test_error_landmark_beyond_followup(mgus):
    with pytest.raises(DataError) as err:
        compare_cif(mgus.time, mgus.status, mgus.arm, weights=mgus.w, outcome="mgus", arm_labels=ARMS,
                    landmarks=[1000])
    assert str(err.value).startswith("compare_cif: `landmarks` has a time beyond the last follow-up of an arm "
                                     "(got 1000 > ")


def test_error_empty_arm():
    with pytest.raises(CohortError) as err:
        compare_cif([1, 2, 3], [1, 2, 0], [0, 0, 1], weights=[1, 1, 0], outcome="o", arm_labels=("a", "b"))
    assert str(err.value) == ("compare_cif: arm 'b' is empty (got 0 patients with positive weight). Check the "
                              "cohort definition and treatment coding.")
