"""Opt-in: the tasks panel in a real ComfyUI page (headless Chromium) over an in-process simulator.

One paid task (queued through ComfyUI's HTTP API), one that failed on the provider and one uncertain
create (written straight into the journal) are listed with prompt, preview, when, cost, state and file;
the page plays the preview, copies the task id and the folder path, loads the result into a Load Video
node that then runs, collects a deleted result again, filters by state, explains the failed and the
uncertain task, links a second lost create to the task it made ("I know the task id…") and collects it,
abandons the uncertain one after a confirmation, and turns a dropped result file back into its task.
tests/browser/tasks_panel.mjs drives the page; screenshots land in tests/browser/screens/<run>/.
Skipped unless the browser host is available (see tests/browser_host.py).
"""

from __future__ import annotations

import shutil
import time

import pytest

from apikley_wan.api.client import ApikleyClient
from apikley_wan.api.tasks import build_create_body
from apikley_wan.record.sqlite import Journal
from browser_host import MISSING, RIGHT_KEY, SCREENS, comfy_running, drive

SHOTS = ("tasks_1_sidebar.png", "tasks_2_playing.png", "tasks_3_load_video_node.png", "tasks_4_filter_failed.png",
         "tasks_5_filter_uncertain.png", "tasks_6_dropped_file.png", "tasks_7_dialog.png")
STOP_SHOTS = ("tasks_8_collect_waiting.png", "tasks_9_collect_stopped.png")
PAID_PROMPT = "character1 dances in the rain\nslow motion, neon lights"

pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


def _run(comfy, text: str) -> dict:
    """Queue Load Video -> Wan 2.6 V2V through ComfyUI's HTTP API; its history entry once it ended."""
    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "reference.mp4"}},
              "2": {"class_type": "ApikleyWan26V2V", "inputs": {"prompt": text, "duration": "5",
                                                                "resolution": "720p", "video": ["1", 0]}}}
    return comfy.wait(comfy.queue(prompt), 180)


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    with comfy_running(tmp_path_factory.mktemp("comfy_tasks"), key_saved=True, task_seconds=2) as comfyui:
        yield comfyui


def test_the_tasks_panel_shows_what_each_task_bought_and_acts_on_it(comfy):
    for name in SHOTS:
        (SCREENS / name).unlink(missing_ok=True)
    assert _run(comfy, PAID_PROMPT)["status"]["status_str"] == "success"
    comfy.sim.faults.fail_tasks = True
    try:
        assert _run(comfy, "character1 juggles fire")["status"]["status_str"] == "error"
    finally:
        comfy.sim.faults.fail_tasks = False
    journal = Journal(comfy.user / "apikley_wan" / "journal.sqlite")
    lost, _ = journal.claim("fp-lost-answer", {"prompt": "character1 sings", "duration": "10", "resolution": "720p"})
    journal.update(lost.id, state="uncertain", error="The task may have been created, but the answer was lost.")
    paid = next(e for e in journal.recent(10) if e.state == "success")
    found, _ = journal.claim("fp-found-task", {"prompt": "character1 waves", "duration": "5", "resolution": "720p"})
    journal.update(found.id, state="uncertain", error="The task may have been created, but the answer was lost.")
    client = ApikleyClient(api_key=RIGHT_KEY, base_url=comfy.sim.base_url)  # the task that lost create made
    found_task = client.create_task(build_create_body("character1 waves", [client.upload(paid.result_path)],
                                                             "5", "720p"))
    drop = comfy.root / "my_favourite_take.mp4"
    shutil.copyfile(paid.result_path, drop)
    creates = comfy.sim.create_count

    seen = drive(comfy, "tasks_panel.mjs", "panel", DROP_FILE=drop, LINK_ENTRY=found.id, LINK_TASK=found_task)

    # each task: its prompt (first line; all of it in the tooltip), when, cost, state, file, a live thumbnail
    assert seen["prompt"] == "character1 dances in the rain" and seen["promptTitle"] == PAID_PROMPT
    assert seen["whenTitle"].startswith(time.strftime("%Y-"))
    assert "finished" in seen["finishedText"] and "just now" in seen["finishedText"]
    assert "credits (" in seen["finishedText"] and paid.result_path.rsplit("/", 1)[1] in seen["finishedText"]
    assert seen["filterLabels"] == ["All 4", "Finished 1", "Running 0", "Failed 1", "Uncertain 2"]
    thumb = seen["thumb"]
    assert thumb["readyState"] >= 2 and thumb["width"] > 0 and thumb["paused"] and not thumb["controls"]
    assert f"/apikley_wan/tasks/{paid.task_id}/video" in thumb["src"]
    playing = seen["playing"]  # with controls and sound, as wide as its card
    assert playing["controls"] and not playing["muted"] and playing["width"] > 1.5 * thumb["shownWidth"]
    assert playing["width"] > playing["cardWidth"] - 30

    # copy id (with a visible confirmation) and the folder path (the tooltip says why it is a copy)
    assert seen["copyIdTitle"] == paid.task_id and seen["copiedId"] == paid.task_id
    assert seen["copyMessage"] == f"Copied task id: {paid.task_id}"
    assert seen["copiedFolder"] == str(comfy.output / "apikley_wan")
    assert "cannot open a folder" in seen["folderTitle"]

    # loaded into a Load Video node: the file is in the input folder, selected, and the node runs
    name = paid.result_path.rsplit("/", 1)[1]
    assert seen["loadVideo"]["value"] == name and seen["loadVideo"]["listed"]
    assert (comfy.inputs / name).read_bytes() == (comfy.output / "apikley_wan" / name).read_bytes()
    assert seen["loadVideoRun"] == "execution_success"
    assert list(comfy.output.glob("ComfyUI_*.mp4")) or list(comfy.output.rglob("*.mp4"))

    # collect again: the deleted result is downloaded again, no task created
    assert seen["collected"].startswith("Saved ") and seen["fileRestored"]

    # the filter, and plain words about the failed and the uncertain task
    assert seen["failedShown"] == ["failed"] and seen["uncertainShown"] == ["uncertain", "uncertain"]
    assert seen["finishedShown"] == ["finished"]
    assert "The provider said" in seen["failedExplain"] and "normally not billed" in seen["failedExplain"]
    assert "Change the input clip or the prompt" in seen["failedExplain"]
    assert "may exist and may be billed" in seen["uncertainExplain"] and "Abandon" in seen["uncertainExplain"]
    assert seen["uncertainButtons"] == ["I know the task id…", "Abandon…"] and "Abandon…" not in seen["failedButtons"]

    # "I know the task id…": dismissed changes nothing, a mistyped id is refused, the found one is linked and
    # collected; the same inputs then re-use it
    assert seen["linkPrompt"].startswith(f"The task id of journal entry {found.id} ")
    assert seen["linkDismissedState"] == "uncertain" and "does not know task no-such-task-9" in seen["linkRefused"]
    assert seen["linked"].startswith(f"Entry {found.id} is now task {found_task}: the same inputs re-use it")
    assert seen["linkedButtons"] == ["Copy id", "Collect"] and seen["linkedCollected"].startswith("Saved ")
    assert seen["linkedGroup"] == "finished" and journal.by_id(found.id).task_id == found_task
    assert journal.claim("fp-found-task", {}) == (journal.by_id(found.id), False)

    # Abandon asks first; only an accepted confirmation abandons
    assert seen["confirmText"].startswith(f"Abandon journal entry {lost.id}?") and "billed" in seen["confirmText"]
    assert seen["uncertainAfterDismiss"] == 1
    assert "abandoned" in seen["abandonMessage"] and "No uncertain tasks." in seen["uncertainAfterAbandon"]
    assert seen["abandonedCards"] == 1 and journal.by_id(lost.id).state == "abandoned"
    assert "may still be billed" in seen["abandonedExplain"]

    # a dropped result file is its task again (found from its metadata), highlighted in the list
    assert seen["dropMessage"].startswith(f"my_favourite_take.mp4 is task {paid.task_id} (finished)")
    assert seen["foundEntry"] == str(paid.id)

    assert seen["dialogCards"] == 4
    assert comfy.sim.create_count == creates, "nothing in the panel created a task"
    assert RIGHT_KEY not in comfy.log.read_text()
    assert all((SCREENS / name).is_file() for name in SHOTS)


def test_stop_waiting_ends_the_panels_collect_of_a_running_task_and_keeps_it_collectable(comfy):
    """Collect of a task the provider is still making waits for it; Stop waiting (tests/browser/tasks_stop.mjs)
    ends that wait within a second or so, says the task goes on and stays in the journal, and offers Collect
    again. Nothing is created."""
    for name in STOP_SHOTS:
        (SCREENS / name).unlink(missing_ok=True)
    client = ApikleyClient(api_key=RIGHT_KEY, base_url=comfy.sim.base_url)
    comfy.sim.task_seconds = 600  # (re-read while a task waits) the task runs long while the page drives
    try:
        task_id = client.create_task(build_create_body("character1 waits for the bus", [
            client.upload(comfy.inputs / "reference.mp4")], "5", "720p"))
        journal = Journal(comfy.user / "apikley_wan" / "journal.sqlite")
        entry = journal.adopt(task_id)
        creates = comfy.sim.create_count
        seen = drive(comfy, "tasks_stop.mjs", "stop", STOP_ENTRY=entry.id)
    finally:
        comfy.sim.task_seconds = 2

    assert "Collect" in seen["before"] and seen["group"] == "running", seen
    assert seen["waiting"] == ["Copy id", "Waiting for the task…", "Stop waiting"] and seen["waitingBusy"], seen
    assert "keeps running at the provider" in seen["stopTitle"]
    assert seen["stopped"].startswith(f"Stopped waiting for task {task_id}. It keeps running at the provider")
    assert seen["stoppedState"] == "ok" and seen["stoppedAfterMs"] < 3000, seen
    assert "Collect" in seen["after"] and "Stop waiting" not in seen["after"], seen
    assert journal.by_id(entry.id).state in ("waiting", "queuing", "generating")
    assert comfy.sim.create_count == creates, "nothing in the panel created a task"
    assert all((SCREENS / name).is_file() for name in STOP_SHOTS)
