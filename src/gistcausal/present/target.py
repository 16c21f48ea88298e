"""The TARGET checklist of a run: what a target-trial emulation report must state, and where this one does.

TARGET (Transparent Reporting of Observational Studies Emulating a Target Trial; Cashin AG, Hansford HJ,
Hernan MA, et al. JAMA 2025, doi:10.1001/jama.2025.13350; BMJ 2025, doi:10.1136/bmj-2025-087179) is the
EQUATOR reporting guideline for observational studies that emulate a parallel-group randomized trial: 21
items over six parts (abstract, introduction, methods, results, discussion, other information). Its key
demands are the causal question and the reason for emulating a trial; the target trial's protocol (eligibility,
strategies, assignment, follow-up, outcomes, causal contrast, identifying assumptions, analysis plan) beside
how each part was emulated; and, per estimand, the estimate with its uncertainty and the sensitivity analyses.

The item texts below are short paraphrases written for this package, not the statement's wording, and the
item numbering follows the statement's six-part order as read here; check both against the published
checklist before submitting. Each item's status comes from what the run holds (protocol, flow, estimands,
weights, balance, estimates with intervals, E-values, specification grid, failed steps) and from the config's
``reporting:`` section for what no data can tell (registration, funding, the reason a trial was not run, ...).
An item the run cannot fill is marked "not reported by this analysis (author to add)": the checklist says
what the manuscript still needs, it does not claim the manuscript has it.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gistcausal.present.table_model import Cell, Column, Row, TableModel
from gistcausal.results import AnalysisResults

REPORTED = "reported"
PARTLY = "partly"
AUTHOR = "not reported by this analysis (author to add)"
#: The statuses, best first.
STATUSES = (REPORTED, PARTLY, AUTHOR)

#: (number, part, topic, paraphrase) of the 21 items, in the statement's order (see the module docstring).
ITEMS: tuple[tuple[int, str, str, str], ...] = (
    (1, "Abstract", "Abstract",
     "Say in the abstract that a target trial was emulated, and summarize question, data, estimand and main result."),
    (2, "Introduction", "Rationale for emulation",
     "Give the background and explain why the question is answered by emulating a trial rather than running one."),
    (3, "Introduction", "Causal question",
     "State the causal question: population, strategies compared, outcome and effect of interest."),
    (4, "Methods", "Data sources",
     "Describe the data: origin, setting, period covered and how records were linked or prepared."),
    (5, "Methods", "Eligibility",
     "Give the target trial's eligibility criteria and how each was applied in the data."),
    (6, "Methods", "Treatment strategies",
     "Define the strategies compared in the target trial and how they were identified in the data."),
    (7, "Methods", "Assignment",
     "Explain how random assignment is emulated, i.e. which baseline confounders are adjusted for."),
    (8, "Methods", "Follow-up",
     "Define time zero and the end of follow-up, and show that eligibility, assignment and time zero coincide."),
    (9, "Methods", "Outcomes",
     "Define each outcome, how and when it was ascertained in the data."),
    (10, "Methods", "Causal contrasts and estimands",
     "Name the causal contrast (e.g. intention-to-treat or per-protocol) and the estimand for each outcome."),
    (11, "Methods", "Identifying assumptions",
     "State the assumptions that identify the estimand (exchangeability given the confounders, positivity, "
     "consistency) and how they are supported."),
    (12, "Methods", "Statistical analysis",
     "Describe the estimators, the handling of confounding, missing data and censoring, and the variance."),
    (13, "Methods", "Sensitivity analyses (planned)",
     "Describe the sensitivity and additional analyses and the biases each addresses."),
    (14, "Methods", "Protocol and registration",
     "Say whether and where the protocol and analysis plan were registered or can be read."),
    (15, "Results", "Participant flow",
     "Give the numbers at each stage from the source data to the analysed cohort, with a flow diagram."),
    (16, "Results", "Baseline characteristics",
     "Show baseline characteristics by strategy, before and after adjustment, with a balance measure."),
    (17, "Results", "Follow-up and events",
     "Report follow-up time and the numbers at risk and with events in each strategy."),
    (18, "Results", "Effect estimates",
     "For each estimand give the estimate with its uncertainty, preferably on absolute and relative scales."),
    (19, "Results", "Sensitivity results",
     "Report the results of the sensitivity and additional analyses."),
    (20, "Discussion", "Interpretation and limitations",
     "Interpret the results, including how the emulation may fall short of the target trial and residual bias."),
    (21, "Other information", "Funding, interests, data and code",
     "State funding, competing interests, and how data and analysis code can be obtained."),
)


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One TARGET item: its ``number``, ``part`` of the paper, ``topic``, a ``paraphrase`` of what it asks,
    its ``status`` (one of :data:`STATUSES`) and ``where`` this run reports it: a report section anchor
    ("#protocol") or, for config-supplied text, the ``reporting:`` key with its text."""

    number: int
    part: str
    topic: str
    paraphrase: str
    status: str
    where: str

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "part": self.part, "topic": self.topic, "paraphrase": self.paraphrase,
                "status": self.status, "where": self.where}


@dataclass(frozen=True, slots=True)
class TargetChecklist:
    """The 21 TARGET items as filled from one run (see the module docstring)."""

    items: tuple[ChecklistItem, ...]

    def counts(self) -> dict[str, int]:
        """Number of items per status, every status present (0 when none)."""
        c = Counter(i.status for i in self.items)
        return {s: c.get(s, 0) for s in STATUSES}

    def to_frame(self) -> pd.DataFrame:
        """One row per item: item, part, topic, recommendation, status, where."""
        return pd.DataFrame([{"item": i.number, "part": i.part, "topic": i.topic, "recommendation": i.paraphrase,
                              "status": i.status, "where": i.where} for i in self.items],
                            columns=["item", "part", "topic", "recommendation", "status", "where"])

    def to_dict(self) -> dict[str, Any]:
        return {"guideline": "TARGET (Cashin et al. JAMA/BMJ 2025)", "counts": self.counts(),
                "items": [i.to_dict() for i in self.items]}

    def summary(self) -> str:
        c = self.counts()
        head = (f"TARGET checklist: {c[REPORTED]} of {len(self.items)} items reported by this analysis, "
                f"{c[PARTLY]} partly, {c[AUTHOR]} for the authors to add.")
        return "\n".join([head] + [f"{i.number:>2}. {i.topic}: {i.status} ({i.where})" for i in self.items])

    def model(self, *, number: int = 1, label: str = "Supplementary Table") -> TableModel:
        """The checklist as a journal table (renderable to Word, Excel, LaTeX, HTML)."""
        cols = (Column("item", "Item", kind="stub"), Column("part", "Section", kind="text"),
                Column("topic", "Topic", kind="text"), Column("recommendation", "Recommendation (paraphrase)",
                                                              kind="text"),
                Column("status", "Status", kind="text"), Column("where", "Where reported", kind="text"))
        rows = tuple(Row(variable=str(i.number), level="", stub=str(i.number),
                         cells=(Cell(i.part), Cell(i.topic), Cell(i.paraphrase), Cell(i.status), Cell(i.where)))
                     for i in self.items)
        return TableModel(caption="TARGET checklist for this target-trial emulation", columns=cols, rows=rows,
                          footnotes=("TARGET: Transparent Reporting of Observational Studies Emulating a Target "
                                     "Trial (Cashin AG et al. JAMA 2025; BMJ 2025). Recommendations paraphrased; "
                                     "'#name' refers to a section of report.html.",),
                          number=number, label=label)


def _config_text(key: str, text: str) -> str:
    short = text if len(text) <= 80 else text[:77] + "..."
    return f"reporting.{key}: {short}"


def _finite_ci(e: Any) -> bool:
    return all(v is not None and math.isfinite(v) for v in (e.ci_low, e.ci_high))


def target_checklist(results: AnalysisResults) -> TargetChecklist:
    """Fill the TARGET checklist from a run and its config's ``reporting:`` section.

    Parameters
    ----------
    results : AnalysisResults

    Returns
    -------
    TargetChecklist
        21 items, each with a status ("reported", "partly", "not reported by this analysis (author to add)")
        and where the report states it.
    """
    r = results
    cfg = r.config
    rep = cfg.reporting
    seq, proto = cfg.sequential is not None, cfg.protocol is not None
    failed = r.failed_steps
    causal_est = [e for e in r.estimates if e.method not in ("unadjusted",)]
    sens_keys = {"evalues", "evalue_hr", "specification_grid", "tipping_grid", "refutation", "negative_control"}
    has_sens = bool(sens_keys & set(r.sensitivity))
    sens_failed = [k for k in failed if "sensitiv" in k or k in sens_keys]
    covs = [n for n, c in cfg.covariates.items() if getattr(c, "in_propensity", True)]
    if seq:
        covs = list(cfg.sequential.covariates)

    def author(hint: str) -> tuple[str, str]:
        return AUTHOR, hint

    s: dict[int, tuple[str, str]] = {}
    s[1] = (PARTLY, "#summary (question and answer; the structured abstract is the authors')")
    s[2] = (REPORTED, _config_text("why_not_randomized", rep.why_not_randomized)) if rep.why_not_randomized \
        else author("set reporting.why_not_randomized")
    s[3] = (REPORTED, _config_text("causal_question", rep.causal_question)) if rep.causal_question \
        else (PARTLY, "#summary (question from the protocol; set reporting.causal_question for the full wording)")
    s[4] = (REPORTED, f"config description: {cfg.description[:80]}") if cfg.description \
        else (PARTLY, "#flow (source records); setting and period: set the config's description")
    if proto or seq:
        s[5] = (REPORTED, "#protocol (eligibility), #flow")
    else:
        s[5] = (PARTLY, "#protocol (analysis-ready table: eligibility applied before gistcausal)")
    s[6] = (REPORTED, "#protocol (treatment strategies)")
    if (proto or seq) and covs:
        s[7] = (REPORTED, "#protocol (assignment), #propensity")
    elif covs:
        s[7] = (PARTLY, "#propensity (confounders adjusted for)")
    else:
        s[7] = author("no confounders configured: describe the assignment emulation")
    s[8] = (REPORTED, "#protocol (time zero, follow-up)") if proto or seq \
        else author("analysis-ready table: define time zero and end of follow-up")
    s[9] = (REPORTED, "#protocol (outcomes)")
    if r.causal or seq:
        s[10] = (REPORTED, "#protocol (causal contrast), #effects (estimands: "
                 + ", ".join(cfg.analysis.survival.estimands) + ")")
    else:
        s[10] = (PARTLY, "#protocol (causal contrast); no adjusted estimand was estimated")
    s[11] = (PARTLY, "#propensity, #balance (confounders and overlap; state the assumptions in words)") if covs \
        else author("state exchangeability, positivity and consistency")
    s[12] = (REPORTED, "#methods")
    if has_sens:
        s[13] = (REPORTED, "#methods, #sensitivity")
    elif sens_failed:
        s[13] = (PARTLY, f"#sensitivity (step failed: {', '.join(sens_failed)})")
    else:
        s[13] = author("no sensitivity analysis configured (analysis.sensitivity)")
    if rep.registration and rep.protocol_url:
        s[14] = (REPORTED, _config_text("registration", rep.registration) + "; "
                 + _config_text("protocol_url", rep.protocol_url))
    elif rep.registration or rep.protocol_url:
        key = "registration" if rep.registration else "protocol_url"
        s[14] = (REPORTED, _config_text(key, getattr(rep, key)))
    else:
        s[14] = author("set reporting.registration or reporting.protocol_url")
    s[15] = (REPORTED, "#flow")
    if r.table1 is not None and r.balance:
        s[16] = (REPORTED, "#table1, #balance")
    elif r.table1 is not None or r.balance:
        s[16] = (PARTLY, "#table1" if r.table1 is not None else "#balance")
    else:
        s[16] = author("no Table 1 or balance table in this run")
    if r.study or r.causal:
        s[17] = (REPORTED, "#study, #effects (numbers at risk, events)" if r.causal else "#study (numbers at risk)")
    else:
        s[17] = (PARTLY, "#effects")
    if causal_est and all(_finite_ci(e) for e in causal_est if e.measure == "hr"):
        s[18] = (REPORTED, "#effects (estimates with 95% CIs, relative and absolute)" if not seq else "#sequential")
    elif r.estimates:
        why = f"; failed: {', '.join(failed)}" if failed else ""
        s[18] = (PARTLY, f"#study (unadjusted or incomplete intervals{why})")
    else:
        s[18] = author("no estimate in this run")
    if has_sens:
        s[19] = (REPORTED if not sens_failed else PARTLY, "#sensitivity")
    elif sens_failed:
        s[19] = (PARTLY, f"#sensitivity (step failed: {', '.join(sens_failed)})")
    else:
        s[19] = author("no sensitivity results")
    s[20] = (REPORTED, _config_text("limitations", rep.limitations)) if rep.limitations \
        else author("set reporting.limitations (the E-values in #sensitivity help)")
    other = [k for k in ("funding", "conflicts", "data_availability") if getattr(rep, k)]
    if len(other) == 3:
        s[21] = (REPORTED, "; ".join(_config_text(k, getattr(rep, k)) for k in other))
    elif other:
        missing = [k for k in ("funding", "conflicts", "data_availability") if k not in other]
        s[21] = (PARTLY, "; ".join(_config_text(k, getattr(rep, k)) for k in other)
                 + "; add reporting." + ", reporting.".join(missing))
    else:
        s[21] = author("set reporting.funding, reporting.conflicts, reporting.data_availability")
    return TargetChecklist(tuple(ChecklistItem(n, part, topic, para, *s[n]) for n, part, topic, para in ITEMS))


__all__ = ["target_checklist", "TargetChecklist", "ChecklistItem", "ITEMS", "STATUSES", "REPORTED", "PARTLY",
           "AUTHOR"]
