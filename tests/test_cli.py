"""The ``model-studio`` command, run in-process with ``main([...])`` against the fake Hub (offline)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_studio.cli import main

GGUF = "tiny-org/tiny-llama-GGUF"
Q8 = "tiny-llama.Q8_0.gguf"


@pytest.fixture
def cli_env(settings, monkeypatch: pytest.MonkeyPatch):
    """The environment an `Engine()` built by the CLI reads: studio home, HF cache, fake Hub."""
    monkeypatch.setenv("MODEL_STUDIO_HOME", settings.home)
    monkeypatch.setenv("HF_HUB_CACHE", settings.hf_cache)
    monkeypatch.setenv("HF_ENDPOINT", settings.hf_endpoint)
    return settings


@pytest.fixture
def run(cli_env, capsys):
    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _snapshot_file(settings, repo_id: str, name: str) -> Path:
    storage = Path(settings.hf_cache) / ("models--" + repo_id.replace("/", "--"))
    found = list((storage / "snapshots").glob(f"*/{name}"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def pulled(run, fake_hub, cli_env) -> Path:
    """Given the Q8_0 quantization of the tiny GGUF repo pulled through the CLI."""
    code, out, err = run("pull", GGUF, "--quant", "Q8_0")
    assert code == 0, err
    assert "verified 1 files" in out
    return _snapshot_file(cli_env, GGUF, Q8)


def test_pull_writes_verified_file_and_list_shows_it(pulled, run, fake_hub):
    expected = fake_hub.repo_files(GGUF)[Q8].sha256
    assert _sha256(pulled) == expected
    assert not list(pulled.parent.glob("*.F16.gguf")), "only the chosen quantization is fetched"

    code, out, _ = run("list")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith(GGUF))
    assert "Q8_0" in line and "gguf" in line and "F16" not in line


def test_list_json_parses(pulled, run):
    code, out, _ = run("list", "--json")
    assert code == 0
    models = json.loads(out)
    assert [m["id"] for m in models] == [GGUF]
    assert models[0]["local_size"] >= pulled.stat().st_size


def test_info_shows_quantizations_files_and_fit(pulled, run):
    code, out, err = run("info", GGUF)
    assert code == 0, err
    assert "quantizations:" in out
    section = out.split("quantizations:")[1].split("files:")[0].strip().splitlines()[1:]  # rows after header
    rows = {}
    for line in section:
        tokens = line.split()
        rows[tokens[1] if tokens[0] == "*" else tokens[0]] = tokens[-1] == "local"
    assert rows == {"Q8_0": True, "F16": False, "F32": False}
    assert "apache-2.0" in out
    assert "llama" in out  # architecture
    assert "\nfit: " in out


def test_info_json_has_fit(pulled, run):
    code, out, err = run("info", GGUF, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {q["name"]: q["local"] for q in data["quantizations"]} == {"Q8_0": True, "F16": False, "F32": False}
    assert data["fit"]["verdict"] in ("gpu", "partial", "cpu", "no")


def test_info_of_a_hub_only_model(run):
    # Given a model that is neither local nor in the catalog: everything comes from the Hub
    code, out, err = run("info", GGUF)
    assert code == 0, err
    assert "quantizations:" in out and "Q8_0" in out


def test_search_offline_finds_catalog_entries(run):
    code, out, _ = run("search", "qwen2.5", "--offline", "--task", "text-generation")
    assert code == 0
    assert "Qwen/Qwen2.5-0.5B-Instruct-GGUF" in out
    assert "Q4_K_M" in out
    assert "ID" in out.splitlines()[0] and "LICENSE" in out.splitlines()[0]

    code, out, _ = run("search", "qwen2.5", "--offline", "--json", "--limit", "3")
    assert code == 0
    results = json.loads(out)
    assert 1 <= len(results) <= 3 and all("qwen2.5" in r["id"].lower() for r in results)


def test_search_bad_choice_is_a_usage_error(run, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["search", "--sort", "bogus"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_rm_yes_frees_bytes_and_removes_folder(pulled, run, cli_env):
    storage = Path(cli_env.hf_cache) / "models--tiny-org--tiny-llama-GGUF"
    assert storage.is_dir()
    code, out, err = run("rm", GGUF, "--yes")
    assert code == 0, err
    freed_line = next(line for line in out.splitlines() if line.startswith("freed "))
    assert freed_line != "freed 0 B"
    assert not storage.exists()
    code, out, _ = run("list", "--json")
    assert json.loads(out) == []


def test_rm_without_yes_on_non_tty_refuses(pulled, run, cli_env, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # piped input is not a confirmation
    code, out, err = run("rm", GGUF)
    assert code == 1
    assert "would be freed" in out
    assert "--yes" in err and "Traceback" not in err
    assert pulled.exists()


def test_pull_unknown_repo_prints_one_line(run):
    code, out, err = run("pull", "tiny-org/does-not-exist")
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and "does-not-exist" in lines[0]
    assert all(line.startswith("  - ") for line in lines[1:])


def test_invalid_model_id_is_a_validation_error(run):
    code, _, err = run("pull", "../x")
    assert code == 1
    assert err.startswith("error: ValidationError")
    assert "Traceback" not in err


def test_verify_ok(pulled, run):
    code, out, err = run("verify", GGUF)
    assert code == 0, err
    assert "ok: 1 files match" in out


def test_verify_reports_corruption(pulled, run):
    blob = pulled.resolve()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(data))
    code, out, _ = run("verify", GGUF)
    assert code == 1
    assert f"MISMATCH {Q8}" in out


def test_system_prints_ram_and_json(run):
    code, out, _ = run("system")
    assert code == 0
    assert "RAM" in out and "CPU" in out and "GPU" in out
    code, out, _ = run("system", "--json")
    assert code == 0
    assert json.loads(out)["memory_total"] > 0


def test_backends_lists_each_backend(run):
    code, out, _ = run("backends")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[1:4]]
    assert names == ["llama-cpp", "transformers", "diffusers"]
    code, out, _ = run("backends", "--json")
    assert {b["name"] for b in json.loads(out)} == {"llama-cpp", "transformers", "diffusers"}


def test_jobs_lists_completed_download_with_all(pulled, run):
    code, out, _ = run("jobs", "--all", "--json")
    assert code == 0
    jobs = json.loads(out)
    assert [(j["title"], j["state"]) for j in jobs] == [(f"{GGUF}:Q8_0", "completed")]
    code, out, _ = run("jobs")
    assert "no jobs" in out  # completed jobs hide without --all


def test_cancel_unknown_job_is_not_found(run):
    code, _, err = run("cancel", "dow-000000000000")
    assert code == 1 and err.startswith("error: NotFoundError")


# --- Ctrl-C pauses, the same pull resumes --------------------------------------------------------


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("model-studio")
    return [str(script)] if script.exists() else [sys.executable, "-m", "model_studio"]


@pytest.mark.slow
def test_ctrl_c_pauses_and_the_same_pull_resumes(cli_env, fake_hub, capsys):
    # Given a 3 MB file the hub sends at 1 MB/s
    repo, name = "big-org/big-model", "weights.bin"
    payload = os.urandom(3_000_000)
    fake_hub.add_repo(repo, {name: payload, "README.md": b"# big\n"})
    fake_hub.add_fault(f"{repo}/{name}", "throttle", bytes_per_s=1_000_000, times=10**9)
    env = {**os.environ, "MODEL_STUDIO_HOME": cli_env.home, "HF_HUB_CACHE": cli_env.hf_cache,
           "HF_ENDPOINT": cli_env.hf_endpoint}
    argv = [*_cli_command(), "pull", repo, "--file", name]

    # When the pull is interrupted with SIGINT once the first bytes arrived
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while fake_hub.bytes_sent(f"{repo}/{name}") < 100_000:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no bytes arrived"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)

    # Then it exits 130, the job is paused, and part of the file waits as .incomplete
    assert proc.returncode == 130, err
    assert "paused at" in err and "Traceback" not in err
    from model_studio.core import Engine

    with Engine(cli_env) as eng:
        jobs = eng.downloads.list()
        assert [j.state.value for j in jobs] == ["paused"]
        assert 0 < jobs[0].progress.done < len(payload)
    assert main(["jobs"]) == 0
    assert any(line.split()[1:3] == [repo, "paused"] for line in capsys.readouterr().out.splitlines())
    storage = Path(cli_env.hf_cache) / "models--big-org--big-model"
    partials = list((storage / "blobs").glob("*.incomplete"))
    assert len(partials) == 1 and 0 < partials[0].stat().st_size < len(payload)

    # When the same pull runs again (unthrottled, to keep the test short)
    fake_hub.clear_faults()
    fake_hub.clear_requests()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    # Then it resumes with a Range request and ends with the right bytes
    assert done.returncode == 0, done.stderr
    assert "verified 1 files" in done.stdout
    gets = fake_hub.file_requests(f"{repo}/{name}", method="GET")
    assert gets and gets[0].range_start and gets[0].range_start > 0
    assert _sha256(_snapshot_file(cli_env, repo, name)) == hashlib.sha256(payload).hexdigest()
    with Engine(cli_env) as eng:
        assert [j.state.value for j in eng.downloads.list()] == ["completed"]  # the same job, resumed


def test_import_by_path_and_by_url_then_list_shows_store_and_verified(run, fake_hub, tmp_path):
    from tests.engine.test_imports import FILE, REPO, sha256_of, write_gguf

    src = write_gguf(tmp_path / "mine.Q8_0.gguf")
    code, out, err = run("import", str(src))
    assert code == 0, err
    assert "local/mine" in out and "nothing copied" in out
    served = write_gguf(tmp_path / "served" / FILE, rows=64)
    fake_hub.add_repo(REPO, {FILE: served})
    code, out, err = run("import", f"{fake_hub.url}/{REPO}/resolve/main/{FILE}")
    assert code == 0, err
    assert f"unverified (no --sha256 given); sha256 {sha256_of(served)}" in out
    code, out, err = run("list")
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "import" in rows["local/mine"] and "(unverified)" in rows["local/url-model"]
    code, out, err = run("verify", "local/url-model")
    assert code == 0 and "match their sha256" in out, err
