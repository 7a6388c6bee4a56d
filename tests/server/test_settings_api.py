"""REST: settings have a type and finite bounds; a bad settings.json is reported, never fatal.

GET /settings must stay standard JSON (browsers cannot parse NaN or Infinity), so non-finite
numbers are refused when set and skipped when an older version saved them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.server.conftest import assert_error


def strict_json(body: bytes):
    """Parse as a browser does: NaN and Infinity are errors."""

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(body, parse_constant=refuse)


@pytest.mark.parametrize(("raw", "setting"), [
    ('{"idle_ttl": NaN}', "idle_ttl"),
    ('{"idle_ttl": Infinity}', "idle_ttl"),
    ('{"idle_ttl": -Infinity}', "idle_ttl"),
    ('{"idle_ttl": 1e309}', "idle_ttl"),
    ('{"idle_ttl": -1}', "idle_ttl"),
    ('{"idle_ttl": 2592001}', "idle_ttl"),
    ('{"idle_ttl": true}', "idle_ttl"),
    ('{"memory_budget": 1e30}', "memory_budget"),
    ('{"memory_budget": 1125899906842625}', "memory_budget"),
    ('{"memory_budget": true}', "memory_budget"),
    ('{"max_concurrent_downloads": 33}', "max_concurrent_downloads"),
    ('{"files_per_download": 0}', "files_per_download"),
    ('{"extra_model_dirs": [""]}', "extra_model_dirs"),
    ('{"extra_model_dirs": ["models"]}', "extra_model_dirs"),
    ('{"extra_model_dirs": ["/a\\u0000b"]}', "extra_model_dirs"),
    ('{"files_per_download": 8, "idle_ttl": NaN}', "idle_ttl"),
])
async def test_bad_values_are_400_naming_the_setting_and_nothing_is_saved(api, studio_env, raw, setting):
    before = strict_json((await api("GET", "settings")).body)
    # When a bad value is sent
    err = assert_error(await api("PATCH", "settings", raw_body=raw), 400, "ValidationError")
    # Then the error names the setting, is strict JSON itself, and nothing changed or was saved
    assert setting in err["message"] and setting in json.dumps(err["details"]), err
    r = await api("GET", "settings")
    assert r.code == 200 and strict_json(r.body) == before
    assert not (Path(studio_env["MODEL_STUDIO_HOME"]) / "settings.json").exists()


async def test_a_value_at_each_bound_is_accepted_and_saved_as_standard_json(api, studio_env, jp_root_dir):
    r = await api("PATCH", "settings", body={"idle_ttl": 2_592_000, "memory_budget": 2**50,
                                             "max_concurrent_downloads": 32, "files_per_download": 1})
    assert r.code == 200, r
    values = strict_json(r.body)["settings"]
    assert values["idle_ttl"] == 2_592_000.0 and values["memory_budget"] == 2**50
    saved = strict_json((Path(studio_env["MODEL_STUDIO_HOME"]) / "settings.json").read_bytes())
    assert saved["idle_ttl"] == 2_592_000.0 and saved["max_concurrent_downloads"] == 32
    # No temporary file is left beside it
    assert sorted(p.name for p in Path(studio_env["MODEL_STUDIO_HOME"]).glob("*settings*")) == ["settings.json"]
