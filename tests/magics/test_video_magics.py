"""``%studio video`` and ``%studio videos`` in a plain IPython shell, on the tiny Wan pipeline
served by the fake Hub (downloaded through the engine, or by ``--download``)."""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("imageio_ffmpeg")

from model_studio._views import Table, VideoView  # noqa: E402
from model_studio.core.jobs import JobState  # noqa: E402
from tests.fixtures.video_models import TINY_VIDEO_REPOS  # noqa: E402

WAN = TINY_VIDEO_REPOS["wan"]
TINY = "--frames 9 --width 32 --height 32 --steps 2"


@pytest.fixture
def wan(studio_engine):
    job = studio_engine.downloads.start(WAN).wait(timeout=120)
    assert job.state == JobState.COMPLETED, job.error
    return WAN


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_video_follows_to_the_end_and_embeds_the_mp4(studio, wan, capsys):
    view = studio(f'video "a fox" --model {WAN} {TINY} --seed 3')
    out = capsys.readouterr()
    assert isinstance(view, VideoView), out.err
    job = view.job
    assert job.kind == "video" and job.state == JobState.COMPLETED
    p = job.params
    assert (p["model"], p["prompt"], p["num_frames"], p["width"], p["height"], p["steps"], p["seed"]) == (
        WAN, "a fox", 9, 32, 32, 2, 3)
    assert job.result["frames"] == 9 and view.path == job.result["video"]
    html = view._repr_mimebundle_()["text/html"]
    assert "<video" in html and "src='data:video/mp4;base64," in html
    text = view._repr_mimebundle_()["text/plain"]
    assert job.result["video"] in text and "seed 3" in text
    assert "2/2" in out.err  # the tqdm bar of denoising steps


def test_a_bad_frame_count_is_one_line_with_the_nearest_value(studio, wan, studio_engine, capsys):
    assert studio(f'video "a fox" --model {WAN} --frames 8 --width 32 --height 32 --steps 2') is None
    line = one_error_line(capsys)
    assert "num_frames" in line and "9" in line
    assert studio_engine.video.list() == []


def test_a_model_that_is_not_local_offers_pull_or_download(studio, studio_engine, capsys):
    assert studio(f'video "a fox" --model {WAN} {TINY}') is None
    line = one_error_line(capsys)
    assert WAN in line and f"%studio pull {WAN}" in line and "--download" in line
    assert studio_engine.video.list() == [] and studio_engine.downloads.list() == []


def test_download_then_generate(studio, studio_engine, capsys):
    view = studio(f'video "a fox" --model {WAN} {TINY} --seed 4 --download')
    out = capsys.readouterr()
    assert isinstance(view, VideoView), out.err
    assert view.job.state == JobState.COMPLETED and view.job.params["seed"] == 4
    assert studio_engine.library.local.get(WAN) is not None
    assert [j.state.value for j in studio_engine.downloads.list()] == ["completed"]
    assert out.err.strip()  # the download's progress, then the steps


def test_videos_lists_the_generations_newest_first(studio, wan, capsys):
    empty = studio("videos")
    assert isinstance(empty, Table) and len(empty) == 0 and "no generations yet" in empty.to_text()
    first = studio(f'video "a fox" --model {WAN} {TINY} --seed 3').job
    second = studio(f'video "an owl" --model {WAN} {TINY} --seed 5').job
    table = studio("videos")
    assert isinstance(table, Table) and len(table) == 2
    assert table.column("id") == [second.id, first.id]
    assert table.column("state") == ["completed", "completed"]
    assert table.column("model") == [WAN, WAN] and table.column("prompt") == ["an owl", "a fox"]
    assert table.column("seed") == [5, 3] and table.column("frames") == [9, 9]
    assert table.column("video") == [second.result["video"], first.result["video"]]
    assert second.id in table.to_text() and second.id in table.to_html()
    assert len(studio("videos --limit 1")) == 1


def test_a_missing_image_is_one_line(studio, wan, studio_engine, tmp_path, capsys):
    missing = tmp_path / "nowhere.png"
    assert studio(f'video "a fox" --model {WAN} {TINY} --image {missing}') is None
    line = one_error_line(capsys)
    assert str(missing) in line
    assert studio_engine.video.list() == []


@pytest.mark.parametrize("line", ['video --model m', 'video "x"', 'video "x" --model m --frames 0',
                                  'video "x" --model m --offload turbo', "videos --limit none"])
def test_bad_arguments_show_usage(studio, studio_engine, capsys, line):
    assert studio(line) is None
    err = capsys.readouterr().err
    assert "UsageError" in err and "usage: %studio" in err
    assert studio_engine.video.list() == []
