"""The OpenAPI document, the registered routes and api.OPERATIONS agree; the extension is enabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from model_studio import api as studio_api
from model_studio.server import _openapi
from model_studio.server.handlers import OPENAPI_PATH, PREFIX, OperationHandler
from tests.server.conftest import assert_error, poll

DOC = json.loads(OPENAPI_PATH.read_text())
EXTRA_PATHS = {"/events": {"get"}, "/openapi.json": {"get"}, "/video/{job_id}/video.mp4": {"get"},
               "/video/{job_id}/thumbnail.jpg": {"get"}}
_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list[str]": "array",
          "object": "object", "list[object]": "array"}


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
    ids = [item["operationId"] for methods in DOC["paths"].values() for item in methods.values()]
    assert sorted(ids) == sorted([op.name for op in studio_api.OPERATIONS]
                                   + ["events", "openapi", "video.file.video", "video.file.thumbnail"])


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
    body = [p for p in op.params if p.where == "body"]
    if not body:
        assert "requestBody" not in item
    else:
        schema = item["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == {p.name for p in body}
        assert schema["additionalProperties"] is False
        assert set(schema.get("required", [])) == {p.name for p in body if p.required}
        for p in body:
            assert schema["properties"][p.name]["type"] == _TYPES[p.type]
    assert str(op.status) in item["responses"]
    assert {"400", "403", "500"} <= set(item["responses"])
    if "{model}" in op.path or "{job_id}" in op.path:
        assert "404" in item["responses"]


def test_security_scheme_is_the_jupyter_token():
    scheme = DOC["components"]["securitySchemes"]["jupyterToken"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization"}
    assert DOC["security"] == [{"jupyterToken": []}]
    assert DOC["openapi"].startswith("3.1")


def test_checked_in_document_is_what_the_generator_writes():
    # python -m model_studio.server._openapi rewrites it after an operation changes
    assert OPENAPI_PATH.read_text() == _openapi.render()


async def test_routes_registered_by_the_server_match_the_document(api, jp_web_app):
    registered = _registered(jp_web_app)
    documented = {p: set(m) for p, m in DOC["paths"].items() if p not in EXTRA_PATHS}
    assert registered == documented
    # and the server serves the same document
    r = await api("GET", "openapi.json")
    assert r.code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.json == DOC


def _validate(instance, schema) -> None:
    jsonschema.Draft202012Validator({**schema, "components": DOC["components"]}).validate(instance)


def _response_schema(path: str, method: str, code: int) -> dict:
    resp = DOC["paths"][path][method]["responses"][str(code)]
    if "$ref" in resp:
        resp = DOC["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    return resp["content"]["application/json"]["schema"]


async def test_real_responses_validate_against_the_documented_schemas(api):
    # Given a completed download, each success and error body matches the document's schema
    r = await api("POST", "downloads", body={"model": "tiny-org/tiny-readme"})
    _validate(r.json, _response_schema("/downloads", "post", 202))
    job_id = r.json["id"]
    await poll(api, f"downloads/{job_id}", lambda j: j["state"] == "completed")
    cases = [
        ("GET", "library", {"q": "tiny"}, "/library", "get", 200),
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
        ("GET", "jobs/nope", None, "/jobs/{job_id}", "get", 404),
        ("GET", "library", {"limit": "x"}, "/library", "get", 400),
    ]
    for method, path, params, doc_path, doc_method, code in cases:
        r = await api(method, path, params=params)
        assert r.code == code, (path, r)
        _validate(r.json, _response_schema(doc_path, doc_method, code))
    r = await api("GET", "system", headers={"Authorization": "token wrong"})
    assert_error(r, 403)
    _validate(r.json, _response_schema("/system", "get", 403))


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
