"""The result store: makes each task's mp4 and maps result URLs on the file host to files.

Results live under ``<files_base_url>/r/<taskId>/<epochMs>-<random>.mp4``, a host separate
from the API like the real ``tempfile.aiquickdraw.com``.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Callable

from .fetch import FetchError, fetch_to
from .paths import generated_name, safe_join
from . import render as render_module
from .render import RenderError, render


class ResultStore:
    def __init__(self, root: Path, base_url: str, local_upload: Callable[[str], Path | None]):
        self.root = root
        self.root.mkdir(parents=True)
        self.prefix = base_url.rstrip("/") + "/r/"
        self.local_upload = local_upload
        self.renders = RenderCache()

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
        self.renders.copy(reference, folder / name, resolution=data.get("resolution", "1080p"),
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


class RenderCache:
    """One render per distinct (reference, settings, renderer): fan-outs and test suites that send the same
    clip many times get a copy of the same real mp4 instead of encoding it again. The renders are kept in the
    user's temporary folder, so every simulator of the machine shares them (a changed ``render.py`` renders
    anew); this simulator renders one key at a time."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or Path(tempfile.gettempdir()) / f"apikley_sim_renders_{_user()}"
        self.renderer = hashlib.sha256(Path(render_module.__file__).read_bytes()).hexdigest()[:12]
        self._lock = threading.Lock()
        self._keys: dict = {}  # key -> the lock its render holds

    def copy(self, reference: Path, out: Path, *, resolution: str, seconds: int, fps: int,
             cancelled: Callable[[], bool]) -> None:
        digest = hashlib.sha256(Path(reference).read_bytes()).hexdigest()
        key = (digest, resolution, seconds, fps)
        with self._lock:
            lock = self._keys.setdefault(key, threading.Lock())
        with lock:
            cached = self.folder / f"{digest[:16]}-{resolution}-{seconds}-{fps}-{self.renderer}.mp4"
            if not cached.is_file():
                self.folder.mkdir(parents=True, exist_ok=True)
                part = cached.with_name(f"{cached.name}.{uuid.uuid4().hex[:12]}.part")
                try:
                    render(reference, part, resolution=resolution, seconds=seconds, fps=fps, cancelled=cancelled)
                    os.replace(part, cached)
                finally:
                    part.unlink(missing_ok=True)
        shutil.copyfile(cached, out)


def _user() -> str:
    """A name for this user's own folder (a shared temporary folder holds every user's)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getpid())
