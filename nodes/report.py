"""A run's report, sent to the browser as the ``apikley.task`` event when the run ends.

The web extension renders the node's summary from these fields alone (paid or not, what it
cost, which file), so nothing has to be read out of a status sentence.
"""

from __future__ import annotations

import logging
from typing import Optional

log = logging.getLogger("apikley_wan")

EVENT = "apikley.task"
# the keys of a ui.images entry, as /view takes them: nothing else of the preview is forwarded
RESULT_KEYS = ("filename", "subfolder", "type")


def payload_for(report, node_id, preview: Optional[dict]) -> dict:
    """``{"node", "display_node", <the report's fields>, "result"}``; ``result`` is the first
    previewed file (``{"filename", "subfolder", "type"}``) or None."""
    images = (preview or {}).get("images") or []
    first = images[0] if images and isinstance(images[0], dict) else None
    node = None if node_id is None else str(node_id)
    return {"node": node, "display_node": node, **report.as_dict(),
            "result": {key: first.get(key) for key in RESULT_KEYS} if first else None}


def send_report(report, node_id, preview: Optional[dict]) -> None:
    """Tell the browser how the run ended. Never raises: a report is news, not part of the run."""
    if node_id is None:
        return
    try:
        from server import PromptServer
    except ImportError:  # no ComfyUI (tests, the command line)
        return
    try:
        PromptServer.instance.send_sync(EVENT, payload_for(report, node_id, preview))
    except Exception:  # no server instance, a closed socket, a malformed report: the run is done anyway
        log.debug("apikley_wan: %s event not sent", EVENT, exc_info=True)
