"""Word rendering of a :class:`~gistcausal.present.table_model.TableModel` (python-docx).

The journal layout (APA / most medical journals, and flextable's ``theme_booktabs`` that gtsummary exports
through): three horizontal rules (above the header, below the header, below the body), no vertical lines,
bold header, spanning headers with a short rule under each, variable names once with indented levels, a
numbered caption above (a Word ``SEQ Table`` field, so Word renumbers tables and lists them) and the
footnotes below. Text uses paragraph styles derived from the document's Normal style ("Table Text",
"Table Heading", "Table Note", and the built-in "Caption"), so the table follows the document's font. Tables
wider than the portrait text width get a landscape section.
"""
from __future__ import annotations

import io
import re
from copy import deepcopy
from functools import lru_cache
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT, WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches, Pt
from docx.text.paragraph import Paragraph

from gistcausal.present.table_model import TableModel

FONT = "Calibri"
RULE_OUTER = 12  # eighths of a point: 1.5 pt top and bottom rules (booktabs \toprule/\bottomrule)
RULE_INNER = 6   # 0.75 pt below the header (\midrule) and under spanning headers (\cmidrule)


def _styles(doc) -> None:
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(10)
    # East-Asian font slot too, so Word does not substitute another face in CJK locales.
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    for name, size, bold in (("Table Text", 9, False), ("Table Heading", 9, True), ("Table Note", 8, False)):
        st = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        st.base_style = normal
        st.font.size = Pt(size)
        st.font.bold = bold
        st.paragraph_format.space_before = Pt(0)
        st.paragraph_format.space_after = Pt(0 if name != "Table Note" else 2)
        st.paragraph_format.line_spacing = 1.0
    cap = doc.styles["Caption"]
    cap.font.size = Pt(10)
    cap.font.bold = True
    cap.font.italic = False
    cap.font.color.rgb = None
    cap.paragraph_format.space_after = Pt(4)
    cap.paragraph_format.keep_with_next = True


# Schema order of the children that may follow the borders element (Word rejects out-of-order children).
_AFTER = {"w:tblBorders": ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption"),
          "w:tcBorders": ("w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign",
                          "w:hideMark")}


def _border(tc_or_tbl_pr, tag: str, edges: dict[str, int]) -> None:
    box = tc_or_tbl_pr.find(qn(tag))
    if box is None:
        box = OxmlElement(tag)
        nxt = next((c for c in tc_or_tbl_pr if c.tag in {qn(t) for t in _AFTER[tag]}), None)
        if nxt is None:
            tc_or_tbl_pr.append(box)
        else:
            nxt.addprevious(box)
    else:
        for child in list(box):
            if child.tag in {qn(f"w:{e}") for e in edges}:
                box.remove(child)
    for edge, size in edges.items():
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "single" if size else "nil")
        if size:
            el.set(qn("w:sz"), str(size))
            el.set(qn("w:space"), "0")
            el.set(qn("w:color"), "000000")
        box.append(el)
    order = {qn(f"w:{e}"): k for k, e in enumerate(("top", "left", "bottom", "right", "insideH", "insideV"))}
    for child in sorted(box, key=lambda c: order.get(c.tag, 99)):
        box.append(child)  # re-appending moves it: children end up in schema order


def _cell_bottom(cell, size: int) -> None:
    _border(cell._tc.get_or_add_tcPr(), "w:tcBorders", {"bottom": size})


def _row_flag(row, tag: str) -> None:
    """``w:tblHeader`` (repeat the row on each page) or ``w:cantSplit`` (keep the row on one page)."""
    el = OxmlElement(tag)
    el.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(el)


def _caption(doc, model: TableModel) -> None:
    p = doc.add_paragraph(style="Caption")
    if model.number is None:   # unnumbered: a data table exported for people
        p.add_run(model.caption)
        return
    p.add_run(f"{model.label} ")
    # SEQ field: Word numbers the table itself and can build a list of tables; the cached result is the number.
    for kind, text in (("begin", None), ("instr", f" SEQ {model.label} \\r {model.number} \\* ARABIC "), ("separate", None),
                       ("text", str(model.number)), ("end", None)):
        run = p.add_run()
        if kind == "instr":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = text
            run._r.append(el)
        elif kind == "text":
            run.text = text
        else:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
            run._r.append(el)
    p.add_run(f". {model.caption}")


#: Average Calibri character width in inches per point of text (digits 0.507 em, space and brackets less).
CHAR_IN = 0.0062
#: A wider character (0.56 em) for the narrowest a column may be: a substitute font (DejaVu Sans) sets wider.
WIDE_CHAR_IN = 0.0078
#: Word's default cell margins, left + right, in inches.
CELL_PAD_IN = 0.2

#: Cells with a digit up to this many characters are never wrapped (numbers, intervals); text wraps at spaces.
SHORT_CELL = 18


def _floors(model: TableModel, size: float) -> list[float]:
    """Narrowest width in inches of each statistic column: its short cells with a number (up to
    :data:`SHORT_CELL` characters: "0.87 (0.80 to 0.93)") whole, its other cells' and its header's longest
    word. Measured with :data:`WIDE_CHAR_IN` rather than :func:`_widths`' Calibri average (headers, bold, a fifth
    wider again), so that a word processor that substitutes a wider font does not break "Time" or "0.009" in two."""
    char, pad = WIDE_CHAR_IN * size, CELL_PAD_IN
    out = []
    for j, col in enumerate(model.stat_columns):
        texts = [r.cells[j].text for r in model.rows]
        longest = max([len(t) if len(t) <= SHORT_CELL and any(ch.isdigit() for ch in t)
                       else max(map(len, re.split(r"(?<=-)|\s+", t)), default=0) for t in texts]
                      + [max([len(w) for w in col.label.split()] + [3]) * 1.2])   # bold
        out.append(char * longest + pad)
    return out


def _fit(widths: list[float], floors: list[float], room: float) -> list[float]:
    """Column widths that fill ``room`` inches: each column capped at a common width, never below its floor
    (the cap found by bisection, so only the widest columns give up width); when even the floors do not fit, the
    floors scaled alike."""
    if sum(widths) <= room:
        return widths
    if sum(floors) >= room:
        return [f * room / sum(floors) for f in floors]
    lo, hi = 0.0, max(widths)
    for _ in range(60):
        cap = (lo + hi) / 2
        if sum(max(f, min(w, cap)) for w, f in zip(widths, floors)) > room:
            hi = cap
        else:
            lo = cap
    return [max(f, min(w, lo)) for w, f in zip(widths, floors)]


#: A column with a cell longer than this (with a space) is prose, set left.
PROSE_CELL = 30

#: Most a portrait table's statistic columns are widened beyond their Calibri content when the page has room.
SLACK = 1.25


def _widths(model: TableModel, size: float) -> tuple[float, list[float]]:
    """Stub and statistic column widths in inches for text of ``size`` points: statistic columns fit their
    longest cell on one line (headers may wrap at spaces), the stub fits its longest row up to 2.6 inches."""
    char, pad = CHAR_IN * size, CELL_PAD_IN
    stub_chars = max([len(r.stub) + 3 * r.indent for r in model.rows] + [len(model.columns[0].label), 12])
    stub = min(max(1.4, char * stub_chars + pad), 2.6)
    widths = []
    for j, col in enumerate(model.stat_columns):
        cells = max([len(r.cells[j].text) for r in model.rows] + [3])
        words = max([len(w) for w in col.label.split()] + [3]) * 1.25  # bold
        sub = max(len(x) for x in col.sublabel.split(", ")) if col.sublabel else 0
        widths.append(char * max(cells, words, sub) + pad)
    return stub, widths


def _put_fast(p, text: str, ppr) -> None:
    """Fill the empty paragraph ``p`` with a copy of ``ppr`` and one run per line of ``text``, each but the last
    ending in a line break: the XML of python-docx's ``p.style = ...; p.alignment = ...; p.add_run(line);
    run.add_break()`` (tests/present/test_table_exports.py compares the two), built without its schema-order
    searches, which took most of the time of writing a report's Word tables (issue 17)."""
    p.append(deepcopy(ppr))
    lines = text.split("\n")
    for k, line in enumerate(lines):
        r = OxmlElement("w:r")
        if "\t" in line or "\r" in line:  # tabs and carriage returns: python-docx's own translation
            r.text = line
        elif line:
            t = OxmlElement("w:t")
            t.text = line
            if len(line.strip()) < len(line):
                t.set(qn("xml:space"), "preserve")
            r.append(t)
        if k < len(lines) - 1:
            r.append(OxmlElement("w:br"))
        p.append(r)


@lru_cache(maxsize=1)
def _styled_blank() -> bytes:
    """The empty document with the table styles, saved once per process: opening it again is half the time of
    building it anew for each of a report's ~37 Word tables (issue 17); the parts written are the same."""
    doc = Document()
    _styles(doc)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def render_docx(model: TableModel, path: str | Path) -> Path:
    """Write ``model`` as a Word document with one journal-style table (see the module docstring)."""
    model = model.printable()   # control characters from a data or config file cannot be written to XML
    doc = Document(io.BytesIO(_styled_blank()))
    section = doc.sections[0]
    size = 9.0
    stub_w, widths = _widths(model, size)
    portrait_text = section.page_width.inches - section.left_margin.inches - section.right_margin.inches
    if stub_w + sum(widths) > portrait_text:
        # Wide tables go on a landscape page (journals accept rotated tables) rather than being squeezed.
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
        section.left_margin = section.right_margin = Inches(0.75)
    text_width = section.page_width.inches - section.left_margin.inches - section.right_margin.inches
    if stub_w + sum(widths) > text_width:
        size = 8.0
        stub_w, widths = _widths(model, size)
    if stub_w + sum(widths) > text_width:
        # Still too wide: the stub wraps first (down to 1.3 inches), then the widest columns wrap their text at
        # spaces, down to their shortest unbreakable content (:func:`_fit`); a short cell, such as a number or an
        # interval, never wraps. Shrinking every column alike set a note column of 3 inches beside numbers broken
        # one digit per line.
        stub_w = max(1.3, text_width - sum(widths))
        widths = _fit(widths, _floors(model, size), text_width - stub_w)
    natural = stub_w + sum(widths)
    if natural < text_width and section.orientation == WD_ORIENT.LANDSCAPE:
        # A table that needed the landscape page spans its text width, aligned with the caption and notes.
        scale = text_width / natural
        stub_w, widths = stub_w * scale, [w * scale for w in widths]
    elif natural < text_width and widths:
        # Room to spare on the portrait page: up to a quarter more width for each statistic column, so that a
        # word processor without Calibri (LibreOffice substitutes DejaVu Sans, whose digits are a quarter wider)
        # still sets each number on one line ("124.3 (249.7)" wrapped after the estimate).
        scale = min(SLACK, (text_width - stub_w) / sum(widths))
        widths = [w * scale for w in widths]
    for name in ("Table Text", "Table Heading"):
        doc.styles[name].font.size = Pt(size)
    if model.caption:
        _caption(doc, model)

    has_groups, has_sub = model.has_groups, model.has_sublabels
    n_head = 1 + int(has_groups) + int(has_sub)
    ncol = len(model.columns)
    table = doc.add_table(rows=n_head + len(model.rows), cols=ncol)
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    table.autofit = False
    tblPr = table._tbl.tblPr
    _border(tblPr, "w:tblBorders", {"top": RULE_OUTER, "bottom": RULE_OUTER, "left": 0, "right": 0,
                                    "insideH": 0, "insideV": 0})
    all_widths = [stub_w] + widths
    # Widths go in three places: the grid (LibreOffice reads it), each cell (Word reads it) and a fixed
    # layout with the total width, so neither program re-flows the columns from their content.
    for col, w in zip(table.columns, all_widths):
        col.width = Inches(w)
    lengths = [Inches(w) for w in all_widths]
    for tr in table._tbl.tr_lst:  # no cell is merged yet: one w:tc per column (what _Cell.width sets)
        for tc, w in zip(tr.tc_lst, lengths):
            tc.width = w
    tbl_w = tblPr.find(qn("w:tblW"))
    if tbl_w is None:
        tbl_w = OxmlElement("w:tblW")
        tblPr.append(tbl_w)
    tbl_w.set(qn("w:w"), str(int(sum(all_widths) * 1440)))
    tbl_w.set(qn("w:type"), "dxa")

    # style ids resolved once: python-docx looks a style up by scanning every style on each assignment,
    # milliseconds per cell, which made Word export the slowest part of writing a report
    style_ids = {name: doc.styles[name].style_id for name in ("Table Text", "Table Heading")}

    def put(cell, text: str, *, style: str, align=WD_ALIGN_PARAGRAPH.CENTER, indent: int = 0, bold=None) -> None:
        p = cell.paragraphs[0]
        if bold is None and len(p._p) == 0:
            _put_fast(p._p, text, _ppr(style_ids[style], align, indent))
            return
        p._p.style = style_ids[style]
        p.alignment = align
        if indent:
            p.paragraph_format.left_indent = Pt(10 * indent)
        lines = text.split("\n")
        for k, line in enumerate(lines):
            run = p.add_run(line)
            if bold is not None:
                run.bold = bold
            if k < len(lines) - 1:
                run.add_break()

    pprs: dict[tuple, Any] = {}

    def _ppr(style_id: str, align, indent: int):
        """The ``w:pPr`` python-docx writes for this style, alignment and indent, made once per table."""
        key = (style_id, align, indent)
        if key not in pprs:
            scratch = Paragraph(OxmlElement("w:p"), None)
            scratch._p.style = style_id
            scratch.alignment = align
            if indent:
                scratch.paragraph_format.left_indent = Pt(10 * indent)
            pprs[key] = scratch._p.pPr
        return pprs[key]

    rows = list(table.rows)  # table.rows[k] makes every row's object for each lookup
    r = 0
    if has_groups:
        row = rows[r]
        for group, a, b in model.groups:
            if group is None:
                continue
            cell = row.cells[a].merge(row.cells[b]) if b > a else row.cells[a]
            put(cell, group, style="Table Heading")
            _cell_bottom(cell, RULE_INNER)
        r += 1
    label_row = rows[r]
    # prose (a note, a checklist's recommendation) is set left, as text; numbers and short labels centred
    prose = [False] + [any(len(row.cells[j].text) > PROSE_CELL and " " in row.cells[j].text for row in model.rows)
                       for j in range(len(model.stat_columns))]
    aligns = [WD_ALIGN_PARAGRAPH.LEFT if j == 0 or prose[j] else WD_ALIGN_PARAGRAPH.CENTER
              for j in range(len(model.columns))]
    for j, col in enumerate(model.columns):
        put(label_row.cells[j], col.label, style="Table Heading", align=aligns[j])
    r += 1
    if has_sub:
        for j, col in enumerate(model.columns):
            # "n = 72.3, ESS = 66.9" breaks at its comma rather than wherever the column width falls.
            put(rows[r].cells[j], col.sublabel.replace(", ", "\n"), style="Table Text", align=aligns[j])
        r += 1
    for k in range(n_head):
        _row_flag(rows[k], "w:tblHeader")
        for cell in rows[k].cells:
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
    for cell in rows[n_head - 1].cells:
        _cell_bottom(cell, RULE_INNER)
    for i, mrow in enumerate(model.rows):
        _row_flag(rows[n_head + i], "w:cantSplit")
        cells = rows[n_head + i].cells
        put(cells[0], mrow.stub, style="Table Text", align=WD_ALIGN_PARAGRAPH.LEFT, indent=mrow.indent)
        for j, c in enumerate(mrow.cells, start=1):
            put(cells[j], c.text, style="Table Text", align=aligns[j])
    for note in model.footnotes:
        doc.add_paragraph(note, style="Table Note")
    doc.save(str(path))
    return Path(path)


__all__ = ["render_docx"]
