"""Fixtures for the REST API: a Jupyter server (pytest-jupyter) with the studio pointed at the fake Hub.

pytest only accepts ``pytest_plugins`` in the root conftest, so the pytest-jupyter server plugin
is imported here instead: its fixtures, autouse event loop and async-test hooks then apply to
tests/server only.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.utils import url_path_join
from pytest_jupyter.jupyter_server import *  # noqa: F403

from tests.fixtures.models import make_random_file

REPO_ROOT = Path(__file__).resolve().parents[2]
API = "model-studio/api"
BIG = "big-org/big-model"
BIG_FILE = "model.safetensors"
BIG_SIZE = 4 << 20


@pytest.fixture
def studio_env(fake_hub, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path) -> dict[str, str]:
    """HF_ENDPOINT at the fake Hub (on top of the per-test home and cache), set before the server starts."""
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    return {k: os.environ[k] for k in ("MODEL_STUDIO_HOME", "HF_HUB_CACHE", "HF_HOME", "HF_ENDPOINT")}


@pytest.fixture
def jp_server_config(studio_env):
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


@pytest.fixture
def engine_of(jp_serverapp):
    """The server's Engine (to check state the REST calls leave behind)."""
    return jp_serverapp.web_app.settings["model_studio_engine"]


class Response:
    def __init__(self, code: int, body: bytes, headers: Any) -> None:
        self.code = code
        self.body = body
        self.headers = headers

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.code} {self.body[:300]!r}>"


@pytest.fixture
def api(http_server_client, jp_auth_header, jp_base_url):
    """``await api("GET", "library", params=..., body=...)`` -> Response; never raises on 4xx/5xx.

    ``path`` is used as given (``%2F`` stays encoded), only characters a URL cannot hold are quoted.
    """

    async def call(method: str, path: str, *, params: dict | list | None = None, body: Any = None,
                   raw_body: bytes | str | None = None, headers: dict | None = None) -> Response:
        url = url_path_join(jp_base_url, API, urllib.parse.quote(path, safe="/%:@!$&'()*+,;=-._~"))
        if params:
            url += "?" + urllib.parse.urlencode(params)
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "allow_nonstandard_methods": True,
                                  "request_timeout": 30}
        if raw_body is not None:
            kwargs["body"] = raw_body
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PATCH", "PUT"):
            kwargs["body"] = b""
        all_headers = dict(jp_auth_header)
        all_headers.update(headers or {})
        r = await http_server_client.fetch(url, headers=all_headers, **kwargs)
        return Response(r.code, r.body, r.headers)

    return call


@pytest.fixture
def big_repo(fake_hub, tmp_path):
    """A repo with one 4 MiB LFS file and a small config."""
    data = make_random_file(tmp_path / "big.bin", BIG_SIZE, seed=7)
    fake_hub.add_repo(BIG, {BIG_FILE: data, "config.json": b'{"model_type": "llama"}'},
                      pipeline_tag="text-generation", library_name="transformers")
    return fake_hub.repo_files(BIG)


async def poll(api, path: str, until, timeout: float = 30.0, interval: float = 0.05) -> Any:
    """GET ``path`` until ``until(json)`` holds; returns that JSON."""
    import asyncio

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = await api("GET", path)
        assert r.code == 200, r
        last = r.json
        if until(last):
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out polling {path}; last: {last}")


def assert_error(r: Response, code: int, type_: str | None = None) -> dict:
    assert r.code == code, r
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    err = r.json["error"]
    assert set(err) == {"type", "message", "details", "resolution_steps"}, err
    assert isinstance(err["message"], str) and err["message"]
    if type_ is not None:
        assert err["type"] == type_, err
    return err
