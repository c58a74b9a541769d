"""Load Videos from Folder: the clips of a folder as a list of VIDEO, for batch runs.

The outputs are lists (``OUTPUT_IS_LIST``): ComfyUI then runs a node wired to them once per clip,
and an async node such as the all-in-one runs every clip's coroutine side by side. Each VIDEO is
ComfyUI's own VideoFromFile (nothing is decoded here), and ``names`` carries the clips' names so
a prompt can be built per clip.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from pathlib import Path

from ..apikley_wan.errors import InputError
from . import host
from .inputs import CATEGORY

SORTS = ("name", "name (descending)", "newest first")
_HINT = "Fix the folder or the pattern and run again; nothing was sent to the API."


def base_dir() -> Path:
    """What a relative folder is read from: ComfyUI's input folder (the current folder without ComfyUI)."""
    try:
        import folder_paths
        return Path(folder_paths.get_input_directory())
    except (ImportError, AttributeError):
        return Path.cwd()


def resolve_folder(folder: str) -> Path:
    """The folder as an absolute path; an error naming what was looked for when it is not a folder."""
    text = (folder or "").strip()
    if not text:
        raise InputError("'folder' is empty", hint="Type a folder path; '.' is ComfyUI's input folder.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = base_dir() / path
    if not path.exists():
        raise InputError(f"folder '{text}' does not exist (looked for {path}); relative paths are read "
                         f"from ComfyUI's input folder", hint=_HINT)
    if not path.is_dir():
        raise InputError(f"'{text}' is a file, not a folder (looked at {path})", hint=_HINT)
    return path


def _patterns(pattern: str) -> list:
    parts = [p.strip() for p in (pattern or "").split(";") if p.strip()]
    if not parts:
        raise InputError("'pattern' is empty", hint="Use e.g. *.mp4, or *.mp4;*.mov for several kinds.")
    for part in parts:
        if "/" in part or "\\" in part:
            raise InputError(f"pattern '{part}' names a subfolder; it matches file names in the folder only",
                             hint="Put the subfolder into 'folder' instead.")
    return parts


def _natural(name: str) -> list:
    """``clip2`` before ``clip10``; case does not matter."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", name.casefold()) if part]


def list_clips(folder: str, pattern: str = "*.mp4", limit: int = 0, sort: str = "name") -> list:
    """The matching files of ``folder`` (not its subfolders), sorted, at most ``limit`` (0: all).

    Patterns are globs on the file name, case-insensitive (``*.mp4`` also finds ``CLIP.MP4``),
    several separated by ``;``; hidden files are left out unless a pattern starts with a dot.
    """
    root = resolve_folder(folder)
    parts = [p.casefold() for p in _patterns(pattern)]
    found = []
    with os.scandir(root) as entries:
        for entry in entries:
            name = entry.name.casefold()
            if not any(fnmatch.fnmatchcase(name, p) for p in parts):
                continue
            if entry.name.startswith(".") and not any(p.startswith(".") for p in parts):
                continue
            try:
                if not entry.is_file():  # follows symlinks: a linked clip counts, a folder does not
                    continue
                stat = entry.stat()
            except OSError:  # vanished or unreadable meanwhile
                continue
            found.append((Path(entry.path), stat.st_size, stat.st_mtime_ns))
    if sort not in SORTS:
        raise InputError(f"unknown sort '{sort}'", hint=f"Use one of: {', '.join(SORTS)}.")
    found.sort(key=lambda f: _natural(f[0].name), reverse=sort == "name (descending)")
    if sort == "newest first":
        found.sort(key=lambda f: f[2], reverse=True)  # stable: equal times keep name order
    if limit and limit > 0:
        found = found[:int(limit)]
    return found


def fingerprint(folder: str, pattern: str = "*.mp4", limit: int = 0, sort: str = "name") -> str:
    """Changes when a listed clip is added, removed, renamed, resized or rewritten."""
    try:
        clips = list_clips(folder, pattern, limit, sort)
    except InputError as err:  # the run itself reports it; an unchanged error need not re-run
        return "error: " + err.detail
    listing = [[str(path), size, mtime] for path, size, mtime in clips]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


class ApikleyLoadVideosFromFolder:
    DESCRIPTION = ("Loads every clip of a folder whose name matches a pattern, as a list of VIDEO plus their "
                   "names. A node wired to the list runs once per clip; the Wan 2.6 node runs all of them "
                   "side by side, one task and one saved result each. A relative folder is read from "
                   "ComfyUI's input folder ('.' is the input folder itself). Adding or changing a clip makes "
                   "the next run read the folder again.")
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["batch videos", "load video folder"]
    RETURN_TYPES = ("VIDEO", "STRING")
    RETURN_NAMES = ("videos", "names")
    OUTPUT_IS_LIST = (True, True)
    OUTPUT_TOOLTIPS = ("One VIDEO per clip (a list: nodes wired to it run once per clip).",
                       "Each clip's file name without its extension, in the same order (e.g. to build a prompt "
                       "per clip with a Concatenate node).")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "folder": ("STRING", {"default": ".", "tooltip": "The folder to read. A relative path is inside "
                                                            "ComfyUI's input folder ('.' is the input folder "
                                                            "itself); an absolute path is used as it is."}),
            "pattern": ("STRING", {"default": "*.mp4", "tooltip": "Which file names to take: a glob such as "
                                                                 "*.mp4 or clip_*.mov, case-insensitive; "
                                                                 "several separated by ';' (*.mp4;*.mov). "
                                                                 "Subfolders are not searched."}),
            "limit": ("INT", {"default": 0, "min": 0, "max": 10000, "control_after_generate": False,
                              "tooltip": "Take at most this many clips (after sorting); 0 takes them all. "
                                         "Each clip wired into a generating node is a paid task."}),
            "sort": (list(SORTS), {"default": "name",
                                   "tooltip": "Order of the clips: by name (clip2 before clip10), by name "
                                              "descending, or newest first (by modification time)."}),
        }}

    @classmethod
    def IS_CHANGED(cls, folder, pattern="*.mp4", limit=0, sort="name"):
        return fingerprint(folder, pattern, limit, sort)

    def load(self, folder, pattern="*.mp4", limit=0, sort="name"):
        clips = list_clips(folder, pattern, limit, sort)
        if not clips:
            raise InputError(f"no file in {resolve_folder(folder)} matches '{pattern}'",
                             hint="Check the pattern (e.g. *.mp4) and the folder; nothing was sent to the API.")
        return ([host.video_from_file(str(path)) for path, _, _ in clips],
                [path.stem for path, _, _ in clips])
