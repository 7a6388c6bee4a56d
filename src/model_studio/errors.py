"""Typed errors shared by every front door.

Each error carries a message, structured details and the steps that resolve it, and renders as
``{"error": {"type", "message", "details", "resolution_steps"}}`` over REST. Subclasses also inherit
a builtin where one fits, so callers' ``except LookupError`` / ``except ValueError`` keep working.
"""

from __future__ import annotations

from typing import Any


class StudioError(Exception):
    """Base class of every error the studio raises on purpose."""

    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        resolution_steps: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.resolution_steps: list[str] = list(resolution_steps or [])

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this error: ``{"error": {...}}``."""
        return {
            "error": {
                "type": self.type,
                "message": self.message,
                "details": self.details,
                "resolution_steps": self.resolution_steps,
            }
        }

    def one_line(self) -> str:
        """A readable line for terminals and magics (no traceback)."""
        line = f"{self.type}: {self.message}"
        if self.resolution_steps:
            line += f" ({self.resolution_steps[0]})"
        return line

    def __reduce__(self):  # keep details when pickled across processes
        return (_rebuild, (self.type, self.message, self.details, self.resolution_steps))


# --- input ------------------------------------------------------------------------------------


class ValidationError(StudioError, ValueError):
    """The caller's input is malformed or out of range."""

    http_status = 400


class PayloadTooLargeError(ValidationError):
    """The request body is over the documented size limit of its route."""

    http_status = 413


class NotFoundError(StudioError, LookupError):
    """A model, file, revision or job does not exist."""

    http_status = 404


class ConflictError(StudioError, RuntimeError):
    """The request is valid but clashes with the current state (e.g. delete while downloading)."""

    http_status = 409


class PermissionDeniedError(StudioError, PermissionError):
    """The server's Authorizer does not let this user do this (e.g. a read-only JupyterHub user)."""

    http_status = 403


class GatedError(StudioError, PermissionError):
    """The Hub refused a gated repository's files: it needs a Hugging Face login (a token) and its terms
    accepted on the Hub.

    403, not 401: the studio request itself is authenticated (a 401 from the studio would read as a bad
    Jupyter token, and OpenAI clients take 401 as a wrong API key); it is the Hub that withholds the
    resource, which is what 403 Forbidden says. ``details`` name ``repo_id``, ``terms_url`` and whether
    a token was sent; the resolution steps link to the login (Settings) and the terms page.
    """

    http_status = 403


#: The former name (jobs stored by older versions carry it; ``except GatedRepoError`` keeps working).
GatedRepoError = GatedError


class ForbiddenPathError(StudioError, PermissionError):
    """A server path outside the folders this caller may reach (REST: Jupyter's root_dir, the studio home).

    403 whether or not the path exists, so a caller cannot probe the server's files.
    """

    http_status = 403


class ReadOnlyModelError(StudioError, PermissionError):
    """A model the studio reads but does not own cannot be deleted or changed from here: one in another
    tool's store (LM Studio, Ollama; the message says how to delete it there) or in a read-only shared
    folder (``shared_model_dirs``, e.g. a JupyterHub-wide cache). ``details`` name the model and its folder."""

    http_status = 403


# --- network and integrity ----------------------------------------------------------------------


class NetworkError(StudioError, ConnectionError):
    """The Hub could not be reached, or kept failing after retries."""

    http_status = 502


class EndpointAuthError(StudioError, PermissionError):
    """A remote serving endpoint refused the API key it was given (its 401 or 403).

    403, not 401, for the reason ``GatedError`` gives: the studio request itself is authenticated; it is
    the remote engine that refuses the endpoint's saved key. ``details`` name the endpoint and its status.
    """

    http_status = 403


class IntegrityError(StudioError):
    """Downloaded content does not match the checksum or size the Hub published."""

    http_status = 502


class BrokenFileError(IntegrityError):
    """A model file on this machine cannot be used: empty, truncated, not in its format, or a link
    to nothing. The request was fine and so is the Hub, hence 422 rather than 400 or 502."""

    http_status = 422


# --- resources ----------------------------------------------------------------------------------


class DiskSpaceError(StudioError, OSError):
    """Not enough free disk space for the planned download."""

    http_status = 507


class ResourceError(StudioError, MemoryError):
    """Not enough RAM or VRAM for the requested model or generation."""

    http_status = 507


# --- lifecycle ----------------------------------------------------------------------------------


class CancelledError(StudioError):
    """The job was cancelled or paused by the user."""

    http_status = 409


class BackendUnavailableError(StudioError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    http_status = 501


class HostCrashedError(StudioError, ConnectionError):
    """The model host died (a native crash, an out-of-memory kill) or could not start. ``details``
    carry its exit code or signal and the tail of its log; the next request starts a new host.
    503: the service is unavailable now, and a retry is answered by a fresh host."""

    http_status = 503

    @classmethod
    def from_crash(cls, message: str, crash: dict[str, Any]) -> HostCrashedError:
        """The error for a crash recorded by the host launcher (``{reason, exit_code, signal, log_tail}``)."""
        why = crash.get("signal") or (f"exit code {crash['exit_code']}" if crash.get("exit_code") is not None
                                      else crash.get("reason"))
        return cls(f"{message} ({why})" if why else message,
                   details={k: crash.get(k) for k in ("pid", "reason", "exit_code", "signal", "log_tail", "at")},
                   resolution_steps=["Send the request again: a new model host starts",
                                     "See the host's log: model-studio host logs"])


ERROR_TYPES: dict[str, type[StudioError]] = {
    cls.__name__: cls
    for cls in (
        StudioError,
        ValidationError,
        PayloadTooLargeError,
        NotFoundError,
        ConflictError,
        PermissionDeniedError,
        ReadOnlyModelError,
        GatedError,
        ForbiddenPathError,
        ReadOnlyModelError,
        NetworkError,
        EndpointAuthError,
        IntegrityError,
        BrokenFileError,
        DiskSpaceError,
        ResourceError,
        CancelledError,
        BackendUnavailableError,
        HostCrashedError,
    )
}
ERROR_TYPES["GatedRepoError"] = GatedError


def _rebuild(type_name: str, message: str, details: dict, steps: list[str]) -> StudioError:
    cls = ERROR_TYPES.get(type_name, StudioError)
    return cls(message, details=details, resolution_steps=steps)


def error_from_dict(data: dict[str, Any]) -> StudioError:
    """Rebuild a typed error from its JSON shape (as stored on a job or sent over REST)."""
    body = data.get("error", data)
    return _rebuild(
        str(body.get("type", "StudioError")),
        str(body.get("message", "")),
        dict(body.get("details") or {}),
        list(body.get("resolution_steps") or []),
    )


def broken_file(path: Any, problem: str, *, model: str | None = None,
                resolution_steps: list[str] | None = None) -> BrokenFileError:
    """The error for an unusable local file: ``"<path> <problem>"`` with what resolves it."""
    details: dict[str, Any] = {"path": str(path), "problem": problem}
    if model is not None:
        details["model"] = model
    return BrokenFileError(
        f"{path} {problem}", details=details,
        resolution_steps=resolution_steps or ["Delete the file and download it again, or replace it with a "
                                              "complete copy"])


def backend_unavailable(package: str, extra: str, purpose: str) -> BackendUnavailableError:
    """The error for a missing optional dependency, naming the extra that installs it."""
    return BackendUnavailableError(
        f"{purpose} needs the optional package '{package}', which is not installed.",
        details={"package": package, "extra": extra},
        resolution_steps=[f"pip install 'jupyter-model-studio[{extra}]'"],
    )


def gated_error(repo_id: str, *, token_sent: bool, status: int | None = None, file: str | None = None,
                hub_message: str = "") -> GatedError:
    """The error for a gated repository: without a token the user must log in; with one, the terms
    (licence) of ``repo_id`` must be accepted on the Hub. Never carries the token itself."""
    terms = f"https://huggingface.co/{repo_id}"
    if token_sent:
        message = (f"{repo_id} is gated: the Hub refused this account's token; accept the model's terms "
                   f"at {terms} (or log in with an account that has)")
    else:
        message = f"{repo_id} is gated: log in with a Hugging Face token and accept its terms at {terms}"
    details: dict[str, Any] = {"repo_id": repo_id, "terms_url": terms, "token_sent": token_sent,
                               "login": "settings"}
    for key, value in (("status", status), ("file", file), ("hub_message", hub_message[:500])):
        if value:
            details[key] = value
    steps = [f"Accept the model's terms on its page: {terms}",
             "Log in with a Hugging Face token: Settings \u2192 Hugging Face login in the studio "
             "(POST /model-studio/api/auth/login), or `hf auth login`, or set HF_TOKEN"]
    if not token_sent:
        steps.reverse()
    return GatedError(message, details=details, resolution_steps=steps)
