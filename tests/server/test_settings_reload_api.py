"""REST and Python: a settings dry run changes nothing; a reload picks up a hand edit of settings.json;
every setting says where its value comes from (default, environment, config, file, runtime)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.server.conftest import assert_error


@pytest.fixture(autouse=True)
def _max_downloads_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mutable setting given by the environment, set before the server (and its engine) starts."""
    monkeypatch.setenv("MODEL_STUDIO_MAX_DOWNLOADS", "3")


def _file(studio_env) -> Path:
    return Path(studio_env["MODEL_STUDIO_HOME"]) / "settings.json"


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


async def test_sources_of_a_default_an_environment_value_and_a_runtime_change(api):
    r = await api("GET", "settings")
    assert r.code == 200, r
    body = r.json
    assert set(body["sources"]) == set(body["settings"])
    assert body["sources"]["files_per_download"] == "default" and body["settings"]["files_per_download"] == 4
    assert body["sources"]["max_concurrent_downloads"] == "environment"
    assert body["settings"]["max_concurrent_downloads"] == 3
    assert body["sources"]["home"] == "environment"  # MODEL_STUDIO_HOME, set by the fixtures
    assert body["sources"]["hf_token_set"] == "default"
    # When a setting is changed through the API
    r = await api("PATCH", "settings", body={"idle_ttl": 60})
    assert r.code == 200, r
    assert r.json["sources"]["idle_ttl"] == "runtime" and r.json["settings"]["idle_ttl"] == 60.0
    assert r.json["changed"] == {"idle_ttl": {"from": 1800.0, "to": 60.0}}
    assert r.json["dry_run"] is False
    # Then the others keep their sources
    assert r.json["sources"]["files_per_download"] == "default"
    assert r.json["sources"]["max_concurrent_downloads"] == "environment"


async def test_a_dry_run_changes_nothing_in_memory_or_on_disk(api, studio_env):
    # Given a saved settings file
    assert (await api("PATCH", "settings", body={"files_per_download": 6})).code == 200
    path = _file(studio_env)
    before_file = _digest(path)
    before = (await api("GET", "settings")).json
    # When a change is only tried
    r = await api("PATCH", "settings", body={"files_per_download": 9, "idle_ttl": 30, "dry_run": True})
    assert r.code == 200, r
    # Then the answer says what would change ...
    assert r.json["dry_run"] is True
    assert r.json["changed"] == {"files_per_download": {"from": 6, "to": 9}, "idle_ttl": {"from": 1800.0, "to": 30.0}}
    assert r.json["settings"] == before["settings"] and r.json["sources"] == before["sources"]
    # ... and nothing changed, in memory or on disk
    assert _digest(path) == before_file
    after = (await api("GET", "settings")).json
    assert after == before
    # A dry run of a bad value is the same 400 as a real change, and leaves nothing either
    err = assert_error(await api("PATCH", "settings", body={"files_per_download": 99, "dry_run": True}), 400,
                       "ValidationError")
    assert "files_per_download" in err["message"]
    assert _digest(path) == before_file and (await api("GET", "settings")).json == before


async def test_a_dry_run_with_no_saved_file_writes_none(api, studio_env):
    r = await api("PATCH", "settings", body={"max_concurrent_downloads": 5, "dry_run": True})
    assert r.code == 200, r
    assert r.json["changed"] == {"max_concurrent_downloads": {"from": 3, "to": 5}}
    assert not _file(studio_env).exists()
    assert (await api("GET", "settings")).json["settings"]["max_concurrent_downloads"] == 3


async def test_a_reload_picks_up_an_edit_made_to_the_file(api, studio_env, engine_of):
    path = _file(studio_env)
    # Given a file edited by hand while the server runs
    path.write_text(json.dumps({"files_per_download": 7, "idle_ttl": 120}), encoding="utf-8")
    assert (await api("GET", "settings")).json["settings"]["files_per_download"] == 4  # not read yet
    # When the settings are reloaded
    r = await api("POST", "settings/reload")
    assert r.code == 200, r
    # Then the file's values apply, with their source and what changed
    body = r.json
    assert body["settings"]["files_per_download"] == 7 and body["settings"]["idle_ttl"] == 120.0
    assert body["sources"]["files_per_download"] == "file" and body["sources"]["idle_ttl"] == "file"
    assert body["sources"]["max_concurrent_downloads"] == "environment"
    assert body["changed"] == {"files_per_download": {"from": 4, "to": 7}, "idle_ttl": {"from": 1800.0, "to": 120.0}}
    assert body["file_errors"] == []
    assert engine_of.settings.files_per_download == 7
    # And GET agrees
    assert (await api("GET", "settings")).json["settings"]["files_per_download"] == 7
    # When a key is removed from the file, a reload puts its earlier value back
    path.write_text(json.dumps({"idle_ttl": 120}), encoding="utf-8")
    r = await api("POST", "settings/reload")
    assert r.json["changed"] == {"files_per_download": {"from": 7, "to": 4}}
    assert r.json["sources"]["files_per_download"] == "default"
    # And a reload of an unchanged file changes nothing
    assert (await api("POST", "settings/reload")).json["changed"] == {}


async def test_a_bad_value_in_the_file_is_reported_per_key_and_not_applied(api, studio_env):
    path = _file(studio_env)
    path.write_text('{"files_per_download": 8, "idle_ttl": -5, "max_concurrent_downloads": "many", '
                    '"colour": "blue"}', encoding="utf-8")
    r = await api("POST", "settings/reload")
    assert r.code == 200, r
    body = r.json
    # The good key applies
    assert body["settings"]["files_per_download"] == 8 and body["sources"]["files_per_download"] == "file"
    # The bad ones are listed, one entry each, and keep their earlier value and source
    errors = {e["setting"]: e for e in body["file_errors"]}
    assert set(errors) == {"idle_ttl", "max_concurrent_downloads", "colour"}, body["file_errors"]
    assert errors["idle_ttl"]["value"] == -5 and "idle_ttl" in errors["idle_ttl"]["message"]
    assert errors["max_concurrent_downloads"]["value"] == "many"
    assert body["settings"]["idle_ttl"] == 1800.0 and body["sources"]["idle_ttl"] == "default"
    assert body["settings"]["max_concurrent_downloads"] == 3
    assert body["sources"]["max_concurrent_downloads"] == "environment"
    assert body["changed"] == {"files_per_download": {"from": 4, "to": 8}}
    # A file that is not JSON at all: one entry, nothing applied, nothing changed
    path.write_text("{not json", encoding="utf-8")
    r = await api("POST", "settings/reload")
    assert r.code == 200, r
    assert [e["setting"] for e in r.json["file_errors"]] == [None]
    assert "not valid JSON" in r.json["file_errors"][0]["message"]
    assert r.json["changed"] == {"files_per_download": {"from": 8, "to": 4}}


async def test_reload_is_a_write_and_refuses_parameters(api):
    err = assert_error(await api("POST", "settings/reload", body={"files_per_download": 3}), 400, "ValidationError")
    assert "files_per_download" in err["message"]
    from model_studio import api as ops

    assert ops.BY_NAME["settings.reload"].action == "write"


# ---- in process -----------------------------------------------------------------------------


def test_engine_dry_run_reload_and_sources(tmp_path, monkeypatch):
    from model_studio.config import Settings
    from model_studio.core import Engine

    monkeypatch.setenv("MODEL_STUDIO_MAX_DOWNLOADS", "5")
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.json").write_text(json.dumps({"idle_ttl": 90}), encoding="utf-8")
    # A Jupyter config file (or the constructor) gives a setting: source "config"
    settings = Settings(home=str(home), hf_cache=str(tmp_path / "cache"), files_per_download=2)
    with Engine(settings) as eng:
        sources = eng.settings_dict()["sources"]
        assert sources["files_per_download"] == "config" and sources["home"] == "config"
        assert sources["max_concurrent_downloads"] == "environment" and eng.settings.max_concurrent_downloads == 5
        assert sources["idle_ttl"] == "default"  # an explicit Settings does not read the file at start
        digest = _digest(home / "settings.json")
        tried = eng.update_settings({"memory_budget": 1 << 30}, dry_run=True)
        assert tried["dry_run"] is True and tried["changed"] == {"memory_budget": {"from": 0, "to": 1 << 30}}
        assert eng.settings.memory_budget == 0 and _digest(home / "settings.json") == digest
        reloaded = eng.reload_settings()
        assert reloaded["changed"] == {"idle_ttl": {"from": 1800.0, "to": 90.0}}
        assert reloaded["sources"]["idle_ttl"] == "file" and eng.settings.idle_ttl == 90.0
        eng.update_settings({"idle_ttl": 45})
        assert eng.settings_dict()["sources"]["idle_ttl"] == "runtime"
        # The saved file now holds the change: a reload reads it back as the file's value
        assert json.loads((home / "settings.json").read_text())["idle_ttl"] == 45.0
        assert eng.reload_settings()["sources"]["idle_ttl"] == "file"
