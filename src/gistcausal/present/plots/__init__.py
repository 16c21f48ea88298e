

from typing import Any


def new_figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure not registered with pyplot (so batch runs do not accumulate open figures)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()

