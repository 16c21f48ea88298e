"""The analysis specification: what the configured analysis needs from the config, in one place.

Built from a :class:`~gistcausal.design.config.StudyConfig`; the run, the balance-only run and the exports take
arm labels, covariate labels and the Table 1 layout from here rather than re-reading the config.
"""
from __future__ import annotations

from gistcausal.design.config import StudyConfig
from gistcausal.design.disclosure import threshold_for
from gistcausal.engine import Engine


def arm_labels(cfg: StudyConfig) -> dict[int, str]:
    """{1: treated label, 0: control label} for tables."""
    t = cfg.treatment
    return {1: t.label(t.treated), 0: t.label(t.control)}


def table1_spec(cfg: StudyConfig) -> tuple[dict[str, str], str]:
    """Table 1 rows and the spread shown beside medians ("range" as in the study, or "iqr")."""
    spec, spreads = {}, set()
    for name, cov in cfg.covariates.items():
        if not cov.in_table1:
            continue
        if cov.type in ("categorical", "binary"):
            spec[name] = cov.type
        elif cov.summary in ("median_range", "median_iqr"):
            spec[name] = "continuous_median"
            spreads.add(cov.summary)
        else:
            spec[name] = "continuous_mean"
    return spec, ("iqr" if spreads == {"median_iqr"} else "range")


def covariate_labels(cfg: StudyConfig) -> dict[str, str]:
    return {n: (c.label or n) for n, c in cfg.covariates.items()}


def level_labels(cfg: StudyConfig) -> dict[str, dict]:
    """{covariate: {level code: label}} from ``covariates.<name>.level_labels`` (the missing level labelled
    "Not reported" unless the config labels it)."""
    out = {}
    for name, c in cfg.covariates.items():
        if c.type == "continuous":
            continue
        labs = {str(c.missing_label): "Not reported"} if c.missing == "category" else {}
        labs.update({str(k): v for k, v in c.level_labels.items()})
        if labs:
            out[name] = labs
    return out


def table1_options(cfg: StudyConfig) -> dict:
    """Keyword arguments of :func:`gistcausal.present.tables.table_one` that come from the config: labels of
    variables, levels and arms, level order, the one-row level of binary variables, the median spread and
    the small-cell threshold and the weighting method's words for captions. Use as ``table_one(frame, treatment_col="treatment", covariates=spec,
    **table1_options(cfg))`` with ``spec, _ = table1_spec(cfg)``."""
    _, spread = table1_spec(cfg)
    return {"labels": covariate_labels(cfg), "level_labels": level_labels(cfg), "arm_labels": arm_labels(cfg),
            "level_order": {n: list(c.levels) for n, c in cfg.covariates.items() if c.levels},
            "binary_levels": {n: c.binary_level for n, c in cfg.covariates.items() if c.binary_level is not None},
            "median_spread": spread, "suppress_below": threshold_for(cfg) or None,
            "weighting": WEIGHTING_WORDS[cfg.analysis.weights.method]}


def engine(cfg: StudyConfig) -> Engine:
    """Where the run's replicate loops run (``analysis.engine``; see :mod:`gistcausal.engine`)."""
    e = cfg.analysis.engine
    return Engine(kind=e.kind, address=e.address, n_workers=e.n_workers)


__all__ = ["engine", "adjustment_name", "arm_labels", "table1_spec", "covariate_labels", "level_labels",
           "table1_options"]


#: how the weights of analysis.weights.method were made, for captions ("before and after ...")
WEIGHTING_WORDS = {"iptw": "inverse probability of treatment weighting", "matching": "propensity-score matching",
                   "ebal": "entropy balancing"}

#: how the arms were made comparable (analysis.weights.method), for titles and sentences
ADJUSTMENT_NAMES = {"iptw": ("IPTW", "IPTW-weighted"),
                    "matching": ("propensity-score matching", "propensity-matched"),
                    "ebal": ("entropy balancing", "entropy-balanced")}


def adjustment_name(cfg: StudyConfig, *, adjective: bool = False) -> str:
    """``"IPTW"``, ``"propensity-score matching"`` or ``"entropy balancing"`` (``adjective``: ``"IPTW-weighted"``,
    ``"propensity-matched"``, ``"entropy-balanced"``), from ``analysis.weights.method``."""
    noun, adj = ADJUSTMENT_NAMES[cfg.analysis.weights.method]
    return adj if adjective else noun
