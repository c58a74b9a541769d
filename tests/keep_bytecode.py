"""Imported first by conftest.py: the suite's Python processes keep their compiled bytecode.

The suite starts a few hundred Python processes (the real command line, pytest-xdist's workers, helpers) and
each imports the pack. With ``PYTHONDONTWRITEBYTECODE`` set, every one of them compiled the pack and
pytest rewrote every test module afresh: about 1.3 s of CPU for each command-line run (0.5 s with bytecode) and
2.5 s more for each test process's collection. So when it is set, this process and every process it starts
(they inherit the environment) keep bytecode after all, yet still outside the work tree: under
``PYTHONPYCACHEPREFIX``, or a folder in the temp dir when that is not set either. Nothing changes when it is not
set (bytecode goes to ``__pycache__`` as usual; .gitignore has it)."""

import os
import sys
import tempfile
from pathlib import Path

if sys.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or sys.pycache_prefix or str(
        Path(tempfile.gettempdir()) / f"apikley-wan-test-pycache-{getattr(os, 'getuid', lambda: 0)()}")
    sys.dont_write_bytecode = False
    sys.pycache_prefix = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
