"""gistcausal: comparative-effectiveness research on time-to-event outcomes from registries.

The public entry points are :func:`gistcausal.pipeline.run` (a whole configured analysis),
:func:`gistcausal.design.config.load_config` and :func:`gistcausal.design.simulate.simulate_registry`.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gistcausal")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
