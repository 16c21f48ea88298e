"""Make docs/img/manuscript_page1.png, the first page of the manuscript draft (run by hand; the PNG is committed):

    PYTHONPATH=src python tests/present/make_manuscript_artifact.py

Runs configs/gist_second_line.yaml (the synthetic registry, seeded), writes manuscript.docx with
:func:`gistcausal.present.manuscript.write_manuscript` and renders its first page (LibreOffice headless -> PDF ->
pdftoppm). Needs soffice (libreoffice-writer-nogui) and pdftoppm (poppler-utils); exits 0 with a message
when they are missing.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "img" / "manuscript_page1.png"


def main() -> int:
    if not shutil.which("soffice") or not shutil.which("pdftoppm"):
        print("soffice or pdftoppm not installed: nothing rendered")
        return 0
    import matplotlib

    matplotlib.use("Agg")
    from gistcausal.design.config import load_config
    from gistcausal.pipeline import run
    from gistcausal.present.figures import build_figures
    from gistcausal.present.manuscript import write_manuscript

    results = run(load_config(ROOT / "configs" / "gist_second_line.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        docx = write_manuscript(results, work / "manuscript.docx", build_figures(results))
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(work), str(docx)],
                       check=True, capture_output=True, timeout=300)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                        str(work / "manuscript.pdf"), str(OUT.with_suffix(""))], check=True, timeout=120)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
