"""End to end: analysis.weights.method matching and ebal in a configured run (GBSG-2 example config), the
config rules they bring, and their rows in the specification grid."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml

from gistcausal.analysis.specification import default_specifications
from gistcausal.design.config import config_from_dict
from gistcausal.errors import ConfigError
from gistcausal.pipeline import run
from gistcausal.present.sections import headline, methods_paragraph

from tests.conftest import CONFIGS


def _raw(method: str, **survival) -> dict:
    raw = yaml.safe_load((CONFIGS / "gbsg2_hormone.yaml").read_text())
    raw["analysis"]["weights"] = {"method": method}
    raw["analysis"]["survival"].update({"estimands": ["ATT"], **survival})
    raw["analysis"]["sensitivity"] = {"evalues": False, "tipping_point": False, "specification_grid": False,
                                      "refutation": {"enabled": False}}
    raw["analysis"]["study_replication"] = False
    return raw


def _run(raw: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the example's own small-sample and PH warnings are tested elsewhere
        return run(config_from_dict(raw))


def test_matching_run_end_to_end():
    res = _run(_raw("matching"))
    hr = next(e for e in res.estimates if e.measure == "hr" and e.outcome == "rfs")
    assert (hr.method, hr.estimand, hr.variance, hr.note) == ("matching", "ATT", "robust",
                                                              "SE clustered by matched set")
    w = res.weights["ATT"].to_dict()
    assert w["method"] == "matching" and w["ratio"] == 1 and w["caliper_sd"] == 0.2
    assert set(w["n_unmatched"]) == {"treated", "control"}
    assert w["n_matched"]["treated"] + w["n_unmatched"]["treated"] == 246   # GBSG-2: 246 on hormone therapy
    assert hr.n == w["n_matched"]["treated"] + w["n_matched"]["control"]
    text = methods_paragraph(res)
    assert ("Patients were matched 1:1 by greedy nearest-neighbour matching on the propensity score (ATT; a caliper "
            "of 0.2 SD of the logit propensity score, without replacement, largest score first") in text
    assert f"ATT: {w['n_unmatched']['treated']} treated and {w['n_unmatched']['control']} control patients unmatched" in text
    assert "the propensity-matched hazard ratio (ATT) is" in headline(res)
    # the flow ends with the unmatched patients per arm; titles name matching, not IPTW
    from gistcausal.present.sections import build_sections, flow_display

    flow = flow_display(res).set_index("Step")
    labels = dict(res.config.treatment.labels)
    t_lab = labels.get(res.config.treatment.treated, res.config.treatment.treated)
    row = flow.loc[f"Not matched (ATT): {t_lab}"]
    assert (row["Patients before"], row["Removed"], row["Patients after"]) == (
        246, w["n_unmatched"]["treated"], w["n_matched"]["treated"])
    titles = [s.title for s in build_sections(res)]
    assert "Causal effect estimates (propensity-score matching)" in titles
    assert not any("IPTW" in t for t in titles)
    # captions name the weighting method and the estimand in words (they said "inverse probability of treatment
    # weighting" whatever the method)
    assert res.table1_weighted["ATT"].model.caption == (
        "Baseline characteristics by treatment arm, before and after propensity-score matching (ATT: average "
        "treatment effect in the treated)")


def test_ebal_run_with_bootstrap_end_to_end():
    res = _run(_raw("ebal", variance="bootstrap", bootstrap_replicates=20))
    hr = next(e for e in res.estimates if e.measure == "hr" and e.outcome == "rfs")
    assert (hr.method, hr.variance) == ("entropy_balancing", "bootstrap_percentile")
    bal = res.balance["ATT"].to_frame()
    # means are balanced exactly, so every weighted SMD of a propensity covariate is 0
    assert np.nanmax(np.abs(bal["smd_w"].to_numpy(float))) < 1e-7
    from gistcausal.present.export import result_tables

    tables = result_tables(res)
    assert tables["balance_summary"].caption == ("Covariate balance before and after entropy balancing (ATT: "
                                                 "average treatment effect in the treated)")
    assert "before and after entropy balancing (ATT: average treatment effect in the treated)" in (
        tables["table1_weighted_ATT"].model.caption)


@pytest.mark.parametrize("change,message", [
    ({"estimands": ["ATE"]}, "analysis.survival.estimands must be among ['ATT', 'ATC'] with analysis.weights.method "
                             "matching (got ['ATE']); set `estimands: [ATT]`"),
    ({"variance": "bootstrap"}, "analysis.survival.variance must be one of ['robust'] with analysis.weights.method "
                                "matching (got bootstrap): the bootstrap is not valid for nearest-neighbour matching "
                                "(Abadie & Imbens 2008)"),
])
def test_matching_config_rules(change, message):
    raw = _raw("matching", **change)
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert message in str(err.value)


def test_grid_has_method_rows():
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data

    cfg = config_from_dict(_raw("iptw"))
    labels = {s.label: s for s in default_specifications(cfg, build_cohort(cfg, load_data(cfg)).frame)}
    assert labels["Entropy balancing (ATT)"].weight_method == "ebal"
    assert labels["PS matching 1:1 (ATT)"].weight_method == "matching"


def test_balance_command_names_the_weighting_method(tmp_path):
    """`gistcausal balance` of an entropy-balancing config: the reviewer tables name entropy balancing (the
    summary said inverse probability of treatment weighting)."""
    from gistcausal.present.balance_report import write_balance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = write_balance(config_from_dict(_raw("ebal")), tmp_path / "bal")
    head = (out / "balance_summary.md").read_text(encoding="utf-8").splitlines()[0]
    assert head == ("**Table 2. Covariate balance before and after entropy balancing (ATT: average treatment effect "
                    "in the treated)**")
    assert "before and after entropy balancing (ATT" in (out / "table1.md").read_text(encoding="utf-8")
