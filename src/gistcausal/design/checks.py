"""Checks of a config against its cohort that need the data but fit no model (issue 15).

:func:`~gistcausal.design.cohort.build_cohort` calls :func:`check_covariate_types` (a covariate typed
``continuous`` must hold numbers), and ``gistcausal validate`` (a dry run that builds the cohort) and
:func:`gistcausal.pipeline.run` both call :func:`check_design` on the cohort, so they reject the same configs with
the same message before any model is fitted:

* :func:`check_follow_up` - landmarks and the RMST horizon within every arm's follow-up, for each outcome the
  survival comparison uses them for;
* :func:`check_estimable` - at least one event per arm in every causal outcome, and more patients than
  propensity-model parameters;
* :func:`check_propensity_covariates` - no constant or collinear propensity covariate;
* :func:`check_separating_levels` - no covariate level held by one arm only.

Messages follow ``<where>: <key>: <what> (got <value>). <fix>.`` and count patients, never show their values.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from gistcausal.design.config import StudyConfig
from gistcausal.errors import CohortError, ConfigError, DataError, ModelFitError, SeparationError

#: Show a text column's codes in a message only when it has this few of them (category codes, not free text).
_MAX_CODES_SHOWN = 10


def check_covariate_types(cfg: StudyConfig, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Covariates typed ``continuous`` hold numbers; text numbers ("3.5") become floats.

    Returns
    -------
    DataFrame
        ``frame``, with continuous covariates read as text converted to float (a copy when any is converted).

    Raises
    ------
    DataError
        A continuous covariate holds text, naming the column, the count of its text values and the fix
        ``type: categorical``; or infinite numbers (``inf`` in a file: no model, mean or SMD can use them).
    """
    out = frame
    for name, cov in cfg.covariates.items():
        if cov.type != "continuous" or name not in frame.columns:
            continue
        s = frame[name]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            _check_finite(cfg, name, s.to_numpy(dtype=float, na_value=np.nan))
            continue
        present = s.notna()
        conv = pd.to_numeric(s.where(present), errors="coerce")
        bad = present & conv.isna()
        if pd.api.types.is_bool_dtype(s.dtype) or any(isinstance(v, bool) for v in s[present]):
            bad = present
        if bad.any():
            codes = sorted({str(v) for v in s[bad]})
            got = f"{len(codes)} distinct text value(s) in {int(bad.sum())} row(s)"
            if len(codes) <= _MAX_CODES_SHOWN:
                got += ": " + ", ".join(repr(c) for c in codes)
            raise DataError(f"{cfg.locate(f'covariates.{name}.type')}: covariates.{name}: column '{name}' is typed continuous but holds text "
                            f"(got {got}). Set `covariates: {{{name}: {{type: categorical}}}}`, or recode the "
                            "column to numbers.")
        _check_finite(cfg, name, conv.to_numpy(dtype=float, na_value=np.nan))
        if out is frame:
            out = frame.copy()
        out[name] = conv.astype(float)
    return out


def _check_finite(cfg: StudyConfig, name: str, x: np.ndarray) -> None:
    """A continuous covariate holds no infinite number (DataError naming the count and the fix)."""
    inf = np.isinf(x)
    if inf.any():
        signs = sorted({"inf" if v > 0 else "-inf" for v in x[inf]})
        raise DataError(f"{cfg.locate(f'covariates.{name}')}: covariates.{name}: column '{name}' holds "
                        f"{int(inf.sum())} infinite value(s) (got {', '.join(signs)}), which no model or summary "
                        "can use. Replace them in the data with the measured values, or empty those cells and set how "
                        f"missing values are handled, e.g. `covariates: {{{name}: {{missing: impute}}}}`.")


def _outcome_key(cfg: StudyConfig, name: str) -> str:
    return f"protocol.outcomes.{name}" if cfg.protocol is not None else f"table.outcomes.{name}"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _round_down(x: float) -> float:
    """A round time not beyond ``x`` for a suggested fix."""
    if x >= 10:
        return float(math.floor(x))
    return math.floor(x * 10) / 10


def check_follow_up(cfg: StudyConfig, frame: pd.DataFrame, outcomes: Iterable[Any], arms: tuple[str, str],
                    where: str) -> None:
    """Landmarks and the horizon (``analysis.survival``) within each arm's last follow-up.

    For an outcome of the causal analysis (IPTW), every landmark and the RMST horizon; for other time-to-event
    outcomes, the landmarks the unadjusted comparison reports (those within the outcome's longest follow-up).
    A time beyond an arm's last follow-up would be an extrapolation, which the survival comparison refuses.

    Raises
    ------
    ConfigError
        Naming the key, the value, the outcome, the arm with the shorter follow-up and its last follow-up time.
    """
    s = cfg.analysis.survival
    causal_runs = cfg.analysis.causal and bool(cfg.covariates)
    unit = cfg.time_unit
    for o in outcomes:
        if o.type != "time_to_event" or o.name + "_time" not in frame.columns:
            continue
        t = frame[f"{o.name}_time"].to_numpy(float)
        if t.size == 0:
            continue
        lasts = {a: float(np.max(t[(frame["arm"] == a).to_numpy()], initial=-np.inf)) for a in arms}
        arm, last = min(lasts.items(), key=lambda kv: kv[1])
        if not math.isfinite(last):
            continue  # an empty arm is reported by the cohort build
        causal = causal_runs and o.causal
        landmarks = [x for x in s.landmarks if causal or x <= float(np.max(t))]
        beyond = [x for x in landmarks if x > last]
        fix = _round_down(last)
        if beyond:
            keep = [x for x in landmarks if x <= last] or [fix]
            raise ConfigError(f"{cfg.locate('analysis.survival.landmarks')}: analysis.survival.landmarks: landmark {beyond[0]:g} is beyond the follow-up "
                              f"of arm '{arm}' in outcome '{o.name}' (got {beyond[0]:g} > its last follow-up "
                              f"{_fmt(last)} {unit}). Use landmarks within follow-up, e.g. `analysis: {{survival: "
                              f"{{landmarks: [{', '.join(f'{x:g}' for x in keep)}]}}}}`.")
        if causal and s.horizon is not None and s.horizon > last:
            raise ConfigError(f"{cfg.locate('analysis.survival.horizon')}: analysis.survival.horizon: the RMST horizon is beyond the follow-up of arm "
                              f"'{arm}' in outcome '{o.name}' (got {s.horizon:g} > its last follow-up {_fmt(last)} "
                              f"{unit}). Set `analysis: {{survival: {{horizon: {fix:g}}}}}` or less, ideally where "
                              "enough patients of each arm are still followed.")


def n_parameters(cfg: StudyConfig, frame: pd.DataFrame) -> tuple[int, str | None]:
    """Parameters of the main-effects propensity model (intercept, one per continuous covariate or spline
    degree of freedom, levels - 1 per categorical one) and the covariate with the most."""
    n, largest, most = 1, None, 0
    for name, cov in cfg.covariates.items():
        if not cov.in_propensity or name not in frame.columns:
            continue
        if cov.type == "continuous":
            k = cov.spline_df or 1
        else:
            k = max(int(frame[name].nunique(dropna=True)) - 1, 0)
        n += k
        if k > most:
            largest, most = name, k
    n += len(cfg.analysis.propensity.interactions)
    return n, largest


def _spline_ok(x: np.ndarray, df: int) -> bool:
    """R's quantile knots of ``ns(x, df)`` are distinct and strictly inside the range of ``x``."""
    knots = np.quantile(x, np.linspace(0.0, 1.0, df + 1)[1:-1])
    return bool(np.all(np.diff(knots) > 0) and knots.min() > x.min() and knots.max() < x.max())


def check_splines(cfg: StudyConfig, frame: pd.DataFrame) -> None:
    """Every ``covariates.<name>.spline_df`` gives a natural spline with distinct knots inside the range: a
    covariate with many tied values (a count that is mostly 0) puts several quantile knots on one value, and
    the basis is rank-deficient (R's glm returns NA coefficients; the fit here refuses it).

    Raises
    ------
    ConfigError
        Naming the covariate, the df, the tied knots and the largest df that works (or a linear term).
    """
    for name, cov in cfg.covariates.items():
        if cov.type != "continuous" or not cov.spline_df or not cov.in_propensity or name not in frame.columns:
            continue
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        x = x[np.isfinite(x)]
        if x.size == 0 or _spline_ok(x, cov.spline_df):
            continue
        ok = [d for d in range(cov.spline_df - 1, 2, -1) if _spline_ok(x, d)]
        knots = np.quantile(x, np.linspace(0.0, 1.0, cov.spline_df + 1)[1:-1])
        fix = (f"Set `covariates: {{{name}: {{spline_df: {ok[0]}}}}}`" if ok else
               f"Remove `spline_df` from `covariates.{name}` (enter it linearly)")
        raise ConfigError(f"{cfg.locate(f'covariates.{name}.spline_df')}: covariates.{name}.spline_df: a natural "
                          f"spline with {cov.spline_df} df puts knots at {', '.join(_fmt(k) for k in knots)} in a "
                          f"range of {_fmt(x.min())} to {_fmt(x.max())}; knots repeat or touch the range because "
                          f"'{name}' has many tied values (got spline_df: {cov.spline_df}). {fix}.")


def check_separating_levels(cfg: StudyConfig, frame: pd.DataFrame, arms: tuple[str, ...]) -> None:
    """No level of a categorical or binary propensity covariate is held by the patients of one arm only.

    Such a level predicts the arm of its patients perfectly: the logistic (or, with more than two arms,
    multinomial) propensity model's maximum-likelihood coefficient for it is infinite (quasi-complete separation;
    Albert & Anderson, Biometrika 1984), and the fit would fail in the causal step. Checked on the cohort, before
    any fit, so ``validate`` rejects it as ``run`` does. Only for ``analysis.propensity.method: logistic`` (Firth's
    penalised likelihood and the learners have finite estimates; more than two arms always use the multinomial
    logit) and covariates without missing values in the cohort (imputed values may fill the level in another arm).

    Raises
    ------
    SeparationError
        Naming the covariate (its YAML line), the levels with their counts, the arm and the fixes in YAML syntax.
    """
    if cfg.analysis.propensity.method != "logistic" or not cfg.covariates:
        return
    arm = frame["arm"].astype(str)
    for name, cov in cfg.covariates.items():
        if cov.type == "continuous" or not cov.in_propensity or name not in frame.columns:
            continue
        col = frame[name]
        if col.isna().any():
            continue
        counts = pd.crosstab(col.astype(str), arm).reindex(columns=list(arms), fill_value=0)
        held = (counts > 0).sum(axis=1)
        for a in arms:
            alone = counts.index[(held == 1) & (counts[a] > 0)]
            if not len(alone):
                continue
            shown = ", ".join(f"{str(lv)!r} ({int(counts.at[lv, a])} patient{'s' if counts.at[lv, a] != 1 else ''})"
                              for lv in alone[:5]) + (f" and {len(alone) - 5} more" if len(alone) > 5 else "")
            which = f"level {shown} is" if len(alone) == 1 else f"levels {shown} are"
            others = [b for b in arms if b != a]
            none_in = (f"arm '{others[0]}'" if len(others) == 1 else
                       "arms " + ", ".join(f"'{b}'" for b in others))
            firth = (" use the Firth model `analysis: {propensity: {method: firth}}`," if len(arms) == 2 else "")
            raise SeparationError(
                f"{cfg.locate(f'covariates.{name}')}: covariates.{name}: {which} held by patients of arm '{a}' only "
                f"(got 0 in {none_in}), so the covariate predicts their arm perfectly and the "
                f"{'logistic' if len(arms) == 2 else 'multinomial'} propensity model has no finite estimate "
                f"(separation). Merge {'it' if len(alone) == 1 else 'them'} with another level in the data,{firth} "
                f"or leave the covariate out of the model `covariates: {{{name}: {{in_propensity: false}}}}`.")


def check_propensity_covariates(cfg: StudyConfig, frame: pd.DataFrame, arms: tuple[str, ...]) -> None:
    """The propensity covariates can be estimated at all: none is constant in the cohort, none typed
    ``continuous`` is constant within an arm, and none is a linear combination of the others.

    The propensity fit refuses each (:meth:`gistcausal.stats.propensity.PropensityModel.fit`, and the K-arm
    model); checked here on the cohort, before any fit, so ``validate`` rejects them as ``run`` does and the
    message names the YAML line and the fix. Collinearity is checked among the main effects (an intercept, each
    continuous covariate on its scale, the indicators of each categorical or binary covariate's levels but the
    first): dependent main effects make every design built from them (splines, interactions) rank deficient too.
    Covariates with missing values in the cohort are left to the fit, since imputed values may change them.

    Raises
    ------
    DataError
        A constant covariate, or a continuous one constant within an arm (two arms).
    ModelFitError
        Collinear covariates, naming them.
    """
    names = [n for n, c in cfg.covariates.items() if c.in_propensity and n in frame.columns
             and not frame[n].isna().any()]
    if not names or not len(frame):
        return
    arm = frame["arm"].astype(str).to_numpy()
    for name in names:
        col = frame[name]
        k = col.nunique()
        if k < 2:
            raise DataError(f"{cfg.locate(f'covariates.{name}')}: covariates.{name}: every patient of the cohort "
                            f"has the same value (got 1 distinct value in {len(frame)} patients), so it adjusts for "
                            f"nothing and the propensity model cannot be fitted with it. Remove it from the model "
                            f"`covariates: {{{name}: {{in_propensity: false}}}}` (it stays in Table 1).")
        if cfg.covariates[name].type == "continuous" and k > 2 and len(arms) == 2:
            for a in arms:
                held = col[arm == a]
                if len(held) and held.nunique() < 2:
                    raise DataError(f"{cfg.locate(f'covariates.{name}')}: covariates.{name}: every patient of arm "
                                    f"'{a}' has the same value (got 1 distinct value in {len(held)} patients), so "
                                    "the arms cannot be compared on it. Recode it (e.g. as `type: categorical` with "
                                    f"grouped levels), or leave it out of the model `covariates: {{{name}: "
                                    "{in_propensity: false}}`.")
    X, owner = _main_effects(cfg, frame, names)
    if X.shape[1] < 2 or X.shape[0] < X.shape[1]:
        return   # too few patients: check_estimable names it
    # the rank as the fit decides it (numpy's matrix_rank: singular values above s_max * max(n, p) * eps)
    _, sv, vt = np.linalg.svd(X, full_matrices=False)
    tol = sv[0] * max(X.shape) * np.finfo(float).eps
    rank = int((sv > tol).sum())
    if rank == X.shape[1]:
        return
    norms = np.linalg.norm(X, axis=0)
    sv_scaled = np.linalg.svd(X / np.where(norms > 0, norms, 1.0), compute_uv=False)
    if (sv_scaled > sv_scaled[0] * max(X.shape) * np.finfo(float).eps).sum() == X.shape[1]:
        # independent columns on a common scale: one covariate's values dwarf the others' (a covariate in raw
        # units of 1e13), not a dependence between covariates
        j = int(np.argmax([nm if owner[i] is not None else -1.0 for i, nm in enumerate(norms)]))
        big = owner[j]
        top = float(np.abs(X[:, j]).max())
        raise ModelFitError(f"{cfg.locate(f'covariates.{big}')}: covariates.{big}: values up to {top:.3g} are too "
                            "large next to the other columns of the propensity model (beside them the others vanish in "
                            "floating point, and the fit finds the design rank deficient). Rescale it in the data "
                            f"(e.g. divide it by 1e{max(int(np.log10(top)) - 2, 1)}, or take its logarithm), or "
                            f"leave it out of the model `covariates: {{{big}: {{in_propensity: false}}}}`.")
    # the columns of the dependence: weights of the smallest singular vector, times the columns' sizes
    share = np.abs(vt[-1]) * np.linalg.norm(X, axis=0)
    involved = list(dict.fromkeys(owner[j] for j in np.flatnonzero(share > 1e-6 * share.max())
                                  if owner[j] is not None))
    if not involved:
        return
    shown = " and ".join(f"'{n}'" for n in involved) if len(involved) <= 2 else \
        ", ".join(f"'{n}'" for n in involved[:-1]) + f" and '{involved[-1]}'"
    last = involved[-1]
    raise ModelFitError(f"{cfg.locate(f'covariates.{last}')}: covariates: {shown} are collinear in the cohort "
                        f"(got rank {rank} for the {X.shape[1]} columns of the propensity model's "
                        "intercept and main effects: one is a linear combination of the others), so the propensity "
                        f"model has no unique estimate. Leave one out of the model, e.g. `covariates: {{{last}: "
                        "{in_propensity: false}}`, or remove it.")


def _main_effects(cfg: StudyConfig, frame: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, list[str | None]]:
    """The intercept and main-effect columns of the propensity covariates ``names`` (complete in ``frame``), and
    the covariate behind each column (None for the intercept). A categorical's indicators drop one level, which
    one does not change the columns' span; a ``transform: log`` covariate with a value <= 0 is left to the fit."""
    cols, owner = [np.ones(len(frame))], [None]
    for name in names:
        cov, s = cfg.covariates[name], frame[name]
        if cov.type == "continuous":
            x = pd.to_numeric(s, errors="coerce").to_numpy(float)
            if cov.transform == "log":
                if not (x > 0).all():
                    continue
                x = np.log(x)
            if np.isfinite(x).all():
                cols.append(x)
                owner.append(name)
            continue
        codes = pd.factorize(s.astype(str))[0]
        for j in range(1, int(codes.max()) + 1):
            cols.append((codes == j).astype(float))
            owner.append(name)
    return np.column_stack(cols), owner


def check_estimable(cfg: StudyConfig, frame: pd.DataFrame, outcomes: Iterable[Any], arms: tuple[str, str],
                    where: str) -> None:
    """At least one event per arm in each causal time-to-event outcome, and more patients than propensity
    parameters.

    Raises
    ------
    CohortError
        Naming the outcome and the arm without events, or the parameter and patient counts.
    """
    for o in outcomes:
        if o.type != "time_to_event" or not o.causal or f"{o.name}_event" not in frame.columns:
            continue
        e = frame[f"{o.name}_event"].to_numpy(int)
        for a in arms:
            m = (frame["arm"] == a).to_numpy()
            if m.any() and int(e[m].sum()) == 0:
                raise CohortError(f"{where}: {_outcome_key(cfg, o.name)}: arm '{a}' has no events in outcome "
                                  f"'{o.name}' (got 0 events in {int(m.sum())} patients, all censored). Hazard "
                                  "ratio and survival differences are not estimable: check the event column and "
                                  f"its code (`event_value`), or set `{o.name}: {{causal: false}}` to describe it "
                                  "only.")
    if not (cfg.analysis.causal and cfg.covariates):
        return
    p, largest = n_parameters(cfg, frame)
    n = len(frame)
    if n <= p:
        raise CohortError(f"{where}: covariates: the propensity model has {p} parameters for {n} patients (got "
                          f"n <= parameters). Remove covariates or group levels"
                          + (f", starting with '{largest}'" if largest else "") + ".")


def check_design(cfg: StudyConfig, cohort: Any) -> None:
    """The analysis plan against a built cohort (:class:`~gistcausal.design.cohort.Cohort`): follow-up, then
    estimability. Called by ``run`` after building the cohort and by ``validate``, so both reject first and
    alike what the estimators would reject later.

    Raises
    ------
    ConfigError
        Landmarks or the horizon beyond an arm's follow-up.
    CohortError
        An arm without events in a causal outcome; no more patients than propensity-model parameters.
    DataError, ModelFitError
        A constant or collinear propensity covariate (:func:`check_propensity_covariates`).
    SeparationError
        A level of a covariate held by one arm only, with a logistic (multinomial) propensity model
        (:func:`check_separating_levels`).
    """
    where = cfg.source_path or cfg.name
    # three or more arms (issue 18): every arm's follow-up and events count, not just the first two
    arms = (cohort.treated, cohort.control) if len(cfg.treatment.arms) == 2 else tuple(cfg.treatment.arms)
    check_follow_up(cfg, cohort.frame, cohort.outcomes, arms, where)
    check_estimable(cfg, cohort.frame, cohort.outcomes, arms, where)
    if cfg.analysis.causal and cfg.covariates:
        check_propensity_covariates(cfg, cohort.frame, arms)
        check_splines(cfg, cohort.frame)
        check_separating_levels(cfg, cohort.frame, arms)


__all__ = ["check_covariate_types", "check_follow_up", "check_estimable", "check_splines",
           "check_propensity_covariates", "check_separating_levels", "check_design", "n_parameters"]
