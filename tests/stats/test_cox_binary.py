"""Tests of gistcausal.stats.cox_binary: the one-binary-covariate Cox fit from per-time sums by arm (issue 17)
equals the general path (gistcausal.stats.cox) and, through it, R."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import ConvergenceWarning, DataError, ModelFitError
from gistcausal.stats.cox import cox_fit, cox_fit_detail, cox_zph
from gistcausal.stats.cox_binary import binary_cox_fit_detail, binary_cox_zph

HERE = Path(__file__).parents[1] / "reference"
# both paths compute the same formulas in another order: rounding only (observed <= 1e-13 relative)
REL = 1e-10


def _sim(seed: int, n: int, *, tied: bool, weighted: bool, zero_weights: bool = False):
    rng = np.random.default_rng(seed)
    a = (rng.random(n) < 0.4).astype(float)
    t = rng.exponential(1.0 / np.exp(0.6 * a))
    if tied:
        t = np.ceil(t * 4) / 4          # many deaths share a time, in both arms
    e = (rng.random(n) < 0.7).astype(float)
    w = rng.uniform(0.2, 5.0, n) if weighted else None
    if zero_weights:
        w[rng.random(n) < 0.1] = 0.0
    return t, e, a, w


def _assert_same_fit(general, fast):
    g, f = general.fit, fast.fit
    for name in ("coef", "se", "robust_se", "z", "p", "ci_low", "ci_high", "var"):
        np.testing.assert_allclose(getattr(f, name), getattr(g, name), rtol=REL, atol=0, err_msg=name)
    np.testing.assert_allclose(f.loglik, g.loglik, rtol=REL, atol=0)
    assert f.score_test == pytest.approx(g.score_test, rel=REL, abs=0)
    assert (f.names, f.n, f.n_event, f.ties, f.variance, f.weighted, f.converged, f.iterations) == \
        (g.names, g.n, g.n_event, g.ties, g.variance, g.weighted, g.converged, g.iterations)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("tied", [False, True])
def test_binary_fit_and_zph_equal_the_general_path(ties, weighted, tied):
    t, e, a, w = _sim(11, 1500, tied=tied, weighted=weighted)
    general = cox_fit_detail(t, e, a[:, None], weights=w, ties=ties, names=["treatment"])
    fast = binary_cox_fit_detail(t, e, a, weights=w, ties=ties)
    _assert_same_fit(general, fast)
    assert fast.fit.robust_se[0] != pytest.approx(fast.fit.se[0], rel=1e-3)   # the robust SE is its own number
    for transform in ("km", "identity", "rank", "log"):
        zg = cox_zph(t, e, a[:, None], weights=w, ties=ties, names=["treatment"], transform=transform,
                     detail=general)
        zf = binary_cox_zph(fast, transform=transform)
        np.testing.assert_allclose(zf.chisq, zg.chisq, rtol=REL, atol=0, err_msg=transform)
        np.testing.assert_allclose(zf.p, zg.p, rtol=REL, atol=1e-15, err_msg=transform)
        np.testing.assert_array_equal(zf.df, zg.df)
        assert (zf.names, zf.transform) == (zg.names, zg.transform)


@pytest.mark.parametrize("robust", [None, False, True])
def test_binary_fit_zero_weights_and_robust_choice(robust):
    """Zero-weight rows are dropped before the tie structure is formed (a zero-weight death does not count
    in Efron's d), as cox_fit does; ``robust`` picks the variance as there."""
    t, e, a, w = _sim(5, 800, tied=True, weighted=True, zero_weights=True)
    _assert_same_fit(cox_fit_detail(t, e, a[:, None], weights=w, robust=robust, names=["treatment"]),
                     binary_cox_fit_detail(t, e, a, weights=w, robust=robust))


def test_binary_fit_unsorted_and_presorted_input_agree():
    t, e, a, w = _sim(7, 600, tied=True, weighted=True)
    order = np.argsort(t, kind="stable")
    shuffled = binary_cox_fit_detail(t, e, a, weights=w).fit
    presorted = binary_cox_fit_detail(t[order], e[order], a[order], weights=w[order]).fit
    np.testing.assert_allclose(presorted.coef, shuffled.coef, rtol=1e-12, atol=0)
    np.testing.assert_allclose(presorted.robust_se, shuffled.robust_se, rtol=1e-12, atol=0)


def test_binary_fit_matches_r_through_the_general_path():
    """R: coxph(Surv(time, event) ~ hormon, rotterdam, weights = w, robust = TRUE) (tests/reference/cox/make_cox.R,
    key rot_arm_months_w); zero weights dropped as coxph requires."""
    ref = json.loads((HERE / "cox" / "cox.json").read_text())["rot_arm_months_w"]
    d = pd.read_csv(HERE / "survival" / "rotterdam.csv")
    fit = binary_cox_fit_detail(d["time"], d["event"], d["hormon"], weights=d["w"], name="hormon").fit
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.robust_se, ref["robust_se"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=0, atol=1e-6)
    assert fit.score_test == pytest.approx(ref["score"], abs=1e-6)


def test_issue_17_arm_without_events_same_error_as_cox_fit():
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([1, 1, 1, 0, 0, 0])
    arm = np.array([1, 1, 1, 0, 0, 0])
    with pytest.raises(ModelFitError) as general:
        cox_fit(t, e, arm, names=["treatment"])
    with pytest.raises(ModelFitError, match=re.escape(str(general.value))):
        binary_cox_fit_detail(t, e, arm)


def test_monotone_likelihood_warns_as_cox_fit():
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([1, 1, 1, 1, 0, 1])
    arm = np.array([1, 1, 1, 0, 0, 0])
    with warnings.catch_warnings(record=True) as rec_general:
        warnings.simplefilter("always")
        general = cox_fit_detail(t, e, arm, names=["treatment"])
    with warnings.catch_warnings(record=True) as rec_fast:
        warnings.simplefilter("always")
        fast = binary_cox_fit_detail(t, e, arm)
    assert [(w.category, str(w.message)) for w in rec_fast] == [(w.category, str(w.message)) for w in rec_general]
    assert rec_fast and rec_fast[0].category is ConvergenceWarning
    assert not fast.fit.converged
    # a diverging coefficient (about 32 after 30 iterations): where it stops depends on the rounding of a flat
    # log-likelihood, so only the same region is asserted
    assert fast.fit.coef[0] == pytest.approx(general.fit.coef[0], rel=1e-4)


def test_treatment_not_01_message():
    with pytest.raises(DataError, match=re.escape(
            "binary_cox_fit_detail: `treatment` must be coded 0/1 (got 2 other values). Code the reference arm 0 "
            "and the compared arm 1.")):
        binary_cox_fit_detail([1.0, 2, 3, 4], [1, 1, 1, 1], [0, 2, 2, 1])
