"""Sensitivity of an effect estimate to unmeasured confounding: E-values, HR tipping points, benchmarks.

Three complementary views of the same question ("how strong would an unmeasured confounder have to be
to explain the estimate away?"):

* :func:`evalue` / :func:`evalue_from_estimate`: the E-value of VanderWeele & Ding (2017), the minimum
  strength of association, on the risk-ratio scale, that an unmeasured confounder would need with both
  treatment and outcome, conditional on the measured covariates, to move the estimate (or its confidence
  limit closest to the null) to the null. Conversions of OR, HR, risk differences and standardized mean
  differences to the risk-ratio scale follow the EValue R package (Mathur et al. 2018).
* :func:`tipping_point_grid` / :func:`tip_hr`: the hazard-ratio adjustment of Lin, Psaty & Kronmal (1998)
  for a binary unmeasured confounder with given prevalences and outcome hazard ratio, as in R's ``tipr``.
* :func:`benchmark_covariates`: how strongly the *measured* covariates were associated with treatment
  and outcome on the same risk-ratio scale, to place beside the E-value.

This module only computes; plots live in :mod:`gistcausal.present.plots.sensitivity`.

References
----------
VanderWeele TJ, Ding P. Sensitivity analysis in observational research: introducing the E-value.
Ann Intern Med. 2017;167(4):268-274.
VanderWeele TJ, Ding P, Mathur M. Technical considerations in the use of the E-value. J Causal Infer.
2019;7(2):20180007.
VanderWeele TJ. Optimal approximate conversions of odds ratios and hazard ratios to risk ratios.
Biometrics. 2020;76(3):746-752.
Ding P, VanderWeele TJ. Sensitivity analysis without assumptions. Epidemiology. 2016;27(3):368-377.
Mathur MB, Ding P, Riddell CA, VanderWeele TJ. Website and R package for computing E-values.
Epidemiology. 2018;29(5):e45-e47.
Lin DY, Psaty BM, Kronmal RA. Assessing the sensitivity of regression results to unmeasured confounders
in observational studies. Biometrics. 1998;54(3):948-963.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gistcausal.effects import EffectEstimate
from gistcausal.errors import ConfigError, DataError

#: Measures :func:`evalue` accepts.
EVALUE_MEASURES = ("rr", "or", "hr", "rd", "smd")

#: Outcome proportion below which an OR or HR is treated as a risk ratio (VanderWeele & Ding 2017,
#: Table 2; the EValue package's ``rare`` argument uses the same 15% cut-off at end of follow-up).
RARE_OUTCOME_CUTOFF = 0.15

_RATIO_NAMES = {"rr": "risk ratio", "or": "odds ratio", "hr": "hazard ratio"}


def _fmt(x: float) -> str:
    return f"{x:.3g}"


# --------------------------------------------------------------------------------------------- E-values

def _threshold(rr: float, true: float = 1.0) -> float:
    """E-value of one risk ratio ``rr`` for moving it to ``true`` (EValue's ``threshold``).

    For ``rr <= 1`` both ``rr`` and ``true`` are inverted. Then, with ``rr >= true``,
    ``E = (rr + sqrt(rr * (rr - true))) / true`` (VanderWeele, Ding & Mathur 2019, eq. for a non-null
    true value); when the causal effect lies beyond the estimate (``true > rr``) the ratio
    ``r = true / rr`` gives ``E = r + sqrt(r * (r - 1))``.
    """
    if rr <= 1.0:
        rr, true = 1.0 / rr, 1.0 / true
    if true <= rr:
        return (rr + math.sqrt(rr * (rr - true))) / true
    r = true / rr
    return r + math.sqrt(r * (r - 1.0))


def _hr_common_to_rr(hr: float) -> float:
    """VanderWeele (2020) conversion of a hazard ratio for a common outcome to a risk ratio."""
    return (1.0 - 0.5 ** math.sqrt(hr)) / (1.0 - 0.5 ** math.sqrt(1.0 / hr))


@dataclass(frozen=True, slots=True)
class EValueResult:
    """E-values of one estimate and of its confidence limit closest to the null.

    Parameters
    ----------
    measure : str
        Scale of the input estimate, one of :data:`EVALUE_MEASURES`.
    estimate, ci_low, ci_high : float
        The input estimate and interval on its own scale (NaN when no interval was given).
    true : float
        Value, on the input scale, to which the estimate is moved (the null by default).
    rr, rr_ci_low, rr_ci_high, rr_true : float
        The same four numbers converted to the risk-ratio scale.
    evalue : float
        E-value of the point estimate (>= 1).
    evalue_ci : float
        E-value of the confidence limit closest to ``true``; 1 if the interval already includes
        ``true``; NaN if no interval was given.
    ci_limit : str
        ``"lower"``, ``"upper"`` or ``"none"``: which limit ``evalue_ci`` refers to.
    conversion : str
        The conversion to the risk-ratio scale that was used (formula in words).
    conversion_reason : str
        Why that conversion was chosen (e.g. the observed event proportion).
    outcome : str
        Outcome label used in :meth:`summary`.
    """

    measure: str
    estimate: float
    ci_low: float
    ci_high: float
    true: float
    rr: float
    rr_ci_low: float
    rr_ci_high: float
    rr_true: float
    evalue: float
    evalue_ci: float
    ci_limit: str
    conversion: str
    conversion_reason: str
    outcome: str = "the outcome"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN -> None)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            out[name] = None if isinstance(v, float) and not math.isfinite(v) else v
        return out

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy: one row for the point estimate and one for the confidence limit (if any)."""
        rows = [{"quantity": "point", "measure": self.measure, "estimate": self.estimate, "rr": self.rr,
                 "evalue": self.evalue}]
        if self.ci_limit != "none":
            lim = self.ci_low if self.ci_limit == "lower" else self.ci_high
            rr_lim = self.rr_ci_low if self.ci_limit == "lower" else self.rr_ci_high
            rows.append({"quantity": f"ci_{self.ci_limit}", "measure": self.measure, "estimate": lim,
                         "rr": rr_lim, "evalue": self.evalue_ci})
        df = pd.DataFrame(rows)
        df["true"] = self.true
        df["conversion"] = self.conversion
        return df

    def summary(self) -> str:
        """One plain-language sentence, as recommended by VanderWeele & Ding (2017)."""
        null = self.rr_true == 1.0
        target = "explain away the estimate" if null else f"move the estimate to {_fmt(self.true)}"
        tested = "the null" if null else f"{_fmt(self.true)}"
        if self.evalue <= 1.0:
            return (f"The estimate already equals the value tested ({_fmt(self.true)}), so no unmeasured "
                    f"confounding is needed to explain it (E-value 1).")
        text = (f"An unmeasured confounder associated with both treatment and {self.outcome} by a risk ratio "
                f"of {_fmt(self.evalue)} each, above and beyond the measured covariates, could {target}; "
                f"weaker confounding could not")
        if self.ci_limit == "none":
            return text + "."
        if self.evalue_ci <= 1.0:
            return text + f" (the confidence interval already includes {tested})."
        return text + (f" (for the confidence interval to include {tested}, a risk ratio of "
                       f"{_fmt(self.evalue_ci)} each would suffice).")


def _check_ratio(where: str, name: str, value: float, label: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"{where}: {name} of a {label} must be a positive finite number (got {value!r}). "
                        f"Pass the ratio itself, not its logarithm.")


def _validate_ci(where: str, estimate: float, ci_low: float | None, ci_high: float | None) -> None:
    if ci_low is not None and ci_high is not None and ci_low > ci_high:
        raise DataError(f"{where}: ci_low must not exceed ci_high (got ci_low={ci_low!r}, "
                        f"ci_high={ci_high!r}). Swap the two limits.")
    if (ci_low is not None and estimate < ci_low) or (ci_high is not None and estimate > ci_high):
        raise DataError(f"{where}: the estimate must lie inside its confidence interval (got estimate="
                        f"{estimate!r}, ci_low={ci_low!r}, ci_high={ci_high!r}). Check that the limits "
                        f"belong to this estimate and are on the same scale.")


def _resolve_rare(where: str, measure: str, rare: bool | None, outcome_prevalence: float | None,
                  ) -> tuple[bool, str]:
    if rare is not None:
        return bool(rare), f"rare={bool(rare)} given by the caller"
    if outcome_prevalence is None:
        raise ConfigError(f"{where}: an {_RATIO_NAMES[measure]} needs to know whether the outcome is rare "
                          f"(got rare=None, outcome_prevalence=None). Pass rare=True/False, or "
                          f"outcome_prevalence (rare if below {RARE_OUTCOME_CUTOFF:g}).")
    if not 0.0 <= outcome_prevalence <= 1.0:
        raise DataError(f"{where}: outcome_prevalence must be a proportion in [0, 1] (got "
                        f"{outcome_prevalence!r}). Pass the share of patients with the event at the end of "
                        f"follow-up.")
    is_rare = outcome_prevalence < RARE_OUTCOME_CUTOFF
    word = "below" if is_rare else "at or above"
    return is_rare, (f"outcome proportion {outcome_prevalence:.3g} is {word} the {RARE_OUTCOME_CUTOFF:g} "
                     f"rare-outcome cut-off")


@dataclass(frozen=True)
class _Conversion:
    """How a measure is carried to the risk-ratio scale: ``to_rr``, the ``true`` value on the measure's scale,
    what was done and why; ``rr_limits`` replaces converting the limits (SMD with a standard error)."""

    to_rr: Callable[[float], float]
    true: float
    text: str
    reason: str
    rr_limits: tuple[float, float] | None = None


def _check_arguments(where: str, measure: str, *, estimate: Any, ci_low: Any, ci_high: Any, true: Any, se: Any,
                     baseline_risk: Any) -> None:
    """Known measure, finite numbers, and no argument that the measure does not use."""
    if measure not in EVALUE_MEASURES:
        raise ConfigError(f"{where}: measure must be one of {', '.join(map(repr, EVALUE_MEASURES))} "
                          f"(got {measure!r}). Pick the scale the estimate is on.")
    for name, v in (("estimate", estimate), ("ci_low", ci_low), ("ci_high", ci_high), ("true", true),
                    ("se", se)):
        if v is not None and not (isinstance(v, (int, float, np.number)) and math.isfinite(v)):
            raise DataError(f"{where}: {name} must be a finite number (got {v!r}). Pass a finite value, or "
                            f"None for an optional argument.")
    if se is not None and measure != "smd":
        raise ConfigError(f"{where}: se is used only for measure='smd' (got se={se!r}, measure={measure!r}). "
                          f"Pass the confidence limits instead.")
    if baseline_risk is not None and measure != "rd":
        raise ConfigError(f"{where}: baseline_risk is used only for measure='rd' (got "
                          f"baseline_risk={baseline_risk!r}, measure={measure!r}). Remove it.")


def _ratio_conversion(where: str, measure: str, estimate: float, ci_low: float | None, ci_high: float | None,
                      true: float | None, rare: bool | None, outcome_prevalence: float | None) -> _Conversion:
    """RR as is; OR and HR as RR when the outcome is rare, else sqrt(OR) / VanderWeele's (2020) HR formula."""
    label = _RATIO_NAMES[measure]
    true = 1.0 if true is None else float(true)
    for name, v in (("the estimate", estimate), ("ci_low", ci_low), ("ci_high", ci_high),
                    ("the true value", true)):
        if v is not None:
            _check_ratio(where, name, v, label)
    if measure == "rr":
        return _Conversion(lambda x: x, true, "none (already a risk ratio)", "measure is a risk ratio")
    is_rare, reason = _resolve_rare(where, measure, rare, outcome_prevalence)
    if is_rare:
        return _Conversion(lambda x: x, true, f"rare outcome: RR = {measure.upper()}", reason)
    if measure == "or":
        return _Conversion(math.sqrt, true, "common outcome: RR = sqrt(OR) (VanderWeele 2017)", reason)
    return _Conversion(_hr_common_to_rr, true, "common outcome: RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) "
                       "(VanderWeele 2020)", reason)


def _smd_conversion(where: str, estimate: float, ci_low: float | None, ci_high: float | None, true: float | None,
                    se: float | None) -> _Conversion:
    """RR = exp(0.91 d); with ``se`` the limits are exp(0.91 d -/+ 1.78 se)."""
    true = 0.0 if true is None else float(true)
    limits = None
    if se is not None and (ci_low is not None or ci_high is not None):
        raise ConfigError(f"{where}: give either se or the confidence limits for measure='smd', not both "
                          f"(got se={se!r}, ci_low={ci_low!r}, ci_high={ci_high!r}). Drop one of them.")
    if se is not None:
        if se < 0:
            raise DataError(f"{where}: se must be non-negative (got {se!r}). Pass the standard error of d.")
        # EValue::evalues.MD: 1.78 = 0.91 * 1.96, i.e. a 95% Wald interval for d carried to the RR scale.
        limits = (math.exp(0.91 * estimate - 1.78 * se), math.exp(0.91 * estimate + 1.78 * se))
    return _Conversion(lambda d: math.exp(0.91 * d), true,
                       "standardized mean difference: RR = exp(0.91 d) (VanderWeele 2017; Chinn 2000)",
                       "measure is a standardized mean difference", limits)


def _rd_conversion(where: str, estimate: float, ci_low: float | None, ci_high: float | None, true: float | None,
                   baseline_risk: float | None) -> _Conversion:
    """RR = (p0 + RD) / p0 with the control-arm risk p0 held fixed (its sampling error ignored)."""
    true = 0.0 if true is None else float(true)
    if baseline_risk is None or not 0.0 < baseline_risk < 1.0:
        raise DataError(f"{where}: a risk difference needs the control-arm risk baseline_risk in (0, 1) "
                        f"(got baseline_risk={baseline_risk!r}). Pass the outcome risk in the reference "
                        f"arm.")
    p0 = float(baseline_risk)
    for name, v in (("the estimate", estimate), ("ci_low", ci_low), ("ci_high", ci_high),
                    ("the true value", true)):
        if v is not None and not -p0 < v <= 1.0 - p0:
            raise DataError(f"{where}: {name} of the risk difference implies a treated-arm risk outside "
                            f"(0, 1] (got {v!r} with baseline_risk={p0!r}). Check the sign and the "
                            f"baseline risk.")
    return _Conversion(lambda d: (p0 + d) / p0, true,
                       "risk difference: RR = (p0 + RD) / p0 with p0 = baseline_risk held fixed",
                       f"measure is a risk difference; control-arm risk p0 = {p0:.3g}")


def _evalues(rr: float, rr_lo: float, rr_hi: float, rr_true: float) -> tuple[float, str, float]:
    """E-value of the estimate, which limit is used, and the E-value of that limit (all on the RR scale)."""
    e_point = _threshold(rr, rr_true)
    # EValue::evalues.RR: only the limit on the near side of `true` gets an E-value, and it is 1 when the
    # interval includes `true`; a lone far-side limit says nothing about crossing, so it gets none.
    if rr > rr_true:
        limit, rr_lim = "lower", rr_lo
    elif rr < rr_true:
        limit, rr_lim = "upper", rr_hi
    else:
        e_point = 1.0
        limit, rr_lim = ("lower", rr_lo) if math.isfinite(rr_lo) else ("upper", rr_hi)
    if not math.isfinite(rr_lim):
        return e_point, "none", math.nan
    if rr == rr_true or (limit == "lower" and rr_lim <= rr_true) or (limit == "upper" and rr_lim >= rr_true):
        return e_point, limit, 1.0
    return e_point, limit, _threshold(rr_lim, rr_true)


def evalue(estimate: float, *, ci_low: float | None = None, ci_high: float | None = None,
           measure: Literal["rr", "or", "hr", "rd", "smd"], rare: bool | None = None,
           outcome_prevalence: float | None = None, true: float | None = None, se: float | None = None,
           baseline_risk: float | None = None, outcome: str = "the outcome") -> EValueResult:
    r"""E-value for an estimate and its confidence interval (VanderWeele & Ding 2017).

    Parameters
    ----------
    estimate : float
        Point estimate on the scale named by ``measure``.
    ci_low, ci_high : float, optional
        Confidence limits on the same scale. Either or both may be given; only the limit closest to
        ``true`` receives an E-value.
    measure : {"rr", "or", "hr", "rd", "smd"}
        Scale of ``estimate``: risk ratio, odds ratio, hazard ratio, risk difference, standardized mean
        difference (Cohen's d).
    rare : bool, optional
        For ``"or"`` and ``"hr"``: whether the outcome is rare (< 15% by end of follow-up). If None,
        decided from ``outcome_prevalence``.
    outcome_prevalence : float, optional
        Share of patients with the outcome by the end of follow-up, used when ``rare`` is None.
    true : float, optional
        Value on the ``measure`` scale to which the estimate is moved; default the null (1 for ratios,
        0 for ``"rd"`` and ``"smd"``). A non-null value gives the "non-null E-value" of VanderWeele, Ding
        & Mathur (2019).
    se : float, optional
        Standard error of ``estimate`` for ``"smd"`` only; the interval is then
        ``exp(0.91 d -/+ 1.78 se)`` on the RR scale. Give either ``se`` or the limits, not both.
    baseline_risk : float, optional
        For ``"rd"`` only: risk of the outcome in the reference (control) arm, ``p0``.
    outcome : str, default="the outcome"
        Outcome label used in :meth:`EValueResult.summary`.

    Returns
    -------
    EValueResult

    Raises
    ------
    ConfigError
        Unknown ``measure``, or rare/common undecidable for an OR or HR, or arguments that do not apply.
    DataError
        Non-positive ratios, ``ci_low > ci_high``, an estimate outside its interval, risks outside (0, 1).

    Notes
    -----
    For a risk ratio ``RR >= 1`` (invert first if ``RR < 1``) the E-value is

    .. math:: E = RR + \sqrt{RR (RR - 1)},

    the common value of :math:`RR_{EU} = RR_{UD}` on the curve
    :math:`RR_{EU} RR_{UD} / (RR_{EU} + RR_{UD} - 1) = RR` (Ding & VanderWeele 2016). For a non-null
    ``true`` with ``RR >= true`` it is :math:`(RR + \sqrt{RR (RR - true)}) / true`. The confidence-limit
    E-value uses the limit closest to ``true`` and is 1 if the interval includes ``true``.

    Conversions to the risk-ratio scale (VanderWeele & Ding 2017, Table 2; VanderWeele 2020), applied to
    the estimate, both limits and ``true`` alike, exactly as the EValue R package does:

    * ``"or"``: rare outcome, ``RR = OR``; common outcome, ``RR = sqrt(OR)``.
    * ``"hr"``: rare outcome, ``RR = HR``; common outcome,
      ``RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``.
    * ``"smd"``: ``RR = exp(0.91 d)``; with ``se``, limits ``exp(0.91 d -/+ 1.78 se)``.
    * ``"rd"``: ``RR = (p0 + RD) / p0`` with ``p0 = baseline_risk``, the limits converted the same way
      with ``p0`` held fixed (its sampling error is ignored). This differs from EValue's
      ``evalues.RD``, which works from the 2x2 counts and bounds the population-standardized risk
      difference (Ding & VanderWeele 2016, Section 4); that form is not implemented here.

    References
    ----------
    VanderWeele TJ, Ding P. Ann Intern Med. 2017;167:268-274. VanderWeele TJ, Ding P, Mathur M.
    J Causal Infer. 2019;7:20180007. VanderWeele TJ. Biometrics. 2020;76:746-752.

    Examples
    --------
    >>> round(evalue(3.9, ci_low=1.8, ci_high=8.7, measure="rr").evalue, 2)
    7.26
    """
    where = "evalue"
    _check_arguments(where, measure, estimate=estimate, ci_low=ci_low, ci_high=ci_high, true=true, se=se,
                     baseline_risk=baseline_risk)
    estimate = float(estimate)
    ci_low = None if ci_low is None else float(ci_low)
    ci_high = None if ci_high is None else float(ci_high)
    _validate_ci(where, estimate, ci_low, ci_high)
    if measure in ("rr", "or", "hr"):
        c = _ratio_conversion(where, measure, estimate, ci_low, ci_high, true, rare, outcome_prevalence)
    elif measure == "smd":
        c = _smd_conversion(where, estimate, ci_low, ci_high, true, se)
    else:
        c = _rd_conversion(where, estimate, ci_low, ci_high, true, baseline_risk)
    rr, rr_true = c.to_rr(estimate), c.to_rr(c.true)
    if c.rr_limits is not None:
        rr_lo, rr_hi = c.rr_limits
        ci_low = ci_high = None
    else:
        rr_lo = math.nan if ci_low is None else c.to_rr(ci_low)
        rr_hi = math.nan if ci_high is None else c.to_rr(ci_high)
    e_point, limit, e_ci = _evalues(rr, rr_lo, rr_hi, rr_true)
    return EValueResult(
        measure=measure, estimate=estimate,
        ci_low=math.nan if ci_low is None else ci_low, ci_high=math.nan if ci_high is None else ci_high,
        true=c.true, rr=rr, rr_ci_low=rr_lo, rr_ci_high=rr_hi, rr_true=rr_true, evalue=e_point,
        evalue_ci=e_ci, ci_limit=limit, conversion=c.text, conversion_reason=c.reason, outcome=outcome)


def evalue_from_estimate(est: EffectEstimate, *, event_proportion: float, surv_control: float | None = None,
                         rmst_sd: float | None = None, baseline_risk: float | None = None) -> EValueResult:
    """E-value of a fitted :class:`~gistcausal.effects.EffectEstimate`, choosing the conversion for it.

    Parameters
    ----------
    est : EffectEstimate
        The estimate; its ``measure`` decides the route (see Notes). Its 95% interval is used.
    event_proportion : float
        Share of patients with the event by the end of follow-up in the analysed cohort. Below 0.15 an
        HR or OR is treated as a risk ratio (rare outcome); otherwise the common-outcome conversion is
        used. For progression-free survival in advanced cancer (often about 90% events) the common
        conversion applies.
    surv_control : float, optional
        Control-arm survival ``S0(t)`` at the estimate's time, for ``"surv_ratio"`` (optional) and
        ``"surv_diff"`` (required).
    rmst_sd : float, optional
        Pooled standard deviation of the restricted event times ``min(T, tau)``, for ``"rmst_diff"``.
    baseline_risk : float, optional
        Control-arm risk, for ``"rd"``; the control arm's cumulative incidence ``F0(t)`` of the cause at the
        estimate's time, for ``"cif_diff"`` (required).

    Returns
    -------
    EValueResult
        Its ``conversion_reason`` states which route was taken and why.

    Raises
    ------
    ConfigError
        A measure with no E-value form (medians, p-values), or a missing quantity a route needs.

    Notes
    -----
    Routes by ``est.measure``:

    * ``"hr"`` / ``"or"``: :func:`evalue` with ``rare = event_proportion < 0.15`` (VanderWeele 2020).
    * ``"rr"``: as is.
    * ``"surv_ratio"`` (``S1(t)/S0(t)``): without ``surv_control`` the ratio is used as the risk ratio
      of being event-free at ``t`` (an E-value is defined for any binary outcome; VanderWeele & Ding
      2017). With ``surv_control`` the risk ratio of the *event*, ``(1 - S1)/(1 - S0)`` with
      ``S1 = ratio * S0``, is used, limits converted with ``S0`` held fixed.
    * ``"surv_diff"`` (``S1(t) - S0(t)``): a risk difference of the event ``-(S1 - S0)`` with control
      risk ``1 - S0``, via the ``"rd"`` route of :func:`evalue`; needs ``surv_control``.
    * ``"rmst_diff"``: the standardized-mean-difference route, ``d = diff / rmst_sd``
      (VanderWeele 2017; Chinn 2000). This treats the restricted time as a continuous outcome whose
      dichotomization is approximately logistic; it is an approximation, stated in the result.
    * Competing risks (:mod:`gistcausal.stats.competing`; the cause is ``est.extra["cause"]``):

      - ``"cs_hr"`` (cause-specific hazard ratio): the ``"hr"`` route with ``event_proportion`` the share of
        patients whose first event is *this cause*; rare (< 0.15) uses the HR as the risk ratio, common the
        VanderWeele (2020) conversion ``RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``.
      - ``"cif_ratio"`` (``F1(t)/F0(t)``): the cumulative incidence is the risk of having failed from the
        cause by ``t`` (competing events counted as not having it), so the ratio is a risk ratio of that binary
        outcome and is used as is; no rare-outcome assumption is needed (VanderWeele & Ding 2017).
      - ``"cif_diff"`` (``F1(t) - F0(t)``): a risk difference of the same binary outcome, the ``"rd"`` route
        with ``baseline_risk = F0(t)`` held fixed; needs ``baseline_risk``.
    * anything else (medians, p-values, per-arm quantities): no E-value form is defined; an error says so.
    """
    where = f"evalue_from_estimate ({est.outcome} {est.measure})"
    if not (isinstance(event_proportion, (int, float)) and 0.0 <= event_proportion <= 1.0):
        raise DataError(f"{where}: event_proportion must be a proportion in [0, 1] (got {event_proportion!r}). "
                        f"Pass the share of patients with the event by the end of follow-up.")
    lo = est.ci_low if math.isfinite(est.ci_low) else None
    hi = est.ci_high if math.isfinite(est.ci_high) else None
    m = est.measure
    if m in ("hr", "or"):
        return evalue(est.value, ci_low=lo, ci_high=hi, measure=m, outcome_prevalence=event_proportion,
                      outcome=est.outcome)
    if m == "rr":
        return evalue(est.value, ci_low=lo, ci_high=hi, measure="rr", outcome=est.outcome)
    if m == "rd":
        return evalue(est.value, ci_low=lo, ci_high=hi, measure="rd", baseline_risk=baseline_risk,
                      outcome=est.outcome)
    if m == "surv_ratio":
        return _surv_ratio_evalue(where, est, lo, hi, surv_control)
    if m == "surv_diff":
        return _surv_diff_evalue(where, est, lo, hi, surv_control)
    if m == "rmst_diff":
        return _rmst_diff_evalue(where, est, lo, hi, rmst_sd)
    if m in ("cs_hr", "cif_ratio", "cif_diff"):
        return _competing_evalue(where, est, lo, hi, event_proportion, baseline_risk)
    raise ConfigError(f"{where}: no E-value form is defined for measure {m!r} (got {m!r}). Use an estimate "
                      f"with measure 'hr', 'or', 'rr', 'rd', 'surv_ratio', 'surv_diff', 'rmst_diff', 'cs_hr', "
                      f"'cif_ratio' or 'cif_diff'.")


def _competing_evalue(where: str, est: EffectEstimate, lo: float | None, hi: float | None,
                      event_proportion: float, baseline_risk: float | None) -> EValueResult:
    """Cause-specific HR (``"hr"`` route, the cause's own event proportion), CIF ratio (a risk ratio as is) and
    CIF difference (``"rd"`` route with the control arm's CIF) of one cause (see :func:`evalue_from_estimate`)."""
    cause = est.extra.get("cause", "the cause")
    if est.measure == "cs_hr":
        r = evalue(est.value, ci_low=lo, ci_high=hi, measure="hr", outcome_prevalence=event_proportion,
                   outcome=est.outcome)
        return _replace(r, conversion=f"cause-specific hazard ratio of {cause}; " + r.conversion,
                        conversion_reason=f"share of patients with {cause} as first event: " + r.conversion_reason)
    if est.measure == "cif_ratio":
        r = evalue(est.value, ci_low=lo, ci_high=hi, measure="rr", outcome=est.outcome)
        return _replace(r, conversion=f"cumulative incidence ratio F1(t)/F0(t) of {cause} used as the risk ratio "
                                      f"of {cause} by t (no rare-outcome assumption needed)",
                        conversion_reason="the cumulative incidence is the risk of the cause by t, competing "
                                          "events counted as not having it, so its ratio is a risk ratio")
    if baseline_risk is None:
        raise ConfigError(f"{where}: a cumulative incidence difference has no E-value without the control "
                          f"arm's cumulative incidence (got baseline_risk=None). Pass baseline_risk=F0(t).")
    r = evalue(est.value, ci_low=lo, ci_high=hi, measure="rd", baseline_risk=baseline_risk, outcome=est.outcome)
    return _replace(r, conversion=f"cumulative incidence difference F1(t) - F0(t) of {cause} as a risk "
                                  "difference; " + r.conversion,
                    conversion_reason=f"control-arm cumulative incidence F0(t) = {baseline_risk:.3g} given")


def _surv_ratio_evalue(where: str, est: EffectEstimate, lo: float | None, hi: float | None,
                       surv_control: float | None) -> EValueResult:
    """S1/S0 as the risk ratio of being event-free, or with S0 given the event risk ratio (1 - S1)/(1 - S0)."""
    if surv_control is None:
        r = evalue(est.value, ci_low=lo, ci_high=hi, measure="rr", outcome=est.outcome)
        return _replace(r, conversion="survival ratio S1(t)/S0(t) used as the risk ratio of being "
                                      "event-free at t",
                        conversion_reason="no control-arm survival given, so the event-free outcome "
                                          "coding is used")
    s0 = _check_surv(where, surv_control)

    # (1 - S1)/(1 - S0) = (1 - ratio*S0)/(1 - S0); decreasing in the ratio, so the limits swap.
    def g(x: float) -> float:
        return (1.0 - x * s0) / (1.0 - s0)
    vals = [g(v) if v is not None else None for v in (est.value, hi, lo)]
    if any(v is not None and v <= 0 for v in vals):
        raise DataError(f"{where}: the survival ratio and surv_control imply a treated-arm survival above 1 "
                        f"(got ratio={est.value!r}, CI {lo!r} to {hi!r}, surv_control={s0!r}). Check "
                        f"surv_control.")
    r = evalue(vals[0], ci_low=vals[1], ci_high=vals[2], measure="rr", outcome=est.outcome)
    return _replace(r, conversion="survival ratio converted to the event risk ratio (1 - S1)/(1 - S0), "
                                  "limits with S0 held fixed",
                    conversion_reason=f"control-arm survival S0(t) = {s0:.3g} given")


def _surv_diff_evalue(where: str, est: EffectEstimate, lo: float | None, hi: float | None,
                      surv_control: float | None) -> EValueResult:
    """S1 - S0 as the event risk difference -(S1 - S0) with control risk 1 - S0 (the ``"rd"`` route)."""
    if surv_control is None:
        raise ConfigError(f"{where}: a survival difference has no E-value without the control-arm "
                          f"survival (got surv_control=None). Pass surv_control=S0(t).")
    s0 = _check_surv(where, surv_control)
    r = evalue(-est.value, ci_low=None if hi is None else -hi, ci_high=None if lo is None else -lo,
               measure="rd", baseline_risk=1.0 - s0, outcome=est.outcome)
    return _replace(r, conversion="survival difference as the event risk difference -(S1 - S0) with "
                                  "control risk 1 - S0; " + r.conversion,
                    conversion_reason=f"control-arm survival S0(t) = {s0:.3g} given")


def _rmst_diff_evalue(where: str, est: EffectEstimate, lo: float | None, hi: float | None,
                      rmst_sd: float | None) -> EValueResult:
    """RMST difference standardized by the pooled SD of min(T, tau), then the ``"smd"`` route."""
    if rmst_sd is None or not (math.isfinite(rmst_sd) and rmst_sd > 0):
        raise ConfigError(f"{where}: an RMST difference needs the pooled SD of the restricted times to "
                          f"become a standardized mean difference (got rmst_sd={rmst_sd!r}). Pass rmst_sd.")
    r = evalue(est.value / rmst_sd, ci_low=None if lo is None else lo / rmst_sd,
               ci_high=None if hi is None else hi / rmst_sd, measure="smd", outcome=est.outcome)
    return _replace(r, conversion="RMST difference standardized by the pooled SD of min(T, tau), then "
                                  + r.conversion,
                    conversion_reason=f"approximation: d = diff / {rmst_sd:.3g}")


def _check_surv(where: str, s0: float) -> float:
    if not 0.0 < s0 < 1.0:
        raise DataError(f"{where}: surv_control must be a survival probability in (0, 1) (got {s0!r}). Pass "
                        f"the control arm's survival at the estimate's time.")
    return float(s0)


def _replace(r: EValueResult, **changes: Any) -> EValueResult:
    d = {k: getattr(r, k) for k in r.__dataclass_fields__}
    d.update(changes)
    return EValueResult(**d)


# ------------------------------------------------------------------------------------- tipping points

def _lpk_factor(gamma: np.ndarray | float, p1: np.ndarray | float, p0: np.ndarray | float):
    """Lin-Psaty-Kronmal bias factor ``(gamma p1 + 1 - p1) / (gamma p0 + 1 - p0)``."""
    return (gamma * p1 + 1.0 - p1) / (gamma * p0 + 1.0 - p0)


def _check_prev(where: str, name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise DataError(f"{where}: {name} must be a prevalence in [0, 1] (got {p!r}). Pass the share of "
                        f"patients with the unmeasured confounder in that arm.")


def tipping_point_grid(hr: float, ci_low: float, ci_high: float, *,
                       prevalence_grid: Sequence[tuple[float, float]],
                       gamma_grid: Sequence[float]) -> pd.DataFrame:
    r"""Adjusted HR and CI over a grid of binary unmeasured confounders (Lin, Psaty & Kronmal 1998).

    Parameters
    ----------
    hr, ci_low, ci_high : float
        Observed hazard ratio and its confidence limits.
    prevalence_grid : sequence of (float, float)
        Pairs ``(p_treated, p_control)``: prevalence of the confounder U in the treated and control arms.
    gamma_grid : sequence of float
        Hazard ratios ``gamma`` of U on the outcome (> 0).

    Returns
    -------
    pandas.DataFrame
        One row per (prevalence pair, gamma): ``p_treated, p_control, gamma, bias_factor, hr_adj,
        ci_low_adj, ci_high_adj, ci_includes_null``.

    Notes
    -----
    With U binary, independent of the measured covariates given treatment, and a proportional-hazards
    effect ``gamma`` of U that does not interact with treatment (rare-outcome approximation of Lin et al.
    1998, eq. 3.2; the form used by R's ``tipr::adjust_hr_with_binary``),

    .. math:: HR_{adj} = HR_{obs} \Big/ \frac{\gamma p_1 + 1 - p_1}{\gamma p_0 + 1 - p_0},

    and the interval limits are divided by the same factor.
    """
    where = "tipping_point_grid"
    _validate_ci(where, hr, ci_low, ci_high)
    for name, v in (("hr", hr), ("ci_low", ci_low), ("ci_high", ci_high)):
        _check_ratio(where, name, v, "hazard ratio")
    pairs = [tuple(p) for p in prevalence_grid]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ConfigError(f"{where}: prevalence_grid must be a non-empty list of (p_treated, p_control) pairs "
                          f"(got {prevalence_grid!r}). Pass e.g. [(0.3, 0.1), (0.5, 0.2)].")
    for p1, p0 in pairs:
        _check_prev(where, "p_treated", p1)
        _check_prev(where, "p_control", p0)
    gammas = np.asarray(list(gamma_grid), dtype=float)
    if gammas.size == 0 or not np.all(np.isfinite(gammas) & (gammas > 0)):
        raise DataError(f"{where}: gamma_grid must hold positive finite hazard ratios (got {list(gamma_grid)!r}). "
                        f"Pass e.g. [1.5, 2, 3].")
    p1 = np.repeat([p[0] for p in pairs], gammas.size)
    p0 = np.repeat([p[1] for p in pairs], gammas.size)
    g = np.tile(gammas, len(pairs))
    b = _lpk_factor(g, p1, p0)
    out = pd.DataFrame({"p_treated": p1, "p_control": p0, "gamma": g, "bias_factor": b, "hr_adj": hr / b,
                        "ci_low_adj": ci_low / b, "ci_high_adj": ci_high / b})
    out["ci_includes_null"] = (out["ci_low_adj"] <= 1.0) & (out["ci_high_adj"] >= 1.0)
    return out


@dataclass(frozen=True, slots=True)
class TipResult:
    """Confounder-outcome hazard ratios that tip an observed HR to the null.

    Parameters
    ----------
    hr, ci_low, ci_high : float
        Observed hazard ratio and limits (NaN where not given).
    p_treated, p_control : float
        Assumed prevalences of the binary confounder.
    gamma_point : float
        Confounder-outcome HR that moves the point estimate to 1 (NaN if no positive value can).
    gamma_ci : float
        Confounder-outcome HR that moves the confidence limit closest to 1 to 1; 1.0 if the interval
        already includes 1; NaN if no interval or no positive value can.
    ci_limit : str
        ``"lower"``, ``"upper"`` or ``"none"``.
    note : str
        Why a value is NaN, if one is.
    """

    hr: float
    ci_low: float
    ci_high: float
    p_treated: float
    p_control: float
    gamma_point: float
    gamma_ci: float
    ci_limit: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN -> None)."""
        return {k: (None if isinstance(getattr(self, k), float) and not math.isfinite(getattr(self, k))
                    else getattr(self, k)) for k in self.__dataclass_fields__}

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy: one row per tipped quantity (point, CI limit)."""
        rows = [{"quantity": "point", "observed": self.hr, "gamma": self.gamma_point}]
        if self.ci_limit != "none":
            rows.append({"quantity": f"ci_{self.ci_limit}",
                         "observed": self.ci_low if self.ci_limit == "lower" else self.ci_high,
                         "gamma": self.gamma_ci})
        df = pd.DataFrame(rows)
        df["p_treated"], df["p_control"] = self.p_treated, self.p_control
        return df

    def summary(self) -> str:
        """One sentence with the tipping confounder."""
        def g(v: float) -> str:
            return "no positive value" if not math.isfinite(v) else _fmt(v)
        text = (f"A binary unmeasured confounder with prevalence {self.p_treated:.0%} among treated and "
                f"{self.p_control:.0%} among controls would need a hazard ratio with the outcome of "
                f"{g(self.gamma_point)} to move the HR of {_fmt(self.hr)} to 1")
        if self.ci_limit != "none":
            text += (" (the interval already includes 1)" if self.gamma_ci == 1.0
                     else f", and {g(self.gamma_ci)} to move its {self.ci_limit} confidence limit to 1")
        return text + "." + (f" {self.note}" if self.note else "")


def _solve_gamma(b: float, p1: float, p0: float) -> float:
    """Solve ``b / ((g p1 + 1 - p1) / (g p0 + 1 - p0)) = 1`` for ``g > 0``; NaN if none exists."""
    if b == 1.0:
        return 1.0
    den = p1 - b * p0
    if den == 0.0:
        return math.nan
    g = (b * (1.0 - p0) - (1.0 - p1)) / den
    return g if g > 0 and math.isfinite(g) else math.nan


def tip_hr(hr: float, *, ci_low: float | None = None, ci_high: float | None = None, p_treated: float,
           p_control: float) -> TipResult:
    r"""Confounder-outcome HR that would tip the observed HR (and its CI) to 1, as ``tipr::tip_hr``.

    Parameters
    ----------
    hr : float
        Observed hazard ratio.
    ci_low, ci_high : float, optional
        Its confidence limits; the one closest to 1 is tipped.
    p_treated, p_control : float
        Prevalence of the binary unmeasured confounder among treated and controls.

    Returns
    -------
    TipResult

    Notes
    -----
    Solving :math:`b \,/\, [(\gamma p_1 + 1 - p_1)/(\gamma p_0 + 1 - p_0)] = 1` for :math:`\gamma` gives

    .. math:: \gamma = \frac{b (1 - p_0) - (1 - p_1)}{p_1 - b p_0},

    valid when positive. As :math:`\gamma \to \infty` the factor tends to :math:`p_1 / p_0`, so an
    observed :math:`b` beyond that ratio cannot be tipped at these prevalences (NaN, with a note).
    See :func:`tipping_point_grid` for the model and reference.
    """
    where = "tip_hr"
    _check_ratio(where, "hr", hr, "hazard ratio")
    for name, v in (("ci_low", ci_low), ("ci_high", ci_high)):
        if v is not None:
            _check_ratio(where, name, v, "hazard ratio")
    _validate_ci(where, hr, ci_low, ci_high)
    _check_prev(where, "p_treated", p_treated)
    _check_prev(where, "p_control", p_control)
    if p_treated == p_control:
        raise DataError(f"{where}: a confounder equally prevalent in both arms cannot bias the HR (got "
                        f"p_treated={p_treated!r}, p_control={p_control!r}). Use different prevalences.")
    g_point = _solve_gamma(hr, p_treated, p_control)
    if hr > 1 and ci_low is not None:
        limit, b = "lower", ci_low
    elif hr < 1 and ci_high is not None:
        limit, b = "upper", ci_high
    elif hr == 1 and (ci_low is not None or ci_high is not None):
        limit, b = ("lower", ci_low) if ci_low is not None else ("upper", ci_high)
    else:
        limit, b = "none", math.nan
    if limit == "none":
        g_ci = math.nan
    elif (limit == "lower" and b <= 1.0) or (limit == "upper" and b >= 1.0):
        g_ci = 1.0
    else:
        g_ci = _solve_gamma(b, p_treated, p_control)
    note = ""
    if not math.isfinite(g_point) or (limit != "none" and not math.isfinite(g_ci)):
        note = (f"Even an arbitrarily strong confounder at these prevalences changes the HR at most by a "
                f"factor of {p_treated / p_control if p_control > 0 else math.inf:.3g}, in the direction set "
                f"by which arm has it more often.")
    return TipResult(hr=float(hr), ci_low=math.nan if ci_low is None else float(ci_low),
                     ci_high=math.nan if ci_high is None else float(ci_high), p_treated=float(p_treated),
                     p_control=float(p_control), gamma_point=g_point, gamma_ci=g_ci, ci_limit=limit, note=note)


# -------------------------------------------------------------------------------- observed benchmarks

@dataclass(frozen=True, slots=True)
class BenchmarkResult:
    """Strength of each measured covariate as a confounder, on the E-value's risk-ratio scale.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per covariate: ``covariate, kind, rr_treatment, rr_outcome, outcome_source,
        bias_factor, evalue_equivalent`` (aggregates only).
    strongest : str
        Covariate with the largest joint bias factor.
    conversion : str
        How the outcome association was put on the risk-ratio scale.
    """

    table: pd.DataFrame
    strongest: str
    conversion: str

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy, one row per covariate, strongest first."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")]
        return {"strongest": self.strongest, "conversion": self.conversion, "covariates": rows}

    def summary(self) -> str:
        """One sentence naming the strongest measured confounder."""
        r = self.table.iloc[0]
        return (f"The strongest measured confounder, {r['covariate']}, was associated with treatment by a risk "
                f"ratio of {_fmt(r['rr_treatment'])} and with the outcome by {_fmt(r['rr_outcome'])} (joint bias "
                f"factor {_fmt(r['bias_factor'])}, equivalent to an E-value of {_fmt(r['evalue_equivalent'])}); "
                f"an unmeasured confounder would have to be stronger than that to matter as much.")


def bias_factor(rr_eu: float | np.ndarray, rr_ud: float | np.ndarray):
    r"""Ding & VanderWeele (2016) joint bounding factor :math:`RR_{EU} RR_{UD} / (RR_{EU} + RR_{UD} - 1)`."""
    return rr_eu * rr_ud / (rr_eu + rr_ud - 1.0)


def benchmark_covariates(df: pd.DataFrame, *, treatment_col: str, covariates: Sequence[str],
                         outcome_hr: Mapping[str, float], event_proportion: float) -> BenchmarkResult:
    r"""How strong the measured confounders were, on the scale of the E-value (observed benchmarking).

    Parameters
    ----------
    df : pandas.DataFrame
        Analysis table (read only).
    treatment_col : str
        0/1 treatment column.
    covariates : sequence of str
        Measured covariates to benchmark; numeric or boolean. Continuous covariates (more than two
        distinct values) are dichotomized at their median (``> median``), as the E-value is defined for
        a binary confounder; two-valued ones are used as they are.
    outcome_hr : mapping of str to float
        Each covariate's hazard ratio with the outcome, for the *same* coding (binary, or above vs at or
        below the median), adjusted for treatment and the other covariates, e.g. from the outcome Cox
        model. Reciprocals are taken for HR < 1.
    event_proportion : float
        Share with the event by end of follow-up; decides rare (HR as RR) or common
        (``(1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``) conversion, as in :func:`evalue`.

    Returns
    -------
    BenchmarkResult

    Notes
    -----
    For a binary covariate X with prevalence :math:`q_1, q_0` among treated and controls, the
    treatment association on the E-value's scale is the prevalence ratio
    :math:`RR_{EU} = \max(q_1/q_0, (1-q_1)/(1-q_0))` (Ding & VanderWeele 2016, definition of
    :math:`RR_{EU}`), computed directly from the data. The outcome association :math:`RR_{UD}` is the
    supplied HR, folded to >= 1 and converted to a risk ratio. The joint bias factor
    :math:`B = RR_{EU} RR_{UD} / (RR_{EU} + RR_{UD} - 1)` is the most that a confounder of this strength
    could move a risk ratio; ``evalue_equivalent`` is the E-value of ``B``, directly comparable with the
    E-value of the estimate. A measured covariate is only a benchmark: an unmeasured one may be
    stronger, and measured covariates were adjusted for.
    """
    where = "benchmark_covariates"
    if treatment_col not in df.columns:
        raise DataError(f"{where}: treatment column {treatment_col!r} not found (got columns "
                        f"{list(df.columns)!r}). Pass the 0/1 treatment column.")
    a = df[treatment_col]
    if a.isna().any() or not set(pd.unique(a)) <= {0, 1, True, False}:
        raise DataError(f"{where}: column {treatment_col!r} must be coded 0/1 without missing values (got values "
                        f"{sorted(map(str, pd.unique(a)))[:5]!r}). Recode treatment to 0/1.")
    if not covariates:
        raise ConfigError(f"{where}: covariates must name at least one column (got {list(covariates)!r}). "
                          f"Pass the measured confounders.")
    if not 0.0 <= event_proportion <= 1.0:
        raise DataError(f"{where}: event_proportion must be a proportion in [0, 1] (got {event_proportion!r}). "
                        f"Pass the share of patients with the event.")
    rare = event_proportion < RARE_OUTCOME_CUTOFF
    conv = "rare outcome: RR = HR" if rare else "common outcome: RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))"
    treated = a.astype(int).to_numpy() == 1
    rows = []
    for c in covariates:
        if c not in df.columns:
            raise DataError(f"{where}: covariate column {c!r} not found (got {len(df.columns)} columns). Check "
                            f"the covariate list.")
        x = df[c]
        if not (pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)):
            raise DataError(f"{where}: column {c!r} must be numeric or boolean (got dtype {x.dtype}). "
                            f"Dummy-code categorical covariates and benchmark each level.")
        if x.isna().any():
            raise DataError(f"{where}: column {c!r} has {int(x.isna().sum())} missing values (got missing). "
                            f"Impute or drop them before benchmarking.")
        if c not in outcome_hr:
            raise ConfigError(f"{where}: no outcome hazard ratio for covariate {c!r} (got outcome_hr keys "
                              f"{sorted(outcome_hr)!r}). Add it to outcome_hr.")
        hr = float(outcome_hr[c])
        _check_ratio(where, f"outcome_hr[{c!r}]", hr, "hazard ratio")
        xv = x.astype(float).to_numpy()
        levels = np.unique(xv)
        if levels.size > 2:
            u, kind = (xv > np.median(xv)).astype(float), "continuous (> median)"
        else:
            u, kind = (xv == levels.max()).astype(float), "binary"
        q1, q0 = u[treated].mean(), u[~treated].mean()
        with np.errstate(divide="ignore", invalid="ignore"):
            rr_eu = float(np.nanmax([q1 / q0 if q0 > 0 else np.inf,
                                     (1 - q1) / (1 - q0) if q0 < 1 else np.inf]))
        hr_f = hr if hr >= 1 else 1.0 / hr
        rr_ud = hr_f if rare else _hr_common_to_rr(hr_f)
        b = float(bias_factor(rr_eu, rr_ud)) if math.isfinite(rr_eu) else rr_ud
        rows.append({"covariate": c, "kind": kind, "prev_treated": q1, "prev_control": q0, "rr_treatment": rr_eu,
                     "outcome_hr": hr, "rr_outcome": rr_ud, "bias_factor": b,
                     "evalue_equivalent": _threshold(b) if b > 1 else 1.0})
    table = pd.DataFrame(rows).sort_values("bias_factor", ascending=False, kind="stable").reset_index(drop=True)
    return BenchmarkResult(table=table, strongest=str(table.loc[0, "covariate"]), conversion=conv)


__all__ = [
    "EVALUE_MEASURES", "RARE_OUTCOME_CUTOFF", "EValueResult", "evalue", "evalue_from_estimate",
    "tipping_point_grid", "TipResult", "tip_hr", "BenchmarkResult", "bias_factor", "benchmark_covariates",
]
