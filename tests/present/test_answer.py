"""The report's answer follows its own diagnostics (issue 15): PH, residual imbalance, the specification grid,
the E-value against measured covariates, and the weighting actually used."""
from __future__ import annotations

import math

import dataclasses

import pytest

from gistcausal.present.answer import answer


def _with_ph_p(results, p):
    cfg = results.config
    key = (cfg.primary_outcome, cfg.analysis.survival.estimands[0])
    comp = results.causal[key]
    causal = dict(results.causal)
    causal[key] = dataclasses.replace(comp, ph_test={**comp.ph_test, "p": p})
    return dataclasses.replace(results, causal=causal)


def test_issue_15_answer_leads_with_hr_when_ph_holds(default_results):
    a = answer(default_results)
    assert a.lead.startswith("Answer: the IPTW marginal hazard ratio (ATE) is")
    assert any(s.startswith("The restricted mean") for s in a.supporting)


def test_issue_15_answer_leads_with_rmst_when_ph_is_rejected(default_results):
    a = answer(_with_ph_p(default_results, 0.006))
    assert a.lead.startswith("Answer (IPTW marginal, ATE): the restricted mean")
    assert any("Proportional hazards were rejected (p = 0.006)" in s and "does not lead" in s for s in a.supporting)


def test_issue_15_residual_imbalance_is_a_caveat(default_results):
    est = default_results.config.analysis.survival.estimands[0]
    bt = default_results.balance[est]
    table = bt.table.copy()
    table.loc[table.index[0], "smd_w"] = 0.191
    r = dataclasses.replace(default_results, balance={**default_results.balance,
                                                      est: dataclasses.replace(bt, table=table)})
    caveats = answer(r).caveats
    assert len(caveats) == 1 and "remain imbalanced beyond |SMD| 0.1" in caveats[0] and "(SMD +0.19)" in caveats[0]
    label = default_results.config.covariates[table.iloc[0]["covariate"]].label
    assert label in caveats[0]
    assert not answer(default_results).caveats


def test_issue_15_answer_states_weighting_grid_spread_and_evalue(default_results):
    text = answer(default_results).text()
    assert "Weighting: stabilized ATE weights" in text
    assert "Across " in text and "adjusted specifications (sensitivity analyses) the hazard ratio ranged from" in text
    assert "E-value:" in text


def test_issue_19_protocol_table_states_estimand_and_assumptions(default_results):
    from gistcausal.present.sections import protocol_table

    rows = protocol_table(default_results).set_index("Component")["Emulation in this analysis"]
    cfg = default_results.config
    treated = cfg.treatment.label(cfg.treatment.treated)
    assert rows["Estimand"].startswith(f"ATE of {treated} vs ")
    assert "among all eligible patients" in rows["Estimand"] and "24-months restricted mean" not in rows["Estimand"]
    assert "the 24-month restricted mean survival time" in rows["Estimand"]
    assert rows["Identifying assumptions"].startswith("Exchangeability given ")
    assert "positivity (measured overlap, ATE: effective sample sizes" in rows["Identifying assumptions"]


def test_protocol_table_writes_arm_codes_as_the_analysis_matches_them(default_results):
    """A float column's codes (init writes [1.0] for a treatment column with a missing value, as R's pbc trt) read
    "trt in {1}", the code the analysis matches (design.codes), not "{1.0}"."""
    import dataclasses

    from gistcausal.present.sections import protocol_table

    cfg = default_results.config
    tr = cfg.treatment
    codes = [1.0, 2.0, 3.5, "imatinib_800"]
    arms = {a: [codes[k]] for k, a in enumerate(tr.arms)}
    other = dataclasses.replace(default_results, config=cfg.model_copy(update={
        "protocol": cfg.protocol.model_copy(update={"treatment": tr.model_copy(update={"arms": arms})})}))
    row = protocol_table(other).set_index("Component").loc["Treatment strategies", "Emulation in this analysis"]
    assert f"{tr.column} in {{1}}" in row and f"{tr.column} in {{2}}" in row and "1.0" not in row


@pytest.mark.parametrize("outcome, lead", [
    ({"label": "Response", "type": "binary", "value_col": "resp"}, "the risk of Response differs by"),
    ({"label": "Score", "type": "continuous", "value_col": "score"}, "the mean Score differs by"),
    ({"label": "First event", "type": "competing", "time_col": "time", "event_col": "cause",
      "causes": {1: "Recurrence", 2: "Death"}}, "the cumulative incidence of Recurrence at 24 months differs by"),
])
def test_non_survival_primary_outcome_leads_with_its_own_measure(tmp_path, outcome, lead):
    """A binary, continuous or competing-risks primary outcome is answered with its risk, mean or cumulative
    incidence difference (before: "no hazard ratio could be estimated")."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from gistcausal.present.answer import answer
    from tests.test_every_key import BASES, _table_data, apply

    _table_data().to_csv(tmp_path / "table.csv", index=False)
    raw = apply(BASES["table"](tmp_path), (("table.outcomes.other", outcome), ("analysis.primary_outcome", "other")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(config_from_dict(raw))
    a = answer(res)
    assert a.lead.startswith("Answer (IPTW marginal, ATE): " + lead), a.lead
    assert "(treated minus control)" in a.lead
    measure = {"binary": "risk_diff", "continuous": "mean_diff", "competing": "cif_diff"}[outcome["type"]]
    e = max((e for e in res.estimates if e.outcome == "other" and e.measure == measure and e.method == "iptw"
             and e.extra.get("cause") in (None, "Recurrence")), key=lambda e: e.time if e.time == e.time else 0)
    assert f"{e.value:.{2 if measure == 'mean_diff' else 3}f}" in a.lead


def test_competing_only_primary_outcome_is_answered_with_its_weighted_estimate(tmp_path):
    """A config whose only outcome is competing (pbc's death or transplant): the causal step weights its
    cumulative incidences, and the answer leads with them, not with "Answer (unadjusted)" beside the IPTW section
    (before: the answer read the causal step from the time-to-event comparisons only, which such a run has none of).
    The cause of interest is the first cause listed."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from gistcausal.present.answer import answer
    from tests.test_every_key import BASES, _table_data

    _table_data().to_csv(tmp_path / "table.csv", index=False)
    raw = BASES["table"](tmp_path)
    raw["table"]["outcomes"] = {"first": {"label": "First event", "type": "competing", "time_col": "time",
                                          "event_col": "cause", "causes": {2: "Death", 1: "Recurrence"}}}
    raw.setdefault("analysis", {})["primary_outcome"] = "first"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(config_from_dict(raw))
    assert not res.causal and res.competing
    a = answer(res)
    assert a.lead.startswith("Answer (IPTW marginal, ATE): the cumulative incidence of Death at "), a.lead
    assert any(s.startswith("Cause-specific hazard ratio for Death:") for s in a.supporting)
    from gistcausal.present.sections import methods_paragraph, protocol_table

    rows = protocol_table(res).set_index("Component")["Emulation in this analysis"]
    assert "the cumulative incidence of Death at" in rows["Estimand"] and "hazard ratio of Death" in rows["Estimand"]
    assert "restricted mean survival" not in rows["Estimand"] and "Kaplan-Meier" not in rows["Analysis plan"]
    assert "Aalen-Johansen" in rows["Analysis plan"]
    text = methods_paragraph(res)
    assert "Aalen-Johansen" in text and "cause-specific Cox" in text and "Kaplan-Meier" not in text
    assert "log-rank" not in text and "Putter H" in text


def test_answer_and_grid_section_count_the_same_specifications(default_results):
    """The answer and the sensitivity section counted the grid differently (11 alternative analyses against 12
    specifications: the section counted the unadjusted reference). Both now count the adjusted specifications,
    and the section names the unadjusted reference apart."""
    import re

    from gistcausal.present.answer import answer
    from gistcausal.present.sections import build_sections

    grid = default_results.sensitivity["specification_grid"]
    text = " ".join(answer(default_results).supporting)
    n_answer = int(re.search(r"Across (\d+) adjusted specifications", text).group(1))
    section = grid.summary()
    n_section = int(re.search(r"Across (\d+) adjusted specifications", section).group(1))
    df = grid.to_frame()
    assert n_answer == n_section == int(((df["group"] != "reference") & df["value"].notna()).sum())
    ref = df.loc[df["group"] == "reference", "value"].item()
    assert f"(unadjusted: {ref:.2f})" in section
    paragraphs = [p for s in build_sections(default_results) for p in s.paragraphs]
    assert any(f"Across {n_answer} adjusted specifications" in p and "(unadjusted: " in p for p in paragraphs)


def test_rmst_sentence_reads_as_a_time_difference(default_results):
    """"The restricted mean Time to status time up to 2190 days differs by 133.54 (95% CI 14.26 to 252.81) days"
    (colon): the sentence names the measure, not the label inside it, puts the unit after the estimate, and
    rounds by size (whole days from 100 on)."""
    from types import SimpleNamespace

    from gistcausal.present.answer import _time_ci, answer

    text = " ".join((answer(default_results).lead,) + tuple(answer(default_results).supporting))
    assert "the restricted mean survival time up to 24 months differs by " in text.replace("The restricted", "the restricted")
    assert _time_ci(SimpleNamespace(value=133.54, ci_low=14.26, ci_high=252.81), "days") == "134 days (95% CI 14 to 253)"
    assert _time_ci(SimpleNamespace(value=3.14159, ci_low=0.3, ci_high=5.98), "months") == "3.14 months (95% CI 0.30 to 5.98)"


def test_an_interval_including_the_null_is_read_as_neither_showing_nor_ruling_out_a_difference():
    """veteran's answer gave "hazard ratio 1.00 (95% CI 0.70 to 1.42)" with no reading; an interval that includes
    the null now says the data neither show a difference nor rule one out; one that excludes it says nothing."""
    from types import SimpleNamespace

    from gistcausal.present.answer import _compatible

    hr = SimpleNamespace(value=1.0, ci_low=0.70, ci_high=1.42)
    assert _compatible(hr, 1.0) == ["The interval includes 1 (no difference): the data are compatible with effects "
                                    "from 0.70 to 1.42, so they neither show a difference nor rule one out."]
    assert _compatible(SimpleNamespace(value=0.67, ci_low=0.45, ci_high=0.98), 1.0) == []
    rd = SimpleNamespace(value=61.0, ci_low=-5.8, ci_high=137.9)
    assert "from -6 to 138 days" in _compatible(rd, 0.0, "days")[0]
    assert _compatible(SimpleNamespace(value=0.1, ci_low=math.nan, ci_high=0.2), 0.0) == []


@pytest.mark.parametrize("patch, why", [
    (("analysis.causal", False), "analysis.causal is off"),
    (("covariates", None), "no covariates are listed in the config"),
])
def test_unadjusted_answer_says_so_and_the_protocol_drops_the_propensity_model(tmp_path, patch, why):
    """R's aml (no covariates): the answer gave the unadjusted hazard ratio without saying that nothing was adjusted
    for, and the protocol listed "exchangeability given no covariates ... correct propensity model (checked by
    balance)" although no propensity model was fitted."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from gistcausal.present.sections import protocol_table
    from tests.test_every_key import BASES, _table_data, apply

    _table_data().to_csv(tmp_path / "table.csv", index=False)
    raw = apply(BASES["table"](tmp_path), (patch,))
    if patch[1] is None:
        raw.pop("covariates")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(config_from_dict(raw))
    a = answer(res)
    assert a.lead.startswith("Answer: the unadjusted hazard ratio is ")
    assert a.caveats == (f"No adjustment for confounding ({why}): the comparison estimates a causal effect only if "
                         "the arms are exchangeable as they are, as in a randomized trial.",)
    rows = protocol_table(res).set_index("Component")["Emulation in this analysis"]
    assert rows["Identifying assumptions"].startswith("Exchangeability without adjustment")
    assert "propensity" not in rows["Identifying assumptions"]
    assert rows["Analysis plan"].startswith("Unadjusted comparison only")


def test_entropy_balancing_protocol_names_no_propensity_model(tmp_path):
    """Entropy balancing fits no propensity model: the plan read "entropy balancing (ATT) with a logistic
    propensity model" and the assumptions "correct propensity model"."""
    import warnings

    from gistcausal.design.config import config_from_dict
    from gistcausal.pipeline import run
    from gistcausal.present.sections import protocol_table
    from tests.test_every_key import BASES, _table_data, apply

    _table_data().to_csv(tmp_path / "table.csv", index=False)
    raw = apply(BASES["table"](tmp_path), (("analysis.weights.method", "ebal"),
                                           ("analysis.plasmode.enabled", False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(config_from_dict(raw))
    rows = protocol_table(res).set_index("Component")["Emulation in this analysis"]
    assert "propensity" not in rows["Analysis plan"] and " on the covariate means;" in rows["Analysis plan"]
    assert "correct propensity model" not in rows["Identifying assumptions"]
    assert "Zhao Q, Percival D" in rows["Identifying assumptions"]
    assert not answer(res).caveats or "No adjustment" not in answer(res).caveats[0]


def test_methods_list_items_as_sentences_do(default_results):
    """The manuscript read "targeted the ATE, ATT", "survival differences at 6, 12, 24 months" and a covariate
    list without "and"."""
    from gistcausal.present.sections import methods_paragraph
    from gistcausal.results import and_list

    assert [and_list(x) for x in (["A"], ["A", "B"], ["A", "B", "C"], [])] == ["A", "A and B", "A, B and C", ""]
    text = methods_paragraph(default_results)
    cfg = default_results.config
    ests = cfg.analysis.survival.estimands
    assert f"targeted the {and_list(ests)}" in text and ", ".join(ests) + " " not in text
    marks = cfg.analysis.survival.landmarks
    assert f"at {and_list(f'{x:g}' for x in marks)} {cfg.time_unit}" in text
    last = [c.label or n for n, c in cfg.covariates.items() if c.in_propensity][-1]
    assert f" and {last}." in text
