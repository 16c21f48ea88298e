"""The TARGET checklist of a run: what a target-trial emulation report must state, and where this one does.

TARGET (Transparent Reporting of Observational Studies Emulating a Target Trial; Cashin AG, Hansford HJ,
Hernan MA, Swanson SA, Lee H, et al. JAMA 2025;334(12):1084-93, doi:10.1001/jama.2025.13350; BMJ
2025;390:e087179, doi:10.1136/bmj-2025-087179) is the EQUATOR reporting guideline for observational studies
that emulate a parallel-group, individually randomized trial with adjustment for baseline confounders. Its
checklist has 21 numbered items in six sections (abstract, introduction, methods, results, discussion, other
information). Items 1, 6 and 7 have sub-items, 39 rows in all: 1a-1c (abstract); 6a-6h, the target trial's
protocol (eligibility, strategies, assignment, follow-up, outcomes, causal contrasts, identifying assumptions,
analysis plan); and 7a-7h.ii, how each of those was emulated in the data (7g.i/7g.ii the assumptions and the
variables they need, 7h.i/7h.ii the analysis and the sensitivity analyses).

Where the list comes from (see ``docs/target_trial.md``, "TARGET checklist"): the item numbers, sections,
order and sub-items were checked against two independent summaries that state they were compared with the
statement's checklist table (PubMed Central PMC13084563) and agree with each other row for row, and against
the statement's abstract (21 items, six sections). The journal's checklist table itself was not available to
read here. The texts below are short paraphrases written for this package, never the statement's wording
(the statement is (c) American Medical Association); use the official checklist for a submission.

Each row's status comes from what the run holds (protocol, flow, estimands, weights, balance, estimates with
intervals, E-values, specification grid, failed steps) and from the config's ``reporting:`` section for what no
data can tell (registration, funding, the reason for emulating a trial, ...). A row the run cannot fill is
marked "not reported by this analysis (author to add)": the checklist says what the manuscript still needs, it
does not claim the manuscript has it.
"""
from __future__ import annotations

import html
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd
from markupsafe import Markup

from gistcausal.present.table_model import Cell, Column, Row, TableModel
from gistcausal.results import AnalysisResults

REPORTED = "reported"
PARTLY = "partly"
AUTHOR = "not reported by this analysis (author to add)"
#: The statuses, best first.
STATUSES = (REPORTED, PARTLY, AUTHOR)
#: Short names of the statuses in ``results.json``.
STATUS_KEYS = {REPORTED: "reported", PARTLY: "partly", AUTHOR: "not_reported"}

GUIDELINE = ("TARGET (Cashin AG et al. JAMA 2025;334:1084-93, doi:10.1001/jama.2025.13350; "
             "BMJ 2025;390:e087179)")

#: (row id, item number, section, topic, paraphrase) of the 39 checklist rows, in the statement's order.
ITEMS: tuple[tuple[str, int, str, str, str], ...] = (
    ("1a", 1, "Abstract", "Study identification",
     "Say that the study is an observational emulation of a target trial; give its objective and a short "
     "description of the target trial."),
    ("1b", 1, "Abstract", "Data sources", "Name the data sources the emulation used."),
    ("1c", 1, "Abstract", "Key elements", "Summarize the key assumptions, the analysis, the findings and the "
                                          "conclusion."),
    ("2", 2, "Introduction", "Background", "Give the scientific background and the gap in knowledge."),
    ("3", 3, "Introduction", "Causal question",
     "State the causal question the target trial asks: population (eligibility), strategies, follow-up and "
     "outcomes."),
    ("4", 4, "Introduction", "Rationale for emulation",
     "Explain why emulating a target trial with the available data can answer the question."),
    ("5", 5, "Methods", "Data sources",
     "For each data source: original purpose, type, place, setting and period; how sources were linked or "
     "pooled."),
    ("6a", 6, "Methods", "Target trial: eligibility", "The target trial's eligibility criteria."),
    ("6b", 6, "Methods", "Target trial: treatment strategies",
     "The strategies compared, in enough detail to carry them out."),
    ("6c", 6, "Methods", "Target trial: assignment",
     "That eligible people would be randomized to the strategies (and may know their allocation)."),
    ("6d", 6, "Methods", "Target trial: follow-up",
     "That follow-up would start at assignment, and when it would end."),
    ("6e", 6, "Methods", "Target trial: outcomes", "The outcomes, and how and when they would be measured."),
    ("6f", 6, "Methods", "Target trial: causal contrasts",
     "The causal contrasts (e.g. intention-to-treat or per-protocol effect) and the effect measures."),
    ("6g", 6, "Methods", "Target trial: identifying assumptions",
     "The assumptions that would identify each causal estimand, and the variables they involve."),
    ("6h", 6, "Methods", "Target trial: analysis plan",
     "For each estimand, the planned analysis and its modelling assumptions, including missing data."),
    ("7a", 7, "Methods", "Emulation: eligibility", "How each eligibility criterion was applied in the data."),
    ("7b", 7, "Methods", "Emulation: treatment strategies", "How the strategies were identified in the data."),
    ("7c", 7, "Methods", "Emulation: assignment", "How individuals were assigned to a strategy in the data."),
    ("7d", 7, "Methods", "Emulation: follow-up",
     "That follow-up starts at assignment (with eligibility at the same time), and how its end was defined."),
    ("7e", 7, "Methods", "Emulation: outcomes",
     "How the outcomes were ascertained in the data, and any difference from the target trial."),
    ("7f", 7, "Methods", "Emulation: causal contrasts",
     "How each causal contrast and effect measure was estimated with the data."),
    ("7g.i", 7, "Methods", "Emulation: identifying assumptions",
     "For each estimand, the assumptions made, including no unmeasured baseline confounding."),
    ("7g.ii", 7, "Methods", "Emulation: variables for the assumptions",
     "How the variables the assumptions need (e.g. the confounders) were defined in the data."),
    ("7h.i", 7, "Methods", "Emulation: data analysis",
     "For each estimand, the analysis run and its modelling assumptions, including missing data and changes to "
     "the plan."),
    ("7h.ii", 7, "Methods", "Emulation: sensitivity analyses",
     "Analyses of how the results depend on the definitions, the assumptions and the analysis choices."),
    ("8", 8, "Results", "Participant selection",
     "Numbers screened, eligible and assigned to each strategy; a flow diagram is advised."),
    ("9", 9, "Results", "Baseline data", "Baseline characteristics by strategy."),
    ("10", 10, "Results", "Follow-up", "Length of follow-up and why it ended, by strategy and contrast."),
    ("11", 11, "Results", "Missing data", "How often each variable was missing, by strategy."),
    ("12", 12, "Results", "Outcomes", "Frequency or distribution of each outcome, by strategy."),
    ("13", 13, "Results", "Effect estimates",
     "Each contrast's estimate with its precision; absolute and relative measures where possible."),
    ("14", 14, "Results", "Additional analyses", "Results of the sensitivity and other additional analyses."),
    ("15", 15, "Discussion", "Interpretation",
     "Interpret the main findings given the causal question, the assumptions and the precision."),
    ("16", 16, "Discussion", "Limitations",
     "Limitations, including differences between the target trial and its emulation and how plausible the "
     "assumptions are (above all, no baseline confounding)."),
    ("17", 17, "Other information", "Ethics", "Ethics committee approval, or why it was not needed."),
    ("18", 18, "Other information", "Registration", "Whether, when and where the protocol was registered."),
    ("19", 19, "Other information", "Data and code sharing",
     "Whether and how the data, analysis code and other materials can be obtained."),
    ("20", 20, "Other information", "Funding", "Sources of funding and the funders' role."),
    ("21", 21, "Other information", "Conflicts of interest", "The authors' competing interests."),
)
#: The six sections, in order.
PARTS = ("Abstract", "Introduction", "Methods", "Results", "Discussion", "Other information")


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    """One TARGET checklist row: its ``id`` ("1a", "6g", "7g.i", "8"), item ``number`` (1-21), ``part`` of the
    paper, ``topic``, a ``paraphrase`` of what it asks, its ``status`` (one of :data:`STATUSES`) and ``where``
    this run reports it: report section anchors ("#protocol") or, for config-supplied text, the
    ``reporting:`` key with its text."""

    id: str
    number: int
    part: str
    topic: str
    paraphrase: str
    status: str
    where: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "part": self.part, "topic": self.topic,
                "paraphrase": self.paraphrase, "status": self.status, "where": self.where}


#: The report sections a checklist row can point to (``ReportSection.key`` in :mod:`~gistcausal.present.sections`).
SECTION_ANCHORS = ("summary", "protocol", "flow", "table1", "study", "propensity", "balance", "effects",
                   "sequential", "ph", "strategies", "plasmode", "sensitivity", "target", "methods")
# Only known section names become links: text copied from the config ("#3 of the registry") stays text.
_ANCHOR = re.compile(r"#(" + "|".join(SECTION_ANCHORS) + r")\b")


def _linked(text: str) -> str:
    """``text`` escaped, with every report section named in it ("#protocol") made a link to that section."""
    return _ANCHOR.sub(r'<a href="#\1">#\1</a>', html.escape(text))


@dataclass(frozen=True, slots=True)
class TargetChecklist:
    """The 39 rows of the 21 TARGET items as filled from one run (see the module docstring)."""

    items: tuple[ChecklistItem, ...]

    def counts(self) -> dict[str, int]:
        """Number of checklist rows per status, every status present (0 when none)."""
        c = Counter(i.status for i in self.items)
        return {s: c.get(s, 0) for s in STATUSES}

    def item_status(self) -> dict[int, str]:
        """The status of each numbered item (1-21): "reported" when all its rows are, "not reported ..." when
        none is even partly, else "partly"."""
        out: dict[int, str] = {}
        for n in dict.fromkeys(i.number for i in self.items):
            st = {i.status for i in self.items if i.number == n}
            out[n] = st.pop() if len(st) == 1 and st <= {REPORTED, AUTHOR} else PARTLY
        return out

    def needs_author(self) -> tuple[str, ...]:
        """Ids of the rows marked "not reported by this analysis (author to add)"."""
        return tuple(i.id for i in self.items if i.status == AUTHOR)

    def to_frame(self) -> pd.DataFrame:
        """One row per checklist row: item (id), part, topic, recommendation, status, where."""
        return pd.DataFrame([{"item": i.id, "part": i.part, "topic": i.topic, "recommendation": i.paraphrase,
                              "status": i.status, "where": i.where} for i in self.items],
                            columns=["item", "part", "topic", "recommendation", "status", "where"])

    def counts_dict(self) -> dict[str, Any]:
        """The counts for ``results.json`` ``target_checklist`` (``docs/results_json.md``): per status over
        the rows (as in the report's table) and over the 21 numbered items, and the rows for the authors."""
        short = {STATUS_KEYS[k]: v for k, v in self.counts().items()}
        per_item = Counter(self.item_status().values())
        return {"guideline": GUIDELINE, "n_rows": len(self.items), "n_items": len(self.item_status()),
                "rows": short, "items": {STATUS_KEYS[s]: per_item.get(s, 0) for s in STATUSES},
                "needs_author": list(self.needs_author())}

    def to_dict(self) -> dict[str, Any]:
        return {**self.counts_dict(), "checklist": [i.to_dict() for i in self.items]}

    def summary(self) -> str:
        c = self.counts()
        head = (f"TARGET checklist: {c[REPORTED]} of {len(self.items)} rows (21 items) reported by this analysis, "
                f"{c[PARTLY]} partly, {c[AUTHOR]} for the authors to add.")
        return "\n".join([head] + [f"{i.id:>5}. {i.topic}: {i.status} ({i.where})" for i in self.items])

    def to_html(self) -> Markup:
        """The checklist as the report's HTML table: every report section named in "where" is a link."""
        head = "".join(f"<th>{h}</th>" for h in ("Item", "Section", "Topic", "Recommendation (paraphrase)",
                                                  "Status", "Where reported"))
        rows = "".join(
            f'<tr id="target-{html.escape(i.id)}" data-status="{STATUS_KEYS[i.status]}"><td>{html.escape(i.id)}'
            f"</td><td>{html.escape(i.part)}</td><td>{html.escape(i.topic)}</td><td>{html.escape(i.paraphrase)}"
            f"</td><td>{html.escape(i.status)}</td><td>{_linked(i.where)}</td></tr>" for i in self.items)
        return Markup(f'<table class="tbl target"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')

    def model(self, *, number: int = 1, label: str = "Supplementary Table") -> TableModel:
        """The checklist as a journal table (renderable to Word, Excel, LaTeX, HTML)."""
        cols = (Column("item", "Item", kind="stub"), Column("part", "Section", kind="text"),
                Column("topic", "Topic", kind="text"), Column("recommendation", "Recommendation (paraphrase)",
                                                              kind="text"),
                Column("status", "Status", kind="text"), Column("where", "Where reported", kind="text"))
        rows = tuple(Row(variable=i.id, level="", stub=i.id,
                         cells=(Cell(i.part), Cell(i.topic), Cell(i.paraphrase), Cell(i.status), Cell(i.where)))
                     for i in self.items)
        return TableModel(caption="TARGET checklist for this target-trial emulation", columns=cols, rows=rows,
                          footnotes=("TARGET: Transparent Reporting of Observational Studies Emulating a Target "
                                     "Trial (Cashin AG et al. JAMA 2025; BMJ 2025). Recommendations paraphrased, "
                                     "not the statement's wording; use the official checklist for submission. "
                                     "'#name' refers to a section of report.html.",),
                          number=number, label=label)


def _clip(text: str, most: int = 80) -> str:
    """``text`` up to ``most`` characters, cut after a whole word with an ellipsis (a description cut at 80
    characters ended "... treated with 4" for "treated with 400 mg")."""
    text = " ".join(text.split())
    if len(text) <= most:
        return text
    cut = text[:most - 1].rsplit(" ", 1)[0] if " " in text[:most - 1] else text[:most - 1]
    return cut.rstrip(",;:") + "…"


def _config_text(key: str, text: str) -> str:
    return f"reporting.{key}: {_clip(text)}"


def _finite_ci(e: Any) -> bool:
    return all(v is not None and math.isfinite(v) for v in (e.ci_low, e.ci_high))


def _field(rep: Any, key: str) -> tuple[str, str] | None:
    """(REPORTED, where) when ``reporting.<key>`` is filled, else None."""
    text = getattr(rep, key, "")
    return (REPORTED, _config_text(key, text)) if text else None


def target_checklist(results: AnalysisResults) -> TargetChecklist:
    """Fill the TARGET checklist from a run and its config's ``reporting:`` section.

    Parameters
    ----------
    results : AnalysisResults

    Returns
    -------
    TargetChecklist
        39 rows (the 21 items and their sub-items), each with a status ("reported", "partly", "not reported
        by this analysis (author to add)") and where the report states it.
    """
    r = results
    cfg = r.config
    rep = cfg.reporting
    seq, proto = cfg.sequential is not None, cfg.protocol is not None
    ccw = proto and cfg.protocol.strategies is not None
    # The "#strategies" section exists when the clone-censor-weight step ran or failed (sections.py).
    ccw_sec = ccw and (r.strategies is not None or "strategies" in r.failed_steps)
    failed = r.failed_steps
    causal_est = [e for e in r.estimates if e.method not in ("unadjusted",)]
    sens_keys = {"evalues", "evalue_hr", "specification_grid", "tipping_grid", "refutation", "negative_control"}
    has_sens = bool(sens_keys & set(r.sensitivity))
    sens_failed = [k for k in failed if "sensitiv" in k or k in sens_keys]
    covs = [n for n, c in cfg.covariates.items() if getattr(c, "in_propensity", True)]
    if seq:
        covs = list(cfg.sequential.covariates)
    designed = proto or seq  # a protocol table with every component, not the analysis-ready table's three rows
    plus_ccw = ", #strategies" if ccw_sec else ""

    def author(hint: str) -> tuple[str, str]:
        return AUTHOR, hint

    s: dict[str, tuple[str, str]] = {}
    # Abstract: gistcausal writes no abstract; the summary section holds its material.
    s["1a"] = (PARTLY, "#summary, #protocol (material for the abstract; the abstract itself is the authors')")
    s["1b"] = (PARTLY, f"config description: {_clip(cfg.description)}" if cfg.description
               else "#flow (source records); name the data sources in the abstract")
    s["1c"] = (PARTLY, "#summary, #protocol (identifying assumptions), #methods (material for the abstract)")
    s["2"] = author("scientific background and the gap in knowledge are the authors'")
    s["3"] = _field(rep, "causal_question") or (
        PARTLY, "#summary, #protocol (question from the protocol; set reporting.causal_question for the full "
                "wording)")
    s["4"] = _field(rep, "why_not_randomized") or author("set reporting.why_not_randomized")
    s["5"] = (REPORTED, f"config description: {_clip(cfg.description)}") if cfg.description \
        else (PARTLY, "#flow (source records); purpose, setting and period: set the config's description")
    # 6a-6h: the target-trial column of the protocol table; 7a-7h: its emulation column.
    s["6a"] = (REPORTED, "#protocol (eligibility criteria, target trial)") if designed \
        else author("analysis-ready table: state the target trial's eligibility criteria")
    s["6b"] = (REPORTED, "#protocol (treatment strategies, target trial)"
               + ("; sustained strategies with their grace period" if ccw else ""))
    s["6c"] = (REPORTED, "#protocol (assignment procedure: randomization)") if designed \
        else author("analysis-ready table: state that the target trial randomizes")
    s["6d"] = (REPORTED, "#protocol (time zero, follow-up; target trial)") if proto \
        else (PARTLY, "#protocol (time zero; state the end of follow-up)") if seq \
        else author("analysis-ready table: define time zero and the end of follow-up")
    s["6e"] = (REPORTED, "#protocol (outcomes)")
    s["6f"] = (REPORTED, "#protocol (causal contrast, estimand" + ("; per-protocol contrast" if ccw else "") + ")") \
        if designed else author("analysis-ready table: name the causal contrast (e.g. intention-to-treat)")
    s["6g"] = (REPORTED, "#protocol (identifying assumptions)") if proto \
        else (PARTLY, "#sequential (adjustment at each trial's start; state the assumptions)") if seq \
        else author("state the identifying assumptions")
    s["6h"] = (REPORTED, "#protocol (analysis plan, with missing data)") if designed \
        else (PARTLY, "#protocol (analysis plan: emulation only)")
    s["7a"] = (REPORTED, "#protocol (eligibility criteria, emulation), #flow") if designed \
        else (PARTLY, "#flow (eligibility applied before gistcausal: describe it)")
    s["7b"] = (REPORTED, "#protocol (treatment strategies, emulation)" + plus_ccw)
    if designed and covs:
        s["7c"] = (REPORTED, "#protocol (assignment procedure), #propensity" if r.propensity is not None
                   else "#protocol (assignment procedure)")
    elif covs and r.propensity is not None:
        s["7c"] = (PARTLY, "#propensity (confounders adjusted for)")
    else:
        s["7c"] = author("no confounders configured: describe how assignment was emulated")
    s["7d"] = (REPORTED, "#protocol (time zero, follow-up; emulation)" + plus_ccw) if proto \
        else (PARTLY, "#protocol (time zero; end of follow-up to add)") if seq \
        else author("analysis-ready table: state that follow-up starts at assignment, and its end")
    s["7e"] = (REPORTED, "#protocol (outcomes)") if designed \
        else (PARTLY, "#protocol (outcome columns of the analysis-ready table; how they were ascertained)")
    if r.causal or seq:
        s["7f"] = (REPORTED, "#protocol (causal contrast), #effects (estimands: "
                   + ", ".join(cfg.analysis.survival.estimands) + ")" + plus_ccw) if r.causal \
            else (REPORTED, "#protocol (causal contrast), #sequential")
    else:
        s["7f"] = (PARTLY, "#protocol (causal contrast); no adjusted estimand was estimated")
    if proto and covs:
        s["7g.i"] = (REPORTED, "#protocol (identifying assumptions, with the measured overlap)")
    elif covs and r.propensity is not None:
        s["7g.i"] = (PARTLY, "#propensity, #balance (confounders and overlap; state the assumptions in words)")
    else:
        s["7g.i"] = author("state exchangeability, positivity and consistency")
    if covs and r.propensity is not None:
        s["7g.ii"] = (REPORTED, "#propensity (confounders and their coding in the model)"
                      + (", #table1" if r.table1 is not None else ""))
    elif seq and covs:
        s["7g.ii"] = (PARTLY, "#protocol (covariates at each trial's start; give their definitions)")
    else:
        s["7g.ii"] = author("define the confounders in the data")
    s["7h.i"] = (REPORTED, "#protocol (analysis plan, with missing data), #methods") if proto \
        else (PARTLY, "#methods (state the handling of missing data)")
    if has_sens:
        s["7h.ii"] = (REPORTED, "#methods, #sensitivity")
    elif sens_failed:
        s["7h.ii"] = (PARTLY, f"#sensitivity (step failed: {', '.join(sens_failed)})")
    else:
        s["7h.ii"] = author("no sensitivity analysis configured (analysis.sensitivity)")
    s["8"] = (REPORTED, "#flow" + (" (also at the strategies' time zero: #strategies)" if ccw_sec else ""))
    s["9"] = (REPORTED, "#table1" + (", #balance" if r.balance else "")) if r.table1 is not None \
        else (PARTLY, "#balance") if r.balance else author("no Table 1 in this run")
    if r.study or r.causal:
        s["10"] = (PARTLY, ("#study" if r.study else "#effects") + " (numbers at risk by arm over time); add the "
                   "median follow-up and why follow-up ended")
    else:
        s["10"] = author("report the length of follow-up and why it ended, by strategy")
    s["11"] = (PARTLY, "#table1 (missing covariate values by arm where any; missing outcomes and dates: add)") \
        if r.table1 is not None else author("report how often each variable was missing, by strategy")
    if r.study:
        s["12"] = (REPORTED, "#study (events by arm, medians)")
    elif r.causal:
        s["12"] = (PARTLY, "#effects (numbers at risk; give the events by arm)")
    else:
        s["12"] = author("report each outcome's frequency by strategy")
    if causal_est and all(_finite_ci(e) for e in causal_est if e.measure == "hr"):
        s["13"] = (REPORTED, ("#effects (estimates with 95% CIs, relative and absolute)" if not seq
                              else "#sequential") + plus_ccw)
    elif r.estimates:
        why = f"; failed: {', '.join(failed)}" if failed else ""
        s["13"] = (PARTLY, f"#study (unadjusted or incomplete intervals{why})" if r.study
                   else f"#effects (incomplete intervals{why})" if r.causal else f"#summary (incomplete{why})")
    else:
        s["13"] = author("no estimate in this run")
    if has_sens:
        s["14"] = (REPORTED if not sens_failed else PARTLY, "#sensitivity")
    elif sens_failed:
        s["14"] = (PARTLY, f"#sensitivity (step failed: {', '.join(sens_failed)})")
    else:
        s["14"] = author("no sensitivity results")
    s["15"] = (PARTLY, "#summary (a one-sentence answer; the interpretation is the authors')")
    s["16"] = _field(rep, "limitations") or author("set reporting.limitations (the E-values in #sensitivity help)"
                                                   if has_sens else "set reporting.limitations")
    s["17"] = _field(rep, "ethics") or author("set reporting.ethics (approval or waiver, consent)")
    if rep.registration and rep.protocol_url:
        s["18"] = (REPORTED, _config_text("registration", rep.registration) + "; "
                   + _config_text("protocol_url", rep.protocol_url))
    else:
        s["18"] = _field(rep, "registration") or _field(rep, "protocol_url") \
            or author("set reporting.registration or reporting.protocol_url")
    s["19"] = _field(rep, "data_availability") or author("set reporting.data_availability")
    s["20"] = _field(rep, "funding") or author("set reporting.funding")
    s["21"] = _field(rep, "conflicts") or author("set reporting.conflicts")
    return TargetChecklist(tuple(ChecklistItem(i, n, part, topic, para, *s[i]) for i, n, part, topic, para in ITEMS))


__all__ = ["target_checklist", "TargetChecklist", "ChecklistItem", "ITEMS", "PARTS", "SECTION_ANCHORS", "STATUSES",
           "STATUS_KEYS", "REPORTED", "PARTLY", "AUTHOR", "GUIDELINE"]
