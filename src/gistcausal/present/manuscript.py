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

from gistcausal.design.disclosure import suppress_text, threshold_for
from gistcausal.present.answer import answer
from gistcausal.present.people import people_model, vocabulary
from gistcausal.present.sections import estimates_display, display_labels, methods_paragraph
from gistcausal.present.table_model import TableModel, printable_text
from gistcausal.present.target import target_checklist
from gistcausal.present.plots import save_png
from gistcausal.present.render.text import markdown_text, render_markdown
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


def manuscript_figures(r: AnalysisResults, figures: Any) -> list[tuple[str, str]]:
    """(key, caption) of Figure 1 (flow) and Figure 2 (adjusted curves of the primary outcome), among the
    keys of ``figures`` (the figure names of the run)."""
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
    """Table 2: per outcome and estimand, the hazard ratio, the RMST difference and the survival difference at
    the last landmark, adjusted (the configured method) and unadjusted; the full list is in tables/estimates."""
    out_labels, labels = display_labels(r)
    last = max(r.config.analysis.survival.landmarks, default=None)
    keep = {"hr", "rmst_diff", "surv_diff"}
    main = [e for e in r.estimates if e.measure in keep and e.method in ("iptw", "matching", "entropy_balancing",
                                                                       "unadjusted", "sequential_trials")
            and (e.measure != "surv_diff" or (last is not None and abs(e.time - last) < 1e-9))]
    df = estimates_display(main or list(r.estimates), outcomes=out_labels, arms=labels)
    # Columns that say the same on every row (or nothing) go to the caption's context, not the table.
    return df[[c for c in df.columns if c in ("outcome", "measure", "estimate", "95% CI")
               or df[c].astype(str).nunique() > 1]]


def _tables(r: AnalysisResults) -> list[tuple[str, TableModel]]:
    """(kind, model) in manuscript order: Table 1, Table 2, Supplementary Table 1."""
    out: list[tuple[str, TableModel]] = []
    if r.table1 is not None and hasattr(r.table1, "model"):
        t1 = r.table1.model
        out.append(("table1", replace(t1, caption=t1.caption or "Baseline characteristics", number=1)))
    # as the report shows it: headings in words, methods and variances as labels ("IPTW", "Robust"), not codes
    t2 = people_model(_estimates_table(r), vocabulary(r), caption="Estimated effects with 95% confidence intervals")
    out.append(("table2", replace(t2, number=2)))
    out.append(("checklist", target_checklist(r).model(number=1)))
    return out


def figure_png(fig: Any, *, bbox: Any = None) -> bytes:
    """A manuscript figure as PNG bytes (150 dpi, cropped to ``bbox``, default the tight bounding box,
    :func:`gistcausal.present.plots.tight_bbox`); PNG bytes are returned as they are."""
    if isinstance(fig, bytes):
        return fig
    buf = io.BytesIO()
    save_png(fig, buf, dpi=150, bbox=bbox)
    return buf.getvalue()


def _orient(section: Any, landscape: bool) -> None:
    from docx.enum.section import WD_ORIENT

    if (section.orientation == WD_ORIENT.LANDSCAPE) != landscape:
        section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = section.page_height, section.page_width


def _append_rendered(doc: Any, model: TableModel, *, last: bool = False, heading: str | None = None) -> None:
    """Render ``model`` with the journal Word renderer and copy its caption, table and notes into ``doc``.

    A table the renderer put on a landscape page (it is wider than the portrait text) gets its own landscape
    section here too, with the renderer's margins, so its fixed column widths fit; the text after it returns to
    portrait unless the table is ``last``. A ``heading`` starts a new page above the caption."""
    from docx import Document
    from docx.enum.section import WD_ORIENT, WD_SECTION

    from gistcausal.present.render.word import render_docx

    with tempfile.TemporaryDirectory() as tmp:
        path = render_docx(model, Path(tmp) / "t.docx")
        src = Document(str(path))
    wide = src.sections[0].orientation == WD_ORIENT.LANDSCAPE
    if wide:
        sec = doc.add_section(WD_SECTION.NEW_PAGE)
        _orient(sec, True)
        sec.left_margin, sec.right_margin = src.sections[0].left_margin, src.sections[0].right_margin
    elif heading:
        doc.add_page_break()
    if heading:
        doc.add_heading(heading, level=1)
    body = doc.element.body
    sect = body[-1]  # the body's final sectPr stays last
    for el in list(src.element.body):
        if el.tag.endswith("}sectPr"):
            continue
        sect.addprevious(copy.deepcopy(el))
    if wide and not last:
        sec = doc.add_section(WD_SECTION.NEW_PAGE)
        _orient(sec, False)
        sec.left_margin, sec.right_margin = doc.sections[0].left_margin, doc.sections[0].right_margin


def _base_document(model: TableModel) -> Any:
    """An empty portrait document carrying the table renderer's styles (Table Text, Table Heading, Caption)."""
    from docx import Document
    from docx.shared import Inches

    from gistcausal.present.render.word import render_docx

    with tempfile.TemporaryDirectory() as tmp:
        doc = Document(str(render_docx(model, Path(tmp) / "base.docx")))
    body = doc.element.body
    for el in list(body):
        if not el.tag.endswith("}sectPr"):
            body.remove(el)
    _orient(doc.sections[0], False)
    doc.sections[0].left_margin = doc.sections[0].right_margin = Inches(1)
    return doc


def manuscript_parts(r: AnalysisResults) -> dict[str, Any]:
    """The manuscript's text: title, methods, results paragraphs (shared by the Word and Markdown versions)."""
    a = answer(r)
    results = [flow_sentence(r), "Table 1 shows the baseline characteristics by arm.",
               " ".join([a.lead, *a.supporting]).replace("Answer: ", "").replace("Answer ", ""),
               *a.caveats, "Table 2 lists the estimates; Figure 2 shows the adjusted survival curves."]
    k = threshold_for(r.config)   # counts of 1..k-1 patients or events in the sentences, as in the tables
    # printable: a label from the config or the data with a control character cannot be written to Word's XML
    return {"title": printable_text(r.config.title or r.config.name),
            "methods": printable_text(suppress_text(methods_paragraph(r), k)),
            "results": [printable_text(suppress_text(p[0].upper() + p[1:], k)) for p in results if p]}


def write_manuscript(results: AnalysisResults, path: str | Path, figures: dict[str, Any]) -> Path:
    """Write ``manuscript.docx`` at ``path`` and ``manuscript.md`` beside it (see the module docstring).

    Parameters
    ----------
    results : AnalysisResults
    path : str or Path
        The ``.docx`` file to write; the Markdown version takes the same name with ``.md``.
    figures : dict
        Matplotlib figures by key, as from :func:`gistcausal.present.figures.build_figures`, or their PNG
        bytes (as from :func:`figure_png`) for the keys :func:`manuscript_figures` selects.

    Returns
    -------
    Path
        The ``.docx`` path.
    """
    from docx.shared import Inches

    path = Path(path)
    parts = manuscript_parts(results)
    tables = _tables(results)
    figs = manuscript_figures(results, figures)
    doc = _base_document(tables[-1][1])
    doc.add_heading(parts["title"], level=0)
    doc.add_heading("Methods", level=1)
    doc.add_paragraph(parts["methods"])
    doc.add_heading("Results", level=1)
    for p in parts["results"]:
        doc.add_paragraph(p)
    md = [f"# {markdown_text(parts['title'])}", "", "## Methods", "", markdown_text(parts["methods"]), "",
          "## Results", ""]
    md += [x for p in parts["results"] for x in (markdown_text(p), "")]
    by_kind = dict(tables)
    if "table1" in by_kind:
        _append_rendered(doc, by_kind["table1"])
        md += [_md_table(by_kind["table1"]), ""]
    md_dir = path.with_suffix("")
    for k, (key, caption) in enumerate(figs, start=1):
        image = figure_png(figures[key])  # drawn once for the Word and the Markdown manuscript
        doc.add_paragraph().add_run().add_picture(io.BytesIO(image), width=Inches(6.0))
        doc.add_paragraph(printable_text(f"Figure {k}. {caption}"), style="Caption")
        md_dir.mkdir(exist_ok=True)
        (md_dir / f"figure{k}.png").write_bytes(image)
        text = markdown_text(printable_text(caption))
        alt = text.replace("[", "(").replace("]", ")")
        md += [f"![Figure {k}. {alt}]({md_dir.name}/figure{k}.png)", "", f"*Figure {k}. {text}*", ""]
    _append_rendered(doc, by_kind["table2"])
    md += [_md_table(by_kind["table2"]), ""]
    _append_rendered(doc, by_kind["checklist"], last=True, heading="Supplementary material")
    md += ["## Supplementary material", "", _md_table(by_kind["checklist"]), ""]
    doc.save(str(path))
    path.with_suffix(".md").write_text("\n".join(md), encoding="utf-8")
    return path


def _md_table(model: TableModel) -> str:
    """The table as the exported ``tables/*.md`` write it (:func:`~gistcausal.present.render.text.
    render_markdown`: pipes escaped, HTML tags shown as text, control characters replaced)."""
    return render_markdown(model).rstrip("\n")


__all__ = ["write_manuscript", "manuscript_parts", "manuscript_figures", "figure_png", "flow_sentence"]
