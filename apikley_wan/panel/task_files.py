"""A journal task's result file for the tasks panel: the file to stream as its preview, and a copy in
ComfyUI's input folder so a Load Video node can open it.

Only a path the journal recorded for a valid task id is ever read (never one from the request), and
results may live outside ComfyUI's output folder, which is why ComfyUI's own /view cannot serve them.
"""

from __future__ import annotations

import filecmp
import itertools
from pathlib import Path

from ..errors import NotFoundError, StorageError
from ..results.archive import copy_result
from ..record.entry import valid_task_id
from ..record.store import JournalStore


def result_video(journal: JournalStore, task_id: str) -> Path:
    """The result file the journal holds for ``task_id``; NotFoundError when there is none on disk."""
    entry = journal.by_task_id(task_id) if valid_task_id(task_id) else None
    if entry is None:
        raise NotFoundError(f"no task {str(task_id)[:80]!r} in the journal", credits_may_be_spent=False)
    path = Path(entry.result_path) if entry.result_path else None
    if path is None or not path.is_file():
        raise NotFoundError("its result file is not on this computer", task_id=task_id, credits_may_be_spent=False,
                            hint="Collect the task again from the tasks panel: it downloads without a new task.")
    return path


def into_input(journal: JournalStore, task_id: str, input_dir: Path) -> dict:
    """Copy the result to the top of ``input_dir`` (Load Video lists only that level) under its own name.

    The same file already there is re-used; a different file of that name is never overwritten (the copy
    gets ``_1``, ``_2``… instead). Returns ``{"ok", "filename", "copied"}``.
    """
    source = result_video(journal, task_id)
    folder = Path(input_dir)
    for n in itertools.count():
        target = folder / (source.name if n == 0 else f"{source.stem}_{n}{source.suffix}")
        if not target.exists():
            break
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            return {"ok": True, "filename": target.name, "copied": False}
    try:
        copy_result(source, target, task_id)
    except OSError as exc:
        raise StorageError(f"the result could not be copied to {folder} ({exc.strerror})", task_id=task_id,
                           credits_may_be_spent=False) from None
    return {"ok": True, "filename": target.name, "copied": True}
