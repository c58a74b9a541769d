"""The node's progress bar: elapsed time against the expected time, held below done until success, then done.

The first tests need nothing; the last one is opt-in (like test_comfyui_host.py): a real ComfyUI (set
COMFYUI_DIR, COMFYUI_PYTHON) running the all-in-one node against the simulator, read over its websocket.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

import comfy_host
from apikley_wan.simulator import Simulator
from apikley_wan.run.status import PROGRESS_CAP, status_for

FIVE_S = {"duration": "5", "resolution": "720p"}


def test_progress_is_nothing_before_the_task_then_elapsed_against_the_expected_time():
    now = 1_000_000.0
    assert status_for(None, "uploading reference 1", FIVE_S).progress(now) == 0.0
    started = status_for("t-1", "waiting", FIVE_S, created=now - 75)
    assert started.typical_s == 150 and started.progress(now) == 0.5


def test_progress_never_says_done_before_success():
    late = status_for("t-1", "generating", {"duration": "10", "resolution": "1080p"}, created=1000.0)
    assert late.progress(1000.0 + 10 * late.typical_s) == PROGRESS_CAP == 0.95


@pytest.mark.comfyui
@pytest.mark.skipif(not comfy_host.available(), reason="set COMFYUI_DIR to a ComfyUI checkout")
def test_comfyui_gets_progress_events_for_the_node_that_end_at_max(tmp_path):
    with Simulator(api_key="sim-key", task_seconds=5.0, null_seconds=1.0, credits=100_000) as sim, \
            comfy_host.running(tmp_path / "comfy", comfy_host.sim_env(sim)) as host:
        node = "2"
        prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "apikley_wan_sample.mp4"}},
                  node: {"class_type": "ApikleyWan26V2V",
                         "inputs": {"prompt": "character1 juggles on a beach", "duration": "5", "resolution": "720p",
                                    "video": ["1", 0], "take": 0}}}
        events, texts = asyncio.run(_run_and_listen(host, prompt))
    progress = [(e["value"], e["max"]) for e in events if e.get("node") == node]
    print(f"progress events for node {node}: {progress}")
    assert progress, f"no progress event for node {node}: {events}"
    values = [value for value, _ in progress]
    assert all(top == 100 for _, top in progress) and values == sorted(values)
    assert progress[-1] == (100, 100)  # done at success
    assert any(0 < value < 95 for value in values)  # on the way: elapsed against the expected 150 s
    assert any("Paid now" in text for text in texts)


async def _run_and_listen(host, prompt) -> tuple:
    """Queue ``prompt`` as one client and collect its ``progress`` events and status texts until it ends."""
    client_id = "apikley-progress-test"
    events, texts = [], []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{host.port}/ws?clientId={client_id}") as ws:
            async with session.post(host.url + "/prompt", json={"prompt": prompt, "client_id": client_id}) as resp:
                prompt_id = (await resp.json())["prompt_id"]
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                message = await ws.receive(timeout=deadline - time.monotonic())
                if message.type == aiohttp.WSMsgType.BINARY:  # status text: 4-byte type, 4-byte id length, id, text
                    body = message.data[4:]
                    size = int.from_bytes(body[:4], "big")
                    texts.append(body[4 + size:].decode("utf-8", "replace"))
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(message.data)
                data = event.get("data") or {}
                if event["type"] == "progress" and data.get("prompt_id") == prompt_id:
                    events.append(data)
                if event["type"] in ("execution_success", "execution_error") and data.get("prompt_id") == prompt_id:
                    assert event["type"] == "execution_success", data
                    break
    return events, texts
