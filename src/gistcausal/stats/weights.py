"""Inverse-probability-of-treatment weights from propensity scores, per estimand.

Pure functions of the scores ``e`` and the 0/1 treatment ``t``; no model fitting happens here.

=========  ===========================  ===========================  ===========================
estimand   treated weight               control weight               target population
=========  ===========================  ===========================  ===========================
ATE        :math:`1/e`                  :math:`1/(1-e)`              whole sample
ATT        :math:`1`                    :math:`e/(1-e)`              the treated
ATC        :math:`(1-e)/e`              :math:`1`                    the controls
ATO        :math:`1-e`                  :math:`e`                    overlap population
matching   :math:`\\min(e,1-e)/e`        :math:`\\min(e,1-e)/(1-e)`    matching-weight population
=========  ===========================  ===========================  ===========================

What each estimand supports is in the one registry :data:`gistcausal._checks.ESTIMANDS`; every check goes
through :func:`gistcausal._checks.check_estimand`, so the messages are the same everywhere (both are
re-exported here). :func:`weight_values` is the arithmetic (an unchecked fast path that
:func:`compute_weights` and the bootstrap both call); :func:`compute_weights` adds the checks, the
normalization, the diagnostics and the warnings. The steps run in this order: trimming (patients outside the overlap
region are dropped, ``kept`` is False for them), weighting, stabilization, truncation, normalization.

References
----------
Rosenbaum PR, Rubin DB (1983). Biometrika 70:41-55.
Robins JM, Hernán MA, Brumback B (2000). Marginal structural models and causal inference in epidemiology.
Epidemiology 11:550-560 (stabilized weights).
Cole SR, Hernán MA (2008). Constructing inverse probability weights for marginal structural models.
Am J Epidemiol 168:656-664 (truncation at percentiles).
Crump RK, Hotz VJ, Imbens GW, Mitnik OA (2009). Dealing with limited overlap in estimation of average
treatment effects. Biometrika 96:187-199 (optimal trimming rule).
Li L, Greene T (2013). A weighting analogue to pair matching in propensity score analysis. Int J Biostat
9:215-234 (matching weights).
Li F, Morgan KL, Zaslavsky AM (2018). Balancing covariates via propensity score weighting. JASA
113:390-400 (overlap weights).
Kish L (1965). Survey Sampling. Wiley (effective sample size).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Sequence

import numpy as np
import pandas as pd

from gistcausal._checks import ESTIMANDS, Estimand, check_estimand
from gistcausal.effects import json_safe
from gistcausal.errors import (
    ConfigError,
    DataError,
    ExtremeWeightWarning,
    PositivityError,
    PositivityWarning,
)

#: Scores below this or above one minus this raise a :class:`PositivityWarning`.
POSITIVITY_BOUND = 0.01
#: A weight above this multiple of its arm's mean weight raises an :class:`ExtremeWeightWarning`.
EXTREME_WEIGHT_RATIO = 10.0


def kish_ess(w: np.ndarray) -> float:
    """Kish's effective sample size :math:`(\\sum w)^2 / \\sum w^2`."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / np.sum(w ** 2)) if w.size else math.nan


def top_share(w: np.ndarray, *, fraction: float = 0.01) -> float:
    """Share of the total weight carried by the ``ceil(fraction * n)`` largest weights."""
    w = np.asarray(w, dtype=float)
    if not w.size:
        return math.nan
    k = max(1, math.ceil(fraction * w.size))
    return float(np.sort(w)[::-1][:k].sum() / w.sum())


def crump_bounds(ps: np.ndarray) -> tuple[float, float]:
    """Crump et al. (2009) optimal trimming interval :math:`[\\alpha, 1-\\alpha]`.

    Notes
    -----
    With :math:`g_i = 1/(e_i(1-e_i))`: if :math:`\\max g \\le 2\\bar g` nothing is trimmed
    (:math:`\\alpha = 0`). Otherwise :math:`\\gamma` solves
    :math:`\\gamma = 2\\,\\overline{g \\mid g \\le \\gamma}` (the empirical version of their Theorem 1), found
    exactly by scanning the sorted :math:`g`, and :math:`\\alpha = 1/2 - \\sqrt{1/4 - 1/\\gamma}`.
    """
    e = np.asarray(ps, dtype=float)
    g = np.sort(1.0 / (e * (1.0 - e)))
    if g[-1] <= 2 * g.mean():
        return 0.0, 1.0
    cm = np.cumsum(g) / np.arange(1, g.size + 1)
    nxt = np.r_[g[1:], np.inf]
    ok = np.nonzero((g <= 2 * cm) & (2 * cm < nxt))[0]
    gamma = 2 * cm[ok[0]]
    alpha = 0.5 - math.sqrt(max(0.25 - 1.0 / gamma, 0.0))
    return float(alpha), float(1 - alpha)


def _raw_weights(e: np.ndarray, t: np.ndarray, estimand: str) -> np.ndarray:
    """The module table's weights (before stabilization and truncation)."""
    if estimand == "ATE":
        # 1 / e or 1 / (1 - e) as written, one division pass instead of two (the same numbers)
        return 1 / np.where(t == 1, e, 1 - e)
    if estimand == "ATT":
        return np.where(t == 1, 1.0, e / (1 - e))
    if estimand == "ATC":
        return np.where(t == 1, (1 - e) / e, 1.0)
    if estimand == "ATO":
        return np.where(t == 1, 1 - e, e)
    return np.minimum(e, 1 - e) / np.where(t == 1, e, 1 - e)


class WeightValues(NamedTuple):
    """What :func:`weight_values` returns (patient level: for the estimators, never in a result)."""

    weights: np.ndarray                              # one per input patient, 0 where trimmed
    kept: np.ndarray                                 # False where trimmed
    trim_bounds: tuple[float, float] | None
    truncate_bounds: tuple[float, float] | None
    truncated: np.ndarray                            # True where truncation changed the weight
    raised: np.ndarray                               # True where truncation raised it to the low bound


def weight_values(ps: np.ndarray, treatment: np.ndarray, *, estimand: str, stabilize: bool = False,
                  trim: str | tuple[float, float] | None = None,
                  truncate: tuple[float, float] | None = None) -> WeightValues:
    """The weighting arithmetic: trim, weight (module table), stabilize, truncate. Unchecked fast path.

    :func:`compute_weights` validates the arguments, calls this, then normalizes and reports; the
    bootstrap (:mod:`gistcausal.inference.bootstrap`) calls it directly in every replicate, so the two
    are the same arithmetic.

    Parameters
    ----------
    ps : ndarray of float
        Scores in [0, 1].
    treatment : ndarray of {0, 1}
    estimand : str
        A key of :data:`ESTIMANDS` (not checked here).
    stabilize, trim, truncate
        As :func:`compute_weights` (already validated; ``trim`` a string means the Crump rule).

    Raises
    ------
    PositivityError
        The Crump rule with scores at 0 or 1, or scores at 0 or 1 for an estimand that divides by them.
    DataError
        An arm with no patients (after trimming).
    """
    where = "compute_weights"
    kept = np.ones(ps.size, dtype=bool)
    trim_bounds = None
    if trim is not None:
        if isinstance(trim, str):
            if np.any((ps <= 0) | (ps >= 1)):
                raise PositivityError(f"{where}: the Crump rule needs scores strictly inside (0, 1) (got "
                                      f"{int(np.sum((ps <= 0) | (ps >= 1)))} at 0 or 1). Trim them (analysis.weights.trim: [low, high]).")
            trim_bounds = crump_bounds(ps)
        else:
            trim_bounds = (float(trim[0]), float(trim[1]))
        kept = (ps >= trim_bounds[0]) & (ps <= trim_bounds[1])
    for arm, code in (("treated", 1), ("control", 0)):
        if not np.any(kept & (treatment == code)):
            raise DataError(f"{where}: arm {arm!r} has no patients{' after trimming' if trim is not None else ''} "
                            f"(got 0 of {int(np.sum(treatment == code))}). "
                            f"{'Widen the trimming range' if trim is not None else 'Check the cohort'}.")
    ek, tk = ps[kept], treatment[kept]
    if ESTIMANDS[estimand]["needs_interior"]:
        n_edge = int(np.sum((ek <= 0) | (ek >= 1)))
        if n_edge:
            raise PositivityError(f"{where}: {n_edge} propensity scores are exactly 0 or 1, so {estimand} weights "
                                  f"are undefined (got {n_edge} of {ek.size}). Use analysis.weights.trim: crump, "
                                  "analysis.survival.estimands: [ATO], or revise the propensity model.")
    with np.errstate(divide="ignore", invalid="ignore"):
        wk = _raw_weights(ek, tk, estimand)
    if stabilize:
        p1 = tk.mean()
        wk = wk * np.where(tk == 1, p1, 1 - p1)
    truncate_bounds = None
    changed = np.zeros(ek.size, dtype=bool)
    low = np.zeros(ek.size, dtype=bool)
    if truncate is not None:
        lo_w, hi_w = np.percentile(wk, [float(truncate[0]), float(truncate[1])])
        low = wk < lo_w
        changed = low | (wk > hi_w)
        wk = np.clip(wk, lo_w, hi_w)
        truncate_bounds = (float(lo_w), float(hi_w))
    weights = np.zeros(ps.size)
    weights[kept] = wk
    truncated = np.zeros(ps.size, dtype=bool)
    truncated[kept] = changed
    raised = np.zeros(ps.size, dtype=bool)
    raised[kept] = low
    return WeightValues(weights=weights, kept=kept, trim_bounds=trim_bounds,
                        truncate_bounds=truncate_bounds, truncated=truncated, raised=raised)


def count_percentiles(values: np.ndarray, counts: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``np.percentile`` (linear) of each row's multiset: ``values[b, i]`` repeated ``counts[b, i]`` times.

    The bootstrap's batched truncation: row ``b`` equals ``np.percentile(np.repeat(values[b], counts[b]), q)``
    (up to rounding). ``values`` and ``counts`` have shape (B, n); returns shape (B, len(q)).
    """
    order = np.argsort(values, axis=1, kind="stable")
    v = np.take_along_axis(values, order, axis=1)
    cc = np.cumsum(np.take_along_axis(counts, order, axis=1), axis=1)
    total = cc[:, -1]
    out = np.empty((values.shape[0], len(q)))
    for j, qq in enumerate(q):
        h = float(qq) / 100.0 * (total - 1)
        lo = np.floor(h)
        hi = np.minimum(lo + 1, total - 1)
        # the element of rank r (0-based) in the multiset is the first sorted position with cumcount > r
        v_lo = np.take_along_axis(v, np.sum(cc <= lo[:, None], axis=1)[:, None], axis=1)[:, 0]
        v_hi = np.take_along_axis(v, np.sum(cc <= hi[:, None], axis=1)[:, None], axis=1)[:, 0]
        frac = h - lo
        diff = v_hi - v_lo
        # numpy's _lerp, so the two paths round alike
        out[:, j] = np.where(frac >= 0.5, v_hi - diff * (1 - frac), v_lo + diff * frac)
    return out


def _crump_bounds_counts(ps: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """:func:`crump_bounds` of each row's multiset (``ps[b, i]`` repeated ``counts[b, i]`` times): shape (B, 2).

    In the sorted multiset only the last copy of a value can satisfy ``g <= 2 cm < next`` (the next copy is
    equal), so the scan runs over the distinct rows with their cumulative counts.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(counts > 0, 1.0 / (ps * (1.0 - ps)), np.inf)
    c = counts.astype(float)
    total = c.sum(axis=1)
    mean = np.sum(np.where(counts > 0, c * g, 0.0), axis=1) / total
    gmax = np.max(np.where(counts > 0, g, -np.inf), axis=1)
    order = np.argsort(g, axis=1, kind="stable")
    gs = np.take_along_axis(g, order, axis=1)
    cs = np.take_along_axis(c, order, axis=1)
    cm = np.cumsum(np.where(cs > 0, cs * gs, 0.0), axis=1) / np.cumsum(cs, axis=1)
    nxt = np.concatenate([gs[:, 1:], np.full((gs.shape[0], 1), np.inf)], axis=1)
    ok = (cs > 0) & (gs <= 2 * cm) & (2 * cm < nxt)
    gamma = 2 * np.take_along_axis(cm, np.argmax(ok, axis=1)[:, None], axis=1)[:, 0]
    alpha = 0.5 - np.sqrt(np.maximum(0.25 - 1.0 / gamma, 0.0))
    alpha = np.where(gmax <= 2 * mean, 0.0, alpha)
    return np.c_[alpha, np.where(gmax <= 2 * mean, 1.0, 1 - alpha)]


def weight_values_counts(ps: np.ndarray, treatment: np.ndarray, counts: np.ndarray, *, estimand: str,
                         stabilize: bool = False, trim: str | tuple[float, float] | None = None,
                         truncate: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`weight_values` for B resamples at once, each given by its row of multiplicities.

    Row ``b`` of the result equals ``weight_values(ps[b][idx], treatment[idx], ...)`` for a resample ``idx``
    that holds patient ``i`` ``counts[b, i]`` times (up to rounding), mapped back to the patients; the batched
    bootstrap (:mod:`gistcausal.inference.bootstrap_batched`) calls it. Same steps in the same order, with
    sums and means weighted by the counts and percentiles taken over the multiset (:func:`count_percentiles`).

    Parameters
    ----------
    ps : ndarray, shape (B, n)
        Each resample's fitted scores for every patient (only patients with a positive count are used).
    treatment : ndarray of {0, 1}, shape (n,)
    counts : ndarray, shape (B, n)
        Multiplicity of each patient in each resample.
    estimand, stabilize, trim, truncate
        As :func:`weight_values`.

    Returns
    -------
    weights : ndarray, shape (B, n)
        One weight per patient and resample (0 where trimmed or not drawn), *not* multiplied by the counts.
    reason : ndarray of str, shape (B,)
        ``""``, or what :func:`weight_values` would have raised: ``"positivity"`` (PositivityError) or
        ``"empty_arm"`` (DataError), in its order of checks.
    """
    B = ps.shape[0]
    present = counts > 0
    reason = np.full(B, "", dtype=object)
    kept = present.copy()
    if trim is not None:
        if isinstance(trim, str):
            edge = np.any(present & ((ps <= 0) | (ps >= 1)), axis=1)
            reason[edge] = "positivity"
            bounds = np.zeros((B, 2))
            bounds[:, 1] = 1.0
            if (~edge).any():
                with np.errstate(invalid="ignore"):
                    bounds[~edge] = _crump_bounds_counts(ps[~edge], counts[~edge])
        else:
            bounds = np.tile([float(trim[0]), float(trim[1])], (B, 1))
        kept &= (ps >= bounds[:, :1]) & (ps <= bounds[:, 1:])
    arm1 = treatment == 1
    ck = np.where(kept, counts, 0.0)
    n1, n_kept = ck @ arm1.astype(float), ck.sum(axis=1)     # whole numbers: exact sums
    empty = (n1 == 0) | (n1 == n_kept)
    reason[(reason == "") & empty] = "empty_arm"
    # (the score range first: with every score inside (0, 1), as usual, no patient can be at an edge)
    if ESTIMANDS[estimand]["needs_interior"] and not (ps.min() > 0 and ps.max() < 1):
        edge = np.any(kept & ((ps <= 0) | (ps >= 1)), axis=1)
        reason[(reason == "") & edge] = "positivity"
    with np.errstate(divide="ignore", invalid="ignore"):
        w = _raw_weights(ps, treatment, estimand)    # (n,) treatment broadcasts against (B, n) scores
    np.copyto(w, 0.0, where=~kept)
    if stabilize:
        with np.errstate(divide="ignore", invalid="ignore"):
            p1 = n1 / n_kept
        w = w * np.where(arm1, p1[:, None], 1 - p1[:, None])
    if truncate is not None:
        lims = count_percentiles(np.where(kept, w, np.inf), ck, [float(truncate[0]), float(truncate[1])])
        w = np.where(kept, np.clip(w, lims[:, :1], lims[:, 1:]), 0.0)
    return w, reason


@dataclass(frozen=True, slots=True)
class WeightResult:
    """Weights and their diagnostics.

    Attributes
    ----------
    weights : ndarray
        One weight per input patient (0 for trimmed patients); for the estimators, never in ``to_dict``.
    kept : ndarray of bool
        False for patients removed by trimming.
    estimand : str
    stabilized : bool
    normalize : str or None
    trim_bounds : tuple of float or None
        Propensity-score interval kept by trimming.
    truncate_bounds : tuple of float or None
        Weight values at the truncation percentiles.
    n_trimmed : dict
        Trimmed patients per arm (``{"treated": k1, "control": k0}``).
    n_truncated : dict
        Weights truncated per arm (``n_raised`` + ``n_lowered``).
    diagnostics : DataFrame
        One row per arm and overall: n, sum, min, max, mean and SD (``ddof=1``, as R ``sd``) of the weights,
        Kish ESS, top-1% share.
    warnings : tuple of str
    n_raised, n_lowered : dict
        Weights per arm that truncation raised to the low percentile's value and lowered to the high one's
        (all zero without truncation).
    """

    weights: np.ndarray = field(repr=False)
    kept: np.ndarray = field(repr=False)
    estimand: str
    stabilized: bool
    normalize: str | None
    trim_bounds: tuple[float, float] | None
    truncate_bounds: tuple[float, float] | None
    n_trimmed: dict
    n_truncated: dict
    diagnostics: pd.DataFrame
    warnings: tuple[str, ...] = ()
    n_raised: dict = field(default_factory=dict)
    n_lowered: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy of the per-arm diagnostics (aggregates only)."""
        return self.diagnostics.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of settings and diagnostics; excludes the weights themselves."""
        return {
            "estimand": self.estimand, "stabilized": self.stabilized, "normalize": self.normalize,
            "trim_bounds": None if self.trim_bounds is None else [float(b) for b in self.trim_bounds],
            "truncate_bounds": None if self.truncate_bounds is None else [float(b) for b in self.truncate_bounds],
            "n_trimmed": dict(self.n_trimmed), "n_truncated": dict(self.n_truncated),
            "n_raised": dict(self.n_raised), "n_lowered": dict(self.n_lowered),
            "diagnostics": [{k: json_safe(v) for k, v in r.items()} for r in self.diagnostics.to_dict("records")],
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """Paper-ready text: estimand, options, trimming/truncation counts, ESS and extremes per arm."""
        opts = [f"estimand {self.estimand}", "stabilized" if self.stabilized else "unstabilized"]
        if self.normalize:
            opts.append(f"normalized ({self.normalize})")
        lines = ["Weights: " + ", ".join(opts)]
        if self.trim_bounds is not None:
            lines.append(f"  trimmed to PS in [{self.trim_bounds[0]:.3f}, {self.trim_bounds[1]:.3f}]: "
                         f"{self.n_trimmed['treated']} treated, {self.n_trimmed['control']} control removed")
        if self.truncate_bounds is not None:
            lines.append(f"  truncated at [{self.truncate_bounds[0]:.3g}, {self.truncate_bounds[1]:.3g}]: "
                         f"{self.n_truncated['treated']} treated, {self.n_truncated['control']} control weights "
                         f"({sum(self.n_raised.values())} raised, {sum(self.n_lowered.values())} lowered)")
        for r in self.diagnostics.itertuples(index=False):
            lines.append(f"  {r.arm}: n {r.n}, weights {r.min:.3g}-{r.max:.3g} (mean {r.mean:.3g}, SD {r.sd:.3g}), "
                         f"ESS {r.ess:.1f}, top 1% carry {100 * r.top1_share:.1f}%")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def compute_weights(ps: Sequence[float] | np.ndarray, treatment: Sequence[int] | np.ndarray, *,
                    estimand: Estimand = "ATE", stabilize: bool = False,
                    truncate: tuple[float, float] | None = None,
                    trim: str | tuple[float, float] | None = None,
                    normalize: Literal["target", "arm"] | None = None, diagnostics: bool = True,
                    arm_labels: tuple[str, str] = ("treated", "control")) -> WeightResult:
    """Propensity-score weights for one estimand, with trimming, truncation and diagnostics.

    Parameters
    ----------
    ps : array-like of float
        Propensity scores :math:`e_i = P(T=1 \\mid X_i)`, e.g. from
        :meth:`gistcausal.stats.propensity.PropensityModel.fit_predict`.
    treatment : array-like of {0, 1}
        1 = treated, 0 = control.
    estimand : {"ATE", "ATT", "ATC", "ATO", "matching"}, default="ATE"
        Weights in the module table.
    stabilize : bool, default=False
        ATE only: multiply treated weights by :math:`\\hat P(T=1)` and control weights by
        :math:`\\hat P(T=0)` (computed on the kept patients), so each arm's weights sum to about its size.
    truncate : tuple of float, optional
        Percentiles ``(low, high)``, e.g. ``(1, 99)``: weights below/above these percentiles of all kept
        weights are set to them (Cole & Hernán 2008). The number changed per arm is reported.
    trim : "crump" or tuple of float, optional
        Drop patients whose score is outside ``[low, high]``, or outside Crump et al.'s optimal interval
        (:func:`crump_bounds`). Trimmed patients get weight 0 and ``kept=False``; counts per arm are
        reported. Trimming changes the estimand to the trimmed population.
    normalize : {"target", "arm"}, optional
        ``"target"``: each arm's weights are rescaled to sum to the size of the target population (n for
        ATE, n1 for ATT, n0 for ATC, :math:`\\sum e(1-e)` for ATO, :math:`\\sum \\min(e, 1-e)` for matching),
        so the arms stand for the same number of patients. ``"arm"``: each arm sums to its own size.
    diagnostics : bool, default=True
        ``False`` leaves :attr:`WeightResult.diagnostics` without rows (the same columns) for a caller that
        reads only the weights (issue 17: a plasmode replicate); the weights, counts and warnings are the same.
    arm_labels : (str, str), default=("treated", "control")
        Names of the arms coded 1 and 0 in the warnings' text (a study's arm labels); nothing else uses them.

    Returns
    -------
    WeightResult

    Raises
    ------
    ConfigError
        Unknown estimand, stabilization where it is undefined, malformed truncate/trim.
    DataError
        Lengths differ, non-finite scores, treatment not 0/1, an arm empty (after trimming).
    PositivityError
        Scores at exactly 0 or 1 for an estimand that divides by them.

    Warns
    -----
    PositivityWarning
        Some kept scores are below ``POSITIVITY_BOUND`` or above ``1 - POSITIVITY_BOUND``.
    ExtremeWeightWarning
        Some weights exceed ``EXTREME_WEIGHT_RATIO`` times their arm's mean weight.
    """
    where = "compute_weights"
    check_estimand(estimand, where=where, stabilize=stabilize)
    e = np.array(ps, dtype=float, copy=True)
    t = np.asarray(treatment)
    if e.ndim != 1 or t.shape != e.shape:
        raise DataError(f"{where}: ps and treatment must be 1-d of equal length (got {e.shape} and {t.shape}). "
                        "Pass one score and one treatment per patient.")
    if not np.all(np.isin(t, (0, 1))):
        raise DataError(f"{where}: treatment must be coded 0/1 (got values {sorted(map(str, np.unique(t)))[:5]}). "
                        "Recode 1 = treated, 0 = control.")
    t = t.astype(int)
    if not np.all(np.isfinite(e)) or np.any((e < 0) | (e > 1)):
        bad = int(np.sum(~np.isfinite(e) | (e < 0) | (e > 1)))
        raise DataError(f"{where}: propensity scores must be finite and in [0, 1] (got {bad} values outside). "
                        "Check the propensity model.")
    _check_options(trim, truncate, normalize, where)
    v = weight_values(e, t, estimand=estimand, stabilize=stabilize, trim=trim, truncate=truncate)
    kept = v.kept
    ek, tk, wk = e[kept], t[kept], v.weights[kept]
    caught = _positivity_warning(ek, tk, where, arm_labels)
    if normalize is not None:
        wk = _normalized(wk, ek, tk, estimand, normalize)
    weights = np.zeros(e.size)
    weights[kept] = wk
    caught += _extreme_weight_warnings(wk, tk, where, arm_labels)
    by_arm = (("treated", t == 1), ("control", t == 0))
    return WeightResult(weights=weights, kept=kept, estimand=estimand, stabilized=bool(stabilize),
                        normalize=normalize, trim_bounds=v.trim_bounds, truncate_bounds=v.truncate_bounds,
                        n_trimmed={arm: int(np.sum(~kept & m)) for arm, m in by_arm},
                        n_truncated={arm: int(np.sum(v.truncated & m)) for arm, m in by_arm},
                        diagnostics=_diagnostics(wk, tk) if diagnostics else pd.DataFrame(columns=_DIAGNOSTIC_COLUMNS),
                        warnings=tuple(caught),
                        n_raised={arm: int(np.sum(v.raised & m)) for arm, m in by_arm},
                        n_lowered={arm: int(np.sum(v.truncated & ~v.raised & m)) for arm, m in by_arm})


def _check_options(trim: Any, truncate: Any, normalize: Any, where: str) -> None:
    """Malformed trim, truncate or normalize settings (ConfigError)."""
    if isinstance(trim, str):
        if trim != "crump":
            raise ConfigError(f"{where}: trim must be 'crump' or a (low, high) score range (got {trim!r}). "
                              "Use analysis.weights.trim: crump, or e.g. trim: [0.05, 0.95].")
    elif trim is not None:
        try:
            lo, hi = (float(v) for v in trim)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: trim must be 'crump' or a (low, high) score range (got {trim!r}). "
                              "Use analysis.weights.trim: crump, or e.g. trim: [0.05, 0.95].") from None
        if not 0 <= lo < hi <= 1:
            raise ConfigError(f"{where}: trim range must satisfy 0 <= low < high <= 1 (got {trim!r}). "
                              "Use e.g. analysis.weights.trim: [0.05, 0.95].")
    if truncate is not None:
        try:
            plo, phi = (float(v) for v in truncate)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: truncate must be (low, high) percentiles (got {truncate!r}). "
                              "Use e.g. analysis.weights.truncate: [1, 99].") from None
        if not 0 <= plo < phi <= 100:
            raise ConfigError(f"{where}: truncate percentiles must satisfy 0 <= low < high <= 100 (got "
                              f"{truncate!r}). Use e.g. analysis.weights.truncate: [1, 99].")
    if normalize is not None and normalize not in ("target", "arm"):
        raise ConfigError(f"{where}: normalize must be 'target', 'arm' or None (got {normalize!r}). "
                          "Pick one of these.")


def _positivity_warning(ek: np.ndarray, tk: np.ndarray, where: str,
                        arm_labels: tuple[str, str] = ("treated", "control")) -> list[str]:
    near = (ek < POSITIVITY_BOUND) | (ek > 1 - POSITIVITY_BOUND)
    n_near = [(arm, int(np.sum(near & (tk == code)))) for arm, code in ((arm_labels[0], 1), (arm_labels[1], 0))]
    if not sum(n for _, n in n_near):
        return []
    msg = (f"{where}: {sum(n for _, n in n_near)} propensity scores lie outside [{POSITIVITY_BOUND:g}, "
           f"{1 - POSITIVITY_BOUND:g}] (got " + ", ".join(f"{n} in arm {a!r}" for a, n in n_near) + "). "
           "Check overlap; consider analysis.weights.trim: crump or analysis.survival.estimands: [ATO].")
    warnings.warn(msg, PositivityWarning, stacklevel=3)
    return [msg]


def _normalized(wk: np.ndarray, ek: np.ndarray, tk: np.ndarray, estimand: str, normalize: str) -> np.ndarray:
    """Each arm rescaled to the target population's size (``"target"``) or its own size (``"arm"``)."""
    wk = wk.copy()
    n1, n0 = int(np.sum(tk == 1)), int(np.sum(tk == 0))
    if normalize == "arm":
        goal = {1: n1, 0: n0}
    else:
        size = {"ATE": tk.size, "ATT": n1, "ATC": n0, "ATO": float(np.sum(ek * (1 - ek))),
                "matching": float(np.sum(np.minimum(ek, 1 - ek)))}[estimand]
        goal = {1: size, 0: size}
    for code in (1, 0):
        m = tk == code
        wk[m] = wk[m] * goal[code] / wk[m].sum()
    return wk


#: Columns of :attr:`WeightResult.diagnostics`.
_DIAGNOSTIC_COLUMNS = ("arm", "n", "sum", "min", "max", "mean", "sd", "ess", "top1_share")


def _diagnostics(wk: np.ndarray, tk: np.ndarray) -> pd.DataFrame:
    rows = []
    for arm, m in (("treated", tk == 1), ("control", tk == 0), ("overall", np.ones(tk.size, dtype=bool))):
        w = wk[m]
        rows.append({"arm": arm, "n": int(m.sum()), "sum": float(w.sum()), "min": float(w.min()),
                     "max": float(w.max()), "mean": float(w.mean()),
                     # ddof=1 as R sd(); NaN for a single weight
                     "sd": float(w.std(ddof=1)) if w.size > 1 else math.nan, "ess": kish_ess(w),
                     "top1_share": top_share(w)})
    return pd.DataFrame(rows)


def _extreme_weight_warnings(wk: np.ndarray, tk: np.ndarray, where: str,
                             arm_labels: tuple[str, str] = ("treated", "control")) -> list[str]:
    caught = []
    for arm, code in ((arm_labels[0], 1), (arm_labels[1], 0)):
        w = wk[tk == code]
        ratio = w / w.mean()
        n_big = int(np.sum(ratio > EXTREME_WEIGHT_RATIO))
        if n_big:
            msg = (f"{where}: {n_big} patients in arm {arm!r} have weights above {EXTREME_WEIGHT_RATIO:g} times "
                   f"the arm mean (got max {ratio.max():.1f} times; ESS {kish_ess(w):.1f} of {w.size}). "
                   "Consider analysis.weights.trim: crump, analysis.weights.truncate: [1, 99] or "
                   "analysis.survival.estimands: [ATO].")
            warnings.warn(msg, ExtremeWeightWarning, stacklevel=3)
            caught.append(msg)
    return caught


__all__ = ["compute_weights", "weight_values", "weight_values_counts", "count_percentiles", "WeightValues", "WeightResult", "ESTIMANDS", "check_estimand",
           "crump_bounds", "kish_ess",
           "top_share", "POSITIVITY_BOUND", "EXTREME_WEIGHT_RATIO"]
