"""The ``apikley.task`` event: its payload (the report's fields, the node, the previewed file and
nothing else) and a sender that never breaks a run, with or without ComfyUI."""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType, SimpleNamespace

import pytest

from conftest import load_pack

PREVIEW = {"images": [{"filename": "wan26_v2v_abc.mp4", "subfolder": "apikley_wan", "type": "output",
                       "extra": "not forwarded"}], "animated": [True]}


@pytest.fixture(scope="module")
def pack():
    module = load_pack()
    return SimpleNamespace(report=importlib.import_module(f"{module.__name__}.nodes.report"),
                           core=importlib.import_module(f"{module.__name__}.apikley_wan.money.report"))


def _report(core, **changes):
    fields = dict(task_id="17e4a0c9b2d84f51a6e3c0d7b9f21e55", state="success", outcome=core.PAID, charged=True,
                  cost_credits=70.0, cost_usd=0.35, cost_kind=core.ESTIMATE, elapsed_s=161.2,
                  result_path="/out/apikley_wan/wan26_v2v_abc.mp4", task_created_at=1000.0, finished_at=1161.0,
                  api="simulator")
    fields.update(changes)
    return core.RunReport(**fields)


def test_payload_is_the_node_the_report_and_the_previewed_file(pack):
    report = _report(pack.core)
    payload = pack.report.payload_for(report, 12, PREVIEW)
    assert payload == {"node": "12", "display_node": "12", **report.as_dict(),
                       "result": {"filename": "wan26_v2v_abc.mp4", "subfolder": "apikley_wan", "type": "output"}}
    # nothing but the report's fields, the node and the file: no key, no settings, no params
    assert set(payload) == {"node", "display_node", "result", *report.as_dict()}


@pytest.mark.parametrize("preview", [{}, None, {"images": []}, {"images": ["not a dict"]}])
def test_no_previewed_file_is_a_null_result(pack, preview):
    payload = pack.report.payload_for(_report(pack.core, outcome=pack.core.REUSED, charged=False), "7", preview)
    assert payload["result"] is None and payload["outcome"] == "reused" and payload["charged"] is False


def test_unknown_cost_and_pending_state_pass_through(pack):
    report = _report(pack.core, state="waiting", cost_credits=None, cost_usd=None, cost_kind=pack.core.UNKNOWN,
                     result_path=None, finished_at=None)
    payload = pack.report.payload_for(report, "3", {})
    assert (payload["state"], payload["cost_credits"], payload["cost_kind"], payload["finished_at"]) == \
        ("waiting", None, "unknown", None)


def _fake_server(monkeypatch, send_sync):
    server = ModuleType("server")
    server.PromptServer = SimpleNamespace(instance=SimpleNamespace(send_sync=send_sync))
    monkeypatch.setitem(sys.modules, "server", server)


def test_send_report_is_silent_without_comfyui(pack, monkeypatch):
    monkeypatch.setitem(sys.modules, "server", None)  # `import server` raises ImportError
    assert pack.report.send_report(_report(pack.core), "12", PREVIEW) is None


def test_send_report_sends_the_payload(pack, monkeypatch):
    sent = []
    _fake_server(monkeypatch, lambda event, data, sid=None: sent.append((event, data)))
    report = _report(pack.core)
    pack.report.send_report(report, 12, PREVIEW)
    assert sent == [("apikley.task", pack.report.payload_for(report, 12, PREVIEW))]


def test_send_report_skips_a_run_without_a_node(pack, monkeypatch):
    sent = []
    _fake_server(monkeypatch, lambda event, data, sid=None: sent.append(event))
    pack.report.send_report(_report(pack.core), None, PREVIEW)
    assert sent == []


def test_send_report_never_raises(pack, monkeypatch, caplog):
    def broken(event, data, sid=None):
        raise ConnectionResetError("socket closed")

    _fake_server(monkeypatch, broken)
    with caplog.at_level(logging.DEBUG, logger="apikley_wan"):
        pack.report.send_report(_report(pack.core), "12", PREVIEW)
        pack.report.send_report(object(), "12", PREVIEW)  # not even a report
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG]
    # no server instance yet (ComfyUI still starting)
    monkeypatch.setitem(sys.modules, "server", ModuleType("server"))
    pack.report.send_report(_report(pack.core), "12", PREVIEW)


def test_a_cancel_is_sent_as_data(pack, monkeypatch):
    sent = []
    _fake_server(monkeypatch, lambda event, data, sid=None: sent.append((event, data)))
    pack.report.send_cancelled(7, "task_abc")
    pack.report.send_cancelled("8", None)
    pack.report.send_cancelled(None, "task_abc")  # no node: nobody to tell
    assert sent == [("apikley.cancelled", {"node": "7", "display_node": "7", "task_id": "task_abc",
                                           "task_exists": True}),
                    ("apikley.cancelled", {"node": "8", "display_node": "8", "task_id": None,
                                           "task_exists": False})]
