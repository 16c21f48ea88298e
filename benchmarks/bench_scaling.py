"""End-to-end scaling of ``gistcausal run`` (run by hand, never in tests).

    .venv/bin/python benchmarks/bench_scaling.py [--sizes 10000 100000 [1000000]] [--config configs/gist_second_line.yaml]
                                                 [--engine local|dask] [--n-workers N] [--no-report]

For each registry size the shipped protocol runs on ``simulate_registry(n_patients=size)`` (the config's
``data.synthetic.n_patients`` replaced), every section of the config included (plasmode too), then the report
is written (``write_outputs``). Each size runs in a fresh process, one after the other. Per step (the
pipeline's own timer: load, data_hash (the records' SHA-256 for the manifest), validation, cohort,
study_replication, causal, truth (the synthetic registry's true effects), sensitivity, plasmode, strategies;
plus ``report``; ``total`` is the wall time of ``run`` and ``write_outputs``, whatever lies between steps too):
wall seconds, the peak resident memory of the main process during the step (Linux VmHWM, reset before each step
through /proc/self/clear_refs) and the largest summed resident memory of its worker processes seen during the
step (sampled every 0.2 s). The growth exponent of a step between two sizes is
``log(t2 / t1) / log(n2 / n1)`` (1: linear; n log n from 1e4 to 1e6 is about 1.1).

With two or more local workers the clone-censor-weight emulation runs in a worker beside the cohort-based steps
(``pipeline._begin_strategies``): its row is the main process's share (building its table, then waiting for the
result), and its computation shows up as the other steps' competition for the two cores. Likewise the plasmode
replicates and the specification grid are handed to the workers as soon as the cohort is built
(``plasmode.begin_plasmode``, ``sensitivity.begin_grid``) and collected after the sensitivity step: their time
shows in the other steps' rows, the ``plasmode`` row is the set-up and the wait.

Prints a markdown table (paste into docs/performance.md, section "Scaling") and writes
benchmarks/results/scaling.csv.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("load", "data_hash", "validation", "cohort", "study_replication", "causal", "truth", "sensitivity",
         "plasmode", "strategies", "report", "total")


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")   # resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0)
    except OSError:
        pass


class _ChildMemory:
    """Largest summed RSS of this process' descendants (loky / Dask workers) while running."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for c in self.me.children(recursive=True):
                try:
                    total += c.memory_info().rss
                except Exception:  # noqa: BLE001 - a worker that exited between listing and reading
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self) -> "_ChildMemory":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def one_size(config: str, size: int, engine: dict, report: bool) -> dict:
    """One end-to-end run at ``size`` patients, in this process; per step seconds and MB."""
    import warnings

    sys.path.insert(0, str(ROOT / "src"))
    warnings.simplefilter("ignore")
    import gistcausal.pipeline as pipeline
    from gistcausal.design.config import config_from_dict, load_config
    from gistcausal.present.report import write_outputs

    base = load_config(config)
    raw = base.model_dump(by_alias=True, exclude={"source_path"})
    raw["data"]["synthetic"]["n_patients"] = int(size)
    if engine:
        raw["analysis"]["engine"] = {**raw["analysis"]["engine"], **engine}
    cfg = config_from_dict(raw, source=f"{config} (n_patients={size})").model_copy(
        update={"source_path": base.source_path})
    memory: dict[str, tuple[float, float]] = {}

    class Timer(pipeline._Timer):
        def __call__(self, name, fn):
            _reset_peak()
            with _ChildMemory() as kids:
                try:
                    return super().__call__(name, fn)
                finally:
                    memory[name] = (_status_kb("VmHWM") / 1024, kids.peak / 2 ** 20)

    pipeline._Timer = Timer
    t0 = time.perf_counter()
    results = pipeline.run(cfg)
    seconds = dict(results.timings)
    if report:
        with tempfile.TemporaryDirectory() as out:
            _reset_peak()
            t1 = time.perf_counter()
            with _ChildMemory() as kids:
                write_outputs(results, out)
            seconds["report"] = time.perf_counter() - t1
            memory["report"] = (_status_kb("VmHWM") / 1024, kids.peak / 2 ** 20)
    seconds["total"] = time.perf_counter() - t0
    return {"size": size, "cohort": results.flow.n_final, "seconds": seconds, "memory": memory,
            "failed": results.failed_steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--config", default=str(ROOT / "configs" / "gist_second_line.yaml"))
    ap.add_argument("--engine", choices=("local", "dask"), default=None)
    ap.add_argument("--n-workers", type=int, default=None)
    ap.add_argument("--no-report", action="store_true", help="Time the analysis only, not write_outputs.")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)   # internal: run one size, print JSON
    args = ap.parse_args()
    engine = {k: v for k, v in (("kind", args.engine), ("n_workers", args.n_workers)) if v is not None}
    if args.one is not None:
        print("RESULT " + json.dumps(one_size(args.config, args.one, engine, not args.no_report)))
        return
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(size), "--config", args.config]
        cmd += ["--engine", args.engine] if args.engine else []
        cmd += ["--n-workers", str(args.n_workers)] if args.n_workers else []
        cmd += ["--no-report"] if args.no_report else []
        env = {**os.environ, "MPLBACKEND": "Agg"}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
        rows.append(json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT "))[7:]))
        print(f"n = {size:,}: {rows[-1]['seconds']['total']:.0f} s", file=sys.stderr)
    _print(rows)


def _print(rows: list[dict]) -> None:
    import pandas as pd

    head = "| step | " + " | ".join(f"{r['size']:,} pts ({r['cohort']:,} in cohort): s / MB main / MB workers"
                                     for r in rows)
    pairs = list(zip(rows, rows[1:]))
    head += "".join(f" | exponent {a['size']:.0e} -> {b['size']:.0e}" for a, b in pairs) + " |"
    lines = [head, "|" + "---|" * (1 + len(rows) + len(pairs))]
    flat = []
    for step in STEPS:
        if not any(step in r["seconds"] for r in rows):
            continue
        cells = []
        for r in rows:
            s = r["seconds"].get(step, math.nan)
            mm, mw = r["memory"].get(step, (math.nan, math.nan))
            cells.append(f"{s:.1f} / {mm:.0f} / {mw:.0f}" if step != "total" else f"{s:.1f}")
            flat.append({"size": r["size"], "cohort": r["cohort"], "step": step, "seconds": s, "mb_main": mm,
                         "mb_workers": mw})
        exps = []
        for a, b in pairs:
            sa, sb = a["seconds"].get(step, math.nan), b["seconds"].get(step, math.nan)
            ok = sa > 0.05 and sb > 0
            exps.append(f"{math.log(sb / sa) / math.log(b['size'] / a['size']):.2f}" if ok else "-")
        lines.append(f"| {step} | " + " | ".join(cells + exps) + " |")
    print("\n".join(lines))
    for r in rows:
        if r["failed"]:
            print(f"failed steps at n = {r['size']:,}: {r['failed']}")
    dest = ROOT / "benchmarks" / "results" / "scaling.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(flat).to_csv(dest, index=False)


if __name__ == "__main__":
    main()
