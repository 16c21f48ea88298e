"""The causal analysis of a run: propensity score, weights per estimand, balance before and after weighting,
the weighted Table 1, and the IPTW survival comparison of every causal outcome under every estimand, with the
configured variance, multiple-imputation pooling and the optional doubly robust estimate.

:func:`causal_analysis` returns a :class:`CausalAnalysis` holding aggregates only (weights as
:class:`~gistcausal.results.WeightSummary`, propensity scores as a binned histogram, Schoenfeld residuals as
points or, under disclosure control, binned means).
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gistcausal.analysis.iptw import CausalFit, causal_fit, configured_weights, fit_propensity
from gistcausal.analysis.secondary import SECONDARY_TYPES, competing_comparison, secondary_estimates
from gistcausal.analysis.spec import engine as spec_engine
from gistcausal.analysis.spec import table1_options, table1_spec
from gistcausal.analysis.study import at_risk_times
from gistcausal.analysis.variance import with_variance
from gistcausal.design.cohort import Cohort
from gistcausal.design.config import StudyConfig
from gistcausal.design.disclosure import threshold_for
from gistcausal.effects import EffectEstimate
from gistcausal.errors import GistCausalError, MissingDataWarning, SmallSampleWarning
from gistcausal.present.tables import table_one
from gistcausal.results import WeightSummary, histogram_by_arm
from gistcausal.stats.balance import balance_table
from gistcausal.stats.cox import schoenfeld_residuals
from gistcausal.stats.doubly_robust import ESTIMANDS as DR_ESTIMANDS
from gistcausal.stats.doubly_robust import aiptw_survival_by_estimand
from gistcausal.stats.impute import impute_chained, pool_estimates

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class CausalAnalysis:
    """Aggregates of the causal analysis (see the module docstring)."""

    propensity: Any
    weights: dict[str, WeightSummary]
    balance: dict[str, Any]
    table1_weighted: dict[str, Any]
    comparisons: dict[tuple[str, str], Any]
    estimates: tuple[EffectEstimate, ...]
    bootstrap: dict[tuple[str, str], Any] = field(default_factory=dict)
    overlap: pd.DataFrame | None = None
    ph_residuals: pd.DataFrame | None = None
    ph_title: str = ""
    failed: dict[str, str] = field(default_factory=dict)
    competing: dict[tuple[str, str], Any] = field(default_factory=dict)


def causal_analysis(cfg: StudyConfig, cohort: Cohort, say: ProgressFn, *, engine: Any = None) -> CausalAnalysis:
    """Run the configured IPTW analysis of every causal outcome under every configured estimand.

    ``engine`` (an :class:`~gistcausal.engine.Engine` or open :class:`~gistcausal.engine.Executor`) runs the
    bootstrap replicates; default ``analysis.engine``."""
    engine = spec_engine(cfg) if engine is None else engine
    f = cohort.frame
    imputed = imputations(cfg, f)
    if imputed:
        cols = impute_columns(cfg, f)
        warnings.warn(f"covariates: {len(imputed)} multiply imputed data sets (chained equations) for "
                      f"{', '.join(cols)} (got {int(f[cols].isna().sum().sum())} "
                      "missing values); estimates are pooled by Rubin's rules, balance and figures show imputed data "
                      "set 1. Set covariates.<name>.missing to another rule to change this.", MissingDataWarning,
                      stacklevel=2)
        f = imputed[0]
    propensity, ps = fit_propensity(cfg, f)
    a = f["treatment"].to_numpy(int)
    overlap = histogram_by_arm(ps, a, np.linspace(0, 1, 31), density=True,
                               arm_names=(cfg.treatment.label(cohort.treated), cfg.treatment.label(cohort.control)))
    acc = _Accumulator()
    for est in cfg.analysis.survival.estimands:
        _one_estimand(cfg, cohort, f, ps, est, imputed, acc, say, engine)
    return CausalAnalysis(propensity, acc.weights, acc.balance, acc.table1_weighted, acc.comparisons,
                          tuple(acc.estimates), acc.bootstrap, overlap, acc.ph_residuals, acc.ph_title, acc.failed,
                          acc.competing)


@dataclass
class _Accumulator:
    """Collects the per-estimand pieces inside :func:`causal_analysis` (local to one call)."""

    weights: dict = field(default_factory=dict)
    balance: dict = field(default_factory=dict)
    table1_weighted: dict = field(default_factory=dict)
    comparisons: dict = field(default_factory=dict)
    estimates: list = field(default_factory=list)
    bootstrap: dict = field(default_factory=dict)
    ph_residuals: Any = None
    ph_title: str = ""
    failed: dict = field(default_factory=dict)
    competing: dict = field(default_factory=dict)
    doubly_robust: dict = field(default_factory=dict)   # (outcome, kept patients) -> {estimand: result}


def _one_estimand(cfg: StudyConfig, cohort: Cohort, f: pd.DataFrame, ps: np.ndarray, est: str,
                  imputed: list[pd.DataFrame], acc: _Accumulator, say: ProgressFn, engine: Any) -> None:
    a = f["treatment"].to_numpy(int)
    fits = {}
    for o in cohort.outcomes:
        if o.type != "time_to_event" or not o.causal:
            continue
        t = f[o.time_col].to_numpy(float)
        fit = causal_fit(cfg, f, outcome=o.name, estimand=est, ps=ps, at_risk_times=at_risk_times(cfg, t))
        fits[o.name] = _with_variance(cfg, f, fit, acc.bootstrap, say, engine)
    wr = next(iter(fits.values())).weights if fits else configured_weights(cfg, ps, a, estimand=est, frame=f)
    acc.weights[est] = WeightSummary.from_result(wr)
    _secondary_outcomes(cfg, cohort, f, wr.weights, est, acc)
    bal_covs = [n for n, c in cfg.covariates.items() if c.in_propensity or c.in_table1]
    acc.balance[est] = balance_table(f, treatment_col="treatment", covariates=bal_covs, weights=wr.weights,
                                     estimand=est, threshold=cfg.analysis.balance_threshold)
    spec, _ = table1_spec(cfg)
    if spec:
        acc.table1_weighted[est] = table_one(f, treatment_col="treatment", covariates=spec, weights=wr.weights,
                                             tests=True, estimand=est, **table1_options(cfg))
    dr = cfg.analysis.survival.doubly_robust
    for name, fit in fits.items():
        acc.comparisons[(name, est)] = fit.comparison
        if imputed:
            fits_m = [_with_variance(cfg, g, causal_fit(cfg, g, outcome=name, estimand=est), acc.bootstrap, say,
                                     engine)
                      for g in imputed]
            acc.estimates.extend(pool_estimates([x.estimates for x in fits_m], alpha=cfg.analysis.survival.alpha))
            if dr:
                per_dr = [tuple(_doubly_robust_optional(cfg, g, fit_propensity(cfg, g)[1], x, name, est, acc))
                          for g, x in zip(imputed, fits_m)]
                if per_dr and all(per_dr):
                    acc.estimates.extend(pool_estimates(per_dr, alpha=cfg.analysis.survival.alpha))
        else:
            acc.estimates.extend(fit.comparison.estimates)
            if dr:
                acc.estimates.extend(_doubly_robust_optional(cfg, f, ps, fit, name, est, acc, shared=acc.doubly_robust))
        if name == cfg.primary_outcome and est == cfg.analysis.survival.estimands[0]:
            acc.ph_residuals = ph_residuals(f, name, fit.weights.weights, bins=threshold_for(cfg))
            acc.ph_title = f"Proportional hazards check: {cfg.outcomes[name].label}, IPTW ({est})"


# ----------------------------------------------------------------------------------------------------
# binary, continuous and competing-risks outcomes (issue 18): same weights, estimates only
# ----------------------------------------------------------------------------------------------------
def _secondary_outcomes(cfg: StudyConfig, cohort: Cohort, f: pd.DataFrame, w: np.ndarray, est: str,
                        acc: _Accumulator) -> None:
    """IPTW estimates of every causal binary, continuous and competing outcome under ``est``
    (:func:`gistcausal.analysis.secondary.secondary_estimates`); a failure is recorded, the rest is kept.
    With multiple imputation they use imputed data set 1's weights (the outcomes themselves are not imputed)."""
    for o in cohort.outcomes:
        if o.type not in SECONDARY_TYPES or not o.causal:
            continue
        try:
            if o.type == "competing":
                acc.competing[(o.name, est)] = competing_comparison(cfg, f, o, weights=w, estimand=est)
                acc.estimates.extend(acc.competing[(o.name, est)].estimates)
            else:
                acc.estimates.extend(secondary_estimates(cfg, f, o, weights=w, estimand=est))
        except GistCausalError as err:
            acc.failed[f"{o.type} outcome ({o.name}, {est})"] = str(err).splitlines()[0]


def ph_residuals(f: pd.DataFrame, outcome: str, w: np.ndarray, *, bins: int = 0,
                 max_points: int = 1000) -> pd.DataFrame:
    """Scaled Schoenfeld residuals of treatment in the IPTW Cox model (as R ``cox.zph``), against event time.

    One row per event (``n = 1``) when ``bins`` is 0; under disclosure control (``bins`` = the small-cell
    threshold k) the residuals are averaged over consecutive groups of at least k events, so no point stands
    for fewer than k patients. Above ``max_points`` events (a registry-sized cohort) they are averaged over
    consecutive groups of ``ceil(events / max_points)`` events, so the figure is drawn from at most
    ``max_points`` aggregates (and its LOWESS smooth, quadratic in the points, stays instant); the
    proportional-hazards test itself (:func:`~gistcausal.stats.cox.cox_zph`) uses every event.
    """
    kept = w > 0
    res = schoenfeld_residuals(f[f"{outcome}_time"].to_numpy(float)[kept], f[f"{outcome}_event"].to_numpy(int)[kept],
                               f["treatment"].to_numpy(float)[kept][:, None], weights=w[kept], names=["treatment"])
    out = pd.DataFrame({"time": res["time"].to_numpy(float), "residual": res["treatment"].to_numpy(float),
                        "n": 1})
    if len(out) > max_points:
        bins = max(int(bins or 0), -(-len(out) // max_points))
    if bins and bins > 1 and len(out):
        group = np.arange(len(out)) // bins
        if len(out) % bins and group.max() > 0:
            group[group == group.max()] = group.max() - 1  # fold a short last group into the one before
        out = out.groupby(group).agg(time=("time", "mean"), residual=("residual", "mean"),
                                     n=("n", "sum")).reset_index(drop=True)
    return out


def _doubly_robust_optional(cfg: StudyConfig, f: pd.DataFrame, ps: np.ndarray, fit: CausalFit, outcome: str,
                            estimand: str, acc: _Accumulator, *, shared: dict | None = None
                            ) -> list[EffectEstimate]:
    """The doubly robust estimate as an optional step: a failure is recorded, the IPTW results are kept.

    ``shared`` (one causal analysis of one data set) keeps the results of every configured estimand computed
    together for the same outcome and patients, so the nuisance models are fitted once for all of them."""
    try:
        return _doubly_robust(cfg, f, ps, fit, outcome, estimand, shared)
    except GistCausalError as err:
        acc.failed[f"doubly_robust ({outcome}, {estimand})"] = str(err).splitlines()[0]
        return []


def _with_variance(cfg: StudyConfig, f: pd.DataFrame, fit: CausalFit, bootstrap: dict, say: ProgressFn,
                   engine: Any) -> CausalFit:
    """Swap in the configured variance (``m_estimation`` or ``bootstrap``, :mod:`gistcausal.analysis.variance`); the
    point estimates are unchanged and every interval states its variance method."""
    s = cfg.analysis.survival
    if s.variance == "robust":
        return fit
    total_seen = {"last": -1}

    def tick(done: int, total: int) -> None:  # a line per 10%, so logs stay readable
        step = max(total // 10, 1)
        if done == total or done // step != total_seen["last"]:
            total_seen["last"] = done // step
            say(f"Bootstrap {fit.outcome} ({fit.estimand}): {done}/{total} replicates")

    comp, boot = with_variance(cfg, f, fit.comparison, outcome=fit.outcome, estimand=fit.estimand,
                               variance=s.variance, n_boot=s.bootstrap_replicates, ci=s.bootstrap_ci,
                               progress=tick, engine=engine)
    if boot is not None:
        bootstrap[(fit.outcome, fit.estimand)] = boot
    return dataclasses.replace(fit, comparison=comp)


def _doubly_robust(cfg: StudyConfig, f: pd.DataFrame, ps: np.ndarray, fit: CausalFit, outcome: str,
                   estimand: str, shared: dict | None = None) -> list[EffectEstimate]:
    """AIPTW-AIPCW survival at the landmarks and RMST (:mod:`gistcausal.stats.doubly_robust`) beside the IPTW
    estimates; ATO has no AIPTW form here and is skipped with a warning."""
    if estimand not in DR_ESTIMANDS:
        warnings.warn(f"analysis.survival.doubly_robust: no AIPTW estimator for estimand {estimand} (got "
                      f"{estimand}); only IPTW is reported for it. Use ATE, ATT or ATC for the doubly robust "
                      "estimate.", SmallSampleWarning, stacklevel=2)
        return []
    kept = fit.weights.weights > 0
    s = cfg.analysis.survival
    covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
    key = (outcome, kept.tobytes())
    if shared is not None and estimand in shared.get(key, {}):
        return list(shared[key][estimand].estimates)
    # every configured estimand with a doubly robust form, fitted together on these patients
    together = [e for e in s.estimands if e in DR_ESTIMANDS] if shared is not None else [estimand]
    sub = f.loc[kept].reset_index(drop=True)
    dr = aiptw_survival_by_estimand(
        sub[f"{outcome}_time"].to_numpy(float), sub[f"{outcome}_event"].to_numpy(int),
        sub["treatment"].to_numpy(int), sub[covs], outcome=outcome, ps=ps[kept], landmarks=tuple(s.landmarks),
        horizon=s.horizon, estimands=together if estimand in together else [estimand], alpha=s.alpha,
        arm_labels=(cfg.treatment.control, cfg.treatment.treated))
    if shared is not None:
        shared[key] = dr
    return list(dr[estimand].estimates)


def impute_columns(cfg: StudyConfig, f: pd.DataFrame) -> list[str]:
    return [n for n, c in cfg.covariates.items() if c.missing == "impute" and f[n].isna().any()]


def imputations(cfg: StudyConfig, f: pd.DataFrame) -> list[pd.DataFrame]:
    """Completed copies of the cohort frame when covariates marked ``missing: impute`` have missing values."""
    cols = impute_columns(cfg, f)
    if not cols:
        return []
    model_cols = [n for n, c in cfg.covariates.items() if c.in_propensity or n in cols] + ["treatment"]
    # A covariate the propensity model takes on the log scale (transform: log) is imputed on that scale and
    # back-transformed, so imputed values stay positive and the imputation model is linear where the analysis
    # model is (von Hippel 2009); observed values are kept exactly. Observed values <= 0 are left to the
    # design matrix's check, which names the covariate.
    logged = [n for n in model_cols if n in cfg.covariates and cfg.covariates[n].transform == "log"
              and n in f.columns and not (pd.to_numeric(f[n], errors="coerce") <= 0).any()]
    work = f.assign(**{n: np.log(pd.to_numeric(f[n], errors="coerce")) for n in logged}) if logged else f
    done = impute_chained(work, columns=model_cols, m=cfg.analysis.imputations, random_state=cfg.seed)
    if not logged:
        return done
    return [d.assign(**{n: np.where(f[n].notna(), pd.to_numeric(f[n], errors="coerce"), np.exp(d[n]))
                        for n in logged}) for d in done]


__all__ = ["CausalAnalysis", "causal_analysis", "ph_residuals", "imputations", "impute_columns"]
