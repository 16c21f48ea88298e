"""``gistcausal init``: a commented starter config for a new study, that validates and runs as written.

Two entry points:

* :func:`propose` reads an analysis-ready table (one row per patient) and infers what a config needs: each
  column's type and levels, the arms from the treatment's values, the time and event columns, the time unit,
  a horizon and landmarks inside every arm's follow-up, and at-risk times on a round grid. The guesses and
  the reason for each are kept in a :class:`ScaffoldPlan`; :func:`render_plan` writes it as commented YAML.
* :func:`render_config` writes a placeholder config from :class:`ScaffoldOptions` when there is no data yet
  (``table`` or ``registry`` shape).

Column names and values are data, never code: they are only compared and counted, and every key and value
is written by the YAML emitter (which quotes ``yes``, ``<<``, ``: x``, newlines ...), so a hostile column name
becomes a quoted key that :func:`~gistcausal.design.config.load_config` reads back unchanged. Comments only
name columns through :func:`_c`, which escapes line breaks so a name cannot end a comment.
"""
from __future__ import annotations

import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from gistcausal.design.codes import code_mask, code_text
from gistcausal.design.config import reserved_column_names
from gistcausal.errors import ConfigError, DataError

# ============================================================================ data-driven init (init --data)
#: A numeric column with at most this many distinct integer codes is categorical (grade 1-3, ECOG 0-4).
MAX_INTEGER_CODES = 5
#: A text column with more distinct values than this is left out (free text or an identifier).
MAX_TEXT_LEVELS = 20
#: At most this many arms from a treatment column (issue 18's K-arm analysis; more is rarely a treatment).
MAX_ARMS = 6

# Column-name words in English and in the languages of European registries' exports (Dutch, German, French,
# Spanish; accents are dropped before matching, so "Überleben Tage" reads as "uberleben", "tage").
_TIME_WORDS = ("time", "futime", "months", "month", "days", "day", "weeks", "week", "years", "year", "duration",
               "survival", "fu", "followup", "follow_up", "stop", "t", "dtime", "rtime", "os", "pfs", "rfs",
               "dagen", "maanden", "weken", "jaren", "tijd", "duur", "overleving",            # Dutch
               "tage", "monate", "wochen", "jahre", "zeit", "dauer", "uberleben", "ueberleben",  # German
               "jours", "mois", "semaines", "temps", "duree", "survie",                      # French
               "dias", "meses", "semanas", "anos", "tiempo", "supervivencia")                # Spanish
_EVENT_WORDS = ("event", "status", "death", "dead", "died", "cens", "censor", "censored", "fail", "failure",
                "recur", "recurrence", "relapse", "progression", "arrest", "observed", "d", "e", "delta",
                "overleden", "overlijden", "dood", "gebeurtenis", "recidief", "progressie",    # Dutch
                "tod", "verstorben", "ereignis", "rezidiv",                                    # German
                "deces", "evenement", "statut", "rechute",                                     # French
                "muerte", "evento", "estado", "recaida")                                       # Spanish
_TREATMENT_WORDS = ("treatment", "treat", "treated", "trt", "tx", "rx", "arm", "group", "therapy", "exposure",
                    "exposed", "intervention",
                    "behandeling", "groep", "therapie", "behandlung", "gruppe",                 # Dutch, German
                    "traitement", "groupe", "bras", "tratamiento", "grupo", "brazo")             # French, Spanish
_ID_WORDS = ("id", "pid", "patient", "patient_id", "subject", "subject_id", "record_id", "study_id", "mrn")
_CONTROL_WORDS = ("control", "placebo", "none", "no", "standard", "usual", "usual care", "untreated",
                  "observation", "reference", "false", "0")
#: Words in a code that make it read as the comparison arm ("Obs" in R's colon data, "non_democracy", "other").
_CONTROL_TOKENS = ("control", "placebo", "none", "no", "non", "not", "without", "untreated", "standard", "usual",
                   "obs", "observation", "reference", "other", "sham", "soc", "bsc", "watchful", "waiting",
                   "controle", "geen", "zonder", "kontrolle", "keine", "kein", "ohne", "beobachtung",
                   "aucun", "sans", "ninguno", "sin")
_UNIT_WORDS = {"days": ("day", "days", "futime_days", "dtime", "rtime", "dagen", "tage", "jours", "dias"),
               "weeks": ("week", "weeks", "wk", "wks", "weken", "wochen", "semaines", "semanas"),
               "months": ("month", "months", "mo", "mos", "maanden", "monate", "mois", "meses"),
               "years": ("year", "years", "yr", "yrs", "jaren", "jahre", "ans", "anos")}
#: Round steps per unit for the horizon, the landmarks and the at-risk grid.
_STEPS = {"days": (7, 30, 90, 180, 365, 730, 1825), "weeks": (1, 2, 4, 13, 26, 52, 104),
          "months": (1, 3, 6, 12, 24, 60), "years": (0.25, 0.5, 1, 2, 5, 10)}
_RANGE = re.compile(r"^\s*(<=|>=|<|>|≤|≥)?\s*(-?\d+(?:\.\d+)?)\s*(?:(?:-|–|to)\s*(-?\d+(?:\.\d+)?))?\s*\+?\s*$")


def _c(text: Any) -> str:
    """Text safe inside a YAML comment: line breaks (including YAML's \\x85, \\u2028, \\u2029) and other
    non-printable characters escaped, so a column name cannot end the comment and inject YAML."""
    s = str(text)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)


def _ascii(text: str) -> str:
    """``text`` without accents (Überleben -> Uberleben, décès -> deces), for matching names against words."""
    return "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.combining(c))


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", _ascii(name)).lower()) if t]


#: Endings that make a name token read like a follow-up time (ptime, ostime) or an event status (pstat, fustat)
#: after a short prefix (an endpoint's letters): ``protime`` (prothrombin time, a lab value) is not one.
_WORD_ENDINGS = {_TIME_WORDS: ("time",), _EVENT_WORDS: ("stat", "status")}
_ENDPOINT_PREFIXES = ("pfs", "efs", "dfs", "rfs", "dss", "css", "ttp", "ttf")


def _ends_like(token: str, endings: tuple[str, ...]) -> bool:
    for end in endings:
        head = token[:-len(end)]
        if token.endswith(end) and head and (len(head) <= 2 or head in _ENDPOINT_PREFIXES):
            return True
    return False


def _is_id_name(name: str, *, patient: bool = False) -> bool:
    """A name that says identifier: one of :data:`_ID_WORDS` whole, or with an ``id`` token ("Patient ID",
    "subject.id"); ``patient``: of a patient ("Patient ID", not "Hospital ID", whose values repeat by design)."""
    if _name_score(name, _ID_WORDS) == 2:
        return True
    toks = _tokens(name)
    if any(t in ("pid", "mrn") for t in toks):
        return True
    return "id" in toks and (not patient or any(t in ("patient", "subject", "person", "participant", "record")
                                                for t in toks))


def _name_score(name: str, words: tuple[str, ...]) -> int:
    """2: the whole name is one of ``words``; 1: one of its tokens is, or ends like them after an endpoint's
    letters (``ptime``, ``pstat``: R's mgus2 progression time and status; ``fustat``); 0: none."""
    low = _ascii(name).lower()
    if low in words:
        return 2
    ends = _WORD_ENDINGS.get(words, ())
    return 1 if any(t in words or _ends_like(t, ends) for t in _tokens(name)) else 0


def _py(v: Any) -> Any:
    """A numpy/pandas scalar as a plain Python value (the YAML emitter knows only those); whole floats as int."""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return int(f) if f.is_integer() else f
    return str(v) if not isinstance(v, (int, str)) else v


def _numeric(s: pd.Series) -> pd.Series | None:
    """The non-missing values as floats, or None when any of them is not a number."""
    x = s.dropna()
    if pd.api.types.is_bool_dtype(x.dtype):
        return x.astype(float)
    if pd.api.types.is_numeric_dtype(x.dtype):
        return x.astype(float)
    if pd.api.types.is_datetime64_any_dtype(x.dtype):
        return None
    if any(isinstance(v, bool) for v in x):
        return None
    conv = pd.to_numeric(x, errors="coerce")
    return None if conv.isna().any() else conv.astype(float)


def _range_key(v: str) -> tuple[float, float] | None:
    """Sort key of range-like text ("<=20" < "20-50" < ">50"): its lower bound, open-below first."""
    m = _RANGE.match(v)
    if m is None:
        return None
    op, a = m.group(1), float(m.group(2))
    if op in ("<", "<=", "≤"):
        return (-math.inf, a)
    if op in (">", ">=", "≥") or v.strip().endswith("+"):
        return (a, math.inf)
    return (a, float(m.group(3)) if m.group(3) else a)


def order_levels(values: list[Any]) -> list[Any]:
    """Levels in a sensible order, the first being the reference of the propensity model.

    Numbers in natural order; range-like text (``"<=20", "20-50", ">50"``, ``"60+"``) by its lower bound;
    other text alphabetically (case-insensitive).
    """
    vals = [_py(v) for v in values]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return sorted(vals)
    texts = [str(v) for v in vals]
    keys = [_range_key(t) for t in texts]
    if all(k is not None for k in keys):
        return [t for _, t in sorted(zip(keys, texts))]
    return sorted(texts, key=lambda t: (t.lower(), t))


@dataclass(frozen=True, slots=True)
class ColumnGuess:
    """What ``init`` inferred about one column: ``type`` is categorical, binary, continuous or ``skip``."""

    name: str
    type: str
    levels: tuple[Any, ...] = ()
    n_missing: int = 0
    reason: str = ""


def infer_column(s: pd.Series, name: str | None = None) -> ColumnGuess:
    """Infer a covariate's type (and levels) from its values.

    Binary for two distinct values; categorical for text with at most :data:`MAX_TEXT_LEVELS` values or for at
    most :data:`MAX_INTEGER_CODES` integer codes; continuous for other numbers; ``skip`` for identifiers,
    dates, constants and free text.
    """
    name = str(s.name if name is None else name)
    x = s.dropna()
    miss = int(s.isna().sum())
    uniq = pd.unique(x)
    k = len(uniq)
    if k == 0:
        return ColumnGuess(name, "skip", (), miss, "every value is missing")
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return ColumnGuess(name, "skip", (), miss, "a date (derive a time or age from it first)")
    if k == 1:
        return ColumnGuess(name, "skip", (), miss, "the same value in every row")
    nums = _numeric(s)
    if nums is None and _is_date_text(x):
        return ColumnGuess(name, "skip", (), miss, "dates written as text (derive a time or an age from them "
                           "first)")
    if _name_score(name, _ID_WORDS) == 2 or (k == len(x) and _is_id_name(name)) or (k == len(x) and len(x) > 20 and (
            nums is None or (nums.round() == nums).all() and _is_row_number(nums))):
        return ColumnGuess(name, "skip", (), miss, "looks like an identifier (one value per row)")
    if k == len(x) and len(x) > 20 and nums is not None and (nums.round() == nums).all() and _is_sequence(nums):
        return ColumnGuess(name, "skip", (), miss, "looks like an identifier (whole numbers, one per row, in "
                           "increasing order or numbered with few gaps)")
    if k == 2:
        return ColumnGuess(name, "binary", tuple(order_levels(list(uniq))), miss,
                           "two distinct values" + _level_variants_note(uniq))
    if nums is None:
        if k > MAX_TEXT_LEVELS:
            return ColumnGuess(name, "skip", (), miss, f"text with {k} distinct values (free text or an "
                               "identifier; group it into fewer levels to use it)")
        return ColumnGuess(name, "categorical", tuple(order_levels(list(uniq))), miss,
                           f"text with {k} levels" + _level_variants_note(uniq))
    if k <= MAX_INTEGER_CODES and (nums.round() == nums).all():
        levels = tuple(order_levels(sorted(set(nums.astype(int).tolist()))))
        return ColumnGuess(name, "categorical", levels, miss, f"{k} integer codes")
    return ColumnGuess(name, "continuous", (), miss, f"numbers with {k} distinct values")


def _variant_key(v: Any) -> Any:
    """What codes that differ only in case or spaces share ("Yes", "yes ", " YES": "yes"); a number is its own."""
    return " ".join(v.split()).casefold() if isinstance(v, str) else v


def _level_variants_note(levels: Any) -> str:
    """A warning for text levels that differ only in case or surrounding spaces ("Male", "male "): each is a level
    of its own in the analysis, so they should be made one in the data."""
    groups: dict[str, list[str]] = {}
    for v in levels:
        if isinstance(v, str):
            groups.setdefault(_variant_key(v), []).append(v)
    same = [g for g in groups.values() if len(g) > 1]
    if not same:
        return ""
    shown = "; ".join(" / ".join(repr(v) for v in sorted(g)) for g in same[:3])
    return (f"; CHECK: levels that differ only in case or spaces ({shown}) are separate levels in the analysis: "
            "make them one in the data")


def _is_row_number(x: pd.Series) -> bool:
    v = np.sort(x.to_numpy(float))
    return bool(np.all(np.diff(v) == 1))


def _is_sequence(x: pd.Series) -> bool:
    """Distinct whole numbers that number the rows: increasing in file order (nwtco's ``seqno``, 1 to 4088 over
    4028 rows), or spanning at most twice as many values as there are rows (a numbering with gaps, any order). A
    measurement stored as whole numbers is neither."""
    v = x.to_numpy(float)
    return bool(np.all(np.diff(v) > 0) or (v.max() - v.min() + 1) <= 2 * v.size)


#: A date written as text: 2024-03-01, 01/03/2024, 1.3.2024, 2024/3/1 (optionally with a time after it).
_DATE_TEXT = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


def _is_date_text(x: pd.Series) -> bool:
    """Text whose values are nearly all dates (cgd's ``random``: 1989-06-07), not free text or categories."""
    text = x.astype(str).str.strip()
    return bool(text.size) and float(text.str.match(_DATE_TEXT).mean()) >= 0.95


def _slug(text: Any, fallback: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_").lower()
    if not s or not s[0].isalpha():
        s = f"{fallback}_{s}" if s else fallback
    return s[:40]


#: Name tokens of baseline measurements that are never a follow-up time ("Age (years)" holds a unit word).
_NOT_TIME_TOKENS = ("age", "leeftijd", "alter", "birth", "dob", "bmi", "weight", "height", "size", "dose", "mg",
                    "score", "count", "nodes", "year_of_diagnosis")
#: Name tokens that mark an endpoint ("RFS event", "OS time"): a column so named outranks a bare unit or status.
_ENDPOINT_TOKENS = ("os", "pfs", "rfs", "efs", "dfs", "dss", "css", "ttp", "ttf", "fu", "followup", "follow")
#: Event words that also name baseline covariates ("menopausal status", "performance status"): alone they make a
#: weaker candidate than a word that names an event.
_WEAK_EVENT_TOKENS = ("status", "stat", "observed", "d", "e")


def _role_score(name: str, words: tuple[str, ...]) -> float:
    """How well a column's name reads as ``words``' role: 2 for the whole name, else the number of its tokens
    that are such words (:func:`_name_score`'s rule for each), plus half a point for an endpoint's token (RFS,
    OS, follow-up); a follow-up time never has a baseline token (age, weight, ...), and an event column whose only
    event word is "status" beside other words ("Menopausal status") counts half. 0: not a candidate by name."""
    if _name_score(name, words) == 2:
        return 2.0 + 1.0   # above any partial match
    toks = _tokens(name)
    ends = _WORD_ENDINGS.get(words, ())
    hits = [t for t in toks if t in words or _ends_like(t, ends)]
    if not hits:
        return 0.0
    if words is _TIME_WORDS and any(t in _NOT_TIME_TOKENS for t in toks):
        return 0.0
    score = float(len(hits))
    if words is _EVENT_WORDS and all(t in _WEAK_EVENT_TOKENS for t in hits) and len(toks) > len(hits) \
            and not any(t in _ENDPOINT_TOKENS or t == "vital" for t in toks):
        score /= 2
    return score + (0.5 if any(t in _ENDPOINT_TOKENS for t in toks) else 0.0)


def _guess(df: pd.DataFrame, words: tuple[str, ...], ok) -> list[str]:
    scored = [(_role_score(c, words), i, c) for i, c in enumerate(df.columns) if ok(df[c])]
    return [c for sc, _, c in sorted(scored, key=lambda t: (-t[0], t[1])) if sc > 0]


def _is_time(s: pd.Series) -> bool:
    """Numbers >= 0 with more than two values, and not calendar years (whole numbers from 1900 to 2100: a year of
    diagnosis or surgery, named like ``year``, is not a follow-up time; R's rotterdam data)."""
    x = _numeric(s)
    if x is None or len(x) == 0 or not bool((x >= 0).all()) or x.nunique() <= 2:
        return False
    return not bool(((x >= 1900) & (x <= 2100) & (x == x.round())).all())


def _is_event(s: pd.Series) -> bool:
    """Two codes (or one) that :func:`_event_code` reads: 0/1, R's 1/2, or words such as dead/alive."""
    x = s.dropna()
    codes = {str(_py(v)).strip().lower() for v in pd.unique(x)}
    if not 0 < len(codes) <= 2:
        return False
    if codes <= {"0", "1", "true", "false"} or codes == {"1", "2"}:
        return True
    return any(c in _EVENT_CODES for c in codes) and any(c in _CENSORED_CODES for c in codes)


def _values_text(s: pd.Series) -> str:
    """A column's values in a message: its distinct codes when few, else their count and range."""
    codes = order_levels(list(pd.unique(s.dropna())))
    if len(codes) <= 5:
        return f"{len(codes)} code(s): {', '.join(repr(str(_c(v))) for v in codes)}"
    x = _numeric(s)
    if x is None:   # text: "12 months" is not a number
        examples = ", ".join(repr(str(_c(v))) for v in list(pd.unique(s.dropna()))[:3])
        return f"{len(codes)} distinct text values such as {examples} (numbers only, without units)"
    return f"{len(codes)} distinct values from {_num(x.min()):g} to {_num(x.max()):g}"


def guess_columns(df: pd.DataFrame) -> dict[str, list[str]]:
    """Candidate treatment, time and event columns, best first, from their names and values (never evaluated).

    Time: numbers >= 0 named like time, months, days, futime, rfs_time ...; event: 0/1 columns named like
    event, status, death, cens, died ...; treatment: two-valued columns named like treatment, arm, group, tx,
    then such columns with three to :data:`MAX_ARMS` values (a K-arm comparison).
    """
    return {"time": _guess(df, _TIME_WORDS, _is_time),
            "event": _guess(df, _EVENT_WORDS, _is_event),
            # two-valued columns first; a column named like a treatment with 3 to MAX_ARMS values after them
            "treatment": list(dict.fromkeys(
                _guess(df, _TREATMENT_WORDS, lambda s: s.dropna().nunique() == 2)
                + _guess(df, _TREATMENT_WORDS, lambda s: 3 <= s.dropna().nunique() <= MAX_ARMS)))}


def guess_time_unit(time_col: str, t: np.ndarray) -> tuple[str, str]:
    """The time unit from the column's name (``week``, ``months``, ``days`` ...) or else from its magnitude."""
    toks = _tokens(time_col)
    for unit, words in _UNIT_WORDS.items():
        if any(w in toks for w in words) or str(time_col).lower() in words:
            return unit, f"from the column name '{_c(time_col)}'"
    t_max = float(np.nanmax(t)) if len(t) else 0.0
    if t_max > 400:
        return "days", f"from the magnitude (longest follow-up {t_max:g}: days)"
    if t_max <= 30 and not np.allclose(t, np.round(t)):
        return "years", f"from the magnitude (longest follow-up {t_max:g}, fractional: years)"
    return "months", f"from the magnitude (longest follow-up {t_max:g}: months)"


def _nice(x: float) -> float:
    return float(int(x)) if float(x).is_integer() else round(float(x), 2)


def propose_times(time_by_arm: dict[str, np.ndarray], unit: str) -> tuple[float, tuple[float, ...], tuple[float, ...], str]:
    """Horizon, landmarks and at-risk times from the follow-up of each arm.

    The horizon is the largest round time (a multiple of a step of the unit: 6, 12 months; 26, 52 weeks ...)
    not beyond the smaller of the arms' 75th percentiles of follow-up, so about a quarter of each arm is
    still followed there; landmarks are the multiples of the smallest round step giving at most five of them
    up to the horizon (13, 26, 39, 52 weeks; 1 to 5 years); at-risk times a round grid of at most
    ten columns over the longest follow-up.
    """
    q = min(float(np.quantile(t, 0.75)) for t in time_by_arm.values())
    last = min(float(np.max(t)) for t in time_by_arm.values())
    steps = _STEPS[unit]
    step = next((s for s in reversed(steps) if q >= 3 * s), None)
    if step is None:  # very short follow-up: a step below the unit's smallest
        step = max(q / 3, 1e-9)
    horizon = _nice(math.floor(q / step) * step) if q >= step else _nice(q)
    lm_step = next((s for s in steps if horizon / s <= 5), horizon)
    lms = [_nice(k * lm_step) for k in range(1, int(horizon // lm_step) + 1)]
    landmarks = tuple(x for x in lms if 0 < x < horizon) + (horizon,)
    t_max = max(float(np.max(t)) for t in time_by_arm.values())
    ar_step = next((s for s in steps if t_max / s <= 10), steps[-1])
    at_risk = tuple(_nice(x) for x in np.arange(0.0, t_max + 1e-9, ar_step))
    why = (f"the shorter-followed arm's 75th percentile of follow-up is {q:.4g} {unit} (last follow-up "
           f"{last:.4g}); the horizon is the round time below it, so about a quarter of each arm is still "
           "followed there")
    return horizon, landmarks, at_risk, why


@dataclass(frozen=True, slots=True)
class ScaffoldPlan:
    """Everything ``init --data`` inferred, with the reason for each guess (rendered as YAML comments)."""

    name: str
    data_path: str
    source: str
    n_rows: int
    treatment_col: str
    arms: tuple[tuple[str, Any, str], ...]  # (arm name, code, label): treated first
    time_col: str
    event_col: str
    event_value: Any
    outcome: str
    outcome_label: str
    time_unit: str
    unit_reason: str
    horizon: float
    landmarks: tuple[float, ...]
    at_risk_times: tuple[float, ...]
    times_reason: str
    covariates: tuple[ColumnGuess, ...]
    skipped: tuple[ColumnGuess, ...] = ()
    other_candidates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    arm_reason: str = ""
    event_reason: str = "1 = event"
    censored_value: Any = 0             # the event column's other code (rendered in the comment's fix)
    csv_options: dict[str, str] = field(default_factory=dict)   # sep, decimal, encoding (or sheet) the file needs
    reference_arm: str = ""             # three or more arms: the reference (listed first in the config)
    causes: dict[Any, str] = field(default_factory=dict)   # competing risks: {code: label}, cause of interest first
    censor_value: Any = 0               # competing risks: the event column's code of censored patients
    arm_variants: dict[str, tuple[Any, ...]] = field(default_factory=dict)   # code text -> the codes of one arm
    outcome_checks: tuple[str, ...] = ()   # what in the outcome columns stops the run (rows to fix in the data)


def _raw(v: Any) -> Any:
    """A code as a plain Python value: a whole-number float as an integer (a column with a missing value is read
    as floats, and its code 1.0 is the code 1: the cohort matches codes as :func:`~gistcausal.design.codes.code_text`
    does), so the config reads `trt: [1]` and a 0/1 treatment names its arms after the column."""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return int(v) if v.is_integer() and abs(v) < 2.0 ** 53 else v
    return v if isinstance(v, (int, str)) else str(v)


def _control_like(code: str) -> bool:
    """Whether a treatment code reads as the comparison arm: a control word, or a word of it one."""
    return code in _CONTROL_WORDS or any(t in _CONTROL_TOKENS for t in _tokens(code))


def _given_code(vals: list[Any], texts: list[str], col: str, given: Any) -> Any:
    """The value of the treatment column that ``--treated-value`` names (compared as text)."""
    if str(given) not in texts:
        raise DataError(f"init --treated-value: not a value of column '{col}' (got {given!r}; values: "
                        f"{', '.join(map(repr, texts))}). Give one of them.")
    return vals[texts.index(str(given))]


#: Prefixes that negate the other code: "Nonmaintained" vs "Maintained" (R's aml), "no chemo" vs "chemo".
_NEGATIONS = ("non", "no", "not", "un", "without")


def _negated(code: str, other: str) -> bool:
    """Whether ``code`` is ``other`` with a negating prefix, ignoring case and separators."""
    a, b = ("".join(_tokens(x)) for x in (code, other))
    return bool(b) and any(a == neg + b for neg in _NEGATIONS)


def _arms(values: list[Any], col: str, treated_value: Any) -> tuple[tuple[tuple[str, Any, str], ...], str]:
    vals = [_raw(v) for v in values]
    texts = [str(_py(v)) for v in vals]
    if treated_value is not None:
        treated = _given_code(vals, texts, col, treated_value)
        reason = "the treated arm as given by --treated-value"
    else:
        low = [t.strip().lower() for t in texts]
        yes = {"1", "yes", "true", "y", "treated", "exposed"}
        if any(t in yes for t in low):
            treated = vals[next(i for i, t in enumerate(low) if t in yes)]
        elif len(vals) == 2 and (_negated(texts[0], texts[1]) or _negated(texts[1], texts[0])):
            k = 1 if _negated(texts[0], texts[1]) else 0
            treated = vals[k]
            return _named_arms(col, treated, vals[1 - k],
                               f"the treated arm guessed from the codes: {texts[1 - k]!r} negates {texts[k]!r}")
        elif sum(map(_control_like, low)) == 1:
            treated = vals[next(i for i, t in enumerate(low) if not _control_like(t))]
        else:
            treated = order_levels(vals)[-1]
        reason = "the treated arm guessed from the codes (1, yes, or the value that is not control/none/placebo)"
    return _named_arms(col, treated, next(v for v in vals if str(v) != str(treated)), reason)


def _named_arms(col: str, treated: Any, control: Any, reason: str
                ) -> tuple[tuple[tuple[str, Any, str], ...], str]:
    """The two arms' names, codes and labels, the treated arm first, and ``reason``."""
    coded = {str(treated).strip().lower(), str(control).strip().lower()}
    if coded <= {"0", "1", "yes", "no", "true", "false", "y", "n"}:
        # codes that are not names: name the arms after the column ("fin" / "no_fin")
        base = _slug(col, "treatment")
        names = (base, f"no_{base}")
        labels = (f"{_c(col)} = {code_text(treated)}", f"{_c(col)} = {code_text(control)}")
    else:
        names = (_slug(treated, "arm"), _slug(control, "arm"))
        if names[0] == names[1]:
            names = (names[0] + "_1", names[1] + "_2")
        labels = (str(treated), str(control))
        if all(_numeric(pd.Series([v])) is not None for v in (treated, control)):
            # numeric codes (R's 1/2) say nothing alone: "trt = 1" in the report until the user names them
            labels = (f"{_c(col)} = {code_text(treated)}", f"{_c(col)} = {code_text(control)}")
    return ((names[0], treated, labels[0]), (names[1], control, labels[1])), reason


def _arms_k(values: list[Any], col: str, treated_value: Any) -> tuple[tuple[tuple[str, Any, str], ...], str, str]:
    """Three or more arms (issue 18): in YAML order, the reference first (the one code that reads as a
    comparison arm, else the first code in order), then the others in order; the focal arm of the ATT is
    ``treated_value`` or the first arm after the reference. Returns the arms with the focal arm first (as
    :func:`_arms` returns the treated arm first), the reason and the reference's name; :func:`render_plan` writes
    the reference first."""
    vals = order_levels([_raw(v) for v in values])
    texts = [str(_py(v)) for v in vals]
    control = [v for v, t in zip(vals, texts) if _control_like(t.strip().lower())]
    reference = control[0] if len(control) == 1 else vals[0]
    rest = [v for v in vals if str(v) != str(reference)]
    if treated_value is not None:
        focal = _given_code(vals, texts, col, treated_value)
        reason = "the focal arm of the ATT as given by --treated-value"
    else:
        focal = rest[0]
        reason = "the focal arm of the ATT is the first arm after the reference"
    numeric = all(_numeric(pd.Series([v])) is not None for v in vals)
    names, out = set(), []
    for v in [focal] + [v for v in [reference] + rest if str(v) != str(focal)]:
        name = _slug(f"{col}_{v}" if numeric else v, "arm")
        while name in names:
            name += "_"
        names.add(name)
        out.append((name, v, f"{_c(col)} = {code_text(v)}" if numeric else str(v)))
    ref_name = next(n for n, v, _ in out if str(v) == str(reference))
    why = ("the one code that reads as a comparison arm" if len(control) == 1 else "the first code in order")
    return tuple(out), f"reference arm '{ref_name}' ({why}); {reason}", ref_name


#: Codes of a two-code event column read as "the event happened" and as "censored" (compared in lower case).
_EVENT_CODES = ("1", "true", "yes", "y", "event", "dead", "death", "died", "deceased", "relapse", "relapsed",
                "recurrence", "progression", "progressed", "failure", "failed")
_CENSORED_CODES = ("0", "false", "no", "n", "censored", "censor", "alive", "none", "event-free")
#: Codes of a first-event column read as death (the cause of interest of a competing-risks outcome by default).
_DEATH_CODES = ("dead", "death", "died", "deceased")
#: Event-column names that say nothing of the event (the outcome is then labelled "Time to event").
_GENERIC_EVENT_NAMES = ("event", "events", "status", "stat", "cens", "censor", "censored", "censoring", "fail",
                        "failure", "observed", "d", "e", "delta", "outcome", "indicator", "fustat", "vstatus",
                        "gebeurtenis", "ereignis", "evenement", "statut")
#: Most causes a first-event column may have for init to read it as a competing-risks outcome.
MAX_CAUSES = 6


def _ordered_codes(ev: pd.Series) -> tuple[list[str], dict[str, Any]]:
    """A column's distinct codes as texts in order (:func:`order_levels`) and each text's value as the config writes
    it (a float column's 1.0 is written 1)."""
    vals = list(pd.unique(ev.dropna()))
    return [str(_py(v)) for v in order_levels(vals)], {str(_py(v)): _raw(v) for v in vals}


def _competing(ev: pd.Series, given: Any = None) -> tuple[Any, dict[Any, str], str] | None:
    """A first-event column of a competing-risks outcome: 3 to ``MAX_CAUSES + 1`` codes, exactly one of which reads
    as censored (0, or a word such as censored or alive); None for any other column.

    Returns its censoring code, the causes ``{code: label}`` with the cause of interest first, and the reason for
    that choice: ``given`` (``--event-value``) when it is one of the causes; else the one cause that reads as death;
    else, for numeric codes, the largest (R's survival data code death last: pbc's 0 censored, 1 transplant,
    2 death); else the first in order. A cause's label is its code (a word) or "cause <code>" (a number): the
    config's comment asks for better ones."""
    if not 3 <= ev.nunique() <= MAX_CAUSES + 1:   # before ordering: init tries every column named like an event
        return None
    texts, raw = _ordered_codes(ev)
    low = [t.strip().lower() for t in texts]
    cens = [i for i, t in enumerate(low) if t in _CENSORED_CODES]
    if len(cens) != 1:
        return None
    others = [i for i in range(len(texts)) if i != cens[0]]
    numeric = all(_numeric(pd.Series([texts[i]])) is not None for i in others)
    if given is not None:
        hit = [i for i in others if texts[i] == str(given) or str(raw[texts[i]]) == str(given)]
        if not hit:
            return None
        first, why = hit[0], "the cause of interest as given by --event-value"
    elif len(death := [i for i in others if low[i] in _DEATH_CODES]) == 1:
        first, why = death[0], f"{texts[death[0]]!r} reads as death"
    elif numeric:
        first = max(others, key=lambda i: float(texts[i]))
        why = ("the largest code, as R's survival data code death (pbc: 1 transplant, 2 death): check it, and list "
               "the cause you study first")
    else:
        first, why = others[0], "the first code in order: check it, and list the cause you study first"
    order = [first] + [i for i in others if i != first]
    causes = {raw[texts[i]]: (f"cause {texts[i]}" if numeric else texts[i]) for i in order}
    return raw[texts[cens[0]]], causes, why


def _event_code(ev: pd.Series, col: str, given: Any) -> tuple[Any, Any, str]:
    """The event column's code of an event, its other code, and the reason (rendered as a YAML comment).

    0/1 (or True/False): 1. 1/2: 2, as in R's survival package (``Surv(time, status)`` with status 1 = censored,
    2 = event, the coding of its ``lung`` and ``veteran`` data). Two words: the one that names an event (dead,
    relapse, yes, ...) or the one that is not a censoring word (alive, censored, no, ...). A column with one code
    keeps it when it reads as an event (every patient had one), else 1. ``given`` (``--event-value``) must be one of
    the codes.

    Raises
    ------
    DataError
        More than two codes, or two codes neither of which reads as the event, or ``given`` not among the codes.
    """
    texts, raw = _ordered_codes(ev)
    vals = [raw[t] for t in texts]
    shown = ", ".join(repr(t) for t in texts[:8])
    if given is not None and len(vals) > 2:
        raise DataError(f"init --event-value: column '{_c(col)}' has {len(vals)} codes (got {shown}), and an "
                        "outcome reads one code as the event and every other as censored. With competing events "
                        "(e.g. 1 = transplant, 2 = death), recode the competing codes as censored in the data, or "
                        f"after init write the outcome as `type: competing` with `causes: {{{given}: <cause of "
                        "interest>, ...}` (every other code but the censoring one, each with its label; the first "
                        "cause listed is the one the report's answer and sensitivity analyses use) and "
                        "`censor_value: 0`.")
    if given is not None:
        plain = [str(v) for v in vals]   # a float column's 2 is "2" in texts and "2.0" here: either is accepted
        if str(given) not in texts and str(given) not in plain:
            raise DataError(f"init --event-value: not a code of column '{_c(col)}' (got {str(given)!r}; codes: "
                            f"{shown}). Give the code that means the event.")
        i = texts.index(str(given)) if str(given) in texts else plain.index(str(given))
        other = next((v for j, v in enumerate(vals) if j != i), 0)
        return vals[i], other, "the code of an event as given by --event-value"
    if not vals or len(vals) > 2:
        raise DataError(f"init --event: column '{_c(col)}' must have two codes, one of them meaning the event (got "
                        f"{len(vals)} distinct value(s){': ' + shown if vals else ''}). Recode it in the data to "
                        "event/censored (a competing event as censored, or set up a competing-risks outcome in the "
                        "config by hand).")
    low = [t.lower() for t in texts]
    if len(vals) == 1:
        if low[0] in _EVENT_CODES:
            return vals[0], 0, f"the column's one code, {texts[0]}, read as an event: every patient had one"
        return 1, vals[0], f"1 = event; the column holds only {texts[0]!r} (no events)"
    if set(low) <= {"0", "1", "true", "false"}:
        i = low.index("1") if "1" in low else low.index("true")
        return vals[i], vals[1 - i], "1 = event, 0 = censored"
    if set(low) == {"1", "2"}:
        i = low.index("2")
        return vals[i], vals[1 - i], ("codes 1 and 2 read as in R's survival package: 2 = event, 1 = censored "
                                      "(check: some data use 1 = event, 2 = censored)")
    ev_like = [i for i, t in enumerate(low) if t in _EVENT_CODES]
    cens_like = [i for i, t in enumerate(low) if t in _CENSORED_CODES]
    if len(ev_like) == 1 and ev_like[0] not in cens_like:
        i = ev_like[0]
    elif len(cens_like) == 1:
        i = 1 - cens_like[0]
    else:
        raise DataError(f"init --event: cannot tell which code of column '{_c(col)}' means the event (got {shown}). "
                        f"Give it, e.g. `--event-value {texts[-1]}`.")
    return vals[i], vals[1 - i], f"{texts[i]!r} = event, {texts[1 - i]!r} = censored, from the words"


def propose(df: pd.DataFrame, *, data_path: str, name: str | None = None, treatment_col: str | None = None,
            time_col: str | None = None, event_col: str | None = None, treated_value: Any = None,
            event_value: Any = None, time_unit: str | None = None, horizon: float | None = None,
            landmarks: tuple[float, ...] | None = None, covariate_types: dict[str, str] | None = None,
            covariates: tuple[str, ...] | None = None, csv_options: dict[str, str] | None = None) -> ScaffoldPlan:
    """Infer a config for an analysis-ready table (see the module docstring); any argument given overrides the
    guess.

    Raises
    ------
    DataError
        A column cannot be guessed and was not given, a given column is not in the data, the treatment does
        not have two values (without ``treated_value``), the event column does not have two codes of which one
        can be read as the event (without ``event_value``; see :func:`_event_code`), or times are negative.
    """
    cols = [str(c) for c in df.columns]
    if len(df) == 0:
        raise DataError(f"{data_path}: the data have no rows (got 0 rows). Point --data at the analysis table.")
    df = df.set_axis(cols, axis=1)
    cand = guess_columns(df)

    def pick(role: str, given: str | None, flag: str, what: str) -> str:
        if given is not None:
            if given not in cols:
                raise DataError(f"init {flag}: column {given!r} is not in {data_path} (columns: "
                                f"{', '.join(map(repr, cols[:30]))}). Give one of them.")
            return given
        options = [c for c in cand[role] if c not in taken]
        if not options:
            # a column named for the role whose values do not fit it: say why it was not taken
            words = {"time": _TIME_WORDS, "event": _EVENT_WORDS, "treatment": _TREATMENT_WORDS}[role]
            named = [c for c in cols if c not in taken and _role_score(c, words) > 0][:2]
            why = "".join(f" Column '{_c(c)}' is named like one but has {_values_text(df[c])}." for c in named)
            fits = {"time": _is_time, "event": _is_event, "treatment": lambda x: x.dropna().nunique() == 2}[role]
            shaped = [c for c in cols if c not in taken and c not in named and fits(df[c])
                      and not infer_column(df[c], c).reason.startswith("looks like an identifier")
                      and not (role == "time" and any(t in _NOT_TIME_TOKENS for t in _tokens(c)))]
            if shaped:   # columns whose values fit the role, named otherwise (rotterdam's hormon, chemo)
                why += (f" Columns whose values could be one: {', '.join(repr(_c(c)) for c in shaped[:8])}"
                        + (" ..." if len(shaped) > 8 else "") + ".")
            dates = [c for c in cols if role == "time" and (pd.api.types.is_datetime64_any_dtype(df[c].dtype)
                                                              or _is_date_text(df[c].dropna().astype(str)))]
            if dates:   # R's udca: entry, last-contact and event dates, no time column
                why += (f" The data hold dates ({', '.join(repr(_c(c)) for c in dates[:6])}"
                        + (" ..." if len(dates) > 6 else "") + "): add a column of the time from time zero to the "
                        "event or the end of follow-up (e.g. days from the entry date to the last date), and an "
                        "event column, then run init again.")
            raise DataError(f"init {flag}: no column looks like {what} in {data_path} (columns: "
                            f"{', '.join(map(repr, cols[:30]))}).{why} Give it, e.g. `{flag} COLUMN`.")
        return options[0]

    for c in cols:
        # one row per patient: an identifier that repeats means start/stop (counting-process) rows or several
        # units per patient (R's heart, cgd, retinopathy), which this analysis would count as separate patients
        if _is_id_name(c, patient=True):
            ids = df[c].dropna()
            n_ids = int(ids.nunique())
            if 0 < n_ids < len(ids):
                raise DataError(f"init --data: column '{_c(c)}' repeats identifiers (got {len(ids)} rows for {n_ids} "
                                "ids), and the analysis reads one row per patient: baseline treatment and "
                                "covariates, one follow-up time. Keep one row per patient in the data (for start/"
                                "stop rows, the patient's whole follow-up from time zero with treatment as at time "
                                "zero); treatment that starts during follow-up needs a `sequential:` config "
                                "(configs/sequential_demo.yaml).")
    taken: list[str] = []
    time_col = pick("time", time_col, "--time", "a follow-up time (numbers >= 0 named like time, months, days)")
    taken.append(time_col)
    if event_col is None and not [c for c in cand["event"] if c not in taken]:
        # no two-code event column: a first-event column of competing risks (pbc's status 0/1/2) named like one
        cr = [c for c in _guess(df, _EVENT_WORDS, lambda x: _competing(x) is not None) if c not in taken]
        event_col = cr[0] if cr else None
    event_col = pick("event", event_col, "--event", "an event indicator (0/1, named like event, status, death)")
    taken.append(event_col)
    treatment_col = pick("treatment", treatment_col, "--treatment", f"a treatment with 2 to {MAX_ARMS} values "
                         "(named like treatment, arm, group)")
    if len({time_col, event_col, treatment_col}) < 3:
        raise DataError(f"init: the treatment, time and event columns must differ (got {treatment_col!r}, "
                        f"{time_col!r}, {event_col!r}). Give them with --treatment, --time and --event.")
    tr = df[treatment_col]
    values, variants = _grouped_codes(tr)
    if not 2 <= len(values) <= MAX_ARMS:
        shown = ", ".join(repr(str(_py(v))) for v in order_levels(values)[:8])
        raise DataError(f"init --treatment: column '{_c(treatment_col)}' must have 2 to {MAX_ARMS} values to "
                        f"compare (got {len(values)}: {shown}). Choose the treatment column, or group its codes "
                        "into arms in the data.")
    if len(values) == 2:
        arms, arm_reason = _arms(values, treatment_col, treated_value)
        reference = ""
    else:
        arms, arm_reason, reference = _arms_k(values, treatment_col, treated_value)
    t = _numeric(df[time_col])
    if t is None:
        raise DataError(f"init --time: column '{_c(time_col)}' must hold numbers (got text). Give the follow-up "
                        "time column.")
    if (t < 0).any():
        raise DataError(f"init --time: column '{_c(time_col)}' has {int((t < 0).sum())} negative time(s). Times "
                        "are measured from time zero: fix the data.")
    competing = _competing(df[event_col], event_value)
    causes: dict[Any, str] = {}
    censor_value: Any = 0
    if competing is not None:
        censor_value, causes, event_reason = competing
        event_value, censored_value = next(iter(causes)), censor_value
    else:
        event_value, censored_value, event_reason = _event_code(df[event_col], event_col, event_value)
    tvals = pd.to_numeric(df[time_col], errors="coerce")
    by_arm = {}
    for arm_name, code, _ in arms:
        m = code_mask(tr, [code]) & tvals.notna().to_numpy()
        by_arm[arm_name] = tvals[m].to_numpy(float)
    if time_unit is None:
        time_unit, unit_reason = guess_time_unit(time_col, tvals.dropna().to_numpy(float))
    else:
        unit_reason = "as given"
    h, lms, at_risk, why = propose_times(by_arm, time_unit)
    if horizon is not None:
        h, why = float(horizon), "as given"
        lms = tuple(x for x in lms if x < h) + (h,) if landmarks is None else lms
    if landmarks is not None:
        lms = tuple(sorted(float(x) for x in landmarks))
    # columns named like an outcome are left out of the covariates; not one named like a baseline status
    # ("Menopausal status", "Performance status": half a point, :func:`_role_score`)
    outcome_cols = set(cand["time"]) | {c for c in cand["event"] if _role_score(c, _EVENT_WORDS) >= 1}
    chosen = {treatment_col, time_col, event_col}
    outcome = _slug(event_col, "outcome")
    reserved = reserved_column_names([outcome])
    covs, skipped = [], []
    for c in cols:
        if c in chosen:
            continue
        if covariates is not None and c not in covariates:
            continue
        if str(c) in reserved:
            # the analysis table's own column of that name would replace its values (config._check_reserved_names)
            if covariates is not None:
                raise ConfigError(f"init --covariates: '{c}' is the analysis table's column for {reserved[str(c)]} "
                                  f"(got --covariates {','.join(map(str, covariates))}). Rename the column in the "
                                  f"data (e.g. to {c}_1) and list the new name.")
            skipped.append(ColumnGuess(c, "skip", (), int(df[c].isna().sum()),
                                       f"named like the analysis table's column for {reserved[str(c)]}; to adjust for "
                                       f"it, rename it as it is read (`data: {{columns: {{{c}: {c}_1}}}}`) and add "
                                       f"`{c}_1` under covariates"))
            continue
        g = infer_column(df[c], c)
        if covariate_types and c in covariate_types:
            if covariate_types[c] != g.type:
                g = _retype(df[c], c, covariate_types[c])
        elif covariates is None and c in outcome_cols and g.type != "skip":
            g = ColumnGuess(c, "skip", (), g.n_missing, "named like a follow-up time or event (an outcome, "
                            "measured after treatment, must not be a confounder)")
        (skipped if g.type == "skip" else covs).append(g)
    # "Time to death", "Time to recur"; a column that names no event ("status", "fustat", "event") gives "Time to
    # event" (R's gbsg: "Time to status" titled the report); the config's comment asks for a better label
    generic = event_col.strip().lower() in _GENERIC_EVENT_NAMES or event_col.strip().lower().endswith("stat")
    label = ("Time to event" if generic else f"Time to {event_col}") if outcome != "outcome" else "Outcome"
    if causes:
        label = f"First event ({event_col})"
    others = {"time": tuple(c for c in cand["time"] if c != time_col)[:4],
              "event": tuple(c for c in cand["event"] if c != event_col)[:4]}
    stem = name or _slug(Path(data_path).stem, "study")
    return ScaffoldPlan(name=_slug(stem, "study"), data_path=data_path, source=_source(data_path),
                        n_rows=len(df), treatment_col=treatment_col, arms=arms, time_col=time_col,
                        event_col=event_col, event_value=event_value, outcome=outcome, outcome_label=label,
                        time_unit=time_unit, unit_reason=unit_reason, horizon=h, landmarks=lms,
                        at_risk_times=at_risk, times_reason=why, covariates=tuple(covs), skipped=tuple(skipped),
                        other_candidates=others, arm_reason=arm_reason, event_reason=event_reason,
                        censored_value=censored_value, csv_options=dict(csv_options or {}),
                        reference_arm=reference, causes=causes, censor_value=censor_value, arm_variants=variants,
                        outcome_checks=_outcome_checks(df, time_col, event_col))


def _outcome_checks(df: pd.DataFrame, time_col: str, event_col: str) -> tuple[str, ...]:
    """Rows whose follow-up time or event is missing: validate and run stop on them (every patient needs both), so
    init says so in the config and on the console rather than write a config that fails."""
    out = []
    for col, what in ((time_col, "follow-up time"), (event_col, "event code")):
        k = int(df[col].isna().sum())
        if k:
            out.append(f"{k} row(s) have no {what} in column '{_c(col)}': validate and run stop on them; fix or "
                       "remove those rows in the data")
    return tuple(out)


def _grouped_codes(tr: pd.Series) -> tuple[list[Any], dict[str, tuple[Any, ...]]]:
    """A treatment column's distinct codes, those that differ only in case or spaces ("Yes", "yes ", " YES") as
    one: the most frequent of them without surrounding spaces stands for the group. Returns the codes and, for
    each group of two or more, the representative's code text -> every code of the group, which the config lists as one
    arm. Typed by hand, a registry's codes vary so: each variant read as an arm of its own made 'Yes' and 'Yes '
    two arms."""
    counts = tr.dropna().value_counts(sort=True)
    groups: dict[Any, list[Any]] = {}
    for v in counts.index:
        groups.setdefault(_variant_key(v), []).append(v)
    for g in groups.values():   # a variant without surrounding spaces stands for its group when there is one
        g.sort(key=lambda v: isinstance(v, str) and v != v.strip())
    values = [g[0] for g in groups.values()]
    variants = {code_text(_raw(g[0])): tuple(_raw(v) for v in g) for g in groups.values() if len(g) > 1}
    return values, variants


def _retype(s: pd.Series, name: str, kind: str) -> ColumnGuess:
    if kind not in ("categorical", "binary", "continuous", "skip"):
        raise ConfigError(f"init: covariate type of '{_c(name)}' must be categorical, binary, continuous or skip "
                          f"(got {kind!r}). Choose one of them.")
    levels = tuple(order_levels(list(pd.unique(s.dropna())))) if kind in ("categorical", "binary") else ()
    if kind == "continuous" and _numeric(s) is None:
        raise DataError(f"init: column '{_c(name)}' holds text and cannot be continuous (got "
                        f"{s.dropna().nunique()} distinct text value(s)). Type it categorical.")
    return ColumnGuess(name, kind, levels, int(s.isna().sum()), "as chosen")


def _source(path: str) -> str:
    suffix = str(path).rsplit(".", 1)[-1].lower()
    return {"csv": "csv", "txt": "csv", "parquet": "parquet", "pq": "parquet", "xlsx": "excel", "xls": "excel",
            "xlsm": "excel", "duckdb": "duckdb"}.get(suffix, "csv")


def relative_data_path(data: str | Path, config_out: str | Path) -> str:
    """The data path as the config should hold it: relative to the config's folder (POSIX separators)."""
    rel = os.path.relpath(Path(data).resolve(), Path(config_out).resolve().parent)
    return Path(rel).as_posix()


class _Flow(dict):
    """A mapping written on one line (``{type: categorical, levels: [a, b]}``)."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing lists of scalars and :class:`_Flow` mappings on one line, other mappings as blocks."""


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items(),
                                                                   flow_style=True))
_Dumper.add_representer(list, lambda d, data: d.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=all(not isinstance(x, (list, dict)) for x in data)))


def _plain_unicode(obj: Any) -> bool:
    """Whether every text in ``obj`` (keys, values, nested) holds only visible characters: letters with accents
    (männlich, Überleben) are written as they are; control, format (bidirectional overrides) and line-separator
    characters make the emitter escape the non-ASCII text instead (``\xE4``), so nothing hides in the file."""
    import unicodedata

    if isinstance(obj, dict):
        return all(_plain_unicode(k) and _plain_unicode(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_plain_unicode(v) for v in obj)
    if isinstance(obj, str):
        return all(ch.isascii() or (ch.isprintable() and unicodedata.category(ch)[0] != "C") for ch in obj)
    return True


def _dump(obj: Any, indent: int = 0) -> list[str]:
    """``obj`` as YAML lines by the emitter (keys and values quoted as needed), indented."""
    text = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=_plain_unicode(obj),
                     default_flow_style=False, width=10_000)
    return [" " * indent + line for line in text.splitlines()]


def _comment(text: str, indent: int = 0, width: int = 110) -> list[str]:
    """A comment wrapped to ``width`` columns (the text is already escaped by :func:`_c`)."""
    import textwrap

    pad = " " * indent + "# "
    return textwrap.wrap(text, width=width, initial_indent=pad, subsequent_indent=pad, break_long_words=False,
                         break_on_hyphens=False) or [pad.rstrip()]


def _flow(obj: Any) -> str:
    """A scalar as YAML text usable as a key or value on one line (quoted by the emitter inside a flow list,
    where line breaks are escaped)."""
    text = yaml.safe_dump([obj], allow_unicode=_plain_unicode(obj), default_flow_style=True, width=10_000).strip()
    return text[1:-1]


def _num(x: float) -> Any:
    return int(x) if float(x).is_integer() else float(x)


def plan_summary(plan: ScaffoldPlan) -> list[str]:
    """The guesses of ``init --data`` in a few lines for the console (the config's comments explain each)."""
    (_, tcode, tlabel), (_, ccode, clabel) = plan.arms[:2]
    unit_check = "" if plan.unit_reason.startswith("from the column name") else " (from the magnitude: check it)"
    covs = ", ".join(g.name for g in plan.covariates[:8]) + (" ..." if len(plan.covariates) > 8 else "")
    if len(plan.arms) > 2:
        ref = next(lab for n, _, lab in plan.arms if n == plan.reference_arm)
        head = (f"treatment: '{plan.treatment_col}', {len(plan.arms)} arms, reference {ref!r}, focal arm of the ATT "
                f"{tlabel!r}")
    else:
        head = f"treatment: '{plan.treatment_col}', treated arm {tlabel!r} vs {clabel!r}"
    lines = [head,
             f"outcome: time '{plan.time_col}' in {plan.time_unit}{unit_check}, event '{plan.event_col}' = "
             + (f"{plan.event_value!r}" if not plan.causes else
                f"cause {plan.event_value!r} of {len(plan.causes)} competing ("
                + ", ".join(f"{code_text(k)} = {v}" for k, v in plan.causes.items())
                + f"; censored = {code_text(plan.censor_value)})"),
             f"covariates ({len(plan.covariates)}): {covs or 'none'}"]
    if plan.skipped:
        lines.append(f"left out ({len(plan.skipped)}): " + ", ".join(g.name for g in plan.skipped[:8])
                     + (" ..." if len(plan.skipped) > 8 else ""))
    lines += [f"check: {c}" for c in plan.outcome_checks]
    if plan.arm_variants:
        lines.append("check: treatment codes differing only in case or spaces were made one arm ("
                     + "; ".join(", ".join(repr(v) for v in g) for g in plan.arm_variants.values()) + ")")
    mixed = [g.name for g in plan.covariates if _level_variants_note(g.levels)]
    if mixed:
        lines.append(f"check: levels differing only in case or spaces in {', '.join(mixed[:8])} (see the config)")
    return lines


def _arm_codes(plan: ScaffoldPlan, code: Any) -> list[Any]:
    """The codes the config lists for the arm of ``code``: its variants in case or spaces too."""
    return list(plan.arm_variants.get(code_text(code), (code,)))


def _variants_note(plan: ScaffoldPlan) -> str:
    if not plan.arm_variants:
        return ""
    shown = "; ".join(", ".join(repr(v) for v in group) for group in plan.arm_variants.values())
    return f" Codes that differ only in case or spaces are one arm ({_c(shown)}): check that they mean the same."


def render_plan(plan: ScaffoldPlan, *, command: str = "gistcausal init") -> str:
    """The commented YAML config of a :class:`ScaffoldPlan`; it validates and runs as written."""
    (tname, tcode, tlabel), (cname, ccode, clabel) = plan.arms[:2]
    unit = plan.time_unit
    out: list[str] = [
        f"# gistcausal study config written by `{_c(command)}` from {_c(plan.data_path)} ({plan.n_rows} rows).",
        "# Every choice below was inferred from the data: read each comment, change what is wrong, then run",
        "#   gistcausal validate THIS_FILE     (checks columns, types, levels, follow-up; fits nothing)",
        "#   gistcausal run THIS_FILE          (the analysis and its report)",
        "# Every key is documented in `gistcausal schema`; unknown keys are errors.",
    ]
    out += _dump({"name": plan.name, "title": f"{plan.outcome_label} by {plan.treatment_col}", "seed": 20201})
    out += ["", "# Where the data are; the path is relative to this file."]
    if "sheet" in plan.csv_options:
        out += ["# The workbook's sheet that holds the table (the one with the most filled cells)."]
    elif plan.csv_options:
        out += ["# The file's separator, decimal mark and encoding as found in it (sep, decimal, encoding)."]
    out += _dump({"data": {"source": plan.source, "path": plan.data_path, **plan.csv_options}})
    out += ["", "table:",
            f"  # Unit of the time column: {unit}, {plan.unit_reason}. Landmarks, horizon and at-risk",
            "  # times below are in this unit. Allowed: days, weeks, months, years."]
    out += _dump({"time_unit": unit}, 2)
    out += ["  treatment:"]
    if len(plan.arms) > 2:
        ref = plan.reference_arm
        ordered = [a for a in plan.arms if a[0] == ref] + [a for a in plan.arms if a[0] != ref]
        out += _comment(f"{len(plan.arms)} arms from the values of column '{_c(plan.treatment_col)}': "
                        + ", ".join(f"{_c(n)} = {_c(c)}" for n, c, _ in ordered)
                        + f"; {plan.arm_reason}. The first arm listed is the reference of the multinomial "
                        "propensity model; every pair of arms is compared; `treated` is the focal arm of an ATT. "
                        "The labels name the arms in the report: write them out." + _variants_note(plan), 4)
        out += _dump({"column": plan.treatment_col, "arms": _Flow({n: _arm_codes(plan, c) for n, c, _ in ordered}),
                      "treated": tname, "labels": _Flow({n: lab for n, _, lab in ordered})}, 4)
    else:
        out += _comment(f"Arms from the values of column '{_c(plan.treatment_col)}': {_c(tname)} = {_c(tcode)}, "
                        f"{_c(cname)} = {_c(ccode)}; {plan.arm_reason}. To swap, set `treated: {_c(cname)}`. The "
                        "labels name the arms in the report: write them out (e.g. \"Financial aid\")."
                        + _variants_note(plan), 4)
        out += _dump({"column": plan.treatment_col, "arms": _Flow({tname: _arm_codes(plan, tcode),
                                                                   cname: _arm_codes(plan, ccode)}),
                      "treated": tname, "labels": _Flow({tname: tlabel, cname: clabel})}, 4)
    out += ["  outcomes:"]
    if plan.causes:
        out += _comment(f"Competing risks: column '{_c(plan.event_col)}' holds the cause of each patient's first "
                        f"event ({', '.join(f'{_c(code_text(k))}' for k in plan.causes)}) and "
                        f"{_c(code_text(plan.censor_value))} for censored patients, so each cause's cumulative "
                        f"incidence is estimated with the others competing (Aalen-Johansen), not as censored. The "
                        f"first cause listed is the cause of interest (the report's answer, E-values, tipping point "
                        f"and specification grid): {_c(plan.event_reason)}. Name each cause (its label), e.g. "
                        "`causes: {2: death, 1: transplant}`. Time column "
                        f"'{_c(plan.time_col)}'. Rename the outcome (the key) and its label as you like.", 4)
    else:
        out += _comment(f"Time column '{_c(plan.time_col)}', event column '{_c(plan.event_col)}' (event_value "
                        f"{_c(plan.event_value)}: {plan.event_reason}). Check that it means the event happened: if "
                        f"it means censored, set `event_value: {_c(_flow(plan.censored_value))}`. Rename the outcome "
                        "(the key) and its label as you like.", 4)
    for check in plan.outcome_checks:
        out += _comment(f"CHECK: {check}.", 4)
    others = [f"{k}: {', '.join(map(_c, v))}" for k, v in plan.other_candidates.items() if v]
    if others:
        out += _comment(f"Other columns that look like outcomes ({'; '.join(others)}) can be added as further "
                        "outcomes here; they are left out of the covariates.", 4)
    if plan.causes:
        out += _dump({plan.outcome: _Flow({"label": plan.outcome_label, "type": "competing",
                                           "time_col": plan.time_col, "event_col": plan.event_col,
                                           "censor_value": plan.censor_value, "causes": _Flow(plan.causes)})}, 4)
    else:
        out += _dump({plan.outcome: _Flow({"label": plan.outcome_label, "time_col": plan.time_col,
                                           "event_col": plan.event_col, "event_value": plan.event_value})}, 4)
    out += ["", "# Baseline confounders: measured before treatment, affecting treatment choice and outcome.",
            "# type: categorical | binary | continuous. For categorical and binary the first level is the",
            "# reference. Remove a covariate you do not want to adjust for; add `label:` for the report."]
    out.append("covariates:" if plan.covariates else "covariates: {}")
    for g in plan.covariates:
        spec: dict[str, Any] = {"type": g.type}
        note = f"{g.reason}"
        if g.levels:
            spec["levels"] = [_py(v) for v in g.levels]
        if g.n_missing:
            spec["missing"] = "category" if g.type != "continuous" else "complete_case"
            note += (f"; {g.n_missing} missing: kept as level 'not_reported'" if g.type != "continuous" else
                     f"; {g.n_missing} missing: those patients are excluded (or set `missing: impute`)")
        out += _comment(f"{_c(g.name)}: {_c(note)}", 2)
        out += _dump({g.name: _Flow(spec)}, 2)
    if plan.skipped:
        out.append("# Left out (add them under covariates: if they are baseline confounders):")
        out += [f"#   {_c(g.name)}: {_c(g.reason)}" for g in plan.skipped]
    out += ["", "analysis:", "  survival:"]
    out += _comment(f"Horizon (RMST) and landmarks (survival differences) in {unit}: {_c(plan.times_reason)}. "
                    "Both must lie within every arm's follow-up (validate checks this).", 4)
    out += _dump({"landmarks": [_num(x) for x in plan.landmarks], "horizon": _num(plan.horizon),
                  "estimands": ["ATE"]}, 4)
    out += ["    # ATE | ATT | ATC | ATO; variance: robust | m_estimation | bootstrap"]
    out += _dump({"variance": "robust"}, 4)
    out += [f"  # Times of the numbers-at-risk table under the curves ({unit}, a round grid over the follow-up)."]
    out += _dump({"at_risk_times": [_num(x) for x in plan.at_risk_times]}, 2)
    return "\n".join(out) + "\n"


# ============================================================================ placeholder init (no data)
_TABLE = """\
# gistcausal study config (analysis-ready table). Validate with: gistcausal validate {file}
# Every key is documented in `gistcausal schema`; unknown keys are errors.
# Tip: `gistcausal init --data YOUR_FILE` infers all of this from the data.
name: {name}
title: "{title}"
seed: 20201

data:
  source: {source}            # csv | parquet | excel | duckdb | sql
  path: {path}                # relative to this file

table:
  time_unit: {time_unit}      # unit of the time column; landmarks and horizon below use it too
  treatment:
    column: {treatment_col}
    arms:
      treated: [{treated_value}]
      control: [{control_value}]
    treated: treated
  outcomes:
    primary:
      label: "Primary outcome"
      time_col: {time_col}
      event_col: {event_col}
      event_value: {event_value}          # the code of an event (others are censored)

covariates:                   # baseline confounders: type categorical | continuous | binary
{covariates}
analysis:
  propensity: {{method: logistic}}          # logistic | firth | boosting
  weights: {{stabilize: true}}              # truncate: [1, 99]   trim: crump
  survival:
    landmarks: [{landmarks}]
    horizon: {horizon}
    estimands: [ATE]                       # ATE | ATT | ATC | ATO
    variance: robust                       # robust | m_estimation | bootstrap
"""

_REGISTRY = """\
# gistcausal study config (registry records -> target-trial protocol). Validate with: gistcausal validate {file}
# Every key is documented in `gistcausal schema`; unknown keys are errors.
name: {name}
title: "{title}"
seed: 20201

data:
  source: {source}            # csv | parquet | excel | duckdb | sql
  path: {path}
  id_col: patient_id
  dates: [date_of_diagnosis, treatment_start_date, progression_date, date_of_death, date_last_followup]

protocol:
  time_unit: months
  eligibility:                # applied in this order; each step is counted in the flow diagram
    - label: "Adults at diagnosis"
      include: {{column: age_at_diagnosis, ge: 18}}
    - label: "No treatment start recorded"
      exclude: {{column: treatment_start_date, missing: true}}
  treatment:
    column: {treatment_col}
    arms:
      treated: [{treated_value}]
      control: [{control_value}]
    treated: treated
  time_zero: treatment_start_date
  outcomes:
    pfs:
      label: "Progression-free survival"
      events: [progression_date, date_of_death]   # the earliest recorded date is the event
      censor: date_last_followup

covariates:
{covariates}
analysis:
  survival:
    landmarks: [6, 12, 24]
    horizon: 24
    estimands: [ATE]
"""


@dataclass(frozen=True, slots=True)
class ScaffoldOptions:
    """What ``init`` without data needs to know; every field has a placeholder default that validates."""

    name: str = "my_study"
    title: str = "My comparative-effectiveness study"
    shape: str = "table"
    path: str = "data.csv"
    treatment_col: str = "treatment"
    treated_value: str = "1"
    control_value: str = "0"
    time_col: str = "time"
    event_col: str = "event"
    event_value: str = "1"
    time_unit: str = "months"
    covariates: tuple[str, ...] = ("age",)


def render_config(opts: ScaffoldOptions, *, file: str = "study.yaml") -> str:
    """The starter YAML text (placeholders; no data read)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", opts.name):
        raise ConfigError(f"init --name: use letters, digits, '_', '.', '-' only (got {opts.name!r}). It names the "
                          "report folder.")
    if opts.shape not in ("table", "registry"):
        raise ConfigError(f"init --shape: must be 'table' or 'registry' (got {opts.shape!r}).")
    covs = "".join(f"  {_flow(c)}: {{type: continuous}}        # or categorical / binary\n"
                   for c in opts.covariates) or "  {}\n"
    unit_lm = {"days": ("180, 365, 730", "730"), "weeks": ("26, 52, 104", "104"), "months": ("6, 12, 24", "24"),
               "years": ("1, 2, 5", "5")}[opts.time_unit]
    tpl = _TABLE if opts.shape == "table" else _REGISTRY
    return tpl.format(file=_c(file), name=opts.name, title=opts.title.replace('"', "'"), source=_source(opts.path),
                      path=_flow(opts.path), treatment_col=_flow(opts.treatment_col),
                      treated_value=_q(opts.treated_value), control_value=_q(opts.control_value),
                      time_col=_flow(opts.time_col), event_col=_flow(opts.event_col),
                      event_value=_event_text(opts.event_value), time_unit=opts.time_unit,
                      covariates=covs, landmarks=unit_lm[0], horizon=unit_lm[1])


def _event_text(v: str) -> str:
    """An event code given on the command line as YAML: a whole number as it is (``1``: the template's 0/1 column
    read as numbers), anything else quoted (:func:`_q`)."""
    return v if re.fullmatch(r"-?[0-9]+", v) else _q(v)


def _q(v: str) -> str:
    """Quote codes so YAML keeps them as strings ("yes" would otherwise become true)."""
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["ColumnGuess", "ScaffoldPlan", "ScaffoldOptions", "infer_column", "order_levels", "guess_columns",
           "guess_time_unit", "propose_times", "propose", "render_plan", "plan_summary", "render_config", "relative_data_path",
           "MAX_INTEGER_CODES", "MAX_TEXT_LEVELS"]
