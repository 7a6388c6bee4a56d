"""Finished training runs are chat models ``run/<id>``: listed by ``engine.chat.models()`` (the source
of ``/v1/models``, the Chat picker and ``%studio models --local``) exactly when they load."""

from __future__ import annotations

import os

import pytest

from model_studio.errors import NotFoundError, ValidationError
from tests.fixtures.runs import write_finished_run


def test_a_finished_run_is_listed_as_a_chat_model(engine):
    # Given a finished run, an older one, and the job row of the newer one
    home = engine.settings.home_path
    job = engine.jobs.create("train", {"base": "tiny-org/tiny-llama", "base_model": "tiny-org/tiny-llama"})
    write_finished_run(home, job.id, adapter_bytes=2000)
    old = write_finished_run(home, "oldrun1")
    os.utime(old / "result.json", (1_000_000_000, 1_000_000_000))
    # When the chat models are listed
    models = {m["id"]: m for m in engine.chat.models()}
    # Then both runs are there, newest first, named after their base and loading through transformers
    runs = [m for m in engine.chat.models() if m["id"].startswith("run/")]
    assert [m["id"] for m in runs] == [f"run/{job.id}", "run/oldrun1"]
    run = models[f"run/{job.id}"]
    assert run["base_model"] == "tiny-org/tiny-llama" and job.id in run["name"]
    assert run["backends"] == ["transformers"] and run["default_backend"] == "transformers"
    assert run["size"] == 2000 and run["loaded"] is False and run["error"] is None
    assert models["run/oldrun1"]["base_model"] == "tiny-base"  # no job row: the base folder's name
    assert int(models["run/oldrun1"]["created"]) == 1_000_000_000
    # And what is listed resolves to its files for loading
    base_dir, adapter = engine.chat.run_model(f"run/{job.id}")
    assert adapter == str(home / "runs" / job.id / "adapter") and os.path.isdir(base_dir)


def test_unfinished_broken_and_odd_runs_are_not_listed(engine):
    home = engine.settings.home_path
    # Given a run still training (no result.json), one whose adapter was deleted, a bad result.json
    (home / "runs" / "training1").mkdir(parents=True)
    gone = write_finished_run(home, "gone1")
    for f in (gone / "adapter").iterdir():
        f.unlink()
    (gone / "adapter").rmdir()
    bad = write_finished_run(home, "bad1")
    (bad / "result.json").write_text("{not json")
    # and a folder whose name is not a job id
    odd = write_finished_run(home, "ok1").parent / "has space"
    odd.mkdir()
    (odd / "result.json").write_text((home / "runs" / "ok1" / "result.json").read_text())
    # Then only the complete one is listed
    assert [m["id"] for m in engine.chat.models() if m["id"].startswith("run/")] == ["run/ok1"]
    # And the others say why they cannot load
    with pytest.raises(NotFoundError, match="not a finished"):
        engine.chat.run_model("run/training1")
    with pytest.raises(NotFoundError, match="gone"):
        engine.chat.run_model("run/gone1")
    with pytest.raises(NotFoundError):
        engine.chat.run_model("run/bad1")
    with pytest.raises(ValidationError):
        engine.chat.run_model("run/../runs/ok1")


def test_runs_need_the_transformers_backend(engine, monkeypatch):
    write_finished_run(engine.settings.home_path, "ok1")
    backend = engine.chat._backends["transformers"]
    monkeypatch.setattr(backend, "available", lambda: False)
    assert not [m for m in engine.chat.models() if m["id"].startswith("run/")]
