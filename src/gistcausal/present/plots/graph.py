"""The causal graph assumed by the analysis (baseline covariates -> treatment and outcome)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx
from matplotlib.axes import Axes


def plot_graph(graph: nx.DiGraph, *, treatment: str, outcome: str, ax: Axes | None = None) -> Axes:
    """Covariates in a column on the left, treatment and outcome on the right; edges as arrows."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * graph.number_of_nodes() + 2))
    covs = [n for n in graph.nodes if n not in (treatment, outcome)]
    pos = {c: (0.0, -i) for i, c in enumerate(covs)}
    mid = -(len(covs) - 1) / 2 if covs else 0.0
    pos[treatment] = (1.0, mid + 1.0)
    pos[outcome] = (1.6, mid - 1.0)
    colors = ["#eef3fb" if n in (treatment, outcome) else "#f6f6f6" for n in graph.nodes]
    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="#9aa5b1", arrows=True, arrowsize=8, width=0.7,
                           node_size=600)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colors, node_size=600, edgecolors="#555555")
    nx.draw_networkx_labels(graph, {k: (x - 0.03, y) if k in covs else (x, y) for k, (x, y) in pos.items()}, ax=ax,
                            font_size=7, horizontalalignment="right", labels={c: c for c in covs})
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=8, labels={treatment: treatment, outcome: outcome})
    ax.set_xlim(-1.3, 2.0)
    ax.axis("off")
    ax.set_title("Assumed causal graph (back-door adjustment for the baseline covariates)", fontsize=9, loc="left")
    return ax
