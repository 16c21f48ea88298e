"""Tests of gistcausal.stats.cox against R (tests/reference/cox/make_cox.R) and properties."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gistcausal.stats.cox import (
    cox_coef, cox_dfbeta, cox_fit, cox_influence, cox_newton, cox_pieces, cox_prepare, cox_score_residuals,
    cox_zph, schoenfeld_residuals, cox_fit_detail, _transform_sorted, _transform_times,
)
from gistcausal.errors import DataError, ModelFitError

HERE = Path(__file__).parents[1] / "reference"
TOL = 1e-6  # deterministic vs R; our Newton-Raphson stops tighter than R's 1e-9 loglik criterion
COVS = ["hormon", "age", "meno", "size2", "size3", "grade", "nodes", "pgr", "er", "chemo"]

# JSON key -> (dataset, time column, covariates, weighted, ties)
CASES = {
    "rot_arm_months_w": ("rot", "time", ["hormon"], True, "efron"),
    "rot_arm_days_w": ("rot", "rtime", ["hormon"], True, "efron"),
    "rot_multi_months_w": ("rot", "time", COVS, True, "efron"),
    "rot_multi_days_w": ("rot", "rtime", COVS, True, "efron"),
    "rot_multi_months_u": ("rot", "time", COVS, False, "efron"),
    "rot_multi_months_w_breslow": ("rot", "time", COVS, True, "breslow"),
    "ties_w_efron": ("ties", "time", ["group", "x"], True, "efron"),
    "ties_w_breslow": ("ties", "time", ["group", "x"], True, "breslow"),
    "ties_u_efron": ("ties", "time", ["group", "x"], False, "efron"),
}


@pytest.fixture(scope="session")
def ref() -> dict:
    return json.loads((HERE / "cox" / "cox.json").read_text())


@pytest.fixture(scope="session")
def data() -> dict[str, pd.DataFrame]:
    return {"rot": pd.read_csv(HERE / "survival" / "rotterdam.csv"),
            "ties": pd.read_csv(HERE / "survival" / "ties.csv")}


def _args(data, key):
    ds, tcol, covs, weighted, ties = CASES[key]
    d = data[ds]
    return (d[tcol], d["event"], d[covs]), {"weights": d["w"] if weighted else None, "ties": ties}


@pytest.mark.parametrize("key", list(CASES))
def test_cox_matches_coxph(ref, data, key):
    """R: coxph(Surv(time, event) ~ covariates, data, weights = w, robust = TRUE, ties = ...);
    model SE sqrt(diag(fit$naive.var)), robust SE sqrt(diag(fit$var)); zero weights removed first
    (coxph refuses them), which cox_fit does itself."""
    args, kw = _args(data, key)
    fit = cox_fit(*args, **kw)
    r = ref[key]
    assert list(fit.names) == list(np.atleast_1d(r["names"]))  # auto_unbox: length 1 -> scalar
    np.testing.assert_allclose(fit.coef, r["coef"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.se, r["se"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.robust_se, r["robust_se"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.loglik, r["loglik"], rtol=0, atol=TOL)
    assert fit.score_test == pytest.approx(r["score"], abs=TOL)
    assert fit.n == r["n"] and fit.n_event == r["nevent"]
    assert fit.variance == ("robust" if kw["weights"] is not None else "model")


@pytest.mark.parametrize("transform", ["km", "identity", "rank"])
@pytest.mark.parametrize("key", list(CASES))
def test_cox_zph_matches_r(ref, data, key, transform):
    """R: cox.zph(fit, transform = transform)$table (survival 3.5-3, score-test form)."""
    args, kw = _args(data, key)
    z = cox_zph(*args, **kw, transform=transform)
    r = ref[key]["zph"][transform]
    assert [*z.names, "GLOBAL"] == r["terms"]
    # chi-squares of order 10-100 on rotterdam: 1e-6 relative to the statistic
    np.testing.assert_allclose(z.chisq, r["chisq"], rtol=1e-6, atol=TOL)
    np.testing.assert_allclose(z.p, r["p"], rtol=1e-6, atol=TOL)
    np.testing.assert_array_equal(z.df, r["df"])
    # the coefficients of a fit of the same data are used as given, with the same result (no refit)
    fit = cox_fit(*args, **kw)
    z2 = cox_zph(*args, **kw, transform=transform, coef=fit.coef)
    np.testing.assert_allclose(z2.chisq, r["chisq"], rtol=1e-6, atol=TOL)
    moved = cox_zph(*args, **kw, transform=transform, coef=fit.coef + 0.05)
    assert not np.allclose(moved.chisq, z.chisq)  # the given coefficients are what is tested at


@pytest.mark.parametrize("key", ["rot_arm_months_w", "ties_w_efron"])
def test_scaled_schoenfeld_matches_r(ref, data, key):
    """R: z <- cox.zph(fit); z$time, z$x, z$y (scaled Schoenfeld residuals, events in time order)."""
    args, kw = _args(data, key)
    sr = schoenfeld_residuals(*args, **kw)
    r = ref[key]["zph_resid"]
    np.testing.assert_allclose(sr["time"], r["time"], atol=TOL)
    np.testing.assert_allclose(sr["gtime"], r["x"], atol=TOL)
    for j, col in enumerate(sr.columns[2:]):
        np.testing.assert_allclose(sr[col], r["y"][j], atol=TOL)


def test_robust_se_uses_efron_ties(ref, data):
    """Breslow-style score residuals (the lifelines robust-SE trap) would not give R's robust SE."""
    args, kw = _args(data, "ties_w_efron")
    efron = cox_fit(*args, **kw)
    breslow = cox_fit(*args, weights=kw["weights"], ties="breslow")
    assert abs(efron.robust_se[0] - breslow.robust_se[0]) > 1e-3
    assert efron.robust_se[0] == pytest.approx(ref["ties_w_efron"]["robust_se"][0], abs=TOL)


def test_arm_without_events_not_estimable():
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([1, 1, 1, 0, 0, 0])
    arm = np.array([1, 1, 1, 0, 0, 0])
    with pytest.raises(ModelFitError, match=re.escape(
            "cox_fit: hazard ratio for 'x1' not estimable: no events among patients with x1 = 0 (0 events at 0, "
            "3 events at 1). Report the event counts instead of a hazard ratio, or lengthen follow-up.")):
        cox_fit(t, e, arm)
    # in a report with small-cell suppression the event counts are suppressed, the level's value is not
    from gistcausal.design.disclosure import suppress_text

    with pytest.raises(ModelFitError) as err:
        cox_fit(t, e, 1 - arm)
    assert suppress_text(str(err.value), 5) == (
        "cox_fit: hazard ratio for 'x1' not estimable: no events among patients with x1 = 1 (<5 events at 0, 0 events "
        "at 1). Report the event counts instead of a hazard ratio, or lengthen follow-up.")


def test_no_events_message():
    with pytest.raises(ModelFitError, match=re.escape(
            "cox_fit: no events (got 0 events in 3 patients). A hazard ratio needs events; report "
            "the follow-up instead.")):
        cox_fit([1.0, 2.0, 3.0], [0, 0, 0], [0, 1, 1])


def test_nan_covariate_message():
    with pytest.raises(DataError, match=re.escape(
            "cox_fit: covariates must be finite (got 1 missing or infinite values). Impute or drop "
            "these rows first.")):
        cox_fit([1.0, 2.0, 3.0], [1, 0, 1], [0, np.nan, 1])


def test_zero_weights_equal_dropping_rows(data):
    d = data["ties"]
    a = cox_fit(d.time, d.event, d[["group", "x"]], weights=d.w)
    pos = d[d.w > 0]
    b = cox_fit(pos.time, pos.event, pos[["group", "x"]], weights=pos.w)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-12)
    np.testing.assert_allclose(a.robust_se, b.robust_se, atol=1e-12)


@st.composite
def cox_data(draw, distinct: bool):
    n = draw(st.integers(8, 30))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, n)
    arm[:2] = [0, 1]
    x = rng.normal(size=n)
    t = rng.exponential(1, n) * np.exp(-0.5 * arm) if distinct else rng.integers(1, 6, n).astype(float)
    e = (rng.random(n) < 0.8).astype(float)
    e[:2] = 1
    w = rng.integers(1, 4, n).astype(float)
    return t, e, np.c_[arm, x], w


@pytest.mark.filterwarnings("ignore::gistcausal.errors.ConvergenceWarning")
@settings(max_examples=25, deadline=None)
@given(cox_data(distinct=False))
def test_integer_weights_equal_replication_breslow(d):
    t, e, x, w = d
    rep = np.repeat(np.arange(t.size), w.astype(int))
    try:
        a = cox_fit(t, e, x, weights=w, ties="breslow")
    except ModelFitError:
        return  # separation in a tiny sample: replicated rows would be separated as well
    if not a.converged:
        return  # monotone likelihood (coefficient -> infinity): nothing finite to compare
    b = cox_fit(t[rep], e[rep], x[rep], ties="breslow")
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore::gistcausal.errors.ConvergenceWarning")
@settings(max_examples=25, deadline=None)
@given(cox_data(distinct=True))
def test_integer_weights_equal_replication_efron_distinct_times(d):
    t, e, x, w = d
    rep = np.repeat(np.arange(t.size), w.astype(int))
    try:
        a = cox_fit(t, e, x, weights=w)
    except ModelFitError:
        return
    if not a.converged:
        return  # monotone likelihood
    # replicated rows create ties; Breslow on them equals the weighted fit with distinct times
    b = cox_fit(t[rep], e[rep], x[rep], ties="breslow")
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore::gistcausal.errors.ConvergenceWarning")
@settings(max_examples=25, deadline=None)
@given(cox_data(distinct=False), st.floats(0.01, 100), st.randoms(use_true_random=False))
def test_cox_invariant_to_order_and_weight_scale(d, c, rnd):
    t, e, x, w = d
    w = w / 3.0 + 0.1
    perm = np.array(rnd.sample(range(t.size), t.size))
    try:
        a = cox_fit(t, e, x, weights=w)
    except ModelFitError:
        return
    if not a.converged:
        return  # monotone likelihood
    b = cox_fit(t[perm], e[perm], x[perm], weights=c * w[perm])
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.robust_se, b.robust_se, rtol=1e-6, atol=1e-8)


def test_monotone_likelihood_warns_infinite_coefficient():
    # events in both arms, but every arm-0 patient dies before any arm-1 patient: beta -> -infinity
    t = np.array([1.0, 2, 3, 4, 5, 6])
    e = np.array([1, 1, 1, 1, 0, 1])
    arm = np.array([1, 1, 1, 0, 0, 0])
    from gistcausal.errors import ConvergenceWarning
    with pytest.warns(ConvergenceWarning, match=re.escape(
            "cox_fit: the coefficient of ['x1'] may be infinite (got a log-likelihood that converged "
            "while the coefficient kept moving: monotone likelihood). Treat the hazard ratio as not "
            "estimable; check events per level.")):
        fit = cox_fit(t, e, arm)
    assert not fit.converged


def test_schoenfeld_plot_returns_axes(data):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gistcausal.present.plots.km import plot_schoenfeld
    d = data["ties"]
    sr = schoenfeld_residuals(d.time, d.event, d[["group", "x"]], weights=d.w)
    fig, ax = plt.subplots()
    assert plot_schoenfeld(sr, term="group", ax=ax) is ax
    assert len(ax.collections[0].get_offsets()) == int(d.event[d.w > 0].sum())
    plt.close(fig)


@pytest.mark.parametrize("key", ["rot_arm_months_w", "ties_w_efron"])
def test_cox_newton_is_cox_fits_iteration(data, key):
    """The bootstrap's Cox path (cox_prepare + cox_newton) is cox_fit's own Newton-Raphson: same coefficients
    and iteration count."""
    (t, e, x), kw = _args(data, key)
    fit = cox_fit(t, e, x, **kw)
    w = np.ones(len(t)) if kw["weights"] is None else kw["weights"].to_numpy(float)
    keep = w > 0
    s = cox_prepare(t.to_numpy(float)[keep], e.to_numpy(float)[keep], w[keep], x.to_numpy(float)[keep],
                    kw["ties"])
    nt = cox_newton(s)
    np.testing.assert_array_equal(nt.beta, fit.coef)
    assert nt.converged and nt.iterations == fit.iterations
    assert nt.initial.loglik == fit.loglik[0] and nt.pieces.loglik == fit.loglik[1]


# ------------------------------------------------------------------------------------------- fast paths (issue 17)
@pytest.mark.parametrize("key", list(CASES))
def test_cox_coef_equals_cox_fit_coefficients(data, key):
    """cox_coef (coefficients only, for the CCW censoring models) is cox_fit's estimate, with and without a
    precomputed order and a warm start; zero weights are dropped as cox_fit drops them."""
    args, kw = _args(data, key)
    fit = cox_fit(*args, **kw)
    np.testing.assert_allclose(cox_coef(*args, **kw), fit.coef, rtol=0, atol=1e-10)
    order = np.argsort(args[0].to_numpy(float), kind="stable")
    warm = cox_coef(*args, **kw, order=order, beta0=fit.coef + 0.05)
    np.testing.assert_allclose(warm, fit.coef, rtol=0, atol=1e-10)


def test_cox_coef_order_with_zero_weights(data):
    """A caller's order over all rows is renumbered among the rows kept (zero weights dropped)."""
    args, kw = _args(data, "rot_arm_months_w")
    w = kw["weights"].to_numpy(float).copy()
    w[::7] = 0.0
    kw["weights"] = w
    order = np.argsort(args[0].to_numpy(float), kind="stable")
    np.testing.assert_allclose(cox_coef(*args, **kw, order=order), cox_fit(*args, **kw).coef, rtol=0, atol=1e-10)


def test_cox_coef_presorted_rows(data):
    """order=slice(None) (rows already in time order: no sort, no copy) is the sorted fit, also when zero
    weights are dropped; ties keep their row order, as the stable sort keeps it."""
    args, kw = _args(data, "rot_arm_months_w")
    o = np.argsort(args[0].to_numpy(float), kind="stable")
    t, e, x = (np.asarray(a)[o] for a in args)
    w = kw["weights"].to_numpy(float)[o].copy()
    kw = {**kw, "weights": w}
    want = cox_fit(t, e, x, **kw).coef
    np.testing.assert_allclose(cox_coef(t, e, x, **kw, order=slice(None)), want, rtol=0, atol=1e-10)
    w[::7] = 0.0
    want = cox_fit(t, e, x, **kw).coef
    np.testing.assert_allclose(cox_coef(t, e, x, **kw, order=slice(None)), want, rtol=0, atol=1e-10)


def test_cox_coef_errors_as_cox_fit():
    with pytest.raises(ModelFitError, match=re.escape("cox_coef: no events (got 0 events in 3 patients).")):
        cox_coef([1.0, 2.0, 3.0], [0, 0, 0], np.array([[0.0], [1.0], [2.0]]))
    with pytest.raises(ModelFitError, match=re.escape("cox_coef: covariate 'x1' is constant (got the single "
                                                      "value 1). Drop it from the model.")):
        cox_coef([1.0, 2.0, 3.0], [1, 0, 1], np.ones((3, 1)))


@pytest.mark.parametrize("key", ["rot_multi_months_w", "ties_w_breslow"])
def test_cox_newton_warm_start_reaches_the_same_maximum(data, key):
    """beta0 (a bootstrap replicate's start from the full-data fit) reaches the same coefficients as the
    start at 0, in fewer iterations, and ``initial`` is the start."""
    (t, e, x), kw = _args(data, key)
    w = np.ones(len(t)) if kw["weights"] is None else kw["weights"].to_numpy(float)
    keep = w > 0
    s = cox_prepare(t.to_numpy(float)[keep], e.to_numpy(float)[keep], w[keep], x.to_numpy(float)[keep],
                    kw["ties"])
    cold = cox_newton(s)
    start = cold.beta * 1.05
    warm = cox_newton(s, beta0=start)
    np.testing.assert_allclose(warm.beta, cold.beta, rtol=0, atol=1e-10)
    assert warm.converged and warm.iterations < cold.iterations
    assert warm.initial.loglik == cox_pieces(s, start).loglik


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_prepare_with_order_is_the_same_data(data, ties):
    d = data["ties"]
    t, e, w, x = (d["time"].to_numpy(float), d["event"].to_numpy(float), d["w"].to_numpy(float),
                  d[["group", "x"]].to_numpy(float))
    keep = w > 0
    t, e, w, x = t[keep], e[keep], w[keep], x[keep]
    a = cox_prepare(t, e, w, x, ties)
    b = cox_prepare(t, e, w, x, ties, order=np.argsort(t, kind="stable"))
    for f in ("x", "w", "d", "t", "start", "idx", "nd", "wd", "dt", "rep", "frac"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


@pytest.mark.parametrize("key", ["rot_multi_months_w", "ties_w_breslow", "ties_w_efron"])
def test_cox_dfbeta_is_the_robust_variance_and_cox_influence(data, key):
    """sum_i D_i D_i' is cox_fit's robust variance, and the rows are cox_influence's (sorted back)."""
    args, kw = _args(data, key)
    fit = cox_fit(*args, **kw, robust=True)
    t, e, x = (a.to_numpy(float) for a in args)
    w = kw["weights"].to_numpy(float)
    keep = w > 0
    s = cox_prepare(t[keep], e[keep], w[keep], x[keep], kw["ties"])
    p = cox_pieces(s, fit.coef)
    D = cox_dfbeta(s, p)
    np.testing.assert_allclose(D.T @ D, fit.var, rtol=1e-10, atol=1e-14)
    plain = (s.w[:, None] * cox_score_residuals(s, p)) @ np.linalg.inv(p.info)
    np.testing.assert_allclose(D, plain, rtol=0, atol=1e-14)
    _, infl = cox_influence(*args, **kw)
    order = np.argsort(t[keep], kind="stable")
    np.testing.assert_allclose(infl[keep][order], D, rtol=0, atol=1e-12)


@pytest.mark.parametrize("col", [[2.0, 2.0, 2.0], [1.0, 0.0, 1.0, 0.0], [0.0, 3.0, 0.0], [0.0, 1.0, 2.0, 1.0],
                                 [0.5, -1.0, 3.0, 0.5, 7.0]])
def test_two_levels_is_what_check_estimable_needs_of_unique(col):
    """_two_levels (O(n)) gives np.unique's levels when there are at most two, and three values otherwise."""
    from gistcausal.stats.cox import _two_levels

    a = np.asarray(col)
    lv, ref = _two_levels(a), np.unique(a)
    if ref.size <= 2:
        np.testing.assert_array_equal(lv, ref)
    else:
        assert lv.size == 3 and np.unique(lv).size == 3 and set(lv) <= set(ref)


@pytest.mark.parametrize("transform", ["km", "identity", "rank", "log"])
@pytest.mark.parametrize("key", list(CASES))
def test_cox_zph_with_detail_equals_the_refitting_path(data, key, transform):
    """cox_zph(detail=cox_fit_detail(...)) reuses the fit's sorted data and pieces at beta-hat; it must give the
    statistics of the default path (which validates, sorts and evaluates the pieces again), and
    cox_fit_detail(...).fit must be cox_fit(...). Rows are shuffled so the sorted data differ from the input."""
    args, kw = _args(data, key)
    perm = np.random.default_rng(3).permutation(len(args[0]))
    args = tuple(a.iloc[perm] for a in args)
    kw = {**kw, "weights": None if kw["weights"] is None else kw["weights"].iloc[perm]}
    assert (args[0].to_numpy(float) > 0).all()  # every reference case can take the log time scale
    detail = cox_fit_detail(*args, **kw)
    plain = cox_fit(*args, **kw)
    for f in ("coef", "se", "robust_se", "var", "p", "ci_low", "ci_high"):
        np.testing.assert_array_equal(getattr(detail.fit, f), getattr(plain, f))
    assert (detail.fit.loglik, detail.fit.score_test) == (plain.loglik, plain.score_test)
    reused = cox_zph(*args, **kw, transform=transform, detail=detail)
    default = cox_zph(*args, **kw, transform=transform, coef=plain.coef)
    refit = cox_zph(*args, **kw, transform=transform)
    # only the mean of g over the events is summed in another order (about 1e-16 relative)
    np.testing.assert_allclose(reused.chisq, default.chisq, rtol=1e-12, atol=0)
    np.testing.assert_allclose(reused.chisq, refit.chisq, rtol=1e-12, atol=0)
    assert reused.names == default.names and reused.transform == transform


@pytest.mark.parametrize("transform", ["km", "identity", "rank", "log"])
def test_transform_sorted_is_transform_times_in_time_order(data, transform):
    """The sort-free time scale of the detail path equals _transform_times taken in time order, exactly."""
    d = data["ties"].sample(frac=1.0, random_state=4)
    t, e, w = d["time"].to_numpy(float), d["event"].to_numpy(float), d["w"].to_numpy(float)
    keep = w > 0
    t, e, w, x = t[keep], e[keep], w[keep], d[["group", "x"]].to_numpy(float)[keep]
    assert (t > 0).all()  # the log time scale is defined for these times
    s = cox_prepare(t, e, w, x, "efron")
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(_transform_sorted(s, transform, "test"),
                                  _transform_times(t, e, transform, "test")[order])


def test_cox_zph_detail_unknown_transform_message(data):
    args, kw = _args(data, "ties_w_efron")
    with pytest.raises(DataError, match=re.escape("cox_zph: `transform` must be one of 'km', 'identity', 'rank', "
                                                  "'log' (got 'bad'). Use 'km', R's default.")):
        cox_zph(*args, **kw, transform="bad", detail=cox_fit_detail(*args, **kw))
