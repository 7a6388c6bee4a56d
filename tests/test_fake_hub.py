"""The fake Hub satisfies the real huggingface_hub 2.4.0 client, offline; the tiny models load."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.hub import FakeHub, git_blob_sha1, remote_add_fault, remote_clear_faults, remote_requests

if not (Path(__file__).parent / "conftest.py").exists():
    pytest_plugins = ["tests.fixtures.pytest_plugin"]

from huggingface_hub import HfApi, hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

ROOT = Path(__file__).resolve().parents[1]
LLAMA, GGUF, README = "tiny-org/tiny-llama", "tiny-org/tiny-llama-GGUF", "tiny-org/tiny-readme"


def _dl(hub: FakeHub, cache: Path, repo: str, filename: str, **kw) -> Path:
    return Path(hf_hub_download(repo, filename, endpoint=hub.url, cache_dir=cache, **kw))


def _sha256(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


# ------------------------------------------------------------------ downloads
def test_hf_hub_download_regular_and_lfs(fake_hub: FakeHub, hf_env: Path):
    files = fake_hub.repo_files(LLAMA)
    cfg = _dl(fake_hub, hf_env, LLAMA, "config.json")
    assert cfg.read_bytes() == files["config.json"].disk_path.read_bytes()
    # regular files are cached under their git sha1, LFS files under their sha256
    assert os.path.realpath(cfg).endswith(files["config.json"].git_sha1)
    assert files["config.json"].git_sha1 == git_blob_sha1(cfg.read_bytes())
    st = _dl(fake_hub, hf_env, LLAMA, "model.safetensors")
    assert files["model.safetensors"].is_lfs
    assert os.path.realpath(st).endswith(files["model.safetensors"].sha256)
    assert _sha256(st) == files["model.safetensors"].sha256
    assert f"snapshots/{fake_hub.tiny_repos[LLAMA]}/" in str(st)
    assert (hf_env / "models--tiny-org--tiny-llama" / "refs" / "main").read_text() == fake_hub.tiny_repos[
        LLAMA
    ]
    # the LFS file went through the 302 -> CDN route, with Range support advertised
    recs = fake_hub.requests
    assert any(r.method == "HEAD" and r.status == 302 and "/resolve/" in r.path for r in recs)
    assert any(r.method == "GET" and r.path.startswith("/_cdn/") and r.status == 200 for r in recs)
    assert fake_hub.bytes_sent(f"{LLAMA}/model.safetensors") == files["model.safetensors"].size


def test_snapshot_download_one_gguf_quant(fake_hub: FakeHub, hf_env: Path):
    path = Path(
        snapshot_download(
            GGUF, endpoint=fake_hub.url, cache_dir=hf_env, allow_patterns=["*Q8_0.gguf", "README.md"]
        )
    )
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "tiny-llama.Q8_0.gguf"]
    assert path.name == fake_hub.tiny_repos[GGUF]
    assert _sha256(path / "tiny-llama.Q8_0.gguf") == fake_hub.repo_files(GGUF)["tiny-llama.Q8_0.gguf"].sha256
    assert fake_hub.bytes_sent(f"{GGUF}/*F32*") == 0
    # whole repo by commit sha, subfolders included
    p2 = Path(
        snapshot_download(
            README, endpoint=fake_hub.url, cache_dir=hf_env, revision=fake_hub.tiny_repos[README]
        )
    )
    assert json.loads((p2 / "data" / "config.json").read_text()) == {"hello": "world"}


def test_new_commit_keeps_old_one(fake_hub: FakeHub, hf_env: Path):
    old = fake_hub.tiny_repos[README]
    new = fake_hub.add_repo(README, {"notes.txt": b"v2\n"})
    assert new != old and len(new) == 40
    assert _dl(fake_hub, hf_env, README, "notes.txt").read_bytes() == b"v2\n"
    assert _dl(fake_hub, hf_env, README, "notes.txt", revision=old).read_bytes() == b"tiny notes\n" * 10
    assert HfApi(endpoint=fake_hub.url).model_info(README).sha == new
    assert "README.md" not in fake_hub.repo_files(README)


# ------------------------------------------------------------------ API
def test_model_info_files_metadata(fake_hub: FakeHub):
    api = HfApi(endpoint=fake_hub.url)
    info = api.model_info(LLAMA, files_metadata=True)
    files = fake_hub.repo_files(LLAMA)
    assert info.id == LLAMA and info.sha == fake_hub.tiny_repos[LLAMA]
    assert info.pipeline_tag == "text-generation" and info.library_name == "transformers"
    assert "llama" in info.tags and "license:apache-2.0" in info.tags
    assert info.card_data.license == "apache-2.0"
    assert info.config["model_type"] == "llama"
    assert info.safetensors.total > 0
    sib = {s.rfilename: s for s in info.siblings}
    assert set(sib) == set(files)
    st = sib["model.safetensors"]
    assert st.size == files["model.safetensors"].size and st.lfs.sha256 == files["model.safetensors"].sha256
    assert sib["config.json"].lfs is None and sib["config.json"].blob_id == files["config.json"].git_sha1
    g = api.model_info(GGUF, revision=fake_hub.tiny_repos[GGUF])
    assert g.gguf["architecture"] == "llama" and g.gguf["total"] > 0 and "gguf" in g.tags
    assert api.repo_exists(LLAMA) and not api.repo_exists("nobody/nothing")
    assert api.file_exists(LLAMA, "config.json") and not api.file_exists(LLAMA, "nope.txt")


def test_list_repo_tree_recursive_and_paginated(fake_hub: FakeHub):
    api = HfApi(endpoint=fake_hub.url)
    flat = list(api.list_repo_tree(README))
    assert sorted(e.path for e in flat) == ["README.md", "data", "notes.txt"]
    rec = list(api.list_repo_tree(README, recursive=True))
    assert sorted(e.path for e in rec) == ["README.md", "data", "data/config.json", "notes.txt"]
    assert [e.path for e in api.list_repo_tree(README, path_in_repo="data")] == ["data/config.json"]
    lfs = {e.path: e for e in api.list_repo_tree(GGUF)}
    assert lfs["tiny-llama.F16.gguf"].lfs.sha256 == fake_hub.repo_files(GGUF)["tiny-llama.F16.gguf"].sha256
    fake_hub.tree_page_size = 1
    fake_hub.clear_requests()
    paged = list(api.list_repo_tree(README, recursive=True))
    assert [e.path for e in paged] == [e.path for e in rec]
    assert sum("/tree/" in r.path for r in fake_hub.requests) == 4
    infos = api.get_paths_info(README, ["notes.txt", "data", "missing"])
    assert sorted(i.path for i in infos) == ["data", "notes.txt"]
    assert sorted(api.list_repo_files(README)) == ["README.md", "data/config.json", "notes.txt"]


def test_list_models(fake_hub: FakeHub):
    api = HfApi(endpoint=fake_hub.url)
    assert [m.id for m in api.list_models(search="TINY-LLAMA", sort="downloads")] == [GGUF, LLAMA]
    assert [m.id for m in api.list_models(filter="gguf")] == [GGUF]
    assert [m.id for m in api.list_models(filter=["llama", "transformers"])] == [LLAMA]
    assert [m.id for m in api.list_models(author="tiny-org", sort="likes", limit=1)] == [GGUF]
    assert {m.id for m in api.list_models(pipeline_tag="text-generation")} == {LLAMA, GGUF}
    m = next(iter(api.list_models(search="readme", full=True)))
    assert m.id == README and sorted(s.rfilename for s in m.siblings) == [
        "README.md",
        "data/config.json",
        "notes.txt",
    ]
    fake_hub.models_page_size = 1
    assert len(list(api.list_models())) == len(fake_hub.tiny_repos)


def test_hf_download_cli(fake_hub: FakeHub, hf_env: Path):
    env = {**os.environ, "HF_ENDPOINT": fake_hub.url, "HF_HUB_CACHE": str(hf_env), "HF_HUB_DISABLE_XET": "1"}
    hf = Path(sys.executable).with_name("hf")
    out = subprocess.run(
        [str(hf), "download", GGUF, "tiny-llama.F16.gguf"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    # 2.4.0 prints the path alone or as "path: ..." depending on the output mode
    line = [ln for ln in out.stdout.splitlines() if ln.strip()][-1].strip()
    path = Path(line.split("path:", 1)[-1].strip())
    assert _sha256(path) == fake_hub.repo_files(GGUF)["tiny-llama.F16.gguf"].sha256
    assert str(path).startswith(str(hf_env))


# ------------------------------------------------------------------ errors
def test_typed_errors(fake_hub: FakeHub, hf_env: Path):
    api = HfApi(endpoint=fake_hub.url)
    with pytest.raises(RepositoryNotFoundError):
        _dl(fake_hub, hf_env, "nobody/nothing", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(RemoteEntryNotFoundError):
        _dl(fake_hub, hf_env, LLAMA, "missing.bin")
    with pytest.raises(RevisionNotFoundError):
        _dl(fake_hub, hf_env, LLAMA, "config.json", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(LLAMA, revision="no-such-branch")
    fake_hub.add_repo("gated-org/gated", {"a.txt": b"secret"}, gated=True)
    with pytest.raises(GatedRepoError):
        _dl(fake_hub, hf_env, "gated-org/gated", "a.txt")
    assert _dl(fake_hub, hf_env, "gated-org/gated", "a.txt", token="hf_fake_token").read_bytes() == b"secret"


def test_range_requests_direct(fake_hub: FakeHub):
    f = fake_hub.repo_files(GGUF)["tiny-llama.F32.gguf"]
    data = f.disk_path.read_bytes()
    url = f"{fake_hub.url}/{GGUF}/resolve/main/tiny-llama.F32.gguf"
    with httpx.Client() as c:
        head = c.head(url)
        assert head.status_code == 302 and head.headers["X-Linked-Size"] == str(f.size)
        assert head.headers["X-Linked-Etag"] == f'"{f.sha256}"' and head.headers["X-Repo-Commit"]
        assert not any(k.lower().startswith("x-xet") for k in head.headers)
        r = c.get(url, headers={"Range": "bytes=10-19"}, follow_redirects=True)
        assert r.status_code == 206 and r.content == data[10:20]
        assert r.headers["Content-Range"] == f"bytes 10-19/{f.size}"
        r = c.get(url, headers={"Range": "bytes=100-"}, follow_redirects=True)
        assert r.status_code == 206 and r.content == data[100:]
        r = c.get(url, headers={"Range": f"bytes={f.size}-"}, follow_redirects=True)
        assert r.status_code == 416
        r = c.get(f"{fake_hub.url}/{README}/resolve/main/notes.txt", headers={"Range": "bytes=0-3"})
        assert r.status_code == 206 and r.content == b"tiny"


def test_cdn_on_other_origin_drops_auth(tmp_path: Path, tiny_model_cache: Path, hf_env: Path):
    hub = FakeHub(tmp_path / "hub2", cdn_host="localhost")
    hub.add_repo("o/m", {"w.safetensors": b"x" * 20000})
    with hub:
        p = Path(hf_hub_download("o/m", "w.safetensors", endpoint=hub.url, cache_dir=hf_env, token="hf_abc"))
        assert p.read_bytes() == b"x" * 20000
        heads = [r for r in hub.requests if r.method == "HEAD"]
        assert [r.status for r in heads] == [302]  # metadata read from the 302 itself
        cdn = [r for r in hub.requests if r.path.startswith("/_cdn/")]
        assert cdn and "Authorization" not in cdn[0].headers and "authorization" not in cdn[0].headers


def test_no_redirect_mode(tmp_path: Path, hf_env: Path):
    hub = FakeHub(tmp_path / "hub3", redirect_lfs=False)
    hub.add_repo("o/m", {"w.gguf": b"g" * 1000})
    with hub:
        p = Path(hf_hub_download("o/m", "w.gguf", endpoint=hub.url, cache_dir=hf_env))
        assert p.read_bytes() == b"g" * 1000
        assert not any(r.status == 302 for r in hub.requests)


# ------------------------------------------------------------------ faults
def _big_repo(hub: FakeHub, size: int = 300_000) -> bytes:
    data = hashlib.sha256(b"seed").digest() * (size // 32)
    hub.add_repo("faults/big", {"big.bin": data})
    return data


def test_fault_cut_is_seen_and_retried(fake_hub: FakeHub, hf_env: Path):
    data = _big_repo(fake_hub)
    fake_hub.add_fault("faults/big/big.bin", "cut", after_bytes=1000)
    with httpx.Client() as c:  # a raw client sees the cut
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(f"{fake_hub.url}/faults/big/resolve/main/big.bin", follow_redirects=True)
    assert fake_hub.bytes_sent("faults/big/*") == 1000
    fake_hub.add_fault("faults/big/big.bin", "cut", after_bytes=5000)
    p = _dl(fake_hub, hf_env, "faults/big", "big.bin")  # huggingface_hub retries (from zero)
    assert p.read_bytes() == data
    gets = fake_hub.file_requests("faults/big/big.bin")
    assert [g.fault for g in gets] == ["cut", "cut", None]


def test_fault_status(fake_hub: FakeHub, hf_env: Path):
    _big_repo(fake_hub)
    fake_hub.add_fault("faults/big/*", "status", code=503)
    with pytest.raises(HfHubHTTPError) as e:
        _dl(fake_hub, hf_env, "faults/big", "big.bin")
    assert e.value.response.status_code == 503
    fake_hub.add_fault("faults/big/*", "status", code=429, retry_after=0)  # retried by the client
    assert len(_dl(fake_hub, hf_env, "faults/big", "big.bin").read_bytes()) > 0
    fake_hub.add_fault("faults/big/*", "status", code=500, head=True)
    with httpx.Client() as c:
        r = c.head(f"{fake_hub.url}/faults/big/resolve/main/big.bin")
        assert r.status_code == 500
        assert c.head(f"{fake_hub.url}/faults/big/resolve/main/big.bin").status_code == 302


def test_fault_corrupt(fake_hub: FakeHub, hf_env: Path):
    data = _big_repo(fake_hub)
    fake_hub.add_fault("faults/*", "corrupt", offset=12345)
    got = _dl(fake_hub, hf_env, "faults/big", "big.bin").read_bytes()
    assert len(got) == len(data) and got != data  # huggingface_hub does not check sha256
    assert got[12345] == data[12345] ^ 0xFF and got[:12345] == data[:12345]


def test_fault_throttle_and_stall(fake_hub: FakeHub, hf_env: Path):
    data = _big_repo(fake_hub, 100_000)
    fake_hub.add_fault("faults/big/big.bin", "throttle", times=10**9, bytes_per_s=250_000)
    t = time.monotonic()
    assert _dl(fake_hub, hf_env, "faults/big", "big.bin").read_bytes() == data
    assert time.monotonic() - t >= 0.3
    fake_hub.clear_faults()
    fake_hub.add_fault("faults/big/big.bin", "stall", after_bytes=10, seconds=0.5)
    t = time.monotonic()
    with httpx.Client() as c:
        r = c.get(f"{fake_hub.url}/faults/big/resolve/main/big.bin", follow_redirects=True)
    assert r.content == data and time.monotonic() - t >= 0.5


def test_http_control_routes_and_cli_server(fake_hub: FakeHub, tmp_path: Path):
    # control routes on the in-process hub
    _big_repo(fake_hub, 50_000)
    remote_add_fault(fake_hub.url, "faults/big/*", "status", code=502)
    with httpx.Client() as c:
        assert (
            c.get(f"{fake_hub.url}/faults/big/resolve/main/big.bin", follow_redirects=True).status_code == 502
        )
    assert any(r["status"] == 502 for r in remote_requests(fake_hub.url))
    remote_add_fault(fake_hub.url, "*", "status", code=502)
    remote_clear_faults(fake_hub.url)
    assert fake_hub.faults == []
    # the entry point serves a root written by this process
    root = tmp_path / "served"
    FakeHub(root).add_repo("cli/repo", {"a.txt": b"hello"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.hub", "--root", str(root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client() as c:
            assert c.get(f"{url}/cli/repo/resolve/main/a.txt").content == b"hello"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ------------------------------------------------------------------ tiny models
def test_tiny_llama_from_hub_generates(fake_hub: FakeHub, hf_env: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = snapshot_download(LLAMA, endpoint=fake_hub.url, cache_dir=hf_env)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    assert tok.decode(ids["input_ids"][0]).startswith(
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>"
    )
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 4


@pytest.mark.parametrize("ftype", ["F32", "Q8_0"])
def test_tiny_gguf_loads_in_transformers(fake_hub: FakeHub, hf_env: Path, ftype: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = f"tiny-llama.{ftype}.gguf"
    folder = Path(_dl(fake_hub, hf_env, GGUF, name)).parent
    ref_dir = snapshot_download(LLAMA, endpoint=fake_hub.url, cache_dir=hf_env)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    ref = AutoModelForCausalLM.from_pretrained(ref_dir)
    ref_tok = AutoTokenizer.from_pretrained(ref_dir)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    text = "Hello! How are you today?"
    ids = tok(text, return_tensors="pt")
    assert ids["input_ids"].tolist() == ref_tok(text, return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        diff = (model(**ids).logits - ref(**ids).logits).abs().max().item()
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert diff < (1e-4 if ftype == "F32" else 0.5)  # the q/k permutation round-trips
    assert out.shape[1] == ids["input_ids"].shape[1] + 4
