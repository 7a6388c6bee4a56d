"""The job runner, once for every kind: queues and lanes, cancel and pause (here and from another
process), the terminal states and the one error shape, a crashed owner, find-or-resume.

The services (downloads, video, batches, training) only supply ``run(job, control)``; their own
tests keep what is specific to them (a download resumes its partial file with Range, a cancelled
generation leaves no MP4, ...).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from model_studio.core.jobs import EventBus, JobRunner, JobState, JobStore, Progress, Stopped
from model_studio.errors import NotFoundError, ResourceError, StudioError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    s = JobStore(tmp_path / "state.sqlite", EventBus(0.05))
    yield s
    s.close()


@pytest.fixture
def runner(store):
    r = JobRunner(store)
    yield r
    r.close(timeout=5)


class Steps:
    """A run function that counts steps (kept per job, as a file would be) until ``total``, blocking
    at ``hold`` until released; records the order in which jobs started."""

    def __init__(self, total: int = 5, delay: float = 0.01) -> None:
        self.total = total
        self.delay = delay
        self.done: dict[str, int] = {}
        self.started: list[str] = []
        self.running = threading.Semaphore(0)
        self.release = threading.Event()
        self.hold: int | None = None
        self.lock = threading.Lock()

    def __call__(self, job, control):
        with self.lock:
            self.started.append(job.id)
        self.running.release()
        step = self.done.get(job.id, 0)
        while step < self.total:
            if self.hold is not None and step == self.hold:
                while not self.release.wait(0.01):
                    control.check()
            control.sleep(self.delay)
            control.check()
            step += 1
            self.done[job.id] = step
            control.progress(Progress(done=step, total=self.total, unit="steps"))
        return {"steps": step}


def started(steps: Steps, n: int = 1, timeout: float = 10.0) -> None:
    for _ in range(n):
        assert steps.running.acquire(timeout=timeout), "the job never started"


# --- running and the terminal states -------------------------------------------------------------


def test_a_run_completes_with_its_result_and_last_progress(store, runner):
    steps = Steps(total=3)
    runner.register("demo", steps)
    job = runner.create("demo", {"x": 1}, title="demo")
    done = job.wait(10)
    assert done.state == JobState.COMPLETED and done.result == {"steps": 3}
    assert done.progress.done == 3 and done.progress.total == 3
    assert done.started_at is not None and done.finished_at >= done.started_at


def test_cancel_of_a_running_job_ends_it_within_a_second(store, runner):
    # Given a job that would run for ten minutes
    steps = Steps(total=1, delay=600)
    runner.register("demo", steps)
    job = runner.create("demo", {})
    started(steps)
    # When it is cancelled
    t0 = time.monotonic()
    runner.cancel(job.id)
    # Then it ends cancelled at once (the wait's bound is generous; the run would take 600 s)
    assert job.wait(5, raise_on_error=False).state == JobState.CANCELLED
    assert time.monotonic() - t0 < 5
    assert steps.done.get(job.id) is None


def test_pause_then_resume_continues_where_it_stopped(store, runner):
    # Given a pausable job held at step 2
    steps = Steps(total=5)
    steps.hold = 2
    runner.register("demo", steps)
    store.register_resumer("demo", runner.resume)
    job = runner.create("demo", {})
    started(steps)
    while steps.done.get(job.id, 0) < 2:
        time.sleep(0.01)
    # When it is paused
    runner.pause(job.id)
    paused = job.wait(10, raise_on_error=False)
    # Then it is paused with the progress it reached, and a resume finishes the same job from there
    assert paused.state == JobState.PAUSED and paused.progress.done == 2
    steps.release.set()
    again = store.resume(job.id)
    assert again.id == job.id
    done = again.wait(10)
    assert done.state == JobState.COMPLETED and done.result == {"steps": 5}
    assert steps.started == [job.id, job.id]


def test_a_job_resumed_the_instant_its_run_stops_runs_again(store, runner):
    # Given a job whose first run pauses itself, and a subscriber that resumes it as soon as the
    # paused state is written (in the run's thread, before the runner has tidied the run up)
    runs: list[int] = []

    def run(job, control):
        runs.append(1)
        if len(runs) == 1:
            raise Stopped(JobState.PAUSED)
        return {"runs": len(runs)}

    runner.register("demo", run)
    store.register_resumer("demo", runner.resume)
    resumed: list[str] = []

    def on_change(job):
        if job.state == JobState.PAUSED and not resumed and not resuming:
            resuming.append(job.id)
            store.resume(job.id)
            resumed.append(job.id)

    resuming: list[str] = []
    store.bus.subscribe(on_change)
    job = runner.create("demo", {})
    # (a waiter may read the paused state before the subscriber's resume: wait for that first)
    deadline = time.monotonic() + 10
    while not resumed and time.monotonic() < deadline:
        time.sleep(0.01)
    # Then the second run happens and completes (the job is not left queued)
    assert job.wait(10).result == {"runs": 2}
    assert resumed == [job.id]


def test_a_pause_of_a_kind_that_cannot_pause_cancels_it(store, runner):
    steps = Steps(total=1, delay=600)
    runner.register("demo", steps, pausable=False)
    job = runner.create("demo", {})
    started(steps)
    runner.pause(job.id)
    assert job.wait(5, raise_on_error=False).state == JobState.CANCELLED


def test_a_queued_job_cancelled_here_never_runs_and_is_cleaned_up(store, runner):
    # Given a lane of one held by a first job, and a second job waiting behind it
    steps = Steps(total=1, delay=600)
    stopped: list[tuple[str, str, str]] = []
    runner.register("demo", steps, on_stop=lambda job, state: stopped.append(
        (job.id, state.value, store.get(job.id).state.value)))
    first = runner.create("demo", {})
    started(steps)
    second = runner.create("demo", {})
    assert runner.queued("demo") == [second.id]
    # When the waiting one is cancelled
    assert runner.cancel(second.id).state == JobState.CANCELLED
    # Then it never started, and its clean-up ran before the state was written
    assert stopped == [(second.id, "cancelled", "queued")]
    runner.cancel(first.id)
    first.wait(5, raise_on_error=False)
    assert steps.started == [first.id]
    assert stopped[-1] == (first.id, "cancelled", "running")  # a waiter never sees leftovers


def test_a_cancel_racing_the_start_always_ends_the_job(store, runner):
    # Given jobs cancelled the instant they are created (queued, starting, or just started)
    steps = Steps(total=1, delay=600)
    runner.register("demo", steps, concurrency=None)
    jobs = []
    for _ in range(20):
        job = runner.create("demo", {})
        runner.cancel(job.id)
        jobs.append(job)
    # Then every one ends cancelled, none stays queued or running
    assert {j.wait(10, raise_on_error=False).state for j in jobs} == {JobState.CANCELLED}


def test_cancel_from_another_process_through_the_store(store, runner, tmp_path):
    # Given a running job and a queued one behind it (lane of one)
    steps = Steps(total=1, delay=600)
    runner.register("demo", steps)
    running = runner.create("demo", {})
    started(steps)
    queued = runner.create("demo", {})
    # When another process asks the store to cancel both
    script = textwrap.dedent(f"""
        from model_studio.core.jobs import JobStore
        s = JobStore({str(store.path)!r})
        s.request({running.id!r}, "cancel")
        s.request({queued.id!r}, "cancel")
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")})
    # Then both end cancelled here, and the queued one never ran
    assert running.wait(10, raise_on_error=False).state == JobState.CANCELLED
    assert queued.wait(10, raise_on_error=False).state == JobState.CANCELLED
    assert steps.started == [running.id]


def test_a_second_store_on_the_same_database_pauses_a_running_job(store, runner, tmp_path):
    steps = Steps(total=1, delay=600)
    runner.register("demo", steps)
    job = runner.create("demo", {})
    started(steps)
    other = JobStore(store.path)
    other.request(job.id, "pause")
    assert job.wait(10, raise_on_error=False).state == JobState.PAUSED
    other.close()


# --- the one error shape ------------------------------------------------------------------------


def test_a_studio_error_is_stored_in_the_one_shape(store, runner):
    err = NotFoundError("no such file", details={"file": "x.gguf"}, resolution_steps=["pick another"])

    def run(job, control):
        control.progress(Progress(done=1, total=4))
        raise err

    runner.register("demo", run)
    job = runner.create("demo", {}).wait(10, raise_on_error=False)
    assert job.state == JobState.FAILED
    assert job.error == err.to_dict()["error"] == {
        "type": "NotFoundError", "message": "no such file", "details": {"file": "x.gguf"},
        "resolution_steps": ["pick another"]}
    assert job.progress.done == 1  # the last progress is kept with the failure
    with pytest.raises(NotFoundError):
        job.raise_for_error()


def test_an_unexpected_exception_is_a_studio_error_naming_its_class_without_a_traceback(store, runner, caplog):
    def run(job, control):
        return {}["missing"]

    runner.register("demo", run)
    job = runner.create("demo", {}).wait(10, raise_on_error=False)
    assert job.state == JobState.FAILED
    assert job.error == {"type": "StudioError", "message": "KeyError: 'missing'",
                         "details": {"exception": "KeyError"}, "resolution_steps": []}
    assert "Traceback" in caplog.text  # the traceback goes to the log, not into the job
    with pytest.raises(StudioError):
        job.raise_for_error()


def test_a_kind_can_type_its_unexpected_exceptions(store, runner):
    def run(job, control):
        raise RuntimeError("CUDA out of memory")

    def error_for(exc, job):
        if "out of memory" in str(exc):
            return ResourceError(f"Out of memory: {exc}", details={"job": job.id})
        return None

    runner.register("demo", run, error_for=error_for)
    job = runner.create("demo", {}).wait(10, raise_on_error=False)
    assert job.error["type"] == "ResourceError" and job.error["details"] == {"job": job.id}
    with pytest.raises(MemoryError):  # typed errors keep their builtin parents
        job.raise_for_error()


def test_a_run_that_raises_stopped_itself_ends_in_that_state(store, runner):
    def run(job, control):
        raise Stopped(JobState.INTERRUPTED)

    runner.register("demo", run)
    assert runner.create("demo", {}).wait(10, raise_on_error=False).state == JobState.INTERRUPTED


# --- a crashed owner ----------------------------------------------------------------------------


def test_a_killed_owner_leaves_its_job_interrupted_and_another_process_resumes_it(tmp_path):
    # Given a process that runs a job and is killed with SIGKILL
    db = tmp_path / "state.sqlite"
    script = textwrap.dedent(f"""
        import time
        from model_studio.core.jobs import JobRunner, JobStore
        store = JobStore({str(db)!r})
        runner = JobRunner(store)
        def run(job, control):
            print(job.id, flush=True)
            control.sleep(600)
        runner.register("demo", run)
        runner.create("demo", {{}})
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")})
    try:
        job_id = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    store = JobStore(db)
    assert store.get(job_id).state == JobState.RUNNING
    # When the next engine starts
    assert store.mark_orphans_interrupted() == [job_id]
    # Then the job is interrupted, and it resumes here to completion
    assert store.get(job_id).state == JobState.INTERRUPTED
    runner = JobRunner(store)
    try:
        runner.register("demo", lambda job, control: {"resumed_by": os.getpid()})
        store.register_resumer("demo", runner.resume)
        done = store.resume(job_id).wait(10)
        assert done.state == JobState.COMPLETED and done.result == {"resumed_by": os.getpid()}
        assert done.owner_pid == os.getpid()
    finally:
        runner.close()
        store.close()


# --- lanes ----------------------------------------------------------------------------------------


def test_two_lanes_run_in_parallel_and_a_lane_of_one_runs_in_order(store, runner):
    # Given a kind whose jobs pick their lane (a device) and run one at a time per lane
    steps = Steps(total=1)
    steps.hold = 0
    runner.register("demo", steps, lane=lambda job: f"demo:{job.params['device']}", concurrency=1)
    a1 = runner.create("demo", {"device": "a"})
    b1 = runner.create("demo", {"device": "b"})
    a2 = runner.create("demo", {"device": "a"})
    a3 = runner.create("demo", {"device": "a"})
    # Then the first job of each lane runs at once, side by side, while the rest of lane a waits
    started(steps, 2)
    assert sorted(steps.started) == sorted([a1.id, b1.id])
    assert runner.queued("demo") == [a2.id, a3.id]
    steps.release.set()
    jobs = [j.wait(10) for j in (a1, a2, a3)]
    b1.wait(10)
    # and lane a ran its jobs in order, each after the previous ended
    assert [j for j in steps.started if j != b1.id] == [a1.id, a2.id, a3.id]
    assert jobs[0].finished_at <= jobs[1].started_at and jobs[1].finished_at <= jobs[2].started_at


def test_a_concurrency_read_at_run_time_admits_more_jobs_when_raised(store, runner):
    limit = {"n": 1}
    steps = Steps(total=1)
    steps.hold = 0
    runner.register("demo", steps, concurrency=lambda: limit["n"])
    first, second = runner.create("demo", {}), runner.create("demo", {})
    started(steps)
    assert store.get(second.id).state == JobState.QUEUED
    limit["n"] = 2
    runner.pump()
    started(steps)
    assert store.get(second.id).state == JobState.RUNNING
    steps.release.set()
    assert first.wait(10).state == second.wait(10).state == JobState.COMPLETED


def test_close_ends_running_and_queued_jobs_in_the_kinds_close_state(store, runner):
    steps = Steps(total=1, delay=600)
    runner.register("demo", steps, close_state=JobState.INTERRUPTED)
    running, queued = runner.create("demo", {}), runner.create("demo", {})
    started(steps)
    runner.close(["demo"], timeout=5)
    assert store.get(running.id).state == JobState.INTERRUPTED
    assert store.get(queued.id).state == JobState.INTERRUPTED
    assert steps.started == [running.id]


# --- find-or-resume -----------------------------------------------------------------------------


def test_find_or_resume_returns_an_active_job_resumes_a_stopped_one_and_skips_a_failed_one(store, runner):
    steps = Steps(total=1, delay=600)
    runner.register("demo", steps)
    store.register_resumer("demo", runner.resume)
    same = lambda job: job.params == {"model": "m"}  # noqa: E731
    assert runner.find_or_resume("demo", same) is None
    job = runner.create("demo", {"model": "m"})
    started(steps)
    assert runner.find_or_resume("demo", same).id == job.id  # active: as it is
    runner.pause(job.id)
    job.wait(5, raise_on_error=False)
    resumed = runner.find_or_resume("demo", same)  # paused: resumed, the same job
    assert resumed.id == job.id and store.get(job.id).state in (JobState.QUEUED, JobState.RUNNING)
    started(steps)
    runner.cancel(job.id)
    job.wait(5, raise_on_error=False)
    store.set_state(job.id, JobState.FAILED, error={"type": "StudioError", "message": "x", "details": {},
                                                     "resolution_steps": []})
    assert runner.find_or_resume("demo", same) is None  # failed: not by default
    assert runner.find_or_resume("demo", same, resume={JobState.FAILED}).id == job.id
