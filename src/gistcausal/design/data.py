"""Reading registry records and analysis tables, with column and date checks.

:func:`load_data` reads what a config's ``data:`` section points at (the built-in synthetic registry, a
public dataset a dependency ships, CSV, Parquet, Excel, DuckDB or any SQLAlchemy database), renames columns
by the config's mapping, parses the listed date columns and checks that every column the config uses is
there with a usable type. The input is never modified: files are only read.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from gistcausal.design.config import DataSource, StudyConfig
from gistcausal.errors import DataError

#: Days per month used for every days -> months conversion (365.25 / 12), as in the study's registry.
DAYS_PER_MONTH = 30.4375


def _describe(src: DataSource, base: Path) -> str:
    if src.source == "synthetic":
        return f"synthetic registry (n={src.synthetic.n_patients}, seed={src.synthetic.seed})"
    if src.source == "builtin":
        return f"builtin dataset '{src.name}'"
    if src.source == "sql":
        # never echo credentials
        return "SQL database " + src.url.split("@")[-1] if src.url else "SQL database"
    return str(_resolve(src.path, base))


def _resolve(path: str | None, base: Path) -> Path:
    p = Path(path or "")
    return p if p.is_absolute() else base / p


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
                return pd.read_csv(path, dtype_backend="numpy_nullable").convert_dtypes(
                    dtype_backend="numpy_nullable").pipe(_to_numpy_dtypes)
            if src.source == "parquet":
                return pd.read_parquet(path)
            if src.source == "excel":
                return pd.read_excel(path, sheet_name=src.sheet or 0)
            import duckdb

            with duckdb.connect(str(path), read_only=True) as con:
                sql = src.query or f'SELECT * FROM "{src.table}"'
                return con.execute(sql).df()
        except DataError:
            raise
        except Exception as exc:  # unreadable file: name it and the reader's reason
            raise DataError(f"{path}: could not read as {src.source} ({type(exc).__name__}: {exc}). "
                            f"Check the file format matches data.source.") from exc
    # sql
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(src.url)
        with engine.connect() as con:
            sql = src.query or f'SELECT * FROM "{src.table}"'
            return pd.read_sql_query(sa.text(sql), con)
    except Exception as exc:
        raise DataError(f"{where}: could not read (data.table/data.query) ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0]}). Check data.url and that the table exists.") from exc


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
                            f"YYYY-MM-DD, or set data.date_format (e.g. '%d-%m-%Y').")
        out[c] = parsed
    return out


def load_data(cfg: StudyConfig) -> pd.DataFrame:
    """Load the records a config points at, renamed and with dates parsed.

    Returns a new DataFrame; the source is only read.

    Raises
    ------
    DataError
        Missing file, unreadable source, unknown columns in the mapping, unparseable dates, duplicate ids.
    """
    src = cfg.data
    where = _describe(src, cfg.base_dir)
    df = _read_raw(src, cfg.base_dir)
    if src.columns:
        missing = [k for k in src.columns if k not in df.columns]
        if missing:
            raise DataError(f"{where}: data.columns maps source column(s) {missing} that are not in the data "
                            f"(columns: {', '.join(map(str, df.columns[:30]))}). Fix the mapping's left-hand names.")
        df = df.rename(columns=src.columns)
    if src.dates:
        df = parse_dates(df, src.dates, where=where, date_format=src.date_format)
    if cfg.protocol is not None:
        if src.id_col not in df.columns:
            raise DataError(f"{where}: id column '{src.id_col}' (data.id_col) not found. Set data.id_col to the "
                            f"patient identifier column.")
        dup = df[src.id_col].duplicated(keep=False)
        if dup.any():
            ids = ", ".join(map(str, df.loc[dup, src.id_col].drop_duplicates().head(3)))
            raise DataError(f"{where}: column '{src.id_col}' has {int(dup.sum())} rows with duplicate patient ids "
                            f"(first: {ids}). Registry records need one row per patient: deduplicate the extract.")
    return df.reset_index(drop=True)


def require_columns(df: pd.DataFrame, columns: dict[str, str], *, where: str) -> None:
    """Check that each column exists and has the expected kind.

    Parameters
    ----------
    columns : dict
        ``{column: kind}`` with kind ``"date"``, ``"numeric"``, ``"any"``; the value of the dict is also what
        the message names as the config key that asked for the column.
    """
    problems = []
    for col, kind in columns.items():
        k, _, key = kind.partition("@")
        if col not in df.columns:
            problems.append(f"column '{col}' ({key or 'config'}) not found")
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
