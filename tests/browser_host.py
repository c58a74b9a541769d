"""What the opt-in browser tests share: a restartable real ComfyUI (the pack linked in, no key in
its environment, the API pointed at an in-process simulator) and a runner for the playwright
scripts in tests/browser/ that print what they saw as one JSON line.

Needs COMFYUI_DIR and COMFYUI_PYTHON, /usr/bin/chromium and playwright-core in tests/browser
(``npm install --prefix tests/browser``); ``MISSING`` says what is absent. A newer frontend than
the bundled one: COMFYUI_FRONTEND_ROOT=<comfyui_frontend_package/static>.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from apikley_wan.simulator import Simulator
from comfy_host import free_port

REPO = Path(__file__).resolve().parents[1]
BROWSER_DIR = REPO / "tests" / "browser"
SCREENS = BROWSER_DIR / "screens"
CHROMIUM = Path("/usr/bin/chromium")
PACK_FOLDER = "ComfyUI-Apikley-Wan26"
RIGHT_KEY, WRONG_KEY = "sim-key", "sk-wrong-key-0000"
FRONT_END = ["--front-end-root", os.environ["COMFYUI_FRONTEND_ROOT"]] if os.environ.get("COMFYUI_FRONTEND_ROOT") else []
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


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode("utf-8")


class Comfy:
    """One ComfyUI that can be restarted: a new process, an empty cache, the same port and folders."""

    def __init__(self, root: Path, sim: Simulator, env: dict | None = None):
        self.root, self.sim, self.env = root, sim, dict(env or {})
        self.user, self.output, self.inputs = root / "user", root / "output", root / "input"
        self.log = root / "comfyui.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("APIKLEY_API_KEY", "APIKLEY_STATE_DIR", "APIKLEY_OUTPUT_DIR")}
        env["APIKLEY_BASE_URL"] = self.sim.base_url
        env.update(self.env)
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
                get(self.url + "api/apikley_wan/prices")
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


@contextlib.contextmanager
def comfy_running(root: Path, env: dict | None = None, key_saved: bool = False, **sim_options):
    """A fresh ComfyUI over a fresh simulator (``sim_options`` go to Simulator); ``key_saved``
    puts the simulator's key in the pack's key file, as if saved through Settings."""
    user, output, inputs, nodes = (root / name for name in ("user", "output", "input", "custom_nodes"))
    for folder in (user / "default", output, inputs, nodes):
        folder.mkdir(parents=True, exist_ok=True)
    (nodes / PACK_FOLDER).symlink_to(REPO, target_is_directory=True)
    (root / "extra.yaml").write_text(f"apikley:\n  custom_nodes: {nodes}\n")
    (user / "default" / "comfy.settings.json").write_text('{"Comfy.TutorialCompleted": true}')  # no template dialog
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
    full_env = {**os.environ, "COMFY_URL": comfy.url, "SHOTS_DIR": str(SCREENS), "WRONG_KEY": WRONG_KEY,
                "RIGHT_KEY": RIGHT_KEY, "CLIP_NAME": "reference.mp4", "PHASE": phase,
                "WORKFLOW_FILE": str(comfy.root / "workflow.json"), **{k: str(v) for k, v in env.items()}}
    run = subprocess.run(["node", script], cwd=BROWSER_DIR, env=full_env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert "error" not in seen, f"{phase}: {seen['error']}\n{comfy.log.read_text()[-3000:]}"
    assert not [e for e in seen.get("pageErrors", []) if PACK_FOLDER in e], seen["pageErrors"]
    return seen
