"""ComfyUI entry point of the Wan 2.6 video-to-video (apikley) pack.

Importing this works without ComfyUI (tests, the command line); inside ComfyUI it also adds
the pack's server routes.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"


def _start_in_comfyui() -> None:
    """Inside ComfyUI: add the pack's server routes and the example workflows' sample clip."""
    try:
        from server import PromptServer
    except ImportError:
        return
    if getattr(PromptServer, "instance", None) is None:
        return
    from pathlib import Path

    from .apikley_wan.results.archive import remove_stale_parts
    from .nodes import service
    from .nodes.host import install_sample
    from .nodes.routes import register
    state = service.setup()
    register(PromptServer.instance, state)
    install_sample(Path(__file__).parent / "samples" / "reference.mp4")
    remove_stale_parts(state.results_dir)


_start_in_comfyui()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
