"""Is a video model ready here? Downloaded, verified, fits (with which strategy) and loaded, in one view.

``readiness(service, model)`` answers without loading a weight or calling the Hub:

* downloaded: the snapshot on disk (revision, bytes) or, for a catalog model, its expected size and
  whether a download of it is under way;
* verified: the last ``library.verify`` of this revision if there was one (sha256 against the Hub),
  else the download that fetched this revision (every file was checked as it arrived), else a quick
  size check (every file present, non-empty and not found broken by the local scan);
* fits: the memory planner at the model's default settings on this machine's device (the plan of
  ``video.plan`` with no values given), or why not;
* loaded: whether the pipeline cache holds it, on which device, and whether it is generating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import StudioError
from ..jobs import JobState
from ..refs import ModelRef

if TYPE_CHECKING:
    from ..local import LocalModel
    from .service import VideoService

_DOWNLOAD = "download"  # the downloads' job kind (core.downloads.manager.KIND)


def readiness(service: VideoService, model: str) -> dict[str, Any]:
    """The readiness view of ``model`` (a local pipeline or a catalog model); NotFoundError otherwise."""
    repo_id = ModelRef.coerce(model).repo_id
    profile = service.profile(repo_id)  # NotFoundError (with the download offer) for an unknown model
    local = service.catalog.local(repo_id)
    entry = service.library.catalog().get(repo_id)
    desc = service.catalog.describe(repo_id, profile, local=local, entry=entry if entry and entry.get("video") else None)
    downloaded = _downloaded(service, repo_id, local, desc)
    verified = _verified(service, repo_id, local)
    fits = _fits(service, repo_id, image=not profile.text_to_video, last_image=profile.last_image_required)
    loaded = _loaded(service, repo_id)
    ready = bool(downloaded["local"] and verified["ok"] is not False and fits["fits"])
    return {
        "model": repo_id, "name": desc["name"], "pipeline": profile.pipeline, "family": profile.family,
        "text_to_video": profile.text_to_video, "image_to_video": profile.image_to_video,
        "last_image": profile.last_image, "last_image_required": profile.last_image_required,
        "in_catalog": entry is not None,
        "downloaded": downloaded, "verified": verified, "fits": fits, "loaded": loaded, "ready": ready,
    }


def _downloaded(service: VideoService, repo_id: str, local: LocalModel | None, desc: dict[str, Any]) -> dict[str, Any]:
    active = [j for j in service.store.list(_DOWNLOAD, [JobState.QUEUED, JobState.RUNNING, JobState.PAUSED],
                                            limit=50) if j.params.get("repo_id") == repo_id]
    job = active[0] if active else None
    return {
        "local": local is not None, "revision": local.commit if local is not None else None,
        "bytes": local.size_on_disk if local is not None else None, "expected_bytes": desc.get("size"),
        "files": len(local.files) if local is not None else 0,
        "download_job": job.id if job is not None else None,
        "download_state": job.state.value if job is not None else None,
    }


def _verified(service: VideoService, repo_id: str, local: LocalModel | None) -> dict[str, Any]:
    if local is None:
        return {"ok": None, "method": None, "checked_at": None, "detail": "not downloaded"}
    last = service.library.last_verify.get(repo_id)
    if last is not None and last.get("commit") == local.commit:
        bad = len(last.get("mismatches") or []) + len(last.get("extra") or [])
        return {"ok": bool(last.get("ok")), "method": "verify", "checked_at": last.get("checked_at"),
                "detail": f"{last.get('checked', 0)} files checked against the Hub's checksums"
                          + (f"; {bad} did not match" if bad else "")}
    for job in service.store.list(_DOWNLOAD, [JobState.COMPLETED], limit=200):
        result = job.result if isinstance(job.result, dict) else {}
        if job.params.get("repo_id") == repo_id and result.get("commit") == local.commit and result.get("verified"):
            return {"ok": not local.errors, "method": "download", "checked_at": job.finished_at,
                    "detail": f"{result['verified']} files checked (sha256 / git sha1) when downloaded"
                              + (f"; now broken: {', '.join(sorted(local.errors))}" if local.errors else "")}
    # A quick size check: every file there and non-empty, none found broken by the scan.
    empty = [f for f in local.files if _size(local, f) == 0]
    broken = sorted(set(local.errors) | set(empty))
    return {"ok": not broken, "method": "size", "checked_at": None,
            "detail": (f"{len(local.files)} files present and non-empty (sizes only; verify checks the contents)"
                       if not broken else f"broken or empty: {', '.join(broken[:5])}")}


def _size(local: LocalModel, name: str) -> int:
    try:
        return local.file_path(name).stat().st_size if local.snapshot is not None else 1
    except OSError:
        return 0


def _fits(service: VideoService, repo_id: str, *, image: bool, last_image: bool) -> dict[str, Any]:
    try:
        p = service.plan(repo_id, has_image=image, has_last_image=last_image)
    except StudioError as exc:
        return {"fits": False, "strategy": None, "device": None, "device_name": None, "peak_bytes": None,
                "free_bytes": (exc.details or {}).get("free"), "needed_bytes": (exc.details or {}).get("needed"),
                "request": None, "error": exc.to_dict()["error"]}
    s = p["strategy"]
    return {"fits": bool(p["fits"]), "strategy": s["name"], "offload": s["offload"], "device": p["device"],
            "device_name": p["device_name"], "dtype": p["dtype"], "peak_bytes": s["peak_bytes"],
            "free_bytes": p["free_bytes"], "needed_bytes": s["peak_bytes"], "request": p["request"], "error": None}


def _loaded(service: VideoService, repo_id: str) -> dict[str, Any]:
    held = [h for h in service.loaded() if h["model"] == repo_id]
    if not held:
        return {"loaded": False, "device": None, "busy": False, "memory_bytes": 0, "idle_seconds": None}
    h = held[0]
    return {"loaded": True, "device": h["device"], "busy": h["busy"], "memory_bytes": h["memory_bytes"],
            "idle_seconds": h["idle_seconds"], "dtype": h["dtype"], "offload": h["offload"]}
