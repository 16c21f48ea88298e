"""The tables a run exports to ``tables/``, by name, from :class:`~gistcausal.results.AnalysisResults`.

Each is either an object with ``write(path, format=...)`` (Table 1) or a DataFrame; counts are suppressed under
disclosure control exactly as in the report. A DataFrame is data (codes, full precision) in ``<name>.csv``; in the
formats people read (md, tex, html, docx, xlsx) it is the table :func:`people_tables` makes of it: captioned,
headings in words, codes as the config's labels, numbers rounded (:mod:`gistcausal.present.people`), and the
numbers at risk laid out as in the report (times as columns).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd

from gistcausal.design.disclosure import suppress_counts, suppress_text, threshold_for
from gistcausal.effects import estimates_frame
from gistcausal.analysis.spec import table1_options
from gistcausal.present.multiarm import multiarm_tables, sensitivity_section
from gistcausal.present.people import people_model, vocabulary
from gistcausal.present.sections import (at_risk_wide, display_labels, estimates_display, evalue_table, flow_display,
                                         ph_table, plasmode_table, protocol_table, truth_table)
from gistcausal.present.table_model import NUMBER_FORMATS, Cell, TableModel
from gistcausal.present.target import target_checklist
from gistcausal.present.tables import balance_detail, balance_summary
from gistcausal.results import AnalysisResults


def suppress_table_text(table: Any, k: int) -> Any:
    """``table`` with counts of 1..k-1 patients or events in its text suppressed
    (:func:`~gistcausal.design.disclosure.suppress_text`): the text columns of a DataFrame (reasons of failed
    specifications and replicates, notes), or a TableModel's caption, footnotes and cells (a Table 1 through its
    model). Numeric columns are left as they are (their counts are suppressed where they are made)."""

    if k <= 1:
        return table
    if isinstance(table, pd.DataFrame):
        out = table.copy()
        for c in out.columns:
            if out[c].dtype == object:
                out[c] = out[c].map(lambda v: suppress_text(v, k) if isinstance(v, str) else v)
        return out
    if isinstance(table, TableModel):
        def cell(c: Any) -> Any:
            return replace(c, text=suppress_text(c.text, k))
        return replace(table, caption=table.caption and suppress_text(table.caption, k),
                       footnotes=tuple(suppress_text(f, k) for f in table.footnotes),
                       rows=tuple(replace(r, cells=tuple(cell(c) for c in r.cells)) for r in table.rows))
    if hasattr(table, "model") and isinstance(table.model, TableModel):
        return replace(table, model=suppress_table_text(table.model, k))
    return table


def result_tables(r: AnalysisResults) -> dict[str, Any]:
    """Table name -> table object (with ``write``) or DataFrame, as exported to ``tables/``."""
    k = threshold_for(r.config)
    out: dict[str, Any] = {"protocol": protocol_table(r), "flow": r.flow_frame(),
                           "estimates": r.estimates_frame()}
    if r.table1 is not None:
        out["table1"] = r.table1
    out["target_checklist"] = target_checklist(r).model()
    for name, comp in r.study.items():
        out[f"at_risk_{name}"] = r.at_risk_frame(comp.at_risk)
    for name, d in r.durations.items():
        out[f"duration_{name}"] = suppress_counts(d["table"], ["n"], k)
    if r.balance:
        opts = table1_options(r.config)
        lab = {"labels": opts["labels"], "arm_labels": opts["arm_labels"]}
        out["balance_summary"] = balance_summary(r.balance, weighting=opts["weighting"], **lab)
        for est, bt in r.balance.items():
            out[f"balance_{est}"] = balance_detail(bt, level_labels=opts["level_labels"], **lab)
    for est, wr in r.weights.items():
        out[f"weights_{est}"] = wr.to_frame()
    if r.propensity is not None:
        out["propensity_model"] = r.propensity.to_frame()
    for (o, est), comp in r.causal.items():
        out[f"at_risk_{o}_{est}"] = r.at_risk_frame(comp.at_risk)
    for est, t1 in r.table1_weighted.items():
        out[f"table1_weighted_{est}"] = t1
    if r.strategies is not None:
        out["strategies_estimates"] = estimates_frame(r.strategies.estimates)
        out["strategies_diagnostics"] = r.strategies.diagnostics
    out["proportional_hazards"] = ph_table(r)
    if "sequential_trials" in r.sensitivity:
        out["sequential_trials"] = r.sensitivity["sequential_trials"]
    if r.truth:
        out["truth"] = truth_table(r)
    if r.plasmode is not None:
        out["plasmode_metrics"] = r.plasmode.to_frame()
        out["plasmode_failures"] = r.plasmode.failure_counts()
    for name in ("evalues", "tipping_grid", "benchmarks", "negative_control", "strategies_flow"):
        if name in r.sensitivity:
            out[name] = r.sensitivity[name]
    if "evalues" in r.sensitivity:  # for people, as in the report: each row named in words
        out["evalues"] = evalue_table(r.sensitivity["evalues"], r.config.time_unit)
    if r.multiarm is not None:  # K arms: the tables of the report's own sections, labelled per pair of arms
        out.update(multiarm_tables(r))
        for title, frame in (sensitivity_section(r) or {}).get("tables", ()):
            if title.startswith("E-values"):
                out["evalues"] = frame
            elif title.startswith("Tipping point"):
                out["tipping_grid"] = frame
    for key in ("specification_grid", "specification_grid_cs_hr"):
        if key in r.sensitivity:
            out[key] = r.sensitivity[key].to_frame()
    if "refutation" in r.sensitivity:
        out["refutation"] = r.sensitivity["refutation"].to_frame()
    return out


#: Captions of the exported data tables (``{outcome}``, ``{estimand}``: of the table's name).
_CAPTIONS = {"protocol": "Target trial protocol and its emulation", "flow": "Patient flow",
             "table1": "Baseline characteristics by arm",
             "estimates": "All estimates", "weights": "Weight diagnostics ({estimand})",
             "propensity_model": "Propensity model coefficients",
             "strategies_estimates": "Clone-censor-weight emulation of the sustained strategies: estimates",
             "strategies_diagnostics": "Clone-censor-weight emulation: clones, censoring and weights per strategy",
             "strategies_flow": "Clone-censor-weight emulation: patient flow",
             "proportional_hazards": "Proportional-hazards tests of the treatment term (scaled Schoenfeld residuals)",
             "sequential_trials": "Sequential emulated trials: patients and events per trial and arm",
             "truth": "Synthetic registry: estimates beside the known true marginal effects",
             "plasmode_metrics": "Plasmode simulation: performance of the analysis plan",
             "plasmode_failures": "Plasmode simulation: replicates that failed",
             "evalues": "E-values", "tipping_grid": "Tipping-point analysis",
             "benchmarks": "Measured covariates as benchmarks for an unmeasured confounder",
             "negative_control": "Negative-control outcome", "specification_grid": "Specification grid",
             "specification_grid_cs_hr": "Specification grid (cause-specific hazard ratio)",
             "refutation": "DoWhy refutation tests", "duration": "{outcome}: median (range)",
             "balance": "Covariate balance across pairs of arms ({estimand})"}


def _caption(name: str, r: AnalysisResults) -> str:
    """The caption of an exported table, from its name (words when the name has no caption)."""
    outcomes = {n: o.label for n, o in r.config.outcomes.items()}
    estimands = set(r.config.analysis.survival.estimands) | set(r.weights) | set(r.balance)
    if name.startswith("at_risk_"):
        rest = name[len("at_risk_"):]
        est = next((e for e in estimands if rest.endswith("_" + e) and rest[:-len(e) - 1] in outcomes), None)
        outcome = rest[:-len(est) - 1] if est else rest
        if est:
            return f"Numbers at risk, unweighted and weighted ({est}): {outcomes.get(outcome, outcome)}"
        return f"Numbers at risk: {outcomes.get(outcome, outcome)}"
    for stem in ("weights", "duration", "balance"):
        if name.startswith(stem + "_"):
            rest = name[len(stem) + 1:]
            return _CAPTIONS[stem].format(estimand=rest, outcome=outcomes.get(rest, rest))
    return _CAPTIONS.get(name, name.replace("_", " ").capitalize())


def people_tables(r: AnalysisResults, tables: dict[str, Any] | None = None) -> dict[str, TableModel]:
    """The DataFrames of :func:`result_tables` (or of ``tables``) as tables for people, by name: the numbers at
    risk with times as columns (as in the report), the flow and the plasmode metrics as the report shows them,
    every other frame through :func:`~gistcausal.present.people.people_model` with the run's labels."""
    tables = result_tables(r) if tables is None else tables
    vocab = vocabulary(r)
    labels = vocab.arms
    out: dict[str, TableModel] = {}
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame):
            continue
        frame = table
        if name.startswith("at_risk_") and {"arm", "time", "n_at_risk"} <= set(table.columns):
            weighted = "weighted_n_at_risk" in table.columns and name[len("at_risk_"):] not in r.study
            frame = at_risk_wide(table, weighted=weighted, labels=labels)
        elif name == "flow" and r.multiarm is None:
            frame = flow_display(r)
        elif name == "strategies_flow" and "label" in table.columns:
            frame = table.rename(columns={"label": "Step"})
        elif name in ("estimates", "strategies_estimates"):
            # as the report shows them: the interval in one column, labels, numbers rounded, no internal
            # columns (scale, conf type): 16 data columns made a Word page of digits broken one per line
            source = r.estimates if name == "estimates" else r.strategies.estimates
            frame = estimates_display(list(source), outcomes=display_labels(r)[0], arms=labels)
        elif name == "plasmode_metrics" and r.plasmode is not None:
            frame = plasmode_table(r.plasmode, labels)
        model = people_model(frame, vocab, caption=_caption(name, r))
        if name in ("estimates", "strategies_estimates"):
            model = _numeric_estimates(model, list(r.estimates if name == "estimates" else r.strategies.estimates))
        out[name] = model
    return out


def _numeric_estimates(model: TableModel, estimates: list) -> TableModel:
    """The display's estimate and p-value cells with their numbers behind the text (Excel cells hold numbers, as
    they did when the table was the raw frame), the text as the display rounds it; one row per estimate."""
    keys = [c.key for c in model.stat_columns]
    j_est, j_p = keys.index("estimate"), keys.index("p")
    rows = []
    for row, e in zip(model.rows, estimates):
        cells = list(row.cells)
        est = cells[j_est]
        if est.text and math.isfinite(e.value):
            digits = len(est.text.split(".")[1]) if "." in est.text else 0
            cells[j_est] = Cell(est.text, ((float(e.value), "0." + "0" * digits if digits else "0"),))
        if cells[j_p].text and math.isfinite(e.p):
            cells[j_p] = Cell(cells[j_p].text, ((float(e.p), NUMBER_FORMATS["p"]),))
        rows.append(replace(row, cells=tuple(cells)))
    return replace(model, rows=tuple(rows))


__all__ = ["result_tables", "people_tables", "suppress_table_text"]
