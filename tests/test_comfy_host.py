"""The opt-in host tests' ui_to_api (tests/comfy_host.py) maps a saved workflow the way the frontend does,
from the host's /object_info, and refuses what it cannot map instead of dropping it.

The specs below are the shape ComfyUI 0.33.0's /object_info gives (Save Video's `format` is a
COMFY_DYNAMICCOMBO_V3 whose options bring their own inputs) and 0.3.64's (plain combos).
"""

from __future__ import annotations

import pytest

from comfy_host import UnmappableWorkflow, ui_to_api


def _codec(optional=False):
    """0.33's codec choice: h264 brings an optional 'encoding' choice, whose re-encode brings crf and colour space."""
    re_encode = {"key": "re-encode", "inputs": {"required": {
        "crf": ["FLOAT", {"default": 23.0, "min": 0.0, "max": 51.0}],
        "color_space": ["COMBO", {"default": "auto", "options": ["auto", "sRGB", "HDR"]}]}}}
    encoding = ["COMFY_DYNAMICCOMBO_V3", {"options": [{"key": "auto", "inputs": {"required": {}}}, re_encode]}]
    spec = ["COMFY_DYNAMICCOMBO_V3", {"options": [
        {"key": "auto", "inputs": {"required": {}}},
        {"key": "h264", "inputs": {"required": {}, "optional": {"encoding": encoding}}}]}]
    if optional:
        spec[1]["hidden"] = True
    return spec


SAVE_VIDEO_033 = {"input": {
    "required": {"video": ["VIDEO", {}], "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
                 "format": ["COMFY_DYNAMICCOMBO_V3", {"options": [
                     {"key": "auto", "inputs": {"required": {"codec": _codec()}}},
                     {"key": "mp4", "inputs": {"required": {"codec": _codec()}}}]}]},
    "optional": {"codec": _codec(optional=True)}}}
SAVE_VIDEO_064 = {"input": {"required": {
    "video": ["VIDEO", {}], "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
    "format": ["COMBO", {"default": "auto", "options": ["auto", "mp4"]}],
    "codec": ["COMBO", {"default": "auto", "options": ["auto", "h264"]}]}}}
LOAD_VIDEO = {"input": {"required": {"file": ["COMBO", {"options": ["clip.mp4"], "video_upload": True}]}}}


def _workflow(save_values, save_inputs=None, load_values=("clip.mp4", "image")):
    return {"links": [[1, 1, 0, 2, 0, "VIDEO"]],
            "nodes": [{"id": 1, "type": "LoadVideo", "widgets_values": list(load_values), "inputs": []},
                      {"id": 2, "type": "SaveVideo", "widgets_values": list(save_values),
                       "inputs": save_inputs or [{"name": "video", "type": "VIDEO", "link": 1}]},
                      {"id": 3, "type": "MarkdownNote", "widgets_values": ["a note"]}]}


def _save_inputs(info, values, **workflow):
    prompt = ui_to_api(_workflow(values, **workflow), {"LoadVideo": LOAD_VIDEO, "SaveVideo": info})
    assert prompt["1"]["inputs"] == {"file": "clip.mp4"} and "3" not in prompt
    return prompt["2"]["inputs"]


def test_a_template_saved_on_0_3_64_sends_format_and_its_nested_codec_on_0_33():
    # the templates were saved by frontend 1.27 (format and codec were plain combos): on 0.33 the second
    # value is the codec of the chosen format, and the hidden legacy codec takes its default
    assert _save_inputs(SAVE_VIDEO_033, ["video/wan", "auto", "auto"]) == {
        "filename_prefix": "video/wan", "format": "auto", "format.codec": "auto", "codec": "auto",
        "video": ["1", 0]}
    assert _save_inputs(SAVE_VIDEO_064, ["video/wan", "auto", "auto"]) == {
        "filename_prefix": "video/wan", "format": "auto", "codec": "auto", "video": ["1", 0]}


def test_a_chosen_option_brings_its_inputs_in_order_as_dotted_keys():
    saved = ["video/wan", "mp4", "h264", "re-encode", 18.0, "sRGB", "auto"]
    assert _save_inputs(SAVE_VIDEO_033, saved) == {
        "filename_prefix": "video/wan", "format": "mp4", "format.codec": "h264",
        "format.codec.encoding": "re-encode", "format.codec.encoding.crf": 18.0,
        "format.codec.encoding.color_space": "sRGB", "codec": "auto", "video": ["1", 0]}


@pytest.mark.parametrize("values, says", [
    (["video/wan", "auto", "auto", "auto", "extra"], "1 saved widget value(s) left over: ['extra']"),
    (["video/wan", "webm"], "format='webm' is none of the choices ['auto', 'mp4']"),
])
def test_values_it_cannot_place_are_an_error(values, says):
    with pytest.raises(UnmappableWorkflow, match=r"node 2 \(SaveVideo\): ") as caught:
        _save_inputs(SAVE_VIDEO_033, values)
    assert says in str(caught.value)


def test_a_widget_kind_it_does_not_know_is_an_error_not_a_drop():
    info = {"input": {"required": {"video": ["VIDEO", {}], "tint": ["COLOR", {"socketless": True}]}}}
    with pytest.raises(UnmappableWorkflow, match="input 'tint' is a COLOR widget, which ui_to_api cannot map"):
        _save_inputs(info, ["#ff0000"])


def test_a_link_into_an_input_the_host_does_not_have_is_an_error():
    inputs = [{"name": "video", "type": "VIDEO", "link": 1}, {"name": "format.codec.crf", "link": 1}]
    with pytest.raises(UnmappableWorkflow, match="linked input 'format.codec.crf' is not an input of it"):
        _save_inputs(SAVE_VIDEO_033, ["video/wan", "auto", "auto"], save_inputs=inputs)


def test_a_node_the_host_does_not_have_is_an_error():
    with pytest.raises(UnmappableWorkflow, match=r"node 2 \(SaveVideo\): this ComfyUI has no such node"):
        ui_to_api(_workflow(["video/wan"]), {"LoadVideo": LOAD_VIDEO})


def test_a_bypassed_node_is_an_error_not_a_drop():
    workflow = _workflow(["video/wan", "auto", "auto"])
    workflow["nodes"][0]["mode"] = 4
    with pytest.raises(UnmappableWorkflow, match=r"node 1 \(LoadVideo\): bypassed"):
        ui_to_api(workflow, {"LoadVideo": LOAD_VIDEO, "SaveVideo": SAVE_VIDEO_033})
