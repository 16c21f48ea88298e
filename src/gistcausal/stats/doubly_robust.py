r"""Doubly robust (AIPTW-AIPCW) estimation of counterfactual survival and RMST.

:func:`aiptw_survival` estimates the treatment-specific survival :math:`S_a(t) = P(T^a > t)` at landmark
times and the restricted mean survival time :math:`\mathrm{RMST}_a(\tau) = \int_0^\tau S_a(t)\,dt` for
both arms, and their differences, under the ATE, ATT or ATC. Three nuisance models enter:

* the propensity score :math:`\pi(X) = P(A = 1 \mid X)` (logistic on ``X`` unless ``ps`` is given),
* the outcome model :math:`S(t \mid a, X)`: a Cox model per arm (default, ``outcome_model="cox_by_arm"``:
  covariate effects and baseline hazard free in each arm) or one Cox model with treatment as a covariate
  (``"cox"``: proportional hazards in treatment), each with the Breslow baseline hazard:
  :math:`\hat S(t \mid a, X) = \exp\{-\hat\Lambda_{0a}(t) e^{X^\top\hat\beta_a}\}`,
* the censoring model :math:`G(t \mid a, X) = P(C > t \mid a, X)`: Kaplan-Meier of the censoring times per
  arm (default, ``censoring="km"``: censoring independent of ``X`` within arm) or a Cox model for the
  censoring hazard per arm (``"cox"``), :math:`\hat G(t \mid a, X) = \exp\{-\hat\Lambda^C_{0a}(t)
  e^{X^\top\hat\gamma_a}\}`.

The estimator is consistent when the outcome model is correct, or when the propensity and censoring models
are both correct (Bai, Tsiatis & O'Brien 2013; Ozenne et al. 2020).

Estimator
---------
Write :math:`\tilde T_i, \Delta_i` for the observed time and event indicator, :math:`S_i(t) =
\hat S(t \mid a, X_i)`, :math:`G_i(t) = \hat G(t \mid a, X_i)` (right-continuous; :math:`G_i(u-)` its
left limit), :math:`d\hat\Lambda^C_i` the censoring hazard increments and :math:`Y^C_i(u) =
1\{\tilde T_i > u\} + 1\{\tilde T_i = u, \Delta_i = 0\}` (events precede censorings at tied times).
The augmented IPCW transform of :math:`1\{T_i \le t\}` (the AIPCW term of Ozenne et al. 2020 and
Bai et al. 2013, with :math:`E\{1(T \le t) \mid T > u, X\} = 1 - S(t \mid X)/S(u \mid X)`; Tsiatis
2006, chapters 9-10) is

.. math:: V_i(t) = \frac{\Delta_i 1\{\tilde T_i \le t\}}{G_i(\tilde T_i-)} + \int_0^{t}
          \frac{S_i(u) - S_i(t)}{S_i(u)\,G_i(u-)}\,d\hat M^C_i(u), \qquad
          d\hat M^C_i(u) = dN^C_i(u) - Y^C_i(u)\,d\hat\Lambda^C_i(u),

and :math:`U_i(t) = 1 - V_i(t)` is the transform of :math:`1\{T_i > t\}` that enters :func:`aiptw_survival`.
With :math:`S_i(t) = \hat S(t \mid a, X_i)`, target indicator :math:`D_i` (ATE 1, ATT :math:`A_i`, ATC
:math:`1 - A_i`) and tilt :math:`h_i` (ATE 1, ATT :math:`\hat\pi_i`, ATC :math:`1-\hat\pi_i`),

.. math:: \hat S_a(t) = \frac{1}{\sum_i D_i} \sum_i \Big[ D_i S_i(t) + \frac{1\{A_i = a\}\, h_i}
          {\hat\pi_a(X_i)} \{U_i(t) - S_i(t)\} \Big], \qquad \hat\pi_1 = \hat\pi,\;
          \hat\pi_0 = 1 - \hat\pi.

For the ATE this is one minus riskRegression's ``ate(..., estimator = "AIPTW,AIPCW")`` risk
(identical to 1e-6 on data without ties, ``tests/reference/doubly_robust``); for the ATT/ATC the
other arm uses the efficient form of Hahn (1998). :math:`\widehat{\mathrm{RMST}}_a(\tau) =
\int_0^\tau \hat S_a(t)\,dt` integrates the same linear estimator exactly over the step functions.

Variance
--------
With ``variance="influence_function"`` (notation of "Estimator" above), with
:math:`\phi_i = \frac{n}{\sum_j D_j} [D_i S_i(t) + 1\{A_i=a\} h_i \hat\pi_a(X_i)^{-1}
\{U_i(t) - S_i(t)\} - D_i \hat S_a(t)]`, the estimated efficient influence function,
:math:`\widehat{\mathrm{se}} = n^{-1}(\sum_i \phi_i^2)^{1/2}`; differences use
:math:`\phi_{i,1} - \phi_{i,0}` and RMST :math:`\int_0^\tau \phi_i(t)\,dt`. This treats the
nuisance models as known (riskRegression's ``known.nuisance = TRUE``). It is consistent when all
models are correct, since the estimator then is efficient and the estimation of the nuisance
parameters adds nothing at first order; when a model may be misspecified use ``"bootstrap"``.
Intervals are Wald intervals on the identity scale, and estimates are not constrained to [0, 1]
or to be monotone in t (the price of double robustness).

With ``variance="bootstrap"``, ``n_boot`` nonparametric bootstrap samples refit every nuisance model (the
propensity model only when ``ps`` is None); SE = bootstrap SD, percentile interval; samples with an empty arm,
an arm without events, too short follow-up or a failed fit are skipped and counted.

Special cases
-------------
Covariates are dropped from a Cox model (with a :class:`SmallSampleWarning` kept in
``warnings``) where they are constant within the arm or binary with no events (censorings, for the
censoring model) in one level, whose coefficient would be infinite.

With no covariates, the logistic propensity score is the arm proportion, the model terms cancel
and the censoring augmentation sums to zero, so :math:`\hat S_a(t)` equals the Kaplan-Meier
estimate of arm a exactly (``censoring="km"``).

Computation: every per-patient function of time is a step function on the grid of distinct observed
times up to :math:`\max(t, \tau)`; patients sharing the same outcome and censoring risk scores share their
rows, so discrete covariates cost O(#levels x #times) and continuous ones O(n x #times), processed in
blocks of rows to keep memory bounded.

References
----------
Bai X, Tsiatis AA, O'Brien SM (2013). Doubly-robust estimators of treatment-specific survival distributions
in observational studies with stratified sampling. Biometrics 69:830-839.
Ozenne BMH, Scheike TH, Staerk L, Gerds TA (2020). On the estimation of average treatment effects with
right-censored time to event outcome and competing risks. Biometrical Journal 62:751-763 (R package
riskRegression, function ``ate``, estimator "AIPTW,AIPCW").
Tsiatis AA (2006). Semiparametric Theory and Missing Data. Springer, chapters 9-10 (augmented IPCW).
Hahn J (1998). On the role of the propensity score in efficient semiparametric estimation of average
treatment effects. Econometrica 66:315-331 (efficient influence function of the ATT).
Robins JM, Rotnitzky A (1992). Recovery of information and adjustment for dependent censoring using
surrogate markers. In: AIDS Epidemiology, Birkhauser, 297-331.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from gistcausal.effects import json_safe, EstimatesMixin, EffectEstimate
from gistcausal.errors import (
    CohortError,
    ConfigError,
    DataError,
    ModelFitError,
    PositivityError,
    PositivityWarning,
    SeparationError,
    SmallSampleWarning,
)
from gistcausal._checks import ESTIMANDS as _REGISTRY, check_estimand
from gistcausal._checks import as_float as _as_float, check_alpha as _check_alpha
from gistcausal._checks import check_survival_inputs as _check_inputs

OutcomeModel = Literal["cox_by_arm", "cox"]
CensoringModel = Literal["km", "cox"]
Variance = Literal["influence_function", "bootstrap"]

#: Estimands the doubly robust estimator supports, with the target-population indicator
#: :math:`D_i` (``"all"``, ``"treated"``, ``"control"``) of its influence function; from the one registry
#: (:data:`gistcausal._checks.ESTIMANDS`, ``aiptw``).
ESTIMANDS: dict[str, str] = {k: v["target"] for k, v in _REGISTRY.items() if v["aiptw"]}
OUTCOME_MODELS = ("cox_by_arm", "cox")
CENSORING_MODELS = ("km", "cox")
VARIANCES = ("influence_function", "bootstrap")
#: Propensity scores below this or above one minus this raise a PositivityWarning (as weights.py).
POSITIVITY_BOUND = 0.01
_BLOCK = 2_000_000          # cells of a block of rows (see _rows_per_block)
_WHERE = "aiptw_survival"


# ----------------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DoublyRobustResult(EstimatesMixin):
    r"""AIPTW estimates of counterfactual survival and RMST (aggregates only).

    Attributes
    ----------
    outcome, estimand : str
    arm_labels : (str, str)
        Control (treatment 0) and treated (treatment 1) names.
    estimates : tuple of EffectEstimate
        ``method="aiptw"``; per arm ``surv`` at each landmark and ``rmst`` at the horizon, and
        ``surv_diff`` / ``rmst_diff`` (treated minus control).
    alpha : float
    settings : dict
        ``outcome_model``, ``censoring``, ``variance``, ``ps_source`` (``"fitted"`` or ``"given"``),
        ``n_boot`` and ``n_boot_failed`` (bootstrap only), covariate names.
    diagnostics : dict
        Patients and events per arm, range of the propensity score, smallest censoring survival
        :math:`\min_i \hat G(t_{\max} \mid A_i, X_i)` per arm.
    warnings : tuple of str
    """

    outcome: str
    estimand: str
    arm_labels: tuple[str, str]
    estimates: tuple[EffectEstimate, ...]
    alpha: float
    settings: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """Paper-ready text, one line per estimate."""
        s = self.settings
        head = (f"{self.outcome}: {self.arm_labels[1]} vs {self.arm_labels[0]} (AIPTW-AIPCW, estimand "
                f"{self.estimand}; outcome model {s.get('outcome_model')}, censoring model "
                f"{s.get('censoring')}, propensity {s.get('ps_source')}; variance {s.get('variance')})")
        lines = [head] + ["  " + e.summary() for e in self.estimates]
        lines += ["  warning: " + w for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN -> None)."""
        return {"outcome": self.outcome, "estimand": self.estimand, "method": "aiptw",
                "arm_labels": list(self.arm_labels), "alpha": self.alpha,
                "estimates": [e.to_dict() for e in self.estimates],
                "settings": json_safe(self.settings), "diagnostics": json_safe(self.diagnostics),
                "warnings": list(self.warnings)}


# ----------------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------------
def _covariates(X: Any, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Numeric design matrix from an array or DataFrame; categorical columns become 0/1 dummies."""
    if X is None:
        return np.empty((n, 0)), ()
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        if len(X) != n:
            raise DataError(f"{_WHERE}: `X` must have one row per patient (got {len(X)} rows for {n} "
                            f"times). Pass covariates of the same patients, in the same order.")
        for col in X.columns:
            bad = int(X[col].isna().sum())
            if X[col].dtype.kind in "fc":
                bad += int(np.isinf(X[col].to_numpy()).sum())
            if bad:
                raise DataError(f"{_WHERE}: column '{col}' of X has missing or infinite values (got {bad} "
                                f"of {n} rows). Impute or drop these rows first.")
        cat = [c for c in X.columns if X[c].dtype.kind in "OSUb" or isinstance(X[c].dtype, pd.CategoricalDtype)
               or X[c].dtype == bool]
        num = [c for c in X.columns if c not in cat]
        parts = [X[num].astype(float)] if num else []
        for c in cat:
            s = X[c]
            if s.dtype == bool:
                parts.append(s.astype(float).rename(str(c)).to_frame())
                continue
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.unique())
            # first level is the reference, as R's factor() and gistcausal.stats.propensity
            dummies = pd.DataFrame({f"{c}[{lv}]": (s == lv).astype(float).to_numpy() for lv in levels[1:]},
                                   index=X.index)
            parts.append(dummies)
        frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=X.index)
        return frame.to_numpy(dtype=float).reshape(n, -1), tuple(str(c) for c in frame.columns)
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{_WHERE}: `X` must be numeric (got dtype {np.asarray(X).dtype}). Pass a "
                        f"DataFrame (categories become dummies) or a numeric array.") from err
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise DataError(f"{_WHERE}: `X` must have one row per patient (got shape {arr.shape} for {n} "
                        f"times). Pass a 2-D array with {n} rows.")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        cols = [f"x{j + 1}" for j in np.flatnonzero((~np.isfinite(arr)).any(axis=0))]
        raise DataError(f"{_WHERE}: columns {cols} of X have missing or infinite values (got {bad} values). "
                        f"Impute or drop these rows first.")
    return arr, tuple(f"x{j + 1}" for j in range(arr.shape[1]))


def _check_times(landmarks: Any, horizon: Any, last: dict[str, float]) -> tuple[np.ndarray, float | None]:
    """Landmarks and horizon must be positive and below every arm's last follow-up time."""
    lm = np.atleast_1d(np.asarray(landmarks, dtype=float)).ravel()
    arm, lim = min(last.items(), key=lambda kv: kv[1])
    for key, vals in (("landmarks", lm), ("horizon", [] if horizon is None else [horizon])):
        for v in vals:
            try:
                x = float(v)
            except (TypeError, ValueError) as err:
                raise DataError(f"{_WHERE}: `{key}` must be numbers (got {v!r}). Pass times in the "
                                f"outcome's unit.") from err
            if not (math.isfinite(x) and x > 0):
                raise DataError(f"{_WHERE}: `{key}` must be positive finite times (got {v!r}). Pass "
                                f"times in the outcome's unit.")
            if x >= lim:
                # the censoring survival G can be 0 at an arm's last time: the IPCW term is undefined
                raise DataError(f"{_WHERE}: `{key}` must be below the last follow-up time of arm "
                                f"'{arm}' (got {x:g} >= {lim:g}). Choose {key} < {lim:g}, where "
                                f"patients remain at risk.")
    if lm.size == 0 and horizon is None:
        raise DataError(f"{_WHERE}: nothing to estimate (got no landmarks and no horizon). Pass "
                        f"`landmarks`, `horizon`, or both.")
    return lm, None if horizon is None else float(horizon)


# ----------------------------------------------------------------------------------------------------
# nuisance models
# ----------------------------------------------------------------------------------------------------
def _logistic(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Maximum-likelihood logistic regression of ``a`` on ``[1, x]`` by Newton-Raphson; fitted scores."""
    d = np.c_[np.ones(a.size), x]
    beta = np.zeros(d.shape[1])
    beta[0] = math.log(a.mean() / (1 - a.mean()))
    for _ in range(100):
        p = 1 / (1 + np.exp(-(d @ beta)))
        info = (d * (p * (1 - p))[:, None]).T @ d
        try:
            step = np.linalg.solve(info, d.T @ (a - p))
        except np.linalg.LinAlgError as err:
            raise ModelFitError(f"{_WHERE}: the propensity model's information matrix is singular (got "
                                f"{x.shape[1]} covariates). Remove collinear or constant covariates.") from err
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    p = 1 / (1 + np.exp(-(d @ beta)))
    if np.max(np.abs(beta)) > 30 or p.min() < 1e-12 or p.max() > 1 - 1e-12:
        raise SeparationError(f"{_WHERE}: the propensity model separates the arms (got fitted scores "
                              f"in [{p.min():.2g}, {p.max():.2g}]). Use a Firth propensity model "
                              f"(gistcausal.stats.propensity) and pass its scores as `ps`.")
    return p


def _estimable(x: np.ndarray, d: np.ndarray, names: tuple[str, ...], what: str,
               notes: list[str]) -> np.ndarray:
    """Columns a Cox model of ``d`` on ``x`` can estimate: not constant, and binary columns with events
    in both levels (otherwise the coefficient is infinite: monotone likelihood, Therneau & Grambsch 2000).

    Dropped columns are listed in ``notes``: within one arm a rare category often has no events.
    """
    keep = np.zeros(x.shape[1], dtype=bool)
    dropped = []
    for j in range(x.shape[1]):
        lv = np.unique(x[:, j])
        ok = lv.size > 1 and not (lv.size == 2 and min(d[x[:, j] == v].sum() for v in lv) == 0)
        keep[j] = ok
        if not ok:
            dropped.append(names[j])
    if dropped:
        notes.append(f"{_WHERE}: the {what} leaves out {len(dropped)} covariates that are constant or "
                     f"have no events in one level (got {dropped}). Group rare categories if they "
                     f"matter for this model.")
    return keep


def _cox_coef(t: np.ndarray, d: np.ndarray, x: np.ndarray, names: tuple[str, ...], what: str) -> np.ndarray:
    """Efron-ties Cox coefficients (gistcausal.stats.cox); an empty design gives no coefficients."""
    from gistcausal.stats.cox import cox_fit

    if x.shape[1] == 0:
        return np.zeros(0)
    try:
        return cox_fit(t, d, x, names=names).coef
    except ModelFitError as err:
        raise ModelFitError(f"{_WHERE}: the {what} cannot be fitted ({err}). Remove or group the "
                            f"covariate named there.") from err


def _breslow(t: np.ndarray, d: np.ndarray, lp: np.ndarray, grid: np.ndarray, *,
             events_first: bool = False) -> np.ndarray:
    r"""Breslow increments :math:`d\Lambda_0(u) = \sum_{T_i = u} d_i / \sum_{T_i \ge u} e^{lp_i}` on ``grid``.

    ``events_first`` (the censoring model): at a time shared by an event and a censoring the event comes
    first, so patients with an *outcome* event at ``u`` (``d`` holds the censoring indicator) leave the
    censoring risk set before ``u``; as the censoring Kaplan-Meier below.
    """
    order = np.argsort(t, kind="stable")
    ts, ds, rs = t[order], d[order], np.exp(lp[order])
    first = np.r_[True, ts[1:] != ts[:-1]]
    start = np.flatnonzero(first)
    ut = ts[start]
    risk = np.cumsum(np.add.reduceat(rs, start)[::-1])[::-1]
    if events_first:
        risk = risk - np.add.reduceat(rs * (1 - ds), start)
    dn = np.add.reduceat(ds, start)
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(dn > 0, dn / risk, 0.0)
    pos = np.searchsorted(ut, grid)
    hit = (pos < ut.size) & (ut[np.minimum(pos, ut.size - 1)] == grid)
    out = np.zeros(grid.size)
    out[hit] = inc[pos[hit]]
    return out


@dataclass(frozen=True, slots=True)
class _ArmModels:
    """Nuisance pieces for one counterfactual arm a on the time grid (internal)."""

    cumhaz0: np.ndarray     # outcome baseline cumulative hazard Lambda_0(u_j)
    r_all: np.ndarray       # outcome risk multipliers exp(lp_i) under arm a, all patients
    cumhaz_c: np.ndarray    # -log G_0(u_j): censoring baseline
    dlam_c: np.ndarray      # censoring hazard increments at u_j (baseline)
    c_arm: np.ndarray       # censoring multipliers of arm-a patients (1 for KM)


def _nuisance(t: np.ndarray, d: np.ndarray, a: np.ndarray, x: np.ndarray, names: tuple[str, ...],
              grid: np.ndarray, outcome_model: str, censoring: str, labels: tuple[str, str],
              notes: list[str]) -> list[_ArmModels]:
    out: list[_ArmModels] = []
    pooled = None
    if outcome_model == "cox":
        keep = _estimable(x, d, names, "outcome Cox model", notes)
        nm = ("treatment", *[n for n, k in zip(names, keep) if k])
        beta = _cox_coef(t, d, np.c_[a, x[:, keep]], nm, "outcome Cox model")
        xc = x[:, keep] - x[:, keep].mean(axis=0)
        lp_fit = beta[0] * a + xc @ beta[1:]
        pooled = (beta, xc, np.cumsum(_breslow(t, d, lp_fit, grid)))
    for arm in (0, 1):
        m = a == arm
        if pooled is None:
            what = f"outcome Cox model of arm '{labels[arm]}'"
            keep = _estimable(x[m], d[m], names, what, notes)
            xa = x[m][:, keep]
            centre = xa.mean(axis=0)
            beta = _cox_coef(t[m], d[m], xa, tuple(n for n, k in zip(names, keep) if k), what)
            lp_fit = (xa - centre) @ beta
            cumhaz0 = np.cumsum(_breslow(t[m], d[m], lp_fit, grid))
            r_all = np.exp((x[:, keep] - centre) @ beta)
        else:
            beta, xc, cumhaz0 = pooled
            r_all = np.exp(beta[0] * arm + xc @ beta[1:])
        cens = 1.0 - d[m]
        if censoring == "km":
            # Kaplan-Meier of censoring, events before censorings at tied times
            dl = _breslow(t[m], cens, np.zeros(int(m.sum())), grid, events_first=True)
            with np.errstate(divide="ignore"):
                cumhaz_c = -np.cumsum(np.log1p(-np.minimum(dl, 1.0)))
            c_arm = np.ones(int(m.sum()))
        else:
            what = f"censoring Cox model of arm '{labels[arm]}'"
            keep = _estimable(x[m], cens, names, what, notes)
            xa = x[m][:, keep]
            centre = xa.mean(axis=0)
            # censorings just after tied events, so the fit's risk sets match `events_first`
            tc = np.where(cens == 1, np.nextafter(t[m], np.inf), t[m])
            gamma = _cox_coef(tc, cens, xa, tuple(n for n, k in zip(names, keep) if k), what)
            lp_c = (xa - centre) @ gamma
            dl = _breslow(t[m], cens, lp_c, grid, events_first=True)
            cumhaz_c = np.cumsum(dl)
            c_arm = np.exp(lp_c)
        out.append(_ArmModels(cumhaz0=cumhaz0, r_all=r_all, cumhaz_c=cumhaz_c, dlam_c=dl, c_arm=c_arm))
    return out


# ----------------------------------------------------------------------------------------------------
# per-patient pieces
# ----------------------------------------------------------------------------------------------------
def _groups(r: np.ndarray, c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values of ``r`` (or of the pairs (``r``, ``c``)) and each patient's group index.

    Returns the groups' ``r`` and ``c`` values (``c`` None when not given) and the group index per patient;
    groups are sorted by (``c``, ``r``)."""
    if c is None:
        uniq, inv = np.unique(r, return_inverse=True)
        return uniq, None, inv.ravel()
    order = np.lexsort((r, c))
    rs, cs = r[order], c[order]
    new = np.r_[True, (rs[1:] != rs[:-1]) | (cs[1:] != cs[:-1])]
    inv = np.empty(r.size, dtype=np.intp)
    inv[order] = np.cumsum(new) - 1
    return rs[new], cs[new], inv


def _rows_per_block(m: int) -> int:
    """Rows of an (rows x m) block: about _BLOCK cells, so the few block arrays stay in the CPU cache."""
    return max(1, _BLOCK // max(m, 1))


def _cumsum_rows(x: np.ndarray) -> np.ndarray:
    """``x`` replaced in place by its cumulative sum down the rows (``np.cumsum(x, axis=0)``, the same additions
    in the same order): one vector addition per row across the columns, which a processor pipelines, where
    ``np.cumsum`` along an axis adds one element at a time (about 1.3 against 4.4 ns per element, issue 17)."""
    for j in range(1, x.shape[0]):
        np.add(x[j - 1], x[j], out=x[j])
    return x


def _model_term(r: np.ndarray, cumhaz0: np.ndarray, jt: np.ndarray, width: np.ndarray
                ) -> np.ndarray:
    r"""Outcome-model survival :math:`S(t \mid a, X_i) = \exp\{-r_i \Lambda_0(t)\}` at the landmark columns
    ``jt`` and its integral :math:`\sum_j w_j S(u_j \mid a, X_i)` (last column)."""
    uniq, _, inv = _groups(r)
    vals = np.empty((uniq.size, jt.size + 1))
    if uniq.size == 0:
        return vals
    vals[:, :jt.size] = np.exp(-uniq[:, None] * cumhaz0[jt][None, :])
    rows = _rows_per_block(cumhaz0.size)
    neg = -cumhaz0
    buf = np.empty((min(rows, uniq.size), cumhaz0.size))
    for g0 in range(0, uniq.size, rows):
        g1 = min(g0 + rows, uniq.size)
        s = np.multiply(uniq[g0:g1, None], neg[None, :], out=buf[:g1 - g0])
        np.exp(s, out=s)
        vals[g0:g1, jt.size] = s @ width
    return vals[inv]


def _aipcw_term(r: np.ndarray, c: np.ndarray, k: np.ndarray, event: np.ndarray, cumhaz0: np.ndarray,
                cumhaz_c: np.ndarray, dlam_c: np.ndarray, jt: np.ndarray, width: np.ndarray,
                tau: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Augmented IPCW transform :math:`U_i(t) = 1 - V_i(t)` at the landmark columns and its integral, and
    the outcome-model term of the same patients (as :func:`_model_term`, from the same rows).

    :math:`V_i(t) = \frac{\Delta_i 1\{\tilde T_i \le t\}}{G_i(\tilde T_i-)} + \sum_{u_j \le t}
    \frac{S_i(u_j) - S_i(t)}{S_i(u_j)\,G_i(u_j-)}\{dN^C_i(u_j) - Y^C_i(u_j)\,d\Lambda^C_i(u_j)\}` with
    :math:`Y^C_i(u) = 1\{\tilde T_i > u\} + 1\{\tilde T_i = u, \Delta_i = 0\}` (events before
    censorings at tied times). Since the IPCW term and the jump of :math:`dN^C` share :math:`1/G_i(\tilde
    T_i-)`, :math:`V_i(t) = 1\{\tilde T_i \le t\}/G_i(\tilde T_i-) - A_i(t) - S_i(t)\{J_i(t) - B_i(t)\}`
    with compensator sums :math:`A_i, B_i` of :math:`d\Lambda^C_i/G_i(u-)` and
    :math:`d\Lambda^C_i/\{S_i(u) G_i(u-)\}` over the at-risk grid points up to t and
    :math:`J_i(t) = (1-\Delta_i) 1\{\tilde T_i \le t\}/\{S_i(\tilde T_i) G_i(\tilde T_i-)\}`.
    ``k`` is the grid index of :math:`\tilde T_i` (the grid size when beyond it). The integral over t uses
    exclusive prefix sums of :math:`w_j S_i(u_j)`, :math:`w_j A_i(u_j)` and :math:`w_j S_i(u_j) B_i(u_j)`.

    Cost: patients with equal (``r``, ``c``) share their rows, so the work is O(#groups x #times), in blocks
    of rows small enough to stay in the CPU cache. With a censoring model free of covariates (``c``
    constant: Kaplan-Meier) :math:`G` and :math:`A` are one row shared by everyone; values at a patient's
    own time and at the landmarks are computed directly rather than read from the rows.
    """
    m = cumhaz0.size
    n = r.size
    out, model = np.empty((n, jt.size + 1)), np.empty((n, jt.size + 1))
    if n == 0:
        return out, model
    const_c = bool(np.all(c == c[0]))
    ur, uc, inv = _groups(r) if const_c else _groups(r, c)
    n_groups = ur.size
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(n_groups + 1))
    lim = np.minimum(k + (1 - event).astype(np.int64), m)      # grid columns at risk of censoring
    w_pre = np.r_[0.0, np.cumsum(width)]                        # sum_{j < k} w_j
    cumhaz_c_left = np.r_[0.0, cumhaz_c[:-1]]                   # Lambda_C(u_j-)
    neg0 = -cumhaz0
    if const_c:                                                 # G(u-), A(u) and its prefix sums: one row
        c0 = float(c[0])
        da_row = c0 * dlam_c * np.exp(c0 * cumhaz_c_left)
        a_row = np.cumsum(da_row)
        pa_row = np.r_[0.0, np.cumsum(width * a_row)]
    rows = min(_rows_per_block(m), n_groups)
    # time-major blocks (grid time x group): a cumulative sum over time is then one vector addition per time
    # across the block's groups (_cumsum_rows), several times faster than np.cumsum along each row
    s_buf, b_buf = np.empty((m, rows)), np.empty((m, rows))
    ws_buf = np.empty((m, rows))
    ps_buf, psb_buf = np.zeros((m + 1, rows)), np.zeros((m + 1, rows))   # row 0 stays 0 (exclusive sums)
    if not const_c:
        a_buf, pa_buf = np.empty((m, rows)), np.zeros((m + 1, rows))
    width_col = width[:, None]
    for g0 in range(0, n_groups, rows):
        g1 = min(g0 + rows, n_groups)
        nr = g1 - g0
        rr = ur[None, g0:g1]
        s = np.multiply(neg0[:, None], rr, out=s_buf[:, :nr])
        np.exp(s, out=s)                                                  # S_i(u_j)
        b_cum = b_buf[:, :nr]
        if const_c:
            np.divide(da_row[:, None], s, out=b_cum)
        else:
            cc = uc[None, g0:g1]
            da = np.multiply(cumhaz_c_left[:, None], cc, out=a_buf[:, :nr])
            np.exp(da, out=da)                                            # 1 / G_i(u_j-)
            np.multiply(da, dlam_c[:, None], out=da)
            np.multiply(da, cc, out=da)                                   # dLambda^C_i(u_j) / G_i(u_j-)
            np.divide(da, s, out=b_cum)
            a_cum = _cumsum_rows(da)
            p_a = pa_buf[:, :nr]
            np.multiply(a_cum, width_col, out=p_a[1:])
            _cumsum_rows(p_a[1:])
        _cumsum_rows(b_cum)
        ws = np.multiply(s, width_col, out=ws_buf[:, :nr])
        p_s, p_sb = ps_buf[:, :nr], psb_buf[:, :nr]
        np.multiply(ws, b_cum, out=p_sb[1:])
        _cumsum_rows(p_sb[1:])
        p_s[1:] = ws
        _cumsum_rows(p_s[1:])
        tot_s = p_s[-1]

        idx = order[bounds[g0]:bounds[g1]]
        gi = inv[idx] - g0
        ri = ur[g0 + gi]
        ki, li, cen = k[idx], lim[idx], 1.0 - event[idx]
        inside = ki < m
        kk = np.minimum(ki, m - 1)
        g_cols = cumhaz_c_left[kk] * (c0 if const_c else uc[g0 + gi])
        ipcw = np.where(inside, np.exp(g_cols), 0.0)                      # 1 / G(T-) for T on the grid
        jump = np.where(inside & (cen == 1), ipcw / np.exp(-ri * cumhaz0[kk]), 0.0)
        last = np.maximum(li - 1, 0)
        if const_c:
            a_lim = np.where(li > 0, a_row[last], 0.0)
            pa_li = pa_row[li]
        else:
            a_lim = np.where(li > 0, a_cum[last, gi], 0.0)
            pa_li = p_a[li, gi]
        b_lim = np.where(li > 0, b_cum[last, gi], 0.0)
        int_v = (ipcw * (tau - w_pre[ki]) - (pa_li + a_lim * (tau - w_pre[li]))
                 - jump * (tot_s[gi] - p_s[ki, gi]) + p_sb[li, gi] + b_lim * (tot_s[gi] - p_s[li, gi]))
        out[idx, jt.size] = tau - int_v
        model[idx, jt.size] = tot_s[gi]
        for q, j in enumerate(jt):
            col = np.minimum(j, li - 1)                           # last at-risk column up to t
            ok = col >= 0
            colc = np.maximum(col, 0)
            a_j = np.where(ok, a_row[colc] if const_c else a_cum[colc, gi], 0.0)
            b_j = np.where(ok, b_cum[colc, gi], 0.0)
            hit = ki <= j
            s_j = np.exp(-ri * cumhaz0[j])
            v = ipcw * hit - a_j - s_j * (jump * hit - b_j)
            out[idx, q] = 1.0 - v
            model[idx, q] = s_j
    return out, model


@dataclass(frozen=True, slots=True)
class _Terms:
    """Per-patient pieces of both arms that do not depend on the estimand (internal): the outcome-model
    term :math:`S_i(t)` and the AIPCW transform :math:`U_i(t)` (0 outside the arm) at the landmarks and
    integrated to the horizon (last column), per arm."""

    model: tuple[np.ndarray, np.ndarray]
    aipcw: tuple[np.ndarray, np.ndarray]
    min_g: dict


def _terms(t: np.ndarray, d: np.ndarray, a: np.ndarray, x: np.ndarray, names: tuple[str, ...],
           landmarks: np.ndarray, tau: float | None, outcome_model: str, censoring: str,
           labels: tuple[str, str], notes: list[str]) -> _Terms:
    """Fit the outcome and censoring models and evaluate :math:`S_i` and :math:`U_i` for every patient."""
    t_max = max([*landmarks.tolist(), *([] if tau is None else [tau])])
    grid = np.unique(np.r_[0.0, t[t <= t_max]])
    jt = np.searchsorted(grid, landmarks, side="right") - 1
    nxt = np.r_[grid[1:], np.inf]
    width = np.clip(np.minimum(nxt, tau if tau is not None else 0.0) - grid, 0.0, None)
    models = _nuisance(t, d, a, x, names, grid, outcome_model, censoring, labels, notes)
    n = t.size
    k = np.searchsorted(grid, t, side="left")
    model, aipcw, min_g = [], [], {}
    for arm in (0, 1):
        mod = models[arm]
        mask = a == arm
        m_i = np.empty((n, jt.size + 1))
        m_i[~mask] = _model_term(mod.r_all[~mask], mod.cumhaz0, jt, width)
        u_i = np.zeros_like(m_i)
        u_i[mask], m_i[mask] = _aipcw_term(mod.r_all[mask], mod.c_arm, k[mask], d[mask], mod.cumhaz0,
                                           mod.cumhaz_c, mod.dlam_c, jt, width, 0.0 if tau is None else tau)
        if tau is None:
            m_i, u_i = m_i[:, :-1], u_i[:, :-1]
        model.append(m_i)
        aipcw.append(u_i)
        min_g[labels[arm]] = float(np.exp(-mod.c_arm.max(initial=0.0) * mod.cumhaz_c[-1]))
    return _Terms(model=(model[0], model[1]), aipcw=(aipcw[0], aipcw[1]), min_g=min_g)


def _combine(terms: _Terms, a: np.ndarray, ps: np.ndarray, estimand: str) -> tuple[np.ndarray, np.ndarray]:
    r"""Point estimates :math:`\hat S_a` (2 arms x quantities) and influence values :math:`\phi_i`
    (n x 2 x quantities) of ``estimand`` from the estimand-free terms (module docstring, "Estimator")."""
    n = a.size
    target = {"all": np.ones(n), "treated": a.astype(float), "control": 1.0 - a}[ESTIMANDS[estimand]]
    tilt = {"all": np.ones(n), "treated": ps, "control": 1.0 - ps}[ESTIMANDS[estimand]]
    nq = terms.model[0].shape[1]
    psi = np.empty((2, nq))
    phi = np.empty((n, 2, nq))
    for arm in (0, 1):
        m_i, u_i = terms.model[arm], terms.aipcw[arm]
        pi_a = ps if arm == 1 else 1.0 - ps
        rho = np.where(a == arm, tilt / pi_a, 0.0)
        contrib = target[:, None] * m_i + rho[:, None] * (u_i - m_i)
        est = contrib.sum(axis=0) / target.sum()
        psi[arm] = est
        phi[:, arm, :] = (n / target.sum()) * (contrib - target[:, None] * est[None, :])
    return psi, phi


# ----------------------------------------------------------------------------------------------------
# checks, propensity scores, intervals and estimates of the public function
# ----------------------------------------------------------------------------------------------------
def _check_options(estimand: str, outcome_model: str, censoring: str, variance: str) -> None:
    check_estimand(estimand, where=_WHERE, supported="aiptw")
    for key, val, allowed in (("outcome_model", outcome_model, OUTCOME_MODELS),
                              ("censoring", censoring, CENSORING_MODELS),
                              ("variance", variance, VARIANCES)):
        if val not in allowed:
            raise ConfigError(f"{_WHERE}: `{key}` must be one of {list(allowed)} (got {val!r}). Use "
                              f"{allowed[0]!r}.")


def _check_arms(treatment: Any, d: np.ndarray, n: int, labels: tuple[str, str]) -> np.ndarray:
    """Treatment as 0/1 floats; each arm non-empty and with events (its outcome model needs them)."""
    a = _as_float(treatment, "treatment", _WHERE)
    if a.size != n or not np.isin(a, (0.0, 1.0)).all():
        raise DataError(f"{_WHERE}: `treatment` must be 0/1 with one value per patient (got {a.size} "
                        f"values, {int((~np.isin(a, (0.0, 1.0))).sum())} not 0/1). Code "
                        f"{labels[0]} as 0 and {labels[1]} as 1.")
    for arm in (0, 1):
        m = a == arm
        if not m.any():
            raise CohortError(f"{_WHERE}: arm '{labels[arm]}' is empty (got 0 patients). Check the "
                              f"cohort definition and treatment coding.")
        if d[m].sum() == 0:
            raise ModelFitError(f"{_WHERE}: arm '{labels[arm]}' has no events (got 0 events in "
                                f"{int(m.sum())} patients). Its outcome model cannot be fitted; report "
                                f"the follow-up of that arm instead.")
    return a


def _check_data(time: Any, event: Any, treatment: Any, X: Any, landmarks: Any, horizon: Any, alpha: Any,
                labels: tuple[str, str]) -> tuple[Any, ...]:
    """Times, events, 0/1 treatment, covariate matrix and names, landmarks, horizon and alpha, all checked."""
    t, d, _ = _check_inputs(time, event, None, _WHERE)
    alpha = _check_alpha(alpha, _WHERE)
    a = _check_arms(treatment, d, t.size, labels)
    x, names = _covariates(X, t.size)
    last = {labels[arm]: float(t[a == arm].max()) for arm in (0, 1)}
    lm, tau = _check_times(landmarks, horizon, last)
    return t, d, a, x, names, lm, tau, alpha


def _propensity_scores(ps: Any, a: np.ndarray, x: np.ndarray, n: int) -> tuple[np.ndarray, str, str]:
    """Given scores (checked: one per patient, in (0, 1)) or the logistic fit of ``a`` on ``[1, X]``.

    Returns the scores, their source (``"given"``/``"fitted"``) and a positivity warning message (empty when
    all scores lie in [POSITIVITY_BOUND, 1 - POSITIVITY_BOUND]).
    """
    if ps is None:
        ps_arr, source = _logistic(a, x), "fitted"
    else:
        ps_arr, source = _as_float(ps, "ps", _WHERE), "given"
        if ps_arr.size != n:
            raise DataError(f"{_WHERE}: `ps` must have one score per patient (got {ps_arr.size} for {n} "
                            f"patients). Pass the scores of the same patients, in order.")
        bad = int((~np.isfinite(ps_arr)).sum() + (ps_arr < 0).sum() + (ps_arr > 1).sum())
        if bad:
            raise DataError(f"{_WHERE}: `ps` must be probabilities in [0, 1] (got {bad} missing or out of "
                            f"range). Recompute the propensity scores.")
        edge = int(((ps_arr == 0) | (ps_arr == 1)).sum())
        if edge:
            raise PositivityError(f"{_WHERE}: propensity scores of exactly 0 or 1 make the weights "
                                  f"undefined (got {edge} patients). Trim these patients or use a Firth "
                                  f"propensity model.")
    extreme = int(((ps_arr < POSITIVITY_BOUND) | (ps_arr > 1 - POSITIVITY_BOUND)).sum())
    msg = "" if not extreme else (
        f"{_WHERE}: propensity scores near 0 or 1 (got {extreme} patients outside "
        f"[{POSITIVITY_BOUND}, {1 - POSITIVITY_BOUND}]). Inspect overlap; consider trimming.")
    return ps_arr, source, msg


def _influence_function_intervals(values: np.ndarray, phi: np.ndarray, alpha: float
                                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Wald intervals from the influence values: :math:`\widehat{se} = n^{-1}(\sum_i \phi_i^2)^{1/2}`,
    the difference using :math:`\phi_{i,1} - \phi_{i,0}` (rows: arm 0, arm 1, difference)."""
    n = phi.shape[0]
    z = stats.norm.ppf(1 - alpha / 2)
    phis = np.stack([phi[:, 0, :], phi[:, 1, :], phi[:, 1, :] - phi[:, 0, :]], axis=1)
    se = np.sqrt(np.sum(phis ** 2, axis=0)) / n
    return se, values - z * se, values + z * se


def _bootstrap_intervals(t: np.ndarray, d: np.ndarray, a: np.ndarray, x: np.ndarray, names: tuple[str, ...],
                         given_ps: np.ndarray | None, landmarks: np.ndarray, tau: float | None, *,
                         estimands: tuple[str, ...], outcome_model: str, censoring: str, labels: tuple[str, str],
                         alpha: float, n_boot: int, random_state: int | None
                         ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
    """Nonparametric bootstrap: refit every nuisance model (the propensity model unless scores were given,
    which are resampled with their patients); SE = bootstrap SD, percentile interval. Samples with an empty
    arm, an arm without events, follow-up not beyond the last landmark/horizon or a failed fit are skipped
    and counted (returned last). Each sample's nuisance terms are estimand-free (:func:`_terms`), so every
    estimand of ``estimands`` is combined from the same samples; returns (se, lo, hi) per estimand."""
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 20):
        raise ConfigError(f"{_WHERE}: `n_boot` must be an integer >= 20 (got {n_boot!r}). Use e.g. "
                          f"n_boot=200.")
    n = t.size
    rng = np.random.default_rng(random_state)
    reps: dict[str, list[np.ndarray]] = {e: [] for e in estimands}
    n_failed = 0
    t_last = max([*landmarks.tolist(), *([tau] if tau else [])])
    for _ in range(int(n_boot)):
        i = rng.integers(0, n, n)
        ab = a[i]
        if ab.min() == ab.max() or d[i][ab == 0].sum() == 0 or d[i][ab == 1].sum() == 0 or min(
                t[i][ab == 0].max(), t[i][ab == 1].max()) <= t_last:
            n_failed += 1
            continue
        try:
            with warnings.catch_warnings():
                # a replicate's convergence or positivity warnings are summarised by n_boot_failed
                warnings.simplefilter("ignore")
                ps_b = _logistic(ab, x[i]) if given_ps is None else given_ps[i]
                terms = _terms(t[i], d[i], ab, x[i], names, landmarks, tau, outcome_model, censoring, labels, [])
        except ModelFitError:
            n_failed += 1
            continue
        for e in estimands:
            pb, _ = _combine(terms, ab, ps_b, e)
            reps[e].append(np.vstack([pb, pb[1] - pb[0]]))
    out = {}
    for e in estimands:
        boot = np.array(reps[e])
        out[e] = (boot.std(axis=0, ddof=1), np.quantile(boot, alpha / 2, axis=0),
                  np.quantile(boot, 1 - alpha / 2, axis=0))
    return out, n_failed


def _effect_estimates(values: np.ndarray, se: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      quantities: list[tuple[str, float]], *, outcome: str, estimand: str,
                      labels: tuple[str, str], n_arm: list[int], variance: str, extra: dict
                      ) -> list[EffectEstimate]:
    """One estimate per quantity x (arm 0, arm 1, difference); p-values (Wald) for differences only."""
    contrast = f"{labels[1]} vs {labels[0]}"
    est: list[EffectEstimate] = []
    for q, (measure, when) in enumerate(quantities):
        for row, (who, nn) in enumerate(((labels[0], n_arm[0]), (labels[1], n_arm[1]),
                                          (contrast, sum(n_arm)))):
            is_diff = row == 2
            v, s_ = float(values[row, q]), float(se[row, q])
            p = 2 * stats.norm.sf(abs(v) / s_) if is_diff and s_ > 0 else math.nan
            note = ""
            if measure == "surv" and not is_diff and not 0 <= v <= 1:
                note = "outside [0, 1]: the doubly robust estimate is not range-constrained"
            est.append(EffectEstimate(outcome=outcome, contrast=who, estimand=estimand, method="aiptw",
                                      measure=f"{measure}_diff" if is_diff else measure, value=v,
                                      ci_low=float(lo[row, q]), ci_high=float(hi[row, q]), se=s_, p=p,
                                      variance=variance, n=nn, time=float(when), note=note, extra=dict(extra)))
    return est


def _result(terms: _Terms, d: np.ndarray, a: np.ndarray, names: tuple[str, ...], lm: np.ndarray, tau: float | None, ps_arr: np.ndarray, ps_source: str,
            shared: list[tuple[type[Warning], str]], boot: tuple[dict, int] | None, *, estimand: str, outcome: str,
            alpha: float, labels: tuple[str, str], outcome_model: str, censoring: str, variance: str, n_boot: int,
            random_state: int | None) -> tuple[DoublyRobustResult, list[tuple[type[Warning], str]]]:
    """One estimand's result from the shared terms and, for ``variance="bootstrap"``, the shared bootstrap
    (:func:`_bootstrap_intervals`); and the warnings it carries (``shared`` first)."""
    pending = list(shared)
    psi, phi = _combine(terms, a, ps_arr, estimand)
    diag = {"min_censoring_survival": terms.min_g}
    values = np.vstack([psi, psi[1] - psi[0]])                       # arm0, arm1, difference
    if variance == "influence_function":
        se, lo, hi = _influence_function_intervals(values, phi, alpha)
        var_name, n_failed = "influence_function", 0
    else:
        (se, lo, hi), n_failed = boot[0][estimand], boot[1]
        var_name = "bootstrap_percentile"
    if n_failed:
        pending.append((SmallSampleWarning, (
            f"{_WHERE}: {n_failed} of {n_boot} bootstrap samples could not be analysed (got an empty arm, an arm "
            f"without events, too short follow-up or a failed model fit). The interval uses the "
            f"{n_boot - n_failed} others; increase n_boot if many failed.")))
    n_arm = [int((a == 0).sum()), int((a == 1).sum())]
    quantities = [("surv", float(v)) for v in lm] + ([("rmst", tau)] if tau is not None else [])
    est = _effect_estimates(values, se, lo, hi, quantities, outcome=outcome, estimand=estimand, labels=labels,
                            n_arm=n_arm, variance=var_name,
                            extra={"outcome_model": outcome_model, "censoring": censoring})
    settings = {"outcome_model": outcome_model, "censoring": censoring, "variance": var_name,
                "ps_source": ps_source, "covariates": list(names),
                **({} if variance != "bootstrap" else
                   {"n_boot": int(n_boot), "n_boot_failed": int(n_failed), "random_state": random_state})}
    diagnostics = {"n": dict(zip(labels, n_arm)), "events": {labels[arm]: int(d[a == arm].sum()) for arm in (0, 1)},
                   "ps_min": float(ps_arr.min()), "ps_max": float(ps_arr.max()), **diag}
    return DoublyRobustResult(outcome=outcome, estimand=estimand, arm_labels=labels, estimates=tuple(est),
                              alpha=alpha, settings=settings, diagnostics=diagnostics,
                              warnings=tuple(msg for _, msg in pending)), pending


# ----------------------------------------------------------------------------------------------------
# public function
# ----------------------------------------------------------------------------------------------------
def aiptw_survival(time: Any, event: Any, treatment: Any, X: Any = None, *, outcome: str,
                   ps: Any = None, landmarks: Any = (), horizon: float | None = None,
                   estimand: str = "ATE", alpha: float = 0.05,
                   arm_labels: tuple[str, str] = ("control", "treated"),
                   outcome_model: OutcomeModel = "cox_by_arm", censoring: CensoringModel = "km",
                   variance: Variance = "influence_function", n_boot: int = 200,
                   random_state: int | None = None) -> DoublyRobustResult:
    r"""Doubly robust (AIPTW-AIPCW) counterfactual survival at landmarks and RMST, per arm and contrast.

    Parameters
    ----------
    time : array-like of float
        Follow-up time, >= 0.
    event : array-like of {0, 1}
        1 for an event, 0 for censoring.
    treatment : array-like of {0, 1}
        0 for ``arm_labels[0]`` (reference), 1 for ``arm_labels[1]``.
    X : array-like or DataFrame, shape (n, p), optional
        Covariates of the outcome, censoring (``censoring="cox"``) and propensity (``ps=None``) models.
        DataFrame columns of dtype object, category or bool become 0/1 indicators, the first category
        (category order, else sorted) being the reference, as R's ``factor`` and
        :mod:`gistcausal.stats.propensity`. None (or zero columns) fits covariate-free models.
    outcome : str
        Outcome name carried by every estimate (e.g. ``"death"``).
    ps : array-like of float, optional
        Propensity scores :math:`\hat\pi(X_i) = P(A = 1 \mid X_i)`, e.g. from
        :meth:`gistcausal.stats.propensity.PropensityModel.predict`. Default: maximum-likelihood logistic
        regression of ``treatment`` on ``[1, X]``.
    landmarks : sequence of float
        Times t at which :math:`S_a(t)` and the difference are reported.
    horizon : float, optional
        RMST horizon :math:`\tau`.
    estimand : {"ATE", "ATT", "ATC"}, default="ATE"
        Target population: everyone, the treated, or the controls.
    alpha : float, default=0.05
        1 - confidence level.
    arm_labels : (str, str), default=("control", "treated")
    outcome_model : {"cox_by_arm", "cox"}, default="cox_by_arm"
        ``"cox_by_arm"``: a Cox model on ``X`` fitted in each arm (Efron ties) with its Breslow
        baseline hazard, so treatment may interact with every covariate and need not act
        proportionally; ``"cox"``: one Cox model on ``[treatment, X]`` with a common baseline.
    censoring : {"km", "cox"}, default="km"
        ``"km"``: Kaplan-Meier of the censoring times in each arm (censoring may depend on treatment
        but not on ``X``); ``"cox"``: a Cox model for the censoring hazard on ``X`` in each arm. At tied
        times events precede censorings.
    variance : {"influence_function", "bootstrap"}, default="influence_function"
        The efficient influence function with the nuisance models treated as known, or ``n_boot``
        bootstrap samples refitting the nuisance models (module docstring, "Variance").
    n_boot : int, default=200
        Bootstrap samples (``variance="bootstrap"`` only).
    random_state : int, optional
        Seed of the bootstrap.

    Returns
    -------
    DoublyRobustResult

    Raises
    ------
    DataError
        Bad times/events/treatment, covariates with missing values, landmarks or horizon at or beyond
        an arm's last follow-up time, scores of the wrong length or outside [0, 1].
    CohortError
        An empty arm.
    ConfigError
        An estimand other than ATE/ATT/ATC, an unknown ``outcome_model``, ``censoring`` or ``variance``.
    ModelFitError
        An arm without events (its outcome model cannot be fitted), a covariate whose Cox coefficient is
        infinite, a separated propensity model (:class:`SeparationError`).
    PositivityError
        Given scores at exactly 0 or 1.

    Notes
    -----
    The estimator :math:`\hat S_a(t)` and its agreement with R riskRegression ("Estimator"), the variance,
    the dropping of covariates with infinite coefficients, the no-covariate case and the references are in
    the module docstring ("Variance", "Special cases", "References").
    """
    return aiptw_survival_by_estimand(
        time, event, treatment, X, outcome=outcome, ps=ps, landmarks=landmarks, horizon=horizon,
        estimands=(estimand,), alpha=alpha, arm_labels=arm_labels, outcome_model=outcome_model,
        censoring=censoring, variance=variance, n_boot=n_boot, random_state=random_state)[estimand]


def aiptw_survival_by_estimand(time: Any, event: Any, treatment: Any, X: Any = None, *, outcome: str,
                               ps: Any = None, landmarks: Any = (), horizon: float | None = None,
                               estimands: Any = ("ATE",), alpha: float = 0.05,
                               arm_labels: tuple[str, str] = ("control", "treated"),
                               outcome_model: OutcomeModel = "cox_by_arm", censoring: CensoringModel = "km",
                               variance: Variance = "influence_function", n_boot: int = 200,
                               random_state: int | None = None) -> dict[str, DoublyRobustResult]:
    r""":func:`aiptw_survival` under several estimands of the same patients, fitting the nuisance models once.

    The outcome- and censoring-model terms :math:`S_i(t)` and :math:`U_i(t)` do not depend on the estimand
    (only the target indicator :math:`D_i` and tilt :math:`h_i` do, module docstring), so they are computed
    once and combined per estimand; each result equals ``aiptw_survival(..., estimand=e)``. Warnings are
    raised once. ``estimands``: a sequence of "ATE", "ATT", "ATC" without repeats; the other parameters are
    those of :func:`aiptw_survival`. Returns one :class:`DoublyRobustResult` per estimand, in the given order.
    """
    estimands = tuple(estimands)
    if not estimands or len(set(estimands)) != len(estimands):
        raise ConfigError(f"{_WHERE}: `estimands` must name each estimand once (got {list(estimands)}). Use "
                          f"e.g. estimands=('ATE', 'ATT').")
    for estimand in estimands:
        _check_options(estimand, outcome_model, censoring, variance)
    labels = (str(arm_labels[0]), str(arm_labels[1]))
    t, d, a, x, names, lm, tau, alpha = _check_data(time, event, treatment, X, landmarks, horizon, alpha, labels)
    n = t.size
    ps_arr, ps_source, positivity = _propensity_scores(ps, a, x, n)
    pending: list[tuple[type[Warning], str]] = [(PositivityWarning, positivity)] if positivity else []
    notes: list[str] = []
    terms = _terms(t, d, a, x, names, lm, tau, outcome_model, censoring, labels, notes)
    pending += [(SmallSampleWarning, msg) for msg in notes]
    boot = None if variance != "bootstrap" else _bootstrap_intervals(
        t, d, a, x, names, None if ps is None else ps_arr, lm, tau, estimands=estimands,
        outcome_model=outcome_model, censoring=censoring, labels=labels, alpha=alpha, n_boot=n_boot,
        random_state=random_state)
    out, emitted = {}, []
    for estimand in estimands:
        out[estimand], said = _result(
            terms, d, a, names, lm, tau, ps_arr, ps_source, pending, boot, estimand=estimand,
            outcome=outcome, alpha=alpha, labels=labels, outcome_model=outcome_model, censoring=censoring,
            variance=variance, n_boot=n_boot, random_state=random_state)
        emitted.extend(said)
    for category, msg in dict.fromkeys(emitted):
        warnings.warn(msg, category, stacklevel=2)
    return out

