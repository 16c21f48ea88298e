"""Tests of gistcausal.stats.balance against hand computations in R with cobalt's documented formulas.

Reference: tests/reference/balance/make_balance.R -> balance.json (weights from
glm(hormon ~ age + meno + size + grade + nodes + pgr + er, binomial, data = rotterdam); SMD, variance ratio,
KS and ESS written out formula by formula, see the script's header). cobalt itself is not installable here.
Tolerance 1e-6 vs R: deterministic arithmetic.
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
from scipy import special

from gistcausal.stats.balance import balance_table, ks_statistic, smd, variance_ratio
from gistcausal.errors import ConfigError, GistCausalWarning
from gistcausal.stats.propensity import PropensityModel
from gistcausal.stats.weights import compute_weights

HERE = Path(__file__).parents[1] / "reference"
COVS = ["age", "meno", "size", "grade", "nodes", "pgr", "er"]
ROW_KEYS = {("age", ""): "age", ("meno", ""): "meno", ("size", "<=20"): "size_<=20",
            ("size", "20-50"): "size_20-50", ("size", ">50"): "size_>50", ("grade", "3"): "grade",
            ("nodes", ""): "nodes", ("pgr", ""): "pgr", ("er", ""): "er"}


@pytest.fixture(scope="session")
def ref():
    return json.loads((HERE / "balance" / "balance.json").read_text())


@pytest.fixture(scope="session")
def rot():
    df = pd.read_csv(HERE / "propensity" / "rotterdam.csv")
    df["size"] = pd.Categorical(df["size"], categories=["<=20", "20-50", ">50"])
    ps = PropensityModel(covariates=COVS).fit_predict(df, treatment_col="hormon")
    return df, ps


def _weights(ps, t, estimand):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GistCausalWarning)
        return compute_weights(ps, t, estimand=estimand)


@pytest.mark.parametrize("estimand", ["none", "ATE", "ATT", "ATO"])
@pytest.mark.parametrize("binary", ["raw", "std"])
def test_balance_table_matches_r(rot, ref, estimand, binary):
    """R (make_balance.R): diff / denom with denom = sqrt((s1^2 + s0^2)/2) (ATE, ATO, unweighted) or s1
    (ATT) of the UNWEIGHTED sample, p(1-p) variances for binary; wvar ratio; weighted-ECDF KS."""
    df, ps = rot
    t = df.hormon.to_numpy()
    w = None if estimand == "none" else _weights(ps, t, estimand)
    tab = balance_table(df, treatment_col="hormon", covariates=COVS, weights=w,
                        estimand="ATE" if estimand == "none" else estimand, binary=binary)
    tag = "un" if estimand == "none" else "w"
    r = ref[estimand]
    assert len(tab.table) == len(ROW_KEYS)
    for row in tab.table.itertuples(index=False):
        exp = r["stats"][ROW_KEYS[(row.covariate, row.level)]]
        raw_binary = row.type == "binary" and binary == "raw"
        assert getattr(row, f"smd_{tag}") == pytest.approx(exp["diff_raw" if raw_binary else "smd_std"], abs=1e-6)
        assert getattr(row, f"mean_treated_{tag}") == pytest.approx(exp["mean_treated"], abs=1e-6)
        assert getattr(row, f"ks_{tag}") == pytest.approx(exp["ks"], abs=1e-6)
        if exp["vr"] is None:
            assert np.isnan(getattr(row, f"variance_ratio_{tag}"))
        else:
            assert getattr(row, f"variance_ratio_{tag}") == pytest.approx(exp["vr"], rel=1e-6)
    ess = tab.ess.set_index("arm")["ess_weighted"]
    assert ess["treated"] == pytest.approx(r["ess_treated"], abs=1e-6)
    assert ess["control"] == pytest.approx(r["ess_control"], abs=1e-6)


def test_atc_uses_control_sd(rot, ref):
    """R: (mean(age[t == 1]) - mean(age[t == 0])) / sd(age[t == 0])  (cobalt s.d.denom = "control")."""
    df, _ = rot
    assert smd(df.age, df.hormon, estimand="ATC") == pytest.approx(ref["ATC_age_smd_unweighted"], abs=1e-6)


def test_denominator_ignores_weights_closed_form():
    """SMD = (weighted mean diff) / sqrt((var1 + var0)/2) of the unweighted arms, by hand."""
    x = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 6.0])
    t = np.array([1, 1, 1, 0, 0, 0])
    w = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0])
    m1 = (1 + 4 + 3) / 4
    m0 = (4 + 6 + 6) / 5
    s = np.sqrt((1.0 + 4.0) / 2)  # var(1,2,3) = 1, var(4,2,6) = 4
    assert smd(x, t, weights=w) == pytest.approx((m1 - m0) / s)
    assert smd(x, t, weights=w, estimand="ATT") == pytest.approx((m1 - m0) / 1.0)
    # weighted variance: sum(w)/(sum(w)^2 - sum(w^2)) * sum(w (x - m)^2)
    v1 = 4 / (16 - 6) * (1 * (1 - 2) ** 2 + 2 * 0 + 1 * (3 - 2) ** 2)
    v0 = 5 / (25 - 11) * (1 * (4 - 3.2) ** 2 + 3 * (2 - 3.2) ** 2 + 1 * (6 - 3.2) ** 2)
    assert variance_ratio(x, t, weights=w) == pytest.approx(v1 / v0)


def test_ks_closed_form():
    """Unweighted: scipy's two-sample KS statistic; weighted by hand."""
    from scipy import stats

    rng = np.random.default_rng(5)
    x = rng.normal(size=50)
    t = rng.integers(0, 2, 50)
    assert ks_statistic(x, t) == pytest.approx(stats.ks_2samp(x[t == 1], x[t == 0]).statistic)
    x2 = np.array([0.0, 1.0, 0.0, 1.0])
    assert ks_statistic(x2, [1, 1, 0, 0], weights=[3.0, 1.0, 1.0, 1.0]) == pytest.approx(abs(0.75 - 0.5))


def test_unknown_estimand_and_denominator_messages():
    with pytest.raises(ConfigError, match=re.escape(
            "smd: estimand must be one of ['ATE', 'ATT', 'ATC', 'ATO', 'matching'] (got 'att'). Pick one of these.")):
        smd([1.0, 2.0], [0, 1], estimand="att")
    with pytest.raises(ConfigError, match=re.escape(
            "smd: s_d_denom must be one of 'auto', 'pooled', 'treated', 'control' (got 'all'). Pick one of these.")):
        smd([1.0, 2.0, 3.0], [0, 1, 1], s_d_denom="all")


@st.composite
def sample(draw):
    n = draw(st.integers(6, 40))
    x = np.array(draw(st.lists(st.floats(-50, 50, allow_nan=False), min_size=n, max_size=n)))
    t = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    t[:2] = [0, 1]
    t[2:4] = [0, 1]
    w = np.array(draw(st.lists(st.floats(0.1, 10), min_size=n, max_size=n)))
    return x, t, w


@settings(max_examples=40, deadline=None)
@given(data=sample(), binary=st.sampled_from(["raw", "std"]))
def test_property_smd_changes_sign_when_arms_swapped(data, binary):
    x, t, w = data
    x0, t0, w0 = x.copy(), t.copy(), w.copy()
    a = smd(x, t, weights=w, binary=binary)
    b = smd(x, 1 - t, weights=w, binary=binary)
    if np.isnan(a):
        assert np.isnan(b)
    else:
        assert b == pytest.approx(-a, abs=1e-9)
    # ATT <-> ATC denominators swap with the arms
    c = smd(x, t, weights=w, estimand="ATT")
    d = smd(x, 1 - t, weights=w, estimand="ATC")
    assert (np.isnan(c) and np.isnan(d)) or d == pytest.approx(-c, abs=1e-9)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(w, w0)


@settings(max_examples=40, deadline=None)
@given(data=sample(), scale=st.floats(0.01, 100))
def test_property_invariant_to_weight_rescaling(data, scale):
    x, t, w = data
    assert smd(x, t, weights=w * scale) == pytest.approx(smd(x, t, weights=w), abs=1e-9, nan_ok=True)
    assert ks_statistic(x, t, weights=w * scale) == pytest.approx(ks_statistic(x, t, weights=w), abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(counts=st.lists(st.tuples(st.integers(1, 15), st.integers(1, 15)), min_size=2, max_size=5),
       estimand=st.sampled_from(["ATE", "ATT", "ATC", "ATO", "matching"]))
def test_property_exact_weights_restore_balance_of_determining_covariate(counts, estimand):
    """If the covariate x fully determines the score and e(x) is the treated share within x (the exact
    score), the weighted distributions of x coincide in both arms for every estimand: SMD = KS = 0."""
    x = np.concatenate([np.full(a + b, float(k)) for k, (a, b) in enumerate(counts)])
    t = np.concatenate([np.r_[np.ones(a), np.zeros(b)] for a, b in counts]).astype(int)
    e = np.concatenate([np.full(a + b, a / (a + b)) for a, b in counts])
    w = _weights(e, t, estimand).weights
    assert smd(x, t, weights=w, estimand=estimand) == pytest.approx(0.0, abs=1e-9)
    assert ks_statistic(x, t, weights=w) == pytest.approx(0.0, abs=1e-9)


def test_large_confounded_cohort_weighting_removes_imbalance():
    """Known confounding (x1 normal, x2 binary, x3 3-level) with a correctly specified logistic PS:
    unweighted |SMD| > 0.2 for the strong confounders, ATE-weighted |SMD| < 0.05 for all. With n = 20000
    the sampling SD of a weighted SMD is about 0.01, so 0.05 is > 4 Monte Carlo SEs yet well below the
    0.2+ imbalance it guards."""
    rng = np.random.default_rng(20240611)
    n = 20000
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.binomial(1, 0.4, n),
                       "x3": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])})
    lp = -0.5 + 0.8 * df.x1 + 0.9 * df.x2 - 0.6 * (df.x3 == "b") + 0.7 * (df.x3 == "c")
    df["t"] = rng.binomial(1, special.expit(lp))
    ps = PropensityModel(covariates=["x1", "x2", "x3"]).fit_predict(df, treatment_col="t")
    w = _weights(ps, df.t.to_numpy(), "ATE")
    tab = balance_table(df, treatment_col="t", covariates=["x1", "x2", "x3"], weights=w, binary="std")
    assert tab.table.loc[tab.table.covariate == "x1", "smd_un"].abs().iloc[0] > 0.2
    assert tab.table.loc[tab.table.covariate == "x2", "smd_un"].abs().iloc[0] > 0.2
    assert tab.max_abs_smd < 0.05
    assert tab.n_flagged == 0


def test_table_outputs_and_conventions(rot):
    df, ps = rot
    w = _weights(ps, df.hormon.to_numpy(), "ATT")
    tab = balance_table(df, treatment_col="hormon", covariates=COVS, weights=w, estimand="ATT")
    assert tab.s_d_denom == "treated"
    assert "SD denominator treated" in tab.conventions and tab.conventions in tab.summary()
    json.dumps(tab.to_dict())
    frame = tab.to_frame()
    frame.loc[0, "smd_w"] = 99.0
    assert tab.table.loc[0, "smd_w"] != 99.0
    assert list(frame.columns[:3]) == ["covariate", "level", "type"]


def test_plots_return_axes_with_content(rot, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gistcausal.present.plots.balance import love_plot, overlap_plot, weight_plot

    df, ps = rot
    t = df.hormon.to_numpy()
    w = _weights(ps, t, "ATE")
    tab = balance_table(df, treatment_col="hormon", covariates=COVS, weights=w)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    ax = love_plot(tab, ax=axes[0], threshold=0.1)
    assert ax is axes[0]
    labels = [tl.get_text().strip() for tl in ax.get_yticklabels()]
    # rows follow the covariates' order (levels indented under their variable), as a reviewer reads Table 1
    assert labels[0] == tab.table["covariate"].iloc[0]
    assert any(len(line.get_xdata()) and abs(line.get_xdata()[0] - 0.1) < 1e-12 for line in ax.get_lines())
    xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if len(c.get_offsets())])
    assert len(xs) == 2 * len(tab.table)
    assert max(xs) == pytest.approx(max(tab.table.smd_un.abs().max(), tab.table.smd_w.abs().max()))
    assert overlap_plot(ps, t, weights=w, ax=axes[1]) is axes[1]
    assert len(axes[1].patches) == 60
    assert weight_plot(w, treatment=t, ax=axes[2]) is axes[2]
    assert "ESS" in axes[2].get_title()
    fig.savefig(tmp_path / "balance.png")
    plt.close(fig)
    assert love_plot(tab).figure is not None
    plt.close("all")


@pytest.mark.parametrize("estimand,binary", [("ATE", "raw"), ("ATT", "std"), ("ATC", "raw")])
def test_balance_table_equals_the_statistic_functions(estimand, binary):
    """balance_table shares each arm's rows and sort order across statistics and weightings; every cell equals
    smd(), variance_ratio() and ks_statistic() called on that covariate alone."""
    from gistcausal.stats.balance import ks_statistic, variance_ratio

    rng = np.random.default_rng(3)
    n = 700
    df = pd.DataFrame({"t": rng.integers(0, 2, n), "age": np.round(rng.normal(60, 10, n)),  # ties
                       "flag": rng.integers(0, 2, n), "two": rng.choice([3.0, 7.0], n),
                       "site": pd.Categorical(rng.choice(["a", "b", "c"], n)), "const": np.full(n, 2.0)})
    w = rng.exponential(1, n)
    w[rng.random(n) < 0.1] = 0.0                       # trimmed patients
    covs = ["age", "flag", "two", "site", "const"]
    bt = balance_table(df, treatment_col="t", covariates=covs, weights=w, estimand=estimand, binary=binary)
    t = df["t"].to_numpy()
    expanded = {"age": df["age"].to_numpy(float), "flag": df["flag"].to_numpy(float),
                "two": (df["two"] == 7.0).to_numpy(float), "const": df["const"].to_numpy(float)}
    expanded.update({f"site={lv}": (df["site"] == lv).to_numpy(float) for lv in "abc"})
    tab = bt.table
    assert len(tab) == 7
    for r in tab.itertuples():
        x = expanded[r.covariate if not r.level or r.covariate == "two" else f"{r.covariate}={r.level}"]
        for tag, ww in (("un", None), ("w", w)):
            np.testing.assert_allclose(getattr(r, f"smd_{tag}"), smd(x, t, weights=ww, estimand=estimand,
                                                                     binary=binary), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(getattr(r, f"ks_{tag}"), ks_statistic(x, t, weights=ww), atol=1e-14)
            vr = variance_ratio(x, t, weights=ww) if r.type == "continuous" else np.nan
            np.testing.assert_allclose(getattr(r, f"variance_ratio_{tag}"), vr, rtol=1e-12)
            m1 = np.average(x[t == 1], weights=None if ww is None else ww[t == 1])
            np.testing.assert_allclose(getattr(r, f"mean_treated_{tag}"), m1, rtol=1e-12)


def test_is_binary_means_every_value_0_or_1():
    """The binary test of the SMD conventions (issue 17: one comparison pass, not the distinct values)."""
    from gistcausal.stats.balance import _is_binary

    assert _is_binary(np.array([0.0, 1.0, 1.0])) and _is_binary(np.array([1.0, 1.0])) and _is_binary(np.zeros(3))
    assert not _is_binary(np.array([0.0, 2.0])) and not _is_binary(np.array([0.0, 1.0, 0.5]))
    assert not _is_binary(np.array([-1.0, 0.0]))
