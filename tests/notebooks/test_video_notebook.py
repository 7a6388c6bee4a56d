"""The video notebook runs top to bottom (nbval, in a real kernel) with the tiny Wan from the fake Hub."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.video_models import TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "video.ipynb"


def test_video_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    sources = "\n".join("".join(c["source"]) for c in code)
    for needed in ('os.environ.get("STUDIO_VIDEO_MODEL", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers")',
                   "eng.video.models()", "eng.video.plan(", "width=832, height=480, num_frames=81",
                   'plan["reasoning"]', "eng.downloads.start(MODEL).wait()", "num_frames=80", "except ValidationError",
                   "eng.video.generate(", "seed=42", "job.wait()", "Video(", "params_file", "%load_ext model_studio",
                   '%studio video "', "--model {MODEL}", "%studio videos", "ms.VideoStudio("):
        assert needed in sources, needed
    # widgets render only once the kernel is idle: the studio is the last code cell
    assert "ms.VideoStudio(" in "".join(code[-1]["source"])


@pytest.mark.slow
def test_video_notebook_runs_with_the_tiny_wan(fake_hub, tmp_path):
    for module in ("diffusers", "torch", "imageio_ffmpeg", "nbval"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    model = TINY_VIDEO_REPOS["wan"]
    size = TINY_VIDEO_DEFAULTS[model]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MODEL_STUDIO_", "PYTEST_", "STUDIO_"))}
    env.update(
        HF_ENDPOINT=fake_hub.url,
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_CACHE=str(tmp_path / "hf-home" / "hub"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        MODEL_STUDIO_HOME=str(tmp_path / "studio-home"),
        STUDIO_VIDEO_MODEL=model,
        STUDIO_VIDEO_WIDTH=str(size["width"]),
        STUDIO_VIDEO_HEIGHT=str(size["height"]),
        STUDIO_VIDEO_FRAMES=str(size["num_frames"]),
        STUDIO_VIDEO_STEPS="2",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", str(NOTEBOOK.relative_to(ROOT)), "-p", "no:cacheprovider",
         "-q", "--nbval-cell-timeout", "180"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    outputs = sorted((tmp_path / "studio-home" / "outputs").glob("*/video.mp4"))
    assert len(outputs) == 2, outputs  # the Python generation and the magic's
    for video in outputs:
        params = json.loads((video.parent / "params.json").read_text())
        assert params["model"] == model and params["num_frames"] == size["num_frames"] and params["steps"] == 2
