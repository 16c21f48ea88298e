"""Excel rendering of a :class:`~gistcausal.present.table_model.TableModel` (openpyxl).

Numbers are stored as numbers with number formats, never as text: a count and its percentage ("43 (59.7)")
fill two adjacent cells under the arm's merged header, the count formatted ``0`` and the percentage
``(0.0)``, so the sheet reads like the printed table and can still be summed or re-rounded. p-values use
``[<0.001]"<0.001";0.000``; SMDs ``0.00`` (``0.000`` in the balance detail). Caption on top, footnotes
below on the same sheet, header frozen, column widths set. Text is stored as text, never as a formula.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from gistcausal.present.table_model import TableModel, printable_text

_THICK, _THIN = Side(style="medium", color="000000"), Side(style="thin", color="000000")
# Body cells' alignments, made once: building an openpyxl style object per cell was a third of the time of
# writing a report's workbooks (issue 17); the workbook stores the same styles either way.
_BODY = {"right": Alignment(horizontal="right"), "left": Alignment(horizontal="left"),
         "center": Alignment(horizontal="center")}


def _put(ws: Any, row: int, col: int, value: Any) -> Any:
    """``ws.cell(row, col, value)`` with text always stored as text: openpyxl stores a string that starts with
    ``=`` as a formula, so a label or level from a config or data file (``=HYPERLINK(...)``) would run when the
    workbook is opened. Numbers stay numbers."""
    cell = ws.cell(row, col, value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def render_xlsx(model: TableModel, path: str | Path, *, sheet: str = "Table") -> Path:
    """Write ``model`` as a workbook with one sheet (see the module docstring). Text cells are text, never
    formulas, whatever they start with."""
    model = model.printable()   # control characters from a data or config file cannot be written to XML
    wb = Workbook()
    ws = wb.active
    ws.title = printable_text(sheet)[:31]
    # Sheet column of each model column: the stub is column 1; each column takes `width` sub-columns.
    start = [1]
    for col in model.columns[:-1]:
        start.append(start[-1] + max(col.width, 1))
    last_col = start[-1] + max(model.columns[-1].width, 1) - 1
    r = 1
    if model.caption:
        _put(ws, r, 1, model.title).font = Font(bold=True)
        r += 2
    top = r
    if model.has_groups:
        for group, a, b in model.groups:
            if group is None:
                continue
            c0, c1 = start[a], start[b] + model.columns[b].width - 1
            _put(ws, r, c0, group)
            if c1 > c0:
                ws.merge_cells(start_row=r, start_column=c0, end_row=r, end_column=c1)
            for c in range(c0, c1 + 1):
                ws.cell(r, c).border = Border(bottom=_THIN)
        r += 1
    for j, col in enumerate(model.columns):
        c0, c1 = start[j], start[j] + col.width - 1
        text = col.label + ("\n" + col.sublabel if col.sublabel else "")
        _put(ws, r, c0, text)
        if c1 > c0:
            ws.merge_cells(start_row=r, start_column=c0, end_row=r, end_column=c1)
    head_last = r
    for rr in range(top, head_last + 1):
        for c in range(1, last_col + 1):
            cell = ws.cell(rr, c)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="left" if c == 1 else "center", vertical="bottom", wrap_text=True)
            edges = {"top": _THICK} if rr == top else {}
            if rr == head_last:
                edges["bottom"] = _THIN
            elif cell.border.bottom is not None and cell.border.bottom.style:
                edges["bottom"] = cell.border.bottom
            cell.border = Border(**edges)
    if model.has_sublabels:
        ws.row_dimensions[head_last].height = 30
    r = head_last + 1
    for mrow in model.rows:
        stub = _put(ws, r, 1, mrow.stub)
        stub.alignment = Alignment(indent=2 * mrow.indent)
        for j, (col, cell) in enumerate(zip(model.stat_columns, mrow.cells), start=1):
            c0 = start[j]
            parts = cell.parts or ((cell.text, None),) if cell.text else ()
            for k, (value, fmt) in enumerate(parts[: max(col.width, 1)]):
                xc = _put(ws, r, c0 + k, value)
                if fmt and not isinstance(value, str):
                    xc.number_format = fmt
                # The first part of a two-part cell is right-aligned against its bracketed second part.
                xc.alignment = _BODY["right" if col.width > 1 and k == 0 else "left" if col.width > 1 else "center"]
        r += 1
    for c in range(1, last_col + 1):
        ws.cell(r - 1, c).border = Border(bottom=_THICK)
    r += 1
    for note in model.footnotes:
        _put(ws, r, 1, note).alignment = Alignment(wrap_text=False)
        r += 1
    ws.freeze_panes = ws.cell(head_last + 1, 2)
    stub_chars = max([len(x.stub) + 2 * x.indent for x in model.rows] + [len(model.columns[0].label), 12])
    ws.column_dimensions["A"].width = min(stub_chars + 2, 60)
    for j, col in enumerate(model.stat_columns, start=1):
        texts = [x.cells[j - 1].text for x in model.rows]
        longest = max([len(t) for t in texts] + [len(col.label), len(col.sublabel), 6])
        if col.width > 1:
            each = max(8, (longest + 2) / col.width)
            for k in range(col.width):
                ws.column_dimensions[get_column_letter(start[j] + k)].width = each
        else:
            ws.column_dimensions[get_column_letter(start[j])].width = min(longest + 3, 40)
    wb.save(str(path))
    return Path(path)


__all__ = ["render_xlsx"]
