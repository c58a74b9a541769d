"""Opt-in: the pack's templates and node names in a real ComfyUI page (headless Chromium). Every
template is opened through the frontend's own template browser: its thumbnail loads, its title is a
human one, the graph opens with no overlapping nodes (their boxes as drawn, title bars included; in
Nodes 2.0 mode, NODES_2=1, the node elements' boxes), all of it on screen at a readable zoom, and a
note explains it. Then the node search box: the all-in-one node comes first for what a user types.

Skipped unless COMFYUI_DIR and COMFYUI_PYTHON are set, /usr/bin/chromium exists and Node can load
playwright-core from tests/browser. The page is driven by tests/browser/templates.mjs; screenshots
land in tests/browser/screens/<run>/. THUMBS_DIR=example_workflows re-makes the thumbnails from the run.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request

import pytest

from browser_host import MISSING, NODES_2, PACK_FOLDER, REPO, SCREENS, comfy_running, drive, inside, overlap

TEMPLATES = sorted(p.stem for p in (REPO / "example_workflows").glob("*.json"))
ALL_IN_ONE = "ApikleyWan26V2V"
# ComfyUI 0.3.64 sends no search aliases and both frontends rank a name that starts with the query
# first, then the more used node (1.58) or the shorter name (1.27): for "Wan" the core Wan nodes come
# first and only the order of the pack's own nodes is the pack's to choose.
FIRST_FOR = ("Wan 2.6", "v2v", "apikley")
PACK_FIRST_FOR = ("Wan", "video to video")
MIN_SCALE = 0.6

pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    for old in SCREENS.glob("template*.png"):
        old.unlink()
    with comfy_running(tmp_path_factory.mktemp("comfy")) as comfy:
        answer = drive(comfy, "templates.mjs", PACK=PACK_FOLDER, TEMPLATES=json.dumps(TEMPLATES),
                       QUERIES=json.dumps(FIRST_FOR + PACK_FIRST_FOR),
                       **({"THUMBS_DIR": os.environ["THUMBS_DIR"]} if os.environ.get("THUMBS_DIR") else {}))
        answer["url"] = comfy.url
        yield answer


def test_each_template_has_a_title_and_a_thumbnail_that_loads(seen):
    cards = {card["name"]: card for card in seen["cards"]}
    assert sorted(cards) == TEMPLATES
    for name, card in cards.items():
        assert name.startswith("Wan 2.6, ") and "_" not in name, name  # the title is the file's name
        assert name in card["text"]
        assert card["thumbnail"]["width"] >= 300 and card["thumbnail"]["height"] >= 300, card
        url = seen["url"] + f"/api/workflow_templates/{PACK_FOLDER}/" + urllib.parse.quote(f"{name}.jpg")
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
            assert resp.read(3) == b"\xff\xd8\xff"
    assert (SCREENS / "templates_browser.png").is_file()


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_template_opens_readable_with_no_overlapping_nodes_and_a_note(seen, name):
    opened = seen["opened"][name]
    nodes = opened["nodes"]
    assert opened["nodes2"] is NODES_2  # the mode the run asked for
    # the boxes as drawn (title bars included; Nodes 2.0: the node elements' boxes)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            assert not overlap(a["box"], b["box"]), (a["type"], a["rect"], b["type"], b["rect"])
    assert opened["scale"] >= MIN_SCALE, opened["scale"]
    for node in nodes:
        assert inside(node["box"], opened["canvas"], slack=0), (node["type"], node["box"])
    (note,) = [n for n in nodes if n["type"] == "MarkdownNote"]
    for words in ("**What it does:**", "**Cost:**", "`take`", "output/apikley_wan/"):
        assert words in note["text"], words
    saved = json.loads((REPO / "example_workflows" / f"{name}.json").read_text())
    assert saved["extra"]["ds"]["scale"] >= MIN_SCALE
    assert (SCREENS / f"template_{TEMPLATES.index(name) + 1}.png").is_file()


@pytest.mark.parametrize("query", FIRST_FOR + PACK_FIRST_FOR)
def test_the_search_box_puts_the_all_in_one_first(seen, query):
    found = seen["search"][query]
    pack = [text for text in found["listed"] if PACK_FOLDER.removeprefix("ComfyUI-") in text]
    assert pack and pack[0].startswith("Wan 2.6 Video to Video (apikley)"), found["listed"]
    if query in FIRST_FOR:
        assert found["listed"][0].startswith("Wan 2.6 Video to Video (apikley)"), found["listed"][:3]
        assert found["added"]["type"] == ALL_IN_ONE, found["added"]


def test_poll_and_fetch_titles_fit_their_default_width(seen):
    for node in seen["titles"].values():
        assert node["textWidth"] + 40 <= node["width"], node  # 40: the title's dot and margins
