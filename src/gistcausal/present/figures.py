"""Every figure of a run, drawn from the aggregates in :class:`~gistcausal.results.AnalysisResults`.

:func:`build_figures` returns ``{name: matplotlib Figure}``; the names are the keys the report sections refer
to and the file names under ``figures/``. Figures are not registered with pyplot, so batch runs do not
accumulate open figures. Labels come from the config (arm and outcome labels), never from internal codes.
"""
from __future__ import annotations

from typing import Any

from gistcausal.analysis.spec import adjustment_name, table1_options
from gistcausal.design.disclosure import threshold_for
from gistcausal.present.multiarm import multiarm_figures
from gistcausal.present.plots import new_figure, printable_figure
from gistcausal.present.plots.balance import love_plot, overlap_histogram_plot, weight_histogram_plot
from gistcausal.present.plots.flow import drawn_steps, plot_flow
from gistcausal.present.plots.forest import forest_plot
from gistcausal.present.plots.graph import plot_graph
from gistcausal.present.plots.km import plot_km, plot_ph_residuals, plot_strategy_curves
from gistcausal.present.plots.plasmode import plot_coverage, plot_estimates
from gistcausal.present.plots.sensitivity import bias_plot, tipping_plot
from gistcausal.results import AnalysisResults


#: The two halves of a run's figures, about equal in drawing time, so two processes can each draw one
#: (:func:`gistcausal.present.report.figure_files`): the curves (flow, Kaplan-Meier, cumulative incidence,
#: strategies) and the diagnostics (overlap, balance, weights, residuals, sensitivity, plasmode).
FIGURE_GROUPS = ("curves", "diagnostics")


def build_figures(r: AnalysisResults, *, group: str | None = None) -> dict[str, Any]:
    """All figures of a run, in report order; with ``group`` (one of :data:`FIGURE_GROUPS`) only that group's.

    Text is never parsed as mathtext: covariate, level and arm labels come from users' data and config, and a
    ``$`` in them must print as a dollar sign, not start a formula (or fail to draw).
    """
    import matplotlib

    if group is not None and group not in FIGURE_GROUPS:
        raise ValueError(f"build_figures: group must be one of {list(FIGURE_GROUPS)} or None (got {group!r})")
    with matplotlib.rc_context({"text.parse_math": False}):
        figures = _build(r, group)
    # outside the context: walking the artists creates the axes' tick labels, which must format numbers as the
    # drawing does (a log axis' labels are mathtext)
    return {name: printable_figure(fig) for name, fig in figures.items()}


def _build(r: AnalysisResults, group: str | None) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    if r.config.sequential is not None:
        if group in (None, "curves"):
            _sequential(r, figs)
        return figs
    steps = ((_study, "curves"), (_multiarm, "curves"), (_causal_diagnostics, "diagnostics"),
             (_causal_curves, "curves"), (_competing, "curves"), (_sensitivity, "diagnostics"),
             (_plasmode, "diagnostics"), (_strategies, "curves"))
    for step, step_group in steps:
        if group in (None, step_group):
            step(r, figs)
    return figs


def _multiarm(r: AnalysisResults, figs: dict[str, Any]) -> None:
    if r.multiarm is not None:
        figs.update(multiarm_figures(r))


def _plasmode(r: AnalysisResults, figs: dict[str, Any]) -> None:
    if r.plasmode is not None:
        for name, fn in (("plasmode_estimates", plot_estimates), ("plasmode_coverage", plot_coverage)):
            fig, ax = new_figure(7.5, 4.5)
            fn(r.plasmode, ax=ax, arm_labels=_arm_display(r))
            figs[name] = fig


def _strategies(r: AnalysisResults, figs: dict[str, Any]) -> None:
    if r.strategies is not None:
        p = r.config.protocol
        fig, ax = new_figure(8, 5.0)
        plot_strategy_curves(r.strategies.curves, ax=ax, time_unit=p.time_unit,
                             title=f"Clone-censor-weight: strategies with a {p.strategies.grace:g}-{p.time_unit} "
                                   "grace period")
        figs["strategies"] = fig


def _arm_display(r: AnalysisResults) -> dict[str, str]:
    t = r.config.treatment
    return {a: t.label(a) for a in t.arms}


def _competing(r: AnalysisResults, figs: dict[str, Any]) -> None:
    """Cumulative incidence per cause and arm of each competing-risks outcome, unadjusted and per estimand."""
    from gistcausal.present.plots.cif import plot_cif

    cfg = r.config
    for (name, est), comp in r.competing.items():
        how = "unadjusted" if est == "none" else f"{adjustment_name(cfg)} ({est})"
        figs[f"cif_{name}_{est}"] = plot_cif(comp, title=f"{cfg.outcomes[name].label}: {how}",
                                             time_unit=cfg.time_unit, arm_display=_arm_display(r))


def _study(r: AnalysisResults, figs: dict[str, Any]) -> None:
    cfg = r.config
    k = threshold_for(cfg) or None
    fig, ax = new_figure(8.5, 1.0 + 0.85 * (len(drawn_steps(r.flow)) + 2))
    plot_flow(r.flow, ax=ax, arm_labels=_arm_display(r), suppress_below=k)
    figs["flow"] = fig
    for name, comp in r.study.items():
        fig, ax = new_figure(8, 5.6)
        plot_km(comp, ax=ax, title=cfg.outcomes[name].label, time_unit=cfg.time_unit, suppress_below=k,
                arm_display=_arm_display(r))
        figs[f"km_{name}"] = fig


def _causal_diagnostics(r: AnalysisResults, figs: dict[str, Any]) -> None:
    cfg = r.config
    opts = table1_options(cfg)
    if r.plots.overlap is not None:
        fig, ax = new_figure(7.5, 4.2)
        overlap_histogram_plot(r.plots.overlap, ax=ax)
        figs["ps_overlap"] = fig
    for est, bt in r.balance.items():
        fig, ax = new_figure(7.5, 0.3 * len(bt.to_frame()) + 1.6)
        love_plot(bt, ax=ax, threshold=cfg.analysis.balance_threshold, labels=opts["labels"],
                  level_labels=opts["level_labels"])
        figs[f"love_{est}"] = fig
        if est in r.weights:
            fig, ax = new_figure(7.5, 3.8)
            weight_histogram_plot(r.weights[est], ax=ax)
            figs[f"weights_{est}"] = fig
    if r.plots.ph_residuals is not None:
        fig, ax = new_figure(7, 4.2)
        plot_ph_residuals(r.plots.ph_residuals, ax=ax, time_unit=cfg.time_unit, title=r.plots.ph_title)
        figs["schoenfeld"] = fig


def _causal_curves(r: AnalysisResults, figs: dict[str, Any]) -> None:
    cfg = r.config
    for (name, est), comp in r.causal.items():
        fig, ax = new_figure(8, 6.2)
        plot_km(comp, ax=ax, unweighted=r.study.get(name), title=f"{cfg.outcomes[name].label}: {adjustment_name(cfg)} ({est})",
                time_unit=cfg.time_unit, suppress_below=threshold_for(cfg) or None, arm_display=_arm_display(r))
        figs[f"km_{name}_{est}"] = fig


def _sensitivity(r: AnalysisResults, figs: dict[str, Any]) -> None:
    if r.multiarm is not None:  # K arms: one grid per pair of arms, shown as tables (present.multiarm)
        return
    s = r.sensitivity
    if "evalue_hr" in s:
        fig, ax = new_figure(6.5, 5.0)
        bias_plot(s["evalue_hr"], ax=ax, benchmarks=r.plots.benchmarks)
        figs["bias_plot"] = fig
    if "tipping_grid" in s:
        fig, ax = new_figure(7.0, 4.6)
        tipping_plot(s["tipping_grid"], ax=ax)
        figs["tipping"] = fig
    for key in ("specification_grid", "specification_grid_cs_hr"):  # the second: competing-risks primary outcome
        if key not in s:
            continue
        grid = s[key]
        fig, ax = new_figure(7.5, 0.38 * len(grid.rows) + 1.4)
        forest_plot(grid, ax=ax, outcome_label=r.config.outcomes[grid.outcome].label
                    if grid.outcome in r.config.outcomes else None, time_unit=r.config.time_unit)
        figs[key] = fig
    g = r.plots.causal_graph
    if g is not None:
        fig, ax = new_figure(7.0, 0.32 * g.number_of_nodes() + 1.5)
        plot_graph(g, treatment="treatment", outcome=r.config.primary_outcome, ax=ax)
        figs["causal_graph"] = fig


def _sequential(r: AnalysisResults, figs: dict[str, Any]) -> None:
    sq = r.config.sequential
    if r.plots.sequential_curves is None:
        return
    fig, ax = new_figure(8, 5.0)
    plot_strategy_curves(r.plots.sequential_curves, ax=ax, time_unit=sq.time_unit,
                         title="Pooled Kaplan-Meier over the emulated trials")
    ax.set_ylabel("Survival probability (pooled, unadjusted)")
    figs["sequential_km"] = fig


__all__ = ["build_figures", "FIGURE_GROUPS"]
