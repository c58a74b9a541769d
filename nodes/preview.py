"""The ``ui`` part of a node's return value that makes the frontend play a saved result.

It is the same shape core Save Video sends (``ui.PreviewVideo``): the file named relative to
ComfyUI's output folder plus ``animated: [True]``; the frontend then shows a video player on
the node and serves the file through ``/view``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from . import service


def preview_ui(path: Optional[str]) -> dict:
    """``{"images": [...], "animated": [True]}`` for a file under the output folder, else the same keys
    empty (``/view`` serves nothing outside it). Always the same keys: ComfyUI merges the previews
    of a list run by the first element's keys, and a missing key there would fail the whole node."""
    nothing = {"images": [], "animated": []}
    if not path:
        return nothing
    root = service.state().results_dir.parent.resolve()  # ComfyUI's output folder, as the pack was given it
    try:
        relative = Path(path).resolve().relative_to(root)
    except ValueError:
        return nothing
    subfolder = "" if relative.parent == Path(".") else relative.parent.as_posix()
    return {"images": [{"filename": relative.name, "subfolder": subfolder, "type": "output"}], "animated": [True]}
