"""Two-arm survival comparison: curves, medians, landmark survival, RMST, hazard ratio and log-rank.

Above :mod:`gistcausal.stats.km` and :mod:`gistcausal.stats.cox` (it combines both); neither imports it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal._checks import as_float, check_alpha, check_survival_inputs
from gistcausal.effects import EffectEstimate, EstimatesMixin, json_safe
from gistcausal.errors import CohortError, DataError, ModelFitError, ProportionalHazardsWarning, SmallSampleWarning
from gistcausal.stats.cox import cox_fit_detail, cox_zph
from gistcausal.stats.cox_binary import binary_cox_fit_detail, binary_cox_zph
from gistcausal.stats.km import (KaplanMeier, check_horizon, check_landmarks, kaplan_meier, km_from_risk_table,
                                  logrank_test, risk_table, rmst_from_risk_table)

# ----------------------------------------------------------------------------------------------------
# two-arm comparison
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SurvivalComparison(EstimatesMixin):
    """Everything a two-arm survival comparison reports, aggregates only.

    Attributes
    ----------
    curves : DataFrame
        ``weighting`` ("unweighted"/"weighted"), ``arm``, ``time``, ``surv``, ``std_err``,
        ``ci_low``, ``ci_high``, ``n_risk`` (weighted), ``n_risk_raw``, ``n_event``,
        ``n_event_raw``, ``n_censor_raw``; weighted analyses carry both weightings.
    at_risk : DataFrame
        ``arm``, ``time``, ``n_at_risk`` (patients) and ``weighted_n_at_risk`` (sum of weights).
    estimates : tuple of EffectEstimate
    warnings : tuple of str
    """

    outcome: str
    estimand: str
    method: str
    arm_labels: tuple[str, str]
    curves: pd.DataFrame
    at_risk: pd.DataFrame
    estimates: tuple[EffectEstimate, ...]
    alpha: float
    warnings: tuple[str, ...] = ()
    ph_test: dict = field(default_factory=dict)

    def summary(self) -> str:
        head = (f"{self.outcome}: {self.arm_labels[1]} vs {self.arm_labels[0]} ({self.method}, "
                f"estimand {self.estimand})")
        lines = [head] + ["  " + e.summary() for e in self.estimates]
        lines += ["  warning: " + w for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "estimand": self.estimand, "method": self.method,
                "arm_labels": list(self.arm_labels), "alpha": self.alpha,
                "estimates": [e.to_dict() for e in self.estimates],
                "at_risk": [{k: json_safe(v) for k, v in r.items()}
                            for r in self.at_risk.to_dict(orient="records")],
                "curves": [{k: json_safe(v) for k, v in r.items()}
                           for r in self.curves.to_dict(orient="records")],
                "ph_test": {k: json_safe(v) for k, v in self.ph_test.items()},
                "warnings": list(self.warnings)}


_CURVE_COLUMNS = ["weighting", "arm", "time", "surv", "std_err", "ci_low", "ci_high", "n_risk", "n_risk_raw",
                  "n_event", "n_event_raw", "n_censor_raw"]
_AT_RISK_COLUMNS = ["arm", "time", "n_at_risk", "weighted_n_at_risk"]
_NO_CURVES, _NO_AT_RISK = pd.DataFrame(columns=_CURVE_COLUMNS), pd.DataFrame(columns=_AT_RISK_COLUMNS)  # contrasts_only


def _curve_frame(km: KaplanMeier, arm: str, weighting: str) -> pd.DataFrame:
    f = km.to_frame()
    f = f[["time", "surv", "std_err", "ci_low", "ci_high", "n_risk", "n_risk_raw", "n_event",
           "n_event_raw", "n_censor_raw"]]
    f.insert(0, "arm", arm)
    f.insert(0, "weighting", weighting)
    return f


def _at_risk(km: KaplanMeier, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.searchsorted(km.time, times, side="left")
    ok = pos < km.time.size
    p = np.minimum(pos, km.time.size - 1)
    return (np.where(ok, km.n_risk_raw[p], 0.0), np.where(ok, km.n_risk[p], 0.0))


def compare_survival(time: Any, event: Any, treatment: Any, *, weights: Any = None, outcome: str,
                     arm_labels: tuple[str, str], estimand: str = "none", method: str = "unadjusted",
                     landmarks: Any = (), horizon: float | None = None, alpha: float = 0.05,
                     X: Any = None, at_risk_times: Any = None, contrasts_only: bool = False
                     ) -> SurvivalComparison:
    r"""Compare survival between two arms: curves, medians, landmark survival, RMST, HR, log-rank.

    Parameters
    ----------
    time, event
        As :func:`kaplan_meier`.
    treatment : array-like of {0, 1}
        0 for ``arm_labels[0]`` (reference), 1 for ``arm_labels[1]``.
    weights : array-like, optional
        IPTW weights; required by ``method="iptw"``, refused by ``"unadjusted"``.
    outcome : str
        Outcome name carried by every estimate (e.g. ``"pfs"``).
    estimand : str, default="none"
        The estimand the weights target (``"ATE"``, ``"ATT"``...); ``"none"`` when unweighted.
    method : {"unadjusted", "iptw", "adjusted", "matching", "entropy_balancing"}, default="unadjusted"
        Weighted methods (``"iptw"``, matching weights ``"matching"``, ``"entropy_balancing"``) are analysed
        alike here and carry their name into every estimate.
        ``"adjusted"`` reports a covariate-adjusted (conditional) Cox HR using ``X``; the curves stay
        unadjusted.
    landmarks : sequence of float
        Times at which S(t), the difference and the ratio are reported.
    horizon : float, optional
        RMST horizon :math:`\tau`.
    arm_labels : (str, str)
        Names of the reference (treatment 0) and the compared (treatment 1) arm, e.g.
        ``("control", "treated")``; they label the curves and estimates (required: no study's arms are a
        sensible default).
    alpha : float, default=0.05
    X : array-like or DataFrame, optional
        Covariates for ``method="adjusted"``.
    at_risk_times : sequence of float, optional
        Times for the at-risk table; default: 0, the landmarks and 5 evenly spaced times.
    contrasts_only : bool, default=False
        Compute only the landmark survival, RMST and hazard-ratio estimates (and the ``cox.zph`` test with its
        warning), with the same values as the full comparison; ``curves`` and ``at_risk`` are then empty and
        the medians and the log-rank test are left out. For replicate loops that read the contrasts alone
        (plasmode): the curves, the unweighted curves of a weighted analysis and the log-rank test are a third
        of a comparison's time.

    Returns
    -------
    SurvivalComparison

    Raises
    ------
    DataError
        Bad inputs; landmarks or horizon beyond follow-up (naming ``landmarks``/``horizon``).
    CohortError
        An empty arm.

    Notes
    -----
    Per-arm quantities use Greenwood variance unweighted and the IJ robust variance weighted; arms
    are independent, so :math:`\mathrm{Var}(\hat S_1 - \hat S_0) = \mathrm{Var}(\hat S_1) +
    \mathrm{Var}(\hat S_0)`; the ratio's interval is built on the log scale,
    :math:`\mathrm{se}\{\log(\hat S_1/\hat S_0)\} = \{(se_1/\hat S_1)^2 + (se_0/\hat S_0)^2\}^{1/2}`
    (delta method). The IPTW hazard ratio is the marginal Cox HR with the robust sandwich SE, and the
    weighted log-rank is the design-based test (:func:`logrank_test`). Robust variances treat the
    weights as fixed (not re-estimating the propensity model), which is usually conservative for the
    ATE (Austin 2016); bootstrap the whole pipeline for exact coverage. A proportional-hazards
    violation (``cox.zph`` GLOBAL p < alpha) raises :class:`ProportionalHazardsWarning`.

    References
    ----------
    Cole SR, Hernan MA (2004). Adjusted survival curves with inverse probability weights. Comput
    Methods Programs Biomed 75:45-49. Austin PC (2016). Variance estimation when using inverse
    probability of treatment weighting with survival analysis. Stat Med 35:5642-5655.
    """
    where = "compare_survival"
    _check_method(method, weights, X, where)
    t, e, w = check_survival_inputs(time, event, weights, where)
    alpha = check_alpha(alpha, where)
    a = as_float(treatment, "treatment", where)
    _check_arms(a, w, arm_labels, where)
    weighted = weights is not None
    warn_list: list[str] = []

    def note_warning(msg: str, cat: type[Warning]) -> None:
        warnings.warn(msg, cat, stacklevel=4)  # called from _hazard_ratio: point at our caller
        warn_list.append(msg)

    arms = [a == 0, a == 1]
    # one risk table (one sort) per arm, shared by its curve and its RMST
    rts = [risk_table(t[m], e[m], w[m]) for m in arms]
    kms = [km_from_risk_table(rt, variance="robust" if weighted else "greenwood", conf_type="log", alpha=alpha,
                              weighted=weighted) for rt in rts]
    last = min(float(k.time[-1]) for k in kms)
    lm = check_landmarks(landmarks, last, where)
    if contrasts_only:
        curves, at_risk = _NO_CURVES.copy(), _NO_AT_RISK.copy()
    else:
        curves = _curves(t, e, arms, kms, alpha, arm_labels, weighted)
        if at_risk_times is None:
            grid = np.unique(np.r_[0.0, lm, np.linspace(0, last, 6)])
        else:
            grid = np.asarray(at_risk_times, dtype=float)
        at_risk = _at_risk_table(kms, grid, arm_labels)

    ctx = _Context(common={"outcome": outcome, "estimand": estimand, "method": method},
                   contrast=f"{arm_labels[1]} vs {arm_labels[0]}", labels=arm_labels,
                   n_arm=[int(m.sum()) for m in arms], var_name="robust" if weighted else "greenwood",
                   z=stats.norm.ppf(1 - alpha / 2))
    est = [] if contrasts_only else _median_estimates(kms, ctx)
    for x in lm:
        est += _landmark_estimates(kms, x, ctx)
    if horizon is not None:
        tau = check_horizon(horizon, last, where, "horizon")
        rm = [rmst_from_risk_table(rt, horizon=tau, variance=km.variance, alpha=alpha, surv=km.surv)
              for rt, km in zip(rts, kms)]
        est += _rmst_estimates(rm, tau, ctx)
    hr_w = w if weighted else None
    hr, ph = _hazard_ratio(t, e, a, hr_w, X, method, alpha, ctx, note_warning, where)
    est.append(hr)
    if contrasts_only:
        return SurvivalComparison(outcome=outcome, estimand=estimand, method=method,
                                  arm_labels=(str(arm_labels[0]), str(arm_labels[1])), curves=curves,
                                  at_risk=at_risk, estimates=tuple(est), alpha=alpha,
                                  warnings=tuple(warn_list), ph_test=ph)
    lr_ = logrank_test(t, e, a, weights=hr_w)
    est.append(EffectEstimate(**ctx.common, contrast=ctx.contrast, measure="logrank_p", value=lr_.p,
                              p=lr_.p, variance="robust" if weighted else "model", n=lr_.n,
                              note="" if math.isfinite(lr_.p) else "not estimable: no events",
                              extra={"statistic": lr_.statistic, "df": lr_.df, "score": lr_.score,
                                     "se": lr_.se, "z": lr_.z, "test": lr_.method}))
    return SurvivalComparison(outcome=outcome, estimand=estimand, method=method,
                              arm_labels=(str(arm_labels[0]), str(arm_labels[1])), curves=curves,
                              at_risk=at_risk, estimates=tuple(est), alpha=alpha,
                              warnings=tuple(warn_list), ph_test=ph)


# ----------------------------------------------------------------------------------------------------
# the pieces of compare_survival
# ----------------------------------------------------------------------------------------------------
def _check_method(method: str, weights: Any, X: Any, where: str) -> None:
    if method not in ("unadjusted", "iptw", "adjusted", "matching", "entropy_balancing"):
        raise DataError(f"{where}: `method` must be one of 'unadjusted', 'iptw', 'adjusted', 'matching', "
                        f"'entropy_balancing' (got {method!r}). Use 'iptw' with weights.")
    if method in ("iptw", "matching", "entropy_balancing") and weights is None:
        label = {"iptw": "IPTW", "matching": "matching", "entropy_balancing": "entropy-balancing"}[method]
        raise DataError(f"{where}: method {method!r} needs `weights` (got None). Pass the {label} weights "
                        f"or use method='unadjusted'.")
    if method == "unadjusted" and weights is not None:
        raise DataError(f"{where}: method 'unadjusted' takes no `weights` (got weights). Use "
                        f"method='iptw' for a weighted analysis.")
    if method == "adjusted" and X is None:
        raise DataError(f"{where}: method 'adjusted' needs covariates `X` (got None). Pass the "
                        f"adjustment covariates.")


def _check_arms(a: np.ndarray, w: np.ndarray, arm_labels: tuple[str, str], where: str) -> None:
    one = a == 1.0
    if a.size != w.size or not (one | (a == 0.0)).all():
        raise DataError(f"{where}: `treatment` must be 0/1 with one value per patient (got "
                        f"{a.size} values, {int((~np.isin(a, (0.0, 1.0))).sum())} not 0/1). "
                        f"Code {arm_labels[0]} as 0 and {arm_labels[1]} as 1.")
    # patients and positive weights per arm by one count each (the checks of any(a == k), any(w[a == k] > 0))
    n_arm = np.bincount(one, minlength=2)
    n_pos = np.bincount(one[w > 0], minlength=2)
    for k in (0, 1):
        if not n_arm[k] or not n_pos[k]:
            raise CohortError(f"{where}: arm '{arm_labels[k]}' is empty (got 0 patients with "
                              f"positive weight). Check the cohort definition and treatment "
                              f"coding.")


def _curves(t: np.ndarray, e: np.ndarray, arms: list[np.ndarray], kms: list[KaplanMeier], alpha: float,
            arm_labels: tuple[str, str], weighted: bool) -> pd.DataFrame:
    """Curves per arm; a weighted analysis also carries the unweighted curves."""
    frames = []
    if weighted:
        kms_u = [kaplan_meier(t[m], e[m], alpha=alpha) for m in arms]
        frames += [_curve_frame(k, arm_labels[i], "unweighted") for i, k in enumerate(kms_u)]
    frames += [_curve_frame(k, arm_labels[i], "weighted" if weighted else "unweighted")
               for i, k in enumerate(kms)]
    return pd.concat(frames, ignore_index=True)


def _at_risk_table(kms: list[KaplanMeier], grid: np.ndarray, arm_labels: tuple[str, str]) -> pd.DataFrame:
    rows = []
    for i, km in enumerate(kms):
        raw, wt = _at_risk(km, grid)
        for tt, r, ww in zip(grid, raw, wt):
            rows.append({"arm": arm_labels[i], "time": float(tt), "n_at_risk": int(r),
                         "weighted_n_at_risk": float(ww)})
    return pd.DataFrame(rows)


@dataclass(frozen=True, slots=True)
class _Context:
    """What every estimate of one comparison shares."""

    common: dict
    contrast: str
    labels: tuple[str, str]
    n_arm: list[int]
    var_name: str
    z: float


def _median_estimates(kms: list[KaplanMeier], ctx: _Context) -> list[EffectEstimate]:
    est = []
    for i, km in enumerate(kms):
        med, lo, hi = km.median()
        note = "" if math.isfinite(med) else "not estimable: curve never reaches 0.5"
        if math.isfinite(med) and not (math.isfinite(lo) and math.isfinite(hi)):
            note = "a confidence limit is not estimable: its band never reaches 0.5"
        est.append(EffectEstimate(**ctx.common, contrast=ctx.labels[i], measure="median", value=med,
                                  ci_low=lo, ci_high=hi, variance=ctx.var_name, n=ctx.n_arm[i],
                                  note=note, extra={"conf_type": km.conf_type}))
    return est


def _landmark_estimates(kms: list[KaplanMeier], x: float, ctx: _Context) -> list[EffectEstimate]:
    """S(x) per arm, the difference (Wald) and the ratio (delta method on the log scale)."""
    common, contrast, z, var_name, n = ctx.common, ctx.contrast, ctx.z, ctx.var_name, sum(ctx.n_arm)
    s_ = [float(k.survival_at(x)[0]) for k in kms]
    se_ = [float(k.std_err_at(x)[0]) for k in kms]
    est = []
    for i, km in enumerate(kms):
        lo, hi = (float(v[0]) for v in km.ci_at(x))
        est.append(EffectEstimate(**common, contrast=ctx.labels[i], measure="surv", value=s_[i],
                                  ci_low=lo, ci_high=hi, se=se_[i], variance=var_name,
                                  n=ctx.n_arm[i], time=x, extra={"conf_type": km.conf_type}))
    diff = s_[1] - s_[0]
    sed = math.sqrt(se_[0] ** 2 + se_[1] ** 2)
    pd_ = 2 * stats.norm.sf(abs(diff) / sed) if sed > 0 else math.nan
    est.append(EffectEstimate(**common, contrast=contrast, measure="surv_diff", value=diff,
                              ci_low=diff - z * sed, ci_high=diff + z * sed, se=sed, p=pd_,
                              variance=var_name, n=n, time=x))
    if s_[0] > 0 and s_[1] > 0:
        lr = math.log(s_[1] / s_[0])
        sel = math.sqrt((se_[0] / s_[0]) ** 2 + (se_[1] / s_[1]) ** 2)
        pr = 2 * stats.norm.sf(abs(lr) / sel) if sel > 0 else math.nan
        est.append(EffectEstimate(**common, contrast=contrast, measure="surv_ratio",
                                  value=s_[1] / s_[0], ci_low=math.exp(lr - z * sel),
                                  ci_high=math.exp(lr + z * sel), se=sel, p=pr,
                                  variance=var_name, n=n, time=x, scale="log"))
    else:
        est.append(EffectEstimate(**common, contrast=contrast, measure="surv_ratio",
                                  value=math.nan, variance=var_name, n=n, time=x,
                                  note="not estimable: survival is 0 in an arm"))
    return est


def _rmst_estimates(rm: list[Any], tau: float, ctx: _Context) -> list[EffectEstimate]:
    common, z = ctx.common, ctx.z
    est = [EffectEstimate(**common, contrast=ctx.labels[i], measure="rmst", value=r.value,
                          ci_low=r.ci_low, ci_high=r.ci_high, se=r.se, variance=r.variance,
                          n=ctx.n_arm[i], time=tau) for i, r in enumerate(rm)]
    d_ = rm[1].value - rm[0].value
    sd_ = math.sqrt(rm[0].se ** 2 + rm[1].se ** 2)
    est.append(EffectEstimate(**common, contrast=ctx.contrast, measure="rmst_diff", value=d_,
                              ci_low=d_ - z * sd_, ci_high=d_ + z * sd_, se=sd_,
                              p=2 * stats.norm.sf(abs(d_) / sd_) if sd_ > 0 else math.nan,
                              variance=rm[0].variance, n=sum(ctx.n_arm), time=tau))
    return est


def _hazard_ratio(t: np.ndarray, e: np.ndarray, a: np.ndarray, hr_w: np.ndarray | None, X: Any,
                  method: str, alpha: float, ctx: _Context, note_warning: Any, where: str
                  ) -> tuple[EffectEstimate, dict]:
    """The (IPTW or covariate-adjusted) Cox HR of treatment and its cox.zph test.

    Without covariates the design is the one 0/1 column ``a``: :func:`binary_cox_fit_detail` and
    :func:`binary_cox_zph` (per-time sums by arm, the numbers of :func:`cox_fit_detail` and :func:`cox_zph`).
    """
    if method == "adjusted":
        xa = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, float)
        xa = xa.reshape(t.size, -1)
        design = np.c_[a, xa]
        names = ["treatment", *(list(map(str, X.columns)) if isinstance(X, pd.DataFrame) else
                                [f"x{j + 1}" for j in range(xa.shape[1])])]
    else:
        design = a[:, None]
        names = ["treatment"]
    common, contrast, outcome = ctx.common, ctx.contrast, ctx.common["outcome"]
    # patients and events per arm (a is 0/1, e is 0/1: checked), one pass each
    n_code = np.bincount(a.astype(np.intp), minlength=2)
    ev_code = np.bincount(a.astype(np.intp), weights=e, minlength=2)
    empty = [(label, int(n_code[code])) for code, label in ((0, ctx.labels[0]), (1, ctx.labels[1]))
             if n_code[code] > 0 and not ev_code[code] > 0]
    if empty:
        where_ = (f"no events in either arm (got 0 events in {t.size} patients)" if len(empty) == 2 else
                  f"no events in arm '{empty[0][0]}' (got 0 events in {empty[0][1]} patients)")
        msg = (f"{outcome}: {where_}, so the hazard ratio is not estimable. Report the event counts and "
               "survival/RMST differences, or lengthen follow-up.")
        note_warning(msg, SmallSampleWarning)
        return EffectEstimate(**common, contrast=contrast, measure="hr", value=math.nan,
                              variance="robust" if hr_w is not None else "model", n=int(t.size), scale="log",
                              note="not estimable: " + where_.split(" (")[0]), {}
    try:
        if method == "adjusted":
            detail = cox_fit_detail(t, e, design, weights=hr_w, names=names, alpha=alpha)
        else:
            # one 0/1 column: the same fit from per-time sums by arm (issue 17; equal to the general path)
            detail = binary_cox_fit_detail(t, e, a, weights=hr_w, name=names[0], alpha=alpha)
        fit = detail.fit
        hr = EffectEstimate(**common, contrast=contrast, measure="hr",
                            value=float(np.exp(fit.coef[0])),
                            ci_low=float(np.exp(fit.ci_low[0])),
                            ci_high=float(np.exp(fit.ci_high[0])),
                            se=float(math.sqrt(fit.var[0, 0])), p=float(fit.p[0]),
                            variance=fit.variance, n=fit.n, scale="log",
                            extra={"ties": fit.ties, "n_event": fit.n_event})
        zph = (cox_zph(t, e, design, weights=hr_w, names=names, detail=detail) if method == "adjusted"
               else binary_cox_zph(detail))                                      # the fit's own data, no refit
        ph = {"chisq": float(zph.chisq[0]), "p": float(zph.p[0]), "global_p": zph.global_p,
              "transform": zph.transform}
        if zph.p[0] < alpha:
            note_warning(f"{where}: proportional hazards rejected for treatment in '{outcome}' "
                         f"(got cox.zph p = {zph.p[0]:.3g}). Report RMST or landmark survival "
                         f"alongside the hazard ratio.", ProportionalHazardsWarning)
        return hr, ph
    except ModelFitError as err:
        note_warning(str(err), SmallSampleWarning)
        hr = EffectEstimate(**common, contrast=contrast, measure="hr", value=math.nan,
                            variance="robust" if hr_w is not None else "model", n=int(t.size),
                            scale="log", note="not estimable: " + str(err).split(": ", 1)[1])
        return hr, {}
