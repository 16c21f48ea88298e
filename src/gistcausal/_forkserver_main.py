"""Imported first by the worker server of a run (:func:`gistcausal.engine._fork_workers_from_server`): the server's
``__main__`` takes the path of the main script of the process that started it, so that the workers forked from
the server do not run that script again.

Python's ``forkserver`` start method sends each new worker the path of its parent's main script, and the worker
imports the script (as ``__mp_main__``) unless its ``__main__`` already has that path (``multiprocessing.spawn.
_fixup_main_from_path``: "if this process was forked, ``__main__`` may already be populated"). loky, which starts
joblib's workers otherwise, never imports it, and a user's script without an ``if __name__ == "__main__":``
guard would otherwise run its whole analysis again in every worker. The path comes in the environment variable
``GISTCAUSAL_PARENT_MAIN``, set only while the server starts.
"""
from __future__ import annotations

import os
import sys

_PATH = os.environ.get("GISTCAUSAL_PARENT_MAIN")
if _PATH:
    sys.modules["__main__"].__file__ = _PATH
