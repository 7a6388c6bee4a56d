"""Request bodies: a size limit per route (413) and a nesting limit (400), in the error shape of
REST and of the OpenAI-compatible ``/v1``; uploads keep their larger limit."""

from __future__ import annotations

import json

import pytest
from jupyter_server.utils import url_path_join

from model_studio import api as studio_api
from model_studio.server.handlers import MAX_JSON_DEPTH
from model_studio.server.openai import MAX_REQUEST_BYTES
from tests.server.conftest import assert_error

CHAT = {"model": "local/nothing", "messages": [{"role": "user", "content": "hi"}]}


def _nested(depth: int) -> bytes:
    """A chat request whose 'messages' is ``depth`` arrays deep."""
    return b'{"model": "local/nothing", "messages": ' + b"[" * depth + b"]" * depth + b"}"


def _padded(size: int) -> bytes:
    """A valid chat request of exactly ``size`` bytes (one long message)."""
    empty = len(json.dumps({**CHAT, "messages": [{"role": "user", "content": ""}]}))
    return json.dumps({**CHAT, "messages": [{"role": "user", "content": "a" * (size - empty)}]}).encode()


@pytest.fixture
def v1(http_server_client, jp_auth_header, jp_base_url):
    async def post(path: str, body: bytes):
        url = url_path_join(jp_base_url, "model-studio/v1", path)
        r = await http_server_client.fetch(url, method="POST", body=body, headers=jp_auth_header,
                                           raise_error=False, request_timeout=60)
        err = json.loads(r.body)["error"]
        assert set(err) == {"message", "type", "param", "code"}, err
        return r.code, err

    return post


@pytest.mark.parametrize("depth", [100_000, MAX_JSON_DEPTH + 1])
async def test_deeply_nested_bodies_are_400_on_rest_and_v1(api, v1, engine_of, depth):
    # When a body nests far past the parser's recursion limit, or just past the studio's own limit
    r = await api("POST", "chat/complete", raw_body=_nested(depth))
    # Then REST answers 400 in its error shape, naming the limit
    err = assert_error(r, 400, "ValidationError")
    assert err["details"] == {"max_depth": MAX_JSON_DEPTH}, err
    r = await api("POST", "downloads", raw_body=b'{"model": ' + b"[" * depth + b"]" * depth + b"}")
    assert_error(r, 400, "ValidationError")
    # And /v1 answers 400 in OpenAI's shape
    code, err = await v1("chat/completions", _nested(depth))
    assert code == 400 and err["type"] == "invalid_request_error" and "nested" in err["message"], err
    # And nothing ran
    assert engine_of.jobs.list() == []


async def test_nesting_within_the_limit_is_read(api):
    # A body at the depth limit is parsed and validated as usual (here: a list where objects belong)
    depth = MAX_JSON_DEPTH - 1
    r = await api("POST", "chat/complete", raw_body=_nested(depth))
    err = assert_error(r, 400, "ValidationError")
    assert err["details"].get("parameter") == "messages", err


async def test_a_body_over_the_limit_is_413_on_rest_and_v1(api, v1, engine_of):
    limit = studio_api.BY_NAME["chat.complete"].max_body
    assert limit == studio_api.MAX_BODY
    # When a chat request is one byte over its route's limit
    r = await api("POST", "chat/complete", raw_body=_padded(limit + 1))
    # Then REST refuses it with 413 in the error shape, stating the limit
    err = assert_error(r, 413, "PayloadTooLargeError")
    assert err["details"] == {"size_bytes": limit + 1, "max_bytes": limit}, err
    # And so does /v1, in OpenAI's shape
    code, err = await v1("chat/completions", _padded(MAX_REQUEST_BYTES + 1))
    assert code == 413 and err["type"] == "invalid_request_error" and str(MAX_REQUEST_BYTES) in err["message"], err
    # While a body at the limit is read (and fails only for its unknown model)
    code, err = await v1("chat/completions", _padded(MAX_REQUEST_BYTES))
    assert code == 404 and err["code"] == "model_not_found", err
    assert_error(await api("POST", "chat/complete", raw_body=_padded(limit)), 404)


async def test_an_upload_over_the_default_limit_but_within_its_own_still_works(api, engine_of):
    # Given a dataset file larger than the default body limit (each row a long prompt)
    row = json.dumps({"prompt": "p" * 100_000, "completion": "c"}) + "\n"
    content = row * (studio_api.MAX_BODY // len(row) + 2)
    body = json.dumps({"filename": "big.jsonl", "content": content}).encode()
    assert studio_api.MAX_BODY < len(body) <= studio_api.BY_NAME["datasets.upload"].max_body
    # When it is uploaded
    r = await api("POST", "datasets", raw_body=body)
    # Then it is imported, every row
    assert r.code == 201, r
    assert r.json["rows"] == content.count("\n")
    assert [d.name for d in engine_of.training.datasets.list()] == ["big"]
