"""REST callers reach server files only inside Jupyter's root_dir (and, for outputs, the studio home).

A dataset given to /training/estimate or /training/runs, a merge's out_dir, extra model folders
and a video LoRA are resolved (``~``, ``..``, symlinks) and must land inside the allowed roots,
else 403 ForbiddenPathError, the same whether or not the outside file exists. Python callers (a
kernel's widgets: ``api.call`` without roots) keep full paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_studio import api as studio_api
from model_studio.core.refs import ModelRef
from model_studio.errors import ValidationError
from tests.server.conftest import assert_error, poll

TINY = "tiny-org/tiny-llama"
ROWS = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                        {"role": "assistant", "content": f"a{i}"}]}) + "\n" for i in range(4))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside Jupyter's root_dir (tmp_path/root_dir) holding a readable data file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.jsonl").write_text(ROWS)
    return folder


async def datasets(api) -> list[str]:
    r = await api("GET", "datasets")
    assert r.code == 200, r
    return [d["name"] for d in r.json["datasets"]]


async def download_tiny(api) -> None:
    r = await api("POST", "downloads", body={"model": TINY})
    assert r.code == 202, r
    job = await poll(api, f"downloads/{r.json['id']}", lambda j: j["state"] in ("completed", "failed"), 60)
    assert job["state"] == "completed", job


def assert_forbidden(r, parameter: str) -> dict:
    err = assert_error(r, 403, "ForbiddenPathError")
    assert err["details"]["parameter"] == parameter, err
    return err


async def test_a_dataset_outside_root_dir_is_refused_and_nothing_is_imported(api, outside, jp_root_dir):
    # Given a readable .jsonl outside root_dir, a symlink to it inside, and a traversal out of root_dir
    (jp_root_dir / "link.jsonl").symlink_to(outside / "secret.jsonl")
    (jp_root_dir / "sub").mkdir()
    attempts = [str(outside / "secret.jsonl"), "link.jsonl", "../outside/secret.jsonl",
                "sub/../../outside/secret.jsonl", str(jp_root_dir / "sub" / ".." / ".." / "outside" / "secret.jsonl")]
    for dataset in attempts:
        # When it is given as the dataset of an estimate or of a new run
        for path in ("training/estimate", "training/runs"):
            r = await api("POST", path, body={"base": TINY, "dataset": dataset})
            # Then 403 names the parameter and root_dir, and nothing reaches the dataset store
            err = assert_forbidden(r, "dataset")
            assert err["details"]["allowed_roots"] == [str(jp_root_dir)], err
    assert await datasets(api) == []
    assert (await api("GET", "datasets/secret/preview")).code == 404


async def test_the_answer_does_not_tell_whether_an_outside_file_exists(api, outside):
    there = await api("POST", "training/estimate", body={"base": TINY, "dataset": str(outside / "secret.jsonl")})
    missing = await api("POST", "training/estimate", body={"base": TINY, "dataset": str(outside / "nope.jsonl")})
    assert there.code == missing.code == 403
    assert there.json == missing.json


async def test_a_dataset_inside_root_dir_is_imported_and_a_stored_name_still_works(api, jp_root_dir, outside):
    # Given the tiny llama and a data file inside root_dir (relative paths are from root_dir)
    await download_tiny(api)
    (jp_root_dir / "data").mkdir()
    (jp_root_dir / "data" / "mine.jsonl").write_text(ROWS)

    # When it is estimated by relative path
    r = await api("POST", "training/estimate", body={"base": TINY, "dataset": "data/mine.jsonl", "steps": 2})
    # Then it is accepted and imported under its own name
    assert r.code == 200, r
    assert r.json["memory_bytes"] > 0 and r.json["steps"] == 2
    assert await datasets(api) == ["mine"]
    assert (await api("GET", "datasets/mine")).json["rows"] == 4
    # And a stored dataset's name is a name, not a path (nothing to confine)
    r = await api("POST", "training/estimate", body={"base": TINY, "dataset": "mine", "steps": 2})
    assert r.code == 200, r


async def test_merge_output_folder_must_stay_inside_root_dir_or_the_studio_home(api, outside, jp_root_dir,
                                                                              studio_env):
    for out_dir in (str(outside / "merged"), "../outside/merged", "/etc/merged"):
        assert_forbidden(await api("POST", "training/runs/tra-000000000000/merge", body={"out_dir": out_dir}),
                         "out_dir")
    # Inside root_dir or the studio home the path is accepted: the unknown run is what fails
    for out_dir in ("merged", str(Path(studio_env["MODEL_STUDIO_HOME"]) / "merged")):
        assert_error(await api("POST", "training/runs/tra-000000000000/merge", body={"out_dir": out_dir}), 404,
                     "NotFoundError")


async def test_extra_model_dirs_over_rest_stay_inside_root_dir_or_the_studio_home(api, outside, jp_root_dir,
                                                                                studio_env):
    saved = Path(studio_env["MODEL_STUDIO_HOME"]) / "settings.json"
    (jp_root_dir / "escape").symlink_to(outside, target_is_directory=True)
    for dirs in ([str(outside)], [str(jp_root_dir / "escape")], [str(jp_root_dir), str(outside)], ["/"]):
        assert_forbidden(await api("PATCH", "settings", body={"extra_model_dirs": dirs}), "extra_model_dirs")
    assert not saved.exists()
    assert (await api("GET", "settings")).json["settings"]["extra_model_dirs"] == []

    home_models = str(Path(studio_env["MODEL_STUDIO_HOME"]).resolve() / "models")
    inside = str(jp_root_dir.resolve() / "models")
    r = await api("PATCH", "settings", body={"extra_model_dirs": [inside, home_models]})
    assert r.code == 200, r
    assert r.json["settings"]["extra_model_dirs"] == [inside, home_models]
    assert json.loads(saved.read_text())["extra_model_dirs"] == [inside, home_models]


async def test_a_video_lora_outside_the_roots_is_refused(api, outside, jp_root_dir):
    (outside / "lora.safetensors").write_bytes(b"x")
    body = {"model": "org/video", "prompt": "a fox"}
    assert_forbidden(await api("POST", "video", body={**body, "lora": str(outside / "lora.safetensors")}), "lora")
    assert_forbidden(await api("POST", "video", body={**body, "lora": "../outside/lora.safetensors"}), "lora")
    # Inside root_dir the LoRA passes; what fails then is the model, which is not on this machine
    (jp_root_dir / "lora.safetensors").write_bytes(b"x")
    r = await api("POST", "video", body={**body, "lora": "lora.safetensors"})
    assert r.code != 403 and r.json["error"]["type"] != "ForbiddenPathError", r


async def test_image_base64_is_never_read_as_a_server_file(api, outside):
    # Given a PNG outside root_dir
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 0, 0)).save(outside / "private.png")
    # When its path is sent as image_base64, Then it is refused as not base64 (the file is not read)
    err = assert_error(await api("POST", "video", body={"model": "org/video", "prompt": "x",
                                                        "image_base64": str(outside / "private.png")}),
                       400, "ValidationError")
    assert err["details"]["field"] == "image_base64", err


async def test_a_training_run_id_is_not_a_path(api, outside):
    # Given a log.txt and a result.json outside the studio home
    (outside / "log.txt").write_text("PRIVATE LOG\n")
    (outside / "result.json").write_text(json.dumps({"base_dir": str(outside / "gone"),
                                                    "adapter": str(outside / "gone")}))
    # When a run id climbs out of <home>/runs (the URL decodes %2F after routing)
    r = await api("GET", "training/runs/..%2F..%2Foutside/logs")
    # Then nothing is read
    assert r.code in (400, 404) and b"PRIVATE" not in r.body, r
    err = assert_error(await api("POST", "chat/load", body={"model": "run/../../outside"}), 400, "ValidationError")
    assert err["details"]["model"] == "run/../../outside"


@pytest.mark.parametrize("name", ["../x/y", "/etc/passwd", "local/../../etc", "a/..", "org/na..me", "./a/b",
                                  "~/.ssh/id", "local/a/b"])
def test_model_names_are_never_paths(name):
    with pytest.raises(ValidationError):
        ModelRef.parse(name)


def test_python_callers_keep_full_paths(engine, outside, tmp_path):
    # Given the operations table called as a kernel's widget does (no roots)
    result = studio_api.call(engine, "settings.update", {"extra_model_dirs": [str(outside)]})
    # Then a folder anywhere is accepted
    assert result["settings"]["extra_model_dirs"] == [str(outside)]
    # While the same call confined to a root_dir is refused
    with pytest.raises(PermissionError):
        studio_api.call(engine, "settings.update", {"extra_model_dirs": [str(outside)]},
                        roots={studio_api.ROOT_DIR: tmp_path / "root_dir", studio_api.STUDIO_HOME: tmp_path / "h"})
