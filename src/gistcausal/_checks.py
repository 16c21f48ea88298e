"""Input checks shared by the estimators, and the one estimand registry with its one checker.

Base layer: imports only :mod:`gistcausal.errors` and numpy, so every module above (``stats``,
``inference``, ``design``, ``analysis``) can use it without an import circle. Every message has the form
``"<where>: <what> (got <value>). <fix>."`` and is produced here, so the same mistake reads the same
wherever it is made (scikit-learn's generated parameter messages are the model).
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np

from gistcausal.errors import ConfigError, DataError

Estimand = Literal["ATE", "ATT", "ATC", "ATO", "matching"]

#: The one estimand registry: what each estimand supports.
#:
#: ``target``: the population the weights stand for (``"all"``, ``"treated"``, ``"control"``,
#: ``"overlap"``, ``"matching"``). ``stabilize_ok``: marginal stabilization is defined (only the ATE,
#: whose weights target the whole sample; Robins et al. 2000). ``needs_interior``: the weights divide by
#: e or 1-e, so scores at exactly 0 or 1 make them undefined. ``s_d_denom``: cobalt's default SMD
#: denominator. ``aiptw``: the doubly robust AIPTW-AIPCW estimator is available
#: (:mod:`gistcausal.stats.doubly_robust`). ``refutation``: the DoWhy refutation bridge is available
#: (:mod:`gistcausal.stats.refutation`). ``truth``: a closed-form or Monte-Carlo ground truth exists
#: (:func:`gistcausal.design.simulate.true_marginal_effects`, :mod:`gistcausal.analysis.plasmode`): the
#: target is one arm or everyone, so the truth is an average over a fixed population.
ESTIMANDS: dict[str, dict[str, Any]] = {
    "ATE": {"target": "all", "stabilize_ok": True, "needs_interior": True, "s_d_denom": "pooled",
            "aiptw": True, "refutation": True, "truth": True},
    "ATT": {"target": "treated", "stabilize_ok": False, "needs_interior": True, "s_d_denom": "treated",
            "aiptw": True, "refutation": True, "truth": True},
    "ATC": {"target": "control", "stabilize_ok": False, "needs_interior": True, "s_d_denom": "control",
            "aiptw": True, "refutation": True, "truth": True},
    "ATO": {"target": "overlap", "stabilize_ok": False, "needs_interior": False, "s_d_denom": "pooled",
            "aiptw": False, "refutation": False, "truth": False},
    "matching": {"target": "matching", "stabilize_ok": False, "needs_interior": False,
                 "s_d_denom": "pooled", "aiptw": False, "refutation": False, "truth": False},
}

#: What ``supported=`` can ask of :func:`check_estimand`: the feature's name in the messages and the fix
#: (``{estimand}`` is filled in).
FEATURES: dict[str, tuple[str, str]] = {
    "aiptw": ("the doubly robust estimator", "Use one of these, or the IPTW analysis for {estimand}."),
    "refutation": ("the refutation bridge", "Pick the target population."),
    "truth": ("the simulated ground truth",
              "The truth is defined for these target populations; pass one of them."),
}


def loose(text: Any) -> str:
    """A name or code compared loosely, for suggestions only: spaces collapsed, case folded (" Age " -> "age")."""
    return " ".join(str(text).split()).casefold()


def closest(word: Any, candidates: Any, *, cutoff: float = 0.75) -> str | None:
    """The candidate a misspelt ``word`` most likely means, for a "did you mean" in a message: the first one equal
    to it but for case and spaces (:func:`loose`), else the closest by spelling compared loosely (difflib's ratio
    at least ``cutoff``), else None. Candidates that are not text are skipped. The one suggestion rule of config
    keys and values, column names and the codes of a column."""
    import difflib

    cands = [c for c in candidates if isinstance(c, str)]
    by_loose: dict[str, str] = {}
    for c in cands:
        by_loose.setdefault(loose(c), c)
    key = loose(word)
    if key in by_loose:
        return by_loose[key]
    near = difflib.get_close_matches(key, list(by_loose), n=1, cutoff=cutoff)
    return by_loose[near[0]] if near else None


def check_estimand(estimand: Any, *, where: str, supported: str | None = None,
                   stabilize: bool = False) -> dict[str, Any]:
    """The one checker of estimand names and what they support; returns the :data:`ESTIMANDS` entry.

    Parameters
    ----------
    estimand : str
        ``"ATE"``, ``"ATT"``, ``"ATC"``, ``"ATO"`` or ``"matching"``.
    where : str
        Prefix of the message (function or config key).
    supported : str, optional
        A feature of :data:`FEATURES` (``"aiptw"``, ``"refutation"``, ``"truth"``) that the estimand must
        support.
    stabilize : bool, default=False
        Stabilized weights are requested (only estimands with ``stabilize_ok``).

    Raises
    ------
    ConfigError
        Unknown estimand, an estimand without the requested feature, or stabilization requested for an
        estimand that does not support it.
    """
    if supported is not None and supported not in FEATURES:  # a programming error, not a user's
        raise ValueError(f"check_estimand: unknown feature {supported!r}; one of {list(FEATURES)}")
    if supported is not None:
        ok = [k for k, v in ESTIMANDS.items() if v[supported]]
        if estimand not in ok:
            label, fix = FEATURES[supported]
            raise ConfigError(f"{where}: estimand must be one of {ok} for {label} (got {estimand!r}). "
                              + fix.format(estimand=estimand))
    elif estimand not in ESTIMANDS:
        raise ConfigError(f"{where}: estimand must be one of {list(ESTIMANDS)} (got {estimand!r}). "
                          "Pick one of these.")
    spec = ESTIMANDS[estimand]
    if stabilize and not spec["stabilize_ok"]:
        ok = [k for k, v in ESTIMANDS.items() if v["stabilize_ok"]]
        raise ConfigError(f"{where}: stabilize=True is only defined for estimand {ok} (got estimand="
                          f"{estimand!r}). Set stabilize=False; {estimand} weights need no stabilization.")
    return spec


def check_alpha(alpha: Any, where: str) -> float:
    """``alpha`` as a float in (0, 1) (1 - confidence level)."""
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise DataError(f"{where}: `alpha` must be in (0, 1) (got {alpha!r}). Use e.g. alpha=0.05.")
    return float(alpha)


def check_random_state(random_state: Any, where: str) -> int | None:
    """``random_state`` as None or a non-negative integer (the seed of a ``numpy.random.SeedSequence``)."""
    if random_state is None:
        return None
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise ConfigError(f"{where}: `random_state` must be None or an integer >= 0 (got {random_state!r}). "
                          f"Use e.g. random_state=2024.")
    return int(random_state)


def as_float(x: Any, name: str, where: str) -> np.ndarray:
    """``x`` as a one-dimensional float array; DataError naming ``name`` otherwise."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{where}: `{name}` must be numeric (got dtype {np.asarray(x).dtype}). "
                        f"Convert `{name}` to numbers before calling {where}.") from err
    if arr.ndim != 1:
        raise DataError(f"{where}: `{name}` must be one-dimensional (got shape {arr.shape}). "
                        f"Pass one value per patient.")
    return arr


def check_weights(weights: Any, n: int, where: str, *, per: str = "times") -> np.ndarray:
    """Case weights as a float array: one per patient (``n``; ``per`` names what they are counted against in
    the message), finite and >= 0; ones when ``weights`` is None."""
    if weights is None:
        return np.ones(n)
    w = as_float(weights, "weights", where)
    if w.size != n:
        raise DataError(f"{where}: `weights` must have one value per patient (got {w.size} "
                        f"weights for {n} {per}). Pass arrays of equal length.")
    bad_w = int((~np.isfinite(w)).sum()) + int((w < 0).sum())
    if bad_w:
        raise DataError(f"{where}: `weights` must be finite and >= 0 (got {bad_w} missing, "
                        f"infinite or negative). Recompute the weights or drop these rows.")
    return w


def check_survival_inputs(time: Any, event: Any, weights: Any, where: str,
                          entry: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate right-censored data; return float arrays ``time``, ``event`` (0/1), ``weights`` (ones if None).

    Raises
    ------
    DataError
        Late entry (``entry`` given), no rows, unequal lengths, times missing/negative/infinite, events not
        0/1, weights missing/negative/infinite or all zero.
    """
    if entry is not None:
        raise DataError(f"{where}: late entry (left truncation) is not supported (got an `entry` "
                        f"argument). Define time zero so that every patient is at risk from time 0, "
                        f"or use R survival with Surv(entry, time, event).")
    t = as_float(time, "time", where)
    e = as_float(event, "event", where)
    n = t.size
    if n == 0:
        raise DataError(f"{where}: no patients (got 0 rows). Check the cohort filters.")
    if e.size != n:
        raise DataError(f"{where}: `event` must have one value per patient (got {e.size} values for "
                        f"{n} times). Pass arrays of equal length.")
    bad_nan = int(np.isnan(t).sum())
    bad_neg = int((t < 0).sum())
    bad_inf = int(np.isinf(t).sum())
    if bad_nan or bad_neg or bad_inf:
        raise DataError(f"{where}: `time` must be finite and >= 0 (got {bad_nan} missing, {bad_neg} "
                        f"negative, {bad_inf} infinite). Drop or correct these rows before the "
                        f"analysis.")
    bad_e = int((~np.isin(e, (0.0, 1.0))).sum())
    if bad_e:
        raise DataError(f"{where}: `event` must be 0 (censored) or 1 (event) (got {bad_e} other "
                        f"values). Recode the event indicator to 0/1.")
    if weights is None:
        return t, e, np.ones(n)
    w = check_weights(weights, n, where)
    if not np.any(w > 0):
        raise DataError(f"{where}: all weights are zero (got sum 0). Check the weighting step.")
    return t, e, w


__all__ = ["ESTIMANDS", "FEATURES", "Estimand", "check_estimand", "check_alpha", "check_random_state",
           "as_float", "check_weights", "check_survival_inputs"]
