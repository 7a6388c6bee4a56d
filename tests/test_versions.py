"""System information: OS, Python and library versions from the distributions' metadata, CUDA, cuDNN,
the NVIDIA driver and llama.cpp's build; through the engine, the CLI and ``%studio system --versions``.

The values are compared with ``importlib.metadata`` read here; a package that is not installed is
``None``, not an error.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys

import pytest

from model_studio.cli import main
from model_studio.core import versions as versions_module

PACKAGES = {"torch": "torch", "transformers": "transformers", "diffusers": "diffusers", "peft": "peft",
            "huggingface_hub": "huggingface_hub", "jupyter_server": "jupyter_server",
            "jupyterlab": "jupyterlab", "llama_cpp": "llama_cpp_python"}


def expected(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check(v: dict) -> None:
    for shown, dist in PACKAGES.items():
        assert v["packages"][shown] == expected(dist), shown
    assert v["python"]["version"] == platform.python_version()
    assert v["os"]["system"] == platform.system() and v["os"]["machine"] == platform.machine()
    assert v["packages"]["model_studio"]  # installed, or the source checkout's version
    if v["packages"]["torch"] is None:
        assert v["torch"]["cuda"] is None and v["torch"]["cudnn"] is None
    else:
        import torch

        assert v["torch"]["cuda"] == torch.version.cuda
        assert v["torch"]["cuda_available"] == torch.cuda.is_available()
    llama = v["llama_cpp"]
    if v["packages"]["llama_cpp"] is None:
        assert llama["gpu_offload"] is None and llama["system_info"] is None
    else:
        import llama_cpp

        assert llama["version"] == llama_cpp.__version__
        assert llama["gpu_offload"] == bool(llama_cpp.llama_supports_gpu_offload())
    json.dumps(v, allow_nan=False)  # plain JSON


def test_engine_versions_match_the_installed_metadata(settings):
    from model_studio.core import Engine

    with Engine(settings) as eng:
        v = eng.system.versions(refresh=True)
        check(v)
        # Cached for the process: the second answer is the same, and a copy (callers may change it)
        again = eng.system.versions()
        assert again == v
        again["packages"]["torch"] = "changed"
        assert eng.system.versions()["packages"]["torch"] == v["packages"]["torch"]


def test_absent_packages_are_null_not_errors(monkeypatch):
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name in ("diffusers", "peft", "llama_cpp_python", "llama-cpp-python"):
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    v = versions_module.versions(refresh=True)
    try:
        assert v["packages"]["diffusers"] is None and v["packages"]["peft"] is None
        assert v["packages"]["llama_cpp"] is None
        assert v["llama_cpp"] == {"version": None, "gpu_offload": None, "cuda": None, "metal": None,
                                  "vulkan": None, "system_info": None}
    finally:
        monkeypatch.undo()
        versions_module.versions(refresh=True)


def test_the_driver_version_comes_from_nvml():
    class FakeNvml:
        def __init__(self, ready: bool) -> None:
            self._ready = ready
            self.nvml = type("nv", (), {"nvmlSystemGetDriverVersion": staticmethod(lambda: b"550.54.15")})

        def ready(self) -> bool:
            return self._ready

    try:
        assert versions_module.versions(FakeNvml(True), refresh=True)["nvidia_driver"] == "550.54.15"
        assert versions_module.versions(FakeNvml(False), refresh=True)["nvidia_driver"] is None
    finally:
        versions_module.versions(refresh=True)


@pytest.mark.parametrize(("info", "cuda", "metal", "vulkan"), [
    ("CUDA : ARCHS = 890 | USE_GRAPHS = 1 | CPU : SSE3 = 1 | AVX = 1 |", True, False, False),
    ("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 | ARM_FMA = 1 |", False, True, False),
    ("AVX = 1 | METAL = 0 | VULKAN = 1 | CUBLAS = 0 |", False, False, True),
    ("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 |", False, False, False),
])
def test_llama_cpp_backends_read_from_the_system_info(info, cuda, metal, vulkan):
    marks = versions_module._BACKEND_FLAGS
    assert versions_module._built_with(info, marks["cuda"]) is cuda
    assert versions_module._built_with(info, marks["metal"]) is metal
    assert versions_module._built_with(info, marks["vulkan"]) is vulkan
    assert versions_module._built_with(None, marks["cuda"]) is None


def test_cudnn_version_text():
    assert versions_module._cudnn_text(90100) == "9.1.0"
    assert versions_module._cudnn_text(8902) == "8.9.2"


def test_versions_are_read_without_importing_unneeded_packages(tmp_path):
    # In a fresh interpreter: reading the versions imports neither diffusers nor transformers nor peft
    import subprocess

    code = ("import sys; from model_studio.core.versions import versions; v = versions(); "
            "print(sorted(m for m in ('diffusers', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture
def run(settings, monkeypatch, capsys):
    monkeypatch.setenv("MODEL_STUDIO_HOME", settings.home)
    monkeypatch.setenv("HF_HUB_CACHE", settings.hf_cache)
    monkeypatch.setenv("HF_ENDPOINT", settings.hf_endpoint)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_cli_system_versions(run):
    code, out, _ = run("system", "--versions", "--json")
    assert code == 0
    check(json.loads(out))
    code, out, _ = run("system", "--versions")
    assert code == 0
    assert "Python" in out and platform.python_version() in out
    torch_version = expected("torch")
    assert (torch_version or "not installed") in out


def test_cli_settings_show_set_dry_run_and_reload(run, settings, monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("MODEL_STUDIO_MAX_DOWNLOADS", "3")
    code, out, _ = run("settings", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["sources"]["max_concurrent_downloads"] == "environment"
    assert body["sources"]["files_per_download"] == "default"
    path = Path(settings.home) / "settings.json"
    # A dry run says what would change and writes nothing
    code, out, _ = run("settings", "--set", "files_per_download=6", "--dry-run")
    assert code == 0 and "would change files_per_download: 4 -> 6" in out
    assert not path.exists()
    # A change is saved, then shown with its source
    code, out, _ = run("settings", "--set", "files_per_download=6")
    assert code == 0 and "changed files_per_download: 4 -> 6" in out
    assert json.loads(path.read_text())["files_per_download"] == 6
    code, out, _ = run("settings")
    row = next(line for line in out.splitlines() if line.startswith("files_per_download"))
    assert row.split()[1:3] == ["6", "file"]
    # A bad hand edit is reported by --reload, key by key
    path.write_text('{"files_per_download": 99}')
    code, out, _ = run("settings", "--reload")
    assert code == 0 and "files_per_download must be" in out
    # A bad --set is an error naming the setting
    code, _, err = run("settings", "--set", "idle_ttl=-1")
    assert code == 1 and "idle_ttl" in err
