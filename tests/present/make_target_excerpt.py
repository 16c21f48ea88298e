"""Make the README's "Emulating a target trial" excerpt: the protocol beside the TARGET checklist for the GIST study.

Run by hand after changing the protocol table or the checklist; it runs ``configs/gist_second_line.yaml`` (as
``gistcausal run`` does) and rewrites the block between the README's ``target-excerpt`` markers::

    PYTHONPATH=src python -m tests.present.make_target_excerpt --write

``test_readme_target_excerpt_is_the_runs`` (tests/present/test_target.py) checks that the README's block is what
:func:`excerpt` makes from the same run, so the excerpt cannot drift from the code.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- target-excerpt:start -->", "<!-- target-excerpt:end -->"

#: (protocol component, checklist rows of its target-trial and emulation columns)
PAIRS = (("Eligibility criteria", ("6a", "7a")), ("Assignment procedure", ("6c", "7c")),
         ("Identifying assumptions", ("6g", "7g.i")), ("Analysis plan", ("6h", "7h.i")),
         ("Causal contrast (per protocol)", ("6f", "7f")), ("Deviations from the strategies", ("6b", "7b")),
         ("Censoring models", ("6h", "7h.i")))


def _short(text: str, n: int = 110) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def excerpt(results) -> str:
    """The markdown block: the protocol rows beside their TARGET rows and statuses, then the rows for the
    authors and the counts, all from ``results``."""
    from gistcausal.present.sections import protocol_table
    from gistcausal.present.target import STATUS_KEYS, target_checklist

    proto = protocol_table(results).set_index("Component")
    chk = target_checklist(results)
    st = {i.id: i for i in chk.items}
    lines = ["| Protocol component | Target trial | Emulation in this analysis | TARGET | Status |",
             "|---|---|---|---|---|"]
    for comp, ids in PAIRS:
        row = proto.loc[comp]
        target, emulation = _short(row["Target trial"], 100), _short(row["Emulation in this analysis"], 180)
        lines.append(f"| {comp} | {target} | {emulation} | {' / '.join(ids)} | "
                     f"{' / '.join(st[i].status for i in ids)} |")
    lines += ["", "| Status | TARGET rows |", "|---|---|"]
    for status in STATUS_KEYS:
        lines.append(f"| {status} | {', '.join(i.id for i in chk.items if i.status == status)} |")
    lines += ["", f"`results.json` `target_checklist`: `\"rows\": {json.dumps(chk.counts_dict()['rows'])}`."]
    return "\n".join(lines)


def readme_block(text: str) -> str:
    """The README's text between the excerpt markers."""
    return text[text.index(START) + len(START): text.index(END)].strip("\n")


def main(argv: list[str]) -> None:
    from gistcausal.design.config import load_config
    from gistcausal.pipeline import run

    block = excerpt(run(load_config(ROOT / "configs" / "gist_second_line.yaml")))
    if "--write" not in argv:
        print(block)
        return
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    i, j = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:i] + "\n" + block + "\n" + text[j:], encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
