"""Figure helpers shared by the plots: a figure outside pyplot and SVG files with the same bytes for the same
figure."""
from __future__ import annotations

from typing import Any


def new_figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure not registered with pyplot (so batch runs do not accumulate open figures)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()



def save_svg(fig: Any, path: Any) -> None:
    """``fig`` as SVG at ``path``, the same bytes for the same figure: no date in the metadata and element ids
    from a fixed salt (matplotlib otherwise writes the time of saving and random ids, so two reports of the
    same results differed in every SVG)."""
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "gistcausal"}):
        fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
