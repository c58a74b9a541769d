"""What a node that ends with a result file returns: its preview, the VIDEO and the task id.

Nothing is decoded here: a 10 s 1080p result is a 6 GB IMAGE tensor, so frames and sound
come from a separate Video to Frames node, which runs only when something needs them.
"""

from __future__ import annotations

from typing import Optional

from . import host
from .preview import preview_ui
from .report import send_report

RESULT_TYPES = ("VIDEO", "STRING")
RESULT_NAMES = ("video", "task_id")
RESULT_TOOLTIPS = ("The generated video (not decoded; wire Video to Frames for its frames, sound and fps).",
                   "The apikley task id.")


def announce(report, board, preview: Optional[dict] = None) -> None:
    """The run's end, in words on the node and in data for the web extension (paid or not, cost)."""
    board.say(report.line())
    send_report(report, board.node_id, preview)


def finished(report, board) -> dict:
    """The preview for the UI and the two outputs ``(VIDEO, task id)``."""
    preview = preview_ui(report.result_path)
    announce(report, board, preview)
    return {"ui": preview, "result": (host.video_from_file(report.result_path), report.task_id)}
