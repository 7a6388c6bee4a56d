"""``%studio import``: a GGUF by path (in place) and by URL (verified), and where local models live."""

from __future__ import annotations

from tests.engine.test_imports import FILE, REPO, sha256_of, write_gguf


def test_import_by_path_then_listed_with_its_store(studio, studio_engine, tmp_path, capsys):
    src = write_gguf(tmp_path / "mine.Q8_0.gguf")
    studio(f"import {src}")
    assert "local/mine" in capsys.readouterr().out
    local = studio("models --local")
    assert local.column("id") == ["local/mine"] and local.column("store") == ["import"]
    assert local.column("path") == [str(src)]


def test_import_by_url_with_sha256_and_a_bad_url_is_one_line(studio, studio_engine, fake_hub, tmp_path, capsys):
    served = write_gguf(tmp_path / "served" / FILE, rows=64)
    fake_hub.add_repo(REPO, {FILE: served})
    job = studio(f"import {fake_hub.url}/{REPO}/resolve/main/{FILE} --sha256 {sha256_of(served)}")
    assert job.state.value == "completed" and job.result["verified"]
    assert "verified sha256" in capsys.readouterr().out
    assert studio("import https://example.com/x.bin") is None
    assert "ValidationError" in capsys.readouterr().err
