"""More than two treatments (stats/multiarm.py, stats/multiarm_survival.py; issue 18 section 3) against R:
nnet::multinom, hand-written K-arm weights and cobalt-convention SMDs, survfit (robust), pairwise
coxph(robust = TRUE) and survey::svylogrank, made by tests/reference/multiarm/make_multiarm.R on survival::colon
(three arms Obs, Lev, Lev+5FU; recurrence)."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from gistcausal.errors import (
    ConfigError,
    DataError,
    ModelFitError,
    NotFittedError,
    ProportionalHazardsWarning,
    SmallSampleWarning,
)
from gistcausal.stats.multiarm import (
    MultinomialPropensityModel,
    multiarm_balance,
    multiarm_weights,
)
from gistcausal.stats.multiarm_survival import compare_survival_multiarm, multiarm_analysis

from tests.conftest import REFERENCE

TOL = 1e-6  # deterministic, against R
COVS = ["age", "sex", "obstruct", "nodes", "extent"]
PAIRS = ["Lev vs Obs", "Lev+5FU vs Obs", "Lev+5FU vs Lev"]
ESTIMANDS = {"ATE": {}, "ATT": {"focal": "Lev+5FU"}, "ATO": {}}


@pytest.fixture(scope="module")
def ref():
    return json.loads((REFERENCE / "multiarm" / "multiarm.json").read_text())


@pytest.fixture(scope="module")
def colon():
    return pd.read_csv(REFERENCE / "multiarm" / "colon.csv")


@pytest.fixture(scope="module")
def arms(ref):
    return ref["meta"]["arms"]


@pytest.fixture(scope="module")
def model(colon, arms):
    return MultinomialPropensityModel(covariates=COVS, arms=arms).fit(colon, treatment_col="rx")


@pytest.fixture(scope="module")
def comparisons(colon, ref, arms):
    return {est: compare_survival_multiarm(colon.time, colon.status, colon.rx, arms=arms,
                                           weights=np.array(ref["weights"][est]), outcome="recurrence",
                                           estimand=est, method="iptw", landmarks=ref["meta"]["times"],
                                           horizon=ref["meta"]["tau"], focal=ESTIMANDS[est].get("focal"))
            for est in ESTIMANDS}


# ------------------------------------------------------------------------------------------ propensity
def test_multinomial_coefficients_match_nnet(model, ref):
    """R: coef(multinom(rx ~ age + sex + obstruct + nodes + extent, data, reltol = 1e-16, maxit = 10000)),
    summary(fit)$standard.errors (Hess = TRUE) and -fit$value."""
    coef = model.result_.coefficients
    assert list(coef.arm.unique()) == ref["multinom"]["arms"]
    for a, arm in enumerate(ref["multinom"]["arms"]):
        block = coef[coef.arm == arm]
        assert block.coef.to_numpy() == pytest.approx(ref["multinom"]["coef"][a], abs=TOL)
        assert block.se.to_numpy() == pytest.approx(ref["multinom"]["se"][a], abs=TOL)
    assert model.result_.loglik == pytest.approx(ref["multinom"]["loglik"], abs=TOL)
    assert model.result_.converged


def test_multinomial_fitted_probabilities_match_nnet(model, colon, ref):
    """R: fitted(multinom(...)), one column per arm in factor-level order."""
    ps = model.predict(colon)
    assert ps.shape == (len(colon), 3)
    for k in range(3):
        assert ps[:, k] == pytest.approx(ref["multinom"]["fitted"][k], abs=TOL)


def test_multinomial_with_two_arms_is_the_logistic_model(colon):
    """K = 2: the multinomial logit is the binary logit, so the scores equal PropensityModel's (glm)."""
    from gistcausal.stats.propensity import PropensityModel

    two = colon[colon.rx != "Lev"].reset_index(drop=True)
    two = two.assign(treated=(two.rx == "Lev+5FU").astype(int))
    ps_k = MultinomialPropensityModel(covariates=COVS, arms=["Obs", "Lev+5FU"]).fit_predict(two, treatment_col="rx")
    ps_b = PropensityModel(covariates=COVS).fit_predict(two, treatment_col="treated")
    assert ps_k[:, 1] == pytest.approx(ps_b, abs=1e-9)


# ------------------------------------------------------------------------------------------ weights
@pytest.mark.parametrize("name, estimand, kwargs", [
    ("ATE", "ATE", {}), ("ATE_stabilized", "ATE", {"stabilize": True}),
    ("ATT", "ATT", {"focal": "Lev+5FU"}), ("ATO", "ATO", {})])
def test_weights_match_hand_written_r(model, colon, ref, arms, name, estimand, kwargs):
    """R: 1/e_a; table(rx)/n * 1/e_a; e_focal/e_a; (1/rowSums(1/e))/e_a from fitted(multinom(...))."""
    w = multiarm_weights(model.predict(colon), colon.rx, estimand=estimand, arms=arms, **kwargs)
    assert w.weights == pytest.approx(ref["weights"][name], abs=TOL)
    assert w.focal == kwargs.get("focal")


def test_weights_with_two_arms_equal_the_binary_weights(rng_scores):
    """K = 2: ATE and overlap weights reduce to 1/e, 1/(1-e) and 1-e, e (compute_weights)."""
    from gistcausal.stats.weights import compute_weights

    e, t = rng_scores
    ps = np.c_[1 - e, e]
    for estimand in ("ATE", "ATO"):
        wk = multiarm_weights(ps, t, estimand=estimand, arms=[0, 1]).weights
        wb = compute_weights(e, t, estimand=estimand).weights
        assert wk == pytest.approx(wb, rel=1e-12)
    # ATT with the treated arm as focal is the binary ATT
    wk = multiarm_weights(ps, t, estimand="ATT", focal=1, arms=[0, 1]).weights
    assert wk == pytest.approx(compute_weights(e, t, estimand="ATT").weights, rel=1e-12)


@pytest.fixture(scope="module")
def rng_scores():
    rng = np.random.default_rng(18)
    e = rng.uniform(0.1, 0.9, 300)
    return e, (rng.uniform(size=300) < e).astype(int)


def test_weight_diagnostics_hold_aggregates_only(model, colon, arms):
    w = multiarm_weights(model.predict(colon), colon.rx, estimand="ATO", arms=arms)
    d = w.to_dict()
    assert "weights" not in d
    assert [r["arm"] for r in d["diagnostics"]] == arms + ["overall"]
    json.dumps(d)


# ------------------------------------------------------------------------------------------ balance
@pytest.mark.parametrize("estimand", list(ESTIMANDS))
def test_pairwise_smd_match_cobalt_conventions(colon, ref, arms, estimand):
    """R (hand-written, cobalt's multi-category rule): (weighted mean B - weighted mean A) / sqrt(mean over the
    3 arms of the unweighted variances) for ATE/ATO, / SD of the focal arm for ATT; binary rows raw."""
    bal = multiarm_balance(colon, treatment_col="rx", covariates=COVS, weights=np.array(ref["weights"][estimand]),
                           arms=arms, estimand=estimand, **ESTIMANDS[estimand])
    r = ref["balance"][estimand]
    for pair in PAIRS:
        rows = bal.pairs[bal.pairs.contrast == pair]
        assert rows.smd_un.to_numpy() == pytest.approx(r[pair]["smd_un"], abs=TOL)
        assert rows.smd_w.to_numpy() == pytest.approx(r[pair]["smd_w"], abs=TOL)
    # across pairs: the largest |SMD| per row, as cobalt's "Balance.Across.Pairs"
    worst = np.max(np.abs([r[p]["smd_w"] for p in PAIRS]), axis=0)
    assert bal.overall.max_abs_smd_w.to_numpy() == pytest.approx(worst, abs=TOL)
    assert bal.max_abs_smd == pytest.approx(worst.max(), abs=TOL)


def test_smd_changes_sign_when_the_arms_are_reordered(colon, ref):
    w = np.array(ref["weights"]["ATE"])
    one = multiarm_balance(colon, treatment_col="rx", covariates=COVS, weights=w, arms=["Obs", "Lev", "Lev+5FU"])
    two = multiarm_balance(colon, treatment_col="rx", covariates=COVS, weights=w, arms=["Lev", "Obs", "Lev+5FU"])
    a = one.pairs[one.pairs.contrast == "Lev vs Obs"].smd_w.to_numpy()
    b = two.pairs[two.pairs.contrast == "Obs vs Lev"].smd_w.to_numpy()
    assert a == pytest.approx(-b, abs=1e-12)
    assert one.overall.max_abs_smd_w.to_numpy() == pytest.approx(two.overall.max_abs_smd_w.to_numpy(), abs=1e-12)


def test_balance_means_table_has_one_column_per_arm(colon, ref, arms):
    bal = multiarm_balance(colon, treatment_col="rx", covariates=COVS, weights=np.array(ref["weights"]["ATE"]),
                           arms=arms)
    means = bal.to_frame(table="means")
    assert [c for c in means.columns if c.startswith("mean_un[")] == [f"mean_un[{a}]" for a in arms]
    age = means[means.covariate == "age"].iloc[0]
    assert age["mean_un[Obs]"] == pytest.approx(colon.age[colon.rx == "Obs"].mean(), abs=1e-12)


# ------------------------------------------------------------------------------------------ survival
@pytest.mark.parametrize("estimand", list(ESTIMANDS))
def test_weighted_km_per_arm_matches_survfit(comparisons, ref, arms, estimand):
    """R: summary(survfit(Surv(time, status) ~ 1, data = <arm>, weights = w, robust = TRUE), times,
    extend = TRUE): surv, std.err, lower, upper; the median with its CI; IJ RMST at tau."""
    c, r = comparisons[estimand], ref["survival"][estimand]["arm"]
    for arm in arms:
        for i, x in enumerate(ref["meta"]["times"]):
            s = c.get("surv", contrast=arm, time=x)
            assert (s.value, s.se, s.ci_low, s.ci_high) == pytest.approx(
                (r[arm]["surv"][i], r[arm]["std_err"][i], r[arm]["lower"][i], r[arm]["upper"][i]), abs=TOL)
        med = c.get("median", contrast=arm)
        for got, want in ((med.value, r[arm]["median"]), (med.ci_low, r[arm]["median_lcl"]),
                          (med.ci_high, r[arm]["median_ucl"])):
            assert (not math.isfinite(got)) if want is None else got == pytest.approx(want, abs=TOL)
        rm = c.get("rmst", contrast=arm)
        assert (rm.value, rm.se) == pytest.approx((r[arm]["rmst"], r[arm]["rmst_se"]), abs=TOL)


@pytest.mark.parametrize("estimand", list(ESTIMANDS))
def test_pairwise_hazard_ratios_match_robust_coxph(comparisons, ref, estimand):
    """R: coxph(Surv(time, status) ~ arm, data = <the pair's patients>, weights = w, robust = TRUE,
    ties = 'efron'): coef and sqrt(fit$var); svylogrank of the pair."""
    c = comparisons[estimand]
    assert c.pairs == tuple(PAIRS)
    for pair, r in ref["survival"][estimand]["pair"].items():
        hr = c.get("hr", contrast=pair)
        assert math.log(hr.value) == pytest.approx(r["coef"], abs=TOL)
        assert hr.se == pytest.approx(r["robust_se"], abs=TOL)
        assert hr.variance == "robust"
        lr = c.get("logrank_p", contrast=pair)
        assert lr.extra["statistic"] == pytest.approx(r["logrank_chisq"], abs=TOL)


@pytest.mark.parametrize("estimand", list(ESTIMANDS))
def test_global_weighted_logrank_matches_svylogrank(comparisons, ref, estimand):
    """R: svylogrank(Surv(time, status) ~ rx, svydesign(ids = ~1, weights = ~w, data)) with the 3-level rx:
    chi-square on 2 df and p."""
    c, r = comparisons[estimand], ref["survival"][estimand]["global"]
    assert c.global_test.df == 2
    assert c.global_test.statistic == pytest.approx(r["chisq"], abs=TOL)
    assert c.global_test.p == pytest.approx(r["p"], abs=TOL)
    g = c.get("logrank_p", contrast="Obs vs Lev vs Lev+5FU")
    assert g.extra["df"] == 2 and g.p == pytest.approx(r["p"], abs=TOL)


def test_pairwise_differences_are_the_per_arm_differences(comparisons):
    c = comparisons["ATE"]
    for pair in PAIRS:
        b, a = pair.split(" vs ")
        for x in (365.0, 1095.0):
            d = c.get("surv_diff", contrast=pair, time=x)
            assert d.value == pytest.approx(c.get("surv", contrast=b, time=x).value
                                            - c.get("surv", contrast=a, time=x).value, abs=1e-12)
            assert d.se == pytest.approx(math.hypot(c.get("surv", contrast=b, time=x).se,
                                                    c.get("surv", contrast=a, time=x).se), abs=1e-12)
    assert set(c.contrasts().contrast) == set(PAIRS)


def test_contrasts_invariant_to_weight_rescaling_and_row_order(colon, ref, arms):
    """(cox.zph, like R's, treats weights as case weights, so its test is not scale invariant: silenced here.)"""
    w = np.array(ref["weights"]["ATE"])
    base = compare_survival_multiarm(colon.time, colon.status, colon.rx, arms=arms, weights=w, outcome="r",
                                     estimand="ATE", method="iptw", landmarks=[1095])
    order = np.random.default_rng(3).permutation(len(colon))
    d = colon.iloc[order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProportionalHazardsWarning)
        other = compare_survival_multiarm(d.time, d.status, d.rx, arms=arms, weights=7.5 * w[order], outcome="r",
                                          estimand="ATE", method="iptw", landmarks=[1095])
    for pair in PAIRS:
        for measure in ("hr", "surv_diff"):
            a, b = base.get(measure, contrast=pair), other.get(measure, contrast=pair)
            assert (a.value, a.se) == pytest.approx((b.value, b.se), abs=1e-9)
    assert base.global_test.statistic == pytest.approx(other.global_test.statistic, abs=1e-9)


def test_a_pairs_warning_names_the_pair():
    """The two-arm warning cannot say which pair it is about; the K-arm comparison re-issues it naming the pair
    and keeps it in ``warnings``."""
    rng = np.random.default_rng(11)
    n = 90
    arm = np.repeat(["a", "b", "c"], n // 3)
    time = rng.exponential(10, n)
    event = np.where(arm == "c", 0, 1)
    with pytest.warns(SmallSampleWarning, match=r"^compare_survival_multiarm \(c vs [ab]\): os: no events in arm 'c' "
                                                r"\(got 0 events in 30 patients\), so the hazard ratio is not "
                                                r"estimable\."):
        res = compare_survival_multiarm(time, event, arm, outcome="os")
    assert [w.split(":")[0] for w in res.warnings] == ["compare_survival_multiarm (c vs a)",
                                                        "compare_survival_multiarm (c vs b)"]
    assert math.isnan(res.get("hr", contrast="c vs b").value)
    assert math.isfinite(res.get("hr", contrast="b vs a").value)


# ------------------------------------------------------------------------------------------ public API
def test_multiarm_analysis_end_to_end_matches_r(colon, ref, arms):
    """The DataFrame entry point: multinom -> ATT weights (focal Lev+5FU) -> balance -> pairwise robust Cox,
    each step equal to R's (the weights agree to 1e-10, so do the HRs)."""
    before = colon.copy()
    res = multiarm_analysis(colon, treatment_col="rx", time_col="time", event_col="status", covariates=COVS,
                            arms=arms, estimand="ATT", focal="Lev+5FU", landmarks=ref["meta"]["times"],
                            horizon=ref["meta"]["tau"], outcome="recurrence")
    pd.testing.assert_frame_equal(colon, before)
    assert res.focal == "Lev+5FU" and res.arms == tuple(arms)
    for pair, r in ref["survival"]["ATT"]["pair"].items():
        hr = res.get("hr", contrast=pair)
        assert (math.log(hr.value), hr.se) == pytest.approx((r["coef"], r["robust_se"]), abs=TOL)
    assert res.global_test.statistic == pytest.approx(ref["survival"]["ATT"]["global"]["chisq"], abs=TOL)
    assert res.balance is not None and res.balance.focal == "Lev+5FU"
    assert res.propensity.loglik == pytest.approx(ref["multinom"]["loglik"], abs=TOL)
    assert list(res.weight_diagnostics.arm) == arms + ["overall"]


def test_multiarm_result_is_json_safe_and_holds_no_patient_rows(colon, arms):
    res = multiarm_analysis(colon, treatment_col="rx", time_col="time", event_col="status", covariates=COVS,
                            arms=arms, estimand="ATO", landmarks=[365])
    d = json.loads(json.dumps(res.to_dict()))
    assert {e["measure"] for e in d["estimates"]} >= {"median", "surv", "surv_diff", "surv_ratio", "hr",
                                                       "median_diff", "logrank_p"}
    assert d["pairs"] == PAIRS
    text = res.summary()
    assert "3 arms (Obs, Lev, Lev+5FU)" in text and "estimand ATO" in text

    def walk(x):
        if isinstance(x, np.ndarray):
            assert x.size != len(colon)
        elif isinstance(x, (list, tuple)):
            assert len(x) != len(colon) or not all(isinstance(v, (int, float)) for v in x)
            for v in x:
                walk(v)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)

    walk(d)


def test_public_api_exports_multiarm_analysis():
    import gistcausal

    assert "multiarm_analysis" in gistcausal.__all__
    assert gistcausal.multiarm_analysis is multiarm_analysis


# ------------------------------------------------------------------------------------------ errors
def test_att_needs_a_focal_arm(model, colon, arms):
    with pytest.raises(ConfigError, match=r"^multiarm_weights: estimand 'ATT' with 3 arms needs the focal arm "
                                          r"\(got focal=None\)\. Pass focal= one of \['Obs', 'Lev', 'Lev\+5FU'\]\.$"):
        multiarm_weights(model.predict(colon), colon.rx, estimand="ATT", arms=arms)


def test_focal_must_be_an_arm(model, colon, arms):
    with pytest.raises(ConfigError, match=r"^multiarm_weights: focal must be one of the arms \['Obs', 'Lev', "
                                          r"'Lev\+5FU'\] \(got 'FOLFOX'\)\. Pick one of these\.$"):
        multiarm_weights(model.predict(colon), colon.rx, estimand="ATT", focal="FOLFOX", arms=arms)


def test_focal_refused_outside_att(model, colon, arms):
    with pytest.raises(ConfigError, match=r"^multiarm_weights: focal is only used with estimand 'ATT' \(got "
                                          r"focal='Obs' with estimand 'ATE'\)\. Remove focal, or use "
                                          r"estimand='ATT'\.$"):
        multiarm_weights(model.predict(colon), colon.rx, estimand="ATE", focal="Obs", arms=arms)


def test_unknown_estimand_and_stabilized_overlap_rejected(model, colon, arms):
    with pytest.raises(ConfigError, match=r"^multiarm_weights: estimand must be one of \['ATE', 'ATT', 'ATO'\] "
                                          r"for more than two arms \(got 'ATC'\)\. Use 'ATT' with focal= for a "
                                          r"one-arm target population\.$"):
        multiarm_weights(model.predict(colon), colon.rx, estimand="ATC", arms=arms)
    with pytest.raises(ConfigError, match=r"^multiarm_weights: stabilize=True is only defined for estimand "
                                          r"\['ATE'\] \(got estimand='ATO'\)\. Set stabilize=False\.$"):
        multiarm_weights(model.predict(colon), colon.rx, estimand="ATO", stabilize=True, arms=arms)


def test_scores_must_have_one_column_per_arm(model, colon, arms):
    with pytest.raises(DataError, match=r"^multiarm_weights: ps must have one row per patient and one column "
                                        r"per arm \(got shape \(911, 2\) for 911 patients and 3 arms\)"):
        multiarm_weights(model.predict(colon)[:, :2], colon.rx, arms=arms)


def test_treatment_values_outside_the_arms_rejected(colon):
    with pytest.raises(DataError, match=r"^MultinomialPropensityModel\.fit: column 'rx' has 304 values not among "
                                        r"the arms \['Obs', 'Lev\+5FU'\] \(got \['Lev'\]\)\. Add them to `arms` or "
                                        r"drop these patients\.$"):
        MultinomialPropensityModel(covariates=COVS, arms=["Obs", "Lev+5FU"]).fit(colon, treatment_col="rx")


def test_predict_before_fit_rejected(colon):
    with pytest.raises(NotFittedError, match=r"^MultinomialPropensityModel\.predict: the model is not fitted"):
        MultinomialPropensityModel(covariates=COVS).predict(colon)


def test_separated_arm_rejected():
    """An arm predicted perfectly by a binary covariate: the MLE does not exist."""
    rng = np.random.default_rng(7)
    n = 300
    df = pd.DataFrame({"x": rng.normal(size=n), "arm": rng.choice(["a", "b", "c"], size=n)})
    df["flag"] = (df.arm == "c").astype(int)
    with pytest.raises(ModelFitError, match=r"^MultinomialPropensityModel\.fit: the covariates separate the arms"):
        MultinomialPropensityModel(covariates=["x", "flag"]).fit(df, treatment_col="arm")


def test_landmark_beyond_an_arms_follow_up_rejected(colon, arms):
    with pytest.raises(DataError, match=r"^compare_survival_multiarm: "):
        compare_survival_multiarm(colon.time, colon.status, colon.rx, arms=arms, outcome="r", landmarks=[10_000])
