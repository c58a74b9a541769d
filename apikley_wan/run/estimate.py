"""Would a run of these inputs pay? Answered from the journal by the inputs' fingerprint, without
running anything: the run's total before Run counts a re-used result as 0.

The fingerprint is ``request.fingerprint`` itself (the same bytes hashed the same way as a run
would), so the answer can only be wrong when the inputs change between the question and the run.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

from .request import GenerationRequest, Reference, fingerprint

# re-hashing a large clip at every graph edit would be slow; a file is re-read when it changes
_CACHED_FINGERPRINTS = 256


def reuse(journal, request: GenerationRequest, api_base: str,
          fingerprints: Optional["Fingerprints"] = None) -> Optional[bool]:
    """The journal's verdict (``journal.verdict``) in the estimate's words: True when a run would re-use
    or attach to a recorded task (no new charge), False when it would create one (pay), None when it
    cannot be told before running (another run is creating the task right now, or a create's answer was
    lost and the run would stop and say so rather than pay); the page counts None as paid. ``fingerprints``
    (the Runtime's) keeps the clips' hashes between questions."""
    fp = (fingerprints or Fingerprints(0)).of(request, api_base)
    pays = journal.verdict(journal.by_fingerprint(fp)).pays
    return None if pays is None else not pays


class Fingerprints:
    """``fingerprint(request)`` for requests whose clips are file paths, kept by each file's size and
    modification time (a rewritten clip is hashed again), the latest ``size`` of them."""

    def __init__(self, size: int = _CACHED_FINGERPRINTS):
        self._of = functools.lru_cache(maxsize=size)(_fingerprint_of)

    def of(self, request: GenerationRequest, api_base: str) -> str:
        paths = tuple(ref.source for ref in request.references if ref.url is None)
        if not all(isinstance(p, str) for p in paths):
            return fingerprint(request, api_base)[0]
        stamps = tuple((os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths)
        urls = tuple(ref.url for ref in request.references)
        return self._of(api_base, request.prompt, request.duration, request.resolution, paths, urls,
                        request.multi_shots, request.take, stamps)


def _fingerprint_of(api_base, prompt, duration, resolution, paths, urls, multi_shots, take, _stamps) -> str:
    sources = iter(paths)
    refs = [Reference(url=url) if url is not None else Reference(source=next(sources)) for url in urls]
    request = GenerationRequest(prompt=prompt, duration=duration, resolution=resolution, references=refs,
                                multi_shots=multi_shots, take=take)
    return fingerprint(request, api_base)[0]
