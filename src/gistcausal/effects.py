"""The effect-estimate record shared by every estimator and by ``results.json``.

One :class:`EffectEstimate` is one number with its interval, e.g. the IPTW hazard ratio of an outcome for
treated vs control under the ATE. Its ``to_dict`` is the row format of the
``estimates`` list of ``results.json`` (documented in ``docs/results_json.md``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Measures the estimators produce; ``results.json`` consumers can rely on this vocabulary.
MEASURES = (
    "median", "median_diff", "surv", "surv_diff", "surv_ratio", "rmst", "rmst_diff", "hr", "logrank_p",
    "mann_whitney_p", "evalue", "rd", "rr", "or", "smd",
    # binary and continuous outcomes (stats.binary)
    "risk", "risk_diff", "risk_ratio", "odds_ratio", "mean", "mean_diff",
    # competing risks (stats.competing; the cause is in extra["cause"])
    "cif", "cif_diff", "cif_ratio", "rmtl", "rmtl_diff", "cs_hr", "cs_logrank_p",
)


def json_safe(v: Any) -> Any:
    """A JSON-safe copy: NaN/inf -> None, numpy scalars -> Python scalars, dict keys -> str, recursively."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


def round_floats(x: Any, digits: int = 10) -> Any:
    """A JSON-ready copy with floats rounded to ``digits`` significant digits (NaN/inf -> None), so that
    platform noise in the last bits does not change the bytes of ``results.json``."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not math.isfinite(x):
            return None
        return float(f"{x:.{digits}g}")
    if isinstance(x, Mapping):
        return {str(k): round_floats(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [round_floats(v, digits) for v in x]
    if isinstance(x, np.ndarray):
        return [round_floats(v, digits) for v in x.tolist()]
    return x


@dataclass(frozen=True, slots=True)
class EffectEstimate:
    """One estimate with its uncertainty.

    Parameters
    ----------
    outcome : str
        Outcome name from the config (e.g. ``"pfs"``).
    contrast : str
        What is compared, ``"<arm1> vs <arm0>"``, or a single arm's name for per-arm quantities.
    estimand : str
        ``"ATE"``, ``"ATT"``, ``"ATC"``, ``"ATO"`` or ``"none"`` (unweighted, descriptive).
    method : str
        ``"unadjusted"``, ``"iptw"``, ``"adjusted"`` (covariate-adjusted Cox), ``"aiptw"`` ...
    measure : str
        One of :data:`MEASURES`.
    value, ci_low, ci_high, se, p : float
        Point estimate, interval limits at ``1 - alpha``, standard error (on the scale the interval was
        built on, stated in ``scale``), and p-value; NaN where they do not apply.
    variance : str
        How the uncertainty was obtained: ``"greenwood"``, ``"robust"``, ``"model"``,
        ``"m_estimation"``, ``"bootstrap_percentile"``, ``"bootstrap_bca"``, ``"exact"``, ``"none"``.
    n : int
        Patients contributing.
    time : float
        Landmark time or RMST horizon where relevant, else NaN.
    scale : str
        Scale on which ``se`` is expressed (``"identity"``, ``"log"``).
    note : str
        Short qualifier shown beside the number, e.g. ``"not estimable: curve never reaches 0.5"``.
    """

    outcome: str
    contrast: str
    estimand: str
    method: str
    measure: str
    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    se: float = math.nan
    p: float = math.nan
    variance: str = "none"
    n: int = 0
    time: float = math.nan
    scale: str = "identity"
    note: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN -> None)."""
        d = asdict(self)
        d["extra"] = {k: json_safe(v) for k, v in self.extra.items()}
        return {k: json_safe(v) for k, v in d.items()}

    def summary(self) -> str:
        """One line such as ``pfs hr (iptw, ATE): 0.71 (95% CI 0.45-1.12), robust``."""
        def f(v: float) -> str:
            return "NE" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"
        ci = "" if not math.isfinite(self.ci_low) else f" (95% CI {f(self.ci_low)} to {f(self.ci_high)})"
        when = "" if not math.isfinite(self.time) else f" at t={self.time:g}"
        return (f"{self.outcome} {self.measure}{when} [{self.contrast}; {self.method}, {self.estimand}]: "
                f"{f(self.value)}{ci}; variance: {self.variance}" + (f"; {self.note}" if self.note else ""))


def estimates_frame(estimates: list[EffectEstimate] | tuple[EffectEstimate, ...]) -> pd.DataFrame:
    """Tidy copy, one row per estimate."""
    return pd.DataFrame([e.to_dict() for e in estimates])


class EstimatesMixin:
    """``to_frame`` and ``get`` for result objects holding ``estimates: tuple[EffectEstimate, ...]``."""

    __slots__ = ()
    estimates: tuple[EffectEstimate, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate (a copy)."""
        return estimates_frame(self.estimates)

    def get(self, measure: str, contrast: str | None = None, time: float | None = None) -> EffectEstimate:
        """The estimate of ``measure`` (optionally for one ``contrast`` and landmark ``time``).

        Raises
        ------
        KeyError
            No such estimate; the message lists the measures available.
        """
        for est in self.estimates:
            if est.measure == measure and (contrast is None or est.contrast == contrast) and (
                    time is None or (math.isfinite(est.time) and abs(est.time - time) < 1e-9)):
                return est
        raise KeyError(f"{type(self).__name__}.get: no estimate {measure!r} (contrast={contrast!r}, "
                       f"time={time!r}); available: {sorted({e.measure for e in self.estimates})}")
