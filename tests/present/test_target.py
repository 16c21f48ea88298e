"""The TARGET checklist (issue 19): every item with a status and a target, ``reporting:`` fields turning items to
"reported", and the manuscript draft (Word and Markdown) holding text, figures, tables and checklist in order."""
from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter

import pytest

from gistcausal.design.config import Reporting
from gistcausal.present.manuscript import write_manuscript
from gistcausal.present.sections import build_sections, protocol_table
from gistcausal.present.target import (AUTHOR, ITEMS, PARTLY, PARTS, REPORTED, SECTION_ANCHORS, STATUS_KEYS,
                                       STATUSES, target_checklist)

FILLED = {"causal_question": "What is the effect of sunitinib versus imatinib 800 mg on PFS?",
          "why_not_randomized": "A trial in a rare cancer is not feasible.",
          "registration": "OSF 10.17605/OSF.IO/ABCDE", "protocol_url": "https://osf.io/abcde/",
          "funding": "None.", "conflicts": "None declared.", "data_availability": "On request.",
          "limitations": "Performance status is not recorded.",
          "ethics": "Approved by the review board (ref. 2024-117); consent waived."}
#: The reporting: field behind each checklist row (docs/target_trial.md).
FIELD_ROW = {"causal_question": "3", "why_not_randomized": "4", "limitations": "16", "registration": "18",
             "protocol_url": "18", "data_availability": "19", "funding": "20", "conflicts": "21", "ethics": "17"}


def _with_reporting(results, **fields):
    cfg = results.config.model_copy(update={"reporting": Reporting(**fields)})
    return dataclasses.replace(results, config=cfg)


def _without_strategies(results):
    proto = results.config.protocol.model_copy(update={"strategies": None})
    cfg = results.config.model_copy(update={"protocol": proto})
    return dataclasses.replace(results, config=cfg, strategies=None)


def test_the_checklist_is_the_statements_21_items_and_39_rows():
    """The TARGET statement's structure (Cashin et al. JAMA 2025; docs/target_trial.md): 21 numbered items in
    six sections; sub-items 1a-1c, 6a-6h and 7a-7h.ii; rows per section 3, 3, 19, 7, 2, 5."""
    ids = [i[0] for i in ITEMS]
    assert len(ids) == len(set(ids)) == 39
    assert [n for n in dict.fromkeys(i[1] for i in ITEMS)] == list(range(1, 22))
    assert ids[:3] == ["1a", "1b", "1c"]
    assert [i for i in ids if i.startswith("6")] == [f"6{c}" for c in "abcdefgh"]
    assert [i for i in ids if i.startswith("7")] == ["7a", "7b", "7c", "7d", "7e", "7f", "7g.i", "7g.ii",
                                                      "7h.i", "7h.ii"]
    per_part = Counter(i[2] for i in ITEMS)
    assert [per_part[p] for p in PARTS] == [3, 3, 19, 7, 2, 5]
    assert [i[2] for i in ITEMS] == sorted((i[2] for i in ITEMS), key=PARTS.index)  # sections in order
    assert {i[1] for i in ITEMS if i[2] == "Other information"} == {17, 18, 19, 20, 21}


def test_every_item_has_a_status_and_a_target(default_results):
    chk = target_checklist(default_results)
    assert [i.id for i in chk.items] == [i[0] for i in ITEMS]
    assert {i.part for i in chk.items} == set(PARTS)
    for item in chk.items:
        assert item.status in STATUSES
        assert item.where.strip() and item.paraphrase.strip()
    assert sum(chk.counts().values()) == len(ITEMS) == 39
    assert set(chk.item_status()) == set(range(1, 22))
    df = chk.to_frame()
    assert list(df.columns) == ["item", "part", "topic", "recommendation", "status", "where"]
    assert len(chk.model().rows) == 39


def _anchors(where: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"#([a-z0-9_]+)", where)}


def test_report_has_the_checklist_section_before_methods(default_results):
    secs = build_sections(default_results)
    keys = [s.key for s in secs]
    assert keys.index("target") == keys.index("methods") - 1
    chk = next(s for s in secs if s.key == "target").tables[0][1]
    assert len(chk.items) == 39 and chk.to_frame()["status"].isin(STATUSES).all()


@pytest.mark.parametrize("variant", ["default", "no_strategies", "failed_steps"])
def test_every_section_a_row_points_to_exists(default_results, variant):
    r = {"default": default_results, "no_strategies": _without_strategies(default_results),
         "failed_steps": dataclasses.replace(default_results, sensitivity={}, strategies=None,
                                             failed_steps={"strategies": "x", "sensitivity: refutation": "y"})}[variant]
    keys = {s.key for s in build_sections(r)}
    for item in target_checklist(r).items:
        assert _anchors(item.where) <= keys, (item.id, _anchors(item.where) - keys)
        assert _anchors(item.where) <= set(SECTION_ANCHORS)


def test_items_the_run_holds_are_reported(default_results):
    st = {i.id: i for i in target_checklist(default_results).items}
    for n, where in (("6a", "#protocol"), ("6b", "#protocol"), ("6e", "#protocol"), ("6g", "#protocol"),
                     ("7a", "#flow"), ("7c", "#propensity"), ("7g.i", "#protocol"), ("7h.ii", "#sensitivity"),
                     ("8", "#flow"), ("9", "#table1"), ("12", "#study"), ("13", "#effects"), ("14", "#sensitivity")):
        assert st[n].status == REPORTED, (n, st[n])
        assert where in st[n].where
    # sustained strategies: the per-protocol contrast and the clone-censor-weight section are cited
    assert "per-protocol" in st["6f"].where and "#strategies" in st["7f"].where


def test_empty_reporting_fields_are_flagged_for_the_author(default_results):
    st = {i.id: i for i in target_checklist(default_results).items}
    for key, row in FIELD_ROW.items():
        if key != "causal_question":
            assert st[row].status == AUTHOR, row
            assert f"reporting.{key}" in st[row].where, row
    assert st["3"].status == PARTLY  # the question is built from the protocol until reporting.causal_question is set
    assert st["2"].status == AUTHOR  # background: no config field


@pytest.mark.parametrize("key", sorted(FIELD_ROW))
def test_filling_a_reporting_field_reports_its_item(default_results, key):
    before = {i.id: i for i in target_checklist(default_results).items}[FIELD_ROW[key]]
    got = {i.id: i for i in target_checklist(_with_reporting(default_results, **{key: FILLED[key]})).items}
    assert before.status != REPORTED
    assert got[FIELD_ROW[key]].status == REPORTED
    assert FILLED[key][:40] in got[FIELD_ROW[key]].where


def test_filling_every_reporting_field_leaves_only_what_no_field_holds(default_results):
    chk = target_checklist(_with_reporting(default_results, **FILLED))
    assert chk.needs_author() == ("2",)
    assert chk.item_status()[18] == REPORTED and "osf.io" in chk.items[[i[0] for i in ITEMS].index("18")].where


def test_reporting_fields_are_documented_in_the_schema():
    from gistcausal.design.config import config_json_schema

    props = config_json_schema()["$defs"]["Reporting"]["properties"]
    assert set(FILLED) <= set(props)
    for key in FILLED:
        assert props[key]["description"] and props[key]["examples"], key


def test_protocol_has_per_protocol_rows_only_with_sustained_strategies(default_results):
    df = protocol_table(default_results)
    comp = list(df["Component"])
    pp = ["Sustained strategies (per protocol)", "Eligibility (sustained strategies)",
          "Time zero (sustained strategies)", "Causal contrast (per protocol)", "Deviations from the strategies",
          "Censoring models", "Identifying assumptions (per protocol)"]
    assert comp[-len(pp):] == pp and comp.index("Analysis plan") == len(comp) - len(pp) - 1
    assert list(df.columns) == ["Component", "Target trial", "Emulation in this analysis"]
    assert (df[["Target trial", "Emulation in this analysis"]] != "").all().all()
    row = df.set_index("Component")
    g = default_results.config.protocol.strategies
    assert "Clone-censor-weight" in row.loc["Deviations from the strategies", "Emulation in this analysis"]
    assert f"grace period of {g.grace:g} months" in row.loc["Sustained strategies (per protocol)", "Target trial"]
    assert f"grace period {g.grace:g} months" in row.loc["Deviations from the strategies", "Emulation in this analysis"]
    models = row.loc["Censoring models", "Emulation in this analysis"]
    covs = default_results.config.covariates
    assert g.covariates and all((covs[c].label or c) in models for c in g.covariates)
    assert "Per-protocol effect" in row.loc["Causal contrast (per protocol)", "Target trial"]
    assert f"({g.n_bootstrap} replicates)" in row.loc["Causal contrast (per protocol)", "Emulation in this analysis"]
    assert "Missing covariate values: Tumor size (cm): multiple imputation" in row.loc["Analysis plan",
                                                                                      "Emulation in this analysis"]
    without = protocol_table(_without_strategies(default_results))
    assert not set(pp) & set(without["Component"])
    assert list(without["Component"]) == comp[:-len(pp)]


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
    assert len(checklist.rows) == 40  # header + the 39 rows of the 21 items
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


@pytest.fixture(scope="module")
def written(default_results, tmp_path_factory):
    from gistcausal.present.report import write_outputs

    return write_outputs(default_results, tmp_path_factory.mktemp("out") / "out", formats=("csv",))


def test_write_outputs_writes_the_manuscript_and_the_checklist(written):
    out = written
    assert (out / "manuscript.docx").stat().st_size > 0 and (out / "manuscript.md").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="target">' in html and "not reported by this analysis (author to add)" in html
    import pandas as pd

    chk = pd.read_csv(out / "tables" / "target_checklist.csv", dtype=str)
    assert len(chk) == 39


def test_report_html_has_every_row_with_its_status_and_a_link_to_its_section(written, default_results):
    html = (written / "report.html").read_text(encoding="utf-8")
    section_ids = set(re.findall(r'<section id="([a-z0-9_]+)">', html))
    rows = dict(re.findall(r'<tr id="target-([0-9a-z.]+)" data-status="[a-z_]+">(.*?)</tr>', html, flags=re.S))
    chk = target_checklist(default_results)
    assert list(rows) == [i.id for i in chk.items]
    for item in chk.items:
        cells = re.findall(r"<td>(.*?)</td>", rows[item.id], flags=re.S)
        assert len(cells) == 6 and cells[0] == item.id and cells[4] == item.status
        links = set(re.findall(r'<a href="#([a-z0-9_]+)">', cells[5]))
        assert links == _anchors(item.where) and links <= section_ids, item.id
        if item.status != AUTHOR and not item.where.startswith(("reporting.", "config description")):
            assert links, item.id  # what the report holds, it links to
        assert cells[5].strip()


def test_results_json_checklist_counts_equal_the_table(written):
    import pandas as pd

    doc = json.loads((written / "results.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == "1.1"
    got = doc["target_checklist"]
    table = pd.read_csv(written / "tables" / "target_checklist.csv", dtype=str).rename(
        columns={"variable": "item", "Status": "status"})  # the journal table's CSV: stub and column labels
    assert got["n_rows"] == len(table) == 39 and got["n_items"] == 21
    assert got["rows"] == {STATUS_KEYS[s]: int((table["status"] == s).sum()) for s in STATUSES}
    assert got["needs_author"] == list(table.loc[table["status"] == AUTHOR, "item"])
    # an item is reported when all its rows are, not reported when none is even partly, else partly
    number = table["item"].str.extract(r"^(\d+)")[0]
    per_item = table.groupby(number, sort=False)["status"].agg(
        lambda s: s.iloc[0] if s.nunique() == 1 and s.iloc[0] != PARTLY else PARTLY)
    assert got["items"] == {STATUS_KEYS[s]: int((per_item == s).sum()) for s in STATUSES}
    assert sum(got["items"].values()) == 21


def test_readme_target_excerpt_is_the_runs(default_results):
    """The README's protocol-beside-checklist excerpt is what tests/present/make_target_excerpt.py makes from
    the run of configs/gist_second_line.yaml (the default_results fixture), not hand-written."""
    from ..conftest import ROOT
    from .make_target_excerpt import excerpt, readme_block

    block = readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert block == excerpt(default_results)
    assert "Censoring models" in block and "| not reported by this analysis (author to add) | 2, 4," in block


def test_report_manuscript_figures_are_not_cropped(default_results, tmp_path):
    """The report writes the manuscript's PNGs (150 dpi) beside its own (130 dpi); cropped to the box measured at
    130 dpi, the Kaplan-Meier figure lost the first letters of its longest numbers-at-risk label. Each is now
    cropped to its own tight box: a margin of background on every side."""
    import io

    import numpy as np
    from PIL import Image

    from gistcausal.present.report import figure_files

    _, manuscript = figure_files(default_results, tmp_path)
    assert manuscript
    for key, png in manuscript.items():
        img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
        for edge in (img[:, :3], img[:, -3:], img[:3, :], img[-3:, :]):
            assert edge.min() > 200, key   # no ink within 3 pixels of an edge


def test_manuscript_table2_prints_labels_not_codes(default_results):
    """Table 2 of manuscript.docx read 'outcome', 'method: iptw', 'variance: greenwood', 'estimand: none' (the
    codes of estimates.csv); it now reads as the report's table."""
    from gistcausal.present.manuscript import _tables

    t2 = dict(_tables(default_results))["table2"]
    labels = [c.label for c in t2.columns]
    assert labels[:2] == ["Outcome", "Measure"] and "Method" in labels and "Variance" in labels
    cells = {c.text for row in t2.rows for c in row.cells}
    assert not cells & {"iptw", "unadjusted", "robust", "greenwood", "model", "none"}
    assert {"IPTW", "Unadjusted"} <= cells
    j = labels.index("Variance") - 1   # the first column is the stub
    assert all(row.cells[j].text[:1].isupper() for row in t2.rows if row.cells[j].text)


def test_checklist_quotes_config_text_cut_after_a_whole_word(default_results):
    """Items 1b and 5 quoted the config's description cut at 80 characters, inside a word ('... first-line
    imatinib 4' for 'imatinib 400 mg')."""
    from gistcausal.present.target import _clip, target_checklist

    assert _clip("short text") == "short text"
    long = "Patients with advanced GIST progressing on first-line imatinib 400 mg, treated in second line"
    assert _clip(long) == "Patients with advanced GIST progressing on first-line imatinib 400 mg, treated…"
    assert len(_clip(long)) <= 80 and _clip("x" * 100) == "x" * 79 + "…"
    items = {i.id: i for i in target_checklist(default_results).items}
    where = items["5"].where
    if where.startswith("config description: "):
        quoted = where[len("config description: "):]
        desc = " ".join(default_results.config.description.split())
        assert quoted == desc or (quoted.endswith("…") and desc.startswith(quoted[:-1] + " "))
