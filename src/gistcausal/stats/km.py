"""Vectorized (weighted) Kaplan-Meier, restricted mean survival time and log-rank tests.

Every estimator here sorts the data once (one ``argsort``), collapses tied times with
``np.add.reduceat`` and obtains risk-set sums as reverse cumulative sums, so the cost is that of one
sort plus a few linear passes: ten million rows take a few seconds and memory is linear. Variances
that need per-patient influence functions (the infinitesimal-jackknife "robust" variance of a
weighted curve, the design-based weighted log-rank test) are also computed by cumulative sums, never
by loops over patients or over event times.

Conventions follow R's ``survival`` package (``survfit``, ``survdiff``, ``print.survfit``) and
``survey::svylogrank``; each is matched to 1e-6 by the reference tests in ``tests/reference/survival``.

Kernels. :func:`risk_table`, :func:`km_surv`, :func:`step_at`, :func:`rmst_area` and :func:`km_at` are
the unchecked fast path (arrays already validated, e.g. by
:func:`gistcausal._checks.check_survival_inputs`): :func:`kaplan_meier`, :func:`rmst`, the influence
functions and the bootstrap (:mod:`gistcausal.inference.bootstrap`) all compute the curve and its area
with them, so a replicate and the point estimate are the same arithmetic.

The Cox model lives in :mod:`gistcausal.stats.cox`; the two-arm comparison that combines both in
:func:`gistcausal.stats.comparison.compare_survival`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal._checks import check_alpha, check_survival_inputs
from gistcausal.effects import json_safe
from gistcausal.errors import DataError

Variance = Literal["auto", "greenwood", "robust", "none"]
ConfType = Literal["log", "log-log", "plain"]

_TOL = math.sqrt(np.finfo(float).eps)  # R's minmin() tolerance, .Machine$double.eps^0.5

# ----------------------------------------------------------------------------------------------------
# the one-sort risk table
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RiskTable:
    """Sorted data and per-unique-time sums (patient rows: kernels only, never in a result).

    Built by :func:`risk_table`; ``time`` holds the distinct times, the ``n_*`` arrays their weighted and
    raw (``*_raw``) counts, ``order``/``idx`` map sorted rows back to the input and to their time.
    """

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


def risk_table(t: np.ndarray, e: np.ndarray, w: np.ndarray) -> RiskTable:
    """The one sort: distinct times, weighted and raw numbers at risk, events and censorings.

    Unchecked fast path: ``t`` (>= 0), ``e`` (0/1) and ``w`` (>= 0) are float arrays of one length >= 1, as
    returned by :func:`gistcausal._checks.check_survival_inputs`. Risk sets are reverse cumulative sums
    over the distinct times, so the cost is one ``argsort`` plus linear passes. Input already in time order (a
    plasmode replicate's rows) is not sorted: ``order`` is then the identity and ``t``, ``e``, ``w`` are the
    input arrays themselves, not copies (issue 17; the same table).
    """
    if t.size < 2 or bool(np.all(t[1:] >= t[:-1])):
        order, ts, es, ws = np.arange(t.size), t, e, w
    else:
        order = np.argsort(t, kind="stable")
        ts, es, ws = t[order], e[order], w[order]
    first = np.empty(ts.size, dtype=bool)
    first[0] = True
    np.not_equal(ts[1:], ts[:-1], out=first[1:])
    start = np.flatnonzero(first)
    idx = np.cumsum(first) - 1
    n_event_raw = np.add.reduceat(es, start)
    n_tot_raw = np.diff(np.append(start, ts.size)).astype(float)
    n_risk_raw = np.cumsum(n_tot_raw[::-1])[::-1]
    if np.all(ws == 1.0):
        # unit weights: the weighted sums are the counts (the same values; three passes fewer)
        n_event, n_tot, n_risk = n_event_raw, n_tot_raw, n_risk_raw
    else:
        n_event = np.add.reduceat(ws * es, start)
        n_tot = np.add.reduceat(ws, start)
        n_risk = np.cumsum(n_tot[::-1])[::-1]
    return RiskTable(order=order, time=ts[start], idx=idx, t=ts, e=es, w=ws, n_risk=n_risk,
                     n_event=n_event, n_censor=n_tot - n_event, n_risk_raw=n_risk_raw,
                     n_event_raw=n_event_raw, n_censor_raw=n_tot_raw - n_event_raw)


def km_surv(rt: RiskTable) -> np.ndarray:
    r"""Product-limit :math:`\hat S(t_j) = \prod_{k \le j} (1 - d_k / n_k)` at the distinct times of ``rt``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(rt.n_risk > 0, rt.n_event / rt.n_risk, 0.0)
    return np.cumprod(1.0 - h)


def step_at(time: np.ndarray, values: np.ndarray, t: Any, before: float) -> np.ndarray:
    """Right-continuous step function through ``values`` at the distinct ``time``, evaluated at ``t``.

    ``before`` is its value before the first time (1 for a survival curve, 0 for its SE); after the last
    time it stays at the last value (R ``summary(survfit, times, extend = TRUE)``).
    """
    tt = np.atleast_1d(np.asarray(t, dtype=float))
    pos = np.searchsorted(time, tt, side="right") - 1
    return np.where(pos >= 0, values[np.maximum(pos, 0)], before)


def rmst_area(time: np.ndarray, surv: np.ndarray, tau: float) -> tuple[float, np.ndarray]:
    r"""Area :math:`\int_0^\tau \hat S(t)\,dt` under a step curve, and its rectangles.

    Returns ``(value, rect)``: ``rect[0]`` is the rectangle on :math:`[0, t_1)` (height 1) and
    ``rect[m]`` the one from the m-th distinct time :math:`\le \tau` to the next breakpoint (or
    :math:`\tau`), so ``rect.size - 1`` distinct times lie in :math:`[0, \tau]`.
    """
    keep = time <= tau
    grid = np.append(np.append(0.0, time[keep]), tau)          # breakpoints
    rect = np.diff(grid) * np.append(1.0, surv[keep])          # S on [grid[i], grid[i+1])
    return float(rect.sum()), rect


class KMAt(NamedTuple):
    """What :func:`km_at` returns: S at the requested times, the RMST, and the last observed time."""

    surv: np.ndarray
    rmst: float
    last: float


def km_at(t: np.ndarray, e: np.ndarray, w: np.ndarray, times: Any, horizon: float | None) -> KMAt:
    r"""Kaplan-Meier :math:`\hat S` at ``times`` and the RMST to ``horizon`` (NaN when None): the kernel.

    Unchecked fast path (inputs as :func:`risk_table`); ``times`` and ``horizon`` may lie beyond the last
    observed time ``last``, where the curve is carried forward (:func:`step_at`). The same arithmetic as
    :func:`kaplan_meier` and :func:`rmst` (which call the same :func:`risk_table`, :func:`km_surv` and
    :func:`rmst_area`); the bootstrap calls it once per arm and replicate.
    """
    rt = risk_table(t, e, w)
    surv = km_surv(rt)
    value = math.nan if horizon is None else rmst_area(rt.time, surv, horizon)[0]
    return KMAt(surv=step_at(rt.time, surv, times, 1.0), rmst=value, last=float(rt.time[-1]))


def _greenwood_term(n_risk: np.ndarray, n_event: np.ndarray) -> np.ndarray:
    """d / (n (n - d)), and 0 where n == d, as R's survfit and print.survfit (rmean) do."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_risk - n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)


def _ij_pieces(rt: RiskTable) -> tuple[np.ndarray, np.ndarray]:
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


def _ij_var_log_surv(rt: RiskTable) -> np.ndarray:
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

    def survival_at(self, t: Any) -> np.ndarray:
        """S(t) as a right-continuous step function (1 before the first time)."""
        return step_at(self.time, self.surv, t, 1.0)

    def std_err_at(self, t: Any) -> np.ndarray:
        """SE of S(t) at arbitrary times (0 before the first time)."""
        return step_at(self.time, self.std_err, t, 0.0)

    def ci_at(self, t: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise limits of S(t) at arbitrary times (1 before the first time)."""
        return step_at(self.time, self.ci_low, t, 1.0), step_at(self.time, self.ci_high, t, 1.0)

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
    t, e, w = check_survival_inputs(time, event, weights, where, entry)
    alpha = check_alpha(alpha, where)
    if conf_type not in ("log", "log-log", "plain"):
        raise DataError(f"{where}: `conf_type` must be one of 'log', 'log-log', 'plain' (got "
                        f"{conf_type!r}). Use 'log', R's default.")
    var = _resolve_variance(variance, weights is not None, where)
    return km_from_risk_table(risk_table(t, e, w), variance=var, conf_type=conf_type, alpha=alpha,
                              weighted=weights is not None)


def km_from_risk_table(rt: RiskTable, *, variance: str, conf_type: str, alpha: float,
                       weighted: bool) -> KaplanMeier:
    """:func:`kaplan_meier` from a :func:`risk_table` the caller already has (unchecked fast path).

    ``variance`` is resolved ("greenwood", "robust" or "none"), ``conf_type`` and ``alpha`` checked;
    :func:`gistcausal.stats.comparison.compare_survival` passes the same table on to
    :func:`rmst_from_risk_table` instead of sorting an arm twice. Same arithmetic as :func:`kaplan_meier`,
    which calls it.
    """
    var = variance
    surv = km_surv(rt)
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
                       weighted=weighted)


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


def check_horizon(horizon: Any, last: float, where: str, key: str) -> float:
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


def _rmst_ij(rt: RiskTable, rect: np.ndarray) -> np.ndarray:
    r"""Per sorted patient :math:`\int_0^\tau \hat S(u) A_i(u)\,du` (``A_i`` as in :func:`_ij_pieces`).

    ``A_i`` is piecewise constant: :math:`-G` on the intervals before the patient's time :math:`t_{k_i}`,
    then :math:`c_i`; the integrals for all patients come from two cumulative sums over the rectangles of
    :func:`rmst_area`.
    """
    mk = rect.size - 1
    if mk == 0:
        return np.zeros(rt.t.size)
    c, g = _ij_pieces(rt)
    # Q(m) = int_0^{t_m + } S G: cumulative area of S*G over the intervals starting at t_1..t_m
    q_through = np.cumsum(rect[1:] * g[:mk])                    # through interval m inclusive
    r_from = np.cumsum(rect[1:][::-1])[::-1]                    # area from t_m to tau
    inside = rt.idx < mk
    ki = np.where(inside, rt.idx, 0)
    q_before = np.where(ki > 0, q_through[np.maximum(ki - 1, 0)], 0.0)
    return np.where(inside, -q_before + c * r_from[ki], -q_through[-1])


def _rmst_core(rt: RiskTable, surv: np.ndarray, tau: float, var: str
               ) -> tuple[float, float]:
    """Area under S on [0, tau] and its variance (Greenwood as R print.survfit, or IJ)."""
    value, rect = rmst_area(rt.time, surv, tau)
    if var == "none":
        return value, math.nan
    if var == "greenwood":
        # R survmean: varmean = sum(cumsum(rev(rectangles[-1]))^2 * rev(hh)[-1]), hh = d/(n(n-d))
        hh = _greenwood_term(rt.n_risk, rt.n_event)[rt.time <= tau]
        after = np.cumsum(rect[1:][::-1])[::-1]                 # area after t_j up to tau
        return value, float(np.sum(after ** 2 * hh))
    # IJ: U_i = -int_0^tau S(u) A_i(u) du
    u = -_rmst_ij(rt, rect)
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
    t, e, w = check_survival_inputs(time, event, weights, where)
    alpha = check_alpha(alpha, where)
    var = _resolve_variance(variance, weights is not None, where)
    rt = risk_table(t, e, w)
    tau = check_horizon(horizon, float(rt.time[-1]), where, "horizon")
    return rmst_from_risk_table(rt, horizon=tau, variance=var, alpha=alpha)


def rmst_from_risk_table(rt: RiskTable, *, horizon: float, variance: str, alpha: float,
                         surv: np.ndarray | None = None) -> RMSTResult:
    """:func:`rmst` from a :func:`risk_table` the caller already has (unchecked fast path).

    ``horizon`` is checked (<= the last time of ``rt``), ``variance`` resolved, ``alpha`` checked. ``surv``
    is :func:`km_surv` of ``rt`` when the caller already has it (``KaplanMeier.surv`` of
    :func:`km_from_risk_table` on the same table). Same arithmetic as :func:`rmst`, which calls it.
    """
    value, v = _rmst_core(rt, km_surv(rt) if surv is None else surv, horizon, variance)
    se = math.sqrt(v) if math.isfinite(v) else math.nan
    z = stats.norm.ppf(1 - alpha / 2)
    return RMSTResult(value=value, se=se, ci_low=float(value - z * se), ci_high=float(value + z * se),
                      horizon=horizon, variance=variance, alpha=alpha, n=int(rt.t.size))


# ----------------------------------------------------------------------------------------------------
# log-rank tests
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LogRankResult:
    r"""Log-rank test of equal survival across groups.

    ``statistic`` is the chi-square on ``df`` degrees of freedom. With two groups, ``score`` is the log-rank
    score of the second group (weighted: the total :math:`T = \sum_i w_i U_i`; unweighted: :math:`O - E`),
    ``se`` its standard error and ``z = score / se``, so that ``z**2 == statistic`` (as
    ``survey::svylogrank`` prints them); NaN with more than two groups.
    """

    statistic: float
    df: int
    p: float
    method: str
    groups: tuple[str, ...]
    observed: tuple[float, ...] = ()
    expected: tuple[float, ...] = ()
    n: int = 0
    score: float = math.nan
    se: float = math.nan
    z: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "df": self.df, "p": self.p, "method": self.method,
                "groups": list(self.groups), "observed": list(self.observed),
                "expected": list(self.expected), "n": self.n, "score": json_safe(self.score),
                "se": json_safe(self.se), "z": json_safe(self.z)}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"statistic": self.statistic, "df": self.df, "p": self.p, "score": self.score,
                              "se": self.se, "z": self.z, "method": self.method, "n": self.n}])

    def summary(self) -> str:
        zs = "" if not math.isfinite(self.z) else f"score {self.score:.4g} (SE {self.se:.4g}), z = {self.z:.4g}; "
        return (f"{self.method}: {zs}chi-square {self.statistic:.4g} on {self.df} df, p = {self.p:.3g} "
                f"(groups {', '.join(self.groups)})")


def _group_codes(group: Any, n: int, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    g = np.asarray(group)
    if g.ndim != 1 or g.size != n:
        raise DataError(f"{where}: `group` must have one value per patient (got shape {g.shape} for "
                        f"{n} times). Pass arrays of equal length.")
    if pd.isna(g).any():
        raise DataError(f"{where}: `group` has missing values (got {int(pd.isna(g).sum())}). Drop "
                        f"or assign these rows.")
    if g.size and ((g.dtype.kind in "biu" and g.min() >= 0 and g.max() <= 1)
                   or (g.dtype.kind == "f" and bool(np.all((g == 0.0) | (g == 1.0))))):
        # 0/1 treatment codes (the common case, as integers or as floats read from a file): no sort needed,
        # unlike np.unique (which sorts all n values: at 1e7 rows as long as the risk table's own sort)
        present = np.bincount(g.astype(np.intp), minlength=2) > 0
        both = {"b": np.array([False, True]), "f": np.array([0.0, 1.0])}.get(g.dtype.kind, np.array([0, 1]))
        levels = both[present]
        codes = g.astype(np.intp) if present.all() else np.zeros(g.size, dtype=np.intp)
    else:
        levels, codes = np.unique(g, return_inverse=True)
    if levels.size < 2:
        raise DataError(f"{where}: `group` needs at least 2 groups (got {levels.size}: "
                        f"{[str(v) for v in levels]}). Check that both arms have patients.")
    return codes, tuple(str(v) for v in levels)


def _efron_null_pieces(rt: RiskTable, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    t, e, w = check_survival_inputs(time, event, weights, where)
    check_alpha(alpha, where)
    codes, levels = _group_codes(group, t.size, where)
    k = len(levels)
    if weights is None:
        rt = risk_table(t, e, w)
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
        rt = risk_table(t, e, w)
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
    score = se = z = math.nan
    if k == 2 and math.isfinite(stat):
        score, se = float(oe[0]), float(math.sqrt(vv[0, 0]))
        z = score / se
    return LogRankResult(statistic=stat, df=df, p=float(stats.chi2.sf(stat, df)), method=method,
                         groups=levels, observed=tuple(float(x) for x in obs),
                         expected=tuple(float(x) for x in exp), n=n_used, score=score, se=se, z=z)



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
    t, e, w = check_survival_inputs(time, event, weights, where)
    tt = np.atleast_1d(np.asarray(times, dtype=float))
    rt = risk_table(t, e, w)
    surv = km_surv(rt)
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
    t, e, w = check_survival_inputs(time, event, weights, where)
    rt = risk_table(t, e, w)
    tau = check_horizon(horizon, float(rt.time[-1]), where, "horizon")
    value, rect = rmst_area(rt.time, km_surv(rt), tau)
    integ = _rmst_ij(rt, rect)
    infl = np.empty(t.size)
    infl[rt.order] = -rt.w * integ
    return value, infl
