"""The question and the answer that opens the report, shaped by the report's own diagnostics.

The answer reports the primary outcome under the first configured estimand, and follows what the run's checks
found rather than a fixed template:

* proportional hazards: when the IPTW Cox model's scaled-Schoenfeld test rejects (p < alpha), the RMST difference
  (or, without a horizon, the survival difference at the last landmark) leads and the hazard ratio is given as an
  average over the follow-up (Hernan 2010, "The hazards of hazard ratios"; Uno et al. 2014);
* residual imbalance: covariates whose weighted |SMD| still exceeds the configured threshold are named as a caveat;
* specification grid: the spread of the hazard ratio over the alternative analyses, and whether all intervals agree;
* unmeasured confounding: the E-value, and any measured covariate whose own strength exceeds the E-value of the
  confidence limit (observed-covariate benchmark);
* the weighting actually used: stabilization, trimming and truncation with the number of weights changed;
* an interval of the lead estimate that includes the null is read as such: the data neither show a difference nor
  rule one out (not as evidence of no effect).

Labels come from the config; numbers are rounded for people.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gistcausal.analysis.specification import RATIO_MEASURES
from gistcausal.results import AnalysisResults, fmt_number


@dataclass(frozen=True)
class Answer:
    """The opening paragraph: the question, the lead result, supporting results and caveats."""

    question: str
    lead: str
    supporting: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()

    def text(self) -> str:
        return " ".join((self.question, self.lead, *self.supporting, *self.caveats)).strip()

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "lead": self.lead, "supporting": list(self.supporting),
                "caveats": list(self.caveats)}


def _ci(e: Any, digits: int = 2) -> str:
    return f"{fmt_number(e.value, digits)} (95% CI {fmt_number(e.ci_low, digits)} to {fmt_number(e.ci_high, digits)})"


def _time_digits(*values: float) -> int:
    """Decimals of a time for people by the largest size among ``values``: 0 from 100 on, 1 from 10 on, else 2."""
    size = max(abs(v) for v in values)
    return 0 if size >= 100 else 1 if size >= 10 else 2


def _time_ci(e: Any, unit: str) -> str:
    """A difference in time for people: the unit after the estimate, decimals by its size (0 from 100 on: "134
    days (95% CI 14 to 253)"; 1 from 10 on; else 2)."""
    digits = _time_digits(e.value, e.ci_low, e.ci_high) if math.isfinite(e.value) else 2
    return (f"{fmt_number(e.value, digits)} {unit} (95% CI {fmt_number(e.ci_low, digits)} to "
            f"{fmt_number(e.ci_high, digits)})")


def _find(r: AnalysisResults, **match: Any) -> Any:
    for e in r.estimates:
        if all((abs(getattr(e, k) - v) < 1e-9 if k == "time" else getattr(e, k) == v) for k, v in match.items()):
            return e
    return None


def _ph_rejected(r: AnalysisResults, outcome: str, estimand: str) -> float | None:
    """p-value of the IPTW Cox model's PH test for the outcome when it rejects at alpha, else None."""
    comp = r.causal.get((outcome, estimand))
    if comp is None or not comp.ph_test:
        return None
    p = comp.ph_test.get("p")
    a = r.config.analysis.survival.alpha
    return float(p) if p is not None and math.isfinite(p) and p < a else None


def question(r: AnalysisResults) -> str:
    cfg = r.config
    tr, ct = cfg.treatment.label(cfg.treatment.treated), cfg.treatment.label(cfg.treatment.control)
    o = cfg.primary_outcome
    unit = "person-trials" if cfg.sequential is not None else "eligible patients"
    arms = ", ".join(f"{cfg.treatment.label(a) if a in cfg.treatment.arms else a}: {n}" for a, n in r.flow.arms)
    return f"Question: {cfg.outcomes[o].label}, {tr} versus {ct}, in {r.flow.n_final} {unit} ({arms})."


def answer(r: AnalysisResults) -> Answer:
    """Build the answer for the primary outcome under the first estimand (module docstring)."""
    cfg = r.config
    o = cfg.primary_outcome
    unit = cfg.time_unit
    q = question(r)
    if r.multiarm is not None:  # three or more arms: the global test and the pairwise hazard ratios
        from gistcausal.present.multiarm import multiarm_answer

        return Answer(*multiarm_answer(r))
    if cfg.sequential is not None:
        hr = _find(r, outcome=o, measure="hr", method="sequential_trials")
        lead = f"Answer: the pooled sequential-trials hazard ratio is {_ci(hr)}." if hr else "Answer: not estimable."
        return Answer(q, lead)
    # adjusted when the causal step estimated the primary outcome: a time-to-event comparison (r.causal) or the
    # estimates of a competing-risks, binary or continuous primary outcome under the first estimand
    est = cfg.analysis.survival.estimands[0]
    method = {"matching": "matching", "ebal": "entropy_balancing"}.get(cfg.analysis.weights.method, "iptw")
    if not (r.causal or any(e.outcome == o and e.method == method and e.estimand == est for e in r.estimates)):
        est, method = "none", "unadjusted"
    hr = _find(r, outcome=o, measure="hr", method=method, estimand=est)
    rd = _find(r, outcome=o, measure="rmst_diff", method=method, estimand=est)
    landmarks = [x for x in cfg.analysis.survival.landmarks]
    sd = _find(r, outcome=o, measure="surv_diff", method=method, estimand=est, time=landmarks[-1]) \
        if landmarks else None
    un = _find(r, outcome=o, measure="hr", method="unadjusted")
    what = {"iptw": "IPTW marginal", "matching": "propensity-matched",
            "entropy_balancing": "entropy-balanced marginal"}.get(method, "unadjusted")
    adjusted = method != "unadjusted"
    est_txt = f" ({est})" if adjusted else ""
    ph_p = _ph_rejected(r, o, est) if adjusted else None
    supporting: list[str] = []
    caveats: list[str] = []
    kind = getattr(cfg.outcomes[o], "type", "time_to_event")
    if kind in ("binary", "continuous", "competing"):
        lead, supporting = _other_outcome_lead(r, o, kind, method, est, what if adjusted else "unadjusted")
        hr = None
    # the question names the outcome: "the restricted mean survival time up to 24 months differs by 3.14 months"
    rmst_txt = (f"the restricted mean survival time up to {rd.time:g} {unit} differs by "
                f"{_time_ci(rd, unit)}") if rd else None
    sd_txt = (f"survival at {sd.time:g} {unit} differs by {_ci(sd)}") if sd else None
    if kind in ("binary", "continuous", "competing"):
        pass
    elif ph_p is not None and (rmst_txt or sd_txt):
        lead = f"Answer ({what}{', ' + est if adjusted else ''}): {rmst_txt or sd_txt}."
        supporting += _compatible(rd if rmst_txt else sd, 0.0, unit if rmst_txt else "")
        if hr:
            supporting.append(f"Proportional hazards were rejected (p = {fmt_number(ph_p, 3)}), so the hazard ratio "
                              f"{_ci(hr)} only averages an effect that changes over follow-up and does not lead.")
    elif hr:
        lead = f"Answer: the {what} hazard ratio{est_txt} is {_ci(hr)}; {hr.variance} variance"
        lead += (f", against an unadjusted {_ci(un)}." if un and adjusted else ".")
        supporting += _compatible(hr, 1.0)
        if rmst_txt:
            supporting.append(rmst_txt[0].upper() + rmst_txt[1:] + ".")
    else:
        lead = "Answer: no hazard ratio could be estimated for the primary outcome."
    if not adjusted:
        caveats.append(_unadjusted_caveat(r))
    if adjusted:
        supporting += _weighting_sentence(r, est) if method == "iptw" else []
        caveats += _imbalance_caveat(r, est)
        supporting += _grid_sentence(r)
        supporting += _evalue_sentences(r)
    if r.truth and hr and adjusted:
        t = r.truth.get(est)
        if t is not None:
            supporting.append(f"(Synthetic data: the true marginal hazard ratio is {fmt_number(t.value(o, 'hr'))}.)")
    return Answer(q, lead, tuple(supporting), tuple(caveats))


def _unadjusted_caveat(r: AnalysisResults) -> str:
    """Why the answer is an unadjusted comparison, and what it then estimates."""
    cfg = r.config
    why = ("no covariates are listed in the config" if not cfg.covariates else
           "analysis.causal is off" if not cfg.analysis.causal else
           "the adjusted analysis could not be estimated (see its section)")
    return (f"No adjustment for confounding ({why}): the comparison estimates a causal effect only if the arms are "
            "exchangeable as they are, as in a randomized trial.")


def _compatible(e: Any, null: float, unit: str = "") -> list[str]:
    """The reading of a lead interval that includes the null: the data neither show a difference nor rule one
    out (an interval is not a test of no effect; Amrhein, Greenland & McShane, Nature 2019)."""
    if e is None or not (math.isfinite(e.ci_low) and math.isfinite(e.ci_high)) or not e.ci_low <= null <= e.ci_high:
        return []
    digits = 2 if null == 1.0 else _time_digits(e.ci_low, e.ci_high)
    lo, hi = fmt_number(e.ci_low, digits), fmt_number(e.ci_high, digits)
    return [f"The interval includes {null:g} (no difference): the data are compatible with effects from {lo} to "
            f"{hi}{' ' + unit if unit else ''}, so they neither show a difference nor rule one out."]


def _other_outcome_lead(r: AnalysisResults, o: str, kind: str, method: str, est: str, what: str
                        ) -> tuple[str, list[str]]:
    """The lead for a binary (risk difference), continuous (mean difference) or competing-risks (difference in
    the cumulative incidence of the first cause at the last landmark) primary outcome, with the ratio measures as
    support."""
    cfg = r.config
    label = cfg.outcomes[o].label
    tr = cfg.treatment
    arms = f"({tr.label(tr.treated)} minus {tr.label(tr.control)})"
    tag = f"Answer ({what}{', ' + est if method != 'unadjusted' else ''}): "
    if kind == "binary":
        rd = _find(r, outcome=o, measure="risk_diff", method=method, estimand=est)
        rr = _find(r, outcome=o, measure="risk_ratio", method=method, estimand=est)
        if rd is None:
            return "Answer: no risk difference could be estimated for the primary outcome.", []
        return (tag + f"the risk of {label} differs by {_ci(rd, 3)} {arms}.",
                _compatible(rd, 0.0) + ([f"Risk ratio {_ci(rr)}."] if rr else []))
    if kind == "continuous":
        md = _find(r, outcome=o, measure="mean_diff", method=method, estimand=est)
        if md is None:
            return "Answer: no mean difference could be estimated for the primary outcome.", []
        return tag + f"the mean {label} differs by {_ci(md)} {arms}.", _compatible(md, 0.0)
    diffs = [e for e in r.estimates if e.outcome == o and e.measure == "cif_diff" and e.method == method
             and e.estimand == est]
    if not diffs:
        return "Answer: no cumulative incidence difference could be estimated for the primary outcome.", []
    first = diffs[0].extra.get("cause")
    d = max((e for e in diffs if e.extra.get("cause") == first), key=lambda e: e.time)
    cs = next((e for e in r.estimates if e.outcome == o and e.measure == "cs_hr" and e.method == method
               and e.estimand == est and e.extra.get("cause") == first), None)
    lead = (tag + f"the cumulative incidence of {first} at {d.time:g} {cfg.time_unit} differs by {_ci(d, 3)} "
            f"{arms}, with the other causes as competing events.")
    return lead, _compatible(d, 0.0) + ([f"Cause-specific hazard ratio for {first}: {_ci(cs)}."] if cs else [])


def _weighting_sentence(r: AnalysisResults, est: str) -> list[str]:
    w = r.weights.get(est)
    if w is None:
        return []
    rec = w.record
    parts = ["stabilized" if rec.get("stabilized") else "unstabilized", f"{est} weights"]
    extra = []
    if rec.get("trim_bounds"):
        n = sum(rec.get("n_trimmed", {}).values())
        lo, hi = rec["trim_bounds"]
        extra.append(f"{n} patients outside propensity scores [{lo:.3f}, {hi:.3f}] trimmed")
    if rec.get("truncate_bounds"):
        n = sum(rec.get("n_truncated", {}).values())
        extra.append(f"{n} weights truncated at the configured percentiles")
    diag = {d["arm"]: d for d in rec.get("diagnostics", [])}
    ess = ", ".join(f"{r.config.treatment.label(r.config.treatment.treated if a == 'treated' else r.config.treatment.control)}"
                    f" ESS {diag[a]['ess']:.1f} of {diag[a]['n']}" for a in ("treated", "control") if a in diag)
    text = "Weighting: " + " ".join(parts) + ("; " + "; ".join(extra) if extra else "") + (f" ({ess})." if ess else ".")
    return [text]


def _imbalance_caveat(r: AnalysisResults, est: str) -> list[str]:
    bt = r.balance.get(est)
    if bt is None:
        return []
    thr = r.config.analysis.balance_threshold
    df = bt.to_frame()
    if "smd_w" not in df.columns:
        return []
    bad = df[df["smd_w"].abs() > thr]
    if not len(bad):
        return []
    labels = {n: (c.label or n) for n, c in r.config.covariates.items()}
    names = [f"{labels.get(row.covariate, row.covariate)}{(': ' + str(row.level)) if str(row.level) else ''} "
             f"(SMD {row.smd_w:+.2f})" for row in bad.sort_values("smd_w", key=abs, ascending=False).itertuples()]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return [f"Caveat: after weighting, {len(names)} covariate row(s) remain imbalanced beyond |SMD| {thr:g}: {shown}; "
            "the estimate may retain confounding by them (consider a richer propensity model or doubly robust "
            "adjustment)."]


def _grid_sentence(r: AnalysisResults) -> list[str]:
    grid = r.sensitivity.get("specification_grid")
    if grid is None:
        return []
    df = grid.to_frame()
    df = df[(df["group"] != "reference") & df["value"].notna()]
    if len(df) < 2:
        return []
    lo, hi = float(df["value"].min()), float(df["value"].max())
    null = 1.0 if grid.measure in RATIO_MEASURES else 0.0
    what = grid.describe(r.config.time_unit)
    sides = {("below" if v < null else "above") for v in df["value"] if math.isfinite(v) and v != null}
    excl = df[(df["ci_low"] > null) | (df["ci_high"] < null)]
    agree = (f"all on the same side of {null:g}" if len(sides) == 1 else f"on both sides of {null:g}, so the "
             "direction depends on analysis choices")
    return [f"Across {len(df)} adjusted specifications (sensitivity analyses) the {what} ranged from "
            f"{fmt_number(lo)} to {fmt_number(hi)} ({agree}; {len(excl)} of {len(df)} intervals exclude {null:g})."]


def _evalue_sentences(r: AnalysisResults) -> list[str]:
    ev = r.sensitivity.get("evalue_hr")
    if ev is None:
        return []
    out = [f"E-value: {fmt_number(ev.evalue)} for the estimate, {fmt_number(ev.evalue_ci)} for the confidence "
           "limit closest to the null."]
    bench = r.plots.benchmarks
    if bench is not None:
        bf = bench.to_frame()
        if "evalue_equivalent" in bf.columns and len(bf):
            top = bf.sort_values("evalue_equivalent", ascending=False).iloc[0]
            if math.isfinite(ev.evalue_ci) and top["evalue_equivalent"] >= ev.evalue_ci:
                name = str(top["covariate"])
                for code, c in sorted(r.config.covariates.items(), key=lambda kv: -len(kv[0])):
                    if c.label and name.startswith(code):
                        name = c.label + name[len(code):]
                        break
                out.append(f"A measured covariate ({name}) is as strong as "
                           f"{fmt_number(float(top['evalue_equivalent']))} on the E-value scale, at least the E-value "
                           "of the confidence limit: an unmeasured confounder of similar strength could move the "
                           "interval to include the null.")
    return out


def headline(r: AnalysisResults) -> str:
    """The question and the answer as one paragraph (first paragraph of the report)."""
    return answer(r).text()


__all__ = ["Answer", "answer", "headline", "question"]
