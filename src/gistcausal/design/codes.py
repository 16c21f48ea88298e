"""Codes as text: how a value of a data column and a code written in the config are compared.

A column read from a CSV or Excel file holds the code 1 as the integer 1, or as the float 1.0 once the column
has a missing value (pandas has no missing integer in a float column), and a config may write it as ``1``,
``1.0`` or ``"1"``. Comparing ``str(value)`` with ``str(code)`` then missed "1.0" against "1": a treatment
column with one missing value emptied an arm, and an event column with one missing value was refused as
not binary. Here every value and code is written as its code text first: a whole number as an integer
("1.0" -> "1"), anything else as ``str``.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

#: whole floats up to this magnitude are written as integers (beyond it a float is not an exact integer code)
_EXACT = 2.0 ** 53


def code_text(value: Any) -> str:
    """The code text of one value: ``1``, ``1.0`` and ``"1"`` are all ``"1"``; ``True`` is ``"True"``; other
    values are ``str(value)``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer() \
            and abs(value) < _EXACT:
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def code_texts(values: pd.Series) -> pd.Series:
    """:func:`code_text` of each value of a column (missing values become ``"nan"``, as ``astype(str)``).

    Vectorised for numeric and string columns; a column of mixed Python objects is mapped value by value."""
    kind = values.dtype.kind
    if kind in "iub":
        return values.astype(str)
    if kind == "f":
        x = values.to_numpy(dtype=float)
        out = values.astype(str)
        whole = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) < _EXACT)
        if whole.any():
            out[whole] = pd.Series(x[whole].astype(np.int64), index=values.index[whole]).astype(str)
        return out
    if isinstance(values.dtype, pd.CategoricalDtype):   # the categories' texts, taken by code
        texts = np.array([code_text(c) for c in values.cat.categories] + ["nan"], dtype=object)
        return pd.Series(texts[values.cat.codes.to_numpy()], index=values.index)
    if kind != "O" or pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.astype(str)
    return values.map(lambda v: "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else code_text(v))


def code_mask(values: pd.Series, codes: Iterable[Any]) -> np.ndarray:
    """Rows of ``values`` whose code text is one of ``codes``' (missing values never match)."""
    wanted = {code_text(c) for c in codes}
    return (code_texts(values).isin(wanted) & values.notna()).to_numpy()


__all__ = ["code_text", "code_texts", "code_mask"]
