"""HTML rendering of a :class:`~gistcausal.present.table_model.TableModel` for the report and for ``.html``
exports: ``<caption>``, a two- or three-row ``<thead>`` (spanning headers with ``colspan`` and a short rule
under each, labels, sub-labels), indented level rows, footnotes in ``<tfoot>``; booktabs rules in CSS scoped
to ``table.gc-table`` so it does not leak into the page. Every text is escaped.
"""
from __future__ import annotations

import html
from pathlib import Path

from gistcausal.present.table_model import TableModel

TABLE_CSS = """
table.gc-table{border-collapse:collapse;font:inherit;font-size:0.9em;margin:0.5em 0 1em 0;
  border-top:2px solid #000;font-variant-numeric:tabular-nums}
table.gc-table tbody tr:last-child td{border-bottom:2px solid #000}
table.gc-table tbody td{vertical-align:top}
table.gc-table caption{caption-side:top;text-align:left;padding:0 0 0.4em 0;font-weight:normal}
table.gc-table caption b{font-weight:bold}
table.gc-table th,table.gc-table td{padding:0.18em 0.7em;text-align:center;vertical-align:bottom;border:0}
table.gc-table th{font-weight:bold}
table.gc-table th.stub,table.gc-table td.stub{text-align:left}
table.gc-table thead tr.labels th,table.gc-table thead tr.sub th{border-bottom:0}
table.gc-table thead tr:last-child th{border-bottom:1px solid #000}
table.gc-table th.spanner span{display:block;border-bottom:1px solid #000;padding-bottom:0.1em}
table.gc-table thead tr.sub th{font-weight:normal;font-size:0.92em;color:#222}
table.gc-table td.indent1{padding-left:1.9em}
table.gc-table tbody tr.variable td.stub{font-weight:normal}
table.gc-table tfoot td{text-align:left;font-size:0.85em;padding-top:0.4em;border-top:0;line-height:1.35}
"""


def render_html(model: TableModel, *, css: bool = True) -> str:
    """An HTML fragment: the ``<table>`` (with the scoped ``<style>`` block first when ``css``)."""
    model = model.printable()
    e = html.escape
    ncol = len(model.columns)
    head: list[str] = []
    sub = model.has_sublabels
    if model.has_groups:
        cells = []
        for group, a, b in model.groups:
            if group is None:
                cells += ['<th></th>'] * (b - a + 1)
            else:
                cells.append(f'<th class="spanner" colspan="{b - a + 1}"><span>{e(group)}</span></th>')
        head.append('<tr class="groups">' + "".join(cells) + "</tr>")
    head.append('<tr class="labels">' + "".join(
        f'<th class="{"stub" if j == 0 else "stat"}">{e(c.label)}</th>' for j, c in enumerate(model.columns)) + "</tr>")
    if sub:
        head.append('<tr class="sub">' + "".join(
            f'<th class="{"stub" if j == 0 else "stat"}">{e(c.sublabel)}</th>'
            for j, c in enumerate(model.columns)) + "</tr>")
    body = []
    for row in model.rows:
        stub = f'<td class="stub indent{row.indent}">{e(row.stub)}</td>'
        body.append(f'<tr class="{row.kind}">' + stub + "".join(f"<td>{e(c.text)}</td>" for c in row.cells) + "</tr>")
    foot = ""
    if model.footnotes:
        foot = f'<tfoot><tr><td colspan="{ncol}">' + "<br>".join(e(n) for n in model.footnotes) + "</td></tr></tfoot>"
    caption = ""
    if model.caption and model.number is None:
        caption = f"<caption><b>{e(model.caption)}</b></caption>"
    elif model.caption:
        caption = f"<caption><b>{e(model.label)} {model.number}.</b> {e(model.caption)}</caption>"
    table = (f'<table class="gc-table">{caption}<thead>{"".join(head)}</thead>'
             f'<tbody>{"".join(body)}</tbody>{foot}</table>')
    return (f"<style>{TABLE_CSS}</style>" if css else "") + table


def write_html(model: TableModel, path: str | Path) -> Path:
    """A complete HTML page holding the table."""
    model = model.printable()
    title = html.escape(model.title or "Table")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            '<style>body{font-family:Calibri,Carlito,"Segoe UI",Arial,sans-serif;margin:1.5em;color:#000}</style>'
            f"</head><body>\n{render_html(model)}\n</body></html>\n")
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)


__all__ = ["render_html", "write_html", "TABLE_CSS"]
