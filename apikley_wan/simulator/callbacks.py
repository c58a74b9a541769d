"""Completion callbacks (§4): the recordInfo data plus credits, optionally HMAC-signed.

Delivery is best-effort like the real service: one POST per repeat, 15 s timeout, errors ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Optional

from .fetch import OPENER
from .tasks import Task

TIMEOUT = 15.0


def payload(task: Task) -> dict:
    data = {**task.record(), **task.credit_fields()}
    if task.state == "success":
        return {"code": 200, "msg": "Playground task completed successfully.", "data": data}
    return {"code": 501, "msg": "Playground task failed.", "data": data}


def signature(hmac_key: str, task_id: str, timestamp: int) -> str:
    """base64(HMAC-SHA256(key, "<taskId>.<timestamp>")), the documented X-Webhook-Signature."""
    digest = hmac.new(hmac_key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def deliver(task: Task, hmac_key: Optional[str], repeats: int, log: list) -> None:
    """POST the callback ``repeats`` times (blocking; run it in a thread); append each HTTP status
    (or the error's name) with the task id to ``log`` so tests can see what the receiver said."""
    body = json.dumps(payload(task), ensure_ascii=False, separators=(",", ":")).encode()
    for _ in range(max(repeats, 1)):
        headers = {"Content-Type": "application/json", "User-Agent": "apikley-simulator"}
        if hmac_key:
            timestamp = int(time.time())
            headers["X-Webhook-Timestamp"] = str(timestamp)
            headers["X-Webhook-Signature"] = signature(hmac_key, task.task_id, timestamp)
        request = urllib.request.Request(task.callback_url, data=body, headers=headers, method="POST")
        try:
            with OPENER.open(request, timeout=TIMEOUT) as answer:
                answer.read()
                log.append((task.task_id, answer.status))
        except urllib.error.HTTPError as exc:
            log.append((task.task_id, exc.code))
        except (OSError, ValueError) as exc:
            log.append((task.task_id, type(exc).__name__))
