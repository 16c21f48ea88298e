"""Control characters in a data or config file's text never cost the report.

A category level with a vertical tab (a line break in some Excel exports) or another control character made
python-docx and openpyxl raise while writing the tables, so ``gistcausal run`` ended in a traceback after the
whole analysis; matplotlib wrote SVGs that were not well-formed XML. The text is now made printable where it is
written: vertical tab and form feed as a space, other control characters as U+FFFD, visible.
"""
from __future__ import annotations

import re
import warnings
import xml.dom.minidom
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gistcausal.present.table_model import printable_text

from ..conftest import ROOT

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


@pytest.mark.parametrize("text, expected", [
    ("North\x0bside", "North side"), ("South\x01", "South\ufffd"), ("a\x00b\x1fc\x7f", "a\ufffdb\ufffdc\ufffd"),
    ("tab\tnew\nline\r", "tab\tnew\nline\r"), ("plain ü", "plain ü"), (3.5, 3.5), (None, None),
])
def test_printable_text(text, expected):
    assert printable_text(text) == expected


def test_table_with_control_characters_renders_in_every_format(tmp_path):
    from docx import Document
    from openpyxl import load_workbook

    from gistcausal.present.render import write_table
    from gistcausal.present.tables import table_one

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"t": np.repeat([1, 0], 20), "grade": rng.choice(["a\x0bb", "c\x01d", "e"], 40)})
    model = table_one(df, treatment_col="t", covariates={"grade": "categorical"}, labels={"grade": "G\x00x"},
                      caption="Caption\x02").model
    for fmt in ("docx", "xlsx", "html", "md", "tex"):
        write_table(model, tmp_path / f"t.{fmt}", format=fmt)
    text = "\n".join(p.text for p in Document(tmp_path / "t.docx").paragraphs) + "\n".join(
        c.text for t in Document(tmp_path / "t.docx").tables for row in t.rows for c in row.cells)
    assert "a b" in text and "c\ufffdd" in text and "G\ufffdx" in text
    cells = [c.value for row in load_workbook(tmp_path / "t.xlsx").active.iter_rows() for c in row if c.value]
    assert "Table 1. Caption\ufffd" in cells
    for fmt in ("html", "md", "tex"):
        assert not CONTROL.search((tmp_path / f"t.{fmt}").read_text(encoding="utf-8"))


def test_figure_text_and_tick_labels_are_printable(tmp_path):
    from gistcausal.present.plots import new_figure, printable_figure, save_svg

    fig, ax = new_figure(3, 2)
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["a\x0bb", "c\x01"])
    ax.set_title("Title\x1f")
    printable_figure(fig)
    save_svg(fig, tmp_path / "f.svg")
    xml.dom.minidom.parse(str(tmp_path / "f.svg"))   # well-formed (raised before)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a b", "c\ufffd"]


def test_run_with_control_characters_in_levels_and_labels_writes_the_report(tmp_path):
    """The rossi example with a site column whose levels hold control characters and a covariate label with a
    vertical tab: the run and its report complete."""
    from gistcausal.pipeline import run
    from gistcausal.present.report import write_outputs

    data = pd.read_csv(ROOT / "examples" / "rossi.csv")
    data["site"] = np.random.default_rng(1).choice(["North\x0bside", "South\x01", "Ea\x1fst"], len(data))
    data.to_csv(tmp_path / "rossi_ctl.csv", index=False)
    cfg = yaml.safe_load((ROOT / "configs" / "rossi.yaml").read_text())
    cfg["name"] = "rossi_ctl"
    cfg["data"]["path"] = "rossi_ctl.csv"
    cfg["covariates"]["site"] = {"type": "categorical", "label": "Site\x0b of care"}
    cfg["analysis"]["sensitivity"] = {"specification_grid": False, "refutation": {"enabled": False}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the example's own warnings are tested elsewhere
        res = run(tmp_path / "study.yaml")
    out = write_outputs(res, tmp_path / "out")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not CONTROL.search(html) and "Site  of care" in html and "South\ufffd" in html
    for svg in (out / "figures").glob("*.svg"):
        xml.dom.minidom.parse(str(svg))
    from docx import Document

    Document(out / "manuscript.docx")
    assert (out / "tables" / "table1.xlsx").stat().st_size > 0
