"""The tiny diffusers video pipelines build offline, load from their folders, run fast and are deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from tests.fixtures.video_models import (  # noqa: E402
    TINY_VIDEO_DEFAULTS,
    TINY_VIDEO_PIPELINES,
    TINY_VIDEO_REPOS,
    build_tiny_video_pipelines,
)

FAMILIES = sorted(TINY_VIDEO_REPOS)


@pytest.fixture(scope="module")
def video_folders(tiny_model_cache: Path) -> dict[str, Path]:
    return build_tiny_video_pipelines(tiny_model_cache)


@pytest.fixture(scope="module")
def pipes(video_folders: dict[str, Path]) -> dict:
    import diffusers

    out = {}
    for family, folder in video_folders.items():
        pipe = diffusers.DiffusionPipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        out[family] = pipe
    return out


def _run(pipe, family: str, seed: int = 0, **kw):
    d = TINY_VIDEO_DEFAULTS[TINY_VIDEO_REPOS[family]]
    args = dict(
        prompt="a red fox runs in the snow",
        width=d["width"],
        height=d["height"],
        num_frames=d["num_frames"],
        num_inference_steps=d["steps"],
        output_type="np",
        generator=torch.Generator().manual_seed(seed),
    )
    args.update(kw)
    return pipe(**args).frames


def test_build_is_cached(video_folders: dict[str, Path], tiny_model_cache: Path):
    assert set(video_folders) == set(TINY_VIDEO_REPOS)
    base = next(iter(video_folders.values())).parent
    assert (base / ".done").exists()
    stamp = {
        f: (f / "transformer" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
        for f in video_folders.values()
    }
    again = build_tiny_video_pipelines(tiny_model_cache)
    assert again == video_folders
    assert stamp == {
        f: (f / "transformer" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
        for f in again.values()
    }
    for family, folder in video_folders.items():
        index = json.loads((folder / "model_index.json").read_text())
        assert index["_class_name"] == TINY_VIDEO_PIPELINES[family]
        for sub in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
            assert (folder / sub).is_dir(), (family, sub)
        assert list(folder.rglob("*.safetensors")) and not list(folder.rglob("*.bin"))


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_shape_and_determinism(pipes: dict, family: str):
    pipe = pipes[family]
    assert type(pipe).__name__ == TINY_VIDEO_PIPELINES[family]
    d = TINY_VIDEO_DEFAULTS[TINY_VIDEO_REPOS[family]]
    steps: list[int] = []

    def on_step(p, i, t, kw):
        steps.append(i)
        return kw

    a = _run(pipe, family, callback_on_step_end=on_step)
    assert a.shape == (1, d["num_frames"], d["height"], d["width"], 3)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert steps == list(range(d["steps"]))
    b = _run(pipe, family)
    assert (a == b).all()
    c = _run(pipe, family, seed=1)
    assert not (a == c).all()


def test_ltx_image_to_video(pipes: dict):
    import diffusers
    import numpy as np
    from diffusers.utils import logging as dlogging
    from PIL import Image

    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()  # from_pipe's dtype cast warns about an empty fp32 module list
    try:
        i2v = diffusers.LTXImageToVideoPipeline.from_pipe(pipes["ltx"])
    finally:
        dlogging.set_verbosity(level)
    i2v.set_progress_bar_config(disable=True)
    image = Image.fromarray((np.random.RandomState(0).rand(48, 64, 3) * 255).astype("uint8"))
    d = TINY_VIDEO_DEFAULTS[TINY_VIDEO_REPOS["ltx"]]
    frames = _run(i2v, "ltx", image=image)
    assert frames.shape == (1, d["num_frames"], d["height"], d["width"], 3)


def test_fake_hub_lists_video_repos(fake_hub):
    from huggingface_hub import HfApi

    for repo_id in TINY_VIDEO_REPOS.values():
        assert repo_id in fake_hub.tiny_repos
        files = fake_hub.repo_files(repo_id)
        assert "model_index.json" in files and "README.md" in files
        assert "transformer/diffusion_pytorch_model.safetensors" in files
        assert files["transformer/diffusion_pytorch_model.safetensors"].is_lfs
    api = HfApi(endpoint=fake_hub.url)
    listed = {m.id for m in api.list_models(pipeline_tag="text-to-video")}
    assert listed == set(TINY_VIDEO_REPOS.values())
    info = api.model_info(TINY_VIDEO_REPOS["wan"])
    assert info.library_name == "diffusers" and info.pipeline_tag == "text-to-video"
    assert "model_index.json" in {s.rfilename for s in info.siblings or []}
