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
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gistcausal._version import __version__

#: Each public name and the module that defines it. A name's module is imported when the name is first used
#: (PEP 562), not with the package: ``gistcausal --help`` and a worker process that needs the statistics alone no
#: longer import the pipeline, the report and matplotlib (``import gistcausal`` took about 2 s).
_EXPORTS: dict[str, str] = {
    "StudyConfig": "gistcausal.design.config", "load_config": "gistcausal.design.config",
    "simulate_registry": "gistcausal.design.simulate",
    "EffectEstimate": "gistcausal.effects",
    "GistCausalError": "gistcausal.errors", "GistCausalWarning": "gistcausal.errors",
    "run": "gistcausal.pipeline",
    "write_outputs": "gistcausal.present.report",
    "AnalysisResults": "gistcausal.results",
    "balance_table": "gistcausal.stats.balance",
    "cox_fit": "gistcausal.stats.cox",
    "evalue": "gistcausal.stats.evalue",
    "PropensityModel": "gistcausal.stats.propensity",
    "compare_survival": "gistcausal.stats.comparison",
    "kaplan_meier": "gistcausal.stats.km", "logrank_test": "gistcausal.stats.km", "rmst": "gistcausal.stats.km",
    "compute_weights": "gistcausal.stats.weights",
    "match_nearest": "gistcausal.stats.matching", "matched_survival": "gistcausal.stats.matching",
    "entropy_balance": "gistcausal.stats.ebal",
    "multiarm_analysis": "gistcausal.stats.multiarm_survival",
}

if TYPE_CHECKING:   # the same names, for type checkers and editors
    from gistcausal.design.config import StudyConfig, load_config
    from gistcausal.design.simulate import simulate_registry
    from gistcausal.effects import EffectEstimate
    from gistcausal.errors import GistCausalError, GistCausalWarning
    from gistcausal.pipeline import run
    from gistcausal.present.report import write_outputs
    from gistcausal.results import AnalysisResults
    from gistcausal.stats.balance import balance_table
    from gistcausal.stats.comparison import compare_survival
    from gistcausal.stats.cox import cox_fit
    from gistcausal.stats.ebal import entropy_balance
    from gistcausal.stats.evalue import evalue
    from gistcausal.stats.km import kaplan_meier, logrank_test, rmst
    from gistcausal.stats.matching import match_nearest, matched_survival
    from gistcausal.stats.multiarm_survival import multiarm_analysis
    from gistcausal.stats.propensity import PropensityModel
    from gistcausal.stats.weights import compute_weights


def __getattr__(name: str) -> Any:
    """A public name, its module imported on first use (then kept as an attribute of the package)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gistcausal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "__version__",
    "run", "load_config", "write_outputs", "StudyConfig", "AnalysisResults",
    "PropensityModel", "compute_weights", "match_nearest", "matched_survival", "entropy_balance", "balance_table",
    "kaplan_meier", "rmst", "logrank_test", "cox_fit", "compare_survival", "multiarm_analysis",
    "evalue", "EffectEstimate", "simulate_registry",
    "GistCausalError", "GistCausalWarning",
]
