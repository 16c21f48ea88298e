"""Tests of gistcausal.stats.comparison (compare_survival) against R (tests/reference/survival, cox) and the plot."""
from __future__ import annotations

import json
import math
import re
import warnings as _warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import CohortError, DataError, ProportionalHazardsWarning, SmallSampleWarning
from gistcausal.stats.comparison import compare_survival

REF = Path(__file__).parents[1] / "reference" / "survival"
TOL = 1e-6  # deterministic results vs R: only floating-point differences remain
ARMS = ("control", "treated")


@pytest.fixture(scope="session")
def ref() -> dict:
    return json.loads((REF / "survival.json").read_text())


@pytest.fixture(scope="session")
def data() -> dict[str, pd.DataFrame]:
    rot = pd.read_csv(REF / "rotterdam.csv")
    rot["group"] = rot["hormon"]
    return {"rotterdam": rot, "ties": pd.read_csv(REF / "ties.csv")}


def _close(a, b) -> None:
    a = np.asarray(a, dtype=float)
    b = np.array([np.nan if v is None else v for v in b], dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    ok = ~np.isnan(a)
    np.testing.assert_allclose(a[ok], b[ok], rtol=0, atol=TOL)

@pytest.fixture(scope="session")
def iptw_comparison(data):
    d = data["rotterdam"]
    with _warnings.catch_warnings(record=True) as rec:
        _warnings.simplefilter("always")
        comp = compare_survival(d.time, d.event, d.hormon, weights=d.w, outcome="rfs", estimand="ATE",
                                method="iptw", landmarks=(24, 60), horizon=60,
                                arm_labels=("none", "hormon"))
    return comp, rec


def test_compare_iptw_hr_and_logrank_match_r(iptw_comparison, ref):
    """R: coxph(Surv(time, event) ~ hormon, rot, weights = w, robust = TRUE) (cox/make_cox.R) and
    svylogrank(Surv(time, event) ~ hormon, svydesign(ids = ~1, weights = ~w, rot))."""
    comp, _ = iptw_comparison
    cox_ref = json.loads((REF.parent / "cox" / "cox.json").read_text())["rot_arm_months_w"]
    hr = comp.get("hr")
    assert math.log(hr.value) == pytest.approx(cox_ref["coef"], abs=TOL)
    assert hr.se == pytest.approx(cox_ref["robust_se"], abs=TOL)
    assert hr.variance == "robust" and hr.scale == "log"
    assert comp.get("logrank_p").p == pytest.approx(ref["rotterdam"]["svylogrank"]["p"], abs=TOL)


def test_compare_per_arm_estimates_match_r(iptw_comparison, ref):
    """Per-arm medians, S(t) and RMST equal the R-validated survfit(weights = w, robust = TRUE)."""
    comp, _ = iptw_comparison
    for code, label in (("0", "none"), ("1", "hormon")):
        r = ref["rotterdam"][code]["weighted_robust_log"]
        med = comp.get("median", contrast=label)
        _close([med.value, med.ci_low, med.ci_high], [r["median"], r["median_lcl"], r["median_ucl"]])
        rm = comp.get("rmst", contrast=label)
        assert rm.value == pytest.approx(ref["rotterdam"][code]["rmst_weighted_ij"]["rmean"], abs=TOL)
        assert rm.se == pytest.approx(ref["rotterdam"][code]["rmst_weighted_ij"]["se"], abs=TOL)
        s24 = comp.get("surv", contrast=label, time=24.0)
        i = int(np.searchsorted(np.array(r["time"]), 24.0, side="right")) - 1
        assert s24.value == pytest.approx(r["surv"][i], abs=TOL)
        assert s24.se == pytest.approx(r["std_err"][i], abs=TOL)


def test_compare_differences_closed_form(iptw_comparison):
    comp, _ = iptw_comparison
    s0, s1 = comp.get("surv", "none", 60.0), comp.get("surv", "hormon", 60.0)
    diff, ratio = comp.get("surv_diff", time=60.0), comp.get("surv_ratio", time=60.0)
    assert diff.value == pytest.approx(s1.value - s0.value, abs=1e-12)
    assert diff.se == pytest.approx(math.hypot(s0.se, s1.se), abs=1e-12)
    sel = math.hypot(s0.se / s0.value, s1.se / s1.value)
    assert ratio.se == pytest.approx(sel, abs=1e-12)
    assert ratio.ci_low == pytest.approx(ratio.value * math.exp(-1.959963984540054 * sel), abs=1e-9)
    r0, r1, rd = comp.get("rmst", "none"), comp.get("rmst", "hormon"), comp.get("rmst_diff")
    assert rd.value == pytest.approx(r1.value - r0.value, abs=1e-12)
    assert {e.variance for e in comp.estimates} <= {"robust"}


def test_compare_ph_violation_warned_and_kept(iptw_comparison):
    """cox.zph of the weighted model rejects PH on rotterdam (R: p < 1e-10, cox/make_cox.R)."""
    comp, rec = iptw_comparison
    assert any(issubclass(w.category, ProportionalHazardsWarning) for w in rec)
    assert len(comp.warnings) == 1 and "proportional hazards rejected for treatment" in comp.warnings[0]
    assert comp.ph_test["p"] < 1e-10


def test_compare_tables_and_dict(iptw_comparison):
    comp, _ = iptw_comparison
    assert set(comp.curves["weighting"]) == {"weighted", "unweighted"}
    assert list(comp.at_risk.columns) == ["arm", "time", "n_at_risk", "weighted_n_at_risk"]
    first = comp.at_risk[(comp.at_risk.arm == "hormon") & (comp.at_risk.time == 0)].iloc[0]
    assert first.n_at_risk == 339
    json.dumps(comp.to_dict())
    assert len(comp.to_frame()) == len(comp.estimates)
    assert "hormon vs none" in comp.summary()


def test_compare_landmark_beyond_follow_up(data):
    d = data["ties"]
    with pytest.raises(DataError, match=re.escape(
            "compare_survival: `landmarks` has a time beyond the last follow-up of an arm (got 20 > "
            "12). Choose landmarks <= 12.")):
        compare_survival(d.time, d.event, d.group, outcome="os", landmarks=(5, 20), arm_labels=ARMS)


def test_compare_horizon_beyond_follow_up(data):
    d = data["ties"]
    with pytest.raises(DataError, match=re.escape(
            "compare_survival: `horizon` is beyond the last follow-up time (got 30 > 12)")):
        compare_survival(d.time, d.event, d.group, outcome="os", horizon=30, arm_labels=ARMS)


def test_compare_empty_arm():
    with pytest.raises(CohortError, match=re.escape(
            "compare_survival: arm 'treated' is empty (got 0 patients with positive weight). "
            "Check the cohort definition and treatment coding.")):
        compare_survival([1.0, 2.0, 3.0], [1, 0, 1], [0, 0, 0], outcome="os", arm_labels=ARMS)


def test_compare_arm_without_events_hr_not_estimable():
    t = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    e = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    with pytest.warns(SmallSampleWarning, match="not estimable"):
        comp = compare_survival(t, e, a, outcome="os", landmarks=(2,), horizon=4, arm_labels=ARMS)
    hr = comp.get("hr")
    assert math.isnan(hr.value) and hr.note == "not estimable: no events in arm 'treated'"
    assert math.isnan(comp.get("median", "treated").value)
    assert comp.get("median", "treated").note == "not estimable: curve never reaches 0.5"
    assert len(comp.warnings) == 1


def test_compare_method_checks():
    with pytest.raises(DataError, match=re.escape(
            "compare_survival: method 'iptw' needs `weights` (got None). Pass the IPTW weights or use "
            "method='unadjusted'.")):
        compare_survival([1.0, 2.0], [1, 1], [0, 1], outcome="os", method="iptw", arm_labels=ARMS)


def test_compare_adjusted_hr_matches_cox_fit(data):
    """The adjusted HR is the treatment coefficient of the multivariable Cox model (validated vs R in
    test_cox.py: coxph(Surv(time, event) ~ hormon + ..., ties = 'efron'))."""
    d = data["rotterdam"]
    covs = ["age", "meno", "size2", "size3", "grade", "nodes", "pgr", "er", "chemo"]
    cox_ref = json.loads((REF.parent / "cox" / "cox.json").read_text())["rot_multi_months_u"]
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", ProportionalHazardsWarning)
        comp = compare_survival(d.time, d.event, d.hormon, outcome="rfs", method="adjusted", X=d[covs],
                                arm_labels=ARMS)
    hr = comp.get("hr")
    assert math.log(hr.value) == pytest.approx(cox_ref["coef"][0], abs=TOL)
    assert hr.se == pytest.approx(cox_ref["se"][0], abs=TOL) and hr.variance == "model"


def test_plot_km_two_at_risk_rows_per_arm(iptw_comparison):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gistcausal.present.plots.km import plot_km
    comp, _ = iptw_comparison
    fig, ax = plt.subplots()
    out = plot_km(comp, ax=ax, title="RFS", time_unit="months")
    assert out is ax
    texts = [t.get_text() for t in ax.texts]
    for arm in ("none", "hormon"):
        assert f"{arm}: n at risk" in texts and f"{arm}: weighted n at risk" in texts
    assert "339" in texts  # raw n at risk at time 0 in the hormon arm
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "hormon (IPTW)" in labels and "hormon (unweighted)" in labels
    plt.close(fig)


def test_compare_everyone_censored():
    t = np.array([1.0, 2, 3, 4])
    with pytest.warns(SmallSampleWarning, match=re.escape("os: no events in either arm (got 0 events in 4 patients)")):
        comp = compare_survival(t, [0, 0, 0, 0], [0, 1, 0, 1], outcome="os", landmarks=(2,), arm_labels=ARMS)
    assert math.isnan(comp.get("hr").value)
    assert math.isnan(comp.get("logrank_p").p) and comp.get("logrank_p").note == "not estimable: no events"
    assert comp.get("surv", "treated", 2.0).value == 1.0


def test_arm_labels_are_required():
    """No study's arm names are a default of the generic function."""
    with pytest.raises(TypeError, match="arm_labels"):
        compare_survival([1.0, 2.0], [1, 1], [0, 1], outcome="os")


def test_issue_14_no_events_message_names_the_outcome_and_the_arm():
    """'no events' names the outcome and the arm's label, not 'cox_fit: ... treatment = 1'."""
    import warnings

    t = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    e = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comp = compare_survival(t, e, a, outcome="relapse", arm_labels=("standard care", "new drug"))
    hr = next(x for x in comp.estimates if x.measure == "hr")
    assert np.isnan(hr.value) and hr.note == "not estimable: no events in arm 'new drug'"
    msgs = [str(w.message) for w in caught]
    assert any(m.startswith("relapse: no events in arm 'new drug' (got 0 events in 4 patients)") for m in msgs)
    assert not any("cox_fit" in m for m in msgs)


@pytest.mark.parametrize("weighted", [True, False])
def test_contrasts_only_gives_the_full_comparisons_contrasts(data, weighted):
    """contrasts_only (plasmode replicates) skips curves, at-risk table, medians and log-rank; every estimate it
    keeps, the PH test and the warnings are exactly those of the full comparison."""
    d = data["rotterdam"]
    kw = dict(outcome="rfs", landmarks=(24, 60), horizon=60, arm_labels=("none", "hormon"))
    if weighted:
        kw.update(weights=d.w, estimand="ATE", method="iptw")
    with _warnings.catch_warnings(record=True) as rec_full:
        _warnings.simplefilter("always")
        full = compare_survival(d.time, d.event, d.hormon, **kw)
    with _warnings.catch_warnings(record=True) as rec_fast:
        _warnings.simplefilter("always")
        fast = compare_survival(d.time, d.event, d.hormon, contrasts_only=True, **kw)
    kept = [e for e in full.estimates if e.measure not in ("median", "logrank_p")]
    assert len(kept) < len(full.estimates)
    assert [e.to_dict() for e in fast.estimates] == [e.to_dict() for e in kept]
    assert fast.ph_test == full.ph_test and fast.warnings == full.warnings
    assert [(w.category, str(w.message)) for w in rec_fast] == [(w.category, str(w.message)) for w in rec_full]
    assert fast.curves.empty and list(fast.curves.columns) == list(full.curves.columns)
    assert fast.at_risk.empty and list(fast.at_risk.columns) == list(full.at_risk.columns)


def test_contrasts_only_keeps_the_input_checks(data):
    d = data["ties"]
    with pytest.raises(DataError, match=re.escape("compare_survival: `landmarks` has a time beyond")):
        compare_survival(d.time, d.event, d.group, outcome="os", landmarks=(5, 20), arm_labels=ARMS,
                         contrasts_only=True)
    with pytest.raises(DataError, match=re.escape("compare_survival: `horizon` is beyond")):
        compare_survival(d.time, d.event, d.group, outcome="os", horizon=30, arm_labels=ARMS, contrasts_only=True)


@pytest.mark.parametrize("weighted", [False, True])
def test_compare_reused_pieces_equal_the_standalone_functions(data, weighted):
    """compare_survival shares each arm's risk table between its curve and RMST and passes the Cox fit's sorted
    data to cox.zph: the RMST, HR and PH test must equal rmst, cox_fit and cox_zph called on their own (the HR
    and PH test to rounding: they come from stats.cox_binary)."""
    from gistcausal.stats.cox import cox_fit, cox_zph
    from gistcausal.stats.km import rmst

    d = data["rotterdam"].sample(frac=1.0, random_state=6)
    w = d.w if weighted else None
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        comp = compare_survival(d.time, d.event, d.hormon, weights=w, outcome="rfs",
                                estimand="ATE" if weighted else "none", method="iptw" if weighted else "unadjusted",
                                landmarks=(24,), horizon=60, arm_labels=("none", "hormon"), contrasts_only=True)
        fit = cox_fit(d.time, d.event, d.hormon.to_frame(), weights=w, names=["treatment"])
        zph = cox_zph(d.time, d.event, d.hormon.to_frame(), weights=w, names=["treatment"], coef=fit.coef)
    est = {(e.measure, e.contrast): e for e in comp.estimates}
    for code, label in ((0, "none"), (1, "hormon")):
        m = d.hormon == code
        r = rmst(d.time[m], d.event[m], weights=None if w is None else w[m], horizon=60)
        e = est[("rmst", label)]
        assert (e.value, e.se, e.ci_low, e.ci_high) == (r.value, r.se, r.ci_low, r.ci_high)
    hr = est[("hr", "hormon vs none")]
    # issue 17: the one-column HR comes from per-time sums by arm (stats.cox_binary): equal up to rounding
    assert hr.value == pytest.approx(float(np.exp(fit.coef[0])), rel=1e-12, abs=0)
    assert hr.se == pytest.approx(float(math.sqrt(fit.var[0, 0])), rel=1e-12, abs=0)
    assert comp.ph_test["chisq"] == pytest.approx(float(zph.chisq[0]), rel=1e-12, abs=0)
    assert comp.ph_test["global_p"] == pytest.approx(zph.global_p, rel=1e-12, abs=0)


@pytest.mark.parametrize("a, w, message", [
    ([0, 0, 0, 0], [1.0, 1, 1, 1], "arm 'treated' is empty"),
    ([1, 1, 1, 1], [1.0, 1, 1, 1], "arm 'control' is empty"),
    ([0, 0, 1, 1], [1.0, 1, 0, 0], "arm 'treated' is empty"),       # patients, but no positive weight
    ([0, 0, 1, 1], [0.0, 0, 1, 1], "arm 'control' is empty"),
    ([0, 2, 1, 1], [1.0, 1, 1, 1], "`treatment` must be 0/1"),
    ([0, 0.5, 1, 1], [1.0, 1, 1, 1], "`treatment` must be 0/1"),
])
def test_issue_17_arm_checks_by_counts(a, w, message):
    """_check_arms counts patients and positive weights per arm with one bincount each: the same errors as the
    per-arm masks, in the same order (0/1 coding first, then the control arm, then the treated arm)."""
    with pytest.raises((CohortError, DataError), match=re.escape(message)):
        compare_survival([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 1], a, weights=w, outcome="os", method="iptw",
                         arm_labels=ARMS)
