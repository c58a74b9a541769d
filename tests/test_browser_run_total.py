"""Opt-in: the run's total by the Run button, the confirmation before a costly run and the Settings
entries of issue 10 (the price override saved on the server, a bad entry named in place; budget caps, Remove
key, simulator notes) in a
real ComfyUI page over an in-process simulator. tests/browser/run_total.mjs drives the page (the
frontend's own Run button and batch-count field); screenshots land in tests/browser/screens/<run>/.
Skipped unless the browser host is available (see tests/browser_host.py).
"""

from __future__ import annotations

import pytest

from browser_host import MISSING, SCREENS, comfy_running, drive

SHOTS = ("run_total_1_badge_by_run_button.png", "run_total_2_confirm_dialog.png", "run_total_3_reused_total.png",
         "run_total_4_settings_key_and_prices.png", "run_total_7_key_removed.png")
BUDGET_SHOTS = ("run_total_5_settings_budget.png", "run_total_6_dialog_budget_refusal.png")
SIMULATOR = "simulator — no real credits"

pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    with comfy_running(tmp_path_factory.mktemp("comfy"), key_saved=True, task_seconds=3) as comfyui:
        yield comfyui


def test_run_total_confirmation_and_settings(comfy):
    for name in SHOTS + BUDGET_SHOTS:
        (SCREENS / name).unlink(missing_ok=True)
    seen = drive(comfy, "run_total.mjs")

    # the total by the Run button: 70 + 209.5 credits, on the simulator
    assert seen["total"] == f"Run: ~$1.40 (279.5 credits) · {SIMULATOR}", seen["total"]
    assert seen["anchored"] == "queue-button"
    assert seen["badge"] == "est. 70 credits · $0.35 · simulator"
    # batch count 2 reaches the Run path; inputs the pack fingerprints are identical in both copies: paid once
    assert seen["batchArg"] == 2
    assert seen["batch2"].startswith("Run: ~$1.40 (279.5 credits) · batch ×2: identical runs pay once"), seen["batch2"]
    assert seen["bypassed"].startswith("Run: ~$0.35 (70 credits)")

    # above $2 the Run button asks; Cancel queued nothing, Run queued both nodes, which paid
    dialog = seen["dialog"]
    assert "Run: ~$2.10 (419 credits)" in dialog and dialog.count("10 s 1080p: $1.05 (209.5 credits)") == 2, dialog
    assert seen["afterCancel"] == {"dialogs": 0, "history": seen["historyBefore"], "reports": 0, "queue": 0}
    assert seen["outcomes"] == ["paid", "paid"]
    assert seen["reused"].startswith("Run: no new charge · 2 re-used"), seen["reused"]

    # the override is saved on the server: a bad entry is named in red and saves nothing; the good one prices the badge
    assert seen["badgeOverride"] == "est. 60 credits · $0.30 · simulator"
    assert '"hd=5"' in seen["pricesError"] and "duration/resolution" in seen["pricesError"], seen["pricesError"]
    assert "nothing was saved" in seen["pricesError"]
    red, green, blue = (int(v) for v in seen["pricesErrorColor"][4:-1].split(",")[:3])
    assert red > green + 80 and red > blue + 80, seen["pricesErrorColor"]  # the frontend's error red
    assert "5/720p: 60 credits ($0.30)" in seen["pricesText"]
    assert "Simulator — no real credits" in seen["keyEntry"] and "•••• (7 characters)" in seen["keyEntry"]

    if seen["budgetRoute"]:
        assert "Per-session cap (USD)" in seen["budgetEntry"] and "spent this session" in seen["budgetEntry"]
        # the guard's own sentence, from the estimate route's dry run
        assert "per-session cap (saved in Settings) is $1.00" in seen["budgetDialog"], seen["budgetDialog"]
        assert any("APIKLEY_BUDGET_SESSION_USD" in m or "per-session cap" in m for m in seen["refused"]), seen["refused"]
        assert all((SCREENS / name).is_file() for name in BUDGET_SHOTS)
    # the refused run created nothing: the two paid tasks are the simulator's only creates
    assert comfy.sim.create_count == 2

    assert "No key yet" in seen["removed"]
    assert not (comfy.user / "apikley_wan" / "api_key").exists()
    assert all((SCREENS / name).is_file() for name in SHOTS)
