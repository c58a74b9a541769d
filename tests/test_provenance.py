"""Provenance in the result file (apikley_wan/provenance.py): a paid result carries its task id, prompt and
parameters in the mp4's tags, stream-copied (same frames), never at the cost of the file; reading a file
back treats its tags as hostile input."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import json
import logging
import shutil
import urllib.request
from pathlib import Path

import av
import numpy as np
import pytest

from apikley_wan.results import provenance
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import InputError, NoProvenanceError, ProvenanceInvalidError
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.record.sqlite import Journal
from apikley_wan.media import check_video
from apikley_wan.run.request import GenerationRequest, Reference
from conftest import FAST

PROMPT = "character1 walks on the moon\nslow camera, dusk light"
KEY = "sk-live-0123456789abcdefSECRET"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _packets(path: Path, kind: str) -> list:
    with av.open(str(path)) as c:
        stream = next(s for s in c.streams if s.type == kind)
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(stream) if p.dts is not None]


def _tags(path: Path) -> dict:
    with av.open(str(path)) as c:
        return dict(c.metadata)


def _entry(tmp_path, task_id="a1b2c3d4e5f60718293a4b5c6d7e8f90", **params):
    params = {"prompt": PROMPT, "duration": "10", "resolution": "1080p", "multi_shots": True, "take": 3,
              "api": "https://user:pw@proxy.example/", "callback_secret": "s3cret",
              "video_urls": ["https://uploads.example/private.mp4"], "references": [{"content": "f" * 64}], **params}
    return Journal(tmp_path / "journal.sqlite").adopt(task_id, params)


def _result_copy(reference_clip, tmp_path) -> Path:
    dest = tmp_path / "results" / "wan26_v2v_result.mp4"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(reference_clip, dest)
    return dest


def _tagged(source: Path, dest: Path, comment) -> Path:
    """A real mp4 whose comment tag is ``comment`` (a crafted, possibly hostile, file)."""
    provenance._remux(source, dest, {"comment": comment if isinstance(comment, str) else json.dumps(comment)})
    return dest


def test_a_paid_result_carries_its_task_and_plays_exactly_what_was_downloaded(sim, tmp_path, reference_clip):
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url, backoff_start_s=0.05, download_backoff_s=0.01)
    gens = Pipeline(client, Journal(tmp_path / "journal.sqlite"), tmp_path / "results", timings=FAST)
    request = GenerationRequest(prompt=PROMPT, duration="5", resolution="720p",
                                references=[Reference(source=str(reference_clip))])
    entry = gens.journal.by_task_id(asyncio.run(gens.generate_video(request)).task_id)
    result = Path(entry.result_path)
    downloaded = tmp_path / "as_downloaded.mp4"  # the provider's file, byte for byte
    with urllib.request.urlopen(entry.result_url, timeout=30) as answer:
        downloaded.write_bytes(answer.read())

    found = provenance.read(result)
    assert found.task_id == entry.task_id
    assert found.params == {"prompt": PROMPT, "duration": "5", "resolution": "720p", "multi_shots": False, "take": 0}
    tags = _tags(result)
    assert tags["title"] == "character1 walks on the moon"
    record = json.loads(tags["comment"])
    assert record["apikley_wan"] == 1 and record["model"] == "wan/2-6-video-to-video" and record["version"]
    assert "callback_secret" not in tags["comment"] and "video_urls" not in tags["comment"]
    assert sim.base_url not in tags["comment"]  # the API's address is not the user's to share
    # a stream copy: the same packets, frames and length; still a video the pack accepts
    before, after = check_video(downloaded), check_video(result)
    assert (after.frame_count, after.duration, after.fps, after.has_audio) == \
           (before.frame_count, before.duration, before.fps, before.has_audio) and after.frame_count == 120
    for kind in ("video", "audio"):
        assert _packets(result, kind) == _packets(downloaded, kind)
    sidecar = json.loads(result.with_suffix(".json").read_text())
    assert sidecar["task_id"] == entry.task_id and sidecar["prompt"] == PROMPT  # the sidecar stays as it was
    assert not list(result.parent.glob("*.part"))


def test_what_is_written_holds_only_the_users_choices_and_never_the_key(tmp_path, reference_clip):
    video = _result_copy(reference_clip, tmp_path)
    entry = _entry(tmp_path, prompt=f"  leaked {KEY} in the prompt\nsecond line")
    assert provenance.embed(video, provenance.tags_for(entry, KEY), check_video(video), entry.task_id) is True
    assert KEY.encode() not in video.read_bytes()
    record = json.loads(_tags(video)["comment"])
    assert record["task_id"] == entry.task_id
    assert record["params"] == {"prompt": "  leaked ••• in the prompt\nsecond line", "duration": "10",
                                "resolution": "1080p", "multi_shots": True, "take": 3}
    assert _tags(video)["title"] == "leaked ••• in the prompt"
    assert provenance.read(video).params["take"] == 3


def _pcm_in_matroska(path: Path) -> Path:
    """A playable clip the mp4 format cannot hold (PCM sound): remuxing it to mp4 really fails."""
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=44100, layout="stereo")
        for i in range(24):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), format="rgb24")))
        out.mux(video.encode())
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.int16), format="s16", layout="stereo")
            frame.sample_rate, frame.pts = 44100, i * 1024
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
    return path


def _ffv1_in_matroska(path: Path) -> Path:
    """A clip whose mp4 copy would not keep its exact frame rate (Matroska's millisecond clock)."""
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("ffv1", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for i in range(24):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), format="rgb24")))
        out.mux(video.encode())
    return path


def _disk_fills_up(source, dest, tags):
    dest.write_bytes(b"half a file")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("case", ["the mp4 format cannot hold its sound", "the copy would not play the same",
                                  "the disk fills up"])
def test_a_failed_remux_keeps_the_paid_file_untouched_and_says_so_once(case, tmp_path, monkeypatch, caplog):
    folder = tmp_path / "results"
    folder.mkdir()
    video = folder / "wan26_v2v_task.mp4"
    if case == "the mp4 format cannot hold its sound":
        _pcm_in_matroska(video)
    elif case == "the copy would not play the same":
        _ffv1_in_matroska(video)
    else:
        _pcm_in_matroska(video)
        monkeypatch.setattr(provenance, "_remux", _disk_fills_up)
    facts = check_video(video)  # a result the pipeline would have accepted
    digest = _sha(video)
    caplog.set_level(logging.WARNING, logger="apikley_wan")

    assert provenance.embed(video, provenance.tags_for(_entry(tmp_path), KEY), facts, "task_x") is False
    assert _sha(video) == digest and sorted(p.name for p in folder.iterdir()) == [video.name]  # no .part left
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "kept as downloaded" in warnings[0] and KEY not in warnings[0]
    with pytest.raises(NoProvenanceError):
        provenance.read(video)


def test_a_file_without_an_apikley_task_says_so(tmp_path, reference_clip):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    cases = {
        "no tags": reference_clip,
        "someone else's comment": _tagged(reference_clip, tmp_path / "phone.mp4", "shot on my phone"),
        "another tool's JSON": _tagged(reference_clip, tmp_path / "tool.mp4", {"tool": "x", "task_id": "abc"}),
        "a newer format": _tagged(reference_clip, tmp_path / "v2.mp4", {"apikley_wan": 2, "task_id": "abc"}),
        "no video at all": not_video,
        "nesting too deep to parse": _tagged(reference_clip, tmp_path / "deep.mp4", '{"a":' * 10000),
        "a 100 kB comment": _tagged(reference_clip, tmp_path / "big.mp4",
                                    {"apikley_wan": 1, "task_id": "abc", "pad": "x" * 100_000}),
    }
    for what, path in cases.items():
        with pytest.raises(NoProvenanceError) as caught:
            provenance.read(path)
        assert not isinstance(caught.value, ProvenanceInvalidError), what
        assert isinstance(caught.value, InputError), what
        message = caught.value.user_message()
        assert message.startswith("This file carries no apikley task") and "No credits were spent." in message, what
        assert len(message) < 400, what


@pytest.mark.parametrize("task_id", ["../x", "/etc/passwd", "a" * 10_000, "abc def", "", 12345, None, ["abc"]])
def test_a_hostile_task_id_is_refused_and_never_echoed_whole(task_id, tmp_path, reference_clip):
    crafted = _tagged(reference_clip, tmp_path / "crafted.mp4", {"apikley_wan": 1, "task_id": task_id})
    with pytest.raises(ProvenanceInvalidError) as caught:
        provenance.read(crafted)
    message = caught.value.user_message()
    assert "its task id is not valid" in message and len(message) < 400


def test_only_known_parameters_of_known_shapes_are_read_back(tmp_path, reference_clip):
    crafted = _tagged(reference_clip, tmp_path / "crafted.mp4", {"apikley_wan": 1, "task_id": "task_0001", "params": {
        "callback_secret": "attacker", "video_urls": ["http://evil/"], "prompt": 7, "duration": "99",
        "resolution": "720p", "multi_shots": "yes", "take": True}})
    assert provenance.read(crafted) == provenance.Provenance("task_0001", {"resolution": "720p"})
    not_a_dict = _tagged(reference_clip, tmp_path / "list.mp4", {"apikley_wan": 1, "task_id": "t1", "params": [1]})
    assert provenance.read(not_a_dict).params == {}


class _FileVideo:
    """Shaped like ComfyUI's VideoFromFile: its source is a path or an in-memory file."""

    def __init__(self, source):
        self.source = source

    def get_stream_source(self):
        return self.source

    def get_components(self):
        raise AssertionError("reading the provenance must not decode the video")


class _FramesVideo:
    """Shaped like ComfyUI's VideoFromComponents: frames, no file."""

    def get_components(self):
        raise AssertionError("reading the provenance must not decode the video")


def test_a_video_object_is_read_through_its_file_or_refused_when_it_has_none(tmp_path, reference_clip):
    video = _result_copy(reference_clip, tmp_path)
    tags = provenance.tags_for(_entry(tmp_path, task_id="from_a_file"), None)
    assert provenance.embed(video, tags, check_video(video), "from_a_file")
    assert provenance.of_video(_FileVideo(str(video))).task_id == "from_a_file"
    memory = io.BytesIO(video.read_bytes())
    assert provenance.of_video(_FileVideo(memory)).task_id == "from_a_file" and memory.tell() == 0
    with pytest.raises(NoProvenanceError, match="built from frames"):
        provenance.of_video(_FramesVideo())
