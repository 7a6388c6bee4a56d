"""Writes ``server/openapi.json`` from ``api.OPERATIONS`` and the engine's result dataclasses.

The document is checked in (it is the contract the TypeScript side and outside clients read);
re-generate it after changing an operation, then review the diff::

    python -m model_studio.server._openapi          # rewrite openapi.json
    python -m model_studio.server._openapi --check  # exit 1 if the file is stale

tests/server/test_openapi.py checks the file against the registered routes independently.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from .. import __version__, api

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

_SCALARS = {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
            "bool": {"type": "boolean"}, "object": {"type": "object"},
            "list[str]": {"type": "array", "items": {"type": "string"}},
            "list[object]": {"type": "array", "items": {"type": "object"}}}

# Operation name -> (schema of the success body, extra error statuses).
_RESULTS: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "library.search": ({"type": "object", "required": ["models", "hub_error"], "properties": {
        "models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelInfo"}},
        "hub_error": {"type": ["object", "null"], "required": ["type", "message", "details", "resolution_steps"],
                      "description": "Why the Hub part is missing (unreachable, slow, ...): an error's inner "
                                     "object, as under Error.error"}}},
        (502,)),
    "library.local": ({"type": "object", "required": ["models"], "properties": {
        "models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelInfo"}}}}, ()),
    "library.backends": ({"type": "object", "required": ["backends"], "properties": {
        "backends": {"type": "array", "items": {"type": "object"}}}}, ()),
    "library.info": ({"$ref": "#/components/schemas/ModelInfo"}, (404, 502)),
    "library.fit": ({"$ref": "#/components/schemas/FitResult"}, (404, 502)),
    "library.verify": ({"type": "object", "required": ["model", "ok", "checked", "mismatches"], "properties": {
        "model": {"type": "string"}, "ok": {"type": "boolean"}, "checked": {"type": "integer"},
        "mismatches": {"type": "array", "items": {"type": "object"}}}}, (404, 502)),
    "library.delete": ({"type": "object", "required": ["model", "freed_bytes", "revisions", "deleted"],
                        "properties": {"model": {"type": "string"}, "freed_bytes": {"type": "integer"},
                                       "revisions": {"type": "array", "items": {"type": "string"}},
                                       "deleted": {"type": "boolean"}}}, (404, 409)),
    "downloads.start": ({"$ref": "#/components/schemas/Job"}, (404, 409, 502, 507)),
    "downloads.list": ({"type": "object", "required": ["downloads"], "properties": {
        "downloads": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}, ()),
    "downloads.get": ({"$ref": "#/components/schemas/Job"}, (404,)),
    "downloads.cancel": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "downloads.pause": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "downloads.resume": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "jobs.list": ({"type": "object", "required": ["jobs"], "properties": {
        "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}, ()),
    "jobs.get": ({"$ref": "#/components/schemas/Job"}, (404,)),
    "settings.get": ({"$ref": "#/components/schemas/Settings"}, ()),
    "settings.update": ({"$ref": "#/components/schemas/Settings"}, ()),
    "system.snapshot": ({"$ref": "#/components/schemas/SystemSnapshot"}, ()),
    "chat.models": ({"type": "object", "required": ["models"], "properties": {
        "models": {"type": "array", "items": {"type": "object"}}}}, ()),
    "chat.loaded": ({"type": "object", "required": ["models"], "properties": {
        "models": {"type": "array", "items": {"type": "object"}}}}, ()),
    "chat.load": ({"type": "object", "required": ["model", "backend", "memory_bytes", "context_length"],
                   "description": "The loaded model (describe())"}, (404, 501, 507)),
    "chat.unload": ({"type": "object", "required": ["unloaded", "freed_bytes"], "properties": {
        "unloaded": {"type": "array", "items": {"type": "object"}}, "freed_bytes": {"type": "integer"}}}, ()),
    "chat.complete": ({"type": "object", "required": ["text", "stats"], "properties": {
        "text": {"type": "string"}, "stats": {"type": "object"}, "model": {"type": "string"},
        "finish_reason": {"type": "string"}}}, (404, 501, 507)),
    "batch.start": ({"$ref": "#/components/schemas/Job"}, (404, 409, 501)),
    "batch.get": ({"type": "object", "required": ["job", "results"], "properties": {
        "job": {"$ref": "#/components/schemas/Job"},
        "results": {"type": "array", "items": {"type": "object"}}}}, (404,)),
    "batch.list": ({"type": "object", "required": ["batches"], "properties": {
        "batches": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}, ()),
    "batch.cancel": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "batch.resume": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "training.start": ({"$ref": "#/components/schemas/Job"}, (404, 501)),
    "training.runs": ({"type": "object", "required": ["runs"], "properties": {
        "runs": {"type": "array", "items": {"type": "object"}}}}, ()),
    "training.get": ({"$ref": "#/components/schemas/Job"}, (404,)),
    "training.metrics": ({"type": "object", "required": ["metrics"], "properties": {
        "metrics": {"type": "array", "items": {"type": "object"}}}}, (404,)),
    "training.logs": ({"type": "object", "required": ["log"], "properties": {"log": {"type": "string"}}}, (404,)),
    "training.cancel": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "training.resume": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "training.merge": ({"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
                       (404, 409, 501)),
    "training.estimate": ({"type": "object", "required": ["memory_bytes", "seconds_per_step", "seconds"],
                           "properties": {"memory_bytes": {"type": "integer"}, "seconds_per_step": {"type": "number"},
                                          "seconds": {"type": "number"}}}, (404,)),
    "video.models": ({"type": "object", "required": ["models"], "properties": {
        "models": {"type": "array", "items": {"$ref": "#/components/schemas/VideoModel"}}}}, ()),
    "video.plan": ({"$ref": "#/components/schemas/VideoPlan"}, (404, 507)),
    "video.loaded": ({"type": "object", "required": ["pipelines"], "properties": {
        "pipelines": {"type": "array", "items": {"type": "object"}}}}, ()),
    "video.unload": ({"type": "object", "required": ["unloaded", "freed_bytes"], "properties": {
        "unloaded": {"type": "array", "items": {"type": "string"}}, "freed_bytes": {"type": "integer"}}}, (409,)),
    "video.generate": ({"$ref": "#/components/schemas/Job"}, (404, 409, 501, 507)),
    "video.list": ({"type": "object", "required": ["generations"], "properties": {
        "generations": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}, ()),
    "video.get": ({"$ref": "#/components/schemas/Job"}, (404,)),
    "video.cancel": ({"$ref": "#/components/schemas/Job"}, (404,)),
    "video.resume": ({"$ref": "#/components/schemas/Job"}, (404, 409)),
    "video.delete": ({"type": "object", "required": ["deleted", "bytes"], "properties": {
        "deleted": {"type": "string"}, "bytes": {"type": "integer"}}}, (404, 409)),
    "video.media": ({"type": "object", "required": ["mime", "base64", "bytes"], "properties": {
        "mime": {"type": "string"}, "base64": {"type": "string"}, "bytes": {"type": "integer"}}}, (404,)),
}

_STRATEGY = {"type": "object", "required": ["name", "offload", "vae_tiling", "vae_slicing", "peak_bytes", "fits"],
             "properties": {"name": {"type": "string"},
                            "offload": {"enum": ["none", "model", "sequential", "cpu"]},
                            "vae_tiling": {"type": "boolean"}, "vae_slicing": {"type": "boolean"},
                            "peak_bytes": {"type": "integer"}, "fits": {"type": "boolean"},
                            "speed_rank": {"type": "integer"}, "reason": {"type": "string"}}}
_VIDEO_SCHEMAS: dict[str, Any] = {
    "VideoModel": {"type": "object", "required": ["id", "name", "local", "pipeline", "family", "task", "defaults",
                                                  "rules", "presets"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "local": {"type": "boolean"},
        "pipeline": {"type": "string"}, "family": {"type": "string"}, "task": {"type": "string"},
        "text_to_video": {"type": "boolean"}, "image_to_video": {"type": "boolean"},
        "size": {"type": ["integer", "null"]}, "revision": {"type": ["string", "null"]},
        "defaults": {"type": "object", "description": "width, height, num_frames, fps, steps, guidance"},
        "rules": {"type": "object", "description": "size_multiple, frame_step, frame_offset, min/max frames, "
                                                   "steps, guidance and fps ranges"},
        "presets": {"type": "array", "items": {"type": "object"}}, "lora": {"type": "boolean"}}},
    "VideoPlan": {"type": "object", "required": ["device", "free_bytes", "strategy", "options", "fits", "reasoning"],
                  "properties": {
        "device": {"type": "string"}, "device_name": {"type": "string"}, "free_bytes": {"type": "integer"},
        "total_bytes": {"type": "integer"}, "dtype": {"type": "string"}, "strategy": _STRATEGY,
        "options": {"type": "array", "items": _STRATEGY}, "fits": {"type": "boolean"},
        "reasoning": {"type": "array", "items": {"type": "string"}}, "request": {"type": "object"},
        "local": {"type": "boolean"}}},
}

_ERROR_TEXT = {400: "Invalid input (ValidationError)",
               403: "Missing or invalid Jupyter token, or the server's Authorizer refuses the operation's "
                    "x-authorization action (PermissionDeniedError)",
               404: "No such model, file, revision or job", 409: "Conflicts with the current state",
               413: "The request body is over the operation's x-max-body-bytes (PayloadTooLargeError)",
               500: "Unexpected server error", 501: "An optional backend is not installed",
               502: "The Hub failed or sent bad data",
               507: "Not enough disk space or memory"}


def _type_schema(tp: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return {"type": "null"}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = _type_schema(args[0], schemas) if len(args) == 1 else {}
        if "type" in inner and isinstance(inner["type"], str):
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]} if inner else {}
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return {"type": "array", "items": _type_schema(args[0], schemas) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object"}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if dataclasses.is_dataclass(tp):
        _dataclass_schema(tp, schemas)  # type: ignore[arg-type]
        return {"$ref": f"#/components/schemas/{tp.__name__}"}
    for py, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if tp is py:
            return {"type": name}
    return {}


def _dataclass_schema(cls: type, schemas: dict[str, Any]) -> None:
    if cls.__name__ in schemas:
        return
    schemas[cls.__name__] = {}  # placeholder against recursion
    hints = typing.get_type_hints(cls)
    props = {f.name: _type_schema(hints[f.name], schemas) for f in dataclasses.fields(cls)
             if not f.name.startswith("_")}
    schemas[cls.__name__] = {"type": "object", "description": (cls.__doc__ or "").strip().split("\n")[0],
                             "required": sorted(props), "properties": props}


def _param(p: api.Param) -> dict[str, Any]:
    schema = dict(_SCALARS[p.type])
    if p.choices:
        schema["enum"] = list(p.choices)
    if p.default is not None:
        schema["default"] = p.default
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                           "schema": schema}
    if p.description:
        out["description"] = p.description
    if p.name == "model" and p.where == "path":
        out["description"] = "org/name (or local/name); the slash is part of the path, not encoded"
    if p.type == "list[str]" and p.where == "query":
        out.update(style="form", explode=True)
    return out


def _operation(op: api.Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    result, errors = _RESULTS.get(op.name, ({"type": "object"}, ()))
    doc: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [op.name.split(".")[0]],
                           "x-authorization": {"resource": "model-studio", "action": op.action}}
    params = [_param(p) for p in op.params if p.where != "body"]
    if params:
        doc["parameters"] = params
    body = [p for p in op.params if p.where == "body"]
    if body:
        props = {}
        for p in body:
            props[p.name] = dict(_SCALARS[p.type])
            if p.description:
                props[p.name]["description"] = p.description
            if p.default is not None:
                props[p.name]["default"] = p.default
            if p.choices:
                props[p.name]["enum"] = list(p.choices)
        schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        required = [p.name for p in body if p.required]
        if required:
            schema["required"] = required
        doc["requestBody"] = {"required": bool(required), "x-max-body-bytes": op.max_body,
                              "content": {"application/json": {"schema": schema}}}
        errors = (*errors, 413)
    responses: dict[str, Any] = {str(op.status): {
        "description": "Accepted: the job runs in the background" if op.status == 202 else "OK",
        "content": {"application/json": {"schema": result}}}}
    for code in sorted({400, 403, 500, *errors}):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    doc["responses"] = responses
    return doc


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route under ``/model-studio/api``."""
    from ..engine.fit import FitResult
    from ..engine.jobs import Job
    from ..engine.library import ModelInfo
    from ..engine.system import SystemSnapshot

    schemas: dict[str, Any] = {}
    for cls in (Job, ModelInfo, FitResult, SystemSnapshot):
        _dataclass_schema(cls, schemas)
    schemas["Job"]["properties"].pop("_store", None)
    schemas["Progress"]["properties"]["fraction"] = {"type": ["number", "null"]}
    schemas["Progress"]["required"] = sorted(schemas["Progress"]["properties"])
    schemas["Settings"] = {"type": "object", "required": ["settings", "mutable"], "properties": {
        "settings": {"type": "object", "description": "Every setting (the Hub token only as hf_token_set)"},
        "mutable": {"type": "array", "items": {"type": "string"}},
        "file_errors": {"type": "array", "description": "What was wrong with settings.json at start-up (each "
                        "entry skipped)", "items": {"type": "object", "properties": {
                            "setting": {"type": ["string", "null"]}, "message": {"type": "string"},
                            "value": {}}}}}}
    schemas.update(_VIDEO_SCHEMAS)
    schemas["Error"] = {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["type", "message", "details", "resolution_steps"], "properties": {
            "type": {"type": "string", "description": "ValidationError, NotFoundError, HTTPError, ..."},
            "message": {"type": "string"}, "details": {"type": "object"},
            "resolution_steps": {"type": "array", "items": {"type": "string"}}}}}}

    paths: dict[str, Any] = {}
    for op in api.OPERATIONS:
        paths.setdefault(op.path, {})[op.http_method.lower()] = _operation(op, schemas)
    paths["/events"] = {"get": {
        "operationId": "events", "summary": "Server-Sent Events: job changes and system snapshots",
        "tags": ["events"], "x-authorization": {"resource": "model-studio", "action": "read"},
        "description": "`event: job` (data: a Job) for every job change in any process sharing the "
                       "studio home; `event: system` (data: a SystemSnapshot) every "
                       "ModelStudioApp.system_interval seconds; `: keep-alive` comments.",
        "responses": {"200": {"description": "An endless event stream",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      "403": {"$ref": "#/components/responses/E403"}}}}
    for name, mime, what in (("video.mp4", "video/mp4", "The generated MP4"),
                             ("thumbnail.jpg", "image/jpeg", "The generation's thumbnail")):
        paths[f"/video/{{job_id}}/{name}"] = {"get": {
            "operationId": f"video.file.{name.split('.')[0]}", "summary": f"{what} (HTTP Range supported)",
            "tags": ["video"], "x-authorization": {"resource": "model-studio", "action": "read"},
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
                            "description": "bytes=START-END: answered 206 with Content-Range"}],
            "responses": {"200": {"description": what, "content": {mime: {"schema": {"type": "string",
                                                                                   "format": "binary"}}}},
                          "206": {"description": "The requested byte range"},
                          "403": {"$ref": "#/components/responses/E403"},
                          "404": {"$ref": "#/components/responses/E404"}}}}
    paths["/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document", "tags": ["meta"],
        "x-authorization": {"resource": "model-studio", "action": "read"},
        "responses": {"200": {"description": "OpenAPI 3.1",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      "403": {"$ref": "#/components/responses/E403"}}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "jupyter-model-studio", "version": __version__,
                 "description": "REST API of the model studio's Jupyter Server extension. Every error "
                                "has the shape {\"error\": {type, message, details, resolution_steps}}. "
                                "Each operation's x-authorization names the action (read, write or "
                                "execute) the server's Authorizer must allow on the resource "
                                "model-studio; a JSON request body is at most x-max-body-bytes."},
        "servers": [{"url": "/model-studio/api", "description": "Relative to the Jupyter server's base URL"}],
        "security": [{"jupyterToken": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"jupyterToken": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "The Jupyter server token as `Authorization: token <TOKEN>` (or "
                               "`Bearer <TOKEN>`)."}},
            "responses": {f"E{code}": {"description": text, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                for code, text in sorted(_ERROR_TEXT.items())},
            "schemas": dict(sorted(schemas.items())),
        },
    }


def render() -> str:
    return json.dumps(build_document(), indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        stale = not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != text
        print(f"{OPENAPI_PATH} is {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    OPENAPI_PATH.write_text(text)
    print(f"wrote {OPENAPI_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
