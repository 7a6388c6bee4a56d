"""REST: a settings.json that an older version (or a person) left broken is reported and skipped
per key; the server starts and GET /settings stays standard JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def strict_json(body: bytes):
    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(body, parse_constant=refuse)


BROKEN = '{"idle_ttl": Infinity, "memory_budget": "x", "max_concurrent_downloads": 4, "colour": "blue"}'


@pytest.fixture
def broken_settings_file(studio_env) -> Path:
    """settings.json with NaN-style constants, a wrong type and an unknown key, before the server starts."""
    home = Path(studio_env["MODEL_STUDIO_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    path = home / "settings.json"
    path.write_text(BROKEN)
    return path


@pytest.fixture
def jp_server_config(broken_settings_file, studio_env):
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


async def test_a_broken_settings_file_is_reported_and_skipped_per_key(api, engine_of, broken_settings_file):
    # Given the server started over that file
    r = await api("GET", "settings")
    # Then GET /settings is standard JSON: the good key is kept, the bad ones are defaults and reported
    assert r.code == 200, r
    body = strict_json(r.body)
    assert body["settings"]["max_concurrent_downloads"] == 4
    assert body["settings"]["idle_ttl"] == 1800.0 and body["settings"]["memory_budget"] == 0
    reported = {e["setting"]: e for e in body["file_errors"]}
    assert set(reported) == {"idle_ttl", "memory_budget", "colour"}, body["file_errors"]
    assert "finite" in reported["idle_ttl"]["message"] and reported["idle_ttl"]["value"] == "inf"
    # And the next valid change rewrites the file without the bad values
    r = await api("PATCH", "settings", body={"files_per_download": 2})
    assert r.code == 200 and strict_json(r.body)["file_errors"] == []
    saved = strict_json(broken_settings_file.read_bytes())
    assert saved["max_concurrent_downloads"] == 4 and saved["idle_ttl"] == 1800.0 and "colour" not in saved
