"""REST: capabilities (models per task and format, local and available), provider statistics per
backend, and the job center's routes."""

from __future__ import annotations

import json
import time

from tests.fixtures.models import TINY_REPOS
from tests.server.conftest import assert_error, poll


def _catalog() -> list[dict]:
    from model_studio.core.library.records import CATALOG_PATH

    return json.loads(CATALOG_PATH.read_text())["models"]


async def _download(api, model: str) -> dict:
    r = await api("POST", "downloads", body={"model": model})
    assert r.code in (200, 202), r
    return await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] in ("completed", "failed"))


async def test_capabilities_count_local_and_available_models_per_task_and_format(api):
    r = await api("GET", "capabilities")
    assert r.code == 200, r
    before = r.json
    catalog = _catalog()
    assert before["local"] == 0 and before["available"] == len({m["id"] for m in catalog})
    assert all(row["local"] == 0 for row in before["tasks"] + before["formats"])
    assert sum(row["available"] for row in before["tasks"]) == before["available"]
    # One GGUF chat model downloaded: text-generation and gguf count it as local
    assert (await _download(api, f"{TINY_REPOS['gguf']}:Q8_0"))["state"] == "completed"
    after = (await api("GET", "capabilities")).json
    assert after["local"] == 1 and after["available"] == before["available"] + 1
    tasks = {row["name"]: row for row in after["tasks"]}
    formats = {row["name"]: row for row in after["formats"]}
    assert tasks["text-generation"]["local"] == 1
    assert formats["gguf"]["local"] == 1
    assert formats["gguf"]["available"] == sum("gguf" in m.get("formats", []) for m in catalog) + 1


async def test_backend_statistics_count_models_downloads_and_bytes(api, fake_hub):
    assert (await _download(api, f"{TINY_REPOS['gguf']}:Q8_0"))["state"] == "completed"
    fake_hub.add_fault(f"{TINY_REPOS['llama']}/*", "status", code=404, times=100)
    assert (await _download(api, TINY_REPOS["llama"]))["state"] == "failed"
    r = await api("GET", "backends")
    assert r.code == 200, r
    by_name = {b["name"]: b for b in r.json["backends"]}
    llama = by_name["llama-cpp"]["stats"]
    assert llama["local_models"] == 1 and llama["downloads_completed"] == 1 and llama["loaded_models"] == 0
    local = (await api("GET", "library/local")).json["models"]
    assert llama["bytes_on_disk"] == local[0]["local_size"] > 0
    transformers = by_name["transformers"]["stats"]
    assert transformers["downloads_failed"] == 1 and transformers["downloads_completed"] == 0
    assert set(llama) == {"local_models", "loaded_models", "downloads_completed", "downloads_failed",
                          "bytes_on_disk"}


async def test_job_center_routes(api, engine_of):
    download = await _download(api, f"{TINY_REPOS['gguf']}:Q8_0")
    store = engine_of.jobs
    batch = store.create("batch", {"model": "local/tiny"}, title="a batch")
    store.set_state(batch.id, "running")
    train = store.create("train", {"base": TINY_REPOS["llama"]}, title="a run")
    store.set_state(train.id, "running")
    store.set_state(train.id, "failed", error={"error": {"type": "StudioError", "message": "boom",
                                                         "details": {}, "resolution_steps": []}})
    r = await api("GET", "jobs")
    assert r.code == 200
    assert {j["kind"] for j in r.json["jobs"]} == {"download", "batch", "train"}
    r = await api("GET", "jobs", params={"kind": "train", "q": "A RUN"})
    assert [j["id"] for j in r.json["jobs"]] == [train.id]
    # A running job cannot be deleted: 409; a finished one can
    assert_error(await api("DELETE", f"jobs/{batch.id}"), 409, "ConflictError")
    r = await api("DELETE", f"jobs/{download['id']}")
    assert r.code == 200 and r.json["deleted"] == download["id"]
    assert_error(await api("GET", f"jobs/{download['id']}"), 404, "NotFoundError")
    # Cancel goes to the batch service (the answers so far are kept)
    r = await api("POST", f"jobs/{batch.id}/cancel")
    assert r.code == 200, r
    # Clean-up: a dry run, then for real
    old = time.time() - 5 * 86_400
    store._conn().execute("UPDATE jobs SET finished_at=?, updated_at=? WHERE id=?", (old, old, train.id))
    r = await api("POST", "jobs/cleanup", body={"older_than_days": 3, "dry_run": True})
    assert r.code == 200 and r.json["count"] == 1 and r.json["jobs"][0]["id"] == train.id
    assert (await api("GET", f"jobs/{train.id}")).code == 200
    r = await api("POST", "jobs/cleanup", body={"older_than_days": 3, "kinds": ["train"]})
    assert r.code == 200 and r.json["count"] == 1 and r.json["dry_run"] is False
    assert_error(await api("GET", f"jobs/{train.id}"), 404)
    assert_error(await api("POST", "jobs/cleanup", body={"older_than_days": -1}), 400, "ValidationError")
    assert_error(await api("POST", "jobs/cleanup", body={}), 400, "ValidationError")
