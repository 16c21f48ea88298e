"""A manuscript draft of a run: ``manuscript.docx`` and ``manuscript.md`` beside ``report.html``.

The draft follows the order the TARGET statement asks for (Cashin AG et al. JAMA/BMJ 2025): Methods
(generated from the config, with references), Results (patient flow, Table 1, the main estimates with their
intervals and the sensitivity summary), Figure 1 (patient flow), Figure 2 (adjusted survival curves of the
primary outcome with numbers at risk), Table 2 (estimates) and the TARGET checklist as a supplementary table.
Tables go through the journal table renderer (:mod:`gistcausal.present.render.word`); each is rendered to its
own document and its body copied in, so the manuscript's tables are exactly those of ``tables/*.docx``.
Everything is text the authors are expected to edit: the introduction and discussion are left to them.
"""
from __future__ import annotations

import copy
import io
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from gistcausal.present.answer import answer
from gistcausal.present.sections import estimates_display, display_labels, methods_paragraph
from gistcausal.present.table_model import TableModel
from gistcausal.present.target import target_checklist
from gistcausal.results import AnalysisResults


def flow_sentence(r: AnalysisResults) -> str:
    """The flow in one sentence: records screened, patients analysed, per arm."""
    cfg = r.config
    f = r.flow
    first = f.to_frame().iloc[0]
    arms = ", ".join(f"{n} {cfg.treatment.label(a) if a in cfg.treatment.arms else a}" for a, n in f.arms)
    unit = "person-trials" if cfg.sequential is not None else "patients"
    return (f"Of {int(first['n_before'])} records, {f.n_final} {unit} met the eligibility criteria and were "
            f"analysed ({arms}); Figure 1 shows each step.")


def _figure_keys(r: AnalysisResults, figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, caption) of Figure 1 (flow) and Figure 2 (adjusted curves of the primary outcome)."""
    cfg = r.config
    o = cfg.primary_outcome
    out = []
    if "flow" in figures:
        out.append(("flow", "Patient flow from the source records to the analysed cohort."))
    est = cfg.analysis.survival.estimands[0]
    for key, cap in ((f"km_{o}_{est}", f"{cfg.outcomes[o].label}: survival curves weighted for the {est} "
                                       "(inverse probability of treatment weights), with numbers at risk."),
                     (f"km_{o}", f"{cfg.outcomes[o].label}: unadjusted Kaplan-Meier curves with numbers at risk."),
                     ("sequential_curves", f"{cfg.outcomes[o].label}: pooled sequential trials.")):
        if key in figures:
            out.append((key, cap))
            break
    return out


def _estimates_table(r: AnalysisResults) -> pd.DataFrame:
    out_labels, labels = display_labels(r)
    main = [e for e in r.estimates if e.measure in ("hr", "rmst_diff", "surv_diff", "median_diff")]
    return estimates_display(main or list(r.estimates), outcomes=out_labels, arms=labels)


def _tables(r: AnalysisResults) -> list[tuple[str, TableModel]]:
    """(kind, model) in manuscript order: Table 1, Table 2, Supplementary Table 1."""
    out: list[tuple[str, TableModel]] = []
    if r.table1 is not None and hasattr(r.table1, "model"):
        t1 = r.table1.model
        out.append(("table1", replace(t1, caption=t1.caption or "Baseline characteristics", number=1)))
    t2 = TableModel.from_frame(_estimates_table(r), caption="Estimated effects with 95% confidence intervals")
    out.append(("table2", replace(t2, number=2)))
    out.append(("checklist", target_checklist(r).model(number=1)))
    return out


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    return buf.getvalue()


def _append_rendered(doc: Any, model: TableModel) -> None:
    """Render ``model`` with the journal Word renderer and copy its caption, table and notes into ``doc``."""
    from docx import Document

    from gistcausal.present.render.word import render_docx

    with tempfile.TemporaryDirectory() as tmp:
        path = render_docx(model, Path(tmp) / "t.docx")
        src = Document(str(path))
    body = doc.element.body
    sect = body[-1]  # the body's final sectPr stays last
    for el in list(src.element.body):
        if el.tag.endswith("}sectPr"):
            continue
        sect.addprevious(copy.deepcopy(el))


def _base_document(model: TableModel) -> Any:
    """An empty portrait document carrying the table renderer's styles (Table Text, Table Heading, Caption)."""
    from docx import Document
    from docx.enum.section import WD_ORIENT

    from gistcausal.present.render.word import render_docx

    with tempfile.TemporaryDirectory() as tmp:
        doc = Document(str(render_docx(model, Path(tmp) / "base.docx")))
    body = doc.element.body
    for el in list(body):
        if not el.tag.endswith("}sectPr"):
            body.remove(el)
    sec = doc.sections[0]
    if sec.orientation == WD_ORIENT.LANDSCAPE:
        sec.orientation = WD_ORIENT.PORTRAIT
        sec.page_width, sec.page_height = sec.page_height, sec.page_width
    return doc


def manuscript_parts(r: AnalysisResults) -> dict[str, Any]:
    """The manuscript's text: title, methods, results paragraphs (shared by the Word and Markdown versions)."""
    a = answer(r)
    results = [flow_sentence(r), "Table 1 shows the baseline characteristics by arm.",
               " ".join([a.lead, *a.supporting]).replace("Answer: ", "").replace("Answer ", ""),
               *a.caveats, "Table 2 lists the estimates; Figure 2 shows the adjusted survival curves."]
    return {"title": r.config.title or r.config.name, "methods": methods_paragraph(r),
            "results": [p[0].upper() + p[1:] for p in results if p]}


def write_manuscript(results: AnalysisResults, path: str | Path, figures: dict[str, Any]) -> Path:
    """Write ``manuscript.docx`` at ``path`` and ``manuscript.md`` beside it (see the module docstring).

    Parameters
    ----------
    results : AnalysisResults
    path : str or Path
        The ``.docx`` file to write; the Markdown version takes the same name with ``.md``.
    figures : dict
        Matplotlib figures by key, as from :func:`gistcausal.present.figures.build_figures`.

    Returns
    -------
    Path
        The ``.docx`` path.
    """
    from docx.shared import Inches

    path = Path(path)
    parts = manuscript_parts(results)
    tables = _tables(results)
    figs = _figure_keys(results, figures)
    doc = _base_document(tables[-1][1])
    doc.add_heading(parts["title"], level=0)
    doc.add_heading("Methods", level=1)
    doc.add_paragraph(parts["methods"])
    doc.add_heading("Results", level=1)
    for p in parts["results"]:
        doc.add_paragraph(p)
    md = [f"# {parts['title']}", "", "## Methods", "", parts["methods"], "", "## Results", ""]
    md += [x for p in parts["results"] for x in (p, "")]
    by_kind = dict(tables)
    if "table1" in by_kind:
        _append_rendered(doc, by_kind["table1"])
        md += [_md_table(by_kind["table1"]), ""]
    md_dir = path.with_suffix("")
    for k, (key, caption) in enumerate(figs, start=1):
        doc.add_paragraph().add_run().add_picture(io.BytesIO(_png(figures[key])), width=Inches(6.0))
        doc.add_paragraph(f"Figure {k}. {caption}", style="Caption")
        md_dir.mkdir(exist_ok=True)
        (md_dir / f"figure{k}.png").write_bytes(_png(figures[key]))
        md += [f"![Figure {k}. {caption}]({md_dir.name}/figure{k}.png)", "", f"*Figure {k}. {caption}*", ""]
    _append_rendered(doc, by_kind["table2"])
    md += [_md_table(by_kind["table2"]), ""]
    doc.add_page_break()
    doc.add_heading("Supplementary material", level=1)
    _append_rendered(doc, by_kind["checklist"])
    md += ["## Supplementary material", "", _md_table(by_kind["checklist"]), ""]
    doc.save(str(path))
    path.with_suffix(".md").write_text("\n".join(md), encoding="utf-8")
    return path


def _md_table(model: TableModel) -> str:
    df = model.to_frame().drop(columns=["level"])
    df = df.rename(columns={"variable": model.columns[0].label})
    df.iloc[:, 0] = ["    " * r.indent + r.stub for r in model.rows]
    notes = "\n".join(f"_{n}_" for n in model.footnotes)
    return f"**{model.title}**\n\n" + df.to_markdown(index=False) + ("\n\n" + notes if notes else "")


__all__ = ["write_manuscript", "manuscript_parts", "flow_sentence"]
