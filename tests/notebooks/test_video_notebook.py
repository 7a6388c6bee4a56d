"""The video notebook runs top to bottom (nbval, in a real kernel) with the tiny Wan from the fake Hub."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.fixtures.video_models import TINY_VIDEO_DEFAULTS, TINY_VIDEO_REPOS
from tests.notebooks._nbval import run_nbval

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
    run_nbval(NOTEBOOK, fake_hub.url, tmp_path, cell_timeout=180, timeout=600,
              STUDIO_VIDEO_MODEL=model,
              STUDIO_VIDEO_WIDTH=str(size["width"]),
              STUDIO_VIDEO_HEIGHT=str(size["height"]),
              STUDIO_VIDEO_FRAMES=str(size["num_frames"]),
              STUDIO_VIDEO_STEPS="2")
    outputs = sorted((tmp_path / "studio-home" / "outputs").glob("*/video.mp4"))
    assert len(outputs) == 2, outputs  # the Python generation and the magic's
    for video in outputs:
        params = json.loads((video.parent / "params.json").read_text())
        assert params["model"] == model and params["num_frames"] == size["num_frames"] and params["steps"] == 2
