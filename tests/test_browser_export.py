"""Opt-in: a workflow shared from the real frontend carries nothing of the sender's, and names the pack.

After a paid run (the node shows its summary and video) and with the paid task's id typed into Task
From Id, the graph is exported through the frontend's Export command and saved through its Save
command; both files are scanned: no key, no absolute path, no task id outside Task From Id's widget,
no journal detail (fingerprint, result URL or file, summary). Each of the pack's nodes carries the ids
ComfyUI-Manager installs by (cnr_id: pyproject's [project] name; aux_id: its repository). Then
ComfyUI restarts without the pack and opens the exported file: the missing-node panel names the pack
(1.49 and later; 1.27 without ComfyUI-Manager lists only the missing node types).
tests/browser/export.mjs drives the page. Skipped unless the browser host is available
(see tests/browser_host.py).
"""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from apikley_wan.record.sqlite import Journal
from browser_host import MISSING, PACK_FOLDER, REPO, RIGHT_KEY, comfy_running, drive

pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CNR_ID = PYPROJECT["project"]["name"]
AUX_ID = PYPROJECT["project"]["urls"]["Repository"].removeprefix("https://github.com/")
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:tmp|home|root|work|Users|var|private|mnt|srv|opt)/|[A-Za-z]:\\\\")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("comfy_export")
    export = root / "exported.json"
    with comfy_running(root, key_saved=True, task_seconds=2) as comfy:
        seen = drive(comfy, "export.mjs", "export", EXPORT_FILE=export)
        saved = sorted((comfy.user / "default" / "workflows").glob("*.json"))
        entries = Journal(comfy.user / "apikley_wan" / "journal.sqlite").recent(50)
        comfy.stop()
        (root / "custom_nodes" / PACK_FOLDER).unlink()  # the receiver has no pack
        comfy.start()
        missing = drive(comfy, "export.mjs", "missing", EXPORT_FILE=export, PACK_ABSENT=1)
        yield {"seen": seen, "files": {"exported": export.read_text(), **{p.name: p.read_text() for p in saved}},
               "entries": entries, "root": root, "missing": missing}


def _strings(value, where=()):
    """Every string in a JSON value, with the keys/indexes that lead to it."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, where + ("<key>",))
            yield from _strings(item, where + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, where + (index,))
    elif isinstance(value, str):
        yield where, value


def test_both_files_were_written_by_the_frontend(shared):
    assert shared["seen"]["exportName"].endswith(".json")
    assert len(shared["files"]) == 2, list(shared["files"])  # the export and the saved workflow
    for text in shared["files"].values():
        assert {n["type"] for n in json.loads(text)["nodes"]} >= {"ApikleyWan26V2V", "ApikleyTaskFromId", "SaveVideo"}


def test_a_shared_workflow_carries_no_key_path_task_id_or_journal_detail(shared):
    (paid,) = [e for e in shared["entries"] if e.state == "success"]
    task_id, from_id = shared["seen"]["taskId"], str(shared["seen"]["ids"]["fromId"])
    assert paid.task_id == task_id
    details = [paid.fingerprint, paid.result_url, paid.result_path, paid.result_path.rsplit("/", 1)[1],
               str(shared["root"]), "journal.sqlite", "apikley_summary", "Paid now", "credits ("]
    for name, text in shared["files"].items():
        assert RIGHT_KEY not in text, name
        workflow = json.loads(text)
        for where, value in _strings(workflow):
            assert not ABSOLUTE_PATH.search(value), (name, where, value)
            for detail in details:
                assert detail not in value, (name, where, detail)
            if task_id in value:
                node = workflow["nodes"][where[1]] if where[:1] == ("nodes",) else {}
                assert str(node.get("id")) == from_id and where[2] in ("widgets_values", "widgets_values_named"), (name, where)
                assert value == task_id


def test_every_pack_node_names_the_pack_manager_installs(shared):
    for name, text in shared["files"].items():
        pack_nodes = [n for n in json.loads(text)["nodes"] if n["type"].startswith("Apikley")]
        assert len(pack_nodes) == 2, name
        for node in pack_nodes:
            assert node["properties"]["cnr_id"] == CNR_ID and node["properties"]["aux_id"] == AUX_ID, node


def test_without_the_pack_the_missing_node_dialog_names_it(shared):
    text, frontend = shared["missing"]["missingDialog"], shared["missing"]["frontend"]
    assert "Missing" in text, text
    if tuple(int(part) for part in frontend.split(".")[:2]) < (1, 49):
        # 1.27 without ComfyUI-Manager lists the node types only (Manager's own dialog reads the ids)
        assert "ApikleyWan26V2V" in text and "ApikleyTaskFromId" in text, text
    else:
        assert CNR_ID in text or AUX_ID in text, text  # 1.49/1.58: "apikley-wan26-v2v 2" under Missing Node Packs
