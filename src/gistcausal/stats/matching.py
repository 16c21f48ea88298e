r"""Greedy nearest-neighbour propensity-score matching (R MatchIt ``method = "nearest"``) and the matched
survival comparison.

:func:`match_nearest` pairs every focal patient (the treated for the ATT, the controls for the ATC) with
up to ``ratio`` patients of the other arm, nearest on the distance (by default the logit of the propensity
score, MatchIt's ``distance = "glm", link = "linear.logit"``), within a caliper of ``caliper`` standard
deviations of that distance (Austin 2011: 0.2), optionally exactly on chosen covariates, with or without
replacement. The algorithm is MatchIt's (``nn_matchC_vec``, versions >= 4.5.3), step by step:

1. all patients (of one exact-matching stratum) are sorted by distance, ascending and stable;
2. the focal patients are visited in ``m_order``: ``"largest"`` distance first for the ATT, ``"smallest"``
   first for the ATC (MatchIt's documented default for a propensity-score distance), in data order when
   matching with replacement (MatchIt sets ``m.order = "data"`` then, the order being irrelevant);
3. in round ``r = 1..ratio`` each focal patient takes the nearest still-available patient of the other arm
   to its left or right in that sorted order (ties go left, to the smaller distance), skipping those it
   already holds; a candidate farther than the caliper ends the search on that side;
4. without replacement a patient, once taken, is unavailable.

Matching weights are MatchIt's: 1 for every matched focal patient; a matched patient of the other arm gets
:math:`\sum_{i} 1/k_i` over the focal patients *i* that hold it (:math:`k_i` their number of matches), rescaled so
these weights sum to the number of distinct matched patients of that arm; 0 for the unmatched. Without
replacement the matched sets (a focal patient and its matches) are the clusters of the robust variance.

:func:`matched_survival` is the survival comparison of the matched sample as MatchIt's vignette *Estimating
Effects After Matching* recommends: weighted Kaplan-Meier curves, landmark survival and RMST, and the Cox
hazard ratio with the cluster-robust SE by matched set (``coxph(Surv(time, event) ~ treat, data = md,
weights = weights, robust = TRUE, cluster = subclass)``); with replacement the robust SE treats each patient as
its own cluster (``coxph(..., weights = weights, robust = TRUE)``). Survival and RMST differences use the
infinitesimal-jackknife terms of both arms summed within matched sets, so the pairing is accounted for.

References
----------
Ho DE, Imai K, King G, Stuart EA (2011). MatchIt: nonparametric preprocessing for parametric causal
inference. J Stat Softw 42(8):1-28.
Austin PC (2011). Optimal caliper widths for propensity-score matching when estimating differences in means
and differences in proportions in observational studies. Pharm Stat 10:150-161.
Austin PC (2014). The use of propensity score methods with survival or time-to-event outcomes: reporting
measures of effect similar to those used in randomized experiments. Stat Med 33:1242-1258.
Greifer N. MatchIt vignette "Estimating Effects After Matching" (survival outcomes).
"""
from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal._checks import check_alpha
from gistcausal.effects import EffectEstimate, json_safe
from gistcausal.errors import ConfigError, DataError, ModelFitError
from gistcausal.stats.comparison import SurvivalComparison, compare_survival
from gistcausal.stats.km import km_influence, rmst_influence
from gistcausal.stats.sequential import cluster_robust_cox
from gistcausal.stats.weights import kish_ess, top_share

#: Estimands nearest-neighbour matching targets: which arm is focal (MatchIt allows only these two).
FOCAL = {"ATT": 1, "ATC": 0}
#: The effect-estimate ``method`` of every matched analysis.
METHOD = "matching"


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Matched sets, matching weights and their counts.

    Shaped like :class:`~gistcausal.stats.weights.WeightResult` (``weights``, ``kept``, ``estimand``,
    ``diagnostics``, ``to_dict``, ``summary``), so balance tables, weight summaries and the survival
    comparison take it where they take IPTW weights.

    Attributes
    ----------
    weights : ndarray
        MatchIt's matching weight per input patient (0 = unmatched). For the estimators; never in ``to_dict``.
    subclass : ndarray of int
        Matched set of each patient (0, 1, ...; -1 unmatched; all -1 with replacement, where sets overlap).
        For the estimators only (the cluster of the robust variance); never in ``to_dict`` or ``to_frame``.
    kept : ndarray of bool
        ``weights > 0``.
    estimand : {"ATT", "ATC"}
    ratio, replace, m_order, distance
        The settings used.
    caliper : float or None
        Caliper in distance units (``caliper_sd`` times the SD of the distance), None without one.
    caliper_sd : float or None
        Caliper in SD units as requested.
    exact : tuple of str
        Names of the exact-matching variables (empty if none).
    n_matched, n_unmatched : dict
        Patients per arm (``{"treated": k1, "control": k0}``).
    n_sets : int
        Matched sets (matched focal patients).
    diagnostics : DataFrame
        One row per arm and overall, as ``WeightResult.diagnostics`` (n, sum, min, max, mean, ess,
        top1_share), computed on the matched patients.
    warnings : tuple of str
    """

    weights: np.ndarray = field(repr=False)
    subclass: np.ndarray = field(repr=False)
    kept: np.ndarray = field(repr=False)
    estimand: str
    ratio: int
    replace: bool
    m_order: str
    distance: str
    caliper: float | None
    caliper_sd: float | None
    exact: tuple[str, ...]
    n_matched: dict
    n_unmatched: dict
    n_sets: int
    diagnostics: pd.DataFrame
    warnings: tuple[str, ...] = ()
    method: str = METHOD

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy of the per-arm diagnostics with matched and unmatched counts (aggregates only)."""
        f = self.diagnostics.copy()
        f["n_matched"] = [self.n_matched.get(a, sum(self.n_matched.values())) for a in f["arm"]]
        f["n_unmatched"] = [self.n_unmatched.get(a, sum(self.n_unmatched.values())) for a in f["arm"]]
        return f

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings and counts; no weights, no matched-set ids."""
        return {"method": self.method, "estimand": self.estimand, "ratio": self.ratio, "replace": self.replace,
                "m_order": self.m_order, "distance": self.distance, "caliper": json_safe(self.caliper),
                "caliper_sd": json_safe(self.caliper_sd), "exact": list(self.exact),
                "n_matched": dict(self.n_matched), "n_unmatched": dict(self.n_unmatched),
                "n_sets": self.n_sets,
                "diagnostics": [{k: json_safe(v) for k, v in r.items()}
                                for r in self.diagnostics.to_dict("records")],
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Paper-ready text: the matching specification and the matched and unmatched counts per arm."""
        cal = ("no caliper" if self.caliper is None else
               f"caliper {self.caliper_sd:g} SD of the {self.distance} propensity score ({self.caliper:.4g})")
        how = "with" if self.replace else "without"
        ex = f", exact on {', '.join(self.exact)}" if self.exact else ""
        lines = [f"Matching: 1:{self.ratio} nearest neighbour ({self.estimand}, {how} replacement, {cal}{ex}, "
                 f"{self.m_order} first)",
                 f"  matched: {self.n_matched['treated']} treated, {self.n_matched['control']} control "
                 f"({self.n_sets} matched sets)",
                 f"  unmatched: {self.n_unmatched['treated']} treated, {self.n_unmatched['control']} control"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _strata(exact: Any, n: int, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Exact-matching stratum code per patient (all 0 without ``exact``) and the variables' names."""
    if exact is None:
        return np.zeros(n, dtype=np.int64), ()
    frame = exact.to_frame() if isinstance(exact, pd.Series) else (
        exact if isinstance(exact, pd.DataFrame) else pd.DataFrame({"exact": list(exact)}))
    if len(frame) != n:
        raise DataError(f"{where}: `exact` must have one row per patient (got {len(frame)} rows for {n} "
                        "patients). Pass the exact-matching columns of the same frame.")
    n_missing = int(frame.isna().any(axis=1).sum())
    if n_missing:
        raise DataError(f"{where}: exact-matching variables {list(map(str, frame.columns))} have missing "
                        f"values (got {n_missing} patients). Impute them or drop them from exact matching.")
    codes = frame.astype(str).agg("\x1f".join, axis=1) if frame.shape[1] > 1 else frame.iloc[:, 0].astype(str)
    return pd.factorize(codes, sort=True)[0].astype(np.int64), tuple(map(str, frame.columns))


def _match_stratum(idx: np.ndarray, focal: np.ndarray, dist: np.ndarray, *, ratio: int, replace: bool,
                   m_order: str, caliper: float | None, mm: np.ndarray, focal_row: np.ndarray) -> None:
    """MatchIt's greedy matching of one stratum (rows ``idx``, data order); fills ``mm`` (focal row x round)."""
    d = dist[idx]
    order = np.argsort(d, kind="stable")            # sort.list(distance): all patients, ascending, stable
    pos_of = np.empty(idx.size, dtype=np.int64)
    pos_of[order] = np.arange(idx.size)
    fs = focal[idx][order]
    d_sorted = d[order]
    avail = [int(p) for p in np.flatnonzero(fs == 0)]   # sorted positions of matchable patients
    f_local = np.flatnonzero(focal[idx] == 1)            # focal patients in data order
    if f_local.size == 0 or not avail:
        return
    if m_order == "largest":
        visit = f_local[np.argsort(-d[f_local], kind="stable")]  # order(decreasing = TRUE): ties in data order
    elif m_order == "smallest":
        visit = f_local[np.argsort(d[f_local], kind="stable")]
    else:
        visit = f_local
    held: dict[int, list[int]] = {}
    for r in range(ratio):
        for i in visit:
            if not avail:
                return
            p = int(pos_of[i])
            row = held.setdefault(int(i), [])
            di = d_sorted[p]
            j = bisect.bisect_left(avail, p)
            left = right = None
            k = j - 1
            while k >= 0:
                c = avail[k]
                if c in row:
                    k -= 1
                    continue
                if caliper is not None and abs(di - d_sorted[c]) > caliper:
                    break
                left = k
                break
            k = j
            while k < len(avail):
                c = avail[k]
                if c in row:
                    k += 1
                    continue
                if caliper is not None and abs(di - d_sorted[c]) > caliper:
                    break
                right = k
                break
            if left is not None and right is not None:
                pick = left if abs(d_sorted[avail[left]] - di) <= abs(d_sorted[avail[right]] - di) else right
            else:
                pick = left if left is not None else right
            if pick is None:
                continue
            c = avail[pick]
            row.append(c)
            mm[focal_row[idx[i]], r] = idx[order[c]]
            if not replace:
                avail.pop(pick)


def match_weights(mm: np.ndarray, focal: np.ndarray) -> np.ndarray:
    """MatchIt's matching weights from the match matrix (``weights_matrixC``); unchecked fast path."""
    w = np.zeros(focal.size)
    f_idx = np.flatnonzero(focal == 1)
    for r, row in enumerate(mm):
        got = row[row >= 0]
        if got.size == 0:
            continue
        np.add.at(w, got, 1.0 / got.size)
        w[f_idx[r]] = 1.0
    other = focal == 0
    total, n_used = w[other].sum(), int(np.sum(w[other] > 0))
    if total > 0:
        w[other] = w[other] * n_used / total
    return w


def _check_options(ratio: Any, caliper: Any, replace: Any, m_order: Any, distance: Any, estimand: Any,
                   where: str) -> None:
    if estimand not in FOCAL:
        raise ConfigError(f"{where}: estimand must be one of {list(FOCAL)} for nearest-neighbour matching "
                          f"(got {estimand!r}). Use estimand: ATT (the treated are matched), or weighting for "
                          "the ATE.")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise ConfigError(f"{where}: ratio must be an integer >= 1 (got {ratio!r}). Use e.g. ratio: 1 for "
                          "1:1 matching.")
    if caliper is not None and not (isinstance(caliper, (int, float)) and not isinstance(caliper, bool)
                                    and math.isfinite(caliper) and caliper > 0):
        raise ConfigError(f"{where}: caliper must be a positive number of standard deviations or null (got "
                          f"{caliper!r}). Use e.g. caliper: 0.2 (Austin 2011).")
    if not isinstance(replace, (bool, np.bool_)):
        raise ConfigError(f"{where}: replace must be true or false (got {replace!r}). Use replace: false.")
    if m_order not in (None, "largest", "smallest", "data"):
        raise ConfigError(f"{where}: m_order must be 'largest', 'smallest', 'data' or None (got {m_order!r}). "
                          "Leave it unset for MatchIt's default.")
    if distance not in ("logit", "ps"):
        raise ConfigError(f"{where}: distance must be 'logit' or 'ps' (got {distance!r}). Use 'logit', the "
                          "logit of the propensity score (Austin 2011).")


def match_nearest(ps: Any, treatment: Any, *, estimand: Literal["ATT", "ATC"] = "ATT", ratio: int = 1,
                  caliper: float | None = 0.2, replace: bool = False, exact: Any = None,
                  distance: Literal["logit", "ps"] = "logit",
                  m_order: Literal["largest", "smallest", "data"] | None = None) -> MatchResult:
    r"""Greedy 1:k nearest-neighbour matching on the propensity score (R MatchIt ``method = "nearest"``).

    Parameters
    ----------
    ps : array-like of float
        Propensity scores :math:`e_i = P(T = 1 \mid X_i)`, strictly inside (0, 1) for ``distance="logit"``.
    treatment : array-like of {0, 1}
    estimand : {"ATT", "ATC"}, default="ATT"
        The focal arm: the treated are matched (ATT) or the controls are (ATC).
    ratio : int, default=1
        Matches per focal patient (1:k matching, filled in rounds as MatchIt).
    caliper : float or None, default=0.2
        Maximum distance between matched patients in SD units of the distance (sample SD over all
        patients; MatchIt's ``std.caliper = TRUE``). None: no caliper.
    replace : bool, default=False
        Whether a patient of the other arm can be matched to several focal patients.
    exact : array-like, Series or DataFrame, optional
        Variables to match exactly on (one row per patient); matching is done within each combination
        of their values.
    distance : {"logit", "ps"}, default="logit"
        Match on :math:`\operatorname{logit}(e)` (MatchIt ``link = "linear.logit"``) or on :math:`e` itself.
    m_order : {"largest", "smallest", "data"}, optional
        Order in which focal patients pick their matches. Default as MatchIt: ``"largest"`` for the ATT,
        ``"smallest"`` for the ATC, ``"data"`` with replacement.

    Returns
    -------
    MatchResult

    Raises
    ------
    ConfigError
        Bad options (estimand other than ATT/ATC, ratio < 1, caliper <= 0, ...).
    DataError
        Lengths differ, scores not finite or outside (0, 1), treatment not 0/1, missing exact variables.
    ModelFitError
        Nobody could be matched (e.g. a caliper too narrow or no shared exact stratum).

    Notes
    -----
    The matched sample estimates the effect in the matched focal patients; with a caliper that drops some,
    it is no longer exactly the ATT (Rosenbaum & Rubin 1985), so the unmatched counts are reported.
    See the module docstring for the algorithm and the weights.
    """
    where = "match_nearest"
    _check_options(ratio, caliper, replace, m_order, distance, estimand, where)
    e = np.array(ps, dtype=float, copy=True)
    t = np.asarray(treatment)
    if e.ndim != 1 or t.shape != e.shape:
        raise DataError(f"{where}: ps and treatment must be 1-d of equal length (got {e.shape} and {t.shape}). "
                        "Pass one score and one treatment per patient.")
    if not np.all(np.isin(t, (0, 1))):
        raise DataError(f"{where}: treatment must be coded 0/1 (got {int(np.sum(~np.isin(t, (0, 1))))} other "
                        "values). Recode 1 = treated, 0 = control.")
    t = t.astype(int)
    bad = int(np.sum(~np.isfinite(e) | (e <= 0) | (e >= 1))) if distance == "logit" else \
        int(np.sum(~np.isfinite(e) | (e < 0) | (e > 1)))
    if bad:
        raise DataError(f"{where}: propensity scores must be finite and strictly inside (0, 1) for "
                        f"distance '{distance}' (got {bad} outside). Check the propensity model.")
    for arm, code in (("treated", 1), ("control", 0)):
        if not np.any(t == code):
            raise DataError(f"{where}: arm {arm!r} has no patients (got 0 of {t.size}). Check the cohort.")
    strata, exact_names = _strata(exact, e.size, where)
    dist = np.log(e / (1 - e)) if distance == "logit" else e
    focal = (t == FOCAL[estimand]).astype(int)
    order = m_order or ("data" if replace else ("largest" if estimand == "ATT" else "smallest"))
    cal = None if caliper is None else float(caliper) * float(np.std(dist, ddof=1))
    n_focal = int(focal.sum())
    focal_row = np.full(e.size, -1, dtype=np.int64)
    focal_row[focal == 1] = np.arange(n_focal)
    mm = np.full((n_focal, int(ratio)), -1, dtype=np.int64)
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        _match_stratum(idx, focal, dist, ratio=int(ratio), replace=bool(replace), m_order=order, caliper=cal,
                       mm=mm, focal_row=focal_row)
    if not np.any(mm >= 0):
        raise ModelFitError(f"{where}: no patient could be matched (got 0 matched sets of {n_focal} "
                            f"{'treated' if estimand == 'ATT' else 'control'} patients). Widen the caliper "
                            "(analysis.matching.caliper: 0.5) or drop exact-matching variables.")
    w = match_weights(mm, focal)
    subclass = np.full(e.size, -1, dtype=np.int64)
    if not replace:
        f_idx = np.flatnonzero(focal == 1)
        for r, row in enumerate(mm):
            got = row[row >= 0]
            if got.size:
                subclass[f_idx[r]] = r
                subclass[got] = r
        _, subclass[subclass >= 0] = np.unique(subclass[subclass >= 0], return_inverse=True)
    kept = w > 0
    by_arm = (("treated", t == 1), ("control", t == 0))
    n_matched = {arm: int(np.sum(kept & m)) for arm, m in by_arm}
    n_unmatched = {arm: int(np.sum(~kept & m)) for arm, m in by_arm}
    caught: list[str] = []
    focal_name = "treated" if estimand == "ATT" else "control"
    if n_unmatched[focal_name]:
        caught.append(f"{where}: {n_unmatched[focal_name]} of {n_focal} {focal_name} patients found no match "
                      f"within the caliper (got {n_matched[focal_name]} matched); the estimate is for the matched "
                      f"{focal_name} patients. Report the unmatched count, or widen the caliper.")
    return MatchResult(weights=w, subclass=subclass, kept=kept, estimand=estimand, ratio=int(ratio),
                       replace=bool(replace), m_order=order, distance=distance, caliper=cal,
                       caliper_sd=None if caliper is None else float(caliper), exact=exact_names,
                       n_matched=n_matched, n_unmatched=n_unmatched, n_sets=int(np.sum(mm[:, 0] >= 0)),
                       diagnostics=_diagnostics(w[kept], t[kept]), warnings=tuple(caught))


def _diagnostics(wk: np.ndarray, tk: np.ndarray) -> pd.DataFrame:
    rows = []
    for arm, m in (("treated", tk == 1), ("control", tk == 0), ("overall", np.ones(tk.size, dtype=bool))):
        w = wk[m]
        rows.append({"arm": arm, "n": int(m.sum()), "sum": float(w.sum()), "min": float(w.min()),
                     "max": float(w.max()), "mean": float(w.mean()), "ess": kish_ess(w),
                     "top1_share": top_share(w)})
    return pd.DataFrame(rows)


def matched_survival(time: Any, event: Any, treatment: Any, match: MatchResult, *, outcome: str,
                     arm_labels: tuple[str, str], landmarks: Any = (), horizon: float | None = None,
                     alpha: float = 0.05, at_risk_times: Any = None) -> SurvivalComparison:
    r"""Survival comparison of a matched sample: curves, landmark survival, RMST, HR, log-rank.

    Parameters
    ----------
    time, event, treatment
        Per input patient, as :func:`~gistcausal.stats.comparison.compare_survival` (all patients: the
        unmatched carry weight 0 in ``match`` and drop out).
    match : MatchResult
        From :func:`match_nearest` on the same patients.
    outcome, arm_labels, landmarks, horizon, alpha, at_risk_times
        As :func:`~gistcausal.stats.comparison.compare_survival`.

    Returns
    -------
    SurvivalComparison
        ``method="matching"``, ``estimand`` the matching estimand. The hazard ratio's SE is the
        cluster-robust sandwich by matched set (``variance="robust"``, noted); ``surv_diff``, ``surv_ratio`` and
        ``rmst_diff`` use the infinitesimal-jackknife terms of both arms summed within matched sets. Per-arm
        curves and intervals are the weighted Kaplan-Meier with its robust (IJ) variance.

    Notes
    -----
    With matched set :math:`g` and dfbeta rows :math:`D_i` of the weighted Cox model (weights = matching
    weights), :math:`\widehat{\mathrm{Var}}(\hat\beta) = \sum_g (\sum_{i \in g} D_i)^2` (Lin & Wei 1989;
    R ``coxph(..., robust = TRUE, cluster = subclass)``). For a contrast :math:`\theta = \hat S_1(t) -
    \hat S_0(t)` the IJ terms are :math:`D_i = \partial\theta/\partial w_i\,w_i` (each arm's own terms,
    :func:`~gistcausal.stats.km.km_influence`) and :math:`\widehat{\mathrm{Var}}(\theta) = \sum_g (\sum_{i\in g}
    D_i)^2`. Austin (2014) recommends accounting for the matched design this way. With replacement every
    patient is its own cluster.
    """
    where = "matched_survival"
    alpha = check_alpha(alpha, where)
    t = np.asarray(time, dtype=float)
    ev = np.asarray(event, dtype=float)
    a = np.asarray(treatment, dtype=float)
    if not (t.size == ev.size == a.size == match.weights.size):
        raise DataError(f"{where}: time, event, treatment and the match must cover the same patients (got "
                        f"{t.size}, {ev.size}, {a.size} and {match.weights.size}). Match the same frame.")
    k = match.kept
    tk, ek, ak, wk = t[k], ev[k], a[k], match.weights[k]
    cl = match.subclass[k] if not match.replace else np.arange(int(k.sum()))
    comp = compare_survival(tk, ek, ak, weights=wk, outcome=outcome, estimand=match.estimand, method=METHOD,
                            landmarks=landmarks, horizon=horizon, alpha=alpha, arm_labels=arm_labels,
                            at_risk_times=at_risk_times)
    z = stats.norm.ppf(1 - alpha / 2)
    new = []
    for est in comp.estimates:
        if est.measure == "hr" and math.isfinite(est.value):
            new.append(_clustered_hr(est, tk, ek, ak, wk, cl, alpha, match.replace))
        elif est.measure in ("surv_diff", "surv_ratio", "rmst_diff") and math.isfinite(est.value):
            new.append(_clustered_contrast(est, tk, ek, ak, wk, cl, z))
        else:
            new.append(est)
    return dataclasses.replace(comp, estimates=tuple(new))


def _clustered_hr(est: EffectEstimate, t: np.ndarray, e: np.ndarray, a: np.ndarray, w: np.ndarray,
                  cl: np.ndarray, alpha: float, replace: bool) -> EffectEstimate:
    fit, _, se_c = cluster_robust_cox(t, e, a[:, None], cl, weights=w, alpha=alpha, names=["treatment"])
    b, se = float(fit.coef[0]), float(se_c[0])
    z = stats.norm.ppf(1 - alpha / 2)
    note = "robust SE (each patient its own cluster)" if replace else "SE clustered by matched set"
    return dataclasses.replace(est, value=math.exp(b), ci_low=math.exp(b - z * se), ci_high=math.exp(b + z * se),
                               se=se, p=float(2 * stats.norm.sf(abs(b / se))), variance="robust", note=note)


def _clustered_contrast(est: EffectEstimate, t: np.ndarray, e: np.ndarray, a: np.ndarray, w: np.ndarray,
                        cl: np.ndarray, z: float) -> EffectEstimate:
    """Re-estimate a two-arm contrast's SE with the IJ terms of both arms summed within matched sets."""
    infl = np.zeros(t.size)
    vals = []
    for code in (0, 1):
        m = a == code
        if est.measure == "rmst_diff":
            v, d = rmst_influence(t[m], e[m], weights=w[m], horizon=float(est.time))
        else:
            s, dm = km_influence(t[m], e[m], weights=w[m], times=[float(est.time)])
            v, d = float(s[0]), dm[:, 0]
        if est.measure == "surv_ratio":
            d = d / v               # delta method on log S
        infl[m] = d if code == 1 else -d
        vals.append(v)
    summed = np.bincount(pd.factorize(cl)[0], weights=infl)
    se = float(math.sqrt(np.sum(summed ** 2)))
    if est.measure == "surv_ratio":
        lr = math.log(vals[1] / vals[0])
        return dataclasses.replace(est, ci_low=math.exp(lr - z * se), ci_high=math.exp(lr + z * se), se=se,
                                   p=float(2 * stats.norm.sf(abs(lr) / se)) if se > 0 else math.nan,
                                   variance="robust", note="clustered by matched set")
    d = est.value
    return dataclasses.replace(est, ci_low=d - z * se, ci_high=d + z * se, se=se,
                               p=float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else math.nan, variance="robust",
                               note="clustered by matched set")


__all__ = ["MatchResult", "match_nearest", "match_weights", "matched_survival", "FOCAL", "METHOD"]
