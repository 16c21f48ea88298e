"""The whole configured analysis: ``run(config) -> AnalysisResults``.

Steps, in the order a methods section would describe them, each a call that returns a value:

1. load the records (:mod:`gistcausal.design.data`), check them (:mod:`gistcausal.design.validation`) and apply
   the protocol (:mod:`gistcausal.design.cohort`): flow counts;
2. the study's own analysis (``analysis.study_replication``; :mod:`gistcausal.analysis.study`);
3. the causal analysis (``analysis.causal``; :mod:`gistcausal.analysis.causal`): propensity score, weights per
   estimand, balance, IPTW-weighted survival per causal outcome and estimand;
4. optional steps: sensitivity (:mod:`gistcausal.analysis.sensitivity`), plasmode
   (:mod:`gistcausal.analysis.plasmode`), clone-censor-weight strategies (:mod:`gistcausal.stats.ccw`). An
   optional step that fails is recorded in ``AnalysisResults.failed_steps`` with its reason and the rest of the
   analysis is kept (the CLI then exits with code 7, "completed with failed steps").

The CLI is a thin layer over :func:`run` and :func:`gistcausal.present.report.write_outputs`; notebook users
call them directly. Results hold aggregates only, never patient rows; figures are drawn by
:mod:`gistcausal.present.figures`.
"""
from __future__ import annotations

import logging
import time as _time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from gistcausal.analysis.causal import CausalAnalysis, causal_analysis, imputations
from gistcausal.analysis.multiarm import is_multiarm, multiarm_causal
from gistcausal.analysis.spec import engine as spec_engine
from gistcausal.analysis.sensitivity import (SensitivityResult, begin_grid, run_multiarm_sensitivity,
                                             run_sensitivity)
from gistcausal.analysis.study import StudyAnalysis, study_analysis
from gistcausal.design.checks import check_design
from gistcausal.design.cohort import Cohort, FlowCounts, FlowStep, build_cohort
from gistcausal.design.config import StudyConfig, load_config
from gistcausal.design.data import load_data
from gistcausal.engine import Executor, one_blas_thread, open_executor
from gistcausal.errors import DataError, GistCausalError, GistCausalWarning, failure_reason
from gistcausal.results import AnalysisResults, PlotData

_LOG = logging.getLogger("gistcausal")
ProgressFn = Callable[[str], None]


class _Timer:
    """Seconds per step, in the order the steps ended."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, its seconds added to step ``name`` (a step timed in two parts, such as the strategies started
        beside the analysis and collected at the end, counts both)."""
        t0 = _time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = self.timings.pop(name, 0.0) + _time.perf_counter() - t0   # listed where it ended


def _optional(name: str, fn: Callable[[], Any], failed: dict[str, str]) -> Any:
    """Run an optional step; any error it raises is recorded in ``failed`` (the step's section reports it)
    instead of stopping the analysis. Interrupts (Ctrl-C) still stop the run."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - an optional step never loses the report
        failed[name] = failure_reason(err)
        warnings.warn(f"{name}: this optional step failed and is reported in its section; the rest of the "
                      f"analysis was completed (got: {failed[name]})", GistCausalWarning, stacklevel=2)
        return None


def run(config: StudyConfig | str | Path, *, progress: ProgressFn | None = None,
        records: pd.DataFrame | None = None) -> AnalysisResults:
    """Run the configured analysis.

    Parameters
    ----------
    config : StudyConfig or path
        A validated config or the path of a YAML file.
    progress : callable, optional
        Called with a short description at the start of each step and with each replicate count (the CLI
        attaches a progress display). Every message also goes to the ``gistcausal`` logger at INFO level, so
        ``logging.basicConfig(level=logging.INFO)`` shows the same progress as the CLI, and the default
        (no logging configured, no callback) is silent.
    records : DataFrame, optional
        Records to use instead of the config's data source (notebooks, plasmode replicates).

    The steps run with one BLAS thread in this process (restored afterwards), as in the worker processes: the
    products are tall and narrow (n x a dozen columns), where a second OpenBLAS thread saves nothing and takes
    the core a worker beside it needs (7 s of CPU at 1e6 patients, issue 17).

    Returns
    -------
    AnalysisResults
    """
    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    def say(msg: str) -> None:
        _LOG.info("%s", msg)
        if progress is not None:
            progress(msg)

    # one executor for the run: a Dask cluster (analysis.engine) starts once, at the first replicate loop
    with warnings.catch_warnings(record=True) as wlist, open_executor(spec_engine(cfg)) as engine:
        warnings.simplefilter("always", GistCausalWarning)
        end_warm_up = engine.warm_up(_WORKER_MODULES)  # local workers start and import while the records are read
        try:
            with one_blas_thread():   # as the workers: tall, narrow products gain nothing from a second thread
                results = _run(cfg, say, records, engine)
        finally:
            end_warm_up(stop_now=True)   # no warm-up round outlives the run
    for w in wlist:  # re-emit what was not ours, so users still see dependency warnings
        if not issubclass(w.category, GistCausalWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    caught = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in wlist
                                 if issubclass(w.category, GistCausalWarning)))
    timings = dict(results.timings)
    timings["total"] = sum(timings.values())
    return _replace(results, warnings=caught, timings=timings)


#: What the tasks of a run import in a worker process (the emulation, the grid, the refuters, plasmode, the report's
#: figures): imported by :meth:`~gistcausal.engine.Executor.warm_up` at the start of a run.
_WORKER_MODULES = ("gistcausal.pipeline", "gistcausal.stats.ccw", "gistcausal.analysis.specification",
                   "gistcausal.stats.refutation", "gistcausal.analysis.plasmode", "gistcausal.present.report",
                   "gistcausal.present.figures", "sklearn.ensemble", "dowhy")


def _replace(results: AnalysisResults, **changes: Any) -> AnalysisResults:
    import dataclasses

    return dataclasses.replace(results, **changes)


def _run(cfg: StudyConfig, say: ProgressFn, records: pd.DataFrame | None, engine: Executor) -> AnalysisResults:
    timer = _Timer()
    say("Loading data")
    df = timer("load", lambda: load_data(cfg) if records is None else records)
    if cfg.sequential is not None:
        data_hash = timer("data_hash", lambda: _frame_hash(df))
        say("Sequential trials: expanding person-periods, pooled Cox with patient-clustered SEs")
        flow, seq = timer("sequential", lambda: _sequential(cfg, df))
        return AnalysisResults(config=cfg, cohort={"flow": flow.to_dict(), "n": flow.n_final}, flow=flow,
                               table1=None, study={}, durations={}, propensity=None, weights={}, balance={},
                               causal={}, estimates=tuple(seq["model"].estimates),
                               plots=PlotData(sequential_curves=seq["curves"]),
                               sensitivity={"sequential_trials": seq["trials"], "sequential_model": seq["model"]},
                               timings=timer.timings, data_hash=data_hash)
    strategies_job, strategies_failed = None, {}
    if cfg.protocol is not None and cfg.protocol.strategies is not None:
        # reads the records only: started as soon as they are read, beside the cohort-based steps (and the records'
        # validation), collected last (see _begin_strategies); a run that stops on the validation leaves it unread
        strategies_job = timer("strategies", lambda: _optional("strategies", lambda: _begin_strategies(
            cfg, df, engine), strategies_failed))
    data_hash = timer("data_hash", lambda: _frame_hash(df))   # after the emulation has started: 1e6 records, 0.9 s
    validation: dict[str, Any] = {}
    if cfg.protocol is not None:
        say("Validating records")
        validation = timer("validation", lambda: validate_config_records(cfg, df))
    say("Building the cohort")
    cohort = timer("cohort", lambda: build_cohort(cfg, df))
    # what the estimators would reject, rejected now as `validate` does (issue 15)
    timer("cohort", lambda: check_design(cfg, cohort))
    if is_multiarm(cfg):  # three or more arms (issue 18): the K-arm analysis replaces the two-arm steps
        say("More than two arms: multinomial propensity score, weights, balance, pairwise contrasts")
        ma = timer("multiarm", lambda: multiarm_causal(cfg, cohort, say, engine=engine))
        failed_ma: dict[str, str] = {}
        sens_ma = SensitivityResult()
        primary_ma = ma.comparisons.get((cfg.primary_outcome, cfg.analysis.survival.estimands[0]))
        if primary_ma is not None:
            say("Sensitivity: E-values and tipping point of every pair of arms")
            sens_ma = timer("sensitivity", lambda: _optional(
                "sensitivity", lambda: run_multiarm_sensitivity(cfg, cohort, primary_ma), failed_ma)
                or SensitivityResult())
        plasmode_ma = None
        if cfg.analysis.plasmode.enabled and cfg.covariates:
            say(f"Plasmode simulation ({cfg.analysis.plasmode.n_replicates} replicates, {len(cfg.treatment.arms)} "
                "arms)")
            plasmode_ma = timer("plasmode", lambda: _optional("plasmode", lambda: _plasmode(cfg, cohort, engine),
                                                              failed_ma))
        return AnalysisResults(config=cfg, cohort=cohort.to_dict(), flow=cohort.flow, table1=None, study={},
                               durations={}, propensity=None, weights={}, balance={}, causal={},
                               estimates=ma.estimates, validation=validation, multiarm=ma, plasmode=plasmode_ma,
                               sensitivity=dict(sens_ma.tables), bootstrap=dict(ma.bootstrap),
                               failed_steps=failed_ma, timings=timer.timings, data_hash=data_hash)
    causal_on = bool(cfg.analysis.causal and cfg.covariates)
    plasmode_job = None
    if causal_on and cfg.analysis.plasmode.enabled:
        # started as soon as the cohort is built and collected after the sensitivity step (where it stood): it reads
        # the cohort only, so on a local pool its replicates fill the workers while this process runs the study
        # replication, the causal analysis and the sensitivity set-up (started after the causal step, a core stood
        # idle between the emulation's end and the first replicate: 2.6 s at 1e6 patients, issue 17). Its warnings
        # and any failure of the set-up are raised again when it is collected, so the results are the same.
        say(f"Plasmode simulation ({cfg.analysis.plasmode.n_replicates} replicates), started beside the analysis")
        plasmode_job = timer("plasmode", lambda: _recorded(_begin_plasmode, cfg, cohort, engine))
    grid_started = None
    if causal_on:
        # likewise the sensitivity step's specification grid (it reads the cohort only): its boosting row, one long
        # task, started at the sensitivity step and ran alone at its end (2.5 s at 1e6 patients, issue 17)
        grid_started = timer("sensitivity", lambda: begin_grid(cfg, cohort, engine=engine))
        if grid_started is not None:
            say("Specification grid, started beside the analysis")
    study = StudyAnalysis()
    if cfg.analysis.study_replication:
        say("Study replication: Table 1, Kaplan-Meier, log-rank")
        study = timer("study_replication", lambda: study_analysis(cfg, cohort))
    failed: dict[str, str] = {}
    causal: CausalAnalysis | None = None
    sens = SensitivityResult()
    truth: dict[str, Any] = {}
    if causal_on:
        say("Causal analysis: propensity score, weights, balance, weighted survival")
        causal = timer("causal", lambda: causal_analysis(cfg, cohort, say, engine=engine))
        failed.update(causal.failed)
        if cfg.data.source == "synthetic" and records is None:
            truth = timer("truth", lambda: _synthetic_truth(cfg))
        primary = causal.comparisons.get((cfg.primary_outcome, cfg.analysis.survival.estimands[0]))
        other = cohort.outcome(cfg.primary_outcome).type != "time_to_event"  # binary, continuous, competing
        if primary is not None or other:
            say("Sensitivity: E-values, tipping point, specification grid, DoWhy refutation")
            if primary is None:  # a binary, continuous or competing primary outcome: its adjusted estimates
                est0 = cfg.analysis.survival.estimands[0]
                primary = tuple(e for e in causal.estimates if e.outcome == cfg.primary_outcome
                                and e.estimand == est0 and e.method != "unadjusted")
            sens = timer("sensitivity", lambda: run_sensitivity(cfg, cohort, primary, say, engine=engine,
                                                                grid_started=grid_started))
            failed.update({f"sensitivity: {k}": v for k, v in sens.failed.items()})
            grid_started = None
    if grid_started is not None:   # started, but the sensitivity step did not run: its tasks taken off the pool
        _discard(grid_started)
    plasmode = None
    if plasmode_job is not None:
        plasmode = timer("plasmode", lambda: _optional("plasmode", lambda: _replay(plasmode_job)(), failed))
    strategies = None
    failed.update(strategies_failed)
    if strategies_job is not None:
        say("Clone-censor-weight emulation of the sustained strategies")
        strategies = timer("strategies", lambda: _optional("strategies", strategies_job, failed))
    sensitivity = dict(sens.tables)
    estimates = list(study.estimates) + (list(causal.estimates) if causal else []) + list(sens.estimates)
    if strategies is not None:
        strategies, strategies_flow = strategies
        sensitivity["strategies_flow"] = strategies_flow
        estimates += list(strategies.estimates)
    plots = PlotData(overlap=causal.overlap if causal else None, ph_residuals=causal.ph_residuals if causal else None,
                     ph_title=causal.ph_title if causal else "", benchmarks=sens.benchmarks,
                     causal_graph=sens.causal_graph)
    return AnalysisResults(
        config=cfg, cohort=cohort.to_dict(), flow=cohort.flow, table1=study.table1, study=study.comparisons,
        durations=study.durations, propensity=causal.propensity if causal else None,
        weights=causal.weights if causal else {}, balance=causal.balance if causal else {},
        causal=causal.comparisons if causal else {}, estimates=tuple(estimates), plots=plots,
        sensitivity=sensitivity, table1_weighted=causal.table1_weighted if causal else {}, strategies=strategies,
        validation=validation, bootstrap=causal.bootstrap if causal else {}, plasmode=plasmode, truth=truth,
        failed_steps=failed, timings=timer.timings, data_hash=data_hash,
        competing={**{(o, "none"): c for o, c in study.competing.items()}, **(causal.competing if causal else {})})


def _frame_hash(df: pd.DataFrame) -> str:
    """SHA-256 of the records (for the manifest); nested cells (Parquet list/struct columns) are a DataError
    naming the column, not a TypeError from pandas' hasher."""
    import hashlib

    h = hashlib.sha256()
    try:
        rows = pd.util.hash_pandas_object(df, index=False)
    except TypeError:
        for c in df.columns:
            try:
                pd.util.hash_pandas_object(df[c], index=False)
            except TypeError:
                raise DataError(f"records: column '{c}' holds nested values (got a list/struct column). Flatten it "
                                "to one value per cell in the extract, or drop it.") from None
        raise
    h.update(rows.to_numpy().tobytes())
    h.update("|".join(map(str, df.columns)).encode())
    return h.hexdigest()


def validate_config_records(cfg: StudyConfig, df: pd.DataFrame) -> dict[str, Any]:
    """Record-level checks (:mod:`gistcausal.design.validation`): the config's ``data.validation`` rules, or the
    built-in rules of the synthetic GIST registry. Errors raise; warnings are emitted; counts are returned."""
    from gistcausal.design.simulate import GIST_VALIDATION
    from gistcausal.design.validation import validate_with_config

    rules = cfg.data.validation
    if rules is None:
        if cfg.data.source != "synthetic":
            return {}
        rules = GIST_VALIDATION
    report = validate_with_config(df, rules, id_col=cfg.data.id_col, where=cfg.source_path or cfg.name)
    return report.to_dict()


def _synthetic_truth(cfg: StudyConfig) -> dict[str, Any]:
    """The synthetic registry's true marginal effects (:func:`gistcausal.design.simulate.true_marginal_effects`) for
    each configured estimand it defines, so the report can set every estimate beside the truth."""
    from gistcausal.design.simulate import true_marginal_effects

    s = cfg.data.synthetic
    sv = cfg.analysis.survival
    out = {}
    for est in sv.estimands:
        if est in ("ATE", "ATT", "ATC"):
            out[est] = true_marginal_effects(estimand=est, landmarks=tuple(sv.landmarks), horizon=sv.horizon or 24.0,
                                             confounding=s.confounding, hr_pfs=s.hr_pfs, hr_os=s.hr_os, seed=s.seed)
    return out


def _sequential(cfg: StudyConfig, df: pd.DataFrame) -> tuple[FlowCounts, dict[str, Any]]:
    """Sequential trials (:mod:`gistcausal.stats.sequential`): person-trial expansion, pooled Cox model with
    patient-clustered robust SE, pooled Kaplan-Meier curves per arm; the flow counts person-periods, eligible
    person-trials and arms."""
    from gistcausal.stats.sequential import pooled_km, sequential_cox, trial_counts

    sq = cfg.sequential
    flow, ex = sequential_trials(cfg, df)
    res = sequential_cox(ex, id_col=sq.id_col, covariates=sq.covariates, outcome=sq.outcome,
                         contrast="initiate vs no_initiation")
    curves = pooled_km(ex).assign(strategy=lambda d: d["arm"].map({1: sq.labels["initiate"],
                                                                    0: sq.labels["no_initiation"]}))
    return flow, {"model": res, "trials": trial_counts(ex, id_col=sq.id_col), "curves": curves}


def sequential_trials(cfg: StudyConfig, df: pd.DataFrame) -> tuple[FlowCounts, pd.DataFrame]:
    """The person-trial table of a ``sequential:`` config (:func:`~gistcausal.stats.sequential.
    expand_sequential_trials`: the data checks and the expansion, no model) and its flow counts; used by ``run``
    and by ``validate``, so both reject the same data with the same message."""
    from gistcausal.stats.sequential import expand_sequential_trials

    sq = cfg.sequential
    if sq is None:
        raise ValueError("sequential_trials: the config has no `sequential:` section")
    ex = expand_sequential_trials(df, id_col=sq.id_col, period_col=sq.period_col, eligible_col=sq.eligible_col,
                                  treatment_col=sq.treatment_col, time_col=sq.time_col, event_col=sq.event_col,
                                  covariates=sq.covariates, max_trials=sq.max_trials)
    n_rows, n_trials = len(df), len(ex)
    steps = (FlowStep("Eligible person-periods (one emulated trial each)", "include", f"{sq.eligible_col} is true",
                      n_rows, n_rows - n_trials, n_trials),)
    flow = FlowCounts(steps, (("initiate", int((ex["arm"] == 1).sum())),
                              ("no_initiation", int((ex["arm"] == 0).sum()))), "Person-periods in the data")
    return flow, ex


def _plasmode(cfg: StudyConfig, cohort: Cohort, engine: Executor) -> Any:
    """Does the configured plan recover a known effect on data like this cohort's? (:mod:`gistcausal.analysis.plasmode`)"""
    return _begin_plasmode(cfg, cohort, engine)()


def _begin_plasmode(cfg: StudyConfig, cohort: Cohort, engine: Executor) -> Callable[[], Any]:
    """:func:`_plasmode` started now (:func:`~gistcausal.analysis.plasmode.begin_plasmode`); returns its collect."""
    from gistcausal.analysis.plasmode import PlasmodeSettings, begin_plasmode

    pc = cfg.analysis.plasmode
    est = next((e for e in cfg.analysis.survival.estimands if e in ("ATE", "ATT", "ATC")), "ATE")  # ATO: no truth
    imputed = imputations(cfg, cohort.frame)
    frame = imputed[0] if imputed else cohort.frame  # covariates must be complete to simulate from them
    settings = PlasmodeSettings(true_hr=pc.true_hr, true_effect_measure="marginal_hr" if pc.marginal else "hr",
                                true_or=pc.true_or, true_mean_diff=pc.true_mean_diff, cause=pc.cause,
                                n_replicates=pc.n_replicates, treatment=pc.treatment, methods=tuple(pc.methods))
    return begin_plasmode(cfg, frame, outcome=cfg.primary_outcome, estimand=est, settings=settings,
                          random_state=cfg.seed, engine=engine)


def _strategies_table(cfg: StudyConfig, records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The strategies' per-patient table (:func:`~gistcausal.analysis.strategies.ccw_table`) of the records
    eligible at their own time zero, and that eligibility flow."""
    from gistcausal.design.cohort import _derive, apply_eligibility
    from gistcausal.analysis.strategies import ccw_table

    p = cfg.protocol
    st = p.strategies
    where = cfg.source_path or cfg.name
    df = records.copy(deep=False)  # derived columns go to this frame only
    for name, d in p.derived.items():
        df[name] = _derive(name, d, df, where)
    df, steps = apply_eligibility(st.eligibility, df)
    return ccw_table(df, st, time_unit=p.time_unit), pd.DataFrame([x.to_dict() for x in steps])


def _strategies_fit(cfg: StudyConfig, tab: pd.DataFrame, engine: Any) -> Any:
    from gistcausal.analysis.strategies import clone_censor_from_table

    p = cfg.protocol
    return clone_censor_from_table(tab, p.strategies, time_unit=p.time_unit, random_state=cfg.seed, engine=engine)


def _discard(started: Callable[[], Any]) -> None:
    """Wait for a job started early (:func:`~gistcausal.analysis.sensitivity.begin_grid`) that no step collects, and
    drop its result or failure: a local pool's loop must be consumed (joblib)."""
    try:
        started()()
    except Exception:  # noqa: BLE001 - nothing reads it
        pass


def _recorded(fn: Callable[..., Any], *args: Any) -> tuple[Any, list[tuple[Any, ...]], BaseException | None]:
    """``fn(*args)`` with the warnings it raised and the exception it ended with returned, not raised (so a
    worker sends them back; :func:`_replay` raises them in the caller)."""
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        try:
            out, err = fn(*args), None
        except Exception as e:  # noqa: BLE001 - raised again by _replay, in the main process
            out, err = None, e
    return out, [(w.message, w.category, w.filename, w.lineno) for w in wlist], err


def _replay(recorded: tuple[Any, list[tuple[Any, ...]], BaseException | None]) -> Any:
    out, caught, err = recorded
    for message, category, filename, lineno in caught:
        warnings.warn_explicit(message, category, filename, lineno)
    if err is not None:
        raise err
    return out


def _begin_strategies(cfg: StudyConfig, records: pd.DataFrame, engine: Executor
                      ) -> Callable[[], tuple[Any, pd.DataFrame]]:
    """Start the clone-censor-weight emulation; returns the function that collects ``(result, flow)``.

    The emulation reads the records, not the cohort, and nothing else reads it, so on a local engine with two or
    more workers it runs in one worker process (its bootstrap one replicate after the other there) while this
    process builds the rest of the analysis, keeping both cores busy through the steps that run in this process
    alone (the study's tables, the causal step, the report). Its numbers are those of any engine (the bootstrap's
    seeds do not depend on where a replicate runs), its warnings are raised again and its failure, if any, is
    raised when the result is collected, at the place of the step in the run, so ``results.json`` is the same.
    On one worker or Dask the emulation runs when it is collected, as the last step, on that engine.
    """
    from gistcausal.engine import Engine, run_beside

    held = _recorded(_strategies_table, cfg, records)   # its warnings too are raised when collected
    if held[2] is not None:
        _replay(held)
    tab, flow = held[0]
    if engine.local_pool:
        beside = run_beside(engine.engine, _recorded, _strategies_fit, cfg, tab, Engine(n_workers=1))
        fit = lambda: _replay(beside())  # noqa: E731
    else:
        fit = lambda: _strategies_fit(cfg, tab, engine)  # noqa: E731

    def collect() -> tuple[Any, pd.DataFrame]:
        _replay((None, held[1], None))
        return fit(), flow
    return collect


__all__ = ["run", "validate_config_records"]
