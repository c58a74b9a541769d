"""Typed errors of the core, each able to say what failed, which task, what to do, and money.

Nodes and the command-line runner show ``err.user_message()``; nothing here ever
holds the API key (the client never puts it into a message).
"""

from __future__ import annotations

from typing import Optional


class ApikleyError(Exception):
    """Base error. ``credits_may_be_spent`` tells the user whether money may be gone."""

    what = "The apikley request failed"
    hint = ""
    credits_may_be_spent = False

    def __init__(self, detail: str = "", *, task_id: Optional[str] = None, code: Optional[int] = None,
                 hint: Optional[str] = None, credits_may_be_spent: Optional[bool] = None):
        self.detail = detail
        self.task_id = task_id
        self.code = code
        if hint is not None:
            self.hint = hint
        if credits_may_be_spent is not None:
            self.credits_may_be_spent = credits_may_be_spent
        super().__init__(self.user_message())

    # when set, said instead of the credits sentence (for errors that happen apart from any paid call)
    money_note: Optional[str] = None

    def user_message(self) -> str:
        parts = [self.what + (f": {self.detail}" if self.detail else "")]
        if self.code is not None:
            parts[0] += f" (API code {self.code})"
        if not parts[0].endswith((".", "!", "?", "…")):
            parts[0] += "."
        if self.task_id:
            parts.append(f"Task id: {self.task_id}.")
        if self.hint:
            parts.append(self.hint)
        if self.money_note:
            parts.append(self.money_note)
        else:
            parts.append("Credits may have been spent." if self.credits_may_be_spent else "No credits were spent.")
        return " ".join(parts)

    def __str__(self) -> str:  # keep task id added after construction visible
        return self.user_message()

    def briefly(self) -> str:
        """What went wrong in a few words, for a status line ("the API rate limit was hit")."""
        return self.what[:1].lower() + self.what[1:]


class InputError(ApikleyError):
    what = "Invalid input"
    hint = "Fix the input and run again; nothing was sent to the API."


class NoProvenanceError(InputError):
    """A video file with no apikley task in its metadata (provenance.py)."""

    what = "This file carries no apikley task"
    hint = ("Use a result file the pack saved (output/apikley_wan/…mp4, or a copy of it), or paste the task id "
            "from the .json file beside it into Task From Id.")


class ProvenanceInvalidError(NoProvenanceError):
    """The file names an apikley task, but what it says cannot be trusted (bad id, oversized)."""

    what = "This file names an apikley task, but its task id is not valid"


class TooLargeError(ApikleyError):
    """Decoding would need more memory than allowed: refused before anything is allocated."""

    what = "The video is too large to decode into frames"
    money_note = "Nothing was sent to the API because of this, and no result is lost."


class KeyNotSavedError(ApikleyError):
    """A pasted key was not saved; the key in use stays as it was."""

    what = "The key was not saved"
    money_note = "The saved key is unchanged."


class KeyInvalidError(KeyNotSavedError):
    what = "That is not an API key"


class KeyRefusedError(KeyNotSavedError):
    what = "The API did not accept this key"


class KeyUncheckedError(KeyNotSavedError):
    """The API could not be reached to check the key: nothing is wrong with the key as far as is known."""

    what = "The key could not be checked: the API did not answer"
    hint = "Check the network connection (and proxy) and APIKLEY_BASE_URL, then press Check & save again."


class KeyNotStoredError(KeyNotSavedError):
    what = "The key could not be saved"


class KeyNotRemovedError(KeyNotStoredError):
    what = "The saved key could not be removed"
    money_note = "The key in use is unchanged."


class BusyError(ApikleyError):
    """The same work is already running (e.g. a double click on Collect)."""

    what = "Already in progress"
    money_note = "Nothing new was started."


class ConfigError(ApikleyError):
    what = "Not configured"


class BudgetError(ApikleyError):
    """A paid create the budget guard (budget.py) refused: nothing was uploaded or created for it.
    ``cap`` names the cap (its environment variable)."""

    what = "Budget cap reached"

    def __init__(self, detail: str = "", *, cap: Optional[str] = None, **kw):
        self.cap = cap
        super().__init__(detail, **kw)


class JournalError(ApikleyError):
    """The task journal (the file that prevents paying twice) cannot be read or written."""

    what = "The task journal could not be used"

    def __init__(self, detail: str = "", *, path=None, **kw):
        kw.setdefault("hint", f"The journal file {path} is damaged, locked or not writable. Fix its permissions "
                              "or free disk space; if it is damaged, move it aside (a new journal is started, "
                              "and results already saved stay in the output folder)." if path else None)
        super().__init__(detail, **kw)


class AuthError(ApikleyError):
    what = "The API key was refused"
    hint = ("Set a valid key in APIKLEY_API_KEY or in the pack's key file "
            "(ComfyUI Settings > apikley).")


class InsufficientCreditsError(ApikleyError):
    what = "Not enough credits on the apikley account"
    hint = "Top up the account, then run again."


class NotFoundError(ApikleyError):
    what = "Not found"
    hint = "Check the task id or the API base URL (APIKLEY_BASE_URL)."


class ApiValidationError(ApikleyError):
    what = "The API refused the request parameters"
    hint = "Check prompt, video URLs, duration and resolution."


class RateLimitError(ApikleyError):
    what = "The API rate limit was hit"
    hint = "Wait a little and run again."


class MaintenanceError(ApikleyError):
    what = "The API is under maintenance"
    hint = "Try again later."


class ServerError(ApikleyError):
    what = "The API had a server error"
    hint = "Try again in a few minutes."


class FeatureDisabledError(ApikleyError):
    what = "This feature is disabled on the API"
    hint = "The model may be switched off for your account; contact apikley support."


class BadResponseError(ApikleyError):
    what = "The API answered with something that is not its JSON envelope"
    hint = "A proxy or firewall may be in the way; check APIKLEY_BASE_URL and proxy settings."


class BalanceUnreadableError(BadResponseError):
    what = "The API's balance answer is not a number of credits >= 0"
    hint = "Check the balance on the apikley site; the pack counts it as a balance that cannot be read."


class NetworkError(ApikleyError):
    """A request that got no answer: refused, timed out, name not resolved, connection lost.

    ``cause`` is the reason in a few words and ``host`` where the request went (never a path or a query:
    a signed link's token stays out of messages). Once the client gives up it says what failed, in the
    user's words, and after how many tries (``gave_up``). No credits are spent by a request that got no
    answer, except a create (the client turns a lost create answer into CreateUncertainError) and anything
    about an existing task (the client then names the task).
    """

    _WHAT = {None: "Could not reach the API", "upload": "Uploading the reference clip failed",
             "create": "Creating the task failed (no task was made)", "status": "Checking the task's status failed",
             "download": "Downloading the result failed", "balance": "Reading the account balance failed"}
    hint = ("Check the network connection (and proxy) and APIKLEY_BASE_URL, then run again; "
            "re-running never pays twice.")

    def __init__(self, cause: str = "network error", *, host: Optional[str] = None, **kw):
        self.cause, self.host, self.action, self.attempts = cause, host, None, 1
        self.nothing_sent = False  # the connection was never made (refused, name not resolved, connect timeout)
        super().__init__(self._detail(), **kw)

    @property
    def what(self) -> str:
        return self._WHAT.get(self.action, self._WHAT[None])

    def briefly(self) -> str:
        return self.cause

    def _detail(self) -> str:
        where = [w for w in (self.host, f"{self.attempts} tries" if self.attempts > 1 else None) if w]
        return self.cause + (f" ({', '.join(where)})" if where else "")

    def gave_up(self, action: str, attempts: int) -> "NetworkError":
        """What failed (a key of ``_WHAT``) and after how many tries; returns the error for ``raise``."""
        self.action, self.attempts = action, attempts
        self.detail = self._detail()
        if action == "balance":
            self.hint = "Check the network connection (and proxy) and APIKLEY_BASE_URL, then try again."
        return self


class CreateUncertainError(ApikleyError):
    """The create request was sent but no answer proves whether a task exists."""

    what = "The task may have been created, but the answer was lost"
    hint = ("It was NOT re-sent, to avoid paying twice. Check your apikley task log; if a task "
            "exists, collect it by its task id. To create a new one anyway, change 'take'.")
    credits_may_be_spent = True


class TaskIdTakenError(CreateUncertainError):
    """The create's answer named a task id another journal entry already holds: a task may exist for
    this entry, under an id that cannot tell it apart. The journal itself is fine and must be kept."""

    what = "The API answered a task id this journal already holds for other inputs"

    def __init__(self, task_id: str, entry_id: int, holder_id: int):
        super().__init__(f"task {task_id} is journal entry {holder_id}'s; this create was entry {entry_id}", hint=(
            f"Entry {entry_id} stays uncertain and was NOT re-sent, to avoid paying twice; the journal is fine, "
            "keep it (it records the tasks already paid for). Look in your apikley task log for a task made now "
            "for these inputs and collect it by its id; or give it up with `python -m apikley_wan abandon "
            f"{entry_id}` (or change 'take') to deliberately create a new one."))


def link_hint(entry_id: int, task_id: Optional[str] = None, out: str = "--out FILE") -> str:
    """How to tie a task to the journal entry whose create answer was lost, so its inputs re-use it."""
    lead = "Link it" if task_id else "Once you know its task id (apikley task log), link it"
    return (f"{lead} to journal entry {entry_id}: `python -m apikley_wan collect {task_id or 'TASK_ID'} --entry "
            f"{entry_id} {out}` (or the tasks panel's \"I know the task id…\"); the same inputs then re-use "
            "that task instead of paying again.")


class GenerationFailedError(ApikleyError):
    what = "The generation failed on the provider"
    hint = ("Adjust the prompt or the reference clip and run again (failed tasks are normally not charged): "
            "re-queuing the all-in-one node creates a new task; after Submit → Poll, change 'take'.")
    credits_may_be_spent = True

    def __init__(self, detail: str = "", *, fail_code: Optional[str] = None, fail_msg: Optional[str] = None,
                 **kw):
        self.fail_code = fail_code
        self.fail_msg = fail_msg
        super().__init__(detail, **kw)


class TaskStillPendingError(ApikleyError):
    what = "The task did not finish before the deadline"
    hint = ("It is still recorded as pending and may yet finish (and be billed); run again with the "
            "same inputs, or collect it by task id, to pick up the result without paying again.")
    credits_may_be_spent = True


class ResultMissingError(ApikleyError):
    what = "The task succeeded but returned no result URL"
    hint = "Run again later to collect it; it will not be created again."
    credits_may_be_spent = True


class DownloadError(ApikleyError):
    what = "Downloading the result failed"
    hint = "Run again with the same inputs to retry the download; the task will not be created again."
    credits_may_be_spent = True

    def briefly(self) -> str:
        return self.detail or super().briefly()  # the cause ("connection refused (host)"), for a retry's note


class ResultInvalidError(DownloadError):
    """What the result host sent is not a video: it was deleted, and the task stays collectable."""

    what = "The downloaded result is not a playable video"
    hint = ("The task was paid for, so it is kept: the result is fetched again on the next run with the same "
            "inputs (or with `collect`), never created again.")


class StorageError(DownloadError):
    """The result could not be written locally (disk full, no permission): retrying at once won't help."""

    what = "The result could not be saved"
    hint = ("Free disk space (or fix the output folder's permissions), then run again with the same inputs "
            "(or `collect` the task): it is downloaded again, never created again.")


class RunCancelledError(ApikleyError):
    what = "Cancelled"
    hint = ("The provider may still finish (and bill) the task; re-queue with the same inputs "
            "to collect it without paying again.")
    credits_may_be_spent = True


_BY_CODE = {
    401: AuthError,
    402: InsufficientCreditsError,
    404: NotFoundError,
    422: ApiValidationError,
    429: RateLimitError,
    455: MaintenanceError,
    500: ServerError,
    501: GenerationFailedError,
    505: FeatureDisabledError,
}


def error_for_code(code: int, msg: str, *, task_id: Optional[str] = None,
                   credits_may_be_spent: Optional[bool] = None) -> ApikleyError:
    """The typed error for an envelope code (unknown codes become a ServerError-like error)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if code >= 500 else ApikleyError
    return cls(msg or "", code=code, task_id=task_id, credits_may_be_spent=credits_may_be_spent)
