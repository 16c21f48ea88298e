"""The analysis specification: what the configured analysis needs from the config, in one place.

Built from a :class:`~gistcausal.design.config.StudyConfig`; the run, the balance-only run and the exports take
arm labels, covariate labels and the Table 1 layout from here rather than re-reading the config.
"""
from __future__ import annotations

from gistcausal.design.config import StudyConfig


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
            spec[name] = "categorical"
        elif cov.summary in ("median_range", "median_iqr"):
            spec[name] = "continuous_median"
            spreads.add(cov.summary)
        else:
            spec[name] = "continuous_mean"
    return spec, ("iqr" if spreads == {"median_iqr"} else "range")


def covariate_labels(cfg: StudyConfig) -> dict[str, str]:
    return {n: (c.label or n) for n, c in cfg.covariates.items()}


__all__ = ["arm_labels", "table1_spec", "covariate_labels"]
