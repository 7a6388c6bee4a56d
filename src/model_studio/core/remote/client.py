"""Talking to one remote endpoint over the OpenAI protocol, and its models as ``LoadedModel``s.

httpx (already a dependency, and what the model host client uses) rather than the ``openai`` SDK:
the SDK is not a core dependency, it retries refused connections and timeouts by default (a down
endpoint would take several timeouts to report), and it validates answers against OpenAI's own
shapes, which vLLM, TGI and Ollama extend. httpx gives the two timeouts this needs (connect, and
each read of a stream, so a stalled server is caught mid-answer too) and one pool per endpoint.

Every failure is typed: refused, unreachable or silent past the timeout is a ``NetworkError`` with
resolution steps; a 401/403 an ``EndpointAuthError``; a 404 a ``NotFoundError``; another 4xx a
``ValidationError`` carrying the endpoint's message. The key rides in the ``Authorization`` header
only; no error, detail or log line holds it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from ...errors import EndpointAuthError, NetworkError, NotFoundError, StudioError, ValidationError
from ..chat._timing import Meter
from ..chat.base import MAX_CONTEXT, ChatChunk, LoadedModel, LoadOptions, Message, SamplingParams
from .refs import remote_id

if TYPE_CHECKING:
    from .endpoints import Endpoint


class RemoteClient:
    """One endpoint's connection pool and requests (thread-safe)."""

    def __init__(self, endpoint: Endpoint, api_key: str | None) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        headers = dict(endpoint.headers)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.headers = headers
        self.timeout = httpx.Timeout(endpoint.timeout, connect=min(endpoint.timeout, 10.0))
        self._http = httpx.Client(base_url=endpoint.base_url + "/", headers=headers, timeout=self.timeout,
                                  limits=httpx.Limits(max_connections=max(10, 2 * endpoint.concurrency)))

    def url(self, path: str) -> str:
        """The full URL of ``path`` (``chat/completions``) on this endpoint."""
        return f"{self.endpoint.base_url}/{path.lstrip('/')}"

    # Errors ------------------------------------------------------------------------------------

    def _where(self) -> dict[str, Any]:
        return {"endpoint": self.name, "base_url": self.endpoint.base_url}

    def transport_error(self, exc: Exception) -> NetworkError:
        """A refused connection, an unreachable host or a timeout as a typed NetworkError."""
        test = f"Check it with engine.endpoints.test({self.name!r}) or the Settings panel's Test button"
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return NetworkError(
                f"Remote endpoint {self.name!r} cannot be reached at {self.endpoint.base_url}: {exc}",
                details={**self._where(), "reason": "unreachable"},
                resolution_steps=["Start the serving engine (vLLM, TGI, Ollama, llama_cpp.server) or check "
                                  "that its host and port are right", "Check the network and any proxy",
                                  test])
        if isinstance(exc, httpx.TimeoutException):
            return NetworkError(
                f"Remote endpoint {self.name!r} did not answer within {self.endpoint.timeout:g} s",
                details={**self._where(), "reason": "timeout", "timeout": self.endpoint.timeout},
                resolution_steps=["The server is overloaded or stalled: check its log",
                                  f"Or raise its timeout: engine.endpoints.update({self.name!r}, timeout=SECONDS)",
                                  test])
        return NetworkError(f"Remote endpoint {self.name!r} failed: {type(exc).__name__}: {exc}",
                            details={**self._where(), "reason": type(exc).__name__}, resolution_steps=[test])

    def response_error(self, status: int, body: bytes, model: str | None = None) -> StudioError:
        """An error answer (status, body) as the studio's typed error."""
        try:
            err = json.loads(body).get("error")
            message = err.get("message") if isinstance(err, dict) else str(err or "") or None
        except (ValueError, AttributeError):
            message = None
        message = (message or body.decode("utf-8", "replace")[:500] or f"HTTP {status}").strip()
        details = {**self._where(), "status": status, "model": model}
        if status in (401, 403):
            return EndpointAuthError(
                f"Remote endpoint {self.name!r} refused its API key (HTTP {status})", details=details,
                resolution_steps=[f"Set the right key: engine.endpoints.update({self.name!r}, api_key=KEY) or "
                                  "in the Settings panel"])
        if status == 404:
            return NotFoundError(f"Remote endpoint {self.name!r} has no {model or 'such route'}: {message}",
                                 details=details, resolution_steps=[
                                     f"List its models: engine.endpoints.test({self.name!r})",
                                     "Check that the base URL ends where the OpenAI routes start (often /v1)"])
        if 400 <= status < 500:
            return ValidationError(f"Remote endpoint {self.name!r} refused the request: {message}", details=details)
        return NetworkError(f"Remote endpoint {self.name!r} answered HTTP {status}: {message}", details=details,
                            resolution_steps=["Check the serving engine's log"])

    @contextmanager
    def _send(self, method: str, path: str, body: Any = None, model: str | None = None) -> Iterator[httpx.Response]:
        """A streamed request; an error answer or a transport failure raises its typed error."""
        try:
            with self._http.stream(method, path, json=body) as response:
                if response.status_code >= 400:
                    raise self.response_error(response.status_code, response.read(), model)
                yield response
        except httpx.TransportError as exc:  # TimeoutException included
            raise self.transport_error(exc) from None

    def _json(self, method: str, path: str, body: Any = None, model: str | None = None) -> Any:
        with self._send(method, path, body, model) as response:
            data = response.read()
        try:
            return json.loads(data)
        except ValueError:
            raise NetworkError(f"Remote endpoint {self.name!r} answered {path} with something other than JSON",
                               details={**self._where(), "body": data[:200].decode("utf-8", "replace")},
                               resolution_steps=["Check that the base URL is the OpenAI one (often ending in /v1)"]
                               ) from None

    # The OpenAI routes -------------------------------------------------------------------------

    def model_ids(self) -> list[str]:
        """The ids ``GET /models`` lists."""
        data = self._json("GET", "models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise NetworkError(f"Remote endpoint {self.name!r} answered /models without a 'data' list",
                               details=self._where())
        return [str(m["id"]) for m in items if isinstance(m, dict) and m.get("id")]

    def stream_chat(self, model: str, messages: list[Message], params: SamplingParams,
                    cancel: threading.Event | None = None) -> Iterator[tuple[str, str | None]]:
        """``(text, finish_reason)`` pieces of a streamed chat completion."""
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True,
                                "temperature": params.temperature, "top_p": params.top_p,
                                "max_tokens": params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        with self._send("POST", "chat/completions", body, model) as response:
            try:
                for line in response.iter_lines():
                    if cancel is not None and cancel.is_set():
                        return
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        part = json.loads(data)
                    except ValueError:
                        continue
                    if isinstance(part.get("error"), dict):  # an error sent inside the stream
                        raise NetworkError(f"Remote endpoint {self.name!r} failed mid-answer: "
                                           f"{part['error'].get('message')}", details=self._where())
                    for choice in part.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        yield text, choice.get("finish_reason")
            except httpx.TransportError as exc:
                raise self.transport_error(exc) from None

    def embeddings(self, model: str, texts: list[str]) -> list[list[float]]:
        """``POST /embeddings``: one vector per text, in input order."""
        data = self._json("POST", "embeddings", {"model": model, "input": texts}, model)
        items = sorted(data.get("data") or [], key=lambda d: d.get("index", 0))
        if len(items) != len(texts):
            raise NetworkError(f"Remote endpoint {self.name!r} answered {len(items)} embeddings for "
                               f"{len(texts)} inputs", details=self._where())
        return [_pooled(d.get("embedding")) for d in items]

    def close(self) -> None:
        self._http.close()


def _pooled(vector: Any) -> list[float]:
    """One vector per input. A server that returns a vector per token (``llama_cpp.server`` serving a
    generative GGUF without a pooling type does) gets the mean over its tokens, the pooling
    sentence-transformers uses by default."""
    if isinstance(vector, list) and vector and isinstance(vector[0], list):
        width = len(vector[0])
        return [sum(row[i] for row in vector) / len(vector) for i in range(width)]
    if not isinstance(vector, list):
        raise NetworkError("A remote endpoint answered an embedding that is not a list of numbers")
    return vector


class RemoteModel(LoadedModel):
    """A model a remote endpoint serves: nothing is loaded here (no memory held); ``stream`` asks it."""

    backend = "remote"

    def __init__(self, client: RemoteClient, model: str) -> None:
        self.client = client
        self.remote_model = model
        self.model_id = remote_id(client.name, model)
        self.path = client.endpoint.base_url
        self.options = LoadOptions(backend="remote")
        self.memory_bytes = 0
        self.context_length = MAX_CONTEXT  # the endpoint knows it; it refuses what does not fit
        self.last_stats = None

    def stream(self, messages: list[Message], params: SamplingParams,
               stop: threading.Event | None = None) -> Iterator[ChatChunk]:
        meter = Meter()
        finish = "stop"
        for text, reason in self.client.stream_chat(self.remote_model, messages, params, stop):
            if text:
                meter.token()
                yield ChatChunk(text=text, tokens=1)
            if reason:
                finish = reason
        if stop is not None and stop.is_set():
            finish = "cancelled"
        self.last_stats = meter.stats(finish)
        yield ChatChunk(text="", tokens=0, finish_reason=finish, stats=self.last_stats)

    def count_tokens(self, messages: list[Message]) -> int:
        return 0  # the endpoint's tokenizer is not here; its answer's usage says

    def embed(self, texts: str | list[str]) -> Any:
        """A numpy array, one float32 row per text."""
        import numpy as np

        items = [texts] if isinstance(texts, str) else list(texts)
        if not items or not all(isinstance(t, str) for t in items):
            raise ValidationError("texts must be a string or a non-empty list of strings")
        return np.asarray(self.client.embeddings(self.remote_model, items), dtype=np.float32)

    def close(self) -> None:
        return None  # the endpoint's model stays served

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "endpoint": self.client.name}
