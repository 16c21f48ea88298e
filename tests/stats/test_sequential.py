"""Sequential trials (issue 8): expansion to person-trials and the patient-clustered Cox variance vs R."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import DataError
from gistcausal.stats.sequential import (
    cluster_robust_cox, expand_sequential_trials, pooled_km, sequential_cox, simulate_sequential_data, trial_counts,
)

REF = Path(__file__).parents[1] / "reference" / "sequential"
KW = dict(id_col="id", period_col="month", eligible_col="eligible", treatment_col="treat", time_col="time",
          event_col="event")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "sequential.json").read_text())


@pytest.fixture(scope="module")
def trials():
    return pd.read_csv(REF / "sequential_trials.csv")


@pytest.mark.parametrize("case, weighted, ties", [("unweighted_efron", False, "efron"),
                                                  ("weighted_efron", True, "efron"),
                                                  ("weighted_breslow", True, "breslow")])
def test_clustered_cox_matches_r(ref, trials, case, weighted, ties):
    """R: coxph(Surv(time, event) ~ arm + l + trial, data, [weights = w,] cluster = id, ties = ties);
    sqrt(diag(fit$var)); made by tests/reference/sequential/make_sequential.R. Tied times included."""
    res = sequential_cox(trials, id_col="id", covariates=["l", "trial"], weights_col="w" if weighted else None,
                         ties=ties)
    np.testing.assert_allclose(res.coef, ref[case]["coef"], atol=1e-6)
    np.testing.assert_allclose(res.se_model, ref[case]["se_model"], atol=1e-6)
    np.testing.assert_allclose(res.se_cluster, ref[case]["se_cluster"], atol=1e-6)
    est = res.estimates[0]
    assert est.value == pytest.approx(np.exp(ref[case]["coef"][0]), rel=1e-6)
    assert est.se == pytest.approx(ref[case]["se_cluster"][0], abs=1e-6)
    assert (est.measure, est.variance, est.note, est.method) == ("hr", "robust", "SE clustered by patient",
                                                                 "sequential_trials")


def test_clustering_matters_and_singletons_reduce_to_row_robust(trials):
    """Clusters of one row give the unclustered sandwich (cox_fit's robust SE, itself matched to R)."""
    fit, _, se = cluster_robust_cox(trials["time"], trials["event"], trials[["arm", "l"]], np.arange(len(trials)))
    np.testing.assert_allclose(se, fit.robust_se, rtol=1e-10)
    res = sequential_cox(trials, id_col="id", covariates=["l"])
    # the time-varying covariate is repeated across a patient's trials: clustering doubles its SE here
    assert res.se_cluster[1] > 1.5 * res.se_robust_rows[1]


def test_pooled_km_matches_r(ref, trials):
    """R: summary(survfit(Surv(time, event) ~ arm, data), times = c(3, 6, 12))$surv."""
    km = pooled_km(trials)
    got = []
    for arm in (0, 1):
        c = km[km["arm"] == arm]
        pos = np.searchsorted(c["time"].to_numpy(), [3, 6, 12], side="right") - 1
        got += list(c["surv"].to_numpy()[pos])
    np.testing.assert_allclose(got, ref["km"]["surv"], atol=1e-9)


def test_expansion_on_a_hand_made_example():
    """Patient 1: eligible months 0-2, starts in month 2, dies at 5.5. Patient 2: never starts, censored at 1.5
    (eligible months 0 and 1). Patient 3: starts in month 0, event at 0.5."""
    pp = pd.DataFrame({
        "id": [1, 1, 1, 1, 1, 2, 2, 3],
        "month": [0, 1, 2, 3, 4, 0, 1, 0],
        "eligible": [True, True, True, False, False, True, True, True],
        "treat": [0, 0, 1, 0, 0, 0, 0, 1],
        "l": [0.1, 0.2, 0.3, 0.4, 0.5, -1.0, -0.9, 2.0],
        "time": [5.5] * 5 + [1.5, 1.5, 0.5],
        "event": [1] * 5 + [0, 0, 1],
    })
    ex = expand_sequential_trials(pp, **KW, covariates=["l"])
    assert ex.to_dict(orient="list") == {
        "id": [1, 1, 1, 2, 2, 3], "trial": [0, 1, 2, 0, 1, 0], "arm": [0, 0, 1, 0, 0, 1],
        "time": [5.5, 4.5, 3.5, 1.5, 0.5, 0.5], "event": [1, 1, 1, 0, 0, 1], "l": [0.1, 0.2, 0.3, -1.0, -0.9, 2.0]}
    tc = trial_counts(ex, id_col="id")
    assert tc.to_dict(orient="list") == {"trial": [0, 0, 1, 2], "arm": [0, 1, 0, 1], "patients": [2, 1, 2, 1],
                                         "events": [1, 1, 1, 1]}
    assert expand_sequential_trials(pp, **KW, max_trials=1)["trial"].tolist() == [0, 0, 0]


def test_expansion_errors_are_pinned():
    pp = pd.DataFrame({"id": [1, 1], "month": [0, 1], "eligible": [True, True], "treat": [0, 0],
                       "time": [0.8, 0.8], "event": [1, 1]})
    with pytest.raises(DataError, match=re.escape("expand_sequential_trials: 1 eligible period(s) start at or after "
                                                  "the end of follow-up ('time' <= 'month'). Mark periods after death "
                                                  "or censoring as not eligible.")):
        expand_sequential_trials(pp, **KW)
    pp2 = pp.assign(time=[3.0, 4.0])
    with pytest.raises(DataError, match=re.escape("expand_sequential_trials: 'time'/'event' vary within 1 "
                                                  "patient(s).")):
        expand_sequential_trials(pp2, **KW)
    with pytest.raises(DataError, match=re.escape("expand_sequential_trials: 2 rows share a patient and period")):
        expand_sequential_trials(pd.concat([pp.iloc[:1], pp.iloc[:1]]), **KW)


def test_simulated_sequential_trials_null_and_direction():
    """Under the null (hr=1; the outcome depends on l0 only, adjusted for) the true conditional HR of arm is 1:
    the estimate is within 4 clustered SEs of it. With hr=0.6 from initiation the pooled ITT-type HR is below 1
    but diluted toward 1 (the "not now" arm includes later initiators), so above 0.6."""
    pp = simulate_sequential_data(1500, random_state=11, hr=1.0)
    ex = expand_sequential_trials(pp, **KW, covariates=["l0"])
    null = sequential_cox(ex, id_col="id", covariates=["l0", "trial"])
    assert abs(null.coef[0]) < 4 * null.se_cluster[0]
    pp = simulate_sequential_data(1500, random_state=11, hr=0.6)
    ex = expand_sequential_trials(pp, **KW, covariates=["l0"])
    res = sequential_cox(ex, id_col="id", covariates=["l0", "trial"])
    est = res.estimates[0]
    assert est.ci_high < 1.0 and est.value > 0.6
    assert res.n_trials == 12 and res.n_patients == ex["id"].nunique()
    d = json.loads(json.dumps(res.to_dict()))
    assert d["method"] == "sequential_trials" and len(d["terms"]) == 3
    assert "SE clustered by patient" in res.summary()
