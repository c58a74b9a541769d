"""Opt-in: a result file back to its task inside a real ComfyUI (set COMFYUI_DIR, COMFYUI_PYTHON), against
the simulator: the file Save Video wrote (ComfyUI's own remux) still names the task, Load Video → Task From
File collects it without a new task, and the tasks panel's drop route answers for a file uploaded through
ComfyUI's /upload/image."""

from __future__ import annotations

import shutil
import time

import pytest
import requests

import comfy_host
from apikley_wan.results import provenance
from apikley_wan.simulator import Simulator

pytestmark = [pytest.mark.comfyui,
              pytest.mark.skipif(not comfy_host.available(), reason="set COMFYUI_DIR to a ComfyUI checkout")]

PROMPT = "character1 juggles on a beach"


@pytest.fixture(scope="module")
def sim():
    with Simulator(api_key="sim-key", task_seconds=1.0, null_seconds=0.2, credits=100_000) as running:
        yield running


@pytest.fixture(scope="module")
def host(sim, tmp_path_factory):
    with comfy_host.running(tmp_path_factory.mktemp("comfy"), comfy_host.sim_env(sim)) as running:
        yield running


def _run(host, prompt: dict) -> dict:
    entry = host.wait(host.queue(prompt), 240.0)
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry


def _saved(host, entry, node_id):
    item = entry["outputs"][node_id]["images"][0]
    return host.root / "output" / item["subfolder"] / item["filename"]


def _save(video_from: str, prefix: str) -> dict:
    return {"class_type": "SaveVideo", "inputs": {"video": [video_from, 0], "filename_prefix": prefix,
                                                  "format": "auto", "codec": "auto"}}


def test_a_saved_result_loaded_again_collects_its_task_without_a_new_one(host, sim):
    paid = _run(host, {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "apikley_wan_sample.mp4"}},
        "2": {"class_type": "ApikleyWan26V2V", "inputs": {"prompt": PROMPT, "duration": "5", "resolution": "720p",
                                                          "video": ["1", 0], "take": 71}},
        "3": _save("2", "video/kept")})
    archived, saved = _saved(host, paid, "2"), _saved(host, paid, "3")
    task_id = provenance.read(archived).task_id
    assert provenance.read(saved).task_id == task_id  # Save Video's copy keeps the pack's tags
    shutil.copyfile(saved, host.root / "input" / "from_a_friend.mp4")
    archived.unlink()  # the archive is gone too: collecting downloads it again, from the task
    archived.with_suffix(".json").unlink()
    before = sim.create_count

    started = time.monotonic()
    collected = _run(host, {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "from_a_friend.mp4"}},
        "2": {"class_type": "ApikleyTaskFromFile", "inputs": {"video": ["1", 0]}},
        "3": _save("2", "video/collected")})
    took = time.monotonic() - started
    assert sim.create_count == before
    assert archived.is_file() and provenance.read(archived).task_id == task_id
    assert _saved(host, collected, "2") == archived and provenance.read(_saved(host, collected, "3")).task_id == task_id
    print(f"Load Video (a Save Video copy) -> Task From File: task {task_id} collected in {took:.1f}s, no new task")


def test_the_drop_route_answers_for_a_file_uploaded_through_comfyui(host, sim):
    results = sorted((host.root / "output" / "apikley_wan").glob("*.mp4"))
    assert results, "the test above left a result"
    with results[0].open("rb") as fh:
        uploaded = requests.post(host.url + "/upload/image", files={"image": ("dropped.mp4", fh, "video/mp4")},
                                 data={"type": "input", "subfolder": "drops"}, timeout=30).json()
    with (host.root / "input" / "apikley_wan_sample.mp4").open("rb") as fh:
        plain = requests.post(host.url + "/upload/image", files={"image": ("plain.mp4", fh, "video/mp4")},
                              data={"type": "input"}, timeout=30).json()
    before = sim.create_count

    answer = requests.post(host.url + "/apikley_wan/tasks/from_file", json={
        "filename": uploaded["name"], "subfolder": uploaded["subfolder"], "type": uploaded["type"]}, timeout=30)
    refused = requests.post(host.url + "/apikley_wan/tasks/from_file", json={
        "filename": plain["name"], "subfolder": "", "type": "input"}, timeout=30)
    climbing = requests.post(host.url + "/apikley_wan/tasks/from_file", json={
        "filename": "comfyui.log", "subfolder": "../..", "type": "input"}, timeout=30)

    assert answer.status_code == 200 and answer.json()["ok"] is True
    row = answer.json()["task"]
    assert row["task_id"] == provenance.read(results[0]).task_id and row["state"] == "success" and row["result_exists"]
    assert refused.status_code == 400 and refused.json()["msg"].startswith("This file carries no apikley task")
    assert climbing.status_code == 400 and sim.create_count == before
    print(f"drop route: {uploaded['subfolder']}/{uploaded['name']} -> task {row['task_id']} ({row['state']})")
