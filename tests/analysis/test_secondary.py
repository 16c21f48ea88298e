"""Binary, continuous and competing-risks outcomes configured in `table.outcomes` (issue 18): they reach
results.json estimates and the report's estimates table, unadjusted and IPTW, with the survival outcome's weights."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gistcausal.design.config import load_config
from gistcausal.errors import ConfigError, DataError
from gistcausal.stats.binary import compare_binary
from gistcausal.stats.competing import compare_cif

CONFIG = """\
name: gbsg2_secondary
seed: 1994
data: {{source: csv, path: gbsg2.csv}}
table:
  time_unit: days
  treatment:
    column: horTh
    arms: {{hormone: ["yes"], no_hormone: ["no"]}}
    treated: hormone
  outcomes:
    rfs: {{label: "Recurrence-free survival", time_col: time, event_col: cens, event_value: 1}}
    high_grade: {{label: "Grade III", type: binary, value_col: grade3, event_value: 1}}
    lab: {{label: "Lab value", type: continuous, value_col: lab}}
    first_event: {{label: "First event", type: competing, time_col: time, event_col: cause,
                  causes: {{1: early recurrence, 2: late recurrence}}}}
covariates:
  age: {{type: continuous}}
  menostat: {{type: categorical}}
  pnodes: {{type: continuous}}
analysis:
  survival:
    landmarks: [365, 730]
    horizon: 1825
    estimands: [ATE]
    variance: {variance}
    doubly_robust: false
  sensitivity: {{specification_grid: false, evalues: false, tipping_point: false, refutation: {{enabled: false}}}}
"""


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory):
    from lifelines.datasets import load_gbsg2

    d = load_gbsg2()
    rng = np.random.default_rng(2024)
    d["grade3"] = (d["tgrade"] == "III").astype(int)
    d["lab"] = 0.01 * d["estrec"] + rng.normal(0, 1, len(d))
    d.loc[d.index[:5], "lab"] = np.nan          # five patients without the lab value
    d["cause"] = np.where(d["cens"] == 0, 0, np.where(d["time"] < 730, 1, 2))
    out = tmp_path_factory.mktemp("secondary")
    d.to_csv(out / "gbsg2.csv", index=False)
    return out, d


def _config(table_dir, variance="robust"):
    out, _ = table_dir
    p = out / f"study_{variance}.yaml"
    p.write_text(CONFIG.format(variance=variance))
    return load_config(p)


@pytest.fixture(scope="module")
def results(table_dir):
    from gistcausal.pipeline import run

    return run(_config(table_dir))


def test_secondary_outcomes_reach_the_estimates(results):
    est = results.estimates
    got = {(e.outcome, e.measure, e.method) for e in est}
    for m in ("risk_diff", "risk_ratio", "odds_ratio"):
        assert ("high_grade", m, "iptw") in got and ("high_grade", m, "unadjusted") in got
    assert ("lab", "mean_diff", "iptw") in got
    for m in ("cif", "cif_diff", "cif_ratio", "rmtl_diff", "cs_hr", "cs_logrank_p"):
        assert ("first_event", m, "iptw") in got
    assert not [k for k in results.failed_steps if "outcome" in k]
    assert any("not recorded for 5 of 686" in w for w in results.warnings)


def test_iptw_binary_estimate_uses_the_run_weights(results, table_dir):
    from gistcausal.analysis.iptw import configured_weights, fit_propensity
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data

    cfg = _config(table_dir)
    cohort = build_cohort(cfg, load_data(cfg))
    f = cohort.frame
    _, ps = fit_propensity(cfg, f)
    w = configured_weights(cfg, ps, f["treatment"].to_numpy(int), estimand="ATE").weights
    ref = compare_binary(f["high_grade_value"], f["treatment"], weights=w, outcome="high_grade",
                         arm_labels=("no_hormone", "hormone"), estimand="ATE").get("risk_diff")
    got = next(e for e in results.estimates if e.outcome == "high_grade" and e.measure == "risk_diff"
               and e.method == "iptw")
    assert (got.value, got.se) == pytest.approx((ref.value, ref.se), abs=1e-12)
    cif = compare_cif(f["first_event_time"], f["first_event_status"], f["treatment"], weights=w, outcome="first_event",
                      arm_labels=("no_hormone", "hormone"), cause_labels=("early recurrence", "late recurrence"),
                      landmarks=[365, 730], horizon=1825, estimand="ATE")
    got = next(e for e in results.estimates if e.outcome == "first_event" and e.measure == "rmtl_diff"
               and e.method == "iptw" and e.extra["cause"] == "late recurrence")
    assert got.value == pytest.approx(cif.get_cause("rmtl_diff", "late recurrence").value, abs=1e-12)
    assert got.note == "cause: late recurrence"


def test_secondary_estimates_in_results_json_and_report_table(results, tmp_path):
    from gistcausal.present.report import write_outputs
    from gistcausal.present.sections import estimates_display

    write_outputs(results, tmp_path)
    data = json.loads(next(tmp_path.rglob("results.json")).read_text())
    measures = {e["measure"] for e in data["estimates"]}
    assert {"risk_diff", "mean_diff", "cif_diff", "rmtl_diff", "cs_hr"} <= measures
    table = estimates_display(list(results.estimates))
    assert (table["outcome"] == "lab").any()


def test_m_estimation_variance_for_binary_and_continuous(table_dir):
    from gistcausal.analysis.secondary import secondary_estimates
    from gistcausal.analysis.iptw import configured_weights, fit_propensity
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data

    cfg = _config(table_dir, "m_estimation")
    cohort = build_cohort(cfg, load_data(cfg))
    f = cohort.frame
    _, ps = fit_propensity(cfg, f)
    w = configured_weights(cfg, ps, f["treatment"].to_numpy(int), estimand="ATE").weights
    o = cohort.outcome("high_grade")
    est = secondary_estimates(cfg, f, o, weights=w, estimand="ATE")
    rd = next(e for e in est if e.measure == "risk_diff")
    assert rd.variance == "m_estimation" and rd.se != pytest.approx(rd.extra["se_weights_known"], abs=1e-9)
    with pytest.warns(Warning, match="not recorded for 5 of 686"):
        lab = secondary_estimates(cfg, f, cohort.outcome("lab"), weights=w, estimand="ATE")
    assert next(e for e in lab if e.measure == "mean_diff").n == 681


def test_config_competing_needs_causes(tmp_path):
    text = CONFIG.format(variance="robust").replace(
        "causes: {1: early recurrence, 2: late recurrence}", "causal: true")
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match="a competing outcome needs causes"):
        load_config(p)


def test_unknown_cause_code_is_a_data_error(table_dir):
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data

    out, d = table_dir
    bad = d.assign(cause=d["cause"].replace({2: 3}))
    bad.to_csv(out / "bad.csv", index=False)
    p = out / "bad.yaml"
    p.write_text(CONFIG.format(variance="robust").replace("gbsg2.csv", "bad.csv"))
    cfg = load_config(p)
    with pytest.raises(DataError, match=r"column 'cause' \(table.outcomes.first_event.event_col\) has codes that "
                                        r"are neither a cause nor the censor_value \(got \['3'\]\)"):
        build_cohort(cfg, load_data(cfg))


def test_competing_outcome_has_its_report_section_and_figures(results, tmp_path):
    """A competing-risks outcome gets a "Competing risks" section (unadjusted and per estimand) whose table
    repeats the run's estimates with arm labels, and one cumulative-incidence figure per analysis."""
    from gistcausal.present.report import write_outputs
    from gistcausal.present.sections import build_sections

    assert set(results.competing) == {("first_event", "none")} | {
        ("first_event", est) for est in results.config.analysis.survival.estimands}
    sec = next(s for s in build_sections(results) if s.key == "competing")
    captions = [c for c, _ in sec.tables]
    assert captions[0].endswith(": unadjusted") and any("IPTW (ATE)" in c for c in captions)
    table = dict(sec.tables)[next(c for c in captions if "IPTW (ATE)" in c)]
    got = next(e for e in results.estimates if e.outcome == "first_event" and e.measure == "cs_hr"
               and e.method == "iptw" and e.extra["cause"] == "late recurrence" and e.estimand == "ATE")
    row = table[(table["Cause"] == "late recurrence") & (table["Measure"] == "Cause-specific hazard ratio")].iloc[0]
    assert row["Estimate (95% CI)"] == f"{got.value:.3f} ({got.ci_low:.3f} to {got.ci_high:.3f})"
    from gistcausal.present.sections import display_labels

    arms = display_labels(results)[1]
    tr = results.config.treatment
    assert set(table["Arm or contrast"]) == {arms[tr.control], arms[tr.treated],
                                             f"{arms[tr.treated]} vs {arms[tr.control]}"}
    out = write_outputs(results, tmp_path / "r")
    assert (out / "figures" / "cif_first_event_ATE.png").is_file()
    assert 'id="competing"' in (out / "report.html").read_text(encoding="utf-8")
