"""Load Videos from Folder, loaded the way ComfyUI loads the pack, without ComfyUI (the pack's stand-ins)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import load_pack

NODE_ID = "ApikleyLoadVideosFromFolder"


@pytest.fixture
def pack():
    return load_pack()


@pytest.fixture
def node(pack):
    return pack.NODE_CLASS_MAPPINGS[NODE_ID]


@pytest.fixture
def errors(pack):
    return __import__(f"{pack.__name__}.apikley_wan.errors", fromlist=["x"])


def _touch(folder: Path, name: str, data: bytes = b"x", mtime: float = 0) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime:
        os.utime(path, (mtime, mtime))
    return path


def _load(node, folder, pattern="*.mp4", limit=0, sort="name"):
    videos, names = node().load(str(folder), pattern, limit, sort)
    assert len(videos) == len(names)
    return [Path(v.get_stream_source()).name for v in videos], names


def test_declaration(pack, node):
    assert pack.NODE_DISPLAY_NAME_MAPPINGS[NODE_ID] == "Load Videos from Folder (apikley)"
    spec = node.INPUT_TYPES()["required"]
    assert list(spec) == ["folder", "pattern", "limit", "sort"]
    assert spec["folder"][1]["default"] == "." and spec["pattern"][1]["default"] == "*.mp4"
    assert spec["limit"][1]["default"] == 0 and spec["sort"][0][0] == "name"
    assert all(s[1]["tooltip"] for s in spec.values())
    assert (node.RETURN_TYPES, node.RETURN_NAMES) == (("VIDEO", "STRING"), ("videos", "names"))
    assert node.OUTPUT_IS_LIST == (True, True) and len(node.OUTPUT_TOOLTIPS) == 2
    assert node.CATEGORY == "video/Wan 2.6 (apikley)" and node.DESCRIPTION
    assert not getattr(node, "OUTPUT_NODE", False) and not getattr(node, "INPUT_IS_LIST", False)


def test_lists_the_matching_files_as_videos_and_names(node, tmp_path, reference_clip):
    shutil.copyfile(reference_clip, tmp_path / "b.mp4")
    shutil.copyfile(reference_clip, tmp_path / "a.mp4")
    _touch(tmp_path, "notes.txt")
    (tmp_path / "folder.mp4").mkdir()  # a folder is not a clip, whatever its name
    videos, names = node().load(str(tmp_path), "*.mp4", 0, "name")
    assert names == ["a", "b"]
    assert [v.get_stream_source() for v in videos] == [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]
    assert videos[0].get_dimensions() == videos[1].get_dimensions()  # real VIDEOs of the files


def test_pattern_is_a_case_insensitive_glob_on_names_with_alternatives(node, tmp_path):
    for name in ("clip_1.mp4", "CLIP_2.MP4", "other.mp4", "clip_3.mov", "clip_4.webm", ".clip_5.mp4"):
        _touch(tmp_path, name)
    _touch(tmp_path, "sub/clip_6.mp4")  # subfolders are not searched
    assert _load(node, tmp_path, "clip_*.mp4")[1] == ["clip_1", "CLIP_2"]
    assert _load(node, tmp_path, "*.mp4")[1] == ["clip_1", "CLIP_2", "other"]  # no hidden file
    assert _load(node, tmp_path, "clip_*.mp4; *.mov")[1] == ["clip_1", "CLIP_2", "clip_3"]
    assert _load(node, tmp_path, ".*")[1] == [".clip_5"]  # asked for by a dotted pattern
    assert _load(node, tmp_path, "clip_?.webm")[0] == ["clip_4.webm"]


def test_limit_takes_the_first_after_sorting(node, tmp_path):
    for i in (3, 1, 2):
        _touch(tmp_path, f"c{i}.mp4")
    assert _load(node, tmp_path, limit=2)[1] == ["c1", "c2"]
    assert _load(node, tmp_path, limit=0)[1] == ["c1", "c2", "c3"]
    assert _load(node, tmp_path, limit=10)[1] == ["c1", "c2", "c3"]
    assert _load(node, tmp_path, limit=2, sort="name (descending)")[1] == ["c3", "c2"]


def test_sort_by_name_is_natural_and_newest_first_uses_modification_times(node, tmp_path):
    _touch(tmp_path, "clip10.mp4", mtime=1_700_000_300)
    _touch(tmp_path, "clip2.mp4", mtime=1_700_000_100)
    _touch(tmp_path, "Clip1.mp4", mtime=1_700_000_200)
    _touch(tmp_path, "clip1b.mp4", mtime=1_700_000_200)
    assert _load(node, tmp_path)[1] == ["Clip1", "clip1b", "clip2", "clip10"]
    assert _load(node, tmp_path, sort="name (descending)")[1] == ["clip10", "clip2", "clip1b", "Clip1"]
    assert _load(node, tmp_path, sort="newest first")[1] == ["clip10", "Clip1", "clip1b", "clip2"]
    assert _load(node, tmp_path, limit=1, sort="newest first")[1] == ["clip10"]


def test_a_missing_folder_is_refused_with_a_clear_error(node, errors, tmp_path):
    missing = tmp_path / "no such folder"
    with pytest.raises(errors.InputError, match="does not exist") as raised:
        node().load(str(missing), "*.mp4", 0, "name")
    assert str(missing) in str(raised.value) and "No credits were spent" in str(raised.value)
    _touch(tmp_path, "a.mp4")
    with pytest.raises(errors.InputError, match="is a file, not a folder"):
        node().load(str(tmp_path / "a.mp4"), "*.mp4", 0, "name")
    with pytest.raises(errors.InputError, match="empty"):
        node().load("  ", "*.mp4", 0, "name")


def test_no_match_a_subfolder_pattern_or_an_empty_pattern_is_an_error(node, errors, tmp_path):
    _touch(tmp_path, "a.mov")
    with pytest.raises(errors.InputError, match="no file in .* matches"):
        node().load(str(tmp_path), "*.mp4", 0, "name")
    with pytest.raises(errors.InputError, match="subfolder"):
        node().load(str(tmp_path), "../*.mp4", 0, "name")
    with pytest.raises(errors.InputError, match="'pattern' is empty"):
        node().load(str(tmp_path), " ; ", 0, "name")


def test_relative_folders_are_read_from_comfyuis_input_folder(node, tmp_path, monkeypatch):
    comfy_input = tmp_path / "input"
    _touch(comfy_input, "apikley_wan_sample.mp4")
    _touch(comfy_input, "batch/one.mp4")
    monkeypatch.chdir(tmp_path)  # not where relative folders are read from when ComfyUI is there
    monkeypatch.setitem(sys.modules, "folder_paths",
                        SimpleNamespace(get_input_directory=lambda: str(comfy_input)))
    assert _load(node, ".", "apikley_wan_sample*.mp4")[1] == ["apikley_wan_sample"]
    assert _load(node, "batch")[1] == ["one"]
    assert _load(node, str(comfy_input / "batch"))[1] == ["one"]  # an absolute path as it is


def test_without_comfyui_relative_folders_are_read_from_the_current_folder(node, tmp_path, monkeypatch):
    _touch(tmp_path, "clips/one.mp4")
    monkeypatch.chdir(tmp_path)
    assert _load(node, "clips")[1] == ["one"]


def test_is_changed_follows_the_folder_listing(node, tmp_path):
    _touch(tmp_path, "a.mp4", mtime=1_700_000_000)

    def fingerprint(**kw):
        return node.IS_CHANGED(**{"folder": str(tmp_path), "pattern": "*.mp4", "limit": 0, "sort": "name", **kw})
    first = fingerprint()
    assert first == fingerprint() and isinstance(first, str)
    _touch(tmp_path, "notes.txt")  # not a clip of this pattern: nothing to re-run
    assert fingerprint() == first
    _touch(tmp_path, "b.mp4", mtime=1_700_000_000)
    added = fingerprint()
    assert added != first
    _touch(tmp_path, "b.mp4", b"longer", mtime=1_700_000_000)  # rewritten: another size
    resized = fingerprint()
    assert resized != added
    os.utime(tmp_path / "b.mp4", (1_700_000_500, 1_700_000_500))  # touched: another time
    assert fingerprint() != resized
    assert fingerprint(limit=1) != fingerprint() and fingerprint(pattern="a*") == fingerprint(limit=1)
    (tmp_path / "b.mp4").unlink()
    assert fingerprint() == first


def test_is_changed_never_raises_for_a_missing_folder(node, tmp_path):
    answer = node.IS_CHANGED(str(tmp_path / "gone"), "*.mp4", 0, "name")
    assert isinstance(answer, str) and "does not exist" in answer


def test_the_example_workflow_opens_ready_and_its_nodes_do_not_overlap():
    workflow = json.loads((Path(__file__).resolve().parents[1] / "example_workflows" /
                           "Wan 2.6, every clip of a folder.json").read_text())
    types = {n["id"]: n["type"] for n in workflow["nodes"]}
    assert sorted(types.values()) == ["ApikleyLoadVideosFromFolder", "ApikleyWan26V2V", "MarkdownNote"]
    folder = next(n for n in workflow["nodes"] if n["type"] == NODE_ID)
    assert folder["widgets_values"][:2] == [".", "apikley_wan_sample*.mp4"]  # the sample the pack installs
    assert [types[link[1]] + ">" + types[link[3]] for link in workflow["links"]] == [
        "ApikleyLoadVideosFromFolder>ApikleyWan26V2V"]
    boxes = [(n["pos"][0], n["pos"][1] - 30, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in workflow["nodes"]]  # 30 px: the title bar above pos
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
