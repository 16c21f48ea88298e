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
