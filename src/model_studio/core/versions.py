"""What this studio runs on: OS, Python, the libraries' versions, CUDA, cuDNN, the NVIDIA driver and
how llama.cpp was built (``GET /system/versions``, ``model-studio system --versions``).

Versions come from the installed distributions' metadata (``importlib.metadata``): nothing is
imported just to read a version. Runtime properties (torch's CUDA and cuDNN, llama.cpp's GPU
offload) need their module: torch is read only when it is already imported or installed, and the
answer is cached for the process (none of it changes while the process runs). A package that is
not installed is reported as ``None``, never as an error.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import re
import sys
import threading
from typing import Any

#: The packages reported, by the name shown, with the distribution names to try (first found wins).
PACKAGES: dict[str, tuple[str, ...]] = {
    "model_studio": ("jupyter-model-studio", "model-studio", "model_studio"),
    "torch": ("torch",),
    "transformers": ("transformers",),
    "diffusers": ("diffusers",),
    "peft": ("peft",),
    "accelerate": ("accelerate",),
    "huggingface_hub": ("huggingface_hub", "huggingface-hub"),
    "llama_cpp": ("llama_cpp_python", "llama-cpp-python"),
    "jupyter_server": ("jupyter_server", "jupyter-server"),
    "jupyterlab": ("jupyterlab",),
    "pynvml": ("nvidia-ml-py", "pynvml"),
}

_lock = threading.Lock()
_cache: dict[str, Any] | None = None


def package_version(*names: str) -> str | None:
    """The installed version of the first distribution of ``names`` found, else None."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        except Exception:  # a broken metadata folder is "not installed" too
            continue
    return None


def _studio_version() -> str | None:
    found = package_version(*PACKAGES["model_studio"])
    if found:
        return found
    try:  # a source checkout without installed metadata
        from .._version import __version__

        return str(__version__)
    except Exception:
        return None


def _torch(version: str | None) -> dict[str, Any]:
    """torch's CUDA and cuDNN versions and whether a GPU is usable (None each when torch is absent)."""
    out: dict[str, Any] = {"cuda": None, "cudnn": None, "cuda_available": None, "mps_available": None}
    if version is None or importlib.util.find_spec("torch") is None:
        return out
    try:
        import torch  # the runtime properties need the module

        out["cuda"] = torch.version.cuda
        cudnn = getattr(torch.backends, "cudnn", None)
        if cudnn is not None and cudnn.is_available():
            raw = cudnn.version()
            out["cudnn"] = _cudnn_text(raw) if raw else None
        out["cuda_available"] = bool(torch.cuda.is_available())
        mps = getattr(torch.backends, "mps", None)
        out["mps_available"] = bool(mps.is_available()) if mps is not None else False
    except Exception as exc:  # a broken torch install: report it, do not fail
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def _cudnn_text(raw: int) -> str:
    """cuDNN's integer version as text: 90100 -> 9.1.0 (cuDNN 9), 8902 -> 8.9.2 (cuDNN 8)."""
    if raw >= 10000:
        return f"{raw // 10000}.{raw % 10000 // 100}.{raw % 100}"
    return f"{raw // 1000}.{raw % 1000 // 100}.{raw % 100}"


_BACKEND_FLAGS = {"cuda": ("CUDA", "CUBLAS"), "metal": ("METAL",), "vulkan": ("VULKAN",)}


def _llama_cpp(version: str | None) -> dict[str, Any]:
    """How llama.cpp was built: GPU offload and the accelerators named in its system info."""
    out: dict[str, Any] = {"version": version, "gpu_offload": None, "cuda": None, "metal": None,
                           "vulkan": None, "system_info": None}
    if version is None or importlib.util.find_spec("llama_cpp") is None:
        return out
    try:
        import llama_cpp

        out["version"] = getattr(llama_cpp, "__version__", version) or version
        supports = getattr(llama_cpp, "llama_supports_gpu_offload", None)
        out["gpu_offload"] = bool(supports()) if supports is not None else None
        info_fn = getattr(llama_cpp, "llama_print_system_info", None)
        info = info_fn() if info_fn is not None else None
        if isinstance(info, bytes):
            info = info.decode("utf-8", "replace")
        if info:
            out["system_info"] = str(info).strip()[:4000]
        for backend, marks in _BACKEND_FLAGS.items():
            out[backend] = _built_with(out["system_info"], marks)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def _built_with(info: str | None, marks: tuple[str, ...]) -> bool | None:
    """Whether the system info string names one of ``marks`` as present (``CUDA : ARCHS = ...``,
    ``METAL = 1``); None when there is no string to read."""
    if not info:
        return None
    for mark in marks:
        for match in re.finditer(rf"\b{mark}\b\s*(?::|=)\s*(\S+)", info, flags=re.IGNORECASE):
            if match.group(1) not in ("0", "|"):
                return True
    return False


def _os() -> dict[str, Any]:
    uname = platform.uname()
    out: dict[str, Any] = {"system": uname.system, "release": uname.release, "version": uname.version,
           "machine": uname.machine, "platform": platform.platform()}
    if uname.system == "Linux":
        try:
            out["distribution"] = platform.freedesktop_os_release().get("PRETTY_NAME")
        except (OSError, AttributeError):
            out["distribution"] = None
    return out


def versions(nvml: Any = None, *, refresh: bool = False) -> dict[str, Any]:
    """OS, Python, packages (None when absent), torch's CUDA/cuDNN, the NVIDIA driver, llama.cpp's build.

    ``nvml`` is the system monitor's ``_Nvml`` (for the driver version); cached for the process.
    """
    global _cache
    with _lock:
        if _cache is not None and not refresh:
            return _copy(_cache)
        packages = {shown: package_version(*names) for shown, names in PACKAGES.items()}
        packages["model_studio"] = _studio_version()
        result = {
            "os": _os(),
            "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                       "executable": sys.executable},
            "packages": packages,
            "torch": _torch(packages["torch"]),
            "nvidia_driver": _driver(nvml),
            "llama_cpp": _llama_cpp(packages["llama_cpp"]),
        }
        _cache = result
        return _copy(result)


def _driver(nvml: Any) -> str | None:
    if nvml is None or not nvml.ready():
        return None
    try:
        raw = nvml.nvml.nvmlSystemGetDriverVersion()
    except Exception:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value
