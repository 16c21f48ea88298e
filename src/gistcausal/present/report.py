"""Writing an analysis to disk: ``results.json``, tables, figures and a self-contained ``report.html``.

Everything is first written into a temporary folder beside the destination and moved into place only when
complete, so a failed run leaves the previous report intact and never a half-written one. Outputs are
aggregate-only (no patient rows, ids or dates); small cells can be suppressed.

``results.json`` (schema documented in ``docs/results_json.md``) is deterministic for a given config, data
and seed: it holds no timestamps or paths (those go to ``manifest.json``) and floats are rounded to 10
significant digits so that platform noise in the last bits does not change the bytes.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from gistcausal._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from gistcausal.pipeline import AnalysisResults

SCHEMA_VERSION = "1.0"
_PACKAGES = ("gistcausal", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "lifelines", "dowhy",
             "matplotlib", "seaborn", "pydantic")


def _round(x: Any, digits: int = 10) -> Any:
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
        return {str(k): _round(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v, digits) for v in x]
    if isinstance(x, np.ndarray):
        return [_round(v, digits) for v in x.tolist()]
    return x


def dumps_json(obj: Any) -> str:
    """Deterministic JSON: rounded floats, NaN -> null, sorted keys at no level (order is meaningful)."""
    return json.dumps(_round(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in _PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:  # pragma: no cover
            out[p] = "not installed"
    return out


def fig_to_png_base64(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True, slots=True)
class ReportSection:
    """One section of the HTML report: a title, paragraphs, tables and figures (in that order)."""

    key: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    figures: tuple[tuple[str, str], ...] = ()  # (caption, figure key)
    notes: tuple[str, ...] = ()
    details: tuple[tuple[str, pd.DataFrame], ...] = ()  # long tables, collapsed under the section


def frame_to_html(df: pd.DataFrame) -> Markup:
    """HTML table with every cell escaped (column names and category labels come from data)."""
    return Markup(df.to_html(index=False, escape=True, na_rep="", border=0, classes="tbl"))


@contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir``; on success it replaces ``out_dir`` (the old folder is moved
    aside first and removed after), on any error it is deleted and ``out_dir`` is left as it was."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
        backup = None
        if out_dir.exists():
            backup = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, backup)
        os.replace(tmp, out_dir)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_outputs(results: "AnalysisResults", out_dir: str | Path, *, command: str | None = None,
                  formats: tuple[str, ...] | None = None) -> Path:
    """Write the whole output folder atomically.

    Layout: ``report.html``, ``results.json``, ``manifest.json``, ``tables/<name>.<ext>``,
    ``figures/<name>.png`` and ``.svg``.

    Returns
    -------
    Path
        The final output folder.
    """
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        (tmp / "tables").mkdir()
        (tmp / "figures").mkdir()
        formats = formats or tuple(results.config.output.formats)
        for name, table in results.tables().items():
            _export_table(table, tmp / "tables" / name, formats)
        figures = results.figures()
        png: dict[str, str] = {}
        for name, fig in figures.items():
            fig.savefig(tmp / "figures" / f"{name}.png", dpi=130, bbox_inches="tight")
            fig.savefig(tmp / "figures" / f"{name}.svg", bbox_inches="tight")
            png[name] = fig_to_png_base64(fig)
        (tmp / "results.json").write_text(dumps_json(results.to_dict()), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(results, png), encoding="utf-8")
        manifest = results.manifest(command=command)
        manifest["outputs"] = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        (tmp / "manifest.json").write_text(json.dumps(_round(manifest), indent=2) + "\n", encoding="utf-8")
    return out_dir


def _export_table(table: Any, stem: Path, formats: tuple[str, ...]) -> None:
    """Write ``table`` in each format: a :class:`~gistcausal.present.table_model.TableModel` or an object with
    ``write(path, format=...)`` (tables.TableOne) through the journal-style renderers; a DataFrame as data
    (csv, md, tex, html as before) and, for Word and Excel, as a ruled table with numbers kept numeric."""
    from gistcausal.present.render import write_table
    from gistcausal.present.table_model import TableModel

    for fmt in formats:
        path = stem.with_suffix("." + fmt)
        if isinstance(table, TableModel):
            write_table(table, path, format=fmt)
            continue
        if hasattr(table, "write"):
            table.write(path, format={"md": "markdown", "tex": "latex"}.get(fmt, fmt))
            continue
        df: pd.DataFrame = table
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "md":
            path.write_text(df.to_markdown(index=False) + "\n", encoding="utf-8")
        elif fmt == "tex":
            path.write_text(df.to_latex(index=False, escape=True, na_rep=""), encoding="utf-8")
        elif fmt == "html":
            path.write_text(str(frame_to_html(df)), encoding="utf-8")
        elif fmt == "xlsx":
            from gistcausal.present.render.excel import render_xlsx

            render_xlsx(TableModel.from_frame(df), path, sheet=stem.name)
        elif fmt == "docx":
            _frame_to_docx(df, path)


def _frame_to_docx(df: pd.DataFrame, path: Path) -> None:
    """A DataFrame as a Word table with the journal rules (three horizontal rules, bold header), floats to
    three decimals; landscape when wide."""
    from gistcausal.present.render.word import render_docx
    from gistcausal.present.table_model import TableModel

    render_docx(TableModel.from_frame(df), path)


def render_html(results: "AnalysisResults", png: dict[str, str]) -> str:
    env = Environment(loader=PackageLoader("gistcausal", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["table"] = frame_to_html
    tpl = env.get_template("report.html")
    return tpl.render(r=results, sections=results.sections(), png=png, version=__version__,
                      esc=html.escape)


def run_manifest(*, config_path: str | None, config_text: str | None, data_hash: str | None, seed: int,
                 command: str | None, timings: dict[str, float]) -> dict[str, Any]:
    return {
        "gistcausal_version": __version__,
        "results_schema_version": SCHEMA_VERSION,
        "config_path": config_path,
        "config_sha256": hashlib.sha256(config_text.encode()).hexdigest() if config_text else None,
        "data_sha256": data_hash,
        "seed": seed,
        "command": command or " ".join(sys.argv),
        "packages": package_versions(),
        "platform": platform.platform(),
        "timings_seconds": timings,
    }
