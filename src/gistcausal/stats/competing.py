r"""Competing risks: IPTW-weighted Aalen-Johansen cumulative incidence, restricted mean time lost, cause-specific
Cox hazard ratios and cause-specific design-based log-rank tests.

With causes :math:`k = 1, \dots, K` (status 0 = censored), distinct times :math:`t_j`, weighted numbers at risk
:math:`n_j = \sum_i w_i Y_i(t_j)`, weighted events of cause :math:`k` :math:`d_{kj}` and of any cause
:math:`d_j = \sum_k d_{kj}`, the Aalen-Johansen estimator of the cumulative incidence (the probability of having
failed from cause :math:`k` by :math:`t`) is

.. math:: \hat F_k(t) = \sum_{t_j \le t} \hat S(t_{j-1})\,\frac{d_{kj}}{n_j},
          \qquad \hat S(t_j) = \prod_{l \le j}\Bigl(1 - \frac{d_l}{n_l}\Bigr),

as R ``survfit(Surv(time, factor(status)) ~ 1, weights = w)`` (its multi-state ``pstate``), and the restricted
mean time lost to cause :math:`k` before :math:`\tau` is :math:`\mathrm{RMTL}_k(\tau) = \int_0^\tau \hat F_k(t)\,dt`
(the mean time spent in the absorbing state :math:`k`, R's ``rmean`` of that state; Andersen 2013).

Variance (weights known): the infinitesimal jackknife :math:`D_i = w_i\,\partial\hat\theta/\partial w_i`,
:math:`\widehat{\mathrm{Var}}(\hat\theta) = \sum_i D_i^2`, which is R ``survfit(..., id = id, robust = TRUE)``'s
``std.err`` (its ``influence.pstate``); checked to 1e-6 in ``tests/reference/competing``. With
:math:`h_{kj} = d_{kj}/n_j`, :math:`h_j = d_j/n_j`, a patient leaving at index :math:`k_i` with cause :math:`c_i`,

.. math:: \frac{\partial \hat F_k(t_J)}{\partial w_i} = \sum_{j \le J} \hat S(t_{j-1})
   \frac{1[c_i = k, k_i = j] - Y_i(t_j) h_{kj}}{n_j}
   - \sum_{j \le J} \hat S(t_{j-1}) h_{kj} \sum_{l < j} \frac{1[c_i \ne 0, k_i = l] - Y_i(t_l) h_l}{n_l(1 - h_l)},

evaluated for every patient at once by prefix sums over the distinct times (no :math:`n \times J` matrix), for
landmarks and for the RMTL integral alike. Arms are independent given the weights, so differences add
variances; ratios use the log scale. Intervals per arm are ``conf_type="log"`` (R's default for ``pstate``).

Cause-specific hazard ratios are marginal IPTW Cox models of each cause with the other causes censored
(:func:`gistcausal.stats.cox.cox_fit`, robust sandwich SE), and the test per cause the design-based weighted
log-rank (:func:`gistcausal.stats.km.logrank_test`, as ``survey::svylogrank``): a weighted, design-based analogue
of testing equal cause-specific hazards, not Gray's test of equal subdistributions.

References
----------
Aalen OO, Johansen S (1978). Scand J Stat 5:141-150.
Andersen PK (2013). Decomposition of number of life years lost according to causes of death. Stat Med
32:5278-5285.
Austin PC, Fine JP (2019). Propensity-score matching with competing risks in survival analysis. Stat Med
38:751-777 (IPTW cumulative incidence and cause-specific hazards).
Therneau TM (2024). The survival package, vignette "Multi-state models and competing risks".
Denz R, Klaassen-Mielke R, Timmesfeld N (2023). A comparison of different methods to adjust survival curves for
confounders (adjustedCurves). Stat Med 42:1461-1479.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal._checks import as_float, check_alpha, check_estimand, check_weights
from gistcausal.effects import EffectEstimate, EstimatesMixin, json_safe
from gistcausal.errors import CohortError, DataError, ModelFitError
from gistcausal.stats.cox import cox_fit
from gistcausal.stats.km import check_horizon, check_landmarks, logrank_test, step_at

ConfType = Literal["log", "plain"]


# ----------------------------------------------------------------------------------------------------
# kernels (patient level; never in a result)
# ----------------------------------------------------------------------------------------------------
class AJTable(NamedTuple):
    """Distinct times, weighted risk sets, hazards, S(t-) and the cumulative incidence per cause (unchecked)."""

    time: np.ndarray          # (T,) distinct times
    n_risk: np.ndarray        # (T,) weighted
    n_risk_raw: np.ndarray    # (T,)
    n_event: np.ndarray       # (T, K) weighted events per cause
    s_prev: np.ndarray        # (T,) all-cause KM just before t_j
    cif: np.ndarray           # (T, K)
    idx: np.ndarray           # (n,) distinct-time index of each patient's exit
    cause_pos: np.ndarray     # (n,) 0 censored, else 1 + position of the cause in `causes`


def aj_table(t: np.ndarray, status: np.ndarray, w: np.ndarray, causes: tuple) -> AJTable:
    """The Aalen-Johansen table of one arm (module formulas); unchecked fast path (positive weights)."""
    time, idx = np.unique(t, return_inverse=True)
    T, K = time.size, len(causes)
    cause_pos = np.zeros(t.size, dtype=np.intp)
    for k, c in enumerate(causes):
        cause_pos[status == c] = k + 1
    n_risk = np.cumsum(np.bincount(idx, weights=w, minlength=T)[::-1])[::-1]
    n_risk_raw = np.cumsum(np.bincount(idx, minlength=T)[::-1])[::-1].astype(float)
    d = np.zeros((T, K))
    for k in range(K):
        m = cause_pos == k + 1
        d[:, k] = np.bincount(idx[m], weights=w[m], minlength=T)
    h = d.sum(axis=1) / n_risk
    s = np.cumprod(1.0 - h)
    s_prev = np.r_[1.0, s[:-1]]
    cif = np.cumsum(s_prev[:, None] * d / n_risk[:, None], axis=0)
    return AJTable(time=time, n_risk=n_risk, n_risk_raw=n_risk_raw, n_event=d, s_prev=s_prev, cif=cif, idx=idx,
                   cause_pos=cause_pos)


def cif_influence(tab: AJTable, w: np.ndarray, k: int, widths: np.ndarray) -> np.ndarray:
    r"""IJ influence terms :math:`D_i = w_i \sum_J W_{Jm}\,\partial \hat F_k(t_J)/\partial w_i` (module formula).

    Parameters
    ----------
    tab : AJTable
    w : ndarray
        The arm's weights (as passed to :func:`aj_table`).
    k : int
        Position of the cause in ``causes``.
    widths : ndarray, shape (T, m)
        Column m weights the distinct times: a unit vector at :math:`J` gives :math:`\hat F_k(t_J)`, the step
        widths up to :math:`\tau` give :math:`\mathrm{RMTL}_k(\tau)`.

    Returns
    -------
    ndarray, shape (n, m)
    """
    T = tab.time.size
    n = tab.n_risk
    h_all = tab.n_event.sum(axis=1) / n
    hk = tab.n_event[:, k] / n
    surv_after = n * (1.0 - h_all)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(surv_after > 0, 1.0 / surv_after, 0.0)    # 1 / {n_l (1 - h_l)}; 0 where S drops to 0
    G = np.cumsum(h_all * inv)
    F = tab.cif[:, k]
    f = tab.s_prev * hk
    P = np.cumsum(f / n)
    Q = np.cumsum(f * np.r_[0.0, G[:-1]])

    def C(x: np.ndarray) -> np.ndarray:   # C[j] = sum_{J < j} W_J x_J, shape (T + 1, m)
        return np.vstack([np.zeros((1, widths.shape[1])), np.cumsum(widths * x[:, None], axis=0)])

    ones, cP, cQ, cF = C(np.ones(T)), C(P), C(Q), C(F)
    ki = tab.idx
    mi = np.minimum(ki + 1, T - 1)
    event = tab.cause_pos > 0
    own = tab.cause_pos == k + 1
    after_k = ones[T] - ones[ki + 1]                       # sum_{J > k_i} W_J
    t1a = (own * tab.s_prev[ki] / n[ki])[:, None] * (ones[T] - ones[ki])
    t1b = cP[ki + 1] + P[ki][:, None] * after_k
    t2a = (event * inv[ki])[:, None] * (cF[T] - cF[ki + 1] - F[ki][:, None] * after_k)
    after_m = ones[T] - ones[mi + 1]
    t2b = cQ[mi + 1] + Q[mi][:, None] * after_m
    t2c = G[ki][:, None] * (cF[T] - cF[mi + 1] - F[mi][:, None] * after_m)
    return w[:, None] * (t1a - t1b - t2a + t2b + t2c)


def _unit_columns(time: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widths selecting the step value at each time of ``at`` (zero columns before the first time)."""
    pos = np.searchsorted(time, at, side="right") - 1
    W = np.zeros((time.size, at.size))
    ok = pos >= 0
    W[pos[ok], np.flatnonzero(ok)] = 1.0
    return W, pos


def _rmtl_widths(time: np.ndarray, tau: float) -> np.ndarray:
    keep = time <= tau
    W = np.zeros((time.size, 1))
    W[keep, 0] = np.diff(np.r_[time[keep], tau])
    return W


# ----------------------------------------------------------------------------------------------------
# one-sample cumulative incidence
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of each cause, aggregates only.

    Attributes
    ----------
    causes : tuple
        Status codes of the causes (status 0 is censoring).
    cause_labels : tuple of str
    table : DataFrame
        One row per distinct time and cause: ``time``, ``cause``, ``cif``, ``std_err`` (IJ), ``ci_low``,
        ``ci_high``, ``n_risk`` (weighted), ``n_risk_raw``, ``n_event`` (weighted events of that cause).
    conf_type : str
    alpha : float
    n : int
    weighted : bool
    """

    causes: tuple
    cause_labels: tuple[str, ...]
    table: pd.DataFrame
    conf_type: str
    alpha: float
    n: int
    weighted: bool

    def at(self, times: Any, cause: Any) -> pd.DataFrame:
        """``cif``, ``std_err``, ``ci_low``, ``ci_high`` of ``cause`` (a code) at ``times`` (step function, 0
        before the first time)."""
        tb = self.table[self.table["cause"] == cause]
        tt = np.atleast_1d(np.asarray(times, dtype=float))
        x = tb["time"].to_numpy()
        return pd.DataFrame({"time": tt, **{c: step_at(x, tb[c].to_numpy(), tt, 0.0)
                                            for c in ("cif", "std_err", "ci_low", "ci_high")}})

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        return {"causes": [json_safe(c) for c in self.causes], "cause_labels": list(self.cause_labels),
                "conf_type": self.conf_type, "alpha": self.alpha, "n": self.n, "weighted": self.weighted,
                "table": [{k: json_safe(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")]}

    def summary(self) -> str:
        last = self.table.groupby("cause").tail(1)
        parts = [f"{lab}: {r.cif:.3g} at t={r.time:g}" for lab, r in zip(self.cause_labels, last.itertuples())]
        return (f"Aalen-Johansen cumulative incidence ({'weighted, ' if self.weighted else ''}n {self.n}): "
                + "; ".join(parts))


def _ci(v: np.ndarray, se: np.ndarray, z: float, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    if conf_type == "plain":
        return np.clip(v - z * se, 0, 1), np.clip(v + z * se, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sl = np.where(v > 0, se / v, np.nan)
        lo = np.where(v > 0, v * np.exp(-z * sl), np.nan)
        hi = np.where(v > 0, np.minimum(v * np.exp(z * sl), 1.0), np.nan)
    return lo, hi


def check_competing_inputs(time: Any, status: Any, weights: Any, causes: Any, where: str
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Validated ``time``, ``status`` and ``weights`` (ones when None) and the causes (sorted nonzero codes)."""
    t = as_float(time, "time", where)
    s = as_float(status, "status", where)
    n = t.size
    if n == 0:
        raise DataError(f"{where}: no patients (got 0 rows). Check the cohort filters.")
    if s.size != n:
        raise DataError(f"{where}: `status` must have one value per patient (got {s.size} values for {n} times). "
                        f"Pass arrays of equal length.")
    bad = int((~np.isfinite(t)).sum() + (t < 0).sum())
    if bad:
        raise DataError(f"{where}: `time` must be finite and >= 0 (got {bad} missing, negative or infinite). Drop "
                        f"or correct these rows before the analysis.")
    if np.isnan(s).any():
        raise DataError(f"{where}: `status` has missing values (got {int(np.isnan(s).sum())}). Code censored "
                        f"patients as 0 and each cause by its event code.")
    present = tuple(sorted(float(c) for c in np.unique(s) if c != 0))
    if causes is None:
        causes = present
    else:
        causes = tuple(float(c) for c in causes)
        other = sorted(set(present) - set(causes))
        if other:
            raise DataError(f"{where}: `status` has codes that are neither 0 (censored) nor a cause (got "
                            f"{[_code(c) for c in other]}; causes {[_code(c) for c in causes]}). Add them to the "
                            f"causes or recode them.")
    if not causes:
        raise DataError(f"{where}: no cause of failure (got status codes {[_code(c) for c in np.unique(s)]}). "
                        f"Code each cause by a nonzero event code.")
    w = check_weights(weights, n, where)
    return t, s, w, causes


def _code(c: float) -> int | float:
    return int(c) if float(c).is_integer() else c


def cumulative_incidence(time: Any, status: Any, *, weights: Any = None, causes: Any = None,
                         cause_labels: Any = None, conf_type: ConfType = "log", alpha: float = 0.05
                         ) -> CumulativeIncidence:
    r"""Aalen-Johansen cumulative incidence of each cause, weighted or not, with IJ standard errors.

    Parameters
    ----------
    time : array-like of float
        Follow-up time, >= 0.
    status : array-like
        0 = censored, otherwise the code of the cause of failure (e.g. 1 = progression, 2 = death).
    weights : array-like of float, optional
        IPTW weights; zero-weight patients are dropped.
    causes : sequence, optional
        Codes of the causes, in reporting order (default: the nonzero codes present, sorted).
    cause_labels : sequence of str, optional
        Names of the causes (default: the codes).
    conf_type : {"log", "plain"}, default="log"
        Interval scale (R's default for ``pstate`` is ``"log"``).
    alpha : float, default=0.05

    Returns
    -------
    CumulativeIncidence

    Raises
    ------
    DataError
        Bad inputs; status codes that are neither 0 nor a cause.

    Notes
    -----
    Module docstring. Equal to R ``survfit(Surv(time, factor(status)) ~ 1, weights = w, id = id, robust =
    TRUE)``: ``pstate`` and ``std.err`` of the cause states, intervals ``exp(log F -/+ z se / F)``.

    Examples
    --------
    >>> r = cumulative_incidence([1, 2, 3, 4, 5], [1, 2, 0, 1, 1])
    >>> r.at(2, 1.0)["cif"].item()
    0.2
    """
    where = "cumulative_incidence"
    alpha = check_alpha(alpha, where)
    if conf_type not in ("log", "plain"):
        raise DataError(f"{where}: `conf_type` must be 'log' or 'plain' (got {conf_type!r}). Use 'log'.")
    t, s, w, causes = check_competing_inputs(time, status, weights, causes, where)
    labels = _labels(cause_labels, causes, where)
    keep = w > 0
    t, s, w = t[keep], s[keep], w[keep]
    if t.size == 0:
        raise DataError(f"{where}: all weights are zero (got sum 0). Check the weighting step.")
    tab = aj_table(t, s, w, causes)
    z = float(stats.norm.ppf(1 - alpha / 2))
    eye = np.eye(tab.time.size)
    frames = []
    for k, c in enumerate(causes):
        se = np.sqrt(np.sum(cif_influence(tab, w, k, eye) ** 2, axis=0))
        lo, hi = _ci(tab.cif[:, k], se, z, conf_type)
        frames.append(pd.DataFrame({"time": tab.time, "cause": c, "cause_label": labels[k], "cif": tab.cif[:, k],
                                    "std_err": se, "ci_low": lo, "ci_high": hi, "n_risk": tab.n_risk,
                                    "n_risk_raw": tab.n_risk_raw, "n_event": tab.n_event[:, k]}))
    return CumulativeIncidence(causes=causes, cause_labels=labels, table=pd.concat(frames, ignore_index=True),
                               conf_type=conf_type, alpha=alpha, n=int(t.size), weighted=weights is not None)


def _labels(cause_labels: Any, causes: tuple, where: str) -> tuple[str, ...]:
    if cause_labels is None:
        return tuple(str(_code(c)) for c in causes)
    labels = tuple(str(x) for x in cause_labels)
    if len(labels) != len(causes):
        raise DataError(f"{where}: `cause_labels` must name each cause (got {len(labels)} labels for "
                        f"{len(causes)} causes). Pass one label per cause code.")
    return labels


# ----------------------------------------------------------------------------------------------------
# two-arm comparison
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CompetingRisksComparison(EstimatesMixin):
    """Two-arm competing-risks comparison, aggregates only.

    Attributes
    ----------
    outcome, estimand, method : str
    arm_labels : (str, str)
    causes : tuple
    cause_labels : tuple of str
    curves : DataFrame
        :attr:`CumulativeIncidence.table` of each arm with an ``arm`` column.
    estimates : tuple of EffectEstimate
        Per cause (``extra["cause"]`` the label, ``note`` ``"cause: <label>"``): ``cif`` per arm and landmark,
        ``cif_diff`` and ``cif_ratio`` per landmark, ``rmtl`` per arm and ``rmtl_diff`` at the horizon, the
        cause-specific hazard ratio ``cs_hr`` (robust SE) and ``cs_logrank_p`` (design-based weighted log-rank,
        its score, SE and z in ``extra``).
    alpha : float
    warnings : tuple of str
    """

    outcome: str
    estimand: str
    method: str
    arm_labels: tuple[str, str]
    causes: tuple
    cause_labels: tuple[str, ...]
    curves: pd.DataFrame
    estimates: tuple[EffectEstimate, ...]
    alpha: float
    warnings: tuple[str, ...] = ()

    def get_cause(self, measure: str, cause: str, contrast: str | None = None, time: float | None = None
                  ) -> EffectEstimate:
        """The estimate of ``measure`` for the cause labelled ``cause`` (see :meth:`get`).

        Raises
        ------
        KeyError
            No such estimate.
        """
        for e in self.estimates:
            if e.measure == measure and e.extra.get("cause") == cause and (contrast is None or e.contrast == contrast) \
                    and (time is None or (math.isfinite(e.time) and abs(e.time - time) < 1e-9)):
                return e
        raise KeyError(f"CompetingRisksComparison.get_cause: no estimate {measure!r} for cause {cause!r} "
                       f"(contrast={contrast!r}, time={time!r}); causes: {list(self.cause_labels)}")

    def summary(self) -> str:
        head = (f"{self.outcome} (competing risks: {', '.join(self.cause_labels)}): {self.arm_labels[1]} vs "
                f"{self.arm_labels[0]} ({self.method}, estimand {self.estimand})")
        return "\n".join([head] + ["  " + e.summary() for e in self.estimates]
                         + ["  warning: " + w for w in self.warnings])

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "estimand": self.estimand, "method": self.method,
                "arm_labels": list(self.arm_labels), "causes": [json_safe(c) for c in self.causes],
                "cause_labels": list(self.cause_labels), "alpha": self.alpha,
                "estimates": [e.to_dict() for e in self.estimates],
                "curves": [{k: json_safe(v) for k, v in r.items()} for r in self.curves.to_dict(orient="records")],
                "warnings": list(self.warnings)}


def compare_cif(time: Any, status: Any, treatment: Any, *, weights: Any = None, outcome: str,
                arm_labels: tuple[str, str], causes: Any = None, cause_labels: Any = None, estimand: str = "none",
                method: str | None = None, landmarks: Any = (), horizon: float | None = None,
                alpha: float = 0.05) -> CompetingRisksComparison:
    r"""Compare cumulative incidences between two arms: CIF per arm, differences and ratios at landmarks,
    restricted mean time lost, cause-specific hazard ratios and log-rank tests.

    Parameters
    ----------
    time, status
        As :func:`cumulative_incidence`.
    treatment : array-like of {0, 1}
        0 for ``arm_labels[0]`` (reference), 1 for ``arm_labels[1]``.
    weights : array-like of float, optional
        IPTW weights (e.g. :func:`gistcausal.stats.weights.compute_weights`).
    outcome : str
        Outcome name carried by every estimate.
    arm_labels : (str, str)
        Names of the reference and the compared arm (required).
    causes, cause_labels
        As :func:`cumulative_incidence`.
    estimand : str, default="none"
        The estimand the weights target; ``"none"`` when unweighted.
    method : str, optional
        Label of the estimates; ``"iptw"`` with weights, ``"unadjusted"`` without (the default).
    landmarks : sequence of float
        Times of the CIF, its difference (``cif_diff``) and ratio (``cif_ratio``); within both arms' follow-up.
    horizon : float, optional
        :math:`\tau` of the restricted mean time lost (``rmtl``, ``rmtl_diff``).
    alpha : float, default=0.05

    Returns
    -------
    CompetingRisksComparison

    Raises
    ------
    DataError
        Bad inputs; landmarks or horizon beyond an arm's follow-up.
    CohortError
        An arm without patients of positive weight.

    Notes
    -----
    Module docstring. Variances treat the weights as known (IJ per arm, arms independent; the robust Cox
    sandwich), as ``survfit(..., weights = w, id = id, robust = TRUE)`` and ``coxph(..., robust = TRUE)``;
    bootstrap the pipeline to include the estimation of the propensity score. Differences are Wald on the
    identity scale, ratios on the log scale.
    """
    where = "compare_cif"
    alpha = check_alpha(alpha, where)
    if estimand != "none":
        check_estimand(estimand, where=where)
    t, s, w, causes = check_competing_inputs(time, status, weights, causes, where)
    labels = _labels(cause_labels, causes, where)
    a = as_float(treatment, "treatment", where)
    if a.size != t.size or not np.isin(a, (0.0, 1.0)).all():
        raise DataError(f"{where}: `treatment` must be 0/1 with one value per patient (got {a.size} values, "
                        f"{int((~np.isin(a, (0.0, 1.0))).sum())} not 0/1). Code {arm_labels[0]} as 0 and "
                        f"{arm_labels[1]} as 1.")
    keep = w > 0
    t, s, w, a = t[keep], s[keep], w[keep], a[keep]
    for k in (0, 1):
        if not np.any(a == k):
            raise CohortError(f"{where}: arm '{arm_labels[k]}' is empty (got 0 patients with positive weight). "
                              f"Check the cohort definition and treatment coding.")
    method = method or ("unadjusted" if weights is None else "iptw")
    arms = [a == 0, a == 1]
    tabs = [aj_table(t[m], s[m], w[m], causes) for m in arms]
    last = min(float(tb.time[-1]) for tb in tabs)
    lm = np.asarray(check_landmarks(landmarks, last, where), dtype=float)
    tau = None if horizon is None else check_horizon(horizon, last, where, "horizon")
    z = float(stats.norm.ppf(1 - alpha / 2))
    common = {"outcome": outcome, "estimand": estimand, "method": method, "variance": "robust"}
    contrast = f"{arm_labels[1]} vs {arm_labels[0]}"
    n_arm = [int(m.sum()) for m in arms]
    est: list[EffectEstimate] = []
    curves = []
    for j, m in enumerate(arms):
        ci = cumulative_incidence(t[m], s[m], weights=w[m] if weights is not None else None, causes=causes,
                                  cause_labels=labels, alpha=alpha)
        curves.append(ci.table.assign(arm=arm_labels[j]))
    for k, lab in enumerate(labels):
        tag = {"note": f"cause: {lab}"}
        ex = {"cause": lab, "cause_code": _code(causes[k])}
        vals, ses = [], []
        for j, m in enumerate(arms):
            W, pos = _unit_columns(tabs[j].time, lm)
            v = np.where(pos >= 0, tabs[j].cif[np.maximum(pos, 0), k], 0.0)
            se = np.sqrt(np.sum(cif_influence(tabs[j], w[m], k, W) ** 2, axis=0))
            vals.append(v)
            ses.append(se)
        for i, x in enumerate(lm):
            for j in (0, 1):
                v, se = float(vals[j][i]), float(ses[j][i])
                lo, hi = (float(q[0]) for q in _ci(np.array([v]), np.array([se]), z, "log"))
                est.append(EffectEstimate(**common, contrast=arm_labels[j], measure="cif", value=v, ci_low=lo,
                                          ci_high=hi, se=se, n=n_arm[j], time=float(x), extra=dict(ex),
                                          **tag, scale="identity"))
            est += _contrasts(vals, ses, i, float(x), z, common, contrast, sum(n_arm), ex, tag)
        if tau is not None:
            est += _rmtl(tabs, arms, w, k, tau, z, common, contrast, arm_labels, n_arm, ex, tag)
        est += _cause_specific(t, s, a, w if weights is not None else None, causes[k], alpha, common, contrast,
                               sum(n_arm), ex, tag)
    return CompetingRisksComparison(outcome=outcome, estimand=estimand, method=method,
                                    arm_labels=(str(arm_labels[0]), str(arm_labels[1])), causes=causes,
                                    cause_labels=labels, curves=pd.concat(curves, ignore_index=True),
                                    estimates=tuple(est), alpha=alpha)


def _wald_p(v: float, se: float) -> float:
    return float(2 * stats.norm.sf(abs(v) / se)) if se > 0 and math.isfinite(v) else math.nan


def _contrasts(vals: list, ses: list, i: int, x: float, z: float, common: dict, contrast: str, n: int, ex: dict,
               tag: dict) -> list[EffectEstimate]:
    (v0, v1), (s0, s1) = (vals[0][i], vals[1][i]), (ses[0][i], ses[1][i])
    d, sd = float(v1 - v0), float(math.hypot(s0, s1))
    out = [EffectEstimate(**common, contrast=contrast, measure="cif_diff", value=d, ci_low=d - z * sd,
                          ci_high=d + z * sd, se=sd, p=_wald_p(d, sd), n=n, time=x, extra=dict(ex), **tag)]
    if v0 > 0 and v1 > 0:
        lr, sl = float(math.log(v1 / v0)), float(math.hypot(s0 / v0, s1 / v1))
        out.append(EffectEstimate(**common, contrast=contrast, measure="cif_ratio", value=math.exp(lr),
                                  ci_low=math.exp(lr - z * sl), ci_high=math.exp(lr + z * sl), se=sl,
                                  p=_wald_p(lr, sl), n=n, time=x, scale="log", extra=dict(ex), **tag))
    else:
        out.append(EffectEstimate(**common, contrast=contrast, measure="cif_ratio", value=math.nan, n=n, time=x,
                                  scale="log", extra=dict(ex),
                                  note=f"{tag['note']}; not estimable: no events of this cause by t={x:g} in an arm"))
    return out


def _rmtl(tabs: list, arms: list, w: np.ndarray, k: int, tau: float, z: float, common: dict, contrast: str,
          arm_labels: tuple[str, str], n_arm: list[int], ex: dict, tag: dict) -> list[EffectEstimate]:
    vals, ses, out = [], [], []
    for j, m in enumerate(arms):
        W = _rmtl_widths(tabs[j].time, tau)
        v = float(W[:, 0] @ tabs[j].cif[:, k])
        se = float(np.sqrt(np.sum(cif_influence(tabs[j], w[m], k, W) ** 2)))
        vals.append(v)
        ses.append(se)
        out.append(EffectEstimate(**common, contrast=arm_labels[j], measure="rmtl", value=v, ci_low=v - z * se,
                                  ci_high=v + z * se, se=se, n=n_arm[j], time=tau, extra=dict(ex), **tag))
    d, sd = vals[1] - vals[0], math.hypot(*ses)
    out.append(EffectEstimate(**common, contrast=contrast, measure="rmtl_diff", value=d, ci_low=d - z * sd,
                              ci_high=d + z * sd, se=sd, p=_wald_p(d, sd), n=sum(n_arm), time=tau, extra=dict(ex),
                              **tag))
    return out


def _cause_specific(t: np.ndarray, s: np.ndarray, a: np.ndarray, w: np.ndarray | None, cause: float, alpha: float,
                    common: dict, contrast: str, n: int, ex: dict, tag: dict) -> list[EffectEstimate]:
    """Cause-specific Cox HR (other causes censored; robust SE when weighted) and the log-rank test."""
    ev = (s == cause).astype(float)
    var = "robust" if w is not None else "model"
    c = {**common, "variance": var}
    out = []
    try:
        fit = cox_fit(t, ev, a[:, None], weights=w, robust=w is not None, alpha=alpha, names=["treatment"])
        out.append(EffectEstimate(**c, contrast=contrast, measure="cs_hr", value=float(fit.hr[0]),
                                  ci_low=float(np.exp(fit.ci_low[0])), ci_high=float(np.exp(fit.ci_high[0])),
                                  se=float(fit.robust_se[0] if w is not None else fit.se[0]), p=float(fit.p[0]), n=n,
                                  scale="log", extra=dict(ex), **tag))
    except ModelFitError as err:
        out.append(EffectEstimate(**c, contrast=contrast, measure="cs_hr", value=math.nan, n=n, scale="log",
                                  extra=dict(ex), note=f"{tag['note']}; not estimable: " + str(err).split(": ", 1)[-1]))
    lr = logrank_test(t, ev, a, weights=w)
    out.append(EffectEstimate(**c, contrast=contrast, measure="cs_logrank_p", value=lr.p, p=lr.p, n=lr.n,
                              extra={**ex, "statistic": lr.statistic, "df": lr.df, "score": lr.score, "se": lr.se,
                                     "z": lr.z, "test": lr.method}, **tag))
    return out


__all__ = ["AJTable", "aj_table", "cif_influence", "CumulativeIncidence", "cumulative_incidence",
           "CompetingRisksComparison", "compare_cif", "check_competing_inputs"]
