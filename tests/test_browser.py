"""Opt-in: the frontend extension in a real ComfyUI page (headless Chromium) against an in-process
simulator — key through Settings, cost badge, a paid run with its status lines and summary, the
recent-tasks panel; then ComfyUI restarts (empty cache, same user folder and journal) and the same
graph runs again: its summary says it was re-used for free.

Skipped unless COMFYUI_DIR and COMFYUI_PYTHON are set, /usr/bin/chromium exists and Node can load
playwright-core from tests/browser (``npm install --prefix tests/browser``). The page is driven by
tests/browser/ui_flow.mjs; screenshots land in tests/browser/screens/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from apikley_wan.simulator import Simulator

REPO = Path(__file__).resolve().parents[1]
BROWSER_DIR = REPO / "tests" / "browser"
SCREENS = BROWSER_DIR / "screens"
CHROMIUM = Path("/usr/bin/chromium")
PACK_FOLDER = "ComfyUI-Apikley-Wan26"
RIGHT_KEY, WRONG_KEY = "sim-key", "sk-wrong-key-0000"
# a newer frontend than the one ComfyUI ships: COMFYUI_FRONTEND_ROOT=<comfyui_frontend_package/static>
FRONT_END = ["--front-end-root", os.environ["COMFYUI_FRONTEND_ROOT"]] if os.environ.get("COMFYUI_FRONTEND_ROOT") else []
SHOTS = ("1_settings_key_refused.png", "2_settings_key_saved.png", "3_node_cost_and_live_status.png",
         "4_node_summary_after_run.png", "5_recent_tasks_panel.png", "6_recent_tasks_after_collect.png",
         "7_recent_tasks_dialog_from_settings.png", "8_node_summary_reused.png")
AMBER, GREEN = "rgb(250, 188, 37)", "rgb(76, 175, 80)"  # the summary's colours (web/apikley_wan.css)


def _missing():
    if not (os.environ.get("COMFYUI_DIR") and os.environ.get("COMFYUI_PYTHON")):
        return "set COMFYUI_DIR (a ComfyUI checkout) and COMFYUI_PYTHON (its Python)"
    if not CHROMIUM.is_file():
        return "install Chromium: apt-get install -y chromium"
    if not shutil.which("node"):
        return "install Node.js"
    probe = subprocess.run(["node", "-e", "import('playwright-core')"], cwd=BROWSER_DIR, capture_output=True)
    if probe.returncode:
        return "install playwright-core: npm install --prefix tests/browser"
    return None


MISSING = _missing()
pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode("utf-8")


class Comfy:
    """One ComfyUI (the pack linked in, no key in its environment, the API pointed at a simulator)
    that can be restarted: a new process, an empty cache, the same port and folders."""

    def __init__(self, root: Path, sim: Simulator):
        self.root, self.sim = root, sim
        self.user, self.output, self.inputs = root / "user", root / "output", root / "input"
        self.log = root / "comfyui.log"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("APIKLEY_API_KEY", "APIKLEY_STATE_DIR", "APIKLEY_OUTPUT_DIR")}
        env["APIKLEY_BASE_URL"] = self.sim.base_url
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [os.environ["COMFYUI_PYTHON"], "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                 "--user-directory", str(self.user), "--output-directory", str(self.output),
                 "--input-directory", str(self.inputs), "--database-url", "sqlite:///:memory:",
                 "--extra-model-paths-config", str(self.root / "extra.yaml"), *FRONT_END],
                cwd=os.environ["COMFYUI_DIR"], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            try:
                _get(self.url + "api/apikley_wan/prices")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("ComfyUI did not start:\n" + self.log.read_text()[-3000:])
                time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    root = tmp_path_factory.mktemp("comfy")
    user, output, inputs, nodes = (root / name for name in ("user", "output", "input", "custom_nodes"))
    for folder in (user / "default", output, inputs, nodes):
        folder.mkdir(parents=True)
    (nodes / PACK_FOLDER).symlink_to(REPO, target_is_directory=True)
    (root / "extra.yaml").write_text(f"apikley:\n  custom_nodes: {nodes}\n")
    (user / "default" / "comfy.settings.json").write_text('{"Comfy.TutorialCompleted": true}')  # no template dialog
    shutil.copy(REPO / "samples" / "reference.mp4", inputs / "reference.mp4")
    sim = Simulator(api_key=RIGHT_KEY, task_seconds=8, null_seconds=0.5).start()
    comfyui = Comfy(root, sim)
    try:
        comfyui.start()
        yield comfyui
    finally:
        comfyui.stop()
        sim.stop()


def _drive(comfy, phase: str) -> dict:
    """Run one phase of tests/browser/ui_flow.mjs; what it saw."""
    env = {**os.environ, "COMFY_URL": comfy.url, "SHOTS_DIR": str(SCREENS), "WRONG_KEY": WRONG_KEY,
           "RIGHT_KEY": RIGHT_KEY, "CLIP_NAME": "reference.mp4", "PHASE": phase,
           "WORKFLOW_FILE": str(comfy.root / "workflow.json")}
    run = subprocess.run(["node", "ui_flow.mjs"], cwd=BROWSER_DIR, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert "error" not in seen, f"{phase}: {seen['error']}\n{comfy.log.read_text()[-3000:]}"
    assert not [e for e in seen["pageErrors"] if PACK_FOLDER in e], seen["pageErrors"]
    return seen


def test_key_cost_paid_run_tasks_panel_then_a_free_reuse_after_restart(comfy):
    SCREENS.mkdir(parents=True, exist_ok=True)
    for name in SHOTS:
        (SCREENS / name).unlink(missing_ok=True)
    seen = _drive(comfy, "first")

    # the key: refused, then checked and saved (mode 600) — and nowhere else
    assert "refused" in seen["refused"] and "unchanged" in seen["refused"]
    assert "checked and saved" in seen["saved"] and seen["fieldAfterSave"] == ""
    assert "Saved key •••• is in use." in seen["entryText"]
    assert "Balance: 1000 credits ($5.00)" in seen["entryText"]
    key_file = comfy.user / "apikley_wan" / "api_key"
    assert key_file.read_text() == RIGHT_KEY and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    history = _get(comfy.url + "api/history")
    for text in ((comfy.user / "default" / "comfy.settings.json").read_text(), seen["storage"], seen["workflow"],
                 history, comfy.log.read_text()):
        assert RIGHT_KEY not in text and WRONG_KEY not in text

    # the cost badge follows duration and resolution
    assert seen["cost"] == {"initial": "est. 70 credits · $0.35", "duration10": "est. 140 credits · $0.70",
                            "duration10_1080p": "est. 209.5 credits · $1.05", "back": "est. 70 credits · $0.35"}

    # live status lines, then the run's summary from its report: a new charge, in amber, and a toast
    assert any("elapsed" in line for line in seen["lines"])
    assert seen["liveStatus"].startswith("Wan 2.6 V2V:")
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

    # the panel lists the task; a deleted result is downloaded again without a new task
    assert "success" in seen["panelRow"] and "Balance:" in seen["panelText"]
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
    assert "apikley_summary" not in again["promptAndWorkflow"]
    assert comfy.sim.create_count == 1, "the re-run created no task"
    for text in (again["storage"], comfy.log.read_text()):
        assert RIGHT_KEY not in text
    assert all((SCREENS / name).is_file() for name in SHOTS)
