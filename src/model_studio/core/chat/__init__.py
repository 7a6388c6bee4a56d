"""Chat with local models: ``engine.chat``.

``ChatService`` resolves model names to files on disk, picks a backend (``llama-cpp`` for GGUF,
``transformers`` for safetensors; GGUF through transformers only when asked), loads models through
the ``ModelManager`` (memory budget, LRU, idle TTL) and streams answers. Batches of prompts run as
resumable jobs (``batch.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ...config import Settings
from ...errors import NotFoundError, ValidationError, backend_unavailable
from ..arbiter import Arbiter, chat_holder_id
from ..fit import FitResult, gguf_metadata
from ..jobs import JobRunner, JobStore
from ..library import Library
from ..local import LocalModel
from ..placement import Placement, on_device, place
from ..quants import default_quant
from ..refs import ModelRef
from .base import (
    MAX_CONTEXT,
    MAX_GPU_LAYERS,
    Backend,
    ChatChunk,
    ChatStats,
    LoadedModel,
    LoadOptions,
    Message,
    SamplingParams,
    usable_cores,
)
from .batch import BatchRunner
from .llama_cpp import LlamaCppBackend
from .manager import Key, ModelManager
from .prompt_calls import BatchCalls, PromptAndEmbeddingCalls
from .runs import finished_runs, is_run, run_model
from .structured import Guide, OutputControls, ToolCalls, checked_messages, prepare
from .transformers import DTYPES, TransformersBackend

_SAMPLING = {f.name for f in fields(SamplingParams)}
log = logging.getLogger(__name__)


@dataclass
class Resolved:
    """A model name resolved to what a backend loads."""

    model_id: str  # canonical: org/name, plus :QUANT for GGUF
    repo_id: str
    path: Path  # GGUF file (first part) or model folder
    format: str
    quantization: str | None
    local: LocalModel


class ChatStream:
    """An answer being generated: iterate for ``ChatChunk``s; ``stats`` is set once it ends."""

    def __init__(self, chunks: Iterator[ChatChunk], model: LoadedModel) -> None:
        self._chunks = chunks
        self.model = model
        self.stats: ChatStats | None = None
        self.finish_reason: str | None = None
        #: how tools reached the prompt: "template" (the model's own tool syntax), "json" (the
        #: documented fallback, ``structured``) or None (no tools in this request)
        self.tool_format: str | None = None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> ChatChunk:
        chunk = next(self._chunks)
        if chunk.finish_reason is not None:
            self.finish_reason, self.stats = chunk.finish_reason, chunk.stats
        return chunk

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class ChatService(PromptAndEmbeddingCalls, BatchCalls):
    """Backends, loaded models and generation for one engine."""

    def __init__(self, settings: Settings, library: Library, jobs: JobStore, runner: JobRunner) -> None:
        self.settings = settings
        self.library = library
        self.jobs = jobs
        self.manager = ModelManager(settings)
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        for backend in (LlamaCppBackend(), TransformersBackend()):
            self.register_backend(backend)
        self.batches = BatchRunner(self, settings, jobs, runner)
        #: In host mode (``engine.host``), the ``HostChat`` that loads and generates in the model host.
        self.remote: Any = None
        #: Returns ``engine.endpoints`` (remote serving engines); set by the Engine.
        self.endpoints_factory: Callable[[], Any] | None = None
        #: The engine's ``EnergyAccounts``: each answer adds to its model's energy of the day.
        self.energy: Any = None

    # Backends ----------------------------------------------------------------------------------

    def register_backend(self, backend: Backend) -> None:
        """Add (or replace) a backend under ``backend.name``."""
        if not getattr(backend, "name", None) or not getattr(backend, "formats", None):
            raise ValidationError("A backend needs a name and formats", details={"backend": repr(backend)})
        with self._lock:
            self._backends[backend.name] = backend

    def unregister_backend(self, name: str) -> None:
        """Remove a backend and unload the models it holds."""
        with self._lock:
            self._backends.pop(name, None)
        self.manager.unload(lambda key: key[1] == name)

    def backends(self) -> list[dict[str, Any]]:
        return [{"name": b.name, "formats": list(b.formats), "available": b.available()}
                for b in self._backends.values()]

    def _backend(self, name: str) -> Backend:
        backend = self._backends.get(name)
        if backend is None:
            raise ValidationError(f"Unknown backend {name!r}; choose one of {', '.join(self._backends)}",
                                  details={"backend": name, "choices": list(self._backends)})
        if not backend.available():
            raise backend_unavailable(getattr(backend, "package", name), getattr(backend, "extra", name),
                                      f"The {name} backend")
        return backend

    # Models ------------------------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """Local text-generation models an installed backend can load, and whether they are loaded;
        a model with a broken file carries the reason in ``error`` (None otherwise). Finished
        training runs follow as ``run/<job id>`` (with ``base_model`` and ``created``)."""
        usable = {name: b for name, b in self._backends.items() if b.available()}
        # The model part of each loaded id (``org/name:Q4_1`` -> ``org/name``; ``ollama/x:tag:Q4_1`` ->
        # ``ollama/x:tag``, whose tag is part of the name)
        loaded = {_repo_of(k) for k in (
            [m["model"] for m in self.remote.loaded()] if self.remote is not None
            else [k[0] for k in self.manager.keys()])}
        out = []
        for info in self.library.list_local():
            if info.task not in (None, "text-generation") or not info.formats:
                continue
            if info.task is None and "gguf" not in info.formats:
                continue
            names = [n for n, b in usable.items() if set(b.formats) & set(info.formats)]
            if not names:
                continue
            default = _default_backend(info.formats)
            out.append({"id": info.id, "name": info.name, "formats": info.formats,
                        "backends": sorted(names, key=lambda n: n != default),
                        "default_backend": default if default in names else names[0],
                        "quantizations": [q.name for q in info.quantizations], "size": info.size,
                        "context_length": info.context_length, "loaded": info.id in loaded,
                        "error": info.error})  # a broken model is listed, with why it cannot load
        if "transformers" in usable:  # fine-tuned runs load through transformers (base + LoRA adapter)
            out += [{"id": r["id"], "name": f"{r['base_model']} fine-tuned ({r['job_id']})",
                     "formats": ["safetensors"], "backends": ["transformers"], "default_backend": "transformers",
                     "quantizations": [], "size": r["adapter_bytes"], "context_length": None,
                     "loaded": r["id"] in loaded, "error": None, "base_model": r["base_model"],
                     "created": r["created"]} for r in self.runs()]
        if self.endpoints_factory is not None:
            for m in self.library.remote():  # served by a remote endpoint: nothing loads here
                out.append({"id": m["id"], "name": m["name"], "formats": [], "backends": ["remote"],
                            "default_backend": "remote", "quantizations": [], "size": None,
                            "context_length": None, "loaded": True, "error": None,
                            "endpoint": m["endpoint"], "status": "remote"})
        return out

    def runs(self) -> list[dict[str, Any]]:
        """Finished training runs as chat models ``run/<job id>``, newest first (``runs.finished_runs``)."""
        return finished_runs(self.settings.home_path / "runs", self.jobs)

    def remote_model(self, model: Any) -> LoadedModel | None:
        """The ``RemoteModel`` of a ``remote/<endpoint>/<model id>`` name (None for any other)."""
        from ..remote.refs import is_remote

        if isinstance(model, LoadedModel) or not is_remote(model):
            return None
        if self.endpoints_factory is None:
            raise ValidationError("Remote models need an engine's endpoints", details={"model": str(model)})
        return self.endpoints_factory().model(str(model))

    def resolve(self, model: str | ModelRef, quantization: str | None = None,
                backend: str | None = None) -> Resolved:
        """The files behind ``model`` (``local/name`` or ``org/name[:QUANT]``); NotFoundError if not local."""
        ref = ModelRef.coerce(model).with_(variant=quantization)
        local = self.library.local.get(ref.repo_id)
        if local is None or not local.files:
            steps = (["Add the folder that holds it to extra_model_dirs: engine.update_settings("
                      "{'extra_model_dirs': [FOLDER]})"] if ref.is_local else
                     [f"Download it first: engine.downloads.start({str(ref)!r}).wait()"])
            raise NotFoundError(f"{ref.repo_id} is not on this machine", details={"model": str(ref)},
                                resolution_steps=steps)
        formats = local.formats
        if "gguf" in formats and self._wants_gguf(formats, backend):
            quants = local.quantizations
            quant = ref.variant.upper() if ref.variant else default_quant(
                {q: _local_bytes(local, names) for q, names in quants.items()})
            files = quants.get(quant or "") if quant else [f for f in local.files if f.endswith(".gguf")]
            if not files:
                raise NotFoundError(f"{ref.repo_id} has no local quantization {quant}",
                                    details={"model": str(ref), "local_quantizations": sorted(quants)},
                                    resolution_steps=[f"Use one of {', '.join(sorted(quants))}",
                                                      f"Or download it: engine.downloads.start('{ref.repo_id}:{quant}')"])
            local.check(files)  # a broken file is a BrokenFileError now, not a crash in the backend
            path = local.file_path(sorted(files)[0])
            model_id = f"{ref.repo_id}:{quant}" if quant else ref.repo_id
            return Resolved(model_id, ref.repo_id, path, "gguf", quant, local)
        fmt = next((f for f in ("safetensors", "pytorch") if f in formats), None)
        if fmt is None or local.snapshot is None:
            raise ValidationError(f"{ref.repo_id} has no weights a chat backend can load ({', '.join(formats) or 'none'})",
                                  details={"model": str(ref), "formats": formats})
        local.check()
        return Resolved(ref.repo_id, ref.repo_id, local.snapshot, fmt, None, local)

    def _wants_gguf(self, formats: list[str], backend: str | None) -> bool:
        """GGUF unless a backend that reads model folders is named and the model has one."""
        chosen = self._backends.get(backend) if backend else None
        if chosen is None:
            return True
        if "gguf" not in chosen.formats:
            return False
        folders = {"safetensors", "pytorch"} & set(formats) & set(chosen.formats)
        return not (folders and backend != "llama-cpp")

    # Loading -----------------------------------------------------------------------------------

    def _options(self, load_options: dict[str, Any] | LoadOptions | None) -> LoadOptions:
        if isinstance(load_options, LoadOptions):
            options = load_options
        else:
            raw = dict(load_options or {})
            known = {f.name for f in fields(LoadOptions)}
            unknown = sorted(set(raw) - known)
            if unknown:
                raise ValidationError(f"Unknown load option(s): {', '.join(unknown)}",
                                      details={"unknown": unknown, "accepted": sorted(known)})
            options = LoadOptions(**{k: v for k, v in raw.items() if v is not None})
        cores = usable_cores()
        checks = [
            (_int_in(options.context_length, 16, MAX_CONTEXT),
             f"context_length must be between 16 and {MAX_CONTEXT} tokens"),
            (_int_in(options.threads, 1, cores),
             f"threads must be between 1 and {cores} (the CPU cores this process may use)"),
            (_int_in(options.gpu_layers, -1, MAX_GPU_LAYERS),
             f"gpu_layers must be -1 (all), 0 (CPU only) or a number of layers up to {MAX_GPU_LAYERS}"),
            (options.dtype is None or options.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}"),
            (options.chat_template is None or (isinstance(options.chat_template, str)
                                               and 0 < len(options.chat_template) <= 200_000),
             "chat_template must be a non-empty Jinja template"),
            (options.adapter is None or Path(str(options.adapter)).expanduser().exists(),
             "adapter must be the path of a saved LoRA adapter"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValidationError(message, details={**options.to_dict(), "cpu_cores": cores})
        return options

    def load(self, model: str | ModelRef, **load_options: Any) -> LoadedModel:
        """Load ``model`` (or reuse it when loaded) within the memory budget; see ``LoadOptions``.

        Raises NotFoundError (not local), BackendUnavailableError, ResourceError (does not fit:
        checked before anything is allocated) or ValidationError (e.g. no chat template).
        In host mode the model loads in the model host (HostCrashedError if it dies). A remote model
        (``remote/<endpoint>/<id>``) loads nothing: the ``RemoteModel`` asks its endpoint.
        """
        remote = self.remote_model(model)
        if remote is not None:
            return remote
        if self.remote is not None:
            return self.remote.load(model, **load_options)
        return self._load(model, self._options(load_options))

    def _load(self, model: str | ModelRef, options: LoadOptions) -> LoadedModel:
        if is_run(model):
            return self._load_run(str(model), options)
        model = ModelRef.coerce(model)  # parsed once: resolve() below takes the ModelRef
        if options.backend is None:  # a model loaded with a chosen backend keeps answering through it
            ref = model.with_(variant=options.quantization)
            for held in self.manager.keys():
                repo, _, quant = held[0].partition(":")
                if repo == ref.repo_id and held[2] == options.adapter and (
                        ref.variant is None or quant.upper() == ref.variant.upper()):
                    options = replace(options, backend=held[1])
                    break
        res = self.resolve(model, options.quantization, options.backend)
        name = options.backend or _default_backend([res.format])
        backend = self._backend(name)
        if res.format not in backend.formats:
            raise ValidationError(f"The {name} backend cannot load {res.format} models",
                                  details={"model": res.model_id, "backend": name, "formats": list(backend.formats)})
        if options.chat_template is not None:  # refused before a loaded model is replaced
            backend.check_chat_template(options.chat_template)
        if options.context_length is not None:
            trained = self.library.shape(res.repo_id, res.quantization).context_length
            if trained and options.context_length > trained:
                raise ValidationError(
                    f"context_length must be between 16 and {trained} tokens, the context {res.repo_id} was "
                    "trained on", details={"model": res.model_id, "context_length": options.context_length,
                                           "trained_context_length": trained})
        key: Key = (res.model_id, name, options.adapter)
        current = self.manager.get(key)
        if current is not None and not _differs(current.options, options):
            return current
        # The fit against what the arbiter can give per device (other holders counted, idle models
        # evictable), and the placement it implies (the user's gpu_layers still wins).
        shape = self.library.shape(res.repo_id, res.quantization)
        fit = self.arbiter.fit(res.repo_id, shape, context=options.context_length, exclude=chat_holder_id(key))
        need = fit.total_bytes
        if name == "transformers" and res.format == "gguf":  # dequantized to full precision
            params = int(gguf_metadata(res.path).get("parameters") or 0)
            width = 4 if (options.dtype or "float32") == "float32" else 2
            need = params * width + fit.kv_cache_bytes + fit.overhead_bytes
        placement = self.placement(backend, fit, need, options, key)
        return self.manager.load(key, self._loader(backend, res.model_id, str(res.path), options, placement),
                                 need_bytes=need, fit=fit, replace=lambda m: _differs(m.options, options),
                                 devices=placement.devices)

    @property
    def arbiter(self) -> Arbiter:
        """The GPU and RAM arbiter (``engine.arbiter``): holders per device, reservations, admission."""
        return self.manager.arbiter

    def placement(self, backend: Backend, fit: FitResult | None, need: int, options: LoadOptions,
                  key: Key) -> Placement:
        """Where a load goes: the fit verdict (GPU, partial N layers, CPU), unless the user chose."""
        gpus = self.arbiter.gpus()
        if not gpus and options.gpu_layers != 0 and backend.uses_gpu():
            # A GPU that NVML cannot measure (nvidia-ml-py missing): every layer there, as before the arbiter
            placement = on_device("cuda:0", need, explicit=options.gpu_layers is not None)
            placement.gpu_layers = -1 if options.gpu_layers is None else options.gpu_layers
            return placement
        gpu_ok = bool(gpus) and backend.uses_gpu()
        return place(fit, need, gpu_ok=gpu_ok, requested_layers=options.gpu_layers,
                     rooms=self.arbiter.rooms(exclude=chat_holder_id(key)) if gpu_ok else {})

    @staticmethod
    def _loader(backend: Backend, model_id: str, path: str, options: LoadOptions,
                placement: Placement) -> Callable[[], LoadedModel]:
        def load() -> LoadedModel:
            if backend.accepts_placement:
                model = backend.load(model_id, path, options, placement=placement)  # type: ignore[call-arg]
            else:
                model = backend.load(model_id, path, options)
            model.placement = placement.scaled(int(model.memory_bytes or 0)).to_dict()
            return model

        return load

    def run_model(self, model: str) -> tuple[str, str]:
        """(base model folder, adapter folder) of ``run/<job_id>``, a finished training run."""
        return run_model(self.settings.home_path / "runs", model)

    def _load_run(self, model: str, options: LoadOptions) -> LoadedModel:
        """A training run: its (dequantized) base model folder plus its LoRA adapter, through transformers."""
        base_dir, adapter = self.run_model(model)
        if options.backend not in (None, "transformers"):
            raise ValidationError("A training run loads through the transformers backend",
                                  details={"model": model, "backend": options.backend})
        options = replace(options, backend="transformers", adapter=adapter)
        backend = self._backend("transformers")
        if options.chat_template is not None:
            backend.check_chat_template(options.chat_template)
        key: Key = (model, "transformers", adapter)
        current = self.manager.get(key)
        if current is not None and not _differs(current.options, options):
            return current
        size = sum(p.stat().st_size for p in Path(base_dir).glob("*.safetensors"))
        width = 4 if (options.dtype or "float32") == "float32" else 2
        need = int(size * width / 4) + 64 * 1024 * 1024
        gpus = self.arbiter.gpus() if options.gpu_layers != 0 and backend.uses_gpu() else []
        placement = on_device(gpus[0]["device"] if gpus else "cpu", need, explicit=options.gpu_layers is not None)
        return self.manager.load(key, self._loader(backend, model, base_dir, options, placement),
                                 need_bytes=need, replace=lambda m: _differs(m.options, options),
                                 devices=placement.devices)

    def loaded(self) -> list[dict[str, Any]]:
        """Loaded models: ``describe()`` plus ``last_used``, ``idle_seconds`` and ``in_use``."""
        if self.remote is not None:
            return self.remote.loaded()
        return self.manager.loaded()

    def unload(self, model: str | ModelRef, backend: str | None = None) -> dict[str, Any]:
        """Unload ``model`` (every quantization and backend unless named); frees its memory."""
        ref = ModelRef.coerce(model)
        if self.remote is not None:
            return self.remote.unload(str(ref), backend)

        def match(key: Key) -> bool:
            repo, _, quant = key[0].partition(":")
            return (repo == ref.repo_id and (ref.variant is None or quant.upper() == ref.variant.upper())
                    and (backend is None or key[1] == backend))

        return self.manager.unload(match)

    # Generation --------------------------------------------------------------------------------

    def stream(self, model: str | ModelRef | LoadedModel, messages: list[Message], *,
               stop: threading.Event | str | list[str] | None = None, cancel: threading.Event | None = None,
               load_options: dict[str, Any] | None = None, tools: list[dict[str, Any]] | None = None,
               tool_choice: str | dict[str, Any] | None = None, parallel_tool_calls: bool | None = None,
               response_format: dict[str, Any] | None = None, logprobs: bool | None = None,
               top_logprobs: int | None = None, **sampling: Any) -> ChatStream:
        """Stream an answer; loads the model on demand.

        ``stop`` is a ``threading.Event`` that ends the answer when set (``finish_reason
        "cancelled"``) or, as in OpenAI's API, stop strings; ``cancel`` is the Event when ``stop``
        holds strings. ``sampling``: temperature, top_p, top_k, max_tokens, seed, repeat_penalty.
        ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``response_format``, ``logprobs`` and
        ``top_logprobs`` as in OpenAI's API (``structured``): a tool-calling answer ends with a
        chunk carrying ``tool_calls`` and ``finish_reason "tool_calls"``; messages may hold
        ``tool`` results and assistant ``tool_calls``.
        The last chunk carries ``finish_reason`` and ``stats`` (also on the returned ``ChatStream``).
        A remote model (``remote/<endpoint>/<id>``) streams from its endpoint, from this process.
        """
        controls = OutputControls.checked(tools=tools, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls,
                                          response_format=response_format, logprobs=logprobs,
                                          top_logprobs=top_logprobs)
        remote = self.remote_model(model)
        if remote is None and isinstance(model, LoadedModel) and model.backend == "remote":
            remote = model
        if remote is not None:
            if controls.tools or controls.response_format is not None or controls.logprobs:
                raise ValidationError(
                    "tools, response_format and logprobs reach a remote model through /model-studio/v1 "
                    "(forwarded as sent), not through chat.stream", details={"model": str(model)},
                    resolution_steps=["Call /model-studio/v1/chat/completions with the openai client"])
            if isinstance(stop, threading.Event):
                cancel, stop = stop, None
            params = self._sampling(sampling, [stop] if isinstance(stop, str) else stop)
            return ChatStream(remote.stream(checked_messages(messages), params, cancel), remote)
        if self.remote is not None:
            return self.remote.stream(model, messages, stop=stop, cancel=cancel, load_options=load_options,
                                      controls=controls, **sampling)
        msgs = checked_messages(messages)
        if isinstance(stop, threading.Event):
            cancel, stop = stop, None
        if isinstance(stop, str):
            stop = [stop]
        params = self._sampling(sampling, stop)
        loaded = model if isinstance(model, LoadedModel) else self._load(model, self._options(load_options))
        key: Key = (loaded.model_id, loaded.backend, loaded.options.adapter)
        msgs, guide, tool_format = prepare(controls, msgs, loaded)
        chunks = self._generate(key, loaded, msgs, params, cancel, guide)
        if controls.offers_tools:
            chunks = ToolCalls(controls).run(chunks)
        stream = ChatStream(chunks, loaded)
        stream.tool_format = tool_format
        return stream

    def _generate(self, key: Key, loaded: LoadedModel, msgs: list[Message], params: SamplingParams,
                  cancel: threading.Event | None, guide: Guide | None = None) -> Iterator[ChatChunk]:
        with self.manager.using(key):
            if guide is not None and guide.tools:
                prompt = loaded.count_tokens(msgs, tools=guide.tools)  # type: ignore[call-arg]
            else:
                prompt = loaded.count_tokens(msgs)
            if prompt + 1 > loaded.context_length:
                raise ValidationError(
                    f"The conversation takes {prompt} tokens, more than the context of {loaded.context_length}",
                    details={"prompt_tokens": prompt, "context_length": loaded.context_length},
                    resolution_steps=["Shorten or drop earlier messages",
                                      "Or load the model with a larger context_length"])
            if prompt + params.max_tokens > loaded.context_length:
                params = replace(params, max_tokens=loaded.context_length - prompt)
            meter, started = (self.energy.meter() if self.energy is not None else None), time.time()
            try:
                if guide is not None:  # only then: a backend without a guide keeps its three-argument stream
                    chunks = loaded.stream(msgs, params, cancel, guide=guide)  # type: ignore[call-arg]
                else:
                    chunks = loaded.stream(msgs, params, cancel)
                for chunk in chunks:
                    if chunk.stats is not None:  # the count above, not a second tokenization in the backend
                        chunk.stats.prompt_tokens = prompt
                    yield chunk
            finally:
                if meter is not None:
                    try:
                        self.energy.add_chat(loaded.model_id, meter.stop(), started=started)
                    except Exception:  # accounting never fails an answer
                        log.debug("energy of an answer not recorded", exc_info=True)

    def _sampling(self, sampling: dict[str, Any], stop: list[str] | None) -> SamplingParams:
        unknown = sorted(set(sampling) - _SAMPLING)
        if unknown:
            raise ValidationError(f"Unknown sampling parameter(s): {', '.join(unknown)}",
                                  details={"unknown": unknown, "accepted": sorted(_SAMPLING)})
        values = {k: v for k, v in sampling.items() if v is not None}
        if stop:
            values["stop"] = list(stop)
        return SamplingParams.checked(**values)

    def complete(self, model: str | ModelRef | LoadedModel, messages: list[Message], *,
                 stop: threading.Event | str | list[str] | None = None, cancel: threading.Event | None = None,
                 load_options: dict[str, Any] | None = None, **sampling: Any) -> dict[str, Any]:
        """The whole answer: ``{"text", "stats", "model", "finish_reason"}``, plus ``tool_calls`` and
        ``tool_format`` when tools were offered and ``logprobs`` when asked (``stream``'s keywords)."""
        stream = self.stream(model, messages, stop=stop, cancel=cancel, load_options=load_options, **sampling)
        parts: list[str] = []
        calls: list[dict[str, Any]] = []
        logprobs: list[dict[str, Any]] = []
        for chunk in stream:
            parts.append(chunk.text)
            calls.extend(chunk.tool_calls or [])
            logprobs.extend(chunk.logprobs or [])
        out: dict[str, Any] = {"text": "".join(parts), "model": stream.model.model_id, "finish_reason": stream.finish_reason,
               "stats": stream.stats.to_dict() if stream.stats else None}
        if stream.tool_format is not None:
            out.update(tool_calls=calls, tool_format=stream.tool_format)
        if sampling.get("logprobs"):
            out["logprobs"] = logprobs
        return out

    def close(self) -> None:
        self.batches.close()
        self.manager.close()


def _int_in(value: Any, low: int, high: int) -> bool:
    """None (the default), or an int (not a bool) within [low, high]."""
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high)


def _local_bytes(local: LocalModel, names: list[str]) -> int | None:
    """Bytes on disk of some files of a local model (None if one cannot be read)."""
    try:
        return sum(local.file_path(n).stat().st_size for n in names)
    except OSError:
        return None


def _default_backend(formats: list[str]) -> str:
    return "llama-cpp" if "gguf" in formats else "transformers"


def _differs(current: LoadOptions, wanted: LoadOptions) -> bool:
    """True when ``wanted`` names a load option the loaded model was loaded without."""
    for name in ("context_length", "threads", "gpu_layers", "dtype", "chat_template"):
        value = getattr(wanted, name)
        if value is not None and value != getattr(current, name):
            return True
    return False


__all__ = ["ChatService", "ChatStream", "Backend", "LoadedModel", "LoadOptions", "SamplingParams", "ChatChunk",
           "ChatStats", "ModelManager", "Resolved"]


def _repo_of(model_id: str) -> str:
    """The model part of a loaded model's id, for names the grammar reads; else the text before ':'."""
    try:
        return ModelRef.parse(model_id).repo_id
    except ValidationError:
        return model_id.split(":")[0]
