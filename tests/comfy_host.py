"""A real ComfyUI process with the pack, for the opt-in host tests (set COMFYUI_DIR, COMFYUI_PYTHON).

It runs with its own user, input and output folders and an in-memory database, loads the pack
through an extra custom_nodes folder holding a symlink to this checkout, and talks HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
COMFYUI_PYTHON = os.environ.get("COMFYUI_PYTHON", "python3")
PACK_DIR_NAME = "ComfyUI-Apikley-Wan26"
_WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def available() -> bool:
    return bool(COMFYUI_DIR) and (Path(COMFYUI_DIR) / "main.py").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyHost:
    def __init__(self, root: Path, env: dict, args: tuple = ()):
        self.root, self.args = root, tuple(args)  # args: more of ComfyUI's options (e.g. --front-end-root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for name in ("custom_nodes", "user", "input", "output"):
            (root / name).mkdir(parents=True, exist_ok=True)
        link = root / "custom_nodes" / PACK_DIR_NAME
        if not link.exists():
            link.symlink_to(REPO, target_is_directory=True)
        (root / "extra.yaml").write_text(f"pack:\n  custom_nodes: {root / 'custom_nodes'}\n")
        self.env = {**os.environ, **env}
        self.proc = None
        self.log = root / "comfyui.log"

    def start(self, timeout: float = 180.0) -> None:
        cmd = [COMFYUI_PYTHON, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--user-directory", str(self.root / "user"), "--input-directory", str(self.root / "input"),
               "--output-directory", str(self.root / "output"), "--database-url", "sqlite:///:memory:",
               "--extra-model-paths-config", str(self.root / "extra.yaml"), *self.args]
        self.proc = subprocess.Popen(cmd, cwd=COMFYUI_DIR, env=self.env, stdout=self.log.open("ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited; see {self.log}")
            try:
                self.get("/system_stats")
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"ComfyUI did not start; see {self.log}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    # -- HTTP ----------------------------------------------------------------------------
    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def post(self, path: str, body: dict):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def queue(self, prompt: dict) -> str:
        return self.post("/prompt", {"prompt": prompt, "client_id": "apikley-tests"})["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 180.0) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                entry = history[prompt_id]
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            time.sleep(0.1)
        raise TimeoutError(f"prompt {prompt_id} did not finish; see {self.log}")


def sim_env(sim, **extra) -> dict:
    """A ComfyUI whose pack talks to ``sim``; APIKLEY_STATE_DIR is blanked so the pack's state lands in
    that ComfyUI's own user folder."""
    return {"APIKLEY_BASE_URL": sim.base_url, "APIKLEY_API_KEY": "sim-key", "APIKLEY_STATE_DIR": "", **extra}


@contextlib.contextmanager
def running(root: Path, env: dict):
    """A started ComfyHost, stopped afterwards whatever happened."""
    host = ComfyHost(root, env)
    host.start()
    try:
        yield host
    finally:
        host.stop()


FRONTEND_ONLY = ("Note", "MarkdownNote")  # drawn by the page, never sent to the server


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Turn a UI-format workflow into an API prompt, mapping widget values the way the frontend does."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) != 0 or node["type"] in FRONTEND_ONLY:
            continue
        info = object_info[node["type"]]
        linked = {i["name"]: links[i["link"]] for i in node.get("inputs", []) if i.get("link") is not None}
        values = list(node.get("widgets_values") or [])
        inputs = {}
        for group in ("required", "optional"):
            for name, spec in info["input"].get(group, {}).items():
                options = spec[1] if len(spec) > 1 else {}
                if isinstance(spec[0], list) or spec[0] in _WIDGET_TYPES:
                    value = values.pop(0) if values else None
                    if options.get("control_after_generate") or options.get("video_upload") \
                            or options.get("image_upload"):
                        values.pop(0) if values else None
                    if name not in linked and value is not None:
                        inputs[name] = value
                if name in linked:
                    inputs[name] = [str(linked[name][1]), linked[name][2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
