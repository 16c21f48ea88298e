"""Tests for gistcausal.stats.evalue: E-values, HR tipping points and observed-covariate benchmarks.

Reference values: tests/reference/evalue/evalue.json, written by make_evalue.R (the EValue package's
formulas transcribed into base R, each case with its equivalent EValue call), plus the published worked
examples of VanderWeele & Ding (2017) stored in the same file.
"""
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

from gistcausal.effects import EffectEstimate
from gistcausal.errors import ConfigError, DataError, GistCausalError
from gistcausal.stats.evalue import (
    benchmark_covariates,
    bias_factor,
    evalue,
    evalue_from_estimate,
    tip_hr,
    tipping_point_grid,
)

REF = json.loads((Path(__file__).parents[1] / "reference" / "evalue" / "evalue.json").read_text())


# ----------------------------------------------------------------------------------- reference values

@pytest.mark.parametrize("case", REF["published"], ids=lambda c: c["ref"][:40])
def test_published_worked_examples(case):
    """VanderWeele & Ding (2017): RR 3.9 (1.8-8.7) -> E 7.26, CI 3.0; RR 0.80 (0.71-0.91) -> 1.81, 1.43."""
    r = evalue(case["estimate"], ci_low=case["ci_low"], ci_high=case["ci_high"], measure=case["measure"])
    assert round(r.evalue, case["digits"]) == pytest.approx(case["evalue"], abs=1e-12)
    assert round(r.evalue_ci, case["digits"]) == pytest.approx(case["evalue_ci"], abs=1e-12)


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["id"])
def test_matches_evalue_package_formulas(case):
    """Each case quotes its EValue call, e.g. ``evalues.HR(0.56, 0.46, 0.69, rare = FALSE)``; values from
    tests/reference/evalue/make_evalue.R. Deterministic closed forms: abs=1e-9 (JSON keeps 15 digits)."""
    kw = dict(measure=case["measure"])
    if case["measure"] == "smd":
        kw["se"] = case["se"]
    else:
        kw.update(ci_low=case["ci_low"], ci_high=case["ci_high"])
    if case["measure"] in ("rr",):
        kw["true"] = case["true"]
    if case["rare"] is not None:
        kw["rare"] = case["rare"]
    r = evalue(case["estimate"], **kw)
    assert r.rr == pytest.approx(case["rr"], abs=1e-9)
    assert r.rr_ci_low == pytest.approx(case["rr_ci_low"], abs=1e-9)
    assert r.rr_ci_high == pytest.approx(case["rr_ci_high"], abs=1e-9)
    assert r.evalue == pytest.approx(case["evalue"], abs=1e-9)
    expected_ci = case["evalue_lower"] if case["evalue_lower"] is not None else case["evalue_upper"]
    assert r.evalue_ci == pytest.approx(expected_ci, abs=1e-9)
    assert r.ci_limit == ("lower" if case["evalue_lower"] is not None else "upper")


def test_closed_forms_by_hand():
    """Closed forms worked by hand: RR 2 -> 2 + sqrt(2); common OR 4 -> RR 2; common HR 1 -> RR 1;
    SMD d=0.5 -> RR exp(0.455); RD 0.1 with p0 0.2 -> RR 1.5 -> 1.5 + sqrt(0.75)."""
    assert evalue(2.0, measure="rr").evalue == pytest.approx(2 + math.sqrt(2), abs=1e-12)
    assert evalue(4.0, measure="or", rare=False).rr == pytest.approx(2.0, abs=1e-12)
    assert evalue(4.0, measure="or", rare=False).evalue == pytest.approx(2 + math.sqrt(2), abs=1e-12)
    r = evalue(2.0, measure="hr", rare=False)
    assert r.rr == pytest.approx((1 - 0.5 ** math.sqrt(2)) / (1 - 0.5 ** math.sqrt(0.5)), abs=1e-12)
    assert evalue(0.5, measure="smd").rr == pytest.approx(math.exp(0.455), abs=1e-12)
    rd = evalue(0.1, ci_low=0.02, ci_high=0.18, measure="rd", baseline_risk=0.2)
    assert rd.rr == pytest.approx(1.5, abs=1e-12)
    assert rd.evalue == pytest.approx(1.5 + math.sqrt(0.75), abs=1e-12)
    assert rd.rr_ci_low == pytest.approx(1.1, abs=1e-12)
    assert rd.evalue_ci == pytest.approx(1.1 + math.sqrt(1.1 * 0.1), abs=1e-12)


def test_smd_limits_equal_se_route():
    """evalues.MD(0.5, se = 0.25): a CI of d -/+ 1.956 se carried by exp(0.91 x) equals the se route."""
    by_se = evalue(0.5, se=0.25, measure="smd")
    k = 1.78 / 0.91
    by_ci = evalue(0.5, ci_low=0.5 - k * 0.25, ci_high=0.5 + k * 0.25, measure="smd")
    assert by_ci.evalue_ci == pytest.approx(by_se.evalue_ci, abs=1e-12)


def test_ci_crossing_null_gives_one_and_only_near_limit_is_reported():
    r = evalue(1.3, ci_low=0.9, ci_high=1.8, measure="rr")
    assert (r.evalue_ci, r.ci_limit) == (1.0, "lower")
    assert "already includes the null" in r.summary()
    only_far = evalue(1.3, ci_high=1.8, measure="rr")
    assert only_far.ci_limit == "none" and math.isnan(only_far.evalue_ci)


def test_rare_decided_from_prevalence_and_stated():
    common = evalue(0.7, measure="hr", outcome_prevalence=0.9)
    rare = evalue(0.7, measure="hr", outcome_prevalence=0.05)
    assert common.rr == pytest.approx((1 - 0.5 ** math.sqrt(0.7)) / (1 - 0.5 ** math.sqrt(1 / 0.7)), abs=1e-12)
    assert rare.rr == 0.7
    assert common.conversion_reason == "outcome proportion 0.9 is at or above the 0.15 rare-outcome cut-off"
    assert rare.conversion_reason == "outcome proportion 0.05 is below the 0.15 rare-outcome cut-off"


def test_summary_sentence_and_serialisation():
    r = evalue(3.9, ci_low=1.8, ci_high=8.7, measure="rr", outcome="PFS")
    assert r.summary() == (
        "An unmeasured confounder associated with both treatment and PFS by a risk ratio of 7.26 each, above "
        "and beyond the measured covariates, could explain away the estimate; weaker confounding could not "
        "(for the confidence interval to include the null, a risk ratio of 3 each would suffice).")
    d = r.to_dict()
    json.dumps(d)
    assert d["evalue"] == pytest.approx(7.263034344160047) and d["ci_limit"] == "lower"
    f = r.to_frame()
    assert list(f["quantity"]) == ["point", "ci_lower"] and f["evalue"].tolist() == [r.evalue, r.evalue_ci]
    none_ci = evalue(2.0, measure="rr").to_dict()
    assert none_ci["evalue_ci"] is None and none_ci["ci_low"] is None


# --------------------------------------------------------------------------------------- properties

ratios = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None)
@given(rr=ratios)
def test_property_evalue_at_least_one_and_symmetric_under_inversion(rr):
    e = evalue(rr, measure="rr").evalue
    assert e >= 1.0
    assert evalue(1.0 / rr, measure="rr").evalue == pytest.approx(e, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(rr=ratios, true=st.floats(min_value=0.1, max_value=10))
def test_property_nonnull_true_symmetric_and_one_at_true(rr, true):
    assert evalue(rr, measure="rr", true=true).evalue == pytest.approx(
        evalue(1 / rr, measure="rr", true=1 / true).evalue, rel=1e-9)
    assert evalue(true, measure="rr", true=true).evalue == 1.0


@settings(max_examples=30, deadline=None)
@given(hr=ratios, rare=st.booleans(), measure=st.sampled_from(["hr", "or"]))
def test_property_conversions_ge_one_and_null_is_one(hr, rare, measure):
    assert evalue(hr, measure=measure, rare=rare).evalue >= 1.0
    assert evalue(1.0, ci_low=0.5, ci_high=2.0, measure=measure, rare=rare).evalue == 1.0


@settings(max_examples=30, deadline=None)
@given(rr=st.floats(min_value=1.01, max_value=50))
def test_property_evalue_lies_on_the_bias_curve(rr):
    """E is the point where RR_EU = RR_UD on the curve B(RR_EU, RR_UD) = RR (Ding & VanderWeele 2016)."""
    e = evalue(rr, measure="rr").evalue
    assert bias_factor(e, e) == pytest.approx(rr, rel=1e-9)


# ------------------------------------------------------------------------------------ estimate route

def _est(measure, value, lo, hi, **kw):
    return EffectEstimate(outcome="pfs", contrast="sunitinib vs imatinib_escalation", estimand="ATE",
                          method="iptw", measure=measure, value=value, ci_low=lo, ci_high=hi, **kw)


def test_from_estimate_hr_common_for_pfs():
    """PFS with ~90% events: the common-outcome HR conversion, stated in the result."""
    r = evalue_from_estimate(_est("hr", 0.71, 0.45, 1.12), event_proportion=0.9)
    direct = evalue(0.71, ci_low=0.45, ci_high=1.12, measure="hr", rare=False)
    assert r.evalue == pytest.approx(direct.evalue, abs=1e-12)
    assert r.evalue_ci == 1.0
    assert r.conversion.startswith("common outcome") and "0.9" in r.conversion_reason
    assert r.outcome == "pfs"


def test_from_estimate_survival_routes():
    ratio = evalue_from_estimate(_est("surv_ratio", 1.5, 1.1, 2.0, time=12.0), event_proportion=0.9)
    assert ratio.rr == 1.5 and "event-free" in ratio.conversion
    # S0 = 0.4, ratio 1.5 -> S1 = 0.6 -> event RR = 0.4 / 0.6
    ev = evalue_from_estimate(_est("surv_ratio", 1.5, 1.1, 2.0, time=12.0), event_proportion=0.9, surv_control=0.4)
    assert ev.rr == pytest.approx(0.4 / 0.6, abs=1e-12)
    assert ev.rr_ci_high == pytest.approx((1 - 1.1 * 0.4) / 0.6, abs=1e-12)
    # S1 - S0 = 0.2 with S0 = 0.4: event risks 0.4 vs 0.6 -> same event RR
    diff = evalue_from_estimate(_est("surv_diff", 0.2, 0.05, 0.35, time=12.0), event_proportion=0.9,
                                surv_control=0.4)
    assert diff.rr == pytest.approx(0.4 / 0.6, abs=1e-12)
    assert diff.evalue == pytest.approx(ev.evalue, abs=1e-12)
    rm = evalue_from_estimate(_est("rmst_diff", 2.0, 0.5, 3.5, time=24.0), event_proportion=0.9, rmst_sd=8.0)
    assert rm.rr == pytest.approx(math.exp(0.91 * 0.25), abs=1e-12)
    assert "approximation" in rm.conversion_reason


def test_from_estimate_undefined_measure_says_so():
    msg = ("evalue_from_estimate (pfs median_diff): no E-value form is defined for measure 'median_diff' (got "
           "'median_diff'). Use an estimate with measure 'hr', 'or', 'rr', 'rd', 'surv_ratio', 'surv_diff', "
           "'rmst_diff', 'cs_hr', 'cif_ratio' or 'cif_diff'.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        evalue_from_estimate(_est("median_diff", 3.1, -1.0, 6.0), event_proportion=0.9)
    with pytest.raises(ConfigError, match=re.escape("Pass surv_control=S0(t).")):
        evalue_from_estimate(_est("surv_diff", 0.1, 0.0, 0.2), event_proportion=0.9)


# --------------------------------------------------------------------------------- competing risks

def _cr(measure, value, lo, hi, **kw):
    return _est(measure, value, lo, hi, extra={"cause": "progression", "cause_code": 1}, note="cause: progression",
                **kw)


@pytest.mark.parametrize("case", REF["competing"], ids=lambda c: c["id"])
def test_competing_routes_match_evalue_package_formulas(case):
    """Cause-specific HR, CIF ratio and CIF difference of one cause against tests/reference/evalue/make_evalue.R
    (EValue's formulas in base R; each case quotes its EValue call, e.g. ``evalues.HR(0.926, 0.597, 1.435,
    rare = FALSE)`` for a cause with 38.5% first events, ``evalues.RR((0.223 + 0.05) / 0.223, ...)`` for a CIF
    difference of 0.05 with control CIF 0.223). Deterministic closed forms: abs=1e-9."""
    e = _cr(case["measure"], case["estimate"], case["ci_low"], case["ci_high"], time=24.0)
    r = evalue_from_estimate(e, event_proportion=case["event_proportion"] if case["event_proportion"] is not None
                             else 0.5, baseline_risk=case["baseline_risk"])
    assert r.rr == pytest.approx(case["rr"], abs=1e-9)
    assert r.rr_ci_low == pytest.approx(case["rr_ci_low"], abs=1e-9)
    assert r.rr_ci_high == pytest.approx(case["rr_ci_high"], abs=1e-9)
    assert r.evalue == pytest.approx(case["evalue"], abs=1e-9)
    expected_ci = case["evalue_lower"] if case["evalue_lower"] is not None else case["evalue_upper"]
    assert r.evalue_ci == pytest.approx(expected_ci, abs=1e-9)


def test_competing_routes_by_hand_and_state_their_conversion():
    """Closed forms: cs HR 0.5 of a rare cause (8%) -> RR 0.5 -> E = 2 + sqrt(2); CIF ratio 2 -> 2 + sqrt(2)
    whatever the event proportion (a risk ratio needs no rare-outcome assumption); CIF difference 0.1 with
    control CIF 0.1 -> RR (0.1 + 0.1) / 0.1 = 2 -> 2 + sqrt(2) (VanderWeele & Ding 2017: E = RR + sqrt(RR (RR - 1)))."""
    e2 = 2 + math.sqrt(2)
    hr = evalue_from_estimate(_cr("cs_hr", 0.5, 0.3, 0.8), event_proportion=0.08)
    assert hr.evalue == pytest.approx(e2, abs=1e-12)
    assert hr.conversion.startswith("cause-specific hazard ratio of progression; rare outcome: RR = HR")
    assert "0.08 is below the 0.15 rare-outcome cut-off" in hr.conversion_reason
    common = evalue_from_estimate(_cr("cs_hr", 0.5, 0.3, 0.8), event_proportion=0.4)
    assert "common outcome" in common.conversion and common.evalue < hr.evalue
    ratio = evalue_from_estimate(_cr("cif_ratio", 2.0, 1.2, 3.3, time=12.0), event_proportion=0.9)
    assert ratio.evalue == pytest.approx(e2, abs=1e-12)
    assert "no rare-outcome assumption needed" in ratio.conversion
    diff = evalue_from_estimate(_cr("cif_diff", 0.1, 0.02, 0.18, time=12.0), event_proportion=0.9, baseline_risk=0.1)
    assert diff.rr == pytest.approx(2.0, abs=1e-12) and diff.evalue == pytest.approx(e2, abs=1e-12)
    assert diff.rr_ci_low == pytest.approx(1.2, abs=1e-12)
    assert "F0(t) = 0.1 given" in diff.conversion_reason


def test_competing_cif_diff_needs_the_control_cif():
    msg = ("evalue_from_estimate (pfs cif_diff): a cumulative incidence difference has no E-value without the "
           "control arm's cumulative incidence (got baseline_risk=None). Pass baseline_risk=F0(t).")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        evalue_from_estimate(_cr("cif_diff", 0.1, 0.0, 0.2, time=12.0), event_proportion=0.3)


# ------------------------------------------------------------------------------------------- errors

def test_error_negative_hr():
    msg = ("evalue: the estimate of a hazard ratio must be a positive finite number (got -0.5). Pass the ratio "
           "itself, not its logarithm.")
    with pytest.raises(DataError, match=re.escape(msg)):
        evalue(-0.5, measure="hr", rare=False)


def test_error_negative_rr_limit():
    msg = ("evalue: ci_low of a risk ratio must be a positive finite number (got -0.1). Pass the ratio itself, "
           "not its logarithm.")
    with pytest.raises(DataError, match=re.escape(msg)):
        evalue(0.5, ci_low=-0.1, ci_high=0.9, measure="rr")


def test_error_ci_not_containing_estimate():
    msg = ("evalue: the estimate must lie inside its confidence interval (got estimate=3.0, ci_low=1.0, "
           "ci_high=2.0). Check that the limits belong to this estimate and are on the same scale.")
    with pytest.raises(DataError, match=re.escape(msg)):
        evalue(3.0, ci_low=1.0, ci_high=2.0, measure="rr")


def test_error_ci_low_above_ci_high():
    msg = "evalue: ci_low must not exceed ci_high (got ci_low=2.0, ci_high=1.5). Swap the two limits."
    with pytest.raises(DataError, match=re.escape(msg)):
        evalue(1.8, ci_low=2.0, ci_high=1.5, measure="rr")


def test_error_unknown_measure():
    msg = ("evalue: measure must be one of 'rr', 'or', 'hr', 'rd', 'smd' (got 'rmst'). Pick the scale the "
           "estimate is on.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        evalue(1.2, measure="rmst")
    assert issubclass(ConfigError, GistCausalError)


def test_error_rare_undecidable():
    msg = ("evalue: an odds ratio needs to know whether the outcome is rare (got rare=None, "
           "outcome_prevalence=None). Pass rare=True/False, or outcome_prevalence (rare if below 0.15).")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        evalue(2.0, measure="or")


def test_inputs_not_mutated_and_result_frozen():
    r = evalue(2.0, measure="rr")
    with pytest.raises(AttributeError):
        r.evalue = 3.0  # type: ignore[misc]


# ----------------------------------------------------------------------------------- tipping points

def test_tip_hr_closed_form():
    """p1=0.2, p0=0.5, HR=0.7: gamma = (0.7*0.5 - 0.8)/(0.2 - 0.35) = 3, and 0.7 / (1.4/2.0) = 1."""
    t = tip_hr(0.7, ci_low=0.5, ci_high=0.9, p_treated=0.2, p_control=0.5)
    assert t.gamma_point == pytest.approx(3.0, abs=1e-12)
    # upper limit 0.9: gamma = (0.9*0.5 - 0.8)/(0.2 - 0.45) = 1.4
    assert t.gamma_ci == pytest.approx(1.4, abs=1e-12) and t.ci_limit == "upper"
    assert "hazard ratio with the outcome of 3 to move the HR of 0.7 to 1" in t.summary()


@settings(max_examples=30, deadline=None)
@given(hr=st.floats(min_value=0.2, max_value=5), p1=st.floats(0.01, 0.99), p0=st.floats(0.01, 0.99))
def test_property_tip_roundtrip_through_grid(hr, p1, p0):
    """The solved gamma, plugged into the Lin-Psaty-Kronmal adjustment, gives an adjusted HR of exactly 1."""
    if abs(p1 - p0) < 1e-3:
        return
    g = tip_hr(hr, p_treated=p1, p_control=p0).gamma_point
    if math.isfinite(g):
        grid = tipping_point_grid(hr, hr, hr, prevalence_grid=[(p1, p0)], gamma_grid=[g])
        assert grid["hr_adj"].iloc[0] == pytest.approx(1.0, rel=1e-9)
    else:
        # unreachable: even gamma -> infinity (factor p1/p0) or gamma -> 0 (factor (1-p1)/(1-p0)) cannot reach
        # (a limit itself is reached only asymptotically: hr = 0.75 with p1 = 1/2, p0 = 1/3 lies on it, up to
        # rounding of the bounds)
        lo, hi = sorted([p1 / p0, (1 - p1) / (1 - p0)])
        assert not lo * (1 + 1e-12) < hr < hi * (1 - 1e-12)


def test_tipping_grid_values_and_ci_flag():
    grid = tipping_point_grid(0.7, 0.5, 0.98, prevalence_grid=[(0.2, 0.5), (0.5, 0.5)], gamma_grid=[1.0, 3.0])
    assert len(grid) == 4
    row = grid[(grid.p_treated == 0.2) & (grid.gamma == 3.0)].iloc[0]
    assert row.bias_factor == pytest.approx(0.7, abs=1e-12)
    assert row.hr_adj == pytest.approx(1.0, abs=1e-12) and row.ci_includes_null
    assert not grid[(grid.p_treated == 0.5)]["ci_includes_null"].any()
    assert (grid[grid.gamma == 1.0]["hr_adj"] == 0.7).all()


def test_tip_errors():
    with pytest.raises(DataError, match=re.escape(
            "tip_hr: a confounder equally prevalent in both arms cannot bias the HR (got p_treated=0.3, "
            "p_control=0.3). Use different prevalences.")):
        tip_hr(0.7, p_treated=0.3, p_control=0.3)
    with pytest.raises(ConfigError, match=re.escape("tipping_point_grid: prevalence_grid must be a non-empty")):
        tipping_point_grid(0.7, 0.5, 0.9, prevalence_grid=[], gamma_grid=[2.0])


# --------------------------------------------------------------------------------------- benchmarks

def test_benchmark_covariates_prevalence_ratio_and_conversion():
    """Binary x: 30/50 treated vs 10/50 controls -> RR_EU = max(0.6/0.2, 0.4/0.8) = 3; HR 2 (common)."""
    a = np.r_[np.ones(50), np.zeros(50)].astype(int)
    x = np.r_[np.ones(30), np.zeros(20), np.ones(10), np.zeros(40)]
    z = np.arange(100, dtype=float)  # continuous, independent of nothing in particular
    df = pd.DataFrame({"a": a, "x": x, "z": z})
    before = df.copy()
    res = benchmark_covariates(df, treatment_col="a", covariates=["x", "z"], outcome_hr={"x": 2.0, "z": 0.8},
                               event_proportion=0.9)
    pd.testing.assert_frame_equal(df, before)
    t = res.to_frame().set_index("covariate")
    assert t.loc["x", "rr_treatment"] == pytest.approx(3.0, abs=1e-12)
    rr_ud = (1 - 0.5 ** math.sqrt(2)) / (1 - 0.5 ** math.sqrt(0.5))
    assert t.loc["x", "rr_outcome"] == pytest.approx(rr_ud, abs=1e-12)
    assert t.loc["x", "bias_factor"] == pytest.approx(3 * rr_ud / (3 + rr_ud - 1), abs=1e-12)
    # z > median(z): all 50 controls (z = 50..99) vs none treated -> q1 = 0, q0 = 1: RR_EU infinite,
    # bias factor then bounded by RR_UD alone.
    assert math.isinf(t.loc["z", "rr_treatment"])
    assert res.strongest == "x"
    json.dumps(res.to_dict())
    assert res.summary().startswith("The strongest measured confounder, x, was associated with treatment by a "
                                    "risk ratio of 3")


# ------------------------------------------------------------------------------------------- plots

def test_bias_plot_curve_lies_on_bias_factor_and_marks_evalue():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gistcausal.present.plots.sensitivity import bias_plot

    r = evalue(0.56, ci_low=0.46, ci_high=0.69, measure="hr", rare=False, outcome="PFS")
    a = np.r_[np.ones(50), np.zeros(50)].astype(int)
    df = pd.DataFrame({"a": a, "x": np.r_[np.ones(30), np.zeros(20), np.ones(10), np.zeros(40)]})
    bench = benchmark_covariates(df, treatment_col="a", covariates=["x"], outcome_hr={"x": 2.0}, event_proportion=0.9)
    fig, ax = plt.subplots()
    out = bias_plot(r, ax=ax, benchmarks=bench)
    assert out is ax
    curve = ax.lines[0]
    x, y = curve.get_xdata(), curve.get_ydata()
    np.testing.assert_allclose(bias_factor(x, y), 1 / r.rr, rtol=1e-9)
    marker = ax.lines[1]
    assert marker.get_xdata()[0] == pytest.approx(r.evalue) and marker.get_ydata()[0] == pytest.approx(r.evalue)
    ci_curve = ax.lines[2]
    np.testing.assert_allclose(bias_factor(ci_curve.get_xdata(), ci_curve.get_ydata()), 1 / r.rr_ci_high, rtol=1e-9)
    assert ax.collections[0].get_offsets()[0][0] == pytest.approx(3.0)
    plt.close(fig)


def test_tipping_plot_shows_log_adjusted_hr():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gistcausal.present.plots.sensitivity import tipping_plot

    grid = tipping_point_grid(0.7, 0.5, 0.98, prevalence_grid=[(0.2, 0.5), (0.4, 0.1)], gamma_grid=[1.5, 3.0])
    fig, ax = plt.subplots()
    assert tipping_plot(grid, ax=ax) is ax
    img = ax.images[0].get_array()
    np.testing.assert_allclose(np.asarray(img), np.log(grid["hr_adj"].to_numpy()).reshape(2, 2), rtol=1e-12)
    texts = [t.get_text() for t in ax.texts]
    assert "1.00 •" in texts  # (0.2, 0.5) with gamma 3 tips the HR to exactly 1
    plt.close(fig)
