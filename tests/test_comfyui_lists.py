"""Opt-in: a folder of clips as a list through ONE generating node of a real ComfyUI.

ComfyUI maps a list input over a node: for an async node function every element becomes its own
asyncio task, so the clips wait side by side, each with its own paid task and its own saved result.
Skipped unless COMFYUI_DIR points at a ComfyUI checkout (COMFYUI_PYTHON: the Python that runs it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
import threading
import time
from pathlib import Path

import aiohttp
import pytest

import comfy_host
from apikley_wan.simulator import Simulator

pytestmark = [pytest.mark.comfyui,
              pytest.mark.skipif(not comfy_host.available(), reason="set COMFYUI_DIR to a ComfyUI checkout")]

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_workflows" / "Wan 2.6, every clip of a folder.json"
TASK_S = 8.0
CLIPS = 8
PROMPT = "character1 dances in the rain, shot "


@pytest.fixture(scope="module")
def sim():
    with Simulator(api_key="sim-key", task_seconds=TASK_S, null_seconds=0.5, credits=100_000) as running:
        yield running


@pytest.fixture(scope="module")
def host(sim, tmp_path_factory):
    with comfy_host.running(tmp_path_factory.mktemp("comfy"), comfy_host.sim_env(sim)) as running:
        yield running


@pytest.fixture(scope="module")
def batch(host) -> Path:
    """input/batch holding the sample clip ``CLIPS`` times, named clip_01.mp4 … (identical content)."""
    folder = host.root / "input" / "batch"
    folder.mkdir(exist_ok=True)
    for i in range(1, CLIPS + 1):
        shutil.copyfile(REPO / "samples" / "reference.mp4", folder / f"clip_{i:02d}.mp4")
    return folder


class Events:
    """The websocket messages ComfyUI sends (JSON events, and the status lines' binary TEXT frames)."""

    def __init__(self, url: str):
        self.url = url.replace("http://", "ws://") + "/ws?clientId=apikley-tests"
        self.items: list = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._listen(),), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "no websocket"

    async def _listen(self):
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession() as session, session.ws_connect(self.url) as ws:
            self._ready.set()
            while not self._stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.2)
                except asyncio.TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    self.items.append((data["type"], data["data"]))
                elif msg.type == aiohttp.WSMsgType.BINARY and struct.unpack(">I", msg.data[:4])[0] == 3:
                    size = struct.unpack(">I", msg.data[4:8])[0]
                    node = msg.data[8:8 + size].decode()
                    self.items.append(("progress_text", {"node": node, "text": msg.data[8 + size:].decode()}))
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return

    def of(self, kind: str) -> list:
        return [data for t, data in list(self.items) if t == kind]

    def close(self):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def events(host):
    tap = Events(host.url)
    yield tap
    tap.close()


def _folder_to_wan(pattern: str, take: int, limit: int = 0) -> dict:
    """Load Videos from Folder → Concatenate (a prompt per clip from its name) → ONE Wan 2.6 V2V node."""
    return {
        "1": {"class_type": "ApikleyLoadVideosFromFolder",
              "inputs": {"folder": "batch", "pattern": pattern, "limit": limit, "sort": "name"}},
        "2": {"class_type": "StringConcatenate", "inputs": {"string_a": PROMPT, "string_b": ["1", 1],
                                                            "delimiter": ""}},
        "3": {"class_type": "ApikleyWan26V2V", "inputs": {
            "video": ["1", 0], "prompt": ["2", 0], "duration": "5", "resolution": "720p", "take": take,
            "multi_shots": False, "video_url": "", "fps": 24.0}},
    }


def _run(host, prompt, timeout=300.0) -> tuple:
    started = time.monotonic()
    entry = host.wait(host.queue(prompt), timeout)
    return entry, time.monotonic() - started


def _new_tasks(sim, before: set) -> list:
    return [t for tid, t in sim.tasks.items() if tid not in before]


def test_eight_clips_through_one_all_in_one_node_run_side_by_side(host, sim, batch, events):
    one, one_s = _run(host, _folder_to_wan("clip_*.mp4", take=1000, limit=1))
    assert one["status"]["status_str"] == "success", one["status"]
    before_ids, before = set(sim.tasks), sim.create_count
    many, many_s = _run(host, _folder_to_wan("clip_*.mp4", take=2000))
    assert many["status"]["status_str"] == "success", many["status"]

    created = _new_tasks(sim, before_ids)
    assert sim.create_count - before == CLIPS and len(created) == CLIPS, "one task per clip"
    assert sorted(t.input["prompt"] for t in created) == [f"{PROMPT}clip_{i:02d}" for i in range(1, CLIPS + 1)]

    ui = many["outputs"]["3"]  # ComfyUI merges the elements' ui dicts key by key
    assert len(ui["images"]) == CLIPS and ui["animated"] == [True] * CLIPS
    names = {item["filename"] for item in ui["images"]}
    assert len(names) == CLIPS and all(t.task_id in " ".join(names) for t in created)
    for item in ui["images"]:
        saved = host.root / "output" / item["subfolder"] / item["filename"]
        assert saved.stat().st_size > 10_000 and saved.with_suffix(".json").is_file()

    reports = [r for r in events.of("apikley.task") if r.get("task_id") in {t.task_id for t in created}]
    assert len(reports) == CLIPS and {r["node"] for r in reports} == {"3"}, "each clip reports on the node"
    assert len({r["result"]["filename"] for r in reports}) == CLIPS
    executed = [e for e in events.of("executed") if e["node"] == "3"]
    assert executed and len(executed[-1]["output"]["images"]) == CLIPS
    lines = [e["text"] for e in events.of("progress_text") if e["node"] == "3"]
    assert sum(line.startswith("Paid now:") for line in lines) >= CLIPS, lines[-CLIPS:]
    log = host.log.read_text(errors="replace")  # (ComfyUI's own database may log unrelated tracebacks)
    frames = [line for line in log.splitlines() if line.strip().startswith('File "')
              and (f"{comfy_host.PACK_DIR_NAME}/" in line or str(REPO) in line)]
    assert "never retrieved" not in log and not frames, "no traceback through the pack"

    print(f"one clip {one_s:.1f}s, {CLIPS} clips through one node {many_s:.1f}s ({many_s / one_s:.2f}x); "
          f"{len(created)} tasks, {len(names)} results saved, {len(reports)} apikley.task reports, "
          f"{len(lines)} status lines on the one node")
    assert many_s <= 1.5 * one_s


def test_adding_a_clip_reruns_the_folder_and_pays_only_for_the_new_clip(host, sim, batch):
    prompt = _folder_to_wan("clip_*.mp4", take=2000)
    entry, _ = _run(host, prompt)  # all cached or re-used: nothing new
    assert entry["status"]["status_str"] == "success" and entry["outputs"]["3"]["images"]
    before_ids, before = set(sim.tasks), sim.create_count
    shutil.copyfile(batch / "clip_01.mp4", batch / "clip_09.mp4")
    try:
        entry, took = _run(host, prompt)
    finally:
        (batch / "clip_09.mp4").unlink()
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert sim.create_count - before == 1, "the eight known clips are re-used from the journal"
    assert [t.input["prompt"] for t in _new_tasks(sim, before_ids)] == [f"{PROMPT}clip_09"]
    assert len(entry["outputs"]["3"]["images"]) == CLIPS + 1
    print(f"a ninth clip added: folder re-read, 1 new task, {CLIPS} re-used, {took:.1f}s")


def test_submit_poll_fetch_map_over_the_list(host, sim, batch):
    prompt = {
        "1": {"class_type": "ApikleyLoadVideosFromFolder",
              "inputs": {"folder": "batch", "pattern": "clip_0[1-3].mp4", "limit": 0, "sort": "name"}},
        "2": {"class_type": "StringConcatenate", "inputs": {"string_a": "character1 surfs, shot ",
                                                            "string_b": ["1", 1], "delimiter": ""}},
        "3": {"class_type": "ApikleyWan26V2VSubmit", "inputs": {
            "video": ["1", 0], "prompt": ["2", 0], "duration": "5", "resolution": "720p", "take": 0}},
        "4": {"class_type": "ApikleyTaskPoll", "inputs": {"task": ["3", 0]}},
        "5": {"class_type": "ApikleyTaskFetch", "inputs": {"task": ["4", 0]}},
        "6": {"class_type": "SaveVideo", "inputs": {"video": ["5", 0], "filename_prefix": "video/batch",
                                                    "format": "auto", "codec": "auto"}},
    }
    before = sim.create_count
    entry, took = _run(host, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert sim.create_count - before == 3
    assert len({item["filename"] for item in entry["outputs"]["5"]["images"]}) == 3  # Fetch's previews
    assert len({item["filename"] for item in entry["outputs"]["6"]["images"]}) == 3  # Save Video maps too
    print(f"Submit -> Poll -> Fetch over 3 clips: 3 tasks, 3 results in {took:.1f}s")


def test_example_folder_batch_runs_as_opened(host, sim):
    workflow = json.loads(EXAMPLE.read_text())
    nodes = workflow["nodes"]
    assert any(n["type"] == "MarkdownNote" for n in nodes)
    prompt = comfy_host.ui_to_api(workflow, host.get("/object_info"))
    assert prompt["1"]["inputs"] == {"folder": ".", "pattern": "apikley_wan_sample*.mp4", "limit": 0,
                                     "sort": "name"}
    before = sim.create_count
    entry, took = _run(host, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert sim.create_count - before == 1  # the fresh input folder holds only the pack's sample
    (item,) = entry["outputs"]["2"]["images"]
    assert (host.root / "output" / item["subfolder"] / item["filename"]).stat().st_size > 10_000
    print(f"{EXAMPLE.name} as opened: 1 task, {took:.1f}s")



def test_a_broken_clip_fails_the_node_but_the_others_are_kept_and_re_used(host, sim, batch):
    folder = host.root / "input" / "mixed"
    folder.mkdir()
    for name in ("clip_a.mp4", "clip_b.mp4"):
        shutil.copyfile(batch / "clip_01.mp4", folder / name)
    (folder / "clip_c.mp4").write_bytes(b"not a video at all" * 100)
    prompt = _folder_to_wan("clip_*.mp4", take=3000)
    prompt["1"]["inputs"]["folder"] = "mixed"
    before_ids, before = set(sim.tasks), sim.create_count
    entry, took = _run(host, prompt)
    assert entry["status"]["status_str"] == "error"
    error = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
    assert error["node_id"] == "3", error
    created = _new_tasks(sim, before_ids)
    assert sim.create_count - before == 2 and len(created) == 2, "the good clips still ran"
    for task in created:  # and were saved although the node as a whole failed
        assert list((host.root / "output" / "apikley_wan").glob(f"*{task.task_id}*.mp4"))
    (folder / "clip_c.mp4").unlink()
    again, again_s = _run(host, prompt)
    assert again["status"]["status_str"] == "success", again["status"]
    assert sim.create_count - before == 2 and len(again["outputs"]["3"]["images"]) == 2
    print(f"a broken clip among 3: node failed after {took:.1f}s ({error['exception_message'][:90]!r}); "
          f"the 2 good tasks were saved and the re-queue re-used them in {again_s:.1f}s")
