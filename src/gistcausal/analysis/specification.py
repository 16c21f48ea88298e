"""Specification grid: the main estimate re-run across the choices a reviewer asks about.

Each row changes one choice of the configured analysis and keeps the rest: the propensity model (main
effects, natural splines for continuous covariates, Firth, gradient boosting with cross-fitting), the estimand
(ATE, ATT, ATO), the weighting method (IPTW, entropy balancing, propensity-score matching), truncation of
extreme weights (1st/99th and 5th/95th percentiles), trimming of non-overlap
(Crump et al. 2009), and the handling of "not reported" covariate levels (kept as a category vs complete
case). The unadjusted estimate is shown as the reference. A reader sees at a glance whether the conclusion
depends on a choice (Simonsohn, Simmons & Nelson 2020, Nat Hum Behav 4:1208 "Specification curve analysis";
Steegen et al. 2016, Perspect Psychol Sci 11:702 "multiverse analysis").

A specification that cannot be fitted (e.g. separation under splines) is kept as a row with the reason, never
dropped silently.

Measures: a time-to-event outcome's hazard ratio (or RMST/survival difference), a binary outcome's risk
difference, a continuous outcome's mean difference, and for a competing-risks outcome two grids from one pass
over the specifications (:func:`competing_specification_grids`): the weighted Aalen-Johansen cumulative incidence
difference of the cause of interest (the first cause of ``causes``) at the last configured landmark within both
arms' follow-up -- the time the report's answer leads with -- and that cause's cause-specific hazard ratio.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gistcausal.analysis.iptw import causal_fit, configured_weights, fit_propensity
from gistcausal.effects import json_safe, EffectEstimate
from gistcausal.engine import Executor, one_thread, open_executor
from gistcausal.errors import DataError, GistCausalError, GistCausalWarning, failure_reason
from gistcausal.stats.comparison import compare_survival

if TYPE_CHECKING:  # pragma: no cover
    from gistcausal.design.config import StudyConfig


@dataclass(frozen=True, slots=True)
class Specification:
    """One alternative analysis: a group ("propensity model", "estimand", ...), a label, and the changes."""

    group: str
    label: str
    estimand: str
    ps_method: str | None = None
    spline_all: bool = False
    truncate: Any = "config"
    trim: Any = "config"
    complete_case: tuple[str, ...] = ()
    weight_method: str | None = None     # None: analysis.weights.method


@dataclass(frozen=True, slots=True)
class SpecificationGrid:
    """Estimates of one outcome across specifications (aggregates only)."""

    outcome: str
    measure: str
    rows: tuple[dict[str, Any], ...]
    main_label: str
    #: competing risks: the cause the measure is of (its label) and the time of a cumulative incidence difference
    cause: str = ""
    time: float = math.nan

    def to_frame(self) -> pd.DataFrame:
        """One row per specification: group, label, estimand, n, value, ci_low, ci_high, variance, note."""
        return pd.DataFrame(list(self.rows))

    def to_dict(self) -> dict[str, Any]:
        out = {"outcome": self.outcome, "measure": self.measure, "main": self.main_label,
               "rows": [{k: json_safe(v) for k, v in r.items()} for r in self.rows]}
        if self.cause:
            out.update(cause=self.cause, time=json_safe(self.time))
        return out

    def describe(self, time_unit: str = "") -> str:
        """The measure in words, with the cause and time of a competing-risks grid ("cumulative incidence
        difference of Recurrence at 24 months")."""
        what = MEASURE_NAMES.get(self.measure, self.measure)
        if self.cause:
            what += f" of {self.cause}"
        if math.isfinite(self.time):
            what += f" at {self.time:g}" + (f" {time_unit}" if time_unit else "")
        return what

    def summary(self, outcome_label: str | None = None, time_unit: str = "") -> str:
        """One sentence: the range of the estimate over the specifications and how many intervals exclude the
        null; ``outcome_label`` replaces the outcome's name, ``time_unit`` follows a landmark time."""
        adjusted = [r for r in self.rows if r["group"] != "reference"]   # the unadjusted reference apart
        ok = [r for r in adjusted if math.isfinite(r["value"])]
        what = self.describe(time_unit)
        outcome = outcome_label or self.outcome
        if not ok:
            return f"Specification grid ({outcome}, {what}): no adjusted specification could be fitted."
        lo, hi = min(r["value"] for r in ok), max(r["value"] for r in ok)
        null = 1.0 if self.measure in RATIO_MEASURES else 0.0
        excl = sum(1 for r in ok if r["ci_low"] > null or r["ci_high"] < null)
        failed = len(adjusted) - len(ok)
        of = f" ({outcome})" if self.cause else f" of {outcome}"
        ref = next((r["value"] for r in self.rows if r["group"] == "reference" and math.isfinite(r["value"])), None)
        return (f"Across {len(ok)} adjusted specifications the {what}{of} ranged from {lo:.2f} to "
                f"{hi:.2f}; {excl} of {len(ok)} intervals excluded the null ({null:g})"
                + (f"; {failed} specification(s) could not be fitted" if failed else "")
                + (f" (unadjusted: {ref:.2f})" if ref is not None else "") + ".")


#: the grid's measures in words
MEASURE_NAMES = {"hr": "hazard ratio", "rmst_diff": "RMST difference", "surv_diff": "survival difference",
                 "surv_ratio": "survival ratio", "risk_diff": "risk difference", "mean_diff": "mean difference",
                 "cif_diff": "cumulative incidence difference", "cs_hr": "cause-specific hazard ratio"}

#: grid measures among the contrasts a comparison computes with ``contrasts_only=True``
#: (:func:`gistcausal.stats.comparison.compare_survival`)
CONTRAST_MEASURES = ("hr", "rmst_diff", "surv_diff", "surv_ratio")

#: grid measures on the ratio scale (null 1, drawn on a log axis)
RATIO_MEASURES = ("hr", "surv_ratio", "cs_hr")


def default_specifications(cfg: "StudyConfig", frame: pd.DataFrame) -> list[Specification]:
    """The grid for a config: main analysis first, then one change at a time."""
    main_est = cfg.analysis.survival.estimands[0]
    specs = [Specification("main", f"Main analysis ({cfg.analysis.propensity.method}, {main_est})", main_est)]
    has_cont = any(c.type == "continuous" and c.in_propensity for c in cfg.covariates.values())
    for m in ("logistic", "firth", "boosting"):
        if m != cfg.analysis.propensity.method:
            specs.append(Specification("propensity model", f"PS: {m}", main_est, ps_method=m))
    if has_cont:
        specs.append(Specification("propensity model", "PS: logistic with natural splines (3 df)", main_est,
                                   ps_method="logistic", spline_all=True))
    alternatives = {"iptw": ("ATE", "ATT", "ATO"), "ebal": ("ATE", "ATT", "ATC"), "matching": ("ATT", "ATC")}
    for est in alternatives[cfg.analysis.weights.method]:
        if est != main_est:
            specs.append(Specification("estimand", f"Estimand: {est}", est))
    if cfg.analysis.weights.method == "iptw":
        specs.append(Specification("weights", "Truncated at 1st/99th percentiles", main_est, truncate=(1.0, 99.0)))
        specs.append(Specification("weights", "Truncated at 5th/95th percentiles", main_est, truncate=(5.0, 95.0)))
        specs.append(Specification("weights", "Trimmed to Crump's overlap region", main_est, trim="crump"))
    specs += _balancing_specifications(cfg, main_est)
    for name, c in cfg.covariates.items():
        if c.in_propensity and c.type != "continuous" and (frame[name].astype(str) == str(c.missing_label)).any():
            specs.append(Specification("missing data", f"Complete case for {c.label or name} "
                                       f"(drop '{c.missing_label}')", main_est, complete_case=(name,)))
    return specs


def _balancing_specifications(cfg: "StudyConfig", main_est: str) -> list[Specification]:
    """Rows for the weighting methods other than the configured one: IPTW, entropy balancing (same estimand if
    it supports it, else ATT) and 1:1 propensity-score matching (ATT, the config's caliper)."""
    main = cfg.analysis.weights.method
    out = []
    if main != "iptw":
        out.append(Specification("method", f"IPTW ({main_est})", main_est, weight_method="iptw"))
    if main != "ebal":
        est = main_est if main_est in ("ATE", "ATT", "ATC") else "ATT"
        out.append(Specification("method", f"Entropy balancing ({est})", est, weight_method="ebal"))
    if main != "matching":
        est = main_est if main_est in ("ATT", "ATC") else "ATT"
        out.append(Specification("method", f"PS matching 1:{cfg.analysis.matching.ratio} ({est})", est,
                                 weight_method="matching"))
    return out


def specification_grid(cfg: "StudyConfig", frame: pd.DataFrame, *, outcome: str, measure: str = "hr",
                       specifications: list[Specification] | None = None,
                       progress: Callable[[int, int], None] | None = None, info: Any = None,
                       engine: Any = None) -> SpecificationGrid:
    """Re-run the IPTW analysis of ``outcome`` under each specification and collect ``measure``.

    Parameters
    ----------
    cfg : StudyConfig
    frame : DataFrame
        The cohort frame (:attr:`gistcausal.design.cohort.Cohort.frame`).
    outcome : str
    measure : str, default="hr"
        ``hr``, ``rmst_diff`` or ``surv_diff`` (at the last landmark). A binary outcome (``info.type``) always
        gives ``risk_diff``, a continuous one ``mean_diff``; a competing-risks outcome gives ``cs_hr`` when asked
        for, else ``cif_diff`` (see :func:`competing_specification_grids`, which returns both from one pass).
    specifications : list of Specification, optional
        Defaults to :func:`default_specifications`.
    progress : callable(done, total), optional
        Called with 0 and after each finished specification.
    engine : gistcausal.engine.Engine or Executor, optional
        Where the specifications are fitted, one task each (default: in this process); the rows do not
        depend on it.
    """
    return begin_specification_grid(cfg, frame, outcome=outcome, measure=measure, specifications=specifications,
                                    progress=progress, info=info, engine=engine)()


def begin_specification_grid(cfg: "StudyConfig", frame: pd.DataFrame, *, outcome: str, measure: str = "hr",
                             specifications: list[Specification] | None = None,
                             progress: Callable[[int, int], None] | None = None, info: Any = None,
                             engine: Any = None) -> Callable[[], SpecificationGrid]:
    """:func:`specification_grid` started now; returns the function that waits for it and returns the grid.

    With an open local-pool :class:`~gistcausal.engine.Executor` as ``engine``, the survival grid's
    specifications are handed to the workers at once (:meth:`~gistcausal.engine.Executor.begin_map`), so work
    the caller starts meanwhile (the DoWhy refuters) shares the workers with them; otherwise the grid is computed
    when the result is asked for (also when a ``progress`` callback is given: it reports each finished
    specification as they come). Either way the grid is the same.
    """
    def later() -> SpecificationGrid:
        return _grid_now(cfg, frame, outcome=outcome, measure=measure, specifications=specifications,
                         progress=progress, info=info, engine=engine)

    if (not isinstance(engine, Executor) or not engine.local_pool or progress is not None
            or (info is not None and info.type != "time_to_event")):
        return later
    specs = specifications or default_specifications(cfg, frame)
    unadj, task = _grid_start(cfg, frame, outcome, measure, specs)
    wait = engine.begin_map(_fit_specification, specs, shared=task, first=longest_first(specs))
    return lambda: SpecificationGrid(outcome, measure, (unadj, *wait()), specs[0].label)


def longest_first(specs: list[Specification]) -> list[int]:
    """Indices of the specifications expected to take longest, longest first (their dispatch order; see
    :meth:`~gistcausal.engine.Executor.imap_unordered`): the boosting propensity model (15 cross-fitted,
    calibrated fits, 9 s at 229,000 patients against 0.1-0.9 s for each other row), then 1:1 matching, then the
    models refitted by Newton-Raphson (Firth, splines) and entropy balancing."""
    def cost(spec: Specification) -> int:
        return (3 * (spec.ps_method == "boosting") + 2 * (spec.weight_method == "matching")
                + (spec.ps_method == "firth" or spec.spline_all or spec.weight_method == "ebal"))

    ranked = sorted(range(len(specs)), key=lambda i: -cost(specs[i]))   # stable: ties keep the grid's order
    return [i for i in ranked if cost(specs[i]) > 0]


def _grid_start(cfg: "StudyConfig", frame: pd.DataFrame, outcome: str, measure: str,
                specs: list[Specification]) -> tuple[dict[str, Any], "_GridTask"]:
    """The survival grid's reference row (unadjusted) and the task its specifications share."""
    t = frame[f"{outcome}_time"].to_numpy(float)
    e = frame[f"{outcome}_event"].to_numpy(int)
    s = cfg.analysis.survival
    landmark = max(s.landmarks) if s.landmarks else None
    unadj = compare_survival(t, e, frame["treatment"].to_numpy(int), outcome=outcome, landmarks=(landmark,)
                             if landmark and measure == "surv_diff" else (), horizon=s.horizon,
                             arm_labels=(cfg.treatment.control, cfg.treatment.treated))
    row = _row("reference", "Unadjusted", "none", len(frame), _pick(unadj.estimates, measure))
    return row, _GridTask(cfg, frame, outcome, measure, shared_scores(cfg, frame, specs))


def _grid_now(cfg: "StudyConfig", frame: pd.DataFrame, *, outcome: str, measure: str,
              specifications: list[Specification] | None, progress: Callable[[int, int], None] | None,
              info: Any, engine: Any) -> SpecificationGrid:
    specs = specifications or default_specifications(cfg, frame)
    if info is not None and info.type in ("binary", "continuous"):
        return _point_grid(cfg, frame, info, specs, progress)
    if info is not None and info.type == "competing":
        grids = competing_specification_grids(cfg, frame, info=info, specifications=specs, progress=progress,
                                              engine=engine)
        grid = grids[1] if measure == "cs_hr" else grids[0]
        if grid is None:
            raise DataError(f"specification_grid ({info.name}): no configured landmark or horizon lies within "
                            f"both arms' follow-up (got landmarks {list(cfg.analysis.survival.landmarks)}, horizon "
                            f"{cfg.analysis.survival.horizon!r}). Add a landmark inside follow-up, or use "
                            f"measure='cs_hr'.")
        return grid
    unadj, task = _grid_start(cfg, frame, outcome, measure, specs)
    with open_executor(engine) as ex:
        rows = ex.map_replicates(_fit_specification, specs, shared=task, progress=progress,
                                 first=longest_first(specs))
    return SpecificationGrid(outcome, measure, (unadj, *rows), specs[0].label)


def _subset(cfg: "StudyConfig", frame: pd.DataFrame, spec: Specification) -> pd.DataFrame:
    if not spec.complete_case:
        return frame
    keep = np.ones(len(frame), bool)
    for c in spec.complete_case:
        keep &= (frame[c].astype(str) != str(cfg.covariates[c].missing_label)).to_numpy()
    return frame.loc[keep].reset_index(drop=True)


def _ps_key(spec: Specification) -> tuple[Any, ...]:
    """What a specification's propensity scores depend on: the model (method, splines) and the rows."""
    return (spec.ps_method, spec.spline_all, spec.complete_case)


def shared_scores(cfg: "StudyConfig", frame: pd.DataFrame, specs: list[Specification]
                  ) -> dict[tuple[Any, ...], np.ndarray | str]:
    """One propensity fit for each propensity model that two or more specifications share.

    The specifications that change only the estimand, the truncation, the trimming or the weighting method keep
    the configured propensity model on the same rows, so their scores are equal; each used to refit it (issue 17:
    8 of the 12 default fits of the grid). Keys are ``(ps_method, spline_all, complete_case)``; a value is the
    scores of :func:`~gistcausal.analysis.iptw.fit_propensity` on the specification's rows, or the reason the fit
    failed (each specification of that key then becomes a row with that reason, as when it fitted alone).
    Models used by one specification are left out: that specification fits its own.
    """
    keys = [_ps_key(spec) for spec in specs]
    out: dict[tuple[Any, ...], np.ndarray | str] = {}
    for spec, key in zip(specs, keys):
        if keys.count(key) < 2 or key in out:
            continue
        try:
            with warnings.catch_warnings(), one_thread():
                warnings.simplefilter("ignore", GistCausalWarning)  # the main analysis reports them
                ps = fit_propensity(cfg, _subset(cfg, frame, spec), method=spec.ps_method,
                                    spline_all=spec.spline_all)[1]
            ps.setflags(write=False)  # shared by several specifications: none may change it in place
            out[key] = ps
        except Exception as err:  # noqa: BLE001 - one failed model is a row per specification, as unshared
            out[key] = failure_reason(err)
    return out


class _SharedFitFailed(Exception):
    """A shared propensity fit failed; carries the reason its specifications report."""


def _scores(cfg: "StudyConfig", f: pd.DataFrame, spec: Specification,
            scores: dict[tuple[Any, ...], np.ndarray | str]) -> np.ndarray:
    """The specification's propensity scores on its rows ``f``: shared (:func:`shared_scores`) or fitted."""
    shared = scores.get(_ps_key(spec))
    if isinstance(shared, str):
        raise _SharedFitFailed(shared)
    if shared is not None:
        return shared
    # the scores alone: no c-statistic, score summary or coefficient SEs (the same fit and scores)
    return fit_propensity(cfg, f, method=spec.ps_method, spline_all=spec.spline_all, diagnostics=False)[1]


def _not_fitted(err: Exception) -> str:
    return f"not fitted: {err.args[0] if isinstance(err, _SharedFitFailed) else failure_reason(err)}"


def _point_grid(cfg: "StudyConfig", frame: pd.DataFrame, info: Any, specs: list[Specification],
                progress: Callable[[int, int], None] | None) -> SpecificationGrid:
    """The grid of a binary (risk difference) or continuous (mean difference) primary outcome: each
    specification's weights applied to the outcome's IPTW point comparison."""
    from gistcausal.analysis.secondary import secondary_estimates

    measure = "risk_diff" if info.type == "binary" else "mean_diff"
    rows = [_row("reference", "Unadjusted", "none", len(frame),
                 _pick(secondary_estimates(cfg, frame, info), measure))]
    scores = shared_scores(cfg, frame, specs)
    for i, spec in enumerate(specs):
        f = _subset(cfg, frame, spec)
        try:
            with warnings.catch_warnings(), one_thread():
                warnings.simplefilter("ignore", GistCausalWarning)
                wr = _specification_weights(cfg, f, spec, scores)
                est = _pick(secondary_estimates(cfg, f, info, weights=wr.weights, estimand=spec.estimand), measure)
            rows.append(_row(spec.group, spec.label, spec.estimand, int((wr.weights > 0).sum()), est))
        except Exception as err:  # noqa: BLE001 - one specification that fails is a row, not a lost grid
            rows.append(_row(spec.group, spec.label, spec.estimand, len(f), None, note=_not_fitted(err)))
        if progress is not None:
            progress(i + 1, len(specs))
    return SpecificationGrid(info.name, measure, tuple(rows), specs[0].label)
def competing_time(cfg: "StudyConfig", frame: pd.DataFrame, info: Any) -> float | None:
    """Time of the competing-risks grid's cumulative incidence difference: the last configured landmark within
    both arms' follow-up, else the horizon if within it, else None."""
    s = cfg.analysis.survival
    t = frame[info.time_col].to_numpy(float)
    a = frame["treatment"].to_numpy(int)
    last = min(float(t[a == k].max()) for k in (0, 1) if np.any(a == k))
    inside = [x for x in s.landmarks if x <= last]
    if inside:
        return float(max(inside))
    return float(s.horizon) if s.horizon is not None and s.horizon <= last else None


def competing_specification_grids(cfg: "StudyConfig", frame: pd.DataFrame, *, info: Any, time: float | None = None,
                                  specifications: list[Specification] | None = None,
                                  progress: Callable[[int, int], None] | None = None, engine: Any = None
                                  ) -> tuple[SpecificationGrid | None, SpecificationGrid]:
    """The grids of a competing-risks outcome: each specification's weights applied to the weighted
    Aalen-Johansen comparison (:func:`~gistcausal.stats.competing.compare_cif`) of the cause of interest.

    Parameters
    ----------
    cfg : StudyConfig
    frame : DataFrame
        The cohort frame (``<name>_time``, ``<name>_status`` with 1 for the first cause of ``causes``).
    info : OutcomeInfo
        The cohort's description of the ``type: competing`` outcome.
    time : float, optional
        Time of the cumulative incidence difference; default :func:`competing_time` (the last landmark within
        both arms' follow-up, the time the report's answer leads with).
    specifications, progress, engine
        As :func:`specification_grid`.

    Returns
    -------
    (SpecificationGrid or None, SpecificationGrid)
        The ``cif_diff`` grid at ``time`` (None when no landmark or horizon lies within follow-up) and the
        ``cs_hr`` grid, both of the first cause; one fit per specification serves both. A specification whose
        follow-up (after trimming or complete-case selection) ends before ``time`` keeps its hazard ratio and
        says so in the difference's row.

    Notes
    -----
    The cause of interest is the first cause listed in the outcome's ``causes`` (the one the report's answer
    leads with). Intervals are Wald with the infinitesimal-jackknife (CIF) and robust sandwich (Cox) variances,
    weights treated as known, as in the main analysis.
    """
    specs = specifications or default_specifications(cfg, frame)
    time = competing_time(cfg, frame, info) if time is None else float(time)
    task = _CompetingTask(cfg, frame, info, time, shared_scores(cfg, frame, specs))
    rows = [_competing_rows(task, Specification("reference", "Unadjusted", "none"), weights=None)]
    with open_executor(engine) as ex:
        rows += ex.map_replicates(_fit_competing_specification, specs, shared=task, progress=progress,
                                  first=longest_first(specs))
    cause = next(iter(cfg.outcomes[info.name].causes.values()))
    hr = SpecificationGrid(info.name, "cs_hr", tuple(r[1] for r in rows), specs[0].label, cause=str(cause))
    if time is None:
        return None, hr
    return SpecificationGrid(info.name, "cif_diff", tuple(r[0] for r in rows), specs[0].label, cause=str(cause),
                             time=time), hr


@dataclass(frozen=True)
class _CompetingTask:
    """What every competing-risks specification needs, sent once to each worker."""

    cfg: Any
    frame: pd.DataFrame
    info: Any
    time: float | None
    scores: dict[tuple[Any, ...], Any] = field(default_factory=dict)   # shared_scores


def _competing_rows(task: _CompetingTask, spec: Specification, weights: np.ndarray | None,
                    frame: pd.DataFrame | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``cif_diff`` and ``cs_hr`` rows of one specification (weights None: unadjusted)."""
    from gistcausal.stats.competing import compare_cif

    cfg, info = task.cfg, task.info
    f = task.frame if frame is None else frame
    t = f[info.time_col].to_numpy(float)
    a = f["treatment"].to_numpy(int)
    keep = np.ones(t.size, bool) if weights is None else weights > 0
    n = int(keep.sum())
    last = min(float(t[keep & (a == k)].max()) for k in (0, 1))
    causes = cfg.outcomes[info.name].causes
    at = task.time is not None and task.time <= last
    comp = compare_cif(t, f[info.event_col].to_numpy(float), a, weights=weights, outcome=info.name,
                       arm_labels=(cfg.treatment.control, cfg.treatment.treated),
                       causes=tuple(range(1, len(causes) + 1)), cause_labels=tuple(causes.values()),
                       estimand=spec.estimand, landmarks=(task.time,) if at else (), alpha=cfg.analysis.survival.alpha)
    first = comp.cause_labels[0]
    diff = next((e for e in comp.estimates if e.measure == "cif_diff" and e.extra.get("cause") == first), None)
    hr = next((e for e in comp.estimates if e.measure == "cs_hr" and e.extra.get("cause") == first), None)
    why = "" if at or task.time is None else f"estimate not available: follow-up ends at {last:g}, before t={task.time:g}"
    return (_row(spec.group, spec.label, spec.estimand, n, diff, note=why),
            _row(spec.group, spec.label, spec.estimand, n, hr))


def _specification_weights(cfg: "StudyConfig", f: pd.DataFrame, spec: Specification,
                           scores: dict[tuple[Any, ...], Any] | None = None) -> Any:
    """The specification's propensity model refitted on its subset ``f`` (or its scores shared with other
    specifications, :func:`shared_scores`) and its weights (a :class:`~gistcausal.stats.weights.WeightResult`),
    for the grids of binary, continuous and competing-risks outcomes, which weight their own point estimators."""
    ps = _scores(cfg, f, spec, scores or {})
    return configured_weights(cfg, ps, f["treatment"].to_numpy(int), estimand=spec.estimand, truncate=spec.truncate,
                              trim=spec.trim, frame=f, method=spec.weight_method)


def _fit_competing_specification(task: _CompetingTask, spec: Specification
                                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """One specification of the competing-risks grids (a failure is a row with its reason in both)."""
    cfg = task.cfg
    f = _subset(cfg, task.frame, spec)
    try:
        with warnings.catch_warnings(), one_thread():
            # as _fit_specification: each specification's own warnings are expected; the main analysis reports them
            warnings.simplefilter("ignore", GistCausalWarning)
            wr = _specification_weights(cfg, f, spec, task.scores)
            return _competing_rows(task, spec, np.asarray(wr.weights, float), frame=f)
    except Exception as err:  # noqa: BLE001 - one specification that fails is a row, not a lost grid
        r = _row(spec.group, spec.label, spec.estimand, len(f), None, note=_not_fitted(err))
        return r, dict(r)


@dataclass(frozen=True)
class _GridTask:
    """What every specification needs, sent once to each worker."""

    cfg: Any
    frame: pd.DataFrame
    outcome: str
    measure: str
    scores: dict[tuple[Any, ...], Any] = field(default_factory=dict)   # shared_scores


def _fit_specification(task: _GridTask, spec: Specification) -> dict[str, Any]:
    """One row of the grid: the analysis refitted under ``spec`` (a failure is a row with its reason)."""
    cfg, outcome, measure = task.cfg, task.outcome, task.measure
    f = _subset(cfg, task.frame, spec)
    try:
        with warnings.catch_warnings(), one_thread():
            # every specification's own warnings (small sample, extreme weights) are expected here; the
            # main analysis reports them once
            warnings.simplefilter("ignore", GistCausalWarning)
            ps = _scores(cfg, f, spec, task.scores)
            # the row reads one contrast: no curves, medians or log-rank, no weight diagnostics (the same
            # estimates, issue 17)
            fit = causal_fit(cfg, f, outcome=outcome, estimand=spec.estimand, ps=ps, truncate=spec.truncate,
                             trim=spec.trim, method=spec.weight_method, contrasts_only=measure in CONTRAST_MEASURES,
                             diagnostics=False)
        est = _pick(fit.estimates, measure)
        return _row(spec.group, spec.label, spec.estimand, int((fit.weights.weights > 0).sum()), est)
    except Exception as err:  # noqa: BLE001 - one specification that fails is a row, not a lost grid
        return _row(spec.group, spec.label, spec.estimand, len(f), None, note=_not_fitted(err))


def _pick(estimates: tuple[EffectEstimate, ...] | list[EffectEstimate], measure: str) -> EffectEstimate | None:
    hits = [x for x in estimates if x.measure == measure and " vs " in x.contrast]
    if measure == "surv_diff" and hits:
        return max(hits, key=lambda x: x.time)
    return hits[0] if hits else None


def _row(group: str, label: str, estimand: str, n: int, est: EffectEstimate | None, note: str = "") -> dict[str, Any]:
    if est is None:
        return {"group": group, "specification": label, "estimand": estimand, "n": n, "value": math.nan,
                "ci_low": math.nan, "ci_high": math.nan, "variance": "", "note": note or "estimate not available"}
    return {"group": group, "specification": label, "estimand": estimand, "n": n, "value": float(est.value),
            "ci_low": float(est.ci_low), "ci_high": float(est.ci_high), "variance": est.variance,
            "note": note or est.note}
