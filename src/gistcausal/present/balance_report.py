"""``gistcausal balance``: the balance tables a reviewer asks for, without the outcome analysis.

Writes, in every configured format:

* ``table1``: Table 1 unweighted (with tests) and weighted for each configured estimand side by side
  (weighted n and ESS in the header, weighted %, mean (SD), median, SMDs before and after weighting);
* ``balance_summary``: one row per covariate, |SMD| before and after weighting per estimand, the variance
  ratio and whether it is balanced;
* ``balance_<estimand>``: every covariate and level (means, SMD to three decimals, variance ratio) with the
  cobalt conventions as footnote;

and the love plot per estimand as PNG and SVG (``love_<estimand>``). Outcomes are not analysed, so this can be
shared before any outcome is seen (design stage; Rubin 2007, Stat Med 26:20).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gistcausal.design.cohort import build_cohort
from gistcausal.design.config import StudyConfig
from gistcausal.design.data import load_data


def write_balance(cfg: StudyConfig, out_dir: str | Path, *, progress: Any = None) -> Path:
    """Fit the propensity model, weight, and write the balance outputs atomically into ``out_dir``."""
    from gistcausal.analysis.iptw import configured_weights, fit_propensity
    from gistcausal.analysis.spec import table1_options, table1_spec
    from gistcausal.present.plots import new_figure, printable_figure, save_figure
    from gistcausal.present.plots.balance import love_plot
    from gistcausal.present.report import _export_table, atomic_dir
    from gistcausal.present.tables import apply_level_order, balance_detail, balance_summary, table_one
    from gistcausal.stats.balance import balance_table

    say = progress or (lambda _m: None)
    say("Loading data and building the cohort")
    cohort = build_cohort(cfg, load_data(cfg))
    f = cohort.frame
    say("Fitting the propensity model")
    _, ps = fit_propensity(cfg, f)
    a = f["treatment"].to_numpy(int)
    out_dir = Path(out_dir)
    opts = table1_options(cfg)
    spec, _ = table1_spec(cfg)
    covs = [n for n, c in cfg.covariates.items() if c.in_propensity or c.in_table1]
    formats = tuple(cfg.output.formats)
    weights = {est: configured_weights(cfg, ps, a, estimand=est, frame=f).weights
               for est in cfg.analysis.survival.estimands}
    # Configured level order for display only: the propensity model above keeps its own coding.
    f = apply_level_order(f, opts["level_order"])
    with atomic_dir(out_dir) as tmp:
        if spec:
            t1 = table_one(f, treatment_col="treatment", covariates=spec, weights=weights, tests=True,
                           missing="row", **opts)
            _export_table(t1, tmp / "table1", formats)
        balances = {est: balance_table(f, treatment_col="treatment", covariates=covs, weights=w, estimand=est,
                                       threshold=cfg.analysis.balance_threshold) for est, w in weights.items()}
        _export_table(balance_summary(balances, labels=opts["labels"], arm_labels=opts["arm_labels"],
                                      weighting=opts["weighting"]), tmp / "balance_summary", formats)
        for k, (est, bt) in enumerate(balances.items()):
            detail = balance_detail(bt, labels=opts["labels"], level_labels=opts["level_labels"],
                                    arm_labels=opts["arm_labels"], number=3 + k)
            _export_table(detail, tmp / f"balance_{est}", formats)
            fig, ax = new_figure(7.5, 0.3 * (len(bt.to_frame()) + bt.to_frame()["covariate"].nunique()) + 1.6)
            love_plot(bt, ax=ax, threshold=cfg.analysis.balance_threshold, labels=opts["labels"],
                      level_labels=opts["level_labels"])
            save_figure(printable_figure(fig), tmp / f"love_{est}")
    return out_dir
