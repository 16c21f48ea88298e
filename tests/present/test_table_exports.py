"""The exported tables as a journal and a reviewer get them (issue 16): the files written by
``gistcausal balance`` are opened with python-docx and openpyxl and checked for the journal layout (three
rules, bold header, spanning groups, numbered caption, footnotes), numbers stored as numbers in Excel, labels
instead of codes, binary variables on one row, no p-values beside the weighted columns; the LaTeX compiles.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from gistcausal.design.config import config_from_dict
from gistcausal.errors import ConfigError, GistCausalWarning
from gistcausal.present.table_model import TableModel
from gistcausal.present.tables import balance_summary, table_one

# Level codes of the GIST config that have labels; none may reach a table.
CODES = ("kit_exon_11", "locally_advanced", "not_reported", "small_bowel", "pdgfra_exon_18_d842v",
         "multiple_localization", "wt_kit_pdgfr")


@pytest.fixture(scope="session")
def balance_dir(default_config, tmp_path_factory):
    from gistcausal.present.balance_report import write_balance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GistCausalWarning)  # the small-sample warning is tested in test_cli
        return write_balance(default_config, tmp_path_factory.mktemp("bal") / "balance")


@pytest.fixture(scope="session")
def t1_docx(balance_dir):
    import docx

    return docx.Document(str(balance_dir / "table1.docx"))


@pytest.fixture(scope="session")
def t1_sheet(balance_dir):
    import openpyxl

    return openpyxl.load_workbook(balance_dir / "table1.xlsx").active


def _q(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(tag)


def test_balance_writes_exactly_the_reviewer_tables(balance_dir, default_config):
    ests = default_config.analysis.survival.estimands
    stems = {"table1", "balance_summary"} | {f"balance_{e}" for e in ests}
    expected = {f"{s}.{ext}" for s in stems for ext in ("csv", "md", "tex", "html", "docx", "xlsx")}
    expected |= {f"love_{e}.{ext}" for e in ests for ext in ("png", "svg")}
    assert {p.name for p in balance_dir.iterdir()} == expected


def test_word_table_has_three_rules_and_no_vertical_lines(t1_docx):
    table = t1_docx.tables[0]
    borders = table._tbl.tblPr.find(_q("w:tblBorders"))
    edge = {el.tag.split("}")[1]: el.get(_q("w:val")) for el in borders}
    assert edge == {"top": "single", "left": "nil", "bottom": "single", "right": "nil", "insideH": "nil",
                    "insideV": "nil"}
    # The third rule: a bottom border on every cell of the last header row (row 3: groups, labels, N =).
    for cell in table.rows[2].cells:
        bottom = cell._tc.tcPr.find(_q("w:tcBorders")).find(_q("w:bottom"))
        assert bottom.get(_q("w:val")) == "single"
    # Rows of the body carry no borders of their own.
    assert table.rows[5].cells[1]._tc.tcPr.find(_q("w:tcBorders")) is None


def test_word_header_bold_grouped_and_repeated(t1_docx):
    table = t1_docx.tables[0]
    labels = table.rows[1].cells
    assert labels[0].text == "Characteristic"
    for cell in labels:
        for p in cell.paragraphs:
            assert p.style.name == "Table Heading" and p.style.font.bold
    groups = [c.text for c in table.rows[0].cells]
    # Merged cells repeat their text once per grid column: Unweighted spans arms, p-value and SMD.
    assert groups.count("Unweighted") == 4 and groups.count("Weighted (ATE)") == 3
    assert table.rows[0]._tr.tc_lst[1].grid_span == 4
    assert all(r._tr.trPr.find(_q("w:tblHeader")) is not None for r in table.rows[:3])


def test_word_caption_above_and_footnotes_below(t1_docx):
    body = list(t1_docx.element.body)
    table_at = body.index(t1_docx.tables[0]._tbl)
    caption = t1_docx.paragraphs[0]
    assert caption.style.name == "Caption" and body.index(caption._p) < table_at
    assert caption.text.startswith("Table 1. Baseline characteristics by treatment arm")
    assert "SEQ Table" in caption._p.xml  # a real Word caption number
    notes = [p for p in t1_docx.paragraphs if p.style.name == "Table Note"]
    assert body.index(notes[0]._p) > table_at
    assert any(n.text.startswith("p-values compare the unweighted arms") for n in notes)


def test_word_wide_table_gets_landscape_page_and_fits(t1_docx):
    from docx.enum.section import WD_ORIENT

    sec = t1_docx.sections[0]
    assert sec.orientation == WD_ORIENT.LANDSCAPE and sec.page_width > sec.page_height
    grid = t1_docx.tables[0]._tbl.tblGrid
    width = sum(int(c.get(_q("w:w"))) for c in grid.findall(_q("w:gridCol")))
    assert width <= (sec.page_width - sec.left_margin - sec.right_margin) / 635 + 1  # EMU -> twips


def test_word_variable_once_levels_indented_labels_not_codes(t1_docx, balance_dir):
    stubs = [r.cells[0] for r in t1_docx.tables[0].rows[3:]]
    texts = [c.text for c in stubs]
    assert texts.count("Mutation") == 1 and "KIT exon 11" in texts
    level = stubs[texts.index("KIT exon 11")].paragraphs[0]
    assert level.paragraph_format.left_indent > 0
    assert stubs[texts.index("Mutation")].paragraphs[0].paragraph_format.left_indent is None
    for name in ("table1", "balance_summary", "balance_ATE"):
        for ext in ("md", "html", "csv", "tex"):
            text = (balance_dir / f"{name}.{ext}").read_text(encoding="utf-8")
            assert not [c for c in CODES if c in text or c.replace("_", r"\_") in text], (name, ext)


def test_binary_variable_on_one_row(t1_docx, t1_sheet):
    texts = [r.cells[0].text for r in t1_docx.tables[0].rows[3:]]
    assert [t for t in texts if t.startswith("Sex")] == ["Sex: Male"]
    assert "Female" not in texts and "Male" not in texts
    stubs = [t1_sheet.cell(r, 1).value for r in range(1, t1_sheet.max_row + 1)]
    assert stubs.count("Sex: Male") == 1 and "Female" not in stubs


def test_weighted_columns_have_ess_and_no_p_values(t1_docx, t1_sheet):
    table = t1_docx.tables[0]
    groups = [c.text for c in table.rows[0].cells]
    heads = [c.text for c in table.rows[1].cells]
    subs = [c.text for c in table.rows[2].cells]
    weighted = [j for j, g in enumerate(groups) if g.startswith("Weighted")]
    assert [heads[j] for j in weighted].count("SMD") == 2 and "p-value" not in [heads[j] for j in weighted]
    assert heads.count("p-value") == 1 and groups[heads.index("p-value")] == "Unweighted"
    assert re.fullmatch(r"n = \d+\.\d\nESS = \d+\.\d", subs[weighted[0]])
    assert subs[1] == "N = 72"
    # Excel: no p-value header under a weighted group either.
    head_row = [t1_sheet.cell(4, c).value for c in range(1, t1_sheet.max_column + 1)]
    assert head_row.count("p-value") == 1
    group_row = [t1_sheet.cell(3, c).value for c in range(1, t1_sheet.max_column + 1)]
    assert head_row.index("p-value") < group_row.index("Weighted (ATE)")


def test_excel_numbers_are_numbers_with_formats(t1_sheet):
    ws = t1_sheet
    assert ws["A1"].value.startswith("Table 1. Baseline characteristics")
    assert ws["A1"].font.bold and ws["B4"].font.bold
    assert ws.freeze_panes == "B5"
    end = next(r for r in range(5, ws.max_row + 1) if ws.cell(r, 1).value is None)  # blank row before notes
    rows = {ws.cell(r, 1).value: r for r in range(5, end)}
    sex = rows["Sex: Male"]
    n, pct = ws.cell(sex, 2), ws.cell(sex, 3)
    assert isinstance(n.value, int) and n.number_format == "0"
    assert isinstance(pct.value, float) and pct.number_format == "(0.0)" and round(pct.value, 1) == 65.3
    p = ws.cell(rows["Stage at diagnosis"], 6)
    assert isinstance(p.value, float) and p.number_format == '[<0.001]"<0.001";0.000'
    smd = ws.cell(sex, 7)
    assert isinstance(smd.value, float) and smd.number_format == "0.00"
    wn = ws.cell(sex, 8)
    assert isinstance(wn.value, float) and wn.number_format == "0.0"
    assert ws.cell(rows["KIT exon 11"], 1).alignment.indent > 0
    assert ws.column_dimensions["A"].width > 20 and ws.column_dimensions["B"].width >= 8
    notes = [ws.cell(r, 1).value for r in range(max(rows.values()) + 1, ws.max_row + 1)]
    assert any(str(v).startswith("SMD: standardized mean difference") for v in notes if v)
    numeric = sum(isinstance(ws.cell(r, c).value, (int, float)) for r in range(5, max(rows.values()) + 1)
                  for c in range(2, ws.max_column + 1))
    text = sum(isinstance(ws.cell(r, c).value, str) for r in range(5, max(rows.values()) + 1)
               for c in range(2, ws.max_column + 1))
    assert numeric > 10 * text  # only the medians' (min–max) brackets stay text


def test_smd_digits_two_in_table1_three_in_detail(balance_dir):
    t1 = pd.read_csv(balance_dir / "table1.csv", dtype=str, keep_default_na=False)
    smd = [v for v in t1["Unweighted: SMD"] if v]
    assert smd and all(re.fullmatch(r"-?\d\.\d\d", v) for v in smd)
    detail = pd.read_csv(balance_dir / "balance_ATE.csv", dtype=str, keep_default_na=False)
    assert all(re.fullmatch(r"-?\d\.\d\d\d", v) for v in detail["Weighted (ATE): SMD"] if v)
    assert set(detail["Balanced, |SMD| < 0.1"]) <= {"Yes", "No", ""}


def test_balance_summary_one_row_per_covariate(balance_dir, default_config):
    import openpyxl

    ws = openpyxl.load_workbook(balance_dir / "balance_summary.xlsx").active
    stubs = [ws.cell(r, 1).value for r in range(5, ws.max_row + 1)]
    covs = [c.label for n, c in default_config.covariates.items() if c.in_propensity or c.in_table1]
    assert stubs[: len(covs)] == covs
    ok = [ws.cell(r, 5).value for r in range(5, 5 + len(covs))]
    assert set(ok) <= {"Yes", "No"}
    before = [ws.cell(r, 2).value for r in range(5, 5 + len(covs))]
    assert all(isinstance(v, float) and v >= 0 for v in before)


def test_latex_booktabs_structure_and_compiles(balance_dir, tmp_path):
    text = (balance_dir / "table1.tex").read_text(encoding="utf-8")
    for cmd in (r"\toprule", r"\midrule", r"\bottomrule", r"\multicolumn{4}{c}{Unweighted}",
                r"\cmidrule(lr){2-5}", r"\documentclass", r"\usepackage{booktabs}"):
        assert cmd in text, cmd
    assert "|" not in text.split(r"\begin{tabular}")[1].split("}")[0]  # no vertical rules
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed; structure checked above")
    shutil.copy(balance_dir / "table1.tex", tmp_path / "t.tex")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 0


def test_html_table_spanners_caption_and_escaping(balance_dir):
    from gistcausal.present.render.html import render_html

    text = (balance_dir / "table1.html").read_text(encoding="utf-8")
    assert '<th class="spanner" colspan="4"><span>Unweighted</span></th>' in text
    assert "<caption><b>Table 1.</b> Baseline characteristics" in text
    assert '<td class="stub indent1">KIT exon 11</td>' in text
    model = TableModel.from_frame(pd.DataFrame({"x": ["<b>"], "y": [1.5]}))
    assert "&lt;b&gt;" in render_html(model) and "<b>" not in render_html(model, css=False).split("<tbody>")[1]


@pytest.fixture(scope="session")
def toy():
    rng = np.random.default_rng(16)
    n = 80
    t = np.r_[np.ones(40, int), np.zeros(40, int)]
    df = pd.DataFrame({
        "t": t,
        "grade": pd.Categorical(rng.choice(["III", "I", "II"], n), categories=["III", "I", "II"]),
        "smoker": rng.choice(["no", "yes"], n),
        "age": rng.normal(60, 10, n).round(1),
        "size": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2, 3, n).round(1)),
    })
    w = rng.uniform(0.5, 2.0, n)
    return df, w


def test_categorical_order_and_yes_level_and_missing_row(toy):
    df, w = toy
    tab = table_one(df, treatment_col="t", covariates={"grade": "categorical", "smoker": "binary",
                                                       "age": "continuous_mean", "size": "continuous_median"},
                    weights={"ATE": w, "ATT": w * (df["t"].to_numpy() + 0.5)}, missing="row",
                    labels={"smoker": "Current smoker", "size": "Size (cm)"})
    rows = [(r.stub, r.indent) for r in tab.model.rows]
    grade = [s for s, i in rows[1:4]]
    assert rows[0] == ("grade", 0) and grade == ["III", "I", "II"]  # the Categorical's order
    assert ("Current smoker", 0) in rows  # the "yes" level on one row, named by the label alone
    assert ("Size (cm)", 0) in rows and ("median (min–max)", 1) in rows and ("Missing", 1) in rows
    miss = [r for r in tab.model.rows if r.kind == "missing"][0]
    assert miss.cells[0].text == f"{int(df['size'][df.t == 1].isna().sum())} " \
        f"({100 * df['size'][df.t == 1].isna().mean():.1f})"
    assert miss.cells[5].text != ""  # weighted missing share too
    groups = [c.group for c in tab.model.columns]
    assert groups.count("Weighted (ATE)") == 3 and groups.count("Weighted (ATT)") == 3
    assert "smd_weighted_ATT" in tab.table.columns and "treated (weighted ATE)" in tab.table.columns


def test_suppressed_counts_stay_text_in_excel(toy, tmp_path):
    import openpyxl

    df, _ = toy
    tab = table_one(df.assign(rare=np.r_[["a"] * 2, ["b"] * 78]), treatment_col="t",
                    covariates={"rare": "categorical"}, binary_rows="both", suppress_below=5)
    ws = openpyxl.load_workbook(tab.write(tmp_path / "s.xlsx")).active
    row = [r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "a"][0]
    assert ws.cell(row, 2).value == "<5" and ws.cell(row, 3).value is None


def test_issue_16_frames_export_with_rules_and_numeric_excel(tmp_path):
    import docx
    import openpyxl

    from gistcausal.present.report import _export_table

    df = pd.DataFrame({"label": ["a", "b"], "n": [3, 4], "value": [0.123456789, 2.5], "flag": [True, False]})
    _export_table(df, tmp_path / "frame", ("docx", "xlsx", "csv"))
    table = docx.Document(str(tmp_path / "frame.docx")).tables[0]
    assert table.rows[0].cells[0].text == "label" and table.rows[1].cells[2].text == "0.123"
    assert table.rows[1].cells[3].text == "Yes"
    assert table._tbl.tblPr.find(_q("w:tblBorders")).find(_q("w:top")).get(_q("w:val")) == "single"
    ws = openpyxl.load_workbook(tmp_path / "frame.xlsx").active
    assert ws["A1"].value == "label" and ws["B2"].value == 3 and ws["C2"].value == pytest.approx(0.123456789)
    assert ws["C2"].number_format == "0.000"
    assert pd.read_csv(tmp_path / "frame.csv")["value"].iloc[0] == pytest.approx(0.123456789)


def test_love_plot_rows_use_labels_grouped_under_variable(balance_dir, default_config):
    from gistcausal.analysis.spec import level_labels
    from gistcausal.present.plots import new_figure
    from gistcausal.present.plots.balance import love_plot
    from gistcausal.stats.balance import balance_table

    df = pd.DataFrame({"t": [1, 0] * 20, "mutation": ["kit_exon_11", "sdh", "kit_exon_13", "sdh"] * 10,
                       "sex": ["male", "female", "female", "male"] * 10})
    bt = balance_table(df, treatment_col="t", covariates=["mutation", "sex"], weights=np.ones(40))
    fig, ax = new_figure(6, 4)
    love_plot(bt, ax=ax, labels={"mutation": "Mutation", "sex": "Sex"}, level_labels=level_labels(default_config))
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == ["Mutation", "    KIT exon 11", "    KIT exon 13", "    SDH-deficient", "Sex: Male"]
    assert ax.get_yticklabels()[0].get_fontweight() == "bold"


def test_balance_summary_needs_tables():
    from gistcausal.errors import DataError

    msg = "balance_summary: no balance tables (got an empty mapping). Pass {estimand: BalanceTable}."
    with pytest.raises(DataError, match=re.escape(msg)):
        balance_summary({})


def _cfg(cov: dict):
    return config_from_dict({"study": {"name": "x"}, "data": {"source": "synthetic"},
                             "treatment": {"column": "arm", "treated": "a", "control": "b"},
                             "covariates": {"sex": cov}})


@pytest.mark.parametrize("cov, what", [
    ({"type": "categorical", "levels": ["female", "male"], "level_labels": {"mal": "Male"}},
     "level_labels keys must be among levels ['female', 'male'] (got ['mal'])"),
    ({"type": "binary", "levels": ["female", "male"], "binary_level": "Male"},
     "binary_level must be one of levels ['female', 'male'] (got 'Male')"),
    ({"type": "continuous", "level_labels": {"a": "A"}},
     "level_labels and binary_level apply to categorical and binary covariates (got type: continuous)"),
])
def test_config_level_labels_validated(cov, what):
    with pytest.raises(ConfigError) as err:
        _cfg(cov)
    assert f"covariates.sex: {what}" in str(err.value)


@pytest.mark.parametrize("text", ["Age, years", "", " padded ", "n = 72.3\nESS = 66.9", "a\tb", "two\n\nbreaks\n",
                                  "<5 & 'quoted'"])
@pytest.mark.parametrize("indent", [0, 1])
def test_issue_17_fast_word_cell_matches_python_docx(text, indent):
    """render_docx fills cells with copies of one w:pPr and runs built directly (issue 17): the XML must be what
    python-docx's paragraph setters, add_run and add_break write."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.shared import Pt
    from docx.text.paragraph import Paragraph
    from lxml import etree

    from gistcausal.present.render.word import _put_fast

    for align in (WD_ALIGN_PARAGRAPH.LEFT, WD_ALIGN_PARAGRAPH.CENTER):
        slow = Paragraph(OxmlElement("w:p"), None)
        slow._p.style = "TableText"
        slow.alignment = align
        if indent:
            slow.paragraph_format.left_indent = Pt(10 * indent)
        lines = text.split("\n")
        for k, line in enumerate(lines):
            run = slow.add_run(line)
            if k < len(lines) - 1:
                run.add_break()
        proto = Paragraph(OxmlElement("w:p"), None)
        proto._p.style = "TableText"
        proto.alignment = align
        if indent:
            proto.paragraph_format.left_indent = Pt(10 * indent)
        fast = OxmlElement("w:p")
        _put_fast(fast, text, proto._p.pPr)
        assert etree.tostring(fast) == etree.tostring(slow._p)


def _grid_inches(path):
    import docx
    from docx.oxml.ns import qn

    doc = docx.Document(str(path))
    grid = doc.tables[0]._tbl.tblGrid.findall(qn("w:gridCol"))
    return doc, [int(c.get(qn("w:w"))) / 1440 for c in grid]


def test_word_fit_caps_the_widest_columns_and_keeps_floors():
    from gistcausal.present.render.word import _fit

    assert _fit([1.0, 2.0], [0.5, 0.5], 4.0) == [1.0, 2.0]                   # fits: unchanged
    out = _fit([0.6, 0.7, 3.0], [0.6, 0.7, 0.8], 3.0)                         # only the wide column gives way
    assert out[:2] == [0.6, 0.7] and out[2] == pytest.approx(1.7, abs=1e-9)
    out = _fit([1.0, 3.0, 3.0], [0.9, 0.9, 0.9], 4.0)                         # two wide ones share the room
    assert out[0] == 1.0 and out[1] == pytest.approx(1.5, abs=1e-9) == pytest.approx(out[2], abs=1e-9)
    out = _fit([2.0, 2.0], [1.0, 3.0], 2.0)                                   # floors do not fit: scaled alike
    assert out == pytest.approx([0.5, 1.5])


def test_word_wide_table_wraps_its_text_not_its_numbers(tmp_path):
    """The 'All estimates' table in Word: 16 columns, one a long note; every column shrank alike and the numbers
    broke one digit per line. Now the note wraps and each number or interval keeps a width for its whole text
    in a font wider than Calibri (a word processor's substitute), and a narrow table gets room to spare."""
    from gistcausal.present.render.word import render_docx

    n = 12
    df = pd.DataFrame({"outcome": ["Overall survival"] * n, "measure": ["Survival difference"] * n,
                       "time": [1095] * n, "estimate": ["1181.42"] * n, "95% CI": ["1296.00 to 1814.00"] * n,
                       "p": ["0.009"] * n, "variance": ["Robust (sandwich)"] * n, "method": ["Covariate-adjusted Cox"] * n,
                       **{f"extra {k}": ["x"] * n for k in range(2)},
                       "note": ["a confidence limit is not estimable: its band never reaches 0.5 " * 3] * n})
    model = TableModel.from_frame(df)
    doc, w = _grid_inches(render_docx(model, tmp_path / "wide.docx"))
    sec = doc.sections[0]
    text_width = (sec.page_width - sec.left_margin - sec.right_margin) / 914400
    assert sum(w) <= text_width + 0.01
    size = doc.styles["Table Text"].font.size.pt
    labels = [c.label for c in model.columns]
    for col, text in (("95% CI", "1296.00 to 1814.00"), ("estimate", "1181.42"), ("p", "0.009"), ("time", "1095")):
        j = next(i for i, lab in enumerate(labels) if lab.lower() == col.lower())
        assert w[j] >= 0.0078 * size * len(text) + 0.2 - 1e-3, (col, w[j])
    assert w[labels.index(next(lab for lab in labels if lab.lower() == "note"))] < 3.0
    narrow = TableModel.from_frame(df[["outcome", "estimate", "p"]])
    _, w2 = _grid_inches(render_docx(narrow, tmp_path / "narrow.docx"))
    from gistcausal.present.render.word import SLACK, _widths

    _, natural = _widths(narrow, 9.0)
    assert w2[1:] == pytest.approx([x * SLACK for x in natural], abs=1e-3)


def test_estimates_for_people_are_the_reports_display(default_results):
    """tables/estimates.docx and .md had the 16 data columns of estimates.csv (scale, conf type, CI limits apart);
    they now read as the report's table: the interval in one column, labels, no internal columns."""
    from gistcausal.present.export import people_tables

    model = people_tables(default_results)["estimates"]
    labels = [c.label for c in model.columns]
    assert "95% CI" in labels and not {"Scale", "Extra", "CI low", "95% CI low"} & set(labels)
    assert len(model.rows) == len(default_results.estimates)


def test_word_sets_prose_columns_left_and_numbers_centred(tmp_path):
    """The TARGET checklist in Word centred its recommendations and notes, paragraphs of text; a column with a
    cell of prose is now set left (header included), numbers and short labels stay centred."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    from gistcausal.present.render.word import render_docx

    df = pd.DataFrame({"item": ["1a", "1b"], "status": ["reported", "partly"], "estimate": ["0.67", "1.05"],
                       "recommendation": ["Say that the study is an observational emulation of a target trial",
                                          "Name the data sources"]})
    doc, _ = _grid_inches(render_docx(TableModel.from_frame(df), tmp_path / "prose.docx"))
    rows = doc.tables[0].rows
    align = [[c.paragraphs[0].alignment for c in row.cells] for row in rows]
    assert all(a[3] == WD_ALIGN_PARAGRAPH.LEFT for a in align)                 # prose, header included
    assert all(a[1] == a[2] == WD_ALIGN_PARAGRAPH.CENTER for a in align)       # short labels and numbers


def test_estimates_for_excel_keep_their_numbers(default_results, tmp_path):
    """tables/estimates.xlsx for people (the report's display since this change) held its estimates and p-values as
    text; each cell keeps the display's text and the number behind it, as the raw frame's cells did."""
    import openpyxl

    from gistcausal.present.export import people_tables
    from gistcausal.present.render.excel import render_xlsx

    model = people_tables(default_results)["estimates"]
    render_xlsx(model, tmp_path / "e.xlsx", sheet="estimates")
    ws = openpyxl.load_workbook(tmp_path / "e.xlsx").active
    rows = [r for r in ws.iter_rows(values_only=True)]
    head = next(i for i, r in enumerate(rows) if r and r[0] == "Outcome")
    j_est, j_p = rows[head].index("Estimate"), rows[head].index("p")
    body = rows[head + 1:head + 1 + len(default_results.estimates)]
    ests = [e for e in default_results.estimates]
    assert all(isinstance(r[j_est], (int, float)) for r, e in zip(body, ests) if np.isfinite(e.value))
    assert all(r[j_est] == pytest.approx(e.value) for r, e in zip(body, ests) if np.isfinite(e.value))
    assert any(isinstance(r[j_p], (int, float)) for r in body)
