"""The public API (``gistcausal/__init__.py``) and the README's Python example on a plain DataFrame."""
from __future__ import annotations

import re

import pytest

from .conftest import ROOT


def test_issue_13_public_names_importable_from_the_package():
    import gistcausal

    for name in ("run", "load_config", "write_outputs", "PropensityModel", "compute_weights", "balance_table",
                 "kaplan_meier", "rmst", "logrank_test", "cox_fit", "compare_survival", "multiarm_analysis", "evalue",
                 "simulate_registry"):
        assert name in gistcausal.__all__
        assert callable(getattr(gistcausal, name))


def test_issue_13_readme_python_example_runs_without_a_config(capsys):
    """The README's DataFrame example, executed as written (it prints balance, estimates and an E-value)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "load_gbsg2" in b)
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own README, not user input
    out = capsys.readouterr().out
    assert "rfs hr [hormone vs no hormone; iptw, ATE]" in out
    assert "could explain away the estimate" in out


def test_issue_13_results_hold_no_per_patient_arrays(default_results):
    """AnalysisResults is typed aggregates: no array as long as the cohort anywhere in its fields."""
    import dataclasses

    import numpy as np

    n = default_results.flow.n_final

    def walk(x, path):
        if isinstance(x, np.ndarray):
            assert x.size != n, f"{path} is a per-patient array"
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}[{k!r}]")
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            for f in dataclasses.fields(x):
                walk(getattr(x, f.name), f"{path}.{f.name}")

    for f in dataclasses.fields(default_results):
        if f.name != "config":
            walk(getattr(default_results, f.name), f.name)


@pytest.mark.parametrize("module", ["gistcausal.stats", "gistcausal.inference", "gistcausal.design"])
def test_issue_13_lower_layers_do_not_import_upper_layers(module):
    """stats/inference/design never import analysis, pipeline, present or cli (checked on the source)."""
    import ast
    import importlib

    pkg = importlib.import_module(module)
    upper = ("gistcausal.analysis", "gistcausal.pipeline", "gistcausal.present", "gistcausal.cli",
             "gistcausal.results")
    for path in sorted(__import__("pathlib").Path(pkg.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(upper), f"{path.name} imports {node.module}"


def test_the_package_and_the_cli_import_the_statistics_only_when_used():
    """``import gistcausal`` and the CLI's module import none of pandas, scipy, matplotlib or the pipeline (each public
    name's module is imported at its first use, PEP 562): ``gistcausal --help`` took 2.3 s, about 0.2 s now."""
    import subprocess
    import sys

    heavy = ("pandas", "scipy", "matplotlib", "gistcausal.pipeline", "gistcausal.stats.km")
    code = ("import sys, gistcausal, gistcausal.cli; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(ROOT)).stdout.strip()
    assert out == ""


def test_every_public_name_is_its_modules_object_and_listed():
    import importlib

    import gistcausal

    for name in gistcausal.__all__:
        if name == "__version__":
            continue
        module = importlib.import_module(gistcausal._EXPORTS[name])
        assert getattr(gistcausal, name) is getattr(module, name)
    assert set(gistcausal.__all__) - {"__version__"} == set(gistcausal._EXPORTS)
    assert set(gistcausal.__all__) <= set(dir(gistcausal))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        gistcausal.no_such_name  # noqa: B018
