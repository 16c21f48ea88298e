"""Tests of gistcausal.stats.weights against R, closed forms and properties.

R reference: tests/reference/propensity/make_propensity.R (w_ate, w_att, w_atc, w_ato, w_match,
w_ate_stab written from fitted(glm(hormon ~ age + meno + size + grade + nodes + pgr + er, binomial)),
kish <- function(w) sum(w)^2 / sum(w^2)). Tolerance 1e-6 vs R (deterministic arithmetic).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gistcausal.errors import (
    ConfigError,
    DataError,
    ExtremeWeightWarning,
    GistCausalWarning,
    PositivityError,
    PositivityWarning,
)
from gistcausal.stats.weights import (ESTIMANDS, compute_weights, crump_bounds, kish_ess, top_share,
                                     weight_values)

REF = Path(__file__).parents[1] / "reference" / "propensity"


@pytest.fixture(scope="session")
def rot():
    ref = json.loads((REF / "propensity.json").read_text())
    t = pd.read_csv(REF / "rotterdam.csv")["hormon"].to_numpy()
    return np.array(ref["rotterdam"]["fitted"]), t, ref["rotterdam"]


def quiet(*args, **kwargs):
    """compute_weights with gistcausal warnings silenced (their content is tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GistCausalWarning)
        return compute_weights(*args, **kwargs)


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC", "ATO", "matching"])
def test_weights_match_r(rot, estimand):
    """R: w_ate <- t/ps + (1-t)/(1-ps); w_att <- t + (1-t)*ps/(1-ps); w_atc <- t*(1-ps)/ps + (1-t);
    w_ato <- t*(1-ps) + (1-t)*ps; w_match <- pmin(ps, 1-ps)/(t*ps + (1-t)*(1-ps))."""
    ps, t, ref = rot
    res = quiet(ps, t, estimand=estimand)
    np.testing.assert_allclose(res.weights, ref["weights"][estimand], atol=1e-6)


def test_stabilized_ate_matches_r(rot):
    """R: p1 <- mean(t); w_ate_stab <- ifelse(t == 1, p1/ps, (1 - p1)/(1 - ps))."""
    ps, t, ref = rot
    res = quiet(ps, t, estimand="ATE", stabilize=True)
    np.testing.assert_allclose(res.weights, ref["weights"]["ATE_stabilized"], atol=1e-6)


def test_kish_ess_matches_r(rot):
    """R: kish(w_ate[t == 1]), kish(w_ate[t == 0]), kish(w_ato[...])."""
    ps, t, ref = rot
    for estimand in ("ATE", "ATO"):
        d = quiet(ps, t, estimand=estimand).diagnostics.set_index("arm")
        assert d.loc["treated", "ess"] == pytest.approx(ref["kish_ess"][f"{estimand}_treated"], abs=1e-6)
        assert d.loc["control", "ess"] == pytest.approx(ref["kish_ess"][f"{estimand}_control"], abs=1e-6)


def test_top_share_and_ess_closed_form():
    w = np.r_[np.ones(199), 101.0]
    assert top_share(w) == pytest.approx((101 + 1) / 300)  # ceil(0.01 * 200) = 2 largest weights
    assert kish_ess(w) == pytest.approx(300 ** 2 / (199 + 101 ** 2))


def test_crump_bounds_fixed_point_and_brute_force(rot):
    """Crump et al. (2009): alpha minimizes E[g | A] / P(A), A = {alpha <= e <= 1 - alpha}, g = 1/(e(1-e)),
    and gamma = 1/(alpha(1-alpha)) solves gamma = 2 E[g | g <= gamma]. Checked by brute force over every
    candidate alpha (each observed min(e, 1-e))."""
    ps, _, _ = rot
    lo, hi = crump_bounds(ps)
    assert hi == pytest.approx(1 - lo)
    g = 1 / (ps * (1 - ps))
    gamma = 1 / (lo * (1 - lo))
    assert gamma == pytest.approx(2 * g[g <= gamma].mean(), rel=1e-12)
    m = np.minimum(ps, 1 - ps)
    best = min(np.unique(m), key=lambda a: g[m >= a].mean() / np.mean(m >= a))
    kept = (ps >= lo) & (ps <= hi)
    np.testing.assert_array_equal(kept, m >= best)


def test_crump_no_trimming_when_overlap_good():
    ps = np.linspace(0.3, 0.7, 50)
    assert crump_bounds(ps) == (0.0, 1.0)


def test_trim_range_counts_and_zero_weights(rot):
    ps, t, _ = rot
    res = quiet(ps, t, estimand="ATE", trim=(0.05, 0.95))
    out = (ps < 0.05) | (ps > 0.95)
    assert res.n_trimmed == {"treated": int(np.sum(out & (t == 1))), "control": int(np.sum(out & (t == 0)))}
    assert np.all(res.weights[out] == 0) and np.all(res.weights[~out] > 0)
    np.testing.assert_array_equal(res.kept, ~out)


def test_truncation_counts(rot):
    ps, t, _ = rot
    raw = quiet(ps, t, estimand="ATE").weights
    res = quiet(ps, t, estimand="ATE", truncate=(1, 99))
    lo, hi = np.percentile(raw, [1, 99])
    assert res.truncate_bounds == pytest.approx((lo, hi))
    changed = (raw < lo) | (raw > hi)
    assert res.n_truncated == {"treated": int(np.sum(changed & (t == 1))),
                               "control": int(np.sum(changed & (t == 0)))}
    np.testing.assert_allclose(res.weights, np.clip(raw, lo, hi))


def test_unknown_estimand_message():
    msg = ("compute_weights: estimand must be one of ['ATE', 'ATT', 'ATC', 'ATO', 'matching'] (got 'ATX'). "
           "Pick one of these.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        compute_weights([0.5, 0.5], [0, 1], estimand="ATX")


def test_stabilize_only_for_ate():
    msg = ("compute_weights: stabilize=True is only defined for estimand ['ATE'] (got estimand='ATO'). "
           "Set stabilize=False; ATO weights need no stabilization.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        compute_weights([0.5, 0.5], [0, 1], estimand="ATO", stabilize=True)
    assert [k for k, v in ESTIMANDS.items() if v["stabilize_ok"]] == ["ATE"]


def test_positivity_error_at_exact_zero():
    msg = ("compute_weights: 1 propensity scores are exactly 0 or 1, so ATE weights are undefined (got 1 of 3). "
           "Use analysis.weights.trim: crump, analysis.survival.estimands: [ATO], or revise the propensity model.")
    with pytest.raises(PositivityError, match=re.escape(msg)):
        compute_weights([0.0, 0.5, 0.4], [0, 1, 0], estimand="ATE")
    with pytest.warns(PositivityWarning):
        res = compute_weights([0.0, 0.5, 0.4], [0, 1, 0], estimand="ATO")  # overlap weights stay defined
    assert res.weights[0] == 0.0


def test_extreme_weight_warning_message():
    ps = np.r_[np.full(30, 0.5), 0.015]  # treated weights 2 (x15) and 66.7: mean 6.04, ratio 11.0
    t = np.r_[np.tile([0, 1], 15), 1]
    msg = ("compute_weights: 1 patients in arm 'treated' have weights above 10 times the arm mean (got max "
           "11.0 times; ESS 2.1 of 16). Consider analysis.weights.trim: crump, analysis.weights.truncate: [1, 99] or "
           "analysis.survival.estimands: [ATO].")
    with pytest.warns(ExtremeWeightWarning, match=re.escape(msg)):
        res = compute_weights(ps, t, estimand="ATE")
    assert msg in res.warnings


def test_positivity_warning_counts():
    with pytest.warns(PositivityWarning, match=re.escape("(got 1 in arm 'treated', 1 in arm 'control'). Check "
                                                         "overlap; consider analysis.weights.trim: crump or "
                                                         "analysis.survival.estimands: [ATO].")):
        compute_weights([0.005, 0.5, 0.5, 0.995], [1, 0, 1, 0], estimand="ATO")


def test_weight_warnings_name_the_study_arms(default_config):
    """A study's warnings name its arms (rotterdam's run said "in arm 'treated'" and "(got 0 treated, 35
    control)"); the fix is in YAML syntax (was "trim='crump' or estimand='ATO'")."""
    from gistcausal.analysis.iptw import configured_weights

    tr = default_config.treatment
    a, b = tr.label(tr.treated), tr.label(tr.control)
    ps = np.r_[np.full(30, 0.5), 0.005]
    t = np.r_[np.tile([0, 1], 15), 1]
    with pytest.warns(ExtremeWeightWarning, match=re.escape(f"1 patients in arm {a!r} have weights above")):
        with pytest.warns(PositivityWarning, match=re.escape(f"(got 1 in arm {a!r}, 0 in arm {b!r})")):
            configured_weights(default_config, ps, t, estimand="ATE", stabilize=False, truncate=None, trim=None)


def test_result_exports(rot):
    ps, t, _ = rot
    res = quiet(ps, t, estimand="ATE", trim="crump")
    d = res.to_dict()
    json.dumps(d)
    assert "weights" not in d and len(d["diagnostics"]) == 3
    assert list(res.to_frame().arm) == ["treated", "control", "overall"]
    assert "ESS" in res.summary()


scores = st.lists(st.floats(0.02, 0.98), min_size=6, max_size=60)


@st.composite
def ps_and_t(draw):
    ps = np.array(draw(scores))
    t = np.array(draw(st.lists(st.integers(0, 1), min_size=len(ps), max_size=len(ps))))
    t[0], t[1] = 0, 1
    return ps, t


@settings(max_examples=40, deadline=None)
@given(data=ps_and_t(), estimand=st.sampled_from(list(ESTIMANDS)), stabilize=st.booleans())
def test_property_positive_finite_and_inputs_not_mutated(data, estimand, stabilize):
    ps, t = data
    ps0, t0 = ps.copy(), t.copy()
    res = quiet(ps, t, estimand=estimand, stabilize=stabilize and estimand == "ATE")
    assert np.all(np.isfinite(res.weights)) and np.all(res.weights > 0)
    np.testing.assert_array_equal(ps, ps0)
    np.testing.assert_array_equal(t, t0)


@settings(max_examples=40, deadline=None)
@given(data=ps_and_t())
def test_property_ate_normalized_arms_sum_to_n(data):
    ps, t = data
    res = quiet(ps, t, estimand="ATE", normalize="target")
    assert res.weights[t == 1].sum() == pytest.approx(len(t))
    assert res.weights[t == 0].sum() == pytest.approx(len(t))
    arm = quiet(ps, t, estimand="ATE", normalize="arm")
    assert arm.weights[t == 1].sum() == pytest.approx(t.sum())


@settings(max_examples=40, deadline=None)
@given(data=ps_and_t())
def test_property_stabilization_rescales_arms_by_marginal_probability(data):
    """Stabilized ATE weights = unstabilized times P(T = t) (Robins et al. 2000); ESS is scale-free."""
    ps, t = data
    raw = quiet(ps, t, estimand="ATE")
    stab = quiet(ps, t, estimand="ATE", stabilize=True)
    p1 = t.mean()
    np.testing.assert_allclose(stab.weights, raw.weights * np.where(t == 1, p1, 1 - p1))
    np.testing.assert_allclose(stab.diagnostics.ess[:2], raw.diagnostics.ess[:2])


@settings(max_examples=40, deadline=None)
@given(data=ps_and_t())
def test_property_att_treated_weight_one_and_ato_bounded(data):
    ps, t = data
    assert np.all(quiet(ps, t, estimand="ATT").weights[t == 1] == 1.0)
    assert np.all(quiet(ps, t, estimand="ATC").weights[t == 0] == 1.0)
    ato = quiet(ps, t, estimand="ATO").weights
    assert np.all(ato < 1.0)
    assert np.all(quiet(ps, t, estimand="matching").weights <= 1.0 + 1e-12)


def test_exact_weights_balance_the_score_closed_form():
    """If a covariate determines the score, x = e: sum_t w e = sum_c w e exactly in expectation; for the
    ATO weights it holds exactly in every sample for logistic-fitted scores (Li et al. 2018, Thm 3) --
    here checked in its population form with a discrete x and e(x) equal to the arm share within x."""
    x = np.repeat([0.2, 0.5, 0.8], [10, 20, 10])
    t = np.r_[np.r_[np.ones(2), np.zeros(8)], np.r_[np.ones(10), np.zeros(10)], np.r_[np.ones(8), np.zeros(2)]]
    for estimand in ESTIMANDS:
        w = quiet(x, t.astype(int), estimand=estimand).weights
        m1 = np.sum(w[t == 1] * x[t == 1]) / w[t == 1].sum()
        m0 = np.sum(w[t == 0] * x[t == 0]) / w[t == 0].sum()
        assert m1 == pytest.approx(m0, abs=1e-12), estimand


@pytest.mark.parametrize("estimand,stabilize,trim,truncate", [
    ("ATE", True, None, (1, 99)), ("ATT", False, (0.05, 0.95), None), ("ATO", False, "crump", (5, 95)),
    ("matching", False, None, None)])
def test_weight_values_is_compute_weights_arithmetic(rot, estimand, stabilize, trim, truncate):
    """compute_weights and the bootstrap share one arithmetic (weight_values): identical weights and counts."""
    ps, t, _ = rot
    res = quiet(ps, t, estimand=estimand, stabilize=stabilize, trim=trim, truncate=truncate)
    v = weight_values(ps, t, estimand=estimand, stabilize=stabilize, trim=trim, truncate=truncate)
    np.testing.assert_array_equal(v.weights, res.weights)
    np.testing.assert_array_equal(v.kept, res.kept)
    assert v.trim_bounds == res.trim_bounds and v.truncate_bounds == res.truncate_bounds
    assert int(v.truncated.sum()) == sum(res.n_truncated.values())


def test_weight_values_raises_positivity_and_empty_arm():
    with pytest.raises(PositivityError):
        weight_values(np.array([0.0, 0.5, 0.4]), np.array([0, 1, 0]), estimand="ATE")
    with pytest.raises(DataError, match="arm 'treated' has no patients after trimming"):
        weight_values(np.array([0.2, 0.99, 0.4]), np.array([0, 1, 0]), estimand="ATE", trim=(0.1, 0.9))


def test_truncation_reports_raised_and_lowered(rot):
    """Issue 18 ("Also"): truncation says how many weights it raised to the low bound and lowered to the high."""
    ps, t, _ = rot
    raw = quiet(ps, t, estimand="ATE").weights
    res = quiet(ps, t, estimand="ATE", truncate=(5, 90))
    lo, hi = np.percentile(raw, [5, 90])
    for arm, code in (("treated", 1), ("control", 0)):
        assert res.n_raised[arm] == int(np.sum((raw < lo) & (t == code)))
        assert res.n_lowered[arm] == int(np.sum((raw > hi) & (t == code)))
        assert res.n_raised[arm] + res.n_lowered[arm] == res.n_truncated[arm]
    assert res.to_dict()["n_raised"] == res.n_raised
    assert f"({sum(res.n_raised.values())} raised, {sum(res.n_lowered.values())} lowered)" in res.summary()
    plain = quiet(ps, t, estimand="ATE")
    assert plain.n_raised == {"treated": 0, "control": 0} == plain.n_lowered


def test_diagnostics_report_weight_sd(rot):
    ps, t, _ = rot
    res = quiet(ps, t, estimand="ATE")
    d = res.diagnostics.set_index("arm")
    assert d.loc["overall", "sd"] == pytest.approx(np.std(res.weights, ddof=1), rel=1e-12)
    assert d.loc["treated", "sd"] == pytest.approx(np.std(res.weights[t == 1], ddof=1), rel=1e-12)


def test_issue_17_weights_without_diagnostics():
    """diagnostics=False (plasmode replicates) leaves the diagnostics table without rows; weights, counts and
    warnings are those of the full call."""
    rng = np.random.default_rng(17)
    ps = rng.uniform(0.005, 0.995, 500)
    t = (rng.uniform(size=500) < ps).astype(int)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        full = compute_weights(ps, t, estimand="ATE", truncate=(1, 99))
        lean = compute_weights(ps, t, estimand="ATE", truncate=(1, 99), diagnostics=False)
    np.testing.assert_array_equal(lean.weights, full.weights)
    np.testing.assert_array_equal(lean.kept, full.kept)
    assert (lean.n_truncated, lean.n_trimmed, lean.warnings) == (full.n_truncated, full.n_trimmed, full.warnings)
    assert lean.diagnostics.empty and list(lean.diagnostics.columns) == list(full.diagnostics.columns)
    assert len(full.diagnostics) == 3
