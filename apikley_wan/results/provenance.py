"""The task a result file came from, written into the mp4 itself, so the file alone leads back to its
task: renamed, copied or saved again by ComfyUI's Save Video (which keeps container tags), it can still
be collected at no new charge (Task From File, the tasks panel's drop, ``collect --from-file``); and the
sidecar beside it (task id, prompt, parameters, cost). ``mark`` writes both.

Writing is a stream copy (no re-encode) into a temporary file beside the result, checked to hold the
same frames, then renamed over it. The paid file must never be lost, so any failure keeps the verified
original untouched and logs one warning. Reading treats the tags as hostile input: size-capped, the
task id validated like any id from outside, only known parameters of known shapes kept, nothing ever
used as a path.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import av

from .. import __version__
from ..settings import settings
from ..api.untrusted import scrub_tree
from ..errors import NoProvenanceError, ProvenanceInvalidError
from ..files import open_part, write_file
from ..money import pricing
from ..record.entry import JournalEntry, valid_task_id
from ..media import ClipInfo, NotAVideo, check_video
from ..media.sources import stream_of

log = logging.getLogger("apikley_wan")

MARKER = "apikley_wan"          # {"apikley_wan": 1, ...} tells the pack's tag from any other tool's comment
FORMAT = 1
TAG = "comment"                 # a tag players show and ComfyUI's Save Video copies
MAX_TAG_CHARS = 64 * 1024       # the pack writes at most ~5 kB (the prompt); more is not ours
TITLE_CHARS = 200
# the parameters that travel with the file (what the user chose, never uploaded URLs or the callback
# secret), each with the shape the pack writes: on reading, anything else is dropped
_PARAM_SHAPES = {
    "prompt": lambda v: isinstance(v, str) and settings.PROMPT_CHARS[0] <= len(v) <= settings.PROMPT_CHARS[1],
    "duration": lambda v: v in settings.DURATIONS,
    "resolution": lambda v: v in settings.RESOLUTIONS,
    "multi_shots": lambda v: isinstance(v, bool),
    "take": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 31,
}
PARAM_KEYS = tuple(_PARAM_SHAPES)

Readable = Union[str, os.PathLike, io.BytesIO]


@dataclass(frozen=True)
class Provenance:
    task_id: str
    params: dict  # only PARAM_KEYS, each of its expected type


def tags_for(entry: JournalEntry, secret: Optional[str]) -> dict:
    """The container tags for a result: the JSON record under ``comment``, the prompt's first line as
    ``title``; scrubbed of the key like anything else the pack writes."""
    params = {k: entry.params[k] for k in PARAM_KEYS if k in entry.params}
    record = {MARKER: FORMAT, "task_id": entry.task_id, "model": settings.MODEL, "version": __version__,
              "params": params}
    tags = {TAG: json.dumps(record, ensure_ascii=False, sort_keys=True)}
    title = (params.get("prompt") or "").strip().splitlines()[:1]
    if title:
        tags["title"] = title[0][:TITLE_CHARS]
    return scrub_tree(tags, secret)


def mark(video: Path, entry: JournalEntry, secret: Optional[str], facts: ClipInfo) -> None:
    """The task of a verified result (``facts``: its ``check_video``) written into it and beside it: both
    made from the entry first, then written."""
    tags, sidecar = tags_for(entry, secret), _sidecar(entry)
    embed(video, tags, facts, entry.task_id)
    write_file(video.with_suffix(".json"), sidecar, entry.task_id)


def embed(video: Path, tags: dict, facts: ClipInfo, task_id: str) -> bool:
    """Write ``tags`` (``tags_for``) into ``video``, a verified result whose ``check_video`` facts are
    ``facts``; False, with one warning and the original untouched, when anything goes wrong. Never
    raises an Exception."""
    part = None
    try:
        part, handle = open_part(video)
        handle.close()
        _remux(video, part, tags)
        _same_frames(facts, part)
        os.replace(part, video)
        return True
    except Exception as exc:  # noqa: BLE001 - whatever failed, the paid result must stay as downloaded
        log.warning("apikley_wan: task %s: could not write its id into %s (%s); the result is kept as "
                    "downloaded, with its .json beside it", task_id, video.name, _why(exc))
        return False
    finally:
        if part is not None:
            part.unlink(missing_ok=True)  # gone already once renamed into place


def _remux(source: Path, dest: Path, tags: dict) -> None:
    """Every audio and video packet copied as is, with only our tags: the provider's own (container and
    stream) are untrusted text (they could hold the key) that would travel in every copy of the file."""
    with av.open(str(source), metadata_errors="replace") as inp, av.open(str(dest), "w", format="mp4") as out:
        out.metadata.update(tags)
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        for stream in streams.values():
            stream.metadata.clear()  # a template's tags are the provider's
        for packet in inp.demux():
            if packet.dts is None or packet.stream.index not in streams:
                continue  # a demuxer's flush packet, or a data stream the result does not need
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def _same_frames(before: ClipInfo, copy: Path) -> None:
    """The copy must play exactly what the paid file plays (only the size may differ)."""
    after = check_video(copy)
    if dataclasses.replace(before, size=0) != dataclasses.replace(after, size=0):
        raise NotAVideo(f"the copy differs ({after.frame_count} frames, {after.duration:.3f} s)")


def _sidecar(entry: JournalEntry) -> bytes:
    """Metadata beside the result: task id, model, parameters, prompt, cost (never the key or the
    callback secret)."""
    params = {k: v for k, v in entry.params.items() if k != "callback_secret"}
    sidecar = {"task_id": entry.task_id, "model": settings.MODEL, "prompt": params.get("prompt"),
               "parameters": params, "cost_credits": entry.cost_credits,
               "cost_usd": pricing.credits_to_usd(entry.cost_credits) if entry.cost_credits is not None else None,
               "cost_kind": entry.cost_kind,
               "created_at": entry.task_created_at, "finished_at": entry.finished_at}
    return json.dumps(sidecar, indent=2, ensure_ascii=False).encode("utf-8")


def _why(exc: Exception) -> str:
    detail = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


# -- reading -------------------------------------------------------------------------------------

def read(source: Readable) -> Provenance:
    """The task a video file came from; NoProvenanceError when it names none, ProvenanceInvalidError
    when what it names cannot be an apikley task id."""
    record = _record(_tag(source))
    task_id = record.get("task_id")
    if not valid_task_id(task_id):
        raise ProvenanceInvalidError(f"{_shown(task_id)} is not an apikley task id")
    raw = record.get("params")
    return Provenance(task_id, _clean(raw if isinstance(raw, dict) else {}))


def of_video(video: Any) -> Provenance:
    """The provenance of the file behind a ComfyUI VIDEO (as Load Video gives it)."""
    stream = stream_of(video)
    if stream is None:
        raise NoProvenanceError("this VIDEO was built from frames, not loaded from a file")
    return read(stream)


def _tag(source: Readable) -> str:
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        with av.open(source if isinstance(source, io.BytesIO) else os.fspath(source), "r",
                     metadata_errors="replace") as container:
            return container.metadata.get(TAG) or ""
    except (av.FFmpegError, OSError, ValueError):
        raise NoProvenanceError("it is not a readable video file") from None
    finally:
        if isinstance(source, io.BytesIO):
            source.seek(0)  # the VIDEO that shares it reads it from the start again


def _record(tag: str) -> dict:
    if len(tag) > MAX_TAG_CHARS:
        raise NoProvenanceError(f"its comment is {len(tag)} characters long, far more than the pack writes")
    try:
        record = json.loads(tag) if tag.lstrip().startswith("{") else None
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict) or record.get(MARKER) != FORMAT:
        raise NoProvenanceError()
    return record


def _clean(params: dict) -> dict:
    return {k: params[k] for k, fits in _PARAM_SHAPES.items() if k in params and fits(params[k])}


def _shown(value: Any) -> str:
    """A hostile value, short and printable, for a message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}… ({len(str(value))} characters)"
