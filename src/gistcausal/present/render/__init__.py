"""Renderers of :class:`~gistcausal.present.table_model.TableModel`: Word, Excel, LaTeX, HTML, Markdown, CSV.

:func:`write_table` picks the renderer from ``format`` or the file suffix.
"""
from __future__ import annotations

from pathlib import Path

from gistcausal.errors import ConfigError
from gistcausal.present.table_model import TableModel

FORMATS = ("csv", "markdown", "latex", "html", "docx", "xlsx")
SUFFIXES = {".csv": "csv", ".md": "markdown", ".tex": "latex", ".html": "html", ".htm": "html", ".docx": "docx",
            ".xlsx": "xlsx"}
_ALIASES = {"md": "markdown", "tex": "latex"}


def write_table(model: TableModel, path: str | Path, *, format: str | None = None,  # noqa: A002
                where: str = "write_table") -> Path:
    """Write ``model`` in ``format`` (one of :data:`FORMATS`, or ``md``/``tex``; default from the suffix)."""
    fmt = _ALIASES.get(format, format) if format else SUFFIXES.get(Path(path).suffix.lower())
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: format must be one of {list(FORMATS)} (got {fmt!r} for {str(path)!r}). "
                          "Pass format= or use a known suffix.")
    if fmt == "docx":
        from gistcausal.present.render.word import render_docx

        return render_docx(model, path)
    if fmt == "xlsx":
        from gistcausal.present.render.excel import render_xlsx

        return render_xlsx(model, path)
    if fmt == "latex":
        from gistcausal.present.render.latex import write_latex

        return write_latex(model, path)
    if fmt == "html":
        from gistcausal.present.render.html import write_html

        return write_html(model, path)
    from gistcausal.present.render.text import write_csv, write_markdown

    return (write_csv if fmt == "csv" else write_markdown)(model, path)


__all__ = ["write_table", "FORMATS", "SUFFIXES"]
