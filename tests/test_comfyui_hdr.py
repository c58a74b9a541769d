"""Opt-in: an HDR reference inside a real ComfyUI (0.3.64 or 0.33.0) against the simulator.

Skipped unless COMFYUI_DIR points at a ComfyUI checkout (COMFYUI_PYTHON: the Python that runs it).
Load Video of a 10-bit HLG clip: the Wan node uploads SDR BT.709 8-bit, and Video to Frames hands
core's Create Video / Save Video (0.33) the clip's bit depth and colour space.
"""

from __future__ import annotations

import av
import pytest

import comfy_host
from apikley_wan.media.clips import write_clip
from apikley_wan.media.color import BT709, ColorTags, tags_of
from apikley_wan.simulator import Simulator

pytestmark = [pytest.mark.comfyui,
              pytest.mark.skipif(not comfy_host.available(), reason="set COMFYUI_DIR to a ComfyUI checkout")]

HLG = ColorTags(9, 18, 9, 1)


@pytest.fixture(scope="module")
def sim():
    with Simulator(api_key="sim-key", task_seconds=1.0, null_seconds=0.2) as running:
        yield running


@pytest.fixture(scope="module")
def host(sim, tmp_path_factory):
    with comfy_host.running(tmp_path_factory.mktemp("comfy"), comfy_host.sim_env(sim)) as running:
        write_clip(running.root / "input" / "hlg.mp4", seconds=2, width=320, height=180, pix_fmt="yuv420p10le",
                   color=HLG)
        yield running


def _tags(path) -> tuple:
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.pix_fmt, tags_of(context)


def _ran(host, prompt) -> dict:
    entry = host.wait(host.queue(prompt), 240)
    assert entry["status"]["status_str"] == "success", entry["status"]
    return entry


def test_an_hlg_reference_is_uploaded_as_sdr_bt709(host, sim):
    _ran(host, {"1": {"class_type": "LoadVideo", "inputs": {"file": "hlg.mp4"}},
                "2": {"class_type": "ApikleyWan26V2V", "inputs": {"prompt": "character1 waves", "duration": "5",
                                                                   "resolution": "720p", "video": ["1", 0]}}})
    uploads = sorted(sim.uploads.files.rglob("*.mp4"))
    assert uploads and _tags(uploads[-1]) == ("yuv420p", BT709)
    print(f"HLG 10-bit Load Video -> upload {uploads[-1].name}: yuv420p, tags {BT709}")


def test_video_to_frames_gives_core_video_nodes_the_bit_depth_and_color_space(host):
    frames = host.get("/object_info/ApikleyVideoFrames")["ApikleyVideoFrames"]
    assert frames["output"][:3] == ["IMAGE", "AUDIO", "FLOAT"] and frames["output"][3:] == ["INT", "COMBO"]
    core = host.get("/object_info/GetVideoComponents")["GetVideoComponents"]["output"]
    create = {"images": ["2", 0], "fps": ["2", 2], "audio": ["2", 1]}
    save = {"format": "auto", "codec": "auto"}
    if len(core) == 5:  # 0.33: Create Video takes a bit depth, Save Video (re-encoding) a colour space
        assert core == frames["output"]
        create["bit_depth"] = ["2", 3]
        save = {"format": "mp4", "format.codec": "h264", "format.codec.encoding": "re-encode",
                "format.codec.encoding.crf": 23.0, "format.codec.encoding.color_space": ["2", 4]}
    entry = _ran(host, {"1": {"class_type": "LoadVideo", "inputs": {"file": "hlg.mp4"}},
                        "2": {"class_type": "ApikleyVideoFrames", "inputs": {"video": ["1", 0]}},
                        "3": {"class_type": "CreateVideo", "inputs": create},
                        "4": {"class_type": "SaveVideo",
                              "inputs": {"video": ["3", 0], "filename_prefix": "video/hdr", **save}}})
    item = entry["outputs"]["4"]["images"][0]
    saved = _tags(host.root / "output" / item["subfolder"] / item["filename"])
    if len(core) == 5:
        assert saved == ("yuv420p10le", HLG)  # the clip rebuilt as what it was: 10-bit HLG
    print(f"Video to Frames -> Create Video -> Save Video on a {len(core)}-output core: {saved}")
