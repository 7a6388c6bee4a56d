"""``engine.training``: LoRA runs as jobs of kind ``train``, each in its own worker process.

A run lives in ``<home>/runs/<job_id>/`` (config.json, data.jsonl, metrics.jsonl, log.txt,
checkpoints, adapter/, result.json). The engine's job runner owns the job; its ``run`` launches the
worker process, tails the metrics into the job's progress, turns a stop request into the worker's
control file and maps the worker's exit code to the job's end, so a crashed or killed worker never
takes the engine down.
"""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import (
    CancelledError,
    ConflictError,
    NotFoundError,
    ResourceError,
    StudioError,
    ValidationError,
)
from ..jobs import Control, Job, JobRunner, JobState, JobStore, Progress, Stopped
from .config import RunConfig, estimate

if TYPE_CHECKING:
    from ..arbiter import Reservation
    from ..chat import ChatService
    from ..refs import ModelRef

log = logging.getLogger(__name__)

KIND = "train"
EXIT_CANCELLED, EXIT_NAN, EXIT_OOM = 3, 4, 5


#: Suffixes that make a ``dataset`` argument a file path even when no such file exists.
PATH_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")


def looks_like_path(dataset: str) -> bool:
    """True if ``dataset`` is written as a file path (a separator or a data file suffix) rather than
    a stored dataset's name. (An existing file of that name is read as a path too; see ``_rows``.)"""
    return "/" in dataset or "\\" in dataset or Path(dataset).suffix in PATH_SUFFIXES


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", name).strip("-") or "base"


class TrainingService:
    """Start, watch, cancel, resume and merge LoRA fine-tuning runs."""

    def __init__(self, settings: Settings, jobs: JobStore, chat: ChatService, runner: JobRunner) -> None:
        self.settings = settings
        self.store = jobs
        self.chat = chat
        self.runner = runner
        self.runs_dir = settings.home_path / "runs"
        self.bases_dir = settings.home_path / "bases"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}  # workers of this process's runs
        self._launched: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Every run has its own process: no limit here (the GPU arbiter and the planner say what fits).
        # A pause keeps nothing a cancel does not (both save a checkpoint): it cancels.
        runner.register(KIND, self._run, concurrency=None, pausable=False, close_state=JobState.INTERRUPTED,
                        error_for=lambda exc, job: StudioError(
                            f"Lost track of the training run: {exc}",
                            details={"job_id": job.id, "log_tail": self.logs(job.id, 40)}))
        self.datasets: Any = None
        try:
            from .datasets import DatasetStore

            self.datasets = DatasetStore(settings, local=chat.library.local)
        except Exception:  # being written alongside; file paths still work without it
            log.debug("no dataset store", exc_info=True)
        jobs.register_resumer(KIND, self.resume)

    # Paths -------------------------------------------------------------------------------------

    def run_dir(self, job_id: str) -> Path:
        self.get(job_id)
        return self.runs_dir / job_id

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job.kind != KIND:
            raise NotFoundError(f"No training run {job_id!r}", details={"job_id": job_id})
        return job

    # Validation --------------------------------------------------------------------------------

    def _resolve_base(self, base: str) -> dict[str, Any]:
        res = self.chat.resolve(base, backend="transformers")
        info: dict[str, Any] = {"base_model": res.model_id, "base_path": str(res.path), "format": res.format}
        if res.format == "gguf":
            info["base_dir"] = str(self.bases_dir / _safe(res.model_id))
        return info

    def _rows(self, dataset: str) -> tuple[list[dict[str, Any]], str]:
        """Training rows as ``{"messages": [...]}`` or ``{"text": ...}``, and the dataset's name."""
        store = self.datasets
        path = Path(dataset).expanduser()
        if not path.is_file() and looks_like_path(dataset):
            raise NotFoundError(f"No dataset file at {dataset}", details={"field": "dataset", "dataset": dataset},
                                resolution_steps=["Give a stored dataset's name or the path of a data file"])
        if store is not None:
            info = None
            if path.is_file():
                try:
                    info = store.import_file(str(path))
                except ValidationError:
                    raise
                except Exception:  # e.g. a dataset of that name exists: read the file as it is
                    info = None
            else:
                info = store.get(dataset)  # NotFoundError / ValidationError name the dataset
            if info is not None:
                out: list[dict[str, Any]] = []
                for number, row in enumerate(store.load_rows(info.name), 1):
                    msgs = store.to_messages(row, info, row_number=number)
                    if info.shape == "text":
                        out.append({"text": msgs[0]["content"]})
                    else:
                        out.append({"messages": msgs})
                return out, info.name
        path = Path(dataset).expanduser()
        if not path.is_file():
            raise NotFoundError(f"No dataset {dataset!r}", details={"field": "dataset", "dataset": dataset},
                                resolution_steps=["Give a stored dataset's name or the path of a JSONL file"])
        return _read_jsonl(path), path.name

    def _prepare(self, base: str, dataset: str, config: dict[str, Any]) -> tuple[RunConfig, dict[str, Any],
                                                                                 list[dict[str, Any]]]:
        cfg = RunConfig.from_kwargs(base, dataset, **config)
        base_info = self._resolve_base(cfg.base)
        rows, name = self._rows(cfg.dataset)
        if not rows:
            raise ValidationError("The dataset has no rows", details={"field": "dataset", "dataset": dataset})
        return cfg, {**base_info, "dataset_name": name, "rows": len(rows)}, rows

    # Runs --------------------------------------------------------------------------------------

    def start(self, base: str | ModelRef, dataset: str, **config: Any) -> Job:
        """Start a LoRA run of ``base`` on ``dataset`` (a stored dataset or a JSONL file); see ``RunConfig``.

        Validated before any process starts: ValidationError names the bad field, NotFoundError an
        unknown base or dataset.
        """
        if self._closed:
            raise ConflictError("The engine is closing")
        cfg, info, rows = self._prepare(str(base), dataset, config)  # a ModelRef too; the run keeps the name
        total = cfg.total_steps(len(rows))
        params = {"base": cfg.base, "dataset": cfg.dataset, "config": cfg.to_dict(), **info, "total_steps": total}
        job = self.store.create(KIND, params, title=f"LoRA {info['base_model']} on {info['dataset_name']}")
        run_dir = self.runs_dir / job.id
        run_dir.mkdir(parents=True, exist_ok=True)
        with (run_dir / "data.jsonl").open("w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        cfg.extra = {"base_path": info["base_path"], "base_dir": info.get("base_dir"),
                     "data_path": str(run_dir / "data.jsonl"), "nvml_module": self.settings.nvml_module}
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        return self._launch(job.id, lambda: self.runner.submit(job.id))

    def resume(self, job_id: str) -> Job:
        """Continue a cancelled, interrupted or failed run from its latest checkpoint."""
        self.get(job_id)
        run_dir = self.runs_dir / job_id
        if not (run_dir / "config.json").exists():
            raise NotFoundError(f"Run {job_id} has no folder to resume", details={"job_id": job_id})
        old_pid = self.get(job_id).params.get("worker_pid")
        if old_pid and _worker_alive(int(old_pid), run_dir):
            raise ConflictError(f"The worker of run {job_id} (pid {old_pid}) still runs",
                                details={"job_id": job_id, "worker_pid": old_pid},
                                resolution_steps=["Wait for it to stop, or end that process first"])
        return self._launch(job_id, lambda: self.runner.resume(job_id))

    def _launch(self, job_id: str, queue: Any) -> Job:
        """Queue the run and return once its worker process runs (or the job ended): the caller gets
        the job ``running`` with its ``worker_pid``, as before the runner."""
        launched = self._launched[job_id] = threading.Event()
        try:
            queue()
            while not launched.wait(0.05):
                job = self.store.get(job_id)
                if not job.active:  # e.g. the worker could not start: the job's typed error
                    job.raise_for_error()
                    return job
            return self.store.get(job_id)
        finally:
            self._launched.pop(job_id, None)

    def _run(self, job: Job, control: Control) -> dict[str, Any]:
        """Launch the worker (``--resume`` if the run had one before), watch it, map its exit code."""
        job_id = job.id
        run_dir = self.runs_dir / job_id
        resume = "worker_pid" in job.params
        (run_dir / "control").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "model_studio.core.training.worker", str(run_dir)]
        if resume:
            cmd.append("--resume")
        reservation = self._reserve(job)  # the arbiter counts the run before its worker allocates anything
        with (run_dir / "log.txt").open("ab") as logf:
            try:
                proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=str(run_dir))
            except OSError as exc:
                reservation.release()
                raise StudioError(f"Could not start the training worker: {exc}", details={"job_id": job_id}) from None
        with reservation:  # released when the run ends, whatever its end; a killed worker's goes with its pid
            self.chat.arbiter.reservations.set_pid(reservation.id, proc.pid)
            return self._supervise(job, proc, control, resume)

    def _reserve(self, job: Job) -> Reservation:
        """A reservation of the run's estimated memory on the device the worker trains on; idle chat
        models there are evicted first when they would be in its way (never refused: it is an estimate)."""
        arbiter = self.chat.arbiter
        device = "cuda:0" if arbiter.gpus() else "cpu"
        try:
            cfg = RunConfig.from_dict(job.params.get("config") or {})
            params, hidden, layers = _size_of(Path(job.params["base_path"]))
            need = int(estimate(cfg, parameters=params, hidden_size=hidden, layers=layers)["memory_bytes"])
        except Exception:  # an estimate must never stop a run
            log.debug("no memory estimate for %s", job.id, exc_info=True)
            need = 0
        try:
            arbiter.admit({device: need}, what=f"Training run {job.id}", details={"job_id": job.id})
        except ResourceError as exc:
            log.warning("training run %s may not fit: %s", job.id, exc.message)
        return arbiter.reserve(device, need, f"training run {job.id}", kind="training", job_id=job.id)

    def _supervise(self, job: Job, proc: subprocess.Popen[bytes], control: Control, resume: bool) -> dict[str, Any]:
        """Watch a started worker until it exits and map its exit code (see ``_run``)."""
        job_id = job.id
        run_dir = self.runs_dir / job_id
        total = job.params.get("total_steps")
        params = {**job.params, "worker_pid": proc.pid, "run_dir": str(run_dir)}
        control.last_progress = Progress(done=self._last_step(run_dir), total=total, unit="steps",
                                         message="resuming" if resume else "loading the base model")
        self.store.set_state(job_id, JobState.RUNNING, params=params, progress=control.last_progress)
        with self._lock:
            self._procs[job_id] = proc
        launched = self._launched.get(job_id)
        if launched is not None:
            launched.set()
        try:
            code, last = self._watch(job_id, proc, total, control)
        finally:
            with self._lock:
                self._procs.pop(job_id, None)
        return self._finish(job_id, total, code, last, control)

    def _last_step(self, run_dir: Path) -> int:
        rows = _read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
        return int(rows[-1]["step"]) if rows else 0

    def _watch(self, job_id: str, proc: subprocess.Popen[bytes], total: int | None,
               control: Control) -> tuple[int, dict[str, Any]]:
        """Tail the worker's metrics into the job's progress until it exits; a stop request becomes
        the worker's control file (it saves a checkpoint, then exits). Returns (exit code, last metrics)."""
        metrics = self.runs_dir / job_id / "metrics.jsonl"
        offset = 0
        first: tuple[float, int] | None = None
        last: dict[str, Any] = {}
        sent_cancel = False
        while True:
            code = proc.poll()
            if metrics.exists():
                with metrics.open() as f:
                    f.seek(offset)
                    chunk = f.read()
                complete = chunk[:chunk.rfind("\n") + 1] if "\n" in chunk else ""
                offset += len(complete.encode()) if complete else 0
                for line in complete.splitlines():
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if rec.get("loss") is not None or rec.get("eval_loss") is not None:
                        last = {**last, **{k: v for k, v in rec.items() if v is not None}}
                    if first is None:
                        first = (time.monotonic(), int(rec.get("step") or 0))
                if last:
                    step = int(last.get("step") or 0)
                    rate = eta = None
                    if first is not None and step > first[1]:
                        rate = (step - first[1]) / max(time.monotonic() - first[0], 1e-6)
                        if total:
                            eta = max(0.0, (total - step) / rate)
                    control.progress(Progress(
                        done=step, total=total, unit="steps", rate=rate, eta=eta, message="training",
                        detail={"loss": last.get("loss"), "epoch": last.get("epoch"),
                                "eval_loss": last.get("eval_loss"), "learning_rate": last.get("learning_rate")}))
            if code is not None:
                return code, last
            if not sent_cancel and control.stopped:  # cancel, pause (here or another process), or close
                (self.runs_dir / job_id / "control").write_text("cancel")
                sent_cancel = True
            time.sleep(0.2)

    def _finish(self, job_id: str, total: int | None, code: int, last: dict[str, Any],
                control: Control) -> dict[str, Any]:
        """The run's result for exit code 0; else ``Stopped`` (cancelled, interrupted) or a typed error."""
        run_dir = self.runs_dir / job_id
        step = int(last.get("step") or 0)
        progress = Progress(done=step, total=total, unit="steps", message="",
                            detail={"loss": last.get("loss"), "epoch": last.get("epoch"),
                                    "eval_loss": last.get("eval_loss")})
        control.last_progress = progress
        if code == 0 and (run_dir / "result.json").exists():
            result = json.loads((run_dir / "result.json").read_text())
            result["model"] = f"run/{job_id}"
            progress.done = result.get("steps", step)
            progress.message = "done"
            return result  # type: ignore[no-any-return]
        if control.state == JobState.INTERRUPTED:  # the engine closed under it: resumable from its checkpoint
            progress.message = "interrupted (checkpoint saved)" if code == EXIT_CANCELLED else "interrupted"
            raise Stopped(JobState.INTERRUPTED)
        if code == EXIT_CANCELLED:
            progress.message = "cancelled (checkpoint saved)"
            raise Stopped(JobState.CANCELLED)
        reason: dict[str, Any] = {}
        try:
            reason = json.loads((run_dir / "error.json").read_text())
        except (OSError, ValueError):
            pass
        if code < 0:
            message = f"The training worker was killed (signal {-code})"
        else:
            message = str(reason.get("message") or f"The training worker exited with code {code}")
        error = ResourceError if code == EXIT_OOM else StudioError
        steps = (["Lower batch_size or max_seq_length, or use a smaller base model"] if code == EXIT_OOM else
                 ["Lower learning_rate"] if code == EXIT_NAN else [])
        steps.append(f"Resume it from its last checkpoint: engine.training.resume('{job_id}')")
        raise error(message, resolution_steps=steps,
                    details={"job_id": job_id, "exit_code": code, "step": step, "log_tail": self.logs(job_id, 40)})

    def cancel(self, job_id: str) -> Job:
        """Stop a run; the worker saves a checkpoint first (resume it later)."""
        job = self.get(job_id)
        if not job.active:
            return job
        return self.runner.cancel(job_id)

    # Results -----------------------------------------------------------------------------------

    def runs(self, limit: int = 200) -> list[dict[str, Any]]:
        """Training runs, newest first, each with its last metrics."""
        out = []
        for job in self.store.list(KIND, limit=limit):
            data = job.to_dict()
            path = self.runs_dir / job.id / "metrics.jsonl"
            rows = _read_jsonl(path) if path.exists() else []
            data["final_metrics"] = rows[-1] if rows else None
            out.append(data)
        return out

    def metrics(self, job_id: str, since_step: int = 0) -> list[dict[str, Any]]:
        """Metric records (one per logged step) with ``step > since_step``."""
        path = self.run_dir(job_id) / "metrics.jsonl"
        rows = _read_jsonl(path) if path.exists() else []
        return [r for r in rows if int(r.get("step") or 0) > since_step]

    def logs(self, job_id: str, tail: int = 200) -> str:
        """The last ``tail`` lines of the worker's log."""
        path = self.run_dir(job_id) / "log.txt"  # a known run first: the id must not be a path (../..)
        if not path.exists():
            return ""
        with path.open(errors="replace") as f:
            return "".join(deque(f, maxlen=max(1, int(tail))))

    def adapter(self, job_id: str) -> tuple[str, str]:
        """(base model folder, adapter folder) of a completed run."""
        job = self.get(job_id)
        result = job.result or {}
        if job.state != JobState.COMPLETED or not result.get("adapter"):
            raise ConflictError(f"Run {job_id} is {job.state.value}; only a completed run has an adapter",
                                details={"job_id": job_id, "state": job.state.value})
        return str(result["base_dir"]), str(result["adapter"])

    def merge(self, job_id: str, out_dir: str | None = None) -> str:
        """Merge the run's LoRA into its base (``merge_and_unload``) and save a model folder; returns it."""
        base_dir, adapter = self.adapter(job_id)
        out = Path(out_dir).expanduser() if out_dir else self.runs_dir / job_id / "merged"
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        out.mkdir(parents=True, exist_ok=True)
        merged.save_pretrained(str(out))
        AutoTokenizer.from_pretrained(adapter).save_pretrained(str(out))
        return str(out)

    def estimate(self, base: str | ModelRef, dataset: str | None = None, **config: Any) -> dict[str, Any]:
        """Rough memory and time of a run (``memory_bytes``, ``seconds_per_step``, ``seconds``)."""
        cfg = RunConfig.from_kwargs(str(base), dataset or "-", **config)  # a ModelRef too
        info = self._resolve_base(cfg.base)
        rows = None
        if dataset:
            rows = len(self._rows(dataset)[0])
        params, hidden, layers = _size_of(Path(info["base_path"]))
        measured = self._measured_step_seconds(info["base_model"])
        return estimate(cfg, parameters=params, hidden_size=hidden, layers=layers, rows=rows,
                        seconds_per_step=measured)

    def _measured_step_seconds(self, base_model: str) -> float | None:
        """Median step time of the latest completed run of the same base, if any."""
        for job in self.store.list(KIND, (JobState.COMPLETED,), limit=20):
            if job.params.get("base_model") != base_model:
                continue
            rows = _read_jsonl(self.runs_dir / job.id / "metrics.jsonl") if (
                self.runs_dir / job.id / "metrics.jsonl").exists() else []
            times = [b["elapsed"] - a["elapsed"] for a, b in zip(rows, rows[1:], strict=False)
                     if a.get("elapsed") is not None and b.get("elapsed") is not None and b["step"] == a["step"] + 1]
            if times:
                return sorted(times)[len(times) // 2]
        return None

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        job = self.store.wait(job_id, timeout)
        if job.state == JobState.CANCELLED:
            raise CancelledError(f"Run {job_id} was cancelled", details={"job_id": job_id})
        return job

    def close(self) -> None:
        """Ask running workers to save a checkpoint and stop; they become ``interrupted`` (resumable)."""
        self._closed = True
        self.runner.close([KIND], timeout=15.0)
        with self._lock:
            stuck = list(self._procs.values())
        for proc in stuck:  # no checkpoint within the time: stop it anyway (still interrupted, resumable)
            proc.kill()
        if stuck:
            self.runner.close([KIND], timeout=5.0)


def _worker_alive(pid: int, run_dir: Path) -> bool:
    """True if ``pid`` is a training worker of ``run_dir`` that still runs (an orphan of a dead engine)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and str(run_dir) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ValidationError(f"{path.name} is not JSON Lines: {exc}", details={"field": "dataset",
                                                                                  "path": str(path)}) from None
        if isinstance(value, dict):
            out.append(value)
    return out


def _size_of(path: Path) -> tuple[int, int, int]:
    """(parameters, hidden size, layers) of a GGUF file or a model folder, roughly."""
    if path.is_file():
        from ..fit import gguf_metadata

        meta = gguf_metadata(path)
        params = int(meta.get("parameters") or 0) or path.stat().st_size * 2
        return params, int(meta.get("n_embd") or 0), int(meta.get("n_layers") or 0)
    cfg: dict[str, Any] = {}
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        pass
    size = sum(p.stat().st_size for p in path.glob("*.safetensors")) or sum(
        p.stat().st_size for p in path.glob("*.bin"))
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "float32")
    width = 4 if "32" in dtype else 2
    return max(1, math.ceil(size / width)), int(cfg.get("hidden_size") or 0), int(cfg.get("num_hidden_layers") or 0)
