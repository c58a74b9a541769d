"""A result file back to its task, for free: the Task From File node, the tasks panel's drop route
(POST /apikley_wan/tasks/from_file) and ``collect --from-file``, each against the simulator, on a fresh
journal (another machine, or the journal moved aside) so the task really comes from the file."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apikley_wan.media import check_video
from conftest import pack_module, use_pack_runtime
from test_cli import REPO, _env, _v2v
from test_routes import _call, talk

PROMPT = "character1 waves at the camera"


@pytest.fixture
def pack(node_pack):
    return node_pack


def _paid_result(pack, reference_clip) -> Path:
    host = pack_module(pack, "nodes.host")
    node = pack.NODE_CLASS_MAPPINGS["ApikleyWan26V2V"]()
    answer = asyncio.run(node.generate(PROMPT, "5", "720p", video=host.video_from_file(str(reference_clip)),
                                       unique_id="1"))
    return Path(answer["result"][0].get_stream_source())


def _elsewhere(pack, tmp_path, monkeypatch) -> None:
    """A ComfyUI that never saw the task: its own journal and output folder."""
    monkeypatch.setenv("APIKLEY_STATE_DIR", str(tmp_path / "state_elsewhere"))
    use_pack_runtime(pack, tmp_path / "output_elsewhere", monkeypatch)


def test_the_node_collects_the_files_task_without_creating_one(pack, sim, reference_clip, tmp_path, monkeypatch):
    copy = tmp_path / "input" / "my result.mp4"
    shutil.copyfile(_paid_result(pack, reference_clip), copy)
    _elsewhere(pack, tmp_path, monkeypatch)
    host = pack_module(pack, "nodes.host")
    said = []
    monkeypatch.setattr(host, "send_status", lambda text, node_id: said.append(text))
    node = pack.NODE_CLASS_MAPPINGS["ApikleyTaskFromFile"]()

    answer = asyncio.run(node.from_file(host.video_from_file(str(copy)), unique_id="9"))
    video, task_id = answer["result"]
    collected = Path(video.get_stream_source())
    assert collected.parent == tmp_path / "output_elsewhere" / "apikley_wan" and check_video(collected).frame_count
    assert collected.name.endswith(f"{task_id}.mp4") and answer["ui"]["images"][0]["filename"] == collected.name
    assert said[-1].startswith("Collected: no new charge") and task_id in said[-1]
    entry = pack_module(pack, "nodes.service").state().journal.by_task_id(task_id)
    assert entry.state == "success" and entry.params["prompt"] == PROMPT  # the file's parameters came along
    assert sim.create_count == 1  # only the paid run above

    with pytest.raises(pack_module(pack, "apikley_wan.errors").NoProvenanceError):  # the pack's own class
        asyncio.run(node.from_file(host.video_from_file(str(reference_clip)), unique_id="10"))
    assert sim.create_count == 1 and len(pack_module(pack, "nodes.service").state().journal.recent(10)) == 1


def test_the_declaration_matches_fetch(pack):
    node, fetch = (pack.NODE_CLASS_MAPPINGS[n] for n in ("ApikleyTaskFromFile", "ApikleyTaskFetch"))
    assert "Task From File" in pack.NODE_DISPLAY_NAME_MAPPINGS["ApikleyTaskFromFile"]
    spec = node.INPUT_TYPES()
    assert set(spec["required"]) == {"video"} and spec["required"]["video"][0] == "VIDEO"
    assert spec["required"]["video"][1]["tooltip"] and spec["hidden"] == {"unique_id": "UNIQUE_ID"}
    assert (node.RETURN_TYPES, node.RETURN_NAMES, node.OUTPUT_TOOLTIPS) == \
           (fetch.RETURN_TYPES, fetch.RETURN_NAMES, fetch.OUTPUT_TOOLTIPS)


def test_the_panels_drop_route_adopts_the_task_then_collect_fetches_it(pack, sim, reference_clip, tmp_path,
                                                                       monkeypatch):
    routes = pack_module(pack, "nodes.routes")
    result = _paid_result(pack, reference_clip)
    shutil.copyfile(result, tmp_path / "input" / "dropped.mp4")
    _elsewhere(pack, tmp_path, monkeypatch)
    url = "/apikley_wan/tasks/from_file"

    async def script(client):
        adopted = await _call(client, "POST", url, json={"filename": "dropped.mp4", "subfolder": "", "type": "input"})
        task_id = adopted[1]["task"]["task_id"]
        collected = await _call(client, "POST", f"/apikley_wan/tasks/{task_id}/collect", json={})
        again = await _call(client, "POST", url, json={"filename": Path(collected[1]["task"]["result_path"]).name,
                                                       "subfolder": "apikley_wan", "type": "output"})
        return adopted, collected, again

    (status, adopted), (_, collected), (again_status, again) = talk(routes, script)
    assert status == 200 and adopted["ok"] is True
    row = adopted["task"]
    assert result.name.endswith(f"{row['task_id']}.mp4") and row["state"] == "waiting" and row["prompt"] == PROMPT
    assert row["duration"] == "5" and row["resolution"] == "720p" and row["collectable"] is True
    assert collected["ok"] is True and collected["task"]["state"] == "success" and collected["task"]["result_exists"]
    assert again_status == 200 and again["task"]["task_id"] == row["task_id"]  # known: the same entry
    assert sim.create_count == 1


def test_the_drop_route_reads_only_files_inside_comfyuis_input_or_output(pack, sim, reference_clip, tmp_path):
    routes = pack_module(pack, "nodes.routes")
    shutil.copyfile(reference_clip, tmp_path / "input" / "plain.mp4")
    secret = tmp_path / "outside.mp4"
    shutil.copyfile(reference_clip, secret)
    (tmp_path / "input" / "link.mp4").symlink_to(secret)
    sent = {
        "no apikley task": {"filename": "plain.mp4"},
        "climbs out by name": {"filename": "../outside.mp4"},
        "climbs out by subfolder": {"filename": "outside.mp4", "subfolder": ".."},
        "climbs out by a Windows subfolder": {"filename": "outside.mp4", "subfolder": "sub\\..\\.."},
        "absolute subfolder": {"filename": "outside.mp4", "subfolder": str(tmp_path)},
        "drive subfolder": {"filename": "outside.mp4", "subfolder": "C:\\"},
        "a link out of the folder": {"filename": "link.mp4"},
        "another folder type": {"filename": "plain.mp4", "type": "temp"},
        "no name": {},
        "a name that is not text": {"filename": ["plain.mp4"]},
        "missing": {"filename": "missing.mp4"},
    }

    async def script(client):
        answers = {what: await _call(client, "POST", "/apikley_wan/tasks/from_file", json=body)
                   for what, body in sent.items()}
        answers["another site"] = await _call(client, "POST", "/apikley_wan/tasks/from_file",
                                              json={"filename": "plain.mp4"}, headers={"Origin": "http://evil.example"})
        return answers

    answers = talk(routes, script)
    statuses = {what: status for what, (status, _) in answers.items()}
    assert statuses == {**{what: 400 for what in sent}, "missing": 404, "another site": 403}
    assert answers["no apikley task"][1]["msg"].startswith("This file carries no apikley task")
    assert all(body["ok"] is False and str(tmp_path) not in body["msg"] for _, body in answers.values())
    assert pack_module(pack, "nodes.service").state().journal.recent(10) == [] and sim.create_count == 0


def test_the_command_line_collects_from_a_result_file(sim, tmp_path):
    env = _env(tmp_path / "state", APIKLEY_BASE_URL=sim.base_url, APIKLEY_API_KEY="sim-key")
    out = tmp_path / "result.mp4"
    paid = subprocess.run(_v2v(out), cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert paid.returncode == 0, paid.stderr
    again = tmp_path / "again.mp4"
    env_elsewhere = {**env, "APIKLEY_STATE_DIR": str(tmp_path / "state_elsewhere")}
    collected = subprocess.run([sys.executable, "-m", "apikley_wan", "collect", "--from-file", str(out), "--out",
                                str(again)], cwd=REPO, env=env_elsewhere, capture_output=True, text=True, timeout=180)
    assert collected.returncode == 0, collected.stderr
    task_id = paid.stdout.split(" · task ")[1].split(" ")[0]
    assert f"{out}: task {task_id}" in collected.stdout
    assert f"done: Collected: no new charge · task {task_id}" in collected.stdout
    assert check_video(again).frame_count == check_video(out).frame_count and sim.create_count == 1

    refused = subprocess.run([sys.executable, "-m", "apikley_wan", "collect", "--from-file", "samples/reference.mp4",
                              "--out", str(tmp_path / "x.mp4")], cwd=REPO, env=env_elsewhere, capture_output=True,
                             text=True, timeout=180)
    assert refused.returncode == 2 and "error: This file carries no apikley task" in refused.stderr
    assert sim.create_count == 1 and not (tmp_path / "x.mp4").exists()
