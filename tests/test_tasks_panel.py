"""The tasks panel's routes (nodes/routes.py over apikley_wan/task_rows.py and task_files.py) on a plain
aiohttp app: a result streams as the panel's preview (Range too) from wherever the journal recorded it,
is copied into the input folder for a Load Video node without overwriting anything, and an uncertain
create can be abandoned (only that) so its inputs may create again."""

from __future__ import annotations

import shutil

import pytest

from conftest import load_pack
from test_routes import _call, _module, long_key_sim, routes, talk  # noqa: F401 - fixtures used by name

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def journal(routes):  # noqa: F811 - the fixture imported above
    return _module(load_pack(), "nodes.service").state().journal


@pytest.fixture
def input_dir(tmp_path, monkeypatch):
    folder = tmp_path / "comfy_input"
    monkeypatch.setattr(_module(load_pack(), "nodes.host"), "input_dir", lambda: folder)
    return folder


def _finished(journal, folder, reference_clip, task_id="task-done-1"):
    """A finished task whose result lives outside ComfyUI's output folder (a folder the pack's results were moved to)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"wan26_v2v_{task_id}.mp4"
    shutil.copyfile(reference_clip, path)
    entry = journal.adopt(task_id, {"prompt": "character1 dances\nin the rain, slowly", "duration": "5",
                                    "resolution": "720p"})
    return journal.update(entry.id, state="success", result_path=str(path), cost_credits=70.0)


def _uncertain(journal, fingerprint="fp-lost"):
    entry, _ = journal.claim(fingerprint, {"prompt": "lost answer", "duration": "10", "resolution": "720p"})
    return journal.update(entry.id, state="uncertain", error="the create answer was lost")


def test_the_result_streams_from_where_the_journal_recorded_it(routes, journal, tmp_path, reference_clip):  # noqa: F811
    entry = _finished(journal, tmp_path / "elsewhere", reference_clip)
    data = reference_clip.read_bytes()

    async def script(client):
        async def get(path, **kw):
            resp = await client.get(path, **kw)
            return resp.status, resp.headers, await resp.read()
        url = f"/apikley_wan/tasks/{entry.task_id}/video"
        answers = {"whole": await get(url), "range": await get(url, headers={"Range": "bytes=100-199"}),
                   "unknown": await get("/apikley_wan/tasks/no-such-task/video"),
                   "not an id": await get("/apikley_wan/tasks/a.b/video")}
        (tmp_path / "elsewhere" / f"wan26_v2v_{entry.task_id}.mp4").unlink()
        answers["deleted"] = await get(url)
        return answers

    answers = talk(routes, script)
    status, headers, body = answers["whole"]
    assert status == 200 and headers["Content-Type"] == "video/mp4" and body == data
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, body = answers["range"]
    assert status == 206 and body == data[100:200] and headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    for name in ("unknown", "not an id", "deleted"):
        assert answers[name][0] == 404, name
    assert b"Collect the task again" in answers["deleted"][2]


def test_rows_carry_what_the_panel_shows_and_acts_on(routes, journal, tmp_path, reference_clip):  # noqa: F811
    done = _finished(journal, tmp_path / "elsewhere", reference_clip)
    lost = _uncertain(journal)

    status, body = talk(routes, lambda client: _call(client, "GET", "/apikley_wan/tasks?limit=5"))
    rows = {row["entry_id"]: row for row in body["tasks"]}
    assert status == 200 and set(rows) == {done.id, lost.id}
    finished = rows[done.id]
    assert finished["prompt"] == "character1 dances\nin the rain, slowly" and finished["typical_s"] == 150.0
    assert finished["result_folder"] == str(tmp_path / "elsewhere") and finished["result_exists"] is True
    assert finished["abandonable"] is False
    assert rows[lost.id]["abandonable"] is True and rows[lost.id]["task_id"] is None
    assert rows[lost.id]["typical_s"] == 270.0


def test_only_an_uncertain_create_is_abandoned_and_its_inputs_may_create_again(routes, journal, tmp_path,  # noqa: F811
                                                                               reference_clip):
    done = _finished(journal, tmp_path / "elsewhere", reference_clip)
    lost = _uncertain(journal)
    alive, _ = journal.claim("fp-being-created", {"prompt": "in flight"})  # a live process is creating it

    async def script(client):
        def abandon(entry_id, **kw):
            return _call(client, "POST", f"/apikley_wan/entries/{entry_id}/abandon", **kw)
        return {"not json": await abandon(lost.id, data="{}", headers={"Content-Type": "text/plain"}),
                "other site": await abandon(lost.id, json={}, headers={"Origin": "http://evil.example"}),
                "uncertain": await abandon(lost.id, json={}),
                "again": await abandon(lost.id, json={}),
                "finished": await abandon(done.id, json={}),
                "in flight": await abandon(alive.id, json={}),
                "unknown": await abandon(99999, json={}),
                "not a number": await abandon("x1", json={})}

    answers = talk(routes, script)
    codes = {name: status for name, (status, _) in answers.items()}
    assert codes == {"not json": 415, "other site": 403, "uncertain": 200, "again": 400, "finished": 400,
                     "in flight": 400, "unknown": 404, "not a number": 404}
    row = answers["uncertain"][1]["task"]
    assert row["entry_id"] == lost.id and row["state"] == "abandoned" and row["abandonable"] is False
    assert "only an uncertain create" in answers["finished"][1]["msg"]
    assert journal.by_id(done.id).state == "success" and journal.by_id(alive.id).state == "creating"
    _, is_new = journal.claim("fp-lost", {"prompt": "lost answer"})
    assert is_new, "the abandoned inputs may create a new task"


def test_a_result_goes_to_the_top_of_the_input_folder_without_overwriting(routes, journal, tmp_path,  # noqa: F811
                                                                          reference_clip, input_dir):
    entry = _finished(journal, tmp_path / "elsewhere", reference_clip)
    name = f"wan26_v2v_{entry.task_id}.mp4"
    url = f"/apikley_wan/tasks/{entry.task_id}/load_video"

    async def script(client):
        first = await _call(client, "POST", url, json={})
        again = await _call(client, "POST", url, json={})
        (input_dir / name).write_bytes(b"the user's own file of that name")
        clash = await _call(client, "POST", url, json={})
        return {"first": first, "again": again, "clash": clash,
                "not json": await _call(client, "POST", url, data="{}", headers={"Content-Type": "text/plain"}),
                "unknown": await _call(client, "POST", "/apikley_wan/tasks/nope/load_video", json={})}

    answers = talk(routes, script)
    assert answers["first"] == (200, {"ok": True, "filename": name, "copied": True})
    assert answers["again"] == (200, {"ok": True, "filename": name, "copied": False})
    other = f"wan26_v2v_{entry.task_id}_1.mp4"
    assert answers["clash"] == (200, {"ok": True, "filename": other, "copied": True})
    assert (input_dir / name).read_bytes() == b"the user's own file of that name"
    assert (input_dir / other).read_bytes() == reference_clip.read_bytes()
    assert sorted(p.name for p in input_dir.iterdir()) == [name, other], "no partial files left"
    assert answers["not json"][0] == 415 and answers["unknown"][0] == 404


def test_a_row_carries_the_journal_verdict_and_offers_what_it_allows(tmp_path, reference_clip):
    """Collect for a task to attach to (a 'not found' id is asked again) or a finished one whose file is gone,
    Abandon for an uncertain create only: read from ``journal.verdict``, with the row's own result file."""
    from apikley_wan.panel import task_rows
    from apikley_wan.record import entry as jr
    from apikley_wan.record.sqlite import Journal
    journal = Journal(tmp_path / "journal.sqlite")
    kept = _finished(journal, tmp_path / "kept", reference_clip, "t-kept")
    gone = _finished(journal, tmp_path / "gone", reference_clip, "t-gone")
    (tmp_path / "gone" / "wan26_v2v_t-gone.mp4").unlink()
    running = journal.adopt("t-running")
    unknown = journal.update(journal.adopt("t-unknown").id, state=jr.NOT_FOUND)
    live, _ = journal.claim("fp-live", {})
    dead, _ = journal.claim("fp-dead", {})
    journal.release(dead.id)
    dead = journal.update(dead.id, heartbeat_at=0.0)
    lost = _uncertain(journal)
    rows = {row["entry_id"]: (row["verdict"], row["collectable"], row["abandonable"])
            for row in task_rows.recent(journal)["tasks"]}
    assert rows == {kept.id: ("re-use", False, False), gone.id: ("re-use", True, False),
                    running.id: ("attach", True, False), unknown.id: ("attach", True, False),
                    live.id: ("wait for creator", False, False), dead.id: ("uncertain", False, True),
                    lost.id: ("uncertain", False, True)}
