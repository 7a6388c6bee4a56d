"""Disk use: bytes per store, the same file in two stores reported as a duplicate with the right byte
counts, freeing only the studio's own copy, the hash cache, partial downloads and job leftovers; the
``model-studio du`` command and ``%studio du``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.jobs import JobState
from model_studio.errors import ConflictError, NotFoundError

SIZE = (1 << 20) + 123  # above the default smallest file checked for copies


@pytest.fixture
def stores(tmp_path: Path, fake_hub) -> tuple[Engine, dict[str, Path], str]:
    """An engine whose HF cache blob, extra model folder and studio models folder hold one same file."""
    blob = os.urandom(SIZE)
    digest = hashlib.sha256(blob).hexdigest()
    extra = tmp_path / "my-models"
    extra.mkdir()
    settings = Settings(home=str(tmp_path / "studio-home"), hf_cache=str(tmp_path / "hf-home" / "hub"),
                        hf_endpoint=fake_hub.url, extra_model_dirs=[str(extra)])
    hf_blob = settings.cache_path / "models--org--m" / "blobs" / digest
    owned = settings.home_path / "models" / "m.gguf"
    for path in (hf_blob, extra / "m.gguf", owned):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)
    (extra / "other.gguf").write_bytes(os.urandom(SIZE))  # same size, other bytes: not a copy
    eng = Engine(settings)
    yield eng, {"hf": hf_blob, "extra": extra / "m.gguf", "owned": owned}, digest
    eng.close()


def test_same_file_in_three_stores_is_one_duplicate_with_the_right_bytes(stores):
    eng, paths, digest = stores
    report = eng.disk.report()
    by_name = {s["name"]: s for s in report["stores"]}
    assert by_name["hf-cache"]["bytes"] == SIZE and by_name["studio-models"]["bytes"] == SIZE
    assert by_name[f"extra:{paths['extra'].parent}"]["bytes"] == 2 * SIZE
    assert report["total_bytes"] == 4 * SIZE
    [dup] = report["duplicates"]
    assert dup["sha256"] == digest and dup["size"] == SIZE
    assert sorted(c["path"] for c in dup["copies"]) == sorted(str(p) for p in paths.values())
    assert dup["extra_bytes"] == 2 * SIZE and report["duplicate_bytes"] == 2 * SIZE
    freeable = {c["path"]: c["freeable"] for c in dup["copies"]}
    assert freeable == {str(paths["hf"]): False, str(paths["extra"]): False, str(paths["owned"]): True}
    assert dup["freeable_bytes"] == SIZE and report["freeable"]["duplicates"] == SIZE


def test_free_removes_only_the_studio_copy(stores):
    eng, paths, digest = stores
    with pytest.raises(ConflictError) as refused:  # another tool's (or the user's) folder: never
        eng.disk.free("duplicate", str(paths["extra"]))
    assert "does not own" in refused.value.message
    done = eng.disk.free("duplicate", str(paths["owned"]))
    assert done["bytes_freed"] == SIZE and done["sha256"] == digest
    assert not paths["owned"].exists()
    assert hashlib.sha256(paths["extra"].read_bytes()).hexdigest() == digest
    assert hashlib.sha256(paths["hf"].read_bytes()).hexdigest() == digest
    [left] = eng.disk.report()["duplicates"]  # still copies, but neither is the studio's to free
    assert len(left["copies"]) == 2 and left["extra_bytes"] == SIZE and left["freeable_bytes"] == 0
    with pytest.raises(NotFoundError):
        eng.disk.free("duplicate", str(paths["owned"]))


def test_the_last_studio_copy_is_kept(tmp_path, fake_hub):
    eng = Engine(Settings(home=str(tmp_path / "h"), hf_cache=str(tmp_path / "c"), hf_endpoint=fake_hub.url))
    try:
        blob = os.urandom(SIZE)
        a, b = eng.settings.home_path / "models" / "a.gguf", eng.settings.home_path / "bases" / "b.gguf"
        for p in (a, b):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(blob)
        [dup] = eng.disk.report()["duplicates"]
        keep = next(c for c in dup["copies"] if not c["freeable"])
        gone = next(c for c in dup["copies"] if c["freeable"])
        with pytest.raises(ConflictError):
            eng.disk.free("duplicate", keep["path"])
        assert eng.disk.free("duplicate", gone["path"])["bytes_freed"] == SIZE
        assert Path(keep["path"]).read_bytes() == blob
        with pytest.raises(ConflictError):  # now the only copy
            eng.disk.free("duplicate", keep["path"])
    finally:
        eng.close()


def test_hashes_are_cached_by_path_size_and_mtime(stores):
    eng, paths, digest = stores
    eng.disk.report()
    conn = eng.disk._conn()
    cached = dict(conn.execute("SELECT path, sha256 FROM file_hashes").fetchall())
    assert cached[str(paths["owned"])] == digest and str(paths["hf"]) not in cached  # an HF blob is its name
    # Given a cached hash (changed here to prove it is read), a second report does not read the file
    conn.execute("UPDATE file_hashes SET sha256 = ? WHERE path = ?", ("f" * 64, str(paths["owned"])))
    assert len(eng.disk.report()["duplicates"]) == 1  # only hf and extra still match
    # And a new mtime reads it again
    os.utime(paths["owned"], ns=(1, 1))
    [dup] = eng.disk.report()["duplicates"]
    assert len(dup["copies"]) == 3


def test_partial_downloads_and_job_leftovers(engine):
    blobs = engine.settings.cache_path / "models--org--x" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "abc.incomplete").write_bytes(b"x" * 1000)
    job = engine.jobs.create("train", {"base": "org/x"}, title="LoRA x")
    engine.jobs.set_state(job.id, JobState.RUNNING)
    engine.jobs.set_state(job.id, JobState.FAILED, error={"type": "StudioError", "message": "boom"})
    run_dir = engine.training.runs_dir / job.id
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoint.bin").write_bytes(b"y" * 5000)
    f = engine.disk.report()["freeable"]
    assert f["partial_downloads"]["bytes"] == 1000 and f["job_leftovers"]["bytes"] == 5000
    assert f["job_leftovers"]["jobs"][0]["id"] == job.id
    assert f["total"] == 6000
    assert engine.disk.free("partial_downloads")["bytes_freed"] == 1000
    assert not (blobs / "abc.incomplete").exists()
    assert engine.disk.free("job_leftovers") == {"what": "job_leftovers", "bytes_freed": 5000, "jobs": [job.id]}
    assert not run_dir.exists()


def test_cli_du_json_and_table(stores, monkeypatch, capsys):
    from model_studio.cli import main

    eng, paths, digest = stores
    monkeypatch.setenv("MODEL_STUDIO_HOME", eng.settings.home)
    monkeypatch.setenv("HF_HUB_CACHE", eng.settings.hf_cache)
    monkeypatch.setenv("MODEL_STUDIO_MODEL_DIRS", str(paths["extra"].parent))
    assert main(["du", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["duplicates"][0]["sha256"] == digest and out["duplicate_bytes"] == 2 * SIZE
    assert out["freeable"]["duplicates"] == SIZE
    assert main(["du"]) == 0
    text = capsys.readouterr().out
    assert "STORE" in text and digest[:12] in text and f"{paths['owned']}  (freeable)" in text
    assert main(["du", "--free", "duplicate", "--path", str(paths["extra"])]) == 1
    assert "does not own" in capsys.readouterr().err and paths["extra"].exists()
    assert main(["du", "--free", "duplicate", "--path", str(paths["owned"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes_freed"] == SIZE and not paths["owned"].exists()


def test_magic_du_and_energy(stores, monkeypatch):
    from IPython.testing.globalipapp import get_ipython

    import model_studio

    eng, paths, digest = stores
    monkeypatch.setenv("MODEL_STUDIO_HOME", eng.settings.home)
    monkeypatch.setenv("HF_HUB_CACHE", eng.settings.hf_cache)
    monkeypatch.setenv("MODEL_STUDIO_MODEL_DIRS", str(paths["extra"].parent))
    model_studio._reset_engine()
    try:
        ip = get_ipython()
        ip.run_line_magic("load_ext", "model_studio")
        view = ip.run_line_magic("studio", "du")
        assert digest[:12] in view.text and "could be freed" in view.text
        energy = ip.run_line_magic("studio", "energy --since 2026-01-01")
        assert "gCO2e/kWh" in energy.text and "IEA" in energy.text
    finally:
        model_studio._reset_engine()
