"""The small-sample (Mancl-DeRouen) corrected M-estimation sandwich, ``variance: m_estimation_corrected``.

Reference: tests/reference/small_sample/make_small_sample.R -> small_sample.json, made with R's glm, hatvalues,
survival (coxph dfbeta residuals, survfit influence) and clubSandwich::vcovCR(type = "CR3", cluster = patient);
the uncorrected stacked SEs it computes by hand equal delicatessen's (tests/reference/inference) to 1e-9.
"""
from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

from gistcausal.analysis.iptw import causal_fit, m_estimation_estimates
from gistcausal.analysis.variance import with_variance
from gistcausal.design.config import config_from_dict
from gistcausal.errors import ConfigError
from gistcausal.stats.logistic import logistic_newton
from gistcausal.inference.mestimation import (dlog_weights, m_estimation_survival, md_corrected,
                                             ps_leverage)

from ..conftest import REFERENCE

REF = REFERENCE / "small_sample"


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "small_sample.json").read_text())


@pytest.fixture(scope="module")
def data():
    df = pd.read_csv(REF / "small_sample_data.csv")
    X = np.c_[np.ones(len(df)), df["x1"], df["x2"]]
    return df, X


def _get(ests, measure, time=None):
    for e in ests:
        if e.measure == measure and " vs " in e.contrast and (time is None or e.time == time):
            return e
    raise KeyError(measure)


def test_ps_block_equals_clubsandwich_cr3(ref, data):
    """R: vcovCR(glm(treatment ~ x1 + x2, binomial), cluster = seq_len(n), type = "CR3") (clubSandwich 0.5.8),
    Mancl & DeRouen's estimator for clusters of one; hatvalues(glm) are the leverages."""
    df, X = data
    a = df["treatment"].to_numpy(float)
    gamma = logistic_newton(X, a)[0]
    e = special.expit(X @ gamma)
    h = ps_leverage(X, e)
    assert h == pytest.approx(np.asarray(ref["hatvalues"]), abs=1e-9)
    assert h.sum() == pytest.approx(X.shape[1], abs=1e-9)
    if_gamma, _ = dlog_weights(X, a, e, estimand="ATE")
    corrected = md_corrected(if_gamma, h)
    assert corrected.T @ corrected == pytest.approx(np.asarray(ref["ps_vcov_cr3"]), abs=1e-9)


@pytest.mark.parametrize("estimand,stabilize", [("ATE", True), ("ATT", False)])
def test_corrected_sandwich_matches_r(ref, data, estimand, stabilize):
    """By-hand R (make_small_sample.R): IF_i = D_i + G IF_gamma,i with D_i from coxph(..., weights = w,
    robust = TRUE, ties = "efron") dfbeta residuals and survfit(..., weights = w, influence = TRUE); the
    corrected SE sqrt(sum {IF_i / (1 - h_i)}^2) and qt(0.975, n - q) intervals. Relative 1e-6."""
    df, X = data
    c = ref["cases"][estimand]
    ests = m_estimation_survival(df["time"], df["event"], df["treatment"], X, outcome="y", estimand=estimand,
                                 stabilize=stabilize, landmarks=[ref["landmark"]], horizon=ref["horizon"],
                                 arm_labels=("c", "t"), small_sample=True)
    mine = {"hr": _get(ests, "hr"), "surv_diff": _get(ests, "surv_diff", ref["landmark"]),
            "rmst_diff": _get(ests, "rmst_diff", ref["horizon"])}
    for name, e in mine.items():
        r = c[name]
        log = name == "hr"
        value = math.log(e.value) if log else e.value
        lo, hi = (math.log(e.ci_low), math.log(e.ci_high)) if log else (e.ci_low, e.ci_high)
        assert value == pytest.approx(r["estimate"], rel=1e-6), name
        assert e.extra["se_weights_known"] == pytest.approx(r["se_weights_known"], rel=1e-6), name
        assert e.se == pytest.approx(r["se_corrected"], rel=1e-6), name
        assert (lo, hi) == pytest.approx((r["ci_low"], r["ci_high"]), rel=1e-6), name
        assert e.p == pytest.approx(r["p"], rel=1e-6), name
        assert e.extra["df"] == r["df"] and e.variance == "m_estimation_corrected"
    plain = m_estimation_survival(df["time"], df["event"], df["treatment"], X, outcome="y", estimand=estimand,
                                  stabilize=stabilize, landmarks=[ref["landmark"]], horizon=ref["horizon"],
                                  arm_labels=("c", "t"))
    assert _get(plain, "hr").se == pytest.approx(c["hr"]["se_m_estimation"], rel=1e-6)


def test_leverage_cap_bounds_the_correction():
    """Fay & Graubard's bound b = 0.75: a leverage of 1 multiplies the term by 4, not infinity."""
    full = np.ones((3, 2))
    out = md_corrected(full, np.array([0.0, 0.5, 1.0]))
    assert out[:, 0] == pytest.approx([1.0, 2.0, 4.0])


def test_issue_20_corrected_variance_in_the_configured_analysis(default_config, default_cohort):
    """The study's cohort (n = 110, 12 propensity parameters): the corrected SE exceeds the plain sandwich's,
    the point estimates are unchanged, and with_variance states the method on every swapped row."""
    cfg, frame = default_config, default_cohort.frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = m_estimation_estimates(cfg, frame, outcome="pfs", estimand="ATE")
        corr = m_estimation_estimates(cfg, frame, outcome="pfs", estimand="ATE", small_sample=True)
        cf = causal_fit(cfg, frame, outcome="pfs", estimand="ATE")
        comp, boot = with_variance(cfg, frame, cf.comparison, outcome="pfs", estimand="ATE",
                                   variance="m_estimation_corrected")
    for p, c in zip(plain, corr):
        assert (p.measure, p.contrast, p.value) == (c.measure, c.contrast, c.value)
        if math.isfinite(p.se) and p.se > 0:
            assert c.se > p.se
    assert _get(corr, "hr").extra["df"] == len(frame) - 13   # 12 design columns + p1 (stabilized)
    assert boot is None
    by = {e.measure: e.variance for e in comp.estimates}
    assert by["hr"] == "m_estimation_corrected" and by["median"] == "robust"


def test_config_accepts_corrected_and_refuses_truncation(default_config):
    raw = default_config.model_dump(mode="json", exclude_none=False)
    raw["analysis"]["survival"]["variance"] = "m_estimation_corrected"
    cfg = config_from_dict(raw)
    assert cfg.analysis.survival.variance == "m_estimation_corrected"
    raw["analysis"]["weights"]["truncate"] = [1.0, 99.0]
    msg = ("analysis.survival.variance 'm_estimation_corrected' needs propensity.method 'logistic' and no "
           "weights.truncate (got method: logistic, truncate: [1, 99]); use `variance: bootstrap` for other "
           "propensity models or truncated weights")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        config_from_dict(raw)
