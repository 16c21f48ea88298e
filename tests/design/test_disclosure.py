"""Small-cell suppression: counts 1..k-1 become "<k" everywhere a count is published."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from gistcausal.design.config import config_from_dict
from gistcausal.design.disclosure import suppress, suppress_counts, threshold_for


@pytest.mark.parametrize("value,expected", [(0, 0), (1, "<5"), (4, "<5"), (4.9, "<5"), (5, 5), (110, 110),
                                            ("x", "x"), (None, None)])
def test_suppress_rule(value, expected):
    assert suppress(value, 5) == expected


def test_weighted_count_hidden_with_its_raw_count():
    df = pd.DataFrame({"n_at_risk": [38, 3, 0], "weighted_n_at_risk": [37.2, 2.9, 0.0]})
    out = suppress_counts(df, ["n_at_risk"], 5, linked={"weighted_n_at_risk": "n_at_risk"})
    assert out["n_at_risk"].tolist() == [38, "<5", 0]
    assert out["weighted_n_at_risk"].tolist() == [37.2, "<5", 0.0]
    assert df["n_at_risk"].tolist() == [38, 3, 0]  # input untouched


def test_default_threshold_on_for_registry_files_off_for_synthetic():
    base = {"name": "x", "table": {"treatment": {"column": "t", "arms": {"a": [1], "b": [0]}, "treated": "a"},
                                   "outcomes": {"o": {"label": "O", "time_col": "time", "event_col": "event"}}}}
    assert threshold_for(config_from_dict({**base, "data": {"source": "csv", "path": "r.csv"}})) == 5
    assert threshold_for(config_from_dict({**base, "data": {"source": "synthetic"}})) == 0
    assert threshold_for(config_from_dict({**base, "data": {"source": "csv", "path": "r.csv"},
                                           "output": {"small_cell_threshold": 10}})) == 10


def test_run_with_threshold_suppresses_flow_table1_at_risk_and_json(default_config, tmp_path):
    from gistcausal.pipeline import run
    from gistcausal.present.report import write_outputs

    cfg = default_config.model_copy(update={
        "output": default_config.output.model_copy(update={"small_cell_threshold": 5}),
        "analysis": default_config.analysis.model_copy(update={"causal": False})})
    r = run(cfg)
    flow = r.flow_frame()
    assert flow.loc[flow["label"] == "Age < 18 years at diagnosis", "n_removed"].item() == "<5"  # 2 patients
    out = write_outputs(r, tmp_path / "s")
    res = json.loads((out / "results.json").read_text())
    step = [s for s in res["cohort"]["flow"]["steps"] if s["label"].startswith("Age")][0]
    assert step["n_removed"] == "<5" and res["disclosure"]["small_cell_threshold"] == 5
    t1 = pd.read_csv(out / "tables" / "table1.csv").astype(str)
    assert (t1 == "<5").any().any()
    assert not t1.apply(lambda c: c.str.match(r"^[1-4] \(")).any().any()  # no count 1-4 left in Table 1
    ar = pd.read_csv(out / "tables" / "at_risk_pfs.csv").astype(str)
    assert not ar["n_at_risk"].isin(["1", "2", "3", "4"]).any()


@pytest.mark.parametrize("text, expected", [
    ("compute_weights: 2 patients in arm 'B' have weights above 10 times",
     "compute_weights: <5 patients in arm 'B' have weights above 10 times"),
    ("the arm of 3 of 110 patients is perfectly predicted", "the arm of <5 of 110 patients is perfectly predicted"),
    ("4 of 60 treated patients found no match", "<5 of 60 treated patients found no match"),
    ("(got 0 events in 3 patients)", "(got 0 events in <5 patients)"),
    ("1 patient", "<5 patients"),
    ("2 deaths and 1 Event.", "<5 deaths and <5 Events."),
    ("3 Sunitinib (group A) patients", "<5 Sunitinib (group A) patients"),
    # left alone: decimals, zero, counts at or above k, numbers counting something else, already suppressed
    ("9.2 patients in the smaller arm per model parameter", None),
    ("the model has 3 parameters for 110 patients", None),
    ("0 events in 12 patients", None),
    ("1,234 patients; 5 patients", None),
    ("<5 patients", None),
    ("10/3 patients", None),
])
def test_counts_in_sentences(text, expected):
    from gistcausal.design.disclosure import suppress_text

    assert suppress_text(text, 5) == (text if expected is None else expected)
    assert suppress_text(text, 0) == text   # no threshold: unchanged


def test_counts_in_sentences_reach_no_output(default_results, tmp_path):
    """Warnings, failed-step notes and the reasons of failed specifications are sentences with counts; with a
    threshold, results.json, the report, the manuscript and the exported tables show them as "<k" (only the
    tables' numeric count columns were suppressed)."""
    from dataclasses import replace

    from gistcausal.present.report import write_outputs

    cfg = default_results.config
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"small_cell_threshold": 5})})
    warning = "compute_weights (ATE): 2 patients in arm 'Sunitinib (group A)' have weights above 10 times the median"
    failed = "not fitted: the arm of 3 of 110 patients is perfectly predicted"
    grid = default_results.sensitivity["specification_grid"]
    rows = list(grid.rows)
    rows[1] = {**rows[1], "note": failed}
    r = replace(default_results, config=cfg, warnings=(*default_results.warnings, warning),
                failed_steps={"plasmode": failed}, sensitivity={**default_results.sensitivity,
                                                               "specification_grid": replace(grid, rows=tuple(rows))})
    out = write_outputs(r, tmp_path / "k5")
    doc = (out / "results.json").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    grid_csv = (out / "tables" / "specification_grid.csv").read_text(encoding="utf-8")
    for text in (doc, html, grid_csv):
        assert "3 of 110 patients" not in text and "2 patients in arm" not in text
    assert "<5 patients in arm" in doc and "the arm of <5 of 110 patients" in doc
    assert "the arm of &lt;5 of 110 patients" in html
    assert "the arm of <5 of 110 patients" in grid_csv


def test_counts_in_html_text_are_escaped():
    from gistcausal.design.disclosure import suppress_text

    assert suppress_text("<p>2 patients</p>", 5, html=True) == "<p>&lt;5 patients</p>"
