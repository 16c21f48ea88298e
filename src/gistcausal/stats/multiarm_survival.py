"""Survival with more than two treatments: adjusted curves per arm, every pairwise contrast, the global test.

Above :mod:`gistcausal.stats.comparison` (each pair of arms is one two-arm comparison of that pair's patients
with their weights) and :mod:`gistcausal.stats.multiarm` (generalized propensity score, weights, balance).

:func:`compare_survival_multiarm` works on arrays (time, event, arm, weights); :func:`multiarm_analysis` is the
DataFrame entry point that fits the generalized propensity score, weights, checks balance and compares survival
in one call, returning a :class:`MultiArmComparison`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from gistcausal._checks import check_alpha, check_survival_inputs
from gistcausal.effects import EffectEstimate, EstimatesMixin, json_safe
from gistcausal.errors import CohortError, DataError
from gistcausal.stats.comparison import SurvivalComparison, compare_survival
from gistcausal.stats.km import LogRankResult, check_horizon, check_landmarks, kaplan_meier, logrank_test
from gistcausal.stats.multiarm import (
    MultiArmBalance,
    MultinomialPropensityModel,
    MultinomialPropensityResult,
    arm_codes,
    check_multiarm_estimand,
    multiarm_balance,
    multiarm_weights,
)

#: Measures each pair contributes (the per-arm ones, median/surv/rmst, are reported once per arm).
PAIR_MEASURES = ("surv_diff", "surv_ratio", "rmst_diff", "hr", "logrank_p")


@dataclass(frozen=True, slots=True)
class MultiArmComparison(EstimatesMixin):
    """Everything a K-arm survival comparison reports, aggregates only.

    Attributes
    ----------
    outcome, estimand, method : str
    arms : tuple of str
        The arms in order (the first is the reference of the propensity model).
    focal : str or None
        The ATT's focal arm.
    pairs : tuple of str
        The pairwise contrasts, ``"B vs A"`` for every A before B in ``arms``.
    curves : DataFrame
        weighting, arm, time, surv, std_err, ci_low, ci_high, n_risk (weighted), n_risk_raw, n_event,
        n_event_raw, n_censor_raw: the (weighted) Kaplan-Meier curve of each arm; a weighted analysis also
        carries the unweighted curves.
    at_risk : DataFrame
        arm, time, n_at_risk, weighted_n_at_risk.
    estimates : tuple of EffectEstimate
        Per arm (``contrast`` = the arm): ``median``, ``surv`` at each landmark, ``rmst``. Per pair
        (``contrast`` = ``"B vs A"``): ``median_diff`` (point estimate), ``surv_diff`` and ``surv_ratio`` at each
        landmark, ``rmst_diff``, ``hr``, ``logrank_p``. Global: ``logrank_p`` with ``contrast`` =
        ``"A vs B vs C"`` and ``extra`` holding the chi-square, its df and the test.
    global_test : LogRankResult
        The K-arm log-rank test (K - 1 df).
    ph_tests : dict
        Per pair, the ``cox.zph`` test of the pairwise Cox model.
    alpha : float
    propensity : MultinomialPropensityResult or None
        Set by :func:`multiarm_analysis`.
    weight_diagnostics : DataFrame or None
        Per arm and overall: n, sum, min, max, mean, SD, ESS of the weights (set by :func:`multiarm_analysis`).
    balance : MultiArmBalance or None
        Set by :func:`multiarm_analysis`.
    warnings : tuple of str
    """

    outcome: str
    estimand: str
    method: str
    arms: tuple[str, ...]
    focal: str | None
    pairs: tuple[str, ...]
    curves: pd.DataFrame
    at_risk: pd.DataFrame
    estimates: tuple[EffectEstimate, ...]
    global_test: LogRankResult
    ph_tests: dict
    alpha: float
    propensity: MultinomialPropensityResult | None = None
    weight_diagnostics: pd.DataFrame | None = None
    balance: MultiArmBalance | None = None
    warnings: tuple[str, ...] = ()

    def contrasts(self) -> pd.DataFrame:
        """The pairwise contrasts only, one row per pair, measure and landmark (a copy)."""
        frame = self.to_frame()
        return frame[frame["contrast"].isin(self.pairs)].reset_index(drop=True)

    def summary(self) -> str:
        """Paper-ready text: the design, per-arm and pairwise estimates, the global test, warnings."""
        target = f", focal arm {self.focal}" if self.focal else ""
        lines = [f"{self.outcome}: {len(self.arms)} arms ({', '.join(self.arms)}); {self.method}, estimand "
                 f"{self.estimand}{target}"]
        if self.propensity is not None:
            lines.append("  " + self.propensity.summary().splitlines()[0])
        if self.balance is not None:
            lines.append(f"  balance: largest pairwise |SMD| {self.balance.max_abs_smd:.3f}; "
                         f"{self.balance.n_flagged} rows >= {self.balance.threshold:g}")
        lines += ["  " + e.summary() for e in self.estimates]
        lines.append("  global: " + self.global_test.summary())
        lines += ["  warning: " + w for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict for ``results.json`` (aggregates only)."""
        def records(frame: pd.DataFrame | None) -> list[dict] | None:
            if frame is None:
                return None
            return [{str(k): json_safe(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

        return {"outcome": self.outcome, "estimand": self.estimand, "method": self.method, "arms": list(self.arms),
                "focal": self.focal, "pairs": list(self.pairs), "alpha": self.alpha,
                "estimates": [e.to_dict() for e in self.estimates], "global_test": self.global_test.to_dict(),
                "ph_tests": {k: json_safe(v) for k, v in self.ph_tests.items()},
                "curves": records(self.curves), "at_risk": records(self.at_risk),
                "propensity": None if self.propensity is None else self.propensity.to_dict(),
                "weight_diagnostics": records(self.weight_diagnostics),
                "balance": None if self.balance is None else self.balance.to_dict(),
                "warnings": list(self.warnings)}


def compare_survival_multiarm(time: Any, event: Any, arm: Any, *, arms: Sequence[Any] | None = None,
                              weights: Any = None, outcome: str, estimand: str = "none",
                              method: Literal["unadjusted", "iptw"] = "unadjusted", focal: Any = None,
                              landmarks: Any = (), horizon: float | None = None, alpha: float = 0.05,
                              at_risk_times: Any = None) -> MultiArmComparison:
    r"""Compare survival across K arms: per-arm curves, every pairwise contrast, the global log-rank test.

    Parameters
    ----------
    time, event : array-like
        Follow-up time and 1/0 event indicator.
    arm : array-like
        Each patient's arm label.
    arms : sequence, optional
        The arms in order (default: categorical order or sorted labels); each pair (A, B) with A before B is
        reported as ``"B vs A"`` (differences B minus A, ratios B over A).
    weights : array-like, optional
        K-arm weights (:func:`gistcausal.stats.multiarm.multiarm_weights`); required by ``method="iptw"``.
    outcome : str
        Outcome name carried by every estimate.
    estimand : str, default="none"
        The estimand the weights target (``"ATE"``, ``"ATT"``, ``"ATO"``), ``"none"`` unweighted.
    method : {"unadjusted", "iptw"}, default="unadjusted"
    focal : label, optional
        The ATT's focal arm (recorded in the result).
    landmarks : sequence of float
        Times of S(t), its differences and ratios; must lie within every arm's follow-up.
    horizon : float, optional
        RMST horizon.
    alpha : float, default=0.05
    at_risk_times : sequence of float, optional
        Times of the at-risk table; default: 0, the landmarks and 5 evenly spaced times.

    Returns
    -------
    MultiArmComparison

    Raises
    ------
    DataError
        Bad inputs; landmarks or horizon beyond some arm's follow-up.
    CohortError
        An arm without patients of positive weight.

    Notes
    -----
    Each pair (A, B) is analysed by :func:`gistcausal.stats.comparison.compare_survival` on the patients of A and
    B with their K-arm weights. Because the K-arm weights make every arm stand for the same target population
    (the whole sample for ATE, the focal arm for ATT, the overlap population for ATO), the pair's weighted
    contrast estimates that population's effect of B vs A: this is why the pairwise analysis uses the K-arm
    weights and never re-fits a binary propensity model on the pair (which would target the pair's own
    population). Per-arm curves are weighted Kaplan-Meier with infinitesimal-jackknife (robust) variance, the
    contrasts' variances add the arms' (independent) variances, and the hazard ratio is the weighted Cox
    model of the pair with the robust sandwich SE, as R
    ``coxph(Surv(time, event) ~ arm, data = <pair>, weights = w, robust = TRUE)``; robust variances treat the
    weights as known. The median difference has no analytic interval (the per-arm medians carry theirs).

    The global test is the design-based weighted log-rank test with K - 1 degrees of freedom, as
    ``survey::svylogrank(Surv(time, event) ~ arm, svydesign(ids = ~1, weights = ~w))`` for a K-level factor:
    the Wald test :math:`T^\top \hat V^{-1} T` of the weighted total of the Cox score residuals of the K - 1
    arm indicators at :math:`\beta = 0`, with the with-replacement variance of that total (Lin & Wei 1989;
    :func:`gistcausal.stats.km.logrank_test`). Unweighted, it is R's ``survdiff``.

    References
    ----------
    Xie J, Liu C (2005). Adjusted Kaplan-Meier estimator and log-rank test with inverse probability of treatment
    weighting for survival data. Stat Med 24:3089-3110. Li F, Li F (2019). Ann Appl Stat 13:2389-2415.
    Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards model. JASA 84:1074-1078.
    """
    where = "compare_survival_multiarm"
    if method not in ("unadjusted", "iptw"):
        raise DataError(f"{where}: `method` must be one of 'unadjusted', 'iptw' (got {method!r}). Use 'iptw' with "
                        "weights.")
    if method == "iptw" and weights is None:
        raise DataError(f"{where}: method 'iptw' needs `weights` (got None). Pass the K-arm weights or use "
                        "method='unadjusted'.")
    if method == "unadjusted" and weights is not None:
        raise DataError(f"{where}: method 'unadjusted' takes no `weights` (got weights). Use method='iptw' for a "
                        "weighted analysis.")
    t, e, w = check_survival_inputs(time, event, weights, where)
    alpha = check_alpha(alpha, where)
    codes, arm_order = arm_codes(arm if isinstance(arm, pd.Series) else np.asarray(arm, dtype=object), arms, where,
                                 name="arm")
    if codes.size != t.size:
        raise DataError(f"{where}: `arm` must have one value per patient (got {codes.size} values for {t.size} "
                        "times). Pass arrays of equal length.")
    names = tuple(str(a) for a in arm_order)
    weighted = weights is not None
    for j, name in enumerate(names):
        if not np.any(w[codes == j] > 0):
            raise CohortError(f"{where}: arm {name!r} is empty (got 0 patients with positive weight). Check the "
                              "cohort definition and the weights.")
    # landmarks and horizon are checked once against the shortest arm, so no pair fails on them
    kms = [kaplan_meier(t[codes == j], e[codes == j], weights=w[codes == j] if weighted else None, alpha=alpha)
           for j in range(len(names))]
    last = min(float(k.time[-1]) for k in kms)
    lm = check_landmarks(landmarks, last, where)
    tau = None if horizon is None else check_horizon(horizon, last, where, "horizon")
    grid = (np.unique(np.r_[0.0, lm, np.linspace(0, last, 6)]) if at_risk_times is None
            else np.asarray(at_risk_times, dtype=float))
    pair_results: dict[tuple[int, int], SurvivalComparison] = {}
    warn: list[str] = []
    for i, j in combinations(range(len(names)), 2):
        m = (codes == i) | (codes == j)
        # a pair's warnings (e.g. proportional hazards rejected) do not say which pair: re-issue them naming it
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pair_results[(i, j)] = compare_survival(
                t[m], e[m], (codes[m] == j).astype(float), weights=w[m] if weighted else None, outcome=outcome,
                arm_labels=(names[i], names[j]), estimand=estimand, method=method, landmarks=lm, horizon=tau,
                alpha=alpha, at_risk_times=grid)
        for c in caught:
            msg = f"{where} ({names[j]} vs {names[i]}): {c.message}"
            if msg not in warn:
                warn.append(msg)
                warnings.warn(msg, c.category, stacklevel=2)
    estimates, curves, at_risk = _per_arm(names, pair_results)
    pairs, ph_tests = [], {}
    for (i, j), res in pair_results.items():
        contrast = f"{names[j]} vs {names[i]}"
        pairs.append(contrast)
        ph_tests[contrast] = res.ph_test
        meds = [res.get("median", contrast=names[k]) for k in (i, j)]
        diff = meds[1].value - meds[0].value
        estimates.append(EffectEstimate(
            outcome=outcome, contrast=contrast, estimand=estimand, method=method, measure="median_diff", value=diff,
            variance="none", n=meds[0].n + meds[1].n,
            note="no analytic interval: see the per-arm medians" if math.isfinite(diff) else
            "not estimable: a curve never reaches 0.5"))
        estimates += [x for x in res.estimates if x.measure in PAIR_MEASURES]
    glob = logrank_test(t, e, codes, weights=w if weighted else None)
    estimates.append(EffectEstimate(
        outcome=outcome, contrast=" vs ".join(names), estimand=estimand, method=method, measure="logrank_p",
        value=glob.p, p=glob.p, variance="robust" if weighted else "model", n=glob.n,
        note="" if math.isfinite(glob.p) else "not estimable: no events",
        extra={"statistic": glob.statistic, "df": glob.df, "test": glob.method, "scope": "global"}))
    return MultiArmComparison(
        outcome=outcome, estimand=estimand, method=method, arms=names,
        focal=None if focal is None else str(focal), pairs=tuple(pairs), curves=curves, at_risk=at_risk,
        estimates=tuple(estimates), global_test=glob, ph_tests=ph_tests, alpha=alpha, warnings=tuple(warn))


def _per_arm(names: tuple[str, ...], pair_results: dict[tuple[int, int], SurvivalComparison]
             ) -> tuple[list[EffectEstimate], pd.DataFrame, pd.DataFrame]:
    """Each arm's estimates, curves and at-risk rows, taken from the first pair that holds the arm (an arm's
    Kaplan-Meier curve does not depend on the arm it is compared with)."""
    estimates: list[EffectEstimate] = []
    curves, at_risk = [], []
    for k, name in enumerate(names):
        res = next(r for (i, j), r in pair_results.items() if k in (i, j))
        estimates += [x for x in res.estimates if x.contrast == name]
        curves.append(res.curves[res.curves["arm"] == name])
        at_risk.append(res.at_risk[res.at_risk["arm"] == name])
    curves_df = pd.concat(curves, ignore_index=True)
    order = {"unweighted": 0, "weighted": 1}
    curves_df = curves_df.sort_values(["weighting", "arm"], key=lambda s: s.map(order) if s.name == "weighting"
                                      else s.map({n: i for i, n in enumerate(names)}), kind="stable")
    return estimates, curves_df.reset_index(drop=True), pd.concat(at_risk, ignore_index=True)


def multiarm_analysis(df: pd.DataFrame, *, treatment_col: str, time_col: str, event_col: str,
                      covariates: Sequence[str], outcome: str | None = None, arms: Sequence[Any] | None = None,
                      estimand: Literal["ATE", "ATT", "ATO"] = "ATE", focal: Any = None, stabilize: bool = False,
                      method: Literal["iptw", "unadjusted"] = "iptw", splines: Any = (),
                      interactions: Sequence[tuple[str, str]] = (), landmarks: Any = (),
                      horizon: float | None = None, threshold: float = 0.1, alpha: float = 0.05,
                      at_risk_times: Any = None) -> MultiArmComparison:
    """K-arm analysis of a DataFrame: generalized propensity score, weights, balance and survival contrasts.

    Parameters
    ----------
    df : DataFrame
        One row per patient.
    treatment_col : str
        Column of arm labels (three or more arms; two also work).
    time_col, event_col : str
        Follow-up time and 1/0 event indicator.
    covariates : sequence of str
        Confounders of the propensity model and the balance table.
    outcome : str, optional
        Name carried by the estimates; default ``event_col``.
    arms : sequence, optional
        Arm order; the first is the reference of the multinomial logit (default: categorical order or sorted).
    estimand : {"ATE", "ATT", "ATO"}, default="ATE"
        Target population of the weights (:func:`gistcausal.stats.multiarm.multiarm_weights`).
    focal : label, optional
        The ATT's focal arm.
    stabilize : bool, default=False
        Stabilized ATE weights.
    method : {"iptw", "unadjusted"}, default="iptw"
        ``"unadjusted"`` still fits the propensity model and reports balance, but compares survival unweighted.
    splines, interactions
        Extra propensity-model terms, as :class:`gistcausal.stats.multiarm.MultinomialPropensityModel`.
    landmarks, horizon, alpha, at_risk_times
        As :func:`compare_survival_multiarm`.
    threshold : float, default=0.1
        |SMD| flagged in the balance table.

    Returns
    -------
    MultiArmComparison
        With ``propensity``, ``weight_diagnostics`` and ``balance`` set.

    Raises
    ------
    DataError
        Columns absent, missing values, an arm without patients.
    ConfigError
        Estimand/focal/stabilize combinations that are not defined for K arms.
    ModelFitError
        The multinomial model cannot be fitted (too few patients, rank deficiency, separation).

    Examples
    --------
    >>> import pandas as pd
    >>> from gistcausal import multiarm_analysis
    >>> df = pd.read_csv("tests/reference/multiarm/colon.csv")                       # doctest: +SKIP
    >>> res = multiarm_analysis(df, treatment_col="rx", time_col="time", event_col="status",
    ...                         covariates=["age", "sex", "nodes"], arms=["Obs", "Lev", "Lev+5FU"],
    ...                         landmarks=[365, 1095], horizon=1825)                 # doctest: +SKIP
    >>> res.get("hr", contrast="Lev+5FU vs Obs").value                              # doctest: +SKIP
    """
    where = "multiarm_analysis"
    check_multiarm_estimand(estimand, where=where, stabilize=stabilize)
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{where}: df must be a pandas DataFrame (got {type(df).__name__}). Pass the analysis "
                        "table.")
    absent = [c for c in (treatment_col, time_col, event_col) if c not in df.columns]
    if absent:
        raise DataError(f"{where}: columns {absent} are not in the data (got columns {list(df.columns)[:10]}). "
                        "Pass treatment_col, time_col and event_col naming the data's columns.")
    model = MultinomialPropensityModel(covariates=covariates, splines=splines, interactions=interactions, arms=arms)
    ps = model.fit_predict(df, treatment_col=treatment_col)
    wres = multiarm_weights(ps, df[treatment_col], estimand=estimand, focal=focal, stabilize=stabilize,
                            arms=model.arms_)
    bal = multiarm_balance(df, treatment_col=treatment_col, covariates=list(covariates) or model.design_.columns,
                           weights=wres.weights, arms=model.arms_, estimand=estimand, focal=focal,
                           threshold=threshold)
    comp = compare_survival_multiarm(
        df[time_col], df[event_col], df[treatment_col], arms=model.arms_,
        weights=wres.weights if method == "iptw" else None, outcome=outcome or event_col,
        estimand=estimand if method == "iptw" else "none", method=method, focal=wres.focal, landmarks=landmarks,
        horizon=horizon, alpha=alpha, at_risk_times=at_risk_times)
    warn = list(model.result_.warnings) + list(wres.warnings) + list(comp.warnings)
    return replace(comp, propensity=model.result_, weight_diagnostics=wres.diagnostics, balance=bal,
                   focal=wres.focal, warnings=tuple(dict.fromkeys(warn)))


__all__ = ["MultiArmComparison", "compare_survival_multiarm", "multiarm_analysis", "PAIR_MEASURES"]
