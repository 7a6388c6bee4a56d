"""``%studio jobs`` lists every kind of job (downloads, batches, training runs, video generations)."""

from __future__ import annotations

from model_studio.core import JobState
from model_studio.core.jobs import Progress


def test_jobs_lists_every_kind_with_progress(studio, studio_engine):
    store = studio_engine.jobs
    ids = {}
    for kind, title in (("download", "tiny download"), ("batch", "a batch"), ("train", "a run"),
                        ("video", "a video")):
        job = store.create(kind, {"model": "x/y"}, title=title)
        store.set_state(job.id, JobState.RUNNING)
        ids[kind] = job.id
    store.set_progress(ids["train"], Progress(done=30, total=120, unit="steps"), force=True)
    store.set_state(ids["video"], JobState.COMPLETED)
    table = studio("jobs")
    assert set(table.column("id")) == set(ids.values())
    assert dict(zip(table.column("id"), table.column("kind"), strict=True)) == {v: k for k, v in ids.items()}
    progress = dict(zip(table.column("id"), table.column("progress"), strict=True))
    assert progress[ids["train"]] == "25% 30/120 steps"
    assert set(studio("jobs --active").column("id")) == {ids["download"], ids["batch"], ids["train"]}
    assert studio("jobs --kind video").column("id") == [ids["video"]]
    for job_id in ids.values():  # leave nothing running for the engine's close
        store.set_state(job_id, JobState.CANCELLED)
