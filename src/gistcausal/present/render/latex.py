"""LaTeX rendering of a :class:`~gistcausal.present.table_model.TableModel`: booktabs rules
(``\\toprule``, ``\\midrule``, ``\\bottomrule``, ``\\cmidrule`` under spanning headers), ``\\multicolumn``
header groups, every label escaped. ``standalone=True`` wraps it in a document that compiles with pdflatex
(packages booktabs, graphicx and geometry; wide tables are scaled to the text width, landscape when the table has more than eight columns).
"""
from __future__ import annotations

from pathlib import Path

from gistcausal.present.table_model import TableModel

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "–": "--", "—": "---", "−": "-", "≥": r"$\geq$", "≤": r"$\leq$",
            "×": r"$\times$", "²": r"\textsuperscript{2}", "|": r"\textbar{}", "±": r"$\pm$", "Σ": r"$\Sigma$"}


def escape_latex(text: object) -> str:
    """Escape LaTeX's special characters (and map a few Unicode signs to their LaTeX commands)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def render_latex(model: TableModel, *, standalone: bool = False) -> str:
    """The ``table`` environment; with ``standalone`` a complete document around it."""
    model = model.printable()
    ncol = len(model.columns)
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small"]
    if model.caption:
        lines.append(r"\caption{" + escape_latex(model.caption) + "}")
    wide = ncol > 8
    if wide:
        # Wide tables are scaled to the text width (on a landscape page when standalone).
        lines.append(r"\resizebox{\linewidth}{!}{%")
    lines += [r"\begin{tabular}{l" + "c" * (ncol - 1) + "}", r"\toprule"]
    if model.has_groups:
        cells, rules = [], []
        for group, a, b in model.groups:
            if group is None:
                cells += [""] * (b - a + 1)
                continue
            cells.append(rf"\multicolumn{{{b - a + 1}}}{{c}}{{{escape_latex(group)}}}")
            rules.append(rf"\cmidrule(lr){{{a + 1}-{b + 1}}}")
        lines += [" & ".join(cells) + r" \\", "".join(rules)]
    lines.append(" & ".join(escape_latex(c.label) for c in model.columns) + r" \\")
    if model.has_sublabels:
        # "n = 72.3, ESS = 66.9" goes on two header lines so the column is as wide as its numbers.
        parts = [c.sublabel.split(", ") if c.sublabel else [] for c in model.columns]
        for k in range(max(len(p) for p in parts)):
            lines.append(" & ".join(escape_latex(p[k]) if k < len(p) else "" for p in parts) + r" \\")
    lines.append(r"\midrule")
    for row in model.rows:
        stub = (r"\hspace{1em}" * row.indent) + escape_latex(row.stub)
        lines.append(" & ".join([stub] + [escape_latex(c.text) for c in row.cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}" + ("}" if wide else "")]
    if model.footnotes:
        lines.append(r"\par\smallskip\parbox{\linewidth}{\footnotesize " +
                     r"\\ ".join(escape_latex(n) for n in model.footnotes) + "}")
    lines.append(r"\end{table}")
    body = "\n".join(lines) + "\n"
    if not standalone:
        return body
    geometry = "landscape,margin=1.5cm" if ncol > 8 else "margin=2.5cm"
    return "\n".join([r"\documentclass[10pt]{article}", r"\usepackage[T1]{fontenc}", r"\usepackage[utf8]{inputenc}",
                      r"\usepackage{booktabs}", r"\usepackage{graphicx}", rf"\usepackage[{geometry}]{{geometry}}", r"\pagestyle{empty}",
                      r"\begin{document}", body + r"\end{document}", ""])


def write_latex(model: TableModel, path: str | Path) -> Path:
    """A ``.tex`` file that compiles on its own (the ``table`` environment inside can be copied into a paper)."""
    Path(path).write_text(render_latex(model, standalone=True), encoding="utf-8")
    return Path(path)


__all__ = ["render_latex", "write_latex", "escape_latex"]
