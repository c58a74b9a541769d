"""Shared fixtures: the pack loaded by path the way ComfyUI loads it, a simulator, a state folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "apikley_wan_pack_under_test"


def load_pack():
    """Import the repository's ``__init__.py`` as a package by file path, as ComfyUI's loader does."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(PACK_NAME, REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """A private state folder (journal, key file) and no key from the developer's environment."""
    folder = tmp_path / "state"
    monkeypatch.setenv("APIKLEY_STATE_DIR", str(folder))
    monkeypatch.delenv("APIKLEY_API_KEY", raising=False)
    monkeypatch.delenv("APIKLEY_BASE_URL", raising=False)
    monkeypatch.delenv("APIKLEY_CALLBACK_URL", raising=False)
    return folder


@pytest.fixture
def sim():
    from apikley_wan.simulator import Simulator
    with Simulator(api_key="sim-key", task_seconds=1.5, null_seconds=0.5) as running:
        yield running


@pytest.fixture(scope="session")
def reference_clip() -> Path:
    path = REPO / "samples" / "reference.mp4"
    assert path.is_file(), "the shipped sample clip is missing"
    return path
