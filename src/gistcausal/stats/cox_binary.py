r"""Cox model with one binary covariate (a treatment), from per-distinct-time aggregates by arm.

The hazard ratio of a two-arm comparison (:func:`gistcausal.stats.comparison.compare_survival`) is a Cox
model whose only covariate is the 0/1 treatment :math:`a`, weighted (IPTW) or not. Its partial likelihood,
score, information and score residuals then depend on the data only through sums by arm at each distinct
time, which are formed once (O(n) after the sort); every Newton-Raphson iteration is a handful of operations
on arrays of length the number of events, with no exponential, reduction or cumulative sum over the patients.
The numbers are those of :func:`gistcausal.stats.cox.cox_fit_detail` and :func:`gistcausal.stats.cox.cox_zph`
(same checks, errors, warnings, iteration and stopping rule), up to rounding (about 1e-13 relative; the tests
compare both paths).

Formulas (uncentred treatment; the general path centres it, which changes nothing but the rounding). For
distinct time :math:`t_j`: :math:`S^a_j = \sum_{i: t_i \ge t_j, a_i = a} w_i` (weight at risk in arm
:math:`a`), :math:`D^a_j = \sum_{i: t_i = t_j, a_i = a} w_i \delta_i` (weight of its deaths),
:math:`d_j` the number of deaths and :math:`\bar w_j = (D^0_j + D^1_j)/d_j` their mean weight. Efron's
:math:`k`-th of the :math:`d_j` tied deaths (:math:`f = k/d_j`; Breslow: one term with :math:`f = 0` and
weight :math:`D^0_j + D^1_j`) has arm-wise risk weights :math:`A^a_{jk} = S^a_j - f D^a_j`, and with
:math:`r = e^\beta`

.. math::
    \rho_{jk} = A^0_{jk} + r A^1_{jk},\qquad p_{jk} = r A^1_{jk} / \rho_{jk}

(the weighted share of arm 1 in the Efron-adjusted risk set). Then

.. math::
    \ell(\beta) = \beta D^1 - \sum_{jk} \bar w_{jk} \log \rho_{jk},\quad
    U(\beta) = D^1 - \sum_{jk} \bar w_{jk} p_{jk},\quad
    I(\beta) = \sum_{jk} \bar w_{jk} p_{jk} (1 - p_{jk}),

with :math:`D^1 = \sum_j D^1_j`. The score residual of a patient (arm :math:`a`, death indicator
:math:`\delta`, time :math:`t_j`) is that of :func:`gistcausal.stats.cox.cox_score_residuals`,

.. math::
    s = \delta (a - \bar x_j) - e^{\beta a}\{a H_j - X_j - \delta (a h^f_j - x^f_j)\},

with :math:`h_{jk} = \bar w_{jk} / \rho_{jk}`, :math:`H_j = \sum_{j' \le j} \sum_k h_{j'k}`,
:math:`X_j = \sum_{j' \le j} \sum_k h_{j'k} p_{j'k}`, :math:`h^f_j = \sum_k f_k h_{jk}`,
:math:`x^f_j = \sum_k f_k h_{jk} p_{jk}` and :math:`\bar x_j` the mean of :math:`p_{jk}` over
:math:`k`; it takes four values per distinct time (arm x death), so the robust variance
:math:`\sum_i (w_i s_i / I)^2` needs only the sums of :math:`w_i^2` in those four groups.
The ``cox.zph`` test uses :math:`U_j = D^1_j - \sum_k \bar w_{jk} p_{jk}` and
:math:`\sum_j g_j^m I_j` (:math:`m = 1, 2`) in the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from gistcausal.errors import DataError, ModelFitError
from gistcausal.stats.cox import (CoxResult, Ties, ZphResult, _cox_inputs, _warn_not_converged, newton_halving,
                                  scalar_newton_step)


@dataclass(frozen=True, slots=True)
class BinaryCoxData:
    """Per-distinct-time sums by arm of a one-binary-covariate Cox model (:func:`binary_cox_fit_detail`).

    Arrays of length the number of distinct times (``m``) or of expanded Efron death rows (``nexp``); no
    patient rows, but still kernel data: never stored in a result.
    """

    t: np.ndarray        # (m,) distinct times
    count: np.ndarray    # (m,) patients (positive weight) per distinct time
    nd: np.ndarray       # (m,) number of deaths
    d1: np.ndarray       # (m,) weight of the deaths in arm 1
    w2: np.ndarray       # (m, 4) sum of w^2 by (arm 0 censored, arm 0 death, arm 1 censored, arm 1 death)
    dt: np.ndarray       # distinct times with a death
    rep: np.ndarray      # (nexp,) expanded (time, k) rows: index into dt
    frac: np.ndarray     # (nexp,) k / d for Efron, 0 for Breslow
    a0: np.ndarray       # (nexp,) Efron risk weight of arm 0
    a1: np.ndarray       # (nexp,) Efron risk weight of arm 1
    meanwt: np.ndarray   # (nexp,)
    d1_total: float      # D^1
    efron: bool
    one_per_time: bool   # one expanded row per death time (Breslow, or no tied deaths): rep is arange


def binary_cox_prepare(t: np.ndarray, e: np.ndarray, w: np.ndarray, a: np.ndarray, ties: str) -> BinaryCoxData:
    """The sums of :class:`BinaryCoxData` from checked ``t``, ``e`` (0/1), ``w`` (> 0) and ``a`` (0/1).

    Unchecked fast path, as :func:`gistcausal.stats.cox.cox_prepare`: zero weights already dropped. Rows
    already in time order (the plasmode's replicates) are not sorted again.
    """
    if t.size > 1 and not np.all(t[1:] >= t[:-1]):
        order = np.argsort(t, kind="stable")
        t, e, w, a = t[order], e[order], w[order], a[order]
    first = np.r_[True, t[1:] != t[:-1]]
    start = np.flatnonzero(first)
    m = start.size
    # one key per (distinct time, arm, death): three bincounts give every sum (few full-length temporaries)
    key = np.cumsum(first)
    key -= 1
    key <<= 2
    key += (2.0 * a + e).astype(np.int64)     # 0: arm 0 censored, 1: arm 0 death, 2: arm 1 censored, 3: arm 1 death
    cnt = np.bincount(key, minlength=4 * m).reshape(m, 4)
    if np.all(w == 1.0):                      # unweighted: every sum of weights (and of their squares) is a count
        sw = sw2 = cnt.astype(float)
    else:
        sw = np.bincount(key, weights=w, minlength=4 * m).reshape(m, 4)
        sw2 = np.bincount(key, weights=w * w, minlength=4 * m).reshape(m, 4)
    n0, n1 = sw[:, 0] + sw[:, 1], sw[:, 2] + sw[:, 3]
    d0, d1 = sw[:, 1], sw[:, 3]
    wd = d0 + d1
    nd = (cnt[:, 1] + cnt[:, 3]).astype(float)
    s1 = np.cumsum(n1[::-1])[::-1]
    s0 = np.cumsum(n0[::-1])[::-1]
    dt = np.flatnonzero(nd > 0)
    ndt = nd[dt].astype(np.int64)
    single = bool(np.all(ndt == 1))            # no tied deaths: Efron's expansion is one row per death time
    if ties == "efron" and not single:
        rep = np.repeat(np.arange(dt.size), ndt)
        k = np.arange(rep.size) - np.repeat(np.cumsum(ndt) - ndt, ndt)
        frac = k / ndt[rep]
        meanwt = (wd[dt] / nd[dt])[rep]
        jj = dt[rep]
        a0, a1 = s0[jj] - frac * d0[jj], s1[jj] - frac * d1[jj]
    else:                                      # Breslow, or Efron with d = 1 everywhere (k = 0, mean weight = wd)
        rep = np.arange(dt.size)
        frac = np.zeros(dt.size)
        meanwt = wd[dt]
        a0, a1 = s0[dt], s1[dt]
    # patients per distinct time: the gaps between the group starts (a row sum of the (m, 4) counts, its result,
    # took 4 ms at 229,000 rows: a reduction along a short axis)
    count = np.diff(np.append(start, t.size)).astype(float)
    return BinaryCoxData(t=t[start], count=count, nd=nd, d1=np.ascontiguousarray(d1),
                         w2=sw2, dt=dt, rep=rep, frac=frac, a0=a0, a1=a1, meanwt=meanwt,
                         d1_total=float(d1.sum()), efron=ties == "efron", one_per_time=single or ties != "efron")


class BinaryCoxPieces(NamedTuple):
    """Log partial likelihood, score and information at one ``beta`` (:func:`binary_cox_pieces`)."""

    beta: float
    loglik: float
    score: float
    info: float
    p: np.ndarray        # (nexp,) share of arm 1 in each Efron risk set
    denom: np.ndarray    # (nexp,) rho_jk = A0 + e^beta A1


def binary_cox_pieces(s: BinaryCoxData, beta: float) -> BinaryCoxPieces:
    r""":math:`\ell(\beta)`, :math:`U(\beta)` and :math:`I(\beta)` of the module's formulas, O(number of events)."""
    r = math.exp(beta)
    num = r * s.a1
    denom = s.a0 + num
    p = num / denom
    # equal to the general path's, whose linear predictor is centred: the shift cancels (sum of meanwt = D)
    loglik = float(beta * s.d1_total - s.meanwt @ np.log(denom))
    return BinaryCoxPieces(beta=beta, loglik=loglik, score=float(s.d1_total - s.meanwt @ p),
                           info=float(s.meanwt @ (p * (1.0 - p))), p=p, denom=denom)


class BinaryCoxNewton(NamedTuple):
    """What :func:`binary_cox_newton` returns (the fields of :class:`gistcausal.stats.cox.CoxNewton`)."""

    beta: float
    pieces: BinaryCoxPieces
    initial: BinaryCoxPieces
    iterations: int
    converged: bool
    rel_change: float
    last_step: np.ndarray


def binary_cox_newton(s: BinaryCoxData, *, initial: BinaryCoxPieces | None = None, max_iter: int = 30,
                      tol: float = 1e-10, where: str = "cox_newton") -> BinaryCoxNewton:
    """Newton-Raphson with step-halving from beta = 0: :func:`gistcausal.stats.cox.cox_newton` step for step
    (same direction U/I, the same halving and stopping rule, the same error), on the sums of ``s``."""
    initial = binary_cox_pieces(s, 0.0) if initial is None else initial
    beta, cur, it, converged, rel_change, last_step = newton_halving(
        lambda b: binary_cox_pieces(s, b), lambda c, i: scalar_newton_step(c.score, c.info, i, where), 0.0,
        initial, max_iter=max_iter, tol=tol)
    return BinaryCoxNewton(beta=beta, pieces=cur, initial=initial, iterations=it, converged=converged,
                           rel_change=rel_change, last_step=np.array([last_step]))


def _robust_sum(s: BinaryCoxData, cur: BinaryCoxPieces) -> float:
    r""":math:`\sum_i w_i^2 s_i^2` with the score residuals :math:`s_i` of the module's formulas at ``cur.beta``."""
    m, nt = s.nd.size, s.dt.size
    h = s.meanwt / cur.denom
    hp, hf = h * cur.p, s.frac * h
    per_dt = [v if s.one_per_time else np.bincount(s.rep, weights=v, minlength=nt)
              for v in (h, hf, hp, hf * cur.p, cur.p)]
    if s.efron:
        per_dt[4] = per_dt[4] / s.nd[s.dt]    # mean of p over the d_j expanded rows (Breslow: one row)
    hj, hfj, xh, xhf, xavg = (np.zeros(m) for _ in range(5))
    for arr, v in zip((hj, hfj, xh, xhf, xavg), per_dt):
        arr[s.dt] = v
    big_h, big_x = np.cumsum(hj), np.cumsum(xh)
    r1 = math.exp(cur.beta)
    # (arm 1, death), (arm 1, censored), (arm 0, death), (arm 0, censored); arm 0 has e^{beta a} = 1
    s11 = (1.0 - xavg) - r1 * (big_h - big_x - (hfj - xhf))
    s10 = -r1 * (big_h - big_x)
    s01 = -xavg + big_x - xhf
    s00 = big_x
    return float(s.w2[:, 3] @ s11 ** 2 + s.w2[:, 2] @ s10 ** 2 + s.w2[:, 1] @ s01 ** 2 + s.w2[:, 0] @ s00 ** 2)


class BinaryCoxFitDetail(NamedTuple):
    """What :func:`binary_cox_fit_detail` returns: the result and the sums it was computed from (kernel data:
    pass to :func:`binary_cox_zph`, never store in a result)."""

    fit: CoxResult
    data: BinaryCoxData
    pieces: BinaryCoxPieces      # at beta-hat


def binary_cox_fit_detail(time: Any, event: Any, treatment: Any, *, weights: Any = None,
                          robust: bool | None = None, ties: Ties = "efron", alpha: float = 0.05,
                          name: str = "treatment", max_iter: int = 30, tol: float = 1e-10) -> BinaryCoxFitDetail:
    r""":func:`gistcausal.stats.cox.cox_fit_detail` of the one-column design ``treatment`` (0/1), fast.

    Parameters
    ----------
    time, event, weights, robust, ties, alpha, max_iter, tol
        As :func:`gistcausal.stats.cox.cox_fit`: the same checks, errors, convergence warnings and result.
    treatment : array-like of {0, 1}
        The only covariate.
    name : str, default="treatment"
        Its term name.

    Returns
    -------
    BinaryCoxFitDetail
        ``fit`` equals ``cox_fit_detail(time, event, treatment[:, None], ...).fit`` up to rounding (coefficient,
        model and robust SE, score test, log-likelihoods; about 1e-13 relative).

    Raises
    ------
    DataError
        As :func:`gistcausal.stats.cox.cox_fit`; also a ``treatment`` not coded 0/1.
    ModelFitError
        As :func:`gistcausal.stats.cox.cox_fit` (no events, an arm with no positive weight or no events).

    Notes
    -----
    The module's formulas; model variance :math:`1/I(\hat\beta)`, robust variance
    :math:`\sum_i (w_i s_i)^2 / I(\hat\beta)^2` (R ``coxph(..., robust = TRUE)``), score test
    :math:`U(0)^2 / I(0)`.
    """
    where = "cox_fit"
    t, e, w, x, cols, _ = _cox_inputs(time, event, treatment, weights, ties, (name,), where, alpha=alpha)
    a = x[:, 0]
    if not ((a == 0.0) | (a == 1.0)).all():
        raise DataError(f"binary_cox_fit_detail: `treatment` must be coded 0/1 (got "
                        f"{int(((a != 0.0) & (a != 1.0)).sum())} other values). Code the reference arm 0 "
                        f"and the compared arm 1.")
    alpha = float(alpha)
    s = binary_cox_prepare(t, e, w, a, ties)
    initial = binary_cox_pieces(s, 0.0)
    if initial.info == 0.0:
        raise ModelFitError(f"{where}: the information matrix is singular (got 1 covariates). Remove "
                            f"collinear covariates.")
    score_test = initial.score * (initial.score / initial.info)
    fit = binary_cox_newton(s, initial=initial, max_iter=max_iter, tol=tol, where=where)
    _warn_not_converged(fit, cols, max_iter, tol, where, stacklevel=3)   # point at our caller
    cur = fit.pieces
    var_model = 1.0 / cur.info
    var_robust = _robust_sum(s, cur) * var_model ** 2
    use_robust = (weights is not None) if robust is None else bool(robust)
    var = var_robust if use_robust else var_model
    beta = np.array([fit.beta])
    se_used = np.sqrt(np.array([var]))
    z = beta / se_used
    zq = stats.norm.ppf(1 - alpha / 2)
    res = CoxResult(names=cols, coef=beta, se=np.sqrt(np.array([var_model])),
                    robust_se=np.sqrt(np.array([var_robust])), z=z, p=2 * stats.norm.sf(np.abs(z)),
                    ci_low=beta - zq * se_used, ci_high=beta + zq * se_used, var=np.array([[var]]),
                    loglik=(fit.initial.loglik, cur.loglik), n=int(t.size), n_event=int(e.sum()),
                    ties=ties, variance="robust" if use_robust else "model", alpha=alpha,
                    iterations=fit.iterations, converged=fit.converged, weighted=weights is not None,
                    score_test=float(score_test))
    return BinaryCoxFitDetail(fit=res, data=s, pieces=cur)


def _time_scale(s: BinaryCoxData, transform: str) -> np.ndarray:
    """:func:`gistcausal.stats.cox._transform_sorted` at each distinct time (its value is shared by the rows)."""
    if transform == "identity":
        return s.t.copy()
    if transform == "log":
        return np.log(s.t)
    if transform == "rank":
        start = np.cumsum(s.count) - s.count
        return start + (s.count + 1.0) / 2.0          # the average rank of the tied rows, as rankdata
    if transform == "km":
        n_risk = np.cumsum(s.count[::-1])[::-1]
        surv = np.cumprod(1.0 - s.nd / n_risk)
        return 1.0 - np.r_[1.0, surv[:-1]]             # left-continuous
    raise DataError(f"cox_zph: `transform` must be one of 'km', 'identity', 'rank', 'log' (got "
                    f"{transform!r}). Use 'km', R's default.")


def binary_cox_zph(detail: BinaryCoxFitDetail, *, transform: str = "km") -> ZphResult:
    r""":func:`gistcausal.stats.cox.cox_zph` of a :func:`binary_cox_fit_detail` fit, from its sums.

    Parameters
    ----------
    detail : BinaryCoxFitDetail
    transform : {"km", "identity", "rank", "log"}, default="km"
        As :func:`gistcausal.stats.cox.cox_zph`.

    Returns
    -------
    ZphResult
        Equal to ``cox_zph(..., detail=cox_fit_detail(...))`` up to rounding.

    Notes
    -----
    With :math:`g_j` the centred time scale at death time :math:`t_j` (centred by its mean over the
    deaths), :math:`u = \sum_j g_j U_j(\hat\beta)` and :math:`\chi^2 = (0, u) J^{-1} (0, u)^\top` with
    :math:`J = [I, \sum_j g_j I_j; \sum_j g_j I_j, \sum_j g_j^2 I_j]`; with one covariate the term test
    and GLOBAL coincide.
    """
    s, cur = detail.data, detail.pieces
    tt = _time_scale(s, transform)[s.dt]
    g_dt = tt - (s.nd[s.dt] @ tt) / s.nd[s.dt].sum()
    g = g_dt[s.rep]
    v = s.meanwt * cur.p * (1.0 - cur.p)
    wp = s.meanwt * cur.p
    u_j = s.d1[s.dt] - (wp if s.one_per_time else np.bincount(s.rep, weights=wp, minlength=s.dt.size))
    u = np.array([0.0, float(g_dt @ u_j)])
    i_bg = float(g @ v)
    imat = np.array([[cur.info, i_bg], [i_bg, float((g * g) @ v)]])
    c = float(u @ np.linalg.solve(imat, u))
    chisq, df = np.array([c, c]), np.array([1.0, 1.0])
    return ZphResult(names=detail.fit.names, chisq=chisq, df=df, p=stats.chi2.sf(chisq, df), transform=transform)


__all__ = ["BinaryCoxData", "BinaryCoxFitDetail", "binary_cox_fit_detail", "binary_cox_newton",
           "binary_cox_pieces", "binary_cox_prepare", "binary_cox_zph"]
