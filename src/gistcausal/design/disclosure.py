"""Small-cell suppression for registry outputs (statistical disclosure control).

Registries commonly forbid publishing counts between 1 and k - 1 (k = 5 or 10), because a small cell can
identify a patient. With a threshold ``k`` every such count in the report, its tables, figures and
``results.json`` is shown as ``"<k"``; zero stays zero (an empty cell discloses nobody). Weighted counts are
suppressed where their unweighted count is. Estimates (medians, hazard ratios) are aggregates and are not
suppressed. Counts written in sentences (warnings, failed-step notes, the reasons of failed replicates and
specifications, the answer) are suppressed the same way by :func:`suppress_text`. The default
(``output.small_cell_threshold`` unset) is ``k = 5`` for registry data read from files or databases, and off
for the built-in synthetic registry and public example datasets (ICES/CPRD-style rules; see e.g. the ONS/UK
Data Service "Statistical disclosure control" guidance).
"""
from __future__ import annotations

import re
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


#: nouns after which a whole number is a count of people or events
_COUNT_NOUNS = ("patients", "patient", "events", "event", "deaths", "death", "persons", "person", "people",
                "subjects", "subject", "cases", "case", "clones", "clone", "individuals", "individual")
#: "1 patient" is shown as "<5 patients"
_PLURAL = {"patient": "patients", "event": "events", "death": "deaths", "person": "persons", "subject": "subjects",
           "case": "cases", "clone": "clones", "individual": "individuals"}
#: words that end a count's qualifiers: "3 parameters for 110 patients" counts parameters, not patients
_NOT_QUALIFIERS = {"for", "in", "of", "per", "with", "and", "or", "than", "from", "to", "at", "by", "among",
                   "between", "out", "over", "under", "after", "before", "the", "parameters",
                   "parameter", "levels", "level", "values", "value", "arms", "arm", "columns", "column"}
_COUNT_TEXT = re.compile(
    r"(?<![\w.,<≤≥=/-])(?P<n>[1-9]\d*)(?![.,]\d)(?P<rest>(?: of \d+)?(?P<words>(?: [A-Za-z'’()-]+){0,3}?) "
    r"(?P<noun>" + "|".join(_COUNT_NOUNS) + r")\b)", re.IGNORECASE)


def suppress_text(text: str, k: int, *, html: bool = False) -> str:
    """``text`` with every count of people or events from 1 to k - 1 written as ``"<k"``.

    A count is a whole number followed, within three qualifying words, by a noun such as patients, events,
    deaths or clones: "2 patients in arm 'B' have weights above ..." becomes "<5 patients in arm 'B' ...",
    "the arm of 3 of 110 patients" becomes "the arm of <5 of 110 patients", "4 treated patients found no
    match" becomes "<5 treated patients ...". Decimals (9.2 patients per parameter), zero, and numbers that
    count something else ("3 parameters for 110 patients") are left as they are. ``html=True`` writes
    ``"&lt;k"`` (the text of an HTML page).
    """
    if k <= 1 or not text:
        return text

    def repl(m: re.Match) -> str:
        words = m.group("words").split()
        if any(w.strip("()").lower() in _NOT_QUALIFIERS for w in words):
            return m.group(0)
        if int(m.group("n")) >= k:
            return m.group(0)
        noun = m.group("noun")
        plural = _PLURAL.get(noun.lower())
        rest = m.group("rest")
        if plural is not None:
            rest = rest[: len(rest) - len(noun)] + (plural if noun.islower() else plural.capitalize())
        return f"{'&lt;' if html else '<'}{k}{rest}"

    return _COUNT_TEXT.sub(repl, text)


def suppress_strings(obj: Any, k: int) -> Any:
    """:func:`suppress_text` applied to every string of a nested structure of dicts, lists and tuples (keys
    kept); other values unchanged."""
    if k <= 1:
        return obj
    if isinstance(obj, str):
        return suppress_text(obj, k)
    if isinstance(obj, dict):
        return {key: suppress_strings(v, k) for key, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(suppress_strings(v, k) for v in obj)
    return obj
