"""Tornado handlers of ``/model-studio/api``: one generic handler per route of ``api.OPERATIONS``,
openapi.json, the generated videos and a 404 for the rest (the routes are listed in ``app.py``).

Every verb is async, authenticated and authorized: the server's Authorizer (JupyterHub's, or a
custom ``ServerApp.authorizer_class``) must allow the operation's action (``read``, ``write`` or
``execute``, see ``api.Operation``) on the resource ``model-studio``. Engine calls run in a worker
thread so the server's event loop never waits on the Hub, the disk or SQLite. Errors always have
the shape ``{"error": {"type", "message", "details", "resolution_steps"}}`` with the error's HTTP
status (written by ``_base.ErrorWriter``).

Request bodies are JSON objects of at most ``Operation.max_body`` bytes (``api.MAX_BODY``, 8 MiB,
unless the operation says otherwise; 413 above it), nested at most ``MAX_JSON_DEPTH`` levels (400).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.web
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import AuthenticatedFileHandler

from .. import api
from ..errors import PayloadTooLargeError, PermissionDeniedError, StudioError, ValidationError
from ._base import AUTH_RESOURCE, ErrorWriter, StudioHandler

if TYPE_CHECKING:
    from ..core import Engine

PREFIX = "/model-studio/api"
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
# Deeper JSON is refused: no request needs it, and deep nesting exhausts the recursion limit
# (of the parser, or later of json.dumps) and would end as a 500.
MAX_JSON_DEPTH = 64

# Path parameters of api.OPERATIONS and the URL segments they match. A model's name is never one
# of the routes after /models/{model}/ ("fit", "verify", "page", ...): /models/x/fit is the fit
# route of a malformed model "x" (404 here, without asking the Hub), not the info of a model "x/fit".
_MODEL_ROUTES = sorted({op.path.split("{model}/", 1)[1].split("/")[0] for op in api.OPERATIONS
                        if "{model}/" in op.path})
PATH_PATTERNS = {"model": rf"[^/]+/(?!(?:{'|'.join(map(re.escape, _MODEL_ROUTES))})(?:/|$))[^/]+",
                 "job_id": r"[^/]+", "name": r"[^/]+", "conversation_id": r"[^/]+"}


def route_pattern(path: str) -> str:
    """``/models/{model}/fit`` -> ``/model-studio/api/models/(?P<model>[^/]+/[^/]+)/fit``."""

    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"(?P<{name}>{PATH_PATTERNS[name]})"

    return PREFIX + re.sub(r"\{(\w+)\}", group, path)


def parse_json_body(raw: bytes, max_bytes: int) -> Any:
    """A request body as JSON; ``PayloadTooLargeError`` over ``max_bytes`` (before parsing),
    ``ValidationError`` when it is not JSON or is nested deeper than ``MAX_JSON_DEPTH``."""
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"The request body is {len(raw)} bytes, over this route's limit of {max_bytes}",
                                   details={"size_bytes": len(raw), "max_bytes": max_bytes})
    try:
        value = json.loads(raw)
        too_deep = _deeper_than(value, MAX_JSON_DEPTH)
    except RecursionError:  # the parser's own limit (about 1000 levels)
        too_deep = True
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"The request body is not valid JSON: {exc}",
                              resolution_steps=["Send a JSON object, e.g. {\"model\": \"org/name\"}"]) from None
    if too_deep:
        raise ValidationError(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep",
                              details={"max_depth": MAX_JSON_DEPTH})
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` levels (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class ServerError(StudioError):
    """An operation failed on a bug, not on its input: the message names the operation, the
    traceback stays in the server log."""


class OperationHandler(StudioHandler):
    """Serves every operation of one route (e.g. GET and DELETE on ``/models/{model}``)."""

    operations: dict[str, api.Operation]

    def initialize(self, name: str, operations: dict[str, api.Operation]) -> None:  # type: ignore[override]
        super().initialize(name)
        self.operations = operations

    @tornado.web.authenticated
    async def get(self, **path: str) -> None:
        await self._run(path)

    @tornado.web.authenticated
    async def post(self, **path: str) -> None:
        await self._run(path)

    @tornado.web.authenticated
    async def patch(self, **path: str) -> None:
        await self._run(path)

    @tornado.web.authenticated
    async def delete(self, **path: str) -> None:
        await self._run(path)

    @tornado.web.authenticated
    async def put(self, **path: str) -> None:
        await self._run(path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:  # set here: tornado clears the headers before an error is written
            self.set_header("Allow", ", ".join(sorted(self.operations)))
        super().write_error(status_code, **kwargs)

    async def _run(self, path: dict[str, str]) -> None:
        op = self.operations.get(self.request.method or "")
        if op is None:
            raise tornado.web.HTTPError(405)
        try:
            await self._authorize(op)
            values = self._collect(op, path)
            bound = api.bind(op, values, self._roots())
            body = await self._result(op, bound)
        except StudioError as exc:
            self.write_error_response(exc)
            return
        except tornado.web.HTTPError:
            raise
        except Exception:
            # A bug, not an input problem: keep the traceback in the server log, not in the response.
            self.log.exception("model_studio: %s %s failed", self.request.method, self.request.path)
            self.write_error_response(ServerError(f"{op.name} failed unexpectedly; see the Jupyter server log",
                                                  details={"operation": op.name}))
            return
        self.set_status(op.status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(body)

    async def _authorize(self, op: api.Operation) -> None:
        """What jupyter_server's ``@authorized`` does, with the action of the operation this method
        and path select (one handler serves e.g. GET and DELETE ``/models/{model}``)."""
        allowed = await ensure_async(self.authorizer.is_authorized(self, self.current_user, op.action,
                                                                   self.auth_resource))
        if not allowed:
            raise PermissionDeniedError(
                f"You are not allowed to {op.action} {self.auth_resource} ({op.name})",
                details={"action": op.action, "resource": self.auth_resource, "operation": op.name},
                resolution_steps=[f"Ask the server's administrator for the '{op.action}' permission on "
                                  f"'{self.auth_resource}'"])

    def _roots(self) -> dict[str, Any]:
        """The folders a REST caller's paths must stay inside: Jupyter's root_dir (what its contents
        API serves) and the studio home. A kernel's widgets call the same operations unconfined."""
        root_dir = self.settings.get("server_root_dir") or getattr(self.contents_manager, "root_dir", None)
        return {api.ROOT_DIR: root_dir, api.STUDIO_HOME: self.engine.settings.home_path}

    async def _result(self, op: api.Operation, bound: dict[str, Any]) -> bytes:
        """Run the operation in a worker thread; the JSON is encoded there too.

        Identical GETs that arrive while one is running share its answer (many sidebars polling
        the same listing cost one engine call, not one each); writes always run on their own.
        """
        engine = self.engine
        if op.http_method != "GET":
            return await asyncio.to_thread(_call, op.handler, engine, bound)
        inflight: dict[str, asyncio.Future[bytes]] = self.settings.setdefault("model_studio_inflight", {})
        key = op.name + json.dumps(bound, sort_keys=True, default=str)
        future = inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(asyncio.to_thread(_call, op.handler, engine, bound))
            inflight[key] = future
            future.add_done_callback(lambda _f: inflight.pop(key, None))
        return await asyncio.shield(future)

    def _collect(self, op: api.Operation, path: dict[str, str]) -> dict[str, Any]:
        """Parameters from the path (already URL-decoded by tornado), query string and JSON body."""
        where = {p.name: p for p in op.params}
        values: dict[str, Any] = {}
        values.update(path)  # a model name is parsed once, by bind (the "model" parameter type)
        for name, raw in self.request.query_arguments.items():
            if name == "token" or (name.isdigit() and raw in ([b""], [])):
                # Jupyter's own auth parameter, and the bare `&<timestamp>` cache-buster that
                # JupyterLab's ServerConnection appends: neither is an operation parameter.
                continue
            param = where.get(name)
            if param is not None and param.where != "query":
                raise ValidationError(f"Parameter '{name}' belongs in the {_location(param)}, not the query string",
                                      details={"parameter": name})
            try:
                decoded = [v.decode("utf-8") for v in raw]
            except UnicodeDecodeError:
                raise ValidationError(f"Parameter '{name}' is not valid UTF-8", details={"parameter": name}) from None
            if param is not None and param.type == "list[str]":
                values[name] = decoded[0] if len(decoded) == 1 else decoded
            elif len(decoded) > 1:
                raise ValidationError(f"Parameter '{name}' given {len(decoded)} times; give it once",
                                      details={"parameter": name})
            else:
                values[name] = decoded[0]
        body = self._json_body(op)
        for name, value in body.items():
            param = where.get(name)
            if param is not None and param.where != "body":
                raise ValidationError(f"Parameter '{name}' belongs in the {_location(param)}, not the request body",
                                      details={"parameter": name})
            values[name] = value
        return values

    def _json_body(self, op: api.Operation) -> dict[str, Any]:
        raw = self.request.body
        if not raw or not raw.strip():
            return {}
        body = parse_json_body(raw, op.max_body)
        if not isinstance(body, dict):
            raise ValidationError("The request body must be a JSON object",
                                  details={"got": type(body).__name__})
        return body


def _location(param: api.Param) -> str:
    return {"path": "URL path", "query": "query string", "body": "JSON request body"}[param.where]


def _call(handler: Callable[..., Any], engine: Engine, bound: dict[str, Any]) -> bytes:
    return json.dumps(handler(engine, **bound), default=str).encode()


class OpenAPIHandler(StudioHandler):
    """The API contract, read once per process."""

    _document: bytes | None = None

    @tornado.web.authenticated
    @authorized("read", resource=AUTH_RESOURCE)
    async def get(self) -> None:
        if OpenAPIHandler._document is None:
            OpenAPIHandler._document = OPENAPI_PATH.read_bytes()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(OpenAPIHandler._document)


class VideoFileHandler(ErrorWriter, AuthenticatedFileHandler):
    """A generation's ``video.mp4`` or ``thumbnail.jpg`` from ``<home>/outputs/``, authenticated.

    tornado's StaticFileHandler answers HTTP Range requests (206 with Content-Range), so a
    ``<video>`` element can seek without fetching the whole file; jupyter_server's subclass adds
    the authentication and refuses hidden files (a temporary ``.video…tmp.mp4`` is never served).
    Its ``get`` and ``head`` are ``@authorized`` (``read``) on ``auth_resource``: the studio's, not
    the ``contents`` resource of the file handler.
    """

    auth_resource = AUTH_RESOURCE

    def get_login_url(self) -> str:
        # Like the API handlers: without a token, 403 (not a 302 to the login page).
        if not self.current_user:
            raise tornado.web.HTTPError(403)
        return super().get_login_url()


class NotFoundHandler(StudioHandler):
    """Unknown paths under the API prefix answer 404 in the error shape (not an HTML page).

    Authenticated, not authorized: it serves nothing, and the 404 says so whatever the action."""

    @tornado.web.authenticated
    async def get(self, *args: str) -> None:
        raise tornado.web.HTTPError(404, f"No route {self.request.path}")

    post = patch = delete = put = head = get

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:  # a method tornado does not serve (TRACE, QUERY, ...): still no route
            self.set_status(404)
            kwargs = {"exc_info": (None, tornado.web.HTTPError(404, f"No route {self.request.path}"), None)}
            status_code = 404
        super().write_error(status_code, **kwargs)
