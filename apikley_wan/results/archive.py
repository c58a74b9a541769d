"""Where paid results are kept: a file name per task that cannot leave the results folder, the one step that
keeps a downloaded result (verified, tagged, its sidecar beside it), and leftovers of killed downloads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

from ..errors import ResultInvalidError, StorageError
from ..files import PART_SUFFIX, pieces, write_file
from ..record.entry import JournalEntry, valid_task_id
from ..media import ClipInfo, NotAVideo, check_video
from . import provenance

log = logging.getLogger("apikley_wan")

# a download writes continuously; a .part file untouched this long belongs to a killed process
STALE_PART_S = 120.0


def result_path(results_dir: Path, prefix: str, task_id: str) -> Path:
    """``<results_dir>/<prefix>_<task_id>.mp4``, refused unless it resolves to a file directly inside
    ``results_dir`` (task ids come from a server and from users)."""
    if not valid_task_id(task_id):
        raise StorageError(f"the task id {str(task_id)[:60]!r} cannot name a file", task_id=None)
    folder = Path(results_dir).resolve()
    path = (folder / f"{prefix}_{task_id}.mp4").resolve()
    if path.parent != folder:
        raise StorageError(f"the result name for task {task_id} leaves {folder}", task_id=task_id)
    return path


def keep(video: Path, entry: JournalEntry, secret: Optional[str]) -> None:
    """A downloaded result made the paid file that is kept, in one step: verified to be a video (else deleted:
    ResultInvalidError), then its task written into it and beside it (``provenance.mark``)."""
    facts = _verify(video, entry.task_id)
    provenance.mark(video, entry, secret, facts)


def _verify(path: Path, task_id: str) -> ClipInfo:
    """A paid result counts only when it is a real video (its facts are returned); anything else is
    deleted and reported."""
    try:
        return check_video(path)
    except NotAVideo as exc:
        path.unlink(missing_ok=True)
        raise ResultInvalidError(f"{exc} (the file was deleted)", task_id=task_id) from None


def is_video(path: Path) -> bool:
    try:
        check_video(path)
    except NotAVideo:
        return False
    return True


def remove_stale_parts(folder: Path, now: float | None = None) -> int:
    """Delete half-written downloads left by a killed process; returns how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    try:
        candidates = list(Path(folder).glob("*" + PART_SUFFIX))
    except OSError:
        return 0
    for part in candidates:
        try:
            if now - part.stat().st_mtime > STALE_PART_S:
                part.unlink()
                removed += 1
        except OSError:
            continue
    if removed:
        log.info("apikley_wan: removed %d unfinished download(s) from %s", removed, folder)
    return removed


def copy_result(result: str | Path, out: str | Path, task_id: str | None = None) -> Path:
    """A copy of an archived result where the user asked for it (the archive keeps its own). It appears
    whole (written beside ``out``, then renamed): nothing opens half a video."""
    out = Path(out)
    if Path(result).resolve() != out.resolve():
        out.parent.mkdir(parents=True, exist_ok=True)
        write_file(out, pieces(Path(result)), task_id)
    return out
