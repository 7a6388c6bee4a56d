"""``%studio video ... --image A.png --last-image B.png`` on the tiny first-last-frame Wan pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

from model_studio._views import VideoView  # noqa: E402
from model_studio.core.jobs import JobState  # noqa: E402
from tests.fixtures.video_models import TINY_FLF_REPO, TINY_VIDEO_REPOS  # noqa: E402

TINY = "--frames 9 --width 32 --height 32 --steps 2"


def _png(path: Path, color) -> Path:
    from PIL import Image

    Image.new("RGB", (32, 32), color).save(path, format="PNG")
    return path


def test_first_last_frame_from_the_magic(studio, studio_engine, tmp_path, capsys):
    for repo in (TINY_FLF_REPO, TINY_VIDEO_REPOS["wan"]):
        assert studio_engine.downloads.start(repo).wait(timeout=120).state == JobState.COMPLETED
    a, b = _png(tmp_path / "A.png", (250, 0, 0)), _png(tmp_path / "B.png", (0, 0, 250))
    view = studio(f'video "a fox" --model {TINY_FLF_REPO} {TINY} --seed 2 --image {a} --last-image {b}')
    assert isinstance(view, VideoView), capsys.readouterr().err
    job = view.job
    assert job.state == JobState.COMPLETED and job.result["frames"] == 9
    assert Path(job.params["last_image"]).name == "last.png" and Path(job.params["image"]).name == "input.png"

    # a model that cannot take a last frame: one line naming it and the ones that can; nothing queued
    capsys.readouterr()
    wan = TINY_VIDEO_REPOS["wan"]
    assert studio(f'video "a fox" --model {wan} {TINY} --image {a} --last-image {b}') is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and wan in err[0] and TINY_FLF_REPO in err[0] and "Traceback" not in err[0]
    assert [j.id for j in studio_engine.video.list()] == [job.id]
