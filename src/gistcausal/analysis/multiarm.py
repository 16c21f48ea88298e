"""The configured analysis of three or more arms (issue 18, section 3): config -> K-arm estimator calls.

Reads ``protocol.treatment`` / ``table.treatment`` (arms in the order listed: the first is the reference of the
multinomial propensity model; ``treated`` is the ATT's focal arm), the propensity covariates and their spline
terms, ``analysis.propensity.interactions``, ``analysis.weights.stabilize`` (ATE only) and
``analysis.survival`` (estimands, landmarks, horizon, alpha, variance), and calls
:func:`gistcausal.stats.multiarm_survival.multiarm_analysis` once per causal time-to-event outcome and estimand.
With ``variance: bootstrap`` the whole K-arm analysis is bootstrapped
(:func:`gistcausal.inference.multiarm_bootstrap.bootstrap_multiarm`, ``bootstrap_replicates`` and ``bootstrap_ci``,
seeded by ``seed``, run on ``analysis.engine``) and its intervals replace the robust ones of the per-arm survival
and RMST and of every pairwise survival difference and ratio, RMST difference and hazard ratio.
The settings this analysis does not support are rejected when the config is loaded
(``StudyConfig._check_multiarm``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from gistcausal.analysis.spec import level_labels
from gistcausal.analysis.study import at_risk_times
from gistcausal.analysis.variance import swap_estimates
from gistcausal.design.cohort import Cohort
from gistcausal.design.codes import code_text
from gistcausal.design.config import StudyConfig
from gistcausal.design.disclosure import suppress, threshold_for
from gistcausal.effects import EffectEstimate
from gistcausal.inference.bootstrap import BootstrapResult
from gistcausal.inference.multiarm_bootstrap import bootstrap_multiarm
from gistcausal.stats.multiarm import MultinomialPropensityModel
from gistcausal.stats.multiarm_survival import MultiArmComparison, multiarm_analysis


def is_multiarm(cfg: StudyConfig) -> bool:
    """Whether the config compares three or more arms (the K-arm analysis replaces the two-arm one)."""
    return cfg.sequential is None and len(cfg.treatment.arms) > 2


@dataclass(frozen=True)
class MultiArmAnalysis:
    """The K-arm analysis: ``comparisons`` ``(outcome, estimand)`` -> :class:`MultiArmComparison`, the
    K-column Table 1, every estimate in report order and, with ``variance: bootstrap``, the bootstrap record
    (failure counts, replicate table) per ``(outcome, estimand)``."""

    comparisons: dict[tuple[str, str], MultiArmComparison] = field(default_factory=dict)
    table1: pd.DataFrame | None = None
    estimates: tuple[EffectEstimate, ...] = ()
    bootstrap: dict[tuple[str, str], BootstrapResult] = field(default_factory=dict)


def multiarm_causal(cfg: StudyConfig, cohort: Cohort, say: Callable[[str], None] = lambda _m: None, *,
                    engine: Any = None) -> MultiArmAnalysis:
    """Generalized propensity score, K-arm weights, balance and pairwise survival contrasts for every causal
    time-to-event outcome and estimand of the config; with ``variance: bootstrap`` the bootstrap intervals
    (replicates on ``engine``, an :class:`~gistcausal.engine.Engine` or open Executor; default in this process)."""
    f = cohort.frame
    s = cfg.analysis.survival
    comparisons: dict[tuple[str, str], MultiArmComparison] = {}
    boots: dict[tuple[str, str], BootstrapResult] = {}
    estimates: list[EffectEstimate] = []
    for o in cohort.outcomes:
        if o.type != "time_to_event" or not o.causal:
            continue
        for est in s.estimands:
            say(f"More than two arms: {o.name}, {est}")
            kw = _fit_kwargs(cfg, f, outcome=o.name, time_col=o.time_col, event_col=o.event_col, estimand=est)
            res = multiarm_analysis(f, threshold=cfg.analysis.balance_threshold,
                                    at_risk_times=at_risk_times(cfg, f[o.time_col].to_numpy(float)), **kw)
            if s.variance == "bootstrap":
                say(f"Bootstrap {o.name} ({est}): {s.bootstrap_replicates} replicates of the "
                    f"{len(cfg.treatment.arms)}-arm analysis")
                boot = bootstrap_multiarm(f, n_boot=s.bootstrap_replicates, ci=s.bootstrap_ci,
                                          random_state=cfg.seed, engine=engine, **kw)
                boots[(o.name, est)] = boot
                res = replace(res, estimates=swap_estimates(res.estimates, boot.estimates),
                              warnings=tuple(res.warnings) + boot.warnings)
            comparisons[(o.name, est)] = res
            estimates += res.estimates
    table1 = table_one_multiarm(cfg, f, list(cfg.treatment.arms)) if cfg.covariates else None
    return MultiArmAnalysis(comparisons=comparisons, table1=table1, estimates=tuple(estimates), bootstrap=boots)


def multiarm_propensity(cfg: StudyConfig, f: pd.DataFrame) -> np.ndarray:
    """Generalized propensity scores :math:`e_k(x)` of the rows of ``f`` (an (n, K) array, arms in config order)
    from the configured multinomial model, as :func:`multiarm_fit` fits it (plasmode's simulated treatment)."""
    covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
    model = MultinomialPropensityModel(
        covariates=covs, splines={n: cfg.covariates[n].spline_df for n in covs if cfg.covariates[n].spline_df},
        interactions=[tuple(i) for i in cfg.analysis.propensity.interactions], arms=list(cfg.treatment.arms))
    return model.fit_predict(f, treatment_col="arm")


def _fit_kwargs(cfg: StudyConfig, f: pd.DataFrame, *, outcome: str, time_col: str, event_col: str, estimand: str,
                landmarks: Any = None, horizon: Any = "config") -> dict[str, Any]:
    """The configured arguments of :func:`~gistcausal.stats.multiarm_survival.multiarm_analysis` (and of its
    bootstrap) for one outcome and estimand, without the balance threshold and the at-risk times."""
    covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
    s = cfg.analysis.survival
    if landmarks is None:
        landmarks = [x for x in s.landmarks if x <= np.max(f[time_col].to_numpy(float))]
    return dict(treatment_col="arm", time_col=time_col, event_col=event_col, covariates=covs, outcome=outcome,
                arms=list(cfg.treatment.arms), estimand=estimand,
                focal=cfg.treatment.treated if estimand == "ATT" else None,
                stabilize=cfg.analysis.weights.stabilize and estimand == "ATE",
                splines={n: cfg.covariates[n].spline_df for n in covs if cfg.covariates[n].spline_df},
                interactions=[tuple(i) for i in cfg.analysis.propensity.interactions], landmarks=landmarks,
                horizon=s.horizon if horizon == "config" else horizon, alpha=s.alpha)


def multiarm_fit(cfg: StudyConfig, f: pd.DataFrame, *, outcome: str, time_col: str, event_col: str, estimand: str,
                 method: str = "iptw", landmarks: Any = None, horizon: Any = "config") -> MultiArmComparison:
    """The configured K-arm analysis of one time-to-event outcome under one estimand (the run and plasmode
    replicates call this): multinomial propensity score with the configured splines and interactions, K-arm
    weights, balance, pairwise contrasts. ``landmarks`` (default: the configured ones up to the longest follow-up)
    and ``horizon`` (default: the configured one) can be narrowed by a caller that knows each arm's follow-up."""
    kw = _fit_kwargs(cfg, f, outcome=outcome, time_col=time_col, event_col=event_col, estimand=estimand,
                     landmarks=landmarks, horizon=horizon)
    return multiarm_analysis(f, threshold=cfg.analysis.balance_threshold, method=method,
                             at_risk_times=at_risk_times(cfg, f[time_col].to_numpy(float)), **kw)


def table_one_multiarm(cfg: StudyConfig, f: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Table 1 with one column per arm (unweighted): n (%) per level of categorical covariates, mean (SD) or
    median (range/IQR) of continuous ones as configured, and the number missing where there are any. Counts
    below ``output.small_cell_threshold`` print as ``<k`` (with no percentage, which would reveal them)."""
    tr = cfg.treatment
    k_min = threshold_for(cfg)

    def count(k: int, n: int) -> str:
        shown = suppress(k, k_min)
        return str(shown) if isinstance(shown, str) else f"{k} ({100 * k / n:.1f}%)"
    masks = {a: (f["arm"] == a).to_numpy() for a in arms}
    head = {tr.label(a): f"n = {suppress(int(m.sum()), k_min)}" for a, m in masks.items()}
    rows: list[dict[str, Any]] = [{"Characteristic": "Patients", "Level": "", **head}]
    names = level_labels(cfg)   # the config's labels by code text; the missing level "Not reported"
    for name, c in cfg.covariates.items():
        if not c.in_table1:
            continue
        label = c.label or name
        x = f[name]
        if c.type == "continuous":
            summary = c.summary or "mean_sd"
            row = {"Characteristic": label, "Level": {"mean_sd": "mean (SD)", "median_range": "median (range)",
                                                      "median_iqr": "median (IQR)"}[summary]}
            for a, m in masks.items():
                v = pd.to_numeric(x[m], errors="coerce").dropna().to_numpy(float)
                row[tr.label(a)] = _continuous(v, summary)
            rows.append(row)
        else:
            levels = list(x.cat.categories) if isinstance(x.dtype, pd.CategoricalDtype) else sorted(
                x.dropna().unique(), key=str)
            for lv in levels:
                row = {"Characteristic": label, "Level": names.get(name, {}).get(code_text(lv), code_text(lv))}
                for a, m in masks.items():
                    xa = x[m].dropna()
                    row[tr.label(a)] = count(int((xa == lv).sum()), len(xa)) if len(xa) else "-"
                rows.append(row)
        n_missing = {a: int(x[m].isna().sum()) for a, m in masks.items()}
        if any(n_missing.values()):
            rows.append({"Characteristic": label, "Level": "Missing",
                         **{tr.label(a): str(suppress(n, k_min)) for a, n in n_missing.items()}})
    return pd.DataFrame(rows)


def _continuous(v: np.ndarray, summary: str) -> str:
    if v.size == 0:
        return "-"
    if summary == "mean_sd":
        sd = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
        return f"{v.mean():.1f} ({sd:.1f})"
    if summary == "median_iqr":
        q1, q3 = np.quantile(v, [0.25, 0.75])
        return f"{np.median(v):.1f} ({q1:.1f}-{q3:.1f})"
    return f"{np.median(v):.1f} ({v.min():.1f}-{v.max():.1f})"


__all__ = ["MultiArmAnalysis", "multiarm_causal", "multiarm_fit", "multiarm_propensity", "is_multiarm", "table_one_multiarm"]
