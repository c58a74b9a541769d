"""Everything the nodes need from ComfyUI, in one place, with stand-ins when ComfyUI is absent.

Imports of ComfyUI modules happen lazily, so the pack (and its tests) import without it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Optional

log = logging.getLogger("apikley_wan")


def comfy_available() -> bool:
    try:
        import folder_paths  # noqa: F401
        return True
    except ImportError:
        return False


def output_dir() -> Path:
    """Where results are archived: a subfolder of ComfyUI's output folder (a temporary stand-in without
    ComfyUI; a test gives its Runtime its own folder)."""
    try:
        import folder_paths
        root = Path(folder_paths.get_output_directory())
    except ImportError:
        root = Path(tempfile.gettempdir()) / "apikley_wan_output"  # a stand-in without ComfyUI
    return root / "apikley_wan"


def input_dir() -> Path:
    """ComfyUI's input folder (Load Video lists its top level); a temporary stand-in without ComfyUI."""
    try:
        import folder_paths
        return Path(folder_paths.get_input_directory())
    except ImportError:
        return Path(tempfile.gettempdir()) / "apikley_wan_input"


def user_dir() -> Optional[Path]:
    try:
        import folder_paths
        return Path(folder_paths.get_user_directory())
    except (ImportError, AttributeError):
        return None


SAMPLE_NAME = "apikley_wan_sample.mp4"


def install_sample(sample: Path) -> None:
    """Put the pack's sample clip in ComfyUI's input folder, so the example workflows open ready
    to run (they load it by this name). Never overwrites a file the user has there."""
    try:
        import folder_paths
        target = Path(folder_paths.get_input_directory()) / SAMPLE_NAME
    except (ImportError, AttributeError):
        return
    if target.exists() or not sample.is_file():
        return
    try:
        shutil.copyfile(sample, target)
    except OSError:
        log.warning("apikley_wan: could not copy the sample clip to %s", target)


LOOPBACK = "127.0.0.1"


def listen_addresses() -> tuple:
    """The addresses ComfyUI listens on (``--listen``, comma-separated; "0.0.0.0" is all of them);
    loopback without ComfyUI (its own default)."""
    try:
        from comfy.cli_args import args
        listen = str(args.listen or LOOPBACK)
    except (ImportError, AttributeError):
        listen = LOOPBACK
    return tuple(part.strip().strip("[]").lower() for part in listen.split(",") if part.strip())


def interrupted() -> bool:
    try:
        import comfy.model_management as mm
    except ImportError:
        return False
    return bool(mm.processing_interrupted())


def raise_interrupt() -> None:
    """Raise ComfyUI's own interrupt exception so the UI shows 'interrupted', not an error."""
    try:
        import comfy.model_management as mm
    except ImportError:
        return
    mm.throw_exception_if_processing_interrupted()


# ComfyUI's progress bar of a node is value out of this many steps
PROGRESS_STEPS = 100


def show_progress(fraction: float, node_id: Optional[str]) -> bool:
    """ComfyUI's progress bar of the node (``progress`` websocket events), at ``fraction`` (0..1).

    False when ComfyUI's interrupt was raised meanwhile: its progress hook checks the flag, raises and
    clears it, so the caller has to take it as Cancel itself. Nothing happens without ComfyUI."""
    if node_id is None:
        return True
    try:
        import comfy.model_management as mm
        import comfy.utils
    except ImportError:
        return True
    try:
        comfy.utils.ProgressBar(PROGRESS_STEPS, node_id=str(node_id)).update_absolute(round(fraction * PROGRESS_STEPS))
    except mm.InterruptProcessingException:
        return False
    except Exception:  # a closed socket must never break a paid run
        log.debug("progress not sent", exc_info=True)
    return True


def send_status(text: str, node_id: Optional[str]) -> None:
    """The status line under the node (binary TEXT message over the websocket)."""
    if node_id is None:
        return
    try:
        from server import PromptServer
        PromptServer.instance.send_progress_text(text, str(node_id))
    except (ImportError, AttributeError):
        return
    except Exception:  # a closed socket must never break a paid run
        log.debug("status text not sent", exc_info=True)


def video_from_file(path: str):
    """ComfyUI's own VideoFromFile when available, else the pack's stand-in."""
    try:
        from comfy_api.input_impl import VideoFromFile
    except ImportError:
        from .standin import VideoFile as VideoFromFile
    return VideoFromFile(str(path))

