"""settings.json: a broken file never stops the engine, and saves never collide."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from model_studio.core import Engine


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"idle_ttl"', b"[" * 100_000, b"\xff\xfe{}"],
                         ids=["not-json", "list", "string", "deep", "not-utf8"])
def test_an_unreadable_settings_file_is_reported_and_the_defaults_are_used(_isolated_home: Path, data: bytes):
    # Given a settings.json that is not a JSON object
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "settings.json").write_bytes(data)
    # When an engine starts over it
    with Engine() as eng:
        # Then it starts with the defaults and says what was wrong
        info = eng.settings_dict()
        assert info["settings"]["max_concurrent_downloads"] == 2
        assert len(info["file_errors"]) == 1 and info["file_errors"][0]["setting"] is None, info["file_errors"]
        assert "settings.json" in info["file_errors"][0]["message"]
        json.dumps(info, allow_nan=False)


def test_each_bad_key_is_skipped_and_the_good_ones_kept(_isolated_home: Path):
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "settings.json").write_text(json.dumps({
        "idle_ttl": float("nan"), "memory_budget": 1e30, "files_per_download": True,
        "extra_model_dirs": ["relative/models"], "max_concurrent_downloads": 4, "stall_timeout": 1,
        "home": "/elsewhere"}))
    with Engine() as eng:
        info = eng.settings_dict()
        assert info["settings"]["max_concurrent_downloads"] == 4
        assert {e["setting"] for e in info["file_errors"]} == {
            "idle_ttl", "memory_budget", "files_per_download", "extra_model_dirs", "stall_timeout", "home"}
        assert eng.settings.home_path == _isolated_home and eng.settings.idle_ttl == 1800.0
        json.dumps(info, allow_nan=False)


def test_two_engines_saving_at_once_never_collide(_isolated_home: Path):
    # Given two engines over one home (a server and a kernel)
    with Engine() as a, Engine() as b:
        errors: list[BaseException] = []

        def save(eng: Engine, first: int) -> None:
            try:
                for i in range(60):
                    eng.update_settings({"files_per_download": 1 + (first + i) % 32})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=save, args=(eng, n)) for eng, n in ((a, 0), (b, 7))]
        # When both save many times at once
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Then every save succeeded and the file is whole, with no temporary file left
        assert errors == []
        saved = json.loads((_isolated_home / "settings.json").read_text())
        assert 1 <= saved["files_per_download"] <= 32
        assert [p.name for p in _isolated_home.iterdir() if "settings" in p.name] == ["settings.json"]
