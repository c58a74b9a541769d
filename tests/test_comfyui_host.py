"""Opt-in: the pack inside a real ComfyUI (started on the CPU) against the simulator.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout (COMFYUI_PYTHON: the Python that runs it).
Tests run in file order and share one ComfyUI and one simulator; each prints its figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import pytest

import comfy_host
from apikley_wan.simulator import Simulator

pytestmark = [pytest.mark.comfyui,
              pytest.mark.skipif(not comfy_host.available(), reason="set COMFYUI_DIR to a ComfyUI checkout")]

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "example_workflows"
NODE_IDS = {"ApikleyWan26V2V", "ApikleyWan26V2VSubmit", "ApikleyTaskPoll", "ApikleyTaskFetch",
            "ApikleyTaskFromId", "ApikleyVideoFrames", "ApikleyLoadVideosFromFolder"}
TASK_S = 5.0


@pytest.fixture(scope="module")
def sim():
    with Simulator(api_key="sim-key", task_seconds=TASK_S, null_seconds=1.0, credits=100_000) as running:
        yield running


@pytest.fixture(scope="module")
def host(sim, tmp_path_factory):
    root = tmp_path_factory.mktemp("comfy")
    with comfy_host.running(root, comfy_host.sim_env(sim)) as running:  # the journal must land in its user folder
        assert (root / "input" / "apikley_wan_sample.mp4").is_file(), "the pack installs its sample clip"
        yield running


@pytest.fixture(scope="module")
def object_info(host):
    return host.get("/object_info")


def _prompt(object_info, name: str, take: int = 0, prompt_suffix: str = "") -> dict:
    prompt = comfy_host.ui_to_api(json.loads((WORKFLOWS / name).read_text()), object_info)
    for node in prompt.values():
        if node["class_type"] in ("ApikleyWan26V2V", "ApikleyWan26V2VSubmit"):
            node["inputs"]["take"] = take
            node["inputs"]["prompt"] += prompt_suffix
    return prompt


def _run(host, prompt, timeout=240.0) -> tuple:
    started = time.monotonic()
    entry = host.wait(host.queue(prompt), timeout)
    return entry, time.monotonic() - started


def _messages(entry) -> list:
    return [m[0] for m in entry["status"].get("messages", [])]


def _wait_for_creates(sim, count, timeout=60.0):
    deadline = time.time() + timeout
    while sim.create_count < count and time.time() < deadline:
        time.sleep(0.05)
    assert sim.create_count >= count


def test_pack_loads_with_every_node_and_template(host, object_info):
    assert NODE_IDS <= set(object_info)
    templates = host.get("/workflow_templates")
    assert set(templates[comfy_host.PACK_DIR_NAME]) == {p.stem for p in WORKFLOWS.glob("*.json")}
    log = host.log.read_text(errors="replace")
    assert "IMPORT FAILED" not in log and "Cannot import" not in log


def test_every_template_maps_to_a_prompt_with_every_required_input(object_info):
    """ui_to_api places every saved widget value by this host's /object_info (or raises): no required
    input is left out, e.g. 0.33's Save Video `format` and its nested `format.codec`."""
    for path in sorted(WORKFLOWS.glob("*.json")):
        prompt = comfy_host.ui_to_api(json.loads(path.read_text()), object_info)
        for node_id, node in prompt.items():
            required = set(object_info[node["class_type"]]["input"].get("required", {}))
            assert required <= set(node["inputs"]), (path.name, node_id, node["class_type"], required)
        saves = [n["inputs"] for n in prompt.values() if n["class_type"] == "SaveVideo"]
        print(f"{path.name}: {len(prompt)} nodes; Save Video sends {sorted(saves[0]) if saves else '-'}")


ONE_CLIP, FAN_OUT = "Wan 2.6, one clip to a new video.json", "Wan 2.6, three prompts side by side.json"


@pytest.mark.parametrize("name", [ONE_CLIP, "Wan 2.6, frames in and frames out.json", FAN_OUT])
def test_example_workflow_runs(host, sim, object_info, name):
    before = sim.create_count
    entry, took = _run(host, _prompt(object_info, name))
    assert entry["status"]["status_str"] == "success", entry["status"]
    saved = [v for out in entry["outputs"].values() for v in out.get("images", [])]
    expected = 3 if name == FAN_OUT else 1
    assert len(saved) >= expected
    for item in saved:
        assert (host.root / "output" / item["subfolder"] / item["filename"]).stat().st_size > 10_000
    assert sim.create_count - before == expected
    results = list((host.root / "output" / "apikley_wan").glob("*.mp4"))
    assert results and all(p.with_suffix(".json").is_file() for p in results)
    assert not (REPO / "journal.sqlite").exists()
    assert (host.root / "user" / "apikley_wan" / "journal.sqlite").is_file()
    print(f"{name}: {took:.1f}s, {sim.create_count - before} task(s) created")


def test_requeue_and_restart_requeue_create_nothing(host, sim, object_info):
    prompt = _prompt(object_info, ONE_CLIP)
    before = sim.create_count
    entry, took = _run(host, prompt)
    assert entry["status"]["status_str"] == "success" and sim.create_count == before
    host.restart()
    entry, took_restart = _run(host, prompt)
    assert entry["status"]["status_str"] == "success" and sim.create_count == before
    print(f"re-queue: {took:.1f}s, after restart: {took_restart:.1f}s, no new create")


def test_interrupt_stops_within_2_s_and_requeue_collects(host, sim, object_info):
    sim.task_seconds = 120
    prompt = _prompt(object_info, ONE_CLIP, take=21)
    before = sim.create_count
    prompt_id = host.queue(prompt)
    _wait_for_creates(sim, before + 1)
    time.sleep(1.0)
    started = time.monotonic()
    host.post("/interrupt", {})
    entry = host.wait(prompt_id, 30)
    stopped = time.monotonic() - started
    assert "execution_interrupted" in _messages(entry), _messages(entry)
    assert stopped <= 2.0
    sim.task_seconds = TASK_S
    entry, _ = _run(host, prompt)
    assert entry["status"]["status_str"] == "success" and sim.create_count == before + 1
    print(f"interrupt: stopped {stopped:.2f}s after /interrupt; re-queue collected the same task")


def _started_at(entry) -> float:
    """When ComfyUI began executing a prompt (its execution_start message), in epoch seconds."""
    return next(m[1]["timestamp"] for m in entry["status"]["messages"] if m[0] == "execution_start") / 1000


@pytest.mark.parametrize("fault", ["drip_downloads", "slow_seconds"])
def test_cancel_frees_the_queue_within_1_s_whatever_the_network_does(host, sim, object_info, fault):
    """A result host dripping one byte every 5 s, or an API that answers after 30 s: after Cancel the
    next queued prompt starts within 1 s, and a re-queue collects the task with no new create."""
    prompt = _prompt(object_info, ONE_CLIP, take=61 if fault == "drip_downloads" else 62)
    cached = _prompt(object_info, ONE_CLIP)
    assert _run(host, cached)[0]["status"]["status_str"] == "success"  # from now on re-used at once
    before, drips, seen = sim.create_count, sim.drips_started, len(sim.requests_log)
    sim.task_seconds = 1.0
    if fault == "drip_downloads":
        sim.faults.drip_downloads = 1
    else:
        sim.faults.slow_seconds = 30.0
    try:
        first = host.queue(prompt)
        deadline = time.time() + 60
        while time.time() < deadline and (sim.drips_started == drips if fault == "drip_downloads"
                                          else len(sim.requests_log) == seen):
            time.sleep(0.05)
        time.sleep(0.5)  # the request is in flight
        following = host.queue(cached)
        interrupted_at = time.time()
        host.post("/interrupt", {})
        assert "execution_interrupted" in _messages(host.wait(first, 30))
        freed = _started_at(host.wait(following, 30)) - interrupted_at
    finally:
        sim.faults.drip_downloads, sim.faults.slow_seconds, sim.task_seconds = 0, 0.0, TASK_S
    print(f"{fault}: the next prompt started {freed:.2f}s after Cancel")
    assert freed < 1.0
    entry, _ = _run(host, prompt)
    assert entry["status"]["status_str"] == "success"
    assert sim.create_count - before == 1


def test_kill_while_pending_then_restart_collects_the_same_task(host, sim, object_info):
    sim.task_seconds = 120
    prompt = _prompt(object_info, ONE_CLIP, take=22)
    before = sim.create_count
    host.queue(prompt)
    _wait_for_creates(sim, before + 1)
    task_ids = set(sim.tasks)
    time.sleep(1.0)
    host.stop(kill=True)
    sim.task_seconds = TASK_S
    host.start()
    entry, _ = _run(host, prompt)
    assert entry["status"]["status_str"] == "success"
    assert sim.create_count == before + 1 and set(sim.tasks) == task_ids
    print("kill -9 while pending, restart, re-queue: same task collected, no new create")


def test_fan_out_finishes_in_about_one_task_time(host, sim, object_info):
    sim.task_seconds = 10.0
    single, one_time = _run(host, _prompt(object_info, ONE_CLIP, take=31))
    assert single["status"]["status_str"] == "success"
    fan, fan_time = _run(host, _prompt(object_info, FAN_OUT, take=31))
    assert fan["status"]["status_str"] == "success"
    ratio = fan_time / one_time
    print(f"one task: {one_time:.1f}s, three in fan-out: {fan_time:.1f}s, ratio {ratio:.2f}")
    sim.task_seconds = TASK_S
    assert ratio <= 1.3


def test_callback_route_verifies_signature_and_a_repeat_only_wakes(host, sim, object_info):
    sim.webhook_hmac_key = "webhook-secret"
    sim.faults.callback_repeats = 2
    host.env.update(APIKLEY_CALLBACK_URL=host.url, APIKLEY_WEBHOOK_HMAC_KEY="webhook-secret")
    host.restart()
    try:
        entry, took = _run(host, _prompt(object_info, ONE_CLIP, take=41))
        assert entry["status"]["status_str"] == "success"
        task_id = max(sim.tasks.values(), key=lambda t: t.created).task_id
        deadline = time.time() + 10
        while len([s for t, s in sim.callback_log if t == task_id]) < 2 and time.time() < deadline:
            time.sleep(0.1)
        statuses = [s for t, s in sim.callback_log if t == task_id]
        assert statuses == [200, 200], statuses  # each valid delivery, the repeat too, only wakes the waiter
        sim.webhook_hmac_key = "wrong-key"
        sim.faults.callback_repeats = 1
        _run(host, _prompt(object_info, ONE_CLIP, take=42))
        task_id = max(sim.tasks.values(), key=lambda t: t.created).task_id
        deadline = time.time() + 10
        while not [s for t, s in sim.callback_log if t == task_id] and time.time() < deadline:
            time.sleep(0.1)
        assert [s for t, s in sim.callback_log if t == task_id] == [401], "a bad signature is refused"
        print(f"callback run: {took:.1f}s; signed callbacks and their repeat woke the waiter, bad signature refused")
    finally:
        sim.webhook_hmac_key = None
        sim.faults.callback_repeats = 1


def _load_and_wan(take: int) -> dict:
    """Load Video → Wan 2.6 V2V and nothing else, as an API prompt."""
    return {"1": {"class_type": "LoadVideo", "inputs": {"file": "apikley_wan_sample.mp4"}},
            "2": {"class_type": "ApikleyWan26V2V",
                  "inputs": {"prompt": "character1 juggles on a beach", "duration": "5", "resolution": "720p",
                             "video": ["1", 0], "take": take}}}


def _saved(host, entry, node_id) -> Path:
    item = entry["outputs"][node_id]["images"][0]
    return host.root / "output" / item["subfolder"] / item["filename"]


def _facts(path: Path) -> tuple:
    """(decoded frames, frame rate, has sound), read with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream)), float(stream.average_rate), bool(container.streams.audio)


def test_load_video_and_wan_alone_is_a_complete_graph(host, sim):
    before = sim.create_count
    entry, took = _run(host, _load_and_wan(take=51))  # POST /prompt refuses a graph without an output node
    assert entry["status"]["status_str"] == "success", entry["status"]
    result = _saved(host, entry, "2")
    assert result.parent == host.root / "output" / "apikley_wan" and result.stat().st_size > 10_000
    assert sim.create_count == before + 1
    print(f"Load Video -> Wan 2.6 V2V alone: accepted and ran in {took:.1f}s, result previewed on the node")


def test_video_to_frames_rebuilds_the_result_at_its_fps_and_length_without_a_new_task(host, sim):
    alone = _load_and_wan(take=51)
    entry, _ = _run(host, alone)
    assert entry["status"]["status_str"] == "success", entry["status"]
    result = _saved(host, entry, "2")
    before = sim.create_count
    rebuilt = {**alone,
               "3": {"class_type": "ApikleyVideoFrames", "inputs": {"video": ["2", 0]}},
               "4": {"class_type": "CreateVideo", "inputs": {"images": ["3", 0], "audio": ["3", 1], "fps": ["3", 2]}},
               "5": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0], "filename_prefix": "video/rebuilt",
                                                           "format": "auto", "codec": "auto"}}}
    entry, took = _run(host, rebuilt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    frames, fps, sound = _facts(result)
    assert _facts(_saved(host, entry, "5")) == (frames, fps, sound) and frames > 0 and sound
    assert sim.create_count == before
    print(f"Video to Frames -> Create Video: {frames} frames at {fps:g} fps rebuilt in {took:.1f}s, no new task")
