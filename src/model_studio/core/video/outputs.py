"""The files of a generation: ``<home>/outputs/<job_id>/`` and how they are written and read.

``video.mp4`` (diffusers' ``export_to_video``; written to a temporary name and renamed, so a file
called ``video.mp4`` is always whole), ``thumbnail.jpg``, ``params.json`` (every parameter, the model
revision, the seed and the memory plan), ``input.png`` for image-to-video and ``last.png`` (the last
frame) for first-last-frame.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from ...errors import NotFoundError, ValidationError
from ..jobs import Job
from ..refs import ensure_within

#: Largest file ``media()`` sends as base64 (a widget message); bigger ones are read from the path.
MAX_MEDIA_BYTES = 64 << 20
MEDIA = {"video": ("video.mp4", "video/mp4"), "thumbnail": ("thumbnail.jpg", "image/jpeg"),
         "image": ("input.png", "image/png"), "last_image": ("last.png", "image/png")}
#: The input images kept with a generation (so it can run again).
INPUTS = ("input.png", "last.png")


class Outputs:
    """The output folders under ``root`` (``<home>/outputs``), one per generation."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save_input(self, job_id: str, pil: Any, name: str = "input.png") -> Path:
        """Keep an input image of a generation (``input.png``, or ``last.png``: the last frame)."""
        assert name in INPUTS
        out_dir = self.root / job_id
        out_dir.mkdir(parents=True, exist_ok=True)
        image_path = out_dir / name
        _atomic_save(image_path, lambda p: pil.save(p, format="PNG"))
        return image_path

    def write_video(self, job: Job, frames: Any) -> dict[str, Any]:
        """The MP4 and its thumbnail from ``frames``; returns the generation's result."""
        import numpy as np
        from diffusers.utils import export_to_video
        from PIL import Image

        out_dir = self.root / job.id
        p = job.params
        frames = np.asarray(frames)
        if frames.dtype == np.uint8:  # a pipeline that returned bytes: export_to_video wants [0, 1]
            frames = frames.astype(np.float32) / 255.0
        # export_to_video scales numpy frames by 255 itself (bytes would wrap around); diffusers'
        # video processor already clamps to [0, 1], so the frames go as they are (no copy).
        out_dir.mkdir(parents=True, exist_ok=True)
        video = out_dir / "video.mp4"
        fps = int(p["fps"])
        # imageio picks the writer from the extension, so the temporary name ends in .mp4 too.
        _atomic_save(video, lambda tmp: export_to_video(list(frames), str(tmp), fps=fps), suffix=".mp4")
        thumb = out_dir / "thumbnail.jpg"
        middle = Image.fromarray((np.clip(frames[len(frames) // 2], 0.0, 1.0) * 255).round().astype(np.uint8))
        middle.thumbnail((320, 320))
        _atomic_save(thumb, lambda tmp: middle.save(tmp, format="JPEG", quality=85))
        n, h, w = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
        return {"video": str(video), "thumbnail": str(thumb), "params_file": str(out_dir / "params.json"),
                "frames": n, "width": w, "height": h, "fps": fps, "duration": round(n / fps, 3),
                "bytes": video.stat().st_size, "seed": int(p["seed"])}

    def write_params(self, job: Job, result: dict[str, Any]) -> None:
        """``params.json``: the job's parameters, its result and the libraries' versions."""
        versions: dict[str, str] = {}
        for mod in ("diffusers", "torch", "transformers"):
            try:
                versions[mod] = __import__(mod).__version__
            except Exception:
                pass
        record = {"job_id": job.id, "created_at": job.created_at, **{k: v for k, v in job.params.items()},
                  "result": {k: v for k, v in result.items() if k not in ("video", "thumbnail", "params_file")},
                  "versions": versions}
        _atomic_save(self.root / job.id / "params.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2)))

    def discard(self, job_id: str, *, keep_input: bool = False) -> None:
        """Remove a stopped generation's outputs (and leftovers of a write cut short)."""
        out_dir = self.root / job_id
        if not out_dir.is_dir():
            return
        for child in out_dir.iterdir():
            if keep_input and child.name in INPUTS:
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        if not any(out_dir.iterdir()):
            out_dir.rmdir()

    def delete(self, job_id: str) -> int:
        """Remove a generation's folder; returns the bytes it held."""
        out_dir = self.root / job_id
        size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file()) if out_dir.is_dir() else 0
        shutil.rmtree(out_dir, ignore_errors=True)
        return size

    def path(self, job: Job, what: str) -> Path:
        """The file ``what`` (a key of ``MEDIA``) of ``job``; NotFoundError when it has none."""
        path = ensure_within(self.root, self.root / job.id / MEDIA[what][0])
        if not path.is_file():
            raise NotFoundError(f"Generation {job.id} has no {what} ({job.state.value})",
                                details={"job_id": job.id, "what": what, "state": job.state.value})
        return path

    @staticmethod
    def read(path: Path, job_id: str, what: str) -> dict[str, Any]:
        """A generation's file as base64 (for widgets, which have no file route)."""
        size = path.stat().st_size
        if size > MAX_MEDIA_BYTES:
            raise ValidationError(f"The {what} is {size} bytes, over the {MAX_MEDIA_BYTES}-byte limit of a widget message",
                                  details={"job_id": job_id, "what": what, "bytes": size, "path": str(path)},
                                  resolution_steps=[f"Open it from {path}",
                                                    f"Or fetch /model-studio/api/video/{job_id}/video.mp4"])
        data = path.read_bytes()
        return {"mime": MEDIA[what][1], "base64": base64.b64encode(data).decode("ascii"), "bytes": len(data)}


def _atomic_save(path: Path, write: Any, *, suffix: str = "") -> None:
    """Write through ``write(tmp_path)`` then rename, so ``path`` is whole or absent."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp{suffix or path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
