r"""M-estimation (stacked estimating equations) variance for IPTW survival with an estimated propensity score.

The IPTW estimators of :mod:`gistcausal.stats.km` and :mod:`gistcausal.stats.cox` report a *robust* variance that
treats the weights as known. The weights are estimated, though: they come from a logistic propensity model
whose coefficients :math:`\hat\gamma` are themselves the root of estimating equations. Stacking those with the
equations of the survival estimator and taking the sandwich :math:`A^{-1} B A^{-\top}` of the whole stack gives
the variance that accounts for the estimation of the weights (Lunceford & Davidian 2004; Williamson, Forbes &
White 2014; Shu, Young, Toh & Wang 2021; R ``WeightIt::coxph_weightit`` / ``glm_weightit``).

Formulas
--------
Propensity model (logistic, design :math:`X_i` with intercept): :math:`e_i = \operatorname{expit}(X_i^\top\gamma)`,
:math:`\psi_\gamma(O_i) = X_i (A_i - e_i)`, with :math:`H = \sum_i e_i(1-e_i) X_i X_i^\top`, so the propensity
block's influence terms are :math:`\mathrm{IF}_{\gamma,i} = H^{-1} X_i (A_i - e_i)`. Stabilized ATE weights add
the parameter :math:`p_1 = \Pr(A = 1)` with :math:`\psi_p = A_i - p_1` and :math:`\mathrm{IF}_{p,i} = (A_i - p_1)/n`.

Derivative of the log weight with respect to :math:`\Gamma = (\gamma, p_1)` (analytic, per estimand):

=========  ============================================  ==========================================
estimand   :math:`\partial \log w_i / \partial\gamma`    stabilized (ATE): :math:`\partial/\partial p_1`
=========  ============================================  ==========================================
ATE        :math:`-(A_i - e_i) X_i`                       :math:`A_i/p_1 - (1-A_i)/(1-p_1)`
ATT        :math:`(1 - A_i) X_i`
ATC        :math:`-A_i X_i`
ATO        :math:`(1 - A_i - e_i) X_i`
matching   :math:`\{(1-A_i) 1[e_i<\tfrac12] - A_i 1[e_i>\tfrac12]\} X_i`
=========  ============================================  ==========================================

Survival estimators :math:`\theta` (weighted Kaplan-Meier :math:`\hat S_a(t)` at a landmark, RMST per arm to
the horizon, the IPTW Cox log hazard ratio). Each solves weighted estimating equations
:math:`\sum_i w_i(\Gamma)\,\phi_i(\theta) = 0` (Kaplan-Meier and RMST through the weighted hazard increments
:math:`\sum_i w_i\{dN_i(t_k) - Y_i(t_k) h_k\} = 0`; Cox through its weighted Efron score). With weights held
fixed, the sandwich's influence term is the infinitesimal jackknife :math:`D_i = w_i\,\partial\hat\theta/\partial
w_i` (for Cox, the dfbeta :math:`w_i s_i^\top I^{-1}`; for the curve,
:math:`-w_i \hat S(t) A_i(t)`, see :func:`gistcausal.stats.km.km_influence`); :math:`\sum_i D_i D_i^\top` is the
``robust`` variance. The stacked sandwich adds the propensity block through the bread's off-diagonal
:math:`A_{\theta\Gamma} = \sum_i \phi_i\,\partial w_i/\partial\Gamma^\top`; by the implicit function theorem
:math:`-A_{\theta\theta}^{-1}A_{\theta\Gamma} = d\hat\theta/d\Gamma = \sum_i D_i\,(\partial \log w_i /
\partial\Gamma)^\top =: G`, so

.. math:: \mathrm{IF}_i = D_i + G\,\mathrm{IF}_{\Gamma,i}, \qquad
          \widehat{\mathrm{Var}}(\hat\theta) = \sum_i \mathrm{IF}_i \mathrm{IF}_i^\top ,

which is exactly the :math:`\theta` block of :math:`A^{-1} B A^{-\top}` of the stacked equations (no
:math:`n \times n` matrix: :math:`D` comes from the O(n log n) cumulative sums of the survival and Cox
modules, :math:`G` is one matrix product). Contrasts use the stacked influence terms of both arms
(:math:`\hat S_1 - \hat S_0`, :math:`\log \hat S_1 - \log \hat S_0`, :math:`\mathrm{RMST}_1 -
\mathrm{RMST}_0`), so the covariance the shared propensity model induces between the arms is included.

Small-sample correction (``small_sample=True``, ``analysis.survival.variance: m_estimation_corrected``)
---------------------------------------------------------------------------------------------------------
The sandwich is biased downwards in small samples: with :math:`p` propensity parameters fitted on :math:`n`
patients, the fitted residuals :math:`A_i - \hat e_i` are too small by about the patient's leverage
:math:`h_i = \hat e_i(1-\hat e_i) X_i^\top H^{-1} X_i` (the diagonal of the weighted hat matrix,
:math:`\sum_i h_i = p`), and for the ATE the stacked term :math:`\mathrm{IF}_i` is (up to the weights
:math:`(A_i - e_i)^2 / e_i(1-e_i)`, of mean 1) the residual of the weights-known term :math:`D_i` after its
projection on the propensity scores, which shrinks the same way
(docs/coverage.md: SE ratio 0.83-0.92 at n = 110 with 12 parameters). The Mancl & DeRouen (2001)
bias-corrected sandwich, written for clusters of size one (cluster = patient), rescales each patient's
estimating-function contribution by :math:`(I - H_{ii})^{-1}`, which for a GLM is :math:`1/(1-h_i)` (the
jackknife-like HC3 of MacKinnon & White 1985; R ``clubSandwich::vcovCR(type = "CR3")``). Here

.. math:: \mathrm{IF}^{c}_i = \mathrm{IF}_i / (1 - \min(h_i, b)), \qquad
          \widehat{\mathrm{Var}}_{MD}(\hat\theta) = \sum_i \mathrm{IF}^{c\,2}_i ,

with the leverage of the propensity model and the cap :math:`b = 0.75` of Fay & Graubard (2001) so that a
patient alone in a covariate level (:math:`h_i \to 1`) does not make the variance infinite. The propensity
block alone is then exactly Mancl & DeRouen's (and clubSandwich's CR3) variance of the logistic coefficients;
applying its per-patient factor to the whole stacked term is an adaptation, not Mancl & DeRouen's estimator for
the full stack: the survival estimator's own leverage (of order :math:`w_i / \sum w`, present in the
weights-known variance too) is not corrected. Intervals and p-values use Student's :math:`t` with :math:`n - q` degrees of freedom,
:math:`q` the number of propensity parameters (columns of ``X``, plus :math:`p_1` when stabilized), as Mancl &
DeRouen use :math:`K - p` (clusters minus regression parameters). Checked against clubSandwich (CR3, the
propensity block) and a by-hand R computation of the stacked terms (``tests/reference/small_sample/``).

Scope: ``logistic`` propensity models only (Firth's modified score and cross-fitted learners have no such
stack here; use the bootstrap). Trimming is allowed and the kept set is treated as fixed (the trimming
indicator has zero derivative almost everywhere); truncation at weight percentiles is refused.

References
----------
Lunceford JK, Davidian M (2004). Stratification and weighting via the propensity score in estimation of causal
treatment effects: a comparative study. Stat Med 23:2937-2960.
Williamson EJ, Forbes A, White IR (2014). Variance reduction in randomised trials by inverse probability
weighting using the propensity score. Stat Med 33:721-737.
Shu D, Young JG, Toh S, Wang R (2021). Variance estimation in inverse probability weighted Cox models.
Biometrics 77:1101-1117 (also Stat Med 40:1093).
Stefanski LA, Boos DD (2002). The calculus of M-estimation. Am Stat 56:29-38.
Greifer N (2024). WeightIt: glm_weightit / coxph_weightit (M-estimation vcov).
Mancl LA, DeRouen TA (2001). A covariance estimator for GEE with improved small-sample properties.
Biometrics 57:126-134.
Fay MP, Graubard BI (2001). Small-sample adjustments for Wald-type tests using sandwich estimators.
Biometrics 57:1198-1206.
MacKinnon JG, White H (1985). Some heteroskedasticity-consistent covariance matrix estimators with improved
finite sample properties. J Econometrics 29:305-325.
Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance estimation and hypothesis
testing in fixed effects models. J Bus Econ Stat 36:672-683 (R clubSandwich).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import linalg, special, stats

from gistcausal._checks import check_estimand
from gistcausal.effects import EffectEstimate
from gistcausal.errors import DataError, ModelFitError, SeparationError
from gistcausal.stats.cox import cox_influence
from gistcausal.stats.logistic import logistic_newton
from gistcausal.stats.km import check_horizon, check_landmarks, km_influence, rmst_influence
from gistcausal.stats.weights import compute_weights

_WHERE = "m_estimation_estimates"


# ----------------------------------------------------------------------------------------------------
# the propensity block
# ----------------------------------------------------------------------------------------------------
def dlog_weights(X: np.ndarray, treatment: np.ndarray, ps: np.ndarray, *, estimand: str,
                 stabilize: bool = False, kept: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    r"""Propensity-block influence terms and the derivative of each log weight (module table).

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Propensity design matrix.
    treatment : ndarray of {0, 1}
    ps : ndarray
        Fitted scores :math:`e_i`.
    estimand : {"ATE", "ATT", "ATC", "ATO", "matching"}
    stabilize : bool, default=False
        ATE only: adds the parameter :math:`p_1` (share treated among the kept patients).
    kept : ndarray of bool, optional
        Patients kept after trimming (all by default).

    Returns
    -------
    if_gamma : ndarray, shape (n, P)
        :math:`\mathrm{IF}_{\Gamma,i}`; ``P = p`` (+1 when stabilized).
    dlogw : ndarray, shape (n, P)
        :math:`\partial \log w_i / \partial \Gamma`.
    """
    check_estimand(estimand, where="dlog_weights")
    a = np.asarray(treatment, dtype=float)
    e = np.asarray(ps, dtype=float)
    kept = np.ones(a.size, dtype=bool) if kept is None else np.asarray(kept, dtype=bool)
    if estimand == "ATE":
        c = -(a - e)
    elif estimand == "ATT":
        c = 1.0 - a
    elif estimand == "ATC":
        c = -a
    elif estimand == "ATO":
        c = 1.0 - a - e
    else:  # matching
        c = (1.0 - a) * (e < 0.5) - a * (e > 0.5)
    H = (X * (e * (1 - e))[:, None]).T @ X
    if_gamma = linalg.solve(H, (X * (a - e)[:, None]).T, assume_a="pos").T
    dlogw = X * c[:, None]
    if stabilize:
        p1 = float(a[kept].mean())
        if_p = np.where(kept, a - p1, 0.0) / kept.sum()
        d_p = a / p1 - (1 - a) / (1 - p1)
        if_gamma = np.c_[if_gamma, if_p]
        dlogw = np.c_[dlogw, d_p]
    return if_gamma, dlogw


def ps_corrected(D: np.ndarray, if_gamma: np.ndarray, dlogw: np.ndarray) -> np.ndarray:
    r"""Stacked influence terms :math:`\mathrm{IF}_i = D_i + G\,\mathrm{IF}_{\Gamma,i}`, :math:`G = D^\top
    \partial\log w/\partial\Gamma` (see the module Notes); ``D`` has one column per estimate."""
    G = D.T @ dlogw
    return D + if_gamma @ G.T


#: Fay & Graubard's (2001) bound on the leverage used in the small-sample correction.
LEVERAGE_CAP = 0.75


def ps_leverage(X: np.ndarray, ps: np.ndarray) -> np.ndarray:
    r"""Leverage of each patient in the logistic propensity model, :math:`h_i = e_i(1-e_i) X_i^\top H^{-1} X_i`.

    The diagonal of the weighted hat matrix :math:`W^{1/2} X (X^\top W X)^{-1} X^\top W^{1/2}`,
    :math:`W = \operatorname{diag}\{e(1-e)\}` (R ``hatvalues(glm(..., family = binomial))``); it sums to the
    number of columns of ``X``.
    """
    e = np.asarray(ps, dtype=float)
    v = e * (1.0 - e)
    H = (X * v[:, None]).T @ X
    return v * np.einsum("ij,ji->i", X, linalg.solve(H, X.T, assume_a="pos"))


def md_corrected(full: np.ndarray, leverage: np.ndarray, *, cap: float = LEVERAGE_CAP) -> np.ndarray:
    r"""Mancl-DeRouen bias-corrected stacked influence terms :math:`\mathrm{IF}_i / (1 - \min(h_i, b))`
    (module Notes); ``full`` has one row per patient and one column per estimate."""
    return full / (1.0 - np.minimum(np.asarray(leverage, dtype=float), cap))[:, None]


# ----------------------------------------------------------------------------------------------------
# survival estimators with their stacked influence terms
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Stack:
    """Estimates, weights-known and stacked influence terms (internal: patient level, never returned)."""

    keys: list
    value: np.ndarray
    known: np.ndarray     # (n, k)
    full: np.ndarray      # (n, k)
    hr_note: str


def _stack(t: np.ndarray, ev: np.ndarray, a: np.ndarray, w: np.ndarray, if_gamma: np.ndarray,
           dlogw: np.ndarray, landmarks: Sequence[float], horizon: float | None) -> _Stack:
    n = t.size
    kept = w > 0
    arms = [kept & (a == 0), kept & (a == 1)]
    keys: list = []
    vals: list[float] = []
    cols: list[np.ndarray] = []
    lm = np.asarray(landmarks, dtype=float)
    if lm.size:
        per = []
        for m in arms:
            s, d = km_influence(t[m], ev[m], weights=w[m], times=lm)
            full = np.zeros((n, lm.size))
            full[m] = d
            per.append((s, full))
        for j, x in enumerate(lm):
            (s0, d0), (s1, d1) = per
            keys += [("surv", 0, x), ("surv", 1, x), ("surv_diff", None, x)]
            vals += [s0[j], s1[j], s1[j] - s0[j]]
            cols += [d0[:, j], d1[:, j], d1[:, j] - d0[:, j]]
            keys.append(("surv_ratio", None, x))
            if s0[j] > 0 and s1[j] > 0:
                vals.append(math.log(s1[j] / s0[j]))
                cols.append(d1[:, j] / s1[j] - d0[:, j] / s0[j])
            else:
                vals.append(math.nan)
                cols.append(np.zeros(n))
    if horizon is not None:
        rr = []
        for m in arms:
            v, d = rmst_influence(t[m], ev[m], weights=w[m], horizon=horizon)
            full = np.zeros(n)
            full[m] = d
            rr.append((v, full))
        keys += [("rmst", 0, horizon), ("rmst", 1, horizon), ("rmst_diff", None, horizon)]
        vals += [rr[0][0], rr[1][0], rr[1][0] - rr[0][0]]
        cols += [rr[0][1], rr[1][1], rr[1][1] - rr[0][1]]
    hr_note = ""
    keys.append(("hr", None, math.nan))
    try:
        fit, dfb = cox_influence(t[kept], ev[kept], a[kept][:, None], weights=w[kept])
        full = np.zeros(n)
        full[kept] = dfb[:, 0]
        vals.append(float(fit.coef[0]))
        cols.append(full)
    except ModelFitError as err:
        hr_note = "not estimable: " + str(err).split(": ", 1)[1]
        vals.append(math.nan)
        cols.append(np.zeros(n))
    known = np.column_stack(cols)
    return _Stack(keys=keys, value=np.asarray(vals, dtype=float), known=known,
                  full=ps_corrected(known, if_gamma, dlogw), hr_note=hr_note)


def _check_landmarks(t: np.ndarray, a: np.ndarray, kept: np.ndarray, landmarks: Sequence[float],
                     horizon: float | None, where: str) -> None:
    last = min(float(t[kept & (a == k)].max()) for k in (0, 1))
    check_landmarks(landmarks, last, where)
    if horizon is not None:
        check_horizon(horizon, last, where, "horizon")


def m_estimation_survival(time: Any, event: Any, treatment: Any, X: Any, *, outcome: str,
                          estimand: str, stabilize: bool = False, trim: Any = None,
                          ps_coef: Any = None, landmarks: Sequence[float] = (),
                          horizon: float | None = None, alpha: float = 0.05,
                          arm_labels: tuple[str, str], small_sample: bool = False
                          ) -> tuple[EffectEstimate, ...]:
    r"""IPTW survival estimates with the M-estimation (stacked sandwich) variance, from arrays.

    Parameters
    ----------
    time, event : array-like
        Follow-up and 0/1 event indicator, one per patient.
    treatment : array-like of {0, 1}
        0 for ``arm_labels[0]``, 1 for ``arm_labels[1]``.
    X : array-like, shape (n, p)
        Logistic propensity design matrix, intercept included (e.g. PropensityModel.design_matrix of the configured
        model).
    outcome : str
    estimand : {"ATE", "ATT", "ATC", "ATO", "matching"}
    stabilize : bool, default=False
        Stabilized ATE weights (adds :math:`p_1` to the stack).
    trim : "crump" or (low, high), optional
        As :func:`gistcausal.stats.weights.compute_weights`; the kept set is treated as fixed.
    ps_coef : array-like, optional
        Logistic coefficients; fitted by :func:`logistic_newton` when omitted.
    landmarks : sequence of float
        Times for :math:`S_a(t)`, the difference and the ratio.
    horizon : float, optional
        RMST horizon.
    alpha : float, default=0.05
    arm_labels : (str, str)
        Names of the reference (treatment 0) and compared (treatment 1) arm, e.g. ``("control", "treated")``
        (required).
    small_sample : bool, default=False
        Mancl-DeRouen bias-corrected sandwich with Student-t intervals on ``n - q`` degrees of freedom
        (module Notes); the estimates then carry ``variance="m_estimation_corrected"`` and ``extra["df"]``.

    Returns
    -------
    tuple of EffectEstimate
        ``surv`` per arm, ``surv_diff``, ``surv_ratio`` per landmark; ``rmst`` per arm and ``rmst_diff``;
        ``hr``; all with ``variance="m_estimation"`` (or ``"m_estimation_corrected"``) and
        ``extra["se_weights_known"]`` (the ``robust`` SE of the same estimate, for comparison). Point estimates equal
        :func:`gistcausal.stats.comparison.compare_survival`'s.

    Raises
    ------
    DataError
        Inputs of the wrong shape; landmarks or horizon beyond an arm's follow-up.

    Notes
    -----
    See the module docstring for the stacked equations and the sandwich. Intervals are Wald on the scale of
    ``scale``: per-arm survival on the log scale (``conf_type="log"``, as :func:`kaplan_meier`), the
    survival ratio and hazard ratio on the log scale, differences and RMST on the identity scale.
    """
    where = "m_estimation_survival"
    t = np.asarray(time, dtype=float)
    ev = np.asarray(event, dtype=float)
    a = np.asarray(treatment, dtype=float)
    Xa = np.asarray(X, dtype=float)
    if Xa.ndim != 2 or Xa.shape[0] != t.size or a.size != t.size or ev.size != t.size:
        raise DataError(f"{where}: time, event, treatment and X must have one row per patient (got "
                        f"{t.size}, {ev.size}, {a.size} and X of shape {Xa.shape}). Pass aligned arrays.")
    gamma = logistic_newton(Xa, a, where=where)[0] if ps_coef is None else np.asarray(ps_coef, float)
    e = special.expit(Xa @ gamma)
    wr = compute_weights(e, a.astype(int), estimand=estimand, stabilize=stabilize, trim=trim)
    w = wr.weights
    _check_landmarks(t, a, wr.kept, landmarks, horizon, where)
    if_gamma, dlogw = dlog_weights(Xa, a, e, estimand=estimand, stabilize=stabilize, kept=wr.kept)
    st = _stack(t, ev, a, w, if_gamma, dlogw, landmarks, horizon)
    df = None
    if small_sample:
        df = t.size - if_gamma.shape[1]
        if df < 1:
            raise DataError(f"{where}: the small-sample correction needs more patients than propensity "
                            f"parameters (got {t.size} patients, {if_gamma.shape[1]} parameters). Use fewer "
                            f"covariates.")
        st = dataclasses.replace(st, full=md_corrected(st.full, ps_leverage(Xa, e)))
    return _to_estimates(st, outcome=outcome, estimand=estimand, alpha=alpha, arm_labels=arm_labels,
                         n_arm=[int(np.sum(wr.kept & (a == k))) for k in (0, 1)], df=df)


def _to_estimates(st: _Stack, *, outcome: str, estimand: str, alpha: float,
                  arm_labels: tuple[str, str], n_arm: list[int], df: int | None = None
                  ) -> tuple[EffectEstimate, ...]:
    # df given: the small-sample version, Student-t quantiles and tail areas (Mancl & DeRouen 2001)
    ref = stats.norm if df is None else stats.t(df)
    z = ref.ppf(1 - alpha / 2)
    se_full = np.sqrt(np.sum(st.full ** 2, axis=0))
    se_known = np.sqrt(np.sum(st.known ** 2, axis=0))
    contrast = f"{arm_labels[1]} vs {arm_labels[0]}"
    common = {"outcome": outcome, "estimand": estimand, "method": "iptw",
              "variance": "m_estimation" if df is None else "m_estimation_corrected"}
    out: list[EffectEstimate] = []
    for j, (measure, arm, x) in enumerate(st.keys):
        v, se, sek = float(st.value[j]), float(se_full[j]), float(se_known[j])
        extra = {"se_weights_known": sek} if df is None else {"se_weights_known": sek, "df": int(df)}
        if measure == "surv":
            with np.errstate(divide="ignore", invalid="ignore"):
                sl = se / v if v > 0 else math.nan
            lo = math.exp(math.log(v) - z * sl) if v > 0 else math.nan
            hi = min(math.exp(math.log(v) + z * sl), 1.0) if v > 0 else math.nan
            out.append(EffectEstimate(**common, contrast=arm_labels[arm], measure="surv", value=v,
                                      ci_low=lo, ci_high=hi, se=se, n=n_arm[arm], time=x,
                                      extra={**extra, "conf_type": "log"}))
        elif measure == "rmst":
            out.append(EffectEstimate(**common, contrast=arm_labels[arm], measure="rmst", value=v,
                                      ci_low=v - z * se, ci_high=v + z * se, se=se, n=n_arm[arm], time=x,
                                      extra=extra))
        elif measure in ("surv_diff", "rmst_diff"):
            p = float(2 * ref.sf(abs(v) / se)) if se > 0 else math.nan
            out.append(EffectEstimate(**common, contrast=contrast, measure=measure, value=v,
                                      ci_low=v - z * se, ci_high=v + z * se, se=se, p=p, n=sum(n_arm),
                                      time=x, extra=extra))
        else:  # log-scale ratios: surv_ratio, hr
            if not math.isfinite(v):
                note = st.hr_note if measure == "hr" else "not estimable: survival is 0 in an arm"
                out.append(EffectEstimate(**common, contrast=contrast, measure=measure, value=math.nan,
                                          n=sum(n_arm), time=x, scale="log", note=note))
                continue
            p = float(2 * ref.sf(abs(v) / se)) if se > 0 else math.nan
            out.append(EffectEstimate(**common, contrast=contrast, measure=measure, value=math.exp(v),
                                      ci_low=math.exp(v - z * se), ci_high=math.exp(v + z * se), se=se,
                                      p=p, n=sum(n_arm), time=x, scale="log", extra=extra))
    return tuple(out)


__all__ = ["dlog_weights", "ps_corrected", "ps_leverage", "md_corrected", "LEVERAGE_CAP",
           "m_estimation_survival"]
