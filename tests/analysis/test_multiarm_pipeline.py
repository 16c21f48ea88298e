"""Three or more arms through the config, the pipeline and the report (issue 18, section 3): what the K-arm
analysis does not support is rejected at load with the fix; configs/gist_three_arms.yaml runs end to end on the
synthetic registry's three second-line regimens and its report carries the K-column Table 1, the per-arm curves
and the pairwise contrasts."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
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
    ("variance: robust", "variance: m_estimation"),
    ("variance: robust}", "variance: robust}\n  sensitivity: {specification_grid: true}"),
    ("variance: robust}", "variance: robust}\n  sensitivity: {refutation: {num_simulations: 50}}"),
    ("variance: robust}", "variance: robust}\n  sensitivity: {negative_control: os}"),
])
def test_issue_18_settings_without_k_arm_support_rejected(tmp_path, change, message):
    p = write(tmp_path, THREE.replace(change, message))
    expected = {
        "matching": "analysis.weights.method matching is defined for two arms only (got 3 arms in "
                    "protocol.treatment.arms); set `method: iptw` (multinomial propensity score)",
        "ATC": "analysis.survival.estimands must be among ['ATE', 'ATT', 'ATO'] with more than two arms (ATT targets "
               "the arm named by `treated`; got ['ATC']) (got 3 arms in protocol.treatment.arms); set "
               "`estimands: [ATE]`",
        "m_estimation": "analysis.survival.variance m_estimation is not available with more than two arms yet (got 3 "
                        "arms in protocol.treatment.arms); set `variance: robust` or `variance: bootstrap`",
        "specification_grid": "analysis.sensitivity.specification_grid is not available with more than two arms yet "
                              "(got 3 arms in protocol.treatment.arms); set `specification_grid: false` (E-values and "
                              "the tipping point run for every pair of arms)",
        "refutation": "analysis.sensitivity.refutation (DoWhy) is not available with more than two arms yet (got 3 "
                      "arms in protocol.treatment.arms); set `refutation: {enabled: false}`",
        "negative_control": "analysis.sensitivity.negative_control (os) is not available with more than two arms yet "
                            "(got 3 arms in protocol.treatment.arms); remove `negative_control:`",
    }
    key = next(k for k in expected if k in message.split("robust}")[-1] or f"variance: {k}" in message)
    with pytest.raises(ConfigError, match=re.escape(f"{p}: (top level): {expected[key]}")):
        load_config(p)


def test_issue_18_k_arm_bootstrap_and_switched_off_sensitivity_load(tmp_path):
    """variance: bootstrap is honoured for K arms; two-arm-only sensitivity analyses switched off explicitly
    load (only switching them on explicitly is refused)."""
    text = THREE.replace("variance: robust}", "variance: bootstrap, bootstrap_replicates: 50, bootstrap_ci: bca}\n"
                         "  sensitivity: {specification_grid: false, refutation: {enabled: false}}")
    cfg = load_config(write(tmp_path, text))
    assert (cfg.analysis.survival.variance, cfg.analysis.survival.bootstrap_ci) == ("bootstrap", "bca")


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


@pytest.fixture(scope="module")
def three_arm_bootstrap(tmp_path_factory):
    """configs/gist_three_arms.yaml with variance: bootstrap (20 replicates: enough to exercise every path)."""
    from gistcausal.pipeline import run

    text = (CONFIGS / "gist_three_arms.yaml").read_text(encoding="utf-8")
    text = re.sub(r"variance: robust[^\n]*\n[^\n]*\n", "variance: bootstrap\n    bootstrap_replicates: 20\n", text)
    p = tmp_path_factory.mktemp("boot") / "three_boot.yaml"
    p.write_text(text, encoding="utf-8")
    return run(load_config(p))


def test_issue_18_k_arm_bootstrap_replaces_the_robust_intervals(three_arm_results, three_arm_bootstrap):
    """Same point estimates as the robust run; every per-arm survival/RMST and pairwise difference, ratio and HR
    carries variance bootstrap_percentile; medians and log-rank p keep theirs; replicate record per
    (outcome, estimand) in results.json with its failure counts."""
    rob = {(e.outcome, e.estimand, e.measure, e.contrast, e.time): e for e in three_arm_results.estimates}
    swapped = {"surv", "rmst", "surv_diff", "surv_ratio", "rmst_diff", "hr"}
    n_swapped = 0
    for e in three_arm_bootstrap.estimates:
        r = rob[(e.outcome, e.estimand, e.measure, e.contrast, e.time)]
        assert e.value == pytest.approx(r.value, abs=1e-12, nan_ok=True)
        if e.measure in swapped:
            assert e.variance == "bootstrap_percentile" and e.extra["n_boot"] == 20
            n_swapped += 1
        else:
            assert e.variance == r.variance
    # per outcome and estimand: 3 arms x (2 landmarks + RMST) + 3 pairs x (2 x 2 landmark measures + RMST + HR)
    assert n_swapped == 4 * (3 * 3 + 3 * 6)
    boot = three_arm_bootstrap.bootstrap[("pfs", "ATE")]
    assert boot.n_success + sum(boot.n_failed.values()) == 20
    d = three_arm_bootstrap.to_dict()
    assert set(d["bootstrap"]) == {"pfs_ATE", "pfs_ATO", "os_ATE", "os_ATO"}
    assert d["bootstrap"]["pfs_ATE"]["n_boot"] == 20 and "estimates" not in d["bootstrap"]["pfs_ATE"]


def test_issue_18_k_arm_bootstrap_reproducible(three_arm_bootstrap):
    """Same config and seed: the same replicates (each seeded from SeedSequence(seed).spawn)."""
    from gistcausal.analysis.multiarm import multiarm_causal
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data

    cfg = three_arm_bootstrap.config
    again = multiarm_causal(cfg, build_cohort(cfg, load_data(cfg)))
    for key, b in three_arm_bootstrap.multiarm.bootstrap.items():
        pd.testing.assert_frame_equal(again.bootstrap[key].replicates, b.replicates)


def test_issue_18_k_arm_sensitivity_per_pair_and_not_applicable_listed(three_arm_results, tmp_path):
    """E-values and tipping points for every pair of the primary outcome (first estimand), each E-value equal to
    the two-arm function applied to that pair's estimate; the two-arm-only analyses listed with the reason."""
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data
    from gistcausal.present.report import write_outputs
    from gistcausal.stats.evalue import evalue_from_estimate, tipping_point_grid

    r = three_arm_results
    f = build_cohort(r.config, load_data(r.config)).frame
    comp = r.multiarm.comparisons[("pfs", "ATE")]
    ev = r.sensitivity["evalues"]
    assert list(dict.fromkeys(ev["contrast"])) == list(comp.pairs)
    for c in comp.pairs:
        hr = comp.get("hr", contrast=c)
        row = ev[(ev["contrast"] == c) & (ev["measure"] == "hr")].iloc[0]
        a, b = c.split(" vs ")
        # the pair's event proportion decides the HR conversion (rare below 15%)
        pair = f[f["arm"].isin([a, b])]
        expected = evalue_from_estimate(hr, event_proportion=float(pair["pfs_event"].mean()))
        assert row["evalue"] == pytest.approx(expected.evalue, abs=1e-12)
        tip = r.sensitivity["tipping_grid"]
        grid = tipping_point_grid(hr.value, hr.ci_low, hr.ci_high, prevalence_grid=[(0.5, 0.0)], gamma_grid=[2.0])
        got = tip[(tip["contrast"] == c) & (tip["p_treated"] == 0.5) & (tip["p_control"] == 0.0)
                  & (tip["gamma"] == 2.0)]
        assert got["hr_adj"].iloc[0] == pytest.approx(grid["hr_adj"].iloc[0], abs=1e-12)
    na = r.sensitivity["not_applicable"]
    assert list(na["analysis"]) == ["E-value benchmarks (measured covariates)", "specification grid",
                                    "DoWhy refutation"]
    out = write_outputs(r, tmp_path / "report")
    html = (out / "report.html").read_text(encoding="utf-8")
    for text in ("Sensitivity analyses (every pair of arms)", "E-values of every pairwise contrast",
                 "Sensitivity analyses not applicable with more than two arms", "not built for more than two arms"):
        assert text in html
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {row["contrast"] for row in res["sensitivity"]["evalues"]} == set(comp.pairs)
    assert [row["analysis"] for row in res["sensitivity"]["not_applicable"]] == list(na["analysis"])


def test_a_level_held_by_one_of_three_arms_is_rejected_before_the_multinomial_fit():
    """With three arms the multinomial propensity fit fails on a covariate level only one arm's patients have
    (its own-arm scores reach 1, no convergence); check_design (run and validate) rejects it first, naming the
    level, the arm and the two other arms, without the Firth fix (not available with three arms). A level two arms
    share is left to the fit (it converges)."""
    from gistcausal.design.checks import check_design
    from gistcausal.design.cohort import build_cohort
    from gistcausal.design.data import load_data
    from gistcausal.errors import ModelFitError, SeparationError
    from gistcausal.stats.multiarm import MultinomialPropensityModel

    cfg = load_config(CONFIGS / "gist_three_arms.yaml")
    cohort = build_cohort(cfg, load_data(cfg))
    check_design(cfg, cohort)
    arms = list(cfg.treatment.arms)
    frame = cohort.frame.copy()
    frame["sex"] = frame["sex"].astype(str)
    lone = frame.index[frame["arm"] == arms[1]][:2]
    frame.loc[lone, "sex"] = "unknown"
    cohort_bad = type(cohort)(**{**{f: getattr(cohort, f) for f in cohort.__dataclass_fields__}, "frame": frame})
    with pytest.raises(SeparationError) as err:
        check_design(cfg, cohort_bad)
    others = ", ".join(f"'{a}'" for a in arms if a != arms[1])
    assert (f"covariates.sex: level 'unknown' (2 patients) is held by patients of arm '{arms[1]}' only (got 0 in "
            f"arms {others}), so the covariate predicts their arm perfectly and the multinomial propensity model has "
            "no finite estimate (separation). Merge it with another level in the data, or leave the covariate out "
            "of the model `covariates: {sex: {in_propensity: false}}`.") in str(err.value)
    covs = [n for n, c in cfg.covariates.items() if c.in_propensity]
    with pytest.raises(ModelFitError, match="the covariates separate the arms"):
        MultinomialPropensityModel(covariates=covs, arms=arms).fit(frame, treatment_col="arm")
    shared = frame.index[frame["arm"] == arms[0]][:2]
    frame.loc[shared, "sex"] = "unknown"            # two arms have the level now: no separation
    check_design(cfg, type(cohort)(**{**{f: getattr(cohort, f) for f in cohort.__dataclass_fields__},
                                      "frame": frame}))


def test_k_arm_table1_prints_level_labels_not_codes(tmp_path):
    """R's colon with three arms: the K-column Table 1 printed the missing level's code 'not_reported' (the
    two-arm Table 1 and the propensity table print 'Not reported') and ignored level labels given for numeric
    codes (the config's keys are text, the data's codes numbers)."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from tests.test_every_key import BASES, _table_data, apply

    _table_data().to_csv(tmp_path / "table.csv", index=False)
    raw = apply(BASES["three_arms"](tmp_path), (("covariates.meno.level_labels", {0: "Pre", 1: "Post"}),
                                                 ("covariates.grade.level_labels", {"g2": "Grade 2"})))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(config_from_dict(raw))
    t1 = res.multiarm.table1
    levels = dict(t1.groupby("Characteristic")["Level"].apply(list))
    assert levels["grade"] == ["Grade 2", "g3–4", "Not reported"]
    assert "Post" in levels["meno"] and "1" not in levels["meno"]
