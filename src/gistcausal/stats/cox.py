"""Vectorized weighted Cox proportional-hazards model with robust (sandwich) variance and cox.zph.

One sort of the data; at each Newton-Raphson iteration the risk-set sums are reverse cumulative sums
over distinct times, the Efron terms for tied deaths are expanded over the deaths only (``np.repeat``
plus ``np.bincount``), and the information matrix is a single weighted Gram matrix: the cost per
iteration is O(n p^2) after an O(n log n) sort, with memory O(n p). The score (dfbeta) residuals
behind the robust variance are also obtained from cumulative sums, never by an O(n^2) risk matrix.

Everything matches R ``survival::coxph(Surv(time, event) ~ X, weights = w, robust = TRUE,
ties = "efron")`` and ``cox.zph`` (survival >= 3.0) to 1e-6, including tied times; see
``tests/reference/cox/make_cox.R``. lifelines is not used: its weighted robust variance ignores the
Efron decomposition of tied deaths in the score residuals.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal._checks import check_alpha, check_survival_inputs
from gistcausal.errors import ConvergenceWarning, DataError, ModelFitError
from gistcausal.stats.km import kaplan_meier

Ties = Literal["efron", "breslow"]


def cox_design(X: Any, n: int, where: str, names: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """Covariates as a finite float (n, p) array and their term names (DataFrame columns, ``names`` or x1..xp).

    Raises
    ------
    DataError
        Non-numeric or non-finite covariates, a row count other than ``n``, names not matching the columns.
    """
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        cols = tuple(str(c) for c in X.columns)
        try:
            arr = X.to_numpy(dtype=float)
        except (TypeError, ValueError) as err:
            raise DataError(f"{where}: covariates must be numeric (got dtypes "
                            f"{sorted(set(str(t) for t in X.dtypes))}). Encode categories as 0/1 "
                            f"columns first.") from err
    else:
        arr = np.asarray(X, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        cols = tuple(f"x{j + 1}" for j in range(arr.shape[1]))
    if names is not None:
        cols = tuple(str(c) for c in names)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise DataError(f"{where}: `X` must have one row per patient (got shape {arr.shape} for {n} "
                        f"times). Pass a 2-D array or DataFrame with {n} rows.")
    if len(cols) != arr.shape[1]:
        raise DataError(f"{where}: `names` must name every column of X (got {len(cols)} names for "
                        f"{arr.shape[1]} columns). Pass one name per column.")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise DataError(f"{where}: covariates must be finite (got {bad} missing or infinite values). "
                        f"Impute or drop these rows first.")
    return arr, cols


@dataclass(frozen=True, slots=True)
class CoxData:
    """Sorted data and tie structure of a Cox fit, built by :func:`cox_prepare`.

    Patient rows: for the kernels (:func:`cox_pieces`, :func:`cox_newton`, :func:`cox_score_residuals`) and
    their callers only, never stored in a result.
    """

    x: np.ndarray        # centred covariates, sorted by time
    w: np.ndarray
    d: np.ndarray        # event indicator (float)
    t: np.ndarray
    start: np.ndarray    # first row of each distinct time
    idx: np.ndarray      # distinct-time index of each row
    nd: np.ndarray       # number of deaths (count) at each distinct time
    wd: np.ndarray       # weight of deaths at each distinct time
    dt: np.ndarray       # distinct times with a death
    rep: np.ndarray      # expanded (time, k) rows: index into dt
    frac: np.ndarray     # k / d for Efron, 0 for Breslow
    efron: bool


def cox_prepare(t: np.ndarray, e: np.ndarray, w: np.ndarray, x: np.ndarray, ties: str, *,
                order: np.ndarray | slice | None = None) -> CoxData:
    """Sort once by time (stable), centre the covariates and expand tied deaths (Efron) or not (Breslow).

    Unchecked fast path: ``t``, ``e`` (0/1), ``w`` (> 0) and ``x`` (n, p) already validated, zero weights
    dropped (as :func:`cox_fit` does). Rows of every kernel output are in ``np.argsort(t, kind="stable")``
    order.

    ``order`` is that permutation when the caller already has it (several models on the same times, e.g.
    the two strategies' censoring models of :mod:`gistcausal.stats.ccw`); it is trusted, not checked.
    ``slice(None)`` says the rows already are in that order (``t`` non-decreasing): no sort and no copy.
    """
    if order is None:
        order = np.argsort(t, kind="stable")
    ts, es, ws, xs = t[order], e[order], w[order], x[order]
    xs = xs - (ws @ xs) / ws.sum()        # centring as coxph does; results are invariant to it
    first = np.r_[True, ts[1:] != ts[:-1]]
    start = np.flatnonzero(first)
    idx = np.cumsum(first) - 1
    nd = np.add.reduceat(es, start)
    wd = np.add.reduceat(ws * es, start)
    dt = np.flatnonzero(nd > 0)
    ndt = nd[dt].astype(np.int64)
    if ties == "efron":
        rep = np.repeat(np.arange(dt.size), ndt)
        k = np.arange(rep.size) - np.repeat(np.cumsum(ndt) - ndt, ndt)
        frac = k / ndt[rep]
    else:
        rep = np.arange(dt.size)
        frac = np.zeros(dt.size)
    return CoxData(x=xs, w=ws, d=es, t=ts, start=start, idx=idx, nd=nd, wd=wd, dt=dt, rep=rep,
                   frac=frac, efron=ties == "efron")


@dataclass(frozen=True, slots=True)
class CoxPieces:
    """Log partial likelihood, score and information at one ``beta`` (:func:`cox_pieces`)."""

    loglik: float
    score: np.ndarray
    info: np.ndarray
    rr: np.ndarray       # w exp(eta)
    risk: np.ndarray     # exp(eta)
    h: np.ndarray        # hazard increment per expanded (time, k) row
    xbar: np.ndarray     # covariate mean per expanded row
    meanwt: np.ndarray   # per expanded row


def _rev_cumsum(a: np.ndarray) -> np.ndarray:
    return np.cumsum(a[::-1], axis=0)[::-1]


def cox_pieces(s: CoxData, beta: np.ndarray, *, want_info: bool = True) -> CoxPieces:
    """Weighted Efron (or Breslow) log partial likelihood, score and information at ``beta``, O(n p^2)."""
    eta = s.x @ beta
    risk = np.exp(eta)
    rr = s.w * risk
    r = _rev_cumsum(np.add.reduceat(rr, s.start))
    a = _rev_cumsum(np.add.reduceat(rr[:, None] * s.x, s.start, axis=0))
    jj = s.dt[s.rep]
    # Efron: each of the d tied deaths carries their average weight; Breslow: one term, total weight
    meanwt = (s.wd[s.dt] / s.nd[s.dt])[s.rep] if s.efron else s.wd[s.dt]
    if s.efron:
        rrd = rr * s.d
        e = np.add.reduceat(rrd, s.start)
        a2 = np.add.reduceat(rrd[:, None] * s.x, s.start, axis=0)
        denom = r[jj] - s.frac * e[jj]
        xbar = (a[jj] - s.frac[:, None] * a2[jj]) / denom[:, None]
    else:                               # frac = 0: the death-set sums drop out
        denom = r[jj]
        xbar = a[jj] / denom[:, None]
    h = meanwt / denom
    loglik = float(np.sum(s.w * s.d * eta) - np.sum(meanwt * np.log(denom)))
    score = (s.w * s.d) @ s.x - meanwt @ xbar
    info = np.empty((0, 0))
    if want_info:
        info = _info(s, rr, h, xbar, meanwt, np.ones(s.dt.size))
    return CoxPieces(loglik=loglik, score=score, info=info, rr=rr, risk=risk, h=h, xbar=xbar,
                   meanwt=meanwt)


def newton_halving(pieces: Callable[[Any], Any], step: Callable[[Any, int], Any], beta: Any, cur: Any, *,
                   max_iter: int, tol: float) -> tuple[Any, Any, int, bool, float, Any]:
    """R ``coxph``'s iteration (``agfit``), whatever computes the log partial likelihood and its derivatives.

    ``pieces(beta)`` returns an object with ``loglik`` (and what ``step`` reads); ``step(cur, it)`` the Newton
    direction :math:`I^{-1} U` at ``cur`` (raising when the information is singular). Each iteration halves the
    step towards ``beta`` while the log partial likelihood decreases (at most 30 halvings) and the iteration
    stops when its relative change is below ``tol`` and every coefficient moved less than 1e-7. Shared by
    :func:`cox_newton` (any design, per-row sums) and :func:`gistcausal.stats.cox_binary.binary_cox_newton`
    (one 0/1 column, per-time sums), so both stop by the same rule.

    Returns ``(beta, pieces at beta, iterations, converged, last relative change, |last step|)``.
    """
    converged = False
    it = 0
    rel_change = math.inf
    last_step = np.full(np.shape(beta), np.inf)
    for it in range(1, max_iter + 1):
        new_beta = beta + step(cur, it)
        new = pieces(new_beta)
        halvings = 0
        while not (new.loglik >= cur.loglik - 1e-12 * abs(cur.loglik)) and halvings < 30:
            new_beta = (new_beta + beta) / 2
            new = pieces(new_beta)
            halvings += 1
        rel_change = abs(1 - cur.loglik / new.loglik)
        last_step = np.abs(new_beta - beta)
        beta, cur = new_beta, new
        if rel_change < tol and np.max(last_step) < 1e-7:
            converged = True
            break
    return beta, cur, it, converged, rel_change, last_step


class CoxNewton(NamedTuple):
    """What :func:`cox_newton` returns (patient-free, but ``pieces`` holds per-row arrays: kernels only)."""

    beta: np.ndarray
    pieces: CoxPieces        # at ``beta``
    initial: CoxPieces       # at beta = 0 (null log-likelihood and score test)
    iterations: int
    converged: bool
    rel_change: float        # last relative change of the log partial likelihood
    last_step: np.ndarray    # |beta change| of the last iteration


def scalar_newton_step(score: Any, info: float, it: int, where: str) -> Any:
    """Newton direction U / I of a one-coefficient model (the bootstrap's path, the one-binary-covariate fit of
    :mod:`gistcausal.stats.cox_binary`); a non-positive information is singular."""
    if not info > 0:
        raise ModelFitError(f"{where}: the information matrix became singular at iteration {it} (got "
                            f"1 covariates). Remove collinear covariates.")
    return score / info


def _newton_step(cur: CoxPieces, q: int, it: int, where: str) -> np.ndarray:
    """Newton direction I^{-1} U; a scalar division for one coefficient (:func:`scalar_newton_step`)."""
    if q == 1:
        return scalar_newton_step(cur.score, cur.info[0, 0], it, where)
    try:
        return np.linalg.solve(cur.info, cur.score)
    except np.linalg.LinAlgError as err:
        raise ModelFitError(f"{where}: the information matrix became singular at iteration {it} (got "
                            f"{q} covariates). Remove collinear covariates.") from err


def cox_newton(s: CoxData, *, initial: CoxPieces | None = None, beta0: np.ndarray | None = None,
               max_iter: int = 30, tol: float = 1e-10, where: str = "cox_newton") -> CoxNewton:
    """Newton-Raphson with step-halving from beta = 0, as R's ``coxph`` (``agfit``): the one Cox iteration.

    Used by :func:`cox_fit` and by the bootstrap's replicates (:mod:`gistcausal.inference.bootstrap`), so
    both stop by the same rule: relative change of the log partial likelihood below ``tol`` and every
    coefficient step below 1e-7.

    ``beta0`` starts the iteration elsewhere than 0 (a warm start: a bootstrap replicate from the full-data
    coefficients, which are then one or two Newton steps away; the log partial likelihood is concave, so
    the same maximum is reached, to the stopping rule's precision). ``initial`` is :func:`cox_pieces` at the
    start (beta = 0, or ``beta0``) when the caller already has it; ``CoxNewton.initial`` is at the start.

    Raises
    ------
    ModelFitError
        The information matrix is singular at some iteration (collinear covariates, or no information).
    """
    q = s.x.shape[1]
    beta = np.zeros(q) if beta0 is None else np.array(beta0, dtype=float).reshape(q)
    initial = cox_pieces(s, beta) if initial is None else initial
    beta, cur, it, converged, rel_change, last_step = newton_halving(
        lambda b: cox_pieces(s, b), lambda c, i: _newton_step(c, q, i, where), beta, initial,
        max_iter=max_iter, tol=tol)
    return CoxNewton(beta=beta, pieces=cur, initial=initial, iterations=it, converged=converged,
                     rel_change=rel_change, last_step=last_step)


def _info(s: CoxData, rr: np.ndarray, h: np.ndarray, xbar: np.ndarray, meanwt: np.ndarray,
          g: np.ndarray) -> np.ndarray:
    """sum_j g_j I_j, I_j the information contributed by death time j (g = 1: the usual one).

    The risk-set second moments never get materialised per time: sum_j g_j c_j A2_j equals
    X' diag(rr * cumsum(g c)[idx]) X, one Gram matrix.
    """
    m = s.nd.size
    gr = g[s.rep]
    c = np.zeros(m)
    c[s.dt] = np.bincount(s.rep, weights=gr * h, minlength=s.dt.size)
    if s.efron:
        cf = np.zeros(m)
        cf[s.dt] = np.bincount(s.rep, weights=gr * s.frac * h, minlength=s.dt.size)
        diag = rr * (np.cumsum(c)[s.idx] - s.d * cf[s.idx])
    else:                               # frac = 0
        diag = rr * np.cumsum(c)[s.idx]
    info = (s.x * diag[:, None]).T @ s.x
    info -= (xbar * (gr * meanwt)[:, None]).T @ xbar
    return info


def cox_score_residuals(s: CoxData, p: CoxPieces) -> np.ndarray:
    """Per-row score residuals (unweighted, as R ``residuals(fit, "score")``), in the sorted order of ``s``.

    ``(s.w[:, None] * cox_score_residuals(s, p)) @ inv(p.info)`` are the dfbeta rows behind the robust
    variance; summed within clusters they give R's ``cluster = id`` variance.

    Efron: the k-th of d tied deaths at t_j has hazard h_jk and mean xbar_jk; a subject dying at t_j
    is in that risk set with weight (1 - k/d), one censored or dying later with weight 1.
    """
    m = s.nd.size
    nexp = s.rep.size
    q = s.x.shape[1]
    hj = np.zeros(m)
    hj[s.dt] = np.bincount(s.rep, weights=p.h, minlength=s.dt.size)
    hfj = np.zeros(m)
    hfj[s.dt] = np.bincount(s.rep, weights=s.frac * p.h, minlength=s.dt.size)
    xh = np.zeros((m, q))
    xhf = np.zeros((m, q))
    xavg = np.zeros((m, q))
    for k in range(q):
        xh[s.dt, k] = np.bincount(s.rep, weights=p.h * p.xbar[:, k], minlength=s.dt.size)
        xhf[s.dt, k] = np.bincount(s.rep, weights=s.frac * p.h * p.xbar[:, k], minlength=s.dt.size)
        xavg[s.dt, k] = np.bincount(s.rep, weights=p.xbar[:, k], minlength=s.dt.size)
    xavg[s.dt] /= np.bincount(s.rep, minlength=s.dt.size)[:, None] if nexp else 1.0
    H = np.cumsum(hj)[s.idx]
    XH = np.cumsum(xh, axis=0)[s.idx]
    risk_part = s.x * H[:, None] - XH
    risk_part -= s.d[:, None] * (s.x * hfj[s.idx, None] - xhf[s.idx])
    return s.d[:, None] * (s.x - xavg[s.idx]) - p.risk[:, None] * risk_part


def cox_dfbeta(s: CoxData, p: CoxPieces, var_model: np.ndarray | None = None) -> np.ndarray:
    r"""dfbeta rows :math:`D_i = w_i s_i^\top I^{-1}` in the sorted order of ``s`` (:func:`cox_score_residuals`).

    ``var_model`` is :math:`I^{-1}` when the caller already has it; :math:`\sum_i D_i D_i^\top` is the
    robust variance of :func:`cox_fit`.
    """
    if var_model is None:
        var_model = np.linalg.inv(p.info)
    return (s.w[:, None] * cox_score_residuals(s, p)) @ var_model


@dataclass(frozen=True, slots=True)
class CoxResult:
    """A fitted Cox model: coefficients on the log-hazard scale and their uncertainty.

    ``se`` is the model-based SE (inverse information), ``robust_se`` the sandwich SE (R's
    ``robust = TRUE``); ``z``, ``p`` and the interval use the variance named in ``variance``.
    """

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    var: np.ndarray
    loglik: tuple[float, float]
    n: int
    n_event: int
    ties: str
    variance: str
    alpha: float
    iterations: int
    converged: bool
    weighted: bool
    score_test: float

    @property
    def hr(self) -> np.ndarray:
        return np.exp(self.coef)

    @property
    def ci(self) -> tuple[np.ndarray, np.ndarray]:
        """Interval for the coefficients (log-hazard scale)."""
        return (self.ci_low, self.ci_high)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"term": list(self.names), "coef": self.coef, "se": self.se,
                             "robust_se": self.robust_se, "z": self.z, "p": self.p,
                             "hr": self.hr, "hr_ci_low": np.exp(self.ci_low),
                             "hr_ci_high": np.exp(self.ci_high), "variance": self.variance})

    def to_dict(self) -> dict[str, Any]:
        def c(v: float) -> float | None:
            return None if not math.isfinite(v) else float(v)
        return {"terms": [{k: (c(v) if isinstance(v, float) else v) for k, v in row.items()}
                          for row in self.to_frame().to_dict(orient="records")],
                "loglik": [c(v) for v in self.loglik], "n": self.n, "n_event": self.n_event,
                "ties": self.ties, "variance": self.variance, "alpha": self.alpha,
                "iterations": self.iterations, "converged": self.converged,
                "weighted": self.weighted, "score_test": c(self.score_test)}

    def summary(self) -> str:
        lvl = round(100 * (1 - self.alpha))
        lines = [f"Cox model ({self.ties} ties; {self.variance} variance): n={self.n}, "
                 f"events={self.n_event}"]
        for i, name in enumerate(self.names):
            lines.append(f"  {name}: HR {math.exp(self.coef[i]):.3g} ({lvl}% CI "
                         f"{math.exp(self.ci_low[i]):.3g} to {math.exp(self.ci_high[i]):.3g}), "
                         f"p = {self.p[i]:.3g}")
        return "\n".join(lines)


def _two_levels(col: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``col`` when there are at most two, else its first three distinct values.

    What :func:`_check_estimable` needs of ``np.unique(col)`` (the level count up to 3, and both levels of a
    binary column), in O(n) instead of a sort of every continuous covariate.
    """
    diff = col != col[0]
    if not diff.any():
        return col[:1].copy()
    v1 = col[int(np.argmax(diff))]
    rest = diff & (col != v1)
    if not rest.any():
        return np.sort(np.array([col[0], v1]))
    return np.array([col[0], v1, col[int(np.argmax(rest))]])


def _check_estimable(x: np.ndarray, e: np.ndarray, names: tuple[str, ...], where: str) -> None:
    """A binary covariate whose events all sit in one level has an infinite MLE: say so."""
    for j, name in enumerate(names):
        col = x[:, j]
        lv = _two_levels(col)
        if lv.size == 1:
            raise ModelFitError(f"{where}: covariate '{name}' is constant (got the single value "
                                f"{lv[0]:g}). Drop it from the model.")
        if lv.size == 2:
            ev = [int(e[col == v].sum()) for v in lv]
            if min(ev) == 0:
                empty = lv[int(np.argmin(ev))]
                # counts before their noun ("2 events"), so the report's small-cell suppression finds them; a
                # level's value never before "events" ("x = 1 (got events" was read as 1 event and printed "<5")
                raise ModelFitError(f"{where}: hazard ratio for '{name}' not estimable: no events among patients "
                                    f"with {name} = {empty:g} ({ev[0]} events at {lv[0]:g}, {ev[1]} events at "
                                    f"{lv[1]:g}). Report the event counts instead of a hazard ratio, or "
                                    f"lengthen follow-up.")


def cox_fit(time: Any, event: Any, X: Any, *, weights: Any = None, robust: bool | None = None,
            ties: Ties = "efron", alpha: float = 0.05, names: Any = None, max_iter: int = 30,
            tol: float = 1e-10) -> CoxResult:
    r"""Weighted Cox proportional-hazards regression by Newton-Raphson with step-halving.

    Parameters
    ----------
    time, event
        As :func:`gistcausal.stats.km.kaplan_meier`.
    X : array-like or DataFrame, shape (n, p)
        Covariates (numeric; encode categories as 0/1 columns). DataFrame columns name the terms.
    weights : array-like, optional
        Case or IPTW weights. Zero-weight rows are dropped first (R's ``coxph`` refuses them).
    robust : bool, optional
        Use the sandwich variance for ``z``/``p``/intervals. Default: True when weighted.
        ``robust_se`` is always reported.
    ties : {"efron", "breslow"}, default="efron"
    alpha : float, default=0.05
    names : sequence of str, optional
        Term names overriding the DataFrame columns.
    max_iter, tol
        Newton-Raphson limits; convergence when the relative log-likelihood change is below ``tol``
        (R uses 1e-9; a tighter default makes results independent of the path).

    Returns
    -------
    CoxResult

    Raises
    ------
    DataError
        Bad inputs (see :func:`gistcausal.stats.km.kaplan_meier`), non-finite covariates.
    ModelFitError
        No events, a constant covariate, or a binary covariate with no events in one level
        (infinite hazard ratio: not estimable).

    Notes
    -----
    Efron's weighted partial log-likelihood (as R): for distinct death time :math:`t_j` with
    :math:`d_j` tied deaths of mean weight :math:`\bar w_j`, risk-set sum
    :math:`R_j = \sum_{i \in R(t_j)} w_i e^{\eta_i}` and death-set sum :math:`E_j`,

    .. math:: \ell(\beta) = \sum_i w_i \delta_i \eta_i - \sum_j \bar w_j \sum_{k=0}^{d_j-1}
              \log(R_j - \tfrac{k}{d_j} E_j).

    Robust variance :math:`D^\top D` with dfbeta rows :math:`D_i = w_i s_i^\top I^{-1}` and
    :math:`s_i` the Efron score residuals (Lin & Wei 1989; Binder 1992), as
    ``coxph(..., robust = TRUE)`` without clusters.

    References
    ----------
    Efron B (1977). JASA 72:557-565. Lin DY, Wei LJ (1989). JASA 84:1074-1078. Therneau TM,
    Grambsch PM (2000). Modeling Survival Data. Springer.
    """
    return _cox_fit_detail(time, event, X, weights, robust, ties, alpha, names, max_iter, tol, "cox_fit").fit


class CoxFitDetail(NamedTuple):
    """What :func:`cox_fit_detail` returns: the result and the kernels' pieces it was computed from.

    ``data`` and ``pieces`` hold patient rows (kernels only: pass them to :func:`cox_zph` as ``detail``,
    never store them in a result).
    """

    fit: CoxResult
    data: CoxData            # sorted, centred data of the fit (zero-weight rows dropped)
    pieces: CoxPieces        # cox_pieces(data, fit.coef): score, information, hazard increments at beta-hat


def cox_fit_detail(time: Any, event: Any, X: Any, *, weights: Any = None, robust: bool | None = None,
                   ties: Ties = "efron", alpha: float = 0.05, names: Any = None, max_iter: int = 30,
                   tol: float = 1e-10) -> CoxFitDetail:
    r""":func:`cox_fit` (same arguments, checks and result) together with its sorted data and final pieces.

    For a caller that tests the same fit next (:func:`cox_zph` with ``detail=``), which then neither
    re-validates, re-sorts nor re-evaluates the risk-set sums at :math:`\hat\beta`
    (:func:`gistcausal.stats.comparison.compare_survival`).
    """
    return _cox_fit_detail(time, event, X, weights, robust, ties, alpha, names, max_iter, tol, "cox_fit")


def _cox_fit_detail(time: Any, event: Any, X: Any, weights: Any, robust: bool | None, ties: str, alpha: float,
                    names: Any, max_iter: int, tol: float, where: str) -> CoxFitDetail:
    t, e, w, x, cols, _ = _cox_inputs(time, event, X, weights, ties, names, where, alpha=alpha)
    alpha = float(alpha)
    s = cox_prepare(t, e, w, x, ties)
    initial = cox_pieces(s, np.zeros(x.shape[1]))
    score_test = _score_test(initial, where)
    fit = cox_newton(s, initial=initial, max_iter=max_iter, tol=tol, where=where)
    _warn_not_converged(fit, cols, max_iter, tol, where, stacklevel=4)   # point at cox_fit's caller
    beta, cur = fit.beta, fit.pieces
    var_model = np.linalg.inv(cur.info)
    dfbeta = cox_dfbeta(s, cur, var_model)
    var_robust = dfbeta.T @ dfbeta
    use_robust = (weights is not None) if robust is None else bool(robust)
    var = var_robust if use_robust else var_model
    se_used = np.sqrt(np.diag(var))
    z = beta / se_used
    zq = stats.norm.ppf(1 - alpha / 2)
    res = CoxResult(names=cols, coef=beta, se=np.sqrt(np.diag(var_model)),
                     robust_se=np.sqrt(np.diag(var_robust)), z=z, p=2 * stats.norm.sf(np.abs(z)),
                     ci_low=beta - zq * se_used, ci_high=beta + zq * se_used, var=var,
                     loglik=(fit.initial.loglik, cur.loglik), n=int(t.size), n_event=int(e.sum()),
                     ties=ties, variance="robust" if use_robust else "model", alpha=alpha,
                     iterations=fit.iterations, converged=fit.converged, weighted=weights is not None,
                     score_test=score_test)
    return CoxFitDetail(fit=res, data=s, pieces=cur)


def _cox_inputs(time: Any, event: Any, X: Any, weights: Any, ties: str, names: Any, where: str, *,
                alpha: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...],
                                            np.ndarray | None]:
    """Checked ``t, e, w, x``, the term names and the kept-row mask (None when no zero weight was dropped).

    Raises what :func:`cox_fit` documents, in its order (``alpha`` checked after the survival inputs).
    """
    t, e, w = check_survival_inputs(time, event, weights, where)
    if alpha is not None:
        check_alpha(alpha, where)
    x, cols = cox_design(X, t.size, where, names)
    if ties not in ("efron", "breslow"):
        raise DataError(f"{where}: `ties` must be 'efron' or 'breslow' (got {ties!r}). Use 'efron', "
                        f"R's default.")
    keep = w > 0
    if keep.all():
        keep = None
    else:
        t, e, w, x = t[keep], e[keep], w[keep], x[keep]
    if e.sum() == 0:
        raise ModelFitError(f"{where}: no events (got 0 events in {t.size} patients). A hazard ratio "
                            f"needs events; report the follow-up instead.")
    _check_estimable(x, e, cols, where)
    return t, e, w, x, cols, keep


def cox_coef(time: Any, event: Any, X: Any, *, weights: Any = None, ties: Ties = "efron", names: Any = None,
             beta0: Any = None, order: np.ndarray | slice | None = None, max_iter: int = 30,
             tol: float = 1e-10) -> np.ndarray:
    r"""The coefficients of :func:`cox_fit` only: no variance, no score residuals, no score test.

    For callers that use the fitted linear predictor and nothing else (the censoring models of
    :mod:`gistcausal.stats.ccw` and their bootstrap refits), where the robust variance of :func:`cox_fit`
    would cost more than the fit.

    Parameters
    ----------
    time, event, X, weights, ties, names, max_iter, tol
        As :func:`cox_fit`; the same checks, errors and convergence warnings.
    beta0 : array-like, optional
        Start of the Newton-Raphson iteration (default 0, as :func:`cox_fit`); a bootstrap replicate starts
        from the full-data coefficients (:func:`cox_newton`).
    order : ndarray of int, optional
        ``np.argsort(time, kind="stable")`` when the caller already has it (several models on the same times);
        ``slice(None)`` when ``time`` is already non-decreasing (:func:`cox_prepare`).

    Returns
    -------
    ndarray, shape (p,)
        :math:`\hat\beta`, equal to ``cox_fit(...).coef`` up to the stopping rule of :func:`cox_newton`.

    Raises
    ------
    DataError, ModelFitError
        As :func:`cox_fit`; also a singular information matrix at an iteration.
    """
    where = "cox_coef"
    t, e, w, x, cols, keep = _cox_inputs(time, event, X, weights, ties, names, where)
    if isinstance(order, np.ndarray) and keep is not None:
        # the kept rows in the caller's order, renumbered among the kept rows
        order = (np.cumsum(keep) - 1)[order[keep[order]]]
    s = cox_prepare(t, e, w, x, ties, order=order)
    fit = cox_newton(s, beta0=beta0, max_iter=max_iter, tol=tol, where=where)
    _warn_not_converged(fit, cols, max_iter, tol, where)
    return fit.beta


def _score_test(cur: CoxPieces, where: str) -> float:
    """Score test of beta = 0, U' I^{-1} U at beta = 0 (R's ``score`` in ``summary(coxph)``)."""
    try:
        step0 = np.linalg.solve(cur.info, cur.score)
    except np.linalg.LinAlgError as err:
        raise ModelFitError(f"{where}: the information matrix is singular (got {cur.score.size} covariates). "
                            f"Remove collinear covariates.") from err
    return float(cur.score @ step0)


def _warn_not_converged(fit: CoxNewton, cols: tuple[str, ...], max_iter: int, tol: float, where: str,
                        stacklevel: int = 3) -> None:
    if fit.converged:
        return
    if fit.rel_change < 1e-9:
        # R: "Loglik converged before variable ...; coefficient may be infinite"
        bad = [cols[j] for j in np.flatnonzero(fit.last_step > 1e-4)]
        warnings.warn(f"{where}: the coefficient of {bad} may be infinite (got a log-likelihood "
                      f"that converged while the coefficient kept moving: monotone likelihood). "
                      f"Treat the hazard ratio as not estimable; check events per level.",
                      ConvergenceWarning, stacklevel=stacklevel)
    else:
        warnings.warn(f"{where}: Newton-Raphson did not converge in {max_iter} iterations (got "
                      f"last relative change above {tol:g}). Check for separation or rescale "
                      f"covariates.", ConvergenceWarning, stacklevel=stacklevel)


# ----------------------------------------------------------------------------------------------------
# proportional hazards: cox.zph
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ZphResult:
    """Score tests of proportional hazards per covariate and global, as R ``cox.zph``."""

    names: tuple[str, ...]
    chisq: np.ndarray
    df: np.ndarray
    p: np.ndarray
    transform: str

    @property
    def global_p(self) -> float:
        return float(self.p[-1])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"term": [*self.names, "GLOBAL"], "chisq": self.chisq, "df": self.df,
                             "p": self.p})

    def to_dict(self) -> dict[str, Any]:
        return {"transform": self.transform,
                "table": self.to_frame().to_dict(orient="records")}

    def summary(self) -> str:
        rows = [f"  {n}: chisq {c:.3g} on {d:g} df, p = {p:.3g}"
                for n, c, d, p in zip([*self.names, "GLOBAL"], self.chisq, self.df, self.p)]
        return f"Proportional hazards test (cox.zph, transform={self.transform}):\n" + "\n".join(rows)


def _transform_times(t: np.ndarray, e: np.ndarray, transform: str, where: str) -> np.ndarray:
    if transform == "identity":
        return t.copy()
    if transform == "log":
        return np.log(t)
    if transform == "rank":
        return stats.rankdata(t)
    if transform == "km":
        # R: 1 - left-continuous unweighted KM at each time (survfitKM(..., y) has no weights)
        km = kaplan_meier(t, e, variance="none")
        pos = np.searchsorted(km.time, t, side="left") - 1
        return 1.0 - np.where(pos >= 0, km.surv[np.maximum(pos, 0)], 1.0)
    raise DataError(f"{where}: `transform` must be one of 'km', 'identity', 'rank', 'log' (got "
                    f"{transform!r}). Use 'km', R's default.")


def _transform_sorted(s: CoxData, transform: str, where: str) -> np.ndarray:
    """:func:`_transform_times` of the rows of ``s``, which are already in time order (no sort).

    The "km" scale is the same arithmetic as :func:`kaplan_meier` unweighted (counts per distinct time,
    reverse cumulative numbers at risk, cumulative product), read one distinct time back.
    """
    if transform == "identity":
        return s.t.copy()
    if transform == "log":
        return np.log(s.t)
    if transform == "rank":
        return stats.rankdata(s.t)
    if transform == "km":
        n_tot = np.diff(np.append(s.start, s.t.size)).astype(float)
        n_risk = np.cumsum(n_tot[::-1])[::-1]
        surv = np.cumprod(1.0 - s.nd / n_risk)           # n_risk >= 1 at every distinct time
        return 1.0 - np.where(s.idx > 0, surv[np.maximum(s.idx - 1, 0)], 1.0)
    return _transform_times(s.t, s.d, transform, where)  # raises the message of an unknown transform


def _zph_core(time: Any, event: Any, X: Any, weights: Any, ties: str, transform: str,
              names: Any, where: str, coef: Any = None, detail: CoxFitDetail | None = None):
    if detail is not None:
        # the fit's own sorted data and pieces at beta-hat: no checks, sort or risk-set sums again
        fit, s, p = detail.fit, detail.data, detail.pieces
        cols = fit.names
        tt_sorted = _transform_sorted(s, transform, where)
        g_sorted = tt_sorted - tt_sorted[s.d == 1].mean()
    else:
        fit = cox_fit(time, event, X, weights=weights, ties=ties, names=names) if coef is None else None
        t, e, w = check_survival_inputs(time, event, weights, where)
        x, cols = cox_design(X, t.size, where, names)
        keep = w > 0
        t, e, w, x = t[keep], e[keep], w[keep], x[keep]
        tt = _transform_times(t, e, transform, where)
        gtime = tt - tt[e == 1].mean()
        s = cox_prepare(t, e, w, x, ties)
        p = cox_pieces(s, fit.coef if coef is None else np.asarray(coef, float).reshape(-1))
        order = np.argsort(t, kind="stable")
        g_sorted = gtime[order]
        tt_sorted = tt[order]
    g_dt = g_sorted[s.start[s.dt]]                     # one g per death time
    i_bb = p.info
    i_bg = _info(s, p.rr, p.h, p.xbar, p.meanwt, g_dt)
    i_gg = _info(s, p.rr, p.h, p.xbar, p.meanwt, g_dt ** 2)
    q = s.x.shape[1]
    # score per death time -> u_gamma = sum_j g_j U_j
    wdx = np.add.reduceat((s.w * s.d)[:, None] * s.x, s.start, axis=0)[s.dt]
    u_j = wdx.copy()
    for k in range(q):
        u_j[:, k] -= np.bincount(s.rep, weights=p.meanwt * p.xbar[:, k], minlength=s.dt.size)
    u_g = g_dt @ u_j
    imat = np.block([[i_bb, i_bg], [i_bg.T, i_gg]])
    u = np.r_[np.zeros(q), u_g]
    chisq = np.empty(q + 1)
    for j in range(q):
        kk = np.r_[np.arange(q), q + j]
        chisq[j] = float(u[kk] @ np.linalg.solve(imat[np.ix_(kk, kk)], u[kk]))
    chisq[q] = float(u @ np.linalg.solve(imat, u))
    df = np.r_[np.ones(q), q]
    return fit, cols, chisq, df, s, p, tt_sorted


def cox_zph(time: Any, event: Any, X: Any, *, weights: Any = None, ties: Ties = "efron",
            transform: str = "km", names: Any = None, coef: Any = None,
            detail: CoxFitDetail | None = None) -> ZphResult:
    r"""Test of proportional hazards, the score-test form of R ``cox.zph`` (survival >= 3.0).

    Parameters
    ----------
    time, event, X, weights, ties, names
        As :func:`cox_fit` (the model is fitted here; results objects hold no patient rows).
    transform : {"km", "identity", "rank", "log"}, default="km"
        Time scale :math:`g(t)`; ``"km"`` is 1 minus the left-continuous unweighted KM, as R.
    coef : array-like, optional
        :math:`\hat\beta` of a :func:`cox_fit` of the same data, weights and ties, which is then not refitted.
    detail : CoxFitDetail, optional
        :func:`cox_fit_detail` of the same ``time, event, X, weights, ties, names``: its sorted data and its
        pieces at :math:`\hat\beta` are used as they are (trusted, not checked), so the data are neither
        re-validated nor sorted again and the risk-set sums not recomputed; ``coef`` is then ignored. The
        statistics equal those of the default path up to the order of one mean over the events (about
        1e-16 relative).

    Returns
    -------
    ZphResult

    Notes
    -----
    For each covariate :math:`k`, the score test at :math:`(\hat\beta, 0)` of adding
    :math:`x_k\,\{g(t) - \bar g\}` (with :math:`\bar g` the mean over events):
    :math:`\chi^2 = u^\top I^{-1} u` with :math:`u = (0, \sum_j g_j U_j)` and
    :math:`I = [\sum I_j, \sum g_j I_j; \sum g_j I_j, \sum g_j^2 I_j]` restricted to
    :math:`\beta` and the tested term; GLOBAL tests all terms jointly.

    References
    ----------
    Grambsch PM, Therneau TM (1994). Biometrika 81:515-526. Therneau TM (2020), survival 3.x
    cox.zph documentation.
    """
    _, cols, chisq, df, *_ = _zph_core(time, event, X, weights, ties, transform, names, "cox_zph", coef, detail)
    return ZphResult(names=cols, chisq=chisq, df=df, p=stats.chi2.sf(chisq, df),
                     transform=transform)


def schoenfeld_residuals(time: Any, event: Any, X: Any, *, weights: Any = None,
                         ties: Ties = "efron", transform: str = "km",
                         names: Any = None) -> pd.DataFrame:
    r"""Scaled Schoenfeld residuals per event (R ``cox.zph(fit)$y`` and ``$x``), for plotting.

    Returns a DataFrame with columns ``time``, ``gtime`` (transformed time) and one column per term;
    it has one row per event, so it is for plots only and never stored in a results object.

    Notes
    -----
    Scaled residual :math:`\hat\beta + \{I/d\}^{-1} (x_i - \bar x(t_i))`, with the Efron mean
    averaged over tied deaths and :math:`d` the number of events (Grambsch & Therneau 1994).
    """
    fit, cols, _, _, s, p, tt_sorted = _zph_core(time, event, X, weights, ties, transform, names,
                                                 "schoenfeld_residuals")
    q = len(cols)
    xavg = np.zeros((s.nd.size, q))
    for k in range(q):
        xavg[s.dt, k] = np.bincount(s.rep, weights=p.xbar[:, k], minlength=s.dt.size)
    xavg[s.dt] /= np.bincount(s.rep, minlength=s.dt.size)[:, None]
    dead = s.d == 1
    raw = (s.x - xavg[s.idx])[dead]
    vmean = p.info / dead.sum()
    scaled = np.linalg.solve(vmean, raw.T).T + fit.coef
    out = pd.DataFrame(scaled, columns=list(cols))
    out.insert(0, "gtime", tt_sorted[dead])
    out.insert(0, "time", s.t[dead])
    return out


def cox_influence(time: Any, event: Any, X: Any, *, weights: Any = None, ties: Ties = "efron",
                  names: Any = None) -> tuple[CoxResult, np.ndarray]:
    r"""A fitted Cox model and its per-patient dfbeta terms :math:`D_i = w_i s_i^\top I^{-1}`.

    Parameters
    ----------
    time, event, X, weights, ties, names
        As :func:`cox_fit`.

    Returns
    -------
    fit : CoxResult
    dfbeta : ndarray, shape (n, p)
        Rows in the input order (zero for zero-weight patients, whom the fit drops). Patient level:
        the caller keeps it, results objects never do.

    Notes
    -----
    :math:`D_i` is the exact derivative :math:`w_i\,\partial\hat\beta/\partial w_i` (implicit function
    theorem on the weighted Efron score, whose derivative in :math:`w_i` is the score residual
    :math:`s_i`), and :math:`\sum_i D_i D_i^\top` is the robust variance of :func:`cox_fit`. It is
    computed again at :math:`\hat\beta` by the same O(n log n) cumulative sums.
    """
    fit = cox_fit(time, event, X, weights=weights, ties=ties, names=names)
    t, e, w = check_survival_inputs(time, event, weights, "cox_influence")
    x, _ = cox_design(X, t.size, "cox_influence", names)
    keep = w > 0
    s = cox_prepare(t[keep], e[keep], w[keep], x[keep], ties)
    p = cox_pieces(s, fit.coef)
    d_sorted = cox_dfbeta(s, p)
    order = np.argsort(t[keep], kind="stable")
    d_kept = np.empty_like(d_sorted)
    d_kept[order] = d_sorted
    out = np.zeros((t.size, x.shape[1]))
    out[keep] = d_kept
    return fit, out
