"""Opt-in: the frontend extension in a real ComfyUI page (headless Chromium) against an in-process
simulator — key through Settings, cost badge, a paid run with its status lines and summary, the
recent-tasks panel; then ComfyUI restarts (empty cache, same user folder and journal) and the same
graph runs again: its summary says it was re-used for free.

Skipped unless COMFYUI_DIR and COMFYUI_PYTHON are set, /usr/bin/chromium exists and Node can load
playwright-core from tests/browser (``npm install --prefix tests/browser``). The page is driven by
tests/browser/ui_flow.mjs; screenshots land in tests/browser/screens/<run>/.
"""

from __future__ import annotations

import json
import stat

import pytest

from browser_host import (AMBER, GREEN, MISSING, RIGHT_KEY, SCREENS, WRONG_KEY, assert_chip_readable,
                          assert_drawn_in_place, comfy_running, drive)

SHOTS = ("1_settings_key_refused.png", "2_settings_key_saved.png", "3_node_cost_and_live_status.png",
         "4_node_summary_after_run.png", "5_recent_tasks_panel.png", "6_recent_tasks_after_collect.png",
         "7_recent_tasks_dialog_from_settings.png", "8_node_summary_reused.png",
         "9_new_run_cleared_live_status.png", "10_cancelled_task_exists.png", "11_reattached_no_new_charge.png")

pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    with comfy_running(tmp_path_factory.mktemp("comfy")) as comfyui:
        yield comfyui


def _drive(comfy, phase: str) -> dict:
    return drive(comfy, "ui_flow.mjs", phase)


def test_key_cost_paid_run_tasks_panel_then_a_free_reuse_after_restart(comfy):
    SCREENS.mkdir(parents=True, exist_ok=True)
    for name in SHOTS:
        (SCREENS / name).unlink(missing_ok=True)
    seen = _drive(comfy, "first")

    # the key: refused, then checked and saved (mode 600) — and nowhere else
    assert "refused" in seen["refused"] and "unchanged" in seen["refused"]
    assert "checked and saved" in seen["saved"] and seen["fieldAfterSave"] == ""
    assert "Saved key •••• (7 characters) is in use." in seen["entryText"]
    assert "Balance: 1000 credits ($5.00)" in seen["entryText"]
    key_file = comfy.user / "apikley_wan" / "api_key"
    assert key_file.read_text() == RIGHT_KEY and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    history = json.dumps(comfy.get("/history"))
    for text in ((comfy.user / "default" / "comfy.settings.json").read_text(), seen["storage"], seen["workflow"],
                 history, comfy.log.read_text()):
        assert RIGHT_KEY not in text and WRONG_KEY not in text

    # the cost badge follows duration and resolution
    sim = " · simulator"  # the API is the simulator: the badge says so
    assert seen["cost"] == {"initial": "est. 70 credits · $0.35" + sim, "duration10": "est. 140 credits · $0.70" + sim,
                            "duration10_1080p": "est. 209.5 credits · $1.05" + sim, "back": "est. 70 credits · $0.35" + sim}

    # live status lines, then the run's summary from its report: a new charge, in amber, and a toast
    assert any("elapsed" in line for line in seen["lines"])
    assert seen["liveStatus"].startswith("Wan 2.6 V2V:") and seen["liveTone"] == "live"
    assert seen["statusBoxWhileLive"] is False, "the live status has the pack's own area, not the frontend's box"
    summary = seen["summary"]
    assert summary["text"].startswith("Paid now: 70 credits ($0.35") and summary["tone"] == "paid", summary
    assert "simulator — no real credits" in summary["text"] and ".mp4" in summary["text"]
    assert summary["color"] == AMBER
    assert seen["statusBoxAfterRun"] is False, "the summary replaces the status line"
    assert len(seen["toasts"]) == 1 and "balance" in seen["toasts"][0] and "Paid now: 70 credits" in seen["toasts"][0]
    assert "apikley_summary" not in seen["promptAndWorkflow"] and "Paid now" not in seen["promptAndWorkflow"]
    assert comfy.sim.create_count == 1
    assert list((comfy.output / "apikley_wan").glob("wan26_v2v_*.mp4")) and list(comfy.output.rglob("ComfyUI_*.mp4"))
    assert seen["videoPreviews"]["save"] and seen["videoPreviews"]["wan"], "both nodes play their video"
    # what the page draws: the Wan node's video and summary inside its frame, over no other node; the
    # run-total chip readable while the cost toast shows
    assert seen["boxes"]["wanSummary"] and seen["boxes"]["wanVideo"], seen["boxes"]
    assert_drawn_in_place(seen["boxes"])
    assert_chip_readable(seen["chipUnderToast"])

    # the panel lists the task; a deleted result is downloaded again without a new task
    assert "finished" in seen["panelRow"] and "Balance:" in seen["panelText"]
    assert seen["collected"].startswith("Saved ") and seen["fileRestored"] is True
    assert comfy.sim.create_count == 1 and seen["dialogClosed"]

    # a new ComfyUI (nothing cached, the same journal), the same graph: re-used, green, no cost toast
    comfy.restart()
    again = _drive(comfy, "reuse")
    assert again["summaryBeforeRun"] is None
    summary = again["summary"]
    assert summary["text"].startswith("Re-used: no charge (paid ") and summary["tone"] == "free", summary
    assert "credits (" not in summary["text"] and summary["color"] == GREEN
    assert again["toasts"] == [] and again["statusBoxAfterRun"] is False
    assert_drawn_in_place(again["boxes"])
    assert "apikley_summary" not in again["promptAndWorkflow"]
    assert comfy.sim.create_count == 1, "the re-run created no task"

    # a new prompt: the old video and summary leave as the run starts; Cancel says the task exists
    again = _drive(comfy, "cancel")
    assert again["previewBeforeSecondRun"] is True
    assert again["duringSecondRun"]["preview"] is False and again["duringSecondRun"]["summary"]["tone"] == "live"
    assert again["cancelSummary"]["text"].startswith("Cancelled: task ") and again["cancelSummary"]["tone"] == "paid"
    assert "will likely finish and be billed" in again["cancelSummary"]["text"]
    assert "at no new charge" in again["cancelToast"]
    assert_chip_readable(again["chipUnderCancelToast"])
    # re-queued: the running task is re-attached, and nothing new is created
    assert again["reattached"]["text"].startswith("Re-attached to a running task: no new charge"), again["reattached"]
    assert again["reattached"]["tone"] == "free" and again["reattached"]["color"] == GREEN
    assert again["reattachedPreview"] is True, ("the collected result plays on the node", again["debugOutputs"])
    assert_drawn_in_place(again["reattachedBoxes"])
    assert comfy.sim.create_count == 3, "one task for each new prompt, none for the re-queue"
    for text in (again["storage"], comfy.log.read_text()):
        assert RIGHT_KEY not in text
    assert all((SCREENS / name).is_file() for name in SHOTS)
