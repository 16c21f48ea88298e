"""DoWhy causal graph and refutation tests for a censored time-to-event comparison.

DoWhy's estimators expect a fully observed outcome, while PFS and OS are right-censored. The bridge used
here is the pseudo-observation method (Andersen & Perme 2010): for a Kaplan-Meier functional
:math:`\\theta` (the RMST up to a horizon, or survival at a time point) each patient gets

.. math:: \\hat\\theta_i = n \\hat\\theta - (n - 1) \\hat\\theta_{-i},

where :math:`\\hat\\theta_{-i}` is the estimate without patient *i*. Under censoring independent of
covariates and treatment, :math:`E[\\hat\\theta_i \\mid A, X] \\approx E[\\theta(T) \\mid A, X]`, so the
pseudo-values can stand in for the outcome in any estimator of a mean difference. :func:`refute` builds the
graph (baseline covariates -> treatment and outcome), lets DoWhy identify the back-door estimand, estimates
the effect on the pseudo-outcome with inverse-probability weighting
(``backdoor.propensity_score_weighting``) and runs DoWhy's refuters on that estimate.

The module never imports matplotlib, rich or tqdm; a progress hook lets the CLI draw a bar.

Bridge
------
Pseudo-values :math:`\\hat\\theta_i` (:func:`pseudo_observations`) replace the censored outcome; the
marginal mean difference of :math:`\\hat\\theta_i` between arms, weighted by inverse propensity scores,
estimates the difference in RMST (or in survival) under the chosen estimand. This requires censoring
independent of treatment and covariates (pooled Kaplan-Meier; Andersen & Perme 2010). TODO: once
:mod:`gistcausal.stats.km` gains a leave-one-out helper, reuse it; the full-sample values here are checked
against :func:`gistcausal.stats.km.rmst` in the tests.

Estimator
---------
DoWhy's ``backdoor.propensity_score_weighting`` with the Hajek (self-normalized) mean difference and an
*unpenalized* logistic propensity model fitted by Newton's method to convergence (scikit-learn's default L2
penalty would shrink it, and its default lbfgs stops early); DoWhy's propensity clipping is switched off so
the weights are plain IPW. The estimator object is DoWhy's with its weighted means computed on numpy arrays
(:class:`gistcausal.stats._dowhy_ipw.HajekIPWEstimator`, same numbers; issue 17), and the propensity model is
fitted by :func:`gistcausal.stats.logistic.logistic_newton`; the refuters re-estimate with both. The standard error is the HC0 sandwich of the weighted mean difference with the
weights treated as known (conservative for the ATE, as estimating the propensity score reduces variance).

Readings
--------
``random_common_cause``, ``data_subset``, ``bootstrap``: DoWhy's p-value asks whether the original estimate
is compatible with the refuted distribution (one-sided normal test below 100 simulations); ``concern`` if it
is below ``alpha``. ``placebo_treatment``: DoWhy's p-value asks whether 0 is compatible with the placebo
effects; ``concern`` if below ``alpha``. ``add_unobserved_common_cause`` has no p-value; ``concern`` if the
estimate moves by more than one standard error or flips sign.

References
----------
Andersen PK, Perme MP. Pseudo-observations in survival analysis. Stat Methods Med Res. 2010;19(1):71-99.
Andersen PK, Hansen MG, Klein JP. Regression analysis of restricted mean survival time based on
pseudo-observations. Lifetime Data Anal. 2004;10:335-350.
Sharma A, Kiciman E. DoWhy: an end-to-end library for causal inference. arXiv:2011.04216 (2020).
"""
from __future__ import annotations

import contextlib
import logging
import math
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx
import numpy as np
import pandas as pd
from scipy import special

from gistcausal._checks import check_estimand
from gistcausal.effects import json_safe, EffectEstimate
from gistcausal.engine import one_blas_thread, open_executor
from gistcausal.errors import ConfigError, DataError, ModelFitError
from gistcausal.stats.logistic import log1pexp, logistic_newton

#: Refuter names accepted by :func:`refute`, mapped to DoWhy's method names.
REFUTERS = {
    "placebo_treatment": "placebo_treatment_refuter",
    "random_common_cause": "random_common_cause",
    "data_subset": "data_subset_refuter",
    "bootstrap": "bootstrap_refuter",
    "add_unobserved_common_cause": "add_unobserved_common_cause",
}
#: Bridges from a censored outcome to a pseudo-outcome.
BRIDGES = ("rmst_pseudo", "surv_pseudo")
#: Name of the pseudo-outcome node in the graph handed to DoWhy.
PSEUDO_OUTCOME = "pseudo_outcome"

ProgressHook = Callable[[int, int], None]


# ------------------------------------------------------------------------------------------------ graph

def causal_graph(treatment: str, outcome: str, covariates: Sequence[str],
                 extra_edges: Sequence[tuple[str, str]] = ()) -> nx.DiGraph:
    """Causal DAG with every baseline covariate pointing at treatment and outcome.

    Parameters
    ----------
    treatment, outcome : str
        Node names (DoWhy needs them to equal the data's column names).
    covariates : sequence of str
        Measured baseline covariates; each gets edges ``covariate -> treatment`` and
        ``covariate -> outcome``. The edge ``treatment -> outcome`` is always present.
    extra_edges : sequence of (str, str), default=()
        Further edges between the named nodes, e.g. ``("stage", "mitotic_count")``.

    Returns
    -------
    networkx.DiGraph
        Acyclic; see :func:`graph_to_gml` and :func:`graph_to_dot` for text forms.

    Raises
    ------
    ConfigError
        Duplicate or clashing names, an edge naming an unknown node, or a cycle.
    """
    where = "causal_graph"
    covs = list(covariates)
    names = [treatment, outcome, *covs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{where}: node names must be distinct (got {dup!r} more than once). Remove the "
                          f"treatment and outcome from the covariate list and drop duplicates.")
    g = nx.DiGraph()
    g.add_nodes_from(names)
    g.add_edge(treatment, outcome)
    for c in covs:
        g.add_edge(c, treatment)
        g.add_edge(c, outcome)
    for edge in extra_edges:
        if len(edge) != 2 or any(n not in g for n in edge):
            raise ConfigError(f"{where}: extra edge {tuple(edge)!r} must join two of the known nodes (got a node "
                              f"outside {names!r}). Check the spelling or add the variable to the covariates.")
        g.add_edge(*edge)
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        raise ConfigError(f"{where}: the graph must be acyclic (got the cycle {cycle!r}). Remove one of these "
                          f"extra edges.")
    return g


def graph_to_gml(g: nx.DiGraph) -> str:
    """GML text of the graph, as DoWhy reads it."""
    return "\n".join(nx.generate_gml(g))


def _dot_id(name: Any) -> str:
    """A DOT double-quoted ID: backslashes, quotes and line breaks escaped, so any name stays one ID."""
    text = str(name).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r", "\\r").replace("\n", "\\n") + '"'


def graph_to_dot(g: nx.DiGraph) -> str:
    """Graphviz DOT text of the graph (no pydot needed), for the report; node names are quoted and escaped."""
    lines = ["digraph causal_graph {"]
    lines += [f"  {_dot_id(n)};" for n in g.nodes]
    lines += [f"  {_dot_id(a)} -> {_dot_id(b)};" for a, b in g.edges]
    return "\n".join(lines + ["}"])


# ----------------------------------------------------------------------------------- pseudo-observations

def _check_time_event(df: pd.DataFrame, time_col: str, event_col: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    for c in (time_col, event_col):
        if c not in df.columns:
            raise DataError(f"{where}: column {c!r} not found (got {len(df.columns)} columns). Check the column "
                            f"name.")
    t = pd.to_numeric(df[time_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        raise DataError(f"{where}: column {time_col!r} must hold finite non-negative times (got {int(bad.sum())} "
                        f"missing, infinite or negative values). Remove or correct those records.")
    e = pd.to_numeric(df[event_col], errors="coerce").to_numpy(dtype=float)
    if np.isnan(e).any() or not np.isin(e, (0.0, 1.0)).all():
        raise DataError(f"{where}: column {event_col!r} must be coded 0 (censored) / 1 (event) (got "
                        f"{int((~np.isin(e, (0.0, 1.0))).sum())} other values). Recode the event indicator.")
    return t, e.astype(bool)


def pseudo_observations(time: np.ndarray, event: np.ndarray, *, horizon: float,
                        kind: Literal["rmst", "surv"] = "rmst", chunk_cells: int = 2_000_000) -> np.ndarray:
    r"""Jackknife pseudo-observations of the Kaplan-Meier RMST or survival at ``horizon``.

    Parameters
    ----------
    time : array of float
        Follow-up times (>= 0).
    event : array of bool
        True for an event, False for censoring.
    horizon : float
        :math:`\tau` for the RMST, or the time point for survival; must lie in
        ``(0, max(time)]``.
    kind : {"rmst", "surv"}, default="rmst"
        :math:`\theta = \int_0^\tau \hat S(t)\,dt` or :math:`\hat S(\tau)`.
    chunk_cells : int, default=2_000_000
        Memory bound: leave-one-out curves are built for at most this many (row, event-time) cells at
        a time.

    Returns
    -------
    numpy.ndarray
        :math:`\hat\theta_i = n\hat\theta - (n-1)\hat\theta_{-i}`, one per patient, input order.

    Notes
    -----
    Vectorized leave-one-out: with :math:`Y_k, d_k` the numbers at risk and with an event at the
    distinct event times :math:`t_k \le \tau`, removing patient *i* gives
    :math:`Y_k - 1[T_i \ge t_k]` and :math:`d_k - 1[T_i = t_k, \delta_i = 1]`, so
    :math:`\hat S_{-i}(t) = \prod_{t_k \le t} (1 - d_{k,-i} / Y_{k,-i})` (a factor of 1 where no one
    is left at risk). Patients sharing ``(time, event)`` share :math:`\hat\theta_{-i}`, so only the distinct
    pairs are computed: O(m K) for m distinct pairs and K event times, in chunks.

    References
    ----------
    Andersen PK, Perme MP. Stat Methods Med Res. 2010;19:71-99.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    n = t.size
    ev = np.unique(t[e & (t <= horizon)])
    st = np.sort(t)
    y = (n - np.searchsorted(st, ev, side="left")).astype(float)
    d = np.bincount(np.searchsorted(ev, t[e & (t <= horizon)]), minlength=ev.size).astype(float)
    grid = np.r_[0.0, ev, horizon]
    widths = np.diff(grid)

    def functional(s: np.ndarray) -> np.ndarray:
        # s: (rows, K) survival just after each event time; prepend S = 1 on [0, t_1).
        if kind == "surv":
            return s[:, -1] if s.shape[1] else np.ones(s.shape[0])
        full = np.hstack([np.ones((s.shape[0], 1)), s])
        return full @ widths

    def surv_rows(yy: np.ndarray, dd: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(yy > 0, 1.0 - dd / yy, 1.0)
        return np.cumprod(f, axis=1)

    theta = functional(surv_rows(y[None, :], d[None, :]))[0]
    pairs, inverse = np.unique(np.c_[t, e.astype(float)], axis=0, return_inverse=True)
    loo = np.empty(pairs.shape[0])
    step = max(1, chunk_cells // max(1, ev.size))
    for start in range(0, pairs.shape[0], step):
        tp, ep = pairs[start:start + step, 0], pairs[start:start + step, 1].astype(bool)
        at_risk = tp[:, None] >= ev[None, :]
        died = (tp[:, None] == ev[None, :]) & ep[:, None]
        loo[start:start + step] = functional(surv_rows(y[None, :] - at_risk, d[None, :] - died))
    return n * theta - (n - 1) * loo[inverse.ravel()]


# ---------------------------------------------------------------------------------------------- result

@dataclass(frozen=True, slots=True)
class RefutationResult:
    """Bridged estimate, DoWhy's refutations of it, and the graph they assume.

    Parameters
    ----------
    estimate : EffectEstimate
        IPW estimate on the pseudo-outcome (``measure`` ``"rmst_diff"`` or ``"surv_diff"``), with a robust
        standard error and Wald interval (see :func:`refute`).
    table : pandas.DataFrame
        One row per refuter: ``refuter, dowhy_method, estimate, new_effect, new_effect_low,
        new_effect_high, p_value, reading, rule, num_simulations``. Aggregates only.
    graph_gml, graph_dot : str
        The causal graph as GML and DOT text.
    estimand : str
        DoWhy's identified estimand (back-door expression and adjustment set).
    bridge : str
        ``"rmst_pseudo"`` or ``"surv_pseudo"``.
    horizon : float
        RMST horizon or survival time point.
    random_state : int or None
        Seed used for every refuter.
    warnings : tuple of str
        Warnings raised inside DoWhy that say something about this run (deduplicated).
    """

    estimate: EffectEstimate
    table: pd.DataFrame
    graph_gml: str
    graph_dot: str
    estimand: str
    bridge: str
    horizon: float
    random_state: int | None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy of the refuter table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN -> None)."""
        rows = [{k: json_safe(v) for k, v in r.items()} for r in self.table.to_dict(orient="records")]
        return {"estimate": self.estimate.to_dict(), "refuters": rows, "graph_gml": self.graph_gml,
                "graph_dot": self.graph_dot, "estimand": self.estimand, "bridge": self.bridge,
                "horizon": self.horizon, "random_state": self.random_state, "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Paper-ready lines: the bridged estimate and one line per refuter."""
        what = "RMST difference" if self.bridge == "rmst_pseudo" else "survival difference"
        lines = [f"DoWhy refutation of the IPW {what} at {self.horizon:g} (pseudo-observation bridge): "
                 f"{self.estimate.value:.3g} (95% CI {self.estimate.ci_low:.3g} to {self.estimate.ci_high:.3g})."]
        for r in self.table.itertuples():
            p = "" if not np.isfinite(r.p_value) else f", p = {r.p_value:.3g}"
            if np.isfinite(r.new_effect):
                new = f"{r.new_effect:.3g}"
            elif np.isfinite(r.new_effect_low) and np.isfinite(r.new_effect_high):
                new = f"{r.new_effect_low:.3g} to {r.new_effect_high:.3g}"
            else:
                new = "none"
            lines.append(f"  {r.refuter}: new effect {new}{p} -> {r.reading}")
        concerns = int((self.table["reading"] == "concern").sum())
        missing = int((self.table["reading"] == NOT_ESTIMABLE).sum())
        read = len(self.table) - missing
        if not read:
            lines.append(f"No refuter could be read: DoWhy gave no new effect for any of the {missing}.")
        else:
            lines.append((f"{concerns} of {read} refuters raised a concern." if concerns
                          else f"No refuter raised a concern{f' (of {read} read)' if missing else ''}.")
                         + (f" {missing} of {len(self.table)} could not be read: DoWhy gave no new effect or "
                            "p-value for them (not counted as passes)." if missing else ""))
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- refute

@contextlib.contextmanager
def _dowhy_quiet(seed: int | None) -> Iterator[list[warnings.WarningMessage]]:
    """Mute DoWhy's routine logging and dependency FutureWarnings; seed numpy's global RNG for DoWhy.

    DoWhy logs at WARNING level for routine choices (e.g. the normal approximation with < 100 simulations)
    and its internals trip pandas/scikit-learn FutureWarnings: neither says anything about the user's
    data, so they are silenced here only. Other warnings are recorded and returned to the caller.
    DoWhy draws some noise from numpy's *global* RNG (bootstrap noise, the simulated confounder), so for
    reproducibility it is seeded inside this block and its previous state restored afterwards.
    """
    logger = logging.getLogger("dowhy")
    old_level = logger.level
    logger.setLevel(logging.ERROR)
    state = np.random.get_state()
    if seed is not None:
        np.random.seed(seed)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield caught
    finally:
        np.random.set_state(state)
        logger.setLevel(old_level)


def _robust_ipw_se(y: np.ndarray, a: np.ndarray, w: np.ndarray) -> float:
    """HC0 sandwich SE of a Hajek weighted mean difference, weights treated as known."""
    out = 0.0
    for arm in (1, 0):
        m = a == arm
        mu = np.sum(w[m] * y[m]) / np.sum(w[m])
        out += np.sum(w[m] ** 2 * (y[m] - mu) ** 2) / np.sum(w[m]) ** 2
    return math.sqrt(out)


#: The reading of a refuter whose new effect (or, for a rule on the p-value, whose p-value) DoWhy did not produce.
NOT_ESTIMABLE = "not estimable"

_RULES = {
    "placebo_treatment": ("pass if DoWhy's p-value >= alpha: a zero effect is compatible with the effects "
                          "estimated after permuting treatment"),
    "random_common_cause": ("pass if DoWhy's p-value >= alpha: the estimate is compatible with those obtained "
                            "after adding an independent random covariate"),
    "data_subset": "pass if DoWhy's p-value >= alpha: the estimate is compatible with those on random subsets",
    "bootstrap": ("pass if DoWhy's p-value >= alpha: the estimate is compatible with bootstrap re-estimates "
                  "with noise added to the covariates"),
    "add_unobserved_common_cause": ("pass if the simulated confounder moves the estimate by less than one "
                                    "standard error and does not flip its sign"),
}


def refute(df: pd.DataFrame, *, treatment_col: str, time_col: str, event_col: str, covariates: Sequence[str],
           bridge: Literal["rmst_pseudo", "surv_pseudo"] = "rmst_pseudo", horizon: float,
           estimand: Literal["ATE", "ATT", "ATC"] = "ATE",
           refuters: Sequence[str] = ("placebo_treatment", "random_common_cause", "data_subset", "bootstrap",
                                      "add_unobserved_common_cause"),
           num_simulations: int = 50, subset_fraction: float = 0.8,
           unobserved_strength: tuple[float, float] = (0.05, 0.25), extra_edges: Sequence[tuple[str, str]] = (),
           alpha: float = 0.05, outcome: str = "outcome", contrast: str = "treated vs control",
           random_state: int | None = 0, progress: ProgressHook | None = None,
           engine: Any = None) -> RefutationResult:
    r"""Identify, estimate and refute the treatment effect on a censored outcome with DoWhy.

    Parameters
    ----------
    df : pandas.DataFrame
        Analysis table, one row per patient (read only). Column names may be any strings: DoWhy only ever
        sees generated names (``treatment``, ``outcome``, ``x1``, ``x2``, ...), mapped back to the column
        names in the result.
    treatment_col : str
        Treatment indicator coded 0/1.
    time_col, event_col : str
        Follow-up time and event indicator (1 event, 0 censored).
    covariates : sequence of str
        Baseline confounders; numeric or boolean, no missing values.
    bridge : {"rmst_pseudo", "surv_pseudo"}, default="rmst_pseudo"
        Pseudo-observations of the RMST up to ``horizon`` or of survival at ``horizon``.
    horizon : float
        RMST horizon / survival time point, in the units of ``time_col``; in ``(0, max time]``.
    estimand : {"ATE", "ATT", "ATC"}, default="ATE"
        Passed to DoWhy as ``target_units``.
    refuters : sequence of str
        Any of :data:`REFUTERS`; run in the order given.
    num_simulations : int, default=50
        Simulations per refuter (placebo, random common cause, subset, bootstrap). Run time grows
        linearly; DoWhy uses a normal approximation for its p-value below 100.
    subset_fraction : float, default=0.8
        Share kept by the data-subset refuter.
    unobserved_strength : (float, float), default=(0.05, 0.25)
        Simulated unobserved confounder for ``add_unobserved_common_cause``: the probability with which it
        flips treatment (DoWhy's ``binary_flip``) and its linear effect on the pseudo-outcome in standard
        deviations of the pseudo-outcome.
    extra_edges : sequence of (str, str), default=()
        Additional graph edges (see :func:`causal_graph`).
    alpha : float, default=0.05
        Level for the pass/concern readings.
    outcome, contrast : str
        Labels for the returned :class:`~gistcausal.effects.EffectEstimate`.
    random_state : int or None, default=0
        Root seed. Each refuter gets its own seed derived from it (:func:`refuter_seeds`), used both as
        DoWhy's ``random_state`` and for numpy's global RNG (restored afterwards), so a refuter's result does
        not depend on which other refuters run, and equal inputs give byte-identical results.
    progress : callable(i, total) or None
        Called with ``(0, total)`` before the first refuter and ``(i, total)`` after the i-th (finished).
    engine : gistcausal.engine.Engine or Executor, optional
        Where the refuters run (default: in this process). On a parallel engine each refuter is one task
        (DoWhy's own simulations inside a refuter run in that task); the results equal the serial ones.

    Returns
    -------
    RefutationResult

    Raises
    ------
    ConfigError
        Unknown bridge, estimand or refuter name; bad numeric settings; graph problems.
    DataError
        Missing columns, non-binary treatment or event, missing covariate values, bad horizon.
    ModelFitError
        DoWhy could not identify or estimate the effect.

    Notes
    -----
    The bridge, the estimator and its standard error, and how each refuter is read (``pass``/``concern``)
    are in the module docstring ("Bridge", "Estimator", "Readings").
    """
    where = "refute"
    _check_settings(where, refuters=refuters, bridge=bridge, estimand=estimand, num_simulations=num_simulations,
                    subset_fraction=subset_fraction, alpha=alpha, unobserved_strength=unobserved_strength)
    covs = list(covariates)
    a, t, e = _check_data(df, treatment_col=treatment_col, time_col=time_col, event_col=event_col, covs=covs,
                          horizon=horizon, where=where)
    y = pseudo_observations(t, e, horizon=float(horizon), kind="rmst" if bridge == "rmst_pseudo" else "surv")
    g = causal_graph(treatment_col, PSEUDO_OUTCOME, covs, extra_edges)  # the column names, for display
    bridge_data = _bridge_frame(df, g, treatment_col=treatment_col, covs=covs, a=a, y=y)

    seed = None if random_state is None else int(random_state)
    seeds = refuter_seeds(seed)
    total = len(refuters)
    if progress is not None:
        progress(0, total)
    rows = []
    task = _RefuteTask(bridge_data=bridge_data, estimand=estimand, where=where, seeds=seeds, a=a, y=y,
                       num_simulations=int(num_simulations), subset_fraction=subset_fraction,
                       unobserved_strength=unobserved_strength, alpha=alpha)
    with open_executor(engine) as ex, one_blas_thread():
        if ex.serial:
            with _dowhy_quiet(seeds["estimate"]) as caught:
                model, identified, est, value, se = task.estimate()
                for i, name in enumerate(refuters, start=1):
                    rows.append(task.refute(model, identified, est, value, se, name))
                    if progress is not None:
                        progress(i, total)
                kept = tuple(dict.fromkeys(f"{m.category.__name__}: {m.message}" for m in caught))
            estimand_text = _estimand_text(identified, bridge_data.labels)
        else:
            # one task per refuter; each refits the (seeded, deterministic) estimate it refutes, so a refuter's
            # result is the same as in the loop above whichever worker runs it. The estimate, its standard error
            # and the identified estimand are the first task's: this process neither imports DoWhy (about 1.5 s
            # of CPU at the busiest moment of a run, issue 17) nor fits the estimate a fifth time. Each task's
            # warnings start with its estimate's, so they are kept in the loop's order.
            parts = ex.map_replicates(_refute_one, list(refuters), shared=task, progress=progress)
            rows = [row for row, _, _ in parts]
            kept = tuple(dict.fromkeys(w for _, ws, _ in parts for w in ws))
            value, se, estimand_text = parts[0][2]

    lo, hi = value - 1.959963984540054 * se, value + 1.959963984540054 * se
    measure = "rmst_diff" if bridge == "rmst_pseudo" else "surv_diff"
    estimate = EffectEstimate(
        outcome=outcome, contrast=contrast, estimand=estimand, method="iptw_pseudo", measure=measure, value=value,
        ci_low=lo, ci_high=hi, se=se, variance="robust", n=int(len(a)), time=float(horizon),
        note="DoWhy backdoor.propensity_score_weighting on KM pseudo-observations; SE treats weights as known")
    table = pd.DataFrame(rows, columns=["refuter", "dowhy_method", "estimate", "new_effect", "new_effect_low",
                                        "new_effect_high", "p_value", "reading", "rule", "num_simulations"])
    return RefutationResult(estimate=estimate, table=table, graph_gml=graph_to_gml(g), graph_dot=graph_to_dot(g),
                            estimand=estimand_text, bridge=bridge,
                            horizon=float(horizon), random_state=seed, warnings=kept)


@dataclass(frozen=True)
class _RefuteTask:
    """What a refuter needs, sent once to each worker (the bridge data, seeds and settings)."""

    bridge_data: Any
    estimand: str
    where: str
    seeds: dict[str, int | None]
    a: np.ndarray
    y: np.ndarray
    num_simulations: int
    subset_fraction: float
    unobserved_strength: tuple[float, float]
    alpha: float

    def estimate(self) -> tuple[Any, Any, Any, float, float]:
        model, identified, est = _dowhy_estimate(self.bridge_data, estimand=self.estimand, where=self.where)
        ps = np.asarray(est.propensity_scores, dtype=float)
        a = self.a
        w = {"ATE": a / ps + (1 - a) / (1 - ps), "ATT": a + (1 - a) * ps / (1 - ps),
             "ATC": a * (1 - ps) / ps + (1 - a)}[self.estimand]
        return model, identified, est, float(est.value), _robust_ipw_se(self.y, a, w)

    def refute(self, model: Any, identified: Any, est: Any, value: float, se: float, name: str) -> dict[str, Any]:
        options = _refuter_options(name, num_simulations=self.num_simulations, subset_fraction=self.subset_fraction,
                                   unobserved_strength=self.unobserved_strength, sd_y=float(np.std(self.y)),
                                   seed=self.seeds[name])
        r = _dowhy_refute(model, identified, est, name, options, seed=self.seeds[name], where=self.where)
        return _read(name, r, value, se, self.alpha, self.num_simulations)


#: DoWhy draws from numpy's global RNG; refuters sharing a process (threaded Dask workers) take turns.
_GLOBAL_RNG = threading.Lock()


def _refute_one(task: _RefuteTask, name: str) -> tuple[dict[str, Any], list[str], tuple[float, float, str]]:
    """One refuter in a worker: the estimate refitted as in :func:`refute`, then the refuter. Returns the
    refuter's row, the warnings (the estimate's first) and the estimate's value, standard error and identified
    estimand in words (the same in every task)."""
    with _GLOBAL_RNG, one_blas_thread(), _dowhy_quiet(task.seeds["estimate"]) as caught:
        model, identified, est, value, se = task.estimate()
        row = task.refute(model, identified, est, value, se, name)
        return (row, [f"{m.category.__name__}: {m.message}" for m in caught],
                (value, se, _estimand_text(identified, task.bridge_data.labels)))


def refuter_seeds(random_state: int | None) -> dict[str, int | None]:
    """Seeds for the estimate and for each refuter, derived from one root seed.

    ``np.random.SeedSequence(random_state).spawn(1 + len(REFUTERS))``: child 0 seeds the estimate, child
    ``k`` the ``k``-th refuter of :data:`REFUTERS` (a fixed order, so a refuter's seed does not depend on
    which others run). ``None`` gives ``None`` throughout (unseeded).
    """
    names = ["estimate", *REFUTERS]
    if random_state is None:
        return dict.fromkeys(names)
    children = np.random.SeedSequence(int(random_state)).spawn(len(names))
    return {n: int(c.generate_state(1)[0]) for n, c in zip(names, children)}


def _check_settings(where: str, *, refuters: Sequence[str], bridge: str, estimand: str, num_simulations: Any,
                    subset_fraction: float, alpha: float, unobserved_strength: tuple[float, float]) -> None:
    unknown = [r for r in refuters if r not in REFUTERS]
    if unknown or not refuters:
        raise ConfigError(f"{where}: refuters must be a non-empty list drawn from "
                          f"{', '.join(map(repr, REFUTERS))} (got {list(refuters)!r}). Remove or correct the "
                          f"unknown names.")
    if bridge not in BRIDGES:
        raise ConfigError(f"{where}: bridge must be one of {', '.join(map(repr, BRIDGES))} (got {bridge!r}). Use "
                          f"'rmst_pseudo' for an RMST difference.")
    check_estimand(estimand, where=where, supported="refutation")
    if not (isinstance(num_simulations, (int, np.integer)) and 2 <= num_simulations <= 10_000):
        raise ConfigError(f"{where}: num_simulations must be an integer between 2 and 10000 (got "
                          f"{num_simulations!r}). Use e.g. 50, or 100+ for DoWhy's percentile p-values.")
    if not 0.0 < subset_fraction < 1.0:
        raise ConfigError(f"{where}: subset_fraction must lie in (0, 1) (got {subset_fraction!r}). Use e.g. 0.8.")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"{where}: alpha must lie in (0, 1) (got {alpha!r}). Use e.g. 0.05.")
    kappa_t, kappa_y_sd = unobserved_strength
    if not (0.0 <= kappa_t < 0.5 and kappa_y_sd >= 0.0):
        raise ConfigError(f"{where}: unobserved_strength must be (flip probability in [0, 0.5), outcome effect "
                          f">= 0 in SDs) (got {unobserved_strength!r}). Use e.g. (0.05, 0.25).")


def _check_data(df: pd.DataFrame, *, treatment_col: str, time_col: str, event_col: str, covs: list[str],
                horizon: Any, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(treatment 0/1, time, event) after checking columns, codes, covariates and the horizon."""
    for c in [treatment_col, *covs]:
        if c not in df.columns:
            raise DataError(f"{where}: column {c!r} not found (got {len(df.columns)} columns). Check the column "
                            f"names in the configuration.")
    if PSEUDO_OUTCOME in covs or treatment_col == PSEUDO_OUTCOME:
        raise ConfigError(f"{where}: the name {PSEUDO_OUTCOME!r} is reserved for the pseudo-outcome (got it as "
                          f"a column). Rename that column.")
    a_raw = df[treatment_col]
    if a_raw.isna().any() or not set(pd.unique(a_raw)) <= {0, 1, True, False}:
        raise DataError(f"{where}: column {treatment_col!r} must be coded 0/1 without missing values (got "
                        f"{int(a_raw.isna().sum())} missing and values {sorted(map(str, pd.unique(a_raw)))[:5]!r}). "
                        f"Recode treatment to 0/1.")
    for c in covs:
        x = df[c]
        if not (pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)):
            raise DataError(f"{where}: covariate {c!r} must be numeric or boolean (got dtype {x.dtype}). "
                            f"Dummy-code it first.")
        if x.isna().any():
            raise DataError(f"{where}: covariate {c!r} has {int(x.isna().sum())} missing values (got missing). "
                            f"Impute or drop them before refutation.")
    t, e = _check_time_event(df, time_col, event_col, where)
    if not (isinstance(horizon, (int, float)) and 0.0 < horizon <= t.max()):
        raise DataError(f"{where}: horizon must lie in (0, {t.max():g}], the last follow-up time (got "
                        f"{horizon!r}). Choose a horizon within follow-up.")
    return a_raw.astype(int).to_numpy(), t, e


@dataclass(frozen=True, slots=True)
class _BridgeData:
    """What DoWhy sees: a frame and a graph whose names are all generated, plus the way back to labels."""

    frame: pd.DataFrame
    gml: str
    labels: dict[str, str]


def _bridge_frame(df: pd.DataFrame, g: nx.DiGraph, *, treatment_col: str, covs: list[str], a: np.ndarray,
                  y: np.ndarray) -> _BridgeData:
    """Rename every column to ``treatment``, ``outcome``, ``x1``, ``x2``, ... before DoWhy sees it.

    DoWhy builds formula strings and expressions from node and column names (its estimators and refuters
    paste them into patsy/statsmodels formulas), so a user's column name must never reach it.
    """
    safe = {treatment_col: "treatment", PSEUDO_OUTCOME: "outcome"}
    safe.update({c: f"x{k}" for k, c in enumerate(covs, start=1)})
    data = pd.DataFrame({"treatment": a, "outcome": y})
    for c in covs:
        data[safe[c]] = df[c].astype(float).to_numpy()
    safe_graph = nx.relabel_nodes(g, safe, copy=True)
    return _BridgeData(frame=data, gml=graph_to_gml(safe_graph), labels={v: str(k) for k, v in safe.items()})


def _column_key(name: Any) -> tuple[int, str]:
    text = str(name)
    return (int(text[1:]), text) if text[:1] == "x" and text[1:].isdigit() else (0, text)


class _OrderedLogit:
    """Unpenalized logistic regression fitted by Newton's method on the columns in a fixed order.

    DoWhy hands the propensity model its adjustment set in the iteration order of a Python ``set`` of
    names, which changes with ``PYTHONHASHSEED`` from one process to the next; scikit-learn's default lbfgs,
    unpenalized and on unscaled covariates, stops far from the optimum, so that order (and the seed) leaked
    into the estimate at about 1e-5. Sorting the columns (``x1, x2, ..., x10``) and iterating Newton to
    convergence makes the estimate identical in every process. Implements the parts of the scikit-learn
    classifier API that DoWhy calls.

    The fit is :func:`gistcausal.stats.logistic.logistic_newton` (Cholesky-solved Newton steps on
    :math:`[1, X]`, stopping when the largest step is below ``tol``), the maximum-likelihood estimate that
    scikit-learn's ``LogisticRegression(C=inf, solver="newton-cholesky")`` also finds, without its
    per-fit validation and loss bookkeeping: the refuters refit this model once per simulation (issue 17).
    When Newton's method stops with an error (separation, a singular information matrix) the fit falls back
    to scikit-learn's, which then decides, as before. tests/stats/test_refutation.py checks the two agree.

    ``warm_start=True`` (scikit-learn's meaning: reuse the previous fit's solution as the starting point) is
    what the refuters use: each simulation refits a deep copy of the original estimate's model, so its
    previous fit is the original propensity model. Newton's method then starts from the better, by
    log-likelihood on the new data, of two points: the previous coefficients matched by column name (a column
    the previous fit did not have, such as the random common cause, starts at 0), and the intercept-only
    maximum :math:`(\\operatorname{logit}\\bar y, 0, \\dots, 0)` (closest for a permuted placebo treatment,
    independent of the covariates). Both lead to the same maximum (Newton stops at a step below ``tol``, so the
    fits agree to about 1e-15), in 3 or 4 Newton steps instead of 5 from zeros (the refuters' 81 refits at 229,000
    rows; issue 17); a start from which Newton's method fails is retried from zeros
    (:func:`~gistcausal.stats.logistic.logistic_newton`).
    """

    def __init__(self, tol: float = 1e-10, max_iter: int = 100, warm_start: bool = False) -> None:
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def get_params(self, deep: bool = True) -> dict[str, Any]:  # noqa: ARG002 - sklearn API
        return {"tol": self.tol, "max_iter": self.max_iter, "warm_start": self.warm_start}

    def set_params(self, **params: Any) -> "_OrderedLogit":
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _matrix(self, X: Any) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            return X[self.columns_].to_numpy(dtype=float)
        return np.asarray(X, dtype=float)

    def fit(self, X: Any, y: Any) -> "_OrderedLogit":
        previous = (getattr(self, "columns_", None), getattr(self, "coef_", None)) if self.warm_start else None
        self.columns_ = sorted(X.columns, key=_column_key) if isinstance(X, pd.DataFrame) else None
        Xi, yv = self._design(X), np.asarray(y)
        # the sorted distinct labels; a hash table instead of np.unique's sort for integer labels (6 ms at 229,000)
        self.classes_ = np.sort(pd.unique(yv)) if yv.dtype.kind in "biu" else np.unique(yv)
        self.coef_, self.model_ = None, None
        if self.classes_.size == 2:
            yb = (yv == self.classes_[1]).astype(float)
            start = None if previous is None else _warm_start(Xi, yb, self.columns_, *previous)
            try:
                self.coef_ = logistic_newton(Xi, yb, tol=self.tol, max_iter=self.max_iter, where="_OrderedLogit",
                                             beta0=start)[0]
            except ModelFitError:  # SeparationError included: scikit-learn's fit decides, as before
                self.coef_ = None
        if self.coef_ is None:
            self.model_ = _sklearn_logit(Xi[:, 1:], yv, tol=self.tol, max_iter=self.max_iter)
            self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.model_ is not None:
            return self.model_.predict_proba(self._matrix(X))
        p = special.expit(self._design(X) @ self.coef_)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        if self.model_ is not None:
            return self.model_.predict(self._matrix(X))
        return self.classes_[(self._design(X) @ self.coef_ > 0).astype(int)]

    def _design(self, X: Any) -> np.ndarray:
        """``[1, X]`` in the fitted column order, written into one array (the refuters' frames have 230,000 rows
        at registry scale: selecting the columns, converting them and prepending the intercept were three copies
        per fit and per prediction; issue 17). Column-major, so each column is one contiguous write (3 ms instead
        of 10-15 ms at 229,000 x 13); Newton's method takes the same time on it and gives the same coefficients."""
        if not isinstance(X, pd.DataFrame):
            return _with_intercept(np.asarray(X, dtype=float))
        out = np.empty((len(X), len(self.columns_) + 1), order="F")
        out[:, 0] = 1.0
        for k, c in enumerate(self.columns_, start=1):
            out[:, k] = X[c].to_numpy(dtype=float)
        return out


def _with_intercept(X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(X.shape[0]), X])


def _warm_start(X: np.ndarray, y: np.ndarray, columns: list[Any] | None, previous_columns: list[Any] | None,
                previous_coef: np.ndarray | None) -> np.ndarray | None:
    """Starting coefficients of a refit of :class:`_OrderedLogit` on ``X`` (with its intercept column) and ``y``:
    the previous fit's coefficients by column name (new columns at 0) or the intercept-only maximum
    :math:`(\\operatorname{logit}\\bar y, 0, \\dots)`, whichever has the larger log-likelihood
    :math:`\\sum_i y_i\\eta_i - \\log(1 + e^{\\eta_i})`; None (start at zeros) without a previous fit or when
    ``y`` is constant."""
    ybar = float(np.mean(y))
    if previous_coef is None or not 0.0 < ybar < 1.0:
        return None
    if columns is not None and previous_columns is not None:
        at = {c: k for k, c in enumerate(previous_columns, start=1)}
        warm = np.array([previous_coef[0]] + [previous_coef[at[c]] if c in at else 0.0 for c in columns])
    elif previous_coef.size == X.shape[1]:
        warm = np.array(previous_coef, dtype=float)
    else:
        return None
    null = np.zeros(X.shape[1])
    null[0] = math.log(ybar / (1.0 - ybar))
    eta = X @ warm
    ll_warm = float(y @ eta - np.sum(log1pexp(eta)))
    ll_null = y.size * (ybar * math.log(ybar) + (1.0 - ybar) * math.log1p(-ybar))
    return warm if ll_warm > ll_null else null


def _sklearn_logit(X: np.ndarray, y: np.ndarray, *, tol: float, max_iter: int) -> Any:
    """scikit-learn's unpenalized Newton-Cholesky logistic fit (the fallback of :class:`_OrderedLogit`)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=np.inf, solver="newton-cholesky", tol=tol, max_iter=max_iter).fit(X, y)


def _sort_adjustment_sets(identified: Any) -> None:
    """Put every adjustment set DoWhy identified (one per identification method) in ``x1, x2, ...`` order."""
    for table in (getattr(identified, "backdoor_variables", None),
                  getattr(identified, "general_adjustment_variables", None)):
        if isinstance(table, dict):
            for key, names in table.items():
                if names is not None:
                    table[key] = sorted(names, key=_column_key)


def _ipw_params() -> dict[str, Any]:
    """DoWhy's settings of the IPW estimator: unpenalized Newton propensity model, no clipping, plain weights."""
    return {"propensity_score_model": _OrderedLogit(warm_start=True), "min_ps_score": 0.0, "max_ps_score": 1.0,
            "weighting_scheme": "ips_weight"}


def _ipw_estimate(model: Any, identified: Any, estimand: str, *, plain: bool = False) -> Any:
    """DoWhy's ``backdoor.propensity_score_weighting`` estimate of ``identified`` on the model's data.

    By default the estimator is :class:`gistcausal.stats._dowhy_ipw.HajekIPWEstimator` (DoWhy's estimator
    with the weighted means computed on numpy arrays; the same numbers), run by DoWhy's own
    ``dowhy.causal_estimator.estimate_effect`` as ``CausalModel.estimate_effect`` would run it; the refuters
    copy it from the estimate. ``plain=True`` runs DoWhy's ``CausalModel.estimate_effect`` by method name (the
    reference the tests compare with)."""
    if plain:
        return model.estimate_effect(identified, method_name="backdoor.propensity_score_weighting",
                                     target_units=estimand.lower(), method_params={"init_params": _ipw_params()})
    from dowhy.causal_estimator import estimate_effect

    from gistcausal.stats._dowhy_ipw import HajekIPWEstimator

    estimator = HajekIPWEstimator(identified, test_significance=None, evaluate_effect_strength=False,
                                  confidence_intervals=False, **_ipw_params())
    return estimate_effect(model._data, model._treatment, model._outcome, "backdoor", estimator,
                           target_units=estimand.lower(), effect_modifiers=model.get_effect_modifiers(),
                           method_params={})


def _dowhy_estimate(bridge_data: _BridgeData, *, estimand: str, where: str) -> tuple[Any, Any, Any]:
    """DoWhy model, identified estimand and IPW estimate on the renamed frame."""
    from dowhy import CausalModel  # deferred: importing DoWhy costs about a second

    data = bridge_data.frame
    try:
        model = CausalModel(data=data.copy(), treatment="treatment", outcome="outcome", graph=bridge_data.gml)
        identified = model.identify_effect(proceed_when_unidentifiable=True)
        # DoWhy keeps the adjustment set in set-iteration order, which changes with PYTHONHASHSEED; its
        # bootstrap refuter draws noise for the variables in that order. A fixed order keeps runs identical.
        _sort_adjustment_sets(identified)
        est = _ipw_estimate(model, identified, estimand)
    except Exception as err:  # DoWhy raises bare Exceptions; keep the cause chained
        raise ModelFitError(f"{where}: DoWhy could not identify or estimate the effect on {PSEUDO_OUTCOME!r} "
                            f"(got {type(err).__name__}: {err}). Check the covariates for constant columns "
                            f"or separation.") from err
    # DoWhy writes its propensity and weight columns into the model's data; left there, every refuter
    # would reuse the original propensity scores instead of refitting them.
    model._data = data.copy()
    return model, identified, est


def _refuter_options(name: str, *, num_simulations: int, subset_fraction: float,
                     unobserved_strength: tuple[float, float], sd_y: float, seed: int | None) -> dict[str, Any]:
    """DoWhy keyword arguments of one refuter. A RandomState object (not an int) is passed because DoWhy
    reseeds an int for every simulation, which would give identical subsets; the object advances."""
    rs = None if seed is None else np.random.RandomState(seed)
    kw: dict[str, Any] = {"n_jobs": 1}
    if name == "placebo_treatment":
        kw.update(placebo_type="permute", num_simulations=num_simulations, random_state=rs)
    elif name in ("random_common_cause", "bootstrap"):
        kw.update(num_simulations=num_simulations, random_state=rs)
    elif name == "data_subset":
        kw.update(num_simulations=num_simulations, random_state=rs, subset_fraction=subset_fraction)
    else:
        kappa_t, kappa_y_sd = unobserved_strength
        kw.update(simulation_method="direct-simulation", confounders_effect_on_treatment="binary_flip",
                  confounders_effect_on_outcome="linear", effect_strength_on_treatment=float(kappa_t),
                  effect_strength_on_outcome=float(kappa_y_sd * sd_y), plotmethod=None)
    return kw


def _dowhy_refute(model: Any, identified: Any, est: Any, name: str, options: dict[str, Any], *,
                  seed: int | None, where: str) -> Any:
    if seed is not None:
        np.random.seed(seed)  # DoWhy also draws from the global RNG (simulated confounder, bootstrap noise)
    try:
        return model.refute_estimate(identified, est, method_name=REFUTERS[name], **options)
    except Exception as err:  # DoWhy raises bare Exceptions
        raise ModelFitError(f"{where}: DoWhy's {REFUTERS[name]} failed (got {type(err).__name__}: {err}). "
                            f"Drop this refuter or check the data.") from err


def _estimand_text(identified: Any, labels: dict[str, str]) -> str:
    try:
        adj = [labels.get(str(v), str(v)) for v in identified.get_backdoor_variables()]
    except Exception:  # pragma: no cover - DoWhy API drift
        adj = []
    return (f"backdoor: E[{PSEUDO_OUTCOME} | do(treatment)] identified by adjusting for "
            f"{', '.join(sorted(adj)) if adj else 'nothing'}")


def _read(name: str, r: Any, value: float, se: float, alpha: float, nsim: int) -> dict[str, Any]:
    new = r.new_effect
    lo_hi = (math.nan, math.nan)
    if isinstance(new, (tuple, list, np.ndarray)):
        lo_hi, new = (float(np.min(new)), float(np.max(new))), math.nan
    else:
        new = float(new)
    p = math.nan
    if isinstance(r.refutation_result, dict) and r.refutation_result.get("p_value") is not None:
        p = float(r.refutation_result["p_value"])
    if name == "add_unobserved_common_cause":
        nsim = 1
    if not (math.isfinite(new) or all(math.isfinite(x) for x in lo_hi)):
        # DoWhy gave no new effect (a refit failed on every subset or resample): nothing to read, never a pass
        reading = NOT_ESTIMABLE
    elif name == "add_unobserved_common_cause":
        moved = abs(new - value) if math.isfinite(new) else max(abs(lo_hi[0] - value), abs(lo_hi[1] - value))
        flipped = (np.sign(new) != np.sign(value)) if math.isfinite(new) else False
        reading = "concern" if (moved > se or flipped) else "pass"
    elif not math.isfinite(p):
        reading = NOT_ESTIMABLE   # the rule reads DoWhy's p-value, and there is none
    else:
        reading = "concern" if p < alpha else "pass"
    return {"refuter": name, "dowhy_method": REFUTERS[name], "estimate": value, "new_effect": new,
            "new_effect_low": lo_hi[0], "new_effect_high": lo_hi[1], "p_value": p, "reading": reading,
            "rule": _RULES[name], "num_simulations": nsim}


__all__ = ["REFUTERS", "BRIDGES", "PSEUDO_OUTCOME", "NOT_ESTIMABLE", "causal_graph", "graph_to_gml", "graph_to_dot",
           "pseudo_observations", "RefutationResult", "refute", "refuter_seeds"]
