"""``model-studio jobs`` lists every kind of job; ``cleanup`` deletes finished ones by age;
``backends`` shows each backend's statistics."""

from __future__ import annotations

import json
import time

import pytest

from model_studio.cli import main
from model_studio.core import Engine, JobState

GGUF = "tiny-org/tiny-llama-GGUF"


@pytest.fixture
def run(settings, monkeypatch, capsys):
    monkeypatch.setenv("MODEL_STUDIO_HOME", settings.home)
    monkeypatch.setenv("HF_HUB_CACHE", settings.hf_cache)
    monkeypatch.setenv("HF_ENDPOINT", settings.hf_endpoint)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def jobs(settings, fake_hub):
    """A completed download, a running batch, a failed training run and a video 10 days old."""
    with Engine(settings) as eng:
        download = eng.downloads.start(f"{GGUF}:Q8_0").wait(60)
        batch = eng.jobs.create("batch", {"model": "local/x"}, title="ten prompts")
        eng.jobs.set_state(batch.id, JobState.RUNNING)
        eng.jobs.set_progress(batch.id, _progress(4, 10, "prompts"), force=True)
        train = eng.jobs.create("train", {"base": "tiny-org/tiny-llama"}, title="lora run")
        eng.jobs.set_state(train.id, JobState.RUNNING)
        eng.jobs.set_state(train.id, JobState.FAILED)
        video = eng.jobs.create("video", {"model": "tiny-org/tiny-video"}, title="a cat")
        eng.jobs.set_state(video.id, JobState.RUNNING)
        eng.jobs.set_state(video.id, JobState.COMPLETED)
        old = time.time() - 10 * 86_400
        eng.jobs._conn().execute("UPDATE jobs SET finished_at=?, updated_at=? WHERE id=?", (old, old, video.id))
        # The batch's owner is this test process, alive: the CLI's engine leaves it running.
    return {"download": download.id, "batch": batch.id, "train": train.id, "video": video.id}


def _progress(done, total, unit):
    from model_studio.core.jobs import Progress

    return Progress(done=done, total=total, unit=unit)


def test_jobs_lists_every_kind_with_state_and_progress(run, jobs):
    code, out, _ = run("jobs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].lower().split() == ["id", "title", "state", "progress", "rate", "eta", "kind"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {jobs["batch"], jobs["train"]}  # completed ones only with --all
    assert "batch" in rows[jobs["batch"]] and "running" in rows[jobs["batch"]]
    assert "40% 4/10 prompts" in rows[jobs["batch"]]
    assert "train" in rows[jobs["train"]] and "failed" in rows[jobs["train"]]
    code, out, _ = run("jobs", "--all", "--json")
    assert {j["kind"]: j["id"] for j in json.loads(out)} == jobs
    code, out, _ = run("jobs", "--kind", "video", "--all", "--json")
    assert [j["id"] for j in json.loads(out)] == [jobs["video"]]
    code, out, _ = run("jobs", "--state", "failed", "--json")
    assert [j["id"] for j in json.loads(out)] == [jobs["train"]]


def test_cleanup_deletes_finished_jobs_older_than_n_days(run, jobs):
    code, out, _ = run("cleanup", "--older-than", "7", "--dry-run")
    assert code == 0 and out.startswith("would delete 1 finished job(s)") and jobs["video"] in out
    code, out, _ = run("cleanup", "--older-than", "7", "--json")
    assert json.loads(out)["count"] == 1
    code, out, _ = run("jobs", "--all", "--json")
    assert jobs["video"] not in {j["id"] for j in json.loads(out)}


def test_backends_show_statistics(run, jobs):
    code, out, _ = run("backends")
    assert code == 0
    header, llama = out.splitlines()[0].lower(), out.splitlines()[1]
    assert "loaded" in header and "downloads ok" in header and "on disk" in header
    assert llama.split()[0] == "llama-cpp"
    code, out, _ = run("backends", "--json")
    stats = {b["name"]: b["stats"] for b in json.loads(out)}
    assert stats["llama-cpp"]["downloads_completed"] == 1 and stats["llama-cpp"]["local_models"] == 1
