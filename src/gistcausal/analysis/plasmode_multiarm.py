"""Plasmode simulation of a study with three or more arms (issue 18, section 3).

:func:`gistcausal.analysis.plasmode.plasmode` hands a K-arm config (``treatment.arms`` with three or more arms)
to here; execution, checkpoint, metrics and result are those of the two-arm plasmode, with one row per pairwise
contrast.

Generating model
    Rows resampled with replacement *within each arm* (arm sizes as in the cohort, or proportional to them with
    ``sample_size``), or, with ``treatment="simulated"``, regardless of arm with the arm drawn from the configured
    multinomial propensity model fitted once to the cohort (so the analysis' propensity model is correctly
    specified). Event times from a Weibull PH model fitted to the cohort with one indicator per
    non-reference arm (the reference is the first arm listed in ``treatment.arms``),
    :math:`\\Lambda(t\\mid x, a) = \\exp(c_0 + x^\\top\\beta + \\sum_{k\\ne 1}\\psi_k 1\\{a = k\\})\\,t^{\\kappa}`,
    each :math:`\\psi_k` replaced by :math:`\\log(\\text{true\\_hr})` (the same conditional HR for every arm against
    the reference; unset: the fitted ones). Censoring: a Weibull PH model (the arm indicators, or all covariates
    with enough censorings) and administrative censoring at the longest follow-up, as for two arms.

Truth
    The marginal effect of every pair (B vs A, A listed before B, as the K-arm analysis reports it) in the target
    population (ATE: every row; ATT: the rows of the focal arm ``treatment.treated``, or weights
    :math:`e_{\text{focal}}(x)` under simulated treatment): ``n_mc`` rows resampled
    within arm, the K potential event times drawn from one common exponential per row, uncensored; the marginal
    HR is the Cox estimate on the stacked pair, the survival and RMST differences their weighted means
    (:func:`~gistcausal.analysis.plasmode_models.paired_truth_table`).

Analysis of each replicate
    :func:`gistcausal.analysis.multiarm.multiarm_fit`, the run's K-arm analysis (multinomial propensity score,
    K-arm weights, pairwise contrasts), with ``method="iptw"`` and, if asked, ``"unadjusted"``; landmarks and the
    horizon beyond an arm's follow-up in a replicate are not estimable there (``n_nonfinite``).

References
----------
Franklin JM et al. Comput Stat Data Anal 2014;70:122-133. McCaffrey DF et al. A tutorial on propensity score
estimation for multiple treatments using generalized boosted models. Stat Med 2013;32:3388-414 (pairwise ATE and
ATT of K treatments).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gistcausal.analysis.plasmode_models import (WeibullPH, _design, _seed, censoring_times, fit_censoring,
                                                 fit_weibull_ph, in_time_order, paired_truth_table)
from gistcausal.design.config import StudyConfig
from gistcausal.errors import ConfigError, DataError

_MEASURES = ("hr", "rmst_diff", "surv_diff")


def arm_sizes(n_arms: tuple[int, ...], sample_size: int) -> tuple[int, ...]:
    """Sizes proportional to the cohort's arms, summing to ``sample_size`` (largest remainders round up)."""
    total = sum(n_arms)
    raw = [sample_size * n / total for n in n_arms]
    out = [int(math.floor(r)) for r in raw]
    for k in sorted(range(len(raw)), key=lambda j: (out[j] - raw[j], j))[:sample_size - sum(out)]:
        out[k] += 1
    return tuple(out)


def analyse_multiarm(cfg: StudyConfig, frame: pd.DataFrame, outcome: str, estimand: str, methods: tuple[str, ...],
                     keys: tuple[tuple[str, str, float | None], ...]) -> list[dict[str, Any]]:
    """The configured K-arm analysis of one replicate -> summary rows, one per (contrast, measure, time) of
    ``keys``; a landmark or horizon beyond an arm's follow-up gives a NaN row."""
    from gistcausal.analysis.multiarm import multiarm_fit

    s = cfg.analysis.survival
    t = frame[f"{outcome}_time"].to_numpy(float)
    arm = frame["arm"].to_numpy()
    last = min(float(np.max(t[arm == a])) for a in cfg.treatment.arms)
    landmarks = [x for x in s.landmarks if x <= last]
    horizon = s.horizon if s.horizon is not None and s.horizon <= last else None
    rows: list[dict[str, Any]] = []
    for m in methods:
        comp = multiarm_fit(cfg, frame, outcome=outcome, time_col=f"{outcome}_time", event_col=f"{outcome}_event",
                            estimand=estimand, method=m, landmarks=landmarks, horizon=horizon)
        got = {}
        for e in comp.estimates:
            if e.measure in _MEASURES and " vs " in e.contrast:
                tk = None if not math.isfinite(e.time) else round(float(e.time), 9)
                got[(e.contrast, e.measure, tk)] = {
                    "method": m, "contrast": e.contrast, "measure": e.measure, "time": tk, "variance": e.variance,
                    "scale": e.scale, "value": float(e.value), "se": float(e.se), "ci_low": float(e.ci_low),
                    "ci_high": float(e.ci_high), "p": float(e.p)}
        variance = next((r["variance"] for r in got.values()), "none")
        for contrast, measure, time in keys:
            k = (contrast, measure, None if time is None else round(float(time), 9))
            rows.append(got.get(k) or {"method": m, "contrast": contrast, "measure": measure, "time": k[2],
                                       "variance": variance, "scale": "log" if measure == "hr" else "identity",
                                       "value": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                                       "p": math.nan})
    return rows


def _draw_arm(rng: np.random.Generator, ps: np.ndarray) -> np.ndarray:
    """One arm position per row from its generalized propensity scores (inverse CDF of one uniform)."""
    u = rng.random(ps.shape[0])
    return np.minimum((np.cumsum(ps, axis=1) < u[:, None]).sum(axis=1), ps.shape[1] - 1)


@dataclass(frozen=True)
class _MultiArmTask:
    """Everything a worker needs to simulate and analyse K-arm plasmode replicates."""

    cfg: StudyConfig
    frame: pd.DataFrame
    z: np.ndarray                              # K - 1 arm indicators, then the covariates
    outcome: str
    estimand: str
    methods: tuple[str, ...]
    event_model: WeibullPH
    censor_model: WeibullPH | None
    effects: np.ndarray                        # injected log HR of each non-reference arm
    admin_time: float
    arm_index: tuple[np.ndarray, ...]
    sizes: tuple[int, ...]
    random_state: int
    keys: tuple[tuple[str, str, float | None], ...]
    ps: np.ndarray | None = None               # treatment="simulated": e_k(x) of each cohort row, (n, K)
    arms: tuple[str, ...] = ()

    def dataset(self, i: int) -> pd.DataFrame:
        rng = np.random.default_rng(_seed(self.random_state, i))
        k1 = self.effects.size
        if self.ps is None:
            idx = np.concatenate([rng.choice(ix, size=n, replace=True) if n > 0 else ix[:0]
                                  for ix, n in zip(self.arm_index, self.sizes)])
            zi = self.z[idx]
        else:  # rows regardless of arm, the arm drawn from the fitted generalized propensity score
            idx = rng.integers(0, self.z.shape[0], size=sum(self.sizes))
            arm = _draw_arm(rng, self.ps[idx])
            zi = self.z[idx].copy()
            zi[:, :k1] = (arm[:, None] == np.arange(1, k1 + 1)[None, :]).astype(float)
        z0 = zi.copy()
        z0[:, :k1] = 0.0
        eta = self.event_model.linear_predictor(z0) + zi[:, :k1] @ self.effects
        t = self.event_model.draw(eta, rng.exponential(size=idx.size))
        c = censoring_times(rng, self.censor_model, zi, self.admin_time, idx.size)
        out = self.frame.iloc[idx].reset_index(drop=True)
        if self.ps is not None:
            out["arm"] = np.asarray(self.arms, dtype=object)[arm]
        out[f"{self.outcome}_time"] = np.minimum(t, c)
        out[f"{self.outcome}_event"] = (t <= c).astype(int)
        return out

    def run(self, i: int) -> list[dict[str, Any]]:
        return analyse_multiarm(self.cfg, in_time_order(self.dataset(i), self.outcome), self.outcome, self.estimand,
                                self.methods, self.keys)


def check_multiarm_settings(where: str, s: Any, estimand: str) -> None:
    """What the K-arm plasmode does not support yet is refused (honoured or rejected)."""
    rules = [(s.true_effect_measure != "hr", f"true_effect_measure={s.true_effect_measure!r}",
              "true_effect_measure='hr' (a conditional HR per arm)"),
             (s.unmeasured_confounder is not None, "an unmeasured_confounder", "unmeasured_confounder=None"),
             (estimand not in ("ATE", "ATT"), f"estimand={estimand!r}", "estimand='ATE' or 'ATT' (focal arm: "
              "treatment.treated)")]
    for bad, got, fix in rules:
        if bad:
            raise ConfigError(f"{where}: this setting is not available with more than two arms (got {got}). Pass "
                              f"{fix}.")


def setup_multiarm(cfg: StudyConfig, frame: pd.DataFrame, s: Any, *, outcome: str, estimand: str, seed: int,
                   where: str) -> tuple[_MultiArmTask, pd.DataFrame, dict[str, Any]]:
    """Generating models, truth, replicate task and settings record of a K-arm plasmode (``s``: the
    :class:`~gistcausal.analysis.plasmode.PlasmodeSettings`)."""
    check_multiarm_settings(where, s, estimand)
    tcol, ecol = f"{outcome}_time", f"{outcome}_event"
    missing = [c for c in ("arm", tcol, ecol) if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: outcome '{outcome}' needs columns {', '.join(missing)} in the cohort frame (got "
                        f"{len(frame.columns)} columns without them). Pass a time-to-event outcome of the cohort.")
    frame = frame.reset_index(drop=True)
    arms = tuple(cfg.treatment.arms)
    arm = frame["arm"].to_numpy()
    arm_index = tuple(np.flatnonzero(arm == a) for a in arms)
    n_arms = tuple(int(ix.size) for ix in arm_index)
    if min(n_arms) == 0:
        raise DataError(f"{where}: every arm needs patients (got {dict(zip(arms, n_arms))}). Pass the analysis "
                        "cohort's frame.")
    covs = list(s.covariates) if s.covariates is not None else [n for n, c in cfg.covariates.items()
                                                                  if c.in_propensity]
    zc, cov_names = _design(frame, covs, where)
    dummies = np.column_stack([(arm == a).astype(float) for a in arms[1:]])
    z = np.column_stack([dummies, zc])
    names = (*(f"arm[{a}]" for a in arms[1:]), *cov_names)
    t, d = frame[tcol].to_numpy(float), frame[ecol].to_numpy(int)
    event_model = fit_weibull_ph(t, d, z, names=names, penalty=s.penalty, where=f"{where}: event model")
    censor_model, cens_cols = fit_censoring(t, d, z, names=names, rule=s.censoring_model, penalty=s.penalty,
                                            where=where, treatment_cols=len(arms) - 1)
    k1 = len(arms) - 1
    effects = (event_model.coef[:k1].copy() if s.true_hr is None else np.full(k1, math.log(s.true_hr)))
    sample_size = sum(n_arms) if s.sample_size is None else int(s.sample_size)
    sv = cfg.analysis.survival
    # truth: n_mc rows resampled as a replicate would, K potential times from one exponential per row
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    focal = arms.index(cfg.treatment.treated) if estimand == "ATT" else None
    ps = None
    if s.treatment == "simulated":
        from gistcausal.analysis.multiarm import multiarm_propensity

        with warnings.catch_warnings():  # the real-cohort fit's own warnings belong to the main analysis
            warnings.simplefilter("ignore")
            ps = np.asarray(multiarm_propensity(cfg, frame), float)
        idx = rng.integers(0, len(frame), size=int(s.n_mc))
        w = np.ones(idx.size) if focal is None else ps[idx, focal]
    else:
        idx = np.concatenate([rng.choice(ix, size=m, replace=True)
                              for ix, m in zip(arm_index, arm_sizes(n_arms, int(s.n_mc)))])
        w = np.ones(idx.size) if focal is None else (arm[idx] == arms[focal]).astype(float)
    z0 = z[idx].copy()
    z0[:, :k1] = 0.0
    base = event_model.linear_predictor(z0)
    e = rng.exponential(size=idx.size)
    pot = [event_model.draw(base + (0.0 if k == 0 else effects[k - 1]), e) for k in range(len(arms))]
    tabs = []
    for i in range(len(arms)):
        for j in range(i + 1, len(arms)):
            tab = paired_truth_table(pot[j], pot[i], w, tuple(sv.landmarks), sv.horizon)
            if np.array_equal(pot[j], pot[i]):  # equal effects: identical potential outcomes, HR exactly 1
                tab.loc[tab["measure"] == "hr", ["value", "mc_se"]] = [1.0, 0.0]
            tab.insert(0, "contrast", f"{arms[j]} vs {arms[i]}")
            tabs.append(tab)
    truth = pd.concat(tabs, ignore_index=True)
    keys = tuple((r.contrast, r.measure, None if r.time is None or (isinstance(r.time, float) and math.isnan(r.time))
                  else float(r.time)) for r in truth.itertuples())
    sizes = arm_sizes(n_arms, sample_size)
    record = {
        "kind": "plasmode", "outcome": outcome, "outcome_type": "time_to_event", "estimand": estimand,
        "arms": list(arms), "reference": arms[0], "focal": arms[focal] if focal is not None else None,
        "n_replicates": int(s.n_replicates), "sample_size": sample_size, "arm_sizes": dict(zip(arms, sizes)),
        "cohort_arm_sizes": dict(zip(arms, n_arms)), "true_hr": s.true_hr, "true_effect_measure": "hr",
        "conditional_hr": None,
        "conditional_hr_by_arm": {f"{a} vs {arms[0]}": math.exp(b) for a, b in zip(arms[1:], effects)},
        "unmeasured_confounder": None, "treatment": s.treatment, "covariates": covs, "methods": list(s.methods),
        "random_state": seed, "n_mc": int(s.n_mc), "penalty": float(s.penalty),
        "censoring_covariates": list(names[:cens_cols]) if censor_model is not None else [],
        "admin_censoring_time": float(np.max(t)), "event_model": event_model.to_dict(),
        "censoring_model": None if censor_model is None else censor_model.to_dict(),
        "landmarks": list(map(float, sv.landmarks)), "horizon": sv.horizon, "alpha": sv.alpha,
        "backend": s.backend, "n_jobs": int(s.n_jobs)}
    task = _MultiArmTask(cfg=cfg, frame=frame, z=z, outcome=outcome, estimand=estimand, methods=tuple(s.methods),
                         event_model=event_model, censor_model=censor_model, effects=np.asarray(effects, float),
                         admin_time=float(np.max(t)), arm_index=arm_index, sizes=sizes, random_state=seed,
                         keys=keys, ps=ps, arms=arms)
    return task, truth, record


__all__ = ["analyse_multiarm", "arm_sizes", "check_multiarm_settings", "setup_multiarm"]
