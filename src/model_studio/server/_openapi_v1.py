"""The OpenAPI entries of the OpenAI-compatible ``/model-studio/v1`` routes this document lists:
``/v1/completions`` and ``/v1/embeddings``.

Each path item carries its own ``servers`` (``/model-studio``), since the document's server is
``/model-studio/api``. Request bodies come from the same declarations that validate them: the
pydantic ``EmbeddingRequest`` and the engine's ``SamplingParams``; errors have OpenAI's shape
(``OpenAIError``), not the studio's.
"""

from __future__ import annotations

from typing import Any

SERVERS = [{"url": "/model-studio", "description": "The OpenAI-compatible surface (base_url .../model-studio/v1)"}]
_ERRORS = {"400": "Bad input, naming the parameter", "401": "No valid token", "403": "The Authorizer refused",
           "404": "The model is not local (code model_not_found)", "413": "The body is over 8 MiB",
           "503": "A backend is not installed or the model host is down", "507": "Not enough memory for the model"}
_STUDIO_EXTENSION = {"type": "object", "description": "The studio's extension: {stats, load_options, request_id}"}


def _responses(ok: dict[str, Any], description: str) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": description, "content": ok}}
    for code, text in _ERRORS.items():
        out[code] = {"description": text,
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}}
    return out


def _completion_request() -> dict[str, Any]:
    from ..core.chat.base import SamplingParams

    sampling = SamplingParams.json_schema()["properties"]
    text = {"type": "string", "minLength": 1}
    props: dict[str, Any] = {
        "model": {"type": "string", "minLength": 1, "description": "A local model id (GET /v1/models)"},
        "prompt": {"anyOf": [text, {"type": "array", "items": text, "minItems": 1, "maxItems": 16}],
                   "description": "Raw text, no chat template; several prompts give one choice each"},
        **{name: {k: v for k, v in schema.items() if k != "title"} for name, schema in sampling.items()},
        "stream": {"type": "boolean", "default": False},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "n": {"type": "integer", "const": 1}, "best_of": {"type": "integer", "const": 1},
        "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2, "description": "accepted, not applied"},
        "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2, "description": "accepted, not applied"},
        "user": {"type": "string"}, "model_studio": _STUDIO_EXTENSION,
    }
    return {"type": "object", "required": ["model", "prompt"], "properties": props,
            "description": "echo, suffix, logprobs and logit_bias are refused with 400"}


def _completion_response() -> dict[str, Any]:
    choice = {"type": "object", "required": ["text", "index", "finish_reason"], "properties": {
        "text": {"type": "string"}, "index": {"type": "integer"}, "logprobs": {"type": "null"},
        "finish_reason": {"anyOf": [{"enum": ["stop", "length"]}, {"type": "null"}]}}}
    return {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
        "id": {"type": "string"}, "object": {"const": "text_completion"}, "created": {"type": "integer"},
        "model": {"type": "string"}, "choices": {"type": "array", "items": choice},
        "usage": {"$ref": "#/components/schemas/OpenAIUsage"}}}


def v1_document() -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) for the ``/v1`` routes."""
    from ..core.chat.openai_embeddings import EmbeddingRequest

    embedding_request = EmbeddingRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = dict(embedding_request.pop("$defs", {}))
    components["EmbeddingRequest"] = embedding_request
    components["OpenAIUsage"] = {"type": "object", "properties": {
        "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"}}}
    components["OpenAIError"] = {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type"], "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}
    components["EmbeddingResponse"] = {"type": "object", "required": ["object", "data", "model", "usage"], "properties": {
        "object": {"const": "list"}, "model": {"type": "string"}, "usage": {"$ref": "#/components/schemas/OpenAIUsage"},
        "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"], "properties": {
            "object": {"const": "embedding"}, "index": {"type": "integer"},
            "embedding": {"anyOf": [{"type": "array", "items": {"type": "number"}},
                                    {"type": "string", "contentEncoding": "base64",
                                     "description": "float32 little-endian bytes"}]}}}}}}
    components["CompletionRequest"] = _completion_request()
    components["CompletionResponse"] = _completion_response()
    auth = {"resource": "model-studio", "action": "execute"}
    paths = {
        "/v1/embeddings": {"servers": SERVERS, "post": {
            "operationId": "v1.embeddings", "summary": "OpenAI embeddings: vectors of texts (float or base64)",
            "tags": ["v1"], "x-authorization": auth, "x-max-body-bytes": 8 << 20,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/EmbeddingRequest"}}}},
            "responses": _responses({"application/json": {"schema": {"$ref": "#/components/schemas/EmbeddingResponse"}}},
                                    "One vector per input, in order")}},
        "/v1/completions": {"servers": SERVERS, "post": {
            "operationId": "v1.completions", "summary": "OpenAI legacy completions: continue a raw prompt",
            "tags": ["v1"], "x-authorization": auth, "x-max-body-bytes": 8 << 20,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/CompletionRequest"}}}},
            "responses": _responses({
                "application/json": {"schema": {"$ref": "#/components/schemas/CompletionResponse"}},
                "text/event-stream": {"schema": {"type": "string"},
                                      "description": "stream: data: {text_completion chunk} ... data: [DONE]"}},
                "The completion")}},
    }
    return paths, components
