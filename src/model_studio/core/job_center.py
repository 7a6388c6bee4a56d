"""The job center: every job of every kind (downloads, batches, training runs, video generations) in
one place, with cancel and resume dispatched to the service that owns the kind, and clean-up of
finished jobs.

Deleting a job removes its row from ``state.sqlite``. What happens to its files:

- ``download``: the downloaded model stays in the Hugging Face cache (delete it from the library);
  ``delete_files`` changes nothing for downloads.
- ``batch``: its prompts and answers (``<home>/batches/<id>.*``) stay unless ``delete_files``.
- ``train``: the run folder (``<home>/runs/<id>``: adapter, checkpoints, metrics, log) stays unless
  ``delete_files``.
- ``video``: the output folder (``<home>/outputs/<id>``: MP4, thumbnail, params.json) stays unless
  ``delete_files``.

Kept by default because those files are the work the job produced; a clean-up of the list should not
destroy results someone still uses.
"""

from __future__ import annotations

import builtins
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, ValidationError
from .jobs import ACTIVE, Job, JobState

if TYPE_CHECKING:
    from . import Engine

#: Job kinds the studio runs, with what their rows are called in the UI.
KINDS = {"download": "Download", "batch": "Batch", "train": "Training run", "video": "Video generation"}
DAY = 86_400.0
MAX_CLEANUP = 10_000


def _tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file below a folder (links not followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class JobCenter:
    """List, cancel, resume, delete and clean up jobs of any kind."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.jobs

    # Listing ------------------------------------------------------------------------------------

    def list(self, kind: str | None = None, state: str | None = None, q: str | None = None,
             since: float | None = None, limit: int = 200) -> list[Job]:
        """Jobs newest first; ``q`` matches the id, title or parameters (case-insensitive)."""
        return self.store.list(kind or None, [state] if state else None, since=since, limit=limit, text=q or None)

    def counts(self) -> dict[str, dict[str, int]]:
        """How many jobs of each kind are in each state."""
        rows = self.store._conn().execute("SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state").fetchall()
        out: dict[str, dict[str, int]] = {}
        for kind, state, n in rows:
            out.setdefault(kind, {})[state] = n
        return out

    # Actions ------------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """Stop a job through the service that owns its kind (a download keeps its partial files,
        a training run saves a checkpoint, a batch keeps its answers)."""
        job = self.store.get(job_id)
        eng = self.engine
        if job.kind == "download":
            return eng.downloads.cancel(job_id)
        if job.kind == "batch":
            return eng.chat.batch_cancel(job_id)
        if job.kind == "train":
            return eng.training.cancel(job_id)
        if job.kind == "video":
            return eng.video.cancel(job_id)
        return eng.runner.cancel(job_id)  # verifications, and kinds only another process runs

    def resume(self, job_id: str) -> Job:
        """Resume (or retry, for a failed job) with the same parameters: a download continues from
        its partial files, a batch with its unanswered prompts, a training run from its last
        checkpoint, a video generation from the start with the same seed."""
        job = self.store.get(job_id)
        if job.active:
            raise ConflictError(f"Job {job_id} is {job.state.value}; there is nothing to resume",
                                details={"job_id": job_id, "state": job.state.value})
        if job.state == JobState.COMPLETED:
            raise ConflictError(f"Job {job_id} is completed", details={"job_id": job_id, "state": job.state.value},
                                resolution_steps=["Start a new job with the same settings"])
        return self.store.resume(job_id)

    def delete(self, job_id: str, *, delete_files: bool = False) -> dict[str, Any]:
        """Remove a finished job's row (409 for a queued or running one); see the module docstring
        for its files."""
        job = self.store.get(job_id)
        if job.state in ACTIVE:
            raise ConflictError(f"Job {job_id} is {job.state.value}; cancel it first",
                                details={"job_id": job_id, "state": job.state.value},
                                resolution_steps=[f"Cancel it (POST /jobs/{job_id}/cancel), then delete it"])
        freed = self._delete_files(job) if delete_files else 0
        self.store.delete(job_id)
        return {"deleted": job_id, "kind": job.kind, "files_deleted": bool(delete_files and freed),
                "bytes_freed": freed}

    def _files(self, job: Job) -> builtins.list[Path]:  # (``list`` is a method here)
        home = self.engine.settings.home_path
        if job.kind == "batch":
            return [home / "batches" / f"{job.id}.jsonl", home / "batches" / f"{job.id}.prompts.json"]
        if job.kind == "train":
            return [self.engine.training.runs_dir / job.id]
        if job.kind == "video":
            return [self.engine.video.outputs_dir / job.id]
        return []  # downloads: the model stays in the cache

    def _delete_files(self, job: Job) -> int:
        freed = 0
        for path in self._files(job):
            if path.is_symlink() or not path.exists():
                continue
            freed += _tree_bytes(path)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return freed

    def cleanup(self, older_than_days: float, *, kinds: builtins.list[str] | None = None, dry_run: bool = False,
                delete_files: bool = False, now: float | None = None) -> dict[str, Any]:
        """Delete every finished job (not queued or running) that ended more than ``older_than_days``
        ago (``finished_at``, else ``updated_at``); ``0`` means every finished job. ``dry_run`` only
        says which."""
        if isinstance(older_than_days, bool) or not isinstance(older_than_days, int | float) or older_than_days < 0:
            raise ValidationError("older_than_days must be a number of days >= 0",
                                  details={"parameter": "older_than_days", "value": str(older_than_days)[:50]})
        cutoff = (time.time() if now is None else now) - float(older_than_days) * DAY
        finished = [s for s in JobState if s not in ACTIVE]
        picked: list[Job] = []
        every: builtins.list[str | None] = [None]  # no kinds given: every kind
        for kind in kinds or every:
            for job in self.store.list(kind, finished, limit=MAX_CLEANUP):
                if (job.finished_at or job.updated_at) <= cutoff:
                    picked.append(job)
        picked.sort(key=lambda j: j.created_at)
        freed = 0
        deleted: list[dict[str, Any]] = []
        for job in picked:
            entry = {"id": job.id, "kind": job.kind, "state": job.state.value, "title": job.title,
                     "finished_at": job.finished_at or job.updated_at}
            if not dry_run:
                try:
                    freed += self.delete(job.id, delete_files=delete_files)["bytes_freed"]
                except ConflictError:  # restarted meanwhile
                    continue
            deleted.append(entry)
        return {"count": len(deleted), "jobs": deleted, "dry_run": dry_run, "older_than_days": older_than_days,
                "bytes_freed": freed}
