"""ComfyUI entry point of the Wan 2.6 video-to-video (apikley) pack.

Importing this works without ComfyUI (tests, the command line); inside ComfyUI it also adds
the pack's server routes.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"


def _register_routes() -> None:
    try:
        from server import PromptServer
    except ImportError:
        return
    if getattr(PromptServer, "instance", None) is None:
        return
    from .nodes.routes import register
    register(PromptServer.instance)


_register_routes()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
