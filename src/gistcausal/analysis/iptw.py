"""The configured IPTW analysis: from a :class:`~gistcausal.design.config.StudyConfig` to estimator calls.

This is the one place that reads ``analysis.propensity``, ``analysis.weights`` and ``analysis.survival`` and
turns them into calls of the statistics layer (:mod:`gistcausal.stats`) and the variance layer
(:mod:`gistcausal.inference`). The run, the balance-only run, the bootstrap and M-estimation variance, the
specification grid, the sensitivity step and plasmode replicates all call these functions, so every analysis
of one outcome under one estimand is computed the same way.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gistcausal.design.config import StudyConfig
from gistcausal.effects import EffectEstimate
from gistcausal.errors import ConfigError
from gistcausal.inference.bootstrap import (CI, BootstrapResult, ProgressFn, Problem, check_beyond, check_ci,
                                            run_bootstrap)
from gistcausal.inference.mestimation import m_estimation_survival
from gistcausal.stats.propensity import PropensityModel
from gistcausal.stats.comparison import compare_survival
from gistcausal._checks import ESTIMANDS, check_estimand
from gistcausal.stats.weights import compute_weights
from gistcausal.stats.ebal import METHOD as EBAL_METHOD, balance_design, entropy_balance
from gistcausal.stats.matching import METHOD as MATCHING_METHOD, match_nearest, matched_survival


@dataclass(frozen=True)
class CausalFit:
    """One causal analysis of one outcome under one estimand, without figures.

    ``comparison`` is the weighted :class:`~gistcausal.stats.comparison.SurvivalComparison`; ``weights`` the
    :class:`~gistcausal.stats.weights.WeightResult`. The propensity scores are not kept (patient-level).
    """

    outcome: str
    estimand: str
    comparison: Any
    weights: Any
    propensity: Any

    @property
    def estimates(self) -> tuple[EffectEstimate, ...]:
        return tuple(self.comparison.estimates)


def propensity_model(cfg: StudyConfig, *, method: str | None = None,
                     splines: dict[str, Any] | None = None) -> Any:
    """The configured (unfitted) :class:`~gistcausal.stats.propensity.PropensityModel`.

    ``method`` overrides the config's method; ``splines`` adds or replaces spline terms (the specification
    grid's flexible model, see :func:`flexible_splines`).
    """

    ps_covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
    terms: dict[str, Any] = {n: cfg.covariates[n].spline_df for n in ps_covs if cfg.covariates[n].spline_df}
    terms.update({n: {"kind": "log"} for n in ps_covs if cfg.covariates[n].transform == "log"})
    terms.update(splines or {})
    pcfg = cfg.analysis.propensity
    return PropensityModel(method=method or pcfg.method, covariates=ps_covs, splines=terms,
                           interactions=[tuple(i) for i in pcfg.interactions], n_folds=pcfg.n_folds,
                           calibrate=pcfg.calibrate, random_state=cfg.seed)


def flexible_splines(cfg: StudyConfig, frame: pd.DataFrame, df: int = 3) -> dict[str, Any]:
    """Natural-spline terms for every continuous propensity covariate, as flexible as its values allow.

    The interior knots are R's quantile knots for ``ns(x, df)`` with ties removed and only those strictly
    inside the range kept, so a covariate with many tied values (a count with most values 0) gets fewer knots,
    and one with no interior knot left stays linear, instead of a basis with repeated knots.
    """
    out: dict[str, Any] = {}
    for n, c in cfg.covariates.items():
        if not c.in_propensity or c.type != "continuous" or c.spline_df:
            continue
        x = pd.to_numeric(frame[n], errors="coerce").to_numpy(float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            continue
        lo, hi = float(x.min()), float(x.max())
        knots = np.unique(np.quantile(x, np.linspace(0.0, 1.0, df + 1)[1:-1]))
        knots = [float(k) for k in knots if lo < k < hi]
        if knots:
            out[n] = {"knots": knots}
    return out


def fit_propensity(cfg: StudyConfig, frame: pd.DataFrame, *, spline_all: bool = False,
                   beta0: pd.Series | None = None, diagnostics: bool = True, **options: Any
                   ) -> tuple[Any, np.ndarray]:
    """Fit the configured propensity model on a cohort frame; returns (result, scores of the frame's rows).

    The scores are the training scores of :meth:`PropensityModel.training_scores`: for logistic/Firth models
    :math:`\\operatorname{expit}(x_i^\\top\\hat\\beta)`; for cross-fitted learners (boosting) the out-of-fold
    scores, so no patient's weight comes from a model that saw that patient (the fold models' average on the
    training rows would be over-fitted, its weights too extreme). ``spline_all`` enters every continuous
    covariate as a natural spline (:func:`flexible_splines`). ``beta0`` warm-starts a logistic fit
    (:meth:`PropensityModel.fit`; the same fit). ``diagnostics=False``: the same fit and scores, the result
    without c-statistic, score summary or coefficient standard errors (:meth:`PropensityModel.fit`)."""
    if spline_all:
        options["splines"] = flexible_splines(cfg, frame)
    model = propensity_model(cfg, **options)
    model.fit(frame, treatment_col="treatment", beta0=beta0, diagnostics=diagnostics)
    return model.result_, model.training_scores()


def covariate_design(cfg: StudyConfig, f: pd.DataFrame) -> pd.DataFrame:
    """Numeric design of the propensity-model covariates: continuous as they are, categorical levels as 0/1
    indicators (first level as reference). Columns are labels for display, ``"<covariate>"`` or
    ``"<covariate>: <level>"``, made distinct (a label already taken gets `` (2)``, `` (3)``, ...), so no two
    covariates or levels share a column; nothing downstream parses them (the DoWhy bridge renames every
    column before DoWhy sees it). Used by the covariate-adjusted Cox model and the DoWhy bridge."""
    cols: dict[str, np.ndarray] = {}

    def add(label: str, values: np.ndarray) -> None:
        unique, k = label, 1
        while unique in cols:
            k += 1
            unique = f"{label} ({k})"
        cols[unique] = values

    for name, c in cfg.covariates.items():
        if not c.in_propensity:
            continue
        if c.type == "continuous":
            add(str(name), f[name].to_numpy(float))
        else:
            s = f[name]
            # covariates.X.levels makes a Categorical: its first level is the reference (cohort._apply_levels)
            d = pd.get_dummies(s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype(str), drop_first=True,
                               dtype=float)
            for level in d.columns:
                add(f"{name}: {level}", d[level].to_numpy())
    return pd.DataFrame(cols)


def configured_weights(cfg: StudyConfig, ps: np.ndarray, treatment: np.ndarray, *, estimand: str,
                       stabilize: bool | None = None, truncate: Any = "config", trim: Any = "config",
                       frame: pd.DataFrame | None = None, method: str | None = None,
                       diagnostics: bool = True) -> Any:
    """Weights as the config asks (:func:`gistcausal.stats.weights.compute_weights`); ``"config"``/``None`` take the
    config's value. The config's ``stabilize`` applies to the estimands where it is defined (ATE).

    ``method`` (default ``analysis.weights.method``) ``"matching"`` or ``"ebal"`` gives the matching weights of
    :func:`gistcausal.stats.matching.match_nearest` or :func:`gistcausal.stats.ebal.entropy_balance` (both
    WeightResult-shaped) instead; they need the cohort ``frame`` and ignore stabilize, truncate and trim.
    ``diagnostics=False`` is passed to :func:`~gistcausal.stats.weights.compute_weights` (IPTW only)."""

    method = method or cfg.analysis.weights.method
    if method != "iptw":
        return _balancing_weights(cfg, ps, treatment, estimand=estimand, frame=frame, method=method)
    wcfg = cfg.analysis.weights
    if stabilize is None:
        stabilize = wcfg.stabilize and ESTIMANDS[estimand]["stabilize_ok"]
    tr = cfg.treatment
    return compute_weights(ps, treatment, estimand=estimand, stabilize=stabilize,
                           truncate=wcfg.truncate if truncate == "config" else truncate,
                           trim=wcfg.trim if trim == "config" else trim, diagnostics=diagnostics,
                           arm_labels=(tr.label(tr.treated), tr.label(tr.control)))


def causal_fit(cfg: StudyConfig, frame: pd.DataFrame, *, outcome: str, estimand: str,
               ps: np.ndarray | None = None, stabilize: bool | None = None, truncate: Any = "config",
               trim: Any = "config", at_risk_times: Any = None, method: str | None = None,
               contrasts_only: bool = False, ps_beta0: pd.Series | None = None,
               diagnostics: bool = True) -> CausalFit:
    """IPTW analysis of one outcome: propensity score (fitted unless ``ps`` is given), weights, weighted
    survival comparison. The reusable core of :func:`run`, the specification grid, the bootstrap and
    plasmode replicates. ``method`` (default ``analysis.weights.method``): ``"iptw"``, ``"matching"`` (the
    matched comparison of :func:`gistcausal.stats.matching.matched_survival`) or ``"ebal"``.
    ``contrasts_only`` is passed to :func:`gistcausal.stats.comparison.compare_survival` (same estimates of the
    contrasts, no curves, medians or log-rank; plasmode replicates); the matched comparison ignores it.
    ``ps_beta0`` warm-starts the propensity refit (:func:`fit_propensity`; plasmode replicates start from the
    cohort's coefficients); the fit is the same. ``diagnostics=False`` (plasmode replicates, which read the
    estimates alone): the propensity result without c-statistic, score summary or coefficient standard errors
    and the weights without their diagnostics table (:func:`fit_propensity`, :func:`configured_weights`); the
    scores, weights, warnings and estimates are the same.
    """

    result = None
    if ps is None:
        result, ps = fit_propensity(cfg, frame, beta0=ps_beta0, diagnostics=diagnostics)
    method = method or cfg.analysis.weights.method
    a = frame["treatment"].to_numpy(int)
    wr = configured_weights(cfg, ps, a, estimand=estimand, stabilize=stabilize, truncate=truncate, trim=trim,
                            frame=frame, method=method, diagnostics=diagnostics)
    w = wr.weights
    kept = w > 0
    t = frame[f"{outcome}_time"].to_numpy(float)
    e = frame[f"{outcome}_event"].to_numpy(int)
    s = cfg.analysis.survival
    labels = (cfg.treatment.control, cfg.treatment.treated)
    if method == "matching":
        comp = matched_survival(t, e, a, wr, outcome=outcome, arm_labels=labels, landmarks=tuple(s.landmarks),
                                horizon=s.horizon, alpha=s.alpha, at_risk_times=at_risk_times)
        return CausalFit(outcome, estimand, comp, wr, result)
    if not kept.all():   # trimmed patients leave the comparison (no copies when every weight is positive)
        t, e, a, w = t[kept], e[kept], a[kept], w[kept]
    comp = compare_survival(t, e, a, weights=w, outcome=outcome, estimand=estimand,
                            method=WEIGHT_METHODS[method], landmarks=tuple(s.landmarks), horizon=s.horizon,
                            alpha=s.alpha, arm_labels=labels, at_risk_times=at_risk_times,
                            contrasts_only=contrasts_only)
    return CausalFit(outcome, estimand, comp, wr, result)


# ----------------------------------------------------------------------------------------------------
# matching and entropy balancing (analysis.weights.method: matching | ebal)
# ----------------------------------------------------------------------------------------------------
#: Config name of a weighting method -> the ``method`` its effect estimates carry.
WEIGHT_METHODS = {"iptw": "iptw", "matching": MATCHING_METHOD, "ebal": EBAL_METHOD}


def balance_covariates(cfg: StudyConfig) -> list[str]:
    """The covariates entropy balancing balances: those of the propensity model."""
    return [n for n, c in cfg.covariates.items() if c.in_propensity]


def _balancing_weights(cfg: StudyConfig, ps: np.ndarray, treatment: np.ndarray, *, estimand: str,
                       frame: pd.DataFrame | None, method: str) -> Any:
    if method not in WEIGHT_METHODS:
        raise ConfigError(f"configured_weights: analysis.weights.method must be one of {list(WEIGHT_METHODS)} "
                          f"(got {method!r}). Use method: iptw.")
    if frame is None:  # a programming error: every caller has the cohort frame
        raise ValueError(f"configured_weights: method {method!r} needs the cohort frame")
    if method == "ebal":
        return entropy_balance(frame, treatment_col="treatment", covariates=balance_covariates(cfg),
                               estimand=estimand, moments=cfg.analysis.weights.moments)
    m = cfg.analysis.matching
    return match_nearest(ps, treatment, estimand=estimand, ratio=m.ratio, caliper=m.caliper, replace=m.replace,
                         exact=frame[list(m.exact)] if m.exact else None)


def ps_design(cfg: Any, frame: Any) -> tuple[Any, np.ndarray]:
    """Fit the configured propensity model on ``frame``; return (fitted model, design matrix).

    The design matrix is the fitted model's :meth:`~gistcausal.stats.propensity.PropensityModel.design_matrix`
    (intercept first), so its columns and the model's ``coef_`` line up.
    """
    model = propensity_model(cfg)
    model.fit(frame, treatment_col="treatment")
    return model, model.design_matrix(frame)


def weight_settings(cfg: Any, estimand: str, stabilize: bool | None, trim: Any, truncate: Any, where: str
              ) -> tuple[bool, Any, Any]:

    check_estimand(estimand, where=where)
    wcfg = cfg.analysis.weights
    if stabilize is None:
        stabilize = bool(wcfg.stabilize and ESTIMANDS[estimand]["stabilize_ok"])
    trim = wcfg.trim if isinstance(trim, str) and trim == "config" else trim
    truncate = wcfg.truncate if isinstance(truncate, str) and truncate == "config" else truncate
    return stabilize, trim, truncate


def m_estimation_estimates(cfg: Any, frame: Any, *, outcome: str, estimand: str,
                           stabilize: bool | None = None, trim: Any = "config",
                           truncate: Any = "config", small_sample: bool = False) -> tuple[EffectEstimate, ...]:
    r"""The configured IPTW analysis of one outcome with M-estimation (stacked sandwich) variance.

    Parameters
    ----------
    cfg : StudyConfig
        Supplies the propensity model (``analysis.propensity``), weights (``analysis.weights``), landmarks,
        horizon and alpha (``analysis.survival``) and the arm labels, exactly as
        :func:`gistcausal.analysis.iptw.causal_fit` uses them.
    frame : DataFrame
        The cohort frame (``treatment`` and ``<outcome>_time`` / ``<outcome>_event`` columns).
    outcome : str
    estimand : {"ATE", "ATT", "ATC", "ATO", "matching"}
    stabilize : bool, optional
        Default: the config's ``stabilize`` where defined (ATE), as ``causal_fit``.
    trim, truncate : "config" or value
        Default: the config's.
    small_sample : bool, default=False
        The Mancl-DeRouen bias-corrected sandwich with t intervals (``variance: m_estimation_corrected``,
        :mod:`gistcausal.inference.mestimation`).

    Returns
    -------
    tuple of EffectEstimate
        See :func:`m_estimation_survival`; same point estimates as ``causal_fit``'s comparison, whose
        ``surv``, ``surv_diff``, ``surv_ratio``, ``rmst``, ``rmst_diff`` and ``hr`` rows they replace (medians
        and the log-rank test keep their own variance).

    Raises
    ------
    ConfigError
        A propensity method other than ``logistic``, or truncated weights (their percentile cut-points
        make the weights a non-smooth function of the propensity coefficients); use the bootstrap.
    """
    where = "m_estimation_estimates"
    if cfg.analysis.weights.method != "iptw":
        raise ConfigError(f"{where}: analysis.survival.variance 'm_estimation' covers IPTW only (got analysis."
                          f"weights.method {cfg.analysis.weights.method!r}). Use variance: robust.")
    method = cfg.analysis.propensity.method
    if method != "logistic":
        raise ConfigError(f"{where}: analysis.survival.variance 'm_estimation' needs analysis.propensity."
                          f"method 'logistic' (got {method!r}). Use variance: bootstrap for this model.")
    stabilize, trim, truncate = weight_settings(cfg, estimand, stabilize, trim, truncate, where)
    if truncate is not None:
        raise ConfigError(f"{where}: analysis.survival.variance 'm_estimation' cannot use truncated weights "
                          f"(got analysis.weights.truncate {list(truncate)}). Use variance: bootstrap, or "
                          f"trim instead of truncating.")
    model, X = ps_design(cfg, frame)
    s = cfg.analysis.survival
    return m_estimation_survival(
        frame[f"{outcome}_time"].to_numpy(float), frame[f"{outcome}_event"].to_numpy(float),
        frame["treatment"].to_numpy(float), X, outcome=outcome, estimand=estimand, stabilize=stabilize,
        trim=trim, ps_coef=model.coef_, landmarks=tuple(s.landmarks), horizon=s.horizon, alpha=s.alpha,
        arm_labels=(cfg.treatment.control, cfg.treatment.treated), small_sample=small_sample)


def bootstrap_estimates(cfg: Any, frame: pd.DataFrame, *, outcome: str, estimand: str,
                        n_boot: int | None = None, ci: CI = "percentile", n_jobs: int | None = -1,
                        random_state: int | None = None, progress: ProgressFn | None = None,
                        stabilize: bool | None = None, trim: Any = "config",
                        truncate: Any = "config",
                        beyond_followup: Literal["extend", "fail"] = "extend", engine: Any = None) -> BootstrapResult:
    """Bootstrap intervals for the configured IPTW analysis of one outcome (refitting the propensity model).

    Parameters
    ----------
    cfg : StudyConfig
        Propensity model, weights, landmarks, horizon, alpha and arm labels, as
        :func:`gistcausal.analysis.iptw.causal_fit` uses them.
    frame : DataFrame
        The cohort frame (``treatment``, covariates, ``<outcome>_time``/``<outcome>_event``).
    outcome : str
    estimand : {"ATE", "ATT", "ATC", "ATO", "matching"}
    n_boot : int, optional
        Replicates; default ``analysis.survival.bootstrap_replicates``.
    ci : {"percentile", "bca"}, default="percentile"
    n_jobs : int or None, default=-1
        joblib workers (all cores by default); results do not depend on it.
    random_state : int, optional
        Default: the config's ``seed``.
    progress : callable, optional
        ``progress(done, total)``.
    stabilize, trim, truncate
        Default: the config's, as ``causal_fit``.
    beyond_followup : {"extend", "fail"}, default="extend"
        See :func:`bootstrap_survival`.
    engine : gistcausal.engine.Engine or Executor, optional
        Where the replicates run (``analysis.engine``, :mod:`gistcausal.engine`); when given, ``n_jobs`` is
        not used. The replicates are the same on every engine.

    Returns
    -------
    BootstrapResult
        Its ``estimates`` replace the ``surv``, ``surv_diff``, ``surv_ratio``, ``rmst``, ``rmst_diff`` and
        ``hr`` rows of ``causal_fit``'s comparison (same point estimates; medians and the log-rank test keep
        their own variance).

    Raises
    ------
    ConfigError
        Bad ``ci``/``n_boot``.
    ModelFitError
        The analysis fails on the full data, or fewer than 10 replicates succeed.

    Warns
    -----
    SmallSampleWarning
        More than :data:`FAILURE_WARN_SHARE` of the replicates failed (counts by reason in the message and in
        ``n_failed``).
    """

    where = "bootstrap_estimates"
    s = cfg.analysis.survival
    n_boot = check_ci(ci, s.bootstrap_replicates if n_boot is None else n_boot, s.alpha, where)
    stabilize, trim, truncate = weight_settings(cfg, estimand, stabilize, trim, truncate, where)
    method = cfg.analysis.propensity.method
    X, model, sub, balance_X = None, None, None, None
    weight_method = cfg.analysis.weights.method
    if weight_method == "matching":
        raise ConfigError(f"{where}: the bootstrap is not valid for nearest-neighbour matching (Abadie & Imbens "
                          "2008) (got analysis.weights.method 'matching'). Use variance: robust, the matched-set "
                          "cluster-robust variance.")
    if weight_method == "ebal":
        # entropy balancing has no propensity model: each replicate re-solves the balance on its resample
        ps_method = "model"
        balance_X = balance_design(frame, balance_covariates(cfg), cfg.analysis.weights.moments, where)[0]
    elif method in ("logistic", "firth"):
        with warnings.catch_warnings():
            # the propensity model's own warnings were raised by the main analysis already
            warnings.simplefilter("ignore")
            _, X = ps_design(cfg, frame)
        ps_method = method
    else:
        ps_method = "model"
        model = propensity_model(cfg)
        sub = frame.reset_index(drop=True)
    p = Problem(X=X, a=frame["treatment"].to_numpy(float), t=frame[f"{outcome}_time"].to_numpy(float),
                 e=frame[f"{outcome}_event"].to_numpy(float), estimand=estimand, stabilize=stabilize,
                 trim=trim, truncate=truncate, landmarks=tuple(float(x) for x in s.landmarks),
                 horizon=s.horizon, ps_method=ps_method, model=model, frame=sub,
                 beyond_followup=check_beyond(beyond_followup, where),
                 weight_method="ebal" if weight_method == "ebal" else "iptw", balance_X=balance_X)
    return run_bootstrap(p, outcome=outcome, n_boot=n_boot, ci=ci, alpha=s.alpha, n_jobs=n_jobs,
                      random_state=cfg.seed if random_state is None else random_state, progress=progress,
                      arm_labels=(cfg.treatment.control, cfg.treatment.treated), where=where, engine=engine)


__all__ = ["CausalFit", "propensity_model", "fit_propensity", "covariate_design", "configured_weights", "causal_fit",
           "WEIGHT_METHODS", "balance_covariates",
           "ps_design", "weight_settings", "m_estimation_estimates", "bootstrap_estimates"]
