"""Bad input answers 4xx in the error shape on every route family; nothing works without a token."""

from __future__ import annotations

import pytest
import tornado.web

from model_studio import api as studio_api
from model_studio.errors import NotFoundError, ResourceError, ValidationError
from model_studio.server._base import ErrorShape, error_response
from model_studio.server._openai_request import OpenAIError
from tests.server.conftest import API, assert_error, poll

# One concrete URL per operation (path parameters filled in) for the token checks.
_FILL = {"{model}": "tiny-org/tiny-llama", "{job_id}": "dow-000000000000"}


def _concrete(path: str) -> str:
    for key, value in _FILL.items():
        path = path.replace(key, value)
    return path


ROUTES = [(op.http_method, _concrete(op.path)) for op in studio_api.OPERATIONS] + [
    ("GET", "/events"), ("GET", "/openapi.json"), ("GET", "/no-such-route")]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_route_refuses_requests_without_a_token(method, path, http_server_client, jp_base_url,
                                                            engine_of):
    # Given a request with no token (no header, no cookie, no query parameter)
    url = f"{jp_base_url.rstrip('/')}/{API}{path}"
    body = b"{}" if method in ("POST", "PATCH") else None
    r = await http_server_client.fetch(url, method=method, body=body, raise_error=False,
                                       allow_nonstandard_methods=True, follow_redirects=False,
                                       request_timeout=10)
    # Then it is refused, and nothing ran
    assert r.code == 403, (r.code, r.body[:200])
    assert b"error" in r.body
    assert engine_of.jobs.list() == []


async def test_a_wrong_token_is_refused(api):
    r = await api("GET", "system", headers={"Authorization": "token not-the-token"})
    assert r.code == 403


@pytest.mark.parametrize("model", ["%2E%2E/etc", "org/..", "org/%2E%2E", "..%2F../x", "a%2Fb/c", "a b/c",
                                   "org/na%20me!", "-org/x", "org/" + "n" * 200, "org/%FF"])
async def test_bad_repo_ids_are_400(api, model):
    for method, suffix in (("GET", ""), ("GET", "/fit"), ("POST", "/verify"), ("DELETE", "")):
        err = assert_error(await api(method, f"models/{model}{suffix}"), 400)
        # tornado itself refuses path bytes that are not UTF-8, before the handler runs
        assert err["type"] == ("HTTPError" if "%FF" in model else "ValidationError"), err


@pytest.mark.parametrize("path", ["models/../../api/contents", "models/..%2F..", "models/org", "models/a/b/c/d"])
async def test_paths_that_are_not_org_name_never_reach_the_engine(api, path):
    r = await api("GET", path)
    assert r.code in (400, 404), r
    assert b"error" in r.body


async def test_unknown_model_is_404(api):
    assert_error(await api("GET", "models/nobody/nothing"), 404, "NotFoundError")
    assert_error(await api("POST", "models/nobody/nothing/verify"), 404)


@pytest.mark.parametrize("path", ["downloads/dow-doesnotexist", "jobs/dow-doesnotexist"])
async def test_unknown_job_ids_are_404(api, path):
    err = assert_error(await api("GET", path), 404, "NotFoundError")
    assert err["details"]["job_id"] == "dow-doesnotexist"


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
async def test_actions_on_unknown_jobs_are_404(api, action):
    assert_error(await api("POST", f"downloads/dow-doesnotexist/{action}"), 404, "NotFoundError")


async def test_too_long_job_id_is_400(api):
    assert_error(await api("GET", "jobs/" + "x" * 100), 400, "ValidationError")


@pytest.mark.parametrize("raw", ["{", "not json", "[1, 2]", '"model"', "null", b"\xff\xfe"])
async def test_malformed_or_non_object_bodies_are_400(api, raw):
    assert_error(await api("POST", "downloads", raw_body=raw), 400, "ValidationError")
    assert_error(await api("PATCH", "settings", raw_body=raw), 400, "ValidationError")


@pytest.mark.parametrize(("method", "path", "kwargs", "parameter"), [
    ("GET", "library", {"params": {"limit": "many"}}, "limit"),
    ("GET", "library", {"params": {"hub": "perhaps"}}, "hub"),
    ("GET", "library", {"params": {"sort": "random"}}, "sort"),
    ("GET", "library", {"params": {"format": "exe"}}, "format"),
    ("GET", "models/tiny-org/tiny-llama/fit", {"params": {"context": "1.5"}}, "context"),
    ("DELETE", "models/tiny-org/tiny-llama", {"params": {"dry_run": "maybe"}}, "dry_run"),
    ("POST", "downloads", {"body": {"model": 42}}, "model"),
    ("POST", "downloads", {"body": {"model": "tiny-org/tiny-llama", "files": "a,b".split(",") + [3]}}, "files"),
    ("POST", "downloads", {"body": {}}, "model"),
    ("GET", "downloads", {"params": {"state": "sleeping"}}, "state"),
    ("GET", "jobs", {"params": {"limit": "-"}}, "limit"),
    ("GET", "jobs", {"params": {"since": "yesterday"}}, "since"),
    ("POST", "downloads/dow-x/cancel", {"body": {"discard": "please"}}, "discard"),
    ("PATCH", "settings", {"body": {"max_concurrent_downloads": "two"}}, "max_concurrent_downloads"),
    ("PATCH", "settings", {"body": {"idle_ttl": True}}, "idle_ttl"),
])
async def test_wrong_types_are_400_naming_the_parameter(api, method, path, kwargs, parameter):
    err = assert_error(await api(method, path, **kwargs), 400, "ValidationError")
    assert parameter in err["message"]


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "library", {"params": {"query": "x"}}),
    ("GET", "library/local", {"params": {"limit": "3"}}),
    ("GET", "system", {"params": {"verbose": "1"}}),
    ("POST", "downloads", {"body": {"model": "tiny-org/tiny-llama", "priority": 1}}),
    ("POST", "downloads/dow-x/pause", {"body": {"now": True}}),
    ("PATCH", "settings", {"body": {"home": "/tmp/elsewhere"}}),
    ("PATCH", "settings", {"body": {"hf_endpoint": "http://evil.example"}}),
])
async def test_unknown_parameters_are_400(api, method, path, kwargs):
    err = assert_error(await api(method, path, **kwargs), 400, "ValidationError")
    assert "Unknown parameter" in err["message"]


async def test_parameters_in_the_wrong_place_are_400(api):
    # a body parameter in the query string, a query parameter in the body
    err = assert_error(await api("POST", "downloads", params={"model": "tiny-org/tiny-llama"}), 400)
    assert "request body" in err["message"] or "JSON" in err["message"]
    err = assert_error(await api("DELETE", "models/tiny-org/tiny-llama", body={"dry_run": True}), 400)
    assert "query string" in err["message"]
    # a path parameter cannot be overridden from the query string
    err = assert_error(await api("GET", "models/tiny-org/tiny-llama", params={"model": "other/model"}), 400)
    assert "URL path" in err["message"]


async def test_repeated_single_valued_query_parameter_is_400(api):
    err = assert_error(await api("GET", "jobs", params=[("limit", "1"), ("limit", "2")]), 400, "ValidationError")
    assert "limit" in err["message"]


async def test_settings_invalid_values_and_immutable_keys_are_400(api, engine_of):
    before = (await api("GET", "settings")).json
    assert_error(await api("PATCH", "settings", body={"max_concurrent_downloads": 0}), 400, "ValidationError")
    assert_error(await api("PATCH", "settings", body={"memory_budget": -1}), 400, "ValidationError")
    assert_error(await api("PATCH", "settings", body={}), 400, "ValidationError")
    # all or nothing: a valid change next to an invalid one is not applied
    assert_error(await api("PATCH", "settings", body={"files_per_download": 8, "idle_ttl": -5}), 400)
    assert (await api("GET", "settings")).json == before


async def test_download_of_a_missing_repo_fails_the_job_with_not_found(api):
    # downloads.start answers 202 at once; resolving the repo happens in the job
    r = await api("POST", "downloads", body={"model": "nobody/nothing"})
    assert r.code == 202, r
    job = await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] in ("failed", "completed"))
    assert job["state"] == "failed" and job["error"]["type"] == "NotFoundError", job


async def test_download_of_a_bad_repo_id_or_quantization_is_400(api):
    assert_error(await api("POST", "downloads", body={"model": "../etc"}), 400, "ValidationError")
    assert_error(await api("POST", "downloads", body={"model": "org/name:Q4 K"}), 400, "ValidationError")


async def test_wrong_method_is_405_in_the_error_shape(api):
    assert_error(await api("PUT", "system", body={}), 405, "HTTPError")
    assert_error(await api("DELETE", "downloads"), 405, "HTTPError")


async def test_browser_clients_token_and_cache_buster_query_keys_are_not_parameters(api, jp_auth_header):
    # JupyterLab's ServerConnection may add ?token=... and a bare &<timestamp> cache-buster
    token = jp_auth_header["Authorization"].split()[-1]
    r = await api("GET", "system", params=[("token", token), ("1700000000000", "")])
    assert r.code == 200 and "cpu_percent" in r.json
    # but a real unknown parameter still is an error
    assert_error(await api("GET", "system", params={"colour": "blue"}), 400)


# One error writer for both surfaces: the same exception in the studio's shape (/api) and in
# OpenAI's (/v1). Status, body and headers, exactly.
_SERVER_LOG = "Internal server error; see the Jupyter server log"
_WRITER_CASES = [
    (ValidationError("bad temperature", details={"param": "temperature"}), 500,
     (400, {"error": {"type": "ValidationError", "message": "bad temperature", "details": {"param": "temperature"},
                      "resolution_steps": []}}, {}),
     (400, {"error": {"message": "bad temperature", "type": "invalid_request_error", "param": "temperature",
                      "code": None}}, {"x-should-retry": "false"})),
    (NotFoundError("no such model", resolution_steps=["download it"]), 500,
     (404, {"error": {"type": "NotFoundError", "message": "no such model", "details": {},
                      "resolution_steps": ["download it"]}}, {}),
     (404, {"error": {"message": "no such model (download it)", "type": "invalid_request_error", "param": "model",
                      "code": "model_not_found"}}, {"x-should-retry": "false"})),
    (ResourceError("out of memory"), 500,
     (507, {"error": {"type": "ResourceError", "message": "out of memory", "details": {}, "resolution_steps": []}},
      {}),
     (507, {"error": {"message": "out of memory", "type": "server_error", "param": None,
                      "code": "insufficient_resources"}}, {"x-should-retry": "false"})),
    # tornado doubles a "%" of a message given without arguments; the answer shows it once
    (tornado.web.HTTPError(403, "100% refused"), 403,
     (403, {"error": {"type": "HTTPError", "message": "100% refused", "details": {"status": 403},
                      "resolution_steps": []}}, {}),
     (403, {"error": {"message": "100% refused", "type": "permission_error", "param": None, "code": None}},
      {"x-should-retry": "false"})),
    (tornado.web.HTTPError(404), 404,
     (404, {"error": {"type": "HTTPError", "message": "Not Found", "details": {"status": 404},
                      "resolution_steps": []}}, {}),
     (404, {"error": {"message": "Not Found", "type": "invalid_request_error", "param": None,
                      "code": "unknown_url"}}, {"x-should-retry": "false"})),
    # a bug: its own text stays in the server log
    (RuntimeError("secret detail"), 500,
     (500, {"error": {"type": "ServerError", "message": _SERVER_LOG, "details": {"status": 500},
                      "resolution_steps": []}}, {}),
     (500, {"error": {"message": _SERVER_LOG, "type": "server_error", "param": None, "code": None}},
      {"x-should-retry": "false"})),
    (OpenAIError(503, "busy", "server_error"), 500,
     (503, {"error": {"type": "HTTPError", "message": "busy", "details": {"status": 503},
                      "resolution_steps": []}}, {}),
     (503, {"error": {"message": "busy", "type": "server_error", "param": None, "code": None}}, {})),
]


@pytest.mark.parametrize(("exc", "status", "studio", "openai"), _WRITER_CASES,
                         ids=[type(c[0]).__name__ + str(c[1]) for c in _WRITER_CASES])
def test_one_error_writer_answers_each_error_in_both_shapes(exc, status, studio, openai):
    # When the same error is answered on the studio's REST surface and on the OpenAI-compatible one
    for shape, expected in ((ErrorShape.STUDIO, studio), (ErrorShape.OPENAI, openai)):
        response = error_response(exc, status, shape)
        # Then each shape has its own status, body and headers
        assert (response.status, response.body, response.headers) == expected, shape


def test_a_request_without_a_token_is_401_for_openai_clients_and_403_on_the_studio_api():
    refused = tornado.web.HTTPError(403)
    studio = error_response(refused, 403, ErrorShape.STUDIO, anonymous=True)
    assert (studio.status, studio.body["error"]["type"]) == (403, "HTTPError")
    openai = error_response(refused, 403, ErrorShape.OPENAI, anonymous=True)
    assert (openai.status, openai.body["error"]["code"]) == (401, "invalid_api_key")
    assert openai.headers == {"WWW-Authenticate": 'Bearer realm="jupyter"', "x-should-retry": "false"}
