"""Make the table artifacts shown in docs/tables.md (run by hand; the PNGs are committed):

    PYTHONPATH=src python tests/present/make_table_artifacts.py

Runs ``gistcausal balance`` on configs/gist_second_line.yaml (the synthetic registry, seeded), then
* docs/img/table1_html.png      headless Chromium screenshot of table1.html;
* docs/img/table1_docx.png      first page of table1.docx (LibreOffice -> PDF -> pdftoppm);
* docs/img/balance_summary_docx.png, docs/img/love_ATE.png;
* checks that table1.tex compiles with pdflatex when it is installed.
Needs /usr/bin/chromium, soffice (libreoffice-writer-nogui), pdftoppm (poppler-utils), optionally pdflatex.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"


def _docx_png(docx: Path, out_png: Path, work: Path) -> None:
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(work), str(docx)], check=True,
                   capture_output=True, timeout=180)
    pdf = work / (docx.stem + ".pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(out_png.with_suffix(""))], check=True, timeout=120)


def main() -> int:
    from gistcausal.design.config import load_config
    from gistcausal.present.balance_report import write_balance

    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = write_balance(load_config(ROOT / "configs" / "gist_second_line.yaml"), work / "balance")
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={IMG / 'table1_html.png'}", "--window-size=1500,1250",
                        (out / "table1.html").as_uri()], check=True, capture_output=True, timeout=180)
        _docx_png(out / "table1.docx", IMG / "table1_docx.png", work)
        _docx_png(out / "balance_summary.docx", IMG / "balance_summary_docx.png", work)
        shutil.copy(out / "love_ATE.png", IMG / "love_ATE.png")
        if shutil.which("pdflatex"):
            subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "table1.tex"], cwd=out,
                           check=True, capture_output=True, timeout=180)
            subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile",
                            str(out / "table1.pdf"), str(IMG / "table1_latex")], check=True, timeout=120)
    for p in sorted(IMG.glob("*.png")):
        print(p.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
