r"""Bootstrap of the whole IPTW pipeline: propensity refit, weights, weighted survival, in every replicate.

Each replicate resamples patients with replacement *within each arm* (so both arms keep their size), refits
the propensity model on the resample, recomputes the weights (estimand, stabilization, trimming, truncation as
configured), and recomputes the weighted Kaplan-Meier at the landmarks, RMST at the horizon and the IPTW Cox
hazard ratio. The spread of the replicates therefore includes the variability of the estimated weights, which
the ``robust`` variance ignores (Austin 2016).

Reproducibility: replicate *b* draws its resample from its own generator,
``np.random.default_rng(SeedSequence(random_state).spawn(n_boot)[b])``, so the replicates and the intervals are
the same whatever ``n_jobs`` is and however joblib schedules the chunks.

Speed: with a ``logistic`` propensity model and IPTW weights (the default), all replicates are computed at
once from their (B x n) resampling counts by :mod:`gistcausal.inference.bootstrap_batched` (chunks of replicates,
memory bounded), which equals the one-at-a-time computation below to rounding for the same seeds;
``BootstrapResult.path`` says which ran. One replicate at a time: for ``logistic`` models the refit is :func:`gistcausal.stats.logistic.logistic_newton` (numpy
Newton-Raphson, equal to statsmodels to 1e-8). Every replicate calls the same kernels as the point estimates,
without their input checks: :func:`gistcausal.stats.weights.weight_values` (compute_weights' arithmetic),
:func:`gistcausal.stats.km.km_at` (kaplan_meier's and rmst's) and :func:`gistcausal.stats.cox.cox_newton`
(cox_fit's Newton-Raphson); there is no second copy of an estimator here. A replicate of the study (n = 110)
takes about a millisecond. ``firth`` uses the same Firth iteration as
:class:`~gistcausal.stats.propensity.PropensityModel`; other learners refit the configured
:class:`~gistcausal.stats.propensity.PropensityModel` itself (slow, but exact). The design matrix of a parametric
model is built once (PropensityModel.design_matrix) and its rows resampled; a design column that is constant in a resample (a level
nobody drew) is dropped, which gives the same fitted scores as refitting the formula (R ``glm`` reports the
coefficient as ``NA``); spline knots stay those of the full data.

Failed replicates (separation in the propensity model, an arm emptied by trimming, an arm without events for
the hazard ratio, non-convergence) are counted by reason, never silently dropped; intervals come from the successful replicates, with a warning when more than
:data:`FAILURE_WARN_SHARE` of them failed. A landmark or horizon beyond an arm's last follow-up *in a resample*
(the longest-followed patients were not drawn) is handled by carrying the curve forward from its last value, as
R ``summary(survfit, times, extend = TRUE)``, and counted in ``n_extended``; ``beyond_followup="fail"`` counts
such replicates as failures instead (conditioning the intervals on resamples that reach the landmark).

Intervals: percentile, or BCa (Efron 1987) with the bias correction
:math:`\hat z_0 = \Phi^{-1}\{(\#\{\theta^*_b < \hat\theta\} + \#\{\theta^*_b \le \hat\theta\})/(2B)\}` and the
jackknife acceleration :math:`\hat a = \sum_i (\bar\theta_{(\cdot)} - \hat\theta_{(i)})^3 / [6\{\sum_i
(\bar\theta_{(\cdot)} - \hat\theta_{(i)})^2\}^{3/2}]` over leave-one-out refits of the whole pipeline; the
limits are the :math:`\Phi(\hat z_0 + (\hat z_0 + z_{\alpha})/(1 - \hat a(\hat z_0 + z_\alpha)))` quantiles
(linear interpolation), exactly as ``scipy.stats.bootstrap(method="BCa")`` (checked in the tests). Ratios
(hazard ratio, survival ratio) are bootstrapped on the log scale.

References
----------
Efron B (1987). Better bootstrap confidence intervals. JASA 82:171-185.
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall (ch. 14, eq. 14.15).
Austin PC (2016). Variance estimation when using inverse probability of treatment weighting (IPTW) with
survival analysis. Stat Med 35:5642-5655.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from gistcausal._checks import check_estimand, check_random_state
from gistcausal.effects import EffectEstimate
from gistcausal.engine import engine_from_jobs, joblib_parallel, one_blas_thread, open_executor, worker_task
from gistcausal.errors import (ConfigError, DataError, GistCausalError, ModelFitError, PositivityError,
                               SeparationError, SmallSampleWarning)
from gistcausal.inference.bootstrap_batched import (batch_unsupported, batched_statistics, chunk_size,
                                                    plan_batches, run_batched_chunk)
from gistcausal.stats.logistic import logistic_newton
from gistcausal.stats.cox import cox_newton, cox_prepare
from gistcausal.stats.km import km_at
from gistcausal.stats.propensity import PropensityModel, firth_newton
from gistcausal.stats.weights import weight_values
from gistcausal.stats.ebal import ebal_weights
from gistcausal.errors import BalanceInfeasibleError

ProgressFn = Callable[[int, int], None]
CI = Literal["percentile", "bca"]
Path = Literal["auto", "batched", "per_replicate"]
#: ``map_chunks(fn, args)``: apply ``fn(*a)`` to every tuple ``a`` of ``args`` (anywhere: local processes, a
#: cluster) and yield the results as they finish, in any order. The hook an execution engine plugs into.
MapChunks = Callable[[Callable[..., Any], list[tuple]], Iterable[Any]]

#: Share of failed replicates above which a :class:`~gistcausal.errors.SmallSampleWarning` is raised.
FAILURE_WARN_SHARE = 0.05

#: Reasons a replicate can fail, in the order they are checked.
FAILURE_REASONS = ("separation", "propensity_fit", "positivity", "empty_arm", "balance_infeasible", "beyond_followup",
                   "no_events", "cox_not_converged")

_WHERE = "bootstrap_estimates"


class _Failure(Exception):
    """A replicate that cannot be computed; ``reason`` is one of :data:`FAILURE_REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ----------------------------------------------------------------------------------------------------
# the problem (patient level; lives in the estimator and the workers, never in a result)
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    X: np.ndarray | None          # propensity design (parametric models)
    a: np.ndarray
    t: np.ndarray
    e: np.ndarray
    estimand: str
    stabilize: bool
    trim: Any
    truncate: Any
    landmarks: tuple[float, ...]
    horizon: float | None
    ps_method: str                # "logistic", "firth" or "model"
    beyond_followup: str = "extend"
    model: Any = None             # unfitted PropensityModel for ps_method="model"
    frame: Any = None             # covariate columns for ps_method="model"
    weight_method: str = "iptw"   # "iptw", or "ebal": entropy balancing refitted on balance_X per replicate
    balance_X: Any = None         # numeric balance design for weight_method="ebal"

    @property
    def keys(self) -> list[tuple]:
        keys: list[tuple] = []
        for x in self.landmarks:
            keys += [("surv", 0, x), ("surv", 1, x), ("surv_diff", None, x), ("surv_ratio", None, x)]
        if self.horizon is not None:
            h = self.horizon
            keys += [("rmst", 0, h), ("rmst", 1, h), ("rmst_diff", None, h)]
        keys.append(("hr", None, math.nan))
        return keys


def resample_design(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A resample's propensity design without its aliased columns, and the mask of its 0/1 columns.

    A column nobody in the resample varies on (a level nobody drew) is dropped, as R ``glm`` reports it NA (the
    fitted scores do not change); the 0/1 mask (intercept excluded) is what the exact separation checks of the
    two-arm and K-arm bootstraps look at before Newton's iterations.
    """
    keep = np.ones(X.shape[1], dtype=bool)
    keep[1:] = X[:, 1:].max(axis=0) > X[:, 1:].min(axis=0)
    X = X[:, keep]
    binary = np.all((X == 0) | (X == 1), axis=0)
    binary[0] = False
    return X, binary


def _fit_ps(p: Problem, idx: np.ndarray) -> np.ndarray:
    ab = p.a[idx]
    if p.ps_method == "model":
        model = _clone_model(p.model)
        sub = p.frame.iloc[idx].reset_index(drop=True)
        try:
            with warnings.catch_warnings():
                # per-replicate small-sample and convergence warnings would repeat B times; failures count
                warnings.simplefilter("ignore")
                return model.fit_predict(sub, treatment_col="treatment")
        except SeparationError as err:
            raise _Failure("separation") from err
        except GistCausalError as err:
            raise _Failure("propensity_fit") from err
    X, binary = resample_design(p.X[idx])
    # a 0/1 column whose 1s are all in one arm separates the arms (quasi-complete); cheap exact check
    if binary.any():
        ones = X[:, binary].sum(axis=0)
        treated = ab @ X[:, binary]
        if np.any((treated == 0) | (treated == ones)):
            if p.ps_method == "logistic":
                raise _Failure("separation")
    if p.ps_method == "firth":
        beta, _, _, _, converged = firth_newton(X, ab)
        if not converged:
            raise _Failure("propensity_fit")
    else:
        try:
            beta = logistic_newton(X, ab, where=_WHERE)[0]
        except SeparationError as err:
            raise _Failure("separation") from err
        except ModelFitError as err:
            raise _Failure("propensity_fit") from err
    return special.expit(X @ beta)


def _clone_model(model: Any) -> Any:
    return PropensityModel(method=model.method, covariates=model.covariates,
                           splines=model.splines, interactions=model.interactions, firth=model.firth,
                           estimator=model.estimator, n_folds=model.n_folds, calibrate=model.calibrate,
                           random_state=model.random_state)


def _weights(p: Problem, e: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The replicate's weights by compute_weights' own arithmetic (:func:`weight_values`), failures counted."""
    try:
        return weight_values(e, a, estimand=p.estimand, stabilize=p.stabilize, trim=p.trim,
                             truncate=p.truncate).weights
    except PositivityError as err:
        raise _Failure("positivity") from err
    except DataError as err:       # an arm emptied by trimming (or nobody drawn in it)
        raise _Failure("empty_arm") from err


def _ebal_weights(p: Problem, idx: np.ndarray) -> np.ndarray:
    """The replicate's entropy-balancing weights by entropy_balance's own arithmetic (:func:`ebal_weights`)."""
    try:
        return ebal_weights(p.balance_X[idx], p.a[idx].astype(int), estimand=p.estimand)[0]
    except BalanceInfeasibleError as err:   # a resample whose arm cannot reach the target means
        raise _Failure("balance_infeasible") from err


def _arm_stats(t: np.ndarray, ev: np.ndarray, w: np.ndarray, landmarks: tuple[float, ...],
               horizon: float | None, beyond: str) -> tuple[np.ndarray, float, bool]:
    """S at the landmarks and the RMST of one arm by the Kaplan-Meier kernel (:func:`km_at`)."""
    k = km_at(t, ev, w, landmarks, horizon)
    extended = bool((landmarks and max(landmarks) > k.last) or (horizon is not None and horizon > k.last))
    if extended and beyond == "fail":
        raise _Failure("beyond_followup")
    return k.surv, k.rmst, extended


def _cox_logh(t: np.ndarray, ev: np.ndarray, a: np.ndarray, w: np.ndarray) -> float:
    """The IPTW Cox log hazard ratio by cox_fit's own Newton-Raphson (:func:`cox_newton`, Efron ties)."""
    try:
        fit = cox_newton(cox_prepare(t, ev, w, a[:, None], "efron"), where=_WHERE)
    except ModelFitError as err:
        raise _Failure("cox_not_converged") from err
    if not fit.converged:
        raise _Failure("cox_not_converged")
    return float(fit.beta[0])


def _statistics(p: Problem, idx: np.ndarray) -> tuple[np.ndarray, bool]:
    """The statistic vector (layout ``p.keys``) of the pipeline applied to rows ``idx``, and whether a
    landmark or the horizon lay beyond an arm's last follow-up (curve carried forward)."""
    a, t, ev = p.a[idx], p.t[idx], p.e[idx]
    w = _ebal_weights(p, idx) if p.weight_method == "ebal" else _weights(p, _fit_ps(p, idx), a)
    kept = w > 0
    out: list[float] = []
    arms = []
    for k in (0, 1):
        m = kept & (a == k)
        arms.append(_arm_stats(t[m], ev[m], w[m], p.landmarks, p.horizon, p.beyond_followup))
    for j, _ in enumerate(p.landmarks):
        s0, s1 = arms[0][0][j], arms[1][0][j]
        out += [s0, s1, s1 - s0, math.log(s1 / s0) if s0 > 0 and s1 > 0 else math.nan]
    if p.horizon is not None:
        r0, r1 = arms[0][1], arms[1][1]
        out += [r0, r1, r1 - r0]
    if not (np.any(ev[kept & (a == 1)] > 0) and np.any(ev[kept & (a == 0)] > 0)):
        raise _Failure("no_events")
    out.append(_cox_logh(t[kept], ev[kept], a[kept], w[kept]))
    return np.asarray(out, dtype=float), arms[0][2] or arms[1][2]


def _draw(p: Problem, seed: np.random.SeedSequence) -> np.ndarray:
    rng = np.random.default_rng(seed)
    i1 = np.flatnonzero(p.a == 1)
    i0 = np.flatnonzero(p.a == 0)
    return np.r_[i0[rng.integers(0, i0.size, i0.size)], i1[rng.integers(0, i1.size, i1.size)]]


def _run_item(shared: tuple[Problem, tuple], item: tuple[list[np.random.SeedSequence], int]
              ) -> list[tuple[int, np.ndarray | None, str, bool]]:
    p, _ = shared
    return _run_chunk(p, *item)


def _batched_item(shared: tuple[Problem, tuple], item: tuple[list[np.random.SeedSequence], int]
                  ) -> list[tuple[int, np.ndarray | None, bool, str]]:
    p, extra = shared
    return _batched_chunk(p, *item, *extra)


def _run_chunk(p: Problem, seeds: list[np.random.SeedSequence], start: int
               ) -> list[tuple[int, np.ndarray | None, str, bool]]:
    out = []
    for b, seed in enumerate(seeds):
        try:
            out.append((start + b, *_statistics(p, _draw(p, seed)), ""))
        except _Failure as f:
            out.append((start + b, None, False, f.reason))
    return out


# ----------------------------------------------------------------------------------------------------
# intervals
# ----------------------------------------------------------------------------------------------------
def bca_interval(theta_hat: float, boot: np.ndarray, jack: np.ndarray, *, alpha: float = 0.05
                 ) -> tuple[float, float, float, float]:
    r"""BCa limits from bootstrap replicates and jackknife (leave-one-out) values.

    Parameters
    ----------
    theta_hat : float
        Estimate on the full data.
    boot : ndarray
        Bootstrap replicates :math:`\theta^*_b`.
    jack : ndarray
        Leave-one-out estimates :math:`\hat\theta_{(i)}`.
    alpha : float, default=0.05

    Returns
    -------
    low, high, z0, acceleration : float

    Notes
    -----
    As ``scipy.stats.bootstrap(method="BCa")`` (module docstring): ``z0`` from the "mean" percentile of
    :math:`\hat\theta` among the replicates, acceleration from the jackknife, limits by ``np.percentile``
    (linear). Equal to scipy to 1e-12 on the same resamples (tests).
    """
    boot = np.asarray(boot, dtype=float)
    jack = np.asarray(jack, dtype=float)
    frac = (np.sum(boot < theta_hat) + np.sum(boot <= theta_hat)) / (2 * boot.size)
    z0 = float(special.ndtri(frac))
    u = jack.mean() - jack
    den = float(np.sum(u ** 2))
    acc = float(np.sum(u ** 3) / (6 * den ** 1.5)) if den > 0 else 0.0
    za = special.ndtri(alpha / 2)
    lims = []
    for zz in (za, -za):
        num = z0 + zz
        lims.append(float(special.ndtr(z0 + num / (1 - acc * num))))
    if not all(math.isfinite(q) for q in lims):
        return math.nan, math.nan, z0, acc
    lo, hi = np.percentile(boot, [100 * lims[0], 100 * lims[1]])
    return float(lo), float(hi), z0, acc


# ----------------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """Bootstrap intervals of one outcome under one estimand, and the replicate table.

    Attributes
    ----------
    outcome, estimand : str
    ci : {"percentile", "bca"}
    alpha : float
    n_boot : int
        Replicates requested.
    n_success : int
        Replicates that produced every statistic.
    n_failed : dict
        Failed replicates by reason (:data:`FAILURE_REASONS`; only reasons that occurred).
    n_extended : int
        Successful replicates in which a landmark or the horizon lay beyond an arm's last follow-up, so the
        curve was carried forward from its last value (R ``summary(survfit, times, extend = TRUE)``); with
        ``beyond_followup="fail"`` these count as failures instead.
    random_state : int or None
    estimates : tuple of EffectEstimate
        ``variance="bootstrap_percentile"`` or ``"bootstrap_bca"``; ``se`` is the standard deviation of the
        replicates (log scale for ``hr``, ``surv_ratio``), ``p`` the Wald p-value with that SE.
    replicates : DataFrame
        One row per successful replicate (column ``replicate`` is its index among the ``n_boot``), one column
        per statistic (``surv_control_t12``, ``log_hr``...): estimates, not patients.
    warnings : tuple of str
    path : {"batched", "per_replicate"}
        How the replicates were computed: all at once from their resampling counts
        (:mod:`gistcausal.inference.bootstrap_batched`), or one resample at a time; the two give the same
        replicates to rounding (1e-10).
    """

    outcome: str
    estimand: str
    ci: str
    alpha: float
    n_boot: int
    n_success: int
    n_failed: dict
    n_extended: int
    random_state: int | None
    estimates: tuple[EffectEstimate, ...]
    replicates: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()
    path: str = "per_replicate"

    @property
    def variance(self) -> str:
        return f"bootstrap_{self.ci}"

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate (a copy)."""
        return pd.DataFrame([e.to_dict() for e in self.estimates])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (estimates and failure counts; not the replicate table)."""
        return {"outcome": self.outcome, "estimand": self.estimand, "ci": self.ci, "alpha": self.alpha,
                "n_boot": self.n_boot, "n_success": self.n_success, "n_failed": dict(self.n_failed), "n_extended": self.n_extended,
                "random_state": self.random_state, "estimates": [e.to_dict() for e in self.estimates],
                "warnings": list(self.warnings), "path": self.path}

    def summary(self) -> str:
        failed = ", ".join(f"{k} {v}" for k, v in self.n_failed.items()) or "none"
        lines = [f"Bootstrap ({self.ci}, {self.n_success} of {self.n_boot} replicates; failed: {failed}; "
                 f"seed {self.random_state}) for {self.outcome}, estimand {self.estimand}"]
        lines += ["  " + e.summary() for e in self.estimates]
        lines += ["  warning: " + w for w in self.warnings]
        return "\n".join(lines)


def _column_name(key: tuple, arm_labels: tuple[str, str]) -> str:
    measure, arm, x = key
    if measure == "hr":
        return "log_hr"
    tag = f"_t{x:g}"
    if arm is not None:
        return f"{measure}_{arm_labels[arm]}{tag}"
    return ("log_surv_ratio" if measure == "surv_ratio" else measure) + tag


# ----------------------------------------------------------------------------------------------------
# public entry points
# ----------------------------------------------------------------------------------------------------
def check_ci(ci: str, n_boot: Any, alpha: float, where: str) -> int:
    if ci not in ("percentile", "bca"):
        raise ConfigError(f"{where}: `ci` must be 'percentile' or 'bca' (got {ci!r}). Use 'percentile' or "
                          f"'bca'.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ConfigError(f"{where}: `n_boot` must be an integer >= 10 (got {n_boot!r}). Use e.g. "
                          f"n_boot=2000 for reported intervals.")
    if not (0 < alpha < 1):
        raise ConfigError(f"{where}: `alpha` must be in (0, 1) (got {alpha!r}). Use alpha=0.05.")
    return int(n_boot)


def check_beyond(value: str, where: str) -> str:
    if value not in ("extend", "fail"):
        raise ConfigError(f"{where}: `beyond_followup` must be 'extend' or 'fail' (got {value!r}). Use "
                          f"'extend'.")
    return value


def local_map_chunks(n_jobs: int | None) -> MapChunks:
    """The default :data:`MapChunks`: joblib processes (``n_jobs`` as joblib), or this process when
    ``n_jobs == 1`` or there is a single chunk (no worker start-up for nothing)."""

    def run(fn: Callable[..., Any], args: list[tuple]) -> Iterable[Any]:
        if n_jobs == 1 or len(args) == 1:
            return (fn(*a) for a in args)
        from joblib import delayed

        return joblib_parallel(n_jobs, return_as="generator_unordered")(delayed(worker_task)(fn, *a) for a in args)

    return run


def _single_thread_chunk(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a batched chunk with one BLAS thread (:func:`gistcausal.engine.one_blas_thread`): chunks are the unit
    of parallelism, and on a shared machine a multi-threaded BLAS on small matrices is many times slower than
    one thread."""
    with one_blas_thread():
        return fn(*args)


def _batched_chunk(p: Problem, seeds: list[np.random.SeedSequence], start: int, plan: Any = None
                   ) -> list[tuple[int, np.ndarray | None, bool, str]]:
    return _single_thread_chunk(run_batched_chunk, p, seeds, start, plan)


def choose_path(p: Problem, path: str, where: str) -> str:
    """``"batched"`` or ``"per_replicate"`` for problem ``p`` (``path="auto"``: batched whenever it can)."""
    why = batch_unsupported(p)
    if path == "auto":
        return "per_replicate" if why else "batched"
    if path not in ("batched", "per_replicate"):
        raise ConfigError(f"{where}: `path` must be 'auto', 'batched' or 'per_replicate' (got {path!r}). Use "
                          f"'auto'.")
    if path == "batched" and why:
        raise ConfigError(f"{where}: the batched bootstrap cannot compute this analysis (got {why}). Use "
                          f"path='auto' or 'per_replicate'.")
    return path


def run_bootstrap(p: Problem, *, outcome: str, n_boot: int, ci: str, alpha: float, n_jobs: int | None,
               random_state: int | None, progress: ProgressFn | None, arm_labels: tuple[str, str],
               where: str, path: Path = "auto", map_chunks: MapChunks | None = None,
               engine: Any = None) -> BootstrapResult:
    """The bootstrap of problem ``p``: replicates, failure counts and intervals (module docstring).

    ``path="auto"`` computes the replicates batched (:mod:`gistcausal.inference.bootstrap_batched`) when the
    problem allows it (logistic propensity model, IPTW weights) and one at a time otherwise; both draw the
    same resamples from the same seeds and agree to rounding. The chunks of replicates run on ``engine``
    (``analysis.engine``, see :mod:`gistcausal.engine`; default: ``n_jobs`` local processes), or through
    ``map_chunks`` when given (a callable ``(fn, args) -> results``). The result depends on none of them.
    """
    keys = p.keys
    n = p.a.size
    path = choose_path(p, path, where)
    try:
        theta, _ = _statistics(p, np.arange(n))
    except _Failure as f:
        raise ModelFitError(f"{where}: the analysis cannot be computed on the full data (got reason "
                            f"'{f.reason}'). Fix the analysis before bootstrapping it.") from None
    seeds = np.random.SeedSequence(random_state).spawn(n_boot)
    if path == "batched":
        chunk, fn = chunk_size(n, n_boot), _batched_chunk
        # full-data fits (the replicates' warm starts) and the grouping by time, once for every chunk
        plan = _single_thread_chunk(plan_batches, p)
        extra: tuple = (plan,)
    else:
        chunk, fn = max(1, min(100, math.ceil(n_boot / 20))), _run_chunk
        plan, extra = None, ()
    starts = list(range(0, n_boot, chunk))
    report = progress or (lambda done, total: None)
    done = 0
    report(0, n_boot)
    results: list = []
    if map_chunks is not None:
        jobs = map_chunks(fn, [(p, seeds[s:s + chunk], s, *extra) for s in starts])
    else:
        # the chunks run on the engine (analysis.engine); without one, on n_jobs local processes. The problem
        # and the batched plan are shipped once per worker (shared), the seeds per chunk.
        item = _batched_item if path == "batched" else _run_item
        with open_executor(engine_from_jobs(n_jobs) if engine is None else engine) as ex:
            jobs = [part for _, part in ex.imap_unordered(item, [(seeds[s:s + chunk], s) for s in starts],
                                                          shared=(p, extra))]
    for part in jobs:
        results.extend(part)
        done += len(part)
        report(done, n_boot)
    results.sort(key=lambda r: r[0])
    ok = [(b, v) for b, v, _, _ in results if v is not None]
    n_extended = sum(1 for _, v, ext, _ in results if v is not None and ext)
    failed: dict[str, int] = {}
    for _, v, _, reason in results:
        if v is None:
            failed[reason] = failed.get(reason, 0) + 1
    failed = {k: failed[k] for k in FAILURE_REASONS if k in failed}
    caught: list[str] = []
    n_fail = n_boot - len(ok)
    if len(ok) < 10:
        raise ModelFitError(f"{where}: too few successful replicates for an interval (got {len(ok)} of "
                            f"{n_boot}; failed: {failed}). Simplify the propensity model or check the "
                            f"outcome's events per arm.")
    if n_fail > FAILURE_WARN_SHARE * n_boot:
        msg = (f"{where}: {100 * n_fail / n_boot:.1f}% of bootstrap replicates failed for '{outcome}' "
               f"(got {n_fail} of {n_boot}: {', '.join(f'{k} {v}' for k, v in failed.items())}). Intervals "
               f"use the {len(ok)} successful replicates and may be too narrow; simplify the propensity "
               f"model or merge sparse levels.")
        warnings.warn(msg, SmallSampleWarning, stacklevel=3)
        caught.append(msg)
    boot = np.vstack([v for _, v in ok])
    jack = None
    if ci == "bca":
        rows = _jackknife(p, path, plan)
        if len(rows) < n:
            msg = (f"{where}: {n - len(rows)} leave-one-out refits failed for '{outcome}' (got {len(rows)} "
                   f"of {n}). The BCa acceleration uses the others.")
            warnings.warn(msg, SmallSampleWarning, stacklevel=3)
            caught.append(msg)
        jack = np.vstack(rows)
    estimates = _boot_estimates(keys, theta, boot, jack, outcome=outcome, estimand=p.estimand, ci=ci,
                                alpha=alpha, arm_labels=arm_labels, n_arm=[int(np.sum(p.a == k)) for k in (0, 1)],
                                n_boot=n_boot, failed=failed,
                                method="entropy_balancing" if p.weight_method == "ebal" else "iptw")
    table = pd.DataFrame(boot, columns=[_column_name(k, arm_labels) for k in keys])
    table.insert(0, "replicate", [b for b, _ in ok])
    return BootstrapResult(outcome=outcome, estimand=p.estimand, ci=ci, alpha=alpha, n_boot=n_boot,
                           n_success=len(ok), n_failed=failed, n_extended=n_extended,
                           random_state=random_state,
                           estimates=estimates, replicates=table, warnings=tuple(caught), path=path)


def _jackknife(p: Problem, path: str, plan: Any = None) -> list[np.ndarray]:
    """Leave-one-out statistic vectors of the pipeline (failed refits left out), for the BCa acceleration;
    batched, the resample leaving out patient i is the count vector of ones with a 0 at i."""
    n = p.a.size
    if path == "per_replicate":
        rows = []
        for i in range(n):
            try:
                rows.append(_statistics(p, np.delete(np.arange(n), i))[0])
            except _Failure:
                continue
        return rows
    rows = []
    step = chunk_size(n, n)
    for s in range(0, n, step):
        counts = np.ones((min(step, n - s), n))
        counts[np.arange(counts.shape[0]), s + np.arange(counts.shape[0])] = 0.0
        values, _, reason = _single_thread_chunk(batched_statistics, p, counts, plan)
        rows += [values[b] for b in range(counts.shape[0]) if not reason[b]]
    return rows


def _boot_estimates(keys: list, theta: np.ndarray, boot: np.ndarray, jack: np.ndarray | None, *,
                    outcome: str, estimand: str, ci: str, alpha: float, arm_labels: tuple[str, str],
                    n_arm: list[int], n_boot: int, failed: dict, method: str = "iptw"
                    ) -> tuple[EffectEstimate, ...]:
    contrast = f"{arm_labels[1]} vs {arm_labels[0]}"
    rows = [(measure, contrast if arm is None else arm_labels[arm], sum(n_arm) if arm is None else n_arm[arm],
             arm is None, x) for measure, arm, x in keys]
    return interval_estimates(rows, theta, boot, jack, outcome=outcome, estimand=estimand, method=method, ci=ci,
                              alpha=alpha, n_boot=n_boot, failed=failed)


def interval_estimates(rows: Sequence[tuple[str, str, int, bool, float]], theta: np.ndarray, boot: np.ndarray,
                       jack: np.ndarray | None, *, outcome: str, estimand: str, method: str, ci: str, alpha: float,
                       n_boot: int, failed: dict) -> tuple[EffectEstimate, ...]:
    """Bootstrap estimates of the statistics ``theta`` (one per row of ``rows``) from the replicates ``boot``
    (replicates x statistics) and, for BCa, the leave-one-out values ``jack``.

    ``rows`` holds per statistic ``(measure, contrast, n, is_contrast, time)``; ``hr`` and ``surv_ratio`` are on
    the log scale in ``theta``/``boot`` and reported exponentiated. ``se`` is the SD of the replicates, ``p`` the
    Wald p-value with that SE (contrasts only); ``variance`` is ``"bootstrap_<ci>"``. Used by the two-arm and
    the K-arm bootstrap (:mod:`gistcausal.inference.multiarm_bootstrap`).
    """
    common = {"outcome": outcome, "estimand": estimand, "method": method, "variance": f"bootstrap_{ci}"}
    extra = {"n_boot": n_boot, "n_success": int(boot.shape[0]), "n_failed": int(sum(failed.values()))}
    out = []
    for j, (measure, label, n, is_contrast, x) in enumerate(rows):
        v = float(theta[j])
        col = boot[:, j]
        log_scale = measure in ("hr", "surv_ratio")
        if not math.isfinite(v) or not np.all(np.isfinite(col)):
            if not math.isfinite(v):
                note = "not estimable: survival is 0 in an arm"
            else:
                note = (f"interval not estimable: survival is 0 in an arm in "
                        f"{int(np.sum(~np.isfinite(col)))} replicates")
            out.append(EffectEstimate(**common, contrast=label, measure=measure,
                                      value=math.exp(v) if log_scale and math.isfinite(v) else v, n=n,
                                      time=x, note=note, extra=dict(extra)))
            continue
        se = float(np.std(col, ddof=1))
        if ci == "bca":
            lo, hi, z0, acc = bca_interval(v, col, jack[:, j], alpha=alpha)
            ext = {**extra, "z0": z0, "acceleration": acc}
        else:
            lo, hi = (float(q) for q in np.percentile(col, [100 * alpha / 2, 100 * (1 - alpha / 2)]))
            ext = dict(extra)
        p = float(2 * stats.norm.sf(abs(v) / se)) if se > 0 and is_contrast else math.nan
        if log_scale:
            out.append(EffectEstimate(**common, contrast=label, measure=measure, value=math.exp(v),
                                      ci_low=math.exp(lo), ci_high=math.exp(hi), se=se, p=p, n=n,
                                      time=x, scale="log", extra=ext))
        else:
            out.append(EffectEstimate(**common, contrast=label, measure=measure, value=v, ci_low=lo, ci_high=hi,
                                      se=se, p=p, n=n, time=x, extra=ext))
    return tuple(out)


def bootstrap_survival(time: Any, event: Any, treatment: Any, X: Any, *, outcome: str, estimand: str,
                       stabilize: bool = False, trim: Any = None, truncate: Any = None,
                       ps_method: Literal["logistic", "firth"] = "logistic",
                       landmarks: Sequence[float] = (), horizon: float | None = None, n_boot: int = 2000,
                       ci: CI = "percentile", alpha: float = 0.05, n_jobs: int | None = -1,
                       random_state: int | None = None, progress: ProgressFn | None = None,
                       arm_labels: tuple[str, str], beyond_followup: Literal["extend", "fail"] = "extend",
                       path: Path = "auto", map_chunks: MapChunks | None = None,
                       engine: Any = None) -> BootstrapResult:
    """Bootstrap of the IPTW pipeline from arrays and a parametric propensity design matrix.

    Parameters
    ----------
    time, event, treatment : array-like
        One value per patient (treatment 0/1: ``arm_labels[0]``/``arm_labels[1]``).
    X : array-like, shape (n, p)
        Propensity design matrix with intercept (refitted in every replicate).
    outcome, estimand, stabilize, trim, truncate
        As :func:`gistcausal.stats.weights.compute_weights` and :func:`bootstrap_estimates`.
    ps_method : {"logistic", "firth"}, default="logistic"
    landmarks, horizon
        Survival landmarks and RMST horizon.
    n_boot : int, default=2000
    ci : {"percentile", "bca"}, default="percentile"
    alpha : float, default=0.05
    n_jobs : int or None, default=-1
        joblib workers (-1: all cores); the result does not depend on it.
    random_state : int, optional
        Seed of the ``SeedSequence`` the replicate seeds are spawned from.
    progress : callable, optional
        ``progress(done, total)`` after each finished chunk of replicates.
    arm_labels : (str, str)
        Names of the reference (treatment 0) and compared (treatment 1) arm, e.g. ``("control", "treated")``;
        they label the estimates and the replicate columns (required).
    beyond_followup : {"extend", "fail"}, default="extend"
        What a replicate does when a landmark or the horizon lies beyond an arm's last follow-up (module
        docstring).
    path : {"auto", "batched", "per_replicate"}, default="auto"
        Compute the replicates all at once from their resampling counts (logistic only), one at a time, or
        batched whenever possible; the replicates agree to rounding (:func:`run_bootstrap`).
    map_chunks : callable, optional
        Runs the chunks of replicates (:data:`MapChunks`); default joblib processes with ``n_jobs`` workers.
    engine : gistcausal.engine.Engine or Executor, optional
        Where the chunks of replicates run (local processes or Dask); the result does not depend on it.

    Returns
    -------
    BootstrapResult

    See Also
    --------
    bootstrap_estimates : the same from a study configuration.
    """
    where = "bootstrap_survival"
    n_boot = check_ci(ci, n_boot, alpha, where)
    check_estimand(estimand, where=where, stabilize=stabilize)
    random_state = check_random_state(random_state, where)
    t = np.asarray(time, dtype=float)
    p = Problem(X=np.asarray(X, dtype=float), a=np.asarray(treatment, dtype=float), t=t,
                 e=np.asarray(event, dtype=float), estimand=estimand, stabilize=bool(stabilize), trim=trim,
                 truncate=truncate, landmarks=tuple(float(x) for x in landmarks),
                 horizon=None if horizon is None else float(horizon), ps_method=ps_method,
                 beyond_followup=check_beyond(beyond_followup, where))
    if p.X.shape[0] != t.size or p.a.size != t.size or p.e.size != t.size:
        raise DataError(f"{where}: time, event, treatment and X must have one row per patient (got "
                        f"{t.size}, {p.e.size}, {p.a.size} and X of shape {p.X.shape}). Pass aligned arrays.")
    return run_bootstrap(p, outcome=outcome, n_boot=n_boot, ci=ci, alpha=alpha, n_jobs=n_jobs,
                      random_state=random_state, progress=progress, arm_labels=arm_labels, where=where,
                      path=path, map_chunks=map_chunks, engine=engine)


__all__ = ["BootstrapResult", "Problem", "interval_estimates", "run_bootstrap", "local_map_chunks", "choose_path", "MapChunks", "check_ci", "check_beyond", "bootstrap_survival", "bca_interval",
           "FAILURE_REASONS", "FAILURE_WARN_SHARE"]
