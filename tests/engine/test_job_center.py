"""The job center: every kind of job in one list, cancel and resume through the owning service,
delete (finished only) and clean-up by age."""

from __future__ import annotations

import time

import pytest

from model_studio.core import JobState
from model_studio.errors import ConflictError, ValidationError
from tests.fixtures.models import TINY_REPOS, make_random_file

SLOW = "jc-org/slow-model"
SLOW_FILE = "model.safetensors"
DAY = 86_400.0


def _age(engine, job_id: str, days: float) -> None:
    """Backdate a job's timestamps by ``days`` (as if it had finished then)."""
    when = time.time() - days * DAY
    engine.jobs._conn().execute("UPDATE jobs SET created_at=?, updated_at=?, finished_at=? WHERE id=?",
                                (when, when, when, job_id))


def _row(engine, kind: str, state: JobState, title: str, **params) -> str:
    """A job row of ``kind`` in ``state`` (as its service would leave it), without running it."""
    job = engine.jobs.create(kind, params, title=title)
    if state != JobState.QUEUED:
        if state != JobState.RUNNING:
            engine.jobs.set_state(job.id, JobState.RUNNING)
        engine.jobs.set_state(job.id, state)
    return job.id


@pytest.fixture
def every_kind(engine, fake_hub):
    """A completed download (a real one, from the fake Hub), a completed batch, a failed training run
    and a cancelled video generation."""
    download = engine.downloads.start(TINY_REPOS["readme"]).wait(60)
    batch = _row(engine, "batch", JobState.COMPLETED, "batch of 3 prompts", model="local/tiny", prompts=3)
    train = _row(engine, "train", JobState.FAILED, "LoRA on tiny-llama", base=TINY_REPOS["llama"])
    video = _row(engine, "video", JobState.CANCELLED, "a cat surfing", model="tiny-org/tiny-video", seed=7)
    return {"download": download.id, "batch": batch, "train": train, "video": video}


def test_lists_every_kind_newest_first_with_filters(engine, every_kind):
    jobs = engine.job_center.list()
    assert {j.kind: j.id for j in jobs} == every_kind
    assert [j.created_at for j in jobs] == sorted((j.created_at for j in jobs), reverse=True)
    # by kind, by state, by text (title, id or parameters; case-insensitive; % and _ are literal)
    assert [j.id for j in engine.job_center.list(kind="train")] == [every_kind["train"]]
    assert [j.id for j in engine.job_center.list(state="completed")] == [every_kind["batch"], every_kind["download"]]
    assert [j.id for j in engine.job_center.list(q="CAT SURF")] == [every_kind["video"]]
    assert [j.id for j in engine.job_center.list(q="tiny-video")] == [every_kind["video"]]  # in params
    assert [j.id for j in engine.job_center.list(q=every_kind["batch"][-6:])] == [every_kind["batch"]]
    assert engine.job_center.list(q="100%") == []
    assert engine.job_center.counts()["download"] == {"completed": 1}


def test_running_job_cannot_be_deleted_and_a_finished_one_can(engine, every_kind):
    running = _row(engine, "batch", JobState.RUNNING, "busy batch")
    with pytest.raises(ConflictError) as exc:
        engine.job_center.delete(running)
    assert exc.value.http_status == 409 and exc.value.details["state"] == "running"
    assert engine.jobs.get(running).state == JobState.RUNNING  # still there
    # A finished download's row goes; the model it downloaded stays in the library
    result = engine.job_center.delete(every_kind["download"])
    assert result == {"deleted": every_kind["download"], "kind": "download", "files_deleted": False,
                      "bytes_freed": 0}
    assert every_kind["download"] not in {j.id for j in engine.job_center.list()}
    assert TINY_REPOS["readme"] in {m.id for m in engine.library.list_local()}


def test_delete_keeps_a_video_output_unless_delete_files(engine, every_kind):
    out = engine.video.outputs_dir / every_kind["video"]
    out.mkdir(parents=True)
    (out / "video.mp4").write_bytes(b"\0" * 1000)
    kept = _row(engine, "video", JobState.COMPLETED, "another video", model="tiny-org/tiny-video")
    (engine.video.outputs_dir / kept).mkdir()
    (engine.video.outputs_dir / kept / "video.mp4").write_bytes(b"\0" * 10)
    assert engine.job_center.delete(every_kind["video"], delete_files=True)["bytes_freed"] == 1000
    assert not out.exists()
    assert engine.job_center.delete(kept)["files_deleted"] is False
    assert (engine.video.outputs_dir / kept / "video.mp4").stat().st_size == 10


def test_cleanup_by_age_dry_run_then_for_real(engine, every_kind):
    _age(engine, every_kind["download"], 40)
    _age(engine, every_kind["train"], 10)
    _age(engine, every_kind["video"], 31)
    old_running = _row(engine, "batch", JobState.RUNNING, "old but running")
    _age(engine, old_running, 90)  # never cleaned up while it runs
    # A dry run says which, and deletes nothing
    preview = engine.job_center.cleanup(30, dry_run=True)
    assert preview["dry_run"] is True and preview["count"] == 2
    assert {j["id"] for j in preview["jobs"]} == {every_kind["download"], every_kind["video"]}
    assert len(engine.job_center.list()) == 5
    # Only some kinds
    only_video = engine.job_center.cleanup(30, kinds=["video"])
    assert [j["id"] for j in only_video["jobs"]] == [every_kind["video"]]
    # Then for real: the 40-day-old download goes, the 10-day-old run and the fresh batch stay
    done = engine.job_center.cleanup(30)
    assert done["count"] == 1 and done["jobs"][0]["id"] == every_kind["download"]
    assert {j.id for j in engine.job_center.list()} == {every_kind["train"], every_kind["batch"], old_running}
    # 0 days: every finished job, never a running one
    assert engine.job_center.cleanup(0)["count"] == 2
    assert [j.id for j in engine.job_center.list()] == [old_running]
    with pytest.raises(ValidationError):
        engine.job_center.cleanup(-1)


def test_cleanup_with_delete_files_removes_a_training_run_folder(engine):
    run = _row(engine, "train", JobState.COMPLETED, "old run", base=TINY_REPOS["llama"])
    folder = engine.training.runs_dir / run
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"\1" * 2048)
    _age(engine, run, 8)
    result = engine.job_center.cleanup(7, delete_files=True)
    assert result["count"] == 1 and result["bytes_freed"] == 2048
    assert not folder.exists()


def test_cancel_and_resume_dispatch_to_the_download_service(engine, fake_hub, tmp_path):
    data = make_random_file(tmp_path / "slow.bin", 3 * 1024 * 1024, seed=3)
    fake_hub.add_repo(SLOW, {SLOW_FILE: data, "config.json": b"{}"}, library_name="transformers")
    fake_hub.add_fault(f"{SLOW}/{SLOW_FILE}", "throttle", bytes_per_s=256 * 1024, times=1)
    job = engine.downloads.start(SLOW)
    deadline = time.monotonic() + 30
    while engine.jobs.get(job.id).progress.done <= 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.jobs.get(job.id).state == JobState.RUNNING
    cancelled = engine.job_center.cancel(job.id)
    final = engine.jobs.wait(job.id, 30)
    assert final.state == JobState.CANCELLED, (cancelled.state, final.state)
    # Resume (a download continues from its partial file) runs it to the end
    resumed = engine.job_center.resume(job.id)
    assert resumed.id == job.id
    assert engine.jobs.wait(job.id, 60).state == JobState.COMPLETED
    with pytest.raises(ConflictError):  # a completed job is not resumed
        engine.job_center.resume(job.id)


def test_cancel_of_a_stopped_batch_and_resume_of_an_unknown_kind(engine):
    paused = _row(engine, "batch", JobState.INTERRUPTED, "interrupted batch")
    assert engine.job_center.cancel(paused).state == JobState.CANCELLED  # the batch service's rule
    other = _row(engine, "export", JobState.FAILED, "some other kind")
    with pytest.raises(ConflictError):
        engine.job_center.resume(other)
