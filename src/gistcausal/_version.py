"""The installed version of gistcausal (one place, imported by the modules that print or record it)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gistcausal")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
