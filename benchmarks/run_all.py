"""Run every benchmark once and save their output under benchmarks/results/ (``make benchmark``).

Each script prints a markdown table; this runner executes them one after the other (they are timed alone, so
they must not overlap) and writes ``benchmarks/results/<name>.md`` plus the machine description. Timings are
never asserted anywhere; docs/performance.md quotes one run.

    .venv/bin/python benchmarks/run_all.py            # everything (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/run_all.py --quick    # smaller sizes, a minute or two
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

FULL = {
    "bench_bootstrap": ["--sizes", "10000", "100000", "--r-max-n", "1000", "--lifelines"],
    "bench_cox": [],
    "bench_km": [],
    "bench_engine": ["--n", "2000", "--B", "400", "--repeat", "3"],
    "bench_scaling": ["--sizes", "10000", "100000", "1000000"],
    "bench_own_data": [],
}
QUICK = {
    "bench_bootstrap": ["--n-boot", "500", "--sizes", "10000", "--single-reps", "20", "--r-max-n", "1000"],
    "bench_cox": ["--sizes", "10000,100000", "--r-max", "100000"],
    "bench_km": ["--sizes", "1000000", "--r-max", "1000000"],
    "bench_engine": ["--n", "2000", "--B", "100", "--repeat", "1"],
    "bench_scaling": ["--sizes", "10000", "100000"],
    "bench_own_data": [],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated script names")
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    if args.only:
        plan = {k: v for k, v in plan.items() if k in args.only.split(",")}
    RESULTS.mkdir(exist_ok=True)
    machine = (f"{platform.platform()}; Python {platform.python_version()}; {os.cpu_count()} logical CPUs; "
               f"{time.strftime('%Y-%m-%d %H:%M')}")
    for name, extra in plan.items():
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra]
        print(f"$ {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
        text = res.stdout + (f"\n[stderr]\n{res.stderr}" if res.returncode else "")
        print(text, flush=True)
        (RESULTS / f"{name}.md").write_text(f"<!-- {machine}; {' '.join(cmd[1:])}; "
                                            f"{time.perf_counter() - t0:.0f} s -->\n{text}")
    (RESULTS / "machine.txt").write_text(machine + "\n")


if __name__ == "__main__":
    main()
