"""Reading registry records and analysis tables, with column and date checks.

:func:`load_data` reads what a config's ``data:`` section points at (the built-in synthetic registry, a
public dataset a dependency ships, CSV, Parquet, Excel, DuckDB or any SQLAlchemy database), renames columns
by the config's mapping, parses the listed date columns and checks that every column the config uses is
there with a usable type. The input is never modified: files are only read.
"""
from __future__ import annotations

import re

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from gistcausal._checks import closest
from gistcausal.design.config import DataSource, StudyConfig, yaml_value
from gistcausal.design.redact import redact, url_secrets
from gistcausal.errors import DataError

#: Days per month used for every days -> months conversion (365.25 / 12), as in the study's registry.
DAYS_PER_MONTH = 30.4375


def _describe(src: DataSource, base: Path) -> str:
    if src.source == "synthetic":
        return f"synthetic registry (n={src.synthetic.n_patients}, seed={src.synthetic.seed})"
    if src.source == "builtin":
        return f"builtin dataset '{src.name}'"
    if src.source == "sql":
        return f"SQL database {redact(src.url)}" if src.url else "SQL database"
    return str(_resolve(src.path, base))


def _resolve(path: str | None, base: Path) -> Path:
    p = Path(path or "")
    return p if p.is_absolute() else base / p


#: A number written with a decimal comma (3,5 or -12,25), as a whole field.
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")


def sniff_csv(path: str | Path) -> dict[str, str]:
    """The CSV settings a file needs beyond the defaults (``data.sep``, ``data.decimal``, ``data.encoding``),
    read from its first 64 KiB: the encoding is utf-8 unless those bytes are not UTF-8 (then cp1252, the
    Windows superset of latin-1); the separator is the one of ``, ; tab |`` found most often in the header line;
    with another separator than a comma, the decimal mark is a comma when number-like fields are written with
    one (3,5). ``init --data`` writes them into the config; ``run`` reads only what the config says."""
    raw = Path(path).read_bytes()[:65536]
    cut = raw.rfind(b"\n")
    head = raw[:cut] if 0 < cut < len(raw) - 1 else raw   # whole lines only: no multibyte character cut
    out: dict[str, str] = {}
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = head.decode("cp1252", errors="replace")
        out["encoding"] = "cp1252"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return out
    counts = {sep: lines[0].count(sep) for sep in (",", ";", "\t", "|")}
    sep = max(counts, key=lambda k: counts[k])
    if counts[sep] and sep != ",":
        out["sep"] = sep
        fields = [f.strip().strip('"') for ln in lines[1:200] for f in ln.split(sep)]
        if any(_DECIMAL_COMMA.fullmatch(f) for f in fields):
            out["decimal"] = ","
    return {k: out[k] for k in ("sep", "decimal", "encoding") if k in out}


def _read_raw(src: DataSource, base: Path) -> pd.DataFrame:
    where = _describe(src, base)
    if src.source == "synthetic":
        from gistcausal.design.simulate import simulate_registry

        s = src.synthetic
        return simulate_registry(s.n_patients, seed=s.seed, confounding=s.confounding, hr_pfs=s.hr_pfs,
                                 hr_os=s.hr_os, tumor_size_missing=s.tumor_size_missing)
    if src.source == "builtin":
        if src.name == "sequential_demo":
            from gistcausal.stats.sequential import simulate_sequential_data

            # a synthetic person-month table with a known HR of 0.6 (documented in gistcausal.stats.sequential)
            return simulate_sequential_data(2000, random_state=src.synthetic.seed)
        from lifelines.datasets import load_gbsg2

        return load_gbsg2()
    if src.source in ("csv", "parquet", "excel", "duckdb"):
        path = _resolve(src.path, base)
        if not path.is_file():
            raise DataError(f"{path}: data file not found (data.path). Check the path; relative paths are "
                            f"resolved against the config's folder.")
        try:
            if src.source == "csv":
                enc = "utf-8-sig" if src.encoding == "utf-8" else src.encoding   # a UTF-8 BOM is skipped
                df = pd.read_csv(path, dtype_backend="numpy_nullable", encoding=enc, sep=src.sep,
                                 decimal=src.decimal)
                if len(df.columns) == 1:
                    sep = next((c for c in (";", "\t", "|", ",") if c != src.sep and c in str(df.columns[0])), None)
                    if sep is not None:
                        shown = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}[sep]
                        found = {"sep": sep, **sniff_csv(path)}   # the file's own decimal mark and encoding
                        keys = [f"sep: {shown}"] + [f"{k}: '{found[k]}'" for k in ("decimal", "encoding")
                                                    if k in found and found[k] != getattr(src, k)]
                        fix = "`data: {" + ", ".join(keys) + "}`"
                        raise DataError(f"{path}: the file has one column whose name contains {shown} (got "
                                        f"{shown}-separated values, read with sep: {src.sep!r}). Set {fix}, or "
                                        "save it comma-separated (in Excel: 'CSV UTF-8 (comma delimited)').")
                out = df.convert_dtypes(dtype_backend="numpy_nullable").pipe(_to_numpy_dtypes)
                repeated = _repeated(_csv_header(path, enc, src.sep))
                if repeated:
                    out.attrs["duplicate_columns"] = repeated
                return out
            if src.source == "parquet":
                return pd.read_parquet(path)
            if src.source == "excel":
                return _read_excel(path, src.sheet)
            import duckdb

            with duckdb.connect(str(path), read_only=True) as con:
                sql = src.query or f'SELECT * FROM "{src.table}"'
                return con.execute(sql).df()
        except DataError:
            raise
        except Exception as exc:  # unreadable file: name it and the reader's reason
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise DataError(f"{path}: could not read as {src.source} ({type(exc).__name__}: {redact(reason)}). "
                            f"Check that the file format matches `data: {{source: {src.source}}}`.") from None
    return _read_sql(src, where)


def _read_sql(src: DataSource, where: str) -> pd.DataFrame:
    import sqlalchemy as sa

    secrets = url_secrets(src.url)
    try:
        url = sa.engine.make_url(src.url)
        # a closed port fails at once; an unroutable host would otherwise hang for minutes
        connect_args = {"connect_timeout": 10} if url.get_backend_name() in ("postgresql", "mysql") else {}
        engine = sa.create_engine(url, connect_args=connect_args)
        try:
            with engine.connect() as con:
                sql = src.query or f'SELECT * FROM "{src.table}"'
                return pd.read_sql_query(sa.text(sql), con)
        finally:
            engine.dispose()
    except Exception as exc:  # the driver's text may echo the DSN: it is redacted like every message
        reason = (str(exc).strip().splitlines() or [""])[0]
        # `from None`: the chained traceback would print the driver's unredacted text
        raise DataError(f"{where}: could not read the database (data.url, data.table/data.query) "
                        f"({type(exc).__name__}: {redact(reason, secrets=secrets)}). Check that the server is "
                        "reachable, the credentials, and that the table exists.") from None


def _read_excel(path: Path, sheet: str | None) -> pd.DataFrame:
    """One sheet of a workbook; a wrong or empty sheet names the sheets that exist and ``data.sheet``."""
    with pd.ExcelFile(path) as book:
        names = [str(n) for n in book.sheet_names]
        if sheet is not None and sheet not in names:
            raise DataError(f"{path}: sheet '{sheet}' (data.sheet) not found (got sheets: {', '.join(names)}). "
                            f"Set `data: {{sheet: {names[0]}}}` to one of them.")
        chosen = sheet if sheet is not None else names[0]
        df = book.parse(chosen)
        header = book.parse(chosen, header=None, nrows=1)   # the names as written (parse renames repeats)
    df.attrs["excel_sheets"] = names
    df.attrs["excel_sheet"] = chosen
    repeated = _repeated([str(v) for v in header.iloc[0]] if len(header) else [])
    if repeated:
        df.attrs["duplicate_columns"] = repeated
    if df.empty and len(df.columns) == 0 and len(names) > 1:
        others = [n for n in names if n != chosen]
        raise DataError(f"{path}: sheet '{chosen}' is empty (sheets: {', '.join(names)}). Choose the sheet "
                        f"holding the data with `data: {{sheet: {others[0]}}}`.")
    return df


def _csv_header(path: Path, encoding: str, sep: str) -> list[str]:
    """The first row of a CSV file as written (pandas renames a repeated name 'age' to 'age.1')."""
    import csv

    try:
        with open(path, encoding=encoding, newline="") as fh:
            return next(csv.reader(fh, delimiter=sep), [])
    except (OSError, UnicodeError, csv.Error):
        return []


def _repeated(names: list[str]) -> dict[str, int]:
    """Names written more than once in a header, with their counts."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return {n: c for n, c in counts.items() if c > 1}


def _sheet_hint(df: pd.DataFrame) -> str:
    names = df.attrs.get("excel_sheets") or []
    if len(names) < 2:
        return ""
    other = next(n for n in names if n != df.attrs.get("excel_sheet"))
    return (f" The data were read from sheet '{df.attrs.get('excel_sheet')}' of a workbook with sheets "
            f"{', '.join(names)}; choose another with `data: {{sheet: {other}}}`.")


_FLAT_TYPES = frozenset({"string", "bytes", "empty", "boolean", "integer", "floating", "mixed-integer-float",
                         "decimal", "complex", "datetime64", "datetime", "date", "timedelta64", "timedelta", "time",
                         "period", "interval", "categorical"})


def _check_cell_types(df: pd.DataFrame, where: str) -> None:
    """Nested values (Parquet list/struct columns, JSON arrays) cannot be analysed or hashed: name them."""
    for c in df.columns:
        s = df[c]
        if s.dtype != object or s.empty:
            continue
        # columns whose values pandas can type (text, numbers, dates) hold no nested values: skip the
        # per-value check, which costs a Python call per record
        if pd.api.types.infer_dtype(s, skipna=True) in _FLAT_TYPES:
            continue
        nested = s.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray))).to_numpy(dtype=bool)
        if nested.any():
            raise DataError(f"{where}: column '{c}' holds {int(nested.sum())} nested value(s) (lists or structs, "
                            "got a list/struct column). Flatten it to one value per cell in the extract, or drop it "
                            "from the query.")


def _to_numpy_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas dtypes -> plain numpy/object dtypes used throughout (NaN for missing)."""
    out = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s.dtype) and s.isna().any():
            out[c] = s.astype(object).where(s.notna(), np.nan)
        elif pd.api.types.is_bool_dtype(s.dtype):
            out[c] = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(s.dtype):
            out[c] = s.astype("float64") if s.isna().any() or pd.api.types.is_float_dtype(s.dtype) else s.astype("int64")
        else:
            out[c] = s.astype(object).where(s.notna(), np.nan)
    return pd.DataFrame(out, index=df.index)


def parse_dates(df: pd.DataFrame, columns: Iterable[str], *, where: str, date_format: str | None = None) -> pd.DataFrame:
    """Parse date columns; unparseable values are an error that names the column and counts the rows."""
    out = df.copy()
    for c in columns:
        if c not in out.columns:
            raise DataError(f"{where}: date column '{c}' (data.dates) not found. Available columns: "
                            f"{', '.join(map(str, out.columns[:30]))}. Fix the name or the column mapping.")
        s = out[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            continue
        parsed = pd.to_datetime(s, errors="coerce", format=date_format or "ISO8601")
        bad = parsed.isna() & s.notna() & (s.astype(str).str.strip() != "")
        if bad.any():
            raise DataError(f"{where}: column '{c}' has {int(bad.sum())} unparseable date(s). Use "
                            "YYYY-MM-DD, or set `data: {date_format: '%d-%m-%Y'}`.")
        out[c] = parsed
    return out


def load_data(cfg: StudyConfig, *, check_ids: bool = True, check_treatment: bool = True) -> pd.DataFrame:
    """Load the records a config points at, renamed and with dates parsed.

    Returns a new DataFrame; the source is only read. ``check_ids=False`` skips the duplicate-id check
    (used to list the flagged records themselves); ``check_treatment=False`` the check that the treatment column
    is in a workbook's sheet (``init --data`` reads a table before it knows any column).

    Raises
    ------
    DataError
        Missing file, unreadable source, unknown columns in the mapping, unparseable dates, duplicate ids.
    """
    src = cfg.data
    where = _describe(src, cfg.base_dir)
    df = _read_raw(src, cfg.base_dir)
    if len(df) == 0:
        what = "the header only" if len(df.columns) else "no columns either"
        raise DataError(f"{where}: the data have no rows (got {what}). Point data.path (or the query) at the "
                        "records to analyse." + _sheet_hint(df))
    _check_cell_types(df, where)
    if src.columns:
        missing = [k for k in src.columns if k not in df.columns]
        if missing:
            raise DataError(f"{where}: data.columns maps source column(s) {missing} that are not in the data "
                            f"(columns: {', '.join(map(str, df.columns[:30]))}). Fix the mapping's left-hand names."
                            + _sheet_hint(df))
        df = df.rename(columns=src.columns)
    treat_col = cfg.treatment.column
    if check_treatment and treat_col not in df.columns and _sheet_hint(df):
        raise DataError(f"{where}: treatment column '{treat_col}' not found (columns: "
                        f"{', '.join(map(str, df.columns[:30]))}).{_sheet_hint(df)}")
    if src.dates:
        df = parse_dates(df, src.dates, where=where, date_format=src.date_format)
    if cfg.protocol is not None:
        if src.id_col not in df.columns:
            raise DataError(f"{where}: id column '{src.id_col}' (data.id_col) not found. Set `data: {{id_col: ...}}` "
                            f"to the patient identifier column.{_sheet_hint(df)}")
        dup = (df[src.id_col].duplicated(keep=False) & df[src.id_col].notna()).to_numpy()
        if dup.any() and check_ids:
            # counts only: ids never go into messages (list them with --write-flagged-ids)
            raise DataError(f"{where}: column '{src.id_col}' has {int(dup.sum())} rows sharing "
                            f"{int(df.loc[dup, src.id_col].nunique())} duplicate patient id(s). Registry records "
                            "need one row per patient: deduplicate the extract (list the ids with "
                            "`gistcausal validate CONFIG --write-flagged-ids flagged.csv`).")
    if isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1:
        return df   # already numbered 0..n-1: reset_index would only copy (0.5 s at 1e6 records, issue 17)
    return df.reset_index(drop=True)


def closest_column(name: str, columns: Any) -> str | None:
    """The column a missing ``name`` most likely means: the one equal to it but for case and surrounding or
    repeated spaces (a header " Age " for ``age``), else the closest by spelling (difflib ratio >= 0.8), else
    None (:func:`gistcausal._checks.closest`)."""
    return closest(name, columns, cutoff=0.8)


def _near_fix(key: str, near: str) -> str:
    """The fix for a config key naming a column by another spelling, in YAML."""
    leaf = key.rsplit(".", 1)[-1] if key else ""
    if leaf in ("time_col", "event_col", "value_col", "column", "id_col", "treatment_column", "time_zero"):
        return f"write `{leaf}: {yaml_value(near)}`, or rename the column in the data"
    return (f"rename the column in the data, or map it: `data: {{columns: {{{yaml_value(near)}: "
            f"{key.rsplit('.', 1)[-1] or 'name'}}}}}`")


def require_columns(df: pd.DataFrame, columns: dict[str, str], *, where: str) -> None:
    """Check that each column exists and has the expected kind.

    Parameters
    ----------
    columns : dict
        ``{column: kind}`` with kind ``"date"``, ``"numeric"``, ``"any"``; the value of the dict is also what
        the message names as the config key that asked for the column.
    """
    problems = []
    repeated = df.attrs.get("duplicate_columns") or {}
    for col, kind in columns.items():
        k, _, key = kind.partition("@")
        if col in repeated:
            copies = ", ".join(repr(col if i == 0 else f"{col}.{i}") for i in range(repeated[col]))
            problems.append(f"column '{col}' ({key or 'config'}) is written {repeated[col]} times in the data's "
                            f"header (read as {copies}), so which one is meant is not clear; give the columns "
                            "different names in the file")
            continue
        if col not in df.columns:
            near = closest_column(col, df.columns)
            hint = "" if near is None else f" (did you mean {near!r}? Then {_near_fix(key, near)})"
            problems.append(f"column '{col}' ({key or 'config'}) not found{hint}")
            continue
        s = df[col]
        if k == "date" and not pd.api.types.is_datetime64_any_dtype(s):
            problems.append(f"column '{col}' ({key}) must be a date (got dtype {s.dtype}); list it under data.dates")
        elif k == "numeric" and not pd.api.types.is_numeric_dtype(s):
            problems.append(f"column '{col}' ({key}) must be numeric (got dtype {s.dtype})")
    if problems:
        avail = ", ".join(map(str, df.columns[:40]))
        raise DataError(f"{where}: " + "; ".join(problems) + f". Available columns: {avail}. Fix the config key "
                        "or the data.columns mapping.")
