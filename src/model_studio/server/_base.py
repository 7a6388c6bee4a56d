"""The base of every studio handler, and the one error writer of the REST and OpenAI surfaces.

An error has one of two shapes, chosen by the handler's ``error_shape``:

- ``ErrorShape.STUDIO`` (``/model-studio/api``): ``{"error": {"type", "message", "details",
  "resolution_steps"}}``, the engine's ``StudioError.to_dict()``;
- ``ErrorShape.OPENAI`` (``/model-studio/v1``): ``{"error": {"message", "type", "param", "code"}}``,
  what OpenAI's clients parse; errors that retrying cannot fix carry ``x-should-retry: false``.

Whatever goes wrong (a typed ``StudioError``, an ``OpenAIError``, tornado's ``HTTPError`` for 403,
404, 405, or a bug) is answered by ``ErrorWriter.write_error_response`` in the handler's shape, both
when a handler catches it and when it reaches tornado (``write_error``).

This module imports no handler module, so every handler module can import it (no cycle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin

from ..core.chat.openai_request import OpenAIError, from_studio_error
from ..errors import StudioError

if TYPE_CHECKING:
    from ..core import Engine

# The resource every studio route is authorized on (REST, /v1, events, video files).
AUTH_RESOURCE = "model-studio"
_SERVER_LOG = "Internal server error; see the Jupyter server log"


class ErrorShape(Enum):
    STUDIO = "studio"
    OPENAI = "openai"


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_body(type_: str, message: str, details: dict | None = None) -> dict[str, Any]:
    """The studio shape for an error that is not a ``StudioError``."""
    return {"error": {"type": type_, "message": message, "details": details or {}, "resolution_steps": []}}


def _http_message(exc: BaseException | None, status: int, reason: str | None) -> str:
    """What to say for an error that is not typed: tornado's message, or the status phrase; never a
    bug's own text (that stays in the server log)."""
    if status >= 500:
        return _SERVER_LOG
    message = reason or HTTPStatus(status).phrase
    if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
        message = exc.log_message % exc.args  # tornado stores "%" as "%%" when there are no args
    return message


def error_response(exc: BaseException | None, status: int, shape: ErrorShape, *, reason: str | None = None,
                   anonymous: bool = False) -> ErrorResponse:
    """The status, body and headers that answer ``exc`` in ``shape``.

    A ``StudioError`` or ``OpenAIError`` brings its own status; anything else is answered with
    ``status`` (tornado's, e.g. 403, 404, 405, or 500 for a bug). ``reason`` is tornado's reason
    phrase; ``anonymous`` says the request had no valid token (OpenAI's clients expect 401 then).
    """
    if shape is ErrorShape.STUDIO:
        if isinstance(exc, StudioError):
            return ErrorResponse(exc.http_status, exc.to_dict())
        if isinstance(exc, OpenAIError):  # not raised under /api; kept readable if it ever is
            return ErrorResponse(exc.status, error_body("HTTPError", exc.message, {"status": exc.status}))
        type_ = "HTTPError" if isinstance(exc, tornado.web.HTTPError) else "ServerError"
        return ErrorResponse(status, error_body(type_, _http_message(exc, status, reason), {"status": status}))
    headers: dict[str, str] = {}
    if isinstance(exc, OpenAIError):
        err = exc
    elif isinstance(exc, StudioError):
        err = from_studio_error(exc)
    elif status == 403 and anonymous:
        # Jupyter refuses a missing or wrong token with 403; OpenAI clients expect 401 for a bad key.
        headers["WWW-Authenticate"] = 'Bearer realm="jupyter"'
        err = OpenAIError(401, "Missing or invalid token: pass the Jupyter server's token as the API key "
                               "(Authorization: Bearer <token>)", "invalid_request_error", code="invalid_api_key")
    else:
        type_ = {403: "permission_error", 404: "invalid_request_error"}.get(
            status, "server_error" if status >= 500 else "invalid_request_error")
        err = OpenAIError(status, _http_message(exc, status, reason), type_,
                          code="unknown_url" if status == 404 else None)
    if not err.retryable:
        headers["x-should-retry"] = "false"
    return ErrorResponse(err.status, err.body(), headers)


class ErrorWriter:
    """Mixin for a tornado ``RequestHandler``: every error it answers goes through ``error_response``."""

    error_shape = ErrorShape.STUDIO

    def write_error_response(self: Any, exc: BaseException | None, status: int = 500) -> None:
        """Answer ``exc`` (status, headers, JSON body) in this handler's shape and finish."""
        anonymous = (self.error_shape is ErrorShape.OPENAI and status == 403
                     and not isinstance(exc, (StudioError, OpenAIError)) and self.current_user is None)
        response = error_response(exc, status, self.error_shape, reason=self._reason, anonymous=anonymous)
        if response.status != self.get_status():  # keep tornado's reason phrase when it set this status
            self.set_status(response.status)
        for name, value in response.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(response.body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """tornado's hook for errors that reach it (403 without a token, 404, 405, a bug: 500)."""
        if status_code == 405 and not self._headers.get("Allow"):  # RFC 9110: say what is allowed
            allowed = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                       if getattr(type(self), m.lower(), None) is not getattr(tornado.web.RequestHandler, m.lower())]
            self.set_header("Allow", ", ".join(allowed))
        self.write_error_response(kwargs.get("exc_info", (None, None, None))[1], status_code)


class StudioHandler(ErrorWriter, ExtensionHandlerMixin, APIHandler):
    """Base class: JSON responses, the shared engine, and errors in ``error_shape``."""

    auth_resource = AUTH_RESOURCE  # what jupyter_server's @authorized asks the Authorizer about

    @property
    def engine(self) -> Engine:
        return self.settings["model_studio_engine"]

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(obj, default=str))
