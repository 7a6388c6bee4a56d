"""Verify as a job (``library.verify_start``): bytes and files done while it hashes, the same verdict
as ``library.verify``, cancel between two blocks, one job per model (REST: tests/server/test_model_page_api.py)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from model_studio.core.jobs import JobState
from model_studio.core.library import verify as verify_module
from model_studio.errors import NotFoundError, ValidationError


def _seen_progress(engine, job_id):
    seen = []
    engine.jobs.bus.subscribe(lambda job: job.id == job_id and seen.append(job.progress.to_dict()))
    return seen


def test_a_verify_job_reports_files_and_bytes_and_gives_verifys_verdict(engine):
    engine.downloads.start("tiny-org/tiny-llama").wait(60)
    expected = engine.library.verify("tiny-org/tiny-llama")
    assert expected["ok"] is True and expected["checked"] >= 2

    job = engine.library.verify_start("tiny-org/tiny-llama")
    assert job.kind == "verify" and job.params == {"model": "tiny-org/tiny-llama"}
    done = job.wait(60)

    assert done.state == JobState.COMPLETED
    result = dict(done.result)
    assert {k: result[k] for k in ("ok", "checked", "mismatches", "not_downloaded", "extra", "commit")} == \
        {k: expected[k] for k in ("ok", "checked", "mismatches", "not_downloaded", "extra", "commit")}
    # The last progress counts every file and every byte of the files it hashed
    snapshot = Path(engine.library.local.get("tiny-org/tiny-llama").snapshot)
    hashed = sum((snapshot / p).stat().st_size for p in (engine.library.local.get("tiny-org/tiny-llama").files))
    p = done.progress
    assert p.detail["files_done"] == p.detail["files_total"] == expected["checked"]
    assert p.done == p.total == hashed and p.unit == "bytes"


def test_a_verify_job_names_a_modified_file(engine):
    job = engine.downloads.start("tiny-org/tiny-llama").wait(60)
    blob = (Path(job.result["path"]) / "config.json").resolve()
    blob.chmod(0o644)
    blob.write_text(blob.read_text().replace("llama", "LLAMA"))
    done = engine.library.verify_start("tiny-org/tiny-llama").wait(60)
    assert done.result["ok"] is False
    assert [m["path"] for m in done.result["mismatches"]] == ["config.json"]
    actual = hashlib.sha1(f"blob {blob.stat().st_size}\0".encode() + blob.read_bytes()).hexdigest()
    assert done.result["mismatches"][0]["actual"] == actual


def test_file_digest_is_sha256_or_the_git_blob_sha1(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"hello world\n" * 100_000)  # > one block
    data = f.read_bytes()
    heard = []
    assert verify_module.file_digest(f, "sha256", heard.append) == hashlib.sha256(data).hexdigest()
    assert sum(heard) == len(data) and len(heard) == 2
    assert verify_module.file_digest(f, "git-sha1") == \
        hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_a_verify_job_cancelled_while_hashing_ends_cancelled_with_no_verdict(engine, monkeypatch):
    engine.downloads.start("tiny-org/tiny-llama").wait(60)
    hashing = threading.Event()
    release = threading.Event()
    real = verify_module.file_digest

    def slow_digest(path, algorithm, on_bytes=None):
        hashing.set()
        release.wait(30)
        if on_bytes is not None:
            on_bytes(1)  # the job's check between two blocks: it sees the cancel here
        return real(path, algorithm, on_bytes)

    monkeypatch.setattr(verify_module, "file_digest", slow_digest)
    job = engine.library.verify_start("tiny-org/tiny-llama")
    assert hashing.wait(30)
    # A second start while it runs is the same job
    assert engine.library.verify_start("tiny-org/tiny-llama").id == job.id
    engine.job_center.cancel(job.id)
    release.set()
    done = job.wait(30, raise_on_error=False)
    assert done.state == JobState.CANCELLED and done.result is None
    assert "tiny-org/tiny-llama" not in engine.library.last_verify


@pytest.mark.parametrize("model,error", [("local/thing", NotFoundError), ("tiny-org/never-downloaded", NotFoundError),
                                         ("../x", ValidationError)])
def test_a_verify_job_of_a_model_that_cannot_be_verified_is_refused_before_it_exists(engine, model, error):
    with pytest.raises(error):
        engine.library.verify_start(model)
    assert engine.job_center.list(kind="verify") == []
