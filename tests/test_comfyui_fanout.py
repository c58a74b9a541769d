"""Opt-in: many all-in-one nodes in one prompt of a real ComfyUI wait together, not in rounds.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout (COMFYUI_PYTHON: the Python that runs it).
"""

from __future__ import annotations

import time

import pytest

import comfy_host
from apikley_wan.simulator import Simulator

pytestmark = [pytest.mark.comfyui,
              pytest.mark.skipif(not comfy_host.available(), reason="set COMFYUI_DIR to a ComfyUI checkout")]

TASK_S = 8.0


@pytest.fixture(scope="module")
def sim():
    with Simulator(api_key="sim-key", task_seconds=TASK_S, null_seconds=0.5, credits=100_000) as running:
        yield running


@pytest.fixture(scope="module")
def host(sim, tmp_path_factory):
    with comfy_host.running(tmp_path_factory.mktemp("comfy"), comfy_host.sim_env(sim)) as running:
        yield running


def _prompt(count: int, first_take: int) -> dict:
    """Load Video → ``count`` Wan 2.6 V2V nodes (output nodes: each saves and previews its result)."""
    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "apikley_wan_sample.mp4"}}}
    for i in range(count):
        prompt[str(10 + i)] = {"class_type": "ApikleyWan26V2V", "inputs": {
            "video": ["1", 0], "prompt": "character1 dances in the rain", "duration": "5", "resolution": "720p",
            "take": first_take + i, "multi_shots": False, "video_url": "", "fps": 24.0}}
    return prompt


def _timed(host, prompt) -> tuple:
    started = time.monotonic()
    entry = host.wait(host.queue(prompt), 300)
    return entry, time.monotonic() - started


def test_sixteen_nodes_in_one_prompt_finish_within_1_5x_one_node(host, sim):
    one, one_s = _timed(host, _prompt(1, 1000))
    assert one["status"]["status_str"] == "success", one["status"]
    before = sim.create_count
    many, many_s = _timed(host, _prompt(16, 2000))
    assert many["status"]["status_str"] == "success", many["status"]
    assert sim.create_count - before == 16
    saved = [item for out in many["outputs"].values() for item in out.get("images", [])]
    assert len(saved) == 16, "every node previews its own result"
    print(f"one node {one_s:.1f}s, sixteen nodes {many_s:.1f}s ({many_s / one_s:.2f}x)")
    assert many_s <= 1.5 * one_s
