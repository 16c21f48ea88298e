r"""IPTW comparison of binary and continuous outcomes: risk difference, risk ratio, odds ratio, mean difference.

For outcomes measured once per patient (response, toxicity, a laboratory value; Hernan & Robins, *What If*,
ch. 12), the IP-weighted (Hajek) mean of arm :math:`a` is

.. math:: \hat\mu_a = \frac{\sum_i w_i 1[A_i = a] Y_i}{\sum_i w_i 1[A_i = a]},

the solution of :math:`\sum_i w_i 1[A_i=a](Y_i - \mu_a) = 0`. The contrasts are :math:`\hat\mu_1 - \hat\mu_0`
(``risk_diff`` for a 0/1 outcome, ``mean_diff`` for a continuous one), :math:`\hat\mu_1 / \hat\mu_0`
(``risk_ratio``) and :math:`\{\hat\mu_1/(1-\hat\mu_1)\} / \{\hat\mu_0/(1-\hat\mu_0)\}` (``odds_ratio``). They
equal the treatment coefficient of the saturated weighted GLM ``y ~ treatment`` with identity, log and logit link
(the marginal structural model of *What If*, programs 12.3-12.4).

Variance with the weights known: the influence term of :math:`\hat\mu_a` is
:math:`D_{ai} = w_i 1[A_i = a](Y_i - \hat\mu_a) / \sum_j w_j 1[A_j = a]`, and :math:`\sum_i D_i D_i^\top` is the
HC0 sandwich of the saturated weighted GLM, i.e. R ``geepack::geeglm(y ~ treatment, weights = w, id = id,
corstr = "independence")`` (``san.se``) and ``sandwich::vcovHC(glm, type = "HC0")`` (checked to 1e-6 in
``tests/reference/binary``). Ratios use the delta method on the log scale:
:math:`\mathrm{IF}(\log RR) = D_1/\hat\mu_1 - D_0/\hat\mu_0`,
:math:`\mathrm{IF}(\log OR) = D_1/\{\hat\mu_1(1-\hat\mu_1)\} - D_0/\{\hat\mu_0(1-\hat\mu_0)\}`. The same
influence terms, corrected for the estimated propensity score, give the M-estimation variance
(:mod:`gistcausal.inference.point_outcomes`).

References
----------
Hernan MA, Robins JM (2020). Causal Inference: What If. Chapman & Hall/CRC, ch. 12 (programs 12.1-12.4).
Robins JM, Hernan MA, Brumback B (2000). Marginal structural models and causal inference in epidemiology.
Epidemiology 11:550-560.
Lunceford JK, Davidian M (2004). Stat Med 23:2937-2960 (Hajek estimator and its sandwich variance).
VanderWeele TJ, Ding P (2017). Sensitivity analysis in observational research: introducing the E-value. Ann
Intern Med 167:268-274.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal._checks import as_float, check_alpha, check_estimand, check_weights
from gistcausal.effects import EffectEstimate, EstimatesMixin, json_safe
from gistcausal.errors import CohortError, DataError, GistCausalError
from gistcausal.stats.evalue import EValueResult, evalue
from gistcausal.stats.weights import kish_ess

OutcomeKind = Literal["binary", "continuous"]

#: Measures of each outcome kind (per-arm mean first); the values of ``EffectEstimate.measure``.
POINT_MEASURES = {"binary": ("risk", "risk_diff", "risk_ratio", "odds_ratio"),
                  "continuous": ("mean", "mean_diff")}
#: Measures estimated (and their intervals built) on the log scale.
LOG_MEASURES = frozenset({"risk_ratio", "odds_ratio"})


# ----------------------------------------------------------------------------------------------------
# kernels (unchecked fast paths; the M-estimation and the bootstrap call the same ones)
# ----------------------------------------------------------------------------------------------------
def arm_means(y: np.ndarray, a: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    r"""Hajek means :math:`(\hat\mu_0, \hat\mu_1)`; unchecked (float arrays, both arms with positive weight)."""
    m = a == 1
    return (float(np.dot(w[~m], y[~m]) / w[~m].sum()), float(np.dot(w[m], y[m]) / w[m].sum()))


class PointTerms(NamedTuple):
    """Estimates on their estimation scale and their weights-known influence terms (patient level)."""

    keys: tuple[tuple[str, int | None], ...]    # (measure, arm) with arm None for contrasts
    value: np.ndarray                           # log scale for LOG_MEASURES
    influence: np.ndarray                       # (n, k): D_i, so that sum_i D_i^2 is the HC0 variance


def point_terms(y: np.ndarray, a: np.ndarray, w: np.ndarray, kind: str) -> PointTerms:
    r"""Per-arm means, contrasts and their influence terms :math:`D_i` with the weights known (module Notes).

    Unchecked fast path. ``kind`` ``"binary"`` gives ``risk`` per arm, ``risk_diff``, ``risk_ratio`` and
    ``odds_ratio`` (log scale; NaN with a zero influence column when a risk is 0 or 1); ``"continuous"`` gives
    ``mean`` per arm and ``mean_diff``.
    """
    n = y.size
    mu = arm_means(y, a, w)
    d = np.zeros((n, 2))
    for k in (0, 1):
        m = a == k
        d[m, k] = w[m] * (y[m] - mu[k]) / w[m].sum()
    per_arm = "risk" if kind == "binary" else "mean"
    keys: list[tuple[str, int | None]] = [(per_arm, 0), (per_arm, 1)]
    vals = [mu[0], mu[1]]
    cols = [d[:, 0], d[:, 1]]
    keys.append(("risk_diff" if kind == "binary" else "mean_diff", None))
    vals.append(mu[1] - mu[0])
    cols.append(d[:, 1] - d[:, 0])
    if kind == "binary":
        inside = all(0.0 < v < 1.0 for v in mu)
        keys += [("risk_ratio", None), ("odds_ratio", None)]
        if inside:
            vals += [math.log(mu[1] / mu[0]),
                     math.log(mu[1] / (1 - mu[1])) - math.log(mu[0] / (1 - mu[0]))]
            cols += [d[:, 1] / mu[1] - d[:, 0] / mu[0],
                     d[:, 1] / (mu[1] * (1 - mu[1])) - d[:, 0] / (mu[0] * (1 - mu[0]))]
        else:
            vals += [math.nan, math.nan]
            cols += [np.zeros(n), np.zeros(n)]
    return PointTerms(keys=tuple(keys), value=np.asarray(vals, dtype=float), influence=np.column_stack(cols))


def point_estimates(terms: PointTerms, se: np.ndarray, *, outcome: str, estimand: str, method: str,
                    variance: str, alpha: float, arm_labels: tuple[str, str], n_arm: tuple[int, int],
                    extra: dict | None = None) -> tuple[EffectEstimate, ...]:
    """EffectEstimates from :func:`point_terms` and standard errors on the estimation scale (Wald intervals;
    ratios back-transformed from the log scale). Shared by :func:`compare_binary`,
    :func:`compare_continuous` and the M-estimation."""
    z = stats.norm.ppf(1 - alpha / 2)
    contrast = f"{arm_labels[1]} vs {arm_labels[0]}"
    common = {"outcome": outcome, "estimand": estimand, "method": method, "variance": variance}
    out = []
    for j, (measure, arm) in enumerate(terms.keys):
        v, s = float(terms.value[j]), float(se[j])
        ex = dict(extra or {})
        if arm is not None:
            out.append(EffectEstimate(**common, contrast=arm_labels[arm], measure=measure, value=v,
                                      ci_low=v - z * s, ci_high=v + z * s, se=s, n=n_arm[arm], extra=ex))
            continue
        if not math.isfinite(v):
            out.append(EffectEstimate(**common, contrast=contrast, measure=measure, value=math.nan,
                                      n=sum(n_arm), scale="log",
                                      note="not estimable: the risk is 0 or 1 in an arm", extra=ex))
            continue
        p = float(2 * stats.norm.sf(abs(v) / s)) if s > 0 else math.nan
        if measure in LOG_MEASURES:
            out.append(EffectEstimate(**common, contrast=contrast, measure=measure, value=math.exp(v),
                                      ci_low=math.exp(v - z * s), ci_high=math.exp(v + z * s), se=s, p=p,
                                      n=sum(n_arm), scale="log", extra=ex))
        else:
            out.append(EffectEstimate(**common, contrast=contrast, measure=measure, value=v, ci_low=v - z * s,
                                      ci_high=v + z * s, se=s, p=p, n=sum(n_arm), extra=ex))
    return tuple(out)


# ----------------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PointOutcomeComparison(EstimatesMixin):
    """Two-arm comparison of a binary or continuous outcome, aggregates only.

    Attributes
    ----------
    outcome : str
    kind : {"binary", "continuous"}
    estimand, method : str
    arm_labels : (str, str)
        Reference (treatment 0) and compared (treatment 1) arm.
    arms : DataFrame
        One row per arm: ``arm``, ``n``, ``sum_weights``, ``ess`` (Kish), ``mean`` (the risk for a binary
        outcome), ``sd`` (weighted within-arm SD), ``n_events`` (binary only; patients, unweighted).
    estimates : tuple of EffectEstimate
        Per-arm ``risk``/``mean``, and ``risk_diff``, ``risk_ratio``, ``odds_ratio`` or ``mean_diff``, with the
        HC0 sandwich (``variance="robust"``); each contrast carries its E-value in ``extra``.
    evalues : dict
        Measure -> :class:`~gistcausal.stats.evalue.EValueResult` of each contrast (``mean_diff`` through the
        standardized mean difference).
    alpha : float
    warnings : tuple of str
    """

    outcome: str
    kind: str
    estimand: str
    method: str
    arm_labels: tuple[str, str]
    arms: pd.DataFrame
    estimates: tuple[EffectEstimate, ...]
    evalues: dict = field(default_factory=dict)
    alpha: float = 0.05
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        head = (f"{self.outcome} ({self.kind}): {self.arm_labels[1]} vs {self.arm_labels[0]} ({self.method}, "
                f"estimand {self.estimand})")
        lines = [head] + ["  " + e.summary() for e in self.estimates]
        lines += [f"  E-value ({m}): {r.evalue:.3g} (CI limit {r.evalue_ci:.3g})" for m, r in self.evalues.items()]
        lines += ["  warning: " + w for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "kind": self.kind, "estimand": self.estimand, "method": self.method,
                "arm_labels": list(self.arm_labels), "alpha": self.alpha,
                "arms": [{k: json_safe(v) for k, v in r.items()} for r in self.arms.to_dict(orient="records")],
                "estimates": [e.to_dict() for e in self.estimates],
                "evalues": {m: r.to_dict() for m, r in self.evalues.items()}, "warnings": list(self.warnings)}


# ----------------------------------------------------------------------------------------------------
# public entry points
# ----------------------------------------------------------------------------------------------------
def compare_binary(y: Any, treatment: Any, *, weights: Any = None, outcome: str, arm_labels: tuple[str, str],
                   estimand: str = "none", method: str | None = None, alpha: float = 0.05
                   ) -> PointOutcomeComparison:
    r"""IPTW risk difference, risk ratio and odds ratio of a 0/1 outcome, with the HC0 sandwich.

    Parameters
    ----------
    y : array-like of {0, 1}
        The outcome (1 = event, e.g. response or grade >= 3 toxicity), one per patient.
    treatment : array-like of {0, 1}
        0 for ``arm_labels[0]`` (reference), 1 for ``arm_labels[1]``.
    weights : array-like of float, optional
        IPTW weights (e.g. :func:`gistcausal.stats.weights.compute_weights`); unweighted when None.
        Zero-weight (trimmed) patients do not contribute.
    outcome : str
        Outcome name carried by every estimate.
    arm_labels : (str, str)
        Names of the reference and the compared arm (required).
    estimand : str, default="none"
        The estimand the weights target (``"ATE"``, ``"ATT"``, ...); ``"none"`` when unweighted.
    method : str, optional
        Label of the estimates; ``"iptw"`` with weights, ``"unadjusted"`` without (the default).
    alpha : float, default=0.05

    Returns
    -------
    PointOutcomeComparison
        ``risk`` per arm, ``risk_diff``, ``risk_ratio``, ``odds_ratio`` (``variance="robust"``: HC0), E-values.

    Raises
    ------
    DataError
        ``y`` not 0/1 or missing, lengths differ, weights negative or missing, treatment not 0/1.
    CohortError
        An arm without patients of positive weight.
    ConfigError
        An unknown estimand.

    Notes
    -----
    Module docstring: Hajek means, the saturated marginal structural model, and the HC0 variance (equal to R
    ``geeglm(y ~ treatment, family = binomial(link), weights = w, id = id, corstr = "independence")`` for the
    identity, log and logit links). The HC0 variance treats the weights as known; with an estimated propensity
    score it is conservative for the ATE (Lunceford & Davidian 2004); see
    :func:`gistcausal.inference.point_outcomes.m_estimation_point` for the stacked sandwich. E-values: the risk
    ratio as is, the odds ratio through :math:`\sqrt{OR}` unless the outcome is rare (< 15%), the risk
    difference with the reference arm's risk as baseline (:func:`gistcausal.stats.evalue.evalue`).

    Examples
    --------
    >>> r = compare_binary([0, 1, 1, 0, 1, 0], [0, 0, 1, 1, 1, 0], outcome="response",
    ...                    arm_labels=("control", "treated"))
    >>> round(r.get("risk_diff").value, 3)
    0.333
    """
    return _compare(y, treatment, weights, "binary", outcome, arm_labels, estimand, method, alpha,
                    "compare_binary")


def compare_continuous(y: Any, treatment: Any, *, weights: Any = None, outcome: str, arm_labels: tuple[str, str],
                       estimand: str = "none", method: str | None = None, alpha: float = 0.05
                       ) -> PointOutcomeComparison:
    r"""IPTW mean difference of a continuous outcome, with the HC0 sandwich.

    Parameters
    ----------
    y : array-like of float
        The outcome (e.g. a laboratory value or a weight change), one per patient, no missing values.
    treatment, weights, outcome, arm_labels, estimand, method, alpha
        As :func:`compare_binary`.

    Returns
    -------
    PointOutcomeComparison
        ``mean`` per arm and ``mean_diff`` (``variance="robust"``: HC0), with the E-value of the standardized
        mean difference :math:`d = \widehat{MD} / s_p`, :math:`s_p` the weighted pooled within-arm SD
        (VanderWeele & Ding 2017; R ``EValue::evalues.MD(d, se / s_p)``).

    Raises
    ------
    DataError, CohortError, ConfigError
        As :func:`compare_binary` (``y`` must be finite).

    Notes
    -----
    The mean difference is the coefficient of the weighted linear model ``y ~ treatment`` (What If, program
    12.3: 3.4 kg, 95% CI 2.4 to 4.5, for quitting smoking on weight gain in NHEFS, reproduced in the tests).
    """
    return _compare(y, treatment, weights, "continuous", outcome, arm_labels, estimand, method, alpha,
                    "compare_continuous")


def check_point_inputs(y: Any, treatment: Any, weights: Any, kind: str, arm_labels: tuple[str, str],
                       where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float arrays ``y``, ``treatment`` (0/1) and ``weights`` (ones when None)."""
    yy = as_float(y, "y", where)
    a = as_float(treatment, "treatment", where)
    n = yy.size
    if a.size != n:
        raise DataError(f"{where}: `treatment` must have one value per patient (got {a.size} values for {n} "
                        f"outcomes). Pass arrays of equal length.")
    if not np.isin(a, (0.0, 1.0)).all():
        raise DataError(f"{where}: `treatment` must be 0/1 (got {int((~np.isin(a, (0.0, 1.0))).sum())} other "
                        f"values). Code {arm_labels[0]} as 0 and {arm_labels[1]} as 1.")
    bad = int((~np.isfinite(yy)).sum())
    if bad:
        raise DataError(f"{where}: `y` must be finite (got {bad} missing or infinite). Drop these patients or "
                        f"impute the outcome before the comparison.")
    if kind == "binary" and not np.isin(yy, (0.0, 1.0)).all():
        raise DataError(f"{where}: a binary outcome must be 0/1 (got {int((~np.isin(yy, (0.0, 1.0))).sum())} "
                        f"other values). Recode the outcome to 1 = event, 0 = no event.")
    w = check_weights(weights, n, where, per="outcomes")
    for k in (0, 1):
        if not np.any(w[a == k] > 0):
            raise CohortError(f"{where}: arm '{arm_labels[k]}' is empty (got 0 patients with positive weight). "
                              f"Check the cohort definition and treatment coding.")
    return yy, a, w


def _compare(y: Any, treatment: Any, weights: Any, kind: str, outcome: str, arm_labels: tuple[str, str],
             estimand: str, method: str | None, alpha: float, where: str) -> PointOutcomeComparison:
    alpha = check_alpha(alpha, where)
    if estimand != "none":
        check_estimand(estimand, where=where)
    yy, a, w = check_point_inputs(y, treatment, weights, kind, arm_labels, where)
    keep = w > 0
    yy, a, w = yy[keep], a[keep], w[keep]
    method = method or ("unadjusted" if weights is None else "iptw")
    terms = point_terms(yy, a, w, kind)
    se = np.sqrt(np.sum(terms.influence ** 2, axis=0))
    n_arm = (int(np.sum(a == 0)), int(np.sum(a == 1)))
    est = point_estimates(terms, se, outcome=outcome, estimand=estimand, method=method, variance="robust",
                          alpha=alpha, arm_labels=arm_labels, n_arm=n_arm, extra={"sandwich": "HC0"})
    arms = _arm_table(yy, a, w, kind, arm_labels)
    caught: list[str] = []
    evs = _evalues(est, arms, yy, kind, outcome, caught)
    est = tuple(e if e.measure not in evs else _with_evalue(e, evs[e.measure]) for e in est)
    return PointOutcomeComparison(outcome=outcome, kind=kind, estimand=estimand, method=method,
                                  arm_labels=(str(arm_labels[0]), str(arm_labels[1])), arms=arms, estimates=est,
                                  evalues=evs, alpha=alpha, warnings=tuple(caught))


def _weighted_sd(y: np.ndarray, w: np.ndarray) -> float:
    mu = np.dot(w, y) / w.sum()
    return float(math.sqrt(np.dot(w, (y - mu) ** 2) / w.sum()))


def _arm_table(y: np.ndarray, a: np.ndarray, w: np.ndarray, kind: str, arm_labels: tuple[str, str]) -> pd.DataFrame:
    rows = []
    for k in (0, 1):
        m = a == k
        row = {"arm": arm_labels[k], "n": int(m.sum()), "sum_weights": float(w[m].sum()), "ess": kish_ess(w[m]),
               "mean": float(np.dot(w[m], y[m]) / w[m].sum()), "sd": _weighted_sd(y[m], w[m])}
        if kind == "binary":
            row["n_events"] = int(y[m].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _evalues(est: tuple[EffectEstimate, ...], arms: pd.DataFrame, y: np.ndarray, kind: str, outcome: str,
             caught: list[str]) -> dict[str, EValueResult]:
    """E-values of the contrasts (stats.evalue; a contrast it cannot take, e.g. a risk of 0, gets none)."""
    by = {e.measure: e for e in est if e.contrast not in tuple(arms["arm"])}
    out: dict[str, EValueResult] = {}
    todo: list[tuple[str, dict]] = []
    if kind == "binary":
        p0 = float(arms["mean"].iloc[0])
        prevalence = float(y.mean())
        todo += [("risk_ratio", {"measure": "rr"}),
                 ("odds_ratio", {"measure": "or", "outcome_prevalence": prevalence}),
                 ("risk_diff", {"measure": "rd", "baseline_risk": p0})]
    else:
        sd0, sd1 = (float(v) for v in arms["sd"])
        n0, n1 = (float(v) for v in arms["sum_weights"])
        s_p = math.sqrt(((n0 * sd0 ** 2) + (n1 * sd1 ** 2)) / (n0 + n1))
        md = by["mean_diff"]
        if s_p > 0 and math.isfinite(md.se):
            try:
                out["mean_diff"] = evalue(md.value / s_p, se=md.se / s_p, measure="smd", outcome=outcome)
            except GistCausalError as err:
                caught.append(f"E-value of mean_diff not computed: {err}")
        return out
    for measure, kw in todo:
        e = by[measure]
        if not math.isfinite(e.value):
            continue
        try:
            out[measure] = evalue(e.value, ci_low=e.ci_low, ci_high=e.ci_high, outcome=outcome, **kw)
        except GistCausalError as err:
            caught.append(f"E-value of {measure} not computed: {err}")
    return out


def _with_evalue(e: EffectEstimate, r: EValueResult) -> EffectEstimate:
    return dataclasses.replace(e, extra={**e.extra, "evalue": r.evalue, "evalue_ci": r.evalue_ci})


__all__ = ["POINT_MEASURES", "LOG_MEASURES", "PointOutcomeComparison", "PointTerms", "arm_means", "point_terms",
           "point_estimates", "check_point_inputs", "compare_binary", "compare_continuous"]
