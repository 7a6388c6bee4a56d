"""A JupyterHub user's server over a read-only shared model folder (``MODEL_STUDIO_SHARED_MODEL_DIRS``, as
the spawner sets it): REST lists the shared models as local and shared, and refuses to delete them
(403 ``ReadOnlyModelError``), leaving the folder as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.test_chat import write_gguf
from tests.fixtures import shared_cache
from tests.server.conftest import assert_error

REPO = "shared-org/tiny-llama-GGUF"
LOOSE = "local/tiny-chat"


@pytest.fixture
def shared(tmp_path: Path, tiny_model_cache: Path):
    from tests.fixtures.models import _build_cache

    gguf = _build_cache(tiny_model_cache)["gguf:Q8_0"]
    loose = write_gguf(tmp_path / "src" / "tiny-chat.Q8_0.gguf")
    folder = shared_cache.make_shared(tmp_path / "shared", gguf, loose, repo=REPO, filename="tiny-llama.Q8_0.gguf")
    shared_cache.make_read_only(folder)
    yield folder
    shared_cache.make_writable(folder)


@pytest.fixture
def jp_server_config(studio_env, shared, monkeypatch):
    monkeypatch.setenv("MODEL_STUDIO_SHARED_MODEL_DIRS", str(shared))
    return {"ServerApp": {"jpserver_extensions": {"model_studio": True}},
            "ModelStudioApp": {"system_interval": 0.3, "event_keepalive": 0.5}}


async def test_shared_models_are_listed_and_cannot_be_deleted(api, shared, engine_of):
    before = shared_cache.listing(shared)
    assert engine_of.settings.shared_model_dirs == [str(shared)]
    # Listed as local models, marked shared
    r = await api("GET", "library/local")
    assert r.code == 200, r
    models = {m["id"]: m for m in r.json["models"]}
    for model in (REPO, LOOSE):
        assert models[model]["status"] == "local" and models[model]["shared"] is True, models[model]
        assert "shared" in models[model]["sources"]
    assert [q["name"] for q in models[REPO]["quantizations"]] == ["Q8_0"]
    search = await api("GET", "library", params={"status": "local", "hub": "false"})
    assert search.code == 200 and {REPO, LOOSE} <= {m["id"] for m in search.json["models"]}
    # Delete (and its dry run, the confirmation dialog's question) is refused with a typed 403
    for params in ({"dry_run": "true"}, None):
        for model in (REPO, LOOSE):
            err = assert_error(await api("DELETE", f"models/{model}", params=params), 403, "ReadOnlyModelError")
            assert err["details"]["model"] == model and err["details"]["shared"] is True
            assert "shared read-only model folder" in err["message"] and err["resolution_steps"]
    # and the shared folder is as it was
    assert shared_cache.listing(shared) == before
    assert (await api("GET", "library/local")).json["models"]
