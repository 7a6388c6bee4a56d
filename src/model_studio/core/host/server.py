"""The model host's HTTP server: one process per studio home holding the loaded models.

Why tornado: it is already a dependency (Jupyter's own server runs on it), so the host adds none,
and it is the same async model as the Jupyter server, which lets both answer OpenAI requests
with one piece of code (``core.chat.openai_stream.ChatCompletionWriter``). Starlette and uvicorn
are the common choice for OpenAI-style servers, but they would be two new dependencies for the
same thing.

The host builds an in-process ``Engine`` over the home (its ``ModelManager`` budget, LRU and idle
time-to-live apply to every client's models) and serves, on 127.0.0.1 only:

- ``GET /health``: ``{pid, version, since}``;
- ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``, ``POST /v1/embeddings``:
  OpenAI's protocol (SSE or JSON);
- ``POST /manage/load``, ``POST /manage/unload``, ``GET /manage/loaded``, ``POST /manage/cancel``,
  ``GET /manage/status``: chat models; ``GET /manage/memory``: the host's arbiter (who holds what); ``POST /manage/video/run`` (a queued job of the store),
  ``GET /manage/video/loaded``, ``POST /manage/video/unload``: video pipelines;
- ``POST /shutdown``: stop (as SIGTERM does).

Every route, ``/health`` included, requires ``Authorization: Bearer <secret>`` (the 0600 file in
the home): 401 without it, 403 with a wrong one. Health needs it too because it says which
process holds the port: a client must be sure it talks to this home's host, never to whatever
took the port after the host died. Clients name themselves in ``X-Model-Studio-Client``; the host
shows who used each model last.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from typing import Any

import tornado.web

from ..._version import __version__
from ...errors import StudioError, ValidationError
from ..chat.completions import CompletionRequest, CompletionWriter, parse_completion_request
from ..chat.openai_embeddings import answer_embeddings, parse_embedding_request
from ..chat.openai_request import ChatRequest, OpenAIError, from_studio_error, parse_chat_request
from ..chat.openai_stream import ChatCompletionWriter

log = logging.getLogger("model_studio.host")
MAX_BODY = 8 << 20  # bytes, as the server's /v1


class HostState:
    """What the handlers share: the engine, who used which model, answers that can be cancelled."""

    def __init__(self, engine: Any, stop: Any) -> None:
        self.engine = engine
        self.stop = stop  # called to shut the host down
        self.since = time.time()
        self.users: dict[str, str] = {}  # model id (org/name:QUANT) -> client that used it last
        self.loaded_at: dict[str, float] = {}
        self.loads = 0  # models actually loaded (not reused) since the host started
        self.requests: dict[str, threading.Event] = {}
        self._settings_mtime = self._mtime()
        self._wrap_loads()

    def _mtime(self) -> int:
        try:
            return (self.engine.settings.home_path / "settings.json").stat().st_mtime_ns
        except OSError:
            return 0

    def refresh_settings(self) -> None:
        """Apply settings.json again when another engine saved it (memory budget, idle time-to-live
        changed in the sidebar apply to the host's models too)."""
        mtime = self._mtime()
        if mtime != self._settings_mtime:
            self._settings_mtime = mtime
            self.engine.settings_file_errors = []
            self.engine._load_saved_settings()

    def _wrap_loads(self) -> None:
        """Count real loads (a reused model is no load): the manager calls the loader only then."""
        manager = self.engine.chat.manager
        load = manager.load

        def counting(key: Any, loader: Any, **kwargs: Any) -> Any:
            def counted() -> Any:
                model = loader()
                self.loads += 1
                self.loaded_at[key[0]] = time.time()
                log.info("load #%d: %s", self.loads, key[0])
                return model
            return load(key, counted, **kwargs)

        manager.load = counting

    def loaded(self) -> list[dict[str, Any]]:
        out = []
        for m in self.engine.chat.loaded():
            model = m.get("model")
            out.append({**m, "last_used_by": self.users.get(model), "loaded_at": self.loaded_at.get(model),
                        "devices": _devices(m)})
        return out

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": __version__, "since": self.since, "loads": self.loads,
                "models": self.loaded(), "pipelines": self.engine.video.loaded()}


def _devices(model: dict[str, Any]) -> list[str]:
    """Where a loaded model's weights are: llama.cpp layers on the GPU when offloaded, else the CPU."""
    options = model.get("options") or {}
    device = model.get("device")
    if isinstance(device, str):
        return [device]
    if model.get("backend") == "llama-cpp" and options.get("gpu_layers") not in (None, 0):
        try:
            import llama_cpp

            if llama_cpp.llama_supports_gpu_offload():
                return ["gpu", "cpu"] if options.get("gpu_layers") != -1 else ["gpu"]
        except Exception:  # an optional backend: no GPU figure
            pass
    return ["cpu"]


class HostHandler(tornado.web.RequestHandler):
    """Base: the secret on every route, errors as JSON (OpenAI's shape, the studio's error inside)."""

    def initialize(self, host: HostState, secret: str) -> None:
        self.host = host
        self.secret = secret

    def prepare(self) -> None:
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise tornado.web.HTTPError(401, "Missing bearer token")
        if not hmac.compare_digest(header[7:].strip().encode(), self.secret.encode()):
            raise tornado.web.HTTPError(403, "Wrong bearer token")
        if len(self.request.body or b"") > MAX_BODY:
            raise tornado.web.HTTPError(413, "Request body too large")

    @property
    def client(self) -> str:
        return self.request.headers.get("X-Model-Studio-Client", "unknown")[:100]

    def body_json(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise ValidationError("The request body must be JSON") from None
        if not isinstance(body, dict):
            raise ValidationError("The request body must be a JSON object")
        return body

    def write_json(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(obj, default=str))

    def write_error_response(self, exc: BaseException, status: int = 500) -> None:
        """OpenAI's error shape; a ``StudioError`` also whole under ``error.studio`` (its type,
        details and resolution steps), so a studio client raises the same typed error."""
        if isinstance(exc, StudioError):
            err = from_studio_error(exc)
            body = err.body()
            body["error"]["studio"] = exc.to_dict()["error"]
        elif isinstance(exc, OpenAIError):
            err, body = exc, exc.body()
        else:
            if not isinstance(exc, tornado.web.HTTPError):
                log.error("host request failed", exc_info=exc)
            status = exc.status_code if isinstance(exc, tornado.web.HTTPError) else status
            message = exc.log_message if isinstance(exc, tornado.web.HTTPError) and exc.log_message \
                else "Internal error; see the host log"
            err = OpenAIError(status, message, "invalid_request_error" if status < 500 else "server_error")
            body = err.body()
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(body, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.write_error_response(kwargs.get("exc_info", (None, None, None))[1], status_code)

    def parse_request(self, parse: Any) -> Any:
        """``parse(body)`` (an OpenAI request reader) after the settings are read again; None once an
        error (bad JSON, a bad field) has been answered."""
        try:
            request = parse(json.loads(self.request.body or b""))
            self.host.refresh_settings()
        except ValueError as exc:  # OpenAIError is no ValueError; bad JSON is
            self.write_error_response(exc if isinstance(exc, StudioError) else
                                      OpenAIError(400, "The request body must be JSON"))
            return None
        except OpenAIError as exc:
            self.write_error_response(exc)
            return None
        return request

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Run a blocking engine call in a thread; answer its result or its typed error."""
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except StudioError as exc:
            self.write_error_response(exc)
            return
        self.write_json(result)


class HealthHandler(HostHandler):
    def get(self) -> None:
        self.write_json({"ok": True, "pid": os.getpid(), "version": __version__, "since": self.host.since})


class ModelsHandler(HostHandler):
    async def get(self) -> None:
        models = await asyncio.to_thread(self.host.engine.chat.models)
        self.write_json({"object": "list", "data": [
            {"id": m["id"], "object": "model", "created": 0, "owned_by": "model-studio"} for m in models]})


class ChatHandler(ChatCompletionWriter, HostHandler):
    async def post(self) -> None:
        request = self.parse_request(parse_chat_request)
        if request is not None:
            await self.answer(self.host.engine.chat, request)

    def chat_started(self, request: ChatRequest, stop: threading.Event) -> None:
        if request.request_id:
            self.host.requests[request.request_id] = stop

    def chat_ended(self, request: ChatRequest, done: Any) -> None:
        if request.request_id:
            self.host.requests.pop(request.request_id, None)
        if done is not None and done.model:
            self.host.users[done.model] = self.client


class CompletionsHandler(CompletionWriter, HostHandler):
    async def post(self) -> None:
        request = self.parse_request(parse_completion_request)
        if request is not None:
            await self.answer_prompt(self.host.engine.chat, request)

    def completion_started(self, request: CompletionRequest, stop: threading.Event) -> None:
        if request.request_id:  # POST /manage/cancel sets it
            self.host.requests[request.request_id] = stop

    def completion_ended(self, request: CompletionRequest) -> None:
        if request.request_id:
            self.host.requests.pop(request.request_id, None)


class EmbeddingsHandler(HostHandler):
    async def post(self) -> None:
        try:
            request = parse_embedding_request(self.body_json())
            self.host.refresh_settings()
            body = await asyncio.to_thread(answer_embeddings, self.host.engine.chat, request)
        except (StudioError, OpenAIError) as exc:
            self.write_error_response(exc)
            return
        self.write_json(body)


class LoadHandler(HostHandler):
    async def post(self) -> None:
        body = self.body_json()
        model = body.get("model")
        options = body.get("load_options") or {}
        if not isinstance(model, str) or not isinstance(options, dict):
            raise ValidationError("Give {model, load_options}")

        def load() -> dict[str, Any]:
            self.host.refresh_settings()
            loaded = self.host.engine.chat.load(model, **options)
            self.host.users[loaded.model_id] = self.client
            return loaded.describe()

        await self.call(load)


class UnloadHandler(HostHandler):
    async def post(self) -> None:
        body = self.body_json()
        await self.call(self.host.engine.chat.unload, str(body.get("model") or ""), backend=body.get("backend"))


class LoadedHandler(HostHandler):
    async def get(self) -> None:
        await self.call(self.host.loaded)


class StatusHandler(HostHandler):
    async def get(self) -> None:
        self.host.refresh_settings()
        await self.call(self.host.status)


class MemoryHandler(HostHandler):
    async def get(self) -> None:
        await self.call(self.host.engine.arbiter.snapshot)


class CancelHandler(HostHandler):
    def post(self) -> None:
        stop = self.host.requests.get(str(self.body_json().get("request_id")))
        if stop is not None:
            stop.set()
        self.write_json({"cancelled": stop is not None})


class VideoRunHandler(HostHandler):
    async def post(self) -> None:
        job_id = str(self.body_json().get("job_id") or "")
        engine = self.host.engine

        def run() -> dict[str, Any]:
            from ..jobs import JobState

            job = engine.jobs.claim(job_id, [JobState.QUEUED])  # the host owns it from now on
            return engine.runner.submit(job).to_dict()

        await self.call(run)


class VideoLoadedHandler(HostHandler):
    async def get(self) -> None:
        await self.call(lambda: {"pipelines": self.host.engine.video.loaded()})


class VideoUnloadHandler(HostHandler):
    async def post(self) -> None:
        await self.call(self.host.engine.video.unload, self.body_json().get("device"))


class ShutdownHandler(HostHandler):
    def post(self) -> None:
        self.write_json({"stopping": True})
        asyncio.get_running_loop().call_later(0.05, self.host.stop)


class NotFoundHandler(HostHandler):
    def get(self, *args: str) -> None:
        self.write_error_response(OpenAIError(404, f"Unknown URL: {self.request.path}", code="unknown_url"))

    post = get


def make_app(host: HostState, secret: str) -> tornado.web.Application:
    args = {"host": host, "secret": secret}
    routes = [
        (r"/health", HealthHandler), (r"/v1/models", ModelsHandler), (r"/v1/chat/completions", ChatHandler),
        (r"/v1/completions", CompletionsHandler), (r"/v1/embeddings", EmbeddingsHandler),
        (r"/manage/load", LoadHandler), (r"/manage/unload", UnloadHandler), (r"/manage/loaded", LoadedHandler),
        (r"/manage/status", StatusHandler), (r"/manage/cancel", CancelHandler), (r"/manage/memory", MemoryHandler),
        (r"/manage/video/run", VideoRunHandler), (r"/manage/video/loaded", VideoLoadedHandler),
        (r"/manage/video/unload", VideoUnloadHandler), (r"/shutdown", ShutdownHandler), (r"/(.*)", NotFoundHandler),
    ]
    return tornado.web.Application([(p, h, args) for p, h in routes])
