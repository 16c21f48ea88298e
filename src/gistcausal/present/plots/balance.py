"""Balance and overlap plots: Love plot, mirrored propensity-score histograms, weight distribution.

Each function takes an ``ax`` (a new figure is made when omitted) and returns it; the numbers come from the
statistics modules (:mod:`gistcausal.stats.balance`, :mod:`gistcausal.stats.weights`), nothing is computed here beyond
histogram bins.
"""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from gistcausal.errors import DataError


def love_plot(balance_table, *, ax: Axes | None = None, threshold: float = 0.1, absolute: bool = True,
              labels: Mapping[str, str] | None = None,
              level_labels: Mapping[str, Mapping[Any, str]] | None = None) -> Axes:
    """Love plot: |SMD| per covariate and level before and after weighting, with a threshold line.

    Rows follow the balance table's covariate order (the config's, as cobalt's default ``var.order``); the
    levels of a categorical covariate are grouped, indented, under a heading row with the covariate's label,
    and a two-level covariate takes one row ("Sex: Male").

    Parameters
    ----------
    balance_table : BalanceTable
        From :func:`gistcausal.stats.balance.balance_table`.
    ax : Axes, optional
    threshold : float, default=0.1
        Dashed vertical line(s) at the balance threshold.
    absolute : bool, default=True
        Plot absolute SMDs.
    labels : mapping of str to str, optional
        Display names of the covariates.
    level_labels : mapping of covariate to {level code: label}, optional
    """
    labels = dict(labels or {})
    level_labels = {c: {str(k): v for k, v in m.items()} for c, m in (level_labels or {}).items()}
    tab = balance_table.table.copy()
    ticks: list[str] = []
    heading: list[bool] = []
    y = np.full(len(tab), np.nan)
    for cov, idx in tab.groupby("covariate", sort=False).groups.items():
        name = labels.get(cov, cov)
        lv = tab.loc[idx, "level"].astype(str).tolist()
        lab = [level_labels.get(cov, {}).get(v, v) for v in lv]
        if len(idx) == 1:
            y[tab.index.get_indexer(idx)] = len(ticks)
            ticks.append(f"{name}: {lab[0]}" if lv[0] else name)
            heading.append(False)
            continue
        ticks.append(name)
        heading.append(True)
        for k, pos in enumerate(tab.index.get_indexer(idx)):
            y[pos] = len(ticks)
            ticks.append("    " + lab[k])
            heading.append(False)
    tab["y"] = y
    cols = {"smd_un": "Unweighted"}
    if "smd_w" in tab.columns:
        cols["smd_w"] = "Weighted"
    long = tab.melt(id_vars="y", value_vars=list(cols), var_name="sample", value_name="smd")
    long["sample"] = long["sample"].map(cols)
    if absolute:
        long["smd"] = long["smd"].abs()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 1.2 + 0.3 * len(ticks)))
    for k, is_head in enumerate(heading):
        if not is_head and k % 2 == 0:
            ax.axhspan(k - 0.5, k + 0.5, color="#f2f2f2", zorder=0, lw=0)
    sns.scatterplot(data=long, x="smd", y="y", hue="sample", style="sample", s=55, ax=ax, zorder=3,
                    hue_order=list(cols.values()), style_order=list(cols.values()),
                    palette=["#9a9a9a", "#1f5fa8"][: len(cols)])
    ax.set_yticks(range(len(ticks)))
    ax.set_yticklabels(ticks)
    for tick, is_head in zip(ax.get_yticklabels(), heading):
        if is_head:
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(len(ticks) - 0.5, -0.5)
    for x in ([threshold] if absolute else [-threshold, threshold]):
        ax.axvline(x, ls="--", color="#b03030", lw=1)
    ax.axvline(0, color="#444444", lw=0.8)
    binary_raw = getattr(balance_table, "binary", "raw") == "raw" and (tab["type"] == "binary").any()
    what = "standardized mean differences"
    ax.set_xlabel(("Absolute " if absolute else "") + what +
                  (" (levels: difference in proportions)" if binary_raw else ""))
    ax.set_ylabel("")
    # Legend above the axes: inside it would hide the largest SMDs, which sit at the right edge.
    ax.legend(title="", loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(cols), frameon=False,
              borderaxespad=0.2)
    ax.set_title(f"Covariate balance ({getattr(balance_table, 'estimand', '')})", loc="left")
    return ax


def overlap_plot(ps, treatment, *, weights=None, ax: Axes | None = None, bins: int = 30,
                 arm_labels: tuple[str, str] = ("treated", "control")) -> Axes:
    """Mirrored histogram of propensity scores: treated above, control below the axis.

    With ``weights`` the weighted histograms are drawn as outlines over the unweighted (filled) ones, both
    as densities so their shapes compare.
    """
    e = np.asarray(ps, dtype=float)
    t = np.asarray(treatment)
    if e.shape != t.shape:
        raise DataError(f"overlap_plot: ps and treatment must have equal length (got {e.shape} and {t.shape}). "
                        "Pass one score per patient.")
    w = None if weights is None else np.asarray(getattr(weights, "weights", weights), dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    edges = np.linspace(0, 1, bins + 1)
    width = edges[1] - edges[0]
    for code, sign, color, name in ((1, 1, "#1f5fa8", arm_labels[0]), (0, -1, "#d9822b", arm_labels[1])):
        m = t == code
        h, _ = np.histogram(e[m], bins=edges, density=True)
        ax.bar(edges[:-1], sign * h, width=width, align="edge", color=color, alpha=0.45, label=f"{name}")
        if w is not None:
            hw, _ = np.histogram(e[m], bins=edges, weights=w[m], density=True)
            ax.step(edges, sign * np.r_[hw, hw[-1]], where="post", color=color, lw=1.6, label=f"{name}, weighted")
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xlim(0, 1)
    ticks = ax.get_yticks()
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{abs(v):g}" for v in ticks])
    ax.set_xlabel("Propensity score")
    ax.set_ylabel("Density (treated up, control down)")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def weight_plot(weight_result, *, treatment=None, ax: Axes | None = None, bins: int = 40) -> Axes:
    """Histogram of the weights of kept patients (log x-axis), by arm when ``treatment`` is given; the
    title gives each arm's Kish ESS from the diagnostics."""
    w = np.asarray(weight_result.weights, dtype=float)
    kept = np.asarray(weight_result.kept, dtype=bool)
    diag = weight_result.diagnostics.set_index("arm")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    frame = pd.DataFrame({"weight": w[kept]})
    if treatment is not None:
        t = np.asarray(treatment)
        if t.shape != w.shape:
            raise DataError(f"weight_plot: treatment must have one value per weight (got {t.shape} for "
                            f"{w.shape}). Pass the treatment used for compute_weights.")
        frame["arm"] = np.where(t[kept] == 1, "treated", "control")
        sns.histplot(frame, x="weight", hue="arm", hue_order=["treated", "control"], bins=bins, log_scale=True,
                     ax=ax, element="step", palette=["#1f5fa8", "#d9822b"])
    else:
        sns.histplot(frame, x="weight", bins=bins, log_scale=True, ax=ax, color="#1f5fa8")
    ess = ", ".join(f"{a}: ESS {diag.loc[a, 'ess']:.1f} of {diag.loc[a, 'n']}" for a in ("treated", "control"))
    ax.set_title(f"Weights ({weight_result.estimand}); {ess}", fontsize=9)
    ax.set_xlabel("Weight (log scale)")
    ax.set_ylabel("Patients")
    return ax


def overlap_histogram_plot(hist: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Mirrored propensity-score densities from a binned histogram (first arm above, second below the axis).

    ``hist`` has columns ``arm``, ``bin_low``, ``bin_high``, ``value`` (a density), as
    :func:`gistcausal.results.histogram_by_arm` makes it; no patient-level scores are needed.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    for (name, g), sign, color in zip(hist.groupby("arm", sort=False), (1, -1), ("#1f5fa8", "#d9822b")):
        ax.bar(g["bin_low"], sign * g["value"], width=(g["bin_high"] - g["bin_low"]).to_numpy(), align="edge",
               color=color, alpha=0.45, label=str(name))
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xlim(0, 1)
    ticks = ax.get_yticks()
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{abs(v):g}" for v in ticks])
    ax.set_xlabel("Propensity score")
    names = list(dict.fromkeys(hist["arm"]))
    ax.set_ylabel(f"Density ({names[0]} up, {names[-1]} down)" if names else "Density")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def weight_histogram_plot(summary: Any, *, ax: Axes | None = None) -> Axes:
    """Histogram of the weights of kept patients on a log axis, from a
    :class:`~gistcausal.results.WeightSummary` (binned counts and per-arm ESS), no per-patient weights."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    h = summary.histogram
    ax.bar(h["bin_low"], h["count"], width=(h["bin_high"] - h["bin_low"]).to_numpy(), align="edge",
           color="#1f5fa8", alpha=0.6, edgecolor="#1f5fa8")
    ax.set_xscale("log")
    diag = summary.diagnostics.set_index("arm")
    ess = ", ".join(f"{a}: ESS {diag.loc[a, 'ess']:.1f} of {diag.loc[a, 'n']}" for a in ("treated", "control")
                    if a in diag.index)
    ax.set_title(f"Weights ({summary.estimand}); {ess}", fontsize=9)
    ax.set_xlabel("Weight (log scale)")
    ax.set_ylabel("Patients")
    return ax


__all__ = ["love_plot", "overlap_plot", "weight_plot", "overlap_histogram_plot", "weight_histogram_plot"]
