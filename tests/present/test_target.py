"""The TARGET checklist (issue 19): every item with a status and a target, ``reporting:`` fields turning items to
"reported", and the manuscript draft (Word and Markdown) holding text, figures, tables and checklist in order."""
from __future__ import annotations

import dataclasses

import pytest

from gistcausal.design.config import Reporting
from gistcausal.present.manuscript import write_manuscript
from gistcausal.present.sections import build_sections
from gistcausal.present.target import AUTHOR, ITEMS, PARTLY, REPORTED, STATUSES, target_checklist

FILLED = {"causal_question": "What is the effect of sunitinib versus imatinib 800 mg on PFS?",
          "why_not_randomized": "A trial in a rare cancer is not feasible.",
          "registration": "OSF 10.17605/OSF.IO/ABCDE", "protocol_url": "https://osf.io/abcde/",
          "funding": "None.", "conflicts": "None declared.", "data_availability": "On request.",
          "limitations": "Performance status is not recorded."}


def _with_reporting(results, **fields):
    cfg = results.config.model_copy(update={"reporting": Reporting(**fields)})
    return dataclasses.replace(results, config=cfg)


def test_every_item_has_a_status_and_a_target(default_results):
    chk = target_checklist(default_results)
    assert [i.number for i in chk.items] == list(range(1, 22))
    assert {i.part for i in chk.items} == {"Abstract", "Introduction", "Methods", "Results", "Discussion",
                                           "Other information"}
    for item in chk.items:
        assert item.status in STATUSES
        assert item.where.strip() and item.paraphrase.strip()
    assert sum(chk.counts().values()) == len(ITEMS) == 21
    df = chk.to_frame()
    assert list(df.columns) == ["item", "part", "topic", "recommendation", "status", "where"]
    assert len(chk.model().rows) == 21


def test_report_has_the_checklist_section_before_methods(default_results):
    keys = [s.key for s in build_sections(default_results)]
    assert keys.index("target") == keys.index("methods") - 1
    sec = next(s for s in build_sections(default_results) if s.key == "target")
    table = sec.tables[0][1]
    assert len(table) == 21 and table["status"].isin(STATUSES).all()
    # Every section anchor a status points to exists in the report.
    anchors = {w.split()[0].strip(",;()") for x in table["where"] for w in x.split("#")[1:]}
    assert anchors <= set(keys), anchors - set(keys)


def test_items_the_run_holds_are_reported(default_results):
    st = {i.number: i for i in target_checklist(default_results).items}
    for n, where in ((5, "#protocol"), (6, "#protocol"), (9, "#protocol"), (15, "#flow"), (16, "#balance"),
                     (18, "#effects"), (19, "#sensitivity"), (12, "#methods")):
        assert st[n].status == REPORTED, (n, st[n])
        assert where in st[n].where


def test_empty_reporting_fields_are_flagged_for_the_author(default_results):
    st = {i.number: i for i in target_checklist(default_results).items}
    for n, key in ((2, "why_not_randomized"), (14, "registration"), (20, "limitations"), (21, "funding")):
        assert st[n].status == AUTHOR
        assert f"reporting.{key}" in st[n].where
    assert st[3].status == PARTLY  # the question is built from the protocol until reporting.causal_question is set


@pytest.mark.parametrize(("fields", "item"), [
    ({"why_not_randomized": FILLED["why_not_randomized"]}, 2),
    ({"causal_question": FILLED["causal_question"]}, 3),
    ({"registration": FILLED["registration"]}, 14),
    ({"protocol_url": FILLED["protocol_url"]}, 14),
    ({"limitations": FILLED["limitations"]}, 20),
    ({k: FILLED[k] for k in ("funding", "conflicts", "data_availability")}, 21),
])
def test_filling_a_reporting_field_reports_its_item(default_results, fields, item):
    chk = target_checklist(_with_reporting(default_results, **fields))
    got = chk.items[item - 1]
    assert got.status == REPORTED
    assert next(iter(fields.values()))[:40] in got.where


def test_part_of_funding_conflicts_data_is_partly(default_results):
    got = target_checklist(_with_reporting(default_results, funding="None.")).items[20]
    assert got.status == PARTLY
    assert "reporting.conflicts" in got.where and "reporting.data_availability" in got.where


def test_reporting_fields_are_documented_in_the_schema():
    from gistcausal.design.config import config_json_schema

    props = config_json_schema()["$defs"]["Reporting"]["properties"]
    assert set(FILLED) <= set(props)
    for key in FILLED:
        assert props[key]["description"] and props[key]["examples"], key


@pytest.fixture(scope="module")
def manuscript(default_results, default_figures, tmp_path_factory):
    return write_manuscript(default_results, tmp_path_factory.mktemp("ms") / "manuscript.docx", default_figures)


def _body_sequence(doc):
    """The document body as a sequence of 'heading:<text>', 'caption:<text>', 'picture' and 'table'."""
    seq = []
    for el in doc.element.body:
        tag = el.tag.split("}")[1]
        if tag == "tbl":
            seq.append("table")
        elif tag == "p":
            if el.xpath(".//pic:pic"):
                seq.append("picture")
                continue
            text = "".join(t.text or "" for t in el.iter() if t.tag.endswith("}t"))
            style = el.xpath("./w:pPr/w:pStyle/@w:val")
            if style and (style[0].startswith("Heading") or style[0] in ("Title", "Caption")):
                seq.append(f"{style[0]}:{text}")
    return seq


def test_manuscript_docx_holds_figures_tables_and_checklist_in_order(manuscript):
    from docx import Document

    doc = Document(str(manuscript))
    assert len(doc.inline_shapes) == 2
    assert len(doc.tables) == 3
    seq = _body_sequence(doc)
    order = [seq.index("Heading1:Methods"), seq.index("Heading1:Results"),
             seq.index("Caption:Table 1. Baseline characteristics by treatment arm"),
             seq.index("picture"), next(i for i, s in enumerate(seq) if s.startswith("Caption:Figure 1.")),
             next(i for i, s in enumerate(seq) if s.startswith("Caption:Figure 2.")),
             next(i for i, s in enumerate(seq) if s.startswith("Caption:Table 2.")),
             next(i for i, s in enumerate(seq) if s.startswith("Caption:Supplementary Table 1. TARGET"))]
    assert order == sorted(order)
    # Table 1 follows its caption, Table 2 and the checklist theirs.
    for i in (order[2], order[6], order[7]):
        assert seq[i + 1] == "table"
    checklist = doc.tables[2]
    assert len(checklist.rows) == 22  # header + 21 items
    assert checklist.rows[0].cells[0].text == "Item"
    assert "Figure 1." in "".join(p.text for p in doc.paragraphs)
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "95% CI" in text and "Of 480 records, 110 patients" in text


def test_manuscript_markdown_has_the_same_content(manuscript):
    md = manuscript.with_suffix(".md").read_text(encoding="utf-8")
    heads = ["## Methods", "## Results", "**Table 1.", "![Figure 1.", "![Figure 2.", "**Table 2.",
             "## Supplementary material", "**Supplementary Table 1. TARGET"]
    pos = [md.index(h) for h in heads]
    assert pos == sorted(pos)
    for k in (1, 2):
        assert (manuscript.parent / "manuscript" / f"figure{k}.png").stat().st_size > 1000


def test_readme_reporting_example_is_a_valid_reporting_section():
    import re

    import yaml

    from ..conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if b.startswith("reporting:"))
    rep = Reporting(**yaml.safe_load(block)["reporting"])
    assert rep.why_not_randomized and rep.registration


def test_write_outputs_writes_the_manuscript_and_the_checklist(default_results, tmp_path):
    from gistcausal.present.report import write_outputs

    out = write_outputs(default_results, tmp_path / "out", formats=("csv",))
    assert (out / "manuscript.docx").stat().st_size > 0 and (out / "manuscript.md").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="target">' in html and "not reported by this analysis (author to add)" in html
    import pandas as pd

    chk = pd.read_csv(out / "tables" / "target_checklist.csv")
    assert len(chk) == 21
