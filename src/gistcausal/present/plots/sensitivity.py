"""Sensitivity plots: the E-value bias curve and the HR tipping-point heatmap (ax in, ax out)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm

from gistcausal.stats.evalue import BenchmarkResult, EValueResult


def bias_plot(result: EValueResult, *, ax: Axes | None = None, benchmarks: BenchmarkResult | None = None,
              xmax: float | None = None) -> Axes:
    r"""Joint confounder strengths that would explain the estimate away (VanderWeele & Ding 2017, Fig. 1).

    Draws the curve :math:`RR_{EU} RR_{UD} / (RR_{EU} + RR_{UD} - 1) = RR` on the risk-ratio scale (the
    estimate folded to >= 1 and moved to ``true`` as in :func:`~gistcausal.stats.evalue.evalue`): every
    confounder on or above it could explain the estimate away. The E-value, where both strengths are
    equal, is marked; the curve for the confidence limit is dashed when its E-value exceeds 1.

    Parameters
    ----------
    result : EValueResult
    ax : Axes, optional
        New figure when omitted.
    benchmarks : BenchmarkResult, optional
        Measured covariates drawn as points at ``(rr_treatment, rr_outcome)``.
    xmax : float, optional
        Axis limit for both axes; default about 2.5 times the E-value.

    Returns
    -------
    Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.0))
    rr = _target_ratio(result.rr, result.rr_true)
    e = result.evalue
    top = xmax if xmax is not None else max(2.5 * e, 3.0)
    if benchmarks is not None:
        finite = benchmarks.table[["rr_treatment", "rr_outcome"]].replace(np.inf, np.nan).max().max()
        if np.isfinite(finite):
            top = max(top, 1.15 * float(finite))
    _curve(ax, rr, top, "-", f"estimate (E-value {e:.3g})", "C0")
    ax.plot([e], [e], "o", color="C0")
    ax.annotate(f"({e:.2f}, {e:.2f})", (e, e), textcoords="offset points", xytext=(8, 6), fontsize=8)
    if result.ci_limit != "none" and result.evalue_ci > 1.0:
        lim_rr = result.rr_ci_low if result.ci_limit == "lower" else result.rr_ci_high
        _curve(ax, _target_ratio(lim_rr, result.rr_true), top, "--", f"CI limit (E-value {result.evalue_ci:.3g})",
               "C1")
        ax.plot([result.evalue_ci], [result.evalue_ci], "o", color="C1", mfc="white")
    if benchmarks is not None:
        t = benchmarks.table
        x = t["rr_treatment"].clip(upper=top * 0.98)
        ax.scatter(x, t["rr_outcome"], marker="s", color="0.35", zorder=3, label="measured covariates")
        for xi, yi, name in zip(x, t["rr_outcome"], t["covariate"]):
            ax.annotate(str(name), (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7, color="0.25")
    ax.set_xlim(1, top)
    ax.set_ylim(1, top)
    ax.set_xlabel("RR(EU): confounder-treatment risk ratio")
    ax.set_ylabel("RR(UD): confounder-outcome risk ratio")
    ax.set_title("Confounding that would explain away the estimate", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    return ax


def _target_ratio(rr: float, rr_true: float) -> float:
    """Bias factor needed to move ``rr`` to ``rr_true``, folded to >= 1."""
    r = rr / rr_true
    return 1.0 / r if r < 1 else r


def _curve(ax: Axes, rr: float, top: float, style: str, label: str, color: str) -> None:
    if not math.isfinite(rr) or rr <= 1.0:
        return
    # On the curve RR_UD = RR (RR_EU - 1) / (RR_EU - RR), defined for RR_EU > RR (EValue::bias_plot).
    x = np.linspace(rr * (1 + 1e-6), top, 400)
    y = rr * (x - 1.0) / (x - rr)
    keep = y <= top
    ax.plot(x[keep], y[keep], style, color=color, label=label)


def tipping_plot(grid: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Heatmap of adjusted HRs from :func:`~gistcausal.stats.evalue.tipping_point_grid`.

    Rows are prevalence pairs (treated / control), columns the confounder-outcome HR ``gamma``; colour is
    the adjusted HR on a log scale centred on 1, and cells whose adjusted CI includes 1 are marked with a dot.

    Parameters
    ----------
    grid : pandas.DataFrame
        Output of ``tipping_point_grid``.
    ax : Axes, optional
        New figure when omitted.

    Returns
    -------
    Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.0))
    g = grid.assign(pair=[f"{a:.0%} / {b:.0%}" for a, b in zip(grid["p_treated"], grid["p_control"])])
    pairs = list(dict.fromkeys(g["pair"]))
    gammas = sorted(g["gamma"].unique())
    hr = g.pivot_table(index="pair", columns="gamma", values="hr_adj", sort=False).reindex(index=pairs, columns=gammas)
    inc = g.pivot_table(index="pair", columns="gamma", values="ci_includes_null", sort=False,
                        aggfunc="max").reindex(index=pairs, columns=gammas)
    vals = np.log(hr.to_numpy(dtype=float))
    span = max(float(np.nanmax(np.abs(vals))), 1e-3)
    mesh = ax.imshow(vals, cmap="RdBu_r", norm=TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span), aspect="auto")
    cbar = ax.figure.colorbar(mesh, ax=ax)
    ticks = np.linspace(-span, span, 5)
    cbar.set_ticks(ticks)
    cbar.set_ticklabels([f"{math.exp(v):.2f}" for v in ticks])
    cbar.set_label("adjusted HR")
    for i in range(len(pairs)):
        for j in range(len(gammas)):
            dark = abs(vals[i, j]) > 0.6 * span  # white text on the saturated ends of the colour map
            ax.text(j, i, f"{hr.iat[i, j]:.2f}" + (" •" if bool(inc.iat[i, j]) else ""), ha="center", va="center",
                    fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(len(gammas)), [f"{v:g}" for v in gammas])
    ax.set_yticks(range(len(pairs)), pairs)
    ax.set_xlabel("confounder-outcome HR (gamma)")
    ax.set_ylabel("prevalence treated / control")
    ax.set_title("Adjusted HR (• = CI includes 1)", fontsize=10)
    return ax


__all__ = ["bias_plot", "tipping_plot"]
