"""``engine.chat`` and ``engine.video`` in host mode: the same Python API, served by the model host.

``ChatService`` hands ``load``, ``loaded``, ``unload`` and ``stream`` (hence ``complete`` and
batches) to ``HostChat`` when the engine uses the host. A stream is the host's OpenAI stream
(``/v1/chat/completions`` with the studio's ``model_studio`` extension, which brings back the
exact model and the ``ChatStats``). Stopping works across the hop two ways: closing the stream
closes the HTTP response (the host sees its client go), and setting the ``cancel`` event asks the
host to stop that answer (``POST /manage/cancel``), which then ends as ``cancelled`` with its
figures, as it does in process.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from ...errors import HostCrashedError
from ..chat.base import ChatChunk, ChatStats, LoadOptions, Message
from ..chat.structured import OutputControls, checked_messages
from .client import HostClient


class RemoteModel:
    """A model loaded in the host, as ``engine.chat.load`` returns it (``LoadedModel``'s fields)."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.description = description
        self.model_id: str = description["model"]
        self.backend: str = description["backend"]
        self.path: str = description.get("path", "")
        self.memory_bytes: int = int(description.get("memory_bytes") or 0)
        self.context_length: int = int(description.get("context_length") or 0)
        options = {k: v for k, v in (description.get("options") or {}).items() if k in LoadOptions.__dataclass_fields__}
        self.options = LoadOptions(**options)
        self.last_stats: ChatStats | None = None

    def describe(self) -> dict[str, Any]:
        return dict(self.description)

    def __repr__(self) -> str:
        return f"<RemoteModel {self.model_id} ({self.backend}) in the model host>"


def _load_options(loaded: RemoteModel | None, load_options: dict[str, Any] | LoadOptions | None) -> dict[str, Any]:
    """Load options as a JSON object (a ``LoadOptions`` too, as ``ChatService`` accepts one)."""
    if loaded is not None:
        load_options = loaded.options
    if isinstance(load_options, LoadOptions):
        load_options = load_options.to_dict()
    return {k: v for k, v in (load_options or {}).items() if v is not None}


class HostChat:
    """The host-backed half of ``ChatService``."""

    def __init__(self, client: HostClient, chat: Any) -> None:
        self.client = client
        self.chat = chat  # the in-process service: its checks run here, before the hop

    def load(self, model: Any, **load_options: Any) -> RemoteModel:
        self.chat._options(load_options)  # unknown or out-of-range options: the same ValidationError
        body = {"model": str(model), "load_options": _load_options(None, load_options)}
        return RemoteModel(self.client.request("POST", "/manage/load", json_body=body))

    def loaded(self) -> list[dict[str, Any]]:
        result = self.client.request("GET", "/manage/loaded", start=False)
        return list(result) if result else []

    def unload(self, model: Any, backend: str | None = None) -> dict[str, Any]:
        result = self.client.request("POST", "/manage/unload", json_body={"model": str(model), "backend": backend},
                                     start=False)
        return result or {"unloaded": [], "freed_bytes": 0}

    def stream(self, model: Any, messages: list[Message], *, stop: Any = None, cancel: threading.Event | None = None,
               load_options: dict[str, Any] | LoadOptions | None = None, controls: OutputControls | None = None,
               **sampling: Any) -> Any:
        from ..chat import ChatStream

        started = time.perf_counter()
        msgs = checked_messages(messages)
        if isinstance(stop, threading.Event):
            cancel, stop = stop, None
        if isinstance(stop, str):
            stop = [stop]
        params = self.chat._sampling(sampling, stop)  # refused here, with the engine's own message
        if isinstance(model, RemoteModel):
            loaded = model
        else:
            loaded = self.load(model, **_load_options(None, load_options))
        body = {"model": loaded.model_id, "messages": msgs, "stream": True,
                "temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k,
                "max_tokens": params.max_tokens, "repeat_penalty": params.repeat_penalty,
                "model_studio": {"stats": True, "load_options": _load_options(loaded, None),
                                 "request_id": uuid.uuid4().hex}}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        body.update(_control_fields(controls or OutputControls()))
        stream = ChatStream(iter(()), loaded)  # type: ignore[arg-type]
        stream._chunks = self._chunks(body, loaded, cancel, started, stream)
        return stream

    def _chunks(self, body: dict[str, Any], loaded: RemoteModel, cancel: threading.Event | None,
                started: float, stream: Any) -> Iterator[ChatChunk]:
        request_id = body["model_studio"]["request_id"]
        ended = threading.Event()
        if cancel is not None:
            threading.Thread(target=self._watch, args=(cancel, ended, request_id), daemon=True,
                             name="model-studio-host-cancel").start()
        first: float | None = None
        tokens = 0
        calls: dict[int, dict[str, Any]] = {}  # tool calls gathered from their streamed deltas
        call_logprobs: list[dict[str, Any]] = []
        try:
            with self.client.stream_events("/v1/chat/completions", body) as events:
                for event in events:
                    choice = (event.get("choices") or [{}])[0]
                    delta = choice.get("delta") or {}
                    text = delta.get("content") or ""
                    extra = event.get("model_studio")
                    if delta.get("tool_calls"):
                        _gather_calls(calls, delta["tool_calls"])
                        call_logprobs.extend((choice.get("logprobs") or {}).get("content") or [])
                    if text:
                        first = first or time.perf_counter()
                        tokens += 1
                        yield ChatChunk(text=text, tokens=1, logprobs=(choice.get("logprobs") or {}).get("content"))
                    if extra is not None:
                        stream.tool_format = extra.get("tool_format")
                        if calls:
                            yield ChatChunk(text="", tokens=0, tool_calls=[calls[i] for i in sorted(calls)],
                                            logprobs=call_logprobs or None)
                        stats = ChatStats(**(extra.get("stats") or {}))
                        if first is not None:  # the time to first token as this caller saw it
                            stats.ttft = round(first - started, 4)
                        stats.total_time = round(time.perf_counter() - started, 4)
                        loaded.last_stats = stats
                        yield ChatChunk(text="", tokens=0, finish_reason=stats.finish_reason or
                                        choice.get("finish_reason") or "stop", stats=stats)
                        return
        finally:
            ended.set()

    def _watch(self, cancel: threading.Event, ended: threading.Event, request_id: str) -> None:
        while not ended.is_set():
            if cancel.wait(0.05):
                if not ended.is_set():
                    try:
                        self.client.request("POST", "/manage/cancel", json_body={"request_id": request_id},
                                            start=False)
                    except HostCrashedError:
                        pass  # the stream reports it
                return


    # Raw prompts and embeddings (``/v1/completions``, ``/v1/embeddings`` on the host) ------------

    def stream_prompt(self, model: Any, prompt: str, *, cancel: threading.Event | None = None,
                      load_options: dict[str, Any] | LoadOptions | None = None, **sampling: Any) -> Any:
        from ..chat import ChatStream

        started = time.perf_counter()
        stop = sampling.pop("stop", None)
        params = self.chat._sampling(sampling, [stop] if isinstance(stop, str) else stop)
        loaded = model if isinstance(model, RemoteModel) else self.load(model, **_load_options(None, load_options))
        body = {"model": loaded.model_id, "prompt": prompt, "stream": True, **{
            k: v for k, v in vars(params).items() if v is not None and v != []},
            "model_studio": {"stats": True, "load_options": _load_options(loaded, None),
                             "request_id": uuid.uuid4().hex}}
        return ChatStream(self._prompt_chunks(body, loaded, cancel, started), loaded)  # type: ignore[arg-type]

    def _prompt_chunks(self, body: dict[str, Any], loaded: RemoteModel, cancel: threading.Event | None,
                       started: float) -> Iterator[ChatChunk]:
        ended = threading.Event()
        if cancel is not None:
            threading.Thread(target=self._watch, args=(cancel, ended, body["model_studio"]["request_id"]),
                             daemon=True, name="model-studio-host-cancel").start()
        try:
            with self.client.stream_events("/v1/completions", body) as events:
                for event in events:
                    for choice in event.get("choices") or []:
                        if choice.get("text"):
                            yield ChatChunk(text=choice["text"], tokens=1)
                        stats = (event.get("model_studio") or {}).get("stats")
                        if choice.get("finish_reason") is not None:
                            loaded.last_stats = ChatStats(**(stats or {"finish_reason": choice["finish_reason"]}))
                            loaded.last_stats.total_time = round(time.perf_counter() - started, 4)
                            yield ChatChunk(text="", tokens=0, finish_reason=loaded.last_stats.finish_reason
                                            or choice["finish_reason"], stats=loaded.last_stats)
        finally:
            ended.set()

    def embeddings(self, texts: Any, *, model: Any, column: str | None = None, dimensions: int | None = None,
                   load_options: dict[str, Any] | LoadOptions | None = None) -> Any:
        import base64

        import numpy as np

        from ..chat.embed import Embeddings, inputs_of

        body: dict[str, Any] = {"model": str(model), "input": inputs_of(texts, column), "encoding_format": "base64",
                "model_studio": {"stats": True, "load_options": _load_options(None, load_options)}}
        if dimensions is not None:
            body["dimensions"] = dimensions
        answer = self.client.request("POST", "/v1/embeddings", json_body=body)
        rows = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in answer["data"]]
        extra = answer.get("model_studio") or {}
        return Embeddings(np.stack(rows).astype(np.float32), extra.get("model", str(model)),
                          int(answer["usage"]["prompt_tokens"]), bool(extra.get("normalized")),
                          str(extra.get("pooling", "")), list(extra.get("token_counts") or []))
def _control_fields(controls: OutputControls) -> dict[str, Any]:
    """The request fields that carry ``controls`` to the host's ``/v1``."""
    body: dict[str, Any] = {}
    if controls.tools:
        body.update(tools=controls.tools, tool_choice=controls.tool_choice,
                    parallel_tool_calls=controls.parallel_tool_calls)
    if controls.response_format is not None:
        body["response_format"] = controls.response_format
    if controls.logprobs:
        body.update(logprobs=True, top_logprobs=controls.top_logprobs)
    return body


def _gather_calls(calls: dict[int, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    """OpenAI's ``tool_calls`` deltas folded into whole calls, by index."""
    for delta in deltas:
        call = calls.setdefault(int(delta.get("index", 0)), {"id": "", "type": "function",
                                                             "function": {"name": "", "arguments": ""}})
        call["id"] = delta.get("id") or call["id"]
        fn = delta.get("function") or {}
        call["function"]["name"] += fn.get("name") or ""
        call["function"]["arguments"] += fn.get("arguments") or ""


class HostVideo:
    """The host-backed half of ``VideoService``: generations run in the host, pipelines live there."""

    def __init__(self, client: HostClient) -> None:
        self.client = client

    def submit(self, job: Any) -> None:
        """Ask the host to run a job queued in the store (it becomes the job's owner)."""
        self.client.request("POST", "/manage/video/run", json_body={"job_id": job.id})

    def loaded(self) -> list[dict[str, Any]]:
        result = self.client.request("GET", "/manage/video/loaded", start=False)
        return list(result["pipelines"]) if result else []

    def unload(self, device: str | None = None) -> dict[str, Any]:
        result = self.client.request("POST", "/manage/video/unload", json_body={"device": device}, start=False)
        return result or {"unloaded": [], "freed_bytes": 0}
