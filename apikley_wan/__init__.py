"""Core of the Wan 2.6 video-to-video pack: client, journal, media, simulator.

Nothing in this package imports ComfyUI, so it runs and is tested on its own
(the command-line runner is ``python -m apikley_wan``).
"""

from .settings.settings import MODEL

__all__ = ["MODEL"]
__version__ = "0.1.0"
