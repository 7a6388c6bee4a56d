"""``%studio video`` (generate, follow, then show the clip) and ``%studio videos``."""

from __future__ import annotations

import sys
from typing import Any

from .._format import human_duration, human_size
from .._views import Table
from ..core.jobs import JobState
from ..errors import error_from_dict
from ._base import Handlers, follow_steps
from ._commands import VideoArgs, VideosArgs


class VideoHandlers(Handlers):
    def handle_video(self, args: VideoArgs) -> Any:
        from ..core.refs import ModelRef
        from ..errors import NotFoundError

        eng = self._engine()
        repo_id = ModelRef.parse(args.model).repo_id
        options = {"negative_prompt": args.negative, "image": args.image, "last_image": args.last_image,
                   "width": args.width, "height": args.height,
                   "num_frames": args.frames, "fps": args.fps, "steps": args.steps, "guidance": args.guidance,
                   "seed": args.seed, "lora": args.lora, "lora_scale": args.lora_scale, "offload": args.offload,
                   "device": args.device}
        try:
            job = eng.video.generate(repo_id, args.prompt, **options)
        except NotFoundError as exc:
            download = exc.details.get("download")
            if not download:
                raise
            if not args.download:
                size = human_size(download.get("size")) if download.get("size") else "size unknown"
                print(f"{repo_id} is not on this machine ({size}); download it first: %studio pull {repo_id} "
                      f"(or add --download)", file=sys.stderr)
                return None
            pulled = self._follow(eng, eng.downloads.start(repo_id))
            if pulled is None or pulled.state != JobState.COMPLETED:
                return None
            job = eng.video.generate(repo_id, args.prompt, **options)
        return self._follow_video(eng, job)

    def _follow_video(self, eng: Any, job: Any) -> Any:
        """A tqdm bar of denoising steps (phase and ETA) until the clip is written; then the video.

        Ctrl-C (interrupting the kernel) cancels the generation between two steps.
        """
        from .._views import VideoView

        try:
            job = follow_steps(job, lambda p: p.message or "")
        except KeyboardInterrupt:
            job = eng.video.cancel(job.id)
            print(f"cancelled generation {job.id}", file=sys.stderr)
            return None
        if job.state == JobState.FAILED:
            raise error_from_dict(job.error or {"message": f"Generation {job.id} failed"})
        if job.state != JobState.COMPLETED:
            print(f"generation {job.id} is {job.state.value}", file=sys.stderr)
            return None
        return VideoView(job)

    def handle_videos(self, args: VideosArgs) -> Table:
        eng = self._engine()
        rows = []
        for job in eng.video.list(limit=args.limit):
            p, r = job.params, job.result or {}
            rows.append((job.id, job.state.value, p.get("model"), (p.get("prompt") or "")[:40],
                         f"{p.get('width')}x{p.get('height')}", p.get("num_frames"), p.get("steps"), p.get("seed"),
                         human_duration(r.get("elapsed")) if r.get("elapsed") else "", r.get("video") or ""))
        return Table(("id", "state", "model", "prompt", "size", "frames", "steps", "seed", "took", "video"), rows,
                     empty='no generations yet; start one with %studio video "PROMPT" --model M')
