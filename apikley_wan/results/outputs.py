"""Where the user asks for a copy of a result (``v2v --out``, ``collect --out``, a batch job's ``out``): one
rule for all three, so a paid result never destroys a file the user still needs.

- An out is never one of the run's inputs (a reference clip, the jobs file): refused before anything is
  paid. A clip overwritten by its own result is gone, and every later run with it pays again.
- An existing file is replaced only when it is this task's own earlier result (its provenance tag names the
  task, or it holds the very bytes of the archived result), or when the user says ``--overwrite``. Looked at
  before paying (with the journal's entry for the inputs) and again just before the copy.
"""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Mapping, Optional

from . import archive, provenance
from ..errors import InputError, NoProvenanceError

OVERWRITE_FLAG = "--overwrite"


def same_file(a, b) -> bool:
    """One file under two names: the same resolved path, or (both existing) one file on disk (a hard link,
    another spelling on a case-insensitive disk)."""
    try:
        return Path(a).resolve() == Path(b).resolve() or os.path.samefile(a, b)
    except OSError:  # one of them does not exist: two different files
        return False


def input_problem(out, inputs: Mapping, name: str = "out") -> Optional[str]:
    """Why ``out`` (a file the run writes, called ``name``) may not be written, when it is one of ``inputs``
    (``{path: what it is}``), else None."""
    for path, what in inputs.items():
        if same_file(out, path):
            return f"{name} {str(out)!r} is {what}: writing it would overwrite it; choose another file"
    return None


def is_own_result(out: Path, task_id: Optional[str], result: Optional[str | os.PathLike]) -> bool:
    """Whether the file at ``out`` is the result of ``task_id``: its tag says so, or it is the archived result."""
    if task_id:
        try:
            if provenance.read(out).task_id == task_id:
                return True
        except NoProvenanceError:  # not a video, or not one of the pack's results
            pass
    if result and Path(result).is_file():
        try:
            return filecmp.cmp(result, out, shallow=False)
        except OSError:
            return False
    return False


def existing_problem(out, task_id: Optional[str], result: Optional[str | os.PathLike],
                     overwrite: bool = False) -> Optional[str]:
    """Why ``out`` may not be written, when a file is there that is not ``task_id``'s result, else None."""
    out = Path(out)
    if out.is_dir():
        return f"out {str(out)!r} is a folder; give a file name like result.mp4"
    if overwrite or not out.exists() or is_own_result(out, task_id, result):
        return None
    whose = f"the result of task {task_id}" if task_id else "a result of these inputs"
    return (f"out {str(out)!r} already exists and is not {whose}; choose another out file, or pass "
            f"{OVERWRITE_FLAG} to replace it")


def check(out, *, inputs: Optional[Mapping] = None, task_id: Optional[str] = None,
          result: Optional[str | os.PathLike] = None, overwrite: bool = False) -> None:
    """Before anything is paid: InputError when ``out`` is an input, or holds a file that is not the result
    of ``task_id`` (the journal's task for these inputs, if any) and ``overwrite`` is not given."""
    problem = input_problem(out, inputs or {}) or existing_problem(out, task_id, result, overwrite)
    if problem:
        raise InputError(problem, hint="Nothing was sent or paid.")


def copy(result, out, task_id: str, *, overwrite: bool = False) -> Path:
    """The paid result copied to ``out`` (archive.copy_result), unless a file that is not this task's result
    appeared there since the check: then InputError saying where the paid result is kept."""
    problem = existing_problem(out, task_id, result, overwrite)
    if problem:
        raise InputError(problem, task_id=task_id, credits_may_be_spent=True, hint=(
            f"The paid result is kept at {result}: run the same command again with another out, or with "
            f"{OVERWRITE_FLAG}, to copy it (nothing is paid again)."))
    return archive.copy_result(result, out, task_id)
