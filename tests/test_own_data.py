"""Your own data, first try (issue 15): `validate` rejects what `run` would, with the same exit code and
message, before any model is fitted; the shipped Rossi example goes init --data -> validate -> run."""
from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from gistcausal.cli import app

from .conftest import ROOT

runner = CliRunner()


def cohort(n: int = 240, seed: int = 15) -> pd.DataFrame:
    """Breast-cancer-like analysis table: text tumour size, 0/1 codes, months of follow-up."""
    rng = np.random.default_rng(seed)
    trt = rng.binomial(1, 0.4, n)
    return pd.DataFrame({"trt": trt, "age": rng.integers(30, 80, n), "meno": rng.binomial(1, 0.5, n),
                         "size": rng.choice(["<=20", "20-50", ">50"], n, p=[0.4, 0.45, 0.15]),
                         "nodes": rng.poisson(2, n), "time": np.round(rng.uniform(1, 60, n), 1),
                         "event": rng.binomial(1, 0.5, n)})


BASE = {"name": "bc", "data": {"source": "csv", "path": "bc.csv"},
        "table": {"time_unit": "months",
                  "treatment": {"column": "trt", "arms": {"treated": [1], "control": [0]}, "treated": "treated"},
                  "outcomes": {"primary": {"label": "RFS", "time_col": "time", "event_col": "event"}}},
        "covariates": {"age": {"type": "continuous"}, "meno": {"type": "binary"},
                       "size": {"type": "categorical", "levels": ["<=20", "20-50", ">50"]},
                       "nodes": {"type": "continuous"}},
        "analysis": {"survival": {"landmarks": [12, 24], "horizon": 24}}}


def _set(cfg: dict, path: str, value) -> dict:
    out = json.loads(json.dumps(cfg))
    *head, last = path.split(".")
    node = out
    for k in head:
        node = node[k]
    node[last] = value
    return out


def _no_events_in_treated(df):
    return df.assign(event=np.where(df["trt"] == 1, 0, df["event"]))


def _short_control(df):
    return df.assign(time=np.where(df["trt"] == 0, np.minimum(df["time"], 18.5), df["time"]))


# (id, config change, data change, exit code, message)
BROKEN = [
    ("text_in_continuous", lambda c: _set(c, "covariates.size", {"type": "continuous"}), None, 3,
     "{cfg}:{line[covariates.size.type]}: covariates.size: column 'size' is typed continuous but holds text (got 3 distinct text value(s) in "
     "240 row(s): '20-50', '<=20', '>50'). Set `covariates: {{size: {{type: categorical}}}}`, or recode the column "
     "to numbers."),
    ("horizon_beyond_follow_up", lambda c: _set(c, "analysis.survival", {"landmarks": [12], "horizon": 24}),
     _short_control, 2,
     "{cfg}:{line[analysis.survival.horizon]}: analysis.survival.horizon: the RMST horizon is beyond the follow-up of arm 'control' in outcome "
     "'primary' (got 24 > its last follow-up 18.5 months). Set `analysis: {{survival: {{horizon: 18}}}}` or less, "
     "ideally where enough patients of each arm are still followed."),
    ("landmark_beyond_follow_up", lambda c: c, _short_control, 2,
     "{cfg}:{line[analysis.survival.landmarks]}: analysis.survival.landmarks: landmark 24 is beyond the follow-up of arm 'control' in outcome 'primary' "
     "(got 24 > its last follow-up 18.5 months). Use landmarks within follow-up, e.g. `analysis: {{survival: "
     "{{landmarks: [12]}}}}`."),
    ("empty_arm", lambda c: _set(c, "table.treatment.arms", {"treated": [1], "control": [7]}), None, 4,
     "{cfg}:{line[table.treatment.arms.control]}: arm 'control' is empty: no row of column 'trt' has its code(s) '7' "
     "(got codes '0', '1'). List the codes of arm 'control' as the column writes them under table.treatment.arms."),
    ("all_censored_arm", lambda c: c, _no_events_in_treated, 4,
     "{cfg}: table.outcomes.primary: arm 'treated' has no events in outcome 'primary' (got 0 events in {n1} "
     "patients, all censored). Hazard ratio and survival differences are not estimable: check the event column "
     "and its code (`event_value`), or set `primary: {{causal: false}}` to describe it only."),
    ("unknown_level", lambda c: _set(c, "covariates.size.levels", ["<=20", "20-50"]), None, 3,
     "{cfg}:{line[covariates.size.levels]}: column 'size' has {n_big} value(s) outside covariates.size.levels (got '>50'; levels: <=20, 20-50). "
     "Add the codes, e.g. `covariates: {{size: {{levels: [<=20, 20-50, >50]}}}}`, or recode them in the data."),
    ("spline_on_tied_counts", lambda c: _set(c, "covariates.nodes", {"type": "continuous", "spline_df": 4}),
     lambda d: d.assign(nodes=np.where(np.arange(len(d)) % 5 == 0, np.arange(len(d)) % 7, 0)), 2,
     "{cfg}:{line[covariates.nodes.spline_df]}: covariates.nodes.spline_df: a natural spline with 4 df puts knots "
     "at 0, 0, 0 in a range of 0 to 6; knots repeat or touch the range because 'nodes' has many tied values (got "
     "spline_df: 4). Remove `spline_df` from `covariates.nodes` (enter it linearly)."),
    ("more_parameters_than_patients", lambda c: c, lambda d: d.head(4).assign(event=[1, 1, 1, 1], trt=[1, 0, 1, 0], time=[30, 40, 50, 60]),
     4, "{cfg}: covariates: the propensity model has 6 parameters for 4 patients (got n <= parameters). Remove "
        "covariates or group levels, starting with 'size'."),
]


class _KeyLines:
    """``line["a.b.c"]``: the 1-based line of that key in a block-style YAML file, found by indentation (an
    independent reading of the file, not the loader's line map)."""

    def __init__(self, path):
        self.lines = path.read_text(encoding="utf-8").splitlines()

    def __getitem__(self, dotted: str) -> int:
        start, indent = 0, -1
        for part in dotted.split("."):
            for i in range(start, len(self.lines)):
                text = self.lines[i]
                depth = len(text) - len(text.lstrip())
                if depth > indent and text.strip().startswith(f"{part}:"):
                    start, indent = i + 1, depth
                    break
            else:
                raise KeyError(dotted)
        return start


def _error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("error ")]
    assert len(lines) == 1, output
    return lines[0].removeprefix("error ")


@pytest.mark.parametrize("case", BROKEN, ids=[b[0] for b in BROKEN])
def test_issue_15_validate_rejects_what_run_rejects_with_the_same_message(tmp_path, case):
    _, change_cfg, change_data, code, message = case
    df = cohort()
    if change_data is not None:
        df = change_data(df)
    df.to_csv(tmp_path / "bc.csv", index=False)
    cfg_path = tmp_path / "bc.yaml"
    cfg_path.write_text(yaml.safe_dump(change_cfg(BASE), sort_keys=False), encoding="utf-8")
    v = runner.invoke(app, ["validate", str(cfg_path)])
    r = runner.invoke(app, ["run", str(cfg_path), "-q", "-o", str(tmp_path / "out")])
    assert "Traceback" not in v.output + r.output
    assert (v.exit_code, r.exit_code) == (code, code), v.output + r.output
    expected = message.format(cfg=cfg_path.resolve(), n1=int((df["trt"] == 1).sum()),
                              n_big=int((df["size"] == ">50").sum()), line=_KeyLines(cfg_path))
    assert _error_line(v.output) == _error_line(r.output) == expected
    assert not (tmp_path / "out").exists()


def test_issue_15_first_try_is_rejected_by_validate(tmp_path):
    """The reported first try: every covariate typed continuous, a text column among them."""
    cohort().to_csv(tmp_path / "bc.csv", index=False)
    cfg = _set(BASE, "covariates", {c: {"type": "continuous"} for c in ("age", "meno", "size", "nodes")})
    (tmp_path / "bc.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    v = runner.invoke(app, ["validate", str(tmp_path / "bc.yaml")])
    assert v.exit_code == 3 and "column 'size' is typed continuous but holds text" in v.output


@pytest.fixture(scope="module")
def rossi_run(tmp_path_factory):
    """init --data on the shipped Rossi example, then validate and run the generated config (defaults:
    refutation on, plasmode off)."""
    tmp = tmp_path_factory.mktemp("rossi")
    (tmp / "examples").mkdir()
    (tmp / "configs").mkdir()
    shutil.copy(ROOT / "examples" / "rossi.csv", tmp / "examples" / "rossi.csv")
    cfg = tmp / "configs" / "rossi.yaml"
    import os

    cwd = os.getcwd()
    os.chdir(tmp)  # the committed config was written from the repository root with these relative paths
    try:
        init = runner.invoke(app, ["init", "--data", "examples/rossi.csv", "--treatment", "fin", "--time", "week",
                                   "--event", "arrest", "--out", "configs/rossi.yaml"])
    finally:
        os.chdir(cwd)
    validate = runner.invoke(app, ["validate", str(cfg)])
    run = runner.invoke(app, ["run", str(cfg), "-q", "-o", str(tmp / "report")])
    return {"init": init, "validate": validate, "run": run, "config": cfg, "report": tmp / "report"}


def test_rossi_example_csv_is_the_lifelines_data():
    from lifelines.datasets import load_rossi

    pd.testing.assert_frame_equal(pd.read_csv(ROOT / "examples" / "rossi.csv"), load_rossi(), check_dtype=False)


def test_rossi_init_writes_the_committed_config(rossi_run):
    assert rossi_run["init"].exit_code == 0, rossi_run["init"].output
    assert rossi_run["config"].read_text() == (ROOT / "configs" / "rossi.yaml").read_text()


def test_rossi_validate_then_run(rossi_run):
    assert rossi_run["validate"].exit_code == 0, rossi_run["validate"].output
    assert "valid. All rows of the analysis table: n = 432" in rossi_run["validate"].output
    assert rossi_run["run"].exit_code == 0, rossi_run["run"].output
    res = json.loads((rossi_run["report"] / "results.json").read_text())
    est = [e for e in res["estimates"] if e["outcome"] == "arrest" and e["method"] == "iptw"
           and e["estimand"] == "ATE"]
    by_measure = {e["measure"]: e for e in est if e["measure"] in ("hr", "rmst_diff")}
    assert set(by_measure) == {"hr", "rmst_diff"}
    for e in by_measure.values():
        assert all(math.isfinite(e[k]) for k in ("value", "ci_low", "ci_high", "se"))
    assert 0.4 < by_measure["hr"]["value"] < 1.2  # financial aid: HR about 0.7 in Rossi et al.
    assert not re.search(r"failed_steps\W+\{\s*\S", json.dumps(res))
