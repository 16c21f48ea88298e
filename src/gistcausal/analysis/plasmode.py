"""Plasmode simulation: does the analysis plan recover a known effect on data like mine?

A plasmode data set keeps the real covariates and treatment of the cohort (rows resampled with replacement
within arm, so the arm sizes and the covariate-treatment association are those of the study) and replaces
the outcome by one simulated from a model fitted to the real cohort in which the treatment effect is set to a
known value (Franklin et al. 2014). Each replicate is analysed exactly as configured
(:func:`gistcausal.analysis.iptw.causal_fit`: propensity model refitted, weights, weighted survival), and the
estimates are compared with the *true marginal effect* of the injected model (not the conditional hazard
ratio that was injected: the hazard ratio is non-collapsible).

Generating model (documented choice)
    Event time: Weibull proportional hazards fitted by maximum likelihood to the real cohort,
    :math:`\\Lambda(t \\mid x, a) = \\exp(c_0 + x^\\top\\beta + a\\,\\psi)\\,t^k`; continuous covariates are
    standardized, categorical ones dummy-coded against their most frequent level; the fitted treatment
    coefficient is replaced by :math:`\\psi = \\log(\\text{true\\_hr})`. Censoring time: a second Weibull PH model
    (same covariates and treatment) fitted to the censorings, plus administrative censoring at the longest
    observed follow-up. A parametric model (rather than Cox with a Breslow baseline) gives smooth event
    times and an exact inverse-cumulative-hazard draw (Bender et al. 2005) without extrapolating a step
    function beyond the last event.

Execution
    One replicate is an independent unit of work seeded by ``SeedSequence(random_state, spawn_key=(i,))``:
    its result does not depend on the backend (joblib/loky processes or a Dask cluster), on the number of
    workers or on how replicates are batched. Workers return small summary rows (estimates, never data
    sets); they are streamed to the aggregator and, with ``checkpoint=``, appended to a JSON-lines file so an
    interrupted run resumes where it stopped.

References
----------
Franklin JM, Schneeweiss S, Polinski JM, Rassen JA. Plasmode simulation for the evaluation of
pharmacoepidemiologic methods in complex healthcare databases. Comput Stat Data Anal 2014;70:122-133.
Bender R, Augustin T, Blettner M. Generating survival times to simulate Cox proportional hazards models.
Stat Med 2005;24:1713-23.
Morris TP, White IR, Crowther MJ. Using simulation studies to evaluate statistical methods. Stat Med
2019;38:2074-2102 (performance measures and their Monte Carlo SEs).
Martinussen T, Vansteelandt S. On collapsibility and confounding bias in Cox and Aalen regression models.
Lifetime Data Anal 2013;19:279-96.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize

from gistcausal.design.config import StudyConfig, load_config
from gistcausal.engine import Engine, Executor, engine_from_jobs, open_executor
from gistcausal._checks import check_estimand
from gistcausal.effects import json_safe
from gistcausal.errors import ConfigError, DataError
from gistcausal.analysis.multiarm import is_multiarm
from gistcausal.analysis.plasmode_multiarm import setup_multiarm
from gistcausal.analysis.plasmode_outcomes import TYPE_MEASURES, outcome_type, setup
from gistcausal.analysis.plasmode_models import (WeibullPH, _arm_sizes, _design, _draw_u, _seed, censoring_times,
                                                 fit_censoring, fit_weibull_ph, in_time_order, paired_truth_table,
                                                 relative_gap, resample_rows, stable_argsort,
                                                 cohort_linear_predictors)

ProgressCallback = Callable[[int, int], None]

#: Contrast measures compared with the truth.
PLASMODE_MEASURES = ("hr", "rmst_diff", "surv_diff")
#: Measures of every outcome type (the time-to-event ones first), in the order of the metrics table.
ALL_MEASURES = PLASMODE_MEASURES + tuple(m for ms in TYPE_MEASURES.values() for m in ms)
_LOG_MEASURES = {"hr", "risk_ratio", "odds_ratio"}
_NULL = {m: (1.0 if m in _LOG_MEASURES else 0.0) for m in ALL_MEASURES}
_METHODS = ("iptw", "unadjusted")
_CHECKPOINT_VERSION = 1
_U_KEYS = ("strength_treatment", "strength_outcome", "prevalence")


# ----------------------------------------------------------------------------------------------------------
# replicate tasks (picklable; executed in worker processes)
# ----------------------------------------------------------------------------------------------------------

def _estimate_rows(estimates: Sequence[Any], measures: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for e in estimates:
        if e.measure in measures and " vs " in e.contrast:
            rows.append({"method": e.method, "measure": e.measure,
                         "time": float(e.time) if math.isfinite(e.time) else None,
                         "variance": e.variance, "scale": e.scale, "value": float(e.value), "se": float(e.se),
                         "ci_low": float(e.ci_low), "ci_high": float(e.ci_high), "p": float(e.p)})
    return rows


def _analyse(cfg: StudyConfig, frame: pd.DataFrame, outcome: str, estimand: str,
             methods: Sequence[str], ps_beta0: pd.Series | None = None) -> list[dict[str, Any]]:
    """The configured analysis of one replicate data set -> summary rows (``ps_beta0``: the propensity refit's
    warm start, see :func:`gistcausal.analysis.iptw.causal_fit`)."""
    from gistcausal.analysis.iptw import causal_fit
    from gistcausal.stats.comparison import compare_survival

    rows: list[dict[str, Any]] = []
    cfg, dropped = _within_follow_up(cfg, frame, outcome)
    if "iptw" in methods:
        # contrasts_only / diagnostics=False: a replicate reads the contrasts alone (not the curves, medians,
        # log-rank, nor the propensity model's and the weights' diagnostics)
        rows += _estimate_rows(causal_fit(cfg, frame, outcome=outcome, estimand=estimand, contrasts_only=True,
                                          ps_beta0=ps_beta0, diagnostics=False).estimates, PLASMODE_MEASURES)
    if "unadjusted" in methods:
        s = cfg.analysis.survival
        comp = compare_survival(frame[f"{outcome}_time"].to_numpy(float), frame[f"{outcome}_event"].to_numpy(int),
                                frame["treatment"].to_numpy(int), outcome=outcome, estimand="none",
                                method="unadjusted", landmarks=tuple(s.landmarks), horizon=s.horizon,
                                alpha=s.alpha, arm_labels=(cfg.treatment.control, cfg.treatment.treated),
                                contrasts_only=True)
        rows += _estimate_rows(comp.estimates, PLASMODE_MEASURES)
    for m in methods:
        variance = next((r["variance"] for r in rows if r["method"] == m), "none")
        rows += [{"method": m, "measure": meas, "time": tm, "variance": variance, "scale": "identity",
                  "value": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
                 for meas, tm in dropped]
    return rows


def _within_follow_up(cfg: StudyConfig, frame: pd.DataFrame, outcome: str
                      ) -> tuple[StudyConfig, list[tuple[str, float]]]:
    """Drop landmarks / the RMST horizon beyond an arm's last follow-up in this replicate.

    :func:`gistcausal.stats.comparison.compare_survival` refuses them (the curve is undefined there); the other
    measures of the replicate are still estimable, so the dropped ones are returned as not-estimable (NaN)
    rows and counted in ``n_nonfinite`` instead of failing the whole replicate.
    """
    s = cfg.analysis.survival
    t, a = frame[f"{outcome}_time"].to_numpy(float), frame["treatment"].to_numpy(int)
    if not ((a == 1).any() and (a == 0).any()):
        return cfg, []
    last = min(float(np.max(t[a == 1])), float(np.max(t[a == 0])))
    keep = [x for x in s.landmarks if x <= last]
    dropped = [("surv_diff", float(x)) for x in s.landmarks if x > last]
    horizon = s.horizon
    if horizon is not None and horizon > last:
        dropped.append(("rmst_diff", float(horizon)))
        horizon = None
    if not dropped:
        return cfg, []
    s2 = s.model_copy(update={"landmarks": keep, "horizon": horizon})
    return cfg.model_copy(update={"analysis": cfg.analysis.model_copy(update={"survival": s2})}), dropped


def _message_head(err: BaseException) -> str:
    """The rule part of a message (before the first ' (got'), so replicates failing alike count together."""
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return msg.split(" (got")[0][:160]


@dataclass(frozen=True)
class _PlasmodeTask:
    """Everything a worker needs to simulate and analyse plasmode replicates (shipped once per worker)."""

    cfg: StudyConfig
    frame: pd.DataFrame
    z: np.ndarray
    outcome: str
    estimand: str
    methods: tuple[str, ...]
    event_model: WeibullPH
    censor_model: WeibullPH | None
    treat_pos: int
    log_hr: float
    admin_time: float
    arm_index: tuple[np.ndarray, np.ndarray]   # row positions of treated, control
    sizes: tuple[int, int]
    u: dict | None
    random_state: int
    ps: np.ndarray | None = None               # treatment="simulated": P(A=1 | x) of each cohort row
    arm_names: tuple[str, str] = ("treated", "control")
    # issue 17: the cohort's own propensity coefficients (warm start of each replicate's refit) and the cohort
    # reduced to the columns the analysis reads (taken per replicate instead of every cohort column)
    ps_beta0: pd.Series | None = None
    analysis_frame: pd.DataFrame | None = None
    # issue 17: the generating models' linear predictors of the cohort rows (cohort_linear_predictors), taken at
    # each replicate's rows instead of taking the covariate matrix; None: computed from the taken matrix
    lp_event: np.ndarray | None = None
    lp_censor: tuple[np.ndarray, np.ndarray] | None = None

    def dataset(self, i: int, *, time_order: bool = False, analysis_only: bool = False) -> pd.DataFrame:
        """Replicate ``i``'s data set, its rows as drawn; ``time_order=True`` returns the same rows already
        in :func:`~gistcausal.analysis.plasmode_models.in_time_order` (stable order of the simulated times),
        taking the cohort rows once in that order instead of taking them and then reordering the copy.
        ``analysis_only=True`` takes only the columns of ``analysis_frame`` (when set): the same values, text
        covariates coded as categoricals with the categories the replicate holds (:func:`_analysis_frame`)."""
        rng = np.random.default_rng(_seed(self.random_state, i))
        idx, a = resample_rows(rng, self.z, self.arm_index, self.sizes, self.ps)
        u = _draw_u(rng, a, self.u)
        g = 0.0 if self.u is None else self.u["strength_outcome"]
        if self.lp_event is not None:
            # the cohort rows' linear predictors at the drawn rows (the treatment column at a = 0 / 1)
            eta = self.lp_event[idx] + self.log_hr * a + g * u
            t = self.event_model.draw(eta, rng.exponential(size=idx.size))
            lp_c = None if self.lp_censor is None else np.where(a == 1.0, self.lp_censor[1][idx],
                                                                self.lp_censor[0][idx])
            c = censoring_times(rng, self.censor_model, None, self.admin_time, idx.size, lp=lp_c)
        else:
            z = self.z[idx]                        # fancy indexing: already a copy
            z[:, self.treat_pos] = 0.0             # the event model's covariates: treatment enters as log_hr * a
            eta = self.event_model.linear_predictor(z) + self.log_hr * a + g * u
            t = self.event_model.draw(eta, rng.exponential(size=idx.size))
            z[:, self.treat_pos] = a               # the censoring model's covariates (treatment included)
            c = censoring_times(rng, self.censor_model, z, self.admin_time, idx.size)
        time = np.minimum(t, c)
        if time_order:
            order = stable_argsort(time)   # np.argsort(time, kind="stable"), faster
            idx, a, t, c, time = idx[order], a[order], t[order], c[order], time[order]
        small = analysis_only and self.analysis_frame is not None
        out = (self.analysis_frame if small else self.frame).take(idx)   # one copy (iloc + reset_index: two)
        out.index = pd.RangeIndex(idx.size)
        if small:
            for col in out.columns:
                if isinstance(out[col].dtype, pd.CategoricalDtype) and self.frame[col].dtype == object:
                    out[col] = _observed_categories(out[col])
        if self.ps is not None:
            out["treatment"] = a.astype(int)
            out["arm"] = np.where(a == 1, self.arm_names[0], self.arm_names[1])
        out[f"{self.outcome}_time"] = time
        out[f"{self.outcome}_event"] = (t <= c).astype(int)
        return out

    def run(self, i: int) -> list[dict[str, Any]]:
        return _analyse(self.cfg, self.dataset(i, time_order=True, analysis_only=True), self.outcome,
                        self.estimand, self.methods, self.ps_beta0)


@dataclass(frozen=True)
class _RegistryTask:
    """A replicate of the synthetic registry (:func:`gistcausal.design.simulate.simulate_registry`) analysed as configured."""

    cfg: StudyConfig
    outcome: str
    estimand: str
    methods: tuple[str, ...]
    sim: dict
    random_state: int

    def dataset(self, i: int) -> pd.DataFrame:
        from gistcausal.design.cohort import build_cohort
        from gistcausal.design.simulate import simulate_registry

        seed = int(_seed(self.random_state, i).generate_state(1)[0])
        return build_cohort(self.cfg, simulate_registry(seed=seed, **self.sim)).frame

    def run(self, i: int) -> list[dict[str, Any]]:
        return _analyse(self.cfg, in_time_order(self.dataset(i), self.outcome), self.outcome, self.estimand,
                        self.methods)


def _run_one(task: Any, i: int) -> dict[str, Any]:
    """One replicate -> a small record; exceptions are recorded, never raised or dropped."""
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        try:
            rows = task.run(i)
            rec: dict[str, Any] = {"replicate": int(i), "status": "ok", "rows": rows}
        except Exception as err:  # noqa: BLE001 - every failure is counted by class and message head
            rec = {"replicate": int(i), "status": "failed", "error": type(err).__name__,
                   "message": _message_head(err)}
    rec["warnings"] = dict(Counter(w.category.__name__ for w in wlist))
    return rec


def _run_chunk(task: Any, indices: Sequence[int]) -> list[dict[str, Any]]:
    """A batch of replicates in one worker, with BLAS on one thread (parallelism is across replicates)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return [_run_one(task, i) for i in indices]


# ----------------------------------------------------------------------------------------------------------
# execution engine: local (joblib/loky) or Dask, streaming, checkpoint
# ----------------------------------------------------------------------------------------------------------
def _fingerprint(settings: dict[str, Any], frame: pd.DataFrame | None, cfg: StudyConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in settings.items() if k not in ("n_replicates", "backend", "n_jobs")},
                        sort_keys=True, default=str).encode())
    h.update(cfg.model_dump_json(exclude={"source_path"} if "source_path" in type(cfg).model_fields else None)
             .encode())
    if frame is not None:
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:32]


def _read_checkpoint(path: Path, fingerprint: str) -> dict[int, dict[str, Any]]:
    where = f"checkpoint {path}"
    done: dict[int, dict[str, Any]] = {}
    if not path.exists() or path.stat().st_size == 0:
        return done
    with path.open("r", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        head = {}
    if head.get("kind") != "plasmode_checkpoint":
        raise ConfigError(f"{where}: not a plasmode checkpoint (got first line {lines[0][:40]!r}). "
                          "Pass a new path or the file a previous plasmode run wrote.")
    if head.get("fingerprint") != fingerprint:
        raise ConfigError(f"{where}: written for other settings, data or config (got fingerprint "
                          f"{head.get('fingerprint')}, expected {fingerprint}). Use a new checkpoint path or "
                          "rerun with the original settings.")
    for line in lines[1:]:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by an interruption: that replicate is simply rerun
            continue
        done[int(rec["replicate"])] = rec
    return done


class _Checkpoint:
    def __init__(self, path: Path | None, fingerprint: str) -> None:
        self.path, self.fh = path, None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh:
            with path.open("rb") as fh:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) != b"\n"
        self.fh = path.open("a", encoding="utf-8")
        if fresh:
            self.fh.write(json.dumps({"kind": "plasmode_checkpoint", "version": _CHECKPOINT_VERSION,
                                      "fingerprint": fingerprint}) + "\n")
        elif needs_newline:
            self.fh.write("\n")
        self.fh.flush()

    def write(self, recs: list[dict[str, Any]]) -> None:
        if self.fh is not None:
            self.fh.write("".join(json.dumps(r) + "\n" for r in recs))
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _chunks(todo: list[int], workers: int, batch_size: int | None) -> list[list[int]]:
    size = batch_size or max(1, min(25, math.ceil(len(todo) / (4 * max(workers, 1)))))
    return [todo[k:k + size] for k in range(0, len(todo), size)]


def _settings_engine(s: "PlasmodeSettings", engine: Any, where: str) -> Any:
    """The engine of a plasmode run: ``engine=`` (the run's ``analysis.engine``), or the settings' own
    ``backend``/``scheduler``/``client``/``n_jobs`` (the documented Python API); not both."""
    if engine is not None:
        if s.backend != "local" or s.scheduler is not None or s.client is not None or s.n_jobs != -1:
            raise ConfigError(f"{where}: give the engine once (got engine= and settings backend={s.backend!r}, "
                              f"scheduler={s.scheduler!r}, n_jobs={s.n_jobs}). Pass engine= alone, or the "
                              "settings' backend/scheduler/n_jobs alone.")
        return engine
    return _engine_of(s.backend, s.scheduler, s.client, s.n_jobs)


def _engine_of(backend: str, scheduler: str | None, client: Any, n_jobs: int) -> Any:
    if client is not None:
        return Executor(Engine(kind="dask"), client=client)
    if backend == "dask":
        if scheduler is not None:
            return Engine(kind="dask", address=scheduler)
        return Engine(kind="dask", n_workers=engine_from_jobs(n_jobs).n_workers)
    return engine_from_jobs(n_jobs)


def _execute(task: Any, *, n_replicates: int, fingerprint: str, engine: Any, checkpoint: str | Path | None,
             progress: ProgressCallback | None, batch_size: int | None) -> list[dict[str, Any]]:
    path = None if checkpoint is None else Path(checkpoint)
    done = {} if path is None else _read_checkpoint(path, fingerprint)
    records = {i: r for i, r in done.items() if i < n_replicates}
    todo = [i for i in range(n_replicates) if i not in records]
    say = progress or (lambda _d, _t: None)
    say(len(records), n_replicates)
    ckpt = _Checkpoint(path, fingerprint)
    try:
        with open_executor(engine) as ex:
            chunks = _chunks(todo, ex.n_workers(), batch_size) if todo else []
            for _, recs in ex.imap_unordered(_run_chunk, chunks, shared=task):
                ckpt.write(recs)
                for r in recs:
                    records[r["replicate"]] = r
                say(len(records), n_replicates)
    finally:
        ckpt.close()
    return [records[i] for i in range(n_replicates)]


# ----------------------------------------------------------------------------------------------------------
# truth and performance measures
# ----------------------------------------------------------------------------------------------------------
def _follow_up_hr(t1: np.ndarray, t0: np.ndarray, zm: np.ndarray, censor_model: WeibullPH | None,
                  admin: float, e_c: np.ndarray, w: np.ndarray) -> float:
    """Marginal HR over the plasmode's follow-up: Cox on stacked potential outcomes, each censored as it would
    be under that treatment (common censoring uniforms); what IPTW-Cox converges to under this censoring."""
    from gistcausal.stats.cox import cox_fit

    keep = w > 0
    t1, t0, zm, e_c, w = t1[keep], t0[keep], zm[keep], e_c[keep], w[keep]
    cs = []
    for a in (1.0, 0.0):
        c = np.full(t1.size, admin)
        if censor_model is not None:
            za = zm.copy()
            za[:, 0] = a
            c = np.minimum(c, censor_model.draw(censor_model.linear_predictor(za), e_c))
        cs.append(c)
    time = np.r_[np.minimum(t1, cs[0]), np.minimum(t0, cs[1])]
    event = np.r_[t1 <= cs[0], t0 <= cs[1]].astype(int)
    fit = cox_fit(time, event, np.r_[np.ones(t1.size), np.zeros(t0.size)][:, None], weights=np.r_[w, w],
                  robust=False, ties="breslow")
    return float(np.exp(fit.coef[0]))


def _key(measure: str, time: Any) -> tuple[str, float | None]:
    return measure, (None if time is None or (isinstance(time, float) and math.isnan(time)) else round(float(time), 9))


def _metrics(estimates: pd.DataFrame, truth: pd.DataFrame, n_replicates: int, n_failed: int,
             alpha: float) -> pd.DataFrame:
    r"""Performance per estimator x variance method (Morris et al. 2019, Table 6).

    On the analysis scale (log for the hazard ratio): bias :math:`\bar\theta - \theta` with MC SE
    :math:`\mathrm{EmpSE}/\sqrt{n}`; EmpSE (SD of estimates) with MC SE :math:`\mathrm{EmpSE}/\sqrt{2(n-1)}`;
    model SE :math:`\sqrt{\overline{\widehat{se}^2}}`; coverage and power (CI excludes the null) with MC SE
    :math:`\sqrt{p(1-p)/n}`. Relative bias is :math:`e^{\text{bias}} - 1` on the log scale, bias / θ otherwise.
    """
    # K arms (plasmode_multiarm): one row per pairwise contrast as well
    by_contrast = "contrast" in estimates.columns and "contrast" in truth.columns
    tv = {((r.contrast,) if by_contrast else ()) + _key(r.measure, r.time): r.value for r in truth.itertuples()}
    cols = ["method", *(["contrast"] if by_contrast else []), "measure", "time", "variance"]
    out = []
    if estimates.empty:
        return pd.DataFrame(columns=[*cols, "true_value", "n_used"])
    for keys, g in estimates.groupby(cols, dropna=False, sort=False):
        method, *contrast, measure, time, variance = keys
        true = tv.get(tuple(contrast) + _key(measure, time), math.nan)
        log = measure in _LOG_MEASURES
        v = g["value"].to_numpy(float)
        ok = np.isfinite(v) & ((v > 0) if log else True)
        n = int(ok.sum())
        th = np.log(v[ok]) if log else v[ok]
        th_true = math.log(true) if log else true
        se = g["se"].to_numpy(float)[ok]
        lo, hi = g["ci_low"].to_numpy(float)[ok], g["ci_high"].to_numpy(float)[ok]
        bias = float(np.mean(th) - th_true) if n else math.nan
        emp = float(np.std(th, ddof=1)) if n > 1 else math.nan
        cover = float(np.mean((lo <= true) & (true <= hi))) if n else math.nan
        null = _NULL[measure]
        power = float(np.mean((lo > null) | (hi < null))) if n else math.nan
        rel = (math.exp(bias) - 1) if log else (bias / th_true if th_true != 0 else math.nan)
        out.append({
            "method": method, **({"contrast": contrast[0]} if by_contrast else {}), "measure": measure, "time": time,
            "variance": variance,
            "scale": "log" if log else "identity", "true_value": true,
            "mean_estimate": (math.exp(np.mean(th)) if log else float(np.mean(th))) if n else math.nan,
            "bias": bias, "bias_mcse": emp / math.sqrt(n) if n > 1 else math.nan, "relative_bias": rel,
            "empirical_se": emp, "empirical_se_mcse": emp / math.sqrt(2 * (n - 1)) if n > 1 else math.nan,
            "model_se": float(np.sqrt(np.nanmean(se ** 2))) if n and np.isfinite(se).any() else math.nan,
            "se_ratio": (float(np.sqrt(np.nanmean(se ** 2))) / emp) if n > 1 and np.isfinite(se).any() else math.nan,
            "rmse": float(np.sqrt(np.mean((th - th_true) ** 2))) if n else math.nan,
            "coverage": cover, "coverage_mcse": math.sqrt(cover * (1 - cover) / n) if n else math.nan,
            "power": power, "power_mcse": math.sqrt(power * (1 - power) / n) if n else math.nan,
            "alpha": alpha, "n_used": n, "n_nonfinite": int(len(g) - n), "n_replicates": n_replicates,
            "n_failed": n_failed})
    res = pd.DataFrame(out)
    order = {m: i for i, m in enumerate(ALL_MEASURES)}
    meth = {m: i for i, m in enumerate(_METHODS)}
    contrasts = {c: i for i, c in enumerate(dict.fromkeys(truth["contrast"]))} if by_contrast else {}
    keys = pd.DataFrame({"m": res["method"].map(lambda v: meth.get(v, 99)),
                         "c": res["contrast"].map(contrasts) if by_contrast else 0,
                         "q": res["measure"].map(lambda v: order.get(v, 99)), "t": res["time"].fillna(-1.0)})
    return res.loc[keys.sort_values(["m", "c", "q", "t"], kind="stable").index].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlasmodeResult:
    """Performance of the analysis plan on simulated data with a known effect (aggregates only).

    Attributes
    ----------
    metrics : DataFrame
        One row per estimator (``method``, ``measure``, ``time``) x ``variance``: ``true_value``,
        ``mean_estimate``, ``bias`` (+ ``bias_mcse``), ``relative_bias``, ``empirical_se`` (+ MC SE),
        ``model_se``, ``se_ratio``, ``rmse``, ``coverage`` (+ MC SE), ``power`` (+ MC SE), ``n_used``.
    truth : DataFrame
        True marginal effects (``measure``, ``time``, ``value``, ``mc_se``).
    estimates : DataFrame
        Replicate-level estimates (``replicate``, ``method``, ``measure``, ``time``, ``variance``, ``value``,
        ``se``, ``ci_low``, ``ci_high``, ``p``): simulated estimates, not patients; for plots.
    failures : DataFrame
        One row per failed replicate (``replicate``, ``error``, ``message``).
    settings : dict
        Everything that defines the run (JSON-safe), including the generating models' coefficients.
    warnings : tuple of str
        Warning classes raised inside replicates, with counts.
    """

    metrics: pd.DataFrame
    truth: pd.DataFrame
    estimates: pd.DataFrame
    failures: pd.DataFrame
    settings: dict
    warnings: tuple[str, ...] = ()
    n_replicates: int = 0
    n_failed: int = 0

    def to_frame(self) -> pd.DataFrame:
        """Metrics, one row per estimator x variance method (a copy)."""
        return self.metrics.copy()

    def failure_counts(self) -> pd.DataFrame:
        """Failed replicates counted by exception class and message head."""
        if self.failures.empty:
            return pd.DataFrame(columns=["error", "message", "count"])
        return (self.failures.groupby(["error", "message"], sort=False).size().rename("count").reset_index()
                .sort_values("count", ascending=False, kind="stable").reset_index(drop=True))

    def summary(self) -> str:
        """Plain-text table of the performance measures."""
        s = self.settings
        lines = [f"Plasmode simulation ({s.get('kind')}): outcome {s.get('outcome')}, estimand {s.get('estimand')}, "
                 f"{self.n_replicates} replicates ({self.n_failed} failed), n = {s.get('sample_size')}"]
        if s.get("conditional_hr_by_arm"):
            lines.append("  injected conditional HRs " + ", ".join(f"{k} {v:.4g}"
                                                                   for k, v in s["conditional_hr_by_arm"].items()))
        inj = s.get("injected") or ({"measure": "hr", "value": s["conditional_hr"]}
                                    if s.get("conditional_hr") is not None else None)
        if inj is not None:
            what = {"hr": "HR", "cs_hr": f"cause-specific HR ({s.get('cause')})", "odds_ratio": "odds ratio",
                    "mean_diff": "mean difference"}[inj["measure"]]
            lines.append(f"  injected conditional {what} {inj['value']:.4g}"
                         + ("" if not s.get("unmeasured_confounder") else
                            f"; unmeasured confounder {s['unmeasured_confounder']}"))
        lines.append(f"  {'estimator':24s} {'true':>8s} {'mean':>8s} {'bias':>8s} {'(MCSE)':>8s} {'EmpSE':>7s} "
                     f"{'ModSE':>7s} {'cover':>6s} {'(MCSE)':>7s} {'power':>6s} {'n':>5s}")
        shown = None
        for r in self.metrics.itertuples():
            no_time = r.time is None or (isinstance(r.time, float) and math.isnan(r.time))
            name = f"{r.method} {r.measure}" + ("" if no_time else f"@{r.time:g}")
            if "contrast" in self.metrics.columns and r.contrast != shown:
                shown = r.contrast
                lines.append(f"  {r.contrast}:")
            lines.append(f"  {name:24s} {r.true_value:8.4f} {r.mean_estimate:8.4f} {r.bias:8.4f} {r.bias_mcse:8.4f} "
                         f"{r.empirical_se:7.4f} {r.model_se:7.4f} {r.coverage:6.3f} {r.coverage_mcse:7.3f} "
                         f"{r.power:6.3f} {r.n_used:5d}")
        lines.append("  bias and SEs on the log scale for ratios (hr, risk_ratio, odds_ratio); coverage of the true marginal effect; power = share of "
                     "intervals excluding the null")
        for _, r in self.failure_counts().iterrows():
            lines.append(f"  failed: {r['count']} x {r['error']}: {r['message']}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: settings, truth, metrics, failure counts (no replicate or patient rows)."""
        return {"settings": json_safe(self.settings), "n_replicates": self.n_replicates, "n_failed": self.n_failed,
                "truth": [json_safe(r) for r in self.truth.to_dict(orient="records")],
                "metrics": [json_safe(r) for r in self.metrics.to_dict(orient="records")],
                "failures": [json_safe(r) for r in self.failure_counts().to_dict(orient="records")],
                "warnings": list(self.warnings)}


def _build_result(records: list[dict[str, Any]], truth: pd.DataFrame, settings: dict[str, Any],
                  alpha: float) -> PlasmodeResult:
    est_rows, fail_rows, wcount = [], [], Counter()
    for r in records:
        for k, v in r.get("warnings", {}).items():
            wcount[k] += 1
        if r["status"] == "ok":
            est_rows += [{"replicate": r["replicate"], **row} for row in r["rows"]]
        else:
            fail_rows.append({"replicate": r["replicate"], "error": r["error"], "message": r["message"]})
    est_cols = ["replicate", "method", *(["contrast"] if "contrast" in truth.columns else []), "measure", "time",
                "variance", "scale", "value", "se", "ci_low", "ci_high", "p"]
    est = pd.DataFrame(est_rows, columns=est_cols)
    est["time"] = est["time"].astype(float)
    fails = pd.DataFrame(fail_rows, columns=["replicate", "error", "message"])
    n, nf = len(records), len(fail_rows)
    warn = tuple(f"{k} in {v} of {n} replicates" for k, v in sorted(wcount.items()))
    truth = truth.copy()
    truth["time"] = truth["time"].astype(float)
    return PlasmodeResult(metrics=_metrics(est, truth, n, nf, alpha), truth=truth, estimates=est, failures=fails,
                          settings=settings, warnings=warn, n_replicates=n, n_failed=nf)


# ----------------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------------
def _check_u(where: str, u: dict | None) -> dict | None:
    if u is None:
        return None
    if not isinstance(u, dict) or set(u) != set(_U_KEYS):
        raise ConfigError(f"{where}: unmeasured_confounder must be a dict with keys {', '.join(_U_KEYS)} "
                          f"(got {u!r}). Pass e.g. dict(strength_treatment=1.0, strength_outcome=0.7, "
                          "prevalence=0.3).")
    try:
        out = {k: float(u[k]) for k in _U_KEYS}
    except (TypeError, ValueError):
        out = {k: math.nan for k in _U_KEYS}
    if not all(math.isfinite(v) for v in out.values()) or not (0 < out["prevalence"] < 1):
        raise ConfigError(f"{where}: unmeasured_confounder needs finite strengths and prevalence in (0, 1) "
                          f"(got {u!r}). Pass a prevalence such as 0.3.")
    return out


def _is_int(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, np.integer))


@dataclass(frozen=True)
class PlasmodeSettings:
    r"""How a plasmode simulation generates, analyses and executes its replicates (validated when built).

    Attributes
    ----------
    true_hr : float, optional
        Injected effect (finite, > 0). ``None`` keeps the treatment coefficient fitted on the real cohort.
        Competing-risks outcomes: the cause-specific hazard ratio of ``cause`` (the other causes keep their fitted
        effects). Refused for binary and continuous outcomes.
    true_effect_measure : {"hr", "marginal_hr"}, default="hr"
        ``"hr"``: ``true_hr`` is the *conditional* hazard ratio put in the outcome model. ``"marginal_hr"``:
        the conditional coefficient is solved (Brent) so that the true *marginal* HR for the estimand equals
        ``true_hr`` (which is then required); time-to-event outcomes only.
    true_or : float, optional
        Binary outcomes: the *conditional* odds ratio put in the logistic outcome model (finite, > 0); ``None``
        keeps the fitted one. Refused for other outcome types.
    true_mean_diff : float, optional
        Continuous outcomes: the mean difference put in the linear outcome model (finite; conditional and marginal
        coincide); ``None`` keeps the fitted one. Refused for other outcome types.
    cause : str, optional
        Competing-risks outcomes: the label of the cause of interest (default: the first configured cause);
        ``true_hr`` is its cause-specific HR and the truth is its CIF and RMTL differences. Refused otherwise.
    n_replicates : int, default=1000
        Simulated data sets (>= 1).
    sample_size : int, optional
        Patients per replicate (>= 2; default: the cohort's size), split between arms in the cohort's
        proportions.
    unmeasured_confounder : dict, optional
        ``strength_treatment`` (log odds ratio of U for treatment, :math:`\gamma_A`), ``strength_outcome``
        (log hazard ratio of U for the event, :math:`\gamma_Y`), ``prevalence`` (P(U = 1) in the control arm,
        :math:`\pi`, in (0, 1)). U is not given to the analysis.
    covariates : tuple of str, optional
        Covariates of the generating models; default: the propensity-model covariates of the config.
    methods : tuple of {"iptw", "unadjusted"}, default=("iptw",)
        Estimators run on each replicate (``"unadjusted"`` adds the crude comparison, for reference).
    treatment : {"observed", "simulated"}, default="observed"
        ``"observed"`` keeps each resampled row's real treatment (Franklin et al. 2014; arm sizes fixed).
        ``"simulated"`` resamples rows regardless of arm and draws the treatment from the configured propensity
        model fitted once to the real cohort (as the exposure option of the R package ``Plasmode``), so the
        analysis' propensity model is correctly specified and the target population has overlap.
    censoring_model : {"auto", "covariates", "treatment"}, default="auto"
        Covariates of the censoring model: all (``"covariates"``), treatment only (``"treatment"``), or all
        when there are at least 10 censorings per parameter, else treatment only (``"auto"``; registries
        censor mostly administratively, and few censorings cannot support many coefficients). Time-to-event and
        competing outcomes only (binary and continuous outcomes are not censored).
    penalty : float, default=0.01
        Ridge penalty of the generating Weibull models (see :func:`fit_weibull_ph`).
    n_mc : int, default=100_000
        Size of the resample used to compute the true marginal effects (>= 1000) of time-to-event outcomes (two
        or more arms); the truths of binary, continuous and competing outcomes are exact and do not use it.
    backend : {"local", "dask"}, default="local"
        ``"local"``: joblib loky processes; ``"dask"``: ``client``, or ``distributed.Client(scheduler)``, or a
        temporary local cluster with one single-threaded worker per job.
    scheduler : str, optional
        Dask scheduler address.
    client : distributed.Client, optional
    n_jobs : int, default=-1
        Local processes (-1: all cores; 1: in this process); non-zero.
    batch_size : int, optional
        Replicates per task (default: about four tasks per worker, at most 25).
    checkpoint : path, optional
        JSON-lines file; finished replicates are appended and skipped on a rerun with the same settings.

    Raises
    ------
    ConfigError
        A field outside its allowed values (message ``PlasmodeSettings: <field> must be ... (got ...)``).
    """

    true_hr: float | None = None
    true_effect_measure: Literal["hr", "marginal_hr"] = "hr"
    true_or: float | None = None
    true_mean_diff: float | None = None
    cause: str | None = None
    n_replicates: int = 1000
    sample_size: int | None = None
    unmeasured_confounder: dict | None = None
    covariates: tuple[str, ...] | None = None
    methods: tuple[str, ...] = ("iptw",)
    treatment: Literal["observed", "simulated"] = "observed"
    censoring_model: Literal["auto", "covariates", "treatment"] = "auto"
    penalty: float = 0.01
    n_mc: int = 100_000
    backend: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    client: Any = field(default=None, compare=False)
    n_jobs: int = -1
    batch_size: int | None = None
    checkpoint: str | Path | None = None

    def __post_init__(self) -> None:
        # the one place where plasmode arguments are checked; normalised copies are stored (frozen)
        where = "PlasmodeSettings"
        _check_execution(where, n_replicates=self.n_replicates, backend=self.backend, n_jobs=self.n_jobs,
                         methods=self.methods)
        object.__setattr__(self, "methods", tuple(self.methods))
        if self.covariates is not None:
            object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "unmeasured_confounder", _check_u(where, self.unmeasured_confounder))
        self._check_model(where)
        if self.sample_size is not None and not (_is_int(self.sample_size) and self.sample_size >= 2):
            raise ConfigError(f"{where}: sample_size must be an integer >= 2 (got {self.sample_size!r}). Pass None "
                              "for the cohort's size.")
        if not (_is_int(self.n_mc) and self.n_mc >= 1000):
            raise ConfigError(f"{where}: n_mc must be an integer >= 1000 (got {self.n_mc!r}). Pass e.g. "
                              "n_mc=100_000.")

    def _check_model(self, where: str) -> None:
        if self.treatment not in ("observed", "simulated"):
            raise ConfigError(f"{where}: treatment must be 'observed' or 'simulated' (got {self.treatment!r}). Use "
                              "'observed' to keep the cohort's treatment, 'simulated' to draw it from the fitted "
                              "propensity model.")
        if self.censoring_model not in ("auto", "covariates", "treatment"):
            raise ConfigError(f"{where}: censoring_model must be 'auto', 'covariates' or 'treatment' (got "
                              f"{self.censoring_model!r}). Use 'auto'.")
        if self.true_effect_measure not in ("hr", "marginal_hr"):
            raise ConfigError(f"{where}: true_effect_measure must be 'hr' or 'marginal_hr' (got "
                              f"{self.true_effect_measure!r}). Use 'hr' for a conditional hazard ratio.")
        hr = self.true_hr
        if hr is not None and not (isinstance(hr, (int, float)) and math.isfinite(hr) and hr > 0):
            raise ConfigError(f"{where}: true_hr must be a finite number > 0 (got {hr!r}). Pass e.g. true_hr=0.7.")
        orr = self.true_or
        if orr is not None and not (isinstance(orr, (int, float)) and math.isfinite(orr) and orr > 0):
            raise ConfigError(f"{where}: true_or must be a finite number > 0 (got {orr!r}). Pass e.g. true_or=0.6.")
        md = self.true_mean_diff
        if md is not None and not (isinstance(md, (int, float)) and not isinstance(md, bool) and math.isfinite(md)):
            raise ConfigError(f"{where}: true_mean_diff must be a finite number (got {md!r}). Pass e.g. "
                              "true_mean_diff=2.5.")
        if self.cause is not None and not isinstance(self.cause, str):
            raise ConfigError(f"{where}: cause must be the label of a cause (got {self.cause!r}). Pass e.g. "
                              "cause='progression'.")
        if hr is None and self.true_effect_measure == "marginal_hr":
            raise ConfigError(f"{where}: true_effect_measure='marginal_hr' needs true_hr (got None). Pass the "
                              "target marginal hazard ratio.")


def _check_execution(where: str, *, n_replicates: int, backend: str, n_jobs: int, methods: Sequence[str]) -> None:
    if not _is_int(n_replicates) or n_replicates < 1:
        raise ConfigError(f"{where}: n_replicates must be an integer >= 1 (got {n_replicates!r}). "
                          "Pass e.g. n_replicates=1000.")
    if backend not in ("local", "dask"):
        raise ConfigError(f"{where}: backend must be 'local' or 'dask' (got {backend!r}). Use 'local' for joblib "
                          "processes or 'dask' with a scheduler address or client.")
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ConfigError(f"{where}: n_jobs must be a non-zero integer (got {n_jobs!r}). Pass -1 for all cores.")
    bad = [m for m in methods if m not in _METHODS]
    if bad or not methods:
        raise ConfigError(f"{where}: methods must be a non-empty subset of {', '.join(map(repr, _METHODS))} "
                          f"(got {tuple(methods)!r}). Pass methods=('iptw',).")


def _check_estimand(where: str, estimand: str) -> None:
    check_estimand(estimand, where=where, supported="truth")


def _check_common(where: str, *, estimand: str, n_replicates: int, backend: str, n_jobs: int,
                  methods: Sequence[str]) -> None:
    _check_estimand(where, estimand)
    _check_execution(where, n_replicates=n_replicates, backend=backend, n_jobs=n_jobs, methods=methods)


@dataclass(frozen=True)
class _Cohort:
    """The real cohort as the generating models see it: design matrix (treatment first), times, events, arms."""

    frame: pd.DataFrame
    z: np.ndarray
    names: tuple[str, ...]
    time: np.ndarray
    event: np.ndarray
    covariates: list[str]
    arm_index: tuple[np.ndarray, np.ndarray]   # row positions of treated, control

    @property
    def n_arms(self) -> tuple[int, int]:
        return int(self.arm_index[0].size), int(self.arm_index[1].size)


def _cohort(cfg: StudyConfig, frame: pd.DataFrame, outcome: str, covariates: Sequence[str] | None,
            where: str) -> _Cohort:
    """Check the cohort frame (outcome columns, both arms, complete times) and build the design."""
    tcol, ecol = f"{outcome}_time", f"{outcome}_event"
    missing = [c for c in ("treatment", tcol, ecol) if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: outcome '{outcome}' needs columns {', '.join(missing)} in the cohort frame (got "
                        f"{len(frame.columns)} columns without them). Pass a time-to-event outcome of the cohort.")
    a = frame["treatment"].to_numpy()
    n_arms = (int((a == 1).sum()), int((a == 0).sum()))
    if min(n_arms) == 0:
        raise DataError(f"{where}: both arms need patients (got treated {n_arms[0]}, control {n_arms[1]}). "
                        "Pass the analysis cohort's frame.")
    covs = list(covariates) if covariates is not None else [n for n, c in cfg.covariates.items() if c.in_propensity]
    zc, names = _design(frame, covs, where)
    t = frame[tcol].to_numpy(float)
    ok = np.isfinite(t)
    if not ok.all():
        raise DataError(f"{where}: column '{tcol}' has {int((~ok).sum())} missing times (got a duration outcome?). "
                        "Pass a time-to-event outcome.")
    return _Cohort(frame=frame, z=np.column_stack([frame["treatment"].to_numpy(float), zc]),
                   names=("treatment", *names), time=t, event=frame[ecol].to_numpy(int), covariates=covs,
                   arm_index=(np.flatnonzero(a == 1), np.flatnonzero(a == 0)))


def _generating_models(c: _Cohort, s: PlasmodeSettings, where: str) -> tuple[WeibullPH, WeibullPH | None, int]:
    """Weibull PH models of the event and of censoring fitted to the cohort; columns used by the censoring model."""
    event_model = fit_weibull_ph(c.time, c.event, c.z, names=c.names, penalty=s.penalty,
                                 where=f"{where}: event model")
    censor_model, cens_cols = fit_censoring(c.time, c.event, c.z, names=c.names, rule=s.censoring_model,
                                            penalty=s.penalty, where=where)
    return event_model, censor_model, cens_cols


@dataclass(frozen=True)
class _TruthDraws:
    """The large resample that defines the truth: covariates with treatment zeroed, target weights, common
    exponential draws and the linear predictor without treatment; ``rng`` continues the same stream."""

    zm: np.ndarray
    weights: np.ndarray
    base_eta: np.ndarray
    e: np.ndarray
    ps: np.ndarray | None
    rng: np.random.Generator


def _truth_draws(cfg: StudyConfig, c: _Cohort, s: PlasmodeSettings, estimand: str, event_model: WeibullPH,
                 seed: int) -> _TruthDraws:
    """Resample ``n_mc`` rows as a replicate would (observed or simulated treatment) with ATE/ATT/ATC weights."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    ps = None
    if s.treatment == "simulated":
        from gistcausal.analysis.iptw import fit_propensity

        with warnings.catch_warnings():  # the real-cohort fit's own warnings belong to the main analysis
            warnings.simplefilter("ignore")
            ps = np.asarray(fit_propensity(cfg, c.frame)[1], float)
        idx = rng.integers(0, sum(c.n_arms), size=int(s.n_mc))
        a_mc = (rng.random(idx.size) < ps[idx]).astype(float)
        target = {"ATE": np.ones(idx.size), "ATT": ps[idx], "ATC": 1 - ps[idx]}[estimand]
    else:
        sizes_mc = _arm_sizes(c.n_arms, int(s.n_mc))
        idx = np.concatenate([rng.choice(ix, size=m, replace=True) for ix, m in zip(c.arm_index, sizes_mc)])
        a_mc = c.z[idx, 0].copy()
        target = {"ATE": np.ones(idx.size), "ATT": a_mc, "ATC": 1 - a_mc}[estimand]
    zm = c.z[idx].copy()
    zm[:, 0] = 0.0
    u = s.unmeasured_confounder
    u_mc = _draw_u(rng, a_mc, u)
    e_mc = rng.exponential(size=idx.size)
    base_eta = event_model.linear_predictor(zm) + (0.0 if u is None else u["strength_outcome"]) * u_mc
    return _TruthDraws(zm=zm, weights=target, base_eta=base_eta, e=e_mc, ps=ps, rng=rng)


def _injected_log_hr(s: PlasmodeSettings, event_model: WeibullPH,
                     truth_for: Callable[[float], pd.DataFrame]) -> float:
    """The treatment coefficient put in the event model: fitted, ``log(true_hr)``, or solved for a marginal HR."""
    if s.true_hr is None:
        return float(event_model.coef[0])
    if s.true_effect_measure == "hr":
        return math.log(s.true_hr)

    def gap(b: float) -> float:
        return math.log(float(truth_for(b).iloc[0]["value"])) - math.log(s.true_hr)
    return float(optimize.brentq(gap, -6.0, 6.0, xtol=1e-10))


def _truth(cfg: StudyConfig, c: _Cohort, s: PlasmodeSettings, draws: _TruthDraws, event_model: WeibullPH,
           censor_model: WeibullPH | None) -> tuple[pd.DataFrame, float]:
    """True marginal effects of the injected model and the injected log HR (see :func:`plasmode`, Notes)."""
    sv = cfg.analysis.survival

    def truth_for(log_hr: float) -> pd.DataFrame:
        t1 = event_model.draw(draws.base_eta + log_hr, draws.e)
        t0 = event_model.draw(draws.base_eta, draws.e)
        return paired_truth_table(t1, t0, draws.weights, tuple(sv.landmarks), sv.horizon)

    log_hr = _injected_log_hr(s, event_model, truth_for)
    truth = truth_for(log_hr)
    truth["value_follow_up"] = np.nan
    truth.loc[truth["measure"] == "hr", "value_follow_up"] = _follow_up_hr(
        event_model.draw(draws.base_eta + log_hr, draws.e), event_model.draw(draws.base_eta, draws.e), draws.zm,
        censor_model, float(np.max(c.time)), draws.rng.exponential(size=draws.e.size), draws.weights)
    return truth, log_hr


def _settings_record(cfg: StudyConfig, c: _Cohort, s: PlasmodeSettings, *, outcome: str, estimand: str,
                     seed: int, sample_size: int, log_hr: float, event_model: WeibullPH,
                     censor_model: WeibullPH | None, cens_cols: int) -> dict[str, Any]:
    """Everything that defines the run, JSON-safe (also the checkpoint's fingerprint)."""
    sv = cfg.analysis.survival
    sizes = _arm_sizes(c.n_arms, sample_size)
    return {
        "kind": "plasmode", "outcome": outcome, "estimand": estimand, "n_replicates": int(s.n_replicates),
        "sample_size": int(sample_size), "arm_sizes": {"treated": sizes[0], "control": sizes[1]},
        "cohort_arm_sizes": {"treated": c.n_arms[0], "control": c.n_arms[1]},
        "true_hr": s.true_hr, "true_effect_measure": s.true_effect_measure, "conditional_hr": math.exp(log_hr),
        "unmeasured_confounder": s.unmeasured_confounder, "treatment": s.treatment, "covariates": c.covariates,
        "methods": list(s.methods), "random_state": seed, "n_mc": int(s.n_mc), "penalty": float(s.penalty),
        "censoring_covariates": list(c.names[:cens_cols]) if censor_model is not None else [],
        "admin_censoring_time": float(np.max(c.time)),
        "event_model": event_model.to_dict(),
        "censoring_model": None if censor_model is None else censor_model.to_dict(),
        "landmarks": list(map(float, sv.landmarks)), "horizon": sv.horizon, "alpha": sv.alpha,
        "backend": s.backend, "n_jobs": int(s.n_jobs),
    }


def plasmode(config: StudyConfig | str | Path, frame: pd.DataFrame, *, outcome: str,
             estimand: Literal["ATE", "ATT", "ATC"] = "ATE", settings: PlasmodeSettings | None = None,
             random_state: int | None = None, progress: ProgressCallback | None = None,
             engine: Any = None) -> PlasmodeResult:
    r"""Plasmode simulation of the configured analysis on data like the cohort's (Franklin et al. 2014).

    Parameters
    ----------
    config : StudyConfig or path
        The study config; its propensity model, weights and survival settings define the analysis.
    frame : DataFrame
        :attr:`gistcausal.design.cohort.Cohort.frame` (``treatment``, covariates, ``<outcome>_time``/``_event``).
    outcome : str
        An outcome of the cohort: time-to-event (``<outcome>_time``/``_event``), or, as configured in
        ``table.outcomes``, binary or continuous (``<outcome>_value``) or competing (``<outcome>_time``/``_status``),
        simulated and analysed by :mod:`gistcausal.analysis.plasmode_outcomes`.
    estimand : {"ATE", "ATT", "ATC"}, default="ATE"
    settings : PlasmodeSettings, optional
        Injected effect, replicates, generating models and execution (default: ``PlasmodeSettings()``).
    random_state : int, optional
        Seed of everything (default: ``config.seed``); replicate ``i`` uses ``SeedSequence(random_state,
        spawn_key=(i,))``, so results do not depend on the backend.
    progress : callable, optional
        ``progress(done, total)`` after each finished batch.
    engine : gistcausal.engine.Engine or Executor, optional
        Where the replicates run (``gistcausal run`` passes ``analysis.engine``); instead of the settings'
        ``backend``/``scheduler``/``client``/``n_jobs``, which must then keep their defaults.

    Returns
    -------
    PlasmodeResult

    Raises
    ------
    ConfigError
        Bad estimand or settings, an engine given twice, a checkpoint written for other settings, or an injected
        effect of another outcome type (``true_hr`` for a binary outcome, ...).
    DataError
        Outcome or covariate columns missing from the frame.
    ModelFitError
        The generating models cannot be fitted.

    Notes
    -----
    Per replicate: rows resampled with replacement within arm; U drawn given A with
    :math:`\operatorname{logit} P(U=1\mid A) = \operatorname{logit}(\pi) + \gamma_A A`; event times from
    :math:`\Lambda(t\mid x,a,u) = \exp(c_0 + x^\top\beta + a\psi + \gamma_Y u)\, t^k`; censoring from the
    fitted censoring model, capped at the longest observed follow-up.

    The truth is the marginal effect of the injected model in the target population: ``n_mc`` rows are
    resampled the same way, both potential outcomes are drawn from the same exponential (and the same U),
    uncensored; the marginal HR is the Cox estimate on the stacked potential outcomes, the survival and RMST
    differences are their (weighted) means. ATE uses everyone, ATT the treated rows, ATC the controls. The
    conditional HR differs from the marginal one whenever covariates are prognostic (non-collapsibility,
    Martinussen & Vansteelandt 2013), which is why estimates are never compared with ``true_hr`` itself.
    ``truth["value_follow_up"]`` adds the HR of the stacked potential outcomes censored as under each treatment.

    With ``treatment="observed"`` every covariate pattern of the plasmode population has one treatment (true
    propensity 0 or 1); a smooth propensity model can only approximate it, so chance imbalances of a small
    cohort that the fitted outcome model makes prognostic can show up as IPTW bias. ``"simulated"`` gives a
    correctly specified propensity model with overlap (see ``docs/plasmode.md``).
    """
    return begin_plasmode(config, frame, outcome=outcome, estimand=estimand, settings=settings,
                          random_state=random_state, progress=progress, engine=engine)()


def begin_plasmode(config: StudyConfig | str | Path, frame: pd.DataFrame, *, outcome: str,
                   estimand: Literal["ATE", "ATT", "ATC"] = "ATE", settings: PlasmodeSettings | None = None,
                   random_state: int | None = None, progress: ProgressCallback | None = None,
                   engine: Any = None) -> Callable[[], PlasmodeResult]:
    """:func:`plasmode` started now; returns the function that waits for the replicates and returns the result.

    The set-up (generating models, truth) runs now. With an open local-pool
    :class:`~gistcausal.engine.Executor` as ``engine``, no checkpoint and no ``progress`` callback, the replicates
    are handed to the workers at once (:meth:`~gistcausal.engine.Executor.begin_map`), so the caller's next steps
    (the pipeline's sensitivity step) share the workers with them; otherwise they run when the result is asked
    for. The result is the same either way. Errors of the set-up are raised now; the function must be called.
    """
    task, truth, record, run_engine, s, fingerprint, alpha = _prepare(
        config, frame, outcome=outcome, estimand=estimand, settings=settings, random_state=random_state,
        engine=engine)
    n = int(s.n_replicates)
    if isinstance(run_engine, Executor) and run_engine.local_pool and s.checkpoint is None and progress is None:
        chunks = _chunks(list(range(n)), run_engine.n_workers(), s.batch_size)
        wait = run_engine.begin_map(_run_chunk, chunks, shared=task)
        # chunks are consecutive runs of replicates in order, so their records concatenate in replicate order
        return lambda: _build_result([r for part in wait() for r in part], truth, record, alpha)

    def later() -> PlasmodeResult:
        records = _execute(task, n_replicates=n, fingerprint=fingerprint, engine=run_engine,
                           checkpoint=s.checkpoint, progress=progress, batch_size=s.batch_size)
        return _build_result(records, truth, record, alpha)
    return later


def _prepare(config: StudyConfig | str | Path, frame: pd.DataFrame, *, outcome: str, estimand: str,
             settings: PlasmodeSettings | None, random_state: int | None, engine: Any
             ) -> tuple[Any, pd.DataFrame, dict[str, Any], Any, PlasmodeSettings, str, float]:
    """Checks, generating models, truth and the replicates' task: ``(task, truth, settings record, engine,
    settings, checkpoint fingerprint, alpha)``."""
    where = "plasmode"
    s = PlasmodeSettings() if settings is None else settings
    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    _check_estimand(where, estimand)
    run_engine = _settings_engine(s, engine, where)
    kind = outcome_type(cfg, outcome)
    _check_effect_keys(where, s, kind, outcome)
    seed = int(cfg.seed if random_state is None else random_state)
    if kind != "time_to_event" or is_multiarm(cfg):  # issue 18: plasmode_outcomes, plasmode_multiarm
        if is_multiarm(cfg):
            task, truth, record = setup_multiarm(cfg, frame, s, outcome=outcome, estimand=estimand, seed=seed,
                                                 where=where)
        else:
            task, truth, record = setup(cfg, frame, s, outcome=outcome, kind=kind, estimand=estimand, seed=seed,
                                        sample_size=s.sample_size, where=where)
        _engine_record(record, engine)
        return task, truth, record, run_engine, s, _fingerprint(record, frame, cfg), cfg.analysis.survival.alpha
    c = _cohort(cfg, frame, outcome, s.covariates, where)
    sample_size = sum(c.n_arms) if s.sample_size is None else int(s.sample_size)
    event_model, censor_model, cens_cols = _generating_models(c, s, where)
    draws = _truth_draws(cfg, c, s, estimand, event_model, seed)
    truth, log_hr = _truth(cfg, c, s, draws, event_model, censor_model)
    record = _settings_record(cfg, c, s, outcome=outcome, estimand=estimand, seed=seed, sample_size=sample_size,
                              log_hr=log_hr, event_model=event_model, censor_model=censor_model, cens_cols=cens_cols)
    _engine_record(record, engine)
    base = frame.reset_index(drop=True)
    lp_event, lp_censor = cohort_linear_predictors(c.z, 0, event_model, censor_model)
    task = _PlasmodeTask(cfg=cfg, frame=base, z=c.z, outcome=outcome, estimand=estimand,
                         methods=s.methods, event_model=event_model, censor_model=censor_model, treat_pos=0,
                         log_hr=log_hr, admin_time=float(np.max(c.time)), arm_index=c.arm_index,
                         sizes=_arm_sizes(c.n_arms, sample_size), u=s.unmeasured_confounder, random_state=seed,
                         ps=draws.ps, arm_names=(cfg.treatment.treated, cfg.treatment.control),
                         ps_beta0=_cohort_ps_coef(cfg, base, s.methods),
                         analysis_frame=_analysis_frame(cfg, base, outcome), lp_event=lp_event,
                         lp_censor=lp_censor)
    return task, truth, record, run_engine, s, _fingerprint(record, frame, cfg), cfg.analysis.survival.alpha


def _analysis_frame(cfg: StudyConfig, frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The cohort columns a replicate's analysis (:func:`_analyse`) reads: treatment, every configured covariate
    (propensity model, entropy balancing) and matching's exact columns; the outcome's columns are replaced by
    the simulated ones.

    With IPTW, a text (object) covariate is coded once as a categorical whose categories are its sorted distinct
    values, the levels the propensity design learns from text (``design_matrix._sorted_levels``);
    :meth:`_PlasmodeTask.dataset` keeps only the categories a replicate has, in that order, so the replicate's
    design, checks and fit are those of the text column, without hashing the text again in every replicate.
    """
    from gistcausal.stats.design_matrix import _sorted_levels

    wanted = ["treatment", *cfg.covariates, *cfg.analysis.matching.exact]
    drop = {f"{outcome}_time", f"{outcome}_event"}
    out = frame[list(dict.fromkeys(c for c in wanted if c in frame.columns and c not in drop))].copy()
    if cfg.analysis.weights.method == "iptw":
        ps_covs = {n for n, c in cfg.covariates.items() if c.in_propensity}
        for c in out.columns:
            if c in ps_covs and out[c].dtype == object:
                out[c] = pd.Categorical(out[c], categories=list(_sorted_levels(out[c])))
    return out


def _observed_categories(s: pd.Series) -> pd.Series:
    """``s`` (categorical) with only the categories it holds, in their order (``remove_unused_categories``
    without its sort of the codes)."""
    codes = s.cat.codes.to_numpy()
    k = len(s.cat.categories)
    held = np.bincount(codes[codes >= 0], minlength=k) > 0
    if held.all():
        return s
    new_code = np.full(k, -1, dtype=codes.dtype)
    new_code[held] = np.arange(int(held.sum()), dtype=codes.dtype)
    recoded = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1).astype(codes.dtype)
    return pd.Series(pd.Categorical.from_codes(recoded, categories=s.cat.categories[held]), index=s.index,
                     name=s.name)


def _cohort_ps_coef(cfg: StudyConfig, frame: pd.DataFrame, methods: Sequence[str]) -> pd.Series | None:
    """The configured logistic propensity model's coefficients on the cohort (by design column), from which
    each replicate's refit starts (the same maximum in fewer Newton steps); None when there is no such fit."""
    from gistcausal.analysis.iptw import fit_propensity
    from gistcausal.errors import GistCausalError

    if "iptw" not in methods or cfg.analysis.propensity.method != "logistic":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the cohort's own fit is reported by the causal step, not here
            result, _ = fit_propensity(cfg, frame)
    except GistCausalError:
        return None
    table = result.coefficients
    return None if table is None else table.set_index("term")["coef"].copy()


def _engine_record(record: dict[str, Any], engine: Any) -> None:
    """The settings record names the engine the replicates ran on (``engine=``, the run's analysis.engine)."""
    if engine is not None:
        e = getattr(engine, "engine", engine)
        record.update(backend=e.kind, n_jobs=-1 if e.n_workers is None else int(e.n_workers))


#: The injected-effect setting of each outcome type, and what it means.
_EFFECT_KEYS = {"time_to_event": ("true_hr", "a hazard ratio"), "competing": ("true_hr", "a cause-specific hazard ratio"),
                "binary": ("true_or", "an odds ratio"), "continuous": ("true_mean_diff", "a mean difference")}


def _check_effect_keys(where: str, s: "PlasmodeSettings", kind: str, outcome: str) -> None:
    """An injected effect of another outcome type, a cause without competing risks, or a marginal target that
    only the hazard ratio has, is refused (honoured or rejected)."""
    if kind not in _EFFECT_KEYS:
        raise ConfigError(f"{where}: outcome '{outcome}' has type {kind!r}, which plasmode cannot simulate (got a "
                          f"{kind} outcome). Use a time_to_event, competing, binary or continuous outcome.")
    key, what = _EFFECT_KEYS[kind]
    for other in ("true_hr", "true_or", "true_mean_diff"):
        if other != key and getattr(s, other) is not None:
            raise ConfigError(f"{where}: {other} does not apply to the {kind} outcome '{outcome}' (got {other}="
                              f"{getattr(s, other)!r}). Pass {key}= ({what}) instead.")
    if s.cause is not None and kind != "competing":
        raise ConfigError(f"{where}: cause applies to competing-risks outcomes only (got cause={s.cause!r} for the "
                          f"{kind} outcome '{outcome}'). Pass cause=None.")
    if s.true_effect_measure != "hr" and kind != "time_to_event":
        raise ConfigError(f"{where}: true_effect_measure={s.true_effect_measure!r} applies to time-to-event outcomes "
                          f"only (got the {kind} outcome '{outcome}'). Pass true_effect_measure='hr'.")


def _default_config() -> StudyConfig:
    path = Path(__file__).resolve().parents[3] / "configs" / "gist_second_line.yaml"
    if not path.exists():
        raise ConfigError(f"simulation_study: the default config {path} is not available (got an installed package "
                          "without the repository's configs). Pass config='path/to/gist_second_line.yaml'.")
    return load_config(path)


def _registry_knobs(where: str, simulation: Mapping[str, Any] | None) -> dict[str, float]:
    """Generator settings shared by the registry and its truth (the parameters of
    :func:`gistcausal.design.simulate.true_marginal_effects` that describe the population and the effects)."""
    import inspect

    from gistcausal.design.simulate import true_marginal_effects

    allowed = [p for p in inspect.signature(true_marginal_effects).parameters
               if p not in ("estimand", "landmarks", "horizon", "n_mc", "seed")]
    knobs = dict(simulation or {})
    bad = sorted(set(knobs) - set(allowed))
    if bad:
        raise ConfigError(f"{where}: simulation has unknown setting(s) {', '.join(bad)} (got "
                          f"{sorted(knobs)}). Use some of {', '.join(allowed)}.")
    return {k: (v if isinstance(v, str) else float(v)) for k, v in knobs.items()}


def simulation_study(n_replicates: int = 200, *, outcome: str, config: StudyConfig | str | Path | None = None,
                     estimand: Literal["ATE", "ATT", "ATC"] = "ATE", n_patients: int | None = None,
                     simulation: Mapping[str, Any] | None = None, methods: Sequence[str] = ("iptw", "unadjusted"),
                     backend: Literal["local", "dask"] = "local", scheduler: str | None = None, client: Any = None,
                     n_jobs: int = -1, random_state: int = 20201, checkpoint: str | Path | None = None,
                     progress: ProgressCallback | None = None, n_mc: int = 200_000,
                     batch_size: int | None = None) -> PlasmodeResult:
    """The project's own simulation study: the configured analysis on fresh synthetic registries.

    Replicate ``i`` draws a registry with :func:`gistcausal.design.simulate.simulate_registry` (seed from
    ``SeedSequence(random_state, spawn_key=(i,))``), applies the config's protocol and runs the analysis; the
    truth is :func:`gistcausal.design.simulate.true_marginal_effects` for the same settings. Execution,
    checkpoint and metrics are those of :func:`plasmode`.

    Parameters
    ----------
    n_replicates : int, default=200
    outcome : str
        An outcome of the synthetic registry that the config defines.
    config : StudyConfig or path, optional
        Default: the repository's ``configs/gist_second_line.yaml`` (synthetic source).
    estimand : {"ATE", "ATT", "ATC"}, default="ATE"
    n_patients : int, optional
        Registry size (default: the config's ``data.synthetic.n_patients``).
    simulation : mapping, optional
        Generator settings given to both the registry and its truth (confounding strength, true conditional
        hazard ratios, prognostic strength...: the keyword arguments of
        :func:`gistcausal.design.simulate.true_marginal_effects`); default: the generator's own defaults.
    methods, backend, scheduler, client, n_jobs, random_state, checkpoint, progress, batch_size
        As :class:`PlasmodeSettings` and :func:`plasmode`.
    n_mc : int, default=200_000
        Monte Carlo size of the truth.

    Returns
    -------
    PlasmodeResult
    """
    from gistcausal.design.simulate import SimulationSettings, true_marginal_effects

    where = "simulation_study"
    cfg = _default_config() if config is None else (config if isinstance(config, StudyConfig) else load_config(config))
    _check_common(where, estimand=estimand, n_replicates=n_replicates, backend=backend, n_jobs=n_jobs, methods=methods)
    knobs = _registry_knobs(where, simulation)
    s = cfg.analysis.survival
    te = true_marginal_effects(estimand=estimand, landmarks=tuple(s.landmarks), horizon=float(s.horizon or 24.0),
                               n_mc=n_mc, seed=int(random_state), **knobs)
    outcomes = sorted({e.outcome for e in te.estimates} & set(cfg.outcomes))
    if outcome not in outcomes:
        raise ConfigError(f"{where}: outcome must be an outcome of the synthetic registry defined in the config "
                          f"(got {outcome!r}). Use one of {', '.join(map(repr, outcomes))}.")
    syn = getattr(cfg.data, "synthetic", None)
    n_pat = int(n_patients if n_patients is not None else (syn.n_patients if syn is not None else 480))
    sim = {"n_patients": n_pat, **knobs}
    rows = []
    for e in te.estimates:
        if e.outcome == outcome and e.measure in PLASMODE_MEASURES and " vs " in e.contrast:
            if e.measure == "rmst_diff" and s.horizon is None:
                continue
            rows.append({"measure": e.measure, "time": None if not math.isfinite(e.time) else e.time,
                         "value": e.value, "mc_se": e.se, "scale": e.scale})
    truth = pd.DataFrame(rows)
    # the generator's conditional hazard ratio of this outcome (its settings are named hr_<outcome>)
    conditional = getattr(SimulationSettings(**{k: v for k, v in knobs.items()
                                                if k in SimulationSettings.__dataclass_fields__}),
                          f"hr_{outcome}", None)
    settings = {"kind": "synthetic_registry", "outcome": outcome, "estimand": estimand,
                "n_replicates": int(n_replicates), "sample_size": None, "simulation": sim,
                "conditional_hr": conditional, "methods": list(methods),
                "random_state": int(random_state), "n_mc": int(n_mc), "landmarks": list(map(float, s.landmarks)),
                "horizon": s.horizon, "alpha": s.alpha, "backend": backend, "n_jobs": int(n_jobs)}
    task = _RegistryTask(cfg=cfg, outcome=outcome, estimand=estimand, methods=tuple(methods), sim=sim,
                         random_state=int(random_state))
    records = _execute(task, n_replicates=int(n_replicates), fingerprint=_fingerprint(settings, None, cfg),
                       engine=_engine_of(backend, scheduler, client, n_jobs), checkpoint=checkpoint,
                       progress=progress, batch_size=batch_size)
    return _build_result(records, truth, settings, s.alpha)


__all__ = ["PlasmodeResult", "PlasmodeSettings", "WeibullPH", "fit_weibull_ph", "plasmode", "simulation_study",
           "PLASMODE_MEASURES"]
