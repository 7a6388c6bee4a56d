"""Writes ``server/openapi.json`` from ``api.OPERATIONS`` and the engine's result dataclasses.

The document is checked in (it is the contract the TypeScript side and outside clients read);
re-generate it after changing an operation, then review the diff::

    python -m model_studio.server._openapi          # rewrite openapi.json
    python -m model_studio.server._openapi --check  # exit 1 if the file is stale

tests/server/test_openapi.py checks the file against the registered routes independently, and
tests/server/test_fuzz.py runs schemathesis against a live server with it.
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

_JOB = {"$ref": "#/components/schemas/Job"}
_ERROR_INFO = {"$ref": "#/components/schemas/ErrorInfo"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_STR, _INT, _NUM, _BOOL, _OBJ = ({"type": t} for t in ("string", "integer", "number", "boolean", "object"))
_OPT_STR, _OPT_INT = {"type": ["string", "null"]}, {"type": ["integer", "null"]}

# Operation name -> (schema of the success body, error statuses besides those every operation can
# answer). Every operation: 400 (invalid input), 403 (token, authorization, a gated Hub repo), 500;
# 404 too where it looks something up by name (a path parameter, a model, a dataset); see
# _statuses(). The extra ones name the engine's typed errors the call can raise: 409
# ConflictError/CancelledError, 501 BackendUnavailableError, 502 NetworkError/IntegrityError (the
# Hub), 507 DiskSpaceError/ResourceError.
_RESULTS: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "library.search": (_obj(["models", "hub_error"], models=_array({"$ref": "#/components/schemas/ModelInfo"}),
                            hub_error={"anyOf": [_ERROR_INFO, {"type": "null"}],
                                       "description": "Why the Hub part is missing (offline, rate limited, "
                                                      "...): the error's {type, message, details, "
                                                      "resolution_steps}; null when the Hub answered"}),
                       (502,)),
    "library.local": (_obj(["models"], models=_array({"$ref": "#/components/schemas/ModelInfo"})), ()),
    "library.backends": (_obj(["backends"], backends=_array(_obj(
        ["name", "installed", "version", "install", "gpu", "local_models", "models", "suggestions"],
        name=_STR, installed=_BOOL, version=_OPT_STR, install=_OPT_STR, gpu=_BOOL, local_models=_INT,
        models=_array(_STR), suggestions=_array(_OBJ)))), ()),
    "library.info": ({"$ref": "#/components/schemas/ModelInfo"}, (502,)),
    "library.fit": ({"$ref": "#/components/schemas/FitResult"}, (502,)),
    "library.verify": (_obj(["model", "ok", "checked", "mismatches"], model=_STR, commit=_OPT_STR, ok=_BOOL,
                            checked=_INT, mismatches=_array(_OBJ), not_downloaded=_array(_STR),
                            extra=_array(_STR)), (502,)),
    "library.delete": (_obj(["model", "freed_bytes", "revisions", "deleted"], model=_STR, freed_bytes=_INT,
                            revisions=_array(_STR), deleted=_BOOL), (409,)),
    "downloads.start": (_JOB, (409, 502, 507)),
    "downloads.list": (_obj(["downloads"], downloads=_array(_JOB)), ()),
    "downloads.get": (_JOB, ()),
    "downloads.cancel": (_JOB, (409,)),
    "downloads.pause": (_JOB, (409,)),
    "downloads.resume": (_JOB, (409, 502, 507)),
    "jobs.list": (_obj(["jobs"], jobs=_array(_JOB)), ()),
    "jobs.get": (_JOB, ()),
    "settings.get": ({"$ref": "#/components/schemas/Settings"}, ()),
    "settings.update": ({"$ref": "#/components/schemas/Settings"}, ()),
    "system.snapshot": ({"$ref": "#/components/schemas/SystemSnapshot"}, ()),
    "chat.models": (_obj(["models"], models=_array(_obj(
        ["id", "name", "formats", "backends", "default_backend", "quantizations", "loaded"],
        id=_STR, name=_STR, formats=_array(_STR), backends=_array(_STR), default_backend=_STR,
        quantizations=_array(_STR), size=_OPT_INT, context_length=_OPT_INT, loaded=_BOOL))), ()),
    "chat.loaded": (_obj(["models"], models=_array({"$ref": "#/components/schemas/LoadedModel"})), ()),
    "chat.load": ({"$ref": "#/components/schemas/LoadedModel"}, (409, 501, 502, 507)),
    "chat.unload": (_obj(["unloaded", "freed_bytes"], unloaded=_array(_obj(
        ["model", "backend"], model=_STR, backend=_STR, adapter=_OPT_STR)), freed_bytes=_INT), ()),
    "chat.complete": (_obj(["text", "model", "finish_reason", "stats"], text=_STR, model=_STR,
                           finish_reason={"type": ["string", "null"], "description": "stop, length or cancelled"},
                           stats={"type": ["object", "null"]}), (409, 501, 502, 507)),
    "batch.start": (_JOB, (409, 501, 502, 507)),
    "batch.get": (_obj(["job", "results"], job=_JOB, results=_array(_OBJ)), ()),
    "batch.list": (_obj(["batches"], batches=_array(_JOB)), ()),
    "batch.cancel": (_JOB, (409,)),
    "batch.resume": (_JOB, (409, 501, 502, 507)),
    "datasets.list": (_obj(["datasets"], datasets=_array({"$ref": "#/components/schemas/DatasetInfo"})), ()),
    "datasets.get": ({"$ref": "#/components/schemas/DatasetInfo"}, ()),
    "datasets.upload": ({"$ref": "#/components/schemas/DatasetInfo"}, (409, 501, 507)),
    "datasets.preview": (_obj(["info", "model", "rows"], info={"$ref": "#/components/schemas/DatasetInfo"},
                              model=_OPT_STR, rows=_array(_obj(["row", "raw", "messages", "rendered"],
                                                               row=_INT, raw=_OBJ, messages=_array(_OBJ),
                                                               rendered=_OPT_STR))), (501, 502)),
    "datasets.stats": (_obj(["rows", "min", "max", "mean", "p95", "context_length", "max_seq_length", "limit",
                             "truncated_rows"], rows=_INT, min=_INT, max=_INT, mean=_NUM, p95=_INT,
                            context_length=_OPT_INT, max_seq_length=_INT, limit=_INT, truncated_rows=_INT),
                       (501, 502)),
    "datasets.delete": (_obj(["deleted", "freed_bytes"], deleted=_STR, freed_bytes=_INT), ()),
    "training.start": (_JOB, (409, 501, 502, 507)),
    "training.runs": (_obj(["runs"], runs=_array({"allOf": [_JOB, _obj(["final_metrics"], final_metrics={
        "type": ["object", "null"]})]})), ()),
    "training.get": (_JOB, ()),
    "training.metrics": (_obj(["metrics"], metrics=_array(_OBJ)), ()),
    "training.logs": (_obj(["log"], log=_STR), ()),
    "training.cancel": (_JOB, (409,)),
    "training.resume": (_JOB, (409, 501, 507)),
    "training.merge": (_obj(["path"], path=_STR), (409, 501, 507)),
    "training.estimate": (_obj(["memory_bytes", "seconds_per_step", "seconds"], memory_bytes=_INT,
                               seconds_per_step=_NUM, seconds=_NUM, steps=_INT, parameters=_INT,
                               trainable_parameters=_INT), (501, 502)),
    "video.models": (_obj(["models"], models=_array({"$ref": "#/components/schemas/VideoModel"})), ()),
    "video.plan": ({"$ref": "#/components/schemas/VideoPlan"}, (501, 502, 507)),
    "video.loaded": (_obj(["pipelines"], pipelines=_array(_OBJ)), ()),
    "video.unload": (_obj(["unloaded", "freed_bytes"], unloaded=_array(_STR), freed_bytes=_INT), (409,)),
    "video.generate": (_JOB, (409, 501, 502, 507)),
    "video.list": (_obj(["generations"], generations=_array(_JOB)), ()),
    "video.get": (_JOB, ()),
    "video.cancel": (_JOB, (409,)),
    "video.resume": (_JOB, (409, 501, 507)),
    "video.delete": (_obj(["deleted", "bytes"], deleted=_STR, bytes=_INT), (409,)),
    "video.media": (_obj(["mime", "base64", "bytes"], mime=_STR, base64=_STR, bytes=_INT), ()),
}

# Parameters that name something the operation looks up (besides path parameters): unknown -> 404.
_LOOKED_UP = {"model", "base", "dataset", "lora"}

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

_ERROR_TEXT = {400: "Invalid input (ValidationError): a parameter's type, limit or value",
               403: "No or a wrong Jupyter token, the server's Authorizer refusing the operation's "
                    "x-authorization action (PermissionDeniedError), a path outside the allowed folders "
                    "(ForbiddenPathError), or a gated Hub repository (GatedRepoError)",
               404: "No such model, file, revision, dataset or job (NotFoundError), or no such route",
               409: "Conflicts with the current state (ConflictError, CancelledError)",
               413: "The request body is over the operation's x-max-body-bytes (PayloadTooLargeError)",
               422: "A local model file is broken: empty, truncated or a dangling link (BrokenFileError)",
               500: "Unexpected server error", 501: "An optional backend is not installed (BackendUnavailableError)",
               502: "The Hub failed or sent bad data (NetworkError, IntegrityError)",
               507: "Not enough disk space or memory (DiskSpaceError, ResourceError)"}


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


_ORDER = ("type", "enum", "items", "description", "default", "minimum", "maximum", "exclusiveMinimum",
          "exclusiveMaximum", "minLength", "maxLength", "maxItems")


def _schema(op: api.Operation, p: api.Param) -> dict[str, Any]:
    """The JSON schema of one parameter, from the operation's pydantic model (``api.Operation.model``):
    its type, choices, default and limits. Every field there also takes null ("not given"); that
    is left to the body's optional fields (see _nullable)."""
    prop = dict(op.model.model_json_schema()["properties"][p.name])
    description, default = prop.pop("description", None), prop.pop("default", None)
    prop.pop("title", None)
    schema = next((s for s in prop.pop("anyOf", []) if s.get("type") != "null"), prop)
    if schema is not prop:
        schema = {**schema, **prop}
    schema.pop("additionalProperties", None)  # a free-form object
    if schema.get("type") == "object":
        schema = {"type": "object"}
    if description:
        schema["description"] = description
    if default is not None:
        schema["default"] = default
    if "items" in schema:
        schema["items"] = _ordered({k: v for k, v in schema["items"].items() if k != "additionalProperties"})
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(schema.get(key), float) and schema[key].is_integer():
            schema[key] = int(schema[key])
    return _ordered(schema)


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: schema[k] for k in sorted(schema, key=lambda k: (_ORDER + (k,)).index(k))}


# Path parameters: what the routes match (server/handlers.py PATH_PATTERNS). A model is org/name with
# its slash as a real path separator; the name "fit" or "verify" is the route of that name.
_PATH_SCHEMAS = {
    "model": {"type": "string", "pattern": "^[^/]+/[^/]+$",
              "description": "org/name (or local/name); the slash is part of the path, not encoded. "
                             "/models/{org}/fit and /models/{org}/verify are the fit and verify routes "
                             "(a name of fit or verify answers 404)"},
    "job_id": {"type": "string", "pattern": "^[^/]+$"},
    "name": {"type": "string", "pattern": "^[^/]+$", "description": "dataset name"},
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional body field also takes null, which means "not given" (api.bind: the default)."""
    out = {**schema, "type": [schema["type"], "null"]}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _param(op: api.Operation, p: api.Param) -> dict[str, Any]:
    schema = _schema(op, p)
    description = schema.pop("description", "")
    if p.where == "path" and p.name in _PATH_SCHEMAS:
        schema = dict(_PATH_SCHEMAS[p.name])
        description = schema.pop("description", description)
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                           "schema": schema}
    if description:
        out["description"] = description
    if p.type == "list[str]" and p.where == "query":
        out.update(style="form", explode=True)
    return out


# Parameters naming a model whose local files the call reads.
_READS_MODEL_FILES = {"model", "base"}


def _statuses(op: api.Operation) -> list[int]:
    """Every error status ``op`` can answer (see _RESULTS)."""
    codes = {400, 403, 500, *_RESULTS.get(op.name, ({}, ()))[1]}
    if "{" in op.path or any(p.name in _LOOKED_UP for p in op.params):
        codes.add(404)
    if any(p.name in _READS_MODEL_FILES for p in op.params):
        codes.add(422)  # a broken local model file (BrokenFileError)
    if any(p.where == "body" for p in op.params):
        codes.add(413)  # over x-max-body-bytes
    return sorted(codes)


def _operation(op: api.Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    result = _RESULTS.get(op.name, ({"type": "object"}, ()))[0]
    doc: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [op.name.split(".")[0]],
                           "x-authorization": {"resource": "model-studio", "action": op.action}}
    params = [_param(op, p) for p in op.params if p.where != "body"]
    if params:
        doc["parameters"] = params
    body = [p for p in op.params if p.where == "body"]
    if body:
        schema: dict[str, Any] = {"type": "object", "properties": {
            p.name: _nullable(_schema(op, p)) if not p.required else _schema(op, p) for p in body},
                                  "additionalProperties": False}
        required = [p.name for p in body if p.required]
        if required:
            schema["required"] = required
        doc["requestBody"] = {"required": bool(required), "x-max-body-bytes": op.max_body,
                              "content": {"application/json": {"schema": schema}}}
    responses: dict[str, Any] = {str(op.status): {
        "description": "Accepted: the job runs in the background" if op.status == 202 else "OK",
        "content": {"application/json": {"schema": result}}}}
    for code in _statuses(op):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    doc["responses"] = responses
    return doc


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route under ``/model-studio/api``."""
    from ..engine.fit import FitResult
    from ..engine.jobs import Job
    from ..engine.library import ModelInfo
    from ..engine.system import SystemSnapshot
    from ..engine.training.datasets import DatasetInfo

    schemas: dict[str, Any] = {}
    for cls in (Job, ModelInfo, FitResult, SystemSnapshot, DatasetInfo):
        _dataclass_schema(cls, schemas)
    schemas["Job"]["properties"].pop("_store", None)
    schemas["Job"]["required"] = sorted(schemas["Job"]["properties"])
    schemas["Job"]["properties"]["error"] = {"anyOf": [_ERROR_INFO, {"type": "null"}],
                                             "description": "Why the job failed (null unless it did)"}
    schemas["Progress"]["properties"]["fraction"] = {"type": ["number", "null"]}
    schemas["Progress"]["required"] = sorted(schemas["Progress"]["properties"])
    schemas["FitResult"]["properties"]["fits"] = {"type": "boolean", "description": "verdict is not 'no'"}
    schemas["FitResult"]["required"] = sorted(schemas["FitResult"]["properties"])
    schemas["DatasetInfo"]["properties"].pop("extra", None)  # to_dict() leaves out the store's bookkeeping
    schemas["DatasetInfo"]["required"] = sorted(schemas["DatasetInfo"]["properties"])
    schemas["LoadedModel"] = _obj(["model", "backend", "path", "memory_bytes", "context_length", "options"],
                                  model=_STR, backend=_STR, path=_STR, memory_bytes=_INT, context_length=_INT,
                                  options=_OBJ, id=_STR, adapter=_OPT_STR, last_used=_NUM, idle_seconds=_NUM,
                                  in_use=_BOOL)
    schemas["LoadedModel"]["description"] = ("A model in memory (chat.loaded adds id, adapter, last_used, "
                                             "idle_seconds and in_use)")
    schemas["Settings"] = {"type": "object", "required": ["settings", "mutable"], "properties": {
        "settings": {"type": "object", "description": "Every setting (the Hub token only as hf_token_set)"},
        "mutable": {"type": "array", "items": {"type": "string"}},
        "file_errors": {"type": "array", "description": "What was wrong with settings.json at start-up (each "
                        "entry skipped)", "items": {"type": "object", "properties": {
                            "setting": {"type": ["string", "null"]}, "message": {"type": "string"},
                            "value": {}}}}}}
    schemas.update(_VIDEO_SCHEMAS)
    schemas["ErrorInfo"] = {
        "type": "object", "required": ["type", "message", "details", "resolution_steps"], "properties": {
            "type": {"type": "string", "description": "ValidationError, NotFoundError, HTTPError, ..."},
            "message": {"type": "string"}, "details": {"type": "object"},
            "resolution_steps": {"type": "array", "items": {"type": "string"}}}}
    schemas["Error"] = {"type": "object", "required": ["error"], "properties": {"error": _ERROR_INFO}}

    paths: dict[str, Any] = {}
    for op in api.OPERATIONS:
        paths.setdefault(op.path, {})[op.http_method.lower()] = _operation(op, schemas)
    paths["/events"] = {"get": {
        "operationId": "events", "summary": "Server-Sent Events: job changes and system snapshots",
        "tags": ["events"], "x-authorization": {"resource": "model-studio", "action": "read"},
        "description": "A `retry: 3000` line, then `event: job` (data: a Job as JSON) for every job change in "
                       "any process sharing the studio home, `event: system` (data: a SystemSnapshot as JSON) "
                       "every ModelStudioApp.system_interval seconds, and `: keep-alive` comments after "
                       "ModelStudioApp.event_keepalive seconds of silence. `x-events` names each event's "
                       "data schema.",
        "responses": {"200": {"description": "An endless event stream",
                              "content": {"text/event-stream": {
                                  "schema": {"type": "string"},
                                  "x-events": {"job": {"$ref": "#/components/schemas/Job"},
                                               "system": {"$ref": "#/components/schemas/SystemSnapshot"}}}}},
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
                          "404": {"$ref": "#/components/responses/E404"},
                          "416": {"description": "The range is outside the file"}}}}
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
