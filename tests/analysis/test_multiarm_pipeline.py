"""Three or more arms through the config, the pipeline and the report (issue 18, section 3): what the K-arm
analysis does not support is rejected at load with the fix; configs/gist_three_arms.yaml runs end to end on the
synthetic registry's three second-line regimens and its report carries the K-column Table 1, the per-arm curves
and the pairwise contrasts."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gistcausal.design.config import load_config
from gistcausal.errors import ConfigError

from tests.conftest import CONFIGS

THREE = """\
name: mini
data: {source: csv, path: registry.csv, dates: [start, death, last]}
protocol:
  eligibility:
    - label: adults
      include: {column: age, ge: 18}
  treatment: {column: drug, arms: {a: [A], b: [B], c: [C]}, treated: a}
  time_zero: start
  outcomes:
    os: {label: OS, events: [death], censor: last}
covariates:
  age: {type: continuous}
analysis:
  survival: {estimands: [ATE], variance: robust}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_three_arms_load_with_the_first_as_reference(tmp_path):
    cfg = load_config(write(tmp_path, THREE))
    assert list(cfg.treatment.arms) == ["a", "b", "c"]


@pytest.mark.parametrize("change, message", [
    ("  survival: {estimands: [ATE], variance: robust}\n",
     "  survival: {estimands: [ATE], variance: robust}\n  weights: {method: matching}\n"),
    ("estimands: [ATE]", "estimands: [ATC]"),
    ("variance: robust", "variance: bootstrap"),
])
def test_issue_18_settings_without_k_arm_support_rejected(tmp_path, change, message):
    p = write(tmp_path, THREE.replace(change, message))
    expected = {
        "matching": "analysis.weights.method matching is defined for two arms only (got 3 arms in "
                    "protocol.treatment.arms); set `method: iptw` (multinomial propensity score)",
        "ATC": "analysis.survival.estimands must be among ['ATE', 'ATT', 'ATO'] with more than two arms (ATT targets "
               "the arm named by `treated`; got ['ATC']) (got 3 arms in protocol.treatment.arms); set "
               "`estimands: [ATE]`",
        "bootstrap": "analysis.survival.variance bootstrap is not available with more than two arms yet (got 3 arms "
                     "in protocol.treatment.arms); set `variance: robust`",
    }
    key = next(k for k in expected if k in message)
    with pytest.raises(ConfigError, match=re.escape(f"{p}: (top level): {expected[key]}")):
        load_config(p)


def test_issue_18_imputed_covariate_rejected_for_k_arms(tmp_path):
    p = write(tmp_path, THREE.replace("age: {type: continuous}", "age: {type: continuous, missing: impute}"))
    with pytest.raises(ConfigError, match=re.escape(
            "covariates ['age'] use `missing: impute`, which is not available with more than two arms yet (got 3 "
            "arms in protocol.treatment.arms); set `missing: complete_case` or `missing: category` for them")):
        load_config(p)


def test_one_arm_rejected(tmp_path):
    p = write(tmp_path, THREE.replace("arms: {a: [A], b: [B], c: [C]}", "arms: {a: [A]}"))
    with pytest.raises(ConfigError, match=re.escape("at least two arms are needed (got 1: a)")):
        load_config(p)


@pytest.fixture(scope="module")
def three_arm_results():
    from gistcausal.pipeline import run

    return run(load_config(CONFIGS / "gist_three_arms.yaml"))


def test_three_arm_pipeline_compares_every_pair(three_arm_results):
    r = three_arm_results
    arms = ("imatinib_800", "sunitinib_continuous", "sunitinib_intermittent")
    assert [a for a, _ in r.flow.arms] == list(arms)
    assert set(r.multiarm.comparisons) == {(o, e) for o in ("pfs", "os") for e in ("ATE", "ATO")}
    comp = r.multiarm.comparisons[("pfs", "ATE")]
    assert comp.arms == arms
    assert comp.pairs == ("sunitinib_continuous vs imatinib_800", "sunitinib_intermittent vs imatinib_800",
                          "sunitinib_intermittent vs sunitinib_continuous")
    hrs = [e for e in r.estimates if e.outcome == "pfs" and e.estimand == "ATE" and e.measure == "hr"]
    assert [e.contrast for e in hrs] == list(comp.pairs)
    assert comp.global_test.df == 2
    assert list(r.multiarm.table1.columns[2:]) == ["Imatinib 800 mg", "Sunitinib 37.5 mg continuous",
                                                   "Sunitinib 50 mg 4/2"]
    # ATE weights are stabilized by the config (each arm's weights sum to about n); ATO are not
    ate = comp.weight_diagnostics.set_index("arm")
    assert ate.loc["overall", "sum"] == pytest.approx(r.flow.n_final, rel=0.25)
    # the methods paragraph gives the weights of the configured estimands (ATE, ATO) and no other
    from gistcausal.present.multiarm import multiarm_methods

    text = multiarm_methods(r)
    assert "1/e_a(x) for the ATE" in text and "for the ATO" in text and "ATT" not in text


def test_three_arm_report_has_k_columns_curves_and_contrasts(three_arm_results, tmp_path):
    from gistcausal.present.report import write_outputs

    out = write_outputs(three_arm_results, tmp_path / "report")
    html = (out / "report.html").read_text(encoding="utf-8")
    for text in ("Table 1: baseline characteristics by arm", "Pairwise contrasts", "Balance across pairs of arms",
                 "Global weighted log-rank test of equal survival in all 3 arms",
                 "Sunitinib 50 mg 4/2 vs Sunitinib 37.5 mg continuous", "compared across 3 arms"):
        assert text in html
    assert (out / "figures" / "km_pfs_ATE.png").is_file()
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert res["study"]["arms"] == ["imatinib_800", "sunitinib_continuous", "sunitinib_intermittent"]
    assert set(res["multiarm"]) == {"pfs_ATE", "pfs_ATO", "os_ATE", "os_ATO"}
    assert res["multiarm"]["pfs_ATE"]["global_test"]["df"] == 2
    assert "curves" not in res["multiarm"]["pfs_ATE"]
    contrasts = {e["contrast"] for e in res["estimates"] if e["measure"] == "hr"}
    assert contrasts == {"sunitinib_continuous vs imatinib_800", "sunitinib_intermittent vs imatinib_800",
                         "sunitinib_intermittent vs sunitinib_continuous"}


def test_issue_18_follow_up_of_every_arm_checked(tmp_path):
    """check_design looks at all K arms (the two-arm check read only `treated` and the first other arm): 35.5
    months is within the PFS follow-up of imatinib_800 (36.5) and sunitinib_continuous (61.3), not of
    sunitinib_intermittent (34.9)."""
    from gistcausal.design.checks import check_design
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data

    text = (CONFIGS / "gist_three_arms.yaml").read_text(encoding="utf-8")
    p = write(tmp_path, text.replace("landmarks: [6, 12]", "landmarks: [6, 12, 35.5]"))
    cfg = load_config(p)
    cohort = build_cohort(cfg, load_data(cfg))
    with pytest.raises(ConfigError, match=r"landmarks.*35\.5.*'sunitinib_intermittent'"):
        check_design(cfg, cohort)
