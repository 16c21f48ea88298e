"""The report's sections, in reading order, built from :class:`~gistcausal.results.AnalysisResults`.

Question and answer first; then the protocol, the patient flow, Table 1, the unadjusted analysis, the propensity score and weights, balance, the causal (weighted) estimates, and a methods
paragraph generated from the config.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from gistcausal.analysis.spec import adjustment_name
from gistcausal.design.codes import code_text
from gistcausal.design.disclosure import suppress_counts, threshold_for
from gistcausal.present.answer import headline
from gistcausal.present.people import MEASURE_NAMES, column_heading, decimals_for
from gistcausal.present.multiarm import multiarm_methods, multiarm_sections, propensity_table, weights_table
from gistcausal.present.table_model import TableModel, fmt_num
from gistcausal.results import AnalysisResults, and_list


@dataclass(frozen=True, slots=True)
class ReportSection:
    """One section of the HTML report: a title, paragraphs, tables and figures (in that order)."""

    key: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    figures: tuple[tuple[str, str], ...] = ()  # (caption, figure key)
    notes: tuple[str, ...] = ()
    details: tuple[tuple[str, pd.DataFrame], ...] = ()  # long tables, collapsed under the section


def frame_to_html(df: Any) -> Markup:
    """HTML table with every cell escaped (column names and category labels come from data); snake_case column
    codes are shown as words (:func:`column_heading`). A journal table
    (:class:`~gistcausal.present.tables.TableOne`, a :class:`~gistcausal.present.table_model.TableModel`)
    renders through its own table model."""
    if isinstance(df, TableModel):
        from gistcausal.present.render.html import render_html

        return Markup(render_html(df))
    if not isinstance(df, pd.DataFrame) and hasattr(df, "to_html"):
        return Markup(df.to_html())
    shown = df.rename(columns=column_heading) if isinstance(df, pd.DataFrame) else df
    return Markup(shown.to_html(index=False, escape=True, na_rep="", border=0, classes="tbl"))


def _num(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "NE"
    return f"{v:.{digits}f}"


def _contrast_label(contrast: str, arms: dict[str, str]) -> str:
    """``"a vs b"`` or an arm code, with arm codes replaced by their configured labels."""
    return " vs ".join(arms.get(part, part) for part in contrast.split(" vs "))


def display_labels(r: "AnalysisResults") -> tuple[dict[str, str], dict[str, str]]:
    """(outcome code -> label, arm code -> label) from the config, for every table a person reads."""
    cfg = r.config
    outcomes = {n: o.label for n, o in cfg.outcomes.items()}
    arms = {a: cfg.treatment.label(a) for a in cfg.treatment.arms}
    return outcomes, arms


def estimates_display(estimates: list[Any], *, outcomes: dict[str, str] | None = None,
                      arms: dict[str, str] | None = None) -> pd.DataFrame:
    """Readable effects table: one row per estimate with its estimand, method and variance method; outcome and
    arm codes replaced by the labels given."""
    outcomes, arms = outcomes or {}, arms or {}
    rows = []
    for e in estimates:
        is_p = e.measure.endswith("_p")
        rows.append({
            "outcome": outcomes.get(e.outcome, e.outcome), "measure": MEASURE_NAMES.get(e.measure, e.measure),
            "time": "" if not math.isfinite(e.time) else f"{e.time:g}",
            "contrast / arm": _contrast_label(e.contrast, arms), "estimand": e.estimand, "method": e.method,
            "estimate": _num(e.value, 3 if is_p else 2),
            "95% CI": "" if is_p or not math.isfinite(e.ci_low) and not math.isfinite(e.ci_high)
            else f"{_num(e.ci_low)} to {_num(e.ci_high)}",
            "p": "" if is_p or not math.isfinite(e.p) else _num(e.p, 3),
            "variance": e.variance, "note": e.note})
    return pd.DataFrame(rows)


def _ci(e: Any, digits: int = 2) -> str:
    return f"{_num(e.value, digits)} ({_num(e.ci_low, digits)} to {_num(e.ci_high, digits)})"


def _p(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _pick(estimates: list[Any], **match: Any) -> Any:
    for e in estimates:
        if all((abs(getattr(e, k) - v) < 1e-9 if k == "time" else getattr(e, k) == v) for k, v in match.items()):
            return e
    return None


def study_results_table(r: "AnalysisResults") -> pd.DataFrame:
    """The unadjusted results in one table: per outcome and arm, patients, events, median (95% CI); the log-rank
    p-value and the unadjusted hazard ratio per outcome."""
    cfg = r.config
    tr, ct = cfg.treatment.treated, cfg.treatment.control
    rows = []
    for name, comp in r.study.items():
        est = [e for e in comp.estimates]
        curves = comp.curves
        lr = _pick(est, measure="logrank_p")
        hr = _pick(est, measure="hr")
        for arm in (tr, ct):
            c = curves[curves["arm"] == arm]
            n = int(c["n_risk_raw"].iloc[0]) if len(c) else 0
            ev = int(c["n_event_raw"].sum()) if len(c) else 0
            med = _pick(est, measure="median", contrast=arm)
            rows.append({"outcome": cfg.outcomes[name].label, "arm": cfg.treatment.label(arm), "patients": n,
                         "events (%)": f"{ev} ({100 * ev / n:.1f})" if n else "",
                         "median, 95% CI": _ci(med, 1) if med else "",
                         "log-rank p": _p(lr.value) if (lr and arm == tr) else "",
                         "HR (95% CI)": _ci(hr) if (hr and arm == tr) else ""})
    return pd.DataFrame(rows)


def causal_results_table(r: "AnalysisResults") -> pd.DataFrame:
    """Key causal estimates: per outcome and estimand, the marginal HR, RMST difference, survival differences
    at the landmarks, the weighted log-rank p and the adjusted medians."""
    cfg = r.config
    tr, ct = cfg.treatment.treated, cfg.treatment.control
    rows = []
    for (name, est), comp in r.causal.items():
        e = list(comp.estimates)
        row = {"outcome": cfg.outcomes[name].label, "estimand": est}
        hr = _pick(e, measure="hr")
        row["marginal HR (95% CI)"] = _ci(hr) if hr else ""
        rd = _pick(e, measure="rmst_diff")
        if rd:
            row[f"RMST difference at {rd.time:g} (95% CI)"] = _ci(rd)
        for lm in cfg.analysis.survival.landmarks:
            sd = _pick(e, measure="surv_diff", time=lm)
            if sd:
                row[f"survival difference at {lm:g}"] = _ci(sd)
        for arm in (tr, ct):
            m = _pick(e, measure="median", contrast=arm)
            row[f"median, {cfg.treatment.label(arm)}"] = _ci(m, 1) if m else ""
        lr = _pick(e, measure="logrank_p")
        row["weighted log-rank p"] = _p(lr.value) if lr else ""
        row["variance"] = hr.variance if hr else ""
        rows.append(row)
    return pd.DataFrame(rows)


def at_risk_wide(at_risk: pd.DataFrame, *, weighted: bool, labels: dict[str, str]) -> pd.DataFrame:
    """Numbers at risk with times as columns: one row per arm (and a weighted row per arm when asked)."""
    rows = []
    for arm, g in at_risk.groupby("arm", sort=False):
        rows.append({"": f"{labels.get(arm, arm)}: n at risk",
                     **{f"{t:g}": (v if isinstance(v, str) else int(v)) for t, v in zip(g["time"], g["n_at_risk"])}})
        if weighted:
            rows.append({"": f"{labels.get(arm, arm)}: weighted n at risk",
                         **{f"{t:g}": (v if isinstance(v, str) else f"{v:.1f}")
                            for t, v in zip(g["time"], g["weighted_n_at_risk"])}})
    return pd.DataFrame(rows)


def table1_display(df: pd.DataFrame) -> pd.DataFrame:
    """Paper layout of Table 1: the variable name once, levels indented below, p-values rounded."""
    out = df.copy()
    first = ~out["variable"].duplicated()
    out["variable"] = out["variable"].where(first, "")
    if "level" in out.columns:
        out["level"] = out["level"].fillna("")
    if "p" in out.columns:
        out["p"] = [_p(v) if isinstance(v, float) else ("" if v is None else str(v)) for v in out["p"]]
    return out.fillna("")


def _model_terms(r: "AnalysisResults") -> str:
    """The propensity model's covariates by label, with splines and interactions named in words."""
    cfg = r.config
    terms = []
    for n, c in cfg.covariates.items():
        if c.in_propensity:
            lab = c.label or n
            if getattr(c, "spline_df", None):
                lab = f"{lab} (natural spline, {c.spline_df} df)"
            elif getattr(c, "transform", None) == "log":
                lab = f"{lab} (log scale)"
            terms.append(lab)
    for a, b in cfg.analysis.propensity.interactions:
        terms.append(f"{cfg.covariates[a].label or a} x {cfg.covariates[b].label or b}"
                     if a in cfg.covariates and b in cfg.covariates else f"{a} x {b}")
    return "covariates " + "; ".join(terms)


def flow_display(r: "AnalysisResults") -> pd.DataFrame:
    """The flow table for people: arm labels instead of codes, readable headers (small cells suppressed)."""
    df = r.flow_frame()
    arms = display_labels(r)[1]
    df["label"] = [f"Arm: {arms.get(x[5:], x[5:])}" if k == "arm" else x for x, k in zip(df["label"], df["kind"])]
    df = pd.concat([df, _unmatched_rows(r, arms)], ignore_index=True)
    return df.rename(columns={"label": "Step", "kind": "Kind", "rule": "Rule", "n_before": "Patients before",
                              "n_removed": "Removed", "n_after": "Patients after"})


def _unmatched_rows(r: "AnalysisResults", arms: dict) -> pd.DataFrame:
    """With propensity-score matching: per estimand and arm, the patients left unmatched (caliper, exact
    matching), so the flow ends at the patients the matched analysis uses (issue 18)."""
    rows = []
    size = dict(r.flow.arms)
    codes = {"treated": r.config.treatment.treated, "control": r.config.treatment.control}
    for est, w in r.weights.items():
        d = w.to_dict()
        if "n_unmatched" not in d:
            continue
        for role in ("treated", "control"):
            code = codes[role]
            n0, gone = int(size.get(code, 0)), int(d["n_unmatched"].get(role, 0))
            rule = ("no patient of the other arm within the caliper (and exact-matching strata)" if role == "treated"
                    else "not chosen as a match for any patient of the other arm")
            rows.append({"label": f"Not matched ({est}): {arms.get(code, code)}", "kind": "matching", "rule": rule,
                         "n_before": n0, "n_removed": gone, "n_after": n0 - gone})
    return pd.DataFrame(rows, columns=["label", "kind", "rule", "n_before", "n_removed", "n_after"])


_POPULATION = {"ATE": "all eligible patients", "ATT": "patients like those who received {t}",
               "ATC": "patients like those who received {c}", "ATO": "patients in clinical equipoise (overlap weights)",
               "matching": "patients in the region of matching weights"}


def _estimand_words(r: "AnalysisResults") -> str:
    """The estimands in words: population, contrast and measures, e.g. "ATE of initiating A vs B, among all
    eligible patients, on the 24-month RMST, survival at 12 and 24 months and the marginal hazard ratio"; the
    measures are those of the primary outcome's type (:func:`_primary_measures`)."""
    cfg = r.config
    tr = cfg.treatment
    t, c = tr.label(tr.treated), tr.label(tr.control)
    s = cfg.analysis.survival
    o = cfg.outcomes[cfg.primary_outcome].label if cfg.primary_outcome in cfg.outcomes else cfg.primary_outcome
    versus = f"{t} vs {c}" if len(tr.arms) == 2 else f"every pair of {', '.join(tr.label(a) for a in tr.arms)}"
    parts = [f"{e} of {versus}, among {_POPULATION.get(e, e).format(t=t, c=c)}" for e in s.estimands]
    return "; ".join(parts) + f"; outcome {o}, measured by " + ", ".join(_primary_measures(r)) + "."


def _outcome_kind(r: "AnalysisResults", name: str) -> str:
    o = r.config.outcomes.get(name)
    return getattr(o, "type", "time_to_event") if o is not None else "time_to_event"


def _primary_measures(r: "AnalysisResults") -> list[str]:
    """The primary outcome's effect measures in words, by its type: RMST, landmark survival and the marginal hazard
    ratio (time to event); the cumulative incidence of the cause of interest (the first cause listed), the
    restricted mean time lost and the cause-specific hazard ratio (competing risks); the risk difference, risk
    ratio and odds ratio (binary); the mean difference (continuous)."""
    cfg = r.config
    s = cfg.analysis.survival
    kind = _outcome_kind(r, cfg.primary_outcome)
    unit = cfg.time_unit[:-1] if cfg.time_unit.endswith("s") else cfg.time_unit  # "24-month", adjectival
    times = f"{', '.join(f'{x:g}' for x in s.landmarks)} {cfg.time_unit}"
    if kind == "binary":
        return ["the risk difference", "the risk ratio", "the odds ratio"]
    if kind == "continuous":
        return ["the mean difference"]
    if kind == "competing":
        causes = getattr(cfg.outcomes[cfg.primary_outcome], "causes", {}) or {}
        cause = next(iter(causes.values()), "the first cause")
        measures = []
        if s.landmarks:
            measures.append(f"the cumulative incidence of {cause} at {times} (the other causes as competing events)")
        if s.horizon:
            measures.append(f"the {s.horizon:g}-{unit} restricted mean time lost to {cause}")
        return measures + [f"the cause-specific hazard ratio of {cause}"]
    measures = []
    if s.horizon:
        measures.append(f"the {s.horizon:g}-{unit} restricted mean survival time")
    if s.landmarks:
        measures.append(f"survival at {times}")
    return measures + ["the marginal hazard ratio"]


#: What the causal step estimates, per outcome type (the analysis plan).
_PLAN_BY_KIND = {"time_to_event": "weighted Kaplan-Meier, RMST, marginal Cox",
                 "competing": "weighted Aalen-Johansen cumulative incidence per cause, restricted mean time lost, "
                              "cause-specific Cox",
                 "binary": "weighted risks (risk difference, risk ratio, odds ratio)",
                 "continuous": "weighted means (mean difference)"}
_UNADJUSTED_BY_KIND = {"time_to_event": "Kaplan-Meier, log-rank test, Cox model",
                       "competing": "Aalen-Johansen cumulative incidence per cause, cause-specific Cox model",
                       "binary": "risks", "continuous": "means"}


def _kinds(r: "AnalysisResults") -> list[str]:
    """The outcome types of the config that the causal step compares, the primary outcome's first."""
    cfg = r.config
    kinds = [_outcome_kind(r, cfg.primary_outcome)] + [_outcome_kind(r, n) for n in cfg.outcomes]
    return [k for k in dict.fromkeys(kinds) if k in _PLAN_BY_KIND]   # a protocol's durations are described apart


def _assumptions(r: "AnalysisResults") -> str:
    """The identifying assumptions of the emulation, with what the run measured where it can."""
    cfg = r.config
    if not (cfg.analysis.causal and cfg.covariates):
        return ("Exchangeability without adjustment (no covariate is adjusted for: the arms must be comparable as "
                "they are, as in a randomized trial); positivity (patients in every arm); consistency (well-defined "
                "strategies as specified above); no interference between patients.")
    covs = ", ".join((c.label or n) for n, c in cfg.covariates.items() if c.in_propensity) or "no covariates"
    overlap = ""
    if r.weights:
        est, w = next(iter(r.weights.items()))
        diag = {d["arm"]: d for d in w.to_dict().get("diagnostics", [])}
        if "treated" in diag and "control" in diag:
            overlap = (f" (measured overlap, {est}: effective sample sizes {diag['treated']['ess']:.1f} of "
                       f"{diag['treated']['n']} and {diag['control']['ess']:.1f} of {diag['control']['n']})")
    model = ("balance on the covariate moments suffices: the log-odds of treatment or the outcome model linear in "
             "them (Zhao Q, Percival D. J Causal Inference 2017;5:20160010), checked by balance"
             if cfg.analysis.weights.method == "ebal" else "correct propensity model (checked by balance)")
    return (f"Exchangeability given {covs}; positivity{overlap}; consistency (well-defined strategies as "
            f"specified above); no interference between patients; {model}.")


def _strategies(tr: Any) -> str:
    """"A vs B", or every arm ("A vs B vs C") when there are more than two."""
    if len(tr.arms) > 2:
        return " vs ".join(tr.label(a) for a in tr.arms)
    return f"{tr.label(tr.treated)} vs {tr.label(tr.control)}"


_MISSING_RULES = {"impute": "multiple imputation by chained equations ({m} data sets; estimates pooled by Rubin's "
                            "rules)", "category": "a category of its own", "complete_case": "patients excluded"}


def _missing_data_plan(r: "AnalysisResults") -> str:
    """How missing covariate values are handled, from ``covariates.<name>.missing`` (one clause per rule)."""
    cfg = r.config
    by_rule: dict[str, list[str]] = {}
    for n, c in cfg.covariates.items():
        by_rule.setdefault(c.missing, []).append(c.label or n)
    parts = [f"{', '.join(labs)}: {_MISSING_RULES[rule].format(m=cfg.analysis.imputations)}"
             for rule, labs in by_rule.items() if rule in _MISSING_RULES]
    if "error" in by_rule:
        parts.append(("other covariates" if parts else "all covariates") + ": none allowed (the run stops on one)")
    return "Missing covariate values: " + "; ".join(parts) + "."


def _covariate_labels(r: "AnalysisResults", names: list[str]) -> str:
    cfg = r.config
    return ", ".join((cfg.covariates[n].label or n) if n in cfg.covariates else n for n in names) or "no covariates"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _strategy_rows(r: "AnalysisResults") -> list[tuple[str, str, str]]:
    """Rows of a sustained-strategies (clone-censor-weight) protocol, ``protocol.strategies``: the strategies,
    eligibility and time zero of that trial, the per-protocol contrast, how deviations were handled (cloning,
    artificial censoring, grace period) and the censoring models with their covariates (Hernan MA, Robins JM.
    Am J Epidemiol 2016;183:758-64; Maringe C et al. Int J Epidemiol 2020;49:1719-29)."""
    cfg = r.config
    g = cfg.protocol.strategies
    unit = cfg.time_unit
    adj = unit[:-1] if unit.endswith("s") else unit  # "24-month", adjectival
    lab = {k: cfg.treatment.label(k) if k in cfg.treatment.arms else k for k in g.strategies}
    names = list(lab.values())
    grace = f"{g.grace:g} {unit}"
    outcome = cfg.outcomes[g.outcome].label if g.outcome in cfg.outcomes else g.outcome
    strat = "; ".join(f"{lab[k]}: {g.treatment_column} in {{{', '.join(map(code_text, v))}}}"
                      for k, v in g.strategies.items())
    elig = "; ".join(f"{'include' if s.include else 'exclude'} {s.label}" for s in g.eligibility) or \
        "as the protocol's eligibility"
    covs = _covariate_labels(r, list(g.covariates))
    measures = ([f"survival differences at {', '.join(f'{x:g}' for x in g.landmarks)} {unit}"] if g.landmarks
                else []) + ([f"the {g.horizon:g}-{adj} RMST difference"] if g.horizon else [])
    st = r.strategies
    weighting = getattr(st, "weighting", "ipcw")
    ran = (f"{st.n} patients, each cloned into both strategies ({2 * st.n} clones); " if st is not None else
           "step not completed (see #strategies); " if "strategies" in r.failed_steps else "")
    weights = ("Inverse probability of censoring weights from two models, both adjusted for " + covs
               + ": switch censoring, a Cox model (Breslow) of the time to starting another treatment; grace "
               f"censoring, a weighted logistic model of having started the strategy's treatment by {grace}"
               if weighting == "ipcw" else "No censoring weights (weighting: none)")
    return [
        ("Sustained strategies (per protocol)",
         f"{' vs '.join(names)}: start the strategy's treatment within a grace period of {grace} of time zero, "
         "and no other treatment before it",
         f"{strat}; started at {g.treatment_date}; any other code is another treatment"),
        ("Eligibility (sustained strategies)", "As specified in the protocol, at time zero", elig),
        ("Time zero (sustained strategies)", "Eligibility, assignment and start of follow-up at once",
         f"{g.time_zero}: eligibility, assignment of both clones and start of follow-up coincide"),
        ("Causal contrast (per protocol)",
         f"Per-protocol effect: outcome had everyone followed {names[0]} vs had everyone followed {names[1]}",
         f"{_upper_first(', '.join(measures) or 'survival curves')} between the strategies ({outcome}); IPCW-weighted "
         f"product-limit curves; percentile bootstrap over patients ({g.n_bootstrap} replicates)"),
        ("Deviations from the strategies",
         "Starting another treatment, or not starting the assigned one within the grace period",
         f"Clone-censor-weight: {ran}a clone is censored when it starts another treatment within the grace "
         f"period or has not started its strategy's treatment by {grace} (grace period {grace})"),
        ("Censoring models", "Inverse probability of censoring weights for deviations (needed for a per-protocol "
         "effect in a trial too)", weights),
        ("Identifying assumptions (per protocol)",
         "No unmeasured predictors of deviation given the baseline covariates",
         f"No unmeasured confounding of starting treatment given {covs}; after the grace period, late and early "
         "starters with the same covariates share the hazard; positivity of each strategy; consistency"),
    ]


def protocol_table(r: "AnalysisResults") -> pd.DataFrame:
    """The standard two-column target-trial protocol table (target trial vs emulation), from the config.

    Rows follow TARGET items 6a-6h and 7a-7h (Cashin AG et al. JAMA 2025;334:1084-93). With sustained
    strategies (``protocol.strategies``, emulated by clone-censor-weight) the per-protocol rows of
    :func:`_strategy_rows` follow: the strategies with their grace period, eligibility and time zero of that
    trial, the per-protocol contrast, how deviations were handled and the censoring models' covariates.
    """
    cfg = r.config
    tr = cfg.treatment
    # codes as the analysis matches them (a float column's 1.0 is the code 1: design.codes)
    arms = "; ".join(f"{tr.label(a)}: {tr.column} in {{{', '.join(map(code_text, v))}}}" for a, v in tr.arms.items())
    if cfg.sequential is not None:
        sq = cfg.sequential
        rows = [("Eligibility", "Eligible at the start of the trial", f"{sq.eligible_col} is true in the period"),
                ("Treatment strategies", _strategies(tr),
                 f"{sq.treatment_col} = 1 in the trial's period vs 0"),
                ("Assignment procedure", "Randomization", f"Non-random; adjustment for {', '.join(sq.covariates) or '-'} "
                 "at the trial's start"),
                ("Time zero", "Randomization", f"Start of each eligible period ({sq.period_col})"),
                ("Outcomes", sq.outcome_label, f"{sq.time_col}, {sq.event_col}"),
                ("Causal contrast", "Intention-to-treat effect", "Observational analogue of intention to treat"),
                ("Analysis plan", "Comparison of hazards", "Pooled Cox model over trials, SE clustered by patient")]
        return pd.DataFrame(rows, columns=["Component", "Target trial", "Emulation in this analysis"])
    if cfg.protocol is not None:
        p = cfg.protocol
        elig = "; ".join(f"{'include' if s.include else 'exclude'} {s.label}" for s in p.eligibility)
        outs = "; ".join(o.label for o in p.outcomes.values())
        rows = [
            ("Eligibility criteria", "As specified in the protocol", elig),
            ("Treatment strategies", _strategies(tr), arms),
            ("Assignment procedure", "Randomization", p.assignment),
            ("Time zero", "Randomization / start of strategy", f"{p.time_zero}"),
            ("Follow-up", "From time zero to outcome, loss to follow-up or end of study", p.follow_up_end),
            ("Outcomes", outs, outs),
            ("Causal contrast", "Intention-to-treat effect", p.causal_contrast),
            ("Estimand", "Effect of assignment in the trial population", _estimand_words(r)),
            ("Identifying assumptions", "Guaranteed by randomization", _assumptions(r)),
            ("Analysis plan", "Comparison of outcome distributions between arms; missing data handled as planned",
             _plan_text(r)),
        ]
        if p.strategies is not None:
            rows += _strategy_rows(r)
    else:
        rows = [("Treatment strategies", _strategies(tr), arms),
                ("Outcomes", "; ".join(o.label for o in cfg.outcomes.values()), "analysis-ready table"),
                ("Estimand", "Effect of assignment in the trial population", _estimand_words(r)),
                ("Identifying assumptions", "Guaranteed by randomization", _assumptions(r)),
                ("Analysis plan", "Comparison of outcome distributions between arms; missing data handled as planned",
                 _plan_text(r))]
    return pd.DataFrame(rows, columns=["Component", "Target trial", "Emulation in this analysis"])


def _plan_text(r: "AnalysisResults") -> str:
    """The emulation's analysis plan as run: the adjustment method, estimands, propensity model and variance, or
    the unadjusted comparison when no adjusted analysis ran; then the missing-data rules."""
    cfg = r.config
    if cfg.analysis.causal and cfg.covariates:
        how = (f"on the covariate {'means' if cfg.analysis.weights.moments == 1 else 'means and variances'}"
               if cfg.analysis.weights.method == "ebal" else f"with a {cfg.analysis.propensity.method} propensity model")
        plan = (f"{adjustment_name(cfg)} ({', '.join(cfg.analysis.survival.estimands)}) {how}; "
                f"{'; '.join(_PLAN_BY_KIND[k] for k in _kinds(r))}; {cfg.analysis.survival.variance} variance.")
    else:
        plan = (f"Unadjusted comparison only ({'; '.join(_UNADJUSTED_BY_KIND[k] for k in _kinds(r))}); no adjustment "
                "for confounding (analysis.causal is off or no covariates are listed).")
    return f"{plan} {_missing_data_plan(r)}" if cfg.covariates else plan


def weighting_sentence(r: "AnalysisResults") -> str:
    """How the arms were made comparable (analysis.weights.method), with the unmatched counts for matching."""
    cfg = r.config
    w, est = cfg.analysis.weights, and_list(cfg.analysis.survival.estimands)
    if w.method == "matching":
        m = cfg.analysis.matching
        cal = f"a caliper of {m.caliper:g} SD of the logit propensity score" if m.caliper else "no caliper"
        unmatched = "; ".join(f"{k}: {v.to_dict()['n_unmatched']['treated']} treated and "
                              f"{v.to_dict()['n_unmatched']['control']} control patients unmatched"
                              for k, v in r.weights.items() if "n_unmatched" in v.to_dict())
        return (f"Patients were matched 1:{m.ratio} by greedy nearest-neighbour matching on the propensity score "
                f"({est}; {cal}, {'with' if m.replace else 'without'} replacement"
                + (f", exactly on {', '.join(m.exact)}" if m.exact else "") + ", largest score first as in R's MatchIt"
                + (f"; {unmatched}" if unmatched else "") + "); the hazard ratio's standard error is clustered by "
                "matched set (Austin PC. Pharm Stat 2011;10:150-61; Austin PC. Stat Med 2014;33:1242-58).")
    if w.method == "ebal":
        what = "means" if w.moments == 1 else "means and variances"
        return (f"Entropy-balancing weights balanced the covariate {what} exactly, targeting the {est} (Hainmueller J. "
                "Polit Anal 2012;20:25-46; as R's WeightIt method \"ebal\").")
    text = (f"Inverse probability of treatment weights ({'stabilized' if w.stabilize else 'unstabilized'}) targeted "
            f"the {est}")
    changes = []
    for k, v in r.weights.items():
        rec = v.to_dict()
        if rec.get("trim_bounds"):
            lo, hi = rec["trim_bounds"]
            changes.append(f"{k}: {sum(rec['n_trimmed'].values())} patients with propensity scores outside "
                           f"[{lo:.3f}, {hi:.3f}] trimmed")
        if rec.get("truncate_bounds"):
            n = sum(rec["n_truncated"].values())
            raised, lowered = sum(rec.get("n_raised", {}).values()), sum(rec.get("n_lowered", {}).values())
            pct = f"{w.truncate[0]:g}th/{w.truncate[1]:g}th percentiles" if w.truncate else "the configured percentiles"
            changes.append(f"{k}: weights truncated at the {pct}, changing {n} weights"
                           + (f" ({raised} raised, {lowered} lowered)" if raised or lowered else ""))
    return text + (" (" + "; ".join(changes) + ")." if changes else ".")


def methods_paragraph(r: "AnalysisResults") -> str:
    cfg = r.config
    if r.multiarm is not None:
        return multiarm_methods(r)
    if cfg.sequential is not None:
        sq = cfg.sequential
        return (f"We emulated a sequence of target trials, one per {sq.time_unit[:-1]} of eligibility, from a "
                f"person-period table; in each, patients initiating treatment were compared with those who did not "
                f"(yet) initiate, adjusting for {', '.join(sq.covariates) or 'no covariates'} at the trial's start. "
                "Trials were pooled in a Cox model with robust standard errors clustered by patient (Hernan MA et al. "
                "Epidemiology 2008;19:766-79; Danaei G et al. Stat Methods Med Res 2013;22:70-96).")
    tr = cfg.treatment
    s = cfg.analysis.survival
    covs = and_list((c.label or n) for n, c in cfg.covariates.items() if c.in_propensity)
    var = {"robust": "robust (sandwich / infinitesimal-jackknife) variance treating the weights as known",
           "m_estimation": "M-estimation variance accounting for the estimated propensity score",
           "m_estimation_corrected": "M-estimation variance accounting for the estimated propensity score, with "
                                     "the Mancl-DeRouen small-sample correction and t-based intervals",
           "bootstrap": f"a bootstrap of {s.bootstrap_replicates} replicates refitting the propensity model"}[s.variance]
    kinds = _kinds(r)
    unweighted = {"time_to_event": "Unweighted survival was estimated with the Kaplan-Meier method and compared with "
                                   "the log-rank test.",
                  "competing": "Unweighted cumulative incidence of each cause was estimated with the Aalen-Johansen "
                               "method, which treats the other causes as competing events rather than censoring.",
                  "binary": "", "continuous": ""}
    text = (f"We compared {tr.label(tr.treated)} with {tr.label(tr.control)} in {r.flow.n_final} eligible patients. "
            + " ".join(unweighted[k] for k in kinds if unweighted[k]) + " "
            f"To address confounding by indication, a {cfg.analysis.propensity.method} propensity score "
            f"model for receiving {tr.label(tr.treated)} included {covs}. {weighting_sentence(r)} Covariate balance was "
            f"assessed with standardized mean differences (threshold {cfg.analysis.balance_threshold}) following the "
            "conventions of R's cobalt. ")
    landmarks = f"{and_list(f'{x:g}' for x in s.landmarks)} {cfg.time_unit}" if s.landmarks else ""
    horizon = f"horizon {s.horizon:g} {cfg.time_unit}" if s.horizon else ""
    effects = []
    if "time_to_event" in kinds:
        effects.append("Weighted Kaplan-Meier curves"
                       + (f", survival differences at {landmarks}" if landmarks else "")
                       + (f", the restricted mean survival time ({horizon})" if horizon else "")
                       + " and a weighted Cox model (marginal hazard ratio)")
    if "competing" in kinds:
        effects.append("weighted Aalen-Johansen cumulative incidences of each cause"
                       + (f" with their differences at {landmarks}" if landmarks else "")
                       + (f", the restricted mean time lost ({horizon})" if horizon else "")
                       + " and a weighted cause-specific Cox model of each cause")
    if "binary" in kinds:
        effects.append("weighted risks (risk difference, risk ratio and odds ratio)")
    if "continuous" in kinds:
        effects.append("weighted means (mean difference)")
    effects_text = "; ".join(effects)
    text += effects_text[:1].upper() + effects_text[1:] + f" were estimated with {var}"
    if "time_to_event" in kinds:
        text += "; the weighted log-rank test is the design-based robust score test (Lumley, survey::svylogrank)"
    refs = ("Austin PC, Stuart EA. Stat Med 2015;34:3661-79; Cole SR, Hernan MA. Comput Methods Programs Biomed "
            "2004;75:45-9; Hernan MA, Robins JM. Am J Epidemiol 2016;183:758-64; Xie J, Liu C. Stat Med "
            "2005;24:3089-110")
    if "competing" in kinds:
        refs += ("; Aalen OO, Johansen S. Scand J Stat 1978;5:141-50; Putter H, Fiocco M, Geskus RB. Stat Med "
                 "2007;26:2389-430")
    return text + f". Analyses used gistcausal (Python). References: {refs}."


#: The run's warning classes (errors.py) in words, for the report's notes.
_WARNING_WORDS = {"SmallSampleWarning": "small sample", "PositivityWarning": "positivity",
                  "ExtremeWeightWarning": "extreme weights", "ProportionalHazardsWarning": "proportional hazards",
                  "ConvergenceWarning": "convergence", "DataQualityWarning": "data quality",
                  "MissingDataWarning": "missing data"}


def warning_note(text: str) -> str:
    """A warning of the run (``"SmallSampleWarning: PropensityModel.fit: 9.7 patients ..."``, as kept in
    results.json) as the report shows it: ``"Warning (small sample): 9.7 patients ..."``; the class in words and
    the code location (a dotted Python name) left out. Any other text is kept after "Warning: "."""
    cls, sep, rest = text.partition(": ")
    if not sep or cls not in _WARNING_WORDS:
        return f"Warning: {text}"
    where, sep2, msg = rest.partition(": ")
    if sep2 and re.fullmatch(r"[A-Za-z_][\w.]*", where):
        rest = msg
    return f"Warning ({_WARNING_WORDS[cls]}): {rest[:1].upper()}{rest[1:]}"


def warning_words(text: str) -> str:
    """Warning class names inside a text ("SmallSampleWarning in 100 of 100 replicates") in words ("small-sample
    warning in 100 of 100 replicates")."""
    return re.sub(r"\b([A-Z]\w*Warning)\b",
                  lambda m: f"{_WARNING_WORDS[m.group(1)].replace(' ', '-')} warning" if m.group(1) in _WARNING_WORDS
                  else m.group(1), text)


def build_sections(r: "AnalysisResults") -> list[ReportSection]:
    cfg = r.config
    secs: list[ReportSection] = []
    notes = tuple(f"Step not completed: {k} ({v}); the rest of the report is complete." for k, v in
                  r.failed_steps.items()) + tuple(warning_note(w) for w in r.warnings)
    if r.multiarm is not None:   # the K-arm analysis names arms by their quoted codes (stats layer): labels here
        arm_labels = display_labels(r)[1]
        for code, lab in arm_labels.items():
            notes = tuple(n.replace(f"'{code}'", f"'{lab}'") for n in notes)
    secs.append(ReportSection("summary", "Question and answer", (headline(r),), notes=notes))
    secs.append(ReportSection("protocol", "Target trial protocol", tables=(("Protocol", protocol_table(r)),)))
    secs.append(ReportSection("flow", "Patient flow", tables=(("Flow", flow_display(r)),),
                              figures=(("Patient flow (CONSORT-style)", "flow"),)))
    out_labels, labels = display_labels(r)
    secs += [ReportSection(**d) for d in multiarm_sections(r)]
    if r.table1 is not None:
        secs.append(ReportSection("table1", "Table 1: baseline characteristics",
                                  tables=(("Baseline characteristics by arm (unweighted), with tests",
                                           r.table1),)))
    if r.study:
        un = [e for e in r.estimates if e.method == "unadjusted"]
        figs = tuple((f"Kaplan-Meier: {cfg.outcomes[o].label}", f"km_{o}") for o in r.study)
        tabs = [("Unadjusted results: Kaplan-Meier medians, log-rank test, unadjusted Cox", study_results_table(r))]
        for name, d in r.durations.items():
            tabs.append((f"{cfg.outcomes[name].label}: median (range), Mann-Whitney p = {_p(d['p'])}",
                         suppress_counts(d["table"], ["n"], threshold_for(cfg))))
        for name, comp in r.study.items():
            tabs.append((f"Numbers at risk: {cfg.outcomes[name].label}",
                         at_risk_wide(r.at_risk_frame(comp.at_risk), weighted=False, labels=labels)))
        secs.append(ReportSection("study", cfg.output.unadjusted_title, tables=tuple(tabs), figures=figs,
                                  details=(("All unweighted estimates", estimates_display(un, outcomes=out_labels, arms=labels)),)))
    for add in (_propensity_sections, _effect_sections, _competing_section, _strategy_and_simulation_sections,
                _sensitivity_section):
        add(r, secs)
    _target_section(r, secs)
    secs.append(ReportSection("methods", "Methods (generated from the config)", (methods_paragraph(r),)))
    return secs


def competing_table(r: "AnalysisResults", comp: Any) -> pd.DataFrame:
    """One row per cause, measure and time: arm labels for codes, the estimate with its interval rounded for
    people (probabilities and ratios to 3 digits, times to 2 decimals), p-values as p-values."""
    cfg = r.config
    arms = display_labels(r)[1]
    rows = []
    for e in comp.estimates:
        contrast = " vs ".join(arms.get(x, x) for x in e.contrast.split(" vs "))
        when = "" if not math.isfinite(e.time) else f"{e.time:g} {cfg.time_unit}"
        if e.measure == "cs_logrank_p":
            value = _p(e.value)
        else:
            digits = 2 if e.measure.startswith("rmtl") else 3
            value = f"{e.value:.{digits}f}"
            if math.isfinite(e.ci_low) and math.isfinite(e.ci_high):
                value += f" ({e.ci_low:.{digits}f} to {e.ci_high:.{digits}f})"
        rows.append({"Cause": e.extra.get("cause", ""), "Measure": MEASURE_NAMES.get(e.measure, e.measure),
                     "Time": when, "Arm or contrast": contrast, "Estimate (95% CI)": value})
    return pd.DataFrame(rows)


def _competing_section(r: "AnalysisResults", secs: list[ReportSection]) -> None:
    """Competing-risks outcomes: cumulative incidence per cause and arm (Aalen-Johansen), unadjusted and per
    estimand, with the contrasts and the cause-specific hazard ratios."""
    if not r.competing:
        return
    cfg = r.config
    tabs, figs = [], []
    for (name, est), comp in r.competing.items():
        how = "unadjusted" if est == "none" else f"{adjustment_name(cfg)} ({est})"
        label = cfg.outcomes[name].label
        tabs.append((f"{label}: {how}", competing_table(r, comp)))
        figs.append((f"Cumulative incidence by cause: {label}, {how}", f"cif_{name}_{est}"))
    text = ("Each cause's cumulative incidence is the Aalen-Johansen estimate, which treats the other causes as "
            "competing events rather than censoring (1 - Kaplan-Meier would overstate it); intervals use the "
            "infinitesimal-jackknife variance. The cause-specific hazard ratio compares the rate of one cause "
            "among patients still free of every cause; the cumulative incidence difference is the contrast of "
            "absolute risks that patients experience.")
    secs.append(ReportSection("competing", "Competing risks", (text,), tables=tuple(tabs), figures=tuple(figs)))


def _target_section(r: "AnalysisResults", secs: list[ReportSection]) -> None:
    """The TARGET reporting checklist (Cashin et al. JAMA/BMJ 2025), filled from the run and ``reporting:``."""
    from gistcausal.present.target import target_checklist

    chk = target_checklist(r)
    # The checklist renders itself (frame_to_html calls its to_html) so that each "#section" is a link.
    secs.append(ReportSection("target", "TARGET reporting checklist", (chk.summary().splitlines()[0],),
                              tables=(("TARGET items and sub-items (recommendations paraphrased; '#name' links to "
                                       "a section of this report)", chk),)))


def _propensity_sections(r: "AnalysisResults", secs: list[ReportSection]) -> None:
    """Propensity score, weights and balance."""
    cfg = r.config
    out_labels, labels = display_labels(r)
    if r.propensity is not None:
        arm_names = {"treated": labels.get(cfg.treatment.treated, "Treated"),
                     "control": labels.get(cfg.treatment.control, "Control")}
        tabs = [(f"Weight diagnostics ({k})", weights_table(v.to_frame(), r, arm_names)) for k, v in r.weights.items()]
        figs = [("Propensity score overlap by arm", "ps_overlap")]
        figs += [(f"Weight distribution ({k})", f"weights_{k}") for k in r.weights]
        pr = r.propensity
        desc = (f"{pr.method.capitalize()} propensity model for receiving {cfg.treatment.label(cfg.treatment.treated)}: "
                f"{_model_terms(r)}. {pr.n_treated} treated and {pr.n_control} control patients, "
                f"{pr.n_parameters} parameters ({pr.events_per_parameter:.1f} patients of the smaller arm per "
                f"parameter); c-statistic {pr.c_statistic:.3f}. Scores are never clipped; extreme weights are "
                "reported below.")
        ss = pr.score_summary.rename(columns=lambda c: c.replace("n_below_", "n < ").replace("n_above_", "n > "))
        if "arm" in ss.columns:  # the score summary names the arms "treated" and "control"
            ss["arm"] = [arm_names.get(str(a), labels.get(str(a), str(a))) for a in ss["arm"]]
        tabs.insert(0, ("Propensity score distribution by arm", ss))
        secs.append(ReportSection("propensity", "Propensity score and weights", (desc,),
                                  tables=tuple(tabs), figures=tuple(figs),
                                  details=(("Propensity model coefficients", propensity_table(r.propensity, r)),)))
    if r.balance:
        secs.append(ReportSection(
            "balance", "Covariate balance",
            tuple(v.conventions for v in list(r.balance.values())[:1]),
            # unnumbered: the heading names each (the study's Table 1 is the report's "Table 1.")
            tables=tuple((f"Table 1 before and after weighting ({k})", _unnumbered(t))
                         for k, t in r.table1_weighted.items()),
            figures=tuple((f"Love plot ({k})", f"love_{k}") for k in r.balance),
            details=tuple((f"Balance before and after weighting ({k})", _balance_detail(r, k, v))
                          for k, v in r.balance.items())))


def _unnumbered(table: Any) -> Any:
    """A Table 1 (:class:`~gistcausal.present.tables.TableOne`) or a TableModel with an unnumbered caption."""
    from dataclasses import replace

    if hasattr(table, "model"):
        return replace(table, model=replace(table.model, number=None))
    return replace(table, number=None) if hasattr(table, "number") else table


def _balance_detail(r: "AnalysisResults", estimand: str, balance: Any) -> TableModel:
    """Every covariate and level before and after weighting, labelled as in the exported ``balance_<estimand>``
    table (:func:`~gistcausal.present.tables.balance_detail`), without its caption (the report's details name
    it)."""
    from dataclasses import replace

    from gistcausal.analysis.spec import table1_options
    from gistcausal.present.tables import balance_detail

    opts = table1_options(r.config)
    model = balance_detail(balance, labels=opts["labels"], arm_labels=opts["arm_labels"],
                           level_labels=opts["level_labels"])
    return replace(model, caption=None)


def _effect_sections(r: "AnalysisResults", secs: list[ReportSection]) -> None:
    """Causal estimates, sequential trials and the proportional-hazards diagnostics."""
    cfg = r.config
    out_labels, labels = display_labels(r)
    if r.causal:
        causal = [e for e in r.estimates if e.method not in ("unadjusted", "ccw")]
        figs = tuple((f"Unweighted and {adjustment_name(cfg, adjective=True)} Kaplan-Meier ({est}): "
                      f"{cfg.outcomes[o].label}", f"km_{o}_{est}")
                     for (o, est) in r.causal)
        tabs = [("Causal effect estimates (treated vs control)", causal_results_table(r))]
        tabs += [(f"Numbers at risk, raw and weighted: {cfg.outcomes[o].label} ({est})",
                  at_risk_wide(r.at_risk_frame(c.at_risk), weighted=True, labels=labels))
                 for (o, est), c in r.causal.items()]
        if r.truth:
            tabs.insert(1, ("Synthetic registry: estimates beside the known true marginal effects",
                            truth_table(r)))
        secs.append(ReportSection("effects", f"Causal effect estimates ({adjustment_name(cfg)})", tables=tuple(tabs),
                                  figures=figs,
                                  details=(("All causal estimates", estimates_display(causal, outcomes=out_labels, arms=labels)),)))
    if "sequential_model" in r.sensitivity:
        sm = r.sensitivity["sequential_model"]
        secs.append(ReportSection(
            "sequential", "Sequential emulated trials",
            (f"A new trial starts in every period in which a patient is eligible; within it, patients initiating "
             f"treatment are compared with those not initiating (yet), an intention-to-treat analogue (Hernan et al. "
             f"2008; Danaei et al. 2013). {sm.n_rows} person-trials in {sm.n_trials} trials from {sm.n_patients} patients, "
             f"{sm.n_events} events; pooled Cox model with standard errors clustered by patient (as R coxph(..., "
             "cluster = id)).",),
            tables=(("Estimates", estimates_display(list(sm.estimates), outcomes=out_labels, arms=labels)),
                    ("Patients and events per trial and arm", r.sensitivity["sequential_trials"])),
            figures=(("Pooled Kaplan-Meier curves by arm", "sequential_km"),)))
    if r.causal or r.study:
        ph = ph_table(r)
        if len(ph):
            secs.append(ReportSection(
                "ph", "Proportional-hazards diagnostics",
                ("Scaled Schoenfeld residual test of the treatment term (Grambsch & Therneau 1994; R cox.zph). When "
                 "proportional hazards fail, the marginal hazard ratio averages a changing effect over the follow-up "
                 "and the RMST difference or landmark survival should lead.",),
                tables=(("Tests", ph),), figures=(("Scaled Schoenfeld residuals, primary outcome", "schoenfeld"),)))


#: Plasmode measures as a reader names them (issue 18: every outcome type).
PLASMODE_MEASURE_NAMES = {
    "hr": "Hazard ratio (marginal)", "surv_diff": "Survival difference", "rmst_diff": "RMST difference",
    "risk_diff": "Risk difference", "risk_ratio": "Risk ratio (marginal)", "odds_ratio": "Odds ratio (marginal)",
    "mean_diff": "Mean difference", "cif_diff": "Difference in cumulative incidence",
    "rmtl_diff": "Difference in restricted mean time lost"}
_PLASMODE_METHODS = {"iptw": "Adjusted (configured weights)", "unadjusted": "Unadjusted"}


def _relabel_arms(text: str, labels: dict[str, str], settings: dict) -> str:
    """The plasmode summary of three or more arms with arm labels in place of the arm codes it names (whole
    words only); two-arm summaries are returned unchanged."""
    if not settings.get("arms"):
        return text
    import re

    codes = sorted(labels, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, codes)) + r")(?![\w.])")
    return pattern.sub(lambda m: labels[m.group(1)], text)


def _plasmode_text(settings: dict, labels: dict[str, str] | None = None) -> str:
    """What was simulated, by outcome type (the generating model and the injected effect)."""
    kind = settings.get("outcome_type", "time_to_event")
    arms = settings.get("arms")
    ref = (labels or {}).get(str(settings.get("reference")), settings.get("reference"))
    model = {"time_to_event": "event and censoring times are simulated from Weibull proportional-hazards models"
                              + (f" (one coefficient per arm against {ref}; rows resampled "
                                 "within each arm)" if arms else ""),
             "competing": "the time to the first event and its cause are simulated from cause-specific Weibull "
                          f"proportional-hazards models (cause of interest: {settings.get('cause')}), censoring "
                          "from a Weibull model,",
             "binary": "the outcome is simulated from a logistic regression",
             "continuous": "the outcome is simulated from a linear regression with normal residuals"}.get(kind, kind)
    truth = ("the true marginal effect of the injected model" if kind == "time_to_event" else
             "the true marginal effect of the injected model in the target population, computed exactly from its "
             "potential-outcome " + ("cumulative incidences" if kind == "competing" else
                                     "risks" if kind == "binary" else "means"))
    return (f"The cohort's own covariates and treatments are resampled, {model} fitted to the cohort with a known "
            "injected treatment effect, and the configured analysis is run on every replicate (Franklin et al. "
            f"2014). Bias and coverage are against {truth}.")


def plasmode_table(pm: Any, arms: dict[str, str] | None = None) -> pd.DataFrame:
    """The plasmode metrics with labels: estimator and measure named for a reader (the cause for competing
    risks; the contrast with arm labels for three or more arms), time, and the performance measures rounded to
    full precision (rounded for people by :mod:`gistcausal.present.people`)."""
    t = pm.to_frame()
    cause = pm.settings.get("cause")
    names = t["measure"].map(lambda m: PLASMODE_MEASURE_NAMES.get(m, m)
                             + (f" ({cause})" if cause and m in ("cif_diff", "rmtl_diff") else ""))
    t.insert(0, "Estimator", t["method"].map(lambda m: _PLASMODE_METHODS.get(m, m)))
    if "contrast" in t.columns:
        t.insert(1, "Contrast", t.pop("contrast").map(lambda c: _contrast_label(c, arms or {})))
    t.insert(2 if "Contrast" in t.columns else 1, "Measure", names)
    return t.drop(columns=["method", "measure"])


def _strategy_and_simulation_sections(r: "AnalysisResults", secs: list[ReportSection]) -> None:
    """Clone-censor-weight strategies, plasmode, and the steps that failed."""
    cfg = r.config
    out_labels, labels = display_labels(r)
    if r.strategies is not None:
        st = r.strategies
        g = cfg.protocol.strategies
        text = (f"Target trial of sustained strategies from {g.time_zero} (time zero): "
                f"{' vs '.join(st.strategies)}, each to be started within a grace period of {st.grace:g} "
                f"{cfg.time_unit}. Every eligible patient is cloned into both strategies, clones are censored when "
                "they deviate, and the artificial censoring is corrected by inverse probability of censoring weights "
                "(Hernan & Robins 2016; Maringe et al. 2020). Intervals: bootstrap over patients "
                f"({st.n_bootstrap} replicates).")
        tabs = [("Eligibility at the strategies' time zero", r.sensitivity.get("strategies_flow", pd.DataFrame())),
                ("Estimates", estimates_display(list(st.estimates), outcomes=out_labels, arms=labels)),
                ("Clones, compliance and artificial censoring", st.diagnostics)]
        secs.append(ReportSection("strategies", "Sustained strategies (clone-censor-weight)", (text,),
                                  tables=tuple(tabs), figures=(("IPCW-weighted survival by strategy", "strategies"),)))
    if r.plasmode is not None:
        pm = r.plasmode
        secs.append(ReportSection(
            "plasmode", "Plasmode simulation: does this analysis plan recover a known effect?",
            (_plasmode_text(pm.settings, labels), warning_words(_relabel_arms(pm.summary(), labels, pm.settings)).replace(
                f"outcome {pm.settings.get('outcome')}, ",
                f"outcome {out_labels.get(pm.settings.get('outcome'), pm.settings.get('outcome'))}, ", 1)),
            tables=(("Performance of each estimator", plasmode_table(pm, labels)),
                    ("Replicates that failed, by reason", pm.failure_counts())),
            figures=(("Estimates around the truth", "plasmode_estimates"),
                     ("Coverage of the 95% intervals with Monte Carlo error", "plasmode_coverage"))))
    for step, title in (("plasmode", "Plasmode simulation"), ("strategies", "Sustained strategies (clone-censor-weight)")):
        if step in r.failed_steps:
            secs.append(ReportSection(step, title, (_failed_text(step, r.failed_steps[step]),)))


def _sensitivity_section(r: "AnalysisResults", secs: list[ReportSection]) -> None:
    """E-values, tipping point, specification grid, refutation, negative control."""
    if r.multiarm is not None:  # K arms: per pair of arms, in present.multiarm's section
        return
    cfg = r.config
    out_labels, labels = display_labels(r)
    sens = {k: v for k, v in r.sensitivity.items()
            if k not in ("strategies_flow", "sequential_model", "sequential_trials")}
    sens_failed = {k.split(": ", 1)[1]: v for k, v in r.failed_steps.items() if k.startswith("sensitivity: ")}
    if sens or sens_failed:
        paras, tabs, figs, det = [], [], [], []
        paras += [_failed_text(k.replace("_", " "), v) for k, v in sens_failed.items()]
        po = cfg.outcomes.get(cfg.primary_outcome)
        competing = getattr(po, "type", "time_to_event") == "competing"
        cause = next(iter(po.causes.values()), "") if competing else ""
        if competing and {"evalues", "tipping_grid", "specification_grid_cs_hr"} & set(sens):
            paras.append(f"E-values, tipping point and specification grid are of the cause of interest, {cause} "
                         "(the first cause configured), with the other causes as competing events.")
        if "evalues" in sens:
            ev = sens["evalues"]
            if "evalue_hr" in sens:   # the outcome by its label, not its code
                from dataclasses import replace as _replace

                label = po.label if po is not None else cfg.primary_outcome
                paras.append(_replace(sens["evalue_hr"], outcome=label).summary())
            tabs.append(("E-values of the main estimates (VanderWeele & Ding 2017)", evalue_table(ev, cfg.time_unit)))
            if "evalue_hr" in sens:
                figs.append(("Bias plot: joint confounder strengths that would explain away the hazard ratio",
                             "bias_plot"))
            if "benchmarks" in sens:
                det.append(("Observed-covariate benchmarks (strength of each measured confounder on the E-value "
                            "scale)", sens["benchmarks"]))
        if "tipping_grid" in sens:
            hr = f"cause-specific HR of {cause}" if competing else "HR"
            figs.append((f"Tipping point: {hr} adjusted for an unmeasured binary confounder (Lin, Psaty & Kronmal "
                         "1998)", "tipping"))
            det.append(("Tipping-point grid", sens["tipping_grid"]))
        for key in ("specification_grid", "specification_grid_cs_hr"):  # the second: competing risks
            if key not in sens:
                continue
            g = sens[key]
            paras.append(g.summary(cfg.outcomes[g.outcome].label if g.outcome in cfg.outcomes else None,
                                   cfg.time_unit))
            what = g.describe(cfg.time_unit)
            figs.append((f"Specification grid: the main {what} under alternative analysis choices", key))
            tabs.append((f"Specification grid: {what}" if g.cause else "Specification grid", g.to_frame()))
        if "refutation" in sens:
            rr = sens["refutation"]
            # the bridged estimate and the conclusion; one line per refuter is the table below (the summary's
            # indented lines ran together into one paragraph in HTML)
            lines = rr.summary().splitlines()
            e = rr.estimate
            digits = decimals_for(np.array([e.value, e.ci_low, e.ci_high], dtype=float))
            what = "RMST difference" if rr.bridge == "rmst_pseudo" else "survival difference"
            paras.append(f"DoWhy refutation of the IPW {what} at {rr.horizon:g} {cfg.time_unit} (pseudo-observation "
                         f"bridge): {fmt_num(e.value, digits)} (95% CI {fmt_num(e.ci_low, digits)} to "
                         f"{fmt_num(e.ci_high, digits)}).")
            paras += [ln for ln in lines[1:] if not ln.startswith("  ")]
            tabs.append(("DoWhy refutations of the bridged estimate", rr.to_frame()))
            figs.append(("Causal graph used for identification", "causal_graph"))
        if "not_applicable" in sens:
            paras += [f"{row['analysis'][0].upper()}{row['analysis'][1:]}: {row['reason']}."
                      for row in sens["not_applicable"].to_dict(orient="records")]
        if "negative_control" in sens:
            tabs.append((f"Negative-control outcome '{cfg.analysis.sensitivity.negative_control}'",
                         sens["negative_control"]))
        secs.append(ReportSection("sensitivity", "Sensitivity analyses", tuple(paras), tables=tuple(tabs),
                                  figures=tuple(figs), details=tuple(det)))


#: E-value table rows in words (the ``measure`` column of ``sensitivity.evalues``)
_EVALUE_MEASURES = {"hr": "Hazard ratio", "rmst_diff": "RMST difference", "surv_diff": "Survival difference",
                    "surv_ratio": "Survival ratio", "risk_ratio": "Risk ratio", "odds_ratio": "Odds ratio",
                    "risk_diff": "Risk difference", "mean_diff": "Mean difference",
                    "cs_hr": "Cause-specific hazard ratio", "cif_ratio": "Cumulative incidence ratio",
                    "cif_diff": "Cumulative incidence difference"}


def evalue_table(ev: pd.DataFrame, time_unit: str) -> pd.DataFrame:
    """The E-value table for people: each row named in words with its cause and time ("Cumulative incidence
    ratio of Recurrence at 12 months"), the estimate, the two E-values and the conversion used."""
    if ev.empty:
        return pd.DataFrame(columns=["Estimate", "Value", "E-value", "E-value of the CI limit",
                                     "Conversion to a risk ratio"])
    names = []
    for row in ev.to_dict(orient="records"):
        name = _EVALUE_MEASURES.get(row["measure"], row["measure"])
        cause = row.get("cause")
        if isinstance(cause, str) and cause:
            name += f" of {cause}"
        t = row.get("time")
        if t is not None and math.isfinite(t):
            name += f" {'up to' if row['measure'] == 'rmst_diff' else 'at'} {t:g} {time_unit}"
        names.append(name)
    return pd.DataFrame({"Estimate": names, "Value": ev["estimate"].to_numpy(float),
                         "E-value": ev["evalue"].to_numpy(float),
                         "E-value of the CI limit": ev["evalue_ci"].to_numpy(float),
                         "Conversion to a risk ratio": ev["conversion"].to_numpy()})


def _failed_text(step: str, reason: str) -> str:
    return (f"This optional step ({step}) did not complete: {reason}. The rest of the analysis is unaffected; "
            "fix the cause and run again to add it.")


def ph_table(results: "AnalysisResults") -> pd.DataFrame:
    """Scaled Schoenfeld tests (R ``cox.zph``, KM time transform) of the treatment term, unweighted and IPTW."""
    rows = []
    for name, comp in results.study.items():
        if comp.ph_test:
            rows.append({"outcome": name, "model": "unadjusted Cox", **comp.ph_test})
    for (name, est), comp in results.causal.items():
        if comp.ph_test:
            rows.append({"outcome": name, "model": f"IPTW Cox ({est})", **comp.ph_test})
    df = pd.DataFrame(rows)
    if len(df):
        a = results.config.analysis.survival.alpha
        df["reading"] = np.where(df["p"] < a, "PH rejected: lead with RMST / landmark survival", "no evidence against PH")
    return df


def truth_table(results: "AnalysisResults") -> pd.DataFrame:
    """Each IPTW / AIPTW / unadjusted contrast of a causal outcome beside the known true marginal effect."""
    rows = []
    for est, tr in results.truth.items():
        for e in results.estimates:
            if " vs " not in e.contrast or e.measure not in ("hr", "rmst_diff", "surv_diff"):
                continue
            # the adjusted Cox HR targets the conditional HR, not a marginal effect, so it has no row here
            if not ((e.method in ("iptw", "aiptw") and e.estimand == est) or e.method == "unadjusted"):
                continue
            try:
                t = tr.value(e.outcome, e.measure, time=e.time if math.isfinite(e.time) else None)
            except KeyError:
                continue
            covered = bool(e.ci_low <= t <= e.ci_high) if math.isfinite(e.ci_low) else None
            rows.append({"outcome": e.outcome, "measure": e.measure, "time": e.time, "truth estimand": est,
                         "true value": t, "method": e.method, "estimate": e.value, "ci_low": e.ci_low,
                         "ci_high": e.ci_high, "interval covers truth": covered})
    df = pd.DataFrame(rows)
    return df.drop_duplicates() if len(df) else df
