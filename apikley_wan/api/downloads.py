"""Fetching a paid result from its host, never with the key: its redirects followed by hand, each hop refused
when it points at this machine or its LAN (unless the API itself is local), at most ``max_bytes``, the length
checked on the wire, Cancel felt per read. One attempt; the client's ``download`` retries it and swaps an
expired link for a fresh one (an API call)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from ..errors import DownloadError
from ..files import open_part, write_all
from .cancel import Cancel
from .hosts import refused_host
from .transport import host_of, network_cause
from .untrusted import scrub, short_text

MAX_RESULT_BYTES = 2 * 1024 ** 3
# downloads read what has arrived, at most this much at a time, so Cancel is felt per read
_CHUNK = 64 * 1024
# a result link may redirect this many times (each hop checked like the first), no more
MAX_RESULT_REDIRECTS = 5


def fetch_result(url: str, dest: Path, *, cancel: Cancel, timeout, api_base: str, secret: Optional[str],
                 max_bytes: int = MAX_RESULT_BYTES, task_id: Optional[str] = None) -> None:
    """One attempt at the result behind ``url``, written whole to ``dest`` (beside it first, renamed when
    complete) or not at all. ``ResultExpired`` when the host says the link is gone (a fresh one may work),
    ``ResultRefused`` when the pack will not fetch it; DownloadError otherwise."""
    resp = _open(url, cancel=cancel, timeout=timeout, api_base=api_base, secret=secret, task_id=task_id)
    with resp, cancel.closing(resp.raw.shutdown):
        if resp.status_code in (401, 403, 404, 410):
            raise ResultExpired(f"HTTP {resp.status_code} from the result host (link expired?)")
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
                    cancel.raise_if_requested(task_id)
                    if not chunk:
                        break
                    got += len(chunk)
                    if got > max_bytes:
                        raise DownloadError(f"result exceeds the {max_bytes}-byte cap", task_id=task_id)
                    write_all(fh, chunk, dest, task_id)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            part.unlink(missing_ok=True)
            cancel.raise_if_requested(task_id)
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


def _open(url: str, *, cancel: Cancel, timeout, api_base: str, secret: Optional[str],
          task_id: Optional[str]) -> requests.Response:
    """GET a result link, its redirects followed by hand (at most ``MAX_RESULT_REDIRECTS``), each hop
    refused when it is local or private and the API is not (as a ``video_url`` is). A plain request:
    result hosts never see the Authorization header. ``identity``: the length a host states is then
    the length of the file (a host that encodes anyway is decoded, its length checked on the wire)."""
    for _ in range(MAX_RESULT_REDIRECTS + 1):
        cancel.raise_if_requested(task_id)
        if urlsplit(url).scheme not in ("http", "https"):
            raise ResultRefused(f"the result link is not http(s) ({short_text(urlsplit(url).scheme, 20)!r})")
        host = refused_host(url, api_base)
        if host is not None:
            raise ResultRefused(f"the result link points at {short_text(host, 80)!r}, a local or private address; "
                                "it was not fetched")
        try:
            resp = requests.get(url, stream=True, timeout=timeout, allow_redirects=False,
                                headers={"Accept-Encoding": "identity"})
        except requests.exceptions.RequestException as exc:
            raise DownloadError(f"{network_cause(exc)} ({host_of(url)})", task_id=task_id) from None
        if not resp.is_redirect:
            return resp
        resp.close()
        url = urljoin(url, scrub(resp.headers["Location"], secret))  # it may end up in a message
    raise ResultRefused(f"the result link redirected more than {MAX_RESULT_REDIRECTS} times")


class ResultExpired(Exception):
    """The result host says the link is gone (401, 403, 404, 410): a fresh link may work."""


class ResultRefused(Exception):
    """A result link the pack will not fetch (not retried: the same link is refused again)."""
