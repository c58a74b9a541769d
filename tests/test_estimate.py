"""The run's total before Run, server side (POST /apikley_wan/estimate, nodes/estimate.py): per
generating node of an API prompt, its price, how many runs, and whether they would re-use a recorded
result — checked against a real run of the node (real simulator, real journal, real clip), so the
fingerprint is proved to be the one the node computes."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from conftest import pack_module
from test_routes import _call, talk

PROMPT = "character1 waves at the camera"


@pytest.fixture
def pack(node_pack, tmp_path, monkeypatch):
    """The pack on the simulator, with its input folder in tmp_path holding two clips."""
    monkeypatch.setattr(pack_module(node_pack, "nodes.folder"), "base_dir", lambda: tmp_path / "input")  # the folder node's
    return node_pack




@pytest.fixture
def inputs(pack, tmp_path, reference_clip):
    folder = tmp_path / "input"
    (folder / "clips").mkdir(parents=True)
    shutil.copy(reference_clip, folder / "a.mp4")
    shutil.copy(reference_clip, folder / "clips" / "one.mp4")
    with open(folder / "clips" / "two.mp4", "wb") as out:  # another clip: other bytes
        out.write((folder / "a.mp4").read_bytes() + b"\0")
    return folder


def _wan(video=("1", 0), duration="5", resolution="720p", **extra):
    inputs = {"prompt": PROMPT, "duration": duration, "resolution": resolution, "video": list(video),
              "video_url": "", "multi_shots": False, "take": 0, **extra}
    return {"class_type": "ApikleyWan26V2V", "inputs": inputs, "_meta": {"title": "Wan"}}


def _estimate(pack, prompt):
    routes = pack_module(pack, "nodes.routes")
    status, body = talk(routes, lambda client: _call(client, "POST", "/apikley_wan/estimate", json={"prompt": prompt}))
    assert status == 200 and body["ok"] is True, body
    return body


def _verdict(node: dict) -> dict:
    """A node's price and re-use, without its part of the total (test_price_settings.py looks at that)."""
    return {name: node[name] for name in ("credits", "usd", "runs", "reused_runs", "reuse")}


def _run_node(pack, path, **widgets):
    """The all-in-one node run as ComfyUI runs it after Load Video (a file-backed VIDEO)."""
    node = pack.NODE_CLASS_MAPPINGS["ApikleyWan26V2V"]()
    video = pack_module(pack, "nodes.host").video_from_file(str(path))
    return asyncio.run(node.generate(PROMPT, widgets.pop("duration", "5"), widgets.pop("resolution", "720p"),
                                     video=video, unique_id="9", **widgets))


def test_a_node_run_once_is_then_counted_as_reused_and_its_other_settings_as_paid(pack, sim, inputs):
    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "a.mp4"}},
              "2": _wan(),
              "3": _wan(duration="10", resolution="1080p"),
              "4": _wan(take=1),
              "5": {"class_type": "SaveVideo", "inputs": {"video": ["2", 0]}}}
    before = _estimate(pack, prompt)
    assert before["api"] == "simulator" and set(before["nodes"]) == {"2", "3", "4"}
    assert _verdict(before["nodes"]["2"]) == {"credits": 70.0, "usd": 0.35, "runs": 1, "reused_runs": 0, "reuse": False}
    assert before["nodes"]["3"]["credits"] == 209.5 and before["nodes"]["3"]["reuse"] is False

    _run_node(pack, inputs / "a.mp4")
    assert sim.create_count == 1
    after = _estimate(pack, prompt)["nodes"]
    assert after["2"]["reuse"] is True and after["2"]["reused_runs"] == 1, "the run's own fingerprint"
    assert after["3"]["reuse"] is False and after["4"]["reuse"] is False, "other settings, another take: paid"
    assert sim.create_count == 1, "asking created nothing"


def test_what_the_pack_cannot_tell_is_unknown_never_free(pack, inputs):
    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "a.mp4"}},
              "6": {"class_type": "SomeoneElsesLoader", "inputs": {}},
              "7": {"class_type": "StringConcatenate", "inputs": {}},
              "missing": _wan(video=("8", 0)),
              "8": {"class_type": "LoadVideo", "inputs": {"file": "not-there.mp4"}},
              "other": _wan(video=("6", 0)),
              "wired_prompt": _wan(prompt=["7", 0]),
              "wired_duration": _wan(duration=["7", 0]),
              "frames": _wan(images=["6", 0]),
              "escape": _wan(video=("9", 0)),
              "9": {"class_type": "LoadVideo", "inputs": {"file": "../a.mp4"}}}
    nodes = _estimate(pack, prompt)["nodes"]
    for node_id in ("missing", "other", "wired_prompt", "frames", "escape"):
        assert nodes[node_id]["reuse"] is None and nodes[node_id]["reused_runs"] is None, node_id
        assert nodes[node_id]["credits"] == 70.0 and nodes[node_id]["runs"] == 1
    assert nodes["wired_duration"]["credits"] is None and nodes["wired_duration"]["usd"] is None


def test_a_folder_of_clips_counts_one_run_per_clip_and_the_clips_already_paid(pack, sim, inputs):
    folder = {"class_type": "ApikleyLoadVideosFromFolder",
              "inputs": {"folder": "clips", "pattern": "*.mp4", "limit": 0, "sort": "name"}}
    prompt = {"1": folder, "2": _wan()}
    assert _verdict(_estimate(pack, prompt)["nodes"]["2"]) == {"credits": 70.0, "usd": 0.35, "runs": 2,
                                                               "reused_runs": 0, "reuse": None}
    _run_node(pack, inputs / "clips" / "one.mp4")
    assert _estimate(pack, prompt)["nodes"]["2"]["reused_runs"] == 1

    # a list reaching the node through another node: its length is not known here ("at least")
    prompt = {"1": folder, "3": {"class_type": "SomeVideoFilter", "inputs": {"video": ["1", 0]}},
              "2": _wan(video=("3", 0))}
    assert _estimate(pack, prompt)["nodes"]["2"]["runs"] is None
    # the folder's settings wired to another node: not listed
    wired = {"class_type": "ApikleyLoadVideosFromFolder", "inputs": {**folder["inputs"], "folder": ["4", 0]}}
    assert _estimate(pack, {"1": wired, "2": _wan()})["nodes"]["2"]["runs"] is None


def test_the_route_wants_a_prompt_object_from_the_page_itself(pack):
    routes = pack_module(pack, "nodes.routes")

    async def script(client):
        path = "/apikley_wan/estimate"
        return (await _call(client, "POST", path, json={"prompt": []}),
                await _call(client, "POST", path, json={"prompt": {}}, headers={"Origin": "http://evil.example"}))

    (bad, _), (evil, _) = talk(routes, script)
    assert (bad, evil) == (400, 403)
