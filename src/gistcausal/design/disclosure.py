"""Small-cell suppression for registry outputs (statistical disclosure control).

Registries commonly forbid publishing counts between 1 and k - 1 (k = 5 or 10), because a small cell can
identify a patient. With a threshold ``k`` every such count in the report, its tables, figures and
``results.json`` is shown as ``"<k"``; zero stays zero (an empty cell discloses nobody). Weighted counts are
suppressed where their unweighted count is. Estimates (medians, hazard ratios) are aggregates and are not
suppressed. The default (``output.small_cell_threshold`` unset) is ``k = 5`` for registry data read from files or
databases, and off for the built-in synthetic registry and public example datasets (ICES/CPRD-style rules;
see e.g. the ONS/UK Data Service "Statistical disclosure control" guidance).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

DEFAULT_THRESHOLD = 5


def threshold_for(cfg: Any) -> int:
    """The effective threshold of a config (see the module docstring for the default)."""
    k = cfg.output.small_cell_threshold
    if k is not None:
        return int(k)
    return 0 if cfg.data.source in ("synthetic", "builtin") else DEFAULT_THRESHOLD


def suppress(value: Any, k: int) -> Any:
    """``"<k"`` for counts 1..k-1, otherwise the value unchanged."""
    if k <= 1 or value is None:
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return value
    return f"<{k}" if 0 < v < k else value


def suppress_counts(df: pd.DataFrame, columns: list[str], k: int, *, linked: dict[str, str] | None = None) -> pd.DataFrame:
    """Copy of ``df`` with ``columns`` suppressed; ``linked`` maps a column (e.g. a weighted count) to the raw
    count column whose smallness also hides it."""
    if k <= 1:
        return df
    out = df.copy()
    small = {c: out[c].map(lambda v: isinstance(suppress(v, k), str) and not isinstance(v, str)) for c in columns}
    for c in columns:
        out[c] = out[c].astype(object).map(lambda v: suppress(v, k))
    for col, raw in (linked or {}).items():
        out[col] = out[col].astype(object).where(~small[raw], f"<{k}")
    return out
