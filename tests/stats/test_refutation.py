"""Tests for gistcausal.stats.refutation: causal graph, pseudo-observation bridge, DoWhy refuters.

Independent checks: leave-one-out Kaplan-Meier values recomputed one patient at a time with lifelines; the
full-sample RMST against gistcausal.stats.km.rmst; the bridged IPW estimate against a direct IPTW RMST
difference (statsmodels logistic propensity score, lifelines weighted Kaplan-Meier).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from gistcausal.errors import ConfigError, DataError
from gistcausal.stats.refutation import (
    PSEUDO_OUTCOME,
    causal_graph,
    graph_to_dot,
    graph_to_gml,
    pseudo_observations,
    refute,
)

NSIM = 10  # small on purpose: keeps the module well under a minute on two cores


def _simulate(seed: int, n: int = 600) -> pd.DataFrame:
    """Confounded synthetic cohort: x1, x2 raise both treatment odds (x1) and hazard; independent censoring."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, n)
    a = rng.binomial(1, 1 / (1 + np.exp(-(0.6 * x1 - 0.8 * x2))))
    t = rng.exponential(1 / (0.08 * np.exp(-0.5 * a + 0.5 * x1 + 0.6 * x2)))
    c = rng.uniform(5, 40, n)
    return pd.DataFrame({"a": a, "x1": x1, "x2": x2, "time": np.minimum(t, c), "event": (t <= c).astype(int)})


@pytest.fixture(scope="session")
def cohort() -> pd.DataFrame:
    return _simulate(3)


@pytest.fixture(scope="session")
def full_run(cohort):
    calls = []
    res = refute(cohort, treatment_col="a", time_col="time", event_col="event", covariates=["x1", "x2"],
                 horizon=12.0, num_simulations=NSIM, random_state=11, outcome="pfs",
                 contrast="sunitinib vs imatinib_escalation", progress=lambda i, n: calls.append((i, n)))
    return res, calls


# ------------------------------------------------------------------------------------ pseudo-values

def _lifelines_theta(t, e, tau, kind):
    k = KaplanMeierFitter().fit(t, e)
    if kind == "rmst":
        return restricted_mean_survival_time(k, t=tau)
    return float(k.survival_function_at_times(tau).iloc[0])


@pytest.mark.parametrize("kind", ["rmst", "surv"])
def test_pseudo_observations_match_leave_one_out_loop_in_lifelines(kind):
    """theta_i = n theta - (n-1) theta_{-i}, with every theta refitted by lifelines' KaplanMeierFitter;
    deterministic, so abs=1e-9. Rounded times make ties, including event/censoring ties and a tie at tau."""
    rng = np.random.default_rng(5)
    n = 40
    t = np.round(rng.exponential(10, n))
    t[0] = 8.0
    e = rng.binomial(1, 0.7, n)
    e[0] = 1
    tau = 8.0
    full = _lifelines_theta(t, e, tau, kind)
    expected = np.array([n * full - (n - 1) * _lifelines_theta(np.delete(t, i), np.delete(e, i), tau, kind)
                         for i in range(n)])
    got = pseudo_observations(t, e.astype(bool), horizon=tau, kind=kind, chunk_cells=7)  # several chunks
    np.testing.assert_allclose(got, expected, atol=1e-9, rtol=0)


def test_full_sample_rmst_agrees_with_survival_module(cohort):
    """The KM inside the bridge equals gistcausal.stats.km.rmst (R survfit rmean formula) at tau = 12.
    The mean of the LOO values recovers theta: n*theta - (n-1)*mean(theta_-i) is the jackknife mean."""
    from gistcausal.stats.km import rmst

    t, e = cohort["time"].to_numpy(), cohort["event"].to_numpy().astype(bool)
    ref = rmst(t, e, horizon=12.0, variance="none").value
    lif = _lifelines_theta(t, e, 12.0, "rmst")
    assert ref == pytest.approx(lif, abs=1e-9)
    # pseudo-values of a constant (no censoring before tau) would equal min(T, tau) exactly:
    pv = pseudo_observations(np.array([3.0, 5.0, 20.0, 30.0]), np.array([True, True, False, True]), horizon=12.0)
    np.testing.assert_allclose(pv, [3.0, 5.0, 12.0, 12.0], atol=1e-12)


# ------------------------------------------------------------------------------------ bridge estimate

def _direct_iptw_rmst_diff(df: pd.DataFrame, tau: float) -> float:
    x = sm.add_constant(df[["x1", "x2"]])
    ps = sm.Logit(df["a"], x).fit(disp=0).predict(x)
    w = np.where(df["a"] == 1, 1 / ps, 1 / (1 - ps))
    out = []
    for arm in (1, 0):
        m = (df["a"] == arm).to_numpy()
        with warnings.catch_warnings():
            # lifelines warns about non-integer weights; they are the point here.
            warnings.simplefilter("ignore")
            k = KaplanMeierFitter().fit(df["time"][m], df["event"][m], weights=w[m])
        out.append(restricted_mean_survival_time(k, t=tau))
    return out[0] - out[1]


def test_bridged_estimate_matches_direct_iptw_rmst_difference(cohort, full_run):
    """Pseudo-observation IPW (DoWhy) vs IPTW-weighted KM RMST difference, same unpenalized logistic PS.

    Both estimate the ATE RMST difference at tau = 12; they differ only in how censoring is handled
    (pooled-KM pseudo-values vs arm-wise weighted KM), asymptotically equivalent under independent
    censoring. Seeds 0-4 gave |difference| <= 0.005 months with SE ~0.39; the tolerance 0.02 months is
    1/20 of the SE and about 1/20 of the confounding bias (naive minus adjusted, 0.47 here) it must
    distinguish.
    """
    res, _ = full_run
    direct = _direct_iptw_rmst_diff(cohort, 12.0)
    assert res.estimate.value == pytest.approx(direct, abs=0.02)
    naive = pseudo_observations(cohort["time"], cohort["event"].astype(bool), horizon=12.0)
    naive_diff = naive[cohort["a"] == 1].mean() - naive[cohort["a"] == 0].mean()
    assert abs(naive_diff - direct) > 0.4  # the confounding the tolerance must be small against
    assert res.estimate.measure == "rmst_diff" and res.estimate.method == "iptw_pseudo"
    assert res.estimate.ci_low < res.estimate.value < res.estimate.ci_high
    assert 0.2 < res.estimate.se < 0.8


# ------------------------------------------------------------------------------------ refuters

def test_refuters_table_readings_and_progress(full_run):
    res, calls = full_run
    t = res.to_frame()
    assert list(t["refuter"]) == ["placebo_treatment", "random_common_cause", "data_subset", "bootstrap",
                                  "add_unobserved_common_cause"]
    assert calls == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    placebo = t.set_index("refuter").loc["placebo_treatment"]
    # permuted treatment: effect near 0 relative to the real one (SE ~0.4 over 10 simulations)
    assert abs(placebo["new_effect"]) < 0.3 * abs(res.estimate.value)
    assert placebo["reading"] == "pass"
    rcc = t.set_index("refuter").loc["random_common_cause"]
    assert rcc["new_effect"] == pytest.approx(res.estimate.value, abs=0.1 * res.estimate.se)
    assert t.loc[t.refuter != "add_unobserved_common_cause", "p_value"].notna().all()
    assert math.isnan(t.set_index("refuter").loc["add_unobserved_common_cause", "p_value"])
    assert set(t["reading"]) <= {"pass", "concern"}


def test_refute_is_reproducible_and_restores_global_rng(cohort):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    kw = dict(treatment_col="a", time_col="time", event_col="event", covariates=["x1", "x2"], horizon=12.0,
              refuters=("data_subset", "bootstrap"), num_simulations=NSIM, random_state=5)
    r1 = refute(cohort, **kw)
    r2 = refute(cohort, **kw)
    pd.testing.assert_frame_equal(r1.to_frame(), r2.to_frame())
    assert np.array_equal(np.random.get_state()[1], before)
    # data_subset must use different subsets per simulation: a spread, not a zero-variance artefact
    assert r1.to_frame().set_index("refuter").loc["data_subset", "p_value"] > 0.0


def test_result_serialises_without_patient_rows(full_run, cohort):
    res, _ = full_run
    d = res.to_dict()
    text = json.dumps(d)
    assert len(d["refuters"]) == 5
    assert "graph_gml" in d and "x1" in d["graph_gml"]
    # no per-patient values: none of the first patients' times appears in the output
    for v in cohort["time"].head(20):
        assert repr(float(v)) not in text
    assert "DoWhy refutation of the IPW RMST difference at 12" in res.summary()
    assert res.estimand == f"backdoor: E[{PSEUDO_OUTCOME} | do(treatment)] identified by adjusting for x1, x2"


def test_surv_bridge_runs(cohort):
    res = refute(cohort, treatment_col="a", time_col="time", event_col="event", covariates=["x1", "x2"],
                 bridge="surv_pseudo", horizon=12.0, refuters=("placebo_treatment",), num_simulations=NSIM)
    assert res.estimate.measure == "surv_diff"
    assert -1.0 < res.estimate.value < 1.0


# ------------------------------------------------------------------------------------ graph and errors

def test_causal_graph_edges_and_text_forms():
    g = causal_graph("arm", "pfs", ["age", "stage"], extra_edges=[("stage", "age")])
    assert set(g.edges) == {("arm", "pfs"), ("age", "arm"), ("age", "pfs"), ("stage", "arm"), ("stage", "pfs"),
                            ("stage", "age")}
    back = nx.parse_gml(graph_to_gml(g))
    assert set(back.edges) == set(g.edges)
    assert '"stage" -> "age";' in graph_to_dot(g)


def test_causal_graph_rejects_cycle_and_unknown_node():
    with pytest.raises(ConfigError, match=re.escape("causal_graph: the graph must be acyclic (got the cycle")):
        causal_graph("arm", "pfs", ["age"], extra_edges=[("pfs", "age")])
    with pytest.raises(ConfigError, match=re.escape(
            "causal_graph: extra edge ('stage', 'agee') must join two of the known nodes")):
        causal_graph("arm", "pfs", ["age", "stage"], extra_edges=[("stage", "agee")])


def test_unknown_refuter_lists_allowed_names(cohort):
    msg = ("refute: refuters must be a non-empty list drawn from 'placebo_treatment', 'random_common_cause', "
           "'data_subset', 'bootstrap', 'add_unobserved_common_cause' (got ['placebo', 'bootstrap']). Remove or "
           "correct the unknown names.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        refute(cohort, treatment_col="a", time_col="time", event_col="event", covariates=["x1"], horizon=12.0,
               refuters=("placebo", "bootstrap"))


def test_bad_horizon_and_treatment(cohort):
    last = cohort["time"].max()
    with pytest.raises(DataError, match=re.escape(f"refute: horizon must lie in (0, {last:g}], the last follow-up "
                                                  f"time (got 999.0). Choose a horizon within follow-up.")):
        refute(cohort, treatment_col="a", time_col="time", event_col="event", covariates=["x1"], horizon=999.0)
    bad = cohort.assign(a=cohort["a"] + 1)
    with pytest.raises(DataError, match=re.escape("refute: column 'a' must be coded 0/1 without missing values")):
        refute(bad, treatment_col="a", time_col="time", event_col="event", covariates=["x1"], horizon=12.0)


# ------------------------------------------------------------------------------------ seeding and names

_REPRO_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
from gistcausal.stats.refutation import refute
rng = np.random.default_rng(8)
n = 300
df = pd.DataFrame({f"c{j}": rng.normal(size=n) for j in range(12)})
df["a"] = rng.binomial(1, 1 / (1 + np.exp(-(0.5 * df.c0 - 0.4 * df.c5))))
t = rng.exponential(1 / (0.08 * np.exp(-0.4 * df.a + 0.3 * df.c0)))
c = rng.uniform(5, 40, n)
df["time"], df["event"] = np.minimum(t, c), (t <= c).astype(int)
r = refute(df, treatment_col="a", time_col="time", event_col="event", covariates=[f"c{j}" for j in range(12)],
           horizon=12.0, refuters=("bootstrap", "data_subset", "add_unobserved_common_cause"), num_simulations=3,
           random_state=21)
sys.stdout.write(json.dumps(r.to_dict()))
"""


def test_refute_is_byte_identical_across_processes_and_hash_seeds():
    """DoWhy keeps the adjustment set in a Python set, whose order changes with PYTHONHASHSEED; before the fix
    the propensity fit (lbfgs stopped early) and the bootstrap refuter's noise followed that order, so two
    runs of the same analysis differed. Same seed, two processes, two hash seeds: the same bytes."""
    import os
    import subprocess
    import sys

    from pathlib import Path

    import gistcausal

    src = str(Path(gistcausal.__file__).parents[1])  # the package under test, not another installed copy
    outs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed,
               "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        outs.append(subprocess.run([sys.executable, "-c", _REPRO_SCRIPT], env=env, capture_output=True, text=True,
                                   check=True).stdout)
    assert outs[0] == outs[1]
    assert len(json.loads(outs[0])["refuters"]) == 3


def test_each_refuter_has_its_own_derived_seed(cohort):
    """A refuter's result does not depend on which other refuters run (seeds from SeedSequence.spawn)."""
    from gistcausal.stats.refutation import refuter_seeds

    kw = dict(treatment_col="a", time_col="time", event_col="event", covariates=["x1", "x2"], horizon=12.0,
              num_simulations=NSIM, random_state=5)
    both = refute(cohort, refuters=("bootstrap", "data_subset"), **kw).to_frame().set_index("refuter")
    alone = refute(cohort, refuters=("data_subset",), **kw).to_frame().set_index("refuter")
    pd.testing.assert_series_equal(both.loc["data_subset"], alone.loc["data_subset"])
    seeds = refuter_seeds(5)
    assert seeds == refuter_seeds(5) and len(set(seeds.values())) == len(seeds)
    assert set(seeds) == {"estimate", "placebo_treatment", "random_common_cause", "data_subset", "bootstrap",
                          "add_unobserved_common_cause"}
    assert set(refuter_seeds(None).values()) == {None}


def test_hostile_covariate_names_reach_dowhy_only_as_generated_names(cohort):
    names = {"x1": 'x") + __import__("os").system("touch PWNED") + ("', "x2": "lambda\n\\ ünï", "a": "C(a)",
             "time": "I(time)", "event": "Q"}
    hostile = cohort.rename(columns=names)
    kw = dict(horizon=12.0, refuters=("placebo_treatment", "add_unobserved_common_cause"), num_simulations=NSIM,
              random_state=2)
    tame = refute(cohort, treatment_col="a", time_col="time", event_col="event", covariates=["x1", "x2"], **kw)
    got = refute(hostile, treatment_col="C(a)", time_col="I(time)", event_col="Q",
                 covariates=[names["x1"], names["x2"]], **kw)
    assert got.estimate.to_dict() == tame.estimate.to_dict()
    pd.testing.assert_frame_equal(got.to_frame(), tame.to_frame())
    assert got.estimand == ("backdoor: E[pseudo_outcome | do(treatment)] identified by adjusting for "
                            + ", ".join(sorted([names["x1"], names["x2"]])))
    assert set(nx.parse_gml(got.graph_gml).nodes) == {"C(a)", PSEUDO_OUTCOME, names["x1"], names["x2"]}


def test_graph_to_dot_escapes_quotes_backslashes_and_newlines():
    g = causal_graph('arm "A"', "pfs", ["back\\slash", "two\nlines"])
    dot = graph_to_dot(g)
    assert '  "arm \\"A\\"" -> "pfs";' in dot
    assert '  "back\\\\slash" -> "arm \\"A\\"";' in dot
    assert '  "two\\nlines";' in dot
    assert len(dot.splitlines()) == 1 + 4 + 5 + 1  # header, nodes, edges, closing brace: no name broke a line


# ------------------------------------------------------------------- fast paths vs DoWhy's own (issue 17)

def _bridge_model(df: pd.DataFrame, estimand: str = "ATE"):
    """DoWhy model and identified estimand of the bridge, as refute() builds them."""
    from dowhy import CausalModel

    from gistcausal.stats.refutation import _bridge_frame, _sort_adjustment_sets

    a = df["a"].to_numpy(int)
    y = pseudo_observations(df["time"].to_numpy(float), df["event"].to_numpy(bool), horizon=12.0)
    g = causal_graph("a", PSEUDO_OUTCOME, ["x1", "x2"])
    bd = _bridge_frame(df, g, treatment_col="a", covs=["x1", "x2"], a=a, y=y)
    model = CausalModel(data=bd.frame.copy(), treatment="treatment", outcome="outcome", graph=bd.gml)
    identified = model.identify_effect(proceed_when_unidentifiable=True)
    _sort_adjustment_sets(identified)
    return model, identified, bd.frame


def test_ordered_logit_newton_equals_sklearn_newton_cholesky(cohort):
    """_OrderedLogit's logistic_newton fit gives scikit-learn's LogisticRegression(C=inf, newton-cholesky) scores
    (the same maximum; both stop within 1e-10 of it) and columns in any order give identical scores."""
    from sklearn.linear_model import LogisticRegression

    from gistcausal.stats.refutation import _OrderedLogit

    X = pd.DataFrame({"x2": cohort["x2"].astype(float), "x1": cohort["x1"]})
    y = cohort["a"].to_numpy()
    fast = _OrderedLogit().fit(X, y)
    assert fast.model_ is None and fast.coef_ is not None  # the Newton path ran
    ref = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=100).fit(X[["x1", "x2"]], y)
    # each solver stops within its tolerance (1e-10) of the maximum: scores agree to ~1e-12 here
    np.testing.assert_allclose(fast.predict_proba(X), ref.predict_proba(X[["x1", "x2"]]), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(fast.predict(X), ref.predict(X[["x1", "x2"]]))
    np.testing.assert_array_equal(fast.classes_, ref.classes_)
    swapped = _OrderedLogit().fit(X[["x1", "x2"]], y)
    np.testing.assert_array_equal(swapped.predict_proba(X), fast.predict_proba(X))


def test_ordered_logit_falls_back_to_sklearn_when_newton_fails(cohort):
    """Separated data: logistic_newton raises, the fit is scikit-learn's (which decides, as before the fast path)."""
    from gistcausal.stats.refutation import _OrderedLogit, _sklearn_logit

    x = cohort["x1"].to_numpy()
    X = pd.DataFrame({"x1": x})
    y = (x > 0).astype(int)  # completely separated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _OrderedLogit().fit(X, y)
        ref = _sklearn_logit(X.to_numpy(float), y, tol=1e-10, max_iter=100)
    assert m.coef_ is None and m.model_ is not None
    np.testing.assert_array_equal(m.predict_proba(X), ref.predict_proba(X.to_numpy(float)))


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC"])
def test_hajek_estimator_equals_dowhy_propensity_score_weighting(cohort, estimand):
    """HajekIPWEstimator (numpy weighted means) returns DoWhy's PropensityScoreWeightingEstimator estimate and
    propensity scores, leaves the same propensity column in the data, and the refuters copy it."""
    from gistcausal.stats._dowhy_ipw import HajekIPWEstimator
    from gistcausal.stats.refutation import _dowhy_quiet, _ipw_estimate

    with _dowhy_quiet(0):
        m1, id1, _ = _bridge_model(cohort)
        plain = _ipw_estimate(m1, id1, estimand, plain=True)
        m2, id2, _ = _bridge_model(cohort)
        fast = _ipw_estimate(m2, id2, estimand)
    assert type(plain.estimator).__name__ == "PropensityScoreWeightingEstimator"
    assert isinstance(fast.estimator, HajekIPWEstimator)
    assert fast.value == pytest.approx(plain.value, rel=1e-12, abs=1e-12)
    np.testing.assert_array_equal(np.asarray(fast.propensity_scores), np.asarray(plain.propensity_scores))
    np.testing.assert_array_equal(m2._data["propensity_score"], m1._data["propensity_score"])
    assert isinstance(fast.estimator.get_new_estimator_object(id2), HajekIPWEstimator)


def test_refute_fast_paths_equal_dowhy_defaults(cohort, monkeypatch):
    """The whole refutation with the fast paths equals the plain one (DoWhy's estimator class, scikit-learn's
    Newton-Cholesky propensity fit) to 1e-10: the two fits stop within 1e-10 of the same maximum."""
    import gistcausal.stats.refutation as rf
    from gistcausal.errors import ModelFitError

    kw = dict(treatment_col="a", time_col="time", event_col="event", covariates=["x1", "x2"], horizon=12.0,
              num_simulations=NSIM, random_state=5)
    fast = refute(cohort, **kw)

    def no_newton(*a, **k):
        raise ModelFitError("forced fallback")

    real = rf._ipw_estimate
    monkeypatch.setattr(rf, "logistic_newton", no_newton)
    monkeypatch.setattr(rf, "_ipw_estimate", lambda m, i, e: real(m, i, e, plain=True))
    plain = refute(cohort, **kw)
    assert fast.estimate.value == pytest.approx(plain.estimate.value, abs=1e-10)
    assert fast.estimate.se == pytest.approx(plain.estimate.se, abs=1e-10)
    num = ["estimate", "new_effect", "new_effect_low", "new_effect_high", "p_value"]
    np.testing.assert_allclose(fast.table[num].to_numpy(float), plain.table[num].to_numpy(float), rtol=0,
                               atol=1e-10, equal_nan=True)
    assert list(fast.table["reading"]) == list(plain.table["reading"])


def test_issue_17_ordered_logit_warm_start_equals_cold_fit(cohort):
    """A refit of a deep copy of a fitted _OrderedLogit(warm_start=True), as DoWhy's refuters make, starts from
    the previous coefficients matched by column name (a new column at 0) or from the intercept-only maximum,
    whichever has the larger log-likelihood, and ends at the cold fit's maximum (1e-10)."""
    import copy

    from gistcausal.stats.refutation import _OrderedLogit, _warm_start

    rng = np.random.default_rng(17)
    X = pd.DataFrame({"x2": cohort["x2"].astype(float), "x1": cohort["x1"]})
    y = cohort["a"].to_numpy()
    first = _OrderedLogit(warm_start=True).fit(X, y)
    b = first.coef_  # intercept, x1, x2
    boot = rng.integers(0, len(X), len(X))
    cases = {
        "bootstrap": (X.iloc[boot].reset_index(drop=True), y[boot]),
        "random common cause": (X.assign(w_random=rng.normal(size=len(X))), y),
        "placebo": (X, rng.permutation(y)),
    }
    for name, (Xn, yn) in cases.items():
        warm = copy.deepcopy(first).fit(Xn, yn)
        cold = _OrderedLogit().fit(Xn, yn)
        assert warm.model_ is None and warm.columns_ == cold.columns_
        np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=0, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(warm.predict_proba(Xn), cold.predict_proba(Xn), rtol=0, atol=1e-12, err_msg=name)
    # the start itself: by name, the new column (sorted first, before x1) at 0
    Xr = X.assign(w_random=rng.normal(size=len(X)))
    cols = ["w_random", "x1", "x2"]
    Xi = np.column_stack([np.ones(len(Xr)), Xr[cols].to_numpy(float)])
    start = _warm_start(Xi, y.astype(float), cols, first.columns_, b)
    np.testing.assert_array_equal(start, [b[0], 0.0, b[1], b[2]])
    # a permuted treatment is independent of the covariates: the intercept-only maximum is the better start
    yp = rng.permutation(y).astype(float)
    start = _warm_start(Xi, yp, cols, first.columns_, b)
    np.testing.assert_allclose(start, [math.log(yp.mean() / (1 - yp.mean())), 0, 0, 0], rtol=0, atol=1e-15)
    # no previous fit, or a constant treatment: zeros
    assert _warm_start(Xi, yp, cols, None, None) is None
    assert _warm_start(Xi, np.ones(len(yp)), cols, first.columns_, b) is None


def test_issue_17_ordered_logit_design_equals_column_stack(cohort):
    """_OrderedLogit._design (one column-major array) equals [1, X[columns]] built by column_stack."""
    from gistcausal.stats.refutation import _OrderedLogit, _with_intercept

    X = pd.DataFrame({"x2": cohort["x2"].astype(float), "x1": cohort["x1"], "x10": cohort["x2"] > 0})
    m = _OrderedLogit().fit(X, cohort["a"].to_numpy())
    assert m.columns_ == ["x1", "x2", "x10"]
    np.testing.assert_array_equal(m._design(X), _with_intercept(X[m.columns_].to_numpy(dtype=float)))


def test_parallel_refutation_leaves_dowhy_to_the_workers():
    """On a local pool the refuters' tasks return the estimate and its identified estimand, so the calling process
    never imports DoWhy (about 1.5 s of CPU at 1e6 patients, issue 17); the result equals the serial one."""
    import subprocess
    import sys

    code = """
import sys, numpy as np, pandas as pd
from gistcausal.engine import Engine, Executor
from gistcausal.stats.refutation import refute
rng = np.random.default_rng(1)
n = 300
x1 = rng.normal(size=n)
a = rng.binomial(1, 1 / (1 + np.exp(-0.5 * x1)))
t, c = rng.exponential(10 * np.exp(-0.3 * a + 0.2 * x1)), rng.uniform(0, 30, n)
df = pd.DataFrame({"a": a, "time": np.minimum(t, c), "event": (t <= c).astype(int), "x1": x1})
kw = dict(treatment_col="a", time_col="time", event_col="event", covariates=["x1"], horizon=12,
          num_simulations=3, random_state=5, refuters=("placebo_treatment", "data_subset"))
with Executor(Engine(n_workers=2)) as ex:
    par = refute(df, engine=ex, **kw)
print("dowhy imported:", "dowhy" in sys.modules)
ser = refute(df, **kw)
print("same:", ser.to_dict() == par.to_dict())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "dowhy imported: False" in out and "same: True" in out, out


def test_a_refuter_without_a_new_effect_is_not_estimable_never_a_pass(full_run):
    """DoWhy's data_subset and bootstrap refuters gave no new effect on a small Firth-fitted data set (lifelines'
    canadian_senators): the report read "new effect nan to nan -> pass" and "No refuter raised a concern"."""
    from types import SimpleNamespace

    from gistcausal.stats.refutation import NOT_ESTIMABLE, _read

    nan = float("nan")
    for name in ("data_subset", "bootstrap", "placebo_treatment", "add_unobserved_common_cause"):
        r = _read(name, SimpleNamespace(new_effect=nan, refutation_result={"p_value": 0.9}), 1.0, 0.2, 0.05, 10)
        assert r["reading"] == NOT_ESTIMABLE
        r = _read(name, SimpleNamespace(new_effect=[nan, nan], refutation_result=None), 1.0, 0.2, 0.05, 10)
        assert r["reading"] == NOT_ESTIMABLE
    # a p-value rule without a p-value cannot be read either; a finite new effect with its p-value is read
    assert _read("data_subset", SimpleNamespace(new_effect=1.0, refutation_result={}), 1.0, 0.2, 0.05, 10
                 )["reading"] == NOT_ESTIMABLE
    assert _read("data_subset", SimpleNamespace(new_effect=1.0, refutation_result={"p_value": 0.5}), 1.0, 0.2,
                 0.05, 10)["reading"] == "pass"
    assert _read("add_unobserved_common_cause", SimpleNamespace(new_effect=[0.9, 1.1], refutation_result=None),
                 1.0, 0.2, 0.05, 1)["reading"] == "pass"
    res, _ = full_run
    table = res.table.copy()
    table.loc[table["refuter"].isin(["data_subset", "bootstrap"]),
              ["new_effect", "new_effect_low", "new_effect_high", "p_value"]] = nan
    table.loc[table["refuter"].isin(["data_subset", "bootstrap"]), "reading"] = NOT_ESTIMABLE
    text = dataclasses.replace(res, table=table).summary()
    assert "  data_subset: new effect none -> not estimable" in text
    assert ("No refuter raised a concern (of 3 read). 2 of 5 could not be read: DoWhy gave no new effect or p-value "
            "for them (not counted as passes).") in text
    table["reading"] = NOT_ESTIMABLE
    assert dataclasses.replace(res, table=table).summary().endswith(
        "No refuter could be read: DoWhy gave no new effect for any of the 5.")
