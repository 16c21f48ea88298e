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
import errno
import hashlib
import html
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from gistcausal._version import __version__
from gistcausal.analysis.spec import engine as spec_engine
from gistcausal.design.disclosure import suppress_text, threshold_for
from gistcausal.design.redact import redact
from gistcausal.effects import round_floats
from gistcausal.engine import run_beside_each
from gistcausal.errors import OutputError
from gistcausal.present.export import people_tables, result_tables, suppress_table_text
from gistcausal.present.people import people_frame, vocabulary
from gistcausal.present.figures import FIGURE_GROUPS, build_figures
from gistcausal.present.manuscript import figure_png, manuscript_figures, write_manuscript
from gistcausal.present.plots import save_figure
from gistcausal.present.sections import build_sections, frame_to_html
from gistcausal.present.table_model import printable_text
from gistcausal.present.target import target_checklist
from gistcausal.results import SCHEMA_VERSION, AnalysisResults


_PACKAGES = ("gistcausal", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "lifelines", "dowhy",
             "matplotlib", "seaborn", "pydantic")


def dumps_json(obj: Any) -> str:
    """Deterministic JSON: rounded floats, NaN -> null, sorted keys at no level (order is meaningful)."""
    return json.dumps(round_floats(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


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


@contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir``; on success it replaces ``out_dir`` (the old folder is moved
    aside first and removed after), on any error it is deleted and ``out_dir`` is left as it was (a failed
    final rename puts the old folder back)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    backup = None
    try:
        yield tmp
        if out_dir.exists():
            backup = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, backup)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None and backup.exists() and not out_dir.exists():
            os.replace(backup, out_dir)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def output_error(exc: OSError, out_dir: Path, *, what: str = "the report") -> OutputError:
    """An OSError while writing, as an OutputError naming the path, the reason and the fix."""
    code = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        fix = "Free disk space, or write elsewhere with `--out OTHER_FOLDER`"
    elif exc.errno in (errno.EEXIST, errno.ENOTDIR):
        fix = "A file stands where a folder is needed on that path: choose another folder with `--out OTHER_FOLDER`"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "Choose a writable folder with `--out OTHER_FOLDER` (or `output: {dir: ...}`), or fix its permissions"
    else:
        fix = "Check the folder and the disk, or write elsewhere with `--out OTHER_FOLDER`"
    return OutputError(f"{out_dir}: cannot write {what} (got {code + ': ' if code else ''}{reason}). {fix}. "
                       "Nothing was replaced: a previous version there is intact.")


def write_outputs(results: AnalysisResults, out_dir: str | Path, *, command: str | None = None,
                  formats: tuple[str, ...] | None = None) -> Path:
    """Write the whole output folder atomically.

    Layout: ``report.html``, ``results.json``, ``manifest.json``, ``tables/<name>.<ext>``,
    ``figures/<name>.png`` and ``.svg``.

    Returns
    -------
    Path
        The final output folder.

    Raises
    ------
    OutputError
        The folder cannot be written (permissions, read-only file system, disk full); the previous report,
        if any, is left as it was.
    """
    out_dir = Path(out_dir)
    try:
        with atomic_dir(out_dir) as tmp:
            _write_into(results, tmp, command=command, formats=formats)
    except OSError as exc:
        raise output_error(exc, out_dir) from None
    return out_dir


def _write_into(results: AnalysisResults, tmp: Path, *, command: str | None,
                formats: tuple[str, ...] | None) -> None:
    (tmp / "tables").mkdir()
    (tmp / "figures").mkdir()
    formats = formats or tuple(results.config.output.formats)
    # Figures (most of the time of a report, whatever the cohort size) are drawn in two halves, one per worker
    # process, while this one writes the tables and results.json: one worker drawing them all was the long pole
    # (issue 17). With one worker (or Dask) they are drawn here, afterwards.
    figures = run_beside_each(spec_engine(results.config), figure_files,
                              [(results, tmp / "figures", group) for group in FIGURE_GROUPS])
    try:
        k = threshold_for(results.config)
        tables = {name: suppress_table_text(t, k) for name, t in result_tables(results).items()}
        people = people_tables(results, tables)
        for name, table in tables.items():
            _export_table(table, tmp / "tables" / name, formats, people=people.get(name))
        (tmp / "results.json").write_text(dumps_json(results_document(results)), encoding="utf-8")
        manifest = results_manifest(results, command=command)  # here, while the figures are drawn
    finally:  # never leave a worker writing into a folder that is about to be removed
        halves = figures()
    png = {name: data for half, _ in halves for name, data in half.items()}
    drawn = {key: data for _, half in halves for key, data in half.items()}
    manuscript_png = {key: drawn[key] for key, _ in manuscript_figures(results, png)}
    (tmp / "report.html").write_text(render_html(results, png), encoding="utf-8")
    write_manuscript(results, tmp / "manuscript.docx", manuscript_png)
    manifest["outputs"] = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    (tmp / "manifest.json").write_text(json.dumps(round_floats(manifest), indent=2) + "\n", encoding="utf-8")


def figure_files(results: AnalysisResults, folder: Path,
                 group: str | None = None) -> tuple[dict[str, str], dict[str, bytes]]:
    """Draw every figure of ``results`` (with ``group``, those of one of
    :data:`~gistcausal.present.figures.FIGURE_GROUPS`) and write ``<name>.png`` (130 dpi) and ``<name>.svg``
    into ``folder``.

    Returns the PNGs base64-encoded by name (the HTML report embeds the files just written instead of drawing
    each figure again) and the manuscript's figures as PNG bytes by key (150 dpi, see
    :func:`~gistcausal.present.manuscript.manuscript_figures`), so the caller needs no figure objects and this
    can run in another process. For a group, the manuscript figures are those ``manuscript_figures`` picks among
    the group's figures: a superset of the group's share of the run's pick, since the pick is the flow diagram
    and the first present of a list of curves in order of preference.
    """
    figures = build_figures(results, group=group)
    png: dict[str, str] = {}
    for name, fig in figures.items():
        save_figure(fig, folder / name)   # laid out once for both files
        png[name] = base64.b64encode((folder / f"{name}.png").read_bytes()).decode("ascii")
    # the manuscript's PNGs (150 dpi) are cropped to their own tight box: the report's, measured at 130 dpi, cut
    # the first letters of a long numbers-at-risk label
    manuscript = {key: figure_png(figures[key]) for key, _ in manuscript_figures(results, figures)}
    return png, manuscript


def results_document(results: AnalysisResults) -> dict[str, Any]:
    """The content of ``results.json``: :meth:`AnalysisResults.to_dict` and the TARGET checklist counts
    (``target_checklist``, schema 1.1). The counts are added here, not in ``results.py``: the checklist is
    presentation (paraphrases, report section anchors) and ``results`` sits below that layer
    (docs/architecture.md)."""
    return {**results.to_dict(), "target_checklist": target_checklist(results).counts_dict()}


def _export_table(table: Any, stem: Path, formats: tuple[str, ...], *, people: Any = None) -> None:
    """Write ``table`` in each format: a :class:`~gistcausal.present.table_model.TableModel` or an object with
    ``write(path, format=...)`` (tables.TableOne) through the journal-style renderers; a DataFrame as data in
    CSV and, in the other formats, as ``people`` (its table for people,
    :func:`~gistcausal.present.export.people_tables`) when given, else as data (md, tex, html) and, for Word and
    Excel, as a ruled table with numbers kept numeric."""
    from gistcausal.present.render import write_table
    from gistcausal.present.render.text import write_frame_csv
    from gistcausal.present.table_model import TableModel

    for fmt in formats:
        path = stem.with_suffix("." + fmt)
        if people is not None and fmt != "csv":
            write_table(people, path, format=fmt)
            continue
        if isinstance(table, TableModel):
            write_table(table, path, format=fmt)
            continue
        if hasattr(table, "write"):
            table.write(path, format={"md": "markdown", "tex": "latex"}.get(fmt, fmt))
            continue
        df: pd.DataFrame = table
        if fmt == "csv":
            write_frame_csv(df, path)
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


def render_html(results: AnalysisResults, png: dict[str, str]) -> str:
    env = Environment(loader=PackageLoader("gistcausal", "templates"), autoescape=select_autoescape(["html"]))
    vocab = vocabulary(results)
    # every frame a person reads: headings in words, codes as labels, numbers rounded (present.people)
    env.filters["table"] = lambda t: frame_to_html(people_frame(t, vocab) if isinstance(t, pd.DataFrame) else t)
    tpl = env.get_template("report.html")
    page = tpl.render(r=results, sections=build_sections(results), png=png, version=__version__,
                      esc=html.escape)
    # counts of 1..k-1 patients or events in sentences (warnings, notes, failure reasons), as in the tables
    # control characters from a data or config file (a level with a vertical tab) are not text a page may hold
    return printable_text(suppress_text(page, threshold_for(results.config), html=True))


def results_manifest(results: AnalysisResults, *, command: str | None = None) -> dict[str, Any]:
    """The run's provenance (``manifest.json``): versions, the config and data hashes, seed, command, timings.

    The config file is read here, at writing time, for its hash; the results themselves never read files.
    """
    path = results.config.source_path
    text = Path(path).read_text(encoding="utf-8") if path and Path(path).is_file() else None
    return run_manifest(config_path=path, config_text=text, data_hash=results.data_hash, seed=results.config.seed,
                        command=command, timings=results.timings)


def run_manifest(*, config_path: str | None, config_text: str | None, data_hash: str | None, seed: int,
                 command: str | None, timings: dict[str, float]) -> dict[str, Any]:
    """The run's provenance for ``manifest.json``. Credentials never enter it: the path and command are
    redacted, and the config hash is taken over the redacted text (a hash of a short password would let it
    be guessed offline)."""
    return {
        "gistcausal_version": __version__,
        "results_schema_version": SCHEMA_VERSION,
        "config_path": redact(config_path) if config_path else None,
        "config_sha256": hashlib.sha256(redact(config_text).encode()).hexdigest() if config_text else None,
        "data_sha256": data_hash,
        "seed": seed,
        "command": redact(command or " ".join(sys.argv)),
        "packages": package_versions(),
        "platform": platform.platform(),
        "timings_seconds": timings,
    }
