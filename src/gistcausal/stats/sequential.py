r"""Sequential target trials: one emulated trial per period of eligibility, pooled, with patient-clustered SEs.

When patients are eligible at several times (e.g. every month after first-line progression until they start
a second line), a single time zero wastes information and choosing one of the eligible times by a later
event creates bias. Hernan et al. (2008) emulate a new trial at each period *k*: everyone eligible at *k*
enters trial *k* with baseline covariates measured at *k*, assigned to "initiate now" if treatment starts in
period *k* and to "not now" otherwise, and is followed from *k* (an observational analogue of the
intention-to-treat effect of initiating now vs not now). A patient can enter many trials, so the pooled
person-trial rows are correlated within patient: standard errors must be clustered by patient.

:func:`expand_sequential_trials` builds the person-trial rows from a person-period table;
:func:`sequential_cox` fits a (weighted) Cox model of the pooled trials with the cluster-robust sandwich
variance; :func:`pooled_km` gives the pooled (weighted) Kaplan-Meier curves per arm (point estimates).

Cluster-robust variance
-----------------------
With dfbeta rows :math:`D_r = w_r s_r^\top I^{-1}` (:math:`s_r` the Efron score residual of person-trial row
*r*, :math:`I` the information), the patient-clustered sandwich is

.. math:: \widehat V = \sum_{c} \Big(\sum_{r \in c} D_r\Big)^\top \Big(\sum_{r \in c} D_r\Big),

the score residuals summed within patient before the outer product (Lin & Wei 1989; Lee, Wei & Amato
1992), exactly R ``coxph(..., cluster = id)``; checked in ``tests/reference/sequential/make_sequential.R``.
:func:`gistcausal.stats.cox.cox_fit` has no cluster argument, so the residuals come from its internal pieces
(the same code that matches R's unclustered robust variance to 1e-6).

Not done here: per-protocol analyses (artificial censoring of deviators with time-varying inverse
probability weights, Danaei et al. 2013) and cluster-robust intervals for the pooled KM curves.

References
----------
Hernan MA, Alonso A, Logan R, et al. (2008). Observational studies analyzed like randomized experiments: an
application to postmenopausal hormone therapy and coronary heart disease. Epidemiology 19:766-779.
Danaei G, Garcia Rodriguez LA, Cantero OF, Logan R, Hernan MA (2013). Observational data for comparative
effectiveness research: an emulation of randomised trials of statins and primary prevention of coronary
heart disease. Stat Methods Med Res 22:70-96.
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards model. JASA 84:1074-1078.
Lee EW, Wei LJ, Amato DA (1992). Cox-type regression analysis for large numbers of small groups of
correlated failure time observations. In: Survival Analysis: State of the Art. Kluwer, 237-247.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from gistcausal.stats.cox import Ties, cox_fit
from gistcausal.stats.cox import cox_design as _design, cox_pieces as _pieces, cox_prepare as _prepare
from gistcausal.stats.cox import cox_score_residuals as _score_residuals
from gistcausal.effects import EffectEstimate, estimates_frame
from gistcausal.errors import DataError
from gistcausal.stats.km import kaplan_meier


# ------------------------------------------------------------------------------------------- expansion
def expand_sequential_trials(df: pd.DataFrame, *, id_col: str, period_col: str, eligible_col: str,
                             treatment_col: str, time_col: str, event_col: str,
                             covariates: list[str] | tuple[str, ...] = (),
                             max_trials: int | None = None) -> pd.DataFrame:
    """Person-trial rows: one emulated trial per period at which a patient is eligible.

    Parameters
    ----------
    df : DataFrame
        Person-period table, one row per patient and period (not modified): ``period_col`` (the period's
        start on the analysis clock, e.g. months since first-line progression), ``eligible_col`` (bool: meets
        the trial's eligibility at the start of the period, typically "not yet treated, alive, followed"),
        ``treatment_col`` (1 if treatment starts in this period), time-varying ``covariates`` (values at the
        period's start), and the patient's outcome ``time_col`` (same clock) and ``event_col``, constant
        within patient.
    id_col, period_col, eligible_col, treatment_col, time_col, event_col : str
    covariates : sequence of str, default=()
        Copied from the trial's period: the trial's baseline covariates.
    max_trials : int, optional
        Keep only the first ``max_trials`` periods (trials) in calendar order.

    Returns
    -------
    DataFrame
        ``id_col, trial, arm`` (1 = initiates in the trial's period), ``time`` (from the trial's start),
        ``event`` and the covariates; sorted by id and trial.

    Raises
    ------
    DataError
        Missing columns, duplicated (id, period) rows, outcome times varying within a patient, or an
        eligible period starting at or after the end of follow-up.
    """
    where = "expand_sequential_trials"
    need = [id_col, period_col, eligible_col, treatment_col, time_col, event_col, *covariates]
    missing = [c for c in dict.fromkeys(need) if c not in df.columns]
    if missing:
        raise DataError(f"{where}: column(s) {missing} not found. Fix the *_col arguments.")
    if df.duplicated([id_col, period_col]).any():
        n = int(df.duplicated([id_col, period_col], keep=False).sum())
        raise DataError(f"{where}: {n} rows share a patient and period ({id_col}, {period_col}). The person-period "
                        "table needs one row per patient and period.")
    nun = df.groupby(id_col, sort=False)[[time_col, event_col]].nunique(dropna=False)
    varying = int((nun > 1).any(axis=1).sum())
    if varying:
        raise DataError(f"{where}: '{time_col}'/'{event_col}' vary within {varying} patient(s). Give each patient's "
                        "outcome time and event on every row.")
    elig = df[eligible_col].astype(bool).to_numpy()
    rows = df.loc[elig]
    if max_trials is not None:
        keep_periods = np.sort(rows[period_col].unique())[:max_trials]
        rows = rows.loc[rows[period_col].isin(keep_periods)]
    t = rows[time_col].to_numpy(dtype=float) - rows[period_col].to_numpy(dtype=float)
    bad = ~(t > 0)
    if bad.any():
        raise DataError(f"{where}: {int(bad.sum())} eligible period(s) start at or after the end of follow-up "
                        f"('{time_col}' <= '{period_col}'). Mark periods after death or censoring as not eligible.")
    out = pd.DataFrame({id_col: rows[id_col].to_numpy(), "trial": rows[period_col].to_numpy(),
                        "arm": rows[treatment_col].astype(int).to_numpy(), "time": t,
                        "event": rows[event_col].astype(int).to_numpy()})
    for c in covariates:
        out[c] = rows[c].to_numpy()
    return out.sort_values([id_col, "trial"], kind="stable").reset_index(drop=True)


def trial_counts(expanded: pd.DataFrame, *, id_col: str) -> pd.DataFrame:
    """Aggregate table: per trial, patients per arm and events (for reports)."""
    g = expanded.groupby(["trial", "arm"])
    out = g.agg(patients=(id_col, "nunique"), events=("event", "sum")).reset_index()
    return out


# ------------------------------------------------------------------------------------------- analysis
@dataclass(frozen=True, slots=True)
class SequentialResult:
    """Pooled sequential-trials Cox model with patient-clustered robust SEs (aggregates only).

    ``coef``/``se_cluster`` are on the log-hazard scale for every term (``arm`` first); ``se_model`` is the
    inverse-information SE and ``se_robust_rows`` the sandwich that ignores the clustering (for comparison).
    """

    names: tuple[str, ...]
    coef: np.ndarray
    se_model: np.ndarray
    se_robust_rows: np.ndarray
    se_cluster: np.ndarray
    estimates: tuple[EffectEstimate, ...]
    n_rows: int
    n_patients: int
    n_trials: int
    n_events: int
    alpha: float
    warnings: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate (a copy)."""
        return estimates_frame(self.estimates)

    def terms(self) -> pd.DataFrame:
        """One row per model term with the three SEs."""
        return pd.DataFrame({"term": list(self.names), "coef": self.coef, "se_model": self.se_model,
                             "se_robust_rows": self.se_robust_rows, "se_cluster": self.se_cluster})

    def to_dict(self) -> dict[str, Any]:
        def c(v: float) -> float | None:
            return None if not math.isfinite(v) else float(v)
        return {"method": "sequential_trials", "n_rows": self.n_rows, "n_patients": self.n_patients,
                "n_trials": self.n_trials, "n_events": self.n_events, "alpha": self.alpha,
                "terms": [{k: (c(v) if isinstance(v, float) else v) for k, v in r.items()}
                          for r in self.terms().to_dict(orient="records")],
                "estimates": [e.to_dict() for e in self.estimates], "warnings": list(self.warnings)}

    def summary(self) -> str:
        e = self.estimates[0]
        lvl = round(100 * (1 - self.alpha))
        return (f"Sequential trials: {self.n_trials} trials, {self.n_rows} person-trials of {self.n_patients} "
                f"patients, {self.n_events} events; HR initiate vs not {e.value:.3g} ({lvl}% CI "
                f"{e.ci_low:.3g} to {e.ci_high:.3g}), SE clustered by patient")


def cluster_robust_cox(time: Any, event: Any, X: Any, cluster: Any, *, weights: Any = None, ties: Ties = "efron",
                       alpha: float = 0.05, names: Any = None) -> tuple[Any, np.ndarray, np.ndarray]:
    """Cox fit plus the cluster-robust variance (R ``coxph(..., cluster = id)``).

    Returns
    -------
    fit : CoxResult
        From :func:`gistcausal.stats.cox.cox_fit` (model and unclustered robust SEs).
    var_cluster : ndarray (p, p)
        Sum over clusters of the outer products of the summed dfbeta rows.
    se_cluster : ndarray (p,)
    """
    where = "cluster_robust_cox"
    fit = cox_fit(time, event, X, weights=weights, robust=True, ties=ties, alpha=alpha, names=names)
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    w = np.ones(t.size) if weights is None else np.asarray(weights, dtype=float)
    x, _ = _design(X, t.size, where, names)
    cl = pd.factorize(pd.Series(np.asarray(cluster)), use_na_sentinel=False)[0]
    if cl.size != t.size:
        raise DataError(f"{where}: `cluster` must have one value per row (got {cl.size} for {t.size} rows). Pass "
                        "the patient id of every row.")
    keep = w > 0
    t, e, w, x, cl = t[keep], e[keep], w[keep], x[keep], cl[keep]
    # same sort as cox_fit's _prepare, so the residual rows line up with the cluster codes
    order = np.argsort(t, kind="stable")
    s = _prepare(t, e, w, x, ties)
    cur = _pieces(s, np.asarray(fit.coef, dtype=float))
    resid = _score_residuals(s, cur)
    dfbeta = (s.w[:, None] * resid) @ np.linalg.inv(cur.info)
    summed = np.zeros((int(cl.max()) + 1, dfbeta.shape[1]))
    np.add.at(summed, cl[order], dfbeta)
    var = summed.T @ summed
    return fit, var, np.sqrt(np.diag(var))


def sequential_cox(expanded: pd.DataFrame, *, id_col: str, covariates: list[str] | tuple[str, ...] = (),
                   weights_col: str | None = None, ties: Ties = "efron", alpha: float = 0.05,
                   outcome: str = "outcome", contrast: str = "initiate vs not") -> SequentialResult:
    r"""Pooled Cox model over the emulated trials, SE clustered by patient.

    Parameters
    ----------
    expanded : DataFrame
        Output of :func:`expand_sequential_trials` (``arm``, ``time``, ``event``, ``trial``, covariates).
    id_col : str
        Patient id (the cluster).
    covariates : sequence of str, default=()
        Baseline (trial-start) adjustment covariates, numeric; include ``"trial"`` to let the hazard vary
        by trial (a linear trend, as the pooled logistic models of Hernan 2008 use the trial index).
    weights_col : str, optional
        Per person-trial weights (e.g. IPTW within trial).
    ties : {"efron", "breslow"}, default="efron"
    alpha : float, default=0.05
    outcome, contrast : str
        Labels of the estimate.

    Returns
    -------
    SequentialResult
        First estimate: the hazard ratio of ``arm`` with a Wald interval from the clustered SE
        (``variance="robust"``, note "clustered by patient").

    Notes
    -----
    Model :math:`\lambda(t \mid a, x, k) = \lambda_0(t)\exp(\beta a + \gamma^\top x)` for time *t* since the
    start of trial *k*; :math:`\exp\beta` is the conditional hazard ratio of initiating in the trial's period
    vs not, pooled over trials. See the module docstring for the clustered variance.
    """
    where = "sequential_cox"
    need = [id_col, "arm", "time", "event", *covariates] + ([weights_col] if weights_col else [])
    missing = [c for c in dict.fromkeys(need) if c not in expanded.columns]
    if missing:
        raise DataError(f"{where}: column(s) {missing} not found. Pass the output of expand_sequential_trials.")
    X = expanded[["arm", *covariates]]
    w = None if weights_col is None else expanded[weights_col].to_numpy(dtype=float)
    fit, _, se_c = cluster_robust_cox(expanded["time"], expanded["event"], X, expanded[id_col], weights=w,
                                      ties=ties, alpha=alpha)
    z = stats.norm.ppf(1 - alpha / 2)
    b = float(fit.coef[0])
    se = float(se_c[0])
    est = EffectEstimate(outcome=outcome, contrast=contrast, estimand="none" if w is None else "ATE",
                         method="sequential_trials", measure="hr", value=math.exp(b),
                         ci_low=math.exp(b - z * se), ci_high=math.exp(b + z * se), se=se,
                         p=float(2 * stats.norm.sf(abs(b / se))), variance="robust",
                         n=int(expanded[id_col].nunique()), scale="log", note="SE clustered by patient",
                         extra={"n_person_trials": int(len(expanded)), "n_trials": int(expanded["trial"].nunique())
                                if "trial" in expanded.columns else 0})
    return SequentialResult(names=fit.names, coef=np.asarray(fit.coef), se_model=np.asarray(fit.se),
                            se_robust_rows=np.asarray(fit.robust_se), se_cluster=se_c, estimates=(est,),
                            n_rows=int(len(expanded)), n_patients=int(expanded[id_col].nunique()),
                            n_trials=int(expanded["trial"].nunique()) if "trial" in expanded.columns else 0,
                            n_events=int(expanded["event"].sum()), alpha=float(alpha))


def pooled_km(expanded: pd.DataFrame, *, weights_col: str | None = None) -> pd.DataFrame:
    """Pooled (weighted) Kaplan-Meier curve per arm over all trials: ``arm, time, surv, n_risk`` (point
    estimates; the pointwise variance would need clustering by patient and is not given)."""
    parts = []
    for a in (1, 0):
        m = (expanded["arm"] == a).to_numpy()
        if not m.any():
            continue
        w = None if weights_col is None else expanded.loc[m, weights_col]
        km = kaplan_meier(expanded.loc[m, "time"], expanded.loc[m, "event"], weights=w, variance="none")
        parts.append(pd.DataFrame({"arm": a, "time": km.time, "surv": km.surv, "n_risk": km.n_risk}))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------------------------- synthetic data
def simulate_sequential_data(n: int, *, random_state: int, n_periods: int = 12, follow_up: float = 24.0,
                             hr: float = 0.6) -> pd.DataFrame:
    """Synthetic person-month table for sequential trials (for tests and teaching).

    Patient covariate ``l`` drifts by month (``l0 + 0.15 k + noise``); untreated patients start treatment in
    month *k* with probability ``expit(-2.2 + 0.8 l_k)``; the outcome hazard is ``0.04 exp(0.5 l0)`` per month,
    times ``hr`` from the start of treatment; administrative censoring at ``follow_up``. Eligible: not treated
    before, alive and followed at the start of the month, month < ``n_periods``.
    """
    rng = np.random.default_rng(random_state)
    k = np.arange(n_periods)
    l0 = rng.standard_normal(n)
    lk = l0[:, None] + 0.15 * k[None, :] + 0.3 * rng.standard_normal((n, n_periods))
    start = rng.random((n, n_periods)) < expit(-2.2 + 0.8 * lk)
    first = np.where(start.any(axis=1), start.argmax(axis=1), n_periods + 10_000)
    u = first.astype(float)  # treatment starts at the beginning of the month
    lam = 0.04 * np.exp(0.5 * l0)
    e = rng.exponential(1.0, n)
    T = np.where(e <= lam * u, e / lam, u + (e - lam * u) / (lam * hr))
    event = T <= follow_up
    T = np.minimum(T, follow_up)
    ids = np.repeat(np.arange(1, n + 1), n_periods)
    kk = np.tile(k, n)
    Tr = np.repeat(T, n_periods)
    fr = np.repeat(first, n_periods)
    alive = kk < Tr
    out = pd.DataFrame({"id": ids, "month": kk, "eligible": alive & (kk <= fr), "treat": (kk == fr).astype(int),
                        "l": lk.ravel(), "l0": np.repeat(l0, n_periods), "time": Tr,
                        "event": np.repeat(event.astype(int), n_periods)})
    return out.loc[alive].reset_index(drop=True)


__all__ = ["expand_sequential_trials", "trial_counts", "sequential_cox", "cluster_robust_cox", "pooled_km",
           "SequentialResult", "simulate_sequential_data"]
