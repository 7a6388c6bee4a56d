"""Batches of prompts as resumable jobs (kind ``batch``).

Each answer is appended to ``<home>/batches/<job_id>.jsonl`` the moment it is complete, and the
prompts sit beside it (``<job_id>.prompts.json``), so a cancelled, paused, failed or interrupted
batch resumes at the first prompt without an answer, in this process or another. The engine's job
runner runs the batches (no limit on how many at once) and honours cancel and pause from any
process through the job store's control flag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import ConflictError, NotFoundError, ValidationError
from ..jobs import RESUMABLE, Control, Job, JobRunner, JobState, JobStore, Progress, Stopped, owner_alive
from ..refs import ModelRef
from ..remote.refs import is_remote

if TYPE_CHECKING:
    from . import ChatService

log = logging.getLogger(__name__)

KIND = "batch"


def prompts_from(prompts: Any, column: str | None) -> tuple[list[str], Any]:
    """(prompts as strings, the pandas index to align answers to, or None)."""
    index = None
    if type(prompts).__module__.startswith("pandas"):
        if hasattr(prompts, "columns"):  # a DataFrame
            cols = list(prompts.columns)
            if column is None and len(cols) != 1:
                raise ValidationError("Name the DataFrame column that holds the prompts: column=...",
                                      details={"columns": [str(c) for c in cols]})
            name = column if column is not None else cols[0]
            if name not in cols:
                raise ValidationError(f"No column {name!r}", details={"columns": [str(c) for c in cols]})
            prompts = prompts[name]
        index = prompts.index
        prompts = prompts.tolist()
    elif column is not None:
        raise ValidationError("column= applies to a pandas DataFrame only", details={"column": column})
    if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)) or not prompts:
        raise ValidationError("prompts must be a non-empty list of strings (or a pandas Series / column)")
    bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
    if bad:
        raise ValidationError(f"prompts[{bad[0]}] is not a string", details={"indices": bad[:20]})
    return list(prompts), index


class BatchRunner:
    def __init__(self, chat: ChatService, settings: Settings, store: JobStore, runner: JobRunner) -> None:
        self.chat = chat
        self.settings = settings
        self.store = store
        self.runner = runner
        # No limit on batches at once (each asks the model host one prompt at a time), as before.
        runner.register(KIND, self._work, concurrency=None, close_state=JobState.PAUSED)
        store.register_resumer(KIND, self.resume)

    @property
    def folder(self) -> Path:
        return self.settings.home_path / "batches"

    def _answers_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.jsonl"

    def _prompts_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.prompts.json"

    # Starting ----------------------------------------------------------------------------------

    def start(self, prompts: Any, *, model: str | ModelRef, template: str = "{prompt}", system: str | None = None,
              column: str | None = None, load_options: dict[str, Any] | None = None,
              sampling: dict[str, Any] | None = None) -> Job:
        """Start a batch, or continue the one with the same inputs; returns the Job at once."""
        model = str(model)  # the job keeps the name (JSON), as the caller wrote it
        items, _ = prompts_from(prompts, column)
        if not isinstance(template, str) or "{prompt}" not in template:
            raise ValidationError("template must contain {prompt}", details={"template": template})
        if system is not None and not isinstance(system, str):
            raise ValidationError("system must be a string", details={"system": system})
        sampling = {k: v for k, v in (sampling or {}).items() if v is not None}
        self.chat._sampling(dict(sampling), None)  # validate now, not in the job thread
        if is_remote(model):  # its endpoint must be registered; the endpoint checks the model
            self.chat.remote_model(model)
        else:
            self.chat.resolve(model, (load_options or {}).get("quantization"), (load_options or {}).get("backend"))
        params = {"model": model, "template": template, "system": system, "sampling": sampling,
                  "load_options": load_options or {}, "count": len(items)}
        fingerprint = hashlib.sha256(json.dumps([params, items], sort_keys=True).encode()).hexdigest()
        params["fingerprint"] = fingerprint
        found = self.runner.find_or_resume(KIND, lambda job: job.params.get("fingerprint") == fingerprint,
                                           reuse={JobState.QUEUED, JobState.RUNNING, JobState.COMPLETED},
                                           resume=RESUMABLE)
        if found is not None:
            return found
        job = self.store.create(KIND, params, title=f"{len(items)} prompts · {model}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._prompts_path(job.id).write_text(json.dumps(items))  # before it is queued: the run reads it
        return self.runner.submit(job)

    def get(self, job_id: str) -> Job:
        """The batch job ``job_id``; ``NotFoundError`` for an unknown id or a job of another kind."""
        job = self.store.get(job_id)
        if job.kind != KIND:
            raise NotFoundError(f"No batch {job_id!r}", details={"job_id": job_id, "kind": job.kind})
        return job

    def list(self, state: str | None = None, limit: int = 200) -> list[Job]:
        """Batch jobs, newest first, optionally only those in ``state``."""
        return self.store.list(KIND, [JobState(state)] if state else None, limit=limit)

    def _settled(self, job_id: str) -> Job:
        """The batch, with a queued or running one whose owner process died seen as ``interrupted``."""
        job = self.get(job_id)
        if job.active and job.owner_pid != self.store.owner_pid and not owner_alive(job.owner_pid, None):
            self.store.mark_orphans_interrupted()
            job = self.get(job_id)
        return job

    def cancel(self, job_id: str) -> Job:
        """Stop a batch: the answer being generated is dropped, the answers so far are kept.

        A batch of this process stops at once; one run by another process stops when that process
        sees the job store's cancel flag (within a fraction of a second). A paused or interrupted
        batch becomes ``cancelled``; cancelling a cancelled one changes nothing; a completed or
        failed batch is a ``ConflictError``. ``resume`` continues any of them later.
        """
        job = self._settled(job_id)
        if job.state == JobState.CANCELLED:
            return job
        if job.state in (JobState.COMPLETED, JobState.FAILED):
            raise ConflictError(f"Batch {job_id} is {job.state.value}; there is nothing to cancel",
                                details={"job_id": job_id, "state": job.state.value})
        if job.state in (JobState.PAUSED, JobState.INTERRUPTED):
            return self.store.set_state(job_id, JobState.CANCELLED, expect=(JobState.PAUSED, JobState.INTERRUPTED))
        return self.runner.cancel(job_id)

    def resume(self, job_id: str) -> Job:
        """Continue a cancelled, paused, failed or interrupted batch with its unanswered prompts only.

        ``ConflictError`` if it is still queued or running (cancel it first, or wait) or completed.
        """
        job = self._settled(job_id)
        if job.active:
            raise ConflictError(f"Batch {job_id} is {job.state.value}" +
                                ("; it stops soon (cancel requested)" if job.control else ""),
                                details={"job_id": job_id, "state": job.state.value},
                                resolution_steps=["Wait for it to finish, or cancel it before resuming"])
        if job.state == JobState.COMPLETED:
            raise ConflictError(f"Batch {job_id} is completed; every prompt has an answer",
                                details={"job_id": job_id, "state": job.state.value},
                                resolution_steps=[f"Read the answers: GET /batches/{job_id}"])
        if not self._prompts_path(job_id).is_file():
            raise NotFoundError(f"The prompts of batch {job_id} are gone", details={
                "job_id": job_id, "path": str(self._prompts_path(job_id))})
        # Atomic (the store's claim): of two resumes racing (two processes, a double click) one
        # wins, the other gets ConflictError, so no prompt is answered twice.
        return self.runner.resume(job_id)

    # Results -----------------------------------------------------------------------------------

    def answers(self, job_id: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        try:
            with open(self._answers_path(job_id), encoding="utf-8") as fh:
                for line in fh:
                    try:
                        record = json.loads(line)
                    except ValueError:  # a line cut by a crash: that prompt runs again
                        continue
                    out[int(record["index"])] = record
        except FileNotFoundError:
            pass
        return out

    def results(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        answers = self.answers(job_id)
        return {"job": job.to_dict(), "results": [answers[i] for i in sorted(answers)]}

    def run(self, prompts: Any, *, model: str, template: str, system: str | None, column: str | None,
            resume: str | None, progress: bool, load_options: dict[str, Any] | None,
            sampling: dict[str, Any]) -> Any:
        """Start or resume, wait with a progress bar, and return the answers in input order."""
        index = None
        if resume is not None:
            job = self.get(resume)
            if job.state != JobState.COMPLETED:
                try:
                    job = self.resume(resume)
                except ConflictError:  # running already (here or elsewhere): follow it
                    job = self.get(resume)
            if prompts is not None:
                index = prompts_from(prompts, column)[1]
        else:
            items, index = prompts_from(prompts, column)
            job = self.start(items, model=model, template=template, system=system, load_options=load_options,
                             sampling=sampling)
        total = int(job.params.get("count") or 0)
        bar = _bar(total, job.params.get("model", model)) if progress else None
        try:
            while True:
                try:
                    job = self.store.wait(job.id, timeout=0.25)
                    break
                except TimeoutError:
                    if bar is not None:
                        _advance(bar, self.store.get(job.id).progress.done)
        except KeyboardInterrupt:
            self.store.request(job.id, "cancel")
            self.store.wait(job.id, timeout=30)
            raise
        finally:
            if bar is not None:
                _advance(bar, self.store.get(job.id).progress.done)
                bar.close()
        job.raise_for_error()
        answers = self.answers(job.id)
        texts = [answers[i]["text"] for i in range(total)]
        if index is not None:
            import pandas as pd

            return pd.Series(texts, index=index, name="answer")
        return texts

    # The job -----------------------------------------------------------------------------------

    def _work(self, job: Job, control: Control) -> dict[str, Any]:
        """Answer the prompts without an answer yet, appending each answer as it completes."""
        p = job.params
        items: list[str] = json.loads(self._prompts_path(job.id).read_text())
        done = self.answers(job.id)
        total = len(items)
        progress = Progress(len(done), total, unit="prompts", message=f"{len(done)} of {total} answered")
        control.progress(progress, force=True)
        options = dict(p.get("load_options") or {})
        lock = threading.Lock()

        def answer(i: int, prompt: str, fh: Any, ctl: Control = control) -> None:
            ctl.check()
            messages = ([{"role": "system", "content": p["system"]}] if p.get("system") else [])
            messages.append({"role": "user", "content": p["template"].replace("{prompt}", prompt)})
            stream = self.chat.stream(p["model"], messages, cancel=ctl.event, load_options=options,
                                      **p.get("sampling", {}))
            text = "".join(chunk.text for chunk in stream)
            if stream.finish_reason == "cancelled" or ctl.stopped:  # the cut answer is not kept
                ctl.check()
                raise Stopped(JobState.CANCELLED)
            record = {"index": i, "text": text, "finish_reason": stream.finish_reason,
                      "stats": stream.stats.to_dict() if stream.stats else None}
            with lock:  # answers of parallel requests land whole, one line each, in completion order
                fh.write(json.dumps(record) + "\n")
                fh.flush()
                progress.done += 1
                progress.message = f"{int(progress.done)} of {total} answered"
                control.progress(progress, force=True)

        todo = [(i, prompt) for i, prompt in enumerate(items) if i not in done]
        # A serving engine batches the requests it holds at once: send the endpoint's concurrency.
        remote: Any = self.chat.remote_model(p["model"])
        workers = remote.client.endpoint.concurrency if remote is not None else 1
        with open(self._answers_path(job.id), "a", encoding="utf-8") as fh:
            if workers == 1:
                for i, prompt in todo:
                    answer(i, prompt, fh)
            else:
                inner = control.fork()  # stops with the job, or alone when one request fails
                _in_parallel(todo, workers, lambda item: answer(item[0], item[1], fh, inner), inner)
        return {"count": total, "path": str(self._answers_path(job.id))}

    def close(self) -> None:
        """Pause this process's batches (they resume later) and wait briefly for them."""
        self.runner.close([KIND], timeout=5.0)


def _in_parallel(todo: list[tuple[int, str]], workers: int, work: Callable[[tuple[int, str]], None],
                 control: Control) -> None:
    """Run ``work`` over ``todo`` with ``workers`` requests in flight; the first failure (or a cancel)
    stops the rest (requests in flight end within a few tokens: they watch ``control.event``) and is
    raised."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch") as pool:
        futures = [pool.submit(work, item) for item in todo]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f.done() and not f.cancelled() and f.exception()), None)
        if failed is not None:
            for f in futures:
                f.cancel()
            control.request(JobState.FAILED)  # the requests in flight stop; their cut answers are not kept
            wait(futures)
            raise failed.exception()  # type: ignore[misc]


def _bar(total: int, desc: str) -> Any:
    try:
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="prompt", desc=str(desc)[:40], leave=True)
    except Exception:  # a progress bar must never break the batch
        return None


def _advance(bar: Any, done: float) -> None:
    try:
        bar.n = int(done)
        bar.refresh()
    except Exception:
        pass
