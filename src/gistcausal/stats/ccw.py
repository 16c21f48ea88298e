r"""Clone-censor-weight (CCW) emulation of sustained treatment strategies with a grace period.

Target trial: at time zero (e.g. progression on first-line therapy) patients are eligible for two
strategies, each "start treatment *A* within *G* time units and no other treatment before it", e.g.
"escalate the dose of the current drug within G weeks" vs "switch to drug B within G weeks". In
observational data a patient who has not yet started anything is compatible with both strategies, so
assigning patients by the treatment they eventually start creates immortal time. CCW avoids it:

1. **Clone** every eligible patient into each strategy at time zero.
2. **Censor** a clone when its patient deviates from the strategy: at the start of any other treatment
   within the grace period (*switch*), or at *G* if the strategy's treatment has not started by then
   (*grace*). Outcome events before any deviation count in every arm.
3. **Weight** the uncensored clones by the inverse probability of remaining uncensored, because both
   censoring processes depend on prognosis (confounding by indication of the initiation timing).
4. Compare **weighted Kaplan-Meier** curves: survival differences at landmarks, RMST difference; intervals
   from a bootstrap over patients (both clones of a patient resampled together).

Censoring model (per strategy; documented choice)
-------------------------------------------------
*Switch* censoring: a Cox model (Breslow ties) for the time from time zero to the start of a treatment
that is not the strategy's, among patients who have not started any treatment, censored at the start of
the strategy's own treatment, at the outcome and at *G*; baseline covariates :math:`x`. With Breslow
baseline hazard :math:`\hat\Lambda_0` and :math:`r_i = \exp(x_i^\top\hat\beta)` the switch weight is

.. math:: W^{s}_i(t) = \exp\{r_i\,\hat\Lambda_0(\min(t, u_i)-)\},\qquad t \le G,

where :math:`u_i` is the start of the strategy's own treatment (infinite if none): once a patient follows
the strategy the switch hazard no longer applies, so the weight is frozen.

*Grace* censoring at *G*: a weighted logistic regression, among clones still uncensored and event-free
just after *G*, of having started the strategy's treatment by *G* on :math:`x`, with weights
:math:`W^s_i(G)`; :math:`\hat p_i` its fitted probability. After *G* only compliers remain, with weight

.. math:: W_i(t) = W^{s}_i(G) / \hat p_i,\qquad t > G.

The estimand is survival under the strategy "within the grace period do not start another treatment,
start the strategy's treatment at the time it would naturally start, and at *G* at the latest" (the
initiation distribution within the grace period is the observed one; Hernan 2016, 2018). The post-*G*
reweighting assumes that, given :math:`x`, survivors at *G* who started late would have the hazard of
those who started earlier (a Markov assumption on time since initiation), and no unmeasured confounding
of the initiation timing.

Weighted product-limit with time-varying weights
------------------------------------------------
:func:`gistcausal.stats.km.kaplan_meier` takes one weight per patient, so the curve is computed here:
:math:`\hat S(t) = \prod_{t_j \le t}(1 - D_j/N_j)` with :math:`N_j = \sum_i Y_i(t_j) W_i(t_j-)` and
:math:`D_j = \sum_i dN_i(t_j) W_i(t_j-)`, evaluated for all clones and event times at once (chunked array
operations). :func:`weighted_product_limit` is the same estimator for a counting-process ``(start, stop]``
layout; both are checked against R ``survfit(Surv(start, stop, event) ~ 1, weights = w)`` on the split data
of an independent R implementation (``tests/reference/ccw/make_ccw.R``).

References
----------
Hernan MA, Robins JM (2016). Using big data to emulate a target trial when a randomized trial is not
available. Am J Epidemiol 183:758-764.
Hernan MA (2018). How to estimate the effect of treatment duration on survival outcomes using
observational data. BMJ 360:k182.
Cain LE, Robins JM, Lanoy E, Logan R, Costagliola D, Hernan MA (2010). When to start treatment? A
systematic approach to the comparison of dynamic regimes using observational data. Int J Biostat 6:18.
Maringe C, Benitez Majano S, Exarchakou A, et al. (2020). Reflection on modern methods: trial emulation in
the presence of immortal-time bias. Assessing the benefit of major surgery for elderly lung cancer patients
using observational data. Int J Epidemiol 49:1719-1729.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from gistcausal.stats.cox import cox_coef
from gistcausal.stats.logistic import log1pexp, quadratic_stop
from gistcausal.effects import json_safe, EstimatesMixin, EffectEstimate, estimates_frame
from gistcausal.engine import Engine, one_blas_thread, open_executor
from gistcausal.errors import ConvergenceWarning, DataError, ModelFitError

Weighting = Literal["ipcw", "none"]


# ------------------------------------------------------------------------------------------- result
@dataclass(frozen=True, slots=True)
class CCWResult(EstimatesMixin):
    """Clone-censor-weight comparison of two strategies (aggregates only).

    Attributes
    ----------
    curves : DataFrame
        ``strategy, time, surv, n_risk, n_risk_weighted, n_event_weighted`` at each event time.
    estimates : tuple of EffectEstimate
        Per-strategy ``surv`` at landmarks and ``rmst``; ``surv_diff`` and ``rmst_diff`` (first strategy
        minus second), ``method="ccw"``, ``variance="bootstrap_percentile"``.
    diagnostics : DataFrame
        Per strategy: clones, compliers, switch- and grace-censored clones, events before *G*, weights.
    grace : float
    strategies : tuple of str
    n : int
        Patients (each cloned once per strategy).
    n_bootstrap : int
        Successful bootstrap replicates.
    weighting : str
    warnings : tuple of str
    """

    curves: pd.DataFrame
    estimates: tuple[EffectEstimate, ...]
    diagnostics: pd.DataFrame
    grace: float
    strategies: tuple[str, str]
    n: int
    n_bootstrap: int
    weighting: str
    alpha: float
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        lvl = round(100 * (1 - self.alpha))
        a, b = self.strategies
        lines = [f"Clone-censor-weight: {a} vs {b}, grace period {self.grace:g}; n = {self.n} patients, "
                 f"{self.n_bootstrap} bootstrap replicates ({lvl}% percentile intervals); weighting: "
                 f"{self.weighting}"]
        lines += ["  " + e.summary() for e in self.estimates]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "ccw", "strategies": list(self.strategies), "grace": self.grace, "n": self.n,
                "n_bootstrap": self.n_bootstrap, "weighting": self.weighting, "alpha": self.alpha,
                "estimates": [e.to_dict() for e in self.estimates],
                "diagnostics": [{k: json_safe(v) for k, v in r.items()}
                                for r in self.diagnostics.to_dict(orient="records")],
                "curves": {s: {c: [json_safe(float(v)) for v in g[c]] for c in ("time", "surv", "n_risk")}
                           for s, g in self.curves.groupby("strategy", sort=False)},
                "warnings": list(self.warnings)}


# ------------------------------------------------------------------------------------------- primitives
def weighted_product_limit(start: Any, stop: Any, event: Any, weights: Any) -> pd.DataFrame:
    r"""Weighted product-limit estimate for a counting-process ``(start, stop]`` layout.

    Parameters
    ----------
    start, stop : array-like of float
        Interval of each row, ``0 <= start < stop``; a subject may have several rows (time-varying weights).
    event : array-like of {0, 1}
        Event at ``stop``.
    weights : array-like of float
        Non-negative weight of the row, constant on its interval.

    Returns
    -------
    DataFrame
        ``time`` (distinct event times), ``n_risk`` (weighted), ``n_event`` (weighted), ``surv``.

    Notes
    -----
    :math:`N_j = \sum_{r: start_r < t_j \le stop_r} w_r`, obtained as
    :math:`\sum_{stop_r \ge t_j} w_r - \sum_{start_r \ge t_j} w_r` from two sorted cumulative sums;
    :math:`\hat S(t) = \prod_{t_j \le t} (1 - D_j / N_j)`. Matches R
    ``survfit(Surv(start, stop, event) ~ 1, weights = w)``.
    """
    where = "weighted_product_limit"
    s0 = np.asarray(start, dtype=float)
    s1 = np.asarray(stop, dtype=float)
    e = np.asarray(event, dtype=float)
    w = np.asarray(weights, dtype=float)
    if not (s0.shape == s1.shape == e.shape == w.shape and s0.ndim == 1):
        raise DataError(f"{where}: start, stop, event and weights must be 1-D of equal length (got shapes "
                        f"{s0.shape}, {s1.shape}, {e.shape}, {w.shape}). Pass one value per row.")
    bad = int((~(s1 > s0)).sum() + (~np.isfinite(w)).sum() + (w < 0).sum() + (s0 < 0).sum())
    if bad:
        raise DataError(f"{where}: rows need 0 <= start < stop and finite weights >= 0 (got {bad} bad values). "
                        "Fix the split data.")
    t = np.unique(s1[e > 0])
    return _product_limit(t, s0, s1, e, w)


def _product_limit(t: np.ndarray, s0: np.ndarray, s1: np.ndarray, e: np.ndarray, w: np.ndarray) -> pd.DataFrame:
    o1 = np.argsort(s1)
    c1 = np.concatenate([[0.0], np.cumsum(w[o1])])
    o0 = np.argsort(s0)
    c0 = np.concatenate([[0.0], np.cumsum(w[o0])])
    at1 = c1[-1] - c1[np.searchsorted(s1[o1], t, side="left")]
    at0 = c0[-1] - c0[np.searchsorted(s0[o0], t, side="left")]
    n_risk = at1 - at0
    ev = e > 0
    d = np.bincount(np.searchsorted(t, s1[ev]), weights=w[ev], minlength=t.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - np.where(n_risk > 0, d / n_risk, 0.0))
    return pd.DataFrame({"time": t, "n_risk": n_risk, "n_event": d, "surv": surv})


def _logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, where: str, max_iter: int = 50,
              beta0: np.ndarray | None = None) -> np.ndarray:
    """Weighted logistic regression by Newton-Raphson with step-halving (intercept in X).

    ``beta0`` starts the iteration (default 0): a bootstrap replicate starts from the full-data fit; the
    log-likelihood is concave, so the same maximum is reached to the stopping rule's precision.
    """
    beta = np.zeros(X.shape[1]) if beta0 is None else np.array(beta0, dtype=float)

    def loglik(eta: np.ndarray) -> float:
        return float(np.sum(w * (y * eta - log1pexp(eta))))

    eta = X @ beta
    ll = loglik(eta)
    previous = 0.0   # the last full Newton step's size (0: none, or it was halved)
    for _ in range(max_iter):
        p = expit(eta)
        grad = X.T @ (w * (y - p))
        info = (X * (w * p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError as err:
            raise ModelFitError(f"{where}: the compliance model's information matrix is singular (got "
                                f"{X.shape[1]} terms). Remove collinear covariates.") from err
        new = beta + step
        new_eta = X @ new
        new_ll = loglik(new_eta)
        k = 0
        while new_ll < ll - 1e-12 * abs(ll) and k < 30:
            new = (new + beta) / 2
            new_eta = X @ new
            new_ll = loglik(new_eta)
            k += 1
        size = float(np.max(np.abs(new - beta)))
        # the step's size below 1e-8, or the next full step predicted far below it (quadratic_stop; not after a
        # halving, where the step is not Newton's)
        done = abs(new_ll - ll) < 1e-10 * (abs(ll) + 1e-10) and quadratic_stop(size, previous, 1e-8)
        previous = size if k == 0 else 0.0
        beta, ll, eta = new, new_ll, new_eta
        if done:
            return beta
    raise ModelFitError(f"{where}: the compliance model did not converge in {max_iter} iterations (got "
                        "separation: some covariate pattern always or never starts the strategy). Use fewer "
                        "covariates or a longer grace period.")


def _encode(df: pd.DataFrame, covariates: list[str], where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    if not covariates:
        return np.zeros((len(df), 0)), ()
    missing = [c for c in covariates if c not in df.columns]
    if missing:
        raise DataError(f"{where}: covariate column(s) {missing} not found. Fix `covariates`.")
    sub = df[covariates]
    n_miss = int(sub.isna().sum().sum())
    if n_miss:
        raise DataError(f"{where}: covariates have {n_miss} missing value(s). Impute or drop these patients "
                        "before the clone-censor-weight analysis.")
    X = pd.get_dummies(sub, drop_first=True, dtype=float)
    return X.to_numpy(dtype=float), tuple(str(c) for c in X.columns)


# ------------------------------------------------------------------------------------------- one strategy
@dataclass(frozen=True, slots=True)
class _Diagnostics:
    """One strategy's clone counts and weights on the data (:class:`CCWResult` ``diagnostics``)."""

    n_compliers: int
    n_switch: int
    n_grace: int
    n_events_grace: int
    max_weight: float
    ess_after_grace: float


@dataclass(frozen=True, slots=True)
class _Arm:
    """One strategy's clones and weights (internal; patient rows never leave this module).

    ``diagnostics`` is None for a bootstrap resample (never reported).
    """

    curve: pd.DataFrame
    start: "_Start"
    diagnostics: _Diagnostics | None = None


@dataclass(frozen=True, slots=True)
class _Start:
    """A strategy's fitted censoring models: the bootstrap replicates' Newton-Raphson starts (coefficients only).

    ``*_keep`` are the covariate columns each model used (a replicate where a column is constant uses fewer
    and starts from 0).
    """

    switch_keep: np.ndarray | None = None
    switch_coef: np.ndarray | None = None
    grace_keep: np.ndarray | None = None
    grace_coef: np.ndarray | None = None

    def switch_beta0(self, keep: np.ndarray) -> np.ndarray | None:
        ok = self.switch_keep is not None and np.array_equal(self.switch_keep, keep)
        return self.switch_coef if ok else None

    def grace_beta0(self, keep: np.ndarray) -> np.ndarray | None:
        ok = self.grace_keep is not None and np.array_equal(self.grace_keep, keep)
        return self.grace_coef if ok else None


@dataclass(frozen=True, slots=True)
class _Shared:
    r"""What both strategies' clones share within one (re)sample: the switch model's time scale
    :math:`\min(u, T, G)` (the same for both strategies, only its event differs), its stable sort order, the
    sort order of the outcome times, and the non-constant covariate columns. One sort each instead of one
    per strategy (internal; patient rows).

    ``c`` is each row's multiplicity in a bootstrap resample (None: every row once): a patient drawn
    :math:`c_i` times enters every sum with weight :math:`c_i`, which is the same estimator as :math:`c_i`
    copies of the row (every statistic here is a sum over clones), on the distinct patients only.
    """

    t_sw: np.ndarray
    o_sw: np.ndarray | slice
    o_T: np.ndarray
    x_keep: np.ndarray
    c: np.ndarray | None = None

    @classmethod
    def of(cls, T: np.ndarray, u: np.ndarray, X: np.ndarray, grace: float,
           counts: np.ndarray | None = None, o_T: np.ndarray | None = None) -> "_Shared":
        """``o_sw`` is ``slice(None)`` when the rows already are in switch-time order (the rows of
        :func:`_time_order` and their ascending resamples): no sort and no copies. ``o_T`` is the stable
        order of ``T`` when the caller has it."""
        t_sw = np.minimum(np.minimum(u, T), grace)
        o_sw = slice(None) if bool(np.all(t_sw[1:] >= t_sw[:-1])) else np.argsort(t_sw, kind="stable")
        return cls(t_sw=t_sw, o_sw=o_sw, o_T=np.argsort(T, kind="stable") if o_T is None else o_T,
                   x_keep=_varies(X), c=None if counts is None else np.asarray(counts, dtype=float))


def _varies(X: np.ndarray) -> np.ndarray:
    """Columns of ``X`` that are not constant (``np.ptp(X, axis=0) > 0``, without its slow column reduction)."""
    if not X.shape[0]:
        return np.zeros(X.shape[1], bool)
    return np.array([bool((X[:, j] != X[0, j]).any()) for j in range(X.shape[1])], dtype=bool)


def _pre_grace_sums(pre: np.ndarray, stop: np.ndarray, r: np.ndarray, u: np.ndarray, event: np.ndarray,
                    lam_left: Any, ipcw: bool, lam_u: np.ndarray | None = None,
                    counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Weighted and raw numbers at risk and weighted events at the event times ``pre`` within the grace period.

    A clone at risk at :math:`t_j` (stop :math:`\ge t_j`) weighs :math:`\exp\{r_i \Lambda_0(\min(t_j, u_i)-)\}`:
    frozen at :math:`f_i = \exp\{r_i \Lambda_0(u_i-)\}` once it started the strategy (:math:`u_i < t_j`), else
    :math:`\exp\{r_i L_j\}` with :math:`L_j = \Lambda_0(t_j-)`. The frozen part is an interval sum over
    :math:`j` (difference array); the other, :math:`\sum_{i: J_i > j} \exp(r_i L_j)` with :math:`J_i` = the
    number of :math:`t_j \le \min(s_i, u_i)`, is a sum of suffix sums by :func:`_unfrozen_series`. Cost
    O(n log m + n K), K about 20 series terms, instead of a clone x time matrix.

    ``lam_u`` is :math:`\Lambda_0(u_i-)` where :math:`u_i` is finite, when the caller has it. ``counts``
    (default 1) multiplies each clone's contribution to all three sums: the clone's multiplicity in a bootstrap
    resample, equal to that many copies of it.
    """
    m = pre.size
    fin = np.isfinite(u)
    if lam_u is None:
        lam_u = np.zeros(u.size)      # used only where u is finite
        lam_u[fin] = lam_left(u[fin])
    lo = np.full(u.size, m)
    lo[fin] = np.searchsorted(pre, u[fin], side="right")  # first j with t_j > u_i
    hi = np.searchsorted(pre, stop, side="right")         # first j with t_j > s_i
    started = lo < hi
    f = np.exp(r[started] * lam_u[started]) if ipcw else np.ones(int(started.sum()))
    if counts is not None:
        f = f * counts[started]
    frozen = np.cumsum(np.bincount(lo[started], weights=f, minlength=m + 1)
                       - np.bincount(hi[started], weights=f, minlength=m + 1))[:m]
    J = np.minimum(lo, hi)                                # t_j <= min(s_i, u_i) for j < J_i
    L = lam_left(pre) if ipcw else np.zeros(m)
    unfrozen = _unfrozen_series(J, r if ipcw else np.ones(stop.size), L, counts)
    # at risk at t_j: s_i >= t_j, i.e. j < hi_i
    n_raw = _suffix_counts(hi, m, counts)[1:].astype(float)
    ev = (event > 0) & (stop <= pre[-1])
    je = np.searchsorted(pre, stop[ev], side="left")
    hit = pre[np.minimum(je, m - 1)] == stop[ev]
    je, ue, re_ = je[hit], u[ev][hit], r[ev][hit]
    lam_e = np.where(ue < pre[je], lam_u[ev][hit], L[je])
    w_e = np.exp(re_ * lam_e) if ipcw else np.ones(je.size)
    if counts is not None:
        w_e = w_e * counts[ev][hit]
    n_ev = np.bincount(je, weights=w_e, minlength=m)
    return frozen + unfrozen, n_raw, n_ev


def _suffix_counts(k: np.ndarray, m: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``out[j] = sum of weights over k_i >= j``, j = 0..m, for integer ``k`` in [0, m]."""
    return np.cumsum(np.bincount(k, weights=weights, minlength=m + 1)[::-1])[::-1]


#: Series terms are added until x^K / K! falls below this, x = max r_i (L_j - L_a) in a block: the relative
#: truncation error of every exp(r_i L_j) is then below it (Lagrange remainder), under double precision.
_SERIES_TOL = 1e-17
#: Largest max_i r_i (L_j - L_a) within one block: about 25 terms; a larger spread starts a new block.
_SERIES_SPAN = 2.0


def _unfrozen_series(J: np.ndarray, r: np.ndarray, L: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    r""":math:`U_j = \sum_{i: J_i > j} w_i \exp(r_i L_j)`, j < m, for :math:`r_i > 0`, non-decreasing :math:`L \ge 0`
    and weights :math:`w_i \ge 0` (default 1; a bootstrap multiplicity).

    Splitting :math:`j` into blocks :math:`[a, b)` where :math:`c (L_j - L_a) \le 2` (:math:`c = \max r_i`),

    .. math:: U_j = \sum_{k \ge 0} \frac{\{c (L_j - L_a)\}^k}{k!} \sum_{i: J_i > j} w_i e^{r_i L_a} (r_i / c)^k,

    each inner sum a suffix sum over :math:`J`: with the clones sorted by decreasing :math:`J` (once per
    block), a prefix sum read at the last clone with :math:`J_i > j`. All terms are positive, so
    the series is summed without cancellation; it stops at the first :math:`K` with :math:`x^K/K! \le 10^{-17}`,
    :math:`x` the block's largest :math:`c (L_j - L_a)`. Cost O(n K) per block instead of one pass over the
    clones per distinct :math:`L_j` (the earlier loop, kept in tests/stats/test_ccw.py as the reference).

    When ``J`` is non-decreasing (the clones in switch-time order, as :func:`clone_censor_weight` and its
    replicates hold them: :math:`J_i` counts the event times up to :math:`\min(u, T, G)`), the clones already
    are grouped by :math:`J`: no sort and no gathers; each group is summed in the same row order as after the
    stable sort, so the sums are the same.
    """
    m = L.size
    out = np.zeros(m)
    mono = bool(np.all(J[1:] >= J[:-1]))
    if mono:                                                # the live rows (J > 0) are a suffix: views
        i0 = int(np.searchsorted(J, 0, side="right"))
        J, r = J[i0:], r[i0:]
        wl = None if weights is None else weights[i0:]
    else:
        live = J > 0
        J, r = J[live], r[live]
        wl = None if weights is None else weights[live]
    if m == 0 or not J.size:
        return out
    c = float(r.max()) or 1.0                               # all r_i = 0 (underflow): every term is 1
    a = 0
    while a < m:
        b = min(m, max(a + 1, int(np.searchsorted(L, L[a] + _SERIES_SPAN / c, side="right"))))
        if mono:
            rows = slice(int(np.searchsorted(J, a, side="right")), None)
            if rows.start == J.size:
                break                                       # no clone at risk from t_a on
        else:
            rows = slice(None) if a == 0 else J > a         # J > 0 holds for every live row
            if a and not rows.any():
                break
        jc = np.minimum(J[rows], b) - a - 1                 # J_i > j  <=>  jc_i >= j - a, for a <= j < b
        size = np.bincount(jc, minlength=b - a)[::-1]        # rows per jc, jc decreasing
        last = np.cumsum(size > 0)[::-1] - 1                 # per jc: the last group with jc' >= jc; -1: none
        if mono:
            # rows grouped by increasing jc already: each term is summed per group (reduceat) and the groups
            # are read backwards
            asc = size[::-1]
            first = (np.cumsum(asc) - asc)[asc > 0]
            ra, wa = r[rows], None if wl is None else wl[rows]
        else:
            # rows grouped by decreasing jc (a radix sort of small integers): each term is summed per group
            # (reduceat), and the suffix sums over jc >= j - a are prefix sums over the groups
            desc = np.argsort((b - a - 1 - jc).astype(np.int16 if b - a < 2 ** 15 else np.int64), kind="stable")
            first = (np.cumsum(size) - size)[size > 0]
            ra, wa = r[rows][desc], None if wl is None else wl[rows][desc]
        x = c * (L[a:b] - L[a])
        term = np.exp(ra * L[a])
        if wa is not None:
            term *= wa
        rho = ra / c
        coef = np.ones(b - a)
        acc = np.zeros(b - a)
        cs = np.zeros(first.size + 1)                        # cs[-1] = 0: the sum over no row
        for k in range(_series_terms(float(x.max()))):
            if k:
                term *= rho
                coef *= x / k
            g = np.add.reduceat(term, first)
            np.cumsum(g[::-1] if mono else g, out=cs[:-1])
            acc += coef * cs[last]
        out[a:b] = acc
        a = b
    return out


def _series_terms(x: float) -> int:
    """Smallest K with x^K / K! <= _SERIES_TOL (terms k = 0..K-1 of the exponential series)."""
    k, t = 0, 1.0
    while t > _SERIES_TOL:
        k += 1
        t *= x / k
    return k


def _arm(T: np.ndarray, d: np.ndarray, u: np.ndarray, own: np.ndarray, other: np.ndarray, X: np.ndarray,
         names: tuple[str, ...], grace: float, weighting: str, where: str, shared: _Shared,
         start: _Start | None = None) -> _Arm:
    """Clone, censor and weight one strategy; return its weighted product-limit curve.

    ``start``: the full-data fit's coefficients, from which a bootstrap replicate's censoring models start.
    ``shared.c``: the rows' multiplicities in a bootstrap resample, case weights of both censoring models and
    of every risk-set and event sum (the same estimator as the rows repeated).
    """
    n = T.size
    c = shared.c
    start = _Start() if start is None else start
    complier, switch, stop = _clone_follow_up(T, u, own, other, grace)
    event = np.where(complier | (~switch & (T <= grace)), d, 0.0)
    u_own = np.where(complier, u, np.inf)
    sw_keep = sw_coef = gr_keep = gr_coef = None

    # switch model: not-yet-initiated time at risk [0, min(u, T, G)], event = switch
    if weighting == "ipcw" and switch.any():
        t_sw, o_sw = shared.t_sw, shared.o_sw
        keep = shared.x_keep
        Xk = X if keep.all() else X[:, keep]
        if Xk.shape[1]:
            try:
                sw_coef = cox_coef(t_sw, switch.astype(float), Xk, weights=c, ties="breslow",
                                   names=[nm for nm, k in zip(names, keep) if k], order=o_sw,
                                   beta0=start.switch_beta0(keep))
            except ModelFitError as err:
                raise ModelFitError(f"{where}: the switch-censoring model cannot be fitted ({err}). Group "
                                    "sparse covariate levels or drop the covariate.") from err
            sw_keep = keep
            r = np.exp(Xk @ sw_coef)
        else:
            r = np.ones(n)
        rc = r if c is None else r * c
        if isinstance(o_sw, slice):
            # rows in switch-time order: risk sets and switches summed per distinct time, no sort or search
            first = np.flatnonzero(np.r_[True, t_sw[1:] != t_sw[:-1]])
            g_d = np.add.reduceat(switch.astype(float) if c is None else np.where(switch, c, 0.0), first)
            jm = g_d > 0
            jt, dj = t_sw[first[jm]], g_d[jm]
            denom = np.cumsum(np.add.reduceat(rc, first)[::-1])[::-1][jm]
        else:
            jt = np.unique(t_sw[switch])
            cr = np.concatenate([np.cumsum(rc[o_sw][::-1])[::-1], [0.0]])
            denom = cr[np.searchsorted(t_sw[o_sw], jt, side="left")]
            dj = np.bincount(np.searchsorted(jt, t_sw[switch]), weights=None if c is None else c[switch],
                             minlength=jt.size)
        cum = np.concatenate([[0.0], np.cumsum(dj / denom)])  # Lambda0 just after each jump

        def lam_left(s: np.ndarray) -> np.ndarray:
            return cum[np.searchsorted(jt, s, side="left")]
    else:
        r = np.ones(n)

        def lam_left(s: np.ndarray) -> np.ndarray:
            return np.zeros(np.shape(s))

    # weight base at G: frozen at initiation for compliers (Lambda(u-)); Lambda(G) inclusive otherwise
    lam_g = np.full(n, float(lam_left(np.array([np.nextafter(grace, np.inf)]))[0]))
    lam_g[complier] = lam_left(u_own[complier])              # u <= G for compliers
    wg = np.exp(r * lam_g)
    after = (T > grace) & ~switch  # event-free and uncensored just after G
    m = after & complier           # followed after G
    grace_cens = after & ~complier
    p = np.ones(n)
    if weighting == "ipcw" and m.any() and grace_cens.any():
        # intercept, then the covariates' rows after G, column by column (column-major: the information
        # matrix X' W X is about twice as fast, and np.compress of a column 6 times faster than X[after])
        Xa = np.empty((np.count_nonzero(after), 1 + X.shape[1]), order="F")
        Xa[:, 0] = 1.0
        for j in range(X.shape[1]):
            np.compress(after, X[:, j], out=Xa[:, 1 + j])
        gr_keep = np.r_[True, _varies(Xa[:, 1:])]           # the non-constant covariates
        if not gr_keep.all():
            Xa = np.asfortranarray(Xa[:, gr_keep])
        wa = wg[after] if c is None else wg[after] * c[after]
        gr_coef = _logistic(Xa, complier[after].astype(float), wa, where, beta0=start.grace_beta0(gr_keep))
        p[after] = expit(Xa @ gr_coef)
    if after.any() and not m.any():
        raise ModelFitError(f"{where}: no patient alive after the grace period started the strategy's "
                            f"treatment within it (got 0 compliers). Lengthen the grace period or check the codes.")
    w_post = wg / p

    # event times and weighted risk sets
    # a clone's event counts only where its follow-up stops at its outcome time (a complier, or an outcome within
    # G: stop = T), so the event times in the rows' order by T are already sorted: np.unique's values, no sort
    ts = T[shared.o_T]
    ts = ts[event[shared.o_T] > 0]
    ev_t = ts[np.r_[True, ts[1:] != ts[:-1]]] if ts.size else ts
    pre = ev_t[ev_t <= grace]
    post = ev_t[ev_t > grace]
    n_risk_w = np.empty(ev_t.size)
    n_ev_w = np.empty(ev_t.size)
    n_risk_raw = np.empty(ev_t.size)
    if pre.size:
        k = pre.size
        n_risk_w[:k], n_risk_raw[:k], n_ev_w[:k] = _pre_grace_sums(pre, stop, r, u_own, event, lam_left,
                                                                   weighting == "ipcw", lam_u=lam_g, counts=c)
    if post.size:
        om = shared.o_T[m[shared.o_T]]            # the compliers after G by time (their stop is T)
        sp, wp, ep = stop[om], w_post[om], event[om]
        if c is not None:
            wp = wp * c[om]
        cw = np.concatenate([[0.0], np.cumsum(wp)])
        idx = np.searchsorted(sp, post, side="left")
        k = pre.size
        n_risk_w[k:] = cw[-1] - cw[idx]
        if c is None:
            n_risk_raw[k:] = sp.size - idx
        else:
            cc = np.concatenate([[0.0], np.cumsum(c[om])])
            n_risk_raw[k:] = cc[-1] - cc[idx]
        evm = ep > 0
        n_ev_w[k:] = np.bincount(np.searchsorted(post, sp[evm]), weights=wp[evm], minlength=post.size)
    surv = np.cumprod(1.0 - n_ev_w / n_risk_w)
    curve = pd.DataFrame({"time": ev_t, "surv": surv, "n_risk": n_risk_raw, "n_risk_weighted": n_risk_w,
                          "n_event_weighted": n_ev_w})
    start = _Start(switch_keep=sw_keep, switch_coef=sw_coef, grace_keep=gr_keep, grace_coef=gr_coef)
    if c is not None:
        return _Arm(curve=curve, start=start)
    wpost_c = w_post[m]
    ess = float(wpost_c.sum() ** 2 / np.sum(wpost_c ** 2)) if wpost_c.size else math.nan
    diag = _Diagnostics(n_compliers=int(complier.sum()), n_switch=int(switch.sum()), n_grace=int(grace_cens.sum()),
                        n_events_grace=int(((event > 0) & (stop <= grace)).sum()),
                        max_weight=float(wpost_c.max()) if wpost_c.size else float(wg.max()), ess_after_grace=ess)
    return _Arm(curve=curve, start=start, diagnostics=diag)


def _surv_at(curve: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(curve["time"].to_numpy(), t, side="right") - 1
    s = curve["surv"].to_numpy()
    return np.where(pos >= 0, s[np.maximum(pos, 0)], 1.0)


def _rmst(curve: pd.DataFrame, tau: float) -> float:
    tt = curve["time"].to_numpy()
    keep = tt <= tau
    grid = np.concatenate([[0.0], tt[keep], [tau]])
    s_left = np.concatenate([[1.0], curve["surv"].to_numpy()[keep]])
    return float(np.sum(np.diff(grid) * s_left))


# ------------------------------------------------------------------------------------------- main entry
def _prepare(df: pd.DataFrame, *, time_col: str, event_col: str, treatment_col: str, treatment_time_col: str,
             strategies: dict[str, list[Any]], covariates: list[str], where: str) -> dict[str, Any]:
    need = [time_col, event_col, treatment_col, treatment_time_col]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"{where}: column(s) {missing} not found. Fix the *_col arguments.")
    if len(strategies) != 2:
        raise DataError(f"{where}: exactly two strategies are supported (got {len(strategies)}). Pass "
                        "{name: [codes], name: [codes]}.")
    T = pd.to_numeric(df[time_col], errors="coerce").to_numpy(dtype=float)
    d = pd.to_numeric(df[event_col], errors="coerce").to_numpy(dtype=float)
    u = pd.to_numeric(df[treatment_time_col], errors="coerce").to_numpy(dtype=float)
    bad_t = int((~np.isfinite(T) | (T < 0)).sum())
    if bad_t:
        raise DataError(f"{where}: column '{time_col}' must be finite and >= 0 (got {bad_t} bad values). Drop or "
                        "fix these patients.")
    if not np.isin(d, (0.0, 1.0)).all():
        raise DataError(f"{where}: column '{event_col}' must be 0/1 (got {int((~np.isin(d, (0.0, 1.0))).sum())} "
                        "other values). Recode the event indicator.")
    codes = df[treatment_col].astype(object)
    started = np.isfinite(u)
    if (u[started] < 0).any():
        raise DataError(f"{where}: column '{treatment_time_col}' has {int((u[started] < 0).sum())} negative "
                        "time(s): treatment before time zero. Check time zero (gistcausal.design.validation."
                        "check_time_zero).")
    late = started & (u > T)
    if late.any():
        raise DataError(f"{where}: column '{treatment_time_col}' is after the end of follow-up '{time_col}' for "
                        f"{int(late.sum())} patient(s). Treatment starts must fall within follow-up.")
    names = list(strategies)
    own = []
    for s in names:
        own.append(codes.astype(str).isin([str(c) for c in strategies[s]]).to_numpy() & started)
    X, xnames = _encode(df, covariates, where)
    return {"T": T, "d": d, "u": np.where(started, u, np.inf), "own": own, "started": started, "X": X,
            "xnames": xnames, "names": names}


def _time_order(p: dict[str, Any], grace: float) -> tuple[dict[str, Any], np.ndarray]:
    r"""The patients of ``p`` sorted by the switch model's time :math:`\min(u, T, G)`, then by ``T``; and the
    new row of each input row.

    A resample's distinct rows, ascending, are in the same order, so no replicate sorts by the switch time
    (:class:`_Shared`); ``"o_T"``, the rows' stable order by ``T``, gives each replicate's order by ``T``
    (:func:`_fit_arms`). ``"X"`` is column-major (:func:`_take_rows`). Results depend on the order of the
    rows and the memory layout only through rounding.
    """
    order = np.lexsort((p["T"], np.minimum(np.minimum(p["u"], p["T"]), grace)))
    rank = np.empty(order.size, dtype=np.intp)
    rank[order] = np.arange(order.size)
    q = dict(p)
    for k in ("T", "d", "u", "started"):
        q[k] = p[k][order]
    q["X"] = _take_rows(p["X"], order)
    q["own"] = [o[order] for o in p["own"]]
    q["o_T"] = np.argsort(q["T"], kind="stable")
    return q, rank


def _fit_arms(p: dict[str, Any], idx: np.ndarray | None, grace: float, weighting: str, where: str,
              start: list[_Start] | None = None, counts: np.ndarray | None = None) -> list[_Arm]:
    """Both strategies on the data (``idx`` None) or a bootstrap resample, sharing one sort of the times.

    ``start``: per strategy, the full-data censoring models' coefficients, where a replicate's fits start.
    ``counts``: the multiplicity of each row ``idx`` selects (a bootstrap resample as its distinct patients,
    ascending, and how often each was drawn); the same estimator as ``idx`` repeating each row that often, on
    about 63% of the rows (:class:`_Shared`).
    """
    sel = slice(None) if idx is None else idx
    T, d, u, started = p["T"][sel], p["d"][sel], p["u"][sel], p["started"][sel]
    X = p["X"] if idx is None else _take_rows(p["X"], idx)
    o_T = p.get("o_T")
    if o_T is not None and counts is not None and idx is not None:
        # distinct ascending rows: their stable order by T is the full data's, restricted to them (no sort)
        pos = np.full(p["T"].size, -1, dtype=np.intp)
        pos[idx] = np.arange(idx.size)
        o_T = pos[o_T]
        o_T = o_T[o_T >= 0]
    elif idx is not None:
        o_T = None
    shared = _Shared.of(T, u, X, grace, counts, o_T)
    out = []
    for k in range(2):
        own = p["own"][k][sel]
        other = started & ~own
        out.append(_arm(T, d, u, own, other, X, p["xnames"], grace, weighting, f"{where} ({p['names'][k]})",
                        shared, None if start is None else start[k]))
    return out


def _take_rows(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``X[idx]`` in column-major order (the censoring models' information matrices X' W X are then about
    twice as fast), one column at a time (faster than row fancy-indexing)."""
    out = np.empty((idx.size, X.shape[1]), order="F")
    for j in range(X.shape[1]):
        np.take(X[:, j], idx, out=out[:, j])
    return out


def _stats(arms: list[_Arm], landmarks: np.ndarray, horizon: float | None) -> np.ndarray:
    sa = [_surv_at(a.curve, landmarks) for a in arms]
    vals = list(sa[0]) + list(sa[1]) + list(sa[0] - sa[1])
    if horizon is not None:
        ra = [_rmst(a.curve, horizon) for a in arms]
        vals += [ra[0], ra[1], ra[0] - ra[1]]
    return np.asarray(vals, dtype=float)


def _clone_follow_up(T: np.ndarray, u: np.ndarray, own: np.ndarray, other: np.ndarray,
                     grace: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compliers, switch-censored clones and each clone's end of follow-up in one strategy.

    A clone complies when its patient starts the strategy's treatment within the grace period (and before
    the outcome); it is censored at the start of another treatment within the grace period (*switch*), and
    otherwise followed to the outcome or to *G*, whichever comes first.
    """
    complier = own & (u <= grace) & (u <= T)
    switch = other & (u <= grace) & (u < T) & ~complier
    stop = np.where(complier, T, np.where(switch, u, np.minimum(T, grace)))
    return complier, switch, stop


def _last_follow_up(p: dict[str, Any], grace: float) -> dict[str, float]:
    """Last follow-up time of each strategy's clones (where its weighted curve ends)."""
    out = {}
    for name, own in zip(p["names"], p["own"]):
        _, _, stop = _clone_follow_up(p["T"], p["u"], own, p["started"] & ~own, grace)
        out[name] = float(np.max(stop)) if stop.size else 0.0
    return out


def strategy_follow_up(df: pd.DataFrame, *, time_col: str, event_col: str, treatment_col: str,
                       treatment_time_col: str, strategies: dict[str, list[Any]], grace: float) -> dict[str, float]:
    """Last follow-up time of each strategy's clones, ``{strategy: time}``.

    Each strategy's weighted Kaplan-Meier curve ends there, so landmarks and the RMST horizon must not exceed
    the smallest of these times. Arguments as :func:`clone_censor_weight`.
    """
    where = "strategy_follow_up"
    _check_grace(grace, where)
    p = _prepare(df, time_col=time_col, event_col=event_col, treatment_col=treatment_col,
                 treatment_time_col=treatment_time_col, strategies=strategies, covariates=[], where=where)
    return _last_follow_up(p, float(grace))


def _check_grace(grace: Any, where: str) -> None:
    if not (isinstance(grace, (int, float)) and math.isfinite(grace) and grace > 0):
        raise DataError(f"{where}: `grace` must be a positive number (got {grace!r}). Give the grace period in "
                        "the time unit of the data.")


def _check_times(landmarks: Any, horizon: float | None, last: dict[str, float], where: str
                 ) -> tuple[np.ndarray, float | None]:
    """Landmarks in (0, end] and a horizon in (0, end], end = the earliest strategy's last follow-up (issue 14).

    A landmark at or before time zero would report S = 1 with a degenerate interval, and one past the end of
    a curve would carry its last value forward; the same rule as the main analysis
    (:func:`gistcausal.stats.survival.check_landmarks`), with the strategy named.
    """
    arm, end = min(last.items(), key=lambda kv: kv[1])
    lm = np.asarray(sorted(float(x) for x in landmarks), dtype=float)
    for x in lm:
        if not (math.isfinite(x) and 0 < x <= end):
            raise DataError(f"{where}: `landmarks` must be times in (0, {end:g}], strategy '{arm}' being followed "
                            f"up to {end:g} (got {x:g}). Choose landmarks within follow-up.")
    if horizon is not None and not (isinstance(horizon, (int, float)) and 0 < horizon <= end):
        raise DataError(f"{where}: `horizon` must be in (0, {end:g}], strategy '{arm}' being followed up to "
                        f"{end:g} (got {horizon!r}). Choose a time within follow-up.")
    return lm, horizon


def _bootstrap(p: dict[str, Any], *, grace: float, weighting: str, landmarks: np.ndarray, horizon: float | None,
               n_bootstrap: int, random_state: int | None, n_jobs: int, where: str, engine: Any = None,
               start: list[_Start] | None = None, rank: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Bootstrap replicates of the statistics over patients (both clones of a patient drawn together).

    Both censoring models are refitted in each replicate, from the full-data coefficients ``start`` (a warm
    start: same maxima, fewer Newton steps); a replicate whose model cannot be fitted is dropped and counted.
    Returns the replicate matrix (one row per successful replicate) and the failures.

    ``rank[i]`` is the row of ``p`` of the i-th patient of the input (:func:`_time_order`); the resamples are
    drawn over the input's patients, so they do not depend on it. Each resample is handed out as its distinct
    rows of ``p`` (ascending, so in time order) and their multiplicities (:func:`_fit_arms` ``counts``), in
    the smallest integer types that hold them.
    """
    n = int(p["T"].size)
    rng = np.random.default_rng(random_state)
    # all draws are made here, in order, so the replicates do not depend on where they run; each is mapped to
    # the rows of ``p`` (``rank``) and counted: the same patients, their rows in time order
    rank = np.arange(n) if rank is None else rank
    draws = [_distinct(np.bincount(rank[rng.integers(0, n, n)], minlength=n)) for _ in range(int(n_bootstrap))]
    task = (p, grace, weighting, landmarks, horizon, where, start)
    if engine is None:
        engine = Engine(n_workers=max(1, n_jobs or 1))
    with open_executor(engine) as ex:
        res = ex.map_replicates(_replicate, draws, shared=task)
    ok = [r for r in res if r is not None]
    return (np.vstack(ok) if ok else np.empty((0, 0))), len(res) - len(ok)


def _distinct(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows drawn (``counts > 0``, ascending) and their multiplicities, each in its smallest unsigned type."""
    rows = np.flatnonzero(counts)
    c = counts[rows]
    return (rows.astype(np.min_scalar_type(max(counts.size - 1, 0))),
            c.astype(np.min_scalar_type(int(c.max()) if c.size else 0)))


def _replicate(task: tuple, draw: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    """One bootstrap replicate, ``draw`` = (distinct rows, multiplicities) (a failed fit is None, counted by the
    caller)."""
    p, grace, weighting, landmarks, horizon, where, start = task
    rows, counts = draw[0].astype(np.intp), draw[1].astype(float)
    try:
        with one_blas_thread(), warnings.catch_warnings():
            # a replicate's non-convergence shows up as a failed or extreme replicate, counted below
            warnings.simplefilter("ignore", ConvergenceWarning)
            return _stats(_fit_arms(p, rows, grace, weighting, where, start, counts), landmarks, horizon)
    except (ModelFitError, DataError):
        return None


def _labels(names: list[str], landmarks: np.ndarray, horizon: float | None) -> list[tuple[str, str, float]]:
    """(measure, contrast, time) of each statistic, in the order of :func:`_stats`."""
    contrast = f"{names[0]} vs {names[1]}"
    labels = [("surv", names[0], t) for t in landmarks] + [("surv", names[1], t) for t in landmarks]
    labels += [("surv_diff", contrast, t) for t in landmarks]
    if horizon is not None:
        labels += [("rmst", names[0], horizon), ("rmst", names[1], horizon), ("rmst_diff", contrast, horizon)]
    return labels


def _percentile_estimates(point: np.ndarray, reps: np.ndarray, labels: list[tuple[str, str, float]], *,
                          alpha: float, grace: float, weighting: str, outcome: str, n: int
                          ) -> tuple[EffectEstimate, ...]:
    """Point estimates with bootstrap percentile intervals and the bootstrap SD as ``se``."""
    ests = []
    for k, (measure, con, t) in enumerate(labels):
        col = reps[:, k] if reps.shape[0] else np.array([])
        col = col[np.isfinite(col)]
        if col.size >= 2:
            lo, hi = np.quantile(col, [alpha / 2, 1 - alpha / 2])
            se = float(np.std(col, ddof=1))
        else:
            lo = hi = se = math.nan
        # the strategies' survival is marginal over the eligible population (ATE-like); unweighted is descriptive
        ests.append(EffectEstimate(outcome=outcome, contrast=con, estimand="ATE" if weighting == "ipcw" else "none",
                                   method="ccw", measure=measure,
                                   value=float(point[k]), ci_low=float(lo), ci_high=float(hi), se=se,
                                   variance="bootstrap_percentile" if col.size >= 2 else "none", n=n,
                                   time=float(t), extra={"grace": float(grace), "weighting": weighting}))
    return tuple(ests)


def _curves_and_diagnostics(arms: list[_Arm], names: list[str], n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-strategy weighted curves and the censoring/weight diagnostics table."""
    curves = pd.concat([a.curve.assign(strategy=s) for a, s in zip(arms, names)], ignore_index=True)
    curves = curves[["strategy", "time", "surv", "n_risk", "n_risk_weighted", "n_event_weighted"]]
    dg = [a.diagnostics for a in arms]
    diag = pd.DataFrame({"strategy": names, "clones": [n, n], "compliers": [d.n_compliers for d in dg],
                         "censored_switch": [d.n_switch for d in dg], "censored_grace": [d.n_grace for d in dg],
                         "events_in_grace": [d.n_events_grace for d in dg],
                         "max_weight": [d.max_weight for d in dg],
                         "ess_after_grace": [d.ess_after_grace for d in dg]})
    return curves, diag


def clone_censor_weight(df: pd.DataFrame, *, time_col: str, event_col: str, treatment_col: str,
                        treatment_time_col: str, strategies: dict[str, list[Any]], grace: float,
                        covariates: list[str] | tuple[str, ...] = (), landmarks: list[float] | tuple[float, ...] = (),
                        horizon: float | None = None, weighting: Weighting = "ipcw", n_bootstrap: int = 200,
                        alpha: float = 0.05, random_state: int | None = None, n_jobs: int = 1,
                        outcome: str = "outcome", engine: Any = None) -> CCWResult:
    """Compare two grace-period strategies by clone-censor-weight (see the module docstring).

    Parameters
    ----------
    df : DataFrame
        One row per eligible patient; times measured from time zero; not modified.
    time_col, event_col : str
        Outcome time from time zero and event indicator (1 = event).
    treatment_col : str
        Code of the first treatment started after time zero (anything, missing when none).
    treatment_time_col : str
        Time from time zero to that start; missing (NaN) when none was started during follow-up.
    strategies : dict
        Two strategies ``{name: [codes]}``; the first is the "treated" side of the differences.
    grace : float
        Grace period *G* (> 0), in the unit of the times.
    covariates : sequence of str, default=()
        Baseline covariates of the censoring models (categorical columns are dummy-coded).
    landmarks : sequence of float, default=()
        Times for survival and survival differences, in (0, last follow-up of either strategy].
    horizon : float, optional
        RMST horizon, in (0, last follow-up of either strategy].
    weighting : {"ipcw", "none"}, default="ipcw"
        ``"none"`` gives the unweighted clone-censor analysis (biased when initiation depends on
        prognosis; for comparison).
    n_bootstrap : int, default=200
        Bootstrap replicates over patients (0 for point estimates only).
    alpha : float, default=0.05
    random_state : int, optional
        Seed of the bootstrap.
    n_jobs : int, default=1
        Parallel bootstrap workers (joblib) when > 1.
    engine : gistcausal.engine.Engine or Executor, optional
        Where the replicates run (:mod:`gistcausal.engine`); when given, ``n_jobs`` is not used. The
        resamples are drawn before they are handed out, so the result does not depend on it.
    outcome : str, default="outcome"
        Outcome name written into the estimates.

    Returns
    -------
    CCWResult

    Raises
    ------
    DataError
        Missing columns, bad times or events, treatment before time zero or after follow-up; landmarks or
        horizon outside (0, the earliest strategy's last follow-up].
    ModelFitError
        A censoring model cannot be fitted, or no complier survives the grace period.

    See Also
    --------
    strategy_follow_up : each strategy's last follow-up time.
    gistcausal.analysis.strategies.clone_censor_from_config : the same, as ``protocol.strategies`` describes.

    Notes
    -----
    Intervals are bootstrap percentile intervals: patients are resampled with replacement (both clones
    together) and both censoring models refitted in each replicate; ``se`` is the bootstrap SD. The
    analytic variance of the CCW estimator with estimated time-varying weights is not standard.
    """
    where = "clone_censor_weight"
    _check_grace(grace, where)
    if weighting not in ("ipcw", "none"):
        raise DataError(f"{where}: `weighting` must be 'ipcw' or 'none' (got {weighting!r}). Use 'ipcw'.")
    if not (0 < alpha < 1):
        raise DataError(f"{where}: `alpha` must be in (0, 1) (got {alpha!r}). Use e.g. alpha=0.05.")
    p = _prepare(df, time_col=time_col, event_col=event_col, treatment_col=treatment_col,
                 treatment_time_col=treatment_time_col, strategies=strategies, covariates=list(covariates),
                 where=where)
    p, rank = _time_order(p, float(grace))
    lm, horizon = _check_times(landmarks, horizon, _last_follow_up(p, float(grace)), where)
    warn_msgs: list[str] = []
    with one_blas_thread(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        arms = _fit_arms(p, None, float(grace), weighting, where)
    warn_msgs += [str(w.message) for w in caught]
    point = _stats(arms, lm, horizon)
    n = int(p["T"].size)
    reps = np.empty((0, point.size))
    if n_bootstrap:
        boot, n_failed = _bootstrap(p, grace=float(grace), weighting=weighting, landmarks=lm, horizon=horizon,
                                    n_bootstrap=n_bootstrap, random_state=random_state, n_jobs=n_jobs, where=where,
                                    engine=engine, start=[a.start for a in arms], rank=rank)
        reps = boot if boot.shape[0] else reps
        if n_failed:
            warn_msgs.append(f"{where}: {n_failed} of {n_bootstrap} bootstrap replicates failed (a censoring model "
                             "could not be fitted) and were dropped.")
    names = p["names"]
    ests = _percentile_estimates(point, reps, _labels(names, lm, horizon), alpha=alpha, grace=float(grace),
                                 weighting=weighting, outcome=outcome, n=n)
    curves, diag = _curves_and_diagnostics(arms, names, n)
    for m in warn_msgs:
        warnings.warn(m, ConvergenceWarning, stacklevel=2)
    return CCWResult(curves=curves, estimates=ests, diagnostics=diag, grace=float(grace),
                     strategies=(names[0], names[1]), n=n, n_bootstrap=int(reps.shape[0]), weighting=weighting,
                     alpha=float(alpha), warnings=tuple(warn_msgs))


# ------------------------------------------------------------------------------------------- synthetic truth
@dataclass(frozen=True, slots=True)
class CCWSimulation:
    """Settings of the synthetic grace-period data of :func:`simulate_ccw_data` (times in months).

    Initiation: competing exponential hazards ``a_A exp(g_A x)`` (strategy A), ``a_B exp(g_B x)`` (B) and
    ``a_O`` (other treatment), x ~ N(0, 1). Outcome: hazard ``lam0 exp(beta x) theta_s`` with ``theta`` by
    current treatment status (none before initiation). Administrative censoring at ``tau``.
    """

    a_A: float = 0.30
    a_B: float = 0.25
    a_O: float = 0.0
    g_A: float = 0.8
    g_B: float = -0.6
    lam0: float = 0.06
    beta: float = 0.7
    theta_A: float = 0.45
    theta_B: float = 0.85
    theta_O: float = 1.0
    tau: float = 24.0


def simulate_ccw_data(n: int, *, random_state: int, settings: CCWSimulation = CCWSimulation()) -> pd.DataFrame:
    """Synthetic eligible patients with confounded initiation timing (for tests and teaching).

    Returns one row per patient: ``x``, ``time``, ``event``, ``treatment`` (``"A"``, ``"B"``, ``"other"`` or
    ``"none"``) and ``treatment_time`` (NaN when no treatment started before the end of follow-up).
    """
    s = settings
    rng = np.random.default_rng(random_state)
    x = rng.standard_normal(n)
    rates = np.column_stack([s.a_A * np.exp(s.g_A * x), s.a_B * np.exp(s.g_B * x), np.full(n, s.a_O)])
    u = rng.exponential(1.0 / rates.sum(axis=1))
    cum = np.cumsum(rates / rates.sum(axis=1, keepdims=True), axis=1)
    typ = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), 2)
    lam = s.lam0 * np.exp(s.beta * x)
    theta = np.array([s.theta_A, s.theta_B, s.theta_O])[typ]
    e = rng.exponential(1.0, n)
    pre = lam * u  # cumulative hazard by initiation (theta_none = 1)
    T = np.where(e <= pre, e / lam, u + (e - pre) / (lam * theta))
    event = T <= s.tau
    T = np.minimum(T, s.tau)
    started = u < T
    names = np.array(["A", "B", "other"], dtype=object)
    return pd.DataFrame({"x": x, "time": T, "event": event.astype(int),
                         "treatment": np.where(started, names[typ], "none"),
                         "treatment_time": np.where(started, u, np.nan)})


def ccw_truth(times: Any, *, strategy: Literal["A", "B"], grace: float,
              settings: CCWSimulation = CCWSimulation(), n_nodes: int = 80) -> np.ndarray:
    r"""True survival under strategy A or B of :func:`simulate_ccw_data`, in closed form.

    Under the strategy, initiation follows the natural hazard :math:`h(x)` of its treatment within the
    grace period (other treatments removed) and happens at *G* at the latest. Given x, with
    :math:`\lambda_n = \lambda_0 e^{\beta x}`, :math:`\lambda_a = \theta\lambda_n` and
    :math:`c = h + \lambda_n - \lambda_a`,

    .. math:: S(t|x) = h e^{-\lambda_a t}\frac{1 - e^{-c\min(t,G)}}{c} + e^{-(h+\lambda_n)\min(t,G)
              - \lambda_a (t-G)_+}

    and :math:`S(t) = E_x S(t|x)` by Gauss-Hermite quadrature over x ~ N(0, 1).
    """
    s = settings
    t = np.atleast_1d(np.asarray(times, dtype=float))
    z, wq = np.polynomial.hermite_e.hermegauss(n_nodes)
    wq = wq / wq.sum()
    a, g, th = (s.a_A, s.g_A, s.theta_A) if strategy == "A" else (s.a_B, s.g_B, s.theta_B)
    h = a * np.exp(g * z)[:, None]
    ln = s.lam0 * np.exp(s.beta * z)[:, None]
    la = th * ln
    c = h + ln - la
    m = np.minimum(t[None, :], grace)
    part = np.where(np.abs(c) > 1e-12, (1 - np.exp(-c * m)) / np.where(np.abs(c) > 1e-12, c, 1.0), m)
    sx = h * np.exp(-la * t[None, :]) * part + np.exp(-(h + ln) * m - la * np.maximum(t[None, :] - grace, 0))
    # the first term integrates h e^{-hu} e^{-ln u - la (t - u)} over u in [0, min(t, G)]
    return wq @ sx


def ccw_truth_rmst(horizon: float, *, strategy: Literal["A", "B"], grace: float,
                   settings: CCWSimulation = CCWSimulation()) -> float:
    """True RMST to ``horizon`` under a strategy (adaptive quadrature of :func:`ccw_truth`)."""
    from scipy.integrate import quad

    pts = [grace] if grace < horizon else None
    val, _ = quad(lambda v: float(ccw_truth(v, strategy=strategy, grace=grace, settings=settings)[0]), 0.0,
                  horizon, points=pts, limit=200)
    return float(val)


__all__ = ["CCWResult", "clone_censor_weight", "strategy_follow_up", "weighted_product_limit", "simulate_ccw_data",
           "ccw_truth", "ccw_truth_rmst", "CCWSimulation"]
