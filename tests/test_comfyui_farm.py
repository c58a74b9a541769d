"""Opt-in: two ComfyUI processes with separate user and output folders share one PostgreSQL journal
(farm mode): the same prompt queued on both at once makes one task, and both save the video.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout whose Python (COMFYUI_PYTHON) has psycopg.
"""

from __future__ import annotations

import subprocess
import threading
import uuid

import pytest

import comfy_host
from apikley_wan.simulator import Simulator
from test_journal_contract import pg_url

pytestmark = [pytest.mark.comfyui,
              pytest.mark.skipif(not comfy_host.available(), reason="set COMFYUI_DIR to a ComfyUI checkout")]


@pytest.fixture(scope="module")
def farm_url():
    if subprocess.run([comfy_host.COMFYUI_PYTHON, "-c", "import psycopg"], capture_output=True).returncode:
        pytest.skip('ComfyUI\'s Python has no psycopg: pip install "psycopg[binary]" there')
    import psycopg
    base = pg_url()
    name = f"farm_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def sim():
    with Simulator(api_key="sim-key", task_seconds=6.0, null_seconds=0.5, credits=100_000) as running:
        yield running


@pytest.fixture(scope="module")
def workers(sim, farm_url, tmp_path_factory):
    env = comfy_host.sim_env(sim, APIKLEY_JOURNAL_URL=farm_url)
    with comfy_host.running(tmp_path_factory.mktemp("worker0"), env) as first, \
            comfy_host.running(tmp_path_factory.mktemp("worker1"), env) as second:
        yield [first, second]


PROMPT = {"1": {"class_type": "LoadVideo", "inputs": {"file": "apikley_wan_sample.mp4"}},
          "2": {"class_type": "ApikleyWan26V2V", "inputs": {
              "video": ["1", 0], "prompt": "character1 dances on a farm", "duration": "5", "resolution": "720p",
              "take": 0, "multi_shots": False, "video_url": "", "fps": 24.0}}}


def test_two_workers_given_the_same_prompt_at_once_make_one_task_and_both_save_it(workers, sim):
    before = sim.create_count
    entries = [None, None]

    def run(i):
        entries[i] = workers[i].wait(workers[i].queue(PROMPT), 180)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(200)
    assert all(e and e["status"]["status_str"] == "success" for e in entries), [e and e["status"] for e in entries]
    assert sim.create_count - before == 1, "the farm paid once"
    for host in workers:
        saved = list((host.root / "output" / "apikley_wan").glob("wan26_v2v_*.mp4"))
        assert len(saved) == 1 and saved[0].stat().st_size > 10_000, f"{host.root} has its own copy"
        assert not (host.root / "user" / "apikley_wan" / "journal.sqlite").exists(), "no local journal"
    print("two workers, one PostgreSQL journal: 1 task, both saved the video")
