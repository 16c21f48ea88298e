"""gistcausal: comparative-effectiveness research on time-to-event outcomes from observational registries.

A configured analysis (YAML -> report)::

    from gistcausal import load_config, run, write_outputs
    results = run(load_config("configs/gist_second_line.yaml"))
    write_outputs(results, "reports/gist")

The statistics on a plain DataFrame, without a config::

    from gistcausal import PropensityModel, compute_weights, balance_table, compare_survival
    ps = PropensityModel(covariates=["age", "size"]).fit_predict(df, treatment_col="treated")
    w = compute_weights(ps, df["treated"], estimand="ATE", stabilize=True)
    balance_table(df, treatment_col="treated", covariates=["age", "size"], weights=w.weights, estimand="ATE")
    compare_survival(df["time"], df["event"], df["treated"], weights=w.weights, outcome="death",
                     estimand="ATE", method="iptw", arm_labels=("control", "treated"))

The layers, from the bottom (``docs/architecture.md``): ``errors``/``effects`` (base), ``stats``, ``inference``,
``design``, ``analysis``, ``results``, ``pipeline``, ``present``, ``cli``.
"""
from gistcausal._version import __version__
from gistcausal.design.config import StudyConfig, load_config
from gistcausal.design.simulate import simulate_registry
from gistcausal.effects import EffectEstimate
from gistcausal.errors import GistCausalError, GistCausalWarning
from gistcausal.pipeline import run
from gistcausal.present.report import write_outputs
from gistcausal.results import AnalysisResults
from gistcausal.stats.balance import balance_table
from gistcausal.stats.cox import cox_fit
from gistcausal.stats.evalue import evalue
from gistcausal.stats.propensity import PropensityModel
from gistcausal.stats.comparison import compare_survival
from gistcausal.stats.km import kaplan_meier, logrank_test, rmst
from gistcausal.stats.weights import compute_weights
from gistcausal.stats.matching import match_nearest, matched_survival
from gistcausal.stats.ebal import entropy_balance
from gistcausal.stats.multiarm_survival import multiarm_analysis

__all__ = [
    "__version__",
    "run", "load_config", "write_outputs", "StudyConfig", "AnalysisResults",
    "PropensityModel", "compute_weights", "match_nearest", "matched_survival", "entropy_balance", "balance_table",
    "kaplan_meier", "rmst", "logrank_test", "cox_fit", "compare_survival", "multiarm_analysis",
    "evalue", "EffectEstimate", "simulate_registry",
    "GistCausalError", "GistCausalWarning",
]
