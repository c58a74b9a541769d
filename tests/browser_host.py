"""What the opt-in browser tests share: a restartable real ComfyUI (comfy_host's, with the pack linked
in, no key in its environment, the API pointed at an in-process simulator) and a runner for the playwright
scripts in tests/browser/ that print what they saw as one JSON line.

Needs COMFYUI_DIR and COMFYUI_PYTHON, /usr/bin/chromium and playwright-core in tests/browser
(``npm install --prefix tests/browser``); ``MISSING`` says what is absent. A newer frontend than
the bundled one: COMFYUI_FRONTEND_ROOT=<comfyui_frontend_package/static>. NODES_2=1 runs the same tests in
the frontend's Nodes 2.0 mode (Vue nodes: setting Comfy.VueNodes.Enabled; frontend 1.58 and later).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from apikley_wan.simulator import Simulator
from comfy_host import PACK_DIR_NAME as PACK_FOLDER, REPO, ComfyHost

BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
RIGHT_KEY, WRONG_KEY = "sim-key", "sk-wrong-key-0000"
FRONT_END_ROOT = os.environ.get("COMFYUI_FRONTEND_ROOT", "")
FRONT_END = ["--front-end-root", FRONT_END_ROOT] if FRONT_END_ROOT else []
NODES_2 = os.environ.get("NODES_2", "") not in ("", "0")
# one folder per host, frontend and renderer, so that runs at once keep each other's screenshots
SCREENS = BROWSER_DIR / "screens" / "-".join((
    Path(os.environ.get("COMFYUI_DIR", "none")).name or "none",
    f"fe{hashlib.sha1(FRONT_END_ROOT.encode()).hexdigest()[:6]}" if FRONT_END_ROOT else "own-frontend",
    "nodes2" if NODES_2 else "classic"))
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.VueNodes.Enabled": NODES_2}  # no template dialog; the mode
PACK_WEB = f"/extensions/{PACK_FOLDER}/"  # where the page loads the pack's web/ files from
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


class Comfy(ComfyHost):
    """A ComfyHost for the page: the frontend COMFYUI_FRONTEND_ROOT names (else the bundled one), no key in
    its environment (the tests save it through Settings), the simulator its pack talks to, and its folders
    by name. ``page_url`` is what the browser opens."""

    def __init__(self, root: Path, sim: Simulator, env: dict | None = None):
        # blank values count as unset in the pack: the developer's key and folders stay out
        super().__init__(root, {"APIKLEY_API_KEY": "", "APIKLEY_STATE_DIR": "",
                                "APIKLEY_BASE_URL": sim.base_url, **(env or {})}, args=FRONT_END)
        self.sim = sim
        self.user, self.output, self.inputs = root / "user", root / "output", root / "input"
        self.page_url = self.url + "/"


@contextlib.contextmanager
def comfy_running(root: Path, env: dict | None = None, key_saved: bool = False, **sim_options):
    """A fresh ComfyUI over a fresh simulator (``sim_options`` go to Simulator); ``key_saved``
    puts the simulator's key in the pack's key file, as if saved through Settings."""
    user, inputs = root / "user", root / "input"
    (user / "default").mkdir(parents=True, exist_ok=True)
    inputs.mkdir(parents=True, exist_ok=True)
    (user / "default" / "comfy.settings.json").write_text(json.dumps(SETTINGS))
    shutil.copy(REPO / "samples" / "reference.mp4", inputs / "reference.mp4")
    if key_saved:
        (user / "apikley_wan").mkdir(parents=True, exist_ok=True)
        key_file = user / "apikley_wan" / "api_key"
        key_file.write_text(RIGHT_KEY)
        key_file.chmod(0o600)
    sim = Simulator(api_key=RIGHT_KEY, **{"task_seconds": 8, "null_seconds": 0.5, **sim_options}).start()
    comfyui = Comfy(root, sim, env)
    try:
        comfyui.start()
        yield comfyui
    finally:
        comfyui.stop()
        sim.stop()


def drive(comfy: Comfy, script: str, phase: str = "first", **env) -> dict:
    """Run one phase of tests/browser/<script>; what it saw (its last stdout line, as JSON)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "COMFY_URL": comfy.page_url, "SHOTS_DIR": str(SCREENS), "WRONG_KEY": WRONG_KEY,
                "RIGHT_KEY": RIGHT_KEY, "PACK_WEB": PACK_WEB, "CLIP_NAME": "reference.mp4", "PHASE": phase,
                "WORKFLOW_FILE": str(comfy.root / "workflow.json"), **{k: str(v) for k, v in env.items()}}
    run = subprocess.run(["node", script], cwd=BROWSER_DIR, env=full_env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert "error" not in seen, f"{phase}: {seen['error']}\n{comfy.log.read_text()[-3000:]}"
    assert not [e for e in seen.get("pageErrors", []) if PACK_FOLDER in e], seen["pageErrors"]
    assert not seen.get("packConsole"), f"{phase}: console warnings/errors from the pack's web/ files: {seen['packConsole']}"
    return seen


# boxes as the page measured them (tests/browser/node_view.mjs): {left, top, right, bottom} in screen pixels
def overlap(a: dict, b: dict) -> bool:
    """Whether two boxes overlap (touching edges do not)."""
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    """Whether ``inner`` lies within ``outer`` (``slack`` pixels of rounding allowed)."""
    return (inner["left"] >= outer["left"] - slack and inner["top"] >= outer["top"] - slack
            and inner["right"] <= outer["right"] + slack and inner["bottom"] <= outer["bottom"] + slack)


def assert_drawn_in_place(boxes: dict) -> None:
    """The Wan node's video and summary lie inside its frame and cover no other node."""
    for part in ("wanVideo", "wanSummary"):
        if boxes.get(part):
            assert inside(boxes[part], boxes["wan"]), (part, boxes[part], "outside the Wan node", boxes["wan"])
            for other in ("save", "saveVideo", "load"):
                assert not (boxes.get(other) and overlap(boxes[part], boxes[other])), (part, "covers", other, boxes)


def assert_chip_readable(seen: dict) -> None:
    """The run-total chip shows, on top of the page, and no toast on screen covers it."""
    assert seen["chip"] and seen["chipText"], seen
    assert not seen["covering"], ("the run-total chip is under", seen)
    covering = [toast for toast in seen["toasts"] if overlap(toast, seen["chip"])]
    assert not covering, ("a toast covers the run-total chip", seen)
