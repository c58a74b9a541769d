"""The result store: makes each task's mp4 and maps result URLs on the file host to files.

Results live under ``<files_base_url>/r/<taskId>/<epochMs>-<random>.mp4``, a host separate
from the API like the real ``tempfile.aiquickdraw.com``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .fetch import FetchError, fetch_to
from .paths import generated_name, safe_join
from .render import RenderError, render


class ResultStore:
    def __init__(self, root: Path, base_url: str, local_upload: Callable[[str], Path | None]):
        self.root = root
        self.root.mkdir(parents=True)
        self.prefix = base_url.rstrip("/") + "/r/"
        self.local_upload = local_upload

    def produce(self, task_id: str, data: dict, fps: int, cancelled: Callable[[], bool]) -> str:
        """Render the task's result from ``video_urls[0]``; return its URL. RenderError on failure."""
        folder = self.root / task_id
        folder.mkdir()
        url = data["video_urls"][0]
        reference = self.local_upload(url)
        if reference is None:
            reference = folder / "reference"
            try:
                fetch_to(url, reference)
            except FetchError as exc:
                raise RenderError("could not fetch video_urls[0]") from exc
        name = generated_name("mp4")
        render(reference, folder / name, resolution=data.get("resolution", "1080p"),
               seconds=int(data.get("duration", "5")), fps=fps, cancelled=cancelled)
        return self.prefix + f"{task_id}/{name}"

    def path_for(self, relative: str) -> Path | None:
        """The finished mp4 behind ``<taskId>/<name>.mp4`` (never the reference or a partial file)."""
        path = safe_join(self.root, relative)
        ok = path is not None and path.suffix == ".mp4" and path.is_file()
        return path if ok else None

    def path_for_url(self, url) -> Path | None:
        if not isinstance(url, str) or not url.startswith(self.prefix):
            return None
        return self.path_for(url[len(self.prefix):].split("?", 1)[0])
