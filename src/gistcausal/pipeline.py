"""The whole configured analysis: ``run(config) -> AnalysisResults``.

Steps, in the order a methods section would describe them:

1. load the records (:mod:`gistcausal.design.data`) and apply the protocol (:mod:`gistcausal.design.cohort`): flow counts;
2. the study's own analysis (``analysis.study_replication``): Table 1 with the study's tests, unweighted
   Kaplan-Meier with medians and numbers at risk, log-rank, and the Mann-Whitney comparison of durations;
3. the causal analysis (``analysis.causal``): propensity score model, weights per estimand, balance before and
   after weighting, and IPTW-weighted survival (adjusted curves, medians, survival and RMST differences,
   weighted log-rank, marginal hazard ratio) per causal outcome and estimand.

The CLI is a thin layer over :func:`run` and :func:`gistcausal.present.report.write_outputs`; notebook users call them
directly. Results hold aggregates and figures only, never patient rows.
"""
from __future__ import annotations

import math
import time as _time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal._version import __version__
from gistcausal.design.cohort import Cohort, build_cohort
from gistcausal.design.config import StudyConfig, load_config
from gistcausal.design.data import load_data
from gistcausal.design.disclosure import suppress, suppress_counts, threshold_for
from gistcausal.effects import EffectEstimate, estimates_frame
from gistcausal.analysis.iptw import CausalFit, causal_fit, configured_weights, covariate_design, fit_propensity
from gistcausal.analysis.spec import arm_labels, covariate_labels, table1_spec
from gistcausal.present.plots import new_figure
from gistcausal.errors import DataError, GistCausalWarning, MissingDataWarning

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class AnalysisResults:
    """Everything an analysis produced, as aggregates, tables and figures.

    Attributes
    ----------
    config : StudyConfig
    cohort : dict
        Aggregate cohort description (flow, arm sizes, outcome event counts).
    flow : FlowCounts
    table1 : object or None
        Paper-style Table 1 (:class:`gistcausal.present.tables.TableOne`).
    study : dict
        Outcome name -> unweighted :class:`~gistcausal.stats.survival.SurvivalComparison`.
    durations : dict
        Duration outcome name -> descriptive comparison (medians, ranges, Mann-Whitney p).
    propensity : object or None
        :class:`~gistcausal.stats.propensity.PropensityResult`.
    weights : dict
        Estimand -> :class:`~gistcausal.stats.weights.WeightResult` (aggregates via ``to_dict``).
    balance : dict
        Estimand -> :class:`~gistcausal.stats.balance.BalanceTable`.
    causal : dict
        ``(outcome, estimand)`` -> weighted :class:`~gistcausal.stats.survival.SurvivalComparison`.
    estimates : tuple of EffectEstimate
        Every number with its interval, the rows of ``results.json`` ``estimates``.
    figures_ : dict
        Figure name -> matplotlib Figure (built during the run from patient-level inputs, which are then
        dropped).
    warnings : tuple of str
    timings : dict
    """

    config: StudyConfig
    cohort: dict[str, Any]
    flow: Any
    table1: Any
    study: dict[str, Any]
    durations: dict[str, dict[str, Any]]
    propensity: Any
    weights: dict[str, Any]
    balance: dict[str, Any]
    causal: dict[tuple[str, str], Any]
    estimates: tuple[EffectEstimate, ...]
    figures_: dict[str, Any] = field(repr=False)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    table1_weighted: dict[str, Any] = field(default_factory=dict)
    strategies: Any = None
    validation: dict[str, Any] = field(default_factory=dict)
    bootstrap: dict[tuple[str, str], Any] = field(default_factory=dict)
    plasmode: Any = None
    truth: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    data_hash: str | None = None

    # ------------------------------------------------------------------ accessors
    def estimates_frame(self) -> pd.DataFrame:
        """All estimates, one row each (a copy)."""
        return estimates_frame(self.estimates)

    def to_frame(self) -> pd.DataFrame:
        return self.estimates_frame()

    def flow_frame(self) -> pd.DataFrame:
        """The flow table with small cells suppressed (:mod:`gistcausal.design.disclosure`)."""
        return suppress_counts(self.flow.to_frame(), ["n_before", "n_removed", "n_after"], threshold_for(self.config))

    def at_risk_frame(self, at_risk: pd.DataFrame) -> pd.DataFrame:
        """Numbers at risk (raw and weighted) with small cells suppressed."""
        return suppress_counts(at_risk, ["n_at_risk"], threshold_for(self.config),
                               linked={"weighted_n_at_risk": "n_at_risk"})

    def figures(self) -> dict[str, Any]:
        """Figure name -> matplotlib Figure."""
        return dict(self.figures_)

    def tables(self) -> dict[str, Any]:
        """Table name -> table object (with ``write``) or DataFrame, as exported to ``tables/``."""
        from gistcausal.present.sections import protocol_table

        k = threshold_for(self.config)
        out: dict[str, Any] = {"protocol": protocol_table(self), "flow": self.flow_frame(),
                               "estimates": self.estimates_frame()}
        if self.table1 is not None:
            out["table1"] = self.table1
        for name, comp in self.study.items():
            out[f"at_risk_{name}"] = self.at_risk_frame(comp.at_risk)
        for name, d in self.durations.items():
            out[f"duration_{name}"] = suppress_counts(d["table"], ["n"], k)
        for est, bt in self.balance.items():
            out[f"balance_{est}"] = bt.to_frame()
        for est, wr in self.weights.items():
            out[f"weights_{est}"] = wr.to_frame()
        if self.propensity is not None:
            out["propensity_model"] = self.propensity.to_frame()
        for (o, est), comp in self.causal.items():
            out[f"at_risk_{o}_{est}"] = self.at_risk_frame(comp.at_risk)
        for est, t1 in self.table1_weighted.items():
            out[f"table1_weighted_{est}"] = t1
        if self.strategies is not None:
            out["strategies_estimates"] = estimates_frame(self.strategies.estimates)
            out["strategies_diagnostics"] = self.strategies.diagnostics
        out["proportional_hazards"] = ph_table(self)
        if "sequential_trials" in self.sensitivity:
            out["sequential_trials"] = self.sensitivity["sequential_trials"]
        if self.truth:
            out["truth"] = truth_table(self)
        if self.plasmode is not None:
            out["plasmode_metrics"] = self.plasmode.to_frame()
            out["plasmode_failures"] = self.plasmode.failure_counts()
        for name in ("evalues", "tipping_grid", "benchmarks", "negative_control", "strategies_flow"):
            if name in self.sensitivity:
                out[name] = self.sensitivity[name]
        if "specification_grid" in self.sensitivity:
            out["specification_grid"] = self.sensitivity["specification_grid"].to_frame()
        if "refutation" in self.sensitivity:
            out["refutation"] = self.sensitivity["refutation"].to_frame()
        return out

    def summary(self) -> str:
        """Plain-text overview: flow, then the main estimates."""
        lines = [self.config.title or self.config.name, self.flow.summary(), ""]
        for e in self.estimates:
            if e.measure in ("hr", "median", "rmst_diff", "logrank_p"):
                lines.append(e.summary())
        return "\n".join(lines)

    def headline(self) -> str:
        """The question and the answer in two sentences (first paragraph of the report)."""
        cfg = self.config
        tr, ct = cfg.treatment.label(cfg.treatment.treated), cfg.treatment.label(cfg.treatment.control)
        o = cfg.primary_outcome
        label = cfg.outcomes[o].label
        hr = [e for e in self.estimates if e.outcome == o and e.measure == "hr" and e.method in ("iptw",
                                                                                                  "sequential_trials")]
        un = [e for e in self.estimates if e.outcome == o and e.measure == "hr" and e.method == "unadjusted"]
        unit = "person-trials" if cfg.sequential is not None else "eligible patients"
        parts = [f"Question: {label}, {tr} versus {ct}, in {self.flow.n_final} {unit} "
                 f"({', '.join(f'{a}: {n}' for a, n in self.flow.arms)})."]
        if hr:
            e = hr[0]
            kind = "IPTW marginal" if e.method == "iptw" else "pooled sequential-trials"
            est_txt = f" ({e.estimand})" if e.estimand != "none" else ""
            parts.append(f"Answer: the {kind} hazard ratio{est_txt} is {_fmt(e.value)} "
                         f"(95% CI {_fmt(e.ci_low)} to {_fmt(e.ci_high)}; {e.variance} variance)"
                         + (f", against an unadjusted {_fmt(un[0].value)} (95% CI {_fmt(un[0].ci_low)} to "
                            f"{_fmt(un[0].ci_high)})." if un else "."))
        elif un:
            parts.append(f"Unadjusted hazard ratio {_fmt(un[0].value)} (95% CI {_fmt(un[0].ci_low)} to "
                         f"{_fmt(un[0].ci_high)}).")
        rd = [e for e in self.estimates if e.outcome == o and e.measure == "rmst_diff" and e.method == "iptw"]
        if rd:
            e = rd[0]
            parts.append(f"The restricted mean {o.upper() if len(o) <= 4 else o} time up to {e.time:g} "
                         f"{cfg.time_unit} differs by {_fmt(e.value)} {cfg.time_unit} (95% CI {_fmt(e.ci_low)} to "
                         f"{_fmt(e.ci_high)}).")
        if "evalue_hr" in self.sensitivity:
            parts.append(self.sensitivity["evalue_hr"].summary())
        if self.truth and hr:
            t = self.truth.get(hr[0].estimand)
            if t is not None:
                parts.append(f"(Synthetic data: the true marginal hazard ratio is {_fmt(t.value(o, 'hr'))}.)")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The content of ``results.json`` (schema in ``docs/results_json.md``)."""
        from gistcausal.present.report import SCHEMA_VERSION, _round

        cfg = self.config
        return _round({
            "schema_version": SCHEMA_VERSION,
            "gistcausal_version": __version__,
            "study": {"name": cfg.name, "title": cfg.title, "seed": cfg.seed,
                      "treated": cfg.treatment.treated, "control": cfg.treatment.control,
                      "time_unit": cfg.time_unit, "primary_outcome": cfg.primary_outcome},
            "cohort": _suppress_tree(self.cohort, threshold_for(cfg)),
            "disclosure": {"small_cell_threshold": threshold_for(cfg)},
            "estimates": [e.to_dict() for e in self.estimates],
            "durations": {k: {kk: vv for kk, vv in v.items() if kk not in ("table", "estimate")}
                          for k, v in self.durations.items()},
            "propensity": None if self.propensity is None else self.propensity.to_dict(),
            "weights": {k: v.to_dict() for k, v in self.weights.items()},
            "balance": {k: v.to_dict() for k, v in self.balance.items()},
            "sensitivity": {k: _jsonable(v) for k, v in self.sensitivity.items()},
            "validation": self.validation,
            "truth": {k: v.to_dict() for k, v in self.truth.items()},
            "plasmode": None if self.plasmode is None else {
                k: v for k, v in self.plasmode.to_dict().items() if k not in ("estimates", "replicates")},
            "bootstrap": {f"{o}_{e}": {k: v for k, v in b.to_dict().items() if k != "estimates"}
                          for (o, e), b in self.bootstrap.items()},
            "strategies": None if self.strategies is None else {
                "estimates": [e.to_dict() for e in self.strategies.estimates],
                "diagnostics": self.strategies.diagnostics.to_dict(orient="records"),
                "grace": self.strategies.grace, "n": self.strategies.n, "n_bootstrap": self.strategies.n_bootstrap},
            "warnings": list(self.warnings),
        })

    def manifest(self, *, command: str | None = None) -> dict[str, Any]:
        from gistcausal.present.report import run_manifest

        text = Path(self.config.source_path).read_text(encoding="utf-8") if self.config.source_path else None
        return run_manifest(config_path=self.config.source_path, config_text=text, data_hash=self.data_hash,
                            seed=self.config.seed, command=command, timings=self.timings)

    def sections(self) -> list[Any]:
        """Report sections in reading order (see :mod:`gistcausal.present.report`)."""
        from gistcausal.present.sections import build_sections

        return build_sections(self)


_COUNT_KEYS = {"n", "n_start", "n_final", "n_before", "n_removed", "n_after", "n_events"}


def _suppress_tree(d: Any, k: int, key: str | None = None, in_arms: bool = False) -> Any:
    """Suppress small counts in the cohort summary (flow counts, arm sizes, event counts)."""
    if k <= 1:
        return d
    if isinstance(d, dict):
        return {kk: _suppress_tree(v, k, kk, in_arms or kk == "arms") for kk, v in d.items()}
    if isinstance(d, list):
        return [_suppress_tree(v, k, key, in_arms) for v in d]
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and (key in _COUNT_KEYS or in_arms):
        return suppress(int(d), k)
    return d


def _jsonable(v: Any) -> Any:
    """Result objects by their ``to_dict``; tables as lists of records."""
    if isinstance(v, pd.DataFrame):
        return v.to_dict(orient="records")
    return v.to_dict() if hasattr(v, "to_dict") else v


def _fmt(v: float, digits: int = 2) -> str:
    return "NE" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


# ---------------------------------------------------------------------------------------------- run
def run(config: StudyConfig | str | Path, *, progress: ProgressFn | None = None,
        records: pd.DataFrame | None = None) -> AnalysisResults:
    """Run the configured analysis.

    Parameters
    ----------
    config : StudyConfig or path
        A validated config or the path of a YAML file.
    progress : callable, optional
        Called with a short description at the start of each step (the CLI attaches a progress display).
    records : DataFrame, optional
        Records to use instead of the config's data source (notebooks, plasmode replicates).

    Returns
    -------
    AnalysisResults
    """
    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always", GistCausalWarning)
        t0 = _time.perf_counter()
        say("Loading data")
        df = load_data(cfg) if records is None else records
        data_hash = _frame_hash(df)
        parts = _Parts()
        if cfg.sequential is not None:
            say("Sequential trials: expanding person-periods, pooled Cox with patient-clustered SEs")
            flow = _sequential(cfg, df, parts)
            timings["sequential"] = _time.perf_counter() - t0
            return AnalysisResults(
                config=cfg, cohort={"flow": flow.to_dict(), "n": flow.n_final}, flow=flow, table1=None, study={},
                durations={}, propensity=None, weights={}, balance={}, causal={}, estimates=tuple(parts.estimates),
                figures_=parts.figures, sensitivity=parts.sensitivity, timings=timings, data_hash=data_hash,
                warnings=tuple(f"{w.category.__name__}: {w.message}" for w in wlist
                               if issubclass(w.category, GistCausalWarning)))
        if cfg.protocol is not None:
            say("Validating records")
            parts.validation = validate_config_records(cfg, df)
        say("Building the cohort")
        cohort = build_cohort(cfg, df)
        timings["cohort"] = _time.perf_counter() - t0
        if cfg.analysis.study_replication:
            t1 = _time.perf_counter()
            say("Study replication: Table 1, Kaplan-Meier, log-rank")
            _study(cfg, cohort, parts)
            timings["study_replication"] = _time.perf_counter() - t1
        if cfg.analysis.causal and cfg.covariates:
            t1 = _time.perf_counter()
            say("Causal analysis: propensity score, weights, balance, weighted survival")
            _causal(cfg, cohort, parts, say)
            timings["causal"] = _time.perf_counter() - t1
            if cfg.data.source == "synthetic" and records is None:
                parts.truth = _synthetic_truth(cfg)
            if parts.causal:
                t1 = _time.perf_counter()
                say("Sensitivity: E-values, tipping point, specification grid, DoWhy refutation")
                from gistcausal.analysis.sensitivity import run_sensitivity

                run_sensitivity(cfg, cohort, parts, say)
                timings["sensitivity"] = _time.perf_counter() - t1
        if cfg.analysis.plasmode.enabled and cfg.analysis.causal and cfg.covariates:
            t1 = _time.perf_counter()
            say(f"Plasmode simulation ({cfg.analysis.plasmode.n_replicates} replicates)")
            _plasmode(cfg, cohort, parts)
            timings["plasmode"] = _time.perf_counter() - t1
        if cfg.protocol is not None and cfg.protocol.strategies is not None:
            t1 = _time.perf_counter()
            say("Clone-censor-weight emulation of the sustained strategies")
            _strategies(cfg, df, parts)
            timings["strategies"] = _time.perf_counter() - t1
        for w in wlist:
            if issubclass(w.category, GistCausalWarning):
                caught.append(f"{w.category.__name__}: {w.message}")
    for w in wlist:  # re-emit what was not ours, so users still see dependency warnings
        if not issubclass(w.category, GistCausalWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    timings["total"] = sum(v for k, v in timings.items())
    return AnalysisResults(
        config=cfg, cohort=cohort.to_dict(), flow=cohort.flow, table1=parts.table1, study=parts.study,
        durations=parts.durations, propensity=parts.propensity, weights=parts.weights, balance=parts.balance,
        causal=parts.causal, estimates=tuple(parts.estimates), figures_=parts.figures, sensitivity=parts.sensitivity,
        table1_weighted=parts.table1_weighted, strategies=parts.strategies, validation=parts.validation,
        bootstrap=parts.bootstrap, plasmode=parts.plasmode, truth=parts.truth,
        warnings=tuple(dict.fromkeys(caught)), timings=timings, data_hash=data_hash)


@dataclass
class _Parts:
    table1: Any = None
    study: dict = field(default_factory=dict)
    durations: dict = field(default_factory=dict)
    propensity: Any = None
    weights: dict = field(default_factory=dict)
    balance: dict = field(default_factory=dict)
    causal: dict = field(default_factory=dict)
    estimates: list = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    sensitivity: dict = field(default_factory=dict)
    table1_weighted: dict = field(default_factory=dict)
    strategies: Any = None
    validation: dict = field(default_factory=dict)
    bootstrap: dict = field(default_factory=dict)
    plasmode: Any = None
    truth: dict = field(default_factory=dict)


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


def _study(cfg: StudyConfig, cohort: Cohort, parts: _Parts) -> None:
    from gistcausal.present.plots.flow import plot_flow
    from gistcausal.present.plots.km import plot_km
    from gistcausal.stats.survival import compare_survival
    from gistcausal.present.tables import table_one

    f = cohort.frame
    fig, ax = new_figure(8.5, 1.0 + 0.85 * (len(cohort.flow.steps) + 2))
    plot_flow(cohort.flow, ax=ax, arm_labels={a: cfg.treatment.label(a) for a in cfg.treatment.arms},
              suppress_below=threshold_for(cfg) or None)
    parts.figures["flow"] = fig
    spec, spread = table1_spec(cfg)
    if spec:
        parts.table1 = table_one(f, treatment_col="treatment", covariates=spec, labels=covariate_labels(cfg),
                                 arm_labels=arm_labels(cfg), tests=True, median_spread=spread, missing="row",
                                 suppress_below=threshold_for(cfg) or None)
    landmarks = tuple(cfg.analysis.survival.landmarks)
    for o in cohort.outcomes:
        if o.type == "duration":
            parts.durations[o.name] = _duration(cfg, cohort, o.name)
            parts.estimates.append(parts.durations[o.name]["estimate"])
            continue
        t, e = f[o.time_col].to_numpy(float), f[o.event_col].to_numpy(int)
        lm = tuple(x for x in landmarks if x <= np.max(t))
        comp = compare_survival(t, e, f["treatment"].to_numpy(), outcome=o.name, estimand="none",
                                method="unadjusted", landmarks=lm, horizon=None, alpha=cfg.analysis.survival.alpha,
                                arm_labels=(cohort.control, cohort.treated),
                                at_risk_times=_at_risk_times(cfg, t))
        parts.study[o.name] = comp
        parts.estimates.extend(comp.estimates)
        if cfg.covariates and o.causal and cfg.analysis.causal:
            parts.estimates.extend(_adjusted_hr(cfg, cohort, o.name))
        fig, ax = new_figure(8, 5.6)
        plot_km(comp, ax=ax, title=o.label, time_unit=cohort.time_unit, suppress_below=threshold_for(cfg) or None,
                arm_display={cohort.control: cfg.treatment.label(cohort.control),
                             cohort.treated: cfg.treatment.label(cohort.treated)})
        parts.figures[f"km_{o.name}"] = fig


def _schoenfeldnew_figure(f: pd.DataFrame, outcome: str, w: np.ndarray, label: str, estimand: str, *,
                       points: bool = True) -> Any:
    """Scaled Schoenfeld residuals of treatment in the IPTW Cox model against KM-transformed time (as R's
    ``plot(cox.zph(fit))``): a flat smooth supports proportional hazards. Each point is one event, so under
    disclosure control (``points=False``) only the smooth is drawn."""
    from gistcausal.stats.cox import schoenfeld_residuals
    from gistcausal.present.plots.km import plot_schoenfeld

    kept = w > 0
    res = schoenfeld_residuals(f[f"{outcome}_time"].to_numpy(float)[kept], f[f"{outcome}_event"].to_numpy(int)[kept],
                               f["treatment"].to_numpy(float)[kept][:, None], weights=w[kept], names=["treatment"])
    fig, ax = new_figure(7, 4.2)
    plot_schoenfeld(res, term="treatment", ax=ax)
    if not points:
        for coll in list(ax.collections):
            coll.remove()
    ax.set_title(f"Proportional hazards check: {label}, IPTW ({estimand})", fontsize=10)
    return fig


def ph_table(results: "AnalysisResults") -> pd.DataFrame:
    """Scaled Schoenfeld tests (R ``cox.zph``, KM time transform) of the treatment term, unweighted and IPTW."""
    rows = []
    for name, comp in results.study.items():
        if comp.ph_test:
            rows.append({"outcome": name, "model": "unadjusted Cox", **comp.ph_test})
    for (name, est), comp in results.causal.items():
        if comp.ph_test:
            rows.append({"outcome": name, "model": f"IPTW Cox ({est})", **comp.ph_test})
    df = pd.DataFrame(rows)
    if len(df):
        a = results.config.analysis.survival.alpha
        df["reading"] = np.where(df["p"] < a, "PH rejected: lead with RMST / landmark survival", "no evidence against PH")
    return df


def _adjusted_hr(cfg: StudyConfig, cohort: Cohort, outcome: str) -> list[EffectEstimate]:
    """Covariate-adjusted Cox model (conditional HR of treatment given the propensity covariates), the
    traditional regression answer shown beside the marginal IPTW HR; model-based SE, Efron ties."""
    from gistcausal.stats.survival import compare_survival

    f = cohort.frame
    if any(f[n].isna().any() for n, c in cfg.covariates.items() if c.in_propensity):
        return []  # imputed analyses report the marginal estimates only
    comp = compare_survival(f[f"{outcome}_time"].to_numpy(float), f[f"{outcome}_event"].to_numpy(int),
                            f["treatment"].to_numpy(int), outcome=outcome, method="adjusted",
                            X=covariate_design(cfg, f), arm_labels=(cohort.control, cohort.treated),
                            alpha=cfg.analysis.survival.alpha)
    return [e for e in comp.estimates if e.measure == "hr"]


def _at_risk_times(cfg: StudyConfig, t: np.ndarray) -> tuple[float, ...]:
    """Times for the numbers-at-risk rows: the config's list when it spans the follow-up, else a round step
    giving about eight columns over the follow-up (6, 12, 24 ... months; 180, 365 ... days)."""
    t_max = float(np.max(t))
    given = cfg.analysis.at_risk_times
    if given is not None and max(given) >= 0.6 * t_max:
        return tuple(x for x in given if x <= t_max)
    steps = {"days": (30, 90, 180, 365, 730, 1825), "weeks": (4, 13, 26, 52, 104), "months": (3, 6, 12, 24, 36, 60),
             "years": (0.5, 1, 2, 5, 10)}[cfg.time_unit]
    step = next((s for s in steps if t_max / s <= 9), steps[-1])
    return tuple(np.arange(0.0, t_max + 1e-9, step))


def _duration(cfg: StudyConfig, cohort: Cohort, name: str) -> dict[str, Any]:
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


def _with_variance(cfg: StudyConfig, f: pd.DataFrame, fit: CausalFit, parts: _Parts, say: ProgressFn) -> CausalFit:
    """Swap in the configured variance (``m_estimation`` or ``bootstrap``, :mod:`gistcausal.analysis.variance`); the
    point estimates are unchanged and every interval states its variance method."""
    import dataclasses

    s = cfg.analysis.survival
    if s.variance == "robust":
        return fit
    from gistcausal.analysis.variance import with_variance

    total_seen = {"last": -1}

    def tick(done: int, total: int) -> None:  # a line per 10%, so logs stay readable
        step = max(total // 10, 1)
        if done == total or done // step != total_seen["last"]:
            total_seen["last"] = done // step
            say(f"Bootstrap {fit.outcome} ({fit.estimand}): {done}/{total} replicates")

    comp, boot = with_variance(cfg, f, fit.comparison, outcome=fit.outcome, estimand=fit.estimand,
                               variance=s.variance, n_boot=s.bootstrap_replicates, ci=s.bootstrap_ci,
                               n_jobs=cfg.analysis.jobs, progress=tick)
    if boot is not None:
        parts.bootstrap[(fit.outcome, fit.estimand)] = boot
    return dataclasses.replace(fit, comparison=comp)


def _doubly_robust(cfg: StudyConfig, f: pd.DataFrame, ps: np.ndarray, fit: CausalFit, outcome: str,
                   estimand: str) -> list[EffectEstimate]:
    """AIPTW-AIPCW survival at the landmarks and RMST (:mod:`gistcausal.stats.doubly_robust`) beside the IPTW
    estimates; ATO has no AIPTW form here and is skipped with a warning."""
    from gistcausal.stats.doubly_robust import ESTIMANDS as DR_ESTIMANDS
    from gistcausal.stats.doubly_robust import aiptw_survival
    from gistcausal.errors import SmallSampleWarning

    if estimand not in DR_ESTIMANDS:
        warnings.warn(f"analysis.survival.doubly_robust: no AIPTW estimator for estimand {estimand} (got "
                      f"{estimand}); only IPTW is reported for it. Use ATE, ATT or ATC for the doubly robust "
                      "estimate.", SmallSampleWarning, stacklevel=2)
        return []
    kept = fit.weights.weights > 0
    s = cfg.analysis.survival
    covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
    sub = f.loc[kept].reset_index(drop=True)
    dr = aiptw_survival(sub[f"{outcome}_time"].to_numpy(float), sub[f"{outcome}_event"].to_numpy(int),
                        sub["treatment"].to_numpy(int), sub[covs], outcome=outcome, ps=ps[kept],
                        landmarks=tuple(s.landmarks), horizon=s.horizon, estimand=estimand, alpha=s.alpha,
                        arm_labels=(cfg.treatment.control, cfg.treatment.treated))
    return list(dr.estimates)


def validate_config_records(cfg: StudyConfig, df: pd.DataFrame) -> dict[str, Any]:
    """Record-level checks (:mod:`gistcausal.design.validation`): the config's ``data.validation`` rules, or the
    built-in rules of the synthetic GIST registry. Errors raise; warnings are emitted; counts are returned."""
    from gistcausal.design.validation import GIST_VALIDATION, validate_with_config

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


def truth_table(results: "AnalysisResults") -> pd.DataFrame:
    """Each IPTW / AIPTW / unadjusted contrast of a causal outcome beside the known true marginal effect."""
    rows = []
    for est, tr in results.truth.items():
        for e in results.estimates:
            if " vs " not in e.contrast or e.measure not in ("hr", "rmst_diff", "surv_diff"):
                continue
            # the adjusted Cox HR targets the conditional HR, not a marginal effect, so it has no row here
            if not ((e.method in ("iptw", "aiptw") and e.estimand == est) or e.method == "unadjusted"):
                continue
            try:
                t = tr.value(e.outcome, e.measure, time=e.time if math.isfinite(e.time) else None)
            except KeyError:
                continue
            covered = bool(e.ci_low <= t <= e.ci_high) if math.isfinite(e.ci_low) else None
            rows.append({"outcome": e.outcome, "measure": e.measure, "time": e.time, "truth estimand": est,
                         "true value": t, "method": e.method, "estimate": e.value, "ci_low": e.ci_low,
                         "ci_high": e.ci_high, "interval covers truth": covered})
    df = pd.DataFrame(rows)
    return df.drop_duplicates() if len(df) else df


def _sequential(cfg: StudyConfig, df: pd.DataFrame, parts: _Parts) -> Any:
    """Sequential trials (:mod:`gistcausal.stats.sequential`): person-trial expansion, pooled Cox model with
    patient-clustered robust SE, pooled Kaplan-Meier curves per arm; the flow counts person-periods, eligible
    person-trials and arms."""
    from gistcausal.design.cohort import FlowCounts, FlowStep
    from gistcausal.present.plots.km import plot_strategy_curves
    from gistcausal.stats.sequential import expand_sequential_trials, pooled_km, sequential_cox, trial_counts

    sq = cfg.sequential
    ex = expand_sequential_trials(df, id_col=sq.id_col, period_col=sq.period_col, eligible_col=sq.eligible_col,
                                  treatment_col=sq.treatment_col, time_col=sq.time_col, event_col=sq.event_col,
                                  covariates=sq.covariates, max_trials=sq.max_trials)
    res = sequential_cox(ex, id_col=sq.id_col, covariates=sq.covariates, outcome=sq.outcome,
                         contrast="initiate vs no_initiation")
    parts.estimates.extend(res.estimates)
    parts.sensitivity["sequential_trials"] = trial_counts(ex, id_col=sq.id_col)
    parts.sensitivity["sequential_model"] = res
    curves = pooled_km(ex).assign(strategy=lambda d: d["arm"].map({1: sq.labels["initiate"],
                                                                    0: sq.labels["no_initiation"]}))
    fig, ax = new_figure(8, 5.0)
    plot_strategy_curves(curves, ax=ax, time_unit=sq.time_unit, title="Pooled Kaplan-Meier over the emulated trials")
    ax.set_ylabel("Survival probability (pooled, unadjusted)")
    parts.figures["sequential_km"] = fig
    n_rows, n_trials = len(df), len(ex)
    steps = (FlowStep("Eligible person-periods (one emulated trial each)", "include", f"{sq.eligible_col} is true",
                      n_rows, n_rows - n_trials, n_trials),)
    return FlowCounts(steps, (("initiate", int((ex["arm"] == 1).sum())), ("no_initiation", int((ex["arm"] == 0).sum()))),
                      "Person-periods in the data")


def _plasmode(cfg: StudyConfig, cohort: Cohort, parts: _Parts) -> None:
    """Does the configured plan recover a known effect on data like this cohort's? (:mod:`gistcausal.analysis.plasmode`)"""
    from gistcausal.analysis.plasmode import plasmode
    from gistcausal.present.plots.plasmode import plot_coverage, plot_estimates

    pc = cfg.analysis.plasmode
    est = next((e for e in cfg.analysis.survival.estimands if e in ("ATE", "ATT", "ATC")), "ATE")
    imputed = _imputations(cfg, cohort.frame)
    frame = imputed[0] if imputed else cohort.frame  # covariates must be complete to simulate from them
    res = plasmode(cfg, frame, outcome=cfg.primary_outcome, estimand=est, true_hr=pc.true_hr,
                   true_effect_measure="marginal_hr" if pc.marginal else "hr", n_replicates=pc.n_replicates,
                   treatment=pc.treatment, methods=tuple(pc.methods), backend=pc.backend, scheduler=pc.scheduler,
                   n_jobs=cfg.analysis.jobs, random_state=cfg.seed)
    parts.plasmode = res
    for name, fn in (("plasmode_estimates", plot_estimates), ("plasmode_coverage", plot_coverage)):
        fig, ax = new_figure(7.5, 4.5)
        fn(res, ax=ax)
        parts.figures[name] = fig


def _strategies(cfg: StudyConfig, records: pd.DataFrame, parts: _Parts) -> None:
    """Clone-censor-weight emulation of ``protocol.strategies`` (:mod:`gistcausal.stats.ccw`) on the records eligible
    at its own time zero; its flow is counted like the main cascade."""
    from gistcausal.stats.ccw import clone_censor_from_config
    from gistcausal.design.cohort import _derive, apply_eligibility
    from gistcausal.present.plots.km import plot_strategy_curves

    p = cfg.protocol
    st = p.strategies
    where = cfg.source_path or cfg.name
    df = records.copy()
    for name, d in p.derived.items():
        df[name] = _derive(name, d, df, where)
    df, steps = apply_eligibility(st.eligibility, df)
    res = clone_censor_from_config(df, st, time_unit=p.time_unit, random_state=cfg.seed)
    parts.strategies = res
    parts.estimates.extend(res.estimates)
    parts.sensitivity["strategies_flow"] = pd.DataFrame([x.to_dict() for x in steps])
    fig, ax = new_figure(8, 5.0)
    plot_strategy_curves(res.curves, ax=ax, time_unit=p.time_unit,
                         title=f"Clone-censor-weight: strategies with a {st.grace:g}-{p.time_unit} grace period")
    parts.figures["strategies"] = fig


def _impute_columns(cfg: StudyConfig, f: pd.DataFrame) -> list[str]:
    return [n for n, c in cfg.covariates.items() if c.missing == "impute" and f[n].isna().any()]


def _imputations(cfg: StudyConfig, f: pd.DataFrame) -> list[pd.DataFrame]:
    """Completed copies of the cohort frame when covariates marked ``missing: impute`` have missing values."""
    from gistcausal.stats.impute import impute_chained

    cols = _impute_columns(cfg, f)
    if not cols:
        return []
    model_cols = [n for n, c in cfg.covariates.items() if c.in_propensity or n in cols] + ["treatment"]
    return impute_chained(f, columns=model_cols, m=cfg.analysis.imputations, random_state=cfg.seed)


def pool_imputed(per_imputation: list[tuple[EffectEstimate, ...]], *, alpha: float = 0.05) -> list[EffectEstimate]:
    """Pool matching estimates across imputed data sets by Rubin's rules (Rubin 1987; Barnard & Rubin 1999).

    Ratios are pooled on the log scale (their ``se`` is on that scale); estimates without a standard error
    (medians, p-values) are averaged and say so in ``note``.
    """
    import dataclasses

    from gistcausal.stats.impute import rubin_pool

    m = len(per_imputation)
    out = []
    for j, first in enumerate(per_imputation[0]):
        group = [est[j] for est in per_imputation]
        vals = np.array([g.value for g in group], float)
        ses = np.array([g.se for g in group], float)
        log = first.scale == "log"
        if np.all(np.isfinite(ses)) and np.all(np.isfinite(vals)) and (not log or np.all(vals > 0)):
            q = np.log(vals) if log else vals
            pooled = rubin_pool(q, ses ** 2, alpha=alpha)
            lo, hi = pooled.ci
            tr = np.exp if log else (lambda x: x)
            z = pooled.value / pooled.se if pooled.se > 0 else math.nan
            p = float(2 * stats.t.sf(abs(z), pooled.df)) if math.isfinite(z) and first.measure != "surv" and (
                first.measure != "rmst" and first.measure != "median") else math.nan
            out.append(dataclasses.replace(first, value=float(tr(pooled.value)), ci_low=float(tr(lo)),
                                           ci_high=float(tr(hi)), se=float(pooled.se), p=p,
                                           variance=f"{first.variance}+rubin",
                                           note=f"pooled over {m} imputations (Rubin's rules; FMI {pooled.fmi:.2f})"))
        else:
            ps_ = np.array([g.p for g in group], float)
            out.append(dataclasses.replace(first, value=float(np.mean(vals)) if np.all(np.isfinite(vals)) else math.nan,
                                           ci_low=math.nan, ci_high=math.nan, se=math.nan,
                                           p=float(np.mean(ps_)) if np.all(np.isfinite(ps_)) else math.nan,
                                           note=f"average over {m} imputations (no standard error to pool)"))
    return out


def _causal(cfg: StudyConfig, cohort: Cohort, parts: _Parts, say: ProgressFn) -> None:
    from gistcausal.stats.balance import balance_table
    from gistcausal.present.plots.balance import love_plot, overlap_plot, weight_plot
    from gistcausal.present.plots.km import plot_km
    from gistcausal.present.tables import table_one

    f = cohort.frame
    imputed = _imputations(cfg, f)
    if imputed:
        warnings.warn(f"covariates: {len(imputed)} multiply imputed data sets (chained equations) for "
                      f"{', '.join(_impute_columns(cfg, f))} (got {int(f[_impute_columns(cfg, f)].isna().sum().sum())} "
                      "missing values); estimates are pooled by Rubin's rules, balance and figures show imputed data "
                      "set 1. Set covariates.<name>.missing to another rule to change this.", MissingDataWarning,
                      stacklevel=2)
        f = imputed[0]
    parts.propensity, ps = fit_propensity(cfg, f)
    a = f["treatment"].to_numpy(int)
    bal_covs = [n for n, c in cfg.covariates.items() if c.in_propensity or c.in_table1]
    fig, ax = new_figure(7.5, 4.2)
    overlap_plot(ps, a, ax=ax)
    parts.figures["ps_overlap"] = fig
    for est in cfg.analysis.survival.estimands:
        fits = {}
        for o in cohort.outcomes:
            if o.type != "time_to_event" or not o.causal:
                continue
            t = f[o.time_col].to_numpy(float)
            fit = causal_fit(cfg, f, outcome=o.name, estimand=est, ps=ps, at_risk_times=_at_risk_times(cfg, t))
            fits[o.name] = _with_variance(cfg, f, fit, parts, say)
        wr = next(iter(fits.values())).weights if fits else None
        if wr is None:
            wr = configured_weights(cfg, ps, a, estimand=est)
        parts.weights[est] = wr
        bt = balance_table(f, treatment_col="treatment", covariates=bal_covs, weights=wr.weights, estimand=est,
                           threshold=cfg.analysis.balance_threshold)
        parts.balance[est] = bt
        spec, spread = table1_spec(cfg)
        if spec:
            parts.table1_weighted[est] = table_one(
                f, treatment_col="treatment", covariates=spec, weights=wr.weights, labels=covariate_labels(cfg),
                arm_labels=arm_labels(cfg), tests=True, median_spread=spread, estimand=est,
                suppress_below=threshold_for(cfg) or None)
        fig, ax = new_figure(7.5, 0.3 * len(bt.to_frame()) + 1.6)
        love_plot(bt, ax=ax, threshold=cfg.analysis.balance_threshold)
        parts.figures[f"love_{est}"] = fig
        fig, ax = new_figure(7.5, 3.8)
        weight_plot(wr, ax=ax)
        parts.figures[f"weights_{est}"] = fig
        for name, fit in fits.items():
            comp = fit.comparison
            parts.causal[(name, est)] = comp
            dr = cfg.analysis.survival.doubly_robust
            if imputed:
                fits_m = [_with_variance(cfg, g, causal_fit(cfg, g, outcome=name, estimand=est), parts, say)
                          for g in imputed]
                parts.estimates.extend(pool_imputed([x.estimates for x in fits_m], alpha=cfg.analysis.survival.alpha))
                if dr:
                    per_dr = []
                    for g, x in zip(imputed, fits_m):
                        _, ps_g = fit_propensity(cfg, g)
                        per_dr.append(tuple(_doubly_robust(cfg, g, ps_g, x, name, est)))
                    if per_dr and per_dr[0]:
                        parts.estimates.extend(pool_imputed(per_dr, alpha=cfg.analysis.survival.alpha))
            else:
                parts.estimates.extend(comp.estimates)
                if dr:
                    parts.estimates.extend(_doubly_robust(cfg, f, ps, fit, name, est))
            label = cfg.outcomes[name].label
            if name == cfg.primary_outcome and est == cfg.analysis.survival.estimands[0]:
                parts.figures["schoenfeld"] = _schoenfeldnew_figure(f, name, fit.weights.weights, label, est,
                                                                 points=threshold_for(cfg) == 0)
            fig, ax = new_figure(8, 6.2)
            plot_km(comp, ax=ax, unweighted=parts.study.get(name), title=f"{label}: IPTW ({est})",
                    time_unit=cohort.time_unit, suppress_below=threshold_for(cfg) or None,
                    arm_display={cohort.control: cfg.treatment.label(cohort.control),
                                 cohort.treated: cfg.treatment.label(cohort.treated)})
            parts.figures[f"km_{name}_{est}"] = fig
