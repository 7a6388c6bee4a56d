"""Writes ``server/openapi.json`` from ``api.OPERATIONS`` and the result models of ``schemas.py``.

The document is checked in (it is the contract the TypeScript side and outside clients read);
re-generate it after changing an operation, then review the diff::

    python -m model_studio.server._openapi          # rewrite openapi.json
    python -m model_studio.server._openapi --check  # exit 1 if the file is stale

tests/server/test_openapi.py checks the file against the registered routes independently, and
tests/server/test_fuzz.py runs schemathesis against a live server with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from .. import api, schemas, schemas_usage
from .._version import __version__
from ..core.system import SystemSnapshot
from ._openapi_v1 import v1_document

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
_REF = "#/components/schemas/{model}"

_SCALARS = {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
            "bool": {"type": "boolean"}, "object": {"type": "object"},
            "list[str]": {"type": "array", "items": {"type": "string"}},
            "list[object]": {"type": "array", "items": {"type": "object"}}}

# Operation name -> (model of the success body (schemas.py), error statuses besides those every operation can
# answer). Every operation: 400 (invalid input), 403 (token, authorization, a gated Hub repo), 500;
# 404 too where it looks something up by name (a path parameter, a model, a dataset); see
# _statuses(). The extra ones name the engine's typed errors the call can raise: 409
# ConflictError/CancelledError, 501 BackendUnavailableError, 502 NetworkError/IntegrityError (the
# Hub), 507 DiskSpaceError/ResourceError.
_RESULTS: dict[str, tuple[type, tuple[int, ...]]] = {
    "library.search": (schemas.SearchResult, (502,)),
    "library.local": (schemas.LocalModels, ()),
    "library.backends": (schemas.Backends, ()),
    "library.info": (schemas.ModelInfo, (502,)),
    "library.fit": (schemas.FitResult, (502,)),
    "library.page": (schemas.ModelPage, (502,)),
    "library.verify": (schemas.VerifyResult, (502,)),
    "library.verify_start": (schemas.Job, (502,)),
    "library.import": (schemas.ModelInfo, (404, 409, 422, 507)),
    "library.import_url": (schemas.Job, (409, 502, 507)),
    "library.stores": (schemas.ModelStores, ()),
    "library.delete": (schemas.DeleteResult, (409,)),
    "downloads.start": (schemas.Job, (409, 502, 507)),
    "downloads.list": (schemas.DownloadList, ()),
    "downloads.get": (schemas.Job, ()),
    "downloads.cancel": (schemas.Job, (409,)),
    "downloads.pause": (schemas.Job, (409,)),
    "downloads.resume": (schemas.Job, (409, 502, 507)),
    "jobs.list": (schemas.JobList, ()),
    "jobs.get": (schemas.Job, ()),
    "jobs.cancel": (schemas.Job, (409,)),
    "jobs.resume": (schemas.Job, (409, 501, 502, 507)),
    "jobs.delete": (schemas.JobDeleted, (409,)),
    "jobs.cleanup": (schemas.JobCleanup, ()),
    "auth.status": (schemas.AuthStatus, ()),
    "auth.login": (schemas.AuthStatus, (502,)),
    "auth.logout": (schemas.AuthStatus, ()),
    "capabilities": (schemas.Capabilities, ()),
    "settings.get": (schemas.Settings, ()),
    "settings.update": (schemas.Settings, ()),
    "settings.reload": (schemas.Settings, ()),
    "system.snapshot": (SystemSnapshot, ()),
    "system.versions": (schemas.Versions, ()),
    "disk.usage": (schemas_usage.DiskReport, ()),
    "disk.free": (schemas_usage.DiskFreed, (404, 409)),
    "energy.summary": (schemas_usage.EnergySummary, ()),
    "energy.jobs": (schemas_usage.EnergyRows, ()),
    "energy.job": (schemas_usage.EnergyRow, ()),
    "energy.export": (schemas_usage.EnergyExport, ()),
    "memory.holders": (schemas.MemoryHolders, ()),
    "chat.models": (schemas.ChatModels, ()),
    "endpoints.list": (schemas.Endpoints, ()),
    "endpoints.add": (schemas.Endpoint, (409,)),
    "endpoints.get": (schemas.Endpoint, ()),
    "endpoints.update": (schemas.Endpoint, ()),
    "endpoints.remove": (schemas.EndpointRemoved, ()),
    "endpoints.test": (schemas.EndpointHealth, ()),
    "chat.loaded": (schemas.LoadedModels, ()),
    "chat.load": (schemas.LoadedModel, (409, 501, 502, 503, 507)),
    "chat.unload": (schemas.ChatUnload, ()),
    "chat.complete": (schemas.ChatCompletion, (409, 501, 502, 503, 507)),
    "batch.start": (schemas.Job, (409, 501, 502, 503, 507)),
    "batch.get": (schemas.BatchResults, ()),
    "batch.list": (schemas.BatchList, ()),
    "batch.cancel": (schemas.Job, (409,)),
    "batch.resume": (schemas.Job, (409, 501, 502, 503, 507)),
    "conversations.list": (schemas.ConversationList, ()),
    "conversations.create": (schemas.Conversation, ()),
    "conversations.import": (schemas.Conversation, ()),
    "conversations.get": (schemas.Conversation, ()),
    "conversations.update": (schemas.Conversation, ()),
    "conversations.rename": (schemas.Conversation, ()),
    "conversations.delete": (schemas.ConversationDeleted, ()),
    "conversations.append": (schemas.ConversationAppend, ()),
    "conversations.branch": (schemas.Conversation, ()),
    "conversations.select": (schemas.Conversation, ()),
    "conversations.export": (schemas.ConversationExport, ()),
    "datasets.list": (schemas.DatasetList, ()),
    "datasets.get": (schemas.DatasetInfo, ()),
    "datasets.upload": (schemas.DatasetInfo, (409, 501, 507)),
    "datasets.preview": (schemas.DatasetPreview, (501, 502)),
    "datasets.stats": (schemas.DatasetStats, (501, 502)),
    "datasets.delete": (schemas.DatasetDeleted, ()),
    "training.start": (schemas.Job, (409, 501, 502, 507)),
    "training.runs": (schemas.TrainingRuns, ()),
    "training.get": (schemas.Job, ()),
    "training.metrics": (schemas.TrainingMetrics, ()),
    "training.logs": (schemas.TrainingLog, ()),
    "training.cancel": (schemas.Job, (409,)),
    "training.resume": (schemas.Job, (409, 501, 507)),
    "training.merge": (schemas.MergeResult, (409, 501, 507)),
    "training.estimate": (schemas.TrainingEstimate, (501, 502)),
    "training.export": (schemas.TrainingExport, (501, 502)),
    "training.export_run": (schemas.TrainingExport, ()),
    "video.models": (schemas.VideoModels, ()),
    "video.model": (schemas.VideoReadiness, ()),
    "video.plan": (schemas.VideoPlan, (501, 502, 507)),
    "video.loaded": (schemas.VideoLoaded, ()),
    "video.devices": (schemas.VideoDevices, ()),
    "video.unload": (schemas.VideoUnload, (409,)),
    "video.generate": (schemas.Job, (409, 501, 502, 503, 507)),
    "video.list": (schemas.VideoList, ()),
    "video.get": (schemas.Job, ()),
    "video.cancel": (schemas.Job, (409,)),
    "video.resume": (schemas.Job, (409, 501, 503, 507)),
    "video.delete": (schemas.VideoDeleted, (409,)),
    "video.media": (schemas.VideoMedia, ()),
    "host.status": (schemas.HostStatus, ()),
    "host.stop": (schemas.HostStop, ()),
    "host.logs": (schemas.HostLogs, ()),
}

# Parameters that name something the operation looks up (besides path parameters): unknown -> 404.
_LOOKED_UP = {"model", "base", "dataset", "lora"}

_ERROR_TEXT = {400: "Invalid input (ValidationError): a parameter's type, limit or value",
               403: "No or a wrong Jupyter token, the server's Authorizer refusing the operation's "
                    "x-authorization action (PermissionDeniedError), a path outside the allowed folders "
                    "(ForbiddenPathError), or a gated Hub repository (GatedError)",
               404: "No such model, file, revision, dataset or job (NotFoundError), or no such route",
               409: "Conflicts with the current state (ConflictError, CancelledError)",
               413: "The request body is over the operation's x-max-body-bytes (PayloadTooLargeError)",
               422: "A local model file is broken: empty, truncated or a dangling link (BrokenFileError)",
               500: "Unexpected server error", 501: "An optional backend is not installed (BackendUnavailableError)",
               502: "The Hub failed or sent bad data (NetworkError, IntegrityError)",
               503: "The model host died or could not start (HostCrashedError); sending the request again starts "
                    "a new one",
               507: "Not enough disk space or memory (DiskSpaceError, ResourceError)"}


class _ResultSchema(GenerateJsonSchema):
    """Pydantic's JSON schema as a response states it: no titles or defaults (a response has none),
    ``type: [T, "null"]`` for an optional scalar, and every field of an engine dataclass required
    (its ``asdict`` writes them all)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: Any) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def nullable_schema(self, schema: Any) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if isinstance(inner.get("type"), str):
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}

    def dataclass_args_schema(self, schema: Any) -> JsonSchemaValue:
        out = super().dataclass_args_schema(schema)
        out["required"] = list(out["properties"])
        return out

    def dataclass_schema(self, schema: Any) -> JsonSchemaValue:
        out = super().dataclass_schema(schema)
        cls = schema["cls"]
        if (cls.__doc__ or "").startswith(f"{cls.__name__}("):  # the signature dataclass writes
            out.pop("description", None)
        return out


def _result_schemas() -> tuple[dict[type, dict[str, Any]], dict[str, Any]]:
    """({result type: its schema (a $ref)}, the components they need), from schemas.py."""
    types = list(dict.fromkeys([*(t for t, _ in _RESULTS.values()), *schemas.EXTRA_COMPONENTS]))
    generator = _ResultSchema(ref_template=_REF)
    refs, defs = generator.generate_definitions([(t, "serialization", TypeAdapter(t).core_schema) for t in types])
    return {t: refs[(t, "serialization")] for t in types}, _untitled(defs)


def _untitled(node: Any) -> Any:
    """``node`` without the titles pydantic gives every class (the component's name says it)."""
    if isinstance(node, dict):
        return {k: _untitled(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    return [_untitled(v) for v in node] if isinstance(node, list) else node


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


def _operation(op: api.Operation, results: dict[type, dict[str, Any]]) -> dict[str, Any]:
    result = results[_RESULTS[op.name][0]] if op.name in _RESULTS else {"type": "object"}
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


def _event_parameters() -> list[dict[str, Any]]:
    from ._event_filter import KINDS, MAX_JOBS, TOPICS

    def listed(choices: Any) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "enum": list(choices)}}

    return [
        {"name": "topics", "in": "query", "required": False, "style": "form", "explode": False,
         "schema": listed(TOPICS), "description": "jobs (event: job) and/or system (event: system); default both"},
        {"name": "kinds", "in": "query", "required": False, "style": "form", "explode": False,
         "schema": listed(KINDS), "description": "only jobs of these kinds (training: train), or of `job`"},
        {"name": "job", "in": "query", "required": False, "style": "form", "explode": False,
         "schema": {"type": "array", "items": {"type": "string", "maxLength": 128}, "maxItems": MAX_JOBS},
         "description": f"only these jobs (at most {MAX_JOBS} ids), or jobs of `kinds`"},
    ]


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route under ``/model-studio/api``, and of the
    OpenAI-compatible ``/model-studio/v1`` completions and embeddings (``_openapi_v1``)."""
    results, components = _result_schemas()

    paths: dict[str, Any] = {}
    for op in api.OPERATIONS:
        paths.setdefault(op.path, {})[op.http_method.lower()] = _operation(op, results)
    paths["/events"] = {"get": {
        "operationId": "events", "summary": "Server-Sent Events: job changes and system snapshots",
        "tags": ["events"], "x-authorization": {"resource": "model-studio", "action": "read"},
        "description": "A `retry: 3000` line, then `event: job` (data: a Job as JSON) for every job change in "
                       "any process sharing the studio home, `event: system` (data: a SystemSnapshot as JSON) "
                       "every ModelStudioApp.system_interval seconds, and `: keep-alive` comments after "
                       "ModelStudioApp.event_keepalive seconds of silence. `x-events` names each event's "
                       "data schema. `topics`, `kinds` and `job` narrow what is sent; `kinds` and `job` both "
                       "select job events (a job matching either is sent).",
        "parameters": _event_parameters(),
        "responses": {"200": {"description": "An endless event stream",
                              "content": {"text/event-stream": {
                                  "schema": {"type": "string"},
                                  "x-events": {"job": {"$ref": "#/components/schemas/Job"},
                                               "system": {"$ref": "#/components/schemas/SystemSnapshot"}}}}},
                      "400": {"$ref": "#/components/responses/E400"},
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

    v1_paths, v1_components = v1_document()  # /model-studio/v1/completions and /embeddings
    paths.update(v1_paths)
    components.update(v1_components)

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
            "schemas": dict(sorted(components.items())),
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
