"""Many tasks in flight cost no threads: 48 runs at once through the core, against a simulator in
another process (so every thread counted here is the pack's own)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apikley_wan.api.client import ApikleyClient
from apikley_wan.record.sqlite import Journal
from apikley_wan.run.request import GenerationRequest, Reference
from apikley_wan.run import workers
from apikley_wan.settings import settings
from apikley_wan.settings.settings import Timings
from conftest import fast_runtime

REPO = Path(__file__).resolve().parents[1]
FAST = Timings(poll_first_s=0.3, slice_s=0.05)


@pytest.fixture
def remote_sim():
    proc = subprocess.Popen([sys.executable, "-m", "apikley_wan", "serve", "--port", "0", "--task-seconds", "1",
                             "--null-seconds", "0.1", "--credits", "100000", "--creates-per-10s", "1000"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if "APIKLEY_BASE_URL=" in line:
                yield line.split("=", 1)[1].strip()
                break
    finally:
        proc.terminate()
        proc.wait(10)


async def _runs(runtime, base_url: str, count: int, url: str, name: str) -> list:
    async def one(i: int):
        client = ApikleyClient(api_key="sim-key", base_url=base_url)
        gens = runtime.pipeline(client.cancel, client=client)
        request = GenerationRequest(f"character1 {name} take {i}", "5", "720p", [Reference(url=url)])
        return await gens.generate_video(request)

    return await asyncio.gather(*(one(i) for i in range(count)))


def test_48_tasks_in_flight_keep_the_thread_count_bounded_and_finish_together(remote_sim, tmp_path,
                                                                                reference_clip, monkeypatch):
    # this account takes 1000 creates per 10 s (the simulator's --creates-per-10s): pace the client to it
    monkeypatch.setattr(settings, "CREATES_PER_WINDOW", 1000)
    url = ApikleyClient(api_key="sim-key", base_url=remote_sim).upload(reference_clip)
    started = time.monotonic()
    # one process: one Runtime, whose worker lanes every run shares
    runtime = fast_runtime(tmp_path / "results", Journal(tmp_path / "journal.sqlite"), FAST, tmp_path / "state")
    asyncio.run(_runs(runtime, remote_sim, 1, url, "alone"))
    one = time.monotonic() - started

    before = threading.active_count()  # earlier tests may have left threads (and started the workers)
    most = [before]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.02):
            most.append(threading.active_count())

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        reports = asyncio.run(_runs(runtime, remote_sim, 48, url, "together"))
    finally:
        stop.set()
        sampler.join()
    many = time.monotonic() - started
    print(f"one task {one:.2f}s, 48 at once {many:.2f}s ({many / one:.2f}x), "
          f"threads: {before} before, at most {max(most)} during")
    assert len({r.task_id for r in reports}) == 48 and all(r.state == "success" for r in reports)
    assert all(Path(r.result_path).is_file() and r.charged for r in reports)
    assert max(most) - before < 20 and max(most) < before + workers.MAX_WORKERS + 2
    # side by side, not one after another (48 tasks of >= 1 s each); the ratio itself is a speed figure,
    # printed above, not a test: it moves with the machine's load
    assert many < 12 * one
