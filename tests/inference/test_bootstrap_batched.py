"""The batched bootstrap (all replicates from a count matrix) against the one-replicate-at-a-time path.

Both paths draw the same resamples from the same seeds; every replicate, every failure reason and the intervals
must agree to 1e-10 (rounding: the batched sums add c * w where the resample adds w c times). Issue 17.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from gistcausal.analysis.iptw import ps_design
from gistcausal.errors import ConfigError
from gistcausal.inference.bootstrap import (Problem, _draw, bootstrap_survival, run_bootstrap)
from gistcausal.inference.bootstrap_batched import chunk_size, draw_counts
from gistcausal.stats.weights import count_percentiles, weight_values, weight_values_counts

TOL = 1e-10


@pytest.fixture(scope="module")
def study_problem(default_config, default_cohort):
    frame = default_cohort.frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, X = ps_design(default_config, frame)
    s = default_config.analysis.survival
    return Problem(X=X, a=frame["treatment"].to_numpy(float), t=frame["pfs_time"].to_numpy(float),
                   e=frame["pfs_event"].to_numpy(float), estimand="ATE", stabilize=True, trim=None,
                   truncate=None, landmarks=tuple(float(x) for x in s.landmarks), horizon=s.horizon,
                   ps_method="logistic")


def _both(p: Problem, n_boot: int = 150, seed: int = 11, **kw):
    out = []
    for path in ("batched", "per_replicate"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(run_bootstrap(p, outcome="y", n_boot=n_boot, ci=kw.get("ci", "percentile"), alpha=0.05,
                                     n_jobs=1, random_state=seed, progress=None, arm_labels=("c", "t"),
                                     where="test", path=path))
    return out


def _assert_same(batched, single):
    assert batched.path == "batched" and single.path == "per_replicate"
    assert batched.n_failed == single.n_failed
    assert batched.n_success == single.n_success and batched.n_extended == single.n_extended
    assert list(batched.replicates.columns) == list(single.replicates.columns)
    np.testing.assert_array_equal(batched.replicates["replicate"], single.replicates["replicate"])
    np.testing.assert_allclose(batched.replicates.to_numpy(float), single.replicates.to_numpy(float),
                               rtol=0, atol=TOL)
    for eb, es in zip(batched.estimates, single.estimates):
        assert (eb.measure, eb.contrast, eb.time) == (es.measure, es.contrast, es.time)
        for f in ("value", "ci_low", "ci_high", "se"):
            assert getattr(eb, f) == pytest.approx(getattr(es, f), abs=TOL, nan_ok=True)


def _ties(t):
    return np.round(t)             # whole months: many tied times, and tied deaths in most resamples


def _no_ties(t):
    return t + np.arange(t.size) * 1e-7


CASES = {
    "ATE stabilized (default)": {},
    "ATT, no ties": {"estimand": "ATT", "stabilize": False, "t": _no_ties},
    "ATE, tied times": {"t": _ties},
    "ATO, tied times, truncation": {"estimand": "ATO", "stabilize": False, "t": _ties, "truncate": (2.0, 98.0)},
    "ATE, fixed trimming": {"trim": (0.1, 0.9)},
    "ATE, Crump trimming": {"trim": "crump", "stabilize": False},
    "ATC, horizon only": {"estimand": "ATC", "stabilize": False, "landmarks": (), "horizon": 18.0},
    "landmark beyond follow-up, extend": {"landmarks": (6.0, 40.0), "horizon": 40.0},
    "landmark beyond follow-up, fail": {"landmarks": (6.0, 30.0), "horizon": 20.0, "beyond_followup": "fail"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_issue_17_batched_equals_per_replicate_on_study(study_problem, case):
    """Replicates, failure counts by reason, extended-curve counts and percentile intervals agree to 1e-10."""
    kw = dict(CASES[case])
    if "t" in kw:
        kw["t"] = kw["t"](study_problem.t)
    p = replace(study_problem, **kw)
    batched, single = _both(p)
    _assert_same(batched, single)
    if case.startswith("landmark beyond"):       # the case exercises what it names
        assert (batched.n_extended if case.endswith("extend") else batched.n_failed["beyond_followup"]) > 0


def _separation_data():
    rng = np.random.default_rng(4)
    n = 80
    a = np.r_[np.ones(40), np.zeros(40)]
    rare = np.zeros(n)
    rare[[0, 1, 2, 40]] = 1
    t = rng.exponential(10, n)
    ev = (rng.random(n) < 0.8).astype(float)
    # a continuous covariate separating the arms but for one overlapping pair of patients
    z = np.where(a == 1, 1.0, -1.0) * rng.uniform(0.2, 2.0, n)
    z[[5, 45]] = -z[[5, 45]]
    return a, t, ev, np.c_[np.ones(n), rng.normal(size=n), rare], np.c_[np.ones(n), z]


@pytest.mark.parametrize("design", ["rare level (exact 0/1 check)", "continuous (Newton diverges)"])
def test_issue_17_batched_counts_separation_like_per_replicate(design):
    """Resamples that are separated fail as 'separation' for the same replicates on both paths: a level with 3
    treated and 1 control patient (resamples without the control patient), or a covariate that separates the
    arms unless one of two overlapping patients is drawn (the Newton iteration diverges)."""
    a, t, ev, X_rare, X_cont = _separation_data()
    X = X_rare if design.startswith("rare") else X_cont
    p = Problem(X=X, a=a, t=t, e=ev, estimand="ATE", stabilize=False, trim=None, truncate=None,
                landmarks=(5.0,), horizon=8.0, ps_method="logistic")
    batched, single = _both(p, n_boot=120)
    assert batched.n_failed.get("separation", 0) > 3
    _assert_same(batched, single)


def test_issue_17_batched_counts_arm_without_events_like_per_replicate():
    """Two events among 30 treated: resamples that draw neither are counted as 'no_events' on both paths."""
    rng = np.random.default_rng(8)
    n = 70
    a = np.r_[np.ones(30), np.zeros(40)]
    X = np.c_[np.ones(n), rng.normal(size=n)]
    t = rng.exponential(10, n)
    ev = np.zeros(n)
    ev[[3, 17]] = 1
    ev[30:] = (rng.random(40) < 0.7)
    p = Problem(X=X, a=a, t=t, e=ev, estimand="ATE", stabilize=True, trim=None, truncate=None,
                landmarks=(4.0,), horizon=9.0, ps_method="logistic")
    batched, single = _both(p, n_boot=200)
    assert batched.n_failed.get("no_events", 0) > 5
    _assert_same(batched, single)


def test_issue_17_batched_trimming_failures_like_per_replicate():
    """Narrow fixed trimming of a strongly confounded sample: some resamples keep no patient of an arm
    ('empty_arm'), no event in an arm ('no_events') or too few for the Cox model to converge (monotone
    likelihood, 'cox_not_converged'): the same replicates fail for the same reasons on both paths."""
    rng = np.random.default_rng(1)
    n = 60
    x = rng.normal(size=n)
    a = (rng.random(n) < 1 / (1 + np.exp(-2.5 * x))).astype(float)
    X = np.c_[np.ones(n), x]
    t = rng.exponential(10, n)
    ev = (rng.random(n) < 0.8).astype(float)
    p = Problem(X=X, a=a, t=t, e=ev, estimand="ATE", stabilize=False, trim=(0.35, 0.65), truncate=None,
                landmarks=(4.0,), horizon=None, ps_method="logistic")
    batched, single = _both(p, n_boot=200)
    assert all(batched.n_failed.get(k, 0) > 0 for k in ("empty_arm", "no_events", "cox_not_converged"))
    _assert_same(batched, single)


def test_issue_17_batched_bca_equals_per_replicate(study_problem):
    """BCa: the jackknife (leave-one-out counts) and so z0, the acceleration and the limits agree."""
    batched, single = _both(study_problem, n_boot=100, ci="bca")
    _assert_same(batched, single)
    for eb, es in zip(batched.estimates, single.estimates):
        for k in ("z0", "acceleration"):
            assert eb.extra.get(k) == pytest.approx(es.extra.get(k), abs=TOL)


def test_issue_17_counts_are_the_per_replicate_resamples(study_problem):
    """draw_counts uses the same generator calls as the one-at-a-time draw: identical multiplicities."""
    seeds = np.random.SeedSequence(21).spawn(40)
    counts = draw_counts(study_problem, seeds)
    n = study_problem.a.size
    expected = np.vstack([np.bincount(_draw(study_problem, s), minlength=n) for s in seeds])
    np.testing.assert_array_equal(counts, expected)


def test_issue_17_weight_values_counts_equal_weight_values_on_resamples():
    """Each row of weight_values_counts equals weight_values on the expanded resample (every option)."""
    rng = np.random.default_rng(5)
    n, B = 50, 30
    a = (rng.random(n) < 0.4).astype(float)
    ps = rng.uniform(0.03, 0.97, size=(B, n))
    counts = rng.multinomial(n, np.full(n, 1 / n), size=B).astype(float)
    for kw in ({"estimand": "ATE", "stabilize": True}, {"estimand": "ATT"},
               {"estimand": "ATE", "trim": "crump"}, {"estimand": "ATO", "truncate": (5.0, 95.0)},
               {"estimand": "ATE", "trim": (0.1, 0.9), "truncate": (1.0, 99.0), "stabilize": True}):
        w, reason = weight_values_counts(ps, a, counts, **kw)
        for b in range(B):
            idx = np.repeat(np.arange(n), counts[b].astype(int))
            ref = weight_values(ps[b][idx], a[idx], **kw).weights
            assert reason[b] == ""
            np.testing.assert_allclose(w[b][idx], ref, rtol=0, atol=1e-12)


def test_issue_17_count_percentiles_equal_numpy():
    rng = np.random.default_rng(6)
    values = rng.normal(size=(20, 15))
    values[:, 3] = values[:, 4]                          # ties
    counts = rng.integers(0, 4, size=(20, 15)).astype(float)
    counts[:, 0] += 1
    got = count_percentiles(values, counts, [0.0, 1.0, 37.5, 50.0, 99.0, 100.0])
    for b in range(20):
        ref = np.percentile(np.repeat(values[b], counts[b].astype(int)), [0.0, 1.0, 37.5, 50.0, 99.0, 100.0])
        np.testing.assert_allclose(got[b], ref, rtol=0, atol=1e-14)


def test_issue_17_auto_path_and_map_chunks_hook(study_problem):
    """auto: batched for logistic IPTW, one at a time for Firth; a custom map_chunks (here: reversed order,
    as a cluster may return chunks) gives the same result as the default."""
    calls = []

    def reversed_map(fn, args):
        calls.append(len(args))
        return [fn(*x) for x in reversed(args)]

    common = dict(outcome="y", n_boot=40, ci="percentile", alpha=0.05, n_jobs=1, random_state=4, progress=None,
                  arm_labels=("c", "t"), where="test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = run_bootstrap(study_problem, **common)
        hooked = run_bootstrap(replace(study_problem, X=study_problem.X), **common, map_chunks=reversed_map)
        firth = run_bootstrap(replace(study_problem, ps_method="firth"), **common)
    assert auto.path == "batched" and firth.path == "per_replicate"
    assert calls == [1]
    pd.testing.assert_frame_equal(auto.replicates, hooked.replicates)
    assert auto.to_dict()["path"] == "batched"


def test_issue_17_batched_refused_for_firth_message(study_problem):
    msg = ("test: the batched bootstrap cannot compute this analysis (got propensity method 'firth' is refitted "
           "per replicate). Use path='auto' or 'per_replicate'.")
    with pytest.raises(ConfigError, match=re.escape(msg)):
        run_bootstrap(replace(study_problem, ps_method="firth"), outcome="y", n_boot=20, ci="percentile",
                      alpha=0.05, n_jobs=1, random_state=1, progress=None, arm_labels=("c", "t"), where="test",
                      path="batched")


def test_issue_17_chunks_bound_memory():
    """One (B_chunk x n) float array stays within 16 MB; small problems run in one chunk."""
    assert chunk_size(110, 2000) == 2000
    assert chunk_size(100_000, 2000) * 100_000 * 8 <= 16 * 2 ** 20
    assert chunk_size(10 ** 9, 2000) == 1


# ----------------------------------------------------------------------------------------------------
# warm starts: the chord logistic refit and the Cox iteration from the full-data estimates
# ----------------------------------------------------------------------------------------------------
def _moderate_problem(n=3000, seed=3):
    """A cohort large enough for the chord iteration to converge in a few steps (ties in the times)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, 2:] = x[:, 2:] > 0.2
    a = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + x @ [0.5, -0.3, 0.4, -0.2])))).astype(float)
    t = np.round(rng.exponential(8, n) * np.exp(-0.3 * a), 1)
    ev = (rng.random(n) < 0.7).astype(float)
    return Problem(X=np.c_[np.ones(n), x], a=a, t=t, e=ev, estimand="ATE", stabilize=True, trim=None,
                   truncate=None, landmarks=(3.0, 6.0), horizon=10.0, ps_method="logistic")


def test_issue_17_warm_start_chord_converges_to_the_newton_estimate():
    """The chord iteration from the full-data fit reaches every replicate's maximum-likelihood estimate (the
    one logistic_newton finds from 0 on the expanded resample) to 1e-12, in fewer than 12 steps."""
    from gistcausal.inference.bootstrap_batched import _logistic_chord, plan_batches
    from gistcausal.stats.logistic import logistic_newton

    p = _moderate_problem()
    plan = plan_batches(p)
    assert plan.ps_beta is not None and plan.cox_beta is not None
    counts = draw_counts(p, np.random.SeedSequence(2).spawn(12))
    beta, done = _logistic_chord(p.X, np.ascontiguousarray(p.X.T), p.a, counts, counts > 0, plan.ps_beta,
                                 plan.ps_info_inv, np.ones(12, dtype=bool), max_iter=12)
    assert done.all()
    for b in range(12):
        idx = np.repeat(np.arange(p.a.size), counts[b].astype(int))
        ref, _ = logistic_newton(p.X[idx], p.a[idx])
        np.testing.assert_allclose(beta[b], ref, rtol=0, atol=1e-12)


def test_issue_17_warm_started_batched_equals_per_replicate_at_moderate_n():
    """n = 3000: the replicates computed by the warm-started chord and Cox iterations equal the one-at-a-time
    path (Newton from 0 for both models) to 1e-10."""
    batched, single = _both(_moderate_problem(), n_boot=30, seed=5)
    assert batched.n_failed == {}
    _assert_same(batched, single)


def test_issue_17_separated_replicates_fall_back_to_newton_from_zero():
    """Resamples that separate the arms (a covariate separating them unless one of two overlapping patients
    is drawn) leave the chord iteration unconverged and go to the exact Newton from 0, which counts them as
    'separation', as the one-replicate path does; some others converge in the chord (near separation most
    do not: a linear predictor above 15 or a slow contraction sends them to Newton too)."""
    from gistcausal.inference.bootstrap import _Failure, _statistics
    from gistcausal.inference.bootstrap_batched import _logistic_chord, batched_statistics, plan_batches

    a, t, ev, _, X = _separation_data()
    p = Problem(X=X, a=a, t=t, e=ev, estimand="ATE", stabilize=False, trim=None, truncate=None,
                landmarks=(5.0,), horizon=8.0, ps_method="logistic")
    plan = plan_batches(p)
    assert plan.ps_beta is not None                      # the full data are not separated: a warm start
    seeds = np.random.SeedSequence(9).spawn(80)
    counts = draw_counts(p, seeds)
    _, done = _logistic_chord(X, np.ascontiguousarray(X.T), a, counts, counts > 0, plan.ps_beta,
                              plan.ps_info_inv, np.ones(80, dtype=bool))
    _, _, reason = batched_statistics(p, counts, plan)
    single = []
    for s in seeds:
        try:
            _statistics(p, _draw(p, s))
            single.append("")
        except _Failure as f:
            single.append(f.reason)
    single = np.array(single)
    assert (single == "separation").sum() > 3
    assert list(reason) == list(single)
    assert not done[single == "separation"].any()        # every separated resample fell back
    assert done[single == ""].any()                      # and the chord did some others' work


def test_issue_17_cox_warm_start_falls_back_for_monotone_likelihoods(monkeypatch):
    """A replicate whose Cox likelihood is monotone (an arm's deaths all trimmed away but for a few) can stop
    by the convergence rule from the warm start after fewer steps than from 0; it is refitted from 0, so
    'cox_not_converged' is counted for the same replicates as one at a time."""
    import gistcausal.inference.bootstrap_batched as bb

    calls = []
    original = bb._cox_batched

    def spy(cb, todo, **kw):
        beta, conv = original(cb, todo, **kw)
        calls.append((kw.get("start", 0.0), int(todo.sum()), beta.copy(), conv.copy(), todo.copy()))
        return beta, conv

    monkeypatch.setattr(bb, "_cox_batched", spy)
    rng = np.random.default_rng(1)
    n = 60
    x = rng.normal(size=n)
    a = (rng.random(n) < 1 / (1 + np.exp(-2.5 * x))).astype(float)
    t = rng.exponential(10, n)
    ev = (rng.random(n) < 0.8).astype(float)
    p = Problem(X=np.c_[np.ones(n), x], a=a, t=t, e=ev, estimand="ATE", stabilize=False, trim=(0.35, 0.65),
                truncate=None, landmarks=(4.0,), horizon=None, ps_method="logistic")
    batched, single = _both(p, n_boot=200)
    _assert_same(batched, single)
    assert batched.n_failed["cox_not_converged"] > 0
    warm = [c for c in calls if c[0] != 0.0 and c[1] > 1]
    assert len(warm) == 1                                # the replicates' chunk (not the plan's full data)
    _, _, beta, conv, todo = warm[0]
    beyond = todo & conv & (np.abs(beta) > bb.COX_WARM_MAX)
    assert beyond.any()                                  # "converged" from the warm start at |log HR| > 5
    rerun = [c for c in calls if c[0] == 0.0 and c[1] > 0]
    assert rerun and np.all(rerun[-1][4][beyond])        # and refitted from 0


def test_issue_17_design_checks_equal_the_per_resample_checks():
    """Dropped columns and the exact 0/1 separation check from one product of the counts equal their
    computation on each drawn sample: continuous, 0/1, rare 0/1 and mixed (0, 1 and 2) columns."""
    from gistcausal.inference.bootstrap_batched import _design_checks, plan_batches

    rng = np.random.default_rng(12)
    n = 40
    a = np.r_[np.ones(20), np.zeros(20)]
    rare = np.zeros(n)
    rare[[0, 1, 25]] = 1
    mixed = (rng.random(n) < 0.5).astype(float)
    mixed[[3, 30]] = 2.0
    X = np.c_[np.ones(n), rng.normal(size=n), (rng.random(n) < 0.5), rare, mixed]
    p = Problem(X=X, a=a, t=rng.exponential(5, n), e=np.ones(n), estimand="ATE", stabilize=False, trim=None,
                truncate=None, landmarks=(2.0,), horizon=None, ps_method="logistic")
    counts = draw_counts(p, np.random.SeedSequence(3).spawn(300))
    active, sep = _design_checks(plan_batches(p), X, counts, counts > 0)
    for b in range(300):
        drawn = counts[b] > 0
        d = X[drawn]
        act = np.r_[True, d[:, 1:].max(axis=0) > d[:, 1:].min(axis=0)]
        np.testing.assert_array_equal(active[b], act)
        idx = np.repeat(np.arange(n), counts[b].astype(int))
        sep_b = False
        for j in range(1, X.shape[1]):
            col = X[idx, j]
            if act[j] and np.all((col == 0) | (col == 1)):
                sep_b |= bool(np.all(a[idx][col == 1] == 1) or np.all(a[idx][col == 1] == 0))
        assert sep[b] == sep_b
    assert sep.any() and not sep.all() and not active.all()
