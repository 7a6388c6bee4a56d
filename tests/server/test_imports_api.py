"""REST: other tools' stores (a setting, listed read-only, verify, delete refused), imports by path
(confined to root_dir and the studio home) and by URL (a job), and the stores listing."""

from __future__ import annotations

from pathlib import Path

from tests.engine.test_imports import FILE, REPO, sha256_of, write_gguf
from tests.engine.test_stores import make_ollama_store
from tests.server.conftest import assert_error, poll


async def test_ollama_store_set_over_rest_lists_verifies_and_refuses_delete(api, jp_root_dir: Path, tmp_path):
    # Given an Ollama store inside root_dir holding a small GGUF under its digest
    gguf = write_gguf(tmp_path / "src" / "blob.gguf")
    digest = sha256_of(gguf)
    root = make_ollama_store(jp_root_dir / "ollama", gguf, digest, model="tiny", tag="1b")
    # When the store's folder is set, then its model is listed read-only
    r = await api("PATCH", "settings", body={"ollama_models_dir": str(root), "scan_lmstudio": False})
    assert r.code == 200, r
    r = await api("GET", "library/local")
    models = {m["id"]: m for m in r.json["models"]}
    tiny = models["ollama/tiny:1b"]
    assert tiny["store"] == "ollama" and tiny["read_only"] and tiny["local_size"] == gguf.stat().st_size
    # and verify hashes the blob against its digest
    r = await api("POST", "models/ollama/tiny:1b/verify")
    assert r.code == 200 and r.json["ok"] and r.json["algorithm"] == "sha256", r
    # and delete is refused, naming Ollama, the blob kept
    r = await api("DELETE", "models/ollama/tiny:1b")
    err = assert_error(r, 403, "ReadOnlyModelError")
    assert "Ollama" in err["message"]
    assert (root / "blobs" / f"sha256-{digest}").is_file()
    # and the stores listing shows the blob with its sha256
    r = await api("GET", "library/stores")
    stores = {s["store"]: s for s in r.json["stores"]}
    assert [f["sha256"] for f in stores["ollama"]["files"]] == [digest]
    # A store folder outside root_dir is refused
    r = await api("PATCH", "settings", body={"ollama_models_dir": str(tmp_path / "elsewhere")})
    assert_error(r, 403, "ForbiddenPathError")


async def test_import_by_path_is_confined_and_in_place(api, jp_root_dir: Path, tmp_path):
    outside = write_gguf(tmp_path / "outside" / "secret.Q8_0.gguf")
    r = await api("POST", "library/import", body={"path": str(outside)})
    assert_error(r, 403, "ForbiddenPathError")
    inside = write_gguf(jp_root_dir / "models" / "mine.Q8_0.gguf")
    r = await api("POST", "library/import", body={"path": "models/mine.Q8_0.gguf"})
    assert r.code == 200, r
    assert r.json["id"] == "local/mine" and r.json["store"] == "import"
    assert r.json["local_path"] == str(inside.resolve())
    r = await api("POST", "library/import", body={"path": "models/mine.Q8_0.gguf", "name": "bad name!"})
    assert_error(r, 400, "ValidationError")


async def test_import_by_url_is_a_verified_job(api, fake_hub, tmp_path):
    served = write_gguf(tmp_path / "served" / FILE, rows=64)
    fake_hub.add_repo(REPO, {FILE: served})
    url = f"{fake_hub.url}/{REPO}/resolve/main/{FILE}"
    r = await api("POST", "library/import-url", body={"url": url, "sha256": sha256_of(served)})
    assert r.code == 202, r
    job = await poll(api, f"jobs/{r.json['id']}", lambda j: j["state"] in ("completed", "failed"), 60)
    assert job["state"] == "completed" and job["result"]["verified"] is True, job
    r = await api("GET", "models/local/url-model")
    assert r.code == 200 and r.json["verified"] is True and r.json["store"] == "import", r
    r = await api("POST", "library/import-url", body={"url": "https://example.com/model.bin"})
    assert_error(r, 400, "ValidationError")
