"""Binary, continuous and competing-risks outcomes of a configured run (issue 18, parts 4 and 5).

Time-to-event outcomes go through :func:`gistcausal.analysis.iptw.causal_fit`; the outcomes configured with
``type: binary``, ``continuous`` or ``competing`` (``table.outcomes``) go through here, unadjusted for the study
analysis (:mod:`gistcausal.analysis.study`) and IPTW-weighted for the causal analysis
(:mod:`gistcausal.analysis.causal`), with the same weights as the survival outcomes. Every estimate lands in
``results.json`` ``estimates`` and the report's estimates table.

Variance: binary and continuous outcomes follow ``analysis.survival.variance`` (``robust``: HC0 sandwich;
``m_estimation``: stacked sandwich with the logistic propensity model; ``bootstrap``: the whole pipeline,
logistic propensity models); competing-risks estimates always carry the IJ/robust variance (weights known), and
say so in ``EffectEstimate.variance``.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from gistcausal.analysis.iptw import ps_design, weight_settings
from gistcausal.analysis.variance import swap_estimates
from gistcausal.design.config import StudyConfig
from gistcausal.effects import EffectEstimate
from gistcausal.errors import ConfigError, MissingDataWarning
from gistcausal.inference.point_outcomes import bootstrap_point, m_estimation_point
from gistcausal.stats.binary import compare_binary, compare_continuous
from gistcausal.stats.competing import CompetingRisksComparison, compare_cif

#: Outcome types handled here (``OutcomeInfo.type``).
SECONDARY_TYPES = ("binary", "continuous", "competing")


def competing_comparison(cfg: StudyConfig, f: pd.DataFrame, o: Any, *, weights: np.ndarray | None = None,
                         estimand: str = "none") -> CompetingRisksComparison:
    """The competing-risks comparison of one ``type: competing`` outcome (:func:`~gistcausal.stats.competing.
    compare_cif`): Aalen-Johansen cumulative incidence of each cause per arm (IPTW-weighted when ``weights`` is
    given), CIF differences and ratios at the landmarks within both arms' follow-up, restricted mean time lost
    up to the horizon, cause-specific hazard ratios and the weighted log-rank test per cause."""
    s = cfg.analysis.survival
    a = f["treatment"].to_numpy(float)
    t = f[o.time_col].to_numpy(float)
    status = f[o.event_col].to_numpy(float)
    causes = cfg.outcomes[o.name].causes
    keep = np.ones(t.size, dtype=bool) if weights is None else weights > 0
    last = min(float(t[keep & (a == k)].max()) for k in (0, 1))
    lm = tuple(x for x in s.landmarks if x <= last)
    horizon = s.horizon if s.horizon is not None and s.horizon <= last else None
    return compare_cif(t, status, a, weights=weights, outcome=o.name,
                       arm_labels=(cfg.treatment.control, cfg.treatment.treated),
                       causes=tuple(range(1, len(causes) + 1)), cause_labels=tuple(causes.values()),
                       estimand=estimand, landmarks=lm, horizon=horizon, alpha=s.alpha)


def secondary_estimates(cfg: StudyConfig, f: pd.DataFrame, o: Any, *, weights: np.ndarray | None = None,
                        estimand: str = "none") -> tuple[EffectEstimate, ...]:
    """Estimates of one binary, continuous or competing-risks outcome, unweighted (``weights=None``) or IPTW.

    Parameters
    ----------
    cfg : StudyConfig
    f : DataFrame
        The cohort frame (``treatment``, ``<name>_value`` or ``<name>_time``/``<name>_status``).
    o : OutcomeInfo
        The cohort's description of the outcome.
    weights : ndarray, optional
        IPTW weights of every patient of ``f`` (0 where trimmed).
    estimand : str, default="none"
    """
    s = cfg.analysis.survival
    arms = (cfg.treatment.control, cfg.treatment.treated)
    a = f["treatment"].to_numpy(float)
    if o.type == "competing":
        return competing_comparison(cfg, f, o, weights=weights, estimand=estimand).estimates
    y = f[o.event_col].to_numpy(float)
    rec = np.isfinite(y)
    if not rec.all():
        warnings.warn(f"outcomes.{o.name}: the outcome is not recorded for {int((~rec).sum())} of {rec.size} "
                      f"patients (got missing values in the value column). They are left out of its comparison "
                      f"(complete cases); impute the outcome upstream if missingness depends on covariates.",
                      MissingDataWarning, stacklevel=2)
    fn = compare_binary if o.type == "binary" else compare_continuous
    comp = fn(y[rec], a[rec], weights=None if weights is None else weights[rec], outcome=o.name, arm_labels=arms,
              estimand=estimand, alpha=s.alpha)
    if weights is None or s.variance == "robust":
        return comp.estimates
    if cfg.analysis.propensity.method != "logistic":
        raise ConfigError(f"analysis.survival.variance: '{s.variance}' for a {o.type} outcome needs "
                          f"analysis.propensity.method 'logistic' (got {cfg.analysis.propensity.method!r}). Use "
                          f"variance: robust, or a logistic propensity model.")
    stabilize, trim, truncate = weight_settings(cfg, estimand, None, "config", "config", "secondary_estimates")
    model, X = ps_design(cfg, f)
    X = np.asarray(X, dtype=float)
    # complete cases: the propensity model is refitted on them so that the stack is one estimator
    coef = model.coef_ if rec.all() else None
    # m_estimation_corrected: the binary/continuous stacks have no small-sample version here; they use the
    # plain M-estimation sandwich (stated in their EffectEstimate.variance)
    if s.variance in ("m_estimation", "m_estimation_corrected"):
        if truncate is not None:
            raise ConfigError(f"analysis.survival.variance: 'm_estimation' cannot use truncated weights (got "
                              f"analysis.weights.truncate {list(truncate)}). Use variance: bootstrap, or trim "
                              f"instead of truncating.")
        new = m_estimation_point(y[rec], a[rec], X[rec], kind=o.type, outcome=o.name, estimand=estimand,
                                 stabilize=stabilize, trim=trim, ps_coef=coef, alpha=s.alpha, arm_labels=arms)
    else:
        new = bootstrap_point(y[rec], a[rec], X[rec], kind=o.type, outcome=o.name, estimand=estimand,
                              stabilize=stabilize, trim=trim, truncate=truncate, n_boot=s.bootstrap_replicates,
                              ci=s.bootstrap_ci, alpha=s.alpha, random_state=cfg.seed, arm_labels=arms).estimates
    return swap_estimates(comp.estimates, new)


__all__ = ["SECONDARY_TYPES", "secondary_estimates"]
