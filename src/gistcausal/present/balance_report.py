"""``gistcausal balance``: the balance tables a reviewer asks for, without the outcome analysis.

Writes, per configured estimand, Table 1 before and after weighting (weighted n, %, mean (SD), median (IQR),
SMDs), the covariate balance table (SMD, variance ratio, KS; cobalt conventions) in every configured format,
and the love plot as PNG and SVG. Outcomes are not analysed, so this can be shared before any outcome is seen
(design stage; Rubin 2007, Stat Med 26:20).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gistcausal.design.cohort import build_cohort
from gistcausal.design.config import StudyConfig
from gistcausal.design.data import load_data


def write_balance(cfg: StudyConfig, out_dir: str | Path, *, progress: Any = None) -> Path:
    """Fit the propensity model, weight, and write the balance outputs atomically into ``out_dir``."""
    from gistcausal.stats.balance import balance_table
    from gistcausal.design.disclosure import threshold_for
    from gistcausal.analysis.iptw import configured_weights, fit_propensity
    from gistcausal.analysis.spec import arm_labels, covariate_labels, table1_spec
    from gistcausal.present.plots import new_figure
    from gistcausal.present.plots.balance import love_plot
    from gistcausal.present.report import _export_table, atomic_dir
    from gistcausal.present.tables import table_one

    say = progress or (lambda _m: None)
    say("Loading data and building the cohort")
    cohort = build_cohort(cfg, load_data(cfg))
    f = cohort.frame
    say("Fitting the propensity model")
    _, ps = fit_propensity(cfg, f)
    a = f["treatment"].to_numpy(int)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        spec, spread = table1_spec(cfg)
        covs = [n for n, c in cfg.covariates.items() if c.in_propensity or c.in_table1]
        formats = tuple(cfg.output.formats)
        for est in cfg.analysis.survival.estimands:
            wr = configured_weights(cfg, ps, a, estimand=est, frame=f)
            t1 = table_one(f, treatment_col="treatment", covariates=spec, weights=wr.weights, labels=covariate_labels(cfg),
                           arm_labels=arm_labels(cfg), tests=True, median_spread=spread, estimand=est,
                           suppress_below=threshold_for(cfg) or None)
            _export_table(t1, tmp / f"table1_weighted_{est}", formats)
            bt = balance_table(f, treatment_col="treatment", covariates=covs, weights=wr.weights, estimand=est,
                               threshold=cfg.analysis.balance_threshold)
            _export_table(bt.to_frame(), tmp / f"balance_{est}", formats)
            (tmp / f"balance_{est}_conventions.txt").write_text(bt.conventions + "\n", encoding="utf-8")
            fig, ax = new_figure(7.5, 0.3 * len(bt.to_frame()) + 1.6)
            love_plot(bt, ax=ax, threshold=cfg.analysis.balance_threshold)
            fig.savefig(tmp / f"love_{est}.png", dpi=130, bbox_inches="tight")
            fig.savefig(tmp / f"love_{est}.svg", bbox_inches="tight")
    return out_dir
