"""The operations every JSON front door offers: one table for the REST API and the notebook widgets.

Each ``Operation`` names an engine call, its REST route and its parameters. The server builds its
routes from this table, widgets answer ``{"kind": "call", "method": name, "params": {...}}``
messages through ``call()``, and the OpenAPI document is checked against it, so the sidebar and a
notebook widget can never drift apart. Parameters are validated here (typed ``ValidationError``
naming the parameter), results are plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ValidationError

if TYPE_CHECKING:
    from .engine import Engine

_MISSING = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "str", "int", "float", "bool", "list[str]", "object", "list[object]"
    where: str = "query"  # "path", "query" or "body"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class Operation:
    name: str
    http_method: str
    path: str  # relative to /model-studio/api, with {model} or {job_id}
    handler: Callable[..., Any]
    summary: str
    params: tuple[Param, ...] = field(default_factory=tuple)
    status: int = 200


def _coerce(param: Param, value: Any) -> Any:
    """Convert a query-string or JSON value to the parameter's type, or raise ValidationError."""
    def bad(expected: str) -> ValidationError:
        return ValidationError(f"Parameter '{param.name}' must be {expected}, got {value!r}",
                               details={"parameter": param.name, "value": value})

    t = param.type
    if t == "str":
        if not isinstance(value, str):
            raise bad("a string")
        if param.choices is not None and value not in param.choices:
            raise ValidationError(f"Parameter '{param.name}' must be one of {', '.join(param.choices)}",
                                  details={"parameter": param.name, "value": value, "choices": list(param.choices)})
        return value
    if t == "int":
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            return int(value)
        if isinstance(value, int):
            return value
        raise bad("an integer")
    if t == "float":
        if isinstance(value, bool):
            raise bad("a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad("true or false")
    if t == "list[str]":
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return value
    if t == "object":
        if not isinstance(value, dict):
            raise bad("an object")
        return value
    if t == "list[object]":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise bad("a list of objects")
        return value
    raise AssertionError(f"unknown parameter type {t}")


def bind(op: Operation, values: dict[str, Any]) -> dict[str, Any]:
    """Validate ``values`` against ``op``'s parameters; unknown names are rejected."""
    known = {p.name for p in op.params}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValidationError(f"Unknown parameter(s) for {op.name}: {', '.join(unknown)}",
                              details={"unknown": unknown, "accepted": sorted(known)})
    out: dict[str, Any] = {}
    for p in op.params:
        value = values.get(p.name, _MISSING)
        if value is _MISSING or value is None:
            if p.required:
                raise ValidationError(f"Parameter '{p.name}' is required", details={"parameter": p.name})
            out[p.name] = p.default
        else:
            out[p.name] = _coerce(p, value)
    return out


# --- handlers ---------------------------------------------------------------------------------


def _search(eng: Engine, q, task, backend, status, format, sort, limit, hub):
    models = eng.library.search(q or "", task=task, backend=backend, status=status, format=format,
                                sort=sort, limit=limit, hub=hub)
    return {"models": [m.to_dict() for m in models], "hub_error": eng.library.hub_error if hub else None}


def _local(eng: Engine):
    return {"models": [m.to_dict() for m in eng.library.list_local()]}


def _info(eng: Engine, model, variant, revision):
    from .engine.refs import ModelRef

    return eng.library.info(str(ModelRef.parse(model, revision=revision, variant=variant))).to_dict()


def _fit(eng: Engine, model, quantization, context):
    return eng.library.fit(model, quantization=quantization, context=context).to_dict()


def _start(eng: Engine, model, quantization, files, include, revision):
    return eng.downloads.start(model, variant=quantization, files=files, include=include,
                               revision=revision).to_dict()


def _downloads(eng: Engine, state, limit):
    return {"downloads": [j.to_dict() for j in eng.downloads.list([state] if state else None, limit=limit)]}


def _jobs(eng: Engine, kind, state, since, limit):
    jobs = eng.jobs.list(kind, [state] if state else None, since=since, limit=limit)
    return {"jobs": [j.to_dict() for j in jobs]}


def _job(eng: Engine, job_id):
    return eng.jobs.get(job_id).to_dict()


def _chat_load(eng: Engine, model, **options):
    return eng.chat.load(model, **{k: v for k, v in options.items() if v is not None}).describe()


def _chat_complete(eng: Engine, model, messages, stop, backend, quantization, context_length, **sampling):
    options = {"backend": backend, "quantization": quantization, "context_length": context_length}
    return eng.chat.complete(model, messages, stop=stop or None, load_options=options, **sampling)


def _batch_start(eng: Engine, model, prompts, template, system, backend, quantization, stop, **sampling):
    options = {k: v for k, v in (("backend", backend), ("quantization", quantization)) if v is not None}
    return eng.chat.batch_start(prompts, model=model, template=template, system=system, load_options=options,
                                stop=stop or None, **sampling).to_dict()


_STATES = ("queued", "running", "paused", "completed", "failed", "cancelled", "interrupted")
_MODEL = Param("model", "str", "path", required=True, description="org/name (or local/name)")
_JOB = Param("job_id", "str", "path", required=True)
_BODY_MODEL = Param("model", "str", "body", required=True, description="org/name[:QUANT] or local/name")
_BACKEND = Param("backend", "str", "body", description="llama-cpp, transformers (default: from the format)")
_SAMPLING = (Param("temperature", "float", "body"), Param("top_p", "float", "body"), Param("top_k", "int", "body"),
             Param("max_tokens", "int", "body"), Param("stop", "list[str]", "body"), Param("seed", "int", "body"),
             Param("repeat_penalty", "float", "body"))

OPERATIONS: tuple[Operation, ...] = (
    Operation("library.search", "GET", "/library", _search, "Search catalog, Hub and local models", (
        Param("q", "str", default=""), Param("task", "str", choices=("text-generation", "text-to-video",
                                                                     "image-to-video")),
        Param("backend", "str", choices=("llama-cpp", "transformers", "diffusers")),
        Param("status", "str", choices=("available", "downloading", "local", "error")),
        Param("format", "str", choices=("gguf", "safetensors", "diffusers", "pytorch")),
        Param("sort", "str", default="downloads", choices=("downloads", "size", "name", "likes", "recent")),
        Param("limit", "int", default=50), Param("hub", "bool", default=True))),
    Operation("library.local", "GET", "/library/local", _local, "Models on this machine"),
    Operation("library.backends", "GET", "/backends", lambda eng: {"backends": eng.library.backends()},
              "Installed backends, GPU use and suggestions"),
    Operation("library.info", "GET", "/models/{model}", _info, "Files, quantizations, licence, parameters",
              (_MODEL, Param("variant", "str"), Param("revision", "str"))),
    Operation("library.fit", "GET", "/models/{model}/fit", _fit, "Will it fit in RAM / VRAM?",
              (_MODEL, Param("quantization", "str"), Param("context", "int"))),
    Operation("library.verify", "POST", "/models/{model}/verify", lambda eng, model: eng.library.verify(model),
              "Re-check local files against the Hub's checksums", (_MODEL,)),
    Operation("library.delete", "DELETE", "/models/{model}",
              lambda eng, model, dry_run: eng.library.delete(model, dry_run=dry_run),
              "Delete a model from the cache (dry_run: only report the bytes)",
              (_MODEL, Param("dry_run", "bool", default=False))),
    Operation("downloads.start", "POST", "/downloads", _start, "Start (or resume) a download", (
        Param("model", "str", "body", required=True, description="org/name[@revision][:QUANT]"),
        Param("quantization", "str", "body"), Param("files", "list[str]", "body"),
        Param("include", "list[str]", "body"), Param("revision", "str", "body")), status=202),
    Operation("downloads.list", "GET", "/downloads", _downloads, "Download jobs, newest first",
              (Param("state", "str", choices=_STATES), Param("limit", "int", default=200))),
    Operation("downloads.get", "GET", "/downloads/{job_id}",
              lambda eng, job_id: eng.downloads.get(job_id).to_dict(), "One download job", (_JOB,)),
    Operation("downloads.cancel", "POST", "/downloads/{job_id}/cancel",
              lambda eng, job_id, discard: eng.downloads.cancel(job_id, discard=discard).to_dict(),
              "Cancel (keeps the partial for resume unless discard)", (_JOB, Param("discard", "bool", "body",
                                                                                   default=False))),
    Operation("downloads.pause", "POST", "/downloads/{job_id}/pause",
              lambda eng, job_id: eng.downloads.pause(job_id).to_dict(), "Pause a download", (_JOB,)),
    Operation("downloads.resume", "POST", "/downloads/{job_id}/resume",
              lambda eng, job_id: eng.downloads.resume(job_id).to_dict(), "Resume a stopped download", (_JOB,)),
    Operation("jobs.list", "GET", "/jobs", _jobs, "All jobs (any kind), newest first", (
        Param("kind", "str"), Param("state", "str", choices=_STATES), Param("since", "float"),
        Param("limit", "int", default=200))),
    Operation("jobs.get", "GET", "/jobs/{job_id}", _job, "One job", (_JOB,)),
    Operation("settings.get", "GET", "/settings", lambda eng: eng.settings_dict(), "Current settings"),
    Operation("settings.update", "PATCH", "/settings",
              lambda eng, **changes: eng.update_settings({k: v for k, v in changes.items() if v is not None}),
              "Change settings at run time", (
                  Param("max_concurrent_downloads", "int", "body"), Param("files_per_download", "int", "body"),
                  Param("memory_budget", "int", "body"), Param("idle_ttl", "float", "body"),
                  Param("extra_model_dirs", "list[str]", "body"))),
    Operation("system.snapshot", "GET", "/system", lambda eng: eng.system.snapshot().to_dict(),
              "CPU, RAM, disks and GPUs"),
    Operation("chat.models", "GET", "/chat/models", lambda eng: {"models": eng.chat.models()},
              "Local text-generation models an installed backend can load"),
    Operation("chat.loaded", "GET", "/chat/loaded", lambda eng: {"models": eng.chat.loaded()},
              "Models in memory, with their memory and idle time"),
    Operation("chat.load", "POST", "/chat/load", _chat_load, "Load a model for chat (reused when loaded)", (
        _BODY_MODEL, _BACKEND, Param("context_length", "int", "body"), Param("threads", "int", "body"),
        Param("gpu_layers", "int", "body"), Param("dtype", "str", "body", choices=("float32", "bfloat16", "float16")),
        Param("chat_template", "str", "body"), Param("quantization", "str", "body"))),
    Operation("chat.unload", "POST", "/chat/unload",
              lambda eng, model, backend: eng.chat.unload(model, backend=backend),
              "Unload a model and free its memory", (_BODY_MODEL, _BACKEND)),
    Operation("chat.complete", "POST", "/chat/complete", _chat_complete, "A whole chat answer (no streaming)", (
        _BODY_MODEL, Param("messages", "list[object]", "body", required=True,
                           description="[{role: system|user|assistant, content}]"),
        *_SAMPLING, _BACKEND, Param("quantization", "str", "body"), Param("context_length", "int", "body"))),
    Operation("batch.start", "POST", "/batches", _batch_start,
              "Answer a list of prompts as a resumable job", (
                  _BODY_MODEL, Param("prompts", "list[str]", "body", required=True),
                  Param("template", "str", "body", default="{prompt}"), Param("system", "str", "body"),
                  *_SAMPLING, _BACKEND, Param("quantization", "str", "body")), status=202),
    Operation("batch.get", "GET", "/batches/{job_id}", lambda eng, job_id: eng.chat.batch_results(job_id),
              "A batch job and the answers so far", (_JOB,)),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}


def call(engine: Engine, name: str, params: dict[str, Any] | None = None) -> Any:
    """Run operation ``name`` with JSON ``params`` (validated) and return its JSON result."""
    op = BY_NAME.get(name) if isinstance(name, str) else None
    if op is None:
        raise ValidationError(f"Unknown operation {name!r}", details={"operation": name,
                                                                      "known": sorted(BY_NAME)})
    if params is not None and not isinstance(params, dict):
        raise ValidationError("params must be an object", details={"operation": name})
    return op.handler(engine, **bind(op, params or {}))
