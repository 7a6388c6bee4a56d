"""Video generation time of the studio's job against a bare diffusers call, in one run.

Same pipeline folder (the tiny random-weight Wan 2.1 of ``tests/fixtures/video_models.py``,
published on a local fake Hub and downloaded by the engine), same size, frames, steps, guidance,
seed and dtype, in one process:

- ours: ``eng.video.generate(...).wait()``, timed from the call to the return of ``wait()``: the
  job record, the worker thread, the step callback (progress with ETA, cancel check), the MP4
  written under a temporary name and renamed, the thumbnail and ``params.json``.
- bare: ``DiffusionPipeline.from_pretrained(folder)`` once, then ``pipe(..., output_type="np")``
  under ``torch.inference_mode()`` and ``export_to_video`` of the frames to a file: the same work
  a script does.

Both pipelines are loaded and run once before timing (warm-up), so both sides measure generation,
not loading. ``--runs`` (5) alternating runs of each side (the side that goes first alternates too);
medians. Target: ratio bare/ours >= 0.97 (ours no more than ~3 % slower). Exits 0 even when the
target is missed (prints MISSED).

    PYTHONPATH=. .venv/bin/python bench/video.py                                    # ~15 s
    PYTHONPATH=. .venv/bin/python bench/video.py --size 64x64 --frames 17 --steps 20
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.97
PROMPT = "a red fox running through fresh snow, cinematic"


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h or w)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per side, medians (default 5)")
    ap.add_argument("--size", type=_size, default=(32, 32), metavar="WxH", help="default 32x32")
    ap.add_argument("--frames", type=int, default=9, help="default 9 (4k+1)")
    ap.add_argument("--steps", type=int, default=4, help="default 4")
    ap.add_argument("--guidance", type=float, default=5.0, help="default 5.0 (> 1: classifier-free guidance)")
    ap.add_argument("--fps", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true", help="also print the numbers as one JSON line")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    args = ap.parse_args(argv)
    width, height = args.size

    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch
    from diffusers import DiffusionPipeline
    from diffusers.pipelines import pipeline_utils
    from diffusers.utils import export_to_video
    from tests.fixtures.hub import FakeHub
    from tests.fixtures.video_models import TINY_VIDEO_REPOS, publish_tiny_video_repos

    from model_studio.config import Settings
    from model_studio.core import Engine

    model = TINY_VIDEO_REPOS["wan"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-video-"))
    try:
        hub = FakeHub(tmp / "hub")
        publish_tiny_video_repos(hub, tmp / "build")
        url = hub.start()
        eng = Engine(Settings(home=str(tmp / "home"), hf_cache=str(tmp / "hf" / "hub"), hf_endpoint=url))
        try:
            folder = eng.downloads.start(model).wait().result["path"]
            hub.stop()
            call = dict(width=width, height=height, num_frames=args.frames, steps=args.steps,
                        guidance=args.guidance, fps=args.fps, seed=args.seed)
            plan = eng.video.plan(model, **{k: v for k, v in call.items() if k != "seed"})
            dtype = plan["dtype"]

            def ours() -> tuple[float, float, Path]:
                t0 = time.perf_counter()
                job = eng.video.generate(model, PROMPT, **call).wait()
                return time.perf_counter() - t0, job.result["elapsed"], Path(job.result["video"])

            from diffusers.utils import logging as dlog

            dlog.disable_progress_bar()
            import transformers

            transformers.utils.logging.disable_progress_bar()
            keyword = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"  # renamed in 0.36
            pipe = DiffusionPipeline.from_pretrained(folder, **{keyword: getattr(torch, dtype)})
            pipe.set_progress_bar_config(disable=True)
            bare_dir = tmp / "bare"
            bare_dir.mkdir()

            def bare(i: int) -> tuple[float, Path]:
                out = bare_dir / f"video-{i}.mp4"
                t0 = time.perf_counter()
                with torch.inference_mode():
                    frames = pipe(prompt=PROMPT, height=height, width=width, num_frames=args.frames,
                                  num_inference_steps=args.steps, guidance_scale=args.guidance, output_type="np",
                                  generator=torch.Generator(device="cpu").manual_seed(args.seed)).frames[0]
                export_to_video(list(frames), str(out), fps=args.fps)
                return time.perf_counter() - t0, out

            print(f"tiny Wan ({folder}), {width}x{height}, {args.frames} frames, {args.steps} steps, "
                  f"guidance {args.guidance}, {dtype} on {plan['device']}, torch threads {torch.get_num_threads()}",
                  flush=True)
            t_load = time.perf_counter()
            _, _, first_ours = ours()  # loads our pipeline (kept for the next jobs)
            warm_ours = time.perf_counter() - t_load
            _, first_bare = bare(-1)
            ours_t: list[float] = []
            inner_t: list[float] = []
            bare_t: list[float] = []
            for i in range(args.runs):
                for side in (("ours", "bare") if i % 2 == 0 else ("bare", "ours")):
                    if side == "ours":
                        wall, inner, _ = ours()
                        ours_t.append(wall)
                        inner_t.append(inner)
                    else:
                        bare_t.append(bare(i)[0])
            # same seed, same work: the two sides' frames match (decoded from the MP4s)
            import imageio.v3 as iio

            a, b = iio.imread(first_ours), iio.imread(first_bare)
            diff = float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) if a.shape == b.shape else None
            same = diff is not None and diff < 1.0
        finally:
            eng.close()
            hub.stop()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    o, inner, r = statistics.median(ours_t), statistics.median(inner_t), statistics.median(bare_t)
    ratio = r / o
    print(f"{'':34}{'ours':>10}{'bare':>10}")
    print(f"{'median s per video (wall)':34}{o:10.3f}{r:10.3f}")
    print(f"{'  ours: inside the job (elapsed)':34}{inner:10.3f}{'':>10}")
    print(f"{'min':34}{min(ours_t):10.3f}{min(bare_t):10.3f}")
    print(f"{'max':34}{max(ours_t):10.3f}{max(bare_t):10.3f}")
    print(f"{'first run (ours incl. loading)':34}{warm_ours:10.3f}{'':>10}")
    print(f"{'runs':34}{len(ours_t):10d}{len(bare_t):10d}")
    shown = "different sizes" if diff is None else f"mean |difference| {diff:.1f} of 255"
    print(f"same video as bare (seed {args.seed}, decoded MP4s): {'yes' if same else 'NO'} ({shown})")
    print(f"ratio bare/ours = {ratio:.3f} (target >= {TARGET}) {'OK' if ratio >= TARGET else 'MISSED'}")
    if args.json:
        print(json.dumps({"width": width, "height": height, "frames": args.frames, "steps": args.steps,
                          "runs": args.runs, "ours_s": o, "ours_inner_s": inner, "bare_s": r, "ratio": ratio,
                          "same_video": same, "mean_abs_diff": diff, "target": TARGET}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
