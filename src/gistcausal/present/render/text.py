"""Markdown and CSV renderings of a :class:`~gistcausal.present.table_model.TableModel`.

Both are flat: a spanning header becomes a prefix of each column name ("Weighted (ATE): Treated, n = 72.3,
ESS = 66.9"). Markdown keeps the caption, indented levels and footnotes; CSV has ``variable`` and ``level``
columns instead of indentation, and the footnotes are left out so the file stays a rectangle.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from gistcausal.present.table_model import TableModel

_INDENT = "&nbsp;&nbsp;&nbsp;&nbsp;"


#: the start of an HTML tag, comment or declaration in Markdown (CommonMark: "<" then a letter, "/", "!" or "?")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def markdown_text(text: object) -> str:
    """``text`` for a Markdown file: a ``<`` that would open an HTML tag is written ``&lt;``, so a label such
    as ``<script>`` from a config or data file is shown, not run, by a Markdown viewer (``<5``, a suppressed
    count, stays as it is)."""
    return _TAG_START.sub("&lt;", str(text))


def render_markdown(model: TableModel) -> str:
    """GitHub-flavoured pipe table with the caption above and the footnotes below (pipes escaped, HTML tags
    shown as text: :func:`markdown_text`)."""
    model = model.printable()
    esc = lambda s: markdown_text(s).replace("|", "\\|")  # noqa: E731
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
    return write_frame_csv(model.to_frame(), path)


#: first characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


#: a signed number as a table prints it, alone or with its interval or spread: "-1.2", "-1.2 (0.5)",
#: "-0.30 (-0.52 to -0.08)", "+3%"; digits, signs, separators, brackets, dashes and "to" only
_SIGNED_NUMBER = re.compile(r"[-+][\d.,]+(?:[\s()\[\]%–\-+.,\d]|to)*")


def is_formula_text(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula that can reach outside the sheet: it starts with
    ``=``, ``@``, a tab or a carriage return, or with ``-`` or ``+`` and is more than a signed number as tables
    print it ("-1.2", "-1.2 (0.5)" and "-0.3 (-0.5 to -0.1)" are numbers; "-2+3+cmd|' /C calc'!A0" is not)."""
    if not text or not text.startswith(_FORMULA_START):
        return False
    if text[0] in "-+":
        return _SIGNED_NUMBER.fullmatch(text) is None
    return True


def spreadsheet_text(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula
    (:func:`is_formula_text`): a level, label or name from a config or data file such as
    ``=HYPERLINK("http://...")`` is then shown as text when the CSV is opened in Excel or LibreOffice, never
    evaluated. Other values are returned unchanged."""
    return "'" + value if isinstance(value, str) and is_formula_text(value) else value


def write_frame_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """``df`` as UTF-8 CSV without its index, text cells and column names made safe for spreadsheets
    (:func:`spreadsheet_text`); numbers are written as they are."""
    out = df.rename(columns=lambda c: spreadsheet_text(c) if isinstance(c, str) else c)
    text_cols = [c for c in out.columns if out[c].dtype == object]
    if text_cols:
        out = out.copy()
        for c in text_cols:
            out[c] = out[c].map(spreadsheet_text)
    out.to_csv(path, index=False)
    return Path(path)


__all__ = ["render_markdown", "write_markdown", "write_csv", "write_frame_csv", "spreadsheet_text",
           "is_formula_text", "markdown_text"]
