"""REST: disk use (``/disk``, ``/disk/free``) and energy (``/energy``, ``/energy/jobs``, ``/energy/export``)
answer what the engine reports, in the documented shapes; bad input is a 4xx with the error shape."""

from __future__ import annotations

import hashlib
import json
import os

from model_studio.core.carbon import parse_csv
from model_studio.core.energy import EnergyReading
from tests.server.conftest import assert_error

SIZE = (1 << 20) + 7


def _validate(r, path: str, method: str = "get") -> None:
    import jsonschema

    from model_studio.server.handlers import OPENAPI_PATH

    doc = json.loads(OPENAPI_PATH.read_text())
    schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(r.json)


async def test_disk_usage_and_free(api, engine_of, tmp_path):
    # Given the same file in the HF cache (a blob named by its sha256) and the studio's models folder
    blob = os.urandom(SIZE)
    digest = hashlib.sha256(blob).hexdigest()
    hf = engine_of.settings.cache_path / "models--o--m" / "blobs" / digest
    owned = engine_of.settings.home_path / "models" / "m.gguf"
    for p in (hf, owned):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
    r = await api("GET", "disk")
    assert r.code == 200, r
    _validate(r, "/disk")
    [dup] = r.json["duplicates"]
    assert dup["sha256"] == digest and dup["extra_bytes"] == SIZE and dup["freeable_bytes"] == SIZE
    # A path outside the studio home is refused before anything is looked at; the HF copy is not the studio's
    outside = tmp_path / "elsewhere.gguf"
    outside.write_bytes(b"x")
    assert_error(await api("POST", "disk/free", body={"what": "duplicate", "path": str(outside)}), 403)
    assert_error(await api("POST", "disk/free", body={"what": "everything"}), 400)
    assert_error(await api("POST", "disk/free", body={"what": "duplicate",
                                                       "path": str(owned.parent / "none.gguf")}), 404)
    r = await api("POST", "disk/free", body={"what": "duplicate", "path": str(owned)})
    assert r.code == 200, r
    _validate(r, "/disk/free", "post")
    assert r.json["bytes_freed"] == SIZE and r.json["kept"] == [str(hf)]
    assert not owned.exists() and hf.read_bytes() == blob


async def test_energy_summary_rows_and_csv_export(api, engine_of):
    reading = EnergyReading(wh=1.5, gpu_wh=0.5, cpu_wh=1.0, method="nvml+rapl", cpu_method="rapl",
                            gpu_method="nvml", estimated=False, seconds=10.0, counters={})
    engine_of.energy.record("tra-1", "train", "org/base", reading, started=1_765_000_000.0)
    engine_of.energy.add_chat("local/m", reading, started=1_765_000_100.0)
    r = await api("GET", "energy", params={"since": "2025-12-01"})
    assert r.code == 200, r
    _validate(r, "/energy")
    assert r.json["total"]["wh"] == 3.0 and r.json["total"]["gco2e"] == 3.0 / 1000 * 475.0
    assert {g["kind"] for g in r.json["by_kind"]} == {"train", "chat"}
    assert "IEA" in r.json["grid_intensity_source"]
    r = await api("GET", "energy/jobs", params={"kind": "train"})
    _validate(r, "/energy/jobs")
    assert [row["id"] for row in r.json["rows"]] == ["tra-1"]
    r = await api("GET", "energy/jobs/tra-1")
    _validate(r, "/energy/jobs/{job_id}")
    assert r.json["gpu_wh"] == 0.5 and r.json["method"] == "nvml+rapl"
    assert_error(await api("GET", "energy/jobs/nope"), 404)
    r = await api("GET", "energy/export")
    _validate(r, "/energy/export")
    rows = parse_csv(r.json["content"])
    assert rows == (await api("GET", "energy/jobs")).json["rows"]
    assert_error(await api("GET", "energy", params={"since": "last week"}), 400)
    assert_error(await api("GET", "energy/jobs", params={"kind": "download"}), 400)
