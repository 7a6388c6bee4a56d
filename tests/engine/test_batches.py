"""Batch jobs: cancel keeps the answers so far, resume answers only the rest, in this process or another.

A scripted backend (``FakeBackend`` of test_chat) answers ``echo: <prompt>`` and holds the prompts
in ``block`` until the job's stop event is set, so a cancel always lands mid-batch. The
cross-process tests run the batch in a child Python process on the same studio home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio import api
from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.chat.base import ChatChunk, LoadedModel, LoadOptions
from model_studio.core.jobs import JobState
from model_studio.errors import ConflictError, NotFoundError, ValidationError
from tests.engine.test_chat import FakeBackend, FakeModel, write_gguf

REPO = Path(__file__).resolve().parents[2]
MODEL = "local/tiny-chat"
PROMPTS = ["one", "two", "three"]
OPTIONS = {"backend": "fake"}


class FlakyModel(FakeModel):
    def stream(self, messages, params, stop=None) -> Iterator[ChatChunk]:
        if messages[-1]["content"] in self.owner.fail:
            self.owner.calls.append(messages[-1]["content"])
            raise RuntimeError("the fake model broke")
        yield from super().stream(messages, params, stop)


class FlakyBackend(FakeBackend):
    """FakeBackend whose answers to the prompts in ``fail`` raise."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: set[str] = set()

    def load(self, model_id: str, path: str, options: LoadOptions) -> LoadedModel:
        self.loads.append(model_id)
        return FlakyModel(self, model_id, path, options)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    models = tmp_path / "models"
    write_gguf(models / "tiny-chat.F16.gguf")
    return Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"), extra_model_dirs=[str(models)],
                    offline=True)


@pytest.fixture
def eng(settings: Settings) -> Iterator[Engine]:
    engine = Engine(settings)
    yield engine
    engine.close()


@pytest.fixture
def fake(eng: Engine) -> Iterator[FlakyBackend]:
    backend = FlakyBackend()
    eng.chat.register_backend(backend)
    try:
        yield backend
    finally:
        eng.chat.unregister_backend("fake")


def texts(eng: Engine, job_id: str) -> list[str]:
    return [r["text"] for r in eng.chat.batch_results(job_id)["results"]]


def answer_lines(eng: Engine, job_id: str) -> list[int]:
    path = eng.settings.home_path / "batches" / f"{job_id}.jsonl"
    return [json.loads(line)["index"] for line in path.read_text().splitlines()]


# --- in this process -------------------------------------------------------------------------------


def test_cancel_mid_batch_keeps_the_answers_then_resume_answers_only_the_rest(eng, fake):
    # Given a batch held at its second prompt
    fake.block = {"two"}
    job = eng.chat.batch_start(PROMPTS, model=MODEL, load_options=OPTIONS)
    assert fake.blocked.wait(10)
    # When it is cancelled
    eng.chat.batch_cancel(job.id)
    stopped = eng.jobs.wait(job.id, 10)
    # Then it ends cancelled with the first answer kept and counted
    assert stopped.state == JobState.CANCELLED and stopped.progress.done == 1
    assert texts(eng, job.id) == ["echo: one "]
    # When it is resumed
    fake.block = set()
    resumed = eng.chat.batch_resume(job.id)
    assert resumed.id == job.id and resumed.state == JobState.QUEUED
    done = eng.jobs.wait(job.id, 10)
    # Then only the unanswered prompts were asked, and every answer is there once, in order
    assert done.state == JobState.COMPLETED and done.progress.done == 3
    assert texts(eng, job.id) == ["echo: one ", "echo: two ", "echo: three "]
    assert fake.calls == ["one", "two", "two", "three"]  # "two" was cut off by the cancel, asked again
    assert answer_lines(eng, job.id) == [0, 1, 2]


def test_a_failed_batch_resumes_at_the_prompt_that_failed(eng, fake):
    fake.fail = {"two"}
    job = eng.chat.batch_start(PROMPTS, model=MODEL, load_options=OPTIONS)
    failed = eng.jobs.wait(job.id, 10)
    assert failed.state == JobState.FAILED and "broke" in failed.error["message"]  # the one shape
    assert texts(eng, job.id) == ["echo: one "]
    fake.fail = set()
    eng.chat.batch_resume(job.id)
    assert eng.jobs.wait(job.id, 10).state == JobState.COMPLETED
    assert fake.calls == ["one", "two", "two", "three"] and answer_lines(eng, job.id) == [0, 1, 2]


def test_cancel_and_resume_refuse_the_wrong_state_and_the_wrong_job(eng, fake):
    # A running batch cannot be resumed
    fake.block = {"two"}
    job = eng.chat.batch_start(PROMPTS, model=MODEL, load_options=OPTIONS)
    assert fake.blocked.wait(10)
    with pytest.raises(ConflictError):
        eng.chat.batch_resume(job.id)
    eng.chat.batch_cancel(job.id)
    assert eng.jobs.wait(job.id, 10).state == JobState.CANCELLED
    # Cancelling a cancelled batch changes nothing
    again = eng.chat.batch_cancel(job.id)
    assert again.state == JobState.CANCELLED and texts(eng, job.id) == ["echo: one "]
    # A completed batch can be neither resumed nor cancelled
    fake.block = set()
    eng.chat.batch_resume(job.id)
    assert eng.jobs.wait(job.id, 10).state == JobState.COMPLETED
    with pytest.raises(ConflictError):
        eng.chat.batch_resume(job.id)
    with pytest.raises(ConflictError):
        eng.chat.batch_cancel(job.id)
    assert fake.calls.count("three") == 1
    # An unknown id, or the id of another kind of job, is not a batch
    other = eng.jobs.create("download", {"repo_id": "x/y"})
    for job_id in ("bat-nope", other.id):
        for call in (eng.chat.batch_cancel, eng.chat.batch_resume, eng.chat.batch_results):
            with pytest.raises(NotFoundError):
                call(job_id)


def test_a_paused_batch_can_be_cancelled_and_list_shows_batches_newest_first(eng, fake):
    fake.block = {"two"}
    first = eng.chat.batch_start(PROMPTS, model=MODEL, load_options=OPTIONS)
    assert fake.blocked.wait(10)
    first.pause()
    assert eng.jobs.wait(first.id, 10).state == JobState.PAUSED
    assert eng.chat.batch_cancel(first.id).state == JobState.CANCELLED
    fake.block = set()
    second = eng.chat.batch_start(["x"], model=MODEL, load_options=OPTIONS)
    eng.jobs.wait(second.id, 10)
    eng.jobs.create("download", {"repo_id": "x/y"})  # not a batch: never listed
    assert [j.id for j in eng.chat.batch_list()] == [second.id, first.id]
    assert [j.id for j in eng.chat.batch_list("cancelled")] == [first.id]
    assert [j.id for j in eng.chat.batch_list(limit=1)] == [second.id]
    listed = api.call(eng, "batch.list", {"state": "completed"})
    assert [j["id"] for j in listed["batches"]] == [second.id]
    with pytest.raises(ValidationError):
        api.call(eng, "batch.list", {"state": "sleeping"})


def test_operations_cancel_and_resume(eng, fake):
    fake.block = {"two"}
    job = api.call(eng, "batch.start", {"model": MODEL, "backend": "fake", "prompts": PROMPTS})
    assert fake.blocked.wait(10)
    cancelled = api.call(eng, "batch.cancel", {"job_id": job["id"]})
    assert cancelled["id"] == job["id"] and cancelled["kind"] == "batch"
    assert eng.jobs.wait(job["id"], 10).state == JobState.CANCELLED
    fake.block = set()
    resumed = api.call(eng, "batch.resume", {"job_id": job["id"]})
    assert resumed["state"] == "queued"
    assert eng.jobs.wait(job["id"], 10).state == JobState.COMPLETED
    assert texts(eng, job["id"]) == ["echo: one ", "echo: two ", "echo: three "]


# --- another process -------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys
    from model_studio.config import Settings
    from model_studio.core import Engine
    from tests.engine.test_chat import FakeBackend

    home, hub, models = sys.argv[1:4]
    eng = Engine(Settings(home=home, hf_cache=hub, extra_model_dirs=[models], offline=True))
    fake = FakeBackend()
    fake.block = {"two"}  # held until the job is stopped
    eng.chat.register_backend(fake)
    job = eng.chat.batch_start(["one", "two", "three"], model="local/tiny-chat", load_options={"backend": "fake"})
    print(job.id, flush=True)
    print(eng.jobs.wait(job.id, 120).state.value, flush=True)
    eng.close()
""")


@pytest.fixture
def child(settings: Settings) -> Iterator[tuple[subprocess.Popen, str]]:
    """A Python process that runs a batch on the same home, held at its second prompt; (process, job id)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, settings.home, settings.hf_cache,
                             settings.extra_model_dirs[0]], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        if not line:
            proc.wait(30)
            pytest.fail(f"the child did not start its batch: {proc.stderr.read() if proc.stderr else ''}")
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def _wait_answers(eng: Engine, job_id: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while eng.jobs.get(job_id).progress.done < count:
        assert time.monotonic() < deadline, eng.jobs.get(job_id)
        time.sleep(0.05)


def test_a_batch_run_by_another_process_is_cancelled_through_the_job_store(eng, fake, child):
    # Given a batch owned by another process, one answer in
    proc, job_id = child
    _wait_answers(eng, job_id, 1)
    job = eng.jobs.get(job_id)
    assert job.owner_pid == proc.pid and job.active
    # When this process cancels it
    eng.chat.batch_cancel(job_id)
    # Then the owner stops it, keeping its answer, and ends normally
    assert eng.jobs.wait(job_id, 30).state == JobState.CANCELLED
    out, _ = proc.communicate(timeout=60)
    assert out.strip() == "cancelled" and proc.returncode == 0
    assert texts(eng, job_id) == ["echo: one "]
    # And this process resumes it with the remaining prompts
    eng.chat.batch_resume(job_id)
    assert eng.jobs.wait(job_id, 10).state == JobState.COMPLETED
    assert fake.calls == ["two", "three"]
    assert texts(eng, job_id) == ["echo: one ", "echo: two ", "echo: three "]


def test_a_batch_whose_process_died_is_interrupted_and_resumes_here(eng, fake, child):
    # Given a batch whose owner process is killed after one answer
    proc, job_id = child
    _wait_answers(eng, job_id, 1)
    proc.kill()
    proc.wait(30)
    # Then it is seen as interrupted
    assert eng.jobs.wait(job_id, 10).state == JobState.INTERRUPTED
    # When it is resumed here, only the prompts without an answer are asked
    resumed = eng.chat.batch_resume(job_id)
    assert resumed.owner_pid == os.getpid()
    assert eng.jobs.wait(job_id, 10).state == JobState.COMPLETED
    assert fake.calls == ["two", "three"]
    assert texts(eng, job_id) == ["echo: one ", "echo: two ", "echo: three "]
    assert answer_lines(eng, job_id) == [0, 1, 2]


def test_two_resumes_racing_run_the_batch_once(eng, fake):
    fake.block = {"two"}
    job = eng.chat.batch_start(PROMPTS, model=MODEL, load_options=OPTIONS)
    assert fake.blocked.wait(10)
    eng.chat.batch_cancel(job.id)
    eng.jobs.wait(job.id, 10)
    fake.block = set()
    outcomes: list[str] = []

    def resume() -> None:
        try:
            eng.chat.batch_resume(job.id)
            outcomes.append("resumed")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=resume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert eng.jobs.wait(job.id, 10).state == JobState.COMPLETED
    assert sorted(outcomes) == ["conflict"] * 3 + ["resumed"]
    assert fake.calls.count("three") == 1 and answer_lines(eng, job.id) == [0, 1, 2]
