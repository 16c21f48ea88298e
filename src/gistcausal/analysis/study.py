"""The study's own analysis, as a paper would report it: Table 1 with the usual tests, unweighted Kaplan-Meier
curves with medians and numbers at risk, the log-rank test, the unadjusted and covariate-adjusted Cox hazard
ratios, and the Mann-Whitney comparison of duration outcomes.

:func:`study_analysis` returns a :class:`StudyAnalysis`; nothing is drawn here (:mod:`gistcausal.present.figures`
draws the curves from the aggregates).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal.analysis.iptw import covariate_design
from gistcausal.analysis.secondary import SECONDARY_TYPES, competing_comparison, secondary_estimates
from gistcausal.analysis.spec import table1_options, table1_spec
from gistcausal.design.cohort import Cohort
from gistcausal.design.config import StudyConfig
from gistcausal.effects import EffectEstimate
from gistcausal.present.tables import table_one
from gistcausal.stats.comparison import compare_survival


@dataclass(frozen=True)
class StudyAnalysis:
    """The unweighted analysis: ``table1`` (or None), ``comparisons`` (outcome -> SurvivalComparison),
    ``durations`` (outcome -> descriptive comparison) and every estimate in report order."""

    table1: Any = None
    comparisons: dict[str, Any] = field(default_factory=dict)
    durations: dict[str, dict[str, Any]] = field(default_factory=dict)
    estimates: tuple[EffectEstimate, ...] = ()
    competing: dict[str, Any] = field(default_factory=dict)


def study_analysis(cfg: StudyConfig, cohort: Cohort) -> StudyAnalysis:
    """Table 1, unweighted survival comparisons and duration tests for every configured outcome."""
    f = cohort.frame
    table1 = None
    spec, _ = table1_spec(cfg)
    if spec:
        table1 = table_one(f, treatment_col="treatment", covariates=spec, tests=True, missing="row",
                           **table1_options(cfg))
    landmarks = tuple(cfg.analysis.survival.landmarks)
    comparisons: dict[str, Any] = {}
    durations: dict[str, dict[str, Any]] = {}
    estimates: list[EffectEstimate] = []
    competing: dict[str, Any] = {}
    for o in cohort.outcomes:
        if o.type == "duration":
            durations[o.name] = duration_comparison(cfg, cohort, o.name)
            estimates.append(durations[o.name]["estimate"])
            continue
        if o.type == "competing":   # unadjusted cumulative incidence, kept for the figure
            competing[o.name] = competing_comparison(cfg, f, o)
            estimates.extend(competing[o.name].estimates)
            continue
        if o.type in SECONDARY_TYPES:   # binary, continuous: unadjusted estimates only
            estimates.extend(secondary_estimates(cfg, f, o))
            continue
        t, e = f[o.time_col].to_numpy(float), f[o.event_col].to_numpy(int)
        lm = tuple(x for x in landmarks if x <= np.max(t))
        comp = compare_survival(t, e, f["treatment"].to_numpy(), outcome=o.name, estimand="none",
                                method="unadjusted", landmarks=lm, horizon=None, alpha=cfg.analysis.survival.alpha,
                                arm_labels=(cohort.control, cohort.treated),
                                at_risk_times=at_risk_times(cfg, t))
        comparisons[o.name] = comp
        estimates.extend(comp.estimates)
        if cfg.covariates and o.causal and cfg.analysis.causal:
            estimates.extend(adjusted_hr(cfg, cohort, o.name))
    return StudyAnalysis(table1, comparisons, durations, tuple(estimates), competing)


def adjusted_hr(cfg: StudyConfig, cohort: Cohort, outcome: str) -> list[EffectEstimate]:
    """Covariate-adjusted Cox model (conditional HR of treatment given the propensity covariates), the
    traditional regression answer shown beside the marginal IPTW HR; model-based SE, Efron ties."""
    f = cohort.frame
    if any(f[n].isna().any() for n, c in cfg.covariates.items() if c.in_propensity):
        return []  # imputed analyses report the marginal estimates only
    comp = compare_survival(f[f"{outcome}_time"].to_numpy(float), f[f"{outcome}_event"].to_numpy(int),
                            f["treatment"].to_numpy(int), outcome=outcome, method="adjusted",
                            X=covariate_design(cfg, f), arm_labels=(cohort.control, cohort.treated),
                            alpha=cfg.analysis.survival.alpha, contrasts_only=True)   # the HR alone is kept
    return [e for e in comp.estimates if e.measure == "hr"]


def at_risk_times(cfg: StudyConfig, t: np.ndarray) -> tuple[float, ...]:
    """Times for the numbers-at-risk rows: the config's list (``analysis.at_risk_times``) as given, up to the
    longest follow-up (nobody is at risk later); without one, a round step giving about eight columns over the
    follow-up (6, 12, 24 ... months; 180, 365 ... days)."""
    t_max = float(np.max(t))
    given = cfg.analysis.at_risk_times
    if given is not None:
        return tuple(x for x in given if x <= t_max) or (0.0,)
    steps = {"days": (30, 90, 180, 365, 730, 1825), "weeks": (4, 13, 26, 52, 104), "months": (3, 6, 12, 24, 36, 60),
             "years": (0.5, 1, 2, 5, 10)}[cfg.time_unit]
    step = next((s for s in steps if t_max / s <= 9), steps[-1])
    return tuple(np.arange(0.0, t_max + 1e-9, step))


def duration_comparison(cfg: StudyConfig, cohort: Cohort, name: str) -> dict[str, Any]:
    """Medians (range) per arm and the two-sided Mann-Whitney U test, as the study's secondary outcome.

    The test is scipy's asymptotic Mann-Whitney with continuity and tie corrections, the same as R's
    ``wilcox.test(x, y, exact = FALSE, correct = TRUE)`` and SPSS's asymptotic significance.
    """
    f = cohort.frame
    col = f"{name}_time"
    rows, vals = [], {}
    for arm in (cohort.treated, cohort.control):
        x = f.loc[(f["arm"] == arm) & f[col].notna(), col].to_numpy(float)
        vals[arm] = x
        rows.append({"arm": cfg.treatment.label(arm), "n": int(x.size),
                     "median": float(np.median(x)) if x.size else math.nan,
                     "min": float(np.min(x)) if x.size else math.nan,
                     "max": float(np.max(x)) if x.size else math.nan})
    a, b = vals[cohort.treated], vals[cohort.control]
    if a.size and b.size:
        res = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
        p, u = float(res.pvalue), float(res.statistic)
    else:
        p, u = math.nan, math.nan
    table = pd.DataFrame(rows).round(2)
    est = EffectEstimate(outcome=name, contrast=f"{cohort.treated} vs {cohort.control}", estimand="none",
                         method="unadjusted", measure="mann_whitney_p", value=p, p=p, variance="none",
                         n=int(a.size + b.size), note="two-sided Mann-Whitney U, asymptotic with continuity correction",
                         extra={"U": u})
    return {"table": table, "estimate": est, "n": {k: int(v.size) for k, v in vals.items()},
            "median": {k: (float(np.median(v)) if v.size else None) for k, v in vals.items()},
            "mann_whitney_u": u, "p": p}


__all__ = ["StudyAnalysis", "study_analysis", "adjusted_hr", "at_risk_times", "duration_comparison"]
