"""Downloading a paid result, never with the key: its redirects followed by hand, each hop refused when it
points at this machine or its LAN (unless the API itself is local), the length checked on the wire, an expired
link swapped once for a fresh one, Cancel felt per read. The result half of ``ApikleyClient`` (client.py),
which gives it ``cancel``, ``timeout``, ``base_url``, ``api_key``, ``download_backoff_s`` and ``retried_call``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from ..errors import ApikleyError, DownloadError, NetworkError, StorageError
from ..files import open_part, write_all
from .hosts import refused_host
from .transport import OnRetry, host_of, network_cause, tell_retry
from .untrusted import scrub, short_text

MAX_RESULT_BYTES = 2 * 1024 ** 3
# downloads read what has arrived, at most this much at a time, so Cancel is felt per read
_CHUNK = 64 * 1024
# a result link may redirect this many times (each hop checked like the first), no more
MAX_RESULT_REDIRECTS = 5


class ResultDownloads:
    def fresh_download_url(self, url: str, task_id: Optional[str] = None) -> str:
        return str(self.retried_call("POST", "/api/v1/common/download-url", json={"url": url}, task_id=task_id,
                                     action="download"))

    def download(self, url: str, dest: str | os.PathLike, *, task_id: Optional[str] = None,
                 max_bytes: int = MAX_RESULT_BYTES, attempts: int = 4, on_retry: OnRetry = None) -> Path:
        """Stream a result to ``dest`` (temp file, renamed when complete), never with the key.

        An expired URL (403/404/410) is swapped once for a fresh one from download-url. A local
        write failure (disk full) is not retried; ``on_retry`` hears each retry in words.
        """
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"the folder {dest.parent} could not be created ({exc.strerror})",
                               task_id=task_id) from None
        current, refreshed = url, False
        last: Optional[ApikleyError] = None
        for attempt in range(1, attempts + 1):
            self.cancel.raise_if_requested(task_id)
            try:
                self._stream_to(current, dest, max_bytes, task_id)
                return dest
            except _Expired as exc:
                last = DownloadError(str(exc), task_id=task_id)
                if refreshed:
                    break
                current, refreshed = self.fresh_download_url(url, task_id=task_id), True
            except _Refused as exc:  # the same link would be refused again
                raise DownloadError(str(exc), task_id=task_id, hint=(
                    "The pack fetches results only from public hosts (local ones only when the API itself is "
                    "local); the task is kept: collect it by its task id once the provider gives a public link."
                )) from None
            except StorageError:
                raise
            except (DownloadError, NetworkError) as exc:
                last = exc if isinstance(exc, DownloadError) else DownloadError(exc.detail, task_id=task_id)
                if attempt < attempts:
                    tell_retry(on_retry, last, attempt, attempts)
                self.cancel.sleep(min(self.download_backoff_s * attempt, 10.0), task_id=task_id)
        raise last or DownloadError("unknown error", task_id=task_id)

    def _open_result(self, url: str, task_id: Optional[str]) -> requests.Response:
        """GET a result link, its redirects followed by hand (at most ``MAX_RESULT_REDIRECTS``), each hop
        refused when it is local or private and the API is not (as a ``video_url`` is). A plain request:
        result hosts never see the Authorization header. ``identity``: the length a host states is then
        the length of the file (a host that encodes anyway is decoded, its length checked on the wire)."""
        for _ in range(MAX_RESULT_REDIRECTS + 1):
            self.cancel.raise_if_requested(task_id)
            if urlsplit(url).scheme not in ("http", "https"):
                raise _Refused(f"the result link is not http(s) ({short_text(urlsplit(url).scheme, 20)!r})")
            host = refused_host(url, self.base_url)
            if host is not None:
                raise _Refused(f"the result link points at {short_text(host, 80)!r}, a local or private address; "
                               "it was not fetched")
            try:
                resp = requests.get(url, stream=True, timeout=self.timeout, allow_redirects=False,
                                    headers={"Accept-Encoding": "identity"})
            except requests.exceptions.RequestException as exc:
                raise DownloadError(f"{network_cause(exc)} ({host_of(url)})", task_id=task_id) from None
            if not resp.is_redirect:
                return resp
            resp.close()
            url = urljoin(url, scrub(resp.headers["Location"], self.api_key))  # it may end up in a message
        raise _Refused(f"the result link redirected more than {MAX_RESULT_REDIRECTS} times")

    def _stream_to(self, url: str, dest: Path, max_bytes: int, task_id: Optional[str]) -> None:
        resp = self._open_result(url, task_id)
        with resp, self.cancel.closing(resp.raw.shutdown):
            if resp.status_code in (401, 403, 404, 410):
                raise _Expired(f"HTTP {resp.status_code} from the result host (link expired?)")
            if resp.status_code != 200:
                raise DownloadError(f"HTTP {resp.status_code} from the result host", task_id=task_id)
            try:
                expected = int(resp.headers.get("Content-Length") or 0)
            except ValueError:
                expected = 0
            if expected > max_bytes:
                raise DownloadError(f"result is {expected} bytes, over the {max_bytes} cap", task_id=task_id)
            part, fh = open_part(dest, task_id)
            got = 0
            try:
                with fh:
                    while True:
                        # what has arrived (at most a chunk): a slow host cannot hold off Cancel
                        chunk = resp.raw.read1(_CHUNK, decode_content=True)
                        self.cancel.raise_if_requested(task_id)
                        if not chunk:
                            break
                        got += len(chunk)
                        if got > max_bytes:
                            raise DownloadError(f"result exceeds the {max_bytes}-byte cap", task_id=task_id)
                        write_all(fh, chunk, dest, task_id)
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                part.unlink(missing_ok=True)
                self.cancel.raise_if_requested(task_id)
                raise DownloadError(f"{network_cause(exc)} after {got} bytes ({host_of(url)})",
                                    task_id=task_id) from None
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            received = resp.raw.tell()  # the bytes on the wire, which Content-Length counts (got: decoded)
            if (expected and received != expected) or got == 0:
                part.unlink(missing_ok=True)
                raise DownloadError(f"truncated: got {received} of {expected or '?'} bytes", task_id=task_id)
        os.replace(part, dest)


class _Expired(Exception):
    pass


class _Refused(Exception):
    """A result link the pack will not fetch (not retried: the same link is refused again)."""

