"""Markdown and CSV renderings of a :class:`~gistcausal.present.table_model.TableModel`.

Both are flat: a spanning header becomes a prefix of each column name ("Weighted (ATE): Treated, n = 72.3,
ESS = 66.9"). Markdown keeps the caption, indented levels and footnotes; CSV has ``variable`` and ``level``
columns instead of indentation, and the footnotes are left out so the file stays a rectangle.
"""
from __future__ import annotations

from pathlib import Path

from gistcausal.present.table_model import TableModel

_INDENT = "&nbsp;&nbsp;&nbsp;&nbsp;"


def render_markdown(model: TableModel) -> str:
    """GitHub-flavoured pipe table with the caption above and the footnotes below (pipes escaped)."""
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    head = [model.columns[0].label] + [model.header_text(c) for c in model.stat_columns]
    align = [":---"] + [":---:"] * (len(head) - 1)
    lines = ([f"**{esc(model.title)}**", ""] if model.caption else []) + \
        ["| " + " | ".join(esc(h) for h in head) + " |", "| " + " | ".join(align) + " |"]
    for row in model.rows:
        stub = _INDENT * row.indent + esc(row.stub)
        lines.append("| " + " | ".join([stub] + [esc(c.text) for c in row.cells]) + " |")
    if model.footnotes:
        lines += [""] + [esc(n) + "  " for n in model.footnotes]
    return "\n".join(lines) + "\n"


def write_markdown(model: TableModel, path: str | Path) -> Path:
    Path(path).write_text(render_markdown(model), encoding="utf-8")
    return Path(path)


def write_csv(model: TableModel, path: str | Path) -> Path:
    """UTF-8 CSV of :meth:`TableModel.to_frame` (variable, level, one text column per statistic column)."""
    model.to_frame().to_csv(path, index=False)
    return Path(path)


__all__ = ["render_markdown", "write_markdown", "write_csv"]
