"""``engine.training``: LoRA runs as jobs of kind ``train``, each in its own worker process.

A run lives in ``<home>/runs/<job_id>/`` (config.json, data.jsonl, metrics.jsonl, log.txt,
checkpoints, adapter/, result.json). The engine's job runner owns the job; its ``run`` launches the
worker process, tails the metrics into the job's progress, turns a stop request into the worker's
control file and maps the worker's exit code to the job's end, so a crashed or killed worker never
takes the engine down.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
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
from . import distributed as dist
from .config import RunConfig
from .planning import RunPlanning

if TYPE_CHECKING:
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


class TrainingService(RunPlanning):
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
        dist.place(cfg, len(self.chat.arbiter.gpus()))  # devices this machine has
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

    def resume(self, job_id: str, *, num_processes: int | None = None, devices: Any = None) -> Job:
        """Continue a cancelled, interrupted or failed run from its latest checkpoint, on the same or
        another number of processes / devices (the step count goes on from the checkpoint)."""
        job = self.get(job_id)
        run_dir = self.runs_dir / job_id
        if not (run_dir / "config.json").exists():
            raise NotFoundError(f"Run {job_id} has no folder to resume", details={"job_id": job_id})
        old_pid = job.params.get("worker_pid")
        if old_pid and dist.worker_alive(int(old_pid), run_dir):
            raise ConflictError(f"The worker of run {job_id} (pid {old_pid}) still runs",
                                details={"job_id": job_id, "worker_pid": old_pid},
                                resolution_steps=["Wait for it to stop, or end that process first"])
        if num_processes is not None or devices is not None:
            data = json.loads((run_dir / "config.json").read_text())
            changes = {k: v for k, v in (("num_processes", num_processes), ("devices", devices)) if v is not None}
            if devices is not None and num_processes is None:
                changes["num_processes"] = None
            cfg = RunConfig.from_dict({**data, **changes}).validate()
            dist.place(cfg, len(self.chat.arbiter.gpus()))
            (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))  # the job's params follow at launch
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
        """Launch the worker (``--resume`` if the run had one before; under torchrun for more than one
        process), watch it, map its exit code."""
        job_id = job.id
        run_dir = self.runs_dir / job_id
        resume = "worker_pid" in job.params
        for name in ("control", "outcome.json"):
            (run_dir / name).unlink(missing_ok=True)
        cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
        placement = dist.place(cfg, len(self.chat.arbiter.gpus()))  # GPUs may have changed since the start
        cmd = dist.command(run_dir, placement, resume=resume)
        # the arbiter counts the run (per device) before its processes allocate anything
        reservations = dist.reserve(self.chat.arbiter, job_id, self._per_device(job, cfg, placement))
        with contextlib.ExitStack() as stack:
            for r in reservations:  # released when the run ends, whatever its end; a killed worker's go with its pid
                stack.enter_context(r)
            with (run_dir / "log.txt").open("ab") as logf:
                try:
                    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            cwd=str(run_dir), env=dist.env_for(placement),
                                            start_new_session=placement.num_processes > 1)
                except OSError as exc:
                    raise StudioError(f"Could not start the training worker: {exc}",
                                      details={"job_id": job_id}) from None
            for r in reservations:
                self.chat.arbiter.reservations.set_pid(r.id, proc.pid)
            return self._supervise(job, proc, control, resume)

    def _per_device(self, job: Job, cfg: RunConfig, placement: dist.Placement) -> dict[str, int]:
        try:
            params, hidden, layers = dist.size_of(Path(job.params["base_path"]))
            return dict(dist.memory(cfg, placement, parameters=params, hidden_size=hidden,
                                    layers=layers)["per_device"])
        except Exception:  # an estimate must never stop a run
            log.debug("no memory estimate for %s", job.id, exc_info=True)
            return {d: 0 for d in placement.devices}

    def _supervise(self, job: Job, proc: subprocess.Popen[bytes], control: Control, resume: bool) -> dict[str, Any]:
        """Watch a started worker until it exits and map its exit code (see ``_run``)."""
        job_id = job.id
        run_dir = self.runs_dir / job_id
        total = job.params.get("total_steps")
        cfg = json.loads((run_dir / "config.json").read_text())
        params = {**job.params, "worker_pid": proc.pid, "run_dir": str(run_dir),
                  "config": {k: v for k, v in cfg.items() if k != "extra"}}
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
        try:  # under torchrun, rank 0 says how the run ended (torchrun itself only says ok / failed)
            code = int(json.loads((run_dir / "outcome.json").read_text())["code"]) if code == 0 else code
        except (OSError, ValueError, KeyError):
            pass
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
        log_tail = self.logs(job_id, 40)
        rank = dist.failed_rank(self.logs(job_id, 200))
        if rank is not None and not (rank[0] == 0 and reason):  # rank 0's own error: error.json says it  # one rank of a torchrun run died: its own log (and error file) says why
            log_tail = dist.tail(dist.rank_log(run_dir, rank[0]), 40)
            code = rank[1]
            what = f"signal {-code}" if code < 0 else f"exit code {code}"
            why = dist.rank_error(run_dir, rank[0])
            raise (ResourceError if why.get("code") == EXIT_OOM else StudioError)(
                f"Rank {rank[0]} of the training run died ({what}){': ' + why['message'] if why else ''}; "
                "the other ranks were stopped",
                resolution_steps=[f"Resume it from its last checkpoint: engine.training.resume('{job_id}')"],
                details={"job_id": job_id, "rank": rank[0], "exit_code": code, "step": step, "log_tail": log_tail})
        if code < 0:
            message = f"The training worker was killed (signal {-code})"
        else:
            message = str(reason.get("message") or f"The training worker exited with code {code}")
        error = ResourceError if code == EXIT_OOM else StudioError
        steps = (["Lower batch_size or max_seq_length, or use a smaller base model"] if code == EXIT_OOM else
                 ["Lower learning_rate"] if code == EXIT_NAN else [])
        steps.append(f"Resume it from its last checkpoint: engine.training.resume('{job_id}')")
        raise error(message, resolution_steps=steps,
                    details={"job_id": job_id, "exit_code": code, "step": step, "log_tail": log_tail})

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
            dist.kill(proc)
        if stuck:
            self.runner.close([KIND], timeout=5.0)


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
