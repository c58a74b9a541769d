"""The result store: makes each task's mp4 and maps result URLs on the file host to files.

Results live under ``<files_base_url>/r/<taskId>/<epochMs>-<random>.mp4``, a host separate
from the API like the real ``tempfile.aiquickdraw.com``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
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
        _render_once(reference, folder / name, resolution=data.get("resolution", "1080p"),
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


# one render per distinct (reference, settings) in this process: fan-outs and test suites that send
# the same clip many times get a copy of the same real mp4 instead of encoding it again
_renders: dict = {}
_renders_lock = threading.Lock()
_render_dir = Path(tempfile.mkdtemp(prefix="apikley_sim_renders_"))


def _render_once(reference: Path, out: Path, *, resolution: str, seconds: int, fps: int,
                 cancelled: Callable[[], bool]) -> None:
    digest = hashlib.sha256(Path(reference).read_bytes()).hexdigest()
    key = (digest, resolution, seconds, fps)
    with _renders_lock:
        lock = _renders.setdefault(key, threading.Lock())
    with lock:
        cached = _render_dir / f"{digest[:16]}-{resolution}-{seconds}-{fps}.mp4"
        if not cached.is_file():
            part = cached.with_suffix(f".{os.getpid()}.part")
            render(reference, part, resolution=resolution, seconds=seconds, fps=fps, cancelled=cancelled)
            os.replace(part, cached)
    shutil.copyfile(cached, out)
