"""Figure helpers shared by the plots: a figure outside pyplot and SVG files with the same bytes for the same
figure."""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def new_figure(width: float, height: float) -> tuple[Any, Any]:
    """A figure not registered with pyplot (so batch runs do not accumulate open figures)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()



@contextmanager
def _no_glyph_warnings() -> Iterator[None]:
    """A block in which matplotlib's "Glyph ... missing from font(s)" warnings are not shown: a label with a
    character the font lacks (an emoji in an arm label) is drawn as a box, which the figure shows; the console
    showed one warning with a source line per glyph, figure and format."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        yield


def printable_figure(fig: Any) -> Any:
    """``fig`` with every text made printable (:func:`gistcausal.present.table_model.printable_text`): a label
    from a data or config file with a control character printed a missing glyph and wrote an SVG that is not
    well-formed XML (matplotlib copies each text into an XML comment). Tick labels written by matplotlib's
    number formatters are drawn as mathtext, as they would be outside :func:`~gistcausal.present.figures.
    build_figures`' no-mathtext context (a log axis' first tick printed ``$\\mathdefault{10^{-1}}$``).
    Returns ``fig``."""
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    from gistcausal.present.table_model import printable_text

    for text in fig.findobj(Text):
        s = text.get_text()
        clean = printable_text(s)
        if clean is not s:
            text.set_text(clean)
    for ax in fig.axes:   # tick labels given as text are redrawn from their formatter at each draw
        for axis in (ax.xaxis, ax.yaxis):
            for fmt, put, ticks in ((axis.get_major_formatter(), axis.set_major_formatter, axis.majorTicks),
                                    (axis.get_minor_formatter(), axis.set_minor_formatter, axis.minorTicks)):
                if isinstance(fmt, FixedFormatter):
                    fmt.seq = [printable_text(x) for x in fmt.seq]
                elif isinstance(fmt, FuncFormatter):   # set_ticklabels(list) wraps the list in one
                    put(FuncFormatter(lambda x, pos, f=fmt: printable_text(f(x, pos))))
                else:
                    # numbers from matplotlib's own formatters ("10^0" on a log axis is mathtext): a tick made
                    # while the figure was built without mathtext (build_figures) would print its source
                    for tick in ticks:
                        tick.label1.set_parse_math(True)
                        tick.label2.set_parse_math(True)
    return fig


def tight_bbox(fig: Any, *, dpi: float = 130) -> Any:
    """The area ``savefig(bbox_inches="tight")`` saves (the figure's tight bounding box in inches, padded by
    ``savefig.pad_inches``), computed once for all the files of a figure.

    With ``"tight"`` every ``savefig`` first lays the whole figure out without rendering it to find that box;
    a figure written as PNG, SVG and the manuscript's PNG did it three times (issue 17: the figures are most of
    the time of a report). Passing this box to each ``savefig`` skips the pass: 8-16% of the CPU time of the
    report's figure files. The text is measured at ``dpi`` (the report's PNGs), as ``savefig`` measures it at the file's
    resolution; a file of another resolution or an SVG may then differ from its own tight box by a few
    hundredths of an inch of margin, well within the padding, so nothing is cropped."""
    import matplotlib

    old = fig.dpi
    fig.set_dpi(dpi)
    try:
        with _no_glyph_warnings():
            fig.draw_without_rendering()
            return fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    finally:
        fig.set_dpi(old)


def save_png(fig: Any, path: Any, *, dpi: int = 130, bbox: Any = None) -> None:
    """``fig`` as PNG at ``path`` (a path or a binary file object) cropped to ``bbox`` (default: computed at
    ``dpi``, see :func:`tight_bbox`)."""
    box = tight_bbox(fig, dpi=dpi) if bbox is None else bbox
    with _no_glyph_warnings():
        fig.savefig(path, format="png", dpi=dpi, bbox_inches=box)


def save_svg(fig: Any, path: Any, *, bbox: Any = None) -> None:
    """``fig`` as SVG at ``path`` cropped to ``bbox`` (default: computed, see :func:`tight_bbox`), the same
    bytes for the same figure: no date in the metadata and element ids from a fixed salt (matplotlib otherwise
    writes the time of saving and random ids, so two reports of the same results differed in every SVG)."""
    import matplotlib

    box = tight_bbox(fig) if bbox is None else bbox
    with matplotlib.rc_context({"svg.hashsalt": "gistcausal"}), _no_glyph_warnings():
        fig.savefig(path, format="svg", bbox_inches=box, metadata={"Date": None})


def save_figure(fig: Any, stem: Any, *, dpi: int = 130) -> Any:
    """``fig`` as ``<stem>.png`` (at ``dpi``) and ``<stem>.svg``, both cropped to one :func:`tight_bbox` (the
    figure is laid out once for both). Returns that box."""
    from pathlib import Path

    stem = Path(stem)
    box = tight_bbox(fig, dpi=dpi)   # measured at the PNG's resolution: text extents differ between resolutions
    save_png(fig, stem.with_name(stem.name + ".png"), dpi=dpi, bbox=box)
    save_svg(fig, stem.with_name(stem.name + ".svg"), bbox=box)
    return box
