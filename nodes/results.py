"""Turn a finished result file into the node's five outputs, decoding only what is wired.

A 10 s 1080p result is a 6 GB IMAGE tensor, so frames (and audio) are decoded only when
those outputs are linked to something; the VIDEO output never decodes.
"""

from __future__ import annotations

from typing import Optional

from ..apikley_wan import media
from . import host
from .preview import preview_ui

RESULT_TYPES = ("VIDEO", "IMAGE", "AUDIO", "FLOAT", "STRING")
RESULT_NAMES = ("video", "images", "audio", "fps", "task_id")
IMAGES, AUDIO = 1, 2


def linked_outputs(graph: Optional[dict], node_id: Optional[str]) -> Optional[set]:
    """Indices of this node's outputs that other nodes use; None when the graph is unknown."""
    if not graph or node_id is None:
        return None
    used = set()
    for node in graph.values():
        for value in (node.get("inputs") or {}).values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) == str(node_id):
                used.add(int(value[1]))
    return used


def wiring_key(node_id: Optional[str]) -> str:
    """Part of the cache key: which decoded outputs the running graph uses (see IS_CHANGED)."""
    linked = linked_outputs(host.running_prompt(node_id), node_id) if node_id is not None else None
    if linked is None:
        return "all"
    return ",".join(str(i) for i in sorted(linked & {IMAGES, AUDIO}))


def done_line(entry, started_at: float) -> str:
    """The line the node keeps when the run ends (the web extension turns it into a summary).

    A result that was already finished before this run began says so, so nobody reads a
    re-used result as a new charge.
    """
    if entry.finished_at is not None and entry.finished_at < started_at:
        return f"Reused: task {entry.task_id} (no new charge) | {entry.result_path}"
    cost = f"{entry.cost_credits:g} credits" + ("" if entry.cost_reported else " (estimate)")
    return f"Done: task {entry.task_id} | {cost} | {entry.result_path}"


def outputs_for(path: str, task_id: str, linked: Optional[set]) -> tuple:
    """``(VIDEO, IMAGE, AUDIO, fps, task id)``; unknown wiring decodes everything (safe)."""
    want_images = linked is None or IMAGES in linked
    want_audio = linked is None or AUDIO in linked
    decoded = media.decode_video(path, want_images=want_images, want_audio=want_audio)
    audio = decoded.audio
    if want_audio and audio is None:  # a silent result still gives AUDIO nodes something valid
        audio = media.silence(media.probe(path).duration)
    return (host.video_from_file(path), decoded.images, audio, float(decoded.fps), task_id)


def finished(entry, linked: Optional[set], board) -> dict:
    """What a node that ends with the result returns: the preview for the UI and the five outputs."""
    board.say(done_line(entry, board.started_at))
    return {"ui": preview_ui(entry.result_path),
            "result": outputs_for(entry.result_path, entry.task_id, linked)}
