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
VALUE_WIDGETS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}  # the frontend's built-in value widgets
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"  # a choice whose option brings its own inputs, sent as "name.sub" keys
BYPASSED = 4  # a node's mode when its inputs are passed straight through to its outputs
SECOND_WIDGET = ("control_after_generate", "image_upload", "video_upload", "audio_upload", "file_upload")


class UnmappableWorkflow(ValueError):
    """The workflow holds something ui_to_api cannot turn into the prompt the frontend would send."""


def _ordered(inputs: dict) -> list:
    """(name, spec) of an input group, required first, as the frontend adds them."""
    return [*inputs.get("required", {}).items(), *inputs.get("optional", {}).items()]


def _widget_kind(where: str, name: str, spec: list) -> str | None:
    """The widget the frontend draws for an input (None: a socket only), from its /object_info spec."""
    options = spec[1] if len(spec) > 1 else {}
    if options.get("forceInput"):
        return None
    kind = options.get("widgetType") or ("COMBO" if isinstance(spec[0], list) else spec[0])
    if kind in VALUE_WIDGETS or kind == DYNAMIC_COMBO:
        return kind
    if options.get("socketless") or options.get("widgetType"):
        raise UnmappableWorkflow(f"{where}: input {name!r} is a {kind} widget, which ui_to_api cannot map")
    return None


def _default(where: str, name: str, spec: list):
    """The value a widget takes when the saved workflow has none for it (saved before the input existed)."""
    options = spec[1] if len(spec) > 1 else {}
    if "default" in options:
        return options["default"]
    choices = spec[0] if isinstance(spec[0], list) else options.get("options") or []
    if choices:
        return choices[0]["key"] if isinstance(choices[0], dict) else choices[0]
    raise UnmappableWorkflow(f"{where}: no saved value and no default for widget {name!r}")


def _take_widgets(where: str, specs: list, values: list, prefix: str, inputs: dict, known: set) -> None:
    """Give each widget input of ``specs`` the next saved value, in the frontend's order: an input's
    widget, then (for a DynamicCombo) the inputs of the chosen option as "name.sub", then the next input."""
    for name, spec in specs:
        key = prefix + name
        known.add(key)
        kind = _widget_kind(where, key, spec)
        if kind is None:
            continue
        value = values.pop(0) if values else _default(where, key, spec)
        options = spec[1] if len(spec) > 1 else {}
        if any(options.get(flag) for flag in SECOND_WIDGET) and values:
            values.pop(0)  # the control/upload widget's own value, never sent
        inputs[key] = value
        if kind == DYNAMIC_COMBO:
            chosen = next((o for o in options["options"] if o["key"] == value), None)
            if chosen is None:
                keys = [o["key"] for o in options["options"]]
                raise UnmappableWorkflow(f"{where}: {key}={value!r} is none of the choices {keys}")
            _take_widgets(where, _ordered(chosen["inputs"]), values, key + ".", inputs, known)


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Turn a UI-format workflow into the API prompt the frontend would send, reading which inputs are
    widgets from the host's /object_info; anything it cannot map raises UnmappableWorkflow."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        where = f"node {node['id']} ({node['type']})"
        if node.get("mode", 0) == BYPASSED:
            raise UnmappableWorkflow(f"{where}: bypassed (mode 4); ui_to_api does not reroute links around it")
        if node.get("mode", 0) != 0 or node["type"] in FRONTEND_ONLY:
            continue  # muted: the frontend leaves it out too
        if node["type"] not in object_info:
            raise UnmappableWorkflow(f"{where}: this ComfyUI has no such node")
        values = node.get("widgets_values") or []
        if not isinstance(values, list):
            raise UnmappableWorkflow(f"{where}: widgets_values is not a list")
        values, inputs, known = list(values), {}, set()
        _take_widgets(where, _ordered(object_info[node["type"]]["input"]), values, "", inputs, known)
        if values:
            raise UnmappableWorkflow(f"{where}: {len(values)} saved widget value(s) left over: {values!r}")
        for slot in node.get("inputs", []):
            if slot.get("link") is None:
                continue
            if slot["name"] not in known:
                raise UnmappableWorkflow(f"{where}: linked input {slot['name']!r} is not an input of it here")
            link = links[slot["link"]]
            inputs[slot["name"]] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
