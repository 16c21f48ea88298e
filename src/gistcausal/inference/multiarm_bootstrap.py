r"""Bootstrap of the whole K-arm analysis: multinomial propensity refit, K-arm weights, every pairwise contrast.

The K-arm counterpart of :mod:`gistcausal.inference.bootstrap` (issue 18, section 3). Each replicate resamples
patients with replacement *within each arm* (every arm keeps its size), refits the multinomial (generalized)
propensity score on the resample, recomputes the K-arm weights (estimand, focal arm, stabilization as
configured) and recomputes, per arm, the weighted Kaplan-Meier survival at the landmarks and the RMST at the
horizon, and per pair of arms (A, B) the survival difference and (log) ratio, the RMST difference and the
weighted Cox log hazard ratio of B vs A on the pair's patients with their K-arm weights. The spread of the
replicates therefore includes the variability of the estimated weights, which the ``robust`` variance ignores.

No second copy of an estimator: every replicate calls the kernels the point estimate
(:func:`gistcausal.stats.multiarm_survival.multiarm_analysis`) runs, without their input checks:
:func:`gistcausal.stats.multiarm.multinomial_newton` and :func:`~gistcausal.stats.multiarm.multinomial_scores`
(``MultinomialPropensityModel.fit``'s Newton-Raphson and scores), :func:`~gistcausal.stats.multiarm.
multiarm_weight_values` (``multiarm_weights``' arithmetic), :func:`gistcausal.stats.km.km_at` (``kaplan_meier``'s
and ``rmst``'s) and :func:`gistcausal.stats.cox.cox_newton` (``cox_fit``'s, Efron ties), the last two through
the same helpers as the two-arm bootstrap. On the full data the replicate function returns the point estimates
(tests). The design matrix is built once from the full data (spline knots stay those of the full data) and its
rows resampled; a column constant in a resample (a level nobody drew) is dropped, which leaves the fitted scores
unchanged.

Reproducibility: replicate *b* draws from ``np.random.default_rng(SeedSequence(random_state).spawn(n_boot)[b])``,
so the replicates are the same on any engine (``analysis.engine``) and any number of workers; the chunks of
replicates run on :class:`gistcausal.engine.Executor`. With two arms the resamples equal the two-arm
bootstrap's for the same seed.

Failed replicates (separation or non-convergence of the multinomial model, a generalized score of 0, a pair
without events in an arm, a Cox model that does not converge, and with ``beyond_followup="fail"`` a landmark
beyond an arm's follow-up) are counted by reason (:data:`gistcausal.inference.bootstrap.FAILURE_REASONS`);
intervals use the successful ones, with a warning when more than
:data:`~gistcausal.inference.bootstrap.FAILURE_WARN_SHARE` failed. Intervals: percentile or BCa with the
jackknife acceleration over leave-one-out refits of the whole K-arm analysis
(:func:`gistcausal.inference.bootstrap.bca_interval`); ratios on the log scale.

References
----------
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
Austin PC (2016). Variance estimation when using inverse probability of treatment weighting (IPTW) with
survival analysis. Stat Med 35:5642-5655.
Li F, Li F (2019). Propensity score weighting for causal inference with multiple treatments. Ann Appl Stat
13:2389-2415.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd

from gistcausal._checks import check_random_state
from gistcausal.engine import open_executor
from gistcausal.errors import ConfigError, DataError, ModelFitError, SmallSampleWarning
from gistcausal.inference.bootstrap import (FAILURE_REASONS, FAILURE_WARN_SHARE, BootstrapResult, _arm_stats,
                                            _cox_logh, _Failure, check_beyond, check_ci, interval_estimates,
                                            resample_design)
from gistcausal.stats.multiarm import (MultinomialPropensityModel, arm_codes, check_multiarm_estimand,
                                       multiarm_weight_values, multinomial_newton, multinomial_scores)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class MultiArmProblem:
    """The K-arm analysis as arrays (patient level: lives in the estimator and the workers, never in a result).

    Attributes
    ----------
    X : ndarray, shape (n, p)
        Multinomial propensity design matrix with the intercept column first (full data).
    codes : ndarray of int
        Arm of each patient, 0..K-1 in the order of ``arms`` (arm 0 is the reference of the logit).
    t, e : ndarray
        Follow-up time and 1/0 event.
    arms : tuple of str
    estimand : {"ATE", "ATT", "ATO"}
    focal : int or None
        Index of the ATT's focal arm.
    stabilize : bool
    landmarks : tuple of float
    horizon : float or None
    beyond_followup : {"extend", "fail"}
    """

    X: np.ndarray
    codes: np.ndarray
    t: np.ndarray
    e: np.ndarray
    arms: tuple[str, ...]
    estimand: str
    focal: int | None
    stabilize: bool
    landmarks: tuple[float, ...]
    horizon: float | None
    beyond_followup: str = "extend"

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Pairs (i, j), i before j in ``arms``: the contrast "arms[j] vs arms[i]"."""
        return list(combinations(range(len(self.arms)), 2))

    def contrast(self, pair: tuple[int, int]) -> str:
        return f"{self.arms[pair[1]]} vs {self.arms[pair[0]]}"

    @property
    def keys(self) -> list[tuple[str, Any, float]]:
        """Statistic layout ``(measure, arm index or pair, time)``: per landmark the survival of every arm, then
        every pair's survival difference and log ratio; at the horizon every arm's RMST, then every pair's RMST
        difference; last every pair's log hazard ratio."""
        keys: list[tuple[str, Any, float]] = []
        k = len(self.arms)
        for x in self.landmarks:
            keys += [("surv", a, x) for a in range(k)]
            for pr in self.pairs:
                keys += [("surv_diff", pr, x), ("surv_ratio", pr, x)]
        if self.horizon is not None:
            keys += [("rmst", a, self.horizon) for a in range(k)]
            keys += [("rmst_diff", pr, self.horizon) for pr in self.pairs]
        keys += [("hr", pr, math.nan) for pr in self.pairs]
        return keys

    def column_names(self) -> list[str]:
        """Names of the replicate table's columns (``surv_<arm>_t6``, ``surv_diff_<B vs A>_t6``, ``log_hr_<B vs A>``)."""
        out = []
        for measure, who, x in self.keys:
            label = self.arms[who] if isinstance(who, int) else self.contrast(who)
            name = {"hr": "log_hr", "surv_ratio": "log_surv_ratio"}.get(measure, measure)
            out.append(f"{name}_{label}" + ("" if measure == "hr" else f"_t{x:g}"))
        return out


def multiarm_replicate(p: MultiArmProblem, idx: np.ndarray) -> tuple[np.ndarray, bool]:
    """The statistic vector (layout :attr:`MultiArmProblem.keys`; ratios on the log scale) of the K-arm analysis
    applied to rows ``idx`` (a resample; ``np.arange(n)`` gives the point estimates), and whether a landmark or
    the horizon lay beyond an arm's last follow-up in it (curve carried forward).

    Raises ``_Failure`` (reason among :data:`~gistcausal.inference.bootstrap.FAILURE_REASONS`) when the
    replicate cannot be computed.
    """
    k = len(p.arms)
    X, c, t, ev = p.X[idx], p.codes[idx], p.t[idx], p.e[idx]
    if np.bincount(c, minlength=k).min() == 0:
        raise _Failure("empty_arm")
    X, binary = resample_design(X)
    # a 0/1 column with no 1s (or only 1s) in some arm has no maximum likelihood estimate (quasi-complete
    # separation: that arm's coefficient diverges); cheap exact check before Newton's 100 iterations
    if binary.any():
        ones = np.stack([X[c == a][:, binary].sum(axis=0) for a in range(k)])
        sizes = np.bincount(c, minlength=k)[:, None]
        if np.any((ones == 0) | (ones == sizes)):
            raise _Failure("separation")
    fit = multinomial_newton(X, c, k)
    ps = multinomial_scores(X, fit.coef)
    if not fit.converged:
        # as MultinomialPropensityModel.fit: own-arm scores reaching 1 without convergence is separation
        own = ps[np.arange(c.size), c]
        raise _Failure("separation" if np.any(own > 1 - 1e-8) else "propensity_fit")
    if np.any(ps <= 0):
        raise _Failure("positivity")
    w = multiarm_weight_values(ps, c, estimand=p.estimand, focal=p.focal, stabilize=p.stabilize)
    per_arm = [_arm_stats(t[c == a], ev[c == a], w[c == a], p.landmarks, p.horizon, p.beyond_followup)
               for a in range(k)]
    out: list[float] = []
    for j, _ in enumerate(p.landmarks):
        out += [per_arm[a][0][j] for a in range(k)]
        for i0, i1 in p.pairs:
            s0, s1 = per_arm[i0][0][j], per_arm[i1][0][j]
            out += [s1 - s0, math.log(s1 / s0) if s0 > 0 and s1 > 0 else math.nan]
    if p.horizon is not None:
        out += [per_arm[a][1] for a in range(k)]
        out += [per_arm[i1][1] - per_arm[i0][1] for i0, i1 in p.pairs]
    for i0, i1 in p.pairs:
        m = (c == i0) | (c == i1)
        if not (np.any(ev[c == i0] > 0) and np.any(ev[c == i1] > 0)):
            raise _Failure("no_events")
        # the pair's weighted Cox model, arm indicator 1 for the later arm: as compare_survival_multiarm
        out.append(_cox_logh(t[m], ev[m], (c[m] == i1).astype(float), w[m]))
    return np.asarray(out, dtype=float), any(a[2] for a in per_arm)


def draw_within_arms(codes: np.ndarray, seed: np.random.SeedSequence) -> np.ndarray:
    """Row indices of one stratified resample: each arm's patients drawn with replacement, arm by arm in code
    order (for two arms the same draw as the two-arm bootstrap)."""
    rng = np.random.default_rng(seed)
    parts = []
    for a in range(int(codes.max()) + 1):
        ia = np.flatnonzero(codes == a)
        parts.append(ia[rng.integers(0, ia.size, ia.size)])
    return np.concatenate(parts)


def _chunk(p: MultiArmProblem, item: tuple[list[np.random.SeedSequence], int]
           ) -> list[tuple[int, np.ndarray | None, bool, str]]:
    seeds, start = item
    out = []
    for b, seed in enumerate(seeds):
        try:
            out.append((start + b, *multiarm_replicate(p, draw_within_arms(p.codes, seed)), ""))
        except _Failure as f:
            out.append((start + b, None, False, f.reason))
    return out


def multiarm_problem(df: pd.DataFrame, *, treatment_col: str, time_col: str, event_col: str,
                     covariates: Sequence[str], arms: Sequence[Any] | None = None,
                     estimand: Literal["ATE", "ATT", "ATO"] = "ATE", focal: Any = None, stabilize: bool = False,
                     splines: Any = (), interactions: Sequence[tuple[str, str]] = (), landmarks: Sequence[float] = (),
                     horizon: float | None = None, beyond_followup: Literal["extend", "fail"] = "extend"
                     ) -> MultiArmProblem:
    """The :class:`MultiArmProblem` of a DataFrame, with the design matrix of
    :class:`~gistcausal.stats.multiarm.MultinomialPropensityModel` (fitted once on the full data, which also
    checks the inputs as the point estimate does)."""
    where = "bootstrap_multiarm"
    check_multiarm_estimand(estimand, where=where, stabilize=stabilize)
    absent = [col for col in (treatment_col, time_col, event_col) if col not in df.columns]
    if absent:
        raise DataError(f"{where}: columns {absent} are not in the data (got columns {list(df.columns)[:10]}). "
                        "Pass treatment_col, time_col and event_col naming the data's columns.")
    with warnings.catch_warnings():
        # the point estimate (multiarm_analysis) already issued the model's warnings for these data
        warnings.simplefilter("ignore")
        model = MultinomialPropensityModel(covariates=covariates, splines=splines, interactions=interactions,
                                           arms=arms).fit(df, treatment_col=treatment_col)
    codes, order = arm_codes(df[treatment_col], model.arms_, where, name=treatment_col)
    names = tuple(str(a) for a in order)
    focal_k = None
    if estimand == "ATT":
        if focal is None or str(focal) not in names:
            raise ConfigError(f"{where}: estimand 'ATT' needs focal= one of the arms {list(names)} (got {focal!r}). "
                              "Pass the focal arm.")
        focal_k = names.index(str(focal))
    return MultiArmProblem(X=model.design_.matrix(df, where=where), codes=codes,
                           t=df[time_col].to_numpy(float), e=df[event_col].to_numpy(float), arms=names,
                           estimand=estimand, focal=focal_k, stabilize=bool(stabilize),
                           landmarks=tuple(float(x) for x in landmarks),
                           horizon=None if horizon is None else float(horizon),
                           beyond_followup=check_beyond(beyond_followup, where))


def run_multiarm_bootstrap(p: MultiArmProblem, *, outcome: str, n_boot: int = 2000,
                           ci: Literal["percentile", "bca"] = "percentile", alpha: float = 0.05,
                           random_state: int | None = None, engine: Any = None, progress: ProgressFn | None = None
                           ) -> BootstrapResult:
    """The bootstrap of problem ``p`` on ``engine``: replicates, failure counts and intervals (module docstring).

    Parameters
    ----------
    p : MultiArmProblem
    outcome : str
        Name carried by the estimates.
    n_boot : int, default=2000
    ci : {"percentile", "bca"}, default="percentile"
    alpha : float, default=0.05
    random_state : int, optional
        Seed of the ``SeedSequence`` the replicate seeds are spawned from.
    engine : gistcausal.engine.Engine or Executor, optional
        Where the chunks of replicates run (default: in this process); the result does not depend on it.
    progress : callable, optional
        ``progress(done, total)`` in replicates.

    Returns
    -------
    BootstrapResult
        ``estimates``: per arm ``surv`` (landmarks) and ``rmst``, per pair ``surv_diff``, ``surv_ratio``,
        ``rmst_diff`` and ``hr`` with ``variance="bootstrap_percentile"`` or ``"bootstrap_bca"``, ``method="iptw"``.

    Raises
    ------
    ModelFitError
        The analysis cannot be computed on the full data, or fewer than 10 replicates succeeded.
    """
    where = "bootstrap_multiarm"
    n_boot = check_ci(ci, n_boot, alpha, where)
    random_state = check_random_state(random_state, where)
    n = p.codes.size
    try:
        theta, _ = multiarm_replicate(p, np.arange(n))
    except _Failure as f:
        raise ModelFitError(f"{where}: the K-arm analysis cannot be computed on the full data (got reason "
                            f"'{f.reason}'). Fix the analysis before bootstrapping it.") from None
    seeds = np.random.SeedSequence(random_state).spawn(n_boot)
    chunk = max(1, min(100, math.ceil(n_boot / 20)))
    items = [(seeds[s:s + chunk], s) for s in range(0, n_boot, chunk)]
    with open_executor(engine) as ex:
        parts = ex.map_replicates(_chunk, items, shared=p, progress=progress, size=lambda it: len(it[0]))
    results = sorted((r for part in parts for r in part), key=lambda r: r[0])
    ok = [(b, v) for b, v, _, _ in results if v is not None]
    n_extended = sum(1 for _, v, ext, _ in results if v is not None and ext)
    counts: dict[str, int] = {}
    for _, v, _, reason in results:
        if v is None:
            counts[reason] = counts.get(reason, 0) + 1
    failed = {r: counts[r] for r in FAILURE_REASONS if r in counts}
    n_fail = n_boot - len(ok)
    if len(ok) < 10:
        raise ModelFitError(f"{where}: too few successful replicates for an interval (got {len(ok)} of {n_boot}; "
                            f"failed: {failed}). Simplify the propensity model or check the events per arm.")
    caught: list[str] = []
    if n_fail > FAILURE_WARN_SHARE * n_boot:
        caught.append(f"{where}: {100 * n_fail / n_boot:.1f}% of bootstrap replicates failed for '{outcome}' (got "
                      f"{n_fail} of {n_boot}: {', '.join(f'{k} {v}' for k, v in failed.items())}). Intervals use "
                      f"the {len(ok)} successful replicates and may be too narrow; simplify the propensity model or "
                      "merge sparse levels.")
        warnings.warn(caught[-1], SmallSampleWarning, stacklevel=2)
    boot = np.vstack([v for _, v in ok])
    jack = None
    if ci == "bca":
        rows = []
        for i in range(n):
            try:
                rows.append(multiarm_replicate(p, np.delete(np.arange(n), i))[0])
            except _Failure:
                continue
        if len(rows) < n:
            caught.append(f"{where}: {n - len(rows)} leave-one-out refits failed for '{outcome}' (got {len(rows)} "
                          f"of {n}). The BCa acceleration uses the others.")
            warnings.warn(caught[-1], SmallSampleWarning, stacklevel=2)
        jack = np.vstack(rows)
    n_arm = np.bincount(p.codes, minlength=len(p.arms))
    specs = []
    for measure, who, x in p.keys:
        if isinstance(who, int):
            specs.append((measure, p.arms[who], int(n_arm[who]), False, x))
        else:
            specs.append((measure, p.contrast(who), int(n_arm[who[0]] + n_arm[who[1]]), True, x))
    estimates = interval_estimates(specs, theta, boot, jack, outcome=outcome, estimand=p.estimand, method="iptw",
                                   ci=ci, alpha=alpha, n_boot=n_boot, failed=failed)
    table = pd.DataFrame(boot, columns=p.column_names())
    table.insert(0, "replicate", [b for b, _ in ok])
    return BootstrapResult(outcome=outcome, estimand=p.estimand, ci=ci, alpha=alpha, n_boot=n_boot,
                           n_success=len(ok), n_failed=failed, n_extended=n_extended, random_state=random_state,
                           estimates=estimates, replicates=table, warnings=tuple(caught), path="per_replicate")


def bootstrap_multiarm(df: pd.DataFrame, *, treatment_col: str, time_col: str, event_col: str,
                       covariates: Sequence[str], outcome: str | None = None, arms: Sequence[Any] | None = None,
                       estimand: Literal["ATE", "ATT", "ATO"] = "ATE", focal: Any = None, stabilize: bool = False,
                       splines: Any = (), interactions: Sequence[tuple[str, str]] = (),
                       landmarks: Sequence[float] = (), horizon: float | None = None, n_boot: int = 2000,
                       ci: Literal["percentile", "bca"] = "percentile", alpha: float = 0.05,
                       random_state: int | None = None, engine: Any = None, progress: ProgressFn | None = None,
                       beyond_followup: Literal["extend", "fail"] = "extend") -> BootstrapResult:
    """Nonparametric bootstrap of :func:`gistcausal.stats.multiarm_survival.multiarm_analysis`.

    Parameters are those of ``multiarm_analysis`` (the analysis bootstrapped) and of
    :func:`run_multiarm_bootstrap` (``n_boot``, ``ci``, ``alpha``, ``random_state``, ``engine``, ``progress``);
    ``beyond_followup`` as :func:`gistcausal.inference.bootstrap.bootstrap_survival`.

    Returns
    -------
    BootstrapResult
        The bootstrap estimates of every per-arm survival and RMST and every pairwise survival difference and
        ratio, RMST difference and hazard ratio, the failure counts and the replicate table.

    Examples
    --------
    >>> res = bootstrap_multiarm(df, treatment_col="rx", time_col="time", event_col="status",
    ...                          covariates=["age", "sex", "nodes"], arms=["Obs", "Lev", "Lev+5FU"],
    ...                          landmarks=[365], horizon=1825, n_boot=1000, random_state=1)  # doctest: +SKIP
    >>> res.to_frame().query("measure == 'hr'")                                          # doctest: +SKIP
    """
    p = multiarm_problem(df, treatment_col=treatment_col, time_col=time_col, event_col=event_col,
                         covariates=covariates, arms=arms, estimand=estimand, focal=focal, stabilize=stabilize,
                         splines=splines, interactions=interactions, landmarks=landmarks, horizon=horizon,
                         beyond_followup=beyond_followup)
    return run_multiarm_bootstrap(p, outcome=outcome or event_col, n_boot=n_boot, ci=ci, alpha=alpha,
                                  random_state=random_state, engine=engine, progress=progress)


__all__ = ["MultiArmProblem", "multiarm_problem", "multiarm_replicate", "draw_within_arms",
           "run_multiarm_bootstrap", "bootstrap_multiarm"]
