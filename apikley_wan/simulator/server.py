"""The API server: routes, bearer auth, the ``{code, msg, data}`` envelope and request-level faults.

Business errors are HTTP 200 with the error in ``code`` (§1); only the simulated proxy error
(502) and unknown routes use a real HTTP status. Uploaded files are served without auth.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import mimetypes
import time
from urllib.parse import parse_qs, unquote, urlsplit

from apikley_wan.money.pricing import estimate_credits
from apikley_wan.api.simulated import HEADER as ANNOUNCE, VALUE as SIMULATOR

from . import multipart
from .fetch import FetchError, fetch_to
from .httpbase import Handler
from .uploads import UploadError
from .validate import Invalid, is_http_url, validate_create

API_JSON = "application/json;charset=UTF-8"
UPLOAD_JSON = "application/json"  # the upload host answers without a charset (§1)
FILES_PREFIX = "/file-upload/files/"
RATE_LIMITED = "Rate limit exceeded"
PROXY_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")

CREATE = ("POST", "/api/v1/jobs/createTask")
ROUTES = {
    CREATE: "create_task",
    ("GET", "/api/v1/jobs/recordInfo"): "record_info",
    ("POST", "/api/v1/common/download-url"): "download_url",
    ("GET", "/api/v1/chat/credit"): "credit",
    ("POST", "/file-upload/api/file-stream-upload"): "upload_stream",
    ("POST", "/file-upload/api/file-base64-upload"): "upload_base64",
    ("POST", "/file-upload/api/file-url-upload"): "upload_url",
}


class ApiHandler(Handler):
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    @property
    def sim(self):
        return self.server.sim

    def end_headers(self) -> None:
        """Every answer, errors included, says it comes from the simulator (apikley_wan/simulated.py)."""
        self.send_header(ANNOUNCE, SIMULATOR)
        super().end_headers()

    # --- plumbing -------------------------------------------------------------------------

    def dispatch(self) -> None:
        url = urlsplit(self.path)
        self.route_path = url.path
        if self.command == "GET" and url.path.startswith(FILES_PREFIX):
            return self.serve_upload(unquote(url.path[len(FILES_PREFIX):]))
        faults = self.sim.faults
        if (self.command, url.path) == CREATE:
            self.sim.store.note_create_request()  # counted on receipt, whatever happens next
        if faults.slow_seconds > 0:
            time.sleep(faults.slow_seconds)
        if faults.take("server_errors", url.path):
            self.read_body()
            self.log(502)
            return self.send_bytes(502, PROXY_502, "text/html")
        route = ROUTES.get((self.command, url.path))
        if route is None:
            return self.reply(404, "Not Found", status=404)
        if faults.take("maintenance"):
            return self.reply(455, "Service Unavailable - System is currently undergoing maintenance")
        if not self.authorized():
            return self.reply(401, "You do not have access permissions")
        getattr(self, route)(parse_qs(url.query))

    def authorized(self) -> bool:
        expected = f"Bearer {self.sim.api_key}".encode()
        return hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected)

    def log(self, code) -> None:
        self.sim.requests_log.append((self.command, self.route_path, code))

    def reply(self, code: int, msg: str, data=None, status: int = 200) -> None:
        """Answer in the envelope of the route's host (uploads add ``success``)."""
        self.read_body()
        self.log(code)
        if self.route_path.startswith("/file-upload/"):
            body = {"success": code == 200, "code": code, "msg": msg, "data": data}
            return self.send_json(body, UPLOAD_JSON, status)
        self.send_json({"code": code, "msg": msg, "data": data}, API_JSON, status)

    def hang_up(self) -> None:
        self.log(None)
        self.drop()

    def json_body(self) -> dict:
        try:
            body = json.loads(self.read_body() or b"null")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    # --- jobs and common API ---------------------------------------------------------------

    def create_task(self, _query) -> None:
        sim, faults = self.sim, self.sim.faults
        if faults.take("rate_limit_creates"):
            return self.reply(429, RATE_LIMITED)
        if faults.take("drop_before_create"):
            return self.hang_up()
        try:
            data, callback = validate_create(json.loads(self.read_body() or b"null"))
        except Invalid as exc:
            return self.reply(422, str(exc))
        except ValueError:
            return self.reply(422, "request body must be JSON")
        if not sim.rate_window.allow():
            return self.reply(429, RATE_LIMITED)
        price = estimate_credits(data.get("duration", "5"), data.get("resolution", "1080p"))
        outcome = "fail" if faults.fail_tasks else "no_url" if faults.success_without_url else "success"
        task = sim.store.create(data, callback, price, outcome)
        if task is None:
            return self.reply(402, "The current credits are insufficient. Please top up.")
        if faults.take("drop_after_create"):
            return self.hang_up()
        self.reply(200, "success", {"taskId": task.task_id, "recordId": task.task_id})

    def record_info(self, query) -> None:
        sim = self.sim
        task_id = (query.get("taskId") or [""])[0]
        if not task_id:
            return self.reply(400, "taskId parameter is required")
        task = sim.store.tasks.get(task_id)
        window = sim.faults.null_seconds if sim.faults.null_seconds is not None else sim.null_seconds
        record = task.record(window, sim.generating_after) if task else None
        if record is None:
            return self.reply(422, "recordInfo is null")
        if sim.record_credits and task.done.is_set():
            record.update(task.credit_fields())
        self.reply(200, "success", record)

    def download_url(self, _query) -> None:
        url = self.json_body().get("url")
        path = self.sim.results.path_for_url(url) or self.sim.uploads.local_path(url)
        if path is None:
            return self.reply(422, "url is wrong")
        self.reply(200, "success", self.sim.tokens.issue(path))

    def credit(self, _query) -> None:
        self.reply(200, "success", self.sim.store.credits)

    # --- uploads ---------------------------------------------------------------------------

    def upload_stream(self, _query) -> None:
        spool = self.sim.uploads.spool
        try:
            form = multipart.parse(self.rfile, self.body_length(), self.headers.get("Content-Type", ""), spool)
        except multipart.MultipartError as exc:
            self.body, self.close_connection = b"", True  # the rest of the body is not worth reading
            return self.reply(400, str(exc))
        self.body = b""
        part = form.files.pop("file", None)
        for extra in form.files.values():
            extra.path.unlink(missing_ok=True)
        if part is None:
            return self.reply(400, "file is required")
        self.store_upload(part.path, form.fields, part.filename)

    def upload_base64(self, _query) -> None:
        body = self.json_body()
        raw = body.get("base64Data")
        if not isinstance(raw, str) or not raw:
            return self.reply(400, "base64Data is required")
        mime = None
        if raw.startswith("data:"):
            header, _, raw = raw.partition(",")
            mime = header[5:].split(";")[0] or None
        try:
            content = base64.b64decode("".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            return self.reply(400, "base64Data is not valid base64")
        staged = self.sim.uploads.staging_file()
        staged.write_bytes(content)
        self.store_upload(staged, body, "", mime)

    def upload_url(self, _query) -> None:
        body = self.json_body()
        url = body.get("fileUrl")
        if not is_http_url(url):
            return self.reply(400, "fileUrl must be an http(s) URL")
        staged = self.sim.uploads.staging_file()
        try:
            fetch_to(url, staged)
        except FetchError:
            return self.reply(400, "Failed to download file from fileUrl")
        self.store_upload(staged, body, urlsplit(url).path.rsplit("/", 1)[-1])

    def store_upload(self, staged, fields: dict, original_name: str, mime: str | None = None) -> None:
        try:
            data = self.sim.uploads.store(staged, fields.get("uploadPath"), fields.get("fileName"),
                                          original_name, mime)
        except UploadError as exc:
            return self.reply(400, str(exc))
        self.reply(200, "File uploaded successfully", data)

    def serve_upload(self, file_path: str) -> None:
        path = self.sim.uploads.path_for(file_path)
        self.log(200 if path else 404)
        if path is None:
            return self.send_bytes(404, b"Not Found", "text/plain")
        self.send_file(path, mimetypes.guess_type(path.name)[0] or "application/octet-stream")
