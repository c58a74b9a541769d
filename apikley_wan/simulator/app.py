"""The Simulator: wires the stores, the two loopback servers and the faults together."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Optional

from . import callbacks
from .faults import Faults
from .filehost import FileHostHandler, Tokens
from .httpbase import Server
from .ratelimit import RateWindow
from .results import ResultStore
from .server import ApiHandler
from .tasks import Task, TaskStore
from .uploads import UploadStore


class Simulator:
    """A local stand-in for apikley: API server (``base_url``) plus result host (``files_base_url``)."""

    def __init__(self, *, api_key: str = "sim-key", task_seconds: float = 3.0, null_seconds: float = 1.0,
                 credits: float = 1000.0, webhook_hmac_key: Optional[str] = None, fps: int = 24,
                 generating_after: Optional[float] = None, port: int = 0, files_port: int = 0,
                 creates_per_10s: int = 20, record_credits: bool = False):
        self.api_key = api_key
        # recordInfo of a finished task carries consumeCredits/remainedCredits too (as the callback does); off,
        # like the observed service, whose balance is then the only measure of a task's cost (metering.py)
        self.record_credits = record_credits
        self.null_seconds = null_seconds
        self.generating_after = generating_after
        self.webhook_hmac_key = webhook_hmac_key
        self.fps = fps
        self.faults = Faults()
        self.callback_log: list = []  # (task id, receiver's HTTP status or error name)
        self.requests_log: list[tuple] = []
        self.auth_headers_seen_on_file_host: list[str] = []
        self.drips_started = 0  # result downloads the drip_downloads fault is holding open
        self.rate_window = RateWindow(limit=creates_per_10s)  # the API's documented limit by default
        self.store = TaskStore(credits=credits, task_seconds=task_seconds,
                               produce=self._produce, on_complete=self._on_complete)
        self._ports = (port, files_port)
        self._servers: list[Server] = []
        self._root: Optional[Path] = None
        self.base_url = self.files_base_url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Simulator":
        self._root = Path(tempfile.mkdtemp(prefix="apikley-sim-"))
        api = Server(self._ports[0], ApiHandler, self)
        files = Server(self._ports[1], FileHostHandler, self)
        self._servers = [api, files]
        self.base_url, self.files_base_url = api.url, files.url
        self.uploads = UploadStore(self._root / "uploads", self.base_url + "/file-upload/files/")
        self.results = ResultStore(self._root / "results", self.files_base_url, self.uploads.local_path)
        self.tokens = Tokens(self.files_base_url)
        for server in self._servers:
            # how often the loop looks at shutdown: stop() waits up to this per server (tests stop hundreds)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                             name=f"sim-http-{server.server_address[1]}", daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        self.store.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what tests look at ------------------------------------------------------------------

    @property
    def tasks(self) -> dict[str, Task]:
        return self.store.tasks

    @property
    def create_count(self) -> int:
        return self.store.create_count

    @property
    def create_requests(self) -> int:
        return self.store.create_requests

    @property
    def credits(self) -> float:
        """The account balance; tests may set it."""
        return self.store.credits

    @credits.setter
    def credits(self, value: float) -> None:
        self.store.credits = float(value)

    @property
    def task_seconds(self) -> float:
        """Seconds from create to completion; changing it also moves pending tasks' due time."""
        return self.store.task_seconds

    @task_seconds.setter
    def task_seconds(self, value: float) -> None:
        self.store.task_seconds = value

    def finish_task(self, task_id: str, timeout: float = 120.0) -> Task:
        """Complete a task now (after its render) instead of waiting ``task_seconds``."""
        return self.store.finish(task_id, timeout)

    # --- task hooks --------------------------------------------------------------------------

    def _produce(self, task: Task, cancelled) -> str:
        return self.results.produce(task.task_id, task.input, self.fps, cancelled)

    def _on_complete(self, task: Task) -> None:
        if task.callback_url:
            threading.Thread(target=callbacks.deliver, args=(task, self.webhook_hmac_key,
                                                             self.faults.callback_repeats, self.callback_log),
                             name=f"sim-callback-{task.task_id[:8]}", daemon=True).start()
