"""The layout's promises: the simulator imports alone, and a journal written before the core was regrouped
into folders opens unchanged (tests/fixtures/journal-main.sqlite was written by main's code at 6f7f74f)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from apikley_wan.record import entry as jr
from apikley_wan.record.sqlite import Journal

REPO = Path(__file__).resolve().parents[1]
# what the simulator truly needs of the core: the model's settings, the one price table, the loopback rule
# and its own label (api/simulated.py), and the typed errors those raise
SIMULATOR_NEEDS = {"apikley_wan", "apikley_wan.errors", "apikley_wan.settings", "apikley_wan.settings.settings",
                   "apikley_wan.money", "apikley_wan.money.pricing", "apikley_wan.api", "apikley_wan.api.hosts",
                   "apikley_wan.api.simulated"}


def test_the_simulator_imports_alone_with_only_the_settings_prices_and_label_it_needs():
    code = ("import json, sys; import apikley_wan.simulator; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('apikley_wan'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert "apikley_wan.simulator" in loaded
    core = {m for m in loaded if not m.startswith("apikley_wan.simulator")}
    assert core <= SIMULATOR_NEEDS, core - SIMULATOR_NEEDS
    assert not any(m.startswith(("apikley_wan.record", "apikley_wan.run", "apikley_wan.api.client")) for m in loaded)


def test_a_journal_written_by_the_flat_core_opens_with_every_row_and_verdict(tmp_path):
    path = tmp_path / "journal.sqlite"
    shutil.copy(REPO / "tests" / "fixtures" / "journal-main.sqlite", path)
    journal = Journal(path)
    rows = {e.fingerprint: e for e in journal.recent()}
    assert set(rows) == {"fp-done", "fp-wait", "fp-lost", "task:typed-in-3"}
    done = rows["fp-done"]
    assert (done.state, done.task_id, done.result_path, done.cost_credits, done.cost_kind) == (
        "success", "task-done-1", "/results/task-done-1.mp4", 70.0, "reported")
    assert done.params == {"api": "https://api.apikley.ru", "prompt": "a cat"}
    assert journal.verdict(done, result_on_disk=True).decision is jr.Decision.REUSE
    assert journal.verdict(rows["fp-wait"]).decision is jr.Decision.ATTACH
    assert journal.verdict(rows["fp-lost"]).decision is jr.Decision.UNCERTAIN
    assert journal.by_task_id("typed-in-3").state == "waiting"
    # same inputs never pay again; new inputs get a new row after the old ones
    assert journal.claim("fp-done", {})[1] is False
    fresh, is_new = journal.claim("fp-new", {"api": "https://api.apikley.ru"})
    assert is_new and fresh.id > max(e.id for e in rows.values())
    with journal._session() as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == jr.SCHEMA_VERSION


def _widgets(node_class) -> list:
    """The inputs ComfyUI shows as widgets (saved in a workflow's ``widgets_values``), in order."""
    found = []
    for section in ("required", "optional"):
        for name, spec in node_class.INPUT_TYPES().get(section, {}).items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            if (isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN")) and not options.get("forceInput"):
                found.append(name)
    return found


def test_the_example_workflows_open_with_todays_node_ids_inputs_and_outputs():
    from conftest import load_pack
    mappings = load_pack().NODE_CLASS_MAPPINGS
    workflows = sorted((REPO / "example_workflows").glob("*.json"))
    assert workflows
    for path in workflows:
        for node in json.loads(path.read_text(encoding="utf-8"))["nodes"]:
            if not node["type"].startswith("Apikley"):
                continue
            cls = mappings[node["type"]]
            declared = {name for section in cls.INPUT_TYPES().values() for name in section}
            assert {i["name"] for i in node.get("inputs", [])} <= declared, (path.name, node["type"])
            # saved links name output slots by index: the saved outputs are today's first ones (new ones only appended)
            saved = [(o["name"], o["type"]) for o in node.get("outputs", [])]
            assert saved == list(zip(cls.RETURN_NAMES, cls.RETURN_TYPES))[:len(saved)], (path.name, node["type"])
            assert len(node.get("widgets_values", [])) == len(_widgets(cls)), (path.name, node["type"])
