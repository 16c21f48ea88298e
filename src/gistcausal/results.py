"""What a configured analysis produced: typed aggregates only.

:class:`AnalysisResults` is returned by :func:`gistcausal.pipeline.run` and read by the presentation layer
(:mod:`gistcausal.present`), which draws the figures, builds the tables and writes ``results.json`` and the
HTML report from it. It holds no patient rows, identifiers, dates or per-patient arrays: weights are kept as
their diagnostics and a histogram (:class:`WeightSummary`), propensity scores as a binned overlap histogram,
Schoenfeld residuals as points only where disclosure control allows them and otherwise as binned means
(:class:`PlotData`). It does not render itself and reads nothing from disk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gistcausal._version import __version__
from gistcausal.design.config import StudyConfig
from gistcausal.design.disclosure import suppress, suppress_counts, suppress_strings, threshold_for
from gistcausal.effects import EffectEstimate, estimates_frame, round_floats

#: Version of the ``results.json`` layout (``docs/results_json.md``). 1.1 added ``target_checklist`` (the TARGET
#: checklist counts, written by :mod:`gistcausal.present.report`: the checklist is presentation, issue 19).
SCHEMA_VERSION = "1.1"


def histogram_by_arm(values: np.ndarray, treatment: np.ndarray, edges: np.ndarray, *,
                     arm_names: tuple[str, str] = ("treated", "control"), density: bool = False,
                     weights: np.ndarray | None = None) -> pd.DataFrame:
    """Counts (or densities) of ``values`` per arm in the bins ``edges``: one row per arm and bin.

    Columns ``arm``, ``bin_low``, ``bin_high``, ``value`` (and ``value_weighted`` with ``weights``). Arm 1 is
    ``arm_names[0]``, arm 0 ``arm_names[1]``.
    """
    rows = []
    for code, name in ((1, arm_names[0]), (0, arm_names[1])):
        m = treatment == code
        h, _ = np.histogram(values[m], bins=edges, density=density)
        row = {"arm": np.repeat(name, h.size), "bin_low": edges[:-1], "bin_high": edges[1:], "value": h}
        if weights is not None:
            row["value_weighted"] = np.histogram(values[m], bins=edges, weights=weights[m], density=density)[0]
        rows.append(pd.DataFrame(row))
    return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True)
class WeightSummary:
    """The weights of one estimand as aggregates: settings, per-arm diagnostics and a histogram.

    Built from a :class:`~gistcausal.stats.weights.WeightResult` by :meth:`from_result`, which drops the
    per-patient weights. ``to_dict``, ``to_frame`` and ``summary`` give what the ``WeightResult`` gives.
    """

    estimand: str
    record: dict[str, Any]
    text: str
    diagnostics: pd.DataFrame
    histogram: pd.DataFrame     # bin_low, bin_high, count (kept patients; log-spaced bins)

    @classmethod
    def from_result(cls, wr: Any, *, bins: int = 40) -> "WeightSummary":
        w = np.asarray(wr.weights, dtype=float)[np.asarray(wr.kept, dtype=bool)]
        w = w[w > 0]
        if w.size and w.max() > w.min():
            edges = np.geomspace(w.min(), w.max(), bins + 1)
        else:
            edges = np.array([w.min() * 0.9, w.max() * 1.1]) if w.size else np.array([0.5, 2.0])
        counts, _ = np.histogram(w, bins=edges)
        hist = pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:], "count": counts})
        return cls(wr.estimand, wr.to_dict(), wr.summary(), wr.to_frame(), hist)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.record)

    def to_frame(self) -> pd.DataFrame:
        return self.diagnostics.copy()

    def summary(self) -> str:
        return self.text


@dataclass(frozen=True)
class PlotData:
    """Aggregates the figures are drawn from (no per-patient values).

    Attributes
    ----------
    overlap : DataFrame or None
        Propensity-score density per arm in 30 bins on [0, 1] (:func:`histogram_by_arm`).
    ph_residuals : DataFrame or None
        Scaled Schoenfeld residuals of treatment in the primary IPTW Cox model: columns ``time`` (outcome time
        scale), ``residual`` and ``n`` (1 per event point; the number of events averaged in a bin when
        disclosure control forbids points).
    ph_title : str
    benchmarks : BenchmarkResult or None
        Measured-covariate benchmarks for the E-value bias plot.
    causal_graph : networkx.DiGraph or None
        The DAG given to DoWhy (variable names only).
    sequential_curves : DataFrame or None
        Pooled Kaplan-Meier curves of a sequential-trials analysis (``strategy``, ``time``, ``surv``).
    """

    overlap: pd.DataFrame | None = None
    ph_residuals: pd.DataFrame | None = None
    ph_title: str = ""
    benchmarks: Any = None
    causal_graph: Any = None
    sequential_curves: pd.DataFrame | None = None


@dataclass(frozen=True)
class AnalysisResults:
    """Everything an analysis produced, as aggregates and tables.

    Attributes
    ----------
    config : StudyConfig
    cohort : dict
        Aggregate cohort description (flow, arm sizes, outcome event counts).
    flow : FlowCounts
    table1 : TableOne or None
        Paper-style Table 1 (:mod:`gistcausal.present.tables`).
    study : dict
        Outcome name -> unweighted :class:`~gistcausal.stats.comparison.SurvivalComparison`.
    durations : dict
        Duration outcome name -> descriptive comparison (medians, ranges, Mann-Whitney p).
    propensity : PropensityResult or None
    weights : dict
        Estimand -> :class:`WeightSummary`.
    balance : dict
        Estimand -> :class:`~gistcausal.stats.balance.BalanceTable`.
    causal : dict
        ``(outcome, estimand)`` -> weighted SurvivalComparison.
    estimates : tuple of EffectEstimate
        Every number with its interval, the rows of ``results.json`` ``estimates``.
    plots : PlotData
    failed_steps : dict
        Optional step name -> the reason it failed (the rest of the analysis was completed).
    warnings : tuple of str
    timings : dict
    data_hash : str or None
        SHA-256 of the records analysed (for the manifest).
    multiarm : MultiArmAnalysis or None
        Three or more arms (:mod:`gistcausal.analysis.multiarm`): ``comparisons`` ``(outcome, estimand)`` ->
        :class:`~gistcausal.stats.multiarm_survival.MultiArmComparison` and the K-column ``table1``; the two-arm
        fields (``propensity``, ``weights``, ``balance``, ``causal``) are then empty.
    """

    config: StudyConfig
    cohort: dict[str, Any]
    flow: Any
    table1: Any
    study: dict[str, Any]
    durations: dict[str, dict[str, Any]]
    propensity: Any
    weights: dict[str, WeightSummary]
    balance: dict[str, Any]
    causal: dict[tuple[str, str], Any]
    estimates: tuple[EffectEstimate, ...]
    plots: PlotData = field(default_factory=PlotData)
    sensitivity: dict[str, Any] = field(default_factory=dict)
    table1_weighted: dict[str, Any] = field(default_factory=dict)
    strategies: Any = None
    validation: dict[str, Any] = field(default_factory=dict)
    bootstrap: dict[tuple[str, str], Any] = field(default_factory=dict)
    plasmode: Any = None
    truth: dict[str, Any] = field(default_factory=dict)
    failed_steps: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: competing-risks comparisons by (outcome, estimand or "none" for unadjusted): curves for the figures;
    #: their estimates are in ``estimates``
    competing: dict[tuple[str, str], Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    data_hash: str | None = None
    multiarm: Any = None

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

    def summary(self) -> str:
        """Plain-text overview: flow, then the main estimates."""
        lines = [self.config.title or self.config.name, self.flow.summary(), ""]
        for e in self.estimates:
            if e.measure in ("hr", "median", "rmst_diff", "logrank_p"):
                lines.append(e.summary())
        if self.failed_steps:
            lines += ["", "Steps that failed (the rest was completed):"]
            lines += [f"  {k}: {v}" for k, v in self.failed_steps.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The content of ``results.json`` (schema in ``docs/results_json.md``)."""
        cfg = self.config
        out = {
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
        }
        if self.failed_steps:
            out["failed_steps"] = dict(self.failed_steps)
        if self.multiarm is not None:
            # per-arm curves stay in the report's figures; the estimates are in out["estimates"] already
            out["study"]["arms"] = list(cfg.treatment.arms)
            out["multiarm"] = {f"{o}_{e}": {k: v for k, v in c.to_dict().items()
                                            if k not in ("curves", "at_risk", "estimates")}
                               for (o, e), c in self.multiarm.comparisons.items()}
        # counts in sentences (warnings, failed steps, failure reasons) as the counts of the tables; the study's
        # own names and title are the config's text
        k = threshold_for(cfg)
        out = {key: v if key == "study" else suppress_strings(v, k) for key, v in out.items()}
        return round_floats(out)


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


def fmt_number(v: float | None, digits: int = 2) -> str:
    """A number for people: ``digits`` decimals, "NE" (not estimable) for missing or infinite values."""
    return "NE" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def and_list(items: Any) -> str:
    """Items as a sentence lists them: "A", "A and B", "A, B and C"."""
    items = [str(x) for x in items]
    return items[0] if len(items) == 1 else (", ".join(items[:-1]) + " and " + items[-1] if items else "")


__all__ = ["AnalysisResults", "PlotData", "WeightSummary", "histogram_by_arm", "fmt_number", "and_list",
           "SCHEMA_VERSION"]
