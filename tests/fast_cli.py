"""``python tests/fast_cli.py ARGS``: the real command line (``apikley_wan.__main__.main``) with the suite's
compressed waits (``timings.FAST``), for tests that run it as its own process. Production has no switch
for this: the waits are handed to ``main`` here, by the test side."""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from apikley_wan.__main__ import main  # noqa: E402
from timings import FAST  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(timings=FAST))
