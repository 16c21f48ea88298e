"""Entropy balancing against an independent R solution of WeightIt's dual (tests/reference/ebal/make_ebal.R),
the closed-form balance constraints, and the infeasible case."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import BalanceInfeasibleError, ConfigError, ModelFitError
from gistcausal.stats.comparison import compare_survival
from gistcausal.stats.ebal import entropy_balance

from tests.conftest import REFERENCE

REF = json.loads((REFERENCE / "ebal" / "ebal.json").read_text())
DATA = pd.read_csv(REFERENCE / "matching" / "rotterdam.csv")
COVS = REF["covariates"]


@pytest.mark.parametrize("case", list(REF["cases"]))
def test_weights_match_r_dual(case):
    """R: optim(BFGS) + Newton polish of f(z) = sum(exp(-C z))/N + sum(z M) per weighted arm (WeightIt's
    objective.EB); weights equal to 1e-6 relative (both solve to a gradient below 1e-10)."""
    c = REF["cases"][case]
    r = entropy_balance(DATA, treatment_col="hormon", covariates=COVS, estimand=c["estimand"], moments=c["moments"])
    ref = np.asarray(c["weights"])
    assert np.max(np.abs(r.weights / ref - 1)) < 1e-6


@pytest.mark.parametrize("estimand,moments", [("ATT", 1), ("ATE", 1), ("ATC", 2), ("ATE", 2)])
def test_balance_constraints_exact(estimand, moments):
    """Closed-form check: weighted means (and mean squares for moments=2) equal the target's to 1e-8; each
    weighted arm sums to the target size."""
    r = entropy_balance(DATA, treatment_col="hormon", covariates=COVS, estimand=estimand, moments=moments)
    a = DATA["hormon"].to_numpy()
    X = DATA[COVS].to_numpy(float)
    if moments == 2:
        X = np.column_stack([X, X ** 2])
    target = {"ATT": a == 1, "ATC": a == 0, "ATE": np.ones(a.size, bool)}[estimand]
    arms = {"ATT": (0,), "ATC": (1,), "ATE": (0, 1)}[estimand]
    for g in arms:
        m = a == g
        wm = r.weights[m] @ X[m] / r.weights[m].sum()
        assert wm == pytest.approx(X[target].mean(axis=0), abs=1e-8, rel=1e-10)
        assert r.weights[m].sum() == pytest.approx(target.sum(), rel=1e-10)
    assert np.all(r.weights[~np.isin(a, arms)] == 1.0)


def test_ebal_cox_matches_r():
    """R: coxph(Surv(time, event) ~ hormon, data, weights = w, robust = TRUE) with the ATT weights."""
    c = REF["cases"]["ATT_moments1"]
    r = entropy_balance(DATA, treatment_col="hormon", covariates=COVS, estimand="ATT")
    comp = compare_survival(DATA["time"], DATA["event"], DATA["hormon"], weights=r.weights, outcome="rfs",
                            estimand="ATT", method="entropy_balancing", arm_labels=("no", "yes"))
    hr = comp.get("hr")
    assert np.log(hr.value) == pytest.approx(c["coef"], abs=1e-6)
    assert hr.se == pytest.approx(c["robust_se"], abs=1e-6)
    assert hr.method == "entropy_balancing"


def test_row_order_and_to_dict():
    perm = np.random.default_rng(7).permutation(len(DATA))
    r = entropy_balance(DATA, treatment_col="hormon", covariates=COVS, estimand="ATE")
    r2 = entropy_balance(DATA.iloc[perm], treatment_col="hormon", covariates=COVS, estimand="ATE")
    assert r2.weights == pytest.approx(r.weights[perm], rel=1e-9)
    d = r.to_dict()
    assert "weights" not in d and d["method"] == "entropy_balancing" and d["max_imbalance"] < 1e-8
    assert r.summary().startswith("Entropy balancing (ATE): means of 9 covariate columns balanced exactly")


def test_infeasible_names_covariate():
    """A level present among the treated but absent among the controls cannot be reached by weighting the
    controls: the error names it and gives the fix."""
    df = DATA[["hormon", "age", "meno"]].copy()
    df["site"] = np.where((df["hormon"] == 1) & (df.index % 3 == 0), "B", "A")
    with pytest.raises(BalanceInfeasibleError) as err:
        entropy_balance(df, treatment_col="hormon", covariates=["age", "meno", "site"], estimand="ATT")
    assert isinstance(err.value, ModelFitError)
    assert str(err.value) == (
        "entropy_balance: the control arm cannot be weighted to the treated means of 'site: B' (got 1 target "
        "mean(s) at or beyond the range of the control arm's values). Drop these covariates from the balance "
        "set (covariates.<name>.in_propensity: false), merge sparse levels, or use analysis.weights.method: iptw.")


def test_option_errors_pinned():
    with pytest.raises(ConfigError, match=r"^entropy_balance: moments must be 1 \(means\) or 2 \(means and "
                                          r"variances\) \(got 3\)\. Use moments: 1\.$"):
        entropy_balance(DATA, treatment_col="hormon", covariates=COVS, moments=3)
    with pytest.raises(ConfigError, match=r"^entropy_balance: estimand must be one of \['ATT', 'ATC', 'ATE'\] "
                                          r"for entropy balancing \(got 'ATO'\)"):
        entropy_balance(DATA, treatment_col="hormon", covariates=COVS, estimand="ATO")
