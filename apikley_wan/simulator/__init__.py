"""A faithful local fake of the apikley API for tests and offline runs (see api-reference §11).

``Simulator`` serves the jobs/common/upload API on one loopback port and results on another,
reproducing the observed quirks (HTTP-200 error envelopes, "recordInfo is null" right after
create, double-encoded ``param``, costTime in seconds); ``Faults`` switches on failures.
"""

from .app import Simulator
from .cli import main
from .faults import Faults

__all__ = ["Simulator", "Faults", "main"]
