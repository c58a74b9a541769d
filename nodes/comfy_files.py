"""A file the page names the way ComfyUI's /upload/image and /view do (filename, subfolder, type),
resolved inside ComfyUI's input or output folder and nowhere else: the names come from a request."""

from __future__ import annotations

from pathlib import Path, PureWindowsPath

from ..apikley_wan.errors import InputError, NotFoundError
from . import host, service

KINDS = ("input", "output")
MAX_NAME_CHARS = 255


def named(filename, subfolder="", kind="input") -> Path:
    """The existing file ``<ComfyUI's kind folder>/<subfolder>/<filename>``; InputError for a name that
    could leave that folder, NotFoundError when there is no such file."""
    if kind not in KINDS:
        raise InputError(f"'type' must be 'input' or 'output' (got {str(kind)[:20]!r})")
    if not _plain(filename) or "/" in filename or "\\" in filename:
        raise InputError(f"{str(filename)[:80]!r} is not a file name")
    if subfolder is None:
        subfolder = ""
    if not isinstance(subfolder, str) or (subfolder and not _plain(subfolder)) or _escapes(subfolder):
        raise InputError(f"the subfolder must be a folder inside ComfyUI's {kind} folder")
    folder = (host.input_dir() if kind == "input" else service.state().results_dir.parent).resolve()
    path = (folder / subfolder / filename).resolve()
    if not path.is_relative_to(folder):  # a symbolic link that points elsewhere
        raise InputError(f"{filename!r} is not inside ComfyUI's {kind} folder")
    if not path.is_file():
        raise NotFoundError(f"there is no file {filename!r} in ComfyUI's {kind} folder", credits_may_be_spent=False,
                            hint="Upload the file again, then drop it on the tasks panel.")
    return path


def _plain(name) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS and "\0" not in name and name not in (".", "..")


def _escapes(subfolder: str) -> bool:
    """Absolute (on any OS) or climbing out with ``..``."""
    path = PureWindowsPath(subfolder)  # splits on '/' and '\\' alike
    return bool(path.drive or path.root) or ".." in path.parts
