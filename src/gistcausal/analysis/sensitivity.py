"""The sensitivity step of a run: E-values of every main estimate, the HR tipping point, observed-covariate
benchmarks, the specification grid, DoWhy refutation and an optional negative-control outcome.

The statistics live in :mod:`gistcausal.stats.evalue`, :mod:`gistcausal.analysis.specification` and
:mod:`gistcausal.stats.refutation`; this module only decides what to apply them to (the primary outcome under the
first configured estimand) and returns a :class:`SensitivityResult`; the figures are drawn by
:mod:`gistcausal.present.figures`.
"""
from __future__ import annotations

import math
from itertools import combinations
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gistcausal.analysis.iptw import causal_fit, covariate_design
from gistcausal.analysis.spec import engine as spec_engine
from gistcausal.analysis.specification import (begin_specification_grid, competing_specification_grids,
                                                specification_grid)
from gistcausal.errors import GistCausalError, failure_reason
from gistcausal.stats.cox import cox_fit
from gistcausal.stats.evalue import benchmark_covariates, evalue, evalue_from_estimate, tipping_point_grid
from gistcausal.stats.refutation import causal_graph, refute

if TYPE_CHECKING:  # pragma: no cover
    from gistcausal.design.cohort import Cohort
    from gistcausal.design.config import StudyConfig

#: Measures of the main comparison that get an E-value.
EVALUE_MEASURES = ("hr", "rmst_diff", "surv_diff", "surv_ratio")


def restricted_sd(curves: pd.DataFrame, arm: str, horizon: float) -> float:
    """SD of min(T, tau) from an arm's (weighted) Kaplan-Meier curve.

    E[min(T, tau)^2] = 2 * integral_0^tau t S(t) dt, so Var = 2 * int t S(t) dt - RMST^2 (the step function
    is integrated exactly).
    """
    c = curves[(curves["arm"] == arm) & (curves.get("weighting", "weighted") != "unweighted")]
    t = np.concatenate([[0.0], c["time"].to_numpy(float)])
    s = np.concatenate([[1.0], c["surv"].to_numpy(float)])
    keep = t < horizon
    t, s = t[keep], s[keep]
    right = np.append(t[1:], horizon)
    rmst = float(np.sum(s * (right - t)))
    m2 = float(np.sum(s * (right ** 2 - t ** 2)))
    return math.sqrt(max(m2 - rmst ** 2, 0.0))


def _design_for_benchmarks(cfg: "StudyConfig", f: pd.DataFrame) -> pd.DataFrame:
    """Binary (0/1) coding of the PS covariates: levels as indicators (first level dropped), continuous
    covariates dichotomized above the median, as the E-value benchmark requires binary confounders."""
    cols = {}
    for name, c in cfg.covariates.items():
        if not c.in_propensity:
            continue
        x = f[name]
        if c.type == "continuous":
            xv = x.to_numpy(float)
            cols[f"{name} > median"] = (xv > np.nanmedian(xv)).astype(float)
        else:
            d = pd.get_dummies(x.astype(str), prefix=name, prefix_sep=": ", drop_first=True, dtype=float)
            for k in d.columns:
                if 0 < d[k].sum() < len(d):
                    cols[k] = d[k].to_numpy()
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class SensitivityResult:
    """What the sensitivity step produced.

    Attributes
    ----------
    tables : dict
        Name -> table or result object, in the order they were made (``evalues``, ``benchmarks``,
        ``evalue_hr``, ``tipping_grid``, ``specification_grid``, ``refutation``, ``negative_control``; for a
        competing-risks primary outcome also ``specification_grid_cs_hr``; ``not_applicable`` lists what was
        not run and why); these are the ``sensitivity`` entries of ``results.json``.
    estimates : tuple of EffectEstimate
        Estimates to add to the run's list (DoWhy's, the negative-control outcome's).
    benchmarks : BenchmarkResult or None
        Measured-covariate benchmarks for the bias plot.
    causal_graph : networkx.DiGraph or None
        The DAG given to DoWhy.
    failed : dict
        Sub-step name -> reason, for the optional sub-steps that failed (the others are kept).
    """

    tables: dict[str, Any] = field(default_factory=dict)
    estimates: tuple[Any, ...] = ()
    benchmarks: Any = None
    causal_graph: Any = None
    failed: dict[str, str] = field(default_factory=dict)


def _evalues(cfg: "StudyConfig", comp: Any, event_prop: float, *, pair: tuple[str, str] | None = None
             ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """E-value of every main contrast of ``comp`` (VanderWeele & Ding 2017), one row each; with ``pair`` =
    (control, treated) arms, only the contrast "treated vs control" of a K-arm comparison."""
    control, treated = pair or (cfg.treatment.control, cfg.treatment.treated)
    rows, results = [], {}
    for e in comp.estimates:
        if e.measure not in EVALUE_MEASURES or " vs " not in e.contrast:
            continue
        if pair is not None and e.contrast != f"{treated} vs {control}":
            continue
        kw: dict[str, Any] = {}
        if e.measure in ("surv_diff", "surv_ratio"):
            s0 = [x for x in comp.estimates if x.measure == "surv" and x.contrast == control
                  and math.isfinite(x.time) and abs(x.time - e.time) < 1e-9]
            if s0:
                kw["surv_control"] = s0[0].value
        if e.measure == "rmst_diff":
            kw["rmst_sd"] = math.sqrt((restricted_sd(comp.curves, treated, e.time) ** 2
                                       + restricted_sd(comp.curves, control, e.time) ** 2) / 2)
        try:
            ev = evalue_from_estimate(e, event_proportion=event_prop, **kw)
        except GistCausalError as err:
            rows.append({"measure": e.measure, "time": e.time, "estimate": e.value, "evalue": math.nan,
                         "evalue_ci": math.nan, "conversion": "", "interpretation": str(err).splitlines()[0]})
            continue
        key = e.measure if not math.isfinite(e.time) else f"{e.measure}@{e.time:g}"
        results[key] = ev
        rows.append({"measure": e.measure, "time": e.time, "estimate": e.value, "evalue": ev.evalue,
                     "evalue_ci": ev.evalue_ci, "conversion": ev.conversion, "interpretation": ev.summary()})
    return pd.DataFrame(rows), results


def _benchmarks(cfg: "StudyConfig", f: pd.DataFrame, info: Any, event_prop: float) -> Any:
    """Observed-covariate benchmarks: each measured covariate's association with treatment and outcome, on
    the E-value scale (the bias plot marks them)."""
    design = _design_for_benchmarks(cfg, f)
    X = np.column_stack([f["treatment"].to_numpy(float), design.to_numpy(float)])
    fit = cox_fit(f[info.time_col].to_numpy(float), f[info.event_col].to_numpy(int), X,
                  names=["treatment", *design.columns])
    hrs = dict(zip(design.columns, np.exp(fit.coef[1:])))
    return benchmark_covariates(design.assign(treatment=f["treatment"].to_numpy()), treatment_col="treatment",
                                covariates=list(design.columns), outcome_hr=hrs, event_proportion=event_prop)


def _refutation(cfg: "StudyConfig", f: pd.DataFrame, info: Any, estimand: str, engine: Any) -> tuple[Any, Any]:
    """DoWhy refutation of the primary contrast and the causal graph it used."""
    sc = cfg.analysis.sensitivity
    outcome = cfg.primary_outcome
    design = covariate_design(cfg, f)
    df = design.assign(treatment=f["treatment"].to_numpy(), time=f[info.time_col].to_numpy(float),
                       event=f[info.event_col].to_numpy(int))
    edges = tuple(tuple(e) for e in sc.refutation.extra_edges)
    rr = refute(df, treatment_col="treatment", time_col="time", event_col="event",
                covariates=list(design.columns), bridge=sc.refutation.bridge,
                horizon=cfg.analysis.survival.horizon, estimand=estimand if estimand != "ATO" else "ATE",
                refuters=tuple(sc.refutation.refuters), num_simulations=sc.refutation.num_simulations,
                extra_edges=edges, outcome=outcome,
                contrast=f"{cfg.treatment.treated} vs {cfg.treatment.control}", random_state=cfg.seed,
                engine=engine)
    return rr, causal_graph("treatment", outcome, list(design.columns), extra_edges=edges)


def _attempt_later(fn: Any) -> Any:
    """``fn()`` now, as a function that returns its result or raises its exception when called (so a failure is
    recorded where the step's failures are collected, in the step's order)."""
    try:
        value = fn()
    except Exception as err:  # noqa: BLE001 - raised again when the result is asked for
        caught = err   # `err` itself is unbound when the except block ends (the function raised a NameError)

        def fail() -> Any:
            raise caught
        return fail
    return lambda: value


def _tipping(hr: Any) -> pd.DataFrame | None:
    """The tipping-point grid of a hazard ratio estimate (Lin, Psaty & Kronmal 1998): an unmeasured binary
    confounder with prevalence 0.1-0.5 in the treated and 0-0.3 in the control arm and hazard ratio 1.25-4 for the
    outcome; None when the estimate or its interval is not finite."""
    if hr is None or not all(math.isfinite(v) for v in (hr.value, hr.ci_low, hr.ci_high)):
        return None
    prev = [(p1, p0) for p1 in (0.1, 0.3, 0.5) for p0 in (0.0, 0.1, 0.3) if p1 != p0]
    return tipping_point_grid(hr.value, hr.ci_low, hr.ci_high, prevalence_grid=prev,
                              gamma_grid=[1.25, 1.5, 2.0, 3.0, 4.0])


def begin_grid(cfg: "StudyConfig", cohort: "Cohort", *, engine: Any) -> Callable[[], Any] | None:
    """The specification grid :func:`run_sensitivity` computes, started now (it reads the cohort only); None when
    that step computes none (the grid is off, or the primary outcome is not a time to event).

    Pass the returned function to :func:`run_sensitivity` as ``grid_started``. The pipeline starts it as soon as the cohort
    is built, so the grid's boosting row (one long task) does not start last and run alone at the end (issue 17).
    Returns a function that returns the grid's own collect function, or raises what starting it raised (recorded
    by :func:`run_sensitivity` as the grid's failure, as when it starts there)."""
    info = cohort.outcome(cfg.primary_outcome)
    if not cfg.analysis.sensitivity.specification_grid or info.type != "time_to_event":
        return None
    return _attempt_later(lambda: begin_specification_grid(
        cfg, cohort.frame, outcome=cfg.primary_outcome, measure="hr", info=info, engine=engine))


def run_sensitivity(cfg: "StudyConfig", cohort: "Cohort", comp: Any, say: Any, *, engine: Any = None,
                    grid_started: Callable[[], Any] | None = None) -> SensitivityResult:
    """The sensitivity step for the primary outcome under the first configured estimand.

    The specification grid and the DoWhy refuters run on ``engine`` (an :class:`~gistcausal.engine.Engine` or
    open :class:`~gistcausal.engine.Executor`; default ``analysis.engine``), one task per specification or refuter.

    ``comp`` is that outcome's weighted comparison (for a binary, continuous or competing-risks primary outcome:
    its adjusted estimates, a sequence of EffectEstimate). Each optional part (benchmarks, specification grid, DoWhy
    refutation, negative control) that fails is recorded in ``failed`` with its reason; the others are kept.
    ``grid_started``: the specification grid already started by :func:`begin_grid` (default: started here).
    """
    sc = cfg.analysis.sensitivity
    engine = spec_engine(cfg) if engine is None else engine
    estimand = cfg.analysis.survival.estimands[0]
    f = cohort.frame
    info = cohort.outcome(cfg.primary_outcome)
    if info.type != "time_to_event":
        return _other_outcome_sensitivity(cfg, f, info, say, engine, comp)
    event_prop = info.n_events / max(info.n, 1)
    tables: dict[str, Any] = {}
    estimates: list[Any] = []
    failed: dict[str, str] = {}
    bench = graph = None

    def attempt(name: str, fn: Any) -> Any:
        try:
            return fn()
        except Exception as err:  # noqa: BLE001 - a failed part is reported, the others are kept
            failed[name] = failure_reason(err)
            return None

    if sc.evalues:
        tables["evalues"], results = _evalues(cfg, comp, event_prop)
        if "hr" in results:
            try:
                bench = _benchmarks(cfg, f, info, event_prop)
                tables["benchmarks"] = bench.to_frame()
            except GistCausalError as err:
                tables["benchmarks_note"] = str(err).splitlines()[0]
            tables["evalue_hr"] = results["hr"]
    hr = next((e for e in comp.estimates if e.measure == "hr"), None)
    if sc.tipping_point and (grid := _tipping(hr)) is not None:
        tables["tipping_grid"] = grid
    grid_job = refuted = None
    if sc.specification_grid:
        # started now (or by begin_grid) and collected after the refuters: on a local pool its specifications (the
        # boosting row is one long task) and the refuters share the workers, instead of one worker idling at the
        # grid's end
        if grid_started is None:
            say("Specification grid")
            grid_started = begin_grid(cfg, cohort, engine=engine)
        grid_job = attempt("specification_grid", grid_started) if grid_started is not None else None
    if sc.refutation.enabled and cfg.analysis.survival.horizon:
        say("DoWhy refutation")
        refuted = _attempt_later(lambda: _refutation(cfg, f, info, estimand, engine))
    grid = attempt("specification_grid", grid_job) if grid_job is not None else None
    if grid is not None:
        tables["specification_grid"] = grid
    if refuted is not None:
        out = attempt("refutation", refuted)
        if out is not None:
            tables["refutation"], graph = out
            estimates.append(out[0].estimate)
    nc = sc.negative_control
    if nc is not None:
        fit = attempt("negative_control", lambda: causal_fit(cfg, f, outcome=nc, estimand=estimand))
        if fit is not None:
            keep = [e for e in fit.estimates if e.measure in ("hr", "rmst_diff", "logrank_p")]
            tables["negative_control"] = pd.DataFrame([e.to_dict() for e in keep])
            estimates.extend(keep)
    return SensitivityResult(tables, tuple(estimates), bench, graph, failed)


#: Sensitivity analyses not built for three or more arms, with the reason the report gives.
MULTIARM_NOT_APPLICABLE = {
    "benchmarks": "measured-covariate benchmarks are defined for a binary treatment (each covariate's association "
                  "with treated vs control); not built for more than two arms yet",
    "specification_grid": "re-runs the two-arm IPTW analysis under alternative choices; not built for more than two "
                          "arms yet",
    "refutation": "the DoWhy refuters estimate a binary-treatment effect; not built for more than two arms yet",
    "negative_control": "analysed like the two-arm main outcome; not built for more than two arms yet",
}


def run_multiarm_sensitivity(cfg: "StudyConfig", cohort: "Cohort", comp: Any) -> SensitivityResult:
    """Sensitivity of a K-arm analysis: E-values and the tipping-point grid of every pairwise contrast of the
    primary outcome under the first estimand (``comp``, a
    :class:`~gistcausal.stats.multiarm_survival.MultiArmComparison`), as the two-arm step does for its one
    contrast: for the pair "B vs A", A plays the control and B the treated arm (its survival at the landmark
    and the restricted-time SDs of the two arms enter the conversions; the event proportion is the pair's).
    The analyses built for two arms only (benchmarks, specification grid, DoWhy refutation, negative control)
    are listed in the ``not_applicable`` table with the reason when they are switched on (by default; set
    explicitly they are refused when the config is loaded).

    Returns
    -------
    SensitivityResult
        ``tables``: ``evalues`` (one row per pair, measure and time, with a ``contrast`` column),
        ``tipping_grid`` (the grid of :func:`gistcausal.stats.evalue.tipping_point_grid` per pair, with a
        ``contrast`` column; p_treated is the prevalence of the confounder in B, p_control in A) and
        ``not_applicable`` (analysis, reason).
    """
    sc = cfg.analysis.sensitivity
    f = cohort.frame
    info = cohort.outcome(cfg.primary_outcome)
    tables: dict[str, Any] = {}
    ev_frames, tip_frames = [], []
    for i, j in combinations(range(len(comp.arms)), 2):
        control, treated = comp.arms[i], comp.arms[j]
        contrast = f"{treated} vs {control}"
        m = f["arm"].isin([treated, control]).to_numpy()
        event_prop = float(f.loc[m, info.event_col].mean()) if m.any() else math.nan
        if sc.evalues:
            frame, _ = _evalues(cfg, comp, event_prop, pair=(control, treated))
            ev_frames.append(frame.assign(contrast=contrast))
        hr = next((e for e in comp.estimates if e.measure == "hr" and e.contrast == contrast), None)
        if sc.tipping_point and (grid := _tipping(hr)) is not None:
            tip_frames.append(grid.assign(contrast=contrast))
    if ev_frames:
        ev = pd.concat(ev_frames, ignore_index=True)
        tables["evalues"] = ev[["contrast"] + [c for c in ev.columns if c != "contrast"]]
    if tip_frames:
        tip = pd.concat(tip_frames, ignore_index=True)
        tables["tipping_grid"] = tip[["contrast"] + [c for c in tip.columns if c != "contrast"]]
    on = {"benchmarks": sc.evalues, "specification_grid": sc.specification_grid,
          "refutation": sc.refutation.enabled, "negative_control": sc.negative_control is not None}
    names = {"benchmarks": "E-value benchmarks (measured covariates)", "specification_grid": "specification grid",
             "refutation": "DoWhy refutation", "negative_control": "negative-control outcome"}
    rows = [{"analysis": names[k], "reason": MULTIARM_NOT_APPLICABLE[k]} for k, v in on.items() if v]
    if rows:
        tables["not_applicable"] = pd.DataFrame(rows)
    return SensitivityResult(tables, (), None, None, {})


def _point_evalues(cfg: "StudyConfig", f: pd.DataFrame, info: Any, estimates: Any) -> pd.DataFrame:
    """E-values of a binary outcome's risk ratio, odds ratio and risk difference, or of a continuous outcome's
    mean difference as a standardized mean difference (d = difference / pooled SD of the outcome, SE likewise;
    VanderWeele & Ding 2017, the SMD route of VanderWeele 2017)."""
    rows = []
    y = f[info.event_col].to_numpy(float)
    a = f["treatment"].to_numpy(int)
    ok = np.isfinite(y)
    for e in estimates:
        try:
            if e.measure in ("risk_ratio", "odds_ratio"):
                ev = evalue(e.value, ci_low=e.ci_low, ci_high=e.ci_high, measure="rr" if e.measure == "risk_ratio"
                            else "or", outcome_prevalence=float(np.mean(y[ok])), outcome=info.label)
                how = "risk ratio" if e.measure == "risk_ratio" else "odds ratio"
            elif e.measure == "risk_diff":
                p0 = float(np.mean(y[ok & (a == 0)]))
                ev = evalue(e.value, ci_low=e.ci_low, ci_high=e.ci_high, measure="rd", baseline_risk=p0,
                            outcome=info.label)
                how = f"risk difference (control risk {p0:.3f})"
            elif e.measure == "mean_diff":
                sd = math.sqrt((np.var(y[ok & (a == 1)], ddof=1) + np.var(y[ok & (a == 0)], ddof=1)) / 2)
                ev = evalue(e.value / sd, se=e.se / sd, measure="smd", outcome=info.label)
                how = f"standardized mean difference (pooled SD {sd:.3g})"
            else:
                continue
        except GistCausalError as err:
            rows.append({"measure": e.measure, "time": math.nan, "estimate": e.value, "evalue": math.nan,
                         "evalue_ci": math.nan, "conversion": "", "interpretation": str(err).splitlines()[0]})
            continue
        rows.append({"measure": e.measure, "time": math.nan, "estimate": e.value, "evalue": ev.evalue,
                     "evalue_ci": ev.evalue_ci, "conversion": how, "interpretation": ev.summary()})
    return pd.DataFrame(rows, columns=["measure", "time", "estimate", "evalue", "evalue_ci", "conversion",
                                       "interpretation"])


_TYPE_WORDS = {"competing": "competing-risks", "binary": "binary", "continuous": "continuous"}

#: Why DoWhy's refutation is not run for a competing-risks primary outcome.
_NO_COMPETING_REFUTATION = (
    "its bridge is the pseudo-observations of a Kaplan-Meier functional (RMST or survival at the horizon) of a "
    "time-to-event outcome, which would count the competing causes as censoring; a cumulative-incidence "
    "(Aalen-Johansen) pseudo-observation bridge is not built")


def _competing_evalues(cfg: "StudyConfig", f: pd.DataFrame, info: Any, estimates: Any) -> pd.DataFrame:
    """E-values of a competing-risks outcome's cause of interest (the first cause of ``causes``): its
    cause-specific hazard ratio (HR -> RR by that cause's event proportion, VanderWeele 2020), and at each
    landmark its cumulative incidence ratio (a risk ratio) and difference (the risk-difference route with the
    control arm's cumulative incidence as baseline risk); see :func:`~gistcausal.stats.evalue.
    evalue_from_estimate`."""
    cause = next(iter(cfg.outcomes[info.name].causes.values()))
    status = f[info.event_col].to_numpy(float)
    prop = float(np.mean(status == 1)) if status.size else 0.0   # status 1 = the first cause (design.cohort)
    mine = [e for e in estimates if e.extra.get("cause") == cause]
    rows = []
    for e in mine:
        if e.measure not in ("cs_hr", "cif_ratio", "cif_diff") or " vs " not in e.contrast:
            continue
        base = {"measure": e.measure, "time": e.time, "cause": cause, "estimate": e.value}
        if not math.isfinite(e.value):
            rows.append({**base, "evalue": math.nan, "evalue_ci": math.nan, "conversion": "",
                         "interpretation": e.note})
            continue
        try:
            kw: dict[str, Any] = {}
            if e.measure == "cif_diff":
                f0 = [x for x in mine if x.measure == "cif" and x.contrast == cfg.treatment.control
                      and abs(x.time - e.time) < 1e-9]
                kw["baseline_risk"] = f0[0].value if f0 else None
            ev = evalue_from_estimate(e, event_proportion=prop, **kw)
        except GistCausalError as err:
            rows.append({**base, "evalue": math.nan, "evalue_ci": math.nan, "conversion": "",
                         "interpretation": str(err).splitlines()[0]})
            continue
        rows.append({**base, "evalue": ev.evalue, "evalue_ci": ev.evalue_ci,
                     "conversion": f"{ev.conversion} ({ev.conversion_reason})", "interpretation": ev.summary()})
    order = {"cs_hr": 0, "cif_ratio": 1, "cif_diff": 2}
    rows.sort(key=lambda r: (order[r["measure"]], r["time"] if math.isfinite(r["time"]) else -1.0))
    return pd.DataFrame(rows, columns=["measure", "time", "cause", "estimate", "evalue", "evalue_ci", "conversion",
                                       "interpretation"])


def _competing_sensitivity(cfg: "StudyConfig", f: pd.DataFrame, info: Any, say: Any, engine: Any,
                           estimates: Any, tables: dict[str, Any], failed: dict[str, str]) -> None:
    """E-values, the tipping point of the cause-specific hazard ratio and the two specification grids of a
    competing-risks primary outcome's cause of interest, added to ``tables``."""
    sc = cfg.analysis.sensitivity
    cause = next(iter(cfg.outcomes[info.name].causes.values()))
    if sc.evalues:
        tables["evalues"] = _competing_evalues(cfg, f, info, estimates)
    hr = next((e for e in estimates if e.measure == "cs_hr" and e.extra.get("cause") == cause), None)
    if sc.tipping_point and (grid := _tipping(hr)) is not None:
        tables["tipping_grid"] = grid
    if sc.specification_grid:
        say("Specification grid")
        # the difference at the time the answer leads with: the run's last landmark of this cause
        times = [e.time for e in estimates if e.measure == "cif_diff" and e.extra.get("cause") == cause]
        try:
            diff, cs = competing_specification_grids(cfg, f, info=info, time=max(times) if times else None,
                                                     engine=engine)
            if diff is not None:
                tables["specification_grid"] = diff
            tables["specification_grid_cs_hr"] = cs
        except Exception as err:  # noqa: BLE001 - reported in the section
            failed["specification_grid"] = failure_reason(err)


def _other_outcome_sensitivity(cfg: "StudyConfig", f: pd.DataFrame, info: Any, say: Any,
                               engine: Any = None, estimates: Any = ()) -> SensitivityResult:
    """A binary, continuous or competing-risks primary outcome.

    Binary or continuous: E-values of its risk ratio, odds ratio and risk difference or of its mean difference
    (as an SMD), and the specification grid on its risk or mean difference; the tipping point is built on a
    hazard ratio, so it is listed as not applicable. Competing risks (the cause of interest is the first cause of
    ``causes``): E-values of its cause-specific hazard ratio and of its cumulative incidence ratio and difference
    at each landmark, the tipping point of the cause-specific hazard ratio, and the specification grids of the
    cumulative incidence difference and the cause-specific hazard ratio. The DoWhy refutation is built on the
    pseudo-observations of a time-to-event outcome, so it is listed as not applicable for all three rather than
    silently left out."""
    sc = cfg.analysis.sensitivity
    tables: dict[str, Any] = {}
    failed: dict[str, str] = {}
    skipped = []
    if info.type == "competing":
        _competing_sensitivity(cfg, f, info, say, engine, estimates or (), tables, failed)
    if sc.evalues and info.type in ("binary", "continuous"):
        tables["evalues"] = _point_evalues(cfg, f, info, estimates or ())
    if sc.specification_grid and info.type in ("binary", "continuous"):
        say("Specification grid")
        try:
            tables["specification_grid"] = specification_grid(cfg, f, outcome=info.name, info=info, engine=engine)
        except Exception as err:  # noqa: BLE001 - reported in the section
            failed["specification_grid"] = failure_reason(err)
    why = "built on the hazard ratio and RMST of a time-to-event primary outcome"
    if sc.tipping_point and info.type != "competing":
        skipped.append(("tipping point", why))
    if sc.refutation.enabled:
        skipped.append(("DoWhy refutation", _NO_COMPETING_REFUTATION if info.type == "competing" else why))
    if skipped:
        tables["not_applicable"] = pd.DataFrame(
            [{"analysis": a, "reason": f"not run for a {_TYPE_WORDS.get(info.type, info.type)} primary outcome: "
                                       f"{why}"}
             for a, why in skipped])
    return SensitivityResult(tables, (), None, None, failed)


__all__ = ["SensitivityResult", "run_sensitivity", "run_multiarm_sensitivity", "restricted_sd",
           "EVALUE_MEASURES", "MULTIARM_NOT_APPLICABLE"]
