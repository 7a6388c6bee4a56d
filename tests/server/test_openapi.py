"""The OpenAPI document, the registered routes and api.OPERATIONS agree; the extension is enabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from jupyter_server.utils import url_path_join

from model_studio import api as studio_api
from model_studio.server import _openapi
from model_studio.server.app import routes
from model_studio.server.handlers import OPENAPI_PATH, PREFIX, OperationHandler
from tests.server.conftest import assert_error, poll

DOC = json.loads(OPENAPI_PATH.read_text())
EXTRA_PATHS = {"/events": {"get"}, "/openapi.json": {"get"}, "/video/{job_id}/video.mp4": {"get"},
               "/video/{job_id}/thumbnail.jpg": {"get"},
               # the OpenAI-compatible routes, under their own server (/model-studio)
               "/v1/completions": {"post", "servers"}, "/v1/embeddings": {"post", "servers"}}
_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list[str]": "array",
          "object": "object", "list[object]": "array", "model": "string"}


def _registered(web_app) -> dict[str, set[str]]:
    """{operation path: methods} from the tornado routing table of the running server."""
    out: dict[str, set[str]] = {}

    def walk(router) -> None:
        for rule in getattr(router, "rules", []):
            target = rule.target
            if hasattr(target, "rules"):
                walk(target)
            elif target is OperationHandler:
                ops = rule.target_kwargs["operations"]
                pattern = rule.matcher.regex.pattern
                assert PREFIX in pattern, pattern
                for op in ops.values():
                    out.setdefault(op.path, set()).add(op.http_method.lower())

    walk(web_app.default_router)
    return out


def test_document_paths_and_methods_match_the_operations_exactly():
    documented = {path: set(item) for path, item in DOC["paths"].items()}
    expected: dict[str, set[str]] = {p: set(m) for p, m in EXTRA_PATHS.items()}
    for op in studio_api.OPERATIONS:
        expected.setdefault(op.path, set()).add(op.http_method.lower())
    assert documented == expected
    ids = [item["operationId"] for methods in DOC["paths"].values() for key, item in methods.items()
           if key != "servers"]
    assert sorted(ids) == sorted([op.name for op in studio_api.OPERATIONS]
                                   + ["events", "openapi", "video.file.video", "video.file.thumbnail",
                                      "v1.completions", "v1.embeddings"])


@pytest.mark.parametrize("op", studio_api.OPERATIONS, ids=lambda op: op.name)
def test_each_operation_is_documented_with_the_same_parameters(op):
    item = DOC["paths"][op.path][op.http_method.lower()]
    assert item["operationId"] == op.name
    documented = {(p["name"], p["in"]): p for p in item.get("parameters", [])}
    expected = {(p.name, p.where): p for p in op.params if p.where != "body"}
    assert set(documented) == set(expected)
    for key, param in expected.items():
        doc = documented[key]
        assert doc["schema"]["type"] == _TYPES[param.type], key
        assert doc["schema"].get("enum") == (list(param.choices) if param.choices else None), key
        assert doc["required"] == (param.required or param.where == "path"), key
        assert doc["schema"].get("default") == param.default, key
        if param.where != "path":
            assert _limits(doc["schema"]) == _limits_of(param), key
    body = [p for p in op.params if p.where == "body"]
    if not body:
        assert "requestBody" not in item
    else:
        schema = item["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == {p.name for p in body}
        assert schema["additionalProperties"] is False
        assert set(schema.get("required", [])) == {p.name for p in body if p.required}
        for p in body:
            # an optional field may be null: "not given", the default (api.bind)
            expected = _TYPES[p.type] if p.required else [_TYPES[p.type], "null"]
            assert schema["properties"][p.name]["type"] == expected, p.name
            assert _limits(schema["properties"][p.name]) == _limits_of(p), p.name
    assert str(op.status) in item["responses"]
    assert {"400", "403", "500"} <= set(item["responses"])
    if "{" in op.path or any(p.name in ("model", "base", "dataset") for p in op.params):
        assert "404" in item["responses"]


_LIMIT_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength", "maxItems")


def _limits(schema: dict) -> dict:
    """The limits a parameter's schema states (maxLength of a list's items counts as the list's)."""
    out = {k: schema[k] for k in _LIMIT_KEYS if k in schema}
    if "maxLength" in schema.get("items", {}):
        out["maxLength"] = schema["items"]["maxLength"]
    return out


def _limits_of(p) -> dict:
    values = {"minimum": p.minimum, "maximum": p.maximum, "exclusiveMinimum": p.exclusive_minimum,
              "exclusiveMaximum": p.exclusive_maximum, "maxLength": p.max_length, "maxItems": p.max_items}
    return {k: v for k, v in values.items() if v is not None}


def test_security_scheme_is_the_jupyter_token():
    scheme = DOC["components"]["securitySchemes"]["jupyterToken"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization"}
    assert DOC["security"] == [{"jupyterToken": []}]
    assert DOC["openapi"].startswith("3.1")


def test_checked_in_document_is_what_the_generator_writes():
    # python -m model_studio.server._openapi rewrites it after an operation changes
    assert OPENAPI_PATH.read_text() == _openapi.render()


_LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
_OPENAPI_TS = _LABEXTENSION / "node_modules" / ".bin" / "openapi-typescript"


@pytest.mark.skipif(not _OPENAPI_TS.exists(), reason="needs labextension/node_modules (jlpm install)")
def test_checked_in_typescript_types_are_what_openapi_typescript_writes():
    # `jlpm build:api-types` rewrites labextension/src/api/openapi.d.ts after openapi.json changes;
    # pip install (hatch-jupyter-builder) installs node_modules, so `make test` runs this check
    out = subprocess.run([str(_OPENAPI_TS), str(OPENAPI_PATH)], cwd=_LABEXTENSION, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (_LABEXTENSION / "src" / "api" / "openapi.d.ts").read_text()


async def test_routes_registered_by_the_server_match_the_document(api, jp_web_app):
    registered = _registered(jp_web_app)
    documented = {p: set(m) for p, m in DOC["paths"].items() if p not in EXTRA_PATHS}
    assert registered == documented
    # and the server serves the same document
    r = await api("GET", "openapi.json")
    assert r.code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json == DOC


def _studio_rules(router) -> list:
    """The tornado rules under /model-studio/, in the order tornado tries them."""
    out = []
    for rule in getattr(router, "rules", []):
        if hasattr(rule.target, "rules"):
            out += _studio_rules(rule.target)
        elif "/model-studio/" in rule.matcher.regex.pattern:
            out.append(rule)
    return out


async def test_the_server_serves_the_one_route_table_in_its_order(jp_web_app, jp_base_url):
    # Given the route table of server/app.py, with the running engine's outputs folder
    outputs = jp_web_app.settings["model_studio_engine"].video.outputs_dir
    table = routes(outputs)
    # When the server has registered its handlers
    served = _studio_rules(jp_web_app.default_router)
    # Then it serves exactly that table, in that order (jupyter_server prefixes its base URL)
    assert [(rule.matcher.regex.pattern, rule.target) for rule in served] == [
        (url_path_join(jp_base_url, pattern) + "$", handler) for pattern, handler, _ in table]
    assert [rule.target_kwargs.get("operations") for rule in served] == [kw.get("operations") for _, _, kw in table]
    # and the table covers both prefixes, each ending in its own 404
    assert [(pattern, handler.__name__) for pattern, handler, _ in table
            if pattern.endswith("(?:/.*)?")] == [("/model-studio/api(?:/.*)?", "NotFoundHandler"),
                                                 ("/model-studio/v1(?:/.*)?", "OpenAINotFoundHandler")]


def _validate(instance, schema) -> None:
    jsonschema.Draft202012Validator({**schema, "components": DOC["components"]}).validate(instance)


def _response_schema(path: str, method: str, code: int) -> dict:
    resp = DOC["paths"][path][method]["responses"][str(code)]
    if "$ref" in resp:
        resp = DOC["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    return resp["content"]["application/json"]["schema"]


async def test_real_responses_validate_against_the_documented_schemas(api):
    # Given a completed download and an imported dataset, each success and error body of the read
    # routes (and a few writes) matches the document's schema for its status
    r = await api("POST", "downloads", body={"model": "tiny-org/tiny-readme"})
    _validate(r.json, _response_schema("/downloads", "post", 202))
    job_id = r.json["id"]
    await poll(api, f"downloads/{job_id}", lambda j: j["state"] == "completed")
    r = await api("POST", "datasets", body={"filename": "qa.jsonl", "content": '{"prompt": "a", "completion": "b"}\n'})
    _validate(r.json, _response_schema("/datasets", "post", 201))
    cases = [
        ("GET", "library", {"q": "tiny"}, "/library", "get", 200),
        ("GET", "library", {"hub": "false"}, "/library", "get", 200),
        ("GET", "library/local", None, "/library/local", "get", 200),
        ("GET", "models/tiny-org/tiny-llama-GGUF", None, "/models/{model}", "get", 200),
        ("GET", "models/tiny-org/tiny-llama-GGUF/fit", None, "/models/{model}/fit", "get", 200),
        ("POST", "models/tiny-org/tiny-readme/verify", None, "/models/{model}/verify", "post", 200),
        ("DELETE", "models/tiny-org/tiny-readme", {"dry_run": "true"}, "/models/{model}", "delete", 200),
        ("GET", "downloads", None, "/downloads", "get", 200),
        ("GET", f"downloads/{job_id}", None, "/downloads/{job_id}", "get", 200),
        ("GET", "jobs", None, "/jobs", "get", 200),
        ("GET", f"jobs/{job_id}", None, "/jobs/{job_id}", "get", 200),
        ("GET", "backends", None, "/backends", "get", 200),
        ("GET", "settings", None, "/settings", "get", 200),
        ("GET", "system", None, "/system", "get", 200),
        ("GET", "chat/models", None, "/chat/models", "get", 200),
        ("GET", "chat/loaded", None, "/chat/loaded", "get", 200),
        ("POST", "chat/unload", None, "/chat/unload", "post", 400),
        ("GET", "datasets", None, "/datasets", "get", 200),
        ("GET", "datasets/qa", None, "/datasets/{name}", "get", 200),
        ("GET", "datasets/qa/preview", {"rows": "1"}, "/datasets/{name}/preview", "get", 200),
        ("GET", "training/runs", None, "/training/runs", "get", 200),
        ("GET", "video/models", None, "/video/models", "get", 200),
        ("GET", "video/loaded", None, "/video/loaded", "get", 200),
        ("GET", "video", None, "/video", "get", 200),
        ("DELETE", "datasets/qa", None, "/datasets/{name}", "delete", 200),
        ("GET", "jobs/nope", None, "/jobs/{job_id}", "get", 404),
        ("GET", "datasets/qa", None, "/datasets/{name}", "get", 404),
        ("GET", "library", {"limit": "x"}, "/library", "get", 400),
        ("GET", "library", {"limit": "1001"}, "/library", "get", 400),
    ]
    for method, path, params, doc_path, doc_method, code in cases:
        r = await api(method, path, params=params, body={} if method == "POST" else None)
        assert r.code == code, (path, r)
        _validate(r.json, _response_schema(doc_path, doc_method, code))
    r = await api("GET", "system", headers={"Authorization": "token wrong"})
    assert_error(r, 403)
    _validate(r.json, _response_schema("/system", "get", 403))


async def test_hub_error_is_the_error_object_when_the_hub_is_down(api, engine_of):
    # Given a Hub that does not answer (nothing listens on port 9)
    engine_of.settings.hf_endpoint = "http://127.0.0.1:9"
    # When the library is searched
    r = await api("GET", "library", params={"q": "nothing-cached-for-this-query"})
    # Then the local part answers, and hub_error says why the Hub part is missing, as documented
    assert r.code == 200, r
    hub_error = r.json["hub_error"]
    assert set(hub_error) == {"type", "message", "details", "resolution_steps"}, hub_error
    assert hub_error["type"] == "NetworkError"
    _validate(r.json, _response_schema("/library", "get", 200))


@pytest.mark.parametrize(("method", "path"), [("GET", "models/0/fit"), ("POST", "models/0/verify"),
                                              ("GET", "models/org/fit"), ("DELETE", "models/org/verify"),
                                              ("GET", "models/org/fit/fit")])
async def test_a_fit_or_verify_path_without_org_name_is_404_and_never_asks_the_hub(api, fake_hub, method, path):
    # /models/0/fit is the fit route of a model "0" (not org/name): not the info of a model "0/fit"
    fake_hub.clear_requests()
    err = assert_error(await api(method, path), 404)
    assert err["type"] == "HTTPError" and "No route" in err["message"], err
    assert fake_hub.requests == []
    assert "404" in DOC["paths"]["/models/{model}/fit"]["get"]["responses"]
    assert "404" in DOC["paths"]["/models/{model}/verify"]["post"]["responses"]


async def test_models_named_like_a_route_word_still_reach_their_route(api):
    # A name merely starting with "fit" is a model name like any other (the Hub says it does not exist)
    assert_error(await api("GET", "models/nobody/fitness"), 404, "NotFoundError")
    assert_error(await api("GET", "models/nobody/fitness/fit"), 404, "NotFoundError")


@pytest.mark.parametrize(("method", "path", "params"), [
    ("GET", "datasets/missing", None), ("DELETE", "datasets/missing", None),
    ("GET", "datasets/missing/preview", None),
    ("GET", "datasets/missing/stats", {"model": "tiny-org/tiny-llama"})])
async def test_unknown_datasets_are_404_as_documented(api, method, path, params):
    err = assert_error(await api(method, path, params=params), 404, "NotFoundError")
    assert err["details"]["name"] == "missing"
    doc_path = "/datasets/{name}" + path.removeprefix("datasets/missing")
    assert "404" in DOC["paths"][doc_path][method.lower()]["responses"]


@pytest.mark.parametrize(("method", "path", "allow"), [("PUT", "library", "GET"), ("TRACE", "system", "GET"),
                                                       ("PATCH", "models/org/name", "DELETE, GET")])
async def test_an_undocumented_method_is_405_with_the_allowed_ones(api, method, path, allow):
    err = assert_error(await api(method, path), 405)
    assert err["type"] == "HTTPError"
    r = await api(method, path)
    assert r.headers["Allow"] == allow
    documented = {m.upper() for m in DOC["paths"]["/" + path.replace("org/name", "{model}")]}
    assert set(allow.split(", ")) == documented


@pytest.mark.parametrize("method", ["GET", "TRACE", "QUERY", "HEAD", "PUT"])
async def test_no_route_is_404_whatever_the_method(api, method):
    r = await api(method, "models/0", params={"dry_run": "true"})
    assert r.code == 404, r
    if method != "HEAD":
        assert r.json["error"]["type"] == "HTTPError" and "No route" in r.json["error"]["message"], r


def test_every_documented_error_status_has_its_response():
    for path, methods in DOC["paths"].items():
        for method, item in methods.items():
            if method == "servers":  # a path's own servers (the /v1 routes), not an operation
                continue
            for code, resp in item["responses"].items():
                assert "$ref" not in resp or resp["$ref"].rsplit("/E", 1)[1] == code, (path, method, code)
                if "$ref" in resp:
                    assert resp["$ref"].rsplit("/", 1)[1] in DOC["components"]["responses"]


def _jupyter(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("jupyter")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=60)


def test_jupyter_server_extension_list_shows_model_studio_enabled_and_ok(tmp_path):
    # The enablement file in jupyter-config/server-config/ is what the wheel installs into
    # <prefix>/etc/jupyter/jupyter_server_config.d/. An editable install may not have copied it,
    # so the check puts the same file in a temporary user config dir, which the listing reads too.
    repo = Path(__file__).resolve().parents[2]
    config_dir = tmp_path / "user-config"
    (config_dir / "jupyter_server_config.d").mkdir(parents=True)
    source = repo / "jupyter-config" / "server-config" / "model_studio.json"
    (config_dir / "jupyter_server_config.d" / "model_studio.json").write_text(source.read_text())
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), NO_COLOR="1")
    result = _jupyter("server", "extension", "list", env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    lines = [line for line in out.splitlines() if "model_studio" in line]
    assert any("enabled" in line for line in lines), out
    assert any(line.strip().startswith("model_studio") and "OK" in line for line in lines), out
    assert "X model_studio" not in out and "Traceback" not in out


def test_result_models_name_the_fields_the_engine_dataclasses_write():
    # schemas.py describes these dataclasses' to_dict() (which adds or drops fields); a field added
    # to the engine must reach the model, and so the document and the TypeScript types
    from model_studio import schemas
    from model_studio.core.fit import FitResult
    from model_studio.core.jobs.store import Job, JobState, Progress
    from model_studio.core.library import ModelInfo
    from model_studio.core.training.datasets import DatasetInfo

    written = {
        schemas.Job: Job(id="j", kind="download", state=JobState.QUEUED).to_dict(),
        schemas.Progress: Progress(done=1, total=2).to_dict(),
        schemas.ModelInfo: ModelInfo(id="org/m", name="m").to_dict(),
        schemas.FitResult: FitResult(model="m", verdict="cpu", message="", quantization=None, context=1,
                                     weights_bytes=1, kv_cache_bytes=1, overhead_bytes=1, total_bytes=3,
                                     ram_free=1).to_dict(),
        schemas.DatasetInfo: DatasetInfo(name="d", path="p", format="jsonl", shape="text", rows=1, columns=[],
                                         mapping={}, size_bytes=1, created_at=0.0).to_dict(),
    }
    for model, body in written.items():
        assert list(body) == list(model.model_fields), model.__name__
        component = DOC["components"]["schemas"][model.__name__]
        assert set(component["required"]) == set(body), model.__name__
        _validate(json.loads(json.dumps(body)), {"$ref": f"#/components/schemas/{model.__name__}"})


def test_the_v1_routes_are_documented_from_the_models_that_validate_them():
    from model_studio.core.chat.openai_embeddings import EmbeddingRequest

    for path in ("/v1/embeddings", "/v1/completions"):
        item = DOC["paths"][path]
        assert item["servers"] == [{"url": "/model-studio", "description": item["servers"][0]["description"]}]
        assert item["post"]["x-authorization"] == {"resource": "model-studio", "action": "execute"}
        assert item["post"]["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/OpenAIError"}
    schema = EmbeddingRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    assert DOC["components"]["schemas"]["EmbeddingRequest"] == schema
    assert set(DOC["components"]["schemas"]["CompletionRequest"]["properties"]) >= {
        "model", "prompt", "max_tokens", "temperature", "stop", "stream", "stream_options"}
    # a real request body validates against the documented schema
    _validate({"model": "m", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8},
              {"$ref": "#/components/schemas/EmbeddingRequest"})
    with pytest.raises(jsonschema.ValidationError):
        _validate({"model": "m", "input": []}, {"$ref": "#/components/schemas/EmbeddingRequest"})
