"""``TrainingMonitor``: the trait, the job-event filter (training runs only) and the calls it makes.

A fake ``engine.training`` (``FakeTraining``) implements the contract the widget and the magics use
(``start``, ``runs``, ``metrics``, ``logs``, ``cancel``, ``resume``, ``estimate``, ``datasets``), with
real jobs in the engine's job store, so job events flow through the real feed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import model_studio
from model_studio import api
from model_studio.core.jobs import JobState, Progress
from model_studio.errors import NotFoundError, ValidationError

BASE = "local/tiny-base"


class FakeDatasets:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def import_file(self, path, *, name=None, mapping=None, overwrite=False):
        src = Path(path)
        if not src.is_file():
            raise NotFoundError(f"No dataset file at {src}")
        rows = [line for line in src.read_text().splitlines() if line.strip()]
        if not rows:
            raise ValidationError("The dataset has no rows")
        info = {"name": name or src.stem, "rows": len(rows), "shape": "messages"}
        self.items[info["name"]] = info
        return info

    def list(self):
        return list(self.items.values())


class FakeTraining:
    """``engine.training`` stand-in: ``start`` creates a "train" job that steps in a thread."""

    def __init__(self, jobs, *, step_delay: float = 0.02) -> None:
        self.jobs = jobs
        self.step_delay = step_delay
        self.datasets = FakeDatasets()
        self.calls: list[tuple[str, Any]] = []
        self._metrics: dict[str, list[dict[str, Any]]] = {}
        self._cancel: dict[str, threading.Event] = {}

    def start(self, base, dataset, **config):
        if base != BASE:
            raise NotFoundError(f"Model {base!r} is not a local model", resolution_steps=["Download it first"])
        if dataset not in self.datasets.items and not Path(dataset).is_file():
            raise NotFoundError(f"No dataset {dataset!r}")
        self.calls.append(("start", {"base": base, "dataset": dataset, **config}))
        steps = int(config.get("steps") or 5)
        job = self.jobs.create("train", {"base": base, "dataset": dataset, "config": config, "total_steps": steps},
                               title=f"LoRA {base} on {dataset}")
        self._metrics[job.id] = []
        self._cancel[job.id] = threading.Event()
        threading.Thread(target=self._run, args=(job.id, steps), daemon=True).start()
        return self.jobs.get(job.id)

    def _run(self, job_id: str, steps: int) -> None:
        self.jobs.set_state(job_id, JobState.RUNNING, progress=Progress(0, steps, unit="steps"))
        for step in range(1, steps + 1):
            if self._cancel[job_id].is_set():
                self.jobs.set_state(job_id, JobState.CANCELLED)
                return
            time.sleep(self.step_delay)
            loss = 3.0 / step
            self._metrics[job_id].append({"step": step, "epoch": step / steps, "loss": loss,
                                          "learning_rate": 2e-4, "eval_loss": None})
            self.jobs.set_progress(job_id, Progress(step, steps, unit="steps", rate=1 / self.step_delay,
                                                    eta=(steps - step) * self.step_delay,
                                                    detail={"loss": loss, "epoch": step / steps}))
        self.jobs.set_state(job_id, JobState.COMPLETED, result={"adapter": "/tmp/adapter", "final_loss": 3.0 / steps},
                            progress=Progress(steps, steps, unit="steps", detail={"loss": 3.0 / steps}))

    def runs(self, limit=200):
        return [j.to_dict() for j in self.jobs.list("train", limit=limit)]

    def metrics(self, job_id, since_step=0):
        return [m for m in self._metrics.get(job_id, []) if m["step"] > since_step]

    def logs(self, job_id, tail=200):
        return "".join(f"step {m['step']} loss {m['loss']:.3f}\n" for m in self._metrics.get(job_id, []))[-tail * 40:]

    def cancel(self, job_id):
        self._cancel[job_id].set()
        return self.jobs.get(job_id)

    def resume(self, job_id):
        return self.jobs.get(job_id)

    def estimate(self, base, dataset=None, **config):
        return {"memory_bytes": 1 << 30, "seconds_per_step": 0.4, "seconds": 0.4 * int(config.get("steps") or 5)}

    def export(self, config, *, out_dir=None, **cluster):
        self.calls.append(("export", {**config, "out_dir": out_dir, **cluster}))
        return {"path": out_dir, "zip": f"{out_dir}.zip", "launch": "bash launch.sh", "slurm": "sbatch slurm.sbatch",
                "command": "python -m torch.distributed.run --nnodes 1 ..."}

    def wait(self, job_id, timeout=None):
        return self.jobs.wait(job_id, timeout)

    def close(self) -> None:
        for event in self._cancel.values():
            event.set()


@pytest.fixture
def widget(fake_training, monkeypatch):
    from model_studio.widgets import TrainingMonitor

    w = TrainingMonitor()
    w.sent = []
    monkeypatch.setattr(w, "send", w.sent.append)
    yield w
    w.close()


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def send(widget, call_id, method, params=None):
    widget._handle_custom_msg({"id": call_id, "kind": "call", "method": method, "params": params}, [])


def reply(widget, call_id):
    return wait_for(lambda: next((m for m in widget.sent if m.get("id") == call_id), None))


def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]}\n' * 4)
    return path


def test_trait_exports_and_bundle(fake_training):
    from model_studio.widgets import TrainingMonitor
    from model_studio.widgets._base import STATIC

    assert "TrainingMonitor" in model_studio._LAZY_WIDGETS
    assert model_studio.TrainingMonitor is TrainingMonitor
    w = TrainingMonitor(run_id="tra-123")
    try:
        assert w.run_id == "tra-123" and "run_id='tra-123'" in repr(w)
        assert "run_id" in w.keys
    finally:
        w.close()
    assert (STATIC / "training.js").is_file(), "run the front-end build (jlpm build:prod)"
    assert TrainingMonitor._esm  # the bundle (or the missing-bundle message)


def test_a_job_is_accepted_for_its_id(fake_training, tmp_path):
    from model_studio.widgets import TrainingMonitor

    job = fake_training.start(BASE, str(data_file(tmp_path)), steps=2)
    w = TrainingMonitor(run_id=job)
    try:
        assert w.run_id == job.id
    finally:
        w.close()


def test_studio_has_a_training_tab(fake_training):
    from model_studio.widgets import Studio
    from model_studio.widgets.studio import TABS

    assert TABS.index("training") == TABS.index("chat") + 1
    s = Studio(tab="training")
    try:
        assert s.tab == "training" and "training" in s.tabs
    finally:
        s.close()


def test_only_training_jobs_are_pushed(widget, fake_training, tmp_path):
    eng = widget.engine
    other = eng.jobs.create("download", {"model": "org/x"}, title="a download")
    job = fake_training.start(BASE, str(data_file(tmp_path)), steps=4)
    wait_for(lambda: fake_training.jobs.get(job.id).state == JobState.COMPLETED)
    events = wait_for(lambda: [m["data"] for m in widget.sent if m.get("kind") == "event" and m.get("type") == "job"
                               and m["data"]["state"] == "completed"])
    assert {e["id"] for e in events} == {job.id}
    pushed = [m["data"] for m in widget.sent if m.get("kind") == "event" and m.get("type") == "job"]
    assert pushed and all(e["kind"] == "train" for e in pushed) and other.id not in {e["id"] for e in pushed}


@pytest.mark.skipif("training.metrics" not in api.BY_NAME, reason="training operations not in model_studio.api yet")
def test_training_calls_reach_the_engine(widget, fake_training, tmp_path):
    job = fake_training.start(BASE, str(data_file(tmp_path)), steps=3)
    wait_for(lambda: fake_training.jobs.get(job.id).state == JobState.COMPLETED)
    send(widget, "m1", "training.metrics", {"job_id": job.id, "since_step": 1})
    result = reply(widget, "m1")
    assert result["kind"] == "result", result
    rows = result["result"]["metrics"] if isinstance(result["result"], dict) else result["result"]
    assert [r["step"] for r in rows] == [2, 3]
    send(widget, "l1", "training.logs", {"job_id": job.id, "tail": 10})
    logs = reply(widget, "l1")
    assert logs["kind"] == "result" and "step 3" in str(logs["result"])
    send(widget, "r1", "training.runs", {})
    runs = reply(widget, "r1")
    assert runs["kind"] == "result" and job.id in str(runs["result"])


def test_unknown_operation_is_an_error_banner(widget):
    send(widget, "x1", "training.nothing", {})
    msg = reply(widget, "x1")
    assert msg["kind"] == "error" and msg["error"]["type"] and widget.error
