"""Report pieces for three or more arms (issue 18, section 3), read from ``AnalysisResults.multiarm``.

The section content is returned as plain dicts of :class:`~gistcausal.present.sections.ReportSection` fields
(``sections.py`` wraps them; importing it here would make an import circle), the figures as
``{name: Figure}``, the opening answer as its parts and the methods paragraph as text.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from gistcausal.analysis.spec import covariate_labels, level_labels
from gistcausal.design.disclosure import threshold_for
from gistcausal.present.plots import new_figure
from gistcausal.present.plots.km import plot_km
from gistcausal.present.tables import _level_label, term_label
from gistcausal.results import AnalysisResults, and_list, fmt_number

_MEASURES = {"median_diff": "Median difference", "surv_diff": "Survival difference", "surv_ratio": "Survival ratio",
             "rmst_diff": "RMST difference", "hr": "Hazard ratio", "logrank_p": "Log-rank p",
             "median": "Median", "surv": "Survival", "rmst": "RMST"}


def _labels(r: AnalysisResults) -> dict[str, str]:
    tr = r.config.treatment
    return {a: tr.label(a) for a in tr.arms}


def _contrast(contrast: str, labels: dict[str, str]) -> str:
    return " vs ".join(labels.get(p, p) for p in contrast.split(" vs "))


def _ci(e: Any) -> str:
    if not (math.isfinite(e.ci_low) or math.isfinite(e.ci_high)):
        return ""
    return f"{fmt_number(e.ci_low)} to {fmt_number(e.ci_high)}"


def _p(v: float) -> str:
    return "" if not math.isfinite(v) else ("<0.001" if v < 0.001 else f"{v:.3f}")


def contrasts_table(comp: Any, labels: dict[str, str]) -> pd.DataFrame:
    """Every pairwise contrast of one comparison: pair, measure, time, estimate, 95% CI, p."""
    rows = []
    for e in comp.estimates:
        if e.contrast not in comp.pairs:
            continue
        is_p = e.measure == "logrank_p"
        rows.append({"Contrast": _contrast(e.contrast, labels), "Measure": _MEASURES.get(e.measure, e.measure),
                     "Time": "" if not math.isfinite(e.time) else f"{e.time:g}",
                     "Estimate": _p(e.value) if is_p else fmt_number(e.value), "95% CI": "" if is_p else _ci(e),
                     "p": "" if is_p else _p(e.p), "Note": e.note})
    return pd.DataFrame(rows)


def per_arm_table(comp: Any, labels: dict[str, str]) -> pd.DataFrame:
    """Per-arm medians, landmark survival and RMST with their intervals."""
    rows = [{"Arm": labels.get(e.contrast, e.contrast), "Measure": _MEASURES.get(e.measure, e.measure),
             "Time": "" if not math.isfinite(e.time) else f"{e.time:g}", "Estimate": fmt_number(e.value),
             "95% CI": _ci(e), "Note": e.note}
            for e in comp.estimates if e.contrast in comp.arms]
    return pd.DataFrame(rows)


def balance_across_pairs(comp: Any, r: AnalysisResults) -> pd.DataFrame:
    """Largest |SMD| over the pairs of arms per covariate row, before and after weighting (cobalt)."""
    b = comp.balance.to_frame(table="overall")
    names, levels = covariate_labels(r.config), level_labels(r.config)
    labels = _labels(r)
    out = pd.DataFrame({"Covariate": [names.get(c, c) for c in b["covariate"]],
                        "Level": ["" if (lv is None or (isinstance(lv, float) and math.isnan(lv)) or lv == "")
                                  else _level_label(c, lv, levels) for c, lv in zip(b["covariate"], b["level"])],
                        "Max |SMD| unweighted": b["max_abs_smd_un"],
                        "Max |SMD| weighted": b["max_abs_smd_w"] if "max_abs_smd_w" in b else math.nan,
                        "Worst pair (weighted)": [_contrast(c, labels) for c in b.get("worst_pair_w", b["worst_pair_un"])],
                        "Flag": b["flag"].map({True: "yes", False: ""})})
    return out


_COEF_COLUMNS = {"arm": "Arm", "term": "Term", "coef": "Log odds", "se": "SE", "z": "z", "p": "p",
                 "ci_low": "95% CI low", "ci_high": "95% CI high"}
_WEIGHT_COLUMNS = {"arm": "Arm", "n": "n", "sum": "Sum of weights", "min": "Min", "max": "Max", "mean": "Mean",
                   "sd": "SD", "ess": "Effective sample size", "top1_share": "Share of the top 1%"}


_EVALUE_COLUMNS = {"contrast": "Contrast", "measure": "Measure", "time": "Time", "estimate": "Estimate",
                   "evalue": "E-value", "evalue_ci": "E-value of the CI limit", "conversion": "Conversion"}
_TIPPING_COLUMNS = {"contrast": "Contrast", "p_treated": "p in B", "p_control": "p in A",
                    "gamma": "Confounder-outcome HR", "bias_factor": "Bias factor", "hr_adj": "Adjusted HR",
                    "ci_low_adj": "Adjusted 95% CI low", "ci_high_adj": "Adjusted 95% CI high",
                    "ci_includes_null": "CI includes 1"}


def propensity_table(pr: Any, r: AnalysisResults) -> pd.DataFrame:
    """The multinomial propensity coefficients for a reader: arm labels, "Sex: Male" terms (as the balance
    tables name them), readable headers (rounded for people by :mod:`gistcausal.present.people`)."""
    f = pr.to_frame()
    labels = _labels(r)
    if "arm" in f:
        f["arm"] = [labels.get(str(a), str(a)) for a in f["arm"]]
    if "term" in f:
        names, levels = covariate_labels(r.config), level_labels(r.config)
        f["term"] = [term_label(str(t), names, levels) for t in f["term"]]
    return f.rename(columns=_COEF_COLUMNS)


def weights_table(diag: pd.DataFrame, r: AnalysisResults, arms: dict[str, str] | None = None) -> pd.DataFrame:
    """Weight diagnostics per arm with arm labels, the pooled row as "All arms", readable headers (rounded for people).
    ``arms`` maps the frame's arm names to labels (default: the config's arm codes, as the K-arm weights name
    them)."""
    f = diag.copy()
    labels = {**(_labels(r) if arms is None else arms), "overall": "All arms"}
    if "arm" in f:
        f["arm"] = [labels.get(str(a), str(a)) for a in f["arm"]]
    return f.rename(columns=_WEIGHT_COLUMNS)


def multiarm_sections(r: AnalysisResults) -> list[dict[str, Any]]:
    """Table 1 with K columns; per estimand the propensity model, weights and balance across pairs; per outcome
    and estimand the per-arm curves, the per-arm estimates, the pairwise contrasts and the global test."""
    ma = r.multiarm
    if ma is None:
        return []
    cfg, labels = r.config, _labels(r)
    secs: list[dict[str, Any]] = []
    if ma.table1 is not None:
        secs.append({"key": "table1", "title": "Table 1: baseline characteristics by arm",
                     "tables": (("Baseline characteristics by arm (unweighted)", ma.table1),)})
    if not ma.comparisons:
        return secs
    first: dict[str, Any] = {}
    for (o, est), comp in ma.comparisons.items():
        first.setdefault(est, comp)
    tabs, paras = [], []
    pr = next(iter(first.values())).propensity
    if pr is not None:
        paras.append(f"Generalized propensity score: multinomial logit with reference arm {labels.get(pr.arms[0], pr.arms[0])}"
                     f", {pr.n_parameters} parameters per arm; {pr.events_per_parameter:.1f} patients in the smallest "
                     f"arm per parameter; log-likelihood {pr.loglik:.3f}.")
        tabs.append(("Multinomial propensity model coefficients (log odds vs the reference arm)",
                     propensity_table(pr, r)))
    for est, comp in first.items():
        focal = f", focal arm {labels.get(comp.focal, comp.focal)}" if comp.focal else ""
        if comp.weight_diagnostics is not None:
            tabs.append((f"Weight diagnostics ({est}{focal})", weights_table(comp.weight_diagnostics, r)))
        if comp.balance is not None:
            tabs.append((f"Balance across pairs of arms ({est}{focal}): largest |SMD| over the pairs",
                         balance_across_pairs(comp, r)))
    conventions = next(iter(first.values())).balance
    secs.append({"key": "propensity", "title": "Propensity score, weights and balance (more than two arms)",
                 "paragraphs": tuple(paras), "tables": tuple(tabs),
                 "notes": (conventions.conventions,) if conventions is not None else ()})
    for (o, est), comp in ma.comparisons.items():
        g = comp.global_test
        focal = f", focal arm {labels.get(comp.focal, comp.focal)}" if comp.focal else ""
        para = (f"Global weighted log-rank test of equal survival in all {len(comp.arms)} arms ({g.method}): "
                f"chi-square {fmt_number(g.statistic)} on {g.df} df, p = {_p(g.p)}. Each pair of arms is compared on "
                f"its own patients with the {est} weights of the {len(comp.arms)}-arm model, so every contrast "
                "refers to the same target population.")
        boot = ma.bootstrap.get((o, est))
        paras_o = (para,) + ((bootstrap_text(boot),) if boot is not None else ())
        variance = f"bootstrap {boot.ci}" if boot is not None else "robust variance"
        secs.append({"key": f"multiarm_{o}_{est}", "title": f"{cfg.outcomes[o].label}: {est}{focal}",
                     "paragraphs": paras_o,
                     "tables": ((f"Per-arm estimates (weighted Kaplan-Meier, {variance})", per_arm_table(comp, labels)),
                                ("Pairwise contrasts", contrasts_table(comp, labels))),
                     "figures": ((f"Weighted Kaplan-Meier per arm ({est}): {cfg.outcomes[o].label}",
                                  f"km_{o}_{est}"),),
                     "notes": tuple(comp.warnings)})
    sens = sensitivity_section(r)
    if sens is not None:
        secs.append(sens)
    return secs


def bootstrap_text(boot: Any) -> str:
    """How the bootstrap intervals were obtained, with the failed replicates by reason."""
    failed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in boot.n_failed.items()) or "none"
    how = "percentile" if boot.ci == "percentile" else "bias-corrected and accelerated (BCa)"
    return (f"Intervals of the per-arm survival and RMST and of every pairwise survival difference and ratio, RMST "
            f"difference and hazard ratio: nonparametric bootstrap of the whole K-arm "
            f"analysis (patients resampled within arms; multinomial propensity model, weights and every contrast "
            f"recomputed in each replicate), {boot.n_success} of {boot.n_boot} replicates successful (failed: "
            f"{failed}), {how} intervals, seed {boot.random_state}. Medians and log-rank tests keep their own "
            "intervals and p-values.")


def sensitivity_section(r: AnalysisResults) -> dict[str, Any] | None:
    """E-values and tipping-point grids of every pair of arms (primary outcome, first estimand), and the
    sensitivity analyses not built for K arms with the reason."""
    sens = r.sensitivity
    failed = {k: v for k, v in r.failed_steps.items() if k.startswith("sensitivity")}
    if not sens and not failed:
        return None
    labels = _labels(r)
    cfg = r.config
    est = cfg.analysis.survival.estimands[0]
    paras = [f"Sensitivity of every pairwise contrast of {cfg.outcomes[cfg.primary_outcome].label} ({est}) to "
             "unmeasured confounding: for the pair 'B vs A', A plays the control and B the treated arm."]
    paras += [f"This optional step ({k}) did not complete: {v}. The rest of the analysis is unaffected."
              for k, v in failed.items()]
    tabs = []
    if "evalues" in sens:
        ev = sens["evalues"].copy()
        ev["contrast"] = [_contrast(c, labels) for c in ev["contrast"]]
        ev["measure"] = [_MEASURES.get(m, m) for m in ev["measure"]]
        tabs.append(("E-values of every pairwise contrast (VanderWeele & Ding 2017)",
                     ev[["contrast", "measure", "time", "estimate", "evalue", "evalue_ci", "conversion"]]
                     .rename(columns=_EVALUE_COLUMNS)))
    if "tipping_grid" in sens:
        tip = sens["tipping_grid"].copy()
        tip["contrast"] = [_contrast(c, labels) for c in tip["contrast"]]
        tabs.append(("Tipping point per pair: HR adjusted for an unmeasured binary confounder with prevalence "
                     "p in B in arm B and p in A in arm A of the pair 'B vs A' (Lin, Psaty & Kronmal 1998)", tip.rename(columns=_TIPPING_COLUMNS)))
    if "not_applicable" in sens:
        tabs.append(("Sensitivity analyses not applicable with more than two arms",
                     sens["not_applicable"].rename(columns={"analysis": "Analysis", "reason": "Reason"})))
    return {"key": "sensitivity", "title": "Sensitivity analyses (every pair of arms)", "paragraphs": tuple(paras),
            "tables": tuple(tabs)}


def multiarm_figures(r: AnalysisResults) -> dict[str, Any]:
    """Per outcome and estimand, the weighted (and unweighted, dashed) Kaplan-Meier curves of every arm."""
    ma = r.multiarm
    figs: dict[str, Any] = {}
    if ma is None:
        return figs
    cfg, labels = r.config, _labels(r)
    for (o, est), comp in ma.comparisons.items():
        fig, ax = new_figure(8, 6.2 + 0.3 * (len(comp.arms) - 2))
        plot_km(comp, ax=ax, title=f"{cfg.outcomes[o].label}: IPTW ({est})", time_unit=cfg.time_unit,
                suppress_below=threshold_for(cfg) or None, arm_display=labels)
        figs[f"km_{o}_{est}"] = fig
    return figs


def multiarm_answer(r: AnalysisResults) -> tuple[str, str, tuple[str, ...]]:
    """(question, lead, supporting) of the opening paragraph: the global test and the pairwise hazard ratios of
    the primary outcome under the first estimand."""
    cfg, labels = r.config, _labels(r)
    est = cfg.analysis.survival.estimands[0]
    comp = r.multiarm.comparisons.get((cfg.primary_outcome, est)) if r.multiarm is not None else None
    names = ", ".join(labels.values())
    q = (f"Question: {cfg.outcomes[cfg.primary_outcome].label}, compared across {len(labels)} arms ({names}), in "
         f"{r.flow.n_final} eligible patients.")
    if comp is None:
        return q, "Answer: no comparison could be estimated for the primary outcome.", ()
    g = comp.global_test
    lead = (f"Answer ({est}): the global weighted log-rank test gives p = {_p(g.p)} (chi-square "
            f"{fmt_number(g.statistic)} on {g.df} df).")
    hrs = [f"{_contrast(e.contrast, labels)} {fmt_number(e.value)} (95% CI {_ci(e)})"
           for e in comp.estimates if e.measure == "hr" and e.contrast in comp.pairs]
    supporting = (f"Pairwise IPTW marginal hazard ratios: {'; '.join(hrs)}.",) if hrs else ()
    return q, lead, supporting


def multiarm_methods(r: AnalysisResults) -> str:
    """The methods paragraph of a K-arm analysis."""
    cfg, labels = r.config, _labels(r)
    s = cfg.analysis.survival
    covs = and_list((c.label or n) for n, c in cfg.covariates.items() if c.in_propensity)
    first = labels[next(iter(cfg.treatment.arms))]
    ests = and_list(s.estimands)
    focal = labels.get(cfg.treatment.treated, cfg.treatment.treated)
    formula = {"ATE": "1/e_a(x) for the ATE",
               "ATT": f"e_f(x)/e_a(x) for the ATT of the focal arm {focal}",
               "ATO": "generalized overlap weights h(x)/e_a(x) with h(x) = 1/sum_k 1/e_k(x) for the ATO (Li F, Li F. "
                      "Ann Appl Stat 2019;13:2389-415)"}
    used = [formula[e] for e in s.estimands if e in formula]
    variance = ("Intervals used the robust variance (weights treated as known)." if s.variance == "robust" else
                f"Intervals were obtained by a nonparametric bootstrap of the whole analysis ({s.bootstrap_replicates} "
                "replicates, patients resampled within arms, the multinomial propensity model, the weights and "
                f"every contrast recomputed in each; {s.bootstrap_ci} intervals).")
    return (
        f"We compared {len(labels)} treatment arms ({', '.join(labels.values())}) in {r.flow.n_final} eligible "
        f"patients. A multinomial logistic (generalized) propensity score model with {first} as reference included "
        f"{covs} (fitted by Newton's method, equal to R nnet::multinom). Weights targeted the {ests}: "
        f"{'; '.join(used)}. Balance was assessed for every pair of arms with standardized mean differences using the "
        "SD pooled over all arms (cobalt's convention for multi-category treatments), reporting the largest "
        f"difference across pairs (threshold {cfg.analysis.balance_threshold}). Weighted Kaplan-Meier curves with "
        "infinitesimal-jackknife variance were estimated per arm; each pair of arms was compared on its patients "
        "with the K-arm weights (survival and RMST differences, and a weighted Cox model with robust variance, as R "
        "coxph(robust = TRUE)), and the global test is the design-based weighted log-rank test with K-1 degrees of "
        f"freedom (Lumley, survey::svylogrank). {variance} E-values (VanderWeele & Ding 2017) and tipping-point "
        "grids (Lin, Psaty & Kronmal 1998) were computed for every pairwise contrast of the primary outcome; "
        "the specification grid and the DoWhy refutation are not yet available for more than two arms."
        + (" A plasmode simulation (Franklin et al. 2014) checked the plan on data sets resampled within each arm "
           "with outcomes simulated from a Weibull model with a known effect of every arm against the reference."
           if r.plasmode is not None else ""))


def multiarm_tables(r: AnalysisResults) -> dict[str, Any]:
    """The K-arm tables exported to ``tables/``, labelled as in the report: Table 1 by arm, and per estimand the
    multinomial propensity coefficients, the weight diagnostics and the balance across pairs of arms."""
    ma = r.multiarm
    out: dict[str, Any] = {}
    if ma is None:
        return out
    if ma.table1 is not None:
        out["table1"] = ma.table1
    first: dict[str, Any] = {}
    for (_, est), comp in ma.comparisons.items():
        first.setdefault(est, comp)
    for est, comp in first.items():
        if comp.propensity is not None and "propensity_model" not in out:
            out["propensity_model"] = propensity_table(comp.propensity, r)
        if comp.weight_diagnostics is not None:
            out[f"weights_{est}"] = weights_table(comp.weight_diagnostics, r)
        if comp.balance is not None:
            out[f"balance_{est}"] = balance_across_pairs(comp, r)
    return out


__all__ = ["multiarm_tables", "propensity_table", "weights_table", "sensitivity_section", "bootstrap_text", "multiarm_sections", "multiarm_figures", "multiarm_answer", "multiarm_methods", "contrasts_table",
           "per_arm_table", "balance_across_pairs"]
