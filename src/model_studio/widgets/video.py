"""``VideoStudio``: the video generation form, its memory plan, the queue, the player and the gallery.

A view over the ``video.*`` operations of ``model_studio.api`` and the job feed: it receives
``job`` events of generations only (kind ``"video"``, with step, phase and ETA), and fetches a
finished video or thumbnail through ``video.media`` (the kernel has no file route).
"""

from __future__ import annotations

from typing import Any

import traitlets

from ._base import StudioWidget

#: The job kind of a generation (``engine/video.py``).
VIDEO_KIND = "video"


class VideoStudio(StudioWidget):
    """Text-to-video and image-to-video: model, prompt, negative prompt, input image, size presets
    valid for the model, frames and fps, steps, guidance, seed (with randomise), LoRA, offload and the
    device (auto, each GPU with its free memory, the CPU: ``video.devices``);
    the memory estimate and the chosen strategy update as the form changes; progress with step and
    ETA; cancel; the video plays inline when done; a gallery reuses a past generation's settings.

    ``job_id`` is the generation shown (synced both ways; empty: the newest), ``model`` the model
    picked in the form (synced both ways; empty: the first local video model).
    """

    _bundle = "video.js"

    #: The generation shown in the player (a job id); empty: the newest.
    job_id = traitlets.Unicode("").tag(sync=True)
    #: The model selected in the form; empty: the first local video model.
    model = traitlets.Unicode("").tag(sync=True)

    def __init__(self, job_id: Any = "", *, model: str = "", **kwargs: Any) -> None:
        # A Job (what engine.video.generate returns) may be passed for its id.
        if not isinstance(job_id, str):
            if model == "":
                model = (getattr(job_id, "params", None) or {}).get("model", "")
            job_id = getattr(job_id, "id", job_id)
        super().__init__(job_id=job_id or "", model=model or "", **kwargs)

    def _wants_job(self, job: Any) -> bool:
        return getattr(job, "kind", None) == VIDEO_KIND

    def _summary(self) -> str:
        parts = [f"job_id={self.job_id!r}" if self.job_id else "", f"model={self.model!r}" if self.model else ""]
        return ", ".join(p for p in parts if p)
