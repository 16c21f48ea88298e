"""One model of a publication table, rendered to Word, Excel, LaTeX, HTML, Markdown and CSV.

A :class:`TableModel` is what a journal's Table 1 is made of (the layout of R's gtsummary/flextable and
tableone): a numbered caption above; a stub column ("Characteristic") whose rows are either a variable
(printed once) or one of its levels (indented); statistic columns, each with a label and a sub-label
("Treated" / "N = 72"), grouped under spanning headers ("Unweighted", "Weighted (ATE)"); footnotes below
(statistics shown, tests used, SMD convention, weighting, suppression).

Every cell carries its display text and the numbers behind it (:class:`Cell.parts`), so Excel stores numbers
as numbers with a number format while Word, LaTeX and HTML print the same text. The model holds aggregates
only; it is built by :mod:`gistcausal.present.tables` and written by :mod:`gistcausal.present.render`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

import pandas as pd

#: Excel number formats: counts, weighted counts, percentages and SDs in brackets, p-values, SMDs.
NUMBER_FORMATS = {"count": "0", "wcount": "0.0", "pct": "(0.0)", "num": "0.0", "sd": "(0.0)",
                  "p": '[<0.001]"<0.001";0.000', "smd2": "0.00", "smd3": "0.000", "ratio": "0.00",
                  "prop": "0.000"}

RowKind = Literal["n", "variable", "level", "single", "missing"]
ColumnKind = Literal["stub", "stat", "p", "smd", "text"]


#: characters XML 1.0 (Word, Excel) cannot hold and a page should not print: C0 controls other than tab, line
#: feed and carriage return, DEL, C1 controls, surrogates and the noncharacters U+FFFE/U+FFFF
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable_text(text: Any) -> Any:
    """``text`` with the characters Word and Excel files cannot hold replaced: a vertical tab or form feed (an
    Excel line break in some exports) by a space, any other control character by U+FFFD (the replacement
    character "\ufffd", so the odd value stays visible). A level or label read from a data or config file
    with such a character made python-docx and openpyxl raise, and the report was lost. Non-strings are
    returned as they are."""
    if not isinstance(text, str) or _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda m: " " if m.group(0) in "\x0b\x0c" else "\ufffd", text)


def fmt_p(p: float | None) -> str:
    """Journal style: ``<0.001``, else three decimals; empty when not computed."""
    if p is None or not math.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_num(v: float | None, digits: int) -> str:
    """Fixed decimals with a true minus sign dropped for -0.00; ``NA`` for non-finite values."""
    if v is None or not math.isfinite(v):
        return "NA"
    text = f"{v:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell: the text every renderer prints and, for Excel, the parts behind it.

    ``parts`` are ``(value, number_format)`` pairs, one per Excel sub-column of the cell's column:
    ``(43, "0"), (59.7, "(0.0)")`` for "43 (59.7)". A part whose value is a string (a suppressed count "<5",
    a range "(1.0–9.0)") is written as text; empty ``parts`` means the cell is written as its text.
    """

    text: str = ""
    parts: tuple[tuple[Any, str | None], ...] = ()

    @staticmethod
    def number(value: float | None, digits: int, kind: str) -> "Cell":
        """A single number, e.g. an SMD (``kind`` a key of :data:`NUMBER_FORMATS`)."""
        if value is None or not math.isfinite(value):
            return Cell("")
        return Cell(fmt_num(value, digits), ((float(value), NUMBER_FORMATS[kind]),))

    @staticmethod
    def p_value(p: float | None) -> "Cell":
        if p is None or not math.isfinite(p):
            return Cell("")
        return Cell(fmt_p(p), ((float(p), NUMBER_FORMATS["p"]),))


EMPTY = Cell()


@dataclass(frozen=True, slots=True)
class Column:
    """A column: header ``label`` and ``sublabel`` (second header line), the spanning ``group`` it sits under
    (None: none), its ``kind`` and ``width``, the number of Excel sub-columns its cells' parts fill."""

    key: str
    label: str
    sublabel: str = ""
    group: str | None = None
    kind: ColumnKind = "stat"
    width: int = 1


@dataclass(frozen=True, slots=True)
class Row:
    """A row: ``variable`` and ``level`` (display labels, for CSV and tests), the ``stub`` text shown in the
    first column, its ``indent`` (0 variable, 1 level), ``kind``, and one cell per non-stub column."""

    variable: str
    level: str
    stub: str
    cells: tuple[Cell, ...]
    indent: int = 0
    kind: RowKind = "single"


@dataclass(frozen=True, slots=True)
class TableModel:
    """A publication table (see the module docstring).

    Attributes
    ----------
    caption : str or None
        Caption text without the number (renderers print "Table {number}. {caption}").
    columns : tuple of Column
        The stub column first.
    rows : tuple of Row
    footnotes : tuple of str
    number : int or None, default=1
        Table number in the caption; None: an unnumbered caption (a data table exported for people).
    label : str, default="Table"
    """

    caption: str | None
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    footnotes: tuple[str, ...] = ()
    number: int | None = 1
    label: str = "Table"

    @property
    def stat_columns(self) -> tuple[Column, ...]:
        return self.columns[1:]

    @property
    def title(self) -> str:
        """Numbered caption, e.g. "Table 1. Baseline characteristics" (the caption alone when unnumbered)."""
        if not self.caption:
            return ""
        return self.caption if self.number is None else f"{self.label} {self.number}. {self.caption}"

    @property
    def groups(self) -> list[tuple[str | None, int, int]]:
        """Runs of adjacent columns under the same spanning header: (group, first index, last index)."""
        runs: list[tuple[str | None, int, int]] = []
        for j, col in enumerate(self.columns):
            if runs and runs[-1][0] == col.group and col.group is not None:
                runs[-1] = (col.group, runs[-1][1], j)
            else:
                runs.append((col.group, j, j))
        return runs

    @property
    def has_groups(self) -> bool:
        return any(c.group for c in self.columns)

    @property
    def has_sublabels(self) -> bool:
        return any(c.sublabel for c in self.columns)

    def header_text(self, col: Column, *, sep: str = ", ", group: bool = True) -> str:
        """One-line header for flat formats: "Weighted (ATE): Treated, n = 72.3, ESS = 66.9"."""
        text = col.label + (sep + col.sublabel if col.sublabel else "")
        return f"{col.group}: {text}" if group and col.group else text

    def to_frame(self) -> pd.DataFrame:
        """Display copy, one row per table row: variable, level, and one text column per statistic column."""
        data = [{"variable": r.variable, "level": r.level,
                 **{self.header_text(c): cell.text for c, cell in zip(self.stat_columns, r.cells)}}
                for r in self.rows]
        return pd.DataFrame(data, columns=["variable", "level"] + [self.header_text(c) for c in self.stat_columns])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: caption, header, rows of text, footnotes."""
        return {"caption": self.caption, "number": self.number,
                "columns": [{"key": c.key, "label": c.label, "sublabel": c.sublabel, "group": c.group,
                             "kind": c.kind} for c in self.columns],
                "rows": [{"variable": r.variable, "level": r.level, "stub": r.stub, "indent": r.indent,
                          "kind": r.kind, "cells": [c.text for c in r.cells]} for r in self.rows],
                "footnotes": list(self.footnotes)}

    def printable(self) -> "TableModel":
        """The same table with every text made printable (:func:`printable_text`): what the Word, Excel,
        LaTeX and HTML renderers write."""
        t = printable_text

        def cell(c: Cell) -> Cell:
            return Cell(t(c.text), tuple((t(v), f) for v, f in c.parts))
        return replace(
            self, caption=t(self.caption), footnotes=tuple(t(f) for f in self.footnotes), label=t(self.label),
            columns=tuple(replace(c, label=t(c.label), sublabel=t(c.sublabel), group=t(c.group))
                          for c in self.columns),
            rows=tuple(replace(r, variable=t(r.variable), level=t(r.level), stub=t(r.stub),
                               cells=tuple(cell(c) for c in r.cells)) for r in self.rows))

    def summary(self) -> str:
        """Plain-text table with caption and footnotes."""
        body = self.to_frame().drop(columns=["variable", "level"])
        body.insert(0, self.columns[0].label, ["    " * r.indent + r.stub for r in self.rows])
        return "\n".join(filter(None, [self.title, body.to_string(index=False), *self.footnotes]))

    @staticmethod
    def from_frame(df: pd.DataFrame, *, caption: str | None = None, footnotes: tuple[str, ...] = (),
                   digits: int = 3) -> "TableModel":
        """A plain table from a DataFrame: first column as stub, column names as headers, floats rounded to
        ``digits`` in the text and kept as numbers for Excel, booleans as Yes/No. A frame without columns (a
        step that produced nothing) becomes a one-column table saying so."""
        if len(df.columns) == 0:
            df = pd.DataFrame({"": ["(nothing to report)"]})
        cols = [Column(key=str(df.columns[0]), label=str(df.columns[0]), kind="stub")] + \
            [Column(key=str(c), label=str(c), kind="text") for c in df.columns[1:]]
        fmt = "0." + "0" * digits if digits > 0 else "0"

        def cell(v: Any) -> Cell:
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                return EMPTY
            if isinstance(v, bool) or type(v).__name__ == "bool_":
                return Cell("Yes" if v else "No")
            if isinstance(v, (int,)) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
                return Cell(str(int(v)), ((int(v), "0"),))
            if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f"):
                v = float(v)
                if 0 < abs(v) < 10 ** -digits:  # tiny values (p-values, variances) keep 2 significant digits
                    return Cell(f"{v:.2g}", ((v, "0.0E+00"),))
                return Cell(fmt_num(v, digits), ((v, fmt),))
            return Cell(str(v))

        rows = []
        for rec in df.itertuples(index=False):
            stub = cell(rec[0])
            rows.append(Row(variable=stub.text, level="", stub=stub.text, cells=tuple(cell(v) for v in rec[1:])))
        return TableModel(caption=caption, columns=tuple(cols), rows=tuple(rows), footnotes=footnotes)


__all__ = ["TableModel", "Column", "Row", "Cell", "EMPTY", "NUMBER_FORMATS", "fmt_p", "fmt_num"]
