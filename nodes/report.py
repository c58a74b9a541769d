"""A run's report, sent to the browser as the ``apikley.task`` event when the run ends.

The web extension renders the node's summary from these fields alone (paid or not, what it
cost, which file), so nothing has to be read out of a status sentence.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

log = logging.getLogger("apikley_wan")

EVENT = "apikley.task"
CANCELLED_EVENT = "apikley.cancelled"
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


def _send(event: str, payload: Callable[[], dict]) -> None:
    """Never raises: an event is news, not part of the run (the payload is built inside the guard)."""
    try:
        from server import PromptServer
    except ImportError:  # no ComfyUI (tests, the command line)
        return
    try:
        PromptServer.instance.send_sync(event, payload())
    except Exception:  # no server instance, a closed socket, a malformed report: the run is done anyway
        log.debug("apikley_wan: %s event not sent", event, exc_info=True)


def send_report(report, node_id, preview: Optional[dict]) -> None:
    """Tell the browser how the run ended."""
    if node_id is not None:
        _send(EVENT, lambda: payload_for(report, node_id, preview))


def cancelled_payload(node_id, task_id: Optional[str]) -> dict:
    """What a Cancel left behind, in data: whether a task exists (then it will likely be billed,
    and re-queuing the same graph collects it at no new charge)."""
    node = str(node_id)
    return {"node": node, "display_node": node, "task_id": task_id, "task_exists": task_id is not None}


def send_cancelled(node_id, task_id: Optional[str]) -> None:
    """Tell the browser a run was cancelled (it shows the node's note and a toast)."""
    if node_id is not None:
        _send(CANCELLED_EVENT, lambda: cancelled_payload(node_id, task_id))
