"""Tests of gistcausal.stats.impute: Rubin's rules against hand computation, MICE behaviour on seeded data."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gistcausal.errors import DataError
from gistcausal.stats.impute import impute_chained, rubin_pool


def test_rubin_pool_hand_computation():
    """m = 3, Q = (1.0, 1.2, 1.4), U = (0.04, 0.05, 0.06), by hand:
    Qbar = 1.2; Ubar = 0.05; B = 0.04; T = 0.05 + (4/3)(0.04) = 0.1033...; r = (4/3)(0.04)/0.05 = 1.0667;
    nu_old = 2 (1 + 1/r)^2 = 2 (1.9375)^2 = 7.5078; fmi = (r + 2/(nu + 3))/(r + 1)."""
    res = rubin_pool([1.0, 1.2, 1.4], [0.04, 0.05, 0.06])
    T = 0.05 + 4 / 3 * 0.04
    r = (4 / 3 * 0.04) / 0.05
    nu = 2 * (1 + 1 / r) ** 2
    assert res.value == pytest.approx(1.2)
    assert res.se == pytest.approx(math.sqrt(T))
    assert res.riv == pytest.approx(r) and r == pytest.approx(16 / 15)
    assert res.df == pytest.approx(nu) and nu == pytest.approx(2 * (31 / 16) ** 2)
    assert res.fmi == pytest.approx((r + 2 / (nu + 3)) / (r + 1))
    q = stats.t.ppf(0.975, nu)
    assert res.ci == pytest.approx((1.2 - q * math.sqrt(T), 1.2 + q * math.sqrt(T)))


def test_barnard_rubin_df_hand_computation():
    """nu_com = 20: lambda = (1 + 1/m)B/T, nu_obs = (21/23) 20 (1 - lambda), nu = 1/(1/nu_old + 1/nu_obs)
    (Barnard & Rubin 1999, eq. 3; as mice::pool)."""
    res = rubin_pool([1.0, 1.2, 1.4], [0.04, 0.05, 0.06], df_complete=20)
    T = 0.05 + 4 / 3 * 0.04
    lam = 4 / 3 * 0.04 / T
    nu_old = 2 * (1 + 1 / (4 / 3 * 0.04 / 0.05)) ** 2
    nu_obs = 21 / 23 * 20 * (1 - lam)
    assert res.lambda_ == pytest.approx(lam)
    assert res.df == pytest.approx(1 / (1 / nu_old + 1 / nu_obs))
    assert res.df < nu_old and res.df < 20


def test_rubin_no_between_variance_is_complete_data_inference():
    res = rubin_pool([0.5, 0.5, 0.5], [0.01, 0.01, 0.01])
    assert res.se == pytest.approx(0.1) and math.isinf(res.df) and res.fmi == 0.0
    assert res.ci == pytest.approx((0.5 - 1.959964 * 0.1, 0.5 + 1.959964 * 0.1), abs=1e-6)
    assert res.to_dict()["df"] is None
    json.dumps(res.to_dict())


def test_rubin_input_errors():
    msg = ("rubin_pool: estimates and variances must be 1-d, equal length, at least 2 (got (1,) and (1,)). "
           "Pass one estimate and variance per imputed data set.")
    with pytest.raises(DataError, match=re.escape(msg)):
        rubin_pool([1.0], [0.1])


@pytest.fixture(scope="session")
def incomplete():
    rng = np.random.default_rng(11)
    n = 400
    x = rng.normal(size=n)
    g = np.where(x + rng.normal(scale=0.7, size=n) > 0, "high", "low")
    y = 2.0 + 1.5 * x + rng.normal(scale=0.5, size=n)
    df = pd.DataFrame({"x": x, "y": y, "g": pd.Categorical(g, categories=["low", "high"])})
    full = df.copy()
    df.loc[rng.random(n) < 0.3, "y"] = np.nan          # MCAR 30%
    df.loc[rng.random(n) < 0.2, "g"] = np.nan
    return df, full


def test_impute_chained_completes_and_preserves_observed(incomplete):
    df, _ = incomplete
    before = df.copy()
    imps = impute_chained(df, columns=["x", "y", "g"], m=3, max_iter=5, random_state=1)
    pd.testing.assert_frame_equal(df, before)  # input not mutated
    assert len(imps) == 3
    for imp in imps:
        assert not imp[["x", "y", "g"]].isna().any().any()
        obs = before["y"].notna()
        np.testing.assert_array_equal(imp.loc[obs, "y"], before.loc[obs, "y"])
        assert isinstance(imp["g"].dtype, pd.CategoricalDtype) and set(imp["g"]) <= {"low", "high"}
    assert not np.allclose(imps[0]["y"], imps[1]["y"])  # between-imputation variability
    again = impute_chained(df, columns=["x", "y", "g"], m=3, max_iter=5, random_state=1)
    pd.testing.assert_frame_equal(imps[2], again[2])  # seeded


def test_mice_recovers_regression_slope(incomplete):
    """MCAR data: the pooled slope of y on x is close to the truth 1.5. The complete-data SE is about
    0.5/sqrt(400) = 0.025; the pooled CI must cover 1.5 and be narrower than 0.2 (would fail if imputations
    ignored x: the slope would shrink toward 0 by ~30%)."""
    df, _ = incomplete
    imps = impute_chained(df, columns=["x", "y", "g"], m=5, max_iter=5, random_state=3)
    est, var = [], []
    for imp in imps:
        fit = stats.linregress(imp.x, imp.y)
        est.append(fit.slope)
        var.append(fit.stderr ** 2)
    pooled = rubin_pool(est, var, df_complete=len(df) - 2)
    assert pooled.ci[0] < 1.5 < pooled.ci[1]
    assert pooled.ci[1] - pooled.ci[0] < 0.2
    assert 0 < pooled.fmi < 0.6


def _est(measure, value, se, *, time=math.nan, scale="identity", method="iptw", contrast="B vs A"):
    from gistcausal.effects import EffectEstimate

    return EffectEstimate(outcome="y", contrast=contrast, estimand="ATE", method=method, measure=measure,
                          value=value, se=se, variance="robust", time=time, scale=scale)


def test_pool_estimates_pairs_by_key_not_position():
    """The second imputation lists its estimates in another order; pooling pairs them by (outcome, method,
    measure, contrast, estimand, time, variance): the pooled HR is exp(Rubin(log HRs)), the survival difference
    at 12 Rubin's pool of its own two values (pipeline.pool_imputed paired by position before)."""
    from gistcausal.stats.impute import pool_estimates

    first = (_est("hr", 0.7, 0.2, scale="log"), _est("surv_diff", 0.10, 0.05, time=12.0),
             _est("surv_diff", 0.05, 0.04, time=6.0))
    second = (_est("surv_diff", 0.07, 0.04, time=6.0), _est("hr", 0.8, 0.25, scale="log"),
              _est("surv_diff", 0.14, 0.06, time=12.0))
    pooled = pool_estimates([first, second], alpha=0.05)
    assert [(e.measure, e.time) for e in pooled] == [(e.measure, e.time) for e in first]
    hr = rubin_pool(np.log([0.7, 0.8]), [0.2 ** 2, 0.25 ** 2])
    assert pooled[0].value == pytest.approx(math.exp(hr.value), abs=1e-12)
    assert pooled[0].se == pytest.approx(hr.se, abs=1e-12)
    s12 = rubin_pool([0.10, 0.14], [0.05 ** 2, 0.06 ** 2])
    assert (pooled[1].value, pooled[1].ci_low) == pytest.approx((s12.value, s12.ci[0]), abs=1e-12)
    assert pooled[1].variance == "robust+rubin" and "pooled over 2 imputations" in pooled[1].note
    assert pool_estimates([second, first], alpha=0.05)[1].value == pytest.approx(pooled[0].value, abs=1e-12)


def test_pool_estimates_errors_are_pinned():
    from gistcausal.stats.impute import pool_estimates

    a = (_est("hr", 0.7, 0.2, scale="log"), _est("surv_diff", 0.1, 0.05, time=12.0))
    b = (_est("hr", 0.8, 0.2, scale="log"), _est("surv_diff", 0.1, 0.05, time=6.0))
    with pytest.raises(DataError, match=re.escape(
            "pool_estimates: imputation 2 does not have the estimates of imputation 1 (2 differ, e.g. "
            "('y', 'iptw', 'surv_diff', 'B vs A', 'ATE', 12.0, 'robust')) (got 2 vs 2 estimates). Fit the same "
            "analysis on every imputed data set.") + "$"):
        pool_estimates([a, b])
    with pytest.raises(DataError, match=re.escape(
            "pool_estimates: imputation 1 has 1 estimate(s) with the same outcome, method, measure, contrast, "
            "estimand, time and variance (got 2 estimates). Pass one estimate per key.") + "$"):
        pool_estimates([(a[0], a[0]), (a[0], a[0])])
    with pytest.raises(DataError, match=re.escape(
            "pool_estimates: Rubin's rules need at least 2 imputed data sets (got 1). Set analysis.imputations "
            "to 2 or more.") + "$"):
        pool_estimates([a])
