"""POST /training/export and /training/runs/{id}/export: the bundle's files come back; with out_dir
(inside root_dir or the studio home) the bundle is written there; outside, 403 and nothing written."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

from tests.server.conftest import assert_error
from tests.server.test_paths_api import ROWS, TINY, download_tiny


async def test_export_returns_the_files_and_writes_only_inside_the_roots(api, jp_root_dir, tmp_path):
    await download_tiny(api)
    (jp_root_dir / "data.jsonl").write_text(ROWS)
    body = {"base": TINY, "dataset": "data.jsonl", "steps": 3, "num_processes": 2, "devices": "cpu",
            "nnodes": 3, "node_rank": 2, "master_addr": "node0.cluster", "master_port": 29700, "include_zip": True}
    r = await api("POST", "training/export", body=body)
    assert r.code == 200, r
    out = r.json
    assert out["path"] is None and out["num_processes"] == 2 and out["devices"] == ["cpu"]
    assert "--nnodes 3 --node_rank 2 --nproc_per_node 2 --master_addr node0.cluster --master_port 29700" in out["command"]
    assert json.loads(out["files"]["config.json"])["steps"] == 3
    assert out["files"]["data.jsonl"] == ROWS
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(out["zip_base64"]))) as z:
        names = {n.split("/", 1)[1] for n in z.namelist()}
    assert names == set(out["files"])

    r = await api("POST", "training/export", body={**body, "out_dir": "exports/run1", "include_zip": False})
    assert r.code == 200, r
    folder = Path(r.json["path"])
    assert folder == (jp_root_dir / "exports" / "run1").resolve() and "zip_base64" not in r.json
    assert (folder / "slurm.sbatch").read_text() == r.json["files"]["slurm.sbatch"]
    assert Path(r.json["zip"]).is_file()

    outside = tmp_path / "elsewhere"
    err = assert_error(await api("POST", "training/export", body={**body, "out_dir": str(outside)}), 403,
                       "ForbiddenPathError")
    assert err["details"]["parameter"] == "out_dir" and not outside.exists()
    err = assert_error(await api("POST", "training/export", body={**body, "node_rank": 3}), 400)
    assert err["details"]["field"] == "node_rank"
    err = assert_error(await api("POST", "training/export", body={**body, "strategy": "deepspeed"}), 400)
    assert "DeepSpeed" in err["message"] or err["details"].get("parameter") == "strategy"
    assert_error(await api("POST", "training/runs/tra-000000000000/export", body={}), 404)
