"""The node classes themselves, loaded the way ComfyUI loads the pack, called with torch tensors
against the simulator (real sockets, real files)."""

from __future__ import annotations

import asyncio
import json
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch


PROMPT = "character1 waves at the camera"


@pytest.fixture
def pack(node_pack):
    return node_pack


def _node(pack, node_id):
    return pack.NODE_CLASS_MAPPINGS[node_id]()


def _frames(n=48, h=120, w=160):
    x = torch.linspace(0, 1, w).view(1, 1, w, 1).expand(n, h, w, 3).clone()
    x[:, :, :, 1] = torch.arange(n).view(n, 1, 1).float() / n
    return x


def _video(pack, clip):
    host = __import__(f"{pack.__name__}.nodes.host", fromlist=["x"])
    return host.video_from_file(str(clip))


def _split(pack, video):
    """The Video to Frames node's first three outputs (images, audio, fps) for ``video``."""
    return asyncio.run(_node(pack, "ApikleyVideoFrames").decode(video))[:3]


def _probe(pack, path):
    return __import__(f"{pack.__name__}.apikley_wan.media", fromlist=["x"]).probe(str(path))


def _seconds(audio) -> float:
    return audio["waveform"].shape[-1] / audio["sample_rate"]


def test_mappings_ids_and_declarations(pack):
    assert set(pack.NODE_CLASS_MAPPINGS) == {"ApikleyWan26V2V", "ApikleyWan26V2VSubmit", "ApikleyTaskPoll",
                                             "ApikleyTaskFetch", "ApikleyTaskFromId", "ApikleyTaskFromFile",
                                             "ApikleyVideoFrames", "ApikleyLoadVideosFromFolder"}
    assert pack.WEB_DIRECTORY == "./web"
    allinone = pack.NODE_CLASS_MAPPINGS["ApikleyWan26V2V"]
    spec = allinone.INPUT_TYPES()
    assert set(spec["required"]) == {"prompt", "duration", "resolution"}
    assert {"video", "images", "fps", "video_url", "video_2", "video_3", "multi_shots", "take"} <= set(spec["optional"])
    assert spec["hidden"] == {"unique_id": "UNIQUE_ID"} and allinone.OUTPUT_NODE is True
    for name in ("ApikleyWan26V2V", "ApikleyTaskFetch"):  # the VIDEO only: decoding is its own node
        cls = pack.NODE_CLASS_MAPPINGS[name]
        assert (cls.RETURN_TYPES, cls.RETURN_NAMES) == (("VIDEO", "STRING"), ("video", "task_id"))
        assert len(cls.OUTPUT_TOOLTIPS) == 2 and not hasattr(cls, "IS_CHANGED")
    assert pack.NODE_CLASS_MAPPINGS["ApikleyTaskFetch"].INPUT_TYPES()["hidden"] == {"unique_id": "UNIQUE_ID"}
    frames = pack.NODE_CLASS_MAPPINGS["ApikleyVideoFrames"]
    assert frames.INPUT_TYPES()["required"]["video"][0] == "VIDEO" and frames.INPUT_TYPES()["required"]["video"][1]["tooltip"]
    # core Get Video Components' two newer outputs come after the three a saved workflow links by slot
    assert (frames.RETURN_TYPES, frames.RETURN_NAMES) == (("IMAGE", "AUDIO", "FLOAT", "INT", "COMBO"),
                                                          ("images", "audio", "fps", "bit_depth", "color_space"))
    assert len(frames.OUTPUT_TOOLTIPS) == 5
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["ApikleyVideoFrames"] == "Video to Frames (fast, low memory)"
    assert "credits" in spec["required"]["duration"][1]["tooltip"]
    for cls in pack.NODE_CLASS_MAPPINGS.values():
        assert cls.CATEGORY == "video/Wan 2.6 (apikley)" and cls.DESCRIPTION
        assert "api_key" not in json.dumps(cls.INPUT_TYPES()).lower()


def test_all_in_one_from_frames_gives_the_video_and_video_to_frames_splits_it(pack, sim, tmp_path):
    node = _node(pack, "ApikleyWan26V2V")
    audio = {"waveform": torch.zeros(1, 1, 44100 * 2), "sample_rate": 44100}
    answer = asyncio.run(node.generate(PROMPT, "5", "720p", images=_frames(), fps=16.0, audio=audio, unique_id="7"))
    video, task_id = answer["result"]
    assert answer["ui"] == {"images": [{"filename": f"wan26_v2v_{task_id}.mp4", "subfolder": "apikley_wan",
                                        "type": "output"}], "animated": [True]}
    assert video.get_dimensions() in ((1280, 720), (720, 1280))
    saved = Path(video.get_stream_source())
    assert saved.parent == tmp_path / "output" / "apikley_wan" and saved.with_suffix(".json").is_file()
    assert task_id in saved.name and sim.create_count == 1
    images, audio_out, fps = _split(pack, video)
    info = _probe(pack, saved)
    assert images.dtype == torch.float32 and images.shape[1:] in ((720, 1280, 3), (1280, 720, 3))
    assert images.shape[0] == info.frame_count and fps == info.fps and float(images.max()) <= 1.0
    assert abs(images.shape[0] / fps - 5.0) < 0.2
    assert audio_out["waveform"].dim() == 3 and abs(_seconds(audio_out) - info.duration) < 0.05


def test_the_generating_node_never_decodes(pack, sim, reference_clip, monkeypatch):
    media = __import__(f"{pack.__name__}.apikley_wan.media", fromlist=["x"])

    def refuse(*args, **kwargs):
        raise AssertionError("the result was decoded")
    monkeypatch.setattr(media, "decode_video", refuse)
    result = asyncio.run(_node(pack, "ApikleyWan26V2V").generate(
        PROMPT, "5", "720p", video=_video(pack, reference_clip), unique_id="7"))["result"]
    assert len(result) == 2 and Path(result[0].get_stream_source()).is_file() and sim.create_count == 1


def test_video_to_frames_reads_a_file_backed_video(pack, reference_clip):
    images, audio, fps = _split(pack, _video(pack, reference_clip))
    info = _probe(pack, reference_clip)
    assert tuple(images.shape) == (info.frame_count, info.height, info.width, 3) and fps == info.fps == 24.0
    assert audio["sample_rate"] == 48000 and audio["waveform"].shape[1] == 2
    assert abs(_seconds(audio) - info.duration) < 0.05 and float(audio["waveform"].abs().max()) > 0.1


def test_video_to_frames_uses_the_components_of_a_video_without_a_matching_file(pack, reference_clip):
    """A VIDEO built from frames has no file; a trimmed one points at the whole, untrimmed file."""
    standin = __import__(f"{pack.__name__}.nodes.standin", fromlist=["x"])
    frames, sound = _frames(n=10), {"waveform": torch.zeros(1, 2, 8000), "sample_rate": 16000}

    class Built:  # shaped like core VideoFromComponents: nothing but its components
        def get_components(self):
            return SimpleNamespace(images=frames, audio=sound, frame_rate=Fraction(20), metadata=None)

    class Trimmed(standin.VideoFile):  # the file holds 3 s, the VIDEO shows 0.5 s of it
        def get_active_trim_window(self):
            return 1.0, 0.5

        def get_components(self):
            return SimpleNamespace(images=frames, audio=None, frame_rate=Fraction(20), metadata=None)

    images, audio, fps = _split(pack, Built())
    assert images is frames and audio is sound and fps == 20.0
    images, audio, fps = _split(pack, Trimmed(str(reference_clip)))
    assert images is frames and fps == 20.0 and abs(_seconds(audio) - 0.5) < 1e-3  # silent, the frames' length


def test_video_to_frames_gives_bit_depth_and_color_space_as_core_does(pack, tmp_path, reference_clip):
    """Core's meanings: the pixel format's bits, and sRGB / HDR (HLG) / HDR PQ from the file's transfer."""
    clips = __import__(f"{pack.__name__}.apikley_wan.media.clips", fromlist=["x"])
    color = __import__(f"{pack.__name__}.apikley_wan.media.color", fromlist=["x"])
    standin = __import__(f"{pack.__name__}.nodes.standin", fromlist=["x"])
    hlg, pq = (color.ColorTags(9, transfer, 9, 1) for transfer in (18, 16))
    node = _node(pack, "ApikleyVideoFrames")
    cases = {"sdr8": ({}, (8, "sRGB")), "sdr10": ({"pix_fmt": "yuv420p10le"}, (10, "sRGB")),
             "hlg10": ({"pix_fmt": "yuv420p10le", "color": hlg}, (10, "HDR")),
             "pq10": ({"pix_fmt": "yuv420p10le", "color": pq}, (10, "HDR PQ"))}
    for name, (options, expected) in cases.items():
        clip = clips.write_clip(tmp_path / f"{name}.mp4", seconds=0.5, width=64, height=48, audio_rate=None,
                                **options)
        outputs = asyncio.run(node.decode(_video(pack, clip)))
        assert len(outputs) == 5 and tuple(outputs[3:]) == expected, name
        assert isinstance(outputs[3], int) and outputs[0].shape[0] == 12

    class Trimmed(standin.VideoFile):  # decoded from its components, described from its (same-coded) file
        def get_active_trim_window(self):
            return 0.1, 0.2

        def get_components(self):
            return SimpleNamespace(images=_frames(n=4), audio=None, frame_rate=Fraction(20), metadata=None)

    assert asyncio.run(node.decode(Trimmed(str(tmp_path / "hlg10.mp4"))))[3:] == (10, "HDR")

    class Built:  # core 0.33's VideoFromComponents answers for itself; an older one says nothing
        def __init__(self, depth=None):
            if depth:
                self.get_bit_depth, self.get_color_space = (lambda: depth), (lambda: "sRGB")

        def get_components(self):
            return SimpleNamespace(images=_frames(n=4), audio=None, frame_rate=Fraction(20), metadata=None)

    assert asyncio.run(node.decode(Built(10)))[3:] == (10, "sRGB") and asyncio.run(node.decode(Built()))[3:] == (8, "sRGB")


def test_video_to_frames_gives_a_silent_clip_silent_audio_of_its_length(pack, tmp_path):
    clips = __import__(f"{pack.__name__}.apikley_wan.media.clips", fromlist=["x"])
    silent = clips.write_clip(tmp_path / "silent.mp4", seconds=2, width=160, height=90, fps=25, audio_rate=None)
    images, audio, fps = _split(pack, _video(pack, silent))
    info = _probe(pack, silent)
    assert images.shape[0] == info.frame_count == 50 and fps == 25.0 and not info.has_audio
    assert audio["waveform"].dim() == 3 and float(audio["waveform"].abs().max()) == 0.0
    assert abs(_seconds(audio) - info.duration) < 1e-3


def test_missing_or_conflicting_references_fail_before_upload(pack, sim, reference_clip):
    node = _node(pack, "ApikleyWan26V2V")
    errors = __import__(f"{pack.__name__}.apikley_wan.errors", fromlist=["x"])
    with pytest.raises(errors.InputError, match="no reference"):
        asyncio.run(node.generate(PROMPT, "5", "720p", unique_id="1"))
    with pytest.raises(errors.InputError, match="either"):
        asyncio.run(node.generate(PROMPT, "5", "720p", video=_video(pack, reference_clip), images=_frames(),
                                  unique_id="1"))
    with pytest.raises(errors.InputError, match="2 to 5000"):
        asyncio.run(node.generate("x", "5", "720p", video=_video(pack, reference_clip), unique_id="1"))
    assert not any(p.startswith("/file-upload") for _, p, *_ in sim.requests_log)


def test_submit_poll_fetch_and_from_id(pack, sim, reference_clip):
    submit, poll, fetch, from_id = (_node(pack, n) for n in ("ApikleyWan26V2VSubmit", "ApikleyTaskPoll",
                                                               "ApikleyTaskFetch", "ApikleyTaskFromId"))
    (task,) = asyncio.run(submit.submit(PROMPT, "5", "720p", video=_video(pack, reference_clip), unique_id="3"))
    assert task["task_id"] and task["state"] == "waiting"
    (done,) = asyncio.run(poll.poll(task, unique_id="4"))
    assert done["state"] == "success"
    answer = asyncio.run(fetch.fetch(done, unique_id="5"))
    video, task_id = answer["result"]
    assert answer["ui"]["images"][0]["filename"].endswith(f"{task_id}.mp4")
    assert task_id == task["task_id"] and Path(video.get_stream_source()).is_file()
    assert from_id.VALIDATE_INPUTS("  ") is not True and from_id.VALIDATE_INPUTS(task_id) is True
    (again,) = asyncio.run(from_id.from_id(task_id))
    video2, _ = asyncio.run(fetch.fetch(again, unique_id="6"))["result"]
    assert video2.get_stream_source() == video.get_stream_source() and sim.create_count == 1


def test_fan_out_of_three_submits_finishes_in_about_one_task_time(pack, sim, reference_clip):
    sim.task_seconds = 1.5
    submit, poll = _node(pack, "ApikleyWan26V2VSubmit"), _node(pack, "ApikleyTaskPoll")

    async def one(i):
        (task,) = await submit.submit(f"{PROMPT} take {i}", "5", "720p", video=_video(pack, reference_clip),
                                      unique_id=f"s{i}")
        return await poll.poll(task, unique_id=f"p{i}")

    async def all_three():
        return await asyncio.gather(*(one(i) for i in range(3)))
    started = time.monotonic()
    results = asyncio.run(all_three())
    elapsed = time.monotonic() - started
    assert len({r[0]["task_id"] for r in results}) == 3 and sim.create_count == 3
    assert elapsed < 1.5 * 1.3 + 3, f"fan-out took {elapsed:.1f}s for 1.5 s tasks"


def test_interrupt_stops_within_a_second_and_keeps_the_task(pack, sim, reference_clip, monkeypatch):
    host = __import__(f"{pack.__name__}.nodes.host", fromlist=["x"])
    errors = __import__(f"{pack.__name__}.apikley_wan.errors", fromlist=["x"])
    service = __import__(f"{pack.__name__}.nodes.service", fromlist=["x"])
    sim.task_seconds = 30
    said = []
    monkeypatch.setattr(host, "send_status", lambda text, node_id: said.append(text))
    (task,) = asyncio.run(_node(pack, "ApikleyWan26V2VSubmit").submit(
        PROMPT, "5", "720p", video=_video(pack, reference_clip), unique_id="3"))
    flag_at = time.monotonic() + 1.5
    monkeypatch.setattr(host, "interrupted", lambda: time.monotonic() >= flag_at)
    with pytest.raises(errors.RunCancelledError):
        asyncio.run(_node(pack, "ApikleyTaskPoll").poll(task, unique_id="4"))
    assert time.monotonic() - flag_at < 1.0
    assert any("waiting" in s and "elapsed" in s and "credits" in s for s in said), said
    assert any("re-queue" in s for s in said)
    assert service.state().journal.by_task_id(task["task_id"]).pending


def test_status_line_is_drawn_about_once_a_second(pack, sim, reference_clip, monkeypatch):
    host = __import__(f"{pack.__name__}.nodes.host", fromlist=["x"])
    sim.task_seconds = 4
    said = []
    monkeypatch.setattr(host, "send_status", lambda text, node_id: said.append((time.monotonic(), node_id, text)))
    asyncio.run(_node(pack, "ApikleyWan26V2V").generate(PROMPT, "5", "720p", video=_video(pack, reference_clip),
                                                        unique_id="12"))
    waiting = [t for t, n, s in said if "waiting" in s]
    assert all(n == "12" for _, n, _ in said) and len(waiting) >= 3
    assert said[-1][2].startswith("Paid now: 70 credits")


def test_one_interrupt_stops_every_node_running_side_by_side(pack, sim, reference_clip, monkeypatch):
    host = __import__(f"{pack.__name__}.nodes.host", fromlist=["x"])
    errors = __import__(f"{pack.__name__}.apikley_wan.errors", fromlist=["x"])
    sim.task_seconds = 30
    submit, poll = _node(pack, "ApikleyWan26V2VSubmit"), _node(pack, "ApikleyTaskPoll")
    tasks = [asyncio.run(submit.submit(f"{PROMPT} {i}", "5", "720p", video=_video(pack, reference_clip),
                                       unique_id=f"s{i}"))[0] for i in range(2)]
    flag = {"at": time.monotonic() + 1.0, "consumed": False}

    def interrupted():  # ComfyUI's flag: the first node that raises the interrupt clears it
        if flag["consumed"] or time.monotonic() < flag["at"]:
            return False
        flag["consumed"] = True
        return True
    monkeypatch.setattr(host, "interrupted", interrupted)

    async def both():
        return await asyncio.gather(*(poll.poll(t, unique_id=f"p{i}") for i, t in enumerate(tasks)),
                                    return_exceptions=True)
    outcomes = asyncio.run(both())
    assert all(isinstance(o, errors.RunCancelledError) for o in outcomes), outcomes
    assert time.monotonic() - flag["at"] < 1.0


def test_references_keep_their_character_places(pack, reference_clip):
    inputs = __import__(f"{pack.__name__}.nodes.inputs", fromlist=["x"])
    errors = __import__(f"{pack.__name__}.apikley_wan.errors", fromlist=["x"])
    one, two = _video(pack, reference_clip), _video(pack, str(reference_clip))
    request = inputs.to_request(PROMPT, "5", "720p", video=one, video_url="https://x/y.mp4", video_2=two)
    assert [r.source for r in request.references[:2]] == [one, two] and request.references[2].url
    with pytest.raises(errors.InputError, match="audio"):
        inputs.to_request(PROMPT, "5", "720p", video=one, audio={"waveform": torch.zeros(1, 1, 10),
                                                                "sample_rate": 8000})
    with pytest.raises(errors.InputError, match="'video_2' \\(character2\\) is given, but 'video' \\(character1\\) is not"):
        inputs.to_request(PROMPT, "5", "720p", video_2=two, video_url="https://x/y.mp4")
    with pytest.raises(errors.InputError, match="'video_2' \\(character2\\) is not"):
        inputs.to_request(PROMPT, "5", "720p", video=one, video_3=two)
    from_id = pack.NODE_CLASS_MAPPINGS["ApikleyTaskFromId"]
    assert from_id.VALIDATE_INPUTS(None) is True  # a wired id is checked when the node runs
    for bad in ("two words", "../../user/default/comfy.settings", "a/b", ".."):
        assert from_id.VALIDATE_INPUTS(bad) is not True
        with pytest.raises(errors.InputError):
            asyncio.run(from_id().from_id(bad))


def test_a_reused_result_says_no_new_charge(pack, sim, reference_clip, monkeypatch):
    host = __import__(f"{pack.__name__}.nodes.host", fromlist=["x"])
    said = []
    monkeypatch.setattr(host, "send_status", lambda text, node_id: said.append(text))
    node = _node(pack, "ApikleyWan26V2V")
    asyncio.run(node.generate(PROMPT, "5", "720p", video=_video(pack, reference_clip), unique_id="1"))
    asyncio.run(node.generate(PROMPT, "5", "720p", video=_video(pack, reference_clip), unique_id="1"))
    finals = [s for s in said if s.startswith(("Paid now:", "Re-used:"))]
    assert finals[0].startswith("Paid now: 70 credits") and "task " in finals[0]
    assert finals[1].startswith("Re-used: no new charge") and "task " in finals[1]
    assert sim.create_count == 1
