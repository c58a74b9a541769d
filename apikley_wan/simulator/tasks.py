"""Task records, their state machine as recordInfo reports it, and the credit balance.

Each task gets a worker thread that renders the result at once, then waits until the task is
due (``task_seconds`` after creation, re-read while it waits, or ``finish_task``) and completes it. A task becomes
``success`` only once its file exists, and is charged only then.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from apikley_wan import MODEL

from .render import RenderError

GENERIC_FAIL = "Internal server error"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _compact(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def encode_param(data: dict, callback_url: Optional[str]) -> str:
    """The observed ``param``: input re-serialised as a JSON string inside JSON, key order not kept."""
    shuffled = dict(random.sample(list(data.items()), len(data)))
    outer = {"input": _compact(shuffled), "model": MODEL}
    if callback_url:
        outer["callBackUrl"] = callback_url
    return _compact(outer)


@dataclass
class Task:
    task_id: str
    input: dict
    callback_url: Optional[str]
    price: float
    outcome: str  # planned when created: "success", "fail" or "no_url"
    created: float = field(default_factory=time.time)
    param: str = ""
    state: str = "pending"  # final "success"/"fail" once ``done`` is set
    result_url: Optional[str] = None
    fail_msg: Optional[str] = None
    completed: Optional[float] = None
    remained_credits: Optional[float] = None
    finish_now: threading.Event = field(default_factory=threading.Event, repr=False)
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def credit_fields(self) -> dict:
        """What the callback (and, when asked, recordInfo) adds once the task is done (§4)."""
        return {"consumeCredits": self.price if self.state == "success" else 0, "remainedCredits": self.remained_credits}

    def record(self, null_seconds: float = 0.0, generating_after: Optional[float] = None) -> Optional[dict]:
        """recordInfo ``data`` as the real service sends it, or None ("recordInfo is null")."""
        elapsed = time.time() - self.created
        finished = self.done.is_set()
        if not finished and elapsed < null_seconds:
            return None
        if finished:
            state = self.state
        else:
            state = "generating" if generating_after is not None and elapsed >= generating_after else "waiting"
        failed = state == "fail"
        urls = [self.result_url] if self.result_url else []
        return {
            "taskId": self.task_id,
            "model": MODEL,
            "state": state,
            "param": self.param,
            "resultJson": _compact({"resultUrls": urls}) if state == "success" else "",
            "failCode": "500" if failed else None,
            "failMsg": self.fail_msg if failed else None,
            "costTime": round(self.completed - self.created) if finished else None,  # seconds (§3)
            "completeTime": _ms(self.completed) if finished else None,
            "createTime": _ms(self.created),
        }


class TaskStore:
    """Thread-safe registry; ``produce(task, cancelled) -> url`` renders, ``on_complete(task)`` notifies."""

    def __init__(self, *, credits: float, task_seconds: float,
                 produce: Callable[[Task, Callable[[], bool]], str], on_complete: Callable[[Task], None]):
        self.credits = float(credits)
        self.task_seconds = task_seconds
        self.tasks: dict[str, Task] = {}
        self.create_count = 0
        self.create_requests = 0
        self._produce, self._on_complete = produce, on_complete
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []

    def note_create_request(self) -> None:
        with self._lock:
            self.create_requests += 1

    def create(self, data: dict, callback_url: Optional[str], price: float, outcome: str) -> Optional[Task]:
        """Register and start a task; None when the balance is below its price (no task)."""
        task_id = uuid.uuid4().hex
        task = Task(task_id, data, callback_url, price, outcome, param=encode_param(data, callback_url))
        with self._lock:
            if self.credits < price:
                return None
            self.tasks[task_id] = task
            self.create_count += 1
        worker = threading.Thread(target=self._run, args=(task,), name=f"sim-task-{task_id[:8]}", daemon=True)
        self._workers.append(worker)
        worker.start()
        return task

    def finish(self, task_id: str, timeout: float = 120.0) -> Task:
        """Make a task due now and wait until it has completed (its render must still finish)."""
        task = self.tasks[task_id]
        task.finish_now.set()
        if not task.done.wait(timeout):
            raise TimeoutError(f"task {task_id} did not complete within {timeout} s")
        return task

    def stop(self) -> None:
        self._stopping.set()
        for task in list(self.tasks.values()):
            task.finish_now.set()
        for worker in self._workers:
            worker.join(timeout=10)

    def _run(self, task: Task) -> None:
        error = None
        if task.outcome == "success":
            try:
                task.result_url = self._produce(task, self._stopping.is_set)
            except RenderError as exc:
                error = str(exc)
            except Exception as exc:  # a bug or a vanished temp dir must fail the task, not hang it
                error = f"{GENERIC_FAIL}: {exc}"
        while not task.finish_now.is_set():  # re-read task_seconds: tests change it on the fly
            remaining = task.created + self.task_seconds - time.time()
            if remaining <= 0:
                break
            task.finish_now.wait(min(remaining, 0.1))
        if self._stopping.is_set():
            return
        self._complete(task, error)
        self._on_complete(task)

    def _complete(self, task: Task, error: Optional[str]) -> None:
        with self._lock:
            task.completed = time.time()
            if error or task.outcome == "fail":
                task.state, task.fail_msg, task.result_url = "fail", error or GENERIC_FAIL, None
            else:
                task.state = "success"
                self.credits -= task.price
            task.remained_credits = self.credits
        task.done.set()
