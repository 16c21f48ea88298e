"""The tables a run exports to ``tables/``, by name, from :class:`~gistcausal.results.AnalysisResults`.

Each is either an object with ``write(path, format=...)`` (Table 1) or a DataFrame; counts are suppressed under
disclosure control exactly as in the report.
"""
from __future__ import annotations

from typing import Any

from gistcausal.design.disclosure import suppress_counts, threshold_for
from gistcausal.effects import estimates_frame
from gistcausal.analysis.spec import table1_options
from gistcausal.present.multiarm import multiarm_tables, sensitivity_section
from gistcausal.present.sections import evalue_table, ph_table, protocol_table, truth_table
from gistcausal.present.target import target_checklist
from gistcausal.present.tables import balance_detail, balance_summary
from gistcausal.results import AnalysisResults


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
        out["balance_summary"] = balance_summary(r.balance, **lab)
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


__all__ = ["result_tables"]
