"""Vectorized (weighted) Kaplan-Meier, restricted mean survival time and log-rank tests.

Every estimator here sorts the data once (one ``argsort``), collapses tied times with
``np.add.reduceat`` and obtains risk-set sums as reverse cumulative sums, so the cost is that of one
sort plus a few linear passes: ten million rows take a few seconds and memory is linear. Variances
that need per-patient influence functions (the infinitesimal-jackknife "robust" variance of a
weighted curve, the design-based weighted log-rank test) are also computed by cumulative sums, never
by loops over patients or over event times.

Conventions follow R's ``survival`` package (``survfit``, ``survdiff``, ``print.survfit``) and
``survey::svylogrank``; each is matched to 1e-6 by the reference tests in ``tests/reference/survival``.

The Cox model lives in :mod:`gistcausal.stats.cox`; the arm comparison that combines everything in
:func:`compare_survival` at the end of this module.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal.effects import json_safe, EstimatesMixin, EffectEstimate
from gistcausal.errors import DataError, ModelFitError, ProportionalHazardsWarning

Variance = Literal["auto", "greenwood", "robust", "none"]
ConfType = Literal["log", "log-log", "plain"]

_TOL = math.sqrt(np.finfo(float).eps)  # R's minmin() tolerance, .Machine$double.eps^0.5


# ----------------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------------
def _as_float(x: Any, name: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{where}: `{name}` must be numeric (got dtype {np.asarray(x).dtype}). "
                        f"Convert `{name}` to numbers before calling {where}.") from err
    if arr.ndim != 1:
        raise DataError(f"{where}: `{name}` must be one-dimensional (got shape {arr.shape}). "
                        f"Pass one value per patient.")
    return arr


def _check_inputs(time: Any, event: Any, weights: Any, where: str,
                  entry: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and return float arrays ``time``, ``event`` (0/1) and ``weights`` (ones if None)."""
    if entry is not None:
        raise DataError(f"{where}: late entry (left truncation) is not supported (got an `entry` "
                        f"argument). Define time zero so that every patient is at risk from time 0, "
                        f"or use R survival with Surv(entry, time, event).")
    t = _as_float(time, "time", where)
    e = _as_float(event, "event", where)
    n = t.size
    if n == 0:
        raise DataError(f"{where}: no patients (got 0 rows). Check the cohort filters.")
    if e.size != n:
        raise DataError(f"{where}: `event` must have one value per patient (got {e.size} values for "
                        f"{n} times). Pass arrays of equal length.")
    bad_nan = int(np.isnan(t).sum())
    bad_neg = int((t < 0).sum())
    bad_inf = int(np.isinf(t).sum())
    if bad_nan or bad_neg or bad_inf:
        raise DataError(f"{where}: `time` must be finite and >= 0 (got {bad_nan} missing, {bad_neg} "
                        f"negative, {bad_inf} infinite). Drop or correct these rows before the "
                        f"analysis.")
    bad_e = int((~np.isin(e, (0.0, 1.0))).sum())
    if bad_e:
        raise DataError(f"{where}: `event` must be 0 (censored) or 1 (event) (got {bad_e} other "
                        f"values). Recode the event indicator to 0/1.")
    if weights is None:
        w = np.ones(n)
    else:
        w = _as_float(weights, "weights", where)
        if w.size != n:
            raise DataError(f"{where}: `weights` must have one value per patient (got {w.size} "
                            f"weights for {n} times). Pass arrays of equal length.")
        bad_w = int((~np.isfinite(w)).sum()) + int((w < 0).sum())
        if bad_w:
            raise DataError(f"{where}: `weights` must be finite and >= 0 (got {bad_w} missing, "
                            f"infinite or negative). Recompute the weights or drop these rows.")
        if not np.any(w > 0):
            raise DataError(f"{where}: all weights are zero (got sum 0). Check the weighting step.")
    return t, e, w


def _check_alpha(alpha: float, where: str) -> float:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise DataError(f"{where}: `alpha` must be in (0, 1) (got {alpha!r}). Use e.g. alpha=0.05.")
    return float(alpha)


# ----------------------------------------------------------------------------------------------------
# the one-sort risk table
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _RiskTable:
    """Sorted data and per-unique-time sums (internal; holds patient rows, never returned)."""

    order: np.ndarray       # argsort of time
    time: np.ndarray        # unique times, ascending
    idx: np.ndarray         # unique-time index of each sorted row
    t: np.ndarray           # sorted times
    e: np.ndarray           # sorted events
    w: np.ndarray           # sorted weights
    n_risk: np.ndarray      # weighted number at risk at each unique time
    n_event: np.ndarray
    n_censor: np.ndarray
    n_risk_raw: np.ndarray
    n_event_raw: np.ndarray
    n_censor_raw: np.ndarray


def _risk_table(t: np.ndarray, e: np.ndarray, w: np.ndarray) -> _RiskTable:
    order = np.argsort(t, kind="stable")
    ts, es, ws = t[order], e[order], w[order]
    first = np.empty(ts.size, dtype=bool)
    first[0] = True
    np.not_equal(ts[1:], ts[:-1], out=first[1:])
    start = np.flatnonzero(first)
    idx = np.cumsum(first) - 1
    we = ws * es
    n_event = np.add.reduceat(we, start)
    n_tot = np.add.reduceat(ws, start)
    n_event_raw = np.add.reduceat(es, start)
    n_tot_raw = np.diff(np.append(start, ts.size)).astype(float)
    n_risk = np.cumsum(n_tot[::-1])[::-1]
    n_risk_raw = np.cumsum(n_tot_raw[::-1])[::-1]
    return _RiskTable(order=order, time=ts[start], idx=idx, t=ts, e=es, w=ws, n_risk=n_risk,
                      n_event=n_event, n_censor=n_tot - n_event, n_risk_raw=n_risk_raw,
                      n_event_raw=n_event_raw, n_censor_raw=n_tot_raw - n_event_raw)


def _km_surv(rt: _RiskTable) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(rt.n_risk > 0, rt.n_event / rt.n_risk, 0.0)
    return np.cumprod(1.0 - h)


def _greenwood_term(n_risk: np.ndarray, n_event: np.ndarray) -> np.ndarray:
    """d / (n (n - d)), and 0 where n == d, as R's survfit and print.survfit (rmean) do."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_risk - n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)


def _ij_pieces(rt: _RiskTable) -> tuple[np.ndarray, np.ndarray]:
    """Per-patient terms of the infinitesimal jackknife of log S(t).

    For patient i with unique-time index k_i the influence of its weight on log S at time index m is
    ``-A_i(m)`` with ``A_i(m) = delta_i [k_i <= m] / (n_{k_i} - d_{k_i}) - G(min(m, k_i))`` and
    ``G = cumsum(h / (n - d))``; returns ``c_i = A_i(k_i)`` (its value once it has left the risk
    set) and ``G``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        surviving = rt.n_risk - rt.n_event
        a = np.where(surviving > 0, 1.0 / surviving, 0.0)
        h = np.where(rt.n_risk > 0, rt.n_event / rt.n_risk, 0.0)
    g = np.cumsum(h * a)
    c = rt.e * a[rt.idx] - g[rt.idx]
    return c, g


def _ij_var_log_surv(rt: _RiskTable) -> np.ndarray:
    """Robust (IJ) variance of log S(t) at each unique time: sum_i w_i^2 A_i(t)^2, by cumsums."""
    c, g = _ij_pieces(rt)
    w2 = rt.w ** 2
    m = rt.time.size
    start = np.flatnonzero(np.r_[True, rt.idx[1:] != rt.idx[:-1]])
    done = np.cumsum(np.add.reduceat(w2 * c ** 2, start))      # patients with k_i <= m
    w2_k = np.add.reduceat(w2, start)
    later = np.append(np.cumsum(w2_k[::-1])[::-1][1:], 0.0)    # patients with k_i > m
    return done + g ** 2 * later


def _conf_int(surv: np.ndarray, se_log: np.ndarray, conf_type: str, alpha: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits as R's survfit_confint (survival 3.x), from the SE of log S."""
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            se2 = z * se_log * surv
            return np.maximum(surv - se2, 0.0), np.minimum(surv + se2, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            return (np.exp(np.log(xx) - z * se_log), np.minimum(np.exp(np.log(xx) + z * se_log), 1.0))
        xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
        se2 = z * se_log / np.log(xx)
        lo = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
        hi = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        return lo, hi


def _minmin(y: np.ndarray, x: np.ndarray) -> float:
    """R survival's median rule: first time the curve is <= 0.5; the midpoint if it sits at 0.5."""
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return math.nan
    xk, yk = x[keep], y[keep]
    if abs(yk[0] - 0.5) < _TOL and np.any(yk < yk[0]):
        return float((xk[0] + xk[np.argmax(yk < yk[0])]) / 2)
    return float(xk[0])


# ----------------------------------------------------------------------------------------------------
# Kaplan-Meier
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KaplanMeier:
    """A (weighted) Kaplan-Meier curve at every distinct observed time.

    Attributes
    ----------
    time : ndarray
        Distinct observed times (events and censorings), ascending, as R's ``survfit``.
    surv, std_err, ci_low, ci_high : ndarray
        S(t), the standard error of S(t) (R's ``summary(survfit)$std.err``, i.e. ``surv`` times the
        ``survfit`` component ``std.err`` which is on the log scale), and pointwise limits.
    n_risk, n_event, n_censor : ndarray
        Weighted sums at each time (equal to the raw counts when unweighted).
    n_risk_raw, n_event_raw, n_censor_raw : ndarray
        Unweighted counts.
    variance, conf_type, alpha : str, str, float
        How ``std_err`` and the limits were obtained.
    """

    time: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    n_risk_raw: np.ndarray
    n_event_raw: np.ndarray
    n_censor_raw: np.ndarray
    variance: str
    conf_type: str
    alpha: float
    weighted: bool

    @property
    def std_err_log(self) -> np.ndarray:
        """SE of log S(t) (R's ``survfit(...)$std.err``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.std_err / self.surv

    def _step(self, values: np.ndarray, t: Any, before: float) -> np.ndarray:
        tt = np.atleast_1d(np.asarray(t, dtype=float))
        pos = np.searchsorted(self.time, tt, side="right") - 1
        out = np.where(pos >= 0, values[np.maximum(pos, 0)], before)
        return out

    def survival_at(self, t: Any) -> np.ndarray:
        """S(t) as a right-continuous step function (1 before the first time)."""
        return self._step(self.surv, t, 1.0)

    def std_err_at(self, t: Any) -> np.ndarray:
        """SE of S(t) at arbitrary times (0 before the first time)."""
        return self._step(self.std_err, t, 0.0)

    def median(self) -> tuple[float, float, float]:
        """Median and its interval by R's rule (``print.survfit``): NaN when not reached.

        The median is the first time S(t) <= 0.5 (the midpoint to the next drop when S sits exactly at
        0.5, within sqrt(machine eps)); the lower limit is where the lower band first reaches 0.5 and
        the upper limit where the upper band does (Brookmeyer & Crowley 1982). A limit whose band never
        reaches 0.5 is NaN ("not estimable"), never extrapolated.
        """
        return (_minmin(self.surv, self.time), _minmin(self.ci_low, self.time),
                _minmin(self.ci_high, self.time))

    def to_frame(self) -> pd.DataFrame:
        """One row per distinct time (a copy)."""
        return pd.DataFrame({
            "time": self.time, "surv": self.surv, "std_err": self.std_err, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "n_risk": self.n_risk, "n_event": self.n_event,
            "n_censor": self.n_censor, "n_risk_raw": self.n_risk_raw,
            "n_event_raw": self.n_event_raw, "n_censor_raw": self.n_censor_raw})

    def summary(self) -> str:
        """Short text: patients, events, median with interval."""
        med, lo, hi = self.median()

        def f(v: float) -> str:
            return "not reached" if not math.isfinite(v) else f"{v:.3g}"
        lvl = round(100 * (1 - self.alpha))
        w = " (weighted)" if self.weighted else ""
        return (f"Kaplan-Meier{w}: n={int(self.n_risk_raw[0])}, events={int(self.n_event_raw.sum())}; "
                f"median {f(med)} ({lvl}% CI {f(lo)} to {f(hi)}); variance: {self.variance}, "
                f"{self.conf_type} intervals")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of lists (NaN -> None)."""
        med, lo, hi = self.median()
        return {"variance": self.variance, "conf_type": self.conf_type, "alpha": self.alpha,
                "weighted": self.weighted, "median": json_safe(med), "median_ci_low": json_safe(lo),
                "median_ci_high": json_safe(hi),
                **{k: json_safe(np.asarray(v, dtype=float).tolist()) for k, v in self.to_frame().items()}}


def _resolve_variance(variance: str, weighted: bool, where: str) -> str:
    if variance not in ("auto", "greenwood", "robust", "none"):
        raise DataError(f"{where}: `variance` must be one of 'auto', 'greenwood', 'robust', 'none' "
                        f"(got {variance!r}). Use 'auto' for Greenwood unweighted, robust weighted.")
    if variance == "auto":
        return "robust" if weighted else "greenwood"
    return variance


def kaplan_meier(time: Any, event: Any, *, weights: Any = None, variance: Variance = "auto",
                 conf_type: ConfType = "log", alpha: float = 0.05, entry: Any = None) -> KaplanMeier:
    r"""(Weighted) Kaplan-Meier estimator with Greenwood or robust (IJ) variance.

    Parameters
    ----------
    time : array-like of float
        Follow-up time, >= 0.
    event : array-like of {0, 1}
        1 for an event, 0 for censoring.
    weights : array-like of float, optional
        Non-negative case weights (e.g. IPTW); zero-weight patients count in the raw numbers at risk
        only.
    variance : {"auto", "greenwood", "robust", "none"}, default="auto"
        ``"greenwood"`` (the default unweighted) uses weighted counts in Greenwood's formula, as
        R ``survfit(..., weights = w)``; ``"robust"`` (the default weighted) is the infinitesimal
        jackknife, as R ``survfit(..., weights = w, robust = TRUE)``.
    conf_type : {"log", "log-log", "plain"}, default="log"
        Interval transformation; ``"log"`` is R's default (lifelines only offers log-log).
    alpha : float, default=0.05
        1 - confidence level.
    entry : None
        Late entry is not supported; passing anything raises :class:`DataError`.

    Returns
    -------
    KaplanMeier

    Raises
    ------
    DataError
        Negative/NaN times, non-binary events, negative/NaN weights, an ``entry`` argument.

    Notes
    -----
    With distinct times :math:`t_j`, weighted events :math:`d_j` and weighted numbers at risk
    :math:`n_j`, :math:`\hat S(t) = \prod_{t_j \le t} (1 - d_j / n_j)`.

    Greenwood: :math:`\widehat{\mathrm{Var}}\{\log \hat S(t)\} = \sum_{t_j \le t} d_j / \{n_j(n_j - d_j)\}`
    (a term with :math:`n_j = d_j` is set to 0, as R does).

    Robust: the influence of patient *i*'s weight on :math:`\log \hat S(t)` is
    :math:`-\sum_{t_j \le t} \{dN_i(t_j) - Y_i(t_j) d_j/n_j\} / (n_j - d_j)` and
    :math:`\widehat{\mathrm{Var}}\{\log \hat S(t)\} = \sum_i w_i^2 U_i(t)^2`; this sum over patients is
    obtained for all *t* at once by cumulative sums (see ``_ij_var_log_surv``).

    Intervals: ``log`` :math:`\hat S \exp(\pm z\,se_{\log})` (upper capped at 1); ``log-log``
    :math:`\hat S^{\exp(\pm z\,se_{\log}/\log \hat S)}`; ``plain`` :math:`\hat S \pm z\,se(\hat S)`.

    References
    ----------
    Kaplan EL, Meier P (1958). JASA 53:457-481. Xie J, Liu C (2005). Adjusted Kaplan-Meier estimator
    and log-rank test with inverse probability of treatment weighting. Stat Med 24:3089-3110.
    Therneau TM (2024). survival: A Package for Survival Analysis in R (survfit, robust variance).
    """
    where = "kaplan_meier"
    t, e, w = _check_inputs(time, event, weights, where, entry)
    alpha = _check_alpha(alpha, where)
    if conf_type not in ("log", "log-log", "plain"):
        raise DataError(f"{where}: `conf_type` must be one of 'log', 'log-log', 'plain' (got "
                        f"{conf_type!r}). Use 'log', R's default.")
    var = _resolve_variance(variance, weights is not None, where)
    rt = _risk_table(t, e, w)
    surv = _km_surv(rt)
    if var == "greenwood":
        # survfit makes the term infinite where everyone at risk has the event (S drops to 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(rt.n_event > 0, rt.n_event / (rt.n_risk * (rt.n_risk - rt.n_event)), 0.0)
        var_log = np.cumsum(np.where(np.isnan(term), np.inf, term))
    elif var == "robust":
        var_log = _ij_var_log_surv(rt)
    else:
        var_log = np.full(surv.size, np.nan)
    se_log = np.sqrt(var_log)
    lo, hi = _conf_int(surv, se_log, conf_type, alpha)
    with np.errstate(invalid="ignore"):
        std_err = np.where(surv > 0, se_log * surv, np.where(np.isinf(se_log), np.nan, 0.0))
    return KaplanMeier(time=rt.time, surv=surv, std_err=std_err, ci_low=lo, ci_high=hi,
                       n_risk=rt.n_risk, n_event=rt.n_event, n_censor=rt.n_censor,
                       n_risk_raw=rt.n_risk_raw, n_event_raw=rt.n_event_raw,
                       n_censor_raw=rt.n_censor_raw, variance=var, conf_type=conf_type, alpha=alpha,
                       weighted=weights is not None)


def km_median(time: Any, event: Any, *, weights: Any = None, variance: Variance = "auto",
              conf_type: ConfType = "log", alpha: float = 0.05) -> tuple[float, float, float]:
    """Median survival and its interval, ``(est, lo, hi)``, NaN where not reached (R's rule).

    See Also
    --------
    kaplan_meier, KaplanMeier.median
    """
    return kaplan_meier(time, event, weights=weights, variance=variance, conf_type=conf_type,
                        alpha=alpha).median()


# ----------------------------------------------------------------------------------------------------
# RMST
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RMSTResult:
    """Restricted mean survival time up to ``horizon`` with the SE of the estimate."""

    value: float
    se: float
    ci_low: float
    ci_high: float
    horizon: float
    variance: str
    alpha: float
    n: int

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in ((s, getattr(self, s)) for s in self.__slots__)}

    def summary(self) -> str:
        lvl = round(100 * (1 - self.alpha))
        return (f"RMST to {self.horizon:g}: {self.value:.4g} (SE {self.se:.3g}; {lvl}% CI "
                f"{self.ci_low:.4g} to {self.ci_high:.4g}); variance: {self.variance}")


def check_landmarks(landmarks: Any, last: float, where: str) -> list[float]:
    """Landmark times as floats, each finite, >= 0 and not beyond ``last`` (the earliest arm's last follow-up)."""
    lm = [float(x) for x in np.atleast_1d(np.asarray(landmarks, dtype=float))]
    for x in lm:
        if not (math.isfinite(x) and x >= 0):
            raise DataError(f"{where}: `landmarks` must be finite times >= 0 (got {x!r}). Fix the "
                            f"landmark times.")
        if x > last:
            raise DataError(f"{where}: `landmarks` has a time beyond the last follow-up of an arm "
                            f"(got {x:g} > {last:g}). Choose landmarks <= {last:g}.")
    return lm


def _check_horizon(horizon: Any, last: float, where: str, key: str) -> float:
    try:
        h = float(horizon)
    except (TypeError, ValueError) as err:
        raise DataError(f"{where}: `{key}` must be a number (got {horizon!r}). Set `{key}` to a time "
                        f"within follow-up.") from err
    if not (math.isfinite(h) and h > 0):
        raise DataError(f"{where}: `{key}` must be a positive finite time (got {horizon!r}). Set "
                        f"`{key}` to a time within follow-up.")
    if h > last:
        raise DataError(f"{where}: `{key}` is beyond the last follow-up time (got {h:g} > {last:g}). "
                        f"Choose `{key}` <= {last:g}, ideally where enough patients remain at risk.")
    return h


def _rmst_core(rt: _RiskTable, surv: np.ndarray, tau: float, var: str
               ) -> tuple[float, float]:
    """Area under S on [0, tau] and its variance (Greenwood as R print.survfit, or IJ)."""
    keep = rt.time <= tau
    tk = rt.time[keep]
    grid = np.append(np.append(0.0, tk), tau)                  # breakpoints
    s_left = np.append(1.0, surv[keep])                        # S on [grid[i], grid[i+1])
    rect = np.diff(grid) * s_left
    value = float(rect.sum())
    if var == "none":
        return value, math.nan
    if var == "greenwood":
        # R survmean: varmean = sum(cumsum(rev(rectangles[-1]))^2 * rev(hh)[-1]), hh = d/(n(n-d))
        hh = _greenwood_term(rt.n_risk, rt.n_event)[keep]
        after = np.cumsum(rect[1:][::-1])[::-1]                 # area after t_j up to tau
        return value, float(np.sum(after ** 2 * hh))
    # IJ: U_i = -int_0^tau S(u) A_i(u) du, A_i piecewise constant (see _ij_pieces)
    c, g = _ij_pieces(rt)
    mk = tk.size
    g_k = g[:mk]
    # Q(m) = int_0^{t_m + } S G: cumulative area of S*G over the intervals starting at t_1..t_m
    sg_rect = rect[1:] * g_k                                     # interval [t_m, t_{m+1}) has S_m, G_m
    q_through = np.cumsum(sg_rect)                              # through interval m inclusive
    r_from = np.cumsum(rect[1:][::-1])[::-1]                    # area from t_m to tau
    if mk == 0:
        return value, 0.0
    k = rt.idx
    inside = k < mk
    ki = np.where(inside, k, 0)
    q_before = np.where(ki > 0, q_through[np.maximum(ki - 1, 0)], 0.0)
    # patient at risk until t_{k_i}: A = -G on the intervals before k_i, then c_i from t_{k_i} on
    integ = np.where(inside, -q_before + c * r_from[ki], -q_through[-1])
    u = -integ
    return value, float(np.sum((rt.w * u) ** 2))


def rmst(time: Any, event: Any, *, weights: Any = None, horizon: float, variance: Variance = "auto",
         alpha: float = 0.05) -> RMSTResult:
    r"""Restricted mean survival time :math:`\int_0^\tau \hat S(t)\,dt` with the SE of the estimate.

    Parameters
    ----------
    time, event, weights
        As :func:`kaplan_meier`.
    horizon : float
        :math:`\tau`; must not exceed the last observed time.
    variance : {"auto", "greenwood", "robust", "none"}, default="auto"
        ``"greenwood"`` (unweighted default) is R's ``print(survfit, rmean = tau)`` / survRM2
        formula; ``"robust"`` (weighted default) is the infinitesimal jackknife.
    alpha : float, default=0.05

    Returns
    -------
    RMSTResult
        ``value``, ``se`` (of the estimate, not the variance of the restricted time, unlike
        lifelines' ``return_variance``), Wald ``ci_low``/``ci_high``.

    Notes
    -----
    Greenwood: :math:`\mathrm{Var} = \sum_{t_j \le \tau} A_j^2 d_j / \{n_j(n_j-d_j)\}` with
    :math:`A_j = \int_{t_j}^{\tau} \hat S`. Robust: :math:`\sum_i w_i^2 \{\int_0^\tau U_i(t)dt\}^2`
    with :math:`U_i` the IJ of :math:`\hat S(t)` (see :func:`kaplan_meier`), computed per patient in
    O(n) from cumulative integrals.

    References
    ----------
    Royston P, Parmar MKB (2013). BMC Med Res Methodol 13:152. Uno H et al., survRM2.
    """
    where = "rmst"
    t, e, w = _check_inputs(time, event, weights, where)
    alpha = _check_alpha(alpha, where)
    var = _resolve_variance(variance, weights is not None, where)
    rt = _risk_table(t, e, w)
    tau = _check_horizon(horizon, float(rt.time[-1]), where, "horizon")
    value, v = _rmst_core(rt, _km_surv(rt), tau, var)
    se = math.sqrt(v) if math.isfinite(v) else math.nan
    z = stats.norm.ppf(1 - alpha / 2)
    return RMSTResult(value=value, se=se, ci_low=float(value - z * se), ci_high=float(value + z * se),
                      horizon=tau, variance=var, alpha=alpha, n=int(t.size))


# ----------------------------------------------------------------------------------------------------
# log-rank tests
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LogRankResult:
    """Log-rank test of equal survival across groups."""

    statistic: float
    df: int
    p: float
    method: str
    groups: tuple[str, ...]
    observed: tuple[float, ...] = ()
    expected: tuple[float, ...] = ()
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "df": self.df, "p": self.p, "method": self.method,
                "groups": list(self.groups), "observed": list(self.observed),
                "expected": list(self.expected), "n": self.n}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"statistic": self.statistic, "df": self.df, "p": self.p,
                              "method": self.method, "n": self.n}])

    def summary(self) -> str:
        return (f"{self.method}: chi-square {self.statistic:.4g} on {self.df} df, p = {self.p:.3g} "
                f"(groups {', '.join(self.groups)})")


def _group_codes(group: Any, n: int, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    g = np.asarray(group)
    if g.ndim != 1 or g.size != n:
        raise DataError(f"{where}: `group` must have one value per patient (got shape {g.shape} for "
                        f"{n} times). Pass arrays of equal length.")
    if pd.isna(g).any():
        raise DataError(f"{where}: `group` has missing values (got {int(pd.isna(g).sum())}). Drop "
                        f"or assign these rows.")
    if g.dtype.kind in "biu" and g.size and g.min() >= 0 and g.max() <= 1:
        # 0/1 treatment codes (the common case): no sort needed, unlike np.unique (which sorts all n values)
        present = np.bincount(g.astype(np.intp), minlength=2) > 0
        levels = np.array([0, 1])[present] if g.dtype.kind != "b" else np.array([False, True])[present]
        codes = g.astype(np.intp) if present.all() else np.zeros(g.size, dtype=np.intp)
    else:
        levels, codes = np.unique(g, return_inverse=True)
    if levels.size < 2:
        raise DataError(f"{where}: `group` needs at least 2 groups (got {levels.size}: "
                        f"{[str(v) for v in levels]}). Check that both arms have patients.")
    return codes, tuple(str(v) for v in levels)


def _efron_null_pieces(rt: _RiskTable, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At beta = 0: unique death times' index, hazard increments and covariate means as R's
    ``coxph.detail`` (Efron ties; the means are averaged over the d tied deaths)."""
    start = np.flatnonzero(np.r_[True, rt.idx[1:] != rt.idx[:-1]])
    w = rt.w
    wx = w[:, None] * xs
    r = np.cumsum(np.add.reduceat(w, start)[::-1])[::-1]
    a = np.cumsum(np.add.reduceat(wx, start, axis=0)[::-1], axis=0)[::-1]
    de = w * rt.e
    e = np.add.reduceat(de, start)
    a2 = np.add.reduceat(de[:, None] * xs, start, axis=0)
    nd = rt.n_event_raw                            # R's Efron counts tied deaths, not their weight
    dt = np.flatnonzero(nd > 0)
    ndt = nd[dt].astype(np.int64)
    rep = np.repeat(np.arange(dt.size), ndt)
    k = np.arange(rep.size) - np.repeat(np.cumsum(ndt) - ndt, ndt)
    frac = k / ndt[rep]
    jj = dt[rep]
    denom = r[jj] - frac * e[jj]
    meanwt = (e[dt] / ndt)[rep]
    h = meanwt / denom
    xbar = (a[jj] - frac[:, None] * a2[jj]) / denom[:, None]
    haz = np.zeros(rt.time.size)
    haz[dt] = np.bincount(rep, weights=h, minlength=dt.size)
    means = np.zeros((rt.time.size, xs.shape[1]))
    for p in range(xs.shape[1]):
        means[dt, p] = np.bincount(rep, weights=xbar[:, p], minlength=dt.size) / ndt
    return dt, haz, means


def logrank_test(time: Any, event: Any, group: Any, *, weights: Any = None,
                 alpha: float = 0.05) -> LogRankResult:
    r"""Log-rank test; unweighted as R ``survdiff``, weighted as ``survey::svylogrank``.

    Parameters
    ----------
    time, event
        As :func:`kaplan_meier`.
    group : array-like
        Group labels (two or more levels; the first sorted level is the reference).
    weights : array-like of float, optional
        IPTW or sampling weights. Zero-weight patients are dropped (R's ``coxph``, which
        ``svylogrank`` calls, refuses them).
    alpha : float, default=0.05
        Unused by the test itself; kept for a uniform signature.

    Returns
    -------
    LogRankResult

    Notes
    -----
    Unweighted: :math:`\chi^2 = (O - E)^\top V^{-} (O - E)` with the hypergeometric variance
    :math:`V_{gh} = \sum_j d_j (n_j - d_j) / \{n_j^2 (n_j - 1)\}\, n_{gj} (\delta_{gh} n_j - n_{hj})`
    (Mantel 1966), as ``survdiff``.

    Weighted: a *design-based* robust score test (Lin & Wei 1989; Xie & Liu 2005), never an
    ordinary log-rank on weighted counts (which treats weights as case counts, the lifelines trap).
    With group dummies :math:`x_i`, the Cox score residuals at :math:`\beta = 0`,
    :math:`U_i = \delta_i \{x_i - \bar x(T_i)\} - \sum_{t_j \le T_i} \{x_i - \bar x(t_j)\}
    d\Lambda_j` (Efron means and hazard increments, as ``coxph.detail``), give the total
    :math:`T = \sum_i w_i U_i` with the with-replacement variance
    :math:`\hat V = \frac{n}{n-1} \sum_i (w_i U_i - \overline{wU})^{\otimes 2}` (``svytotal`` on
    ``svydesign(ids = ~1, weights = ~w)``), and :math:`\chi^2 = T^\top \hat V^{-1} T`.

    References
    ----------
    Mantel N (1966). Cancer Chemother Rep 50:163-170. Lumley T (2004-2024), survey: svylogrank.
    Xie J, Liu C (2005). Stat Med 24:3089-3110.
    """
    where = "logrank_test"
    t, e, w = _check_inputs(time, event, weights, where)
    _check_alpha(alpha, where)
    codes, levels = _group_codes(group, t.size, where)
    k = len(levels)
    if weights is None:
        rt = _risk_table(t, e, w)
        start = np.flatnonzero(np.r_[True, rt.idx[1:] != rt.idx[:-1]])
        onehot = np.zeros((t.size, k))
        onehot[np.arange(t.size), codes[rt.order]] = 1.0
        n_g = np.cumsum(np.add.reduceat(onehot, start, axis=0)[::-1], axis=0)[::-1]
        d_g = np.add.reduceat(onehot * rt.e[:, None], start, axis=0)
        n, d = rt.n_risk, rt.n_event
        with np.errstate(divide="ignore", invalid="ignore"):
            exp_g = n_g * (d / n)[:, None]
            f = np.where(n > 1, d * (n - d) / (n ** 2 * (n - 1)), 0.0)
        obs, exp = d_g.sum(0), exp_g.sum(0)
        v = -(n_g * f[:, None]).T @ n_g
        v[np.diag_indices(k)] += (n_g * (f * n)[:, None]).sum(0)
        oe = (obs - exp)[1:]
        vv = v[1:, 1:]
        method = "log-rank (survdiff)"
        n_used = int(t.size)
    else:
        keep = w > 0
        if not keep.all():  # copying ten million rows costs as much as a third of a sort: only when needed
            t, e, w, codes = t[keep], e[keep], w[keep], codes[keep]
        if np.count_nonzero(np.bincount(codes, minlength=k)) < k:
            raise DataError(f"{where}: a group has only zero-weight patients (got levels {levels}). "
                            f"Check the weights of that arm.")
        rt = _risk_table(t, e, w)
        xs = np.zeros((t.size, k - 1))
        cs = codes[rt.order]
        for j in range(1, k):
            xs[:, j - 1] = cs == j
        _, haz, means = _efron_null_pieces(rt, xs)
        lam = np.cumsum(haz)
        xlam = np.cumsum(means * haz[:, None], axis=0)
        ki = rt.idx
        u = rt.e[:, None] * (xs - means[ki]) - (xs * lam[ki, None] - xlam[ki])
        wu = rt.w[:, None] * u
        total = wu.sum(0)
        m = wu.shape[0]
        centred = wu - total / m
        vv = centred.T @ centred * m / (m - 1)
        oe = total
        obs = exp = np.array([])
        method = "design-based weighted log-rank (svylogrank)"
        n_used = int(m)
    if not np.all(np.diag(vv) > 0):
        stat = math.nan       # no events (or no information): there is nothing to test
    else:
        try:
            stat = float(oe @ np.linalg.solve(vv, oe))
        except np.linalg.LinAlgError:
            stat = float(oe @ np.linalg.pinv(vv) @ oe)
    df = k - 1
    return LogRankResult(statistic=stat, df=df, p=float(stats.chi2.sf(stat, df)), method=method,
                         groups=levels, observed=tuple(float(x) for x in obs),
                         expected=tuple(float(x) for x in exp), n=n_used)


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
                     estimand: str = "none", method: str = "unadjusted", landmarks: Any = (),
                     horizon: float | None = None, alpha: float = 0.05,
                     arm_labels: tuple[str, str] = ("imatinib_800", "sunitinib"), X: Any = None,
                     at_risk_times: Any = None) -> SurvivalComparison:
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
    method : {"unadjusted", "iptw", "adjusted"}, default="unadjusted"
        ``"adjusted"`` reports a covariate-adjusted (conditional) Cox HR using ``X``; the curves stay
        unadjusted.
    landmarks : sequence of float
        Times at which S(t), the difference and the ratio are reported.
    horizon : float, optional
        RMST horizon :math:`\tau`.
    alpha : float, default=0.05
    arm_labels : (str, str)
    X : array-like or DataFrame, optional
        Covariates for ``method="adjusted"``.
    at_risk_times : sequence of float, optional
        Times for the at-risk table; default: 0, the landmarks and 5 evenly spaced times.

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
    from gistcausal.stats.cox import cox_fit, cox_zph
    from gistcausal.errors import CohortError, SmallSampleWarning

    where = "compare_survival"
    if method not in ("unadjusted", "iptw", "adjusted"):
        raise DataError(f"{where}: `method` must be one of 'unadjusted', 'iptw', 'adjusted' (got "
                        f"{method!r}). Use 'iptw' with weights.")
    if method == "iptw" and weights is None:
        raise DataError(f"{where}: method 'iptw' needs `weights` (got None). Pass the IPTW weights "
                        f"or use method='unadjusted'.")
    if method == "unadjusted" and weights is not None:
        raise DataError(f"{where}: method 'unadjusted' takes no `weights` (got weights). Use "
                        f"method='iptw' for a weighted analysis.")
    if method == "adjusted" and X is None:
        raise DataError(f"{where}: method 'adjusted' needs covariates `X` (got None). Pass the "
                        f"adjustment covariates.")
    t, e, w = _check_inputs(time, event, weights, where)
    alpha = _check_alpha(alpha, where)
    a = _as_float(treatment, "treatment", where)
    if a.size != t.size or not np.isin(a, (0.0, 1.0)).all():
        raise DataError(f"{where}: `treatment` must be 0/1 with one value per patient (got "
                        f"{a.size} values, {int((~np.isin(a, (0.0, 1.0))).sum())} not 0/1). "
                        f"Code {arm_labels[0]} as 0 and {arm_labels[1]} as 1.")
    for k in (0, 1):
        if not np.any(a == k) or not np.any(w[a == k] > 0):
            raise CohortError(f"{where}: arm '{arm_labels[k]}' is empty (got 0 patients with "
                              f"positive weight). Check the cohort definition and treatment "
                              f"coding.")
    weighted = weights is not None
    z = stats.norm.ppf(1 - alpha / 2)
    warn_list: list[str] = []

    def note_warning(msg: str, cat: type[Warning]) -> None:
        warnings.warn(msg, cat, stacklevel=3)
        warn_list.append(msg)

    arms = [a == 0, a == 1]
    kms = [kaplan_meier(t[m], e[m], weights=w[m] if weighted else None, alpha=alpha) for m in arms]
    frames = []
    if weighted:
        kms_u = [kaplan_meier(t[m], e[m], alpha=alpha) for m in arms]
        frames += [_curve_frame(k, arm_labels[i], "unweighted") for i, k in enumerate(kms_u)]
    frames += [_curve_frame(k, arm_labels[i], "weighted" if weighted else "unweighted")
               for i, k in enumerate(kms)]
    curves = pd.concat(frames, ignore_index=True)

    last = min(float(k.time[-1]) for k in kms)
    lm = check_landmarks(landmarks, last, where)
    if at_risk_times is None:
        grid = np.unique(np.r_[0.0, lm, np.linspace(0, last, 6)])
    else:
        grid = np.asarray(at_risk_times, dtype=float)
    rows = []
    for i, km in enumerate(kms):
        raw, wt = _at_risk(km, grid)
        for tt, r, ww in zip(grid, raw, wt):
            rows.append({"arm": arm_labels[i], "time": float(tt), "n_at_risk": int(r),
                         "weighted_n_at_risk": float(ww)})
    at_risk = pd.DataFrame(rows)

    var_name = "robust" if weighted else "greenwood"
    contrast = f"{arm_labels[1]} vs {arm_labels[0]}"
    n_arm = [int(m.sum()) for m in arms]
    common = {"outcome": outcome, "estimand": estimand, "method": method}
    est: list[EffectEstimate] = []
    for i, km in enumerate(kms):
        med, lo, hi = km.median()
        note = "" if math.isfinite(med) else "not estimable: curve never reaches 0.5"
        if math.isfinite(med) and not (math.isfinite(lo) and math.isfinite(hi)):
            note = "a confidence limit is not estimable: its band never reaches 0.5"
        est.append(EffectEstimate(**common, contrast=arm_labels[i], measure="median", value=med,
                                  ci_low=lo, ci_high=hi, variance=var_name, n=n_arm[i], note=note,
                                  extra={"conf_type": km.conf_type}))
    for x in lm:
        s_ = [float(k.survival_at(x)[0]) for k in kms]
        se_ = [float(k.std_err_at(x)[0]) for k in kms]
        for i, km in enumerate(kms):
            lo = float(km._step(km.ci_low, x, 1.0)[0])
            hi = float(km._step(km.ci_high, x, 1.0)[0])
            est.append(EffectEstimate(**common, contrast=arm_labels[i], measure="surv", value=s_[i],
                                      ci_low=lo, ci_high=hi, se=se_[i], variance=var_name,
                                      n=n_arm[i], time=x, extra={"conf_type": km.conf_type}))
        diff = s_[1] - s_[0]
        sed = math.sqrt(se_[0] ** 2 + se_[1] ** 2)
        pd_ = 2 * stats.norm.sf(abs(diff) / sed) if sed > 0 else math.nan
        est.append(EffectEstimate(**common, contrast=contrast, measure="surv_diff", value=diff,
                                  ci_low=diff - z * sed, ci_high=diff + z * sed, se=sed, p=pd_,
                                  variance=var_name, n=sum(n_arm), time=x))
        if s_[0] > 0 and s_[1] > 0:
            lr = math.log(s_[1] / s_[0])
            sel = math.sqrt((se_[0] / s_[0]) ** 2 + (se_[1] / s_[1]) ** 2)
            pr = 2 * stats.norm.sf(abs(lr) / sel) if sel > 0 else math.nan
            est.append(EffectEstimate(**common, contrast=contrast, measure="surv_ratio",
                                      value=s_[1] / s_[0], ci_low=math.exp(lr - z * sel),
                                      ci_high=math.exp(lr + z * sel), se=sel, p=pr,
                                      variance=var_name, n=sum(n_arm), time=x, scale="log"))
        else:
            est.append(EffectEstimate(**common, contrast=contrast, measure="surv_ratio",
                                      value=math.nan, variance=var_name, n=sum(n_arm), time=x,
                                      note="not estimable: survival is 0 in an arm"))
    if horizon is not None:
        tau = _check_horizon(horizon, last, where, "horizon")
        rm = [rmst(t[m], e[m], weights=w[m] if weighted else None, horizon=tau, alpha=alpha)
              for m in arms]
        for i, r in enumerate(rm):
            est.append(EffectEstimate(**common, contrast=arm_labels[i], measure="rmst",
                                      value=r.value, ci_low=r.ci_low, ci_high=r.ci_high, se=r.se,
                                      variance=r.variance, n=n_arm[i], time=tau))
        d_ = rm[1].value - rm[0].value
        sd_ = math.sqrt(rm[0].se ** 2 + rm[1].se ** 2)
        est.append(EffectEstimate(**common, contrast=contrast, measure="rmst_diff", value=d_,
                                  ci_low=d_ - z * sd_, ci_high=d_ + z * sd_, se=sd_,
                                  p=2 * stats.norm.sf(abs(d_) / sd_) if sd_ > 0 else math.nan,
                                  variance=rm[0].variance, n=sum(n_arm), time=tau))

    # hazard ratio
    if method == "adjusted":
        xa = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X, float)
        xa = xa.reshape(t.size, -1)
        design = np.c_[a, xa]
        names = ["treatment", *(list(map(str, X.columns)) if isinstance(X, pd.DataFrame) else
                                [f"x{j + 1}" for j in range(xa.shape[1])])]
    else:
        design = a[:, None]
        names = ["treatment"]
    hr_w = w if weighted else None
    ph: dict = {}
    try:
        fit = cox_fit(t, e, design, weights=hr_w, names=names, alpha=alpha)
        est.append(EffectEstimate(**common, contrast=contrast, measure="hr",
                                  value=float(np.exp(fit.coef[0])),
                                  ci_low=float(np.exp(fit.ci_low[0])),
                                  ci_high=float(np.exp(fit.ci_high[0])),
                                  se=float(math.sqrt(fit.var[0, 0])), p=float(fit.p[0]),
                                  variance=fit.variance, n=fit.n, scale="log",
                                  extra={"ties": fit.ties, "n_event": fit.n_event}))
        zph = cox_zph(t, e, design, weights=hr_w, names=names)
        ph = {"chisq": float(zph.chisq[0]), "p": float(zph.p[0]), "global_p": zph.global_p,
              "transform": zph.transform}
        if zph.p[0] < alpha:
            note_warning(f"{where}: proportional hazards rejected for treatment in '{outcome}' "
                         f"(got cox.zph p = {zph.p[0]:.3g}). Report RMST or landmark survival "
                         f"alongside the hazard ratio.", ProportionalHazardsWarning)
    except ModelFitError as err:
        note_warning(str(err), SmallSampleWarning)
        est.append(EffectEstimate(**common, contrast=contrast, measure="hr", value=math.nan,
                                  variance="robust" if weighted else "model", n=int(t.size),
                                  scale="log", note="not estimable: " + str(err).split(": ", 1)[1]))

    lr_ = logrank_test(t, e, a, weights=hr_w)
    est.append(EffectEstimate(**common, contrast=contrast, measure="logrank_p", value=lr_.p,
                              p=lr_.p, variance="robust" if weighted else "model", n=lr_.n,
                              note="" if math.isfinite(lr_.p) else "not estimable: no events",
                              extra={"statistic": lr_.statistic, "df": lr_.df,
                                     "test": lr_.method}))
    return SurvivalComparison(outcome=outcome, estimand=estimand, method=method,
                              arm_labels=(str(arm_labels[0]), str(arm_labels[1])), curves=curves,
                              at_risk=at_risk, estimates=tuple(est), alpha=alpha,
                              warnings=tuple(warn_list), ph_test=ph)


# ----------------------------------------------------------------------------------------------------
# per-patient influence (for M-estimation with an estimated propensity score; gistcausal.inference.mestimation)
# ----------------------------------------------------------------------------------------------------
def km_influence(time: Any, event: Any, *, weights: Any = None, times: Any
                 ) -> tuple[np.ndarray, np.ndarray]:
    r"""Kaplan-Meier :math:`\hat S(t)` at ``times`` and each patient's infinitesimal-jackknife term.

    Parameters
    ----------
    time, event, weights
        As :func:`kaplan_meier`.
    times : array-like of float
        Times at which :math:`\hat S` is evaluated (right-continuous step function).

    Returns
    -------
    surv : ndarray, shape (m,)
        :math:`\hat S(t)` at ``times``.
    influence : ndarray, shape (n, m)
        :math:`D_i(t) = w_i\,\partial \hat S(t) / \partial w_i`, rows in the input order. Held by
        the caller only (patient level); never put it in a results object.

    Notes
    -----
    :math:`\partial \hat S(t)/\partial w_i = -\hat S(t) A_i(t)` with
    :math:`A_i(t) = \sum_{t_j \le t} \{dN_i(t_j) - Y_i(t_j) d_j/n_j\}/(n_j - d_j)`, the exact derivative
    of the product-limit estimator with respect to patient *i*'s weight. :math:`\sum_i D_i(t)^2` is
    the robust variance of :func:`kaplan_meier` (R ``survfit(..., robust = TRUE)``); the same terms,
    corrected for an estimated propensity score, give the M-estimation variance.
    """
    where = "km_influence"
    t, e, w = _check_inputs(time, event, weights, where)
    tt = np.atleast_1d(np.asarray(times, dtype=float))
    rt = _risk_table(t, e, w)
    surv = _km_surv(rt)
    c, g = _ij_pieces(rt)
    pos = np.searchsorted(rt.time, tt, side="right") - 1            # last distinct time <= t
    s_t = np.where(pos >= 0, surv[np.maximum(pos, 0)], 1.0)
    g_t = np.where(pos >= 0, g[np.maximum(pos, 0)], 0.0)
    k = rt.idx[:, None]
    a_sorted = np.where(k <= pos[None, :], c[:, None], -g_t[None, :])
    a_sorted = np.where(pos[None, :] >= 0, a_sorted, 0.0)
    infl = np.empty_like(a_sorted)
    infl[rt.order] = -(rt.w[:, None] * a_sorted) * s_t[None, :]
    return s_t, infl


def rmst_influence(time: Any, event: Any, *, weights: Any = None, horizon: float
                   ) -> tuple[float, np.ndarray]:
    r"""RMST up to ``horizon`` and each patient's infinitesimal-jackknife term.

    Returns
    -------
    value : float
        :math:`\int_0^\tau \hat S(t)\,dt`, as :func:`rmst`.
    influence : ndarray, shape (n,)
        :math:`D_i = w_i\,\partial\,\mathrm{RMST}/\partial w_i = -w_i \int_0^\tau \hat S(u) A_i(u)\,du`
        (input order); :math:`\sum_i D_i^2` is the robust variance of :func:`rmst`.

    See Also
    --------
    km_influence, rmst
    """
    where = "rmst_influence"
    t, e, w = _check_inputs(time, event, weights, where)
    rt = _risk_table(t, e, w)
    tau = _check_horizon(horizon, float(rt.time[-1]), where, "horizon")
    surv = _km_surv(rt)
    keep = rt.time <= tau
    tk = rt.time[keep]
    grid = np.append(np.append(0.0, tk), tau)
    rect = np.diff(grid) * np.append(1.0, surv[keep])
    value = float(rect.sum())
    c, g = _ij_pieces(rt)
    mk = tk.size
    infl = np.zeros(t.size)
    if mk == 0:
        return value, infl
    q_through = np.cumsum(rect[1:] * g[:mk])
    r_from = np.cumsum(rect[1:][::-1])[::-1]
    inside = rt.idx < mk
    ki = np.where(inside, rt.idx, 0)
    q_before = np.where(ki > 0, q_through[np.maximum(ki - 1, 0)], 0.0)
    integ = np.where(inside, -q_before + c * r_from[ki], -q_through[-1])
    infl[rt.order] = -rt.w * integ
    return value, infl
