"""The OpenAI-compatible surface under ``/model-studio/v1/``: any OpenAI client can chat with local models.

    from openai import OpenAI
    client = OpenAI(base_url="http://localhost:8888/model-studio/v1", api_key=JUPYTER_TOKEN)
    client.chat.completions.create(model="local/SmolLM2-135M-Instruct", messages=[...], stream=True)

Jupyter accepts ``Authorization: Bearer <token>``, so the client's ``api_key`` is the Jupyter token.

Routes: ``GET /models``, ``GET /models/{id}`` (the id may hold ``/``; chat and embedding models),
``POST /chat/completions`` (JSON or Server-Sent Events), ``POST /completions`` (a raw prompt; see
``core.chat.completions``) and ``POST /embeddings`` (see ``core.chat.openai_embeddings``).
Chat request fields and what they become:

- ``model``, ``messages``: required. Roles ``system``, ``user``, ``assistant``, ``tool``;
  ``developer`` is read as ``system``. ``content`` is a string or a list of ``{"type": "text",
  "text": ...}`` parts (joined with newlines); images and audio are refused with 400. An assistant
  message may carry ``tool_calls`` (its content may then be null) and a ``tool`` message the
  ``tool_call_id`` it answers.
- ``temperature``, ``top_p``, ``seed``, ``stop`` (a string or up to 4 strings), ``max_tokens`` or
  ``max_completion_tokens`` (the latter wins), and the extensions ``top_k`` and ``repeat_penalty``
  go to the engine's sampler. A field left out takes the engine's default, not OpenAI's.
- ``tools``, ``tool_choice`` (``auto``, ``none``, ``required`` or a named function) and
  ``parallel_tool_calls``: an answer with calls has ``message.tool_calls`` (content null) and
  ``finish_reason: "tool_calls"``; streamed, each call comes as OpenAI sends it (a delta with
  ``index``, ``id``, ``type`` and ``function.name``, then one with ``function.arguments``), sent
  once the call is complete. A forced call (required / named) is grammar-constrained: its
  arguments always parse and follow the function's ``parameters`` (at most 8 calls per answer;
  one when ``parallel_tool_calls`` is false or a function is named). How the tools reached the
  prompt is said in ``model_studio.tool_format`` (in the JSON answer, and in the stream's chunk
  with the last ``finish_reason``): ``"template"`` when the model's chat template has tool
  syntax (it is rendered with ``tools=``), ``"json"`` for the documented fallback of
  ``core.chat.structured`` (the tools listed in a system message, calls asked for as a JSON
  array; the starter SmolLM2-135M's template has no tool syntax).
- ``response_format``: ``text``; ``json_object`` (any JSON object) and ``json_schema`` are
  grammar-constrained (llama.cpp's grammar; llguidance on transformers), so the content parses
  and validates unless ``max_tokens`` cuts it (``finish_reason: "length"``).
- ``logprobs`` / ``top_logprobs`` (0-20): ``choices[].logprobs.content`` as OpenAI shapes it,
  from the model's own distribution (before a grammar's mask); -9999 stands for no chance.
- ``n`` (1-16): answers generated one after another; with a ``seed`` answer ``i`` uses
  ``seed + i``, so the same request gives the same answers. Streamed, each answer's chunks carry
  its ``index``.
- ``stream``, ``stream_options.include_usage``: SSE chunks as OpenAI sends them; with
  ``include_usage`` a last chunk with empty ``choices`` carries ``usage`` (all ``n`` answers).
- ``presence_penalty``, ``frequency_penalty`` (-2..2), ``user``, ``metadata``, ``store`` and
  unknown fields are accepted and ignored; llama.cpp's own penalty is ``repeat_penalty``.
  ``logit_bias`` and the legacy ``functions`` / ``function_call`` are refused with 400 rather
  than silently dropped, and so is a field the model's backend cannot serve (saying why).

Authorization: the server's Authorizer (JupyterHub's, or a custom ``ServerApp.authorizer_class``)
must allow ``read`` on ``model-studio`` to list models and ``execute`` to chat.

A request body is at most ``MAX_REQUEST_BYTES`` (8 MiB; 413 above it), JSON nested at most
``handlers.MAX_JSON_DEPTH`` levels.

Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``: 400 for bad input,
401 without a valid token, 403 (``permission_error``) when the Authorizer refuses, 404
(``code: model_not_found``) for a model that is not local, 413 for a body over the limit, 507 when
memory is short, 503 when a backend is not installed. Errors that retrying cannot fix carry
``x-should-retry: false``, which the official clients honour. They are written by
``_base.ErrorWriter`` (``error_shape = ErrorShape.OPENAI``), the REST handlers' writer.

The answer is written by ``core.chat.openai_stream.ChatCompletionWriter``, which the model host
uses too: generation runs in a worker thread, and a client that disconnects sets the stop event,
so generation ends within a few tokens. One loaded model generates for one request at a time.
A ``remote/<endpoint>/<model id>`` request goes to that remote endpoint as sent (with ``model`` its own
id and the endpoint's key), and its answer streams back as it comes; its errors are typed (a wrong key
403 ``EndpointAuthError``, down or silent past its timeout 502 ``NetworkError``).
In host mode (``Settings.model_host``) the request, checked here first, is forwarded to the model
host and its answer streamed back as it comes; a client that disconnects closes the request to
the host, which stops generating. A host that dies under a request answers 503
(``HostCrashedError``) while this server keeps running.
"""

from __future__ import annotations

import asyncio
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..core.chat.completions import CompletionWriter, parse_completion_request
from ..core.chat.openai_embeddings import answer_embeddings, parse_embedding_request
from ..core.chat.openai_request import OpenAIError, parse_chat_request
from ..core.chat.openai_stream import ChatCompletionWriter
from ..core.remote.refs import is_remote, parse_remote
from ..errors import StudioError
from ._base import AUTH_RESOURCE, ErrorShape, StudioHandler
from ._host_proxy import forward_chat, forward_remote
from .handlers import parse_json_body

PREFIX = "/model-studio/v1"
OWNER = "model-studio"
MAX_REQUEST_BYTES = 8 << 20  # a chat request body, in bytes (long conversations fit)


# --- handlers -----------------------------------------------------------------------------------


class OpenAIHandler(StudioHandler):
    """Base: errors in OpenAI's shape, including tornado's and Jupyter's own (auth, 404, 405)."""

    error_shape = ErrorShape.OPENAI
    _upstream: asyncio.Future | None = None

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if self._upstream is not None:
            self._upstream.cancel()  # closes the request to the host, which stops generating

    async def forward(self, request: Any, path: str) -> None:
        """Answer ``request`` from the model host's ``path`` (host mode), streaming intact."""
        self._upstream = asyncio.ensure_future(forward_chat(self, self.engine.host.client, request, path=path))
        try:
            await self._upstream
        except asyncio.CancelledError:
            pass  # the client left

    async def relay_remote(self, body: Any, path: str) -> bool:
        """Answer a request naming ``remote/<endpoint>/<id>`` from that endpoint (True when it did):
        the body as sent, so every field the serving engine supports (tools, n, logprobs) reaches it."""
        if not (isinstance(body, dict) and is_remote(body.get("model"))):
            return False
        try:
            endpoint, model = parse_remote(body["model"])
            client = await asyncio.to_thread(self.engine.endpoints.client, endpoint)
        except (StudioError, OpenAIError) as err:
            self.write_error_response(err)
            return True
        self._upstream = asyncio.ensure_future(forward_remote(self, client, path, {**body, "model": model}))
        try:
            await self._upstream
        except asyncio.CancelledError:
            pass  # the client left
        return True

    async def model_list(self) -> list[dict[str, Any]]:
        models = await asyncio.to_thread(self.engine.chat.models)
        embedders = await asyncio.to_thread(self.engine.chat.embedding_models)  # for /embeddings
        return [{"id": m["id"], "object": "model", "created": int(m.get("created") or 0), "owned_by": OWNER}
                for m in [*models, *embedders]]


class ModelsHandler(OpenAIHandler):
    """``GET /models`` and ``GET /models/{id}``."""

    @tornado.web.authenticated
    @authorized("read", resource=AUTH_RESOURCE)
    async def get(self, model: str | None = None) -> None:
        try:
            models = await self.model_list()
        except StudioError as exc:
            self.write_error_response(exc)
            return
        if model is None:
            self.write_json({"object": "list", "data": models})
            return
        for m in models:
            if m["id"] == model:
                self.write_json(m)
                return
        self.write_error_response(OpenAIError(404, f"The model '{model}' does not exist or is not local",
                                              param="model", code="model_not_found"))


class ChatCompletionsHandler(ChatCompletionWriter, OpenAIHandler):
    """``POST /chat/completions``, as JSON or as Server-Sent Events; in host mode forwarded to the
    model host with streaming intact (``_host_proxy``)."""

    @tornado.web.authenticated
    @authorized("execute", resource=AUTH_RESOURCE)
    async def post(self) -> None:
        try:
            # not JSON, too deep (400) or too large (413); then each field checked (400)
            body = parse_json_body(self.request.body or b"", MAX_REQUEST_BYTES)
            if await self.relay_remote(body, "chat/completions"):  # the remote engine checks it itself
                return
            request = parse_chat_request(body)
        except (StudioError, OpenAIError) as err:
            self.write_error_response(err)
            return
        if self.engine.host.enabled:
            await self.forward(request, "/v1/chat/completions")
            return
        await self.answer(self.engine.chat, request)

    def internal_error(self, error: BaseException) -> OpenAIError:
        self.log.error("model_studio: chat completion failed", exc_info=error)
        return OpenAIError(500, "Chat completion failed unexpectedly; see the Jupyter server log", "server_error")


class CompletionsHandler(CompletionWriter, OpenAIHandler):
    """``POST /completions`` (a raw prompt, no chat template), as JSON or Server-Sent Events; in host
    mode forwarded to the model host like chat."""

    @tornado.web.authenticated
    @authorized("execute", resource=AUTH_RESOURCE)
    async def post(self) -> None:
        try:
            body = parse_json_body(self.request.body or b"", MAX_REQUEST_BYTES)
            if await self.relay_remote(body, "completions"):
                return
            request = parse_completion_request(body)
        except (StudioError, OpenAIError) as err:
            self.write_error_response(err)
            return
        if self.engine.host.enabled:
            await self.forward(request, "/v1/completions")
            return
        await self.answer_prompt(self.engine.chat, request)


class EmbeddingsHandler(OpenAIHandler):
    """``POST /embeddings``: vectors as float arrays or base64; in host mode computed by the model host."""

    @tornado.web.authenticated
    @authorized("execute", resource=AUTH_RESOURCE)
    async def post(self) -> None:
        try:
            body = parse_json_body(self.request.body or b"", MAX_REQUEST_BYTES)
            if await self.relay_remote(body, "embeddings"):
                return
            request = parse_embedding_request(body)
            if self.engine.host.enabled:
                await self.forward(request, "/v1/embeddings")
                return
            body = await asyncio.to_thread(answer_embeddings, self.engine.chat, request)
        except (StudioError, OpenAIError) as err:
            self.write_error_response(err)
            return
        self.write_json(body)


class OpenAINotFoundHandler(OpenAIHandler):
    """Unknown paths under ``/model-studio/v1`` answer 404 in OpenAI's shape (authenticated; nothing
    to authorize, it serves nothing)."""

    @tornado.web.authenticated
    async def get(self, *args: str) -> None:
        self.write_error_response(OpenAIError(404, f"Unknown request URL: {self.request.method} {self.request.path}",
                                              code="unknown_url"))

    post = patch = delete = put = get
