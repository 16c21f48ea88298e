"""Uncertainty of the IPTW survival estimates: one variance method per analysis.

``analysis.survival.variance`` picks it, and every interval states it in ``EffectEstimate.variance``:

``robust``
    The sandwich that treats the weights as known (:func:`gistcausal.stats.comparison.compare_survival`: infinitesimal
    jackknife for the curves and RMST, Lin-Wei for the Cox model). Conservative for the ATE, not guaranteed to
    be for the ATT (docs/coverage.md).
``m_estimation``
    Stacked estimating equations of the logistic propensity model and the survival estimator
    (:mod:`gistcausal.inference.mestimation`); accounts for the estimated weights, closed form, no resampling.
``m_estimation_corrected``
    The same stack with the Mancl & DeRouen (2001) bias-corrected sandwich (cluster = patient, leverage of the
    propensity model) and Student-t intervals on n - q degrees of freedom; for small cohorts, where the plain
    sandwich under-covers (docs/coverage.md).
``bootstrap``
    The whole pipeline (propensity refit, weights, survival) in every stratified replicate
    (:mod:`gistcausal.inference.bootstrap`), percentile or BCa intervals.

:func:`with_variance` is the one call the pipeline makes: it takes the ``robust`` comparison of
:func:`gistcausal.analysis.iptw.causal_fit` and returns it with the configured variance swapped in for the
landmark survival, RMST and hazard-ratio rows (point estimates unchanged; medians and the log-rank test keep
their own intervals).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Sequence

from gistcausal.analysis.iptw import bootstrap_estimates, m_estimation_estimates
from gistcausal.inference.bootstrap import (FAILURE_REASONS, BootstrapResult, ProgressFn, bca_interval,
                                            bootstrap_survival)
from gistcausal.effects import EffectEstimate
from gistcausal.errors import ConfigError, SmallSampleWarning
from gistcausal.inference.mestimation import m_estimation_survival

#: Variance methods and what they support.
VARIANCE_METHODS: dict[str, dict[str, Any]] = {
    "robust": {"ps_methods": ("logistic", "firth", "boosting"), "truncate_ok": True},
    "m_estimation": {"ps_methods": ("logistic",), "truncate_ok": False},
    "m_estimation_corrected": {"ps_methods": ("logistic",), "truncate_ok": False},
    "bootstrap": {"ps_methods": ("logistic", "firth", "boosting"), "truncate_ok": True},
}


def _key(e: EffectEstimate) -> tuple:
    t = round(e.time, 9) if math.isfinite(e.time) else None
    return (e.outcome, e.measure, e.contrast, t)


def swap_estimates(base: Sequence[EffectEstimate], new: Sequence[EffectEstimate]
                   ) -> tuple[EffectEstimate, ...]:
    """``base`` with every row that ``new`` also has (same outcome, measure, contrast, time) replaced by
    ``new``'s, in ``base``'s order; rows only ``base`` has are kept."""
    repl = {_key(e): e for e in new}
    return tuple(repl.get(_key(e), e) for e in base)


#: Below this many patients the plain M-estimation sandwich was seen to under-cover (docs/coverage.md, issue 20:
#: 89-93% at n = 110, 91.5-95.5% at n = 440); with_variance then warns and names the corrected method.
M_ESTIMATION_SMALL_N = 500


def with_variance(cfg: Any, frame: Any, comparison: Any, *, outcome: str, estimand: str,
                  variance: str | None = None, n_boot: int | None = None, ci: str = "percentile",
                  n_jobs: int | None = -1, progress: ProgressFn | None = None, engine: Any = None
                  ) -> tuple[Any, BootstrapResult | None]:
    """Swap the configured variance into a ``robust`` IPTW comparison.

    Parameters
    ----------
    cfg : StudyConfig
    frame : DataFrame
        The cohort frame given to :func:`gistcausal.analysis.iptw.causal_fit` (all patients, before trimming).
    comparison : SurvivalComparison
        ``causal_fit(...).comparison``.
    outcome, estimand : str
    variance : {"robust", "m_estimation", "m_estimation_corrected", "bootstrap"}, optional
        Default ``cfg.analysis.survival.variance``.
    n_boot, ci, n_jobs, progress
        Bootstrap settings (:func:`gistcausal.inference.bootstrap.bootstrap_estimates`); ``n_boot`` defaults to
        ``analysis.survival.bootstrap_replicates``.
    engine : gistcausal.engine.Engine or Executor, optional
        Where the bootstrap replicates run (``analysis.engine``); when given, ``n_jobs`` is not used.

    Returns
    -------
    comparison : SurvivalComparison
        A new comparison (``dataclasses.replace``) whose ``surv``, ``surv_diff``, ``surv_ratio``, ``rmst``,
        ``rmst_diff`` and ``hr`` rows carry the chosen variance; warnings appended.
    bootstrap : BootstrapResult or None
        The bootstrap record (failure counts, replicate table) when ``variance="bootstrap"``.

    Raises
    ------
    ConfigError
        Unknown variance method, or one the configured propensity model or weights do not support.
    """
    where = "with_variance"
    variance = cfg.analysis.survival.variance if variance is None else variance
    if variance not in VARIANCE_METHODS:
        raise ConfigError(f"{where}: analysis.survival.variance must be one of {list(VARIANCE_METHODS)} "
                          f"(got {variance!r}). Pick one of these.")
    if variance == "robust":
        return comparison, None
    if variance == "m_estimation" and len(frame) < M_ESTIMATION_SMALL_N:
        warnings.warn(f"{where}: the M-estimation sandwich under-covers at this size (got n = {len(frame)}; 89-93% "
                      "coverage of nominal 95% intervals at n = 110 in docs/coverage.md, SE ratio 0.84-0.91). Use "
                      "`analysis: {survival: {variance: m_estimation_corrected}}` (small-sample corrected, t "
                      "intervals) or `variance: robust`.", SmallSampleWarning, stacklevel=2)
    if variance in ("m_estimation", "m_estimation_corrected"):
        new = m_estimation_estimates(cfg, frame, outcome=outcome, estimand=estimand,
                                     small_sample=variance == "m_estimation_corrected")
        return dataclasses.replace(comparison, estimates=swap_estimates(comparison.estimates, new)), None
    boot = bootstrap_estimates(cfg, frame, outcome=outcome, estimand=estimand, n_boot=n_boot, ci=ci,
                               n_jobs=n_jobs, progress=progress, engine=engine)
    return (dataclasses.replace(comparison, estimates=swap_estimates(comparison.estimates, boot.estimates),
                                warnings=tuple(comparison.warnings) + boot.warnings), boot)


__all__ = ["VARIANCE_METHODS", "with_variance", "swap_estimates", "m_estimation_estimates",
           "m_estimation_survival", "bootstrap_estimates", "bootstrap_survival", "BootstrapResult",
           "bca_interval", "FAILURE_REASONS"]
