"""Plasmode simulation of binary, continuous and competing-risks outcomes (issue 18).

:func:`gistcausal.analysis.plasmode.plasmode` hands a primary outcome of ``type: binary``, ``continuous`` or
``competing`` to here: the generating model, the exact truth and the replicate task differ by outcome type; the
execution, checkpoint, metrics and result are those of the time-to-event plasmode.

Generating models (fitted to the real cohort on the same covariate design as the Weibull model: continuous
covariates standardized, categories dummy-coded against their most frequent level, treatment first)
    Binary: logistic regression :math:`\\operatorname{logit} P(Y=1\\mid x,a) = c_0 + x^\\top\\beta + a\\psi`,
    :math:`\\psi = \\log(\\text{true\\_or})`. Continuous: :math:`Y = c_0 + x^\\top\\beta + a\\psi + \\varepsilon`,
    :math:`\\varepsilon\\sim N(0,\\hat\\sigma^2)` with the fitted residual SD, :math:`\\psi = \\text{true\\_mean\\_diff}`.
    Competing risks: one Weibull PH model per cause (the other causes censor), the cause of interest with
    :math:`\\log(\\text{true\\_hr})` as its treatment coefficient, the other causes with their fitted one; latent
    times per cause, the first one is the event; censoring as for time-to-event outcomes. Unset injected effect:
    the fitted treatment coefficient.

Truth (exact, not simulated)
    The potential-outcome risk/mean, or cumulative incidence, of every row of the target population under both
    treatments from the generating model, averaged with the estimand's weights (ATE: every cohort row; ATT: the
    treated rows, or weights :math:`e(x)` under simulated treatment; ATC: the converse):
    :func:`~gistcausal.analysis.plasmode_models.point_truth`, :func:`~gistcausal.analysis.plasmode_models.cif_truth`.

Analysis of each replicate
    As the pipeline analyses that outcome type: the configured propensity model is refitted, weights as
    configured (:func:`gistcausal.analysis.iptw.configured_weights`), then
    :func:`gistcausal.analysis.secondary.secondary_estimates` (binary, continuous: ``risk_diff``, ``risk_ratio``,
    ``odds_ratio`` / ``mean_diff`` with the configured variance) or
    :func:`gistcausal.analysis.secondary.competing_comparison` (``cif_diff`` at the landmarks within both arms'
    follow-up, ``rmtl_diff`` at the horizon, of the cause of interest). ``analysis.survival.variance: bootstrap``
    is replaced by the robust variance inside replicates (a bootstrap per replicate), as for time-to-event outcomes.

References
----------
Franklin JM et al. Comput Stat Data Anal 2014;70:122-133. Hernán MA, Robins JM. Causal Inference: What If,
ch. 12 (standardization and marginal effects). Beyersmann J, Latouche A, Buchholz A, Schumacher M. Simulating
competing risks data in survival analysis. Stat Med 2009;28:956-71 (latent cause-specific times).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from gistcausal.analysis.plasmode_models import (PointOutcomeModel, WeibullPH, _arm_sizes, _design, _draw_u,
                                                 _seed, censoring_times, cif_truth, fit_censoring, fit_point_model,
                                                 fit_weibull_ph, point_truth, resample_rows)
from gistcausal.design.cohort import OutcomeInfo
from gistcausal.design.config import StudyConfig
from gistcausal.errors import ConfigError, DataError

#: Contrast measures compared with the truth, per outcome type.
TYPE_MEASURES = {"binary": ("risk_diff", "risk_ratio", "odds_ratio"), "continuous": ("mean_diff",),
                 "competing": ("cif_diff", "rmtl_diff")}


def outcome_type(cfg: StudyConfig, outcome: str) -> str:
    """The configured type of ``outcome`` (``time_to_event`` when the config does not define it)."""
    o = cfg.outcomes.get(outcome)
    return "time_to_event" if o is None else getattr(o, "type", "time_to_event")


def outcome_info(cfg: StudyConfig, outcome: str, kind: str, n: int) -> OutcomeInfo:
    """The cohort's description of the outcome, as :func:`gistcausal.analysis.secondary.secondary_estimates`
    reads it (column names only; counts are not used there)."""
    if kind == "competing":
        return OutcomeInfo(outcome, outcome, kind, f"{outcome}_time", f"{outcome}_status", n, 0, "time zero", True)
    return OutcomeInfo(outcome, outcome, kind, "", f"{outcome}_value", n, 0, "time zero", True)


# ----------------------------------------------------------------------------------------------------------
# the analysis of one replicate
# ----------------------------------------------------------------------------------------------------------
def _replicate_config(cfg: StudyConfig) -> StudyConfig:
    """The config replicates are analysed with: the bootstrap variance becomes robust (module docstring)."""
    s = cfg.analysis.survival
    if s.variance != "bootstrap":
        return cfg
    s2 = s.model_copy(update={"variance": "robust"})
    return cfg.model_copy(update={"analysis": cfg.analysis.model_copy(update={"survival": s2})})


def analyse_outcome(cfg: StudyConfig, frame: pd.DataFrame, info: OutcomeInfo, estimand: str,
                    methods: tuple[str, ...], keys: tuple[tuple[str, float | None], ...],
                    cause: str | None = None) -> list[dict[str, Any]]:
    """The configured analysis of one replicate of a binary, continuous or competing outcome -> summary rows.

    ``keys``: the (measure, time) pairs of the truth; a pair the replicate cannot estimate (a landmark beyond an
    arm's follow-up) is a NaN row, counted in ``n_nonfinite``. ``cause``: the cause label of interest.
    """
    from gistcausal.analysis.iptw import configured_weights, fit_propensity
    from gistcausal.analysis.secondary import competing_comparison, secondary_estimates

    rows: list[dict[str, Any]] = []
    for m in methods:
        if m == "iptw":
            _, ps = fit_propensity(cfg, frame)
            w = configured_weights(cfg, ps, frame["treatment"].to_numpy(int), estimand=estimand, frame=frame).weights
            est = estimand
        else:
            w, est = None, "none"
        if info.type == "competing":
            estimates = competing_comparison(cfg, frame, info, weights=w, estimand=est).estimates
        else:
            estimates = secondary_estimates(cfg, frame, info, weights=w, estimand=est)
        got = {}
        for e in estimates:
            if " vs " not in e.contrast or cause is not None and e.extra.get("cause") != cause:
                continue
            key = (e.measure, None if not math.isfinite(e.time) else round(float(e.time), 9))
            got[key] = {"method": m, "measure": e.measure, "time": key[1], "variance": e.variance, "scale": e.scale,
                        "value": float(e.value), "se": float(e.se), "ci_low": float(e.ci_low),
                        "ci_high": float(e.ci_high), "p": float(e.p)}
        variance = next((r["variance"] for r in got.values()), "none")
        for measure, time in keys:
            k = (measure, None if time is None else round(float(time), 9))
            rows.append(got.get(k) or {"method": m, "measure": measure, "time": k[1], "variance": variance,
                                       "scale": "log" if measure in ("risk_ratio", "odds_ratio") else "identity",
                                       "value": math.nan, "se": math.nan, "ci_low": math.nan,
                                       "ci_high": math.nan, "p": math.nan})
    return rows


# ----------------------------------------------------------------------------------------------------------
# replicate tasks (picklable; executed in worker processes)
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Replicates:
    """What every replicate task shares: the cohort rows, design (treatment first) and resampling scheme."""

    cfg: StudyConfig
    frame: pd.DataFrame
    z: np.ndarray
    info: OutcomeInfo
    estimand: str
    methods: tuple[str, ...]
    arm_index: tuple[np.ndarray, np.ndarray]
    sizes: tuple[int, int]
    random_state: int
    keys: tuple[tuple[str, float | None], ...]
    ps: np.ndarray | None
    arm_names: tuple[str, str]

    def rows(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
        """Resampled rows: index, treatment, design with treatment set to 0, and the frame rows."""
        idx, a = resample_rows(rng, self.z, self.arm_index, self.sizes, self.ps)
        z0 = self.z[idx].copy()
        z0[:, 0] = 0.0
        out = self.frame.iloc[idx].reset_index(drop=True)
        if self.ps is not None:
            out["treatment"] = a.astype(int)
            out["arm"] = np.where(a == 1, self.arm_names[0], self.arm_names[1])
        return idx, a, z0, out


@dataclass(frozen=True)
class _PointTask:
    """Replicates of a binary or continuous outcome from a logistic / normal linear model."""

    base: _Replicates
    model: PointOutcomeModel
    effect: float
    u: dict | None

    def dataset(self, i: int) -> pd.DataFrame:
        rng = np.random.default_rng(_seed(self.base.random_state, i))
        _, a, z0, out = self.base.rows(rng)
        u = _draw_u(rng, a, self.u)
        g = 0.0 if self.u is None else self.u["strength_outcome"]
        out[self.base.info.event_col] = self.model.draw(self.model.linear_predictor(z0) + self.effect * a + g * u, rng)
        return out

    def run(self, i: int) -> list[dict[str, Any]]:
        b = self.base
        return analyse_outcome(_replicate_config(b.cfg), self.dataset(i), b.info, b.estimand, b.methods, b.keys)


@dataclass(frozen=True)
class _CompetingTask:
    """Replicates of a competing-risks outcome: latent Weibull times per cause, the first is the event."""

    base: _Replicates
    models: tuple[WeibullPH, ...]
    effects: tuple[float, ...]
    censor_model: WeibullPH | None
    admin_time: float
    cause: str

    def dataset(self, i: int) -> pd.DataFrame:
        rng = np.random.default_rng(_seed(self.base.random_state, i))
        _, a, z0, out = self.base.rows(rng)
        n = a.size
        latent = np.column_stack([m.draw(m.linear_predictor(z0) + b * a, rng.exponential(size=n))
                                  for m, b in zip(self.models, self.effects)])
        t = latent.min(axis=1)
        cause = latent.argmin(axis=1) + 1
        zc = None
        if self.censor_model is not None:
            zc = z0.copy()
            zc[:, 0] = a
        c = censoring_times(rng, self.censor_model, zc, self.admin_time, n)
        out[self.base.info.time_col] = np.minimum(t, c)
        out[self.base.info.event_col] = np.where(t <= c, cause, 0).astype(float)
        return out

    def run(self, i: int) -> list[dict[str, Any]]:
        b = self.base
        return analyse_outcome(b.cfg, self.dataset(i), b.info, b.estimand, b.methods, b.keys, cause=self.cause)


# ----------------------------------------------------------------------------------------------------------
# set-up: generating model, truth, task, settings record
# ----------------------------------------------------------------------------------------------------------
def _target(a: np.ndarray, ps: np.ndarray | None, estimand: str, u: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """Target weights of the cohort rows and P(U = 1) of each row in the target population."""
    q0, q1 = (0.0, 0.0) if u is None else (float(u["prevalence"]),
                                           float(expit(logit(u["prevalence"]) + u["strength_treatment"])))
    if ps is None:
        w = {"ATE": np.ones(a.size), "ATT": a.astype(float), "ATC": 1.0 - a}[estimand]
        q = np.where(a == 1, q1, q0)
    else:
        w = {"ATE": np.ones(a.size), "ATT": ps, "ATC": 1.0 - ps}[estimand]
        q = {"ATE": ps * q1 + (1 - ps) * q0, "ATT": np.full(a.size, q1), "ATC": np.full(a.size, q0)}[estimand]
    return np.asarray(w, float), q


def _simulated_ps(cfg: StudyConfig, frame: pd.DataFrame) -> np.ndarray:
    from gistcausal.analysis.iptw import fit_propensity

    with warnings.catch_warnings():  # the real-cohort fit's own warnings belong to the main analysis
        warnings.simplefilter("ignore")
        return np.asarray(fit_propensity(cfg, frame)[1], float)


def setup(cfg: StudyConfig, frame: pd.DataFrame, s: Any, *, outcome: str, kind: str, estimand: str, seed: int,
          sample_size: int | None, where: str) -> tuple[Any, pd.DataFrame, dict[str, Any]]:
    """Generating model, exact truth, replicate task and settings record of a binary, continuous or competing
    outcome (``s``: the :class:`~gistcausal.analysis.plasmode.PlasmodeSettings`)."""
    info = outcome_info(cfg, outcome, kind, len(frame))
    need = ["treatment", info.event_col] + ([info.time_col] if kind == "competing" else [])
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: the {kind} outcome '{outcome}' needs columns {', '.join(missing)} in the cohort "
                        f"frame (got {len(frame.columns)} columns without them). Pass the cohort's frame.")
    frame = frame.reset_index(drop=True)
    a = frame["treatment"].to_numpy(float)
    arm_index = (np.flatnonzero(a == 1), np.flatnonzero(a == 0))
    n_arms = (int(arm_index[0].size), int(arm_index[1].size))
    if min(n_arms) == 0:
        raise DataError(f"{where}: both arms need patients (got treated {n_arms[0]}, control {n_arms[1]}). "
                        "Pass the analysis cohort's frame.")
    covs = list(s.covariates) if s.covariates is not None else [n for n, c in cfg.covariates.items()
                                                                  if c.in_propensity]
    zc, cov_names = _design(frame, covs, where)
    z = np.column_stack([a, zc])
    names = ("treatment", *cov_names)
    size = sum(n_arms) if sample_size is None else int(sample_size)
    ps = _simulated_ps(cfg, frame) if s.treatment == "simulated" else None
    weights, q = _target(a, ps, estimand, s.unmeasured_confounder)
    z0 = z.copy()
    z0[:, 0] = 0.0
    sv = cfg.analysis.survival
    record: dict[str, Any] = {
        "kind": "plasmode", "outcome": outcome, "outcome_type": kind, "estimand": estimand,
        "n_replicates": int(s.n_replicates), "sample_size": size,
        "arm_sizes": dict(zip(("treated", "control"), _arm_sizes(n_arms, size))),
        "cohort_arm_sizes": {"treated": n_arms[0], "control": n_arms[1]},
        "unmeasured_confounder": s.unmeasured_confounder, "treatment": s.treatment, "covariates": covs,
        "methods": list(s.methods), "random_state": seed, "penalty": float(s.penalty), "alpha": sv.alpha,
        "backend": s.backend, "n_jobs": int(s.n_jobs), "conditional_hr": None}
    base = dict(cfg=cfg, frame=frame, z=z, info=info, estimand=estimand, methods=tuple(s.methods),
                arm_index=arm_index, sizes=_arm_sizes(n_arms, size), random_state=seed, ps=ps,
                arm_names=(cfg.treatment.treated, cfg.treatment.control))
    if kind in ("binary", "continuous"):
        y = frame[info.event_col].to_numpy(float)
        model = fit_point_model(y, z, kind=kind, names=names, penalty=s.penalty, where=f"{where}: outcome model")
        given = s.true_or if kind == "binary" else s.true_mean_diff
        effect = float(model.coef[0]) if given is None else (math.log(given) if kind == "binary" else float(given))
        g = 0.0 if s.unmeasured_confounder is None else s.unmeasured_confounder["strength_outcome"]
        truth = point_truth(model, model.linear_predictor(z0), effect, weights, u_prob=q, u_strength=g)
        keys = tuple((m, None) for m in truth["measure"])
        measure = "odds_ratio" if kind == "binary" else "mean_diff"
        record.update({"true_or" if kind == "binary" else "true_mean_diff": given,
                       "injected": {"measure": measure, "value": math.exp(effect) if kind == "binary" else effect,
                                    "conditional": True},
                       "outcome_model": model.to_dict()})
        task: Any = _PointTask(base=_Replicates(**base, keys=keys), model=model, effect=effect,
                               u=s.unmeasured_confounder)
        return task, truth, record
    if s.unmeasured_confounder is not None:
        raise ConfigError(f"{where}: unmeasured_confounder is not available for a competing-risks outcome yet (got "
                          f"{s.unmeasured_confounder!r} for '{outcome}'). Pass unmeasured_confounder=None.")
    causes = list(cfg.outcomes[outcome].causes.values())
    cause = causes[0] if s.cause is None else s.cause
    if cause not in causes:
        raise ConfigError(f"{where}: cause must be one of the outcome's causes (got {cause!r}). Use one of "
                          f"{', '.join(map(repr, causes))}.")
    k = causes.index(cause)
    t = frame[info.time_col].to_numpy(float)
    status = frame[info.event_col].to_numpy(float)
    models = tuple(fit_weibull_ph(t, (status == j + 1).astype(int), z, names=names, penalty=s.penalty,
                                  where=f"{where}: cause-specific model of {lab!r}") for j, lab in enumerate(causes))
    censor_model, cens_cols = fit_censoring(t, (status > 0).astype(int), z, names=names, rule=s.censoring_model,
                                            penalty=s.penalty, where=where)
    effects = [float(m.coef[0]) for m in models]
    if s.true_hr is not None:
        effects[k] = math.log(s.true_hr)
    eta0 = np.column_stack([m.linear_predictor(z0) for m in models])
    truth = cif_truth(eta0, np.asarray(effects), [m.shape for m in models], weights, cause=k,
                      landmarks=tuple(sv.landmarks), horizon=sv.horizon)
    keys = tuple((r.measure, float(r.time)) for r in truth.itertuples())
    record.update({"true_hr": s.true_hr, "cause": cause, "cause_code": k + 1, "conditional_hr": math.exp(effects[k]),
                   "injected": {"measure": "cs_hr", "value": math.exp(effects[k]), "conditional": True},
                   "cause_models": {lab: m.to_dict() for lab, m in zip(causes, models)},
                   "treatment_log_hr": dict(zip(causes, effects)),
                   "censoring_covariates": list(names[:cens_cols]) if censor_model is not None else [],
                   "censoring_model": None if censor_model is None else censor_model.to_dict(),
                   "admin_censoring_time": float(np.max(t)), "landmarks": list(map(float, sv.landmarks)),
                   "horizon": sv.horizon})
    task = _CompetingTask(base=_Replicates(**base, keys=keys), models=models, effects=tuple(effects),
                          censor_model=censor_model, admin_time=float(np.max(t)), cause=cause)
    return task, truth, record


__all__ = ["TYPE_MEASURES", "analyse_outcome", "outcome_type", "setup"]
