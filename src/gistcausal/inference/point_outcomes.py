r"""M-estimation and bootstrap variance for IPTW binary and continuous outcomes (estimated propensity score).

The estimators are those of :mod:`gistcausal.stats.binary` (Hajek means per arm, risk difference, risk ratio,
odds ratio, mean difference); this module only adds the variance that accounts for the estimation of the
weights, through the same kernels (:func:`~gistcausal.stats.binary.point_terms`).

M-estimation: the stack is the logistic propensity score equations :math:`X_i(A_i - e_i)` (plus
:math:`A_i - p_1` for stabilized ATE weights) and the weighted mean equations
:math:`w_i(\Gamma) 1[A_i = a](Y_i - \mu_a)`. As for survival (:mod:`gistcausal.inference.mestimation`, whose
propensity block :func:`~gistcausal.inference.mestimation.dlog_weights` and correction
:func:`~gistcausal.inference.mestimation.ps_corrected` are reused), the :math:`\mu` block of the sandwich
:math:`A^{-1}BA^{-\top}` is :math:`\sum_i \mathrm{IF}_i\mathrm{IF}_i^\top` with
:math:`\mathrm{IF}_i = D_i + G\,\mathrm{IF}_{\Gamma,i}`, :math:`G = \sum_i D_i (\partial \log w_i /
\partial\Gamma)^\top`, where :math:`D_i` are the weights-known (HC0) influence terms; contrasts (including the log
risk and odds ratios) use the delta method on the stacked terms. This equals R ``WeightIt::glm_weightit``'s
M-estimation vcov for the saturated model (Lunceford & Davidian 2004; Reifeis & Hudgens 2022); the tests check it
against a finite-difference sandwich of the stacked equations.

Bootstrap: patients resampled within each arm, the logistic propensity model refitted and the weights recomputed
(:func:`~gistcausal.stats.weights.weight_values`) in every replicate, percentile or BCa intervals (as
:mod:`gistcausal.inference.bootstrap`, whose :class:`~gistcausal.inference.bootstrap.BootstrapResult` and
:func:`~gistcausal.inference.bootstrap.bca_interval` are reused; ratios on the log scale).

References
----------
Lunceford JK, Davidian M (2004). Stat Med 23:2937-2960.
Reifeis SA, Hudgens MG (2022). On variance of the treatment effect in the treated when estimated by inverse
probability weighting. Am J Epidemiol 191:1092-1097.
Stefanski LA, Boos DD (2002). The calculus of M-estimation. Am Stat 56:29-38.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from gistcausal._checks import check_alpha, check_estimand, check_random_state
from gistcausal.effects import EffectEstimate
from gistcausal.errors import DataError, ModelFitError, PositivityError, SeparationError, SmallSampleWarning
from gistcausal.inference.bootstrap import FAILURE_WARN_SHARE, BootstrapResult, bca_interval, check_ci
from gistcausal.inference.mestimation import dlog_weights, ps_corrected
from gistcausal.stats.logistic import logistic_newton
from gistcausal.stats.binary import LOG_MEASURES, check_point_inputs, point_estimates, point_terms
from gistcausal.stats.weights import compute_weights, weight_values


def _check_kind(kind: str, where: str) -> str:
    if kind not in ("binary", "continuous"):
        raise DataError(f"{where}: `kind` must be 'binary' or 'continuous' (got {kind!r}). Pick the outcome's "
                        f"type.")
    return kind


def _design(X: Any, n: int, where: str) -> np.ndarray:
    Xa = np.asarray(X, dtype=float)
    if Xa.ndim != 2 or Xa.shape[0] != n:
        raise DataError(f"{where}: X must have one row per patient (got shape {Xa.shape} for {n} patients). "
                        f"Pass the propensity design matrix with its intercept column.")
    return Xa


def m_estimation_point(y: Any, treatment: Any, X: Any, *, kind: Literal["binary", "continuous"], outcome: str,
                       estimand: str, stabilize: bool = False, trim: Any = None, ps_coef: Any = None,
                       alpha: float = 0.05, arm_labels: tuple[str, str]) -> tuple[EffectEstimate, ...]:
    r"""IPTW binary/continuous-outcome estimates with the M-estimation (stacked sandwich) variance.

    Parameters
    ----------
    y : array-like
        Outcome (0/1 for ``kind="binary"``), one per patient.
    treatment : array-like of {0, 1}
    X : array-like, shape (n, p)
        Logistic propensity design matrix, intercept included.
    kind : {"binary", "continuous"}
    outcome : str
    estimand : {"ATE", "ATT", "ATC", "ATO", "matching"}
    stabilize : bool, default=False
        Stabilized ATE weights (adds :math:`p_1` to the stack).
    trim : "crump" or (low, high), optional
        As :func:`gistcausal.stats.weights.compute_weights`; the kept set is treated as fixed.
    ps_coef : array-like, optional
        Logistic coefficients; fitted by :func:`~gistcausal.stats.logistic.logistic_newton` when omitted.
    alpha : float, default=0.05
    arm_labels : (str, str)

    Returns
    -------
    tuple of EffectEstimate
        As :func:`gistcausal.stats.binary.compare_binary` / ``compare_continuous`` with
        ``variance="m_estimation"`` and ``extra["se_weights_known"]`` (the HC0 SE).
    """
    where = "m_estimation_point"
    _check_kind(kind, where)
    alpha = check_alpha(alpha, where)
    check_estimand(estimand, where=where, stabilize=stabilize)
    yy, a, _ = check_point_inputs(y, treatment, None, kind, arm_labels, where)
    Xa = _design(X, yy.size, where)
    gamma = logistic_newton(Xa, a, where=where)[0] if ps_coef is None else np.asarray(ps_coef, dtype=float)
    e = special.expit(Xa @ gamma)
    wr = compute_weights(e, a.astype(int), estimand=estimand, stabilize=stabilize, trim=trim)
    w = wr.weights
    terms = point_terms(yy, a, w, kind)
    if_gamma, dlogw = dlog_weights(Xa, a, e, estimand=estimand, stabilize=stabilize, kept=wr.kept)
    full = ps_corrected(terms.influence, if_gamma, dlogw)
    se = np.sqrt(np.sum(full ** 2, axis=0))
    se_known = np.sqrt(np.sum(terms.influence ** 2, axis=0))
    n_arm = (int(np.sum(wr.kept & (a == 0))), int(np.sum(wr.kept & (a == 1))))
    est = point_estimates(terms, se, outcome=outcome, estimand=estimand, method="iptw", variance="m_estimation",
                          alpha=alpha, arm_labels=arm_labels, n_arm=n_arm)
    return tuple(dataclasses.replace(x, extra={**x.extra, "se_weights_known": float(se_known[j])})
                 for j, x in enumerate(est))


def _replicate(y: np.ndarray, a: np.ndarray, X: np.ndarray, idx: np.ndarray, kind: str, estimand: str,
               stabilize: bool, trim: Any, truncate: Any) -> np.ndarray | str:
    """The statistic vector of one resample, or the failure reason."""
    Xb, ab = X[idx], a[idx]
    keep = np.ones(Xb.shape[1], dtype=bool)
    keep[1:] = Xb[:, 1:].max(axis=0) > Xb[:, 1:].min(axis=0)   # a level nobody drew: aliased, as R glm's NA
    try:
        beta = logistic_newton(Xb[:, keep], ab, where="bootstrap_point")[0]
        e = special.expit(Xb[:, keep] @ beta)
        w = weight_values(e, ab, estimand=estimand, stabilize=stabilize, trim=trim, truncate=truncate).weights
    except SeparationError:
        return "separation"
    except ModelFitError:
        return "propensity_fit"
    except PositivityError:
        return "positivity"
    except DataError:            # an arm emptied by trimming
        return "empty_arm"
    m = w > 0
    return point_terms(y[idx][m], ab[m], w[m], kind).value


def bootstrap_point(y: Any, treatment: Any, X: Any, *, kind: Literal["binary", "continuous"], outcome: str,
                    estimand: str, stabilize: bool = False, trim: Any = None, truncate: Any = None,
                    n_boot: int = 2000, ci: Literal["percentile", "bca"] = "percentile", alpha: float = 0.05,
                    random_state: int | None = None, arm_labels: tuple[str, str]) -> BootstrapResult:
    """Bootstrap of the whole IPTW pipeline (logistic propensity refit, weights, Hajek means) for a binary or
    continuous outcome.

    Parameters
    ----------
    y, treatment, X, kind, outcome, estimand, stabilize, trim, alpha, arm_labels
        As :func:`m_estimation_point`.
    truncate : (low, high), optional
        Weight percentiles, as :func:`gistcausal.stats.weights.compute_weights`.
    n_boot : int, default=2000
    ci : {"percentile", "bca"}, default="percentile"
    random_state : int, optional
        Replicate *b* uses ``default_rng(SeedSequence(random_state).spawn(n_boot)[b])``, as the survival
        bootstrap.

    Returns
    -------
    BootstrapResult
        ``variance="bootstrap_percentile"`` or ``"bootstrap_bca"``; ratios bootstrapped on the log scale; the
        replicate table has one column per statistic.
    """
    where = "bootstrap_point"
    _check_kind(kind, where)
    n_boot = check_ci(ci, n_boot, alpha, where)
    check_estimand(estimand, where=where, stabilize=stabilize)
    random_state = check_random_state(random_state, where)
    yy, a, _ = check_point_inputs(y, treatment, None, kind, arm_labels, where)
    Xa = _design(X, yy.size, where)
    n = yy.size
    args = (kind, estimand, bool(stabilize), trim, truncate)
    theta = _replicate(yy, a, Xa, np.arange(n), *args)
    if isinstance(theta, str):
        raise ModelFitError(f"{where}: the analysis cannot be computed on the full data (got reason '{theta}'). "
                            f"Fix the analysis before bootstrapping it.")
    keys = point_terms(yy[:2], np.array([0.0, 1.0]), np.ones(2), kind).keys
    i0, i1 = np.flatnonzero(a == 0), np.flatnonzero(a == 1)
    ok: list[tuple[int, np.ndarray]] = []
    failed: dict[str, int] = {}
    for b, seed in enumerate(np.random.SeedSequence(random_state).spawn(n_boot)):
        rng = np.random.default_rng(seed)
        idx = np.r_[i0[rng.integers(0, i0.size, i0.size)], i1[rng.integers(0, i1.size, i1.size)]]
        v = _replicate(yy, a, Xa, idx, *args)
        if isinstance(v, str):
            failed[v] = failed.get(v, 0) + 1
        else:
            ok.append((b, v))
    if len(ok) < 10:
        raise ModelFitError(f"{where}: too few successful replicates for an interval (got {len(ok)} of {n_boot}; "
                            f"failed: {failed}). Simplify the propensity model.")
    caught: list[str] = []
    n_fail = n_boot - len(ok)
    if n_fail > FAILURE_WARN_SHARE * n_boot:
        msg = (f"{where}: {100 * n_fail / n_boot:.1f}% of bootstrap replicates failed for '{outcome}' (got "
               f"{n_fail} of {n_boot}). Intervals use the {len(ok)} successful replicates; simplify the "
               f"propensity model or merge sparse levels.")
        warnings.warn(msg, SmallSampleWarning, stacklevel=2)
        caught.append(msg)
    boot = np.vstack([v for _, v in ok])
    jack = None
    if ci == "bca":
        rows = [_replicate(yy, a, Xa, np.delete(np.arange(n), i), *args) for i in range(n)]
        jack = np.vstack([r for r in rows if not isinstance(r, str)])
    contrast = f"{arm_labels[1]} vs {arm_labels[0]}"
    common = {"outcome": outcome, "estimand": estimand, "method": "iptw", "variance": f"bootstrap_{ci}"}
    extra = {"n_boot": n_boot, "n_success": len(ok), "n_failed": n_fail}
    n_arm = (int(i0.size), int(i1.size))
    out = []
    for j, (measure, arm) in enumerate(keys):
        v, col = float(theta[j]), boot[:, j]
        who = contrast if arm is None else arm_labels[arm]
        nn = sum(n_arm) if arm is None else n_arm[arm]
        scale = "log" if measure in LOG_MEASURES else "identity"
        if not math.isfinite(v) or not np.all(np.isfinite(col)):
            out.append(EffectEstimate(**common, contrast=who, measure=measure, value=math.nan, n=nn, scale=scale,
                                      note="not estimable: the risk is 0 or 1 in an arm or replicate",
                                      extra=dict(extra)))
            continue
        se = float(np.std(col, ddof=1))
        if ci == "bca":
            lo, hi, _, _ = bca_interval(v, col, jack[:, j], alpha=alpha)
        else:
            lo, hi = (float(q) for q in np.percentile(col, [100 * alpha / 2, 100 * (1 - alpha / 2)]))
        p = float(2 * stats.norm.sf(abs(v) / se)) if se > 0 and arm is None else math.nan
        f = math.exp if scale == "log" else float
        out.append(EffectEstimate(**common, contrast=who, measure=measure, value=f(v), ci_low=f(lo), ci_high=f(hi),
                                  se=se, p=p, n=nn, scale=scale, extra=dict(extra)))
    names = [("log_" + m if m in LOG_MEASURES else m) + ("" if arm is None else f"_{arm_labels[arm]}")
             for m, arm in keys]
    table = pd.DataFrame(boot, columns=names)
    table.insert(0, "replicate", [b for b, _ in ok])
    return BootstrapResult(outcome=outcome, estimand=estimand, ci=ci, alpha=alpha, n_boot=n_boot,
                           n_success=len(ok), n_failed=failed, n_extended=0, random_state=random_state,
                           estimates=tuple(out), replicates=table, warnings=tuple(caught))


__all__ = ["m_estimation_point", "bootstrap_point"]
