"""Nothing from a config or a data file runs as a spreadsheet formula (OWASP "CSV injection").

A category level, a label or a column name such as ``=HYPERLINK("http://evil.example","x")`` reaches the
exported tables as text. openpyxl stored any string starting with ``=`` as a formula, so the .xlsx ran it when
opened; a CSV cell starting with ``=``, ``+``, ``-`` or ``@`` is run by Excel and LibreOffice on opening.
"""
from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from gistcausal.present.render.excel import render_xlsx
from gistcausal.present.render.text import is_formula_text, spreadsheet_text, write_csv, write_frame_csv
from gistcausal.present.report import _export_table
from gistcausal.present.tables import table_one

LINK = '=HYPERLINK("http://evil.example","x")'
CMD = "+cmd|' /C calc'!A0"
DDE = "-2+3+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.mark.parametrize("text, formula", [
    (LINK, True), (CMD, True), (DDE, True), (AT, True), ("\tx", True), ("=", True),
    ("-1", False), ("-0.5", False), ("+3", False), ("-", True), ("- none", True), ("", False),
    ("-1.2 (0.5)", False), ("-0.30 (-0.52 to -0.08)", False), ("-1,234.5 [-2.0–3.1]", False), ("-2+3+cmd", True),
    ("Age (years)", False), ("a=b", False), ("1e5", False),
])
def test_formula_text(text, formula):
    assert is_formula_text(text) is formula
    assert spreadsheet_text(text) == ("'" + text if formula else text)


@pytest.fixture(scope="module")
def hostile_table1():
    rng = np.random.default_rng(1)
    n = 60
    df = pd.DataFrame({"t": np.repeat([1, 0], n // 2), CMD: rng.normal(50, 10, n),
                       "grade": rng.choice([LINK, "II", AT], n)})
    return table_one(df, treatment_col="t", covariates={CMD: "continuous_mean", "grade": "categorical"},
                     labels={"grade": DDE}, arm_labels={1: "=1+1", 0: "control"})


def _formulas(path) -> list[str]:
    from openpyxl import load_workbook

    ws = load_workbook(path).active
    return [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]


def test_xlsx_stores_hostile_text_as_text(hostile_table1, tmp_path):
    path = render_xlsx(hostile_table1.model, tmp_path / "t1.xlsx")
    assert _formulas(path) == []
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet   # no formula element anywhere in the sheet
    from openpyxl import load_workbook

    values = {c.value for row in load_workbook(path).active.iter_rows() for c in row}
    assert {LINK, AT} <= values and any(isinstance(v, str) and v.startswith(DDE) for v in values)


def test_csv_cells_and_headers_are_quoted_for_spreadsheets(hostile_table1, tmp_path):
    write_csv(hostile_table1.model, tmp_path / "t1.csv")
    back = pd.read_csv(tmp_path / "t1.csv", dtype=str, keep_default_na=False)
    cells = list(back.columns) + [v for col in back.columns for v in back[col]]
    assert not any(is_formula_text(v) for v in cells)
    assert "'" + LINK in cells and "'" + DDE in cells


def test_exported_data_frames_are_safe_in_every_spreadsheet_format(tmp_path):
    df = pd.DataFrame({"label": [LINK, "ok", CMD], "value": [-1.5, 2.0, np.nan], "note": ["", AT, None]})
    _export_table(df, tmp_path / "grid", ("csv", "xlsx"))
    back = pd.read_csv(tmp_path / "grid.csv", dtype=str, keep_default_na=False)
    assert list(back["label"]) == ["'" + LINK, "ok", "'" + CMD]
    assert list(back["value"]) == ["-1.5", "2.0", ""]   # numbers are written as they are
    assert _formulas(tmp_path / "grid.xlsx") == []
    # frames written directly (the plasmode command's metrics, the flagged-ids file) go through the same rule
    write_frame_csv(pd.DataFrame({AT: [1]}), tmp_path / "h.csv")
    assert (tmp_path / "h.csv").read_text().splitlines()[0] == "'" + AT
