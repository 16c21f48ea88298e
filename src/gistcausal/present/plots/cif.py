"""Cumulative incidence curves of competing risks, one panel per cause, one step curve per arm with its
pointwise confidence band.

Compute-then-plot: everything drawn comes from a
:class:`~gistcausal.stats.competing.CompetingRisksComparison`'s ``curves`` (Aalen-Johansen estimates at the
distinct event times, weighted or not); nothing is estimated here.
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from gistcausal.present.plots.km import _COLORS, thin_steps


def plot_cif(comp: Any, *, title: str = "", time_unit: str = "months", arm_display: dict[str, str] | None = None,
             ) -> Figure:
    """A figure with one panel per cause: the cumulative incidence of that cause in each arm, from 0 at time 0.

    Parameters
    ----------
    comp : CompetingRisksComparison
    title : str
    time_unit : str
        Label of the time axis.
    arm_display : dict, optional
        Arm code -> label for the legend.
    """
    curves = comp.curves
    labels = dict(zip(comp.causes, comp.cause_labels))
    n = max(len(comp.causes), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.2), squeeze=False, sharey=True)
    arm_display = arm_display or {}
    top = 0.0
    for ax, cause in zip(axes[0], comp.causes):
        for i, arm in enumerate(comp.arm_labels[::-1]):  # treated first, as in the KM figures
            g = thin_steps(curves[(curves["cause"] == cause) & (curves["arm"] == arm)].sort_values("time"),
                           columns=("cif", "ci_low", "ci_high"))
            if g.empty:
                continue
            tt = np.r_[0.0, g["time"].to_numpy(float)]
            color = _COLORS[i % len(_COLORS)]
            ax.step(tt, np.r_[0.0, g["cif"].to_numpy(float)], where="post", color=color, lw=2.0,
                    label=arm_display.get(arm, arm))
            lo, hi = np.r_[0.0, g["ci_low"].to_numpy(float)], np.r_[0.0, g["ci_high"].to_numpy(float)]
            ax.fill_between(tt, lo, hi, step="post", color=color, alpha=0.15, lw=0)
            top = max(top, float(np.nanmax(hi)))
        ax.set_title(labels.get(cause, str(cause)), fontsize=10)
        ax.set_xlabel(f"Time ({time_unit})")
        ax.grid(alpha=0.25)
    axes[0][0].set_ylabel("Cumulative incidence")
    axes[0][0].set_ylim(0, min(1.0, max(0.05, top * 1.08)))
    axes[0][-1].legend(frameon=False, fontsize=9, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


__all__ = ["plot_cif"]
