"""What the library knows about a model: the records a search or ``info`` returns, and the small
helpers that build them (part of ``core.library``)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ValidationError
from ..local import LocalModel

CATALOG_PATH = Path(__file__).parent.parent / "catalog.json"  # the catalog stays in core/
TASKS = ("text-generation", "text-to-video", "image-to-video", "feature-extraction", "sentence-similarity")
#: The Hub's two names for a text embedding model; a search for either finds both.
EMBEDDING_TASKS = ("feature-extraction", "sentence-similarity")
STATUSES = ("available", "downloading", "local", "error", "remote")  # remote: served by an endpoint
BACKENDS = ("llama-cpp", "transformers", "diffusers", "remote")
SORTS = ("downloads", "size", "name", "likes", "recent")
_VIDEO_CLASSES = ("Wan", "LTX", "CogVideoX", "HunyuanVideo", "Mochi", "Video", "Allegro", "Latte")


@dataclass
class Quantization:
    name: str
    files: list[str]
    size: int | None = None
    local: bool = False


@dataclass
class ModelInfo:
    """What the library knows about one model, merged from catalog, Hub and disk."""

    id: str
    name: str
    task: str | None = None
    formats: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    size: int | None = None  # bytes: weights (GGUF: the default quantization)
    status: str = "available"
    sources: list[str] = field(default_factory=list)  # catalog, hub, local
    license: str | None = None
    gated: bool = False
    parameters: int | None = None
    context_length: int | None = None
    architecture: str | None = None
    quantizations: list[Quantization] = field(default_factory=list)
    default_quantization: str | None = None
    tags: list[str] = field(default_factory=list)
    downloads: int | None = None
    likes: int | None = None
    description: str = ""
    pipeline: str | None = None
    video: dict[str, Any] | None = None
    #: Embedding models: {"dimensions", "matryoshka_dimensions", "pooling", "normalized", "max_tokens"}
    embedding: dict[str, Any] | None = None
    local_path: str | None = None
    local_size: int | None = None
    incomplete_bytes: int = 0
    commit: str | None = None
    last_modified: float | None = None
    files: list[dict[str, Any]] | None = None  # info() only
    error: dict[str, Any] | None = None
    shared: bool = False  # local in a read-only shared folder (shared_model_dirs): loaded in place, never deleted
    #: Where a local model lives: hf-cache, folder (extra folders), import, lmstudio or ollama
    store: str | None = None
    read_only: bool = False  # another tool's store owns it: never deleted here
    #: Imports: True when checked against a given sha256, False when imported unverified; else None
    verified: bool | None = None
    endpoint: str | None = None  # status "remote": the endpoint that serves it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SearchResults(list[ModelInfo]):
    """The models a search found, and ``hub_error`` (the error shape's inner dict) when the Hub part
    is missing: per call, so concurrent searches never see each other's."""

    def __init__(self, models: list[ModelInfo], hub_error: dict[str, Any] | None = None) -> None:
        super().__init__(models)
        self.hub_error = hub_error


def _backends_for(formats: list[str]) -> list[str]:
    out = []
    if "gguf" in formats:
        out += ["llama-cpp"]
    if "safetensors" in formats or "pytorch" in formats:
        out += ["transformers"]
    if "diffusers" in formats:
        out += ["diffusers"]
    return out


def _task_from_local(m: LocalModel) -> str | None:
    if m.model_index is not None:
        cls = str(m.model_index.get("_class_name", ""))
        if any(k in cls for k in _VIDEO_CLASSES):
            return "image-to-video" if "ImageToVideo" in cls else "text-to-video"
        return None
    if m.config is not None:
        archs = m.config.get("architectures") or []
        if any(str(a).endswith(("ForCausalLM", "ForConditionalGeneration")) for a in archs):
            return "text-generation"
        if "modules.json" in m.files or any(str(a).endswith("Model") for a in archs):
            return "feature-extraction"  # a sentence-transformers folder or a bare encoder (BertModel)
        return None
    if any(f.endswith(".gguf") for f in m.files):
        return "text-generation"
    return None


def _license_from_tags(tags: list[str]) -> str | None:
    return next((t.split(":", 1)[1] for t in tags if t.startswith("license:")), None)



def _clone(info: ModelInfo) -> ModelInfo:
    """A copy safe to mutate (lists and quantizations copied)."""
    out = copy.copy(info)
    out.sources = list(info.sources)
    out.tags = list(info.tags)
    out.quantizations = [copy.copy(q) for q in info.quantizations]
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValidationError(f"Unknown {name} {value!r}; choose one of {', '.join(choices)}",
                              details={name: value, "choices": list(choices)})

