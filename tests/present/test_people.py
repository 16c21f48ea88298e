"""Tables for people (issue 16's reviewer tables, the "labels, not codes" principle): the exported data tables
in md/html/tex/docx/xlsx and the report's tables show labels, rounded numbers, journal p-values and no
``nan``/``True``/dict cells; the CSV keeps the data (codes, full precision)."""
from __future__ import annotations

import math
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest

from gistcausal.present.people import Vocabulary, decimals_for, people_frame, people_model, vocabulary

VOCAB = Vocabulary(arms={"suni": "Sunitinib", "ima": "Imatinib 800 mg", "treated": "Sunitinib",
                         "control": "Imatinib 800 mg", "overall": "All arms"},
                   outcomes={"pfs": "Progression-free survival"},
                   covariates={"sex": "Sex", "age": "Age (years)"}, levels={"sex": {"male": "Male"}})


def _texts(model):
    return [[r.stub] + [c.text for c in r.cells] for r in model.rows]


def test_codes_become_labels_in_the_columns_that_hold_them():
    df = pd.DataFrame({"outcome": ["pfs", "pfs"], "contrast": ["suni", "suni vs ima"],
                       "estimand": ["none", "ATE"], "method": ["unadjusted", "iptw"],
                       "measure": ["median", "surv_diff"], "variance": ["greenwood", "robust"],
                       "note": ["suni", ""]})
    rows = _texts(people_model(df, VOCAB))
    assert rows[0] == ["Progression-free survival", "Sunitinib", "", "Unadjusted", "Median", "Greenwood", "suni"]
    assert rows[1][1] == "Sunitinib vs Imatinib 800 mg" and rows[1][3:6] == ["IPTW", "Survival difference",
                                                                                   "Robust (sandwich)"]
    # free text (a note) is never relabelled: only the columns that hold codes are
    cov = pd.DataFrame({"covariate": ["sex: male", "age > median", "sex[male]", "log(age)", "other"]})
    assert [r.stub for r in people_model(cov, VOCAB).rows] == ["Sex: Male", "Age (years) > median", "Sex: Male",
                                                               "log(Age (years))", "other"]


def test_weight_roles_are_arm_labels():
    df = pd.DataFrame({"arm": ["treated", "control", "overall"], "ess": [66.5092, 26.0251, 90.7865]})
    assert [r.stub for r in people_model(df, VOCAB).rows] == ["Sunitinib", "Imatinib 800 mg", "All arms"]


def test_numbers_are_rounded_per_column_and_kept_numeric_for_excel(tmp_path):
    df = pd.DataFrame({"label": ["a", "b", "c"], "hr": [0.681828, 1.03466, 0.449315],
                       "ess": [66.5092, 26.0251, 110.1149], "smd": [0.0476, 0.0869, -0.0022],
                       "n": [38.0, 72.0, 110.0], "p": [0.3679, 0.0004, math.nan], "flag": [True, False, True],
                       "extra": [{"conf_type": "log"}, {}, {"grace": 3.0, "z": -1.811362}], "count": ["<5", "12", "40"],
                       "tiny": [1.2e-05, 3.4e-06, 0.00051]})
    model = people_model(df, VOCAB, caption="Weights")
    rows = _texts(model)
    assert rows[0] == ["a", "0.68", "66.5", "0.048", "38", "0.368", "Yes", "conf type: log", "<5", "1.2e-05"]
    assert rows[1][1:6] == ["1.03", "26.0", "0.087", "72", "<0.001"]
    assert rows[2][3] == "-0.002" and rows[2][5] == "" and rows[2][7] == "grace: 3; z: -1.81"
    assert [c.label for c in model.columns][:6] == ["Label", "HR", "ESS", "SMD", "n", "p"]
    assert model.title == "Weights"   # unnumbered: a data table, not a numbered journal table
    from gistcausal.present.render import write_table

    write_table(model, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    assert ws["A1"].value == "Weights"
    assert ws["B4"].value == pytest.approx(0.681828) and ws["B4"].number_format == "0.00"
    assert ws["E4"].value == 38 and ws["F5"].number_format.endswith("0.000")


def test_decimals_follow_the_typical_size_of_the_column():
    assert decimals_for(np.array([0.68, 1.03, 0.45])) == 2
    assert decimals_for(np.array([66.5, 26.0])) == 1
    assert decimals_for(np.array([0.05, 0.02, 0.0])) == 3
    assert decimals_for(np.array([0.004, 0.006])) == 4
    assert decimals_for(np.array([math.nan])) == 2


def test_people_frame_keeps_formatted_text_and_empty_frames():
    df = pd.DataFrame({"arm": ["suni"], "HR (95% CI)": ["0.68 (0.45 to 1.03)"]})
    assert people_frame(df, VOCAB).to_dict("records") == [{"Arm": "Sunitinib", "HR (95% CI)": "0.68 (0.45 to 1.03)"}]
    assert people_frame(pd.DataFrame(), VOCAB).empty


_RAW_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{5,}(?![\w.])")


def test_exported_tables_for_people_show_labels_and_rounded_numbers(report_dir, default_results):
    """Every md/html export: no raw float, no nan/None/True/False cell, no dict, no arm code; the CSV of the
    same table keeps the data (codes, full precision)."""
    cfg = default_results.config
    codes = set(cfg.treatment.arms)
    tables = report_dir / "tables"
    for md in sorted(tables.glob("*.md")):
        text = md.read_text(encoding="utf-8")
        cells = [c.strip() for line in text.splitlines() if line.startswith("|") for c in line.strip("|").split(" | ")]
        assert not _RAW_FLOAT.search(text), (md.name, _RAW_FLOAT.search(text).group())
        assert not {"nan", "NaN", "None", "True", "False"} & set(cells), md.name
        assert not any(c.startswith("{") for c in cells), md.name
        assert not codes & set(cells), (md.name, codes & set(cells))
    est_md = (tables / "estimates.md").read_text(encoding="utf-8")
    assert est_md.startswith("**All estimates**") and "Sunitinib (group A)" in est_md
    ar = (tables / "at_risk_pfs_ATE.md").read_text(encoding="utf-8")
    assert "Sunitinib (group A): weighted n at risk" in ar   # as in the report: times as columns
    est_csv = pd.read_csv(tables / "estimates.csv")
    assert set(est_csv["contrast"]) & codes and est_csv["value"].map(lambda v: len(f"{v!r}") > 6).any()
    html = (tables / "weights_ATE.html").read_text(encoding="utf-8")
    assert "<b>Weight diagnostics (ATE)</b>" in html and ">All arms<" in html and ">treated<" not in html


def test_report_tables_show_labels_and_rounded_numbers(report_dir, default_results):
    """The report's tables (details included): no nan/True/False cell, no raw float with five or more decimals,
    and the balance details name covariates by their labels, not their codes."""
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert len(cells) > 500
    assert not {"nan", "NaN", "None", "True", "False"} & set(cells)
    assert not [c for c in cells if _RAW_FLOAT.fullmatch(c)]
    assert "age_at_diagnosis" not in cells and "Age at diagnosis (years)" in cells


def test_vocabulary_of_a_run(default_results):
    v = vocabulary(default_results)
    cfg = default_results.config
    assert v.arm(cfg.treatment.treated) == cfg.treatment.label(cfg.treatment.treated)
    assert v.arm("treated") == cfg.treatment.label(cfg.treatment.treated)
    assert v.outcomes["pfs"] == cfg.outcomes["pfs"].label


def test_report_refutation_is_the_estimate_and_the_conclusion_with_refuters_in_words(report_dir, default_results):
    """The refuter lines ran together into one HTML paragraph ("placebo_treatment: new effect 0.647, p = 0.368 ->
    pass random_common_cause: ..."); the report now gives the bridged estimate with its time unit and the
    conclusion as paragraphs, and the refuters, named in words, in the table."""
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    paragraphs = re.findall(r"<p>([^<]*)</p>", html)
    unit = default_results.config.time_unit
    assert any(p.startswith("DoWhy refutation of the IPW") and f" at 24 {unit} (" in p for p in paragraphs)
    assert not any("-&gt; pass" in p or "-> pass" in p for p in paragraphs)
    assert any(p.startswith("No refuter raised a concern") or "refuters raised a concern" in p for p in paragraphs)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert "Placebo treatment" in cells and "placebo_treatment" not in cells


def test_report_warnings_are_written_for_people(report_dir, default_results):
    """The report showed "Warning: SmallSampleWarning: PropensityModel.fit: 3.5 patients ..."; it now shows
    "Warning (small sample): 3.5 patients ..." (results.json keeps the class and location)."""
    from gistcausal.present.sections import warning_note

    assert warning_note("SmallSampleWarning: PropensityModel.fit: 9.7 patients in the smaller arm") == \
        "Warning (small sample): 9.7 patients in the smaller arm"
    assert warning_note("PositivityWarning: compute_weights: 35 propensity scores lie outside") == \
        "Warning (positivity): 35 propensity scores lie outside"
    assert warning_note("ProportionalHazardsWarning: outcome 'os: 2': rejected") == \
        "Warning (proportional hazards): Outcome 'os: 2': rejected"
    assert warning_note("OtherWarning: x") == "Warning: OtherWarning: x"
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert default_results.warnings and "SmallSampleWarning" not in html and "Warning (small sample): " in html


def test_sensitivity_paragraphs_name_the_outcome_and_round_for_people(report_dir, default_results):
    """The E-value sentence named the outcome by its code ("treatment and pfs"), the refutation gave "95% CI
    0.0609 to 5.8", and the E-value table printed Python's power operator ("0.5**sqrt(HR)")."""
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    label = default_results.config.outcomes[default_results.config.primary_outcome].label
    paragraphs = re.findall(r"<p>([^<]*)</p>", html)
    ev = next(p for p in paragraphs if p.startswith("An unmeasured confounder associated with both treatment and"))
    assert f"treatment and {label} by a risk ratio" in ev
    ref = next(p for p in paragraphs if p.startswith("DoWhy refutation of the IPW"))
    assert re.search(r": -?\d+\.\d\d \(95% CI -?\d+\.\d\d to -?\d+\.\d\d\)\.$", ref), ref
    assert "**" not in html and "0.5^sqrt(HR)" in html


def test_plasmode_summary_names_the_outcome_by_its_label(report_dir, default_results):
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    label = default_results.config.outcomes[default_results.config.primary_outcome].label
    assert f"outcome {label}, estimand" in html and "outcome pfs," not in html
